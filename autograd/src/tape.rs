//! The reverse-mode tape.
//!
//! Calling an op on [`Var`]s computes its value at once (eager, like PyTorch)
//! and pushes one node onto the tape. Nodes are pushed in creation order, so
//! walking them newest-first is already a topological order: `backward` is a
//! single reverse sweep, with gradients kept in a `Vec` indexed by node id.
//!
//! # Threads
//! A `Tape` uses interior mutability without locks (`RefCell`), so it is
//! `Send` but not `Sync`, and a [`Var`] (which borrows its tape) stays on the
//! thread that made it. Build one tape per thread (per training step, per
//! search trial); tensors and [`Grads`] are `Send + Sync` and move freely.
//! The kernels inside an op use rayon, so one tape still uses every core.

use std::cell::{Cell, RefCell};
use std::panic::Location;
use std::sync::atomic::{AtomicU64, Ordering};

use smallvec::SmallVec;

use crate::error::{fmt_shape, Error, ErrorKind, Result};
use crate::{Element, Tensor, TensorId};

/// Gradients of one node's inputs: one entry per input, `None` where the
/// input needs no gradient.
pub type InputGrads<T> = SmallVec<[Option<Tensor<T>>; 3]>;

/// The backward half of an op: holds exactly what the vector-Jacobian product
/// needs (saved inputs, outputs, masks, argmax indices...).
///
/// Implement it to define a custom op with its own backward, then record the
/// op with [`Tape::record`]; see `examples/custom_op.rs`.
pub trait Backward<T: Element>: Send + 'static {
    /// Given dL/d(output), returns dL/d(input i) for each input with
    /// `needs[i] == true` (others may be `None`). Each gradient must have its
    /// input's shape.
    fn backward(&self, grad_out: &Tensor<T>, needs: &[bool]) -> Result<InputGrads<T>>;
}

struct Node<T: Element> {
    op: &'static str,
    label: Option<String>,
    value: Tensor<T>,
    /// the identity of the tensor put on the tape with [`Tape::param`]
    param: Option<TensorId>,
    requires_grad: bool,
    is_leaf: bool,
    retain_grad: bool,
    inputs: SmallVec<[usize; 3]>,
    backward: Option<Box<dyn Backward<T>>>,
    freed: bool,
}

/// What [`Tape::param`] takes: a tensor by reference (the usual way: the
/// layer keeps its tensor and [`Grads::of`] finds the gradient from it) or
/// by value.
pub trait ParamSource<T: Element> {
    /// The value to put on the tape and the identity to find it by.
    fn into_leaf(self) -> (Tensor<T>, TensorId);
}

impl<T: Element> ParamSource<T> for &Tensor<T> {
    fn into_leaf(self) -> (Tensor<T>, TensorId) {
        (self.clone(), self.id())
    }
}

impl<T: Element> ParamSource<T> for Tensor<T> {
    fn into_leaf(self) -> (Tensor<T>, TensorId) {
        let id = self.id();
        (self, id)
    }
}

/// The backward of [`Tape::record_fn`]: every input gets the closure's
/// gradient (the tape checks count and shapes).
struct FnBackward<F>(F);

impl<T: Element, F> Backward<T> for FnBackward<F>
where
    F: Fn(&Tensor<T>) -> Result<Vec<Tensor<T>>> + Send + 'static,
{
    fn backward(&self, g: &Tensor<T>, _: &[bool]) -> Result<InputGrads<T>> {
        Ok((self.0)(g)?.into_iter().map(Some).collect())
    }
}

struct Inner<T: Element> {
    nodes: Vec<Node<T>>,
}

static NEXT_TAPE_ID: AtomicU64 = AtomicU64::new(1);

/// A reverse-mode tape of `T` tensors. See the [module docs](self).
///
/// ```
/// use autograd::{Tape, Tensor};
/// let tape = Tape::<f64>::new();
/// let x = tape.param(Tensor::from_vec(vec![3.0], &[1]).unwrap());
/// // a custom op: y = x^2, dy/dx = 2x (ops are normally in the `ops` crate)
/// struct Square(Tensor<f64>);
/// impl autograd::Backward<f64> for Square {
///     fn backward(&self, g: &Tensor<f64>, _: &[bool]) -> autograd::Result<autograd::InputGrads<f64>> {
///         Ok(autograd::smallvec::smallvec![Some(g.zip_broadcast(&self.0, "square", |g, x| 2.0 * g * x)?)])
///     }
/// }
/// let xv = x.value();
/// let y = tape.record("square", &[x], xv.map(|v| v * v), || Square(xv.clone())).unwrap();
/// let grads = tape.backward(y).unwrap();
/// assert_eq!(grads.wrt(x).unwrap().data(), &[6.0]);
/// ```
pub struct Tape<T: Element> {
    id: u64,
    inner: RefCell<Inner<T>>,
    no_grad_depth: Cell<usize>,
    anomaly: Cell<bool>,
}

