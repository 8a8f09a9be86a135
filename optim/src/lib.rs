//! # optim: optimizers, parameter groups, clipping and schedules
//!
//! [`Sgd`], [`Adam`], [`AdamW`], [`RmsProp`] and [`Adagrad`] follow
//! `torch.optim`'s update rules and defaults, implement [`Optimizer`], and
//! report the lecture's update/weight ratio per parameter after each step.
//! [`ParamGroup`]s give parameters their own learning rate and weight
//! decay; [`schedule`] sets rates per step and per group; [`clip`] clips
//! gradients. The training loop, checkpoints and babysitting tools are in
//! the `train` crate (`optim/train`), so this one depends on no data.

#![forbid(unsafe_code)]

pub mod adaptive;
pub mod clip;
pub mod groups;
pub mod schedule;
pub mod sgd;

pub use adaptive::{Adagrad, Adam, AdamW, Optimizer, OptimizerState, RmsProp};
pub use clip::{clip_grad_norm, clip_grad_value};
pub use groups::{grads_for, Hyper, ParamGroup};
pub use schedule::{Cosine, LinearWarmup, LrSchedule, StepLr};
pub use sgd::Sgd;
