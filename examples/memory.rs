//! Memory stays flat over a long training loop: the tape frees its saved
//! tensors after backward and nothing accumulates across steps.
//!
//! `cargo run --release --example memory -- [--steps N]` prints the peak
//! resident set size (VmHWM, Linux) after 100 steps and after N (default
//! 2000) steps of a two-layer net on synthetic 32x32 images.

mod common;

use autograd::Tensor;
use data::Dataset;
use optim::Sgd;
use rand::{Rng, SeedableRng};
use train::models::TwoLayer;
use train::step::train_step;

fn peak_rss_kib() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    s.lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

#[derive(clap::Parser, Debug)]
#[command(about = "Peak RSS after 100 steps and after --steps steps of training (flat)")]
struct Args {
    /// Training steps
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u64).range(1..))]
    steps: u64,
}

fn main() {
    let steps = <Args as clap::Parser>::parse().steps as usize;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    let n = 512;
    let set = Dataset::new(
        Tensor::randn(&[n, 3, 32, 32], 0.0, 1.0, &mut rng),
        (0..n).map(|_| rng.random_range(0..10)).collect(),
        10,
    )
    .unwrap();
    let mut model = TwoLayer::new(3072, 256, 10, nn::Init::He, &mut rng);
    let mut sgd = Sgd::new(0.01).momentum(0.9).weight_decay(5e-4);
    let t0 = std::time::Instant::now();
    for step in 0..steps {
        let i = (step * 64) % n;
        let b = set.slice(i, i + 64).unwrap();
        train_step(&mut model, &mut sgd, &b.images, &b.labels).unwrap();
        if step + 1 == 100 || step + 1 == steps {
            println!(
                "after {:>5} steps: peak RSS {} KiB ({:.1} s)",
                step + 1,
                peak_rss_kib().map(|v| v.to_string()).unwrap_or("?".into()),
                t0.elapsed().as_secs_f64()
            );
        }
    }
}
