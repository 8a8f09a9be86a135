//! Strided transposes, the core of packing a row-major A (or a transposed
//! B, such as `linear`'s weight) into the GEMM's panels.
//!
//! [`transpose`]: `dst[c * ds + r] = src[r * ss + c]` for `r < rows`,
//! `c < cols`. A plain loop does one scalar load and one scalar store per
//! value, with the stores `ds` values apart; that is what packing cost
//! before (`PackedA::fill` and `PackedB::fill` were 5-9% of the ConvNet
//! training step). For f32 on an AVX2 (or AVX-512) CPU, 8 x 8 blocks go
//! through registers: each block is 8 two-half loads (a 128-bit load and
//! a 128-bit insert of the row 4 below, so no cross-lane shuffle is
//! needed: Zen 1 splits those into 8 uops), 16 in-lane unpacks and
//! shuffles, and 8 full-width stores. The edges (fewer than 8 rows or
//! columns) are the plain loop. A transpose only moves values, so every
//! path gives the same result, bit for bit.
//!
//! The one `unsafe` block here calls the AVX2 function after the safe
//! wrapper has checked every bound in checked arithmetic; this is a kernel
//! file of crate `kernels`.

use crate::Element;

/// `dst[c * ds + r] = src[r * ss + c]` for `r < rows`, `c < cols`; the
/// other values of `dst` are left as they are.
///
/// ```
/// use kernels::transpose::transpose;
/// // 2 x 3, row stride 3  ->  3 x 2 with row stride 4 (2 values of padding)
/// let src = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0];
/// let mut dst = [0.0f32; 12];
/// transpose(&src, 3, 2, 3, &mut dst, 4);
/// assert_eq!(dst, [1.0, 4.0, 0.0, 0.0, 2.0, 5.0, 0.0, 0.0, 3.0, 6.0, 0.0, 0.0]);
/// ```
///
/// Panics if `src` or `dst` is too short for the strides and counts (in
/// checked arithmetic), or if `rows > ds` with more than one column (the
/// destination's columns would overlap). Source rows may overlap (`ss <
/// cols`, such as a view whose both strides are 1).
pub fn transpose<T: Element>(
    src: &[T],
    ss: usize,
    rows: usize,
    cols: usize,
    dst: &mut [T],
    ds: usize,
) {
    if rows == 0 || cols == 0 {
        return;
    }
    // overlapping source rows only read some values twice; overlapping
    // destination columns would make the result depend on the write order
    assert!(
        rows <= ds || cols == 1,
        "transpose: the destination stride is smaller than the rows it separates"
    );
    T::transpose_impl(crate::packed::Token(()), src, ss, rows, cols, dst, ds);
}

/// Panics unless `(rows-1)*ss + cols <= src_len` and `(cols-1)*ds + rows
/// <= dst_len`, computed without overflow (`rows, cols >= 1`). Every path
/// of [`transpose`] runs it first, the AVX2 one right before its
/// `unsafe` block.
pub(crate) fn check_lengths(
    src_len: usize,
    ss: usize,
    (rows, cols): (usize, usize),
    dst_len: usize,
    ds: usize,
) {
    let src_need = (rows - 1).checked_mul(ss).and_then(|v| v.checked_add(cols));
    let dst_need = (cols - 1).checked_mul(ds).and_then(|v| v.checked_add(rows));
    assert!(
        src_need.is_some_and(|l| l <= src_len) && dst_need.is_some_and(|l| l <= dst_len),
        "transpose: slice too short"
    );
}

/// The plain loop over rows `r0..rows` and columns `c0..cols` (bounds
/// checked by the caller; slice indexing checks them again).
#[allow(clippy::too_many_arguments)]
pub(crate) fn transpose_loop<T: Copy>(
    src: &[T],
    ss: usize,
    (r0, rows): (usize, usize),
    (c0, cols): (usize, usize),
    dst: &mut [T],
    ds: usize,
) {
    for r in r0..rows {
        let row = &src[r * ss..r * ss + cols];
        for c in c0..cols {
            dst[c * ds + r] = row[c];
        }
    }
}

