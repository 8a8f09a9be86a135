//! Adam, AdamW, RMSprop and Adagrad against hand-computed two-step
//! trajectories of torch.optim's update rules (closed forms worked out in
//! the comments, in f64), and their errors.

mod common;

use autograd::{ErrorKind, Tape, Tensor};
use common::{close, grads_for, P};
use optim::{Adagrad, Adam, AdamW, Optimizer, RmsProp};

fn p(v: &[f64]) -> P {
    P(Tensor::from_vec(v.to_vec(), &[v.len()]).unwrap())
}

fn step(opt: &mut dyn Optimizer<f64>, m: &mut P, c: &[f64]) {
    let g = grads_for(m, c);
    opt.step(m, &g).unwrap();
}

const EPS: f64 = 1e-8;

#[test]
fn adam_two_steps_constant_gradient() {
    // m_t / (1 - b1^t) = g and sqrt(v_t / (1 - b2^t)) = |g| for a constant
    // gradient, so each step is lr * g / (|g| + eps)
    let c = [0.5, -0.25];
    let mut m = p(&[1.0, -2.0]);
    let mut opt = Adam::new(0.1);
    let mut want = [1.0, -2.0];
    for _ in 0..2 {
        step(&mut opt, &mut m, &c);
        for i in 0..2 {
            want[i] -= 0.1 * c[i] / (c[i].abs() + EPS);
        }
        close(m.0.data(), &want);
    }
    assert_eq!(opt.state["p"].step, 2);
    // maximize: the same steps upwards
    let mut m = p(&[1.0, -2.0]);
    let mut opt = Adam::new(0.1).maximize(true);
    step(&mut opt, &mut m, &c);
    close(
        m.0.data(),
        &[
            1.0 + 0.1 * 0.5 / (0.5 + EPS),
            -2.0 - 0.1 * 0.25 / (0.25 + EPS),
        ],
    );
}

#[test]
fn adam_l2_weight_decay_two_steps() {
    let (c, wd, lr) = (0.5, 0.1, 0.1);
    let mut m = p(&[1.0]);
    let mut opt = Adam::new(lr).weight_decay(wd);
    // step 1: g1 = c + wd p0; the bias-corrected step is lr g1 / (|g1| + eps)
    let g1 = c + wd * 1.0;
    let p1 = 1.0 - lr * g1 / (g1.abs() + EPS);
    step(&mut opt, &mut m, &[c]);
    close(m.0.data(), &[p1]);
    // step 2: g2 = c + wd p1; m2 = 0.9*0.1 g1 + 0.1 g2; v2 = 0.999*0.001 g1^2 + 0.001 g2^2
    let g2 = c + wd * p1;
    let m2 = 0.09 * g1 + 0.1 * g2;
    let v2 = 0.999 * 0.001 * g1 * g1 + 0.001 * g2 * g2;
    let (bc1, bc2) = (1.0 - 0.81, 1.0 - 0.998001);
    let p2 = p1 - (lr / bc1) * m2 / ((v2 / bc2).sqrt() + EPS);
    step(&mut opt, &mut m, &[c]);
    close(m.0.data(), &[p2]);
}

#[test]
fn adamw_decays_the_weights_outside_the_moments() {
    // p_t = p_{t-1} (1 - lr wd) - lr c / (|c| + eps) with a constant gradient
    let (c, lr) = (0.5, 0.1);
    let mut m = p(&[1.0]);
    let mut opt = AdamW::new(lr).weight_decay(0.1);
    assert_eq!(Optimizer::<f64>::name(&opt), "adamw");
    let mut want = 1.0;
    for _ in 0..2 {
        step(&mut opt, &mut m, &[c]);
        want = want * (1.0 - lr * 0.1) - lr * c / (c + EPS);
        close(m.0.data(), &[want]);
    }
    // PyTorch's default weight decay for AdamW is 1e-2
    assert_eq!(AdamW::new::<f32>(1e-3).weight_decay, 1e-2);
}

#[test]
fn amsgrad_keeps_the_largest_second_moment() {
    // g1 = 2, g2 = 0.01: v2 = 0.999 * 0.004 + 0.001 * 1e-4 = 0.0039961 < v1 = 0.004
    let lr = 0.1;
    let run = |ams: bool| {
        let mut m = p(&[0.0]);
        let mut opt = Adam::new(lr).amsgrad(ams);
        step(&mut opt, &mut m, &[2.0]);
        step(&mut opt, &mut m, &[0.01]);
        m.0.data()[0]
    };
    let p1 = -lr * 2.0 / (2.0 + EPS);
    let m2 = 0.9 * 0.2 + 0.1 * 0.01;
    let (v1, v2): (f64, f64) = (0.004, 0.999 * 0.004 + 0.001 * 1e-4);
    let (bc1, bc2) = (0.19, 1.0 - 0.998001);
    let with_max = p1 - (lr / bc1) * m2 / ((v1 / bc2).sqrt() + EPS);
    let without = p1 - (lr / bc1) * m2 / ((v2 / bc2).sqrt() + EPS);
    assert!((run(true) - with_max).abs() < 1e-12);
    assert!((run(false) - without).abs() < 1e-12);
    assert!(with_max != without);
}

