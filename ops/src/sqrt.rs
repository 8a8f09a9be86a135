//! `sqrt`: elementwise square root.
//!
//! Forward: `y = sqrt(x)`. Backward: `dL/dx = g / (2 y)` (saves the output).

use autograd::{smallvec::smallvec, Backward, Element, InputGrads, Result, Tensor, Var};

/// `sqrt(x)` elementwise.
///
/// ```
/// use autograd::{Tape, Tensor};
/// let tape = Tape::<f32>::new();
/// let x = tape.constant(Tensor::from_vec(vec![4.0, 9.0], &[2])?);
/// assert_eq!(ops::sqrt(x)?.value().data(), &[2.0, 3.0]);
/// # Ok::<(), autograd::Error>(())
/// ```
#[track_caller]
pub fn sqrt<T: Element>(x: Var<'_, T>) -> Result<Var<'_, T>> {
    let y = Tensor::from_shape_vec(x.shape(), crate::par_map(x.value().data(), |v| v.sqrt()));
    let saved = y.clone();
    x.tape().record("sqrt", &[x], y, || SqrtBackward(saved))
}

struct SqrtBackward<T>(Tensor<T>);

impl<T: Element> Backward<T> for SqrtBackward<T> {
    fn backward(&self, g: &Tensor<T>, _: &[bool]) -> Result<InputGrads<T>> {
        let two = T::from_f64(2.0);
        Ok(smallvec![Some(Tensor::from_shape_vec(
            g.shape().into(),
            crate::par_zip(g.data(), self.0.data(), |g, y| g / (two * y))
        ))])
    }
}
