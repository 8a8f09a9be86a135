//! One input of the `kernels` fuzz target (see fuzz_targets/kernels.rs),
//! shared with the test suite's corpus replay (tests/fuzz_corpus.rs).
#![allow(dead_code)]

use std::panic::{catch_unwind, AssertUnwindSafe};

use autograd::conv2d::Window;
use autograd::conv2d::{force_conv_path, ConvPath};
use autograd::gemm::{gemm, MatRef};
use autograd::packed::{gemm_packed, par_gemm_packed, PackedA, PackedB};

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
    /// A small size, 0..=max.
    fn small(&mut self, max: usize) -> usize {
        self.byte() as usize % (max + 1)
    }
    /// A stride or leading dimension: mostly small, sometimes one whose
    /// products overflow.
    fn stride(&mut self) -> usize {
        match self.byte() {
            240 => usize::MAX,
            241 => usize::MAX / 2,
            242 => usize::MAX / 2 + 1,
            243 => 1 << 63,
            244 => usize::MAX / 3 + 1,
            245 => (1 << 60) + 1,
            246 => isize::MAX as usize,
            b => (b % 40) as usize,
        }
    }
    /// A slice length near `want`: sometimes short, sometimes long.
    fn len_near(&mut self, want: usize) -> usize {
        match self.byte() % 4 {
            0 => want.saturating_sub(self.small(3)),
            1 => want + self.small(5),
            _ => want,
        }
    }
}

fn vals(n: usize) -> Vec<f32> {
    (0..n).map(|i| ((i * 7) % 11) as f32 - 5.0).collect()
}

thread_local! {
    /// Set while a call whose documented panics are expected runs, so a
    /// panic hook can stay silent for those and only those.
    pub static EXPECTING_PANIC: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f`, which may panic as documented (arguments that do not fit):
/// the panic is caught. A memory error is not a panic and is not caught.
fn quietly(f: impl FnOnce()) {
    EXPECTING_PANIC.set(true);
    let _ = catch_unwind(AssertUnwindSafe(f));
    EXPECTING_PANIC.set(false);
}

/// Installs a panic hook that is silent for the expected panics of
/// [`quietly`] calls and prints every other one as the default hook does.
pub fn install_quiet_hook() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !EXPECTING_PANIC.get() {
            default(info);
        }
    }));
}

/// Runs one fuzz input.
pub fn run(bytes: &[u8]) {
    let mut b = Bytes(bytes);
    match b.byte() % 5 {
        0 => {
            // strided GEMM on matrixmultiply
            let (m, k, n) = (b.small(20), b.small(20), b.small(20));
            let (rsa, csa, rsb, csb, ldc) =
                (b.stride(), b.stride(), b.stride(), b.stride(), b.stride());
            let (la, lb) = (b.small(400), b.small(400));
            let lc = b.len_near(m * n.max(1));
            let (a, bb) = (vals(la), vals(lb));
            let mut c = vals(lc);
            quietly(|| {
                let av = MatRef {
                    data: &a,
                    rows: m,
                    cols: k,
                    rs: rsa,
                    cs: csa,
                };
                let bv = MatRef {
                    data: &bb,
                    rows: k,
                    cols: n,
                    rs: rsb,
                    cs: csb,
                };
                gemm(1.0, av, bv, 0.5, &mut c, ldc);
            });
        }
        1 | 2 => {
            // packed GEMM, serial or parallel, with packing from strided views
            let (m, k, n) = (b.small(40), b.small(40), b.small(40));
            let (rsa, csa) = if b.byte() % 2 == 0 { (k, 1) } else { (1, m) };
            let a = vals(m * k);
            let bb = vals(k * n);
            let ldc = b.stride();
            let lc = b.len_near(m.saturating_sub(1).saturating_mul(ldc.min(64)) + n);
            let mut c = vals(lc);
            let acc = b.byte() % 2 == 0;
            let par = b.byte() % 2 == 0;
            quietly(|| {
                let pa = PackedA::pack(MatRef {
                    data: &a,
                    rows: m,
                    cols: k,
                    rs: rsa,
                    cs: csa,
                });
                let pb = PackedB::pack(MatRef::row_major(&bb, k, n));
                if par {
                    par_gemm_packed(&pa, &pb, &mut c, ldc, acc);
                } else {
                    gemm_packed(&pa, &pb, &mut c, ldc, acc);
                }
            });
            // a k that disagrees between the two, and fills past k
            let k2 = b.small(40);
            let (k0, kk) = (b.stride(), b.small(10));
            quietly(|| {
                let mut pa = PackedA::<f32>::zeros(m, k);
                let src = vals(m * kk);
                pa.fill(k0, MatRef::row_major(&src, m, kk));
                let pb = PackedB::<f32>::zeros(k2, n);
                gemm_packed(&pa, &pb, &mut c, ldc, false);
            });
        }
        3 => {
            // the packed / Winograd convolution kernels, called directly with
            // slices of arbitrary lengths
            let (n, c, f) = (b.small(3), b.small(12), b.small(12));
            let (h, w) = (b.small(9), b.small(9));
            let (k, s, p, d) = (1 + b.small(3), 1 + b.small(2), b.small(3), 1 + b.small(2));
            let Some(g) = Window::square(h, w, k, s, p, d) else {
                return;
            };
            let (ho, wo) = (g.ho, g.wo);
            let x = vals(b.len_near(n * c * h * w));
            let wt = vals(b.len_near(f * c * k * k));
            let bias = vals(b.len_near(f));
            let gy = vals(b.len_near(n * f * ho * wo));
            let wino = autograd::conv2d::winograd::applicable(&g, c, f) && b.byte() % 2 == 0;
            let mut out = vals(b.len_near(n * f * ho * wo));
            quietly(|| {
                autograd::conv2d::conv_packed::forward(
                    &x,
                    &wt,
                    Some(&bias),
                    &g,
                    n,
                    c,
                    f,
                    &mut out,
                    wino,
                )
            });
            let mut gx = vals(b.len_near(n * c * h * w));
            let need_w = b.byte() % 2 == 0;
            quietly(|| {
                let _ = autograd::conv2d::conv_packed::backward(
                    &x, &wt, &gy, &g, n, c, f, &mut gx, need_w, wino,
                );
            });
        }
        _ => {
            // the op on every path: never a panic, an error or a value
            let (n, c, f) = (b.small(3), b.small(12), b.small(12));
            let (h, w, k) = (b.small(9), b.small(9), b.small(4));
            let cfg = ops::Conv2dCfg {
                stride: [b.small(3), b.small(3)],
                padding: [b.small(3), b.small(3)],
                dilation: [b.small(3), b.small(3)],
            };
            let path = [ConvPath::Im2col, ConvPath::Packed, ConvPath::Winograd][b.small(2)];
            let _g = force_conv_path(path);
            let tape = autograd::Tape::<f32>::new();
            let x =
                tape.param(autograd::Tensor::from_vec(vals(n * c * h * w), &[n, c, h, w]).unwrap());
            let wt =
                tape.param(autograd::Tensor::from_vec(vals(f * c * k * k), &[f, c, k, k]).unwrap());
            if let Ok(y) = ops::conv2d(x, wt, None, cfg) {
                if let Ok(l) = ops::sum_all(y) {
                    let _ = tape.backward(l);
                }
            }
        }
    }
}
