#!/bin/sh
# Builds bench/glueq-bench against the static libraries of a glueq build directory
# (default build/perf): bench/ is outside the CMake project so that it never slows or
# breaks the main build. usage: bench/build.sh [BUILD_DIR] [OUTPUT]
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build/perf}
out=${2:-$build/glueq-bench}
inc="-I$root/common -I$root/models -I$root/tasks -I$root/harness -I$root/quant"
libs="$build/libgq_harness.a $build/libgq_quant.a $build/libgq_dbert.a $build/libgq_ckpt.a $build/libgq_tok.a \
 $build/libgq_tasks.a $build/libgq_common.a"
# A build with the CUDA backend (GLUEQ_CUDA) also links cuBLAS, the CUDA runtime and libstdc++.
cuda=""
if [ -f "$build/libgq_cuda.a" ]; then
  cudalib=$(dirname "$(sed -n 's/^CUDA_cudart_LIBRARY:FILEPATH=//p' "$build/CMakeCache.txt")")
  cuda="$build/libgq_cuda.a -L$cudalib -Wl,-rpath,$cudalib -lcublas -lcudart -lstdc++"
fi
# shellcheck disable=SC2046
cc -std=c11 -O2 -Wall -Wextra -Wno-unused-parameter $inc $(pkg-config --cflags openblas libcjson) \
  -o "$out" "$root/bench/bench.c" $libs $cuda \
  $(pkg-config --libs openblas lapacke libutf8proc libcjson) -lcsv -lm -lpthread
echo "$out"
