//! Layer functions without parameters, and losses.

use autograd::{fmt_shape, Element, Error, Result, Tensor, Var};
use ops::VarOps;
use rand::Rng;

use crate::layers::Mode;

pub use ops::{avg_pool2d, max_pool2d, relu, sigmoid, tanh};

/// `[N, ...]` to `[N, prod(...)]`.
///
/// ```
/// use autograd::{Tape, Tensor};
/// let tape = Tape::<f32>::new();
/// let x = tape.constant(Tensor::zeros(&[2, 3, 4, 4]));
/// assert_eq!(nn::flatten(x)?.shape().as_slice(), &[2, 48]);
/// # Ok::<(), autograd::Error>(())
/// ```
#[track_caller]
pub fn flatten<T: Element>(x: Var<'_, T>) -> Result<Var<'_, T>> {
    let s = x.shape();
    if s.is_empty() {
        return Err(Error::shape("flatten", "cannot flatten a 0-d tensor"));
    }
    let n = s[0] as isize;
    let rest: usize = s[1..].iter().product();
    ops::reshape(x, &[n, rest as isize])
}

/// Mean cross-entropy of `logits: [N, C]` against class `targets`:
/// `nll_loss(log_softmax(logits, 1), targets)`, as PyTorch's `F.cross_entropy`.
///
/// ```
/// use autograd::{Tape, Tensor};
/// let tape = Tape::<f64>::new();
/// let logits = tape.constant(Tensor::zeros(&[4, 10]));
/// let loss = nn::cross_entropy(logits, &[0, 1, 2, 3])?.value().item()?;
/// assert!((loss - 10f64.ln()).abs() < 1e-12); // the lecture's sanity check
/// # Ok::<(), autograd::Error>(())
/// ```
#[track_caller]
pub fn cross_entropy<'t, T: Element>(logits: Var<'t, T>, targets: &[usize]) -> Result<Var<'t, T>> {
    let s = logits.shape();
    if s.len() != 2 {
        return Err(Error::shape(
            "cross_entropy",
            format!("logits {} must be 2-D [N, classes]", fmt_shape(&s)),
        ));
    }
    ops::nll_loss(logits.log_softmax(1)?, targets)
}

/// Dropout that follows the mode: identity in [`Mode::Eval`].
#[track_caller]
pub fn dropout<'t, T: Element, R: Rng + ?Sized>(
    x: Var<'t, T>,
    p: f64,
    mode: Mode,
    rng: &mut R,
) -> Result<Var<'t, T>> {
    ops::dropout(x, p, mode.is_train(), rng)
}

/// Index of the largest score in each row of `[N, C]` scores.
///
/// ```
/// let s = autograd::Tensor::from_vec(vec![0.1f32, 0.9, 0.7, 0.2], &[2, 2]).unwrap();
/// assert_eq!(nn::argmax_rows(&s), vec![1, 0]);
/// ```
pub fn argmax_rows<T: Element>(scores: &Tensor<T>) -> Vec<usize> {
    let c = scores.shape().last().copied().unwrap_or(1).max(1);
    scores
        .data()
        .chunks(c)
        .map(|row| {
            let mut best = 0;
            for (i, &v) in row.iter().enumerate() {
                if v > row[best] {
                    best = i;
                }
            }
            best
        })
        .collect()
}

/// Fraction of rows whose argmax equals the target.
///
/// ```
/// let s = autograd::Tensor::from_vec(vec![0.1f32, 0.9, 0.7, 0.2], &[2, 2]).unwrap();
/// assert_eq!(nn::accuracy(&s, &[1, 1]), 0.5);
/// ```
pub fn accuracy<T: Element>(scores: &Tensor<T>, targets: &[usize]) -> f64 {
    if targets.is_empty() {
        return 0.0;
    }
    let hits = argmax_rows(scores)
        .iter()
        .zip(targets)
        .filter(|(a, b)| a == b)
        .count();
    hits as f64 / targets.len() as f64
}

/// `softmax(x)` along `axis` (`F.softmax`): `exp(log_softmax(x, axis))`,
/// so it never overflows and its gradient is that of the checked ops.
///
/// ```
/// use autograd::{Tape, Tensor};
/// let tape = Tape::<f64>::new();
/// let x = tape.constant(Tensor::from_vec(vec![1000.0, 1000.0, 0.0, 0.0], &[2, 2])?);
/// assert_eq!(nn::softmax(x, 1)?.value().data(), &[0.5, 0.5, 0.5, 0.5]);
/// # Ok::<(), autograd::Error>(())
/// ```
#[track_caller]
pub fn softmax<T: Element>(x: Var<'_, T>, axis: isize) -> Result<Var<'_, T>> {
    x.log_softmax(axis)?.exp()
}
