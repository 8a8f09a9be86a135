//! Packed GEMM with our own micro-kernel, for operands that are reused
//! (a convolution's weights across a batch) or built piece by piece (a weight
//! gradient summed over several samples in one GEMM).
//!
//! `C[m x n] (+)= A[m x k] B[k x n]`, where
//! - [`PackedA`] holds A as panels of [`MR`] rows, each `k x MR`, k-major
//!   (element (i, p) of panel `i / MR` at `p * MR + i % MR`), zero-padded;
//! - [`PackedB`] holds B as panels of [`NR`] columns, each `k x NR`
//!   (element (p, j) of panel `j / NR` at `p * NR + j % NR`), zero-padded.
//!
//! Both can be filled in slices along k ([`PackedA::fill`] /
//! [`PackedB::fill`] at a k offset), so `sum_s A_s B_s` is one GEMM over the
//! concatenated k. The driver blocks k by [`Blocking::kc`] (a B micro-panel, `kc x NR`,
//! stays in L1) and m by [`Blocking::mc`] rows (the A block stays in L2), and calls an
//! `MR x NR` micro-kernel on each tile of C.
//!
//! Micro-kernels (chosen once per process, see [`crate::cpu`]): f32 on a
//! CPU with AVX-512F gets a 16 x 16 register-blocked FMA kernel (16
//! accumulators, one B vector and 16 broadcasts of A per k); with AVX2+FMA,
//! the same tile as 6 + 6 + 4 rows of 2 ymm each (12 accumulators, 2 B
//! loads and 6 broadcasts per 12 FMAs); every other case a portable loop.
//! [`fast_kernel_available`] tells callers whether the packed path beats
//! matrixmultiply's (the ops crate falls back to it otherwise). Every tile of C is computed by the same
//! sequence of operations whatever the caller's threading, so results do not
//! depend on the thread count.
//!
//! This is one of the three kernel files (crate `kernels`) with `unsafe`
//! (`gemm.rs`, `packed.rs`, `fastmath.rs`; here the AVX-512 and AVX2
//! kernels' raw loads and stores, and the calls into `target_feature`
//! functions, the FMA peak probe's included); the packing and the driver
//! are safe code, and the safe wrapper checks every bound the kernels rely
//! on in checked arithmetic.
//! The [`MicroKernel`] trait is sealed: its method takes a [`Token`] that
//! only this crate can make.

use crate::gemm::MatRef;
use crate::Element;

/// Rows of A (and C) per micro-tile.
pub const MR: usize = 16;
/// Columns of B (and C) per micro-tile.
pub const NR: usize = 16;
/// The cache blocking of [`gemm_packed`]: k blocks of at most `kc`, m
/// blocks of `mc` rows (a multiple of `MR`). See [`crate::cpu`] for the
/// rule and the table by CPU family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Blocking {
    /// Depth of one k block: the `kc x NR` B micro-panel fills about half of L1d.
    pub kc: usize,
    /// Rows of one A block: `mc x kc` fills about half of L2.
    pub mc: usize,
}

impl Blocking {
    /// The blocking for an L1d and an L2 of these sizes (bytes per core),
    /// in f32: kc a multiple of 16 in 128..=512, mc a multiple of `MR` in
    /// `4 MR..=1024`.
    ///
    /// ```
    /// use kernels::packed::Blocking;
    /// assert_eq!(Blocking::for_caches(32 << 10, 512 << 10), Blocking { kc: 256, mc: 256 });
    /// assert_eq!(Blocking::for_caches(48 << 10, 2 << 20), Blocking { kc: 384, mc: 672 });
    /// ```
    pub fn for_caches(l1d: usize, l2: usize) -> Blocking {
        let f = std::mem::size_of::<f32>();
        let kc = (l1d / 2 / (NR * f)) / 16 * 16;
        let kc = kc.clamp(128, 512);
        let mc = (l2 / 2 / (kc * f)) / MR * MR;
        Blocking {
            kc,
            mc: mc.clamp(4 * MR, 1024),
        }
    }
}

/// This CPU's blocking ([`Blocking::for_caches`] of [`crate::cpu::info`]),
/// decided once per process; the environment variable
/// `LECTURE_GRAD_BLOCKING=KC,MC` overrides it (for tuning and A/B
/// measurements: kc in 1..=4096, mc a multiple of 16 in 16..=8192; other
/// values are reported on stderr and ignored).
pub fn blocking() -> Blocking {
    static B: std::sync::OnceLock<Blocking> = std::sync::OnceLock::new();
    *B.get_or_init(|| {
        if let Ok(v) = std::env::var("LECTURE_GRAD_BLOCKING") {
            match parse_blocking(&v) {
                Some(b) => return b,
                None => eprintln!(
                    "warning: LECTURE_GRAD_BLOCKING={v:?} is not KC,MC with kc in 1..=4096 and mc a multiple of {MR} in {MR}..=8192: ignored"
                ),
            }
        }
        let i = crate::cpu::info();
        Blocking::for_caches(i.l1d, i.l2)
    })
}

fn parse_blocking(v: &str) -> Option<Blocking> {
    let (k, m) = v.split_once(',')?;
    let (kc, mc) = (
        k.trim().parse::<usize>().ok()?,
        m.trim().parse::<usize>().ok()?,
    );
    ((1..=4096).contains(&kc) && (MR..=8192).contains(&mc) && mc % MR == 0)
        .then_some(Blocking { kc, mc })
}

/// Elements of a packed matrix: `rows` rounded up to whole panels of `panel`,
/// times `k`. Panics (naming `what`) when that overflows `usize`.
fn packed_len(rows: usize, panel: usize, k: usize, what: &str) -> usize {
    rows.div_ceil(panel)
        .checked_mul(panel)
        .and_then(|r| r.checked_mul(k))
        .unwrap_or_else(|| panic!("{what}: {rows} x {k} overflows usize"))
}

