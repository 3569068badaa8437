#!/usr/bin/env bash
# Fuzzes every reader of gasa's formats and of its input text with libFuzzer (Swift's -sanitize=fuzzer,
# with AddressSanitizer), seeded with real files: a prepared folder and a short run of the shipped
# corpus. Prints each target's executions and coverage; a crash stops with the input saved under
# .fuzz/crashes/TARGET/ (replay it with: .build/debug/gasa-fuzz TARGET FILE, or the fuzz binary on it).
# Usage: bash tools/fuzz.sh [seconds per target] [targets]     (default 10 s, every target)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-10}"
targets="${2:-safetensors shard manifest vocabulary state meta metrics utf8 jamo}"
work=.fuzz
mkdir -p "$work"

echo "== building the fuzz targets (libFuzzer + AddressSanitizer, .build-fuzz)"
swift build --product gasa-fuzz --scratch-path .build-fuzz -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING 2>&1 | tail -1
fuzz=.build-fuzz/debug/gasa-fuzz
gasa=.build/debug/gasa   # for the seeds (tools/setup.sh debug builds it)
[ -x "$gasa" ] || swift build --product gasa 2>&1 | tail -1

echo "== seeds from real files"
seeds="$work/seeds"
rm -rf "$seeds" "$work/prep" "$work/run"
"$gasa" prepare data/constitution_ko/constitution_ko.txt --out "$work/prep" --batch-size 4 --seq-length 16 -q
"$gasa" train "$work/prep" --out "$work/run" --layers 1 --rnn-size 8 --max-iters 4 --eval-every 2 --threads 1 -q >/dev/null
mkdir -p "$seeds"/{safetensors,shard,manifest,vocabulary,state,meta,metrics,utf8,jamo}
cp "$work"/run/latest/*.safetensors "$seeds/safetensors/"
cp "$work"/prep/*.bin "$seeds/shard/"
cp "$work/prep/manifest.json" "$seeds/manifest/"
cp "$work/prep/vocab.json" "$seeds/vocabulary/"
cp "$work/run/latest/state.json" "$seeds/state/"
cp "$work/run/latest/meta.json" "$seeds/meta/"
cp "$work/run/metrics.jsonl" "$seeds/metrics/"
head -c 4000 data/constitution_ko/constitution_ko.txt > "$seeds/utf8/constitution.txt"
printf 'a\r\nb\rc\xef\xbb\xbf\xea\xb0\x80' > "$seeds/utf8/crlf-bom.txt"
head -c 3000 "$work/prep/train-00000.bin" > "$seeds/jamo/bytes.bin"

# Inputs as long as the largest seed (the optimizer's moments), so that none is cut short.
maxlen=$(find "$seeds" -type f -printf '%s\n' | sort -n | tail -1)
maxlen=$(( maxlen > 65536 ? maxlen : 65536 ))
status=0
printf '\n%-12s %10s %8s %8s  %s\n' target executions cov features result
for t in $targets; do
    mkdir -p "$work/corpus/$t" "$work/crashes/$t"
    log="$work/$t.log"
    set +e
    GASA_FUZZ_TARGET=$t ASAN_OPTIONS=detect_leaks=0 "$fuzz" "$work/corpus/$t" "$seeds/$t" \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len="$maxlen" -print_final_stats=1 \
        -artifact_prefix="$work/crashes/$t/" >"$log" 2>&1
    rc=$?
    set -e
    execs=$( { sed -n 's/^stat::number_of_executed_units: *//p' "$log" || true; } | tail -1)
    cov=$( { grep -o 'cov: [0-9]*' "$log" || true; } | tail -1 | cut -d' ' -f2)
    ft=$( { grep -o 'ft: [0-9]*' "$log" || true; } | tail -1 | cut -d' ' -f2)
    printf '%-12s %10s %8s %8s  %s\n' "$t" "${execs:-?}" "${cov:-?}" "${ft:-?}" "$([ $rc -eq 0 ] && echo ok || echo "FOUND A CRASH (exit $rc): see $log")"
    if [ $rc -ne 0 ]; then status=1; { grep -E "ERROR|Fatal|SUMMARY|Test unit written" "$log" || true; } | head -5; fi
done
exit "$status"