#[test]
fn rmsprop_plain_two_steps() {
    // s1 = 0.01 g^2, s2 = 0.0199 g^2; p -= lr g / (sqrt(s) + eps)
    let (g, lr) = (0.5, 0.01);
    let mut m = p(&[1.0]);
    let mut opt = RmsProp::new(lr);
    let p1 = 1.0 - lr * g / ((0.01f64 * g * g).sqrt() + EPS);
    step(&mut opt, &mut m, &[g]);
    close(m.0.data(), &[p1]);
    let p2 = p1 - lr * g / ((0.0199f64 * g * g).sqrt() + EPS);
    step(&mut opt, &mut m, &[g]);
    close(m.0.data(), &[p2]);
}

#[test]
fn rmsprop_centered_with_momentum_two_steps() {
    // centered: a1 = 0.01 g, a2 = 0.0199 g; d = sqrt(s - a^2) + eps
    // momentum 0.9: buf1 = g / d1, buf2 = 0.9 buf1 + g / d2; p -= lr buf
    let (g, lr): (f64, f64) = (-0.5, 0.01);
    let mut m = p(&[1.0]);
    let mut opt = RmsProp::new(lr).centered(true).momentum(0.9);
    let d1 = (0.01 * g * g - (0.01 * g) * (0.01 * g)).sqrt() + EPS;
    let buf1 = g / d1;
    let p1 = 1.0 - lr * buf1;
    step(&mut opt, &mut m, &[g]);
    close(m.0.data(), &[p1]);
    let d2 = (0.0199 * g * g - (0.0199 * g) * (0.0199 * g)).sqrt() + EPS;
    let buf2 = 0.9 * buf1 + g / d2;
    step(&mut opt, &mut m, &[g]);
    close(m.0.data(), &[p1 - lr * buf2]);
}

#[test]
fn adagrad_with_lr_decay_and_initial_accumulator_two_steps() {
    // s starts at 0.1; clr_t = lr / (1 + (t-1) lr_decay)
    let (g, lr, eps) = (0.5, 0.1, 1e-10);
    let mut m = p(&[1.0]);
    let mut opt = Adagrad::new(lr)
        .lr_decay(0.5)
        .initial_accumulator_value(0.1);
    let p1 = 1.0 - lr * g / ((0.1f64 + g * g).sqrt() + eps);
    step(&mut opt, &mut m, &[g]);
    close(m.0.data(), &[p1]);
    let p2 = p1 - (lr / 1.5) * g / ((0.1f64 + 2.0 * g * g).sqrt() + eps);
    step(&mut opt, &mut m, &[g]);
    close(m.0.data(), &[p2]);
    // weight decay: g + wd p
    let mut m = p(&[2.0]);
    let mut opt = Adagrad::new(lr).weight_decay(0.1);
    step(&mut opt, &mut m, &[g]);
    let gw = g + 0.1 * 2.0;
    close(m.0.data(), &[2.0 - lr * gw / ((gw * gw).sqrt() + eps)]);
}

#[test]
fn bad_hyper_parameters_and_changed_shapes_are_errors_that_change_nothing() {
    let mut m = p(&[1.0, 2.0]);
    let g = {
        let tape = Tape::new();
        let v = tape.param(&m.0);
        tape.backward(ops::sum_all(v).unwrap()).unwrap()
    };
    let cases: Vec<(Box<dyn Optimizer<f64>>, &str)> = vec![
        (Box::new(Adam::new(0.1).betas(1.0, 0.999)), "beta1"),
        (Box::new(Adam::new(0.1).betas(0.9, -0.1)), "beta2"),
        (Box::new(Adam::new(f64::NAN)), "lr"),
        (Box::new(AdamW::new(0.1).weight_decay(-1.0)), "weight_decay"),
        (Box::new(RmsProp::new(0.1).alpha(-0.5)), "alpha"),
        (
            Box::new(RmsProp::new(0.1).momentum(f64::INFINITY)),
            "momentum",
        ),
        (Box::new(Adagrad::new(0.1).lr_decay(-1.0)), "lr_decay"),
        (
            Box::new(Adagrad::new(0.1).initial_accumulator_value(-1.0)),
            "initial_accumulator_value",
        ),
    ];
    for (mut opt, field) in cases {
        let e = opt.step(&mut m, &g).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
        assert!(e.to_string().contains(field), "{e}");
        assert_eq!(m.0.data(), &[1.0, 2.0]);
    }
    // state from a model of another shape under the same name
    let mut opt = Adam::new(0.1);
    opt.step(&mut m, &g).unwrap();
    let mut other = p(&[1.0, 2.0, 3.0]);
    let g3 = {
        let tape = Tape::new();
        let v = tape.param(&other.0);
        tape.backward(ops::sum_all(v).unwrap()).unwrap()
    };
    let e = opt.step(&mut other, &g3).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Shape, "{e}");
    assert!(e.to_string().contains("optimizer state of p"), "{e}");
    assert_eq!(other.0.data(), &[1.0, 2.0, 3.0]);
    opt.zero_state();
    opt.step(&mut other, &g3).unwrap();
}