impl<T: Element> Default for Tape<T> {
    fn default() -> Self {
        Self::new()
    }
}

/// A variable on a tape: a small copyable handle (tape reference + node id).
///
/// Ops are methods from the `ops` crate's `VarOps` trait, or its free functions.
#[derive(Clone, Copy)]
pub struct Var<'t, T: Element> {
    tape: &'t Tape<T>,
    id: usize,
}

impl<T: Element> std::fmt::Debug for Var<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let inner = self.tape.inner.borrow();
        let n = &inner.nodes[self.id];
        write!(
            f,
            "Var#{}({}, shape {}, requires_grad={})",
            self.id,
            n.op,
            fmt_shape(n.value.shape()),
            n.requires_grad
        )
    }
}

/// Guard returned by [`Tape::no_grad`]: ops recorded while it lives need no
/// gradient and save nothing.
pub struct NoGradGuard<'t, T: Element> {
    tape: &'t Tape<T>,
}

impl<T: Element> Drop for NoGradGuard<'_, T> {
    fn drop(&mut self) {
        self.tape
            .no_grad_depth
            .set(self.tape.no_grad_depth.get() - 1);
    }
}

impl<T: Element> Tape<T> {
    /// An empty tape.
    pub fn new() -> Self {
        Tape {
            id: NEXT_TAPE_ID.fetch_add(1, Ordering::Relaxed),
            inner: RefCell::new(Inner { nodes: Vec::new() }),
            no_grad_depth: Cell::new(0),
            anomaly: Cell::new(false),
        }
    }

