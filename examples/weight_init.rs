//! The lecture's weight-initialisation experiment.
//!
//! `cargo run --release --example weight_init -- --act tanh|relu --init small|unit|xavier|glorot|he|lecun|elab-kaiming [--seed N] [--out DIR]`
//!
//! Input 1000 x 500 standard normal, 10 hidden layers of 500 units. Prints
//! one line per layer, `layer K mean M std S`, then the backward: the norm of
//! each layer's weight gradient when a unit gradient flows back from the top.
//! Draws the row of 10 activation histograms and the mean/std per layer.
//! `--all` runs the lecture's five regimes in turn.

mod common;

use std::path::PathBuf;

use nn::lecture::{Act, InitExperiment};
use nn::Init;

fn run(act: Act, init: Init, seed: u64, out: &PathBuf) -> Result<(), Box<dyn std::error::Error>> {
    let exp = InitExperiment {
        seed,
        ..Default::default()
    };
    let t0 = std::time::Instant::now();
    let ((im, is), layers) = exp.run(act, init)?;
    println!(
        "# {} + {} init (std {:.6}), input mean {:.6} std {:.6}",
        act.name(),
        init.name(),
        init.std(500, 500),
        im,
        is
    );
    for l in &layers {
        println!("layer {} mean {:.6} std {:.6}", l.layer, l.mean, l.std);
    }
    println!("# backward: unit gradient from the top (L = sum of layer 10)");
    for l in &layers {
        println!(
            "layer {} weight_grad_norm {:.6e}",
            l.layer, l.weight_grad_norm
        );
    }
    let stem = out.join(format!("weight_init_{}_{}", act.name(), init.name()));
    let (lo, hi) = if act == Act::Tanh {
        (-1.0, 1.0)
    } else {
        (0.0, (layers[0].std * 4.0).max(1e-6))
    };
    let sets: Vec<(String, Vec<f32>)> = layers
        .iter()
        .map(|l| (format!("layer {}", l.layer), l.activations.data().to_vec()))
        .collect();
    let title = format!(
        "{} + {} init: activations per layer (x in [{lo}, {hi:.3}])",
        act.name(),
        init.name()
    );
    if common::plot::png_ok() {
        let h = common::plot::histogram_row(
            &stem.with_file_name(format!(
                "{}_hist",
                stem.file_name().unwrap().to_string_lossy()
            )),
            &title,
            &sets,
            lo,
            hi,
            50,
        )?;
        let means: Vec<(f64, f64)> = layers.iter().map(|l| (l.layer as f64, l.mean)).collect();
        let stds: Vec<(f64, f64)> = layers.iter().map(|l| (l.layer as f64, l.std)).collect();
        let grads: Vec<(f64, f64)> = layers
            .iter()
            .map(|l| (l.layer as f64, l.weight_grad_norm))
            .collect();
        let m = common::plot::lines(
            &stem.with_file_name(format!(
                "{}_mean",
                stem.file_name().unwrap().to_string_lossy()
            )),
            "layer mean",
            "layer",
            "mean",
            &[("mean".into(), means)],
            false,
        )?;
        let s = common::plot::lines(
            &stem.with_file_name(format!(
                "{}_std",
                stem.file_name().unwrap().to_string_lossy()
            )),
            "layer std (log scale)",
            "layer",
            "std",
            &[("std".into(), stds)],
            true,
        )?;
        let g = common::plot::lines(
            &stem.with_file_name(format!(
                "{}_grad",
                stem.file_name().unwrap().to_string_lossy()
            )),
            "||dL/dW|| per layer (log scale)",
            "layer",
            "norm",
            &[("weight grad norm".into(), grads)],
            true,
        )?;
        println!(
            "# pictures: {} {} {} {}",
            h.display(),
            m.display(),
            s.display(),
            g.display()
        );
    }
    println!("# {:.2} s", t0.elapsed().as_secs_f64());
    Ok(())
}

fn main() {
    let out = PathBuf::from(common::arg("--out").unwrap_or_else(|| "out".into()));
    let seed: u64 = common::arg_or("--seed", 0);
    let regimes: Vec<(Act, Init)> = if common::flag("--all") {
        vec![
            (Act::Tanh, Init::Small),
            (Act::Tanh, Init::Unit),
            (Act::Tanh, Init::Xavier),
            (Act::Relu, Init::Xavier),
            (Act::Relu, Init::He),
        ]
    } else {
        let act_s = common::arg("--act").unwrap_or_else(|| "tanh".into());
        let init_s = common::arg("--init").unwrap_or_else(|| "xavier".into());
        let Some(act) = Act::from_name(&act_s) else {
            eprintln!("error: --act {act_s}: expected tanh or relu");
            std::process::exit(2);
        };
        let Some(init) = Init::from_name(&init_s) else {
            let names: Vec<&str> = Init::ALL.iter().map(|i| i.name()).collect();
            eprintln!(
                "error: --init {init_s}: expected one of {}",
                names.join(", ")
            );
            std::process::exit(2);
        };
        vec![(act, init)]
    };
    for (act, init) in regimes {
        if let Err(e) = run(act, init, seed, &out) {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
