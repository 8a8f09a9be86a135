//! Parameter groups (per-group lr and weight decay, scheduled per group,
//! checkpointed by name) and the refusal of gradients of parameters that
//! the model does not list.

use autograd::{Tape, Tensor};
use nn::{Init, Linear, Module};
use optim::schedule::apply_schedule;
use optim::{Adagrad, Adam, AdamW, Cosine, LrSchedule, Optimizer, ParamGroup, RmsProp, Sgd};
use rand::SeedableRng;

/// A weight `[1, 2]` and a bias `[2]`, loss `sum(cw * w) + sum(cb * b)`.
struct Wb {
    w: Tensor<f64>,
    b: Tensor<f64>,
}

impl Module<f64> for Wb {
    fn visit(&self, _: &str, f: &mut dyn FnMut(&str, &Tensor<f64>)) {
        f("w", &self.w);
        f("b", &self.b);
    }
    fn visit_mut(&mut self, _: &str, f: &mut dyn FnMut(&str, &mut Tensor<f64>)) {
        f("w", &mut self.w);
        f("b", &mut self.b);
    }
    fn visit_buffers(&self, _: &str, _: &mut dyn FnMut(&str, &Tensor<f64>)) {}
    fn visit_buffers_mut(&mut self, _: &str, _: &mut dyn FnMut(&str, &mut Tensor<f64>)) {}
}

const CW: [f64; 2] = [0.5, -2.0];
const CB: [f64; 2] = [3.0, -0.25];

fn model() -> Wb {
    Wb {
        w: Tensor::from_vec(vec![1.0, -1.5], &[1, 2]).unwrap(),
        b: Tensor::from_vec(vec![0.25, 2.0], &[2]).unwrap(),
    }
}

fn step(opt: &mut dyn Optimizer<f64>, m: &mut Wb) {
    let grads = {
        let tape = Tape::new();
        let cw = tape.constant(Tensor::from_vec(CW.to_vec(), &[1, 2]).unwrap());
        let cb = tape.constant(Tensor::from_vec(CB.to_vec(), &[2]).unwrap());
        let lw = ops::sum_all(ops::mul(tape.param(&m.w), cw).unwrap()).unwrap();
        let lb = ops::sum_all(ops::mul(tape.param(&m.b), cb).unwrap()).unwrap();
        tape.backward(ops::add(lw, lb).unwrap()).unwrap()
    };
    opt.step(m, &grads).unwrap();
}

fn close(a: &[f64], b: &[f64]) {
    for (x, y) in a.iter().zip(b) {
        assert!((x - y).abs() < 1e-12, "{a:?} vs {b:?}");
    }
}

fn expect(before: &Tensor<f64>, f: impl Fn(f64, f64) -> f64, c: &[f64]) -> Vec<f64> {
    before
        .data()
        .iter()
        .zip(c)
        .map(|(&p, &g)| f(p, g))
        .collect()
}

#[test]
fn sgd_without_weight_decay_on_biases() {
    let (lr, wd) = (0.1, 0.5);
    let mut m = model();
    let (w0, b0) = (m.w.clone(), m.b.clone());
    let mut opt = Sgd::new(lr)
        .weight_decay(wd)
        .group(ParamGroup::no_decay_on_biases_and_norms());
    step(&mut opt, &mut m);
    close(m.w.data(), &expect(&w0, |p, g| p - lr * (g + wd * p), &CW));
    close(m.b.data(), &expect(&b0, |p, g| p - lr * g, &CB));
}

#[test]
fn a_group_learning_rate_applies_to_its_parameters_only() {
    let mut m = model();
    let (w0, b0) = (m.w.clone(), m.b.clone());
    let mut opt = Sgd::new(0.1).group(ParamGroup::new("bias", |n, _| n == "b").lr(1.0));
    step(&mut opt, &mut m);
    close(m.w.data(), &expect(&w0, |p, g| p - 0.1 * g, &CW));
    close(m.b.data(), &expect(&b0, |p, g| p - 1.0 * g, &CB));
    // the first group that selects a parameter wins
    let opt = Sgd::<f64>::new(0.1)
        .group(ParamGroup::new("first", |_, s| s.len() == 1).lr(0.5))
        .group(ParamGroup::new("second", |_, _| true).lr(0.7));
    assert_eq!(opt.hyper_of("b", &[2]).lr, 0.5);
    assert_eq!(opt.hyper_of("w", &[1, 2]).lr, 0.7);
}

