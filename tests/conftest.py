"""Test-session setup: one on-disk XLA compilation cache shared by the test process, pytest-xdist
workers and the CLI subprocesses, so each solver configuration is compiled once per session."""

import os
import pathlib

os.environ.setdefault(
    "JAX_COMPILATION_CACHE_DIR",
    str(pathlib.Path(__file__).resolve().parent.parent / ".pytest_cache" / "jax-compilation-cache"),
)
