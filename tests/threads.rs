//! The same seed gives bit-identical losses and weights with 1 thread and
//! with 2 threads (every reduction is split in a fixed way).

mod common;

/// These runs go through the caching allocator, as the examples do: a
/// block handed out again holds the values it was freed with, so an output
/// that some kernel failed to write would show here as a difference.
#[global_allocator]
static GLOBAL: autograd::alloc::CachingAlloc<std::alloc::System> =
    autograd::alloc::CachingAlloc::new(std::alloc::System);

use common::{images, snapshot, TinyConv};
use nn::Module;
use optim::Sgd;
use rand::SeedableRng;
use train::models::ConvNet;
use train::step::{train_epoch, EpochConfig};

fn run<M: nn::Classifier + Module<f32> + Send>(
    threads: usize,
    make: impl Fn() -> M + Send + Sync,
    hw: usize,
    n: usize,
) -> (Vec<u64>, Vec<(String, Vec<u32>)>) {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    pool.install(|| {
        let train = images(n, hw, 3);
        let mut m = make();
        let mut sgd = Sgd::new(0.05).momentum(0.9).weight_decay(5e-4);
        let mut losses = Vec::new();
        let cfg = EpochConfig::new(16, 11, 0).augment(Some(data::Augment {
            crop_padding: 2,
            hflip: true,
        }));
        train_epoch(&mut m, &mut sgd, &train, &cfg, |i| {
            losses.push(i.loss.to_bits())
        })
        .unwrap();
        (losses, snapshot(&mut m))
    })
}

#[test]
fn tiny_convnet_is_identical_with_1_and_2_threads() {
    let a = run(1, || TinyConv::new(0), 16, 48);
    let b = run(2, || TinyConv::new(0), 16, 48);
    assert_eq!(a.0.len(), 3);
    assert_eq!(a, b);
}

#[test]
fn reference_convnet_step_is_identical_with_1_and_2_threads() {
    let make = || ConvNet::new(&mut rand_chacha::ChaCha8Rng::seed_from_u64(0));
    let a = run(1, make, 32, 16);
    let b = run(2, make, 32, 16);
    assert_eq!(a.0.len(), 1);
    assert_eq!(a, b);
    // the second run's large tensors were blocks of the first
    assert!(GLOBAL.hits() > 0);
}
