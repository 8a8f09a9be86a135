//! Small models and data shared by the integration tests.
#![allow(dead_code)]

use autograd::{Result, Tape, Tensor, Var};
use data::Dataset;
use nn::{BatchNorm, Classifier, Conv2d, Init, Linear, Mode, Module};
use ops::{Conv2dCfg, Pool2dCfg, VarOps};
use rand::{Rng, SeedableRng};

/// conv(3 -> 8, 3x3, pad 1) + BN + ReLU + maxpool 2 + linear -> 10, for 16x16 inputs.
pub struct TinyConv {
    pub conv: Conv2d<f32>,
    pub bn: BatchNorm<f32>,
    pub fc: Linear<f32>,
}

impl TinyConv {
    pub fn new(seed: u64) -> Self {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        TinyConv {
            conv: Conv2d::with_config(
                3,
                8,
                3,
                Conv2dCfg::default().padding(1),
                true,
                Init::He,
                &mut rng,
            ),
            bn: BatchNorm::new(8),
            fc: Linear::new(8 * 8 * 8, 10, Init::Xavier, &mut rng),
        }
    }
}

nn::impl_module!(TinyConv: f32 { conv, bn, fc });

impl Classifier for TinyConv {
    fn forward<'t>(
        &self,
        tape: &'t Tape<f32>,
        x: Var<'t, f32>,
        mode: Mode,
    ) -> Result<Var<'t, f32>> {
        let h = self
            .bn
            .forward(tape, self.conv.forward(tape, x)?, mode)?
            .relu()?;
        let h = ops::max_pool2d(h, Pool2dCfg::new(2))?;
        self.fc.forward(tape, nn::flatten(h)?)
    }
}

/// `n` random images [3, hw, hw] with random labels in 10 classes.
pub fn images(n: usize, hw: usize, seed: u64) -> Dataset {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let x = Tensor::randn(&[n, 3, hw, hw], 0.0, 1.0, &mut rng);
    let labels = (0..n).map(|_| rng.random_range(0..10)).collect();
    Dataset::new(x, labels, 10).unwrap()
}

/// Every parameter and buffer, by name, as raw bits.
pub fn snapshot<M: Module<f32>>(m: &mut M) -> Vec<(String, Vec<u32>)> {
    nn::checkpoint::named_tensors(m)
        .into_iter()
        .map(|(n, t)| (n, t.data().iter().map(|v| v.to_bits()).collect()))
        .collect()
}
