//! Parameters are found by tensor identity, not by storage: a cloned model is
//! a model of its own (PyTorch's `copy.deepcopy`), never silently tied to
//! the original, and a weight put on the tape twice gets the summed gradient.

use autograd::{Tape, Tensor};
use nn::{Init, Linear, Module};
use optim::Sgd;
use rand::SeedableRng;

fn loss_of(m: &Linear<f32>, tape: &Tape<f32>, x: &[f32], y: usize) -> autograd::Result<f64> {
    let xv = tape.constant(Tensor::from_vec(x.to_vec(), &[1, 3])?);
    let l = nn::cross_entropy(m.forward(tape, xv)?, &[y])?;
    Ok(l.value().item()? as f64)
}

#[test]
fn a_cloned_model_and_its_original_get_their_own_gradients_and_steps() {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let mut original = Linear::<f32>::new(3, 2, Init::Xavier, &mut rng);
    let mut copy = original.clone();
    assert_eq!(original.weight.data(), copy.weight.data());

    // both models on one tape, each on its own example (teacher/student)
    let tape = Tape::new();
    let xa = tape.constant(Tensor::from_vec(vec![1.0, 0.0, 0.0], &[1, 3]).unwrap());
    let xb = tape.constant(Tensor::from_vec(vec![0.0, 0.0, 2.0], &[1, 3]).unwrap());
    let la = nn::cross_entropy(original.forward(&tape, xa).unwrap(), &[0]).unwrap();
    let lb = nn::cross_entropy(copy.forward(&tape, xb).unwrap(), &[1]).unwrap();
    let grads = tape.backward(ops::add(la, lb).unwrap()).unwrap();
    drop(tape);

    let ga = grads.of(&original.weight).unwrap();
    let gb = grads.of(&copy.weight).unwrap();
    // input a is e0, so only column 0 of the original's gradient is non-zero;
    // input b is 2 e2, so only column 2 of the copy's
    for r in 0..2 {
        assert_ne!(ga.at(&[r, 0]).unwrap(), 0.0);
        assert_eq!(
            ga.at(&[r, 2]).unwrap(),
            0.0,
            "the original got the copy's gradient"
        );
        assert_eq!(
            gb.at(&[r, 0]).unwrap(),
            0.0,
            "the copy got the original's gradient"
        );
        assert_ne!(gb.at(&[r, 2]).unwrap(), 0.0);
    }

    // each optimizer steps its own model with the shared gradients
    let before = original.weight.clone();
    let mut opt_a = Sgd::new(0.5);
    let mut opt_b = Sgd::new(0.5);
    let (grads_a, grads_b) = (
        optim::grads_for(&original, &grads),
        optim::grads_for(&copy, &grads),
    );
    opt_a.step(&mut original, &grads_a).unwrap();
    opt_b.step(&mut copy, &grads_b).unwrap();
    // the shared gradients name both models' parameters: one model alone is refused
    let err = Sgd::new(0.5)
        .step(&mut original, &grads)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("not parameters of the model") && err.contains("[2, 3]"),
        "{err}"
    );
    for r in 0..2 {
        // the original moved along column 0 only, the copy along column 2 only
        assert_ne!(
            original.weight.at(&[r, 0]).unwrap(),
            before.at(&[r, 0]).unwrap()
        );
        assert_eq!(
            original.weight.at(&[r, 2]).unwrap(),
            before.at(&[r, 2]).unwrap()
        );
        assert_eq!(
            copy.weight.at(&[r, 0]).unwrap(),
            before.at(&[r, 0]).unwrap()
        );
        assert_ne!(
            copy.weight.at(&[r, 2]).unwrap(),
            before.at(&[r, 2]).unwrap()
        );
    }
    // and they keep diverging on their own data afterwards
    let tape = Tape::new();
    let a = loss_of(&original, &tape, &[1.0, 0.0, 0.0], 0).unwrap();
    let b = loss_of(&copy, &tape, &[1.0, 0.0, 0.0], 0).unwrap();
    assert!(
        a < b,
        "the original trained on this example, the copy did not: {a} vs {b}"
    );
}

#[test]
fn a_weight_used_twice_gets_the_sum_of_both_uses() {
    let w = Tensor::<f64>::from_vec(vec![1.0, 2.0], &[2]).unwrap();
    let tape = Tape::new();
    let c = tape.constant(Tensor::from_vec(vec![3.0, 5.0], &[2]).unwrap());
    let l1 = ops::sum_all(ops::mul(tape.param(&w), c).unwrap()).unwrap();
    let l2 = ops::sum_all(ops::mul(tape.param(&w), tape.param(&w)).unwrap()).unwrap();
    let grads = tape.backward(ops::add(l1, l2).unwrap()).unwrap();
    // d/dw (c.w + w.w) = c + 2w
    assert_eq!(grads.of(&w).unwrap().data(), &[5.0, 9.0]);
}

#[test]
fn in_place_updates_keep_a_parameters_identity() {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let mut m = Linear::<f32>::new(3, 2, Init::Xavier, &mut rng);
    let ids: Vec<_> = {
        let mut v = Vec::new();
        m.visit("", &mut |_, t| v.push(t.id()));
        v
    };
    let mut opt = Sgd::new(0.1).momentum(0.9);
    for _ in 0..3 {
        // the tape is still alive during the step: the update copies the
        // shared elements once (copy-on-write) and keeps the identity
        let tape = Tape::new();
        let x = tape.constant(Tensor::ones(&[4, 3]));
        let loss = nn::cross_entropy(m.forward(&tape, x).unwrap(), &[0, 1, 0, 1]).unwrap();
        let grads = tape.backward(loss).unwrap();
        opt.step(&mut m, &grads).unwrap();
        assert_eq!(opt.update_ratios().len(), 2);
    }
    let mut after = Vec::new();
    m.visit("", &mut |_, t| after.push(t.id()));
    assert_eq!(ids, after);
}