    fn push_leaf(
        &self,
        value: Tensor<T>,
        param: Option<TensorId>,
        requires_grad: bool,
        op: &'static str,
    ) -> Var<'_, T> {
        let mut inner = self.inner.borrow_mut();
        let id = inner.nodes.len();
        inner.nodes.push(Node {
            op,
            label: None,
            value,
            param,
            requires_grad,
            is_leaf: true,
            retain_grad: false,
            inputs: SmallVec::new(),
            backward: None,
            freed: false,
        });
        crate::profile::mark();
        Var { tape: self, id }
    }

    /// A parameter: a leaf that requires a gradient, found again after
    /// backward by the tensor's identity ([`Grads::of`], optimizers). Pass
    /// the layer's tensor by reference (`tape.param(&self.weight)`, no copy
    /// of the elements) or a tensor by value; a clone is another tensor
    /// with its own gradient (see [`TensorId`]).
    ///
    /// ```
    /// use autograd::{Tape, Tensor};
    /// let w = Tensor::<f32>::ones(&[2]);
    /// let tape = Tape::new();
    /// let wv = tape.param(&w);
    /// let grads = tape.backward_with(wv, Tensor::full(&[2], 3.0))?;
    /// assert_eq!(grads.of(&w).unwrap().data(), &[3.0, 3.0]);
    /// assert!(grads.of(&w.clone()).is_none()); // a clone was not on the tape
    /// # Ok::<(), autograd::Error>(())
    /// ```
    pub fn param(&self, value: impl ParamSource<T>) -> Var<'_, T> {
        let (value, id) = value.into_leaf();
        self.push_leaf(value, Some(id), true, "param")
    }

    /// A leaf that requires a gradient but is not a model parameter: an
    /// input whose gradient is wanted (saliency maps, adversarial examples,
    /// gradient checks), read with [`Grads::wrt`]. Optimizers ignore it,
    /// where a [`Tape::param`] that the model does not list is an error.
    pub fn grad_input(&self, value: Tensor<T>) -> Var<'_, T> {
        self.push_leaf(value, None, true, "grad_input")
    }

    /// A leaf that needs no gradient (data, targets, constants).
    pub fn constant(&self, value: Tensor<T>) -> Var<'_, T> {
        self.push_leaf(value, None, false, "constant")
    }

    /// Number of nodes recorded so far.
    pub fn len(&self) -> usize {
        self.inner.borrow().nodes.len()
    }

    /// Whether nothing has been recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Disables gradient recording until the guard drops (PyTorch's
    /// `torch.no_grad()`): ops still compute, but save nothing.
    ///
    /// ```
    /// use autograd::{Tape, Tensor};
    /// let tape = Tape::<f32>::new();
    /// let w = tape.param(Tensor::ones(&[2]));
    /// let _g = tape.no_grad();
    /// let d = w.detach();
    /// assert!(!d.requires_grad());
    /// ```
    pub fn no_grad(&self) -> NoGradGuard<'_, T> {
        self.no_grad_depth.set(self.no_grad_depth.get() + 1);
        NoGradGuard { tape: self }
    }

    /// Whether a no-grad guard is alive.
    pub fn is_grad_enabled(&self) -> bool {
        self.no_grad_depth.get() == 0
    }

    /// Opt-in anomaly detection: every op's output, and every gradient in
    /// backward, is checked for NaN/Inf; the first one found is an error that
    /// names the op (and the label given with [`Var::label`]).
    pub fn set_anomaly_detection(&self, on: bool) {
        self.anomaly.set(on);
    }

    /// Records a custom op whose backward is a closure, the shortest way to
    /// write a new op (what `torch.autograd.Function` is in PyTorch: the
    /// forward is the code that computes `value`, the closure its backward).
    /// Given dL/d(output), the closure returns dL/d(input) for each input, in
    /// order; the tape checks their number and shapes and names `op` in any
    /// error. Capture what the backward needs by value (`move`). The closure
    /// is kept only when a gradient is needed, as with [`Tape::record`].
    ///
    /// ```
    /// use autograd::{Tape, Tensor};
    /// let tape = Tape::<f64>::new();
    /// let x = tape.param(Tensor::from_vec(vec![1.0, 2.0], &[2])?);
    /// // y = x^3, dL/dx = 3 x^2 dL/dy
    /// let xv = x.value();
    /// let y = tape.record_fn("cube", &[x], xv.map(|v| v * v * v), move |g| {
    ///     Ok(vec![g.zip_broadcast(&xv, "cube", |g, x| 3.0 * x * x * g)?])
    /// })?;
    /// let grads = tape.backward_with(y, Tensor::ones(&[2]))?;
    /// assert_eq!(grads.wrt(x)?.data(), &[3.0, 12.0]);
    /// # Ok::<(), autograd::Error>(())
    /// ```
    #[track_caller]
    pub fn record_fn<'t, F>(
        &'t self,
        op: &'static str,
        inputs: &[Var<'t, T>],
        value: Tensor<T>,
        backward: F,
    ) -> Result<Var<'t, T>>
    where
        F: Fn(&Tensor<T>) -> Result<Vec<Tensor<T>>> + Send + 'static,
    {
        self.record(op, inputs, value, move || FnBackward(backward))
    }

    /// Records an op: `value` is its already-computed output; `make_backward`
    /// builds the backward object and is called only when some input requires
    /// a gradient and gradients are enabled, so ops under `no_grad` save
    /// nothing. Errors when an input belongs to another tape, or (with anomaly
    /// detection on) when `value` holds NaN/Inf.
    #[track_caller]
    pub fn record<'t, B: Backward<T>>(
        &'t self,
        op: &'static str,
        inputs: &[Var<'t, T>],
        value: Tensor<T>,
        make_backward: impl FnOnce() -> B,
    ) -> Result<Var<'t, T>> {
        let loc = Location::caller();
        for v in inputs {
            if !std::ptr::eq(v.tape, self) {
                return Err(Error::tape(op, "an input variable belongs to another tape").at(loc));
            }
        }
        let mut inner = self.inner.borrow_mut();
        if self.anomaly.get() && !value.all_finite() {
            let labels: Vec<String> = inputs
                .iter()
                .filter_map(|v| inner.nodes[v.id].label.clone())
                .collect();
            let label = if labels.is_empty() {
                String::new()
            } else {
                format!(" (input labelled {})", labels.join(", "))
            };
            return Err(Error::new(
                ErrorKind::Anomaly,
                op,
                format!(
                    "forward produced {} in its output of shape {}{}",
                    nan_or_inf(&value),
                    fmt_shape(value.shape()),
                    label
                ),
            )
            .at(loc));
        }
        let requires_grad =
            self.is_grad_enabled() && inputs.iter().any(|v| inner.nodes[v.id].requires_grad);
        let backward: Option<Box<dyn Backward<T>>> = if requires_grad {
            Some(Box::new(make_backward()))
        } else {
            None
        };
        let id = inner.nodes.len();
        inner.nodes.push(Node {
            op,
            label: None,
            value,
            param: None,
            requires_grad,
            is_leaf: false,
            retain_grad: false,
            inputs: inputs.iter().map(|v| v.id).collect(),
            backward,
            freed: false,
        });
        crate::profile::forward_done(op);
        Ok(Var { tape: self, id })
    }

    /// Backpropagates from a one-element `loss` (dL/dL = 1) and frees the
    /// saved tensors of every node it passes through (PyTorch's default;
    /// use [`Tape::backward_retain`] to backpropagate twice).
    #[track_caller]
    pub fn backward(&self, loss: Var<'_, T>) -> Result<Grads<T>> {
        let loc = Location::caller();
        let seed = self.seed_for(loss, loc)?;
        self.run_backward(loss, seed, false, loc)
    }

    /// Like [`Tape::backward`], but keeps saved tensors for another pass.
    #[track_caller]
    pub fn backward_retain(&self, loss: Var<'_, T>) -> Result<Grads<T>> {
        let loc = Location::caller();
        let seed = self.seed_for(loss, loc)?;
        self.run_backward(loss, seed, true, loc)
    }

    /// Backpropagates from a non-scalar `out` with an explicit seed gradient
    /// dL/d(out) of the same shape (PyTorch's `out.backward(grad)`).
    #[track_caller]
    pub fn backward_with(&self, out: Var<'_, T>, seed: Tensor<T>) -> Result<Grads<T>> {
        let loc = Location::caller();
        self.check_own(out, "backward", loc)?;
        let shape = out.shape();
        if seed.shape() != shape.as_slice() {
            return Err(Error::tape(
                "backward",
                format!(
                    "seed gradient has shape {} but the output has shape {}",
                    fmt_shape(seed.shape()),
                    fmt_shape(&shape)
                ),
            )
            .at(loc));
        }
        self.run_backward(out, seed, false, loc)
    }

    fn check_own(
        &self,
        v: Var<'_, T>,
        op: &'static str,
        loc: &'static Location<'static>,
    ) -> Result<()> {
        if std::ptr::eq(v.tape, self) {
            Ok(())
        } else {
            Err(Error::tape(op, "the variable belongs to another tape").at(loc))
        }
    }

    fn seed_for(&self, loss: Var<'_, T>, loc: &'static Location<'static>) -> Result<Tensor<T>> {
        self.check_own(loss, "backward", loc)?;
        let v = loss.value();
        if v.numel() != 1 {
            return Err(Error::tape(
                "backward",
                format!(
                    "output of shape {} is not a scalar: reduce it to one element (e.g. mean) or pass a seed gradient with backward_with",
                    fmt_shape(v.shape())
                ),
            )
            .at(loc));
        }
        Ok(Tensor::ones(v.shape()))
    }

    fn run_backward(
        &self,
        out: Var<'_, T>,
        seed: Tensor<T>,
        retain: bool,
        loc: &'static Location<'static>,
    ) -> Result<Grads<T>> {
        let mut inner = self.inner.borrow_mut();
        let n = out.id + 1;
        let mut grads: Vec<Option<Tensor<T>>> = vec![None; n];
        if !inner.nodes[out.id].requires_grad {
            return Err(Error::tape(
                "backward",
                format!(
                    "the output ({}) does not require a gradient: no parameter reaches it",
                    inner.nodes[out.id].op
                ),
            )
            .at(loc));
        }
        grads[out.id] = Some(seed);
        let anomaly = self.anomaly.get();
        let profiling = crate::profile::active();
        for i in (0..n).rev() {
            let node = &inner.nodes[i];
            if node.is_leaf || !node.requires_grad {
                continue;
            }
            let Some(g) = (if node.retain_grad {
                grads[i].clone()
            } else {
                grads[i].take()
            }) else {
                continue;
            };
            let op = node.op;
            if node.freed {
                return Err(Error::tape(
                    op,
                    "saved tensors were freed by an earlier backward; use backward_retain to backpropagate twice",
                )
                .at(loc));
            }
            let inputs = node.inputs.clone();
            let needs: SmallVec<[bool; 3]> = inputs
                .iter()
                .map(|&j| inner.nodes[j].requires_grad)
                .collect();
            // Take the backward object out while it runs; put it back only
            // when retaining, so saved tensors are dropped as we go.
            let Some(bw) = inner.nodes[i].backward.take() else {
                return Err(
                    Error::tape(op, "internal: a node that requires grad has no backward").at(loc),
                );
            };
            let result = crate::profile::time_backward(profiling, op, || bw.backward(&g, &needs));
            if retain {
                inner.nodes[i].backward = Some(bw);
            } else {
                inner.nodes[i].freed = true;
                drop(bw);
            }
            let in_grads =
                result.map_err(|e| if e.location().is_none() { e.at(loc) } else { e })?;
            if in_grads.len() != inputs.len() {
                return Err(Error::tape(
                    op,
                    format!(
                        "backward returned {} gradients for {} inputs",
                        in_grads.len(),
                        inputs.len()
                    ),
                )
                .at(loc));
            }
            for ((&j, gi), &need) in inputs.iter().zip(in_grads).zip(needs.iter()) {
                let Some(gi) = gi else { continue };
                if !need {
                    continue;
                }
                let in_shape = inner.nodes[j].value.shape();
                if gi.shape() != in_shape {
                    return Err(Error::tape(
                        op,
                        format!(
                            "backward returned a gradient of shape {} for an input of shape {}",
                            fmt_shape(gi.shape()),
                            fmt_shape(in_shape)
                        ),
                    )
                    .at(loc));
                }
                if anomaly && !gi.all_finite() {
                    let label = inner.nodes[i]
                        .label
                        .as_ref()
                        .map(|l| format!(" (labelled {l})"))
                        .unwrap_or_default();
                    return Err(Error::new(
                        ErrorKind::Anomaly,
                        op,
                        format!(
                            "backward produced {} in the gradient of its input {}{}",
                            nan_or_inf(&gi),
                            fmt_shape(in_shape),
                            label
                        ),
                    )
                    .at(loc));
                }
                match &mut grads[j] {
                    Some(acc) => {
                        let add = || acc.add_assign(&gi);
                        crate::profile::time_backward(
                            profiling,
                            crate::profile::ACCUMULATE_GRAD,
                            add,
                        )
                    }
                    slot @ None => *slot = Some(gi),
                }
            }
        }
        // keep only leaves' (and retained) gradients
        for (i, g) in grads.iter_mut().enumerate() {
            let node = &inner.nodes[i];
            let keep = (node.is_leaf && node.requires_grad) || node.retain_grad;
            if !keep {
                *g = None;
            }
        }
        let leaves = inner.nodes[..n]
            .iter()
            .enumerate()
            .filter(|(_, node)| node.is_leaf && node.requires_grad)
            .filter_map(|(i, node)| Some((node.param?, i)))
            .collect();
        crate::profile::mark();
        Ok(Grads {
            tape_id: self.id,
            grads,
            leaves,
        })
    }
}

