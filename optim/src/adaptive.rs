//! Adam, AdamW, RMSprop and Adagrad with `torch.optim`'s update rules,
//! defaults and edge cases, and the [`Optimizer`] trait that they and
//! [`Sgd`](crate::Sgd) implement.
//!
//! Per parameter `p` with gradient `g` (negated first when `maximize`),
//! step count `t` (from 1, per parameter, as PyTorch's `state['step']`):
//!
//! ```text
//! Adam     g += wd p                          (L2, when weight_decay != 0)
//! AdamW    p *= 1 - lr wd                     (decoupled weight decay)
//!          m = m + (1 - b1)(g - m)            (torch: exp_avg.lerp_)
//!          v = b2 v + (1 - b2) g^2
//!          vmax = max(vmax, v)                (amsgrad; then v := vmax below)
//!          p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
//! RMSprop  g += wd p
//!          s = alpha s + (1 - alpha) g^2
//!          centered: a = a + (1 - alpha)(g - a); d = sqrt(s - a^2) + eps
//!          otherwise d = sqrt(s) + eps
//!          momentum > 0: buf = momentum buf + g / d; p -= lr buf
//!          otherwise p -= lr g / d
//! Adagrad  g += wd p
//!          clr = lr / (1 + (t - 1) lr_decay)
//!          s += g^2                           (s starts at initial_accumulator_value)
//!          p -= clr g / (sqrt(s) + eps)
//! ```
//!
//! Scalars (bias corrections, step sizes) are computed in f64, as PyTorch's
//! Python floats, and the element work in the tensor's type, in PyTorch's
//! order of operations. Differences from PyTorch: no `foreach`/`fused`
//! variants (one loop per tensor), no `capturable`/`differentiable`, no
//! complex numbers; `amsgrad` keeps its running maximum as PyTorch does.

use std::collections::{BTreeMap, HashMap};

use autograd::{Element, Error, Grads, Result, Tensor};
use nn::Module;

use crate::groups::{check_groups, export_groups, gather, import_groups, ratio, resolve, Hyper};
use crate::ParamGroup;

/// An optimizer: a step over a model's parameters given their gradients,
/// a learning rate that schedules can set, and the lecture's update/weight
/// ratio per parameter after each step.
///
/// ```
/// use autograd::{Tape, Tensor};
/// use nn::{Init, Linear};
/// use optim::{Adam, Optimizer, Sgd};
/// use rand::SeedableRng;
/// let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
/// let mut fc = Linear::<f32>::new(4, 2, Init::Xavier, &mut rng);
/// let mut opts: Vec<Box<dyn Optimizer<f32>>> =
///     vec![Box::new(Sgd::new(0.1).momentum(0.9)), Box::new(Adam::new(1e-3))];
/// for opt in opts.iter_mut() {
///     let grads = {
///         let tape = Tape::new();
///         let x = tape.constant(Tensor::ones(&[3, 4]));
///         let loss = nn::cross_entropy(fc.forward(&tape, x)?, &[0, 1, 0])?;
///         tape.backward(loss)?
///     };
///     opt.step(&mut fc, &grads)?;
///     assert_eq!(opt.update_ratios().len(), 2);
/// }
/// # Ok::<(), autograd::Error>(())
/// ```
pub trait Optimizer<T: Element> {
    /// `"sgd"`, `"adam"`, `"adamw"`, `"rmsprop"` or `"adagrad"`.
    fn name(&self) -> &'static str;
    /// Updates every parameter of `model` that has a gradient in `grads`;
    /// errors, changing nothing, on invalid hyper-parameters or shapes, and
    /// when a tensor put on the tape with `Tape::param` received a gradient
    /// but is not a parameter of `model` (see [`crate::grads_for`]).
    fn step(&mut self, model: &mut dyn Module<T>, grads: &Grads<T>) -> Result<()>;
    /// Forgets all per-parameter state (moments, step counts, buffers).
    fn zero_state(&mut self);
    /// The learning rate of the parameters no group selects.
    fn lr(&self) -> f64;
    /// Sets the learning rate of the parameters no group selects; see
    /// [`crate::schedule::apply_schedule`] to schedule every group.
    fn set_lr(&mut self, lr: f64);
    /// The weight decay of the parameters no group selects.
    fn weight_decay(&self) -> f64;
    /// The parameter groups, in the order they select (see [`ParamGroup`]).
    fn groups(&self) -> &[ParamGroup];
    /// The parameter groups, mutably (schedules set their `lr`).
    fn groups_mut(&mut self) -> &mut [ParamGroup];
    /// The learning rate and weight decay that apply to the parameter
    /// `name` of shape `shape`.
    fn hyper_of(&self, name: &str, shape: &[usize]) -> Hyper {
        let default = Hyper {
            lr: self.lr(),
            weight_decay: self.weight_decay(),
        };
        resolve(self.groups(), default, name, shape)
    }
    /// `(name, ||update|| / ||weight||)` for each parameter the last step updated.
    fn update_ratios(&self) -> &[(String, f64)];
    /// Everything a checkpoint needs to resume this optimizer bit for bit:
    /// hyper-parameters, step counts and per-parameter buffers.
    fn state(&self) -> OptimizerState<T>;
    /// Restores [`Optimizer::state`]; errors (changing nothing) when it is
    /// another optimizer's or a value is missing or malformed.
    fn load_state(&mut self, state: &OptimizerState<T>) -> Result<()>;
}

