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

use std::path::{Path, PathBuf};

use nn::Init;
use train::lecture::{Act, InitExperiment};

fn run(act: Act, init: Init, seed: u64, out: &Path) -> Result<(), Box<dyn std::error::Error>> {
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

#[derive(clap::Parser, Debug)]
#[command(about = "The lecture's weight-initialisation experiment: 10 layers of 500 units")]
struct Args {
    /// Activation
    #[arg(long, default_value = "tanh", value_parser = ["tanh", "relu"])]
    act: String,
    /// Initialisation scheme
    #[arg(long, default_value = "xavier", value_parser = Init::ALL.iter().map(|i| i.name()).collect::<Vec<_>>())]
    init: String,
    /// Run the lecture's five regimes (tanh: small, unit, xavier; relu: xavier, he)
    #[arg(long, conflicts_with_all = ["act", "init"])]
    all: bool,
    /// Seed of the input and weights
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Folder for the pictures
    #[arg(long, default_value = "out")]
    out: PathBuf,
}

fn main() {
    use clap::Parser;
    let args = Args::parse();
    let regimes: Vec<(Act, Init)> = if args.all {
        vec![
            (Act::Tanh, Init::Small),
            (Act::Tanh, Init::Unit),
            (Act::Tanh, Init::Xavier),
            (Act::Relu, Init::Xavier),
            (Act::Relu, Init::He),
        ]
    } else {
        // both names were checked by clap against these lists
        let act = Act::from_name(&args.act).expect("clap checked --act");
        let init = Init::from_name(&args.init).expect("clap checked --init");
        vec![(act, init)]
    };
    common::main_with(|| {
        common::check_out_dir(&args.out)?;
        for (act, init) in regimes {
            run(act, init, args.seed, &args.out)?;
        }
        Ok(())
    })
}
