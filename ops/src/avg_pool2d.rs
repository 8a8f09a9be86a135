//! `avg_pool2d`: 2-D average pooling (PyTorch's `F.avg_pool2d` with
//! `count_include_pad=True`, its default), NCHW.
//!
//! Forward: `y[n, c, i, j] = (1 / (kh kw)) sum_{p, q} x[n, c, i*sh + p - ph, j*sw + q - pw]`
//! (padding counts as zeros in the divisor).
//!
//! Backward: every input position in a window receives `g / (kh kw)` from it;
//! overlapping windows add up.

use autograd::{smallvec::smallvec, Backward, Element, InputGrads, Result, Shape, Tensor, Var};
use rayon::prelude::*;

use autograd::conv2d::Window;
use crate::max_pool2d::{pool_window, span};
use crate::Pool2dCfg;

/// Average pooling of `x: [N, C, H, W]`.
///
/// ```
/// use autograd::{Tape, Tensor};
/// use ops::{avg_pool2d, Pool2dCfg};
/// let tape = Tape::<f32>::new();
/// let x = tape.constant(Tensor::from_vec((0..16).map(|v| v as f32).collect(), &[1, 1, 4, 4])?);
/// assert_eq!(avg_pool2d(x, Pool2dCfg::new(2))?.value().data(), &[2.5, 4.5, 10.5, 12.5]);
/// # Ok::<(), autograd::Error>(())
/// ```
#[track_caller]
pub fn avg_pool2d<T: Element>(x: Var<'_, T>, cfg: Pool2dCfg) -> Result<Var<'_, T>> {
    let xv = x.value();
    let xs = xv.shape();
    let g = pool_window("avg_pool2d", xs, &cfg)?;
    let (hw, p) = (g.h * g.w, g.ho * g.wo);
    let planes = xs[0] * xs[1];
    let inv = T::ONE / T::from_usize(g.kh * g.kw);
    let mut out = vec![T::ZERO; planes * p];
    if planes * p > 0 {
        out.par_chunks_mut(p)
            .zip(xv.data().par_chunks(hw))
            .for_each(|(yo, xp)| {
                for oh in 0..g.ho {
                    let (h0, h1) = span(oh, g.sh, g.ph, g.kh, g.h);
                    for ow in 0..g.wo {
                        let (w0, w1) = span(ow, g.sw, g.pw, g.kw, g.w);
                        let mut s = T::ZERO;
                        for ih in h0..h1 {
                            for iw in w0..w1 {
                                s += xp[ih * g.w + iw];
                            }
                        }
                        yo[oh * g.wo + ow] = s * inv;
                    }
                }
            });
    }
    let y = Tensor::from_shape_vec(Shape::from_slice(&[xs[0], xs[1], g.ho, g.wo]), out);
    let in_shape = Shape::from_slice(xs);
    x.tape()
        .record("avg_pool2d", &[x], y, || AvgPoolBackward { in_shape, g })
}

struct AvgPoolBackward {
    in_shape: Shape,
    g: Window,
}

impl<T: Element> Backward<T> for AvgPoolBackward {
    fn backward(&self, gy: &Tensor<T>, _: &[bool]) -> Result<InputGrads<T>> {
        let g = &self.g;
        let (hw, p) = (g.h * g.w, g.ho * g.wo);
        let n: usize = self.in_shape.iter().product();
        let inv = T::ONE / T::from_usize(g.kh * g.kw);
        let mut gx = vec![T::ZERO; n];
        if n > 0 && p > 0 {
            gx.par_chunks_mut(hw)
                .zip(gy.data().par_chunks(p))
                .for_each(|(gxp, gp)| {
                    for oh in 0..g.ho {
                        let (h0, h1) = span(oh, g.sh, g.ph, g.kh, g.h);
                        for ow in 0..g.wo {
                            let (w0, w1) = span(ow, g.sw, g.pw, g.kw, g.w);
                            let v = gp[oh * g.wo + ow] * inv;
                            for ih in h0..h1 {
                                for iw in w0..w1 {
                                    gxp[ih * g.w + iw] += v;
                                }
                            }
                        }
                    }
                });
        }
        Ok(smallvec![Some(Tensor::from_shape_vec(
            self.in_shape.clone(),
            gx
        ))])
    }
}
