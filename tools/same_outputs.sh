#!/usr/bin/env bash
# Runs one fixed set of gasa commands (prepare at every granularity and with dedup, document splits and
# NFKC; train fresh, resumed, --parallel blas and --init-from; sample, inspect, tokenize, compare) with
# a given binary and writes a fingerprint of everything they wrote: a SHA-256 per file and per command's
# stdout. Two builds that should behave the same must give the same fingerprint:
#   bash tools/same_outputs.sh OLD_BINARY > old.txt; bash tools/same_outputs.sh NEW_BINARY > new.txt; diff old.txt new.txt
# Only what depends on the clock is left out: times and speeds on stdout and in report.json,
# metrics.jsonl and state.json, the checksum meta.json records of state.json (which holds a time), and
# the SVG pictures (their minutes axes; the values they draw are those of metrics.jsonl). Everything else,
# weights, optimizer moments, carried states, shards and vocabularies included, must match to the byte.
set -euo pipefail
gasa="$(realpath "$1")"
cd "$(dirname "$0")/.."
corpus="$PWD/data/constitution_ko/constitution_ko.txt"
# A fixed folder: checkpoints record the absolute path of the prepared folder they were trained on.
work=/tmp/gasa-same-outputs
rm -rf "$work"; mkdir -p "$work"
trap 'rm -rf "$work"' EXIT
cd "$work"
run() { # name command...: stdout fingerprinted, stderr dropped (it holds speeds and times)
    local name="$1"; shift
    local out
    out=$("$@" 2>"$work/stderr") || { echo "$name failed:" >&2; cat "$work/stderr" >&2; exit 1; }
    # Speeds and times on stdout: prepare's first line, train's steady-state line, compare's last columns, the MB/s column of a prepare of several granularities.
    out=$(sed -E -e 's/in [0-9.]+ s, [0-9.]+ MB\/s/in # s, # MB\/s/' -e 's/^steady-state: [0-9.]+/steady-state: #/' <<<"$out")
    case "$name" in compare) out=$(awk 'NR <= 3 { NF -= 3 } { print }' <<<"$out") ;; prepare-multi) out=$(awk '{ $(NF - 1) = "#"; print }' <<<"$out") ;; esac
    echo "stdout $name $(sha256sum <<<"$out" | cut -c1-16)"
}

run prepare-char "$gasa" prepare "$corpus" --out p/char --batch-size 8 --seq-length 32
run prepare-multi "$gasa" prepare "$corpus" --out p/multi --granularity jamo,coda,grapheme,word --batch-size 4 --seq-length 16
run prepare-dedup "$gasa" prepare "$corpus" "$corpus" --out p/dedup --dedup lines --split-by document --split 0.8,0.1,0.1
run prepare-nfkc "$gasa" prepare "$corpus" --out p/nfkc --normalization nfkc --granularity jamo --min-count 3 --max-vocab 60
run train "$gasa" train p/char --out r1 --layers 2 --rnn-size 24 --dropout 0.3 --max-iters 30 --eval-every 10 --threads 2 -q
run resume "$gasa" train --resume r1 --max-iters 45 --threads 2 -q
run train-blas "$gasa" train p/multi/jamo --out r2 --rnn-size 16 --embedding-size 8 --max-iters 12 --eval-every 5 --parallel blas \
    --threads 2 --optimizer rmsprop --lr-decay 0.5 --lr-decay-after 0 -q
run init-from "$gasa" train p/char --out r3 --init-from r1 --max-iters 8 --eval-every 4 --threads 1 -q
run sample "$gasa" sample r1 --prime "대한민국은 " --length 120 --temperature 0.8 --seed 7
run sample-topk "$gasa" sample r1/latest --length 80 --top-k 5 --top-p 0.9 --seed 3 --num-samples 2
run sample-jamo "$gasa" sample r2 --prime "국민" --length 60 --seed 1 --temperature 0
run inspect "$gasa" inspect p/char
run inspect-top "$gasa" inspect p/multi/jamo --top 5
run tokenize sh -c "printf '사랑은 ㅠㅠ\n' | '$gasa' tokenize --granularity jamo"
run tokenize-ids sh -c "printf '대한민국\n' | '$gasa' tokenize --ids --vocab p/char/vocab.json"
run normalize sh -c "printf 'ｶﾞ ㄱㅏ\n' | '$gasa' normalize --normalization nfkc"
run compare "$gasa" compare r1 r2 --svg cmp.svg --length 40
run plot "$gasa" plot r1

# Files: JSON with times in them compared without those fields; everything else byte for byte.
python3 - <<'EOF'
import hashlib, json, os
TIMES = {"seconds", "megabytes_per_second", "minutes", "tokens_per_s", "elapsed_seconds", "interval_seconds"}
def scrub(v):
    if isinstance(v, dict):
        return {k: scrub(x) for k, x in v.items() if k not in TIMES and not (k == "state.json")}
    if isinstance(v, list):
        return [scrub(x) for x in v]
    return v
for root, dirs, files in os.walk("."):
    dirs.sort()
    for f in sorted(files):
        p = os.path.join(root, f)
        data = open(p, "rb").read()
        if f.endswith(".svg"):
            continue
        if f in ("report.json", "state.json", "meta.json"):
            data = json.dumps(scrub(json.loads(data)), sort_keys=True).encode()
        elif f == "metrics.jsonl":
            data = b"\n".join(json.dumps(scrub(json.loads(l)), sort_keys=True).encode() for l in data.splitlines())
        print("file", p, hashlib.sha256(data).hexdigest()[:16])
EOF
