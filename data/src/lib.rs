//! # data: datasets, readers and input pipelines
//!
//! - [`read_cifar10`] / [`load_cifar10`]: CIFAR-10 binary batches.
//! - [`read_idx`] / [`load_mnist_like`]: MNIST and Fashion-MNIST IDX files,
//!   gzip'd or raw.
//! - [`Normalizer`]: the lecture's mean image / std image, or per channel,
//!   fitted on the training set and applied to the others.
//! - [`Batches`], [`epoch_order`], [`Augment`]: seeded shuffling,
//!   mini-batches, random crop and flip; all reproducible from one seed.
//!
//! Every reader checks sizes, magic numbers and labels, and its errors name
//! the file and the problem.

#![forbid(unsafe_code)]

pub mod cifar;
pub mod dataset;
pub mod idx;
pub mod transform;

pub use cifar::{load_cifar10, parse_cifar10, read_cifar10};
pub use dataset::Dataset;
pub use idx::{load_mnist_like, parse_idx, read_idx, read_idx_pair, Idx};
pub use transform::{epoch_order, epoch_rng, Augment, Batches, Normalizer};
