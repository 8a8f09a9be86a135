//! A plain training loop: epochs of seeded (optionally augmented)
//! mini-batches with any [`Optimizer`], and evaluation in eval mode under
//! `no_grad`.

use autograd::{Result, Tape, Tensor};
use data::{Augment, Batches, Dataset};
use nn::{Classifier, Mode};

use crate::Optimizer;

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
    /// Step within the epoch.
    pub step: usize,
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

/// One epoch; stops early (returning what it saw) when the loss is not finite.
#[allow(clippy::too_many_arguments)]
pub fn train_epoch<M: Classifier + ?Sized>(
    model: &mut M,
    opt: &mut dyn Optimizer<f32>,
    train: &Dataset,
    batch: usize,
    seed: u64,
    epoch: u64,
    augment: Option<Augment>,
    on_step: impl FnMut(StepInfo<'_>),
) -> Result<Pass> {
    train_epoch_from(
        model,
        opt,
        train,
        batch,
        seed,
        epoch,
        0,
        usize::MAX,
        augment,
        None,
        on_step,
    )
}

/// Steps `start..end` of an epoch (to resume mid-epoch, or to stop at a
/// given step). The batches before `start` are drawn and dropped, so the
/// batch order and the augmentation draws are exactly those of a full epoch.
/// `lr_at(step)`, when given, sets the learning rate before each step (step
/// counted within the epoch), for per-step schedules and warm-up.
#[allow(clippy::too_many_arguments)]
pub fn train_epoch_from<M: Classifier + ?Sized>(
    model: &mut M,
    opt: &mut dyn Optimizer<f32>,
    train: &Dataset,
    batch: usize,
    seed: u64,
    epoch: u64,
    start: usize,
    end: usize,
    augment: Option<Augment>,
    lr_at: Option<&dyn Fn(usize) -> f64>,
    mut on_step: impl FnMut(StepInfo<'_>),
) -> Result<Pass> {
    let (mut loss_sum, mut hits, mut seen) = (0.0, 0.0, 0usize);
    for (step, b) in Batches::new(train, batch, Some(seed), epoch, augment).enumerate() {
        if step >= end {
            break;
        }
        let b = b?;
        if step < start {
            continue;
        }
        if let Some(f) = lr_at {
            opt.set_lr(f(step));
        }
        let (loss, acc) = train_step(model, &mut *opt, &b.images, &b.labels)?;
        loss_sum += loss * b.len() as f64;
        hits += acc * b.len() as f64;
        seen += b.len();
        on_step(StepInfo {
            step,
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
pub fn evaluate<M: Classifier + ?Sized>(
    model: &mut M,
    set: &Dataset,
    batch: usize,
) -> Result<Pass> {
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
pub fn predict<M: Classifier + ?Sized>(model: &mut M, x: &Tensor<f32>) -> Result<Tensor<f32>> {
    let tape = Tape::new();
    let _g = tape.no_grad();
    Ok(model
        .forward(&tape, tape.constant(x.clone()), Mode::Eval)?
        .value())
}
