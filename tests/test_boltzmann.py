"""Direct unit tests of uvmsm_jax.boltzmann: the right-hand side of the coupled system, the rate
table (cubic Hermite interpolation of log rates, ``interpolant``), the LOG_ZERO convention,
``production_estimates`` and ``solve`` (docs/equations.md A.8.1, B.3–B.4), and the adiabatic
elimination of the mediator (``yields``, ``eliminates_mediator``; docs/equations.md (H13′)).

The references are computed here in NumPy from the module docstring's equations

    dY_X/dτ = −k_a (Y_X² − Y_X,eq²) − (k_c Y_X² − k̄_c Y_V²) + 2 (d_X Y_V − d̄_X Y_X²)
    dY_V/dτ = −k_b (Y_V² − Y_V,eq²) + (k_c Y_X² − k̄_c Y_V²) − d_SM (Y_V − Y_V,eq) − ϑ (d_X Y_V − d̄_X Y_X²)

with k_a = e^{LOG_K_A} − e^{LOG_K_A_SHIFT} (the off-pole part of (H11) may be negative), and from
closed-form solutions of linear / Riccati special cases.
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

COLUMN_NAMES = (
    "k_a",
    "k_b",
    "k_c",
    "k_c_reverse",
    "d_sm",
    "d_dm",
    "d_dm_inverse",
    "y_dm_eq",
    "y_v_eq",
    "k_a_shift",
)


def test_column_layout():
    """The column constants are the nine docstring coefficients and the k_a shift, in this order."""
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
        bz.LOG_K_A_SHIFT,
    ]
    assert indices == list(range(10)) and bz.N_COLUMNS == len(COLUMN_NAMES) == 10


def constant_table(log_columns, n=6, tau0=0.0, step=0.5):
    """A RateTable whose N_COLUMNS log columns are constant in τ (zero slopes and curvatures)."""
    assert len(log_columns) == bz.N_COLUMNS
    values = np.tile(np.asarray(log_columns, float), (n, 1))
    zeros = jnp.zeros((n, bz.N_COLUMNS))
    return bz.RateTable(
        tau0=jnp.asarray(tau0), step=jnp.asarray(step), values=jnp.asarray(values), slopes=zeros, curvatures=zeros
    )


def rhs_reference(coefficients, y, reduced=False, conversion_weight=1.0, depletes=True):
    """The docstring system in NumPy from linear coefficients (k_a, k_b, k_c, k̄_c, d_SM, d_X, d̄_X, Y_X,eq, Y_V,eq,
    k_a,shift), with the annihilation coefficient k_a − k_a,shift. Returns (dY_X/dτ, dY_V/dτ) and the list of
    the individual terms (for the size of round-off)."""
    k_a_plus, k_b, k_c, k_cr, d_sm, d_x, d_xi, yx_eq, yv_eq, k_a_shift = coefficients
    k_a = k_a_plus - k_a_shift
    yx, yv = y
    annihilation_terms = [k_a_plus * yx**2, k_a_plus * yx_eq**2, k_a_shift * yx**2, k_a_shift * yx_eq**2]
    if reduced:
        terms = annihilation_terms + [conversion_weight * k_c * yx**2, conversion_weight * k_c * yx_eq**2]
        return np.array([-(k_a * (yx**2 - yx_eq**2)) - conversion_weight * k_c * (yx**2 - yx_eq**2), 0.0]), terms
    conversion = k_c * yx**2 - k_cr * yv**2
    dm_decay = d_x * yv - d_xi * yx**2
    theta = 1.0 if depletes else 0.0
    d_yx = -k_a * (yx**2 - yx_eq**2) - conversion + 2.0 * dm_decay
    d_yv = -k_b * (yv**2 - yv_eq**2) + conversion - d_sm * (yv - yv_eq) - theta * dm_decay
    terms = annihilation_terms + [
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


def random_log_columns(rng, shift=False):
    """ln of random positive coefficients spanning several decades; yields Y_eq ~ 1e-4 … 1e-1. Without
    ``shift`` the k_a shift is zero (LOG_ZERO); with it k_a,shift = k_a e^{u}, u ∈ [−3, 1], so the net
    k_a − k_a,shift takes either sign."""
    logs = rng.uniform(-6.0, 6.0, bz.N_COLUMNS)
    logs[bz.LOG_Y_DM_EQ], logs[bz.LOG_Y_V_EQ] = rng.uniform(-9.0, -2.0, 2)
    logs[bz.LOG_K_A_SHIFT] = logs[bz.LOG_K_A] + rng.uniform(-3.0, 1.0) if shift else bz.LOG_ZERO
    return logs


@eqx.filter_jit
def _rhs_jit(table, y, switches, weight, adiabatic, tau):
    return bz.right_hand_side(tau, y, (table, switches, weight, adiabatic))


@eqx.filter_jit
def table_at(table, tau):
    """The table's interpolated log columns at the 1-D array ``tau`` → (len(tau), N_COLUMNS)."""
    return jax.vmap(table)(tau)


@eqx.filter_jit
def rhs_jacobian_y(table, y, tau):
    """∂(dY_X/dτ, dY_V/dτ)/∂(Y_X, Y_V) (full system) by forward mode, jitted."""
    args = (table, bz.SystemSwitches(), 1.0, jnp.asarray(False))
    return jax.jacfwd(lambda yy: bz.right_hand_side(tau, yy, args))(y)


@eqx.filter_jit
def rhs_v_gradient_values(table, y, tau):
    """∂(dY_V/dτ)/∂(table.values) by reverse mode, jitted."""

    def d_v(values):
        t = bz.RateTable(
            tau0=table.tau0, step=table.step, values=values, slopes=table.slopes, curvatures=table.curvatures
        )
        return bz.right_hand_side(tau, y, (t, bz.SystemSwitches(), 1.0, jnp.asarray(False)))[1]

    return jax.grad(d_v)(table.values)


@eqx.filter_jit  # ``log_rates_at_tau`` and ``n_grid`` static: far cheaper than an eager vmap
def tabulate(log_rates_at_tau, tau_start, tau_end, n_grid):
    """``log_rates_at_tau(τ) -> (columns (N_COLUMNS,), aux)`` on linspace(τ_start, τ_end, n_grid): its
    :func:`bz.interpolant`, the grid and the stacked aux (the library builds its tables the same way)."""
    taus = jnp.linspace(tau_start, tau_end, n_grid)
    values, aux = jax.vmap(log_rates_at_tau)(taus)
    return bz.interpolant(values, taus), taus, aux


def _f64(x):
    return jnp.asarray(x, dtype=jnp.float64)  # strongly typed: one compilation per shape


FULL_SYSTEM = bz.SystemSwitches()


ADIABATIC_SYSTEM = bz.SystemSwitches(adiabatic_mediator=True)


def rhs(table, y, switches=FULL_SYSTEM, weight=1.0, tau=0.3, adiabatic=False):
    """right_hand_side(τ, y, (table, switches, weight, adiabatic)) as a NumPy array (jitted)."""
    return np.asarray(
        _rhs_jit(jax.tree.map(_f64, table), _f64(y), switches, _f64(weight), jnp.asarray(adiabatic), _f64(tau))
    )


# --- (a) the right-hand side against the docstring formula -----------------------------------------


