//! `Sequential` and the parameter-free layers that go in it (`ReLU`,
//! `LeakyReLU`, `ELU`, `GELU`, `Softplus`, `Tanh`, `Sigmoid`, `Flatten`,
//! `MaxPool2d`), as PyTorch's `nn.Sequential`.

use autograd::{Element, Result, Tape, Tensor, Var};
use ops::{Pool2dCfg, VarOps};

use crate::{BatchNorm, Classifier, Conv2d, Linear, Mode, Module};

/// A layer: one variable in, one out. What [`Sequential`] holds;
/// implemented by every layer of this crate.
pub trait Layer<T: Element>: Module<T> + Send + Sync {
    /// The output for `x`; `mode` selects batch-norm statistics.
    fn forward<'t>(&self, tape: &'t Tape<T>, x: Var<'t, T>, mode: Mode) -> Result<Var<'t, T>>;
}

impl<T: Element> Layer<T> for Linear<T> {
    #[track_caller]
    fn forward<'t>(&self, tape: &'t Tape<T>, x: Var<'t, T>, _: Mode) -> Result<Var<'t, T>> {
        Linear::forward(self, tape, x)
    }
}

impl<T: Element> Layer<T> for Conv2d<T> {
    #[track_caller]
    fn forward<'t>(&self, tape: &'t Tape<T>, x: Var<'t, T>, _: Mode) -> Result<Var<'t, T>> {
        Conv2d::forward(self, tape, x)
    }
}

impl<T: Element> Layer<T> for BatchNorm<T> {
    #[track_caller]
    fn forward<'t>(&self, tape: &'t Tape<T>, x: Var<'t, T>, mode: Mode) -> Result<Var<'t, T>> {
        BatchNorm::forward(self, tape, x, mode)
    }
}

