//! [`CachingAlloc`]: a global allocator that keeps freed large blocks and
//! hands them out again, so a training loop stops page-faulting its
//! tensors in every step.
//!
//! A training step frees and allocates the same large buffers, of the same
//! sizes, every time (activations, gradients, packed panels). Allocators
//! give such blocks back to the operating system: glibc maps every block
//! over its mmap threshold (at most 32 MiB) fresh and unmaps it on free,
//! and mimalloc purges freed memory after a delay (1 s in its v3). Each
//! fresh page then costs a page fault and the kernel's zeroing of it. On
//! Zen 1 (2 cores, mimalloc v3) the reference ConvNet's training step took
//! 1,500-10,000 page faults per step (it varies with the machine's state);
//! through this cache, about 100. Measured in alternating runs, 3 each:
//! the step at 2 threads 338/342/342 -> 330/329/327 ms, at 1 thread
//! 559/586/604 -> 574/570/573 ms; `mlp10_tanh_fwd` at 1 thread 164/163/163
//! -> 160/160/163 ms. Once, with 9,800 faults per step, turning mimalloc's
//! purging off instead (`MIMALLOC_PURGE_DELAY=-1`) made the step 10%
//! faster. (On a virtual machine a fresh page can also cost an exit to
//! the hypervisor; not measured.)
//!
//! `CachingAlloc` wraps any allocator (`std::alloc::System`, mimalloc,
//! ...). A freed block of at least [`MIN_CACHED`] bytes is kept in a list
//! for its exact size and alignment, and the next request of that layout
//! takes it back, as PyTorch's CUDA caching allocator does for device
//! memory. Everything else goes to the wrapped allocator. The cache holds
//! at most `limit` bytes ([`DEFAULT_LIMIT`] unless
//! [`CachingAlloc::with_limit`] says otherwise): a block that would go over
//! it first evicts the least recently used sizes, and a size larger than
//! the limit is never kept. [`CachingAlloc::release`] gives every cached
//! block back (as `torch.cuda.empty_cache()`).
//!
//! ```
//! use kernels::alloc::CachingAlloc;
//! use std::alloc::System;
//!
//! #[global_allocator]
//! static GLOBAL: CachingAlloc<System> = CachingAlloc::new(System);
//!
//! let v = vec![1.0f32; 1 << 20]; // 4 MiB: cached when freed
//! drop(v);
//! assert_eq!(GLOBAL.cached_bytes(), 4 << 20);
//! let w = vec![0.0f32; 1 << 20]; // the same block, zeroed again
//! assert_eq!(GLOBAL.cached_bytes(), 0);
//! assert!(w.iter().all(|&x| x == 0.0));
//! ```
//!
//! The wrapped allocator must not allocate through the global allocator
//! itself (std's `System` and mimalloc do not): the cache calls it to free
//! evicted blocks while holding its lock, so such a call back would wait
//! on that lock for ever.
//!
//! This is one of the kernel files (crate `kernels`) with `unsafe`: the
//! [`GlobalAlloc`] implementation, the free lists kept inside the freed
//! blocks themselves (the first 8 bytes of a cached block hold the next
//! one's address), and a spin lock around the table of lists. It neither
//! allocates nor calls back into itself while holding the lock.

use std::alloc::{GlobalAlloc, Layout};
use std::cell::UnsafeCell;
use std::ptr;
use std::sync::atomic::{AtomicBool, Ordering};

/// Blocks of at least this many bytes (64 KiB) are cached; smaller ones go
/// straight to the wrapped allocator, which keeps them in its own pools.
/// (With 1 MiB, the reference training step still took about 1,400 page
/// faults per step on Zen 1 under mimalloc; with 64 KiB about 100.)
pub const MIN_CACHED: usize = 1 << 16;

/// The most bytes a [`CachingAlloc::new`] keeps cached: 1 GiB.
pub const DEFAULT_LIMIT: usize = 1 << 30;

/// How many distinct (size, alignment) lists the cache keeps at once; a
/// new size beyond that evicts the least recently used list.
const BUCKETS: usize = 128;

/// The freed blocks of one layout, linked through their first 8 bytes.
#[derive(Clone, Copy)]
struct Bucket {
    size: usize,
    align: usize,
    head: *mut u8,
    count: usize,
    /// The table's clock at this list's last use, for eviction.
    used: u64,
}

