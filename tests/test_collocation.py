"""Collocation of the Boltzmann system on a fixed grid (speed issue, item 3; docs/relic.md "Collocation"):
the Radau IIA kernel against exact solutions, and ``Settings(solver="auto")`` — collocation where its
checks pass, the ODE elsewhere — against the ODE on random points of every regime."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import check_agreement, random_points

import uvmsm_jax as uj
from uvmsm_jax._numerics import coarser_collocation_stages, linear_collocation, radau_iia


@pytest.mark.parametrize("stages", [2, 3, 4])
def test_radau_iia_tableau(stages):
    nodes, matrix = radau_iia(stages)
    # real nodes: a complex dtype (NumPy 2.5's root finder) reached the stage times and failed in jnp.floor
    assert nodes.dtype == np.float64 and matrix.dtype == np.float64
    assert nodes[-1] == pytest.approx(1.0, abs=1e-15)
    # stage i integrates every polynomial of degree < s exactly from 0 to c_i (collocation); the last
    # row, the quadrature weights, every polynomial of degree ≤ 2s − 2 over [0, 1]
    for degree in range(stages):
        np.testing.assert_allclose(matrix @ nodes**degree, nodes ** (degree + 1) / (degree + 1), atol=1e-14)
    for degree in range(2 * stages - 1):
        assert matrix[-1] @ nodes**degree == pytest.approx(1.0 / (degree + 1), abs=1e-14)


@pytest.mark.parametrize("rate", [0.0, 0.3, 2.0, 40.0, 1e6, 1e14])
def test_linear_collocation_matches_exact_solution(rate):
    # y′ = −a y + b e^{t}: y = (y₀ − b/(1 + a)) e^{−at} + b e^{t}/(1 + a). From a transient resolved by
    # the steps (a h ≤ 0.2) to a rate of 1e14 per unit t (the mediator's inverse decays) on the slow
    # manifold y₀ = b/(1 + a), which the fixed grid must follow without resolving e^{−at} (an
    # unresolved transient is damped, not followed: L-stability; the grid check of the caller sees it)
    nodes, matrix = radau_iia(4)
    steps = np.full(50, 0.1)
    stage_t = np.arange(50)[:, None] * 0.1 + 0.1 * nodes
    b = 2.5
    y0 = 1.0 if rate <= 2.0 else b / (1.0 + rate)
    stages = linear_collocation(np.full(stage_t.shape, rate), b * np.exp(stage_t), np.asarray(steps), y0, matrix)
    exact = (y0 - b / (1.0 + rate)) * np.exp(-rate * stage_t) + b * np.exp(stage_t) / (1.0 + rate)
    # the interval ends to the method's order 2s − 1 = 7, the inner stages to its stage order s = 4
    # (1e-10 at a h = 4, between the regimes)
    np.testing.assert_allclose(np.asarray(stages)[:, -1], exact[:, -1], rtol=1e-9, atol=0)
    np.testing.assert_allclose(np.asarray(stages), exact, rtol=1e-8, atol=0)


def _pivoted_solve(matrix: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Gaussian elimination with partial pivoting in extended precision (np.longdouble)."""
    a, b = matrix.astype(np.longdouble), rhs.astype(np.longdouble)
    for p in range(len(b)):
        q = p + int(np.argmax(np.abs(a[p:, p])))
        a[[p, q]], b[[p, q]] = a[[q, p]], b[[q, p]]
        for i in range(p + 1, len(b)):
            factor = a[i, p] / a[p, p]
            a[i, p:] -= factor * a[p, p:]
            b[i] -= factor * b[p]
    x = np.zeros(len(b), np.longdouble)
    for i in reversed(range(len(b))):
        x[i] = (b[i] - a[i, i + 1 :] @ x[i + 1 :]) / a[i, i]
    return x


