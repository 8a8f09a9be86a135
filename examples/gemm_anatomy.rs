//! Where an f32 GEMM's time goes on this CPU, piece by piece: the
//! micro-kernel alone on cache-resident panels, packing, the blocked driver
//! on packed operands (at a power-of-two leading dimension of C and a
//! padded one), the whole `par_gemm_views` call, and the first touch of a
//! fresh output buffer. Each line is one piece, with its GFLOP/s (or GB/s)
//! and its share of the machine's FMA peak, so a slow GEMM on a new CPU
//! can be traced to its cause (kernel, blocking, C misses, packing or page
//! faults) without a profiler.
//!
//! ```text
//! cargo run --release --example gemm_anatomy -- [--m 1024] [--k 1024] [--n 1024] [--threads 1]
//! ```
//!
//! `LECTURE_GRAD_MAX_ISA` and `LECTURE_GRAD_BLOCKING=KC,MC` apply, so one
//! machine can compare kernels and blockings (one process per setting:
//! both are read once).

use autograd::gemm::MatRef;
use autograd::packed::{self, PackedA, PackedB};
use clap::Parser;
use std::time::Instant;

#[derive(Parser, Debug)]
#[command(about = "Where an f32 GEMM's time goes on this CPU")]
struct Args {
    /// Rows of A and C
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..=16384))]
    m: u64,
    /// Columns of A, rows of B
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..=16384))]
    k: u64,
    /// Columns of B and C
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..=16384))]
    n: u64,
    /// Rayon threads (1 to 256)
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=256))]
    threads: u64,
}

/// Median seconds of `f` over repetitions filling about 0.3 s (3 at least).
fn time(mut f: impl FnMut()) -> f64 {
    f();
    let start = Instant::now();
    let mut t = Vec::new();
    while t.len() < 3 || (start.elapsed().as_secs_f64() < 0.3 && t.len() < 1000) {
        let s = Instant::now();
        f();
        t.push(s.elapsed().as_secs_f64());
    }
    t.sort_by(f64::total_cmp);
    t[t.len() / 2]
}

fn data(len: usize, seed: u32) -> Vec<f32> {
    // a cheap deterministic fill in [-1, 1): the values do not matter here
    (0..len as u32)
        .map(|i| {
            let x = i
                .wrapping_mul(2_654_435_761)
                .wrapping_add(seed.wrapping_mul(40_503));
            (x >> 8) as f32 / (1u32 << 23) as f32 - 1.0
        })
        .collect()
}

fn main() {
    let args = Args::parse();
    let (m, k, n) = (args.m as usize, args.k as usize, args.n as usize);
    let threads = args.threads as usize;
    if let Err(e) = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build_global()
    {
        eprintln!("error: --threads {threads}: cannot start the thread pool: {e}");
        std::process::exit(1);
    }
    let info = autograd::cpu::info();
    let tile = packed::tile::<f32>();
    let bl = packed::blocking();
    let (flops, secs) = packed::fma_peak_probe(20_000_000);
    let peak = flops / secs / 1e9;
    println!(
        "# cpu=\"{}\" isa={} kernel=\"{}\" tile={}x{} l1d={}K l2={}K kc={} mc={} peak_1_thread={peak:.1} GFLOP/s",
        info.model_name,
        autograd::cpu::active().name(),
        packed::micro_kernel_name::<f32>(),
        tile.mr,
        tile.nr,
        info.l1d >> 10,
        info.l2 >> 10,
        bl.kc,
        bl.mc
    );
    let peak_t = peak * threads as f64;
    let report = |what: &str, fl: f64, s: f64| {
        let g = fl / s / 1e9;
        let p = if what.starts_with("kernel") {
            peak
        } else {
            peak_t
        };
        println!(
            "piece={what} ms={:.3} gflops={g:.1} pct_peak={:.1}",
            s * 1e3,
            100.0 * g / p
        );
    };

    // 1. the micro-kernel alone: one mr x nr tile over kc, panels in L1
    {
        let kc = bl.kc;
        let a = data(tile.mr * kc, 1);
        let b = data(kc * tile.nr, 2);
        let pa = PackedA::pack(MatRef::row_major(&a, tile.mr, kc));
        let pb = PackedB::pack(MatRef::row_major(&b, kc, tile.nr));
        let mut c = vec![0.0f32; tile.mr * tile.nr];
        let reps = 2000;
        let s = time(|| {
            for _ in 0..reps {
                packed::gemm_packed(&pa, &pb, &mut c, tile.nr, true);
            }
        });
        std::hint::black_box(&c);
        report(
            "kernel_in_l1",
            2.0 * (tile.mr * tile.nr * kc * reps) as f64,
            s,
        );
    }

    let a = data(m * k, 3);
    let b = data(k * n, 4);
    let fl = 2.0 * (m * k * n) as f64;
    // 2. packing
    let sa = time(|| {
        std::hint::black_box(PackedA::pack(MatRef::row_major(&a, m, k)));
    });
    let sb = time(|| {
        std::hint::black_box(PackedB::pack(MatRef::row_major(&b, k, n)));
    });
    println!(
        "piece=pack_a ms={:.3} gbytes_per_s={:.1}",
        sa * 1e3,
        (m * k * 8) as f64 / sa / 1e9
    );
    println!(
        "piece=pack_b ms={:.3} gbytes_per_s={:.1}",
        sb * 1e3,
        (k * n * 8) as f64 / sb / 1e9
    );

    // 3. the driver on packed operands, C preallocated, at ldc = n and at a
    // padded ldc (n + 16): the difference is what C's stride costs
    let pa = PackedA::pack(MatRef::row_major(&a, m, k));
    let pb = PackedB::pack(MatRef::row_major(&b, k, n));
    for (name, ldc) in [("driver_ldc_n", n), ("driver_ldc_n_plus_16", n + 16)] {
        let mut c = vec![0.0f32; m * ldc];
        let s = time(|| packed::par_gemm_packed(&pa, &pb, &mut c, ldc, false));
        report(name, fl, s);
    }

    // 4. the whole call as matmul makes it (packing included), C reused
    let mut c = vec![0.0f32; m * n];
    let s = time(|| {
        packed::par_gemm_views(
            MatRef::row_major(&a, m, k),
            MatRef::row_major(&b, k, n),
            &mut c,
            n,
            false,
        )
    });
    report("par_gemm_views_c_reused", fl, s);
    // 5. and with a fresh C each call (what an op's new output costs)
    let s = time(|| {
        let mut c = vec![0.0f32; m * n];
        packed::par_gemm_views(
            MatRef::row_major(&a, m, k),
            MatRef::row_major(&b, k, n),
            &mut c,
            n,
            false,
        );
        std::hint::black_box(&c);
    });
    report("par_gemm_views_fresh_c", fl, s);

    // 6. first touch of fresh memory, per 4 KiB page: 64 MiB, above
    // glibc's largest mmap threshold, so every call maps new pages
    let len = 16 << 20;
    let s = time(|| {
        let mut v = vec![0.0f32; len];
        for x in v.iter_mut().step_by(1024) {
            *x = 1.0;
        }
        std::hint::black_box(&v);
    });
    let pages = (len * 4).div_ceil(4096);
    println!(
        "piece=fresh_64mib_touch ms={:.3} us_per_page={:.3} pages={pages}",
        s * 1e3,
        s * 1e6 / pages as f64
    );
}
