//! The element trait: the scalar types a tensor (`autograd::Tensor`) can hold.
//!
//! Every op is written once, generic over [`Element`]; it runs in `f32` for
//! training and in `f64` for gradient checks.

use std::fmt::{Debug, Display};
use std::ops::{Add, AddAssign, Div, DivAssign, Mul, MulAssign, Neg, Sub, SubAssign};

/// A floating-point scalar that tensors hold: implemented for `f32` and `f64`.
///
/// Sealed: the kernels behind it (GEMM, micro-kernels) are written for these
/// two types, so no other crate can implement it.
///
/// ```
/// use kernels::Element;
/// fn half<T: Element>(x: T) -> T { x * T::from_f64(0.5) }
/// assert_eq!(half(3.0f32), 1.5);
/// assert_eq!(<f64 as Element>::NAME, "f64");
/// ```
pub trait Element:
    Copy
    + Send
    + Sync
    + Debug
    + Display
    + Default
    + PartialOrd
    + PartialEq
    + 'static
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + AddAssign
    + SubAssign
    + MulAssign
    + DivAssign
    + std::iter::Sum
    + sealed::Sealed
    + crate::gemm::Gemm
    + crate::packed::MicroKernel
{
    /// Additive identity.
    const ZERO: Self;
    /// Multiplicative identity.
    const ONE: Self;
    /// Negative infinity (the identity of max).
    const NEG_INFINITY: Self;
    /// "f32" or "f64", used in error messages and checkpoints.
    const NAME: &'static str;
    /// Converts from f64, rounding when `Self` is narrower.
    fn from_f64(v: f64) -> Self;
    /// Converts to f64 exactly.
    fn to_f64(self) -> f64;
    /// Converts a count to `Self`.
    fn from_usize(v: usize) -> Self {
        Self::from_f64(v as f64)
    }
    /// e^x
    fn exp(self) -> Self;
    /// `dst[i] = e^src[i]` with the widest SIMD this CPU has: for f32 the
    /// polynomial of [`crate::fastmath::exp_f32`] (within 3 ulp, so not
    /// always the value of the scalar [`Element::exp`], which is libm's);
    /// for f64 libm's, value by value.
    fn exp_slice(src: &[Self], dst: &mut [Self]);
    /// A new vector `e^src[i]`, the values of [`Element::exp_slice`],
    /// computed in parallel for long inputs and written once (no zero fill
    /// first).
    fn exp_vec(src: &[Self]) -> Vec<Self>;
    /// Natural logarithm.
    fn ln(self) -> Self;
    /// Square root.
    fn sqrt(self) -> Self;
    /// Hyperbolic tangent.
    fn tanh(self) -> Self;
    /// `dst[i] = src[i].tanh()`: the same values as [`Element::tanh`], with
    /// the widest SIMD this CPU has (f32 with AVX-512: 16 lanes).
    fn tanh_slice(src: &[Self], dst: &mut [Self]);
    /// A new vector `src[i].tanh()`, the values of
    /// [`Element::tanh_slice`], computed in parallel for long inputs and
    /// written once (no zero fill first).
    fn tanh_vec(src: &[Self]) -> Vec<Self>;
    /// x^e
    fn powf(self, e: Self) -> Self;
    /// |x|
    fn abs(self) -> Self;
    /// e^x - 1, accurate near 0.
    fn exp_m1(self) -> Self;
    /// The error function (libm's, accurate to the last bit or two).
    fn erf(self) -> Self;
    /// Larger of the two (NaN-propagating from `self`).
    fn max(self, other: Self) -> Self;
    /// Smaller of the two.
    fn min(self, other: Self) -> Self;
    /// Neither NaN nor infinite.
    fn is_finite(self) -> bool;
    /// Is NaN.
    fn is_nan(self) -> bool;
}

mod sealed {
    /// Not nameable outside this crate, so [`super::Element`] cannot be
    /// implemented there.
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
}

