#!/bin/bash
# bench/gpu_bundle.sh: builds glueq with its CUDA backend here and bundles it with the shared
# libraries a GPU machine may lack, for bench/gpu.sh there (GLUEQ_BUILD=DIR): a GPU machine
# with nvcc, CMake and PyTorch but no OpenBLAS, LAPACKE, utf8proc, cJSON or libcsv, where
# nothing can be installed.
#
# DIR gets glueq, libglueq_cuda.so (the module glueq loads for --device cuda, found beside
# it), glueq-bench and test_cuda, all built for a portable x86-64-v3 CPU (GLUEQ_NATIVE=OFF),
# with every non-system library they need in DIR/lib (found through DT_RPATH $ORIGIN/lib,
# which also covers the libraries' own dependencies). cuBLAS, the CUDA runtime and the
# driver are the GPU machine's: the module looks for them in the usual places and in
# /usr/local/cuda/lib64. DIR/CTestTestfile.cmake runs the cuda label there:
#   GLUEQ_SHARED=SHARED ctest --test-dir DIR -L cuda
#
# usage: bench/gpu_bundle.sh DIR   (env BUILD: build directory, default build/gpu-bundle;
#                                    MARCH: -march for the C code, default x86-64-v3)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
[ $# -eq 1 ] || { echo "usage: bench/gpu_bundle.sh DIR" >&2; exit 2; }
out=$(mkdir -p "$1" && cd "$1" && pwd)
build=${BUILD:-$root/build/gpu-bundle} march=${MARCH:-x86-64-v3}
# glibc, the compiler's runtime and the CUDA libraries come from the machine that runs it
SYSTEM_LIBS='^(linux-vdso|ld-linux|libc|libm|libdl|librt|libpthread|libgcc_s|libstdc\+\+|libcuda|libcudart|libcublas|libcublasLt)\.'

mkdir -p "$(dirname "$build")" # the log beside the build directory, in build/ of a fresh clone too

# DT_RPATH (not RUNPATH) so that the bundled libraries' own dependencies are found there too
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DGLUEQ_CUDA=ON -DGLUEQ_NATIVE=OFF \
  -DCMAKE_C_FLAGS="-march=$march" '-DCMAKE_BUILD_RPATH=$ORIGIN/lib;/usr/local/cuda/lib64' \
  -DCMAKE_EXE_LINKER_FLAGS=-Wl,--disable-new-dtags -DCMAKE_MODULE_LINKER_FLAGS=-Wl,--disable-new-dtags > "$build.log"
cmake --build "$build" -j"$(nproc)" --target glueq glueq_cuda test_cuda gq_experiment >> "$build.log"
LDFLAGS='-Wl,--disable-new-dtags -Wl,-rpath,$ORIGIN/lib' "$root/bench/build.sh" "$build" "$build/glueq-bench" > /dev/null

bins="glueq libglueq_cuda.so glueq-bench tests/test_cuda"
mkdir -p "$out/lib"
for b in $bins; do cp "$build/$b" "$out/"; done
# Every library ldd resolves for them (their dependencies' dependencies included), by soname.
for b in $bins; do ldd "$build/$b"; done | awk '$2 == "=>" && $3 ~ /^\// { print $1, $3 }' | sort -u |
  while read -r soname path; do
    grep -Eq "$SYSTEM_LIBS" <<< "$soname" || cp -L "$path" "$out/lib/$soname"
  done

# ctest runs a test in the directory of its CTestTestfile, which knows no variable for it:
# paths relative to the bundle keep it movable.
cat > "$out/CTestTestfile.cmake" << 'EOF'
# The cuda label of the bundle (bench/gpu_bundle.sh): GLUEQ_SHARED=SHARED ctest --test-dir DIR -L cuda
add_test(test_cuda "./test_cuda" "$ENV{GLUEQ_SHARED}" "./glueq")
set_tests_properties(test_cuda PROPERTIES LABELS cuda SKIP_RETURN_CODE 77 TIMEOUT 600
                     ENVIRONMENT "GLUEQ_CUDA_MODULE=./libglueq_cuda.so")
EOF
"$out/glueq" --version | sed -n 's/^revision: //p' > "$out/REVISION"
echo "$out: $(ls "$out/lib" | tr '\n' ' ')($(du -sh "$out" | cut -f1))"
