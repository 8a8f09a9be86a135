//! `linear`: affine map of the last dimension (PyTorch's `F.linear`, Torch7's
//! `nn.Linear`), one op instead of `transpose` + `matmul` + `add`.
//!
//! Forward, for `x: [.., in]`, `w: [out, in]`, `b: [out]`:
//!
//! `y[.., o] = b[o] + sum_i x[.., i] * w[o, i]`, i.e. `Y = X W^T + b` with the
//! leading dimensions of `x` folded into the rows of `X` (`[rows, in]`).
//! `w` is read in place (no transposed copy); the bias is written into `Y`
//! first and the GEMM adds to it.
//!
//! Backward, with `G = dL/dY` (`[rows, out]`):
//! - `dL/dX = G W`
//! - `dL/dW = G^T X`
//! - `dL/db[o] = sum_rows G[.., o]`
//!
//! Saves `x` and `w`.

use autograd::gemm::MatRef;
use autograd::{
    fmt_shape, smallvec::smallvec, Backward, Element, Error, InputGrads, Result, Shape, Tensor, Var,
};

use autograd::par_gemm::par_gemm;

/// `x W^T + b` over the last dimension of `x`.
///
/// ```
/// use autograd::{Tape, Tensor};
/// let tape = Tape::<f64>::new();
/// let x = tape.param(Tensor::from_vec(vec![1.0, 2.0], &[1, 2])?);
/// let w = tape.param(Tensor::from_vec(vec![1.0, 0.0, 3.0, -1.0], &[2, 2])?); // [out=2, in=2]
/// let b = tape.param(Tensor::from_vec(vec![0.5, 0.0], &[2])?);
/// let y = ops::linear(x, w, Some(b))?;
/// assert_eq!(y.value().data(), &[1.5, 1.0]);
/// let g = tape.backward_with(y, Tensor::ones(&[1, 2]))?;
/// assert_eq!(g.wrt(x)?.data(), &[4.0, -1.0]); // column sums of w
/// assert_eq!(g.wrt(w)?.data(), &[1.0, 2.0, 1.0, 2.0]);
/// assert_eq!(g.wrt(b)?.data(), &[1.0, 1.0]);
/// # Ok::<(), autograd::Error>(())
/// ```
#[track_caller]
pub fn linear<'t, T: Element>(
    x: Var<'t, T>,
    w: Var<'t, T>,
    b: Option<Var<'t, T>>,
) -> Result<Var<'t, T>> {
    let (xv, wv) = (x.value(), w.value());
    let (xs, ws) = (xv.shape(), wv.shape());
    if ws.len() != 2 {
        return Err(Error::shape(
            "linear",
            format!(
                "weight {} must be 2-D [out_features, in_features]",
                fmt_shape(ws)
            ),
        ));
    }
    let (out, fan_in) = (ws[0], ws[1]);
    if xs.last() != Some(&fan_in) {
        return Err(Error::shape(
            "linear",
            format!(
                "input {} must end in {fan_in} features (weight {})",
                fmt_shape(xs),
                fmt_shape(ws)
            ),
        ));
    }
    let bv = b.map(|b| b.value());
    if let Some(bv) = &bv {
        if bv.shape() != [out] {
            return Err(Error::shape(
                "linear",
                format!(
                    "bias {} must be [{out}] (one per output feature)",
                    fmt_shape(bv.shape())
                ),
            ));
        }
    }
    let mut y_shape = Shape::from_slice(&xs[..xs.len() - 1]);
    y_shape.push(out);
    crate::check_size("linear", "output", &y_shape)?;
    let rows: usize = xs[..xs.len() - 1].iter().product();
    // the bias rows written once (not zeros, then the bias)
    let mut y = match &bv {
        Some(bv) => autograd::par_gemm::bias_rows(bv.data(), rows),
        None => vec![T::ZERO; rows * out],
    };
    if rows * out > 0 {
        par_gemm(
            T::ONE,
            MatRef::row_major(xv.data(), rows, fan_in),
            MatRef::row_major(wv.data(), out, fan_in).t(),
            if bv.is_some() { T::ONE } else { T::ZERO },
            &mut y,
        );
    }
    let y = Tensor::from_shape_vec(y_shape, y);
    let mut inputs: smallvec::SmallVec<[Var<'t, T>; 3]> = smallvec![x, w];
    inputs.extend(b);
    x.tape().record("linear", &inputs, y, || LinearBackward {
        x: xv,
        w: wv,
        has_bias: b.is_some(),
    })
}

struct LinearBackward<T> {
    x: Tensor<T>,
    w: Tensor<T>,
    has_bias: bool,
}

impl<T: Element> Backward<T> for LinearBackward<T> {
    fn backward(&self, g: &Tensor<T>, needs: &[bool]) -> Result<InputGrads<T>> {
        let (out, fan_in) = (self.w.shape()[0], self.w.shape()[1]);
        let xs = self.x.shape();
        let rows: usize = xs[..xs.len() - 1].iter().product();
        let gm = MatRef::row_major(g.data(), rows, out);
        let gx = needs[0].then(|| {
            let mut gx = vec![T::ZERO; rows * fan_in];
            if !gx.is_empty() {
                par_gemm(
                    T::ONE,
                    gm,
                    MatRef::row_major(self.w.data(), out, fan_in),
                    T::ZERO,
                    &mut gx,
                );
            }
            Tensor::from_shape_vec(Shape::from_slice(self.x.shape()), gx)
        });
        let gw = needs[1].then(|| {
            let mut gw = vec![T::ZERO; out * fan_in];
            if !gw.is_empty() {
                par_gemm(
                    T::ONE,
                    gm.t(),
                    MatRef::row_major(self.x.data(), rows, fan_in),
                    T::ZERO,
                    &mut gw,
                );
            }
            Tensor::from_shape_vec(Shape::from_slice(self.w.shape()), gw)
        });
        let mut grads: InputGrads<T> = smallvec![gx, gw];
        if self.has_bias {
            grads.push(needs[2].then(|| {
                let mut gb = vec![T::ZERO; out];
                for row in g.data().chunks_exact(out.max(1)) {
                    for (a, &v) in gb.iter_mut().zip(row) {
                        *a += v;
                    }
                }
                Tensor::from_shape_vec(Shape::from_slice(&[out]), gb)
            }));
        }
        Ok(grads)
    }
}