/// A packed as `MR`-row panels over the whole k (see the module docs).
#[derive(Clone, Debug, Default)]
pub struct PackedA<T> {
    data: Vec<T>,
    m: usize,
    k: usize,
}

/// B packed as `NR`-column panels over the whole k (see the module docs).
#[derive(Clone, Debug, Default)]
pub struct PackedB<T> {
    data: Vec<T>,
    k: usize,
    n: usize,
}

impl<T: Element> PackedA<T> {
    /// A zero `m x k` matrix, ready to be filled.
    pub fn zeros(m: usize, k: usize) -> Self {
        let mut p = PackedA::default();
        p.reset(m, k);
        p
    }

    /// Packs all of `a`.
    ///
    /// ```
    /// use kernels::gemm::MatRef;
    /// use kernels::packed::{gemm_packed, PackedA, PackedB};
    /// let a = [1.0f64, 2.0, 3.0, 4.0];
    /// let b = [5.0f64, 6.0, 7.0, 8.0];
    /// let pa = PackedA::pack(MatRef::row_major(&a, 2, 2));
    /// let pb = PackedB::pack(MatRef::row_major(&b, 2, 2));
    /// let mut c = [0.0; 4];
    /// gemm_packed(&pa, &pb, &mut c, 2, false);
    /// assert_eq!(c, [19.0, 22.0, 43.0, 50.0]);
    /// ```
    pub fn pack(a: MatRef<'_, T>) -> Self {
        let mut p = Self::zeros(a.rows, a.cols);
        p.fill(0, a);
        p
    }

    /// Makes this an `m x k` zero matrix, reusing the allocation.
    pub fn reset(&mut self, m: usize, k: usize) {
        self.m = m;
        self.k = k;
        self.data.clear();
        self.data.resize(packed_len(m, MR, k, "PackedA"), T::ZERO);
    }

    /// Shapes this as `m x k` for refilling, keeping the buffer (and its
    /// zero padding) when the shape is unchanged; see [`PackedB::reuse`].
    pub fn reuse(&mut self, m: usize, k: usize) {
        if (m, k) != (self.m, self.k) || self.data.len() != packed_len(m, MR, k, "PackedA") {
            self.reset(m, k);
        }
    }

    /// Rows.
    pub fn rows(&self) -> usize {
        self.m
    }

    /// Writes `src` (`m x kk`) into columns `k0 .. k0 + kk`.
    ///
    /// Panics if `src` has other than `m` rows or reaches past k (a bug in
    /// the caller, never user input).
    pub fn fill(&mut self, k0: usize, src: MatRef<'_, T>) {
        let (m, k, kk) = (self.m, self.k, src.cols);
        assert_eq!(src.rows, m, "PackedA::fill: row count differs");
        assert!(
            k0.checked_add(kk).is_some_and(|e| e <= k),
            "PackedA::fill: past k"
        );
        if m == 0 || kk == 0 {
            return;
        }
        for (ip, panel) in self.data.chunks_exact_mut(k * MR).enumerate() {
            let i0 = ip * MR;
            let rows = MR.min(m - i0);
            let dst = &mut panel[k0 * MR..(k0 + kk) * MR];
            if src.cs == 1 {
                // rows of src are contiguous: read each row once
                for ii in 0..rows {
                    let row = &src.data[(i0 + ii) * src.rs..][..kk];
                    for (d, &v) in dst.chunks_exact_mut(MR).zip(row) {
                        d[ii] = v;
                    }
                }
            } else {
                for (p, d) in dst.chunks_exact_mut(MR).enumerate() {
                    let base = p * src.cs + i0 * src.rs;
                    for (ii, v) in d[..rows].iter_mut().enumerate() {
                        *v = src.data[base + ii * src.rs];
                    }
                }
            }
        }
    }
}

impl<T: Element> PackedB<T> {
    /// A zero `k x n` matrix, ready to be filled.
    pub fn zeros(k: usize, n: usize) -> Self {
        let mut p = PackedB::default();
        p.reset(k, n);
        p
    }

    /// Packs all of `b`.
    pub fn pack(b: MatRef<'_, T>) -> Self {
        let mut p = Self::zeros(b.rows, b.cols);
        p.fill(0, b);
        p
    }

    /// Makes this a `k x n` zero matrix, reusing the allocation.
    pub fn reset(&mut self, k: usize, n: usize) {
        self.k = k;
        self.n = n;
        self.data.clear();
        self.data.resize(packed_len(n, NR, k, "PackedB"), T::ZERO);
    }

    /// Shapes this as `k x n` for refilling: when the shape is unchanged the
    /// old values stay (every one will be overwritten by fills covering all
    /// of k) and the zero padding is kept; otherwise like [`Self::reset`].
    /// Saves zeroing the buffer each time it is refilled.
    pub fn reuse(&mut self, k: usize, n: usize) {
        if (k, n) != (self.k, self.n) || self.data.len() != packed_len(n, NR, k, "PackedB") {
            self.reset(k, n);
        }
    }

    /// Writes `src` (`kk x n`) into rows `k0 .. k0 + kk`.
    ///
    /// Panics if `src` has other than `n` columns or reaches past k.
    pub fn fill(&mut self, k0: usize, src: MatRef<'_, T>) {
        let (n, k, kk) = (self.n, self.k, src.rows);
        assert_eq!(src.cols, n, "PackedB::fill: column count differs");
        assert!(
            k0.checked_add(kk).is_some_and(|e| e <= k),
            "PackedB::fill: past k"
        );
        if n == 0 || kk == 0 {
            return;
        }
        for (jp, panel) in self.data.chunks_exact_mut(k * NR).enumerate() {
            let j0 = jp * NR;
            let cols = NR.min(n - j0);
            let dst = &mut panel[k0 * NR..(k0 + kk) * NR];
            if src.cs == 1 && cols == NR {
                // fixed length: an inlined vector copy, not a memcpy call
                for (p, d) in dst.chunks_exact_mut(NR).enumerate() {
                    let s = p * src.rs + j0;
                    let row: &[T; NR] = src.data[s..s + NR].try_into().expect("NR values");
                    d.copy_from_slice(row);
                }
            } else if src.cs == 1 {
                for (p, d) in dst.chunks_exact_mut(NR).enumerate() {
                    let s = p * src.rs + j0;
                    d[..cols].copy_from_slice(&src.data[s..s + cols]);
                }
            } else {
                // columns of src are contiguous when rs == 1: read each once
                for jj in 0..cols {
                    let base = (j0 + jj) * src.cs;
                    for (p, d) in dst.chunks_exact_mut(NR).enumerate() {
                        d[jj] = src.data[base + p * src.rs];
                    }
                }
            }
        }
    }
}

