//! Layer functions without parameters, and losses.

use autograd::{fmt_shape, Element, Error, Result, Tensor, Var};
use ops::VarOps;
use rand::Rng;

use crate::layers::Mode;

pub use ops::{avg_pool2d, max_pool2d, relu, sigmoid, tanh};

/// `[N, ...]` to `[N, prod(...)]`.
///
/// ```
/// use autograd::{Tape, Tensor};
/// let tape = Tape::<f32>::new();
/// let x = tape.constant(Tensor::zeros(&[2, 3, 4, 4]));
/// assert_eq!(nn::flatten(x)?.shape().as_slice(), &[2, 48]);
/// # Ok::<(), autograd::Error>(())
/// ```
#[track_caller]
pub fn flatten<T: Element>(x: Var<'_, T>) -> Result<Var<'_, T>> {
    let s = x.shape();
    if s.is_empty() {
        return Err(Error::shape("flatten", "cannot flatten a 0-d tensor"));
    }
    let n = s[0] as isize;
    let rest: usize = s[1..].iter().product();
    ops::reshape(x, [n, rest as isize])
}

/// Mean cross-entropy of `logits: [N, C]` against class `targets`:
/// `nll_loss(log_softmax(logits, 1), targets)`, as PyTorch's `F.cross_entropy`.
///
/// ```
/// use autograd::{Tape, Tensor};
/// let tape = Tape::<f64>::new();
/// let logits = tape.constant(Tensor::zeros(&[4, 10]));
/// let loss = nn::cross_entropy(logits, &[0, 1, 2, 3])?.value().item()?;
/// assert!((loss - 10f64.ln()).abs() < 1e-12); // the lecture's sanity check
/// # Ok::<(), autograd::Error>(())
/// ```
#[track_caller]
pub fn cross_entropy<'t, T: Element>(logits: Var<'t, T>, targets: &[usize]) -> Result<Var<'t, T>> {
    let s = logits.shape();
    if s.len() != 2 {
        return Err(Error::shape(
            "cross_entropy",
            format!("logits {} must be 2-D [N, classes]", fmt_shape(&s)),
        ));
    }
    ops::nll_loss(logits.log_softmax(1)?, targets)
}

/// Dropout that follows the mode: identity in [`Mode::Eval`].
#[track_caller]
pub fn dropout<'t, T: Element, R: Rng + ?Sized>(
    x: Var<'t, T>,
    p: f64,
    mode: Mode,
    rng: &mut R,
) -> Result<Var<'t, T>> {
    ops::dropout(x, p, mode.is_train(), rng)
}

/// Index of the largest score in each row of `[N, C]` scores.
///
/// ```
/// let s = autograd::Tensor::from_vec(vec![0.1f32, 0.9, 0.7, 0.2], &[2, 2]).unwrap();
/// assert_eq!(nn::argmax_rows(&s), vec![1, 0]);
/// ```
pub fn argmax_rows<T: Element>(scores: &Tensor<T>) -> Vec<usize> {
    let c = scores.shape().last().copied().unwrap_or(1).max(1);
    scores
        .data()
        .chunks(c)
        .map(|row| {
            let mut best = 0;
            for (i, &v) in row.iter().enumerate() {
                if v > row[best] {
                    best = i;
                }
            }
            best
        })
        .collect()
}

/// Fraction of rows whose argmax equals the target.
///
/// ```
/// let s = autograd::Tensor::from_vec(vec![0.1f32, 0.9, 0.7, 0.2], &[2, 2]).unwrap();
/// assert_eq!(nn::accuracy(&s, &[1, 1]), 0.5);
/// ```
pub fn accuracy<T: Element>(scores: &Tensor<T>, targets: &[usize]) -> f64 {
    if targets.is_empty() {
        return 0.0;
    }
    let hits = argmax_rows(scores)
        .iter()
        .zip(targets)
        .filter(|(a, b)| a == b)
        .count();
    hits as f64 / targets.len() as f64
}

