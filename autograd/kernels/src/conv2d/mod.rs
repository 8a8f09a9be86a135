//! The convolution kernels (2-D cross-correlation, NCHW, groups = 1) on
//! plain slices, and the one place that chooses among them ([`path`]):
//! `ops::conv2d` checks shapes and records the op on the tape, then calls
//! [`forward`] and [`backward`] here.
//!
//! - [`im2col`](mod@im2col): the window geometry ([`Window`]) and (dilated)
//!   im2col/col2im, for the matrixmultiply path (f64, or no SIMD kernel);
//! - [`conv_packed`]: im2col blocks packed straight into our GEMM's B
//!   panels, weights packed once per call;
//! - [`winograd`]: Winograd F(4x4, 3x3) and F(2x2, 3x3) for 3x3 stride-1
//!   layers;
//! - [`dilated`]: dilated 3x3 layers as Winograd on polyphase sub-images.
//!
//! For `x: [n, c, h, w]`, `w: [f, c, kh, kw]` and the window `g`:
//! `y[n, f, i, j] = b[f] + sum_{c, p, q} w[f, c, p, q] x[n, c, i sh + p dh - ph, j sw + q dw - pw]`.
//! The weight gradient is summed over fixed groups of samples in a fixed
//! order, so every path is bit-identical whatever the thread count.

pub mod conv_packed;
pub mod dilated;
pub mod im2col;
pub mod path;
#[allow(unsafe_code)]
// kernel file: calls into the AVX2 builds of its transforms, each with a SAFETY comment
pub mod winograd;

pub use im2col::Window;
pub use path::{
    choose, force_conv_path, force_winograd_tile, last_conv_path, last_winograd_tile, ConvPath,
    Forced, ForcedPath, ForcedTile, Tile,
};

use crate::gemm::{gemm, MatRef};
use crate::par_gemm::par_gemm;
use crate::Element;
use conv_packed::GROUP;
use im2col::{col2im, im2col};
use rayon::prelude::*;

/// The convolution `y = conv(x, w) + b` as `[n, f, g.ho, g.wo]`, by the
/// path [`choose`] picks.
///
/// Panics if a slice's length disagrees with `n, c, f` and `g` (the op
/// checks shapes before it calls this).
///
/// ```
/// use kernels::conv2d::{forward, last_conv_path, ConvPath, Window};
/// // the lecture's 1-D correlation as a 1 x 4 image: I = 1 2 3 4, W = 1 2 3
/// let g = Window { h: 1, w: 4, kh: 1, kw: 3, sh: 1, sw: 1, ph: 0, pw: 0, dh: 1, dw: 1, ho: 1, wo: 2 };
/// let y = forward(&[1.0f64, 2.0, 3.0, 4.0], &[1.0, 2.0, 3.0], None, &g, 1, 1, 1);
/// assert_eq!(y, [14.0, 20.0]);
/// assert_eq!(last_conv_path(), Some(ConvPath::Im2col)); // f64: no SIMD kernel
/// ```
#[allow(clippy::too_many_arguments)]
pub fn forward<T: Element>(
    x: &[T],
    w: &[T],
    b: Option<&[T]>,
    g: &Window,
    n: usize,
    c: usize,
    f: usize,
) -> Vec<T> {
    let p = g.ho * g.wo;
    let ckk = c * g.kh * g.kw;
    let in_sz = c * g.h * g.w;
    assert!(
        x.len() == n * in_sz && w.len() == f * ckk && b.is_none_or(|b| b.len() == f),
        "conv2d: slice lengths disagree with the shapes"
    );
    let path = choose::<T>(g, n, c, f);
    if n * f * p == 0 {
        return Vec::new();
    }
    if path == ConvPath::DilatedWinograd {
        let ph = dilated::phases(g, n, c, f).expect("chosen only where it applies");
        return dilated::forward(x, w, b, g, &ph, n, c, f);
    }
    if path == ConvPath::Winograd {
        return conv_packed::forward_winograd(x, w, b, g, n, c, f);
    }
    let mut out = crate::scratch::par_zeros(n * f * p);
    if path == ConvPath::Packed {
        conv_packed::forward(x, w, b, g, n, c, f, &mut out, false);
        return out;
    }
    // ConvPath::Im2col
    let wm = MatRef::row_major(w, f, ckk);
    let one_sample = |xn: &[T], yn: &mut [T], col: &mut Vec<T>, parallel: bool| {
        if let Some(b) = b {
            for (fi, row) in yn.chunks_mut(p).enumerate() {
                row.fill(b[fi]);
            }
        }
        let beta = if b.is_some() { T::ONE } else { T::ZERO };
        let colm = if g.is_plain_1x1() {
            MatRef::row_major(xn, ckk, p)
        } else {
            col.resize(ckk * p, T::ZERO);
            im2col(xn, c, g, col);
            MatRef::row_major(col.as_slice(), ckk, p)
        };
        if parallel {
            par_gemm(T::ONE, wm, colm, beta, yn);
        } else {
            gemm(T::ONE, wm, colm, beta, yn, p);
        }
    };
    if n == 1 {
        crate::scratch::with_scratch(|col| one_sample(x, &mut out, col, true));
    } else {
        out.par_chunks_mut(f * p)
            .zip(x.par_chunks(in_sz.max(1)))
            .for_each(|(yn, xn)| {
                crate::scratch::with_scratch(|col| one_sample(xn, yn, col, false))
            });
    }
    out
}

