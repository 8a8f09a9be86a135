//! Op construction from arbitrary shapes and hyper-parameters: stride 0,
//! padding larger than the input, dilation overflow, mismatched channels,
//! empty tensors, huge declared sizes. Shape checks run on the declared
//! (possibly huge) shapes; when everything is small enough the op also runs
//! forward and backward. Every call returns a value or an error, never panics.
#![no_main]
use autograd::{Tape, Tensor};
use libfuzzer_sys::fuzz_target;
use ops::{BatchNormStats, Conv2dCfg, Pool2dCfg};

struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn byte(&mut self) -> u8 {
        let (b, rest) = self
            .0
            .split_first()
            .map(|(b, r)| (*b, r))
            .unwrap_or((0, &[]));
        self.0 = rest;
        b
    }
    /// Mostly small values, sometimes huge ones.
    fn dim(&mut self) -> usize {
        match self.byte() {
            250 => usize::MAX,
            251 => usize::MAX / 2,
            252 => 1 << 32,
            253 => 1 << 20,
            b => (b % 6) as usize,
        }
    }
    fn shape(&mut self, max_rank: u8) -> Vec<usize> {
        let r = self.byte() % (max_rank + 1);
        (0..r).map(|_| self.dim()).collect()
    }
}

const SMALL: usize = 4096;

/// Small enough to allocate and loop over: every dim <= 64, at most 4096 elements.
fn small(s: &[usize]) -> bool {
    s.iter().all(|&d| d <= 64)
        && s.iter()
            .try_fold(1usize, |a, &d| a.checked_mul(d))
            .is_some_and(|n| n <= SMALL)
}

fn tensor(s: &[usize]) -> Tensor<f32> {
    let n: usize = s.iter().product();
    Tensor::from_vec((0..n).map(|i| (i % 7) as f32 - 3.0).collect(), s).unwrap()
}

fuzz_target!(|bytes: &[u8]| {
    let mut b = Bytes(bytes);
    let which = b.byte() % 6;
    let xs = b.shape(5);
    let ws = b.shape(5);
    let (s, p, d) = (b.dim(), b.dim(), b.dim());
    match which {
        0 => {
            let cfg = Conv2dCfg {
                stride: [s, b.dim()],
                padding: [p, b.dim()],
                dilation: [d, b.dim()],
            };
            let bias = (b.byte() % 2 == 0).then(|| vec![b.dim()]);
            // channel counts of 16+ reach the Winograd path
            let (mut xs, mut ws) = (xs, ws);
            if b.byte() % 2 == 1 {
                for d in xs.iter_mut().skip(1).take(1).chain(ws.iter_mut().take(2)) {
                    *d = d.saturating_mul(4);
                }
            }
            let shape = ops::conv2d::output_shape(&xs, &ws, bias.as_deref(), &cfg);
            if let Ok(out) = shape {
                if small(&xs)
                    && small(&ws)
                    && small(&out)
                    && small(&[
                        ws.get(1).copied().unwrap_or(0),
                        ws.get(2).copied().unwrap_or(0),
                        ws.get(3).copied().unwrap_or(0),
                        out[2],
                        out[3],
                    ])
                {
                    let tape = Tape::new();
                    let (x, w) = (tape.param(tensor(&xs)), tape.param(tensor(&ws)));
                    let bv = bias.as_ref().map(|bs| tape.param(tensor(bs)));
                    let y = ops::conv2d(x, w, bv, cfg).expect("output_shape said ok");
                    assert_eq!(y.shape().as_slice(), out.as_slice());
                    let _ = tape.backward(ops::sum_all(y).unwrap());
                }
            }
        }
        1 | 2 => {
            let cfg = Pool2dCfg {
                kernel: [s, b.dim()],
                stride: [p, b.dim()],
                padding: [d, b.dim()],
            };
            if let Ok(out) = ops::max_pool2d::output_shape(&xs, &cfg) {
                if small(&xs) && small(&out) {
                    let tape = Tape::new();
                    let x = tape.param(tensor(&xs));
                    let y = if which == 1 {
                        ops::max_pool2d(x, cfg)
                    } else {
                        ops::avg_pool2d(x, cfg)
                    }
                    .expect("output_shape said ok");
                    let _ = tape.backward(ops::sum_all(y).unwrap());
                }
            }
        }
        3 => {
            if small(&xs) && small(&ws) {
                let tape = Tape::new();
                let (x, w) = (tape.param(tensor(&xs)), tape.param(tensor(&ws)));
                if let Ok(y) = ops::matmul(x, w) {
                    let _ = tape.backward(ops::sum_all(y).unwrap());
                }
                let bias = (s % 2 == 0).then(|| tape.param(tensor(&[p.min(64)])));
                if let Ok(y) = ops::linear(x, w, bias) {
                    let _ = tape.backward(ops::sum_all(y).unwrap());
                }
                let _ = ops::add(x, w).and_then(|y| ops::mul(y, x));
            }
        }
        4 => {
            if small(&xs) && small(&ws) {
                let tape = Tape::new();
                let x = tape.param(tensor(&xs));
                let c = ws.first().copied().unwrap_or(0);
                let (g, bt) = (tape.param(tensor(&[c])), tape.param(tensor(&[c])));
                let mut stats = BatchNormStats::<f32>::new(xs.get(1).copied().unwrap_or(0));
                if let Ok(y) = ops::batch_norm(x, g, bt, &mut stats, s % 2 == 0) {
                    let _ = tape.backward(ops::sum_all(y).unwrap());
                }
            }
        }
        _ => {
            if small(&xs) {
                let tape = Tape::new();
                let x = tape.param(tensor(&xs));
                let target: Vec<isize> = ws
                    .iter()
                    .map(|&v| if v == 0 { -1 } else { v as isize })
                    .collect();
                let _ = ops::reshape(x, &target);
                let _ = ops::log_softmax(x, p as isize - 3)
                    .and_then(|y| ops::max(y, d as isize - 3, s % 2 == 0));
                let _ = ops::permute(x, &ws);
                let n = xs.first().copied().unwrap_or(0);
                let targets: Vec<usize> = (0..n).map(|i| (i * s) % 7).collect();
                let _ = ops::nll_loss(x, &targets);
            }
        }
    }
});
