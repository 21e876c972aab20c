"""The README's commands, run as written (issue 8): every ``uvmsm-jax`` line of its bash blocks,
its Python API block, and the two set-up commands that ``.ci/run`` must run verbatim."""

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
SCRIPT = Path(sys.executable).with_name("uvmsm-jax")
ENTRY = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "uvmsm_jax"]


def fenced_blocks(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", README, flags=re.S | re.M)


def commands(program: str) -> list[list[str]]:
    """Argument lists of the README's bash lines that start with ``program`` (comments removed)."""
    lines = [shlex.split(line, comments=True) for block in fenced_blocks("bash") for line in block.splitlines()]
    return [argv for argv in lines if argv and argv[0] == program]


CLI = commands("uvmsm-jax")
FIGURES = [argv for argv in CLI if argv[1] == "figure"]
OTHERS = [argv for argv in CLI if argv[1] != "figure"]


def run(argv: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "MPLBACKEND": "Agg"}
    return subprocess.run([*ENTRY, *argv[1:]], cwd=cwd, env=env, capture_output=True, text=True, timeout=1200)


def test_readme_has_the_commands():
    assert len(OTHERS) >= 4 and len(FIGURES) >= 3
    assert [
        "uvmsm-jax",
        "relic",
        "--model",
        "uvmsm",
        "--m-n1",
        "0.05",
        "--m-zp",
        "0.2",
        "--g-bl",
        "7.36e-13",
        "--json",
    ] in CLI


@pytest.mark.parametrize("argv", OTHERS, ids=[" ".join(a[1:3]) + f"-{i}" for i, a in enumerate(OTHERS)])
def test_readme_command_runs(argv, tmp_path):
    proc = run(argv, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip()


@pytest.mark.slow
@pytest.mark.parametrize("argv", FIGURES, ids=[a[2] for a in FIGURES])
def test_readme_figure_command_writes_the_image(argv, tmp_path):
    proc = run(argv, tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / argv[argv.index("--out") + 1]
    assert out.stat().st_size > 10_000


# slow: relic, its gradient, a 64-point scan and a contour (~6 min); the README's CLI lines above run by default
@pytest.mark.slow
def test_readme_python_block_runs(tmp_path):
    (block,) = [b for b in fenced_blocks("python") if "import uvmsm_jax as uj" in b]
    proc = subprocess.run([sys.executable, "-c", block], cwd=tmp_path, capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "grid.zarr").is_dir()


def test_ci_runs_the_readme_setup_commands_verbatim():
    (setup,) = [b for b in fenced_blocks("bash") if "pip install" in b]
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    for line in setup.strip().splitlines():
        assert re.search(rf"^{re.escape(line.strip())}$", ci, flags=re.M), line
