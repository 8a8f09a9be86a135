//! The reference workloads of `shared/bench/README.md`, one line each in the
//! PyTorch peer script's format, so the outputs can be joined line by line.
//!
//! `cargo run --release --example bench -- [--threads T] [--filter NAME]`
//!
//! Median of repeated runs after 3 warm-up runs (at least 10 runs and 1 s;
//! 3 s for the training step). `scripts`-free comparison: see
//! `examples/bench_compare.py` for the ratio table against PyTorch.

mod common;

use std::time::Instant;

use clap::Parser;

use autograd::{Tape, Tensor};
use nn::Classifier;
use nn::Mode;
use ops::{BatchNormStats, Conv2dCfg, Pool2dCfg, VarOps};
use optim::Sgd;
use rand::{Rng, SeedableRng};
use train::models::ConvNet;

struct Timing {
    median: f64,
    min: f64,
    reps: usize,
    /// Minor page faults per timed run (None where /proc is unreadable).
    faults_per_rep: Option<f64>,
}

/// This process's minor page faults so far (`/proc/self/stat`, field 10),
/// or None off Linux. A run that page-faults in fresh memory every time
/// pays for it in kernel time (about 2 us per 4 KiB page on the VMs we
/// measured), which a profiler-less machine shows only here.
fn minor_faults() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // the command name (field 2) is in parentheses and may hold spaces
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(7)?.parse().ok()
}

fn timeit(mut f: impl FnMut(), min_time: f64) -> Timing {
    for _ in 0..3 {
        f();
    }
    let mut ts = Vec::new();
    let faults0 = minor_faults();
    let start = Instant::now();
    while ts.len() < 10 || (start.elapsed().as_secs_f64() < min_time && ts.len() < 200) {
        let t = Instant::now();
        f();
        ts.push(t.elapsed().as_secs_f64());
    }
    let faults = faults0
        .zip(minor_faults())
        .map(|(a, b)| b.saturating_sub(a));
    ts.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = ts.len();
    let median = if n % 2 == 1 {
        ts[n / 2]
    } else {
        0.5 * (ts[n / 2 - 1] + ts[n / 2])
    };
    Timing {
        median,
        min: ts[0],
        reps: n,
        faults_per_rep: faults.map(|f| f as f64 / n as f64),
    }
}

struct Bench {
    filter: String,
    threads: usize,
    /// The FMA peak at `threads` threads, GFLOP/s (the roofline's ceiling).
    peak: f64,
    /// Runs per workload under `autograd::profile` after its timing (0: none).
    profile: u32,
}

/// The FMA peak in GFLOP/s on `threads` threads of the global pool (each
/// runs the probe at once; the best of 5 tries), for the active ISA.
fn fma_peak(threads: usize) -> f64 {
    let iters = 4_000_000;
    let mut best = 0.0f64;
    for _ in 0..5 {
        let t = Instant::now();
        let flops: f64 = if threads == 1 {
            autograd::packed::fma_peak_probe(iters).0
        } else {
            rayon::broadcast(|_| autograd::packed::fma_peak_probe(iters).0)
                .into_iter()
                .sum()
        };
        best = best.max(flops / t.elapsed().as_secs_f64() / 1e9);
    }
    best
}

impl Bench {
    fn run(
        &self,
        name: &str,
        flops: Option<f64>,
        extra: Option<&dyn Fn(f64) -> String>,
        min_time: f64,
        mut f: impl FnMut(),
    ) {
        if !name.contains(&self.filter) {
            return;
        }
        let t = timeit(&mut f, min_time);
        let mut line = format!(
            "workload={name} impl=lecture-grad-{} threads={} median_ms={:.3} min_ms={:.3} reps={}",
            env!("CARGO_PKG_VERSION"),
            self.threads,
            t.median * 1e3,
            t.min * 1e3,
            t.reps
        );
        if let Some(fl) = flops {
            let g = fl / t.median / 1e9;
            line += &format!(" gflops={g:.1} pct_peak={:.1}", 100.0 * g / self.peak);
        }
        let mut extras: Vec<String> = extra.map(|e| e(t.median)).into_iter().collect();
        if let Some(f) = t.faults_per_rep {
            extras.push(format!("faults_per_rep={f:.0}"));
        }
        if !extras.is_empty() {
            line += &format!(" extra={}", extras.join(","));
        }
        println!("{line}");
        if self.profile > 0 {
            self.print_profile(name, f);
        }
    }

