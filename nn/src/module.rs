//! Naming and visiting the tensors of a model: its parameters (trained) and
//! buffers (running statistics), for optimizers and checkpoints.

use autograd::{Element, Tensor};

/// A model or layer that owns named parameters.
///
/// Implement `visit` / `visit_mut` by calling them on each sub-layer with a
/// prefix (`"conv1"`), which gives names like `conv1.weight`, as PyTorch's
/// `named_parameters`.
pub trait Module<T: Element> {
    /// Calls `f(name, tensor)` for every trainable parameter.
    fn visit(&self, prefix: &str, f: &mut dyn FnMut(&str, &Tensor<T>));
    /// Calls `f(name, tensor)` for every trainable parameter, mutably.
    fn visit_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Tensor<T>));
    /// Calls `f(name, tensor)` for every non-trained state tensor (batch-norm
    /// running statistics); none by default.
    fn visit_buffers_mut(&mut self, _prefix: &str, _f: &mut dyn FnMut(&str, &mut Tensor<T>)) {}

    /// `(name, shape)` of every parameter.
    fn param_names(&self) -> Vec<(String, Vec<usize>)> {
        let mut v = Vec::new();
        self.visit("", &mut |n, t| v.push((n.to_string(), t.shape().to_vec())));
        v
    }
    /// Total number of trainable scalars.
    fn num_params(&self) -> usize {
        let mut n = 0;
        self.visit("", &mut |_, t| n += t.numel());
        n
    }
}

/// A `&mut dyn Module` from any module, sized or not: optimizers take
/// `&mut dyn Module<T>`, and code generic over `M: Classifier + ?Sized`
/// (which may be a `dyn Classifier`) gets one through this. Implemented for
/// every sized [`Module`].
pub trait AsModule<T: Element> {
    /// This module as a trait object.
    fn as_module_mut(&mut self) -> &mut dyn Module<T>;
}

impl<T: Element, M: Module<T>> AsModule<T> for M {
    fn as_module_mut(&mut self) -> &mut dyn Module<T> {
        self
    }
}

/// Joins a prefix and a name with a dot (`"" + "w" = "w"`, `"fc" + "w" = "fc.w"`).
pub fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

#[doc(hidden)]
pub use autograd::Tensor as __Tensor;

/// Implements [`Module`] for a struct whose fields are layers: parameters and
/// buffers are named `field.weight`, `field.bias`, ... in field order.
///
/// ```
/// use nn::{Init, Linear, Module};
/// use rand::SeedableRng;
/// struct Mlp { fc1: Linear<f32>, fc2: Linear<f32> }
/// nn::impl_module!(Mlp: f32 { fc1, fc2 });
/// let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
/// let m = Mlp { fc1: Linear::new(4, 3, Init::He, &mut rng), fc2: Linear::new(3, 2, Init::He, &mut rng) };
/// let names: Vec<String> = m.param_names().into_iter().map(|(n, _)| n).collect();
/// assert_eq!(names, ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]);
/// ```
#[macro_export]
macro_rules! impl_module {
    ($ty:ty : $t:ty { $($field:ident),* $(,)? }) => {
        impl $crate::Module<$t> for $ty {
            fn visit(&self, prefix: &str, f: &mut dyn FnMut(&str, &$crate::module::__Tensor<$t>)) {
                $( $crate::Module::visit(&self.$field, &$crate::join(prefix, stringify!($field)), f); )*
            }
            fn visit_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut $crate::module::__Tensor<$t>)) {
                $( $crate::Module::visit_mut(&mut self.$field, &$crate::join(prefix, stringify!($field)), f); )*
            }
            fn visit_buffers_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut $crate::module::__Tensor<$t>)) {
                $( $crate::Module::visit_buffers_mut(&mut self.$field, &$crate::join(prefix, stringify!($field)), f); )*
            }
        }
    };
}