/// `softmax(x)` along `axis` (`F.softmax`): `exp(log_softmax(x, axis))`,
/// so it never overflows and its gradient is that of the checked ops.
///
/// ```
/// use autograd::{Tape, Tensor};
/// let tape = Tape::<f64>::new();
/// let x = tape.constant(Tensor::from_vec(vec![1000.0, 1000.0, 0.0, 0.0], &[2, 2])?);
/// assert_eq!(nn::softmax(x, 1)?.value().data(), &[0.5, 0.5, 0.5, 0.5]);
/// # Ok::<(), autograd::Error>(())
/// ```
#[track_caller]
pub fn softmax<T: Element>(x: Var<'_, T>, axis: isize) -> Result<Var<'_, T>> {
    x.log_softmax(axis)?.exp()
}

/// Grouped convolution (PyTorch's `F.conv2d(.., groups)`): the input's
/// channels and the filters are split into `groups` equal groups and group
/// `i` of the output is `conv2d(input group i, filter group i)`, joined
/// along the channels. `w: [out, in / groups, kh, kw]`; `groups == in` is a
/// depthwise convolution. Composed of `narrow`, `conv2d` and `cat`, so its
/// gradients are theirs.
///
/// ```
/// use autograd::{Tape, Tensor};
/// use ops::Conv2dCfg;
/// let tape = Tape::<f64>::new();
/// // two channels, each scaled by its own 1x1 filter
/// let x = tape.constant(Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[1, 2, 1, 2])?);
/// let w = tape.constant(Tensor::from_vec(vec![10.0, 100.0], &[2, 1, 1, 1])?);
/// let y = nn::conv2d_grouped(x, w, None, Conv2dCfg::default(), 2)?;
/// assert_eq!(y.value().data(), &[10.0, 20.0, 300.0, 400.0]);
/// # Ok::<(), autograd::Error>(())
/// ```
#[track_caller]
pub fn conv2d_grouped<'t, T: Element>(
    x: Var<'t, T>,
    w: Var<'t, T>,
    b: Option<Var<'t, T>>,
    cfg: ops::Conv2dCfg,
    groups: usize,
) -> Result<Var<'t, T>> {
    let (xs, ws) = (x.shape(), w.shape());
    if xs.len() != 4 || ws.len() != 4 {
        return Err(Error::shape(
            "conv2d",
            format!(
                "input {} and weight {} must be 4-D",
                fmt_shape(&xs),
                fmt_shape(&ws)
            ),
        ));
    }
    let (cin, cout) = (xs[1], ws[0]);
    if groups == 0
        || groups > cin
        || cin % groups != 0
        || cout % groups != 0
        || ws[1].checked_mul(groups) != Some(cin)
    {
        return Err(Error::shape(
            "conv2d",
            format!(
                "groups {groups}: input {} and weight {} need in = groups x weight dim 1 and both channel counts divisible",
                fmt_shape(&xs),
                fmt_shape(&ws)
            ),
        ));
    }
    let (gi, go) = (cin / groups, cout / groups);
    let parts = (0..groups)
        .map(|g| {
            let xg = x.narrow(1, g * gi, gi)?;
            let wg = w.narrow(0, g * go, go)?;
            let bg = b.map(|b| b.narrow(0, g * go, go)).transpose()?;
            ops::conv2d(xg, wg, bg, cfg)
        })
        .collect::<Result<Vec<_>>>()?;
    ops::cat(&parts, 1)
}

/// `s - 1` zeros between neighbours along `axis` (2 or 3 of `[N, C, H, W]`):
/// `[.., n, ..]` becomes `[.., (n - 1) s + 1, ..]`.
fn insert_zeros<'t, T: Element>(x: Var<'t, T>, axis: usize, s: usize) -> Result<Var<'t, T>> {
    if s == 1 {
        return Ok(x);
    }
    let shape = x.shape();
    let zeros = x.tape().constant(Tensor::zeros(&shape));
    let mut parts = vec![x];
    parts.extend(std::iter::repeat_n(zeros, s - 1));
    // stack after `axis`, then merge: x0 0 .. 0 x1 0 .. 0 ...
    let stacked = ops::stack(&parts, axis as isize + 1)?;
    let mut merged: Vec<isize> = shape.iter().map(|&d| d as isize).collect();
    merged[axis] *= s as isize;
    let n = shape[axis];
    stacked
        .reshape(&merged)?
        .narrow(axis as isize, 0, (n - 1) * s + 1)
}

