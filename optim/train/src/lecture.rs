//! The lecture's weight-initialisation experiment as a library function.
//!
//! "E.g. 10-layer net with 500 neurons on each layer, using tanh
//! non-linearities": an input of 1000 x 500 standard normal values goes
//! through `depth` layers `h = act(h W^T + b)` of `width` units, `W` drawn
//! from the scheme and `b = 0`. (The slide's Torch code also draws `b`, but
//! the numbers it prints, std down to 1e-6 for small init, are those of a
//! bias-free net, as in cs231n's Python version: a random bias of std 0.01
//! would hold tanh + small at std 0.01.) For each
//! layer we record the activations' mean and (unbiased) std, and, after a
//! unit gradient flows back from the top (`L = sum(h_depth)`), the norm of
//! dL/dW: "what do the gradients look like?".

use autograd::{Result, Tape, Tensor};
use ops::VarOps;
use rand::SeedableRng;

use nn::{Init, Linear};

/// The non-linearity between layers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Act {
    /// tanh
    Tanh,
    /// max(0, x)
    Relu,
}

impl Act {
    /// `tanh` or `relu`.
    pub fn name(&self) -> &'static str {
        match self {
            Act::Tanh => "tanh",
            Act::Relu => "relu",
        }
    }
    /// Parses `tanh` / `relu`.
    pub fn from_name(s: &str) -> Option<Act> {
        match s {
            "tanh" => Some(Act::Tanh),
            "relu" => Some(Act::Relu),
            _ => None,
        }
    }
}

/// One layer's statistics.
#[derive(Clone, Debug)]
pub struct LayerStats {
    /// 1-based layer number.
    pub layer: usize,
    /// Mean of the layer's activations.
    pub mean: f64,
    /// Unbiased std of the activations (Torch's `std`).
    pub std: f64,
    /// ||dL/dW|| for a unit gradient from the top.
    pub weight_grad_norm: f64,
    /// The activations (`[batch, width]`), for histograms.
    pub activations: Tensor<f32>,
}

/// Shape of the experiment (the lecture's: depth 10, width 500, batch 1000).
#[derive(Clone, Copy, Debug)]
pub struct InitExperiment {
    /// Hidden layers.
    pub depth: usize,
    /// Units per layer (and input features).
    pub width: usize,
    /// Examples.
    pub batch: usize,
    /// RNG seed for the input and the weights.
    pub seed: u64,
}

impl Default for InitExperiment {
    fn default() -> Self {
        InitExperiment {
            depth: 10,
            width: 500,
            batch: 1000,
            seed: 0,
        }
    }
}

impl InitExperiment {
    /// Runs it; returns the input's (mean, std) and the per-layer statistics.
    ///
    /// ```
    /// use train::lecture::{Act, InitExperiment};
    /// let exp = InitExperiment { depth: 3, width: 50, batch: 100, seed: 1 };
    /// let (_, layers) = exp.run(Act::Tanh, nn::Init::Unit)?;
    /// assert!(layers.iter().all(|l| l.std > 0.9)); // saturated
    /// # Ok::<(), autograd::Error>(())
    /// ```
    pub fn run(&self, act: Act, init: Init) -> Result<((f64, f64), Vec<LayerStats>)> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(self.seed);
        let x = Tensor::<f32>::randn(&[self.batch, self.width], 0.0, 1.0, &mut rng);
        let layers: Vec<Linear<f32>> = (0..self.depth)
            .map(|_| Linear::new(self.width, self.width, init, &mut rng))
            .collect();
        let tape = Tape::new();
        let mut h = tape.constant(x.clone());
        let mut acts = Vec::with_capacity(self.depth);
        for l in &layers {
            let z = l.forward(&tape, h)?;
            h = match act {
                Act::Tanh => z.tanh()?,
                Act::Relu => z.relu()?,
            };
            acts.push(h.value());
        }
        let grads = tape.backward(h.sum_all()?)?;
        let stats = acts
            .into_iter()
            .zip(&layers)
            .enumerate()
            .map(|(i, (a, l))| LayerStats {
                layer: i + 1,
                mean: a.mean_all(),
                std: a.std_all(true),
                weight_grad_norm: grads.of(&l.weight).map(|g| g.norm()).unwrap_or(0.0),
                activations: a,
            })
            .collect();
        Ok(((x.mean_all(), x.std_all(true)), stats))
    }
}
