//! `add`: elementwise sum with broadcasting.
//!
//! The op lives in `autograd::arith` (so that `Var` can have operators:
//! `a + b`, `x * 2.0`); this module re-exports it under its usual name.

pub use autograd::arith::add::add;
