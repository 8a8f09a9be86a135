//! Gradient clipping, as `torch.nn.utils.clip_grad_norm_` and
//! `clip_grad_value_`, on the gradients of one backward pass.

use autograd::{Element, Error, Grads, Result};

/// Scales all parameter gradients together so that their global norm is at
/// most `max_norm`, and returns the norm before clipping (PyTorch's
/// `clip_grad_norm_`).
///
/// The norm is `(sum_p ||g_p||^q)^(1/q)` over every parameter's gradient
/// with `q = norm_type` (`f64::INFINITY`: the largest |g|); every gradient is
/// multiplied by `min(1, max_norm / (norm + 1e-6))`, as PyTorch does. A NaN
/// or infinite norm is an error when `error_if_nonfinite` (nothing is
/// changed); otherwise the gradients are scaled as PyTorch does (and become
/// NaN).
///
/// ```
/// use autograd::{Tape, Tensor};
/// let tape = Tape::<f64>::new();
/// let w = tape.param(Tensor::zeros(&[2]));
/// let mut grads = tape.backward_with(w, Tensor::from_vec(vec![3.0, 4.0], &[2])?)?;
/// let norm = optim::clip_grad_norm(&mut grads, 1.0, 2.0, true)?;
/// assert_eq!(norm, 5.0);
/// let g = grads.wrt(w)?;
/// assert!((g.data()[0] - 3.0 / (5.0 + 1e-6)).abs() < 1e-15);
/// # Ok::<(), autograd::Error>(())
/// ```
#[track_caller]
pub fn clip_grad_norm<T: Element>(
    grads: &mut Grads<T>,
    max_norm: f64,
    norm_type: f64,
    error_if_nonfinite: bool,
) -> Result<f64> {
    // a NaN limit is rejected as well
    if max_norm.is_nan() || max_norm < 0.0 || norm_type.is_nan() || norm_type <= 0.0 {
        return Err(Error::invalid(
            "clip_grad_norm",
            format!("max_norm {max_norm} must be >= 0 and norm_type {norm_type} > 0"),
        ));
    }
    let params = grads.params();
    let norm = if norm_type.is_infinite() {
        params
            .iter()
            .flat_map(|(_, g)| g.data().iter().map(|v| v.to_f64().abs()))
            .fold(0.0f64, |m, v| {
                if v.is_nan() || m.is_nan() {
                    f64::NAN
                } else {
                    m.max(v)
                }
            })
    } else {
        // the norm of the per-parameter norms, as PyTorch
        params
            .iter()
            .map(|(_, g)| {
                g.data()
                    .iter()
                    .map(|v| v.to_f64().abs().powf(norm_type))
                    .sum::<f64>()
                    .powf(1.0 / norm_type)
            })
            .map(|n| n.powf(norm_type))
            .sum::<f64>()
            .powf(1.0 / norm_type)
    };
    if error_if_nonfinite && !norm.is_finite() {
        return Err(Error::invalid(
            "clip_grad_norm",
            format!(
                "the total norm of order {norm_type} of the gradients is {norm}, so they cannot be clipped \
                 (pass error_if_nonfinite = false to scale them anyway, as PyTorch)"
            ),
        ));
    }
    // torch.clamp(coef, max=1) keeps a NaN (f64::min would drop it)
    let raw = max_norm / (norm + 1e-6);
    let coef = if raw.is_nan() { raw } else { raw.min(1.0) };
    let c = T::from_f64(coef);
    grads.for_each_param_grad(|g| g.data_mut().iter_mut().for_each(|v| *v *= c));
    Ok(norm)
}

/// Clamps every parameter gradient element to `[-clip_value, clip_value]`
/// (PyTorch's `clip_grad_value_`; NaN stays NaN).
///
/// ```
/// use autograd::{Tape, Tensor};
/// let tape = Tape::<f32>::new();
/// let w = tape.param(Tensor::zeros(&[3]));
/// let mut grads = tape.backward_with(w, Tensor::from_vec(vec![-5.0, 0.5, 2.0], &[3])?)?;
/// optim::clip_grad_value(&mut grads, 1.0)?;
/// assert_eq!(grads.wrt(w)?.data(), &[-1.0, 0.5, 1.0]);
/// # Ok::<(), autograd::Error>(())
/// ```
#[track_caller]
pub fn clip_grad_value<T: Element>(grads: &mut Grads<T>, clip_value: f64) -> Result<()> {
    if clip_value.is_nan() || clip_value < 0.0 {
        return Err(Error::invalid(
            "clip_grad_value",
            format!("clip_value {clip_value} must be >= 0"),
        ));
    }
    let (lo, hi) = (T::from_f64(-clip_value), T::from_f64(clip_value));
    grads.for_each_param_grad(|g| {
        g.data_mut().iter_mut().for_each(|v| {
            if *v > hi {
                *v = hi
            } else if *v < lo {
                *v = lo
            }
        })
    });
    Ok(())
}
