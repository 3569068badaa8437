#!/usr/bin/env bash
# Sets up (apt packages when missing, debug build with tests) and runs the whole test suite.
# Passing test cases are not listed; failures, skips and the summary are. The suites are XCTest only,
# so the Swift Testing runner (which would report an empty run of its own) is switched off.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh debug
log=$(mktemp)
set +e
swift test --skip-build --disable-swift-testing 2>&1 | tee "$log" | awk '
    /^Test Case .*(started|passed)/ { next }
    /^Test Suite / && !/^Test Suite .All tests./ && /(started|passed)/ { next }
    { print; fflush() }'
status=${PIPESTATUS[0]}
set -e
echo "test summary: $(grep -E 'Executed [0-9]+ tests' "$log" | tail -1 | sed 's/^[[:space:]]*//')"
rm -f "$log"
exit "$status"
