#!/usr/bin/env bash
# One report of our speed on this CPU, set against PyTorch's on the same
# machine in the same run: what the README's per-CPU tables are made of,
# so a new machine (a user's laptop, a lent Intel host) is measured the
# same way every time.
#
#   examples/cpu_report.sh [--bin DIR] [--rounds N] [--peer PATH] [--out FILE]
#
# --bin DIR    a folder holding built `bench` and `gemm_anatomy` binaries
#              (for a machine without a Rust toolchain); default: build
#              them here with cargo, in release mode
# --rounds N   rounds of each bench_compare run at 2 threads (default 2;
#              1 thread always runs 1)
# --peer PATH  the PyTorch peer script (default: bench_compare.py's,
#              ../shared/bench/pytorch_peer.py)
# --out FILE   also write the report there
#
# In order: the CPU (lscpu), then at the full ISA and, where the CPU has
# AVX-512, with both programs capped at AVX2: bench_compare.py at 2 and 1
# threads, profile_compare.py at 2 threads, and gemm_anatomy on linear's
# 1000x500x500 (1 thread) and 1024^3 (1 and 2 threads); last, the
# training step with every Winograd convolution on F2 against the
# automatic tile. Without PyTorch (pip install torch) the comparisons are
# skipped and our own numbers still run. About 15 minutes on 2 cores.
set -uo pipefail
cd "$(dirname "$0")/.."

bin="" rounds=2 peer="" out=""
while [ $# -gt 0 ]; do
    case "$1" in
        --bin) bin="$2"; shift 2 ;;
        --rounds) rounds="$2"; shift 2 ;;
        --peer) peer="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
        *) echo "cpu_report.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
case "$rounds" in
    ''|*[!0-9]*|0) echo "cpu_report.sh: --rounds must be a whole number >= 1, not '$rounds'" >&2; exit 2 ;;
esac
if [ -n "$out" ]; then
    exec > >(tee "$out") 2>&1
fi

if [ -z "$bin" ]; then
    cargo build --release --example bench --example gemm_anatomy || exit 1
    bin=target/release/examples
fi
for b in bench gemm_anatomy; do
    if [ ! -x "$bin/$b" ]; then
        echo "cpu_report.sh: $bin/$b is missing or not executable" >&2
        exit 1
    fi
done
peer_arg=()
[ -n "$peer" ] && peer_arg=(--peer "$peer")

echo "== CPU ($(date -u +%Y-%m-%dT%H:%MZ))"
lscpu | grep -E '^(Model name|CPU family|Model|Thread|Core|Socket|L1d|L2|L3|Hypervisor)' || true
flags=$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null || true)
printf 'ISA flags:'
for f in avx2 fma avx512f avx512bw avx512vl avx512_vnni amx_tile; do
    case " $flags " in *" $f "*) printf ' %s' "$f" ;; esac
done
echo

isas=(full)
case " $flags " in *" avx512f "*) isas+=(avx2) ;; esac
if python3 -c 'import torch; print("PyTorch", torch.__version__)' 2>/dev/null; then
    torch=1
else
    torch=0
    echo "note: no PyTorch here (pip install torch): comparisons skipped"
fi

for isa in "${isas[@]}"; do
    cap=() env_isa=()
    if [ "$isa" = avx2 ]; then
        cap=(--isa avx2)
        env_isa=(LECTURE_GRAD_MAX_ISA=avx2)
    fi
    if [ "$torch" = 1 ]; then
        for t in 2 1; do
            r=$rounds
            [ "$t" = 1 ] && r=1
            echo "== bench_compare, ISA $isa, $t thread(s), $r round(s)"
            python3 examples/bench_compare.py --threads "$t" --rounds "$r" "${cap[@]}" \
                "${peer_arg[@]}" --ours "$bin/bench" 2>&1 | grep -v -E 'UserWarning|_conversion_method'
        done
        echo "== profile_compare, ISA $isa, 2 threads"
        python3 examples/profile_compare.py --threads 2 "${cap[@]}" --ours "$bin/bench" 2>&1 \
            | grep -v -E 'UserWarning|_conversion_method'
    else
        echo "== bench (ours only), ISA $isa, 2 threads"
        env "${env_isa[@]}" "$bin/bench" --threads 2
    fi
    for shape in "1000 500 500 1" "1024 1024 1024 1" "1024 1024 1024 2"; do
        set -- $shape
        echo "== gemm_anatomy, ISA $isa, m=$1 k=$2 n=$3, $4 thread(s)"
        env "${env_isa[@]}" "$bin/gemm_anatomy" --m "$1" --k "$2" --n "$3" --threads "$4"
    done
done

echo "== Winograd tile: every convolution on F2 against the automatic choice (2 threads, alternating)"
for i in 1 2; do
    for tile in f2 auto; do
        printf 'LECTURE_GRAD_WINOGRAD=%s ' "$tile"
        LECTURE_GRAD_WINOGRAD=$tile "$bin/bench" --threads 2 --filter convnet_train \
            | grep '^workload=convnet_train_step'
    done
done
