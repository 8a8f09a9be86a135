//! Dilated 3x3 stride-1 convolutions as Winograd convolutions of their
//! polyphase sub-images.
//!
//! With stride 1 and dilation `(dh, dw)`, output pixel `(oy, ox)` reads only
//! padded-input pixels `(oy + dh·ky, ox + dw·kx)`: the same phase
//! `(oy mod dh, ox mod dw)` as itself. So the convolution splits into
//! `dh·dw` independent *undilated* 3x3 convolutions, one per phase, each on
//! the sub-image `x_pad[r::dh, s::dw]` with no padding. Stacking the phases
//! into the batch (`[N·dh·dw, C, Hq, Wq]`, the padded input rounded up to a
//! multiple of the dilation with zeros) makes that one convolution, which
//! runs on Winograd (F(4x4,3x3): 4x fewer multiplications than the
//! direct convolution the packed GEMM does; F(2x2,3x3) where the phases'
//! outputs are too small for F4 to pay, see [`super::winograd::Tile`]). Backward is the same
//! decomposition: the output gradient is split into phases, the phase
//! convolution's backward gives the weight gradient summed over the stacked
//! batch (exactly the dilated convolution's) and the phases' input
//! gradients, merged back and cropped.
//!
//! The rearrangements copy each tensor once (O(N·C·H·W)), against the
//! convolution's O(N·C·F·H·W·9). All safe code.

use crate::Element;
use rayon::prelude::*;

use super::conv_packed;
use super::im2col::Window;
use super::winograd;

/// Most elements the stacked phases may hold: the tensor-size limit of the
/// ops (`ops::MAX_ELEMENTS`, 2^31); larger layers take the packed path.
const MAX_STACKED: usize = 1 << 31;

/// The phase layout of a dilated window: `dh x dw` phases of `hq x wq`
/// padded-input pixels; `sub` is one phase's undilated, unpadded window.
#[derive(Clone, Copy, Debug)]
pub struct Phases {
    dh: usize,
    dw: usize,
    hq: usize,
    wq: usize,
    sub: Window,
}

/// The phase layout, when this path applies: 3x3 kernel, stride 1, some
/// dilation above 1, Winograd's channel counts, phases at least 3 x 3, and
/// the stacked input within the ops' tensor-size bound (2^31 elements).
pub fn phases(g: &Window, n: usize, c: usize, f: usize) -> Option<Phases> {
    if g.kh != 3 || g.kw != 3 || g.sh != 1 || g.sw != 1 || (g.dh <= 1 && g.dw <= 1) {
        return None;
    }
    if g.dh == 0 || g.dw == 0 {
        return None;
    }
    let hq = g.h.checked_add(g.ph.checked_mul(2)?)?.div_ceil(g.dh);
    let wq = g.w.checked_add(g.pw.checked_mul(2)?)?.div_ceil(g.dw);
    if hq < 3 || wq < 3 {
        return None;
    }
    let stacked = n
        .checked_mul(g.dh)?
        .checked_mul(g.dw)?
        .checked_mul(c.max(f))?
        .checked_mul(hq)?
        .checked_mul(wq)?;
    if stacked > MAX_STACKED {
        return None;
    }
    let sub = Window {
        h: hq,
        w: wq,
        kh: 3,
        kw: 3,
        sh: 1,
        sw: 1,
        ph: 0,
        pw: 0,
        dh: 1,
        dw: 1,
        ho: hq - 2,
        wo: wq - 2,
    };
    winograd::applicable(&sub, c, f).then_some(Phases {
        dh: g.dh,
        dw: g.dw,
        hq,
        wq,
        sub,
    })
}

/// `dst[(n, r, s), ch, a, b] = src[n, ch, r + dh·a - oh, s + dw·b - ow]`
/// (zero outside `src`'s `h x w`), phase planes of `qh x qw`.
#[allow(clippy::too_many_arguments)]
fn to_phases<T: Element>(
    src: &[T],
    n: usize,
    ch: usize,
    (h, w): (usize, usize),
    (oh, ow): (usize, usize),
    (dh, dw): (usize, usize),
    (qh, qw): (usize, usize),
) -> Vec<T> {
    let plane = qh * qw;
    // zeros where a phase reaches past the image, written in parallel
    let mut dst = crate::scratch::par_zeros(n * dh * dw * ch * plane);
    dst.par_chunks_mut((ch * plane).max(1))
        .enumerate()
        .for_each(|(k, out)| {
            let (ni, r, s) = (k / (dh * dw), (k / dw) % dh, k % dw);
            // the columns b of this phase inside the image (s + dw·b - ow
            // in 0..w): b0..b1, from image column j0; the same every row
            let b0 = ow.saturating_sub(s).div_ceil(dw);
            let b1 = (w + ow).saturating_sub(s).div_ceil(dw).min(qw);
            if b0 >= b1 {
                return;
            }
            let j0 = s + dw * b0 - ow;
            for ci in 0..ch {
                let sp = &src[(ni * ch + ci) * h * w..][..h * w];
                let dp = &mut out[ci * plane..][..plane];
                for a in 0..qh {
                    let i = r + dh * a;
                    if i < oh || i - oh >= h {
                        continue;
                    }
                    let row = &sp[(i - oh) * w + j0..(i - oh + 1) * w];
                    take_strided(&mut dp[a * qw + b0..a * qw + b1], row, dw);
                }
            }
        });
    dst
}

