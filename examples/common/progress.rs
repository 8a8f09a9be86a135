//! Progress for long loops: an indicatif bar on a terminal, plain lines
//! (every `every` steps) when the output is a file or a pipe.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

pub struct Progress {
    bar: Option<ProgressBar>,
    total: u64,
    every: u64,
    label: String,
}

impl Progress {
    pub fn new(total: u64, label: &str) -> Self {
        let bar = (std::io::stderr().is_terminal() && super::dist::is_lead()).then(|| {
            let b = ProgressBar::new(total);
            b.set_style(
                ProgressStyle::with_template("{prefix} [{bar:40}] {pos}/{len} {msg} ({eta})")
                    .unwrap()
                    .progress_chars("=> "),
            );
            b.set_prefix(label.to_string());
            b
        });
        Progress {
            bar,
            total,
            every: (total / 10).max(1),
            label: label.to_string(),
        }
    }

    /// Marks step `i` (0-based) done with a message.
    pub fn step(&self, i: u64, msg: impl FnOnce() -> String) {
        if !super::dist::is_lead() {
            return;
        }
        match &self.bar {
            Some(b) => {
                b.set_position(i + 1);
                if i.is_multiple_of(10) {
                    b.set_message(msg());
                }
            }
            None => {
                if (i + 1).is_multiple_of(self.every) || i + 1 == self.total {
                    eprintln!("{} {}/{} {}", self.label, i + 1, self.total, msg());
                }
            }
        }
    }

    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

/// What the examples do while `train::fit` runs: a progress bar per epoch,
/// the caller's line per epoch, a line on resume, and the test hook that
/// ends the process after a given step as a SIGKILL would.
pub struct FitCallbacks<F: FnMut(&train::EpochEnd<'_>)> {
    bar: Option<Progress>,
    epochs: usize,
    abort_after: Option<usize>,
    on_epoch: F,
}

impl<F: FnMut(&train::EpochEnd<'_>)> FitCallbacks<F> {
    /// `epochs`: the run's length (for the resume line); `abort_after`:
    /// the hidden `--abort-after-steps` flag.
    pub fn new(epochs: usize, abort_after: Option<usize>, on_epoch: F) -> Self {
        FitCallbacks {
            bar: None,
            epochs,
            abort_after,
            on_epoch,
        }
    }
}

impl<F: FnMut(&train::EpochEnd<'_>)> train::Callbacks for FitCallbacks<F> {
    fn on_resume(
        &mut self,
        path: &std::path::Path,
        pos: train::checkpoint::Position,
        steps_per_epoch: usize,
    ) {
        if pos.epoch as usize >= self.epochs {
            println!(
                "resumed from {}: the run had finished its {} epochs",
                path.display(),
                pos.epoch
            );
        } else {
            println!(
                "resumed from {}: epoch {}, step {} of {steps_per_epoch}",
                path.display(),
                pos.epoch + 1,
                pos.step
            );
        }
    }
    fn on_epoch_start(&mut self, epoch: usize, steps: usize) {
        self.bar = Some(Progress::new(steps as u64, &format!("epoch {}", epoch + 1)));
    }
    fn on_step(&mut self, info: &train::StepInfo<'_>) {
        if let Some(bar) = &self.bar {
            bar.step(info.step as u64, || format!("loss {:.4}", info.loss));
        }
        if self.abort_after == Some(info.global_step + 1) {
            // as a SIGKILL would: no destructors, nothing more written
            // (exit rather than abort: no core file)
            eprintln!(
                "aborting after step {} (--abort-after-steps)",
                info.global_step + 1
            );
            std::process::exit(137);
        }
    }
    fn on_epoch(&mut self, end: &train::EpochEnd<'_>) {
        if let Some(bar) = self.bar.take() {
            bar.finish();
        }
        (self.on_epoch)(end);
    }
}

/// The examples' line for an epoch: learning rate, training and `set`
/// ("val", "test") loss and accuracy, time, and whether it was the best.
pub fn epoch_line(e: &train::EpochEnd<'_>, set: &str) -> String {
    format!(
        "epoch {:>2} lr {:.2e} train loss {:.4} acc {:.2}% | {set} loss {:.4} acc {:.2}% | {:.1} s/epoch{}",
        e.epoch,
        e.opt.lr(),
        e.train.loss,
        100.0 * e.train.acc,
        e.val.loss,
        100.0 * e.val.acc,
        e.secs,
        if e.saved_best { " (best, saved)" } else { "" }
    )
}
