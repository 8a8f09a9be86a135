//! Batch normalisation's loops on plain slices: the per-channel statistics,
//! the per-channel affine map, and the backward sums and input gradient,
//! for `x` laid out `[n, c, sp]` (`sp` the product of the spatial sizes).
//! `ops::batch_norm` checks shapes, keeps the running statistics and
//! records the op; the formulas are in its docs.
//!
//! Each channel's sums are accumulated in `T` along a row of `sp` values
//! (in 16 interleaved partial sums, combined pairwise: `lane_sum`) and
//! in f64 across rows, in a fixed order, so they do not depend on the
//! thread count (one rayon task per channel or per plane). New outputs are
//! written straight into their vectors (no zero fill first). The training
//! forward ([`normalize_train`]) and the backward ([`backward`]) each run
//! one task per channel that reads the channel's values two or three
//! times in a row, so the later reads come from cache where a channel fits
//! (PyTorch's CPU kernels are organised the same way).

use crate::Element;
use rayon::prelude::*;

/// Per channel, the mean and the biased variance over its `n sp` values:
/// `mu = mean(x)`, `var = mean((x - mu)^2)` (two passes).
///
/// Panics if `x` is not `n c sp` long.
///
/// ```
/// // two samples, one channel of two values: 1 2 | 3 4
/// let s = kernels::norm::channel_stats(&[1.0f32, 2.0, 3.0, 4.0], 2, 1, 2);
/// assert_eq!(s, [(2.5, 1.25)]);
/// ```
pub fn channel_stats<T: Element>(x: &[T], n: usize, c: usize, sp: usize) -> Vec<(f64, f64)> {
    assert_eq!(x.len(), n * c * sp, "batch_norm: input length");
    (0..c)
        .into_par_iter()
        .map(|ci| stats_of(x, n, c, sp, ci))
        .collect()
}

/// The values of plane `(ni, ci)` in a `[n, c, sp]` layout.
#[inline]
fn plane(c: usize, sp: usize, ni: usize, ci: usize) -> std::ops::Range<usize> {
    (ni * c + ci) * sp..(ni * c + ci + 1) * sp
}

/// Channel `ci`'s `(mean, biased variance)` (see [`channel_stats`]).
fn stats_of<T: Element>(x: &[T], n: usize, c: usize, sp: usize, ci: usize) -> (f64, f64) {
    let m = (n * sp) as f64;
    let row = |ni: usize| &x[plane(c, sp, ni, ci)];
    let s: f64 = (0..n).map(|ni| row_sum(row(ni)).to_f64()).sum();
    let mu = s / m;
    let mu_t = T::from_f64(mu);
    let ss: f64 = (0..n).map(|ni| row_sq_dev(row(ni), mu_t).to_f64()).sum();
    (mu, ss / m)
}

/// Training mode's forward in one task per channel: the channel's
/// statistics ([`channel_stats`]), then `y = x a + b` over its values with
/// `(a, b) = coef(ci, mean, var)`. Returns `y` and every channel's
/// `(mean, var)`. Reading a channel three times in a row (sum, squared
/// deviations, map) finds the last two reads in cache where a channel
/// fits, instead of three passes over the whole tensor; the values are
/// those of [`channel_stats`] followed by [`affine`].
///
/// Panics if `x` is not `n c sp` long.
///
/// ```
/// // two samples, one channel of two values: 1 2 | 3 4; a = 2, b = -mean
/// let (y, s) =
///     kernels::norm::normalize_train(&[1.0f32, 2.0, 3.0, 4.0], 2, 1, 2, |_, mu, _| (2.0, -mu as f32));
/// assert_eq!(s, [(2.5, 1.25)]);
/// assert_eq!(y, [-0.5, 1.5, 3.5, 5.5]);
/// ```
pub fn normalize_train<T: Element>(
    x: &[T],
    n: usize,
    c: usize,
    sp: usize,
    coef: impl Fn(usize, f64, f64) -> (T, T) + Sync + Send,
) -> (Vec<T>, Vec<(f64, f64)>) {
    assert_eq!(x.len(), n * c * sp, "batch_norm: input length");
    let (y, per) = crate::scratch::par_collect_channels(
        n,
        c,
        sp,
        |ci| {
            let (mu, var) = stats_of(x, n, c, sp, ci);
            (mu, var, coef(ci, mu, var))
        },
        |&(_, _, (a, b)), ci, ni| x[plane(c, sp, ni, ci)].iter().map(move |&xv| xv * a + b),
    );
    (y, per.into_iter().map(|(mu, var, _)| (mu, var)).collect())
}