/// Whether `T` has a fast micro-kernel on this CPU (f32 with AVX-512F).
pub fn fast_kernel_available<T: Element>() -> bool {
    T::fast_micro_kernel()
}

/// The micro-kernel [`gemm_packed`] runs for `T` on this CPU (see
/// [`crate::cpu`]): `"avx512 16x16"`, `"avx2 16x16 (6+6+4 rows)"` or
/// `"portable 16x16"`, for benchmarks and for tests that assert which
/// kernel ran.
pub fn micro_kernel_name<T: Element>() -> &'static str {
    if !T::fast_micro_kernel() {
        return "portable 16x16";
    }
    match crate::cpu::active() {
        crate::cpu::Isa::Avx512 => "avx512 16x16",
        _ => "avx2 16x16 (6+6+4 rows)",
    }
}

/// `C = A B` (`accumulate == false`) or `C += A B`, C row-major with leading
/// dimension `ldc`, on the calling thread.
///
/// Panics if the shapes disagree or `c` is too short (a bug in the caller).
pub fn gemm_packed<T: Element>(
    a: &PackedA<T>,
    b: &PackedB<T>,
    c: &mut [T],
    ldc: usize,
    accumulate: bool,
) {
    gemm_panels(a, 0..a.m.div_ceil(MR), b, c, ldc, accumulate);
}

/// [`gemm_packed`] split across rayon threads by blocks of `MR`-row panels.
/// Bit-identical to the serial call.
pub fn par_gemm_packed<T: Element>(
    a: &PackedA<T>,
    b: &PackedB<T>,
    c: &mut [T],
    ldc: usize,
    accumulate: bool,
) {
    use rayon::prelude::*;
    let panels = a.m.div_ceil(MR);
    let threads = rayon::current_num_threads();
    // saturating: only a size heuristic, the bounds are checked below
    let work = a.m.saturating_mul(a.k).saturating_mul(b.n);
    if threads <= 1 || panels < 2 || work < (1 << 18) {
        return gemm_packed(a, b, c, ldc, accumulate);
    }
    assert_eq!(a.k, b.k, "gemm_packed: inner dimensions differ");
    let end = c_extent(a.m, b.n, ldc).expect("gemm_packed: C too short");
    assert!(end <= c.len(), "gemm_packed: C too short");
    let per = panels.div_ceil(threads * 2).max(1);
    // per * MR rows of ldc each: at most `end` (checked above) plus one
    // chunk, so it cannot overflow once ldc * m fits; checked anyway
    let chunk = (per * MR)
        .checked_mul(ldc)
        .expect("gemm_packed: C too short");
    c[..end]
        .par_chunks_mut(chunk)
        .enumerate()
        .for_each(|(t, cc)| {
            let p0 = t * per;
            gemm_panels(a, p0..(p0 + per).min(panels), b, cc, ldc, accumulate);
        });
}

/// `(rows - 1) * ldc + cols`: the length of C that a `rows x cols` block with
/// leading dimension `ldc` needs (0 when it is empty), or `None` when
/// `ldc < cols` or the length overflows `usize` (no slice can be that long).
fn c_extent(rows: usize, cols: usize, ldc: usize) -> Option<usize> {
    if rows == 0 || cols == 0 {
        return Some(0);
    }
    if ldc < cols {
        return None;
    }
    (rows - 1).checked_mul(ldc)?.checked_add(cols)
}

/// The driver over A panels `panels`; `c` starts at the first of their rows.
fn gemm_panels<T: Element>(
    a: &PackedA<T>,
    panels: std::ops::Range<usize>,
    b: &PackedB<T>,
    c: &mut [T],
    ldc: usize,
    accumulate: bool,
) {
    let (m, k, n) = (a.m, a.k, b.n);
    assert_eq!(k, b.k, "gemm_packed: inner dimensions differ");
    if panels.is_empty() || n == 0 {
        return;
    }
    assert!(
        panels.end <= m.div_ceil(MR),
        "gemm_packed: panel range past A"
    );
    let row0 = panels.start * MR;
    let row_end = (panels.end * MR).min(m);
    assert!(ldc >= n, "gemm_packed: ldc smaller than n");
    let end = c_extent(row_end - row0, n, ldc).expect("gemm_packed: C too short");
    assert!(end <= c.len(), "gemm_packed: C too short");
    if k == 0 {
        if !accumulate {
            for r in 0..row_end - row0 {
                c[r * ldc..r * ldc + n].fill(T::ZERO);
            }
        }
        return;
    }
    let a_panel = |ip: usize| &a.data[ip * k * MR..(ip + 1) * k * MR];
    let b_panel = |jp: usize| &b.data[jp * k * NR..(jp + 1) * k * NR];
    let Blocking { kc: kc_max, mc } = blocking();
    let mc_panels = mc / MR;
    // equal k blocks of at most kc: no short tail block paying a full C pass
    let kc_even = k.div_ceil(k.div_ceil(kc_max));
    let mut pc = 0;
    while pc < k {
        let kc = kc_even.min(k - pc);
        let load_c = accumulate || pc > 0;
        let mut ic = panels.start;
        while ic < panels.end {
            let ic_end = (ic + mc_panels).min(panels.end);
            for jp in 0..n.div_ceil(NR) {
                let j0 = jp * NR;
                let cols = NR.min(n - j0);
                let bp = &b_panel(jp)[pc * NR..(pc + kc) * NR];
                for ip in ic..ic_end {
                    let i0 = ip * MR;
                    let rows = MR.min(m - i0);
                    let ap = &a_panel(ip)[pc * MR..(pc + kc) * MR];
                    // inside `end` (checked above), so no overflow
                    let off = (i0 - row0) * ldc + j0;
                    let tile = &mut c[off..off + (rows - 1) * ldc + cols];
                    T::micro_kernel(Token(()), kc, ap, bp, tile, ldc, rows, cols, load_c);
                }
            }
            ic = ic_end;
        }
        pc += kc;
    }
}