/// An optimizer's checkpointable state: its name, values (hyper-parameters,
/// flags and per-parameter step counts, as text that round-trips exactly)
/// and named tensors (per-parameter buffers, `"<buffer>.<parameter>"`).
#[derive(Clone, Debug, Default)]
pub struct OptimizerState<T: Element> {
    /// [`Optimizer::name`] of the optimizer that wrote it.
    pub name: String,
    /// Hyper-parameters, flags and step counts.
    pub values: BTreeMap<String, String>,
    /// Buffers by `"<buffer>.<parameter>"`.
    pub tensors: BTreeMap<String, Tensor<T>>,
}

impl<T: Element> OptimizerState<T> {
    fn new(name: &str) -> Self {
        OptimizerState {
            name: name.to_string(),
            ..Default::default()
        }
    }
    fn set(&mut self, k: &str, v: impl ToString) {
        self.values.insert(k.to_string(), v.to_string());
    }
    /// A value parsed as `V`, or an error naming the key.
    fn get<V: std::str::FromStr>(&self, k: &str) -> Result<V> {
        self.values
            .get(k)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| {
                Error::invalid(
                    "optimizer state",
                    format!("{} state: value {k} missing or malformed", self.name),
                )
            })
    }
    fn expect(&self, name: &str) -> Result<()> {
        if self.name == name {
            Ok(())
        } else {
            Err(Error::invalid(
                "optimizer state",
                format!(
                    "state of a {} optimizer cannot be loaded into {name}",
                    self.name
                ),
            ))
        }
    }
}

/// Writes per-parameter state as `step.<param>` values and
/// `<buffer>.<param>` tensors.
fn export_params<T: Element>(
    out: &mut OptimizerState<T>,
    states: &HashMap<String, ParamState<T>>,
    buffers: &[&str],
) {
    for (param, st) in states {
        out.set(&format!("step.{param}"), st.step);
        for (b, t) in buffers.iter().zip(&st.bufs) {
            out.tensors.insert(format!("{b}.{param}"), t.clone());
        }
    }
}

/// Reads what [`export_params`] wrote.
fn import_params<T: Element>(
    st: &OptimizerState<T>,
    buffers: &[&str],
) -> Result<HashMap<String, ParamState<T>>> {
    let mut out = HashMap::new();
    for k in st.values.keys() {
        let Some(param) = k.strip_prefix("step.") else {
            continue;
        };
        let step: u64 = st.get(k)?;
        let bufs = buffers
            .iter()
            .map_while(|b| st.tensors.get(&format!("{b}.{param}")).cloned())
            .collect::<Vec<_>>();
        if bufs.is_empty() {
            return Err(Error::invalid(
                "optimizer state",
                format!("{} state: no {}.{param} buffer", st.name, buffers[0]),
            ));
        }
        out.insert(param.to_string(), ParamState { step, bufs });
    }
    Ok(out)
}