/// `y = x a[ci] + b[ci]` for every value of channel `ci`.
///
/// Panics if `x` is not a whole number of `c` planes of `sp`, or `a` / `b`
/// are not `c` long.
///
/// ```
/// let y = kernels::norm::affine(&[1.0f32, 2.0, 3.0, 4.0], &[2.0, 10.0], &[0.0, 1.0], 2, 1);
/// assert_eq!(y, [2.0, 21.0, 6.0, 41.0]);
/// ```
pub fn affine<T: Element>(x: &[T], a: &[T], b: &[T], c: usize, sp: usize) -> Vec<T> {
    assert!(
        a.len() == c && b.len() == c && (sp == 0 || x.len().is_multiple_of(c.max(1) * sp)),
        "batch_norm: affine lengths"
    );
    if sp == 0 || x.is_empty() {
        return vec![T::ZERO; x.len()];
    }
    crate::scratch::par_collect_chunks(x.len(), sp, |pi| {
        let ci = pi % c;
        let (a, b) = (a[ci], b[ci]);
        x[pi * sp..(pi + 1) * sp].iter().map(move |&xv| xv * a + b)
    })
}

/// Per channel, `(sum g, sum g xhat)` with `xhat = (x - mean) invstd`:
/// the gradients of beta and gamma, and the two sums the input gradient
/// needs.
///
/// Panics if `x` or `g` is not `n c sp` long, or `mean` / `invstd` not `c`.
///
/// ```
/// let s = kernels::norm::backward_sums(&[1.0f32, 3.0], &[1.0, 1.0], &[2.0], &[1.0], 1, 1, 2);
/// assert_eq!(s, [(2.0, 0.0)]);
/// ```
pub fn backward_sums<T: Element>(
    x: &[T],
    g: &[T],
    mean: &[f64],
    invstd: &[f64],
    n: usize,
    c: usize,
    sp: usize,
) -> Vec<(f64, f64)> {
    check_backward(x, g, None, mean, invstd, n, c, sp);
    (0..c)
        .into_par_iter()
        .map(|ci| sums_of(x, g, mean, invstd, n, c, sp, ci))
        .collect()
}

/// Panics unless `x` and `g` are `n c sp` long and `gamma` (when given),
/// `mean` and `invstd` are `c` long.
#[allow(clippy::too_many_arguments)]
fn check_backward<T: Element>(
    x: &[T],
    g: &[T],
    gamma: Option<&[T]>,
    mean: &[f64],
    invstd: &[f64],
    n: usize,
    c: usize,
    sp: usize,
) {
    assert!(
        x.len() == n * c * sp
            && g.len() == x.len()
            && gamma.is_none_or(|gm| gm.len() == c)
            && mean.len() == c
            && invstd.len() == c,
        "batch_norm backward: lengths"
    );
}

/// Channel `ci`'s `(sum g, sum g xhat)` (see [`backward_sums`]).
#[allow(clippy::too_many_arguments)]
fn sums_of<T: Element>(
    x: &[T],
    g: &[T],
    mean: &[f64],
    invstd: &[f64],
    n: usize,
    c: usize,
    sp: usize,
    ci: usize,
) -> (f64, f64) {
    let mu_t = T::from_f64(mean[ci]);
    let (mut sg, mut sgxm) = (0.0, 0.0);
    for ni in 0..n {
        let r = plane(c, sp, ni, ci);
        let (a, b) = row_sums_dev(&g[r.clone()], &x[r], mu_t);
        sg += a.to_f64();
        sgxm += b.to_f64();
    }
    (sg, sgxm * invstd[ci])
}

