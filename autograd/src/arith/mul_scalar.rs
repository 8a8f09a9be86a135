//! `mul_scalar`: multiply by a constant.
//!
//! Forward: `y = s x`. Backward: `dL/dx = s g`.

use smallvec::smallvec;

use crate::{Backward, Element, InputGrads, Result, Tensor, Var};

/// `s * x` for a constant `s`.
///
/// ```
/// use autograd::{Tape, Tensor};
/// let tape = Tape::<f32>::new();
/// let x = tape.constant(Tensor::from_vec(vec![1.0, 2.0], &[2])?);
/// assert_eq!(autograd::arith::mul_scalar(x, 3.0)?.value().data(), &[3.0, 6.0]);
/// # Ok::<(), autograd::Error>(())
/// ```
#[track_caller]
pub fn mul_scalar<T: Element>(x: Var<'_, T>, s: f64) -> Result<Var<'_, T>> {
    let s = T::from_f64(s);
    let y = Tensor::from_shape_vec(x.shape(), crate::par::par_map(x.value().data(), |v| v * s));
    x.tape()
        .record("mul_scalar", &[x], y, || MulScalarBackward(s))
}

struct MulScalarBackward<T>(T);

impl<T: Element> Backward<T> for MulScalarBackward<T> {
    fn backward(&self, g: &Tensor<T>, _: &[bool]) -> Result<InputGrads<T>> {
        let s = self.0;
        Ok(smallvec![Some(Tensor::from_shape_vec(
            g.shape().into(),
            crate::par::par_map(g.data(), |v| v * s)
        ))])
    }
}
