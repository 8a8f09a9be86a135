//! The bad-input table: each bad input a user can give, and the error it
//! must produce (naming the op or file and the problem). Nothing panics.

use autograd::{ErrorKind, Tape, Tensor};
use ops::{BatchNormStats, Conv2dCfg, Pool2dCfg, VarOps};

fn z(s: &[usize]) -> Tensor<f32> {
    Tensor::zeros(s)
}

/// (what, result, expected kind, substrings the message must contain)
type Row = (
    &'static str,
    autograd::Result<()>,
    ErrorKind,
    &'static [&'static str],
);

fn check(rows: Vec<Row>) {
    for (what, result, kind, needles) in rows {
        let e = match result {
            Ok(()) => panic!("{what}: expected an error"),
            Err(e) => e,
        };
        let msg = e.to_string();
        assert_eq!(e.kind(), kind, "{what}: {msg}");
        for n in needles {
            assert!(msg.contains(n), "{what}: message {msg:?} lacks {n:?}");
        }
    }
}

#[test]
fn wrong_shapes_for_every_op() {
    let t = Tape::<f32>::new();
    let c = |s: &[usize]| t.constant(z(s));
    let p = |s: &[usize]| t.param(z(s));
    let mut st = BatchNormStats::<f32>::new(3);
    let rows: Vec<Row> = vec![
        (
            "add",
            c(&[2, 3]).add(c(&[4])).map(drop),
            ErrorKind::Shape,
            &["add", "[2, 3]", "[4]", "broadcast"],
        ),
        (
            "sub",
            c(&[2]).sub(c(&[3])).map(drop),
            ErrorKind::Shape,
            &["sub", "broadcast"],
        ),
        (
            "mul",
            c(&[2]).mul(c(&[3])).map(drop),
            ErrorKind::Shape,
            &["mul", "broadcast"],
        ),
        (
            "div",
            c(&[2]).div(c(&[3])).map(drop),
            ErrorKind::Shape,
            &["div", "broadcast"],
        ),
        (
            "matmul inner",
            c(&[2, 3]).matmul(c(&[4, 5])).map(drop),
            ErrorKind::Shape,
            &["matmul", "[2, 3] @ [4, 5]", "3 vs 4"],
        ),
        (
            "matmul 1-d",
            c(&[3]).matmul(c(&[3, 2])).map(drop),
            ErrorKind::Shape,
            &["matmul", "at least 2 dims"],
        ),
        (
            "linear in features",
            ops::linear(c(&[2, 3]), c(&[4, 5]), None).map(drop),
            ErrorKind::Shape,
            &["linear", "[2, 3]", "5 features", "[4, 5]"],
        ),
        (
            "linear weight rank",
            ops::linear(c(&[2, 3]), c(&[3]), None).map(drop),
            ErrorKind::Shape,
            &["linear", "weight [3]", "2-D"],
        ),
        (
            "linear bias",
            ops::linear(c(&[2, 3]), c(&[4, 3]), Some(c(&[3]))).map(drop),
            ErrorKind::Shape,
            &["linear", "bias [3]", "[4]"],
        ),
        (
            "matmul batch",
            c(&[2, 2, 3]).matmul(c(&[3, 3, 4])).map(drop),
            ErrorKind::Shape,
            &["matmul", "batch dimensions"],
        ),
        (
            "sum axis",
            c(&[2, 3]).sum(2, false).map(drop),
            ErrorKind::Shape,
            &["sum", "axis 2", "[2, 3]"],
        ),
        (
            "mean axis",
            c(&[2, 3]).mean(-3, false).map(drop),
            ErrorKind::Shape,
            &["mean", "axis -3"],
        ),
        (
            "max empty axis",
            c(&[2, 0]).max(1, false).map(drop),
            ErrorKind::Shape,
            &["max", "size 0"],
        ),
        (
            "reshape",
            c(&[2, 3]).reshape([4, 2]).map(drop),
            ErrorKind::Shape,
            &["reshape", "[2, 3]", "[4, 2]"],
        ),
        (
            "permute",
            c(&[2, 3]).permute(&[0, 0]).map(drop),
            ErrorKind::Shape,
            &["permute", "not a permutation"],
        ),
        (
            "transpose",
            c(&[2, 3]).transpose(0, 5).map(drop),
            ErrorKind::Shape,
            &["transpose", "out of range"],
        ),
        (
            "log_softmax",
            c(&[2, 3]).log_softmax(3).map(drop),
            ErrorKind::Shape,
            &["log_softmax", "axis 3"],
        ),
        (
            "conv2d rank",
            ops::conv2d(c(&[3, 8, 8]), p(&[4, 3, 3, 3]), None, Conv2dCfg::default()).map(drop),
            ErrorKind::Shape,
            &["conv2d", "must be 4-D"],
        ),
        (
            "conv2d channels",
            ops::conv2d(
                c(&[1, 3, 8, 8]),
                p(&[4, 2, 3, 3]),
                None,
                Conv2dCfg::default(),
            )
            .map(drop),
            ErrorKind::Shape,
            &["conv2d", "3 channels", "expects 2"],
        ),
        (
            "conv2d bias",
            ops::conv2d(
                c(&[1, 3, 8, 8]),
                p(&[4, 3, 3, 3]),
                Some(p(&[5])),
                Conv2dCfg::default(),
            )
            .map(drop),
            ErrorKind::Shape,
            &["conv2d", "bias [5]"],
        ),
        (
            "conv2d stride 0",
            ops::conv2d(
                c(&[1, 3, 8, 8]),
                p(&[4, 3, 3, 3]),
                None,
                Conv2dCfg::default().stride(0),
            )
            .map(drop),
            ErrorKind::InvalidArgument,
            &["conv2d", "stride"],
        ),
        (
            "conv2d dilation 0",
            ops::conv2d(
                c(&[1, 3, 8, 8]),
                p(&[4, 3, 3, 3]),
                None,
                Conv2dCfg::default().dilation(0),
            )
            .map(drop),
            ErrorKind::InvalidArgument,
            &["conv2d", "dilation"],
        ),
        (
            "conv2d kernel too big",
            ops::conv2d(
                c(&[1, 3, 4, 4]),
                p(&[4, 3, 5, 5]),
                None,
                Conv2dCfg::default(),
            )
            .map(drop),
            ErrorKind::Shape,
            &["conv2d", "does not fit"],
        ),
        (
            "conv2d dilation overflow",
            ops::conv2d(
                c(&[1, 3, 4, 4]),
                p(&[4, 3, 3, 3]),
                None,
                Conv2dCfg::default().dilation(usize::MAX),
            )
            .map(drop),
            ErrorKind::Shape,
            &["conv2d", "does not fit"],
        ),
        (
            "conv2d huge padding",
            ops::conv2d(
                c(&[1, 3, 4, 4]),
                p(&[4, 3, 3, 3]),
                None,
                Conv2dCfg::default().padding(1 << 40),
            )
            .map(drop),
            ErrorKind::Shape,
            &["conv2d", "would exceed"],
        ),
        (
            "max_pool2d rank",
            ops::max_pool2d(c(&[8, 8]), Pool2dCfg::new(2)).map(drop),
            ErrorKind::Shape,
            &["max_pool2d", "4-D"],
        ),
        (
            "max_pool2d kernel 0",
            ops::max_pool2d(c(&[1, 1, 8, 8]), Pool2dCfg::new(0)).map(drop),
            ErrorKind::InvalidArgument,
            &["max_pool2d", "kernel"],
        ),
        (
            "max_pool2d padding",
            ops::max_pool2d(c(&[1, 1, 8, 8]), Pool2dCfg::new(2).padding(2)).map(drop),
            ErrorKind::InvalidArgument,
            &["max_pool2d", "padding", "half"],
        ),
        (
            "max_pool2d too small",
            ops::max_pool2d(c(&[1, 1, 2, 2]), Pool2dCfg::new(3)).map(drop),
            ErrorKind::Shape,
            &["max_pool2d", "does not fit"],
        ),
        // found by the ops fuzz target: an empty plane padded into a window
        (
            "max_pool2d empty plane",
            ops::max_pool2d(c(&[1, 1, 0, 4]), Pool2dCfg::new(2).padding(1)).map(drop),
            ErrorKind::Shape,
            &["max_pool2d", "[1, 1, 0, 4]", "empty spatial dimension"],
        ),
        (
            "avg_pool2d empty plane",
            ops::avg_pool2d(c(&[1, 1, 4, 0]), Pool2dCfg::new(2).padding(1)).map(drop),
            ErrorKind::Shape,
            &["avg_pool2d", "empty spatial dimension"],
        ),
        (
            "conv2d empty plane",
            ops::conv2d(
                c(&[1, 3, 0, 4]),
                p(&[4, 3, 1, 1]),
                None,
                Conv2dCfg::default().padding(1),
            )
            .map(drop),
            ErrorKind::Shape,
            &["conv2d", "empty spatial dimension"],
        ),
        (
            "avg_pool2d stride 0",
            ops::avg_pool2d(c(&[1, 1, 8, 8]), Pool2dCfg::new(2).stride(0)).map(drop),
            ErrorKind::InvalidArgument,
            &["avg_pool2d", "stride"],
        ),
        (
            "batch_norm rank",
            ops::batch_norm(c(&[3]), p(&[3]), p(&[3]), &mut st, true).map(drop),
            ErrorKind::Shape,
            &["batch_norm", "at least 2-D"],
        ),
        (
            "batch_norm gamma",
            ops::batch_norm(c(&[4, 3]), p(&[2]), p(&[3]), &mut st, true).map(drop),
            ErrorKind::Shape,
            &["batch_norm", "gamma [2]", "3 channels"],
        ),
        (
            "batch_norm one value",
            ops::batch_norm(c(&[1, 3]), p(&[3]), p(&[3]), &mut st, true).map(drop),
            ErrorKind::Shape,
            &["batch_norm", "more than 1 value per channel"],
        ),
        (
            "nll_loss rank",
            ops::nll_loss(c(&[4]), &[0, 0, 0, 0]).map(drop),
            ErrorKind::Shape,
            &["nll_loss", "2-D"],
        ),
        (
            "nll_loss count",
            ops::nll_loss(c(&[4, 10]), &[0, 1]).map(drop),
            ErrorKind::Shape,
            &["nll_loss", "batch 4", "2 targets"],
        ),
        (
            "nll_loss label",
            ops::nll_loss(c(&[2, 10]), &[0, 10]).map(drop),
            ErrorKind::InvalidArgument,
            &["nll_loss", "target 10", "10 classes"],
        ),
        (
            "dropout p",
            ops::dropout(
                c(&[4]),
                1.5,
                true,
                &mut <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(0),
            )
            .map(drop),
            ErrorKind::InvalidArgument,
            &["dropout", "1.5"],
        ),
        (
            "linear",
            nn::Linear::<f32>::new(
                5,
                2,
                nn::Init::Xavier,
                &mut <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(0),
            )
            .forward(&t, c(&[3, 4]))
            .map(drop),
            ErrorKind::Shape,
            &["linear", "[3, 4]", "5 features"],
        ),
        (
            "cross_entropy",
            nn::cross_entropy(c(&[2, 3, 4]), &[0, 1]).map(drop),
            ErrorKind::Shape,
            &["cross_entropy", "2-D"],
        ),
    ];
    check(rows);
}