#[test]
fn learning_rate_and_ratios_through_the_trait() {
    let mut opt: Box<dyn Optimizer<f64>> = Box::new(RmsProp::new(0.01));
    opt.set_lr(0.02);
    assert_eq!(opt.lr(), 0.02);
    let mut m = p(&[3.0, 4.0]);
    step(opt.as_mut(), &mut m, &[1.0, 1.0]);
    let (name, r) = &opt.update_ratios()[0];
    assert_eq!(name, "p");
    // update of each element 0.02 / (0.1 + eps), over ||(3, 4)|| = 5
    let u = 0.02 / (0.1 + EPS);
    assert!((r - (2.0f64).sqrt() * u / 5.0).abs() < 1e-12, "{r}");
}

/// Three steps of each optimizer with uncommon settings, against
/// torch.optim 2.15.0 in float64 (printed by this script, run here):
///
/// ```text
/// torch.set_default_dtype(torch.float64)
/// p = torch.nn.Parameter(torch.tensor([1.0, -2.0, 0.5])); opt = make([p])
/// for t in range(3):
///     p.grad = torch.tensor([0.3, -0.7, 0.1]) * (1 + 0.5 * t); opt.step()
/// ```
#[test]
#[allow(clippy::type_complexity)]
fn three_steps_match_torch_optim() {
    let cases: Vec<(&str, Box<dyn Optimizer<f64>>, [f64; 3])> = vec![
        (
            "Adam(lr=0.01, betas=(0.8, 0.95), eps=1e-6, weight_decay=0.02, amsgrad=True)",
            Box::new(Adam::new(0.01).betas(0.8, 0.95).eps(1e-6).weight_decay(0.02).amsgrad(true)),
            [0.9699842745698103, -1.9699875254150918, 0.4699735395590361],
        ),
        (
            "AdamW(lr=0.05, betas=(0.3, 0.9), weight_decay=0.1)",
            Box::new(AdamW::new(0.05).betas(0.3, 0.9).weight_decay(0.1)),
            [0.8245435478721708, -1.8096184204478538, 0.33200611885727926],
        ),
        (
            "RMSprop(lr=0.02, alpha=0.9, eps=1e-7, weight_decay=0.01, momentum=0.5, centered=True)",
            Box::new(RmsProp::new(0.02).alpha(0.9).eps(1e-7).weight_decay(0.01).momentum(0.5).centered(true)),
            [0.7391472063272979, -1.739048054453117, 0.23949227975507562],
        ),
        (
            "Adagrad(lr=0.05, lr_decay=0.1, weight_decay=0.03, initial_accumulator_value=0.2, eps=1e-9, maximize=True)",
            Box::new(
                Adagrad::new(0.05)
                    .lr_decay(0.1)
                    .weight_decay(0.03)
                    .initial_accumulator_value(0.2)
                    .eps(1e-9)
                    .maximize(true),
            ),
            [1.0812502283544818, -2.1069908916788105, 0.5373167234075411],
        ),
        (
            "Adam(lr=0.02, maximize=True)",
            Box::new(Adam::new(0.02).maximize(true)),
            [1.059561081785141, -2.059561082704041, 0.5595610785689936],
        ),
    ];
    for (what, mut opt, torch) in cases {
        let mut m = p(&[1.0, -2.0, 0.5]);
        for t in 0..3 {
            let s = 1.0 + 0.5 * t as f64;
            step(opt.as_mut(), &mut m, &[0.3 * s, -0.7 * s, 0.1 * s]);
        }
        for (a, b) in m.0.data().iter().zip(torch) {
            assert!(
                (a - b).abs() <= 1e-14,
                "{what}: {:?} vs torch {torch:?}",
                m.0.data()
            );
        }
    }
}
