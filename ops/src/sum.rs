//! `sum`: sum of all elements, or along one axis.
//!
//! Forward: `y = sum_i x_i` (all), or `y[o, j] = sum_i x[o, i, j]` along an
//! axis (`keepdim` keeps it with size 1, as in PyTorch).
//!
//! Backward: `dL/dx[o, i, j] = g[o, j]`: the gradient is broadcast back over
//! the summed axis.

use autograd::{smallvec::smallvec, Backward, Element, InputGrads, Result, Shape, Tensor, Var};

/// Sum of all elements, as a 0-d tensor.
///
/// ```
/// use autograd::{Tape, Tensor};
/// let tape = Tape::<f32>::new();
/// let x = tape.constant(Tensor::from_vec(vec![1.0, 2.0, 3.0], &[3])?);
/// assert_eq!(ops::sum_all(x)?.value().item()?, 6.0);
/// # Ok::<(), autograd::Error>(())
/// ```
#[track_caller]
pub fn sum_all<T: Element>(x: Var<'_, T>) -> Result<Var<'_, T>> {
    let xv = x.value();
    let s: T = xv.data().iter().copied().sum();
    let shape = Shape::from_slice(xv.shape());
    x.tape()
        .record("sum", &[x], Tensor::scalar(s), || SumBackward {
            in_shape: shape,
            axis: None,
        })
}

/// Sum along `axis` (negative counts from the end).
///
/// ```
/// use autograd::{Tape, Tensor};
/// let tape = Tape::<f32>::new();
/// let x = tape.constant(Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3])?);
/// assert_eq!(ops::sum(x, 1, false)?.value().data(), &[6.0, 15.0]);
/// assert_eq!(ops::sum(x, 0, true)?.value().shape(), &[1, 3]);
/// # Ok::<(), autograd::Error>(())
/// ```
#[track_caller]
pub fn sum<T: Element>(x: Var<'_, T>, axis: isize, keepdim: bool) -> Result<Var<'_, T>> {
    let xv = x.value();
    let ax = crate::norm_axis("sum", axis, xv.shape())?;
    let y = sum_axis(&xv, ax, keepdim);
    let shape = Shape::from_slice(xv.shape());
    x.tape().record("sum", &[x], y, || SumBackward {
        in_shape: shape,
        axis: Some(ax),
    })
}

/// Sum along an axis of a tensor (no tape).
pub(crate) fn sum_axis<T: Element>(x: &Tensor<T>, ax: usize, keepdim: bool) -> Tensor<T> {
    let (outer, len, inner) = crate::split_axis(x.shape(), ax);
    let d = x.data();
    let mut out = vec![T::ZERO; outer * inner];
    for o in 0..outer {
        let dst = &mut out[o * inner..(o + 1) * inner];
        for i in 0..len {
            let src = &d[(o * len + i) * inner..(o * len + i + 1) * inner];
            for (a, &b) in dst.iter_mut().zip(src) {
                *a += b;
            }
        }
    }
    Tensor::from_shape_vec(crate::reduced_shape(x.shape(), ax, keepdim), out)
}

/// Broadcasts `g` (the reduced tensor, with or without keepdim) back over
/// `axis` of `in_shape`, times `scale`.
pub(crate) fn expand_axis<T: Element>(
    g: &Tensor<T>,
    in_shape: &[usize],
    axis: Option<usize>,
    scale: T,
) -> Tensor<T> {
    let n: usize = in_shape.iter().product();
    match axis {
        None => {
            let v = g.data()[0] * scale;
            Tensor::from_shape_vec(Shape::from_slice(in_shape), vec![v; n])
        }
        Some(ax) => {
            let (outer, len, inner) = crate::split_axis(in_shape, ax);
            let gd = g.data();
            let mut out = Vec::with_capacity(n);
            for o in 0..outer {
                for _ in 0..len {
                    out.extend(gd[o * inner..(o + 1) * inner].iter().map(|&v| v * scale));
                }
            }
            Tensor::from_shape_vec(Shape::from_slice(in_shape), out)
        }
    }
}

struct SumBackward {
    in_shape: Shape,
    axis: Option<usize>,
}

impl<T: Element> Backward<T> for SumBackward {
    fn backward(&self, g: &Tensor<T>, _: &[bool]) -> Result<InputGrads<T>> {
        Ok(smallvec![Some(expand_axis(
            g,
            &self.in_shape,
            self.axis,
            T::ONE
        ))])
    }
}
