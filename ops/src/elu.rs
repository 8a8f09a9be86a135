//! `elu`: `x` where `x > 0`, `alpha (e^x - 1)` elsewhere (PyTorch's
//! `F.elu`, default alpha 1).
//!
//! Backward: `dL/dx = g` where `x > 0`, `g alpha e^x` elsewhere (at 0 too,
//! as PyTorch). Saves the input.

use autograd::{smallvec::smallvec, Backward, Element, Error, InputGrads, Result, Tensor, Var};

/// Exponential linear unit, elementwise (`e^x - 1` through `exp_m1`, exact
/// near 0).
///
/// ```
/// use autograd::{Tape, Tensor};
/// let tape = Tape::<f64>::new();
/// let x = tape.constant(Tensor::from_vec(vec![2.0, -1.0], &[2])?);
/// assert_eq!(ops::elu(x, 1.0)?.value().data(), &[2.0, (-1f64).exp_m1()]);
/// # Ok::<(), autograd::Error>(())
/// ```
#[track_caller]
pub fn elu<T: Element>(x: Var<'_, T>, alpha: f64) -> Result<Var<'_, T>> {
    if !alpha.is_finite() {
        return Err(Error::invalid(
            "elu",
            format!("alpha {alpha} must be finite"),
        ));
    }
    let a = T::from_f64(alpha);
    let xv = x.value();
    let y = Tensor::from_shape_vec(
        x.shape(),
        crate::par_map_costly(xv.data(), |v| if v > T::ZERO { v } else { a * v.exp_m1() }),
    );
    x.tape().record("elu", &[x], y, || EluBackward(xv, a))
}

struct EluBackward<T>(Tensor<T>, T);

impl<T: Element> Backward<T> for EluBackward<T> {
    fn backward(&self, g: &Tensor<T>, _: &[bool]) -> Result<InputGrads<T>> {
        let a = self.1;
        Ok(smallvec![Some(Tensor::from_shape_vec(
            g.shape().into(),
            crate::par_zip(g.data(), self.0.data(), |g, x| if x > T::ZERO {
                g
            } else {
                g * a * x.exp()
            })
        ))])
    }
}
