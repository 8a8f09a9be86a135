//! [`Collective`] over MPI (the `distributed` feature): [`MpiWorld`] is the
//! MPI world communicator, started with `mpirun -np P program ...`.
//!
//! **Sums in a fixed order.** `MPI_Allreduce` leaves the order of additions
//! to the library (it picks an algorithm by message size and process
//! count), and some algorithms give different ranks differently rounded
//! results. [`MpiWorld::sum_f32`] is instead a reduce-scatter written as
//! `MPI_Alltoall` (rank `j` receives chunk `j` of every rank's buffer) and an
//! add in rank order, followed by `MPI_Allgather` of the summed chunks.
//! Every element is added once, in rank order, and the one result is copied
//! to every rank, so all ranks hold the same bits, run after run. Each rank
//! sends and receives `2 (p-1)/p` of the buffer, the same volume as a ring
//! all-reduce.
//!
//! **A rank that dies.** `mpirun` ends the whole job when one rank is
//! killed. Where that does not happen (a node lost across a network, a
//! rank stuck), a watchdog thread ends this process with an error when one
//! collective has waited longer than the timeout ([`MpiWorld::init`],
//! default 60 s) for the others, instead of hanging.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ::mpi::datatype::PartitionMut;
use ::mpi::environment::Universe;
use ::mpi::topology::SimpleCommunicator;
use ::mpi::traits::*;

use autograd::{Error, ErrorKind, Result};

use crate::dist::Collective;

/// Largest element count of one MPI call (counts are C ints).
const MAX_CALL: usize = 1 << 26;

/// The MPI world; see the [module docs](self).
///
/// ```no_run
/// // started as `mpirun -np 2 my-program`
/// use train::dist::{Collective, DataParallel};
/// let world = train::mpi::MpiWorld::init(std::time::Duration::from_secs(60))?;
/// println!("rank {} of {}", world.rank(), world.size());
/// let dp = DataParallel::new(&world); // then FitConfig { parallel: Some(&dp), .. }
/// # Ok::<(), autograd::Error>(())
/// ```
pub struct MpiWorld {
    world: SimpleCommunicator,
    watch: Arc<Watch>,
    // finalises MPI when dropped; declared last so it drops last
    _universe: Universe,
}

struct Watch {
    start: Instant,
    /// milliseconds since `start` at which the running collective began,
    /// plus one; 0 when none runs
    since: AtomicU64,
    op: std::sync::Mutex<&'static str>,
    stop: AtomicBool,
}

impl MpiWorld {
    /// Initialises MPI (once per process) with a watchdog: a collective
    /// that waits more than `timeout` for the other ranks ends the process
    /// with an error message naming the rank and the collective, and exit
    /// code 75. Errors when MPI was already initialised.
    pub fn init(timeout: Duration) -> Result<MpiWorld> {
        let (universe, _) = ::mpi::initialize_with_threading(::mpi::Threading::Funneled)
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::InvalidArgument,
                    "mpi",
                    "MPI is already initialised",
                )
            })?;
        let world = universe.world();
        let watch = Arc::new(Watch {
            start: Instant::now(),
            since: AtomicU64::new(0),
            op: std::sync::Mutex::new(""),
            stop: AtomicBool::new(false),
        });
        let w = Arc::clone(&watch);
        let (rank, size) = (world.rank(), world.size());
        std::thread::Builder::new()
            .name("mpi-watchdog".into())
            .spawn(move || loop {
                std::thread::sleep(Duration::from_millis(200));
                if w.stop.load(Ordering::Relaxed) {
                    return;
                }
                let since = w.since.load(Ordering::Acquire);
                if since == 0 {
                    continue;
                }
                let waited = w.start.elapsed().as_millis() as u64 + 1 - since;
                if waited > timeout.as_millis() as u64 {
                    let op = *w.op.lock().unwrap_or_else(|e| e.into_inner());
                    eprintln!(
                        "error: rank {rank} of {size}: {op} has waited {:.0} s for the other ranks \
                         (one died or hangs); stopping. The last checkpoint is intact: rerun with \
                         --resume to continue from it.",
                        waited as f64 / 1000.0
                    );
                    std::process::exit(75);
                }
            })
            .map_err(|e| Error::new(ErrorKind::Io, "mpi", format!("watchdog thread: {e}")))?;
        Ok(MpiWorld {
            world,
            watch,
            _universe: universe,
        })
    }

    /// Runs `f` as the collective `op` under the watchdog.
    fn watched<R>(&self, op: &'static str, f: impl FnOnce() -> R) -> R {
        *self.watch.op.lock().unwrap_or_else(|e| e.into_inner()) = op;
        let now = self.watch.start.elapsed().as_millis() as u64 + 1;
        self.watch.since.store(now, Ordering::Release);
        let r = f();
        self.watch.since.store(0, Ordering::Release);
        r
    }

    fn sum<T>(&self, buf: &mut [T]) -> Result<()>
    where
        T: Equivalence + Copy + Default + std::ops::AddAssign,
    {
        let p = self.size();
        if p == 1 {
            return Ok(());
        }
        for piece in buf.chunks_mut(MAX_CALL) {
            let chunk = piece.len().div_ceil(p);
            let mut send = vec![T::default(); chunk * p];
            send[..piece.len()].copy_from_slice(piece);
            let mut recv = vec![T::default(); chunk * p];
            // rank j receives chunk j of every rank, rank i's at i * chunk
            self.watched("all-to-all (gradient sum)", || {
                self.world.all_to_all_into(&send[..], &mut recv[..])
            });
            let mut mine = recv[..chunk].to_vec();
            for i in 1..p {
                for (m, v) in mine.iter_mut().zip(&recv[i * chunk..(i + 1) * chunk]) {
                    *m += *v;
                }
            }
            self.watched("all-gather (gradient sum)", || {
                self.world.all_gather_into(&mine[..], &mut send[..])
            });
            piece.copy_from_slice(&send[..piece.len()]);
        }
        Ok(())
    }
}

