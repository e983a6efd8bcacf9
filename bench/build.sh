#!/bin/sh
# Builds bench/glueq-bench against the static libraries of a glueq build directory
# (default build/perf): bench/ is outside the CMake project so that it never slows or
# breaks the main build. usage: bench/build.sh [BUILD_DIR] [OUTPUT]  (env LDFLAGS: extra link flags)
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build/perf}
out=${2:-$build/glueq-bench}
inc=""
for d in common io text model quant tasks experiment; do inc="$inc -I$root/$d"; done
libs=""
for l in experiment quant model io text tasks common; do libs="$libs $build/libgq_$l.a"; done
# A build with the CUDA backend loads it as a module (libglueq_cuda.so beside the binary, or
# $GLUEQ_CUDA_MODULE), which calls back into the executable's gq_* functions.
cuda=""
[ -f "$build/libglueq_cuda.so" ] && cuda="-Wl,--dynamic-list=$root/cuda/host_symbols.list"
# shellcheck disable=SC2046
cc -std=c11 -O2 -Wall -Wextra -Wno-unused-parameter $inc $(pkg-config --cflags openblas libcjson) \
  -o "$out" "$root/bench/bench.c" $libs $cuda \
  $(pkg-config --libs openblas lapacke libutf8proc libcjson) -lcsv -lm -lpthread -ldl ${LDFLAGS:-}
echo "$out"
