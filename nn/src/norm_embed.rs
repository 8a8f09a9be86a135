//! `LayerNorm` and `Embedding`, as PyTorch's `nn.LayerNorm(d)` and
//! `nn.Embedding(num, dim)`, composed from checked primitive ops.

use autograd::{fmt_shape, Element, Error, Result, Tape, Tensor, Var};
use ops::VarOps;
use rand::Rng;

use crate::{join, Layer, Mode, Module};

/// Layer normalisation over the last axis (`nn.LayerNorm(d, eps=1e-5)`):
/// `y = (x - mean) / sqrt(var + eps) * weight + bias`, mean and biased
/// variance over the last `d` features of each row; `weight` starts at 1,
/// `bias` at 0. It keeps no running statistics, so train and eval agree.
///
/// ```
/// use autograd::{Tape, Tensor};
/// use nn::{LayerNorm, Mode};
/// let ln = LayerNorm::<f64>::new(2);
/// let tape = Tape::new();
/// let x = tape.constant(Tensor::from_vec(vec![1.0, 3.0, -2.0, 2.0], &[2, 2])?);
/// let y = ln.forward(&tape, x)?.value();
/// assert!((y.data()[0] + 1.0).abs() < 1e-5 && (y.data()[3] - 1.0).abs() < 1e-5);
/// # Ok::<(), autograd::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct LayerNorm<T: Element> {
    /// Scale, `[d]`.
    pub weight: Tensor<T>,
    /// Shift, `[d]`.
    pub bias: Tensor<T>,
    /// Added to the variance (PyTorch's default 1e-5).
    pub eps: f64,
}

impl<T: Element> LayerNorm<T> {
    /// Over the last axis of size `d`.
    pub fn new(d: usize) -> Self {
        LayerNorm {
            weight: Tensor::ones(&[d]),
            bias: Tensor::zeros(&[d]),
            eps: 1e-5,
        }
    }

    /// Normalises each row of `x` over its last axis.
    #[track_caller]
    pub fn forward<'t>(&self, tape: &'t Tape<T>, x: Var<'t, T>) -> Result<Var<'t, T>> {
        let s = x.shape();
        let d = self.weight.numel();
        if s.last() != Some(&d) {
            return Err(Error::shape(
                "layer_norm",
                format!(
                    "input {} must end in the normalised size {d}",
                    fmt_shape(&s)
                ),
            ));
        }
        if !(self.eps > 0.0 && self.eps.is_finite()) {
            return Err(Error::invalid(
                "layer_norm",
                format!("eps {} must be finite and > 0", self.eps),
            ));
        }
        let centred = (x - x.mean(-1, true)?)?;
        let var = (centred * centred)?.mean(-1, true)?;
        let normed = (centred / var.add_scalar(self.eps)?.sqrt()?)?;
        (normed * tape.param(&self.weight))? + tape.param(&self.bias)
    }
}

impl<T: Element> Module<T> for LayerNorm<T> {
    fn visit(&self, prefix: &str, f: &mut dyn FnMut(&str, &Tensor<T>)) {
        f(&join(prefix, "weight"), &self.weight);
        f(&join(prefix, "bias"), &self.bias);
    }
    fn visit_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Tensor<T>)) {
        f(&join(prefix, "weight"), &mut self.weight);
        f(&join(prefix, "bias"), &mut self.bias);
    }
    fn visit_buffers(&self, _: &str, _: &mut dyn FnMut(&str, &Tensor<T>)) {}
    fn visit_buffers_mut(&mut self, _: &str, _: &mut dyn FnMut(&str, &mut Tensor<T>)) {}
}

impl<T: Element> Layer<T> for LayerNorm<T> {
    #[track_caller]
    fn forward<'t>(&self, tape: &'t Tape<T>, x: Var<'t, T>, _: Mode) -> Result<Var<'t, T>> {
        LayerNorm::forward(self, tape, x)
    }
}

/// A lookup table of `num` vectors of size `dim` (`nn.Embedding`), drawn
/// from N(0, 1) as PyTorch's; `forward` is `index_select(weight, 0, ids)`,
/// so an id used twice gets the sum of both gradients.
///
/// ```
/// use autograd::Tape;
/// use nn::Embedding;
/// use rand::SeedableRng;
/// let emb = Embedding::<f32>::new(10, 4, &mut rand_chacha::ChaCha8Rng::seed_from_u64(0));
/// let tape = Tape::new();
/// let v = emb.forward(&tape, &[3, 3, 7])?;
/// assert_eq!(v.shape().as_slice(), &[3, 4]);
/// assert!(emb.forward(&tape, &[10]).is_err());
/// # Ok::<(), autograd::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Embedding<T: Element> {
    /// `[num, dim]`.
    pub weight: Tensor<T>,
}

impl<T: Element> Embedding<T> {
    /// `num` vectors of `dim` values, N(0, 1).
    pub fn new<R: Rng + ?Sized>(num: usize, dim: usize, rng: &mut R) -> Self {
        Embedding {
            weight: Tensor::randn(&[num, dim], 0.0, 1.0, rng),
        }
    }

    /// The rows `ids` of the table, `[ids.len(), dim]`.
    #[track_caller]
    pub fn forward<'t>(&self, tape: &'t Tape<T>, ids: &[usize]) -> Result<Var<'t, T>> {
        ops::index_select(tape.param(&self.weight), 0, ids)
    }
}

impl<T: Element> Module<T> for Embedding<T> {
    fn visit(&self, prefix: &str, f: &mut dyn FnMut(&str, &Tensor<T>)) {
        f(&join(prefix, "weight"), &self.weight);
    }
    fn visit_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Tensor<T>)) {
        f(&join(prefix, "weight"), &mut self.weight);
    }
    fn visit_buffers(&self, _: &str, _: &mut dyn FnMut(&str, &Tensor<T>)) {}
    fn visit_buffers_mut(&mut self, _: &str, _: &mut dyn FnMut(&str, &mut Tensor<T>)) {}
}
