//! `train::dist` without MPI: shards partition a batch; over the one-process
//! collective, data-parallel steps and `fit` are exactly the plain ones; a
//! fake two-rank collective (two threads) keeps both ranks bit-identical and
//! close to one process.

use std::sync::{Arc, Barrier, Mutex};

use optim::Sgd;
use proptest::prelude::*;
use rand::SeedableRng;
use train::dist::{checksum, shard, Collective, DataParallel, Local};
use train::models::TwoLayer;

mod common;
use common::synthetic;

fn model(seed: u64) -> TwoLayer {
    common::two_layer(seed)
}

proptest! {
    /// The shards of `n` rows among `p` ranks are consecutive, cover
    /// `0..n`, and differ in size by at most one.
    #[test]
    fn shards_partition_the_rows(n in 0usize..10_000, p in 1usize..70) {
        let mut at = 0;
        let sizes: Vec<usize> = (0..p).map(|r| {
            let s = shard(n, r, p);
            assert_eq!(s.start, at);
            at = s.end;
            s.len()
        }).collect();
        prop_assert_eq!(at, n);
        prop_assert!(sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= 1);
    }
}

/// Over `Local`, a data-parallel step is `train_step` bit for bit.
#[test]
fn one_process_data_parallel_steps_are_the_plain_steps() {
    let set = synthetic(96, 1);
    let (mut a, mut b) = (model(3), model(3));
    let (mut oa, mut ob) = (Sgd::new(0.1).momentum(0.9), Sgd::new(0.1).momentum(0.9));
    let dp = DataParallel::new(&Local).bucket_mb(1e-4);
    for epoch in 0..3 {
        for batch in data::Batches::new(&set, 20, Some(5), epoch, None) {
            let batch = batch.unwrap();
            let la = train::train_step(&mut a, &mut oa, &batch.images, &batch.labels).unwrap();
            let lb = dp
                .step(&mut b, &mut ob, &batch.images, &batch.labels)
                .unwrap();
            assert_eq!(la.0.to_bits(), lb.0.to_bits());
            assert_eq!(la.1.to_bits(), lb.1.to_bits());
        }
    }
    assert_eq!(checksum(&a), checksum(&b));
    assert_eq!(dp.reduce_stats().steps, 15);
}

/// Two ranks in one process: threads that meet at a barrier and add their
/// buffers in rank order, as `MpiWorld` does.
struct Threads {
    rank: usize,
    shared: Arc<(Barrier, Mutex<Vec<Vec<f64>>>)>,
}

impl Threads {
    fn pair() -> [Threads; 2] {
        let shared = Arc::new((Barrier::new(2), Mutex::new(vec![Vec::new(), Vec::new()])));
        [0, 1].map(|rank| Threads {
            rank,
            shared: Arc::clone(&shared),
        })
    }
    /// Every rank's buffer, in rank order.
    fn exchange(&self, mine: Vec<f64>) -> Vec<Vec<f64>> {
        let (barrier, slots) = &*self.shared;
        slots.lock().unwrap()[self.rank] = mine;
        barrier.wait();
        let all = slots.lock().unwrap().clone();
        barrier.wait();
        all
    }
}

impl Collective for Threads {
    fn rank(&self) -> usize {
        self.rank
    }
    fn size(&self) -> usize {
        2
    }
    fn sum_f32(&self, buf: &mut [f32]) -> autograd::Result<()> {
        let all = self.exchange(buf.iter().map(|&v| v as f64).collect());
        for (i, v) in buf.iter_mut().enumerate() {
            *v = all[0][i] as f32 + all[1][i] as f32;
        }
        Ok(())
    }
    fn sum_f64(&self, buf: &mut [f64]) -> autograd::Result<()> {
        let all = self.exchange(buf.to_vec());
        for (i, v) in buf.iter_mut().enumerate() {
            *v = all[0][i] + all[1][i];
        }
        Ok(())
    }
    fn broadcast_f32(&self, buf: &mut [f32]) -> autograd::Result<()> {
        let all = self.exchange(buf.iter().map(|&v| v as f64).collect());
        for (v, r0) in buf.iter_mut().zip(&all[0]) {
            *v = *r0 as f32;
        }
        Ok(())
    }
    fn all_gather_bytes(&self, mine: &[u8]) -> autograd::Result<Vec<Vec<u8>>> {
        let all = self.exchange(mine.iter().map(|&b| b as f64).collect());
        Ok(all
            .iter()
            .map(|v| v.iter().map(|&b| b as u8).collect())
            .collect())
    }
    fn barrier(&self) -> autograd::Result<()> {
        self.shared.0.wait();
        Ok(())
    }
}

