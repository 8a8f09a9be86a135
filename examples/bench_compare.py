#!/usr/bin/env python3
"""Run our bench and the PyTorch peer on the same machine, in the same run,
and print the ratio table (ours / PyTorch, median time; < 1 means faster).

usage: python3 examples/bench_compare.py [--threads 2] [--filter NAME] [--peer PATH] [--rounds N] [--isa avx2|portable] [--ours PATH]

The clock of shared machines drifts within minutes, so with --rounds N the
two programs run N times each, alternating which goes first, and the table
gives every round's ratio and their median.
With --isa avx2 both programs are held to AVX2 (ours through
LECTURE_GRAD_MAX_ISA, PyTorch through the peer's own --isa); --isa portable
caps ours only (PyTorch has no such level).
Needs `pip install torch`; builds the bench with cargo first, unless --ours
names an already built bench binary (for a machine without a Rust toolchain).
"""
import argparse, os, statistics, subprocess, sys

from bench_binary import bench_binary

ap = argparse.ArgumentParser()
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--filter", default="")
ap.add_argument("--rounds", type=int, default=1)
ap.add_argument("--isa", default="", choices=["", "avx512", "avx2", "portable"])
ap.add_argument("--ours", default="", help="a built bench binary to run instead of building one with cargo")
ap.add_argument("--peer", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared", "bench", "pytorch_peer.py"))
args = ap.parse_args()


def parse(text):
    rows = {}
    for line in text.splitlines():
        if not line.startswith("workload="):
            continue
        kv = dict(p.split("=", 1) for p in line.split())
        rows[kv["workload"]] = kv
    return rows


bench = bench_binary(args.ours)
cmd_ours = [bench, "--threads", str(args.threads), "--filter", args.filter]
cmd_peer = [sys.executable, args.peer, "--threads", str(args.threads), "--filter", args.filter]
env_ours = dict(os.environ)
if args.isa:
    env_ours["LECTURE_GRAD_MAX_ISA"] = args.isa
if args.isa == "avx2":
    cmd_peer += ["--isa", "avx2"]


def run(cmd):
    env = env_ours if cmd is cmd_ours else None
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env).stdout
    print(out, end="", flush=True)
    return parse(out)


rounds = []  # (ours, peer) per round
for r in range(args.rounds):
    if r % 2 == 0:
        a = run(cmd_ours)
        b = run(cmd_peer)
    else:
        b = run(cmd_peer)
        a = run(cmd_ours)
    rounds.append((a, b))

names = [n for n in rounds[0][0] if n in rounds[0][1]]
# the roofline: our bench measures this machine's FMA peak (peak_fma line);
# both programs' GFLOP/s are set against it
peaks = [float(a["peak_fma"]["gflops"]) for a, _ in rounds if "peak_fma" in a]
peak = statistics.median(peaks) if peaks else None
if peak:
    print(f"\nFMA peak ({rounds[0][0]['peak_fma'].get('extra', '')}): {peak:.1f} GFLOP/s at {args.threads} thread(s)")


def gf(rows, name):
    v = [float(r[name]["gflops"]) for r in rows if "gflops" in r.get(name, {})]
    return statistics.median(v) if v else None


def cols(g):
    if g is None:
        return f"{'':>8} {'':>6}"
    pct = f"{100 * g / peak:5.1f}%" if peak else ""
    return f"{g:8.1f} {pct:>6}"


head = f"{'workload':28} {'ours ms':>10} {'torch ms':>10} {'ratio':>7} {'ours GF/s':>9} {'%peak':>6} {'torch GF/s':>10} {'%peak':>6}"
if args.rounds > 1:
    head += "   per round"
print(f"\n{head}   (threads={args.threads}; ratio = ours / PyTorch, median time; {args.rounds} round(s))")
for name in names:
    ratios = [float(a[name]["median_ms"]) / float(b[name]["median_ms"]) for a, b in rounds]
    o = statistics.median(float(a[name]["median_ms"]) for a, _ in rounds)
    t = statistics.median(float(b[name]["median_ms"]) for _, b in rounds)
    g_o = gf([a for a, _ in rounds], name)
    g_t = gf([b for _, b in rounds], name)
    line = f"{name:28} {o:10.3f} {t:10.3f} {statistics.median(ratios):7.2f} {cols(g_o)}   {cols(g_t)}"
    if args.rounds > 1:
        line += "   " + " ".join(f"{x:.2f}" for x in ratios)
    print(line)