/// f32: 8 x 8 register blocks on AVX2 / AVX-512 CPUs, the plain loop
/// elsewhere, after [`check_lengths`] (`rows, cols >= 1`).
pub(crate) fn transpose_f32(
    src: &[f32],
    ss: usize,
    rows: usize,
    cols: usize,
    dst: &mut [f32],
    ds: usize,
) {
    check_lengths(src.len(), ss, (rows, cols), dst.len(), ds);
    #[cfg(target_arch = "x86_64")]
    {
        if crate::cpu::active() >= crate::cpu::Isa::Avx2 && rows >= 8 && cols >= 8 {
            let (rb, cb) = (rows / 8 * 8, cols / 8 * 8);
            // SAFETY: active() >= Avx2 means detected() found AVX2 (and
            // FMA). check_lengths just proved, without overflow, that
            // (rows-1)*ss + cols <= src.len() and (cols-1)*ds + rows <=
            // dst.len(); the kernel reads src[r*ss + c] and writes
            // dst[c*ds + r] only for r < rb <= rows, c < cb <= cols, so
            // every access is inside its slice. dst is a unique borrow,
            // so it does not alias src.
            unsafe { avx2::blocks_8x8(src.as_ptr(), ss, rb, cb, dst.as_mut_ptr(), ds) };
            // the right edge (columns cb..cols of every row) and the bottom
            // edge (rows rb..rows of the first cb columns)
            transpose_loop(src, ss, (0, rows), (cb, cols), dst, ds);
            transpose_loop(src, ss, (rb, rows), (0, cb), dst, ds);
            return;
        }
    }
    transpose_loop(src, ss, (0, rows), (0, cols), dst, ds);
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    /// Transposes the `rb x cb` block (both multiples of 8) in 8 x 8 tiles.
    ///
    /// # Safety
    /// AVX2 must be present; `src + r*ss + c` must be readable and
    /// `dst + c*ds + r` writable for `r < rb`, `c < cb`; the two must not
    /// overlap.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn blocks_8x8(
        src: *const f32,
        ss: usize,
        rb: usize,
        cb: usize,
        dst: *mut f32,
        ds: usize,
    ) {
        for r0 in (0..rb).step_by(8) {
            for c0 in (0..cb).step_by(8) {
                // SAFETY: r0 + 7 < rb and c0 + 7 < cb, within the caller's
                // contract.
                unsafe { tile(src.add(r0 * ss + c0), ss, dst.add(c0 * ds + r0), ds) };
            }
        }
    }

    /// `lo[0..4]` in the low 128-bit lane, `hi[0..4]` in the high one.
    ///
    /// # Safety
    /// AVX2; 4 floats readable at `lo` and at `hi`.
    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn two_halves(lo: *const f32, hi: *const f32) -> __m256 {
        unsafe {
            _mm256_insertf128_ps::<1>(_mm256_castps128_ps256(_mm_loadu_ps(lo)), _mm_loadu_ps(hi))
        }
    }

    /// One 8 x 8 tile: `d[c * ds + r] = s[r * ss + c]`, `r, c < 8`.
    ///
    /// # Safety
    /// AVX2; `s + r*ss + c` readable and `d + c*ds + r` writable for
    /// `r, c < 8`.
    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn tile(s: *const f32, ss: usize, d: *mut f32, ds: usize) {
        // row i of the tile's left half in the low lane, row i + 4's in
        // the high lane (and the same for the right half): each 128-bit
        // lane then holds a 4 x 4 block, transposed in-lane
        // SAFETY (every load and store here): offsets below 8 rows of ss
        // and 8 columns, within the caller's contract.
        let row =
            |i: usize, c: usize| unsafe { two_halves(s.add(i * ss + c), s.add((i + 4) * ss + c)) };
        for c in [0usize, 4] {
            let (r0, r1, r2, r3) = (row(0, c), row(1, c), row(2, c), row(3, c));
            let t0 = _mm256_unpacklo_ps(r0, r1); // a0 b0 a1 b1 | e0 f0 e1 f1
            let t1 = _mm256_unpackhi_ps(r0, r1); // a2 b2 a3 b3 | e2 f2 e3 f3
            let t2 = _mm256_unpacklo_ps(r2, r3); // c0 d0 c1 d1 | g0 h0 g1 h1
            let t3 = _mm256_unpackhi_ps(r2, r3); // c2 d2 c3 d3 | g2 h2 g3 h3
            let o = [
                _mm256_shuffle_ps::<0x44>(t0, t2), // column c:     a b c d | e f g h
                _mm256_shuffle_ps::<0xEE>(t0, t2), // column c + 1
                _mm256_shuffle_ps::<0x44>(t1, t3), // column c + 2
                _mm256_shuffle_ps::<0xEE>(t1, t3), // column c + 3
            ];
            for (j, v) in o.into_iter().enumerate() {
                unsafe { _mm256_storeu_ps(d.add((c + j) * ds), v) };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(src: &[f32], ss: usize, rows: usize, cols: usize, dst: &mut [f32], ds: usize) {
        for r in 0..rows {
            for c in 0..cols {
                dst[c * ds + r] = src[r * ss + c];
            }
        }
    }

    /// Every shape from empty to 3 tiles plus edges, with padded strides,
    /// against the plain double loop; the padding must stay untouched.
    #[test]
    fn matches_the_plain_loop_with_edges_and_padding() {
        for rows in [0usize, 1, 7, 8, 9, 16, 17, 23] {
            for cols in [0usize, 1, 5, 8, 12, 16, 25] {
                for (spad, dpad) in [(0usize, 0usize), (3, 1), (8, 16)] {
                    let (ss, ds) = (cols + spad, rows + dpad);
                    let src: Vec<f32> = (0..rows * ss).map(|i| i as f32 * 0.5 - 7.0).collect();
                    let len = cols * ds;
                    let mut got = vec![-1.0f32; len];
                    let mut want = vec![-1.0f32; len];
                    transpose(&src, ss, rows, cols, &mut got, ds);
                    reference(&src, ss, rows, cols, &mut want, ds);
                    assert_eq!(got, want, "rows {rows} cols {cols} ss {ss} ds {ds}");
                }
            }
        }
    }

    /// The AVX2 blocks called directly (whatever `LECTURE_GRAD_MAX_ISA`
    /// says), when this CPU has AVX2: every 8 x 8 tile of a 16 x 24 block
    /// in padded strides, against the plain loop, padding untouched.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx2_blocks_match_the_plain_loop() {
        if !std::is_x86_feature_detected!("avx2") {
            eprintln!("no AVX2 here: the AVX2 transpose is not tested");
            return;
        }
        let (rows, cols, ss, ds) = (16usize, 24usize, 27usize, 19usize);
        let src: Vec<f32> = (0..rows * ss).map(|i| (i as f32).sin()).collect();
        let mut got = vec![f32::NAN; cols * ds];
        let mut want = got.clone();
        // SAFETY: AVX2 detected; src holds rows * ss >= (rows-1)*ss + cols
        // values and got cols * ds >= (cols-1)*ds + rows; distinct vectors.
        unsafe { avx2::blocks_8x8(src.as_ptr(), ss, rows, cols, got.as_mut_ptr(), ds) };
        reference(&src, ss, rows, cols, &mut want, ds);
        assert_eq!(
            got.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            want.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        );
    }

    /// The f64 (portable) path too.
    #[test]
    fn f64_matches() {
        let src: Vec<f64> = (0..9 * 10).map(|i| i as f64).collect();
        let mut dst = vec![0.0f64; 10 * 9];
        transpose(&src, 10, 9, 10, &mut dst, 9);
        for r in 0..9 {
            for c in 0..10 {
                assert_eq!(dst[c * 9 + r], src[r * 10 + c]);
            }
        }
    }

    /// The bounds the kernel relies on are checked before it runs.
    #[test]
    #[should_panic(expected = "transpose: slice too short")]
    fn rejects_a_short_destination() {
        let src = vec![0.0f32; 64];
        let mut dst = vec![0.0f32; 63];
        transpose(&src, 8, 8, 8, &mut dst, 8);
    }

    #[test]
    #[should_panic(expected = "transpose: slice too short")]
    fn rejects_a_stride_that_overflows() {
        let src = vec![0.0f32; 64];
        let mut dst = vec![0.0f32; 64];
        transpose(&src, usize::MAX / 2, 8, 8, &mut dst, 8);
    }

    #[test]
    #[should_panic(expected = "stride is smaller")]
    fn rejects_overlapping_destination_columns() {
        let src = vec![0.0f32; 64];
        let mut dst = vec![0.0f32; 64];
        transpose(&src, 8, 8, 8, &mut dst, 4);
    }

    /// Source rows that overlap (stride 1, as in a 1-column view read as
    /// rows) are only read, so they are allowed, on the SIMD path too.
    #[test]
    fn overlapping_source_rows_are_read_as_written() {
        let src: Vec<f32> = (0..24).map(|i| i as f32).collect();
        let mut got = vec![0.0f32; 16 * 9];
        let mut want = got.clone();
        transpose(&src, 1, 9, 16, &mut got, 9);
        reference(&src, 1, 9, 16, &mut want, 9);
        assert_eq!(got, want);
    }
}
