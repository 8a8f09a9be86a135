//! `batch_norm`: batch normalisation over the channel axis 1 of `[N, C]`,
//! `[N, C, L]` or `[N, C, H, W]` inputs (PyTorch's `BatchNorm1d/2d`), with
//! learnable `gamma` (weight) and `beta` (bias), both `[C]`.
//!
//! Training mode, per channel c over the M = N * spatial values:
//! - `mu = mean(x)`, `var = mean((x - mu)^2)` (biased, used to normalise)
//! - `xhat = (x - mu) / sqrt(var + eps)`, `y = gamma * xhat + beta`
//! - running statistics, exactly as PyTorch:
//!   `running_mean = (1 - momentum) running_mean + momentum mu`,
//!   `running_var = (1 - momentum) running_var + momentum var * M / (M - 1)` (unbiased).
//!
//! Eval mode: `y = gamma (x - running_mean) / sqrt(running_var + eps) + beta`.
//!
//! Backward (training), with `g = dL/dy`, `s = 1/sqrt(var + eps)`:
//! - `dL/dbeta = sum g`, `dL/dgamma = sum g xhat`
//! - `dL/dx = gamma s / M (M g - sum g - xhat sum g xhat)`
//!
//! Backward (eval): `dL/dx = g gamma s_running`, same `dgamma`, `dbeta`.
//!
//! Statistics are accumulated in f64, channel by channel, so they do not
//! depend on the thread count. PyTorch's `momentum=None` (cumulative average)
//! is not supported.
//!
//! The loops are `autograd::norm` (crate `kernels`).

use autograd::norm;
use autograd::{
    fmt_shape, smallvec::smallvec, Backward, Element, Error, InputGrads, Result, Shape, Tensor, Var,
};

/// Running mean and variance of a batch-norm layer, with its momentum and eps
/// (PyTorch defaults 0.1 and 1e-5).
///
/// ```
/// let s = ops::BatchNormStats::<f32>::new(3);
/// assert_eq!(s.running_var.data(), &[1.0, 1.0, 1.0]);
/// assert_eq!((s.momentum, s.eps), (0.1, 1e-5));
/// ```
#[derive(Clone, Debug)]
pub struct BatchNormStats<T: Element> {
    /// Running mean per channel (starts at 0).
    pub running_mean: Tensor<T>,
    /// Running unbiased variance per channel (starts at 1).
    pub running_var: Tensor<T>,
    /// Training batches seen.
    pub num_batches_tracked: u64,
    /// Weight of the newest batch in the running averages.
    pub momentum: f64,
    /// Added to the variance before the square root.
    pub eps: f64,
}

impl<T: Element> BatchNormStats<T> {
    /// Fresh statistics for `c` channels.
    pub fn new(c: usize) -> Self {
        BatchNormStats {
            running_mean: Tensor::zeros(&[c]),
            running_var: Tensor::ones(&[c]),
            num_batches_tracked: 0,
            momentum: 0.1,
            eps: 1e-5,
        }
    }
}

