//! Data-parallel training over any [`Collective`]: the global batch is split
//! among ranks, each rank's gradient is reduced in rank order, and every
//! rank takes the same optimizer step, so the parameters stay bit-identical
//! on every rank.
//!
//! This module holds the algorithm and needs no MPI: [`Local`] is the
//! one-process collective. The `distributed` feature adds
//! [`crate::mpi::MpiWorld`], the same trait over MPI.
//!
//! One step of [`DataParallel::step`], as PyTorch's DistributedDataParallel
//! does it:
//!
//! 1. Rank `r` of `p` takes rows `r·B/p .. (r+1)·B/p` of the global batch of
//!    `B` (every rank draws the same batch from the same seed).
//! 2. Forward and backward on those rows, the mean loss scaled by `n_r / B`,
//!    so that the sum over ranks of the gradients is the gradient of the mean
//!    loss over the global batch.
//! 3. The gradients, flattened in the model's parameter order, are summed in
//!    buckets of at most [`DataParallel::bucket_mb`] MiB (DDP's default
//!    25 MiB). Each sum adds the ranks' values in rank order, once, and sends
//!    that one result to every rank.
//! 4. Every rank applies the same optimizer step to the same parameters with
//!    the same gradient.
//! 5. Buffers (batch norm's running statistics) are copied from rank 0, as
//!    DDP's `broadcast_buffers=True`: each rank normalises with its own
//!    batch's statistics, while the running statistics that are evaluated
//!    and saved are rank 0's.
//!
//! A run on `p` ranks is not bitwise equal to a one-process run on the same
//! global batch, because the batch's sum is split in `p` partial sums
//! (float addition is not associative); `tests/distributed.rs` measures the
//! difference. Two runs with the same world size are bitwise equal.

use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use autograd::{Error, Grads, Result, Tape, Tensor};
use data::Dataset;
use nn::{Classifier, Mode, Module};
use optim::Optimizer;

use crate::step::{evaluate, Pass};

/// The collective operations data-parallel training needs. Every method is
/// called by every rank, in the same order (as MPI's collectives).
///
/// ```
/// use train::dist::{Collective, Local};
/// let comm: &dyn Collective = &Local; // or a train::mpi::MpiWorld
/// let mut grads = vec![1.0f32, 2.0];
/// comm.sum_f32(&mut grads)?; // over one rank: unchanged
/// assert_eq!((comm.rank(), comm.size(), grads), (0, 1, vec![1.0, 2.0]));
/// # Ok::<(), autograd::Error>(())
/// ```
pub trait Collective {
    /// This process's rank, `0..size()`.
    fn rank(&self) -> usize;
    /// The number of ranks.
    fn size(&self) -> usize;
    /// Element-wise sum over the ranks, added in rank order (rank 0's value
    /// first); every rank receives the same bits.
    fn sum_f32(&self, buf: &mut [f32]) -> Result<()>;
    /// [`Collective::sum_f32`] for `f64`.
    fn sum_f64(&self, buf: &mut [f64]) -> Result<()>;
    /// Rank 0's values to every rank.
    fn broadcast_f32(&self, buf: &mut [f32]) -> Result<()>;
    /// Every rank's bytes, in rank order, on every rank.
    fn all_gather_bytes(&self, mine: &[u8]) -> Result<Vec<Vec<u8>>>;
    /// Waits until every rank has called it.
    fn barrier(&self) -> Result<()>;
}

/// One process: every collective is the identity.
#[derive(Clone, Copy, Debug, Default)]
pub struct Local;

impl Collective for Local {
    fn rank(&self) -> usize {
        0
    }
    fn size(&self) -> usize {
        1
    }
    fn sum_f32(&self, _: &mut [f32]) -> Result<()> {
        Ok(())
    }
    fn sum_f64(&self, _: &mut [f64]) -> Result<()> {
        Ok(())
    }
    fn broadcast_f32(&self, _: &mut [f32]) -> Result<()> {
        Ok(())
    }
    fn all_gather_bytes(&self, mine: &[u8]) -> Result<Vec<Vec<u8>>> {
        Ok(vec![mine.to_vec()])
    }
    fn barrier(&self) -> Result<()> {
        Ok(())
    }
}

/// Rows `r·n/p .. (r+1)·n/p`: rank `r`'s share of `n` items among `p`
/// ranks (sizes differ by at most one; empty when `n < p` for some ranks).
///
/// ```
/// assert_eq!(train::dist::shard(10, 0, 3), 0..3);
/// assert_eq!(train::dist::shard(10, 2, 3), 6..10);
/// ```
pub fn shard(n: usize, rank: usize, size: usize) -> Range<usize> {
    let at = |r: usize| (r as u128 * n as u128 / size.max(1) as u128) as usize;
    at(rank.min(size))..at((rank + 1).min(size))
}

