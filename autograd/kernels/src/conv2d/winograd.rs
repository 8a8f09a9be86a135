//! Winograd F(2x2, 3x3) convolution (Lavin & Gray, "Fast Algorithms for
//! Convolutional Neural Networks", 2015) for 3x3 kernels with stride 1 and
//! dilation 1: 16 multiplies per 2x2 output tile instead of 36, so 2.25x
//! fewer GEMM flops than im2col.
//!
//! For each 4x4 input tile `d` (stride 2) and 3x3 kernel `g`, the 2x2 output
//! tile is `Y = A^T [(G g G^T) ⊙ (B^T d B)] A` with
//!
//! ```text
//! B^T = [1  0 -1  0]    G = [ 1    0    0 ]    A^T = [1 1  1  0]
//!       [0  1  1  0]        [1/2  1/2  1/2]          [0 1 -1 -1]
//!       [0 -1  1  0]        [1/2 -1/2  1/2]
//!       [0  1  0 -1]        [ 0    0    1 ]
//! ```
//!
//! Summed over input channels, each of the 16 positions `xi` of the 4x4
//! transformed tile is one GEMM: `M_xi [F x tiles] = U_xi [F x C] V_xi [C x tiles]`.
//! The input gradient of such a convolution is the same kind of convolution
//! of the output gradient with the 180-degree-rotated, channel-transposed
//! kernel and padding `2 - p`, so it uses this path too; the weight
//! gradient sums `(A dY A^T) ⊙ V` over tiles as 16 GEMMs ([`weight_grad`]).
//!
//! Rounding differs from im2col by a few ulp (the transforms add and halve);
//! the result is the same correlation PyTorch computes. Samples are cut into
//! chunks by shape alone, so results do not depend on the thread count.

use crate::gemm::MatRef;
use crate::packed::{gemm_packed, PackedA, PackedB};
use crate::scratch::SeqFill;
use crate::Element;
use rayon::prelude::*;

use super::im2col::Window;

/// Fewer input or output channels than this: im2col. The transforms cost
/// per channel what the GEMMs save per channel pair, so small channel
/// counts do not pay. Measured, forward + backward, batch 128, 32x32, 2
/// threads (Winograd vs im2col): 4->16 12 vs 9 ms; 8->8 11 vs 24 ms; 8->16
/// 13 vs 16 ms; 16->16 21-25 vs 41 ms; 32->32 58 vs 109 ms.
pub const MIN_CHANNELS: usize = 8;

/// Tiles per GEMM (columns of each `V_xi`): a chunk of samples has about
/// this many, or fewer so that its transformed input and output stay within
/// `CHUNK_BYTES` (2 MB: conv_64_128_16 and conv_128_256_8 forward 8-10%
/// faster than 256 tiles regardless of size; 4 MB was no better than that).
const TILES_PER_CHUNK: usize = 256;
const CHUNK_BYTES: usize = 2 << 20;

/// Whether the Winograd path computes this convolution: 3x3, stride 1,
/// dilation 1, padding at most 2 (so the input gradient also fits), and
/// enough channels either side.
pub fn applicable(g: &Window, c: usize, f: usize) -> bool {
    g.kh == 3
        && g.kw == 3
        && g.sh == 1
        && g.sw == 1
        && g.dh == 1
        && g.dw == 1
        && g.ph <= 2
        && g.pw <= 2
        && c >= MIN_CHANNELS
        && f >= MIN_CHANNELS
}

/// `U_xi = (G g G^T)[xi]` for every kernel of `w` (`[f, c, 3, 3]`), packed:
/// 16 matrices `f x c`. With `flip`, the kernels of the input gradient:
/// 16 matrices `c x f` from `g'[c][f] = rot180(w[f][c])`.
///
/// Written straight into the packed panels, the panels split across
/// threads (row-major matrices packed afterwards took 1.8% of
/// `conv_128_256_8` forward + backward on one thread, serially).
pub fn transform_weights<T: Element>(w: &[T], f: usize, c: usize, flip: bool) -> Vec<PackedA<T>> {
    let (rows, cols) = if flip { (c, f) } else { (f, c) };
    assert_eq!(w.len(), f * c * 9, "winograd: weights are not [f, c, 3, 3]");
    let mut mats: Vec<PackedA<T>> = (0..16).map(|_| PackedA::zeros(rows, cols)).collect();
    let mr = crate::packed::tile::<T>().mr;
    // panel ip of all 16 matrices together, one task each
    let mut panels: Vec<Vec<&mut [T]>> = (0..rows.div_ceil(mr))
        .map(|_| Vec::with_capacity(16))
        .collect();
    for m in mats.iter_mut() {
        for (ip, panel) in m.panels_mut().enumerate() {
            panels[ip].push(panel);
        }
    }
    panels
        .into_par_iter()
        .enumerate()
        .for_each(|(ip, mut out)| {
            for p in 0..cols {
                for i in 0..mr.min(rows - ip * mr) {
                    let r = ip * mr + i;
                    let (fi, ci) = if flip { (p, r) } else { (r, p) };
                    let u = transform_kernel(&w[(fi * c + ci) * 9..(fi * c + ci + 1) * 9], flip);
                    for (o, v) in out.iter_mut().zip(u) {
                        o[p * mr + i] = v;
                    }
                }
            }
        });
    mats
}