def test_rhs_equals_the_docstring_formula_for_random_states():
    """Random columns and states, without a k_a shift and with one (net k_a of either sign), for the
    full and the reduced system."""
    rng = np.random.default_rng(11)
    net_k_a = []
    for i in range(30):
        logs = random_log_columns(rng, shift=i % 3 != 0)
        c = np.exp(logs)
        net_k_a.append(c[bz.LOG_K_A] - c[bz.LOG_K_A_SHIFT])
        y = 10 ** rng.uniform(-8, -1, 2)
        tau = rng.uniform(0.0, 2.5)
        expected, terms = rhs_reference(c, y)
        got = rhs(constant_table(logs), y, tau=tau)
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-14 * max(map(abs, terms)))
        expected, terms = rhs_reference(c, y, reduced=True, conversion_weight=0.35)
        got = rhs(constant_table(logs), y, bz.SystemSwitches(reduced=True), weight=0.35, tau=tau)
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-14 * max(map(abs, terms)))
    net_k_a = np.array(net_k_a)
    assert np.any(net_k_a < 0) and np.any(net_k_a[np.arange(30) % 3 != 0] > 0)  # shifted draws of both signs


def test_rhs_uses_the_interpolated_columns_at_tau():
    """With τ-dependent columns the RHS at τ equals the formula with the table's interpolated
    coefficients exp(table(τ)) (checked between nodes; the k_a shift column is τ-dependent too)."""
    rng = np.random.default_rng(5)
    n = 9
    values = rng.uniform(-4.0, 4.0, (n, bz.N_COLUMNS))
    values[:, bz.LOG_Y_DM_EQ] -= 6.0
    values[:, bz.LOG_Y_V_EQ] -= 6.0
    table = bz.RateTable(
        tau0=jnp.asarray(1.0),
        step=jnp.asarray(0.25),
        values=jnp.asarray(values),
        slopes=jnp.asarray(rng.normal(size=(n, bz.N_COLUMNS))),
        curvatures=jnp.asarray(rng.normal(size=(n, bz.N_COLUMNS))),
    )
    y = np.array([3e-4, 2e-3])
    taus = np.array([1.0, 1.13, 1.9, 2.99])
    for tau, q in zip(taus, np.asarray(table_at(table, _f64(taus)))):
        coefficients = np.exp(q)
        expected, terms = rhs_reference(coefficients, y)
        np.testing.assert_allclose(rhs(table, y, tau=tau), expected, rtol=0, atol=1e-14 * max(map(abs, terms)))


# --- (b) equilibrium is a fixed point ----------------------------------------------------------------


def detailed_balance_columns(
    log_k_a, log_k_b, log_k_c, log_d_sm, log_d_dm, log_y_dm_eq, log_y_v_eq, log_k_a_shift=bz.LOG_ZERO
):
    """The N_COLUMNS columns with k̄_c = k_c Y_X,eq²/Y_V,eq² and d̄_X = d_X Y_V,eq/Y_X,eq² (MB detailed
    balance); no k_a shift unless ``log_k_a_shift`` is given."""
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
            jnp.broadcast_to(log_k_a_shift, jnp.shape(log_k_a)),
        ],
        axis=-1,
    )


_EQ_OFFSETS = np.random.default_rng(30).uniform(-3, 3, 7)


def _equilibrium_log_rates(tau):
    """Smooth τ-dependent rates (τ ∈ [0, 3]) with detailed-balance-consistent reverse columns and a
    k_a shift that exceeds k_a below τ = 1 (net k_a changes sign there)."""
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
            a[0] - 2.5 * tau + 0.5,
        ]
    )
    return detailed_balance_columns(*base), None


@functools.cache
def _equilibrium_table():
    return tabulate(_equilibrium_log_rates, _f64(0.0), _f64(3.0), 13)[0]


@pytest.mark.parametrize(
    ("switches", "adiabatic"),
    [
        (bz.SystemSwitches(), False),
        (bz.SystemSwitches(dm_decay_depletes_mediator=False), False),
        (bz.SystemSwitches(reduced=True), False),
        (ADIABATIC_SYSTEM, False),
        (ADIABATIC_SYSTEM, True),
    ],
    ids=["full", "no-depletion", "reduced", "adiabatic-switch-off", "adiabatic"],
)
def test_equilibrium_is_a_fixed_point(switches, adiabatic):
    """At Y = Y_eq for both species every bracket vanishes: |RHS| ≤ 1e-14 × the largest single term,
    for constant columns (with and without a k_a shift) and between the nodes of a τ-dependent table
    built by ``tabulate`` (Hermite interpolation is linear in the data, so the detailed-balance
    relations survive it). In the adiabatic form the state is N_eq = Y_X,eq + 2Y_V,eq."""

    def state(y_eq):
        return np.array([y_eq[0] + 2 * y_eq[1], 0.0]) if adiabatic else y_eq

    rng = np.random.default_rng(3)
    for i in range(10):
        base = [*rng.uniform(-6, 6, 5), *rng.uniform(-9, -2, 2)]
        shift = base[0] + rng.uniform(-3, 1) if i % 2 else bz.LOG_ZERO
        logs = np.asarray(detailed_balance_columns(*base, shift))
        y_eq = np.exp(logs[[bz.LOG_Y_DM_EQ, bz.LOG_Y_V_EQ]])
        _, terms = rhs_reference(np.exp(logs), y_eq)
        got = rhs(constant_table(logs), state(y_eq), switches, weight=0.7, adiabatic=adiabatic)
        assert np.all(np.abs(got) <= 1e-14 * max(map(abs, terms))), got

    table = _equilibrium_table()
    taus_between = rng.uniform(0.0, 3.0, 8)
    for tau, q in zip(taus_between, np.asarray(table_at(table, _f64(taus_between)))):
        y_eq = np.exp(q[[bz.LOG_Y_DM_EQ, bz.LOG_Y_V_EQ]])
        _, terms = rhs_reference(np.exp(q), y_eq)
        got = rhs(table, state(y_eq), switches, weight=0.7, tau=tau, adiabatic=adiabatic)
        assert np.all(np.abs(got) <= 1e-14 * max(map(abs, terms))), (tau, got)


# --- (c) the switches ---------------------------------------------------------------------------------


def test_switches_change_exactly_their_terms():
    rng = np.random.default_rng(8)
    for i in range(10):
        logs = random_log_columns(rng, shift=i % 2 == 1)
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


def _quintics(coefficients, tau, derivative=0):
    """The ``derivative``-th derivative of p_j(τ) = Σ_k c_jk (τ − 1)^k (degree 5) per column:
    (len(τ), N_COLUMNS)."""
    return np.stack(
        [np.polynomial.Polynomial(c).deriv(derivative)(np.asarray(tau) - 1.0) for c in coefficients], axis=1
    )


def polynomial_table(coefficients, tau0, step, n):
    """Nodes and exact slopes and curvatures of the quintic p_j(τ) = Σ_k c_jk (τ − 1)^k per column."""
    taus = tau0 + step * np.arange(n)
    values, slopes, curvatures = (jnp.asarray(_quintics(coefficients, taus, d)) for d in range(3))
    return bz.RateTable(
        tau0=jnp.asarray(tau0), step=jnp.asarray(step), values=values, slopes=slopes, curvatures=curvatures
    )


def test_hermite_interpolation_reproduces_quintics():
    rng = np.random.default_rng(4)
    coefficients = rng.normal(size=(bz.N_COLUMNS, 6))
    table = polynomial_table(coefficients, -0.5, 0.37, 12)
    tau = rng.uniform(-0.5, -0.5 + 0.37 * 11, 50)
    got = np.asarray(table_at(table, _f64(tau)))
    expected = _quintics(coefficients, tau)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-13 * np.abs(expected).max())
    # nodes are hit exactly; outside the grid the value is clamped to the end nodes
    nodes = np.asarray(table_at(table, _f64(-0.5 + 0.37 * np.arange(12))))
    np.testing.assert_allclose(nodes, np.asarray(table.values), rtol=0, atol=1e-14 * np.abs(expected).max())
    outside = np.asarray(table_at(table, _f64([-3.0, 40.0])))
    np.testing.assert_array_equal(outside, np.asarray(table.values)[[0, -1]])


