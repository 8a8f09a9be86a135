//! The public GEMM and convolution kernel entry points with arbitrary shapes,
//! strides, leading dimensions and slice lengths: `autograd::gemm::gemm`,
//! `autograd::packed::{PackedA, PackedB, gemm_packed, par_gemm_packed}`,
//! `autograd::conv2d::conv_packed::{forward, backward}` (packed and Winograd)
//! and `ops::conv2d` on every path.
//!
//! These functions document that they panic on arguments that do not fit
//! (a caller's bug), so a panic is an accepted outcome here and is caught;
//! what must never happen is memory corruption, which AddressSanitizer (on
//! under `cargo fuzz`) reports as a crash. Strides and `ldc` take huge
//! values (`usize::MAX`, `2^63`, values whose products wrap) on purpose:
//! they are what reached the raw loads and stores before the bound checks
//! used checked arithmetic.
#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "kernels_case.rs"]
mod kernels_case;

fuzz_target!(|bytes: &[u8]| {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(kernels_case::install_quiet_hook);
    kernels_case::run(bytes);
});