const EMPTY: Bucket = Bucket {
    size: 0,
    align: 0,
    head: ptr::null_mut(),
    count: 0,
    used: 0,
};

struct Table {
    buckets: [Bucket; BUCKETS],
    /// Bytes held in all lists.
    bytes: usize,
    clock: u64,
    /// Requests served from the cache.
    hits: u64,
}

/// A global allocator that caches freed blocks of [`MIN_CACHED`] bytes or
/// more for reuse by the next request of the same size and alignment; see
/// the [module docs](self) for why and how.
///
/// ```
/// use kernels::alloc::CachingAlloc;
/// use std::alloc::System;
///
/// // at most 256 MiB cached
/// #[global_allocator]
/// static GLOBAL: CachingAlloc<System> = CachingAlloc::with_limit(System, 256 << 20);
///
/// drop(vec![0u8; 8 << 20]);
/// assert_eq!(GLOBAL.cached_bytes(), 8 << 20);
/// GLOBAL.release();
/// assert_eq!(GLOBAL.cached_bytes(), 0);
/// ```
pub struct CachingAlloc<A: GlobalAlloc> {
    inner: A,
    limit: usize,
    locked: AtomicBool,
    table: UnsafeCell<Table>,
}

// SAFETY: the table (raw pointers to blocks that the cache alone owns) is
// only touched while `locked` is held (see `lock`), so sharing the
// allocator between threads shares it as a mutex would; the wrapped
// allocator is itself shared only if it is `Sync`.
unsafe impl<A: GlobalAlloc + Sync> Sync for CachingAlloc<A> {}

/// Holds the spin lock; releases it when dropped.
struct Guard<'a> {
    locked: &'a AtomicBool,
    table: &'a mut Table,
}

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        self.locked.store(false, Ordering::Release);
    }
}

impl<A: GlobalAlloc> CachingAlloc<A> {
    /// Wraps `inner`, caching at most [`DEFAULT_LIMIT`] bytes.
    pub const fn new(inner: A) -> Self {
        Self::with_limit(inner, DEFAULT_LIMIT)
    }

    /// Wraps `inner`, caching at most `limit` bytes (0 caches nothing).
    pub const fn with_limit(inner: A, limit: usize) -> Self {
        CachingAlloc {
            inner,
            limit,
            locked: AtomicBool::new(false),
            table: UnsafeCell::new(Table {
                buckets: [EMPTY; BUCKETS],
                bytes: 0,
                clock: 0,
                hits: 0,
            }),
        }
    }

    /// Bytes now held in the cache (freed by the program, not yet reused or
    /// given back).
    pub fn cached_bytes(&self) -> usize {
        self.lock().table.bytes
    }

    /// How many requests the cache has served so far (blocks handed out
    /// again instead of allocated).
    pub fn hits(&self) -> u64 {
        self.lock().table.hits
    }

    /// Gives every cached block back to the wrapped allocator.
    pub fn release(&self) {
        let g = self.lock();
        for i in 0..BUCKETS {
            self.evict(g.table, i);
        }
    }

    fn lock(&self) -> Guard<'_> {
        let mut spins = 0u32;
        while self
            .locked
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            spins = spins.saturating_add(1);
            if spins < 100 {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
        // SAFETY: `locked` is now ours until the guard drops, so no other
        // reference to the table exists (every access goes through here).
        let table = unsafe { &mut *self.table.get() };
        Guard {
            locked: &self.locked,
            table,
        }
    }

    /// Takes a cached block of exactly this layout, if one is there.
    fn take(&self, layout: Layout) -> Option<*mut u8> {
        if layout.size() < MIN_CACHED {
            return None;
        }
        let g = self.lock();
        let t = &mut *g.table;
        let b = t
            .buckets
            .iter_mut()
            .find(|b| b.count > 0 && b.size == layout.size() && b.align == layout.align())?;
        let p = b.head;
        // SAFETY: `p` heads this list, so it is a cached block of
        // `b.size >= MIN_CACHED` bytes that the cache owns, whose first 8
        // bytes `give` wrote with the next block's address (unaligned:
        // the layout's alignment may be 1).
        b.head = unsafe { p.cast::<*mut u8>().read_unaligned() };
        b.count -= 1;
        t.clock = t.clock.wrapping_add(1);
        b.used = t.clock;
        t.bytes -= layout.size();
        t.hits = t.hits.wrapping_add(1);
        Some(p)
    }