/// The gradients of [`forward`] for the output gradient `gy`
/// (`[n, f, g.ho, g.wo]`): `(dL/dx, dL/dw)`, where `dL/dx` is empty unless
/// `need_x` and `dL/dw` is `None` unless `need_w` (the bias gradient is a
/// plain sum, left to the caller). Same path as the forward pass.
///
/// - `dL/dw = sum_n G_n col(x_n)^T`
/// - `dL/dx_n = col2im(W^T G_n)`
///
/// Panics if a slice's length disagrees with the shapes.
///
/// ```
/// use kernels::conv2d::{backward, Window};
/// // the lecture's 1-D example, dL/dO = (1, 0): dL/dI = W then zeros, dL/dW = I1 I2 I3
/// let g = Window { h: 1, w: 4, kh: 1, kw: 3, sh: 1, sw: 1, ph: 0, pw: 0, dh: 1, dw: 1, ho: 1, wo: 2 };
/// let (gx, gw) = backward(&[1.0f64, 2.0, 3.0, 4.0], &[1.0, 2.0, 3.0], &[1.0, 0.0], &g, 1, 1, 1, true, true);
/// assert_eq!(gx, [1.0, 2.0, 3.0, 0.0]);
/// assert_eq!(gw.unwrap(), [1.0, 2.0, 3.0]);
/// ```
#[allow(clippy::too_many_arguments)]
pub fn backward<T: Element>(
    x: &[T],
    w: &[T],
    gy: &[T],
    g: &Window,
    n: usize,
    c: usize,
    f: usize,
    need_x: bool,
    need_w: bool,
) -> (Vec<T>, Option<Vec<T>>) {
    let p = g.ho * g.wo;
    let ckk = c * g.kh * g.kw;
    let in_sz = c * g.h * g.w;
    assert!(
        x.len() == n * in_sz && w.len() == f * ckk && gy.len() == n * f * p,
        "conv2d backward: slice lengths disagree with the shapes"
    );
    let path = choose::<T>(g, n, c, f);
    // the Winograd paths write dL/dx once into a new vector; the others
    // accumulate (col2im) into a zeroed one
    match path {
        ConvPath::Winograd => {
            return conv_packed::backward_winograd(x, w, gy, g, n, c, f, need_x, need_w);
        }
        ConvPath::DilatedWinograd => {
            let ph = dilated::phases(g, n, c, f).expect("chosen only where it applies");
            return dilated::backward(x, w, gy, g, &ph, n, c, f, need_x, need_w);
        }
        ConvPath::Packed | ConvPath::Im2col => {}
    }
    let mut gx = if need_x {
        crate::scratch::par_zeros(x.len())
    } else {
        Vec::new()
    };
    if path == ConvPath::Packed {
        let gw = conv_packed::backward(x, w, gy, g, n, c, f, &mut gx, need_w, false);
        return (gx, gw);
    }
    let is_1x1 = g.is_plain_1x1();
    let wm = MatRef::row_major(w, f, ckk);
    let work = |(col, gcol): &mut (Vec<T>, Vec<T>),
                gi: usize,
                gw_part: &mut Vec<T>,
                gx_chunk: &mut [T]| {
        gcol.resize(if need_x { ckk * p } else { 0 }, T::ZERO);
        for ni in gi * GROUP..((gi + 1) * GROUP).min(n) {
            let gyn = MatRef::row_major(&gy[ni * f * p..(ni + 1) * f * p], f, p);
            if need_w {
                let xn = &x[ni * in_sz..(ni + 1) * in_sz];
                let colm = if is_1x1 {
                    MatRef::row_major(xn, ckk, p)
                } else {
                    col.resize(ckk * p, T::ZERO);
                    im2col(xn, c, g, col);
                    MatRef::row_major(col.as_slice(), ckk, p)
                };
                // gW += G_n @ col^T
                gemm(T::ONE, gyn, colm.t(), T::ONE, gw_part, ckk);
            }
            if need_x {
                let local = ni - gi * GROUP;
                let gxn = &mut gx_chunk[local * in_sz..(local + 1) * in_sz];
                if is_1x1 {
                    gemm(T::ONE, wm.t(), gyn, T::ZERO, gxn, p);
                } else {
                    gemm(T::ONE, wm.t(), gyn, T::ZERO, gcol, p);
                    col2im(gcol, c, g, gxn);
                }
            }
        }
    };
    let gw = conv_packed::for_sample_groups(n, in_sz, &mut gx, need_w.then_some(f * ckk), work);
    (gx, gw)
}