fn nan_or_inf<T: Element>(t: &Tensor<T>) -> &'static str {
    if t.data().iter().any(|v| v.is_nan()) {
        "NaN"
    } else {
        "Inf"
    }
}

impl<'t, T: Element> Var<'t, T> {
    /// The tape this variable lives on.
    pub fn tape(&self) -> &'t Tape<T> {
        self.tape
    }
    /// The node id (its position on the tape).
    pub fn id(&self) -> usize {
        self.id
    }
    /// The value (an O(1) clone of shared storage).
    pub fn value(&self) -> Tensor<T> {
        self.tape.inner.borrow().nodes[self.id].value.clone()
    }
    /// The shape.
    pub fn shape(&self) -> crate::Shape {
        crate::Shape::from_slice(self.tape.inner.borrow().nodes[self.id].value.shape())
    }
    /// Whether a gradient flows to this variable.
    pub fn requires_grad(&self) -> bool {
        self.tape.inner.borrow().nodes[self.id].requires_grad
    }
    /// The op that produced it ("param", "constant", "conv2d", ...).
    pub fn op_name(&self) -> &'static str {
        self.tape.inner.borrow().nodes[self.id].op
    }
    /// A new constant with the same value, cut from the graph (PyTorch's
    /// `detach`): no gradient flows through it.
    pub fn detach(&self) -> Var<'t, T> {
        self.tape.constant(self.value())
    }
    /// Names this variable (a layer's output, say) for anomaly reports and
    /// debugging; returns it for chaining.
    pub fn label(self, name: impl Into<String>) -> Self {
        self.tape.inner.borrow_mut().nodes[self.id].label = Some(name.into());
        self
    }
    /// Keeps this non-leaf variable's gradient in [`Grads`] (PyTorch's
    /// `retain_grad`), e.g. to look at the gradient of a hidden activation.
    pub fn retain_grad(self) -> Self {
        self.tape.inner.borrow_mut().nodes[self.id].retain_grad = true;
        self
    }
}

