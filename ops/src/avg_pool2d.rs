//! `avg_pool2d`: 2-D average pooling (PyTorch's `F.avg_pool2d` with
//! `count_include_pad=True`, its default), NCHW.
//!
//! Forward: `y[n, c, i, j] = (1 / (kh kw)) sum_{p, q} x[n, c, i*sh + p - ph, j*sw + q - pw]`
//! (padding counts as zeros in the divisor).
//!
//! Backward: every input position in a window receives `g / (kh kw)` from it;
//! overlapping windows add up.

use autograd::conv2d::Window;
use autograd::pool;
use autograd::{smallvec::smallvec, Backward, Element, InputGrads, Result, Shape, Tensor, Var};

use crate::max_pool2d::pool_window;
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
    let out = pool::avg_forward(xv.data(), xs[0] * xs[1], &g);
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
        let planes = self.in_shape[0] * self.in_shape[1];
        let gx = pool::avg_backward(gy.data(), planes, &self.g);
        Ok(smallvec![Some(Tensor::from_shape_vec(
            self.in_shape.clone(),
            gx
        ))])
    }
}
