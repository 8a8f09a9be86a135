//! Train the lecture's CIFAR-10 models and report validation (and test) accuracy.
//!
//! `cargo run --release --example cifar10 -- --model linear|twolayer|convnet [--data DIR] [--test PATH] [--epochs N]
//!  [--batch B] [--lr LR] [--reg L2] [--momentum M] [--seed S] [--train-all] [--limit N] [--out DIR]`
//!
//! Trains on data_batch_1..4 and validates on data_batch_5 (with
//! `--train-all`, trains on 1..5 and reports only the test file). Keeps the
//! best model by validation accuracy in `OUT/cifar10_MODEL_best.safetensors`,
//! loads it back and evaluates it again. Draws the loss curve, accuracy
//! curves, update/weight ratios per layer and the first-layer filters.

mod common;

use std::path::PathBuf;

use common::cifar::{self, Norm};
use common::progress::Progress;
use data::Augment;
use nn::models::{ConvNet, LinearSoftmax, TwoLayer};
use nn::{Classifier, Init};
use optim::train::{evaluate, train_epoch_from};
use optim::{LrSchedule, Sgd};
use rand::SeedableRng;

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
    let model_name = common::arg("--model").unwrap_or_else(|| "convnet".into());
    if !["linear", "twolayer", "convnet"].contains(&model_name.as_str()) {
        return Err(format!("--model {model_name}: expected linear, twolayer or convnet").into());
    }
    let r = recipe(&model_name);
    let epochs: usize = common::arg_or("--epochs", r.epochs);
    let batch: usize = common::arg_or("--batch", r.batch);
    let lr: f64 = common::arg_or("--lr", r.lr);
    let reg: f64 = common::arg_or("--reg", r.reg);
    let momentum: f64 = common::arg_or("--momentum", r.momentum);
    let seed: u64 = common::arg_or("--seed", 0);
    let limit: Option<usize> = common::arg("--limit").map(|v| v.parse()).transpose()?;
    let out = PathBuf::from(common::arg("--out").unwrap_or_else(|| "out".into()));
    let test_path = common::arg("--test").map(PathBuf::from);
    let train_all = common::flag("--train-all");
    if train_all && test_path.is_none() {
        return Err(
            "--train-all trains on batch 5 too, so it needs --test PATH to report accuracy".into(),
        );
    }
    let dir = cifar::data_dir();
    let t0 = std::time::Instant::now();
    let s = cifar::load(&dir, test_path.as_deref(), train_all, limit, r.norm)?;
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
    let mut model = make(&model_name, seed);
    let mut sgd = Sgd::new(lr)
        .momentum(momentum)
        .weight_decay(reg)
        .nesterov(r.nesterov && momentum > 0.0);
    println!(
        "model {model_name}: {} parameters; SGD lr {lr} momentum {momentum}{} weight decay {reg}; batch {batch}; {} epochs; augmentation {}; {} threads",
        model.num_params(),
        if sgd.nesterov { " (Nesterov)" } else { "" },
        epochs,
        if r.augment.is_some() { "crop 4 + flip" } else { "none" },
        rayon::current_num_threads()
    );
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
    let best_path = out.join(format!("cifar10_{model_name}_best.safetensors"));
    let (mut train_acc, mut val_acc) = (Vec::new(), Vec::new());
    let mut curves = common::curves::Curves::default();
    let mut best = (-1.0f64, 0usize);
    for epoch in 0..epochs {
        let t = std::time::Instant::now();
        let bar = Progress::new(steps_per_epoch as u64, &format!("epoch {}", epoch + 1));
        let tr = {
            let sched = &sched;
            let curves = &mut curves;
            // per-step schedule: warm-up, then cosine
            let first = epoch * steps_per_epoch;
            let lr_at = |step: usize| sched.lr(first + step);
            train_epoch_from(
                model.as_mut(),
                &mut sgd,
                &s.train,
                batch,
                seed,
                epoch as u64,
                0,
                usize::MAX,
                r.augment,
                Some(&lr_at),
                |info| {
                    curves.record(&info, 20);
                    bar.step(info.step as u64, || format!("loss {:.4}", info.loss));
                },
            )?
        };
        bar.finish();
        let secs = t.elapsed().as_secs_f64();
        let va = evaluate(model.as_mut(), &s.val, 500)?;
        train_acc.push(((epoch + 1) as f64, tr.acc));
        val_acc.push(((epoch + 1) as f64, va.acc));
        let mark = if va.acc > best.0 {
            best = (va.acc, epoch + 1);
            let meta = [
                ("model".to_string(), model_name.clone()),
                ("epoch".to_string(), (epoch + 1).to_string()),
                ("val_acc".to_string(), va.acc.to_string()),
            ];
            nn::checkpoint::save_model(&best_path, model.as_mut(), meta.into())?;
            " (best, saved)"
        } else {
            ""
        };
        println!(
            "epoch {:>2} lr {:.2e} train loss {:.4} acc {:.2}% | val loss {:.4} acc {:.2}% | {:.1} s/epoch{mark}",
            epoch + 1,
            sgd.lr,
            tr.loss,
            100.0 * tr.acc,
            va.loss,
            100.0 * va.acc,
            secs
        );
        if !tr.loss.is_finite() {
            println!("training diverged (loss {}): stopping; lower --lr", tr.loss);
            break;
        }
    }
    // update/weight ratio health: the median over the run (the cosine
    // schedule drives the last steps' ratio towards 0 on purpose)
    for (name, v) in &curves.ratios {
        let mut r: Vec<f64> = v.iter().map(|p| p.1).filter(|x| x.is_finite()).collect();
        if r.is_empty() {
            continue;
        }
        r.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let med = r[r.len() / 2];
        let note = optim::babysit::update_ratio_note(med)
            .map(|n| format!("  <- {n}"))
            .unwrap_or_default();
        println!("update/weight ratio {name}: median {med:.2e} over the run{note}");
    }
    // reload the best model and evaluate it again
    let mut reloaded = make(&model_name, seed + 1);
    nn::checkpoint::load_model(&best_path, reloaded.as_mut())?;
    let va = evaluate(reloaded.as_mut(), &s.val, 500)?;
    println!(
        "best model: epoch {} saved to {}; reloaded: validation accuracy {:.2}%",
        best.1,
        best_path.display(),
        100.0 * va.acc
    );
    if let Some(test) = &s.test {
        let te = evaluate(reloaded.as_mut(), test, 500)?;
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
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
