//! # kernels: the numeric kernels under `autograd`, and all `unsafe` code
//!
//! - [`Element`]: the sealed scalar trait (`f32`, `f64`) that tensors are
//!   generic over, with the element-wise maths the ops need.
//! - [`alloc`]: [`alloc::CachingAlloc`], a global allocator that keeps
//!   freed large blocks for reuse, so training steps stop page-faulting.
//! - [`cpu`]: the instruction set chosen once per process (AVX-512F,
//!   AVX2+FMA or portable), capped by `LECTURE_GRAD_MAX_ISA`.
//! - [`gemm`]: the safe wrapper of matrixmultiply's GEMM over strided views.
//! - [`packed`]: our packed GEMM with its AVX-512 and AVX2 micro-kernels, and
//!   the FMA-peak probe.
//! - [`fastmath`]: the SIMD `tanh` and `exp` slice kernels.
//! - [`par_gemm`]: the GEMM that `matmul` and `linear` call (our packed one
//!   for f32 with a SIMD kernel, matrixmultiply otherwise), split across
//!   threads.
//! - [`transpose`]: strided transposes (8 x 8 AVX2 register blocks for
//!   f32), which pack a row-major A or a transposed B into GEMM panels.
//! - [`pool`]: max and average pooling, forward and backward.
//! - [`norm`]: batch normalisation's statistics, affine map and gradients.
//! - [`conv2d`]: the convolution kernels (im2col/col2im, packed, Winograd,
//!   dilated Winograd) and the one place that chooses among them.
//!
//! The other crates (`autograd`, `ops`, `nn`, `optim`, `train`, `data`)
//! forbid `unsafe` code; here it is confined to `alloc`, `gemm`, `packed`,
//! `fastmath`, `norm`, `transpose`, `scratch`, `copy` and `conv2d::winograd`, each block
//! with a SAFETY comment and a test against a plain loop, every bound it
//! relies on checked in checked arithmetic first, and
//! the raw-kernel traits sealed (their methods take a [`packed::Token`]
//! that only this crate can make). `autograd` re-exports every module
//! under the same path (`autograd::packed`, ...).

#![deny(unsafe_code)]

#[allow(unsafe_code)]
// kernel file: the GlobalAlloc implementation and its free lists, each with a SAFETY comment
pub mod alloc;
pub mod conv2d;
#[allow(unsafe_code)]
// kernel file: its AVX2 copy and two same-type slice casts, each with a SAFETY comment
mod copy;
pub mod cpu;
pub mod element;
#[allow(unsafe_code)]
// kernel file: calls into its target_feature slice kernels, each with a SAFETY comment
pub mod fastmath;
#[allow(unsafe_code)] // kernel file: each unsafe block has a SAFETY comment
pub mod gemm;
#[allow(unsafe_code)]
// kernel file: its AVX2 channel-sum kernels (intrinsic loads and stores) and the calls into them, each with a SAFETY comment
pub mod norm;
#[allow(unsafe_code)] // kernel file: each unsafe block has a SAFETY comment
pub mod packed;
pub mod par_gemm;
pub mod pool;
#[allow(unsafe_code)]
// kernel file: Vec::set_len once every value is written, each with a SAFETY comment
mod scratch;
#[allow(unsafe_code)] // kernel file: one call into its AVX2 transpose, with a SAFETY comment
pub mod transpose;

pub use element::Element;
