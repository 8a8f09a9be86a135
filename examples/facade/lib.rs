//! # lecture_grad: the one crate to depend on
//!
//! A CPU tensor framework with a reverse-mode tape, built to reproduce the
//! cs231n lecture "ConvNets and Babysitting the Learning Process". This
//! crate re-exports the workspace's crates and the `rand` / `rand_chacha`
//! that their constructors take, and gathers what a model needs in
//! [`prelude`]:
//!
//! ```
//! use lecture_grad::prelude::*;
//!
//! let mut rng = ChaCha8Rng::seed_from_u64(0);
//! let mut fc = Linear::<f32>::new(4, 3, Init::He, &mut rng);
//! let mut opt = Sgd::new(0.1).momentum(0.9);
//! let x = Tensor::randn(&[8, 4], 0.0, 1.0, &mut rng);
//! let labels = [0, 1, 2, 0, 1, 2, 0, 1];
//! for _ in 0..20 {
//!     let tape = Tape::new();
//!     let loss = cross_entropy(fc.forward(&tape, tape.constant(x.clone()))?, &labels)?;
//!     let grads = tape.backward(loss)?;
//!     drop(tape);
//!     opt.step(&mut fc, &grads)?;
//! }
//! # Ok::<(), lecture_grad::Error>(())
//! ```
//!
//! | module | what |
//! |---|---|
//! | [`autograd`] | `Tensor`, `Tape`, `Var`, `Grads`, `gradcheck`, `Error` |
//! | [`ops`] | the primitive differentiable ops (`VarOps` methods and free functions) |
//! | [`nn`] | layers, `Module`, losses, initialisation, model checkpoints |
//! | [`optim`] | optimizers with `torch.optim`'s semantics, parameter groups, clipping, schedules |
//! | [`train`] | `fit`, training checkpoints, the babysitting tools, the lecture's models |
//! | [`data`] | CIFAR-10 and IDX readers, normalisation, batches, augmentation |

#![forbid(unsafe_code)]

pub use autograd;
pub use autograd::{Error, Result};
pub use data;
pub use nn;
pub use ops;
pub use optim;
pub use rand;
pub use rand_chacha;
pub use train;

/// What a model, its training step and its checkpoint need, in one import:
/// `use lecture_grad::prelude::*;`.
pub mod prelude {
    pub use autograd::{
        gradcheck, Error, GradcheckConfig, Grads, IntoShape, Result, Tape, Tensor, Var,
    };
    pub use nn::checkpoint::{load_model, save_model};
    pub use nn::sequential;
    pub use nn::{
        accuracy, binary_cross_entropy_with_logits, cross_entropy, cross_entropy_with, dropout,
        flatten, l1_loss, mse_loss, smooth_l1_loss, softmax, AdaptiveAvgPool2d, BatchNorm,
        Classifier, Conv2d, CrossEntropyOptions, Embedding, Flatten, Init, Layer, LayerNorm,
        LeakyReLU, Linear, MaxPool2d, Mode, Module, ReLU, Sequential, Sigmoid, Softplus, Tanh, ELU,
        GELU,
    };
    pub use ops::{Conv2dCfg, Pool2dCfg, VarOps};
    pub use optim::{
        clip_grad_norm, Adagrad, Adam, AdamW, Cosine, LrSchedule, Optimizer, ParamGroup, RmsProp,
        Sgd, StepLr,
    };
    pub use rand::{Rng, SeedableRng};
    pub use rand_chacha::ChaCha8Rng;
    pub use train;
}
