//! `nll_loss`: negative log-likelihood of class targets, mean over the batch
//! (PyTorch's `F.nll_loss` with `reduction='mean'`, no class weights).
//!
//! Forward, for log-probabilities `x: [N, C]` and targets `t` (N class indices):
//! `L = -(1/N) sum_n x[n, t_n]`.
//!
//! Backward: `dL/dx[n, c] = -g / N if c == t_n else 0`.
//!
//! Cross-entropy is `nll_loss(log_softmax(logits, 1), t)` (see `nn`).

use autograd::{
    fmt_shape, smallvec::smallvec, Backward, Element, Error, InputGrads, Result, Shape, Tensor, Var,
};

/// Mean negative log-likelihood of `targets` under log-probabilities `x: [N, C]`.
///
/// ```
/// use autograd::{Tape, Tensor};
/// let tape = Tape::<f32>::new();
/// let logp = tape.constant(Tensor::from_vec(vec![-1.0, -2.0, -3.0, -4.0], &[2, 2])?);
/// assert_eq!(ops::nll_loss(logp, &[0, 1])?.value().item()?, 2.5);
/// let e = ops::nll_loss(logp, &[0, 7]).unwrap_err().to_string();
/// assert!(e.contains("nll_loss: target 7 at position 1 is out of range for 2 classes"), "{e}");
/// # Ok::<(), autograd::Error>(())
/// ```
#[track_caller]
pub fn nll_loss<'t, T: Element>(x: Var<'t, T>, targets: &[usize]) -> Result<Var<'t, T>> {
    let xv = x.value();
    let xs = xv.shape();
    if xs.len() != 2 {
        return Err(Error::shape(
            "nll_loss",
            format!("input {} must be 2-D [N, classes]", fmt_shape(xs)),
        ));
    }
    let (n, c) = (xs[0], xs[1]);
    if targets.len() != n {
        return Err(Error::shape(
            "nll_loss",
            format!(
                "input {} has batch {n} but {} targets were given",
                fmt_shape(xs),
                targets.len()
            ),
        ));
    }
    if n == 0 {
        return Err(Error::shape(
            "nll_loss",
            "empty batch: the mean over 0 examples is undefined",
        ));
    }
    if let Some((i, &t)) = targets.iter().enumerate().find(|(_, &t)| t >= c) {
        return Err(Error::invalid(
            "nll_loss",
            format!("target {t} at position {i} is out of range for {c} classes"),
        ));
    }
    let d = xv.data();
    let s: T = targets.iter().enumerate().map(|(i, &t)| d[i * c + t]).sum();
    let y = Tensor::scalar(-s / T::from_usize(n));
    let (shape, targets) = (Shape::from_slice(xs), targets.to_vec());
    x.tape()
        .record("nll_loss", &[x], y, || NllBackward { shape, targets })
}

struct NllBackward {
    shape: Shape,
    targets: Vec<usize>,
}

impl<T: Element> Backward<T> for NllBackward {
    fn backward(&self, g: &Tensor<T>, _: &[bool]) -> Result<InputGrads<T>> {
        let (n, c) = (self.shape[0], self.shape[1]);
        let v = -g.data()[0] / T::from_usize(n);
        let mut gx = vec![T::ZERO; n * c];
        for (i, &t) in self.targets.iter().enumerate() {
            gx[i * c + t] = v;
        }
        Ok(smallvec![Some(Tensor::from_shape_vec(
            self.shape.clone(),
            gx
        ))])
    }
}
