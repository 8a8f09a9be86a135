//! CPU kernels shared by several ops: parallel GEMM and (dilated) im2col/col2im.

pub mod conv_packed;
pub mod conv_path;
pub mod dilated;
pub mod im2col;
pub mod par_gemm;
pub mod winograd;

/// Runs `f` with a scratch value of type `S` kept by this thread between
/// calls, so the convolution kernels' work buffers are allocated (and
/// zero-filled by `resize`) once per thread and shape instead of once per
/// call: a fresh scratch per rayon job cost the reference ConvNet's
/// training step about 10% in page clearing and memset (perf, Zen 1).
/// Users of a scratch must not rely on its contents (every kernel here
/// overwrites what it reads). A nested call for the same type (rayon may
/// run another job on this thread inside `f`) gets a scratch of its own.
pub(crate) fn with_scratch<S: Default + 'static, R>(f: impl FnOnce(&mut S) -> R) -> R {
    use std::any::Any;
    use std::cell::RefCell;
    thread_local! {
        static POOL: RefCell<Vec<Box<dyn Any>>> = const { RefCell::new(Vec::new()) };
    }
    let taken = POOL.with(|p| {
        let mut p = p.borrow_mut();
        let at = p.iter().position(|b| b.is::<S>());
        at.map(|i| p.swap_remove(i))
    });
    let mut s: Box<S> = taken.and_then(|b| b.downcast().ok()).unwrap_or_default();
    let r = f(&mut s);
    POOL.with(|p| p.borrow_mut().push(s));
    r
}

/// `parts[0] + parts[1] + ...` element by element, always in that order (so
/// the result does not depend on the thread count), split across threads
/// by ranges of elements.
pub(crate) fn sum_in_order<T: autograd::Element>(mut parts: Vec<Vec<T>>) -> Vec<T> {
    use rayon::prelude::*;
    if parts.is_empty() {
        return Vec::new();
    }
    let mut acc = std::mem::take(&mut parts[0]);
    let rest = &parts[1..];
    if rest.is_empty() {
        return acc;
    }
    const CHUNK: usize = 1 << 14;
    acc.par_chunks_mut(CHUNK).enumerate().for_each(|(i, a)| {
        for part in rest {
            for (x, &y) in a.iter_mut().zip(&part[i * CHUNK..]) {
                *x += y;
            }
        }
    });
    acc
}

#[cfg(test)]
#[allow(clippy::too_many_arguments)]
/// Test reference: direct loops for `y = conv(x, w) + b` and, for the
/// output gradient `gy`, the gradients of `x` and `w`.
#[allow(clippy::type_complexity)]
pub(crate) fn direct_conv(
    x: &[f64],
    w: &[f64],
    b: &[f64],
    gy: &[f64],
    g: &im2col::Window,
    n: usize,
    c: usize,
    f: usize,
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let p = g.ho * g.wo;
    let mut y = vec![0.0; n * f * p];
    let mut gx = vec![0.0; x.len()];
    let mut gw = vec![0.0; w.len()];
    for ni in 0..n {
        for fi in 0..f {
            for oh in 0..g.ho {
                for ow in 0..g.wo {
                    let o = (ni * f + fi) * p + oh * g.wo + ow;
                    y[o] = b[fi];
                    for ci in 0..c {
                        for ki in 0..g.kh {
                            for kj in 0..g.kw {
                                let ih = (oh * g.sh + ki * g.dh) as isize - g.ph as isize;
                                let iw = (ow * g.sw + kj * g.dw) as isize - g.pw as isize;
                                if ih < 0 || iw < 0 || ih as usize >= g.h || iw as usize >= g.w {
                                    continue;
                                }
                                let xi = ((ni * c + ci) * g.h + ih as usize) * g.w + iw as usize;
                                let wi = ((fi * c + ci) * g.kh + ki) * g.kw + kj;
                                y[o] += w[wi] * x[xi];
                                gx[xi] += w[wi] * gy[o];
                                gw[wi] += x[xi] * gy[o];
                            }
                        }
                    }
                }
            }
        }
    }
    (y, gx, gw)
}
