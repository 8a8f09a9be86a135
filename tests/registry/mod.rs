//! The op registry (PyTorch's OpInfo idea): one entry per op variant, each
//! naming its op, generating sample inputs with proptest strategies over
//! shapes and hyper-parameters, and giving a gradcheck tolerance.
//!
//! `tests/gradcheck_ops.rs` runs every entry through f64 central
//! differences, and fails when an op in `ops::OP_NAMES` (or a file in
//! `ops/src/`) has no entry here. Inputs are kept away from kinks (relu at 0,
//! max ties, log/sqrt near 0) rather than loosening tolerances.

#![allow(dead_code)]

use std::fmt;
use std::sync::Arc;

use autograd::{GradcheckConfig, Result, Tape, Tensor, Var};
use ops::{BatchNormStats, Conv2dCfg, Pool2dCfg};
use proptest::prelude::*;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The function under test, over the case's inputs (all differentiated).
pub type OpFn =
    Arc<dyn for<'t> Fn(&'t Tape<f64>, &[Var<'t, f64>]) -> Result<Var<'t, f64>> + Send + Sync>;

/// One generated sample: inputs, the function, and a description.
#[derive(Clone)]
pub struct Case {
    pub desc: String,
    pub inputs: Vec<Tensor<f64>>,
    pub f: OpFn,
}

impl fmt::Debug for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shapes: Vec<String> = self
            .inputs
            .iter()
            .map(|t| autograd::fmt_shape(t.shape()))
            .collect();
        write!(f, "{} on inputs {}", self.desc, shapes.join(", "))
    }
}

/// A registry entry.
pub struct Entry {
    /// Unique id; also the name of its test function.
    pub id: &'static str,
    /// The op it checks (one of `ops::OP_NAMES`).
    pub op: &'static str,
    /// Sample inputs.
    pub cases: fn() -> BoxedStrategy<Case>,
    /// Tolerances.
    pub cfg: GradcheckConfig,
    /// Proptest cases to run.
    pub n_cases: u32,
}

fn case(
    desc: String,
    inputs: Vec<Tensor<f64>>,
    f: impl for<'t> Fn(&'t Tape<f64>, &[Var<'t, f64>]) -> Result<Var<'t, f64>> + Send + Sync + 'static,
) -> Case {
    Case {
        desc,
        inputs,
        f: Arc::new(f),
    }
}

// ---- input generators -------------------------------------------------------

fn randn(shape: &[usize], rng: &mut ChaCha8Rng) -> Tensor<f64> {
    Tensor::randn(shape, 0.0, 1.0, rng)
}

/// Values with |v| >= 0.1 (no relu kink within any finite-difference step).
fn away_from_zero(shape: &[usize], rng: &mut ChaCha8Rng) -> Tensor<f64> {
    randn(shape, rng).map(|v| if v >= 0.0 { v + 0.1 } else { v - 0.1 })
}

/// Values in [lo, hi).
fn uniform(shape: &[usize], lo: f64, hi: f64, rng: &mut ChaCha8Rng) -> Tensor<f64> {
    Tensor::rand_uniform(shape, lo, hi, rng)
}

/// All-distinct values at least 0.01 apart, shuffled: no max ties.
fn distinct(shape: &[usize], rng: &mut ChaCha8Rng) -> Tensor<f64> {
    let n: usize = shape.iter().product();
    let mut v: Vec<f64> = (0..n).map(|i| (i as f64 - n as f64 / 2.0) * 0.05).collect();
    v.shuffle(rng);
    Tensor::from_vec(v, shape).unwrap()
}

fn shape_strategy(max_rank: usize, max_dim: usize) -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(1..=max_dim, 1..=max_rank)
}

/// Two shapes that broadcast: `b` is a suffix of `a` with some dims set to 1;
/// sides are swapped at random.
fn broadcast_pair() -> impl Strategy<Value = (Vec<usize>, Vec<usize>, u64)> {
    (
        shape_strategy(3, 3),
        0usize..=3,
        prop::collection::vec(any::<bool>(), 3),
        any::<bool>(),
        any::<u64>(),
    )
        .prop_map(|(a, drop, ones, swap, seed)| {
            let drop = drop.min(a.len() - 1);
            let b: Vec<usize> = a[drop..]
                .iter()
                .zip(&ones)
                .map(|(&d, &one)| if one { 1 } else { d })
                .collect();
            if swap {
                (b, a, seed)
            } else {
                (a, b, seed)
            }
        })
}