/// `G g G^T` (4 x 4, row-major) of one 3x3 kernel `k` (row-major), or of
/// its 180-degree rotation with `flip`.
#[inline(always)]
fn transform_kernel<T: Element>(k: &[T], flip: bool) -> [T; 16] {
    let half = T::from_f64(0.5);
    let at = |a: usize, b: usize| {
        if flip {
            k[(2 - a) * 3 + (2 - b)]
        } else {
            k[a * 3 + b]
        }
    };
    // G g: 4 x 3, column by column
    let mut gg = [[T::ZERO; 3]; 4];
    for b in 0..3 {
        let (g0, g1, g2) = (at(0, b), at(1, b), at(2, b));
        let col = [g0, (g0 + g1 + g2) * half, (g0 - g1 + g2) * half, g2];
        for (row, v) in gg.iter_mut().zip(col) {
            row[b] = v;
        }
    }
    // (G g) G^T: 4 x 4
    let mut u = [T::ZERO; 16];
    for (a, [r0, r1, r2]) in gg.into_iter().enumerate() {
        u[a * 4..a * 4 + 4].copy_from_slice(&[
            r0,
            (r0 + r1 + r2) * half,
            (r0 - r1 + r2) * half,
            r2,
        ]);
    }
    u
}

/// Per-thread scratch.
#[derive(Default)]
struct Scratch<T: Element> {
    rows: RowScratch<T>,
    /// `V_xi [c x tiles]`, packed
    v: Vec<PackedB<T>>,
    /// `M_xi [f x tiles]`, one after another
    m: Vec<T>,
}

/// `y[n, f, ho, wo] = bias[f] + sum_c x[n, c] ⋆ g[f, c]` with zero padding
/// `(ph, pw)`, where `u = transform_weights(..)` (`f = u[0].rows()`), as a
/// new vector: each chunk's output written once, in memory order, not
/// into a zero-filled one (the zero fill was 1.4% of the 1-thread training
/// step, perf, Zen 1).
#[allow(clippy::too_many_arguments)]
pub fn forward<T: Element>(
    x: &[T],
    u: &[PackedA<T>],
    bias: Option<&[T]>,
    n: usize,
    c: usize,
    (h, w): (usize, usize),
    (ph, pw): (usize, usize),
) -> Vec<T> {
    let plan = ForwardPlan::new(u, n, c, (h, w), (ph, pw));
    crate::scratch::par_new_seq(plan.out_len, plan.out_chunk, |i, fill| {
        let xc = &x[i * plan.in_chunk..((i + 1) * plan.in_chunk).min(x.len())];
        crate::scratch::with_scratch(|s| plan.chunk(s, xc, u, bias, fill))
    })
}

/// How [`forward`] cuts a batch into chunks of samples (by shape alone,
/// so results do not depend on the thread count).
struct ForwardPlan {
    geo: Geometry,
    c: usize,
    f: usize,
    /// Values of the output per chunk.
    out_chunk: usize,
    /// Values of the input per chunk.
    in_chunk: usize,
    /// Values of the whole output.
    out_len: usize,
}

impl ForwardPlan {
    fn new<T: Element>(
        u: &[PackedA<T>],
        n: usize,
        c: usize,
        (h, w): (usize, usize),
        (ph, pw): (usize, usize),
    ) -> Self {
        assert_eq!(u.len(), 16, "winograd: 16 transformed weight matrices");
        let f = u[0].rows();
        let geo = Geometry::new((h, w), (ph, pw));
        // V and M of a chunk (16 (c + f) tc floats) within CHUNK_BYTES
        let fit = CHUNK_BYTES / (16 * 4 * (c + f)).max(1);
        let per = (TILES_PER_CHUNK.min(fit) / geo.tiles).clamp(1, n.max(1));
        let plane = geo.ho * geo.wo;
        ForwardPlan {
            c,
            f,
            out_chunk: per * f * plane,
            in_chunk: per * c * h * w,
            out_len: n * f * plane,
            geo,
        }
    }

    /// One chunk: the samples of `xc`, their outputs put into `yc` in
    /// memory order.
    fn chunk<T: Element>(
        &self,
        s: &mut Scratch<T>,
        xc: &[T],
        u: &[PackedA<T>],
        bias: Option<&[T]>,
        yc: &mut SeqFill<'_, T>,
    ) {
        let (geo, c, f) = (&self.geo, self.c, self.f);
        let ns = xc.len() / (c * geo.h * geo.w);
        let tc = ns * geo.tiles;
        s.v.resize_with(16, PackedB::default);
        geo.input_transform(xc, c, VOut::Packed(&mut s.v), &mut s.rows);
        s.m.resize(16 * f * tc, T::ZERO);
        for (xi, mx) in s.m.chunks_exact_mut(f * tc).enumerate() {
            gemm_packed(&u[xi], &s.v[xi], mx, tc, false);
        }
        geo.output_transform(&s.m, f, ns, bias, yc, &mut s.rows);
    }
}

/// Tiles per weight-gradient chunk (the k of its GEMMs); the chunks are
/// whole samples, at least 8 chunks when the batch allows, fixed by the
/// shape alone (they set the summation order). 256 measured 3-5% faster
/// than 512 or 2048 on the reference ConvNet's layers (its transformed data
/// stays in cache).
const GRAD_TILES: usize = 256;

