#!/bin/bash
# bench/gpu.sh: glueq's CUDA backend against its peers on the same GPU, written to
# results/gpu.md. Runs on a machine with an NVIDIA GPU and installs nothing:
#   - `glueq eval --device cuda` on QNLI dev with a DistilBERT-base-shaped checkpoint of
#     seeded random weights (glueq-bench make-base), tokens/s as the median of $REPS runs,
#     each a cold process: its wall time, and where the GPU's start went (the runner's line);
#   - the peers on the same token ids (bench/gpu_peers.py, fixtures/tokrefs): HF transformers
#     eager padded to 128 in batches of 32, length-bucketed eager in batches of 32 and 256,
#     torch.compile in batches of 256 — all FP32 with TF32 off;
#   - cuBLAS FP32 sgemm at the forward's shapes, and glueq's tokens/s as a fraction of the
#     sgemm-bound rate (sgemm FLOP/s ÷ the full forward's FLOP per token);
#   - the GPU memory glueq eval takes (nvidia-smi, sampled every 50 ms);
#   - the same glueq runs and peers on a BERT-base-shaped checkpoint (12 blocks, token
#     types, the pooler; glueq-bench make-base --shape bert-base), reported beside
#     DistilBERT-base (the bert stage);
#   - the wall time of configs/paper.json (69 points: MRPC, RTE, QNLI) with the base-shaped
#     checkpoint for all three tasks on device cuda, from a fresh method cache (scoring and
#     calibration included), and where that time goes (the sweep's per-point lines and its
#     summary by stage);
#   - stage seeds (not in the default STAGES): the 1,305-point seeds grid (configs/seeds.json,
#     seeds-rosaq.json, seeds-rosaq-none.json) on the mlm models under assets/models, device
#     cuda, from a fresh method cache: its wall time and the sweeps' summaries by stage.
# usage: bench/gpu.sh
#   env: REPS=3; GLUEQ_SHARED (default ../shared: assets/glue, assets/vocab, fixtures/tokrefs);
#        GLUEQ_BUILD: a directory with glueq built with CUDA, its module libglueq_cuda.so and
#        glueq-bench (default: configure and build build/gpu with -DGLUEQ_CUDA=ON, which needs
#        nvcc, OpenBLAS, LAPACKE, utf8proc, cJSON and libcsv; where any is missing the script
#        stops with one line naming them); STAGES (default "glueq peers bert grid"; any of
#        glueq, peers, bert, grid, seeds).
#
# A GPU machine without those libraries (one with nvcc, CMake and PyTorch but nothing else,
# where nothing can be installed) runs a bundle built elsewhere:
#   bench/gpu_bundle.sh DIR                # here: glueq + CUDA module + glueq-bench + the libraries
#   GLUEQ_BUILD=DIR bench/gpu.sh           # there (DIR copied along; cuBLAS is the GPU machine's)
#   GLUEQ_SHARED=SHARED ctest --test-dir DIR -L cuda    # the exactness tests, there too
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
REPS=${REPS:-3} STAGES=${STAGES:-glueq peers bert grid}
SHARED=${GLUEQ_SHARED:-$root/../shared}
export GLUEQ_ASSETS=$SHARED/assets GLUEQ_SHARED=$SHARED
work=$root/build/gpubench
out=$work/results.jsonl
mkdir -p "$work"
: > "$out"
log() { echo "gpu.sh: $*" >&2; }
stage() { [[ " $STAGES " == *" $1 "* ]]; }
record() { echo "$1" >> "$out"; }
py=${PYTHON:-python3}
cmdline="${GLUEQ_BUILD:+GLUEQ_BUILD=DIR }bench/gpu.sh" # as results/gpu.md will name it

