"""Direct unit tests of uvmsm_jax.boltzmann: the right-hand side of the coupled system, the rate
table (cubic Hermite interpolation of log rates, ``tabulate``), the LOG_ZERO convention,
``production_estimate`` and ``solve`` (docs/equations.md A.8.1, B.3–B.4).

The references are computed here in NumPy from the module docstring's equations

    dY_X/dτ = −k_a (Y_X² − Y_X,eq²) − (k_c Y_X² − k̄_c Y_V²) + 2 (d_X Y_V − d̄_X Y_X²)
    dY_V/dτ = −k_b (Y_V² − Y_V,eq²) + (k_c Y_X² − k̄_c Y_V²) − d_SM (Y_V − Y_V,eq) − ϑ (d_X Y_V − d̄_X Y_X²)

and from closed-form solutions of linear / Riccati special cases.
"""

import functools
import math

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import central_difference, convergence_order

import uvmsm_jax  # noqa: F401  (enables float64)
from uvmsm_jax import boltzmann as bz

COLUMN_NAMES = ("k_a", "k_b", "k_c", "k_c_reverse", "d_sm", "d_dm", "d_dm_inverse", "y_dm_eq", "y_v_eq")


def test_column_layout():
    """The column constants are the nine docstring coefficients in this order."""
    indices = [
        bz.LOG_K_A,
        bz.LOG_K_B,
        bz.LOG_K_C,
        bz.LOG_K_C_REVERSE,
        bz.LOG_D_SM,
        bz.LOG_D_DM,
        bz.LOG_D_DM_INVERSE,
        bz.LOG_Y_DM_EQ,
        bz.LOG_Y_V_EQ,
    ]
    assert indices == list(range(9)) and bz.N_COLUMNS == len(COLUMN_NAMES) == 9


def constant_table(log_columns, n=6, tau0=0.0, step=0.5):
    """A RateTable whose nine log columns are constant in τ (zero slopes)."""
    values = np.tile(np.asarray(log_columns, float), (n, 1))
    return bz.RateTable(
        tau0=jnp.asarray(tau0), step=jnp.asarray(step), values=jnp.asarray(values), slopes=jnp.zeros((n, bz.N_COLUMNS))
    )


def rhs_reference(coefficients, y, reduced=False, conversion_weight=1.0, depletes=True):
    """The docstring system in NumPy from linear coefficients (k_a, k_b, k_c, k̄_c, d_SM, d_X, d̄_X, Y_X,eq, Y_V,eq).
    Returns (dY_X/dτ, dY_V/dτ) and the list of the individual terms (for the size of round-off)."""
    k_a, k_b, k_c, k_cr, d_sm, d_x, d_xi, yx_eq, yv_eq = coefficients
    yx, yv = y
    if reduced:
        terms = [k_a * yx**2, k_a * yx_eq**2, conversion_weight * k_c * yx**2, conversion_weight * k_c * yx_eq**2]
        return np.array([-(k_a * (yx**2 - yx_eq**2)) - conversion_weight * k_c * (yx**2 - yx_eq**2), 0.0]), terms
    conversion = k_c * yx**2 - k_cr * yv**2
    dm_decay = d_x * yv - d_xi * yx**2
    theta = 1.0 if depletes else 0.0
    d_yx = -k_a * (yx**2 - yx_eq**2) - conversion + 2.0 * dm_decay
    d_yv = -k_b * (yv**2 - yv_eq**2) + conversion - d_sm * (yv - yv_eq) - theta * dm_decay
    terms = [
        k_a * yx**2,
        k_a * yx_eq**2,
        k_b * yv**2,
        k_b * yv_eq**2,
        k_c * yx**2,
        k_cr * yv**2,
        d_x * yv,
        d_xi * yx**2,
        d_sm * yv,
        d_sm * yv_eq,
    ]
    return np.array([d_yx, d_yv]), terms


def random_log_columns(rng):
    """ln of random positive coefficients spanning several decades; yields Y_eq ~ 1e-4 … 1e-1."""
    logs = rng.uniform(-6.0, 6.0, 9)
    logs[bz.LOG_Y_DM_EQ], logs[bz.LOG_Y_V_EQ] = rng.uniform(-9.0, -2.0, 2)
    return logs