FUNCTIONS = (  # (f, f′, f″) per column, smooth on [0, 2]
    (np.exp, np.exp, np.exp),
    (lambda t: np.sin(3 * t), lambda t: 3 * np.cos(3 * t), lambda t: -9 * np.sin(3 * t)),
    (lambda t: -np.exp(-2 * t), lambda t: 2 * np.exp(-2 * t), lambda t: -4 * np.exp(-2 * t)),
)


def _columns(items):
    """``items`` repeated cyclically over the N_COLUMNS columns."""
    return [items[j % len(items)] for j in range(bz.N_COLUMNS)]


def _smooth_log_rates(tau):
    return jnp.stack(_columns([jnp.exp(tau), jnp.sin(3 * tau), -jnp.exp(-2 * tau)])), tau**2


@functools.cache
def _tabulated(n):
    """``tabulate`` of :func:`_smooth_log_rates` on [0, 2] with n nodes (cached: several checks share it)."""
    return tabulate(_smooth_log_rates, _f64(0.0), _f64(2.0), n)


def _table_with_exact_derivatives(n):
    taus = np.linspace(0.0, 2.0, n)
    values, slopes, curvatures = (
        jnp.asarray(np.stack([fs[d](taus) for fs in _columns(FUNCTIONS)], axis=1)) for d in range(3)
    )
    return bz.RateTable(
        tau0=jnp.asarray(0.0), step=jnp.asarray(taus[1] - taus[0]), values=values, slopes=slopes, curvatures=curvatures
    )


def _max_error(table, lo, hi):
    tau = np.linspace(lo, hi, 401)
    got = np.asarray(table_at(table, _f64(tau)))
    exact = np.stack([f(tau) for f, *_ in _columns(FUNCTIONS)], axis=1)
    return np.abs(got - exact).max()


def test_hermite_interpolation_converges_as_h6():
    """Exact node slopes and curvatures: error ≤ h⁶ max|f⁽⁶⁾|/(6!·64) (the remainder
    f⁽⁶⁾(ξ)/6!·s³(1 − s)³h⁶) and halving h divides it by 64."""
    error = lambda h: _max_error(_table_with_exact_derivatives(round(2.0 / h) + 1), 0.0, 2.0)
    h = 0.1
    assert error(h) <= h**6 * 729 / (720 * 64) * 1.01  # max|f⁽⁶⁾| on [0, 2]: 729 (sin 3τ) > 64 (e^{−2τ}) > e²
    assert convergence_order(error, h) == pytest.approx(6.0, abs=0.1)


def test_analytic_part_is_evaluated_exactly_between_nodes():
    """With an ``analytic`` part the table interpolates only the columns minus it and adds it exactly:
    a plasma background that varies far faster than the grid resolves (as g* at the QCD transition)
    and Boltzmann exponents E/T = (E/m_ref) e^τ cost nothing, while interpolating them with the rest
    is wrong at O(1)."""
    taus = jnp.linspace(0.0, 2.0, 41)

    def background(tau):
        return jnp.stack([0.3 * jnp.tanh((tau - 1.03) / 0.01), jnp.sin(40 * tau), jnp.cos(55 * tau)], axis=-1)

    analytic = bz.AnalyticPart(background, bz.boltzmann_energies(jnp.asarray(30.0), jnp.asarray(70.0)))
    smooth = jnp.stack([jnp.asarray(f(np.asarray(taus))) for f, *_ in _columns(FUNCTIONS)], axis=1)
    with_analytic = bz.interpolant(smooth + jax.vmap(analytic)(taus), taus, analytic)
    as_a_whole = bz.interpolant(smooth + jax.vmap(analytic)(taus), taus)
    tau = np.linspace(0.0, 2.0, 401)
    exact = np.stack([f(tau) for f, *_ in _columns(FUNCTIONS)], axis=1) + np.asarray(jax.vmap(analytic)(_f64(tau)))
    # exactly the smooth part's own interpolant plus the analytic part
    smooth_only = np.asarray(table_at(bz.interpolant(smooth, taus), _f64(tau)))
    got = np.asarray(table_at(with_analytic, _f64(tau)))
    np.testing.assert_allclose(got, smooth_only + np.asarray(jax.vmap(analytic)(_f64(tau))), rtol=0, atol=1e-11)
    assert np.abs(got - exact).max() < 2e-6  # the smooth part's O(h⁶)
    assert np.abs(np.asarray(table_at(as_a_whole, _f64(tau))) - exact).max() > 0.3
    np.testing.assert_array_equal(np.asarray(with_analytic.values), np.asarray(as_a_whole.values))


def test_a_column_of_ln_0_on_part_of_the_grid_ends_at_its_last_non_zero_node():
    """A column that is ln 0 (:data:`bz.LOG_ZERO`) from some node on — a thermal average whose
    threshold is beyond its quadrature's reach — is ln 0 on every interval with a zero node at either
    end, and elsewhere the interpolant of the column with its zero nodes continued by the last non-zero
    value: never above the column's largest node (with ±10³⁰ in the differences the interval before the
    first zero node reached +10²⁹), and the same at the collocation's stage points."""
    taus = jnp.linspace(0.0, 2.0, 41)
    smooth = jnp.stack([jnp.asarray(f(np.asarray(taus))) for f, *_ in _columns(FUNCTIONS)], axis=1)
    first_zero = 30
    values = smooth.at[first_zero:, bz.LOG_K_A].set(bz.LOG_ZERO)
    continued = smooth.at[first_zero:, bz.LOG_K_A].set(smooth[first_zero - 1, bz.LOG_K_A])
    table, reference = bz.interpolant(values, taus), bz.interpolant(continued, taus)
    tau = np.linspace(0.001, 1.999, 800)  # no node: at a node τ_k the interval to its right is taken
    got, expected = (np.asarray(table_at(t, _f64(tau))) for t in (table, reference))
    zero = tau > float(taus[first_zero - 1])
    assert np.all(got[zero, bz.LOG_K_A] == bz.LOG_ZERO)
    np.testing.assert_array_equal(got[~zero], expected[~zero])
    assert got[:, bz.LOG_K_A].max() <= float(values[:, bz.LOG_K_A].max())
    fractions = np.array([0.1, 0.3, 0.9])
    on_intervals = np.asarray(table.interpolated_on_intervals(fractions, bz.LOG_K_A))
    assert np.all(on_intervals[first_zero - 1 :] == bz.LOG_ZERO)
    points = (np.arange(first_zero - 1)[:, None] + fractions) * float(table.step)
    np.testing.assert_allclose(
        on_intervals[: first_zero - 1],
        np.asarray(table_at(table, _f64(points.ravel())))[:, bz.LOG_K_A].reshape(points.shape),
        rtol=1e-12,
        atol=1e-12,
    )


