//! `sigmoid`: logistic function.
//!
//! Forward: `y = 1 / (1 + e^-x)`, computed without overflow for large |x|.
//! Backward: `dL/dx = g * y * (1 - y)` (saves the output).

use autograd::{smallvec::smallvec, Backward, Element, InputGrads, Result, Tensor, Var};

/// `1 / (1 + e^-x)` elementwise.
///
/// ```
/// use autograd::{Tape, Tensor};
/// let tape = Tape::<f64>::new();
/// let x = tape.constant(Tensor::from_vec(vec![0.0, -1000.0], &[2])?);
/// assert_eq!(ops::sigmoid(x)?.value().data(), &[0.5, 0.0]);
/// # Ok::<(), autograd::Error>(())
/// ```
#[track_caller]
pub fn sigmoid<T: Element>(x: Var<'_, T>) -> Result<Var<'_, T>> {
    let y = Tensor::from_shape_vec(x.shape(), crate::par_map_costly(x.value().data(), logistic));
    let saved = y.clone();
    x.tape()
        .record("sigmoid", &[x], y, || SigmoidBackward(saved))
}

/// `1 / (1 + e^-v)` for one value, without overflow for large |v| (also
/// softplus's derivative).
#[inline]
pub(crate) fn logistic<T: Element>(v: T) -> T {
    if v >= T::ZERO {
        T::ONE / (T::ONE + (-v).exp())
    } else {
        let e = v.exp();
        e / (T::ONE + e)
    }
}

struct SigmoidBackward<T>(Tensor<T>);

impl<T: Element> Backward<T> for SigmoidBackward<T> {
    fn backward(&self, g: &Tensor<T>, _: &[bool]) -> Result<InputGrads<T>> {
        Ok(smallvec![Some(Tensor::from_shape_vec(
            g.shape().into(),
            crate::par_zip(g.data(), self.0.data(), |g, y| g * y * (T::ONE - y))
        ))])
    }
}