/// Batch normalisation; `training` selects batch statistics (and updates
/// `stats`) or the running statistics.
///
/// ```
/// use autograd::{Tape, Tensor};
/// use ops::{batch_norm, BatchNormStats};
/// let tape = Tape::<f64>::new();
/// let x = tape.constant(Tensor::from_vec(vec![1.0, 3.0, 5.0, 7.0], &[4, 1])?);
/// let (gamma, beta) = (tape.param(Tensor::ones(&[1])), tape.param(Tensor::zeros(&[1])));
/// let mut stats = BatchNormStats::new(1);
/// let y = batch_norm(x, gamma, beta, &mut stats, true)?;
/// assert!((y.value().mean_all()).abs() < 1e-12);
/// assert!((stats.running_mean.data()[0] - 0.4).abs() < 1e-12); // 0.9 * 0 + 0.1 * 4
/// assert!((stats.running_var.data()[0] - (0.9 + 0.1 * 20.0 / 3.0)).abs() < 1e-12);
/// # Ok::<(), autograd::Error>(())
/// ```
#[track_caller]
pub fn batch_norm<'t, T: Element>(
    x: Var<'t, T>,
    gamma: Var<'t, T>,
    beta: Var<'t, T>,
    stats: &mut BatchNormStats<T>,
    training: bool,
) -> Result<Var<'t, T>> {
    let (xv, gv, bv) = (x.value(), gamma.value(), beta.value());
    let xs = xv.shape();
    if xs.len() < 2 {
        return Err(Error::shape(
            "batch_norm",
            format!("input {} must be at least 2-D [N, C, ...]", fmt_shape(xs)),
        ));
    }
    let c = xs[1];
    for (name, s) in [
        ("gamma", gv.shape()),
        ("beta", bv.shape()),
        ("running_mean", stats.running_mean.shape()),
        ("running_var", stats.running_var.shape()),
    ] {
        if s != [c] {
            return Err(Error::shape(
                "batch_norm",
                format!(
                    "{name} {} must be [{c}] for input {} with {c} channels",
                    fmt_shape(s),
                    fmt_shape(xs)
                ),
            ));
        }
    }
    // eps = 0 divides by zero on a constant channel (variance 0): NaN
    let eps_ok = stats.eps > 0.0 && stats.eps.is_finite();
    if !eps_ok || !(0.0..=1.0).contains(&stats.momentum) {
        return Err(Error::invalid(
            "batch_norm",
            format!(
                "eps {} must be finite and > 0 and momentum {} in [0, 1]",
                stats.eps, stats.momentum
            ),
        ));
    }
    let n = xs[0];
    let sp: usize = xs[2..].iter().product();
    let m = n * sp;
    if training && m <= 1 {
        return Err(Error::shape(
            "batch_norm",
            format!(
                "training needs more than 1 value per channel, got input {} ({m} per channel)",
                fmt_shape(xs)
            ),
        ));
    }
    let xd = xv.data();
    let (gd, bd) = (gv.data(), bv.data());
    // y = gamma * (x - mu) * s + beta = x * a + b, per channel
    let coef = |ci: usize, mu: f64, invstd: f64| {
        (
            T::from_f64(gd[ci].to_f64() * invstd),
            T::from_f64(bd[ci].to_f64() - gd[ci].to_f64() * invstd * mu),
        )
    };
    let eps = stats.eps;
    let invstd_of = |var: f64| 1.0 / (var + eps).sqrt();
    // per-channel mean and inverse std used to normalise
    let (out, mean, invstd): (Vec<T>, Vec<f64>, Vec<f64>) = if training {
        let (out, ms) =
            norm::normalize_train(xd, n, c, sp, |ci, mu, var| coef(ci, mu, invstd_of(var)));
        let mom = stats.momentum;
        let rm = stats.running_mean.data_mut();
        for (ci, &(mu, _)) in ms.iter().enumerate() {
            rm[ci] = T::from_f64((1.0 - mom) * rm[ci].to_f64() + mom * mu);
        }
        let rv = stats.running_var.data_mut();
        for (ci, &(_, var)) in ms.iter().enumerate() {
            let unbiased = var * m as f64 / (m - 1) as f64;
            rv[ci] = T::from_f64((1.0 - mom) * rv[ci].to_f64() + mom * unbiased);
        }
        stats.num_batches_tracked += 1;
        let (mean, invstd) = ms.iter().map(|&(mu, var)| (mu, invstd_of(var))).unzip();
        (out, mean, invstd)
    } else {
        let mean: Vec<f64> = stats
            .running_mean
            .data()
            .iter()
            .map(|v| v.to_f64())
            .collect();
        let invstd: Vec<f64> = stats
            .running_var
            .data()
            .iter()
            .map(|v| invstd_of(v.to_f64()))
            .collect();
        let (a, b): (Vec<T>, Vec<T>) = (0..c).map(|ci| coef(ci, mean[ci], invstd[ci])).unzip();
        (norm::affine(xd, &a, &b, c, sp), mean, invstd)
    };
    let y = Tensor::from_shape_vec(Shape::from_slice(xs), out);
    x.tape()
        .record("batch_norm", &[x, gamma, beta], y, || BatchNormBackward {
            x: xv,
            gamma: gv,
            mean,
            invstd,
            training,
        })
}

