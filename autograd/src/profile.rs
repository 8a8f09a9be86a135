//! Where a step's time goes, op by op: a per-thread profiler of the tape
//! (PyTorch's `torch.profiler.profile()` with `key_averages()`, for ops
//! recorded on a [`Tape`](crate::Tape)).
//!
//! [`start`] turns it on for the calling thread; every op recorded and
//! every backward node run on that thread is then timed and summed by op
//! name until [`Profiler::finish`] returns the [`Profile`]. Off, it costs
//! one thread-local flag read per op.
//!
//! What is measured, per op name:
//! - **forward**: an op computes its output before it calls
//!   [`Tape::record`](crate::Tape::record), so its forward time is the time
//!   from the previous tape event on this thread to the end of its
//!   `record` (building its backward object included). Tape events are
//!   records, leaves ([`Tape::param`](crate::Tape::param),
//!   [`Tape::constant`](crate::Tape::constant), ...) and the end of a
//!   backward; so user code that runs between two ops without making a leaf
//!   (printing, say) is counted in the next op's forward.
//! - **backward**: the op's [`Backward::backward`](crate::Backward) call.
//! - `accumulate_grad` (a row of its own): summing the gradients of a
//!   value used by more than one op.
//!
//! The wall time from [`start`] to [`Profiler::finish`] is in the profile
//! too; what no row holds (the optimizer step, data preparation) is the
//! difference, shown as `outside ops` in the table.
//!
//! The ops' kernels run on rayon's threads; their time is the op's wall
//! time on the thread that records it. A profiler sees only the tapes of
//! its own thread.
//!
//! ```
//! use autograd::{profile, Tape, Tensor};
//! let p = profile::start()?;
//! let tape = Tape::<f32>::new();
//! let x = tape.param(Tensor::from_vec(vec![1.0, -2.0], &[2])?);
//! let y = tape.record_fn("double", &[x], x.value().map(|v| 2.0 * v), |g| {
//!     Ok(vec![g.map(|v| 2.0 * v)])
//! })?;
//! tape.backward_with(y, Tensor::ones(&[2]))?;
//! let prof = p.finish();
//! let row = prof.op("double").unwrap();
//! assert_eq!((row.forward_calls, row.backward_calls), (1, 1));
//! assert!(prof.ops_total() <= prof.wall);
//! println!("{prof}"); // a table, slowest op first
//! # Ok::<(), autograd::Error>(())
//! ```

use std::cell::{Cell, RefCell};
use std::fmt;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// The name of the row that holds gradient accumulation.
pub const ACCUMULATE_GRAD: &str = "accumulate_grad";

/// The summed times of one op name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpTimes {
    /// The op's name, as it records itself on the tape.
    pub op: &'static str,
    /// How many times its forward ran.
    pub forward_calls: u64,
    /// The summed forward time (see the [module docs](self)).
    pub forward: Duration,
    /// How many times its backward ran.
    pub backward_calls: u64,
    /// The summed backward time.
    pub backward: Duration,
}

impl OpTimes {
    /// Forward plus backward time.
    pub fn total(&self) -> Duration {
        self.forward + self.backward
    }
}

/// What a [`Profiler`] measured: one row per op name, slowest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// One row per op name, by descending [`OpTimes::total`].
    pub rows: Vec<OpTimes>,
    /// The time from [`start`] to [`Profiler::finish`].
    pub wall: Duration,
}

impl Profile {
    /// The row of `op`, if it ran.
    pub fn op(&self, op: &str) -> Option<&OpTimes> {
        self.rows.iter().find(|r| r.op == op)
    }

    /// The time all rows hold together.
    pub fn ops_total(&self) -> Duration {
        self.rows.iter().map(OpTimes::total).sum()
    }
}

/// A table: op, forward calls and ms, backward calls and ms, total ms, and
/// share of the wall time; then the time outside ops and the wall time.
impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let wall = ms(self.wall);
        let pct = |d: Duration| {
            if wall > 0.0 {
                100.0 * ms(d) / wall
            } else {
                0.0
            }
        };
        let width = self
            .rows
            .iter()
            .map(|r| r.op.len())
            .chain([11])
            .max()
            .unwrap_or(11);
        writeln!(
            f,
            "{:<width$} {:>7} {:>10} {:>7} {:>10} {:>10} {:>6}",
            "op", "fwd", "fwd ms", "bwd", "bwd ms", "total ms", "%wall"
        )?;
        for r in &self.rows {
            writeln!(
                f,
                "{:<width$} {:>7} {:>10.3} {:>7} {:>10.3} {:>10.3} {:>6.1}",
                r.op,
                r.forward_calls,
                ms(r.forward),
                r.backward_calls,
                ms(r.backward),
                ms(r.total()),
                pct(r.total())
            )?;
        }
        let outside = self.wall.saturating_sub(self.ops_total());
        writeln!(
            f,
            "{:<width$} {:>7} {:>10} {:>7} {:>10} {:>10.3} {:>6.1}",
            "outside ops",
            "",
            "",
            "",
            "",
            ms(outside),
            pct(outside)
        )?;
        write!(
            f,
            "{:<width$} {:>7} {:>10} {:>7} {:>10} {:>10.3} {:>6.1}",
            "wall", "", "", "", "", wall, 100.0
        )
    }
}