fn binary(
    id: &'static str,
    op: for<'t> fn(Var<'t, f64>, Var<'t, f64>) -> Result<Var<'t, f64>>,
    denom_safe: bool,
) -> impl Strategy<Value = Case> {
    broadcast_pair().prop_map(move |(sa, sb, seed)| {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let a = randn(&sa, &mut rng);
        let b = if denom_safe {
            uniform(&sb, 0.5, 2.0, &mut rng)
        } else {
            randn(&sb, &mut rng)
        };
        case(
            format!("{id} {sa:?} with {sb:?}"),
            vec![a, b],
            move |_, v| op(v[0], v[1]),
        )
    })
}

fn unary(
    id: &'static str,
    gen: fn(&[usize], &mut ChaCha8Rng) -> Tensor<f64>,
    op: fn(Var<'_, f64>) -> Result<Var<'_, f64>>,
) -> impl Strategy<Value = Case> {
    (shape_strategy(4, 4), any::<u64>()).prop_map(move |(s, seed)| {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        case(
            format!("{id} {s:?}"),
            vec![gen(&s, &mut rng)],
            move |_, v| op(v[0]),
        )
    })
}

fn positive(shape: &[usize], rng: &mut ChaCha8Rng) -> Tensor<f64> {
    uniform(shape, 0.5, 2.0, rng)
}

/// Shape, an axis inside it (possibly negative), keepdim, seed.
fn axis_case() -> impl Strategy<Value = (Vec<usize>, isize, bool, u64)> {
    (
        shape_strategy(4, 4),
        any::<prop::sample::Index>(),
        any::<bool>(),
        any::<bool>(),
        any::<u64>(),
    )
        .prop_map(|(s, ix, neg, keep, seed)| {
            let a = ix.index(s.len()) as isize;
            (
                s.clone(),
                if neg { a - s.len() as isize } else { a },
                keep,
                seed,
            )
        })
}

fn conv_case(
    batch: std::ops::RangeInclusive<usize>,
    stride: std::ops::RangeInclusive<usize>,
    dilation: std::ops::RangeInclusive<usize>,
) -> impl Strategy<Value = Case> {
    (
        batch,
        1..=3usize,
        1..=3usize,
        1..=3usize,
        1..=3usize,
        stride,
        0..=2usize,
        dilation,
        0..=3usize,
        any::<bool>(),
        any::<u64>(),
    )
        .prop_map(|(n, cin, cout, kh, kw, s, p, d, extra, bias, seed)| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            // smallest input the dilated kernel fits, plus a little
            let h = (d * (kh - 1) + 1).saturating_sub(2 * p).max(1) + extra;
            let w = (d * (kw - 1) + 1).saturating_sub(2 * p).max(1) + extra.min(2);
            let cfg = Conv2dCfg {
                stride: [s, s],
                padding: [p, p],
                dilation: [d, d],
            };
            let mut inputs = vec![
                randn(&[n, cin, h, w], &mut rng),
                randn(&[cout, cin, kh, kw], &mut rng),
            ];
            if bias {
                inputs.push(randn(&[cout], &mut rng));
            }
            case(
                format!("conv2d stride {s} padding {p} dilation {d} bias {bias}"),
                inputs,
                move |_, v| ops::conv2d(v[0], v[1], v.get(2).copied(), cfg),
            )
        })
}

fn pool_case(
    max: bool,
    kernel: std::ops::RangeInclusive<usize>,
    stride: std::ops::RangeInclusive<usize>,
) -> impl Strategy<Value = Case> {
    (
        1..=2usize,
        1..=2usize,
        kernel,
        stride,
        any::<bool>(),
        0..=3usize,
        any::<u64>(),
    )
        .prop_map(move |(n, c, k, s, pad, extra, seed)| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let p = if pad { k / 2 } else { 0 };
            let h = k + extra;
            let cfg = Pool2dCfg {
                kernel: [k, k],
                stride: [s, s],
                padding: [p, p],
            };
            let x = if max {
                distinct(&[n, c, h, h + 1], &mut rng)
            } else {
                randn(&[n, c, h, h + 1], &mut rng)
            };
            let name = if max { "max_pool2d" } else { "avg_pool2d" };
            case(
                format!("{name} kernel {k} stride {s} padding {p}"),
                vec![x],
                move |_, v| {
                    if max {
                        ops::max_pool2d(v[0], cfg)
                    } else {
                        ops::avg_pool2d(v[0], cfg)
                    }
                },
            )
        })
}

