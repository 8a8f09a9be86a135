//! The lecture's CIFAR-10 models as plain structs with a forward function:
//! the linear softmax classifier, a two-layer net, and the reference ConvNet
//! of `shared/bench/README.md`. All implement [`Classifier`].

use autograd::{Result, Tape, Tensor, Var};
use ops::{Conv2dCfg, Pool2dCfg, VarOps};
use rand::Rng;

use nn::{flatten, join, BatchNorm, Classifier, Conv2d, Init, Linear, Mode, Module};

/// The rows of a `[units, 3072]` weight as `[units, 3, 32, 32]` images (a
/// fully connected first layer on CIFAR-10), or `None` for other inputs.
fn rows_as_cifar_images(w: &Tensor<f32>) -> Option<Tensor<f32>> {
    let s = w.shape();
    if s[1] == 3 * 32 * 32 {
        w.reshape([s[0], 3, 32, 32]).ok()
    } else {
        None
    }
}

/// The linear softmax classifier: scores = x W^T + b, x flattened (3072 -> 10).
///
/// ```
/// use rand::SeedableRng;
/// let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
/// let m = train::models::LinearSoftmax::new(3072, 10, &mut rng);
/// assert_eq!(nn::Module::num_params(&m), 30730);
/// ```
pub struct LinearSoftmax {
    /// The only layer.
    pub fc: Linear<f32>,
}

impl LinearSoftmax {
    /// Weights N(0, 0.01^2) (the lecture's small init), bias 0.
    pub fn new<R: Rng + ?Sized>(inputs: usize, classes: usize, rng: &mut R) -> Self {
        LinearSoftmax {
            fc: Linear::new(inputs, classes, Init::Small, rng),
        }
    }
}

nn::impl_module!(LinearSoftmax: f32 { fc });

impl Classifier for LinearSoftmax {
    fn forward<'t>(&self, tape: &'t Tape<f32>, x: Var<'t, f32>, _: Mode) -> Result<Var<'t, f32>> {
        self.fc.forward(tape, flatten(x)?)
    }
    /// The class templates: each row of W as a 3x32x32 image (for CIFAR-10).
    fn first_layer_filters(&self) -> Option<Tensor<f32>> {
        rows_as_cifar_images(&self.fc.weight)
    }
}

/// Two-layer net: x (flattened) -> hidden ReLU -> scores.
pub struct TwoLayer {
    /// Input to hidden.
    pub fc1: Linear<f32>,
    /// Hidden to scores.
    pub fc2: Linear<f32>,
}

impl TwoLayer {
    /// `init` for both layers (the lecture's babysitting starts with `Init::Small`).
    pub fn new<R: Rng + ?Sized>(
        inputs: usize,
        hidden: usize,
        classes: usize,
        init: Init,
        rng: &mut R,
    ) -> Self {
        TwoLayer {
            fc1: Linear::new(inputs, hidden, init, rng),
            fc2: Linear::new(hidden, classes, init, rng),
        }
    }
}

nn::impl_module!(TwoLayer: f32 { fc1, fc2 });

impl Classifier for TwoLayer {
    fn forward<'t>(&self, tape: &'t Tape<f32>, x: Var<'t, f32>, _: Mode) -> Result<Var<'t, f32>> {
        let h = self.fc1.forward(tape, flatten(x)?)?.relu()?;
        self.fc2.forward(tape, h)
    }
    fn first_layer_filters(&self) -> Option<Tensor<f32>> {
        rows_as_cifar_images(&self.fc1.weight)
    }
}

/// The reference ConvNet (`shared/bench/README.md`): every conv 3x3, pad 1,
/// no bias, followed by batch norm and ReLU:
/// conv 3->32, conv 32->32, pool, conv 32->64, conv 64->64, pool,
/// conv 64->128, pool, flatten (128*4*4) -> linear 10.
///
/// ```
/// use autograd::{Tape, Tensor};
/// use rand::SeedableRng;
/// let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
/// let mut net = train::models::ConvNet::new(&mut rng);
/// let tape = Tape::new();
/// let y = nn::Classifier::forward(&mut net, &tape, tape.constant(Tensor::zeros(&[2, 3, 32, 32])), nn::Mode::Train)?;
/// assert_eq!(y.shape().as_slice(), &[2, 10]);
/// # Ok::<(), autograd::Error>(())
/// ```
pub struct ConvNet {
    /// The five conv layers.
    pub convs: Vec<Conv2d<f32>>,
    /// Their batch norms.
    pub bns: Vec<BatchNorm<f32>>,
    /// The classifier.
    pub fc: Linear<f32>,
}

/// After which conv layers (0-based) a 2x2 max pool follows.
const POOL_AFTER: [bool; 5] = [false, true, false, true, true];

impl ConvNet {
    /// He-initialised convs, Xavier-initialised classifier.
    pub fn new<R: Rng + ?Sized>(rng: &mut R) -> Self {
        let chans = [(3, 32), (32, 32), (32, 64), (64, 64), (64, 128)];
        let cfg = Conv2dCfg::default().padding(1);
        ConvNet {
            convs: chans
                .iter()
                .map(|&(i, o)| Conv2d::with_config(i, o, 3, cfg, false, Init::He, rng))
                .collect(),
            bns: chans.iter().map(|&(_, o)| BatchNorm::new(o)).collect(),
            fc: Linear::new(128 * 4 * 4, 10, Init::Xavier, rng),
        }
    }
}

impl Module<f32> for ConvNet {
    fn visit(&self, p: &str, f: &mut dyn FnMut(&str, &Tensor<f32>)) {
        for (i, (c, b)) in self.convs.iter().zip(&self.bns).enumerate() {
            c.visit(&join(p, &format!("conv{}", i + 1)), f);
            b.visit(&join(p, &format!("bn{}", i + 1)), f);
        }
        self.fc.visit(&join(p, "fc"), f);
    }
    fn visit_mut(&mut self, p: &str, f: &mut dyn FnMut(&str, &mut Tensor<f32>)) {
        for (i, (c, b)) in self.convs.iter_mut().zip(&mut self.bns).enumerate() {
            c.visit_mut(&join(p, &format!("conv{}", i + 1)), f);
            b.visit_mut(&join(p, &format!("bn{}", i + 1)), f);
        }
        self.fc.visit_mut(&join(p, "fc"), f);
    }
    fn visit_buffers(&self, p: &str, f: &mut dyn FnMut(&str, &Tensor<f32>)) {
        for (i, b) in self.bns.iter().enumerate() {
            b.visit_buffers(&join(p, &format!("bn{}", i + 1)), f);
        }
    }
    fn visit_buffers_mut(&mut self, p: &str, f: &mut dyn FnMut(&str, &mut Tensor<f32>)) {
        for (i, b) in self.bns.iter_mut().enumerate() {
            b.visit_buffers_mut(&join(p, &format!("bn{}", i + 1)), f);
        }
    }
}

impl Classifier for ConvNet {
    fn forward<'t>(
        &self,
        tape: &'t Tape<f32>,
        x: Var<'t, f32>,
        mode: Mode,
    ) -> Result<Var<'t, f32>> {
        let mut h = x;
        for ((conv, bn), &pool) in self.convs.iter().zip(self.bns.iter()).zip(&POOL_AFTER) {
            h = bn.forward(tape, conv.forward(tape, h)?, mode)?.relu()?;
            if pool {
                h = ops::max_pool2d(h, Pool2dCfg::new(2))?;
            }
        }
        self.fc.forward(tape, flatten(h)?)
    }
    fn first_layer_filters(&self) -> Option<Tensor<f32>> {
        Some(self.convs[0].weight.clone())
    }
}
