//! `exp`: elementwise exponential.
//!
//! Forward: `y = e^x`. Backward: `dL/dx = g * y` (saves the output).
//!
//! f32 runs `Element::exp_slice`: a polynomial vectorised with AVX2 or
//! AVX-512 (`kernels::fastmath::exp_f32`, within 3 ulp of e^x); f64 libm's.

use autograd::{smallvec::smallvec, Backward, Element, InputGrads, Result, Tensor, Var};

/// `e^x` elementwise.
///
/// ```
/// use autograd::{Tape, Tensor};
/// let tape = Tape::<f64>::new();
/// let x = tape.constant(Tensor::from_vec(vec![0.0, 1.0], &[2])?);
/// assert_eq!(ops::exp(x)?.value().data(), &[1.0, std::f64::consts::E]);
/// # Ok::<(), autograd::Error>(())
/// ```
#[track_caller]
pub fn exp<T: Element>(x: Var<'_, T>) -> Result<Var<'_, T>> {
    let y = Tensor::from_shape_vec(x.shape(), T::exp_vec(x.value().data()));
    let saved = y.clone();
    x.tape().record("exp", &[x], y, || ExpBackward(saved))
}

struct ExpBackward<T>(Tensor<T>);

impl<T: Element> Backward<T> for ExpBackward<T> {
    fn backward(&self, g: &Tensor<T>, _: &[bool]) -> Result<InputGrads<T>> {
        Ok(smallvec![Some(Tensor::from_shape_vec(
            g.shape().into(),
            crate::par_zip(g.data(), self.0.data(), |g, y| g * y)
        ))])
    }
}
