//! Data-parallel training and distributed search on MPI, run as a user runs
//! them: `mpirun -np P` on loopback. Built only with the `distributed`
//! feature (`cargo test --features distributed --test distributed`; `.ci/run`
//! does this after installing OpenMPI).
//!
//! Each test starts `mpirun`, which runs this same test binary's ignored
//! test `mpi_rank` in every rank; the environment variable `DIST_MODE`
//! picks what the ranks do, and they print what the test checks.
#![cfg(feature = "distributed")]

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use lecture_grad::prelude::*;
use train::dist::{checksum, DataParallel};

mod common;

/// The ranks' model: conv + batch norm (buffers), pooling, linear.
fn model(seed: u64, bn: bool) -> Sequential<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut m = Sequential::new().push(Conv2d::new(3, 8, 3, &mut rng).padding(1));
    if bn {
        m = m.push(BatchNorm::new(8));
    }
    m.push(ReLU)
        .push(MaxPool2d::new(2))
        .push(Flatten)
        .push(Linear::new(8 * 4 * 4, 10, Init::He, &mut rng))
}

/// 256 random 3 x 8 x 8 images whose class is decided by one pixel's sign
/// and a channel mean (learnable, not trivial).
fn dataset(seed: u64, n: usize) -> data::Dataset {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let x = Tensor::<f32>::randn(&[n, 3, 8, 8], 0.0, 1.0, &mut rng);
    let labels = x
        .data()
        .chunks(192)
        .map(|img| {
            let m: f32 = img[..64].iter().sum::<f32>() / 64.0;
            ((img[0] > 0.0) as usize) * 5 + ((m * 8.0).clamp(-2.0, 2.49) + 2.0) as usize
        })
        .collect();
    data::Dataset::new(x, labels, 10).unwrap()
}

/// An `mpirun` command with a temporary directory of its own as `TMPDIR`,
/// where OpenMPI puts its session directory: two `mpirun`s started at once
/// on a machine without the shared `ompi.HOST.UID` directory in `/tmp`
/// race to create it, and the loser stops with "mkdir ... File exists"
/// (OpenMPI 4.1.4; it failed a CI run of these tests, which run in
/// parallel). The directory is removed when this is dropped, so keep it
/// until the job ends.
struct Mpirun {
    cmd: Command,
    _session: tempfile::TempDir,
}

impl std::ops::Deref for Mpirun {
    type Target = Command;
    fn deref(&self) -> &Command {
        &self.cmd
    }
}

impl std::ops::DerefMut for Mpirun {
    fn deref_mut(&mut self) -> &mut Command {
        &mut self.cmd
    }
}

/// `mpirun -np NP PROGRAM` on loopback with one thread per rank, every
/// variable of `env` set and exported to the ranks; the caller appends the
/// program's arguments.
fn mpirun_program(np: usize, program: &std::path::Path, env: &[(&str, String)]) -> Mpirun {
    let session = tempfile::Builder::new()
        .prefix("lecture-grad-mpirun-")
        .tempdir()
        .expect("a temporary directory for mpirun's session");
    let mut c = Command::new("mpirun");
    c.env("TMPDIR", session.path());
    c.args([
        "--allow-run-as-root",
        "--oversubscribe",
        "-np",
        &np.to_string(),
    ]);
    c.args(["-x", "RAYON_NUM_THREADS"])
        .env("RAYON_NUM_THREADS", "1");
    for (k, v) in env {
        c.args(["-x", k]).env(k, v);
    }
    c.arg(program);
    Mpirun {
        cmd: c,
        _session: session,
    }
}

/// This test binary's `mpi_rank` in every rank, doing `mode`.
fn mpirun(np: usize, mode: &str, extra_env: &[(&str, String)]) -> Mpirun {
    let mut env = vec![("DIST_MODE", mode.to_string())];
    env.extend(extra_env.iter().cloned());
    let mut c = mpirun_program(np, &std::env::current_exe().unwrap(), &env);
    c.args([
        "--exact",
        "mpi_rank",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ]);
    c
}

/// stdout and stderr of a finished process, as one text.
fn text_of(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn run_ok(mut c: Mpirun) -> String {
    let out = c.output().expect("mpirun (OpenMPI) is installed");
    let text = text_of(&out);
    assert!(out.status.success(), "mpirun failed:\n{text}");
    text
}

/// The values after `key ` on lines starting with `key`, in line order.
fn values<'a>(text: &'a str, key: &str) -> Vec<&'a str> {
    text.lines()
        .filter_map(|l| l.strip_prefix(key)?.strip_prefix(' '))
        .collect()
}

