#!/usr/bin/env bash
# Sets up (apt packages when missing, Chromium among them, debug build with tests) and runs the whole
# test suite, once as it comes and once more on each narrower instruction-set path of the kernels
# (ONEDNN_MAX_CPU_ISA caps oneDNN's products and gasa's elementwise kernels alike): AVX2, and SSE4.1 /
# SSE2, so every code path the binary can take on another CPU is tested here; then the browser test of
# gasa serve's page in headless Chromium (tools/browser_test.py) and a short fuzz of its HTTP API
# (tools/fuzz_serve.py), counted as one test each. Open MPI's mpirun is installed for the tests of
# training over several processes (Tests/gasaTests/ProcessesTests.swift).
# Passing test cases are not listed; failures, skips and the summaries are. The suites are XCTest only,
# so the Swift Testing runner (which would report an empty run of its own) is switched off.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh debug browser mpi
# The tests of training over processes run under mpirun; here its absence fails them instead of skipping.
export GASA_REQUIRE_MPI=1

status=0
executed=0 failed=0 skipped=0
run_suite() { # label [VAR=value]
    local label="$1"; shift
    local log
    log=$(mktemp)
    echo "== tests, kernels $label"
    set +e
    env "$@" swift test --skip-build --disable-swift-testing 2>&1 | tee "$log" | awk '
        /^Test Case .*(started|passed)/ { next }
        /^Test Suite / && !/^Test Suite .All tests./ && /(started|passed)/ { next }
        { print; fflush() }'
    local rc=${PIPESTATUS[0]}
    set -e
    local line
    line=$( { grep -E 'Executed [0-9]+ tests' "$log" || true; } | tail -1 | sed 's/^[[:space:]]*//')
    echo "test summary ($label): $line"
    # "Executed 142 tests, with 0 failures ..." or "Executed 142 tests, with 4 tests skipped and 0 failures ..."
    local n f k
    n=$(grep -oE '^Executed [0-9]+' <<<"$line" | grep -oE '[0-9]+' || true)
    f=$(grep -oE '[0-9]+ failures?' <<<"$line" | grep -oE '[0-9]+' || true)
    k=$(grep -oE '[0-9]+ tests? skipped' <<<"$line" | grep -oE '[0-9]+' || true)
    executed=$((executed + ${n:-0})); failed=$((failed + ${f:-0})); skipped=$((skipped + ${k:-0}))
    [ -n "$n" ] || { echo "no test summary from this run" >&2; status=1; }
    rm -f "$log"
    [ "$rc" -eq 0 ] || status=$rc
}

run_suite "as the CPU allows"
if grep -q -w avx512f /proc/cpuinfo 2>/dev/null; then run_suite "capped at AVX2" ONEDNN_MAX_CPU_ISA=AVX2; fi
run_suite "capped at SSE4.1 (elementwise SSE2)" ONEDNN_MAX_CPU_ISA=SSE41

echo "== browser test of gasa serve's page (headless Chromium)"
executed=$((executed + 1))
if ! timeout 600 python3 tools/browser_test.py .build/debug/gasa .build/serve-page.png; then
    failed=$((failed + 1)); status=1
fi
echo "== careless and hostile HTTP requests against gasa serve"
executed=$((executed + 1))
if ! timeout 300 python3 tools/fuzz_serve.py .build/debug/gasa 15; then
    failed=$((failed + 1)); status=1
fi
echo "tests: $((executed - failed - skipped)) passed, $failed failed, $skipped skipped"
exit "$status"