@eqx.filter_jit
def _rhs_jit(table, y, switches, weight, tau):
    return bz.right_hand_side(tau, y, (table, switches, weight))


@eqx.filter_jit
def table_at(table, tau):
    """The table's interpolated log columns at the 1-D array ``tau`` → (len(tau), N_COLUMNS)."""
    return jax.vmap(table)(tau)


@eqx.filter_jit
def rhs_jacobian_y(table, y, tau):
    """∂(dY_X/dτ, dY_V/dτ)/∂(Y_X, Y_V) (full system) by forward mode, jitted."""
    return jax.jacfwd(lambda yy: bz.right_hand_side(tau, yy, (table, bz.SystemSwitches(), 1.0)))(y)


@eqx.filter_jit
def rhs_v_gradient_values(table, y, tau):
    """∂(dY_V/dτ)/∂(table.values) by reverse mode, jitted."""

    def d_v(values):
        t = bz.RateTable(tau0=table.tau0, step=table.step, values=values, slopes=table.slopes)
        return bz.right_hand_side(tau, y, (t, bz.SystemSwitches(), 1.0))[1]

    return jax.grad(d_v)(table.values)


tabulate = eqx.filter_jit(bz.tabulate)
"""``bz.tabulate`` jitted (``log_rates_at_tau`` and ``n_grid`` static): far cheaper than its eager vmap."""


def _f64(x):
    return jnp.asarray(x, dtype=jnp.float64)  # strongly typed: one compilation per shape


FULL_SYSTEM = bz.SystemSwitches()


def rhs(table, y, switches=FULL_SYSTEM, weight=1.0, tau=0.3):
    """right_hand_side(τ, y, (table, switches, weight)) as a NumPy array (jitted)."""
    return np.asarray(_rhs_jit(jax.tree.map(_f64, table), _f64(y), switches, _f64(weight), _f64(tau)))


# --- (a) the right-hand side against the docstring formula -----------------------------------------


def test_rhs_equals_the_docstring_formula_for_random_states():
    rng = np.random.default_rng(11)
    for _ in range(20):
        logs = random_log_columns(rng)
        y = 10 ** rng.uniform(-8, -1, 2)
        expected, terms = rhs_reference(np.exp(logs), y)
        got = rhs(constant_table(logs), y, tau=rng.uniform(0.0, 2.5))
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-14 * max(map(abs, terms)))


def test_rhs_uses_the_interpolated_columns_at_tau():
    """With τ-dependent columns the RHS at τ equals the formula with the table's interpolated
    coefficients exp(table(τ)) (checked between nodes)."""
    rng = np.random.default_rng(5)
    n = 9
    values = rng.uniform(-4.0, 4.0, (n, 9))
    values[:, bz.LOG_Y_DM_EQ] -= 6.0
    values[:, bz.LOG_Y_V_EQ] -= 6.0
    table = bz.RateTable(
        tau0=jnp.asarray(1.0),
        step=jnp.asarray(0.25),
        values=jnp.asarray(values),
        slopes=jnp.asarray(rng.normal(size=(n, 9))),
    )
    y = np.array([3e-4, 2e-3])
    taus = np.array([1.0, 1.13, 1.9, 2.99])
    for tau, q in zip(taus, np.asarray(table_at(table, _f64(taus)))):
        coefficients = np.exp(q)
        expected, terms = rhs_reference(coefficients, y)
        np.testing.assert_allclose(rhs(table, y, tau=tau), expected, rtol=0, atol=1e-14 * max(map(abs, terms)))


# --- (b) equilibrium is a fixed point ----------------------------------------------------------------


def detailed_balance_columns(log_k_a, log_k_b, log_k_c, log_d_sm, log_d_dm, log_y_dm_eq, log_y_v_eq):
    """The nine columns with k̄_c = k_c Y_X,eq²/Y_V,eq² and d̄_X = d_X Y_V,eq/Y_X,eq² (MB detailed balance)."""
    return jnp.stack(
        [
            log_k_a,
            log_k_b,
            log_k_c,
            log_k_c + 2 * (log_y_dm_eq - log_y_v_eq),
            log_d_sm,
            log_d_dm,
            log_d_dm + log_y_v_eq - 2 * log_y_dm_eq,
            log_y_dm_eq,
            log_y_v_eq,
        ],
        axis=-1,
    )


