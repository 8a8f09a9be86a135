//! The babysitting steps on small synthetic data.

use nn::Init;
use rand::SeedableRng;

mod common;
use common::synthetic;
use train::babysit::{self, explosion, Explosion, SearchConfig, SearchSpace, TrialCfg};
use train::models::{LinearSoftmax, TwoLayer};

fn linear(seed: u64) -> LinearSoftmax {
    LinearSoftmax::new(48, 10, &mut rand_chacha::ChaCha8Rng::seed_from_u64(seed))
}

#[test]
fn initial_loss_is_ln10_and_regularisation_raises_it() {
    let set = synthetic(200, 1);
    let mut m = linear(0);
    let r = babysit::initial_loss_check(&mut m, &set, 1e3).unwrap();
    assert!(r.pass, "{r}");
    assert!((r.loss - 10f64.ln()).abs() < 0.05, "{r}");
    assert!(r.loss_with_reg > r.loss, "{r}");
    assert!(r.to_string().contains("PASS"));
    // a badly scaled init fails the check
    let mut big = TwoLayer::new(
        48,
        50,
        10,
        Init::Unit,
        &mut rand_chacha::ChaCha8Rng::seed_from_u64(0),
    );
    assert!(
        !babysit::initial_loss_check(&mut big, &set, 0.0)
            .unwrap()
            .pass
    );
}

#[test]
fn twenty_examples_are_memorised() {
    let tiny = synthetic(20, 2);
    let mut m = TwoLayer::new(
        48,
        100,
        10,
        Init::He,
        &mut rand_chacha::ChaCha8Rng::seed_from_u64(3),
    );
    let r = babysit::overfit_tiny(&mut m, &tiny, 0.1, 200).unwrap();
    assert!(r.success, "{r}");
    assert_eq!(r.train_acc, 1.0);
    assert!(r.losses.last().unwrap() < &0.05, "{r}");
}

#[test]
fn explosion_detector_fires_on_a_huge_learning_rate_and_not_on_a_tiny_one() {
    let (train, val) = (synthetic(256, 4), synthetic(64, 5));
    let cfg = TrialCfg {
        lr: 1e6,
        reg: 0.0,
        iters: 50,
        batch: 32,
        momentum: 0.9,
        seed: 1,
    };
    let t = babysit::run_trial(
        &|s| {
            TwoLayer::new(
                48,
                50,
                10,
                Init::He,
                &mut rand_chacha::ChaCha8Rng::seed_from_u64(s),
            )
        },
        &train,
        &val,
        cfg,
    )
    .unwrap();
    let e = t.explosion.clone().expect("explosion detected");
    assert!(t.losses.len() < 50, "stopped early");
    assert!(e.to_string().contains("exploded"));
    assert_eq!(t.val_acc, 0.0);
    // too low: the loss barely moves, no explosion
    let t = babysit::run_trial(&|s| linear(s), &train, &val, TrialCfg { lr: 1e-9, ..cfg }).unwrap();
    assert!(t.explosion.is_none());
    assert_eq!(t.losses.len(), 50);
    assert!((t.losses[0] - t.losses[49]).abs() < 0.05);
    assert_eq!(
        explosion(10.0, 3.0),
        Some(Explosion::TooLarge {
            loss: 10.0,
            initial: 3.0
        })
    );
    assert_eq!(explosion(8.9, 3.0), None);
}

#[test]
fn sampling_is_uniform_in_log_space_and_seeded() {
    let s = SearchSpace {
        log10_lr: (-7.0, -3.0),
        log10_reg: (-5.0, 0.0),
    };
    let pts = s.sample(4000, 9);
    assert_eq!(pts, s.sample(4000, 9));
    assert_ne!(pts, s.sample(4000, 10));
    // each decade of lr holds about a quarter of the samples
    for d in 0..4 {
        let lo = 10f64.powi(-7 + d);
        let frac = pts.iter().filter(|p| p.0 >= lo && p.0 < lo * 10.0).count() as f64 / 4000.0;
        assert!((frac - 0.25).abs() < 0.03, "decade {d}: {frac}");
    }
    let mean_log_reg: f64 = pts.iter().map(|p| p.1.log10()).sum::<f64>() / 4000.0;
    assert!((mean_log_reg + 2.5).abs() < 0.1, "{mean_log_reg}");
}

#[test]
fn search_is_reproducible_across_thread_counts_and_warns_on_the_boundary() {
    let (train, val) = (synthetic(256, 6), synthetic(100, 7));
    let space = SearchSpace {
        log10_lr: (-4.0, 0.0),
        log10_reg: (-5.0, -1.0),
    };
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            babysit::random_search(
                &|s| linear(s),
                &train,
                &val,
                &SearchConfig {
                    space,
                    trials: 6,
                    iters: 40,
                    batch: 32,
                    momentum: 0.9,
                    seed: 77,
                },
                &|_| {},
            )
            .unwrap()
        })
    };
    let a = run(1);
    let b = run(2);
    assert_eq!(a.trials.len(), 6);
    for (x, y) in a.trials.iter().zip(&b.trials) {
        assert_eq!(x.cfg, y.cfg);
        assert_eq!(
            x.losses, y.losses,
            "bit-identical losses with 1 and 2 threads"
        );
        assert_eq!(x.val_acc, y.val_acc);
    }
    // sorted best first
    assert!(a
        .trials
        .windows(2)
        .all(|w| w[0].explosion.is_some() <= w[1].explosion.is_some()));
    let best = &a.trials[0];
    assert!(best.val_acc > 0.5, "best val acc {}", best.val_acc);
    // a space whose top end is far too small puts the best lr on its boundary
    let low = SearchSpace {
        log10_lr: (-9.0, -6.0),
        log10_reg: (-5.0, -1.0),
    };
    let s = babysit::random_search(
        &|s| linear(s),
        &train,
        &val,
        &SearchConfig {
            space: low,
            trials: 4,
            iters: 20,
            batch: 32,
            momentum: 0.0,
            seed: 3,
        },
        &|_| {},
    )
    .unwrap();
    let w = low.boundary_warnings(1e-6, 1e-3);
    assert_eq!(w.len(), 1);
    assert!(w[0].contains("high end"), "{w:?}");
    assert_eq!(s.trials.len(), 4);
    assert_eq!(
        s.warnings,
        low.boundary_warnings(s.trials[0].cfg.lr, s.trials[0].cfg.reg)
    );
}
