//! 2-D max and average pooling on plain slices (NCHW), forward and
//! backward, rayon tasks of whole `(sample, channel)` planes: the loops
//! under `ops::max_pool2d` and `ops::avg_pool2d`, which check shapes and
//! record the op on the tape.
//!
//! The window `g` ([`Window`]) has no dilation here; padding only moves
//! the window (positions outside the image never take part: max pooling
//! pads with -inf as PyTorch does, average pooling divides by `kh kw`
//! always, PyTorch's `count_include_pad=True`).

use crate::conv2d::Window;
use crate::Element;
use rayon::prelude::*;

/// In-image index range `[lo, hi)` along one axis of the window of output
/// position `o` (stride `s`, padding `p`, size `k`, image length `len`).
///
/// ```
/// // a 3-wide window with padding 1 at output 0 covers input 0..2
/// assert_eq!(kernels::pool::span(0, 1, 1, 3, 5), (0, 2));
/// assert_eq!(kernels::pool::span(4, 1, 1, 3, 5), (3, 5));
/// ```
#[inline]
pub fn span(o: usize, s: usize, p: usize, k: usize, len: usize) -> (usize, usize) {
    let start = o * s;
    let lo = start.saturating_sub(p);
    let hi = (start + k).saturating_sub(p).min(len);
    (lo, hi)
}

/// Max pooling of `planes` planes of `g.h x g.w`: the outputs
/// (`planes x g.ho x g.wo`) and, for each, the in-plane index of its
/// window's maximum (the first in row-major window order; a NaN wins, as
/// in PyTorch, and where a window holds several, the one in its last row
/// that has one).
///
/// `y[i, j] = max_{p < kh, q < kw} x[i sh + p - ph, j sw + q - pw]` over
/// positions inside the image.
///
/// Panics if `x` is not `planes` planes long, or a plane holds more than
/// `u32::MAX` values (the indices are `u32`; `ops::max_pool2d` returns an
/// error first).
///
/// ```
/// use kernels::conv2d::Window;
/// let g = Window { h: 2, w: 2, kh: 2, kw: 2, sh: 2, sw: 2, ph: 0, pw: 0, dh: 1, dw: 1, ho: 1, wo: 1 };
/// let (y, arg) = kernels::pool::max_forward(&[1.0f32, 4.0, 3.0, 2.0], 1, &g);
/// assert_eq!((y, arg), (vec![4.0], vec![1]));
/// ```
pub fn max_forward<T: Element>(x: &[T], planes: usize, g: &Window) -> (Vec<T>, Vec<u32>) {
    let hw =
        g.h.checked_mul(g.w)
            .expect("max_pool2d: plane size overflows");
    let p =
        g.ho.checked_mul(g.wo)
            .expect("max_pool2d: output plane size overflows");
    assert_eq!(
        Some(x.len()),
        planes.checked_mul(hw),
        "max_pool2d: input length"
    );
    assert!(
        u32::try_from(hw).is_ok(),
        "max_pool2d: a plane of more than u32::MAX values"
    );
    let len = planes
        .checked_mul(p)
        .expect("max_pool2d: output length overflows");
    if len == 0 {
        return (Vec::new(), Vec::new());
    }
    // the common 2x2, stride 2, unpadded window with every window inside
    // the image: the same scan without the per-output window bounds
    let halves = g.kh == 2 && g.kw == 2 && g.sh == 2 && g.sw == 2 && g.ph == 0 && g.pw == 0;
    let halves = halves && 2 * g.ho <= g.h && 2 * g.wo <= g.w;
    // whole planes per task, about POOL_TASK outputs; the values and
    // indices written in memory order, a row at a time (no zero fill)
    let per = (POOL_TASK / p).max(1);
    crate::scratch::par_new_seq2(len, per * p, |ti, yf, af| {
        let (mut yr, mut ar) = (vec![T::ZERO; g.wo], vec![0u32; g.wo]);
        for pi in ti * per..((ti + 1) * per).min(planes) {
            let xp = &x[pi * hw..(pi + 1) * hw];
            for oh in 0..g.ho {
                if halves {
                    let (r0, r1) = (2 * oh * g.w, (2 * oh + 1) * g.w);
                    let top = &xp[r0..r0 + 2 * g.wo];
                    let bottom = &xp[r1..r1 + 2 * g.wo];
                    window_2x2_row(top, bottom, r0 as u32, r1 as u32, &mut yr, &mut ar);
                } else {
                    window_row(xp, oh, g, &mut yr, &mut ar);
                }
                yf.put_row(&yr);
                af.put(&ar);
            }
        }
    })
}

/// Outputs per rayon task of [`max_forward`] (whole planes, at least one).
const POOL_TASK: usize = 1 << 14;

