"""Tests of uvmsm_jax.special: K₀, K₁, K₂ (scaled and unscaled) against SciPy and identities.

docs/equations.md Part N item 1 and E1.22 (accuracy 1e-12 against SciPy).
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.special as sp

import uvmsm_jax  # noqa: F401  (enables float64)
from uvmsm_jax.special import bessel_k0e, bessel_k1, bessel_k1e, bessel_k2, bessel_k2e, bessel_k_boltzmann_grid

SCALED = {0: bessel_k0e, 1: bessel_k1e, 2: bessel_k2e}
UNSCALED = {1: bessel_k1, 2: bessel_k2}


def _grid():
    """Dense log grid 1e-6..1e4 plus points right at and around the x = 2 branch switch."""
    dense = np.logspace(-6, 4, 40001)
    two = np.array([np.nextafter(2.0, 0.0), 2.0, np.nextafter(2.0, 3.0)])
    near_two = 2.0 + np.linspace(-1e-3, 1e-3, 201)
    return np.concatenate([dense, two, near_two])


X = _grid()


def _rel(a, b):
    return np.abs(np.asarray(a) / np.asarray(b) - 1.0)


@pytest.mark.parametrize("nu", [0, 1, 2])
def test_scaled_accuracy_vs_scipy(nu):
    err = _rel(jax.jit(SCALED[nu])(X), sp.kve(nu, X))
    assert err.max() <= 1e-12, (nu, err.max(), X[err.argmax()])  # achieved: ≤ 3.3e-15


@pytest.mark.parametrize("nu", [1, 2])
def test_unscaled_accuracy_vs_scipy(nu):
    x = X[X < 650.0]  # K_ν underflows near 700 (SciPy's kv returns 0 from ≈ 698)
    err = _rel(jax.jit(UNSCALED[nu])(x), sp.kv(nu, x))
    assert err.max() <= 1e-12, (nu, err.max())


@pytest.mark.parametrize("nu", [0, 1, 2])
def test_scaled_gradient_vs_scipy(nu):
    x = np.concatenate([np.logspace(-6, 4, 2001), [1.999, 2.0, 2.001]])
    grad = jax.jit(jax.vmap(jax.grad(SCALED[nu])))(x)
    # d/dx [eˣK_ν] = eˣK_ν + eˣK_ν′ with K_ν′ = −(K_{ν−1} + K_{ν+1})/2 (stays in scaled form)
    expected = sp.kve(nu, x) - 0.5 * (sp.kve(abs(nu - 1), x) + sp.kve(nu + 1, x))
    # achieved ≤ 7e-12 (largest at x = 1e4, where the derivative is a difference of O(kve) terms)
    assert _rel(grad, expected).max() <= 1e-10


@pytest.mark.parametrize("nu", [1, 2])
def test_unscaled_gradient_vs_scipy(nu):
    x = np.logspace(-6, np.log10(600.0), 1001)  # scipy kvp: K_ν′ (unscaled)
    grad = jax.jit(jax.vmap(jax.grad(UNSCALED[nu])))(x)
    assert _rel(grad, sp.kvp(nu, x)).max() <= 1e-10


def test_second_derivative_identity():
    # K₀″ = −K₁′ = K₀ + K₁/x
    x = np.logspace(-3, 2.5, 101)
    k0pp = jax.vmap(jax.grad(jax.grad(lambda t: bessel_k0e(t) * jnp.exp(-t))))(x)
    expected = sp.kv(0, x) + sp.kv(1, x) / x
    assert _rel(k0pp, expected).max() <= 1e-10


def test_vmap_and_shapes():
    x = np.logspace(-2, 2, 12).reshape(3, 4)
    for f in (*SCALED.values(), *UNSCALED.values()):
        direct = f(x)
        assert direct.shape == (3, 4) and direct.dtype == jnp.float64
        # vmapped (traced inline) and direct (jitted) calls may differ in the last ulp only
        np.testing.assert_allclose(jax.vmap(f)(x), direct, rtol=1e-14)
        np.testing.assert_allclose(jax.vmap(jax.vmap(f))(x), direct, rtol=1e-14)
    assert bessel_k1e(3.0).shape == ()


def test_invalid_and_extreme_arguments():
    bad = jnp.array([0.0, -1.0, jnp.nan, -jnp.inf])
    for f in (*SCALED.values(), *UNSCALED.values()):
        assert np.all(np.isnan(f(bad)))
        # masked use keeps gradients finite (zero) at invalid points
        g = jax.vmap(jax.grad(lambda t, f=f: jnp.where(t > 0, f(t), 0.0)))(bad)
        assert np.all(np.asarray(g) == 0.0)
    huge = np.array([1e6, 1e100, 1e300])
    for _nu, f in SCALED.items():
        np.testing.assert_allclose(f(huge), np.sqrt(np.pi / (2 * huge)), rtol=1e-5)
        assert np.asarray(f(jnp.inf)) == 0.0
        assert np.all(np.isfinite(jax.vmap(jax.grad(f))(huge)))
    for f in UNSCALED.values():
        assert np.all(np.asarray(f(huge)) == 0.0)
        assert np.all(np.isfinite(jax.vmap(jax.grad(f))(np.array([1e-6, 1.0, 800.0, 1e300]))))


def test_ratio_at_large_x_from_scaled_functions():
    """K₁(√s/T)/K₂(m/T)² at m/T = 1e3, √s = 2m + 3T (docs/equations.md N.1): exponent combined analytically."""
    x, a = 1000.0, 2003.0
    assert float(bessel_k1(a)) == 0.0 and float(bessel_k2(x)) == 0.0  # the naive ratio is 0/0
    log_ratio = jnp.log(bessel_k1e(a)) - 2 * jnp.log(bessel_k2e(x)) - (a - 2 * x)
    ratio = bessel_k1e(a) / bessel_k2e(x) ** 2 * jnp.exp(-(a - 2 * x))
    # mpmath 1.3.0, 40 digits: K1(2003)/K2(1000)^2
    assert abs(float(ratio) / 0.884442571845422640069348 - 1) < 1e-13
    assert abs(float(log_ratio) - (-0.1227976947423696677089253)) < 1e-13
    assert np.isfinite(jax.grad(lambda y: bessel_k1e(2 * y + 3) / bessel_k2e(y) ** 2 * jnp.exp(-3.0))(x))


@pytest.mark.parametrize("nu", [0, 1])
@pytest.mark.parametrize("offset", [0.0, 0.3, 7.0])
def test_boltzmann_grid_kernel_vs_scipy(nu, offset):
    """K̂_ν((c + x)/T) e^{−x/T} on a [temperature, node] grid against SciPy, and its derivative in x
    (e^z K_ν′(z)/T e^{−x/T}, K₀′ = −K₁, K₁′ = −(K₀ + K₂)/2) with no NaN anywhere: z = (c + x)/T from
    1e-6 to 1e4, across the z = 2 switch, and e^{−x/T} down to underflow."""
    temperatures = np.geomspace(1e-3, 1e3, 61)
    x = np.concatenate([np.geomspace(1e-6, 50.0, 300), 2.0 * temperatures - offset])
    x = np.sort(x[x > 0])
    kernel = jax.jit(bessel_k_boltzmann_grid, static_argnums=0)
    got = np.asarray(kernel(nu, offset, jnp.asarray(x), jnp.asarray(temperatures)))
    z = (offset + x[None, :]) / temperatures[:, None]
    boltzmann = np.exp(-x[None, :] / temperatures[:, None])
    expected = sp.kve(nu, z) * boltzmann
    normal = expected > 1e-290  # below, both underflow (the kernel to 0 or a subnormal)
    assert np.all(np.isfinite(got)) and np.all(got[~normal] < 1e-280)
    # relative to the rounding of the exponent x/T itself (one ulp of e^{−x/T} is x/T ulps): achieved
    # 6.2e-15 (1.3e-14 for K̂₀ at z ≤ 2, where ln(z/2) is a difference of two logarithms)
    exponent = x[None, :] / temperatures[:, None]
    assert (_rel(got[normal], expected[normal]) / (1.0 + exponent[normal])).max() <= 3e-14

    def total(x):
        return jnp.sum(bessel_k_boltzmann_grid(nu, offset, x, jnp.asarray(temperatures)))

    derivative = np.asarray(jax.jit(jax.grad(total))(jnp.asarray(x)))
    forward = np.asarray(jax.jit(lambda x: jax.jvp(total, (x,), (jnp.ones_like(x),))[1])(jnp.asarray(x)))
    prime = -sp.kve(1, z) if nu == 0 else -0.5 * (sp.kve(0, z) + sp.kve(2, z))
    expected_derivative = np.sum(np.where(normal, prime * boltzmann / temperatures[:, None], 0.0), axis=0)
    assert np.all(np.isfinite(derivative)) and np.isfinite(forward)
    significant = np.abs(expected_derivative) > 1e-250
    assert _rel(derivative[significant], expected_derivative[significant]).max() <= 1e-10
    assert abs(forward / np.sum(expected_derivative) - 1.0) <= 1e-10


def _gauss_legendre_on_log_x(f, lo=-25.0, hi=6.0, panels=400, order=12):
    """∫₀^∞ f(x) dx = ∫ f(eᵘ) eᵘ du by composite Gauss–Legendre in u (one vectorised call)."""
    nodes, weights = np.polynomial.legendre.leggauss(order)
    edges = np.linspace(lo, hi, panels + 1)
    half = 0.5 * np.diff(edges)[:, None]
    u = (0.5 * (edges[:-1] + edges[1:]))[:, None] + half * nodes
    x = np.exp(u).ravel()
    return float(np.sum(np.asarray(f(jnp.asarray(x))) * x * (half * weights).ravel()))


def test_integral_identities_e1_22():
    """docs/equations.md E1.22: ∫₀^∞ x³K₁ dx = 3π/2, ∫₀^∞ x²K₁² dx = 3π²/32 (tolerance 1e-8)."""
    i1 = _gauss_legendre_on_log_x(lambda x: x**3 * bessel_k1(x))
    i2 = _gauss_legendre_on_log_x(lambda x: x**2 * bessel_k1(x) ** 2)
    assert abs(i1 / (3 * math.pi / 2) - 1) < 1e-8
    assert abs(i2 / (3 * math.pi**2 / 32) - 1) < 1e-8