macro_rules! impl_element {
    ($t:ty, $name:literal, $erf:expr, $tanh:expr, $tanh_slice:expr, $exp_slice:expr, $tanh_vec:expr, $exp_vec:expr) => {
        impl Element for $t {
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            const NEG_INFINITY: Self = <$t>::NEG_INFINITY;
            const NAME: &'static str = $name;
            #[inline]
            fn from_f64(v: f64) -> Self {
                v as $t
            }
            #[inline]
            fn to_f64(self) -> f64 {
                self as f64
            }
            #[inline]
            fn exp(self) -> Self {
                <$t>::exp(self)
            }
            #[inline]
            fn exp_slice(src: &[Self], dst: &mut [Self]) {
                $exp_slice(src, dst)
            }
            #[inline]
            fn exp_vec(src: &[Self]) -> Vec<Self> {
                $exp_vec(src)
            }
            #[inline]
            fn ln(self) -> Self {
                <$t>::ln(self)
            }
            #[inline]
            fn sqrt(self) -> Self {
                <$t>::sqrt(self)
            }
            #[inline]
            fn tanh(self) -> Self {
                $tanh(self)
            }
            #[inline]
            fn tanh_slice(src: &[Self], dst: &mut [Self]) {
                $tanh_slice(src, dst)
            }
            #[inline]
            fn tanh_vec(src: &[Self]) -> Vec<Self> {
                $tanh_vec(src)
            }
            #[inline]
            fn powf(self, e: Self) -> Self {
                <$t>::powf(self, e)
            }
            #[inline]
            fn abs(self) -> Self {
                <$t>::abs(self)
            }
            #[inline]
            fn exp_m1(self) -> Self {
                <$t>::exp_m1(self)
            }
            #[inline]
            fn erf(self) -> Self {
                $erf(self)
            }
            #[inline]
            fn max(self, other: Self) -> Self {
                if self.is_nan() || self >= other {
                    self
                } else {
                    other
                }
            }
            #[inline]
            fn min(self, other: Self) -> Self {
                if self.is_nan() || self <= other {
                    self
                } else {
                    other
                }
            }
            #[inline]
            fn is_finite(self) -> bool {
                <$t>::is_finite(self)
            }
            #[inline]
            fn is_nan(self) -> bool {
                <$t>::is_nan(self)
            }
        }
    };
}

// f32 uses a fast polynomial tanh and slice exp (a few ulp; see
// `fastmath`); f64, used for gradient checks, keeps libm's.
impl_element!(
    f32,
    "f32",
    libm::erff,
    crate::fastmath::tanh_f32,
    crate::fastmath::tanh_f32_slice,
    crate::fastmath::exp_f32_slice,
    crate::fastmath::tanh_f32_vec,
    crate::fastmath::exp_f32_vec
);
impl_element!(
    f64,
    "f64",
    libm::erf,
    f64::tanh,
    |src: &[f64], dst: &mut [f64]| {
        assert_eq!(src.len(), dst.len(), "tanh_slice: lengths differ");
        for (o, &v) in dst.iter_mut().zip(src) {
            *o = v.tanh();
        }
    },
    |src: &[f64], dst: &mut [f64]| {
        assert_eq!(src.len(), dst.len(), "exp_slice: lengths differ");
        for (o, &v) in dst.iter_mut().zip(src) {
            *o = v.exp();
        }
    },
    |src: &[f64]| map_vec(src, f64::tanh),
    |src: &[f64]| map_vec(src, f64::exp)
);

/// A new vector `f(src[i])`, in parallel for long inputs (the f64 `_vec`
/// methods).
fn map_vec(src: &[f64], f: fn(f64) -> f64) -> Vec<f64> {
    let chunk = crate::fastmath::VEC_CHUNK;
    crate::scratch::par_collect_chunks(src.len(), chunk, |i| {
        src[i * chunk..(i * chunk + chunk).min(src.len())]
            .iter()
            .map(move |&v| f(v))
    })
}