/// The backward pass: every channel's `(sum g, sum g xhat)` (as
/// [`backward_sums`]: beta's and gamma's gradients) and, with
/// `need_input`, the input gradient, one task per channel (its sums, then
/// its gradient, while its values are in cache). Training (`m = n sp`):
/// `dx = gamma s / m (m g - sum g - xhat sum g xhat)`; eval: `dx = g gamma
/// s`, with `s` the channel's `invstd`.
///
/// Panics if the lengths disagree.
///
/// ```
/// // eval: dx = g * gamma * invstd
/// let (gx, sums) = kernels::norm::backward(&[5.0f32], &[1.0], &[2.0], &[0.0], &[0.5], false, true, 1, 1, 1);
/// assert_eq!(gx.unwrap(), [1.0]);
/// assert_eq!(sums, [(1.0, 2.5)]);
/// ```
#[allow(clippy::too_many_arguments)]
pub fn backward<T: Element>(
    x: &[T],
    g: &[T],
    gamma: &[T],
    mean: &[f64],
    invstd: &[f64],
    training: bool,
    need_input: bool,
    n: usize,
    c: usize,
    sp: usize,
) -> (Option<Vec<T>>, Vec<(f64, f64)>) {
    check_backward(x, g, Some(gamma), mean, invstd, n, c, sp);
    if !need_input {
        return (None, backward_sums(x, g, mean, invstd, n, c, sp));
    }
    let m = (n * sp) as f64;
    // per channel: its sums, then the constants of its input gradient
    // (training: dx = a g + b (x - mu) + cc; eval: dx = a g, a map of its
    // own, since 0 * (x - mu) would turn an infinite x into NaN)
    let (gx, per) = crate::scratch::par_collect_channels(
        n,
        c,
        sp,
        |ci| {
            let (sg, sgx) = sums_of(x, g, mean, invstd, n, c, sp, ci);
            let (mu, s, gam) = (mean[ci], invstd[ci], gamma[ci].to_f64());
            let k = if training {
                (
                    T::from_f64(gam * s),
                    T::from_f64(-gam * s * s * sgx / m),
                    T::from_f64(-gam * s * sg / m),
                    T::from_f64(mu),
                )
            } else {
                (T::from_f64(gam * s), T::ZERO, T::ZERO, T::ZERO)
            };
            ((sg, sgx), k)
        },
        |&(_, (a, b, cc, mu_t)), ci, ni| {
            let r = plane(c, sp, ni, ci);
            g[r.clone()].iter().zip(&x[r]).map(move |(&gv, &xv)| {
                if training {
                    a * gv + b * (xv - mu_t) + cc
                } else {
                    gv * a
                }
            })
        },
    );
    let sums = per.into_iter().map(|(sums, _)| sums).collect();
    (Some(gx), sums)
}

/// Interleaved partial sums per row: lane `l` takes the terms
/// `i = l mod LANES`, and the lanes are combined pairwise at the end (lanes
/// l and l + w for w = 8, 4, 2, 1). One running sum is a chain of
/// dependent adds, a few cycles each, that the compiler may not reorder;
/// independent lanes vectorise (channel statistics were 4% of the ConvNet
/// training step in perf, Zen 1). The order depends only on the length,
/// never on the thread count. For f32 on a CPU with AVX2 the rows run
/// in the [`avx2`] kernels: the same additions in the same order, so the
/// same bits. The compiler vectorised the generic loops two floats at a
/// time, or not at all (perf, Zen 4: the backward sums scalar, even when
/// built for AVX2); with the kernels `batchnorm_train_fwdbwd` (1 thread)
/// went from 17.5 to 14.4 ms.
const LANES: usize = 16;

/// `row` as f32 when it is f32 and the CPU has AVX2 (the [`avx2`] kernels
/// apply).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn simd_f32<T: Element>(row: &[T]) -> Option<&[f32]> {
    if crate::cpu::active() >= crate::cpu::Isa::Avx2 {
        crate::copy::as_f32(row)
    } else {
        None
    }
}

/// The lanes of `acc` (over a row's whole chunks) plus the row's
/// remainder terms `term(i)` for the `rest` values past them, combined.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn finish_f32<T: Element>(mut acc: [f32; LANES], rest: usize, term: impl Fn(usize) -> f32) -> T {
    for (l, a) in acc.iter_mut().enumerate().take(rest) {
        *a += term(l);
    }
    T::from_f64(combine_lanes(acc) as f64)
}

