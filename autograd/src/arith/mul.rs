//! `mul`: elementwise product with broadcasting.
//!
//! Forward: `y = a * b`.
//!
//! Backward: `dL/da = sum_to(g * b, shape(a))`, `dL/db = sum_to(g * a, shape(b))`.
//! Saves both inputs.

use smallvec::smallvec;

use crate::{Backward, Element, InputGrads, Result, Tensor, Var};

/// `a * b` elementwise, with broadcasting.
///
/// ```
/// use autograd::{Tape, Tensor};
/// let tape = Tape::<f32>::new();
/// let a = tape.constant(Tensor::from_vec(vec![1.0, 2.0], &[2])?);
/// let b = tape.constant(Tensor::from_vec(vec![3.0, 4.0], &[2])?);
/// assert_eq!(autograd::arith::mul(a, b)?.value().data(), &[3.0, 8.0]);
/// # Ok::<(), autograd::Error>(())
/// ```
#[track_caller]
pub fn mul<'t, T: Element>(a: Var<'t, T>, b: Var<'t, T>) -> Result<Var<'t, T>> {
    let (av, bv) = (a.value(), b.value());
    let y = av.zip_broadcast(&bv, "mul", |x, y| x * y)?;
    a.tape()
        .record("mul", &[a, b], y, || MulBackward { a: av, b: bv })
}

struct MulBackward<T> {
    a: Tensor<T>,
    b: Tensor<T>,
}

impl<T: Element> Backward<T> for MulBackward<T> {
    fn backward(&self, g: &Tensor<T>, needs: &[bool]) -> Result<InputGrads<T>> {
        let ga = if needs[0] {
            Some(
                g.zip_broadcast(&self.b, "mul", |g, b| g * b)?
                    .sum_to(self.a.shape()),
            )
        } else {
            None
        };
        let gb = if needs[1] {
            Some(
                g.zip_broadcast(&self.a, "mul", |g, a| g * a)?
                    .sum_to(self.b.shape()),
            )
        } else {
            None
        };
        Ok(smallvec![ga, gb])
    }
}
