//! Gradient checking: compare a function's backward with f64 central
//! differences.
//!
//! For a function `f` of inputs `x_1..x_k` with output `y`, gradcheck draws a
//! fixed random projection `r` (seeded) of `y`'s shape and checks the scalar
//! `L = sum(y * r)`:
//!
//! - analytic: one backward pass with seed `r`, giving dL/dx_i;
//! - numeric: for every element `x_i[j]`,
//!   `(L(x + eps e_j) - L(x - eps e_j)) / (2 eps)`;
//! - pass when `|analytic - numeric| <= atol + rtol * |numeric|` everywhere.
//!
//! It is a user-facing tool: check your own op or model the same way our
//! property tests check every registered op.

use std::fmt;

use rand::SeedableRng;

use crate::error::{fmt_shape, Error};
use crate::{Tape, Tensor, Var};

/// Step and tolerances for [`gradcheck`].
#[derive(Clone, Debug)]
pub struct GradcheckConfig {
    /// Finite-difference step (default 1e-6).
    pub eps: f64,
    /// Absolute tolerance (default 1e-5).
    pub atol: f64,
    /// Relative tolerance (default 1e-3).
    pub rtol: f64,
    /// Seed of the output projection (default 0).
    pub seed: u64,
}

impl Default for GradcheckConfig {
    fn default() -> Self {
        GradcheckConfig {
            eps: 1e-6,
            atol: 1e-5,
            rtol: 1e-3,
            seed: 0,
        }
    }
}

/// What a passing check measured.
#[derive(Clone, Debug)]
pub struct GradcheckReport {
    /// The name given to the check.
    pub name: String,
    /// Input elements compared.
    pub elements: usize,
    /// Largest |analytic - numeric| seen.
    pub max_abs_err: f64,
}

/// Why a check failed.
#[derive(Clone, Debug)]
pub enum GradcheckFailure {
    /// The function (forward or backward) returned an error.
    Error {
        /// The name given to the check.
        name: String,
        /// The error.
        error: Error,
    },
    /// Analytic and numeric gradients differ.
    Mismatch {
        /// The name given to the check.
        name: String,
        /// Which input (position in `inputs`).
        input: usize,
        /// Its shape.
        input_shape: Vec<usize>,
        /// Multi-index of the worst element.
        index: Vec<usize>,
        /// Backward's value there.
        analytic: f64,
        /// Central difference there.
        numeric: f64,
        /// How many elements of all inputs were out of tolerance.
        mismatches: usize,
        /// Elements compared.
        elements: usize,
    },
}

impl fmt::Display for GradcheckFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GradcheckFailure::Error { name, error } => write!(f, "gradcheck `{name}`: the function failed: {error}"),
            GradcheckFailure::Mismatch { name, input, input_shape, index, analytic, numeric, mismatches, elements } => write!(
                f,
                "gradcheck `{name}` failed: input {input} (shape {}) element {:?}: analytic {analytic:.8e} vs numeric {numeric:.8e} (|diff| {:.3e}); {mismatches} of {elements} elements out of tolerance",
                fmt_shape(input_shape),
                index,
                (analytic - numeric).abs()
            ),
        }
    }
}

impl std::error::Error for GradcheckFailure {}

fn unravel(mut lin: usize, shape: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; shape.len()];
    for d in (0..shape.len()).rev() {
        idx[d] = lin % shape[d];
        lin /= shape[d];
    }
    idx
}

