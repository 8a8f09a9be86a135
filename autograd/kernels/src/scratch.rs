//! Per-thread scratch buffers for the kernels, and new output vectors
//! written in parallel without a zero fill first.
//!
//! [`par_collect_chunks`] is the one `unsafe` block here (`Vec::set_len`
//! once every value is written), so this is a kernel file.

use rayon::prelude::*;

/// Runs `f` with a scratch value of type `S` kept by this thread between
/// calls, so the kernels' work buffers (the convolutions' columns and
/// transforms, the packed GEMM operands) are allocated (and zero-filled by
/// `resize`) once per thread and shape instead of once per call: a fresh
/// scratch per rayon job cost the reference ConvNet's training step about
/// 10% in page clearing and memset (perf, Zen 1).
/// Users of a scratch must not rely on its contents (every kernel here
/// overwrites what it reads). A nested call for the same type (rayon may
/// run another job on this thread inside `f`) gets a scratch of its own.
pub(crate) fn with_scratch<S: Default + 'static, R>(f: impl FnOnce(&mut S) -> R) -> R {
    use std::any::Any;
    use std::cell::RefCell;
    thread_local! {
        static POOL: RefCell<Vec<Box<dyn Any>>> = const { RefCell::new(Vec::new()) };
    }
    let taken = POOL.with(|p| {
        let mut p = p.borrow_mut();
        let at = p.iter().position(|b| b.is::<S>());
        at.map(|i| p.swap_remove(i))
    });
    let mut s: Box<S> = taken.and_then(|b| b.downcast().ok()).unwrap_or_default();
    let r = f(&mut s);
    POOL.with(|p| p.borrow_mut().push(s));
    r
}

/// A new vector of `len` values computed in parallel, `chunk` values per
/// rayon task: task `i` writes values `i * chunk ..` (`chunk` of them, or
/// what is left for the last task) from the iterator `f(i)`, straight into
/// the vector's memory. `vec![0; len]` and a fill would write every value
/// twice (the memset was 4% of the ConvNet training step in perf, Zen 1).
///
/// Panics (after the other tasks finish, leaking nothing unsafe) if an
/// iterator yields fewer values than its chunk; extra values are ignored.
pub(crate) fn par_collect_chunks<T, I>(
    len: usize,
    chunk: usize,
    f: impl Fn(usize) -> I + Sync + Send,
) -> Vec<T>
where
    T: Send,
    I: Iterator<Item = T>,
{
    let mut v: Vec<T> = Vec::with_capacity(len);
    if len > 0 {
        assert!(chunk > 0, "par_collect_chunks: empty chunks");
        v.spare_capacity_mut()[..len]
            .par_chunks_mut(chunk)
            .enumerate()
            .for_each(|(i, slots)| {
                let mut written = 0;
                for (s, x) in slots.iter_mut().zip(f(i)) {
                    s.write(x);
                    written += 1;
                }
                assert_eq!(
                    written,
                    slots.len(),
                    "par_collect_chunks: an iterator is shorter than its chunk"
                );
            });
    }
    // SAFETY: the capacity is at least len; for_each returned (a panic in a
    // task propagates out of it before this line), so every task wrote
    // each of its slots (the assert above), and the chunks cover 0..len.
    unsafe { v.set_len(len) };
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collects_every_chunk_in_order_including_a_short_last_one() {
        let v = par_collect_chunks(10, 4, |i| (0..4).map(move |j| i * 4 + j));
        assert_eq!(v, (0..10).collect::<Vec<_>>());
        assert!(par_collect_chunks(0, 0, |_| std::iter::empty::<f32>()).is_empty());
    }

    #[test]
    #[should_panic(expected = "shorter than its chunk")]
    fn refuses_an_iterator_that_stops_early() {
        par_collect_chunks(8, 4, |i| (0..if i == 1 { 3 } else { 4 }).map(|j| j as f32));
    }
}
