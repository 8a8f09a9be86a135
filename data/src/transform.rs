//! Normalisation (the lecture's mean image / std image, or per channel),
//! seeded shuffling, mini-batches and augmentation.

use autograd::{fmt_shape, Error, Result, Tensor};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::Dataset;

/// Subtract a mean and divide by a std, both computed on the training set and
/// then applied unchanged to validation and test sets.
///
/// `per_pixel` is the lecture's "mean image" (`X:mean(1)`, `X:std(1)`): one
/// mean and std per (channel, row, column). `per_channel` is one per channel.
/// Standard deviations are Torch's unbiased `std`; a zero std is replaced by 1.
///
/// ```
/// use autograd::Tensor;
/// let train = Tensor::from_vec(vec![0.0f32, 2.0, 4.0, 6.0], &[2, 1, 1, 2]).unwrap();
/// let norm = data::Normalizer::per_pixel(&train).unwrap();
/// assert_eq!(norm.mean.data(), &[2.0, 4.0]);
/// let z = norm.apply(&train).unwrap();
/// assert!((z.data()[0] + 0.70710677).abs() < 1e-6);
/// ```
#[derive(Clone, Debug)]
pub struct Normalizer {
    /// `[C, H, W]` (per pixel) or `[C, 1, 1]` (per channel).
    pub mean: Tensor<f32>,
    /// Same shape as `mean`.
    pub std: Tensor<f32>,
}

impl Normalizer {
    /// The lecture's mean image and std image over `[N, C, H, W]`.
    #[track_caller]
    pub fn per_pixel(x: &Tensor<f32>) -> Result<Self> {
        let s = check4("normalize", x)?;
        let d = s[1] * s[2] * s[3];
        Ok(Self::fit(x, s[0], d, 1, &[s[1], s[2], s[3]]))
    }

    /// One mean and std per channel over `[N, C, H, W]`.
    #[track_caller]
    pub fn per_channel(x: &Tensor<f32>) -> Result<Self> {
        let s = check4("normalize", x)?;
        Ok(Self::fit(x, s[0], s[1], s[2] * s[3], &[s[1], 1, 1]))
    }

    /// Statistics of `x` viewed as `[n, d, r]`, reduced over n and r.
    fn fit(x: &Tensor<f32>, n: usize, d: usize, r: usize, shape: &[usize]) -> Self {
        let xd = x.data();
        let cnt = (n * r) as f64;
        let mut sum = vec![0f64; d];
        for i in 0..n {
            for j in 0..d {
                sum[j] += xd[(i * d + j) * r..(i * d + j + 1) * r]
                    .iter()
                    .map(|&v| v as f64)
                    .sum::<f64>();
            }
        }
        let mean: Vec<f64> = sum.iter().map(|s| s / cnt).collect();
        let mut ss = vec![0f64; d];
        for i in 0..n {
            for j in 0..d {
                ss[j] += xd[(i * d + j) * r..(i * d + j + 1) * r]
                    .iter()
                    .map(|&v| (v as f64 - mean[j]).powi(2))
                    .sum::<f64>();
            }
        }
        let std: Vec<f32> = ss
            .iter()
            .map(|s| {
                let v = (s / (cnt - 1.0).max(1.0)).sqrt();
                if v > 0.0 && v.is_finite() {
                    v as f32
                } else {
                    1.0
                }
            })
            .collect();
        Normalizer {
            mean: Tensor::from_vec(mean.iter().map(|&m| m as f32).collect(), shape)
                .expect("shape from input"),
            std: Tensor::from_vec(std, shape).expect("shape from input"),
        }
    }

    /// `(x - mean) / std`, broadcast over the batch.
    #[track_caller]
    pub fn apply(&self, x: &Tensor<f32>) -> Result<Tensor<f32>> {
        let s = check4("normalize", x)?;
        let ms = self.mean.shape();
        if s[1] != ms[0] || (ms[1] != 1 && (s[2], s[3]) != (ms[1], ms[2])) {
            return Err(Error::shape(
                "normalize",
                format!(
                    "input {} does not match statistics {}",
                    fmt_shape(s),
                    fmt_shape(ms)
                ),
            ));
        }
        let centred = x.zip_broadcast(&self.mean, "normalize", |a, m| a - m)?;
        centred.zip_broadcast(&self.std, "normalize", |a, s| a / s)
    }
}

#[track_caller]
fn check4<'a>(op: &'static str, x: &'a Tensor<f32>) -> Result<&'a [usize]> {
    let s = x.shape();
    if s.len() != 4 || s[0] == 0 {
        return Err(Error::shape(
            op,
            format!(
                "images {} must be a non-empty [N, C, H, W] batch",
                fmt_shape(s)
            ),
        ));
    }
    Ok(s)
}

