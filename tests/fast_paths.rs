//! Every conv2d path in f32 against the f64 reference path, asserting which
//! path and which micro-kernel ran.
//!
//! Gradient checks run in f64, where conv2d takes im2col + matrixmultiply.
//! In f32, on a CPU with AVX2+FMA or AVX-512F, conv2d chooses the packed
//! GEMM with our SIMD micro-kernel and, for 3x3 stride-1 kernels with 8+
//! channels each side, Winograd F(4x4,3x3) or F(2x2,3x3). This property
//! test runs the same random convolution in f64 (reference) and in f32
//! several ways: the automatic choice (asserted to be the one this CPU and
//! LECTURE_GRAD_MAX_ISA should get), the packed GEMM and Winograd with
//! each tile (forced, so they run on any CPU, with the portable
//! micro-kernel where there is no SIMD one), and compares the output and
//! every gradient. Each run asserts
//! the path it took, so no CPU compares the reference with itself. CI runs
//! this file once more with LECTURE_GRAD_MAX_ISA=portable (and avx2 where
//! the CPU has AVX-512), so every micro-kernel the CPU has is exercised.

use autograd::conv2d::{
    force_conv_path, force_winograd_tile, last_conv_path, last_winograd_tile, ConvPath, Tile,
};
use autograd::{Element, Tape, Tensor};
use ops::Conv2dCfg;
use proptest::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use autograd::cpu::Isa;

/// Whether f32 has a SIMD micro-kernel here: AVX2+FMA or AVX-512F, unless
/// LECTURE_GRAD_MAX_ISA=portable caps it (computed from the CPU's features
/// and the variable, not asked of the library under test).
fn simd_kernel_expected() -> bool {
    #[cfg(target_arch = "x86_64")]
    let detected = if std::is_x86_feature_detected!("avx512f") {
        Isa::Avx512
    } else if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
        Isa::Avx2
    } else {
        Isa::Portable
    };
    #[cfg(not(target_arch = "x86_64"))]
    let detected = Isa::Portable;
    let cap = std::env::var("LECTURE_GRAD_MAX_ISA")
        .ok()
        .and_then(|v| Isa::from_name(&v))
        .unwrap_or(Isa::Avx512);
    detected.min(cap) != Isa::Portable
}

/// Output and gradients of x, w, b for one convolution in element type T,
/// on `path` with Winograd tile `tile` (`None`: the automatic choice), and
/// the paths the forward and backward passes took.
fn run<T: Element>(
    x: &Tensor<f64>,
    w: &Tensor<f64>,
    b: &Tensor<f64>,
    gy_seed: u64,
    cfg: Conv2dCfg,
    (path, tile): (Option<ConvPath>, Option<Tile>),
) -> ([Vec<f64>; 4], Option<ConvPath>, Option<ConvPath>) {
    let _guard = path.map(force_conv_path);
    let _tile = tile.map(force_winograd_tile);
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
    let fwd = last_conv_path();
    let gy = Tensor::<f64>::randn(
        y.value().shape(),
        0.0,
        1.0,
        &mut ChaCha8Rng::seed_from_u64(gy_seed),
    );
    let yd: Vec<f64> = y.value().data().iter().map(|v| v.to_f64()).collect();
    let grads = tape.backward_with(y, cast(&gy)).unwrap();
    let bwd = last_conv_path();
    let g = |v| -> Vec<f64> {
        grads
            .wrt(v)
            .unwrap()
            .data()
            .iter()
            .map(|e| e.to_f64())
            .collect()
    };
    ([yd, g(xv), g(wv), g(bv)], fwd, bwd)
}

