#!/bin/bash
# bench/run.sh: glueq's speed against its peers on this machine, written to results/bench.md.
# One command, one machine, one thread count:
#   - `glueq eval` tokens/s and examples/s (FP32) on the dev sets of RTE and QNLI, with a
#     DistilBERT-base-shaped checkpoint of seeded random weights (glueq-bench make-base);
#   - the peers on the same token ids (shared/bench/peers.py): PyTorch eager, length-bucketed
#     and padded to 128 as HF run_glue.py does, and ONNX Runtime (onnxruntime-node);
#   - OpenBLAS sgemm GFLOP/s on the forward's Linear shapes, and the forward's GFLOP/s as a
#     fraction of it (measured alternately, run by run);
#   - peak resident memory of `glueq eval` (/usr/bin/time -v);
#   - throughput against threads (1, 2) and sequence length (32..256), and a perf profile;
#   - the same on a BERT-base-shaped checkpoint (12 blocks, token types, the pooler;
#     glueq-bench make-base --shape bert-base): `glueq eval`, the forward against sgemm, and
#     the peers on HF BertForSequenceClassification restated (bench/peers_bert.py, checked
#     first against the logits of tests/fixtures/encoders/bert-*), on OpenBLAS's best
#     kernels for the CPU (below).
# Every timing is the median of $REPS runs, the engines interleaved run by run.
#
# Where the CPU has AVX-512 but OpenBLAS picked its Haswell (AVX2) kernels, as Debian's
# OpenBLAS 0.3.21 does on AMD Zen 4/5, the QNLI runs are repeated with its AVX-512 kernels
# (OPENBLAS_CORETYPE=SkylakeX) for glueq and the PyTorch and ONNX Runtime peers alike.
# Until then OPENBLAS_CORETYPE is pinned to the kernels OpenBLAS picks by itself, so that
# glueq (which would otherwise switch to AVX-512 on its own, experiment/blas.c), its peers and
# the sgemm limit all run the same kernels. The bert stage runs on the best kernels from the
# start: SkylakeX where OpenBLAS passed AVX-512 over, else those it picks.
#
# usage: bench/run.sh          (env: THREADS=2 REPS=3 QNLI_LIMIT=400 RTE_LIMIT=0 PEERS=1)
# STAGES (default "throughput limits scaling profile avx512 bert") picks what runs; results of
# earlier stages are kept in build/bench/results.jsonl unless "throughput" runs (the bert
# stage replaces its own).
# QNLI_LIMIT / RTE_LIMIT: first N dev examples (0: all; the full QNLI dev set takes about an
# hour of PyTorch time on a 2-core machine). PEERS=0 skips the peers (and their install:
# python3-torch, python3-numpy, nodejs, npm from Debian; onnxruntime-node from npm into
# $PEERS_NODE_MODULES, default build/bench/node_modules).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
THREADS=${THREADS:-2} REPS=${REPS:-3} QNLI_LIMIT=${QNLI_LIMIT:-400} RTE_LIMIT=${RTE_LIMIT:-0} PEERS=${PEERS:-1}
STAGES=${STAGES:-throughput limits scaling profile avx512 bert}
SHARED=${GLUEQ_SHARED:-$root/../shared}
export GLUEQ_SHARED=$SHARED
work=$root/build/bench
out=$work/results.jsonl
mkdir -p "$work"
log() { echo "bench: $*" >&2; }
stage() { [[ " $STAGES " == *" $1 "* ]]; }
record() { echo "$1" >> "$out"; }

# ---- build
log "building build/perf and glueq-bench"
cmake -S . -B build/perf -DCMAKE_BUILD_TYPE=Release > /dev/null
cmake --build build/perf -j"$(nproc)" --target glueq gq_experiment > /dev/null
bench/build.sh build/perf "$work/glueq-bench" > /dev/null
glueq=$root/build/perf/glueq gb=$work/glueq-bench

