//! `gather`: PyTorch's `torch.gather(x, dim, index)`, picking along one
//! axis an entry per position of an index tensor.
//!
//! Forward, for `axis = d`: `y[p] = x[p with its d-th coordinate replaced by
//! index[p]]` for every position `p` of `index` (whose shape is the
//! output's; every dim but `d` at most `x`'s).
//! Backward: `dL/dx` scatter-adds `g[p]` to the entry `y[p]` came from (an
//! entry picked twice gets both).

use autograd::{
    fmt_shape, smallvec::smallvec, Backward, Element, Error, InputGrads, Result, Shape, Tensor, Var,
};

/// The offsets into `x` of the entries `gather` picks, in row-major order
/// of `index_shape`.
fn sources(xs: &[usize], axis: usize, index: &[usize], index_shape: &[usize]) -> Vec<usize> {
    let xstrides = autograd::tensor::strides_of(xs);
    let mut pos = vec![0usize; index_shape.len()];
    let mut out = Vec::with_capacity(index.len());
    for &ix in index {
        let off: usize = pos
            .iter()
            .enumerate()
            .map(|(d, &p)| if d == axis { ix } else { p } * xstrides[d])
            .sum();
        out.push(off);
        // next row-major position
        for d in (0..pos.len()).rev() {
            pos[d] += 1;
            if pos[d] < index_shape[d] {
                break;
            }
            pos[d] = 0;
        }
    }
    out
}

/// Entries of `x` picked along `axis` by `index` (row-major, of shape
/// `index_shape`, the output's shape).
///
/// ```
/// use autograd::{Tape, Tensor};
/// let tape = Tape::<f32>::new();
/// let x = tape.constant(Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[2, 2])?);
/// // torch.gather(x, 1, [[0, 0], [1, 0]])
/// assert_eq!(ops::gather(x, 1, &[0, 0, 1, 0], &[2, 2])?.value().data(), &[1.0, 1.0, 4.0, 3.0]);
/// // the target-class log-probability of each row: gather(logp, 1, t[:, None])
/// assert_eq!(ops::gather(x, 1, &[1, 0], &[2, 1])?.value().data(), &[2.0, 3.0]);
/// # Ok::<(), autograd::Error>(())
/// ```
#[track_caller]
pub fn gather<'t, T: Element>(
    x: Var<'t, T>,
    axis: isize,
    index: &[usize],
    index_shape: &[usize],
) -> Result<Var<'t, T>> {
    let xv = x.value();
    let xs = xv.shape();
    let a = crate::norm_axis("gather", axis, xs)?;
    let fits = index_shape.len() == xs.len()
        && index_shape
            .iter()
            .zip(xs)
            .enumerate()
            .all(|(d, (&i, &n))| d == a || i <= n)
        && autograd::tensor::checked_numel(index_shape) == Some(index.len());
    if !fits {
        return Err(Error::shape(
            "gather",
            format!(
                "index of shape {} ({} values) must have x's rank and fit x {} outside axis {a}",
                fmt_shape(index_shape),
                index.len(),
                fmt_shape(xs)
            ),
        ));
    }
    if let Some((p, &i)) = index.iter().enumerate().find(|(_, &i)| i >= xs[a]) {
        return Err(Error::invalid(
            "gather",
            format!(
                "index {i} at position {p} is out of range for axis {a} of {}",
                fmt_shape(xs)
            ),
        ));
    }
    let src = sources(xs, a, index, index_shape);
    let y = Tensor::from_shape_vec(
        Shape::from_slice(index_shape),
        src.iter().map(|&o| xv.data()[o]).collect(),
    );
    let shape = Shape::from_slice(xs);
    x.tape()
        .record("gather", &[x], y, || GatherBackward { shape, src })
}

struct GatherBackward {
    shape: Shape,
    src: Vec<usize>,
}

impl<T: Element> Backward<T> for GatherBackward {
    fn backward(&self, g: &Tensor<T>, _: &[bool]) -> Result<InputGrads<T>> {
        let n: usize = self.shape.iter().product();
        let mut dx = vec![T::ZERO; n];
        for (&o, &v) in self.src.iter().zip(g.data()) {
            dx[o] += v;
        }
        Ok(smallvec![Some(Tensor::from_shape_vec(
            self.shape.clone(),
            dx
        ))])
    }
}