    /// Keeps a freed block of this layout if it fits under the limit;
    /// false if the caller must free it instead.
    ///
    /// # Safety
    /// `p` was allocated by `self.inner` with `layout` (or handed out by
    /// `take` for it), and the caller gives up every use of it.
    unsafe fn give(&self, p: *mut u8, layout: Layout) -> bool {
        let size = layout.size();
        if size < MIN_CACHED || size > self.limit {
            return false;
        }
        let g = self.lock();
        let t = &mut *g.table;
        let slot = match t
            .buckets
            .iter()
            .position(|b| b.size == size && b.align == layout.align())
        {
            Some(i) => i,
            None => {
                // a fresh list: an empty slot, or else the least recently
                // used list, evicted
                let i = match t.buckets.iter().position(|b| b.count == 0) {
                    Some(i) => i,
                    None => lru(t, usize::MAX),
                };
                self.evict(t, i);
                t.buckets[i].size = size;
                t.buckets[i].align = layout.align();
                i
            }
        };
        while t.bytes.saturating_add(size) > self.limit {
            let victim = lru(t, slot);
            if victim == usize::MAX {
                // only this layout's own list is cached: keep it
                return false;
            }
            self.evict(t, victim);
        }
        // SAFETY: the block is ours now (the caller's contract) and at
        // least MIN_CACHED bytes long, so its first 8 bytes can hold the
        // list's link; written unaligned, as the layout may allow any
        // address.
        unsafe { p.cast::<*mut u8>().write_unaligned(t.buckets[slot].head) };
        let b = &mut t.buckets[slot];
        b.head = p;
        b.count += 1;
        t.clock = t.clock.wrapping_add(1);
        b.used = t.clock;
        t.bytes += size;
        true
    }

    /// Frees every block of list `i` to the wrapped allocator (under the
    /// lock: the wrapped allocator never calls back into this one).
    fn evict(&self, t: &mut Table, i: usize) {
        let b = &mut t.buckets[i];
        if b.count == 0 {
            return; // (a slot never used has no valid layout)
        }
        // SAFETY: a nonempty list's size and alignment are those of a
        // valid layout that its blocks were allocated with (`give`).
        let layout = unsafe { Layout::from_size_align_unchecked(b.size, b.align) };
        while b.count > 0 {
            let p = b.head;
            // SAFETY: as in `take`, `p` is a cached block of this layout
            // with the next one's address in its first bytes; it was
            // allocated by `self.inner` with this layout (`give`'s
            // contract), and nothing else refers to it.
            unsafe {
                b.head = p.cast::<*mut u8>().read_unaligned();
                self.inner.dealloc(p, layout);
            }
            b.count -= 1;
            t.bytes -= b.size;
        }
        b.head = ptr::null_mut();
    }
}

/// The least recently used nonempty list other than `keep`, or
/// `usize::MAX` if there is none.
fn lru(t: &Table, keep: usize) -> usize {
    let mut best = usize::MAX;
    let mut best_used = u64::MAX;
    for (i, b) in t.buckets.iter().enumerate() {
        if i != keep && b.count > 0 && b.used < best_used {
            best = i;
            best_used = b.used;
        }
    }
    best
}

// SAFETY: every block handed out is either fresh from `inner` for exactly
// the requested layout, or a cached block that `inner` allocated for that
// same size and alignment and whose owner freed it; `dealloc` and
// `realloc` receive only such blocks with their layouts, and give `inner`
// back only blocks it allocated, with the layout it allocated them for.
unsafe impl<A: GlobalAlloc> GlobalAlloc for CachingAlloc<A> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match self.take(layout) {
            Some(p) => p,
            // SAFETY: the caller's contract (nonzero size) passes on.
            None => unsafe { self.inner.alloc(layout) },
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        match self.take(layout) {
            Some(p) => {
                // SAFETY: `p` is a block of `layout.size()` bytes, ours.
                unsafe { ptr::write_bytes(p, 0, layout.size()) };
                p
            }
            // SAFETY: as in `alloc`.
            None => unsafe { self.inner.alloc_zeroed(layout) },
        }
    }

    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        // SAFETY: `p` came from this allocator with `layout` (the caller's
        // contract), so from `inner` with it, and the caller is done with it.
        unsafe {
            if !self.give(p, layout) {
                self.inner.dealloc(p, layout);
            }
        }
    }

    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `p` was allocated by `inner` with `layout` (see `dealloc`),
        // so `inner` may resize it; the new block is `inner`'s, for the new
        // layout, as the trait's contract needs for later calls.
        unsafe { self.inner.realloc(p, layout, new_size) }
    }
}