impl<T: Element> Optimizer<T> for crate::Sgd<T> {
    fn name(&self) -> &'static str {
        "sgd"
    }
    fn step(&mut self, model: &mut dyn Module<T>, grads: &Grads<T>) -> Result<()> {
        crate::Sgd::step(self, model, grads)
    }
    fn zero_state(&mut self) {
        crate::Sgd::zero_state(self)
    }
    fn lr(&self) -> f64 {
        self.lr
    }
    fn set_lr(&mut self, lr: f64) {
        self.lr = lr;
    }
    fn weight_decay(&self) -> f64 {
        self.weight_decay
    }
    fn groups(&self) -> &[ParamGroup] {
        &self.groups
    }
    fn groups_mut(&mut self) -> &mut [ParamGroup] {
        &mut self.groups
    }
    fn update_ratios(&self) -> &[(String, f64)] {
        crate::Sgd::update_ratios(self)
    }
    fn state(&self) -> OptimizerState<T> {
        let mut st = OptimizerState::new("sgd");
        st.set("lr", format!("{:e}", self.lr));
        st.set("momentum", format!("{:e}", self.momentum));
        st.set("dampening", format!("{:e}", self.dampening));
        st.set("weight_decay", format!("{:e}", self.weight_decay));
        st.set("nesterov", self.nesterov);
        st.set("steps", self.steps);
        for (p, b) in &self.buffers {
            st.tensors.insert(format!("momentum.{p}"), b.clone());
        }
        export_groups(&self.groups, &mut |k, v| st.set(&k, v));
        st
    }
    fn load_state(&mut self, st: &OptimizerState<T>) -> Result<()> {
        st.expect("sgd")?;
        let (lr, momentum, dampening, weight_decay) = (
            st.get("lr")?,
            st.get("momentum")?,
            st.get("dampening")?,
            st.get("weight_decay")?,
        );
        let (nesterov, steps) = (st.get("nesterov")?, st.get("steps")?);
        let mut groups = self.groups.clone();
        import_groups("sgd", &mut groups, &st.values)?;
        self.groups = groups;
        self.lr = lr;
        self.momentum = momentum;
        self.dampening = dampening;
        self.weight_decay = weight_decay;
        self.nesterov = nesterov;
        self.steps = steps;
        self.buffers = st
            .tensors
            .iter()
            .filter_map(|(k, t)| Some((k.strip_prefix("momentum.")?.to_string(), t.clone())))
            .collect();
        Ok(())
    }
}

/// The [`Optimizer`] methods that Adam, RMSprop and Adagrad share: their
/// per-parameter `state` map, `ratios` and `lr` fields.
macro_rules! per_param_state_methods {
    () => {
        fn zero_state(&mut self) {
            self.state.clear();
            self.ratios.clear();
        }
        fn lr(&self) -> f64 {
            self.lr
        }
        fn set_lr(&mut self, lr: f64) {
            self.lr = lr;
        }
        fn weight_decay(&self) -> f64 {
            self.weight_decay
        }
        fn groups(&self) -> &[ParamGroup] {
            &self.groups
        }
        fn groups_mut(&mut self) -> &mut [ParamGroup] {
            &mut self.groups
        }
        fn update_ratios(&self) -> &[(String, f64)] {
            &self.ratios
        }
    };
}

/// Adam's buffers, by PyTorch's names.
const ADAM_BUFS: &[&str] = &["exp_avg", "exp_avg_sq", "max_exp_avg_sq"];
/// RMSprop's buffers, by PyTorch's names.
const RMSPROP_BUFS: &[&str] = &["square_avg", "grad_avg", "momentum_buffer"];
/// Adagrad's buffer, by PyTorch's name.
const ADAGRAD_BUFS: &[&str] = &["sum"];

/// One parameter's update: `(p, g, state, hyper)`, with `g` already negated
/// when maximizing.
type Update<'a, T> = dyn FnMut(&mut [T], &mut [T], &mut ParamState<T>, Hyper) + 'a;

/// Per-parameter state: the step count and the optimizer's buffers.
#[derive(Clone, Debug, Default)]
pub struct ParamState<T: Element> {
    /// Steps taken for this parameter.
    pub step: u64,
    /// Buffers of the parameter's shape (Adam: m, v, vmax; ...).
    pub bufs: Vec<Tensor<T>>,
}

/// [`check`] for a hyper-parameter that must be a finite number >= 0.
#[track_caller]
pub(crate) fn nonneg<T: Element>(op: &'static str, name: &str, v: f64) -> Result<()> {
    check::<T>(op, name, v, v >= 0.0, "a finite number >= 0")
}

/// `g += wd * p`: L2 weight decay folded into the gradient, as
/// `torch.optim` does (`grad.add(param, alpha=weight_decay)`); nothing when
/// `wd` is 0. Shared by SGD, Adam (not AdamW), RMSprop and Adagrad.
#[inline]
pub(crate) fn add_l2<T: Element>(g: &mut [T], p: &[T], wd: f64) {
    if wd != 0.0 {
        let w = T::from_f64(wd);
        for (gv, &pv) in g.iter_mut().zip(p) {
            *gv += w * pv;
        }
    }
}

/// `torch.lerp(start, end, w)` with PyTorch's two formulas (the one for
/// `|w| < 0.5` and the one from the end), so moments round as PyTorch's.
#[inline]
fn lerp<T: Element>(start: T, end: T, w: T, w_f64: f64) -> T {
    if w_f64.abs() < 0.5 {
        start + w * (end - start)
    } else {
        end - (end - start) * (T::ONE - w)
    }
}

