//! `permute`: reorder axes (and `transpose`, which swaps two).
//!
//! Forward: `y[i_0, .., i_{n-1}] = x[j]` where `j[perm[k]] = i_k`, i.e.
//! output axis k is input axis `perm[k]`.
//! Backward: `dL/dx = permute(g, inverse(perm))`.

use autograd::{smallvec::smallvec, Backward, Element, Error, InputGrads, Result, Tensor, Var};

/// Reorders axes: output axis `k` is input axis `perm[k]` (PyTorch's `permute`).
///
/// ```
/// use autograd::{Tape, Tensor};
/// let tape = Tape::<f32>::new();
/// let x = tape.constant(Tensor::zeros(&[2, 3, 4]));
/// assert_eq!(ops::permute(x, &[2, 0, 1])?.shape().as_slice(), &[4, 2, 3]);
/// # Ok::<(), autograd::Error>(())
/// ```
#[track_caller]
pub fn permute<'t, T: Element>(x: Var<'t, T>, perm: &[usize]) -> Result<Var<'t, T>> {
    let y = x.value().permute(perm)?;
    let mut inv = vec![0; perm.len()];
    for (k, &p) in perm.iter().enumerate() {
        inv[p] = k;
    }
    x.tape().record("permute", &[x], y, || PermuteBackward(inv))
}

/// Swaps axes `a` and `b` (a `permute`).
///
/// ```
/// use autograd::{Tape, Tensor};
/// let tape = Tape::<f32>::new();
/// let x = tape.constant(Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3])?);
/// assert_eq!(ops::transpose(x, 0, 1)?.value().data(), &[1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
/// # Ok::<(), autograd::Error>(())
/// ```
#[track_caller]
pub fn transpose<'t, T: Element>(x: Var<'t, T>, a: usize, b: usize) -> Result<Var<'t, T>> {
    let nd = x.shape().len();
    if a >= nd || b >= nd {
        return Err(Error::shape(
            "transpose",
            format!("axes ({a}, {b}) out of range for a {nd}-d tensor"),
        ));
    }
    let mut perm: Vec<usize> = (0..nd).collect();
    perm.swap(a, b);
    permute(x, &perm)
}

struct PermuteBackward(Vec<usize>);

impl<T: Element> Backward<T> for PermuteBackward {
    fn backward(&self, g: &Tensor<T>, _: &[bool]) -> Result<InputGrads<T>> {
        Ok(smallvec![Some(g.permute(&self.0)?)])
    }
}
