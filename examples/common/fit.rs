//! The examples' epoch loop with training checkpoints: a run killed at any
//! point (SIGKILL, power loss) continues with `--resume` from its last
//! checkpoint and reaches the same final weights as a run never stopped.
//!
//! Every `save_every` steps and at the end of each epoch the loop writes
//! `OUT/NAME_train.safetensors` (model, buffers, SGD state, position, and the
//! run's history and best result so far), atomically. The batch order and
//! augmentation draws come from (seed, epoch) streams, so the position is
//! the whole RNG state (see `optim::checkpoint`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use data::{Augment, Dataset};
use nn::Classifier;
use optim::checkpoint::{load_training_with, save_training_with, Position};
use optim::train::{evaluate, train_epoch_from, Pass};
use optim::Optimizer;

use super::curves::Curves;
use super::progress::Progress;

pub struct FitCfg<'a> {
    /// Used in file names: `OUT/{name}_train.safetensors`, `OUT/{name}_best.safetensors`.
    pub name: String,
    pub out: PathBuf,
    pub epochs: usize,
    pub batch: usize,
    pub seed: u64,
    pub augment: Option<Augment>,
    /// Learning rate at a global step (warm-up, cosine, ...); `None` keeps the optimizer's.
    pub lr_at: Option<&'a dyn Fn(usize) -> f64>,
    /// Steps between training checkpoints (also written at every epoch end).
    pub save_every: usize,
    /// Continue from `OUT/{name}_train.safetensors`.
    pub resume: bool,
    /// Start over even when an earlier run's files are in OUT.
    pub overwrite: bool,
    pub eval_batch: usize,
    /// Update ratios are recorded every this many steps.
    pub ratio_every: usize,
    /// Test hook: end the process at once (exit status 137, as a SIGKILL
    /// would leave it) after this many global steps.
    pub abort_after: Option<usize>,
}

/// What one epoch gave, for the caller's line.
pub struct EpochEnd<'a> {
    pub epoch: usize,
    pub train: Pass,
    pub val: Pass,
    pub saved_best: bool,
    pub secs: f64,
    pub opt: &'a dyn Optimizer<f32>,
}

#[derive(Default)]
pub struct History {
    /// (epoch, accuracy), from epoch 1
    pub train_acc: Vec<(f64, f64)>,
    pub val_acc: Vec<(f64, f64)>,
    /// (validation accuracy, epoch) of the saved best model; epoch 0 = none
    pub best: (f64, usize),
    /// Loss and update ratios of the steps this process ran.
    pub curves: Curves,
    pub best_path: PathBuf,
    pub train_path: PathBuf,
    pub diverged: bool,
}

type BoxErr = Box<dyn std::error::Error>;

pub fn paths(out: &Path, name: &str) -> (PathBuf, PathBuf) {
    (
        out.join(format!("{name}_train.safetensors")),
        out.join(format!("{name}_best.safetensors")),
    )
}

