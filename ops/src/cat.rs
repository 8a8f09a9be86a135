//! `cat`: tensors joined along an axis (PyTorch's `torch.cat`); `stack`
//! (a new axis) is `cat` of the inputs each reshaped with a 1 inserted.
//!
//! Forward: viewing each input `p` as `[outer, n_p, inner]` (the same
//! `outer` and `inner` for all), `y[o]` is the inputs' `[n_p * inner]`
//! blocks `y[o] = x_0[o] ++ x_1[o] ++ ...`.
//! Backward: `dL/dx_p` is the block of `g` that `x_p` filled.

use autograd::{fmt_shape, Backward, Element, Error, InputGrads, Result, Shape, Tensor, Var};

/// The inputs joined along `axis`; all dims but `axis` must agree.
///
/// ```
/// use autograd::{Tape, Tensor};
/// let tape = Tape::<f32>::new();
/// let a = tape.constant(Tensor::from_vec(vec![1.0, 2.0], &[2, 1])?);
/// let b = tape.constant(Tensor::from_vec(vec![3.0, 4.0, 5.0, 6.0], &[2, 2])?);
/// assert_eq!(ops::cat(&[a, b], 1)?.value().data(), &[1.0, 3.0, 4.0, 2.0, 5.0, 6.0]);
/// assert_eq!(ops::stack(&[a, a], 0)?.shape().as_slice(), &[2, 2, 1]);
/// # Ok::<(), autograd::Error>(())
/// ```
#[track_caller]
pub fn cat<'t, T: Element>(xs: &[Var<'t, T>], axis: isize) -> Result<Var<'t, T>> {
    let Some(first) = xs.first() else {
        return Err(Error::shape("cat", "no tensors to join"));
    };
    let vals: Vec<Tensor<T>> = xs.iter().map(|v| v.value()).collect();
    let s0 = vals[0].shape().to_vec();
    let a = crate::norm_axis("cat", axis, &s0)?;
    for (i, v) in vals.iter().enumerate() {
        let s = v.shape();
        let same = s.len() == s0.len()
            && s.iter()
                .zip(&s0)
                .enumerate()
                .all(|(d, (p, q))| d == a || p == q);
        if !same {
            return Err(Error::shape(
                "cat",
                format!(
                    "input {i} is {} but input 0 is {}: all dims but axis {a} must agree",
                    fmt_shape(s),
                    fmt_shape(&s0)
                ),
            ));
        }
    }
    let sizes: Vec<usize> = vals.iter().map(|v| v.shape()[a]).collect();
    let total = sizes
        .iter()
        .try_fold(0usize, |acc, &n| acc.checked_add(n))
        .ok_or_else(|| Error::shape("cat", "the joined axis overflows usize"))?;
    let mut ys = Shape::from_slice(&s0);
    ys[a] = total;
    crate::check_size("cat", "output", &ys)?;
    let (outer, _, inner) = crate::split_axis(&s0, a);
    let mut out = Vec::with_capacity(outer * total * inner);
    for o in 0..outer {
        for (v, &n) in vals.iter().zip(&sizes) {
            out.extend_from_slice(&v.data()[o * n * inner..(o + 1) * n * inner]);
        }
    }
    let y = Tensor::from_shape_vec(ys, out);
    first.tape().record("cat", xs, y, || CatBackward {
        sizes,
        outer,
        inner,
        shapes: vals.iter().map(|v| Shape::from_slice(v.shape())).collect(),
    })
}

/// The inputs, all of one shape, stacked along a new axis `axis` (which may
/// be `ndim`, the end; negative counts from the end of the output).
#[track_caller]
pub fn stack<'t, T: Element>(xs: &[Var<'t, T>], axis: isize) -> Result<Var<'t, T>> {
    let Some(first) = xs.first() else {
        return Err(Error::shape("stack", "no tensors to stack"));
    };
    let s0 = first.shape();
    let nd = s0.len() as isize + 1;
    let a = if axis < 0 { axis + nd } else { axis };
    if !(0..nd).contains(&a) {
        return Err(Error::shape(
            "stack",
            format!(
                "axis {axis} out of range for stacking {} tensors",
                fmt_shape(&s0)
            ),
        ));
    }
    let mut s: Vec<isize> = s0.iter().map(|&d| d as isize).collect();
    s.insert(a as usize, 1);
    let parts = xs
        .iter()
        .enumerate()
        .map(|(i, v)| {
            if v.shape() != s0 {
                return Err(Error::shape(
                    "stack",
                    format!(
                        "input {i} is {} but input 0 is {}",
                        fmt_shape(&v.shape()),
                        fmt_shape(&s0)
                    ),
                ));
            }
            crate::reshape(*v, &s)
        })
        .collect::<Result<Vec<_>>>()?;
    cat(&parts, a)
}

struct CatBackward {
    sizes: Vec<usize>,
    outer: usize,
    inner: usize,
    shapes: Vec<Shape>,
}

impl<T: Element> Backward<T> for CatBackward {
    fn backward(&self, g: &Tensor<T>, needs: &[bool]) -> Result<InputGrads<T>> {
        let total: usize = self.sizes.iter().sum();
        let mut out = InputGrads::new();
        let mut offset = 0;
        for (p, &n) in self.sizes.iter().enumerate() {
            if needs[p] {
                let mut d = Vec::with_capacity(self.outer * n * self.inner);
                for o in 0..self.outer {
                    let src = (o * total + offset) * self.inner;
                    d.extend_from_slice(&g.data()[src..src + n * self.inner]);
                }
                out.push(Some(Tensor::from_shape_vec(self.shapes[p].clone(), d)));
            } else {
                out.push(None);
            }
            offset += n;
        }
        Ok(out)
    }
}