/// `parts[0] + parts[1] + ...` element by element, always in that order (so
/// the result does not depend on the thread count), split across threads
/// by ranges of elements.
pub(crate) fn sum_in_order<T: Element>(mut parts: Vec<Vec<T>>) -> Vec<T> {
    if parts.is_empty() {
        return Vec::new();
    }
    let mut acc = std::mem::take(&mut parts[0]);
    let rest = &parts[1..];
    if rest.is_empty() {
        return acc;
    }
    const CHUNK: usize = 1 << 14;
    acc.par_chunks_mut(CHUNK).enumerate().for_each(|(i, a)| {
        for part in rest {
            for (x, &y) in a.iter_mut().zip(&part[i * CHUNK..]) {
                *x += y;
            }
        }
    });
    acc
}

#[cfg(test)]
#[allow(clippy::too_many_arguments)]
/// Test reference: direct loops for `y = conv(x, w) + b` and, for the
/// output gradient `gy`, the gradients of `x` and `w`.
#[allow(clippy::type_complexity)]
// plain index loops on purpose: the reference reads as the formula
#[allow(clippy::needless_range_loop)]
pub(crate) fn direct_conv(
    x: &[f64],
    w: &[f64],
    b: &[f64],
    gy: &[f64],
    g: &im2col::Window,
    n: usize,
    c: usize,
    f: usize,
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let p = g.ho * g.wo;
    let mut y = vec![0.0; n * f * p];
    let mut gx = vec![0.0; x.len()];
    let mut gw = vec![0.0; w.len()];
    for ni in 0..n {
        for fi in 0..f {
            for oh in 0..g.ho {
                for ow in 0..g.wo {
                    let o = (ni * f + fi) * p + oh * g.wo + ow;
                    y[o] = b[fi];
                    for ci in 0..c {
                        for ki in 0..g.kh {
                            for kj in 0..g.kw {
                                let ih = (oh * g.sh + ki * g.dh) as isize - g.ph as isize;
                                let iw = (ow * g.sw + kj * g.dw) as isize - g.pw as isize;
                                if ih < 0 || iw < 0 || ih as usize >= g.h || iw as usize >= g.w {
                                    continue;
                                }
                                let xi = ((ni * c + ci) * g.h + ih as usize) * g.w + iw as usize;
                                let wi = ((fi * c + ci) * g.kh + ki) * g.kw + kj;
                                y[o] += w[wi] * x[xi];
                                gx[xi] += w[wi] * gy[o];
                                gw[wi] += x[xi] * gy[o];
                            }
                        }
                    }
                }
            }
        }
    }
    (y, gx, gw)
}
