#!/usr/bin/env python3
"""Run our bench and the PyTorch peer on the same machine, in the same run,
and print the ratio table (ours / PyTorch, median time; < 1 means faster).

usage: python3 examples/bench_compare.py [--threads 2] [--filter NAME] [--peer PATH]
Needs `pip install torch`; builds the bench with cargo first.
"""
import argparse, os, subprocess, sys

ap = argparse.ArgumentParser()
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--filter", default="")
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


root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
subprocess.run(["cargo", "build", "--release", "--example", "bench"], cwd=root, check=True)
ours = subprocess.run([os.path.join(root, "target", "release", "examples", "bench"), "--threads", str(args.threads), "--filter", args.filter],
                      capture_output=True, text=True, check=True).stdout
print(ours, end="")
peer = subprocess.run([sys.executable, args.peer, "--threads", str(args.threads), "--filter", args.filter],
                      capture_output=True, text=True, check=True).stdout
print(peer, end="")
a, b = parse(ours), parse(peer)
print(f"\n{'workload':28} {'ours ms':>10} {'torch ms':>10} {'ratio':>7}   (threads={args.threads}; ratio = ours / PyTorch, median)")
for name, r in a.items():
    if name in b:
        o, t = float(r["median_ms"]), float(b[name]["median_ms"])
        print(f"{name:28} {o:10.3f} {t:10.3f} {o / t:7.2f}")