/// `sum_i row_i` in [`LANES`] interleaved partial sums.
#[inline(always)]
fn row_sum<T: Element>(row: &[T]) -> T {
    #[cfg(target_arch = "x86_64")]
    if let Some(r) = simd_f32(row) {
        let full = r.len() - r.len() % LANES;
        // SAFETY: simd_f32 found AVX2 (active() is at most detected()),
        // the kernel's only requirement.
        let acc = unsafe { avx2::sum(&r[..full]) };
        return finish_f32(acc, r.len() - full, |l| r[full + l]);
    }
    lane_sum(row, |v| v)
}

/// `sum_i (row_i - mu)^2` in [`LANES`] interleaved partial sums.
#[inline(always)]
fn row_sq_dev<T: Element>(row: &[T], mu: T) -> T {
    #[cfg(target_arch = "x86_64")]
    if let Some(r) = simd_f32(row) {
        let full = r.len() - r.len() % LANES;
        let mu = mu.to_f64() as f32;
        // SAFETY: as in row_sum.
        let acc = unsafe { avx2::sq_dev(&r[..full], mu) };
        return finish_f32(acc, r.len() - full, |l| {
            let d = r[full + l] - mu;
            d * d
        });
    }
    lane_sum(row, |v| (v - mu) * (v - mu))
}

/// `(sum_i g_i, sum_i g_i (x_i - mu))` over two rows of one length, each
/// in [`LANES`] interleaved partial sums.
#[inline(always)]
fn row_sums_dev<T: Element>(g: &[T], x: &[T], mu: T) -> (T, T) {
    assert_eq!(g.len(), x.len(), "batch_norm backward: row lengths");
    #[cfg(target_arch = "x86_64")]
    if let (Some(gr), Some(xr)) = (simd_f32(g), simd_f32(x)) {
        let full = gr.len() - gr.len() % LANES;
        let mu = mu.to_f64() as f32;
        // SAFETY: as in row_sum.
        let (sg, sgx) = unsafe { avx2::sums_dev(&gr[..full], &xr[..full], mu) };
        let rest = gr.len() - full;
        return (
            finish_f32(sg, rest, |l| gr[full + l]),
            finish_f32(sgx, rest, |l| gr[full + l] * (xr[full + l] - mu)),
        );
    }
    lane_sum2(g, x, |gv, xv| (gv, gv * (xv - mu)))
}

/// The row sums in AVX2 for f32: [`LANES`] = 16 lanes as two ymm (lanes
/// 0-7 and 8-15), each lane adding its terms in order with a separate
/// multiply and add (no FMA: the generic loops round twice), over whole
/// chunks of 16; the callers add the remainder and combine the lanes. The
/// lane sums are returned in lane order.
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    const _: () = assert!(super::LANES == 16);

    /// Lanes 0-7 (`lo`) and 8-15 (`hi`) in order.
    #[target_feature(enable = "avx2")]
    fn lanes(lo: __m256, hi: __m256) -> [f32; 16] {
        let mut out = [0f32; 16];
        // SAFETY: out holds 16 floats, 8 from index 0 and 8 from index 8.
        unsafe {
            _mm256_storeu_ps(out.as_mut_ptr(), lo);
            _mm256_storeu_ps(out.as_mut_ptr().add(8), hi);
        }
        out
    }

    /// A chunk's 16 floats as (lanes 0-7, lanes 8-15).
    #[target_feature(enable = "avx2")]
    fn load16(ch: &[f32]) -> (__m256, __m256) {
        assert!(ch.len() >= 16);
        // SAFETY: ch holds at least 16 floats (checked), 8 read from index
        // 0 and 8 from index 8.
        unsafe {
            (
                _mm256_loadu_ps(ch.as_ptr()),
                _mm256_loadu_ps(ch.as_ptr().add(8)),
            )
        }
    }

    /// Per lane, `sum a` over `a`'s whole chunks of 16.
    #[target_feature(enable = "avx2")]
    pub(super) fn sum(a: &[f32]) -> [f32; 16] {
        let (mut lo, mut hi) = (_mm256_setzero_ps(), _mm256_setzero_ps());
        for ch in a.chunks_exact(16) {
            let (u, v) = load16(ch);
            lo = _mm256_add_ps(lo, u);
            hi = _mm256_add_ps(hi, v);
        }
        lanes(lo, hi)
    }

    /// Per lane, `sum (a - mu)^2` over `a`'s whole chunks of 16.
    #[target_feature(enable = "avx2")]
    pub(super) fn sq_dev(a: &[f32], mu: f32) -> [f32; 16] {
        let m = _mm256_set1_ps(mu);
        let (mut lo, mut hi) = (_mm256_setzero_ps(), _mm256_setzero_ps());
        for ch in a.chunks_exact(16) {
            let (u, v) = load16(ch);
            let (du, dv) = (_mm256_sub_ps(u, m), _mm256_sub_ps(v, m));
            lo = _mm256_add_ps(lo, _mm256_mul_ps(du, du));
            hi = _mm256_add_ps(hi, _mm256_mul_ps(dv, dv));
        }
        lanes(lo, hi)
    }

    /// Per lane, `(sum g, sum g (x - mu))` over whole chunks of 16 of `g`
    /// and `x` (as many as the shorter has).
    #[target_feature(enable = "avx2")]
    pub(super) fn sums_dev(g: &[f32], x: &[f32], mu: f32) -> ([f32; 16], [f32; 16]) {
        let m = _mm256_set1_ps(mu);
        let (mut glo, mut ghi) = (_mm256_setzero_ps(), _mm256_setzero_ps());
        let (mut plo, mut phi) = (_mm256_setzero_ps(), _mm256_setzero_ps());
        for (cg, cx) in g.chunks_exact(16).zip(x.chunks_exact(16)) {
            let ((gu, gv), (xu, xv)) = (load16(cg), load16(cx));
            glo = _mm256_add_ps(glo, gu);
            ghi = _mm256_add_ps(ghi, gv);
            plo = _mm256_add_ps(plo, _mm256_mul_ps(gu, _mm256_sub_ps(xu, m)));
            phi = _mm256_add_ps(phi, _mm256_mul_ps(gv, _mm256_sub_ps(xv, m)));
        }
        (lanes(glo, ghi), lanes(plo, phi))
    }
}

