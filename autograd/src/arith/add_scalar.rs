//! `add_scalar`: add a constant.
//!
//! Forward: `y = x + s`. Backward: `dL/dx = g`.

use smallvec::smallvec;

use crate::{Backward, Element, InputGrads, Result, Tensor, Var};

/// `x + s` for a constant `s`.
///
/// ```
/// use autograd::{Tape, Tensor};
/// let tape = Tape::<f32>::new();
/// let x = tape.constant(Tensor::from_vec(vec![1.0, 2.0], &[2])?);
/// assert_eq!(autograd::arith::add_scalar(x, 0.5)?.value().data(), &[1.5, 2.5]);
/// # Ok::<(), autograd::Error>(())
/// ```
#[track_caller]
pub fn add_scalar<T: Element>(x: Var<'_, T>, s: f64) -> Result<Var<'_, T>> {
    let s = T::from_f64(s);
    let y = Tensor::from_shape_vec(x.shape(), crate::par::par_map(x.value().data(), |v| v + s));
    x.tape().record("add_scalar", &[x], y, || AddScalarBackward)
}

struct AddScalarBackward;

impl<T: Element> Backward<T> for AddScalarBackward {
    fn backward(&self, g: &Tensor<T>, _: &[bool]) -> Result<InputGrads<T>> {
        Ok(smallvec![Some(g.clone())])
    }
}
