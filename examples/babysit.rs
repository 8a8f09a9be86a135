//! Babysitting the learning process on CIFAR-10, step by step, as in the lecture.
//!
//! `cargo run --release --example babysit -- [--data DIR] [--quick] [--out DIR] [--seed S] [--test PATH]
//!  [--resume | --overwrite] [--save-every STEPS]` (`--help` lists them all)
//!
//! 1. preprocessing: mean image and std image (pictures), normalised data;
//! 2. initial loss sanity check (about ln 10 = 2.303), raised by regularisation;
//! 3. overfit 20 examples with plain SGD and no regularisation;
//! 4. learning rate too low (loss barely moves) / too high (explosion detected);
//! 5. coarse-to-fine random search of learning rate and L2 strength in log
//!    space, trials in parallel, with a "command center" picture;
//! 6. train the best configuration longer, keep the best model by validation
//!    accuracy (saved, reloaded, evaluated again), with loss / accuracy curves,
//!    update/weight ratios, first-layer weights and hidden activations;
//! 7. the optimizers compared on the same budget: SGD + momentum at the
//!    searched rate against Adam (lr 1e-3) with the same L2 strength, from
//!    the same initialisation and batches; loss curves side by side in one
//!    picture (`OUT/babysit_optimizers.png`) and each one's validation accuracy.
//!
//! The model is the lecture's two-layer net (3072 -> 50 hidden -> 10).
//!
//! A killed run continues with `--resume`: the search's result is kept in
//! `OUT/babysit_search.txt` (not searched again) and step 6 continues from
//! its training checkpoint `OUT/babysit_train.safetensors`.

mod common;

use std::path::{Path, PathBuf};

use autograd::Tape;
use clap::Parser;
use common::cifar::{self, Norm};
use common::progress::{FitCallbacks, Progress};
use data::Dataset;
use nn::Init;
use ops::VarOps;
use optim::{Adam, Optimizer, Sgd};
use rand::SeedableRng;
use train::babysit::{self, SearchConfig, SearchSpace, Trial, TrialCfg};
use train::dist::{Collective, DataParallel, Local};
use train::models::TwoLayer;
use train::step::evaluate;

const HIDDEN: usize = 50;
/// Step 3 overfits this many examples.
const TINY: usize = 20;

#[derive(Parser, Debug)]
#[command(about = "The lecture's babysitting steps on CIFAR-10, with pictures")]
struct Args {
    /// Folder with data_batch_1.bin .. data_batch_5.bin (default: $CIFAR10_DIR, then the usual places)
    #[arg(long)]
    data: Option<PathBuf>,
    /// A real test_batch.bin to report test accuracy on
    #[arg(long)]
    test: Option<PathBuf>,
    /// 4,000 training images, fewer trials and epochs
    #[arg(long)]
    quick: bool,
    /// Keep only the first N training images
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    limit: Option<u64>,
    /// Learning rate of step 3 (overfitting 20 examples)
    #[arg(long, default_value_t = 0.1)]
    overfit_lr: f64,
    #[command(flatten)]
    run: common::RunArgs,
    #[command(flatten)]
    dist: common::dist::DistArgs,
}

/// `println!` on rank 0 (or the only process) alone.
macro_rules! say {
    ($($t:tt)*) => {
        if common::dist::is_lead() {
            println!($($t)*)
        }
    };
}

/// The search's best (lr, reg), kept so that `--resume` does not search again.
fn save_search(path: &Path, lr: f64, reg: f64) -> Result<(), Box<dyn std::error::Error>> {
    nn::checkpoint::write_atomic(path, format!("lr {lr:e}\nreg {reg:e}\n").as_bytes())?;
    Ok(())
}

fn load_search(path: &Path) -> Result<Option<(f64, f64)>, Box<dyn std::error::Error>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{}: {e}", path.display()).into()),
    };
    let field = |k: &str| -> Result<f64, Box<dyn std::error::Error>> {
        text.lines()
            .find_map(|l| l.strip_prefix(k)?.trim().parse().ok())
            .ok_or_else(|| format!("{}: no valid `{k}` line", path.display()).into())
    };
    Ok(Some((field("lr ")?, field("reg ")?)))
}

fn two_layer(seed: u64) -> TwoLayer {
    TwoLayer::new(
        3072,
        HIDDEN,
        10,
        Init::Small,
        &mut rand_chacha::ChaCha8Rng::seed_from_u64(seed),
    )
}

