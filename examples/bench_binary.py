"""The bench binary that bench_compare.py and profile_compare.py run: the
one --ours names (a machine without a Rust toolchain), or ours, built with
cargo in release mode first."""
import os
import subprocess


def bench_binary(ours=""):
    if ours:
        return ours
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    subprocess.run(["cargo", "build", "--release", "--example", "bench"], cwd=root, check=True)
    return os.path.join(root, "target", "release", "examples", "bench")
