//! Packed GEMM with our own micro-kernels: `matmul` and `linear` (through
//! [`par_gemm_views`]) and the convolutions, whose operands are reused (a
//! convolution's weights across a batch) or built piece by piece (a weight
//! gradient summed over several samples in one GEMM).
//!
//! `C[m x n] (+)= A[m x k] B[k x n]`, with the register tile `mr x nr` of
//! this CPU's kernel ([`tile`]), where
//! - [`PackedA`] holds A as panels of `mr` rows, each `k x mr`, k-major
//!   (element (i, p) of panel `i / mr` at `p * mr + i % mr`), zero-padded;
//! - [`PackedB`] holds B as panels of `nr` columns, each `k x nr`
//!   (element (p, j) of panel `j / nr` at `p * nr + j % nr`), zero-padded.
//!
//! Both can be filled in slices along k ([`PackedA::fill`] /
//! [`PackedB::fill`] at a k offset), so `sum_s A_s B_s` is one GEMM over the
//! concatenated k. The driver blocks k by [`Blocking::kc`] (a B micro-panel,
//! `kc x nr`, stays in L1) and m by [`Blocking::mc`] rows (the A block stays
//! in L2), and calls the `mr x nr` micro-kernel on each tile of C.
//!
//! Micro-kernels (chosen once per process, see [`crate::cpu`] for the table
//! and the reasons): f32 with AVX-512F, 8 x 32 ([`AVX512_TILE`]: 10 loads
//! per 16 FMAs); with AVX2+FMA, 16 x 16 in row blocks of 6 + 6 + 4
//! ([`AVX2_TILE`]: 8 loads per 12 FMAs); every other case a portable
//! 16 x 16 loop ([`PORTABLE_TILE`]). The SIMD kernels prefetch their
//! tile's rows of C before the k loop (as BLIS's do), so the misses on C
//! (one line per row, `ldc` apart) overlap the loop instead of following
//! it: on Zen 4 at the AVX2 cap, 1 thread, `linear`'s 1000 x 500 x 500
//! driver 4.75-5.35 -> 4.73-4.81 ms, the training step 211-217 -> 202-204
//! ms; at AVX-512 (8 rows, not 16) 1-3% on GEMMs, the step unchanged.
//! The SIMD kernels are one macro body with the instruction set passed in,
//! and the tests run the AVX-512 body on AVX2 as well (16-lane vectors as
//! ymm pairs), so its indexing and masking are checked on every machine.
//! [`fast_kernel_available`] tells callers whether the packed path beats
//! matrixmultiply's (callers fall back to it otherwise). Every tile of C is
//! computed by the same sequence of operations whatever the caller's
//! threading, so results do not depend on the thread count; they do depend
//! on the ISA (the tiles and k blocks differ, so sums round differently).
//!
//! This is one of the kernel files (crate `kernels`) with `unsafe` (see
//! the crate docs for the list; here the
//! AVX-512 and AVX2 kernels' raw loads and stores, and the calls into
//! `target_feature` functions, the FMA peak probe's included); the packing
//! (whose transposes are [`crate::transpose`]) and the driver are safe
//! code, and the safe wrapper checks every bound the kernels rely on in
//! checked arithmetic.
//! The [`MicroKernel`] trait is sealed: its method takes a [`Token`] that
//! only this crate can make.

use crate::gemm::MatRef;
use crate::Element;

/// A micro-kernel's register tile: C is computed in blocks of `mr` rows by
/// `nr` columns, so A is packed in `mr`-row panels and B in `nr`-column
/// panels. Each instruction set has its own ([`tile`]; reasons in
/// [`crate::cpu`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Tile {
    /// Rows of A (and C) per micro-tile.
    pub mr: usize,
    /// Columns of B (and C) per micro-tile.
    pub nr: usize,
}

/// The portable kernel's tile (f64 always; f32 without AVX2+FMA).
pub const PORTABLE_TILE: Tile = Tile { mr: 16, nr: 16 };
/// The AVX2+FMA kernel's tile: 16 x 16, computed as row blocks of 6 + 6 +
/// 4 rows x 2 ymm (12 accumulators of 16 registers), 2 loads of B and 6
/// broadcasts of A per 12 FMAs.
pub const AVX2_TILE: Tile = Tile { mr: 16, nr: 16 };
/// The AVX-512F kernel's tile: 8 rows x 2 zmm (16 accumulators of 32
/// registers), 2 loads of B and 8 broadcasts of A per 16 FMAs.
pub const AVX512_TILE: Tile = Tile { mr: 8, nr: 32 };

/// The largest `mr` of any tile (16) and the largest `nr` (32).
const MAX_MR: usize = 16;
const MAX_NR: usize = 32;
const _: () = {
    let tiles = [PORTABLE_TILE, AVX2_TILE, AVX512_TILE];
    let mut i = 0;
    while i < tiles.len() {
        assert!(tiles[i].mr >= 1 && tiles[i].mr <= MAX_MR);
        assert!(tiles[i].nr >= 1 && tiles[i].nr <= MAX_NR);
        i += 1;
    }
};

/// The tile [`gemm_packed`] uses for `T` on this CPU (as
/// [`crate::cpu::active`] says); [`PackedA`] and [`PackedB`] are laid out
/// for it.
///
/// ```
/// let t = kernels::packed::tile::<f64>();
/// assert_eq!((t.mr, t.nr), (16, 16)); // f64 always takes the portable kernel
/// ```
pub fn tile<T: Element>() -> Tile {
    T::tile()
}

/// The cache blocking of [`gemm_packed`]: k blocks of at most `kc`, m
/// blocks of `mc` rows (whole `mr`-row panels). See [`crate::cpu`] for the
/// rule and the table by CPU family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Blocking {
    /// Depth of one k block: `kc x 16` floats fill about half of L1d (the
    /// `kc x nr` B micro-panel: half of L1d for 16-wide tiles, all of it
    /// for the 32-wide AVX-512 tile; see [`Blocking::for_caches`]).
    pub kc: usize,
    /// Rows of one A block: `mc x kc` fills about half of L2.
    pub mc: usize,
}

impl Blocking {
    /// The blocking for an L1d and an L2 of these sizes (bytes per core)
    /// and this tile, in f32: kc a multiple of 16 in 128..=512, mc a
    /// multiple of `tile.mr` in `4 mr..=1024`.
    ///
    /// kc is the same for every tile width: `kc x 16` floats fill half of
    /// L1d. For the 16-wide AVX2 tile that is BLIS's rule (the B
    /// micro-panel fills half of L1d); the 32-wide AVX-512 tile's B
    /// micro-panel then fills all of it. The reason is C: every k block
    /// ends with a load and store of the whole C tile, mostly misses to L2
    /// or L3, and an AVX-512 core finishes a k block in half the cycles of
    /// an AVX2 one, so at BLIS's kc those misses weigh twice as much. On an
    /// Intel Xeon (family 6 model 207, 48 KiB L1d, 2 MiB L2) a 1024^3 GEMM
    /// on one core went from 56% of the FMA peak at kc = 192 to 81-88% at
    /// kc = 384.
    ///
    /// ```
    /// use kernels::packed::{Blocking, AVX2_TILE, AVX512_TILE};
    /// assert_eq!(Blocking::for_caches(32 << 10, 512 << 10, AVX2_TILE), Blocking { kc: 256, mc: 256 });
    /// assert_eq!(Blocking::for_caches(32 << 10, 1 << 20, AVX512_TILE), Blocking { kc: 256, mc: 512 });
    /// assert_eq!(Blocking::for_caches(48 << 10, 2 << 20, AVX512_TILE), Blocking { kc: 384, mc: 680 });
    /// assert_eq!(Blocking::for_caches(48 << 10, 2 << 20, AVX2_TILE), Blocking { kc: 384, mc: 672 });
    /// ```
    pub fn for_caches(l1d: usize, l2: usize, tile: Tile) -> Blocking {
        let f = std::mem::size_of::<f32>();
        let kc = (l1d / 2 / (16 * f)) / 16 * 16;
        let kc = kc.clamp(128, 512);
        let mr = tile.mr.max(1);
        let mc = (l2 / 2 / (kc * f)) / mr * mr;
        Blocking {
            kc,
            mc: mc.clamp(4 * mr, 1024 / mr * mr),
        }
    }
}

