"""examples/saliency.ipynb runs headless from start to end and shows its comparison and its
plot (where Debian's nbclient, ipykernel and matplotlib are installed; skipped with the
reason elsewhere)."""
import os

import pytest

from conftest import MLM_RTE, SRC


def test_the_saliency_notebook_runs(tmp_path, monkeypatch):
    for module, package in (("nbclient", "python3-nbclient"), ("nbformat", "python3-nbformat"),
                            ("ipykernel", "python3-ipykernel"), ("matplotlib", "python3-matplotlib")):
        pytest.importorskip(module, reason=f"no {module} (apt-get install {package})")
    import nbclient
    import nbformat
    nb = nbformat.read(os.path.join(SRC, "examples", "saliency.ipynb"), as_version=4)
    # the kernel inherits these: the model, the first rows only, and this source tree's package
    monkeypatch.setenv("GLUEQ_MODEL", MLM_RTE)
    monkeypatch.setenv("GLUEQ_LIMIT", "32")
    monkeypatch.setenv("PYTHONPATH", os.path.join(SRC, "python"))
    monkeypatch.setenv("PYDEVD_DISABLE_FILE_VALIDATION", "1")  # ipykernel's debugger warning on frozen modules
    nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    printed = "".join(o.get("text", "") for o in outputs)
    assert printed.count("svd") == 4 and printed.count("colnorm") == 4  # one line per budget
    assert any("image/png" in o.get("data", {}) for o in outputs), "the plot is not shown"
