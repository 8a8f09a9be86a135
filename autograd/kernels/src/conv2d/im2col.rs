//! Dilated im2col / col2im for one sample (NCHW, no unsafe).
//!
//! `col` is a `[C * kh * kw, ho * wo]` row-major matrix: row
//! `(c * kh + ki) * kw + kj`, column `oh * wo + ow` holds
//! `x[c, oh * sh + ki * dh - ph, ow * sw + kj * dw - pw]`, or 0 where that
//! falls in the padding. A convolution is then one GEMM: `W[cout, C*kh*kw] @ col`.

/// Geometry of a 2-D sliding window (conv or pool) on one plane.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// Input height and width.
    pub h: usize,
    /// Input width.
    pub w: usize,
    /// Kernel height.
    pub kh: usize,
    /// Kernel width.
    pub kw: usize,
    /// Strides.
    pub sh: usize,
    /// Stride along width.
    pub sw: usize,
    /// Zero padding.
    pub ph: usize,
    /// Padding along width.
    pub pw: usize,
    /// Dilation.
    pub dh: usize,
    /// Dilation along width.
    pub dw: usize,
    /// Output height.
    pub ho: usize,
    /// Output width.
    pub wo: usize,
}

impl Window {
    /// The window of a square `k x k` kernel with the same stride `s`,
    /// padding `p` and dilation `d` on both axes over an `h x w` input, its
    /// output size computed as PyTorch does; `None` when the dilated kernel
    /// does not fit in the padded input, `s` or `d` is 0, or a size
    /// overflows.
    ///
    /// ```
    /// use kernels::conv2d::Window;
    /// let g = Window::square(32, 32, 3, 1, 1, 1).unwrap();
    /// assert_eq!((g.ho, g.wo), (32, 32));
    /// assert!(Window::square(2, 2, 5, 1, 0, 1).is_none());
    /// ```
    pub fn square(h: usize, w: usize, k: usize, s: usize, p: usize, d: usize) -> Option<Window> {
        let span = k.checked_sub(1)?.checked_mul(d)?.checked_add(1)?;
        let out = |len: usize| -> Option<usize> {
            let padded = p.checked_mul(2)?.checked_add(len)?;
            Some(padded.checked_sub(span)?.checked_div(s)? + 1)
        };
        if d == 0 {
            return None;
        }
        Some(Window {
            h,
            w,
            kh: k,
            kw: k,
            sh: s,
            sw: s,
            ph: p,
            pw: p,
            dh: d,
            dw: d,
            ho: out(h)?,
            wo: out(w)?,
        })
    }

    /// A 1x1 kernel with stride 1 and no padding: im2col of an image is the
    /// image itself (`[C, H*W]`), so it can be skipped.
    pub fn is_plain_1x1(&self) -> bool {
        self.kh == 1 && self.kw == 1 && self.sh == 1 && self.sw == 1 && self.ph == 0 && self.pw == 0
    }

    /// For output position `o` and kernel offset `k` along one axis, the input
    /// coordinate, or `None` in the padding.
    #[inline]
    fn src(o: usize, k: usize, s: usize, p: usize, d: usize, len: usize) -> Option<usize> {
        let i = (o * s + k * d).checked_sub(p)?;
        (i < len).then_some(i)
    }

    /// Range of output columns `ow` whose input column for kernel column `kj`
    /// lies inside the image: `[lo, hi)`.
    #[inline]
    fn valid_cols(&self, kj: usize) -> (usize, usize) {
        let off = kj * self.dw; // iw = ow*sw + off - pw
        let lo = if off >= self.pw {
            0
        } else {
            (self.pw - off).div_ceil(self.sw)
        };
        // ow*sw + off - pw < w  <=>  ow*sw < w + pw - off
        let lim = self.w + self.pw;
        let hi = if lim <= off {
            0
        } else {
            (lim - off).div_ceil(self.sw)
        };
        (lo.min(self.wo), hi.min(self.wo))
    }
}

/// Fills `col` (`c * kh * kw * ho * wo` elements) from one sample `x` (`c * h * w`).
pub fn im2col<T: Copy + Default>(x: &[T], c: usize, g: &Window, col: &mut [T]) {
    let p = g.ho * g.wo;
    im2col_range(x, c, g, 0..p, col, p);
}

