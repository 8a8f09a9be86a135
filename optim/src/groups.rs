//! Parameter groups (PyTorch's `param_groups`) and the gathering step that
//! every optimizer shares.
//!
//! A [`ParamGroup`] selects parameters by name and shape and overrides the
//! optimizer's learning rate and weight decay for them; parameters that no
//! group selects use the optimizer's own values (PyTorch's default group).
//! A parameter belongs to the first group that selects it. The usual recipe
//! (no weight decay on biases and batch-norm parameters):
//!
//! ```
//! use autograd::{Tape, Tensor};
//! use nn::{Init, Linear};
//! use optim::{Optimizer, ParamGroup, Sgd};
//! use rand::SeedableRng;
//! let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
//! let mut fc = Linear::<f32>::new(4, 2, Init::Xavier, &mut rng);
//! let mut opt = Sgd::new(0.1)
//!     .momentum(0.9)
//!     .weight_decay(5e-4)
//!     .group(ParamGroup::no_decay_on_biases_and_norms());
//! assert_eq!(opt.hyper_of("weight", &[2, 4]).weight_decay, 5e-4);
//! assert_eq!(opt.hyper_of("bias", &[2]).weight_decay, 0.0);
//! let grads = {
//!     let tape = Tape::new();
//!     let x = tape.constant(Tensor::ones(&[3, 4]));
//!     tape.backward(nn::cross_entropy(fc.forward(&tape, x)?, &[0, 1, 0])?)?
//! };
//! opt.step(&mut fc, &grads)?;
//! # Ok::<(), autograd::Error>(())
//! ```
//!
//! Schedules act per group, as PyTorch's schedulers do on each group's
//! `initial_lr`: see [`crate::schedule::apply_schedule`].
//!
//! Differences from PyTorch: a group overrides `lr` and `weight_decay` only
//! (the other hyper-parameters are the optimizer's); groups select
//! parameters by name rather than holding them, so the same optimizer can be
//! rebuilt in code and its checkpointed group learning rates restored by
//! group name.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use autograd::{Element, Error, Grads, Result, Tensor, TensorId};
use nn::Module;

type Selector = Arc<dyn Fn(&str, &[usize]) -> bool + Send + Sync>;

/// `(name, parameter shape)` to the name and shape of a piece of optimizer
/// state whose shape differs, if any.
pub(crate) type BadState<'a> = dyn Fn(&str, &[usize]) -> Option<(&'static str, Vec<usize>)> + 'a;

/// A group of parameters with its own learning rate and weight decay.
#[derive(Clone)]
pub struct ParamGroup {
    /// The group's name (in checkpoints and error messages).
    pub name: String,
    select: Selector,
    /// The learning rate, or `None` for the optimizer's.
    pub lr: Option<f64>,
    /// The learning rate the group was given, which schedules scale
    /// (PyTorch's `initial_lr`).
    pub initial_lr: Option<f64>,
    /// The weight decay, or `None` for the optimizer's.
    pub weight_decay: Option<f64>,
}

impl std::fmt::Debug for ParamGroup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParamGroup")
            .field("name", &self.name)
            .field("lr", &self.lr)
            .field("weight_decay", &self.weight_decay)
            .finish_non_exhaustive()
    }
}

impl ParamGroup {
    /// A group of the parameters for which `select(name, shape)` is true,
    /// with the optimizer's hyper-parameters until overridden.
    ///
    /// ```
    /// use optim::ParamGroup;
    /// let head = ParamGroup::new("head", |name, _| name.starts_with("fc2.")).lr(0.01);
    /// assert!(head.selects("fc2.weight", &[10, 100]));
    /// assert!(!head.selects("fc1.weight", &[100, 3072]));
    /// ```
    pub fn new(
        name: impl Into<String>,
        select: impl Fn(&str, &[usize]) -> bool + Send + Sync + 'static,
    ) -> Self {
        ParamGroup {
            name: name.into(),
            select: Arc::new(select),
            lr: None,
            initial_lr: None,
            weight_decay: None,
        }
    }

    /// Biases and normalisation parameters (every parameter of one
    /// dimension) without weight decay: the common recipe, since decaying
    /// them toward 0 only costs accuracy.
    pub fn no_decay_on_biases_and_norms() -> Self {
        ParamGroup::new("no_decay", |_, shape| shape.len() <= 1).weight_decay(0.0)
    }