/// Implements [`Module`] (nothing to visit) and [`Layer`] (`$f(x)`) for a
/// parameter-free layer.
macro_rules! stateless_layer {
    ($(#[$doc:meta])* $name:ident, |$s:ident, $x:ident| $body:expr) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, Default, PartialEq)]
        pub struct $name;
        stateless_layer!(@impls $name, |$s, $x| $body);
    };
    (@impls $name:ident, |$s:ident, $x:ident| $body:expr) => {
        impl<T: Element> Module<T> for $name {
            fn visit(&self, _: &str, _: &mut dyn FnMut(&str, &Tensor<T>)) {}
            fn visit_mut(&mut self, _: &str, _: &mut dyn FnMut(&str, &mut Tensor<T>)) {}
            fn visit_buffers(&self, _: &str, _: &mut dyn FnMut(&str, &Tensor<T>)) {}
            fn visit_buffers_mut(&mut self, _: &str, _: &mut dyn FnMut(&str, &mut Tensor<T>)) {}
        }
        impl<T: Element> Layer<T> for $name {
            #[track_caller]
            fn forward<'t>(&self, _: &'t Tape<T>, $x: Var<'t, T>, _: Mode) -> Result<Var<'t, T>> {
                let $s = self;
                $body
            }
        }
    };
}

stateless_layer!(
    /// `max(x, 0)` (`nn.ReLU`).
    ReLU,
    |_s, x| x.relu()
);
stateless_layer!(
    /// `tanh(x)` (`nn.Tanh`).
    Tanh,
    |_s, x| x.tanh()
);
stateless_layer!(
    /// `1 / (1 + e^-x)` (`nn.Sigmoid`).
    Sigmoid,
    |_s, x| x.sigmoid()
);
stateless_layer!(
    /// `[N, ...]` to `[N, prod(...)]` (`nn.Flatten`).
    Flatten,
    |_s, x| crate::flatten(x)
);

stateless_layer!(
    /// `x Phi(x)` with the exact normal CDF (`nn.GELU()`).
    GELU,
    |_s, x| x.gelu()
);
stateless_layer!(
    /// `log(1 + e^x)` (`nn.Softplus()`).
    Softplus,
    |_s, x| x.softplus()
);

/// `x` where positive, `slope * x` elsewhere (`nn.LeakyReLU(negative_slope)`;
/// PyTorch's default slope is 0.01).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LeakyReLU(pub f64);
stateless_layer!(@impls LeakyReLU, |s, x| x.leaky_relu(s.0));

/// `x` where positive, `alpha (e^x - 1)` elsewhere (`nn.ELU(alpha)`;
/// PyTorch's default alpha is 1).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ELU(pub f64);
stateless_layer!(@impls ELU, |s, x| x.elu(s.0));

/// Average pooling to a fixed output size (`nn.AdaptiveAvgPool2d((oh, ow))`);
/// `AdaptiveAvgPool2d((1, 1))` is global average pooling.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdaptiveAvgPool2d(pub (usize, usize));
stateless_layer!(@impls AdaptiveAvgPool2d, |s, x| ops::adaptive_avg_pool2d(x, s.0));

/// Max pooling with a fixed configuration (`nn.MaxPool2d`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MaxPool2d(pub Pool2dCfg);
stateless_layer!(@impls MaxPool2d, |s, x| ops::max_pool2d(x, s.0));

impl MaxPool2d {
    /// `nn.MaxPool2d(k)`: a k x k window, stride k, no padding; other
    /// settings through `MaxPool2d(Pool2dCfg { .. })`.
    ///
    /// ```
    /// assert_eq!(nn::MaxPool2d::new(2).0, ops::Pool2dCfg::new(2));
    /// ```
    pub fn new(k: usize) -> Self {
        MaxPool2d(Pool2dCfg::new(k))
    }
}

/// `nn.Sequential(a, b, c)`: `sequential![a, b, c]` is
/// `Sequential::new().push(a).push(b).push(c)`.
///
/// ```
/// use nn::{sequential, Init, Linear, MaxPool2d, Module, ReLU, Sequential};
/// use rand::SeedableRng;
/// let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
/// let model: Sequential<f32> =
///     sequential![Linear::new(2, 8, Init::He, &mut rng), ReLU, Linear::new(8, 3, Init::He, &mut rng)];
/// assert_eq!(model.len(), 3);
/// assert_eq!(model.param_names()[2].0, "2.weight");
/// let empty: Sequential<f32> = sequential![];
/// assert!(empty.is_empty());
/// ```
#[macro_export]
macro_rules! sequential {
    ($($layer:expr),* $(,)?) => {
        $crate::Sequential::new()$(.push($layer))*
    };
}

/// Layers applied one after another (`nn.Sequential`). Parameters are
/// named by position, as PyTorch's: `0.weight`, `0.bias`, `2.weight`, ...
/// It is a [`Module`], a [`Layer`] (so it nests) and, for `f32`, a
/// [`Classifier`] (so `train::fit` trains it).
///
/// ```
/// use autograd::{Tape, Tensor};
/// use nn::{Init, Linear, Mode, Module, ReLU, Sequential};
/// use rand::SeedableRng;
/// let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
/// let model = Sequential::<f32>::new()
///     .push(Linear::new(2, 100, Init::He, &mut rng))
///     .push(ReLU)
///     .push(Linear::new(100, 3, Init::He, &mut rng));
/// assert_eq!(model.param_names()[2].0, "2.weight");
/// let tape = Tape::new();
/// let y = model.forward(&tape, tape.constant(Tensor::ones(&[5, 2])), Mode::Train)?;
/// assert_eq!(y.shape().as_slice(), &[5, 3]);
/// # Ok::<(), autograd::Error>(())
/// ```
#[derive(Default)]
pub struct Sequential<T: Element> {
    layers: Vec<Box<dyn Layer<T>>>,
}

impl<T: Element> Sequential<T> {
    /// No layers yet (the identity).
    pub fn new() -> Self {
        Sequential { layers: Vec::new() }
    }
    /// Appends a layer.
    pub fn push(mut self, layer: impl Layer<T> + 'static) -> Self {
        self.layers.push(Box::new(layer));
        self
    }
    /// The number of layers.
    pub fn len(&self) -> usize {
        self.layers.len()
    }
    /// Whether there are no layers.
    pub fn is_empty(&self) -> bool {
        self.layers.is_empty()
    }
    /// The layers' outputs in turn.
    #[track_caller]
    pub fn forward<'t>(&self, tape: &'t Tape<T>, x: Var<'t, T>, mode: Mode) -> Result<Var<'t, T>> {
        self.layers
            .iter()
            .try_fold(x, |h, l| l.forward(tape, h, mode))
    }
}

impl<T: Element> std::fmt::Debug for Sequential<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sequential({} layers)", self.layers.len())
    }
}

