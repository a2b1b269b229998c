"""Every notebook runs top to bottom (as in CI), from the notebooks/ directory.

The walkthrough is what a new user copies from: it uses snnmap's public API only (the names of
``snnmap.__all__``, the data and zoo modules, and the figure writers of ``snnmap.reporting``) and
shows the run's pictures as image outputs.
"""

import ast
import glob
import os

import nbformat
import pytest
from nbclient import NotebookClient

import snnmap
from helpers import REPO

NOTEBOOKS = sorted(glob.glob(os.path.join(REPO, "notebooks", "*.ipynb")))
WALKTHROUGH = os.path.join(REPO, "notebooks", "mnist_fc_walkthrough.ipynb")

#: Modules of snnmap a notebook may import from besides the package itself: the public data
#: and zoo modules and the figure and page writers of the reporting package.
PUBLIC_MODULES = {"snnmap", "snnmap.data", "snnmap.datasets", "snnmap.zoo", "snnmap.reporting.figures",
                  "snnmap.reporting.html"}


def _execute(path):
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=900, kernel_name="python3",
                            resources={"metadata": {"path": os.path.dirname(path)}})
    client.execute()
    return nb


def _code(nb):
    return "\n".join(c.source for c in nb.cells if c.cell_type == "code")


def non_public_imports(source):
    """``module.name`` for every snnmap name imported that is not public, in ``source``."""
    bad = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("snnmap"):
            if node.module not in PUBLIC_MODULES:
                bad.append(node.module)
            elif node.module == "snnmap":
                bad += [f"snnmap.{a.name}" for a in node.names
                        if a.name not in snnmap.__all__ and f"snnmap.{a.name}" not in PUBLIC_MODULES]
        elif isinstance(node, ast.Import):
            bad += [a.name for a in node.names if a.name.startswith("snnmap") and a.name not in PUBLIC_MODULES]
    return bad


def test_non_public_imports_are_found():
    # The checker itself: the walkthrough's earlier imports are caught, the public ones pass.
    assert non_public_imports("from snnmap.pipeline.graph import with_dtype\n"
                              "from snnmap.pipeline.preprocess import describe\nimport snnmap.solver") == [
        "snnmap.pipeline.graph", "snnmap.pipeline.preprocess", "snnmap.solver"]
    assert non_public_imports("import snnmap\nfrom snnmap import datasets, zoo, to_snn\n"
                              "from snnmap.reporting.html import write_run_artifacts") == []


def test_walkthrough_imports_public_names_only():
    assert non_public_imports(_code(nbformat.read(WALKTHROUGH, as_version=4))) == []


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[os.path.basename(p) for p in NOTEBOOKS])
def test_notebook_runs(path):
    nb = _execute(path)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    if path == WALKTHROUGH:
        # The exactness plot, the raster and the potential traces, shown in the notebook.
        images = [o for o in outputs if "image/png" in o.get("data", {})]
        assert len(images) >= 3