_EQ_OFFSETS = np.random.default_rng(30).uniform(-3, 3, 7)


def _equilibrium_log_rates(tau):
    """Smooth τ-dependent rates (τ ∈ [0, 3]) with detailed-balance-consistent reverse columns."""
    a, x = _EQ_OFFSETS, jnp.exp(tau)
    base = jnp.array(
        [
            a[0] - 2 * tau,
            a[1] + jnp.sin(tau),
            a[2] - tau,
            a[3] + 0.5 * tau,
            a[4] + tau,
            -5.0 + 0.3 * a[5] - x / 3,
            -6.0 + 0.3 * a[6] - 0.5 * x,
        ]
    )
    return detailed_balance_columns(*base), None


@functools.cache
def _equilibrium_table():
    return tabulate(_equilibrium_log_rates, _f64(0.0), _f64(3.0), 13)[0]


@pytest.mark.parametrize(
    "switches",
    [bz.SystemSwitches(), bz.SystemSwitches(dm_decay_depletes_mediator=False), bz.SystemSwitches(reduced=True)],
    ids=["full", "no-depletion", "reduced"],
)
def test_equilibrium_is_a_fixed_point(switches):
    """At Y = Y_eq for both species every bracket vanishes: |RHS| ≤ 1e-14 × the largest single term,
    for constant columns and between the nodes of a τ-dependent table built by ``tabulate``
    (Hermite interpolation is linear in the data, so the detailed-balance relations survive it)."""
    rng = np.random.default_rng(3)
    for _ in range(10):
        logs = np.asarray(detailed_balance_columns(*rng.uniform(-6, 6, 5), *rng.uniform(-9, -2, 2)))
        y_eq = np.exp(logs[[bz.LOG_Y_DM_EQ, bz.LOG_Y_V_EQ]])
        _, terms = rhs_reference(np.exp(logs), y_eq)
        got = rhs(constant_table(logs), y_eq, switches, weight=0.7)
        assert np.all(np.abs(got) <= 1e-14 * max(map(abs, terms))), got

    table = _equilibrium_table()
    taus_between = rng.uniform(0.0, 3.0, 8)
    for tau, q in zip(taus_between, np.asarray(table_at(table, _f64(taus_between)))):
        y_eq = np.exp(q[[bz.LOG_Y_DM_EQ, bz.LOG_Y_V_EQ]])
        _, terms = rhs_reference(np.exp(q), y_eq)
        got = rhs(table, y_eq, switches, weight=0.7, tau=tau)
        assert np.all(np.abs(got) <= 1e-14 * max(map(abs, terms))), (tau, got)


# --- (c) the switches ---------------------------------------------------------------------------------


def test_switches_change_exactly_their_terms():
    rng = np.random.default_rng(8)
    for _ in range(10):
        logs = random_log_columns(rng)
        c = np.exp(logs)
        y = 10 ** rng.uniform(-7, -1, 2)
        table = constant_table(logs)
        full = rhs(table, y)
        no_depletion = rhs(table, y, bz.SystemSwitches(dm_decay_depletes_mediator=False))
        dm_decay = c[bz.LOG_D_DM] * y[1] - c[bz.LOG_D_DM_INVERSE] * y[0] ** 2
        scale = 1e-14 * max(map(abs, rhs_reference(c, y)[1]))
        # ϑ = 0: dY_V/dτ gains +(d_X Y_V − d̄_X Y_X²); dY_X/dτ (with its factor 2) is untouched
        assert no_depletion[0] == pytest.approx(full[0], abs=scale)
        assert no_depletion[1] - full[1] == pytest.approx(dm_decay, abs=scale)
        expected, _ = rhs_reference(c, y, depletes=False)
        np.testing.assert_allclose(no_depletion, expected, rtol=0, atol=scale)
        # reduced (A38): only Y_X evolves, conversion −w k_c (Y_X² − Y_X,eq²), no k_b, k̄_c or decays
        for weight in (0.0, 0.35, 1.0):
            reduced = rhs(table, y, bz.SystemSwitches(reduced=True), weight=weight)
            expected, terms = rhs_reference(c, y, reduced=True, conversion_weight=weight)
            assert reduced[1] == 0.0
            assert reduced[0] == pytest.approx(expected[0], abs=1e-14 * max(map(abs, terms)))
        # reduced ignores every column of the full system that (A38) does not contain
        other = logs.copy()
        for col in (bz.LOG_K_B, bz.LOG_K_C_REVERSE, bz.LOG_D_SM, bz.LOG_D_DM, bz.LOG_D_DM_INVERSE, bz.LOG_Y_V_EQ):
            other[col] = rng.uniform(-6, 6)
        assert np.array_equal(
            rhs(constant_table(other), y, bz.SystemSwitches(reduced=True), 0.35),
            rhs(table, y, bz.SystemSwitches(reduced=True), 0.35),
        )


