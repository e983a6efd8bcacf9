#!/usr/bin/env bash
# The seed-method grid of issue 11 on the MLM stand-ins (results/seeds-mlm/README.md):
# configs/seeds.json, then the other configs/seeds-*.json, QNLI's last (a killed run resumes
# where it stopped; a finished part is not run again), then the
# paired comparisons of scripts/seeds_report.py into results/seeds-mlm/compare.md.
# Assets: $GLUEQ_ASSETS, else ../shared/assets. Binary: $GLUEQ, else build/release/glueq.
set -euo pipefail
cd "$(dirname "$0")/.."
export GLUEQ_ASSETS="${GLUEQ_ASSETS:-$(cd .. && pwd)/shared/assets}"
glueq="${GLUEQ:-build/release/glueq}"
dirs=()
for cfg in configs/seeds.json $(ls configs/seeds-*.json | grep -v qnli) $(ls configs/seeds-*qnli*.json); do
  out=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["output"])' "$cfg")
  resume=()
  [ -f "$out/journal.jsonl" ] && resume=(--resume)
  [ -f "$out/results.json" ] || "$glueq" sweep "$cfg" "${resume[@]}"
  dirs+=("$out")
done
python3 scripts/seeds_report.py "$glueq" results/seeds-mlm/compare.md "${dirs[@]}"
