"""examples/saliency.ipynb runs headless from start to end (where Debian's nbclient,
ipykernel and matplotlib are installed; skipped with the reason elsewhere)."""
import os

import pytest

from conftest import MLM_RTE, SRC


def test_the_saliency_notebook_runs(tmp_path):
    for module, package in (("nbclient", "python3-nbclient"), ("nbformat", "python3-nbformat"),
                            ("ipykernel", "python3-ipykernel"), ("matplotlib", "python3-matplotlib")):
        pytest.importorskip(module, reason=f"no {module} (apt-get install {package})")
    import nbclient
    import nbformat
    nb = nbformat.read(os.path.join(SRC, "examples", "saliency.ipynb"), as_version=4)
    os.environ.update(GLUEQ_MODEL=MLM_RTE, GLUEQ_LIMIT="32", PYTHONPATH=os.path.join(SRC, "python"))
    nbclient.NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    printed = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert printed.count("svd") == 4 and "colnorm" in printed
