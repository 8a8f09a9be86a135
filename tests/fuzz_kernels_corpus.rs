//! Replays the `kernels` fuzz corpus (fuzz/corpus/kernels) through the same
//! code as the fuzz target, so every input it kept — the empty-batch
//! convolution that used to panic among them — runs in CI without
//! cargo-fuzz. Documented panics of the kernel entry points (arguments that
//! do not fit) are caught there; anything else fails this test. Its own
//! test binary, so the panic hook it installs touches no other test.

#[path = "../fuzz/fuzz_targets/kernels_case.rs"]
mod kernels_case;

#[test]
fn kernels_corpus() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/kernels");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("fuzz/corpus/kernels")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .collect();
    files.sort();
    assert!(files.len() > 100, "corpus has {} inputs", files.len());
    kernels_case::install_quiet_hook();
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        kernels_case::run(&bytes);
    }
}
