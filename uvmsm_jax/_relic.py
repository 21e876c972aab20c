"""Relic abundance of any registered model from the coupled Boltzmann system (docs/equations.md A.8, B.3–B.5).

:func:`relic` is the one entry point: it configures the model (:func:`uvmsm_jax.pipeline.configure`),
tabulates the rate coefficients, classifies the regime, solves the stiff system with diffrax and
returns a :class:`RelicResult`. It accepts scalar or array fields (the batch is vmapped in blocks; an
invalid point gets a status code and never disturbs its neighbours) and is differentiable in every
continuous parameter: derivatives are computed in forward mode, through the ODE by forward
sensitivities (exact for the discretised solution; :mod:`uvmsm_jax._sensitivities`), and are exposed
to both ``jax.jvp`` and ``jax.grad``.
"""

from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import functools
import os
from collections.abc import Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from . import boltzmann as bz
from ._batching import (
    chunk_size,
    default_block,
    groups_by_table,
    map_blocks,
    map_concrete_batch,
    map_concurrently,
    pad_rows,
    run_padded,
    stage_blocks,
)
from ._export import bound_compiled
from ._programs import COMPILED_AHEAD, DERIVATIVE_XLA_OPTIONS, TABULATION_XLA_OPTIONS, Program, compile_ahead, jit
from ._validation import is_concrete, without_derivative
from .codes import STATUS_MESSAGES, mechanism_names
from .models import validate_model
from .pipeline import (
    N_PARAMETERS,
    Config,
    Outcome,
    PreparedPoint,
    Regime,
    classify,
    collocate,
    collocation_candidate,
    collocation_terms,
    configure,
    parameters,
    prepare,
    rate_table,
    shared_rate_table,
    shared_rate_table_error,
    solve,
    uses_collocation,
    uses_shared_rate_table,
)
from .rates import UnitRates
from .settings import Settings

__all__ = ["RelicResult", "relic", "yield_history"]

OUTPUT_FIELDS = (
    "omega_h2",
    "yield_dm",
    "yield_mediator",
    "t_dec",
    "x_dec",
    "status",
    "mechanism",
    "dm_thermalised",
    "mediator_thermalised",
    "ode_steps",
    "max_dark_rate_over_h",
    "max_portal_rate_over_h",
)
"""The float outputs of one solved point, in the order of :func:`_point_outputs`."""


def _point_outputs(theta: Array, config: Config, table: UnitRates | None = None) -> Array:
    """All stages for one point → the :data:`OUTPUT_FIELDS` as one float vector (``table``: its
    coupling-free rate table when tabulated beforehand, see :func:`~uvmsm_jax.pipeline.prepare`)."""
    prepared = prepare(theta, config, table)
    regime = classify(prepared, config)
    solution = solve(prepared, regime, config)
    indicators = solution.indicators
    rates = None if indicators is None else (indicators.max_dark_rate_over_h, indicators.max_portal_rate_over_h)
    return _outputs(prepared, regime, solution, jnp.asarray(solution.ode.stats["num_steps"], float), rates)


def _outputs(
    prepared: PreparedPoint,
    regime: Regime,
    solution: Outcome,
    steps: Array,
    rates: tuple[Array, Array] | None,
) -> Array:
    """The :data:`OUTPUT_FIELDS` of one point as one float vector (``rates``: the (H15)–(H16) maxima, or
    None for a model that does not make them)."""
    valid, nan = prepared.valid, jnp.nan
    maxima = (jnp.asarray(nan), jnp.asarray(nan)) if rates is None else rates
    return jnp.stack(
        [
            solution.omega_h2,
            solution.yield_dm,
            solution.yield_mediator,
            jnp.where(valid, regime.t_dec_dm, nan),
            jnp.where(valid, regime.x_dec, nan),
            solution.status.astype(float),
            jnp.where(valid, solution.mechanism, -1).astype(float),
            jnp.where(valid, solution.dm_thermalised, False).astype(float),
            jnp.where(valid, solution.mediator_thermalised, False).astype(float),
            steps,
            *(jnp.where(valid, rate, nan) for rate in maxima),
        ]
    )


def _collocated_outputs(
    theta: Array, config: Config, table: UnitRates, terms: tuple[bz.CollocationTerms, bz.CollocationTerms] | None = None
) -> tuple[Array, Array]:
    """The :data:`OUTPUT_FIELDS` of one point by collocation (:func:`~uvmsm_jax.pipeline.collocate`
    with the ``terms`` of its table, default its own; 0 ODE steps) and whether they are accepted."""
    prepared = prepare(theta, config, table)
    regime = classify(prepared, config)
    solution = collocate(prepared, regime, config, terms)
    return _outputs(prepared, regime, solution, jnp.asarray(0.0), None), solution.accepted


def _parameters_of_row(row: Array, config: Config, tied: bool) -> Array:
    """θ (:func:`~uvmsm_jax.pipeline.parameters`) of one row of :func:`_parameter_rows`: the model's
    fields in registry order, then T_R unless ``tied`` (T_R the model's default, a function of its
    masses)."""
    fields = config.spec.fields
    model = config.spec.model(**{name: row[i] for i, name in enumerate(fields)})
    t_reheat = None if tied else row[len(fields)]
    return parameters(model, dataclasses.replace(config.physics.settings, t_reheat=t_reheat))


