#!/usr/bin/env bash
# The main job: installs build dependencies, builds glueq, runs the paper's grid
# (configs/paper.json: MRPC, RTE, QNLI x uniform/svd/awq/spqr x 4 bits x k = 1..4096, plus
# FP32) and prints its table. A killed run resumes where it stopped when started again.
#
# Models: $GLUEQ_MODELS/distilbert-base-uncased-{MRPC,RTE,QNLI} (scripts/fetch_assets.sh
# downloads them; default $GLUEQ_ASSETS/models). When absent, the MLM-pretrained models of
# the assets (mlm-mrpc, mlm-rte; mlm-rte also for QNLI) stand in, with a notice, and the
# results go to results/paper-mlm.
# Assets: $GLUEQ_ASSETS, else ../shared/assets.   Extra arguments go to `glueq sweep`.
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup.sh
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)"

export GLUEQ_ASSETS="${GLUEQ_ASSETS:-$(cd .. && pwd)/shared/assets}"
export GLUEQ_MODELS="${GLUEQ_MODELS:-$GLUEQ_ASSETS/models}"
out=results/paper
for T in MRPC RTE QNLI; do
  var=GLUEQ_MODEL_$T
  [ -n "${!var:-}" ] || [ -f "$GLUEQ_MODELS/distilbert-base-uncased-$T/config.json" ] && continue
  s=$(echo $T | tr A-Z a-z); [ $T = QNLI ] && s=rte
  echo "glueq: notice: $GLUEQ_MODELS/distilbert-base-uncased-$T not found (scripts/fetch_assets.sh downloads it)." >&2
  echo "glueq: notice: using mlm-$s instead: NOT the paper's model (dim 256, 6 layers, MLM-pretrained on a small corpus)$([ $T = QNLI ] && echo '; an RTE model standing in for QNLI (same labels)')." >&2
  export "$var=$GLUEQ_ASSETS/models/mlm-$s"
  out=results/paper-mlm
done
resume=()
[ -f "$out/journal.jsonl" ] && resume=(--resume)
build/release/glueq sweep configs/paper.json --out "$out" "${resume[@]}" "$@"
cat "$out/table.md"
