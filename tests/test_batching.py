"""Fixed chunk sizes of a concrete batch (docs/relic.md, "Batches"): every batch size is served by the
same few compiled programs, and padding never reaches a result."""

import threading
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import uvmsm_jax
from uvmsm_jax import _batching
from uvmsm_jax._batching import (
    CHUNK_BLOCKS,
    GPU_BLOCK_RANGE,
    GPU_CHUNK,
    MOMENTUM_BYTES_PER_POINT,
    RELIC_BYTES_PER_POINT,
    chunk_size,
    default_block,
    gpu_block,
    map_blocks,
    map_chunks,
    map_concurrently,
    pad_rows,
    run_padded,
)


def test_chunk_size_is_the_next_power_of_two_up_to_the_largest():
    assert [chunk_size(n, 128) for n in (1, 2, 3, 4, 5, 33, 64, 65, 128, 129, 10**6)] == [
        1,
        2,
        4,
        4,
        8,
        64,
        64,
        128,
        128,
        128,
        128,
    ]


def test_every_batch_size_reuses_a_few_compiled_sizes():
    traced = []

    @jax.jit
    def affine(rows, offset):
        traced.append(rows.shape[0])  # runs once per compiled size
        return {"value": 2.0 * rows + offset, "first": rows[:, 0]}

    block = default_block()
    largest = CHUNK_BLOCKS * block
    sizes = (1, 3, 4, largest - 1, largest, largest + 2, 2 * largest + 44)
    for n in sizes:
        rows = np.arange(2.0 * n).reshape(n, 2)
        out = map_chunks(affine, [rows], np.float64(0.5), block=block)
        assert isinstance(out["value"], np.ndarray) and out["value"].shape == (n, 2)
        np.testing.assert_array_equal(out["value"], 2.0 * rows + 0.5)  # padded rows are dropped
        np.testing.assert_array_equal(out["first"], rows[:, 0])
    # 1; 3 and 4 → 4; largest − 1 and largest → largest; the rests 2 and 44 → 2 and 64
    assert traced == [1, 4, largest, 2, chunk_size(44, largest)]


def test_whole_chunks_that_repeat_the_last_row_are_not_run():
    """A batch padded to a scan chunk (`pad_rows`) runs only up to the chunk that holds its last
    distinct row; the rows after it get the last row's result, and every other row is computed in
    the chunk it had before (the chunk sizes are the same: no new compiled size)."""
    calls = []

    @jax.jit
    def rows_sum(rows):
        return rows.sum(axis=1)

    def counted(rows):
        calls.append(rows.shape[0])
        return rows_sum(rows)

    block = default_block()
    largest = CHUNK_BLOCKS * block
    for real, n, runs in ((100, 16 * block, [largest]), (largest + 5, 3 * largest + 7, [8, largest])):
        calls.clear()
        rows = pad_rows(np.arange(2.0 * real).reshape(real, 2), n)
        out = map_chunks(counted, [rows], block=block)
        np.testing.assert_array_equal(out, rows.sum(axis=1))
        assert sorted(calls) == runs, calls  # the chunks' calls may run on two threads
    calls.clear()
    rows = np.ones((2 * largest, 2))  # every row the same: one chunk
    rows[:, 1] = np.nan  # a NaN repeats itself
    np.testing.assert_array_equal(map_chunks(counted, [rows], block=block), np.full(2 * largest, np.nan))
    assert calls == [largest]


def test_a_batch_of_a_few_blocks_runs_one_block_a_call_on_every_core():
    """With ``chunk_blocks=1`` (:func:`uvmsm_jax.momentum_distribution`, whose block takes seconds) a
    batch of whole blocks runs as one call per block, every call of one compiled size, the calls on
    the workers at once; the figures pad their momentum batches to whole CPU blocks."""
    from uvmsm_jax.figures import MOMENTUM_BLOCK

    assert MOMENTUM_BLOCK == _batching.CPU_BLOCK
    traced, running, most = [], [0], [0]
    lock = threading.Lock()

    @jax.jit
    def doubled(rows):
        traced.append(rows.shape[0])
        return 2.0 * rows

    def slow(rows):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.05)
        with lock:
            running[0] -= 1
        return doubled(rows)

    block = default_block()
    rows = np.arange(5.0 * block)[:, None]
    np.testing.assert_array_equal(map_chunks(slow, [rows], block=block, chunk_blocks=1), 2.0 * rows)
    assert traced == [block]  # five calls, one program
    assert most[0] == min(_batching.host_workers(), 5)


