//! Fast single-precision `tanh` and `exp` (the libm `tanhf` costs ~15 ns per value;
//! this one is a few and vectorises), accurate to a few ulp.
//!
//! `tanh(x) = sign(x) * m / (m + 2)` with `m = expm1(2|x|)`, where
//! `expm1(t) = 2^k (e^r - 1) + (2^k - 1)`, `t = k ln2 + r`, `|r| <= ln2 / 2`,
//! and `e^r - 1 = r Q(r)` by a Taylor polynomial (no cancellation near 0,
//! so one code path for every argument). Inputs from |x| = 9 on give +-1 exactly
//! (within an ulp of the true value there); NaN propagates. `exp` over the
//! whole f32 range is [`exp_f32`] (within 3 ulp).
//!
//! [`tanh_f32_slice`] and [`exp_f32_slice`] run the same code over a slice compiled for AVX-512
//! or AVX2+FMA when the CPU has it (chosen once at run time, see
//! [`crate::cpu`]). Those versions evaluate the polynomials with fused
//! multiply-adds (half the instructions; about 2x faster on Zen 1), the
//! portable one with separate multiplies and adds (a software `fmaf` per
//! term would be slow on a CPU without FMA). So AVX-512 and AVX2 give
//! bit-identical results, and the portable path may differ from them by an
//! ulp; both stay within 4 ulp of the exact value. Within one ISA every
//! lane rounds exactly as the scalar code, whatever the slice length or
//! thread split. [`tanh_f32`] is the slice version on one value.
//! [`tanh_f32_vec`] and [`exp_f32_vec`] write a new vector's values once,
//! straight into its unwritten memory. The calls into `target_feature`
//! functions and into `scratch::par_new_with` (whose guarantee, every
//! slot written, the slice kernels give) are the `unsafe` blocks here, so
//! this is a kernel file.

/// 1.5 * 2^23: adding it to a float of magnitude below 2^22 rounds it to
/// an integer k, whose bits are then the sum's low mantissa bits.
const SHIFT: f32 = 12_582_912.0;

/// `(e^r - 1) / r` for |r| <= ln2 / 2 (Taylor, terms to r^6 / 7!):
/// [`exp_core`] takes `1 + r Q(r)` from it, [`expm1_mid`] `r Q(r)`.
#[inline(always)]
fn expm1_quot<const F: bool>(r: f32) -> f32 {
    let p = 1.0 / 5040.0;
    let p = madd::<F>(p, r, 1.0 / 720.0);
    let p = madd::<F>(p, r, 1.0 / 120.0);
    let p = madd::<F>(p, r, 1.0 / 24.0);
    let p = madd::<F>(p, r, 1.0 / 6.0);
    let p = madd::<F>(p, r, 0.5);
    madd::<F>(p, r, 1.0)
}

/// `a * b + c`, fused (one rounding) when `F`, else a multiply and an add
/// (Rust never fuses those, so each rounds as written).
#[inline(always)]
fn madd<const F: bool>(a: f32, b: f32, c: f32) -> f32 {
    if F {
        a.mul_add(b, c)
    } else {
        a * b + c
    }
}

/// e^t - 1 for 0 <= t <= 18, without cancellation near 0: t = k ln2 + r
/// (|r| <= ln2 / 2), e^r - 1 = r Q(r) (Taylor, terms to r^7 / 7!), and
/// e^t - 1 = 2^k (e^r - 1) + (2^k - 1) in one multiply-add (for k = 0 it
/// is e^r - 1 itself; 2^k - 1 is exact up to k = 24 and within 2^-26 of
/// the sum beyond). One polynomial for the whole range: the small- and
/// large-argument forms tanh needs are the same code.
#[inline(always)]
fn expm1_mid<const F: bool>(t: f32) -> f32 {
    const LN2: f32 = std::f32::consts::LN_2;
    let y = madd::<F>(t, std::f32::consts::LOG2_E, SHIFT);
    let k = y - SHIFT;
    let r = madd::<F>(-k, LN2, t); // |r| <= ln2/2
    let p = expm1_quot::<F>(r);
    // e^r - 1
    let q = p * r;
    // 2^k for 0 <= k <= 26 from y's low mantissa bits (see exp_core)
    let s = f32::from_bits(y.to_bits().wrapping_sub(SHIFT.to_bits() - 127) << 23);
    madd::<F>(s, q, s - 1.0)
}