#[test]
fn parameters_stay_bit_identical_on_every_rank_for_100_steps() {
    let text = run_ok(mpirun(2, "steps", &[]));
    let sums = values(&text, "checksum");
    assert_eq!(sums.len(), 2, "{text}");
    assert_eq!(
        sums[0].split_once(' ').unwrap().1,
        sums[1].split_once(' ').unwrap().1,
        "{text}"
    );
    // and the run learned something: its loss went down
    let losses = values(&text, "loss");
    let first: f64 = losses[0].split(' ').nth(1).unwrap().parse().unwrap();
    let last: f64 = losses[losses.len() - 1]
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert!(last < first * 0.8, "{text}");
}

/// Two ranks and one rank on the same global batches: equal up to the
/// rounding of the split sums (the bound is stated in the README).
#[test]
fn two_ranks_match_one_rank_on_the_same_global_batch() {
    let dir = tempfile::tempdir().unwrap();
    let mut finals = Vec::new();
    for np in [1, 2] {
        let file = dir.path().join(format!("np{np}.safetensors"));
        run_ok(mpirun(
            np,
            "nobn",
            &[("DIST_OUT", file.display().to_string())],
        ));
        let mut m = model(1, false);
        load_model(&file, &mut m).unwrap();
        let mut flat = Vec::new();
        m.visit("", &mut |_, t| flat.extend_from_slice(t.data()));
        finals.push(flat);
    }
    let (scale, diff) = finals[0]
        .iter()
        .zip(&finals[1])
        .fold((0f32, 0f32), |(s, d), (a, b)| {
            (s.max(a.abs()), d.max((a - b).abs()))
        });
    eprintln!("1 rank vs 2 ranks after 100 steps: max |diff| {diff:e}, max |w| {scale:e}");
    assert!(
        diff <= 1e-4 * scale,
        "max |diff| {diff} for max |w| {scale}"
    );
    assert!(finals[0] != finals[1] || diff == 0.0);
}

#[test]
fn distributed_search_equals_the_single_process_search() {
    let text = run_ok(mpirun(2, "search", &[]));
    let got = values(&text, "search");
    assert_eq!(got.len(), 2, "{text}");
    assert_eq!(got[0], got[1], "both ranks end with every result");
    let (train, val) = (dataset(5, 128), dataset(6, 64));
    let s =
        train::babysit::random_search(&|s| model(s, false), &train, &val, &search_cfg(), &|_| {})
            .unwrap();
    assert_eq!(got[0], digest(&s), "{text}");
}

