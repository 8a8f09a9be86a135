//! The custom-op example passes gradcheck; a wrong backward is caught.

#[path = "../examples/custom_op.rs"]
#[allow(dead_code)]
mod example;

use autograd::{GradcheckConfig, GradcheckFailure, Tensor};
use rand::SeedableRng;

fn input() -> Tensor<f64> {
    Tensor::randn(
        &[3, 4],
        0.0,
        2.0,
        &mut rand_chacha::ChaCha8Rng::seed_from_u64(3),
    )
}

#[test]
fn custom_softplus_passes_gradcheck() {
    let r = autograd::gradcheck(
        "softplus",
        &[input()],
        &GradcheckConfig::default(),
        |_, v| example::softplus(v[0]),
    )
    .unwrap();
    assert_eq!(r.elements, 12);
    assert!(r.max_abs_err < 1e-7, "{}", r.max_abs_err);
}

#[test]
fn gradcheck_catches_a_wrong_backward_and_reports_it() {
    let err = autograd::gradcheck(
        "softplus_wrong",
        &[input()],
        &GradcheckConfig::default(),
        |_, v| example::softplus_wrong_backward(v[0]),
    )
    .unwrap_err();
    match &err {
        GradcheckFailure::Mismatch {
            name,
            input,
            index,
            analytic,
            numeric,
            mismatches,
            elements,
            ..
        } => {
            assert_eq!(name, "softplus_wrong");
            assert_eq!(*input, 0);
            assert_eq!(index.len(), 2);
            assert!((analytic - numeric).abs() > 1e-3);
            assert_eq!(*elements, 12);
            assert!(*mismatches > 0);
        }
        other => panic!("expected a mismatch, got {other}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains("softplus_wrong") && msg.contains("analytic") && msg.contains("numeric"),
        "{msg}"
    );
}

#[test]
fn gradcheck_reports_errors_from_the_function() {
    let err = autograd::gradcheck(
        "bad_shapes",
        &[input(), Tensor::zeros(&[5, 5])],
        &GradcheckConfig::default(),
        |_, v| ops::matmul(v[0], v[1]),
    )
    .unwrap_err();
    assert!(matches!(err, GradcheckFailure::Error { .. }));
    assert!(err.to_string().contains("matmul: [3, 4] @ [5, 5]"), "{err}");
}
