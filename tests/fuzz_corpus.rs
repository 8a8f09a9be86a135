//! Replays the kept fuzz corpora of the readers and the checkpoint loader
//! (fuzz/corpus/*) through the same entry points, so CI checks every input
//! the fuzzer ever kept without needing cargo-fuzz: each must give a value or
//! an error, never a panic.

use std::path::Path;

fn corpus(name: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(name);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    files.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

#[test]
fn cifar_corpus() {
    let inputs = corpus("cifar");
    assert!(!inputs.is_empty());
    for b in inputs {
        if let Ok(ds) = data::parse_cifar10(&b, Path::new("corpus")) {
            assert_eq!(ds.images.shape()[0], ds.labels.len());
        }
    }
}

#[test]
fn idx_corpus() {
    let inputs = corpus("idx");
    assert!(inputs.len() > 3);
    let mut ok = 0;
    for b in inputs {
        if let Ok(idx) = data::parse_idx(&b[..], Path::new("corpus")) {
            assert_eq!(idx.dims.iter().product::<usize>(), idx.data.len());
            ok += 1;
        }
    }
    assert!(ok > 0, "the seeds are valid files");
}

#[test]
fn checkpoint_corpus() {
    use rand::SeedableRng;
    let inputs = corpus("checkpoint");
    assert!(inputs.len() > 1);
    let path = Path::new("corpus.safetensors");
    for b in inputs {
        if let Ok(ck) = nn::checkpoint::parse_tensors(&b, path) {
            let mut m = nn::Linear::<f32>::new(
                3,
                2,
                nn::Init::Small,
                &mut rand_chacha::ChaCha8Rng::seed_from_u64(0),
            );
            let _ = nn::checkpoint::apply(path, &ck, &mut m, &[]);
        }
    }
}