# ---- build
# What configuring glueq needs (CMakeLists.txt), all named in one line when any is missing.
missing_build_deps() {
  local m=() mod
  for tool in nvcc cmake pkg-config cc; do command -v "$tool" > /dev/null || m+=("$tool"); done
  for mod in openblas lapacke libutf8proc libcjson; do
    command -v pkg-config > /dev/null && pkg-config --exists "$mod" || m+=("$mod")
  done
  echo '#include <csv.h>' | cc -E - > /dev/null 2>&1 || m+=(libcsv)
  echo "${m[*]}"
}
if [ -z "${GLUEQ_BUILD:-}" ]; then
  missing=$(missing_build_deps)
  if [ -n "$missing" ]; then
    echo "gpu.sh: cannot build glueq here: missing ${missing// /, }; build a bundle where they are" \
      "(bench/gpu_bundle.sh DIR) and run GLUEQ_BUILD=DIR bench/gpu.sh" >&2
    exit 1
  fi
  log "building build/gpu with CUDA"
  cmake -S . -B build/gpu -DCMAKE_BUILD_TYPE=Release -DGLUEQ_CUDA=ON > /dev/null
  cmake --build build/gpu -j"$(nproc)" --target glueq gq_experiment > /dev/null
  GLUEQ_BUILD=$root/build/gpu
fi
glueq=$GLUEQ_BUILD/glueq gb=$GLUEQ_BUILD/glueq-bench
[ -x "$gb" ] || bench/build.sh "$GLUEQ_BUILD" "$gb" > /dev/null

# ---- model and provenance
model=$work/base
[ -f "$model/model.safetensors" ] || "$gb" make-base "$model" --seed 0 > /dev/null
gpu=$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | head -1)
# the revision glueq was built from (a bundle travels without its checkout)
rev=${GLUEQ_REVISION:-$("$glueq" --version | sed -n 's/^revision: \([0-9a-f]\{7\}\)[0-9a-f]*/\1/p')}
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
record "$($py -c 'import json,sys,os; print(json.dumps({"kind": "machine", "gpu": sys.argv[1], "revision": sys.argv[2],
  "cpus": os.cpu_count(), "cpu": sys.argv[4], "reps": int(sys.argv[3]), "command": sys.argv[5]}))' "$gpu" "$rev" "$REPS" "$cpu" "$cmdline")"
# the CPU side (quantization, scoring, calibration) runs on OpenBLAS with all cores
# (glueq itself restarts with OPENBLAS_CORETYPE=SkylakeX where OpenBLAS picks older kernels
# than an AVX-512 CPU has: experiment/blas.c; glueq-bench takes the library's own choice)
record "$("$gb" sgemm --threads "$(nproc)" --reps 1 | sed 's/^{/{"kind": "cpu_sgemm", /')"
if grep -qw avx512f /proc/cpuinfo; then
  record "$(OPENBLAS_CORETYPE=SkylakeX "$gb" sgemm --threads "$(nproc)" --reps 1 | sed 's/^{/{"kind": "cpu_sgemm", /')"
fi