/// Gradients from one backward pass, indexed by variable.
#[derive(Clone, Debug)]
pub struct Grads<T: Element> {
    tape_id: u64,
    grads: Vec<Option<Tensor<T>>>,
    /// (tensor id, node id) of every parameter leaf; tensor ids are never
    /// reused, so a tensor allocated after a parameter was freed never
    /// matches it
    leaves: Vec<(TensorId, usize)>,
}

impl<T: Element> Grads<T> {
    /// Gradients given directly, one per parameter tensor (by its
    /// [`TensorId`]), for an optimizer step that did not come from one
    /// backward: gradients averaged over processes (data-parallel training),
    /// summed over micro-batches, or computed by hand. [`Grads::of`] then
    /// answers the given gradient for that tensor; [`Grads::get`] answers
    /// `None` for every variable (there is no tape).
    ///
    /// ```
    /// use autograd::{Grads, Tensor};
    /// let w = Tensor::<f32>::ones(&[2]);
    /// let grads = Grads::from_params([(w.id(), Tensor::full(&[2], 0.5))]);
    /// assert_eq!(grads.of(&w).unwrap().data(), &[0.5, 0.5]);
    /// ```
    pub fn from_params(grads: impl IntoIterator<Item = (TensorId, Tensor<T>)>) -> Self {
        let (mut values, mut leaves) = (Vec::new(), Vec::new());
        for (id, g) in grads {
            leaves.push((id, values.len()));
            values.push(Some(g));
        }
        // tape ids start at 1: no variable matches tape 0
        Grads {
            tape_id: 0,
            grads: values,
            leaves,
        }
    }

