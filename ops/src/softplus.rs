//! `softplus`: smooth ReLU, `log(1 + e^x)` (PyTorch's `F.softplus` with
//! `beta = 1`).
//!
//! Forward: `y = max(x, 0) + log(1 + e^-|x|)`, which neither overflows for
//! large `x` nor loses the small tail for very negative `x`.
//! Backward: `dL/dx = g * sigmoid(x)` (saves the input).
//!
//! It is the loss of a logit against a binary target:
//! `BCEWithLogits(x, y) = softplus(x) - x y` (see `nn::binary_cross_entropy_with_logits`).
//! PyTorch switches to `y = x` above `x = 20` (`threshold`); the two agree
//! to within 2e-9 there, so in f32 exactly.

use autograd::{smallvec::smallvec, Backward, Element, InputGrads, Result, Tensor, Var};

/// `log(1 + e^x)` elementwise, stable for every `x`.
///
/// ```
/// use autograd::{Tape, Tensor};
/// let tape = Tape::<f64>::new();
/// let x = tape.constant(Tensor::from_vec(vec![0.0, 1000.0, -1000.0], &[3])?);
/// assert_eq!(ops::softplus(x)?.value().data(), &[2f64.ln(), 1000.0, 0.0]);
/// # Ok::<(), autograd::Error>(())
/// ```
#[track_caller]
pub fn softplus<T: Element>(x: Var<'_, T>) -> Result<Var<'_, T>> {
    let xv = x.value();
    let y = Tensor::from_shape_vec(
        x.shape(),
        crate::par_map_costly(xv.data(), |v| {
            v.max(T::ZERO) + (T::ONE + (-v.abs()).exp()).ln()
        }),
    );
    x.tape()
        .record("softplus", &[x], y, || SoftplusBackward(xv))
}

struct SoftplusBackward<T>(Tensor<T>);

impl<T: Element> Backward<T> for SoftplusBackward<T> {
    fn backward(&self, g: &Tensor<T>, _: &[bool]) -> Result<InputGrads<T>> {
        Ok(smallvec![Some(Tensor::from_shape_vec(
            g.shape().into(),
            crate::par_zip(g.data(), self.0.data(), |g, x| g
                * crate::sigmoid::logistic(x))
        ))])
    }
}
