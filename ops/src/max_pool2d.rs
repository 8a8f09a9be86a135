//! `max_pool2d`: 2-D max pooling (PyTorch's `F.max_pool2d`, Torch7's
//! `SpatialMaxPooling`), NCHW.
//!
//! Forward: `y[n, c, i, j] = max_{p < kh, q < kw} x[n, c, i*sh + p - ph, j*sw + q - pw]`
//! over positions inside the image (padding never wins, as PyTorch pads with
//! -inf). Output size `floor((H + 2 ph - kh) / sh) + 1`. Saves the argmax of
//! every window (first maximum in row-major window order).
//!
//! Backward: `dL/dx[n, c, a] = sum over windows whose argmax is a of g`:
//! the gradient goes only to each window's winner, and adds up where
//! overlapping windows (kernel > stride) share a winner.
//!
//! The loops are `autograd::pool` (crate `kernels`).

use autograd::conv2d::Window;
use autograd::pool;
use autograd::{
    fmt_shape, smallvec::smallvec, Backward, Element, Error, InputGrads, Result, Shape, Tensor, Var,
};

use crate::conv2d::out_len;

/// Kernel, stride and padding of a pooling window, each (height, width).
///
/// ```
/// use ops::Pool2dCfg;
/// let cfg = Pool2dCfg::new(3).stride(2).padding(1);
/// assert_eq!((cfg.kernel, cfg.stride, cfg.padding), ([3, 3], [2, 2], [1, 1]));
/// assert_eq!(Pool2dCfg::new(2).stride, [2, 2]); // stride defaults to the kernel size
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pool2dCfg {
    /// Window size.
    pub kernel: [usize; 2],
    /// Step between windows (defaults to the kernel size, as in PyTorch).
    pub stride: [usize; 2],
    /// Implicit padding on each side (at most half the kernel).
    pub padding: [usize; 2],
}

impl Pool2dCfg {
    /// A square `k x k` window with stride `k` and no padding.
    pub fn new(k: usize) -> Self {
        Pool2dCfg {
            kernel: [k, k],
            stride: [k, k],
            padding: [0, 0],
        }
    }
    /// Same stride on both axes.
    pub fn stride(mut self, s: usize) -> Self {
        self.stride = [s, s];
        self
    }
    /// Same padding on both axes.
    pub fn padding(mut self, p: usize) -> Self {
        self.padding = [p, p];
        self
    }
}

/// Checks a pooling call and returns its window geometry (shared by the pools).
#[track_caller]
pub(crate) fn pool_window(op: &'static str, xs: &[usize], cfg: &Pool2dCfg) -> Result<Window> {
    if xs.len() != 4 {
        return Err(Error::shape(
            op,
            format!("input {} must be 4-D [N, C, H, W]", fmt_shape(xs)),
        ));
    }
    if xs[2] == 0 || xs[3] == 0 {
        return Err(Error::shape(
            op,
            format!("input {} has an empty spatial dimension", fmt_shape(xs)),
        ));
    }
    if cfg.kernel.contains(&0) || cfg.stride.contains(&0) {
        return Err(Error::invalid(
            op,
            format!(
                "kernel {:?} and stride {:?} must be positive",
                cfg.kernel, cfg.stride
            ),
        ));
    }
    if cfg.padding[0] > cfg.kernel[0] / 2 || cfg.padding[1] > cfg.kernel[1] / 2 {
        return Err(Error::invalid(
            op,
            format!(
                "padding {:?} must be at most half the kernel {:?}",
                cfg.padding, cfg.kernel
            ),
        ));
    }
    let ho = out_len(xs[2], cfg.kernel[0], cfg.stride[0], cfg.padding[0], 1);
    let wo = out_len(xs[3], cfg.kernel[1], cfg.stride[1], cfg.padding[1], 1);
    let (Some(ho), Some(wo)) = (ho, wo) else {
        return Err(Error::shape(
            op,
            format!(
                "kernel {:?} does not fit input {} padded by {:?}",
                cfg.kernel,
                fmt_shape(xs),
                cfg.padding
            ),
        ));
    };
    crate::check_size(op, "output", &[xs[0], xs[1], ho, wo])?;
    Ok(Window {
        h: xs[2],
        w: xs[3],
        kh: cfg.kernel[0],
        kw: cfg.kernel[1],
        sh: cfg.stride[0],
        sw: cfg.stride[1],
        ph: cfg.padding[0],
        pw: cfg.padding[1],
        dh: 1,
        dw: 1,
        ho,
        wo,
    })
}

/// The output shape `[N, C, Ho, Wo]` of `max_pool2d` / `avg_pool2d`, or the
/// error they would return (no tensor is touched).
///
/// ```
/// use ops::{max_pool2d::output_shape, Pool2dCfg};
/// assert_eq!(output_shape(&[2, 3, 8, 8], &Pool2dCfg::new(3).stride(2).padding(1)).unwrap().as_slice(), &[2, 3, 4, 4]);
/// assert!(output_shape(&[2, 3, 8, 8], &Pool2dCfg::new(2).padding(2)).is_err());
/// // planes of more than u32::MAX values: the argmax indices would not fit
/// assert!(output_shape(&[1, 1, 1 << 16, 1 << 16], &Pool2dCfg::new(2)).is_err());
/// assert!(output_shape(&[1, 1, 1 << 16, (1 << 16) - 1], &Pool2dCfg::new(2)).is_ok());
/// ```
#[track_caller]
pub fn output_shape(xs: &[usize], cfg: &Pool2dCfg) -> Result<Shape> {
    let g = max_window(xs, cfg)?;
    Ok(Shape::from_slice(&[xs[0], xs[1], g.ho, g.wo]))
}

