//! Short copies (rows of a few to a few dozen values) done inline, not
//! through a call to `memmove`.
//!
//! `copy_from_slice` with a length known only at run time is a call to
//! libc's `memmove`, whose call, size dispatch and return cost more than
//! moving a row of 2 to 32 floats. The Winograd transforms copy such rows
//! one at a time (a padded input row, a row shared by two tile rows, a
//! 32-float run into a GEMM panel, an output row): `memmove` was 10% of
//! the 1-thread training step's samples (perf, Zen 4), most of it from
//! those rows. For f32 on a CPU with AVX2, [`copy_short`] moves rows of
//! up to 32 floats with at most four ymm loads and stores, the last one
//! overlapping (smaller moves below 8 floats); longer rows, other types and
//! other CPUs take `copy_from_slice`.
//! Both give the same values: a copy is a copy.

use crate::Element;
use std::mem::MaybeUninit;

/// `s` as a slice of f32, when `T` is f32.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub(crate) fn as_f32<T: Element>(s: &[T]) -> Option<&[f32]> {
    (std::any::TypeId::of::<T>() == std::any::TypeId::of::<f32>()).then(|| {
        // SAFETY: T is f32 (same TypeId), so this is the same slice with
        // its type spelled out: same pointer, length and lifetime.
        unsafe { std::slice::from_raw_parts(s.as_ptr().cast::<f32>(), s.len()) }
    })
}

/// `s` as a mutable slice of f32, when `T` is f32.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub(crate) fn as_f32_mut<T: Element>(s: &mut [T]) -> Option<&mut [f32]> {
    if std::any::TypeId::of::<T>() != std::any::TypeId::of::<f32>() {
        return None;
    }
    // SAFETY: as in as_f32; the unique borrow of s moves into the result.
    Some(unsafe { std::slice::from_raw_parts_mut(s.as_mut_ptr().cast::<f32>(), s.len()) })
}

/// Whether [`copy_short`] takes its AVX2 path for `T`.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn simd<T: Element>() -> bool {
    std::any::TypeId::of::<T>() == std::any::TypeId::of::<f32>()
        && crate::cpu::active() >= crate::cpu::Isa::Avx2
}

/// `dst.copy_from_slice(src)`, inline for f32 with AVX2. Panics if the
/// lengths differ.
#[inline(always)]
pub(crate) fn copy_short<T: Element>(dst: &mut [T], src: &[T]) {
    assert_eq!(dst.len(), src.len(), "copy_short: lengths differ");
    #[cfg(target_arch = "x86_64")]
    if simd::<T>() {
        // SAFETY: AVX2 is present (active() is at most detected()); T is
        // f32, so both slices hold len f32 values, dst writable, and they
        // do not overlap (a unique and a shared borrow).
        unsafe { avx2(dst.as_mut_ptr().cast(), src.as_ptr().cast(), src.len()) };
        return;
    }
    dst.copy_from_slice(src);
}

/// [`copy_short`] into slots not yet written. Panics if the lengths
/// differ.
#[inline(always)]
pub(crate) fn copy_short_uninit<T: Element>(dst: &mut [MaybeUninit<T>], src: &[T]) {
    assert_eq!(dst.len(), src.len(), "copy_short: lengths differ");
    #[cfg(target_arch = "x86_64")]
    if simd::<T>() {
        // SAFETY: as in copy_short (MaybeUninit<f32> has f32's layout,
        // and writing initialises it).
        unsafe { avx2(dst.as_mut_ptr().cast(), src.as_ptr().cast(), src.len()) };
        return;
    }
    dst.write_copy_of_slice(src);
}

/// Asks the CPU to bring every cache line of `s` into L1 (a hint: no
/// value changes, no fault, whatever the CPU does with it).
///
/// For data that a kernel will read soon but that the hardware
/// prefetcher does not see coming: the next plane of an NCHW tensor
/// starts a new 4 KiB page `C H W` floats away, so its first lines
/// would otherwise be read from memory while the core waits.
#[inline(always)]
pub(crate) fn prefetch<T>(s: &[T]) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        let bytes = std::mem::size_of_val(s);
        let p = s.as_ptr().cast::<i8>();
        let mut at = 0;
        while at < bytes {
            // SAFETY: SSE is part of every x86-64 CPU; prefetcht0 never
            // faults and changes no memory, and p + at stays inside s
            // (at < its size in bytes).
            unsafe { _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(at)) };
            at += 64;
        }
        if bytes > 0 {
            // the last byte's line, which the steps above miss when s
            // starts inside a line
            // SAFETY: as above; bytes - 1 is s's last byte
            unsafe { _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(bytes - 1)) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = s;
}