/// `dst[t] = src[t step]` for every `t` of `dst` (`src` must reach
/// that far). Branch-free; for step 2 (dilation 2, the common case) in
/// whole pairs, which compiles to vector shuffles.
fn take_strided<T: Copy>(dst: &mut [T], src: &[T], step: usize) {
    if step == 2 {
        let pairs = (src.len() / 2).min(dst.len());
        for (d, pair) in dst[..pairs].iter_mut().zip(src.chunks_exact(2)) {
            *d = pair[0];
        }
        if pairs < dst.len() {
            dst[pairs] = src[2 * pairs];
        }
    } else {
        for (t, d) in dst.iter_mut().enumerate() {
            *d = src[t * step];
        }
    }
}

/// The inverse gather: `dst[n, ch, i, j] = src[(n, (i + oh) mod dh,
/// (j + ow) mod dw), ch, (i + oh) / dh, (j + ow) / dw]` for the `h x w`
/// output.
#[allow(clippy::too_many_arguments)]
fn from_phases<T: Element>(
    src: &[T],
    n: usize,
    ch: usize,
    (h, w): (usize, usize),
    (oh, ow): (usize, usize),
    (dh, dw): (usize, usize),
    (qh, qw): (usize, usize),
) -> Vec<T> {
    let plane = qh * qw;
    let mut dst = crate::scratch::par_zeros(n * ch * h * w);
    // one output plane a task; each phase's pixels are a strided subset of
    // it (no division per pixel)
    dst.par_chunks_mut((h * w).max(1))
        .enumerate()
        .for_each(|(k, out)| {
            let (ni, ci) = (k / ch, k % ch);
            if dw == 2 {
                // each row interleaves its two phases' rows: column 2t
                // from phase (ow mod 2) at t + ow / 2, column 2t + 1 from
                // the other at t + (ow + 1) / 2
                let (se, so) = (ow % 2, (ow + 1) % 2);
                let (be, bo) = (ow / 2, ow.div_ceil(2));
                for (i, drow) in out.chunks_exact_mut(w).enumerate() {
                    let (r, a) = ((i + oh) % dh, (i + oh) / dh);
                    let row = |s: usize| {
                        let phase = (ni * dh + r) * dw + s;
                        &src[((phase * ch + ci) * qh + a) * qw..][..qw]
                    };
                    let (e, o) = (&row(se)[be..], &row(so)[bo..]);
                    assert!(
                        e.len() >= w.div_ceil(2) && o.len() >= w / 2,
                        "from_phases: phases too small"
                    );
                    for ((pair, &e), &o) in drow.chunks_exact_mut(2).zip(e).zip(o) {
                        pair[0] = e;
                        pair[1] = o;
                    }
                    if w % 2 == 1 {
                        drow[w - 1] = e[w / 2];
                    }
                }
                return;
            }
            for r in 0..dh {
                for s in 0..dw {
                    let phase = (ni * dh + r) * dw + s;
                    let sp = &src[(phase * ch + ci) * plane..][..plane];
                    // first a with r + dh·a >= oh, first b with s + dw·b >= ow
                    let a0 = oh.saturating_sub(r).div_ceil(dh);
                    let b0 = ow.saturating_sub(s).div_ceil(dw);
                    for a in a0..qh {
                        let i = r + dh * a - oh;
                        if i >= h {
                            break;
                        }
                        let srow = &sp[a * qw..][..qw];
                        let drow = &mut out[i * w..][..w];
                        let mut j = s + dw * b0 - ow;
                        for v in &srow[b0..] {
                            if j >= w {
                                break;
                            }
                            drow[j] = *v;
                            j += dw;
                        }
                    }
                }
            }
        });
    dst
}

/// The dilated convolution's output `[n, f, ho, wo]` (see the module docs).
#[allow(clippy::too_many_arguments)]
pub fn forward<T: Element>(
    x: &[T],
    w: &[T],
    b: Option<&[T]>,
    g: &Window,
    p: &Phases,
    n: usize,
    c: usize,
    f: usize,
) -> Vec<T> {
    let (d, q) = ((p.dh, p.dw), (p.hq, p.wq));
    let xs = to_phases(x, n, c, (g.h, g.w), (g.ph, g.pw), d, q);
    let n2 = n * p.dh * p.dw;
    let sub = &p.sub;
    let ys = conv_packed::forward_winograd(&xs, w, b, sub, n2, c, f);
    from_phases(&ys, n, f, (g.ho, g.wo), (0, 0), d, (sub.ho, sub.wo))
}

/// The input gradient (empty unless `need_x`) and, with `need_w`, the
/// weight gradient of the dilated convolution.
#[allow(clippy::too_many_arguments)]
pub fn backward<T: Element>(
    x: &[T],
    w: &[T],
    gy: &[T],
    g: &Window,
    p: &Phases,
    n: usize,
    c: usize,
    f: usize,
    need_x: bool,
    need_w: bool,
) -> (Vec<T>, Option<Vec<T>>) {
    let (d, q) = ((p.dh, p.dw), (p.hq, p.wq));
    let sub = &p.sub;
    let xs = to_phases(x, n, c, (g.h, g.w), (g.ph, g.pw), d, q);
    // rows and columns of the phase outputs past the real output get zero
    let gys = to_phases(gy, n, f, (g.ho, g.wo), (0, 0), d, (sub.ho, sub.wo));
    let n2 = n * p.dh * p.dw;
    let (gxs, gw) = conv_packed::backward_winograd(&xs, w, &gys, sub, n2, c, f, need_x, need_w);
    let gx = if need_x {
        from_phases(&gxs, n, c, (g.h, g.w), (g.ph, g.pw), d, q)
    } else {
        Vec::new()
    };
    (gx, gw)
}
