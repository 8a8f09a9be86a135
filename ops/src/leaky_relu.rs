//! `leaky_relu`: `x` where `x > 0`, `negative_slope * x` elsewhere
//! (PyTorch's `F.leaky_relu`, default slope 0.01).
//!
//! Backward: `dL/dx = g` where `x > 0`, `g * negative_slope` elsewhere (at
//! 0 too, as PyTorch). Saves the input.

use autograd::{smallvec::smallvec, Backward, Element, Error, InputGrads, Result, Tensor, Var};

/// `max(x, 0) + negative_slope * min(x, 0)` elementwise.
///
/// ```
/// use autograd::{Tape, Tensor};
/// let tape = Tape::<f64>::new();
/// let x = tape.constant(Tensor::from_vec(vec![2.0, -2.0], &[2])?);
/// assert_eq!(ops::leaky_relu(x, 0.01)?.value().data(), &[2.0, -0.02]);
/// # Ok::<(), autograd::Error>(())
/// ```
#[track_caller]
pub fn leaky_relu<T: Element>(x: Var<'_, T>, negative_slope: f64) -> Result<Var<'_, T>> {
    if !negative_slope.is_finite() {
        return Err(Error::invalid(
            "leaky_relu",
            format!("negative_slope {negative_slope} must be finite"),
        ));
    }
    let s = T::from_f64(negative_slope);
    let xv = x.value();
    let y = Tensor::from_shape_vec(
        x.shape(),
        crate::par_map(xv.data(), |v| if v > T::ZERO { v } else { v * s }),
    );
    x.tape()
        .record("leaky_relu", &[x], y, || LeakyReluBackward(xv, s))
}

struct LeakyReluBackward<T>(Tensor<T>, T);

impl<T: Element> Backward<T> for LeakyReluBackward<T> {
    fn backward(&self, g: &Tensor<T>, _: &[bool]) -> Result<InputGrads<T>> {
        let s = self.1;
        Ok(smallvec![Some(Tensor::from_shape_vec(
            g.shape().into(),
            crate::par_zip(g.data(), self.0.data(), |g, x| if x > T::ZERO {
                g
            } else {
                g * s
            })
        ))])
    }
}