def _parameter_rows(model, settings: Settings, config: Config, concrete: bool) -> Array | np.ndarray:
    """The rows a batch of :func:`relic` is solved on, flattened (n, P): the model's fields in the
    order of ``config``'s registry entry and, when ``settings.t_reheat`` is given, T_R (NumPy for
    ``concrete`` input); :func:`_parameters_of_row` reads them back."""
    xp = np if concrete else jnp
    columns = [getattr(model, name) for name in config.spec.fields]
    if settings.t_reheat is not None:
        columns.append(settings.t_reheat)
    columns = xp.broadcast_arrays(*(xp.asarray(x, dtype=float) for x in columns))
    return xp.stack(columns, axis=-1).reshape(-1, len(columns))


@functools.partial(jax.custom_jvp, nondiff_argnums=(1, 2))
def _relic_outputs(row: Array, config: Config, tied: bool) -> Array:
    return _point_outputs(_parameters_of_row(row, config, tied), config)


@_relic_outputs.defjvp
def _relic_outputs_jvp(config, tied, primals, tangents):
    """Forward-mode Jacobian through the solver, one tangent per entry of the row (each model field,
    and T_R when given): the tangent map J·d(row) is linear, so ``jax.grad`` works by transposing it
    (exact for the discrete solution). Taken in the row's entries rather than θ's five, it carries
    one tangent fewer for every θ entry fixed by the others — the UνMSM's two couplings are g_B−L,
    a default T_R follows the masses (docs/relic.md, "Differentiability")."""
    (row,), (row_dot,) = primals, tangents
    outputs, jacobian = _outputs_and_jacobian(row, config, tied)
    return outputs, jacobian @ row_dot


def _outputs_and_jacobian(row: Array, config: Config, tied: bool) -> tuple[Array, Array]:
    """The :data:`OUTPUT_FIELDS` of one row of :func:`_parameter_rows` and their Jacobian in the row's
    entries (shape (outputs, row)), in one forward-mode solve (:mod:`uvmsm_jax._sensitivities`)."""

    def outputs_with_copy(r):
        out = _point_outputs(_parameters_of_row(r, config, tied), config)
        return out, out

    jacobian, outputs = jax.jacfwd(outputs_with_copy, has_aux=True)(row)
    # Outputs that are undefined (NaN, e.g. T_dec of a point that never thermalised) get a zero
    # derivative row, so a zero cotangent on them cannot turn a reverse-mode gradient into NaN.
    return outputs, jnp.where(jnp.isfinite(outputs)[:, None], jacobian, 0.0)


def omega_elasticities(
    outputs: Array | np.ndarray, omega_gradient: Array | np.ndarray, row: Array | np.ndarray
) -> Array | np.ndarray:
    """d ln Ωh²/d ln x for each entry x of ``row`` (the model's fields, then T_R when given): x ∂Ωh²/∂x
    / Ωh² from the :data:`OUTPUT_FIELDS` ``outputs`` and ``omega_gradient`` = ∂Ωh²/∂row; NaN where
    the point has no Ωh² (status ≠ 0) or Ωh² = 0 (docs/relic.md, "Elasticities")."""
    xp = np if is_concrete((outputs, omega_gradient, row)) else jnp  # NumPy: no program per operation
    omega, status = outputs[..., 0], outputs[..., OUTPUT_FIELDS.index("status")]
    defined = (status == 0) & (omega > 0) & xp.isfinite(omega)
    safe = xp.where(defined, omega, 1.0)
    return xp.where(defined[..., None], row * omega_gradient / safe[..., None], np.nan)


ELASTICITY_MEMORY_FACTOR = 3.1
"""Working memory of one point of :func:`relic` with ``elasticities=True`` on the per-point path
(:func:`_relic_elasticity_batch`: its rate table's and solve's tangents in every direction) over its
plain solve's (:attr:`~uvmsm_jax.models.ModelSpec.relic_bytes_per_point`): XLA's memory analysis on
CPU (blocks of 32, 2026-12-07) gives 2.09 against 0.68 MB for the UνMSM and 5.43 against 1.75 MB for
the dark photon (3.07 and 3.10). The block on a GPU follows from it (:func:`elasticity_block`)."""


def elasticity_block(config: Config) -> int:
    """Points per block of :func:`_relic_elasticity_batch` (:func:`~uvmsm_jax._batching.default_block`)."""
    return default_block(ELASTICITY_MEMORY_FACTOR * config.spec.relic_bytes_per_point)


@functools.partial(jit, static_argnums=(1, 2, 3), xla_options=DERIVATIVE_XLA_OPTIONS)
def _relic_elasticity_batch(rows: Array, config: Config, block: int, tied: bool) -> tuple[Array, Array]:
    """The :data:`OUTPUT_FIELDS` of each row of :func:`_parameter_rows` and the elasticities of its Ωh²
    in the row's entries (:func:`omega_elasticities`), ``block`` rows at a time."""
    STAGE_TRACES["per-point elasticities", config, rows.shape[0]] += 1

    def one(row):
        outputs, jacobian = _outputs_and_jacobian(row, config, tied)
        return outputs, omega_elasticities(outputs, jacobian[0], row)

    return map_blocks(one, rows, block)


STAGE_TRACES: collections.Counter = collections.Counter()
"""How often each compiled batch function was traced, keyed by (stage, config, block size): a scan
or contour compiles each stage once."""


@functools.partial(jit, static_argnums=(1, 2, 3), xla_options=TABULATION_XLA_OPTIONS)
def _relic_batch(rows: Array, config: Config, block: int, tied: bool) -> Array:
    """The :data:`OUTPUT_FIELDS` of each row of :func:`_parameter_rows`, ``block`` rows at a time."""
    STAGE_TRACES["per-point", config, rows.shape[0]] += 1
    return map_blocks(lambda row: _relic_outputs(row, config, tied), rows, block)


