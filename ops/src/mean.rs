//! `mean`: mean of all elements, or along one axis.
//!
//! Forward: `y = (1/n) sum_i x_i`, where n is the number of elements reduced.
//!
//! Backward: `dL/dx_i = g / n`, broadcast back over the reduced axis.
//! The mean of an empty tensor is NaN, as in PyTorch.

use autograd::{smallvec::smallvec, Backward, Element, InputGrads, Result, Shape, Tensor, Var};

use crate::sum::{expand_axis, sum_axis};

/// Mean of all elements, as a 0-d tensor.
///
/// ```
/// use autograd::{Tape, Tensor};
/// let tape = Tape::<f32>::new();
/// let x = tape.constant(Tensor::from_vec(vec![1.0, 2.0, 6.0], &[3])?);
/// assert_eq!(ops::mean_all(x)?.value().item()?, 3.0);
/// # Ok::<(), autograd::Error>(())
/// ```
#[track_caller]
pub fn mean_all<T: Element>(x: Var<'_, T>) -> Result<Var<'_, T>> {
    let xv = x.value();
    let n = xv.numel();
    let s: T = xv.data().iter().copied().sum();
    let shape = Shape::from_slice(xv.shape());
    x.tape()
        .record("mean", &[x], Tensor::scalar(s / T::from_usize(n)), || {
            MeanBackward {
                in_shape: shape,
                axis: None,
                n,
            }
        })
}

/// Mean along `axis` (negative counts from the end).
///
/// ```
/// use autograd::{Tape, Tensor};
/// let tape = Tape::<f32>::new();
/// let x = tape.constant(Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[2, 2])?);
/// assert_eq!(ops::mean(x, -1, false)?.value().data(), &[1.5, 3.5]);
/// # Ok::<(), autograd::Error>(())
/// ```
#[track_caller]
pub fn mean<T: Element>(x: Var<'_, T>, axis: isize, keepdim: bool) -> Result<Var<'_, T>> {
    let xv = x.value();
    let ax = crate::norm_axis("mean", axis, xv.shape())?;
    let n = xv.shape()[ax];
    let inv = T::ONE / T::from_usize(n);
    let y = sum_axis(&xv, ax, keepdim).map(|v| v * inv);
    let shape = Shape::from_slice(xv.shape());
    x.tape().record("mean", &[x], y, || MeanBackward {
        in_shape: shape,
        axis: Some(ax),
        n,
    })
}

struct MeanBackward {
    in_shape: Shape,
    axis: Option<usize>,
    n: usize,
}

impl<T: Element> Backward<T> for MeanBackward {
    fn backward(&self, g: &Tensor<T>, _: &[bool]) -> Result<InputGrads<T>> {
        Ok(smallvec![Some(expand_axis(
            g,
            &self.in_shape,
            self.axis,
            T::ONE / T::from_usize(self.n)
        ))])
    }
}