impl<A: GlobalAlloc> Drop for CachingAlloc<A> {
    fn drop(&mut self) {
        // a global allocator is never dropped; one made for a while (the
        // tests) gives its blocks back
        self.release();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::alloc::System;

    const MIB: usize = 1 << 20;

    fn layout(size: usize, align: usize) -> Layout {
        Layout::from_size_align(size, align).unwrap()
    }

    /// Allocates, fills with `tag` and checks a block of this layout.
    unsafe fn fill(a: &CachingAlloc<System>, l: Layout, tag: u8) -> *mut u8 {
        let p = unsafe { a.alloc(l) };
        assert!(!p.is_null());
        assert_eq!(p as usize % l.align(), 0);
        unsafe { ptr::write_bytes(p, tag, l.size()) };
        p
    }

    unsafe fn check(p: *mut u8, l: Layout, tag: u8) {
        let s = unsafe { std::slice::from_raw_parts(p, l.size()) };
        assert!(s.iter().all(|&x| x == tag));
    }

    #[test]
    fn a_freed_large_block_is_handed_out_again_for_the_same_layout_only() {
        let a = CachingAlloc::new(System);
        let l = layout(2 * MIB, 4);
        unsafe {
            let p = fill(&a, l, 7);
            a.dealloc(p, l);
            assert_eq!(a.cached_bytes(), 2 * MIB);
            // other sizes and alignments do not take it
            let q = fill(&a, layout(2 * MIB + 4, 4), 1);
            let r = fill(&a, layout(2 * MIB, 64), 2);
            assert!(q != p && r != p);
            assert_eq!(a.cached_bytes(), 2 * MIB);
            assert_eq!(a.hits(), 0);
            let p2 = fill(&a, l, 3);
            assert_eq!(p2, p);
            assert_eq!(a.cached_bytes(), 0);
            assert_eq!(a.hits(), 1);
            a.dealloc(p2, l);
            a.dealloc(q, layout(2 * MIB + 4, 4));
            a.dealloc(r, layout(2 * MIB, 64));
            assert_eq!(a.cached_bytes(), 6 * MIB + 4);
        }
        a.release();
        assert_eq!(a.cached_bytes(), 0);
    }

    #[test]
    fn small_blocks_are_not_cached() {
        let a = CachingAlloc::new(System);
        let l = layout(MIN_CACHED - 1, 8);
        unsafe {
            let p = fill(&a, l, 9);
            a.dealloc(p, l);
        }
        assert_eq!(a.cached_bytes(), 0);
    }

    #[test]
    fn a_zeroed_request_served_from_the_cache_is_zeroed() {
        let a = CachingAlloc::new(System);
        let l = layout(3 * MIB + 1, 1);
        unsafe {
            let p = fill(&a, l, 0xAB);
            a.dealloc(p, l);
            let z = a.alloc_zeroed(l);
            assert_eq!(z, p);
            check(z, l, 0);
            a.dealloc(z, l);
        }
    }

    #[test]
    fn lists_link_through_unaligned_blocks_and_come_back_in_lifo_order() {
        let a = CachingAlloc::new(System);
        let l = layout(MIB, 1);
        unsafe {
            let ps: Vec<*mut u8> = (0..5).map(|i| fill(&a, l, i)).collect();
            for &p in &ps {
                a.dealloc(p, l);
            }
            assert_eq!(a.cached_bytes(), 5 * MIB);
            for &p in ps.iter().rev() {
                let q = a.alloc(l);
                assert_eq!(q, p);
                // the rest of the block (after the link) is as it was left
                let s = std::slice::from_raw_parts(q.add(8), MIB - 8);
                let tag = ps.iter().position(|&x| x == p).unwrap() as u8;
                assert!(s.iter().all(|&x| x == tag));
            }
            for &p in &ps {
                a.dealloc(p, l);
            }
        }
    }

    #[test]
    fn the_limit_evicts_the_least_recently_used_size_and_never_keeps_a_larger_block() {
        let a = CachingAlloc::with_limit(System, 5 * MIB);
        let (l2, l3, l6) = (layout(2 * MIB, 4), layout(3 * MIB, 4), layout(6 * MIB, 4));
        unsafe {
            let x = fill(&a, l2, 1);
            let y = fill(&a, l2, 2);
            let z = fill(&a, l3, 3);
            let big = fill(&a, l6, 4);
            a.dealloc(big, l6); // over the limit on its own: freed
            assert_eq!(a.cached_bytes(), 0);
            a.dealloc(x, l2);
            a.dealloc(y, l2);
            assert_eq!(a.cached_bytes(), 4 * MIB);
            // 4 + 3 > 5: the 2 MiB list (least recently used) goes
            a.dealloc(z, l3);
            assert_eq!(a.cached_bytes(), 3 * MIB);
            let z2 = a.alloc(l3);
            assert_eq!(z2, z);
            let w = fill(&a, l2, 5);
            a.dealloc(z2, l3);
            // only the 3 MiB list is cached; a second 2 MiB block fits
            a.dealloc(w, l2);
            assert_eq!(a.cached_bytes(), 5 * MIB);
            a.release();
            // a list never evicts its own blocks: a third 2 MiB block
            // (2 + 2 + 2 > 5) is freed instead
            let vs: Vec<*mut u8> = (0..3).map(|i| fill(&a, l2, i)).collect();
            for &v in &vs {
                a.dealloc(v, l2);
            }
            assert_eq!(a.cached_bytes(), 4 * MIB);
            assert_eq!(a.alloc(l2), vs[1]);
            assert_eq!(a.alloc(l2), vs[0]);
            a.dealloc(vs[0], l2);
            a.dealloc(vs[1], l2);
        }
        let none = CachingAlloc::with_limit(System, 0);
        unsafe {
            let p = fill(&none, l2, 1);
            none.dealloc(p, l2);
        }
        assert_eq!(none.cached_bytes(), 0);
    }

    #[test]
    fn more_sizes_than_lists_evict_the_oldest_lists() {
        let a = CachingAlloc::with_limit(System, usize::MAX);
        let n = BUCKETS + 20;
        unsafe {
            for i in 0..n {
                let l = layout(MIB + 64 * i, 8);
                let p = fill(&a, l, i as u8);
                a.dealloc(p, l);
            }
            let kept: usize = (n - BUCKETS..n).map(|i| MIB + 64 * i).sum();
            assert_eq!(a.cached_bytes(), kept);
            // the newest sizes are still there, the oldest are gone
            let newest = layout(MIB + 64 * (n - 1), 8);
            let p = a.alloc(newest);
            check(p.add(8), layout(MIB + 64 * (n - 1) - 8, 1), (n - 1) as u8);
            a.dealloc(p, newest);
        }
        drop(a); // gives every block back (checked by ASan's leak check)
    }

    #[test]
    fn realloc_keeps_the_contents_of_a_block_that_came_from_the_cache() {
        let a = CachingAlloc::new(System);
        let l = layout(2 * MIB, 8);
        unsafe {
            let p = fill(&a, l, 5);
            a.dealloc(p, l);
            let q = fill(&a, l, 6);
            let r = a.realloc(q, l, 4 * MIB);
            check(r, l, 6);
            a.dealloc(r, layout(4 * MIB, 8));
            let s = a.realloc(a.alloc(l), l, 16);
            a.dealloc(s, layout(16, 8));
        }
    }

    #[test]
    fn threads_never_share_a_block() {
        let a = CachingAlloc::with_limit(System, 16 * MIB);
        std::thread::scope(|s| {
            for t in 0..4u8 {
                let a = &a;
                s.spawn(move || {
                    for i in 0..200usize {
                        let l = layout(MIB + 4096 * ((i + t as usize) % 3), 16);
                        unsafe {
                            let p = fill(a, l, t);
                            std::thread::yield_now();
                            check(p, l, t);
                            a.dealloc(p, l);
                        }
                    }
                });
            }
        });
        assert!(a.cached_bytes() <= 16 * MIB);
    }
}
