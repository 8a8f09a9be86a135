//! Winograd convolution (Lavin & Gray, "Fast Algorithms for Convolutional
//! Neural Networks", 2015) for 3x3 kernels with stride 1 and dilation 1,
//! with two tiles ([`Tile`]): F(2x2, 3x3), 16 multiplies per 2x2 output
//! tile instead of 36 (2.25x fewer GEMM flops than im2col), and F(4x4,
//! 3x3), 36 per 4x4 tile instead of 144 (4x fewer).
//!
//! For each `alpha x alpha` input tile `d` (`alpha = m + 2`, stride `m`) and
//! 3x3 kernel `g`, the `m x m` output tile is `Y = A^T [(G g G^T) ⊙ (B^T d
//! B)] A`. F2's matrices:
//!
//! ```text
//! B^T = [1  0 -1  0]    G = [ 1    0    0 ]    A^T = [1 1  1  0]
//!       [0  1  1  0]        [1/2  1/2  1/2]          [0 1 -1 -1]
//!       [0 -1  1  0]        [1/2 -1/2  1/2]
//!       [0  1  0 -1]        [ 0    0    1 ]
//! ```
//!
//! F4's, from the interpolation points 0, 1, -1, 1/2, -2 and infinity
//! (rows scaled by powers of 2 so that `B^T` and `A^T` are integers):
//!
//! ```text
//! B^T = [2 -3 -4  3  2  0]    G = [ 1/2    0     0  ]    A^T = [1  1  1  8  1  0]
//!       [0 -2  1  5  2  0]        [ 1/6   1/6   1/6 ]          [0  1 -1  4 -2  0]
//!       [0  2 -5  1  2  0]        [-1/6   1/6  -1/6 ]          [0  1  1  2  4  0]
//!       [0 -2 -1  2  1  0]        [-2/15 -1/15 -1/30]          [0  1 -1  1 -8  1]
//!       [0  1 -2 -1  2  0]        [ 1/30 -1/15  2/15]
//!       [0  2 -3 -4  3  2]        [  0     0    1/2 ]
//! ```
//!
//! The usual points 0, ±1, ±2 round about 3x worse (the largest error over
//! random tiles in f32, 1.6e-5 of the output's RMS against 5.6e-6; Barabasz
//! et al., "Error analysis and improving the accuracy of Winograd
//! convolution for deep neural networks", 2020, found these points).
//!
//! Summed over input channels, each of the `alpha^2` positions `xi` of the
//! transformed tile is one GEMM: `M_xi [F x tiles] = U_xi [F x C] V_xi [C x
//! tiles]`. The input gradient of such a convolution is the same kind of
//! convolution of the output gradient with the 180-degree-rotated,
//! channel-transposed kernel and padding `2 - p`, so it uses this path too;
//! the weight gradient sums `(A dY A^T) ⊙ V` over tiles as `alpha^2` GEMMs
//! ([`weight_grad`]).
//!
//! Rounding differs from im2col (see [`Tile`]); the result is the same
//! correlation PyTorch computes. Samples are cut into chunks by shape
//! alone, so results do not depend on the thread count.

use crate::copy::{copy_short, prefetch};
use crate::gemm::MatRef;
use crate::packed::{gemm_packed, PackedA, PackedB};
use crate::scratch::SeqFill;
use crate::Element;
use rayon::prelude::*;

use super::im2col::Window;

/// The plane `(sample, channel)` read after `(si, ci)` by the input
/// transforms, which take channel by channel, every sample of a channel
/// in turn: its index `sample * c + channel` in the chunk, `None` after
/// the last.
fn next_plane(si: usize, ci: usize, ns: usize, c: usize) -> Option<usize> {
    if si + 1 < ns {
        Some((si + 1) * c + ci)
    } else {
        (ci + 1 < c).then_some(ci + 1)
    }
}

/// Fewer input or output channels than this: im2col. The transforms cost
/// per channel what the GEMMs save per channel pair, so small channel
/// counts do not pay. Measured, forward + backward, batch 128, 32x32, 2
/// threads (Winograd vs im2col): 4->16 12 vs 9 ms; 8->8 11 vs 24 ms; 8->16
/// 13 vs 16 ms; 16->16 21-25 vs 41 ms; 32->32 58 vs 109 ms.
pub const MIN_CHANNELS: usize = 8;

/// Tiles per GEMM (columns of each `V_xi`): a chunk of samples has about
/// this many, or fewer so that its transformed input and output stay within
/// `CHUNK_BYTES` (2 MB: conv_64_128_16 and conv_128_256_8 forward 8-10%
/// faster than 256 tiles regardless of size; 4 MB was no better than that;
/// for F4, 4 and 8 MB measured within noise of 2 MB on every reference
/// layer, one thread, Zen 1).
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

/// The Winograd algorithm of a layer: F(m x m, 3 x 3), output tiles of
/// `m x m` from input tiles of `(m + 2) x (m + 2)`, one GEMM per position
/// of the transformed tile.
///
/// | tile | GEMMs per tile | multiplies per output (im2col: 9) | transforms |
/// |---|---|---|---|
/// | [`Tile::F2`] | 16 | 4 | adds and halvings (exact but for the halvings) |
/// | [`Tile::F4`] | 36 | 2.25 | multiples of 2, 3, 4, 5, 8 and of 1/2, 1/6, 1/15, 1/30 |
///
/// F4 does 44% fewer GEMM flops per output than F2, and its transformed
/// data is 2.25 values per output instead of 4, so the transforms and the
/// packing move fewer bytes; its transforms do more arithmetic per value.
/// Measured on Zen 1, one thread, forward + both gradients, batch 128, in
/// one run: 32 to 32 channels at 32x32 139 -> 121 ms, 64 to 64 at 16x16
/// 123 -> 98 ms, 64 to 128 at 8x8 67 -> 54 ms.
///
/// F4 rounds more. In f32, against an f64 reference, He-scaled weights and
/// unit inputs, 32 to 256 channels: F2's largest error is 1.1e-6 to
/// 3.3e-6 of the output's RMS (the packed GEMM's 0.8e-6 to 2.9e-6), F4's
/// 0.5e-5 to 2.1e-5, and the mean errors 1.4e-7 to 4.0e-7 against 5e-7
/// to 1.6e-6. `LECTURE_GRAD_WINOGRAD=f2` keeps a process on F2 (see
/// [`super::path`]). [`Tile::for_output`] picks by the tiles each needs to
/// cover the output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tile {
    /// F(2x2, 3x3): 4x4 input tiles, stride 2.
    F2,
    /// F(4x4, 3x3): 6x6 input tiles, stride 4 (the points 0, ±1, 1/2, -2,
    /// see the [module docs](self)).
    F4,
}

impl Tile {
    /// The tile's name, as `LECTURE_GRAD_WINOGRAD` spells it: `"f2"`,
    /// `"f4"`.
    ///
    /// ```
    /// use kernels::conv2d::Tile;
    /// assert_eq!(Tile::F4.name(), "f4");
    /// assert_eq!(Tile::from_name("F2"), Some(Tile::F2));
    /// ```
    pub const fn name(self) -> &'static str {
        match self {
            Tile::F2 => "f2",
            Tile::F4 => "f4",
        }
    }

    /// The tile [`Tile::name`] calls `name` (any case), if any.
    pub fn from_name(name: &str) -> Option<Tile> {
        [Tile::F2, Tile::F4]
            .into_iter()
            .find(|t| t.name().eq_ignore_ascii_case(name))
    }

    /// Outputs per tile side.
    pub const fn m(self) -> usize {
        match self {
            Tile::F2 => 2,
            Tile::F4 => 4,
        }
    }

    /// Inputs per tile side, `m + 2`.
    pub const fn alpha(self) -> usize {
        self.m() + 2
    }

    /// Transformed values per tile, and GEMMs: `alpha^2`.
    pub const fn mats(self) -> usize {
        self.alpha() * self.alpha()
    }

    /// The tile for an output of `ho x wo`: the one with fewer GEMM
    /// multiplies over the tiles covering it (partial tiles at the right
    /// and bottom edges count whole), F2 on a tie. F4 wherever both sides
    /// are 3, 4 or at least 7; F2 for outputs 1 or 2 wide, and for 5 or 6
    /// (a tie).
    pub fn for_output(ho: usize, wo: usize) -> Tile {
        let cost = |t: Tile| t.mats() * ho.div_ceil(t.m()) * wo.div_ceil(t.m());
        if cost(Tile::F4) < cost(Tile::F2) {
            Tile::F4
        } else {
            Tile::F2
        }
    }

    /// The tile of a set of transformed weights (16 or 36 matrices).
    fn of_mats(n: usize) -> Tile {
        match n {
            16 => Tile::F2,
            36 => Tile::F4,
            _ => panic!("winograd: {n} transformed weight matrices (16 or 36)"),
        }
    }
}