/// Checks a hyper-parameter: finite, in range, and finite in `T` (`lr =
/// 1e39` is infinite in f32 and would turn every weight into NaN). Shared by
/// every optimizer, [`crate::Sgd`] included.
#[track_caller]
pub(crate) fn check<T: Element>(
    op: &'static str,
    name: &str,
    v: f64,
    ok: bool,
    want: &str,
) -> Result<()> {
    if v.is_finite() && T::from_f64(v).is_finite() && ok {
        Ok(())
    } else {
        Err(Error::invalid(
            op,
            format!("{name} {v} must be {want} (and finite in {})", T::NAME),
        ))
    }
}

/// The step shared by the adaptive optimizers: gathers every gradient and
/// checks it ([`gather`]: shapes, unlisted parameters), so an error changes
/// nothing, then runs `update(p, g, state, hyper)` on each parameter with
/// its group's hyper-parameters and records the update/weight ratios.
/// `init(p)` makes a new parameter's buffers.
#[allow(clippy::too_many_arguments)]
#[track_caller]
fn apply<T: Element>(
    op: &'static str,
    model: &mut dyn Module<T>,
    grads: &Grads<T>,
    states: &mut HashMap<String, ParamState<T>>,
    groups: &[ParamGroup],
    default: Hyper,
    maximize: bool,
    init: &dyn Fn(&Tensor<T>) -> Vec<Tensor<T>>,
    update: &mut Update<'_, T>,
) -> Result<Vec<(String, f64)>> {
    check_groups::<T>(op, groups)?;
    let bad_state = |name: &str, shape: &[usize]| {
        let st = states.get(name)?;
        st.bufs
            .iter()
            .find(|b| b.shape() != shape)
            .map(|b| ("the optimizer state", b.shape().to_vec()))
    };
    let mut by_name = gather(op, &*model, grads, &bad_state)?;
    let mut ratios = Vec::new();
    model.visit_mut("", &mut |name, p| {
        let Some(mut g) = by_name.remove(name) else {
            return;
        };
        let hyper = resolve(groups, default, name, p.shape());
        let state = states
            .entry(name.to_string())
            .or_insert_with(|| ParamState {
                step: 0,
                bufs: init(p),
            });
        let gd = g.data_mut();
        if maximize {
            for v in gd.iter_mut() {
                *v = -*v;
            }
        }
        let before = p.clone();
        let w_norm = before.norm();
        update(p.data_mut(), gd, state, hyper);
        let u_norm = before
            .data()
            .iter()
            .zip(p.data())
            .map(|(a, b)| (b.to_f64() - a.to_f64()).powi(2))
            .sum::<f64>()
            .sqrt();
        ratios.push((name.to_string(), ratio(u_norm, w_norm)));
    });
    Ok(ratios)
}

/// `torch.optim.Adam` (and `AdamW` with [`Adam::decoupled`] / [`AdamW::new`]).
/// Defaults as PyTorch: lr 1e-3, betas (0.9, 0.999), eps 1e-8, no weight
/// decay, no amsgrad.
#[derive(Clone, Debug)]
pub struct Adam<T: Element> {
    /// Learning rate.
    pub lr: f64,
    /// Decay rates of the first and second moments.
    pub betas: (f64, f64),
    /// Added to the denominator.
    pub eps: f64,
    /// Weight decay: L2 in the gradient (Adam) or decoupled (AdamW).
    pub weight_decay: f64,
    /// AdamW's decoupled weight decay: `p *= 1 - lr * weight_decay`.
    pub decoupled: bool,
    /// Keep the running maximum of the second moment (AMSGrad).
    pub amsgrad: bool,
    /// Ascend the objective instead.
    pub maximize: bool,
    /// Moments and step count by parameter name.
    pub state: HashMap<String, ParamState<T>>,
    /// Parameter groups with their own lr / weight decay.
    pub groups: Vec<ParamGroup>,
    ratios: Vec<(String, f64)>,
}

/// `torch.optim.AdamW`: [`Adam`] with decoupled weight decay, default 1e-2.
pub struct AdamW;

impl AdamW {
    /// AdamW with learning rate `lr` and PyTorch's defaults (weight decay 1e-2).
    #[allow(clippy::new_ret_no_self)]
    pub fn new<T: Element>(lr: f64) -> Adam<T> {
        let mut a = Adam::new(lr);
        a.decoupled = true;
        a.weight_decay = 1e-2;
        a
    }
}