    /// Sets the group's learning rate (and the `initial_lr` schedules scale).
    pub fn lr(mut self, lr: f64) -> Self {
        self.lr = Some(lr);
        self.initial_lr = Some(lr);
        self
    }

    /// Sets the group's weight decay.
    pub fn weight_decay(mut self, wd: f64) -> Self {
        self.weight_decay = Some(wd);
        self
    }

    /// Whether the group selects the parameter `name` of this shape.
    pub fn selects(&self, name: &str, shape: &[usize]) -> bool {
        (self.select)(name, shape)
    }
}

/// The learning rate and weight decay that apply to one parameter.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Hyper {
    /// Learning rate.
    pub lr: f64,
    /// Weight decay.
    pub weight_decay: f64,
}

/// The hyper-parameters of `name` (shape `shape`): the first group that
/// selects it overrides the defaults.
pub(crate) fn resolve(groups: &[ParamGroup], default: Hyper, name: &str, shape: &[usize]) -> Hyper {
    match groups.iter().find(|g| g.selects(name, shape)) {
        Some(g) => Hyper {
            lr: g.lr.unwrap_or(default.lr),
            weight_decay: g.weight_decay.unwrap_or(default.weight_decay),
        },
        None => default,
    }
}

/// Checks every group's overrides as the optimizer checks its own values.
#[track_caller]
pub(crate) fn check_groups<T: Element>(op: &'static str, groups: &[ParamGroup]) -> Result<()> {
    let mut names = HashSet::new();
    for g in groups {
        if !names.insert(g.name.as_str()) {
            return Err(Error::invalid(
                op,
                format!("two parameter groups are named {:?}", g.name),
            ));
        }
        if let Some(lr) = g.lr {
            crate::adaptive::nonneg::<T>(op, &format!("group {} lr", g.name), lr)?;
        }
        if let Some(wd) = g.weight_decay {
            crate::adaptive::nonneg::<T>(op, &format!("group {} weight_decay", g.name), wd)?;
        }
    }
    Ok(())
}

/// Writes the groups' current learning rates and weight decays into a
/// checkpoint's values (`group.<name>.lr`, ...).
pub(crate) fn export_groups(groups: &[ParamGroup], set: &mut dyn FnMut(String, String)) {
    for g in groups {
        if let Some(lr) = g.lr {
            set(format!("group.{}.lr", g.name), format!("{lr:e}"));
        }
        if let Some(b) = g.initial_lr {
            set(format!("group.{}.initial_lr", g.name), format!("{b:e}"));
        }
        if let Some(wd) = g.weight_decay {
            set(format!("group.{}.weight_decay", g.name), format!("{wd:e}"));
        }
    }
}

/// Restores what [`export_groups`] wrote into groups of the same names;
/// errors (changing nothing) on a group the optimizer does not have.
pub(crate) fn import_groups(
    op: &str,
    groups: &mut [ParamGroup],
    values: &std::collections::BTreeMap<String, String>,
) -> Result<()> {
    let mut found: Vec<(usize, &str, f64)> = Vec::new();
    for (k, v) in values {
        let Some(rest) = k.strip_prefix("group.") else {
            continue;
        };
        let Some((name, field)) = rest.rsplit_once('.') else {
            continue;
        };
        let Some(i) = groups.iter().position(|g| g.name == name) else {
            return Err(Error::invalid(
                "optimizer state",
                format!(
                    "{op} state has a parameter group {name:?} that this optimizer does not have \
                     (build it with the same groups)"
                ),
            ));
        };
        let x: f64 = v.parse().map_err(|_| {
            Error::invalid(
                "optimizer state",
                format!("{op} state: value {k} malformed"),
            )
        })?;
        found.push((i, field, x));
    }
    for (i, field, x) in found {
        match field {
            "lr" => groups[i].lr = Some(x),
            "initial_lr" => groups[i].initial_lr = Some(x),
            "weight_decay" => groups[i].weight_decay = Some(x),
            _ => {}
        }
    }
    Ok(())
}

