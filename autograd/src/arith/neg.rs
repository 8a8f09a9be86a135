//! `neg`: elementwise negation.
//!
//! Forward: `y = -x`. Backward: `dL/dx = -g`.

use smallvec::smallvec;

use crate::{Backward, Element, InputGrads, Result, Tensor, Var};

/// `-x`.
///
/// ```
/// use autograd::{Tape, Tensor};
/// let tape = Tape::<f32>::new();
/// let x = tape.constant(Tensor::from_vec(vec![1.0, -2.0], &[2])?);
/// assert_eq!(autograd::arith::neg(x)?.value().data(), &[-1.0, 2.0]);
/// # Ok::<(), autograd::Error>(())
/// ```
#[track_caller]
pub fn neg<T: Element>(x: Var<'_, T>) -> Result<Var<'_, T>> {
    let y = x.value().map(|v| -v);
    x.tape().record("neg", &[x], y, || NegBackward)
}

struct NegBackward;

impl<T: Element> Backward<T> for NegBackward {
    fn backward(&self, g: &Tensor<T>, _: &[bool]) -> Result<InputGrads<T>> {
        Ok(smallvec![Some(g.map(|v| -v))])
    }
}
