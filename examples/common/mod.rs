//! Helpers shared by the examples: argument parsing and pictures.
#![allow(dead_code)]

/// mimalloc keeps freed blocks for reuse; with glibc every training step
/// page-faults its large tensors in again (measured: 20x fewer page faults,
/// ~15% faster reference ConvNet step).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub mod cifar;
pub mod curves;
pub mod plot;
pub mod progress;

/// The value after `--name` on the command line, if any.
pub fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

/// Whether `--name` is on the command line.
pub fn flag(name: &str) -> bool {
    std::env::args().any(|a| a == name)
}

/// Parses `--name VALUE` or returns `default`; exits with a message on a bad value.
pub fn arg_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    match arg(name) {
        None => default,
        Some(v) => v.parse().unwrap_or_else(|_| {
            eprintln!("error: {name} {v}: not a valid value");
            std::process::exit(2)
        }),
    }
}
