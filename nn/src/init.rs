//! Weight initialisation schemes, each with its formula and paper.
//!
//! All draw from an explicit RNG (use a seeded `ChaCha8Rng`). `fan_in` and
//! `fan_out` are computed as PyTorch computes them: for a linear weight
//! `[out, in]`, `fan_in = in`, `fan_out = out`; for a conv weight
//! `[out, in, kh, kw]`, `fan_in = in kh kw` and `fan_out = out kh kw`.
//!
//! | scheme | std | source |
//! |---|---|---|
//! | `Small` | 0.01 | the lecture's "first idea": `randn * 0.01` |
//! | `Unit` | 1 | the lecture's `randn * 1.0` (saturates tanh) |
//! | `Xavier` | `1/sqrt(fan_in)` | the lecture's "Xavier" (Glorot & Bengio 2010, Caffe's variant) |
//! | `Glorot` | `sqrt(2/(fan_in + fan_out))` | Glorot & Bengio 2010 |
//! | `He` | `sqrt(2/fan_in)` | He et al. 2015 ("note additional /2") |
//! | `LeCun` | `sqrt(1/(3 fan_in))` | LeCun et al. 1998, "Efficient backprop" (e-lab heuristic) |
//! | `ElabKaiming` | `sqrt(4/(fan_in + fan_out))` | e-lab torch-toolbox's `kaiming` |
//!
//! Each has a normal variant (`N(0, std^2)`) and a uniform one with the same
//! standard deviation (`U(-a, a)`, `a = std sqrt(3)`).

use autograd::{Element, Tensor};
use rand::Rng;

/// An initialisation scheme (see the [module docs](self) for formulas).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Init {
    /// std 0.01
    Small,
    /// std 1
    Unit,
    /// std 1/sqrt(fan_in) (the lecture's Xavier)
    Xavier,
    /// std sqrt(2/(fan_in + fan_out))
    Glorot,
    /// std sqrt(2/fan_in)
    He,
    /// std sqrt(1/(3 fan_in))
    LeCun,
    /// std sqrt(4/(fan_in + fan_out))
    ElabKaiming,
}

/// Normal or uniform draws with the scheme's standard deviation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dist {
    /// N(0, std^2)
    Normal,
    /// U(-std sqrt 3, std sqrt 3)
    Uniform,
}

impl Init {
    /// Every scheme, in the order of the module table.
    pub const ALL: [Init; 7] = [
        Init::Small,
        Init::Unit,
        Init::Xavier,
        Init::Glorot,
        Init::He,
        Init::LeCun,
        Init::ElabKaiming,
    ];

    /// The command-line name (`small`, `unit`, `xavier`, `glorot`, `he`, `lecun`, `elab-kaiming`).
    pub fn name(&self) -> &'static str {
        match self {
            Init::Small => "small",
            Init::Unit => "unit",
            Init::Xavier => "xavier",
            Init::Glorot => "glorot",
            Init::He => "he",
            Init::LeCun => "lecun",
            Init::ElabKaiming => "elab-kaiming",
        }
    }

    /// Parses a name from [`Init::name`] (also `kaiming` for He).
    ///
    /// ```
    /// use nn::Init;
    /// assert_eq!(Init::from_name("he"), Some(Init::He));
    /// assert_eq!(Init::from_name("kaiming"), Some(Init::He));
    /// assert_eq!(Init::from_name("nope"), None);
    /// ```
    pub fn from_name(s: &str) -> Option<Init> {
        if s == "kaiming" {
            return Some(Init::He);
        }
        Init::ALL.into_iter().find(|i| i.name() == s)
    }

    /// The standard deviation for these fans.
    ///
    /// ```
    /// use nn::Init;
    /// assert_eq!(Init::Xavier.std(500, 500), 1.0 / 500f64.sqrt());
    /// assert_eq!(Init::He.std(500, 500), (2.0 / 500f64).sqrt());
    /// ```
    pub fn std(&self, fan_in: usize, fan_out: usize) -> f64 {
        let (fi, fo) = (fan_in.max(1) as f64, fan_out.max(1) as f64);
        match self {
            Init::Small => 0.01,
            Init::Unit => 1.0,
            Init::Xavier => 1.0 / fi.sqrt(),
            Init::Glorot => (2.0 / (fi + fo)).sqrt(),
            Init::He => (2.0 / fi).sqrt(),
            Init::LeCun => (1.0 / (3.0 * fi)).sqrt(),
            Init::ElabKaiming => (4.0 / (fi + fo)).sqrt(),
        }
    }

    /// A weight tensor of `shape` (`[out, in]` or `[out, in, kh, kw]`).
    ///
    /// ```
    /// use nn::{Dist, Init};
    /// use rand::SeedableRng;
    /// let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    /// let w = Init::He.tensor::<f32, _>(&[64, 32, 3, 3], Dist::Normal, &mut rng);
    /// let want = (2.0 / (32.0 * 9.0f64)).sqrt();
    /// assert!((w.std_all(false) - want).abs() < 0.05 * want);
    /// ```
    pub fn tensor<T: Element, R: Rng + ?Sized>(
        &self,
        shape: &[usize],
        dist: Dist,
        rng: &mut R,
    ) -> Tensor<T> {
        let (fi, fo) = fans(shape);
        let std = self.std(fi, fo);
        match dist {
            Dist::Normal => Tensor::randn(shape, 0.0, std, rng),
            Dist::Uniform => {
                let a = std * 3f64.sqrt();
                Tensor::rand_uniform(shape, -a, a, rng)
            }
        }
    }
}

/// `(fan_in, fan_out)` of a weight shape, as PyTorch's
/// `_calculate_fan_in_and_fan_out`: dims 0 and 1 times the receptive field.
///
/// ```
/// assert_eq!(nn::init::fans(&[10, 3072]), (3072, 10));
/// assert_eq!(nn::init::fans(&[64, 32, 3, 3]), (288, 576));
/// ```
pub fn fans(shape: &[usize]) -> (usize, usize) {
    match shape.len() {
        0 => (1, 1),
        1 => (shape[0], shape[0]),
        _ => {
            let rf: usize = shape[2..].iter().product();
            (shape[1] * rf, shape[0] * rf)
        }
    }
}
