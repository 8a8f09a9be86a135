//! `log`: elementwise natural logarithm.
//!
//! Forward: `y = ln x` (NaN for x < 0 and -Inf at 0, as in PyTorch).
//! Backward: `dL/dx = g / x` (saves the input).

use autograd::{smallvec::smallvec, Backward, Element, InputGrads, Result, Tensor, Var};

/// `ln x` elementwise.
///
/// ```
/// use autograd::{Tape, Tensor};
/// let tape = Tape::<f64>::new();
/// let x = tape.constant(Tensor::from_vec(vec![1.0, std::f64::consts::E], &[2])?);
/// assert_eq!(ops::log(x)?.value().data(), &[0.0, 1.0]);
/// # Ok::<(), autograd::Error>(())
/// ```
#[track_caller]
pub fn log<T: Element>(x: Var<'_, T>) -> Result<Var<'_, T>> {
    let xv = x.value();
    let y = Tensor::from_shape_vec(x.shape(), crate::par_map_costly(xv.data(), |v| v.ln()));
    x.tape().record("log", &[x], y, || LogBackward(xv))
}

struct LogBackward<T>(Tensor<T>);

impl<T: Element> Backward<T> for LogBackward<T> {
    fn backward(&self, g: &Tensor<T>, _: &[bool]) -> Result<InputGrads<T>> {
        Ok(smallvec![Some(Tensor::from_shape_vec(
            g.shape().into(),
            crate::par_zip(g.data(), self.0.data(), |g, x| g / x)
        ))])
    }
}
