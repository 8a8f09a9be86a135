//! `fit`: the epoch loop with evaluation, best-model saving and training
//! checkpoints. A run killed at any point (SIGKILL, power loss) continues
//! with `resume` from its last checkpoint and reaches the same final
//! weights as a run never stopped.
//!
//! Every `save_every` steps and at the end of each epoch the loop writes
//! `OUT/NAME_train.safetensors` (model, buffers, optimizer state, position,
//! and the run's history and best result so far), atomically; the best
//! model by validation accuracy goes to `OUT/NAME_best.safetensors`. The
//! batch order and augmentation draws come from (seed, epoch) streams, so
//! the position is the whole RNG state (see [`crate::checkpoint`]).
//!
//! ```
//! use data::Dataset;
//! use optim::Sgd;
//! use rand::SeedableRng;
//! use train::{fit, FitConfig};
//! let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
//! let images = autograd::Tensor::randn(&[20, 3, 4, 4], 0.0, 1.0, &mut rng);
//! let set = Dataset::new(images, (0..20).map(|i| i % 10).collect(), 10)?;
//! let mut model = train::models::LinearSoftmax::new(48, 10, &mut rng);
//! let out = tempfile::tempdir().unwrap();
//! let cfg = FitConfig::new("linear", out.path(), 2, 5);
//! let h = fit(&mut model, &mut Sgd::new(1e-2), &set, &set, &cfg, &mut ())?;
//! assert_eq!(h.val_acc.len(), 2);
//! assert!(h.best_path.exists() && h.train_path.exists());
//! # Ok::<(), autograd::Error>(())
//! ```

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use autograd::{Error, ErrorKind, Result};
use data::{Augment, Dataset};
use nn::Classifier;
use optim::{LrSchedule, Optimizer};

use crate::checkpoint::{load_training_with, save_training_with, Position};
use crate::dist::DataParallel;
use crate::step::{evaluate, train_epoch, EpochConfig, Pass, StepInfo};
use crate::Curves;

/// What [`fit()`] does: how long, in which batches, with which schedule,
/// where it writes and how often.
#[derive(Clone)]
pub struct FitConfig<'a> {
    /// Used in file names: `OUT/{name}_train.safetensors`, `OUT/{name}_best.safetensors`.
    pub name: String,
    /// The folder of those files.
    pub out: PathBuf,
    /// Epochs in all (a resumed run trains what is left).
    pub epochs: usize,
    /// Mini-batch size.
    pub batch: usize,
    /// Seed of batch order and augmentation.
    pub seed: u64,
    /// Data augmentation of the training batches.
    pub augment: Option<Augment>,
    /// Learning rate by global step (warm-up, cosine, ...), applied to every
    /// parameter group; `None` keeps the optimizer's rates.
    pub schedule: Option<&'a dyn LrSchedule>,
    /// Steps between training checkpoints (also written at every epoch end).
    pub save_every: usize,
    /// Continue from `OUT/{name}_train.safetensors`.
    pub resume: bool,
    /// Start over even when an earlier run's files are in `out`.
    pub overwrite: bool,
    /// Batch size of evaluation.
    pub eval_batch: usize,
    /// Update ratios are recorded in the history every this many steps.
    pub ratio_every: usize,
    /// At the end, load the best model's weights and buffers back into the
    /// model (Keras's `restore_best_weights`); otherwise it keeps the last
    /// epoch's.
    pub reload_best: bool,
    /// Data-parallel training over several processes ([`crate::dist`]):
    /// every rank calls `fit` with the same arguments; each batch and the
    /// validation set are split among the ranks, only rank 0 writes files.
    /// To resume, every rank reads the training checkpoint: on several
    /// machines `out` must be a shared folder (or the file copied to each).
    /// `None`: one process.
    pub parallel: Option<&'a DataParallel<'a>>,
}

impl FitConfig<'_> {
    /// `epochs` epochs of batches of `batch`, seed 0, no augmentation or
    /// schedule, a checkpoint every 500 steps, evaluation in batches of 500,
    /// the best model reloaded at the end.
    pub fn new(name: &str, out: &Path, epochs: usize, batch: usize) -> Self {
        FitConfig {
            name: name.to_string(),
            out: out.to_path_buf(),
            epochs,
            batch,
            seed: 0,
            augment: None,
            schedule: None,
            save_every: 500,
            resume: false,
            overwrite: false,
            eval_batch: 500,
            ratio_every: 10,
            reload_best: true,
            parallel: None,
        }
    }
}

