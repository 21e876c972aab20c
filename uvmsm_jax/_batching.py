"""Batching: fixed-size blocks so a batch of any size compiles once and fits in memory (docs/relic.md, "Batches")."""

from __future__ import annotations

import jax
import numpy as np
from jaxtyping import Array

__all__ = ["CPU_BLOCK", "GPU_BLOCK", "default_block", "map_blocks", "pad_rows"]


CPU_BLOCK = 64
GPU_BLOCK = 4096


def default_block() -> int:
    """Points solved together in one vmapped block: 64 on CPU, 4096 when JAX's default backend is a
    GPU. Larger batches are mapped block by block, which bounds the memory (the rate tables of a
    point take ~15 MB at ``n_grid`` = 256) without changing any result."""
    try:
        backend = jax.default_backend()
    except RuntimeError:  # pragma: no cover - no backend at all
        backend = "cpu"
    return GPU_BLOCK if backend in ("gpu", "cuda", "rocm") else CPU_BLOCK


def map_blocks(fn, thetas: Array, block: int):
    """``jax.vmap(fn)(thetas)`` evaluated ``block`` points at a time (one block: a plain vmap)."""
    if thetas.shape[0] <= block:
        return jax.vmap(fn)(thetas)
    return jax.lax.map(fn, thetas, batch_size=block)


def pad_rows(rows: np.ndarray, size: int) -> np.ndarray:
    """``rows`` (n, …) with n ≤ ``size`` padded to ``size`` rows by repeating the last row (the padded
    results are discarded; a fixed size means one compiled function for every chunk)."""
    n = rows.shape[0]
    if n > size:
        raise ValueError(f"{n} rows do not fit in a block of {size}")
    if n == size:
        return rows
    return np.concatenate([rows, np.repeat(rows[-1:], size - n, axis=0)])
