//! A fast single-precision `tanh` (the libm `tanhf` costs ~15 ns per value;
//! this one is a few and vectorises), accurate to a few ulp.
//!
//! `tanh(x) = sign(x) * m / (m + 2)` with `m = expm1(2|x|)`, where `expm1`
//! is a degree-8 Taylor polynomial for small arguments (relative error below
//! 1e-8 there) and `2^k * e^r` with a degree-7 polynomial for `e^r`,
//! `|r| <= ln2 / 2`, elsewhere. Inputs from |x| = 9 on give +-1 exactly
//! (within an ulp of the true value there); NaN propagates.
//!
//! [`tanh_f32_slice`] runs the same code over a slice compiled for AVX-512
//! or AVX2+FMA when the CPU has it (chosen once at run time, see
//! [`crate::cpu`]). Those versions evaluate the polynomials with fused
//! multiply-adds (half the instructions; about 2x faster on Zen 1), the
//! portable one with separate multiplies and adds (a software `fmaf` per
//! term would be slow on a CPU without FMA). So AVX-512 and AVX2 give
//! bit-identical results, and the portable path may differ from them by an
//! ulp; both stay within 4 ulp of the exact value. Within one ISA every
//! lane rounds exactly as the scalar code, whatever the slice length or
//! thread split. [`tanh_f32`] is the slice version on one value. The calls
//! into `target_feature` functions are the `unsafe` blocks here, so this
//! is a kernel file.

/// e^t - 1 for 0 <= t < 0.5 (Taylor, degree 8).
#[inline(always)]
fn expm1_small<const F: bool>(t: f32) -> f32 {
    // Horner form of t + t^2/2! + ... + t^8/8!
    let p = 1.0 / 40320.0;
    let p = madd::<F>(p, t, 1.0 / 5040.0);
    let p = madd::<F>(p, t, 1.0 / 720.0);
    let p = madd::<F>(p, t, 1.0 / 120.0);
    let p = madd::<F>(p, t, 1.0 / 24.0);
    let p = madd::<F>(p, t, 1.0 / 6.0);
    let p = madd::<F>(p, t, 0.5);
    let p = madd::<F>(p, t, 1.0);
    p * t
}

/// e^t for 0 <= t <= 18: t = k ln2 + r, e^t = 2^k e^r.
#[inline(always)]
fn exp_mid<const F: bool>(t: f32) -> f32 {
    const LN2: f32 = std::f32::consts::LN_2;
    // k = t log2(e) rounded to nearest by adding 1.5 * 2^23: the sum's
    // low mantissa bits are k itself. No float-to-int cast: Rust's `as i32`
    // saturates and maps NaN to 0, which LLVM cannot vectorise (it became
    // eight scalar conversions and compares per ymm); these are plain lane
    // operations.
    const SHIFT: f32 = 12_582_912.0; // 1.5 * 2^23
    let y = madd::<F>(t, std::f32::consts::LOG2_E, SHIFT);
    let k = y - SHIFT;
    let r = madd::<F>(-k, LN2, t); // |r| <= ln2/2
    let p = 1.0 / 5040.0;
    let p = madd::<F>(p, r, 1.0 / 720.0);
    let p = madd::<F>(p, r, 1.0 / 120.0);
    let p = madd::<F>(p, r, 1.0 / 24.0);
    let p = madd::<F>(p, r, 1.0 / 6.0);
    let p = madd::<F>(p, r, 0.5);
    let p = madd::<F>(p, r, 1.0);
    let p = madd::<F>(p, r, 1.0);
    // 2^k for 0 <= k <= 26 by building the exponent bits: y's bits are
    // SHIFT's plus k
    p * f32::from_bits(y.to_bits().wrapping_sub(SHIFT.to_bits() - 127) << 23)
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

/// tanh with fused (`F`) or separate multiply-adds.
#[inline(always)]
fn tanh_core<const F: bool>(x: f32) -> f32 {
    // branch-free (both halves computed, then selected) so loops vectorise
    let a = x.abs().min(9.0); // NaN becomes 9 here; restored below
    let t = 2.0 * a;
    let small = expm1_small::<F>(t);
    let big = exp_mid::<F>(t) - 1.0;
    let m = if t < 0.5 { small } else { big };
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
    #[cfg(target_arch = "x86_64")]
    match crate::cpu::active() {
        // SAFETY: the only requirement of a `target_feature` function is
        // that the CPU has the feature: active() is at most detected(); the
        // body is safe slice code.
        crate::cpu::Isa::Avx512 => return unsafe { tanh_slice_avx512(src, dst) },
        // SAFETY: as above, AVX2 and FMA detected.
        crate::cpu::Isa::Avx2 => return unsafe { tanh_slice_avx2(src, dst) },
        crate::cpu::Isa::Portable => {}
    }
    tanh_slice_portable(src, dst)
}

#[inline(always)]
fn tanh_slice_portable(src: &[f32], dst: &mut [f32]) {
    for (o, &v) in dst.iter_mut().zip(src) {
        *o = tanh_core::<false>(v);
    }
}

/// The loop with fused multiply-adds, for the SIMD versions.
#[inline(always)]
fn tanh_slice_fused(src: &[f32], dst: &mut [f32]) {
    for (o, &v) in dst.iter_mut().zip(src) {
        *o = tanh_core::<true>(v);
    }
}

/// [`tanh_slice_fused`] compiled with AVX-512F, so the loop vectorises
/// 16 wide with FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
fn tanh_slice_avx512(src: &[f32], dst: &mut [f32]) {
    tanh_slice_fused(src, dst)
}

/// [`tanh_slice_fused`] compiled with AVX2 and FMA, so the loop vectorises
/// 8 wide with FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn tanh_slice_avx2(src: &[f32], dst: &mut [f32]) {
    tanh_slice_fused(src, dst)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_available_slice_version_is_bit_identical_to_the_scalar_loop() {
        use crate::cpu::{detected, Isa};
        let x: Vec<f32> = (0..4099)
            .map(|i| (i as f32 - 2000.0) * 0.0071)
            .chain([f32::NAN, f32::INFINITY, f32::NEG_INFINITY, -0.0, 1e-30])
            .collect();
        let mut y = vec![0.0f32; x.len()];
        // the portable loop: separate multiplies and adds
        tanh_slice_portable(&x, &mut y);
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
                unsafe { tanh_slice_avx2(&x, &mut y) };
                for (a, &v) in y.iter().zip(&x) {
                    assert_eq!(a.to_bits(), tanh_f32(v).to_bits(), "avx2 tanh({v})");
                }
            }
            if detected() >= Isa::Avx512 {
                // SAFETY: AVX-512F detected just above.
                unsafe { tanh_slice_avx512(&x, &mut y) };
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
}
