//! `reshape`: same elements, new shape (row-major order kept, no copy).
//!
//! Forward: `y = x` viewed with a new shape (one dim may be `-1`, inferred).
//! Backward: `dL/dx = reshape(g, shape(x))`.

use autograd::{
    smallvec::smallvec, Backward, Element, InputGrads, IntoShape, Result, Shape, Tensor, Var,
};

/// `x` with a new shape of the same size; one dim may be `-1`. The shape is
/// any [`IntoShape`], the argument `Tensor::reshape` takes.
///
/// ```
/// use autograd::{Tape, Tensor};
/// let tape = Tape::<f32>::new();
/// let x = tape.constant(Tensor::zeros(&[2, 3, 4]));
/// assert_eq!(ops::reshape(x, &[2, -1])?.shape().as_slice(), &[2, 12]);
/// assert!(ops::reshape(x, &[5, 5]).unwrap_err().to_string().contains("reshape"));
/// # Ok::<(), autograd::Error>(())
/// ```
#[track_caller]
pub fn reshape<'t, T: Element>(x: Var<'t, T>, shape: impl IntoShape) -> Result<Var<'t, T>> {
    let xv = x.value();
    let y = xv.reshape(shape)?;
    let in_shape = Shape::from_slice(xv.shape());
    x.tape()
        .record("reshape", &[x], y, || ReshapeBackward(in_shape))
}

struct ReshapeBackward(Shape);

impl<T: Element> Backward<T> for ReshapeBackward {
    fn backward(&self, g: &Tensor<T>, _: &[bool]) -> Result<InputGrads<T>> {
        Ok(smallvec![Some(g.reshape(&self.0)?)])
    }
}
