//! Data shared by the train crate's tests.
#![allow(dead_code)]

use autograd::Tensor;
use data::Dataset;
use rand::{Rng, SeedableRng};

/// `n` images of shape [3, 4, 4] in 10 classes: a random prototype per class
/// plus noise, so a linear model can learn it.
pub fn synthetic(n: usize, seed: u64) -> Dataset {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1234);
    let protos = Tensor::<f32>::randn(&[10, 48], 0.0, 1.0, &mut rng);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut pix = Vec::with_capacity(n * 48);
    let mut labels = Vec::with_capacity(n);
    for _ in 0..n {
        let c = rng.random_range(0..10);
        labels.push(c);
        for j in 0..48 {
            let noise: f32 = rng.random_range(-1.0..1.0);
            pix.push(protos.data()[c * 48 + j] + 0.8 * noise);
        }
    }
    Dataset::new(Tensor::from_vec(pix, &[n, 3, 4, 4]).unwrap(), labels, 10).unwrap()
}

/// The two-layer net (48 -> 16 -> 10, He init) of the training tests.
pub fn two_layer(seed: u64) -> train::models::TwoLayer {
    train::models::TwoLayer::new(
        48,
        16,
        10,
        nn::Init::He,
        &mut rand_chacha::ChaCha8Rng::seed_from_u64(seed),
    )
}
