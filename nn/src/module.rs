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

/// Joins a prefix and a name with a dot (`"" + "w" = "w"`, `"fc" + "w" = "fc.w"`).
pub fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}