/// Proof of being inside this crate: the kernel traits' methods take one,
/// and only this crate can make it (its field is private), so code outside
/// cannot call a micro-kernel directly, only through [`gemm_packed`].
#[doc(hidden)]
pub struct Token(pub(crate) ());

/// The micro-kernel of an element type. Sealed: it lives in a private module
/// (implemented for `f32` and `f64` only) and its methods need a [`Token`],
/// so use [`gemm_packed`].
pub trait MicroKernel: Sized {
    /// Whether [`MicroKernel::micro_kernel`] is the fast (SIMD) one here.
    fn fast_micro_kernel() -> bool;

    /// `C[rows x cols] (+)= A_panel B_panel` over depth `kc`: `a` holds
    /// `kc x MR`, `b` holds `kc x NR` (packed), `c` the tile with leading
    /// dimension `ldc`; `load_c` adds to C instead of overwriting it.
    ///
    /// Panics if a slice is too short, `rows > MR` / `cols > NR`, or a
    /// bound overflows.
    #[allow(clippy::too_many_arguments)]
    fn micro_kernel(
        token: Token,
        kc: usize,
        a: &[Self],
        b: &[Self],
        c: &mut [Self],
        ldc: usize,
        rows: usize,
        cols: usize,
        load_c: bool,
    );
}

/// Checks every bound a micro-kernel relies on, in checked arithmetic (a
/// wrapped product would let a huge `kc` or `ldc` pass).
#[allow(clippy::too_many_arguments)]
fn check_tile<T>(kc: usize, a: &[T], b: &[T], c: &[T], ldc: usize, rows: usize, cols: usize) {
    let a_need = kc.checked_mul(MR);
    let b_need = kc.checked_mul(NR);
    assert!(
        a_need.is_some_and(|l| a.len() >= l) && b_need.is_some_and(|l| b.len() >= l),
        "micro_kernel: panel too short"
    );
    assert!(
        (1..=MR).contains(&rows) && (1..=NR).contains(&cols),
        "micro_kernel: tile size"
    );
    assert!(
        c_extent(rows, cols, ldc).is_some_and(|l| l <= c.len()),
        "micro_kernel: C too short"
    );
}

/// The portable micro-kernel: plain loops over a local accumulator tile.
#[allow(clippy::too_many_arguments)]
fn portable_kernel<T: Copy + Default + std::ops::Add<Output = T> + std::ops::Mul<Output = T>>(
    kc: usize,
    a: &[T],
    b: &[T],
    c: &mut [T],
    ldc: usize,
    rows: usize,
    cols: usize,
    load_c: bool,
) {
    check_tile(kc, a, b, c, ldc, rows, cols);
    let mut acc = [[T::default(); NR]; MR];
    for (ap, bp) in a.chunks_exact(MR).zip(b.chunks_exact(NR)).take(kc) {
        for (row, &av) in acc.iter_mut().zip(ap) {
            for (x, &bv) in row.iter_mut().zip(bp) {
                *x = *x + av * bv;
            }
        }
    }
    for (i, row) in acc.iter().enumerate().take(rows) {
        let dst = &mut c[i * ldc..i * ldc + cols];
        for (d, &v) in dst.iter_mut().zip(row) {
            *d = if load_c { *d + v } else { v };
        }
    }
}

impl MicroKernel for f64 {
    fn fast_micro_kernel() -> bool {
        false
    }
    #[inline]
    fn micro_kernel(
        _: Token,
        kc: usize,
        a: &[f64],
        b: &[f64],
        c: &mut [f64],
        ldc: usize,
        rows: usize,
        cols: usize,
        load_c: bool,
    ) {
        portable_kernel(kc, a, b, c, ldc, rows, cols, load_c)
    }
}