@pytest.mark.parametrize("with_analytic", [False, True])
def test_values_on_intervals_are_the_interpolant_at_those_points(with_analytic):
    """``RateTable.interpolated_on_intervals`` plus ``analytic_on_intervals`` (the collocation's stage
    points) gives what calling the table at τ_k + f·step gives, for every interval k and fraction f,
    the end points included, and one column alone its column; and a wrong fraction or interval would
    show (the columns vary by O(1) across an interval)."""
    taus = jnp.linspace(-1.0, 3.0, 33)

    def background(tau):
        return jnp.stack([0.3 * jnp.tanh((tau - 1.03) / 0.01), jnp.sin(40 * tau), jnp.cos(55 * tau)], axis=-1)

    analytic = bz.AnalyticPart(background, bz.boltzmann_energies(jnp.asarray(3.0), jnp.asarray(7.0)))
    smooth = jnp.stack([jnp.asarray(f(np.asarray(taus))) for f, *_ in _columns(FUNCTIONS)], axis=1)
    table = bz.interpolant(smooth + jax.vmap(analytic)(taus), taus, analytic if with_analytic else None)
    fractions = np.array([0.0, 0.155, 0.5, 0.8449, 1.0])
    got = np.asarray(table.interpolated_on_intervals(fractions))
    if with_analytic:
        got = got + np.asarray(table.analytic_on_intervals(fractions))
    assert got.shape == (taus.size - 1, fractions.size, bz.N_COLUMNS)
    column = np.asarray(table.interpolated_on_intervals(fractions, bz.LOG_K_B))
    whole = np.asarray(table.interpolated_on_intervals(fractions))[..., bz.LOG_K_B]
    np.testing.assert_allclose(column, whole, rtol=1e-14, atol=1e-14)
    points = np.asarray(taus[0]) + (np.arange(taus.size - 1)[:, None] + fractions) * np.asarray(table.step)
    expected = np.asarray(table_at(table, _f64(points.ravel()))).reshape(got.shape)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    shifted = np.asarray(table_at(table, _f64(points.ravel() + 0.25 * np.asarray(table.step)))).reshape(got.shape)
    assert np.abs(got - shifted).max() > 0.1


def test_boltzmann_energies_are_the_columns_exponents():
    """E_j of :func:`bz.boltzmann_energies` for M_V > m_DM and M_V < m_DM (docs/equations.md G12, A36–A37)."""
    heavy_v = np.asarray(bz.boltzmann_energies(jnp.asarray(1.0), jnp.asarray(3.0)))
    light_v = np.asarray(bz.boltzmann_energies(jnp.asarray(1.0), jnp.asarray(0.5)))
    expected_heavy = {
        bz.LOG_K_C: 4.0,
        bz.LOG_K_C_REVERSE: 0.0,
        bz.LOG_D_DM_INVERSE: 1.0,
        bz.LOG_Y_DM_EQ: 1.0,
        bz.LOG_Y_V_EQ: 3.0,
        bz.LOG_K_A_SHIFT: 1.0,
    }
    expected_light = {
        bz.LOG_K_C: 0.0,
        bz.LOG_K_C_REVERSE: 1.0,
        bz.LOG_D_DM_INVERSE: -1.5,
        bz.LOG_Y_DM_EQ: 1.0,
        bz.LOG_Y_V_EQ: 0.5,
        bz.LOG_K_A_SHIFT: -1.5,
    }
    for got, expected in ((heavy_v, expected_heavy), (light_v, expected_light)):
        np.testing.assert_allclose(got, [expected.get(j, 0.0) for j in range(bz.N_COLUMNS)], rtol=0, atol=1e-15)


def test_interpolant_derivatives_and_interpolation_order():
    """``interpolant`` of node values on linspace(τ_start, τ_end, n), aux stacked; slopes and curvatures
    are the derivatives of the sextic through 7 nodes, centred inside (both errors O(h⁶): ratio 64 when
    h halves) and shifted within 3 nodes of an end (slopes O(h⁶), curvatures O(h⁵)); the interpolant
    converges at least as h⁶, inside and at the ends."""
    table, taus, aux = _tabulated(21)
    np.testing.assert_allclose(np.asarray(taus), np.linspace(0.0, 2.0, 21), rtol=1e-15)
    np.testing.assert_allclose(np.asarray(aux), np.linspace(0.0, 2.0, 21) ** 2, rtol=1e-14)
    assert float(table.tau0) == 0.0 and float(table.step) == pytest.approx(0.1, rel=1e-14)

    def derivative_error(h, derivative, nodes):
        n = round(2.0 / h) + 1
        tab, t, _ = _tabulated(n)
        exact = np.stack([fs[derivative](np.asarray(t)) for fs in _columns(FUNCTIONS)], axis=1)
        err = np.abs(np.asarray(tab.slopes if derivative == 1 else tab.curvatures) - exact)
        picked = {"interior": err[3:-3], "ends": np.concatenate([err[:3], err[-3:]])}[nodes]
        return picked.max()

    for derivative, nodes, order in ((1, "interior", 6), (1, "ends", 6), (2, "interior", 6), (2, "ends", 5)):
        observed = convergence_order(lambda h, d=derivative, k=nodes: derivative_error(h, d, k), 0.05)
        assert observed == pytest.approx(order, abs=0.3), (derivative, nodes)

    def interpolation_error(h, lo, hi):
        tab, _, _ = _tabulated(round(2.0 / h) + 1)
        return _max_error(tab, lo, hi)

    # [0.6, 1.4] stays ≥ 3 intervals from the ends for h ≤ 0.2: observed O(h⁷) (the differences' O(h⁶)
    # errors cancel the remainder's h⁶ term), against h⁶ with exact derivatives
    assert convergence_order(lambda h: interpolation_error(h, 0.6, 1.4), 0.1) == pytest.approx(7.0, abs=0.2)
    # first interval: the O(h⁵) end curvature enters as h²·O(h⁵); observed 6.9
    assert convergence_order(lambda h: interpolation_error(h, 0.0, h), 0.05) >= 6.5


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
    logs = np.full(bz.N_COLUMNS, bz.LOG_ZERO)
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
    expected = np.zeros(bz.N_COLUMNS)
    expected[bz.LOG_D_SM] = -4.0 * (3e-3 - 1e-3)  # ∂/∂ln d_SM
    expected[bz.LOG_Y_V_EQ] = 4.0 * 1e-3  # ∂/∂ln Y_V,eq of +d_SM Y_V,eq
    np.testing.assert_allclose(grad, expected, rtol=1e-13, atol=1e-300)


def test_rhs_gradient_matches_central_differences():
    """∂RHS/∂y by jax vs 5-point differences at a generic state (all columns finite, k_a shift included)."""
    logs = random_log_columns(np.random.default_rng(9), shift=True)
    table = constant_table(logs)
    y0 = np.array([2e-3, 7e-4])
    jac = np.asarray(rhs_jacobian_y(table, _f64(y0), _f64(0.2)))
    fd = central_difference(lambda yy: rhs(table, yy, tau=0.2), y0, 1e-3, 4, relative=True)  # rows: ∂/∂y_i
    np.testing.assert_allclose(jac, fd.T, rtol=1e-9, atol=1e-12 * np.abs(jac).max())


# --- (f) production estimates ------------------------------------------------------------------------------