/// `sum_i f(a_i)` in [`LANES`] interleaved partial sums.
#[inline]
fn lane_sum<T: Element>(a: &[T], f: impl Fn(T) -> T) -> T {
    let mut acc = [T::ZERO; LANES];
    let chunks = a.chunks_exact(LANES);
    let rest = chunks.remainder();
    for ch in chunks {
        for l in 0..LANES {
            acc[l] += f(ch[l]);
        }
    }
    for (l, &x) in rest.iter().enumerate() {
        acc[l] += f(x);
    }
    combine_lanes(acc)
}

/// `(sum_i f(a_i, b_i).0, sum_i f(a_i, b_i).1)` over two equal-length
/// slices, each sum in [`LANES`] interleaved partial sums (two separate
/// arrays: an array of pairs was vectorised two values at a time).
#[inline]
fn lane_sum2<T: Element>(a: &[T], b: &[T], f: impl Fn(T, T) -> (T, T)) -> (T, T) {
    debug_assert_eq!(a.len(), b.len());
    let (mut acc0, mut acc1) = ([T::ZERO; LANES], [T::ZERO; LANES]);
    let (ac, bc) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let (ar, br) = (ac.remainder(), bc.remainder());
    for (ca, cb) in ac.zip(bc) {
        for l in 0..LANES {
            let (u, v) = f(ca[l], cb[l]);
            acc0[l] += u;
            acc1[l] += v;
        }
    }
    for (l, (&x, &y)) in ar.iter().zip(br).enumerate() {
        let (u, v) = f(x, y);
        acc0[l] += u;
        acc1[l] += v;
    }
    (combine_lanes(acc0), combine_lanes(acc1))
}

