//! Train an MLP or a small ConvNet on Fashion-MNIST and report test accuracy
//! per epoch.
//!
//! `cargo run --release --example fashion_mnist -- [--data DIR] [--model mlp|convnet] [--epochs N] [--batch B] [--lr LR] [--seed S] [--out DIR] [--resume]`
//!
//! Training runs through `train::fit`: a cosine schedule per step, the best
//! model by test accuracy saved to `OUT/fashion_mnist_MODEL_best.safetensors`,
//! and training checkpoints to continue a killed run with `--resume`.
//!
//! DIR defaults to `/usr/share/datasets/fashion-mnist` (`apt-get install
//! dataset-fashion-mnist` puts the gzip'd IDX files there).

mod common;

use std::path::PathBuf;

use autograd::{Result, Tape, Var};
use clap::Parser;
use nn::Classifier as Model;
use nn::{BatchNorm, Conv2d, Init, Linear, Mode};
use ops::{Conv2dCfg, Pool2dCfg, VarOps};
use optim::Sgd;
use rand::SeedableRng;

#[derive(Parser, Debug)]
#[command(about = "Train an MLP or a small ConvNet on Fashion-MNIST")]
struct Args {
    /// Folder with the four *-ubyte(.gz) IDX files
    #[arg(long, default_value = "/usr/share/datasets/fashion-mnist")]
    data: PathBuf,
    /// Which model
    #[arg(long, default_value = "convnet", value_parser = ["mlp", "convnet"])]
    model: String,
    /// Epochs
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
    epochs: u64,
    /// Mini-batch size
    #[arg(long, default_value_t = 128, value_parser = clap::value_parser!(u64).range(1..))]
    batch: u64,
    /// Learning rate
    #[arg(long, default_value_t = 0.05)]
    lr: f64,
    #[command(flatten)]
    run: common::RunArgs,
}

/// Both models are built for Fashion-MNIST's 28 x 28 single-channel images.
const SIDE: usize = 28;

/// 784 -> 256 -> 128 -> 10 with ReLU.
struct Mlp {
    fc1: Linear<f32>,
    fc2: Linear<f32>,
    fc3: Linear<f32>,
}

nn::impl_module!(Mlp: f32 { fc1, fc2, fc3 });

impl Model for Mlp {
    fn forward<'t>(&self, tape: &'t Tape<f32>, x: Var<'t, f32>, _: Mode) -> Result<Var<'t, f32>> {
        let h = self.fc1.forward(tape, nn::flatten(x)?)?.relu()?;
        let h = self.fc2.forward(tape, h)?.relu()?;
        self.fc3.forward(tape, h)
    }
}

/// conv(1->32) BN ReLU pool, conv(32->64) BN ReLU pool, fc 3136->128 ReLU, fc 128->10.
struct ConvNet {
    conv1: Conv2d<f32>,
    bn1: BatchNorm<f32>,
    conv2: Conv2d<f32>,
    bn2: BatchNorm<f32>,
    fc1: Linear<f32>,
    fc2: Linear<f32>,
}

nn::impl_module!(ConvNet: f32 { conv1, bn1, conv2, bn2, fc1, fc2 });

impl Model for ConvNet {
    fn forward<'t>(
        &self,
        tape: &'t Tape<f32>,
        x: Var<'t, f32>,
        mode: Mode,
    ) -> Result<Var<'t, f32>> {
        let pool = Pool2dCfg::new(2);
        let h = self
            .bn1
            .forward(tape, self.conv1.forward(tape, x)?, mode)?
            .relu()?;
        let h = ops::max_pool2d(h, pool)?;
        let h = self
            .bn2
            .forward(tape, self.conv2.forward(tape, h)?, mode)?
            .relu()?;
        let h = ops::max_pool2d(h, pool)?;
        let h = self.fc1.forward(tape, nn::flatten(h)?)?.relu()?;
        self.fc2.forward(tape, h)
    }
}