/// `U_xi = (G g G^T)[xi]` for every kernel of `w` (`[f, c, 3, 3]`), packed:
/// `tile.mats()` matrices `f x c` (16 for F2, 36 for F4). With `flip`, the
/// kernels of the input gradient: matrices `c x f` from `g'[c][f] =
/// rot180(w[f][c])`.
///
/// Written straight into the packed panels, the panels split across
/// threads (row-major matrices packed afterwards took 1.8% of
/// `conv_128_256_8` forward + backward on one thread, serially), and
/// 8 kernels at a time (`transform_lanes`), so that each matrix gets a
/// run of 8 values per store instead of one and the formulas vectorise
/// across kernels (F4, 128 to 256 channels, one thread, Zen 1: 6.1 ms one
/// kernel at a time, 1.5 ms so; F2 0.9 ms).
pub fn transform_weights<T: Element>(
    w: &[T],
    f: usize,
    c: usize,
    flip: bool,
    tile: Tile,
) -> Vec<PackedA<T>> {
    let (rows, cols) = if flip { (c, f) } else { (f, c) };
    assert_eq!(w.len(), f * c * 9, "winograd: weights are not [f, c, 3, 3]");
    let mut mats: Vec<PackedA<T>> = (0..tile.mats())
        .map(|_| PackedA::zeros(rows, cols))
        .collect();
    let mr = crate::packed::tile::<T>().mr;
    // panel ip of all the matrices together, one task each
    let mut panels: Vec<Vec<&mut [T]>> = (0..rows.div_ceil(mr))
        .map(|_| Vec::with_capacity(tile.mats()))
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
            let here = mr.min(rows - ip * mr);
            for p in 0..cols {
                for i0 in (0..here).step_by(LANES) {
                    let lanes = LANES.min(here - i0);
                    // g[e][l]: element e of kernel l (rotated with flip)
                    let mut g = [[T::ZERO; LANES]; 9];
                    for l in 0..lanes {
                        let r = ip * mr + i0 + l;
                        let (fi, ci) = if flip { (p, r) } else { (r, p) };
                        let k: &[T; 9] = w[(fi * c + ci) * 9..][..9].try_into().unwrap();
                        for (e, ge) in g.iter_mut().enumerate() {
                            // the 180-degree rotation reverses the nine
                            ge[l] = k[if flip { 8 - e } else { e }];
                        }
                    }
                    let u = transform_lanes(&g, tile);
                    // F2 fills the first 16 of the 36
                    let at = p * mr + i0;
                    if lanes == LANES {
                        for (o, ux) in out.iter_mut().zip(&u) {
                            let o: &mut [T; LANES] = (&mut o[at..at + LANES]).try_into().unwrap();
                            *o = *ux;
                        }
                    } else {
                        for (o, ux) in out.iter_mut().zip(&u) {
                            o[at..at + lanes].copy_from_slice(&ux[..lanes]);
                        }
                    }
                }
            }
        });
    mats
}

/// Kernels [`transform_weights`] transforms at a time.
const LANES: usize = 8;

/// `G g G^T` of [`LANES`] kernels at once, `g[e][l]` being element `e`
/// (row-major 3x3) of kernel `l`: `u[xi][l]`, row-major 4x4 (F2, in the
/// first 16) or 6x6 (F4). Each formula runs over the lanes as a loop of
/// its own, which vectorises.
#[inline(always)]
fn transform_lanes<T: Element>(g: &[[T; LANES]; 9], tile: Tile) -> [[T; LANES]; 36] {
    match tile {
        Tile::F2 => transform_lanes_by(g, 4, g4),
        Tile::F4 => transform_lanes_by(g, 6, g6),
    }
}

/// [`transform_lanes`] with `G v` given as `gf` (`a` rows of it used).
#[inline(always)]
fn transform_lanes_by<T: Element>(
    g: &[[T; LANES]; 9],
    a: usize,
    gf: impl Fn([T; 3]) -> [T; 6] + Copy,
) -> [[T; LANES]; 36] {
    // G v over the lanes, for three rows or columns v
    let gv = |v: [&[T; LANES]; 3]| -> [[T; LANES]; 6] {
        let mut o = [[T::ZERO; LANES]; 6];
        for l in 0..LANES {
            let r = gf([v[0][l], v[1][l], v[2][l]]);
            for (oq, rq) in o.iter_mut().zip(r) {
                oq[l] = rq;
            }
        }
        o
    };
    // G g: a x 3, column by column
    let mut gg = [[[T::ZERO; LANES]; 3]; 6];
    for b in 0..3 {
        for (row, v) in gg.iter_mut().zip(gv([&g[b], &g[3 + b], &g[6 + b]])) {
            row[b] = v;
        }
    }
    // (G g) G^T: a x a
    let mut u = [[T::ZERO; LANES]; 36];
    for (r, row) in gg.iter().enumerate().take(a) {
        let out = gv([&row[0], &row[1], &row[2]]);
        u[r * a..(r + 1) * a].copy_from_slice(&out[..a]);
    }
    u
}

/// `G v` for one column `v` of a 3x3 kernel, F2's `G` (4 x 3): `[v0,
/// (v0+v1+v2)/2, (v0-v1+v2)/2, v2]` (in the first 4 of 6).
#[inline(always)]
fn g4<T: Element>([v0, v1, v2]: [T; 3]) -> [T; 6] {
    let half = T::from_f64(0.5);
    [
        v0,
        (v0 + v1 + v2) * half,
        (v0 - v1 + v2) * half,
        v2,
        T::ZERO,
        T::ZERO,
    ]
}

/// `G v` for one column `v` of a 3x3 kernel, F4's `G` (6 x 3, see
/// [`Tile::F4`]): `[v0/2, (v0+v1+v2)/6, -(v0-v1+v2)/6,
/// -(4v0+2v1+v2)/30, (v0-2v1+4v2)/30, v2/2]`.
#[inline(always)]
fn g6<T: Element>([v0, v1, v2]: [T; 3]) -> [T; 6] {
    let (h, s, t) = (
        T::from_f64(0.5),
        T::from_f64(1.0 / 6.0),
        T::from_f64(1.0 / 30.0),
    );
    let (two, four) = (T::from_f64(2.0), T::from_f64(4.0));
    [
        v0 * h,
        (v0 + v1 + v2) * s,
        -((v0 - v1 + v2) * s),
        -((v0 * four + v1 * two + v2) * t),
        ((v0 + v2 * four) - v1 * two) * t,
        v2 * h,
    ]
}

