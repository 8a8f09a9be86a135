//! `narrow`: the slice `start..start + len` of `x` along `axis`
//! (PyTorch's `x.narrow(dim, start, length)`, `x[..., start:start+len, ...]`).
//!
//! Forward: `y[o, i, k] = x[o, start + i, k]`, viewing `x` as
//! `[outer, shape[axis], inner]`.
//! Backward: `dL/dx` is zero except `dL/dx[o, start + i, k] = g[o, i, k]`.

use autograd::{
    fmt_shape, smallvec::smallvec, Backward, Element, Error, InputGrads, Result, Shape, Tensor, Var,
};

/// The `len` entries of `x` from `start` along `axis` (negative axes count
/// from the end).
///
/// ```
/// use autograd::{Tape, Tensor};
/// let tape = Tape::<f32>::new();
/// let x = tape.constant(Tensor::from_vec((0..6).map(|v| v as f32).collect(), &[2, 3])?);
/// assert_eq!(ops::narrow(x, -1, 1, 2)?.value().data(), &[1.0, 2.0, 4.0, 5.0]);
/// let e = ops::narrow(x, 1, 2, 2).unwrap_err().to_string();
/// assert!(e.contains("narrow: 2..4 is outside axis 1 of [2, 3]"), "{e}");
/// # Ok::<(), autograd::Error>(())
/// ```
#[track_caller]
pub fn narrow<T: Element>(
    x: Var<'_, T>,
    axis: isize,
    start: usize,
    len: usize,
) -> Result<Var<'_, T>> {
    let xv = x.value();
    let shape = xv.shape();
    let a = crate::norm_axis("narrow", axis, shape)?;
    let end = start.checked_add(len).filter(|&e| e <= shape[a]);
    let Some(end) = end else {
        return Err(Error::shape(
            "narrow",
            format!(
                "{start}..{} is outside axis {a} of {}",
                start.saturating_add(len),
                fmt_shape(shape)
            ),
        ));
    };
    let (outer, n, inner) = crate::split_axis(shape, a);
    let mut out = Vec::with_capacity(outer * len * inner);
    for o in 0..outer {
        out.extend_from_slice(&xv.data()[(o * n + start) * inner..(o * n + end) * inner]);
    }
    let mut ys = Shape::from_slice(shape);
    ys[a] = len;
    let y = Tensor::from_shape_vec(ys, out);
    let xs = Shape::from_slice(shape);
    x.tape().record("narrow", &[x], y, || NarrowBackward {
        shape: xs,
        axis: a,
        start,
    })
}

struct NarrowBackward {
    shape: Shape,
    axis: usize,
    start: usize,
}

impl<T: Element> Backward<T> for NarrowBackward {
    fn backward(&self, g: &Tensor<T>, _: &[bool]) -> Result<InputGrads<T>> {
        let (outer, n, inner) = crate::split_axis(&self.shape, self.axis);
        let len = g.shape()[self.axis];
        let mut dx = vec![T::ZERO; outer * n * inner];
        for o in 0..outer {
            let dst = (o * n + self.start) * inner;
            dx[dst..dst + len * inner]
                .copy_from_slice(&g.data()[o * len * inner..(o + 1) * len * inner]);
        }
        Ok(smallvec![Some(Tensor::from_shape_vec(
            self.shape.clone(),
            dx
        ))])
    }
}
