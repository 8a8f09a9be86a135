//! Which algorithm a `conv2d` runs: the one place the choice is made, for
//! the forward pass and both gradients alike.
//!
//! | path | when (automatic choice) |
//! |---|---|
//! | [`ConvPath::Winograd`] | the packed GEMM has a SIMD micro-kernel for `T` (f32 with AVX2+FMA or AVX-512F, see [`crate::cpu`]), and the layer is 3x3, stride 1, dilation 1, padding <= 2, with >= 8 channels each side |
//! | [`ConvPath::DilatedWinograd`] | the SIMD micro-kernel exists, and the layer is 3x3, stride 1, dilated (either axis), with >= 8 channels each side: Winograd on the polyphase sub-images stacked into the batch (see [`super::dilated`]) |
//! | [`ConvPath::Packed`] | the SIMD micro-kernel exists, other shapes: im2col blocks packed for our GEMM, weights packed once per call |
//! | [`ConvPath::Im2col`] | no SIMD micro-kernel (f64, `LECTURE_GRAD_MAX_ISA=portable`, CPUs without AVX2): im2col per sample and matrixmultiply |
//!
//! [`force_conv_path`] overrides the choice on the calling thread (tests
//! run every path on any CPU with it: there the packed GEMM uses its
//! portable micro-kernel), and [`last_conv_path`] tells which path the
//! calling thread's last convolution took, so a test can assert what ran.

use std::cell::Cell;

use crate::packed::fast_kernel_available;
use crate::Element;

use super::im2col::Window;
use super::{dilated, winograd};

/// A convolution algorithm (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConvPath {
    /// im2col per sample and matrixmultiply's GEMM.
    Im2col,
    /// im2col blocks packed for our GEMM and its micro-kernel.
    Packed,
    /// Winograd F(2x2,3x3) on our packed GEMM.
    Winograd,
    /// A dilated 3x3 stride-1 layer as Winograd on its polyphase
    /// sub-images ([`super::dilated`]).
    DilatedWinograd,
}

thread_local! {
    static FORCED: Cell<Option<ConvPath>> = const { Cell::new(None) };
    static LAST: Cell<Option<ConvPath>> = const { Cell::new(None) };
}

/// The path for a convolution of `n` samples of `c` to `f` channels with
/// window `g` in element type `T`; records it for [`last_conv_path`].
pub fn choose<T: Element>(g: &Window, n: usize, c: usize, f: usize) -> ConvPath {
    let wino = winograd::applicable(g, c, f);
    let dilated = dilated::phases(g, n, c, f).is_some();
    let path = match FORCED.get() {
        // Winograd is only defined for its shapes: the packed GEMM otherwise
        Some(ConvPath::Winograd) if !wino => ConvPath::Packed,
        Some(ConvPath::DilatedWinograd) if !dilated => ConvPath::Packed,
        Some(p) => p,
        None if !fast_kernel_available::<T>() => ConvPath::Im2col,
        None if wino => ConvPath::Winograd,
        None if dilated => ConvPath::DilatedWinograd,
        None => ConvPath::Packed,
    };
    LAST.set(Some(path));
    path
}

/// Restores the previous override when dropped.
#[must_use = "the override lasts while this guard lives"]
pub struct ForcedPath {
    prev: Option<ConvPath>,
}

impl Drop for ForcedPath {
    fn drop(&mut self) {
        FORCED.set(self.prev);
    }
}

/// Makes this thread's convolutions take `path` (the Winograd paths only
/// where they apply, the packed GEMM elsewhere) until the guard is dropped.
///
/// ```
/// use kernels::conv2d::{forward, force_conv_path, last_conv_path, ConvPath, Window};
/// let g = Window::square(6, 6, 3, 1, 1, 1).unwrap();
/// let (x, w) = (vec![1.0f32; 8 * 36], vec![1.0f32; 8 * 8 * 9]);
/// {
///     let _g = force_conv_path(ConvPath::Winograd);
///     forward(&x, &w, None, &g, 1, 8, 8);
///     assert_eq!(last_conv_path(), Some(ConvPath::Winograd));
/// }
/// ```
pub fn force_conv_path(path: ConvPath) -> ForcedPath {
    let prev = FORCED.replace(Some(path));
    ForcedPath { prev }
}

/// The path of the last convolution (forward or backward) on this thread.
pub fn last_conv_path() -> Option<ConvPath> {
    LAST.get()
}
