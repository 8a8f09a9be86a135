//! Regression tests for the adversarial review (issue 11): results that were
//! silently wrong, and hyper-parameters that were silently accepted. Each
//! test names the input that used to misbehave and what it did.

use autograd::{ErrorKind, Tape, Tensor};
use nn::{Init, Linear};
use ops::{BatchNormStats, VarOps};
use optim::Sgd;
use rand::SeedableRng;

fn rng(seed: u64) -> rand_chacha::ChaCha8Rng {
    rand_chacha::ChaCha8Rng::seed_from_u64(seed)
}

/// Used to give -0.6933594 (f32 `x - (max + ln s)` rounds at the magnitude
/// of the max) and gradients that did not sum to zero.
#[test]
fn log_softmax_of_large_equal_logits_is_ln_half_in_f32() {
    for v in [-1e4f32, 1e4, -3.0e5, 7.5e6] {
        let tape = Tape::<f32>::new();
        let x = tape.param(Tensor::from_vec(vec![v, v], &[1, 2]).unwrap());
        let y = x.log_softmax(-1).unwrap();
        let got = y.value().data().to_vec();
        assert_eq!(got, vec![-std::f32::consts::LN_2; 2], "logits {v}");
        // d/dx of y_0: [1 - 1/2, -1/2]; the gradient of any log-softmax
        // output sums to zero over the axis
        let loss = y.narrow_first().sum_all().unwrap();
        let g = tape.backward(loss).unwrap().wrt(x).unwrap();
        let s: f32 = g.data().iter().sum();
        assert!(s.abs() <= 1e-7, "logits {v}: gradient sums to {s}");
    }
    // unequal large logits: as precise as f64 rounded to f32
    let xs = [-1e4f32, -1e4 + 1.5, -1e4 - 2.25, -1e4 + 0.125];
    let tape = Tape::<f32>::new();
    let y = tape
        .constant(Tensor::from_vec(xs.to_vec(), &[1, 4]).unwrap())
        .log_softmax(-1)
        .unwrap()
        .value();
    let x64: Vec<f64> = xs.iter().map(|&v| v as f64).collect();
    let m = x64.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let ls = x64.iter().map(|v| (v - m).exp()).sum::<f64>().ln();
    for (got, x) in y.data().iter().zip(&x64) {
        let want = (x - m) - ls;
        assert!(
            (*got as f64 - want).abs() <= 2.0 * f32::EPSILON as f64 * want.abs().max(1.0),
            "{got} vs {want}"
        );
    }
}

trait NarrowFirst<'t> {
    fn narrow_first(self) -> autograd::Var<'t, f32>;
}
impl<'t> NarrowFirst<'t> for autograd::Var<'t, f32> {
    /// `y[:, 0]` as a product with a one-hot constant (the ops the registry has).
    fn narrow_first(self) -> autograd::Var<'t, f32> {
        let mut m = vec![0.0f32; self.shape().iter().product()];
        m[0] = 1.0;
        let mask = self
            .tape()
            .constant(Tensor::from_vec(m, &self.shape()).unwrap());
        self.mul(mask).unwrap()
    }
}

/// `Grads::of` found gradients by storage address (now by tensor identity); a tensor allocated where
/// a freed parameter lived got that parameter's gradient (100 of 100 runs).
#[test]
fn grads_of_never_answers_for_a_tensor_allocated_after_the_parameter_was_freed() {
    for _ in 0..100 {
        let grads = {
            let w = Tensor::<f32>::ones(&[64]);
            let tape = Tape::new();
            let wv = tape.param(w);
            let loss = wv.mul_scalar(3.0).unwrap().sum_all().unwrap();
            tape.backward(loss).unwrap()
            // w and the tape (the only owners of its storage) are freed here
        };
        let fresh = Tensor::<f32>::zeros(&[64]);
        assert!(
            grads.of(&fresh).is_none(),
            "a new tensor received a freed parameter's gradient"
        );
    }
    // the parameter itself still finds it; a clone is another tensor
    let w = Tensor::<f32>::ones(&[3]);
    let tape = Tape::new();
    let loss = tape.param(&w).sum_all().unwrap();
    let grads = tape.backward(loss).unwrap();
    assert_eq!(grads.of(&w).unwrap().data(), &[1.0, 1.0, 1.0]);
    assert!(grads.of(&w.clone()).is_none());
}

struct OneLayer {
    fc: Linear<f32>,
}
nn::impl_module!(OneLayer: f32 { fc });

fn step_grads(m: &OneLayer, batch: usize) -> autograd::Grads<f32> {
    let tape = Tape::new();
    let x = tape.constant(Tensor::ones(&[batch, m.fc.weight.shape()[1]]));
    let out = m.fc.forward(&tape, x).unwrap();
    let labels = vec![0usize; batch];
    let loss = nn::cross_entropy(out, &labels).unwrap();
    tape.backward(loss).unwrap()
}

/// One `Sgd` reused on a model with the same parameter names but other
/// shapes returned Ok and updated only 12 of 30 weights (zip truncated).
#[test]
fn sgd_refuses_a_model_whose_shapes_changed_under_the_same_names() {
    let mut sgd = Sgd::<f32>::new(0.1).momentum(0.9);
    let mut small = OneLayer {
        fc: Linear::new(4, 3, Init::He, &mut rng(0)),
    };
    let g = step_grads(&small, 2);
    sgd.step(&mut small, &g).unwrap();
    let mut big = OneLayer {
        fc: Linear::new(6, 5, Init::He, &mut rng(1)),
    };
    let before = big.fc.weight.clone();
    let g = step_grads(&big, 2);
    let e = sgd.step(&mut big, &g).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Shape, "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains("fc.weight") && msg.contains("momentum buffer"),
        "{msg}"
    );
    assert_eq!(big.fc.weight.data(), before.data(), "nothing may change");
    // after zero_state the same optimizer takes the new model
    sgd.zero_state();
    sgd.step(&mut big, &g).unwrap();
    assert_ne!(big.fc.weight.data(), before.data());
}