/// The columns `pixels` (output positions `oh * wo + ow`) of [`im2col`]:
/// row `r` goes to `dst[r * ld ..]`, column `j` to offset `j - pixels.start`.
/// Lets a convolution work on a block of output pixels whose columns fit in
/// cache.
pub fn im2col_range<T: Copy + Default>(
    x: &[T],
    c: usize,
    g: &Window,
    pixels: std::ops::Range<usize>,
    dst: &mut [T],
    ld: usize,
) {
    let hw = g.h * g.w;
    let zero = T::default();
    let (j0, j1) = (pixels.start, pixels.end);
    for ci in 0..c {
        let plane = &x[ci * hw..(ci + 1) * hw];
        for ki in 0..g.kh {
            for kj in 0..g.kw {
                let r = (ci * g.kh + ki) * g.kw + kj;
                let drow = &mut dst[r * ld..r * ld + (j1 - j0)];
                let (lo, hi) = g.valid_cols(kj);
                for_row_segments(g, j0, j1, |oh, ow0, ow1, at| {
                    let d = &mut drow[at..at + (ow1 - ow0)];
                    let Some(ih) = Window::src(oh, ki, g.sh, g.ph, g.dh, g.h) else {
                        d.fill(zero);
                        return;
                    };
                    // output columns of this segment that read inside the image
                    let (a, b) = (lo.max(ow0), hi.min(ow1));
                    if a >= b {
                        d.fill(zero);
                        return;
                    }
                    d[..a - ow0].fill(zero);
                    d[b - ow0..].fill(zero);
                    let src = &plane[ih * g.w..(ih + 1) * g.w];
                    if g.sw == 1 {
                        let s0 = a + kj * g.dw - g.pw;
                        d[a - ow0..b - ow0].copy_from_slice(&src[s0..s0 + (b - a)]);
                    } else {
                        for ow in a..b {
                            d[ow - ow0] = src[ow * g.sw + kj * g.dw - g.pw];
                        }
                    }
                });
            }
        }
    }
}

/// Calls `f(oh, ow0, ow1, offset)` for each output row's share of the pixel
/// range `[j0, j1)`, with `offset` the position of `(oh, ow0)` in the range.
#[inline]
fn for_row_segments(
    g: &Window,
    j0: usize,
    j1: usize,
    mut f: impl FnMut(usize, usize, usize, usize),
) {
    let mut j = j0;
    while j < j1 {
        let (oh, ow0) = (j / g.wo, j % g.wo);
        let ow1 = g.wo.min(ow0 + (j1 - j));
        f(oh, ow0, ow1, j - j0);
        j += ow1 - ow0;
    }
}

/// Adds `col` back into `gx` (`c * h * w`), the adjoint of [`im2col`].
pub fn col2im<T: Copy + std::ops::AddAssign>(col: &[T], c: usize, g: &Window, gx: &mut [T]) {
    let p = g.ho * g.wo;
    col2im_range(col, p, c, g, 0..p, gx);
}

