//! The losses against PyTorch 2.15 (`torch.nn.functional`, float64): value
//! and gradient with respect to the input, on inputs that include exact
//! zeros of the difference (l1 / smooth-l1 subgradient 0) and a zero logit
//! (the binary cross-entropy gradient there is sigmoid(0) - y, not -y), and
//! the same losses through the finite-difference gradient check.
//!
//! The reference numbers come from this script (run here, 2026-11-27):
//!
//! ```text
//! import torch, torch.nn.functional as F
//! torch.set_default_dtype(torch.float64)
//! X = [[0.3, -1.2, 2.5, 0.0], [1.7, -0.4, 0.0, -3.1], [0.05, 2.2, -0.7, 1.0]]
//! Y = [[0.0, -1.0, 1.0, 0.5], [2.0, 0.6, 0.0, -3.0], [0.05, 1.0, 0.3, -1.0]]
//! B = [[1.0, 0.0, 1.0, 0.5], [0.0, 1.0, 0.0, 1.0], [1.0, 1.0, 0.0, 0.0]]
//! T = [2, 0, 3]
//! def run(name, f):
//!     x = torch.tensor(X, requires_grad=True)
//!     l = f(x); l.backward()
//!     print(f'("{name}", {l.item()!r}, &{[float(v) for v in x.grad.flatten()]!r}),')
//! y = torch.tensor(Y); b = torch.tensor(B); t = torch.tensor(T)
//! run("mse", lambda x: F.mse_loss(x, y))
//! run("l1", lambda x: F.l1_loss(x, y))
//! run("smooth_l1_1", lambda x: F.smooth_l1_loss(x, y, beta=1.0))
//! run("smooth_l1_0.5", lambda x: F.smooth_l1_loss(x, y, beta=0.5))
//! run("smooth_l1_0", lambda x: F.smooth_l1_loss(x, y, beta=0.0))
//! run("bce_logits", lambda x: F.binary_cross_entropy_with_logits(x * 10, b))
//! run("ce", lambda x: F.cross_entropy(x, t))
//! run("ce_smooth", lambda x: F.cross_entropy(x, t, label_smoothing=0.2))
//! run("ce_ignore", lambda x: F.cross_entropy(x, t, ignore_index=0))
//! run("ce_ignore_smooth", lambda x: F.cross_entropy(x, t, ignore_index=0, label_smoothing=0.2))
//! print(torch.__version__)
//! ```

use autograd::{gradcheck, GradcheckConfig, Tape, Tensor, Var};
use nn::CrossEntropyOptions;

const X: [f64; 12] = [
    0.3, -1.2, 2.5, 0.0, 1.7, -0.4, 0.0, -3.1, 0.05, 2.2, -0.7, 1.0,
];
const Y: [f64; 12] = [
    0.0, -1.0, 1.0, 0.5, 2.0, 0.6, 0.0, -3.0, 0.05, 1.0, 0.3, -1.0,
];
const B: [f64; 12] = [1.0, 0.0, 1.0, 0.5, 0.0, 1.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0];
const T: [usize; 3] = [2, 0, 3];

