#!/usr/bin/env bash
# The main job: installs build dependencies, builds glueq, and evaluates the FP32 models
# found in the assets on MRPC, RTE and QNLI dev.
# Assets: $GLUEQ_ASSETS (see scripts/fetch_assets.sh), else ../shared/assets.
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup.sh
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)"
ASSETS="${GLUEQ_ASSETS:-$(cd .. && pwd)/shared/assets}"
export GLUEQ_ASSETS="$ASSETS"
model_for() { # the paper's checkpoint when present, else the scratch stand-in
  local t=$1 d="$ASSETS/models/textattack-$1"
  if [ -f "$d/config.json" ]; then echo "$d"; return; fi
  local s=$t; [ "$t" = qnli ] && s=rte
  echo "glueq: notice: $d not found (scripts/fetch_assets.sh fetches it); using scratch-$s, which is NOT the paper's model$([ "$t" = qnli ] && echo " (an RTE model standing in for QNLI: accuracy near chance)")" >&2
  echo "$ASSETS/models/scratch-$s"
}
for t in mrpc rte qnli; do
  build/release/glueq eval --model "$(model_for $t)" --task $t --data "$ASSETS/glue"
done