@pytest.mark.parametrize("depletes", [True, False])
def test_production_estimates_are_the_trapezoids_of_the_sources(depletes):
    """DM sources max(k_a − k_a,shift, 0) Y_X,eq² + k̄_c Y_V,eq² + 2 d_X Y_V,eq: the k_a shift is zero on
    part of the grid and on the rest makes the net k_a of either sign (a negative one contributes 0).
    Mediator sources d_SM Y_V,eq + k_b Y_V,eq² + k_c Y_X,eq², and d̄_X Y_X,eq² where DM DM → V feeds it.
    The reduced system's DM: max(k_a − k_a,shift, 0) Y_X,eq² + k_c Y_X,eq² (no decays in (A38))."""
    rng = np.random.default_rng(6)
    n = 17
    values = rng.uniform(-8.0, 2.0, (n, bz.N_COLUMNS))
    values[:, bz.LOG_Y_DM_EQ] = rng.uniform(-9, -3, n)
    values[:, bz.LOG_Y_V_EQ] = rng.uniform(-9, -3, n)
    values[5:9, bz.LOG_K_C_REVERSE] = bz.LOG_ZERO  # a switched-off process on part of the grid
    values[:, bz.LOG_K_A_SHIFT] = values[:, bz.LOG_K_A] + rng.uniform(-2.0, 1.0, n)
    values[:4, bz.LOG_K_A_SHIFT] = bz.LOG_ZERO  # no shift there
    taus = np.linspace(-1.0, 4.0, n)
    table = bz.RateTable(
        tau0=jnp.asarray(-1.0),
        step=jnp.asarray(taus[1] - taus[0]),
        values=jnp.asarray(values),
        slopes=jnp.zeros((n, bz.N_COLUMNS)),
        curvatures=jnp.zeros((n, bz.N_COLUMNS)),
    )
    e = np.exp(values)
    net_k_a = e[:, bz.LOG_K_A] - e[:, bz.LOG_K_A_SHIFT]
    assert np.any(net_k_a[4:] < 0) and np.any(net_k_a[4:] > 0)
    annihilation = np.maximum(net_k_a, 0.0) * e[:, bz.LOG_Y_DM_EQ] ** 2
    # annihilation_source row by row: the clipped rows exactly 0, the others to the round-off of the difference
    got = np.asarray(bz.annihilation_source(jnp.asarray(values)))
    scale = (e[:, bz.LOG_K_A] + e[:, bz.LOG_K_A_SHIFT]) * e[:, bz.LOG_Y_DM_EQ] ** 2
    assert np.all(np.abs(got - annihilation) <= 1e-14 * scale), (got, annihilation)
    assert np.all(got[net_k_a < 0] == 0.0)
    source = (
        annihilation + e[:, bz.LOG_K_C_REVERSE] * e[:, bz.LOG_Y_V_EQ] ** 2 + 2 * e[:, bz.LOG_D_DM] * e[:, bz.LOG_Y_V_EQ]
    )
    mediator_source = (
        e[:, bz.LOG_D_SM] * e[:, bz.LOG_Y_V_EQ]
        + e[:, bz.LOG_K_B] * e[:, bz.LOG_Y_V_EQ] ** 2
        + (e[:, bz.LOG_K_C] + depletes * e[:, bz.LOG_D_DM_INVERSE]) * e[:, bz.LOG_Y_DM_EQ] ** 2
    )
    expected = [np.sum(0.5 * (f[1:] + f[:-1]) * np.diff(taus)) for f in (source, mediator_source)]
    switches = bz.SystemSwitches(dm_decay_depletes_mediator=depletes)
    got = np.asarray(bz.production_estimates(table, jnp.asarray(taus), switches))
    np.testing.assert_allclose(got, expected, rtol=1e-13)
    # the reduced system (A38) has no decays: the DM's source from the mediator is the conversion's
    reduced_source = annihilation + e[:, bz.LOG_K_C] * e[:, bz.LOG_Y_DM_EQ] ** 2
    reduced = bz.SystemSwitches(reduced=True, dm_decay_depletes_mediator=depletes)
    got = np.asarray(bz.production_estimates(table, jnp.asarray(taus), reduced))[0]
    np.testing.assert_allclose(
        got, np.sum(0.5 * (reduced_source[1:] + reduced_source[:-1]) * np.diff(taus)), rtol=1e-13
    )


# --- (g) solve against closed-form solutions --------------------------------------------------------------