    /// Runs `f` `self.profile` times under the tape's profiler and prints
    /// one `profile` line per op name, per run: where the time of a step
    /// goes on a machine without a profiler of its own
    /// (`examples/profile_compare.py` sets them beside PyTorch's).
    fn print_profile(&self, name: &str, mut f: impl FnMut()) {
        let p = autograd::profile::start().expect("no other profiler runs on the bench's thread");
        for _ in 0..self.profile {
            f();
        }
        let prof = p.finish();
        let n = f64::from(self.profile);
        let ms = |d: std::time::Duration| d.as_secs_f64() * 1e3 / n;
        let head = format!(
            "profile workload={name} threads={} reps={}",
            self.threads, self.profile
        );
        for r in &prof.rows {
            println!(
                "{head} op={} fwd_calls={} fwd_ms={:.3} bwd_calls={} bwd_ms={:.3}",
                r.op,
                r.forward_calls as f64 / n,
                ms(r.forward),
                r.backward_calls as f64 / n,
                ms(r.backward)
            );
        }
        let outside = prof.wall.saturating_sub(prof.ops_total());
        println!(
            "{head} op=outside_ops fwd_calls=0 fwd_ms={:.3} bwd_calls=0 bwd_ms=0.000",
            ms(outside)
        );
        println!(
            "{head} op=wall fwd_calls=0 fwd_ms={:.3} bwd_calls=0 bwd_ms=0.000",
            ms(prof.wall)
        );
    }
}

/// Most threads `--threads` takes: far above any core count this bench
/// is meant for (more only measures oversubscription), and low enough that
/// a typo such as 100000000 is an error instead of a hang while the OS
/// creates threads.
const MAX_THREADS: u64 = 1024;

#[derive(Parser, Debug)]
#[command(about = "The reference workloads, one line each in the PyTorch peer's format")]
struct Args {
    /// Rayon threads (1 to 1024)
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=MAX_THREADS))]
    threads: u64,
    /// Run only workloads whose name contains this
    #[arg(long, default_value = "")]
    filter: String,
    /// After timing each workload, run it this many times more under the
    /// tape's profiler and print per-op `profile` lines (0: off)
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=1000))]
    profile: u32,
}

