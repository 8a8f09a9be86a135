//! Training checkpoints: model parameters and buffers, the optimizer's state
//! (any [`Optimizer`]: hyper-parameters, step counts and buffers such as
//! SGD's momentum or Adam's moments, under `optim.*`), and the position in
//! training (epoch, step within the epoch, seed), in one safetensors file
//! written atomically. Files of format v1 (SGD only) still load.
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

use optim::{Optimizer, OptimizerState};

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

/// Prefix of the optimizer's tensors and metadata in the file.
const PREFIX: &str = "optim.";

fn err(path: &Path, msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::Io, path.display().to_string(), msg)
}

/// Saves model, optimizer state and position to `path` (atomically).
pub fn save_training<M: Module<f32> + ?Sized>(
    path: &Path,
    model: &M,
    opt: &dyn Optimizer<f32>,
    pos: Position,
) -> Result<()> {
    save_training_with(path, model, opt, pos, &HashMap::new())
}

/// [`save_training`] with extra string metadata of the caller's (a training
/// loop's history, its best result so far), read back by
/// [`load_training_with`]. Keys must not clash with the checkpoint's own
/// (`format`, `epoch`, `optim.*`, ...): prefix them, e.g. `run.best_acc`.
pub fn save_training_with<M: Module<f32> + ?Sized>(
    path: &Path,
    model: &M,
    opt: &dyn Optimizer<f32>,
    pos: Position,
    extra: &HashMap<String, String>,
) -> Result<()> {
    let st = opt.state();
    let mut tensors = named_tensors(model);
    tensors.extend(
        st.tensors
            .iter()
            .map(|(n, t)| (format!("{PREFIX}{n}"), t.clone())),
    );
    let mut meta: HashMap<String, String> = [
        ("format", "lecture-grad training checkpoint v2".to_string()),
        ("optim.name", st.name.clone()),
        ("epoch", pos.epoch.to_string()),
        ("step", pos.step.to_string()),
        ("seed", pos.seed.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    meta.extend(
        st.values
            .iter()
            .map(|(k, v)| (format!("{PREFIX}{k}"), v.clone())),
    );
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

/// Loads a training checkpoint into `model` and `opt` and returns the
/// position to resume from. Checks that the file is a training checkpoint
/// written by the same kind of optimizer and that its tensors fit the
/// model; nothing is changed on error.
pub fn load_training<M: Module<f32> + ?Sized>(
    path: &Path,
    model: &mut M,
    opt: &mut dyn Optimizer<f32>,
) -> Result<Position> {
    load_training_with(path, model, opt).map(|(pos, _)| pos)
}

/// [`load_training`] that also returns the file's metadata (with the extra
/// keys of [`save_training_with`]).
pub fn load_training_with<M: Module<f32> + ?Sized>(
    path: &Path,
    model: &mut M,
    opt: &mut dyn Optimizer<f32>,
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
    let format = get("format")?;
    if !format.starts_with("lecture-grad training checkpoint") {
        return Err(err(path, "not a training checkpoint"));
    }
    fn num<T: std::str::FromStr>(path: &Path, k: &str, v: &str) -> Result<T> {
        v.parse()
            .map_err(|_| err(path, format!("metadata {k} = {v:?} is not a number")))
    }
    let pos = Position {
        epoch: num(path, "epoch", get("epoch")?)?,
        step: num(path, "step", get("step")?)?,
        seed: num(path, "seed", get("seed")?)?,
    };
    let mut st = OptimizerState::<f32>::default();
    if format.ends_with("v1") {
        // v1 held SGD only: hyper-parameters unprefixed, momentum buffers
        // as optim.momentum.<param>
        st.name = "sgd".into();
        for (k, v) in [
            ("sgd_steps", "steps"),
            ("lr", "lr"),
            ("momentum", "momentum"),
            ("dampening", "dampening"),
            ("weight_decay", "weight_decay"),
            ("nesterov", "nesterov"),
        ] {
            st.values.insert(v.to_string(), get(k)?.clone());
        }
    } else {
        st.name = get("optim.name")?.clone();
        for (k, v) in &ck.metadata {
            if let Some(key) = k.strip_prefix(PREFIX).filter(|key| *key != "name") {
                st.values.insert(key.to_string(), v.clone());
            }
        }
    }
    if st.name != opt.name() {
        return Err(err(
            path,
            format!(
                "written by the {} optimizer; this run uses {} (resume with the same optimizer)",
                st.name,
                opt.name()
            ),
        ));
    }
    st.tensors = ck
        .tensors
        .iter()
        .filter_map(|(k, t)| Some((k.strip_prefix(PREFIX)?.to_string(), t.clone())))
        .collect();
    // every optimizer buffer must belong to a parameter of that shape,
    // checked before anything is written, so an error changes nothing
    let mut shapes = HashMap::new();
    model.visit("", &mut |n, p| {
        shapes.insert(n.to_string(), p.shape().to_vec());
    });
    for (k, t) in &st.tensors {
        let param = k.split_once('.').map(|(_, p)| p).unwrap_or(k);
        match shapes.get(param) {
            None => {
                return Err(err(
                    path,
                    format!("optimizer buffer {k} for {param}, which the model does not have"),
                ))
            }
            Some(s) if s.as_slice() != t.shape() => {
                return Err(err(
                    path,
                    format!(
                        "optimizer buffer {k} has shape {:?}, parameter {s:?}",
                        t.shape()
                    ),
                ))
            }
            _ => {}
        }
    }
    // each optimizer's load_state is all-or-nothing (every value parsed
    // before any is set); the model's load after it is undone on error
    let backup = opt.state();
    opt.load_state(&st).map_err(|e| err(path, e.to_string()))?;
    if let Err(e) = apply(path, &ck, model, &[PREFIX]) {
        opt.load_state(&backup)?;
        return Err(e);
    }
    Ok((pos, ck.metadata))
}
