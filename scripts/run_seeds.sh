#!/usr/bin/env bash
# The seed-method grid on the MLM stand-ins (results/seeds-mlm/README.md): each
# config of $CONFIGS in turn (a finished part is not run again, a killed one resumes where it
# stopped), its predictions packed for the repository, then the paired comparisons of
# scripts/seeds_report.py into results/seeds-mlm/compare.md.
#   SHARDS=N  run each part as N single-threaded shard processes (--shard i/N) merged with
#             `glueq merge` (the committed run: N = 32 on 16 cores); default 1, one process.
# Assets: $GLUEQ_ASSETS, else ../shared/assets. Binary: $GLUEQ, else build/release/glueq.
set -euo pipefail
cd "$(dirname "$0")/.."
export GLUEQ_ASSETS="${GLUEQ_ASSETS:-$(cd .. && pwd)/shared/assets}"
glueq="${GLUEQ:-build/release/glueq}"
shards="${SHARDS:-1}"
configs="${CONFIGS:-configs/seeds.json configs/seeds-rosaq.json configs/seeds-rosaq-none.json
  configs/seeds-rosaq-absmax.json configs/seeds-rosaq-none-absmax.json}"

resume_flag() { compgen -G "$1/journal*.jsonl" > /dev/null && echo --resume || true; }

run_part() { # config, output directory
  if [ "$shards" -le 1 ]; then
    "$glueq" sweep "$1" --out "$2" $(resume_flag "$2")
    return
  fi
  local pids=() dirs=()
  for i in $(seq 0 $((shards - 1))); do
    dirs+=("$2/shards/$i")
    "$glueq" sweep "$1" --out "$2/shards/$i" --shard "$i/$shards" --threads 1 --quiet $(resume_flag "$2/shards/$i") &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p"; done
  "$glueq" merge "$2" "${dirs[@]}"
}

# predictions.jsonl.xz: labels and predictions of every point without the logits (which
# make the plain file tens of MB); `glueq compare` and seeds_report.py read it unpacked.
pack_predictions() {
  python3 -c 'import json, lzma, sys
with lzma.open(sys.argv[2], "wt", preset=9) as f:
    for line in open(sys.argv[1]):
        d = json.loads(line); d.pop("logits", None); f.write(json.dumps(d, separators=(",", ":")) + "\n")' \
    "$1/predictions.jsonl" "$1/predictions.jsonl.xz"
}

dirs=()
for cfg in $configs; do
  out=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["output"])' "$cfg")
  [ -f "$out/results.json" ] || run_part "$cfg" "$out"
  [ -f "$out/predictions.jsonl.xz" ] || pack_predictions "$out"
  dirs+=("$out")
done
python3 scripts/seeds_report.py "$glueq" "${REPORT:-results/seeds-mlm/compare.md}" "${dirs[@]}"
