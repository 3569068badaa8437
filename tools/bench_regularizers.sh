#!/usr/bin/env bash
# What each regulariser and each cell buys at equal wall time: trains one model per variant for the same
# number of minutes on the same prepared folder (the honest split: --dedup lines --split-by document) and
# prints the best val bits per character of each, beside plain dropout's. Variants: plain dropout, each
# regulariser alone, --regularize awd, all four together (all-four), all but tying (locked-wd-embdrop),
# and GRU and RNN with plain dropout. The recipe's gain is the ratio of plain's best val to the recipe's.
# Usage: bash tools/bench_regularizers.sh [minutes] [granularities] [shape]
#        (default 10 minutes, "char jamo", "--layers 2 --rnn-size 256 --dropout 0.25")
# Environment: CORPUS (default ../shared/corpora/lyrics_ballad.txt), THREADS (threads per run, default 2),
#              JOBS (runs at once, default 1; JOBS=2 THREADS=1 gives each of two runs one core, halving the
#              wall time; every variant then runs under the same sharing), OUT (scratch folder),
#              GASA (a gasa binary to measure instead of building this checkout's release one),
#              VARIANTS (a subset of: plain weight-drop locked embedding-dropout tie awd all-four locked-wd-embdrop gru rnn).
set -euo pipefail
cd "$(dirname "$0")/.."
minutes="${1:-10}"
grans="${2:-char jamo}"
shape="${3:---layers 2 --rnn-size 256 --dropout 0.25}"
corpus="${CORPUS:-../shared/corpora/lyrics_ballad.txt}"
threads="${THREADS:-2}"
jobs="${JOBS:-1}"
out="${OUT:-/tmp/gasa-bench-regularizers}"
variants="${VARIANTS:-plain weight-drop locked embedding-dropout tie awd all-four locked-wd-embdrop gru rnn}"
if [ ! -f "$corpus" ]; then
    echo "bench_regularizers: $corpus not found; skipping (set CORPUS to another UTF-8 text file)" >&2
    exit 0
fi
gasa="${GASA:-}"
if [ -z "$gasa" ]; then
    swift build -c release --static-swift-stdlib >/dev/null
    gasa=.build/release/gasa
fi
mkdir -p "$out"
flags() {
    case "$1" in
        plain) echo "" ;;
        weight-drop) echo "--weight-drop 0.25" ;;
        locked) echo "--locked-dropout" ;;
        embedding-dropout) echo "--embedding-dropout 0.1" ;;
        tie) echo "--tie-weights" ;;
        awd) echo "--regularize awd" ;;
        all-four) echo "--locked-dropout --weight-drop 0.25 --embedding-dropout 0.1 --tie-weights" ;;
        locked-wd-embdrop) echo "--locked-dropout --weight-drop 0.25 --embedding-dropout 0.1" ;;
        gru) echo "--cell gru" ;;
        rnn) echo "--cell rnn" ;;
        *) echo "unknown variant $1" >&2; exit 2 ;;
    esac
}
lscpu | grep -E "^(Vendor ID|Model name|CPU family|Model):" | tr -s ' '
echo "shape: $shape; $minutes min each; $threads threads per run, $jobs run(s) at once; corpus $corpus"
train_one() {  # granularity variant
    # shellcheck disable=SC2046
    "$gasa" train "$out/prep-$1" --out "$out/run-$1-$2" --force $shape $(flags "$2") --max-minutes "$minutes" \
        --max-epochs 0 --eval-every 200 --threads "$threads" -q >"$out/run-$1-$2.log" 2>&1 \
        || { echo "bench_regularizers: $1 $2 failed; see $out/run-$1-$2.log" >&2; return 1; }
}
for g in $grans; do
    [ -d "$out/prep-$g" ] || "$gasa" prepare "$corpus" --out "$out/prep-$g" --granularity "$g" --dedup lines \
        --split-by document -q
done
for g in $grans; do
    for v in $variants; do
        flags "$v" >/dev/null
        while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
        train_one "$g" "$v" &
    done
done
wait
for g in $grans; do
    printf "\n%-18s %12s %12s %10s %10s\n" "$g" "best val b/c" "vs plain" "iters" "epochs"
    plain=""
    for v in $variants; do
        read -r bpc iters epochs < <(python3 - "$out/run-$g-$v" <<'PY'
import json, sys
best, it, ep = None, 0, 0.0
for line in open(sys.argv[1] + "/metrics.jsonl"):
    r = json.loads(line)
    if r.get("type") == "eval" and r.get("split") == "val":
        b = r.get("bits_per_char")
        best = b if best is None or b < best else best
    it = max(it, r.get("iter", 0)); ep = max(ep, r.get("epoch", 0) or 0)
print(f"{best:.4f} {it} {ep:.1f}")
PY
)
        [ -z "$plain" ] && plain="$bpc"
        ratio=$(python3 -c "print(f'{$plain / $bpc:.4f}')")
        printf "%-18s %12s %12s %10s %10s\n" "$v" "$bpc" "$ratio" "$iters" "$epochs"
    done
done
