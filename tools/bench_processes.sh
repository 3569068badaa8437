#!/usr/bin/env bash
# Training over processes against threads on this machine: the same global batch trained by 1 process x
# 2 threads (rows split over the threads) and by 2 processes x 1 thread under mpirun (rows split over the
# processes, gradients summed by one all-reduce per step), alternating, for K = 3 x 300 dropout 0.4 and
# S = 2 x 128 dropout 0, char granularity, batch 50, seq 50. Prints each run's steady-state tokens/s
# (warm-up and evaluation excluded), the medians and their ratio, the all-reduce time per step gasa
# measured, and from the measured step time and gradient size an estimate of scaling to 2-16 machines.
# Usage: bash tools/bench_processes.sh [iterations] [configs] [rounds]   (default 60, "K S", 2)
# Environment: CORPUS (default ../shared/corpora/lyrics_ballad.txt), GASA (default: the release build).
set -euo pipefail
cd "$(dirname "$0")/.."
iters="${1:-60}"
configs="${2:-K S}"
rounds="${3:-2}"
corpus="${CORPUS:-../shared/corpora/lyrics_ballad.txt}"
if [ ! -f "$corpus" ]; then
    echo "bench_processes: $corpus not found; skipping (set CORPUS to another UTF-8 text file)" >&2
    exit 0
fi
command -v mpirun >/dev/null || { echo "bench_processes: mpirun not found (bash tools/setup.sh release mpi)" >&2; exit 1; }
if [ -z "${GASA:-}" ]; then
    swift build -c release --static-swift-stdlib >/dev/null   # as tools/setup.sh builds it
    GASA=.build/release/gasa
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/gasa-bench-processes.XXXXXX")
trap 'rm -rf "$work"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1   # containers run as root

for v in ONEDNN_MAX_CPU_ISA DNNL_MAX_CPU_ISA OMP_NUM_THREADS; do [ -n "${!v:-}" ] && echo "environment: $v=${!v}"; done
echo "CPU: $(lscpu | awk -F': *' '/^Vendor ID/{v=$2} /^Model name/{n=$2} /^CPU family/{f=$2} /^Model:/{m=$2} /^CPU\(s\)/{c=$2} END{printf "%s %s, family %s, model %s, %s CPUs", v, n, f, m, c}'); $(mpirun --version | head -1)"
"$GASA" prepare "$corpus" --out "$work/prep" --granularity char --batch-size 50 --seq-length 50 --split 0.95,0.05,0 -q

median() { sort -g | awk '{a[NR]=$1} END{print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

for cfg in $configs; do
    case "$cfg" in
        K) shape=(--layers 3 --rnn-size 300 --dropout 0.4) ;;
        S) shape=(--layers 2 --rnn-size 128 --dropout 0) ;;
        *) echo "unknown config $cfg (K or S)" >&2; exit 2 ;;
    esac
    args=(train "$work/prep" --max-iters "$iters" --eval-every 0 --max-epochs 0 -q "${shape[@]}")
    : > "$work/threads.tps"; : > "$work/procs.tps"; : > "$work/reduce.ms"
    for round in $(seq "$rounds"); do
        rm -rf "$work/run"
        out=$("$GASA" "${args[@]}" --out "$work/run" --threads 2)
        tps=$(sed -n 's/^steady-state: \([0-9.]*\) tokens.*/\1/p' <<<"$out")
        echo "$cfg round $round: 1 process x 2 threads   $tps tokens/s"
        echo "$tps" >> "$work/threads.tps"
        rm -rf "$work/run"
        out=$(mpirun -np 2 --bind-to core "$GASA" "${args[@]}" --out "$work/run" --threads 1)
        tps=$(sed -n 's/^steady-state: \([0-9.]*\) tokens.*/\1/p' <<<"$out")
        ms=$(sed -n 's/.*gradient all-reduce \([0-9.]*\) ms per step.*/\1/p' <<<"$out")
        echo "$cfg round $round: 2 processes x 1 thread $tps tokens/s, all-reduce $ms ms/step"
        echo "$tps" >> "$work/procs.tps"; echo "$ms" >> "$work/reduce.ms"
    done
    params=$(grep -o '"parameter_count" *: *[0-9]*' "$work/run/latest/meta.json" | grep -o '[0-9]*$')
    t=$(median < "$work/threads.tps"); p=$(median < "$work/procs.tps"); r=$(median < "$work/reduce.ms")
    echo "$cfg medians: threads $t tokens/s, processes $p tokens/s, processes/threads $(awk -v a="$p" -v b="$t" 'BEGIN{printf "%.3f", a/b}'), all-reduce $r ms/step, gradient $params floats ($(awk -v n="$params" 'BEGIN{printf "%.1f", n*4/1e6}') MB)"
    # Ring all-reduce of S bytes over N machines: 2(N-1)/N * S / bandwidth + 2(N-1) * latency (50 us per
    # message over TCP assumed). The compute time per step is the 1 x 2 run's (B 50 x T 50 tokens per step).
    awk -v tps="$t" -v n="$params" -v cfg="$cfg" 'BEGIN {
        tokens = 50 * 50; step = tokens / tps; bytes = n * 4; lat = 50e-6
        printf "%s scaling estimate: one machine %.1f ms per step of %d tokens\n", cfg, step * 1000, tokens
        printf "  machines  net       all-reduce  same batch per machine (N x 50 rows)   same global batch (50 rows split)\n"
        split("10 100", nets, " ")
        for (i = 1; i <= 2; i++) for (N = 2; N <= 16; N *= 2) {
            bw = nets[i] * 1e9 / 8; ar = 2 * (N - 1) / N * bytes / bw + 2 * (N - 1) * lat
            weak = N * step / (step + ar); strong = step / (step / N + ar)
            printf "  %8d  %3d Gb/s  %7.1f ms   speed-up %5.2f (efficiency %3.0f%%)        speed-up %5.2f\n", N, nets[i], ar * 1000, weak, 100 * weak / N, strong
        }
    }'
done
