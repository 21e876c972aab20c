"""Fixed chunk sizes of a concrete batch (docs/relic.md, "Batches"): every batch size is served by the
same few compiled programs, and padding never reaches a result."""

import jax
import numpy as np

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


def test_a_single_point_is_traced_without_vmap():
    """One point goes to the per-point function unbatched (batching the solver's loops was ≈ 40 % of
    tracing it); more points are vmapped, or mapped block by block; the outputs have the same form."""
    for n, block in ((1, 4), (3, 4), (9, 4)):
        tracers = []

        def per_point(theta, tracers=tracers):
            tracers.append(type(theta).__name__)
            return {"sum": theta.sum(), "twice": 2.0 * theta}

        rows = np.arange(3.0 * n).reshape(n, 3)
        out = jax.jit(lambda r, block=block, f=per_point: map_blocks(f, r, block))(rows)
        np.testing.assert_array_equal(out["sum"], rows.sum(axis=1))
        np.testing.assert_array_equal(out["twice"], 2.0 * rows)
        assert out["sum"].shape == (n,)
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
