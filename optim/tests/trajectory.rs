//! SGD against hand-computed two-step trajectories (PyTorch's update rule).

mod common;

use autograd::Tensor;
use common::{close, grads_for, P};
use optim::Sgd;

#[test]
fn momentum_and_weight_decay_two_steps() {
    // p0 = [1, -2], g = [0.5, 0.25], lr 0.1, momentum 0.9, wd 0.01
    let mut p = P(Tensor::from_vec(vec![1.0, -2.0], &[2]).unwrap());
    let mut sgd = Sgd::new(0.1).momentum(0.9).weight_decay(0.01);
    let c = [0.5, 0.25];
    // step 1: d = g + wd p = [0.51, 0.23]; buf = d; p = p - 0.1 d = [0.949, -2.023]
    let g = grads_for(&p, &c);
    sgd.step(&mut p, &g).unwrap();
    close(p.0.data(), &[0.949, -2.023]);
    // step 2: d = [0.5 + 0.00949, 0.25 - 0.02023] = [0.50949, 0.22977]
    // buf = 0.9 [0.51, 0.23] + d = [0.96849, 0.43677]; p = p - 0.1 buf
    let g = grads_for(&p, &c);
    sgd.step(&mut p, &g).unwrap();
    close(p.0.data(), &[0.949 - 0.096849, -2.023 - 0.043677]);
    // update ratio of step 2: ||0.1 buf|| / ||p before||
    let want = (0.096849f64.powi(2) + 0.043677f64.powi(2)).sqrt()
        / (0.949f64.powi(2) + 2.023f64.powi(2)).sqrt();
    assert!((sgd.update_ratios()[0].1 - want).abs() < 1e-12);
}

#[test]
fn nesterov_two_steps() {
    // p0 = [1], g = 2, lr 0.1, momentum 0.5, nesterov
    let mut p = P(Tensor::from_vec(vec![1.0], &[1]).unwrap());
    let mut sgd = Sgd::new(0.1).momentum(0.5).nesterov(true);
    // step 1: buf = 2; d = 2 + 0.5 * 2 = 3; p = 1 - 0.3 = 0.7
    let g = grads_for(&p, &[2.0]);
    sgd.step(&mut p, &g).unwrap();
    close(p.0.data(), &[0.7]);
    // step 2: buf = 0.5 * 2 + 2 = 3; d = 2 + 0.5 * 3 = 3.5; p = 0.7 - 0.35 = 0.35
    let g = grads_for(&p, &[2.0]);
    sgd.step(&mut p, &g).unwrap();
    close(p.0.data(), &[0.35]);
}

#[test]
fn plain_sgd_and_dampening() {
    let mut p = P(Tensor::from_vec(vec![1.0], &[1]).unwrap());
    let mut sgd = Sgd::new(0.5).momentum(0.9).dampening(0.5);
    // step 1: buf = g = 1 (no dampening on the first step, as PyTorch); p = 0.5
    let g = grads_for(&p, &[1.0]);
    sgd.step(&mut p, &g).unwrap();
    close(p.0.data(), &[0.5]);
    // step 2: buf = 0.9 + 0.5 * 1 = 1.4; p = 0.5 - 0.7 = -0.2
    let g = grads_for(&p, &[1.0]);
    sgd.step(&mut p, &g).unwrap();
    close(p.0.data(), &[-0.2]);
}

#[test]
fn bad_hyper_parameters_are_errors() {
    let mut p = P(Tensor::from_vec(vec![1.0], &[1]).unwrap());
    let g = grads_for(&p, &[1.0]);
    let e = Sgd::new(-1.0).step(&mut p, &g).unwrap_err();
    assert!(e.to_string().contains("sgd: lr -1"), "{e}");
    let e = Sgd::new(0.1).nesterov(true).step(&mut p, &g).unwrap_err();
    assert!(e.to_string().contains("Nesterov"), "{e}");
    assert_eq!(p.0.data(), &[1.0]);
}