/// One optimizer's run in step 7: its label, smoothed loss curve and best
/// validation accuracy.
type OptimizerRun = (String, Vec<(f64, f64)>, f64);

/// Step 7: each optimizer trains a fresh copy of the same initialisation
/// for `epochs` epochs of the same batches (no schedule) with `train::fit`;
/// returns the (label, smoothed loss curve, best validation accuracy) of each.
fn compare_optimizers(
    train: &Dataset,
    val: &Dataset,
    best: TrialCfg,
    epochs: usize,
    seed: u64,
    out: &Path,
    dp: Option<&DataParallel<'_>>,
) -> Result<Vec<OptimizerRun>, Box<dyn std::error::Error>> {
    let contenders: Vec<(&str, String, Box<dyn Optimizer<f32>>)> = vec![
        (
            "sgd",
            format!("SGD + momentum 0.9, lr {:.1e}", best.lr),
            Box::new(Sgd::new(best.lr).momentum(0.9).weight_decay(best.reg)),
        ),
        (
            "adam",
            "Adam, lr 1e-3".to_string(),
            Box::new(Adam::new(1e-3).weight_decay(best.reg)),
        ),
    ];
    let mut runs = Vec::new();
    for (tag, label, mut opt) in contenders {
        let mut model = two_layer(seed);
        let cfg = train::FitConfig {
            seed,
            overwrite: true,
            eval_batch: 1000,
            parallel: dp,
            ..train::FitConfig::new(&format!("babysit_compare_{tag}"), out, epochs, 100)
        };
        let t = std::time::Instant::now();
        let h = train::fit(&mut model, opt.as_mut(), train, val, &cfg, &mut ())?;
        let last_loss = h.curves.losses.last().map_or(f64::NAN, |p| p.1);
        say!(
            "   {label}: final loss {last_loss:.4}, best validation accuracy {:.2}% (epoch {}){} ({:.1} s)",
            100.0 * h.best.0,
            h.best.1,
            if h.diverged { ", diverged" } else { "" },
            t.elapsed().as_secs_f64()
        );
        runs.push((label, h.curves.smoothed_loss(10), h.best.0));
    }
    Ok(runs)
}

fn fmt_trial(t: &Trial) -> String {
    match &t.explosion {
        Some(e) => format!(
            "lr {:.2e} reg {:.2e}: stopped after {} steps, {e}",
            t.cfg.lr,
            t.cfg.reg,
            t.losses.len()
        ),
        None => format!(
            "lr {:.2e} reg {:.2e}: val acc {:.1}% (train {:.1}%)",
            t.cfg.lr,
            t.cfg.reg,
            100.0 * t.val_acc,
            100.0 * t.train_acc
        ),
    }
}

#[allow(clippy::too_many_arguments)]
fn search(
    name: &str,
    space: SearchSpace,
    n: usize,
    iters: usize,
    seed: u64,
    train: &Dataset,
    val: &Dataset,
    out: &std::path::Path,
    comm: &dyn Collective,
) -> Result<babysit::Search, Box<dyn std::error::Error>> {
    say!(
        "{name} search: {n} trials of {iters} steps, lr 1e{:.1}..1e{:.1}, reg 1e{:.1}..1e{:.1} (log-uniform), {} threads{}",
        space.log10_lr.0,
        space.log10_lr.1,
        space.log10_reg.0,
        space.log10_reg.1,
        rayon::current_num_threads(),
        if comm.size() > 1 { format!(" x {} ranks", comm.size()) } else { String::new() }
    );
    // the bar counts this rank's trials (i mod size == rank)
    let mine = (n + comm.size() - 1 - comm.rank()) / comm.size();
    let bar = Progress::new(mine as u64, name);
    let done = std::sync::atomic::AtomicU64::new(0);
    let cfg = SearchConfig {
        space,
        trials: n,
        iters,
        batch: 100,
        momentum: 0.9,
        seed,
    };
    // trial i on rank i mod size; every rank gets every result
    let s = babysit::random_search_on(comm, &two_layer, train, val, &cfg, &|t| {
        let i = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        bar.step(i, || fmt_trial(t));
    })?;
    bar.finish();
    for t in s.trials.iter().take(5) {
        say!("  {}", fmt_trial(t));
    }
    let exploded = s.trials.iter().filter(|t| t.explosion.is_some()).count();
    say!("  ... {exploded} of {n} trials stopped early on explosion");
    for w in &s.warnings {
        say!("  WARNING: {w}");
    }
    if common::plot::png_ok() {
        let cells: Vec<(String, Vec<f64>, bool)> = s
            .trials
            .iter()
            .map(|t| {
                let res = if t.explosion.is_some() {
                    "exploded".to_string()
                } else {
                    format!("val {:.1}%", 100.0 * t.val_acc)
                };
                (
                    format!("lr {:.1e} reg {:.1e} {res}", t.cfg.lr, t.cfg.reg),
                    t.losses.clone(),
                    t.explosion.is_some(),
                )
            })
            .collect();
        let p = common::plot::command_center(
            &out.join(format!("babysit_{name}_search")),
            &format!("{name} search: loss per trial, best first"),
            &cells,
            5,
        )?;
        say!("  picture: {}", p.display());
    }
    Ok(s)
}

