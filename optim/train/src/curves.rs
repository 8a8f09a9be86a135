//! What a training run records for its pictures: the loss per step and,
//! every few steps, the update/weight ratio of each weight matrix.

use std::collections::BTreeMap;

use crate::StepInfo;

/// Loss per step and update/weight ratios per weight, by global step.
#[derive(Clone, Debug, Default)]
pub struct Curves {
    /// (global step, loss)
    pub losses: Vec<(f64, f64)>,
    /// weight name -> (global step, ||update|| / ||weight||)
    pub ratios: BTreeMap<String, Vec<(f64, f64)>>,
    step: usize,
}

impl Curves {
    /// Empty curves whose first recorded step is `step` (a resumed run).
    pub fn starting_at(step: usize) -> Self {
        Curves {
            step,
            ..Curves::default()
        }
    }

    /// Records one step; ratios of `*.weight` tensors (not batch norm's) every `every` steps.
    pub fn record(&mut self, info: &StepInfo<'_>, every: usize) {
        let s = self.step as f64;
        self.losses.push((s, info.loss));
        if self.step.is_multiple_of(every.max(1)) {
            for (name, r) in info.opt.update_ratios() {
                if name.ends_with("weight") && !name.starts_with("bn") {
                    self.ratios.entry(name.clone()).or_default().push((s, *r));
                }
            }
        }
        self.step += 1;
    }

    /// Steps recorded so far.
    pub fn steps(&self) -> usize {
        self.step
    }

    /// The loss averaged over consecutive windows of `window` steps.
    pub fn smoothed_loss(&self, window: usize) -> Vec<(f64, f64)> {
        self.losses
            .chunks(window.max(1))
            .map(|c| (c[0].0, c.iter().map(|p| p.1).sum::<f64>() / c.len() as f64))
            .collect()
    }
}
