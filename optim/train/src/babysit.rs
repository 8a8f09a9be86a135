//! The lecture's "babysitting the learning process", as functions:
//!
//! 1. preprocessing lives in `data::Normalizer` (mean image / std image);
//! 2. [`initial_loss_check`]: with small weights and no regularisation the
//!    loss is about ln(C) (2.303 for 10 classes); the L2 term raises it;
//! 3. [`overfit_tiny`]: a tiny subset (20 examples), no regularisation,
//!    plain SGD: training accuracy should reach 100% and the loss go to 0;
//! 4. [`run_trial`] with a too-low / too-high rate: the loss barely moves /
//!    explodes; [`explosion`] detects NaN, Inf or a cost over 3x the original;
//! 5. [`random_search`]: learning rate and L2 strength sampled uniformly in
//!    log space, trials in parallel, early stop on explosion, reproducible
//!    from a seed, with a warning when the best value lies on the boundary of
//!    its range; [`SearchSpace::around`] narrows it (coarse to fine);
//! 6. training the best configuration longer is [`crate::fit()`].

use std::fmt;

use autograd::{Error, Result, Tape};
use data::{Batches, Dataset};
use nn::{Classifier, Mode, Module};
use rand::{Rng, SeedableRng};
use rayon::prelude::*;

use optim::Sgd;

use crate::dist::Collective;
use crate::step::{evaluate, train_step};

/// A cost above this many times the first one counts as an explosion (cs231n).
pub const EXPLOSION_FACTOR: f64 = 3.0;

/// `0.5 * reg * sum(w^2)` over every parameter: the loss term whose gradient
/// is SGD's `weight_decay * w` with `weight_decay = reg`.
pub fn l2_penalty<M: Module<f32> + ?Sized>(model: &M, reg: f64) -> f64 {
    let mut s = 0.0;
    model.visit("", &mut |_, t| {
        s += t
            .data()
            .iter()
            .map(|&v| (v as f64) * (v as f64))
            .sum::<f64>()
    });
    0.5 * reg * s
}

/// The result of the initial-loss sanity check.
#[derive(Clone, Debug)]
pub struct InitialLoss {
    /// Data loss at initialisation, no regularisation.
    pub loss: f64,
    /// ln(classes): the loss of uniform scores.
    pub expected: f64,
    /// `loss` plus the L2 term with strength `reg`.
    pub loss_with_reg: f64,
    /// The L2 strength used for `loss_with_reg`.
    pub reg: f64,
    /// Whether |loss - expected| <= 5% of expected.
    pub pass: bool,
}

impl fmt::Display for InitialLoss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "initial loss {:.4} (expected ln(C) = {:.4}): {}; with regularisation {:.0e}: {:.4} ({})",
            self.loss,
            self.expected,
            if self.pass { "PASS" } else { "FAIL" },
            self.reg,
            self.loss_with_reg,
            if self.loss_with_reg > self.loss { "raised, as it should be" } else { "NOT raised" }
        )
    }
}

/// Computes the initial loss on a batch (train mode) and checks it against ln(classes).
pub fn initial_loss_check<M: Classifier + ?Sized>(
    model: &mut M,
    batch: &Dataset,
    reg: f64,
) -> Result<InitialLoss> {
    if batch.is_empty() || batch.classes < 2 {
        return Err(Error::invalid(
            "initial_loss_check",
            "needs a non-empty batch and at least 2 classes",
        ));
    }
    let tape = Tape::new();
    let _g = tape.no_grad();
    let scores = model.forward(&tape, tape.constant(batch.images.clone()), Mode::Train)?;
    let loss = nn::cross_entropy(scores, &batch.labels)?.value().item()? as f64;
    let expected = (batch.classes as f64).ln();
    Ok(InitialLoss {
        loss,
        expected,
        loss_with_reg: loss + l2_penalty(model, reg),
        reg,
        pass: (loss - expected).abs() <= 0.05 * expected,
    })
}