/// Data-parallel training over a [`Collective`]; see the
/// [module docs](self).
///
/// ```
/// use train::dist::{DataParallel, Local};
/// use rand::SeedableRng;
/// let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
/// let mut model = train::models::LinearSoftmax::new(12, 3, &mut rng);
/// let dp = DataParallel::new(&Local);
/// dp.sync_model(&mut model)?; // rank 0's weights everywhere
/// let x = autograd::Tensor::randn(&[8, 3, 2, 2], 0.0, 1.0, &mut rng);
/// let (loss, _acc) = dp.step(&mut model, &mut optim::Sgd::new(0.1), &x, &[0, 1, 2, 0, 1, 2, 0, 1])?;
/// assert!(loss > 0.0);
/// # Ok::<(), autograd::Error>(())
/// ```
pub struct DataParallel<'c> {
    comm: &'c dyn Collective,
    bucket_elems: usize,
    reduce_nanos: AtomicU64,
    wait_nanos: AtomicU64,
    steps: AtomicU64,
}

impl<'c> DataParallel<'c> {
    /// Over `comm`, with 25 MiB buckets.
    pub fn new(comm: &'c dyn Collective) -> Self {
        DataParallel {
            comm,
            bucket_elems: 25 << 18, // 25 MiB of f32
            reduce_nanos: AtomicU64::new(0),
            wait_nanos: AtomicU64::new(0),
            steps: AtomicU64::new(0),
        }
    }

    /// Buckets of at most `mb` MiB of gradients per collective (at least
    /// one element).
    pub fn bucket_mb(mut self, mb: f64) -> Self {
        self.bucket_elems = ((mb * (1 << 18) as f64) as usize).max(1);
        self
    }

    /// The collective.
    pub fn comm(&self) -> &'c dyn Collective {
        self.comm
    }

    /// This process's rank.
    pub fn rank(&self) -> usize {
        self.comm.rank()
    }

    /// Since creation: steps taken, seconds waiting for the slowest rank
    /// to finish its backward (a barrier before the sums, on more than one
    /// rank), and seconds summing the gradients and the step's statistics.
    pub fn reduce_stats(&self) -> ReduceStats {
        ReduceStats {
            steps: self.steps.load(Ordering::Relaxed),
            wait_secs: self.wait_nanos.load(Ordering::Relaxed) as f64 * 1e-9,
            sum_secs: self.reduce_nanos.load(Ordering::Relaxed) as f64 * 1e-9,
        }
    }

    /// Copies rank 0's parameters and buffers to every rank (call once
    /// before training, as DDP does when it wraps a model).
    pub fn sync_model<M: Module<f32> + ?Sized>(&self, model: &mut M) -> Result<()> {
        self.broadcast_state(model, true)
    }

    /// Copies rank 0's buffers to every rank.
    pub fn sync_buffers<M: Module<f32> + ?Sized>(&self, model: &mut M) -> Result<()> {
        self.broadcast_state(model, false)
    }

    /// Rank 0's buffers, and with `params` its parameters, to every rank,
    /// in one broadcast. Buffers alone are skipped when the model has none.
    fn broadcast_state<M: Module<f32> + ?Sized>(&self, model: &mut M, params: bool) -> Result<()> {
        let mut flat = Vec::new();
        if params {
            model.visit("", &mut |_, t| flat.extend_from_slice(t.data()));
        }
        model.visit_buffers("", &mut |_, t| flat.extend_from_slice(t.data()));
        if !params && flat.is_empty() {
            return Ok(());
        }
        self.comm.broadcast_f32(&mut flat)?;
        let mut at = 0;
        if params {
            model.visit_mut("", &mut |_, t| at = unflatten(&flat, at, t));
        }
        model.visit_buffers_mut("", &mut |_, t| at = unflatten(&flat, at, t));
        Ok(())
    }

    /// One data-parallel step on the global batch (`images`, `labels`, the
    /// same on every rank); returns the global batch's (mean loss, accuracy)
    /// before the update, the same on every rank.
    pub fn step<M: Classifier + ?Sized>(
        &self,
        model: &mut M,
        opt: &mut dyn Optimizer<f32>,
        images: &Tensor<f32>,
        labels: &[usize],
    ) -> Result<(f64, f64)> {
        let b = labels.len();
        if images.shape().first() != Some(&b) {
            return Err(Error::shape(
                "DataParallel::step",
                format!("{} labels for images of shape {:?}", b, images.shape()),
            ));
        }
        let rows = shard(b, self.comm.rank(), self.comm.size());
        let n = rows.len();
        // (loss · n_r, correct) of this rank's rows, summed over ranks below
        let mut stats = [0.0f64; 2];
        let mut flat = Vec::new();
        let mut reached: Vec<f32> = Vec::new();
        let mut order = Vec::new();
        // this rank's gradients; none when it has no rows (it adds zeros)
        let grads = if n > 0 {
            let x = images.slice_batch(rows.start, rows.end)?;
            let y = &labels[rows.clone()];
            let tape = Tape::new();
            let scores = model.forward(&tape, tape.constant(x), Mode::Train)?;
            let loss = nn::cross_entropy(scores, y)?;
            let lv = loss.value().item()? as f64;
            stats = [lv * n as f64, nn::accuracy(&scores.value(), y) * n as f64];
            // the global batch's mean: this rank's mean weighted by n_r / B
            let weighted = if n == b {
                loss
            } else {
                (loss * (n as f64 / b as f64))?
            };
            Some(tape.backward(weighted)?)
        } else {
            None
        };
        model.visit("", &mut |_, t| {
            order.push((t.id(), t.shape().to_vec()));
            match grads.as_ref().and_then(|g| g.of(t)) {
                Some(g) => {
                    flat.extend_from_slice(g.data());
                    reached.push(1.0);
                }
                None => {
                    flat.resize(flat.len() + t.numel(), 0.0);
                    reached.push(0.0);
                }
            }
        });
        drop(grads);
        // after the sum, how many ranks a parameter's gradient reached: a
        // parameter no rank reached gets no gradient, as in one process
        // (the optimizer skips it instead of decaying it)
        flat.extend_from_slice(&reached);
        if self.comm.size() > 1 {
            // measured apart: time spent waiting for the slowest rank is
            // load imbalance, not communication
            let t = Instant::now();
            self.comm.barrier()?;
            self.wait_nanos
                .fetch_add(t.elapsed().as_nanos() as u64, Ordering::Relaxed);
        }
        let t0 = Instant::now();
        for bucket in flat.chunks_mut(self.bucket_elems) {
            self.comm.sum_f32(bucket)?;
        }
        self.comm.sum_f64(&mut stats)?;
        self.reduce_nanos
            .fetch_add(t0.elapsed().as_nanos() as u64, Ordering::Relaxed);
        self.steps.fetch_add(1, Ordering::Relaxed);
        let flags = flat.split_off(flat.len() - order.len());
        let mut at = 0;
        let mut reduced = Vec::with_capacity(order.len());
        for ((id, shape), flag) in order.into_iter().zip(flags) {
            let len = shape.iter().product::<usize>();
            if flag > 0.0 {
                let g = Tensor::from_vec(flat[at..at + len].to_vec(), &shape)?;
                reduced.push((id, g));
            }
            at += len;
        }
        let reduced = Grads::from_params(reduced);
        opt.step(model.as_module_mut(), &reduced)?;
        self.sync_buffers(model.as_module_mut())?;
        Ok((stats[0] / b.max(1) as f64, stats[1] / b.max(1) as f64))
    }

    /// Loss and accuracy over `set` in eval mode, each rank evaluating its
    /// share of the rows; every rank gets the totals.
    pub fn evaluate<M: Classifier + ?Sized>(
        &self,
        model: &M,
        set: &Dataset,
        batch: usize,
    ) -> Result<Pass> {
        let rows = shard(set.len(), self.comm.rank(), self.comm.size());
        let mut sums = [0.0f64; 2];
        if !rows.is_empty() {
            let part = set.slice(rows.start, rows.end)?;
            let p = evaluate(model, &part, batch)?;
            sums = [p.loss * part.len() as f64, p.acc * part.len() as f64];
        }
        self.comm.sum_f64(&mut sums)?;
        let n = set.len().max(1) as f64;
        Ok(Pass {
            loss: sums[0] / n,
            acc: sums[1] / n,
        })
    }
}