/// A seeded permutation of `0..n` for one epoch: the same (seed, epoch) always
/// gives the same order.
///
/// ```
/// let a = data::epoch_order(10, 42, 0);
/// assert_eq!(a, data::epoch_order(10, 42, 0));
/// assert_ne!(a, data::epoch_order(10, 42, 1));
/// ```
pub fn epoch_order(n: usize, seed: u64, epoch: u64) -> Vec<usize> {
    let mut rng = epoch_rng(seed, epoch, 0);
    let mut idx: Vec<usize> = (0..n).collect();
    idx.shuffle(&mut rng);
    idx
}

/// The RNG for one (seed, epoch, purpose) triple: independent streams for
/// shuffling and augmentation.
pub fn epoch_rng(seed: u64, epoch: u64, purpose: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(epoch.wrapping_mul(16).wrapping_add(purpose));
    rng
}

/// Training-time augmentation: random crop after zero padding, and random
/// horizontal flip (the usual CIFAR-10 recipe).
#[derive(Clone, Copy, Debug)]
pub struct Augment {
    /// Zero padding on each side before cropping back to the original size (0 = no crop).
    pub crop_padding: usize,
    /// Flip left-right with probability 1/2.
    pub hflip: bool,
}

impl Augment {
    /// Applies the augmentation to every image of a `[N, C, H, W]` batch.
    ///
    /// ```
    /// use autograd::Tensor;
    /// use rand::SeedableRng;
    /// let x = Tensor::from_vec((0..16).map(|v| v as f32).collect(), &[1, 1, 4, 4]).unwrap();
    /// let aug = data::Augment { crop_padding: 0, hflip: true };
    /// let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    /// let y = aug.apply(&x, &mut rng).unwrap();
    /// assert_eq!(y.shape(), x.shape());
    /// ```
    #[track_caller]
    pub fn apply<R: Rng + ?Sized>(&self, x: &Tensor<f32>, rng: &mut R) -> Result<Tensor<f32>> {
        let s = check4("augment", x)?;
        let (n, c, h, w) = (s[0], s[1], s[2], s[3]);
        let p = self.crop_padding;
        let mut out = vec![0f32; x.numel()];
        let xd = x.data();
        for i in 0..n {
            let (dy, dx) = if p > 0 {
                (rng.random_range(0..=2 * p), rng.random_range(0..=2 * p))
            } else {
                (p, p)
            };
            let flip = self.hflip && rng.random::<bool>();
            for ch in 0..c {
                let base = (i * c + ch) * h * w;
                for y in 0..h {
                    // source row in the padded image is y + dy, i.e. y + dy - p in the original
                    let sy = (y + dy) as isize - p as isize;
                    if sy < 0 || sy >= h as isize {
                        continue;
                    }
                    for xo in 0..w {
                        let xc = if flip { w - 1 - xo } else { xo };
                        let sx = (xc + dx) as isize - p as isize;
                        if sx >= 0 && sx < w as isize {
                            out[base + y * w + xo] = xd[base + sy as usize * w + sx as usize];
                        }
                    }
                }
            }
        }
        Tensor::from_vec(out, s)
    }
}

/// Mini-batches of a dataset in a seeded order, optionally augmented.
///
/// ```
/// use autograd::Tensor;
/// let ds = data::Dataset::new(Tensor::zeros(&[10, 1, 2, 2]), (0..10).map(|i| i % 3).collect(), 3).unwrap();
/// let sizes: Vec<usize> = data::Batches::new(&ds, 4, Some(7), 0, None).map(|b| b.unwrap().len()).collect();
/// assert_eq!(sizes, vec![4, 4, 2]);
/// ```
pub struct Batches<'a> {
    data: &'a Dataset,
    order: Vec<usize>,
    batch: usize,
    pos: usize,
    augment: Option<(Augment, ChaCha8Rng)>,
}

impl<'a> Batches<'a> {
    /// Batches of `batch` examples (the last may be smaller); `seed = None`
    /// keeps the stored order; `augment` uses its own stream of the seed.
    /// A batch size of 0 yields one error (naming it) and nothing else.
    pub fn new(
        data: &'a Dataset,
        batch: usize,
        seed: Option<u64>,
        epoch: u64,
        augment: Option<Augment>,
    ) -> Self {
        let order = match seed {
            Some(s) => epoch_order(data.len(), s, epoch),
            None => (0..data.len()).collect(),
        };
        let augment = augment.map(|a| (a, epoch_rng(seed.unwrap_or(0), epoch, 1)));
        Batches {
            data,
            order,
            batch,
            pos: 0,
            augment,
        }
    }
}

impl Iterator for Batches<'_> {
    type Item = Result<Dataset>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.batch == 0 {
            if self.pos == usize::MAX {
                return None;
            }
            self.pos = usize::MAX;
            return Some(Err(Error::invalid(
                "batches",
                "batch size 0: a mini-batch needs at least 1 example",
            )));
        }
        if self.pos >= self.order.len() {
            return None;
        }
        let end = (self.pos + self.batch).min(self.order.len());
        let idx = &self.order[self.pos..end];
        self.pos = end;
        Some(self.data.gather(idx).and_then(|mut b| {
            if let Some((aug, rng)) = &mut self.augment {
                b.images = aug.apply(&b.images, rng)?;
            }
            Ok(b)
        }))
    }
}
