//! The examples as a user runs them: `--help`, unknown flags, bad values,
//! output folders checked before training, no silent reuse of an earlier
//! run's checkpoint, and `--resume` after a kill reaching the same weights
//! as an uninterrupted run. Runs the example binaries that `cargo test`
//! builds next to this test (target/<profile>/examples/), on a synthetic
//! CIFAR-10 folder written here.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;
use common::synthetic_cifar;

fn example(name: &str) -> PathBuf {
    // this test runs from target/<profile>/deps/; examples are in ../examples
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap().join("examples");
    let p = dir.join(name);
    assert!(
        p.exists(),
        "{} not built: run the whole suite with `cargo test --workspace` (it builds the examples), or `cargo build --examples` first",
        p.display()
    );
    p
}

fn run(name: &str, args: &[&str]) -> Output {
    Command::new(example(name))
        .args(args)
        .env_remove("CIFAR10_DIR")
        .env("RAYON_NUM_THREADS", "1")
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn every_example_has_help_and_refuses_unknown_flags() {
    for ex in [
        "babysit",
        "cifar10",
        "fashion_mnist",
        "bench",
        "weight_init",
        "memory",
        "custom_op",
        "gemm_anatomy",
    ] {
        let o = run(ex, &["--help"]);
        assert!(o.status.success(), "{ex} --help: {}", text(&o));
        assert!(text(&o).contains("Usage:"), "{ex} --help: {}", text(&o));
        // `babysit --quik` used to start the full 40,000-image run
        let o = run(ex, &["--quik"]);
        assert_eq!(o.status.code(), Some(2), "{ex} --quik: {}", text(&o));
        assert!(
            text(&o).contains("unexpected argument '--quik'"),
            "{ex}: {}",
            text(&o)
        );
    }
}

/// `--distributed` in a build without the `distributed` feature is an
/// error that says how to build with MPI, before any data is read; in a
/// build with it, `--dist-timeout` needs `--distributed`.
#[test]
fn distributed_without_mpi_says_how_to_build_it() {
    for ex in ["cifar10", "babysit"] {
        let o = run(ex, &["--dist-timeout", "5"]);
        assert_eq!(o.status.code(), Some(2), "{ex}: {}", text(&o));
        assert!(text(&o).contains("--distributed"), "{ex}: {}", text(&o));
        if cfg!(feature = "distributed") {
            continue;
        }
        let o = run(ex, &["--distributed", "--data", "/nonexistent"]);
        assert!(!o.status.success(), "{ex}: {}", text(&o));
        assert!(
            text(&o).contains("--features distributed") && text(&o).contains("mpirun"),
            "{ex}: {}",
            text(&o)
        );
        assert!(
            !text(&o).contains("/nonexistent"),
            "{ex} read data first: {}",
            text(&o)
        );
    }
}

/// `bench --profile N` prints, after a workload's timing line, one
/// `profile` line per op that the workload records, per run, and the wall
/// time; a small workload keeps the test short.
#[test]
fn bench_profile_prints_each_op_of_the_workload() {
    let o = run(
        "bench",
        &[
            "--threads",
            "1",
            "--filter",
            "logsoftmax_nll",
            "--profile",
            "2",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let line = |op: &str| {
        out.lines()
            .find(|l| {
                l.starts_with("profile workload=logsoftmax_nll_fwdbwd ")
                    && l.contains(&format!(" op={op} "))
            })
            .unwrap_or_else(|| panic!("no profile line for {op} in\n{out}"))
            .to_owned()
    };
    for op in ["log_softmax", "nll_loss"] {
        let l = line(op);
        assert!(
            l.contains("reps=2") && l.contains("fwd_calls=1 ") && l.contains("bwd_calls=1 "),
            "{l}"
        );
    }
    let wall: f64 = line("wall")
        .split_whitespace()
        .find_map(|kv| kv.strip_prefix("fwd_ms="))
        .unwrap()
        .parse()
        .unwrap();
    assert!(wall > 0.0, "{out}");
}

/// `LECTURE_GRAD_WINOGRAD` picks the Winograd tile for the whole process
/// (the bench says which in its first line); any other value is named in
/// a warning and ignored.
#[test]
fn the_winograd_setting_is_read_from_the_environment() {
    for (value, want, warns) in [
        (None, "winograd=auto", false),
        (Some("f2"), "winograd=f2", false),
        (Some("F4"), "winograd=f4", false),
        (Some("f3"), "winograd=auto", true),
    ] {
        let mut cmd = Command::new(example("bench"));
        cmd.args(["--threads", "1", "--filter", "no_such_workload"]);
        cmd.env_remove("LECTURE_GRAD_WINOGRAD");
        if let Some(v) = value {
            cmd.env("LECTURE_GRAD_WINOGRAD", v);
        }
        let o = cmd.output().unwrap();
        assert!(o.status.success(), "{value:?}: {}", text(&o));
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(
            out.lines().next().unwrap().contains(want),
            "{value:?}: {out}"
        );
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(
            err.contains("LECTURE_GRAD_WINOGRAD=\"f3\""),
            warns,
            "{value:?}: {err}"
        );
    }
}

#[test]
fn bad_values_are_refused_naming_their_flag() {
    for (ex, args, flag) in [
        ("cifar10", &["--epochs", "0"][..], "--epochs"),
        ("cifar10", &["--batch", "0"][..], "--batch"),
        ("cifar10", &["--limit", "abc"][..], "--limit"),
        ("cifar10", &["--model", "resnet"][..], "--model"),
        ("fashion_mnist", &["--batch", "0"][..], "--batch"),
        ("bench", &["--threads", "0"][..], "--threads"),
        ("bench", &["--threads", "100000000"][..], "--threads"),
        ("bench", &["--profile", "1001"][..], "--profile"),
        ("gemm_anatomy", &["--m", "0"][..], "--m"),
        ("gemm_anatomy", &["--threads", "0"][..], "--threads"),
        ("babysit", &["--limit=-3"][..], "--limit"),
        ("babysit", &["--save-every", "0"][..], "--save-every"),
        ("weight_init", &["--init", "magic"][..], "--init"),
    ] {
        let o = run(ex, args);
        let t = text(&o);
        assert_eq!(o.status.code(), Some(2), "{ex} {args:?}: {t}");
        assert!(t.contains(flag), "{ex} {args:?}: {t}");
    }
}

#[test]
fn the_output_folder_is_checked_before_any_training() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("cifar");
    synthetic_cifar(&data, 20);
    let file = tmp.path().join("a_file");
    std::fs::write(&file, b"x").unwrap();
    for out in [file.clone(), file.join("sub")] {
        let o = run(
            "cifar10",
            &[
                "--model",
                "linear",
                "--data",
                data.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
            ],
        );
        let t = text(&o);
        assert_eq!(o.status.code(), Some(1), "{t}");
        assert!(t.contains("--out") && t.contains("a_file"), "{t}");
        assert!(!t.contains("epoch"), "failed only after training: {t}");
    }
}

/// The default data search is relative to the repository as well as to the
/// working directory: run from a temporary folder, the examples either find
/// the repository's data (the path they report is the repository's) or
/// name every place they looked.
#[test]
fn the_default_data_search_works_from_any_folder_or_names_every_place() {
    let tmp = tempfile::tempdir().unwrap();
    let o = Command::new(example("cifar10"))
        .args(["--model", "linear", "--epochs", "1", "--limit", "200"])
        .args(["--out", tmp.path().join("out").to_str().unwrap()])
        .env_remove("CIFAR10_DIR")
        .env("RAYON_NUM_THREADS", "1")
        .current_dir(tmp.path())
        .output()
        .unwrap();
    let t = text(&o);
    let root = env!("CARGO_MANIFEST_DIR");
    if let Some(line) = t.lines().find(|l| l.starts_with("CIFAR-10 from ")) {
        assert!(o.status.success(), "{t}");
        assert!(
            line.contains(root),
            "found data elsewhere than the repository: {line}"
        );
    } else {
        assert_eq!(o.status.code(), Some(1), "{t}");
        assert!(
            t.contains(&format!("{root}/data/cifar-10-batches-bin"))
                && t.contains("../shared/data/cifar-10-batches-bin")
                && t.contains("$CIFAR10_DIR"),
            "{t}"
        );
    }
}

#[test]
fn babysit_with_fewer_than_20_images_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("cifar");
    synthetic_cifar(&data, 4); // 16 training images
    let o = run(
        "babysit",
        &[
            "--data",
            data.to_str().unwrap(),
            "--out",
            tmp.path().join("out").to_str().unwrap(),
        ],
    );
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(
        t.contains("needs at least 20 training images") && t.contains("16"),
        "{t}"
    );
}

#[test]
fn fashion_mnist_with_images_that_are_not_28x28_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let idx = |dims: &[u32], fill: u8| {
        let mut b = vec![0, 0, 8, dims.len() as u8];
        for d in dims {
            b.extend(d.to_be_bytes());
        }
        b.extend(std::iter::repeat_n(
            fill,
            dims.iter().product::<u32>() as usize,
        ));
        b
    };
    for p in ["train", "t10k"] {
        std::fs::write(
            tmp.path().join(format!("{p}-images-idx3-ubyte")),
            idx(&[6, 10, 10], 7),
        )
        .unwrap();
        std::fs::write(
            tmp.path().join(format!("{p}-labels-idx1-ubyte")),
            idx(&[6], 1),
        )
        .unwrap();
    }
    let o = run("fashion_mnist", &["--data", tmp.path().to_str().unwrap()]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(
        t.contains("[1, 10, 10]") && t.contains("1 x 28 x 28"),
        "{t}"
    );
}

fn tensors(path: &Path) -> Vec<(String, Vec<u32>)> {
    let ck = nn::checkpoint::load_tensors(path).unwrap();
    let mut v: Vec<(String, Vec<u32>)> = ck
        .tensors
        .iter()
        .map(|(n, t)| (n.clone(), t.data().iter().map(|x| x.to_bits()).collect()))
        .collect();
    v.sort();
    v
}

/// `cifar10 --epochs 0` reported an earlier run's checkpoint as its result,
/// and a rerun overwrote the earlier best checkpoint with a worse one; a
/// killed run could only start over.
#[test]
fn cifar10_reruns_are_refused_and_a_killed_run_resumes_to_the_same_weights() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("cifar");
    synthetic_cifar(&data, 30); // 120 training images: 6 steps of 20 per epoch
    let d = data.to_str().unwrap().to_string();
    let args = |out: &Path, extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = [
            "--model",
            "twolayer",
            "--data",
            &d,
            "--epochs",
            "2",
            "--batch",
            "20",
            "--lr",
            "0.01",
            "--save-every",
            "4",
            "--out",
            out.to_str().unwrap(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let go = |a: Vec<String>| {
        let refs: Vec<&str> = a.iter().map(String::as_str).collect();
        run("cifar10", &refs)
    };
    // the uninterrupted run
    let full = tmp.path().join("full");
    let o = go(args(&full, &[]));
    assert!(o.status.success(), "{}", text(&o));
    let best = full.join("cifar10_twolayer_best.safetensors");
    let train = full.join("cifar10_twolayer_train.safetensors");
    let best_bytes = std::fs::read(&best).unwrap();

    // a rerun into the same folder is refused, and leaves the files alone
    let o = go(args(&full, &[]));
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(t.contains("earlier run") && t.contains("--resume"), "{t}");
    assert_eq!(std::fs::read(&best).unwrap(), best_bytes);
    // --resume of a finished run trains no further
    let o = go(args(&full, &["--resume"]));
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        tensors(&train),
        tensors(&full.join("cifar10_twolayer_train.safetensors"))
    );

    // killed mid-epoch at step 11 of 12 (the last checkpoint: epoch 2 after
    // its step 4), then resumed: bit-identical final weights and best model
    let cut = tmp.path().join("cut");
    let o = go(args(&cut, &["--abort-after-steps", "11"]));
    assert_eq!(o.status.code(), Some(137), "{}", text(&o));
    let o = go(args(&cut, &["--resume"]));
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(
        t.contains("resumed from") && t.contains("epoch 2, step 4"),
        "{t}"
    );
    assert_eq!(
        tensors(&cut.join("cifar10_twolayer_train.safetensors")),
        tensors(&train),
        "resumed run's final weights differ"
    );
    assert_eq!(
        tensors(&cut.join("cifar10_twolayer_best.safetensors")),
        tensors(&best)
    );
    // the epoch lines after the resume match the uninterrupted run's
    let full_log = text(&go(args(&tmp.path().join("full2"), &[])));
    let epoch2 = |s: &str| {
        s.lines()
            .find(|l| l.starts_with("epoch  2"))
            .map(|l| l.split(" | ").take(2).collect::<Vec<_>>().join(" | "))
    };
    assert_eq!(epoch2(&t), epoch2(&full_log), "{t}\n---\n{full_log}");

    // --resume with nothing to resume is an error, not a fresh start
    let o = go(args(&tmp.path().join("empty"), &["--resume"]));
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(t.contains("no training checkpoint"), "{t}");
}

/// A real SIGKILL at an arbitrary moment of babysit's step 6 (after at least
/// one checkpoint), then `--resume`: the final weights equal an
/// uninterrupted run's.
#[cfg(unix)]
#[test]
fn babysit_killed_with_sigkill_resumes_to_the_same_weights() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("cifar");
    synthetic_cifar(&data, 50);
    let d = data.to_str().unwrap().to_string();
    let prepare = |out: &Path| {
        std::fs::create_dir_all(out).unwrap();
        // the search's result, as a finished search leaves it: --resume skips step 5
        std::fs::write(out.join("babysit_search.txt"), "lr 1e-3\nreg 1e-4\n").unwrap();
    };
    let cmd = |out: &Path| {
        let mut c = Command::new(example("babysit"));
        c.args([
            "--quick",
            "--data",
            &d,
            "--out",
            out.to_str().unwrap(),
            "--resume",
            "--save-every",
            "1",
        ])
        .env("RAYON_NUM_THREADS", "1");
        c
    };
    let full = tmp.path().join("full");
    prepare(&full);
    let o = cmd(&full).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("(resumed) the earlier run's search chose"));
    // step 7: both optimizers ran on the same budget and were reported
    let t = text(&o);
    assert!(
        t.contains("SGD + momentum 0.9, lr 1.0e-3: final loss")
            && t.contains("Adam, lr 1e-3: final loss"),
        "{t}"
    );

    let cut = tmp.path().join("cut");
    prepare(&cut);
    let ckpt = cut.join("babysit_train.safetensors");
    let mut child = cmd(&cut)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let t0 = std::time::Instant::now();
    while !ckpt.exists() && t0.elapsed().as_secs() < 120 {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    child.kill().ok(); // SIGKILL
    child.wait().unwrap();
    assert!(ckpt.exists(), "no checkpoint written before the kill");
    let o = cmd(&cut).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        tensors(&ckpt),
        tensors(&full.join("babysit_train.safetensors")),
        "resumed run's final weights differ"
    );
}

