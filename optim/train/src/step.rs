//! The pieces of a training loop: one step, one epoch of seeded
//! (optionally augmented) mini-batches with any [`Optimizer`] and schedule,
//! and evaluation in eval mode under `no_grad`. [`crate::fit()`] puts them
//! together with checkpoints.

use autograd::{Error, Result, Tape, Tensor};
use data::{Augment, Batches, Dataset};
use nn::{Classifier, Mode};
use optim::schedule::apply_schedule;
use optim::{LrSchedule, Optimizer};

use crate::dist::DataParallel;

/// Mean loss and accuracy of one pass over a set.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Pass {
    /// Mean cross-entropy (without the L2 term).
    pub loss: f64,
    /// Fraction classified correctly.
    pub acc: f64,
}

/// What one optimizer step saw, for progress and curves.
#[derive(Clone)]
pub struct StepInfo<'a> {
    /// Epoch (from 0).
    pub epoch: u64,
    /// Step within the epoch.
    pub step: usize,
    /// Step counted from the start of training.
    pub global_step: usize,
    /// Mini-batch loss.
    pub loss: f64,
    /// Mini-batch accuracy.
    pub acc: f64,
    /// The optimizer after the step (update ratios, lr).
    pub opt: &'a dyn Optimizer<f32>,
}

/// One optimizer step on a batch; returns (loss, accuracy) before the update.
pub fn train_step<M: Classifier + ?Sized>(
    model: &mut M,
    opt: &mut dyn Optimizer<f32>,
    images: &Tensor<f32>,
    labels: &[usize],
) -> Result<(f64, f64)> {
    let tape = Tape::new();
    let scores = model.forward(&tape, tape.constant(images.clone()), Mode::Train)?;
    let loss = nn::cross_entropy(scores, labels)?;
    let lv = loss.value().item()? as f64;
    let acc = nn::accuracy(&scores.value(), labels);
    let grads = tape.backward(loss)?;
    drop(tape); // release the tape's references so the update writes in place
    opt.step(model.as_module_mut(), &grads)?;
    Ok((lv, acc))
}

/// How one epoch runs: batch size, the (seed, epoch) streams of batch order
/// and augmentation, which steps to take, and the learning-rate schedule.
///
/// ```
/// use train::EpochConfig;
/// let cfg = EpochConfig::new(64, 1, 0).steps(10, 20);
/// assert_eq!((cfg.batch, cfg.start, cfg.end), (64, 10, 20));
/// ```
#[derive(Clone, Copy)]
pub struct EpochConfig<'a> {
    /// Mini-batch size (at least 1).
    pub batch: usize,
    /// Seed of batch order and augmentation.
    pub seed: u64,
    /// Epoch number (from 0): with the seed, it keys the random streams.
    pub epoch: u64,
    /// First step to take; the batches before it are drawn and dropped, so
    /// the batch order and augmentation draws are exactly those of a full
    /// epoch (to resume mid-epoch).
    pub start: usize,
    /// Step to stop before (`usize::MAX`: the whole epoch).
    pub end: usize,
    /// Data augmentation of the training batches.
    pub augment: Option<Augment>,
    /// Learning-rate schedule by global step, applied to every parameter
    /// group before each step; `None` keeps the optimizer's rates.
    pub schedule: Option<&'a dyn LrSchedule>,
    /// Global step of this epoch's step 0 (for the schedule and [`StepInfo`]).
    pub first_global_step: usize,
    /// Data-parallel steps over several processes (each batch split among
    /// them); `None`: this process takes every step alone.
    pub parallel: Option<&'a DataParallel<'a>>,
}

impl EpochConfig<'_> {
    /// A whole epoch without augmentation or schedule.
    pub fn new(batch: usize, seed: u64, epoch: u64) -> Self {
        EpochConfig {
            batch,
            seed,
            epoch,
            start: 0,
            end: usize::MAX,
            augment: None,
            schedule: None,
            first_global_step: 0,
            parallel: None,
        }
    }
    /// Only steps `start..end`.
    pub fn steps(mut self, start: usize, end: usize) -> Self {
        (self.start, self.end) = (start, end);
        self
    }
    /// With augmentation.
    pub fn augment(mut self, a: Option<Augment>) -> Self {
        self.augment = a;
        self
    }
}

impl<'a> EpochConfig<'a> {
    /// With a per-step schedule; `first_global_step` is the global step of
    /// this epoch's step 0.
    pub fn schedule(mut self, s: &'a dyn LrSchedule, first_global_step: usize) -> Self {
        self.schedule = Some(s);
        self.first_global_step = first_global_step;
        self
    }
}

/// Steps `cfg.start..cfg.end` of one epoch; stops early (returning what it
/// saw) when the loss is not finite. `on_step` sees each step after the
/// update.
pub fn train_epoch<M: Classifier + ?Sized>(
    model: &mut M,
    opt: &mut dyn Optimizer<f32>,
    train: &Dataset,
    cfg: &EpochConfig<'_>,
    mut on_step: impl FnMut(StepInfo<'_>),
) -> Result<Pass> {
    if cfg.batch == 0 {
        return Err(Error::invalid("train_epoch", "batch size 0"));
    }
    let (mut loss_sum, mut hits, mut seen) = (0.0, 0.0, 0usize);
    let batches = Batches::new(train, cfg.batch, Some(cfg.seed), cfg.epoch, cfg.augment);
    for (step, b) in batches.enumerate() {
        if step >= cfg.end {
            break;
        }
        let b = b?;
        if step < cfg.start {
            continue;
        }
        let global_step = cfg.first_global_step + step;
        if let Some(s) = cfg.schedule {
            apply_schedule(&mut *opt, s, global_step);
        }
        let (loss, acc) = match cfg.parallel {
            Some(dp) => dp.step(model, &mut *opt, &b.images, &b.labels)?,
            None => train_step(model, &mut *opt, &b.images, &b.labels)?,
        };
        loss_sum += loss * b.len() as f64;
        hits += acc * b.len() as f64;
        seen += b.len();
        on_step(StepInfo {
            epoch: cfg.epoch,
            step,
            global_step,
            loss,
            acc,
            opt: &*opt,
        });
        if !loss.is_finite() {
            break;
        }
    }
    Ok(Pass {
        loss: loss_sum / seen.max(1) as f64,
        acc: hits / seen.max(1) as f64,
    })
}

/// Loss and accuracy over a set in eval mode, recording nothing.
pub fn evaluate<M: Classifier + ?Sized>(model: &M, set: &Dataset, batch: usize) -> Result<Pass> {
    let (mut loss_sum, mut hits) = (0.0, 0.0);
    for b in Batches::new(set, batch, None, 0, None) {
        let b = b?;
        let scores = predict(model, &b.images)?;
        let tape = Tape::new();
        loss_sum += nn::cross_entropy(tape.constant(scores.clone()), &b.labels)?
            .value()
            .item()? as f64
            * b.len() as f64;
        hits += nn::accuracy(&scores, &b.labels) * b.len() as f64;
    }
    let n = set.len().max(1) as f64;
    Ok(Pass {
        loss: loss_sum / n,
        acc: hits / n,
    })
}

/// Scores of a batch in eval mode.
pub fn predict<M: Classifier + ?Sized>(model: &M, x: &Tensor<f32>) -> Result<Tensor<f32>> {
    let tape = Tape::new();
    let _g = tape.no_grad();
    Ok(model
        .forward(&tape, tape.constant(x.clone()), Mode::Eval)?
        .value())
}
