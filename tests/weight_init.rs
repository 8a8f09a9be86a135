//! The lecture's weight-initialisation table, asserted with fixed seeds on
//! the full experiment (1000 x 500 input, 10 layers of 500 units).

use nn::Init;
use train::lecture::{Act, InitExperiment, LayerStats};

fn stds(act: Act, init: Init) -> Vec<LayerStats> {
    InitExperiment {
        seed: 7,
        ..Default::default()
    }
    .run(act, init)
    .unwrap()
    .1
}

#[test]
fn tanh_small_collapses_to_zero() {
    let l = stds(Act::Tanh, Init::Small);
    // lecture: 0.213, 0.0476, 0.0106, 0.00238, ... 0.000001, 0.000000
    assert!((l[0].std - 0.213).abs() < 0.01, "{}", l[0].std);
    assert!((l[1].std - 0.0476).abs() < 0.003, "{}", l[1].std);
    assert!(l[9].std < 1e-5 && l[9].std > 0.0, "{}", l[9].std);
    for w in l.windows(2) {
        assert!(w[1].std < 0.3 * w[0].std);
    }
    // "what do the gradients look like?": tiny on every layer, next to xavier's
    let xavier_min = stds(Act::Tanh, Init::Xavier)
        .iter()
        .map(|s| s.weight_grad_norm)
        .fold(f64::MAX, f64::min);
    for s in &l {
        assert!(
            s.weight_grad_norm < 1e-4 * xavier_min,
            "layer {}: {} vs {xavier_min}",
            s.layer,
            s.weight_grad_norm
        );
    }
}

#[test]
fn tanh_unit_saturates() {
    for s in stds(Act::Tanh, Init::Unit) {
        assert!((s.std - 0.98).abs() < 0.01, "layer {}: {}", s.layer, s.std);
        let saturated = s
            .activations
            .data()
            .iter()
            .filter(|v| v.abs() > 0.99)
            .count();
        assert!(saturated as f64 > 0.8 * s.activations.numel() as f64);
    }
}

#[test]
fn tanh_xavier_shrinks_slowly() {
    let l = stds(Act::Tanh, Init::Xavier);
    // lecture: 0.628, 0.486, 0.408, 0.357, ... 0.228
    assert!((l[0].std - 0.628).abs() < 0.02, "{}", l[0].std);
    assert!((l[1].std - 0.486).abs() < 0.02, "{}", l[1].std);
    assert!(l[9].std > 0.18 && l[9].std < 0.28, "{}", l[9].std);
}

#[test]
fn relu_xavier_halves_each_layer() {
    let l = stds(Act::Relu, Init::Xavier);
    // lecture: 0.582, 0.404, 0.277, ... 0.026
    assert!((l[0].std - 0.582).abs() < 0.02, "{}", l[0].std);
    assert!(l[9].std > 0.01 && l[9].std < 0.06, "{}", l[9].std);
    for w in l.windows(2) {
        let r = w[1].std / w[0].std;
        assert!(r > 0.55 && r < 0.85, "ratio {r}");
    }
}

#[test]
fn relu_he_is_steady() {
    for s in stds(Act::Relu, Init::He) {
        // lecture: 0.81 .. 0.89 on every layer
        assert!(s.std > 0.7 && s.std < 1.05, "layer {}: {}", s.layer, s.std);
        assert!(
            s.mean > 0.45 && s.mean < 0.75,
            "layer {}: {}",
            s.layer,
            s.mean
        );
    }
}

#[test]
fn every_scheme_matches_its_formula() {
    use rand::SeedableRng;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    let (fi, fo) = (200usize, 300usize);
    let want = [
        0.01,
        1.0,
        (1.0 / 200f64).sqrt(),
        (2.0 / 500f64).sqrt(),
        (2.0 / 200f64).sqrt(),
        (1.0 / 600f64).sqrt(),
        (4.0 / 500f64).sqrt(),
    ];
    for (init, w) in Init::ALL.iter().zip(want) {
        assert!((init.std(fi, fo) - w).abs() < 1e-15, "{init:?}");
        for dist in [nn::Dist::Normal, nn::Dist::Uniform] {
            let t = init.tensor::<f64, _>(&[fo, fi], dist, &mut rng);
            assert!(
                (t.std_all(false) / w - 1.0).abs() < 0.02,
                "{init:?} {dist:?}: {}",
                t.std_all(false)
            );
        }
        assert_eq!(Init::from_name(init.name()), Some(*init));
    }
}
