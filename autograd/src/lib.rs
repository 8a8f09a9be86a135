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

#![deny(unsafe_code)]

pub mod arith;
pub mod cpu;
pub mod element;
pub mod error;
#[allow(unsafe_code)] // kernel file: one unsafe call with a SAFETY comment
pub mod fastmath;
#[allow(unsafe_code)] // kernel file: each unsafe block has a SAFETY comment
pub mod gemm;
pub mod gradcheck;
#[allow(unsafe_code)] // kernel file: each unsafe block has a SAFETY comment
pub mod packed;
pub mod par;
pub mod tape;
pub mod tensor;

pub use element::Element;
pub use error::{fmt_shape, Error, ErrorKind, Result};
pub use gradcheck::{gradcheck, GradcheckConfig, GradcheckFailure, GradcheckReport};
pub use smallvec;
pub use tape::{Backward, Grads, InputGrads, NoGradGuard, ParamSource, Tape, Var};
pub use tensor::{IntoShape, Shape, Tensor, TensorId};