/// tanh with fused (`F`) or separate multiply-adds.
#[inline(always)]
fn tanh_core<const F: bool>(x: f32) -> f32 {
    // branch-free (selects, no jumps) so loops vectorise
    let a = x.abs().min(9.0); // NaN becomes 9 here; restored below
    let m = expm1_mid::<F>(2.0 * a);
    // +-1 exactly from 9 on (the true value is within an ulp of 1 there;
    // m / (m + 2) alone would give 1 or 1 - ulp depending on how m + 2
    // rounds)
    let q = if a >= 9.0 { 1.0 } else { m / (m + 2.0) };
    let r = q.copysign(x);
    if x.is_nan() {
        x
    } else {
        r
    }
}

/// Hyperbolic tangent in f32, a few ulp from the exact value: the value
/// [`tanh_f32_slice`] gives for `x` on this CPU.
///
/// ```
/// assert_eq!(kernels::fastmath::tanh_f32(0.0), 0.0);
/// assert!((kernels::fastmath::tanh_f32(0.5) - 0.5f32.tanh()).abs() < 1e-6);
/// ```
pub fn tanh_f32(x: f32) -> f32 {
    let mut y = [0.0];
    tanh_f32_slice(&[x], &mut y);
    y[0]
}

/// `dst[i] = tanh_f32(src[i])`, 16 lanes at a time with AVX-512F, 8 with
/// AVX2 (as [`crate::cpu::active`] says).
///
/// Panics if the lengths differ.
///
/// ```
/// let x = [0.0f32, 0.5, -3.0];
/// let mut y = [0.0f32; 3];
/// kernels::fastmath::tanh_f32_slice(&x, &mut y);
/// assert_eq!(y[1], kernels::fastmath::tanh_f32(0.5));
/// ```
pub fn tanh_f32_slice(src: &[f32], dst: &mut [f32]) {
    assert_eq!(src.len(), dst.len(), "tanh_f32_slice: lengths differ");
    tanh_slices::run(src, dst)
}

/// e^x in f32 over the whole range (0 below about -103.97, +inf above
/// about 88.72, subnormal results rounded once, NaN propagates), within
/// 3 ulp of the exact value: `k = round(x log2 e)`, `r = x - k ln2` in two
/// steps (Cody-Waite: `ln2` as a short high part, exact times k, plus a
/// low part), `e^r` by a degree-7 polynomial (`|r| <= ln2 / 2`), times
/// `2^k` as two powers of two (each a normal number, so a subnormal or
/// overflowing result rounds once, in the last multiply). The value
/// [`exp_f32_slice`] gives for `x` on this CPU.
///
/// ```
/// use kernels::fastmath::exp_f32;
/// assert_eq!(exp_f32(0.0), 1.0);
/// assert!((exp_f32(1.0) - std::f32::consts::E).abs() <= 2.0 * f32::EPSILON * 3.0);
/// assert_eq!(exp_f32(-200.0), 0.0);
/// assert_eq!(exp_f32(100.0), f32::INFINITY);
/// ```
pub fn exp_f32(x: f32) -> f32 {
    let mut y = [0.0];
    exp_f32_slice(&[x], &mut y);
    y[0]
}

/// `dst[i] = exp_f32(src[i])`, 16 lanes at a time with AVX-512F, 8 with
/// AVX2 (libm's `expf` is a call per value and does not vectorise).
///
/// Panics if the lengths differ.
///
/// ```
/// let x = [0.0f32, 1.0, -1.0];
/// let mut y = [0.0f32; 3];
/// kernels::fastmath::exp_f32_slice(&x, &mut y);
/// assert_eq!(y[2], kernels::fastmath::exp_f32(-1.0));
/// ```
pub fn exp_f32_slice(src: &[f32], dst: &mut [f32]) {
    assert_eq!(src.len(), dst.len(), "exp_f32_slice: lengths differ");
    exp_slices::run(src, dst)
}

