#!/bin/bash
# bench/compare_logits.sh OLD_REV: every dev-set logit of the shipped models from the
# forward at git revision OLD_REV against the working tree's (`glueq-bench logits`, same
# threads and OpenBLAS kernels for both). Prints, per (model, dev set), the largest logit
# change, the predictions that changed and the smallest logit margin of the old run; exits
# non-zero if any prediction changed or a logit moved by more than $MAX_DELTA (default
# 1e-6, the bound of the CPU target). A change of the forward should leave both at that.
#
# usage: bench/compare_logits.sh OLD_REV        (env: THREADS=2, GLUEQ_SHARED=../shared)
# Builds OLD_REV from `git archive` under build/compare/ and the working tree in build/perf.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
[ $# -eq 1 ] || { echo "usage: bench/compare_logits.sh OLD_REV" >&2; exit 2; }
old_rev=$(git rev-parse --short "$1^{commit}")
THREADS=${THREADS:-2} MAX_DELTA=${MAX_DELTA:-1e-6}
export GLUEQ_SHARED=${GLUEQ_SHARED:-$root/../shared}
models=$GLUEQ_SHARED/assets/models
work=$root/build/compare
log() { echo "compare_logits: $*" >&2; }

# build_bench SOURCE_DIR BUILD_DIR: glueq-bench of a source tree, with that tree's bench.c.
build_bench() {
  cmake -S "$1" -B "$2" -DCMAKE_BUILD_TYPE=Release > /dev/null
  # the engine's library (gq_harness in trees older than the per-folder libraries)
  cmake --build "$2" -j"$(nproc)" --target gq_experiment > /dev/null 2>&1 ||
    cmake --build "$2" -j"$(nproc)" --target gq_harness > /dev/null
  (cd "$1" && bench/build.sh "$2" "$2/glueq-bench") > /dev/null
}
log "building $old_rev and the working tree"
rm -rf "$work/src-$old_rev"
mkdir -p "$work/src-$old_rev"
git archive "$old_rev" | tar -x -C "$work/src-$old_rev"
build_bench "$work/src-$old_rev" "$work/build-$old_rev"
build_bench "$root" "$root/build/perf"

status=0
for pair in scratch-rte:rte mlm-rte:rte scratch-mrpc:mrpc mlm-mrpc:mrpc scratch-rte:qnli mlm-rte:qnli; do
  model=${pair%:*} task=${pair#*:}
  log "$model on $task dev"
  "$work/build-$old_rev/glueq-bench" logits --model "$models/$model" --task "$task" --threads "$THREADS" \
    > "$work/old.txt"
  build/perf/glueq-bench logits --model "$models/$model" --task "$task" --threads "$THREADS" > "$work/new.txt"
  /usr/bin/python3 - "$work/old.txt" "$work/new.txt" "$model" "$task" "$MAX_DELTA" <<'EOF' || status=1
import sys
old, new = ([l.split() for l in open(p)] for p in sys.argv[1:3])
model, task, bound = sys.argv[3], sys.argv[4], float(sys.argv[5])
assert len(old) == len(new) and old, "different numbers of examples"
delta = max(abs(float(a) - float(b)) for o, n in zip(old, new) for a, b in zip(o[2:], n[2:]))
moved = [o[0] for o, n in zip(old, new) if o[1] != n[1]]
margin = min(abs(float(o[2]) - float(o[3])) for o in old) if len(old[0]) == 4 else float("nan")
print("%-12s %-4s dev: %5d examples, max |logit change| %.3g, predictions changed %d%s, smallest old margin %.3g"
      % (model, task, len(old), delta, len(moved), (" (" + " ".join(moved[:10]) + ")") if moved else "", margin))
sys.exit(1 if moved or delta > bound else 0)
EOF
done
exit $status
