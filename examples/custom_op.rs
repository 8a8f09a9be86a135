//! How to define your own op with its own backward, and gradient-check it.
//!
//! Run: `cargo run --release --example custom_op`
//!
//! A custom op is three things:
//! 1. a forward that computes the output tensor from the input values;
//! 2. a struct that saves what the backward needs and implements
//!    `autograd::Backward` (the vector-Jacobian product);
//! 3. one call to `tape.record(name, inputs, output, || saved)`, which pushes
//!    the node (the closure runs only when a gradient is needed).
//!
//! Then `autograd::gradcheck` compares the backward with f64 central
//! differences, exactly as the test suite does for every built-in op.

use autograd::{
    smallvec::smallvec, Backward, Element, GradcheckConfig, InputGrads, Result, Tensor, Var,
};
use rand::SeedableRng;

/// softplus(x) = ln(1 + e^x), computed stably as max(x, 0) + ln(1 + e^-|x|).
/// Its derivative is the logistic sigmoid: d/dx softplus(x) = 1 / (1 + e^-x).
#[track_caller]
pub fn softplus<T: Element>(x: Var<'_, T>) -> Result<Var<'_, T>> {
    let xv = x.value();
    let y = xv.map(|v| v.max(T::ZERO) + (T::ONE + (-v.abs()).exp()).ln());
    x.tape()
        .record("softplus", &[x], y, || SoftplusBackward { x: xv })
}

/// Saved for backward: the input.
struct SoftplusBackward<T> {
    x: Tensor<T>,
}

impl<T: Element> Backward<T> for SoftplusBackward<T> {
    fn backward(&self, g: &Tensor<T>, _needs: &[bool]) -> Result<InputGrads<T>> {
        // dL/dx = g * sigmoid(x)
        let gx = g.zip_broadcast(&self.x, "softplus", |g, x| g / (T::ONE + (-x).exp()))?;
        Ok(smallvec![Some(gx)])
    }
}

/// The same op with a deliberately wrong backward (it forgets the sigmoid),
/// used to show that gradcheck catches the mistake.
#[track_caller]
pub fn softplus_wrong_backward<T: Element>(x: Var<'_, T>) -> Result<Var<'_, T>> {
    struct Wrong;
    impl<T: Element> Backward<T> for Wrong {
        fn backward(&self, g: &Tensor<T>, _needs: &[bool]) -> Result<InputGrads<T>> {
            Ok(smallvec![Some(g.clone())])
        }
    }
    let y = x
        .value()
        .map(|v| v.max(T::ZERO) + (T::ONE + (-v.abs()).exp()).ln());
    x.tape().record("softplus_wrong", &[x], y, || Wrong)
}

#[allow(dead_code)]
/// No options: `--help` says what it does, and any argument is refused.
#[derive(clap::Parser, Debug)]
#[command(
    about = "An op with its own backward (softplus), gradient-checked; a wrong backward caught"
)]
struct Args {}

fn main() {
    let _ = <Args as clap::Parser>::parse();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let x = Tensor::<f64>::randn(&[4, 5], 0.0, 2.0, &mut rng);
    let cfg = GradcheckConfig::default();

    match autograd::gradcheck("softplus", std::slice::from_ref(&x), &cfg, |_, v| {
        softplus(v[0])
    }) {
        Ok(r) => println!(
            "softplus: gradcheck passed on {} elements (max |analytic - numeric| = {:.2e})",
            r.elements, r.max_abs_err
        ),
        Err(e) => {
            eprintln!("softplus: {e}");
            std::process::exit(1);
        }
    }
    match autograd::gradcheck("softplus_wrong_backward", &[x], &cfg, |_, v| {
        softplus_wrong_backward(v[0])
    }) {
        Ok(_) => {
            eprintln!("softplus_wrong_backward: gradcheck should have failed");
            std::process::exit(1);
        }
        Err(e) => println!("softplus_wrong_backward: caught as expected:\n  {e}"),
    }
}
