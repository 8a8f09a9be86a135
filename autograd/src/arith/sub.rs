//! `sub`: elementwise difference with broadcasting.
//!
//! Forward: `y = a - b`.
//!
//! Backward: `dL/da = sum_to(g, shape(a))`, `dL/db = -sum_to(g, shape(b))`.

use smallvec::smallvec;

use crate::{Backward, Element, InputGrads, Result, Shape, Tensor, Var};

/// `a - b` with broadcasting.
///
/// ```
/// use autograd::{Tape, Tensor};
/// let tape = Tape::<f32>::new();
/// let a = tape.constant(Tensor::from_vec(vec![5.0, 7.0], &[2])?);
/// let b = tape.constant(Tensor::scalar(1.0));
/// assert_eq!(autograd::arith::sub(a, b)?.value().data(), &[4.0, 6.0]);
/// # Ok::<(), autograd::Error>(())
/// ```
#[track_caller]
pub fn sub<'t, T: Element>(a: Var<'t, T>, b: Var<'t, T>) -> Result<Var<'t, T>> {
    let (av, bv) = (a.value(), b.value());
    let y = av.zip_broadcast(&bv, "sub", |x, y| x - y)?;
    let (sa, sb) = (Shape::from_slice(av.shape()), Shape::from_slice(bv.shape()));
    a.tape()
        .record("sub", &[a, b], y, || SubBackward { sa, sb })
}

struct SubBackward {
    sa: Shape,
    sb: Shape,
}

impl<T: Element> Backward<T> for SubBackward {
    fn backward(&self, g: &Tensor<T>, needs: &[bool]) -> Result<InputGrads<T>> {
        Ok(smallvec![
            needs[0].then(|| g.sum_to(&self.sa)),
            needs[1].then(|| g.sum_to(&self.sb).map(|v| -v))
        ])
    }
}
