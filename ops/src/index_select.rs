//! `index_select`: the entries `index[0], index[1], ...` of `x` along `axis`
//! (PyTorch's `torch.index_select`; an embedding lookup is
//! `index_select(weight, 0, ids)`).
//!
//! Forward: `y[o, i, k] = x[o, index[i], k]`, viewing `x` as
//! `[outer, shape[axis], inner]`.
//! Backward: `dL/dx[o, j, k] = sum over i with index[i] == j of g[o, i, k]`
//! (a scatter-add: an index used twice gets both gradients).

use autograd::{
    fmt_shape, smallvec::smallvec, Backward, Element, Error, InputGrads, Result, Shape, Tensor, Var,
};

/// `x`'s slices `index[..]` along `axis`, in that order (repeats allowed).
///
/// ```
/// use autograd::{Tape, Tensor};
/// let tape = Tape::<f32>::new();
/// let w = tape.param(Tensor::from_vec(vec![0.0, 1.0, 10.0, 11.0, 20.0, 21.0], &[3, 2])?);
/// let y = ops::index_select(w, 0, &[2, 0, 2])?;
/// assert_eq!(y.value().data(), &[20.0, 21.0, 0.0, 1.0, 20.0, 21.0]);
/// let g = tape.backward_with(y, Tensor::ones(&[3, 2]))?;
/// assert_eq!(g.wrt(w)?.data(), &[1.0, 1.0, 0.0, 0.0, 2.0, 2.0]);
/// # Ok::<(), autograd::Error>(())
/// ```
#[track_caller]
pub fn index_select<'t, T: Element>(
    x: Var<'t, T>,
    axis: isize,
    index: &[usize],
) -> Result<Var<'t, T>> {
    let xv = x.value();
    let shape = xv.shape();
    let a = crate::norm_axis("index_select", axis, shape)?;
    let (outer, n, inner) = crate::split_axis(shape, a);
    if let Some((i, &j)) = index.iter().enumerate().find(|(_, &j)| j >= n) {
        return Err(Error::invalid(
            "index_select",
            format!(
                "index {j} at position {i} is out of range for axis {a} of {}",
                fmt_shape(shape)
            ),
        ));
    }
    let mut ys = Shape::from_slice(shape);
    ys[a] = index.len();
    crate::check_size("index_select", "output", &ys)?;
    let mut out = Vec::with_capacity(outer * index.len() * inner);
    for o in 0..outer {
        for &j in index {
            let src = (o * n + j) * inner;
            out.extend_from_slice(&xv.data()[src..src + inner]);
        }
    }
    let y = Tensor::from_shape_vec(ys, out);
    let (xs, idx) = (Shape::from_slice(shape), index.to_vec());
    x.tape()
        .record("index_select", &[x], y, || IndexSelectBackward {
            shape: xs,
            axis: a,
            index: idx,
        })
}

struct IndexSelectBackward {
    shape: Shape,
    axis: usize,
    index: Vec<usize>,
}

impl<T: Element> Backward<T> for IndexSelectBackward {
    fn backward(&self, g: &Tensor<T>, _: &[bool]) -> Result<InputGrads<T>> {
        let (outer, n, inner) = crate::split_axis(&self.shape, self.axis);
        let m = self.index.len();
        let mut dx = vec![T::ZERO; outer * n * inner];
        for o in 0..outer {
            for (i, &j) in self.index.iter().enumerate() {
                let src = &g.data()[(o * m + i) * inner..(o * m + i + 1) * inner];
                let dst = &mut dx[(o * n + j) * inner..(o * n + j + 1) * inner];
                for (d, &s) in dst.iter_mut().zip(src) {
                    *d += s;
                }
            }
        }
        Ok(smallvec![Some(Tensor::from_shape_vec(
            self.shape.clone(),
            dx
        ))])
    }
}