/// One output row `oh` of [`max_forward`] for any window (`y` and `arg`
/// `g.wo` long): each output scans its window's in-image rows.
fn window_row<T: Element>(xp: &[T], oh: usize, g: &Window, y: &mut [T], arg: &mut [u32]) {
    let (h0, h1) = span(oh, g.sh, g.ph, g.kh, g.h);
    for (ow, (y, a)) in y.iter_mut().zip(arg.iter_mut()).enumerate() {
        let (w0, w1) = span(ow, g.sw, g.pw, g.kw, g.w);
        let (mut best, mut bi) = (T::NEG_INFINITY, h0 * g.w + w0);
        for ih in h0..h1 {
            // a window past the image's right edge (a Window built by hand
            // with too many columns) has w0 >= w1: no values, as the plain
            // scan
            let i = ih * g.w;
            let row = xp.get(i + w0..i + w1).unwrap_or_default();
            scan_row(&mut best, &mut bi, row, i + w0);
        }
        *y = best;
        *a = bi as u32;
    }
}

/// One output row of [`max_forward`] for 2x2 stride-2 windows that lie
/// inside the image: `top` and `bottom` are the two input rows (two values
/// per output), at plane indices `i0` and `i1`. The same maximum and index
/// as [`scan_row`] over the window's two rows, written as selects instead
/// of branches so that the loop vectorises: a value is taken when it is
/// above the best so far or a NaN, except after a NaN earlier in its own
/// row (the scan stops a row at its first NaN).
#[inline(always)]
fn window_2x2_row<T: Element>(
    top: &[T],
    bottom: &[T],
    i0: u32,
    i1: u32,
    y: &mut [T],
    arg: &mut [u32],
) {
    let n = y
        .len()
        .min(arg.len())
        .min(top.len() / 2)
        .min(bottom.len() / 2);
    let (top, bottom, y, arg) = (&top[..2 * n], &bottom[..2 * n], &mut y[..n], &mut arg[..n]);
    for (j, ((y, a), (t, b))) in y
        .iter_mut()
        .zip(arg.iter_mut())
        .zip(top.chunks_exact(2).zip(bottom.chunks_exact(2)))
        .enumerate()
    {
        let (v0, v1, v2, v3) = (t[0], t[1], b[0], b[1]);
        let j2 = 2 * j as u32;
        // v0 against -inf: taken when above it or a NaN; else the best is
        // still -inf at index i0, which is what v0 == -inf gives as well
        let (mut best, mut bi) = (v0, i0 + j2);
        let take1 = (v1 > best || v1.is_nan()) && !v0.is_nan();
        best = if take1 { v1 } else { best };
        bi = if take1 { i0 + j2 + 1 } else { bi };
        let take2 = v2 > best || v2.is_nan();
        best = if take2 { v2 } else { best };
        bi = if take2 { i1 + j2 } else { bi };
        let take3 = (v3 > best || v3.is_nan()) && !v2.is_nan();
        best = if take3 { v3 } else { best };
        bi = if take3 { i1 + j2 + 1 } else { bi };
        *y = best;
        *a = bi;
    }
}

/// One window row of [`max_forward`], values `row` at plane index `i0`
/// on: a value above `best`, or a NaN, becomes the maximum; a NaN ends the
/// row (a later row's NaN still takes over, so the last row holding one
/// wins).
#[inline(always)]
fn scan_row<T: Element>(best: &mut T, bi: &mut usize, row: &[T], i0: usize) {
    for (j, &v) in row.iter().enumerate() {
        if v > *best || v.is_nan() {
            *best = v;
            *bi = i0 + j;
            if v.is_nan() {
                break;
            }
        }
    }
}

/// The input gradient of [`max_forward`]: each output's gradient goes to
/// its window's maximum (`arg`), summed where windows share one;
/// `planes x hw` long.
///
/// Panics if `gy` and `arg` are not `planes x p` long or an index in
/// `arg` is outside its plane.
///
/// ```
/// let gx = kernels::pool::max_backward(&[1.0f32], &[1], 1, 4, 1);
/// assert_eq!(gx, [0.0, 1.0, 0.0, 0.0]);
/// ```
pub fn max_backward<T: Element>(
    gy: &[T],
    arg: &[u32],
    planes: usize,
    hw: usize,
    p: usize,
) -> Vec<T> {
    assert!(
        gy.len() == planes * p && arg.len() == planes * p,
        "max_pool2d backward: gradient length"
    );
    let mut gx = crate::scratch::par_zeros(planes * hw);
    if gx.is_empty() || p == 0 {
        return gx;
    }
    gx.par_chunks_mut(hw)
        .zip(gy.par_chunks(p))
        .zip(arg.par_chunks(p))
        .for_each(|((gxp, gp), ap)| {
            for (&a, &gv) in ap.iter().zip(gp) {
                gxp[a as usize] += gv;
            }
        });
    gx
}