# glueq_runs MODEL PREFIX: glueq on QNLI dev, warm (kind PREFIXglueq_warm) and $REPS cold
# processes (kind PREFIXglueq).
glueq_runs() {
  local model=$1 prefix=$2
  log "glueq-bench task --device cuda on $model (a cold pass, then $REPS warm ones in one process)"
  record "$("$gb" task --model "$model" --task qnli --device cuda --reps "$REPS" | sed "s/^{/{\"kind\": \"${prefix}glueq_warm\", /")"
  for rep in $(seq "$REPS"); do
    log "glueq eval --device cuda on $model, qnli, run $rep/$REPS"
    t0=$(date +%s.%N)
    j=$("$glueq" eval --model "$model" --task qnli --device cuda --json 2> "$work/eval.err")
    t1=$(date +%s.%N)
    # the runner's line on where its cold start went (cuda/encoder_cuda.cu), as a JSON string
    start=$(grep -m1 '^glueq: cuda: driver' "$work/eval.err" | $py -c 'import json,sys; print(json.dumps(sys.stdin.read().strip()))')
    record "{\"kind\": \"${prefix}glueq\", \"task\": \"qnli\", \"rep\": $rep, \"process_seconds\": $($py -c "print(round($t1 - $t0, 3))"), \"cold_start\": $start, \"eval\": $j}"
  done
}

# ---- glueq on QNLI dev, and the GPU memory it takes
if stage glueq; then
  glueq_runs "$model" ""
  nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 50 > "$work/mem.txt" &
  smi=$!
  sleep 0.5
  base_mib=$(head -1 "$work/mem.txt" 2> /dev/null || echo 0)
  "$glueq" eval --model "$model" --task qnli --device cuda --quiet > /dev/null
  sleep 0.3
  kill "$smi" 2> /dev/null || true
  wait "$smi" 2> /dev/null || true
  peak=$(sort -n "$work/mem.txt" | tail -1)
  record "{\"kind\": \"memory\", \"gpu_used_peak_mib\": ${peak:-0}, \"gpu_used_before_mib\": ${base_mib:-0}, \"checkpoint_bytes\": $(stat -c %s "$model/model.safetensors")}"
fi

# ---- peers and the sgemm limit
if stage peers; then
  log "cuBLAS sgemm at the forward's shapes"
  $py bench/gpu_peers.py sgemm --tokens 16384 >> "$out"
  log "peers on qnli (torch.compile included)"
  $py bench/gpu_peers.py run "$model" qnli --tokrefs "$SHARED/fixtures/tokrefs" --reps "$REPS" >> "$out"
fi

# ---- the BERT-base shape: glueq and the peers (the sgemm shapes are DistilBERT-base's)
if stage bert; then
  bert=$work/bert-base
  [ -f "$bert/model.safetensors" ] || "$gb" make-base "$bert" --shape bert-base --seed 0 > /dev/null
  glueq_runs "$bert" bert_
  log "peers on qnli, BERT-base shape (torch.compile included)"
  $py bench/gpu_peers.py run "$bert" qnli --tokrefs "$SHARED/fixtures/tokrefs" --reps "$REPS" \
    | sed 's/^{"kind": "peer"/{"kind": "bert_peer"/' >> "$out"
fi

# ---- the paper grid on base-shaped models, from a fresh cache
if stage grid; then
  rm -rf "$work/paper" "$work/cache"
  $py - "$root/configs/paper.json" "$work/paper.json" "$work" <<'EOF'
import json, sys
c = json.load(open(sys.argv[1]))
c.update({"name": "paper-base-cuda", "device": "cuda", "output": sys.argv[3] + "/paper", "cache_dir": sys.argv[3] + "/cache",
          "threads": __import__("os").cpu_count()})
json.dump(c, open(sys.argv[2], "w"), indent=2)
EOF
  log "configs/paper.json on base-shaped models, device cuda"
  t0=$(date +%s.%N)
  GLUEQ_MODEL_MRPC=$model GLUEQ_MODEL_RTE=$model GLUEQ_MODEL_QNLI=$model GLUEQ_DATA=$SHARED/assets/glue \
    "$glueq" sweep "$work/paper.json" 2> "$work/grid.log"
  t1=$(date +%s.%N)
  record "$($py bench/gpu_report.py grid "$work/grid.log" "$t0" "$t1")"
fi

# ---- the seeds grid on the mlm models, from a fresh cache
if stage seeds; then
  rm -rf "$work/seeds" "$work/seeds-cache"
  logs=()
  t0=$(date +%s.%N)
  for part in seeds seeds-rosaq seeds-rosaq-none; do
    $py - "$root/configs/$part.json" "$work/$part.json" "$work/seeds/$part" "$work/seeds-cache" <<'EOF'
import json, os, sys
c = json.load(open(sys.argv[1]))
c.update({"device": "cuda", "output": sys.argv[3], "cache_dir": sys.argv[4], "threads": os.cpu_count()})
json.dump(c, open(sys.argv[2], "w"), indent=2)
EOF
    log "configs/$part.json on the mlm models, device cuda"
    GLUEQ_DATA=$SHARED/assets/glue "$glueq" sweep "$work/$part.json" 2> "$work/$part.log"
    logs+=("$work/$part.log")
  done
  t1=$(date +%s.%N)
  record "$($py bench/gpu_report.py seeds "$t0" "$t1" "${logs[@]}")"
fi

$py bench/gpu_report.py write "$out" results/gpu.md "$SHARED/fixtures/tokrefs"
log "wrote results/gpu.md"