/// Why a run was stopped.
#[derive(Clone, Debug, PartialEq)]
pub enum Explosion {
    /// The loss became NaN or infinite.
    NonFinite(f64),
    /// The loss exceeded [`EXPLOSION_FACTOR`] times the first loss.
    TooLarge {
        /// The loss.
        loss: f64,
        /// The first loss.
        initial: f64,
    },
}

impl fmt::Display for Explosion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Explosion::NonFinite(v) => write!(f, "loss exploded to {v}"),
            Explosion::TooLarge { loss, initial } => write!(
                f,
                "loss exploded: {loss:.4} > {EXPLOSION_FACTOR} x the initial {initial:.4}"
            ),
        }
    }
}

/// The explosion detector: `Some` when `loss` is NaN/Inf or above 3x `initial`.
///
/// ```
/// use train::babysit::{explosion, Explosion};
/// assert_eq!(explosion(2.0, 2.3), None);
/// assert!(matches!(explosion(f64::NAN, 2.3), Some(Explosion::NonFinite(_))));
/// assert!(matches!(explosion(7.0, 2.3), Some(Explosion::TooLarge { .. })));
/// ```
pub fn explosion(loss: f64, initial: f64) -> Option<Explosion> {
    if !loss.is_finite() {
        Some(Explosion::NonFinite(loss))
    } else if initial.is_finite() && loss > EXPLOSION_FACTOR * initial {
        Some(Explosion::TooLarge { loss, initial })
    } else {
        None
    }
}

/// What overfitting a tiny subset achieved.
#[derive(Clone, Debug)]
pub struct Overfit {
    /// Loss per step.
    pub losses: Vec<f64>,
    /// Training accuracy after the last step.
    pub train_acc: f64,
    /// Whether training accuracy reached 100%.
    pub success: bool,
}

impl fmt::Display for Overfit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let first = self.losses.first().copied().unwrap_or(f64::NAN);
        let last = self.losses.last().copied().unwrap_or(f64::NAN);
        write!(
            f,
            "overfit {} steps: loss {first:.4} -> {last:.6}, train accuracy {:.1}%: {}",
            self.losses.len(),
            100.0 * self.train_acc,
            if self.success {
                "PASS (memorised the subset)"
            } else {
                "FAIL (could not fit the subset: check the model and the learning rate)"
            }
        )
    }
}

/// Full-batch plain SGD (no regularisation) on a tiny subset for `steps`
/// steps: the model should memorise it.
pub fn overfit_tiny<M: Classifier + ?Sized>(
    model: &mut M,
    subset: &Dataset,
    lr: f64,
    steps: usize,
) -> Result<Overfit> {
    let mut sgd = Sgd::new(lr);
    let mut losses = Vec::with_capacity(steps);
    for _ in 0..steps {
        let (loss, _) = train_step(model, &mut sgd, &subset.images, &subset.labels)?;
        losses.push(loss);
        if !loss.is_finite() {
            break;
        }
    }
    let train_acc = evaluate(model, subset, subset.len().max(1))?.acc;
    Ok(Overfit {
        losses,
        train_acc,
        success: train_acc >= 1.0,
    })
}

/// Hyper-parameters of one trial.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TrialCfg {
    /// Learning rate.
    pub lr: f64,
    /// L2 strength (SGD weight decay).
    pub reg: f64,
    /// SGD steps.
    pub iters: usize,
    /// Mini-batch size.
    pub batch: usize,
    /// Momentum.
    pub momentum: f64,
    /// Seed of the model's initialisation and the batch order.
    pub seed: u64,
}

/// The outcome of one trial.
#[derive(Clone, Debug)]
pub struct Trial {
    /// Its hyper-parameters.
    pub cfg: TrialCfg,
    /// Loss per step (up to the explosion, if any).
    pub losses: Vec<f64>,
    /// Why it stopped early, if it did.
    pub explosion: Option<Explosion>,
    /// Validation accuracy at the end (0 when it exploded).
    pub val_acc: f64,
    /// Mean training accuracy over the last 10% of steps.
    pub train_acc: f64,
}

