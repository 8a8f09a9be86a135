//! LayerNorm, Embedding, adaptive average pooling, grouped and transposed
//! convolution, and gather against PyTorch 2.15 (float64).
//!
//! The LayerNorm reference numbers come from this script (run here, 2026-11-27):
//!
//! ```text
//! import torch
//! torch.set_default_dtype(torch.float64)
//! X = [0.3, -1.2, 2.5, 0.0, 1.7, -0.4, 0.0, -3.1, 0.05, 2.2, -0.7, 1.0]
//! W = [1.5, -0.5, 2.0, 0.25]
//! B = [0.1, 0.0, -0.3, 1.0]
//! C = [1.0, 2.0, -1.0, 0.5, 3.0, -2.0, 1.0, 1.0, -1.5, 0.5, 2.0, -0.5]
//! x = torch.tensor(X).reshape(3, 4).requires_grad_()
//! ln = torch.nn.LayerNorm(4)
//! with torch.no_grad():
//!     ln.weight.copy_(torch.tensor(W)); ln.bias.copy_(torch.tensor(B))
//! y = ln(x)
//! (y * torch.tensor(C).reshape(3, 4)).sum().backward()
//! print("const Y: [f64; 12] =", [float(v) for v in y.detach().flatten()], ";")
//! print("const DX: [f64; 12] =", [float(v) for v in x.grad.flatten()], ";")
//! print("const DW: [f64; 4] =", [float(v) for v in ln.weight.grad], ";")
//! print("const DB: [f64; 4] =", [float(v) for v in ln.bias.grad], ";")
//! ```

use autograd::{gradcheck, GradcheckConfig, Tape, Tensor};
use nn::{Embedding, LayerNorm, Module};
use rand::SeedableRng;

const X: [f64; 12] = [
    0.3, -1.2, 2.5, 0.0, 1.7, -0.4, 0.0, -3.1, 0.05, 2.2, -0.7, 1.0,
];
const W: [f64; 4] = [1.5, -0.5, 2.0, 0.25];
const B: [f64; 4] = [0.1, 0.0, -0.3, 1.0];
const C: [f64; 12] = [
    1.0, 2.0, -1.0, 0.5, 3.0, -2.0, 1.0, 1.0, -1.5, 0.5, 2.0, -0.5,
];
const Y: [f64; 12] = [
    -0.012271863798195011,
    0.5987832735903733,
    2.84361218634946,
    0.9251520908012033,
    1.973698920063181,
    -0.014524797829947136,
    0.222892721878097,
    0.6150928575064007,
    -0.7123832265160827,
    -0.7201978958475909,
    -2.765957595382151,
    1.0835429559183205,
];
const DX: [f64; 12] = [
    1.350656369035116,
    -0.9608207132002581,
    -0.6232774029334285,
    0.23344174709857057,
    0.43862792489457325,
    -0.5691023338015063,
    -0.18348974203152935,
    0.3139641509384623,
    -2.904702646525817,
    0.818728408495764,
    2.201162691771742,
    -0.11518845374169018,
];
const DW: [f64; 4] = [
    4.484933157443647,
    -1.7330343898336906,
    -3.776317327617832,
    -1.8564103002086312,
];
const DB: [f64; 4] = [2.5, 0.5, 2.0, 1.0];

fn close(a: &[f64], b: &[f64], what: &str) {
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() <= 1e-14 * y.abs().max(1.0),
            "{what}[{i}]: {x} vs torch {y}"
        );
    }
}

#[test]
fn layer_norm_matches_pytorch_in_value_and_all_three_gradients() {
    let mut ln = LayerNorm::<f64>::new(4);
    ln.weight = Tensor::from_vec(W.to_vec(), &[4]).unwrap();
    ln.bias = Tensor::from_vec(B.to_vec(), &[4]).unwrap();
    let tape = Tape::new();
    let x = tape.grad_input(Tensor::from_vec(X.to_vec(), &[3, 4]).unwrap());
    let y = ln.forward(&tape, x).unwrap();
    close(y.value().data(), &Y, "y");
    let c = tape.constant(Tensor::from_vec(C.to_vec(), &[3, 4]).unwrap());
    let loss = ops::sum_all((y * c).unwrap()).unwrap();
    let g = tape.backward(loss).unwrap();
    close(g.wrt(x).unwrap().data(), &DX, "dx");
    close(g.of(&ln.weight).unwrap().data(), &DW, "dweight");
    close(g.of(&ln.bias).unwrap().data(), &DB, "dbias");
    assert_eq!(ln.param_names()[0].0, "weight");
}