#[test]
fn empty_batches_non_scalar_loss_and_other_tapes() {
    let t = Tape::<f32>::new();
    let other = Tape::<f32>::new();
    let w = t.param(z(&[2, 3]));
    let rows: Vec<Row> = vec![
        (
            "empty batch nll",
            ops::nll_loss(t.constant(z(&[0, 10])), &[]).map(drop),
            ErrorKind::Shape,
            &["nll_loss", "empty batch"],
        ),
        (
            "empty batch norm",
            ops::batch_norm(
                t.constant(z(&[0, 3])),
                t.param(z(&[3])),
                t.param(z(&[3])),
                &mut BatchNormStats::new(3),
                true,
            )
            .map(drop),
            ErrorKind::Shape,
            &["batch_norm", "more than 1 value"],
        ),
        (
            "empty normaliser",
            data::Normalizer::per_pixel(&z(&[0, 3, 2, 2])).map(drop),
            ErrorKind::Shape,
            &["normalize", "non-empty"],
        ),
        (
            "non-scalar loss",
            t.backward(w).map(drop),
            ErrorKind::Tape,
            &["backward", "[2, 3]", "not a scalar"],
        ),
        (
            "seed shape",
            t.backward_with(w, z(&[3, 2])).map(drop),
            ErrorKind::Tape,
            &["backward", "seed gradient has shape [3, 2]"],
        ),
        (
            "other tape",
            w.add(other.param(z(&[2, 3]))).map(drop),
            ErrorKind::Tape,
            &["add", "another tape"],
        ),
        (
            "tensor size",
            Tensor::<f32>::from_vec(vec![1.0; 5], &[2, 3]).map(drop),
            ErrorKind::Shape,
            &["from_vec", "[2, 3] needs 6 elements, got 5"],
        ),
        (
            "slice",
            z(&[4, 2]).slice_batch(3, 9).map(drop),
            ErrorKind::Shape,
            &["slice_batch", "3..9"],
        ),
    ];
    check(rows);
}

