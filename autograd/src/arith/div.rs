//! `div`: elementwise quotient with broadcasting.
//!
//! Forward: `y = a / b`.
//!
//! Backward: `dL/da = sum_to(g / b, shape(a))`,
//! `dL/db = sum_to(-g * a / b^2, shape(b))`. Saves both inputs.
//! Division by zero gives Inf/NaN as in PyTorch (anomaly detection reports it).

use smallvec::smallvec;

use crate::{Backward, Element, InputGrads, Result, Tensor, Var};

/// `a / b` elementwise, with broadcasting.
///
/// ```
/// use autograd::{Tape, Tensor};
/// let tape = Tape::<f32>::new();
/// let a = tape.constant(Tensor::from_vec(vec![1.0, 3.0], &[2])?);
/// let b = tape.constant(Tensor::scalar(2.0));
/// assert_eq!(autograd::arith::div(a, b)?.value().data(), &[0.5, 1.5]);
/// # Ok::<(), autograd::Error>(())
/// ```
#[track_caller]
pub fn div<'t, T: Element>(a: Var<'t, T>, b: Var<'t, T>) -> Result<Var<'t, T>> {
    let (av, bv) = (a.value(), b.value());
    let y = av.zip_broadcast(&bv, "div", |x, y| x / y)?;
    a.tape()
        .record("div", &[a, b], y, || DivBackward { a: av, b: bv })
}

struct DivBackward<T> {
    a: Tensor<T>,
    b: Tensor<T>,
}

impl<T: Element> Backward<T> for DivBackward<T> {
    fn backward(&self, g: &Tensor<T>, needs: &[bool]) -> Result<InputGrads<T>> {
        let ga = if needs[0] {
            Some(
                g.zip_broadcast(&self.b, "div", |g, b| g / b)?
                    .sum_to(self.a.shape()),
            )
        } else {
            None
        };
        let gb = if needs[1] {
            // -g * a / b^2 = -(g * a / b) / b, in the broadcast shape
            let ga_b = g.zip_broadcast(&self.a, "div", |g, a| g * a)?;
            Some(
                ga_b.zip_broadcast(&self.b, "div", |ga, b| -ga / (b * b))?
                    .sum_to(self.b.shape()),
            )
        } else {
            None
        };
        Ok(smallvec![ga, gb])
    }
}
