"""Batching: fixed-size blocks so a batch of any size compiles once and fits in memory (docs/relic.md, "Batches")."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

__all__ = [
    "CPU_BLOCK",
    "CPU_TABLE_BLOCK",
    "GPU_BLOCK",
    "GPU_SOLVE_BLOCK",
    "GPU_TABLE_BLOCK",
    "default_block",
    "map_blocks",
    "pad_rows",
    "run_padded",
    "stage_blocks",
]


CPU_BLOCK = 64
GPU_BLOCK = 4096
CPU_TABLE_BLOCK = 1
GPU_TABLE_BLOCK = 512
GPU_SOLVE_BLOCK = 16384


def _on_gpu() -> bool:
    try:
        backend = jax.default_backend()
    except RuntimeError:  # pragma: no cover - no backend at all
        backend = "cpu"
    return backend in ("gpu", "cuda", "rocm")


def default_block() -> int:
    """Points solved together in one vmapped block: 64 on CPU, 4096 when JAX's default backend is a
    GPU. Larger batches are mapped block by block, which bounds the memory (the rate tables of a
    point take ~8 MB at ``n_grid`` = 128) without changing any result."""
    return GPU_BLOCK if _on_gpu() else CPU_BLOCK


def stage_blocks() -> tuple[int, int]:
    """(table block, solve block) of the two stages of a batch with shared rate tables: tabulation
    holds ~8 MB of quadrature nodes per mass point and vectorises within it (1 on CPU, no padding;
    512 on a GPU); a solve holds its ~10 kB table and the solver state (64 points on CPU, 16 384 on
    a GPU)."""
    return (GPU_TABLE_BLOCK, GPU_SOLVE_BLOCK) if _on_gpu() else (CPU_TABLE_BLOCK, CPU_BLOCK)


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


def run_padded(fn, size: int, arrays: Sequence[np.ndarray], *extra) -> Any:
    """Call a vmapped function on fixed-size chunks of ``arrays`` (the last one padded with its last
    row), so every chunk reuses one compiled function; ``extra`` is passed whole to each call.

    Returns ``fn``'s output pytree (an array, a tuple or a dict of arrays) with NumPy leaves.
    """
    n = arrays[0].shape[0]
    pieces = []
    for start in range(0, n, size):
        block = [pad_rows(a[start : start + size], size) for a in arrays]
        m = min(size, n - start)
        out = fn(*(jnp.asarray(b) for b in block), *(jnp.asarray(e) for e in extra))
        pieces.append(jax.tree_util.tree_map(lambda x, m=m: np.asarray(x)[:m], out))
    return jax.tree_util.tree_map(lambda *xs: np.concatenate(xs), *pieces)