#[test]
fn adaptive_optimizers_take_each_groups_rate_and_decay() {
    let eps = 1e-8;
    // Adam's first step: p -= lr g / (|g| + eps)
    let mut m = model();
    let (w0, b0) = (m.w.clone(), m.b.clone());
    let mut opt = Adam::new(1e-3).group(ParamGroup::new("b", |n, _| n == "b").lr(1e-2));
    step(&mut opt, &mut m);
    close(
        m.w.data(),
        &expect(&w0, |p, g| p - 1e-3 * g / (g.abs() + eps), &CW),
    );
    close(
        m.b.data(),
        &expect(&b0, |p, g| p - 1e-2 * g / (g.abs() + eps), &CB),
    );

    // AdamW: decoupled decay only outside the no-decay group
    let mut m = model();
    let mut opt = AdamW::new(1e-3).group(ParamGroup::no_decay_on_biases_and_norms());
    step(&mut opt, &mut m);
    let w_exp = expect(
        &w0,
        |p, g| p * (1.0 - 1e-3 * 1e-2) - 1e-3 * g / (g.abs() + eps),
        &CW,
    );
    close(m.w.data(), &w_exp);
    close(
        m.b.data(),
        &expect(&b0, |p, g| p - 1e-3 * g / (g.abs() + eps), &CB),
    );

    // RMSprop's first step: s = (1 - alpha) g^2, p -= lr g / (sqrt(s) + eps)
    let mut m = model();
    let mut opt = RmsProp::new(1e-2).group(ParamGroup::new("b", |n, _| n == "b").lr(0.1));
    step(&mut opt, &mut m);
    let rms = |lr: f64| move |p: f64, g: f64| p - lr * (g / ((0.01 * g * g).sqrt() + eps));
    close(m.w.data(), &expect(&w0, rms(1e-2), &CW));
    close(m.b.data(), &expect(&b0, rms(0.1), &CB));

    // Adagrad's first step with L2 decay on the weight only
    let mut m = model();
    let mut opt = Adagrad::new(0.1)
        .weight_decay(0.5)
        .group(ParamGroup::new("b", |n, _| n == "b").weight_decay(0.0));
    step(&mut opt, &mut m);
    let ada = |wd: f64| {
        move |p: f64, g: f64| {
            let d = g + wd * p;
            p - 0.1 * (d / ((d * d).sqrt() + 1e-10))
        }
    };
    close(m.w.data(), &expect(&w0, ada(0.5), &CW));
    close(m.b.data(), &expect(&b0, ada(0.0), &CB));
}

#[test]
fn schedules_act_on_every_group_from_its_own_starting_rate() {
    let mut opt = Sgd::<f64>::new(0.1).group(ParamGroup::new("head", |n, _| n == "b").lr(1.0));
    let sched = Cosine {
        base: 0.1,
        t_max: 10,
        eta_min: 0.01,
    };
    for t in 0..=12 {
        apply_schedule(&mut opt, &sched, t);
        let c = (1.0 + (std::f64::consts::PI * t.min(10) as f64 / 10.0).cos()) / 2.0;
        // torch.optim.lr_scheduler.CosineAnnealingLR's closed form per group
        assert!((opt.lr() - (0.01 + (0.1 - 0.01) * c)).abs() < 1e-15);
        let head = opt.groups()[0].lr.unwrap();
        assert!(
            (head - (0.01 + (1.0 - 0.01) * c)).abs() < 1e-15,
            "t={t}: {head}"
        );
        assert_eq!(sched.lr(t), opt.lr());
    }
    // a group without a rate of its own follows the optimizer's
    let mut opt = Sgd::<f64>::new(0.1).group(ParamGroup::no_decay_on_biases_and_norms());
    apply_schedule(&mut opt, &sched, 5);
    assert_eq!(opt.groups()[0].lr, None);
    assert_eq!(opt.hyper_of("b", &[2]).lr, opt.lr());
}

#[test]
fn group_rates_are_checkpointed_by_group_name() {
    let build = || Adam::<f64>::new(1e-3).group(ParamGroup::new("head", |n, _| n == "b").lr(1e-2));
    let mut opt = build();
    let mut m = model();
    step(&mut opt, &mut m);
    opt.groups_mut()[0].lr = Some(3e-3); // as a schedule would
    let st = opt.state();
    assert_eq!(st.values["group.head.lr"], "3e-3");

    let mut restored = build();
    restored.load_state(&st).unwrap();
    assert_eq!(restored.groups()[0].lr, Some(3e-3));
    assert_eq!(restored.groups()[0].initial_lr, Some(1e-2));
    // and it steps exactly as the original
    let mut m2 = Wb {
        w: m.w.clone(),
        b: m.b.clone(),
    };
    step(&mut opt, &mut m);
    step(&mut restored, &mut m2);
    assert_eq!(m.b.data(), m2.b.data());

    // an optimizer built without the group refuses the state, unchanged
    let mut other = Adam::<f64>::new(5e-4);
    let e = other.load_state(&st).unwrap_err().to_string();
    assert!(e.contains("\"head\""), "{e}");
    assert_eq!(other.lr, 5e-4);
    assert!(other.state.is_empty());
}