/// The adjoint of [`im2col_range`]: adds the columns `pixels` of a col
/// block (`src`, leading dimension `ld`) into `gx`.
pub fn col2im_range<T: Copy + std::ops::AddAssign>(
    src: &[T],
    ld: usize,
    c: usize,
    g: &Window,
    pixels: std::ops::Range<usize>,
    gx: &mut [T],
) {
    let hw = g.h * g.w;
    let (j0, j1) = (pixels.start, pixels.end);
    for ci in 0..c {
        let plane = &mut gx[ci * hw..(ci + 1) * hw];
        for ki in 0..g.kh {
            for kj in 0..g.kw {
                let r = (ci * g.kh + ki) * g.kw + kj;
                let srow = &src[r * ld..r * ld + (j1 - j0)];
                let (lo, hi) = g.valid_cols(kj);
                for_row_segments(g, j0, j1, |oh, ow0, ow1, at| {
                    let Some(ih) = Window::src(oh, ki, g.sh, g.ph, g.dh, g.h) else {
                        return;
                    };
                    let (a, b) = (lo.max(ow0), hi.min(ow1));
                    if a >= b {
                        return; // every column of this segment is padding
                    }
                    let s = &srow[at + (a - ow0)..at + (b - ow0)];
                    let dst = &mut plane[ih * g.w..(ih + 1) * g.w];
                    if g.sw == 1 {
                        // contiguous: a plain slice add the compiler vectorises
                        let d0 = a + kj * g.dw - g.pw;
                        for (d, &v) in dst[d0..d0 + (b - a)].iter_mut().zip(s) {
                            *d += v;
                        }
                    } else {
                        for (ow, &v) in (a..b).zip(s) {
                            dst[ow * g.sw + kj * g.dw - g.pw] += v;
                        }
                    }
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive_im2col(x: &[f64], c: usize, g: &Window) -> Vec<f64> {
        let mut col = vec![0.0; c * g.kh * g.kw * g.ho * g.wo];
        for ci in 0..c {
            for ki in 0..g.kh {
                for kj in 0..g.kw {
                    for oh in 0..g.ho {
                        for ow in 0..g.wo {
                            let ih = (oh * g.sh + ki * g.dh) as isize - g.ph as isize;
                            let iw = (ow * g.sw + kj * g.dw) as isize - g.pw as isize;
                            if ih >= 0 && iw >= 0 && (ih as usize) < g.h && (iw as usize) < g.w {
                                col[(((ci * g.kh + ki) * g.kw + kj) * g.ho + oh) * g.wo + ow] =
                                    x[(ci * g.h + ih as usize) * g.w + iw as usize];
                            }
                        }
                    }
                }
            }
        }
        col
    }

    #[test]
    fn im2col_and_col2im_match_naive_loops() {
        for &(h, w, k, s, p, d) in &[
            // found by the ops fuzz target: a tap whose every column is padding
            (1, 1, 3, 1, 2, 2),
            (2, 1, 3, 1, 2, 2),
            (5, 7, 3, 1, 1, 1),
            (8, 6, 3, 2, 2, 2),
            (4, 4, 2, 2, 0, 1),
            (9, 5, 2, 3, 1, 3),
            (3, 3, 1, 1, 0, 1),
        ] {
            let g = Window::square(h, w, k, s, p, d).unwrap();
            let (ho, wo) = (g.ho, g.wo);
            let c = 2;
            let x: Vec<f64> = (0..c * h * w).map(|i| i as f64 + 1.0).collect();
            let mut col = vec![f64::NAN; c * k * k * ho * wo];
            im2col(&x, c, &g, &mut col);
            assert_eq!(col, naive_im2col(&x, c, &g), "{g:?}");
            // col2im is the adjoint: <im2col(x), y> == <x, col2im(y)>
            let y: Vec<f64> = (0..col.len()).map(|i| ((i * 7) % 5) as f64 - 2.0).collect();
            let mut gx = vec![0.0; x.len()];
            col2im(&y, c, &g, &mut gx);
            let lhs: f64 = col.iter().zip(&y).map(|(a, b)| a * b).sum();
            let rhs: f64 = x.iter().zip(&gx).map(|(a, b)| a * b).sum();
            assert_eq!(lhs, rhs, "{g:?}");
            // any pixel range, written with another leading dimension
            let (p, rows) = (ho * wo, c * k * k);
            for (j0, j1) in [(0, p), (1, p), (0, p / 2), (p / 3, p - p / 4)] {
                let ld = j1 - j0 + 2;
                let mut blk = vec![f64::NAN; rows * ld];
                im2col_range(&x, c, &g, j0..j1, &mut blk, ld);
                let mut yb = vec![0.0; rows * ld];
                for r in 0..rows {
                    assert_eq!(
                        &blk[r * ld..r * ld + j1 - j0],
                        &col[r * p + j0..r * p + j1],
                        "{g:?}"
                    );
                    assert!(blk[r * ld + j1 - j0..(r + 1) * ld]
                        .iter()
                        .all(|v| v.is_nan()));
                    yb[r * ld..r * ld + j1 - j0].copy_from_slice(&y[r * p + j0..r * p + j1]);
                }
                let mut gxb = vec![0.0; x.len()];
                col2im_range(&yb, ld, c, &g, j0..j1, &mut gxb);
                let mut ycut = vec![0.0; y.len()];
                for r in 0..rows {
                    ycut[r * p + j0..r * p + j1].copy_from_slice(&y[r * p + j0..r * p + j1]);
                }
                let mut want = vec![0.0; x.len()];
                col2im(&ycut, c, &g, &mut want);
                assert_eq!(gxb, want, "{g:?} pixels {j0}..{j1}");
            }
        }
    }
}
