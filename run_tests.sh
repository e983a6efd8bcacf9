#!/usr/bin/env bash
# The test command: installs build dependencies, builds Release and ASan+UBSan, runs the
# unit tests in both and the slow tests (full dev sets, thread determinism, a 1,000-point
# sweep's memory) in Release, that sweep also under ASan's leak checker, then every
# libFuzzer target for GLUEQ_FUZZ_SECONDS each (default 10: about 90 s plus its build).
#   ./run_tests.sh            everything (the slow tests take several minutes more than the
#                             unit tests: see results/reliability.md)
#   GLUEQ_SKIP_SLOW=1 ./run_tests.sh   unit tests (and fuzzing) only
#   GLUEQ_FUZZ_SECONDS=0 ./run_tests.sh   no fuzzing
# Test data: $GLUEQ_SHARED, else ../shared (assets/ and fixtures/).
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup.sh
JOBS=$(nproc)
for preset in release asan; do
  cmake --preset "$preset" >/dev/null
  cmake --build --preset "$preset" -j "$JOBS"
done
status=0
ctest --preset unit -j "$JOBS" || status=1
ctest --preset asan -j "$JOBS" || status=1
if [ -z "${GLUEQ_SKIP_SLOW:-}" ]; then
  ctest --test-dir build/release -L slow --output-on-failure || status=1
  # the 1,000-point sweep of test_leaks again, built with ASan: LeakSanitizer must pass
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 ctest --test-dir build/asan -L leak --output-on-failure || status=1
fi
if [ "${GLUEQ_FUZZ_SECONDS:-10}" != 0 ]; then
  fuzz/run.sh "${GLUEQ_FUZZ_SECONDS:-10}" || status=1
fi
exit $status