/// [`pool_window`] for max pooling, whose saved argmax indices are `u32`:
/// a plane of more values is an error.
fn max_window(xs: &[usize], cfg: &Pool2dCfg) -> Result<Window> {
    let g = pool_window("max_pool2d", xs, cfg)?;
    // pool_window checked the output's size, not the input plane's
    match g.h.checked_mul(g.w) {
        Some(hw) if u32::try_from(hw).is_ok() => Ok(g),
        _ => Err(Error::shape(
            "max_pool2d",
            format!(
                "input {} has planes of more than {} values (the saved argmax indices are u32)",
                fmt_shape(xs),
                u32::MAX
            ),
        )),
    }
}

/// Max pooling of `x: [N, C, H, W]`.
///
/// ```
/// use autograd::{Tape, Tensor};
/// use ops::{max_pool2d, Pool2dCfg};
/// let tape = Tape::<f32>::new();
/// let x = tape.constant(Tensor::from_vec((0..16).map(|v| v as f32).collect(), &[1, 1, 4, 4])?);
/// let y = max_pool2d(x, Pool2dCfg::new(2))?;
/// assert_eq!(y.value().data(), &[5.0, 7.0, 13.0, 15.0]);
/// # Ok::<(), autograd::Error>(())
/// ```
#[track_caller]
pub fn max_pool2d<T: Element>(x: Var<'_, T>, cfg: Pool2dCfg) -> Result<Var<'_, T>> {
    let xv = x.value();
    let xs = xv.shape();
    let g = max_window(xs, &cfg)?;
    let (hw, p) = (g.h * g.w, g.ho * g.wo);
    let (out, arg) = pool::max_forward(xv.data(), xs[0] * xs[1], &g);
    let y = Tensor::from_shape_vec(Shape::from_slice(&[xs[0], xs[1], g.ho, g.wo]), out);
    let in_shape = Shape::from_slice(xs);
    x.tape().record("max_pool2d", &[x], y, || MaxPoolBackward {
        in_shape,
        arg,
        hw,
        p,
    })
}

struct MaxPoolBackward {
    in_shape: Shape,
    arg: Vec<u32>,
    hw: usize,
    p: usize,
}

impl<T: Element> Backward<T> for MaxPoolBackward {
    fn backward(&self, g: &Tensor<T>, _: &[bool]) -> Result<InputGrads<T>> {
        let planes = self.in_shape[0] * self.in_shape[1];
        let gx = pool::max_backward(g.data(), &self.arg, planes, self.hw, self.p);
        Ok(smallvec![Some(Tensor::from_shape_vec(
            self.in_shape.clone(),
            gx
        ))])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use autograd::Tape;

    /// The lecture's Torch7 example: 2x2 pooling of a 1x4x4 input, and the
    /// gradient routed (as 1) only to each window's maximum.
    #[test]
    fn lecture_gradient_routing() {
        let n = vec![
            0.2692, 0.4190, 0.2095, 0.9163, //
            0.2778, 0.9199, 0.5555, 0.1638, //
            0.6936, 0.2328, 0.0553, 0.1798, //
            0.3611, 0.3225, 0.9032, 0.5106,
        ];
        let tape = Tape::<f64>::new();
        let x = tape.param(Tensor::from_vec(n, &[1, 1, 4, 4]).unwrap());
        let m = max_pool2d(x, Pool2dCfg::new(2)).unwrap();
        assert_eq!(m.value().data(), &[0.9199, 0.9163, 0.6936, 0.9032]);
        let g = tape.backward_with(m, Tensor::ones(&[1, 1, 2, 2])).unwrap();
        #[rustfmt::skip]
        let want = [0., 0., 0., 1.,
                    0., 1., 0., 0.,
                    1., 0., 0., 0.,
                    0., 0., 1., 0.];
        assert_eq!(g.wrt(x).unwrap().data(), &want);
    }

    /// Kernel 3, stride 1: overlapping windows share a winner, whose
    /// gradient is the number of windows it wins.
    #[test]
    fn overlapping_windows_accumulate() {
        let tape = Tape::<f64>::new();
        let mut v: Vec<f64> = (0..16).map(|i| i as f64 * 0.01).collect();
        v[5] = 10.0; // the max of every 3x3 window containing (1, 1)
        let x = tape.param(Tensor::from_vec(v, &[1, 1, 4, 4]).unwrap());
        let m = max_pool2d(x, Pool2dCfg::new(3).stride(1)).unwrap();
        assert_eq!(m.shape().as_slice(), &[1, 1, 2, 2]);
        let g = tape.backward_with(m, Tensor::ones(&[1, 1, 2, 2])).unwrap();
        let gx = g.wrt(x).unwrap();
        assert_eq!(gx.data()[5], 4.0);
        assert_eq!(gx.sum_all(), 4.0);
    }
}
