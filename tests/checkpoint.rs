//! Checkpoints: round trip, atomic replace, and clear errors for a file that
//! belongs to another model or is not a checkpoint; PyTorch's files read back.

use nn::checkpoint::{load_model, save_model};
use nn::{Init, Module};
use rand::SeedableRng;
use train::models::{ConvNet, TwoLayer};

fn rng(s: u64) -> rand_chacha::ChaCha8Rng {
    rand_chacha::ChaCha8Rng::seed_from_u64(s)
}

#[test]
fn round_trip_includes_batch_norm_buffers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("net.safetensors");
    let mut a = ConvNet::new(&mut rng(1));
    a.bns[2].stats_mut().running_mean = autograd::Tensor::full(&[64], 0.25);
    save_model(&path, &a, [("epoch".to_string(), "3".to_string())].into()).unwrap();
    let mut b = ConvNet::new(&mut rng(2));
    let ck = load_model(&path, &mut b).unwrap();
    assert_eq!(ck.metadata.get("epoch").map(String::as_str), Some("3"));
    assert_eq!(b.bns[2].stats().running_mean.data(), &[0.25; 64]);
    let (mut wa, mut wb) = (Vec::new(), Vec::new());
    a.visit("", &mut |n, t| wa.push((n.to_string(), t.data().to_vec())));
    b.visit("", &mut |n, t| wb.push((n.to_string(), t.data().to_vec())));
    assert_eq!(wa, wb);
}

#[test]
fn a_checkpoint_for_another_model_is_refused_with_names() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mlp.safetensors");
    let mlp = TwoLayer::new(3072, 100, 10, Init::Small, &mut rng(0));
    save_model(&path, &mlp, Default::default()).unwrap();
    let mut other = TwoLayer::new(3072, 50, 10, Init::Small, &mut rng(0));
    let before = other.fc1.weight.clone();
    let e = load_model(&path, &mut other).unwrap_err().to_string();
    assert!(
        e.contains("mlp.safetensors")
            && e.contains("fc1.weight has shape [100, 3072] in the file, [50, 3072] in the model"),
        "{e}"
    );
    assert_eq!(
        other.fc1.weight.data(),
        before.data(),
        "nothing loaded on error"
    );
    let mut conv = ConvNet::new(&mut rng(0));
    let e = load_model(&path, &mut conv).unwrap_err().to_string();
    assert!(
        e.contains("missing conv1.weight") && e.contains("unexpected fc1.weight"),
        "{e}"
    );
}

#[test]
fn garbage_and_truncated_files_are_errors_and_saves_replace_atomically() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.safetensors");
    std::fs::write(&path, b"not a checkpoint").unwrap();
    let mut m = TwoLayer::new(4, 3, 2, Init::Small, &mut rng(0));
    let e = load_model(&path, &mut m).unwrap_err().to_string();
    assert!(
        e.contains("x.safetensors") && e.contains("not a valid safetensors file"),
        "{e}"
    );
    save_model(&path, &m, Default::default()).unwrap();
    let full = std::fs::read(&path).unwrap();
    std::fs::write(&path, &full[..full.len() - 7]).unwrap();
    assert!(load_model(&path, &mut m).is_err());
    // a good save replaces the file in one step and leaves no temporary behind
    save_model(&path, &m, Default::default()).unwrap();
    assert!(load_model(&path, &mut m).is_ok());
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec!["x.safetensors".to_string()]);
}

/// A checkpoint written by PyTorch (`safetensors.torch.save_file` of an
/// `nn.Sequential` with `fc1 = nn.Linear(4, 3)`, `fc2 = nn.Linear(3, 2)`,
/// `torch.manual_seed(0)`) loads into our TwoLayer and gives PyTorch's output.
#[test]
// the expected values as PyTorch printed them (f32 values in their f64
// digits), so they can be compared with its output by eye
#[allow(clippy::excessive_precision)]
fn reads_a_checkpoint_written_by_pytorch() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/torch_two_layer.safetensors");
    let mut m = TwoLayer::new(4, 3, 2, Init::Small, &mut rng(0));
    load_model(&path, &mut m).unwrap();
    let w0: Vec<f32> = m.fc1.weight.data()[..4].to_vec();
    let want = [
        -0.003743410110473633f32,
        0.26822179555892944,
        -0.4115225672721863,
        -0.3679695129394531,
    ];
    assert_eq!(w0, want);
    let x = autograd::Tensor::from_vec(vec![1.0f32, -2.0, 0.5, 3.0], &[1, 4]).unwrap();
    let out = train::step::predict(&m, &x).unwrap();
    let torch_out = [0.5690127611160278f32, -0.21750031411647797];
    for (a, b) in out.data().iter().zip(torch_out) {
        assert!((a - b).abs() < 1e-6, "{a} vs {b}");
    }
}