def test_conversion_weight_only_acts_in_the_reduced_system():
    logs = random_log_columns(np.random.default_rng(2))
    table, y = constant_table(logs), np.array([1e-3, 4e-3])
    assert np.array_equal(rhs(table, y, weight=0.1), rhs(table, y, weight=0.9))


# --- (d) the rate table ---------------------------------------------------------------------------------


def polynomial_table(coefficients, tau0, step, n):
    """Nodes and exact slopes of the cubic p_j(τ) = Σ_k c_jk (τ − 1)^k per column."""
    taus = tau0 + step * np.arange(n)
    u = taus[:, None] - 1.0
    c = np.asarray(coefficients)
    values = c[:, 0] + c[:, 1] * u + c[:, 2] * u**2 + c[:, 3] * u**3
    slopes = c[:, 1] + 2 * c[:, 2] * u + 3 * c[:, 3] * u**2
    return bz.RateTable(
        tau0=jnp.asarray(tau0), step=jnp.asarray(step), values=jnp.asarray(values), slopes=jnp.asarray(slopes)
    )


def test_hermite_interpolation_reproduces_cubics():
    rng = np.random.default_rng(4)
    coefficients = rng.normal(size=(9, 4))
    table = polynomial_table(coefficients, -0.5, 0.37, 12)
    tau = rng.uniform(-0.5, -0.5 + 0.37 * 11, 50)
    got = np.asarray(table_at(table, _f64(tau)))
    u = tau[:, None] - 1.0
    expected = coefficients[:, 0] + coefficients[:, 1] * u + coefficients[:, 2] * u**2 + coefficients[:, 3] * u**3
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-13 * np.abs(expected).max())
    # nodes are hit exactly; outside the grid the value is clamped to the end nodes
    nodes = np.asarray(table_at(table, _f64(-0.5 + 0.37 * np.arange(12))))
    np.testing.assert_allclose(nodes, np.asarray(table.values), rtol=0, atol=1e-14 * np.abs(expected).max())
    outside = np.asarray(table_at(table, _f64([-3.0, 40.0])))
    np.testing.assert_array_equal(outside, np.asarray(table.values)[[0, -1]])


FUNCTIONS = (  # (f, f′) per column, smooth on [0, 2]
    (np.exp, np.exp),
    (lambda t: np.sin(3 * t), lambda t: 3 * np.cos(3 * t)),
    (lambda t: -np.exp(-2 * t), lambda t: 2 * np.exp(-2 * t)),
)


def _smooth_log_rates(tau):
    cols = [jnp.exp(tau), jnp.sin(3 * tau), -jnp.exp(-2 * tau)]
    return jnp.stack(cols * 3), tau**2


@functools.cache
def _tabulated(n):
    """``tabulate`` of :func:`_smooth_log_rates` on [0, 2] with n nodes (cached: several checks share it)."""
    return tabulate(_smooth_log_rates, _f64(0.0), _f64(2.0), n)


def _table_with_exact_slopes(n):
    taus = np.linspace(0.0, 2.0, n)
    values = np.stack([f(taus) for f, _ in FUNCTIONS] * 3, axis=1)
    slopes = np.stack([df(taus) for _, df in FUNCTIONS] * 3, axis=1)
    return bz.RateTable(
        tau0=jnp.asarray(0.0),
        step=jnp.asarray(taus[1] - taus[0]),
        values=jnp.asarray(values),
        slopes=jnp.asarray(slopes),
    )