impl MicroKernel for f32 {
    fn fast_micro_kernel() -> bool {
        crate::cpu::active() >= crate::cpu::Isa::Avx2
    }
    #[inline]
    fn micro_kernel(
        _: Token,
        kc: usize,
        a: &[f32],
        b: &[f32],
        c: &mut [f32],
        ldc: usize,
        rows: usize,
        cols: usize,
        load_c: bool,
    ) {
        #[cfg(target_arch = "x86_64")]
        {
            let isa = crate::cpu::active();
            if isa >= crate::cpu::Isa::Avx2 {
                check_tile(kc, a, b, c, ldc, rows, cols);
                let (ap, bp, cp) = (a.as_ptr(), b.as_ptr(), c.as_mut_ptr());
                if isa == crate::cpu::Isa::Avx512 {
                    // SAFETY: cpu::active() is at most cpu::detected(), so
                    // AVX-512F is present; check_tile proved, without
                    // overflow, that a holds kc*MR and b kc*NR values, and
                    // that every C index the kernel touches, i*ldc + j for
                    // i < rows, j < cols, is below (rows-1)*ldc + cols <=
                    // c.len() (the kernel masks columns >= cols and skips
                    // rows >= rows), so no pointer offset below overflows or
                    // leaves its slice. `c` is a unique borrow, so it
                    // aliases neither panel.
                    unsafe { avx512::kernel_16x16(kc, ap, bp, cp, ldc, rows, cols, load_c) };
                } else {
                    // SAFETY: as above, with AVX2 and FMA present (active()
                    // is Avx2 only when detected() found both); the same
                    // bounds, proved by check_tile.
                    unsafe { avx2::kernel_16x16(kc, ap, bp, cp, ldc, rows, cols, load_c) };
                }
                return;
            }
        }
        portable_kernel(kc, a, b, c, ldc, rows, cols, load_c)
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::{MR, NR};
    use std::arch::x86_64::*;

    const _: () = assert!(MR == 16 && NR == 16);

    /// 16 x 16 f32 tile: `acc[i] += a[p*16 + i] * b[p*16 .. p*16+16]`.
    ///
    /// # Safety
    /// AVX-512F must be available; `a` must hold `kc*16` and `b` `kc*16`
    /// readable floats; `c + i*ldc + j` must be writable for `i < rows`,
    /// `j < cols`, with `1 <= rows <= 16`, `1 <= cols <= 16`.
    #[target_feature(enable = "avx512f")]
    #[allow(clippy::too_many_arguments)]
    pub(super) unsafe fn kernel_16x16(
        kc: usize,
        a: *const f32,
        b: *const f32,
        c: *mut f32,
        ldc: usize,
        rows: usize,
        cols: usize,
        load_c: bool,
    ) {
        let mut acc = [_mm512_setzero_ps(); MR];
        for p in 0..kc {
            // SAFETY: p < kc, so b[p*16 .. p*16+16] and a[p*16 .. p*16+16]
            // are inside the panels (caller's contract).
            let bv = unsafe { _mm512_loadu_ps(b.add(p * NR)) };
            let ap = unsafe { a.add(p * MR) };
            for (i, x) in acc.iter_mut().enumerate() {
                // SAFETY: i < 16 = MR, inside the panel row above.
                let av = _mm512_set1_ps(unsafe { *ap.add(i) });
                *x = _mm512_fmadd_ps(av, bv, *x);
            }
        }
        let mask: __mmask16 = if cols >= NR {
            0xFFFF
        } else {
            ((1u32 << cols) - 1) as __mmask16
        };
        for (i, x) in acc.iter().enumerate().take(rows) {
            // SAFETY: i < rows, and the mask limits lanes to j < cols, so
            // only c[i*ldc + j] for valid (i, j) are read or written; masked
            // lanes are neither loaded nor stored (no fault).
            unsafe {
                let p = c.add(i * ldc);
                let v = if load_c {
                    _mm512_add_ps(_mm512_maskz_loadu_ps(mask, p), *x)
                } else {
                    *x
                };
                _mm512_mask_storeu_ps(p, mask, v);
            }
        }
    }
}

/// Floating-point operations the calling thread performs in `iters`
/// iterations of the FMA peak probe for the active ISA, and the seconds it
/// took: 12 independent chains of `acc = acc * b + c` on the widest vector
/// ([`crate::cpu::active`]: 16 lanes with AVX-512, 8 with AVX2+FMA; the
/// portable probe is 8 lanes of separate multiplies and adds, as portable
/// code compiles). For a roofline: the benchmark runs it on every thread at
/// once and reports the GFLOP/s that every workload is set against.
///
/// ```
/// let (flops, secs) = kernels::packed::fma_peak_probe(1000);
/// assert!(flops > 0.0 && secs >= 0.0);
/// ```
pub fn fma_peak_probe(iters: usize) -> (f64, f64) {
    let t = std::time::Instant::now();
    #[cfg(target_arch = "x86_64")]
    let (flops, sink) = match crate::cpu::active() {
        // SAFETY: target_feature functions need only that the CPU has the
        // feature: active() is at most detected(). Their bodies touch no
        // memory but a local array.
        crate::cpu::Isa::Avx512 => unsafe { peak::avx512(iters) },
        // SAFETY: as above, AVX2 and FMA detected.
        crate::cpu::Isa::Avx2 => unsafe { peak::avx2(iters) },
        crate::cpu::Isa::Portable => peak::portable(iters),
    };
    #[cfg(not(target_arch = "x86_64"))]
    let (flops, sink) = peak::portable(iters);
    std::hint::black_box(sink);
    (flops, t.elapsed().as_secs_f64())
}

mod peak {
    const CHAINS: usize = 12;