impl Drop for MpiWorld {
    fn drop(&mut self) {
        self.watch.stop.store(true, Ordering::Relaxed);
    }
}

impl Collective for MpiWorld {
    fn rank(&self) -> usize {
        self.world.rank() as usize
    }
    fn size(&self) -> usize {
        self.world.size() as usize
    }
    fn sum_f32(&self, buf: &mut [f32]) -> Result<()> {
        self.sum(buf)
    }
    fn sum_f64(&self, buf: &mut [f64]) -> Result<()> {
        self.sum(buf)
    }
    fn broadcast_f32(&self, buf: &mut [f32]) -> Result<()> {
        // every rank must pass the same length: check it first, so that a
        // model of another shape is an error and not a hang or a corruption
        let mut lens = vec![0u64; self.size()];
        self.watched("all-gather (lengths)", || {
            self.world
                .all_gather_into(&(buf.len() as u64), &mut lens[..])
        });
        if lens.iter().any(|&l| l != buf.len() as u64) {
            return Err(Error::shape(
                "broadcast",
                format!(
                    "the ranks hold different sizes {lens:?} (different models or data on different ranks?)"
                ),
            ));
        }
        let root = self.world.process_at_rank(0);
        for piece in buf.chunks_mut(MAX_CALL) {
            self.watched("broadcast", || root.broadcast_into(piece));
        }
        Ok(())
    }
    fn all_gather_bytes(&self, mine: &[u8]) -> Result<Vec<Vec<u8>>> {
        if mine.len() > MAX_CALL {
            return Err(Error::invalid(
                "all_gather_bytes",
                format!("{} bytes; at most {MAX_CALL} per rank", mine.len()),
            ));
        }
        let p = self.size();
        let mut lens = vec![0i32; p];
        self.watched("all-gather (lengths)", || {
            self.world
                .all_gather_into(&(mine.len() as i32), &mut lens[..])
        });
        let total: usize = lens.iter().map(|&l| l as usize).sum();
        if total > i32::MAX as usize {
            return Err(Error::invalid(
                "all_gather_bytes",
                format!("{total} bytes in all; at most {}", i32::MAX),
            ));
        }
        let displs: Vec<i32> = lens
            .iter()
            .scan(0i32, |at, &l| {
                let d = *at;
                *at += l;
                Some(d)
            })
            .collect();
        let mut all = vec![0u8; total];
        {
            let mut part = PartitionMut::new(&mut all[..], &lens[..], &displs[..]);
            self.watched("all-gather (results)", || {
                self.world.all_gather_varcount_into(mine, &mut part)
            });
        }
        Ok(lens
            .iter()
            .zip(&displs)
            .map(|(&l, &d)| all[d as usize..(d + l) as usize].to_vec())
            .collect())
    }
    fn barrier(&self) -> Result<()> {
        self.watched("barrier", || self.world.barrier());
        Ok(())
    }
}
