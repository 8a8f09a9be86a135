//! `matmul`: matrix product, 2-D or batched.
//!
//! Forward: `Y = A B` for `A: [.., m, k]`, `B: [.., k, n]`; leading (batch)
//! dims broadcast as in PyTorch, so `[b, m, k] @ [k, n]` works (a linear
//! layer over a batch of sequences). 1-D operands are not supported (PyTorch
//! promotes them; here reshape to `[1, k]` or `[k, 1]` first).
//!
//! Backward: `dL/dA = sum_to(G B^T, shape(A))`, `dL/dB = sum_to(A^T G, shape(B))`.
//! When `B` is 2-D the batch is folded into rows, so `dL/dB` is one GEMM.
//! Saves both inputs.

use autograd::gemm::MatRef;
use autograd::tensor::{broadcast_shapes, broadcast_strides};
use autograd::{
    fmt_shape, smallvec::smallvec, Backward, Element, Error, InputGrads, Result, Shape, Tensor, Var,
};
use rayon::prelude::*;

use autograd::par_gemm::par_gemm;

/// Matrix product of the last two dims, batch dims broadcast.
///
/// ```
/// use autograd::{Tape, Tensor};
/// let tape = Tape::<f32>::new();
/// let a = tape.constant(Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[2, 2])?);
/// let b = tape.constant(Tensor::from_vec(vec![5.0, 6.0, 7.0, 8.0], &[2, 2])?);
/// assert_eq!(ops::matmul(a, b)?.value().data(), &[19.0, 22.0, 43.0, 50.0]);
/// let bad = tape.constant(Tensor::zeros(&[3, 2]));
/// let e = ops::matmul(a, bad).unwrap_err().to_string();
/// assert!(e.contains("matmul: [2, 2] @ [3, 2]"), "{e}");
/// # Ok::<(), autograd::Error>(())
/// ```
#[track_caller]
pub fn matmul<'t, T: Element>(a: Var<'t, T>, b: Var<'t, T>) -> Result<Var<'t, T>> {
    let (av, bv) = (a.value(), b.value());
    let (sa, sb) = (av.shape(), bv.shape());
    if sa.len() < 2 || sb.len() < 2 {
        return Err(Error::shape(
            "matmul",
            format!("{} @ {}: both operands need at least 2 dims (reshape a vector to [1, k] or [k, 1])", fmt_shape(sa), fmt_shape(sb)),
        ));
    }
    let (m, k) = (sa[sa.len() - 2], sa[sa.len() - 1]);
    let (k2, n) = (sb[sb.len() - 2], sb[sb.len() - 1]);
    if k != k2 {
        return Err(Error::shape(
            "matmul",
            format!(
                "{} @ {}: inner dimensions differ ({k} vs {k2})",
                fmt_shape(sa),
                fmt_shape(sb)
            ),
        ));
    }
    let Some(batch) = broadcast_shapes(&sa[..sa.len() - 2], &sb[..sb.len() - 2]) else {
        return Err(Error::shape(
            "matmul",
            format!(
                "{} @ {}: batch dimensions do not broadcast",
                fmt_shape(sa),
                fmt_shape(sb)
            ),
        ));
    };
    let mut out_dims = batch.to_vec();
    out_dims.extend([m, n]);
    crate::check_size("matmul", "output", &out_dims)?;
    let y = batched(&av, false, &bv, false, &batch, m, k, n);
    a.tape().record("matmul", &[a, b], y, || MatmulBackward {
        a: av,
        b: bv,
        batch,
    })
}

/// The matrices of `t` (last two dims) as seen through an optional transpose.
fn mat<T: Element>(data: &[T], rows: usize, cols: usize, trans: bool) -> MatRef<'_, T> {
    let m = MatRef::row_major(data, rows, cols);
    if trans {
        m.t()
    } else {
        m
    }
}

