"""Batching: fixed-size blocks so a batch of any size compiles once and fits in memory (docs/relic.md, "Batches")."""

from __future__ import annotations

import concurrent.futures
import os
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from ._export import bound_compiled
from ._programs import Program

__all__ = [
    "CHUNK_BLOCKS",
    "CPU_BLOCK",
    "CPU_SOLVE_BLOCK",
    "CPU_TABLE_BLOCK",
    "GPU_BLOCK_RANGE",
    "GPU_CHUNK",
    "GPU_MEMORY_SHARE",
    "GPU_SOLVE_BLOCK",
    "GPU_TABLE_BLOCK",
    "HOST_WORKERS_MAX",
    "MOMENTUM_BYTES_PER_POINT",
    "MOMENTUM_CHUNK_BLOCKS",
    "RELIC_BYTES_PER_POINT",
    "SCAN_CHUNK_BLOCKS",
    "chunk_size",
    "default_block",
    "default_chunk",
    "default_scan_chunk",
    "gpu_block",
    "groups_by_table",
    "host_workers",
    "map_blocks",
    "map_chunks",
    "map_concrete_batch",
    "map_concurrently",
    "pad_rows",
    "run_padded",
    "stage_blocks",
]


CPU_BLOCK = 32
GPU_CHUNK = 4096
"""Points per chunk of a scan on a GPU, and the block of a GPU that reports no memory size."""
GPU_BLOCK_RANGE = (1024, 65536)
"""Smallest and largest block on a GPU; 65 536 is the largest measured (45 GB on an H200)."""
GPU_MEMORY_SHARE = 0.5
"""Share of the memory JAX may allocate on a GPU that one block's working memory may take."""
RELIC_BYTES_PER_POINT = 0.7 * 2**20
"""Working memory of one point of :func:`uvmsm_jax.relic` (rate tables, quadrature nodes, solver
state) and of :func:`uvmsm_jax.thermalisation`: peak device memory 11.4 GB in blocks of 16 384 and
45.2 GB in blocks of 65 536 points on an H200 (benchmarks/README.md, "GPU"); XLA's memory analysis on
CPU gives 0.88 MB."""
MOMENTUM_BYTES_PER_POINT = 4.0 * 2**20
"""Working memory of one point of :func:`uvmsm_jax.momentum_distribution` (the relic solve
included): XLA's memory analysis on CPU, 4.0 MB (against 0.88 MB for the relic alone)."""
CHUNK_BLOCKS = 4
"""Blocks per compiled call of a concrete batch (:func:`map_chunks`). On 2 CPU cores a program that
maps 4 or more blocks kept both cores busier than one call per block: 512 distinct points in blocks
of 32 took 6.8 s in programs of 128 or 512 rows and 7.8–8.1 s in programs of 32 or 64 rows (the
same CPU time, 8.8–9.4 s; benchmarks/README.md, "Fixed chunk sizes")."""
MOMENTUM_CHUNK_BLOCKS = 1
"""Blocks per compiled call of :func:`uvmsm_jax.momentum_distribution` on a concrete batch: one. A
block of its points takes ≈ 1.8 s on one CPU core, so a call per block costs nothing in dispatch, and
a batch of a few blocks (a figure's Ωh² = 0.12 line) is spread over every core in one compiled size:
130 points of :func:`uvmsm_jax.figures.fig1a_wdm`, padded to 5 blocks, took 9.0 s from an empty cache
against 15.0 s in a call of 4 blocks and one of 16 rows, each compiled, the 4 blocks on one core
(benchmarks/README.md, "Rate tables in blocks of 8; momentum batches one block a call")."""
CPU_TABLE_BLOCK = 8
"""Rate tables per call of the table stage of a batch with shared rate tables on CPU. Points above the
threshold whose narrow-width split fails (g_B−L ≳ 0.02) each get a table of their own: 9 060 of the
66 048 points of :func:`uvmsm_jax.figures.fig1a`'s regime grid at 128. There a block of 8 tables took
that grid from 12.6 s to 8.5–8.9 s warm (17.1 to 13.0 s from an empty cache) against one table a call;
blocks of 16 gave 7.5–8.2 s, and a slice's tables are padded to a multiple of the block. The
200 × 200 plane (M_N₁ = M_Z′, 2 068 tables of their own) took 37.5 s against 37.8 s (the solves
dominate); the program compiles in 2.2 s instead of 2.0 s."""
GPU_TABLE_BLOCK = 512
CPU_SOLVE_BLOCK = 32
"""Points per solve block of a batch with shared rate tables on CPU. A vmapped ODE block runs as long
as its slowest point: a 16 × 200 scan (M_N₁ = M_Z′, warm) took 6.1–6.5 s in blocks of 32 against
7.7–8.1 s in blocks of 64, 7.7–8.4 s in blocks of 128 and 7.1–7.4 s in blocks of 16; with random
M_N₁/M_Z′ 6.1 s against 7.4 s in blocks of 64, the same statuses and bit-identical Ωh²
(benchmarks/README.md, "Collocation without table lookups")."""
GPU_SOLVE_BLOCK = 16384