/// Step 5: a coarse round over the lecture's ranges, then finer rounds
/// around the best so far; returns the best configuration.
fn coarse_to_fine(
    quick: bool,
    seed: u64,
    train: &Dataset,
    val: &Dataset,
    out: &Path,
    comm: &dyn Collective,
) -> Result<TrialCfg, Box<dyn std::error::Error>> {
    let (n, iters) = if quick { (10, 100) } else { (24, 300) };
    let coarse = search(
        "coarse",
        SearchSpace::lecture_coarse(),
        n,
        iters,
        seed + 100,
        train,
        val,
        out,
        comm,
    )?;
    let valid = |s: &babysit::Search| {
        s.trials
            .iter()
            .find(|t| t.explosion.is_none())
            .map(|t| (t.cfg, t.val_acc))
    };
    let mut best =
        valid(&coarse).ok_or("every coarse trial exploded: lower the learning-rate range")?;
    // finer ranges around the best so far; when the best sits on a boundary
    // the next range is centred on it, so the search walks outwards
    for (round, half) in [(1, 1.0), (2, 0.5)] {
        let fine = search(
            &format!("fine{round}"),
            SearchSpace::around(best.0.lr, best.0.reg, half),
            n,
            iters,
            seed + 100 * (round + 1),
            train,
            val,
            out,
            comm,
        )?;
        if let Some(b) = valid(&fine).filter(|b| b.1 > best.1) {
            best = b;
        }
        if fine.warnings.is_empty() {
            break;
        }
    }
    let best = best.0;
    Ok(best)
}

