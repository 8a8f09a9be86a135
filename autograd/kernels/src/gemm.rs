//! Safe strided GEMM on slices: `C = alpha * A B + beta * C`.
//!
//! The packing and micro-kernels are matrixmultiply's (its default features
//! keep the AVX-512/FMA kernels, chosen at run time with a portable fallback).
//! This file only checks, in checked arithmetic, that every index the kernel
//! will touch lies inside the slices and that every stride fits in `isize`;
//! it, `packed.rs` and `fastmath.rs` are the only places in the project (crate `kernels`) with
//! `unsafe`. The raw-kernel trait [`Gemm`] is sealed: its method needs a
//! [`Token`] that only this crate can make.

use crate::Element;

use crate::packed::Token;

/// The raw GEMM kernel of an element type (matrixmultiply's `sgemm` /
/// `dgemm`). Sealed (implemented for `f32` and `f64` only; its method needs
/// a [`Token`]): call the safe [`gemm`] instead.
pub trait Gemm: Sized {
    /// `C = alpha A B + beta C` on raw strided pointers.
    ///
    /// # Safety
    /// The pointers and strides must describe valid matrices of the given
    /// sizes, and `c` must not overlap `a` or `b` ([`gemm`] checks all of it).
    #[allow(clippy::too_many_arguments)]
    unsafe fn gemm_raw(
        token: Token,
        m: usize,
        k: usize,
        n: usize,
        alpha: Self,
        a: *const Self,
        rsa: isize,
        csa: isize,
        b: *const Self,
        rsb: isize,
        csb: isize,
        beta: Self,
        c: *mut Self,
        rsc: isize,
        csc: isize,
    );
}

macro_rules! impl_gemm {
    ($t:ty, $kernel:path) => {
        impl Gemm for $t {
            #[inline]
            unsafe fn gemm_raw(
                _: Token,
                m: usize,
                k: usize,
                n: usize,
                alpha: Self,
                a: *const Self,
                rsa: isize,
                csa: isize,
                b: *const Self,
                rsb: isize,
                csb: isize,
                beta: Self,
                c: *mut Self,
                rsc: isize,
                csc: isize,
            ) {
                // SAFETY: forwarded verbatim; the caller upholds the kernel's
                // contract (the safe `gemm` below checks it).
                unsafe { $kernel(m, k, n, alpha, a, rsa, csa, b, rsb, csb, beta, c, rsc, csc) }
            }
        }
    };
}

impl_gemm!(f32, matrixmultiply::sgemm);
impl_gemm!(f64, matrixmultiply::dgemm);

/// A read-only strided matrix view: element (i, j) is `data[i * rs + j * cs]`.
#[derive(Clone, Copy, Debug)]
pub struct MatRef<'a, T> {
    /// Backing storage.
    pub data: &'a [T],
    /// Rows.
    pub rows: usize,
    /// Columns.
    pub cols: usize,
    /// Row stride (elements).
    pub rs: usize,
    /// Column stride (elements).
    pub cs: usize,
}

impl<'a, T> MatRef<'a, T> {
    /// Row-major view of a `rows x cols` matrix.
    pub fn row_major(data: &'a [T], rows: usize, cols: usize) -> Self {
        MatRef {
            data,
            rows,
            cols,
            rs: cols,
            cs: 1,
        }
    }
    /// The transpose of this view (no copy).
    pub fn t(self) -> Self {
        MatRef {
            data: self.data,
            rows: self.cols,
            cols: self.rows,
            rs: self.cs,
            cs: self.rs,
        }
    }
    /// The largest index the view reads, `(rows-1)*rs + (cols-1)*cs`:
    /// `Ok(None)` for an empty view, `Err` when it overflows `usize`.
    fn max_index(&self) -> Result<Option<usize>, ()> {
        if self.rows == 0 || self.cols == 0 {
            return Ok(None);
        }
        let r = (self.rows - 1).checked_mul(self.rs).ok_or(())?;
        let c = (self.cols - 1).checked_mul(self.cs).ok_or(())?;
        r.checked_add(c).map(Some).ok_or(())
    }

