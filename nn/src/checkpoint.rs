//! Checkpoints in the safetensors format: every parameter and buffer of a
//! model by name (`conv1.weight`, `bn1.running_mean`, ...), plus any extra
//! named tensors (optimizer state) and string metadata.
//!
//! Writes are atomic: the file is written under a temporary name in the same
//! folder, flushed to disk (`fsync`) and renamed over the target, so a crash
//! mid-save leaves the previous checkpoint intact. Loading checks names,
//! shapes and dtypes, and says which ones disagree.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use autograd::{fmt_shape, Error, ErrorKind, Result, Tensor};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use crate::Module;

fn err(path: &Path, msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::Io, path.display().to_string(), msg)
}

/// Every named tensor of a model: parameters, then buffers.
pub fn named_tensors<M: Module<f32> + ?Sized>(model: &M) -> Vec<(String, Tensor<f32>)> {
    let mut out = Vec::new();
    model.visit("", &mut |n, t| out.push((n.to_string(), t.clone())));
    model.visit_buffers("", &mut |n, t| out.push((n.to_string(), t.clone())));
    out
}

/// Writes named f32 tensors and metadata to `path` atomically.
pub fn save_tensors(
    path: &Path,
    tensors: &[(String, Tensor<f32>)],
    metadata: HashMap<String, String>,
) -> Result<()> {
    let bytes: Vec<(String, Vec<u8>, Vec<usize>)> = tensors
        .iter()
        .map(|(n, t)| {
            (
                n.clone(),
                t.data().iter().flat_map(|v| v.to_le_bytes()).collect(),
                t.shape().to_vec(),
            )
        })
        .collect();
    let mut seen = std::collections::HashSet::new();
    for (n, _, _) in &bytes {
        if !seen.insert(n) {
            return Err(err(path, format!("two tensors are named {n}")));
        }
    }
    let views = bytes
        .iter()
        .map(|(n, b, s)| TensorView::new(Dtype::F32, s.clone(), b).map(|v| (n.clone(), v)))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| err(path, format!("cannot encode: {e}")))?;
    let data = safetensors::serialize(views, Some(metadata))
        .map_err(|e| err(path, format!("cannot encode: {e}")))?;
    write_atomic(path, &data)
}

/// Refuses a target that exists and is not a regular file: the rename would
/// replace a device node, a socket, a folder's entry or a symlink with a
/// plain file. Missing targets are fine.
pub fn check_target(path: &Path) -> Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(md) if md.file_type().is_file() => Ok(()),
        Ok(md) => {
            let ft = md.file_type();
            let what = if ft.is_dir() {
                "a folder"
            } else if ft.is_symlink() {
                "a symbolic link (save to the file it points to instead)"
            } else {
                "not a regular file (a device, pipe or socket)"
            };
            Err(err(path, format!("cannot save here: the target is {what}")))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(err(path, format!("cannot save here: {e}"))),
    }
}

/// Writes `data` to `path` via a temporary file, fsync and rename.
///
/// The temporary file's name is unique per call (process id and a counter,
/// created with `create_new`), so threads or processes saving to one path at
/// once never write into each other's file: each save is whole, and the
/// last rename wins. A target that is not a regular file is refused
/// ([`check_target`]).
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    static SAVES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| err(path, "not a file name"))?
        .to_string_lossy();
    std::fs::create_dir_all(dir).map_err(|e| err(path, format!("cannot create folder: {e}")))?;
    check_target(path)?;
    let call = SAVES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = dir.join(format!(".{name}.tmp-{}-{call}", std::process::id()));
    let result = (|| -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)?;
        // make the rename itself durable
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        err(path, format!("cannot write: {e}"))
    })
}

/// A loaded checkpoint: named tensors and metadata.
#[derive(Clone, Debug, Default)]
pub struct Checkpoint {
    /// Tensors by name.
    pub tensors: HashMap<String, Tensor<f32>>,
    /// String metadata.
    pub metadata: HashMap<String, String>,
}

/// Reads every tensor of a safetensors file (f32 only).
pub fn load_tensors(path: &Path) -> Result<Checkpoint> {
    let bytes = std::fs::read(path).map_err(|e| err(path, format!("cannot read: {e}")))?;
    parse_tensors(&bytes, path)
}

/// Parses a safetensors file already in memory; `path` names it in errors.
pub fn parse_tensors(bytes: &[u8], path: &Path) -> Result<Checkpoint> {
    let st = SafeTensors::deserialize(bytes)
        .map_err(|e| err(path, format!("not a valid safetensors file: {e}")))?;
    let (_, meta) = SafeTensors::read_metadata(bytes)
        .map_err(|e| err(path, format!("not a valid safetensors file: {e}")))?;
    let mut tensors = HashMap::new();
    for (name, view) in st.tensors() {
        if view.dtype() != Dtype::F32 {
            return Err(err(
                path,
                format!("tensor {name} has dtype {:?}, expected F32", view.dtype()),
            ));
        }
        let data: Vec<f32> = view
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        let t = Tensor::from_vec(data, view.shape())
            .map_err(|e| err(path, format!("tensor {name}: {e}")))?;
        tensors.insert(name, t);
    }
    Ok(Checkpoint {
        tensors,
        metadata: meta.metadata().clone().unwrap_or_default(),
    })
}

