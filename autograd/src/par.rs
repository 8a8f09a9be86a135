//! Elementwise loops that split large inputs across rayon threads.

use rayon::prelude::*;

use crate::Element;

/// Elements above which elementwise kernels split work across rayon threads.
pub const PAR_THRESHOLD: usize = 1 << 15;

/// `f` over every element, in parallel for large inputs (order-independent,
/// so results do not depend on the thread count).
///
/// ```
/// let y = autograd::par::par_map(&[1.0f32, -2.0], |v| v * 2.0);
/// assert_eq!(y, [2.0, -4.0]);
/// ```
pub fn par_map<T: Element>(x: &[T], f: impl Fn(T) -> T + Sync + Send) -> Vec<T> {
    if x.len() >= PAR_THRESHOLD {
        x.par_iter()
            .with_min_len(PAR_THRESHOLD / 4)
            .map(|&v| f(v))
            .collect()
    } else {
        x.iter().map(|&v| f(v)).collect()
    }
}