/// `fit` on two (thread) ranks: both end bit-identical, rank 0 alone
/// writes, the history is the same on both, and the weights are within
/// float rounding of a one-process run (batch 30 splits into 15 + 15; the
/// last batch of 10 into 5 + 5).
#[test]
fn fit_on_two_ranks_keeps_them_identical_and_near_one_process() {
    let (train_set, val) = (synthetic(130, 1), synthetic(40, 2));
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let one = tempfile::tempdir().unwrap();
    let run = |comm: Option<&dyn Collective>, out: &std::path::Path| {
        let dp = comm.map(DataParallel::new);
        let mut m = model(4 + comm.map_or(0, |c| c.rank() as u64)); // rank 1 starts elsewhere
        let cfg = train::FitConfig {
            parallel: dp.as_ref(),
            save_every: 2,
            ..train::FitConfig::new("two", out, 3, 30)
        };
        let h = train::fit(
            &mut m,
            &mut Sgd::new(0.1).momentum(0.9),
            &train_set,
            &val,
            &cfg,
            &mut (),
        )
        .unwrap();
        (checksum(&m), h.val_acc, m)
    };
    let [t0, t1] = Threads::pair();
    let (r0, r1) = std::thread::scope(|s| {
        let a = s.spawn(|| run(Some(&t0), dirs[0].path()));
        let b = s.spawn(|| run(Some(&t1), dirs[1].path()));
        (a.join().unwrap(), b.join().unwrap())
    });
    assert_eq!(r0.0, r1.0, "the ranks' weights differ");
    assert_eq!(r0.1, r1.1, "the ranks' histories differ");
    assert!(dirs[0].path().join("two_best.safetensors").exists());
    assert!(
        std::fs::read_dir(dirs[1].path()).unwrap().next().is_none(),
        "rank 1 wrote files"
    );
    let single = run(None, one.path());
    let mut max_diff = 0f32;
    let mut w1 = Vec::new();
    use nn::Module;
    single
        .2
        .visit("", &mut |_, t| w1.extend_from_slice(t.data()));
    let mut i = 0;
    r0.2.visit("", &mut |_, t| {
        for v in t.data() {
            max_diff = max_diff.max((v - w1[i]).abs());
            i += 1;
        }
    });
    assert!(max_diff < 1e-4, "two ranks vs one: max |diff| {max_diff}");
}

/// A model with a layer its forward never uses (a frozen head, an unused
/// branch).
struct WithUnused {
    fc: nn::Linear<f32>,
    unused: nn::Linear<f32>,
}
nn::impl_module!(WithUnused: f32 { fc, unused });

impl nn::Classifier for WithUnused {
    fn forward<'t>(
        &self,
        tape: &'t autograd::Tape<f32>,
        x: autograd::Var<'t, f32>,
        _: nn::Mode,
    ) -> autograd::Result<autograd::Var<'t, f32>> {
        use ops::VarOps;
        self.fc.forward(tape, x.reshape([-1, 48])?)
    }
}

/// A parameter that no rank's backward reaches gets no gradient, as in one
/// process: SGD with weight decay and momentum leaves it alone (it would
/// decay it if a zero gradient were passed on).
#[test]
fn a_parameter_no_rank_reaches_is_left_alone_as_in_one_process() {
    let set = synthetic(40, 1);
    let make = || {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(8);
        WithUnused {
            fc: nn::Linear::new(48, 10, nn::Init::He, &mut rng),
            unused: nn::Linear::new(4, 4, nn::Init::He, &mut rng),
        }
    };
    let (mut a, mut b) = (make(), make());
    let before = a.unused.weight.data().to_vec();
    let opt = || Sgd::new(0.1).momentum(0.9).weight_decay(0.1);
    let (mut oa, mut ob) = (opt(), opt());
    let dp = DataParallel::new(&Local);
    for batch in data::Batches::new(&set, 10, Some(1), 0, None) {
        let batch = batch.unwrap();
        train::train_step(&mut a, &mut oa, &batch.images, &batch.labels).unwrap();
        dp.step(&mut b, &mut ob, &batch.images, &batch.labels)
            .unwrap();
    }
    assert_eq!(a.unused.weight.data(), &before[..]);
    assert_eq!(checksum(&a), checksum(&b));
}