/// `dL/dw` (`[f, c, 3, 3]`) of [`forward`] given the output gradient `gy`
/// (`[n, f, ho, wo]`). As `Y = A^T [U ⊙ V] A` is linear in `U = G g G^T`:
/// per tile `dL/dU += (A dY A^T) ⊙ V`, summed over tiles as 16 GEMMs
/// `dU_xi [f x c] = Z_xi [f x tiles] V_xi^T`, then `dw = G^T dU G`.
/// Chunks of samples (fixed by the shape) are summed in order: the result
/// does not depend on the thread count.
pub fn weight_grad<T: Element>(
    x: &[T],
    gy: &[T],
    n: usize,
    c: usize,
    f: usize,
    (h, w): (usize, usize),
    (ph, pw): (usize, usize),
) -> Vec<T> {
    let geo = Geometry::new((h, w), (ph, pw));
    let (ho, wo) = (geo.ho, geo.wo);
    let per = (GRAD_TILES / geo.tiles).clamp(1, n.div_ceil(8).max(1));
    let groups = n.div_ceil(per);
    let chunk = |s: &mut GradScratch<T>, gi: usize| -> Vec<T> {
        let samples = gi * per..((gi + 1) * per).min(n);
        let ns = samples.len();
        let tc = ns * geo.tiles;
        let xc = &x[samples.start * c * h * w..samples.end * c * h * w];
        let gyc = &gy[samples.start * f * ho * wo..samples.end * f * ho * wo];
        // V_xi [c x tc] and Z_xi [f x tc], row-major, one after another
        geo.input_transform(xc, c, VOut::Rows(&mut s.v), &mut s.rows);
        geo.grad_output_transform(gyc, f, &mut s.z, &mut s.rows);
        let mut du = vec![T::ZERO; 16 * f * c];
        for (xi, dux) in du.chunks_exact_mut(f * c).enumerate() {
            s.za.reuse(f, tc);
            s.za.fill(
                0,
                MatRef::row_major(&s.z[xi * f * tc..(xi + 1) * f * tc], f, tc),
            );
            s.vb.reuse(tc, c);
            s.vb.fill(
                0,
                MatRef::row_major(&s.v[xi * c * tc..(xi + 1) * c * tc], c, tc).t(),
            );
            gemm_packed(&s.za, &s.vb, dux, c, false);
        }
        du
    };
    let parts: Vec<Vec<T>> = (0..groups)
        .into_par_iter()
        .map(|gi| crate::scratch::with_scratch(|s| chunk(s, gi)))
        .collect();
    let du = super::sum_in_order(parts);
    // dw = G^T dU G for every (f, c)
    let half = T::from_f64(0.5);
    let gt = |u: [T; 4]| {
        [
            u[0] + (u[1] + u[2]) * half,
            (u[1] - u[2]) * half,
            (u[1] + u[2]) * half + u[3],
        ]
    };
    let mut dw = vec![T::ZERO; f * c * 9];
    for (fc, out) in dw.chunks_exact_mut(9).enumerate() {
        let at = |xi: usize| du[xi * f * c + fc];
        // columns first: t[a][q] = (G^T dU)[a][q]
        let mut t = [[T::ZERO; 4]; 3];
        for q in 0..4 {
            let col = gt([at(q), at(4 + q), at(8 + q), at(12 + q)]);
            for (row, v) in t.iter_mut().zip(col) {
                row[q] = v;
            }
        }
        for a in 0..3 {
            out[a * 3..a * 3 + 3].copy_from_slice(&gt(t[a]));
        }
    }
    dw
}

/// Per-thread scratch of [`weight_grad`].
#[derive(Default)]
struct GradScratch<T: Element> {
    rows: RowScratch<T>,
    v: Vec<T>,
    z: Vec<T>,
    za: PackedA<T>,
    vb: PackedB<T>,
}