/// What one epoch gave.
pub struct EpochEnd<'a> {
    /// Epoch number, from 1.
    pub epoch: usize,
    /// Mean loss and accuracy of the epoch's training batches.
    pub train: Pass,
    /// Validation loss and accuracy (NaN / 0 when the run diverged).
    pub val: Pass,
    /// Whether this epoch's model was saved as the best so far.
    pub saved_best: bool,
    /// Seconds the epoch's training took (evaluation not included).
    pub secs: f64,
    /// The optimizer (learning rate, update ratios).
    pub opt: &'a dyn Optimizer<f32>,
}

/// What [`fit()`] tells its caller as it goes; every method does nothing by
/// default, and `()` is the caller that wants nothing.
pub trait Callbacks {
    /// Training continues from the checkpoint `path` at `pos`.
    fn on_resume(&mut self, _path: &Path, _pos: Position, _steps_per_epoch: usize) {}
    /// An epoch (from 0) starts, `steps` steps long.
    fn on_epoch_start(&mut self, _epoch: usize, _steps: usize) {}
    /// A step was taken (after the update).
    fn on_step(&mut self, _info: &StepInfo<'_>) {}
    /// An epoch ended (or the run diverged during it).
    fn on_epoch(&mut self, _end: &EpochEnd<'_>) {}
}

impl Callbacks for () {}

/// The history of a run.
#[derive(Clone, Debug, Default)]
pub struct History {
    /// (epoch, training accuracy), from epoch 1.
    pub train_acc: Vec<(f64, f64)>,
    /// (epoch, validation accuracy), from epoch 1.
    pub val_acc: Vec<(f64, f64)>,
    /// (validation accuracy, epoch) of the saved best model; epoch 0 = none.
    pub best: (f64, usize),
    /// Loss and update ratios of the steps this process ran.
    pub curves: Curves,
    /// The best model's file.
    pub best_path: PathBuf,
    /// The training checkpoint's file.
    pub train_path: PathBuf,
    /// The loss stopped being finite; training stopped there.
    pub diverged: bool,
}

fn io_err(path: &Path, msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::Io, path.display().to_string(), msg)
}

/// `(training checkpoint, best model)` files of the run `name` in `out`.
pub fn paths(out: &Path, name: &str) -> (PathBuf, PathBuf) {
    (
        out.join(format!("{name}_train.safetensors")),
        out.join(format!("{name}_best.safetensors")),
    )
}

/// Refuses to start over an earlier run's files unless asked to, so a rerun
/// never replaces an earlier best model with a worse one by accident; and
/// resuming without a checkpoint is an error, not a fresh start. [`fit()`]
/// checks this itself; call it first to fail before loading any data.
pub fn check_start(out: &Path, name: &str, resume: bool, overwrite: bool) -> Result<()> {
    let (train_path, best_path) = paths(out, name);
    if resume {
        if !train_path.exists() {
            return Err(io_err(
                &train_path,
                "resume: no training checkpoint to continue from",
            ));
        }
        return Ok(());
    }
    if !overwrite {
        for p in [&best_path, &train_path] {
            if p.exists() {
                return Err(io_err(
                    p,
                    "is from an earlier run: resume it (--resume), start over (--overwrite), or write elsewhere (--out)",
                ));
            }
        }
    }
    Ok(())
}

fn history_to_string(v: &[(f64, f64)]) -> String {
    v.iter()
        .map(|(e, a)| format!("{e}:{a:e}"))
        .collect::<Vec<_>>()
        .join(",")
}

fn history_from_string(path: &Path, s: &str) -> Result<Vec<(f64, f64)>> {
    if s.is_empty() {
        return Ok(Vec::new());
    }
    s.split(',')
        .map(|p| {
            let parsed = p
                .split_once(':')
                .and_then(|(e, a)| Some((e.parse().ok()?, a.parse().ok()?)));
            parsed.ok_or_else(|| io_err(path, format!("bad history entry {p:?} in the metadata")))
        })
        .collect()
}

/// Running sums of the epoch in progress, so a resumed epoch reports the
/// same training loss and accuracy as an uninterrupted one.
#[derive(Clone, Copy, Default)]
struct Partial {
    loss_sum: f64,
    hits: f64,
    seen: usize,
}

/// Trains `model` for `cfg.epochs` epochs (or what is left of them after a
/// resume), evaluating on `val` after each and saving the best model by
/// validation accuracy; `callbacks` hear of each step and epoch (a progress
/// bar, a log line). With `cfg.reload_best` the model ends with the best
/// epoch's weights. Stops (with `History::diverged`) when the loss stops
/// being finite, keeping the last good checkpoint; the model then holds the
/// best epoch's weights if there was one (and `reload_best` is on), else
/// the diverged ones, for inspection.
pub fn fit<M: Classifier + ?Sized>(
    model: &mut M,
    opt: &mut dyn Optimizer<f32>,
    train: &Dataset,
    val: &Dataset,
    cfg: &FitConfig<'_>,
    callbacks: &mut dyn Callbacks,
) -> Result<History> {
    if cfg.batch == 0 || cfg.save_every == 0 || cfg.eval_batch == 0 {
        return Err(Error::invalid(
            "fit",
            format!(
                "batch {}, save_every {} and eval_batch {} must each be at least 1",
                cfg.batch, cfg.save_every, cfg.eval_batch
            ),
        ));
    }
    if train.is_empty() {
        return Err(Error::invalid("fit", "the training set is empty"));
    }
    check_start(&cfg.out, &cfg.name, cfg.resume, cfg.overwrite)?;
    let dp = cfg.parallel;
    // only rank 0 writes; the others wait at a barrier after each write
    let writer = dp.is_none_or(|d| d.rank() == 0);
    let after_write = || dp.map_or(Ok(()), |d| d.comm().barrier());
    after_write()?; // every rank has checked the files before any is written
    let (train_path, best_path) = paths(&cfg.out, &cfg.name);
    let mut h = History {
        best_path: best_path.clone(),
        train_path: train_path.clone(),
        ..History::default()
    };
    let steps_per_epoch = train.len().div_ceil(cfg.batch);
    let mut pos = Position {
        epoch: 0,
        step: 0,
        seed: cfg.seed,
    };
    let mut partial = Partial::default();
    if cfg.resume {
        let (p, meta) = load_training_with(&train_path, model, &mut *opt)?;
        let bad = |msg: String| io_err(&train_path, msg);
        if p.seed != cfg.seed {
            return Err(bad(format!(
                "written with seed {}, this run has seed {}",
                p.seed, cfg.seed
            )));
        }
        let get = |k: &str| meta.get(k).map(String::as_str).unwrap_or("");
        let num = |k: &str| -> Result<f64> {
            get(k)
                .parse::<f64>()
                .map_err(|_| bad(format!("metadata {k} missing or not a number")))
        };
        if get("run.batch") != cfg.batch.to_string() {
            return Err(bad(format!(
                "written with batch size {}, this run has {}",
                get("run.batch"),
                cfg.batch
            )));
        }
        h.train_acc = history_from_string(&train_path, get("run.train_acc"))?;
        h.val_acc = history_from_string(&train_path, get("run.val_acc"))?;
        h.best = (num("run.best_acc")?, num("run.best_epoch")? as usize);
        partial = Partial {
            loss_sum: num("run.epoch_loss_sum")?,
            hits: num("run.epoch_hits")?,
            seen: num("run.epoch_seen")? as usize,
        };
        pos = p;
        callbacks.on_resume(&train_path, pos, steps_per_epoch);
    }
    if let Some(d) = dp {
        // rank 0's weights on every rank (a resumed run loaded the same file)
        d.sync_model(model.as_module_mut())?;
    }
    h.curves = Curves::starting_at(pos.epoch as usize * steps_per_epoch + pos.step);
    while (pos.epoch as usize) < cfg.epochs {
        let epoch = pos.epoch as usize;
        let t = std::time::Instant::now();
        callbacks.on_epoch_start(epoch, steps_per_epoch);
        let mut diverged = false;
        while pos.step < steps_per_epoch {
            let (a, b) = (pos.step, (pos.step + cfg.save_every).min(steps_per_epoch));
            let mut ecfg = EpochConfig::new(cfg.batch, cfg.seed, pos.epoch)
                .steps(a, b)
                .augment(cfg.augment);
            ecfg.first_global_step = epoch * steps_per_epoch;
            ecfg.schedule = cfg.schedule;
            ecfg.parallel = dp;
            let curves = &mut h.curves;
            let pass = train_epoch(model, &mut *opt, train, &ecfg, |info| {
                curves.record(&info, cfg.ratio_every);
                callbacks.on_step(&info);
            })?;
            let seen = (b * cfg.batch).min(train.len()) - a * cfg.batch;
            partial.loss_sum += pass.loss * seen as f64;
            partial.hits += pass.acc * seen as f64;
            partial.seen += seen;
            pos.step = b;
            if !pass.loss.is_finite() {
                diverged = true;
                break;
            }
            if pos.step < steps_per_epoch {
                if writer {
                    save(&train_path, model, &*opt, pos, cfg, &h, partial)?;
                }
                after_write()?;
            }
        }
        let tr = Pass {
            loss: partial.loss_sum / partial.seen.max(1) as f64,
            acc: partial.hits / partial.seen.max(1) as f64,
        };
        if diverged {
            // no checkpoint of NaN weights: the last good one stays
            h.diverged = true;
            callbacks.on_epoch(&EpochEnd {
                epoch: epoch + 1,
                train: tr,
                val: Pass {
                    loss: f64::NAN,
                    acc: 0.0,
                },
                saved_best: false,
                secs: t.elapsed().as_secs_f64(),
                opt: &*opt,
            });
            break;
        }
        let secs = t.elapsed().as_secs_f64();
        let va = match dp {
            Some(d) => d.evaluate(model, val, cfg.eval_batch)?,
            None => evaluate(model, val, cfg.eval_batch)?,
        };
        h.train_acc.push(((epoch + 1) as f64, tr.acc));
        h.val_acc.push(((epoch + 1) as f64, va.acc));
        let saved_best = va.acc > h.best.0 || h.best.1 == 0;
        if saved_best {
            h.best = (va.acc, epoch + 1);
            let meta = [
                ("model".to_string(), cfg.name.clone()),
                ("epoch".to_string(), (epoch + 1).to_string()),
                ("val_acc".to_string(), va.acc.to_string()),
            ];
            if writer {
                nn::checkpoint::save_model(&best_path, model, meta.into())?;
            }
        }
        pos = Position {
            epoch: pos.epoch + 1,
            step: 0,
            seed: cfg.seed,
        };
        partial = Partial::default();
        if writer {
            save(&train_path, model, &*opt, pos, cfg, &h, partial)?;
        }
        after_write()?;
        callbacks.on_epoch(&EpochEnd {
            epoch: epoch + 1,
            train: tr,
            val: va,
            saved_best,
            secs,
            opt: &*opt,
        });
    }
    if cfg.reload_best && h.best.1 > 0 {
        // rank 0 reads the file it wrote and hands the weights to the
        // others (their `out` need not be the same folder)
        if writer {
            nn::checkpoint::load_model(&best_path, model)?;
        }
        if let Some(d) = dp {
            d.sync_model(model.as_module_mut())?;
        }
    }
    Ok(h)
}

fn save<M: Classifier + ?Sized>(
    path: &Path,
    model: &M,
    opt: &dyn Optimizer<f32>,
    pos: Position,
    cfg: &FitConfig<'_>,
    h: &History,
    partial: Partial,
) -> Result<()> {
    let extra: HashMap<String, String> = [
        ("run.batch", cfg.batch.to_string()),
        (
            "run.world_size",
            cfg.parallel.map_or(1, |d| d.comm().size()).to_string(),
        ),
        ("run.train_acc", history_to_string(&h.train_acc)),
        ("run.val_acc", history_to_string(&h.val_acc)),
        ("run.best_acc", format!("{:e}", h.best.0)),
        ("run.best_epoch", h.best.1.to_string()),
        ("run.epoch_loss_sum", format!("{:e}", partial.loss_sum)),
        ("run.epoch_hits", format!("{:e}", partial.hits)),
        ("run.epoch_seen", partial.seen.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    save_training_with(path, model, opt, pos, &extra)
}
