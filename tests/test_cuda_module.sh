#!/usr/bin/env bash
# glueq maps cuBLAS and the CUDA runtime only when a run asks for device cuda (they
# cost about 155 MB of resident memory on the CPU): the binary does not link them, and a CPU
# evaluation loads neither them nor the CUDA module, as the dynamic loader reports
# (LD_DEBUG=files names every object it maps, dlopen'ed ones included). Where the module is
# built, a --device cuda run loads it and cuBLAS, GPU or not: the control that shows the
# same check sees them when they are there.
#   test_cuda_module.sh SHARED GLUEQ BUILD_DIR SOURCE_DIR
set -euo pipefail
shared=$1 glueq=$2 build=$3
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
CUDA_LIBS='libcublas|libcudart|libglueq_cuda'

linked=$(ldd "$glueq" | grep -E "$CUDA_LIBS" || true)
[ -z "$linked" ] || fail "glueq links the CUDA libraries: $linked"

# Objects the loader maps during one glueq eval (stderr holds LD_DEBUG's lines).
loaded() {
  LD_DEBUG=files GLUEQ_ASSETS="$shared/assets" "$glueq" eval --model "$shared/assets/models/scratch-rte" --task rte \
    --limit 4 --quiet "$@" 2>&1 >/dev/null | sed -En 's/.*file=([^ ]+) \[[0-9]+\]; +(needed|dynamically loaded) by.*/\1/p' |
    sort -u
}
cpu=$(loaded)
[ -n "$cpu" ] || fail "LD_DEBUG=files reported no objects for a CPU run (is the check blind?)"
on_cpu=$(grep -E "$CUDA_LIBS" <<<"$cpu" || true)
[ -z "$on_cpu" ] || fail "a CPU evaluation maps: $on_cpu"

if [ -f "$build/libglueq_cuda.so" ]; then
  cuda=$(loaded --device cuda || true)
  for lib in libglueq_cuda libcublas libcudart; do
    grep -q "$lib" <<<"$cuda" || fail "a --device cuda run did not load $lib (loaded: $(tr '\n' ' ' <<<"$cuda"))"
  done
else
  echo "no CUDA module in $build: only the CPU half checked"
fi

[ $failures -eq 0 ] || exit 1
echo "test_cuda_module: all checks passed"
