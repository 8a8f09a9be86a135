//! `add`: elementwise sum with broadcasting.
//!
//! Forward: `y = a + b`, shapes broadcast as in NumPy/PyTorch.
//!
//! Backward: `dL/da = sum_to(g, shape(a))`, `dL/db = sum_to(g, shape(b))`,
//! where `sum_to` sums over the dims that broadcasting expanded.

use smallvec::smallvec;

use crate::{Backward, Element, InputGrads, Result, Shape, Tensor, Var};

/// `a + b` with broadcasting.
///
/// ```
/// use autograd::{Tape, Tensor};
/// let tape = Tape::<f32>::new();
/// let a = tape.constant(Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[2, 2])?);
/// let b = tape.constant(Tensor::from_vec(vec![10.0, 20.0], &[2])?);
/// assert_eq!(autograd::arith::add(a, b)?.value().data(), &[11.0, 22.0, 13.0, 24.0]);
/// # Ok::<(), autograd::Error>(())
/// ```
#[track_caller]
pub fn add<'t, T: Element>(a: Var<'t, T>, b: Var<'t, T>) -> Result<Var<'t, T>> {
    let (av, bv) = (a.value(), b.value());
    let y = av.zip_broadcast(&bv, "add", |x, y| x + y)?;
    let (sa, sb) = (Shape::from_slice(av.shape()), Shape::from_slice(bv.shape()));
    a.tape()
        .record("add", &[a, b], y, || AddBackward { sa, sb })
}

struct AddBackward {
    sa: Shape,
    sb: Shape,
}

impl<T: Element> Backward<T> for AddBackward {
    fn backward(&self, g: &Tensor<T>, needs: &[bool]) -> Result<InputGrads<T>> {
        Ok(smallvec![
            needs[0].then(|| g.sum_to(&self.sa)),
            needs[1].then(|| g.sum_to(&self.sb))
        ])
    }
}