/// `G^T u` for one 6-vector `u`, F4 (the weight gradient's last step):
/// `[u0/2 + (u1-u2)/6 + (u4-4u3)/30, (u1+u2)/6 - (u3+u4)/15,
/// (u1-u2)/6 + (4u4-u3)/30 + u5/2]`.
#[inline(always)]
fn gt6<T: Element>([u0, u1, u2, u3, u4, u5]: [T; 6]) -> [T; 3] {
    let (h, s, t, f) = (
        T::from_f64(0.5),
        T::from_f64(1.0 / 6.0),
        T::from_f64(1.0 / 30.0),
        T::from_f64(1.0 / 15.0),
    );
    let four = T::from_f64(4.0);
    let d12 = (u1 - u2) * s;
    [
        (u0 * h + d12) + (u4 - u3 * four) * t,
        (u1 + u2) * s - (u3 + u4) * f,
        (d12 + (u4 * four - u3) * t) + u5 * h,
    ]
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

/// Samples per chunk: `per`, or the most samples from `per` down to half
/// of it whose tiles fill whole GEMM panels of `nr` columns, where there is
/// such a count. The columns of a partial panel cost as much as a whole
/// one's: conv_128_256_8 with F(4x4,3x3) fits 9 samples (36 tiles) into
/// `CHUNK_BYTES`, which the AVX-512 tile (32 columns) computed as 64
/// columns (48 with its 16-column edge block), and 8 samples compute 32;
/// forward 1 thread, Zen 4: 24.7-25.5 -> 21.4 ms at AVX-512, 24.0-24.4 ->
/// 22.0-22.2 ms at AVX2 (16 columns, 48 -> 32). Each output column is the
/// same dot products whatever the chunk, so the bits do not change.
fn whole_panels(per: usize, tiles: usize, nr: usize) -> usize {
    // q tiles fill whole panels when q is a multiple of nr / gcd(tiles, nr)
    let gcd = |mut a: usize, mut b: usize| {
        while b != 0 {
            (a, b) = (b, a % b);
        }
        a
    };
    let nr = nr.max(1);
    let step = nr / gcd(tiles, nr);
    let q = per - per % step;
    if q > 0 && q >= per.div_ceil(2) {
        q
    } else {
        per
    }
}

/// How [`forward`] cuts a batch into chunks of samples (by shape alone
/// and the GEMM tile, so results do not depend on the thread count).
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
        let tile = Tile::of_mats(u.len());
        let f = u[0].rows();
        let geo = Geometry::new(tile, (h, w), (ph, pw));
        // V and M of a chunk (mats (c + f) tc floats) within CHUNK_BYTES
        let fit = CHUNK_BYTES / (tile.mats() * 4 * (c + f)).max(1);
        let per = (TILES_PER_CHUNK.min(fit) / geo.tiles).clamp(1, n.max(1));
        let per = whole_panels(per, geo.tiles, crate::packed::tile::<T>().nr);
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
        s.v.resize_with(geo.tile.mats(), PackedB::default);
        geo.input_transform(xc, c, VOut::Packed(&mut s.v), &mut s.rows);
        s.m.resize(geo.tile.mats() * f * tc, T::ZERO);
        for (xi, mx) in s.m.chunks_exact_mut(f * tc).enumerate() {
            gemm_packed(&u[xi], &s.v[xi], mx, tc, false);
        }
        geo.output_transform(&mut s.m, f, ns, bias, yc, &mut s.rows);
    }
}

/// Tiles per weight-gradient chunk (the k of its GEMMs); the chunks are
/// whole samples, at least 8 chunks when the batch allows, fixed by the
/// shape alone (they set the summation order). 256 measured 3-5% faster
/// than 512 or 2048 on the reference ConvNet's layers (its transformed data
/// stays in cache).
const GRAD_TILES: usize = 256;

/// The weight gradient's chunks' partial sums `dU` (`mats f c` values
/// each) may move at most 1/this of the bytes of its transformed data: a
/// wide layer on small images (128 to 256 channels at 8x8, F4: 4.7 MB of
/// `dU` per chunk of 64 tiles) takes fewer, longer chunks. Measured, that
/// layer's weight gradient, Zen 1: batch 32, 1 thread 27.1 -> 17.1 ms, 2
/// threads 15.8 -> 10.0 ms; batch 128, 63.6 -> 52.2 and 37.0 -> 30.3 ms;
/// 4 and 16 measured like 8, and the reference ConvNet's layers keep
/// their chunks.
const GRAD_SUM_SHARE: usize = 8;

/// `dL/dw` (`[f, c, 3, 3]`) of [`forward`] by `tile`, given the output
/// gradient `gy` (`[n, f, ho, wo]`). As `Y = A^T [U ⊙ V] A` is linear in
/// `U = G g G^T`: per tile `dL/dU += (A dY A^T) ⊙ V`, summed over tiles as
/// `tile.mats()` GEMMs `dU_xi [f x c] = Z_xi [f x tiles] V_xi^T`, then
/// `dw = G^T dU G`. Chunks of samples (fixed by the shape) are summed in
/// order: the result does not depend on the thread count.
#[allow(clippy::too_many_arguments)]
pub fn weight_grad<T: Element>(
    x: &[T],
    gy: &[T],
    n: usize,
    c: usize,
    f: usize,
    (h, w): (usize, usize),
    (ph, pw): (usize, usize),
    tile: Tile,
) -> Vec<T> {
    let geo = Geometry::new(tile, (h, w), (ph, pw));
    let (ho, wo) = (geo.ho, geo.wo);
    let mats = tile.mats();
    // chunks of samples: GRAD_TILES tiles each (at least 8 chunks), but
    // no more chunks than keep their partial sums (mats f c values each,
    // written and summed) within 1/GRAD_SUM_SHARE of the transformed data
    // (mats (c + f) values per tile)
    let most = (n * geo.tiles * (c + f) / (GRAD_SUM_SHARE * f * c)).max(2);
    let per = (GRAD_TILES / geo.tiles)
        .clamp(1, n.div_ceil(8).max(1))
        .max(n.div_ceil(most));
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
        let mut du = vec![T::ZERO; mats * f * c];
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
    // dw = G^T dU G for every (f, c), LANES of them at a time: du holds
    // matrix xi's (f, c) at xi f c + fc, so a lane is a run of fc
    let mut dw = vec![T::ZERO; f * c * 9];
    dw.par_chunks_mut(9 * LANES)
        .with_min_len(64)
        .enumerate()
        .for_each(|(blk, out)| {
            let (fc0, lanes) = (blk * LANES, out.len() / 9);
            let mut u = [[T::ZERO; LANES]; 36];
            for (xi, ux) in u.iter_mut().enumerate().take(mats) {
                ux[..lanes].copy_from_slice(&du[xi * f * c + fc0..][..lanes]);
            }
            let g = match tile {
                Tile::F2 => untransform_lanes(&u, 4, |v| gt4([v[0], v[1], v[2], v[3]])),
                Tile::F4 => untransform_lanes(&u, 6, gt6),
            };
            for (l, o) in out.chunks_exact_mut(9).enumerate() {
                for (e, oe) in o.iter_mut().enumerate() {
                    *oe = g[e][l];
                }
            }
        });
    dw
}

/// `G^T u G` of [`LANES`] transformed kernels at once, `u[xi][l]` being
/// element `xi` (row-major `a x a`) of kernel `l`: `g[e][l]`, row-major
/// 3x3, with `G^T v` given as `gt` (of the first `a` of 6). Columns first,
/// then rows.
#[inline(always)]
fn untransform_lanes<T: Element>(
    u: &[[T; LANES]; 36],
    a: usize,
    gt: impl Fn([T; 6]) -> [T; 3] + Copy,
) -> [[T; LANES]; 9] {
    // t[r][q] = (G^T u)[r][q]
    let mut t = [[[T::ZERO; LANES]; 6]; 3];
    for q in 0..a {
        for l in 0..LANES {
            let col = std::array::from_fn(|r| if r < a { u[r * a + q][l] } else { T::ZERO });
            for (tr, v) in t.iter_mut().zip(gt(col)) {
                tr[q][l] = v;
            }
        }
    }
    let mut g = [[T::ZERO; LANES]; 9];
    for (r, tr) in t.iter().enumerate() {
        for l in 0..LANES {
            let row = std::array::from_fn(|q| if q < a { tr[q][l] } else { T::ZERO });
            for (s, v) in gt(row).into_iter().enumerate() {
                g[r * 3 + s][l] = v;
            }
        }
    }
    g
}

/// `G^T u` for one 4-vector `u`, F2 (the weight gradient's last step):
/// `[u0 + (u1+u2)/2, (u1-u2)/2, (u1+u2)/2 + u3]`.
#[inline(always)]
fn gt4<T: Element>(u: [T; 4]) -> [T; 3] {
    let half = T::from_f64(0.5);
    [
        u[0] + (u[1] + u[2]) * half,
        (u[1] - u[2]) * half,
        (u[1] + u[2]) * half + u[3],
    ]
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
    tile: Tile,
    h: usize,
    w: usize,
    ph: usize,
    pw: usize,
    ho: usize,
    wo: usize,
    /// tiles across and down (m x m outputs each; the last may be partial)
    txn: usize,
    tyn: usize,
    tiles: usize,
}

