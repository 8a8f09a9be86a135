//! Layers: plain structs that own their parameter tensors, created by `new`
//! with an explicit RNG and applied by `forward` as a function of variables.
//! Each prints like Torch7's `__tostring__`.

use std::fmt;
use std::sync::{Mutex, MutexGuard};

use autograd::{Element, Result, Tape, Tensor, Var};
use ops::{BatchNormStats, Conv2dCfg};
use rand::Rng;

use crate::init::{Dist, Init};
use crate::module::{join, Module};

/// Training or evaluation behaviour (batch norm statistics, dropout).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Batch statistics, dropout on.
    Train,
    /// Running statistics, dropout off.
    Eval,
}

impl Mode {
    /// `true` for [`Mode::Train`].
    pub fn is_train(self) -> bool {
        self == Mode::Train
    }
}

/// Fully connected layer, `y = x W^T + b` with `W: [out, in]` (PyTorch and
/// Torch7 layout), `b: [out]`.
///
/// ```
/// use autograd::{Tape, Tensor};
/// use nn::{Init, Linear};
/// use rand::SeedableRng;
/// let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
/// let fc = Linear::<f32>::new(4, 3, Init::Xavier, &mut rng);
/// assert_eq!(fc.to_string(), "nn.Linear(4 -> 3)");
/// let tape = Tape::new();
/// let y = fc.forward(&tape, tape.constant(Tensor::ones(&[2, 4])))?;
/// assert_eq!(y.shape().as_slice(), &[2, 3]);
/// # Ok::<(), autograd::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Linear<T: Element> {
    /// `[out, in]`
    pub weight: Tensor<T>,
    /// `[out]`
    pub bias: Option<Tensor<T>>,
}

impl<T: Element> Linear<T> {
    /// Weight drawn from `init` (normal), bias zero as in cs231n. (The
    /// lecture's weight-init experiment also draws the bias: see
    /// [`Linear::with_bias_init`].)
    pub fn new<R: Rng + ?Sized>(fan_in: usize, fan_out: usize, init: Init, rng: &mut R) -> Self {
        Linear {
            weight: init.tensor(&[fan_out, fan_in], Dist::Normal, rng),
            bias: Some(Tensor::zeros(&[fan_out])),
        }
    }

    /// With a (zero) bias or without one (PyTorch's `bias=False`).
    ///
    /// ```
    /// use nn::{Init, Linear, Module};
    /// use rand::SeedableRng;
    /// let fc = Linear::<f32>::new(4, 2, Init::He, &mut rand_chacha::ChaCha8Rng::seed_from_u64(0)).bias(false);
    /// assert_eq!(fc.num_params(), 8);
    /// ```
    pub fn bias(mut self, on: bool) -> Self {
        let out = self.weight.shape()[0];
        self.bias = on.then(|| Tensor::zeros(&[out]));
        self
    }

    /// Weight and bias both drawn with the weight's std, as the lecture's
    /// Torch code does (`self.b = torch.randn(fan_out) * 0.01`).
    pub fn with_bias_init<R: Rng + ?Sized>(
        fan_in: usize,
        fan_out: usize,
        init: Init,
        rng: &mut R,
    ) -> Self {
        let weight = init.tensor(&[fan_out, fan_in], Dist::Normal, rng);
        let std = init.std(fan_in, fan_out);
        Linear {
            weight,
            bias: Some(Tensor::randn(&[fan_out], 0.0, std, rng)),
        }
    }

    /// `x: [N, in]` (or `[.., in]`) to `[.., out]`.
    #[track_caller]
    pub fn forward<'t>(&self, tape: &'t Tape<T>, x: Var<'t, T>) -> Result<Var<'t, T>> {
        // ops::linear checks the shapes (and names this call's location)
        let w = tape.param(&self.weight);
        let b = self.bias.as_ref().map(|b| tape.param(b));
        ops::linear(x, w, b)
    }
}

impl<T: Element> fmt::Display for Linear<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.weight.shape();
        write!(
            f,
            "nn.Linear({} -> {}{})",
            s[1],
            s[0],
            if self.bias.is_some() { "" } else { ", no bias" }
        )
    }
}

/// `weight` and an optional `bias`, the parameters of Linear and Conv2d.
fn visit_weight_bias<T: Element>(
    prefix: &str,
    w: &Tensor<T>,
    b: Option<&Tensor<T>>,
    f: &mut dyn FnMut(&str, &Tensor<T>),
) {
    f(&join(prefix, "weight"), w);
    if let Some(b) = b {
        f(&join(prefix, "bias"), b);
    }
}