/// The same with Adam (moments and step counts in the checkpoint), and a
/// resume with another optimizer than the one that wrote the checkpoint is
/// refused.
#[test]
fn cifar10_with_adam_resumes_to_the_same_weights() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("cifar");
    synthetic_cifar(&data, 30);
    let d = data.to_str().unwrap().to_string();
    let go = |out: &Path, extra: &[&str]| {
        let mut a = vec![
            "--model",
            "linear",
            "--optim",
            "adam",
            "--data",
            &d,
            "--epochs",
            "2",
            "--batch",
            "20",
            "--save-every",
            "4",
            "--out",
            out.to_str().unwrap(),
        ];
        a.extend_from_slice(extra);
        run("cifar10", &a)
    };
    let full = tmp.path().join("full");
    let o = go(&full, &[]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("Adam lr 0.001"), "{}", text(&o));
    let cut = tmp.path().join("cut");
    let o = go(&cut, &["--abort-after-steps", "11"]);
    assert_eq!(o.status.code(), Some(137), "{}", text(&o));
    let o = go(&cut, &["--resume"]);
    assert!(o.status.success(), "{}", text(&o));
    let ck = |dir: &Path| tensors(&dir.join("cifar10_linear_train.safetensors"));
    let (a, b) = (ck(&full), ck(&cut));
    assert!(
        a.iter().any(|(n, _)| n.starts_with("optim.exp_avg_sq.")),
        "{:?}",
        a.iter().map(|x| &x.0).collect::<Vec<_>>()
    );
    assert_eq!(a, b, "resumed Adam run's weights or moments differ");
    // another optimizer cannot continue this checkpoint
    let o = run(
        "cifar10",
        &[
            "--model",
            "linear",
            "--optim",
            "sgd",
            "--data",
            &d,
            "--epochs",
            "2",
            "--batch",
            "20",
            "--out",
            cut.to_str().unwrap(),
            "--resume",
        ],
    );
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(
        t.contains("written by the adam optimizer") && t.contains("sgd"),
        "{t}"
    );
}