#[test]
fn layer_norm_passes_the_gradient_check_and_refuses_a_wrong_size() {
    let ln = LayerNorm::<f64>::new(4);
    let x = Tensor::from_vec(X.to_vec(), &[3, 4]).unwrap();
    gradcheck("layer_norm", &[x], &GradcheckConfig::default(), |t, v| {
        ln.forward(t, v[0])
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let tape = Tape::new();
    let e = ln
        .forward(&tape, tape.constant(Tensor::zeros(&[2, 5])))
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("layer_norm: input [2, 5] must end in the normalised size 4"),
        "{e}"
    );
}

#[test]
fn embedding_rows_and_repeated_ids_sum_their_gradients() {
    let emb = Embedding::<f64>::new(5, 3, &mut rand_chacha::ChaCha8Rng::seed_from_u64(0));
    let tape = Tape::new();
    let v = emb.forward(&tape, &[4, 1, 4]).unwrap();
    let w = emb.weight.data();
    assert_eq!(&v.value().data()[..3], &w[12..15]);
    assert_eq!(&v.value().data()[3..6], &w[3..6]);
    let g = tape.backward_with(v, Tensor::ones(&[3, 3])).unwrap();
    let gw = g.of(&emb.weight).unwrap();
    assert_eq!(
        gw.data(),
        &[0., 0., 0., 1., 1., 1., 0., 0., 0., 0., 0., 0., 2., 2., 2.]
    );
    let e = emb.forward(&tape, &[5]).unwrap_err().to_string();
    assert!(e.contains("index 5 at position 0 is out of range"), "{e}");
}

// The adaptive-pooling reference, from this script (run here, 2026-11-27):
// import torch, torch.nn.functional as F
// torch.set_default_dtype(torch.float64)
// x = (torch.arange(70.0) * 0.37 % 3.1 - 1.2).reshape(1, 2, 5, 7).requires_grad_()
// y = F.adaptive_avg_pool2d(x, (3, 2))
// (y * torch.arange(1.0, 13.0).reshape(1, 2, 3, 2)).sum().backward()
// print("const AAP_Y: [f64; 12] =", [float(v) for v in y.detach().flatten()], ";")
// print("const AAP_DX: [f64; 70] =", [float(v) for v in x.grad.flatten()], ";")
const AAP_Y: [f64; 12] = [
    -0.125,
    0.2099999999999999,
    0.6599999999999997,
    -0.03833333333333355,
    0.6699999999999998,
    0.6174999999999995,
    -0.35000000000000053,
    0.7599999999999995,
    0.17666666666666586,
    -0.005000000000000855,
    0.832499999999999,
    0.004999999999999116,
];
const AAP_DX: [f64; 70] = [
    0.125,
    0.125,
    0.125,
    0.375,
    0.25,
    0.25,
    0.25,
    0.375,
    0.375,
    0.375,
    0.9583333333333333,
    0.5833333333333333,
    0.5833333333333333,
    0.5833333333333333,
    0.25,
    0.25,
    0.25,
    0.5833333333333333,
    0.3333333333333333,
    0.3333333333333333,
    0.3333333333333333,
    0.875,
    0.875,
    0.875,
    1.9583333333333333,
    1.0833333333333333,
    1.0833333333333333,
    1.0833333333333333,
    0.625,
    0.625,
    0.625,
    1.375,
    0.75,
    0.75,
    0.75,
    0.875,
    0.875,
    0.875,
    1.875,
    1.0,
    1.0,
    1.0,
    1.625,
    1.625,
    1.625,
    3.4583333333333335,
    1.8333333333333335,
    1.8333333333333335,
    1.8333333333333335,
    0.75,
    0.75,
    0.75,
    1.5833333333333335,
    0.8333333333333334,
    0.8333333333333334,
    0.8333333333333334,
    2.125,
    2.125,
    2.125,
    4.458333333333334,
    2.3333333333333335,
    2.3333333333333335,
    2.3333333333333335,
    1.375,
    1.375,
    1.375,
    2.875,
    1.5,
    1.5,
    1.5,
];

#[test]
fn adaptive_avg_pool_matches_pytorch_on_overlapping_bins() {
    let x: Vec<f64> = (0..70).map(|i| (i as f64 * 0.37) % 3.1 - 1.2).collect();
    let tape = Tape::new();
    let xv = tape.grad_input(Tensor::from_vec(x, &[1, 2, 5, 7]).unwrap());
    let y = ops::adaptive_avg_pool2d(xv, (3, 2)).unwrap();
    close(y.value().data(), &AAP_Y, "y");
    let w =
        tape.constant(Tensor::from_vec((1..=12).map(f64::from).collect(), &[1, 2, 3, 2]).unwrap());
    let g = tape
        .backward(ops::sum_all((y * w).unwrap()).unwrap())
        .unwrap();
    close(g.wrt(xv).unwrap().data(), &AAP_DX, "dx");
}

// The grouped-convolution reference (weighted sums of y and of each
// gradient, so every element counts), from this script (run here, 2026-11-27):
// import torch, torch.nn.functional as F
// torch.set_default_dtype(torch.float64)
// x = (torch.arange(96.0) * 0.53 % 2.3 - 1.1).reshape(2, 4, 3, 4).requires_grad_()
// w = (torch.arange(72.0) * 0.41 % 1.7 - 0.8).reshape(6, 2, 3, 2).requires_grad_()
// b = torch.tensor([0.1, -0.2, 0.3, 0.0, 0.5, -0.4], requires_grad=True)
// y = F.conv2d(x, w, b, stride=1, padding=1, groups=2)
// c = torch.arange(y.numel(), dtype=torch.float64).reshape(y.shape) % 7 - 2.5
// (y * c).sum().backward()
// print("const G_Y_SUM: f64 =", float(y.sum()), ";")
// print("const G_Y_W: f64 =", float((y * torch.arange(y.numel(), dtype=torch.float64).reshape(y.shape)).sum()), ";")
// print("const G_DX_SUM: f64 =", float((x.grad * torch.arange(96.0).reshape(x.shape)).sum()), ";")
// print("const G_DW_SUM: f64 =", float((w.grad * torch.arange(72.0).reshape(w.shape)).sum()), ";")
// print("const G_DB: [f64; 6] =", [float(v) for v in b.grad], ";")
// print("// y shape", list(y.shape))
const G_Y_SUM: f64 = 20.920400000000154;
const G_Y_W: f64 = 1780.2498000000214;
const G_DX_SUM: f64 = 1905.8399999999824;
const G_DW_SUM: f64 = 7861.7200000000885;
const G_DB: [f64; 6] = [15.0, 10.0, 12.0, 14.0, 16.0, 18.0];
// y shape [2, 6, 3, 5]

#[test]
fn grouped_conv_matches_pytorch_and_depthwise_passes_the_gradient_check() {
    let ar = |n: usize, k: f64, m: f64, off: f64| -> Vec<f64> {
        (0..n).map(|i| (i as f64 * k) % m - off).collect()
    };
    let tape = Tape::new();
    let x = tape.grad_input(Tensor::from_vec(ar(96, 0.53, 2.3, 1.1), &[2, 4, 3, 4]).unwrap());
    let w = tape.grad_input(Tensor::from_vec(ar(72, 0.41, 1.7, 0.8), &[6, 2, 3, 2]).unwrap());
    let b = tape.grad_input(Tensor::from_vec(vec![0.1, -0.2, 0.3, 0.0, 0.5, -0.4], &[6]).unwrap());
    let cfg = ops::Conv2dCfg::default().padding(1);
    let y = nn::conv2d_grouped(x, w, Some(b), cfg, 2).unwrap();
    assert_eq!(y.shape().as_slice(), &[2, 6, 3, 5]);
    let weighted = |t: &Tensor<f64>| {
        t.data()
            .iter()
            .enumerate()
            .map(|(i, v)| v * i as f64)
            .sum::<f64>()
    };
    let yv = y.value();
    assert!((yv.sum_all() - G_Y_SUM).abs() < 1e-11, "{}", yv.sum_all());
    assert!((weighted(&yv) - G_Y_W).abs() < 1e-9, "{}", weighted(&yv));
    let c: Vec<f64> = (0..180).map(|i| (i % 7) as f64 - 2.5).collect();
    let cv = tape.constant(Tensor::from_vec(c, &[2, 6, 3, 5]).unwrap());
    let g = tape
        .backward(ops::sum_all((y * cv).unwrap()).unwrap())
        .unwrap();
    assert!((weighted(&g.wrt(x).unwrap()) - G_DX_SUM).abs() < 1e-9);
    assert!((weighted(&g.wrt(w).unwrap()) - G_DW_SUM).abs() < 1e-9);
    close(g.wrt(b).unwrap().data(), &G_DB, "db");

    // depthwise (groups = channels), through the finite-difference check
    let xs = Tensor::from_vec(ar(2 * 3 * 4 * 4, 0.37, 1.9, 0.9), &[2, 3, 4, 4]).unwrap();
    let ws = Tensor::from_vec(ar(3 * 9, 0.29, 1.3, 0.6), &[3, 1, 3, 3]).unwrap();
    gradcheck(
        "depthwise conv2d",
        &[xs, ws],
        &GradcheckConfig::default(),
        |_, v| nn::conv2d_grouped(v[0], v[1], None, ops::Conv2dCfg::default().padding(1), 3),
    )
    .unwrap_or_else(|e| panic!("{e}"));
}

// The transposed-convolution reference: (stride, padding, output shape, and
// index-weighted sums of y, dx, dw, and db), from this script (run here,
// 2026-11-27):
// import torch, torch.nn.functional as F
// torch.set_default_dtype(torch.float64)
// x = (torch.arange(2 * 3 * 3 * 4.0) * 0.53 % 2.3 - 1.1).reshape(2, 3, 3, 4).requires_grad_()
// w = (torch.arange(3 * 2 * 3 * 2.0) * 0.41 % 1.7 - 0.8).reshape(3, 2, 3, 2).requires_grad_()
// b = torch.tensor([0.1, -0.2], requires_grad=True)
// for (s, p) in [(2, 1), (1, 0), (3, 2)]:
//     x.grad = None; w.grad = None; b.grad = None
//     y = F.conv_transpose2d(x, w, b, stride=s, padding=p)
//     c = torch.arange(y.numel(), dtype=torch.float64).reshape(y.shape) % 7 - 2.5
//     (y * c).sum().backward()
//     wsum = lambda t: float((t * torch.arange(t.numel(), dtype=torch.float64).reshape(t.shape)).sum())
//     print(f"({s}, {p}, &{list(y.shape)!r}, {wsum(y)!r}, {wsum(x.grad)!r}, {wsum(w.grad)!r}, &{[float(v) for v in b.grad]!r}),")
#[allow(clippy::type_complexity)]
const CONV_T: &[(usize, usize, &[usize], f64, f64, f64, &[f64])] = &[
    (
        2,
        1,
        &[2, 2, 5, 6],
        -160.72279999999546,
        173.29999999999717,
        -187.29999999998768,
        &[28.0, 29.0],
    ),
    (
        1,
        0,
        &[2, 2, 5, 5],
        -230.2031999999947,
        886.1299999999943,
        550.5900000000178,
        &[17.0, 28.0],
    ),
    (
        3,
        2,
        &[2, 2, 5, 7],
        -828.6503999999993,
        -157.3400000000014,
        -782.7199999999935,
        &[35.0, 35.0],
    ),
];

#[test]
fn conv_transpose_matches_pytorch_for_strides_paddings_and_a_crop() {
    let ar = |n: usize, k: f64, m: f64, off: f64| -> Vec<f64> {
        (0..n).map(|i| (i as f64 * k) % m - off).collect()
    };
    let weighted = |t: &Tensor<f64>| {
        t.data()
            .iter()
            .enumerate()
            .map(|(i, v)| v * i as f64)
            .sum::<f64>()
    };
    for &(s, p, shape, y_w, dx_w, dw_w, db) in CONV_T {
        let tape = Tape::new();
        let x = tape.grad_input(Tensor::from_vec(ar(72, 0.53, 2.3, 1.1), &[2, 3, 3, 4]).unwrap());
        let w = tape.grad_input(Tensor::from_vec(ar(36, 0.41, 1.7, 0.8), &[3, 2, 3, 2]).unwrap());
        let b = tape.grad_input(Tensor::from_vec(vec![0.1, -0.2], &[2]).unwrap());
        let y = nn::conv_transpose2d(x, w, Some(b), s, p).unwrap();
        assert_eq!(y.shape().as_slice(), shape, "stride {s} padding {p}");
        let yv = y.value();
        assert!(
            (weighted(&yv) - y_w).abs() < 1e-9,
            "stride {s} padding {p}: {}",
            weighted(&yv)
        );
        let n = yv.numel();
        let c: Vec<f64> = (0..n).map(|i| (i % 7) as f64 - 2.5).collect();
        let cv = tape.constant(Tensor::from_vec(c, shape).unwrap());
        let g = tape
            .backward(ops::sum_all((y * cv).unwrap()).unwrap())
            .unwrap();
        assert!((weighted(&g.wrt(x).unwrap()) - dx_w).abs() < 1e-9);
        assert!((weighted(&g.wrt(w).unwrap()) - dw_w).abs() < 1e-9);
        close(g.wrt(b).unwrap().data(), db, "db");
    }
    let tape = Tape::<f64>::new();
    let x = tape.constant(Tensor::zeros(&[1, 3, 2, 2]));
    let w = tape.constant(Tensor::zeros(&[2, 2, 3, 3]));
    let e = nn::conv_transpose2d(x, w, None, 1, 0)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("conv_transpose2d: input [1, 3, 2, 2] and weight [2, 2, 3, 3]"),
        "{e}"
    );
}