impl<T: Element> Adam<T> {
    /// Adam with learning rate `lr` and PyTorch's defaults.
    pub fn new(lr: f64) -> Self {
        Adam {
            lr,
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 0.0,
            decoupled: false,
            amsgrad: false,
            maximize: false,
            state: HashMap::new(),
            groups: Vec::new(),
            ratios: Vec::new(),
        }
    }
    /// Adds a parameter group (see [`ParamGroup`]).
    pub fn group(mut self, g: ParamGroup) -> Self {
        self.groups.push(g);
        self
    }
    /// Sets the betas.
    pub fn betas(mut self, b1: f64, b2: f64) -> Self {
        self.betas = (b1, b2);
        self
    }
    /// Sets eps.
    pub fn eps(mut self, eps: f64) -> Self {
        self.eps = eps;
        self
    }
    /// Sets the weight decay (L2 for Adam, decoupled for AdamW).
    pub fn weight_decay(mut self, wd: f64) -> Self {
        self.weight_decay = wd;
        self
    }
    /// Decoupled weight decay (AdamW) on or off.
    pub fn decoupled(mut self, on: bool) -> Self {
        self.decoupled = on;
        self
    }
    /// AMSGrad on or off.
    pub fn amsgrad(mut self, on: bool) -> Self {
        self.amsgrad = on;
        self
    }
    /// Maximize on or off.
    pub fn maximize(mut self, on: bool) -> Self {
        self.maximize = on;
        self
    }

    #[track_caller]
    fn check(&self) -> Result<()> {
        let op = if self.decoupled { "adamw" } else { "adam" };
        nonneg::<T>(op, "lr", self.lr)?;
        nonneg::<T>(op, "eps", self.eps)?;
        let (b1, b2) = self.betas;
        check::<T>(op, "beta1", b1, (0.0..1.0).contains(&b1), "in [0, 1)")?;
        check::<T>(op, "beta2", b2, (0.0..1.0).contains(&b2), "in [0, 1)")?;
        let wd = self.weight_decay;
        nonneg::<T>(op, "weight_decay", wd)
    }
}

impl<T: Element> Optimizer<T> for Adam<T> {
    fn name(&self) -> &'static str {
        if self.decoupled {
            "adamw"
        } else {
            "adam"
        }
    }
    #[track_caller]
    fn step(&mut self, model: &mut dyn Module<T>, grads: &Grads<T>) -> Result<()> {
        self.check()?;
        let ((b1, b2), eps) = (self.betas, self.eps);
        let (decoupled, amsgrad) = (self.decoupled, self.amsgrad);
        let n_bufs = if amsgrad { 3 } else { 2 };
        let init = |p: &Tensor<T>| vec![Tensor::zeros(p.shape()); n_bufs];
        let mut update = |p: &mut [T], g: &mut [T], st: &mut ParamState<T>, h: Hyper| {
            let (lr, wd) = (h.lr, h.weight_decay);
            st.step += 1;
            if st.bufs.len() < n_bufs {
                // amsgrad switched on after some steps: PyTorch starts its max at 0
                st.bufs.push(Tensor::zeros(st.bufs[0].shape()));
            }
            let t = st.step as i32;
            let bc1 = 1.0 - b1.powi(t);
            let bc2_sqrt = (1.0 - b2.powi(t)).sqrt();
            let step_size = T::from_f64(lr / bc1);
            let (b1t, b2t) = (T::from_f64(1.0 - b1), T::from_f64(b2));
            let (one_m_b2, epst, bc2s) = (
                T::from_f64(1.0 - b2),
                T::from_f64(eps),
                T::from_f64(bc2_sqrt),
            );
            if wd != 0.0 {
                if decoupled {
                    let f = T::from_f64(1.0 - lr * wd);
                    p.iter_mut().for_each(|v| *v *= f);
                } else {
                    add_l2(g, p, wd);
                }
            }
            let (m_and_rest, rest) = st.bufs.split_at_mut(1);
            let m = m_and_rest[0].data_mut();
            let (v_t, vmax_t) = rest.split_at_mut(1);
            let v = v_t[0].data_mut();
            let mut vmax = vmax_t.first_mut().map(|t| t.data_mut());
            for i in 0..p.len() {
                m[i] = lerp(m[i], g[i], b1t, 1.0 - b1);
                v[i] = v[i] * b2t + one_m_b2 * g[i] * g[i];
                let vv = match vmax.as_mut() {
                    Some(mx) if amsgrad => {
                        mx[i] = mx[i].max(v[i]);
                        mx[i]
                    }
                    _ => v[i],
                };
                let denom = vv.sqrt() / bc2s + epst;
                p[i] -= step_size * (m[i] / denom);
            }
        };
        let op = self.name();
        self.ratios = apply(
            op,
            model,
            grads,
            &mut self.state,
            &self.groups,
            Hyper {
                lr: self.lr,
                weight_decay: self.weight_decay,
            },
            self.maximize,
            &init,
            &mut update,
        )?;
        Ok(())
    }
    per_param_state_methods!();
    fn state(&self) -> OptimizerState<T> {
        let mut st = OptimizerState::new(Optimizer::<T>::name(self));
        st.set("lr", format!("{:e}", self.lr));
        st.set("beta1", format!("{:e}", self.betas.0));
        st.set("beta2", format!("{:e}", self.betas.1));
        st.set("eps", format!("{:e}", self.eps));
        st.set("weight_decay", format!("{:e}", self.weight_decay));
        st.set("amsgrad", self.amsgrad);
        st.set("maximize", self.maximize);
        export_params(&mut st, &self.state, ADAM_BUFS);
        export_groups(&self.groups, &mut |k, v| st.set(&k, v));
        st
    }
    fn load_state(&mut self, st: &OptimizerState<T>) -> Result<()> {
        st.expect(Optimizer::<T>::name(self))?;
        let betas = (st.get("beta1")?, st.get("beta2")?);
        let (lr, eps, wd) = (st.get("lr")?, st.get("eps")?, st.get("weight_decay")?);
        let (amsgrad, maximize) = (st.get("amsgrad")?, st.get("maximize")?);
        let state = import_params(st, ADAM_BUFS)?;
        let mut groups = self.groups.clone();
        import_groups(&st.name, &mut groups, &st.values)?;
        (self.lr, self.betas, self.eps, self.weight_decay) = (lr, betas, eps, wd);
        (self.amsgrad, self.maximize, self.state) = (amsgrad, maximize, state);
        self.groups = groups;
        Ok(())
    }
}

