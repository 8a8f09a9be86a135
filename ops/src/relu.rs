//! `relu`: rectified linear unit.
//!
//! Forward: `y = max(0, x)`.
//! Backward: `dL/dx = g * [x > 0]` (saves the output: `y > 0` iff `x > 0`).
//! At exactly 0 the gradient is 0, as in PyTorch and Torch7.

use autograd::{smallvec::smallvec, Backward, Element, InputGrads, Result, Tensor, Var};

/// `max(0, x)` elementwise.
///
/// The lecture's example: gradient 1 where the input is positive, 0 elsewhere.
/// ```
/// use autograd::{Tape, Tensor};
/// let tape = Tape::<f64>::new();
/// let n = tape.param(Tensor::from_vec(vec![-0.0044, -0.1521, 0.4794, -0.1014, 0.4201], &[5])?);
/// let m = ops::relu(n)?;
/// assert_eq!(m.value().data(), &[0.0, 0.0, 0.4794, 0.0, 0.4201]);
/// let g = tape.backward_with(m, Tensor::ones(&[5]))?;
/// assert_eq!(g.wrt(n)?.data(), &[0.0, 0.0, 1.0, 0.0, 1.0]);
/// # Ok::<(), autograd::Error>(())
/// ```
#[track_caller]
pub fn relu<T: Element>(x: Var<'_, T>) -> Result<Var<'_, T>> {
    let y = Tensor::from_shape_vec(
        x.shape(),
        crate::par_map(x.value().data(), |v| if v > T::ZERO { v } else { T::ZERO }),
    );
    let saved = y.clone();
    x.tape().record("relu", &[x], y, || ReluBackward(saved))
}

struct ReluBackward<T>(Tensor<T>);

impl<T: Element> Backward<T> for ReluBackward<T> {
    fn backward(&self, g: &Tensor<T>, _: &[bool]) -> Result<InputGrads<T>> {
        Ok(smallvec![Some(Tensor::from_shape_vec(
            g.shape().into(),
            crate::par_zip(g.data(), self.0.data(), |g, y| if y > T::ZERO {
                g
            } else {
                T::ZERO
            })
        ))])
    }
}