# ---- the same OpenBLAS kernels for every engine of the main runs
core=$("$gb" sgemm --reps 1 --tokens 256)
default_core=$(echo "$core" | sed 's/.*"core": "\([^"]*\)".*/\1/')
export OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-$default_core}
log "OpenBLAS kernels: $OPENBLAS_CORETYPE"
# Whether OpenBLAS picked its AVX2 kernels on a CPU with AVX-512.
avx512_passed_over() { grep -qw avx512f /proc/cpuinfo && [[ $core =~ \"openblas\":\ \"[^\"]*(Haswell|Zen) ]]; }

# ---- peers (installed only when asked for)
py=/usr/bin/python3
export PEERS_NODE_MODULES=${PEERS_NODE_MODULES:-$work/node_modules}
if [ "$PEERS" = 1 ]; then
  # Only what is missing: a machine with NodeSource's nodejs (npm included) cannot take
  # Debian's npm beside it.
  need=()
  $py -c 'import torch' 2> /dev/null || need+=(python3-torch)
  $py -c 'import numpy' 2> /dev/null || need+=(python3-numpy)
  command -v node > /dev/null || need+=(nodejs)
  command -v npm > /dev/null || need+=(npm)
  if [ ${#need[@]} -gt 0 ]; then
    log "installing ${need[*]}"
    apt-get install -y "${need[@]}" > "$work/apt.log"
  fi
  if [ ! -d "$PEERS_NODE_MODULES/onnxruntime-node" ]; then
    log "installing onnxruntime-node into $PEERS_NODE_MODULES"
    mkdir -p "$(dirname "$PEERS_NODE_MODULES")"
    (cd "$(dirname "$PEERS_NODE_MODULES")" && npm install --ignore-scripts onnxruntime-node@1.30.0 > "$work/npm.log")
  fi
fi

# ---- model
model=$work/base
if [ ! -f "$model/model.safetensors" ]; then
  log "writing the DistilBERT-base-shaped checkpoint to $model"
  "$gb" make-base "$model" --seed 0 > /dev/null
fi

# ---- provenance
if stage throughput; then
: > "$out"
ver_torch=none ver_ort=none
if [ "$PEERS" = 1 ]; then
  ver_torch=$($py -c 'import torch; print(torch.__version__)')
  ver_ort=$($py -c 'import json,sys; print(json.load(open(sys.argv[1]))["version"])' \
    "$PEERS_NODE_MODULES/onnxruntime-node/package.json")
fi
record "$($py - "$THREADS" "$REPS" "$QNLI_LIMIT" "$RTE_LIMIT" "$ver_torch" "$ver_ort" "$model" <<'EOF'
import json, os, subprocess, sys
load = os.getloadavg()
lscpu = dict(l.split(":", 1) for l in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines() if ":" in l)
rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
dirty = subprocess.run(["git", "status", "--porcelain", "model", "bench"], capture_output=True, text=True).stdout.strip()
t, reps, ql, rl, vt, vo, model = sys.argv[1:]
print(json.dumps({"kind": "machine", "cpu": lscpu.get("Model name", "?").strip(), "cpus": os.cpu_count(),
                  "threads": int(t), "reps": int(reps), "qnli_limit": int(ql), "rte_limit": int(rl),
                  "torch": vt, "onnxruntime": vo, "revision": rev + ("+dirty" if dirty else ""),
                  "checkpoint_bytes": os.path.getsize(os.path.join(model, "model.safetensors")),
                  "load_before": "%.2f %.2f %.2f" % load,
                  "command": "THREADS=%s REPS=%s QNLI_LIMIT=%s RTE_LIMIT=%s bench/run.sh" % (t, reps, ql, rl)}))
EOF
)"
record "$("$gb" sgemm --threads "$THREADS" --reps "$REPS" | sed 's/^{/{"kind": "sgemm", /')"
fi

# ---- throughput: glueq and the peers, interleaved run by run
limit_of() { if [ "$1" = qnli ]; then echo "$QNLI_LIMIT"; else echo "$RTE_LIMIT"; fi; }
# throughput_runs KIND MODEL PEERS_PY TASKS PEER_FLAGS...: $REPS runs of glueq and the peers
# (PEERS_PY once per PEER_FLAGS argument), interleaved.
throughput_runs() {
  local kind=$1 model=$2 peers_py=$3 tasks=$4
  shift 4
  for rep in $(seq "$REPS"); do
  for task in $tasks; do
    lim=$(limit_of $task)
    log "run $rep/$REPS: $task (limit $lim)"
    j=$("$glueq" eval --model "$model" --task $task --threads "$THREADS" --limit "$lim" --json --quiet)
    record "{\"kind\": \"$kind\", \"engine\": \"glueq\", \"task\": \"$task\", \"rep\": $rep, \"eval\": $j}"
    if [ "$PEERS" = 1 ]; then
      for flags in "$@"; do
        PEERS_LIMIT=$lim $py bench/peers_limit.py "$peers_py" run "$model" $task --threads "$THREADS" \
          $flags | while read -r line; do
          record "{\"kind\": \"$kind\", \"engine\": \"peer\", \"task\": \"$task\", \"rep\": $rep, \"eval\": $line}"
        done
      done
    fi
  done
  done
}
stage throughput && throughput_runs run "$model" "$SHARED/bench/peers.py" "rte qnli" --ort --padded

# ---- the forward against sgemm, memory, scaling
if stage limits; then
log "forward vs sgemm on qnli"
record "$("$gb" task --model "$model" --task qnli --limit "$QNLI_LIMIT" --threads "$THREADS" --reps "$REPS" \
  | sed 's/^{/{"kind": "fraction", /')"
log "peak memory"
/usr/bin/time -v "$glueq" eval --model "$model" --task qnli --threads "$THREADS" --limit "$QNLI_LIMIT" --quiet \
  > /dev/null 2> "$work/time.txt"
record "{\"kind\": \"memory\", \"max_rss_kb\": $(awk -F: '/Maximum resident/ {print $2+0}' "$work/time.txt")}"
fi
stage scaling && for t in 1 2; do
  for len in 32 64 128 256; do
    log "scaling: $t threads, length $len"
    record "$("$gb" seqlen --model "$model" --len $len --threads $t --reps "$REPS" | sed 's/^{/{"kind": "seqlen", /')"
  done
done

# ---- where the time goes: perf profile of glueq eval on QNLI
if stage profile && command -v perf > /dev/null; then
  log "perf profile"
  perf record -g -o "$work/perf.data" "$glueq" eval --model "$model" --task qnli --threads "$THREADS" \
    --limit "$QNLI_LIMIT" --quiet > /dev/null 2>&1
  perf report -i "$work/perf.data" --stdio --no-children --sort symbol 2> /dev/null > "$work/perf.txt"
  $py bench/report.py profile "$work/perf.txt" >> "$out"
fi

# ---- the BERT-base shape: glueq and the peers, the forward against sgemm, on the best kernels
if stage bert; then
  grep -v '^{"kind": "bert_' "$out" > "$out.tmp" || true
  mv "$out.tmp" "$out"
  main_core=$OPENBLAS_CORETYPE
  if avx512_passed_over; then export OPENBLAS_CORETYPE=SkylakeX; fi
  log "bert-base on OpenBLAS kernels $OPENBLAS_CORETYPE"
  # this stage may run alone (STAGES=bert), at another revision than the machine line's
  rev=$(git rev-parse --short HEAD)
  [ -z "$(git status --porcelain model bench)" ] || rev=$rev+dirty
  record "{\"kind\": \"bert_revision\", \"revision\": \"$rev\"}"
  bert=$work/bert-base
  if [ ! -f "$bert/model.safetensors" ]; then
    log "writing the BERT-base-shaped checkpoint to $bert"
    "$gb" make-base "$bert" --shape bert-base --seed 0 > /dev/null
  fi
  if [ "$PEERS" = 1 ]; then
    for fixture in bert-uncased bert-cased; do
      j=$($py bench/peers_bert.py check "tests/fixtures/encoders/$fixture") || {
        echo "bench: bench/peers_bert.py is off the fixture's logits: $j" >&2
        exit 1
      }
      record "$(echo "$j" | sed 's/^{/{"kind": "bert_peer_check", /')"
    done
  fi
  record "$("$gb" sgemm --threads "$THREADS" --reps "$REPS" | sed 's/^{/{"kind": "bert_sgemm", /')"
  throughput_runs bert_run "$bert" bench/peers_bert.py "rte qnli" --ort --padded
  record "$("$gb" task --model "$bert" --task qnli --limit "$QNLI_LIMIT" --threads "$THREADS" --reps "$REPS" \
    | sed 's/^{/{"kind": "bert_fraction", /')"
  export OPENBLAS_CORETYPE=$main_core
fi

# ---- the same QNLI runs with OpenBLAS's AVX-512 kernels, where OpenBLAS passed them over
if stage avx512 && avx512_passed_over; then
  log "QNLI again with OPENBLAS_CORETYPE=SkylakeX"
  export OPENBLAS_CORETYPE=SkylakeX
  record "$("$gb" sgemm --threads "$THREADS" --reps "$REPS" | sed 's/^{/{"kind": "sgemm_avx512", /')"
  throughput_runs avx512 "$model" "$SHARED/bench/peers.py" qnli --ort
  record "$("$gb" task --model "$model" --task qnli --limit "$QNLI_LIMIT" --threads "$THREADS" --reps "$REPS" \
    | sed 's/^{/{"kind": "fraction_avx512", /')"
fi

record "{\"kind\": \"end\", \"load_after\": \"$(cut -d' ' -f1-3 /proc/loadavg)\"}"
$py bench/report.py write "$out" results/bench.md
log "wrote results/bench.md"