/// (name, loss, d loss / d x) from PyTorch.
const TORCH: &[(&str, f64, &[f64])] = &[
    (
        "mse",
        0.8475,
        &[
            0.049999999999999996,
            -0.033333333333333326,
            0.25,
            -0.08333333333333333,
            -0.05,
            -0.16666666666666666,
            0.0,
            -0.01666666666666668,
            0.0,
            0.2,
            -0.16666666666666666,
            0.3333333333333333,
        ],
    ),
    (
        "l1",
        0.6749999999999999,
        &[
            0.08333333333333333,
            -0.08333333333333333,
            0.08333333333333333,
            -0.08333333333333333,
            -0.08333333333333333,
            -0.08333333333333333,
            0.0,
            -0.08333333333333333,
            0.0,
            0.08333333333333333,
            -0.08333333333333333,
            0.08333333333333333,
        ],
    ),
    (
        "smooth_l1_1",
        0.37000000000000005,
        &[
            0.024999999999999998,
            -0.016666666666666663,
            0.08333333333333333,
            -0.041666666666666664,
            -0.025,
            -0.08333333333333333,
            0.0,
            -0.00833333333333334,
            0.0,
            0.08333333333333333,
            -0.08333333333333333,
            0.08333333333333333,
        ],
    ),
    (
        "smooth_l1_0.5",
        0.49416666666666664,
        &[
            0.049999999999999996,
            -0.033333333333333326,
            0.08333333333333333,
            -0.08333333333333333,
            -0.05,
            -0.08333333333333333,
            0.0,
            -0.01666666666666668,
            0.0,
            0.08333333333333333,
            -0.08333333333333333,
            0.08333333333333333,
        ],
    ),
    (
        "smooth_l1_0",
        0.6749999999999999,
        &[
            0.08333333333333333,
            -0.08333333333333333,
            0.08333333333333333,
            -0.08333333333333333,
            -0.08333333333333333,
            -0.08333333333333333,
            0.0,
            -0.08333333333333333,
            0.0,
            0.08333333333333333,
            -0.08333333333333333,
            0.08333333333333333,
        ],
    ),
    (
        "bce_logits",
        5.327339306335855,
        &[
            -0.039521560981305534,
            5.120145501845599e-06,
            -1.1573334883034175e-11,
            0.0,
            0.8333332988338537,
            -0.8183448250315905,
            0.41666666666666663,
            -0.8333333333333047,
            -0.31461722399845454,
            -2.3245572133845371e-10,
            0.0007592093286672045,
            0.8332955017760814,
        ],
    ),
    (
        "ce",
        0.685528652635214,
        &[
            0.030333468890449647,
            0.006768311771383443,
            -0.059573367112360234,
            0.022471586450527152,
            -0.07953325442401993,
            0.031079451153559482,
            0.046365092820015504,
            0.0020887104504449727,
            0.02636518685225638,
            0.2263413957417574,
            0.01245403242577307,
            -0.2651606150197868,
        ],
    ),
    (
        "ce_smooth",
        0.9930286526352141,
        &[
            0.013666802223782979,
            -0.009898354895283224,
            -0.009573367112360247,
            0.0058049197838604865,
            -0.029533254424019936,
            0.014412784486892816,
            0.029698426153348837,
            -0.014577956216221693,
            0.009698520185589712,
            0.20967472907509074,
            -0.004212634240893596,
            -0.21516061501978687,
        ],
    ),
    (
        "ce_ignore",
        0.8919949168916268,
        &[
            0.04550020333567447,
            0.010152467657075165,
            -0.08936005066854036,
            0.03370737967579073,
            0.0,
            0.0,
            0.0,
            0.0,
            0.03954778027838457,
            0.3395120936126361,
            0.018681048638659607,
            -0.3977409225296803,
        ],
    ),
    (
        "ce_ignore_smooth",
        1.1382449168916269,
        &[
            0.02050020333567447,
            -0.014847532342924836,
            -0.014360050668540403,
            0.00870737967579073,
            0.0,
            0.0,
            0.0,
            0.0,
            0.014547780278384569,
            0.3145120936126361,
            -0.006318951361340395,
            -0.32274092252968034,
        ],
    ),
];

type Loss = for<'t> fn(Var<'t, f64>) -> autograd::Result<Var<'t, f64>>;

fn t(v: &[f64]) -> Tensor<f64> {
    Tensor::from_vec(v.to_vec(), &[3, 4]).unwrap()
}

