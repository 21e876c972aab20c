"""Traced-and-lowered solvers kept on disk with ``jax.export``, so a repeated call skips tracing.

A command-line call solves one point: with a warm XLA compilation cache most of its time is spent
tracing and lowering the solver (seconds). :func:`load_or_export` stores the lowered program
(StableHLO, ``jax.export``) under a key that names everything it depends on — the package's own
source and data files, the JAX version, the backend and the static configuration — and later calls
load it instead (milliseconds); XLA then finds the compiled program in its own cache.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.resources
import os
from collections.abc import Callable
from pathlib import Path

import jax

__all__ = ["load_or_export", "package_digest"]

SUFFIX = ".jax-export"


@functools.cache
def package_digest() -> str:
    """sha256 of every file of the installed package (code and data): a changed file is a new key."""
    root = Path(str(importlib.resources.files("uvmsm_jax")))
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def load_or_export(directory: str | os.PathLike, key: str, fn: Callable, *arg_specs: jax.ShapeDtypeStruct) -> Callable:
    """``fn`` as a callable on arrays of ``arg_specs``, loaded from ``directory`` when present.

    ``key`` must name everything static that ``fn`` closes over (its configuration); the package
    digest, JAX version and default backend are added here. A missing, unreadable or stale file is
    (re)written atomically. Only for concrete inputs: the loaded program is not differentiable.
    """
    full_key = "\n".join((key, package_digest(), jax.__version__, jax.default_backend()))
    path = Path(directory) / (hashlib.sha256(full_key.encode()).hexdigest() + SUFFIX)
    if path.is_file():
        try:
            return jax.export.deserialize(bytearray(path.read_bytes())).call
        except Exception:  # written by another version of the serialiser, or truncated: export again
            pass
    exported = jax.export.export(jax.jit(fn))(*arg_specs)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_bytes(exported.serialize())
    os.replace(tmp, path)
    return exported.call