MASS_COLUMNS = (0, 1, 4)
"""The entries of θ a shared rate table depends on: m_dm, m_v and T_R."""


def held_rate_table(theta: Array, config: Config) -> tuple[UnitRates, UnitRates]:
    """θ's shared rate table (:func:`~uvmsm_jax.pipeline.shared_rate_table`) and its derivatives along
    the :data:`MASS_COLUMNS` of θ (leading axis of length 3): what every coupling at θ's masses and
    T_R shares, the derivatives included (docs/relic.md, "At scale")."""
    directions = jnp.eye(N_PARAMETERS)[jnp.asarray(MASS_COLUMNS)]

    def along(direction):
        return jax.jvp(lambda th: shared_rate_table(th, config), (theta,), (direction,))

    return jax.vmap(along, out_axes=(None, 0))(directions)


def outputs_with_held_table(
    theta: Array, theta_tangents: Array, config: Config, held: tuple[UnitRates, UnitRates]
) -> tuple[Array, Array, Array]:
    """The :data:`OUTPUT_FIELDS` of θ solved with its masses' ``held`` table (:func:`held_rate_table`),
    their derivatives along the columns of ``theta_tangents`` (shape (5, k)) in one forward-mode solve
    (the table's tangent along a column is composed from the held derivatives; the couplings do not
    enter the table), and the bound on the relative change of any rate by which the held table
    differs from θ's own (:func:`~uvmsm_jax.pipeline.shared_rate_table_error`; ∞: the outputs are not θ's)."""
    table, table_derivatives = held
    mass_tangents = theta_tangents[jnp.asarray(MASS_COLUMNS)]

    def along(theta_dot, weights):
        table_dot = jax.tree_util.tree_map(lambda d: jnp.tensordot(weights, d, axes=1), table_derivatives)
        return jax.jvp(lambda th, tab: _point_outputs(th, config, tab), (theta, table), (theta_dot, table_dot))

    outputs, jacobian = jax.vmap(along, in_axes=(1, 1), out_axes=(None, 1))(theta_tangents, mass_tangents)
    jacobian = jnp.where(jnp.isfinite(outputs)[:, None], jacobian, 0.0)  # as in _relic_outputs_jvp
    return outputs, jacobian, shared_rate_table_error(theta, config)


@functools.partial(jit, static_argnums=(1,))
def _shares_table(thetas: Array, config: Config) -> Array:
    STAGE_TRACES["plan", config, thetas.shape[0]] += 1
    return jax.vmap(lambda theta: uses_shared_rate_table(theta, config))(thetas)


TableArrays = dict[str, Array]
"""A :class:`~uvmsm_jax.rates.UnitRates` as a dict of its fields: what the stage programs exchange,
a plain pytree, so that their executables can be kept on disk (:mod:`uvmsm_jax._export`; a stored
executable does not take or return an ``equinox.Module``)."""


def table_arrays(tables: UnitRates) -> TableArrays:
    """``tables`` as :data:`TableArrays` (``UnitRates(**arrays)`` rebuilds it)."""
    return {field.name: getattr(tables, field.name) for field in dataclasses.fields(tables)}


def table_arrays_spec(config: Config, rows: int, layers: int | None = None) -> dict[str, jax.ShapeDtypeStruct]:
    """Shapes and dtypes of ``rows`` rate tables as :data:`TableArrays` (what :func:`_rate_tables`
    returns, without tracing it): each field one float64 value per temperature of the table; with
    ``layers``, that many per temperature and table (what :func:`_held_rate_tables` returns)."""
    shape = (rows, config.settings.n_grid) if layers is None else (rows, layers, config.settings.n_grid)
    column = jax.ShapeDtypeStruct(shape, np.dtype(np.float64))
    return {field.name: column for field in dataclasses.fields(UnitRates)}


@functools.partial(jit, static_argnums=(2,), xla_options=TABULATION_XLA_OPTIONS)
def _rate_tables(thetas: Array, shared: Array, config: Config) -> TableArrays:
    """The rate table of each θ: its masses' shared one where ``shared``, else its own (one program)."""
    STAGE_TRACES["tables", config, thetas.shape[0]] += 1
    return table_arrays(jax.vmap(lambda theta, s: rate_table(theta, config, s))(thetas, shared))


@functools.partial(jit, static_argnums=(2,))
def _solve_with_tables(thetas: Array, tables: TableArrays, config: Config) -> Array:
    STAGE_TRACES["solve", config, thetas.shape[0]] += 1
    return jax.vmap(lambda theta, table: _point_outputs(theta, config, UnitRates(**table)))(thetas, tables)


HELD_LAYERS = 1 + len(MASS_COLUMNS)
"""Layers of a table of :func:`_held_rate_tables`: the table, then its derivatives along :data:`MASS_COLUMNS`."""


@functools.partial(jit, static_argnums=(2,), xla_options=TABULATION_XLA_OPTIONS)
def _held_rate_tables(thetas: Array, shared: Array, config: Config) -> TableArrays:
    """The shared rate table of each θ and its derivatives along :data:`MASS_COLUMNS`
    (:func:`held_rate_table`), stacked as :data:`HELD_LAYERS` layers of each field: the table stage
    of :func:`_relic_with_elasticities`. A table of its own (``shared`` False) also depends on the
    couplings, which these derivatives leave out: its layers are NaN (the caller gives such points
    the per-point path)."""
    STAGE_TRACES["held tables", config, thetas.shape[0]] += 1

    def one(theta, s):
        table, derivatives = (table_arrays(t) for t in held_rate_table(theta, config))
        return {k: jnp.where(s, jnp.concatenate([table[k][None], derivatives[k]]), jnp.nan) for k in table}

    return jax.vmap(one)(thetas, shared)


