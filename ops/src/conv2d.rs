//! `conv2d`: 2-D cross-correlation (PyTorch's `F.conv2d`, Torch7's
//! `SpatialConvolutionMM` / `SpatialDilatedConvolution`), NCHW, groups = 1.
//!
//! Forward, for input `x: [N, C, H, W]`, weight `w: [F, C, kh, kw]`, bias `b: [F]`:
//!
//! `y[n, f, i, j] = b[f] + sum_{c, p, q} w[f, c, p, q] * x[n, c, i*sh + p*dh - ph, j*sw + q*dw - pw]`
//!
//! (zero outside the image), with output size
//! `Ho = floor((H + 2 ph - dh (kh - 1) - 1) / sh) + 1` (same for W), as in PyTorch.
//!
//! The kernels, and the choice among them, are `autograd::conv2d`
//! (crate `kernels`): Winograd F(4x4, 3x3) or F(2x2, 3x3) for 3x3 stride-1 layers, its
//! polyphase form for dilated 3x3 ones, im2col blocks packed for our GEMM
//! for other shapes (all three where the packed GEMM has a SIMD kernel:
//! f32 with AVX2+FMA or AVX-512F), and im2col + matrixmultiply otherwise
//! (f64, as in gradient checks). Winograd rounds differently from im2col
//! (F4's largest error about 2e-5 of the output's RMS in f32, F2's 3e-6;
//! `LECTURE_GRAD_WINOGRAD=f2` keeps a process on F2); `tests/fast_paths.rs`
//! checks every f32 path and tile against f64.
//!
//! Backward, with `G = dL/dy`:
//! - `dL/db[f] = sum_{n,i,j} G[n, f, i, j]`
//! - `dL/dW = sum_n G_n @ col(x_n)^T`
//! - `dL/dx_n = col2im(W^T @ G_n)`
//!
//! The lecture's 1-D example: `I = 1 2 3 4`, `W = 1 2 3` gives `O = 14 20`,
//! `dO/dI = [[W1 W2 W3 0], [0 W1 W2 W3]]`, `dO/dW = [[I1 I2 I3], [I2 I3 I4]]`.
//!
//! The weight gradient is summed over fixed groups of samples in a fixed
//! order, so it is bit-identical whatever the thread count.

use autograd::conv2d::{self as kernel, Window};
use autograd::{
    fmt_shape, smallvec::smallvec, Backward, Element, Error, InputGrads, Result, Shape, Tensor, Var,
};
use rayon::prelude::*;

/// Stride, zero padding and dilation of a convolution, each (height, width).
///
/// ```
/// use ops::Conv2dCfg;
/// let cfg = Conv2dCfg::default().stride(2).padding(1).dilation(2);
/// assert_eq!((cfg.stride, cfg.padding, cfg.dilation), ([2, 2], [1, 1], [2, 2]));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2dCfg {
    /// Step between windows (default 1).
    pub stride: [usize; 2],
    /// Zeros added on each side (default 0).
    pub padding: [usize; 2],
    /// Spacing between kernel taps (default 1).
    pub dilation: [usize; 2],
}

impl Default for Conv2dCfg {
    fn default() -> Self {
        Conv2dCfg {
            stride: [1, 1],
            padding: [0, 0],
            dilation: [1, 1],
        }
    }
}

impl Conv2dCfg {
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
    /// Same dilation on both axes.
    pub fn dilation(mut self, d: usize) -> Self {
        self.dilation = [d, d];
        self
    }
}

/// Output length of a sliding window along one axis (PyTorch's formula), or
/// `None` when the (dilated) kernel does not fit or the arithmetic overflows.
pub fn out_len(len: usize, k: usize, s: usize, p: usize, d: usize) -> Option<usize> {
    let span = d.checked_mul(k.checked_sub(1)?)?.checked_add(1)?;
    let padded = len.checked_add(p.checked_mul(2)?)?;
    if s == 0 || padded < span {
        return None;
    }
    Some((padded - span) / s + 1)
}

