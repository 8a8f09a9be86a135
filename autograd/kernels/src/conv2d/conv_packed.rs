//! conv2d forward and backward on the packed GEMM ([`crate::packed`]), used
//! when the element type has a fast micro-kernel on this CPU (f32 with
//! AVX-512F); `conv2d.rs` falls back to im2col + matrixmultiply otherwise.
//!
//! What the packed GEMM buys over calling a GEMM per sample:
//! - the weights are packed once per call, not once per sample;
//! - output pixels are processed in blocks whose im2col columns fit in L2
//!   (`im2col_range` -> pack -> GEMM into the block's output columns);
//! - the weight gradient of several samples is one GEMM whose k runs over
//!   all their pixels (`dW = [G_1 .. G_S] [col_1 .. col_S]^T`), so C is
//!   loaded and stored once per sub-batch instead of once per sample.
//!
//! Determinism: samples are processed in the same fixed groups of
//! [`GROUP`] as the fallback, each group's weight gradient is computed
//! by one thread in a fixed order, and the groups are summed in order, so
//! results are bit-identical for any thread count.

use crate::gemm::MatRef;
use crate::packed::{gemm_packed, par_gemm_packed, tile, PackedA, PackedB};
use crate::Element;
use rayon::prelude::*;

use super::im2col::{col2im_range, im2col_range, Window};
use super::winograd;

/// Samples per weight-gradient group (fixed: it sets the summation order).
pub const GROUP: usize = 8;

/// Floats of im2col columns per pixel block (~384 KB of f32: fits in L2
/// next to the packed copy).
const BLOCK_FLOATS: usize = 96 * 1024;

/// Pixel blocks for `p` output pixels and `ckk` im2col rows: equal blocks,
/// each a multiple of the micro-tile width `nr`.
fn pixel_blocks(p: usize, ckk: usize, nr: usize) -> Vec<std::ops::Range<usize>> {
    let nr = nr.max(1);
    let most = (BLOCK_FLOATS / ckk.max(1)).max(nr);
    let nb = p.div_ceil(most).max(1);
    let jb = p.div_ceil(nb).next_multiple_of(nr);
    (0..p)
        .step_by(jb.max(1))
        .map(|j| j..(j + jb).min(p))
        .collect()
}

/// Runs `work(scratch, group, gw_part, gx_chunk)` for every fixed group of
/// [`GROUP`] samples in parallel (each group's slice of `gx`, `in_sz`
/// values a sample, empty when `gx` is), then sums the groups' weight
/// gradients (`w_len` values each) in group order, so the result does not
/// depend on the thread count. Shared by this file and the fallback path
/// in `conv2d.rs`.
pub fn for_sample_groups<T: Element, S: Default + 'static>(
    n: usize,
    in_sz: usize,
    gx: &mut [T],
    w_len: Option<usize>,
    work: impl Fn(&mut S, usize, &mut Vec<T>, &mut [T]) + Sync + Send,
) -> Option<Vec<T>> {
    let groups = n.div_ceil(GROUP).max(1);
    let mut parts: Vec<Vec<T>> = (0..groups)
        .map(|_| vec![T::ZERO; w_len.unwrap_or(0)])
        .collect();
    if gx.is_empty() {
        parts
            .par_iter_mut()
            .enumerate()
            .for_each(|(gi, part)| crate::scratch::with_scratch(|s| work(s, gi, part, &mut [])));
    } else {
        parts
            .par_iter_mut()
            .zip(gx.par_chunks_mut((GROUP * in_sz).max(1)))
            .enumerate()
            .for_each(|(gi, (part, gxc))| crate::scratch::with_scratch(|s| work(s, gi, part, gxc)));
    }
    w_len.map(|_| super::sum_in_order(parts))
}

/// Columns `pix` of a row-major `rows x p` matrix, as a view.
fn pixel_view<'a, T>(
    data: &'a [T],
    rows: usize,
    p: usize,
    pix: &std::ops::Range<usize>,
) -> MatRef<'a, T> {
    MatRef {
        data: &data[pix.start..],
        rows,
        cols: pix.len(),
        rs: p,
        cs: 1,
    }
}

/// Per-thread scratch: one im2col block and its packed copy.
#[derive(Default)]
struct Scratch<T: Element> {
    col: Vec<T>,
    pb: PackedB<T>,
}

