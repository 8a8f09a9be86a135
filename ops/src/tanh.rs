//! `tanh`: hyperbolic tangent.
//!
//! Forward: `y = tanh(x)`. Backward: `dL/dx = g * (1 - y^2)` (saves the output).

use autograd::{smallvec::smallvec, Backward, Element, InputGrads, Result, Tensor, Var};

/// `tanh(x)` elementwise.
///
/// ```
/// use autograd::{Tape, Tensor};
/// let tape = Tape::<f64>::new();
/// let x = tape.constant(Tensor::from_vec(vec![0.0, 1.0], &[2])?);
/// assert_eq!(ops::tanh(x)?.value().data(), &[0.0, 1.0f64.tanh()]);
/// # Ok::<(), autograd::Error>(())
/// ```
#[track_caller]
pub fn tanh<T: Element>(x: Var<'_, T>) -> Result<Var<'_, T>> {
    let y = Tensor::from_shape_vec(x.shape(), T::tanh_vec(x.value().data()));
    let saved = y.clone();
    x.tape().record("tanh", &[x], y, || TanhBackward(saved))
}

struct TanhBackward<T>(Tensor<T>);

impl<T: Element> Backward<T> for TanhBackward<T> {
    fn backward(&self, g: &Tensor<T>, _: &[bool]) -> Result<InputGrads<T>> {
        Ok(smallvec![Some(Tensor::from_shape_vec(
            g.shape().into(),
            crate::par_zip(g.data(), self.0.data(), |g, y| g * (T::ONE - y * y))
        ))])
    }
}
