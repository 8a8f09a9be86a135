//! Per-thread scratch buffers for the kernels, and new output vectors
//! written in parallel without a zero fill first.
//!
//! [`par_new_with`] and [`par_collect_channels`] hold the `unsafe` blocks
//! here (`Vec::set_len` once every value is written), so this is a kernel
//! file. `par_collect_channels` checks through [`fill_from`] that each
//! iterator filled its plane; `par_new_with` is an `unsafe fn` whose
//! callers ([`par_collect_chunks`], over `fill_from` too; [`par_new_seq`],
//! through [`SeqFill`]'s count; the slice kernels of `fastmath`,
//! [`repeat_row`] and [`par_zeros`]) guarantee it.

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
    assert!(len == 0 || chunk > 0, "par_collect_chunks: empty chunks");
    // SAFETY: fill_from writes every slot it is given, or panics.
    unsafe {
        par_new_with(len, chunk, |i, slots| {
            fill_from(
                slots,
                f(i),
                "par_collect_chunks: an iterator is shorter than its chunk",
            )
        })
    }
}

/// Writes `slots` from `values`; panics if `values` runs out first
/// (extra values are ignored), so that on return every slot is written.
#[inline(always)]
fn fill_from<T>(
    slots: &mut [std::mem::MaybeUninit<T>],
    values: impl Iterator<Item = T>,
    short: &str,
) {
    let mut written = 0;
    for (s, x) in slots.iter_mut().zip(values) {
        s.write(x);
        written += 1;
    }
    // `assert!`, not `assert_eq!`: the latter takes `&written`, and a
    // counter whose address escapes lives on the stack, where the writes
    // above might alias it; the loop was then vectorised 2 floats at a
    // time behind runtime alias checks
    assert!(written == slots.len(), "{short}");
}

/// A new vector of `len` values written in place by `f`, `chunk` values
/// per rayon task (one task on the calling thread when `len <= chunk`):
/// `f(i, slots)` gets the slots `i * chunk ..` (`chunk` of them, or what
/// is left for the last task).
///
/// # Safety
///
/// `f` must write every slot it is given (it may panic instead).
pub(crate) unsafe fn par_new_with<T: Send>(
    len: usize,
    chunk: usize,
    f: impl Fn(usize, &mut [std::mem::MaybeUninit<T>]) + Sync + Send,
) -> Vec<T> {
    let mut v: Vec<T> = Vec::with_capacity(len);
    if len > 0 {
        assert!(chunk > 0, "par_new_with: empty chunks");
        let slots = &mut v.spare_capacity_mut()[..len];
        if len <= chunk {
            f(0, slots);
        } else {
            slots
                .par_chunks_mut(chunk)
                .enumerate()
                .for_each(|(i, s)| f(i, s));
        }
    }
    // SAFETY: the capacity is at least len; every chunk of 0..len went to
    // one call of f, each returned (a panic propagates before this line),
    // and the caller guarantees that f wrote every slot it was given.
    unsafe { v.set_len(len) };
    v
}