/// Copies `n` floats from `src` to `dst`.
///
/// # Safety
/// AVX2; `src` readable and `dst` writable for `n` floats; the two ranges
/// do not overlap.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn avx2(dst: *mut f32, src: *const f32, n: usize) {
    use std::arch::x86_64::*;
    // SAFETY (every access below): each reads src[a..a + w] and writes
    // dst[a..a + w] with a + w <= n: vectors from the start, then the last
    // vector of the row (a = n - w, overlapping the ones before it with the
    // same values), or, below 8, two halves that overlap the same way.
    // Straight-line code, no loop: LLVM turns a loop of vector loads and
    // stores back into a call to memcpy. Longer rows take that call.
    unsafe {
        if n > 32 {
            std::ptr::copy_nonoverlapping(src, dst, n);
        } else if n >= 8 {
            _mm256_storeu_ps(dst, _mm256_loadu_ps(src));
            if n > 16 {
                _mm256_storeu_ps(dst.add(8), _mm256_loadu_ps(src.add(8)));
            }
            if n > 24 {
                _mm256_storeu_ps(dst.add(16), _mm256_loadu_ps(src.add(16)));
            }
            _mm256_storeu_ps(dst.add(n - 8), _mm256_loadu_ps(src.add(n - 8)));
        } else if n >= 4 {
            _mm_storeu_ps(dst, _mm_loadu_ps(src));
            _mm_storeu_ps(dst.add(n - 4), _mm_loadu_ps(src.add(n - 4)));
        } else if n >= 2 {
            let (a, b) = (
                src.cast::<u64>().read_unaligned(),
                src.add(n - 2).cast::<u64>().read_unaligned(),
            );
            dst.cast::<u64>().write_unaligned(a);
            dst.add(n - 2).cast::<u64>().write_unaligned(b);
        } else if n == 1 {
            *dst = *src;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_copies_of_every_length_write_exactly_their_range() {
        for n in 0..70usize {
            for off in [0usize, 1, 3] {
                let src: Vec<f32> = (0..n + off).map(|i| i as f32 + 0.5).collect();
                let mut dst = vec![-1.0f32; n + 2 * off + 3];
                copy_short(&mut dst[off..off + n], &src[off..]);
                for (i, &v) in dst.iter().enumerate() {
                    let want = if (off..off + n).contains(&i) {
                        src[i]
                    } else {
                        -1.0
                    };
                    assert_eq!(v.to_bits(), want.to_bits(), "n {n} off {off} at {i}");
                }
                let mut un = vec![MaybeUninit::new(-1.0f32); n + 2];
                copy_short_uninit(&mut un[1..1 + n], &src[off..]);
                for (i, v) in un.iter().enumerate() {
                    // SAFETY: every slot was initialised (-1, then copied)
                    let v = unsafe { v.assume_init() };
                    let want = if (1..1 + n).contains(&i) {
                        src[off + i - 1]
                    } else {
                        -1.0
                    };
                    assert_eq!(v.to_bits(), want.to_bits(), "uninit n {n} at {i}");
                }
                // f64 takes copy_from_slice: same values
                let s64: Vec<f64> = src.iter().map(|&v| v as f64).collect();
                let mut d64 = vec![0.0f64; n];
                copy_short(&mut d64, &s64[off..]);
                assert_eq!(d64, s64[off..]);
            }
        }
    }

    #[test]
    fn prefetch_changes_nothing_at_any_length_or_offset() {
        // sub-slices ending at the allocation's end, of every length up to
        // a few lines, of one- and eight-byte elements
        let bytes: Vec<u8> = (0..300u32).map(|i| (i * 7) as u8).collect();
        let wide: Vec<f64> = (0..40).map(|i| i as f64 * 0.25).collect();
        for from in 0..bytes.len() {
            prefetch(&bytes[from..]);
            prefetch(&bytes[..from]);
        }
        for from in 0..wide.len() {
            prefetch(&wide[from..]);
        }
        prefetch::<f32>(&[]);
        assert!(bytes
            .iter()
            .enumerate()
            .all(|(i, &b)| b == (i as u32 * 7) as u8));
        assert!(wide.iter().enumerate().all(|(i, &v)| v == i as f64 * 0.25));
    }

    #[test]
    #[should_panic(expected = "copy_short: lengths differ")]
    fn different_lengths_panic() {
        copy_short(&mut [0.0f32; 3], &[1.0f32; 4]);
    }
}