def test_linear_collocation_stages_equal_a_pivoted_solve():
    # one interval's stages solve (I + hA R) Y = y₀ 1 + hA s; the kernel eliminates (W/h + R) Y =
    # (W 1/h) y₀ + s (W = A⁻¹) without pivoting. Against a pivoted elimination in extended precision,
    # for h·rate = 1e-10…1e17 and sources over 30 decades, each varying by ≤ 10× within the interval
    # (as a smooth rate does): α (y₀ = 1, no source) and β (y₀ = 0) to rounding, normwise
    _, matrix = radau_iia(4)
    rng = np.random.default_rng(3)
    n, h = 300, 0.01
    rate = 10 ** (rng.uniform(-10, 17, (n, 1)) + rng.uniform(-1, 1, (n, 4))) / h
    source = 10 ** (rng.uniform(-30, 0, (n, 1)) + rng.uniform(-1, 1, (n, 4)))
    one_interval = jax.jit(
        jax.vmap(lambda r, s, y0: linear_collocation(r[None], s[None], jnp.full(1, h), y0, matrix)[0], (0, 0, None))
    )
    alpha = np.asarray(one_interval(rate, np.zeros_like(source), 1.0))
    beta = np.asarray(one_interval(rate, source, 0.0))
    for k in range(n):
        system = np.eye(4) + h * matrix * rate[k]
        for computed, rhs in ((alpha[k], np.ones(4)), (beta[k], h * matrix.astype(np.longdouble) @ source[k])):
            exact = _pivoted_solve(system, rhs).astype(float)
            assert np.max(np.abs(computed - exact)) <= 1e-13 * np.max(np.abs(exact)), (k, computed, exact)


