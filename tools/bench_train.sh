#!/usr/bin/env bash
# Training throughput of gasa against the PyTorch reference (../shared/tools/ref_torch_charrnn.py) on the
# same corpus and layout: char granularity, 95% train / 5% val, batch 50, seq 50, same thread count.
# Configurations: K = 3 x 300, dropout 0.4 (char-rnn-kor's shape); S = 2 x 128, dropout 0.
# Prints steady-state tokens/s of both (warm-up and evaluation excluded), their ratio, and peak RSS; then
# the FLOP rate each reached (3 x the forward FLOPs per token, the same arithmetic for both) beside the
# machine's FMA ceiling from tools/peak_flops.c, which no implementation can pass.
# Usage: bash tools/bench_train.sh [iterations] [configs]    (default 60 iterations, "K S")
# gasa runs twice per configuration: --parallel batch (rows split over the threads) and --parallel blas;
# where the CPU has AVX512_BF16, a third time as "bf16": --parallel batch --precision bf16.
# Environment: PYTHON (default /work/venv/bin/python, else python3), THREADS (default 2),
#              CORPUS (default ../shared/corpora/lyrics_ballad.txt), REF (the reference script).
set -euo pipefail
cd "$(dirname "$0")/.."
iters="${1:-60}"
configs="${2:-K S}"
threads="${THREADS:-2}"
corpus="${CORPUS:-../shared/corpora/lyrics_ballad.txt}"
ref="${REF:-../shared/tools/ref_torch_charrnn.py}"
python="${PYTHON:-/work/venv/bin/python}"
[ -x "$python" ] || python=python3

if [ ! -f "$corpus" ]; then
    echo "bench_train: $corpus not found; skipping (set CORPUS to another UTF-8 text file)" >&2
    exit 0
fi
timer=()
[ -x /usr/bin/time ] && timer=(/usr/bin/time -v)

swift build -c release --static-swift-stdlib >/dev/null   # as tools/setup.sh builds it
gasa=.build/release/gasa
work=$(mktemp -d "${TMPDIR:-/tmp}/gasa-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT

# As it comes: nothing is set here. Variables that steer kernel libraries are named when the environment has them.
for v in ONEDNN_MAX_CPU_ISA DNNL_MAX_CPU_ISA ONEDNN_CPU_ISA_HINTS OMP_NUM_THREADS OPENBLAS_CORETYPE OPENBLAS_L2_SIZE; do
    [ -n "${!v:-}" ] && echo "environment: $v=${!v}"
done
echo "CPU: $(lscpu 2>/dev/null | awk -F': *' '/^Vendor ID/{v=$2} /^Model name/{n=$2} /^CPU family/{f=$2} /^Model:/{m=$2} END{printf "%s %s, family %s, model %s", v, n, f, m}'), $(grep -q -w avx512f /proc/cpuinfo && echo AVX-512 || (grep -q -w avx2 /proc/cpuinfo && echo AVX2 || echo 'no AVX2')); gasa's $("$gasa" bench --iters 1 --sample-steps 1 --layers 1 --rnn-size 8 --batch-size 2 --seq-length 2 | grep -E '^(kernels|warning):' | tr '\n' ' ')"
echo "== prepare $corpus (char, B 50, T 50, split 0.95,0.05,0)"
"$gasa" prepare "$corpus" --out "$work/prep" --granularity char --batch-size 50 --seq-length 50 --split 0.95,0.05,0 -q

vocab=$(sed -n 's/.*"vocab_size" *: *\([0-9]*\).*/\1/p' "$work/prep/manifest.json")
# Training FLOPs per token: forward 2 x (sum over layers of 4H (In + H) + H V), backward twice that.
flops_per_token() { # layers size
    awk -v L="$1" -v H="$2" -v V="$vocab" 'BEGIN { f = 0; for (l = 0; l < L; l++) f += 4 * H * (H + H); print 6 * (f + H * V) }'
}
rates=()
modes="batch blas"
grep -q -w avx512_bf16 /proc/cpuinfo 2>/dev/null && modes="$modes bf16"

peak_rss() { # KiB from /usr/bin/time -v output -> MiB
    awk -F: '/Maximum resident set size/ { gsub(/ /, "", $2); printf "%.1f", $2 / 1024 }' "$1"
}

printf '\n%-4s %-14s %-6s %12s %12s %7s %10s %10s\n' cfg shape gasa "gasa tok/s" "torch tok/s" ratio "gasa MiB" "torch MiB"
for cfg in $configs; do
    case "$cfg" in
        K) layers=3; size=300; dropout=0.4 ;;
        S) layers=2; size=128; dropout=0 ;;
        *) echo "unknown configuration $cfg (K or S)" >&2; exit 2 ;;
    esac
    "${timer[@]}" "$python" "$ref" --data "$corpus" --granularity char --layers "$layers" --rnn-size "$size" --dropout "$dropout" \
        --batch 50 --seq 50 --train-frac 0.95 --max-iters "$iters" --max-seconds 100000 --eval-every 0 --print-every 0 \
        --threads "$threads" >"$work/ref.out" 2>"$work/ref.err" || { tail -5 "$work/ref.err" >&2; exit 1; }
    t=$(sed -n 's/^ *steady-state: \([0-9.]*\) tokens\/s.*/\1/p' "$work/ref.out")
    trss=-
    [ ${#timer[@]} -gt 0 ] && trss=$(peak_rss "$work/ref.err")
    for mode in $modes; do
        rm -rf "$work/run"
        how=(--parallel "$mode")
        [ "$mode" = bf16 ] && how=(--parallel batch --precision bf16)
        "${timer[@]}" "$gasa" train "$work/prep" --out "$work/run" --layers "$layers" --rnn-size "$size" --dropout "$dropout" \
            --max-iters "$iters" --eval-every 0 --threads "$threads" "${how[@]}" --quiet >"$work/gasa.out" 2>"$work/gasa.err" \
            || { cat "$work/gasa.err" >&2; exit 1; }
        g=$(sed -n 's/^steady-state: \([0-9.]*\) tokens\/s.*/\1/p' "$work/gasa.out")
        ratio=$(awk -v a="$g" -v b="$t" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')
        grss=-
        [ ${#timer[@]} -gt 0 ] && grss=$(peak_rss "$work/gasa.err")
        printf '%-4s %-14s %-6s %12.0f %12.0f %7s %10s %10s\n' "$cfg" "${layers}x${size} d${dropout}" "$mode" "$g" "$t" "$ratio" "$grss" "$trss"
        fpt=$(flops_per_token "$layers" "$size")
        rates+=("$(awk -v c="$cfg" -v m="$mode" -v f="$fpt" -v g="$g" -v t="$t" 'BEGIN {
            printf "%-4s %-6s %6.2f MFLOP/token: gasa %6.1f GFLOP/s, torch %6.1f GFLOP/s", c, m, f / 1e6, f * g / 1e9, f * t / 1e9 }')")
    done
done
echo "(steady state: first iterations and evaluation excluded; $iters iterations, $threads threads; ratio = gasa / torch)"
echo
echo "== FLOP rates (embedding size = rnn size, V = $vocab)"
printf '%s\n' "${rates[@]}"
if ! command -v cc >/dev/null; then
    echo "FMA peak: not measured (no C compiler: apt-get install -y gcc)"
elif cc -O2 -pthread -o "$work/peak_flops" tools/peak_flops.c 2>"$work/cc.err"; then
    "$work/peak_flops" "$threads"
else
    echo "FMA peak: not measured (tools/peak_flops.c did not compile: $(head -1 "$work/cc.err"))"
fi