/// This CPU's blocking ([`Blocking::for_caches`] of [`crate::cpu::info`]
/// and the f32 tile), decided once per process; the environment variable
/// `LECTURE_GRAD_BLOCKING=KC,MC` overrides it (for tuning and A/B
/// measurements: kc in 1..=4096, mc a multiple of 16 in 16..=8192, used as
/// whole panels of `mr` rows; other values are reported on stderr and
/// ignored).
pub fn blocking() -> Blocking {
    static B: std::sync::OnceLock<Blocking> = std::sync::OnceLock::new();
    *B.get_or_init(|| {
        if let Ok(v) = std::env::var("LECTURE_GRAD_BLOCKING") {
            match parse_blocking(&v) {
                Some(b) => return b,
                None => eprintln!(
                    "warning: LECTURE_GRAD_BLOCKING={v:?} is not KC,MC with kc in 1..=4096 and mc a multiple of 16 in 16..=8192: ignored"
                ),
            }
        }
        let i = crate::cpu::info();
        Blocking::for_caches(i.l1d, i.l2, f32::tile())
    })
}

fn parse_blocking(v: &str) -> Option<Blocking> {
    let (k, m) = v.split_once(',')?;
    let (kc, mc) = (
        k.trim().parse::<usize>().ok()?,
        m.trim().parse::<usize>().ok()?,
    );
    ((1..=4096).contains(&kc) && (16..=8192).contains(&mc) && mc % 16 == 0)
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

/// Whether `data`'s allocation is larger than `bytes`.
fn holds_more_than<T>(data: &Vec<T>, bytes: usize) -> bool {
    data.capacity().saturating_mul(std::mem::size_of::<T>()) > bytes
}

/// A packed as `mr`-row panels over the whole k (see the module docs).
#[derive(Clone, Debug, PartialEq)]
pub struct PackedA<T> {
    data: Vec<T>,
    m: usize,
    k: usize,
    mr: usize,
}

/// B packed as `nr`-column panels over the whole k (see the module docs).
#[derive(Clone, Debug, PartialEq)]
pub struct PackedB<T> {
    data: Vec<T>,
    k: usize,
    n: usize,
    nr: usize,
}

impl<T: Element> Default for PackedA<T> {
    fn default() -> Self {
        PackedA {
            data: Vec::new(),
            m: 0,
            k: 0,
            mr: T::tile().mr,
        }
    }
}

impl<T: Element> Default for PackedB<T> {
    fn default() -> Self {
        PackedB {
            data: Vec::new(),
            k: 0,
            n: 0,
            nr: T::tile().nr,
        }
    }
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
        self.mr = T::tile().mr;
        self.data.clear();
        self.data
            .resize(packed_len(m, self.mr, k, "PackedA"), T::ZERO);
    }

    /// Packs all of `a` into this buffer, reusing its allocation: every
    /// value is overwritten and only the padding rows are zeroed, so no
    /// zero fill of the whole buffer and, once it is large enough, no
    /// fresh pages (the same values as [`Self::pack`]).
    ///
    /// ```
    /// use kernels::gemm::MatRef;
    /// use kernels::packed::PackedA;
    /// let mut p = PackedA::pack(MatRef::row_major(&[9.0f64; 6], 3, 2));
    /// let a = [1.0f64, 2.0, 3.0, 4.0];
    /// p.repack(MatRef::row_major(&a, 2, 2));
    /// assert_eq!(p.rows(), 2);
    /// assert_eq!(p, PackedA::pack(MatRef::row_major(&a, 2, 2)));
    /// ```
    pub fn repack(&mut self, a: MatRef<'_, T>) {
        let (m, k) = (a.rows, a.cols);
        self.m = m;
        self.k = k;
        self.mr = T::tile().mr;
        let len = packed_len(m, self.mr, k, "PackedA");
        self.data.resize(len, T::ZERO);
        let full = m / self.mr;
        if full * self.mr < m {
            let live = m - full * self.mr;
            for d in self.data[full * k * self.mr..].chunks_exact_mut(self.mr) {
                d[live..].fill(T::ZERO);
            }
        }
        self.fill(0, a);
    }

    /// Shapes this as `m x k` for refilling, keeping the buffer (and its
    /// zero padding) when the shape is unchanged; see [`PackedB::reuse`].
    pub fn reuse(&mut self, m: usize, k: usize) {
        if (m, k) != (self.m, self.k) || self.data.len() != packed_len(m, self.mr, k, "PackedA") {
            self.reset(m, k);
        }
    }

    /// Rows.
    pub fn rows(&self) -> usize {
        self.m
    }

    /// The `mr`-row panels, each `k x mr` (element (i, p) of panel `ip` at
    /// `p * mr + i % mr`), for kernels in this crate that write A in its
    /// packed layout directly; they must leave the padding rows zero.
    pub(crate) fn panels_mut(&mut self) -> std::slice::ChunksExactMut<'_, T> {
        let len = (self.k * self.mr).max(1);
        self.data.chunks_exact_mut(len)
    }

    /// Frees the buffer when it holds more than `bytes` (for scratch
    /// buffers kept between calls).
    pub(crate) fn release_if_larger_than(&mut self, bytes: usize) {
        if holds_more_than(&self.data, bytes) {
            *self = Self::default();
        }
    }

    /// Writes `src` (`m x kk`) into columns `k0 .. k0 + kk`.
    ///
    /// Panics if `src` has other than `m` rows or reaches past k (a bug in
    /// the caller, never user input).
    pub fn fill(&mut self, k0: usize, src: MatRef<'_, T>) {
        let (m, k, kk, mr) = (self.m, self.k, src.cols, self.mr);
        assert_eq!(src.rows, m, "PackedA::fill: row count differs");
        assert!(
            k0.checked_add(kk).is_some_and(|e| e <= k),
            "PackedA::fill: past k"
        );
        if m == 0 || kk == 0 {
            return;
        }
        for (ip, panel) in self.data.chunks_exact_mut(k * mr).enumerate() {
            fill_a_panel(panel, mr, ip, k0, src);
        }
    }
}

