//! Every registered op's backward against f64 central differences.
//!
//! One test per registry entry (so the test output lists every op by name),
//! plus completeness checks: every op in `ops::OP_NAMES` and every op file in
//! `ops/src/` must have a registry entry, and every entry a test here.

mod registry;

use proptest::test_runner::{Config, RngSeed, TestCaseError, TestRunner};
use registry::{registry, Entry};

fn run(entry: &Entry) {
    let mut config = Config {
        cases: entry.n_cases,
        failure_persistence: None,
        ..Config::default()
    };
    if std::env::var("PROPTEST_RNG_SEED").is_err() {
        config.rng_seed = RngSeed::Fixed(0x00C0_FFEE);
    }
    let mut runner = TestRunner::new(config);
    let result = runner.run(&(entry.cases)(), |case| {
        autograd::gradcheck(
            &format!("{} ({})", entry.id, case.desc),
            &case.inputs,
            &entry.cfg,
            |t, v| (case.f)(t, v),
        )
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
        Ok(())
    });
    if let Err(e) = result {
        panic!(
            "gradcheck of registry entry `{}` (op `{}`) failed: {e}",
            entry.id, entry.op
        );
    }
}

macro_rules! gradcheck_tests {
    ($($id:ident),* $(,)?) => {
        $(
            #[test]
            fn $id() {
                let reg = registry();
                let entry = reg.iter().find(|e| e.id == stringify!($id)).expect("entry in registry");
                run(entry);
            }
        )*
        const TESTED: &[&str] = &[$(stringify!($id)),*];
    };
}

gradcheck_tests!(
    add,
    sub,
    mul,
    div,
    neg,
    add_scalar,
    mul_scalar,
    exp,
    log,
    sqrt,
    pow,
    relu,
    tanh,
    sigmoid,
    softplus,
    gelu,
    narrow,
    adaptive_avg_pool2d,
    index_select,
    gather,
    where_,
    cat,
    stack,
    leaky_relu,
    elu,
    sum_all,
    sum_axis,
    mean_all,
    mean_axis,
    max_axis,
    reshape,
    permute,
    matmul,
    linear,
    conv2d,
    conv2d_dilated_strided,
    conv2d_large_batch,
    max_pool2d,
    max_pool2d_overlapping,
    avg_pool2d,
    batch_norm_train,
    batch_norm_eval,
    log_softmax,
    nll_loss,
    dropout,
    cross_entropy,
);

#[test]
fn every_op_has_a_registry_entry() {
    let reg = registry();
    let missing: Vec<&str> = ops::OP_NAMES
        .iter()
        .copied()
        .filter(|op| !reg.iter().any(|e| e.op == *op))
        .collect();
    assert!(
        missing.is_empty(),
        "ops without a gradcheck registry entry: {missing:?}"
    );
    for e in &reg {
        assert!(
            ops::OP_NAMES.contains(&e.op),
            "registry entry `{}` names unknown op `{}`",
            e.id,
            e.op
        );
    }
}

#[test]
fn every_op_file_is_listed_and_registered() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("ops/src");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .expect("read ops/src")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_file())
        .filter_map(|e| {
            e.path()
                .file_stem()
                .and_then(|s| s.to_str())
                .map(String::from)
        })
        .filter(|s| s != "lib")
        .collect();
    files.sort();
    for f in &files {
        assert!(
            ops::OP_NAMES.contains(&f.as_str()),
            "ops/src/{f}.rs is an op without an entry in ops::OP_NAMES (and so maybe the registry)"
        );
    }
    assert_eq!(
        files.len(),
        ops::OP_NAMES.len(),
        "ops::OP_NAMES lists an op that has no file: {files:?}"
    );
}

#[test]
fn every_registry_entry_has_a_test() {
    for e in registry() {
        assert!(
            TESTED.contains(&e.id),
            "registry entry `{}` has no test in gradcheck_ops.rs",
            e.id
        );
    }
}

/// The registry cannot hide an entry: ids are unique (a duplicate would
/// make its test find the first entry and never run the second), every
/// entry runs at least one case, and its generator yields cases with inputs
/// on which its function runs. Prints the ops and variants checked (visible
/// with --nocapture).
#[test]
fn registry_entries_are_unique_and_each_generates_runnable_cases() {
    use proptest::strategy::{Strategy, ValueTree};
    let reg = registry();
    let mut by_op: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
    let mut ids = std::collections::HashSet::new();
    let mut runner = TestRunner::deterministic();
    for e in &reg {
        assert!(ids.insert(e.id), "registry id `{}` appears twice", e.id);
        assert!(e.n_cases >= 1, "registry entry `{}` runs no case", e.id);
        let case = (e.cases)().new_tree(&mut runner).unwrap().current();
        assert!(!case.inputs.is_empty(), "`{}`: a case without inputs", e.id);
        let tape = autograd::Tape::<f64>::new();
        let vars: Vec<_> = case.inputs.iter().map(|t| tape.param(t)).collect();
        let out = (case.f)(&tape, &vars)
            .unwrap_or_else(|err| panic!("`{}` ({}): {err}", e.id, case.desc));
        assert!(
            out.requires_grad(),
            "`{}`: output does not depend on its inputs",
            e.id
        );
        by_op.entry(e.op).or_default().push(e.id);
    }
    for (op, ids) in &by_op {
        println!("gradcheck registry: {op}: {}", ids.join(", "));
    }
}