@pytest.mark.parametrize("ratio", [2, 4])
def test_coarser_collocation_stages_evaluate_the_collocation_polynomial(ratio):
    # the check grid is solved about the fine grid's solution at its own stage points: on each fine
    # interval the polynomial of degree s through the start value and the s stage values, which is
    # exact for a polynomial of degree ≤ s (and only for those: degree s + 1 is not)
    nodes, _ = radau_iia(4)
    n, h = 16, 0.1
    fine_t = (np.arange(n)[:, None] + nodes) * h
    coarse_t = (np.arange(n // ratio)[:, None] + nodes) * ratio * h
    quartic = np.polynomial.Polynomial([1.0, 2.0, -3.0, 0.5, 0.7])
    stages = coarser_collocation_stages(quartic(fine_t), quartic(0.0), nodes, ratio)
    np.testing.assert_allclose(np.asarray(stages), quartic(coarse_t), rtol=0, atol=1e-13)
    quintic = quartic + np.polynomial.Polynomial([0, 0, 0, 0, 0, 5.0])
    stages = coarser_collocation_stages(quintic(fine_t), quintic(0.0), nodes, ratio)
    assert np.max(np.abs(np.asarray(stages) - quintic(coarse_t))) > 1e-8


# slow: 24 random points of both models, each route compiled (~27 s); the collocation stays checked against the ODE by default in test_collocation_matches_the_ode
@pytest.mark.slow
def test_one_sweep_about_the_fine_solution_solves_the_check_grid():
    # pipeline.collocate solves its check grid in one sweep about the fine grid's solution instead of
    # three from zero. On random points of both models where the fine grid's sweeps converged (the
    # Newton check passes), its Y_DM(∞) is at least as close to the check grid's fixed point (three
    # sweeps more) as the three sweeps from zero: equal for most UνMSM points, 4.4e-8 against 1.6e-7
    # at a dark-photon point with Y_DM = 5e6 (on 600 UνMSM points the two routes differ by ≤ 1.9e-10)
    from uvmsm_jax import boltzmann as bz
    from uvmsm_jax import pipeline

    rng = np.random.default_rng(11)
    n = 24
    m_v, ratio = 10 ** rng.uniform(-2, 1, n), 10 ** rng.uniform(-1.5, 1, n)
    models = {
        "uvmsm": (uj.UVMSM(ratio * m_v, m_v, 10 ** rng.uniform(-13, -4, n)), uj.Settings()),
        "dark-photon": (
            uj.DarkPhotonDM(ratio * m_v, m_v, 10 ** rng.uniform(-13, -9, n), 10 ** rng.uniform(-6, -3, n)),
            uj.Settings(mode="paper"),
        ),
    }
    fine_grid, check_grid = pipeline.COLLOCATION_SUBDIVISIONS
    for model, settings in models.values():
        config = pipeline.configure(model, settings)

        def both(theta, config=config):
            p = pipeline.prepare(theta, config)
            y0, _ = pipeline._initial_yields(p, pipeline.classify(p, config), config)
            fine_terms, check_terms = pipeline.collocation_terms(p)
            system = config.physics.system
            fine = bz.collocate(p.table, fine_terms, p.log_shifts, system, y0, fine_grid)
            about = bz.on_coarser_grid(fine, y0, fine_grid // check_grid)
            one = bz.collocate(p.table, check_terms, p.log_shifts, system, y0, check_grid, about)
            three = bz.collocate(p.table, check_terms, p.log_shifts, system, y0, check_grid)
            fixed_point = three
            for _ in range(3):  # three sweeps more: the check grid's fixed point
                fixed_point = bz.collocate(
                    p.table, check_terms, p.log_shifts, system, y0, check_grid, fixed_point.stages
                )
            return one.y_dm, three.y_dm, fixed_point.y_dm, fine.newton_change

        thetas = pipeline.parameters(model, settings)
        one, three, fixed_point, newton_change = (np.asarray(x) for x in jax.jit(jax.vmap(both))(thetas))
        converged = newton_change <= pipeline.NEWTON_TOLERANCE
        assert converged.sum() >= n // 3, converged.sum()
        scale = np.where(fixed_point != 0, np.abs(fixed_point), 1.0)
        from_fine, from_zero = (np.abs(y - fixed_point)[converged] / scale[converged] for y in (one, three))
        assert np.all(from_fine <= from_zero + 1e-12), (from_fine, from_zero)
        assert np.all(from_fine <= pipeline.NEWTON_TOLERANCE), from_fine


# slow: three small configurations compiled (~25 s); by default test_collocation_matches_the_ode
# checks that the points whose DM thermalises get the ODE
@pytest.mark.slow
def test_collocation_falls_back_to_the_ode_where_its_checks_fail():
    # one mass pair (shared tables: the two-stage batch that collocates): freeze-in at 7.36e-13 is
    # collocated; freeze-out at 1e-3 is not a candidate (the DM thermalises) and the ODE solves it;
    # the dark photon in physical mode reads its labels off the solution, so the ODE solves every
    # point; without repeated masses every point gets the ODE
    uvmsm = uj.relic(uj.UVMSM(0.05, 0.2, np.array([7.36e-13, 1e-3])))
    steps = np.asarray(uvmsm.ode_steps)
    assert steps[0] == 0 and steps[1] > 50, steps
    assert list(uvmsm.mechanism_name) == ["freeze-in-resonant", "freeze-out"]
    distinct = uj.relic(uj.UVMSM(np.array([0.05, 0.06]), 0.2, 7.36e-13))
    assert np.all(np.asarray(distinct.ode_steps) > 0)
    dark_photon = uj.relic(uj.DarkPhotonDM(0.1, 0.03, np.array([1e-10, 2e-10]), 1e-4))
    assert np.all(np.asarray(dark_photon.ode_steps) > 0)


def compare(name: str, mode: str, n_masses: int, n_couplings: int, seed: int):
    fields = random_points(name, n_masses, n_couplings, seed)
    model = uj.model_spec(name).model(**fields)
    auto = uj.relic(model, uj.Settings(mode=mode))
    ode = uj.relic(model, uj.Settings(mode=mode, solver="ode"))
    collocated = np.asarray(auto.ode_steps) == 0
    return auto, ode, collocated


# the dark photon's paper mode: the slow test below
@pytest.mark.parametrize("name, mode", [("uvmsm", "physical")])
def test_collocation_matches_the_ode(name, mode):
    auto, ode, collocated = compare(name, mode, n_masses=4, n_couplings=8, seed=3)
    check_agreement(auto, ode, 32)
    assert collocated.sum() >= 8, collocated  # the draw exercises both routes
    assert not collocated.all()
    # a DM that thermalises is no candidate: the ODE solves it
    assert not np.any(collocated & np.asarray(ode.dm_thermalised))


# slow: 6 × 60 random points, both routes compiled for each configuration (~5 min)
@pytest.mark.slow
@pytest.mark.parametrize("name, mode", [("uvmsm", "physical"), ("uvmsm", "paper"), ("dark-photon", "paper")])
def test_collocation_matches_the_ode_on_random_points(name, mode):
    # the speed issue's acceptance: ≥ 200 random points across the regimes; the dark photon's physical
    # mode never collocates (test above)
    auto, ode, collocated = compare(name, mode, n_masses=20, n_couplings=12, seed=17)
    check_agreement(auto, ode, 240)
    assert collocated.sum() >= 40, collocated.sum()
    # the collocated points alone: as close to the ODE as the ODE's own tolerance error (the three
    # collocated points of a 4 × 64 grid farthest from the ODE, against rtol = 1e-11: collocation
    # ≤ 6.5e-8, the ODE at the default rtol up to 1.2e-5)
    a, b = np.asarray(auto.omega_h2)[collocated], np.asarray(ode.omega_h2)[collocated]
    with np.errstate(divide="ignore", invalid="ignore"):
        relative = np.where(a == b, 0.0, np.abs(a / b - 1.0))
    assert np.median(relative) <= 1e-6 and np.max(relative) <= 3e-5, (np.median(relative), np.max(relative))


@pytest.mark.parametrize("name", ["uvmsm", "dark-photon"])
def test_the_coupling_free_columns_do_not_depend_on_the_couplings(name):
    # the collocation computes the exponentials of a table's coupling-free columns from one point and
    # gives them to every coupling that uses the table; the couplings enter the columns only through
    # rates.coupling_log_shifts (whose powers test_registry checks through coupled_log_rates)
    from uvmsm_jax import pipeline
    from uvmsm_jax.rates import UnitRates, coupling_free_log_rates

    switches = pipeline.configure(name, uj.Settings(mode="physical")).physics.processes
    model = uj.model_spec(name).model_class
    masses = (0.05, 0.3)
    couplings = {"uvmsm": [(3e-5,), (0.7,)], "dark-photon": [(1e-6, 0.3), (0.02, 3e-4)]}[name]
    unit = UnitRates(*np.random.default_rng(5).uniform(-60.0, 40.0, size=(11, 64)))
    first, second = (np.asarray(coupling_free_log_rates(unit, model(*masses, *c).portal, switches)) for c in couplings)
    np.testing.assert_array_equal(first, second)
    assert np.isfinite(first).all()


def test_a_block_computes_its_collocation_terms_once_per_table_with_the_same_results():
    # the collocation stage on one block of 32 points: each point with its own terms, and the block's
    # 3 distinct tables with the terms of each computed once (how a scan's blocks run on CPU). The
    # masses below the pole (M_Z′ < 2M_N₁) have d̄_X ∝ e^{(2m − M)/T} at unit couplings, which
    # overflows without the terms' scale (NaN where Γ_X = 0 multiplies it)
    from uvmsm_jax import pipeline
    from uvmsm_jax._relic import _collocate_with_tables, _rate_tables

    config = pipeline.configure("uvmsm", uj.Settings(mode="physical"))
    masses = [(0.3, 0.3), (0.05, 0.3), (2.0, 1.0)]
    table_of = np.repeat(np.arange(3), [12, 12, 8])
    m_n1, m_zp = (np.array([masses[k][i] for k in table_of]) for i in (0, 1))
    g = np.geomspace(1e-12, 1e-9, 32)
    thetas = np.asarray(pipeline.parameters(uj.UVMSM(m_n1=m_n1, m_zp=m_zp, g_bl=g)))
    tables = _rate_tables(thetas, np.ones(32, bool), config)
    own, own_accepted = _collocate_with_tables(thetas, tables, config=config)
    first = np.array([12, 0, 24])  # the distinct tables in another order, padded with the last
    rows = np.concatenate([first, np.full(29, first[-1])])
    distinct = {key: np.asarray(value)[rows] for key, value in tables.items()}
    index = np.array([1, 0, 2])[table_of]
    shared, shared_accepted = _collocate_with_tables(thetas, distinct, index, config=config)
    assert np.all(own_accepted) and np.array_equal(own_accepted, shared_accepted)
    omega = np.asarray(own)[:, 0]
    assert np.all(np.isfinite(omega) & (omega > 0))
    np.testing.assert_allclose(np.asarray(shared), np.asarray(own), rtol=1e-12, atol=0)
