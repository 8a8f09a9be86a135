//! Stochastic gradient descent with PyTorch's exact semantics
//! (`torch.optim.SGD`).
//!
//! For each parameter `p` with gradient `g`, at step t:
//! ```text
//! d = g + weight_decay * p                       (L2 regularisation)
//! if momentum != 0:
//!     buf = d                                    (t = 1)
//!     buf = momentum * buf + (1 - dampening) * d (t > 1)
//!     d = d + momentum * buf  if nesterov  else  buf
//! p = p - lr * d
//! ```
//! Parameters that received no gradient are skipped (as PyTorch skips
//! `grad is None`). After each step, [`Sgd::update_ratios`] holds, per
//! parameter, `||lr * d|| / ||p||` (the update actually applied over the
//! weight before it; the lecture wants about 1e-3). With plain SGD and no
//! weight decay `d` is the gradient.

use std::collections::HashMap;

use autograd::{Element, Error, Grads, Result, Tensor};
use nn::Module;

use crate::adaptive::{add_l2, check, nonneg};
use crate::groups::{check_groups, gather, ratio, resolve, Hyper};
use crate::ParamGroup;

/// SGD optimizer state and hyper-parameters.
///
/// ```
/// use autograd::{Tape, Tensor};
/// use nn::{Init, Linear};
/// use optim::Sgd;
/// use rand::SeedableRng;
/// let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
/// let mut fc = Linear::<f32>::new(4, 2, Init::Xavier, &mut rng);
/// let mut sgd = Sgd::new(0.1).momentum(0.9).weight_decay(5e-4);
/// let grads = {
///     let tape = Tape::new();
///     let x = tape.constant(Tensor::ones(&[3, 4]));
///     let loss = nn::cross_entropy(fc.forward(&tape, x)?, &[0, 1, 0])?;
///     tape.backward(loss)?
/// };
/// sgd.step(&mut fc, &grads)?;
/// assert_eq!(sgd.update_ratios().len(), 2); // weight and bias
/// # Ok::<(), autograd::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Sgd<T: Element> {
    /// Learning rate.
    pub lr: f64,
    /// Momentum factor (0 = none).
    pub momentum: f64,
    /// Dampening of the momentum update.
    pub dampening: f64,
    /// L2 penalty added to the gradient: `g + weight_decay * p`.
    pub weight_decay: f64,
    /// Nesterov momentum.
    pub nesterov: bool,
    /// Momentum buffers by parameter name.
    pub buffers: HashMap<String, Tensor<T>>,
    /// Steps taken.
    pub steps: u64,
    /// Parameter groups with their own lr / weight decay.
    pub groups: Vec<ParamGroup>,
    ratios: Vec<(String, f64)>,
}

impl<T: Element> Sgd<T> {
    /// Plain SGD with learning rate `lr`.
    pub fn new(lr: f64) -> Self {
        Sgd {
            lr,
            momentum: 0.0,
            dampening: 0.0,
            weight_decay: 0.0,
            nesterov: false,
            buffers: HashMap::new(),
            steps: 0,
            groups: Vec::new(),
            ratios: Vec::new(),
        }
    }
    /// Sets the momentum.
    pub fn momentum(mut self, m: f64) -> Self {
        self.momentum = m;
        self
    }
    /// Sets the L2 weight decay.
    pub fn weight_decay(mut self, wd: f64) -> Self {
        self.weight_decay = wd;
        self
    }
    /// Turns Nesterov momentum on or off.
    pub fn nesterov(mut self, on: bool) -> Self {
        self.nesterov = on;
        self
    }
    /// Sets the dampening.
    pub fn dampening(mut self, d: f64) -> Self {
        self.dampening = d;
        self
    }
    /// Adds a parameter group (see [`ParamGroup`]).
    pub fn group(mut self, g: ParamGroup) -> Self {
        self.groups.push(g);
        self
    }

    /// `(name, ||update|| / ||weight||)` for each parameter updated by the last step.
    pub fn update_ratios(&self) -> &[(String, f64)] {
        &self.ratios
    }

    /// Forgets the momentum buffers and the step count (as a new optimizer
    /// with the same hyper-parameters).
    pub fn zero_state(&mut self) {
        self.buffers.clear();
        self.steps = 0;
        self.ratios.clear();
    }

    /// Every hyper-parameter must be finite, at least 0 (dampening: any
    /// finite value), and finite in `T` too: `lr = 1e39` is
    /// infinite in f32 and would turn every weight into NaN.
    #[track_caller]
    fn check_hyper_parameters(&self) -> Result<()> {
        nonneg::<T>("sgd", "lr", self.lr)?;
        nonneg::<T>("sgd", "momentum", self.momentum)?;
        nonneg::<T>("sgd", "weight_decay", self.weight_decay)?;
        check::<T>("sgd", "dampening", self.dampening, true, "a finite number")
    }

    /// Updates every parameter of `model` that has a gradient in `grads`.
    ///
    /// Errors (changing nothing) on invalid hyper-parameters (negative, NaN,
    /// infinite, or infinite once rounded to `T`), on a gradient or momentum
    /// buffer whose shape differs from its parameter (a model whose shapes
    /// changed since the last step), or with Nesterov momentum without
    /// momentum or with dampening (as PyTorch).
    #[track_caller]
    pub fn step<M: Module<T> + ?Sized>(&mut self, model: &mut M, grads: &Grads<T>) -> Result<()> {
        self.check_hyper_parameters()?;
        if self.nesterov && (self.momentum <= 0.0 || self.dampening != 0.0) {
            return Err(Error::invalid(
                "sgd",
                "Nesterov momentum requires a momentum and zero dampening",
            ));
        }
        check_groups::<T>("sgd", &self.groups)?;
        // gather first so an error leaves the model untouched
        let bad_state = |name: &str, shape: &[usize]| {
            let b = self.buffers.get(name)?;
            (b.shape() != shape).then(|| ("the momentum buffer", b.shape().to_vec()))
        };
        let mut grads_by_name = gather("sgd", &*model, grads, &bad_state)?;
        let (mom, damp, nesterov) = (self.momentum, self.dampening, self.nesterov);
        let default = Hyper {
            lr: self.lr,
            weight_decay: self.weight_decay,
        };
        let (buffers, groups) = (&mut self.buffers, &self.groups);
        let mut ratios = Vec::new();
        model.visit_mut("", &mut |name, p| {
            let Some(mut d) = grads_by_name.remove(name) else {
                return;
            };
            let Hyper {
                lr,
                weight_decay: wd,
            } = resolve(groups, default, name, p.shape());
            let (momt, dampt) = (T::from_f64(mom), T::from_f64(1.0 - damp));
            add_l2(d.data_mut(), p.data(), wd);
            if mom != 0.0 {
                let buf = match buffers.get_mut(name) {
                    Some(buf) => {
                        for (b, &dv) in buf.data_mut().iter_mut().zip(d.data()) {
                            *b = momt * *b + dampt * dv;
                        }
                        buf
                    }
                    None => buffers.entry(name.to_string()).or_insert_with(|| d.clone()),
                };
                if nesterov {
                    for (dv, &b) in d.data_mut().iter_mut().zip(buf.data()) {
                        *dv += momt * b;
                    }
                } else {
                    d = buf.clone();
                }
            }
            ratios.push((name.to_string(), ratio(lr * d.norm(), p.norm())));
            let lrt = T::from_f64(lr);
            for (pv, &dv) in p.data_mut().iter_mut().zip(d.data()) {
                *pv -= lrt * dv;
            }
        });
        self.ratios = ratios;
        self.steps += 1;
        Ok(())
    }
}
