//! `gelu`: Gaussian error linear unit, `x Phi(x) = x (1 + erf(x / sqrt 2)) / 2`
//! (PyTorch's `F.gelu` with its default `approximate='none'`).
//!
//! Backward: `dL/dx = g (Phi(x) + x phi(x))`, `phi(x) = e^(-x^2/2) / sqrt(2 pi)`.
//! Saves the input. `erf` is libm's.

use autograd::{smallvec::smallvec, Backward, Element, InputGrads, Result, Tensor, Var};

const FRAC_1_SQRT_2: f64 = std::f64::consts::FRAC_1_SQRT_2;
/// 1 / sqrt(2 pi)
const FRAC_1_SQRT_2PI: f64 = 0.398_942_280_401_432_7;

/// `x Phi(x)` elementwise, with the exact (erf) normal CDF.
///
/// ```
/// use autograd::{Tape, Tensor};
/// let tape = Tape::<f64>::new();
/// let x = tape.constant(Tensor::from_vec(vec![0.0, 1.0, -30.0], &[3])?);
/// let y = ops::gelu(x)?.value();
/// assert_eq!(y.data()[0], 0.0);
/// assert!((y.data()[1] - 0.8413447460685429).abs() < 1e-15); // torch.nn.functional.gelu
/// assert_eq!(y.data()[2], -0.0);
/// # Ok::<(), autograd::Error>(())
/// ```
#[track_caller]
pub fn gelu<T: Element>(x: Var<'_, T>) -> Result<Var<'_, T>> {
    let (half, r2) = (T::from_f64(0.5), T::from_f64(FRAC_1_SQRT_2));
    let xv = x.value();
    let y = Tensor::from_shape_vec(
        x.shape(),
        crate::par_map_costly(xv.data(), |v| v * half * (T::ONE + (v * r2).erf())),
    );
    x.tape().record("gelu", &[x], y, || GeluBackward(xv))
}

struct GeluBackward<T>(Tensor<T>);

impl<T: Element> Backward<T> for GeluBackward<T> {
    fn backward(&self, g: &Tensor<T>, _: &[bool]) -> Result<InputGrads<T>> {
        let (half, r2, r2pi) = (
            T::from_f64(0.5),
            T::from_f64(FRAC_1_SQRT_2),
            T::from_f64(FRAC_1_SQRT_2PI),
        );
        Ok(smallvec![Some(Tensor::from_shape_vec(
            g.shape().into(),
            crate::par_zip(g.data(), self.0.data(), |g, x| {
                let cdf = half * (T::ONE + (x * r2).erf());
                let pdf = r2pi * (-half * x * x).exp();
                g * (cdf + x * pdf)
            })
        ))])
    }
}
