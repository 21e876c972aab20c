"""Tests of the shared finite-difference helpers (tests/helpers.py) against analytic derivatives.

Each check compares with an analytic derivative or with the known truncation error of the stencil
(h²/6·f‴ for the 3-point rule, −h⁴/30·f⁽⁵⁾ for the 5-point rule), and measures the error order:
halving h cuts the error by 4 (order 2) resp. 16 (order 4).
"""

import math

import jax.numpy as jnp
import numpy as np
import pytest
from helpers import (
    E4_I_B,
    E4_I_C,
    REGIME_GRADIENT_RTOL,
    REGIME_MECHANISMS,
    REGIME_POINTS,
    RESONANT_FREEZE_IN_POINT,
    batched_central_difference,
    central_difference,
    convergence_order,
    elementwise_derivative,
    log_derivative,
    stencil,
)

import uvmsm_jax  # noqa: F401  (enables float64 for the jnp-valued functions)

# (f, f′, x) with analytic derivatives
CASES = {
    "exp": (math.exp, math.exp, 0.3),
    "sin": (math.sin, math.cos, 1.1),
    "power": (lambda x: x**3.5, lambda x: 3.5 * x**2.5, 1.7),
}


@pytest.mark.parametrize("order", [2, 4])
def test_stencil_moments(order):
    """Σw = 0, Σw·o = 1 and the odd moments up to the order vanish; the next one is the error term."""
    offsets, weights = stencil(order)
    assert weights.sum() == pytest.approx(0.0, abs=1e-15)
    assert weights @ offsets == pytest.approx(1.0, rel=1e-15)
    for p in range(2, order + 1):
        assert weights @ offsets**p == pytest.approx(0.0, abs=1e-14)
    # leading error coefficient c·h^order·f^(order+1): 1/6 (order 2) and −1/30 (order 4)
    expected = {2: 1 / 6, 4: -1 / 30}[order]
    assert (weights @ offsets ** (order + 1)) / math.factorial(order + 1) == pytest.approx(expected, rel=1e-14)
    with pytest.raises(ValueError, match="order"):
        stencil(3)


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("order,h,ratio", [(2, 0.05, 4.0), (4, 0.2, 16.0)])
def test_scalar_derivative_error_order(name, order, h, ratio):
    f, df, x = CASES[name]

    def error(step):
        return float(central_difference(f, x, step, order)) - df(x)

    assert abs(error(h / 4)) < 1e-3 * abs(df(x))  # converges to the analytic derivative
    observed = abs(error(h)) / abs(error(h / 2))
    assert observed == pytest.approx(ratio, rel=0.03)
    assert convergence_order(error, h) == pytest.approx(order, abs=0.05)


def test_truncation_error_is_the_known_term_for_polynomials():
    """Exact identities: 3-point rule on x³ gives 3x² + h²; 5-point rule is exact for x⁴ and gives
    5x⁴ − 4h⁴ on x⁵ (−h⁴/30 · 120)."""
    x, h = 0.7, 0.01
    assert float(central_difference(lambda t: t**3, x, h, 2)) == pytest.approx(3 * x**2 + h**2, rel=1e-11)
    assert float(central_difference(lambda t: t**2, x, h, 2)) == pytest.approx(2 * x, rel=1e-12)
    assert float(central_difference(lambda t: t**4, x, h, 4)) == pytest.approx(4 * x**3, rel=1e-12)
    h = 0.1  # a larger step makes the h⁴ term visible above round-off
    assert float(central_difference(lambda t: t**5, x, h, 4)) == pytest.approx(5 * x**4 - 4 * h**4, rel=1e-12)


def test_relative_step_and_jax_valued_function():
    """relative=True uses h·|x|; a jnp function is accepted and the result is a NumPy float."""
    x = 40.0
    exact = math.cos(x)
    got = central_difference(jnp.sin, x, 1e-4, 4, relative=True)
    assert isinstance(got, np.ndarray) and got.dtype == np.float64
    assert float(got) == pytest.approx(exact, rel=1e-9)
    # equal to an absolute step 4e-3 (= 1e-4·40)
    assert float(got) == float(central_difference(jnp.sin, x, 4e-3, 4))


def test_vector_valued_scalar_input():
    """f: ℝ → ℝ³ returns the three derivatives."""
    got = central_difference(lambda t: np.array([t**2, np.exp(2 * t), np.sin(t)]), 0.5, 1e-3, 4)
    np.testing.assert_allclose(got, [1.0, 2 * math.exp(1.0), math.cos(0.5)], rtol=1e-11)


def _field(x):
    """f(x) = exp(a·x) + sin(x₀x₁) + x₂³, x ∈ ℝ³."""
    a = np.array([0.3, -0.7, 0.2])
    return math.exp(a @ x) + math.sin(x[0] * x[1]) + x[2] ** 3


def _field_gradient(x):
    a = np.array([0.3, -0.7, 0.2])
    e = math.exp(a @ x)
    c = math.cos(x[0] * x[1])
    return a * e + np.array([x[1] * c, x[0] * c, 3 * x[2] ** 2])


X0 = np.array([0.4, 1.3, -0.8])


@pytest.mark.parametrize("order,h,ratio", [(2, 0.02, 4.0), (4, 0.1, 16.0)])
def test_gradient_error_order(order, h, ratio):
    exact = _field_gradient(X0)

    def error(step):
        return np.max(np.abs(central_difference(_field, X0, step, order) - exact))

    assert error(h / 8) < 1e-5
    assert error(h) / error(h / 2) == pytest.approx(ratio, rel=0.05)


