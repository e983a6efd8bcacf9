"""device="cuda" from Python finds the CUDA module as the glueq command does, with
libglueq standing where the executable stands: $GLUEQ_CUDA_MODULE first, else beside the
library, else in LIBDIR/glueq below it (never beside python3). No GPU is needed: the
module's stand-ins that tests/CMakeLists.txt builds fail the load at once, each with an
error naming the file it loaded (GLUEQ_CUDA_STUB_ABI: a module of another interface
version; GLUEQ_CUDA_STUB_EMPTY: a library that is no module)."""
import os
import shutil
import subprocess
import sys

import pytest

import glueq
from conftest import TINY_A

STUB_ABI, STUB_EMPTY = os.environ.get("GLUEQ_CUDA_STUB_ABI"), os.environ.get("GLUEQ_CUDA_STUB_EMPTY")
pytestmark = pytest.mark.skipif(not (STUB_ABI and STUB_EMPTY),
                                reason="GLUEQ_CUDA_STUB_ABI/EMPTY unset (ctest's test_python sets them)")
MODULE = "libglueq_cuda.so"


def other_glueq(path):
    return f"device cuda: {path} was built for another glueq (module interface "


def not_a_module(path):
    return f"device cuda: {path} is not a glueq CUDA backend (no gq_encoder_cuda_module)"


def test_glueq_cuda_module_names_the_module(monkeypatch):
    m = glueq.load(TINY_A)
    for path, want in ((STUB_ABI, other_glueq(STUB_ABI)), (STUB_EMPTY, not_a_module(STUB_EMPTY)),
                       ("/nonexistent/" + MODULE, f"device cuda: cannot load the CUDA backend /nonexistent/{MODULE}: ")):
        monkeypatch.setenv("GLUEQ_CUDA_MODULE", path)
        with pytest.raises(glueq.Error) as e:
            m.evaluate("rte", limit=2, device="cuda")
        assert str(e.value).startswith(want)


def cuda_error(library, module=None):
    """glueq.Error's message from evaluate(device="cuda") in a python3 that loads library."""
    env = dict(os.environ, GLUEQ_LIBRARY=str(library))
    env.pop("GLUEQ_CUDA_MODULE", None)
    if module:
        env["GLUEQ_CUDA_MODULE"] = module
    code = (f"import glueq\ntry:\n    glueq.load({TINY_A!r}).evaluate('rte', limit=2, device='cuda')\n"
            "except glueq.Error as e:\n    print(e)\n")
    p = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    return p.stdout.strip()


def layout(root, library, module=None):
    """libglueq copied to root/library, and the module stand-in to root/module."""
    lib = root / library
    lib.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(os.environ["GLUEQ_LIBRARY"], lib)
    if module:
        (root / module).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(STUB_ABI, root / module)
    return lib


def test_the_module_is_looked_up_beside_libglueq(tmp_path):
    missing = cuda_error(layout(tmp_path / "none", "libglueq.so"))
    if "built without CUDA" in missing:
        pytest.skip("this libglueq was built without CUDA: it looks for no module")
    none = tmp_path / "none"
    assert missing.startswith(f"device cuda: the CUDA backend is missing: neither {none}/{MODULE} nor "
                              f"{none}/glueq/{MODULE} exists")
    beside = tmp_path / "build"
    assert cuda_error(layout(beside, "libglueq.so", MODULE)).startswith(other_glueq(beside / MODULE))
    installed = tmp_path / "prefix" / "lib"
    lib = layout(installed, "libglueq.so.1", "glueq/" + MODULE)
    assert cuda_error(lib).startswith(other_glueq(installed / "glueq" / MODULE))
    assert cuda_error(lib, module=STUB_EMPTY) == not_a_module(STUB_EMPTY)  # $GLUEQ_CUDA_MODULE first