struct State {
    start: Instant,
    /// the last tape event: the next op's forward is counted from here
    mark: Instant,
    rows: Vec<OpTimes>,
}

impl State {
    fn row(&mut self, op: &'static str) -> &mut OpTimes {
        // a few dozen op names at most: a linear search beats hashing
        let i = match self.rows.iter().position(|r| r.op == op) {
            Some(i) => i,
            None => {
                self.rows.push(OpTimes {
                    op,
                    forward_calls: 0,
                    forward: Duration::ZERO,
                    backward_calls: 0,
                    backward: Duration::ZERO,
                });
                self.rows.len() - 1
            }
        };
        &mut self.rows[i]
    }
}

thread_local! {
    static ON: Cell<bool> = const { Cell::new(false) };
    static STATE: RefCell<Option<State>> = const { RefCell::new(None) };
}

/// Turns the profiler on for this thread. Errors if it is on already (one
/// profile per thread at a time).
pub fn start() -> Result<Profiler> {
    if active() {
        return Err(Error::tape(
            "profile",
            "a profiler is already running on this thread; finish it first",
        ));
    }
    let now = Instant::now();
    STATE.with(|s| {
        *s.borrow_mut() = Some(State {
            start: now,
            mark: now,
            rows: Vec::new(),
        })
    });
    ON.with(|on| on.set(true));
    Ok(Profiler {
        _not_send: std::marker::PhantomData,
    })
}

/// The running profiler of this thread; [`Profiler::finish`] stops it and
/// returns what it measured. Dropped without `finish`, it stops and the
/// measurements are lost.
#[must_use = "finish() returns the profile"]
pub struct Profiler {
    // the state is the thread's own, so the guard stays on its thread
    _not_send: std::marker::PhantomData<*const ()>,
}

impl Profiler {
    /// Stops profiling and returns the profile, slowest op first.
    pub fn finish(self) -> Profile {
        let end = Instant::now();
        ON.with(|on| on.set(false));
        let state = STATE.with(|s| s.borrow_mut().take());
        let Some(state) = state else {
            // unreachable: start() set it and only finish/drop clear it
            return Profile {
                rows: Vec::new(),
                wall: Duration::ZERO,
            };
        };
        let mut rows = state.rows;
        rows.sort_by(|a, b| b.total().cmp(&a.total()).then(a.op.cmp(b.op)));
        Profile {
            rows,
            wall: end - state.start,
        }
    }
}

impl Drop for Profiler {
    fn drop(&mut self) {
        ON.with(|on| on.set(false));
        STATE.with(|s| s.borrow_mut().take());
    }
}

/// Whether a profiler runs on this thread.
pub fn active() -> bool {
    ON.with(Cell::get)
}

fn with_state(f: impl FnOnce(&mut State)) {
    STATE.with(|s| {
        if let Some(state) = s.borrow_mut().as_mut() {
            f(state)
        }
    })
}

/// A leaf was made, or a backward ended: the next op's forward starts here.
pub(crate) fn mark() {
    if active() {
        let now = Instant::now();
        with_state(|s| s.mark = now);
    }
}

/// `op` was recorded: its forward ran since the last mark.
pub(crate) fn forward_done(op: &'static str) {
    if active() {
        let now = Instant::now();
        with_state(|s| {
            let d = now.saturating_duration_since(s.mark);
            s.mark = now;
            let r = s.row(op);
            r.forward_calls += 1;
            r.forward += d;
        });
    }
}

