#!/usr/bin/env python3
"""Where the reference workloads' time goes, op by op, in our framework and
in PyTorch on the same machine, in the same run (ours / PyTorch per op).

usage: python3 examples/profile_compare.py [--threads 2] [--reps 5]
           [--workload convnet_train_step|convnet_eval_fwd|mlp10_tanh_fwd]
           [--isa avx2] [--ours PATH]

Ours: `bench --profile REPS` (the tape's profiler, `autograd::profile`).
PyTorch: the same model as `shared/bench/pytorch_peer.py` under
`torch.profiler`, each op's inclusive CPU time (forward: the `aten::` op the
module calls; backward: the autograd node, e.g. ConvolutionBackward0). The
profiler costs PyTorch a few percent; its `wall` row is timed around the
same profiled runs. `outside ops` is the wall time no row holds (the
optimizer step, zeroing gradients, the autograd engine's own work).
--isa avx2 holds both programs to AVX2, as bench_compare.py does.
Needs `pip install torch`; builds the bench with cargo first, unless --ours
names an already built bench binary.
"""
import argparse, os, subprocess, sys, time

from bench_binary import bench_binary

ap = argparse.ArgumentParser()
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--reps", type=int, default=5)
ap.add_argument("--workload", default="convnet_train_step",
                choices=["convnet_train_step", "convnet_eval_fwd", "mlp10_tanh_fwd"])
ap.add_argument("--isa", default="", choices=["", "avx2"])
ap.add_argument("--ours", default="", help="a built bench binary to run instead of building one with cargo")
args = ap.parse_args()
if args.reps < 1:
    sys.exit("--reps must be at least 1")

# ours first, in its own process
bench = bench_binary(args.ours)
env = dict(os.environ)
if args.isa:
    env["LECTURE_GRAD_MAX_ISA"] = args.isa
out = subprocess.run([bench, "--threads", str(args.threads), "--filter", args.workload,
                      "--profile", str(args.reps)], capture_output=True, text=True, check=True, env=env).stdout
ours = {}
for line in out.splitlines():
    if line.startswith("# cpu="):
        print(line)
    if not line.startswith("profile "):
        continue
    kv = dict(p.split("=", 1) for p in line.split()[1:])
    if kv["workload"] != args.workload:
        continue
    ours[kv["op"]] = (float(kv["fwd_ms"]), float(kv["bwd_ms"]))
if not ours:
    sys.exit(f"the bench printed no profile lines for {args.workload}:\n{out}")

# PyTorch, held to AVX2 before it is imported where asked
if args.isa == "avx2":
    os.environ.update(ATEN_CPU_CAPABILITY="avx2", ONEDNN_MAX_CPU_ISA="AVX2", MKL_ENABLE_INSTRUCTIONS="AVX2")
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.profiler import profile, ProfilerActivity

torch.set_num_threads(args.threads)
torch.manual_seed(0)


def cbr(ci, co):
    return [nn.Conv2d(ci, co, 3, padding=1, bias=False), nn.BatchNorm2d(co), nn.ReLU()]


if args.workload.startswith("convnet"):
    model = nn.Sequential(*cbr(3, 32), *cbr(32, 32), nn.MaxPool2d(2), *cbr(32, 64), *cbr(64, 64), nn.MaxPool2d(2),
                          *cbr(64, 128), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(128 * 4 * 4, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    xin, yin = torch.randn(128, 3, 32, 32), torch.randint(0, 10, (128,))
    if args.workload == "convnet_train_step":
        model.train()

        def run():
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(model(xin), yin).backward()
            opt.step()
    else:
        model.eval()

        def run():
            with torch.no_grad():
                model(xin)
else:
    xm = torch.randn(1000, 500)
    mlp = nn.Sequential(*[m for _ in range(10) for m in (nn.Linear(500, 500), nn.Tanh())])

    def run():
        with torch.no_grad():
            mlp(xm)

for _ in range(3):
    run()
with profile(activities=[ProfilerActivity.CPU]) as prof:
    t0 = time.perf_counter()
    for _ in range(args.reps):
        run()
    wall = (time.perf_counter() - t0) * 1e3 / args.reps
totals = {e.key: e.cpu_time_total / 1e3 / args.reps for e in prof.key_averages()}

# our op name -> PyTorch's forward op and backward node(s)
MAP = {
    "conv2d": ("aten::conv2d", ["ConvolutionBackward0"]),
    "batch_norm": ("aten::batch_norm", ["NativeBatchNormBackward0"]),
    "relu": ("aten::relu", ["ReluBackward0"]),
    "max_pool2d": ("aten::max_pool2d", ["MaxPool2DWithIndicesBackward0"]),
    "linear": ("aten::linear", ["AddmmBackward0", "TBackward0"]),
    "tanh": ("aten::tanh", ["TanhBackward0"]),
    "log_softmax": ("aten::log_softmax", ["LogSoftmaxBackward0"]),
    "nll_loss": ("aten::nll_loss_nd", ["NllLossBackward0"]),
    "reshape": ("aten::flatten", ["ViewBackward0", "ReshapeAliasBackward0"]),
}


def node(name):
    # the engine's wrapper holds the node and its gradient bookkeeping
    return totals.get("autograd::engine::evaluate_function: " + name, totals.get(name, 0.0))


def ratio(a, b):
    return f"{a / b:6.2f}" if a > 0 and b > 0 else "     -"


print(f"\n{args.workload}, {args.threads} thread(s), {args.reps} profiled runs each, ms per run"
      f"{', both at AVX2' if args.isa else ''} (PyTorch {torch.__version__})")
print(f"{'op':<12} {'ours fwd':>9} {'torch fwd':>9} {'ratio':>6} {'ours bwd':>9} {'torch bwd':>9} {'ratio':>6}"
      f" {'ours all':>9} {'torch all':>9} {'ratio':>6}")
rows, ours_sum, torch_sum = [], 0.0, 0.0
for op, (of, ob) in ours.items():
    if op in ("wall", "outside_ops"):
        continue
    fwd, bwd = MAP.get(op, (None, []))
    tf = totals.get(fwd, 0.0) if fwd else 0.0
    tb = sum(node(b) for b in bwd)
    rows.append((op, of, tf, ob, tb))
    ours_sum += of + ob
    torch_sum += tf + tb
our_wall = ours.get("wall", (ours_sum, 0))[0]
rows.append(("outside ops", our_wall - ours_sum, max(wall - torch_sum, 0.0), 0.0, 0.0))
rows.append(("wall", our_wall, wall, 0.0, 0.0))
for op, of, tf, ob, tb in rows:
    print(f"{op:<12} {of:9.3f} {tf:9.3f} {ratio(of, tf)} {ob:9.3f} {tb:9.3f} {ratio(ob, tb)}"
          f" {of + ob:9.3f} {tf + tb:9.3f} {ratio(of + ob, tf + tb)}")
unmapped = [op for op in ours if op not in MAP and op not in ("wall", "outside_ops")]
if unmapped:
    print(f"(no PyTorch counterpart mapped for: {', '.join(unmapped)})")