/// Steps 2-4: the initial loss, overfitting 20 examples, learning rates
/// too low and too high.
fn sanity_steps(
    args: &Args,
    seed: u64,
    train: &Dataset,
    val: &Dataset,
) -> Result<(), Box<dyn std::error::Error>> {
    say!("== 2. initial loss sanity check (small init, 10 classes)");
    let batch = train.slice(0, 500.min(train.len()))?;
    let r = babysit::initial_loss_check(&mut two_layer(seed), &batch, 0.1)?;
    say!("   {r}");

    // 3. overfit a tiny subset
    say!("== 3. overfit 20 examples (no regularisation, plain SGD)");
    let tiny = train.slice(0, TINY)?;
    let overfit_lr = args.overfit_lr;
    let o = babysit::overfit_tiny(&mut two_layer(seed), &tiny, overfit_lr, 300)?;
    say!("   {o}");

    // 4. learning rate too low / too high
    say!("== 4. learning rate too low, too high");
    let probe = |lr: f64| {
        babysit::run_trial(
            &two_layer,
            train,
            val,
            TrialCfg {
                lr,
                reg: 1e-6,
                iters: 100,
                batch: 100,
                momentum: 0.9,
                seed,
            },
        )
    };
    let low = probe(1e-6)?;
    say!(
        "   lr 1e-6: loss {:.4} -> {:.4} after {} steps: {}",
        low.losses[0],
        low.losses.last().unwrap(),
        low.losses.len(),
        if (low.losses[0] - low.losses.last().unwrap()).abs() < 0.05 {
            "barely changing: learning rate too low"
        } else {
            "it moves"
        }
    );
    for lr in [1e6, 3.0] {
        let high = probe(lr)?;
        match &high.explosion {
            Some(e) => say!(
                "   lr {lr:e}: {e} after {} steps: learning rate too high (detected, run stopped)",
                high.losses.len()
            ),
            None => say!(
                "   lr {lr:e}: no explosion in {} steps (loss {:.4})",
                high.losses.len(),
                high.losses.last().unwrap()
            ),
        }
    }
    Ok(())
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    // MPI first (under mpirun every rank parses the same command line)
    let world = common::dist::world(&args.dist)?;
    let dp = world.as_deref().map(DataParallel::new);
    let comm: &dyn Collective = world.as_deref().unwrap_or(&Local);
    let lead = common::dist::is_lead();
    let quick = args.quick;
    let out = args.run.out.clone();
    let seed = args.run.seed;
    let test_path = args.test.clone();
    common::check_out_dir(&out)?;
    // an earlier run's files are refused unless resuming or overwriting;
    // what --resume needs (the search's result or step 6's checkpoint, either
    // may be missing) is checked below, so train::fit::check_start's own --resume
    // rule (a training checkpoint must exist) does not apply here
    train::fit::check_start(
        &out,
        "babysit",
        false,
        args.run.overwrite || args.run.resume,
    )?;
    let search_path = out.join("babysit_search.txt");
    let (train_ckpt, _) = train::fit::paths(&out, "babysit");
    if args.run.resume && !search_path.exists() && !train_ckpt.exists() {
        return Err(format!(
            "--resume: neither {} nor {} is in --out: nothing to continue",
            search_path.display(),
            train_ckpt.display()
        )
        .into());
    }
    let dir = cifar::data_dir(args.data.as_deref())?;
    let limit = args
        .limit
        .map(|v| v as usize)
        .or(if quick { Some(4000) } else { None });

    // 1. preprocessing
    say!("== 1. preprocessing: mean image and std image of the training set");
    let s = cifar::load(&dir, test_path.as_deref(), false, limit, Norm::PerPixel)?;
    let (train, val) = (&s.train, &s.val);
    if train.len() < TINY {
        return Err(format!(
            "babysit needs at least {TINY} training images (step 3 overfits {TINY}); it has {}",
            train.len()
        )
        .into());
    }
    say!(
        "   {} training, {} validation images; pixel mean {:.1}, mean std {:.1}",
        train.len(),
        val.len(),
        s.norm.mean.mean_all(),
        s.norm.std.mean_all()
    );
    if common::plot::png_ok() {
        let p = common::plot::image_grid(
            &out.join("babysit_mean_std_image"),
            "mean image | std image",
            &[s.norm.mean.data().to_vec(), s.norm.std.data().to_vec()],
            3,
            32,
            32,
            2,
            6,
        )?;
        say!("   picture: {}", p.display());
    }

    // 2.-4. are quick and rank 0's alone; the other ranks go on to 5.
    if lead {
        sanity_steps(&args, seed, train, val)?;
    }

    // 5. coarse to fine
    say!("== 5. coarse-to-fine random search");
    let earlier = if args.run.resume {
        load_search(&search_path)?
    } else {
        None
    };
    let best = match earlier {
        Some((lr, reg)) => {
            say!(
                "   (resumed) the earlier run's search chose lr {lr:.2e} reg {reg:.2e} ({})",
                search_path.display()
            );
            TrialCfg {
                lr,
                reg,
                iters: 0,
                batch: 100,
                momentum: 0.9,
                seed,
            }
        }
        None => {
            let b = coarse_to_fine(quick, seed, train, val, &out, comm)?;
            if lead {
                save_search(&search_path, b.lr, b.reg)?;
            }
            b
        }
    };

    // 6. train the best configuration longer
    let epochs = if quick { 3 } else { 10 };
    say!("== 6. train lr {:.2e} reg {:.2e} for {epochs} epochs, keeping the best model by validation accuracy", best.lr, best.reg);
    let mut model = two_layer(seed);
    let mut sgd = Sgd::new(best.lr).momentum(0.9).weight_decay(best.reg);
    let cfg = train::FitConfig {
        seed,
        save_every: args.run.save_every as usize,
        resume: args.run.resume && train_ckpt.exists(),
        overwrite: true,
        eval_batch: 1000,
        parallel: dp.as_ref(),
        ..train::FitConfig::new("babysit", &out, epochs, 100)
    };
    let mut cb = FitCallbacks::new(epochs, args.run.abort_after_steps, |e| {
        let r: Vec<String> = e
            .opt
            .update_ratios()
            .iter()
            .filter(|(n, _)| n.ends_with("weight"))
            .map(|(n, r)| format!("{n} {r:.1e}"))
            .collect();
        say!(
            "   epoch {} train loss {:.4} acc {:.1}% | val acc {:.1}% | update/weight {}{}",
            e.epoch,
            e.train.loss,
            100.0 * e.train.acc,
            100.0 * e.val.acc,
            r.join(", "),
            if e.saved_best { " (best, saved)" } else { "" }
        );
    });
    let callbacks: &mut dyn train::Callbacks = if lead { &mut cb } else { &mut () };
    let h = train::fit(&mut model, &mut sgd, train, val, &cfg, callbacks)?;
    if h.diverged {
        say!("   training diverged: stopped");
    }
    if h.best.1 == 0 {
        return Err("no epoch finished, so there is no best model to report".into());
    }
    let (best_val, best_path) = (h.best, h.best_path.clone());
    let (accs_tr, accs_val, curves) = (h.train_acc, h.val_acc, h.curves);
    for (name, v) in &curves.ratios {
        let last = v.last().map(|p| p.1).unwrap_or(0.0);
        if let Some(note) = train::babysit::update_ratio_note(last) {
            say!("   WARNING: update/weight ratio of {name} is {last:.1e}: {note}");
        }
    }
    let mut reloaded = two_layer(seed + 1);
    nn::checkpoint::load_model(&best_path, &mut reloaded)?;
    let va = evaluate(&reloaded, val, 1000)?;
    say!(
        "   best model (epoch {}) saved to {}, reloaded: validation accuracy {:.2}%",
        best_val.1,
        best_path.display(),
        100.0 * va.acc
    );
    if let Some(t) = &s.test {
        say!(
            "   test accuracy: {:.2}%",
            100.0 * evaluate(&reloaded, t, 1000)?.acc
        );
    }

    if common::plot::png_ok() {
        let smooth = curves.smoothed_loss(10);
        let mut pics = vec![
            common::plot::lines(
                &out.join("babysit_loss"),
                "training loss",
                "step",
                "loss",
                &[("loss".into(), smooth)],
                false,
            )?,
            common::plot::lines(
                &out.join("babysit_accuracy"),
                "accuracy",
                "epoch",
                "accuracy",
                &[("train".into(), accs_tr), ("validation".into(), accs_val)],
                false,
            )?,
            common::plot::lines(
                &out.join("babysit_update_ratio"),
                "update / weight ratio (want ~1e-3)",
                "step",
                "ratio",
                &curves.ratios.into_iter().collect::<Vec<_>>(),
                true,
            )?,
        ];
        let w = &reloaded.fc1.weight;
        let imgs: Vec<Vec<f32>> = w.data().chunks(3072).map(|c| c.to_vec()).collect();
        pics.push(common::plot::image_grid(
            &out.join("babysit_first_layer"),
            "first-layer weights as images",
            &imgs,
            3,
            32,
            32,
            10,
            3,
        )?);
        // hidden activations of a batch: samples x units
        let tape = Tape::<f32>::new();
        let _g = tape.no_grad();
        let xb = val.slice(0, 100.min(val.len()))?.images;
        let h = reloaded
            .fc1
            .forward(&tape, nn::flatten(tape.constant(xb))?)?
            .relu()?
            .value();
        let hs = h.shape().to_vec();
        // clip at the 99th percentile so one large activation does not darken the rest
        let mut sorted = h.data().to_vec();
        sorted.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let p99 = sorted[(sorted.len() * 99) / 100];
        let clipped: Vec<f32> = h.data().iter().map(|&v| v.min(p99)).collect();
        pics.push(common::plot::image_grid(
            &out.join("babysit_hidden_activations"),
            "hidden activations (100 samples x units, ReLU)",
            &[clipped],
            1,
            hs[0],
            hs[1],
            1,
            6,
        )?);
        let dead = (0..hs[1])
            .filter(|&j| (0..hs[0]).all(|i| h.data()[i * hs[1] + j] == 0.0))
            .count();
        say!(
            "   hidden units never active on these 100 samples: {dead} of {}",
            hs[1]
        );
        for p in pics {
            say!("   picture: {}", p.display());
        }
    }

    // 7. optimizers on the same budget
    let cmp_epochs = if quick { 2 } else { 5 };
    say!("== 7. SGD + momentum against Adam: {cmp_epochs} epochs each, same initialisation and batches");
    let runs = compare_optimizers(train, val, best, cmp_epochs, seed, &out, dp.as_ref())?;
    if common::plot::png_ok() {
        let series: Vec<(String, Vec<(f64, f64)>)> =
            runs.into_iter().map(|(l, c, _)| (l, c)).collect();
        let p = common::plot::lines(
            &out.join("babysit_optimizers"),
            "training loss (smoothed over 10 steps)",
            "step",
            "loss",
            &series,
            false,
        )?;
        say!("   picture: {}", p.display());
    }
    Ok(())
}

fn main() {
    common::main_with(run)
}
