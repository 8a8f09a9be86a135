//! The one-parameter model the optimizer trajectory tests step.
#![allow(dead_code)]

use autograd::{Tape, Tensor};
use nn::Module;

/// One parameter vector with loss L = sum(c * p), so dL/dp = c.
pub struct P(pub Tensor<f64>);

impl Module<f64> for P {
    fn visit(&self, _: &str, f: &mut dyn FnMut(&str, &Tensor<f64>)) {
        f("p", &self.0)
    }
    fn visit_mut(&mut self, _: &str, f: &mut dyn FnMut(&str, &mut Tensor<f64>)) {
        f("p", &mut self.0)
    }
    fn visit_buffers(&self, _: &str, _: &mut dyn FnMut(&str, &Tensor<f64>)) {}
    fn visit_buffers_mut(&mut self, _: &str, _: &mut dyn FnMut(&str, &mut Tensor<f64>)) {}
}

/// The gradients of L = sum(c * p): c.
pub fn grads_for(p: &P, c: &[f64]) -> autograd::Grads<f64> {
    let tape = Tape::new();
    let v = tape.param(&p.0);
    let cv = tape.constant(Tensor::from_vec(c.to_vec(), &[c.len()]).unwrap());
    let loss = ops::sum_all(ops::mul(v, cv).unwrap()).unwrap();
    tape.backward(loss).unwrap()
}

/// Element-wise within 1e-12.
pub fn close(a: &[f64], b: &[f64]) {
    for (x, y) in a.iter().zip(b) {
        assert!((x - y).abs() < 1e-12, "{a:?} vs {b:?}");
    }
}