@functools.partial(jit, static_argnums=(2,))
def _elasticities_with_tables(thetas: Array, tables: TableArrays, config: Config) -> tuple[Array, Array]:
    """The :data:`OUTPUT_FIELDS` of each θ of a block solved with its masses' held table (``tables``
    from :func:`_held_rate_tables`) and ∂Ωh²/∂θ (5 entries), in one forward-mode solve per point
    (:func:`outputs_with_held_table`; the couplings do not move the table)."""
    STAGE_TRACES["elasticities", config, thetas.shape[0]] += 1

    def one(theta, layers):
        held = (UnitRates(**{k: v[0] for k, v in layers.items()}), UnitRates(**{k: v[1:] for k, v in layers.items()}))
        outputs, jacobian, _ = outputs_with_held_table(theta, jnp.eye(N_PARAMETERS), config, held)
        return outputs, jacobian[0]

    return jax.vmap(one)(thetas, tables)


@functools.partial(jit, static_argnums=(1, 2, 3))
def _theta_jacobians(rows: Array, config: Config, block: int, tied: bool) -> Array:
    """∂θ/∂row (5 × row entries) of each row of :func:`_parameter_rows` (the chain rule from θ to the
    model's fields: a coupling's map to g_sm and g_dm, a default T_R's dependence on the masses)."""
    return map_blocks(jax.jacfwd(lambda row: _parameters_of_row(row, config, tied)), rows, block)


@functools.partial(jit, static_argnums=(2,))
def _collocation_candidates(thetas: Array, tables: TableArrays, config: Config) -> Array:
    STAGE_TRACES["candidates", config, thetas.shape[0]] += 1

    def candidate(theta, table):
        prepared = prepare(theta, config, UnitRates(**table))
        return collocation_candidate(prepared, classify(prepared, config), config)

    return jax.vmap(candidate)(thetas, tables)


@functools.partial(jit, static_argnames="config")
def _collocate_with_tables(
    thetas: Array, tables: TableArrays, table_of: Array | None = None, *, config: Config
) -> tuple[Array, Array]:
    """The collocated outputs of a block (:func:`_collocated_outputs`): each point with its row of
    ``tables`` and its own :func:`~uvmsm_jax.pipeline.collocation_terms`, or, with ``table_of``, from the
    block's distinct ``tables``: point i uses row ``table_of[i]`` (the rows after max(table_of) are
    padding), and the terms of each row in use are computed once, from the first point that uses it
    (docs/relic.md, "Collocation")."""
    STAGE_TRACES["collocate", config, thetas.shape[0]] += 1
    point_tables, point_terms = tables, None  # None: each point computes its own terms
    if table_of is not None:

        def terms_of(k):
            table = jax.tree_util.tree_map(lambda x: x[k], tables)
            return collocation_terms(prepare(thetas[jnp.argmax(table_of == k)], config, UnitRates(**table)))

        def store(k, terms):
            return jax.tree_util.tree_map(lambda all_terms, one: all_terms.at[k].set(one), terms, terms_of(k))

        shapes = jax.eval_shape(terms_of, 0)
        empty = jax.tree_util.tree_map(lambda x: jnp.zeros((thetas.shape[0], *x.shape), x.dtype), shapes)
        terms = jax.lax.fori_loop(0, jnp.max(table_of) + 1, store, empty)  # as many as the block has tables
        point_tables, point_terms = jax.tree_util.tree_map(lambda x: x[table_of], (tables, terms))
    return jax.vmap(lambda theta, table, terms: _collocated_outputs(theta, config, UnitRates(**table), terms))(
        thetas, point_tables, point_terms
    )


SLICE_BLOCKS = 64
"""Solve blocks per slice of a batch with shared tables: the points are taken in order of their
tables, a slice at a time, and only the slice's tables are held (≤ 64 × 32 × ~10 kB on CPU)."""

COMPILE_THREADS = 2
"""Threads of :class:`StagesAhead` that compile traced programs at once."""


