//! # nn: layers as functions, parameters as plain structs
//!
//! Layers ([`Linear`], [`Conv2d`], [`BatchNorm`]) own their tensors and are
//! created with an explicit seeded RNG; `forward` puts their parameters on a
//! tape and applies the op. A model is an ordinary Rust function or struct.
//! The optimizer finds each parameter's gradient with
//! [`Grads::of`](autograd::Grads::of) and walks parameters by name through
//! [`Module`].
//!
//! ```
//! use autograd::{Tape, Tensor};
//! use nn::{Init, Linear, Module};
//! use ops::VarOps;
//! use rand::SeedableRng;
//!
//! struct TwoLayer { fc1: Linear<f32>, fc2: Linear<f32> }
//!
//! impl Module<f32> for TwoLayer {
//!     fn visit(&self, p: &str, f: &mut dyn FnMut(&str, &Tensor<f32>)) {
//!         self.fc1.visit(&nn::join(p, "fc1"), f);
//!         self.fc2.visit(&nn::join(p, "fc2"), f);
//!     }
//!     fn visit_mut(&mut self, p: &str, f: &mut dyn FnMut(&str, &mut Tensor<f32>)) {
//!         self.fc1.visit_mut(&nn::join(p, "fc1"), f);
//!         self.fc2.visit_mut(&nn::join(p, "fc2"), f);
//!     }
//!     // no running statistics: say so (nn::impl_module! writes all four)
//!     fn visit_buffers(&self, _: &str, _: &mut dyn FnMut(&str, &Tensor<f32>)) {}
//!     fn visit_buffers_mut(&mut self, _: &str, _: &mut dyn FnMut(&str, &mut Tensor<f32>)) {}
//! }
//!
//! fn model<'t>(m: &TwoLayer, tape: &'t Tape<f32>, x: autograd::Var<'t, f32>) -> autograd::Result<autograd::Var<'t, f32>> {
//!     m.fc2.forward(tape, m.fc1.forward(tape, x)?.relu()?)
//! }
//!
//! let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
//! let net = TwoLayer { fc1: Linear::new(3072, 100, Init::He, &mut rng), fc2: Linear::new(100, 10, Init::Small, &mut rng) };
//! let tape = Tape::new();
//! let x = tape.constant(Tensor::randn(&[4, 3072], 0.0, 1.0, &mut rng));
//! let loss = nn::cross_entropy(model(&net, &tape, x)?, &[0, 1, 2, 3])?;
//! let grads = tape.backward(loss)?;
//! assert_eq!(grads.of(&net.fc1.weight).unwrap().shape(), &[100, 3072]);
//! assert_eq!(net.param_names()[0], ("fc1.weight".to_string(), vec![100, 3072]));
//! # Ok::<(), autograd::Error>(())
//! ```

#![forbid(unsafe_code)]

pub mod checkpoint;
pub mod classifier;
pub mod functional;
pub mod init;
pub mod layers;
pub mod losses;
pub mod module;
pub mod norm_embed;
pub mod sequential;

pub use classifier::Classifier;
pub use functional::{
    accuracy, argmax_rows, conv2d_grouped, conv_transpose2d, cross_entropy, dropout, flatten,
    softmax,
};
pub use init::{Dist, Init};
pub use layers::{BatchNorm, Conv2d, Linear, Mode};
pub use losses::{
    binary_cross_entropy_with_logits, cross_entropy_with, l1_loss, mse_loss, smooth_l1_loss,
    CrossEntropyOptions,
};
pub use module::{join, AsModule, Module};
pub use norm_embed::{Embedding, LayerNorm};
pub use sequential::{
    AdaptiveAvgPool2d, Flatten, Layer, LeakyReLU, MaxPool2d, ReLU, Sequential, Sigmoid, Softplus,
    Tanh, ELU, GELU,
};
