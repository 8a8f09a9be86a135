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

/// `Tape::record_fn`: y = x0 * x1^2 with a closure backward passes gradcheck
/// for both inputs.
#[test]
fn a_closure_op_passes_gradcheck_for_every_input() {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
    let a = Tensor::<f64>::randn(&[2, 3], 0.0, 1.0, &mut rng);
    let b = Tensor::<f64>::randn(&[2, 3], 0.0, 1.0, &mut rng);
    let r = autograd::gradcheck(
        "x0_x1sq",
        &[a, b],
        &GradcheckConfig::default(),
        |tape, v| {
            let (x0, x1) = (v[0].value(), v[1].value());
            let y = x0.zip_broadcast(&x1, "x0_x1sq", |a, b| a * b * b)?;
            tape.record_fn("x0_x1sq", &[v[0], v[1]], y, move |g| {
                let sq = x1.map(|b| b * b);
                let ga = g.zip_broadcast(&sq, "x0_x1sq", |g, s| g * s)?;
                let ab2 = x0.zip_broadcast(&x1, "x0_x1sq", |a, b| 2.0 * a * b)?;
                Ok(vec![ga, g.zip_broadcast(&ab2, "x0_x1sq", |g, s| g * s)?])
            })
        },
    )
    .unwrap();
    assert_eq!(r.elements, 12);
    assert!(r.max_abs_err < 1e-7, "{}", r.max_abs_err);
}

/// A closure that returns too few gradients, or one of the wrong shape, is an
/// error naming the op, not a panic or a silently wrong gradient.
#[test]
fn a_closure_op_with_a_wrong_backward_is_an_error_naming_it() {
    let tape = autograd::Tape::<f64>::new();
    let x = tape.param(Tensor::ones(&[3]));
    let w = tape.param(Tensor::ones(&[3]));
    let y = tape
        .record_fn("too_few", &[x, w], Tensor::ones(&[3]), |g| {
            Ok(vec![g.clone()])
        })
        .unwrap();
    let err = tape.backward_with(y, Tensor::ones(&[3])).unwrap_err();
    assert!(err.to_string().contains("too_few"), "{err}");
    assert!(
        err.to_string().contains("1 gradients for 2 inputs"),
        "{err}"
    );

    let tape = autograd::Tape::<f64>::new();
    let x = tape.param(Tensor::ones(&[3]));
    let y = tape
        .record_fn("bad_shape", &[x], Tensor::ones(&[3]), |_| {
            Ok(vec![Tensor::ones(&[2])])
        })
        .unwrap();
    let err = tape.backward_with(y, Tensor::ones(&[3])).unwrap_err();
    assert!(err.to_string().contains("bad_shape"), "{err}");
    assert!(err.to_string().contains("shape [2]"), "{err}");
}