    /// The gradient of `v`, or `None` if it needs none or nothing reached it.
    pub fn get(&self, v: Var<'_, T>) -> Option<&Tensor<T>> {
        if v.tape.id != self.tape_id {
            return None;
        }
        self.grads.get(v.id).and_then(|g| g.as_ref())
    }

    /// The gradient of a parameter tensor that was put on the tape with
    /// [`Tape::param`], found by the tensor's identity ([`TensorId`]): pass
    /// the layer's own tensor. A tensor put on the tape several times (shared
    /// weights) gets the sum; a clone of it is another tensor. `None` when it
    /// was not on the tape or no gradient reached it.
    ///
    /// This is how layers that own their tensors, and optimizers, find
    /// gradients without keeping `Var`s around.
    ///
    /// ```
    /// use autograd::{Backward, InputGrads, Tape, Tensor};
    /// // an op y = w[0] + w[1] (the `ops` crate has the real ones)
    /// struct SumOfTwo;
    /// impl Backward<f32> for SumOfTwo {
    ///     fn backward(&self, g: &Tensor<f32>, _: &[bool]) -> autograd::Result<InputGrads<f32>> {
    ///         Ok(autograd::smallvec::smallvec![Some(Tensor::full(&[2], g.data()[0]))])
    ///     }
    /// }
    /// let w = Tensor::<f32>::ones(&[2]);
    /// let grads = {
    ///     let tape = Tape::new();
    ///     let wv = tape.param(&w);
    ///     let y = tape.record("sum2", &[wv], Tensor::scalar(2.0), || SumOfTwo).unwrap();
    ///     tape.backward(y).unwrap()
    /// };
    /// assert_eq!(grads.of(&w).unwrap().data(), &[1.0, 1.0]);
    /// ```
    pub fn of(&self, param: &Tensor<T>) -> Option<Tensor<T>> {
        let key = param.id();
        let mut acc: Option<Tensor<T>> = None;
        for &(_, i) in self.leaves.iter().filter(|(k, _)| *k == key) {
            if let Some(g) = &self.grads[i] {
                match &mut acc {
                    Some(a) => a.add_assign(g),
                    None => acc = Some(g.clone()),
                }
            }
        }
        acc
    }

