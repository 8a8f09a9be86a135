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
    let (hw, p) = (g.h * g.w, g.ho * g.wo);
    let zero = T::default();
    for ci in 0..c {
        let plane = &x[ci * hw..(ci + 1) * hw];
        for ki in 0..g.kh {
            for kj in 0..g.kw {
                let row = ((ci * g.kh + ki) * g.kw + kj) * p;
                let dst = &mut col[row..row + p];
                let (lo, hi) = g.valid_cols(kj);
                for oh in 0..g.ho {
                    let d = &mut dst[oh * g.wo..(oh + 1) * g.wo];
                    match Window::src(oh, ki, g.sh, g.ph, g.dh, g.h) {
                        None => d.fill(zero),
                        Some(ih) => {
                            d[..lo].fill(zero);
                            d[hi.max(lo)..].fill(zero);
                            let src = &plane[ih * g.w..(ih + 1) * g.w];
                            if hi <= lo {
                                // every output column reads padding for this tap
                            } else if g.sw == 1 {
                                let start = lo + kj * g.dw - g.pw;
                                d[lo..hi.max(lo)]
                                    .copy_from_slice(&src[start..start + hi.saturating_sub(lo)]);
                            } else {
                                for ow in lo..hi {
                                    d[ow] = src[ow * g.sw + kj * g.dw - g.pw];
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Adds `col` back into `gx` (`c * h * w`), the adjoint of [`im2col`].
pub fn col2im<T: Copy + std::ops::AddAssign>(col: &[T], c: usize, g: &Window, gx: &mut [T]) {
    let (hw, p) = (g.h * g.w, g.ho * g.wo);
    for ci in 0..c {
        let plane = &mut gx[ci * hw..(ci + 1) * hw];
        for ki in 0..g.kh {
            for kj in 0..g.kw {
                let row = ((ci * g.kh + ki) * g.kw + kj) * p;
                let src = &col[row..row + p];
                let (lo, hi) = g.valid_cols(kj);
                for oh in 0..g.ho {
                    if let Some(ih) = Window::src(oh, ki, g.sh, g.ph, g.dh, g.h) {
                        let dst = &mut plane[ih * g.w..(ih + 1) * g.w];
                        let s = &src[oh * g.wo..(oh + 1) * g.wo];
                        if hi <= lo {
                            // every output column of this tap is padding
                        } else if g.sw == 1 {
                            // contiguous: a plain slice add the compiler vectorises
                            let start = lo + kj * g.dw - g.pw;
                            for (d, &v) in dst[start..start + (hi - lo)].iter_mut().zip(&s[lo..hi])
                            {
                                *d += v;
                            }
                        } else {
                            for ow in lo..hi {
                                dst[ow * g.sw + kj * g.dw - g.pw] += s[ow];
                            }
                        }
                    }
                }
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
            let ho = (h + 2 * p - d * (k - 1) - 1) / s + 1;
            let wo = (w + 2 * p - d * (k - 1) - 1) / s + 1;
            let g = Window {
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
                ho,
                wo,
            };
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
        }
    }
}
