//! The losses a PyTorch user reaches for, with `torch.nn.functional`'s
//! semantics and argument names (`reduction='mean'` throughout), composed
//! from primitive ops, so their gradients are the ops' checked ones:
//!
//! | here | PyTorch | as |
//! |---|---|---|
//! | [`mse_loss`] | `F.mse_loss` | `mean((x - y)^2)` |
//! | [`l1_loss`] | `F.l1_loss` | `mean(relu(d) + relu(-d))`, `d = x - y` (gradient `sign(d)`, 0 at 0) |
//! | [`smooth_l1_loss`] | `F.smooth_l1_loss(beta)` | `0.5 m^2 / beta + |d| - m`, `m = min(|d|, beta)`; `beta = 0` is `l1_loss` |
//! | [`binary_cross_entropy_with_logits`] | `F.binary_cross_entropy_with_logits` | `mean(softplus(x) - x y)` |
//! | [`cross_entropy_with`] | `F.cross_entropy(label_smoothing, ignore_index)` | `-sum(W * log_softmax(x))`, `W` the smoothed one-hot targets over the kept rows |
//!
//! Differences: the mean is the only reduction; `ignore_index` is an
//! `Option<usize>` (PyTorch's default -100 cannot be a class index anyway),
//! and a batch whose every target is ignored is an error instead of NaN.

use autograd::{fmt_shape, Element, Error, Result, Tensor, Var};
use ops::VarOps;

/// Both inputs must have one shape (PyTorch broadcasts with a warning; a
/// mismatch is nearly always a bug, so here it is an error).
#[track_caller]
fn same_shape<T: Element>(op: &'static str, x: Var<'_, T>, y: Var<'_, T>) -> Result<()> {
    let (xs, ys) = (x.shape(), y.shape());
    if xs == ys {
        Ok(())
    } else {
        Err(Error::shape(
            op,
            format!(
                "input {} and target {} differ",
                fmt_shape(&xs),
                fmt_shape(&ys)
            ),
        ))
    }
}

/// `|d|` with the gradient `sign(d)` (0 at 0, as `torch.abs`).
fn abs<T: Element>(d: Var<'_, T>) -> Result<Var<'_, T>> {
    d.relu()? + d.neg()?.relu()?
}

/// Mean squared error, `mean((x - y)^2)` (`F.mse_loss`).
///
/// ```
/// use autograd::{Tape, Tensor};
/// let tape = Tape::<f64>::new();
/// let x = tape.param(Tensor::from_vec(vec![1.0, 2.0, 4.0], &[3])?);
/// let y = tape.constant(Tensor::from_vec(vec![1.0, 0.0, 1.0], &[3])?);
/// assert_eq!(nn::mse_loss(x, y)?.value().item()?, (0.0 + 4.0 + 9.0) / 3.0);
/// # Ok::<(), autograd::Error>(())
/// ```
#[track_caller]
pub fn mse_loss<'t, T: Element>(x: Var<'t, T>, y: Var<'t, T>) -> Result<Var<'t, T>> {
    same_shape("mse_loss", x, y)?;
    let d = (x - y)?;
    (d * d)?.mean_all()
}

/// Mean absolute error, `mean(|x - y|)` (`F.l1_loss`).
///
/// ```
/// use autograd::{Tape, Tensor};
/// let tape = Tape::<f64>::new();
/// let x = tape.param(Tensor::from_vec(vec![1.0, 2.0, -4.0], &[3])?);
/// let y = tape.constant(Tensor::zeros(&[3]));
/// assert_eq!(nn::l1_loss(x, y)?.value().item()?, 7.0 / 3.0);
/// # Ok::<(), autograd::Error>(())
/// ```
#[track_caller]
pub fn l1_loss<'t, T: Element>(x: Var<'t, T>, y: Var<'t, T>) -> Result<Var<'t, T>> {
    same_shape("l1_loss", x, y)?;
    abs((x - y)?)?.mean_all()
}

/// Huber-like loss (`F.smooth_l1_loss`): `0.5 d^2 / beta` where
/// `|d| < beta`, `|d| - 0.5 beta` elsewhere, averaged; `beta = 0` is
/// [`l1_loss`]. PyTorch's default `beta` is 1.
///
/// ```
/// use autograd::{Tape, Tensor};
/// let tape = Tape::<f64>::new();
/// let x = tape.param(Tensor::from_vec(vec![0.5, 3.0], &[2])?);
/// let y = tape.constant(Tensor::zeros(&[2]));
/// assert_eq!(nn::smooth_l1_loss(x, y, 1.0)?.value().item()?, (0.125 + 2.5) / 2.0);
/// # Ok::<(), autograd::Error>(())
/// ```
#[track_caller]
pub fn smooth_l1_loss<'t, T: Element>(
    x: Var<'t, T>,
    y: Var<'t, T>,
    beta: f64,
) -> Result<Var<'t, T>> {
    same_shape("smooth_l1_loss", x, y)?;
    if !(beta >= 0.0 && beta.is_finite()) {
        return Err(Error::invalid(
            "smooth_l1_loss",
            format!("beta {beta} must be a finite number >= 0"),
        ));
    }
    if beta == 0.0 {
        return l1_loss(x, y);
    }
    let a = abs((x - y)?)?;
    // m = min(|d|, beta) = beta - relu(beta - |d|)
    let m = (a.neg()?.add_scalar(beta)?.relu()?.neg()? + beta)?;
    let quad = (m * m)?.mul_scalar(0.5 / beta)?;
    ((quad + a)? - m)?.mean_all()
}

