//! Checkpoints: round trip, atomic replace, and clear errors for a file that
//! belongs to another model or is not a checkpoint; PyTorch's files read back.

use nn::checkpoint::{load_model, save_model};
use nn::models::{ConvNet, TwoLayer};
use nn::{Init, Module};
use rand::SeedableRng;

fn rng(s: u64) -> rand_chacha::ChaCha8Rng {
    rand_chacha::ChaCha8Rng::seed_from_u64(s)
}

#[test]
fn round_trip_includes_batch_norm_buffers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("net.safetensors");
    let mut a = ConvNet::new(&mut rng(1));
    a.bns[2].stats.running_mean = autograd::Tensor::full(&[64], 0.25);
    save_model(
        &path,
        &mut a,
        [("epoch".to_string(), "3".to_string())].into(),
    )
    .unwrap();
    let mut b = ConvNet::new(&mut rng(2));
    let ck = load_model(&path, &mut b).unwrap();
    assert_eq!(ck.metadata.get("epoch").map(String::as_str), Some("3"));
    assert_eq!(b.bns[2].stats.running_mean.data(), &[0.25; 64]);
    let (mut wa, mut wb) = (Vec::new(), Vec::new());
    a.visit("", &mut |n, t| wa.push((n.to_string(), t.data().to_vec())));
    b.visit("", &mut |n, t| wb.push((n.to_string(), t.data().to_vec())));
    assert_eq!(wa, wb);
}

#[test]
fn a_checkpoint_for_another_model_is_refused_with_names() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mlp.safetensors");
    let mut mlp = TwoLayer::new(3072, 100, 10, Init::Small, &mut rng(0));
    save_model(&path, &mut mlp, Default::default()).unwrap();
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
    save_model(&path, &mut m, Default::default()).unwrap();
    let full = std::fs::read(&path).unwrap();
    std::fs::write(&path, &full[..full.len() - 7]).unwrap();
    assert!(load_model(&path, &mut m).is_err());
    // a good save replaces the file in one step and leaves no temporary behind
    save_model(&path, &mut m, Default::default()).unwrap();
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
    let out = optim::train::predict(&mut m, &x).unwrap();
    let torch_out = [0.5690127611160278f32, -0.21750031411647797];
    for (a, b) in out.data().iter().zip(torch_out) {
        assert!((a - b).abs() < 1e-6, "{a} vs {b}");
    }
}