struct BatchNormBackward<T> {
    x: Tensor<T>,
    gamma: Tensor<T>,
    mean: Vec<f64>,
    invstd: Vec<f64>,
    training: bool,
}

impl<T: Element> Backward<T> for BatchNormBackward<T> {
    fn backward(&self, g: &Tensor<T>, needs: &[bool]) -> Result<InputGrads<T>> {
        let xs = self.x.shape();
        let (n, c) = (xs[0], xs[1]);
        let sp: usize = xs[2..].iter().product();
        let (xd, gd) = (self.x.data(), g.data());
        // per channel: sum g, sum g * xhat, and the input gradient
        let (gx, sums) = norm::backward(
            xd,
            gd,
            self.gamma.data(),
            &self.mean,
            &self.invstd,
            self.training,
            needs[0],
            n,
            c,
            sp,
        );
        let gx = gx.map(|gx| Tensor::from_shape_vec(Shape::from_slice(xs), gx));
        let ggamma = needs[1].then(|| {
            Tensor::from_shape_vec(
                Shape::from_slice(&[c]),
                sums.iter().map(|s| T::from_f64(s.1)).collect(),
            )
        });
        let gbeta = needs[2].then(|| {
            Tensor::from_shape_vec(
                Shape::from_slice(&[c]),
                sums.iter().map(|s| T::from_f64(s.0)).collect(),
            )
        });
        Ok(smallvec![gx, ggamma, gbeta])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use autograd::Tape;
    use rand::SeedableRng;

    /// The f32 kernels (row sums in f32, rows and channels in f64) agree
    /// with the f64 computation on a large, off-centre input.
    #[test]
    fn f32_matches_f64_on_a_large_input() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
        let shape = [32, 8, 16, 16];
        let x64 = Tensor::<f64>::randn(&shape, 3.0, 2.0, &mut rng);
        let g64 = Tensor::<f64>::randn(&shape, 0.5, 1.0, &mut rng);
        let gamma = Tensor::<f64>::randn(&[8], 1.0, 0.2, &mut rng);
        let beta = Tensor::<f64>::randn(&[8], 0.0, 0.2, &mut rng);
        fn run<T: Element>(
            x: &Tensor<T>,
            g: &Tensor<T>,
            gamma: &Tensor<T>,
            beta: &Tensor<T>,
        ) -> (Tensor<T>, Tensor<T>, Tensor<T>) {
            let tape = Tape::new();
            let (xv, gv, bv) = (tape.param(x), tape.param(gamma), tape.param(beta));
            let mut st = BatchNormStats::new(8);
            let y = batch_norm(xv, gv, bv, &mut st, true).unwrap();
            let grads = tape.backward_with(y, g.clone()).unwrap();
            (y.value(), grads.wrt(xv).unwrap(), grads.wrt(gv).unwrap())
        }
        let (y64, gx64, gg64) = run(&x64, &g64, &gamma, &beta);
        let (y32, gx32, gg32) = run(
            &x64.cast::<f32>(),
            &g64.cast::<f32>(),
            &gamma.cast::<f32>(),
            &beta.cast::<f32>(),
        );
        assert!(y32.cast::<f64>().allclose(&y64, 1e-4, 1e-4));
        assert!(gx32.cast::<f64>().allclose(&gx64, 1e-3, 1e-5), "dx");
        assert!(gg32.cast::<f64>().allclose(&gg64, 1e-4, 1e-2), "dgamma");
    }
}
