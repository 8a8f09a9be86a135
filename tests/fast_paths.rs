//! The f32 fast paths against the f64 reference path.
//!
//! Gradient checks run in f64, where conv2d takes im2col + matrixmultiply.
//! In f32, on a CPU with AVX-512F, conv2d takes the packed GEMM with our
//! micro-kernel and, for 3x3 stride-1 kernels with 8+ channels each side,
//! Winograd F(2x2,3x3). This property test runs the same random convolution
//! both ways and compares the output and every gradient. (On a CPU without
//! AVX-512 both sides take the reference path and the test still holds.)

use autograd::{Element, Tape, Tensor};
use ops::Conv2dCfg;
use proptest::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Output and gradients of x, w, b for one convolution in element type T.
fn run<T: Element>(
    x: &Tensor<f64>,
    w: &Tensor<f64>,
    b: &Tensor<f64>,
    gy_seed: u64,
    cfg: Conv2dCfg,
) -> [Vec<f64>; 4] {
    let cast = |t: &Tensor<f64>| {
        Tensor::<T>::from_vec(
            t.data().iter().map(|&v| T::from_f64(v)).collect(),
            t.shape(),
        )
        .unwrap()
    };
    let tape = Tape::<T>::new();
    let (xv, wv, bv) = (
        tape.param(cast(x)),
        tape.param(cast(w)),
        tape.param(cast(b)),
    );
    let y = ops::conv2d(xv, wv, Some(bv), cfg).unwrap();
    let gy = Tensor::<f64>::randn(
        y.value().shape(),
        0.0,
        1.0,
        &mut ChaCha8Rng::seed_from_u64(gy_seed),
    );
    let yd: Vec<f64> = y.value().data().iter().map(|v| v.to_f64()).collect();
    let grads = tape.backward_with(y, cast(&gy)).unwrap();
    let g = |v| -> Vec<f64> {
        grads
            .wrt(v)
            .unwrap()
            .data()
            .iter()
            .map(|e| e.to_f64())
            .collect()
    };
    [yd, g(xv), g(wv), g(bv)]
}

/// Runs one convolution in f32 and in f64 and compares everything.
#[allow(clippy::too_many_arguments)]
fn compare(
    n: usize,
    cin: usize,
    cout: usize,
    k: usize,
    s: usize,
    p: usize,
    d: usize,
    (h, w): (usize, usize),
    seed: u64,
) -> Result<(), TestCaseError> {
    let span = d * (k - 1) + 1;
    prop_assume!(h + 2 * p >= span && w + 2 * p >= span);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let x = Tensor::<f64>::randn(&[n, cin, h, w], 0.0, 1.0, &mut rng);
    let wt = Tensor::<f64>::randn(&[cout, cin, k, k], 0.0, 1.0, &mut rng);
    let b = Tensor::<f64>::randn(&[cout], 0.0, 1.0, &mut rng);
    let cfg = Conv2dCfg {
        stride: [s, s],
        padding: [p, p],
        dilation: [d, d],
    };
    let fast = run::<f32>(&x, &wt, &b, seed ^ 1, cfg);
    let reference = run::<f64>(&x, &wt, &b, seed ^ 1, cfg);
    for (name, (a, r)) in ["y", "dx", "dw", "db"]
        .iter()
        .zip(fast.iter().zip(&reference))
    {
        prop_assert_eq!(a.len(), r.len());
        // each value is a sum of up to cin*k*k (or n*ho*wo) products of
        // N(0,1) numbers: scale the f32 tolerance by the largest value
        let scale = r.iter().fold(1.0f64, |m, v| m.max(v.abs()));
        for (i, (u, v)) in a.iter().zip(r).enumerate() {
            prop_assert!(
                (u - v).abs() <= 2e-5 * scale,
                "{} [{}]: f32 {} vs f64 {} (n {} cin {} cout {} k {} s {} p {} d {} h {} w {})",
                name,
                i,
                u,
                v,
                n,
                cin,
                cout,
                k,
                s,
                p,
                d,
                h,
                w
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Any configuration: the packed im2col path (and sometimes Winograd).
    #[test]
    fn f32_conv2d_matches_the_f64_reference_path(
        n in 1usize..=4,
        cin in prop_oneof![1usize..=4, 7usize..=20],
        cout in prop_oneof![1usize..=4, 7usize..=20],
        k in 1usize..=3,
        s in 1usize..=2,
        p in 0usize..=2,
        d in 1usize..=2,
        h in 1usize..=11,
        w in 1usize..=11,
        seed in any::<u64>(),
    ) {
        compare(n, cin, cout, k, s, p, d, (h, w), seed)?;
    }

    /// 3x3, stride 1, 8+ channels: the Winograd path, odd and even sizes.
    #[test]
    fn f32_winograd_conv2d_matches_the_f64_reference_path(
        n in 1usize..=3,
        cin in 8usize..=19,
        cout in 8usize..=19,
        p in 0usize..=2,
        h in 1usize..=10,
        w in 1usize..=10,
        seed in any::<u64>(),
    ) {
        compare(n, cin, cout, 3, 1, p, 1, (h, w), seed)?;
    }
}