/// A rank killed with SIGKILL mid-run: the job ends with an error within
/// 60 s, the last checkpoint loads, and resuming from it on the same number
/// of ranks reaches the uninterrupted run's weights bit for bit.
#[test]
fn a_killed_rank_stops_the_job_and_the_run_resumes_from_its_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let full = dir.path().join("full");
    let text = run_ok(mpirun(
        2,
        "fit",
        &[("DIST_OUT", full.display().to_string())],
    ));
    let want = values(&text, "final");
    assert_eq!(want.len(), 1, "{text}");

    let cut = dir.path().join("cut");
    let mut cmd = mpirun(
        2,
        "fit",
        &[
            ("DIST_OUT", cut.display().to_string()),
            // slow each step a little, so that the kill lands mid-run
            ("DIST_SLOW_MS", "30".to_string()),
        ],
    );
    let mut job = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let ckpt = cut.join("dist_train.safetensors");
    let t = Instant::now();
    while !ckpt.exists() {
        assert!(
            t.elapsed() < Duration::from_secs(120),
            "no checkpoint was written"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    let victim = rank_pid(job.id(), 1).expect("rank 1's process");
    let killed = Instant::now();
    Command::new("kill")
        .args(["-KILL", &victim.to_string()])
        .status()
        .unwrap();
    let out = wait_with_timeout(&mut job, Duration::from_secs(90));
    let stopped = killed.elapsed();
    let text = text_of(&out);
    assert!(!out.status.success(), "{text}");
    assert!(
        stopped < Duration::from_secs(60),
        "took {stopped:?}: {text}"
    );
    assert!(
        values(&text, "final").is_empty(),
        "the run was not cut: {text}"
    );
    eprintln!("the job stopped {stopped:?} after rank 1 was killed:\n{text}");
    // the checkpoint is whole and continues to the same weights
    let mut m = model(3, true);
    train::checkpoint::load_training(&ckpt, &mut m, &mut Sgd::new(0.05).momentum(0.9)).unwrap();
    let text = run_ok(mpirun(
        2,
        "fit",
        &[
            ("DIST_OUT", cut.display().to_string()),
            ("DIST_RESUME", "1".into()),
        ],
    ));
    assert!(text.contains("resumed"), "{text}");
    assert_eq!(values(&text, "final"), want, "{text}");
}

/// A rank that hangs (alive, but never reaching the next collective): the
/// others' watchdog stops the job with an error naming the rank and the
/// collective, after the timeout and well within 60 s.
#[test]
fn a_hung_rank_stops_the_job_after_the_watchdog_timeout() {
    let t = Instant::now();
    let mut cmd = mpirun(2, "hang", &[("DIST_TIMEOUT", "3".into())]);
    let mut job = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = wait_with_timeout(&mut job, Duration::from_secs(90));
    let took = t.elapsed();
    let text = text_of(&out);
    assert!(!out.status.success(), "{text}");
    assert!(took < Duration::from_secs(60), "took {took:?}: {text}");
    assert!(!text.contains("final barrier passed"), "{text}");
    assert!(
        text.contains("rank 0 of 2: barrier has waited"),
        "the watchdog's message: {text}"
    );
}

/// An example binary built with the `distributed` feature
/// (`cargo build --features distributed --example cifar10 --example babysit`,
/// as `.ci/run` does).
fn example(name: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let p = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples")
        .join(name);
    assert!(
        p.exists(),
        "{} not built: `cargo build --features distributed --example {name}` first",
        p.display()
    );
    p
}

/// The examples as a user starts them under `mpirun`, on a synthetic
/// CIFAR-10 folder: `cifar10 --distributed` trains and reports the
/// gradient-sum time, and `babysit --distributed --quick` prints each step
/// once (rank 0 alone) with the same search results as one process.
#[test]
fn the_examples_run_under_mpirun_as_the_readme_says() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("cifar");
    common::synthetic_cifar(&data, 50);
    let d = data.to_str().unwrap().to_string();
    let launch = |np: usize, name: &str, args: &[&str]| {
        let mut c = mpirun_program(np, &example(name), &[]);
        c.args(args).env_remove("CIFAR10_DIR");
        run_ok(c)
    };
    let out = tmp.path().join("c10");
    let o = out.to_str().unwrap();
    let text = launch(
        2,
        "cifar10",
        &[
            "--distributed",
            "--model",
            "linear",
            "--epochs",
            "1",
            "--data",
            &d,
            "--out",
            o,
        ],
    );
    assert!(text.contains("2 ranks (data-parallel, MPI)"), "{text}");
    assert!(text.contains("data-parallel: 2 ranks"), "{text}");
    assert_eq!(
        text.matches("best model: epoch").count(),
        1,
        "rank 0 alone reports: {text}"
    );
    assert!(out.join("cifar10_linear_best.safetensors").exists());

    let search_lines = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|l| l.starts_with("  lr ") || l.contains("trials stopped early"))
            .map(String::from)
            .collect()
    };
    let (o1, o2) = (tmp.path().join("b1"), tmp.path().join("b2"));
    let one = launch(
        1,
        "babysit",
        &["--quick", "--data", &d, "--out", o1.to_str().unwrap()],
    );
    let two = launch(
        2,
        "babysit",
        &[
            "--quick",
            "--distributed",
            "--data",
            &d,
            "--out",
            o2.to_str().unwrap(),
        ],
    );
    assert_eq!(two.matches("== 5. coarse-to-fine").count(), 1, "{two}");
    assert!(two.contains("x 2 ranks"), "{two}");
    let (s1, s2) = (search_lines(&one), search_lines(&two));
    assert!(s1.len() >= 6, "{one}");
    assert_eq!(s1, s2, "the searches differ:\n{one}\n---\n{two}");
}

