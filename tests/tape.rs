//! Tape semantics: accumulation, leaves vs constants, no_grad, detach, and
//! the errors for misuse. Error messages must name the op and the shapes and
//! point at the caller's line (this file), not at library internals.

use autograd::{ErrorKind, Tape, Tensor};
use ops::prelude::*;
use ops::{Conv2dCfg, Pool2dCfg};

fn t(v: &[f64], s: &[usize]) -> Tensor<f64> {
    Tensor::from_vec(v.to_vec(), s).unwrap()
}

#[test]
fn gradients_accumulate_when_a_variable_is_used_twice() {
    let tape = Tape::new();
    let x = tape.param(t(&[3.0], &[1]));
    // y = x * x + x  -> dy/dx = 2x + 1 = 7
    let y = x.mul(x).unwrap().add(x).unwrap().sum_all().unwrap();
    let g = tape.backward(y).unwrap();
    assert_eq!(g.wrt(x).unwrap().data(), &[7.0]);
}

#[test]
fn constants_get_no_gradient_and_params_unreached_get_zeros() {
    let tape = Tape::new();
    let x = tape.constant(t(&[1.0, 2.0], &[2]));
    let w = tape.param(t(&[3.0, 4.0], &[2]));
    let unused = tape.param(t(&[5.0], &[1]));
    let y = x.mul(w).unwrap().sum_all().unwrap();
    let g = tape.backward(y).unwrap();
    assert_eq!(g.wrt(w).unwrap().data(), &[1.0, 2.0]);
    assert!(g.get(x).is_none());
    assert_eq!(g.wrt(x).unwrap_err().kind(), ErrorKind::Tape);
    assert_eq!(g.wrt(unused).unwrap().data(), &[0.0]);
}

#[test]
fn no_grad_records_nothing_that_needs_a_gradient() {
    let tape = Tape::<f64>::new();
    let w = tape.param(t(&[1.0], &[1]));
    {
        let _guard = tape.no_grad();
        let y = w.mul_scalar(2.0).unwrap();
        assert!(!y.requires_grad());
        let e = tape.backward(y.sum_all().unwrap()).unwrap_err();
        assert!(e.to_string().contains("does not require a gradient"), "{e}");
    }
    assert!(tape.is_grad_enabled());
    assert!(w.mul_scalar(2.0).unwrap().requires_grad());
}

#[test]
fn detach_cuts_the_graph() {
    let tape = Tape::<f64>::new();
    let w = tape.param(t(&[2.0], &[1]));
    let y = w.mul(w.detach()).unwrap().sum_all().unwrap(); // d/dw (w * const) = const = 2
    assert_eq!(tape.backward(y).unwrap().wrt(w).unwrap().data(), &[2.0]);
}

#[test]
fn retain_grad_keeps_a_hidden_gradient() {
    let tape = Tape::<f64>::new();
    let w = tape.param(t(&[1.0, -1.0], &[2]));
    let h = w.mul_scalar(3.0).unwrap().retain_grad();
    let y = h.relu().unwrap().sum_all().unwrap();
    let g = tape.backward(y).unwrap();
    assert_eq!(g.wrt(h).unwrap().data(), &[1.0, 0.0]); // h = [3, -3]: relu passes only the first
    assert_eq!(g.wrt(w).unwrap().data(), &[3.0, 0.0]);
}

#[test]
fn backward_on_a_non_scalar_without_seed_is_a_clear_error() {
    let tape = Tape::<f64>::new();
    let w = tape.param(t(&[1.0, 2.0], &[2]));
    let y = w.mul_scalar(2.0).unwrap();
    let e = tape.backward(y).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.starts_with("backward: output of shape [2] is not a scalar"),
        "{msg}"
    );
    assert!(msg.contains("tests/tape.rs"), "{msg}");
    // with a seed it works
    let g = tape.backward_with(y, t(&[1.0, 1.0], &[2])).unwrap();
    assert_eq!(g.wrt(w).unwrap().data(), &[2.0, 2.0]);
}

#[test]
fn variables_from_another_tape_are_rejected() {
    let a = Tape::<f64>::new();
    let b = Tape::<f64>::new();
    let x = a.param(t(&[1.0], &[1]));
    let y = b.param(t(&[2.0], &[1]));
    let e = x.add(y).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Tape);
    assert!(
        e.to_string()
            .contains("add: an input variable belongs to another tape"),
        "{e}"
    );
    let loss = x.sum_all().unwrap();
    let e = b.backward(loss).unwrap_err();
    assert!(e.to_string().contains("another tape"), "{e}");
}

