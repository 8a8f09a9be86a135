//! CIFAR-10 reader on arbitrary bytes: an error or a dataset, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    if let Ok(ds) = data::parse_cifar10(bytes, std::path::Path::new("fuzz.bin")) {
        assert_eq!(ds.images.shape()[0], ds.labels.len());
        assert!(ds.labels.iter().all(|&l| l < 10));
    }
});