/// e^x with fused (`F`) or separate multiply-adds (see [`exp_f32`]).
#[inline(always)]
fn exp_core<const F: bool>(x: f32) -> f32 {
    // ln2 = LN2_HI + LN2_LO; LN2_HI has 9 significant bits, so k LN2_HI
    // is exact for |k| < 2^15
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // past these the result is 0 or inf anyway; NaN stays NaN here and is
    // restored below
    let xc = x.clamp(-104.0, 89.0);
    let y = madd::<F>(xc, std::f32::consts::LOG2_E, SHIFT);
    let k = y - SHIFT; // an integer in -150..=129
    let r = madd::<F>(-k, LN2_HI, xc);
    let r = madd::<F>(-k, LN2_LO, r);
    // e^r
    let p = madd::<F>(expm1_quot::<F>(r), r, 1.0);
    // 2^k = 2^k1 2^k2 with both in -75..=65: normal numbers, built from
    // their exponent bits (k is y's low mantissa bits; integer lane ops)
    let ki = (y.to_bits() as i32).wrapping_sub(SHIFT.to_bits() as i32);
    let k1 = ki >> 1;
    let k2 = ki.wrapping_sub(k1);
    let s1 = f32::from_bits((k1.wrapping_add(127) as u32) << 23);
    let s2 = f32::from_bits((k2.wrapping_add(127) as u32) << 23);
    let e = p * s1 * s2;
    if x.is_nan() {
        x
    } else {
        e
    }
}

/// Where a slice kernel writes a value: an `f32` the caller owns, or a
/// slot of a new vector not written yet ([`tanh_f32_vec`],
/// [`exp_f32_vec`], which then need no zero fill first).
trait Slot {
    fn put(&mut self, v: f32);
}

impl Slot for f32 {
    #[inline(always)]
    fn put(&mut self, v: f32) {
        *self = v;
    }
}

impl Slot for std::mem::MaybeUninit<f32> {
    #[inline(always)]
    fn put(&mut self, v: f32) {
        self.write(v);
    }
}

/// The slice kernels of a scalar core `$core::<F>`: a portable loop
/// (separate multiplies and adds) and AVX2 and AVX-512 loops (fused),
/// chosen by [`crate::cpu::active`] in `run`. Each writes
/// `dst[i] = core(src[i])` for every `i < min(len)`; the callers check
/// that the lengths are equal.
macro_rules! slice_kernels {
    ($module:ident, $core:ident) => {
        mod $module {
            #[allow(unused_imports)]
            use super::$core;
            use super::Slot;

            pub(super) fn run<O: Slot>(src: &[f32], dst: &mut [O]) {
                #[cfg(target_arch = "x86_64")]
                match crate::cpu::active() {
                    // SAFETY: the only requirement of a `target_feature`
                    // function is that the CPU has the feature: active()
                    // is at most detected(); the body is safe slice code.
                    crate::cpu::Isa::Avx512 => return unsafe { avx512(src, dst) },
                    // SAFETY: as above, AVX2 and FMA detected.
                    crate::cpu::Isa::Avx2 => return unsafe { avx2(src, dst) },
                    crate::cpu::Isa::Portable => {}
                }
                portable(src, dst)
            }

            #[inline(always)]
            pub(super) fn portable<O: Slot>(src: &[f32], dst: &mut [O]) {
                for (o, &v) in dst.iter_mut().zip(src) {
                    o.put($core::<false>(v));
                }
            }

            /// The loop with fused multiply-adds, for the SIMD versions.
            #[inline(always)]
            fn fused<O: Slot>(src: &[f32], dst: &mut [O]) {
                for (o, &v) in dst.iter_mut().zip(src) {
                    o.put($core::<true>(v));
                }
            }

            /// [`fused`] compiled with AVX-512F: 16 lanes with FMA.
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx512f,avx2,fma")]
            pub(super) fn avx512<O: Slot>(src: &[f32], dst: &mut [O]) {
                fused(src, dst)
            }

            /// [`fused`] compiled with AVX2 and FMA: 8 lanes with FMA.
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx2,fma")]
            pub(super) fn avx2<O: Slot>(src: &[f32], dst: &mut [O]) {
                fused(src, dst)
            }
        }
    };
}

