#!/usr/bin/env bash
# Sets up (apt packages when missing, debug build with tests) and runs the whole test suite.
# Passing test cases are not listed; failures, skips and the summary are.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh debug
log=$(mktemp)
set +e
swift test --skip-build 2>&1 | tee "$log" | grep --line-buffered -v -E '^(Test Case .*(started|passed)|Test Suite .*(started|passed))'
status=${PIPESTATUS[0]}
set -e
echo "test summary: $(grep -E 'Executed [0-9]+ tests' "$log" | tail -1 | sed 's/^[[:space:]]*//')"
rm -f "$log"
exit "$status"
