//! # optim: optimizers, schedules, the training loop and the babysitting tools
//!
//! [`Sgd`], [`Adam`], [`AdamW`], [`RmsProp`] and [`Adagrad`] follow
//! `torch.optim`'s update rules and defaults, implement [`Optimizer`], and
//! report the lecture's update/weight ratio per parameter after each step. [`train`] is a plain
//! epoch loop; [`babysit`] turns the lecture's sanity checks and
//! hyper-parameter search into functions.

#![forbid(unsafe_code)]

pub mod adaptive;
pub mod babysit;
pub mod checkpoint;
pub mod clip;
pub mod groups;
pub mod schedule;
pub mod sgd;
pub mod train;

pub use adaptive::{Adagrad, Adam, AdamW, Optimizer, OptimizerState, RmsProp};
pub use clip::{clip_grad_norm, clip_grad_value};
pub use groups::{grads_for, Hyper, ParamGroup};
pub use schedule::{Cosine, LinearWarmup, LrSchedule, StepLr};
pub use sgd::Sgd;