fn batch_norm_case(training: bool) -> impl Strategy<Value = Case> {
    (2..=4usize, 1..=3usize, 0..=2usize, any::<u64>()).prop_map(move |(n, c, spatial, seed)| {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let shape: Vec<usize> = match spatial {
            0 => vec![n, c],
            1 => vec![n, c, 3],
            _ => vec![n, c, 2, 3],
        };
        let x = randn(&shape, &mut rng);
        let gamma = uniform(&[c], 0.5, 1.5, &mut rng);
        let beta = randn(&[c], &mut rng);
        let mut stats = BatchNormStats::<f64>::new(c);
        stats.running_mean = randn(&[c], &mut rng);
        stats.running_var = uniform(&[c], 0.5, 2.0, &mut rng);
        let mode = if training { "train" } else { "eval" };
        case(
            format!("batch_norm {mode} {shape:?}"),
            vec![x, gamma, beta],
            move |_, v| {
                let mut s = stats.clone();
                ops::batch_norm(v[0], v[1], v[2], &mut s, training)
            },
        )
    })
}

fn matmul_case() -> impl Strategy<Value = Case> {
    (
        0..4usize,
        1..=4usize,
        1..=4usize,
        1..=4usize,
        1..=3usize,
        any::<u64>(),
    )
        .prop_map(|(kind, m, k, n, b, seed)| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let (sa, sb): (Vec<usize>, Vec<usize>) = match kind {
                0 => (vec![m, k], vec![k, n]),
                1 => (vec![b, m, k], vec![b, k, n]),
                2 => (vec![b, m, k], vec![k, n]),
                _ => (vec![m, k], vec![2, b, k, n]),
            };
            let (a, bt) = (randn(&sa, &mut rng), randn(&sb, &mut rng));
            case(format!("matmul {sa:?} @ {sb:?}"), vec![a, bt], |_, v| {
                ops::matmul(v[0], v[1])
            })
        })
}

fn linear_case() -> impl Strategy<Value = Case> {
    (
        0..3usize,
        1..=4usize,
        1..=4usize,
        1..=4usize,
        any::<bool>(),
        any::<u64>(),
    )
        .prop_map(|(kind, m, fan_in, out, bias, seed)| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let xs: Vec<usize> = match kind {
                0 => vec![m, fan_in],
                1 => vec![2, m, fan_in],
                _ => vec![fan_in],
            };
            let mut inputs = vec![randn(&xs, &mut rng), randn(&[out, fan_in], &mut rng)];
            if bias {
                inputs.push(randn(&[out], &mut rng));
            }
            case(
                format!("linear x {xs:?} out {out} bias {bias}"),
                inputs,
                |_, v| ops::linear(v[0], v[1], v.get(2).copied()),
            )
        })
}

// ---- the registry -----------------------------------------------------------

fn entry(id: &'static str, op: &'static str, cases: fn() -> BoxedStrategy<Case>) -> Entry {
    Entry {
        id,
        op,
        cases,
        cfg: GradcheckConfig::default(),
        n_cases: 24,
    }
}