def _max_error(table, lo, hi):
    tau = np.linspace(lo, hi, 401)
    got = np.asarray(table_at(table, _f64(tau)))
    exact = np.stack([f(tau) for f, _ in FUNCTIONS] * 3, axis=1)
    return np.abs(got - exact).max()


def test_hermite_interpolation_converges_as_h4():
    """Exact node slopes: error ≤ h⁴ max|f⁽⁴⁾|/384 and halving h divides it by 16."""
    error = lambda h: _max_error(_table_with_exact_slopes(round(2.0 / h) + 1), 0.0, 2.0)
    h = 0.1
    assert error(h) <= h**4 * 81 / 384 * 1.01  # max|f⁽⁴⁾| on [0, 2]: 81 (sin 3τ) > 16 (e^{−2τ}) > e² (e^τ)
    assert convergence_order(error, h) == pytest.approx(4.0, abs=0.1)


def test_tabulate_slopes_and_interpolation_order():
    """``tabulate``: nodes on linspace(τ_start, τ_end, n), aux stacked; slopes are the 4th-order
    5-point differences inside (error ratio 16 when h halves) and 2nd-order one-sided ones at the two
    first and two last nodes (ratio 4); the interpolant converges as h⁴ away from the ends."""
    table, taus, aux = _tabulated(21)
    np.testing.assert_allclose(np.asarray(taus), np.linspace(0.0, 2.0, 21), rtol=1e-15)
    np.testing.assert_allclose(np.asarray(aux), np.linspace(0.0, 2.0, 21) ** 2, rtol=1e-14)
    assert float(table.tau0) == 0.0 and float(table.step) == pytest.approx(0.1, rel=1e-14)

    def slope_error(h, nodes):
        n = round(2.0 / h) + 1
        tab, t, _ = _tabulated(n)
        t = np.asarray(t)
        exact = np.stack([df(t) for _, df in FUNCTIONS] * 3, axis=1)
        err = np.abs(np.asarray(tab.slopes) - exact)
        picked = {"interior": err[2:-2], "ends": np.concatenate([err[:2], err[-2:]])}[nodes]
        return picked.max()

    assert convergence_order(lambda h: slope_error(h, "interior"), 0.05) == pytest.approx(4.0, abs=0.15)
    assert convergence_order(lambda h: slope_error(h, "ends"), 0.05) == pytest.approx(2.0, abs=0.15)

    def interpolation_error(h, lo, hi):
        tab, _, _ = _tabulated(round(2.0 / h) + 1)
        return _max_error(tab, lo, hi)

    # [0.4, 1.6] stays ≥ 2 intervals from the ends for h ≤ 0.2: slope errors O(h⁴) → values O(h⁴)
    assert convergence_order(lambda h: interpolation_error(h, 0.4, 1.6), 0.1) == pytest.approx(4.0, abs=0.2)
    # first interval: the O(h²) end slope enters as h·O(h²) → O(h³) there
    assert convergence_order(lambda h: interpolation_error(h, 0.0, h), 0.05) == pytest.approx(3.0, abs=0.2)


# --- (e) LOG_ZERO ---------------------------------------------------------------------------------------


def test_log_or_zero_and_the_log_zero_convention():
    x = jnp.array([2.5, 1e-300, 0.0, -1.0])
    got = np.asarray(bz.log_or_zero(x))
    assert got[0] == math.log(2.5) and got[1] == pytest.approx(math.log(1e-300), rel=1e-15)
    assert got[2] == got[3] == bz.LOG_ZERO
    # exp gives exactly 0, also after adding finite logs (detailed-balance shifts, Boltzmann exponents)
    assert float(jnp.exp(bz.LOG_ZERO)) == 0.0
    assert float(jnp.exp(bz.LOG_ZERO + 700.0)) == 0.0 and float(jnp.exp(bz.LOG_ZERO + 2 * (-30.0 - (-40.0)))) == 0.0
    assert float(jnp.logaddexp(bz.LOG_ZERO, math.log(3.0))) == pytest.approx(math.log(3.0), rel=1e-15)
    grads = np.asarray(jax.vmap(jax.grad(bz.log_or_zero))(x))
    np.testing.assert_array_equal(grads[2:], [0.0, 0.0])
    assert grads[0] == pytest.approx(1 / 2.5, rel=1e-15)