/// The pid of the process of rank `rank` among `mpirun`'s descendants.
fn rank_pid(mpirun: u32, rank: usize) -> Option<u32> {
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(30) {
        for e in std::fs::read_dir("/proc").ok()?.flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            if !descends_from(pid, mpirun) {
                continue;
            }
            let env = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
            let want = format!("OMPI_COMM_WORLD_RANK={rank}");
            if env.split(|&b| b == 0).any(|v| v == want.as_bytes()) {
                return Some(pid);
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

fn descends_from(mut pid: u32, ancestor: u32) -> bool {
    for _ in 0..8 {
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            return false;
        };
        // the parent pid is the second field after the parenthesised name
        let Some(ppid) = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse().ok())
        else {
            return false;
        };
        if ppid == ancestor {
            return true;
        }
        if ppid <= 1 {
            return false;
        }
        pid = ppid;
    }
    false
}

fn wait_with_timeout(child: &mut std::process::Child, limit: Duration) -> Output {
    let t = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if t.elapsed() > limit {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut out = Output {
        status: child.wait().unwrap(),
        stdout: Vec::new(),
        stderr: Vec::new(),
    };
    use std::io::Read;
    if let Some(mut s) = child.stdout.take() {
        s.read_to_end(&mut out.stdout).unwrap();
    }
    if let Some(mut s) = child.stderr.take() {
        s.read_to_end(&mut out.stderr).unwrap();
    }
    out
}

fn search_cfg() -> train::babysit::SearchConfig {
    train::babysit::SearchConfig {
        space: train::babysit::SearchSpace {
            log10_lr: (-3.0, 0.0),
            log10_reg: (-5.0, -1.0),
        },
        trials: 5,
        iters: 30,
        batch: 16,
        momentum: 0.9,
        seed: 11,
    }
}

/// Every trial's hyper-parameters and results, by their bits.
fn digest(s: &train::babysit::Search) -> String {
    s.trials
        .iter()
        .map(|t| {
            let losses: u64 = t
                .losses
                .iter()
                .fold(0, |h, l| h.rotate_left(5) ^ l.to_bits());
            format!(
                "{:x}/{:x}/{:x}/{:x}/{:x}/{}",
                t.cfg.lr.to_bits(),
                t.cfg.reg.to_bits(),
                t.val_acc.to_bits(),
                t.train_acc.to_bits(),
                losses,
                t.explosion.is_some()
            )
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// What each rank runs under `mpirun` (see `DIST_MODE`).
#[test]
#[ignore = "run in every rank by mpirun from the tests above"]
fn mpi_rank() {
    println!(); // after libtest's "test mpi_rank ... ", so that every line of ours starts a line
    let timeout = std::env::var("DIST_TIMEOUT").map_or(20, |v| v.parse().unwrap());
    let world = train::mpi::MpiWorld::init(Duration::from_secs(timeout)).unwrap();
    let comm: &dyn train::dist::Collective = &world;
    let rank = comm.rank();
    let mode = std::env::var("DIST_MODE").unwrap();
    let out = std::env::var("DIST_OUT").ok();
    match mode.as_str() {
        "steps" | "nobn" => {
            let bn = mode == "steps";
            let mut m = model(1 + rank as u64 * 100, bn); // different per rank until synced
            let dp = DataParallel::new(comm).bucket_mb(0.002); // several buckets
            dp.sync_model(&mut m).unwrap();
            let set = dataset(2, 256);
            let mut opt = Sgd::new(0.05).momentum(0.9).weight_decay(1e-4);
            // 100 steps: 12.5 epochs of 8 batches of 32
            let mut batches = (0..13)
                .flat_map(|epoch| data::Batches::new(&set, 32, Some(7), epoch, None))
                .map(Result::unwrap);
            for step in 0..100 {
                let b = batches.next().unwrap();
                let (loss, _) = dp.step(&mut m, &mut opt, &b.images, &b.labels).unwrap();
                if rank == 0 && step % 10 == 0 {
                    println!("loss {step} {loss}");
                }
            }
            println!("checksum {rank} {:016x}", checksum(&m));
            if let (Some(out), 0) = (out, rank) {
                save_model(out, &m, Default::default()).unwrap();
            }
        }
        "search" => {
            let (train, val) = (dataset(5, 128), dataset(6, 64));
            let s = train::babysit::random_search_on(
                comm,
                &|s| model(s, false),
                &train,
                &val,
                &search_cfg(),
                &|_| {},
            )
            .unwrap();
            println!("search {}", digest(&s));
        }
        "fit" => {
            let out = out.expect("DIST_OUT");
            let slow = std::env::var("DIST_SLOW_MS")
                .ok()
                .and_then(|v| v.parse().ok());
            let dp = DataParallel::new(comm);
            let (train, val) = (dataset(8, 512), dataset(9, 128));
            let mut m = model(3, true);
            let mut opt = Sgd::new(0.05).momentum(0.9);
            let cfg = train::FitConfig {
                save_every: 3,
                resume: std::env::var("DIST_RESUME").is_ok(),
                reload_best: false,
                parallel: Some(&dp),
                ..train::FitConfig::new("dist", Path::new(&out), 4, 32)
            };
            struct Cb(Option<u64>, bool);
            impl train::Callbacks for Cb {
                fn on_resume(&mut self, _: &Path, _: train::checkpoint::Position, _: usize) {
                    if self.1 {
                        println!("resumed");
                    }
                }
                fn on_step(&mut self, _: &train::StepInfo<'_>) {
                    if let Some(ms) = self.0 {
                        std::thread::sleep(Duration::from_millis(ms));
                    }
                }
            }
            train::fit(
                &mut m,
                &mut opt,
                &train,
                &val,
                &cfg,
                &mut Cb(slow, rank == 0),
            )
            .unwrap();
            if rank == 0 {
                println!("final {:016x}", checksum(&m));
            }
        }
        "hang" => {
            // rank 1 stops answering (alive, outside any collective); rank
            // 0's watchdog must end the job
            if rank == 1 {
                std::thread::sleep(Duration::from_secs(600));
            }
            comm.barrier().unwrap();
            println!("final barrier passed");
        }
        other => panic!("unknown DIST_MODE {other}"),
    }
}