/// Every registered op variant.
pub fn registry() -> Vec<Entry> {
    vec![
        entry("add", "add", || binary("add", ops::add, false).boxed()),
        entry("sub", "sub", || binary("sub", ops::sub, false).boxed()),
        entry("mul", "mul", || binary("mul", ops::mul, false).boxed()),
        entry("div", "div", || binary("div", ops::div, true).boxed()),
        entry("neg", "neg", || unary("neg", randn, ops::neg).boxed()),
        entry("add_scalar", "add_scalar", || {
            (shape_strategy(3, 4), -3.0..3.0f64, any::<u64>())
                .prop_map(|(s, c, seed)| {
                    let x = randn(&s, &mut ChaCha8Rng::seed_from_u64(seed));
                    case(format!("add_scalar {c}"), vec![x], move |_, v| {
                        ops::add_scalar(v[0], c)
                    })
                })
                .boxed()
        }),
        entry("mul_scalar", "mul_scalar", || {
            (shape_strategy(3, 4), -3.0..3.0f64, any::<u64>())
                .prop_map(|(s, c, seed)| {
                    let x = randn(&s, &mut ChaCha8Rng::seed_from_u64(seed));
                    case(format!("mul_scalar {c}"), vec![x], move |_, v| {
                        ops::mul_scalar(v[0], c)
                    })
                })
                .boxed()
        }),
        entry("exp", "exp", || unary("exp", randn, ops::exp).boxed()),
        entry("log", "log", || unary("log", positive, ops::log).boxed()),
        entry("sqrt", "sqrt", || {
            unary("sqrt", positive, ops::sqrt).boxed()
        }),
        entry("pow", "pow", || {
            (shape_strategy(3, 4), -2.0..3.0f64, any::<u64>())
                .prop_map(|(s, e, seed)| {
                    let x = positive(&s, &mut ChaCha8Rng::seed_from_u64(seed));
                    case(format!("pow {e}"), vec![x], move |_, v| ops::pow(v[0], e))
                })
                .boxed()
        }),
        entry("relu", "relu", || {
            unary("relu", away_from_zero, ops::relu).boxed()
        }),
        entry("tanh", "tanh", || unary("tanh", randn, ops::tanh).boxed()),
        entry("sigmoid", "sigmoid", || {
            unary("sigmoid", randn, ops::sigmoid).boxed()
        }),
        entry("softplus", "softplus", || {
            unary("softplus", randn, ops::softplus).boxed()
        }),
        entry("gelu", "gelu", || unary("gelu", randn, ops::gelu).boxed()),
        entry("narrow", "narrow", || {
            (
                axis_case(),
                any::<prop::sample::Index>(),
                any::<prop::sample::Index>(),
            )
                .prop_map(|((s, a, _, seed), i, j)| {
                    let x = randn(&s, &mut ChaCha8Rng::seed_from_u64(seed));
                    let n = s[a.rem_euclid(s.len() as isize) as usize];
                    let start = i.index(n);
                    let len = 1 + j.index(n - start);
                    case(
                        format!("narrow axis {a} {start}+{len} of {s:?}"),
                        vec![x],
                        move |_, v| ops::narrow(v[0], a, start, len),
                    )
                })
                .boxed()
        }),
        entry("adaptive_avg_pool2d", "adaptive_avg_pool2d", || {
            (
                1..=2usize,
                1..=3usize,
                1..=7usize,
                1..=7usize,
                1..=4usize,
                1..=4usize,
                any::<u64>(),
            )
                .prop_map(|(n, c, h, w, oh, ow, seed)| {
                    let x = randn(&[n, c, h, w], &mut ChaCha8Rng::seed_from_u64(seed));
                    case(
                        format!("adaptive_avg_pool2d [{n}, {c}, {h}, {w}] -> ({oh}, {ow})"),
                        vec![x],
                        move |_, v| ops::adaptive_avg_pool2d(v[0], (oh, ow)),
                    )
                })
                .boxed()
        }),
        entry("gather", "gather", || {
            (
                axis_case(),
                prop::collection::vec(any::<prop::sample::Index>(), 64),
            )
                .prop_map(|((s, a, _, seed), picks)| {
                    let x = randn(&s, &mut ChaCha8Rng::seed_from_u64(seed));
                    let ax = a.rem_euclid(s.len() as isize) as usize;
                    // index shape: x's, with the gathered axis 1..=3 long
                    let mut is = s.clone();
                    is[ax] = 1 + picks[0].index(3);
                    let n: usize = is.iter().product();
                    let idx: Vec<usize> = (0..n).map(|p| picks[1 + p % 63].index(s[ax])).collect();
                    case(
                        format!("gather axis {a} of {s:?} by {is:?}"),
                        vec![x],
                        move |_, v| ops::gather(v[0], a, &idx, &is),
                    )
                })
                .boxed()
        }),
        entry("index_select", "index_select", || {
            (
                axis_case(),
                prop::collection::vec(any::<prop::sample::Index>(), 1..6),
            )
                .prop_map(|((s, a, _, seed), picks)| {
                    let x = randn(&s, &mut ChaCha8Rng::seed_from_u64(seed));
                    let n = s[a.rem_euclid(s.len() as isize) as usize];
                    let idx: Vec<usize> = picks.iter().map(|p| p.index(n)).collect();
                    case(
                        format!("index_select axis {a} {idx:?} of {s:?}"),
                        vec![x],
                        move |_, v| ops::index_select(v[0], a, &idx),
                    )
                })
                .boxed()
        }),
        entry("where_", "where_", || {
            (shape_strategy(3, 4), any::<u64>())
                .prop_map(|(s, seed)| {
                    let mut rng = ChaCha8Rng::seed_from_u64(seed);
                    let (a, b) = (randn(&s, &mut rng), randn(&s, &mut rng));
                    let mask: Vec<bool> = (0..a.numel()).map(|_| rng.random::<bool>()).collect();
                    case(format!("where {s:?}"), vec![a, b], move |_, v| {
                        ops::where_(&mask, v[0], v[1])
                    })
                })
                .boxed()
        }),
        entry("cat", "cat", || {
            (axis_case(), 1..=3usize, 1..=3usize)
                .prop_map(|((s, a, _, seed), n1, n2)| {
                    let mut rng = ChaCha8Rng::seed_from_u64(seed);
                    let ax = a.rem_euclid(s.len() as isize) as usize;
                    let (mut s1, mut s2) = (s.clone(), s.clone());
                    (s1[ax], s2[ax]) = (n1, n2);
                    let parts = vec![
                        randn(&s, &mut rng),
                        randn(&s1, &mut rng),
                        randn(&s2, &mut rng),
                    ];
                    case(
                        format!("cat axis {a} of {s:?}, {s1:?}, {s2:?}"),
                        parts,
                        move |_, v| ops::cat(v, a),
                    )
                })
                .boxed()
        }),
        entry("stack", "cat", || {
            (shape_strategy(3, 4), 0..=3usize, any::<u64>())
                .prop_map(|(s, a, seed)| {
                    let mut rng = ChaCha8Rng::seed_from_u64(seed);
                    let a = (a % (s.len() + 1)) as isize;
                    let parts = vec![randn(&s, &mut rng), randn(&s, &mut rng)];
                    case(
                        format!("stack axis {a} of 2 x {s:?}"),
                        parts,
                        move |_, v| ops::stack(v, a),
                    )
                })
                .boxed()
        }),
        entry("leaky_relu", "leaky_relu", || {
            (shape_strategy(4, 4), -0.5..0.5f64, any::<u64>())
                .prop_map(|(s, slope, seed)| {
                    let x = away_from_zero(&s, &mut ChaCha8Rng::seed_from_u64(seed));
                    case(
                        format!("leaky_relu slope {slope:.3}"),
                        vec![x],
                        move |_, v| ops::leaky_relu(v[0], slope),
                    )
                })
                .boxed()
        }),
        entry("elu", "elu", || {
            (shape_strategy(4, 4), 0.1..2.0f64, any::<u64>())
                .prop_map(|(s, alpha, seed)| {
                    let x = away_from_zero(&s, &mut ChaCha8Rng::seed_from_u64(seed));
                    case(format!("elu alpha {alpha:.3}"), vec![x], move |_, v| {
                        ops::elu(v[0], alpha)
                    })
                })
                .boxed()
        }),
        entry("sum_all", "sum", || {
            unary("sum_all", randn, ops::sum_all).boxed()
        }),
        entry("sum_axis", "sum", || {
            axis_case()
                .prop_map(|(s, a, keep, seed)| {
                    let x = randn(&s, &mut ChaCha8Rng::seed_from_u64(seed));
                    case(
                        format!("sum axis {a} keepdim {keep}"),
                        vec![x],
                        move |_, v| ops::sum(v[0], a, keep),
                    )
                })
                .boxed()
        }),
        entry("mean_all", "mean", || {
            unary("mean_all", randn, ops::mean_all).boxed()
        }),
        entry("mean_axis", "mean", || {
            axis_case()
                .prop_map(|(s, a, keep, seed)| {
                    let x = randn(&s, &mut ChaCha8Rng::seed_from_u64(seed));
                    case(
                        format!("mean axis {a} keepdim {keep}"),
                        vec![x],
                        move |_, v| ops::mean(v[0], a, keep),
                    )
                })
                .boxed()
        }),
        entry("max_axis", "max", || {
            axis_case()
                .prop_map(|(s, a, keep, seed)| {
                    let x = distinct(&s, &mut ChaCha8Rng::seed_from_u64(seed));
                    case(
                        format!("max axis {a} keepdim {keep}"),
                        vec![x],
                        move |_, v| ops::max(v[0], a, keep),
                    )
                })
                .boxed()
        }),
        entry("reshape", "reshape", || {
            (shape_strategy(4, 4), any::<u64>())
                .prop_map(|(s, seed)| {
                    let x = randn(&s, &mut ChaCha8Rng::seed_from_u64(seed));
                    let last = *s.last().unwrap() as isize;
                    case(
                        format!("reshape {s:?} to [-1, {last}]"),
                        vec![x],
                        move |_, v| ops::reshape(v[0], [-1, last]),
                    )
                })
                .boxed()
        }),
        entry("permute", "permute", || {
            (shape_strategy(4, 4), any::<u64>())
                .prop_map(|(s, seed)| {
                    let mut rng = ChaCha8Rng::seed_from_u64(seed);
                    let x = randn(&s, &mut rng);
                    let mut perm: Vec<usize> = (0..s.len()).collect();
                    perm.shuffle(&mut rng);
                    case(format!("permute {perm:?}"), vec![x], move |_, v| {
                        ops::permute(v[0], &perm)
                    })
                })
                .boxed()
        }),
        entry("matmul", "matmul", || matmul_case().boxed()),
        entry("linear", "linear", || linear_case().boxed()),
        entry("conv2d", "conv2d", || {
            conv_case(1..=2, 1..=3, 1..=3).boxed()
        }),
        entry("conv2d_dilated_strided", "conv2d", || {
            conv_case(1..=2, 2..=3, 2..=3).boxed()
        }),
        // more samples than one weight-gradient reduction group (8)
        Entry {
            n_cases: 6,
            ..entry("conv2d_large_batch", "conv2d", || {
                conv_case(9..=17, 1..=2, 1..=2).boxed()
            })
        },
        entry("max_pool2d", "max_pool2d", || {
            pool_case(true, 1..=3, 1..=3).boxed()
        }),
        entry("max_pool2d_overlapping", "max_pool2d", || {
            pool_case(true, 3..=3, 1..=2).boxed()
        }),
        entry("avg_pool2d", "avg_pool2d", || {
            pool_case(false, 1..=3, 1..=3).boxed()
        }),
        entry("batch_norm_train", "batch_norm", || {
            batch_norm_case(true).boxed()
        }),
        entry("batch_norm_eval", "batch_norm", || {
            batch_norm_case(false).boxed()
        }),
        entry("log_softmax", "log_softmax", || {
            axis_case()
                .prop_map(|(s, a, _, seed)| {
                    let x = randn(&s, &mut ChaCha8Rng::seed_from_u64(seed)).map(|v| 3.0 * v);
                    case(format!("log_softmax axis {a}"), vec![x], move |_, v| {
                        ops::log_softmax(v[0], a)
                    })
                })
                .boxed()
        }),
        entry("nll_loss", "nll_loss", || {
            (1..=5usize, 1..=6usize, any::<u64>())
                .prop_map(|(n, c, seed)| {
                    let mut rng = ChaCha8Rng::seed_from_u64(seed);
                    let x = randn(&[n, c], &mut rng);
                    let t: Vec<usize> = (0..n).map(|_| rng.random_range(0..c)).collect();
                    case(format!("nll_loss targets {t:?}"), vec![x], move |_, v| {
                        ops::nll_loss(v[0], &t)
                    })
                })
                .boxed()
        }),
        entry("dropout", "dropout", || {
            (shape_strategy(3, 5), 0.1..0.9f64, any::<u64>())
                .prop_map(|(s, p, seed)| {
                    let x = randn(&s, &mut ChaCha8Rng::seed_from_u64(seed));
                    // the same seed every call, so every evaluation uses one mask
                    case(format!("dropout p {p:.2}"), vec![x], move |_, v| {
                        ops::dropout(v[0], p, true, &mut ChaCha8Rng::seed_from_u64(seed ^ 0x5eed))
                    })
                })
                .boxed()
        }),
        entry("cross_entropy", "log_softmax", || {
            (1..=5usize, 2..=10usize, any::<u64>())
                .prop_map(|(n, c, seed)| {
                    let mut rng = ChaCha8Rng::seed_from_u64(seed);
                    let x = randn(&[n, c], &mut rng);
                    let t: Vec<usize> = (0..n).map(|_| rng.random_range(0..c)).collect();
                    case(
                        format!("nll_loss(log_softmax) targets {t:?}"),
                        vec![x],
                        move |_, v| ops::nll_loss(ops::log_softmax(v[0], 1)?, &t),
                    )
                })
                .boxed()
        }),
    ]
}