impl<T: Element> Scratch<T> {
    /// Packs the im2col columns `pix` of sample `xn` as B (`ckk x len`).
    fn pack_cols(&mut self, xn: &[T], c: usize, g: &Window, pix: std::ops::Range<usize>) {
        let (ckk, p, len) = (c * g.kh * g.kw, g.ho * g.wo, pix.len());
        self.pb.reuse(ckk, len);
        if g.is_plain_1x1() {
            self.pb.fill(0, pixel_view(xn, ckk, p, &pix));
        } else {
            self.col.resize(ckk * len, T::ZERO);
            im2col_range(xn, c, g, pix, &mut self.col, len);
            self.pb.fill(0, MatRef::row_major(&self.col, ckk, len));
        }
    }
}

/// `y = conv(x, w) + b` for `n` samples into `out` (`n * f * p`, zeroed);
/// by Winograd when `wino` (the caller checked it applies: see
/// [`super::path`]), copied from [`forward_winograd`], which the crate's
/// own callers use directly.
#[allow(clippy::too_many_arguments)]
pub fn forward<T: Element>(
    x: &[T],
    w: &[T],
    b: Option<&[T]>,
    g: &Window,
    n: usize,
    c: usize,
    f: usize,
    out: &mut [T],
    wino: bool,
) {
    if wino {
        let y = forward_winograd(x, w, b, g, n, c, f);
        out[..y.len()].copy_from_slice(&y);
        return;
    }
    let p = g.ho * g.wo;
    let ckk = c * g.kh * g.kw;
    let in_sz = c * g.h * g.w;
    let pa = PackedA::pack(MatRef::row_major(w, f, ckk));
    let blocks = pixel_blocks(p, ckk, tile::<T>().nr);
    let one_sample = |xn: &[T], yn: &mut [T], s: &mut Scratch<T>, parallel: bool| {
        if let Some(b) = b {
            for (row, &bf) in yn.chunks_mut(p).zip(b) {
                row.fill(bf);
            }
        }
        for pix in &blocks {
            s.pack_cols(xn, c, g, pix.clone());
            let cb = &mut yn[pix.start..];
            if parallel {
                par_gemm_packed(&pa, &s.pb, cb, p, b.is_some());
            } else {
                gemm_packed(&pa, &s.pb, cb, p, b.is_some());
            }
        }
    };
    if n == 1 {
        crate::scratch::with_scratch(|s| one_sample(x, out, s, true));
    } else {
        out.par_chunks_mut(f * p)
            .zip(x.par_chunks(in_sz.max(1)))
            .for_each(|(yn, xn)| crate::scratch::with_scratch(|s| one_sample(xn, yn, s, false)));
    }
}

/// [`forward`] by Winograd into a new vector, written once (no zero fill
/// first).
#[allow(clippy::too_many_arguments)]
pub fn forward_winograd<T: Element>(
    x: &[T],
    w: &[T],
    b: Option<&[T]>,
    g: &Window,
    n: usize,
    c: usize,
    f: usize,
) -> Vec<T> {
    let u = winograd_weights(w, g, c, f, false, super::path::winograd_tile(g.ho, g.wo));
    winograd::forward(x, &u, b, n, c, (g.h, g.w), (g.ph, g.pw))
}

/// [`backward`] by Winograd, the input gradient (empty unless `need_x`)
/// into a new vector, written once (no zero fill first).
#[allow(clippy::too_many_arguments)]
pub fn backward_winograd<T: Element>(
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
    if n == 0 {
        return (
            Vec::new(),
            need_w.then(|| vec![T::ZERO; f * c * g.kh * g.kw]),
        );
    }
    let gx = if need_x {
        // dL/dx = corr(G, rot180(W)^T) with padding 2 - p, by Winograd
        // with the tile for its output, h x w
        let uf = winograd_weights(w, g, c, f, true, super::path::winograd_tile(g.h, g.w));
        winograd::forward(gy, &uf, None, n, f, (g.ho, g.wo), (2 - g.ph, 2 - g.pw))
    } else {
        Vec::new()
    };
    let gw = need_w.then(|| {
        let tile = super::path::winograd_tile(g.ho, g.wo);
        winograd::weight_grad(x, gy, n, c, f, (g.h, g.w), (g.ph, g.pw), tile)
    });
    (gx, gw)
}

/// The transformed weights, for `tile`, of a layer the Winograd path
/// applies to (panics otherwise: the caller checked).
fn winograd_weights<T: Element>(
    w: &[T],
    g: &Window,
    c: usize,
    f: usize,
    flip: bool,
    tile: winograd::Tile,
) -> Vec<PackedA<T>> {
    assert!(
        winograd::applicable(g, c, f),
        "winograd: shape does not apply"
    );
    winograd::transform_weights(w, f, c, flip, tile)
}