#[test]
fn bad_groups_are_refused_naming_the_group() {
    let mut m = model();
    let w0 = m.w.clone();
    let grads = {
        let tape = Tape::new();
        let l = ops::sum_all(tape.param(&m.w)).unwrap();
        tape.backward(l).unwrap()
    };
    let mut opt = Sgd::new(0.1).group(ParamGroup::new("head", |_, _| true).lr(-1.0));
    let e = opt.step(&mut m, &grads).unwrap_err().to_string();
    assert!(e.contains("group head lr"), "{e}");
    let mut opt = Adam::new(0.1)
        .group(ParamGroup::new("x", |_, _| true))
        .group(ParamGroup::new("x", |_, _| false));
    let e = opt.step(&mut m, &grads).unwrap_err().to_string();
    assert!(e.contains("two parameter groups are named \"x\""), "{e}");
    assert_eq!(m.w.data(), w0.data());
}

struct LeftOut {
    fc1: Linear<f32>,
    fc2: Linear<f32>,
}

// a hand-written Module that forgets fc2 (nn::impl_module! would not
// compile without it): fc2 would be neither trained nor saved
impl Module<f32> for LeftOut {
    fn visit(&self, p: &str, f: &mut dyn FnMut(&str, &Tensor<f32>)) {
        self.fc1.visit(&nn::join(p, "fc1"), f)
    }
    fn visit_mut(&mut self, p: &str, f: &mut dyn FnMut(&str, &mut Tensor<f32>)) {
        self.fc1.visit_mut(&nn::join(p, "fc1"), f)
    }
    fn visit_buffers(&self, _: &str, _: &mut dyn FnMut(&str, &Tensor<f32>)) {}
    fn visit_buffers_mut(&mut self, _: &str, _: &mut dyn FnMut(&str, &mut Tensor<f32>)) {}
}

#[test]
fn a_parameter_the_model_does_not_list_is_an_error_naming_it() {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
    let mut m = LeftOut {
        fc1: Linear::new(4, 3, Init::He, &mut rng),
        fc2: Linear::new(3, 2, Init::He, &mut rng),
    };
    let grads = {
        let tape = Tape::new();
        let x = tape.constant(Tensor::ones(&[2, 4]));
        let h = m.fc1.forward(&tape, x).unwrap();
        let loss = nn::cross_entropy(m.fc2.forward(&tape, h).unwrap(), &[0, 1]).unwrap();
        tape.backward(loss).unwrap()
    };
    let w0 = m.fc1.weight.clone();
    let opts: Vec<Box<dyn Optimizer<f32>>> = vec![
        Box::new(Sgd::new(0.1)),
        Box::new(Adam::new(0.1)),
        Box::new(RmsProp::new(0.1)),
        Box::new(Adagrad::new(0.1)),
    ];
    for mut opt in opts {
        let e = opt.step(&mut m, &grads).unwrap_err().to_string();
        assert!(
            e.contains("2 tensor(s)") && e.contains("[2, 3]") && e.contains("[2]"),
            "{}: {e}",
            opt.name()
        );
        assert!(e.starts_with(opt.name()), "{e}");
        assert_eq!(m.fc1.weight.data(), w0.data(), "nothing may change");
    }
}

#[test]
fn inputs_that_need_a_gradient_are_not_parameters() {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(4);
    let mut fc = Linear::<f32>::new(4, 2, Init::He, &mut rng);
    let tape = Tape::new();
    // a saliency map: the gradient with respect to the image
    let x = tape.grad_input(Tensor::ones(&[1, 4]));
    let loss = nn::cross_entropy(fc.forward(&tape, x).unwrap(), &[1]).unwrap();
    let grads = tape.backward(loss).unwrap();
    assert_eq!(grads.wrt(x).unwrap().shape(), &[1, 4]);
    Sgd::new(0.1).step(&mut fc, &grads).unwrap();
}