/// 2-D convolution of `x: [N, C, H, W]` with `w: [F, C, kh, kw]` and an
/// optional bias `[F]`.
///
/// The lecture's Torch7 example (input 2x4x4, weight 2x2x2x2, bias {0.1, 0.2}):
/// ```
/// use autograd::{Tape, Tensor};
/// use ops::{conv2d, Conv2dCfg};
/// let tape = Tape::<f64>::new();
/// let i = tape.constant(Tensor::from_vec(vec![
///     1., -2., 2., 2., 2., 1., 3., -2., -2., 3., -3., 1., -1., 2., -4., 2.,
///     3., 0., 0., 0., -2., -2., 1., -1., 2., -1., 3., 1., 5., -2., 0., 1.], &[1, 2, 4, 4])?);
/// let w = tape.constant(Tensor::from_vec(vec![
///     1., -2., -2., 1., 1., 0., 0., 1., 3., 1., 2., 2., 0., 0., 0., 4.], &[2, 2, 2, 2])?);
/// let b = tape.constant(Tensor::from_vec(vec![0.1, 0.2], &[2])?);
/// let o = conv2d(i, w, Some(b), Conv2dCfg::default())?.value();
/// let want = [3.1, -3.9, -10.9, 4.1, -12.9, 16.1, -3.9, 0.1, 9.1,
///             -0.8, 8.2, 6.2, 5.2, 18.2, 7.2, -8.8, 2.2, -7.8];
/// assert!(o.data().iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-12));
/// # Ok::<(), autograd::Error>(())
/// ```
#[track_caller]
pub fn conv2d<'t, T: Element>(
    x: Var<'t, T>,
    w: Var<'t, T>,
    b: Option<Var<'t, T>>,
    cfg: Conv2dCfg,
) -> Result<Var<'t, T>> {
    let (xv, wv) = (x.value(), w.value());
    let bv = b.map(|b| b.value());
    let (g, n, c, f) = check(xv.shape(), wv.shape(), bv.as_ref().map(|b| b.shape()), &cfg)?;
    let y = forward(&xv, &wv, bv.as_ref(), &g, n, c, f);
    let mut inputs: smallvec::SmallVec<[Var<'t, T>; 3]> = smallvec![x, w];
    inputs.extend(b);
    x.tape().record("conv2d", &inputs, y, || Conv2dBackward {
        x: xv,
        w: wv,
        g,
        has_bias: b.is_some(),
    })
}

/// The output shape `[N, F, Ho, Wo]` of a convolution, or the error
/// `conv2d` would return for these shapes (no tensor is touched).
///
/// ```
/// use ops::{conv2d::output_shape, Conv2dCfg};
/// let s = output_shape(&[8, 3, 32, 32], &[16, 3, 3, 3], None, &Conv2dCfg::default().padding(1)).unwrap();
/// assert_eq!(s.as_slice(), &[8, 16, 32, 32]);
/// assert!(output_shape(&[8, 3, 32, 32], &[16, 3, 3, 3], None, &Conv2dCfg::default().padding(usize::MAX)).is_err());
/// ```
#[track_caller]
pub fn output_shape(
    xs: &[usize],
    ws: &[usize],
    bs: Option<&[usize]>,
    cfg: &Conv2dCfg,
) -> Result<Shape> {
    let (g, n, _, f) = check(xs, ws, bs, cfg)?;
    Ok(Shape::from_slice(&[n, f, g.ho, g.wo]))
}

#[track_caller]
fn check(
    xs: &[usize],
    ws: &[usize],
    bs: Option<&[usize]>,
    cfg: &Conv2dCfg,
) -> Result<(Window, usize, usize, usize)> {
    if xs.len() != 4 {
        return Err(Error::shape(
            "conv2d",
            format!("input {} must be 4-D [N, C, H, W]", fmt_shape(xs)),
        ));
    }
    if ws.len() != 4 {
        return Err(Error::shape(
            "conv2d",
            format!(
                "weight {} must be 4-D [out_channels, in_channels, kh, kw]",
                fmt_shape(ws)
            ),
        ));
    }
    if xs[2] == 0 || xs[3] == 0 {
        return Err(Error::shape(
            "conv2d",
            format!("input {} has an empty spatial dimension", fmt_shape(xs)),
        ));
    }
    if xs[1] != ws[1] {
        return Err(Error::shape(
            "conv2d",
            format!(
                "input {} has {} channels, weight {} expects {}",
                fmt_shape(xs),
                xs[1],
                fmt_shape(ws),
                ws[1]
            ),
        ));
    }
    if let Some(bs) = bs {
        if bs != [ws[0]] {
            return Err(Error::shape(
                "conv2d",
                format!(
                    "bias {} must be [{}] (one per output channel)",
                    fmt_shape(bs),
                    ws[0]
                ),
            ));
        }
    }
    if cfg.stride.contains(&0) || cfg.dilation.contains(&0) {
        return Err(Error::invalid(
            "conv2d",
            format!(
                "stride {:?} and dilation {:?} must be positive",
                cfg.stride, cfg.dilation
            ),
        ));
    }
    if ws[2] == 0 || ws[3] == 0 {
        return Err(Error::shape(
            "conv2d",
            format!("weight {} has an empty kernel", fmt_shape(ws)),
        ));
    }
    let ho = out_len(xs[2], ws[2], cfg.stride[0], cfg.padding[0], cfg.dilation[0]);
    let wo = out_len(xs[3], ws[3], cfg.stride[1], cfg.padding[1], cfg.dilation[1]);
    let (Some(ho), Some(wo)) = (ho, wo) else {
        return Err(Error::shape(
            "conv2d",
            format!(
                "kernel {}x{} with dilation {:?} does not fit input {} padded by {:?}",
                ws[2],
                ws[3],
                cfg.dilation,
                fmt_shape(xs),
                cfg.padding
            ),
        ));
    };
    // the output and the per-sample im2col buffer must stay within bounds
    crate::check_size("conv2d", "output", &[xs[0], ws[0], ho, wo])?;
    crate::check_size("conv2d", "im2col buffer", &[ws[1], ws[2], ws[3], ho, wo])?;
    let g = Window {
        h: xs[2],
        w: xs[3],
        kh: ws[2],
        kw: ws[3],
        sh: cfg.stride[0],
        sw: cfg.stride[1],
        ph: cfg.padding[0],
        pw: cfg.padding[1],
        dh: cfg.dilation[0],
        dw: cfg.dilation[1],
        ho,
        wo,
    };
    Ok((g, xs[0], xs[1], ws[0]))
}

