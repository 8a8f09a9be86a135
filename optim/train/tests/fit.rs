//! `train::fit`: a run stopped after any epoch and resumed ends bit for bit
//! where an uninterrupted run ends; callbacks hear every step and epoch;
//! the schedule reaches every parameter group; a diverging run stops and
//! keeps its last good checkpoint; bad configurations are errors.

use data::Dataset;
use optim::{Adagrad, Adam, AdamW, Optimizer, ParamGroup, RmsProp, Sgd, StepLr};
use train::checkpoint::Position;
use train::models::TwoLayer;
use train::{fit, Callbacks, EpochEnd, FitConfig, StepInfo};

mod common;
use common::synthetic;

fn model(seed: u64) -> TwoLayer {
    common::two_layer(seed)
}

fn groups() -> [ParamGroup; 2] {
    [
        ParamGroup::no_decay_on_biases_and_norms(),
        ParamGroup::new("head", |n, _| n.starts_with("fc2")).lr(0.02),
    ]
}

fn sgd() -> Sgd<f32> {
    let [a, b] = groups();
    Sgd::new(0.05)
        .momentum(0.9)
        .weight_decay(1e-3)
        .group(a)
        .group(b)
}

/// Every optimizer, each with state worth checkpointing and both groups.
#[allow(clippy::type_complexity)]
fn optimizers() -> Vec<fn() -> Box<dyn Optimizer<f32>>> {
    vec![
        || Box::new(sgd()),
        || {
            let [a, b] = groups();
            Box::new(
                Adam::new(1e-2)
                    .weight_decay(1e-3)
                    .amsgrad(true)
                    .group(a)
                    .group(b),
            )
        },
        || {
            let [a, b] = groups();
            Box::new(AdamW::new(1e-2).group(a).group(b))
        },
        || {
            let [a, b] = groups();
            Box::new(
                RmsProp::new(1e-3)
                    .momentum(0.5)
                    .centered(true)
                    .group(a)
                    .group(b),
            )
        },
        || {
            let [a, b] = groups();
            Box::new(Adagrad::new(0.05).lr_decay(1e-3).group(a).group(b))
        },
    ]
}

fn weights(m: &TwoLayer) -> Vec<Vec<u32>> {
    let mut v = Vec::new();
    nn::Module::visit(m, "", &mut |_, t| {
        v.push(t.data().iter().map(|x| x.to_bits()).collect())
    });
    v
}

#[derive(Default)]
struct Log {
    steps: Vec<(u64, usize, usize, u64)>,
    epochs: Vec<usize>,
    resumed: Option<Position>,
    head_lr: Vec<f64>,
}

impl Callbacks for Log {
    fn on_resume(&mut self, _: &std::path::Path, pos: Position, _: usize) {
        self.resumed = Some(pos);
    }
    fn on_step(&mut self, i: &StepInfo<'_>) {
        self.steps
            .push((i.epoch, i.step, i.global_step, i.loss.to_bits()));
        self.head_lr.push(i.opt.groups()[1].lr.unwrap());
    }
    fn on_epoch(&mut self, e: &EpochEnd<'_>) {
        self.epochs.push(e.epoch);
    }
}

fn config<'a>(out: &std::path::Path, epochs: usize, sched: &'a StepLr) -> FitConfig<'a> {
    FitConfig {
        seed: 9,
        schedule: Some(sched),
        save_every: 3,
        reload_best: false,
        ..FitConfig::new("t", out, epochs, 16)
    }
}

#[test]
fn a_resumed_run_ends_where_an_uninterrupted_one_does_for_every_optimizer() {
    let (train, val) = (synthetic(100, 1), synthetic(50, 2)); // 7 steps per epoch
    let sched = StepLr {
        base: 0.05,
        step_size: 5,
        gamma: 0.5,
    };
    for make_opt in optimizers() {
        let name = make_opt().name();
        let dir_a = tempfile::tempdir().unwrap();
        let mut a = model(0);
        let mut log_a = Log::default();
        let cfg_a = config(dir_a.path(), 3, &sched);
        let h_a = fit(
            &mut a,
            make_opt().as_mut(),
            &train,
            &val,
            &cfg_a,
            &mut log_a,
        )
        .unwrap();
        assert_eq!(log_a.steps.len(), 21);
        assert_eq!(log_a.epochs, [1, 2, 3]);
        assert_eq!(h_a.val_acc.len(), 3);
        assert!(h_a.val_acc[2].1 > 0.3, "{name}: {:?}", h_a.val_acc);
        // the schedule reached the head group from its own initial lr
        for (i, s) in log_a.steps.iter().enumerate() {
            assert_eq!(s.2, i);
            assert_eq!(log_a.head_lr[i], 0.02 * 0.5f64.powi((i / 5) as i32));
        }

        // stopped after 2 epochs, then a new process with another init and
        // a fresh optimizer resumes
        let dir_b = tempfile::tempdir().unwrap();
        let mut b = model(0);
        let mut log_b = Log::default();
        let cfg_b = config(dir_b.path(), 2, &sched);
        fit(
            &mut b,
            make_opt().as_mut(),
            &train,
            &val,
            &cfg_b,
            &mut log_b,
        )
        .unwrap();
        let mut c = model(123);
        let cfg = FitConfig {
            resume: true,
            ..config(dir_b.path(), 3, &sched)
        };
        let h_c = fit(&mut c, make_opt().as_mut(), &train, &val, &cfg, &mut log_b).unwrap();
        assert_eq!(
            log_b.resumed,
            Some(Position {
                epoch: 2,
                step: 0,
                seed: 9
            })
        );
        assert_eq!(
            log_a.steps, log_b.steps,
            "{name}: the same steps, losses bit for bit"
        );
        assert_eq!(weights(&a), weights(&c), "{name}: the same final weights");
        assert_eq!(h_a.val_acc, h_c.val_acc, "the history is carried over");
        assert_eq!(h_a.best, h_c.best);
    }
}

