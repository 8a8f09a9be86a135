//! Loading CIFAR-10 for the examples: training batches 1-4, validation on
//! batch 5 (the official test batch is held out), optional real test file.

use std::path::{Path, PathBuf};

use data::{Dataset, Normalizer};

/// The data folder: `--data`, else `$CIFAR10_DIR`, else the usual places,
/// relative to the working directory and to the repository (so the examples
/// run from any folder). The error names every place it looked.
pub fn data_dir(arg: Option<&Path>) -> Result<PathBuf, String> {
    if let Some(d) = arg {
        return Ok(d.to_path_buf());
    }
    if let Ok(d) = std::env::var("CIFAR10_DIR") {
        return Ok(d.into());
    }
    let root = super::repo_root();
    let candidates = [
        PathBuf::from("data/cifar-10-batches-bin"),
        PathBuf::from("../shared/data/cifar-10-batches-bin"),
        root.join("data/cifar-10-batches-bin"),
        root.join("../shared/data/cifar-10-batches-bin"),
    ];
    for c in &candidates {
        if c.join("data_batch_1.bin").exists() {
            return Ok(c.clone());
        }
    }
    let looked: Vec<String> = candidates.iter().map(|c| c.display().to_string()).collect();
    Err(format!(
        "CIFAR-10 binary batches (data_batch_1.bin ..) not found: no --data, no $CIFAR10_DIR, and none in {}",
        looked.join(", ")
    ))
}

pub struct Splits {
    pub train: Dataset,
    pub val: Dataset,
    pub test: Option<Dataset>,
    pub norm: Normalizer,
}

/// How to normalise: the lecture's mean image / std image, or per channel.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Norm {
    PerPixel,
    PerChannel,
}

/// Train on batches 1-4 (or 1-5 with `train_all`), validate on batch 5,
/// normalise with statistics of the training set; `limit` keeps the first
/// examples of each split (for quick runs).
pub fn load(
    dir: &Path,
    test: Option<&Path>,
    train_all: bool,
    limit: Option<usize>,
    norm: Norm,
) -> Result<Splits, Box<dyn std::error::Error>> {
    if !dir.join("data_batch_1.bin").exists() {
        return Err(format!("CIFAR-10 binary batches not found in {} (pass --data DIR with data_batch_1.bin .. data_batch_5.bin, or set CIFAR10_DIR)", dir.display()).into());
    }
    let train_files: &[&str] = if train_all {
        &[
            "data_batch_1.bin",
            "data_batch_2.bin",
            "data_batch_3.bin",
            "data_batch_4.bin",
            "data_batch_5.bin",
        ]
    } else {
        &[
            "data_batch_1.bin",
            "data_batch_2.bin",
            "data_batch_3.bin",
            "data_batch_4.bin",
        ]
    };
    let mut train = data::load_cifar10(dir, train_files)?;
    let mut val = data::read_cifar10(dir.join("data_batch_5.bin"))?;
    let mut test = test.map(data::read_cifar10).transpose()?;
    if let Some(n) = limit {
        train = train.slice(0, n.min(train.len()))?;
        val = val.slice(0, (n / 4).max(100).min(val.len()))?;
        if let Some(t) = &mut test {
            *t = t.slice(0, (n / 4).max(100).min(t.len()))?;
        }
    }
    let norm = match norm {
        Norm::PerPixel => Normalizer::per_pixel(&train.images)?,
        Norm::PerChannel => Normalizer::per_channel(&train.images)?,
    };
    let apply = |d: Dataset| -> Result<Dataset, autograd::Error> {
        Ok(Dataset {
            images: norm.apply(&d.images)?,
            ..d
        })
    };
    Ok(Splits {
        train: apply(train)?,
        val: apply(val)?,
        test: test.map(apply).transpose()?,
        norm,
    })
}
