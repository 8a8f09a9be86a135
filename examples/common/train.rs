//! A plain training loop shared by the examples: epochs of seeded,
//! optionally augmented mini-batches, SGD, and evaluation in eval mode
//! without a tape's saved tensors.

use autograd::{Result, Tape, Tensor, Var};
use data::{Augment, Batches, Dataset};
use nn::{Mode, Module};
use optim::Sgd;

/// A classifier the loop can train: a forward function over a tape.
pub trait Model: Module<f32> {
    /// Scores `[N, classes]` for images `[N, C, H, W]`.
    fn forward<'t>(&mut self, tape: &'t Tape<f32>, x: Var<'t, f32>, mode: Mode) -> Result<Var<'t, f32>>;
}

/// Mean loss and accuracy of one pass.
#[derive(Clone, Copy, Debug, Default)]
pub struct Pass {
    pub loss: f64,
    pub acc: f64,
}

/// One epoch of SGD; returns the running mean loss and training accuracy.
pub fn train_epoch<M: Model>(model: &mut M, sgd: &mut Sgd<f32>, train: &Dataset, batch: usize, seed: u64, epoch: u64, augment: Option<Augment>, mut on_step: impl FnMut(usize, f64, &Sgd<f32>)) -> Result<Pass> {
    let (mut loss_sum, mut hits, mut seen) = (0.0, 0.0, 0usize);
    for (step, b) in Batches::new(train, batch, Some(seed), epoch, augment).enumerate() {
        let b = b?;
        let (loss, acc) = {
            let tape = Tape::new();
            let x = tape.constant(b.images.clone());
            let scores = model.forward(&tape, x, Mode::Train)?;
            let loss = nn::cross_entropy(scores, &b.labels)?;
            let lv = loss.value().item()? as f64;
            let acc = nn::accuracy(&scores.value(), &b.labels);
            let grads = tape.backward(loss)?;
            drop(tape);
            sgd.step(model, &grads)?;
            (lv, acc)
        };
        loss_sum += loss * b.len() as f64;
        hits += acc * b.len() as f64;
        seen += b.len();
        on_step(step, loss, sgd);
        if !loss.is_finite() {
            break;
        }
    }
    Ok(Pass { loss: loss_sum / seen.max(1) as f64, acc: hits / seen.max(1) as f64 })
}

/// Loss and accuracy over a set in eval mode, in batches, recording nothing.
pub fn evaluate<M: Model>(model: &mut M, set: &Dataset, batch: usize) -> Result<Pass> {
    let (mut loss_sum, mut hits) = (0.0, 0.0);
    for b in Batches::new(set, batch, None, 0, None) {
        let b = b?;
        let tape = Tape::new();
        let _g = tape.no_grad();
        let scores = model.forward(&tape, tape.constant(b.images.clone()), Mode::Eval)?;
        loss_sum += nn::cross_entropy(scores, &b.labels)?.value().item()? as f64 * b.len() as f64;
        hits += nn::accuracy(&scores.value(), &b.labels) * b.len() as f64;
    }
    let n = set.len().max(1) as f64;
    Ok(Pass { loss: loss_sum / n, acc: hits / n })
}

/// Scores of a batch in eval mode.
pub fn predict<M: Model>(model: &mut M, x: &Tensor<f32>) -> Result<Tensor<f32>> {
    let tape = Tape::new();
    let _g = tape.no_grad();
    Ok(model.forward(&tape, tape.constant(x.clone()), Mode::Eval)?.value())
}