/// Gradients of input (`gx`, `n * c * h * w`, zeroed, empty when not
/// needed) and weight (returned when `need_w`) given `gy` (`n * f * p`);
/// by Winograd when `wino`, the input gradient copied from
/// [`backward_winograd`], which the crate's own callers use directly.
#[allow(clippy::too_many_arguments)]
pub fn backward<T: Element>(
    x: &[T],
    w: &[T],
    gy: &[T],
    g: &Window,
    n: usize,
    c: usize,
    f: usize,
    gx: &mut [T],
    need_w: bool,
    wino: bool,
) -> Option<Vec<T>> {
    if n == 0 {
        return need_w.then(|| vec![T::ZERO; f * c * g.kh * g.kw]);
    }
    if wino {
        let (gxw, gw) = backward_winograd(x, w, gy, g, n, c, f, !gx.is_empty(), need_w);
        gx[..gxw.len()].copy_from_slice(&gxw);
        return gw;
    }
    let need_x = !gx.is_empty();
    let p = g.ho * g.wo;
    let ckk = c * g.kh * g.kw;
    let in_sz = c * g.h * g.w;
    let blocks = pixel_blocks(p, ckk, tile::<T>().nr);
    // dcol = W^T G_n: W^T (ckk x f) packed once
    let pwt = need_x.then(|| PackedA::pack(MatRef::row_major(w, f, ckk).t()));
    // weight gradient: the pixels of `per_gemm` samples form one GEMM's k
    let per_gemm = (4096 / p.max(1)).clamp(1, GROUP);
    let work = |s: &mut WorkScratch<T>, gi: usize, gw_part: &mut Vec<T>, gx_chunk: &mut [T]| {
        let samples = gi * GROUP..((gi + 1) * GROUP).min(n);
        if need_w {
            let list: Vec<usize> = samples.clone().collect();
            for (si, sub) in list.chunks(per_gemm).enumerate() {
                let kt = sub.len() * p;
                s.ga.reuse(f, kt);
                s.colt.reuse(kt, ckk);
                for (q, &ni) in sub.iter().enumerate() {
                    let gyn = &gy[ni * f * p..(ni + 1) * f * p];
                    let xn = &x[ni * in_sz..(ni + 1) * in_sz];
                    for pix in &blocks {
                        let k0 = q * p + pix.start;
                        s.ga.fill(k0, pixel_view(gyn, f, p, pix));
                        let len = pix.len();
                        if g.is_plain_1x1() {
                            s.colt.fill(k0, pixel_view(xn, ckk, p, pix).t());
                        } else {
                            s.col.resize(ckk * len, T::ZERO);
                            im2col_range(xn, c, g, pix.clone(), &mut s.col, len);
                            s.colt.fill(k0, MatRef::row_major(&s.col, ckk, len).t());
                        }
                    }
                }
                gemm_packed(&s.ga, &s.colt, gw_part, ckk, si > 0);
            }
        }
        if let Some(pwt) = &pwt {
            for ni in samples.clone() {
                let local = ni - samples.start;
                let gxn = &mut gx_chunk[local * in_sz..(local + 1) * in_sz];
                let gyn = &gy[ni * f * p..(ni + 1) * f * p];
                for pix in &blocks {
                    let len = pix.len();
                    s.gb.reuse(f, len);
                    s.gb.fill(0, pixel_view(gyn, f, p, pix));
                    if g.is_plain_1x1() {
                        gemm_packed(pwt, &s.gb, &mut gxn[pix.start..], p, false);
                    } else {
                        s.dcol.resize(ckk * len, T::ZERO);
                        gemm_packed(pwt, &s.gb, &mut s.dcol, len, false);
                        col2im_range(&s.dcol, len, c, g, pix.clone(), gxn);
                    }
                }
            }
        }
    };
    for_sample_groups(n, in_sz, gx, need_w.then_some(f * ckk), work)
}