/// Refuses to start over an earlier run's files unless asked to, so a rerun
/// never replaces an earlier best model with a worse one by accident; and
/// `--resume` without a checkpoint is an error, not a fresh start.
pub fn check_start(out: &Path, name: &str, resume: bool, overwrite: bool) -> Result<(), BoxErr> {
    let (train_path, best_path) = paths(out, name);
    if resume {
        if !train_path.exists() {
            return Err(format!(
                "--resume: no training checkpoint {} to continue from",
                train_path.display()
            )
            .into());
        }
        return Ok(());
    }
    if !overwrite {
        for p in [&best_path, &train_path] {
            if p.exists() {
                return Err(format!(
                    "{} is from an earlier run: pass --resume to continue it, --overwrite to start over, or another --out",
                    p.display()
                )
                .into());
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

fn history_from_string(s: &str) -> Result<Vec<(f64, f64)>, BoxErr> {
    if s.is_empty() {
        return Ok(Vec::new());
    }
    s.split(',')
        .map(|p| {
            let (e, a) = p.split_once(':').ok_or("bad history entry")?;
            Ok((e.parse()?, a.parse()?))
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
/// validation accuracy; `on_epoch` prints the caller's line.
pub fn fit(
    model: &mut dyn Classifier,
    opt: &mut dyn Optimizer<f32>,
    train: &Dataset,
    val: &Dataset,
    cfg: &FitCfg<'_>,
    mut on_epoch: impl FnMut(&EpochEnd<'_>),
) -> Result<History, BoxErr> {
    if cfg.batch == 0 || cfg.save_every == 0 {
        return Err("batch size and checkpoint interval must be at least 1".into());
    }
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
        if p.seed != cfg.seed {
            return Err(format!(
                "{}: written with --seed {}, this run has --seed {}",
                train_path.display(),
                p.seed,
                cfg.seed
            )
            .into());
        }
        let get = |k: &str| meta.get(k).map(String::as_str).unwrap_or("");
        let num = |k: &str| -> Result<f64, BoxErr> {
            get(k).parse::<f64>().map_err(|_| {
                format!(
                    "{}: metadata {k} missing or not a number",
                    train_path.display()
                )
                .into()
            })
        };
        if get("run.batch") != cfg.batch.to_string() {
            return Err(format!(
                "{}: written with --batch {}, this run has --batch {}",
                train_path.display(),
                get("run.batch"),
                cfg.batch
            )
            .into());
        }
        h.train_acc = history_from_string(get("run.train_acc"))?;
        h.val_acc = history_from_string(get("run.val_acc"))?;
        h.best = (num("run.best_acc")?, num("run.best_epoch")? as usize);
        partial = Partial {
            loss_sum: num("run.epoch_loss_sum")?,
            hits: num("run.epoch_hits")?,
            seen: num("run.epoch_seen")? as usize,
        };
        pos = p;
        if pos.epoch as usize >= cfg.epochs {
            println!(
                "resumed from {}: the run had finished its {} epochs",
                train_path.display(),
                pos.epoch
            );
        } else {
            println!(
                "resumed from {}: epoch {}, step {} of {steps_per_epoch}",
                train_path.display(),
                pos.epoch + 1,
                pos.step
            );
        }
    }
    h.curves = Curves::starting_at(pos.epoch as usize * steps_per_epoch + pos.step);
    while (pos.epoch as usize) < cfg.epochs {
        let epoch = pos.epoch as usize;
        let t = std::time::Instant::now();
        let bar = Progress::new(steps_per_epoch as u64, &format!("epoch {}", epoch + 1));
        let mut diverged = false;
        while pos.step < steps_per_epoch {
            let (a, b) = (pos.step, (pos.step + cfg.save_every).min(steps_per_epoch));
            let first = epoch * steps_per_epoch;
            let lr_at = cfg.lr_at.map(|f| move |s: usize| f(first + s));
            let lr_ref = lr_at.as_ref().map(|f| f as &dyn Fn(usize) -> f64);
            let curves = &mut h.curves;
            let pass = train_epoch_from(
                model,
                &mut *opt,
                train,
                cfg.batch,
                cfg.seed,
                pos.epoch,
                a,
                b,
                cfg.augment,
                lr_ref,
                |info| {
                    curves.record(&info, cfg.ratio_every);
                    bar.step(info.step as u64, || format!("loss {:.4}", info.loss));
                    if cfg.abort_after == Some(first + info.step + 1) {
                        // as a SIGKILL would: no destructors, nothing more
                        // written (exit rather than abort: no core file)
                        eprintln!(
                            "aborting after step {} (--abort-after-steps)",
                            first + info.step + 1
                        );
                        std::process::exit(137);
                    }
                },
            )?;
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
                save(&train_path, model, &*opt, pos, cfg, &h, partial)?;
            }
        }
        bar.finish();
        let tr = Pass {
            loss: partial.loss_sum / partial.seen.max(1) as f64,
            acc: partial.hits / partial.seen.max(1) as f64,
        };
        if diverged {
            // no checkpoint of NaN weights: the last good one stays
            h.diverged = true;
            on_epoch(&EpochEnd {
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
        let va = evaluate(model, val, cfg.eval_batch)?;
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
            nn::checkpoint::save_model(&best_path, model, meta.into())?;
        }
        pos = Position {
            epoch: pos.epoch + 1,
            step: 0,
            seed: cfg.seed,
        };
        partial = Partial::default();
        save(&train_path, model, &*opt, pos, cfg, &h, partial)?;
        on_epoch(&EpochEnd {
            epoch: epoch + 1,
            train: tr,
            val: va,
            saved_best,
            secs,
            opt: &*opt,
        });
    }
    Ok(h)
}

fn save(
    path: &Path,
    model: &mut dyn Classifier,
    opt: &dyn Optimizer<f32>,
    pos: Position,
    cfg: &FitCfg<'_>,
    h: &History,
    partial: Partial,
) -> Result<(), BoxErr> {
    let extra: HashMap<String, String> = [
        ("run.batch", cfg.batch.to_string()),
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
    save_training_with(path, model, opt, pos, &extra)?;
    Ok(())
}