    /// Whether every index the view reads is inside its slice, and both
    /// strides fit in `isize` (the kernel's pointer offsets).
    fn in_bounds(&self) -> bool {
        let strides_fit = isize::try_from(self.rs).is_ok() && isize::try_from(self.cs).is_ok();
        strides_fit
            && match self.max_index() {
                Ok(None) => true,
                Ok(Some(mx)) => mx < self.data.len(),
                Err(()) => false,
            }
    }
}

/// `c[m x n] (row-major, leading dimension ldc) = alpha * a b + beta * c`.
///
/// Panics (a bug in the caller, never user input: ops check shapes first) if
/// the shapes disagree, a view reaches past its slice, a stride or `ldc`
/// exceeds `isize::MAX`, or a bound overflows.
///
/// ```
/// use kernels::gemm::{gemm, MatRef};
/// let a = [1.0f32, 2.0, 3.0, 4.0]; // [[1,2],[3,4]]
/// let b = [1.0f32, 0.0, 0.0, 1.0]; // identity
/// let mut c = [0.0f32; 4];
/// gemm(1.0, MatRef::row_major(&a, 2, 2), MatRef::row_major(&b, 2, 2), 0.0, &mut c, 2);
/// assert_eq!(c, a);
/// ```
pub fn gemm<T: Element>(
    alpha: T,
    a: MatRef<'_, T>,
    b: MatRef<'_, T>,
    beta: T,
    c: &mut [T],
    ldc: usize,
) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    assert_eq!(a.cols, b.rows, "gemm: inner dimensions differ");
    if m == 0 || n == 0 {
        return;
    }
    assert!(ldc >= n, "gemm: ldc smaller than n");
    assert!(isize::try_from(ldc).is_ok(), "gemm: ldc exceeds isize::MAX");
    let c_end = (m - 1).checked_mul(ldc).and_then(|v| v.checked_add(n));
    assert!(
        c_end.is_some_and(|e| e <= c.len()),
        "gemm: C slice too short"
    );
    if k == 0 {
        for i in 0..m {
            for v in &mut c[i * ldc..i * ldc + n] {
                *v = if beta == T::ZERO { T::ZERO } else { *v * beta };
            }
        }
        return;
    }
    assert!(a.in_bounds(), "gemm: A view past its slice");
    assert!(b.in_bounds(), "gemm: B view past its slice");
    // SAFETY: every index the kernel reads, (i*rs + j*cs) for i < rows and
    // j < cols, is at most max_index(), checked above without overflow to be
    // inside `a.data` / `b.data`; every index it writes, i*ldc + j for i < m,
    // j < n, is below (m-1)*ldc + n <= c.len(), also checked without
    // overflow. Every stride and ldc was checked to fit in isize, so the
    // casts below keep their values. `c` is a unique borrow so it aliases
    // neither input.
    unsafe {
        T::gemm_raw(
            Token(()),
            m,
            k,
            n,
            alpha,
            a.data.as_ptr(),
            a.rs as isize,
            a.cs as isize,
            b.data.as_ptr(),
            b.rs as isize,
            b.cs as isize,
            beta,
            c.as_mut_ptr(),
            ldc as isize,
            1,
        )
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Test reference: `A B` by three plain loops (also used by `packed`).
    pub(crate) fn naive(a: MatRef<'_, f64>, b: MatRef<'_, f64>) -> Vec<f64> {
        let mut c = vec![0.0; a.rows * b.cols];
        for i in 0..a.rows {
            for j in 0..b.cols {
                for p in 0..a.cols {
                    c[i * b.cols + j] += a.data[i * a.rs + p * a.cs] * b.data[p * b.rs + j * b.cs];
                }
            }
        }
        c
    }

    #[test]
    fn matches_naive_loop_with_transposes() {
        for &(m, k, n) in &[(1, 1, 1), (3, 5, 7), (17, 9, 33), (64, 65, 3)] {
            let a: Vec<f64> = (0..m * k).map(|i| ((i * 7 % 11) as f64) - 5.0).collect();
            let b: Vec<f64> = (0..k * n)
                .map(|i| ((i * 5 % 13) as f64) * 0.5 - 3.0)
                .collect();
            let am = MatRef::row_major(&a, m, k);
            let bm = MatRef::row_major(&b, k, n);
            let mut c = vec![0.0; m * n];
            gemm(1.0, am, bm, 0.0, &mut c, n);
            assert_eq!(c, naive(am, bm));
            // A stored as its transpose: at = A^T is k x m, so view at.t().
            let mut at = vec![0.0; m * k];
            for i in 0..m {
                for p in 0..k {
                    at[p * m + i] = a[i * k + p];
                }
            }
            let atv = MatRef::row_major(&at, k, m).t();
            let mut c2 = vec![1.0; m * n];
            gemm(2.0, atv, bm, 1.0, &mut c2, n);
            let want: Vec<f64> = naive(am, bm).iter().map(|v| 2.0 * v + 1.0).collect();
            assert_eq!(c2, want);
        }
    }

    #[test]
    fn k_zero_scales_c() {
        let mut c = vec![2.0f32; 4];
        gemm(
            1.0,
            MatRef::row_major(&[], 2, 0),
            MatRef::row_major(&[], 0, 2),
            0.5,
            &mut c,
            2,
        );
        assert_eq!(c, vec![1.0; 4]);
    }

    /// The message of the panic `f` must raise (also used by `packed`'s tests).
    pub(crate) fn panic_message<F: FnOnce()>(f: F) -> String {
        let err =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).expect_err("must panic");
        err.downcast_ref::<String>()
            .cloned()
            .or_else(|| err.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default()
    }

    // Regressions: a stride or ldc of usize::MAX used to wrap in the bound
    // check (or turn negative as isize) and reach matrixmultiply out of
    // bounds. Each must now panic before the kernel runs.
    #[test]
    fn huge_strides_and_ldc_are_refused_before_the_kernel() {
        let a = vec![1.0f32; 16];
        let b = vec![1.0f32; 16];
        for rs in [usize::MAX, usize::MAX / 2 + 1, 1 << 63] {
            let msg = panic_message(|| {
                let mut c = vec![0.0f32; 16];
                let av = MatRef {
                    data: &a,
                    rows: 2,
                    cols: 2,
                    rs,
                    cs: 1,
                };
                gemm(1.0, av, MatRef::row_major(&b, 2, 2), 0.0, &mut c, 2);
            });
            assert!(msg.contains("A view past its slice"), "rs {rs}: {msg}");
        }
        // a stride that is never used (one row) must still fit in isize
        let msg = panic_message(|| {
            let mut c = vec![0.0f32; 16];
            let bv = MatRef {
                data: &b,
                rows: 1,
                cols: 2,
                rs: usize::MAX,
                cs: 1,
            };
            gemm(1.0, MatRef::row_major(&a, 2, 1), bv, 0.0, &mut c, 2);
        });
        assert!(msg.contains("B view past its slice"), "{msg}");
        for ldc in [usize::MAX, usize::MAX / 2 + 1] {
            let msg = panic_message(|| {
                let mut c = vec![0.0f32; 16];
                gemm(
                    1.0,
                    MatRef::row_major(&a, 2, 2),
                    MatRef::row_major(&b, 2, 2),
                    0.0,
                    &mut c,
                    ldc,
                );
            });
            assert!(
                msg.contains("C slice too short") || msg.contains("ldc exceeds"),
                "ldc {ldc}: {msg}"
            );
        }
    }
}
