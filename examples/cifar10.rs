//! Train the lecture's CIFAR-10 models and report validation (and test) accuracy.
//!
//! `cargo run --release --example cifar10 -- --model linear|twolayer|convnet [--data DIR] [--test PATH] [--epochs N]
//!  [--batch B] [--lr LR] [--reg L2] [--momentum M] [--seed S] [--train-all] [--limit N] [--out DIR]
//!  [--resume | --overwrite] [--save-every STEPS]` (`--help` lists them all)
//!
//! Trains on data_batch_1..4 and validates on data_batch_5 (with
//! `--train-all`, trains on 1..5 and reports only the test file). Keeps the
//! best model by validation accuracy in `OUT/cifar10_MODEL_best.safetensors`,
//! loads it back and evaluates it again. Draws the loss curve, accuracy
//! curves, update/weight ratios per layer and the first-layer filters.
//!
//! A training checkpoint, `OUT/cifar10_MODEL_train.safetensors`, is written
//! every `--save-every` steps and after each epoch; `--resume` continues a
//! killed run from it to the same final weights.
//!
//! `--distributed` (built with `--features distributed`, started by
//! `mpirun -np P`) trains data-parallel: each batch split among the ranks,
//! gradients summed in rank order, rank 0 writing the files.

mod common;

use std::path::PathBuf;

use clap::Parser;

use common::cifar::{self, Norm};
use common::progress::FitCallbacks;
use data::Augment;
use nn::{Classifier, Init};
use optim::{Adagrad, Adam, AdamW, Optimizer, RmsProp, Sgd};
use rand::SeedableRng;
use train::models::{ConvNet, LinearSoftmax, TwoLayer};
use train::step::evaluate;

#[derive(Parser, Debug)]
#[command(
    about = "Train the lecture's CIFAR-10 models (linear softmax, two-layer net, reference ConvNet)"
)]
struct Args {
    /// Which model
    #[arg(long, default_value = "convnet", value_parser = ["linear", "twolayer", "convnet"])]
    model: String,
    /// Optimizer (torch.optim's rules); its learning rate and weight decay
    /// default to values that suit it: sgd the model's recipe (momentum,
    /// Nesterov for the ConvNet), adam/rmsprop lr 1e-3, adamw lr 1e-3 with
    /// decoupled weight decay 5e-2, adagrad lr 1e-2
    #[arg(long, default_value = "sgd", value_parser = ["sgd", "adam", "adamw", "rmsprop", "adagrad"])]
    optim: String,
    /// Folder with data_batch_1.bin .. data_batch_5.bin (default: $CIFAR10_DIR, then the usual places)
    #[arg(long)]
    data: Option<PathBuf>,
    /// A real test_batch.bin to report test accuracy on
    #[arg(long)]
    test: Option<PathBuf>,
    /// Epochs (default: the model's recipe)
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    epochs: Option<u64>,
    /// Mini-batch size (default: the model's recipe)
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    batch: Option<u64>,
    /// Learning rate (default: the model's recipe)
    #[arg(long)]
    lr: Option<f64>,
    /// L2 weight decay (default: the model's recipe)
    #[arg(long)]
    reg: Option<f64>,
    /// Momentum (default: the model's recipe)
    #[arg(long)]
    momentum: Option<f64>,
    /// Train on batches 1-5 (needs --test)
    #[arg(long)]
    train_all: bool,
    /// Keep only the first N training images (and N/4 validation images)
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    limit: Option<u64>,
    #[command(flatten)]
    run: common::RunArgs,
    #[command(flatten)]
    dist: common::dist::DistArgs,
}

struct Recipe {
    batch: usize,
    lr: f64,
    reg: f64,
    momentum: f64,
    nesterov: bool,
    epochs: usize,
    norm: Norm,
    augment: Option<Augment>,
    warmup_epochs: usize,
}

fn recipe(model: &str) -> Recipe {
    match model {
        "linear" => Recipe {
            batch: 200,
            lr: 2e-3,
            reg: 5e-2,
            momentum: 0.9,
            nesterov: false,
            epochs: 10,
            norm: Norm::PerPixel,
            augment: None,
            warmup_epochs: 0,
        },
        "twolayer" => Recipe {
            batch: 200,
            lr: 1e-2,
            reg: 1e-3,
            momentum: 0.9,
            nesterov: false,
            epochs: 20,
            norm: Norm::PerPixel,
            augment: None,
            warmup_epochs: 0,
        },
        _ => Recipe {
            batch: 128,
            lr: 0.05,
            reg: 5e-4,
            momentum: 0.9,
            nesterov: true,
            epochs: 30,
            norm: Norm::PerChannel,
            augment: Some(Augment {
                crop_padding: 4,
                hflip: true,
            }),
            warmup_epochs: 2,
        },
    }
}

