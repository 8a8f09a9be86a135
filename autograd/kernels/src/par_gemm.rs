//! GEMM split across rayon threads by blocks of output rows: `matmul`'s and
//! `linear`'s forward and backward.
//!
//! f32 on a CPU with a SIMD micro-kernel (AVX2+FMA or AVX-512F) takes our
//! packed GEMM (`kernels::packed::par_gemm_views`: B packed once across the
//! threads, each thread packing its own rows of A) whenever `alpha = 1` and
//! `beta` is 0 or 1, which is every call the ops make; f64 and the rest
//! take matrixmultiply. matrixmultiply has AVX2 kernels but none for
//! AVX-512, so on an AVX-512 CPU it reaches about half of the peak (issue
//! 10 measured half of MKL's sgemm on Cascade Lake); on Zen 1 (AVX2) both
//! measured 66 GFLOP/s on `linear`'s 1000 x 500 x 500 at 2 threads, and
//! the packed one 84% vs 81% of peak on 1024^3.
//!
//! Every output element is computed by exactly the same sequence of
//! multiply-adds whatever the thread count, so results are bit-identical with
//! 1 or N threads. matrixmultiply's own threading is not used (it splits in
//! 64-row blocks, which leaves small-M GEMMs on one thread).

use crate::gemm::{gemm, MatRef};
use crate::packed::{fast_kernel_available, par_gemm_views};
use crate::Element;
use rayon::prelude::*;

/// Below this many multiply-adds a GEMM runs on the calling thread.
const PAR_MIN_WORK: usize = 1 << 18;

/// `c[m x n] = alpha a b + beta c`, c row-major with leading dimension n,
/// rows split across threads.
pub fn par_gemm<T: Element>(alpha: T, a: MatRef<'_, T>, b: MatRef<'_, T>, beta: T, c: &mut [T]) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    // saturating: only a size heuristic
    let work = m.saturating_mul(k).saturating_mul(n);
    if fast_kernel_available::<T>()
        && work >= PAR_MIN_WORK
        && alpha == T::ONE
        && (beta == T::ZERO || beta == T::ONE)
    {
        par_gemm_views(a, b, c, n, beta == T::ONE);
        return;
    }
    let threads = rayon::current_num_threads();
    if threads <= 1 || work < PAR_MIN_WORK || m < 16 {
        gemm(alpha, a, b, beta, c, n);
        return;
    }
    // rows per block: a multiple of 8, about 2 blocks per thread for balance
    let rows = (m.div_ceil(threads * 2)).next_multiple_of(8).max(8);
    c[..m * n]
        .par_chunks_mut(rows * n)
        .enumerate()
        .for_each(|(bi, cb)| {
            let r0 = bi * rows;
            let mr = cb.len() / n;
            let sub = MatRef {
                data: &a.data[r0 * a.rs..],
                rows: mr,
                cols: k,
                rs: a.rs,
                cs: a.cs,
            };
            gemm(alpha, sub, b, beta, cb, n);
        });
}

/// `rows` copies of `bias`: a GEMM's C initialised to the bias in every
/// row, for `par_gemm` with `beta = 1` (`linear`'s output), written in
/// parallel once instead of row by row on one thread.
///
/// ```
/// assert_eq!(kernels::par_gemm::bias_rows(&[1.0f32, 2.0], 2), [1.0, 2.0, 1.0, 2.0]);
/// ```
pub fn bias_rows<T: Element>(bias: &[T], rows: usize) -> Vec<T> {
    crate::scratch::repeat_row(bias, rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn par_gemm_matches_serial_bitwise() {
        let (m, k, n) = (301, 67, 129);
        let a: Vec<f32> = (0..m * k)
            .map(|i| ((i * 37 % 101) as f32) / 50.0 - 1.0)
            .collect();
        let b: Vec<f32> = (0..k * n)
            .map(|i| ((i * 53 % 97) as f32) / 40.0 - 1.2)
            .collect();
        let mut c1 = vec![0.0; m * n];
        let mut c2 = vec![0.0; m * n];
        gemm(
            1.0,
            MatRef::row_major(&a, m, k),
            MatRef::row_major(&b, k, n),
            0.0,
            &mut c1,
            n,
        );
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap();
        pool.install(|| {
            par_gemm(
                1.0,
                MatRef::row_major(&a, m, k),
                MatRef::row_major(&b, k, n),
                0.0,
                &mut c2,
            )
        });
        assert_eq!(c1, c2);
        // and against a naive loop in f64
        for i in (0..m).step_by(37) {
            for j in (0..n).step_by(11) {
                let want: f64 = (0..k)
                    .map(|p| a[i * k + p] as f64 * b[p * n + j] as f64)
                    .sum();
                assert!((c1[i * n + j] as f64 - want).abs() < 1e-3);
            }
        }
    }
}