#[test]
fn the_best_model_is_reloaded_at_the_end_unless_asked_not_to() {
    let (train, val) = (synthetic(100, 1), synthetic(50, 2));
    // the rate jumps 40-fold after 2 epochs, so the last epoch is not the best
    let sched = StepLr {
        base: 0.05,
        step_size: 14,
        gamma: 40.0,
    };
    for reload_best in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let mut m = model(0);
        let cfg = FitConfig {
            reload_best,
            ..config(dir.path(), 3, &sched)
        };
        let h = fit(&mut m, &mut sgd(), &train, &val, &cfg, &mut ()).unwrap();
        assert!(h.best.1 < 3, "{:?} {:?}", h.best, h.val_acc);
        let mut expect = model(7);
        if reload_best {
            nn::checkpoint::load_model(&h.best_path, &mut expect).unwrap();
        } else {
            train::checkpoint::load_training(&h.train_path, &mut expect, &mut sgd()).unwrap();
        }
        assert_eq!(weights(&m), weights(&expect), "reload_best {reload_best}");
    }
}

#[test]
fn a_diverging_run_stops_and_keeps_its_last_good_checkpoint() {
    let (train, val) = (synthetic(64, 3), synthetic(32, 4));
    let dir = tempfile::tempdir().unwrap();
    let mut m = model(1);
    let mut opt = Sgd::new(1e30);
    let cfg = FitConfig::new("boom", dir.path(), 3, 16);
    let h = fit(&mut m, &mut opt, &train, &val, &cfg, &mut ()).unwrap();
    assert!(h.diverged);
    assert!(h.val_acc.is_empty());
    // nothing of the diverged epoch was written
    assert!(!h.train_path.exists() && !h.best_path.exists());
}

#[test]
fn bad_configurations_are_errors_before_training() {
    let (train, val) = (synthetic(20, 5), synthetic(10, 6));
    let dir = tempfile::tempdir().unwrap();
    let mut m = model(2);
    let w0 = weights(&m);
    for (cfg, want) in [
        (FitConfig::new("x", dir.path(), 1, 0), "batch 0"),
        (
            FitConfig {
                save_every: 0,
                ..FitConfig::new("x", dir.path(), 1, 4)
            },
            "save_every 0",
        ),
        (
            FitConfig {
                resume: true,
                ..FitConfig::new("x", dir.path(), 1, 4)
            },
            "no training checkpoint",
        ),
    ] {
        let e = fit(&mut m, &mut Sgd::new(0.1), &train, &val, &cfg, &mut ())
            .unwrap_err()
            .to_string();
        assert!(e.contains(want), "{e}");
    }
    let empty = Dataset {
        images: autograd::Tensor::zeros(&[0, 3, 4, 4]),
        labels: vec![],
        classes: 10,
    };
    let cfg = FitConfig::new("x", dir.path(), 1, 4);
    let e = fit(&mut m, &mut Sgd::new(0.1), &empty, &val, &cfg, &mut ())
        .unwrap_err()
        .to_string();
    assert!(e.contains("empty"), "{e}");
    assert_eq!(weights(&m), w0);
    // a second run into the same folder is refused unless asked to overwrite
    fit(&mut m, &mut Sgd::new(0.1), &train, &val, &cfg, &mut ()).unwrap();
    let e = fit(&mut m, &mut Sgd::new(0.1), &train, &val, &cfg, &mut ())
        .unwrap_err()
        .to_string();
    assert!(e.contains("earlier run"), "{e}");
    let cfg = FitConfig {
        overwrite: true,
        ..cfg
    };
    fit(&mut m, &mut Sgd::new(0.1), &train, &val, &cfg, &mut ()).unwrap();
}