#[test]
fn second_backward_after_free_is_an_error_but_retain_allows_it() {
    let tape = Tape::<f64>::new();
    let w = tape.param(t(&[2.0], &[1]));
    let y = w.mul(w).unwrap().sum_all().unwrap();
    let g1 = tape.backward_retain(y).unwrap();
    let g2 = tape.backward(y).unwrap();
    assert_eq!(g1.wrt(w).unwrap().data(), g2.wrt(w).unwrap().data());
    let e = tape.backward(y).unwrap_err();
    assert!(e.to_string().contains("freed"), "{e}");
}

#[test]
fn shape_errors_name_the_op_the_shapes_and_the_callers_line() {
    let tape = Tape::<f32>::new();
    let x = tape.constant(Tensor::zeros(&[8, 3, 32, 32]));
    let w = tape.param(Tensor::zeros(&[16, 4, 3, 3]));
    let line = line!() + 1;
    let e = ops::conv2d(x, w, None, Conv2dCfg::default()).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("conv2d: input [8, 3, 32, 32] has 3 channels, weight [16, 4, 3, 3] expects 4"),
        "{msg}"
    );
    let loc = e.location().expect("location");
    assert_eq!((loc.file(), loc.line()), ("tests/tape.rs", line), "{msg}");

    // method syntax points at the user's line too
    let a = tape.constant(Tensor::zeros(&[2, 3]));
    let b = tape.constant(Tensor::zeros(&[4, 5]));
    let line = line!() + 1;
    let e = a.matmul(b).unwrap_err();
    assert_eq!(e.location().unwrap().line(), line);
    assert!(
        e.to_string()
            .contains("matmul: [2, 3] @ [4, 5]: inner dimensions differ (3 vs 4)"),
        "{e}"
    );

    let e = a.add(b).unwrap_err();
    assert!(
        e.to_string()
            .contains("add: shapes [2, 3] and [4, 5] do not broadcast"),
        "{e}"
    );
    assert!(e.to_string().contains("tests/tape.rs"), "{e}");

    let e = ops::max_pool2d(a, Pool2dCfg::new(2)).unwrap_err();
    assert!(
        e.to_string()
            .contains("max_pool2d: input [2, 3] must be 4-D"),
        "{e}"
    );
    let e = ops::conv2d(
        x,
        tape.param(Tensor::zeros(&[4, 3, 3, 3])),
        None,
        Conv2dCfg::default().stride(0),
    )
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    assert!(e.to_string().contains("conv2d: stride [0, 0]"), "{e}");
}

#[test]
fn anomaly_detection_names_the_op_that_made_nan() {
    let tape = Tape::<f64>::new();
    tape.set_anomaly_detection(true);
    let x = tape.param(t(&[-1.0, 4.0], &[2])).label("input");
    let e = x.sqrt().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Anomaly);
    assert!(e.to_string().contains("sqrt: forward produced NaN"), "{e}");
    assert!(e.to_string().contains("input"), "{e}");
    // backward: d/dx sqrt(x) at 0 is Inf
    let z = tape.param(t(&[0.0], &[1]));
    let y = z.sqrt().unwrap().sum_all().unwrap();
    let e = tape.backward(y).unwrap_err();
    assert!(e.to_string().contains("sqrt: backward produced Inf"), "{e}");
}

#[test]
fn tensors_and_grads_are_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Tensor<f32>>();
    assert_send_sync::<autograd::Grads<f32>>();
    fn assert_send<T: Send>() {}
    assert_send::<Tape<f32>>();
}

/// `reshape` takes the same argument on a tensor and on a variable: integer
/// literals (with `-1`), arrays of `usize`, a vector, another shape.
#[test]
fn reshape_takes_one_argument_type_on_tensor_and_var() {
    use ops::VarOps;
    let t = autograd::Tensor::<f32>::zeros(&[2, 3, 4]);
    let tape = autograd::Tape::<f32>::new();
    let v = tape.constant(t.clone());
    let (n, v6) = (6usize, vec![4usize, 6]);
    for (tensor, var) in [
        (t.reshape([6, 4]).unwrap(), v.reshape([6, 4]).unwrap()),
        (t.reshape([-1, 4]).unwrap(), v.reshape([-1, 4]).unwrap()),
        (t.reshape([n, 4]).unwrap(), v.reshape([n, 4]).unwrap()),
        (t.reshape([n, 4]).unwrap(), v.reshape([n, 4]).unwrap()),
        (t.reshape(&v6).unwrap(), v.reshape(&v6).unwrap()),
        (t.reshape(t.shape()).unwrap(), v.reshape(t.shape()).unwrap()),
    ] {
        assert_eq!(tensor.shape(), var.value().shape());
    }
    for bad in [
        t.reshape([5, 5]).unwrap_err(),
        v.reshape([-1, -1]).unwrap_err(),
        v.reshape([-2, 12]).unwrap_err(),
        t.reshape([usize::MAX, 1]).unwrap_err(),
    ] {
        assert!(bad.to_string().contains("reshape"), "{bad}");
    }
}
