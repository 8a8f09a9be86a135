//! # autograd: tensors and a reverse-mode tape
//!
//! - [`Tensor`]: n-dimensional, row-major, generic over [`Element`] (`f32`
//!   for training, `f64` for gradient checks), shapes in a `SmallVec`.
//! - [`Tape`] and [`Var`]: every op appends one node; [`Tape::backward`]
//!   walks the tape once, newest first, and returns [`Grads`].
//! - [`gradcheck()`]: compare any function's backward with f64 central
//!   differences, with a report naming the input and the worst element.
//! - [`Error`]: every error names the op and the problem, and where the user
//!   called it.
//!
//! The primitive ops live in the `ops` crate; this crate is the machinery.
//! The numeric kernels it runs on (and all of the project's `unsafe`
//! code) are the `kernels` crate below it, re-exported here under the same
//! paths: [`Element`], [`cpu`], [`gemm`], [`packed`], [`par_gemm`], [`conv2d`], [`pool`], [`norm`],
//! [`fastmath`].

#![forbid(unsafe_code)]

pub mod arith;
pub mod error;
pub mod gradcheck;
pub mod par;
pub mod profile;
pub mod tape;
pub mod tensor;

pub use error::{fmt_shape, Error, ErrorKind, Result};
pub use gradcheck::{gradcheck, GradcheckConfig, GradcheckFailure, GradcheckReport};
pub use kernels::{
    alloc, conv2d, cpu, element, fastmath, gemm, norm, packed, par_gemm, pool, Element,
};
pub use smallvec;
pub use tape::{Backward, Grads, InputGrads, NoGradGuard, ParamSource, Tape, Var};
pub use tensor::{IntoShape, Shape, Tensor, TensorId};
