//! # optim: SGD, schedules, the training loop and the babysitting tools
//!
//! [`Sgd`] follows `torch.optim.SGD` exactly and reports the lecture's
//! update/weight ratio per parameter after each step. [`train`] is a plain
//! epoch loop; [`babysit`] turns the lecture's sanity checks and
//! hyper-parameter search into functions.

#![forbid(unsafe_code)]

pub mod babysit;
pub mod checkpoint;
pub mod schedule;
pub mod sgd;
pub mod train;

pub use schedule::{Cosine, LinearWarmup, LrSchedule, StepLr};
pub use sgd::Sgd;