/// A new vector of `len` values written front to back by `f`, `chunk`
/// values per rayon task (as [`par_new_with`]): `f(i, fill)` appends the
/// values `i * chunk ..` with [`SeqFill::put`] and
/// [`SeqFill::interleave`], for kernels that produce
/// their output in memory order a row at a time (Winograd's output
/// transform), so the output needs no zero fill first.
///
/// Panics (after the other tasks finish, leaking nothing unsafe) if `f`
/// puts fewer or more values than its chunk.
pub(crate) fn par_new_seq<T: Copy + Send>(
    len: usize,
    chunk: usize,
    f: impl Fn(usize, &mut SeqFill<'_, T>) + Sync + Send,
) -> Vec<T> {
    assert!(len == 0 || chunk > 0, "par_new_seq: empty chunks");
    // SAFETY: SeqFill writes its slots front to back and nothing else can
    // advance `done` (private to this module); the assert makes sure they
    // are all written before the task returns.
    unsafe {
        par_new_with(len, chunk, |i, slots| {
            let mut fill = SeqFill { slots, done: 0 };
            f(i, &mut fill);
            assert!(
                fill.done == fill.slots.len(),
                "par_new_seq: a task wrote fewer values than its chunk"
            );
        })
    }
}

/// Two new vectors of `len` values each, written front to back by `f` as
/// [`par_new_seq`] writes one: `f(i, a, b)` appends values `i * chunk ..`
/// of both (`chunk` of each, or what is left for the last task), for
/// kernels with two outputs per position (max pooling's values and
/// indices), which then need no zero fill first.
///
/// Panics (after the other tasks finish, leaking nothing unsafe) if `f`
/// puts fewer or more values than its chunk into either.
pub(crate) fn par_new_seq2<A: Copy + Send, B: Copy + Send>(
    len: usize,
    chunk: usize,
    f: impl Fn(usize, &mut SeqFill<'_, A>, &mut SeqFill<'_, B>) + Sync + Send,
) -> (Vec<A>, Vec<B>) {
    assert!(len == 0 || chunk > 0, "par_new_seq2: empty chunks");
    let (mut a, mut b): (Vec<A>, Vec<B>) = (Vec::with_capacity(len), Vec::with_capacity(len));
    let task = |i: usize, sa, sb| {
        let (mut fa, mut fb) = (
            SeqFill { slots: sa, done: 0 },
            SeqFill { slots: sb, done: 0 },
        );
        f(i, &mut fa, &mut fb);
        assert!(
            fa.done == fa.slots.len() && fb.done == fb.slots.len(),
            "par_new_seq2: a task wrote fewer values than its chunk"
        );
    };
    if len > 0 {
        let (sa, sb) = (
            &mut a.spare_capacity_mut()[..len],
            &mut b.spare_capacity_mut()[..len],
        );
        if len <= chunk {
            task(0, sa, sb);
        } else {
            sa.par_chunks_mut(chunk)
                .zip(sb.par_chunks_mut(chunk))
                .enumerate()
                .for_each(|(i, (ca, cb))| task(i, ca, cb));
        }
    }
    // SAFETY: both capacities are at least len. Every chunk of 0..len of
    // each vector went to one task (the same chunking on both sides of the
    // zip), and each task returned (a panic propagates before this line)
    // after its assert found both SeqFills full: SeqFill writes its slots
    // front to back and nothing else can advance `done` (private to this
    // module), so every slot of both vectors is written.
    unsafe {
        a.set_len(len);
        b.set_len(len);
    }
    (a, b)
}

/// The slots of one task of [`par_new_seq`], written front to back.
pub(crate) struct SeqFill<'a, T> {
    slots: &'a mut [std::mem::MaybeUninit<T>],
    done: usize,
}

impl<T: Copy> SeqFill<'_, T> {
    /// Where the next `n` slots end (`None`: `n` itself overflowed), in
    /// checked arithmetic. Panics if that is past the chunk.
    #[inline(always)]
    fn end_after(&self, n: Option<usize>) -> usize {
        n.and_then(|n| self.done.checked_add(n))
            .filter(|&end| end <= self.slots.len())
            .expect("par_new_seq: a task wrote past its chunk")
    }

    /// Writes `values` into the next slots. Panics if they are fewer
    /// than `values.len()`.
    #[inline(always)]
    pub(crate) fn put(&mut self, values: &[T]) {
        let end = self.end_after(Some(values.len()));
        self.slots[self.done..end].write_copy_of_slice(values);
        self.done = end;
    }

    /// Writes `values` into the next slots, as [`SeqFill::put`], with
    /// [`crate::copy::copy_short_uninit`] (no call to memmove for a short
    /// row). Panics if they are fewer than `values.len()`.
    #[inline(always)]
    pub(crate) fn put_row(&mut self, values: &[T])
    where
        T: crate::Element,
    {
        let end = self.end_after(Some(values.len()));
        crate::copy::copy_short_uninit(&mut self.slots[self.done..end], values);
        self.done = end;
    }

    /// Writes `e[0], o[0], e[1], o[1], ...` into the next `2 e.len()`
    /// slots. Panics if they are fewer, or `o` is shorter than `e`.
    #[inline(always)]
    pub(crate) fn interleave(&mut self, e: &[T], o: &[T]) {
        let end = self.end_after(e.len().checked_mul(2));
        assert!(o.len() >= e.len(), "SeqFill::interleave: o shorter than e");
        for ((pair, &e), &o) in self.slots[self.done..end].chunks_exact_mut(2).zip(e).zip(o) {
            pair[0].write(e);
            pair[1].write(o);
        }
        self.done = end;
    }
}