fn losses() -> Vec<(&'static str, Loss)> {
    fn c<'t>(x: Var<'t, f64>, v: &[f64]) -> Var<'t, f64> {
        x.tape().constant(t(v))
    }
    vec![
        ("mse", |x| nn::mse_loss(x, c(x, &Y))),
        ("l1", |x| nn::l1_loss(x, c(x, &Y))),
        ("smooth_l1_1", |x| nn::smooth_l1_loss(x, c(x, &Y), 1.0)),
        ("smooth_l1_0.5", |x| nn::smooth_l1_loss(x, c(x, &Y), 0.5)),
        ("smooth_l1_0", |x| nn::smooth_l1_loss(x, c(x, &Y), 0.0)),
        ("bce_logits", |x| {
            nn::binary_cross_entropy_with_logits(ops::mul_scalar(x, 10.0)?, c(x, &B))
        }),
        ("ce", |x| {
            nn::cross_entropy_with(x, &T, CrossEntropyOptions::default())
        }),
        ("ce_smooth", |x| {
            let o = CrossEntropyOptions {
                ignore_index: None,
                label_smoothing: 0.2,
            };
            nn::cross_entropy_with(x, &T, o)
        }),
        ("ce_ignore", |x| {
            let o = CrossEntropyOptions {
                ignore_index: Some(0),
                label_smoothing: 0.0,
            };
            nn::cross_entropy_with(x, &T, o)
        }),
        ("ce_ignore_smooth", |x| {
            let o = CrossEntropyOptions {
                ignore_index: Some(0),
                label_smoothing: 0.2,
            };
            nn::cross_entropy_with(x, &T, o)
        }),
    ]
}

#[test]
fn every_loss_matches_pytorch_in_value_and_gradient() {
    let ours = losses();
    assert_eq!(ours.len(), TORCH.len());
    for ((name, f), (tname, want, want_grad)) in ours.into_iter().zip(TORCH) {
        assert_eq!(name, *tname);
        let tape = Tape::new();
        let x = tape.param(t(&X));
        let loss = f(x).unwrap();
        let got = loss.value().item().unwrap();
        assert!(
            (got - want).abs() <= 1e-14 * want.abs().max(1.0),
            "{name}: {got} vs torch {want}"
        );
        let g = tape.backward(loss).unwrap().wrt(x).unwrap();
        for (i, (a, b)) in g.data().iter().zip(want_grad.iter()).enumerate() {
            assert!((a - b).abs() <= 1e-14, "{name}: d/dx[{i}] {a} vs torch {b}");
        }
    }
}

#[test]
fn every_loss_passes_the_gradient_check_away_from_kinks() {
    // a point with no |x - y| at 0 or at beta, where finite differences hold
    let x: Vec<f64> = X
        .iter()
        .enumerate()
        .map(|(i, v)| v + 0.11 + 0.013 * i as f64)
        .collect();
    for (name, f) in losses() {
        if let Err(e) = gradcheck(name, &[t(&x)], &GradcheckConfig::default(), |_, v| f(v[0])) {
            panic!("{name}: {e}");
        }
    }
}

#[test]
fn bad_loss_inputs_are_errors_naming_the_loss() {
    let tape = Tape::<f64>::new();
    let x = tape.param(t(&X));
    let short = tape.constant(Tensor::zeros(&[4]));
    for (e, want) in [
        (
            nn::mse_loss(x, short).unwrap_err(),
            "mse_loss: input [3, 4] and target [4] differ",
        ),
        (
            nn::smooth_l1_loss(x, tape.constant(t(&Y)), -1.0).unwrap_err(),
            "smooth_l1_loss: beta -1",
        ),
        (
            nn::binary_cross_entropy_with_logits(x, tape.constant(t(&Y))).unwrap_err(),
            "binary_cross_entropy_with_logits: target -1 is not in [0, 1]",
        ),
        (
            nn::cross_entropy_with(
                x,
                &[1, 1, 1],
                CrossEntropyOptions {
                    ignore_index: Some(1),
                    label_smoothing: 0.0,
                },
            )
            .unwrap_err(),
            "every one of the 3 targets is ignore_index",
        ),
        (
            nn::cross_entropy_with(x, &[1, 7, 1], CrossEntropyOptions::default()).unwrap_err(),
            "target 7 at position 1 is out of range for 4 classes",
        ),
        (
            nn::cross_entropy_with(
                x,
                &[1, 2, 1],
                CrossEntropyOptions {
                    ignore_index: None,
                    label_smoothing: 1.5,
                },
            )
            .unwrap_err(),
            "label_smoothing 1.5 must be in [0, 1]",
        ),
    ] {
        assert!(e.to_string().contains(want), "{e}");
    }
    // an ignored target may be out of range (PyTorch's -100 is)
    let o = CrossEntropyOptions {
        ignore_index: Some(100),
        label_smoothing: 0.0,
    };
    nn::cross_entropy_with(x, &[1, 100, 1], o).unwrap();
}