/// Trains a fresh model (`make(seed)`) for `cfg.iters` steps, stopping early
/// on an explosion, then measures validation accuracy.
pub fn run_trial<M: Classifier>(
    make: &(dyn Fn(u64) -> M + Sync),
    train: &Dataset,
    val: &Dataset,
    cfg: TrialCfg,
) -> Result<Trial> {
    if train.is_empty() && cfg.iters > 0 {
        // the step loop below would draw empty epochs forever
        return Err(Error::invalid(
            "run_trial",
            format!("{} training steps on an empty training set", cfg.iters),
        ));
    }
    let mut model = make(cfg.seed);
    let mut sgd = Sgd::new(cfg.lr)
        .momentum(cfg.momentum)
        .weight_decay(cfg.reg);
    let mut losses = Vec::with_capacity(cfg.iters);
    let mut accs = Vec::with_capacity(cfg.iters);
    let mut boom = None;
    let mut epoch = 0;
    'outer: while losses.len() < cfg.iters {
        for b in Batches::new(train, cfg.batch, Some(cfg.seed), epoch, None) {
            let b = b?;
            let (loss, acc) = train_step(&mut model, &mut sgd, &b.images, &b.labels)?;
            losses.push(loss);
            accs.push(acc);
            if let Some(e) = explosion(loss, losses[0]) {
                boom = Some(e);
                break 'outer;
            }
            if losses.len() >= cfg.iters {
                break 'outer;
            }
        }
        epoch += 1;
    }
    let tail = (accs.len() / 10).max(1);
    let train_acc = accs[accs.len().saturating_sub(tail)..].iter().sum::<f64>()
        / tail.min(accs.len()).max(1) as f64;
    let val_acc = if boom.is_none() {
        evaluate(&model, val, 500)?.acc
    } else {
        0.0
    };
    Ok(Trial {
        cfg,
        losses,
        explosion: boom,
        val_acc,
        train_acc,
    })
}

/// Ranges of log10(learning rate) and log10(L2 strength).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SearchSpace {
    /// (low, high) of log10(lr).
    pub log10_lr: (f64, f64),
    /// (low, high) of log10(reg).
    pub log10_reg: (f64, f64),
}

impl SearchSpace {
    /// The lecture's coarse ranges: lr 1e-7..1e-3, reg 1e-5..1.
    pub fn lecture_coarse() -> Self {
        SearchSpace {
            log10_lr: (-7.0, -3.0),
            log10_reg: (-5.0, 0.0),
        }
    }

    /// A finer space centred on a trial's values, `half` decades each side.
    pub fn around(lr: f64, reg: f64, half: f64) -> Self {
        SearchSpace {
            log10_lr: (lr.log10() - half, lr.log10() + half),
            log10_reg: (reg.log10() - half, reg.log10() + half),
        }
    }

    /// `n` (lr, reg) pairs drawn uniformly in log space; the same seed gives
    /// the same pairs.
    ///
    /// ```
    /// use train::babysit::SearchSpace;
    /// let s = SearchSpace::lecture_coarse();
    /// let a = s.sample(5, 42);
    /// assert_eq!(a, s.sample(5, 42));
    /// assert!(a.iter().all(|&(lr, reg)| (1e-7..=1e-3).contains(&lr) && (1e-5..=1.0).contains(&reg)));
    /// ```
    pub fn sample(&self, n: usize, seed: u64) -> Vec<(f64, f64)> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        (0..n)
            .map(|_| {
                let l = rng.random_range(self.log10_lr.0..=self.log10_lr.1);
                let r = rng.random_range(self.log10_reg.0..=self.log10_reg.1);
                (10f64.powf(l), 10f64.powf(r))
            })
            .collect()
    }

    /// Warnings when a value lies in the outer 10% (of the log range) at
    /// either end: the optimum may lie outside the range searched.
    ///
    /// ```
    /// use train::babysit::SearchSpace;
    /// let s = SearchSpace::lecture_coarse();
    /// assert_eq!(s.boundary_warnings(1e-5, 1e-2).len(), 0);
    /// assert_eq!(s.boundary_warnings(9e-4, 1e-2).len(), 1);
    /// ```
    pub fn boundary_warnings(&self, lr: f64, reg: f64) -> Vec<String> {
        let mut w = Vec::new();
        for (name, v, (lo, hi)) in [
            ("learning rate", lr, self.log10_lr),
            ("regularisation", reg, self.log10_reg),
        ] {
            let x = v.log10();
            let margin = 0.1 * (hi - lo);
            if x <= lo + margin {
                w.push(format!("best {name} {v:.2e} lies at the low end of the range searched (1e{lo:.1}..1e{hi:.1}): widen it downwards"));
            } else if x >= hi - margin {
                w.push(format!("best {name} {v:.2e} lies at the high end of the range searched (1e{lo:.1}..1e{hi:.1}): widen it upwards"));
            }
        }
        w
    }
}