/// `torch.optim.RMSprop`. Defaults as PyTorch: lr 1e-2, alpha 0.99, eps
/// 1e-8, no weight decay, no momentum, not centered.
#[derive(Clone, Debug)]
pub struct RmsProp<T: Element> {
    /// Learning rate.
    pub lr: f64,
    /// Smoothing constant of the squared-gradient average.
    pub alpha: f64,
    /// Added to the denominator.
    pub eps: f64,
    /// L2 weight decay in the gradient.
    pub weight_decay: f64,
    /// Momentum factor (0 = none).
    pub momentum: f64,
    /// Normalise by the variance (subtract the squared mean gradient).
    pub centered: bool,
    /// Ascend the objective instead.
    pub maximize: bool,
    /// Buffers by parameter name: square average, then (centered) gradient
    /// average, then (momentum) momentum buffer.
    pub state: HashMap<String, ParamState<T>>,
    /// Parameter groups with their own lr / weight decay.
    pub groups: Vec<ParamGroup>,
    ratios: Vec<(String, f64)>,
}

impl<T: Element> RmsProp<T> {
    /// RMSprop with learning rate `lr` and PyTorch's defaults.
    pub fn new(lr: f64) -> Self {
        RmsProp {
            lr,
            alpha: 0.99,
            eps: 1e-8,
            weight_decay: 0.0,
            momentum: 0.0,
            centered: false,
            maximize: false,
            state: HashMap::new(),
            groups: Vec::new(),
            ratios: Vec::new(),
        }
    }
    /// Adds a parameter group (see [`ParamGroup`]).
    pub fn group(mut self, g: ParamGroup) -> Self {
        self.groups.push(g);
        self
    }
    /// Sets alpha.
    pub fn alpha(mut self, a: f64) -> Self {
        self.alpha = a;
        self
    }
    /// Sets eps.
    pub fn eps(mut self, e: f64) -> Self {
        self.eps = e;
        self
    }
    /// Sets the weight decay.
    pub fn weight_decay(mut self, wd: f64) -> Self {
        self.weight_decay = wd;
        self
    }
    /// Sets the momentum.
    pub fn momentum(mut self, m: f64) -> Self {
        self.momentum = m;
        self
    }
    /// Centered on or off.
    pub fn centered(mut self, on: bool) -> Self {
        self.centered = on;
        self
    }
    /// Maximize on or off.
    pub fn maximize(mut self, on: bool) -> Self {
        self.maximize = on;
        self
    }
}

