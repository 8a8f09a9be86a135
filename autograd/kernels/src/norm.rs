//! Batch normalisation's loops on plain slices: the per-channel statistics,
//! the per-channel affine map, and the backward sums and input gradient,
//! for `x` laid out `[n, c, sp]` (`sp` the product of the spatial sizes).
//! `ops::batch_norm` checks shapes, keeps the running statistics and
//! records the op; the formulas are in its docs.
//!
//! Each channel's sums are accumulated in `T` along a row of `sp` values
//! (in 16 interleaved partial sums, combined pairwise: `lane_sums`) and
//! in f64 across rows, in a fixed order, so they do not depend on the
//! thread count (one rayon task per channel or per plane). New outputs are
//! written straight into their vectors (no zero fill first).

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
    let m = (n * sp) as f64;
    (0..c)
        .into_par_iter()
        .map(|ci| {
            let row = |ni: usize| &x[(ni * c + ci) * sp..(ni * c + ci + 1) * sp];
            let s: f64 = (0..n)
                .map(|ni| lane_sums(row(ni), row(ni), |v, _| v).0.to_f64())
                .sum();
            let mu = s / m;
            let mu_t = T::from_f64(mu);
            let ss: f64 = (0..n)
                .map(|ni| {
                    let d2 = |v: T, _| (v - mu_t) * (v - mu_t);
                    lane_sums(row(ni), row(ni), d2).0.to_f64()
                })
                .sum();
            (mu, ss / m)
        })
        .collect()
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
        a.len() == c && b.len() == c && (sp == 0 || x.len() % (c.max(1) * sp) == 0),
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
    assert!(
        x.len() == n * c * sp && g.len() == x.len() && mean.len() == c && invstd.len() == c,
        "batch_norm backward: lengths"
    );
    (0..c)
        .into_par_iter()
        .map(|ci| {
            let mu_t = T::from_f64(mean[ci]);
            let (mut sg, mut sgxm) = (0.0, 0.0);
            for ni in 0..n {
                let r = (ni * c + ci) * sp..(ni * c + ci + 1) * sp;
                let (a, b) = lane_sums(&g[r.clone()], &x[r], |gv, xv| (gv, gv * (xv - mu_t)));
                sg += a.to_f64();
                sgxm += b.to_f64();
            }
            (sg, sgxm * invstd[ci])
        })
        .collect()
}

/// The input gradient. Training (`sums` from [`backward_sums`], `m = n sp`):
/// `dx = gamma s / m (m g - sum g - xhat sum g xhat)`; eval (`sums`
/// unused): `dx = g gamma s`, with `s` the channel's `invstd`.
///
/// Panics if the lengths disagree.
///
/// ```
/// // eval: dx = g * gamma * invstd
/// let gx = kernels::norm::input_grad(&[5.0f32], &[1.0], &[2.0], &[0.0], &[0.5], &[], 1, false, 1, 1);
/// assert_eq!(gx, [1.0]);
/// ```
#[allow(clippy::too_many_arguments)]
pub fn input_grad<T: Element>(
    x: &[T],
    g: &[T],
    gamma: &[T],
    mean: &[f64],
    invstd: &[f64],
    sums: &[(f64, f64)],
    m: usize,
    training: bool,
    c: usize,
    sp: usize,
) -> Vec<T> {
    assert!(
        g.len() == x.len()
            && gamma.len() == c
            && mean.len() == c
            && invstd.len() == c
            && (!training || sums.len() == c),
        "batch_norm backward: lengths"
    );
    let m = m as f64;
    if sp == 0 || x.is_empty() {
        return vec![T::ZERO; x.len()];
    }
    crate::scratch::par_collect_chunks(x.len(), sp, |pi| {
        let ci = pi % c;
        let (mu, s, gam) = (mean[ci], invstd[ci], gamma[ci].to_f64());
        let r = pi * sp..(pi + 1) * sp;
        // training: dx = a g + b (x - mu) + cc, constants per channel;
        // eval: dx = a g, a map of its own (0 * (x - mu) would turn an
        // infinite x into NaN)
        let (a, b, cc, mu_t) = if training {
            let (sg, sgx) = sums[ci];
            (
                T::from_f64(gam * s),
                T::from_f64(-gam * s * s * sgx / m),
                T::from_f64(-gam * s * sg / m),
                T::from_f64(mu),
            )
        } else {
            (T::from_f64(gam * s), T::ZERO, T::ZERO, T::ZERO)
        };
        g[r.clone()].iter().zip(&x[r]).map(move |(&gv, &xv)| {
            if training {
                a * gv + b * (xv - mu_t) + cc
            } else {
                gv * a
            }
        })
    })
}

/// `(sum_i f(a_i, b_i).0, sum_i f(a_i, b_i).1)` over two equal-length
/// slices, in `LANES` interleaved partial sums (lane `l` takes the terms
/// `i = l mod LANES`), combined in a fixed order at the end. One running
/// sum is a chain of dependent adds, a few cycles each, that the compiler
/// may not reorder; independent lanes vectorise (channel statistics were
/// 4% of the ConvNet training step in perf, Zen 1). The order depends only
/// on the length, never on the thread count.
#[inline]
fn lane_sums<T: Element, R: LanePair<T>>(a: &[T], b: &[T], f: impl Fn(T, T) -> R) -> (T, T) {
    const LANES: usize = 16;
    debug_assert_eq!(a.len(), b.len());
    let mut acc = [(T::ZERO, T::ZERO); LANES];
    let (ac, bc) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let (ar, br) = (ac.remainder(), bc.remainder());
    for (ca, cb) in ac.zip(bc) {
        for l in 0..LANES {
            let (u, v) = f(ca[l], cb[l]).pair();
            acc[l].0 += u;
            acc[l].1 += v;
        }
    }
    for (l, (&x, &y)) in ar.iter().zip(br).enumerate() {
        let (u, v) = f(x, y).pair();
        acc[l].0 += u;
        acc[l].1 += v;
    }
    // pairwise: lanes l and l + w for w = 8, 4, 2, 1
    let mut w = LANES / 2;
    while w > 0 {
        for l in 0..w {
            acc[l].0 += acc[l + w].0;
            acc[l].1 += acc[l + w].1;
        }
        w /= 2;
    }
    acc[0]
}

/// What [`lane_sums`]' map returns: one term (the second sum stays 0) or
/// two.
trait LanePair<T> {
    fn pair(self) -> (T, T);
}

impl<T: Element> LanePair<T> for T {
    #[inline(always)]
    fn pair(self) -> (T, T) {
        (self, T::ZERO)
    }
}

impl<T: Element> LanePair<T> for (T, T) {
    #[inline(always)]
    fn pair(self) -> (T, T) {
        self
    }
}