/// A copy of `grads` that keeps only the gradients of `model`'s parameters:
/// for stepping one of several models trained on one tape (a GAN's
/// generator and discriminator, a student next to its teacher), since an
/// optimizer refuses gradients of parameters its model does not list.
///
/// ```
/// use autograd::{Tape, Tensor};
/// use nn::{Init, Linear};
/// use optim::{Optimizer, Sgd};
/// use rand::SeedableRng;
/// let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
/// let (mut a, mut b) = (Linear::<f32>::new(2, 2, Init::He, &mut rng), Linear::<f32>::new(2, 2, Init::He, &mut rng));
/// let tape = Tape::new();
/// let x = tape.constant(Tensor::ones(&[1, 2]));
/// let loss = nn::cross_entropy(b.forward(&tape, a.forward(&tape, x)?)?, &[1])?;
/// let grads = tape.backward(loss)?;
/// drop(tape);
/// assert!(Sgd::new(0.1).step(&mut a, &grads).is_err()); // b's gradients are not a's
/// let (ga, gb) = (optim::grads_for(&a, &grads), optim::grads_for(&b, &grads));
/// Sgd::new(0.1).step(&mut a, &ga)?;
/// Sgd::new(0.1).step(&mut b, &gb)?;
/// # Ok::<(), autograd::Error>(())
/// ```
pub fn grads_for<T: Element, M: Module<T> + ?Sized>(model: &M, grads: &Grads<T>) -> Grads<T> {
    let ids = listed_ids(model);
    let mut out = grads.clone();
    out.retain_params(|id| ids.contains(&id));
    out
}

fn listed_ids<T: Element, M: Module<T> + ?Sized>(model: &M) -> HashSet<TensorId> {
    let mut ids = HashSet::new();
    model.visit("", &mut |_, t| {
        ids.insert(t.id());
    });
    ids
}

/// The first half of every optimizer's step: each listed parameter's
/// gradient by name, after checking (so that an error changes nothing) that
/// every gradient and every piece of state has its parameter's shape, and
/// that no parameter put on the tape received a gradient without being
/// listed by the model (a layer left out of its `Module` impl would be
/// neither trained nor saved). `bad_state(name, shape)` names a piece of
/// the optimizer's state for `name` whose shape differs from `shape`, and
/// its shape.
#[track_caller]
pub(crate) fn gather<T: Element, M: Module<T> + ?Sized>(
    op: &'static str,
    model: &M,
    grads: &Grads<T>,
    bad_state: &BadState<'_>,
) -> Result<HashMap<String, Tensor<T>>> {
    let loc = std::panic::Location::caller();
    let mut work = HashMap::new();
    let mut listed = HashSet::new();
    let mut err = None;
    model.visit("", &mut |name, p| {
        listed.insert(p.id());
        let Some(g) = grads.of(p) else { return };
        let bad = if g.shape() != p.shape() {
            Some(("the gradient", g.shape().to_vec()))
        } else {
            bad_state(name, p.shape())
        };
        if let (Some((what, shape)), None) = (bad, &err) {
            err = Some(Error::shape(
                op,
                format!(
                    "{what} of {name} has shape {shape:?}, the parameter {:?} \
                     (a model changed under the same names? make a new optimizer or call zero_state)",
                    p.shape()
                ),
            )
            .at(loc));
        }
        work.insert(name.to_string(), g);
    });
    if let Some(e) = err {
        return Err(e);
    }
    let unlisted: Vec<String> = grads
        .param_leaves()
        .into_iter()
        .filter(|(id, _, _)| !listed.contains(id))
        .map(|(_, shape, node)| format!("{shape:?} (tape node {node})"))
        .collect();
    if !unlisted.is_empty() {
        return Err(Error::invalid(
            op,
            format!(
                "{} tensor(s) put on the tape with Tape::param received gradients but are not \
                 parameters of the model: {}. A layer left out of the model's Module impl \
                 (nn::impl_module!) is neither trained nor saved. Put inputs that need a \
                 gradient on the tape with Tape::grad_input; to step one of several models \
                 trained on one tape, pass optim::grads_for(&model, &grads)",
                unlisted.len(),
                unlisted.join(", ")
            ),
        )
        .at(loc));
    }
    Ok(work)
}

/// `||update|| / ||weight||` with `||weight|| = 0` as infinity.
pub(crate) fn ratio(update_norm: f64, weight_norm: f64) -> f64 {
    if weight_norm > 0.0 {
        update_norm / weight_norm
    } else {
        f64::INFINITY
    }
}