/// Values per rayon task of [`tanh_f32_vec`] and [`exp_f32_vec`] (and
/// their f64 counterparts); shorter inputs run on the calling thread.
/// The split never changes a value: each is computed on its own.
pub(crate) const VEC_CHUNK: usize = 1 << 13;

/// A new vector `tanh_f32(src[i])`, in parallel for long inputs, each
/// value written once (no zero fill first).
///
/// ```
/// let y = kernels::fastmath::tanh_f32_vec(&[0.0f32, 0.5, -3.0]);
/// assert_eq!(y, [0.0, kernels::fastmath::tanh_f32(0.5), kernels::fastmath::tanh_f32(-3.0)]);
/// ```
pub fn tanh_f32_vec(src: &[f32]) -> Vec<f32> {
    // SAFETY: a `slice_kernels!` run writes dst[i] for every i below both
    // lengths, so every slot of equal-length slices.
    unsafe { new_vec(src, tanh_slices::run) }
}

/// A new vector `exp_f32(src[i])`, in parallel for long inputs, each
/// value written once (no zero fill first).
///
/// ```
/// let y = kernels::fastmath::exp_f32_vec(&[0.0f32, 1.0]);
/// assert_eq!(y, [1.0, kernels::fastmath::exp_f32(1.0)]);
/// ```
pub fn exp_f32_vec(src: &[f32]) -> Vec<f32> {
    // SAFETY: as in tanh_f32_vec.
    unsafe { new_vec(src, exp_slices::run) }
}

/// A new vector `run(src)`, in parallel for long inputs.
///
/// # Safety
///
/// `run(s, d)` must write every slot of `d` when `s` and `d` have equal
/// lengths (this file's `slice_kernels!` runs do).
unsafe fn new_vec(src: &[f32], run: fn(&[f32], &mut [std::mem::MaybeUninit<f32>])) -> Vec<f32> {
    // SAFETY: par_new_with hands each call the chunk of the new vector at
    // offset i * VEC_CHUNK, and `run` gets `src`'s piece of the same
    // length there (slicing checks it), so by the caller's guarantee it
    // writes every slot of the chunk.
    unsafe {
        crate::scratch::par_new_with(src.len(), VEC_CHUNK, |i, dst| {
            run(&src[i * VEC_CHUNK..][..dst.len()], dst)
        })
    }
}

slice_kernels!(tanh_slices, tanh_core);
slice_kernels!(exp_slices, exp_core);

#[cfg(test)]
mod tests {
    use super::*;

    /// The new-vector versions give the slice kernels' bits, whatever the
    /// length against the task size (empty, one task, a short last task),
    /// and so do the f64 ones against libm value by value.
    #[test]
    fn vec_versions_match_the_slice_kernels_at_every_chunk_boundary() {
        for len in [0, 1, 17, VEC_CHUNK, VEC_CHUNK + 1, 3 * VEC_CHUNK + 5] {
            let x: Vec<f32> = (0..len).map(|i| (i as f32 - 9000.0) * 0.0013).collect();
            let mut want = vec![0.0f32; len];
            tanh_f32_slice(&x, &mut want);
            let got = tanh_f32_vec(&x);
            assert_eq!(got.len(), len);
            assert!(got
                .iter()
                .zip(&want)
                .all(|(a, b)| a.to_bits() == b.to_bits()));
            exp_f32_slice(&x, &mut want);
            let got = exp_f32_vec(&x);
            assert!(got
                .iter()
                .zip(&want)
                .all(|(a, b)| a.to_bits() == b.to_bits()));
            let x64: Vec<f64> = x.iter().map(|&v| v as f64).collect();
            use crate::Element;
            let t = f64::tanh_vec(&x64);
            assert!(t
                .iter()
                .zip(&x64)
                .all(|(a, v)| a.to_bits() == v.tanh().to_bits()));
            let e = f64::exp_vec(&x64);
            assert!(e
                .iter()
                .zip(&x64)
                .all(|(a, v)| a.to_bits() == v.exp().to_bits()));
        }
    }