def test_log_zero_columns_give_exact_zero_terms_and_finite_gradients():
    """A table with every process off except V → SM decays: dY_X/dτ is exactly 0; the Jacobian in y
    and the gradient in the table values are NaN-free and equal their analytic values."""
    logs = np.full(9, bz.LOG_ZERO)
    logs[bz.LOG_D_SM], logs[bz.LOG_Y_V_EQ], logs[bz.LOG_Y_DM_EQ] = math.log(4.0), math.log(1e-3), math.log(2e-3)
    table = constant_table(logs)
    y = jnp.array([5e-4, 3e-3])
    got = rhs(table, y)
    assert got[0] == 0.0
    assert got[1] == pytest.approx(-4.0 * (3e-3 - 1e-3), rel=1e-14)
    jac = np.asarray(rhs_jacobian_y(table, y, _f64(0.2)))
    assert jac[0, 0] == jac[0, 1] == jac[1, 0] == 0.0
    assert jac[1, 1] == pytest.approx(-4.0, rel=1e-15)
    grad = np.asarray(rhs_v_gradient_values(table, y, _f64(0.2))).sum(axis=0)  # constant columns: sum over nodes
    assert np.all(np.isfinite(grad))
    expected = np.zeros(9)
    expected[bz.LOG_D_SM] = -4.0 * (3e-3 - 1e-3)  # ∂/∂ln d_SM
    expected[bz.LOG_Y_V_EQ] = 4.0 * 1e-3  # ∂/∂ln Y_V,eq of +d_SM Y_V,eq
    np.testing.assert_allclose(grad, expected, rtol=1e-13, atol=1e-300)


def test_rhs_gradient_matches_central_differences():
    """∂RHS/∂y by jax vs 5-point differences at a generic state (all columns finite)."""
    logs = random_log_columns(np.random.default_rng(9))
    table = constant_table(logs)
    y0 = np.array([2e-3, 7e-4])
    jac = np.asarray(rhs_jacobian_y(table, _f64(y0), _f64(0.2)))
    fd = central_difference(lambda yy: rhs(table, yy, tau=0.2), y0, 1e-3, 4, relative=True)  # rows: ∂/∂y_i
    np.testing.assert_allclose(jac, fd.T, rtol=1e-9, atol=1e-12 * np.abs(jac).max())


# --- (f) production estimate ------------------------------------------------------------------------------


def test_production_estimate_is_the_trapezoid_of_the_sources():
    rng = np.random.default_rng(6)
    n = 17
    values = rng.uniform(-8.0, 2.0, (n, 9))
    values[:, bz.LOG_Y_DM_EQ] = rng.uniform(-9, -3, n)
    values[:, bz.LOG_Y_V_EQ] = rng.uniform(-9, -3, n)
    values[5:9, bz.LOG_K_C_REVERSE] = bz.LOG_ZERO  # a switched-off process on part of the grid
    taus = np.linspace(-1.0, 4.0, n)
    table = bz.RateTable(
        tau0=jnp.asarray(-1.0),
        step=jnp.asarray(taus[1] - taus[0]),
        values=jnp.asarray(values),
        slopes=jnp.zeros((n, 9)),
    )
    e = np.exp(values)
    source = (
        e[:, bz.LOG_K_A] * e[:, bz.LOG_Y_DM_EQ] ** 2
        + e[:, bz.LOG_K_C_REVERSE] * e[:, bz.LOG_Y_V_EQ] ** 2
        + 2 * e[:, bz.LOG_D_DM] * e[:, bz.LOG_Y_V_EQ]
    )
    expected = np.sum(0.5 * (source[1:] + source[:-1]) * np.diff(taus))
    assert float(bz.production_estimate(table, jnp.asarray(taus))) == pytest.approx(expected, rel=1e-13)


# --- (g) solve against closed-form solutions --------------------------------------------------------------