fn main() {
    let args = Args::parse();
    let threads = args.threads as usize;
    if let Err(e) = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build_global()
    {
        eprintln!("error: --threads {threads}: cannot start the thread pool: {e}");
        std::process::exit(1);
    }
    let info = autograd::cpu::info();
    let blocking = autograd::packed::blocking();
    println!(
        "# cpu=\"{}\" isa={} detected={} f32_micro_kernel=\"{}\" l1d={}K l2={}K blocking=kc{},mc{} winograd={} threads={threads}",
        info.model_name,
        autograd::cpu::active().name(),
        autograd::cpu::detected().name(),
        autograd::packed::micro_kernel_name::<f32>(),
        info.l1d >> 10,
        info.l2 >> 10,
        blocking.kc,
        blocking.mc,
        autograd::conv2d::path::tile_from_env().map_or("auto", |t| t.name())
    );
    // the roofline's ceiling: FMA peak of the ISA in use, 1 and T threads
    let t0 = Instant::now();
    let peak_1 = fma_peak(1);
    let peak = if threads == 1 {
        peak_1
    } else {
        fma_peak(threads)
    };
    println!(
        "workload=peak_fma impl=lecture-grad-{} threads={threads} median_ms={:.3} min_ms={:.3} reps=5 gflops={peak:.1} pct_peak=100.0 extra=peak_1_thread_gflops={peak_1:.1},isa={}",
        env!("CARGO_PKG_VERSION"),
        t0.elapsed().as_secs_f64() * 1e3,
        t0.elapsed().as_secs_f64() * 1e3,
        autograd::cpu::active().name()
    );
    let b = Bench {
        filter: args.filter,
        threads,
        peak,
        profile: args.profile,
    };
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);

    // GEMM
    {
        let a = Tensor::<f32>::randn(&[1024, 1024], 0.0, 1.0, &mut rng);
        let bm = Tensor::<f32>::randn(&[1024, 1024], 0.0, 1.0, &mut rng);
        b.run("sgemm_1024", Some(2.0 * 1024f64.powi(3)), None, 1.0, || {
            let tape = Tape::new();
            let _g = tape.no_grad();
            std::hint::black_box(
                ops::matmul(tape.constant(a.clone()), tape.constant(bm.clone()))
                    .unwrap()
                    .value(),
            );
        });
    }

    // conv2d
    let n = 128;
    for (name, cin, cout, h, p, d) in [
        ("conv_3_64_32", 3, 64, 32, 1, 1),
        ("conv_64_128_16", 64, 128, 16, 1, 1),
        ("conv_128_256_8", 128, 256, 8, 1, 1),
        ("conv_dil2_64_64_32", 64, 64, 32, 2, 2),
    ] {
        if !(name.to_string() + "_fwdbwd").contains(&b.filter)
            && !(name.to_string() + "_fwd").contains(&b.filter)
        {
            continue;
        }
        let x = Tensor::<f32>::randn(&[n, cin, h, h], 0.0, 1.0, &mut rng);
        let w = Tensor::<f32>::randn(
            &[cout, cin, 3, 3],
            0.0,
            (2.0 / (cin * 9) as f64).sqrt(),
            &mut rng,
        );
        let bias = Tensor::<f32>::zeros(&[cout]);
        let cfg = Conv2dCfg::default().padding(p).dilation(d);
        let ho = h + 2 * p - d * 2;
        let fl = 2.0 * (n * cout * ho * ho * cin * 9) as f64;
        let g = Tensor::<f32>::randn(&[n, cout, ho, ho], 0.0, 1.0, &mut rng);
        b.run(&format!("{name}_fwd"), Some(fl), None, 1.0, || {
            let tape = Tape::new();
            let _g = tape.no_grad();
            let y = ops::conv2d(
                tape.constant(x.clone()),
                tape.constant(w.clone()),
                Some(tape.constant(bias.clone())),
                cfg,
            )
            .unwrap();
            std::hint::black_box(y.value());
        });
        b.run(&format!("{name}_fwdbwd"), Some(3.0 * fl), None, 1.0, || {
            let tape = Tape::new();
            let (xv, wv, bv) = (tape.param(&x), tape.param(&w), tape.param(&bias));
            let y = ops::conv2d(xv, wv, Some(bv), cfg).unwrap();
            std::hint::black_box(tape.backward_with(y, g.clone()).unwrap());
        });
    }

    // pooling, normalisation, activations, loss
    let x0 = Tensor::<f32>::randn(&[128, 64, 32, 32], 0.0, 1.0, &mut rng);
    let fwdbwd = |name: &str,
                  f: &dyn for<'t> Fn(autograd::Var<'t, f32>) -> autograd::Var<'t, f32>,
                  rng: &mut rand_chacha::ChaCha8Rng| {
        if !name.contains(&b.filter) {
            return;
        }
        let shape = {
            let tape = Tape::new();
            let _g = tape.no_grad();
            f(tape.constant(x0.clone())).shape()
        };
        let g = Tensor::<f32>::randn(&shape, 0.0, 1.0, rng);
        b.run(name, None, None, 1.0, || {
            let tape = Tape::new();
            let y = f(tape.param(&x0));
            std::hint::black_box(tape.backward_with(y, g.clone()).unwrap());
        });
    };
    fwdbwd(
        "maxpool_fwdbwd",
        &|x| ops::max_pool2d(x, Pool2dCfg::new(2)).unwrap(),
        &mut rng,
    );
    if "batchnorm_train_fwdbwd".contains(&b.filter) {
        let g = Tensor::<f32>::randn(&[128, 64, 32, 32], 0.0, 1.0, &mut rng);
        let (gamma, beta) = (Tensor::<f32>::ones(&[64]), Tensor::<f32>::zeros(&[64]));
        let mut stats = BatchNormStats::<f32>::new(64);
        b.run("batchnorm_train_fwdbwd", None, None, 1.0, || {
            let tape = Tape::new();
            let y = ops::batch_norm(
                tape.param(&x0),
                tape.param(&gamma),
                tape.param(&beta),
                &mut stats,
                true,
            )
            .unwrap();
            std::hint::black_box(tape.backward_with(y, g.clone()).unwrap());
        });
    }
    fwdbwd("relu_fwdbwd", &|x| x.relu().unwrap(), &mut rng);
    fwdbwd("tanh_fwdbwd", &|x| x.tanh().unwrap(), &mut rng);
    {
        let logits = Tensor::<f32>::randn(&[128, 10], 0.0, 1.0, &mut rng);
        let tgt: Vec<usize> = (0..128).map(|_| rng.random_range(0..10)).collect();
        b.run("logsoftmax_nll_fwdbwd", None, None, 1.0, || {
            let tape = Tape::new();
            let l = tape.param(&logits);
            let loss = ops::nll_loss(l.log_softmax(1).unwrap(), &tgt).unwrap();
            std::hint::black_box(tape.backward(loss).unwrap());
        });
    }

    // reference ConvNet
    {
        let mut model = ConvNet::new(&mut rng);
        let fl_img = 2.0
            * (3 * 32 * 32 * 32 * 9
                + 32 * 32 * 32 * 32 * 9
                + 32 * 64 * 16 * 16 * 9
                + 64 * 64 * 16 * 16 * 9
                + 64 * 128 * 8 * 8 * 9
                + 2048 * 10) as f64;
        let mut sgd = Sgd::new(0.01).momentum(0.9).weight_decay(5e-4);
        let xin = Tensor::<f32>::randn(&[128, 3, 32, 32], 0.0, 1.0, &mut rng);
        let yin: Vec<usize> = (0..128).map(|_| rng.random_range(0..10)).collect();
        let ips = |med: f64| format!("images_per_s={:.0}", 128.0 / med);
        b.run(
            "convnet_train_step",
            Some(3.0 * fl_img * 128.0),
            Some(&ips),
            3.0,
            || {
                train::step::train_step(&mut model, &mut sgd, &xin, &yin).unwrap();
            },
        );
        b.run(
            "convnet_eval_fwd",
            Some(fl_img * 128.0),
            Some(&ips),
            1.0,
            || {
                let tape = Tape::new();
                let _g = tape.no_grad();
                std::hint::black_box(
                    model
                        .forward(&tape, tape.constant(xin.clone()), Mode::Eval)
                        .unwrap()
                        .value(),
                );
            },
        );
    }

    // tape overhead on tiny tensors
    {
        let ta = Tensor::<f32>::randn(&[4], 0.0, 1.0, &mut rng);
        let tb = Tensor::<f32>::full(&[4], 0.5);
        let tc = Tensor::<f32>::ones(&[4]);
        let us = |med: f64| format!("us_per_op={:.2}", med / 3000.0 * 1e6);
        b.run("tape_chain_1000", None, Some(&us), 1.0, || {
            let tape = Tape::new();
            let (a, bb, c) = (tape.param(&ta), tape.param(&tb), tape.param(&tc));
            let mut x = a;
            for _ in 0..1000 {
                x = x.mul(bb).unwrap().add(c).unwrap().relu().unwrap();
            }
            std::hint::black_box(tape.backward(x.sum_all().unwrap()).unwrap());
        });
    }

    // the weight-init experiment's forward
    {
        let xm = Tensor::<f32>::randn(&[1000, 500], 0.0, 1.0, &mut rng);
        let layers: Vec<nn::Linear<f32>> = (0..10)
            .map(|_| nn::Linear::new(500, 500, nn::Init::Xavier, &mut rng))
            .collect();
        b.run(
            "mlp10_tanh_fwd",
            Some(10.0 * 2.0 * 1000.0 * 500.0 * 500.0),
            None,
            1.0,
            || {
                let tape = Tape::new();
                let _g = tape.no_grad();
                let mut h = tape.constant(xm.clone());
                for l in &layers {
                    h = l.forward(&tape, h).unwrap().tanh().unwrap();
                }
                std::hint::black_box(h.value());
            },
        );
    }
}
