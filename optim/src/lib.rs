//! # optim: SGD (L2 weight decay, momentum, Nesterov) and schedules
//!
//! [`Sgd`] follows `torch.optim.SGD` exactly and reports the lecture's
//! update/weight ratio per parameter after each step.

pub mod schedule;
pub mod sgd;

pub use schedule::{Cosine, LinearWarmup, LrSchedule, StepLr};
pub use sgd::Sgd;