/// Average pooling of `planes` planes: `y[i, j] = (1 / (kh kw)) sum` of
/// the window's in-image positions.
///
/// Panics if `x` is not `planes` planes long.
///
/// ```
/// use kernels::conv2d::Window;
/// let g = Window { h: 2, w: 2, kh: 2, kw: 2, sh: 2, sw: 2, ph: 0, pw: 0, dh: 1, dw: 1, ho: 1, wo: 1 };
/// assert_eq!(kernels::pool::avg_forward(&[1.0f32, 4.0, 3.0, 2.0], 1, &g), [2.5]);
/// ```
pub fn avg_forward<T: Element>(x: &[T], planes: usize, g: &Window) -> Vec<T> {
    let (hw, p) = (g.h * g.w, g.ho * g.wo);
    assert_eq!(x.len(), planes * hw, "avg_pool2d: input length");
    let inv = T::ONE / T::from_usize(g.kh * g.kw);
    let mut out = vec![T::ZERO; planes * p];
    if planes * p == 0 {
        return out;
    }
    out.par_chunks_mut(p)
        .zip(x.par_chunks(hw.max(1)))
        .for_each(|(yo, xp)| {
            for oh in 0..g.ho {
                let (h0, h1) = span(oh, g.sh, g.ph, g.kh, g.h);
                for ow in 0..g.wo {
                    let (w0, w1) = span(ow, g.sw, g.pw, g.kw, g.w);
                    let mut s = T::ZERO;
                    for ih in h0..h1 {
                        for iw in w0..w1 {
                            s += xp[ih * g.w + iw];
                        }
                    }
                    yo[oh * g.wo + ow] = s * inv;
                }
            }
        });
    out
}

