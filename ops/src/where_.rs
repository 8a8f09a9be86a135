//! `where_`: `a` where the mask is true, `b` elsewhere (PyTorch's
//! `torch.where(cond, a, b)`; `masked_fill(x, mask, v)` is
//! `where_(mask, v, x)` with a constant `v`).
//!
//! Forward: `y[i] = if mask[i] { a[i] } else { b[i] }` (one shape for `a`,
//! `b` and the mask, which is given as booleans in row-major order).
//! Backward: `dL/da = g` where the mask is true, 0 elsewhere; `dL/db` the
//! other way round.

use autograd::{
    fmt_shape, smallvec::smallvec, Backward, Element, Error, InputGrads, Result, Tensor, Var,
};

/// `a` where `mask` is true, `b` elsewhere.
///
/// ```
/// use autograd::{Tape, Tensor};
/// let tape = Tape::<f32>::new();
/// let a = tape.constant(Tensor::from_vec(vec![1.0, 2.0, 3.0], &[3])?);
/// let b = tape.constant(Tensor::zeros(&[3]));
/// assert_eq!(ops::where_(&[true, false, true], a, b)?.value().data(), &[1.0, 0.0, 3.0]);
/// assert_eq!(ops::masked_fill(a, &[false, true, false], -1.0)?.value().data(), &[1.0, -1.0, 3.0]);
/// # Ok::<(), autograd::Error>(())
/// ```
#[track_caller]
pub fn where_<'t, T: Element>(mask: &[bool], a: Var<'t, T>, b: Var<'t, T>) -> Result<Var<'t, T>> {
    let (av, bv) = (a.value(), b.value());
    if av.shape() != bv.shape() || mask.len() != av.numel() {
        return Err(Error::shape(
            "where",
            format!(
                "a {} and b {} must have one shape, and the mask ({} values) as many elements",
                fmt_shape(av.shape()),
                fmt_shape(bv.shape()),
                mask.len()
            ),
        ));
    }
    let data = mask
        .iter()
        .zip(av.data().iter().zip(bv.data()))
        .map(|(&m, (&x, &y))| if m { x } else { y })
        .collect();
    let y = Tensor::from_shape_vec(av.shape().into(), data);
    let mask = mask.to_vec();
    a.tape().record("where", &[a, b], y, || WhereBackward(mask))
}

/// `x` with `value` where `mask` is true (PyTorch's `masked_fill`); no
/// gradient flows to the filled entries.
#[track_caller]
pub fn masked_fill<'t, T: Element>(x: Var<'t, T>, mask: &[bool], value: f64) -> Result<Var<'t, T>> {
    let fill = x
        .tape()
        .constant(Tensor::full(&x.shape(), T::from_f64(value)));
    where_(mask, fill, x)
}

struct WhereBackward(Vec<bool>);

impl<T: Element> Backward<T> for WhereBackward {
    fn backward(&self, g: &Tensor<T>, needs: &[bool]) -> Result<InputGrads<T>> {
        let pick = |keep: bool| {
            let d = g
                .data()
                .iter()
                .zip(&self.0)
                .map(|(&v, &m)| if m == keep { v } else { T::ZERO })
                .collect();
            Tensor::from_shape_vec(g.shape().into(), d)
        };
        Ok(smallvec![
            needs[0].then(|| pick(true)),
            needs[1].then(|| pick(false))
        ])
    }
}