    #[test]
    fn every_available_slice_version_is_bit_identical_to_the_scalar_loop() {
        use crate::cpu::{detected, Isa};
        let x: Vec<f32> = (0..4099)
            .map(|i| (i as f32 - 2000.0) * 0.0071)
            .chain([f32::NAN, f32::INFINITY, f32::NEG_INFINITY, -0.0, 1e-30])
            .collect();
        let mut y = vec![0.0f32; x.len()];
        // the portable loop: separate multiplies and adds
        tanh_slices::portable(&x, &mut y);
        for (a, &v) in y.iter().zip(&x) {
            let want = tanh_core::<false>(v);
            assert!(
                a.to_bits() == want.to_bits() || a.is_nan() && want.is_nan(),
                "portable tanh({v})"
            );
        }
        // the SIMD loops: fused, so the scalar reference is the fused core
        // (f32::mul_add rounds once on every target, in software if need be)
        let tanh_f32 = tanh_core::<true>;
        #[cfg(target_arch = "x86_64")]
        {
            if detected() >= Isa::Avx2 {
                // SAFETY: AVX2 and FMA detected just above.
                unsafe { tanh_slices::avx2(&x, &mut y) };
                for (a, &v) in y.iter().zip(&x) {
                    assert_eq!(a.to_bits(), tanh_f32(v).to_bits(), "avx2 tanh({v})");
                }
            }
            if detected() >= Isa::Avx512 {
                // SAFETY: AVX-512F detected just above.
                unsafe { tanh_slices::avx512(&x, &mut y) };
                for (a, &v) in y.iter().zip(&x) {
                    assert_eq!(a.to_bits(), tanh_f32(v).to_bits(), "avx512 tanh({v})");
                }
            }
        }
    }

    #[test]
    fn slice_version_is_bit_identical_to_the_scalar_loop() {
        let x: Vec<f32> = (0..10_007)
            .map(|i| (i as f32 - 5000.0) * 0.0037)
            .chain([f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 0.0, -0.0, 1e-30])
            .collect();
        let mut y = vec![0.0f32; x.len()];
        tanh_f32_slice(&x, &mut y);
        for (a, &v) in y.iter().zip(&x) {
            assert_eq!(a.to_bits(), tanh_f32(v).to_bits(), "tanh({v})");
        }
    }

    #[test]
    fn matches_f64_tanh_within_a_few_ulp() {
        within_a_few_ulp(tanh_core::<false>);
        within_a_few_ulp(tanh_core::<true>);
        within_a_few_ulp(tanh_f32);
    }

    fn within_a_few_ulp(tanh_f32: fn(f32) -> f32) {
        let mut worst = 0.0f64;
        let mut x = -20.0f32;
        while x <= 20.0 {
            let want = (x as f64).tanh();
            let got = tanh_f32(x) as f64;
            let ulp = (want.abs() as f32 * f32::EPSILON).max(f32::MIN_POSITIVE) as f64;
            worst = worst.max((got - want).abs() / ulp);
            x += 0.000_37;
        }
        assert!(worst <= 4.0, "worst error {worst} ulp");
        for v in [
            1e-30f32, -1e-30, 1e-7, -1e-7, 0.0, 0.24999, 0.25, 0.25001, 8.99, 9.0, 9.01,
        ] {
            let want = (v as f64).tanh();
            assert!(
                ((tanh_f32(v) as f64) - want).abs()
                    <= 4.0 * (want.abs() * f32::EPSILON as f64).max(1e-45),
                "{v}"
            );
        }
        assert_eq!(tanh_f32(0.0).to_bits(), 0.0f32.to_bits());
        assert_eq!(tanh_f32(-0.0).to_bits(), (-0.0f32).to_bits());
        assert_eq!(tanh_f32(f32::INFINITY), 1.0);
        assert_eq!(tanh_f32(f32::NEG_INFINITY), -1.0);
        assert!(tanh_f32(f32::NAN).is_nan());
    }