/// `len` zeros, written in parallel ([`PAR_ZEROS_CHUNK`] values per task)
/// when there are at least 4 chunks of them and more than one thread.
/// `vec![0; len]` zeroes on the calling thread alone while the others
/// wait: for blocks that come back from `alloc::CachingAlloc` (not zero
/// already) that memset was 2.4% of the 2-thread training step (perf, Zen
/// 1); in parallel the step ran 3% faster in one set of alternating runs,
/// and no slower in another. On one thread it stays
/// `vec![0; len]` (whose fresh pages from the OS need no memset). For
/// outputs that a kernel accumulates or scatters into.
pub(crate) fn par_zeros<T: crate::Element>(len: usize) -> Vec<T> {
    if len < 4 * PAR_ZEROS_CHUNK || rayon::current_num_threads() < 2 {
        return vec![T::ZERO; len];
    }
    // SAFETY: the closure writes every slot it is given.
    unsafe {
        par_new_with(len, PAR_ZEROS_CHUNK, |_, slots| {
            for s in slots {
                s.write(T::ZERO);
            }
        })
    }
}

/// Values per task of [`par_zeros`] (256 KiB of f32).
const PAR_ZEROS_CHUNK: usize = 1 << 16;

/// `rows` copies of `row`, one after another, written in parallel once
/// (no zero fill first): a GEMM's C initialised to a bias in every row.
///
/// Panics if `row.len() * rows` overflows.
pub(crate) fn repeat_row<T: Copy + Send + Sync>(row: &[T], rows: usize) -> Vec<T> {
    let n = row.len();
    let len = n.checked_mul(rows).expect("repeat_row: length overflows");
    if len == 0 {
        return Vec::new();
    }
    // whole rows per task, about 32K values
    let chunk = (32_768 / n).max(1) * n;
    // SAFETY: the chunks are whole rows (chunk and len are multiples of
    // n), and each row of the chunk is written from `row` by
    // write_copy_of_slice (equal lengths, or it panics).
    unsafe {
        par_new_with(len, chunk, |_, dst| {
            for r in dst.chunks_mut(n) {
                r.write_copy_of_slice(row);
            }
        })
    }
}

