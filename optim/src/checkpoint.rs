//! Training checkpoints: model parameters and buffers, SGD's momentum
//! buffers and hyper-parameters, and the position in training (epoch, step
//! within the epoch, seed), in one safetensors file written atomically.
//!
//! Every random draw of the training loop (batch order, augmentation) comes
//! from streams keyed by (seed, epoch), so (seed, epoch, step) is the whole
//! RNG state: resuming from a checkpoint gives bit-identical results to an
//! uninterrupted run (see `tests/resume.rs`).

use std::collections::HashMap;
use std::path::Path;

use autograd::{Error, ErrorKind, Result};
use nn::checkpoint::{apply, load_tensors, named_tensors, save_tensors};
use nn::Module;

use crate::Sgd;

/// Where training stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Position {
    /// Epoch in progress (from 0).
    pub epoch: u64,
    /// Steps of that epoch already taken.
    pub step: usize,
    /// The seed of batch order and augmentation.
    pub seed: u64,
}

const PREFIX: &str = "optim.momentum.";

fn err(path: &Path, msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::Io, path.display().to_string(), msg)
}

/// Saves model, optimizer and position to `path` (atomically).
pub fn save_training<M: Module<f32> + ?Sized>(
    path: &Path,
    model: &mut M,
    sgd: &Sgd<f32>,
    pos: Position,
) -> Result<()> {
    save_training_with(path, model, sgd, pos, &HashMap::new())
}

/// [`save_training`] with extra string metadata of the caller's (a training
/// loop's history, its best result so far), read back by
/// [`load_training_with`]. Keys must not clash with the checkpoint's own
/// (`format`, `lr`, `epoch`, ...): prefix them, e.g. `run.best_acc`.
pub fn save_training_with<M: Module<f32> + ?Sized>(
    path: &Path,
    model: &mut M,
    sgd: &Sgd<f32>,
    pos: Position,
    extra: &HashMap<String, String>,
) -> Result<()> {
    let mut tensors = named_tensors(model);
    let mut bufs: Vec<_> = sgd.buffers.iter().collect();
    bufs.sort_by(|a, b| a.0.cmp(b.0));
    tensors.extend(
        bufs.into_iter()
            .map(|(n, t)| (format!("{PREFIX}{n}"), t.clone())),
    );
    let meta: HashMap<String, String> = [
        ("format", "lecture-grad training checkpoint v1".to_string()),
        ("lr", format!("{:e}", sgd.lr)),
        ("momentum", format!("{:e}", sgd.momentum)),
        ("dampening", format!("{:e}", sgd.dampening)),
        ("weight_decay", format!("{:e}", sgd.weight_decay)),
        ("nesterov", sgd.nesterov.to_string()),
        ("sgd_steps", sgd.steps.to_string()),
        ("epoch", pos.epoch.to_string()),
        ("step", pos.step.to_string()),
        ("seed", pos.seed.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let mut meta = meta;
    for (k, v) in extra {
        if meta.insert(k.clone(), v.clone()).is_some() {
            return Err(err(
                path,
                format!("extra metadata key {k} clashes with the checkpoint's own"),
            ));
        }
    }
    save_tensors(path, &tensors, meta)
}

/// Loads a training checkpoint into `model` and `sgd` and returns the
/// position to resume from. Checks that the file is a training checkpoint
/// and that its tensors fit the model; nothing is changed on error.
pub fn load_training<M: Module<f32> + ?Sized>(
    path: &Path,
    model: &mut M,
    sgd: &mut Sgd<f32>,
) -> Result<Position> {
    load_training_with(path, model, sgd).map(|(pos, _)| pos)
}

/// [`load_training`] that also returns the file's metadata (with the extra
/// keys of [`save_training_with`]).
pub fn load_training_with<M: Module<f32> + ?Sized>(
    path: &Path,
    model: &mut M,
    sgd: &mut Sgd<f32>,
) -> Result<(Position, HashMap<String, String>)> {
    let ck = load_tensors(path)?;
    let get = |k: &str| {
        ck.metadata.get(k).ok_or_else(|| {
            err(
                path,
                format!("not a training checkpoint: metadata {k} missing"),
            )
        })
    };
    if !get("format")?.starts_with("lecture-grad training checkpoint") {
        return Err(err(path, "not a training checkpoint"));
    }
    fn num<T: std::str::FromStr>(path: &Path, k: &str, v: &str) -> Result<T> {
        v.parse()
            .map_err(|_| err(path, format!("metadata {k} = {v:?} is not a number")))
    }
    let lr: f64 = num(path, "lr", get("lr")?)?;
    let momentum: f64 = num(path, "momentum", get("momentum")?)?;
    let dampening: f64 = num(path, "dampening", get("dampening")?)?;
    let weight_decay: f64 = num(path, "weight_decay", get("weight_decay")?)?;
    let nesterov = get("nesterov")? == "true";
    let steps: u64 = num(path, "sgd_steps", get("sgd_steps")?)?;
    let pos = Position {
        epoch: num(path, "epoch", get("epoch")?)?,
        step: num(path, "step", get("step")?)?,
        seed: num(path, "seed", get("seed")?)?,
    };
    // check the momentum buffers before anything is written, so an error changes nothing
    for (k, t) in ck.tensors.iter().filter(|(k, _)| k.starts_with(PREFIX)) {
        let name = &k[PREFIX.len()..];
        let mut shape = None;
        model.visit("", &mut |n, p| {
            if n == name {
                shape = Some(p.shape().to_vec())
            }
        });
        match shape {
            None => {
                return Err(err(
                    path,
                    format!("momentum buffer for {name}, which the model does not have"),
                ))
            }
            Some(s) if s != t.shape() => {
                return Err(err(
                    path,
                    format!(
                        "momentum buffer for {name} has shape {:?}, parameter {s:?}",
                        t.shape()
                    ),
                ))
            }
            _ => {}
        }
    }
    apply(path, &ck, model, &[PREFIX])?;
    sgd.lr = lr;
    sgd.momentum = momentum;
    sgd.dampening = dampening;
    sgd.weight_decay = weight_decay;
    sgd.nesterov = nesterov;
    sgd.steps = steps;
    sgd.buffers = ck
        .tensors
        .iter()
        .filter(|(k, _)| k.starts_with(PREFIX))
        .map(|(k, t)| (k[PREFIX.len()..].to_string(), t.clone()))
        .collect();
    Ok((pos, ck.metadata))
}