impl<T: Element> Optimizer<T> for RmsProp<T> {
    fn name(&self) -> &'static str {
        "rmsprop"
    }
    #[track_caller]
    fn step(&mut self, model: &mut dyn Module<T>, grads: &Grads<T>) -> Result<()> {
        let op = "rmsprop";
        nonneg::<T>(op, "lr", self.lr)?;
        nonneg::<T>(op, "alpha", self.alpha)?;
        nonneg::<T>(op, "eps", self.eps)?;
        nonneg::<T>(op, "momentum", self.momentum)?;
        nonneg::<T>(op, "weight_decay", self.weight_decay)?;
        let (alpha, eps, mom, centered) = (self.alpha, self.eps, self.momentum, self.centered);
        // buffers: [square_avg, grad_avg (centered), momentum_buffer (momentum > 0)]
        let init = |p: &Tensor<T>| vec![Tensor::zeros(p.shape()); 3];
        let mut update = |p: &mut [T], g: &mut [T], st: &mut ParamState<T>, h: Hyper| {
            let (lr, wd) = (h.lr, h.weight_decay);
            st.step += 1;
            let (a, one_m_a) = (T::from_f64(alpha), T::from_f64(1.0 - alpha));
            let (epst, lrt, momt) = (T::from_f64(eps), T::from_f64(lr), T::from_f64(mom));
            add_l2(g, p, wd);
            let [sq, ga, buf] = &mut st.bufs[..] else {
                unreachable!("three buffers")
            };
            let (sq, ga, buf) = (sq.data_mut(), ga.data_mut(), buf.data_mut());
            for i in 0..p.len() {
                sq[i] = sq[i] * a + one_m_a * g[i] * g[i];
                let avg = if centered {
                    ga[i] = lerp(ga[i], g[i], one_m_a, 1.0 - alpha);
                    (sq[i] - ga[i] * ga[i]).sqrt() + epst
                } else {
                    sq[i].sqrt() + epst
                };
                if mom > 0.0 {
                    buf[i] = buf[i] * momt + g[i] / avg;
                    p[i] -= lrt * buf[i];
                } else {
                    p[i] -= lrt * (g[i] / avg);
                }
            }
        };
        self.ratios = apply(
            op,
            model,
            grads,
            &mut self.state,
            &self.groups,
            Hyper {
                lr: self.lr,
                weight_decay: self.weight_decay,
            },
            self.maximize,
            &init,
            &mut update,
        )?;
        Ok(())
    }
    per_param_state_methods!();
    fn state(&self) -> OptimizerState<T> {
        let mut st = OptimizerState::new("rmsprop");
        st.set("lr", format!("{:e}", self.lr));
        st.set("alpha", format!("{:e}", self.alpha));
        st.set("eps", format!("{:e}", self.eps));
        st.set("weight_decay", format!("{:e}", self.weight_decay));
        st.set("momentum", format!("{:e}", self.momentum));
        st.set("centered", self.centered);
        st.set("maximize", self.maximize);
        export_params(&mut st, &self.state, RMSPROP_BUFS);
        export_groups(&self.groups, &mut |k, v| st.set(&k, v));
        st
    }
    fn load_state(&mut self, st: &OptimizerState<T>) -> Result<()> {
        st.expect("rmsprop")?;
        let (lr, alpha, eps) = (st.get("lr")?, st.get("alpha")?, st.get("eps")?);
        let (wd, momentum) = (st.get("weight_decay")?, st.get("momentum")?);
        let (centered, maximize) = (st.get("centered")?, st.get("maximize")?);
        let state = import_params(st, RMSPROP_BUFS)?;
        let mut groups = self.groups.clone();
        import_groups(&st.name, &mut groups, &st.values)?;
        if state.values().any(|p| p.bufs.len() != RMSPROP_BUFS.len()) {
            return Err(Error::invalid(
                "optimizer state",
                "rmsprop state: a buffer is missing",
            ));
        }
        (self.lr, self.alpha, self.eps, self.weight_decay) = (lr, alpha, eps, wd);
        (self.momentum, self.centered, self.maximize, self.state) =
            (momentum, centered, maximize, state);
        self.groups = groups;
        Ok(())
    }
}

/// `torch.optim.Adagrad`. Defaults as PyTorch: lr 1e-2, no lr decay, no
/// weight decay, initial accumulator 0, eps 1e-10.
#[derive(Clone, Debug)]
pub struct Adagrad<T: Element> {
    /// Learning rate.
    pub lr: f64,
    /// Learning-rate decay: `lr / (1 + (t - 1) lr_decay)`.
    pub lr_decay: f64,
    /// L2 weight decay in the gradient.
    pub weight_decay: f64,
    /// Starting value of the sum of squared gradients.
    pub initial_accumulator_value: f64,
    /// Added to the denominator.
    pub eps: f64,
    /// Ascend the objective instead.
    pub maximize: bool,
    /// Sum of squared gradients and step count by parameter name.
    pub state: HashMap<String, ParamState<T>>,
    /// Parameter groups with their own lr / weight decay.
    pub groups: Vec<ParamGroup>,
    ratios: Vec<(String, f64)>,
}