class StagesAhead:
    """The programs of :func:`map_with_shared_tables` compiled by XLA in background threads before
    their first call (docs/relic.md, "Compilation"). JAX traces a program holding the GIL, and XLA
    compiles it on about one core without it: the programs are traced here, one after another, and
    each is compiled on a background thread as soon as it is traced, while the next is traced and the
    batch runs. A program's first call waits for its compilation (:meth:`wait`) and then finds it in
    JAX's caches. A program already compiled this way in this process is not submitted again, so a
    stage that a batch turns out not to call (the ODE where every point is collocated) costs its
    compilation once per process and configuration."""

    def __init__(
        self,
        config: Config,
        table_block: int,
        solve_block: int,
        stages: Sequence[tuple[Program, bool]] | None,
        table_stage: tuple[Program, int | None] | None = None,
    ):
        """Trace the table stage for blocks of ``table_block`` tables and ``stages``, (stage,
        by_table) pairs called as ``in_blocks`` of :func:`map_with_shared_tables` calls them
        (``stage(θ, tables, [table_of,] config=config)`` on solve blocks of ``solve_block`` points),
        and submit their compilation; with ``stages`` None, nothing (the programs run from stored
        executables). ``table_stage``: (program, layers) of :func:`map_with_shared_tables`, default
        (:func:`_rate_tables`, None)."""
        table_program, layers = (_rate_tables, None) if table_stage is None else table_stage
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._pending: dict[tuple[Program, bool], concurrent.futures.Future] = {}
        if stages is None:
            return
        float64 = np.dtype(np.float64)
        thetas = jax.ShapeDtypeStruct((solve_block, N_PARAMETERS), float64)
        tables = table_arrays_spec(config, solve_block, layers)
        table_of = jax.ShapeDtypeStruct((solve_block,), np.dtype(np.intp))
        calls = [
            (
                table_program,
                False,
                (
                    jax.ShapeDtypeStruct((table_block, N_PARAMETERS), float64),
                    jax.ShapeDtypeStruct((table_block,), np.dtype(bool)),
                ),
            ),
            *((stage, by_table, (thetas, tables, *((table_of,) if by_table else ()))) for stage, by_table in stages),
        ]
        try:
            for stage, by_table, args in calls:
                key = (stage, by_table, config, table_block, solve_block)
                if key in COMPILED_AHEAD:
                    continue
                lowered = stage.lower(*args, config=config)
                if self._pool is None:
                    self._pool = concurrent.futures.ThreadPoolExecutor(
                        COMPILE_THREADS, thread_name_prefix="uvmsm-compile"
                    )
                self._pending[stage, by_table] = self._pool.submit(compile_ahead, lowered, key)
        except BaseException:
            self.close()
            raise

    def wait(self, stage: Program, by_table: bool = False) -> None:
        """Return when ``stage``'s compilation, if submitted, is done (re-raising its error)."""
        pending = self._pending.pop((stage, by_table), None)
        if pending is not None:
            pending.result()

    def close(self) -> None:
        """Wait for the compilations still running and stop the threads."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)


def map_with_shared_tables(
    flat: np.ndarray,
    config: Config,
    evaluate_slice,
    stages: Sequence[tuple[Program, bool]],
    export_cache: str | os.PathLike | None = None,
    table_stage: tuple[Program, int | None] | None = None,
    every_row_shares: bool = False,
):
    """A stage evaluated on a concrete batch θ (n, 5) with shared rate tables (docs/relic.md, "Shared
    rate tables"), or None when no two distinct points share a table (the tabulation then dominates,
    and one program that tabulates and evaluates each point is as fast).

    First the coupling-free table of every distinct (m_dm, m_v, T_R) is tabulated once, and a point
    the shared table does not represent exactly (:func:`~uvmsm_jax.pipeline.uses_shared_rate_table`)
    gets its own (blocks of the table stage). Then the distinct points are taken in the order of their
    tables, a slice of :data:`SLICE_BLOCKS` solve blocks at a time (only that slice's tables are
    held): ``evaluate_slice(in_blocks, thetas)`` returns the results of the slice's points θ (n, 5)
    (a pytree of arrays with leading axis n), where ``in_blocks(stage, rows)`` evaluates
    ``stage(θ, tables, config)`` (tables as :data:`TableArrays`) on the slice's ``rows`` (indices
    < n) in solve blocks with NumPy leaves, the blocks on every core
    (:func:`~uvmsm_jax._batching.map_concurrently`, as the tables);
    ``in_blocks(stage, rows, by_table=True)`` evaluates ``stage(θ, tables, table_of, config)`` with
    each block's distinct tables and the row of each point's among them. ``stages``: the (stage,
    by_table) pairs ``evaluate_slice`` may call, compiled in the background while the tables compile
    and run (:class:`StagesAhead`).
    Identical points (e.g. the rows that pad a chunk) are evaluated once. Returns the results for
    every row of ``flat``. With ``export_cache`` (a folder) every stage runs from its executable kept
    there (:func:`~uvmsm_jax._export.call_compiled`): a later process loads it instead of tracing, and
    nothing is compiled ahead. ``table_stage``: the (program, layers) that tabulates, called as
    :func:`_rate_tables` is (the default, with ``layers`` None) and returning ``layers`` layers of each
    field when given (:func:`table_arrays_spec`; :func:`_held_rate_tables`). ``every_row_shares``: the
    caller has found that the shared table serves every row (:func:`_shares_table`), which is then
    not checked again."""
    table_program = _rate_tables if table_stage is None else table_stage[0]

    def compiled(stage):
        """``stage(θ, …, config=config)``, run from its executable in ``export_cache`` when given."""
        return bound_compiled(export_cache, stage, config=config)

    table_block, solve_block = stage_blocks()
    solve_block = chunk_size(flat.shape[0], solve_block)  # a batch smaller than a block: padded to a power of two
    flat, copies = np.unique(flat, axis=0, return_inverse=True)
    if every_row_shares:
        shares = np.ones(flat.shape[0], dtype=bool)
    else:
        shares = run_padded(compiled(_shares_table), solve_block, [flat])
    masses, mass_index = np.unique(flat[shares][:, MASS_COLUMNS], axis=0, return_inverse=True)
    if masses.shape[0] == np.count_nonzero(shares):
        return None
    # table ids: the distinct masses first, then one per point with its own table
    table_id = np.empty(flat.shape[0], dtype=np.int64)
    table_id[shares] = mass_index.ravel()
    table_id[~shares] = masses.shape[0] + np.arange(np.count_nonzero(~shares))
    table_theta = np.ones((masses.shape[0] + np.count_nonzero(~shares), N_PARAMETERS))
    table_theta[: masses.shape[0], MASS_COLUMNS] = masses
    table_theta[masses.shape[0] :] = flat[~shares]
    order = np.argsort(table_id, kind="stable")
    results = None
    stages_ahead = StagesAhead(config, table_block, solve_block, stages if export_cache is None else None, table_stage)
    try:
        for start in range(0, order.size, SLICE_BLOCKS * solve_block):  # memory: one slice's tables
            points = order[start : start + SLICE_BLOCKS * solve_block]
            needed, local = np.unique(table_id[points], return_inverse=True)
            shared = needed < masses.shape[0]
            stages_ahead.wait(table_program)
            tables = run_padded(compiled(table_program), table_block, [table_theta[needed], shared])  # as `needed`
            local = local.ravel()

            def in_blocks(stage, rows, by_table=False, tables=tables, local=local, points=points):
                """``stage`` on the slice's ``rows`` in solve blocks (tables gathered per block)."""
                stages_ahead.wait(stage, by_table)
                run = compiled(stage)

                def one(first):
                    block = pad_rows(rows[first : first + solve_block], solve_block)
                    rows_of_tables, by_point = local[block], ()
                    if by_table:  # the block's distinct tables, and each point's row among them
                        distinct, table_of = np.unique(rows_of_tables, return_inverse=True)
                        rows_of_tables, by_point = pad_rows(distinct, solve_block), (jnp.asarray(table_of.ravel()),)
                    block_tables = jax.tree_util.tree_map(lambda x, i=rows_of_tables: jnp.asarray(x[i]), tables)
                    result = run(jnp.asarray(flat[points[block]]), block_tables, *by_point)
                    return jax.tree_util.tree_map(
                        lambda x: np.asarray(x)[: min(solve_block, rows.size - first)], result
                    )

                pieces = map_concurrently(one, range(0, rows.size, solve_block))
                return jax.tree_util.tree_map(lambda *xs: np.concatenate(xs), *pieces)

            part = evaluate_slice(in_blocks, flat[points])
            if results is None:
                results = jax.tree_util.tree_map(lambda x: np.empty((flat.shape[0], *x.shape[1:]), x.dtype), part)
            for whole, piece in zip(jax.tree_util.tree_leaves(results), jax.tree_util.tree_leaves(part), strict=True):
                whole[points] = piece
    finally:
        stages_ahead.close()
    return jax.tree_util.tree_map(lambda x: x[copies.ravel()], results)


