//! # ops: the primitive differentiable ops
//!
//! One file per op. Each file opens with the op's math (forward formula and
//! the vector-Jacobian product for every input), then has the shape check,
//! the forward kernel, and a [`Backward`](autograd::Backward) struct that
//! saves exactly what the backward needs.
//!
//! Call ops as free functions (`ops::relu(x)`) or as methods through the
//! [`VarOps`] trait (`x.relu()`); every op returns
//! [`Result`] and checks shapes before any kernel runs.
//! Errors name the op and the shapes and point at the caller's line.
//!
//! ```
//! use autograd::{Tape, Tensor};
//! use ops::prelude::*;
//! let tape = Tape::<f32>::new();
//! let x = tape.constant(Tensor::from_vec(vec![1.0, -2.0, 3.0, -4.0], &[2, 2]).unwrap());
//! let w = tape.param(Tensor::ones(&[2, 3]));
//! let y = x.matmul(w)?.relu()?.sum_all()?;
//! let grads = tape.backward(y)?;
//! assert_eq!(grads.wrt(w)?.shape(), &[2, 3]);
//! # Ok::<(), autograd::Error>(())
//! ```

#![forbid(unsafe_code)]

use autograd::{fmt_shape, Element, Error, Result, Var};
use rayon::prelude::*;

pub mod adaptive_avg_pool2d;
pub mod add;
pub mod add_scalar;
pub mod avg_pool2d;
pub mod batch_norm;
pub mod cat;
pub mod conv2d;
pub mod div;
pub mod dropout;
pub mod elu;
pub mod exp;
pub mod gather;
pub mod gelu;
pub mod index_select;
pub mod leaky_relu;
pub mod linear;
pub mod log;
pub mod log_softmax;
pub mod matmul;
pub mod max;
pub mod max_pool2d;
pub mod mean;
pub mod mul;
pub mod mul_scalar;
pub mod narrow;
pub mod neg;
pub mod nll_loss;
pub mod permute;
pub mod pow;
pub mod relu;
pub mod reshape;
pub mod sigmoid;
pub mod softplus;
pub mod sqrt;
pub mod sub;
pub mod sum;
pub mod tanh;
pub mod where_;

pub use adaptive_avg_pool2d::adaptive_avg_pool2d;
pub use add::add;
pub use add_scalar::add_scalar;
pub use avg_pool2d::avg_pool2d;
pub use batch_norm::{batch_norm, BatchNormStats};
pub use cat::{cat, stack};
pub use conv2d::{conv2d, Conv2dCfg};
pub use div::div;
pub use dropout::dropout;
pub use elu::elu;
pub use exp::exp;
pub use gather::gather;
pub use gelu::gelu;
pub use index_select::index_select;
pub use leaky_relu::leaky_relu;
pub use linear::linear;
pub use log::log;
pub use log_softmax::log_softmax;
pub use matmul::matmul;
pub use max::max;
pub use max_pool2d::{max_pool2d, Pool2dCfg};
pub use mean::{mean, mean_all};
pub use mul::mul;
pub use mul_scalar::mul_scalar;
pub use narrow::narrow;
pub use neg::neg;
pub use nll_loss::nll_loss;
pub use permute::{permute, transpose};
pub use pow::pow;
pub use relu::relu;
pub use reshape::reshape;
pub use sigmoid::sigmoid;
pub use softplus::softplus;
pub use sqrt::sqrt;
pub use sub::sub;
pub use sum::{sum, sum_all};
pub use tanh::tanh;
pub use where_::{masked_fill, where_};

/// The name of every primitive op, one per file of this crate. The gradient
/// property test checks that each has a registry entry.
pub const OP_NAMES: &[&str] = &[
    "adaptive_avg_pool2d",
    "add",
    "add_scalar",
    "avg_pool2d",
    "batch_norm",
    "cat",
    "conv2d",
    "div",
    "dropout",
    "elu",
    "exp",
    "gather",
    "gelu",
    "index_select",
    "leaky_relu",
    "linear",
    "log",
    "log_softmax",
    "matmul",
    "max",
    "max_pool2d",
    "mean",
    "mul",
    "mul_scalar",
    "narrow",
    "neg",
    "nll_loss",
    "permute",
    "pow",
    "relu",
    "reshape",
    "sigmoid",
    "softplus",
    "sqrt",
    "sub",
    "sum",
    "tanh",
    "where_",
];

/// `use ops::prelude::*;` brings the tape types and the method syntax.
pub mod prelude {
    pub use crate::{BatchNormStats, Conv2dCfg, Pool2dCfg, VarOps};
    pub use autograd::{Element, Grads, Result, Tape, Tensor, Var};
}

/// The largest tensor, in elements, that an op will allocate: 2^31 (8 GiB of
/// f32). Larger outputs or work buffers are shape errors, not aborts.
pub const MAX_ELEMENTS: usize = 1 << 31;

