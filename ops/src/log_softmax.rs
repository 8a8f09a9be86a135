//! `log_softmax`: logarithm of the softmax along an axis, numerically stable.
//!
//! Forward: `y_i = (x_i - m) - ln sum_j e^(x_j - m)` with `m = max_j x_j`
//! (subtracting the max keeps `e^` from overflowing), evaluated in that
//! order, as PyTorch does: `x_i - m` is exact for nearby values, whereas
//! `x_i - (m + ln s)` rounds `m + ln s` at the magnitude of `m` first (for
//! logits of -1e4 in f32 that loses three digits of `ln 2`).
//!
//! Backward: `dL/dx_i = g_i - softmax_i sum_j g_j` with `softmax = e^y`
//! (saves the output).

use autograd::{smallvec::smallvec, Backward, Element, InputGrads, Result, Tensor, Var};

/// `log(softmax(x))` along `axis` (negative counts from the end).
///
/// ```
/// use autograd::{Tape, Tensor};
/// let tape = Tape::<f64>::new();
/// let x = tape.constant(Tensor::from_vec(vec![1000.0, 1000.0], &[1, 2])?);
/// let y = ops::log_softmax(x, -1)?.value();
/// assert!((y.data()[0] - (0.5f64).ln()).abs() < 1e-12); // no overflow
/// # Ok::<(), autograd::Error>(())
/// ```
#[track_caller]
pub fn log_softmax<T: Element>(x: Var<'_, T>, axis: isize) -> Result<Var<'_, T>> {
    let xv = x.value();
    let ax = crate::norm_axis("log_softmax", axis, xv.shape())?;
    let (outer, len, inner) = crate::split_axis(xv.shape(), ax);
    let d = xv.data();
    let mut out = vec![T::ZERO; d.len()];
    for o in 0..outer {
        for j in 0..inner {
            let at = |i: usize| (o * len + i) * inner + j;
            let mut mx = T::NEG_INFINITY;
            for i in 0..len {
                mx = mx.max(d[at(i)]);
            }
            if !mx.is_finite() {
                mx = T::ZERO; // all -inf (or inf/NaN): let the arithmetic propagate
            }
            let mut s = T::ZERO;
            for i in 0..len {
                s += (d[at(i)] - mx).exp();
            }
            let ls = s.ln();
            for i in 0..len {
                out[at(i)] = (d[at(i)] - mx) - ls;
            }
        }
    }
    let y = Tensor::from_shape_vec(x.shape(), out);
    let saved = y.clone();
    x.tape()
        .record("log_softmax", &[x], y, || LogSoftmaxBackward {
            y: saved,
            ax,
        })
}

struct LogSoftmaxBackward<T> {
    y: Tensor<T>,
    ax: usize,
}

impl<T: Element> Backward<T> for LogSoftmaxBackward<T> {
    fn backward(&self, g: &Tensor<T>, _: &[bool]) -> Result<InputGrads<T>> {
        let (outer, len, inner) = crate::split_axis(self.y.shape(), self.ax);
        let (yd, gd) = (self.y.data(), g.data());
        let mut gx = vec![T::ZERO; yd.len()];
        for o in 0..outer {
            for j in 0..inner {
                let at = |i: usize| (o * len + i) * inner + j;
                let mut s = T::ZERO;
                for i in 0..len {
                    s += gd[at(i)];
                }
                for i in 0..len {
                    gx[at(i)] = gd[at(i)] - yd[at(i)].exp() * s;
                }
            }
        }
        Ok(smallvec![Some(Tensor::from_shape_vec(
            g.shape().into(),
            gx
        ))])
    }
}