def _ode_order_key(thetas: np.ndarray) -> np.ndarray:
    """The order in which :func:`_relic_two_stages` groups a slice's points into blocks of the ODE
    stage: by |g_sm·g_dm|, so that a block holds similar couplings. A vmapped block runs as long as
    its slowest point, and a point's steps depend on its couplings more than on its masses: on the
    200 × 200 plane (M_N₁ = M_Z′), blocks in this order cost 1.11 × the steps of their points against
    1.29 × in the order of the tables (1.05 × sorted by the steps themselves; docs/relic.md, "Shared
    rate tables"). Each point's solution does not depend on its block."""
    return np.abs(thetas[:, 2] * thetas[:, 3])


def _relic_two_stages(
    flat: np.ndarray, config: Config, export_cache: str | os.PathLike | None = None
) -> np.ndarray | None:
    """The :data:`OUTPUT_FIELDS` of a concrete batch θ (n, 5) with shared rate tables
    (:func:`map_with_shared_tables`, its stages kept in ``export_cache`` when given): each point adds
    its couplings to its table and is solved — by collocation where ``Settings.solver`` is "auto" and
    the collocation is accepted (docs/relic.md, "Collocation"), else by the ODE."""
    collocation = config.settings.solver == "auto" and uses_collocation(config)

    def solve_slice(in_blocks, thetas):
        outputs = np.empty((thetas.shape[0], len(OUTPUT_FIELDS)))
        remaining = np.arange(thetas.shape[0])
        if collocation:  # only where it can be accepted: a thermalised DM goes straight to the ODE
            candidates = remaining[in_blocks(_collocation_candidates, remaining)]
            if candidates.size:
                collocated, accepted = in_blocks(_collocate_with_tables, candidates, by_table=groups_by_table())
                outputs[candidates[accepted]] = collocated[accepted]
                remaining = np.setdiff1d(remaining, candidates[accepted])
        if remaining.size:  # in order of the couplings: a block runs as long as its slowest point
            remaining = remaining[np.argsort(_ode_order_key(thetas[remaining]), kind="stable")]
            outputs[remaining] = in_blocks(_solve_with_tables, remaining)
        return outputs

    # the ODE, the longest to compile, first
    stages = [(_solve_with_tables, False)]
    if collocation:
        stages += [(_collocation_candidates, False), (_collocate_with_tables, groups_by_table())]
    return map_with_shared_tables(flat, config, solve_slice, stages, export_cache)