fn visit_weight_bias_mut<T: Element>(
    prefix: &str,
    w: &mut Tensor<T>,
    b: Option<&mut Tensor<T>>,
    f: &mut dyn FnMut(&str, &mut Tensor<T>),
) {
    f(&join(prefix, "weight"), w);
    if let Some(b) = b {
        f(&join(prefix, "bias"), b);
    }
}

impl<T: Element> Module<T> for Linear<T> {
    fn visit(&self, prefix: &str, f: &mut dyn FnMut(&str, &Tensor<T>)) {
        visit_weight_bias(prefix, &self.weight, self.bias.as_ref(), f)
    }
    fn visit_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Tensor<T>)) {
        visit_weight_bias_mut(prefix, &mut self.weight, self.bias.as_mut(), f)
    }
    fn visit_buffers(&self, _: &str, _: &mut dyn FnMut(&str, &Tensor<T>)) {}
    fn visit_buffers_mut(&mut self, _: &str, _: &mut dyn FnMut(&str, &mut Tensor<T>)) {}
}

/// 2-D convolution layer, weight `[out, in, kh, kw]`, optional bias `[out]`.
///
/// ```
/// use nn::{Conv2d, Init};
/// use ops::Conv2dCfg;
/// use rand::SeedableRng;
/// let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
/// let conv = Conv2d::<f32>::with_config(3, 32, 3, Conv2dCfg::default().padding(1), false, Init::He, &mut rng);
/// assert_eq!(conv.to_string(), "nn.SpatialConvolution(3 -> 32, 3x3, 1,1, 1,1, dilation 1,1, no bias)");
/// ```
#[derive(Clone, Debug)]
pub struct Conv2d<T: Element> {
    /// `[out, in, kh, kw]`
    pub weight: Tensor<T>,
    /// `[out]`
    pub bias: Option<Tensor<T>>,
    /// Stride, padding, dilation.
    pub cfg: Conv2dCfg,
    /// Channel groups (PyTorch's `groups`): 1 is a full convolution, `in`
    /// a depthwise one; the weight is then `[out, in / groups, kh, kw]`.
    pub groups: usize,
}

impl<T: Element> Conv2d<T> {
    /// A `cin -> cout`, `k x k` convolution as PyTorch's `nn.Conv2d(cin,
    /// cout, k)`: stride 1, no padding, a bias (zero); weights He-initialised
    /// from `rng` (the RNG is explicit, so every run is reproducible). Set
    /// the rest by builder methods:
    ///
    /// ```
    /// use nn::{Conv2d, Init};
    /// use rand::SeedableRng;
    /// let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    /// let conv = Conv2d::<f32>::new(3, 64, 3, &mut rng).padding(1).bias(false);
    /// assert_eq!(conv.to_string(), "nn.SpatialConvolution(3 -> 64, 3x3, 1,1, 1,1, dilation 1,1, no bias)");
    /// let xavier = Conv2d::<f32>::new(3, 64, 3, &mut rng).stride(2).init(Init::Xavier, &mut rng);
    /// assert_eq!(xavier.cfg.stride, [2, 2]);
    /// ```
    pub fn new<R: Rng + ?Sized>(cin: usize, cout: usize, k: usize, rng: &mut R) -> Self {
        Self::with_config(cin, cout, k, Conv2dCfg::default(), true, Init::He, rng)
    }

    /// Padding on every side.
    pub fn padding(mut self, p: usize) -> Self {
        self.cfg = self.cfg.padding(p);
        self
    }
    /// Stride in both directions.
    pub fn stride(mut self, s: usize) -> Self {
        self.cfg = self.cfg.stride(s);
        self
    }
    /// Dilation in both directions.
    pub fn dilation(mut self, d: usize) -> Self {
        self.cfg = self.cfg.dilation(d);
        self
    }
    /// With a (zero) bias or without one.
    pub fn bias(mut self, on: bool) -> Self {
        let cout = self.weight.shape()[0];
        self.bias = on.then(|| Tensor::zeros(&[cout]));
        self
    }
    /// Weights drawn again from `init` (bias, if any, zero).
    pub fn init<R: Rng + ?Sized>(mut self, init: Init, rng: &mut R) -> Self {
        self.weight = init.tensor(self.weight.shape(), Dist::Normal, rng);
        self
    }

