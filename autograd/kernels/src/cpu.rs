//! Which SIMD instruction set the kernels use, decided once per process.
//!
//! The widest of AVX-512F, AVX2+FMA and portable code that the CPU has,
//! capped by the environment variable `LECTURE_GRAD_MAX_ISA`
//! (`avx512`, `avx2` or `portable`), read once at first use. The cap lets
//! tests and benchmarks run every kernel path on one machine, and compare
//! an AVX2 path with PyTorch held to AVX2 (`pytorch_peer.py --isa avx2`).
//!
//! | ISA | GEMM micro-kernel (f32) | loads per FMA | tanh / exp slices |
//! |---|---|---|---|
//! | `Avx512` | 8 x 32: 2 zmm of B, 8 broadcasts of A, 16 FMAs per k (16 of 32 registers accumulate) | 10 / 16 | 16 lanes, FMA |
//! | `Avx2` | 16 x 16 as 6 + 6 + 4 rows: 2 ymm of B, 6 broadcasts, 12 FMAs per k (12 of 16 registers accumulate) | 8 / 12 (6 / 8 for the 4-row part) | 8 lanes, FMA |
//! | `Portable` | 16 x 16, plain loops (what the compiler vectorises for the baseline target) | | scalar, separate multiply and add |
//!
//! Why these tiles. Intel server cores (Skylake-X, Cascade Lake, Ice Lake,
//! Sapphire Rapids) retire 2 zmm FMAs and 2 loads per cycle, and a
//! broadcast from memory is a load: the 16 x 16 AVX-512 tile used before
//! needed 17 loads per 16 FMAs (8.5 cycles of loads per 8 of FMAs, so
//! load-bound), 8 x 32 needs 10 (5 cycles per 8). Zen 4 runs a zmm FMA as
//! two halves and has 3 load ports, so either tile fits it; one AVX-512
//! kernel serves both vendors. 8 rows, not 12 or 14 (which would take the
//! loads lower still), because m is a channel count in every convolution,
//! almost always a multiple of 8: 12- or 14-row panels would waste 9-24%
//! of the work on m = 32, 64 or 128 and split it unevenly across threads
//! (a 6-row AVX2 tile measured 10% slower on Zen 1 for m = 64 and 128 for
//! that reason, so the AVX2 tile keeps 16-row panels, computed 6 + 6 + 4).
//! With AVX2 (16 ymm registers) 6 x 16 is the largest block with 2 B
//! vectors: 8 loads per 12 FMAs suit both Intel client cores (2 FMA, 2
//! load ports) and Zen 1-3.
//!
//! A right-edge tile with at most half the columns (16 with AVX-512, 8
//! with AVX2) runs one vector of B per k instead of two: 9 loads per 8
//! FMAs with AVX-512 (7 per 6 with AVX2), but half the work of the full
//! tile, which would compute the missing columns too.
//!
//! f64 always takes the portable micro-kernel (it is the gradient-check
//! path, where exactness matters and speed does not).
//!
//! **Cache blocking** comes from the cache sizes ([`info`]: sysfs on Linux,
//! read once), by the analytical rule of BLIS (Low et al., "Analytical
//! modeling is enough for high-performance BLIS", 2016) as
//! `kernels::packed::blocking` applies it, with one change for AVX-512:
//! `KC x 16` floats fill about half of L1d, so the `KC x NR` B
//! micro-panel (reused from L1 by every A micro-panel of a block) fills
//! half of L1d for the 16-wide AVX2 tile and all of it for the 32-wide
//! AVX-512 tile; the `MC x KC` A block fills about half of L2 (reused from
//! L2 for every B micro-panel). Why the longer k blocks with AVX-512: each
//! k block ends with a load and store of the whole C tile, mostly misses,
//! and an AVX-512 core gets through a k block in half the cycles, so BLIS's
//! KC leaves it waiting on C twice as often. Measured on an Intel Xeon
//! (family 6 model 207, 48 KiB L1d, 2 MiB L2, one core, 1024^3): 56% of
//! the FMA peak at KC = 192, 81-88% at KC = 384 (that machine is a shared
//! VM whose timings vary by 15%; these are its repeatable differences).
//! By family, with the tile of its widest ISA:
//!
//! | CPU family (per-core L1d / L2), tile | KC | MC |
//! |---|---|---|
//! | AMD Zen 1-3 (32 KiB / 512 KiB), AVX2 16 x 16 | 256 | 256 |
//! | AMD Zen 4 (32 KiB / 1 MiB), AVX-512 8 x 32 | 256 | 512 |
//! | Intel Skylake-X / Cascade Lake (32 KiB / 1 MiB), AVX-512 8 x 32 | 256 | 512 |
//! | Intel Ice Lake / Sapphire Rapids / Emerald Rapids server (48 KiB / 1.25-2 MiB), AVX-512 8 x 32 | 384 | 424-680 |
//! | Intel client cores, Haswell-Coffee Lake (32 KiB / 256 KiB), AVX2 16 x 16 | 256 | 128 |
//! | unknown (no sysfs), AVX2 16 x 16 | 256 | 256 |
//!
//! Measured on Zen 1 (AVX2) and on the Intel Xeon above (AVX-512 and
//! AVX2); the other rows are the rule's, and
//! `LECTURE_GRAD_BLOCKING=KC,MC` overrides them for tuning.

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
        let avx2_fma =
            std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma");
        // every AVX-512F CPU has AVX2 and FMA; checked anyway, as the
        // AVX-512 kernels are compiled with them too
        if std::is_x86_feature_detected!("avx512f") && avx2_fma {
            return Isa::Avx512;
        }
        if avx2_fma {
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
#[inline]
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

/// What the kernels know of this CPU, read once: its model name and, per
/// core, the L1 data and L2 cache sizes in bytes (Linux: `/proc/cpuinfo`
/// and `/sys/devices/system/cpu/cpu0/cache`; elsewhere, or when unreadable,
/// "unknown" and 32 KiB / 512 KiB).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CpuInfo {
    /// `model name` of `/proc/cpuinfo`, or "unknown".
    pub model_name: String,
    /// L1 data cache per core, bytes.
    pub l1d: usize,
    /// L2 cache per core, bytes.
    pub l2: usize,
}

