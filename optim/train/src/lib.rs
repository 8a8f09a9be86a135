//! # train: the training loop and the lecture's babysitting, as a library
//!
//! `optim` holds only optimizers, clipping and schedules; this crate puts
//! them to work on `data`:
//!
//! - [`fit()`]: epochs of mini-batches with any [`optim::Optimizer`], a
//!   per-step schedule, evaluation after each epoch, the best model by
//!   validation accuracy saved, and training checkpoints to resume from
//!   bit for bit ([`checkpoint`]).
//! - [`step`]: the pieces of one epoch (`train_step`, `train_epoch`,
//!   `evaluate`, `predict`) for loops of your own.
//! - [`babysit`]: the lecture's sanity checks and its coarse-to-fine random
//!   search of learning rate and L2 strength.
//! - [`dist`]: data-parallel training over any collective; with the
//!   `distributed` feature, `mpi::MpiWorld` runs it on MPI.
//! - [`models`] and [`lecture`]: the lecture's reference models and its
//!   weight-initialisation experiment.

#![forbid(unsafe_code)]

pub mod babysit;
pub mod checkpoint;
pub mod curves;
pub mod dist;
pub mod fit;
pub mod lecture;
pub mod models;
#[cfg(feature = "distributed")]
pub mod mpi;
pub mod step;

pub use curves::Curves;
pub use fit::{fit, Callbacks, EpochEnd, FitConfig, History};
pub use step::{evaluate, predict, train_epoch, train_step, EpochConfig, Pass, StepInfo};