/// Binary cross-entropy of logits `x` against targets `y` in [0, 1] (soft
/// targets allowed), `mean(softplus(x) - x y)`: PyTorch's
/// `F.binary_cross_entropy_with_logits`, stable for any logit, with
/// gradient `(sigmoid(x) - y) / n` (also at `x = 0`).
///
/// ```
/// use autograd::{Tape, Tensor};
/// let tape = Tape::<f64>::new();
/// let x = tape.param(Tensor::zeros(&[2]));
/// let y = tape.constant(Tensor::from_vec(vec![1.0, 0.0], &[2])?);
/// let loss = nn::binary_cross_entropy_with_logits(x, y)?;
/// assert!((loss.value().item()? - 2f64.ln()).abs() < 1e-15);
/// let g = tape.backward(loss)?;
/// assert_eq!(g.wrt(x)?.data(), &[-0.25, 0.25]);
/// # Ok::<(), autograd::Error>(())
/// ```
#[track_caller]
pub fn binary_cross_entropy_with_logits<'t, T: Element>(
    x: Var<'t, T>,
    y: Var<'t, T>,
) -> Result<Var<'t, T>> {
    same_shape("binary_cross_entropy_with_logits", x, y)?;
    if let Some(bad) = y
        .value()
        .data()
        .iter()
        .find(|v| !(v.to_f64() >= 0.0 && v.to_f64() <= 1.0))
    {
        return Err(Error::invalid(
            "binary_cross_entropy_with_logits",
            format!("target {} is not in [0, 1]", bad.to_f64()),
        ));
    }
    (x.softplus()? - (x * y)?)?.mean_all()
}

/// What [`cross_entropy_with`] does beyond plain cross-entropy.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CrossEntropyOptions {
    /// Targets equal to this are left out of the loss and of the mean
    /// (PyTorch's `ignore_index`).
    pub ignore_index: Option<usize>,
    /// `eps` in [0, 1]: the target distribution is `(1 - eps)` on the class
    /// plus `eps / C` on every class (PyTorch's `label_smoothing`).
    pub label_smoothing: f64,
}

/// Cross-entropy of `logits: [N, C]` against class `targets`, with
/// PyTorch's `label_smoothing` and `ignore_index` (`F.cross_entropy`):
/// `sum over kept n of -((1 - eps) logp[n, t_n] + eps/C sum_c logp[n, c]) / kept`.
///
/// ```
/// use autograd::{Tape, Tensor};
/// use nn::CrossEntropyOptions;
/// let tape = Tape::<f64>::new();
/// let logits = tape.param(Tensor::zeros(&[3, 4]));
/// let opts = CrossEntropyOptions { ignore_index: Some(9), label_smoothing: 0.1 };
/// let loss = nn::cross_entropy_with(logits, &[0, 9, 3], opts)?;
/// assert!((loss.value().item()? - 4f64.ln()).abs() < 1e-12); // uniform logits
/// # Ok::<(), autograd::Error>(())
/// ```
#[track_caller]
pub fn cross_entropy_with<'t, T: Element>(
    logits: Var<'t, T>,
    targets: &[usize],
    opts: CrossEntropyOptions,
) -> Result<Var<'t, T>> {
    let op = "cross_entropy";
    let s = logits.shape();
    if s.len() != 2 {
        return Err(Error::shape(
            op,
            format!("logits {} must be 2-D [N, classes]", fmt_shape(&s)),
        ));
    }
    let (n, c) = (s[0], s[1]);
    if targets.len() != n {
        return Err(Error::shape(
            op,
            format!(
                "logits {} have batch {n} but {} targets were given",
                fmt_shape(&s),
                targets.len()
            ),
        ));
    }
    let eps = opts.label_smoothing;
    if !(0.0..=1.0).contains(&eps) {
        return Err(Error::invalid(
            op,
            format!("label_smoothing {eps} must be in [0, 1]"),
        ));
    }
    let kept: Vec<bool> = targets
        .iter()
        .map(|&t| Some(t) != opts.ignore_index)
        .collect();
    if let Some((i, &t)) = targets
        .iter()
        .enumerate()
        .find(|&(i, &t)| kept[i] && t >= c)
    {
        return Err(Error::invalid(
            op,
            format!("target {t} at position {i} is out of range for {c} classes"),
        ));
    }
    let k = kept.iter().filter(|&&b| b).count();
    if k == 0 {
        return Err(Error::invalid(
            op,
            format!("every one of the {n} targets is ignore_index: the mean over no example is undefined"),
        ));
    }
    // W[n, c] = ((1 - eps) [c == t_n] + eps / C) / k on kept rows, 0 elsewhere
    let mut w = vec![0.0f64; n * c];
    for (i, &t) in targets.iter().enumerate() {
        if !kept[i] {
            continue;
        }
        for (j, wv) in w[i * c..(i + 1) * c].iter_mut().enumerate() {
            *wv = (if j == t { 1.0 - eps } else { 0.0 } + eps / c as f64) / k as f64;
        }
    }
    let w = Tensor::from_vec(w.into_iter().map(T::from_f64).collect(), &[n, c])?;
    let logp = logits.log_softmax(1)?;
    (logp * logits.tape().constant(w))?.sum_all()?.neg()
}
