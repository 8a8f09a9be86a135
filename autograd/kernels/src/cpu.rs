//! Which SIMD instruction set the kernels use, decided once per process.
//!
//! The widest of AVX-512F, AVX2+FMA and portable code that the CPU has,
//! capped by the environment variable `LECTURE_GRAD_MAX_ISA`
//! (`avx512`, `avx2` or `portable`), read once at first use. The cap lets
//! tests and benchmarks run every kernel path on one machine, and compare
//! an AVX2 path with PyTorch held to AVX2 (`pytorch_peer.py --isa avx2`).
//!
//! | ISA | GEMM micro-kernel (f32) | loads per FMA | tanh slice |
//! |---|---|---|---|
//! | `Avx512` | 16 x 16: one zmm of B, 16 broadcasts of A, 16 FMAs per k | 17 / 16 | 16 lanes |
//! | `Avx2` | the 16 x 16 tile as 6 + 6 + 4 rows: 2 ymm of B, 6 broadcasts, 12 FMAs per k (12 of 16 registers accumulate) | 8 / 12 (6 / 8 for the 4-row part) | 8 lanes |
//! | `Portable` | plain loops (what the compiler vectorises for the baseline target) | | scalar |
//!
//! f64 always takes the portable micro-kernel (it is the gradient-check
//! path, where exactness matters and speed does not).

use std::sync::OnceLock;

/// An instruction-set level of the kernels, ordered from narrowest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Isa {
    /// No SIMD intrinsics: plain Rust loops.
    Portable,
    /// AVX2 with FMA (Haswell and later, Zen 1 and later).
    Avx2,
    /// AVX-512F (Skylake-X and later server cores, Ice Lake, Zen 4).
    Avx512,
}

impl Isa {
    /// `"avx512"`, `"avx2"` or `"portable"`, as `LECTURE_GRAD_MAX_ISA` spells it.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Portable => "portable",
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512",
        }
    }

    /// Parses a name as [`Isa::name`] writes it.
    pub fn from_name(s: &str) -> Option<Isa> {
        match s.trim().to_ascii_lowercase().as_str() {
            "portable" => Some(Isa::Portable),
            "avx2" => Some(Isa::Avx2),
            "avx512" => Some(Isa::Avx512),
            _ => None,
        }
    }
}

/// The widest ISA this CPU supports.
pub fn detected() -> Isa {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx512f") {
            return Isa::Avx512;
        }
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            return Isa::Avx2;
        }
    }
    Isa::Portable
}

/// The cap from `LECTURE_GRAD_MAX_ISA`, if set. An unknown value is
/// reported once on stderr and ignored (no cap), rather than silently
/// running some other path than the one asked for.
fn cap_from_env() -> Option<Isa> {
    let v = std::env::var("LECTURE_GRAD_MAX_ISA").ok()?;
    let isa = Isa::from_name(&v);
    if isa.is_none() {
        eprintln!(
            "warning: LECTURE_GRAD_MAX_ISA={v:?} is not one of avx512, avx2, portable: ignored"
        );
    }
    isa
}

/// The ISA the kernels use: [`detected`], capped by `LECTURE_GRAD_MAX_ISA`.
/// Decided once per process.
///
/// ```
/// use kernels::cpu::{active, detected};
/// assert!(active() <= detected());
/// ```
pub fn active() -> Isa {
    static ACTIVE: OnceLock<Isa> = OnceLock::new();
    *ACTIVE.get_or_init(|| {
        let d = detected();
        match cap_from_env() {
            Some(cap) => d.min(cap),
            None => d,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_order_is_by_width() {
        for isa in [Isa::Portable, Isa::Avx2, Isa::Avx512] {
            assert_eq!(Isa::from_name(isa.name()), Some(isa));
        }
        assert_eq!(Isa::from_name(" AVX2 "), Some(Isa::Avx2));
        assert_eq!(Isa::from_name("sse"), None);
        assert!(Isa::Portable < Isa::Avx2 && Isa::Avx2 < Isa::Avx512);
    }

    #[test]
    fn the_active_isa_is_the_detected_one_capped_by_the_environment() {
        let want = match std::env::var("LECTURE_GRAD_MAX_ISA")
            .ok()
            .and_then(|v| Isa::from_name(&v))
        {
            Some(cap) => detected().min(cap),
            None => detected(),
        };
        assert_eq!(active(), want);
    }
}