def test_a_single_point_is_traced_without_vmap():
    """One point goes to the per-point function unbatched (batching the solver's loops was ≈ 40 % of
    tracing it); more points are vmapped, or mapped block by block (with or without a rest); the
    outputs have the same form, an output with an empty axis too (``momentum_distribution``'s f at
    given q when none is given: ``jax.lax.map(..., batch_size=)`` raised ZeroDivisionError there)."""
    for n, block in ((1, 4), (3, 4), (8, 4), (9, 4)):
        tracers = []

        def per_point(theta, tracers=tracers):
            tracers.append(type(theta).__name__)
            return {"sum": theta.sum(), "twice": 2.0 * theta, "empty": theta[:0]}

        rows = np.arange(3.0 * n).reshape(n, 3)
        out = jax.jit(lambda r, block=block, f=per_point: map_blocks(f, r, block))(rows)
        np.testing.assert_array_equal(out["sum"], rows.sum(axis=1))
        np.testing.assert_array_equal(out["twice"], 2.0 * rows)
        assert out["sum"].shape == (n,) and out["empty"].shape == (n, 0)
        assert ("BatchTracer" in tracers) == (n > 1), (n, tracers)


def test_gpu_block_fills_half_the_device_memory_in_powers_of_two():
    """Blocks on a GPU from the memory JAX may allocate there (``memory_stats()["bytes_limit"]``): an
    H200 (75 % of 141 GB) takes the largest measured block of relic points, 65 536 (45 GB there), and
    8 192 momentum points; a 16 GB card 8 192 relic points (5.6 GB); an unknown size the fixed chunk."""
    gib = 2**30
    assert gpu_block(RELIC_BYTES_PER_POINT, 0.75 * 140.4 * gib) == 65536
    assert gpu_block(MOMENTUM_BYTES_PER_POINT, 0.75 * 140.4 * gib) == 8192
    assert gpu_block(RELIC_BYTES_PER_POINT, 0.75 * 16 * gib) == 8192
    assert gpu_block(RELIC_BYTES_PER_POINT, None) == GPU_CHUNK
    assert gpu_block(MOMENTUM_BYTES_PER_POINT, 1 * gib) == GPU_BLOCK_RANGE[0]
    for limit in np.geomspace(1 * gib, 200 * gib, 40):
        block = gpu_block(RELIC_BYTES_PER_POINT, limit)
        assert block & (block - 1) == 0 and GPU_BLOCK_RANGE[0] <= block <= GPU_BLOCK_RANGE[1]
        assert block == GPU_BLOCK_RANGE[0] or block * RELIC_BYTES_PER_POINT <= 0.5 * limit
        assert block == GPU_BLOCK_RANGE[1] or 2 * block * RELIC_BYTES_PER_POINT > 0.5 * limit


def test_each_model_sizes_its_gpu_blocks_by_its_own_memory():
    """An H200 (75 % of 141 GB) takes 65 536 UνMSM points a block but 16 384 dark-photon points, whose
    per-point program takes 2.6× the memory (XLA's analysis: 1.75 against 0.68 MB); with the UνMSM's
    size it took 65 536 of them, ≈ 115 GB. The elasticities' blocks, 3.1× a plain point: 16 384 and 8 192."""
    from uvmsm_jax._relic import ELASTICITY_MEMORY_FACTOR

    limit = 0.75 * 140.4 * 2**30
    uvmsm, dark_photon = (uvmsm_jax.model_spec(name).relic_bytes_per_point for name in ("uvmsm", "dark-photon"))
    assert uvmsm == RELIC_BYTES_PER_POINT
    assert gpu_block(uvmsm, limit) == 65536 and gpu_block(dark_photon, limit) == 16384
    assert gpu_block(ELASTICITY_MEMORY_FACTOR * uvmsm, limit) == 16384
    assert gpu_block(ELASTICITY_MEMORY_FACTOR * dark_photon, limit) == 8192


