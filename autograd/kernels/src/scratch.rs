//! Per-thread scratch buffers for the kernels.

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
