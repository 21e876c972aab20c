"""Test-session setup: one on-disk XLA compilation cache shared by the test process, pytest-xdist
workers and the CLI subprocesses, so each solver configuration is compiled once per session, and the
CLI's own cache folder (``$XDG_CACHE_HOME/uvmsm-jax``: its stored executables) in the same place,
never in the user's home."""

import os
import pathlib

os.environ.setdefault(
    "JAX_COMPILATION_CACHE_DIR",
    str(pathlib.Path(__file__).resolve().parent.parent / ".pytest_cache" / "jax-compilation-cache"),
)
os.environ.setdefault(
    "XDG_CACHE_HOME", str(pathlib.Path(__file__).resolve().parent.parent / ".pytest_cache" / "xdg-cache")
)