    /// Everything at once: a `k x k` convolution with `cfg`, a bias or
    /// not, weights from `init`; bias (if any) zero.
    pub fn with_config<R: Rng + ?Sized>(
        cin: usize,
        cout: usize,
        k: usize,
        cfg: Conv2dCfg,
        bias: bool,
        init: Init,
        rng: &mut R,
    ) -> Self {
        Conv2d {
            weight: init.tensor(&[cout, cin, k, k], Dist::Normal, rng),
            bias: bias.then(|| Tensor::zeros(&[cout])),
            cfg,
            groups: 1,
        }
    }

    /// Splits the channels into `groups` groups, each convolved with its
    /// own filters (PyTorch's `groups`; `groups == in` is depthwise): the
    /// weight becomes `[out, in / groups, kh, kw]`, drawn again from `init`
    /// (fan-in `in / groups * kh * kw`). Errors unless `groups` divides
    /// both channel counts.
    ///
    /// ```
    /// use nn::{Conv2d, Init};
    /// use rand::SeedableRng;
    /// let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    /// let depthwise = Conv2d::<f32>::new(32, 32, 3, &mut rng).padding(1).groups(32, Init::He, &mut rng)?;
    /// assert_eq!(depthwise.weight.shape(), &[32, 1, 3, 3]);
    /// assert!(Conv2d::<f32>::new(32, 32, 3, &mut rng).groups(5, Init::He, &mut rng).is_err());
    /// # Ok::<(), autograd::Error>(())
    /// ```
    #[track_caller]
    pub fn groups<R: Rng + ?Sized>(
        mut self,
        groups: usize,
        init: Init,
        rng: &mut R,
    ) -> Result<Self> {
        let s = self.weight.shape().to_vec();
        let (cout, cin) = (s[0], s[1] * self.groups);
        if groups == 0 || cin % groups != 0 || cout % groups != 0 {
            return Err(autograd::Error::invalid(
                "conv2d",
                format!("groups {groups} must divide both {cin} input and {cout} output channels"),
            ));
        }
        self.weight = init.tensor(&[cout, cin / groups, s[2], s[3]], Dist::Normal, rng);
        self.groups = groups;
        Ok(self)
    }

    /// `x: [N, in, H, W]` to `[N, out, Ho, Wo]`.
    #[track_caller]
    pub fn forward<'t>(&self, tape: &'t Tape<T>, x: Var<'t, T>) -> Result<Var<'t, T>> {
        let w = tape.param(&self.weight);
        let b = self.bias.as_ref().map(|b| tape.param(b));
        if self.groups == 1 {
            ops::conv2d(x, w, b, self.cfg)
        } else {
            crate::functional::conv2d_grouped(x, w, b, self.cfg, self.groups)
        }
    }
}

impl<T: Element> fmt::Display for Conv2d<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.weight.shape();
        let c = &self.cfg;
        write!(
            f,
            "nn.SpatialConvolution({} -> {}, {}x{}, {},{}, {},{}, dilation {},{}{})",
            s[1],
            s[0],
            s[3],
            s[2],
            c.stride[1],
            c.stride[0],
            c.padding[1],
            c.padding[0],
            c.dilation[1],
            c.dilation[0],
            if self.bias.is_some() { "" } else { ", no bias" }
        )
    }
}

impl<T: Element> Module<T> for Conv2d<T> {
    fn visit(&self, prefix: &str, f: &mut dyn FnMut(&str, &Tensor<T>)) {
        visit_weight_bias(prefix, &self.weight, self.bias.as_ref(), f)
    }
    fn visit_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Tensor<T>)) {
        visit_weight_bias_mut(prefix, &mut self.weight, self.bias.as_mut(), f)
    }
    fn visit_buffers(&self, _: &str, _: &mut dyn FnMut(&str, &Tensor<T>)) {}
    fn visit_buffers_mut(&mut self, _: &str, _: &mut dyn FnMut(&str, &mut Tensor<T>)) {}
}