/// `op(A_i) op(B_i)` for every batch index `i` of `batch`, where op is an
/// optional transpose of the stored matrices; result `[batch.., m, n]`.
#[allow(clippy::too_many_arguments)]
fn batched<T: Element>(
    a: &Tensor<T>,
    ta: bool,
    b: &Tensor<T>,
    tb: bool,
    batch: &[usize],
    m: usize,
    k: usize,
    n: usize,
) -> Tensor<T> {
    let (sa, sb) = (a.shape(), b.shape());
    let (ar, ac) = (sa[sa.len() - 2], sa[sa.len() - 1]);
    let (br, bc) = (sb[sb.len() - 2], sb[sb.len() - 1]);
    let nb: usize = batch.iter().product();
    let mut out_shape = Shape::from_slice(batch);
    out_shape.push(m);
    out_shape.push(n);
    let mut out = vec![T::ZERO; nb * m * n];
    if nb == 0 || m * n == 0 {
        return Tensor::from_shape_vec(out_shape, out);
    }
    let a_b = &sa[..sa.len() - 2];
    let b_b = &sb[..sb.len() - 2];
    // Fast path: B is one matrix shared by the whole batch and A is not
    // transposed: fold the batch into A's rows, one GEMM.
    if b_b.iter().product::<usize>() == 1 && a_b.iter().product::<usize>() == nb && !ta {
        par_gemm(
            T::ONE,
            MatRef::row_major(a.data(), nb * m, k),
            mat(b.data(), br, bc, tb),
            T::ZERO,
            &mut out,
        );
        return Tensor::from_shape_vec(out_shape, out);
    }
    let st_a = broadcast_strides(a_b, batch);
    let st_b = broadcast_strides(b_b, batch);
    let offsets: Vec<(usize, usize)> = {
        let mut v = Vec::with_capacity(nb);
        autograd::tensor::for_each_strided(batch, [&st_a, &st_b], |_, [oa, ob]| {
            v.push((oa * ar * ac, ob * br * bc))
        });
        v
    };
    let run = |(i, c): (usize, &mut [T])| {
        let (oa, ob) = offsets[i];
        let am = mat(&a.data()[oa..oa + ar * ac], ar, ac, ta);
        let bm = mat(&b.data()[ob..ob + br * bc], br, bc, tb);
        autograd::gemm::gemm(T::ONE, am, bm, T::ZERO, c, n);
    };
    if nb > 1 {
        out.par_chunks_mut(m * n).enumerate().for_each(run);
    } else {
        let am = mat(&a.data()[..ar * ac], ar, ac, ta);
        let bm = mat(&b.data()[..br * bc], br, bc, tb);
        par_gemm(T::ONE, am, bm, T::ZERO, &mut out);
    }
    Tensor::from_shape_vec(out_shape, out)
}

struct MatmulBackward<T> {
    a: Tensor<T>,
    b: Tensor<T>,
    batch: Shape,
}

impl<T: Element> Backward<T> for MatmulBackward<T> {
    fn backward(&self, g: &Tensor<T>, needs: &[bool]) -> Result<InputGrads<T>> {
        let (sa, sb) = (self.a.shape(), self.b.shape());
        let (m, k) = (sa[sa.len() - 2], sa[sa.len() - 1]);
        let n = sb[sb.len() - 1];
        let nb: usize = self.batch.iter().product();
        // dA = G B^T : [batch, m, n] @ [.., n, k]
        let ga =
            needs[0].then(|| batched(g, false, &self.b, true, &self.batch, m, n, k).sum_to(sa));
        let gb = if needs[1] {
            if sb.len() == 2 && sa[..sa.len() - 2].iter().product::<usize>() == nb {
                // B shared by the batch: dB = A2^T G2 with A2 = [nb*m, k], G2 = [nb*m, n]
                let mut out = vec![T::ZERO; k * n];
                par_gemm(
                    T::ONE,
                    MatRef::row_major(self.a.data(), nb * m, k).t(),
                    MatRef::row_major(g.data(), nb * m, n),
                    T::ZERO,
                    &mut out,
                );
                Some(Tensor::from_shape_vec(Shape::from_slice(sb), out))
            } else {
                Some(batched(&self.a, true, g, false, &self.batch, k, m, n).sum_to(sb))
            }
        } else {
            None
        };
        Ok(smallvec![ga, gb])
    }
}