/// Writes columns `k0 .. k0 + src.cols` of A panel `ip` (`k x mr`, `panel`)
/// from `src`.
fn fill_a_panel<T: Element>(panel: &mut [T], mr: usize, ip: usize, k0: usize, src: MatRef<'_, T>) {
    let (m, kk) = (src.rows, src.cols);
    let i0 = ip * mr;
    let rows = mr.min(m - i0);
    let dst = &mut panel[k0 * mr..(k0 + kk) * mr];
    if src.cs == 1 {
        // rows of src are contiguous: a transpose of the rows x kk block
        crate::transpose::transpose(&src.data[i0 * src.rs..], src.rs, rows, kk, dst, mr);
    } else if src.rs == 1 {
        // columns of src are contiguous: a copy of `rows` values per k
        for (p, d) in dst.chunks_exact_mut(mr).enumerate() {
            let s = p * src.cs + i0;
            d[..rows].copy_from_slice(&src.data[s..s + rows]);
        }
    } else {
        for (p, d) in dst.chunks_exact_mut(mr).enumerate() {
            let base = p * src.cs + i0 * src.rs;
            for (ii, v) in d[..rows].iter_mut().enumerate() {
                *v = src.data[base + ii * src.rs];
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

    /// Packs all of `b`, its panels split across rayon threads (for large
    /// operands; the same values as [`Self::pack`]).
    pub fn par_pack(b: MatRef<'_, T>) -> Self {
        let mut p = Self::default();
        p.par_repack(b);
        p
    }

    /// [`Self::par_pack`] into this buffer, reusing its allocation: every
    /// value is overwritten and only the padding columns are zeroed (see
    /// [`PackedA::repack`]).
    ///
    /// ```
    /// use kernels::gemm::MatRef;
    /// use kernels::packed::PackedB;
    /// let mut p = PackedB::pack(MatRef::row_major(&[9.0f64; 6], 2, 3));
    /// let b = [1.0f64, 2.0, 3.0, 4.0];
    /// p.par_repack(MatRef::row_major(&b, 2, 2));
    /// assert_eq!(p, PackedB::pack(MatRef::row_major(&b, 2, 2)));
    /// ```
    pub fn par_repack(&mut self, b: MatRef<'_, T>) {
        use rayon::prelude::*;
        let (k, n) = (b.rows, b.cols);
        self.k = k;
        self.n = n;
        self.nr = T::tile().nr;
        let nr = self.nr;
        let len = packed_len(n, nr, k, "PackedB");
        self.data.resize(len, T::ZERO);
        if k == 0 || n == 0 {
            return;
        }
        self.data
            .par_chunks_exact_mut(k * nr)
            .enumerate()
            .for_each(|(jp, panel)| {
                let live = nr.min(n - jp * nr);
                if live < nr {
                    for d in panel.chunks_exact_mut(nr) {
                        d[live..].fill(T::ZERO);
                    }
                }
                fill_b_panel(panel, nr, jp, 0, b)
            });
    }

    /// Makes this a `k x n` zero matrix, reusing the allocation.
    pub fn reset(&mut self, k: usize, n: usize) {
        self.k = k;
        self.n = n;
        self.nr = T::tile().nr;
        self.data.clear();
        self.data
            .resize(packed_len(n, self.nr, k, "PackedB"), T::ZERO);
    }

    /// Frees the buffer when it holds more than `bytes` (for scratch
    /// buffers kept between calls).
    pub(crate) fn release_if_larger_than(&mut self, bytes: usize) {
        if holds_more_than(&self.data, bytes) {
            *self = Self::default();
        }
    }

    /// Shapes this as `k x n` for refilling: when the shape is unchanged the
    /// old values stay (every one will be overwritten by fills covering all
    /// of k) and the zero padding is kept; otherwise like [`Self::reset`].
    /// Saves zeroing the buffer each time it is refilled.
    pub fn reuse(&mut self, k: usize, n: usize) {
        if (k, n) != (self.k, self.n) || self.data.len() != packed_len(n, self.nr, k, "PackedB") {
            self.reset(k, n);
        }
    }

    /// Writes `src` into row `p` at columns `j0 .. j0 + src.len()`: for a
    /// producer that makes B row by row (Winograd's input transform), so
    /// it is written straight into its panels instead of being laid out
    /// row-major and packed in a second pass. The other values stay as
    /// they are (see [`Self::reuse`]).
    ///
    /// Panics if `p` is past k or the columns reach past n.
    ///
    /// ```
    /// use kernels::gemm::MatRef;
    /// use kernels::packed::PackedB;
    /// let b: Vec<f32> = (0..3 * 40).map(|i| i as f32).collect();
    /// let mut p = PackedB::zeros(3, 40);
    /// for r in 0..3 {
    ///     p.write_row(r, 0, &b[r * 40..r * 40 + 25]);
    ///     p.write_row(r, 25, &b[r * 40 + 25..(r + 1) * 40]);
    /// }
    /// assert_eq!(p, PackedB::pack(MatRef::row_major(&b, 3, 40)));
    /// ```
    #[inline(always)] // into the callers' AVX2 builds
    pub fn write_row(&mut self, p: usize, j0: usize, src: &[T]) {
        let (k, n, nr) = (self.k, self.n, self.nr);
        assert!(p < k, "PackedB::write_row: row {p} past k = {k}");
        assert!(
            j0.checked_add(src.len()).is_some_and(|e| e <= n),
            "PackedB::write_row: columns past n = {n}"
        );
        // a partial panel row up to the next panel boundary, then whole
        // panel rows, then a partial one; the whole rows in loops of their
        // own, as fixed-size copies: inlined vector moves (in one loop
        // with the variable-length copies, LLVM merged them all into one
        // memcpy call per row)
        let (mut jp, o) = (j0 / nr, j0 % nr);
        let mut rest = src;
        if o != 0 {
            let len = (nr - o).min(rest.len());
            // inside the buffer: jp < n.div_ceil(nr) and p < k
            let at = (jp * k + p) * nr + o;
            crate::copy::copy_short(&mut self.data[at..at + len], &rest[..len]);
            rest = &rest[len..];
            jp += 1;
        }
        let whole = rest.chunks_exact(nr);
        let tail = whole.remainder();
        let start = |jp: usize| (jp * k + p) * nr;
        match nr {
            16 => {
                for s in whole {
                    copy_fixed::<T, 16>(&mut self.data[start(jp)..start(jp) + 16], s);
                    jp += 1;
                }
            }
            32 => {
                for s in whole {
                    copy_fixed::<T, 32>(&mut self.data[start(jp)..start(jp) + 32], s);
                    jp += 1;
                }
            }
            _ => {
                for s in whole {
                    self.data[start(jp)..start(jp) + nr].copy_from_slice(s);
                    jp += 1;
                }
            }
        }
        if !tail.is_empty() {
            crate::copy::copy_short(&mut self.data[start(jp)..start(jp) + tail.len()], tail);
        }
    }

    /// Writes `src` (`kk x n`) into rows `k0 .. k0 + kk`.
    ///
    /// Panics if `src` has other than `n` columns or reaches past k.
    pub fn fill(&mut self, k0: usize, src: MatRef<'_, T>) {
        let (n, k, kk, nr) = (self.n, self.k, src.rows, self.nr);
        assert_eq!(src.cols, n, "PackedB::fill: column count differs");
        assert!(
            k0.checked_add(kk).is_some_and(|e| e <= k),
            "PackedB::fill: past k"
        );
        if n == 0 || kk == 0 {
            return;
        }
        for (jp, panel) in self.data.chunks_exact_mut(k * nr).enumerate() {
            fill_b_panel(panel, nr, jp, k0, src);
        }
    }
}

/// Writes rows `k0 .. k0 + src.rows` of B panel `jp` (`k x nr`, `panel`)
/// from `src`.
fn fill_b_panel<T: Element>(panel: &mut [T], nr: usize, jp: usize, k0: usize, src: MatRef<'_, T>) {
    let (n, kk) = (src.cols, src.rows);
    let j0 = jp * nr;
    let cols = nr.min(n - j0);
    let dst = &mut panel[k0 * nr..(k0 + kk) * nr];
    if src.cs == 1 {
        // fixed lengths: inlined vector copies, not a memcpy call per row
        match (cols, nr) {
            (16, 16) => copy_rows::<T, 16>(dst, src, j0),
            (32, 32) => copy_rows::<T, 32>(dst, src, j0),
            _ => {
                for (p, d) in dst.chunks_exact_mut(nr).enumerate() {
                    let s = p * src.rs + j0;
                    d[..cols].copy_from_slice(&src.data[s..s + cols]);
                }
            }
        }
    } else if src.rs == 1 {
        // columns of src are contiguous: a transpose of the cols x kk block
        crate::transpose::transpose(&src.data[j0 * src.cs..], src.cs, cols, kk, dst, nr);
    } else {
        for jj in 0..cols {
            let base = (j0 + jj) * src.cs;
            for (p, d) in dst.chunks_exact_mut(nr).enumerate() {
                d[jj] = src.data[base + p * src.rs];
            }
        }
    }
}

/// Rows `p` of `src` (`N` columns from `j0`) into `N`-wide rows of `dst`.
fn copy_rows<T: Element, const N: usize>(dst: &mut [T], src: MatRef<'_, T>, j0: usize) {
    for (p, d) in dst.chunks_exact_mut(N).enumerate() {
        let s = p * src.rs + j0;
        copy_fixed::<T, N>(d, &src.data[s..s + N]);
    }
}

/// `dst = src`, both `N` long.
#[inline(always)]
fn copy_fixed<T: Copy, const N: usize>(dst: &mut [T], src: &[T]) {
    let s: &[T; N] = src.try_into().expect("N values");
    let d: &mut [T; N] = dst.try_into().expect("N values");
    *d = *s;
}

/// Whether `T` has a fast (SIMD) micro-kernel on this CPU: f32 with
/// AVX2+FMA or AVX-512F.
pub fn fast_kernel_available<T: Element>() -> bool {
    T::fast_micro_kernel()
}

/// The micro-kernel [`gemm_packed`] runs for `T` on this CPU (see
/// [`crate::cpu`]): `"avx512 8x32"`, `"avx2 16x16 (6+6+4 rows)"` or
/// `"portable 16x16"`,
/// for benchmarks and for tests that assert which kernel ran.
pub fn micro_kernel_name<T: Element>() -> &'static str {
    if !T::fast_micro_kernel() {
        return "portable 16x16";
    }
    match crate::cpu::active() {
        crate::cpu::Isa::Avx512 => "avx512 8x32",
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
    gemm_panels(a, 0..a.m.div_ceil(a.mr), b, c, ldc, accumulate);
}

/// [`gemm_packed`] split across rayon threads by blocks of `mr`-row panels.
/// Bit-identical to the serial call.
pub fn par_gemm_packed<T: Element>(
    a: &PackedA<T>,
    b: &PackedB<T>,
    c: &mut [T],
    ldc: usize,
    accumulate: bool,
) {
    use rayon::prelude::*;
    let mr = a.mr;
    let panels = a.m.div_ceil(mr);
    let threads = rayon::current_num_threads();
    // saturating: only a size heuristic, the bounds are checked below
    let work = a.m.saturating_mul(a.k).saturating_mul(b.n);
    if threads <= 1 || panels < 2 || work < (1 << 18) {
        return gemm_packed(a, b, c, ldc, accumulate);
    }
    assert_eq!(a.k, b.k, "gemm_packed: inner dimensions differ");
    let end = c_extent(a.m, b.n, ldc).expect("gemm_packed: C too short");
    assert!(end <= c.len(), "gemm_packed: C too short");
    let (per, chunk) = row_blocks(panels, mr, ldc);
    c[..end]
        .par_chunks_mut(chunk)
        .enumerate()
        .for_each(|(t, cc)| {
            let p0 = t * per;
            gemm_panels(a, p0..(p0 + per).min(panels), b, cc, ldc, accumulate);
        });
}

/// `C = A B` (`accumulate == false`) or `C += A B` for plain strided views
/// (C row-major with leading dimension `ldc`), on rayon threads: B is packed
/// once, its panels split across the threads; then each thread packs its own
/// blocks of `mr`-row panels of A and runs them against all of B. Every tile
/// of C sees the same operations as in [`gemm_packed`], so the result does
/// not depend on the thread count.
///
/// Panics if the inner dimensions differ, `ldc < n`, or `c` is too short
/// (bugs in the caller; the views' own bounds are checked as they are read).
///
/// ```
/// use kernels::gemm::MatRef;
/// let a = [1.0f32, 2.0, 3.0, 4.0];
/// let b = [5.0f32, 6.0, 7.0, 8.0];
/// let mut c = [1.0f32; 4];
/// kernels::packed::par_gemm_views(MatRef::row_major(&a, 2, 2), MatRef::row_major(&b, 2, 2), &mut c, 2, true);
/// assert_eq!(c, [20.0, 23.0, 44.0, 51.0]);
/// ```
pub fn par_gemm_views<T: Element>(
    a: MatRef<'_, T>,
    b: MatRef<'_, T>,
    c: &mut [T],
    ldc: usize,
    accumulate: bool,
) {
    use rayon::prelude::*;
    let (m, k, n) = (a.rows, a.cols, b.cols);
    assert_eq!(k, b.rows, "gemm_packed: inner dimensions differ");
    assert!(ldc >= n, "gemm_packed: ldc smaller than n");
    let end = c_extent(m, n, ldc).expect("gemm_packed: C too short");
    assert!(end <= c.len(), "gemm_packed: C too short");
    if m == 0 || n == 0 {
        return;
    }
    let mr = T::tile().mr;
    let panels = m.div_ceil(mr);
    let (per, chunk) = row_blocks(panels, mr, ldc);
    let block = per * mr;
    // packed operands in per-thread scratch buffers (kept up to
    // SCRATCH_KEEP_BYTES): a fresh buffer per call was zero-filled and,
    // for large ones, page-faulted in again each time
    crate::scratch::with_scratch(|pb: &mut PackedB<T>| {
        pb.par_repack(b);
        c[..end]
            .par_chunks_mut(chunk)
            .enumerate()
            .for_each(|(t, cc)| {
                let r0 = t * block;
                let rows = block.min(m - r0);
                let start = r0.checked_mul(a.rs).expect("gemm_packed: A view too short");
                let sub = MatRef {
                    data: a.data.get(start..).expect("gemm_packed: A view too short"),
                    rows,
                    ..a
                };
                crate::scratch::with_scratch(|pa: &mut PackedA<T>| {
                    pa.repack(sub);
                    gemm_packed(pa, pb, cc, ldc, accumulate);
                    pa.release_if_larger_than(SCRATCH_KEEP_BYTES);
                });
            });
        pb.release_if_larger_than(SCRATCH_KEEP_BYTES);
    });
}

/// The largest packed operand [`par_gemm_views`] keeps per thread for the
/// next call (64 MiB: a 4096 x 4096 f32 matrix); larger ones are freed
/// after use, so one huge product does not pin its buffers for good.
const SCRATCH_KEEP_BYTES: usize = 64 << 20;

/// How the parallel drivers split `panels` row panels of `mr` rows across
/// rayon threads: `per` panels a block, about two blocks per thread for
/// balance, and the block's length in C (`per * mr` rows of `ldc`: at most
/// C's checked extent plus one block, so it cannot overflow once that
/// fits; checked anyway).
fn row_blocks(panels: usize, mr: usize, ldc: usize) -> (usize, usize) {
    let per = panels.div_ceil(rayon::current_num_threads() * 2).max(1);
    let chunk = (per * mr)
        .checked_mul(ldc)
        .expect("gemm_packed: C too short");
    (per, chunk)
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
    // the layouts are the process's tile (fixed once per process), so this
    // holds for every pair built here; checked, as the kernels rely on it
    let Tile { mr, nr } = T::tile();
    assert!(
        a.mr == mr && b.nr == nr,
        "gemm_packed: operands packed for another tile"
    );
    if panels.is_empty() || n == 0 {
        return;
    }
    assert!(
        panels.end <= m.div_ceil(mr),
        "gemm_packed: panel range past A"
    );
    let row0 = panels.start * mr;
    let row_end = (panels.end * mr).min(m);
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
    let a_panel = |ip: usize| &a.data[ip * k * mr..(ip + 1) * k * mr];
    let b_panel = |jp: usize| &b.data[jp * k * nr..(jp + 1) * k * nr];
    let Blocking { kc: kc_max, mc } = blocking();
    let mc_panels = (mc / mr).max(1);
    // equal k blocks of at most kc: no short tail block paying a full C pass
    let kc_even = k.div_ceil(k.div_ceil(kc_max));
    let mut pc = 0;
    while pc < k {
        let kc = kc_even.min(k - pc);
        let load_c = accumulate || pc > 0;
        let mut ic = panels.start;
        while ic < panels.end {
            let ic_end = (ic + mc_panels).min(panels.end);
            for jp in 0..n.div_ceil(nr) {
                let j0 = jp * nr;
                let cols = nr.min(n - j0);
                let bp = &b_panel(jp)[pc * nr..(pc + kc) * nr];
                for ip in ic..ic_end {
                    let i0 = ip * mr;
                    let rows = mr.min(m - i0);
                    let ap = &a_panel(ip)[pc * mr..(pc + kc) * mr];
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

    /// The tile of [`MicroKernel::micro_kernel`] on this CPU.
    fn tile() -> Tile;

    /// `C[rows x cols] (+)= A_panel B_panel` over depth `kc`: `a` holds
    /// `kc x mr`, `b` holds `kc x nr` (packed, for [`MicroKernel::tile`]),
    /// `c` the tile with leading dimension `ldc`; `load_c` adds to C
    /// instead of overwriting it.
    ///
    /// Panics if a slice is too short, `rows > mr` / `cols > nr`, or a
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

    /// The body of [`crate::transpose::transpose`] (8 x 8 register
    /// blocks for f32 on AVX2 / AVX-512, a plain loop otherwise), for
    /// `rows, cols >= 1`; it checks the slice lengths itself.
    #[doc(hidden)]
    fn transpose_impl(
        token: Token,
        src: &[Self],
        ss: usize,
        rows: usize,
        cols: usize,
        dst: &mut [Self],
        ds: usize,
    );
}

/// Checks every bound a micro-kernel of tile `t` relies on, in checked
/// arithmetic (a wrapped product would let a huge `kc` or `ldc` pass).
#[allow(clippy::too_many_arguments)]
fn check_tile<T>(
    t: Tile,
    kc: usize,
    a: &[T],
    b: &[T],
    c: &[T],
    ldc: usize,
    rows: usize,
    cols: usize,
) {
    let a_need = kc.checked_mul(t.mr);
    let b_need = kc.checked_mul(t.nr);
    assert!(
        a_need.is_some_and(|l| a.len() >= l) && b_need.is_some_and(|l| b.len() >= l),
        "micro_kernel: panel too short"
    );
    assert!(
        (1..=t.mr).contains(&rows) && (1..=t.nr).contains(&cols),
        "micro_kernel: tile size"
    );
    assert!(
        c_extent(rows, cols, ldc).is_some_and(|l| l <= c.len()),
        "micro_kernel: C too short"
    );
}

/// The portable micro-kernel ([`PORTABLE_TILE`]): plain loops over a local
/// accumulator tile.
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
    const MR: usize = PORTABLE_TILE.mr;
    const NR: usize = PORTABLE_TILE.nr;
    check_tile(PORTABLE_TILE, kc, a, b, c, ldc, rows, cols);
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
    fn tile() -> Tile {
        PORTABLE_TILE
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
    fn transpose_impl(
        _: Token,
        src: &[f64],
        ss: usize,
        rows: usize,
        cols: usize,
        dst: &mut [f64],
        ds: usize,
    ) {
        crate::transpose::check_lengths(src.len(), ss, (rows, cols), dst.len(), ds);
        crate::transpose::transpose_loop(src, ss, (0, rows), (0, cols), dst, ds)
    }
}

impl MicroKernel for f32 {
    fn fast_micro_kernel() -> bool {
        crate::cpu::active() >= crate::cpu::Isa::Avx2
    }
    fn tile() -> Tile {
        match crate::cpu::active() {
            crate::cpu::Isa::Avx512 => AVX512_TILE,
            crate::cpu::Isa::Avx2 => AVX2_TILE,
            crate::cpu::Isa::Portable => PORTABLE_TILE,
        }
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
                let (ap, bp, cp) = (a.as_ptr(), b.as_ptr(), c.as_mut_ptr());
                if isa == crate::cpu::Isa::Avx512 {
                    check_tile(AVX512_TILE, kc, a, b, c, ldc, rows, cols);
                    // SAFETY: cpu::active() is at most cpu::detected(), so
                    // AVX-512F (with AVX2 and FMA) is present; check_tile
                    // proved, without overflow, that a holds kc*8 and b
                    // kc*32 values, and that every C index the kernel
                    // touches, i*ldc + j for i < rows <= 8, j < cols <= 32,
                    // is below (rows-1)*ldc + cols <= c.len() (the kernel
                    // masks columns >= cols and skips rows >= rows), so no
                    // pointer offset below overflows or leaves its slice.
                    // `c` is a unique borrow, so it aliases neither panel.
                    unsafe { avx512::kernel_8x32(kc, ap, bp, cp, ldc, rows, cols, load_c) };
                } else {
                    check_tile(AVX2_TILE, kc, a, b, c, ldc, rows, cols);
                    // SAFETY: as above, with AVX2 and FMA present (active()
                    // is Avx2 only when detected() found both), a holding
                    // kc*16 and b kc*16 values, rows <= 16 and cols <= 16.
                    unsafe { avx2::kernel_16x16(kc, ap, bp, cp, ldc, rows, cols, load_c) };
                }
                return;
            }
        }
        portable_kernel(kc, a, b, c, ldc, rows, cols, load_c)
    }
    fn transpose_impl(
        _: Token,
        src: &[f32],
        ss: usize,
        rows: usize,
        cols: usize,
        dst: &mut [f32],
        ds: usize,
    ) {
        crate::transpose::transpose_f32(src, ss, rows, cols, dst, ds)
    }
}

/// One f32 micro-kernel: `MR` rows x `NV` vectors of `LANES` floats of
/// accumulators; per k, `NV` vector loads of B, `MR` broadcasts of A (the
/// A panel holds `A_STEP >= MR` values per k and the B panel `B_STEP >=
/// NV LANES`: a kernel may cover part of a taller panel, or the left part
/// of a wider one) and `MR * NV` FMAs; at the end each row of C is stored (added to, with
/// `load_c`) a vector at a time, with a lane mask where fewer than `LANES`
/// columns remain, and vectors wholly past `cols` are never touched. The
/// instruction set comes in as paths: every kernel (and the AVX-512 one's
/// stand-in that the tests run on AVX2 machines) is this one body.
///
/// Each generated function has this contract:
///
/// # Safety
/// The CPU must have the named target features; `a` must hold
/// `(kc-1)*A_STEP + MR` readable floats and `b` `(kc-1)*B_STEP + NV*LANES`
/// (for kc > 0); `c + i*ldc + j` must be writable for `i < rows`,
/// `j < cols`, with `1 <= rows <= MR`, `1 <= cols <= NV*LANES`.
#[cfg(target_arch = "x86_64")]
macro_rules! f32_micro_kernel {
    (
        $(#[$meta:meta])*
        $vis:vis fn $name:ident;
        features = $feat:literal;
        tile = $mr:literal x $nv:literal x $lanes:literal;
        a_step = $a_step:literal;
        b_step = $b_step:literal;
        vec = $v:ty;
        zero = $zero:path;
        load = $load:path;
        splat = $splat:path;
        fma = $fma:path;
        add = $add:path;
        store = $store:path;
        mask = $mask:path;
        load_masked = $load_masked:path;
        store_masked = $store_masked:path;
    ) => {
        $(#[$meta])*
        #[target_feature(enable = $feat)]
        #[allow(clippy::too_many_arguments, clippy::needless_range_loop)]
        $vis unsafe fn $name(
            kc: usize,
            a: *const f32,
            b: *const f32,
            c: *mut f32,
            ldc: usize,
            rows: usize,
            cols: usize,
            load_c: bool,
        ) {
            const MR: usize = $mr;
            const A_STEP: usize = $a_step;
            const NV: usize = $nv;
            const LANES: usize = $lanes;
            const B_STEP: usize = $b_step;
            const _: () = assert!(NV * LANES <= B_STEP && MR <= A_STEP);
            // C's rows of this tile, asked for now and used after the k
            // loop: their misses (a line or two per row, rows ldc apart,
            // each on its own page when ldc is large) are waited out while
            // the loop runs, not after it
            for i in 0..rows.min(MR) {
                // a hint (no fault, no write) at the row's first and last
                // columns in the caller's tile
                let first = c.wrapping_add(i * ldc);
                _mm_prefetch::<_MM_HINT_T0>(first.cast());
                _mm_prefetch::<_MM_HINT_T0>(first.wrapping_add(cols.min(NV * LANES).saturating_sub(1)).cast());
            }
            let mut acc: [[$v; NV]; MR] = [[$zero(); NV]; MR];
            for p in 0..kc {
                // SAFETY: p < kc, so b[p*B_STEP .. p*B_STEP + NV*LANES] is
                // inside the B panel and a[p*A_STEP .. p*A_STEP + MR]
                // inside the A panel (caller's contract).
                let (bp, ap) = unsafe { (b.add(p * B_STEP), a.add(p * A_STEP)) };
                let mut bv: [$v; NV] = [$zero(); NV];
                for v in 0..NV {
                    // SAFETY: v * LANES + LANES <= NV * LANES <= B_STEP,
                    // inside the row above.
                    bv[v] = unsafe { $load(bp.add(v * LANES)) };
                }
                for i in 0..MR {
                    // SAFETY: i < MR, inside the A values above.
                    let av = $splat(unsafe { *ap.add(i) });
                    for v in 0..NV {
                        acc[i][v] = $fma(av, bv[v], acc[i][v]);
                    }
                }
            }
            for i in 0..rows.min(MR) {
                for v in 0..NV {
                    let j0 = v * LANES;
                    if cols <= j0 {
                        break;
                    }
                    // SAFETY: i < rows and j0 < cols, so c + i*ldc + j0 is
                    // inside the caller's tile; with cols >= j0 + LANES the
                    // whole vector is (columns j0 .. j0 + LANES <= cols),
                    // otherwise the mask enables exactly the lanes below
                    // cols - j0, and masked-off lanes are neither read nor
                    // written (no fault).
                    unsafe {
                        let p = c.add(i * ldc + j0);
                        if cols >= j0 + LANES {
                            let x = if load_c { $add($load(p), acc[i][v]) } else { acc[i][v] };
                            $store(p, x);
                        } else {
                            let m = $mask(cols - j0);
                            let x = if load_c {
                                $add($load_masked(p, m), acc[i][v])
                            } else {
                                acc[i][v]
                            };
                            $store_masked(p, m, x);
                        }
                    }
                }
            }
        }
    };
}

/// The 8 x 32 kernel `kernel_8x32` for one vector type of 16 lanes (a
/// zmm, or a ymm pair in the tests): a full block of 2 vectors of B per k,
/// and a block of 1 for right-edge tiles of at most 16 columns, which it
/// computes alone (the same multiply-adds in the same order, half the
/// work). Expands to the dispatcher and its two [`f32_micro_kernel`]s,
/// which get the caller's vector operations (`vec = ...` to
/// `store_masked = ...`, in `f32_micro_kernel`'s order).
#[cfg(target_arch = "x86_64")]
macro_rules! kernel_8x32 {
    (
        $(#[$meta:meta])*
        features = $feat:literal;
        $($vector_ops:tt)*
    ) => {
        $(#[$meta])*
        #[target_feature(enable = $feat)]
        #[allow(clippy::too_many_arguments)]
        pub(super) unsafe fn kernel_8x32(
            kc: usize,
            a: *const f32,
            b: *const f32,
            c: *mut f32,
            ldc: usize,
            rows: usize,
            cols: usize,
            load_c: bool,
        ) {
            // SAFETY: the caller's contract is each block's, the 16-column
            // block reading the left 16 of each k's 32 B values and running
            // only when cols <= 16, its width.
            unsafe {
                if cols <= 16 {
                    cols16(kc, a, b, c, ldc, rows, cols, load_c)
                } else {
                    cols32(kc, a, b, c, ldc, rows, cols, load_c)
                }
            }
        }

        f32_micro_kernel! {
            /// All 32 columns of `kernel_8x32`'s tile.
            fn cols32;
            features = $feat;
            tile = 8 x 2 x 16;
            a_step = 8;
            b_step = 32;
            $($vector_ops)*
        }

        f32_micro_kernel! {
            /// The left 16 columns of `kernel_8x32`'s tile.
            fn cols16;
            features = $feat;
            tile = 8 x 1 x 16;
            a_step = 8;
            b_step = 32;
            $($vector_ops)*
        }
    };
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    const _: () = assert!(super::AVX512_TILE.mr == 8 && super::AVX512_TILE.nr == 32);

    kernel_8x32! {
        /// The AVX-512 kernel, 8 x 32 ([`super::AVX512_TILE`]): 16 zmm
        /// accumulators; per k, 2 zmm loads of B and 8 broadcasts of A
        /// (each a load-port micro-op on Intel) feed 16 FMAs: 10 loads per
        /// 16 FMAs. Intel server cores (Skylake-X, Cascade Lake, Ice Lake,
        /// Sapphire Rapids) retire 2 zmm FMAs and 2 loads per cycle, so the
        /// loads use 5 of the 8 cycles the FMAs need (the old 16 x 16 tile
        /// issued 17 loads per 16 FMAs, more than the FMAs' 8 cycles).
        ///
        /// Tiles of at most 16 columns (the right edge of C) run a 1-zmm
        /// block over the left half of the B panel: half the multiply-adds
        /// of the full tile, in the same order, so the same bits. A
        /// Winograd GEMM of 36 columns (conv_128_256_8's chunks with
        /// F(4x4,3x3)) computed 64 columns without it, 48 with it.
        ///
        /// # Safety
        /// AVX-512F, AVX2 and FMA must be available; `a` must hold `kc*8`
        /// and `b` `kc*32` readable floats; `c + i*ldc + j` must be
        /// writable for `i < rows`, `j < cols`, with `1 <= rows <= 8`,
        /// `1 <= cols <= 32`.
        features = "avx512f,avx2,fma";
        vec = __m512;
        zero = _mm512_setzero_ps;
        load = _mm512_loadu_ps;
        splat = _mm512_set1_ps;
        fma = _mm512_fmadd_ps;
        add = _mm512_add_ps;
        store = _mm512_storeu_ps;
        mask = super::mask16;
        load_masked = load_masked;
        store_masked = store_masked;
    }

    /// `_mm512_maskz_loadu_ps` with the pointer first.
    ///
    /// # Safety
    /// AVX-512F; the lanes enabled in `m` readable from `p`.
    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn load_masked(p: *const f32, m: __mmask16) -> __m512 {
        // SAFETY: the caller's contract.
        unsafe { _mm512_maskz_loadu_ps(m, p) }
    }

    /// `_mm512_mask_storeu_ps`.
    ///
    /// # Safety
    /// AVX-512F; the lanes enabled in `m` writable at `p`.
    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn store_masked(p: *mut f32, m: __mmask16, v: __m512) {
        // SAFETY: the caller's contract.
        unsafe { _mm512_mask_storeu_ps(p, m, v) }
    }
}

/// A 16-lane mask with the lowest `n` lanes enabled (`n < 16`).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn mask16(n: usize) -> u16 {
    ((1u32 << n.min(16)) - 1) as u16
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    const _: () = assert!(super::AVX2_TILE.mr == 16 && super::AVX2_TILE.nr == 16);

    /// The AVX2+FMA kernel, 16 x 16 ([`super::AVX2_TILE`]) in three row
    /// blocks, 6 + 6 + 4: 16 ymm registers hold 12 accumulators (6 rows x 2
    /// ymm, BLIS's Haswell shape), 2 of B and a broadcast, so a block is
    /// at most 6 rows; per k, 2 loads of B and 6 broadcasts feed 12 FMAs (8
    /// loads per 12 FMAs; 6 per 8 in the 4-row block). Haswell-Skylake
    /// client cores have 2 FMA and 2 load ports, Zen 1-3 one ymm FMA per
    /// cycle per pipe pair and 2 loads, so neither is load-bound. A true
    /// 6 x 16 tile measured up to 10% slower on Zen 1 for m = 64 and 128:
    /// 6-row panels split such m unevenly across threads.
    ///
    /// Tiles of at most 8 columns (the right edge of C) run 1-ymm blocks
    /// over the left half of the B panel (7 loads per 6 FMAs, half the
    /// work of the full blocks).
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
        // SAFETY (all three): the blocks start at rows 0, 6 and 12 of the
        // 16-row panel and span at most 6, 6 and 4 rows, so their A reads
        // (a + r0 + p*16 + i, i < their MR) stay inside each k's 16 values;
        // their B reads (b + p*16 + j, j < 16 or < 8) inside each k's 16;
        // each block gets the rows below `rows` that are its own (at least
        // one, by the guards), so its C writes stay in the caller's tile;
        // the 8-column blocks run only when cols <= 8, their width.
        macro_rules! blocks {
            ($r6:ident, $r4:ident) => {
                unsafe {
                    $r6(kc, a, b, c, ldc, rows.min(6), cols, load_c);
                    if rows > 6 {
                        $r6(
                            kc,
                            a.add(6),
                            b,
                            c.add(6 * ldc),
                            ldc,
                            (rows - 6).min(6),
                            cols,
                            load_c,
                        );
                    }
                    if rows > 12 {
                        $r4(
                            kc,
                            a.add(12),
                            b,
                            c.add(12 * ldc),
                            ldc,
                            rows - 12,
                            cols,
                            load_c,
                        );
                    }
                }
            };
        }
        // an edge tile of at most 8 columns (n = 500 leaves 4) computes 8,
        // not 16: the same multiply-adds in the same order, so the same bits
        if cols <= 8 {
            blocks!(rows6_n8, rows4_n8)
        } else {
            blocks!(rows6, rows4)
        }
    }

    /// One row block of [`kernel_16x16`]: `MR` rows of its 16-row panel,
    /// `NV` ymm (2: all 16 columns; 1: the left 8).
    macro_rules! avx2_rows {
        ($(#[$meta:meta])* $name:ident, $mr:literal, $nv:literal) => {
            f32_micro_kernel! {
                $(#[$meta])*
                fn $name;
                features = "avx2,fma";
                tile = $mr x $nv x 8;
                a_step = 16;
                b_step = 16;
                vec = __m256;
                zero = _mm256_setzero_ps;
                load = _mm256_loadu_ps;
                splat = _mm256_set1_ps;
                fma = _mm256_fmadd_ps;
                add = _mm256_add_ps;
                store = _mm256_storeu_ps;
                mask = mask8;
                load_masked = load_masked;
                store_masked = store_masked;
            }
        };
    }
    avx2_rows!(
        /// Rows 0-5 or 6-11 of [`kernel_16x16`]'s tile.
        rows6, 6, 2
    );
    avx2_rows!(
        /// Rows 12-15 of [`kernel_16x16`]'s tile.
        rows4, 4, 2
    );
    avx2_rows!(
        /// Rows 0-5 or 6-11 of [`kernel_16x16`]'s tile, left 8 columns.
        rows6_n8, 6, 1
    );
    avx2_rows!(
        /// Rows 12-15 of [`kernel_16x16`]'s tile, left 8 columns.
        rows4_n8, 4, 1
    );

    /// An 8-lane mask with the lowest `n` lanes enabled.
    #[target_feature(enable = "avx2")]
    #[inline]
    fn mask8(n: usize) -> __m256i {
        _mm256_cmpgt_epi32(
            _mm256_set1_epi32(n.min(8) as i32),
            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
        )
    }

    /// `_mm256_maskload_ps`.
    ///
    /// # Safety
    /// AVX2; the lanes enabled in `m` readable from `p`.
    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn load_masked(p: *const f32, m: __m256i) -> __m256 {
        // SAFETY: the caller's contract.
        unsafe { _mm256_maskload_ps(p, m) }
    }

    /// `_mm256_maskstore_ps`.
    ///
    /// # Safety
    /// AVX2; the lanes enabled in `m` writable at `p`.
    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn store_masked(p: *mut f32, m: __m256i, v: __m256) {
        // SAFETY: the caller's contract.
        unsafe { _mm256_maskstore_ps(p, m, v) }
    }
}

/// The AVX-512 kernel's body on AVX2, for machines without AVX-512: the
/// same macro with the same tile (8 x 2 x 16 lanes) and the same 16-bit
/// lane masks, each 16-lane vector a pair of ymm. The tests run it against
/// plain loops, so the 8 x 32 kernel's indexing and masking are checked on
/// every machine, and the AVX-512 kernel itself wherever the CPU has it.
#[cfg(all(test, target_arch = "x86_64"))]
mod avx512_on_avx2 {
    use std::arch::x86_64::*;

    #[derive(Clone, Copy)]
    pub(super) struct V16(__m256, __m256);

    kernel_8x32! {
        /// `avx512::kernel_8x32` on ymm pairs.
        ///
        /// # Safety
        /// AVX2 and FMA; otherwise as `avx512::kernel_8x32`.
        features = "avx2,fma";
        vec = V16;
        zero = zero;
        load = load;
        splat = splat;
        fma = fma;
        add = add;
        store = store;
        mask = super::mask16;
        load_masked = load_masked;
        store_masked = store_masked;
    }

    #[target_feature(enable = "avx2,fma")]
    fn zero() -> V16 {
        V16(_mm256_setzero_ps(), _mm256_setzero_ps())
    }
    #[target_feature(enable = "avx2,fma")]
    unsafe fn load(p: *const f32) -> V16 {
        // SAFETY: 16 floats readable at p (the caller's contract).
        unsafe { V16(_mm256_loadu_ps(p), _mm256_loadu_ps(p.add(8))) }
    }
    #[target_feature(enable = "avx2,fma")]
    fn splat(x: f32) -> V16 {
        V16(_mm256_set1_ps(x), _mm256_set1_ps(x))
    }
    #[target_feature(enable = "avx2,fma")]
    fn fma(a: V16, b: V16, c: V16) -> V16 {
        V16(
            _mm256_fmadd_ps(a.0, b.0, c.0),
            _mm256_fmadd_ps(a.1, b.1, c.1),
        )
    }
    #[target_feature(enable = "avx2,fma")]
    fn add(a: V16, b: V16) -> V16 {
        V16(_mm256_add_ps(a.0, b.0), _mm256_add_ps(a.1, b.1))
    }
    #[target_feature(enable = "avx2,fma")]
    unsafe fn store(p: *mut f32, v: V16) {
        // SAFETY: 16 floats writable at p (the caller's contract).
        unsafe {
            _mm256_storeu_ps(p, v.0);
            _mm256_storeu_ps(p.add(8), v.1);
        }
    }
    /// The two ymm lane masks of a 16-bit mask.
    #[target_feature(enable = "avx2,fma")]
    fn halves(m: u16) -> (__m256i, __m256i) {
        let bits = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
        let lo = _mm256_set1_epi32((m & 0xFF) as i32);
        let hi = _mm256_set1_epi32((m >> 8) as i32);
        (
            _mm256_cmpeq_epi32(_mm256_and_si256(lo, bits), bits),
            _mm256_cmpeq_epi32(_mm256_and_si256(hi, bits), bits),
        )
    }
    #[target_feature(enable = "avx2,fma")]
    unsafe fn load_masked(p: *const f32, m: u16) -> V16 {
        let (lo, hi) = halves(m);
        // SAFETY: the enabled lanes readable (the caller's contract); the
        // upper half's pointer is formed only when one of its lanes is on.
        unsafe {
            let upper = if m >> 8 != 0 {
                _mm256_maskload_ps(p.add(8), hi)
            } else {
                _mm256_setzero_ps()
            };
            V16(_mm256_maskload_ps(p, lo), upper)
        }
    }
    #[target_feature(enable = "avx2,fma")]
    unsafe fn store_masked(p: *mut f32, m: u16, v: V16) {
        let (lo, hi) = halves(m);
        // SAFETY: as in load_masked.
        unsafe {
            _mm256_maskstore_ps(p, lo, v.0);
            if m >> 8 != 0 {
                _mm256_maskstore_ps(p.add(8), hi, v.1);
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
        assert!(b.kc >= 1 && b.mc >= 16);
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
    fn write_row_puts_every_value_at_its_packed_place_for_any_panel_width() {
        // nr 16 and 32 are the fixed-size arms (AVX2/portable and
        // AVX-512 tiles), 8 and 5 the general one; runs start on and off
        // panel boundaries and end in partial panels
        for nr in [16, 32, 8, 5] {
            let (k, n): (usize, usize) = (3, 83);
            let mut p = PackedB::<f32> {
                data: vec![-1.0; n.div_ceil(nr) * nr * k],
                k,
                n,
                nr,
            };
            let val = |r: usize, j: usize| (r * 1000 + j) as f32;
            for r in 0..k {
                let row: Vec<f32> = (0..n).map(|j| val(r, j)).collect();
                for (a, b) in [(0, 7), (7, 7), (7, 40), (40, 64), (64, 83)] {
                    p.write_row(r, a, &row[a..b]);
                }
            }
            for r in 0..k {
                for j in 0..n {
                    assert_eq!(
                        p.data[((j / nr) * k + r) * nr + j % nr],
                        val(r, j),
                        "nr {nr}"
                    );
                }
            }
            // the padding columns were left alone
            let live = p.data.iter().filter(|&&x| x != -1.0).count();
            assert_eq!(live, k * n, "nr {nr}");
        }
    }

    #[test]
    #[should_panic(expected = "PackedB::write_row: columns past n")]
    fn write_row_refuses_columns_past_n() {
        let mut p = PackedB::<f32>::zeros(2, 10);
        p.write_row(1, 4, &[0.0; 7]);
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
        let (a, b) = (vec![1.0f32; MAX_MR], vec![1.0f32; MAX_NR]);
        let msg = panic_message(|| {
            let mut c = vec![0.0f32; 64];
            f32::micro_kernel(Token(()), 1, &a, &b, &mut c, usize::MAX, 2, 16, true);
        });
        assert!(msg.contains("C too short"), "{msg}");
    }

    #[test]
    fn micro_kernel_rejects_kc_that_wraps() {
        // kc * 16 wraps to 16 for kc = 2^60 + 1 (and kc * 6, kc * 32 wrap)
        let (a, b) = (vec![1.0f32; MAX_MR], vec![1.0f32; MAX_NR]);
        let msg = panic_message(|| {
            let mut c = vec![0.0f32; 16];
            f32::micro_kernel(Token(()), (1 << 60) + 1, &a, &b, &mut c, 16, 1, 16, false);
        });
        assert!(msg.contains("panel too short"), "{msg}");
        let msg = panic_message(|| {
            let mut c = vec![0.0f64; 16];
            let (a, b) = (vec![1.0f64; MAX_MR], vec![1.0f64; MAX_NR]);
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
    /// exact on small integers, C outside the tile never touched. On an
    /// AVX2 machine the AVX-512 kernel's body runs too, on ymm pairs.
    #[test]
    fn every_available_micro_kernel_matches_plain_loops_on_every_tile_size() {
        type Kernel = unsafe fn(usize, *const f32, *const f32, *mut f32, usize, usize, usize, bool);
        use crate::cpu::{detected, Isa};
        let mut kernels: Vec<(&str, Tile, Option<Kernel>)> =
            vec![("portable", PORTABLE_TILE, None)];
        #[cfg(target_arch = "x86_64")]
        {
            if detected() >= Isa::Avx2 {
                kernels.push(("avx2", AVX2_TILE, Some(avx2::kernel_16x16)));
                kernels.push((
                    "avx512 body on avx2",
                    AVX512_TILE,
                    Some(avx512_on_avx2::kernel_8x32),
                ));
            }
            if detected() >= Isa::Avx512 {
                kernels.push(("avx512", AVX512_TILE, Some(avx512::kernel_8x32)));
            }
        }
        for &(name, t, kernel) in &kernels {
            let (mr, nr) = (t.mr, t.nr);
            for kc in [0usize, 1, 7, 33] {
                let a: Vec<f32> = (0..kc * mr).map(|i| ((i * 7) % 11) as f32 - 5.0).collect();
                let b: Vec<f32> = (0..kc * nr).map(|i| ((i * 5) % 13) as f32 - 6.0).collect();
                for rows in 1..=mr {
                    for cols in 1..=nr {
                        for load_c in [false, true] {
                            let ldc = cols + 3;
                            // C exactly as long as the tile needs, plus a
                            // guard region past it
                            let need = (rows - 1) * ldc + cols;
                            let mut c = vec![2.0f32; need + 5];
                            {
                                let c = &mut c[..need];
                                check_tile(t, kc, &a, &b, c, ldc, rows, cols);
                                match kernel {
                                    None => portable_kernel(kc, &a, &b, c, ldc, rows, cols, load_c),
                                    // SAFETY: the kernel's ISA was detected
                                    // above, and check_tile proved its bounds
                                    // for its tile.
                                    Some(f) => unsafe {
                                        f(
                                            kc,
                                            a.as_ptr(),
                                            b.as_ptr(),
                                            c.as_mut_ptr(),
                                            ldc,
                                            rows,
                                            cols,
                                            load_c,
                                        )
                                    },
                                }
                            }
                            for i in 0..rows {
                                for j in 0..ldc {
                                    let at = i * ldc + j;
                                    if at >= need {
                                        continue;
                                    }
                                    let got = c[at];
                                    if j < cols {
                                        let dot: f32 =
                                            (0..kc).map(|p| a[p * mr + i] * b[p * nr + j]).sum();
                                        let want = if load_c { 2.0 + dot } else { dot };
                                        assert_eq!(got, want, "{name} kc {kc} {rows}x{cols} ({i},{j}) load_c {load_c}");
                                    } else {
                                        assert_eq!(
                                            got, 2.0,
                                            "{name}: wrote past cols at ({i},{j})"
                                        );
                                    }
                                }
                            }
                            assert!(c[need..].iter().all(|&v| v == 2.0), "{name}: wrote past C");
                        }
                    }
                }
            }
        }
        let names: Vec<&str> = kernels.iter().map(|k| k.0).collect();
        eprintln!("micro-kernels tested: {names:?}");
    }

    /// The AVX2 kernel's 8-column edge blocks give the bits of its full
    /// blocks (same multiply-adds in the same order) on values with many
    /// significant bits: a tile of 8 columns against the first 8 of a tile
    /// of 9, every row count, with and without loading C.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx2_edge_blocks_give_the_full_blocks_bits() {
        if crate::cpu::detected() < crate::cpu::Isa::Avx2 {
            eprintln!("no AVX2 here: the AVX2 kernel is not tested");
            return;
        }
        let kc = 37;
        let a: Vec<f32> = (0..kc * 16)
            .map(|i| ((i * 37 % 101) as f32).sin())
            .collect();
        let b: Vec<f32> = (0..kc * 16).map(|i| ((i * 53 % 97) as f32).cos()).collect();
        for rows in 1..=16 {
            for load_c in [false, true] {
                let ldc = 16;
                let run = |cols: usize| {
                    let mut c: Vec<f32> = (0..16 * ldc).map(|i| (i as f32 * 0.37).sin()).collect();
                    let need = (rows - 1) * ldc + cols;
                    check_tile(AVX2_TILE, kc, &a, &b, &c[..need], ldc, rows, cols);
                    // SAFETY: AVX2 and FMA detected; check_tile proved the
                    // bounds for this tile.
                    unsafe {
                        avx2::kernel_16x16(
                            kc,
                            a.as_ptr(),
                            b.as_ptr(),
                            c.as_mut_ptr(),
                            ldc,
                            rows,
                            cols,
                            load_c,
                        )
                    };
                    c
                };
                let (edge, full) = (run(8), run(9));
                for i in 0..rows {
                    for j in 0..8 {
                        let (e, f) = (edge[i * ldc + j], full[i * ldc + j]);
                        assert_eq!(
                            e.to_bits(),
                            f.to_bits(),
                            "rows {rows} ({i},{j}) load_c {load_c}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn tiles_fit_the_largest_tile_and_packing_follows_the_active_one() {
        let pa = PackedA::<f32>::zeros(7, 3);
        let pb = PackedB::<f32>::zeros(3, 5);
        assert_eq!((pa.mr, pb.nr), (tile::<f32>().mr, tile::<f32>().nr));
        assert_eq!(pa.data.len(), 7usize.div_ceil(pa.mr) * pa.mr * 3);
        assert_eq!(pb.data.len(), 5usize.div_ceil(pb.nr) * pb.nr * 3);
        let b = blocking();
        assert!(b.kc >= 1 && b.mc >= 16);
    }

    #[test]
    fn par_gemm_views_matches_plain_loops_and_is_the_same_on_any_thread_count() {
        for &(m, k, n) in SHAPES {
            let a64 = ints(m * k, 7, 11);
            let b64 = ints(k * n, 5, 13);
            let want = naive(MatRef::row_major(&a64, m, k), MatRef::row_major(&b64, k, n));
            let a: Vec<f32> = a64.iter().map(|&v| v as f32).collect();
            // B given transposed (a weight matrix read as W^T, as linear does)
            let bt: Vec<f32> = (0..n * k)
                .map(|i| b64[(i % k) * n + i / k] as f32)
                .collect();
            let bm = MatRef::row_major(&bt, n, k).t();
            let mut c1 = vec![1.0f32; m * n];
            par_gemm_views(MatRef::row_major(&a, m, k), bm, &mut c1, n, true);
            for (g, w) in c1.iter().zip(&want) {
                assert_eq!(*g as f64, w + 1.0, "{m}x{k}x{n}");
            }
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(3)
                .build()
                .unwrap();
            let mut c3 = vec![f32::NAN; m * n];
            pool.install(|| par_gemm_views(MatRef::row_major(&a, m, k), bm, &mut c3, n, false));
            let mut c0 = vec![f32::NAN; m * n];
            gemm_packed(
                &PackedA::pack(MatRef::row_major(&a, m, k)),
                &PackedB::pack(bm),
                &mut c0,
                n,
                false,
            );
            assert_eq!(c3, c0, "{m}x{k}x{n}: 3 threads vs one call");
        }
    }

    /// The packed operands stay in per-thread scratch buffers between
    /// calls, overwritten but not zero-filled: a product after a larger one
    /// (stale values where its padding now is), after a smaller one, and
    /// with the other operand layout must all be exact. One thread, so
    /// every call reuses the same buffers.
    #[test]
    fn par_gemm_views_is_exact_whatever_the_scratch_held_before() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        pool.install(|| {
            for &(m, k, n) in &[
                (40, 50, 60),
                (17, 9, 33),
                (3, 70, 5),
                (40, 50, 60),
                (1, 1, 1),
            ] {
                let a64 = ints(m * k, 3, 17);
                let b64 = ints(k * n, 11, 7);
                let want = naive(MatRef::row_major(&a64, m, k), MatRef::row_major(&b64, k, n));
                let a: Vec<f32> = a64.iter().map(|&v| v as f32).collect();
                let b: Vec<f32> = b64.iter().map(|&v| v as f32).collect();
                let mut c = vec![f32::NAN; m * n];
                par_gemm_views(
                    MatRef::row_major(&a, m, k),
                    MatRef::row_major(&b, k, n),
                    &mut c,
                    n,
                    false,
                );
                for (g, w) in c.iter().zip(&want) {
                    assert_eq!(*g as f64, *w, "{m}x{k}x{n}");
                }
                // A given transposed (column-major), B row-major
                let at: Vec<f32> = (0..k * m)
                    .map(|i| a64[(i % m) * k + i / m] as f32)
                    .collect();
                let mut c = vec![f32::NAN; m * n];
                par_gemm_views(
                    MatRef::row_major(&at, k, m).t(),
                    MatRef::row_major(&b, k, n),
                    &mut c,
                    n,
                    false,
                );
                for (g, w) in c.iter().zip(&want) {
                    assert_eq!(*g as f64, *w, "{m}x{k}x{n}, A transposed");
                }
            }
        });
    }
}