/// The number of elements of `dims`, or an error naming `op` when it
/// overflows or exceeds [`MAX_ELEMENTS`].
#[track_caller]
pub(crate) fn check_size(op: &'static str, what: &str, dims: &[usize]) -> Result<usize> {
    match dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d)) {
        Some(n) if n <= MAX_ELEMENTS => Ok(n),
        _ => Err(Error::shape(
            op,
            format!(
                "{what} {} would exceed {MAX_ELEMENTS} elements",
                fmt_shape(dims)
            ),
        )),
    }
}

pub(crate) use autograd::par::{par_map, PAR_THRESHOLD};

/// Like [`par_map`] for costly `f` (tanh, exp, log...): the output is
/// filled chunk by chunk in plain loops the compiler can vectorise, which
/// pays for the extra zero-fill (for cheap `f`, such as relu, it does not).
pub(crate) fn par_map_costly<T: Element>(x: &[T], f: impl Fn(T) -> T + Sync + Send) -> Vec<T> {
    par_map_slices(x, |i, o| {
        for (o, &v) in o.iter_mut().zip(i) {
            *o = f(v);
        }
    })
}

/// `f(src, dst)` over chunks of `x` (a slice kernel such as
/// [`Element::tanh_slice`]), in parallel for large inputs.
pub(crate) fn par_map_slices<T: Element>(
    x: &[T],
    f: impl Fn(&[T], &mut [T]) + Sync + Send,
) -> Vec<T> {
    let mut out = vec![T::ZERO; x.len()];
    if x.len() >= PAR_THRESHOLD {
        out.par_chunks_mut(PAR_THRESHOLD / 4)
            .zip(x.par_chunks(PAR_THRESHOLD / 4))
            .for_each(|(o, i)| f(i, o));
    } else {
        f(x, &mut out);
    }
    out
}

/// `f(a, b)` over two equal-length slices, in parallel for large inputs.
pub(crate) fn par_zip<T: Element>(a: &[T], b: &[T], f: impl Fn(T, T) -> T + Sync + Send) -> Vec<T> {
    debug_assert_eq!(a.len(), b.len());
    if a.len() >= PAR_THRESHOLD {
        a.par_iter()
            .zip(b.par_iter())
            .with_min_len(PAR_THRESHOLD / 4)
            .map(|(&x, &y)| f(x, y))
            .collect()
    } else {
        a.iter().zip(b.iter()).map(|(&x, &y)| f(x, y)).collect()
    }
}

/// Resolves a PyTorch-style axis (negative counts from the end).
#[track_caller]
pub(crate) fn norm_axis(op: &'static str, axis: isize, shape: &[usize]) -> Result<usize> {
    let nd = shape.len() as isize;
    let a = if axis < 0 { axis + nd } else { axis };
    if a < 0 || a >= nd {
        return Err(Error::shape(
            op,
            format!("axis {axis} out of range for shape {}", fmt_shape(shape)),
        ));
    }
    Ok(a as usize)
}

/// (outer, len, inner) sizes around `axis`: the element at (o, i, j) is at
/// `(o * len + i) * inner + j`.
pub(crate) fn split_axis(shape: &[usize], axis: usize) -> (usize, usize, usize) {
    (
        shape[..axis].iter().product(),
        shape[axis],
        shape[axis + 1..].iter().product(),
    )
}

/// The output shape of a reduction along `axis`.
pub(crate) fn reduced_shape(shape: &[usize], axis: usize, keepdim: bool) -> autograd::Shape {
    let mut s = autograd::Shape::from_slice(shape);
    if keepdim {
        s[axis] = 1;
    } else {
        s.remove(axis);
    }
    s
}

