#!/usr/bin/env bash
# glueq's metrics against scikit-learn and scipy (tests/metrics_sklearn.py): random and
# degenerate cases through tests/metrics_dump, to 1e-12.
#   test_metrics_sklearn.sh SHARED GLUEQ BUILD_DIR SOURCE_DIR
set -euo pipefail
exec /usr/bin/python3 "$4/tests/metrics_sklearn.py" cases "$3/tests/metrics_dump"
