//! The interface of an image classifier, which the training loop drives.

use autograd::{Result, Tape, Tensor, Var};

use crate::{Mode, Module};

/// A model that maps images `[N, C, H, W]` to class scores `[N, classes]`.
pub trait Classifier: Module<f32> + crate::module::AsModule<f32> {
    /// The scores; `mode` selects batch-norm statistics and dropout.
    fn forward<'t>(&self, tape: &'t Tape<f32>, x: Var<'t, f32>, mode: Mode)
        -> Result<Var<'t, f32>>;
    /// The first layer's weights as images `[out, C, kh, kw]` (for filter
    /// pictures), when the model has such a layer.
    fn first_layer_filters(&self) -> Option<Tensor<f32>> {
        None
    }
}
