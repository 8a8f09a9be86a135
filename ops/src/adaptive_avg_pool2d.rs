//! `adaptive_avg_pool2d`: average pooling to a given output size
//! (PyTorch's `F.adaptive_avg_pool2d`); global average pooling is output
//! size (1, 1).
//!
//! Forward, for `x: [N, C, H, W]` and output `[N, C, OH, OW]`: output row
//! `i` averages input rows `floor(i H / OH) .. ceil((i + 1) H / OH)` (the
//! same for columns), so the bins cover the input and may overlap.
//! Backward: each output's gradient is spread evenly over its bin,
//! `dL/dx[.., h, w] += g[.., i, j] / (bin area)`.

use autograd::{
    fmt_shape, smallvec::smallvec, Backward, Element, Error, InputGrads, Result, Shape, Tensor, Var,
};

/// `[start, end)` of output cell `i` of `out` over an axis of `len`.
fn bin(i: usize, len: usize, out: usize) -> (usize, usize) {
    ((i * len) / out, ((i + 1) * len).div_ceil(out))
}

/// `x: [N, C, H, W]` averaged over bins to `[N, C, oh, ow]`.
///
/// ```
/// use autograd::{Tape, Tensor};
/// let tape = Tape::<f32>::new();
/// let x = tape.constant(Tensor::from_vec((0..6).map(|v| v as f32).collect(), &[1, 1, 2, 3])?);
/// // global average pooling
/// assert_eq!(ops::adaptive_avg_pool2d(x, (1, 1))?.value().data(), &[2.5]);
/// // 3 columns into 2 overlapping bins: [0, 2) and [1, 3)
/// assert_eq!(ops::adaptive_avg_pool2d(x, (1, 2))?.value().data(), &[2.0, 3.0]);
/// # Ok::<(), autograd::Error>(())
/// ```
#[track_caller]
pub fn adaptive_avg_pool2d<T: Element>(x: Var<'_, T>, out: (usize, usize)) -> Result<Var<'_, T>> {
    let xv = x.value();
    let s = xv.shape();
    let (oh, ow) = out;
    if s.len() != 4 || oh == 0 || ow == 0 || s[2] == 0 || s[3] == 0 {
        return Err(Error::shape(
            "adaptive_avg_pool2d",
            format!(
                "input {} must be [N, C, H, W] with H, W > 0, output size ({oh}, {ow}) > 0",
                fmt_shape(s)
            ),
        ));
    }
    let (n, c, h, w) = (s[0], s[1], s[2], s[3]);
    crate::check_size("adaptive_avg_pool2d", "output", &[n, c, oh, ow])?;
    let d = xv.data();
    let mut y = Vec::with_capacity(n * c * oh * ow);
    for plane in 0..n * c {
        let p = &d[plane * h * w..(plane + 1) * h * w];
        for i in 0..oh {
            let (h0, h1) = bin(i, h, oh);
            for j in 0..ow {
                let (w0, w1) = bin(j, w, ow);
                let mut acc = T::ZERO;
                for r in h0..h1 {
                    for &v in &p[r * w + w0..r * w + w1] {
                        acc += v;
                    }
                }
                y.push(acc / T::from_usize((h1 - h0) * (w1 - w0)));
            }
        }
    }
    let y = Tensor::from_shape_vec(Shape::from_slice(&[n, c, oh, ow]), y);
    let xs = Shape::from_slice(s);
    x.tape()
        .record("adaptive_avg_pool2d", &[x], y, || AdaptiveAvgBackward {
            shape: xs,
            out,
        })
}

struct AdaptiveAvgBackward {
    shape: Shape,
    out: (usize, usize),
}

impl<T: Element> Backward<T> for AdaptiveAvgBackward {
    fn backward(&self, g: &Tensor<T>, _: &[bool]) -> Result<InputGrads<T>> {
        let (n, c, h, w) = (self.shape[0], self.shape[1], self.shape[2], self.shape[3]);
        let (oh, ow) = self.out;
        let mut dx = vec![T::ZERO; n * c * h * w];
        for plane in 0..n * c {
            let gp = &g.data()[plane * oh * ow..(plane + 1) * oh * ow];
            let dp = &mut dx[plane * h * w..(plane + 1) * h * w];
            for i in 0..oh {
                let (h0, h1) = bin(i, h, oh);
                for j in 0..ow {
                    let (w0, w1) = bin(j, w, ow);
                    let share = gp[i * ow + j] / T::from_usize((h1 - h0) * (w1 - w0));
                    for r in h0..h1 {
                        for v in &mut dp[r * w + w0..r * w + w1] {
                            *v += share;
                        }
                    }
                }
            }
        }
        Ok(smallvec![Some(Tensor::from_shape_vec(
            self.shape.clone(),
            dx
        ))])
    }
}