impl Geometry {
    fn new(tile: Tile, (h, w): (usize, usize), (ph, pw): (usize, usize)) -> Self {
        let (ho, wo) = (h + 2 * ph - 2, w + 2 * pw - 2);
        let (tyn, txn) = (ho.div_ceil(tile.m()), wo.div_ceil(tile.m()));
        Geometry {
            tile,
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
        (m: &mut [T], f: usize, ns: usize, bias: Option<&[T]>, yc: &mut SeqFill<'_, T>, rs: &mut RowScratch<T>)
    );
    transforms_for_isa!(
        /// [`Self::grad_output_transform_body`] (its docs are there).
        grad_output_transform, grad_output_transform_avx2, grad_output_transform_body,
        (gyc: &[T], f: usize, z: &mut Vec<T>, rs: &mut RowScratch<T>)
    );

    /// The input transform of this geometry's tile.
    #[inline(always)]
    fn input_transform_body<T: Element>(
        &self,
        xc: &[T],
        c: usize,
        v: VOut<'_, T>,
        rs: &mut RowScratch<T>,
    ) {
        match self.tile {
            Tile::F2 => self.input_transform_f2(xc, c, v, rs),
            Tile::F4 => self.input_transform_f4(xc, c, v, rs),
        }
    }

    /// The output transform of this geometry's tile.
    #[inline(always)]
    fn output_transform_body<T: Element>(
        &self,
        m: &mut [T],
        f: usize,
        ns: usize,
        bias: Option<&[T]>,
        yc: &mut SeqFill<'_, T>,
        rs: &mut RowScratch<T>,
    ) {
        match self.tile {
            Tile::F2 => self.output_transform_f2(m, f, ns, bias, yc, rs),
            Tile::F4 => self.output_transform_f4(m, f, ns, bias, yc, rs),
        }
    }

    /// The output-gradient transform of this geometry's tile.
    #[inline(always)]
    fn grad_output_transform_body<T: Element>(
        &self,
        gyc: &[T],
        f: usize,
        z: &mut Vec<T>,
        rs: &mut RowScratch<T>,
    ) {
        match self.tile {
            Tile::F2 => self.grad_output_transform_f2(gyc, f, z, rs),
            Tile::F4 => self.grad_output_transform_f4(gyc, f, z, rs),
        }
    }

    /// F4's `V = B^T d B` for every 6x6 tile (stride 4) of every (sample,
    /// channel) of `xc`: 36 matrices `V_xi [c x tiles]`, laid out as F2's
    /// ([`Self::input_transform_f2`]).
    ///
    /// One channel at a time, all samples of the chunk together: [`b_row6`]
    /// computes `B` along each padded row for all its tiles, into the
    /// arrays `H_q[k][tile]` of the row's place `k` in the tiles it belongs
    /// to (rows `4ty .. 4ty + 5` make tile row `ty`, so rows `4ty` and
    /// `4ty + 1` are also rows 4 and 5 of tile row `ty - 1`: copied there).
    /// Then [`bt6_rows`] computes `B^T` down the six arrays of each `q`,
    /// for every tile of the chunk in one pass, and each of its six output
    /// rows is a whole row of one `V_xi`. (Plane by plane, an 8x8 image,
    /// 2 tiles a row, made a call for every 2 to 4 tiles.)
    #[inline(always)]
    fn input_transform_f4<T: Element>(
        &self,
        xc: &[T],
        c: usize,
        mut v: VOut<'_, T>,
        rs: &mut RowScratch<T>,
    ) {
        let (h, w, txn, tyn) = (self.h, self.w, self.txn, self.tyn);
        let ns = xc.len() / (c * h * w);
        let tiles = self.tiles;
        let tc = ns * tiles;
        match &mut v {
            VOut::Rows(v) => v.resize(36 * c * tc, T::ZERO),
            VOut::Packed(v) => {
                assert_eq!(v.len(), 36, "winograd: 36 packed V matrices");
                for vx in v.iter_mut() {
                    vx.reuse(c, tc);
                }
                rs.o.resize(6 * tc, T::ZERO);
            }
        }
        // H[q][k][tile], zeroed once per call: the places written are the
        // same for every channel, so those of padding rows stay zero
        rs.h.clear();
        rs.h.resize(36 * tc, T::ZERO);
        let hat = |q: usize, k: usize, t: usize| (6 * q + k) * tc + t;
        // the padded plane, as F2's: y < 4 tyn + 2, x < 4 txn + 2
        let (pw, ph, plen) = (self.pw, self.ph, 4 * txn + 2);
        rs.p.clear();
        rs.p.resize((4 * tyn + 2) * plen, T::ZERO);
        // plane `sample * c + channel` of the chunk
        let plane_at = |p: usize| &xc[p * h * w..(p + 1) * h * w];
        for ci in 0..c {
            for si in 0..ns {
                let plane = plane_at(si * c + ci);
                // the plane after this one, read while this one is
                // transformed (planes are C H W floats apart)
                let next = next_plane(si, ci, ns, c).map(plane_at);
                for (r, row) in plane.chunks_exact(w).enumerate() {
                    let at = (r + ph) * plen + pw;
                    copy_short(&mut rs.p[at..at + w], row);
                    if let Some(nx) = next {
                        prefetch(&nx[r * w..(r + 1) * w]);
                    }
                }
                for y in ph..ph + h {
                    // (tile row, place k) of row y: k = y mod 4 in tile
                    // row y / 4, and k = 4 or 5 in the tile row above
                    let first = (y / 4 < tyn).then_some((y / 4, y % 4));
                    let second = (y % 4 < 2 && y >= 4).then(|| (y / 4 - 1, y % 4 + 4));
                    let Some((ty, k)) = first.or(second) else {
                        continue;
                    };
                    let t0 = si * tiles + ty * txn;
                    let [h0, h1, h2, h3, h4, h5] =
                        disjoint_mut(&mut rs.h, std::array::from_fn(|q| hat(q, k, t0)), txn);
                    b_row6_isa(&rs.p[y * plen..(y + 1) * plen], h0, h1, h2, h3, h4, h5);
                    if let (Some(_), Some((ty2, k2))) = (first, second) {
                        let t2 = si * tiles + ty2 * txn;
                        for q in 0..6 {
                            // rows k2 = k + 4 come after rows k
                            let (from, to) = (hat(q, k, t0), hat(q, k2, t2));
                            let (head, tail) = rs.h.split_at_mut(to);
                            copy_short(&mut tail[..txn], &head[from..from + txn]);
                        }
                    }
                }
            }
            for q in 0..6 {
                let rows: [&[T]; 6] = std::array::from_fn(|k| &rs.h[hat(q, k, 0)..][..tc]);
                match &mut v {
                    VOut::Rows(v) => {
                        let at = |rr: usize| ((rr * 6 + q) * c + ci) * tc;
                        let [v0, v1, v2, v3, v4, v5] = disjoint_mut(v, std::array::from_fn(at), tc);
                        bt6_rows_isa(rows, v0, v1, v2, v3, v4, v5);
                    }
                    VOut::Packed(v) => {
                        // six rows in L1, then into their panels
                        let [o0, o1, o2, o3, o4, o5] =
                            disjoint_mut(&mut rs.o, std::array::from_fn(|k| k * tc), tc);
                        bt6_rows_isa(rows, o0, o1, o2, o3, o4, o5);
                        for (rr, row) in rs.o.chunks_exact(tc).enumerate() {
                            v[rr * 6 + q].write_row(ci, 0, row);
                        }
                    }
                }
            }
        }
    }

    /// F4's `Y = A^T M A` (+ bias) for every tile of `ns` samples, from
    /// `m = [36][f][tiles]`, put into `yc` in memory order.
    ///
    /// One output channel at a time, all samples of the chunk together:
    /// [`at6_rows`] down, then across, over every tile of the chunk at
    /// once, each channel's 16 arrays `Y[i][j]` written over its first 16
    /// of `m` (read already). Then, sample by sample and channel by
    /// channel, each output row is interleaved from its tiles' four
    /// columns ([`interleave4`]). (Plane by plane, an 8x8 output, 4
    /// tiles, made a call for every 4 tiles.)
    #[inline(always)]
    fn output_transform_f4<T: Element>(
        &self,
        m: &mut [T],
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
            m.len() >= 36 * f * tc,
            "winograd: M shorter than 36 f tiles"
        );
        let at = |xi: usize, fi: usize| (xi * f + fi) * tc;
        // r[i][q] = (A^T M)[i][q] (24 arrays)
        rs.d.resize(24 * tc, T::ZERO);
        rs.o.resize(4 * txn, T::ZERO);
        for fi in 0..f {
            for q in 0..6 {
                let [r0, r1, r2, r3] =
                    disjoint_mut(&mut rs.d, [q, 6 + q, 12 + q, 18 + q].map(|k| k * tc), tc);
                let mq = std::array::from_fn(|a| &m[at(a * 6 + q, fi)..][..tc]);
                at6_rows_isa(mq, r0, r1, r2, r3);
            }
            for i in 0..4 {
                let [y0, y1, y2, y3] =
                    disjoint_mut(m, std::array::from_fn(|j| at(4 * i + j, fi)), tc);
                let ri = std::array::from_fn(|q| &rs.d[(6 * i + q) * tc..][..tc]);
                at6_rows_isa(ri, y0, y1, y2, y3);
            }
        }
        for si in 0..ns {
            for fi in 0..f {
                let b = bias.map_or(T::ZERO, |b| b[fi]);
                for oy in 0..ho {
                    let (ty, i) = (oy / 4, oy % 4);
                    let t0 = si * tiles + ty * txn;
                    let cols = std::array::from_fn(|j| &m[at(4 * i + j, fi) + t0..][..txn]);
                    interleave4_isa(cols, &mut rs.o, b);
                    yc.put_row(&rs.o[..wo]);
                }
            }
        }
    }

    /// F4's `Z = A dY A^T` for every tile from the chunk's output gradient
    /// `gyc` (`[samples, f, ho, wo]`; zero past the image): `z =
    /// [36][f][tiles]`. One output channel at a time, all samples of the
    /// chunk together (as [`Self::input_transform_f4`]): each output row
    /// is split into its tiles' four columns ([`deinterleave4`]); then
    /// [`a6_rows`] down and across, over every tile of the chunk at once.
    #[inline(always)]
    fn grad_output_transform_f4<T: Element>(
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
        z.resize(36 * f * tc, T::ZERO);
        // dY[i][j][tile] (16 arrays), zeroed once: the places written
        // below are the same for every channel, so those past the image
        // stay zero; then P = A dY, [a][j][tile] (24 arrays)
        rs.d.clear();
        rs.d.resize(40 * tc, T::ZERO);
        let (full, rest) = (wo / 4, wo % 4);
        for fi in 0..f {
            let (d, p) = rs.d.split_at_mut(16 * tc);
            for si in 0..ns {
                let gplane = &gyc[(si * f + fi) * ho * wo..(si * f + fi + 1) * ho * wo];
                for (oy, grow) in gplane.chunks_exact(wo).enumerate() {
                    let (ty, i) = (oy / 4, oy % 4);
                    let base = 4 * i * tc + si * tiles + ty * txn;
                    let mut e = disjoint_mut(d, std::array::from_fn(|j| base + j * tc), txn);
                    let [e0, e1, e2, e3] = &mut e;
                    deinterleave4_isa(grow, e0, e1, e2, e3);
                    // a last, partial quad
                    for (j, ej) in e.iter_mut().enumerate().take(rest) {
                        ej[full] = grow[4 * full + j];
                    }
                }
            }
            let d = &*d;
            for j in 0..4 {
                let [p0, p1, p2, p3, p4, p5] =
                    disjoint_mut(p, std::array::from_fn(|a| (4 * a + j) * tc), tc);
                let dj = std::array::from_fn(|i| &d[(4 * i + j) * tc..][..tc]);
                a6_rows_isa(dj, p0, p1, p2, p3, p4, p5);
            }
            let p = &*p;
            for a in 0..6 {
                let [z0, z1, z2, z3, z4, z5] =
                    disjoint_mut(z, std::array::from_fn(|b| ((6 * a + b) * f + fi) * tc), tc);
                let pa = std::array::from_fn(|j| &p[(4 * a + j) * tc..][..tc]);
                a6_rows_isa(pa, z0, z1, z2, z3, z4, z5);
            }
        }
    }

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
    fn input_transform_f2<T: Element>(
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
                    copy_short(&mut rs.p[at..at + w], row);
                }
                // B along each image row, straight from the padded row
                // (H of the padding rows stays zero)
                for y in ph..ph + h {
                    let prow = &rs.p[y * plen..(y + 1) * plen];
                    let at = (y % 2) * half + (y / 2) * txn;
                    let [h0, h1, h2, h3] = disjoint_mut(
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
                            let [v0, v1, v2, v3] = disjoint_mut(v, [at(0), at(1), at(2), at(3)], n);
                            bt_rows_isa([a0, a1, a2, a3], v0, v1, v2, v3);
                        }
                        VOut::Packed(v) => {
                            // four rows in L1, then into their panels
                            let [o0, o1, o2, o3] = disjoint_mut(&mut rs.o, [0, n, 2 * n, 3 * n], n);
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
    fn output_transform_f2<T: Element>(
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
    fn grad_output_transform_f2<T: Element>(
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
                    let [z0, z1, z2, z3] = disjoint_mut(
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

/// F4's `B^T d` for one 6-vector `d` (see [`Tile::F4`]): `[2(d0 + d4) -
/// 3(d1 - d3) - 4d2, 2(d4 - d1) + d2 + 5d3, 2(d4 + d1) - 5d2 + d3, 2(d3 -
/// d1) + (d4 - d2), 2(d4 - d2) + (d1 - d3), 2(d1 + d5) - 3(d2 - d4) -
/// 4d3]`.
#[inline(always)]
fn bt6<T: Element>([d0, d1, d2, d3, d4, d5]: [T; 6]) -> [T; 6] {
    let (two, three, four, five) = (
        T::from_f64(2.0),
        T::from_f64(3.0),
        T::from_f64(4.0),
        T::from_f64(5.0),
    );
    let (d13, d42) = (d1 - d3, d4 - d2);
    [
        ((d0 + d4) * two - d13 * three) - d2 * four,
        ((d4 - d1) * two + d2) + d3 * five,
        ((d4 + d1) * two - d2 * five) + d3,
        (d3 - d1) * two + d42,
        d42 * two + d13,
        ((d1 + d5) * two - (d2 - d4) * three) - d3 * four,
    ]
}

/// F4's `A^T m` for one 6-vector `m` (see [`Tile::F4`]): `[m0 + m1 + m2 +
/// 8m3 + m4, (m1 - m2) + 4m3 - 2m4, (m1 + m2) + 2m3 + 4m4, (m1 - m2) + m3 -
/// 8m4 + m5]`.
#[inline(always)]
fn at6<T: Element>([m0, m1, m2, m3, m4, m5]: [T; 6]) -> [T; 4] {
    let (two, four, eight) = (T::from_f64(2.0), T::from_f64(4.0), T::from_f64(8.0));
    let (s12, d12) = (m1 + m2, m1 - m2);
    [
        (m0 + s12) + (m3 * eight + m4),
        d12 + (m3 * four - m4 * two),
        s12 + (m3 * two + m4 * four),
        (d12 + (m3 - m4 * eight)) + m5,
    ]
}

/// F4's `A v` for one 4-vector `v` (`A`, 6 x 4, is `A^T` transposed):
/// `[v0, (v0 + v2) + (v1 + v3), (v0 + v2) - (v1 + v3), 8v0 + 4v1 + 2v2 +
/// v3, v0 - 2v1 + 4v2 - 8v3, v3]`.
#[inline(always)]
fn a6<T: Element>([v0, v1, v2, v3]: [T; 4]) -> [T; 6] {
    let (two, four, eight) = (T::from_f64(2.0), T::from_f64(4.0), T::from_f64(8.0));
    let (s02, s13) = (v0 + v2, v1 + v3);
    [
        v0,
        s02 + s13,
        s02 - s13,
        (v0 * eight + v2 * two) + (v1 * four + v3),
        (v0 + v2 * four) - (v1 * two + v3 * eight),
        v3,
    ]
}

row_kernel_for_isa!(
    /// F4's `B` along one padded row `p` (at least `4 n + 2` long, `n =
    /// h0.len()` tiles): `H_q[i] = bt6(p[4i .. 4i + 6])[q]`.
    b_row6, b_row6_avx2, b_row6_generic_isa, b_row6_body,
    (p: &[T], h0: &mut [T], h1: &mut [T], h2: &mut [T], h3: &mut [T], h4: &mut [T], h5: &mut [T])
);

/// [`b_row6`] with the best build for `T` and this CPU: for f32 on a CPU
/// with AVX2, [`b_row6_f32::avx2`] (register transposes, 8 or 4 tiles per
/// step); otherwise [`b_row6_generic_isa`]. The same bits either way.
#[inline(always)]
fn b_row6_isa<T: Element>(
    p: &[T],
    h0: &mut [T],
    h1: &mut [T],
    h2: &mut [T],
    h3: &mut [T],
    h4: &mut [T],
    h5: &mut [T],
) {
    #[cfg(target_arch = "x86_64")]
    if crate::cpu::active() >= crate::cpu::Isa::Avx2 {
        if let (Some(p), Some(h0), Some(h1), Some(h2), Some(h3), Some(h4), Some(h5)) = (
            crate::copy::as_f32(p),
            crate::copy::as_f32_mut(&mut *h0),
            crate::copy::as_f32_mut(&mut *h1),
            crate::copy::as_f32_mut(&mut *h2),
            crate::copy::as_f32_mut(&mut *h3),
            crate::copy::as_f32_mut(&mut *h4),
            crate::copy::as_f32_mut(&mut *h5),
        ) {
            // SAFETY: active() is at most detected(), which found AVX2.
            unsafe { b_row6_f32::avx2(p, [h0, h1, h2, h3, h4, h5]) };
            return;
        }
    }
    b_row6_generic_isa(p, h0, h1, h2, h3, h4, h5)
}

/// [`b_row6`] for f32 with AVX2 register transposes.
#[cfg(target_arch = "x86_64")]
mod b_row6_f32 {
    use super::bt6;
    use std::arch::x86_64::*;

    /// F4's `B^T d` on vectors of tiles, the operations of [`bt6`] in its
    /// order (no fused multiply-adds), so each lane has `bt6`'s bits.
    macro_rules! bt6_lanes {
        ($add:ident, $sub:ident, $mul:ident, $splat:ident, [$d0:ident, $d1:ident, $d2:ident, $d3:ident, $d4:ident, $d5:ident]) => {{
            let (two, three, four, five) = ($splat(2.0), $splat(3.0), $splat(4.0), $splat(5.0));
            let (d13, d42) = ($sub($d1, $d3), $sub($d4, $d2));
            [
                $sub(
                    $sub($mul($add($d0, $d4), two), $mul(d13, three)),
                    $mul($d2, four),
                ),
                $add($add($mul($sub($d4, $d1), two), $d2), $mul($d3, five)),
                $add($sub($mul($add($d4, $d1), two), $mul($d2, five)), $d3),
                $add($mul($sub($d3, $d1), two), d42),
                $add($mul(d42, two), d13),
                $sub(
                    $sub($mul($add($d1, $d5), two), $mul($sub($d2, $d4), three)),
                    $mul($d3, four),
                ),
            ]
        }};
    }

    /// `H_q[i] = bt6(p[4i .. 4i + 6])[q]` for `i < n = h[0].len()`: 8
    /// tiles a step (four ymm loads cover their 32 values; a transpose in
    /// 128-bit lanes and one permute give `d_0 .. d_3` across the tiles in
    /// order, and `d_4`, `d_5` are `d_0`, `d_1` moved down one tile with the
    /// next tile's first values), then 4 a step with xmm, then one at a
    /// time. The scalar loop of [`super::b_row6`] made 6 loads, 16
    /// arithmetic operations and 6 stores per tile; here a step of 8 tiles
    /// is about 50 instructions.
    ///
    /// Panics if `p` is shorter than `4 n + 2` or an `h` is shorter than
    /// `n`.
    ///
    /// # Safety
    /// The CPU must have AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn avx2(p: &[f32], mut h: [&mut [f32]; 6]) {
        let n = h[0].len();
        assert!(
            h.iter().all(|hq| hq.len() >= n),
            "b_row6: an output is shorter than the first"
        );
        // (no intrinsics in closures here: a closure does not inherit the
        // target features, so the intrinsics in it stayed calls)
        let need = n.checked_mul(4).and_then(|v| v.checked_add(2));
        let p = &p[..need.expect("b_row6: 4 n + 2 overflows usize")];
        let mut i = 0;
        while i + 8 <= n {
            // SAFETY: i + 8 <= n, so p[4i .. 4i + 34] is inside p (length
            // 4n + 2): the four loads read p[4i .. 4i + 32], the two scalars
            // p[4i + 32] and p[4i + 33]; the stores write h_q[i .. i + 8],
            // inside each h_q (at least n long, asserted above).
            unsafe {
                let at = p.as_ptr().add(4 * i);
                // a_k: tile 2k in the low lane, tile 2k + 1 in the high
                let a0 = _mm256_loadu_ps(at);
                let a1 = _mm256_loadu_ps(at.add(8));
                let a2 = _mm256_loadu_ps(at.add(16));
                let a3 = _mm256_loadu_ps(at.add(24));
                let t0 = _mm256_unpacklo_ps(a0, a1);
                let t1 = _mm256_unpackhi_ps(a0, a1);
                let t2 = _mm256_unpacklo_ps(a2, a3);
                let t3 = _mm256_unpackhi_ps(a2, a3);
                // tiles in the order 0 2 4 6 | 1 3 5 7, then in order
                let order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
                let d0 = _mm256_permutevar8x32_ps(_mm256_shuffle_ps::<0x44>(t0, t2), order);
                let d1 = _mm256_permutevar8x32_ps(_mm256_shuffle_ps::<0xEE>(t0, t2), order);
                let d2 = _mm256_permutevar8x32_ps(_mm256_shuffle_ps::<0x44>(t1, t3), order);
                let d3 = _mm256_permutevar8x32_ps(_mm256_shuffle_ps::<0xEE>(t1, t3), order);
                let down = _mm256_setr_epi32(1, 2, 3, 4, 5, 6, 7, 0);
                let d4 = _mm256_blend_ps::<0x80>(
                    _mm256_permutevar8x32_ps(d0, down),
                    _mm256_set1_ps(*at.add(32)),
                );
                let d5 = _mm256_blend_ps::<0x80>(
                    _mm256_permutevar8x32_ps(d1, down),
                    _mm256_set1_ps(*at.add(33)),
                );
                let y = bt6_lanes!(
                    _mm256_add_ps,
                    _mm256_sub_ps,
                    _mm256_mul_ps,
                    _mm256_set1_ps,
                    [d0, d1, d2, d3, d4, d5]
                );
                for (hq, yq) in h.iter_mut().zip(y) {
                    _mm256_storeu_ps(hq.as_mut_ptr().add(i), yq);
                }
            }
            i += 8;
        }
        while i + 4 <= n {
            // SAFETY: i + 4 <= n: the loads read p[4i .. 4i + 18] (inside
            // 4n + 2), the stores write h_q[i .. i + 4].
            unsafe {
                let at = p.as_ptr().add(4 * i);
                let r0 = _mm_loadu_ps(at);
                let r1 = _mm_loadu_ps(at.add(4));
                let r2 = _mm_loadu_ps(at.add(8));
                let r3 = _mm_loadu_ps(at.add(12));
                let t0 = _mm_unpacklo_ps(r0, r1);
                let t1 = _mm_unpackhi_ps(r0, r1);
                let t2 = _mm_unpacklo_ps(r2, r3);
                let t3 = _mm_unpackhi_ps(r2, r3);
                let d0 = _mm_movelh_ps(t0, t2);
                let d1 = _mm_movehl_ps(t2, t0);
                let d2 = _mm_movelh_ps(t1, t3);
                let d3 = _mm_movehl_ps(t3, t1);
                // [next, d0[1], d0[2], d0[3]] rotated to [d0[1..4], next]
                let d4 = _mm_move_ss(d0, _mm_set_ss(*at.add(16)));
                let d4 = _mm_shuffle_ps::<0x39>(d4, d4);
                let d5 = _mm_move_ss(d1, _mm_set_ss(*at.add(17)));
                let d5 = _mm_shuffle_ps::<0x39>(d5, d5);
                let y = bt6_lanes!(
                    _mm_add_ps,
                    _mm_sub_ps,
                    _mm_mul_ps,
                    _mm_set1_ps,
                    [d0, d1, d2, d3, d4, d5]
                );
                for (hq, yq) in h.iter_mut().zip(y) {
                    _mm_storeu_ps(hq.as_mut_ptr().add(i), yq);
                }
            }
            i += 4;
        }
        for i in i..n {
            let d: [f32; 6] = p[4 * i..4 * i + 6].try_into().unwrap();
            for (hq, yq) in h.iter_mut().zip(bt6(d)) {
                hq[i] = yq;
            }
        }
    }
}

/// The loop of [`b_row6`].
#[inline(always)]
fn b_row6_body<T: Element>(
    p: &[T],
    h0: &mut [T],
    h1: &mut [T],
    h2: &mut [T],
    h3: &mut [T],
    h4: &mut [T],
    h5: &mut [T],
) {
    let n = h0.len();
    let (h1, h2, h3, h4, h5) = (
        &mut h1[..n],
        &mut h2[..n],
        &mut h3[..n],
        &mut h4[..n],
        &mut h5[..n],
    );
    let p = &p[..4 * n + 2];
    for i in 0..n {
        let d: [T; 6] = p[4 * i..4 * i + 6].try_into().unwrap();
        let [a, b, c, d, e, f] = bt6(d);
        h0[i] = a;
        h1[i] = b;
        h2[i] = c;
        h3[i] = d;
        h4[i] = e;
        h5[i] = f;
    }
}

row_kernel_for_isa!(
    /// F4's `B^T` down six rows `x` at once, element by element (the
    /// length is `y0`'s): `y_q[j] = bt6(x[..][j])[q]`.
    bt6_rows, bt6_rows_avx2, bt6_rows_isa, bt6_rows_body,
    (x: [&[T]; 6], y0: &mut [T], y1: &mut [T], y2: &mut [T], y3: &mut [T], y4: &mut [T], y5: &mut [T])
);

/// The loop of [`bt6_rows`].
#[inline(always)]
fn bt6_rows_body<T: Element>(
    x: [&[T]; 6],
    y0: &mut [T],
    y1: &mut [T],
    y2: &mut [T],
    y3: &mut [T],
    y4: &mut [T],
    y5: &mut [T],
) {
    rows_to_six(x, bt6, [y0, y1, y2, y3, y4, y5]);
}

/// `y_q[j] = f(x[..][j])[q]` over the rows `x`, element by element (the
/// length is `y[0]`'s): the loop of [`bt6_rows`] and [`a6_rows`], whose
/// outputs arrive as separate `&mut` arguments of their own functions (so
/// LLVM knows they do not alias) and are only passed on here.
#[inline(always)]
fn rows_to_six<T: Element, const K: usize>(
    x: [&[T]; K],
    f: impl Fn([T; K]) -> [T; 6],
    [y0, y1, y2, y3, y4, y5]: [&mut [T]; 6],
) {
    let n = y0.len();
    let x = x.map(|r| &r[..n]);
    let (y1, y2, y3, y4, y5) = (
        &mut y1[..n],
        &mut y2[..n],
        &mut y3[..n],
        &mut y4[..n],
        &mut y5[..n],
    );
    for j in 0..n {
        let [a, b, c, d, e, g] = f(std::array::from_fn(|k| x[k][j]));
        y0[j] = a;
        y1[j] = b;
        y2[j] = c;
        y3[j] = d;
        y4[j] = e;
        y5[j] = g;
    }
}

row_kernel_for_isa!(
    /// F4's `A^T` over six rows `x` at once, element by element (the
    /// length is `y0`'s): `y_i[j] = at6(x[..][j])[i]`.
    at6_rows, at6_rows_avx2, at6_rows_isa, at6_rows_body,
    (x: [&[T]; 6], y0: &mut [T], y1: &mut [T], y2: &mut [T], y3: &mut [T])
);

/// The loop of [`at6_rows`].
#[inline(always)]
fn at6_rows_body<T: Element>(x: [&[T]; 6], y0: &mut [T], y1: &mut [T], y2: &mut [T], y3: &mut [T]) {
    let n = y0.len();
    let x = x.map(|r| &r[..n]);
    let (y1, y2, y3) = (&mut y1[..n], &mut y2[..n], &mut y3[..n]);
    for j in 0..n {
        let [a, b, c, d] = at6([x[0][j], x[1][j], x[2][j], x[3][j], x[4][j], x[5][j]]);
        y0[j] = a;
        y1[j] = b;
        y2[j] = c;
        y3[j] = d;
    }
}

row_kernel_for_isa!(
    /// F4's `A` over four rows `x` at once, element by element (the
    /// length is `y0`'s): `y_a[j] = a6(x[..][j])[a]`.
    a6_rows, a6_rows_avx2, a6_rows_isa, a6_rows_body,
    (x: [&[T]; 4], y0: &mut [T], y1: &mut [T], y2: &mut [T], y3: &mut [T], y4: &mut [T], y5: &mut [T])
);

/// The loop of [`a6_rows`].
#[inline(always)]
fn a6_rows_body<T: Element>(
    x: [&[T]; 4],
    y0: &mut [T],
    y1: &mut [T],
    y2: &mut [T],
    y3: &mut [T],
    y4: &mut [T],
    y5: &mut [T],
) {
    rows_to_six(x, a6, [y0, y1, y2, y3, y4, y5]);
}

row_kernel_for_isa!(
    /// One output row from its tiles' four columns, plus the bias:
    /// `out[4i + j] = x[j][i] + b` for `i < x[0].len()` (`out` at least 4
    /// times that long).
    interleave4, interleave4_avx2, interleave4_isa, interleave4_body,
    (x: [&[T]; 4], out: &mut [T], b: T)
);

/// The loop of [`interleave4`].
#[inline(always)]
fn interleave4_body<T: Element>(x: [&[T]; 4], out: &mut [T], b: T) {
    let n = x[0].len();
    let x = x.map(|r| &r[..n]);
    for (i, o) in out[..4 * n].chunks_exact_mut(4).enumerate() {
        o[0] = x[0][i] + b;
        o[1] = x[1][i] + b;
        o[2] = x[2][i] + b;
        o[3] = x[3][i] + b;
    }
}

row_kernel_for_isa!(
    /// The whole quads of `src` split by position: `e_j[i] = src[4i +
    /// j]` for `i < min(e0.len(), src.len() / 4)` (a last, partial quad is
    /// the caller's).
    deinterleave4, deinterleave4_avx2, deinterleave4_isa, deinterleave4_body,
    (src: &[T], e0: &mut [T], e1: &mut [T], e2: &mut [T], e3: &mut [T])
);

/// The loop of [`deinterleave4`].
#[inline(always)]
fn deinterleave4_body<T: Element>(
    src: &[T],
    e0: &mut [T],
    e1: &mut [T],
    e2: &mut [T],
    e3: &mut [T],
) {
    let n = e0.len().min(src.len() / 4);
    let (e0, e1, e2, e3) = (&mut e0[..n], &mut e1[..n], &mut e2[..n], &mut e3[..n]);
    for (i, q) in src[..4 * n].chunks_exact(4).enumerate() {
        e0[i] = q[0];
        e1[i] = q[1];
        e2[i] = q[2];
        e3[i] = q[3];
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

/// `N` disjoint `len`-long slices of `v` at offsets `at`, each at least
/// `len` past the one before.
#[inline(always)]
fn disjoint_mut<T, const N: usize>(v: &mut [T], at: [usize; N], len: usize) -> [&mut [T]; N] {
    let mut out: [&mut [T]; N] = std::array::from_fn(|_| Default::default());
    let (mut rest, mut pos) = (v, 0);
    for (o, &a) in out.iter_mut().zip(&at) {
        let (s, r) = std::mem::take(&mut rest)[a - pos..].split_at_mut(len);
        *o = s;
        rest = r;
        pos = a + len;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_fill_whole_gemm_panels_where_half_the_samples_allow() {
        // conv_128_256_8 with F4: 4 tiles a sample, 9 samples fit
        assert_eq!(whole_panels(9, 4, 32), 8);
        assert_eq!(whole_panels(9, 4, 16), 8);
        // already whole, or whole only below half: unchanged
        assert_eq!(whole_panels(4, 16, 32), 4);
        assert_eq!(whole_panels(5, 49, 32), 5);
        assert_eq!(whole_panels(1, 4, 32), 1);
        // 3 samples of 12 tiles: 36 -> 2 samples (24) is not whole either
        assert_eq!(whole_panels(3, 12, 16), 3);
        assert_eq!(whole_panels(3, 16, 32), 2);
        // no overflow on absurd sizes
        assert_eq!(whole_panels(usize::MAX / 2, 4, 32), usize::MAX / 2 - 7);
    }

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
        for (tile, (h, w, ph, pw)) in [Tile::F2, Tile::F4].into_iter().flat_map(|t| {
            [
                (7, 9, 1, 0),
                (8, 8, 1, 1),
                (5, 12, 2, 1),
                (11, 3, 0, 2),
                (13, 14, 1, 1),
            ]
            .map(|g| (t, g))
        }) {
            let mats = tile.mats();
            let geo = Geometry::new(tile, (h, w), (ph, pw));
            let (ns, c, f) = (2, 3, 5);
            let x = vals(ns * c * h * w, 1);
            let (mut v0, mut v1) = (Vec::new(), Vec::new());
            let (mut r0, mut r1) = (RowScratch::default(), RowScratch::default());
            geo.input_transform_body(&x, c, VOut::Rows(&mut v0), &mut r0);
            // SAFETY: AVX2 detected above
            unsafe { geo.input_transform_avx2(&x, c, VOut::Rows(&mut v1), &mut r1) };
            assert_eq!(bits(&v0), bits(&v1), "{tile:?} input {h}x{w} pad {ph},{pw}");

            let tc = ns * geo.tiles;
            // and straight into packed panels, from both builds: the
            // row-major result, packed
            let want: Vec<PackedB<f32>> = v0
                .chunks_exact(c * tc)
                .map(|vx| PackedB::pack(MatRef::row_major(vx, c, tc)))
                .collect();
            let mut p0 = vec![PackedB::zeros(c, tc); mats];
            let mut p1 = vec![PackedB::zeros(c + 1, tc); mats]; // reshaped by the transform
            geo.input_transform_body(&x, c, VOut::Packed(&mut p0), &mut r0);
            // SAFETY: as above
            unsafe { geo.input_transform_avx2(&x, c, VOut::Packed(&mut p1), &mut r1) };
            assert!(
                p0 == want && p1 == want,
                "{tile:?} packed input {h}x{w} pad {ph},{pw}"
            );
            let m = vals(mats * f * tc, 2);
            let bias = vals(f, 3);
            let len = ns * f * geo.ho * geo.wo;
            // one chunk of `len` values (par_new_seq checks that all are put)
            let y0 = crate::scratch::par_new_seq(len, len, |_, fill| {
                // F4 works in M, so each build gets a copy
                let mut m = m.clone();
                geo.output_transform_body(
                    &mut m,
                    f,
                    ns,
                    Some(&bias),
                    fill,
                    &mut RowScratch::default(),
                )
            });
            let y1 = crate::scratch::par_new_seq(len, len, |_, fill| {
                // SAFETY: as above
                unsafe {
                    geo.output_transform_avx2(
                        &mut m.clone(),
                        f,
                        ns,
                        Some(&bias),
                        fill,
                        &mut RowScratch::default(),
                    )
                }
            });
            assert_eq!(
                bits(&y0),
                bits(&y1),
                "{tile:?} output {h}x{w} pad {ph},{pw}"
            );

            let gy = vals(len, 4);
            let (mut z0, mut z1) = (Vec::new(), Vec::new());
            geo.grad_output_transform_body(&gy, f, &mut z0, &mut r0);
            // SAFETY: as above
            unsafe { geo.grad_output_transform_avx2(&gy, f, &mut z1, &mut r1) };
            assert_eq!(
                bits(&z0),
                bits(&z1),
                "{tile:?} grad output {h}x{w} pad {ph},{pw}"
            );
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
        // F4's row kernels: both builds, and the formulas they loop over
        for n in [1, 2, 3, 4, 5, 7, 8, 11, 12, 16, 23] {
            let p = vals(4 * n + 2, 40 + n as u32);
            let rows: Vec<Vec<f32>> = (0..6).map(|q| vals(n, 50 + q)).collect();
            let x6: [&[f32]; 6] = std::array::from_fn(|q| &rows[q][..]);
            let x4: [&[f32]; 4] = std::array::from_fn(|q| &rows[q][..]);
            // every build of one row kernel, each into fresh outputs,
            // against the formula it loops over, output by output
            type Build<'a> = &'a dyn Fn(&mut [Vec<f32>]);
            let check =
                |name: &str, builds: &[Build], outs: usize, want: &dyn Fn(usize) -> [f32; 6]| {
                    for (bi, run) in builds.iter().enumerate() {
                        let mut o = vec![vec![0.0f32; n]; 6];
                        run(&mut o);
                        for (q, oq) in o.iter().enumerate().take(outs) {
                            for (j, v) in oq.iter().enumerate() {
                                assert_eq!(
                                    v.to_bits(),
                                    want(j)[q].to_bits(),
                                    "{name} build {bi}, n {n}: output {q} at {j}"
                                );
                            }
                        }
                    }
                };
            fn six(o: &mut [Vec<f32>]) -> [&mut [f32]; 6] {
                let [a, b, c, d, e, f] = o else {
                    unreachable!()
                };
                [a, b, c, d, e, f].map(|v| &mut v[..])
            }
            check(
                "b_row6",
                &[
                    &|o| {
                        let [a, b, c, d, e, f] = six(o);
                        b_row6(&p, a, b, c, d, e, f)
                    },
                    // SAFETY: AVX2 detected above
                    &|o| {
                        let [a, b, c, d, e, f] = six(o);
                        unsafe { b_row6_avx2(&p, a, b, c, d, e, f) }
                    },
                    // SAFETY: AVX2 detected above
                    &|o| {
                        let [a, b, c, d, e, f] = six(o);
                        unsafe { b_row6_f32::avx2(&p, [a, b, c, d, e, f]) }
                    },
                ],
                6,
                &|i| bt6(std::array::from_fn(|k| p[4 * i + k])),
            );
            check(
                "bt6_rows",
                &[
                    &|o| {
                        let [a, b, c, d, e, f] = six(o);
                        bt6_rows(x6, a, b, c, d, e, f)
                    },
                    // SAFETY: AVX2 detected above
                    &|o| {
                        let [a, b, c, d, e, f] = six(o);
                        unsafe { bt6_rows_avx2(x6, a, b, c, d, e, f) }
                    },
                ],
                6,
                &|j| bt6(x6.map(|r| r[j])),
            );
            check(
                "a6_rows",
                &[
                    &|o| {
                        let [a, b, c, d, e, f] = six(o);
                        a6_rows(x4, a, b, c, d, e, f)
                    },
                    // SAFETY: AVX2 detected above
                    &|o| {
                        let [a, b, c, d, e, f] = six(o);
                        unsafe { a6_rows_avx2(x4, a, b, c, d, e, f) }
                    },
                ],
                6,
                &|j| a6(x4.map(|r| r[j])),
            );
            let at6_want = |j: usize| {
                let [y0, y1, y2, y3] = at6(x6.map(|r| r[j]));
                [y0, y1, y2, y3, 0.0, 0.0]
            };
            check(
                "at6_rows",
                &[
                    &|o| {
                        let [a, b, c, d, ..] = six(o);
                        at6_rows(x6, a, b, c, d)
                    },
                    // SAFETY: AVX2 detected above
                    &|o| {
                        let [a, b, c, d, ..] = six(o);
                        unsafe { at6_rows_avx2(x6, a, b, c, d) }
                    },
                ],
                4,
                &at6_want,
            );
            // interleave4 and deinterleave4 undo each other (a bias of 0.5
            // added on the way, exact for these values)
            let mut row = [vec![0.0f32; 4 * n], vec![0.0f32; 4 * n]];
            interleave4(x4, &mut row[0], 0.5);
            // SAFETY: AVX2 detected above
            unsafe { interleave4_avx2(x4, &mut row[1], 0.5) };
            assert_eq!(bits(&row[0]), bits(&row[1]), "interleave4 {n}");
            for build in 0..2 {
                let mut e = vec![vec![0.0f32; n]; 4];
                let [a, b, c, d] = &mut e[..] else {
                    unreachable!()
                };
                if build == 0 {
                    deinterleave4(&row[0], a, b, c, d);
                } else {
                    // SAFETY: AVX2 detected above
                    unsafe { deinterleave4_avx2(&row[0], a, b, c, d) };
                }
                for (j, ej) in e.iter().enumerate() {
                    for (i, v) in ej.iter().enumerate() {
                        assert_eq!(*v, row[0][4 * i + j], "deinterleave4 {n}");
                        assert_eq!(*v, x4[j][i] + 0.5, "interleave4 {n}");
                    }
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
            for tile in [Tile::F2, Tile::F4] {
                let u = transform_weights(&wt, f, c, false, tile);
                let y = forward(&x, &u, Some(&bias), n, c, (h, w), (p, p));
                // the input gradient: corr(gy, rot180(w)^T) with padding 2 - p
                let uf = transform_weights(&wt, f, c, true, tile);
                let gx = forward(&gy, &uf, None, n, f, (ho, wo), (2 - p, 2 - p));
                let gw = weight_grad(&x, &gy, n, c, f, (h, w), (p, p), tile);
                for (name, got, want) in [
                    ("y", &y, &want_y),
                    ("gx", &gx, &want_gx),
                    ("gw", &gw, &want_gw),
                ] {
                    assert_eq!(got.len(), want.len());
                    for (i, (a, e)) in got.iter().zip(want.iter()).enumerate() {
                        assert!(
                            (a - e).abs() < 1e-9 * (1.0 + e.abs()),
                            "{tile:?} {name} {:?} at {i}: {a} vs {e}",
                            (n, c, f, h, w, p)
                        );
                    }
                }
            }
        }
    }
}
