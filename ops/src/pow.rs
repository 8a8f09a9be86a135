//! `pow`: elementwise power with a constant exponent.
//!
//! Forward: `y = x^e`. Backward: `dL/dx = g * e * x^(e-1)` (saves the input).

use autograd::{smallvec::smallvec, Backward, Element, InputGrads, Result, Tensor, Var};

/// `x^e` elementwise for a constant exponent `e`.
///
/// ```
/// use autograd::{Tape, Tensor};
/// let tape = Tape::<f32>::new();
/// let x = tape.constant(Tensor::from_vec(vec![2.0, 3.0], &[2])?);
/// assert_eq!(ops::pow(x, 2.0)?.value().data(), &[4.0, 9.0]);
/// # Ok::<(), autograd::Error>(())
/// ```
#[track_caller]
pub fn pow<T: Element>(x: Var<'_, T>, e: f64) -> Result<Var<'_, T>> {
    let xv = x.value();
    let et = T::from_f64(e);
    let y = Tensor::from_shape_vec(x.shape(), crate::par_map_costly(xv.data(), |v| v.powf(et)));
    x.tape().record("pow", &[x], y, || PowBackward(xv, e))
}

struct PowBackward<T>(Tensor<T>, f64);

impl<T: Element> Backward<T> for PowBackward<T> {
    fn backward(&self, g: &Tensor<T>, _: &[bool]) -> Result<InputGrads<T>> {
        let (e, em1) = (T::from_f64(self.1), T::from_f64(self.1 - 1.0));
        Ok(smallvec![Some(Tensor::from_shape_vec(
            g.shape().into(),
            crate::par_zip(g.data(), self.0.data(), |g, x| g * e * x.powf(em1))
        ))])
    }
}
