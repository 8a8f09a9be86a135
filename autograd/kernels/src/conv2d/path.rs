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
//!
//! The Winograd paths also choose a tile ([`Tile`]) for each of their
//! three convolutions, by the size of its output ([`Tile::for_output`]:
//! F(4x4, 3x3) for the reference ConvNet's 32x32, 16x16 and 8x8 layers,
//! F(2x2, 3x3) where it needs as few GEMM multiplies, e.g. outputs 1, 2,
//! 5 or 6 wide). F4 rounds more (its largest error is about 6x F2's, see
//! [`Tile`]): the environment variable `LECTURE_GRAD_WINOGRAD=f2` keeps
//! every Winograd convolution of the process on F2 (`f4` on F4, `auto` or
//! unset: the choice above; read once). [`force_winograd_tile`] and
//! [`last_winograd_tile`] do for the tile what the two above do for the
//! path, on the calling thread.

use std::cell::Cell;
use std::sync::OnceLock;
use std::thread::LocalKey;

use crate::packed::fast_kernel_available;
use crate::Element;

use super::im2col::Window;
use super::{dilated, winograd};
pub use winograd::Tile;

/// A convolution algorithm (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConvPath {
    /// im2col per sample and matrixmultiply's GEMM.
    Im2col,
    /// im2col blocks packed for our GEMM and its micro-kernel.
    Packed,
    /// Winograd F(4x4,3x3) or F(2x2,3x3) ([`Tile`]) on our packed GEMM.
    Winograd,
    /// A dilated 3x3 stride-1 layer as Winograd on its polyphase
    /// sub-images ([`super::dilated`]).
    DilatedWinograd,
}

thread_local! {
    static FORCED: Cell<Option<ConvPath>> = const { Cell::new(None) };
    static LAST: Cell<Option<ConvPath>> = const { Cell::new(None) };
    static FORCED_TILE: Cell<Option<Tile>> = const { Cell::new(None) };
    static LAST_TILE: Cell<Option<Tile>> = const { Cell::new(None) };
}

/// The Winograd tile for a convolution with an `ho x wo` output; records
/// it for [`last_winograd_tile`].
pub fn winograd_tile(ho: usize, wo: usize) -> Tile {
    let tile = FORCED_TILE
        .get()
        .or_else(tile_from_env)
        .unwrap_or_else(|| Tile::for_output(ho, wo));
    LAST_TILE.set(Some(tile));
    tile
}

/// The tile `LECTURE_GRAD_WINOGRAD` asks for (`f2`, `f4`; `auto`, unset
/// or anything else: none, the choice by output size, with a warning on
/// stderr for anything else), read once per process.
///
/// ```
/// use kernels::conv2d::path::{tile_from_env, winograd_tile};
/// use kernels::conv2d::Tile;
/// // Some(Tile::F2) in a process started with LECTURE_GRAD_WINOGRAD=f2;
/// // unset, the choice by output size
/// let want = tile_from_env().unwrap_or(Tile::for_output(8, 8));
/// assert_eq!(winograd_tile(8, 8), want);
/// ```
pub fn tile_from_env() -> Option<Tile> {
    static TILE: OnceLock<Option<Tile>> = OnceLock::new();
    *TILE.get_or_init(|| {
        let v = std::env::var("LECTURE_GRAD_WINOGRAD").ok()?;
        let tile = Tile::from_name(&v);
        if tile.is_none() && !v.eq_ignore_ascii_case("auto") {
            eprintln!("warning: LECTURE_GRAD_WINOGRAD={v:?} is not one of f2, f4, auto: ignored");
        }
        tile
    })
}

/// A thread's override of one choice (the path, the tile): set by
/// [`force_conv_path`] or [`force_winograd_tile`], it restores the
/// previous override when dropped.
#[must_use = "the override lasts while this guard lives"]
pub struct Forced<X: Copy + 'static> {
    cell: &'static LocalKey<Cell<Option<X>>>,
    prev: Option<X>,
}

impl<X: Copy + 'static> Forced<X> {
    /// Sets `cell` to `x` on this thread, keeping what it held.
    fn set(cell: &'static LocalKey<Cell<Option<X>>>, x: X) -> Self {
        let prev = cell.replace(Some(x));
        Forced { cell, prev }
    }
}

impl<X: Copy + 'static> Drop for Forced<X> {
    fn drop(&mut self) {
        self.cell.set(self.prev);
    }
}

/// The guard of [`force_winograd_tile`].
pub type ForcedTile = Forced<Tile>;

/// The guard of [`force_conv_path`].
pub type ForcedPath = Forced<ConvPath>;

/// Makes this thread's Winograd convolutions use `tile` until the guard
/// is dropped (either tile computes any size; the choice is for speed).
///
/// ```
/// use kernels::conv2d::{forward, force_winograd_tile, last_winograd_tile, Tile, Window};
/// let g = Window::square(6, 6, 3, 1, 1, 1).unwrap();
/// let (x, w) = (vec![1.0f32; 8 * 36], vec![1.0f32; 8 * 8 * 9]);
/// let _t = force_winograd_tile(Tile::F2);
/// forward(&x, &w, None, &g, 1, 8, 8);
/// # if kernels::packed::fast_kernel_available::<f32>() {
/// assert_eq!(last_winograd_tile(), Some(Tile::F2));
/// # }
/// ```
pub fn force_winograd_tile(tile: Tile) -> ForcedTile {
    Forced::set(&FORCED_TILE, tile)
}

/// The tile of the last Winograd convolution on this thread.
pub fn last_winograd_tile() -> Option<Tile> {
    LAST_TILE.get()
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
    Forced::set(&FORCED, path)
}

/// The path of the last convolution (forward or backward) on this thread.
pub fn last_conv_path() -> Option<ConvPath> {
    LAST.get()
}