def test_gradient_with_per_component_and_relative_steps():
    exact = _field_gradient(X0)
    np.testing.assert_allclose(central_difference(_field, X0, [1e-3, 2e-3, 5e-4], 4), exact, rtol=1e-10)
    np.testing.assert_allclose(central_difference(_field, X0, 1e-3, 4, relative=True), exact, rtol=1e-10)
    with pytest.raises(ValueError, match="positive"):
        central_difference(_field, np.array([0.0, 1.0, 1.0]), 1e-3, relative=True)  # zero step


@pytest.mark.parametrize("order,h,ratio", [(2, 0.02, 4.0), (4, 0.1, 16.0)])
def test_directional_derivative(order, h, ratio):
    v = np.array([1.0, -2.0, 0.5])
    exact = _field_gradient(X0) @ v

    def error(step):
        return float(central_difference(_field, X0, step, order, direction=v)) - exact

    assert abs(error(h / 8)) < 1e-5
    assert abs(error(h)) / abs(error(h / 2)) == pytest.approx(ratio, rel=0.05)


def test_elementwise_derivative_of_a_vectorised_function():
    """Array x with array steps (like dg_s/dT over a temperature vector)."""
    x = np.array([0.1, 1.0, 5.0, 30.0])
    got = elementwise_derivative(lambda t: np.exp(np.sin(t)), x, 1e-4, 4, relative=True)
    np.testing.assert_allclose(got, np.cos(x) * np.exp(np.sin(x)), rtol=1e-10)
    got2 = elementwise_derivative(lambda t: t**-2, x, 1e-5 * x, 2)
    np.testing.assert_allclose(got2, -2 * x**-3, rtol=1e-9)


def test_batched_gradient_equals_the_loop():
    calls = []

    def f_batch(points):
        calls.append(points.shape)
        return np.array([_field(p) for p in points])

    grad, value = batched_central_difference(f_batch, X0, 1e-3, 4, relative=True)
    assert calls == [(1 + 4 * 3, 3)]  # one call: x itself + 4 points per component
    assert value == _field(X0)
    np.testing.assert_allclose(grad, central_difference(_field, X0, 1e-3, 4, relative=True), rtol=1e-13)
    np.testing.assert_allclose(grad, _field_gradient(X0), rtol=1e-10)
    grad2, _ = batched_central_difference(f_batch, X0, 1e-4, 2)
    np.testing.assert_allclose(grad2, _field_gradient(X0), rtol=1e-7)


def test_log_derivative_power_laws_are_exact():
    """ln(c x^p) is linear in ln x: the stencil is exact (round-off only) for any step."""
    for p in (-3.0, 0.5, 4.0):
        for h in (1e-3, 0.3):
            assert float(log_derivative(lambda x, p=p: 2.5 * x**p, 0.37, h)) == pytest.approx(p, abs=1e-12)
    # vector input: f = x₀² x₁^{-1/2} x₂ → (2, −1/2, 1)
    got = log_derivative(lambda x: x[0] ** 2 * x[1] ** -0.5 * x[2], np.array([0.2, 3.0, 7.0]), 0.1)
    np.testing.assert_allclose(got, [2.0, -0.5, 1.0], atol=1e-12)


@pytest.mark.parametrize("order,h,ratio", [(2, 0.05, 4.0), (4, 0.2, 16.0)])
def test_log_derivative_error_order(order, h, ratio):
    """f = x^p e^x: d ln f/d ln x = p + x."""
    p, x = 1.5, 2.0

    def error(step):
        return float(log_derivative(lambda t: t**p * math.exp(t), x, step, order)) - (p + x)

    assert abs(error(h / 8)) < 1e-4
    assert abs(error(h)) / abs(error(h / 2)) == pytest.approx(ratio, rel=0.03)
    with pytest.raises(ValueError, match="x > 0"):
        log_derivative(math.exp, -1.0)


def test_convergence_order_of_known_error_laws():
    assert convergence_order(lambda h: 3.0 * h**3, 0.1) == pytest.approx(3.0, rel=1e-12)
    assert convergence_order(lambda h: h**4, 0.1, factor=3.0) == pytest.approx(4.0, rel=1e-12)
    with pytest.raises(ValueError, match="zero error"):
        convergence_order(lambda h: 0.0, 0.1)


def test_named_points_are_in_their_regimes():
    """Resonant points have M_Z′ > 2M_N₁, off-resonance ones M_Z′ < 2M_N₁ (docs/equations.md A.8.4–A.8.5);
    the relativistic freeze-out point has M_N₁ = 10 keV (E1.2); every point has a tolerance and a label."""
    assert set(REGIME_POINTS) == set(REGIME_GRADIENT_RTOL) == set(REGIME_MECHANISMS)
    for name, (m_n1, m_zp, g, mode) in REGIME_POINTS.items():
        assert mode in ("paper", "physical") and 0 < g < 1 and m_n1 > 0 and m_zp > 0
        if "resonant" in name and "off" not in name:
            assert m_zp > 2 * m_n1
        if "off-resonance" in name:
            assert m_zp < 2 * m_n1
    assert REGIME_POINTS["relativistic-freeze-out"][0] == 1e-5
    m_n1, m_zp, _, _ = RESONANT_FREEZE_IN_POINT
    assert m_zp > 2 * m_n1
    assert set(E4_I_B) == set(E4_I_C) and all(s > 4 * max(a, b) ** 2 for s, a, b in E4_I_B)