impl<T: Element> Module<T> for Sequential<T> {
    fn visit(&self, prefix: &str, f: &mut dyn FnMut(&str, &Tensor<T>)) {
        for (i, l) in self.layers.iter().enumerate() {
            l.visit(&crate::join(prefix, &i.to_string()), f);
        }
    }
    fn visit_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Tensor<T>)) {
        for (i, l) in self.layers.iter_mut().enumerate() {
            l.visit_mut(&crate::join(prefix, &i.to_string()), f);
        }
    }
    fn visit_buffers(&self, prefix: &str, f: &mut dyn FnMut(&str, &Tensor<T>)) {
        for (i, l) in self.layers.iter().enumerate() {
            l.visit_buffers(&crate::join(prefix, &i.to_string()), f);
        }
    }
    fn visit_buffers_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Tensor<T>)) {
        for (i, l) in self.layers.iter_mut().enumerate() {
            l.visit_buffers_mut(&crate::join(prefix, &i.to_string()), f);
        }
    }
}

impl<T: Element> Layer<T> for Sequential<T> {
    #[track_caller]
    fn forward<'t>(&self, tape: &'t Tape<T>, x: Var<'t, T>, mode: Mode) -> Result<Var<'t, T>> {
        Sequential::forward(self, tape, x, mode)
    }
}

impl Classifier for Sequential<f32> {
    #[track_caller]
    fn forward<'t>(
        &self,
        tape: &'t Tape<f32>,
        x: Var<'t, f32>,
        mode: Mode,
    ) -> Result<Var<'t, f32>> {
        Sequential::forward(self, tape, x, mode)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Init;
    use rand::SeedableRng;

    #[test]
    fn sequential_equals_the_layers_applied_by_hand_and_names_by_position() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let conv = Conv2d::<f64>::with_config(
            1,
            2,
            3,
            ops::Conv2dCfg::default().padding(1),
            true,
            Init::He,
            &mut rng,
        );
        let bn = BatchNorm::<f64>::new(2);
        let fc = Linear::<f64>::new(2 * 2 * 2, 3, Init::He, &mut rng);
        let (c2, b2, f2) = (conv.clone(), bn.clone(), fc.clone());
        let seq = Sequential::new()
            .push(conv)
            .push(bn)
            .push(Tanh)
            .push(MaxPool2d(Pool2dCfg::new(2)))
            .push(Flatten)
            .push(fc)
            .push(Sigmoid)
            .push(ReLU)
            .push(LeakyReLU(0.2))
            .push(ELU(0.5))
            .push(GELU)
            .push(Softplus);
        let names: Vec<String> = seq.param_names().into_iter().map(|p| p.0).collect();
        assert_eq!(
            names,
            ["0.weight", "0.bias", "1.weight", "1.bias", "5.weight", "5.bias"]
        );
        let mut bufs = Vec::new();
        seq.visit_buffers("", &mut |n, _| bufs.push(n.to_string()));
        assert_eq!(bufs, ["1.running_mean", "1.running_var"]);

        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2);
        let x = Tensor::<f64>::randn(&[2, 1, 4, 4], 0.0, 1.0, &mut rng);
        let tape = Tape::new();
        let y = seq
            .forward(&tape, tape.constant(x.clone()), Mode::Train)
            .unwrap();
        let h = c2.forward(&tape, tape.constant(x)).unwrap();
        let h = b2.forward(&tape, h, Mode::Train).unwrap().tanh().unwrap();
        let h = crate::flatten(ops::max_pool2d(h, Pool2dCfg::new(2)).unwrap()).unwrap();
        let by_hand = f2
            .forward(&tape, h)
            .unwrap()
            .sigmoid()
            .unwrap()
            .relu()
            .unwrap();
        let by_hand = by_hand.leaky_relu(0.2).unwrap().elu(0.5).unwrap();
        let by_hand = by_hand.gelu().unwrap().softplus().unwrap();
        assert_eq!(y.value().data(), by_hand.value().data());
        // the batch norm inside updated its running statistics, through &self
        let mut mean = Vec::new();
        seq.visit_buffers("", &mut |n, t| {
            if n == "1.running_mean" {
                mean = t.data().to_vec();
            }
        });
        assert!(mean.iter().any(|&m| m != 0.0), "{mean:?}");
        assert_eq!(seq.len(), 12);
    }
}