#[test]
fn nan_and_inf_inputs_are_named_by_anomaly_detection() {
    for (bad, word) in [(f32::NAN, "NaN"), (f32::INFINITY, "Inf")] {
        let t = Tape::<f32>::new();
        t.set_anomaly_detection(true);
        let x = t.constant(Tensor::from_vec(vec![1.0, bad], &[1, 2]).unwrap());
        let w = t.param(Tensor::ones(&[2, 2]));
        let e = x.matmul(w).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Anomaly);
        assert!(
            e.to_string().contains("matmul: forward produced") && e.to_string().contains(word),
            "{e}"
        );
    }
    // and in backward: log at 0 gives -inf forward; with the forward check off,
    // the backward check names the op whose gradient became Inf
    let t = Tape::<f32>::new();
    let x = t.param(Tensor::from_vec(vec![0.0, 1.0], &[2]).unwrap());
    let y = x.sqrt().unwrap().sum_all().unwrap();
    t.set_anomaly_detection(true);
    let e = t.backward(y).unwrap_err();
    assert!(e.to_string().contains("sqrt: backward produced Inf"), "{e}");
}

#[test]
fn bad_data_files_and_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let put = |name: &str, bytes: &[u8]| {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    };
    let mut rec = vec![3u8];
    rec.extend(vec![0u8; 3072]);
    let truncated = put("trunc.bin", &rec[..3000]);
    let mut oversized = rec.clone();
    oversized.extend([1, 2, 3]);
    let oversized = put("over.bin", &oversized);
    let mut badlabel = rec.clone();
    badlabel[0] = 42;
    let badlabel = put("label.bin", &badlabel);
    let magic = put("magic.idx", &[0x12, 0x34, 8, 1, 0, 0, 0, 1, 0]);
    let mlp = train::models::TwoLayer::new(
        8,
        4,
        2,
        nn::Init::Small,
        &mut <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(0),
    );
    let ck = dir.path().join("mlp.safetensors");
    nn::checkpoint::save_model(&ck, &mlp, Default::default()).unwrap();
    let mut lin = train::models::LinearSoftmax::new(
        8,
        2,
        &mut <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(0),
    );
    let rows: Vec<Row> = vec![
        (
            "truncated cifar",
            data::read_cifar10(&truncated).map(drop),
            ErrorKind::Io,
            &["trunc.bin", "truncated"],
        ),
        (
            "oversized cifar",
            data::read_cifar10(&oversized).map(drop),
            ErrorKind::Io,
            &["over.bin", "not a multiple"],
        ),
        (
            "cifar label",
            data::read_cifar10(&badlabel).map(drop),
            ErrorKind::Io,
            &["label.bin", "label 42"],
        ),
        (
            "missing file",
            data::read_cifar10(dir.path().join("none.bin")).map(drop),
            ErrorKind::Io,
            &["none.bin", "cannot read"],
        ),
        (
            "idx magic",
            data::read_idx(&magic).map(drop),
            ErrorKind::Io,
            &["magic.idx", "bad magic number"],
        ),
        (
            "dataset labels",
            data::Dataset::new(z(&[2, 1, 1, 1]), vec![0, 12], 10).map(drop),
            ErrorKind::InvalidArgument,
            &["dataset", "label 12"],
        ),
        (
            "checkpoint for another model",
            nn::checkpoint::load_model(&ck, &mut lin).map(drop),
            ErrorKind::Io,
            &[
                "mlp.safetensors",
                "does not fit",
                "missing fc.weight",
                "unexpected fc1.weight",
            ],
        ),
    ];
    check(rows);
}