/// The temporary file's name used to depend only on the process id: two
/// threads saving to one path failed 122 of 400 saves (one renamed the
/// other's half-written file away). Every save must now succeed, and the
/// file must always be one whole checkpoint.
#[test]
fn threads_saving_to_one_path_all_succeed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared.safetensors");
    std::thread::scope(|s| {
        for t in 0..4u64 {
            let path = &path;
            s.spawn(move || {
                let m = TwoLayer::new(64, 32, 10, Init::Small, &mut rng(t));
                for i in 0..100 {
                    save_model(path, &m, Default::default())
                        .unwrap_or_else(|e| panic!("thread {t} save {i}: {e}"));
                }
            });
        }
    });
    let mut m = TwoLayer::new(64, 32, 10, Init::Small, &mut rng(9));
    load_model(&path, &mut m).unwrap();
    let leftovers: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "shared.safetensors")
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

/// A save renamed over whatever the target was: saving "to" a device node
/// replaced the node with a regular file.
#[test]
fn saving_over_something_that_is_not_a_regular_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let m = TwoLayer::new(4, 3, 2, Init::Small, &mut rng(0));
    // a folder
    let sub = dir.path().join("folder");
    std::fs::create_dir(&sub).unwrap();
    let e = save_model(&sub, &m, Default::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("folder") && e.contains("is a folder"), "{e}");
    assert!(sub.is_dir());
    // a symbolic link to a device
    #[cfg(unix)]
    {
        let link = dir.path().join("null.safetensors");
        std::os::unix::fs::symlink("/dev/null", &link).unwrap();
        let e = save_model(&link, &m, Default::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("symbolic link"), "{e}");
        assert!(std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        // a FIFO stands for a device node (making one needs no privileges)
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        if made.map(|s| s.success()).unwrap_or(false) {
            let e = save_model(&fifo, &m, Default::default())
                .unwrap_err()
                .to_string();
            assert!(e.contains("not a regular file"), "{e}");
            use std::os::unix::fs::FileTypeExt;
            assert!(std::fs::symlink_metadata(&fifo)
                .unwrap()
                .file_type()
                .is_fifo());
        }
    }
    // the device itself, where it exists (as root the old code replaced it)
    let dev = std::path::Path::new("/dev/null");
    if dev.exists() {
        let e = save_model(dev, &m, Default::default())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("/dev/null") && e.contains("not a regular file"),
            "{e}"
        );
    }
}

/// A checkpoint with NaN weights used to load silently.
#[test]
fn a_checkpoint_with_nan_weights_is_refused_unless_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("diverged.safetensors");
    let mut m = TwoLayer::new(4, 3, 2, Init::Small, &mut rng(0));
    m.fc1.weight.data_mut()[5] = f32::NAN;
    m.fc2.bias.as_mut().unwrap().data_mut()[0] = f32::INFINITY;
    save_model(&path, &m, Default::default()).unwrap();
    let mut fresh = TwoLayer::new(4, 3, 2, Init::Small, &mut rng(1));
    let before = fresh.fc1.weight.clone();
    let e = load_model(&path, &mut fresh).unwrap_err().to_string();
    assert!(
        e.contains("diverged.safetensors")
            && e.contains("fc1.weight (1 of 12 values)")
            && e.contains("fc2.bias (1 of 2 values)"),
        "{e}"
    );
    assert_eq!(fresh.fc1.weight.data(), before.data(), "nothing loaded");
    let opts = nn::checkpoint::LoadOptions {
        allow_nonfinite: true,
    };
    nn::checkpoint::load_model_with(&path, &mut fresh, opts).unwrap();
    assert!(fresh.fc1.weight.data()[5].is_nan());
}

/// Training checkpoints of format v1 (SGD only, before any optimizer could
/// be saved) still load into an Sgd; they are refused for another optimizer.
#[test]
fn a_version_1_training_checkpoint_still_loads() {
    use optim::{Adam, Optimizer, Sgd};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v1.safetensors");
    let mut m = TwoLayer::new(4, 3, 2, Init::Small, &mut rng(0));
    let mut tensors = nn::checkpoint::named_tensors(&m);
    tensors.push((
        "optim.momentum.fc1.weight".into(),
        autograd::Tensor::full(&[3, 4], 0.5),
    ));
    let meta = [
        ("format", "lecture-grad training checkpoint v1"),
        ("lr", "1e-1"),
        ("momentum", "9e-1"),
        ("dampening", "0e0"),
        ("weight_decay", "5e-4"),
        ("nesterov", "true"),
        ("sgd_steps", "7"),
        ("epoch", "2"),
        ("step", "3"),
        ("seed", "11"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    nn::checkpoint::save_tensors(&path, &tensors, meta).unwrap();
    let mut sgd = Sgd::<f32>::new(0.01);
    let pos = train::checkpoint::load_training(&path, &mut m, &mut sgd).unwrap();
    assert_eq!((pos.epoch, pos.step, pos.seed), (2, 3, 11));
    assert_eq!(
        (sgd.lr, sgd.momentum, sgd.nesterov, sgd.steps),
        (0.1, 0.9, true, 7)
    );
    assert_eq!(sgd.buffers["fc1.weight"].data(), &[0.5; 12]);
    let e =
        train::checkpoint::load_training(&path, &mut m, &mut Adam::<f32>::new(1e-3)).unwrap_err();
    assert!(
        e.to_string().contains("written by the sgd optimizer"),
        "{e}"
    );
    let _ = Optimizer::<f32>::name(&sgd);
}