/// Where a data-parallel run's time outside forward and backward went
/// ([`DataParallel::reduce_stats`]).
///
/// ```
/// let dp = train::dist::DataParallel::new(&train::dist::Local);
/// assert_eq!(dp.reduce_stats().steps, 0);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ReduceStats {
    /// Steps taken.
    pub steps: u64,
    /// Seconds waiting for the slowest rank before the gradient sums.
    pub wait_secs: f64,
    /// Seconds in the gradient sums themselves.
    pub sum_secs: f64,
}

/// Copies `flat[at..at + t.numel()]` into `t`; returns the next offset.
fn unflatten(flat: &[f32], at: usize, t: &mut Tensor<f32>) -> usize {
    let n = t.numel();
    t.data_mut().copy_from_slice(&flat[at..at + n]);
    at + n
}

/// A checksum of a model's parameters and buffers, bit for bit (FNV-1a of
/// the f32 bit patterns in visit order): equal on two ranks exactly when
/// their models are bitwise equal (up to hash collisions).
///
/// ```
/// use rand::SeedableRng;
/// let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
/// let a = train::models::LinearSoftmax::new(4, 3, &mut rng);
/// assert_eq!(train::dist::checksum(&a), train::dist::checksum(&a));
/// ```
pub fn checksum<M: Module<f32> + ?Sized>(model: &M) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |t: &Tensor<f32>| {
        for v in t.data() {
            for byte in v.to_bits().to_le_bytes() {
                h = (h ^ byte as u64).wrapping_mul(0x0100_0000_01b3);
            }
        }
    };
    model.visit("", &mut |_, t| eat(t));
    model.visit_buffers("", &mut |_, t| eat(t));
    h
}