/// The trials of a search, best validation accuracy first, and warnings.
#[derive(Clone, Debug)]
pub struct Search {
    /// Sorted by validation accuracy, best first; exploded trials last.
    pub trials: Vec<Trial>,
    /// Best-on-boundary warnings.
    pub warnings: Vec<String>,
}

/// What a [`random_search`] tries: how many trials from which space, each
/// how long, and its seed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SearchConfig {
    /// Where (lr, reg) are drawn, in log space.
    pub space: SearchSpace,
    /// Number of trials.
    pub trials: usize,
    /// SGD steps per trial.
    pub iters: usize,
    /// Mini-batch size.
    pub batch: usize,
    /// SGD momentum.
    pub momentum: f64,
    /// Seed of the draws; trial `i` trains with seed `seed + i + 1`.
    pub seed: u64,
}

/// Random search: `cfg.trials` configurations sampled in log space from
/// `cfg.space` (seeded), each trained for `cfg.iters` steps in parallel
/// across the available cores (one tape per trial), early-stopped on
/// explosion. `on_trial` hears of each trial as it ends.
pub fn random_search<M: Classifier>(
    make: &(dyn Fn(u64) -> M + Sync),
    train: &Dataset,
    val: &Dataset,
    cfg: &SearchConfig,
    on_trial: &(dyn Fn(&Trial) + Sync),
) -> Result<Search> {
    random_search_on(&crate::dist::Local, make, train, val, cfg, on_trial)
}