fn make(model: &str, seed: u64) -> Box<dyn Classifier> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    match model {
        "linear" => Box::new(LinearSoftmax::new(3072, 10, &mut rng)),
        "twolayer" => Box::new(TwoLayer::new(3072, 500, 10, Init::He, &mut rng)),
        _ => Box::new(ConvNet::new(&mut rng)),
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    // MPI first (under mpirun every rank parses the same command line)
    let world = common::dist::world(&args.dist)?;
    let dp = world.as_deref().map(train::dist::DataParallel::new);
    // rank 0 prints and writes; the other ranks only train
    let lead = dp.as_ref().is_none_or(|d| d.rank() == 0);
    let model_name = args.model.clone();
    let r = recipe(&model_name);
    let epochs = args.epochs.map_or(r.epochs, |v| v as usize);
    let batch = args.batch.map_or(r.batch, |v| v as usize);
    let (lr_default, reg_default) = match args.optim.as_str() {
        "sgd" => (r.lr, r.reg),
        "adamw" => (1e-3, 5e-2),
        "adagrad" => (1e-2, r.reg),
        _ => (1e-3, r.reg),
    };
    let lr = args.lr.unwrap_or(lr_default);
    let reg = args.reg.unwrap_or(reg_default);
    let momentum = args.momentum.unwrap_or(r.momentum);
    let seed = args.run.seed;
    let limit = args.limit.map(|v| v as usize);
    let out = args.run.out.clone();
    let test_path = args.test.clone();
    if args.train_all && test_path.is_none() {
        return Err(
            "--train-all trains on batch 5 too, so it needs --test PATH to report accuracy".into(),
        );
    }
    // every check on the command line and the output folder before any data or training
    common::check_out_dir(&out)?;
    let run_name = format!("cifar10_{model_name}");
    train::fit::check_start(&out, &run_name, args.run.resume, args.run.overwrite)?;
    let dir = cifar::data_dir(args.data.as_deref())?;
    let t0 = std::time::Instant::now();
    let s = cifar::load(&dir, test_path.as_deref(), args.train_all, limit, r.norm)?;
    if lead {
        println!(
            "CIFAR-10 from {}: {} train, {} validation{} images (loaded and normalised in {:.1} s)",
            dir.display(),
            s.train.len(),
            s.val.len(),
            s.test
                .as_ref()
                .map(|t| format!(", {} test", t.len()))
                .unwrap_or_default(),
            t0.elapsed().as_secs_f64()
        );
    }
    let mut model = make(&model_name, seed);
    let nesterov = r.nesterov && momentum > 0.0;
    let (mut opt, opt_desc): (Box<dyn Optimizer<f32>>, String) = match args.optim.as_str() {
        "sgd" => (
            Box::new(
                Sgd::new(lr)
                    .momentum(momentum)
                    .weight_decay(reg)
                    .nesterov(nesterov),
            ),
            format!(
                "SGD lr {lr} momentum {momentum}{} weight decay {reg}",
                if nesterov { " (Nesterov)" } else { "" }
            ),
        ),
        "adam" => (
            Box::new(Adam::new(lr).weight_decay(reg)),
            format!("Adam lr {lr} betas (0.9, 0.999) L2 weight decay {reg}"),
        ),
        "adamw" => (
            Box::new(AdamW::new(lr).weight_decay(reg)),
            format!("AdamW lr {lr} betas (0.9, 0.999) decoupled weight decay {reg}"),
        ),
        "rmsprop" => (
            Box::new(
                RmsProp::new(lr)
                    .weight_decay(reg)
                    .momentum(args.momentum.unwrap_or(0.0)),
            ),
            format!("RMSprop lr {lr} alpha 0.99 weight decay {reg}"),
        ),
        _ => (
            Box::new(Adagrad::new(lr).weight_decay(reg)),
            format!("Adagrad lr {lr} weight decay {reg}"),
        ),
    };
    if lead {
        println!(
            "model {model_name}: {} parameters; {opt_desc}; batch {batch}; {} epochs; augmentation {}; {} threads{}",
            model.num_params(),
            epochs,
            if r.augment.is_some() { "crop 4 + flip" } else { "none" },
            rayon::current_num_threads(),
            match &dp {
                Some(d) => format!(" per rank, {} ranks (data-parallel, MPI)", d.comm().size()),
                None => String::new(),
            }
        );
    }
    let steps_per_epoch = s.train.len().div_ceil(batch);
    let sched = optim::LinearWarmup {
        warmup: r.warmup_epochs * steps_per_epoch,
        start_factor: 0.1,
        inner: optim::Cosine {
            base: lr,
            t_max: (epochs - r.warmup_epochs.min(epochs)) * steps_per_epoch,
            eta_min: 0.0,
        },
    };
    // per-step schedule: warm-up, then cosine
    let cfg = train::FitConfig {
        seed,
        augment: r.augment,
        schedule: Some(&sched),
        save_every: args.run.save_every as usize,
        resume: args.run.resume,
        overwrite: args.run.overwrite,
        ratio_every: 20,
        parallel: dp.as_ref(),
        ..train::FitConfig::new(&run_name, &out, epochs, batch)
    };
    let train_secs = std::cell::Cell::new(0.0);
    let mut cb = FitCallbacks::new(epochs, args.run.abort_after_steps, |e| {
        train_secs.set(train_secs.get() + e.secs);
        println!("{}", common::progress::epoch_line(e, "val"));
    });
    let callbacks: &mut dyn train::Callbacks = if lead { &mut cb } else { &mut () };
    let h = train::fit(
        model.as_mut(),
        opt.as_mut(),
        &s.train,
        &s.val,
        &cfg,
        callbacks,
    )?;
    if !lead {
        return Ok(());
    }
    if let Some(d) = &dp {
        let st = d.reduce_stats();
        if st.steps > 0 {
            let per = |s: f64| 1e3 * s / st.steps as f64;
            let share = |s: f64| 100.0 * s / train_secs.get().max(1e-9);
            println!(
                "data-parallel: {} ranks, {} steps, {:.1} s of training; per step: summing gradients {:.2} ms ({:.1}%), waiting for the slowest rank {:.2} ms ({:.1}%)",
                d.comm().size(),
                st.steps,
                train_secs.get(),
                per(st.sum_secs),
                share(st.sum_secs),
                per(st.wait_secs),
                share(st.wait_secs)
            );
        }
    }
    if h.diverged {
        println!("training diverged: stopped; lower --lr");
    }
    let best = h.best;
    let best_path = h.best_path.clone();
    let (train_acc, val_acc) = (h.train_acc, h.val_acc);
    let curves = h.curves;
    // update/weight ratio health: the median over the run (the cosine
    // schedule drives the last steps' ratio towards 0 on purpose)
    for (name, v) in &curves.ratios {
        let mut r: Vec<f64> = v.iter().map(|p| p.1).filter(|x| x.is_finite()).collect();
        if r.is_empty() {
            continue;
        }
        r.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let med = r[r.len() / 2];
        let note = train::babysit::update_ratio_note(med)
            .map(|n| format!("  <- {n}"))
            .unwrap_or_default();
        println!("update/weight ratio {name}: median {med:.2e} over the run{note}");
    }
    if best.1 == 0 {
        return Err("no epoch finished, so there is no best model to report".into());
    }
    // reload the best model and evaluate it again
    let mut reloaded = make(&model_name, seed + 1);
    nn::checkpoint::load_model(&best_path, reloaded.as_mut())?;
    let va = evaluate(reloaded.as_ref(), &s.val, 500)?;
    println!(
        "best model: epoch {} saved to {}; reloaded: validation accuracy {:.2}%",
        best.1,
        best_path.display(),
        100.0 * va.acc
    );
    if let Some(test) = &s.test {
        let te = evaluate(reloaded.as_ref(), test, 500)?;
        println!(
            "test accuracy ({}): {:.2}%",
            test_path.as_ref().unwrap().display(),
            100.0 * te.acc
        );
    }
    // pictures
    if common::plot::png_ok() {
        let stem = |n: &str| out.join(format!("cifar10_{model_name}_{n}"));
        let smooth = curves.smoothed_loss(20);
        let mut written = vec![
            common::plot::lines(
                &stem("loss"),
                "training loss (mean of 20 steps)",
                "step",
                "loss",
                &[("loss".into(), smooth)],
                false,
            )?,
            common::plot::lines(
                &stem("accuracy"),
                "accuracy",
                "epoch",
                "accuracy",
                &[("train".into(), train_acc), ("validation".into(), val_acc)],
                false,
            )?,
        ];
        if !curves.ratios.is_empty() {
            let series: Vec<(String, Vec<(f64, f64)>)> = curves.ratios.into_iter().collect();
            written.push(common::plot::lines(
                &stem("update_ratio"),
                "update / weight ratio per layer (want ~1e-3)",
                "step",
                "ratio",
                &series,
                true,
            )?);
        }
        if let Some(f) = reloaded.first_layer_filters() {
            let fs = f.shape().to_vec();
            let per = fs[1] * fs[2] * fs[3];
            let imgs: Vec<Vec<f32>> = f.data().chunks(per).take(64).map(|c| c.to_vec()).collect();
            let scale = if fs[2] <= 5 { 12 } else { 3 };
            written.push(common::plot::image_grid(
                &stem("filters"),
                "first-layer filters",
                &imgs,
                fs[1].min(3),
                fs[2],
                fs[3],
                16,
                scale,
            )?);
        }
        for p in written {
            println!("picture: {}", p.display());
        }
    }
    println!("total {:.1} s", t0.elapsed().as_secs_f64());
    Ok(())
}

fn main() {
    common::main_with(run)
}