/// Lanes l and l + w added for w = 8, 4, 2, 1: lane 0 ends with the sum.
#[inline(always)]
fn combine_lanes<T: Element>(mut acc: [T; LANES]) -> T {
    let mut w = LANES / 2;
    while w > 0 {
        for l in 0..w {
            acc[l] += acc[l + w];
        }
        w /= 2;
    }
    acc[0]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values with a spread of magnitudes and signs, deterministic.
    fn data(len: usize, seed: u32) -> Vec<f32> {
        (0..len as u32)
            .map(|i| {
                let h = i
                    .wrapping_mul(2_654_435_761)
                    .wrapping_add(seed.wrapping_mul(97));
                ((h >> 8) as f32 / (1u32 << 24) as f32 - 0.3) * 5.0
            })
            .collect()
    }

    /// The row sums give the bits of the generic lane loops (which they
    /// are, on a CPU without AVX2 or under LECTURE_GRAD_MAX_ISA=portable),
    /// on every remainder after the 16 lanes, with the AVX2 kernels
    /// asserted to run where the ISA allows them.
    #[test]
    fn row_sums_match_the_generic_lane_loops() {
        #[cfg(target_arch = "x86_64")]
        assert_eq!(
            simd_f32(&[1.0f32]).is_some(),
            crate::cpu::active() >= crate::cpu::Isa::Avx2,
            "the AVX2 row kernels run exactly when the ISA allows"
        );
        for len in 0..70 {
            let (x, g) = (data(len, 4), data(len, 5));
            let mu = 0.37f32;
            assert_eq!(
                row_sum(&x).to_bits(),
                lane_sum(&x, |v| v).to_bits(),
                "sum, {len}"
            );
            assert_eq!(
                row_sq_dev(&x, mu).to_bits(),
                lane_sum(&x, |v| (v - mu) * (v - mu)).to_bits(),
                "squared deviations, {len}"
            );
            let (a, b) = row_sums_dev(&g, &x, mu);
            let (a2, b2) = lane_sum2(&g, &x, |gv, xv| (gv, gv * (xv - mu)));
            assert_eq!(
                (a.to_bits(), b.to_bits()),
                (a2.to_bits(), b2.to_bits()),
                "backward sums, {len}"
            );
        }
        // f64 takes the generic loops
        let x: Vec<f64> = data(37, 6).iter().map(|&v| v as f64).collect();
        assert_eq!(row_sum(&x), lane_sum(&x, |v| v));
    }

    /// The fused per-channel kernels give the bits of the separate passes
    /// (statistics then affine map; sums then the input-gradient formula
    /// written as a plain loop), on sizes with a remainder after the 16
    /// lanes and channels of one plane.
    #[test]
    fn fused_channel_kernels_match_the_separate_passes() {
        for &(n, c, sp) in &[(3, 5, 37), (2, 1, 16), (4, 3, 1), (1, 2, 70)] {
            let x = data(n * c * sp, 1);
            let g = data(n * c * sp, 2);
            let coef = |ci: usize, mu: f64, var: f64| {
                let s = 1.0 / (var + 1e-5).sqrt();
                ((s * (1.0 + ci as f64)) as f32, (-mu * s) as f32)
            };
            let (y, st) = normalize_train(&x, n, c, sp, coef);
            let st2 = channel_stats(&x, n, c, sp);
            assert_eq!(st, st2);
            let (a, b): (Vec<f32>, Vec<f32>) = st2
                .iter()
                .enumerate()
                .map(|(ci, &(mu, var))| coef(ci, mu, var))
                .unzip();
            assert_eq!(y, affine(&x, &a, &b, c, sp));

            let gamma = data(c, 3);
            let mean: Vec<f64> = st.iter().map(|s| s.0).collect();
            let invstd: Vec<f64> = st.iter().map(|s| 1.0 / (s.1 + 1e-5).sqrt()).collect();
            for training in [true, false] {
                let (gx, sums) = backward(&x, &g, &gamma, &mean, &invstd, training, true, n, c, sp);
                assert_eq!(sums, backward_sums(&x, &g, &mean, &invstd, n, c, sp));
                let (none, sums2) =
                    backward(&x, &g, &gamma, &mean, &invstd, training, false, n, c, sp);
                assert!(none.is_none());
                assert_eq!(sums2, sums);
                let gx = gx.unwrap();
                let m = (n * sp) as f64;
                for (i, &v) in gx.iter().enumerate() {
                    let ci = i / sp % c;
                    let (s, gam) = (invstd[ci], gamma[ci] as f64);
                    let want = if training {
                        let (sg, sgx) = sums[ci];
                        let (ka, kb, kc) = (
                            (gam * s) as f32,
                            (-gam * s * s * sgx / m) as f32,
                            (-gam * s * sg / m) as f32,
                        );
                        ka * g[i] + kb * (x[i] - mean[ci] as f32) + kc
                    } else {
                        g[i] * (gam * s) as f32
                    };
                    assert_eq!(
                        v.to_bits(),
                        want.to_bits(),
                        "training {training}, value {i}"
                    );
                }
            }
        }
    }
}