/// `f()`, timed as a backward call of `op` when `profiling` (the value of
/// [`active`], read once per backward pass).
#[inline]
pub(crate) fn time_backward<R>(profiling: bool, op: &'static str, f: impl FnOnce() -> R) -> R {
    if !profiling {
        return f();
    }
    let t0 = Instant::now();
    let out = f();
    let d = t0.elapsed();
    with_state(|s| {
        let r = s.row(op);
        r.backward_calls += 1;
        r.backward += d;
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Tape, Tensor};
    use std::thread::sleep;

    fn double<'t>(x: crate::Var<'t, f64>, op: &'static str) -> crate::Var<'t, f64> {
        x.tape()
            .record_fn(op, &[x], x.value().map(|v| 2.0 * v), |g| {
                Ok(vec![g.map(|v| 2.0 * v)])
            })
            .unwrap()
    }

    #[test]
    fn counts_each_op_and_the_accumulation() {
        let p = start().unwrap();
        let tape = Tape::<f64>::new();
        let x = tape.param(Tensor::from_vec(vec![1.0, 2.0], &[2]).unwrap());
        // x feeds two ops, so its gradient is accumulated once
        let a = double(x, "a");
        let b = double(x, "b");
        let c = double(double(a, "a"), "c");
        let s = tape
            .record_fn(
                "add",
                &[c, b],
                c.value()
                    .zip_broadcast(&b.value(), "add", |u, v| u + v)
                    .unwrap(),
                |g| Ok(vec![g.clone(), g.clone()]),
            )
            .unwrap();
        let grads = tape.backward_with(s, Tensor::ones(&[2])).unwrap();
        assert_eq!(grads.wrt(x).unwrap().data(), &[10.0, 10.0]);
        let prof = p.finish();
        let calls = |op| {
            let r = prof.op(op).unwrap();
            (r.forward_calls, r.backward_calls)
        };
        assert_eq!(calls("a"), (2, 2));
        assert_eq!(calls("b"), (1, 1));
        assert_eq!(calls("c"), (1, 1));
        assert_eq!(calls("add"), (1, 1));
        assert_eq!(calls(ACCUMULATE_GRAD), (0, 1));
        assert_eq!(prof.rows.len(), 5);
        assert!(prof.ops_total() <= prof.wall);
        // slowest first
        assert!(prof.rows.windows(2).all(|w| w[0].total() >= w[1].total()));
        let table = prof.to_string();
        for op in ["a", "b", "c", "add", ACCUMULATE_GRAD, "outside ops", "wall"] {
            assert!(table.lines().any(|l| l.starts_with(op)), "{op} in\n{table}");
        }
    }

    #[test]
    fn forward_counts_from_the_last_tape_event_and_backward_its_call() {
        let p = start().unwrap();
        let tape = Tape::<f64>::new();
        let x = tape.param(Tensor::from_vec(vec![1.0], &[1]).unwrap());
        // a slow forward: the time before record counts as the op's
        sleep(Duration::from_millis(30));
        let y = tape
            .record_fn("slow_fwd", &[x], x.value(), |g| {
                sleep(Duration::from_millis(30));
                Ok(vec![g.clone()])
            })
            .unwrap();
        // time before a leaf is nobody's
        sleep(Duration::from_millis(60));
        let k = tape.constant(Tensor::from_vec(vec![3.0], &[1]).unwrap());
        let z = tape
            .record_fn("quick", &[y, k], y.value(), |g| {
                Ok(vec![g.clone(), g.clone()])
            })
            .unwrap();
        tape.backward(z).unwrap();
        let prof = p.finish();
        let slow = prof.op("slow_fwd").unwrap();
        assert!(slow.forward >= Duration::from_millis(30), "{prof}");
        assert!(slow.backward >= Duration::from_millis(30), "{prof}");
        let quick = prof.op("quick").unwrap();
        assert!(quick.forward < Duration::from_millis(60), "{prof}");
        assert!(prof.wall >= Duration::from_millis(120), "{prof}");
        assert!(
            prof.wall - prof.ops_total() >= Duration::from_millis(60),
            "{prof}"
        );
    }

    #[test]
    fn off_unless_started_and_one_per_thread() {
        let tape = Tape::<f64>::new();
        let x = tape.param(Tensor::from_vec(vec![1.0], &[1]).unwrap());
        let y = double(x, "before");
        assert!(!active());
        let p = start().unwrap();
        assert!(active());
        assert!(start().is_err());
        // ops on another thread are that thread's
        std::thread::spawn(|| {
            let t = Tape::<f64>::new();
            let v = t.param(Tensor::from_vec(vec![1.0], &[1]).unwrap());
            double(v, "elsewhere");
            assert!(!active());
        })
        .join()
        .unwrap();
        double(y, "during");
        let prof = p.finish();
        assert!(!active());
        assert!(prof.op("before").is_none());
        assert!(prof.op("elsewhere").is_none());
        assert_eq!(prof.op("during").unwrap().forward_calls, 1);
        double(y, "after");
        // a dropped profiler stops too, and another may start
        drop(start().unwrap());
        assert!(!active());
        let prof = start().unwrap().finish();
        assert!(prof.rows.is_empty());
    }
}