fn run() -> std::result::Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let dir = args.data.clone();
    let model_name = args.model.clone();
    let (epochs, batch, seed) = (args.epochs as usize, args.batch as usize, args.run.seed);
    common::check_out_dir(&args.run.out)?;
    let run_name = format!("fashion_mnist_{model_name}");
    train::fit::check_start(
        &args.run.out,
        &run_name,
        args.run.resume,
        args.run.overwrite,
    )?;
    if !dir.exists() {
        return Err(format!(
            "Fashion-MNIST not found in {}. Install it with `apt-get install dataset-fashion-mnist` \
             (it goes to /usr/share/datasets/fashion-mnist/) or pass --data DIR with the four *-ubyte.gz files",
            dir.display()
        )
        .into());
    }
    let train = data::load_mnist_like(&dir, "train")?;
    let test = data::load_mnist_like(&dir, "t10k")?;
    for (what, d) in [("training", &train), ("test", &test)] {
        let sh = d.images.shape();
        if sh.len() != 4 || sh[1] != 1 || sh[2] != SIDE || sh[3] != SIDE {
            return Err(format!(
                "{}: the {what} images are {}, but these models need 1 x {SIDE} x {SIDE} images (Fashion-MNIST's)",
                dir.display(),
                autograd::fmt_shape(&sh[1..])
            )
            .into());
        }
    }
    let norm = data::Normalizer::per_channel(&train.images)?;
    let train = data::Dataset {
        images: norm.apply(&train.images)?,
        ..train
    };
    let test = data::Dataset {
        images: norm.apply(&test.images)?,
        ..test
    };
    println!(
        "Fashion-MNIST: {} train, {} test images, per-channel mean {:.2} std {:.2}",
        train.len(),
        test.len(),
        norm.mean.data()[0],
        norm.std.data()[0]
    );
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let threads = rayon::current_num_threads();
    match model_name.as_str() {
        "mlp" => {
            let mut m = Mlp {
                fc1: Linear::new(784, 256, Init::He, &mut rng),
                fc2: Linear::new(256, 128, Init::He, &mut rng),
                fc3: Linear::new(128, 10, Init::Xavier, &mut rng),
            };
            let lr = args.lr;
            fit(
                &mut m,
                Sgd::new(lr).momentum(0.9).weight_decay(5e-4),
                &train,
                &test,
                &args.run,
                epochs,
                batch,
                threads,
                "mlp",
            )
        }
        "convnet" => {
            let cfg = Conv2dCfg::default().padding(1);
            let mut m = ConvNet {
                conv1: Conv2d::with_config(1, 32, 3, cfg, false, Init::He, &mut rng),
                bn1: BatchNorm::new(32),
                conv2: Conv2d::with_config(32, 64, 3, cfg, false, Init::He, &mut rng),
                bn2: BatchNorm::new(64),
                fc1: Linear::new(64 * 7 * 7, 128, Init::He, &mut rng),
                fc2: Linear::new(128, 10, Init::Xavier, &mut rng),
            };
            let lr = args.lr;
            fit(
                &mut m,
                Sgd::new(lr).momentum(0.9).weight_decay(5e-4),
                &train,
                &test,
                &args.run,
                epochs,
                batch,
                threads,
                "convnet",
            )
        }
        other => unreachable!("clap accepts only mlp or convnet, got {other}"),
    }
}

#[allow(clippy::too_many_arguments)]
fn fit<M: Model>(
    m: &mut M,
    mut sgd: Sgd<f32>,
    train: &data::Dataset,
    test: &data::Dataset,
    run: &common::RunArgs,
    epochs: usize,
    batch: usize,
    threads: usize,
    name: &str,
) -> std::result::Result<(), Box<dyn std::error::Error>> {
    println!("model {name}: {} parameters, SGD lr {} momentum {} weight decay {}, batch {batch}, {threads} threads", m.num_params(), sgd.lr, sgd.momentum, sgd.weight_decay);
    let sched = optim::Cosine {
        base: sgd.lr,
        t_max: epochs * train.len().div_ceil(batch),
        eta_min: 0.0,
    };
    let run_name = format!("fashion_mnist_{name}");
    let cfg = train::FitConfig {
        seed: run.seed,
        schedule: Some(&sched),
        save_every: run.save_every as usize,
        resume: run.resume,
        overwrite: run.overwrite,
        ..train::FitConfig::new(&run_name, &run.out, epochs, batch)
    };
    let mut cb = common::progress::FitCallbacks::new(epochs, run.abort_after_steps, |e| {
        println!("{}", common::progress::epoch_line(e, "test"));
    });
    let h = train::fit(m, &mut sgd, train, test, &cfg, &mut cb)?;
    if h.diverged {
        println!("training diverged: stopped; lower --lr");
    }
    Ok(())
}

fn main() {
    common::main_with(run)
}
