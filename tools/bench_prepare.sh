#!/usr/bin/env bash
# Throughput of gasa prepare (release build) at char and jamo against a plain Python reference
# (tools/ref_prepare.py), on the ballad corpus repeated 10 times (about 17.5 MB). Every figure is
# wall time of the whole process, start-up and I/O included, best of $RUNS runs (default 3).
# Usage: bash tools/bench_prepare.sh [CORPUS] [REPEATS]
#   (build first: bash tools/setup.sh, or swift build -c release --static-swift-stdlib)
set -euo pipefail
cd "$(dirname "$0")/.."

corpus="${1:-../shared/corpora/lyrics_ballad.txt}"
repeats="${2:-10}"
runs="${RUNS:-3}"
if [ ! -f "$corpus" ]; then
    echo "bench_prepare: skipped: no corpus at $corpus (pass a path as the first argument)" >&2
    exit 0
fi
gasa=.build/release/gasa
if [ ! -x "$gasa" ]; then
    echo "bench_prepare: $gasa not found; build it first: bash tools/setup.sh" >&2
    exit 1
fi
python3 -c 'import numpy' 2>/dev/null || { echo "bench_prepare: python3 with numpy is needed for the reference" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for _ in $(seq "$repeats"); do cat "$corpus"; done > "$work/corpus.txt"
bytes=$(stat -c %s "$work/corpus.txt")
echo "corpus: $(basename "$corpus") x $repeats = $bytes bytes; best of $runs runs, wall time, I/O included"

# best_of LABEL COMMAND...: runs COMMAND $runs times (output folder removed before each), prints the best seconds.
best_of() {
    local best="" t0 t1 s
    for _ in $(seq "$runs"); do
        rm -rf "$work/out"
        t0=$(date +%s.%N)
        "$@" > "$work/last.log" 2>&1 || { cat "$work/last.log" >&2; exit 1; }
        t1=$(date +%s.%N)
        s=$(echo "$t1 - $t0" | bc -l)
        if [ -z "$best" ] || [ "$(echo "$s < $best" | bc -l)" = 1 ]; then best=$s; fi
    done
    echo "$best"
}

mbps() { echo "scale=2; $bytes / 1000000 / $1" | bc -l; }
ratio() { echo "scale=2; $1 / $2" | bc -l; }

declare -A secs
for g in char jamo; do
    secs[$g]=$(best_of "$gasa" prepare "$work/corpus.txt" --out "$work/out" --granularity "$g" --quiet)
    summary=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["tokens"], "tokens, vocab", r["vocab_size"])' "$work/out/report.json")
    printf '%-30s %6.2f s  %7.2f MB/s   (%s)\n' "gasa prepare $g" "${secs[$g]}" "$(mbps "${secs[$g]}")" "$summary"
done
for mode in plain vectorized; do
    flag=""
    [ "$mode" = vectorized ] && flag="--vectorized"
    secs[$mode]=$(best_of python3 tools/ref_prepare.py "$work/corpus.txt" "$work/out" $flag)
    summary=$(python3 -c 'import json,sys; r=json.loads(open(sys.argv[1]).read()); print(r["characters"], "tokens, vocab", r["vocab"])' "$work/last.log")
    printf '%-30s %6.2f s  %7.2f MB/s   (%s)\n' "python reference ($mode)" "${secs[$mode]}" "$(mbps "${secs[$mode]}")" "$summary"
done
echo "speed-up of gasa over the plain python reference: char $(ratio "${secs[plain]}" "${secs[char]}")x, jamo $(ratio "${secs[plain]}" "${secs[jamo]}")x"
echo "speed-up of gasa over the vectorized reference:   char $(ratio "${secs[vectorized]}" "${secs[char]}")x, jamo $(ratio "${secs[vectorized]}" "${secs[jamo]}")x"