/// The input gradient of [`avg_forward`]: each output's gradient, times
/// `1 / (kh kw)`, added to every in-image position of its window.
///
/// Panics if `gy` is not `planes x g.ho x g.wo` long.
///
/// ```
/// use kernels::conv2d::Window;
/// let g = Window { h: 2, w: 2, kh: 2, kw: 2, sh: 2, sw: 2, ph: 0, pw: 0, dh: 1, dw: 1, ho: 1, wo: 1 };
/// assert_eq!(kernels::pool::avg_backward(&[4.0f32], 1, &g), [1.0; 4]);
/// ```
pub fn avg_backward<T: Element>(gy: &[T], planes: usize, g: &Window) -> Vec<T> {
    let (hw, p) = (g.h * g.w, g.ho * g.wo);
    assert_eq!(gy.len(), planes * p, "avg_pool2d backward: gradient length");
    let inv = T::ONE / T::from_usize(g.kh * g.kw);
    let mut gx = crate::scratch::par_zeros(planes * hw);
    if gx.is_empty() || p == 0 {
        return gx;
    }
    gx.par_chunks_mut(hw)
        .zip(gy.par_chunks(p))
        .for_each(|(gxp, gp)| {
            for oh in 0..g.ho {
                let (h0, h1) = span(oh, g.sh, g.ph, g.kh, g.h);
                for ow in 0..g.wo {
                    let (w0, w1) = span(ow, g.sw, g.pw, g.kw, g.w);
                    let v = gp[oh * g.wo + ow] * inv;
                    for ih in h0..h1 {
                        for iw in w0..w1 {
                            gxp[ih * g.w + iw] += v;
                        }
                    }
                }
            }
        });
    gx
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The window scan written out plainly: PyTorch's rule as documented
    /// on [`max_forward`].
    fn reference(x: &[f32], planes: usize, g: &Window) -> (Vec<f32>, Vec<u32>) {
        let (mut y, mut a) = (Vec::new(), Vec::new());
        for pl in 0..planes {
            let xp = &x[pl * g.h * g.w..(pl + 1) * g.h * g.w];
            for oh in 0..g.ho {
                for ow in 0..g.wo {
                    let (h0, h1) = span(oh, g.sh, g.ph, g.kh, g.h);
                    let (w0, w1) = span(ow, g.sw, g.pw, g.kw, g.w);
                    let (mut best, mut bi) = (f32::NEG_INFINITY, h0 * g.w + w0);
                    for ih in h0..h1 {
                        for iw in w0..w1 {
                            let v = xp[ih * g.w + iw];
                            if v > best || v.is_nan() {
                                best = v;
                                bi = ih * g.w + iw;
                                if v.is_nan() {
                                    break;
                                }
                            }
                        }
                    }
                    y.push(best);
                    a.push(bi as u32);
                }
            }
        }
        (y, a)
    }

    /// The 2x2 stride-2 path's selects against the plain scan on every
    /// window of four values drawn from NaN, -inf, -1, -0, 0 and 1 (1296
    /// windows side by side in one 2-row plane), so every order of ties,
    /// NaNs and signed zeros is checked bit for bit.
    #[test]
    fn the_2x2_selects_match_the_plain_scan_on_every_small_window() {
        let vals = [f32::NAN, f32::NEG_INFINITY, -1.0, -0.0, 0.0, 1.0];
        let k = vals.len();
        let count = k.pow(4);
        let mut x = vec![0.0f32; 2 * 2 * count];
        for i in 0..count {
            let d = [i % k, i / k % k, i / (k * k) % k, i / (k * k * k)];
            x[2 * i] = vals[d[0]];
            x[2 * i + 1] = vals[d[1]];
            x[2 * count + 2 * i] = vals[d[2]];
            x[2 * count + 2 * i + 1] = vals[d[3]];
        }
        let g = Window::square(2, 2 * count, 2, 2, 0, 1).expect("a valid window");
        let (y, a) = max_forward(&x, 1, &g);
        let (yr, ar) = reference(&x, 1, &g);
        let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&y), bits(&yr));
        assert_eq!(a, ar);
    }

    /// The 2x2 stride-2 fast path and the general path, against the plain
    /// scan: ties, -inf, NaNs (one or several per window), odd sizes (the
    /// last row and column left out), padding and overlapping windows.
    #[test]
    fn max_forward_matches_the_plain_scan_on_every_path() {
        let special = [f32::NAN, f32::NEG_INFINITY, 1.0, 1.0, -0.0, 0.0, 3.0];
        for (h, w, k, s, p) in [
            (8, 8, 2, 2, 0),
            (7, 9, 2, 2, 0),
            (6, 6, 2, 2, 1),
            (5, 7, 3, 2, 1),
            (6, 5, 3, 1, 0),
        ] {
            let g = Window::square(h, w, k, s, p, 1).expect("a valid window");
            let planes = 3;
            let x: Vec<f32> = (0..planes * h * w)
                .map(|i| {
                    let r = (i as u32).wrapping_mul(2_654_435_761) >> 20;
                    if r.is_multiple_of(5) {
                        special[(r as usize / 5) % special.len()]
                    } else {
                        (r % 13) as f32 - 6.0
                    }
                })
                .collect();
            let (y, a) = max_forward(&x, planes, &g);
            let (yr, ar) = reference(&x, planes, &g);
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&y), bits(&yr), "{h}x{w} k{k} s{s} p{p}");
            assert_eq!(a, ar, "{h}x{w} k{k} s{s} p{p}");
        }
    }

    /// More planes than one task takes ([`POOL_TASK`] outputs, whole
    /// planes): the tasks' outputs meet at plane boundaries, the last task
    /// partial, on both paths, against the plain scan.
    #[test]
    fn max_forward_splits_planes_across_tasks() {
        for (h, k, s) in [(8, 2, 2), (9, 3, 2)] {
            let g = Window::square(h, h, k, s, 0, 1).expect("a valid window");
            let per = POOL_TASK / (g.ho * g.wo);
            let planes = 2 * per + 3;
            let x: Vec<f32> = (0..planes * h * h)
                .map(|i| ((i as u32).wrapping_mul(2_654_435_761) >> 20) as f32)
                .collect();
            let (y, a) = max_forward(&x, planes, &g);
            let (yr, ar) = reference(&x, planes, &g);
            assert_eq!((y, a), (yr, ar), "{h}x{h} k{k} s{s}, {planes} planes");
        }
    }

    /// A hand-built window with more output columns than the image holds:
    /// the windows past its edge are empty (-inf at their first position),
    /// as in the plain scan, not a panic.
    #[test]
    fn max_forward_gives_empty_windows_past_the_edge_as_the_plain_scan() {
        let g = Window {
            h: 4,
            w: 4,
            kh: 2,
            kw: 2,
            sh: 2,
            sw: 2,
            ph: 0,
            pw: 0,
            dh: 1,
            dw: 1,
            ho: 2,
            wo: 4,
        };
        let x: Vec<f32> = (0..16).map(|i| i as f32).collect();
        let (y, a) = max_forward(&x, 1, &g);
        let (yr, ar) = reference(&x, 1, &g);
        assert_eq!((y.len(), &a), (8, &ar));
        assert_eq!(
            y.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            yr.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        );
        assert_eq!(y[3], f32::NEG_INFINITY);
    }
}