/// Batch normalisation over channels (1-d `[N, C]`/`[N, C, L]` or 2-d
/// `[N, C, H, W]`), with gamma = 1, beta = 0 and PyTorch's running statistics.
///
/// ```
/// use autograd::{Tape, Tensor};
/// use nn::{BatchNorm, Mode};
/// let bn = BatchNorm::<f32>::new(2);
/// assert_eq!(bn.to_string(), "nn.BatchNormalization(2, momentum 0.1, eps 1e-5)");
/// let tape = Tape::new();
/// let x = tape.constant(Tensor::from_vec(vec![1.0, 2.0, 3.0, 6.0], &[2, 2])?);
/// let y = bn.forward(&tape, x, Mode::Train)?;
/// assert_eq!(bn.stats().num_batches_tracked, 1);
/// # Ok::<(), autograd::Error>(())
/// ```
#[derive(Debug)]
pub struct BatchNorm<T: Element> {
    /// Scale, `[C]`.
    pub gamma: Tensor<T>,
    /// Shift, `[C]`.
    pub beta: Tensor<T>,
    /// Running statistics and momentum/eps, behind a lock so that `forward`
    /// takes `&self` in both modes (as PyTorch's module call, training mode
    /// updates them).
    stats: Mutex<BatchNormStats<T>>,
}

impl<T: Element> Clone for BatchNorm<T> {
    fn clone(&self) -> Self {
        BatchNorm {
            gamma: self.gamma.clone(),
            beta: self.beta.clone(),
            stats: Mutex::new(self.stats()),
        }
    }
}

impl<T: Element> BatchNorm<T> {
    /// For `c` channels.
    pub fn new(c: usize) -> Self {
        BatchNorm {
            gamma: Tensor::ones(&[c]),
            beta: Tensor::zeros(&[c]),
            stats: Mutex::new(BatchNormStats::new(c)),
        }
    }

    /// The lock's contents; a panic in another thread while it held the
    /// lock cannot leave the statistics half-written (they are replaced
    /// whole), so a poisoned lock is taken as it is.
    fn lock(&self) -> MutexGuard<'_, BatchNormStats<T>> {
        self.stats.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A copy of the running statistics, momentum and eps.
    pub fn stats(&self) -> BatchNormStats<T> {
        self.lock().clone()
    }

    /// The running statistics, momentum and eps, to change them.
    pub fn stats_mut(&mut self) -> &mut BatchNormStats<T> {
        self.stats.get_mut().unwrap_or_else(|e| e.into_inner())
    }

    /// Normalises `x`; in [`Mode::Train`] also updates the running
    /// statistics. Takes `&self` in both modes: a model evaluates, and is
    /// saved, through a shared reference.
    #[track_caller]
    pub fn forward<'t>(&self, tape: &'t Tape<T>, x: Var<'t, T>, mode: Mode) -> Result<Var<'t, T>> {
        let g = tape.param(&self.gamma);
        let b = tape.param(&self.beta);
        ops::batch_norm(x, g, b, &mut self.lock(), mode.is_train())
    }
}

impl<T: Element> fmt::Display for BatchNorm<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "nn.BatchNormalization({}, momentum {}, eps {:e})",
            self.gamma.numel(),
            self.stats().momentum,
            self.stats().eps
        )
    }
}

impl<T: Element> Module<T> for BatchNorm<T> {
    fn visit(&self, prefix: &str, f: &mut dyn FnMut(&str, &Tensor<T>)) {
        f(&join(prefix, "weight"), &self.gamma);
        f(&join(prefix, "bias"), &self.beta);
    }
    fn visit_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Tensor<T>)) {
        f(&join(prefix, "weight"), &mut self.gamma);
        f(&join(prefix, "bias"), &mut self.beta);
    }
    fn visit_buffers(&self, prefix: &str, f: &mut dyn FnMut(&str, &Tensor<T>)) {
        let st = self.lock();
        f(&join(prefix, "running_mean"), &st.running_mean);
        f(&join(prefix, "running_var"), &st.running_var);
    }
    fn visit_buffers_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Tensor<T>)) {
        let st = self.stats_mut();
        f(&join(prefix, "running_mean"), &mut st.running_mean);
        f(&join(prefix, "running_var"), &mut st.running_var);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn linear_layer_rejects_the_wrong_number_of_features_naming_the_caller() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
        let fc = Linear::<f32>::new(4, 3, Init::Xavier, &mut rng);
        let tape = Tape::new();
        let x = tape.constant(Tensor::zeros(&[2, 5]));
        let line = line!() + 1;
        let err = fc.forward(&tape, x).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("linear") && msg.contains("[2, 5]") && msg.contains("4 features"),
            "{msg}"
        );
        // the exact line of the call above: the layer's own code is in this
        // file too, so the file name alone would not tell
        let loc = err.location().expect("location");
        assert_eq!((loc.file(), loc.line()), (file!(), line), "{msg}");
    }
}