    #[test]
    fn exp_every_available_slice_version_is_bit_identical_to_its_scalar_core() {
        use crate::cpu::{detected, Isa};
        let x: Vec<f32> = (0..20_011)
            .map(|i| (i as f32 - 10_400.0) * 0.0099)
            .chain([
                f32::NAN,
                f32::INFINITY,
                f32::NEG_INFINITY,
                -0.0,
                0.0,
                1e-30,
                88.72,
                88.73,
                -87.4,
                -103.9,
                -104.1,
            ])
            .collect();
        let mut y = vec![0.0f32; x.len()];
        let same = |a: f32, b: f32| a.to_bits() == b.to_bits() || a.is_nan() && b.is_nan();
        exp_slices::portable(&x, &mut y);
        for (a, &v) in y.iter().zip(&x) {
            assert!(same(*a, exp_core::<false>(v)), "portable exp({v})");
        }
        #[cfg(target_arch = "x86_64")]
        {
            if detected() >= Isa::Avx2 {
                // SAFETY: AVX2 and FMA detected just above.
                unsafe { exp_slices::avx2(&x, &mut y) };
                for (a, &v) in y.iter().zip(&x) {
                    assert!(same(*a, exp_core::<true>(v)), "avx2 exp({v})");
                }
            }
            if detected() >= Isa::Avx512 {
                // SAFETY: AVX-512F detected just above.
                unsafe { exp_slices::avx512(&x, &mut y) };
                for (a, &v) in y.iter().zip(&x) {
                    assert!(same(*a, exp_core::<true>(v)), "avx512 exp({v})");
                }
            }
        }
        exp_f32_slice(&x, &mut y);
        for (a, &v) in y.iter().zip(&x) {
            assert!(same(*a, exp_f32(v)), "exp_f32_slice({v})");
        }
    }

    #[test]
    fn exp_matches_f64_exp_within_3_ulp_over_the_whole_range() {
        for exp_f32 in [exp_core::<false>, exp_core::<true>, exp_f32] {
            let mut worst = 0.0f64;
            let mut x = -110.0f32;
            while x <= 90.0 {
                let want = (x as f64).exp();
                let got = exp_f32(x) as f64;
                if want > f32::MAX as f64 * (1.0 + f32::EPSILON as f64 / 2.0) {
                    assert_eq!(got, f64::INFINITY, "exp({x})");
                } else {
                    // an ulp of the f32 result; subnormals have a fixed one
                    let ulp = (want as f32 * f32::EPSILON)
                        .max(f32::from_bits(1))
                        .max(want as f32 - (want as f32).next_down())
                        as f64;
                    worst = worst.max((got - want).abs() / ulp);
                }
                x += 0.001_3;
            }
            assert!(worst <= 3.0, "worst error {worst} ulp");
            assert_eq!(exp_f32(0.0), 1.0);
            assert_eq!(exp_f32(-0.0), 1.0);
            assert_eq!(exp_f32(f32::INFINITY), f32::INFINITY);
            assert_eq!(exp_f32(f32::NEG_INFINITY), 0.0);
            assert_eq!(exp_f32(-1000.0), 0.0);
            assert!(exp_f32(f32::NAN).is_nan());
            // the smallest subnormal's neighbourhood: rounded, not flushed
            assert_eq!(exp_f32(-103.0), (-103.0f64).exp() as f32);
        }
    }
}
