//! Learning-rate schedules: a function from the step (or epoch) number,
//! counted from 0, to a learning rate. Call [`apply_schedule`] before each
//! step: it sets the optimizer's rate and, as PyTorch's schedulers do, each
//! parameter group's rate from the group's own starting rate.

use autograd::Element;

use crate::Optimizer;

/// A learning-rate schedule.
pub trait LrSchedule {
    /// The learning rate at step `t` (from 0), from the schedule's own base.
    fn lr(&self, t: usize) -> f64 {
        self.lr_from(self.base(), t)
    }
    /// The schedule's starting rate.
    fn base(&self) -> f64;
    /// The learning rate at step `t` of a parameter group that started at
    /// `base` (PyTorch's per-group `initial_lr`).
    fn lr_from(&self, base: f64, t: usize) -> f64;
}

/// Sets `opt`'s learning rate to `sched.lr(t)` and that of each parameter
/// group with a rate of its own to `sched.lr_from(group.initial_lr, t)`, as
/// PyTorch's schedulers act on every `param_group`.
///
/// ```
/// use optim::{schedule::apply_schedule, Optimizer, ParamGroup, Sgd, StepLr};
/// let mut opt = Sgd::<f32>::new(0.1).group(ParamGroup::new("head", |n, _| n.starts_with("fc2")).lr(1.0));
/// let sched = StepLr { base: 0.1, step_size: 10, gamma: 0.5 };
/// apply_schedule(&mut opt, &sched, 10);
/// assert_eq!(opt.lr(), 0.05);
/// assert_eq!(opt.groups()[0].lr, Some(0.5));
/// ```
pub fn apply_schedule<T: Element>(opt: &mut dyn Optimizer<T>, sched: &dyn LrSchedule, t: usize) {
    opt.set_lr(sched.lr(t));
    for g in opt.groups_mut() {
        if let Some(base) = g.initial_lr {
            g.lr = Some(sched.lr_from(base, t));
        }
    }
}

/// PyTorch's `StepLR`: `base * gamma^(floor(t / step_size))`.
///
/// ```
/// use optim::{LrSchedule, StepLr};
/// let s = StepLr { base: 0.1, step_size: 10, gamma: 0.1 };
/// assert_eq!(s.lr(9), 0.1);
/// assert!((s.lr(10) - 0.01).abs() < 1e-15);
/// ```
#[derive(Clone, Debug)]
pub struct StepLr {
    /// Starting rate.
    pub base: f64,
    /// Steps between decays.
    pub step_size: usize,
    /// Decay factor.
    pub gamma: f64,
}

impl LrSchedule for StepLr {
    fn base(&self) -> f64 {
        self.base
    }
    fn lr_from(&self, base: f64, t: usize) -> f64 {
        base * self.gamma.powi((t / self.step_size.max(1)) as i32)
    }
}

/// PyTorch's `CosineAnnealingLR` (one half-cycle):
/// `eta_min + (base - eta_min) (1 + cos(pi t / t_max)) / 2`, then `eta_min`.
///
/// ```
/// use optim::{Cosine, LrSchedule};
/// let s = Cosine { base: 1.0, t_max: 10, eta_min: 0.0 };
/// assert_eq!(s.lr(0), 1.0);
/// assert!((s.lr(5) - 0.5).abs() < 1e-12);
/// assert_eq!(s.lr(10), 0.0);
/// ```
#[derive(Clone, Debug)]
pub struct Cosine {
    /// Starting rate.
    pub base: f64,
    /// Steps to reach `eta_min`.
    pub t_max: usize,
    /// Final rate.
    pub eta_min: f64,
}

impl LrSchedule for Cosine {
    fn base(&self) -> f64 {
        self.base
    }
    fn lr_from(&self, base: f64, t: usize) -> f64 {
        let t = t.min(self.t_max) as f64;
        self.eta_min
            + (base - self.eta_min)
                * (1.0 + (std::f64::consts::PI * t / self.t_max.max(1) as f64).cos())
                / 2.0
    }
}

/// Linear warm-up from `base * start_factor` to the inner schedule's rate
/// over `warmup` steps, then the inner schedule (shifted by `warmup`).
///
/// ```
/// use optim::{LinearWarmup, LrSchedule, StepLr};
/// let s = LinearWarmup { warmup: 4, start_factor: 0.0, inner: StepLr { base: 0.1, step_size: 100, gamma: 0.1 } };
/// assert_eq!(s.lr(0), 0.0);
/// assert!((s.lr(2) - 0.05).abs() < 1e-15);
/// assert_eq!(s.lr(4), 0.1);
/// ```
#[derive(Clone, Debug)]
pub struct LinearWarmup<S> {
    /// Warm-up steps.
    pub warmup: usize,
    /// Fraction of the rate at step 0.
    pub start_factor: f64,
    /// Schedule after warm-up.
    pub inner: S,
}

impl<S: LrSchedule> LrSchedule for LinearWarmup<S> {
    fn base(&self) -> f64 {
        self.inner.base()
    }
    fn lr_from(&self, base: f64, t: usize) -> f64 {
        if t < self.warmup {
            let target = self.inner.lr_from(base, 0);
            let f = self.start_factor + (1.0 - self.start_factor) * t as f64 / self.warmup as f64;
            target * f
        } else {
            self.inner.lr_from(base, t - self.warmup)
        }
    }
}