def _relic_with_elasticities(
    rows: np.ndarray,
    flat: np.ndarray,
    config: Config,
    tied: bool,
    export_cache: str | os.PathLike | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(:data:`OUTPUT_FIELDS`, elasticities of Ωh² in the row's entries) of a concrete batch: the rows
    of :func:`_parameter_rows` and their θ (n, 5). Points whose masses' shared rate table serves them
    and another point (``Settings.rate_tables`` "shared") are solved with that table and its mass
    derivatives, tabulated once per mass (:func:`_held_rate_tables`, :func:`_elasticities_with_tables`;
    the coupling directions cost no table derivative), their ∂Ωh²/∂θ taken to the row's entries by
    the chain rule (:func:`_theta_jacobians`); the others each tabulate their own table in forward
    mode (:func:`_relic_elasticity_batch`, as ``jax.jacfwd`` of :func:`relic`). Every point is solved
    by the ODE (collocation, ``Settings.solver``, has no derivative of its own; docs/relic.md,
    "Elasticities")."""

    def per_point(rows_of):
        return map_concrete_batch(
            _relic_elasticity_batch,
            rows_of,
            concrete=True,
            export_cache=export_cache,
            config=config,
            block=elasticity_block(config),
            tied=tied,
        )

    n = flat.shape[0]
    held = np.zeros(n, dtype=bool)
    if n > 1 and config.settings.rate_tables == "shared":
        _, solve_block = stage_blocks()
        held = run_padded(
            bound_compiled(export_cache, _shares_table, config=config), chunk_size(n, solve_block), [flat]
        )

    def solve_slice(in_blocks, thetas):
        order = np.argsort(_ode_order_key(thetas), kind="stable")  # a block runs as long as its slowest point
        outputs, gradient = in_blocks(_elasticities_with_tables, order)
        back = np.argsort(order)
        return outputs[back], gradient[back]

    two_stages = None
    if held.any():
        two_stages = map_with_shared_tables(
            flat[held],
            config,
            solve_slice,
            [(_elasticities_with_tables, False)],
            export_cache,
            table_stage=(_held_rate_tables, HELD_LAYERS),
            every_row_shares=True,
        )
    if two_stages is None:
        return per_point(rows)
    outputs = np.empty((n, len(OUTPUT_FIELDS)))
    elasticities = np.empty(rows.shape)
    outputs[held], theta_gradient = two_stages
    theta_jacobians = map_concrete_batch(
        _theta_jacobians, rows[held], concrete=True, config=config, block=default_block(), tied=tied
    )
    row_gradient = np.einsum("nj,nji->ni", theta_gradient, theta_jacobians)
    elasticities[held] = omega_elasticities(outputs[held], row_gradient, rows[held])
    if not held.all():
        outputs[~held], elasticities[~held] = per_point(rows[~held])
    return outputs, elasticities


class RelicResult(eqx.Module):
    """Result of :func:`relic` (arrays with the batch shape of the model fields).

    omega_h2: Ωh² of the DM (NaN where ``status`` flags a failure).
    yield_dm: Y_DM = n/s today (Model 2: χ + χ̄).
    yield_mediator: Y_V at the end of the integration (≈ 0 once it has decayed).
    status: 0 ok, otherwise a :class:`~uvmsm_jax.codes.Status` code (:data:`~uvmsm_jax.codes.STATUS_MESSAGES`).
    mechanism: :class:`~uvmsm_jax.codes.Mechanism` index into :data:`~uvmsm_jax.codes.MECHANISMS` (−1 invalid).
    dm_thermalised, mediator_thermalised: (A31), (A33) / (B21); for the dark photon in physical mode
      the indicators of (H18) read off the solution (max Y/Y_eq ≥ 0.9).
    t_dec [GeV], x_dec: DM decoupling temperature (A32) and M_DM/T_dec (NaN when not thermalised).
    ode_steps: accepted + rejected steps of the stiff solver (the cost of the point; a vmapped
      block runs as long as its slowest point); 0 for a point solved by collocation
      (``Settings.solver``).
    max_dark_rate_over_h, max_portal_rate_over_h: max Γ_N/H (H16) and max Γ_P/H (H15) over
      T_end ≤ T ≤ T_R, the diagnostics of the T′ = T check (H17); NaN for a model that does not make it.
    elasticities: with ``relic(..., elasticities=True)``, field name → d ln Ωh²/d ln field for each
      model field, and ``"t_reheat"`` when ``Settings.t_reheat`` is given (a default T_R moves with
      the masses, and their elasticities include it); NaN where ``status`` ≠ 0. None otherwise.
    """

    omega_h2: Array
    yield_dm: Array
    yield_mediator: Array
    status: Array
    mechanism: Array
    dm_thermalised: Array
    mediator_thermalised: Array
    t_dec: Array
    x_dec: Array
    ode_steps: Array
    max_dark_rate_over_h: Array
    max_portal_rate_over_h: Array
    elasticities: dict[str, Array] | None = None

    @property
    def marginal(self):
        """True where Γ_N/H or Γ_P/H lies within a factor 3 of 1 (K37): the (H17) verdict rests on a
        convention there."""

        def near_one(ratio):
            return (ratio > 1.0 / 3.0) & (ratio < 3.0)

        return near_one(self.max_dark_rate_over_h) | near_one(self.max_portal_rate_over_h)

    @property
    def mechanism_name(self):
        """Mechanism name (str) for a scalar result, a NumPy array of names for a batch."""
        return mechanism_names(self.mechanism)

    def as_dict(self) -> dict:
        """JSON-ready dict of a scalar result (floats, ints, bools, strings)."""
        if np.ndim(self.omega_h2) != 0:
            raise ValueError("as_dict() needs a scalar result; index the batch first")

        def optional(x):
            return float(x) if np.isfinite(x) else None

        host = jax.tree.map(np.asarray, self)  # NumPy: a jnp check would compile a small program
        return {
            "omega_h2": float(host.omega_h2),
            "yield_dm": float(host.yield_dm),
            "yield_mediator": float(host.yield_mediator),
            "mechanism": host.mechanism_name,
            "status": int(host.status),
            "status_message": STATUS_MESSAGES.get(int(host.status), "unknown"),
            "dm_thermalised": bool(host.dm_thermalised),
            "mediator_thermalised": bool(host.mediator_thermalised),
            "t_dec": optional(host.t_dec),
            "x_dec": optional(host.x_dec),
            "ode_steps": int(host.ode_steps),
            "max_dark_rate_over_h": optional(host.max_dark_rate_over_h),
            "max_portal_rate_over_h": optional(host.max_portal_rate_over_h),
            "marginal": bool(host.marginal),
            **(
                {}
                if host.elasticities is None
                else {"elasticities": {k: optional(v) for k, v in host.elasticities.items()}}
            ),
        }


def relic(
    model,
    settings: Settings | None = None,
    *,
    elasticities: bool = False,
    export_cache: str | os.PathLike | None = None,
) -> RelicResult:
    """Relic abundance Ωh² of ``model`` (any registered model: UVMSM, DarkPhotonDM, …) under ``settings``.

    Scalar concrete input is validated (``ValueError`` naming the parameter); array input is solved
    point by point with per-point ``status``. Differentiable (``jax.grad``, ``jax.jvp``, ``jax.jacfwd``)
    with respect to every model field and ``Settings.t_reheat``.

    ``elasticities``: also return d ln Ωh²/d ln x for every model field x (and T_R when given) in
    :attr:`RelicResult.elasticities`, from the same forward-mode derivative, batched as the solve is:
    in blocks on every core, and, in a batch with shared rate tables, each distinct mass point's table
    derivative computed once (docs/relic.md, "Elasticities"). Every point is then solved by the ODE.

    ``export_cache``: a folder in which the compiled solver is kept (one executable per
    model, settings and batch size; for a batch solved with shared rate tables, ``Settings.rate_tables``,
    one per stage and block size); a later call with concrete inputs loads it instead of tracing
    (seconds saved per call; the CLI uses ``~/.cache/uvmsm-jax/export``). Ignored for traced inputs
    (inside ``jit``, ``vmap`` or a derivative), so differentiation is unaffected.
    """
    settings = Settings() if settings is None else settings
    config = configure(model, settings)
    theta: Array | np.ndarray = parameters(model, settings)
    concrete = is_concrete(theta)
    if concrete:  # NumPy around the solve: on concrete values each jnp operation compiles a program
        theta = np.asarray(theta)
    if theta.ndim == 1 and concrete:
        validate_model(model)
    batch_shape = theta.shape[:-1]
    flat = theta.reshape(-1, N_PARAMETERS)
    tied = settings.t_reheat is None
    outputs: Array | np.ndarray
    elasticity: Array | np.ndarray | None = None
    if elasticities and concrete:
        rows = np.asarray(_parameter_rows(model, settings, config, concrete))
        outputs, elasticity = _relic_with_elasticities(rows, np.asarray(flat), config, tied, export_cache)
    elif elasticities:
        outputs, elasticity = _relic_elasticity_batch(
            _parameter_rows(model, settings, config, concrete), config, elasticity_block(config), tied
        )
    else:
        two_stages = None
        if concrete and flat.shape[0] > 1 and settings.rate_tables == "shared":
            two_stages = _relic_two_stages(np.asarray(flat), config, export_cache)
        if two_stages is not None:
            outputs = two_stages
        else:
            outputs = map_concrete_batch(
                _relic_batch,
                _parameter_rows(model, settings, config, concrete),
                concrete=concrete,
                export_cache=export_cache,
                config=config,
                block=default_block(config.spec.relic_bytes_per_point),
                tied=tied,
            )
    if concrete:
        outputs = np.asarray(outputs)
    outputs = outputs.reshape(*batch_shape, -1)
    fields: dict[str, Any] = {name: outputs[..., i] for i, name in enumerate(OUTPUT_FIELDS)}
    if elasticity is not None:
        names = (*config.spec.fields, *(() if tied else ("t_reheat",)))
        elasticity = elasticity.reshape(*batch_shape, -1)
        fields["elasticities"] = {name: elasticity[..., i] for i, name in enumerate(names)}
    for name in ("status", "mechanism", "ode_steps"):  # codes and counts: no derivative
        fields[name] = without_derivative(fields[name]).astype(np.int32)
    for name in ("dm_thermalised", "mediator_thermalised"):
        fields[name] = without_derivative(fields[name]) > 0.5
    return RelicResult(**jax.device_put(fields) if concrete else fields)


@functools.partial(jit, static_argnums=(1, 2))
def _history_point(theta: Array, config: Config, n_points: int):
    prepared = prepare(theta, config)
    save_taus = jnp.linspace(prepared.tau_start, prepared.tau_end, n_points)
    solution = solve(prepared, classify(prepared, config), config, save_taus)
    equilibrium = jnp.exp(jax.vmap(prepared.table)(save_taus)[:, [bz.LOG_Y_DM_EQ, bz.LOG_Y_V_EQ]])
    return prepared.m_ref * jnp.exp(-save_taus), solution.ode.ys, equilibrium, solution.status


def yield_history(model, settings: Settings | None = None, n_points: int = 200) -> dict:
    """Yields along the solution for one scalar point (plots, checks).

    Returns NumPy arrays ``temperature`` [GeV] (from T_R down), ``yield_dm``, ``yield_mediator``,
    ``yield_dm_eq``, ``yield_mediator_eq`` (equilibrium yields as used by the solver, i.e. the
    cubic interpolant of the tabulated ln Y_eq) and the integer ``status``.
    """
    settings = Settings() if settings is None else settings
    validate_model(model)
    theta = parameters(model, settings)
    if theta.ndim != 1:
        raise ValueError("yield_history needs scalar model fields")
    temperature, ys, eq, status = _history_point(theta, configure(model, settings), int(n_points))
    return {
        "temperature": np.asarray(temperature),
        "yield_dm": np.asarray(ys[:, 0]),
        "yield_mediator": np.asarray(ys[:, 1]),
        "yield_dm_eq": np.asarray(eq[:, 0]),
        "yield_mediator_eq": np.asarray(eq[:, 1]),
        "status": int(status),
    }