/// [`random_search`] spread over the ranks of `comm`: trial `i` runs on
/// rank `i mod size`, and every rank ends with every trial's result (so a
/// coarse-to-fine search can centre its next round on any rank). Each
/// trial's draws and seed depend only on `cfg.seed` and `i`, so the results
/// are the single-process search's, bit for bit, for any number of ranks.
/// `on_trial` hears of this rank's trials.
///
/// ```
/// use rand::SeedableRng;
/// use train::babysit::{random_search_on, SearchConfig, SearchSpace};
/// let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
/// let x = autograd::Tensor::randn(&[40, 3, 2, 2], 0.0, 1.0, &mut rng);
/// let set = data::Dataset::new(x, (0..40).map(|i| i % 10).collect(), 10)?;
/// let make = |s: u64| {
///     train::models::LinearSoftmax::new(12, 10, &mut rand_chacha::ChaCha8Rng::seed_from_u64(s))
/// };
/// let cfg = SearchConfig {
///     space: SearchSpace { log10_lr: (-3.0, -1.0), log10_reg: (-5.0, -2.0) },
///     trials: 3, iters: 5, batch: 10, momentum: 0.9, seed: 1,
/// };
/// // `Local` is one process; under mpirun, a train::mpi::MpiWorld
/// let s = random_search_on(&train::dist::Local, &make, &set, &set, &cfg, &|_| {})?;
/// assert_eq!(s.trials.len(), 3);
/// # Ok::<(), autograd::Error>(())
/// ```
pub fn random_search_on<M: Classifier>(
    comm: &dyn Collective,
    make: &(dyn Fn(u64) -> M + Sync),
    train: &Dataset,
    val: &Dataset,
    cfg: &SearchConfig,
    on_trial: &(dyn Fn(&Trial) + Sync),
) -> Result<Search> {
    let SearchConfig {
        space,
        trials: n,
        iters,
        batch,
        momentum,
        seed,
    } = *cfg;
    let (rank, size) = (comm.rank(), comm.size().max(1));
    let cfgs: Vec<(usize, TrialCfg)> = space
        .sample(n, seed)
        .into_iter()
        .enumerate()
        .map(|(i, (lr, reg))| {
            let cfg = TrialCfg {
                lr,
                reg,
                iters,
                batch,
                momentum,
                seed: seed.wrapping_add(i as u64 + 1),
            };
            (i, cfg)
        })
        .filter(|(i, _)| i % size == rank)
        .collect();
    let mine = cfgs
        .into_par_iter()
        .with_max_len(1)
        .map(|(i, cfg)| {
            let t = run_trial(make, train, val, cfg)?;
            on_trial(&t);
            Ok((i, t))
        })
        .collect::<Result<Vec<(usize, Trial)>>>()?;
    let mut bytes = Vec::new();
    for (i, t) in &mine {
        encode_trial(*i, t, &mut bytes);
    }
    let mut all: Vec<(usize, Trial)> = Vec::with_capacity(n);
    for (r, part) in comm.all_gather_bytes(&bytes)?.iter().enumerate() {
        decode_trials(part, &mut all)
            .map_err(|m| Error::invalid("random_search", format!("rank {r}'s results: {m}")))?;
    }
    // the single-process order (by trial index), then the stable sort
    all.sort_by_key(|(i, _)| *i);
    let mut trials: Vec<Trial> = all.into_iter().map(|(_, t)| t).collect();
    if trials.len() != n {
        return Err(Error::invalid(
            "random_search",
            format!("{} of {n} trial results arrived", trials.len()),
        ));
    }
    trials.sort_by(|a, b| {
        (a.explosion.is_some(), -a.val_acc)
            .partial_cmp(&(b.explosion.is_some(), -b.val_acc))
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    let warnings = match trials.first() {
        Some(best) if best.explosion.is_none() => {
            space.boundary_warnings(best.cfg.lr, best.cfg.reg)
        }
        _ => vec!["every trial exploded: lower the learning-rate range".to_string()],
    };
    Ok(Search { trials, warnings })
}

/// A trial as bytes, every float by its bits (so a gathered result is the
/// computed one exactly).
fn encode_trial(i: usize, t: &Trial, out: &mut Vec<u8>) {
    let mut put = |v: u64| out.extend_from_slice(&v.to_le_bytes());
    put(i as u64);
    let c = &t.cfg;
    for v in [c.lr, c.reg, c.momentum, t.val_acc, t.train_acc] {
        put(v.to_bits());
    }
    put(c.iters as u64);
    put(c.batch as u64);
    put(c.seed);
    let (tag, a, b) = match t.explosion {
        None => (0, 0.0, 0.0),
        Some(Explosion::NonFinite(l)) => (1, l, 0.0),
        Some(Explosion::TooLarge { loss, initial }) => (2, loss, initial),
    };
    put(tag);
    put(f64::to_bits(a));
    put(f64::to_bits(b));
    put(t.losses.len() as u64);
    for l in &t.losses {
        put(l.to_bits());
    }
}

fn decode_trials(mut b: &[u8], out: &mut Vec<(usize, Trial)>) -> std::result::Result<(), String> {
    fn next(b: &mut &[u8]) -> std::result::Result<u64, String> {
        let (head, rest) = b.split_first_chunk::<8>().ok_or("truncated")?;
        *b = rest;
        Ok(u64::from_le_bytes(*head))
    }
    while !b.is_empty() {
        let mut take = || next(&mut b);
        let i = take()? as usize;
        let f = |v: u64| f64::from_bits(v);
        let (lr, reg, momentum) = (f(take()?), f(take()?), f(take()?));
        let (val_acc, train_acc) = (f(take()?), f(take()?));
        let (iters, batch, seed) = (take()? as usize, take()? as usize, take()?);
        let (tag, a, bb) = (take()?, f(take()?), f(take()?));
        let explosion = match tag {
            0 => None,
            1 => Some(Explosion::NonFinite(a)),
            2 => Some(Explosion::TooLarge {
                loss: a,
                initial: bb,
            }),
            t => return Err(format!("unknown explosion tag {t}")),
        };
        let n = take()? as usize;
        if n > 1 << 28 {
            return Err(format!("{n} losses"));
        }
        let losses = (0..n)
            .map(|_| take().map(f))
            .collect::<std::result::Result<_, _>>()?;
        let cfg = TrialCfg {
            lr,
            reg,
            iters,
            batch,
            momentum,
            seed,
        };
        out.push((
            i,
            Trial {
                cfg,
                losses,
                explosion,
                val_acc,
                train_acc,
            },
        ));
    }
    Ok(())
}

/// The lecture's rule of thumb for the update/weight ratio (about 1e-3 is
/// healthy): `None` inside 1e-4..=1e-2, otherwise which way the learning rate
/// is probably off.
///
/// ```
/// use train::babysit::update_ratio_note;
/// assert_eq!(update_ratio_note(1e-3), None);
/// assert!(update_ratio_note(1e-6).unwrap().contains("too low"));
/// assert!(update_ratio_note(0.5).unwrap().contains("too high"));
/// ```
pub fn update_ratio_note(ratio: f64) -> Option<&'static str> {
    if ratio < 1e-4 {
        Some("far below 1e-3: learning rate may be too low")
    } else if ratio > 1e-2 {
        Some("far above 1e-3: learning rate may be too high")
    } else if ratio.is_nan() {
        Some("not a number: training has diverged")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A gathered trial is the computed one bit for bit, NaN losses and
    /// every kind of explosion included; truncated bytes are an error.
    #[test]
    fn trials_round_trip_through_bytes_exactly() {
        let cfg = TrialCfg {
            lr: 1.234e-3,
            reg: 5.6e-5,
            iters: 77,
            batch: 20,
            momentum: 0.9,
            seed: u64::MAX - 3,
        };
        let trials = [
            (3, None, vec![2.3, 2.1, 1.9]),
            (0, Some(Explosion::NonFinite(f64::NAN)), vec![2.3, f64::NAN]),
            (
                7,
                Some(Explosion::TooLarge {
                    loss: 1e9,
                    initial: 2.3,
                }),
                vec![],
            ),
        ];
        let mut bytes = Vec::new();
        for (i, explosion, losses) in &trials {
            let t = Trial {
                cfg,
                losses: losses.clone(),
                explosion: explosion.clone(),
                val_acc: 0.1 + *i as f64,
                train_acc: 1.0 / 3.0,
            };
            encode_trial(*i, &t, &mut bytes);
        }
        let mut back = Vec::new();
        decode_trials(&bytes, &mut back).unwrap();
        assert_eq!(back.len(), 3);
        for ((i, explosion, losses), (j, t)) in trials.iter().zip(&back) {
            assert_eq!(i, j);
            assert_eq!(format!("{explosion:?}"), format!("{:?}", t.explosion));
            let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(losses), bits(&t.losses));
            assert_eq!(t.val_acc.to_bits(), (0.1 + *i as f64).to_bits());
            assert_eq!(t.train_acc.to_bits(), (1.0f64 / 3.0).to_bits());
            assert_eq!(
                (t.cfg.lr, t.cfg.reg, t.cfg.iters, t.cfg.batch, t.cfg.seed),
                (cfg.lr, cfg.reg, cfg.iters, cfg.batch, cfg.seed)
            );
        }
        let mut short = Vec::new();
        assert!(decode_trials(&bytes[..bytes.len() - 3], &mut short).is_err());
    }
}