/// Method syntax for every op: `x.matmul(w)?.add(b)?.relu()?`.
///
/// Each method is the free function of the same name; see its module for the
/// math. All are `#[track_caller]`, so errors point at your line.
pub trait VarOps<'t, T: Element>: Sized {
    /// [`add()`]
    fn add(self, other: Self) -> Result<Self>;
    /// [`sub()`]
    fn sub(self, other: Self) -> Result<Self>;
    /// [`mul()`]
    fn mul(self, other: Self) -> Result<Self>;
    /// [`div()`]
    fn div(self, other: Self) -> Result<Self>;
    /// [`neg()`]
    fn neg(self) -> Result<Self>;
    /// [`add_scalar()`]
    fn add_scalar(self, s: f64) -> Result<Self>;
    /// [`mul_scalar()`]
    fn mul_scalar(self, s: f64) -> Result<Self>;
    /// [`exp()`]
    fn exp(self) -> Result<Self>;
    /// [`log()`]
    fn log(self) -> Result<Self>;
    /// [`sqrt()`]
    fn sqrt(self) -> Result<Self>;
    /// [`pow()`]
    fn pow(self, e: f64) -> Result<Self>;
    /// [`sum_all()`]
    fn sum_all(self) -> Result<Self>;
    /// [`sum()`]
    fn sum(self, axis: isize, keepdim: bool) -> Result<Self>;
    /// [`mean_all()`]
    fn mean_all(self) -> Result<Self>;
    /// [`mean()`]
    fn mean(self, axis: isize, keepdim: bool) -> Result<Self>;
    /// [`max()`]
    fn max(self, axis: isize, keepdim: bool) -> Result<Self>;
    /// [`reshape()`]
    fn reshape(self, shape: impl autograd::IntoShape) -> Result<Self>;
    /// [`permute()`]
    fn permute(self, perm: &[usize]) -> Result<Self>;
    /// [`transpose()`]
    fn transpose(self, a: usize, b: usize) -> Result<Self>;
    /// [`matmul()`]
    fn matmul(self, other: Self) -> Result<Self>;
    /// [`relu()`]
    fn relu(self) -> Result<Self>;
    /// [`tanh()`]
    fn tanh(self) -> Result<Self>;
    /// [`sigmoid()`]
    fn sigmoid(self) -> Result<Self>;
    /// [`softplus()`]
    fn softplus(self) -> Result<Self>;
    /// [`leaky_relu()`]
    fn leaky_relu(self, negative_slope: f64) -> Result<Self>;
    /// [`elu()`]
    fn elu(self, alpha: f64) -> Result<Self>;
    /// [`gelu()`]
    fn gelu(self) -> Result<Self>;
    /// [`narrow()`]
    fn narrow(self, axis: isize, start: usize, len: usize) -> Result<Self>;
    /// [`log_softmax()`]
    fn log_softmax(self, axis: isize) -> Result<Self>;
}

impl<'t, T: Element> VarOps<'t, T> for Var<'t, T> {
    #[track_caller]
    fn add(self, other: Self) -> Result<Self> {
        add(self, other)
    }
    #[track_caller]
    fn sub(self, other: Self) -> Result<Self> {
        sub(self, other)
    }
    #[track_caller]
    fn mul(self, other: Self) -> Result<Self> {
        mul(self, other)
    }
    #[track_caller]
    fn div(self, other: Self) -> Result<Self> {
        div(self, other)
    }
    #[track_caller]
    fn neg(self) -> Result<Self> {
        neg(self)
    }
    #[track_caller]
    fn add_scalar(self, s: f64) -> Result<Self> {
        add_scalar(self, s)
    }
    #[track_caller]
    fn mul_scalar(self, s: f64) -> Result<Self> {
        mul_scalar(self, s)
    }
    #[track_caller]
    fn exp(self) -> Result<Self> {
        exp(self)
    }
    #[track_caller]
    fn log(self) -> Result<Self> {
        log(self)
    }
    #[track_caller]
    fn sqrt(self) -> Result<Self> {
        sqrt(self)
    }
    #[track_caller]
    fn pow(self, e: f64) -> Result<Self> {
        pow(self, e)
    }
    #[track_caller]
    fn sum_all(self) -> Result<Self> {
        sum_all(self)
    }
    #[track_caller]
    fn sum(self, axis: isize, keepdim: bool) -> Result<Self> {
        sum(self, axis, keepdim)
    }
    #[track_caller]
    fn mean_all(self) -> Result<Self> {
        mean_all(self)
    }
    #[track_caller]
    fn mean(self, axis: isize, keepdim: bool) -> Result<Self> {
        mean(self, axis, keepdim)
    }
    #[track_caller]
    fn max(self, axis: isize, keepdim: bool) -> Result<Self> {
        max(self, axis, keepdim)
    }
    #[track_caller]
    fn reshape(self, shape: impl autograd::IntoShape) -> Result<Self> {
        reshape(self, shape)
    }
    #[track_caller]
    fn permute(self, perm: &[usize]) -> Result<Self> {
        permute(self, perm)
    }
    #[track_caller]
    fn transpose(self, a: usize, b: usize) -> Result<Self> {
        transpose(self, a, b)
    }
    #[track_caller]
    fn matmul(self, other: Self) -> Result<Self> {
        matmul(self, other)
    }
    #[track_caller]
    fn relu(self) -> Result<Self> {
        relu(self)
    }
    #[track_caller]
    fn tanh(self) -> Result<Self> {
        tanh(self)
    }
    #[track_caller]
    fn sigmoid(self) -> Result<Self> {
        sigmoid(self)
    }
    #[track_caller]
    fn softplus(self) -> Result<Self> {
        softplus(self)
    }
    #[track_caller]
    fn leaky_relu(self, negative_slope: f64) -> Result<Self> {
        leaky_relu(self, negative_slope)
    }
    #[track_caller]
    fn elu(self, alpha: f64) -> Result<Self> {
        elu(self, alpha)
    }
    #[track_caller]
    fn gelu(self) -> Result<Self> {
        gelu(self)
    }
    #[track_caller]
    fn narrow(self, axis: isize, start: usize, len: usize) -> Result<Self> {
        narrow(self, axis, start, len)
    }
    #[track_caller]
    fn log_softmax(self, axis: isize) -> Result<Self> {
        log_softmax(self, axis)
    }
}