#[test]
fn the_micro_kernel_is_the_one_this_cpu_should_run() {
    let want = match autograd::cpu::active() {
        Isa::Avx512 => "avx512 8x32",
        Isa::Avx2 => "avx2 16x16 (6+6+4 rows)",
        Isa::Portable => "portable 16x16",
    };
    assert_eq!(
        simd_kernel_expected(),
        autograd::cpu::active() != Isa::Portable
    );
    assert_eq!(autograd::packed::micro_kernel_name::<f32>(), want);
    assert_eq!(
        autograd::packed::micro_kernel_name::<f64>(),
        "portable 16x16"
    );
    eprintln!("f32 micro-kernel: {want}");
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
    (d, dw): (usize, usize),
    (h, w): (usize, usize),
    seed: u64,
) -> Result<(), TestCaseError> {
    prop_assume!(h + 2 * p > d * (k - 1) && w + 2 * p > dw * (k - 1));
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let x = Tensor::<f64>::randn(&[n, cin, h, w], 0.0, 1.0, &mut rng);
    let wt = Tensor::<f64>::randn(&[cout, cin, k, k], 0.0, 1.0, &mut rng);
    let b = Tensor::<f64>::randn(&[cout], 0.0, 1.0, &mut rng);
    let cfg = Conv2dCfg {
        stride: [s, s],
        padding: [p, p],
        dilation: [d, dw],
    };
    let (reference, rf, rb) = run::<f64>(&x, &wt, &b, seed ^ 1, cfg, (None, None));
    prop_assert_eq!((rf, rb), (Some(ConvPath::Im2col), Some(ConvPath::Im2col)));
    // Winograd's shapes (autograd::conv2d::winograd::applicable)
    let wino = k == 3 && s == 1 && d == 1 && dw == 1 && p <= 2 && cin >= 8 && cout >= 8;
    // the dilated Winograd path's (autograd::conv2d::dilated::phases): phases
    // of at least 3 x 3 padded-input pixels
    let dilated = k == 3
        && s == 1
        && (d > 1 || dw > 1)
        && cin >= 8
        && cout >= 8
        && (h + 2 * p).div_ceil(d) >= 3
        && (w + 2 * p).div_ceil(dw) >= 3;
    let auto = match (simd_kernel_expected(), wino, dilated) {
        (false, _, _) => ConvPath::Im2col,
        (true, true, _) => ConvPath::Winograd,
        (true, _, true) => ConvPath::DilatedWinograd,
        (true, false, false) => ConvPath::Packed,
    };
    let mut runs = vec![
        (None, None, auto),
        (Some(ConvPath::Packed), None, ConvPath::Packed),
    ];
    for tile in [Tile::F2, Tile::F4] {
        if wino {
            runs.push((Some(ConvPath::Winograd), Some(tile), ConvPath::Winograd));
        }
        if dilated {
            let p = ConvPath::DilatedWinograd;
            runs.push((Some(p), Some(tile), p));
        }
    }
    if !dilated {
        // forced where it does not apply: the packed GEMM
        runs.push((Some(ConvPath::DilatedWinograd), None, ConvPath::Packed));
    }
    for (force, tile, want) in runs {
        let (fast, ff, fb) = run::<f32>(&x, &wt, &b, seed ^ 1, cfg, (force, tile));
        prop_assert_eq!((ff, fb), (Some(want), Some(want)), "forced {:?}", force);
        if tile.is_some() {
            // the backward's convolutions (by Winograd) ran with it
            prop_assert_eq!(last_winograd_tile(), tile);
        }
        compare_values(
            &fast,
            &reference,
            want,
            (n, cin, cout, k, s, p, d * 10 + dw, h, w),
        )?;
    }
    Ok(())
}

type Case = (
    usize,
    usize,
    usize,
    usize,
    usize,
    usize,
    usize,
    usize,
    usize,
);

fn compare_values(
    fast: &[Vec<f64>; 4],
    reference: &[Vec<f64>; 4],
    path: ConvPath,
    case: Case,
) -> Result<(), TestCaseError> {
    for (name, (a, r)) in ["y", "dx", "dw", "db"]
        .iter()
        .zip(fast.iter().zip(reference))
    {
        prop_assert_eq!(a.len(), r.len());
        // each value is a sum of up to cin*k*k (or n*ho*wo) products of
        // N(0,1) numbers: scale the f32 tolerance by the largest value
        let scale = r.iter().fold(1.0f64, |m, v| m.max(v.abs()));
        for (i, (u, v)) in a.iter().zip(r).enumerate() {
            prop_assert!(
                (u - v).abs() <= 2e-5 * scale,
                "{:?} {} [{}]: f32 {} vs f64 {} ((n, cin, cout, k, s, p, 10 dh + dw, h, w) = {:?})",
                path,
                name,
                i,
                u,
                v,
                case
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
        compare(n, cin, cout, k, s, p, (d, d), (h, w), seed)?;
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
        compare(n, cin, cout, 3, 1, p, (1, 1), (h, w), seed)?;
    }

    /// 3x3, stride 1, dilated (also unequal dilations, paddings that are
    /// and are not multiples of the dilation, sizes that are and are not
    /// multiples of it): the dilated Winograd path.
    #[test]
    fn f32_dilated_winograd_conv2d_matches_the_f64_reference_path(
        n in 1usize..=3,
        cin in 8usize..=12,
        cout in 8usize..=12,
        p in 0usize..=4,
        dh in 1usize..=3,
        dw in 2usize..=4,
        h in 1usize..=13,
        w in 1usize..=13,
        seed in any::<u64>(),
    ) {
        compare(n, cin, cout, 3, 1, p, (dh, dw), (h, w), seed)?;
    }
}