    pub(super) fn portable(iters: usize) -> (f64, f32) {
        let mut acc = [[1.0f32; 8]; CHAINS];
        let (b, c) = (
            std::hint::black_box(0.999_999f32),
            std::hint::black_box(1e-7f32),
        );
        for _ in 0..iters {
            for x in acc.iter_mut() {
                for v in x.iter_mut() {
                    *v = *v * b + c;
                }
            }
        }
        (
            iters as f64 * (CHAINS * 8 * 2) as f64,
            acc.iter().flatten().sum(),
        )
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    pub(super) fn avx2(iters: usize) -> (f64, f32) {
        use std::arch::x86_64::*;
        let mut acc = [_mm256_set1_ps(1.0); CHAINS];
        let b = _mm256_set1_ps(std::hint::black_box(0.999_999));
        let c = _mm256_set1_ps(std::hint::black_box(1e-7));
        for _ in 0..iters {
            for x in acc.iter_mut() {
                *x = _mm256_fmadd_ps(*x, b, c);
            }
        }
        let mut out = [0.0f32; 8];
        let mut s = _mm256_setzero_ps();
        for x in acc {
            s = _mm256_add_ps(s, x);
        }
        // SAFETY: `out` holds 8 floats, one ymm.
        unsafe { _mm256_storeu_ps(out.as_mut_ptr(), s) };
        (iters as f64 * (CHAINS * 8 * 2) as f64, out.iter().sum())
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    pub(super) fn avx512(iters: usize) -> (f64, f32) {
        use std::arch::x86_64::*;
        let mut acc = [_mm512_set1_ps(1.0); CHAINS];
        let b = _mm512_set1_ps(std::hint::black_box(0.999_999));
        let c = _mm512_set1_ps(std::hint::black_box(1e-7));
        for _ in 0..iters {
            for x in acc.iter_mut() {
                *x = _mm512_fmadd_ps(*x, b, c);
            }
        }
        let mut s = _mm512_setzero_ps();
        for x in acc {
            s = _mm512_add_ps(s, x);
        }
        (
            iters as f64 * (CHAINS * 16 * 2) as f64,
            _mm512_reduce_add_ps(s),
        )
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{MR, NR};
    use std::arch::x86_64::*;

    const _: () = assert!(MR == 16 && NR == 16);

    /// 16 x 16 f32 tile with 16 ymm registers: rows 0-5, 6-11 and 12-15 in
    /// turn, each as `M` rows x 2 ymm of accumulators (12 for M = 6), two
    /// ymm loads of B and `M` broadcasts of A per k: 8 loads per 12 FMAs
    /// (Haswell/Skylake client: 2 FMA + 2 load ports; Zen 1-3: one ymm FMA
    /// per cycle per pipe pair). The B micro-panel (kc x 16) is read three
    /// times, from L1.
    ///
    /// # Safety
    /// AVX2 and FMA must be available; `a` must hold `kc*16` and `b` `kc*16`
    /// readable floats; `c + i*ldc + j` must be writable for `i < rows`,
    /// `j < cols`, with `1 <= rows <= 16`, `1 <= cols <= 16`.
    #[target_feature(enable = "avx2,fma")]
    #[allow(clippy::too_many_arguments)]
    pub(super) unsafe fn kernel_16x16(
        kc: usize,
        a: *const f32,
        b: *const f32,
        c: *mut f32,
        ldc: usize,
        rows: usize,
        cols: usize,
        load_c: bool,
    ) {
        let lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        let masks = [
            _mm256_cmpgt_epi32(_mm256_set1_epi32(cols as i32), lanes),
            _mm256_cmpgt_epi32(_mm256_set1_epi32(cols as i32 - 8), lanes),
        ];
        // SAFETY (all three): row blocks start at 0, 6 and 12 and span at
        // most 6, 6 and 4 rows, so the A reads stay inside each k's 16
        // values; each block stores only its rows below `rows` (caller's
        // contract for C).
        unsafe { rows_block::<6>(kc, a, b, c, ldc, 0, rows, cols, masks, load_c) };
        if rows > 6 {
            unsafe { rows_block::<6>(kc, a, b, c, ldc, 6, rows, cols, masks, load_c) };
        }
        if rows > 12 {
            unsafe { rows_block::<4>(kc, a, b, c, ldc, 12, rows, cols, masks, load_c) };
        }
    }

    /// Rows `r0 .. r0 + M` of the tile (those below `rows` stored).
    ///
    /// # Safety
    /// As [`kernel_16x16`], and `r0 + M <= 16`.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    #[allow(clippy::too_many_arguments)]
    unsafe fn rows_block<const M: usize>(
        kc: usize,
        a: *const f32,
        b: *const f32,
        c: *mut f32,
        ldc: usize,
        r0: usize,
        rows: usize,
        cols: usize,
        masks: [__m256i; 2],
        load_c: bool,
    ) {
        let mut acc = [[_mm256_setzero_ps(); 2]; M];
        for p in 0..kc {
            // SAFETY: p < kc, so b[p*16 .. p*16+16] is inside the B panel
            // and a[p*16 + r0 .. p*16 + r0 + M] inside the A panel, as
            // r0 + M <= 16 (caller's contract).
            let (b0, b1, ap) = unsafe {
                let bp = b.add(p * NR);
                (
                    _mm256_loadu_ps(bp),
                    _mm256_loadu_ps(bp.add(8)),
                    a.add(p * MR + r0),
                )
            };
            for (i, x) in acc.iter_mut().enumerate() {
                // SAFETY: i < M, inside the A values above.
                let av = _mm256_set1_ps(unsafe { *ap.add(i) });
                x[0] = _mm256_fmadd_ps(av, b0, x[0]);
                x[1] = _mm256_fmadd_ps(av, b1, x[1]);
            }
        }
        for (i, x) in acc.iter().enumerate().take(rows.saturating_sub(r0)) {
            // SAFETY: r0 + i < rows; with cols == 16 both halves are inside
            // row r0 + i of C; otherwise the masks enable exactly lanes
            // j < cols, and masked lanes are neither read nor written (no
            // fault). The upper half's pointer (row + 8) is formed only when
            // cols > 8, so it points inside the row.
            unsafe {
                let row = c.add((r0 + i) * ldc);
                if cols == NR {
                    let (v0, v1) = if load_c {
                        (
                            _mm256_add_ps(_mm256_loadu_ps(row), x[0]),
                            _mm256_add_ps(_mm256_loadu_ps(row.add(8)), x[1]),
                        )
                    } else {
                        (x[0], x[1])
                    };
                    _mm256_storeu_ps(row, v0);
                    _mm256_storeu_ps(row.add(8), v1);
                } else {
                    let halves = if cols > 8 { 2 } else { 1 };
                    for (h, &m) in masks.iter().enumerate().take(halves) {
                        let p = row.add(8 * h);
                        let v = if load_c {
                            _mm256_add_ps(_mm256_maskload_ps(p, m), x[h])
                        } else {
                            x[h]
                        };
                        _mm256_maskstore_ps(p, m, v);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gemm::tests::{naive, panic_message};

    fn ints(len: usize, mul: usize, md: usize) -> Vec<f64> {
        (0..len)
            .map(|i| ((i * mul) % md) as f64 - (md / 2) as f64)
            .collect()
    }

    /// Shapes around the tile and block sizes: partial tiles, k beyond the
    /// largest kc (512), m beyond the largest mc (1024), k = 0.
    const SHAPES: &[(usize, usize, usize)] = &[
        (1, 1, 1),
        (3, 5, 7),
        (16, 16, 16),
        (17, 9, 33),
        (31, 300, 15),
        (270, 70, 40),
        (40, 0, 20),
        (5, 600, 70),
        (1100, 20, 17),
    ];

    #[test]
    fn blocking_overrides_parse_and_bad_ones_are_refused() {
        assert_eq!(
            parse_blocking("384, 256"),
            Some(Blocking { kc: 384, mc: 256 })
        );
        for bad in [
            "",
            "384",
            "0,256",
            "384,250",
            "384,0",
            "5000,256",
            "a,b",
            "384,16384",
        ] {
            assert_eq!(parse_blocking(bad), None, "{bad}");
        }
        let b = blocking();
        assert!(b.kc >= 1 && b.mc % MR == 0);
    }

    #[test]
    fn portable_path_matches_naive_loop_exactly() {
        // small integers: every sum is exact in f64, so any order agrees
        for &(m, k, n) in SHAPES {
            let a = ints(m * k, 7, 11);
            let b = ints(k * n, 5, 13);
            let am = MatRef::row_major(&a, m, k);
            let bm = MatRef::row_major(&b, k, n);
            let want = naive(am, bm);
            let (pa, pb) = (PackedA::pack(am), PackedB::pack(bm));
            let mut c = vec![f64::NAN; m * n];
            gemm_packed(&pa, &pb, &mut c, n, false);
            assert_eq!(c, want, "{m}x{k}x{n}");
            // accumulate, and transposed sources
            let at: Vec<f64> = (0..k * m).map(|i| a[(i % m) * k + i / m]).collect();
            let bt: Vec<f64> = (0..n * k).map(|i| b[(i % k) * n + i / k]).collect();
            let pa = PackedA::pack(MatRef::row_major(&at, k, m).t());
            let pb = PackedB::pack(MatRef::row_major(&bt, n, k).t());
            let mut c2 = vec![1.0; m * n];
            gemm_packed(&pa, &pb, &mut c2, n, true);
            let want2: Vec<f64> = want.iter().map(|v| v + 1.0).collect();
            assert_eq!(c2, want2, "{m}x{k}x{n} transposed, accumulate");
        }
    }

    #[test]
    fn fill_along_k_is_one_gemm_over_the_concatenation() {
        let (m, n) = (20, 19);
        let ks = [7usize, 0, 260, 33];
        let kt: usize = ks.iter().sum();
        let a = ints(m * kt, 3, 7);
        let b = ints(kt * n, 11, 9);
        let want = naive(MatRef::row_major(&a, m, kt), MatRef::row_major(&b, kt, n));
        let mut pa = PackedA::zeros(m, kt);
        let mut pb = PackedB::zeros(kt, n);
        let mut k0 = 0;
        for &kk in &ks {
            let sub_a = MatRef {
                data: &a[k0..],
                rows: m,
                cols: kk,
                rs: kt,
                cs: 1,
            };
            pa.fill(k0, sub_a);
            pb.fill(k0, MatRef::row_major(&b[k0 * n..], kk, n));
            k0 += kk;
        }
        let mut c = vec![0.0; m * n];
        gemm_packed(&pa, &pb, &mut c, n, false);
        assert_eq!(c, want);
    }

    #[test]
    fn f32_kernel_matches_naive_loop_and_leaves_the_rest_of_c_alone() {
        // ldc > n: the columns past n must not be touched (masked stores)
        for &(m, k, n) in SHAPES {
            let a64 = ints(m * k, 7, 11);
            let b64 = ints(k * n, 5, 13);
            let want = naive(MatRef::row_major(&a64, m, k), MatRef::row_major(&b64, k, n));
            let a: Vec<f32> = a64.iter().map(|&v| v as f32).collect();
            let b: Vec<f32> = b64.iter().map(|&v| v as f32).collect();
            let pa = PackedA::pack(MatRef::row_major(&a, m, k));
            let pb = PackedB::pack(MatRef::row_major(&b, k, n));
            let ldc = n + 3;
            let mut c = vec![-7.0f32; m * ldc];
            gemm_packed(&pa, &pb, &mut c, ldc, false);
            for i in 0..m {
                for j in 0..ldc {
                    let got = c[i * ldc + j] as f64;
                    if j < n {
                        // integer sums below 2^24 are exact in f32 too
                        assert_eq!(got, want[i * n + j], "{m}x{k}x{n} at ({i},{j})");
                    } else {
                        assert_eq!(got, -7.0, "{m}x{k}x{n}: wrote past n at ({i},{j})");
                    }
                }
            }
        }
    }

    #[test]
    fn parallel_split_is_bit_identical() {
        let (m, k, n) = (301, 287, 129);
        let a: Vec<f32> = (0..m * k)
            .map(|i| ((i * 37 % 101) as f32) / 50.0 - 1.0)
            .collect();
        let b: Vec<f32> = (0..k * n)
            .map(|i| ((i * 53 % 97) as f32) / 40.0 - 1.2)
            .collect();
        let pa = PackedA::pack(MatRef::row_major(&a, m, k));
        let pb = PackedB::pack(MatRef::row_major(&b, k, n));
        let mut c1 = vec![0.0; m * n];
        gemm_packed(&pa, &pb, &mut c1, n, false);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap();
        let mut c2 = vec![0.0; m * n];
        pool.install(|| par_gemm_packed(&pa, &pb, &mut c2, n, false));
        assert_eq!(c1, c2);
    }

    // Regressions: huge kc / ldc used to wrap in the bound checks and reach
    // the AVX-512 kernel's raw loads and stores out of bounds. Each must now
    // panic in the check, before any unsafe code runs.

    #[test]
    fn micro_kernel_rejects_ldc_that_wraps() {
        let (a, b) = (vec![1.0f32; MR], vec![1.0f32; NR]);
        let msg = panic_message(|| {
            let mut c = vec![0.0f32; 64];
            f32::micro_kernel(Token(()), 1, &a, &b, &mut c, usize::MAX, 2, 16, true);
        });
        assert!(msg.contains("C too short"), "{msg}");
    }

    #[test]
    fn micro_kernel_rejects_kc_that_wraps() {
        // kc * 16 wraps to 16 for kc = 2^60 + 1
        let (a, b) = (vec![1.0f32; MR], vec![1.0f32; NR]);
        let msg = panic_message(|| {
            let mut c = vec![0.0f32; 16];
            f32::micro_kernel(Token(()), (1 << 60) + 1, &a, &b, &mut c, 16, 1, 16, false);
        });
        assert!(msg.contains("panel too short"), "{msg}");
        let msg = panic_message(|| {
            let mut c = vec![0.0f64; 16];
            let (a, b) = (vec![1.0f64; MR], vec![1.0f64; NR]);
            f64::micro_kernel(Token(()), (1 << 60) + 1, &a, &b, &mut c, 16, 1, 16, false);
        });
        assert!(msg.contains("panel too short"), "{msg}");
    }

    #[test]
    fn gemm_packed_rejects_ldc_that_wraps() {
        let a = vec![1.0f32; 4 * 3];
        let b = vec![1.0f32; 3 * 5];
        let pa = PackedA::pack(MatRef::row_major(&a, 4, 3));
        let pb = PackedB::pack(MatRef::row_major(&b, 3, 5));
        for ldc in [usize::MAX, usize::MAX / 2, usize::MAX / 3 + 1] {
            let msg = panic_message(|| {
                let mut c = vec![0.0f32; 64];
                gemm_packed(&pa, &pb, &mut c, ldc, false);
            });
            assert!(msg.contains("C too short"), "ldc {ldc}: {msg}");
            let msg = panic_message(|| {
                let mut c = vec![0.0f32; 64];
                par_gemm_packed(&pa, &pb, &mut c, ldc, true);
            });
            assert!(msg.contains("C too short"), "ldc {ldc}: {msg}");
        }
        // a big product that the parallel driver splits: same check
        let (m, k, n) = (64, 64, 70);
        let a = vec![1.0f32; m * k];
        let b = vec![1.0f32; k * n];
        let pa = PackedA::pack(MatRef::row_major(&a, m, k));
        let pb = PackedB::pack(MatRef::row_major(&b, k, n));
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        let msg = panic_message(|| {
            let mut c = vec![0.0f32; m * n];
            pool.install(|| par_gemm_packed(&pa, &pb, &mut c, usize::MAX, false));
        });
        assert!(msg.contains("C too short"), "{msg}");
    }

    #[test]
    fn packing_a_size_that_overflows_panics_with_a_message() {
        let msg = panic_message(|| {
            let _ = PackedA::<f32>::zeros(usize::MAX / 8, 64);
        });
        assert!(msg.contains("overflows usize"), "{msg}");
    }

    /// Every micro-kernel this CPU can run, called directly (whatever
    /// LECTURE_GRAD_MAX_ISA says), on every tile size, against plain loops:
    /// exact on small integers, C outside the tile never touched.
    #[test]
    fn every_available_micro_kernel_matches_plain_loops_on_every_tile_size() {
        use crate::cpu::{detected, Isa};
        let mut kernels: Vec<Isa> = vec![Isa::Portable];
        if detected() >= Isa::Avx2 {
            kernels.push(Isa::Avx2);
        }
        if detected() >= Isa::Avx512 {
            kernels.push(Isa::Avx512);
        }
        for &isa in &kernels {
            for kc in [0usize, 1, 7, 33] {
                let a: Vec<f32> = (0..kc * MR).map(|i| ((i * 7) % 11) as f32 - 5.0).collect();
                let b: Vec<f32> = (0..kc * NR).map(|i| ((i * 5) % 13) as f32 - 6.0).collect();
                for rows in 1..=MR {
                    for cols in 1..=NR {
                        for load_c in [false, true] {
                            let ldc = cols + 3;
                            // C exactly as long as the tile needs, plus a
                            // guard region past it
                            let need = (rows - 1) * ldc + cols;
                            let mut c = vec![2.0f32; need + 5];
                            let run = |c: &mut [f32]| {
                                let c = &mut c[..need];
                                check_tile(kc, &a, &b, c, ldc, rows, cols);
                                let (ap, bp, cp) = (a.as_ptr(), b.as_ptr(), c.as_mut_ptr());
                                match isa {
                                    Isa::Portable => {
                                        portable_kernel(kc, &a, &b, c, ldc, rows, cols, load_c)
                                    }
                                    // SAFETY: the ISA was detected above, and
                                    // check_tile proved the kernels' bounds.
                                    #[cfg(target_arch = "x86_64")]
                                    Isa::Avx2 => unsafe {
                                        avx2::kernel_16x16(kc, ap, bp, cp, ldc, rows, cols, load_c)
                                    },
                                    #[cfg(target_arch = "x86_64")]
                                    Isa::Avx512 => unsafe {
                                        avx512::kernel_16x16(
                                            kc, ap, bp, cp, ldc, rows, cols, load_c,
                                        )
                                    },
                                    #[cfg(not(target_arch = "x86_64"))]
                                    _ => unreachable!(),
                                }
                            };
                            run(&mut c);
                            for i in 0..rows {
                                for j in 0..ldc {
                                    let at = i * ldc + j;
                                    if at >= need {
                                        continue;
                                    }
                                    let got = c[at];
                                    if j < cols {
                                        let dot: f32 =
                                            (0..kc).map(|p| a[p * MR + i] * b[p * NR + j]).sum();
                                        let want = if load_c { 2.0 + dot } else { dot };
                                        assert_eq!(got, want, "{isa:?} kc {kc} {rows}x{cols} ({i},{j}) load_c {load_c}");
                                    } else {
                                        assert_eq!(
                                            got, 2.0,
                                            "{isa:?}: wrote past cols at ({i},{j})"
                                        );
                                    }
                                }
                            }
                            assert!(c[need..].iter().all(|&v| v == 2.0), "{isa:?}: wrote past C");
                        }
                    }
                }
            }
        }
        eprintln!("micro-kernels tested: {kernels:?}");
    }
}