/// This CPU's [`CpuInfo`], read once.
///
/// ```
/// let i = kernels::cpu::info();
/// assert!(i.l1d >= 4096 && i.l2 >= i.l1d);
/// ```
pub fn info() -> &'static CpuInfo {
    static INFO: OnceLock<CpuInfo> = OnceLock::new();
    INFO.get_or_init(|| {
        let model_name = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|t| {
                t.lines().find_map(|l| {
                    Some(
                        l.strip_prefix("model name")?
                            .split_once(':')?
                            .1
                            .trim()
                            .to_string(),
                    )
                })
            })
            .unwrap_or_else(|| "unknown".to_string());
        let (mut l1d, mut l2) = (None, None);
        for i in 0..8 {
            let dir = format!("/sys/devices/system/cpu/cpu0/cache/index{i}");
            let read = |f: &str| std::fs::read_to_string(format!("{dir}/{f}")).ok();
            let (Some(level), Some(kind), Some(size)) = (read("level"), read("type"), read("size"))
            else {
                continue;
            };
            let bytes = parse_size(&size);
            match (level.trim(), kind.trim()) {
                ("1", "Data") => l1d = bytes,
                ("2", "Unified") | ("2", "Data") => l2 = bytes,
                _ => {}
            }
        }
        sane_caches(model_name, l1d, l2)
    })
}

/// Sizes outside what any CPU has are taken as unknown.
fn sane_caches(model_name: String, l1d: Option<usize>, l2: Option<usize>) -> CpuInfo {
    let l1d = l1d
        .filter(|&b| (4 << 10..=1 << 20).contains(&b))
        .unwrap_or(32 << 10);
    let l2 = l2
        .filter(|&b| (l1d..=64 << 20).contains(&b))
        .unwrap_or(512 << 10);
    CpuInfo {
        model_name,
        l1d,
        l2,
    }
}

/// `"32K"`, `"1024K"`, `"2M"` (sysfs's spelling) in bytes.
fn parse_size(s: &str) -> Option<usize> {
    let s = s.trim();
    let (num, mult) = match s.chars().last()? {
        'K' | 'k' => (&s[..s.len() - 1], 1usize << 10),
        'M' | 'm' => (&s[..s.len() - 1], 1 << 20),
        _ => (s, 1),
    };
    num.trim().parse::<usize>().ok()?.checked_mul(mult)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_sizes_parse_and_absurd_ones_fall_back() {
        assert_eq!(parse_size("32K\n"), Some(32 << 10));
        assert_eq!(parse_size("2M"), Some(2 << 20));
        assert_eq!(parse_size("512"), Some(512));
        assert_eq!(parse_size("x"), None);
        assert_eq!(parse_size("99999999999999999999K"), None);
        let i = sane_caches("m".into(), Some(1), Some(usize::MAX));
        assert_eq!((i.l1d, i.l2), (32 << 10, 512 << 10));
        let i = sane_caches("m".into(), Some(48 << 10), Some(2 << 20));
        assert_eq!((i.l1d, i.l2), (48 << 10, 2 << 20));
    }

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