    /// The gradients of the parameter leaves, one `(tensor id, gradient)`
    /// per parameter tensor (a tensor put on the tape several times gets the
    /// sum, as [`Grads::of`]), in the order the parameters were first put on
    /// the tape. For global operations over all gradients, such as norm
    /// clipping.
    pub fn params(&self) -> Vec<(TensorId, Tensor<T>)> {
        let mut out: Vec<(TensorId, Tensor<T>)> = Vec::new();
        for &(id, i) in &self.leaves {
            let Some(g) = &self.grads[i] else { continue };
            match out.iter_mut().find(|(k, _)| *k == id) {
                Some((_, acc)) => acc.add_assign(g),
                None => out.push((id, g.clone())),
            }
        }
        out
    }

    /// `(identity, shape, tape node)` of every parameter leaf that received
    /// a gradient, in tape order (a tensor put on the tape several times
    /// appears once per use). Optimizers use it to refuse gradients of
    /// tensors their model does not list.
    pub fn param_leaves(&self) -> Vec<(TensorId, Vec<usize>, usize)> {
        self.leaves
            .iter()
            .filter_map(|&(id, i)| Some((id, self.grads[i].as_ref()?.shape().to_vec(), i)))
            .collect()
    }

    /// Drops the gradients of the parameters for which `keep(id)` is false
    /// (they then look as if they were never on the tape).
    pub fn retain_params(&mut self, mut keep: impl FnMut(TensorId) -> bool) {
        let grads = &mut self.grads;
        self.leaves.retain(|&(id, i)| {
            let k = keep(id);
            if !k {
                grads[i] = None;
            }
            k
        });
    }

    /// Applies `f` to every parameter leaf's gradient in place (each leaf of
    /// a tensor put on the tape several times separately; `f` should be
    /// linear in the gradient, as scaling and clamping by a bound are, or
    /// act element-wise). This is how gradient clipping changes gradients
    /// before an optimizer step.
    ///
    /// ```
    /// use autograd::{Tape, Tensor};
    /// let tape = Tape::<f32>::new();
    /// let w = Tensor::<f32>::ones(&[2]);
    /// let wv = tape.param(&w);
    /// // backward from w itself with seed 3: dL/dw = 3
    /// let mut grads = tape.backward_with(wv, Tensor::full(&[2], 3.0))?;
    /// grads.for_each_param_grad(|g| g.data_mut().iter_mut().for_each(|v| *v *= 0.5));
    /// assert_eq!(grads.of(&w).unwrap().data(), &[1.5, 1.5]);
    /// # Ok::<(), autograd::Error>(())
    /// ```
    pub fn for_each_param_grad(&mut self, mut f: impl FnMut(&mut Tensor<T>)) {
        for &(_, i) in &self.leaves {
            if let Some(g) = &mut self.grads[i] {
                f(g);
            }
        }
    }

    /// The gradient of `v`: zeros of its shape when it requires a gradient
    /// that nothing reached; an error when it cannot have one (a constant, a
    /// non-leaf without `retain_grad`, another tape's variable).
    #[track_caller]
    pub fn wrt(&self, v: Var<'_, T>) -> Result<Tensor<T>> {
        if v.tape.id != self.tape_id {
            return Err(Error::tape("grads", "the variable belongs to another tape"));
        }
        if let Some(g) = self.get(v) {
            return Ok(g.clone());
        }
        let inner = v.tape.inner.borrow();
        let node = &inner.nodes[v.id];
        if node.requires_grad && (node.is_leaf || node.retain_grad) {
            Ok(Tensor::zeros(node.value.shape()))
        } else if !node.requires_grad {
            Err(Error::tape(
                "grads",
                format!("the variable ({}) does not require a gradient", node.op),
            ))
        } else {
            Err(Error::tape(
                "grads",
                format!(
                    "the variable ({}) is not a leaf; call retain_grad() on it before backward",
                    node.op
                ),
            ))
        }
    }
}