/// A new vector laid out `[n, c, sp]` (`n c` planes of `sp` values),
/// computed one rayon task per channel: task `ci` first computes
/// `prep(ci)` (a channel's statistics, say), then writes each of its `n`
/// planes `ni c + ci` from the iterator `row(&prep, ci, ni)`, straight
/// into the vector's memory. Returns the vector and every channel's
/// `prep`. A channel's planes are visited together, so a kernel that reads
/// its input twice (sums first, then the map that needs them) finds the
/// second read in cache when a channel fits there, instead of making two
/// passes over the whole tensor.
///
/// Panics (after the other tasks finish, leaking nothing unsafe) if an
/// iterator yields fewer than `sp` values, or if `n c sp` overflows.
pub(crate) fn par_collect_channels<T, P, I>(
    n: usize,
    c: usize,
    sp: usize,
    prep: impl Fn(usize) -> P + Sync + Send,
    row: impl Fn(&P, usize, usize) -> I + Sync + Send,
) -> (Vec<T>, Vec<P>)
where
    T: Send,
    P: Send,
    I: Iterator<Item = T>,
{
    let len = n
        .checked_mul(c)
        .and_then(|v| v.checked_mul(sp))
        .expect("par_collect_channels: n c sp overflows");
    let mut v: Vec<T> = Vec::with_capacity(len);
    let mut by_channel: Vec<Vec<&mut [std::mem::MaybeUninit<T>]>> =
        (0..c).map(|_| Vec::with_capacity(n)).collect();
    if sp > 0 {
        for (p, plane) in v.spare_capacity_mut()[..len].chunks_mut(sp).enumerate() {
            by_channel[p % c].push(plane);
        }
    }
    let preps: Vec<P> = by_channel
        .into_par_iter()
        .enumerate()
        .map(|(ci, planes)| {
            let pr = prep(ci);
            for (ni, slots) in planes.into_iter().enumerate() {
                fill_from(
                    slots,
                    row(&pr, ci, ni),
                    "par_collect_channels: an iterator is shorter than its plane",
                );
            }
            pr
        })
        .collect();
    // SAFETY: the capacity is at least len. The map above returned (a
    // panic in a task propagates out of collect before this line), so
    // every task wrote each slot of each of its planes (fill_from); when
    // sp > 0 the planes are the chunks of sp covering 0..len, one task
    // each; when sp == 0, len is 0.
    unsafe { v.set_len(len) };
    (v, preps)
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
    fn zeros_are_zero_on_any_thread_count_and_length() {
        for threads in [1, 3] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            for len in [0, 1, 4 * PAR_ZEROS_CHUNK - 1, 4 * PAR_ZEROS_CHUNK + 17] {
                // a freed block of the same size first, so a reused one
                // (not zero) would show
                drop(vec![f32::NAN; len]);
                let z: Vec<f32> = pool.install(|| par_zeros(len));
                assert_eq!(z.len(), len);
                assert!(z.iter().all(|&x| x.to_bits() == 0));
            }
        }
    }

    #[test]
    fn repeats_a_row_across_task_boundaries() {
        for (n, rows) in [(3, 0), (0, 5), (1, 1), (7, 5000), (500, 1000), (40_000, 2)] {
            let row: Vec<u32> = (0..n as u32).collect();
            let v = repeat_row(&row, rows);
            assert_eq!(v.len(), n * rows);
            assert!(v.chunks(n.max(1)).all(|r| r == row.as_slice()));
        }
    }

    #[test]
    fn collects_channels_in_layout_order_with_their_preps() {
        // [n = 3, c = 2, sp = 4]: value = 100 ni + 10 ci + j, prep = 7 ci
        let (v, p) = par_collect_channels(
            3,
            2,
            4,
            |ci| 7 * ci,
            |&pr, ci, ni| {
                assert_eq!(pr, 7 * ci);
                (0..4).map(move |j| 100 * ni + 10 * ci + j)
            },
        );
        let want: Vec<usize> = (0..3)
            .flat_map(|ni| (0..2).flat_map(move |ci| (0..4).map(move |j| 100 * ni + 10 * ci + j)))
            .collect();
        assert_eq!(v, want);
        assert_eq!(p, [0, 7]);
        let (e, p): (Vec<f32>, _) =
            par_collect_channels(0, 3, 5, |ci| ci, |_, _, _| std::iter::empty());
        assert!(e.is_empty());
        assert_eq!(p, [0, 1, 2]);
        let (e, _): (Vec<f32>, Vec<()>) =
            par_collect_channels(4, 2, 0, |_| (), |_, _, _| std::iter::empty());
        assert!(e.is_empty());
    }

    #[test]
    #[should_panic(expected = "shorter than its plane")]
    fn refuses_a_plane_iterator_that_stops_early() {
        par_collect_channels(
            2,
            2,
            3,
            |_| (),
            |_, ci, ni| (0..if (ci, ni) == (1, 1) { 2 } else { 3 }).map(|j| j as f32),
        );
    }

    /// `check(len, chunk)` in rayon pools of 1 and 3 threads, for no
    /// values, one short chunk, a short last chunk and many chunks.
    fn on_pools_and_chunkings(check: impl Fn(usize, usize) + Sync) {
        for threads in [1, 3] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            for (len, chunk) in [(0, 4), (5, 8), (10, 3), (1000, 64)] {
                pool.install(|| check(len, chunk));
            }
        }
    }

    #[test]
    fn seq_fill_builds_chunks_in_order_on_any_thread_count() {
        on_pools_and_chunkings(|len, chunk| {
            let v: Vec<u32> = par_new_seq(len, chunk, |i, fill| {
                let end = ((i + 1) * chunk).min(len);
                // in pieces of 3, as rows would be: the first two values
                // of each interleaved, the last put
                let vals: Vec<u32> = (i * chunk..end).map(|j| j as u32).collect();
                for piece in vals.chunks(3) {
                    let paired = if piece.len() >= 2 { 2 } else { 0 };
                    fill.interleave(&piece[..paired / 2], &piece[paired / 2..paired]);
                    fill.put(&piece[paired..]);
                }
            });
            assert_eq!(v, (0..len as u32).collect::<Vec<_>>());
        });
    }

    #[test]
    #[should_panic(expected = "fewer values than its chunk")]
    fn seq_fill_refuses_a_short_chunk() {
        par_new_seq(8, 4, |i, fill| {
            fill.put(&[1.0f32; 4][..if i == 1 { 3 } else { 4 }])
        });
    }

    #[test]
    #[should_panic(expected = "o shorter than e")]
    fn seq_fill_refuses_to_interleave_unequal_rows() {
        par_new_seq(4, 4, |_, fill| fill.interleave(&[1.0f32, 2.0], &[3.0]));
    }

    #[test]
    #[should_panic(expected = "past its chunk")]
    fn seq_fill_refuses_a_long_chunk() {
        par_new_seq(8, 4, |_, fill| fill.put(&[1.0f32; 5]));
    }

    #[test]
    fn seq_fill2_builds_both_vectors_in_order_on_any_thread_count() {
        on_pools_and_chunkings(|len, chunk| {
            let (a, b): (Vec<f32>, Vec<u32>) = par_new_seq2(len, chunk, |i, fa, fb| {
                let end = ((i + 1) * chunk).min(len);
                // in rows of up to 3 values, as the pooling kernel
                for row in (i * chunk..end).collect::<Vec<_>>().chunks(3) {
                    let ys: Vec<f32> = row.iter().map(|&j| j as f32 + 0.5).collect();
                    let ks: Vec<u32> = row.iter().map(|&j| 2 * j as u32).collect();
                    fa.put_row(&ys);
                    fb.put(&ks);
                }
            });
            assert_eq!(a, (0..len).map(|j| j as f32 + 0.5).collect::<Vec<_>>());
            assert_eq!(b, (0..len as u32).map(|j| 2 * j).collect::<Vec<_>>());
        });
    }

    #[test]
    #[should_panic(expected = "fewer values than its chunk")]
    fn seq_fill2_refuses_a_short_chunk_in_either_vector() {
        par_new_seq2(8, 4, |i, fa, fb| {
            fa.put(&[1.0f32; 4]);
            fb.put(&[1u32; 4][..if i == 1 { 3 } else { 4 }]);
        });
    }

    #[test]
    #[should_panic(expected = "shorter than its chunk")]
    fn refuses_an_iterator_that_stops_early() {
        par_collect_chunks(8, 4, |i| (0..if i == 1 { 3 } else { 4 }).map(|j| j as f32));
    }
}