/// Checks `f`'s gradients with respect to every tensor in `inputs`.
///
/// `f` receives a fresh tape and the inputs as parameters, and returns the
/// output variable (any shape). Values that should not be differentiated
/// (targets, hyper-parameters) are captured by the closure.
///
/// ```
/// use autograd::{gradcheck, GradcheckConfig, Tensor};
/// use rand::SeedableRng;
/// let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
/// let x = Tensor::<f64>::randn(&[3, 4], 0.0, 1.0, &mut rng);
/// // a "function" made of a custom op recorded directly on the tape:
/// let report = gradcheck("square", &[x], &GradcheckConfig::default(), |tape, xs| {
///     struct Sq(Tensor<f64>);
///     impl autograd::Backward<f64> for Sq {
///         fn backward(&self, g: &Tensor<f64>, _: &[bool]) -> autograd::Result<autograd::InputGrads<f64>> {
///             Ok(autograd::smallvec::smallvec![Some(g.zip_broadcast(&self.0, "sq", |g, x| 2.0 * g * x)?)])
///         }
///     }
///     let v = xs[0].value();
///     tape.record("square", &[xs[0]], v.map(|a| a * a), || Sq(v.clone()))
/// }).unwrap();
/// assert_eq!(report.elements, 12);
/// ```
pub fn gradcheck<F>(
    name: &str,
    inputs: &[Tensor<f64>],
    cfg: &GradcheckConfig,
    f: F,
) -> Result<GradcheckReport, GradcheckFailure>
where
    F: for<'t> Fn(&'t Tape<f64>, &[Var<'t, f64>]) -> crate::Result<Var<'t, f64>>,
{
    let wrap = |error: Error| GradcheckFailure::Error {
        name: name.to_string(),
        error,
    };

    // analytic
    let tape = Tape::<f64>::new();
    let vars: Vec<Var<'_, f64>> = inputs.iter().map(|t| tape.grad_input(t.clone())).collect();
    let out = f(&tape, &vars).map_err(wrap)?;
    let y = out.value();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(cfg.seed);
    let r = Tensor::<f64>::randn(y.shape(), 0.0, 1.0, &mut rng);
    let analytic: Vec<Tensor<f64>> = if out.requires_grad() {
        let grads = tape.backward_with(out, r.clone()).map_err(wrap)?;
        vars.iter()
            .map(|&v| grads.wrt(v))
            .collect::<Result<_, _>>()
            .map_err(wrap)?
    } else {
        inputs.iter().map(|t| Tensor::zeros(t.shape())).collect()
    };

    let loss_at = |xs: &[Tensor<f64>]| -> Result<f64, GradcheckFailure> {
        let tape = Tape::<f64>::new();
        let _g = tape.no_grad();
        let vars: Vec<Var<'_, f64>> = xs.iter().map(|t| tape.constant(t.clone())).collect();
        let out = f(&tape, &vars).map_err(wrap)?;
        let v = out.value();
        Ok(v.data().iter().zip(r.data()).map(|(a, b)| a * b).sum())
    };

    let mut worst: Option<(f64, usize, usize, f64, f64)> = None; // (excess, input, elem, a, n)
    let mut mismatches = 0;
    let mut elements = 0;
    let mut max_abs_err: f64 = 0.0;
    let mut xs: Vec<Tensor<f64>> = inputs.to_vec();
    for i in 0..inputs.len() {
        for j in 0..inputs[i].numel() {
            let orig = inputs[i].data()[j];
            xs[i].data_mut()[j] = orig + cfg.eps;
            let lp = loss_at(&xs)?;
            xs[i].data_mut()[j] = orig - cfg.eps;
            let lm = loss_at(&xs)?;
            xs[i].data_mut()[j] = orig;
            let numeric = (lp - lm) / (2.0 * cfg.eps);
            let a = analytic[i].data()[j];
            let err = (a - numeric).abs();
            let tol = cfg.atol + cfg.rtol * numeric.abs();
            elements += 1;
            if err.is_nan() || err > max_abs_err {
                max_abs_err = err;
            }
            if err.is_nan() || err > tol {
                mismatches += 1;
                let excess = if err.is_nan() {
                    f64::INFINITY
                } else {
                    err - tol
                };
                if worst.is_none_or(|w| excess > w.0) {
                    worst = Some((excess, i, j, a, numeric));
                }
            }
        }
    }
    match worst {
        None => Ok(GradcheckReport {
            name: name.to_string(),
            elements,
            max_abs_err,
        }),
        Some((_, i, j, analytic, numeric)) => Err(GradcheckFailure::Mismatch {
            name: name.to_string(),
            input: i,
            input_shape: inputs[i].shape().to_vec(),
            index: unravel(j, inputs[i].shape()),
            analytic,
            numeric,
            mismatches,
            elements,
        }),
    }
}
