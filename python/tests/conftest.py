"""What the tests of the glueq package need: the glueq binary whose evaluations are the
reference (GLUEQ_BIN), the shared fixtures and assets (GLUEQ_SHARED, else ../shared of the
source tree), a safetensors writer (the real package, else tests/shim) and a scratch
method-state cache. tests/test_python.sh sets them for `ctest`."""
import json
import os
import subprocess
import sys

import pytest

SRC = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARED = os.environ.get("GLUEQ_SHARED", os.path.join(os.path.dirname(SRC), "shared"))
GLUEQ = os.environ.get("GLUEQ_BIN", os.path.join(SRC, "build", "release", "glueq"))
try:
    import safetensors.numpy  # noqa: F401
except ImportError:
    sys.path.insert(0, os.path.join(SRC, "tests", "shim"))

os.environ.setdefault("GLUEQ_ASSETS", os.path.join(SHARED, "assets"))

TINY_A = os.path.join(SHARED, "fixtures", "tiny-a")
TINY_B = os.path.join(SHARED, "fixtures", "tiny-b")
MLM_RTE = os.path.join(SHARED, "assets", "models", "mlm-rte")
MLM_MRPC = os.path.join(SHARED, "assets", "models", "mlm-mrpc")


@pytest.fixture(autouse=True, scope="session")
def method_cache(tmp_path_factory):
    os.environ["GLUEQ_CACHE_DIR"] = str(tmp_path_factory.mktemp("cache"))


def cli(*args):
    """`glueq ARGS`: (exit status, stdout, stderr)."""
    p = subprocess.run([GLUEQ, *args], capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr


def cli_eval(model, *args):
    """`glueq eval --json` of the same point: the JSON object it prints."""
    rc, out, err = cli("eval", "--model", model, "--json", "--quiet", *args)
    assert rc == 0, err
    return json.loads(out)