def _solve(table, y0, save_taus, tau_end):
    """bz.solve with strongly typed float64 leaves, so both solve tests share one compilation."""
    return bz.solve(
        jax.tree.map(_f64, table),
        bz.SystemSwitches(),
        _f64(1.0),
        _f64(y0),
        _f64(0.0),
        _f64(tau_end),
        rtol=1e-10,
        atol=_f64(1e-22),
        max_steps=4096,
        adjoint=diffrax.RecursiveCheckpointAdjoint(),
        save_taus=_f64(save_taus),
    )


TAU_END = 4.0
N_GRID = 33
SAVE = np.array([0.05, 0.3, 1.0, 2.2, 4.0])


def test_solve_linear_decays_and_decay_production():
    """Constant d_SM, d_X (no 2 → 2, no inverse decay to DM): with Γ = d_SM + d_X and A = d_SM Y_V,eq/Γ,
    Y_V = A + (Y_V0 − A) e^{−Γτ},  Y_X = Y_X0 + 2 d_X [A τ + (Y_V0 − A)(1 − e^{−Γτ})/Γ]  (cf. B.4).
    Γ = 60 makes the start stiff (Γ·Δτ_total = 240)."""
    d_sm, d_x, y_eq, y_v0, y_x0 = 50.0, 10.0, 1e-3, 5e-3, 1e-6
    logs = np.full(9, bz.LOG_ZERO)
    logs[bz.LOG_D_SM], logs[bz.LOG_D_DM], logs[bz.LOG_Y_V_EQ], logs[bz.LOG_Y_DM_EQ] = map(
        math.log, (d_sm, d_x, y_eq, 2e-3)
    )
    table, _, _ = tabulate(lambda tau: (jnp.asarray(logs) + 0.0 * tau, None), _f64(0.0), _f64(TAU_END), N_GRID)
    sol = _solve(table, [y_x0, y_v0], SAVE, TAU_END)
    assert sol.result == diffrax.RESULTS.successful
    gamma = d_sm + d_x
    a = d_sm * y_eq / gamma
    decay = np.exp(-gamma * SAVE)
    y_v = a + (y_v0 - a) * decay
    y_x = y_x0 + 2 * d_x * (a * SAVE + (y_v0 - a) * (1 - decay) / gamma)
    np.testing.assert_allclose(np.asarray(sol.ys)[:, 1], y_v, rtol=1e-7)
    np.testing.assert_allclose(np.asarray(sol.ys)[:, 0], y_x, rtol=1e-7)


def test_solve_time_dependent_decay_and_riccati_annihilation():
    """Through the interpolated table: ln d_SM = ln c + bτ (exact for the Hermite cubic) gives
    Y_V − Y_V,eq = (Y_V0 − Y_V,eq) exp[−(c/b)(e^{bτ} − 1)]; with only k_a (constant) for the DM,
    dY_X/dτ = −k_a (Y_X² − Y_eq²) from Y_X(0) = 0 gives Y_X = Y_eq tanh(k_a Y_eq τ)."""
    c, b, y_v_eq, y_v0 = 2.0, 1.5, 1e-4, 3e-3
    k_a, y_x_eq = 2e3, 1e-3

    def log_rates(tau):
        col = jnp.full(9, bz.LOG_ZERO)
        col = col.at[bz.LOG_D_SM].set(math.log(c) + b * tau).at[bz.LOG_Y_V_EQ].set(math.log(y_v_eq))
        col = col.at[bz.LOG_K_A].set(math.log(k_a)).at[bz.LOG_Y_DM_EQ].set(math.log(y_x_eq))
        return col, None

    table, _, _ = tabulate(log_rates, _f64(0.0), _f64(TAU_END), N_GRID)
    sol = _solve(table, [0.0, y_v0], SAVE, TAU_END)
    assert sol.result == diffrax.RESULTS.successful
    y_v = y_v_eq + (y_v0 - y_v_eq) * np.exp(-(c / b) * (np.exp(b * SAVE) - 1))
    y_x = y_x_eq * np.tanh(k_a * y_x_eq * SAVE)
    ys = np.asarray(sol.ys)
    np.testing.assert_allclose(ys[:, 1], y_v, rtol=1e-7)
    np.testing.assert_allclose(ys[:, 0], y_x, rtol=1e-7)