/// `lr = inf`, `lr = 1e39` (inf in f32) and `dampening = NaN` were accepted
/// and turned every weight into NaN.
#[test]
fn sgd_refuses_hyper_parameters_that_are_not_finite_in_the_element_type() {
    let mut m = OneLayer {
        fc: Linear::new(4, 3, Init::He, &mut rng(0)),
    };
    let g = step_grads(&m, 2);
    let before = m.fc.weight.clone();
    for (what, sgd, needle) in [
        ("lr inf", Sgd::<f32>::new(f64::INFINITY), "lr"),
        ("lr 1e39", Sgd::new(1e39), "lr"),
        ("lr NaN", Sgd::new(f64::NAN), "lr"),
        ("lr -1", Sgd::new(-1.0), "lr"),
        (
            "dampening NaN",
            Sgd::new(0.1).momentum(0.9).dampening(f64::NAN),
            "dampening",
        ),
        (
            "momentum inf",
            Sgd::new(0.1).momentum(f64::INFINITY),
            "momentum",
        ),
        (
            "weight decay 1e40",
            Sgd::new(0.1).weight_decay(1e40),
            "weight_decay",
        ),
    ] {
        let mut sgd = sgd;
        let e = sgd.step(&mut m, &g).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{what}: {e}");
        let msg = e.to_string();
        assert!(msg.contains("sgd") && msg.contains(needle), "{what}: {msg}");
        assert_eq!(m.fc.weight.data(), before.data(), "{what}: weights changed");
    }
    // 1e39 is fine in f64
    let mut m64 = nn::Linear::<f64>::new(2, 2, Init::He, &mut rng(0));
    let tape = Tape::new();
    let loss = m64
        .forward(&tape, tape.constant(Tensor::ones(&[1, 2])))
        .unwrap()
        .sum_all()
        .unwrap();
    let g = tape.backward(loss).unwrap();
    drop(tape);
    Sgd::<f64>::new(1e39).step(&mut m64, &g).unwrap();
}

/// `eps = 0` was accepted and gave NaN on a constant channel.
#[test]
fn batch_norm_refuses_eps_that_is_not_positive() {
    for eps in [0.0, -1e-5, f64::NAN, f64::INFINITY] {
        let tape = Tape::<f32>::new();
        let x = tape.constant(Tensor::full(&[4, 2], 3.0));
        let (g, b) = (
            tape.param(Tensor::ones(&[2])),
            tape.param(Tensor::zeros(&[2])),
        );
        let mut st = BatchNormStats::<f32>::new(2);
        st.eps = eps;
        let e = ops::batch_norm(x, g, b, &mut st, true).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "eps {eps}: {e}");
        assert!(e.to_string().contains("eps"), "{e}");
    }
}

/// A trial on an empty training set drew empty epochs forever (a hang).
#[test]
fn a_search_trial_on_an_empty_training_set_is_an_error_not_a_hang() {
    let empty = data::Dataset::new(Tensor::zeros(&[0, 3, 32, 32]), vec![], 10).unwrap();
    let val = data::Dataset::new(Tensor::zeros(&[2, 3, 32, 32]), vec![0, 1], 10).unwrap();
    let make = |s: u64| train::models::LinearSoftmax::new(3072, 10, &mut rng(s));
    let cfg = train::babysit::TrialCfg {
        lr: 1e-3,
        reg: 0.0,
        iters: 10,
        batch: 4,
        momentum: 0.9,
        seed: 0,
    };
    let e = train::babysit::run_trial(&make, &empty, &val, cfg).unwrap_err();
    assert!(e.to_string().contains("empty training set"), "{e}");
}

/// Found by the `kernels` fuzz target: the backward pass of an empty batch
/// (n = 0) panicked on the Winograd and packed paths (the ones an AVX-512
/// CPU chooses automatically for f32).
#[test]
fn conv2d_of_an_empty_batch_has_empty_gradients_on_every_path() {
    use autograd::conv2d::{force_conv_path, ConvPath};
    for path in [ConvPath::Im2col, ConvPath::Packed, ConvPath::Winograd] {
        for (c, f, k) in [(8, 8, 3), (3, 5, 1), (2, 4, 3)] {
            let _g = force_conv_path(path);
            let tape = Tape::<f32>::new();
            let x = tape.param(Tensor::zeros(&[0, c, 5, 5]));
            let w = tape.param(Tensor::ones(&[f, c, k, k]));
            let b = tape.param(Tensor::ones(&[f]));
            let cfg = ops::Conv2dCfg::default().padding(k / 2);
            let y = ops::conv2d(x, w, Some(b), cfg).unwrap();
            assert_eq!(y.shape().as_slice(), &[0, f, 5, 5]);
            let g = tape.backward(y.sum_all().unwrap()).unwrap();
            assert_eq!(g.wrt(x).unwrap().shape(), &[0, c, 5, 5]);
            assert!(
                g.wrt(w).unwrap().data().iter().all(|&v| v == 0.0),
                "{path:?}"
            );
            assert!(
                g.wrt(b).unwrap().data().iter().all(|&v| v == 0.0),
                "{path:?}"
            );
        }
    }
}