/// A transform `$name` that runs `$body` compiled for AVX2 (`$avx2`) when
/// the CPU has it ([`crate::cpu::active`]), else compiled for the baseline
/// (SSE2 on x86-64). The transforms are element-wise adds, subtracts and
/// copies over arrays of tiles: the AVX2 build moves 8 floats per
/// instruction instead of 4 and computes the same operations in the same
/// order (Rust never fuses a multiply and an add), so both give the same
/// bits (tested). On Zen 1, which splits a ymm operation into two 128-bit
/// halves, it measured no faster (the previous session's try, and this
/// one's); it is for the CPUs with full-width AVX2 units, Intel's and Zen
/// 2 onwards, where the conv rows are furthest from PyTorch's.
macro_rules! transforms_for_isa {
    ($(#[$meta:meta])* $name:ident, $avx2:ident, $body:ident, ($($arg:ident: $ty:ty),*)) => {
        $(#[$meta])*
        fn $name<T: Element>(&self, $($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            if crate::cpu::active() >= crate::cpu::Isa::Avx2 {
                // SAFETY: the only requirement of a target_feature function
                // is that the CPU has the feature: active() is at most
                // detected(), which found AVX2. The body is safe code.
                return unsafe { self.$avx2($($arg),*) };
            }
            self.$body($($arg),*)
        }

        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx2")]
        fn $avx2<T: Element>(&self, $($arg: $ty),*) {
            self.$body($($arg),*)
        }
    };
}

/// Tiling of one convolution: input and output sizes, padding, tiles.
struct Geometry {
    h: usize,
    w: usize,
    ph: usize,
    pw: usize,
    ho: usize,
    wo: usize,
    /// tiles across and down (2x2 outputs each; the last may be partial)
    txn: usize,
    tyn: usize,
    tiles: usize,
}

impl Geometry {
    fn new((h, w): (usize, usize), (ph, pw): (usize, usize)) -> Self {
        let (ho, wo) = (h + 2 * ph - 2, w + 2 * pw - 2);
        let (tyn, txn) = (ho.div_ceil(2), wo.div_ceil(2));
        Geometry {
            h,
            w,
            ph,
            pw,
            ho,
            wo,
            txn,
            tyn,
            tiles: tyn * txn,
        }
    }

    transforms_for_isa!(
        /// [`Self::input_transform_body`] (its docs are there).
        input_transform, input_transform_avx2, input_transform_body,
        (xc: &[T], c: usize, v: VOut<'_, T>, rs: &mut RowScratch<T>)
    );
    transforms_for_isa!(
        /// [`Self::output_transform_body`] (its docs are there).
        output_transform, output_transform_avx2, output_transform_body,
        (m: &[T], f: usize, ns: usize, bias: Option<&[T]>, yc: &mut SeqFill<'_, T>, rs: &mut RowScratch<T>)
    );
    transforms_for_isa!(
        /// [`Self::grad_output_transform_body`] (its docs are there).
        grad_output_transform, grad_output_transform_avx2, grad_output_transform_body,
        (gyc: &[T], f: usize, z: &mut Vec<T>, rs: &mut RowScratch<T>)
    );

    /// `V = B^T d B` for every tile of every (sample, channel) of the
    /// chunk `xc` (`c` channels): `v` becomes 16 matrices `V_xi [c x
    /// tiles]` (see [`VOut`]), tile `t = sample * tiles + ty * txn + tx`.
    ///
    /// Vectorised over all tiles of a plane at once: the plane is copied
    /// into a zero-padded one; [`b_row`] computes `B` along each padded
    /// row for all its tiles (`H_q[y][tx]` from columns `2 tx .. 2 tx + 3`),
    /// stored as even and odd padded rows, so that `B^T` down the four rows
    /// `2ty .. 2ty+3` of every tile is element-wise over contiguous arrays
    /// (four [`bt_rows`] passes). Rows of padding are the same for every
    /// plane, so their `H` is zeroed once per call.
    ///
    /// `b_row` reads the padded row directly: before, the row was first
    /// split into four arrays `D_k[tx] = pad[y][2 tx + k]` that a second
    /// pass read back. Fusing the two cut the input side (this transform,
    /// `b_row` and `bt_rows`) from 0.36-0.37 to 0.26-0.27 of the
    /// micro-kernel's samples in the 1-thread training step (perf, Zen 1).
    #[inline(always)]
    fn input_transform_body<T: Element>(
        &self,
        xc: &[T],
        c: usize,
        mut v: VOut<'_, T>,
        rs: &mut RowScratch<T>,
    ) {
        let (h, w, txn, tyn) = (self.h, self.w, self.txn, self.tyn);
        let ns = xc.len() / (c * h * w);
        let tc = ns * self.tiles;
        let tiles = self.tiles;
        // one row parity of H_q: tyn + 1 rows of txn
        let half = (tyn + 1) * txn;
        // tiles of a plane
        let n = tyn * txn;
        match &mut v {
            VOut::Rows(v) => v.resize(16 * c * tc, T::ZERO),
            VOut::Packed(v) => {
                assert_eq!(v.len(), 16, "winograd: 16 packed V matrices");
                for vx in v.iter_mut() {
                    vx.reuse(c, tc);
                }
                rs.o.resize(4 * n, T::ZERO);
            }
        }
        // rows of padding stay zero: zeroed once per call
        rs.h.clear();
        rs.h.resize(8 * half, T::ZERO); // [q][row parity][y'][tx]

        // The padded plane, pad[y][x] for y < 2 tyn + 2, x < 2 txn + 2:
        // zero but for the image's rows and columns, which each plane
        // overwrites (w + 2 pw = wo + 2 <= 2 txn + 2, and so for h). The
        // whole plane is copied before any of it is read: a row read right
        // after its copy, at other offsets, stalled on store forwarding.
        let (pw, ph, plen) = (self.pw, self.ph, 2 * txn + 2);
        rs.p.clear();
        rs.p.resize((2 * tyn + 2) * plen, T::ZERO);
        for si in 0..ns {
            for ci in 0..c {
                let plane = &xc[(si * c + ci) * h * w..(si * c + ci + 1) * h * w];
                for (r, row) in plane.chunks_exact(w).enumerate() {
                    let at = (r + ph) * plen + pw;
                    rs.p[at..at + w].copy_from_slice(row);
                }
                // B along each image row, straight from the padded row
                // (H of the padding rows stays zero)
                for y in ph..ph + h {
                    let prow = &rs.p[y * plen..(y + 1) * plen];
                    let at = (y % 2) * half + (y / 2) * txn;
                    let [h0, h1, h2, h3] = four_mut(
                        &mut rs.h,
                        [at, at + 2 * half, at + 4 * half, at + 6 * half],
                        txn,
                    );
                    b_row_isa(prow, h0, h1, h2, h3);
                }
                // B^T down rows 2ty .. 2ty+3 = even[ty], odd[ty], even[ty+1], odd[ty+1]
                for q in 0..4 {
                    let hq = &rs.h[q * 2 * half..(q + 1) * 2 * half];
                    let (a0, a1) = (&hq[..n], &hq[half..half + n]);
                    let (a2, a3) = (&hq[txn..txn + n], &hq[half + txn..half + txn + n]);
                    match &mut v {
                        VOut::Rows(v) => {
                            let at = |rr: usize| ((rr * 4 + q) * c + ci) * tc + si * tiles;
                            let [v0, v1, v2, v3] = four_mut(v, [at(0), at(1), at(2), at(3)], n);
                            bt_rows_isa([a0, a1, a2, a3], v0, v1, v2, v3);
                        }
                        VOut::Packed(v) => {
                            // four rows in L1, then into their panels
                            let [o0, o1, o2, o3] = four_mut(&mut rs.o, [0, n, 2 * n, 3 * n], n);
                            bt_rows_isa([a0, a1, a2, a3], o0, o1, o2, o3);
                            for (rr, row) in rs.o.chunks_exact(n).enumerate() {
                                v[rr * 4 + q].write_row(ci, si * tiles, row);
                            }
                        }
                    }
                }
            }
        }
    }

    /// `Y = A^T M A` (+ bias) for every tile of `ns` samples, from
    /// `m = [16][f][tiles]`, put into `yc` in memory order (`[ns, f, ho,
    /// wo]`): element-wise over all tiles of a plane, then each output row
    /// interleaved from its tiles' even and odd columns.
    #[inline(always)]
    fn output_transform_body<T: Element>(
        &self,
        m: &[T],
        f: usize,
        ns: usize,
        bias: Option<&[T]>,
        yc: &mut SeqFill<'_, T>,
        rs: &mut RowScratch<T>,
    ) {
        let (ho, wo, txn) = (self.ho, self.wo, self.txn);
        let tiles = self.tiles;
        let tc = ns * tiles;
        assert!(
            m.len() >= 16 * f * tc,
            "winograd: M shorter than 16 f tiles"
        );
        rs.d.resize(12 * tiles, T::ZERO);
        for si in 0..ns {
            for fi in 0..f {
                let b = bias.map_or(T::ZERO, |b| b[fi]);
                let mrow = |xi: usize| &m[(xi * f + fi) * tc + si * tiles..][..tiles];
                // r[i][q] = (A^T M)[i][q] over all tiles; then y[i][0 | 1]
                let (r, y) = rs.d.split_at_mut(8 * tiles);
                for q in 0..4 {
                    let (m0, m1, m2, m3) = (mrow(q), mrow(4 + q), mrow(8 + q), mrow(12 + q));
                    let (r0, r1) = r[2 * q * tiles..(2 * q + 2) * tiles].split_at_mut(tiles);
                    for j in 0..tiles {
                        r0[j] = m0[j] + m1[j] + m2[j];
                        r1[j] = m1[j] - m2[j] - m3[j];
                    }
                }
                let rq = |q: usize, i: usize| &r[(2 * q + i) * tiles..(2 * q + i + 1) * tiles];
                for i in 0..2 {
                    let (c0, c1, c2, c3) = (rq(0, i), rq(1, i), rq(2, i), rq(3, i));
                    let (y0, y1) = y[2 * i * tiles..(2 * i + 2) * tiles].split_at_mut(tiles);
                    for j in 0..tiles {
                        y0[j] = c0[j] + c1[j] + c2[j] + b;
                        y1[j] = c1[j] - c2[j] - c3[j] + b;
                    }
                }
                for oy in 0..ho {
                    let (ty, i) = (oy / 2, oy % 2);
                    let base = 2 * i * tiles + ty * txn;
                    let (ev, od) = (&y[base..base + txn], &y[base + tiles..base + tiles + txn]);
                    // whole pairs, then a lone last column
                    yc.interleave(&ev[..wo / 2], &od[..wo / 2]);
                    if wo % 2 == 1 {
                        yc.put(&ev[wo / 2..wo / 2 + 1]);
                    }
                }
            }
        }
    }

    /// `Z = A dY A^T` for every tile from the chunk's output gradient `gyc`
    /// (`[samples, f, ho, wo]`; zero past the image): `z = [16][f][tiles]`,
    /// element-wise over all tiles of a plane.
    #[inline(always)]
    fn grad_output_transform_body<T: Element>(
        &self,
        gyc: &[T],
        f: usize,
        z: &mut Vec<T>,
        rs: &mut RowScratch<T>,
    ) {
        let (ho, wo, txn) = (self.ho, self.wo, self.txn);
        let ns = gyc.len() / (f * ho * wo);
        let tiles = self.tiles;
        let tc = ns * tiles;
        z.resize(16 * f * tc, T::ZERO);
        // zeroed once: the positions written below are the same for every
        // plane, so those past the image stay zero
        rs.d.clear();
        rs.d.resize(4 * tiles, T::ZERO);
        for si in 0..ns {
            for fi in 0..f {
                let gplane = &gyc[(si * f + fi) * ho * wo..(si * f + fi + 1) * ho * wo];
                // y00, y01, y10, y11 of every tile: [i * 2 + column][tile]
                for (oy, grow) in gplane.chunks_exact(wo).enumerate() {
                    let (ty, i) = (oy / 2, oy % 2);
                    let base = 2 * i * tiles + ty * txn;
                    let (ev, od) = rs.d[base..].split_at_mut(tiles);
                    // whole pairs branch-free, then a lone last column
                    deinterleave(ev, od, grow);
                    if wo % 2 == 1 {
                        ev[wo / 2] = grow[wo - 1];
                    }
                }
                let (y00, rest) = rs.d.split_at(tiles);
                let (y01, rest) = rest.split_at(tiles);
                let (y10, y11) = rest.split_at(tiles);
                let at = |xi: usize| (xi * f + fi) * tc + si * tiles;
                // A dY: 4 x 2 rows (p, q); then (A dY) A^T: [p, p + q, p - q, -q]
                for a in 0..4 {
                    let [z0, z1, z2, z3] = four_mut(
                        z,
                        [at(a * 4), at(a * 4 + 1), at(a * 4 + 2), at(a * 4 + 3)],
                        tiles,
                    );
                    for j in 0..tiles {
                        let (p, q) = match a {
                            0 => (y00[j], y01[j]),
                            1 => (y00[j] + y10[j], y01[j] + y11[j]),
                            2 => (y00[j] - y10[j], y01[j] - y11[j]),
                            _ => (-y10[j], -y11[j]),
                        };
                        z0[j] = p;
                        z1[j] = p + q;
                        z2[j] = p - q;
                        z3[j] = -q;
                    }
                }
            }
        }
    }
}

/// Row buffers of the transforms.
#[derive(Default)]
struct RowScratch<T> {
    d: Vec<T>,
    h: Vec<T>,
    /// One zero-padded input plane.
    p: Vec<T>,
    /// Four rows of V on their way into packed panels.
    o: Vec<T>,
}

/// Where the input transform writes its 16 matrices `V_xi [c x tiles]`.
enum VOut<'a, T> {
    /// `[16][c][tiles]`, row-major, one after another (the weight
    /// gradient packs them transposed).
    Rows(&'a mut Vec<T>),
    /// Straight into 16 packed GEMM B operands (the forward pass): a row
    /// of V goes from L1 into its panels, instead of through a row-major
    /// copy that a second pass over the whole chunk would then pack.
    Packed(&'a mut [PackedB<T>]),
}

/// A row kernel `$name` over the loop `$body`: `$name` itself (a
/// function of its own, so that its outputs arrive as separate `&mut`
/// arguments, which LLVM knows do not alias: inline, such loops needed
/// runtime overlap checks for 8 streams and stayed scalar), `$avx2`, the
/// same compiled for AVX2, and `$isa`, which calls `$avx2` on a CPU with
/// AVX2 (as the transforms that call it, chosen by [`crate::cpu::active`]
/// the same way) and `$name` otherwise.
macro_rules! row_kernel_for_isa {
    ($(#[$meta:meta])* $name:ident, $avx2:ident, $isa:ident, $body:ident, ($($arg:ident: $ty:ty),*)) => {
        $(#[$meta])*
        #[inline(never)]
        fn $name<T: Element>($($arg: $ty),*) {
            $body($($arg),*)
        }

        #[doc = concat!("[`", stringify!($name), "`] compiled for AVX2.")]
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx2")]
        #[inline(never)]
        fn $avx2<T: Element>($($arg: $ty),*) {
            $body($($arg),*)
        }

        #[doc = concat!("[`", stringify!($name), "`], or its AVX2 build on a CPU with AVX2.")]
        #[inline(always)]
        fn $isa<T: Element>($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            if crate::cpu::active() >= crate::cpu::Isa::Avx2 {
                // SAFETY: the only requirement of a target_feature function
                // is that the CPU has the feature: active() is at most
                // detected(), which found AVX2. The body is safe code.
                return unsafe { $avx2($($arg),*) };
            }
            $name($($arg),*)
        }
    };
}

row_kernel_for_isa!(
    /// `B^T x` for four rows `x` at once, element by element over the
    /// rows: `y0 = x0 - x2, y1 = x1 + x2, y2 = x2 - x1, y3 = x1 - x3` (the
    /// length is `y0`'s).
    bt_rows, bt_rows_avx2, bt_rows_isa, bt_rows_body,
    (x: [&[T]; 4], y0: &mut [T], y1: &mut [T], y2: &mut [T], y3: &mut [T])
);

/// The loop of [`bt_rows`].
#[inline(always)]
fn bt_rows_body<T: Element>(x: [&[T]; 4], y0: &mut [T], y1: &mut [T], y2: &mut [T], y3: &mut [T]) {
    let n = y0.len();
    let (x0, x1, x2, x3) = (&x[0][..n], &x[1][..n], &x[2][..n], &x[3][..n]);
    let (y1, y2, y3) = (&mut y1[..n], &mut y2[..n], &mut y3[..n]);
    for j in 0..n {
        y0[j] = x0[j] - x2[j];
        y1[j] = x1[j] + x2[j];
        y2[j] = x2[j] - x1[j];
        y3[j] = x1[j] - x3[j];
    }
}

row_kernel_for_isa!(
    /// `B` along one padded row `p` (at least `2 n + 2` long, `n =
    /// h0.len()` tiles): with `D_k[i] = p[2i + k]` (the four columns of
    /// tile `i`), `H_0 = D_0 - D_2, H_1 = D_1 + D_2, H_2 = D_2 - D_1, H_3 =
    /// D_1 - D_3`. As a function of its own the loop vectorises, the
    /// stride-2 reads becoming vector loads and shuffles.
    b_row, b_row_avx2, b_row_isa, b_row_body,
    (p: &[T], h0: &mut [T], h1: &mut [T], h2: &mut [T], h3: &mut [T])
);

/// The loop of [`b_row`].
#[inline(always)]
fn b_row_body<T: Element>(p: &[T], h0: &mut [T], h1: &mut [T], h2: &mut [T], h3: &mut [T]) {
    let n = h0.len();
    let (h1, h2, h3) = (&mut h1[..n], &mut h2[..n], &mut h3[..n]);
    let p = &p[..2 * n + 2];
    for i in 0..n {
        let (d0, d1, d2, d3) = (p[2 * i], p[2 * i + 1], p[2 * i + 2], p[2 * i + 3]);
        h0[i] = d0 - d2;
        h1[i] = d1 + d2;
        h2[i] = d2 - d1;
        h3[i] = d1 - d3;
    }
}

/// `e[i] = src[2i]`, `o[i] = src[2i + 1]` for the whole pairs of `src`
/// that fit (a lone last value is the caller's), branch-free.
///
/// In blocks of 8 pairs, then 4, then single pairs, each block a
/// fixed-size array so that it compiles to whole-vector shuffles: written
/// as one loop over pairs, LLVM vectorised only rows of 16 pairs or more
/// and the rows here are mostly 4 to 16 pairs long.
#[inline(always)]
fn deinterleave<T: Copy>(e: &mut [T], o: &mut [T], src: &[T]) {
    // inline: a function of its own would be compiled without the
    // caller's target features (AVX2); LLVM inlines it today, this
    // keeps it so
    #[inline(always)]
    fn blocks<T: Copy, const N: usize, const N2: usize>(
        e: &mut [T],
        o: &mut [T],
        src: &[T],
    ) -> usize {
        let mut done = 0;
        for ((e, o), s) in e
            .chunks_exact_mut(N)
            .zip(o.chunks_exact_mut(N))
            .zip(src.chunks_exact(N2))
        {
            let (e, o): (&mut [T; N], &mut [T; N]) = (e.try_into().unwrap(), o.try_into().unwrap());
            let s: &[T; N2] = s.try_into().unwrap();
            for i in 0..N {
                e[i] = s[2 * i];
                o[i] = s[2 * i + 1];
            }
            done += N;
        }
        done
    }
    let n = e.len().min(o.len()).min(src.len() / 2);
    let (e, o, src) = (&mut e[..n], &mut o[..n], &src[..2 * n]);
    let d8 = blocks::<T, 8, 16>(e, o, src);
    let d4 = d8 + blocks::<T, 4, 8>(&mut e[d8..], &mut o[d8..], &src[2 * d8..]);
    for ((e, o), pair) in e[d4..]
        .iter_mut()
        .zip(o[d4..].iter_mut())
        .zip(src[2 * d4..].chunks_exact(2))
    {
        *e = pair[0];
        *o = pair[1];
    }
}

/// Four disjoint `len`-long slices of `v` at increasing offsets `at`.
#[inline(always)]
fn four_mut<T>(v: &mut [T], at: [usize; 4], len: usize) -> [&mut [T]; 4] {
    let (s0, rest) = v[at[0]..].split_at_mut(at[1] - at[0]);
    let (s1, rest) = rest.split_at_mut(at[2] - at[1]);
    let (s2, s3) = rest.split_at_mut(at[3] - at[2]);
    [
        &mut s0[..len],
        &mut s1[..len],
        &mut s2[..len],
        &mut s3[..len],
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The AVX2 builds of the three transforms and of `bt_rows` give the
    /// same bits as the baseline builds (odd sizes, both paddings, several
    /// samples and channels, values with many significant bits).
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx2_transforms_are_bit_identical_to_the_baseline_build() {
        if !std::is_x86_feature_detected!("avx2") {
            eprintln!("no AVX2 here: the AVX2 transforms are not tested");
            return;
        }
        let vals = |len: usize, seed: u32| -> Vec<f32> {
            (0..len as u32)
                .map(|i| ((i.wrapping_mul(2_654_435_761) ^ seed) >> 7) as f32 * 1.37e-6 - 7.1)
                .collect()
        };
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        for (h, w, ph, pw) in [(7, 9, 1, 0), (8, 8, 1, 1), (5, 12, 2, 1), (11, 3, 0, 2)] {
            let geo = Geometry::new((h, w), (ph, pw));
            let (ns, c, f) = (2, 3, 5);
            let x = vals(ns * c * h * w, 1);
            let (mut v0, mut v1) = (Vec::new(), Vec::new());
            let (mut r0, mut r1) = (RowScratch::default(), RowScratch::default());
            geo.input_transform_body(&x, c, VOut::Rows(&mut v0), &mut r0);
            // SAFETY: AVX2 detected above
            unsafe { geo.input_transform_avx2(&x, c, VOut::Rows(&mut v1), &mut r1) };
            assert_eq!(bits(&v0), bits(&v1), "input {h}x{w} pad {ph},{pw}");

            let tc = ns * geo.tiles;
            // and straight into packed panels, from both builds: the
            // row-major result, packed
            let want: Vec<PackedB<f32>> = v0
                .chunks_exact(c * tc)
                .map(|vx| PackedB::pack(MatRef::row_major(vx, c, tc)))
                .collect();
            let mut p0 = vec![PackedB::zeros(c, tc); 16];
            let mut p1 = vec![PackedB::zeros(c + 1, tc); 16]; // reshaped by the transform
            geo.input_transform_body(&x, c, VOut::Packed(&mut p0), &mut r0);
            // SAFETY: as above
            unsafe { geo.input_transform_avx2(&x, c, VOut::Packed(&mut p1), &mut r1) };
            assert!(
                p0 == want && p1 == want,
                "packed input {h}x{w} pad {ph},{pw}"
            );
            let m = vals(16 * f * tc, 2);
            let bias = vals(f, 3);
            let len = ns * f * geo.ho * geo.wo;
            // one chunk of `len` values (par_new_seq checks that all are put)
            let y0 = crate::scratch::par_new_seq(len, len, |_, fill| {
                geo.output_transform_body(&m, f, ns, Some(&bias), fill, &mut RowScratch::default())
            });
            let y1 = crate::scratch::par_new_seq(len, len, |_, fill| {
                // SAFETY: as above
                unsafe {
                    geo.output_transform_avx2(
                        &m,
                        f,
                        ns,
                        Some(&bias),
                        fill,
                        &mut RowScratch::default(),
                    )
                }
            });
            assert_eq!(bits(&y0), bits(&y1), "output {h}x{w} pad {ph},{pw}");

            let gy = vals(len, 4);
            let (mut z0, mut z1) = (Vec::new(), Vec::new());
            geo.grad_output_transform_body(&gy, f, &mut z0, &mut r0);
            // SAFETY: as above
            unsafe { geo.grad_output_transform_avx2(&gy, f, &mut z1, &mut r1) };
            assert_eq!(bits(&z0), bits(&z1), "grad output {h}x{w} pad {ph},{pw}");
        }
        // bt_rows picks its build by cpu::active() inside both builds of
        // the transforms, so its two builds are compared directly
        let xs: Vec<Vec<f32>> = (0..4).map(|q| vals(37, 10 + q)).collect();
        let x = [&xs[0][..], &xs[1][..], &xs[2][..], &xs[3][..]];
        let mut y0 = vec![vec![0.0f32; 37]; 4];
        let mut y1 = y0.clone();
        let [a0, a1, a2, a3] = &mut y0[..] else {
            unreachable!()
        };
        bt_rows(x, a0, a1, a2, a3);
        let [b0, b1, b2, b3] = &mut y1[..] else {
            unreachable!()
        };
        // SAFETY: AVX2 detected above
        unsafe { bt_rows_avx2(x, b0, b1, b2, b3) };
        for (a, b) in y0.iter().zip(&y1) {
            assert_eq!(bits(a), bits(b), "bt_rows");
        }
        // and b_row's, over lengths that end in the vector loop's remainder
        for n in [1, 4, 8, 13, 16, 21] {
            let p = vals(2 * n + 2, 20 + n as u32);
            let mut y0 = vec![vec![0.0f32; n]; 4];
            let mut y1 = y0.clone();
            let [a0, a1, a2, a3] = &mut y0[..] else {
                unreachable!()
            };
            b_row(&p, a0, a1, a2, a3);
            let [b0, b1, b2, b3] = &mut y1[..] else {
                unreachable!()
            };
            // SAFETY: AVX2 detected above
            unsafe { b_row_avx2(&p, b0, b1, b2, b3) };
            for (a, b) in y0.iter().zip(&y1) {
                assert_eq!(bits(a), bits(b), "b_row {n}");
            }
            // the formula, against D_k[i] = p[2i + k]
            for i in 0..n {
                let d = |k: usize| p[2 * i + k];
                let want = [d(0) - d(2), d(1) + d(2), d(2) - d(1), d(1) - d(3)];
                for q in 0..4 {
                    assert_eq!(y0[q][i].to_bits(), want[q].to_bits(), "b_row {n} H{q}[{i}]");
                }
            }
        }
    }

    #[test]
    fn matches_direct_correlation_for_odd_sizes_paddings_and_chunks() {
        // odd output sizes (partial tiles), paddings 0..2, one tile per
        // image, and more tiles than one chunk
        for &(n, c, f, h, w, p) in &[
            (2, 3, 4, 5, 7, 1),
            (3, 2, 5, 4, 4, 0),
            (1, 4, 3, 6, 5, 2),
            (5, 2, 2, 1, 1, 1),
            (2, 3, 17, 20, 18, 1),
            (40, 2, 3, 3, 3, 1),
        ] {
            let x: Vec<f64> = (0..n * c * h * w)
                .map(|i| ((i * 7) % 13) as f64 - 6.0)
                .collect();
            let wt: Vec<f64> = (0..f * c * 9)
                .map(|i| ((i * 5) % 11) as f64 - 5.0)
                .collect();
            let bias: Vec<f64> = (0..f).map(|i| i as f64 - 1.5).collect();
            let (ho, wo) = (h + 2 * p - 2, w + 2 * p - 2);
            let gy: Vec<f64> = (0..n * f * ho * wo)
                .map(|i| ((i * 3) % 7) as f64 - 3.0)
                .collect();
            let g = Window::square(h, w, 3, 1, p, 1).unwrap();
            assert_eq!((g.ho, g.wo), (ho, wo));
            let (want_y, want_gx, want_gw) =
                super::super::direct_conv(&x, &wt, &bias, &gy, &g, n, c, f);
            let u = transform_weights(&wt, f, c, false);
            let y = forward(&x, &u, Some(&bias), n, c, (h, w), (p, p));
            // the input gradient: corr(gy, rot180(w)^T) with padding 2 - p
            let uf = transform_weights(&wt, f, c, true);
            let gx = forward(&gy, &uf, None, n, f, (ho, wo), (2 - p, 2 - p));
            let gw = weight_grad(&x, &gy, n, c, f, (h, w), (p, p));
            for (name, got, want) in [
                ("y", &y, &want_y),
                ("gx", &gx, &want_gx),
                ("gw", &gw, &want_gw),
            ] {
                assert_eq!(got.len(), want.len());
                for (i, (a, e)) in got.iter().zip(want.iter()).enumerate() {
                    assert!(
                        (a - e).abs() < 1e-9 * (1.0 + e.abs()),
                        "{name} {:?} at {i}: {a} vs {e}",
                        (n, c, f, h, w, p)
                    );
                }
            }
        }
    }
}
