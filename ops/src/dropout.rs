//! `dropout`: zero each element with probability p while training, scale the
//! rest by 1/(1-p) (inverted dropout, as PyTorch); identity in eval mode.
//!
//! Forward: `y = x * m / (1 - p)`, `m_i ~ Bernoulli(1 - p)` drawn from the
//! given RNG (seed it for reproducible runs). With p = 1 the output is 0.
//!
//! Backward: `dL/dx = g * m / (1 - p)` (saves the mask).

use autograd::{smallvec::smallvec, Backward, Element, Error, InputGrads, Result, Tensor, Var};
use rand::Rng;

/// Inverted dropout with drop probability `p`; `training == false` returns `x`.
///
/// ```
/// use autograd::{Tape, Tensor};
/// use rand::SeedableRng;
/// let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
/// let tape = Tape::<f32>::new();
/// let x = tape.constant(Tensor::ones(&[1000]));
/// let y = ops::dropout(x, 0.5, true, &mut rng)?.value();
/// assert!(y.data().iter().all(|&v| v == 0.0 || v == 2.0));
/// assert_eq!(ops::dropout(x, 0.5, false, &mut rng)?.id(), x.id());
/// # Ok::<(), autograd::Error>(())
/// ```
#[track_caller]
pub fn dropout<'t, T: Element, R: Rng + ?Sized>(
    x: Var<'t, T>,
    p: f64,
    training: bool,
    rng: &mut R,
) -> Result<Var<'t, T>> {
    if !(0.0..=1.0).contains(&p) {
        return Err(Error::invalid(
            "dropout",
            format!("probability {p} must be in [0, 1]"),
        ));
    }
    if !training || p == 0.0 {
        return Ok(x);
    }
    let xv = x.value();
    let scale = if p < 1.0 {
        T::from_f64(1.0 / (1.0 - p))
    } else {
        T::ZERO
    };
    let mask: Vec<T> = (0..xv.numel())
        .map(|_| {
            if rng.random::<f64>() >= p {
                scale
            } else {
                T::ZERO
            }
        })
        .collect();
    let y = Tensor::from_shape_vec(x.shape(), crate::par_zip(xv.data(), &mask, |a, m| a * m));
    x.tape()
        .record("dropout", &[x], y, || DropoutBackward(mask))
}

struct DropoutBackward<T>(Vec<T>);

impl<T: Element> Backward<T> for DropoutBackward<T> {
    fn backward(&self, g: &Tensor<T>, _: &[bool]) -> Result<InputGrads<T>> {
        Ok(smallvec![Some(Tensor::from_shape_vec(
            g.shape().into(),
            crate::par_zip(g.data(), &self.0, |g, m| g * m)
        ))])
    }
}