impl<T: Element> Adagrad<T> {
    /// Adagrad with learning rate `lr` and PyTorch's defaults.
    pub fn new(lr: f64) -> Self {
        Adagrad {
            lr,
            lr_decay: 0.0,
            weight_decay: 0.0,
            initial_accumulator_value: 0.0,
            eps: 1e-10,
            maximize: false,
            state: HashMap::new(),
            groups: Vec::new(),
            ratios: Vec::new(),
        }
    }
    /// Adds a parameter group (see [`ParamGroup`]).
    pub fn group(mut self, g: ParamGroup) -> Self {
        self.groups.push(g);
        self
    }
    /// Sets the learning-rate decay.
    pub fn lr_decay(mut self, d: f64) -> Self {
        self.lr_decay = d;
        self
    }
    /// Sets the weight decay.
    pub fn weight_decay(mut self, wd: f64) -> Self {
        self.weight_decay = wd;
        self
    }
    /// Sets the initial accumulator value.
    pub fn initial_accumulator_value(mut self, v: f64) -> Self {
        self.initial_accumulator_value = v;
        self
    }
    /// Sets eps.
    pub fn eps(mut self, e: f64) -> Self {
        self.eps = e;
        self
    }
    /// Maximize on or off.
    pub fn maximize(mut self, on: bool) -> Self {
        self.maximize = on;
        self
    }
}

impl<T: Element> Optimizer<T> for Adagrad<T> {
    fn name(&self) -> &'static str {
        "adagrad"
    }
    #[track_caller]
    fn step(&mut self, model: &mut dyn Module<T>, grads: &Grads<T>) -> Result<()> {
        let op = "adagrad";
        nonneg::<T>(op, "lr", self.lr)?;
        nonneg::<T>(op, "lr_decay", self.lr_decay)?;
        nonneg::<T>(op, "eps", self.eps)?;
        let iav = self.initial_accumulator_value;
        nonneg::<T>(op, "initial_accumulator_value", iav)?;
        nonneg::<T>(op, "weight_decay", self.weight_decay)?;
        let (lr_decay, eps) = (self.lr_decay, self.eps);
        let init = |p: &Tensor<T>| vec![Tensor::full(p.shape(), T::from_f64(iav))];
        let mut update = |p: &mut [T], g: &mut [T], st: &mut ParamState<T>, h: Hyper| {
            let (lr, wd) = (h.lr, h.weight_decay);
            st.step += 1;
            let clr = T::from_f64(lr / (1.0 + (st.step - 1) as f64 * lr_decay));
            let epst = T::from_f64(eps);
            add_l2(g, p, wd);
            let s = st.bufs[0].data_mut();
            for i in 0..p.len() {
                s[i] += g[i] * g[i];
                let std = s[i].sqrt() + epst;
                p[i] -= clr * (g[i] / std);
            }
        };
        self.ratios = apply(
            op,
            model,
            grads,
            &mut self.state,
            &self.groups,
            Hyper {
                lr: self.lr,
                weight_decay: self.weight_decay,
            },
            self.maximize,
            &init,
            &mut update,
        )?;
        Ok(())
    }
    per_param_state_methods!();
    fn state(&self) -> OptimizerState<T> {
        let mut st = OptimizerState::new("adagrad");
        st.set("lr", format!("{:e}", self.lr));
        st.set("lr_decay", format!("{:e}", self.lr_decay));
        st.set("weight_decay", format!("{:e}", self.weight_decay));
        st.set(
            "initial_accumulator_value",
            format!("{:e}", self.initial_accumulator_value),
        );
        st.set("eps", format!("{:e}", self.eps));
        st.set("maximize", self.maximize);
        export_params(&mut st, &self.state, ADAGRAD_BUFS);
        export_groups(&self.groups, &mut |k, v| st.set(&k, v));
        st
    }
    fn load_state(&mut self, st: &OptimizerState<T>) -> Result<()> {
        st.expect("adagrad")?;
        let (lr, lr_decay, wd) = (st.get("lr")?, st.get("lr_decay")?, st.get("weight_decay")?);
        let (iav, eps, maximize) = (
            st.get("initial_accumulator_value")?,
            st.get("eps")?,
            st.get("maximize")?,
        );
        let state = import_params(st, ADAGRAD_BUFS)?;
        let mut groups = self.groups.clone();
        import_groups(&st.name, &mut groups, &st.values)?;
        (self.lr, self.lr_decay, self.weight_decay) = (lr, lr_decay, wd);
        (
            self.initial_accumulator_value,
            self.eps,
            self.maximize,
            self.state,
        ) = (iav, eps, maximize, state);
        self.groups = groups;
        Ok(())
    }
}