def _on_gpu() -> bool:
    try:
        backend = jax.default_backend()
    except RuntimeError:  # pragma: no cover - no backend at all
        backend = "cpu"
    return backend in ("gpu", "cuda", "rocm")


def gpu_block(bytes_per_point: float, bytes_limit: float | None) -> int:
    """Points per vmapped block on a GPU whose JAX allocator may use ``bytes_limit`` bytes: the largest
    power of two whose working memory (``bytes_per_point`` each) fits in :data:`GPU_MEMORY_SHARE` of
    it, within :data:`GPU_BLOCK_RANGE`; :data:`GPU_CHUNK` when the size is unknown (None). On an H200
    (105 GB for JAX) the relic solve gets 65 536 points a block: 56 000 points/s, against 35 000 in
    blocks of 16 384 and 11 900 in blocks of 4 096 (benchmarks/README.md, "GPU")."""
    if not bytes_limit:
        return GPU_CHUNK
    fitting = int(GPU_MEMORY_SHARE * bytes_limit // bytes_per_point)
    lowest, highest = GPU_BLOCK_RANGE
    return max(lowest, min(highest, 1 << max(fitting.bit_length() - 1, 0)))


def default_block(bytes_per_point: float = RELIC_BYTES_PER_POINT) -> int:
    """Points tabulated and solved together in one vmapped block: 32 on CPU; on a GPU as many as fit
    in half its memory at ``bytes_per_point`` each (:func:`gpu_block`; 65 536 relic points on an
    H200). Larger batches are mapped block by block, which bounds the memory. On 2 CPU cores blocks
    of 32 ran 512 distinct points 1.3× faster than blocks of 64 (benchmarks/README.md, "Fixed chunk
    sizes"). A point's result does not depend on the other points of its block; blocks of another
    size are another compiled program, which can round differently (in the last digits)."""
    if not _on_gpu():
        return CPU_BLOCK
    stats = jax.devices()[0].memory_stats() or {}
    return gpu_block(bytes_per_point, stats.get("bytes_limit"))


def default_chunk() -> int:
    """Default points per block of a contour's root finding (and the unit of its bracketing chunks):
    32 on CPU (a solve block of a batch with shared rate tables), 4096 on a GPU."""
    return GPU_CHUNK if _on_gpu() else CPU_SOLVE_BLOCK


SCAN_CHUNK_BLOCKS = 64
"""Solve blocks per chunk of a scan on CPU (2 048 points, the points of one slice of
:func:`uvmsm_jax._relic.map_with_shared_tables`). A chunk is one batch with shared rate tables: each
of its distinct masses is tabulated once per chunk, the points left to the ODE after collocation
fill whole blocks only when a chunk holds several masses' couplings, and each of its stages ends
when its slowest block does, one core idle meanwhile. The 200 × 200 plane (docs/relic.md, "At
scale") took 40.0 and 40.3 s from empty caches in chunks of 2 048 against 43.6 and 44.3 s in chunks
of 512 (41.0 s in chunks of 4 096), and P2's Fig. 1 at 128 56.8 s against 61.7 s, with the same
Ωh² to the last bit; a 16 × 200 scan ran in 7.4–8.7 s in chunks of 512 against 9.5 s in chunks of
64 (2026-12-04)."""


def default_scan_chunk() -> int:
    """Default maximum points per chunk of a scan (:func:`uvmsm_jax.scan`, ``uvmsm_jax.scan.evaluate``,
    the figures): :data:`SCAN_CHUNK_BLOCKS` solve blocks (2 048 points) on CPU, 4096 on a GPU. A chunk
    is also the unit a resumed scan keeps."""
    return GPU_CHUNK if _on_gpu() else SCAN_CHUNK_BLOCKS * CPU_SOLVE_BLOCK


def stage_blocks() -> tuple[int, int]:
    """(table block, solve block) of the two stages of a batch with shared rate tables: tabulation
    holds ~8 MB of quadrature nodes per mass point and vectorises within it (:data:`CPU_TABLE_BLOCK`
    on CPU, 512 on a GPU); a solve holds its ~10 kB table and the solver state (32 points on CPU,
    16 384 on a GPU)."""
    return (GPU_TABLE_BLOCK, GPU_SOLVE_BLOCK) if _on_gpu() else (CPU_TABLE_BLOCK, CPU_SOLVE_BLOCK)


def groups_by_table() -> bool:
    """Whether a stage that can share work between the points of a block that use the same rate table
    (the collocation's coefficients, :func:`uvmsm_jax.pipeline.collocation_terms`) gets each block's
    distinct tables and computes that work once per table, in a loop: on CPU, where a block of 32
    holds one or two tables in a scan (a block of one mass's couplings: 28 → 19 ms on one core) and
    the loop costs no more than a vmap where it holds 32. Not on a GPU, where a block holds thousands
    of points and hundreds of tables, and the loop would take them one at a time (not measured)."""
    return not _on_gpu()


def chunk_size(n: int, largest: int) -> int:
    """Rows per call of a compiled batch function on ``n`` points of a concrete batch: the smallest
    power of two ≥ n, at most ``largest``. A call is padded to it (:func:`run_padded`), so a handful
    of compiled sizes (1, 2, 4, …, ``largest``) serves every batch size, where one compilation per new
    n cost ≈ 20 s on 2 CPU cores; the price is fewer than n padded rows."""
    return min(largest, 1 << max(n - 1, 0).bit_length())


def map_blocks(fn, thetas: Array, block: int):
    """``jax.vmap(fn)(thetas)`` evaluated ``block`` points at a time (one block: a plain vmap).

    A single point is passed to ``fn`` unbatched, its outputs given a leading axis of one: batching
    the solver's loops was ≈ 40 % of tracing it (a point's first solve in a process: 19.9 s through
    a vmap of one, 14.9 s unbatched, on 2 CPU cores). The two programs round differently, so a point
    alone and the same point in a batch agree within the solver's tolerance, not bit for bit.

    More than ``block`` points: ``jax.vmap(fn)`` over whole blocks in a ``jax.lax.map``, the rest in
    one more vmap — the program of ``jax.lax.map(fn, thetas, batch_size=block)``, whose reshape of
    the outputs (``x.reshape(-1, *x.shape[2:])``, jax 0.10.2) raises ZeroDivisionError on an output
    with an empty axis (``uvmsm_jax.momentum_distribution``'s f at given q when no q is given)."""
    n = thetas.shape[0]
    if n == 1:
        return jax.tree_util.tree_map(lambda x: x[None], fn(thetas[0]))
    if n <= block:
        return jax.vmap(fn)(thetas)
    whole = n - n % block
    blocks = jax.lax.map(jax.vmap(fn), thetas[:whole].reshape(whole // block, block, *thetas.shape[1:]))
    out = jax.tree_util.tree_map(lambda x: x.reshape(whole, *x.shape[2:]), blocks)
    if whole == n:
        return out
    return jax.tree_util.tree_map(lambda a, b: jnp.concatenate([a, b]), out, jax.vmap(fn)(thetas[whole:]))


def map_chunks(fn, arrays: Sequence[np.ndarray], *extra, block: int, chunk_blocks: int = CHUNK_BLOCKS) -> Any:
    """``fn`` (a compiled batch function that maps ``block`` points at a time) on a concrete batch
    (:func:`run_padded`): chunks of ``chunk_blocks`` × ``block`` rows (:data:`CHUNK_BLOCKS`: 128 on
    CPU), the rest in one chunk of :func:`chunk_size` rows, so every batch size reuses the same few
    compiled programs.

    Whole chunks at the end that only repeat the last row (a batch padded to a scan chunk by
    :func:`pad_rows`) are not run: their rows get the last row's result (a point's result does not
    depend on the other rows of its program). The other rows keep their chunks, hence their bits."""
    n, largest = arrays[0].shape[0], chunk_blocks * block
    repeats = _trailing_repeats(arrays)
    run = n - (repeats - 1) // largest * largest
    whole = run - run % largest
    parts = [run_padded(fn, largest, [a[:whole] for a in arrays], *extra)] if whole else []
    if whole < run:
        parts.append(run_padded(fn, chunk_size(run - whole, largest), [a[whole:run] for a in arrays], *extra))
    if run < n:
        parts.append(jax.tree_util.tree_map(lambda x: np.repeat(x[-1:], n - run, axis=0), parts[-1]))
    return jax.tree_util.tree_map(lambda *xs: np.concatenate(xs), *parts)


def _trailing_repeats(arrays: Sequence[np.ndarray]) -> int:
    """How many rows at the end of ``arrays`` (each (n, …)) repeat the last row of every one bit for
    bit (≥ 1; a NaN equals itself, −0 does not equal 0)."""
    n = arrays[0].shape[0]
    same = np.ones(n, dtype=bool)
    for a in arrays:
        raw = np.ascontiguousarray(a).view(np.uint8).reshape(n, -1)
        same &= np.all(raw == raw[-1:], axis=1)
    different = np.flatnonzero(~same)
    return n - (int(different[-1]) + 1 if different.size else 0)


def map_concrete_batch(
    jitted: Program,
    rows,
    *extra,
    concrete: bool,
    export_cache: str | os.PathLike | None = None,
    chunk_blocks: int = CHUNK_BLOCKS,
    **static,
) -> Any:
    """``jitted(rows, *extra, **static)``, a batch function whose ``static`` keyword arguments are
    static, ``block`` (the points it maps at a time) among them: concrete ``rows`` in fixed chunk
    sizes of ``chunk_blocks`` blocks (:func:`map_chunks`, NumPy leaves), run from the executable kept
    in ``export_cache`` when given; traced rows (``jit``, ``vmap``, derivatives) in one call."""
    if not concrete:
        return jitted(rows, *extra, **static)
    run = bound_compiled(export_cache, jitted, **static)
    return map_chunks(run, [np.asarray(rows)], *extra, block=static["block"], chunk_blocks=chunk_blocks)


def pad_rows(rows: np.ndarray, size: int) -> np.ndarray:
    """``rows`` (n, …) with n ≤ ``size`` padded to ``size`` rows by repeating the last row (the padded
    results are discarded; a fixed size means one compiled function for every chunk)."""
    n = rows.shape[0]
    if n > size:
        raise ValueError(f"{n} rows do not fit in a block of {size}")
    if n == size:
        return rows
    return np.concatenate([rows, np.repeat(rows[-1:], size - n, axis=0)])


HOST_WORKERS_MAX = 8
"""Most compiled calls run at once on CPU: each holds its block's working memory (a 128-point call of
:func:`uvmsm_jax.momentum_distribution` ≈ 0.5 GB, :data:`MOMENTUM_BYTES_PER_POINT`), and the gain was
measured on 2 cores only. A larger machine is better used by a scan's process workers."""


def host_workers() -> int:
    """Compiled calls of a concrete batch run at once (:func:`map_concurrently`): one per CPU core the
    process may use on CPU, at most :data:`HOST_WORKERS_MAX`, where a vmapped solve block is a
    sequential loop that keeps about one core busy (a warm 16 × 200 scan on 2 cores: 4.7–6.2 s one
    block at a time, 3.5–4.0 s two at a time; benchmarks/README.md, "Blocks on every core"); 1 on a
    GPU, whose blocks fill half its memory and would queue on its one stream anyway."""
    if _on_gpu():
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return min(cores, HOST_WORKERS_MAX)


_T = TypeVar("_T")
_R = TypeVar("_R")
_WORKER = threading.local()


def _in_worker(fn: Callable[[_T], _R], item: _T) -> _R:
    _WORKER.active = True
    try:
        return fn(item)
    finally:
        _WORKER.active = False


def map_concurrently(fn: Callable[[_T], _R], items: Iterable[_T]) -> list[_R]:
    """``[fn(item) for item in items]`` with up to :func:`host_workers` calls at once, for ``fn`` that
    runs compiled programs (JAX releases the GIL while one runs; the results are those of the calls
    one after another, bit for bit). Threads that call a program not yet compiled wait for one
    compilation (JAX's own; a stored executable is loaded under a lock, :mod:`uvmsm_jax._export`).
    A call made inside a worker (a batch function that is itself mapped in blocks) runs its items
    there, one after another. When a call raises (or the wait is interrupted), the calls not yet
    started are cancelled and the exception propagates."""
    items = list(items)
    workers = 1 if getattr(_WORKER, "active", False) else min(host_workers(), len(items))
    if workers <= 1:
        return [fn(item) for item in items]
    pool = concurrent.futures.ThreadPoolExecutor(workers)
    try:
        return list(pool.map(lambda item: _in_worker(fn, item), items))
    finally:
        pool.shutdown(cancel_futures=True)


def run_padded(fn, size: int, arrays: Sequence[np.ndarray], *extra) -> Any:
    """Call a vmapped function on fixed-size chunks of ``arrays`` (the last one padded with its last
    row), so every chunk reuses one compiled function; ``extra`` is passed whole to each call. The
    chunks run on :func:`host_workers` threads (:func:`map_concurrently`).

    Returns ``fn``'s output pytree (an array, a tuple or a dict of arrays) with NumPy leaves.
    """
    n = arrays[0].shape[0]
    extra = tuple(jnp.asarray(e) for e in extra)

    def chunk(start: int) -> Any:
        out = fn(*(jnp.asarray(pad_rows(a[start : start + size], size)) for a in arrays), *extra)
        return jax.tree_util.tree_map(lambda x: np.asarray(x)[: min(size, n - start)], out)

    pieces = map_concurrently(chunk, range(0, n, size))
    return jax.tree_util.tree_map(lambda *xs: np.concatenate(xs), *pieces)
