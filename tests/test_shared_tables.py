"""Coupling-free rate tables shared across couplings (speed issue, item 1; docs/relic.md "Shared rate
tables"): the two-stage batch against every point tabulating its own rates, the width bound that
decides which points may share, and the stages compiling once."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import check_agreement, random_points

import uvmsm_jax as uj
from uvmsm_jax import pipeline
from uvmsm_jax._relic import STAGE_TRACES
from uvmsm_jax.rates import (
    NARROW_WIDTH_TOLERANCE,
    dm_pair_to_sm_cross_section,
    narrow_width_split_error,
    propagator_width_effect,
    resonance_window,
)


def compare(name: str, mode: str, n_masses: int, n_couplings: int, seed: int, atol: float = 1e-16):
    fields = random_points(name, n_masses, n_couplings, seed)
    model = uj.model_spec(name).model(**fields)
    shared = uj.relic(model, uj.Settings(mode=mode, atol=atol))
    own = uj.relic(model, uj.Settings(mode=mode, atol=atol, rate_tables="per-point"))
    return fields, shared, own


# slow: compiles both routes for 48 points (~1.5 min); the shared route stays checked by default in the invalid-points test below and in test_dark_photon.py::test_b4_exact_solution
@pytest.mark.slow
@pytest.mark.parametrize("name", ["uvmsm"])  # the dark photon: the slow test below
def test_shared_tables_match_own_tables(name):
    fields, shared, own = compare(name, "physical", n_masses=4, n_couplings=12, seed=13)
    check_agreement(shared, own, 48)
    # the random draw exercises both routes
    theta = np.asarray(pipeline.parameters(uj.model_spec(name).model(**fields), uj.Settings())).reshape(-1, 5)
    config = pipeline.configure(name)
    shares = np.asarray(jax.vmap(lambda t: pipeline.uses_shared_rate_table(t, config))(jnp.asarray(theta)))
    assert 0 < shares.sum() < shares.size


@pytest.mark.slow
@pytest.mark.parametrize(
    "name, mode, atol",
    [
        ("uvmsm", "physical", 1e-18),
        ("uvmsm", "paper", 1e-18),
        ("dark-photon", "physical", 1e-16),
        ("dark-photon", "paper", 1e-16),
    ],
)
def test_shared_tables_match_own_tables_random_points(name, mode, atol):
    # 4 × 60 random points across every regime of both models and both conventions (P1's paper mode
    # keeps the narrow-width pole in ⟨σv⟩_a, whose coupling dependence is Γ_SM/Γ_tot). The UνMSM draws
    # are compared with every yield resolved relatively (atol 1e-18): at the default atol two
    # freeze-out points with g_B−L ≈ 0.9 and Ωh² ≈ 3e-10, 6e-10 end below their absolute tolerance,
    # where two equivalent programs differed by up to 1.4e-4 (≥ 5e-5 even at rtol 1e-11); at atol
    # 1e-18 the routes agree to 1.1e-6. At 1e-20 the tolerance of a yield that ends near zero falls
    # below the rounding of its rates, and a point may stall at max_steps (status 3) by either route,
    # as the programs' rounding falls: over 12 such draws of 60 points (seeds 1–12, both routes), 6
    # stalls with the package's programs compiled by XLA's default CPU emitters and 9 with its own
    # options (docs/relic.md, "Compilation"), this draw's point 6 among the latter. (The dark-photon draws agree at the
    # default; at 1e-20 four of their paper-mode points end with status 4, no DM channel, by the shared
    # route and status 3, out of steps, by their own.)
    _, shared, own = compare(name, mode, n_masses=6, n_couplings=10, seed=7, atol=atol)
    check_agreement(shared, own, 60)


@pytest.mark.parametrize(
    "model",
    [
        uj.UVMSM(0.4, 0.7, 0.3),  # closed pole, near threshold: large effect
        uj.UVMSM(0.1, 0.1, 0.5),  # (at g_B−L = 0.05 the remainder, 1.5e-16, is rounding)
        uj.DarkPhotonDM(0.3, 0.5, 1e-3, 0.5),
        uj.DarkPhotonDM(0.1, 0.1, 1e-6, 1e-2),
    ],
)
def test_propagator_width_effect_bounds_the_cross_section(model):
    """σ_a(s) with the point's width against the width-free σ_a over s from threshold up, for the
    Majorana N₁ with the width's first order that its shared table carries (σ₀(1 − ε), ε =
    M²Γ²/(s − M²)²): the relative change never exceeds the bound that decides whether a point may share
    a coupling-free table."""
    settings = uj.Settings()
    portal = model.portal
    w = uj.widths(portal, settings)
    window = resonance_window(portal)
    with_width = dm_pair_to_sm_cross_section(portal, settings, w.total, window)
    zero = jnp.zeros(())
    width_free = dm_pair_to_sm_cross_section(portal, settings, zero, window, (zero, zero))
    s = 4.0 * portal.m_dm**2 * jnp.geomspace(1.0 + 1e-9, 1e4, 4001)
    carried = 1.0
    if portal.dm_kind == "majorana":
        carried = 1.0 - np.asarray((portal.m_v * w.total) ** 2 / (s - portal.m_v**2) ** 2)
    change = np.abs(np.asarray(width_free(s)) * carried / np.asarray(with_width(s)) - 1.0)
    bound = float(propagator_width_effect(portal, settings, w.total))
    assert np.max(change) <= bound + 1e-14  # (rounding)
    assert np.max(change) >= 0.1 * bound  # and it is not loose by orders of magnitude


def test_shared_table_carries_the_first_order_of_the_width():
    """Majorana points whose width changes σ_a below the pole by 1e-6…1e-4 (they took their own tables
    while the shared table left the width out): they now share, and every rate coefficient of the
    shared table with the width's first order is the point's own to the bound (≤ 1e-8 each), where
    without that first order it would be off by up to ~ε_max (docs/equations.md A.5.1)."""
    settings = uj.Settings()
    config = pipeline.configure("uvmsm", settings)
    m_zp = np.array([0.1, 0.1, 1.0, 0.05, 3.0])
    ratio = np.array([1.0, 0.8, 0.6, 2.0, 1.3])
    g = np.array([0.3, 0.2, 0.15, 0.8, 0.4])
    theta = jnp.asarray(np.asarray(pipeline.parameters(uj.UVMSM(m_zp * ratio, m_zp, g), settings)))

    def rates(t):
        shared = pipeline.shared_rate_table(t, config)
        dropped = eqx.tree_at(lambda u: u.log_sv_a_width, shared, jnp.full_like(shared.log_sv_a_width, -1.0e30))
        values = [pipeline.prepare(t, config, table).table.values for table in (None, shared, dropped)]
        return (*values, pipeline.shared_rate_table_error(t, config), pipeline.uses_shared_rate_table(t, config))

    own, shared, dropped, bound, uses = map(np.asarray, jax.jit(jax.vmap(rates))(theta))
    epsilon_max = np.sqrt(bound)  # the bound is ε_max²
    assert np.all(uses) and np.all((epsilon_max > 1e-8) & (epsilon_max < 1e-4))
    change = np.abs(np.expm1(shared - own)).max(axis=(1, 2))
    assert np.all(change <= bound * (1 + 1e-6) + 1e-12), (change, bound)
    without = np.abs(np.expm1(dropped - own)).max(axis=(1, 2))
    assert np.all(without > 0.1 * epsilon_max) and np.all(without > 100 * change)


def test_points_that_cannot_share_are_solved_with_their_own_tables():
    config = pipeline.configure("uvmsm")

    def shares(m_n1, m_zp, g):
        theta = pipeline.parameters(uj.UVMSM(m_n1, m_zp, g), uj.Settings())
        return bool(pipeline.uses_shared_rate_table(theta, config))

    assert shares(0.1, 0.1, 1e-6)
    assert not shares(0.1, 0.1, 1.0)  # the width below the pole matters
    assert not shares(0.1, 0.1, 1e-13)  # the Z′ decays after min(m)/x_end: the τ range depends on g
    assert shares(0.1, 0.3, 1e-4)  # open pole, split off: no width in the off-pole propagator
    assert not shares(0.1, 0.3, 1.0)  # open pole whose split fails: the full propagator (G19′)
    assert not shares(5.0 * (1.0 - 1e-6), 10.0, 1e-4)  # ... close above the threshold
    assert not bool(pipeline.uses_shared_rate_table(jnp.array([jnp.nan, 1.0, 1e-6, 1e-6, 100.0]), config))


def test_omega_is_continuous_across_the_resonance_threshold_and_the_switch_to_the_full_propagator():
    """Ωh² where the narrow-width split fails (docs/equations.md G19′). At M_Z′ = 2M_N₁(1 + ε) the
    split kept the slow N₁ annihilating through a zero-width pole: Ωh² was 0.1200 at ε = 1e-12 and
    0.1497 at ε = 0 (pole closed, the full propagator). Now the full propagator holds on both sides.
    And where the split's error bound crosses NARROW_WIDTH_TOLERANCE (at fixed masses, Γ ∝ g²), Ωh²
    moves by no more than that bound: the shared table with the split on one side, the point's own
    with the full propagator on the other."""
    settings = uj.Settings()
    m_n1, m_zp, g = 5.0, 10.0, 7.7e-3
    # the coupling at which ε_split = NARROW_WIDTH_TOLERANCE at (4.5, 10) GeV (Γ_tot ∝ g²)
    portal = uj.UVMSM(4.5, m_zp, 1.0).portal
    unit_error = float(narrow_width_split_error(portal, uj.widths(portal, settings).total))
    g_switch = np.sqrt(NARROW_WIDTH_TOLERANCE / unit_error)
    masses = [m_n1 * (1.0 - 1e-12), m_n1 * (1.0 - 1e-11), m_n1, m_n1 * (1.0 + 1e-11), 4.5, 4.5]
    couplings = [g, g, g, g, g_switch * (1.0 - 1e-6), g_switch * (1.0 + 1e-6)]
    model = uj.UVMSM(np.array(masses), np.full(6, m_zp), np.array(couplings))
    result = uj.relic(model, settings)
    omega = np.asarray(result.omega_h2)
    assert np.all(np.asarray(result.status) == 0)
    np.testing.assert_allclose(omega[:4], omega[2], rtol=1e-5)  # (dΩ/dε ≈ 4e4 Ω: 4e-7 at ε = 1e-11)
    assert omega[2] == pytest.approx(0.14972, rel=1e-4)  # the full propagator (test_relic_reference.py)
    config = pipeline.configure("uvmsm", settings)
    theta = jnp.asarray(np.asarray(pipeline.parameters(model, settings)))
    shares = np.asarray(jax.vmap(lambda t: pipeline.uses_shared_rate_table(t, config))(theta))
    assert shares.tolist() == [False, False, False, False, True, False]  # (closed: the width below the pole)
    assert omega[5] == pytest.approx(omega[4], rel=NARROW_WIDTH_TOLERANCE)


# slow: compiles a configuration of its own (~40 s); test_scan.py::test_chunk_function_compiles_once keeps a compile-once check by default
@pytest.mark.slow
def test_stages_compile_once_per_configuration():
    settings = uj.Settings(rtol=2e-7)  # a configuration no other test compiles
    config = pipeline.configure("uvmsm", settings)
    for g in ([1e-6, 2e-6, 1.0], [3e-6, 4e-6, 5e-6]):
        for mass in (0.1, 0.2):
            uj.relic(uj.UVMSM(mass, mass, jnp.asarray(g)), settings)
    counts = {key[0]: n for key, n in STAGE_TRACES.items() if key[1] == config}
    # the collocation stages (Settings.solver="auto") compile once too, "collocate" only if a point
    # of the batch is a candidate
    assert set(counts) - {"collocate"} == {"plan", "tables", "candidates", "solve"}
    assert all(n == 1 for n in counts.values()), counts


# slow: compiles the stages for blocks of 32 (~25 s); the concurrency itself is checked by default in test_batching.py
@pytest.mark.slow
def test_blocks_on_every_core_equal_blocks_one_after_another(monkeypatch):
    """A batch with shared tables runs its solve blocks (and its tables) two at a time on CPU: every
    output equals the one of the blocks run one after another, bit for bit, with several blocks in
    every stage (3 masses × 40 couplings: the collocation and the ODE both get points)."""
    from uvmsm_jax import _batching

    m_zp = np.repeat([0.03, 0.4, 5.0], 40)
    g_bl = np.tile(np.geomspace(1e-10, 1.0, 40), 3)
    model = uj.UVMSM(1.5 * m_zp, m_zp, g_bl)
    monkeypatch.setattr(_batching, "host_workers", lambda: 2)
    together = uj.relic(model)
    monkeypatch.setattr(_batching, "host_workers", lambda: 1)
    in_turn = uj.relic(model)
    for field in ("omega_h2", "yield_dm", "yield_mediator", "status", "mechanism", "ode_steps", "t_dec"):
        a, b = np.asarray(getattr(together, field)), np.asarray(getattr(in_turn, field))
        assert a.tobytes() == b.tobytes(), field
    steps = np.asarray(in_turn.ode_steps)
    assert np.all(np.asarray(in_turn.status) == 0)
    assert np.sum(steps == 0) > 32 and np.sum(steps > 0) > 32  # collocated and ODE points, > 1 block each


def test_invalid_points_in_a_shared_batch_do_not_touch_their_neighbours():
    """A batch with repeated masses whose couplings include NaN and a negative value: those points get
    status 1 (invalid input) and NaN Ωh², the valid ones the numbers they get without them; a point
    given twice (solved once) gets the same number twice."""
    couplings = np.array([1e-6, np.nan, 2e-6, -1.0, 2e-6])
    mixed = uj.relic(uj.UVMSM(0.1, 0.1, couplings))
    clean = uj.relic(uj.UVMSM(0.1, 0.1, couplings[[0, 2, 4]]))
    np.testing.assert_array_equal(np.asarray(mixed.status), [0, 1, 0, 1, 0])
    assert np.all(np.isnan(np.asarray(mixed.omega_h2)[[1, 3]]))
    np.testing.assert_allclose(np.asarray(mixed.omega_h2)[[0, 2, 4]], np.asarray(clean.omega_h2), rtol=1e-12)
    assert np.all(np.asarray(clean.omega_h2) > 0)
    assert mixed.omega_h2[2] == mixed.omega_h2[4] and clean.omega_h2[1] == clean.omega_h2[2]


# the dark photon is slow (21 s: its physical-mode classifier compiled twice); the code path is the same
@pytest.mark.parametrize(
    "name, mode", [("uvmsm", "paper"), pytest.param("dark-photon", "physical", marks=pytest.mark.slow)]
)
def test_thermalisation_with_shared_tables_matches_own_tables(name, mode):
    """``uj.thermalisation`` of a concrete batch tabulates once per mass point (the regime maps of
    the figures): the same flags and mechanisms as every point tabulating its own rates, the same
    crossing temperatures to 1e-8 (both read off tables that agree to the width bound, 1e-8)."""
    model = uj.model_spec(name).model(**random_points(name, n_masses=4, n_couplings=8, seed=11))
    shared = uj.thermalisation(model, uj.Settings(mode=mode))
    own = uj.thermalisation(model, uj.Settings(mode=mode, rate_tables="per-point"))
    for field in ("dm_thermalised", "mediator_thermalised", "mechanism"):
        np.testing.assert_array_equal(np.asarray(getattr(shared, field)), np.asarray(getattr(own, field)))
    for field in ("t_dec", "x_dec", "t_therm_dm", "t_dec_mediator", "t_therm_mediator"):
        np.testing.assert_allclose(np.asarray(getattr(shared, field)), np.asarray(getattr(own, field)), rtol=1e-8)
    assert 0 < np.sum(np.asarray(own.dm_thermalised)) < 32  # both sides of the (A31) criterion


def test_stages_compile_ahead_in_the_background_once_and_raise_in_the_caller():
    # map_with_shared_tables traces the stages it is given and XLA compiles each on a background
    # thread while the next is traced and the batch runs (_relic.StagesAhead); the stage's call then
    # finds that program: it is traced once, and compiled on a compile thread. A stage that fails to
    # trace raises its error in the caller.
    import functools
    import logging
    import threading

    from uvmsm_jax._programs import jit
    from uvmsm_jax._relic import map_with_shared_tables

    config = pipeline.configure("uvmsm", uj.Settings())
    masses = np.repeat([0.1, 0.3], 3)
    flat = np.asarray(pipeline.parameters(uj.UVMSM(masses, masses, np.tile([1e-12, 2e-12, 3e-12], 2))))
    traces, compiled_on = [], []

    class CompileLog(logging.Handler):
        def emit(self, record):
            if record.getMessage().startswith("Finished XLA compilation of jit(dm_mass)"):
                compiled_on.append(threading.current_thread().name)

    @functools.partial(jit, static_argnames="config")
    def dm_mass(thetas, tables, config):
        traces.append(thetas.shape)
        return thetas[:, 0] + 0.0 * jax.tree_util.tree_leaves(tables)[0][:, 0]

    handler, logger, logged = CompileLog(), logging.getLogger("jax"), jax.config.jax_log_compiles
    logger.addHandler(handler)
    jax.config.update("jax_log_compiles", True)  # for every thread (jax.log_compiles() is the caller's)
    try:
        result = map_with_shared_tables(
            flat, config, lambda in_blocks, thetas: in_blocks(dm_mass, np.arange(len(thetas))), [(dm_mass, False)]
        )
    finally:
        jax.config.update("jax_log_compiles", logged)
        logger.removeHandler(handler)
    np.testing.assert_array_equal(result, flat[:, 0])
    assert len(traces) == 1, traces
    assert len(compiled_on) == 1 and compiled_on[0].startswith("uvmsm-compile"), compiled_on

    @functools.partial(jit, static_argnames="config")
    def broken(thetas, tables, config):
        raise ValueError("a stage that does not trace")

    with pytest.raises(ValueError, match="does not trace"):
        map_with_shared_tables(
            flat, config, lambda in_blocks, thetas: in_blocks(broken, np.arange(len(thetas))), [(broken, False)]
        )


@pytest.mark.parametrize(
    "name, settings", [("uvmsm", uj.Settings()), ("dark-photon", uj.Settings(mode="paper", n_grid=64))]
)
def test_stages_compiled_ahead_take_the_tables_the_table_stage_returns(name, settings):
    # StagesAhead traces the solve stages for tables of table_arrays_spec's shapes without tracing the
    # table stage first: they must be what it returns, or the stages compiled ahead are never called
    from uvmsm_jax._relic import _rate_tables, table_arrays_spec

    config = pipeline.configure(name, settings)
    returned = _rate_tables.lower(
        jax.ShapeDtypeStruct((8, pipeline.N_PARAMETERS), np.float64), jax.ShapeDtypeStruct((8,), bool), config=config
    ).out_info
    assert returned == table_arrays_spec(config, 8)