/// Transposed convolution (`F.conv_transpose2d(x, w, b, stride, padding)`,
/// the gradient of `conv2d` with respect to its input): `x: [N, in, H, W]`,
/// `w: [in, out, kh, kw]` (PyTorch's layout), output
/// `[N, out, (H - 1) stride - 2 padding + kh, ..]`. Composed as PyTorch
/// defines it: zeros inserted between input pixels (`stride - 1`), then a
/// stride-1 `conv2d` with the spatially flipped, in/out-swapped weight and
/// padding `k - 1 - padding` (cropping when `padding > k - 1`); so its
/// gradients are those of the checked ops. No `output_padding`, `groups` or
/// `dilation` (they differ from PyTorch's defaults only when set).
///
/// ```
/// use autograd::{Tape, Tensor};
/// let tape = Tape::<f64>::new();
/// let x = tape.constant(Tensor::from_vec(vec![1.0, 2.0], &[1, 1, 1, 2])?);
/// let w = tape.constant(Tensor::ones(&[1, 1, 1, 2]));
/// // stride 2: each input pixel paints the 1x2 kernel, side by side
/// let y = nn::conv_transpose2d(x, w, None, 2, 0)?;
/// assert_eq!(y.value().data(), &[1.0, 1.0, 2.0, 2.0]);
/// # Ok::<(), autograd::Error>(())
/// ```
#[track_caller]
pub fn conv_transpose2d<'t, T: Element>(
    x: Var<'t, T>,
    w: Var<'t, T>,
    b: Option<Var<'t, T>>,
    stride: usize,
    padding: usize,
) -> Result<Var<'t, T>> {
    let (xs, ws) = (x.shape(), w.shape());
    if xs.len() != 4 || ws.len() != 4 || xs[1] != ws[0] || stride == 0 || ws[2] == 0 || ws[3] == 0 {
        return Err(Error::shape(
            "conv_transpose2d",
            format!(
                "input {} and weight {} must be [N, in, H, W] and [in, out, kh, kw] with kh, kw, stride {stride} >= 1",
                fmt_shape(&xs),
                fmt_shape(&ws)
            ),
        ));
    }
    let (kh, kw) = (ws[2], ws[3]);
    // (length after zero insertion, output length) of an axis of `n`, in
    // checked arithmetic: None when it overflows or leaves no output
    let dim = |n: usize, k: usize| -> Option<(usize, usize)> {
        let up = n.checked_sub(1)?.checked_mul(stride)?.checked_add(1)?;
        let out = up
            .checked_add(k - 1)?
            .checked_sub(padding.checked_mul(2)?)?;
        (out > 0).then_some((up, out))
    };
    let (Some((uh, oh)), Some((uw, ow))) = (dim(xs[2], kh), dim(xs[3], kw)) else {
        return Err(Error::shape(
            "conv_transpose2d",
            format!(
                "stride {stride} and padding {padding} leave no output (or overflow) for input {} and kernel {kh}x{kw}",
                fmt_shape(&xs)
            ),
        ));
    };
    // the zero-inserted input is the largest buffer this builds
    match autograd::tensor::checked_numel(&[xs[0], xs[1], uh, uw]) {
        Some(n) if n <= ops::MAX_ELEMENTS => {}
        _ => {
            return Err(Error::shape(
                "conv_transpose2d",
                format!(
                    "stride {stride} makes input {} [{}, {}, {uh}, {uw}], over {} elements",
                    fmt_shape(&xs),
                    xs[0],
                    xs[1],
                    ops::MAX_ELEMENTS
                ),
            ))
        }
    }
    let up = insert_zeros(insert_zeros(x, 2, stride)?, 3, stride)?;
    // flip both spatial axes, swap in and out: [out, in, kh, kw]
    let rev = |n: usize| (0..n).rev().collect::<Vec<_>>();
    let wf = ops::index_select(ops::index_select(w, 2, &rev(kh))?, 3, &rev(kw))?;
    let wt = wf.permute(&[1, 0, 2, 3])?;
    // conv padding k - 1 - padding per side, or a crop where that is negative
    let (ph, pw) = (
        kh as isize - 1 - padding as isize,
        kw as isize - 1 - padding as isize,
    );
    let cfg = ops::Conv2dCfg {
        padding: [ph.max(0) as usize, pw.max(0) as usize],
        ..Default::default()
    };
    let mut y = ops::conv2d(up, wt, b, cfg)?;
    if ph < 0 {
        y = y.narrow(2, (-ph) as usize, oh)?;
    }
    if pw < 0 {
        y = y.narrow(3, (-pw) as usize, ow)?;
    }
    Ok(y)
}
