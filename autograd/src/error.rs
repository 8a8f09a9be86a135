//! One error type for the whole framework.
//!
//! Every message names the op (or file) and the problem; errors raised by an
//! op on user input also carry the caller's source location, captured with
//! `#[track_caller]`, so the message points at the user's line of code.

use std::borrow::Cow;
use std::fmt;
use std::panic::Location;

/// What went wrong, in broad classes a caller may want to match on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Tensor shapes do not fit the op.
    Shape,
    /// A hyper-parameter or argument is out of its domain (stride 0, p > 1, ...).
    InvalidArgument,
    /// A misuse of the tape: backward on a non-scalar, a variable from another
    /// tape, saved tensors already freed.
    Tape,
    /// NaN or Inf found by anomaly detection.
    Anomaly,
    /// A file could not be read or parsed.
    Io,
}

/// The framework's error: an op (or file) name, a message and, for errors on
/// user input, the location of the user's call.
///
/// ```
/// use autograd::{Tensor, ErrorKind};
/// let err = Tensor::<f32>::from_vec(vec![1.0, 2.0], &[3]).unwrap_err();
/// assert_eq!(err.kind(), ErrorKind::Shape);
/// assert!(err.to_string().contains("from_vec"));
/// ```
#[derive(Clone)]
pub struct Error {
    kind: ErrorKind,
    op: Cow<'static, str>,
    msg: String,
    location: Option<&'static Location<'static>>,
}

impl Error {
    /// A new error of `kind` raised by `op`.
    pub fn new(kind: ErrorKind, op: impl Into<Cow<'static, str>>, msg: impl Into<String>) -> Self {
        Error {
            kind,
            op: op.into(),
            msg: msg.into(),
            location: None,
        }
    }
    /// A shape error, located at the caller of the `#[track_caller]` chain.
    #[track_caller]
    pub fn shape(op: impl Into<Cow<'static, str>>, msg: impl Into<String>) -> Self {
        Self::new(ErrorKind::Shape, op, msg).at(Location::caller())
    }
    /// An invalid-argument error, located at the caller.
    #[track_caller]
    pub fn invalid(op: impl Into<Cow<'static, str>>, msg: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidArgument, op, msg).at(Location::caller())
    }
    /// A tape-misuse error, located at the caller.
    #[track_caller]
    pub fn tape(op: impl Into<Cow<'static, str>>, msg: impl Into<String>) -> Self {
        Self::new(ErrorKind::Tape, op, msg).at(Location::caller())
    }
    /// Attaches (or replaces) the source location.
    pub fn at(mut self, loc: &'static Location<'static>) -> Self {
        self.location = Some(loc);
        self
    }
    /// The broad class of the error.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }
    /// The op or file that raised it.
    pub fn op(&self) -> &str {
        &self.op
    }
    /// The message, without op name and location.
    pub fn message(&self) -> &str {
        &self.msg
    }
    /// Where the user's call was, when known.
    pub fn location(&self) -> Option<&'static Location<'static>> {
        self.location
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.op, self.msg)?;
        if let Some(loc) = self.location {
            write!(f, " (at {}:{}:{})", loc.file(), loc.line(), loc.column())?;
        }
        Ok(())
    }
}

/// `{:?}` prints the same one line as `{}`, so `fn main() -> Result<()>`
/// with `?` shows a readable message (Rust prints a returned error with
/// `Debug`); `{:#?}` shows the fields.
///
/// ```
/// let err = autograd::Tensor::<f32>::from_vec(vec![1.0], &[2]).unwrap_err();
/// assert_eq!(format!("{err:?}"), err.to_string());
/// assert!(format!("{err:#?}").contains("kind: Shape"));
/// ```
impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if f.alternate() {
            f.debug_struct("Error")
                .field("kind", &self.kind)
                .field("op", &self.op)
                .field("msg", &self.msg)
                .field("location", &self.location)
                .finish()
        } else {
            fmt::Display::fmt(self, f)
        }
    }
}

impl std::error::Error for Error {}

/// `Result<T, autograd::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Formats a shape as `[8, 3, 32, 32]`.
pub fn fmt_shape(shape: &[usize]) -> String {
    let parts: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    format!("[{}]", parts.join(", "))
}