/// Saves a model's parameters and buffers (and `metadata`).
///
/// ```
/// use rand::SeedableRng;
/// let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
/// let mut a = nn::Linear::<f32>::new(3, 2, nn::Init::He, &mut rng);
/// let mut b = nn::Linear::<f32>::new(3, 2, nn::Init::He, &mut rng);
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("fc.safetensors");
/// nn::checkpoint::save_model(&path, &a, Default::default())?;
/// nn::checkpoint::load_model(&path, &mut b)?;
/// assert_eq!(a.weight.data(), b.weight.data());
/// # Ok::<(), autograd::Error>(())
/// ```
pub fn save_model<M: Module<f32> + ?Sized>(
    path: impl AsRef<Path>,
    model: &M,
    metadata: HashMap<String, String>,
) -> Result<()> {
    save_tensors(path.as_ref(), &named_tensors(model), metadata)
}

/// How a checkpoint is loaded.
#[derive(Clone, Copy, Debug, Default)]
pub struct LoadOptions {
    /// Load tensors holding NaN or infinite values instead of refusing them
    /// (to inspect a run that diverged).
    pub allow_nonfinite: bool,
}

/// Loads a checkpoint into a model, checking that the names and shapes are
/// exactly the model's; returns the checkpoint (for extra tensors and metadata).
///
/// A checkpoint with NaN or infinite values in the model's tensors is refused
/// with an error naming each such tensor (it was written by a run that
/// diverged); [`load_model_with`] can load it anyway.
pub fn load_model<M: Module<f32> + ?Sized>(
    path: impl AsRef<Path>,
    model: &mut M,
) -> Result<Checkpoint> {
    load_model_with(path, model, LoadOptions::default())
}

/// [`load_model`] with options.
pub fn load_model_with<M: Module<f32> + ?Sized>(
    path: impl AsRef<Path>,
    model: &mut M,
    opts: LoadOptions,
) -> Result<Checkpoint> {
    let path = path.as_ref();
    let ck = load_tensors(path)?;
    apply_with(path, &ck, model, &[], opts)?;
    Ok(ck)
}

/// Copies a checkpoint's tensors into the model; `extra_prefixes` names
/// tensors that belong to something else (optimizer state) and are ignored.
/// Refuses NaN and infinite values, as [`load_model`].
pub fn apply<M: Module<f32> + ?Sized>(
    path: &Path,
    ck: &Checkpoint,
    model: &mut M,
    extra_prefixes: &[&str],
) -> Result<()> {
    apply_with(path, ck, model, extra_prefixes, LoadOptions::default())
}

/// [`apply`] with options.
pub fn apply_with<M: Module<f32> + ?Sized>(
    path: &Path,
    ck: &Checkpoint,
    model: &mut M,
    extra_prefixes: &[&str],
    opts: LoadOptions,
) -> Result<()> {
    let expected = named_tensors(model);
    let mut problems = Vec::new();
    for (name, t) in &expected {
        match ck.tensors.get(name) {
            None => problems.push(format!("missing {name}")),
            Some(c) if c.shape() != t.shape() => problems.push(format!(
                "{name} has shape {} in the file, {} in the model",
                fmt_shape(c.shape()),
                fmt_shape(t.shape())
            )),
            _ => {}
        }
    }
    let mut unexpected: Vec<&String> = ck
        .tensors
        .keys()
        .filter(|k| {
            !expected.iter().any(|(n, _)| n == *k)
                && !extra_prefixes.iter().any(|p| k.starts_with(p))
        })
        .collect();
    unexpected.sort();
    for k in unexpected {
        problems.push(format!("unexpected {k}"));
    }
    if !problems.is_empty() {
        problems.sort();
        return Err(err(
            path,
            format!(
                "checkpoint does not fit this model: {}",
                problems.join("; ")
            ),
        ));
    }
    if !opts.allow_nonfinite {
        // the model's tensors only (all present: checked above), in its order
        let bad: Vec<String> = expected
            .iter()
            .filter_map(|(n, _)| {
                let t = &ck.tensors[n];
                let c = t.data().iter().filter(|v| !v.is_finite()).count();
                (c > 0).then(|| format!("{n} ({c} of {} values)", t.numel()))
            })
            .collect();
        if !bad.is_empty() {
            return Err(err(
                path,
                format!(
                    "checkpoint holds NaN or infinite values in {} (written by a run that diverged?); \
                     load_model_with(.., LoadOptions {{ allow_nonfinite: true }}) loads it anyway",
                    bad.join(", ")
                ),
            ));
        }
    }
    let mut copy = |n: &str, t: &mut Tensor<f32>| {
        if let Some(c) = ck.tensors.get(n) {
            *t = c.clone();
        }
    };
    model.visit_mut("", &mut copy);
    model.visit_buffers_mut("", &mut copy);
    Ok(())
}
