//! CPU kernels shared by several ops: parallel GEMM and (dilated) im2col/col2im.

pub mod conv_packed;
pub mod im2col;
pub mod par_gemm;
pub mod winograd;

/// `parts[0] + parts[1] + ...` element by element, always in that order (so
/// the result does not depend on the thread count), split across threads
/// by ranges of elements.
pub(crate) fn sum_in_order<T: autograd::Element>(mut parts: Vec<Vec<T>>) -> Vec<T> {
    use rayon::prelude::*;
    if parts.is_empty() {
        return Vec::new();
    }
    let mut acc = std::mem::take(&mut parts[0]);
    let rest = &parts[1..];
    if rest.is_empty() {
        return acc;
    }
    const CHUNK: usize = 1 << 14;
    acc.par_chunks_mut(CHUNK).enumerate().for_each(|(i, a)| {
        for part in rest {
            for (x, &y) in a.iter_mut().zip(&part[i * CHUNK..]) {
                *x += y;
            }
        }
    });
    acc
}
