//! Gradient clipping against torch.nn.utils.clip_grad_norm_ (2.15.0,
//! float64): two parameters with gradients [3, 4] and [1, -2, 2], max_norm 2.

use autograd::{ErrorKind, Tape, Tensor};

fn two_params() -> (Tape<f64>, Vec<f64>) {
    (Tape::new(), vec![3.0, 4.0, 1.0, -2.0, 2.0])
}

#[test]
fn clip_grad_norm_matches_torch_for_orders_2_3_and_inf() {
    let torch: [(f64, f64, [f64; 5]); 3] = [
        (
            2.0,
            5.830951894845301,
            [
                1.028991334384495,
                1.3719884458459932,
                0.3429971114614983,
                -0.6859942229229966,
                0.6859942229229966,
            ],
        ),
        (
            3.0,
            4.762203155904598,
            [
                1.2599207853280867,
                1.679894380437449,
                0.4199735951093623,
                -0.8399471902187245,
                0.8399471902187245,
            ],
        ),
        (
            f64::INFINITY,
            4.0,
            [
                1.4999996250000938,
                1.999999500000125,
                0.49999987500003124,
                -0.9999997500000625,
                0.9999997500000625,
            ],
        ),
    ];
    for (order, norm, want) in torch {
        let (tape, g) = two_params();
        let a = tape.param(Tensor::zeros(&[2]));
        let b = tape.param(Tensor::zeros(&[3]));
        // L = <ga, a> + <gb, b>, so the gradients are ga and gb
        let ga = tape.constant(Tensor::from_vec(g[..2].to_vec(), &[2]).unwrap());
        let gb = tape.constant(Tensor::from_vec(g[2..].to_vec(), &[3]).unwrap());
        let la = ops::sum_all(ops::mul(a, ga).unwrap()).unwrap();
        let lb = ops::sum_all(ops::mul(b, gb).unwrap()).unwrap();
        let mut grads = tape.backward(ops::add(la, lb).unwrap()).unwrap();
        let n = optim::clip_grad_norm(&mut grads, 2.0, order, true).unwrap();
        assert!(
            (n - norm).abs() < 1e-13,
            "order {order}: norm {n} vs {norm}"
        );
        let got: Vec<f64> = [grads.wrt(a).unwrap(), grads.wrt(b).unwrap()]
            .iter()
            .flat_map(|t| t.data().to_vec())
            .collect();
        for (x, y) in got.iter().zip(want) {
            assert!(
                (x - y).abs() < 1e-14,
                "order {order}: {got:?} vs torch {want:?}"
            );
        }
    }
}

#[test]
fn a_nonfinite_norm_is_an_error_only_when_asked_and_small_norms_scale_by_one() {
    let tape = Tape::<f64>::new();
    let w = tape.param(Tensor::zeros(&[2]));
    let seed = Tensor::from_vec(vec![f64::NAN, 1.0], &[2]).unwrap();
    let mut grads = tape.backward_with(w, seed).unwrap();
    let e = optim::clip_grad_norm(&mut grads, 1.0, 2.0, true).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    assert!(e.to_string().contains("NaN"), "{e}");
    assert_eq!(grads.wrt(w).unwrap().data()[1], 1.0, "nothing changed");
    // as PyTorch without error_if_nonfinite: returns NaN, gradients NaN
    assert!(optim::clip_grad_norm(&mut grads, 1.0, 2.0, false)
        .unwrap()
        .is_nan());
    assert!(grads.wrt(w).unwrap().data()[1].is_nan());
    // a norm below max_norm leaves the gradients as they are
    let tape = Tape::<f64>::new();
    let w = tape.param(Tensor::zeros(&[2]));
    let mut grads = tape
        .backward_with(w, Tensor::from_vec(vec![0.3, 0.4], &[2]).unwrap())
        .unwrap();
    assert!((optim::clip_grad_norm(&mut grads, 1.0, 2.0, true).unwrap() - 0.5).abs() < 1e-15);
    assert_eq!(grads.wrt(w).unwrap().data(), &[0.3, 0.4]);
    // bad arguments
    assert!(optim::clip_grad_norm(&mut grads, -1.0, 2.0, true).is_err());
    assert!(optim::clip_grad_norm(&mut grads, 1.0, 0.0, true).is_err());
    assert!(optim::clip_grad_value(&mut grads, f64::NAN).is_err());
}

#[test]
fn a_parameter_used_twice_is_clipped_by_the_norm_of_its_summed_gradient() {
    // w enters the loss twice: its gradient is 2 * [3, 4] = [6, 8], norm 10
    let tape = Tape::<f64>::new();
    let w = Tensor::<f64>::zeros(&[2]);
    let c = tape.constant(Tensor::from_vec(vec![3.0, 4.0], &[2]).unwrap());
    let l1 = ops::sum_all(ops::mul(tape.param(&w), c).unwrap()).unwrap();
    let l2 = ops::sum_all(ops::mul(tape.param(&w), c).unwrap()).unwrap();
    let mut grads = tape.backward(ops::add(l1, l2).unwrap()).unwrap();
    let n = optim::clip_grad_norm(&mut grads, 5.0, 2.0, true).unwrap();
    assert!((n - 10.0).abs() < 1e-12);
    let g = grads.of(&w).unwrap();
    assert!(
        (g.data()[0] - 6.0 * 5.0 / (10.0 + 1e-6)).abs() < 1e-12,
        "{:?}",
        g.data()
    );
}