fn forward<T: Element>(
    x: &Tensor<T>,
    w: &Tensor<T>,
    b: Option<&Tensor<T>>,
    g: &Window,
    n: usize,
    c: usize,
    f: usize,
) -> Tensor<T> {
    let out = kernel::forward(x.data(), w.data(), b.map(|b| b.data()), g, n, c, f);
    Tensor::from_shape_vec(Shape::from_slice(&[n, f, g.ho, g.wo]), out)
}

struct Conv2dBackward<T> {
    x: Tensor<T>,
    w: Tensor<T>,
    g: Window,
    has_bias: bool,
}

impl<T: Element> Backward<T> for Conv2dBackward<T> {
    fn backward(&self, gy: &Tensor<T>, needs: &[bool]) -> Result<InputGrads<T>> {
        let xs = self.x.shape();
        let (n, c, f) = (xs[0], xs[1], self.w.shape()[0]);
        let (gx, gw) = kernel::backward(
            self.x.data(),
            self.w.data(),
            gy.data(),
            &self.g,
            n,
            c,
            f,
            needs[0],
            needs[1],
        );
        Ok(self.grads(gx, gw, gy, needs))
    }
}

impl<T: Element> Conv2dBackward<T> {
    /// Wraps the input and weight gradients and adds the bias gradient,
    /// `dL/db[f] = sum_{n,i,j} G[n, f, i, j]`.
    fn grads(
        &self,
        gx: Vec<T>,
        gw: Option<Vec<T>>,
        gy: &Tensor<T>,
        needs: &[bool],
    ) -> InputGrads<T> {
        let xs = self.x.shape();
        let (n, f) = (xs[0], self.w.shape()[0]);
        let p = self.g.ho * self.g.wo;
        let gyd = gy.data();
        let mut grads: InputGrads<T> = smallvec![
            needs[0].then(|| Tensor::from_shape_vec(Shape::from_slice(xs), gx)),
            gw.map(|gw| Tensor::from_shape_vec(Shape::from_slice(self.w.shape()), gw))
        ];
        if self.has_bias {
            let gb = needs[2].then(|| {
                // one channel a task, samples summed in order
                let gb: Vec<T> = (0..f)
                    .into_par_iter()
                    .map(|fi| {
                        let mut acc = T::ZERO;
                        for ni in 0..n {
                            let row = &gyd[(ni * f + fi) * p..(ni * f + fi + 1) * p];
                            acc += row.iter().copied().sum::<T>();
                        }
                        acc
                    })
                    .collect();
                Tensor::from_shape_vec(Shape::from_slice(&[f]), gb)
            });
            grads.push(gb);
        }
        grads
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use autograd::Tape;

    /// The lecture's 1-D correlation: I = 1 2 3 4, W = 1 2 3 -> O = 14 20;
    /// with dL/dO = (a, b): dL/dI = (a, 2a + b, 3a + 2b, 3b), dL/dW = (a + 2b, 2a + 3b, 3a + 4b).
    #[test]
    fn lecture_1d_correlation_and_its_jacobians() {
        let tape = Tape::<f64>::new();
        let i = tape.param(Tensor::from_vec(vec![1., 2., 3., 4.], &[1, 1, 1, 4]).unwrap());
        let w = tape.param(Tensor::from_vec(vec![1., 2., 3.], &[1, 1, 1, 3]).unwrap());
        let o = conv2d(i, w, None, Conv2dCfg::default()).unwrap();
        assert_eq!(o.value().data(), &[14.0, 20.0]);
        let (a, b) = (0.5, -2.0);
        let grads = tape
            .backward_with(o, Tensor::from_vec(vec![a, b], &[1, 1, 1, 2]).unwrap())
            .unwrap();
        assert_eq!(
            grads.wrt(i).unwrap().data(),
            &[a, 2. * a + b, 3. * a + 2. * b, 3. * b]
        );
        assert_eq!(
            grads.wrt(w).unwrap().data(),
            &[a + 2. * b, 2. * a + 3. * b, 3. * a + 4. * b]
        );
    }

    #[test]
    fn output_size_matches_pytorch_formula() {
        assert_eq!(out_len(32, 3, 1, 1, 1), Some(32));
        assert_eq!(out_len(32, 3, 1, 2, 2), Some(32));
        assert_eq!(out_len(7, 3, 2, 1, 1), Some(4));
        assert_eq!(out_len(5, 3, 1, 0, 3), None);
        assert_eq!(out_len(5, 3, 0, 0, 1), None);
        assert_eq!(out_len(usize::MAX, 3, 1, usize::MAX, 1), None);
    }
}
