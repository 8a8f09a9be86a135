//! `max`: maximum along one axis.
//!
//! Forward: `y[o, j] = max_i x[o, i, j]`; the first maximal index is the
//! argmax (saved). NaN propagates, as in PyTorch.
//!
//! Backward: `dL/dx[o, i, j] = g[o, j] if i == argmax[o, j] else 0`: the
//! gradient flows only to the winning element.

use autograd::{
    fmt_shape, smallvec::smallvec, Backward, Element, Error, InputGrads, Result, Shape, Tensor, Var,
};

/// Maximum along `axis` (negative counts from the end); errors on an empty axis.
///
/// ```
/// use autograd::{Tape, Tensor};
/// let tape = Tape::<f32>::new();
/// let x = tape.constant(Tensor::from_vec(vec![1.0, 5.0, 3.0, 4.0, 2.0, 0.0], &[2, 3])?);
/// assert_eq!(ops::max(x, 1, false)?.value().data(), &[5.0, 4.0]);
/// # Ok::<(), autograd::Error>(())
/// ```
#[track_caller]
pub fn max<T: Element>(x: Var<'_, T>, axis: isize, keepdim: bool) -> Result<Var<'_, T>> {
    let xv = x.value();
    let ax = crate::norm_axis("max", axis, xv.shape())?;
    let (outer, len, inner) = crate::split_axis(xv.shape(), ax);
    if len == 0 {
        return Err(Error::shape(
            "max",
            format!(
                "cannot take the max over axis {axis} of size 0 (shape {})",
                fmt_shape(xv.shape())
            ),
        ));
    }
    let d = xv.data();
    let mut out = vec![T::NEG_INFINITY; outer * inner];
    let mut arg = vec![0u32; outer * inner];
    for o in 0..outer {
        for j in 0..inner {
            let mut best = d[o * len * inner + j];
            let mut bi = 0;
            for i in 1..len {
                let v = d[(o * len + i) * inner + j];
                if v > best || (v.is_nan() && !best.is_nan()) {
                    best = v;
                    bi = i;
                }
            }
            out[o * inner + j] = best;
            arg[o * inner + j] = bi as u32;
        }
    }
    let y = Tensor::from_shape_vec(crate::reduced_shape(xv.shape(), ax, keepdim), out);
    let in_shape = Shape::from_slice(xv.shape());
    x.tape().record("max", &[x], y, || MaxBackward {
        in_shape,
        axis: ax,
        arg,
    })
}

struct MaxBackward {
    in_shape: Shape,
    axis: usize,
    arg: Vec<u32>,
}

impl<T: Element> Backward<T> for MaxBackward {
    fn backward(&self, g: &Tensor<T>, _: &[bool]) -> Result<InputGrads<T>> {
        let (outer, len, inner) = crate::split_axis(&self.in_shape, self.axis);
        let mut gx = vec![T::ZERO; outer * len * inner];
        let gd = g.data();
        for o in 0..outer {
            for j in 0..inner {
                let i = self.arg[o * inner + j] as usize;
                gx[(o * len + i) * inner + j] = gd[o * inner + j];
            }
        }
        Ok(smallvec![Some(Tensor::from_shape_vec(
            self.in_shape.clone(),
            gx
        ))])
    }
}
