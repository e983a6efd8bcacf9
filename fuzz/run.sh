#!/usr/bin/env bash
# Builds the libFuzzer targets (cmake --preset fuzz: clang, ASan + UBSan), builds their seed
# corpora from the shared fixtures, and runs every target for SECONDS each, one after
# the other. Prints one line per target (executions, coverage, corpus) and exits non-zero
# when any target found a crash, leak, UB, timeout or out-of-memory; the input that did
# it is left in build/fuzz/artifacts/<target>/ (reproduce: build/fuzz/fuzz/<target> FILE).
#   fuzz/run.sh [SECONDS [TARGET...]]      default 10 seconds, all targets
# Environment: GLUEQ_SHARED (fixtures; else ../shared), FUZZ_JOBS (build jobs; nproc).
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${1:-10}
shift || true
SHARED=${GLUEQ_SHARED:-$(cd .. && pwd)/shared}
BUILD=build/fuzz
ALL=(fuzz_safetensors fuzz_torch_zip fuzz_torch_legacy fuzz_config fuzz_sweep_config fuzz_glue fuzz_tokenizer
     fuzz_tokenizer_bpe fuzz_journal fuzz_cache)
TARGETS=("${@:-${ALL[@]}}")
[ $# -gt 0 ] || TARGETS=("${ALL[@]}")

cmake --preset fuzz -DGLUEQ_SHARED_DIR="$SHARED" >/dev/null
cmake --build --preset fuzz -j "${FUZZ_JOBS:-$(nproc)}" --target "${TARGETS[@]}" >/dev/null
rm -rf "$BUILD/seeds"
python3 fuzz/make_corpus.py "$SHARED" "$BUILD/seeds"

export GLUEQ_FUZZ_VOCAB="$SHARED/assets/vocab/vocab.txt"
status=0
printf '%-18s %12s %10s %8s %8s %s\n' target executions exec/s cov ft result
for t in "${TARGETS[@]}"; do
  work="$BUILD/corpus/$t" art="$BUILD/artifacts/$t/" log="$BUILD/logs/$t.log"
  mkdir -p "$work" "$art" "$(dirname "$log")" "$BUILD/seeds/$t"
  # -rss_limit_mb/-malloc_limit_mb: an allocation the input can steer past 512 MiB is a
  # finding (a missing limit); -timeout: an input that takes 10 s is a hang.
  # Past findings (fuzz/regress/<target>) are read first, with clang's sanitizers.
  dirs=("$work" "$BUILD/seeds/$t")
  [ -d "fuzz/regress/$t" ] && dirs+=("fuzz/regress/$t")
  rc=0
  "$BUILD/fuzz/$t" -max_total_time="$SECONDS_EACH" -rss_limit_mb=2048 -malloc_limit_mb=512 -timeout=10 \
    -print_final_stats=1 -artifact_prefix="$art" "${dirs[@]}" >"$log" 2>&1 || rc=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  result=ok
  if [ "$rc" -ne 0 ]; then
    result="FOUND (exit $rc): $(grep -m1 -oE 'ERROR: [A-Za-z]+: [^ ]+( [^ ]+)?|runtime error: .*|fuzz: .*' "$log" || echo see "$log")"
    status=1
  fi
  printf '%-18s %12s %10s %8s %8s %s\n' "$t" "${runs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "$result"
done
exit $status
