#!/usr/bin/env bash
# The Python package (python/glueq) against this build's libglueq and glueq: runs
# python/tests with pytest. Skipped (77) without a python3 that has numpy and pytest
# (apt-get install python3-numpy python3-pytest; scripts/setup.sh does).
#   test_python.sh SHARED GLUEQ BUILD_DIR SOURCE_DIR
set -euo pipefail
shared=$1 glueq=$2 build=$3 src=$4
python=
for p in python3 /usr/bin/python3; do
  if command -v "$p" >/dev/null && "$p" -c 'import numpy, pytest' 2>/dev/null; then python=$p; break; fi
done
[ -n "$python" ] || { echo "SKIP: no python3 with numpy and pytest (apt-get install python3-numpy python3-pytest)"; exit 77; }
export GLUEQ_LIBRARY="$build/libglueq.so" GLUEQ_BIN="$glueq" GLUEQ_SHARED="$shared"
export PYTHONPATH="$src/python${PYTHONPATH:+:$PYTHONPATH}" PYTHONDONTWRITEBYTECODE=1 # nothing written into the source tree
exec "$python" -m pytest "$src/python/tests" -q -p no:cacheprovider