// The gather reference (an index smaller than x outside the axis, with a
// repeat), from this script (run here, 2026-11-27):
// import torch
// torch.set_default_dtype(torch.float64)
// x = (torch.arange(24.0) * 0.7 % 2.9 - 1.0).reshape(2, 3, 4).requires_grad_()
// idx = torch.tensor([[[2, 0, 1], [2, 2, 0]]])  # shape [1, 2, 3], axis 1
// y = torch.gather(x, 1, idx)
// (y * torch.arange(1.0, 7.0).reshape(1, 2, 3)).sum().backward()
// print("const GA_Y: [f64; 6] =", [float(v) for v in y.detach().flatten()], ";")
// print("const GA_DX: [f64; 24] =", [float(v) for v in x.grad.flatten()], ";")
const GA_Y: [f64; 6] = [
    1.6999999999999997,
    -0.30000000000000004,
    0.2999999999999994,
    1.6999999999999997,
    -0.5,
    0.3999999999999999,
];
const GA_DX: [f64; 24] = [
    0.0, 2.0, 6.0, 0.0, 0.0, 0.0, 3.0, 0.0, 5.0, 5.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
    0.0, 0.0, 0.0, 0.0, 0.0,
];

#[test]
fn gather_matches_pytorch_with_a_smaller_index_and_repeats() {
    let x: Vec<f64> = (0..24).map(|i| (i as f64 * 0.7) % 2.9 - 1.0).collect();
    let tape = Tape::new();
    let xv = tape.grad_input(Tensor::from_vec(x, &[2, 3, 4]).unwrap());
    let y = ops::gather(xv, 1, &[2, 0, 1, 2, 2, 0], &[1, 2, 3]).unwrap();
    close(y.value().data(), &GA_Y, "y");
    let w = tape.constant(Tensor::from_vec((1..=6).map(f64::from).collect(), &[1, 2, 3]).unwrap());
    let g = tape
        .backward(ops::sum_all((y * w).unwrap()).unwrap())
        .unwrap();
    close(g.wrt(xv).unwrap().data(), &GA_DX, "dx");
    let e = ops::gather(xv, 1, &[3], &[1, 1, 1])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("gather: index 3 at position 0 is out of range for axis 1 of [2, 3, 4]"),
        "{e}"
    );
    let e = ops::gather(xv, 1, &[0; 5], &[3, 1, 1])
        .unwrap_err()
        .to_string();
    assert!(e.contains("must have x's rank and fit x [2, 3, 4]"), "{e}");
}
