//! IDX reader for MNIST / Fashion-MNIST, gzip'd or raw.
//!
//! Format: magic `0x00 0x00 <type> <ndim>` (type 0x08 = unsigned byte, the
//! only one these sets use), then `ndim` big-endian u32 dims, then the data.
//! Every size is checked against the header before anything is allocated, so
//! a forged header cannot make the reader allocate without bound.

use std::io::Read;
use std::path::Path;

use autograd::{Error, ErrorKind, Result, Tensor};

use crate::Dataset;

/// Largest payload accepted (1 GiB): far above MNIST's 47 MB.
const MAX_BYTES: u64 = 1 << 30;

/// A decoded IDX array of bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Idx {
    /// Dimensions from the header.
    pub dims: Vec<usize>,
    /// Row-major bytes.
    pub data: Vec<u8>,
}

fn io_err(name: &Path, msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::Io, name.display().to_string(), msg)
}

/// Parses an IDX stream (already decompressed or not: gzip is detected by its
/// magic bytes 0x1f 0x8b).
pub fn parse_idx(r: impl Read, name: &Path) -> Result<Idx> {
    parse(Box::new(r), name, true)
}

fn parse(mut r: Box<dyn Read + '_>, name: &Path, allow_gzip: bool) -> Result<Idx> {
    let mut head = [0u8; 4];
    read_exact(&mut r, &mut head, name, "the 4-byte magic number")?;
    if allow_gzip && head[0] == 0x1f && head[1] == 0x8b {
        // gzip: restart on the decoded stream
        let chained = std::io::Cursor::new(head).chain(r);
        return parse(Box::new(flate2::read::GzDecoder::new(chained)), name, false);
    }
    if head[0] != 0 || head[1] != 0 {
        return Err(io_err(
            name,
            format!(
                "bad magic number {:02x}{:02x}{:02x}{:02x}: not an IDX file",
                head[0], head[1], head[2], head[3]
            ),
        ));
    }
    if head[2] != 0x08 {
        return Err(io_err(
            name,
            format!(
                "element type 0x{:02x} is not supported (only 0x08, unsigned byte)",
                head[2]
            ),
        ));
    }
    let nd = head[3] as usize;
    if nd == 0 || nd > 4 {
        return Err(io_err(name, format!("{nd} dimensions: expected 1 to 4")));
    }
    let mut dims = Vec::with_capacity(nd);
    for i in 0..nd {
        let mut d = [0u8; 4];
        read_exact(
            &mut r,
            &mut d,
            name,
            &format!("dimension {i} of the header"),
        )?;
        dims.push(u32::from_be_bytes(d) as usize);
    }
    let total = dims
        .iter()
        .try_fold(1u64, |a, &d| a.checked_mul(d as u64))
        .filter(|&t| t <= MAX_BYTES)
        .ok_or_else(|| {
            io_err(
                name,
                format!("declared dimensions {dims:?} exceed the {MAX_BYTES}-byte limit"),
            )
        })?;
    let mut data = Vec::new();
    r.by_ref()
        .take(total + 1)
        .read_to_end(&mut data)
        .map_err(|e| io_err(name, format!("cannot read data: {e}")))?;
    if (data.len() as u64) < total {
        return Err(io_err(
            name,
            format!(
                "truncated: header {dims:?} declares {total} bytes of data, found {}",
                data.len()
            ),
        ));
    }
    if data.len() as u64 > total {
        return Err(io_err(
            name,
            format!("oversized: more data than the {total} bytes the header {dims:?} declares"),
        ));
    }
    Ok(Idx { dims, data })
}

fn read_exact(r: &mut impl Read, buf: &mut [u8], name: &Path, what: &str) -> Result<()> {
    r.read_exact(buf).map_err(|e| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            io_err(name, format!("truncated: file ends inside {what}"))
        } else {
            io_err(name, format!("cannot read {what}: {e}"))
        }
    })
}

/// Reads an IDX file (gzip'd or raw).
pub fn read_idx(path: impl AsRef<Path>) -> Result<Idx> {
    let path = path.as_ref();
    let f = std::fs::File::open(path).map_err(|e| io_err(path, format!("cannot open: {e}")))?;
    parse_idx(std::io::BufReader::new(f), path)
}

/// Pairs an image file `[N, H, W]` with a label file `[N]` (10 classes).
pub fn read_idx_pair(images: impl AsRef<Path>, labels: impl AsRef<Path>) -> Result<Dataset> {
    let (ip, lp) = (images.as_ref(), labels.as_ref());
    let im = read_idx(ip)?;
    let lb = read_idx(lp)?;
    if im.dims.len() != 3 {
        return Err(io_err(
            ip,
            format!(
                "images must have 3 dimensions [N, H, W], header says {:?}",
                im.dims
            ),
        ));
    }
    if lb.dims.len() != 1 {
        return Err(io_err(
            lp,
            format!(
                "labels must have 1 dimension [N], header says {:?}",
                lb.dims
            ),
        ));
    }
    if lb.dims[0] != im.dims[0] {
        return Err(io_err(
            lp,
            format!(
                "{} labels for {} images in {}",
                lb.dims[0],
                im.dims[0],
                ip.display()
            ),
        ));
    }
    if let Some((i, &l)) = lb.data.iter().enumerate().find(|(_, &l)| l > 9) {
        return Err(io_err(
            lp,
            format!("label {l} at position {i} is out of range 0-9"),
        ));
    }
    let (n, h, w) = (im.dims[0], im.dims[1], im.dims[2]);
    let images = Tensor::from_vec(im.data.iter().map(|&b| b as f32).collect(), &[n, 1, h, w])?;
    Dataset::new(images, lb.data.iter().map(|&l| l as usize).collect(), 10)
}

/// Loads `{prefix}-images-idx3-ubyte[.gz]` and `{prefix}-labels-idx1-ubyte[.gz]`
/// from `dir` (`prefix` is `train` or `t10k`), preferring the gzip'd files.
pub fn load_mnist_like(dir: impl AsRef<Path>, prefix: &str) -> Result<Dataset> {
    let dir = dir.as_ref();
    let pick = |stem: String| {
        let gz = dir.join(format!("{stem}.gz"));
        if gz.exists() {
            gz
        } else {
            dir.join(stem)
        }
    };
    read_idx_pair(
        pick(format!("{prefix}-images-idx3-ubyte")),
        pick(format!("{prefix}-labels-idx1-ubyte")),
    )
}
