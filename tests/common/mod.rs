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

/// A CIFAR-10 folder of `per_file` random records in each of the five
/// batch files.
pub fn synthetic_cifar(dir: &std::path::Path, per_file: usize) {
    std::fs::create_dir_all(dir).unwrap();
    let mut state = 12345u64;
    for f in 1..=5 {
        let mut bytes = Vec::with_capacity(per_file * 3073);
        for i in 0..per_file {
            bytes.push(((i + f) % 10) as u8);
            for _ in 0..3072 {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                bytes.push((state >> 56) as u8);
            }
        }
        std::fs::write(dir.join(format!("data_batch_{f}.bin")), bytes).unwrap();
    }
}