def _solve(table, y0, save_taus, tau_end, switches=FULL_SYSTEM, adiabatic=False):
    """bz.solve with strongly typed float64 leaves (and a traced ``adiabatic``), so the solves with the
    same ``switches`` share one compilation."""
    return bz.solve(
        jax.tree.map(_f64, table),
        switches,
        _f64(1.0),
        jnp.asarray(adiabatic),
        _f64(y0),
        _f64(0.0),
        _f64(tau_end),
        rtol=1e-10,
        atol=_f64(1e-22),
        max_steps=4096,
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
    logs = np.full(bz.N_COLUMNS, bz.LOG_ZERO)
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
    dY_X/dτ = −k_a (Y_X² − Y_eq²) from Y_X(0) = 0 gives Y_X = Y_eq tanh(k_a Y_eq τ). k_a = 3e3 − 1e3 is
    stored as a difference (LOG_K_A, LOG_K_A_SHIFT)."""
    c, b, y_v_eq, y_v0 = 2.0, 1.5, 1e-4, 3e-3
    k_a_plus, k_a_shift, y_x_eq = 3e3, 1e3, 1e-3
    k_a = k_a_plus - k_a_shift

    def log_rates(tau):
        col = jnp.full(bz.N_COLUMNS, bz.LOG_ZERO)
        col = col.at[bz.LOG_D_SM].set(math.log(c) + b * tau).at[bz.LOG_Y_V_EQ].set(math.log(y_v_eq))
        col = col.at[bz.LOG_K_A].set(math.log(k_a_plus)).at[bz.LOG_K_A_SHIFT].set(math.log(k_a_shift))
        col = col.at[bz.LOG_Y_DM_EQ].set(math.log(y_x_eq))
        return col, None

    table, _, _ = tabulate(log_rates, _f64(0.0), _f64(TAU_END), N_GRID)
    sol = _solve(table, [0.0, y_v0], SAVE, TAU_END)
    assert sol.result == diffrax.RESULTS.successful
    y_v = y_v_eq + (y_v0 - y_v_eq) * np.exp(-(c / b) * (np.exp(b * SAVE) - 1))
    y_x = y_x_eq * np.tanh(k_a * y_x_eq * SAVE)
    ys = np.asarray(sol.ys)
    np.testing.assert_allclose(ys[:, 1], y_v, rtol=1e-7)
    np.testing.assert_allclose(ys[:, 0], y_x, rtol=1e-7)


def test_a_yield_below_zero_returns_instead_of_running_away():
    """A yield that a step's error leaves below 0 (a tail far below its absolute tolerance) with a pair
    loss only, dY_V/dτ = −k_b (Y_V|Y_V| − Y_V,eq²), Y_V,eq ≈ 0: from Y_V(0) = −y the pair term pulls it
    back, Y_V = −y/(1 + k_b y τ). With Y_V² in place of Y_V|Y_V| it ran to −∞ at τ = 1/(k_b y) = 0.1
    (a UνMSM point stalled at max_steps after its Y_V reached −7e-4 where Y_V,eq ≈ 6e-17)."""
    k_b, y = 1e7, 1e-6
    logs = np.full(bz.N_COLUMNS, bz.LOG_ZERO)
    logs[bz.LOG_K_B], logs[bz.LOG_Y_V_EQ], logs[bz.LOG_Y_DM_EQ] = math.log(k_b), -60.0, -60.0
    table, _, _ = tabulate(lambda tau: (jnp.asarray(logs) + 0.0 * tau, None), _f64(0.0), _f64(TAU_END), N_GRID)
    sol = _solve(table, [0.0, -y], SAVE, TAU_END)
    assert sol.result == diffrax.RESULTS.successful
    np.testing.assert_allclose(np.asarray(sol.ys)[:, 1], -y / (1.0 + k_b * y * SAVE), rtol=1e-6)
    np.testing.assert_array_equal(np.asarray(sol.ys)[:, 0], 0.0)


def _freeze_out_like_table(shifts, tau_start, tau_end, n=41):
    """A freeze-out-like table (k_a growing as e^{2τ}, a conversion and the mediator's decay) on n nodes
    from ``tau_start`` to ``tau_end``, with an analytic part: Boltzmann exponents and a plasma
    background that varies faster than the grid. ``shifts`` (3,): added to ln k_a and ln k_c at every
    node and to the masses of the exponents (1 + shift, 3 + shift) — parameters to differentiate in."""
    taus = jnp.linspace(tau_start, tau_end, n)
    analytic = bz.AnalyticPart(
        lambda tau: jnp.stack(
            [0.3 * jnp.tanh((tau - 2.03) / 0.01), 0.1 * jnp.sin(9 * tau), 0.1 * jnp.cos(7 * tau)], -1
        ),
        bz.boltzmann_energies(1.0 + shifts[2], 3.0 + shifts[2]),
    )

    def smooth(tau):
        column = jnp.full(bz.N_COLUMNS, -20.0)
        column = column.at[bz.LOG_K_A].set(14.0 + 2.0 * tau + shifts[0]).at[bz.LOG_K_C].set(12.0 + tau + shifts[1])
        column = column.at[bz.LOG_K_B].set(10.0 + tau).at[bz.LOG_D_SM].set(3.0 - tau)
        return column.at[bz.LOG_Y_DM_EQ].set(-4.0).at[bz.LOG_Y_V_EQ].set(-4.5)

    values = jax.vmap(smooth)(taus) + jax.vmap(analytic)(taus)
    return bz.interpolant(values, taus, analytic)


def test_the_held_table_row_changes_no_step(monkeypatch):
    """The stage root finders evaluate the table once per stage and solve diffrax's stage relation
    f − F(τ_i, Y_partial + γhf) with that row (``_implicit_stages.TableRowHeld``): every step and yield
    bit-identical to the same root finder on diffrax's own relation, which reads the table at every
    evaluation. A freeze-out-like table (k_a growing as e^{2τ}, a conversion and the mediator's decay)
    with an analytic part: Boltzmann exponents and a plasma background that varies faster than the grid."""
    from uvmsm_jax import _implicit_stages

    table = _freeze_out_like_table(jnp.zeros(3), 0.0, 5.0)

    def solve():
        return bz.solve(
            table,
            FULL_SYSTEM,
            _f64(1.0),
            jnp.asarray(False),
            _f64([1e-4, 1e-4]),
            _f64(0.0),
            _f64(5.0),
            rtol=1e-7,
            atol=_f64([1e-16, 1e-16]),
            max_steps=1024,
            save_steps=True,
        )

    held = solve()
    finder = _implicit_stages.STAGE_ROOT_FINDERS["per-stage"]
    assert isinstance(finder, _implicit_stages.TableRowHeld)
    monkeypatch.setitem(_implicit_stages.STAGE_ROOT_FINDERS, "per-stage", finder.solver)
    relation = solve()
    assert held.result == diffrax.RESULTS.successful
    steps = int(held.stats["num_steps"])
    assert steps > 40 and steps == int(relation.stats["num_steps"])
    for a, b in zip((*held.ts, *held.ys), (*relation.ts, *relation.ys), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


SENSITIVITY_POINT = np.array([0.0, 0.0, 0.0, math.log(1e-4), 0.0, 5.0])
"""Parameters of :func:`_sensitivity_solve`: the three shifts of :func:`_freeze_out_like_table`,
ln Y(τ_start) of both yields, τ_start and τ_end."""
SAVE_FRACTIONS = np.array([0.1, 0.37, 0.8, 1.0])


def _sensitivity_solve(p, save, integrate=None):
    """The solve at parameters ``p`` (:data:`SENSITIVITY_POINT`) on a table whose grid runs from
    τ_start to τ_end, as the pipeline's does; ``save``: "end", "taus" (at fractions of the range) or
    "steps". ``integrate``: None for ``bz.solve``, or the integration without its derivative rule."""
    table = _freeze_out_like_table(p[:3], p[4], p[5])
    save_taus = p[4] + (p[5] - p[4]) * jnp.asarray(SAVE_FRACTIONS) if save == "taus" else None
    weight, adiabatic, y0, atol = _f64(1.0), jnp.asarray(False), jnp.exp(p[3]) * jnp.ones(2), _f64([1e-16, 1e-16])
    if integrate is None:
        return bz.solve(
            table, FULL_SYSTEM, weight, adiabatic, y0, p[4], p[5], 1e-7, atol, 1024, save_taus, save == "steps"
        )
    static = {"switches": FULL_SYSTEM, "rtol": 1e-7, "max_steps": 1024, "save_steps": save == "steps"}
    inputs = (table, weight, adiabatic, y0, p[4], p[5], atol, save_taus)
    return integrate(inputs, {**static, "stage_jacobian": "per-stage"}, None, None)


# ≈ 60 s each, mostly compiling forward mode through diffrax; in the default run the derivative is
# tested end to end by tests/test_relic.py's and tests/test_dark_photon.py's central differences
@pytest.mark.slow
@pytest.mark.parametrize("save", ["end", "taus", "steps"])
def test_solve_derivatives_equal_forward_mode_through_the_solver(save):
    """``bz.solve``'s derivative — forward sensitivities in the ODE's state, each implicit stage's in
    closed form (``_sensitivities.integrate``) — equals JAX's forward mode through diffrax's
    operations on the same solve (optimistix's implicit-function rule at every stage), in six
    directions at once: ln k_a and ln k_c at every node, the masses in the analytic exponents, Y(τ_start),
    τ_start and τ_end (the grid moves with both), to 1e-9 of each direction's largest derivative. The
    primal under the derivative is the solve's own, bit for bit. Saved at τ_end, at save times that
    move with the range, and at every step. Where a save time moves against the steps (and where
    diffrax's last steps, their sizes carrying the tangent of a step clipped to τ_end, do), the
    derivative is F(τ_j, Y_j) τ̇_j, the solution's own, where forward mode differentiates the last step's
    size or the dense output's polynomial (for a stiff step, 1/(1 − hλ) of F for implicit Euler): those
    are compared with τ_start and τ_end moved together."""
    from uvmsm_jax import _sensitivities

    def outputs(p, integrate=None):
        sol = _sensitivity_solve(p, save, integrate)
        return (sol.ts, sol.ys) if save != "steps" else (sol.ts[1], sol.ys[1], sol.stats["num_accepted_steps"])

    # two points in one vmapped program, as the pipeline solves them (the primal's bits then agree;
    # separately compiled programs of the same solve can differ in rounding)
    points = jnp.asarray(SENSITIVITY_POINT) + jnp.asarray([[0.0] * 6, [0.3, -0.2, 0.1, 0.5, 0.2, -0.4]])
    plain = jax.vmap(outputs)(points)
    (ts, ys, *steps), (ts_dot, ys_dot, *_) = jax.vmap(lambda p: jax.jvp(outputs, (p,), (jnp.ones(6),)))(points)
    for a, b in zip(plain, (ts, ys, *steps), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    ours = jax.vmap(jax.jacfwd(lambda p: outputs(p)[:2]))(points)
    reference = jax.vmap(jax.jacfwd(lambda p: outputs(p, _sensitivities._diffeqsolve)[:2]))(points)
    for columns, summed in zip(ours, (ts_dot, ys_dot), strict=True):  # one direction: the columns' sum
        columns = np.asarray(columns)
        np.testing.assert_allclose(columns.sum(-1), np.asarray(summed), rtol=1e-9, atol=1e-9 * np.abs(columns).max())
    taken = np.isfinite(np.asarray(plain[0]))
    if save == "steps":
        assert np.all(np.asarray(plain[2]) > 40) and np.all(taken.sum(axis=1) == np.asarray(plain[2]))

    def compared(jacobian):  # ln k_a, ln k_c, masses, Y(τ_start), and τ_start and τ_end moved together
        jacobian = np.asarray(jacobian)
        return np.concatenate([jacobian[..., :4], jacobian[..., 4:].sum(-1, keepdims=True)], axis=-1)

    for i in range(2):
        ours_i, reference_i = compared(ours[1][i]), compared(reference[1][i])
        scale = np.abs(reference_i)[taken[i]].max(axis=(0, 1))  # per direction
        assert np.all(scale > 0)
        np.testing.assert_allclose(compared(ours[0][i])[taken[i]], compared(reference[0][i])[taken[i]], rtol=1e-12)
        difference = np.abs(ours_i - reference_i)[taken[i]]
        assert np.all(difference <= 1e-9 * scale), difference.max(axis=(0, 1)) / scale
        np.testing.assert_array_equal(np.asarray(ours[1][i])[~taken[i]], 0.0)


@pytest.mark.slow  # ≈ 50 s
def test_solve_derivatives_under_vmap_and_with_a_non_finite_direction():
    """A ``jax.vmap`` over points of ``jax.jvp`` (each lane its own solve) gives each point's own
    derivative; a direction whose tangent is not finite gets NaN derivatives while the solution and the
    other directions are unchanged (separately compiled programs: their steps differ in rounding, their
    results within the solve's rtol 1e-7)."""
    points = jnp.asarray(SENSITIVITY_POINT) + jnp.asarray([[0.0] * 6, [0.3, -0.2, 0.1, 0.5, 0.2, -0.4]])
    direction = jnp.asarray([1.0, -1.0, 0.5, 0.2, 0.3, 0.7])

    def final(p):
        return _sensitivity_solve(p, "end").ys[-1]

    batched = jax.vmap(lambda p: jax.jvp(final, (p,), (direction,)))(points)
    for a, b in zip(jax.jvp(final, (points[1],), (direction,)), batched, strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b[1]), rtol=1e-7, atol=0)
    directions = jnp.stack([direction, direction.at[1].set(jnp.nan)])
    values, derivatives = jax.vmap(lambda d: jax.jvp(final, (points[0],), (d,)))(directions)
    np.testing.assert_array_equal(np.asarray(values[0]), np.asarray(values[1]))
    np.testing.assert_allclose(np.asarray(values[1]), np.asarray(batched[0][0]), rtol=1e-7, atol=0)
    np.testing.assert_allclose(np.asarray(derivatives[0]), np.asarray(batched[1][0]), rtol=1e-7, atol=0)
    assert np.all(np.isnan(np.asarray(derivatives[1])))


# --- (h) adiabatic elimination of the mediator (H13′) --------------------------------------------------


def test_yields_conserve_n_and_follow_the_equilibrium_ratio():
    """``yields`` in the adiabatic form: Y_X + 2Y_V = N to 1e-14 and Y_V = Y_V,eq (Y_X/Y_X,eq)² to 1e-12
    (relative), both positive, in both branches (8N Y_V,eq/Y_X,eq² below and above 1), vectorised over
    table rows; the second state component is ignored. With ``adiabatic=False`` the state comes back
    unchanged."""
    rng = np.random.default_rng(21)
    m = 400
    n = 10 ** rng.uniform(-12.0, -1.0, m)
    z = 10 ** rng.uniform(-10.0, 8.0, m)  # 8N Y_V,eq/Y_X,eq²
    q = rng.uniform(-6.0, 6.0, (m, bz.N_COLUMNS))
    q[:, bz.LOG_Y_DM_EQ] = np.log(10 ** rng.uniform(-8.0, -1.0, m))
    q[:, bz.LOG_Y_V_EQ] = np.log(z / (8 * n)) + 2 * q[:, bz.LOG_Y_DM_EQ]
    y = np.stack([n, rng.uniform(-1.0, 1.0, m)], axis=-1)
    y_x, y_v = (np.asarray(a) for a in bz.yields(jnp.asarray(q), jnp.asarray(y), jnp.asarray(True)))
    assert np.sum(z < 0.5) > 100 and np.sum(z > 2.0) > 100  # both branches, away from the switch
    assert np.all(y_x > 0) and np.all(y_v > 0)
    np.testing.assert_allclose(y_x + 2 * y_v, n, rtol=1e-14, atol=0)
    y_x_eq, y_v_eq = np.exp(q[:, bz.LOG_Y_DM_EQ]), np.exp(q[:, bz.LOG_Y_V_EQ])
    np.testing.assert_allclose(y_v, y_v_eq * (y_x / y_x_eq) ** 2, rtol=1e-12, atol=0)
    # the closed form of the root (H13′) and its two limits: Y_X → N (z → 0), Y_V → N/2 (z → ∞)
    np.testing.assert_allclose(y_x, 2 * n / (1 + np.sqrt(1 + z)), rtol=1e-13, atol=0)
    assert np.all(np.abs(y_x / n - 1)[z < 1e-8] < 1e-8) and np.all(np.abs(2 * y_v / n - 1)[z > 1e6] < 1e-2)
    # an empty state stays empty; adiabatic=False passes the state through bit for bit
    zero = bz.yields(jnp.asarray(q[0]), jnp.zeros(2), jnp.asarray(True))
    assert float(zero[0]) == float(zero[1]) == 0.0
    same = bz.yields(jnp.asarray(q), jnp.asarray(y), jnp.asarray(False))
    np.testing.assert_array_equal(np.asarray(same[0]), y[:, 0])
    np.testing.assert_array_equal(np.asarray(same[1]), y[:, 1])


def test_adiabatic_rhs_is_dn_of_the_coupled_rhs_at_the_adiabatic_yields():
    """With ``adiabatic_mediator=True`` and ``adiabatic`` set, the RHS at the state (N, 0) is
    (dY_X/dτ + 2 dY_V/dτ, 0) of the coupled system at (Y_X, Y_V) = ``yields``(N) — against the module's
    coupled RHS and the NumPy reference, to round-off of the largest term — and does not depend on
    d_X, d̄_X (the V ↔ DM DM terms cancel exactly). With ``adiabatic`` unset it is the coupled RHS."""
    rng = np.random.default_rng(17)
    for i in range(20):
        logs = random_log_columns(rng, shift=i % 2 == 1)
        table = constant_table(logs)
        tau = rng.uniform(0.0, 2.5)
        n = 10 ** rng.uniform(-8.0, -1.0)
        q = np.asarray(table_at(table, _f64([tau])))[0]
        y_x, y_v = (float(a) for a in bz.yields(jnp.asarray(q), jnp.asarray([n, 0.0]), jnp.asarray(True)))
        got = rhs(table, [n, 0.0], ADIABATIC_SYSTEM, tau=tau, adiabatic=True)
        assert got[1] == 0.0
        reference, terms = rhs_reference(np.exp(q), (y_x, y_v))
        scale = 1e-14 * max(map(abs, terms))
        coupled = rhs(table, [y_x, y_v], tau=tau)
        assert got[0] == pytest.approx(coupled[0] + 2 * coupled[1], abs=scale)
        assert got[0] == pytest.approx(reference[0] + 2 * reference[1], abs=scale)
        other = logs.copy()
        other[bz.LOG_D_DM], other[bz.LOG_D_DM_INVERSE] = rng.uniform(-6.0, 12.0, 2)
        assert np.array_equal(rhs(constant_table(other), [n, 0.0], ADIABATIC_SYSTEM, tau=tau, adiabatic=True), got)
        y = 10 ** rng.uniform(-8, -1, 2)
        assert np.array_equal(rhs(table, y, ADIABATIC_SYSTEM, tau=tau), rhs(table, y, tau=tau))


def _fast_exchange_log_rates(log_d_x, tau):
    """Freeze-out with a fast V ↔ DM DM exchange: Y_X,eq = 1e-2 e^{−3τ}, Y_V,eq = 1e-2 e^{−4τ}; constant
    k_a = 1e4 − 1e4/e (a k_a shift), k_b = 3e3, k_c = 2e3, d_SM = 10, d_X = e^{log_d_x}; k̄_c, d̄_X by
    detailed balance."""
    log_y_x_eq, log_y_v_eq = math.log(1e-2) - 3 * tau, math.log(1e-2) - 4 * tau
    log_k_a = math.log(1e4) + 0 * tau
    base = (log_k_a, math.log(3e3) + 0 * tau, math.log(2e3) + 0 * tau, math.log(10.0) + 0 * tau, log_d_x + 0 * tau)
    return detailed_balance_columns(*base, log_y_x_eq, log_y_v_eq, log_k_a - 1.0), None


@functools.cache
def _fast_exchange_table(d_x):
    log_rates = functools.partial(_fast_exchange_log_rates, math.log(d_x))
    return tabulate(log_rates, _f64(0.0), _f64(TAU_END), N_GRID)[0]


# slow: four stiff solves with their compile (~20 s); the adiabatic RHS stays checked by default in test_adiabatic_rhs_is_dn_of_the_coupled_rhs_at_the_adiabatic_yields
@pytest.mark.slow
def test_adiabatic_solve_matches_the_coupled_solve_for_fast_exchange():
    """The same system solved coupled (Y_X, Y_V) and adiabatically (N, 0), from an empty mediator
    (off the slow manifold: the coupled solve resolves the O(1/d_X) transient, N is conserved by it):
    with d_X = 1e6 the yields agree to 1e-5 relative at every saved τ, the difference is O(1/d_X)
    (10× smaller at d_X = 1e7), and the adiabatic solve takes about half the steps. Both use
    ``adiabatic_mediator=True`` (one compilation; ``adiabatic`` is traced)."""
    y_x0 = 1e-2
    differences = {}
    for d_x in (1e6, 1e7):
        table = _fast_exchange_table(d_x)
        assert bool(bz.eliminates_mediator(table, ADIABATIC_SYSTEM))
        coupled = _solve(table, [y_x0, 0.0], SAVE, TAU_END, ADIABATIC_SYSTEM, adiabatic=False)
        adiabatic = _solve(table, [y_x0, 0.0], SAVE, TAU_END, ADIABATIC_SYSTEM, adiabatic=True)
        assert coupled.result == diffrax.RESULTS.successful and adiabatic.result == diffrax.RESULTS.successful
        ys = np.asarray(adiabatic.ys)
        assert np.all(ys[:, 1] == 0.0)
        y_x, y_v = (np.asarray(a) for a in bz.yields(table_at(table, _f64(SAVE)), adiabatic.ys, jnp.asarray(True)))
        reference = np.asarray(coupled.ys)
        differences[d_x] = np.abs(y_x / reference[:, 0] - 1)
        assert np.all(np.abs(y_v / reference[:, 1] - 1) < 10 / d_x)
        assert int(adiabatic.stats["num_steps"]) < 0.75 * int(coupled.stats["num_steps"])
    assert reference[-1, 0] < 1e-3 * y_x0  # Y_X fell by orders of magnitude (a non-trivial check)
    assert np.all(differences[1e6] < 1e-5)
    ratio = differences[1e6][-1] / differences[1e7][-1]
    assert 7.0 < ratio < 13.0, differences


def test_eliminates_mediator_threshold_and_switches():
    """True iff d_X at the first node ≥ ADIABATIC_DECAY_RATE and the switches allow it: later nodes do
    not matter, and ``adiabatic_mediator=False``, ``dm_decay_depletes_mediator=False`` or ``reduced``
    turn it off."""

    def table(d_x_first, d_x_rest):
        logs = random_log_columns(np.random.default_rng(1))
        values = np.tile(logs, (6, 1))
        values[0, bz.LOG_D_DM], values[1:, bz.LOG_D_DM] = math.log(d_x_first), math.log(d_x_rest)
        zeros = jnp.zeros_like(values)
        return bz.RateTable(
            tau0=jnp.asarray(0.0), step=jnp.asarray(0.5), values=jnp.asarray(values), slopes=zeros, curvatures=zeros
        )

    above, below = 1.2 * bz.ADIABATIC_DECAY_RATE, 0.8 * bz.ADIABATIC_DECAY_RATE
    assert bz.ADIABATIC_DECAY_RATE == 1e4
    assert bool(bz.eliminates_mediator(table(above, above), ADIABATIC_SYSTEM))
    assert bool(bz.eliminates_mediator(table(above, 1.0), ADIABATIC_SYSTEM))
    assert not bool(bz.eliminates_mediator(table(below, below), ADIABATIC_SYSTEM))
    assert not bool(bz.eliminates_mediator(table(below, 1e12), ADIABATIC_SYSTEM))
    for switches in (
        bz.SystemSwitches(),
        bz.SystemSwitches(adiabatic_mediator=True, dm_decay_depletes_mediator=False),
        bz.SystemSwitches(adiabatic_mediator=True, reduced=True),
    ):
        assert not bool(bz.eliminates_mediator(table(1e12, 1e12), switches))


def test_two_by_two_lu_solves_like_lapack():
    """The closed-form 2 × 2 solver of the implicit stages against LAPACK (numpy.linalg.solve): random
    matrices, ones that need the row swap (|a₁₀| > |a₀₀|, a₀₀ = 0) and the stiff shape of I − γhJ (entries
    ~1e12, nearly singular); its transpose; under vmap; through lineax.linear_solve. Backward error at
    rounding level for every matrix, and the LAPACK solution to 1e-10 where the condition number allows."""
    import lineax as lx

    from uvmsm_jax._implicit_stages import TwoByTwoLU

    rng = np.random.default_rng(7)
    matrices = [rng.normal(size=(2, 2)) for _ in range(20)]
    matrices += [np.array([[1e-3, 2.0], [3.0, 4.0]]), np.array([[0.0, 1.0], [1.0, 0.0]])]
    matrices += [np.eye(2) + 1e12 * np.array([[1.0, -0.5], [-2.0, 1.0 + 1e-9]])]
    solver = TwoByTwoLU()

    def check(matrix, x, rhs):
        x = np.asarray(x)
        backward = np.linalg.norm(matrix @ x - rhs) / (np.linalg.norm(matrix) * np.linalg.norm(x))
        assert backward <= 1e-15
        if np.linalg.cond(matrix) < 1e4:
            np.testing.assert_allclose(x, np.linalg.solve(matrix, rhs), rtol=1e-10)

    for matrix in matrices:
        rhs = rng.normal(size=2)
        operator = lx.MatrixLinearOperator(jnp.asarray(matrix))
        state = solver.init(operator, {})
        x, result, _ = solver.compute(state, jnp.asarray(rhs), {})
        assert result == lx.RESULTS.successful
        check(matrix, x, rhs)
        check(matrix.T, solver.compute(solver.transpose(state, {})[0], jnp.asarray(rhs), {})[0], rhs)
        check(matrix, lx.linear_solve(operator, jnp.asarray(rhs), solver).value, rhs)
    batch = jnp.asarray(np.stack(matrices[:8]))
    rhs = jnp.asarray(rng.normal(size=(8, 2)))
    batched = jax.vmap(lambda a, b: lx.linear_solve(lx.MatrixLinearOperator(a), b, solver).value)(batch, rhs)
    np.testing.assert_allclose(
        batched, np.linalg.solve(np.asarray(batch), np.asarray(rhs)[..., None])[..., 0], rtol=1e-10
    )
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        solver.init(lx.MatrixLinearOperator(jnp.eye(3)), {})
