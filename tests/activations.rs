//! The activations against PyTorch 2.15 (`torch.nn.functional`, float64):
//! values and input gradients at points that include 0 (where leaky_relu
//! and elu take their left branch, as PyTorch) and the tails.
//!
//! The reference numbers come from this script (run here, 2026-11-27):
//!
//! ```text
//! import torch, torch.nn.functional as F
//! torch.set_default_dtype(torch.float64)
//! X = [-3.0, -1.0, -0.25, 0.0, 0.5, 1.0, 2.5, 8.0]
//! def run(name, f):
//!     x = torch.tensor(X, requires_grad=True)
//!     y = f(x); y.backward(torch.ones_like(y))
//!     print(f'("{name}", &{[float(v) for v in y.detach()]!r}, &{[float(v) for v in x.grad]!r}),')
//! run("gelu", F.gelu)
//! run("leaky_relu_0.1", lambda x: F.leaky_relu(x, 0.1))
//! run("elu_1.5", lambda x: F.elu(x, 1.5))
//! run("softplus", F.softplus)
//! run("softmax", lambda x: F.softmax(x, 0) * torch.arange(8.0))
//! ```

use autograd::{Tape, Tensor, Var};
use ops::VarOps;

const X: [f64; 8] = [-3.0, -1.0, -0.25, 0.0, 0.5, 1.0, 2.5, 8.0];

/// (name, y, dy/dx summed over outputs) from PyTorch, in the digits it
/// printed (softplus(0) = ln 2 among them, hence the allow).
#[allow(clippy::approx_constant)]
const TORCH: &[(&str, &[f64], &[f64])] = &[
    (
        "gelu",
        &[
            -0.00404969409489031,
            -0.15865525393145702,
            -0.10032341857926907,
            0.0,
            0.34573123063700656,
            0.841344746068543,
            2.4844758366855597,
            7.999999999999995,
        ],
        &[
            -0.01194564720418392,
            -0.08331547058768635,
            0.304626645116364,
            0.5,
            0.8674951246561629,
            1.0833154705876864,
            1.037611085908145,
            1.0000000000000397,
        ],
    ),
    (
        "leaky_relu_0.1",
        &[-0.30000000000000004, -0.1, -0.025, 0.0, 0.5, 1.0, 2.5, 8.0],
        &[0.1, 0.1, 0.1, 0.1, 1.0, 1.0, 1.0, 1.0],
    ),
    (
        "elu_1.5",
        &[
            -1.4253193974482041,
            -0.9481808382428365,
            -0.3317988253928927,
            0.0,
            0.5,
            1.0,
            2.5,
            8.0,
        ],
        &[
            0.07468060255179591,
            0.5518191617571635,
            1.1682011746071073,
            1.5,
            1.0,
            1.0,
            1.0,
            1.0,
        ],
    ),
    (
        "softplus",
        &[
            0.04858735157374206,
            0.31326168751822286,
            0.5759394198788436,
            0.6931471805599453,
            0.9740769841801067,
            1.3132616875182228,
            2.5788897342925496,
            8.000335406372896,
        ],
        &[
            0.04742587317756679,
            0.2689414213699951,
            0.4378234991142019,
            0.5,
            0.6224593312018546,
            0.7310585786300049,
            0.9241418199787564,
            0.9996646498695335,
        ],
    ),
    (
        "softmax",
        &[
            0.0,
            0.00012263858271762434,
            0.0005192517633011312,
            0.0010000986926078693,
            0.0021985119830693106,
            0.004530916837969365,
            0.024367392565605606,
            6.956255099638642,
        ],
        &[
            -0.00011599861961751636,
            -0.0007344817250347216,
            -0.0012952719424496459,
            -0.0013297958647585572,
            -0.0016428347321491765,
            -0.0018023931995454216,
            -0.004016533808586769,
            0.010937309892141053,
        ],
    ),
];

type Act = for<'t> fn(Var<'t, f64>) -> autograd::Result<Var<'t, f64>>;

#[test]
fn activations_match_pytorch_in_value_and_gradient() {
    let ours: Vec<(&str, Act)> = vec![
        ("gelu", |x| x.gelu()),
        ("leaky_relu_0.1", |x| x.leaky_relu(0.1)),
        ("elu_1.5", |x| x.elu(1.5)),
        ("softplus", |x| x.softplus()),
        ("softmax", |x| {
            let w = x
                .tape()
                .constant(Tensor::from_vec((0..8).map(f64::from).collect(), &[8])?);
            nn::softmax(x, 0)? * w
        }),
    ];
    assert_eq!(ours.len(), TORCH.len());
    for ((name, f), (tname, want, want_grad)) in ours.into_iter().zip(TORCH) {
        assert_eq!(name, *tname);
        let tape = Tape::new();
        let x = tape.param(Tensor::from_vec(X.to_vec(), &[8]).unwrap());
        let y = f(x).unwrap();
        for (i, (a, b)) in y.value().data().iter().zip(want.iter()).enumerate() {
            assert!(
                (a - b).abs() <= 2e-15 * b.abs().max(1.0),
                "{name}: y[{i}] {a} vs torch {b}"
            );
        }
        let g = tape
            .backward_with(y, Tensor::ones(&[8]))
            .unwrap()
            .wrt(x)
            .unwrap();
        for (i, (a, b)) in g.data().iter().zip(want_grad.iter()).enumerate() {
            assert!(
                (a - b).abs() <= 2e-15 * b.abs().max(1.0),
                "{name}: dy/dx[{i}] {a} vs torch {b}"
            );
        }
    }
}
