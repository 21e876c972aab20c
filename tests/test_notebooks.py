"""The notebooks in notebooks/ execute top to bottom (nbclient) and are stored without outputs.

The default run executes the quickest notebook (``FAST_NOTEBOOKS``); the others run with ``-m slow``.

Each notebook runs in its own kernel in a temporary working directory (nothing is written into
the repository). The kernels inherit ``JAX_COMPILATION_CACHE_DIR`` from tests/conftest.py, so a
solver configuration compiled by another test is reused.
"""

from __future__ import annotations

import pathlib

import nbformat
import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
EXPECTED = (
    "01_quickstart",
    "02_contours_and_sensitivities",
    "03_batched_scan",
    "04_dark_photon_and_ship",
    "05_momentum_distribution",
    "06_dark_photon_regimes",
)
FAST_NOTEBOOKS = ("03_batched_scan",)
"""Executed by the default run; the others (1–3 min each on 2 cores) are marked slow."""


def test_the_notebooks_exist():
    assert tuple(p.stem for p in NOTEBOOKS) == EXPECTED
    assert set(FAST_NOTEBOOKS) <= set(EXPECTED)  # a renamed notebook must not silently leave the default run


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_stripped(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{path.name}: outputs not stripped"


def _executed(path: pathlib.Path):
    if path.stem in FAST_NOTEBOOKS:
        return path
    # slow: 1–3 min each; 03_batched_scan runs by default, and the APIs they call have default tests of their own
    return pytest.param(path, marks=pytest.mark.slow)


@pytest.mark.parametrize("path", [_executed(p) for p in NOTEBOOKS], ids=lambda p: p.stem)
def test_notebook_executes(path, tmp_path):
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
    images = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if "image/png" in o.get("data", {})]
    assert images, f"{path.name} produced no figure"