/// Per-thread scratch of the backward pass.
#[derive(Default)]
struct WorkScratch<T: Element> {
    /// im2col block
    col: Vec<T>,
    /// G of a sub-batch, packed as A (f x pixels)
    ga: PackedA<T>,
    /// im2col of a sub-batch, transposed, packed as B (pixels x ckk)
    colt: PackedB<T>,
    /// G block packed as B (f x pixels)
    gb: PackedB<T>,
    /// W^T G block (ckk x pixels)
    dcol: Vec<T>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check<T: Element>(tol: f64) {
        // (n, c, f, h, w, k, stride, pad, dilation): 1x1, strided, dilated,
        // one sample (parallel GEMM), more samples than a group, and images
        // large enough for several pixel blocks and sub-batches per GEMM
        let cases = [
            (2, 3, 5, 7, 6, 3, 1, 1, 1),
            (1, 4, 17, 9, 9, 3, 2, 1, 1),
            (3, 6, 4, 8, 8, 1, 1, 0, 1),
            (10, 2, 3, 6, 5, 3, 1, 2, 2),
            (9, 7, 20, 40, 40, 3, 1, 1, 1), // 7 channels: im2col, 2 pixel blocks
            (2, 1, 2, 5, 5, 5, 3, 0, 1),
            // Winograd: 3x3, stride 1, enough channels, paddings 1 and 2
            (3, 16, 17, 10, 9, 3, 1, 1, 1),
            (2, 16, 16, 6, 7, 3, 1, 2, 1),
        ];
        for &(n, c, f, h, wd, k, s, pd, d) in &cases {
            let g = Window::square(h, wd, k, s, pd, d).unwrap();
            let (ho, wo) = (g.ho, g.wo);
            let val = |i: usize, m: usize| ((i * m) % 17) as f64 / 8.0 - 1.0;
            let x: Vec<f64> = (0..n * c * h * wd).map(|i| val(i, 7)).collect();
            let w: Vec<f64> = (0..f * c * k * k).map(|i| val(i, 5)).collect();
            let b: Vec<f64> = (0..f).map(|i| val(i, 3)).collect();
            let gy: Vec<f64> = (0..n * f * ho * wo).map(|i| val(i, 11)).collect();
            let (y0, gx0, gw0) = super::super::direct_conv(&x, &w, &b, &gy, &g, n, c, f);
            let t = |v: &[f64]| v.iter().map(|&e| T::from_f64(e)).collect::<Vec<T>>();
            let (xt, wt, bt, gyt) = (t(&x), t(&w), t(&b), t(&gy));
            let mut y = vec![T::ZERO; y0.len()];
            // Winograd where it applies, as the automatic choice
            let wino = winograd::applicable(&g, c, f);
            forward(&xt, &wt, Some(&bt), &g, n, c, f, &mut y, wino);
            let mut gx = vec![T::ZERO; x.len()];
            let gw = backward(&xt, &wt, &gyt, &g, n, c, f, &mut gx, true, wino).unwrap();
            for (name, got, want) in [("y", &y, &y0), ("gx", &gx, &gx0), ("gw", &gw, &gw0)] {
                for (i, (a, e)) in got.iter().zip(want.iter()).enumerate() {
                    let err = (a.to_f64() - e).abs();
                    assert!(
                        err <= tol * (1.0 + e.abs()),
                        "{} {name}[{i}]: {} vs {e} (case {:?})",
                        T::NAME,
                        a,
                        (n, c, f, h, wd, k, s, pd, d)
                    );
                }
            }
            // the input gradient alone, and the weight gradient alone
            let mut gx2 = vec![T::ZERO; x.len()];
            assert!(backward(&xt, &wt, &gyt, &g, n, c, f, &mut gx2, false, wino).is_none());
            assert_eq!(gx2, gx);
            assert_eq!(
                backward(&xt, &wt, &gyt, &g, n, c, f, &mut [], true, wino).unwrap(),
                gw
            );
        }
    }

    #[test]
    fn packed_conv_matches_direct_loops_f64_portable_kernel() {
        check::<f64>(1e-12);
    }

    #[test]
    fn packed_conv_matches_direct_loops_f32_fast_kernel() {
        // on a CPU without AVX-512 this runs the portable kernel in f32
        check::<f32>(1e-4);
    }

    #[test]
    fn pixel_blocks_cover_the_image_in_tile_multiples() {
        for &(p, ckk) in &[
            (1, 1),
            (64, 1152),
            (1024, 288),
            (1024, 27),
            (1600, 72),
            (17, 100_000),
        ] {
            for nr in [16, 32] {
                let bl = pixel_blocks(p, ckk, nr);
                assert_eq!(bl.first().unwrap().start, 0);
                assert_eq!(bl.last().unwrap().end, p);
                for w in bl.windows(2) {
                    assert_eq!(w[0].end, w[1].start);
                    assert_eq!(w[0].len() % nr, 0);
                }
            }
        }
    }
}
