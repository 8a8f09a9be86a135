//! CIFAR-10 binary reader (`data_batch_N.bin`, `test_batch.bin`).
//!
//! A file is a sequence of 3,073-byte records: 1 label byte (0-9), then
//! 1,024 red, 1,024 green and 1,024 blue bytes, each a row-major 32x32 plane.

use std::io::Read;
use std::path::Path;

use autograd::{Error, ErrorKind, Result, Tensor};

use crate::Dataset;

/// Bytes per record.
pub const RECORD: usize = 1 + 3 * 32 * 32;
/// CIFAR-10's class names, in label order.
pub const CLASSES: [&str; 10] = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
];

/// Largest file accepted: 1 GiB (349,414 records), far above the whole of
/// CIFAR-10 (60,000 records, 184 MB) in one file. Without a cap a path such
/// as `/dev/zero` would be read until memory ran out.
pub const MAX_BYTES: u64 = 1 << 30;

fn io_err(path: &Path, msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::Io, path.display().to_string(), msg)
}

/// Parses CIFAR-10 records from bytes; `name` labels errors.
pub fn parse_cifar10(bytes: &[u8], name: &Path) -> Result<Dataset> {
    if bytes.is_empty() {
        return Err(io_err(name, "file is empty: not a CIFAR-10 binary batch"));
    }
    if !bytes.len().is_multiple_of(RECORD) {
        return Err(io_err(
            name,
            format!(
                "size {} bytes is not a multiple of the {RECORD}-byte CIFAR-10 record ({} whole records and {} bytes left over): truncated or not a CIFAR-10 binary file",
                bytes.len(),
                bytes.len() / RECORD,
                bytes.len() % RECORD
            ),
        ));
    }
    let n = bytes.len() / RECORD;
    let mut labels = Vec::with_capacity(n);
    let mut pixels = Vec::with_capacity(n * (RECORD - 1));
    for (i, rec) in bytes.chunks_exact(RECORD).enumerate() {
        if rec[0] > 9 {
            return Err(io_err(name, format!("record {i} has label {}, expected 0-9: not a CIFAR-10 file (CIFAR-100 has 2 label bytes)", rec[0])));
        }
        labels.push(rec[0] as usize);
        pixels.extend(rec[1..].iter().map(|&b| b as f32));
    }
    let images = Tensor::from_vec(pixels, &[n, 3, 32, 32])?;
    Dataset::new(images, labels, 10)
}

/// Reads one CIFAR-10 binary file.
///
/// ```no_run
/// let train = data::read_cifar10("data/cifar-10-batches-bin/data_batch_1.bin")?;
/// assert_eq!(train.images.shape(), &[10000, 3, 32, 32]);
/// # Ok::<(), autograd::Error>(())
/// ```
///
/// Files over [`MAX_BYTES`] are refused; a regular file by its size before
/// anything is read, anything else (a pipe, a device) once it has given
/// that much.
pub fn read_cifar10(path: impl AsRef<Path>) -> Result<Dataset> {
    let path = path.as_ref();
    let f = std::fs::File::open(path).map_err(|e| io_err(path, format!("cannot read: {e}")))?;
    let too_big = || {
        io_err(
            path,
            format!(
                "larger than the {MAX_BYTES}-byte limit for a CIFAR-10 file: not a CIFAR-10 batch"
            ),
        )
    };
    if let Ok(md) = f.metadata() {
        if md.is_dir() {
            return Err(io_err(path, "is a folder, not a CIFAR-10 batch file"));
        }
        if md.is_file() && md.len() > MAX_BYTES {
            return Err(too_big());
        }
    }
    let mut bytes = Vec::new();
    f.take(MAX_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| io_err(path, format!("cannot read: {e}")))?;
    if bytes.len() as u64 > MAX_BYTES {
        return Err(too_big());
    }
    parse_cifar10(&bytes, path)
}

/// Reads and concatenates several files of a CIFAR-10 folder.
pub fn load_cifar10(dir: impl AsRef<Path>, files: &[&str]) -> Result<Dataset> {
    let dir = dir.as_ref();
    let parts = files
        .iter()
        .map(|f| read_cifar10(dir.join(f)))
        .collect::<Result<Vec<_>>>()?;
    Dataset::concat(&parts)
}