@pytest.fixture
def two_workers(monkeypatch):
    """Two calls at once, whatever the machine (the CI machine has 2 cores; this one may have 1)."""
    monkeypatch.setattr(_batching, "host_workers", lambda: 2)


def test_host_workers_are_the_usable_cores_up_to_the_cap(monkeypatch):
    monkeypatch.setattr(_batching, "_on_gpu", lambda: False)
    for cores, expected in ((1, 1), (2, 2), (8, 8), (64, _batching.HOST_WORKERS_MAX)):
        monkeypatch.setattr(_batching.os, "sched_getaffinity", lambda pid, n=cores: set(range(n)), raising=False)
        assert _batching.host_workers() == expected
    monkeypatch.setattr(_batching, "_on_gpu", lambda: True)
    assert _batching.host_workers() == 1


def test_concurrent_calls_run_two_at_a_time_in_order(two_workers):
    """The calls run two at once: the first two meet at a barrier, which only calls running at the
    same time can pass; never more than two run. The results come back in the order of the items."""
    barrier = threading.Barrier(2, timeout=30)
    running, most = [0], [0]
    lock = threading.Lock()

    def call(i):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        if i < 2:
            barrier.wait()
        time.sleep(0.002 * (7 - i))  # later items finish first
        with lock:
            running[0] -= 1
        return 10 * i

    assert map_concurrently(call, range(7)) == [10 * i for i in range(7)]
    assert most[0] == 2
    assert map_concurrently(call, []) == []


def test_a_program_called_from_two_threads_at_once_compiles_once(two_workers):
    traces = []

    @jax.jit
    def twice(x):
        traces.append(x.shape)
        time.sleep(0.2)  # a slow trace: the other thread arrives while it runs
        return 2.0 * x

    out = run_padded(twice, 4, [np.arange(16.0)])
    np.testing.assert_array_equal(out, 2.0 * np.arange(16.0))
    assert traces == [(4,)]


def test_a_call_inside_a_worker_runs_its_items_in_that_worker(two_workers):
    """A batch function mapped in blocks may itself map blocks (a contour's bracketing chunks call the
    scan's stages): inside a worker its items run there, one after another, not on new threads."""
    seen = {}

    def inner(j):
        return threading.get_ident()

    def outer(i):
        seen[i] = (threading.get_ident(), map_concurrently(inner, range(4)))
        return i

    assert map_concurrently(outer, range(5)) == list(range(5))
    main = threading.get_ident()
    for ident, inner_idents in seen.values():
        assert ident != main and set(inner_idents) == {ident}


def test_a_failing_call_cancels_the_calls_not_yet_started(two_workers):
    started = []

    def call(i):
        started.append(i)
        if i == 1:
            raise ValueError("call 1 failed")
        time.sleep(0.05)  # 50 calls on 2 workers: 1.25 s, far more than the failure takes to reach the caller
        return i

    with pytest.raises(ValueError, match="call 1 failed"):
        map_concurrently(call, range(200))
    assert len(started) < 50


def test_concurrent_chunks_equal_chunks_one_after_another(two_workers, monkeypatch):
    """A compiled solver-like loop (a vmapped while loop with a data-dependent trip count) on 13 padded
    chunks: bit-identical results with two calls at once and with one."""

    @jax.jit
    def newton_sqrt(x):
        def step(carry):
            y, k = carry
            return 0.5 * (y + x / y), k + 1

        def go_on(carry):
            y, k = carry
            return jnp.any(jnp.abs(y * y - x) > 1e-14 * x) & (k < 200)

        return jax.lax.while_loop(go_on, step, (jnp.ones_like(x) + x, 0))[0]

    rows = np.geomspace(1e-3, 1e6, 100)
    together = run_padded(newton_sqrt, 8, [rows])
    monkeypatch.setattr(_batching, "host_workers", lambda: 1)
    in_turn = run_padded(newton_sqrt, 8, [rows])
    assert together.tobytes() == in_turn.tobytes()
    np.testing.assert_allclose(together, np.sqrt(rows), rtol=1e-13)
