"""Direct unit tests of uvmsm_jax.xsec, the closed-form 2 → 2 cross sections (docs/equations.md A.3–A.4).

Every number the package returns is compared with something computed independently here:

* the docs/equations.md E.4 table (explicit Dirac traces made while writing the specification);
* squared amplitudes built in this file from explicit 4×4 Dirac matrices (NumPy), integrated over t
  with Gauss–Legendre and normalised by (G8) — independent of the closed forms (A14)–(A24);
* closed-form limits: the p-wave threshold of N₁N₁ → f f̄ (∫dt Σ|M|² ∝ β_N³), the s-wave thresholds
  of (b) and (c) (∫dt Σ|M|² → R·Σ|M|²(t₀)), the high-energy logarithms, f f̄ → γγ;
* the narrow-width pole term of ⟨σv⟩ (A27) against (A28) and against a direct integration of the
  Breit–Wigner for Γ/M → 0 (SciPy);
* exact scalings (σ ∝ g⁴, N_c, η) and (G8) detailed balance.

Units: GeV, cross sections GeV⁻², I_b, I_c GeV⁴.
"""

import functools
import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.integrate as si
import scipy.special as sp
from helpers import (
    E4_I_B,
    E4_I_C,
    central_difference,
    convergence_order,
    log_derivative,
)

import uvmsm_jax  # also enables float64
from uvmsm_jax import rates, xsec
from uvmsm_jax.portal import VectorPortal

ALPHA = 1 / 137.036  # docs/equations.md G.1

# --- independent squared amplitudes from explicit Dirac matrices ---------------------------------

_I2, _Z2 = np.eye(2), np.zeros((2, 2))
_PAULI = [np.array([[0, 1], [1, 0]], complex), np.array([[0, -1j], [1j, 0]]), np.array([[1, 0], [0, -1]], complex)]
GAMMA = np.array([np.block([[_I2, _Z2], [_Z2, -_I2]])] + [np.block([[_Z2, p], [-p, _Z2]]) for p in _PAULI]).astype(
    complex
)
GAMMA5 = 1j * GAMMA[0] @ GAMMA[1] @ GAMMA[2] @ GAMMA[3]
AXIAL = np.einsum("mab,bc->mac", GAMMA, GAMMA5)  # γ^μγ⁵: the Z′N₁N₁ vertex of (A5), Q′_N⁴ = 1
LEFT = np.einsum("mab,bc->mac", GAMMA, (np.eye(4) - GAMMA5) / 2)  # γ^μ P_L: a left-handed neutrino
METRIC = np.diag([1.0, -1.0, -1.0, -1.0])
ONE = np.eye(4)


def _slash(p):
    return np.einsum("...m,mn,nab->...ab", p, METRIC, GAMMA)


def _bar(m):
    """Dirac adjoint γ⁰ M† γ⁰ (for M* of a spinor sandwich)."""
    return GAMMA[0] @ np.conj(np.swapaxes(m, -1, -2)) @ GAMMA[0]


def _minkowski(a, b):
    return np.einsum("...m,mn,...n->...", a, METRIC, b)


def _momenta(s, m_in, m_out, t):
    """CM four-momenta of 1 + 2 → 3 + 4 (m₁ = m₂ = m_in, m₃ = m₄ = m_out) with t = (p₁ − p₃)²."""
    t = np.asarray(t, float)
    e = math.sqrt(s) / 2
    p_in, p_out = math.sqrt(s / 4 - m_in**2), math.sqrt(s / 4 - m_out**2)
    cos = (t - m_in**2 - m_out**2 + s / 2) / (2 * p_in * p_out)
    sin = np.sqrt(np.clip(1 - cos**2, 0, None))
    z = np.zeros_like(t)
    return (
        np.stack([e + z, z, z, p_in + z], -1),
        np.stack([e + z, z, z, -p_in + z], -1),
        np.stack([e + z, p_out * sin, z, p_out * cos], -1),
        np.stack([e + z, -p_out * sin, z, -p_out * cos], -1),
    )


def _propagator(q, m):
    return (_slash(q) + m * ONE) / (_minkowski(q, q) - m**2)[..., None, None]


def amplitude2_dm_pair_to_fermions(s, t, m_n, m_f, m_v, width):
    """Σ|M|² of N₁N₁ → f f̄ through the s-channel Z′ (g = Q′ = N_c = 1), vertex γ^μγ⁵ on N₁ (A5)."""
    p1, p2, p3, p4 = _momenta(s, m_n, m_f, t)
    dm = np.einsum("mab,...bc,ncd,...da->...mn", AXIAL, _slash(p1) + m_n * ONE, _bar(AXIAL), _slash(p2) - m_n * ONE)
    sm = np.einsum("mab,...bc,ncd,...da->...mn", GAMMA, _slash(p4) - m_f * ONE, GAMMA, _slash(p3) + m_f * ONE)
    # the k^μk^ν part of the propagator vanishes on the conserved f current
    return np.real(np.einsum("...mn,mr,ns,...rs->...", dm, METRIC, METRIC, sm)) / (
        (s - m_v**2) ** 2 + (m_v * width) ** 2
    )


def amplitude2_mediator_pair_to_fermions(s, t, m_f, m_v, vertex=GAMMA):
    """Σ|M|² of Z′(k₁)Z′(k₂) → f(p₃) f̄(p₄), t = (k₁ − p₃)², t/u-channel f, polarisation sums
    −g + kk/M² (g = Q′ = N_c = 1); ``vertex`` γ^μ (Dirac f) or γ^μP_L (one left-handed ν)."""
    k1, k2, p3, p4 = _momenta(s, m_v, m_f, t)
    line = np.einsum("mab,...bc,ncd->...mnad", vertex, _propagator(p3 - k1, m_f), vertex) + np.einsum(
        "nab,...bc,mcd->...mnad", vertex, _propagator(p3 - k2, m_f), vertex
    )
    traces = np.einsum(
        "...mnab,...bc,...rscd,...da->...mnrs", line, _slash(p4) - m_f * ONE, _bar(line), _slash(p3) + m_f * ONE
    )
    k1l, k2l = k1 @ METRIC, k2 @ METRIC
    pol1 = -METRIC + np.einsum("...m,...r->...mr", k1l, k1l) / m_v**2
    pol2 = -METRIC + np.einsum("...m,...r->...mr", k2l, k2l) / m_v**2
    return np.real(np.einsum("...mnrs,...mr,...ns->...", traces, pol1, pol2))


def amplitude2_dm_pair_to_mediator_pair(s, t, m_n, m_v):
    """Σ|M|² of N₁(p₁)N₁(p₂) → Z′(k₁)Z′(k₂), t = (p₁ − k₁)², t/u-channel N₁, vertex γ^μγ⁵,
    transverse-type polarisation sums −g only (docs/equations.md A16, K31)."""
    p1, p2, k1, k2 = _momenta(s, m_n, m_v, t)
    line = np.einsum("nab,...bc,mcd->...mnad", AXIAL, _propagator(p1 - k1, m_n), AXIAL) + np.einsum(
        "mab,...bc,ncd->...mnad", AXIAL, _propagator(p1 - k2, m_n), AXIAL
    )
    traces = np.einsum(
        "...mnab,...bc,...rscd,...da->...mnrs", line, _slash(p1) + m_n * ONE, _bar(line), _slash(p2) - m_n * ONE
    )
    return np.real(np.einsum("...mnrs,mr,ns->...", traces, METRIC, METRIC))


def t_range(s, m_in, m_out):
    """(t₋, t₊) of (G10) for equal-mass pairs."""
    r = math.sqrt((s - 4 * m_in**2) * (s - 4 * m_out**2))
    centre = m_in**2 + m_out**2 - s / 2
    return centre - r / 2, centre + r / 2


_GL_X, _GL_W = np.polynomial.legendre.leggauss(24)
_EDGE = np.geomspace(1e-10, 0.25, 11)
_PANELS = np.concatenate([[0.0], _EDGE, [0.5], 1.0 - _EDGE[::-1], [1.0]])
"""Panel edges (fractions of the t-range), geometric towards both ends: at s ≫ masses the t/u-channel
propagators peak within ~(M⁴ + m²s)/s² of the ends of the range."""


def integrate_t(amplitude2, s, m_in, m_out):
    """∫_{t₋}^{t₊} dt Σ|M|² by composite 24-point Gauss–Legendre on :data:`_PANELS` (no pole in the
    range: t − m² < 0 there because M⁴ − 4M²m² + m²s > 0, docs/equations.md A.4)."""
    lo, hi = t_range(s, m_in, m_out)
    a, b = lo + (hi - lo) * _PANELS[:-1], lo + (hi - lo) * _PANELS[1:]
    t = (0.5 * (a + b))[:, None] + (0.5 * (b - a))[:, None] * _GL_X[None, :]
    return float(np.sum((0.5 * (b - a))[:, None] * _GL_W[None, :] * amplitude2(t.ravel()).reshape(t.shape)))


def width_to_fermion_pair(m_v, m_f, coupling=1.0, n_colour=1.0):
    """(A8) in NumPy: Γ(V → f f̄) for a vector of mass m_v [GeV]."""
    r = 4 * m_f**2 / m_v**2
    return coupling**2 * n_colour * m_v / (12 * math.pi) * (1 + r / 2) * math.sqrt(max(1 - r, 0.0))


# --- the specification's own trace numbers -------------------------------------------------------


def test_trace_amplitudes_reproduce_the_e4_ratios():
    """E.4 rows 1–3: traces/(A14) = 2, traces/(A16 with 19t + u) = 8, (A15)/traces = 1. Checks the
    trace code above against the printed amplitudes at random kinematics before it is used as the
    reference for the package."""
    rng = np.random.default_rng(7)

    def a14(s, t, m_n, m_f, m_v, width):
        u = 2 * m_n**2 + 2 * m_f**2 - s - t
        bw = (s - m_v**2) ** 2 + (m_v * width) ** 2
        return (
            4
            * s**2
            / bw
            * (
                (t**2 + u**2) / s**2
                - 4 * m_f**2 / s * (t + u) / s
                + 2 * (-(m_n**4) - 2 * m_n**2 * m_f**2 + 3 * m_f**4) / s**2
            )
        )

    def a15(s, t, m_f, m):
        u = 2 * m_f**2 + 2 * m**2 - s - t

        def half(t, u):
            return (
                8
                * t
                * u
                / (t - m_f**2) ** 2
                * (1 - m_f**2 * (3 * t + u) / (t * u) - (m**4 + 4 * m**2 * m_f**2 + m_f**4) / (t * u))
            )

        return (
            half(t, u)
            + half(u, t)
            + 16
            * s**2
            / ((t - m_f**2) * (u - m_f**2))
            * ((2 * m**2 + m_f**2) / s - 2 * (m**2 + 2 * m_f**2) * m_f**2 / s**2)
        )

    def a16(s, t, m_n, m):
        u = 2 * m_n**2 + 2 * m**2 - s - t

        def half(t, u):
            return (
                t
                * u
                / (t - m_n**2) ** 2
                * (1 - m_n**2 * (19 * t + u) / (t * u) - (m**4 - 12 * m**2 * m_n**2 + 17 * m_n**4) / (t * u))
            )

        return (
            half(t, u)
            + half(u, t)
            + 2
            * s**2
            / ((t - m_n**2) * (u - m_n**2))
            * ((2 * m**2 - 3 * m_n**2) / s + 2 * (6 * m_n**2 - m**2) * m_n**2 / s**2)
        )

    for _ in range(4):
        m_n, m_f, m_v, width = rng.uniform(0.1, 2.0, 4)
        s = 4 * max(m_n, m_f, m_v) ** 2 * rng.uniform(1.05, 6.0)
        t = rng.uniform(*t_range(s, m_n, m_f), 3)
        np.testing.assert_allclose(
            amplitude2_dm_pair_to_fermions(s, t, m_n, m_f, m_v, width) / a14(s, t, m_n, m_f, m_v, width),
            2.0,
            rtol=1e-10,
        )
        t = rng.uniform(*t_range(s, m_v, m_f), 3)
        np.testing.assert_allclose(
            amplitude2_mediator_pair_to_fermions(s, t, m_f, m_v) / a15(s, t, m_f, m_v), 1.0, rtol=1e-10
        )
        t = rng.uniform(*t_range(s, m_n, m_v), 3)
        np.testing.assert_allclose(
            amplitude2_dm_pair_to_mediator_pair(s, t, m_n, m_v) / a16(s, t, m_n, m_v), 8.0, rtol=1e-10
        )


# --- (a) E.4 numbers through the package -----------------------------------------------------------


@pytest.mark.parametrize("key", list(E4_I_B))
def test_i_b_e4_values(key):
    assert float(xsec.t_integrated_mediator_pair_to_fermions(*key)) == pytest.approx(E4_I_B[key], rel=1e-11)


@pytest.mark.parametrize("key", list(E4_I_C))
def test_i_c_e4_values(key):
    assert float(xsec.t_integrated_dm_pair_to_mediator_pair(*key)) == pytest.approx(E4_I_C[key], rel=1e-11)


def test_a18_e4_value_through_sigma_dm_pair_to_sm():
    """E.4: ∫dt Σ|M_a|²_phys = 4177.5606381194 at s = 10, M_N = 0.5, M_f = 0.15, M = 3, Γ = 0.1.
    From σ_a by (G8): ∫dt = g₁g₂·16π·λ(s)·σ with g_N = 2, λ = s(s − 4M_N²); Γ_SM(√s) is (A8) for the
    one fermion (here from uvmsm_jax.hadrons as well as from NumPy)."""
    from uvmsm_jax.hadrons import fermion_pair_width_unit

    s, m_n, m_f, m_v, width = 10.0, 0.5, 0.15, 3.0, 0.1
    bw = (s - m_v**2) ** 2 + (m_v * width) ** 2
    flux = 4 * 16 * math.pi * s * (s - 4 * m_n**2)
    for gamma in (width_to_fermion_pair(math.sqrt(s), m_f), float(fermion_pair_width_unit(math.sqrt(s), m_f, 1.0))):
        sigma = float(xsec.sigma_dm_pair_to_sm(s, m_n, 1.0, gamma, bw, 1.0))
        assert sigma * flux == pytest.approx(4177.5606381194, rel=1e-11)


def test_dm_width_e4_value_from_the_unitarity_relation():
    """E.4: Γ(Z′→N₁N₁) = 0.027526777 at M = 3, M_N = 0.7 (= A10). The package's physical σ_a at
    s = M² must satisfy σ_a·BW = 24π M² Γ_NN Γ_ff/(M² − 4M_N²) (docs/equations.md A.3, K1)."""
    m_v, m_n = 3.0, 0.7
    gamma_ff = width_to_fermion_pair(m_v, 0.0)
    reduced = float(xsec.sigma_dm_pair_to_sm(m_v**2, m_n, 1.0, gamma_ff, 1.0, 1.0))  # σ·BW with BW = 1
    gamma_nn = reduced * (m_v**2 - 4 * m_n**2) / (24 * math.pi * m_v**2 * gamma_ff)
    assert gamma_nn == pytest.approx(0.027526777, rel=2e-8)
    # and (A10) at other masses, i.e. the (1 − 4M_N²/M²)^{3/2} p-wave factor
    for m_n in (0.01, 0.5, 1.2, 1.49):
        reduced = float(xsec.sigma_dm_pair_to_sm(m_v**2, m_n, 1.0, gamma_ff, 1.0, 1.0))
        gamma_nn = reduced * (m_v**2 - 4 * m_n**2) / (24 * math.pi * m_v**2 * gamma_ff)
        assert gamma_nn == pytest.approx(m_v / (24 * math.pi) * (1 - 4 * m_n**2 / m_v**2) ** 1.5, rel=1e-13)


def test_photon_pair_limit_of_i_b():
    """E.4 / (A22) check: N_c = 1, M → 0, s ≫ M_f²: σ(f f̄ → γγ) = g⁴ I_b/(128π s(s − 4M_f²)) → 2πα²[ln(s/M_f²) − 1]/s
    with g² = 4πα (corrections O(M_f²/s) = 1e-10 here)."""
    s, m_f, m_v = 1.0, 1e-5, 1e-9
    g2 = 4 * math.pi * ALPHA
    sigma = (
        g2**2 * float(xsec.t_integrated_mediator_pair_to_fermions(s, m_f, m_v)) / (128 * math.pi * s * (s - 4 * m_f**2))
    )
    assert sigma == pytest.approx(2 * math.pi * ALPHA**2 * (math.log(s / m_f**2) - 1) / s, rel=1e-8)


# --- (b) against independently integrated traces ---------------------------------------------------


@pytest.mark.parametrize(
    "s,m_n,m_f,m_v,width",
    [(10.0, 0.5, 0.15, 3.0, 0.1), (2.0, 0.6, 0.1056584, 0.3, 1e-3), (50.0, 1.0, 1.77686, 7.0, 2.0)],
)
def test_sigma_dm_pair_to_sm_vs_traces(s, m_n, m_f, m_v, width):
    """σ_a = ∫dt Σ|M_a|²/(g_N²·16π·s(s − 4M_N²)) for one Dirac fermion, physical (η_a = 1) and paper (½)."""
    traced = integrate_t(lambda t: amplitude2_dm_pair_to_fermions(s, t, m_n, m_f, m_v, width), s, m_n, m_f)
    expected = traced / (4 * 16 * math.pi * s * (s - 4 * m_n**2))
    bw = (s - m_v**2) ** 2 + (m_v * width) ** 2
    gamma = width_to_fermion_pair(math.sqrt(s), m_f)
    eta_a_paper, _ = xsec.annihilation_normalisation("paper")
    eta_a_physical, _ = xsec.annihilation_normalisation("physical")
    assert float(xsec.sigma_dm_pair_to_sm(s, m_n, 1.0, gamma, bw, eta_a_physical)) == pytest.approx(expected, rel=1e-12)
    assert float(xsec.sigma_dm_pair_to_sm(s, m_n, 1.0, gamma, bw, eta_a_paper)) == pytest.approx(
        expected / 2, rel=1e-12
    )


@pytest.mark.parametrize(
    "s,m_f,m_v", [(10.0, 0.5, 1.0), (4.41, 1.0, 0.2), (9.0, 1.2, 0.2), (4.0004, 0.3, 1.0), (1e3, 0.1056584, 4.0)]
)
def test_mediator_pair_cross_section_vs_traces(s, m_f, m_v):
    """I_b and σ(Z′Z′ → f f̄) = N_c g⁴Q′⁴ ∫dt Σ|M_b|²/(g_Z′²·16π·s(s − 4M²)) with g_Z′ = 3 (A22)."""
    traced = integrate_t(lambda t: amplitude2_mediator_pair_to_fermions(s, t, m_f, m_v), s, m_v, m_f)
    assert float(xsec.t_integrated_mediator_pair_to_fermions(s, m_f, m_v)) == pytest.approx(traced, rel=1e-11)
    coupling, n_colour = 0.37, 3.0
    expected = n_colour * coupling**4 * traced / (9 * 16 * math.pi * s * (s - 4 * m_v**2))
    assert float(xsec.sigma_mediator_pair_to_fermion(s, m_f, m_v, coupling, n_colour)) == pytest.approx(
        expected, rel=1e-11
    )


def test_left_handed_neutrino_is_half_a_massless_dirac_fermion():
    """σ_b docstring / (A9): one left-handed ν (vertex γ^μP_L) = ½ × the m_f = 0 Dirac result."""
    s, m_v = 7.0, 0.8
    traced = integrate_t(lambda t: amplitude2_mediator_pair_to_fermions(s, t, 0.0, m_v, LEFT), s, m_v, 0.0)
    sigma_nu = traced / (9 * 16 * math.pi * s * (s - 4 * m_v**2))
    assert 0.5 * float(xsec.sigma_mediator_pair_to_fermion(s, 0.0, m_v, 1.0, 1.0)) == pytest.approx(sigma_nu, rel=1e-11)


@pytest.mark.parametrize(
    "s,m_n,m_v", [(10.0, 0.5, 1.0), (30.0, 1.3, 2.0), (4.41, 1.0, 0.2), (4.0004, 1.0, 0.3), (200.0, 5.0, 0.5)]
)
def test_conversion_cross_section_vs_traces(s, m_n, m_v):
    """I_c and σ(N₁N₁ → Z′Z′) = ∫dt Σ|M_c|²/(g_N²·S·16π·s(s − 4M_N²)), S = 2 identical Z′ (A24);
    paper mode η_c = 1/8."""
    traced = integrate_t(lambda t: amplitude2_dm_pair_to_mediator_pair(s, t, m_n, m_v), s, m_n, m_v)
    assert float(xsec.t_integrated_dm_pair_to_mediator_pair(s, m_n, m_v)) == pytest.approx(traced, rel=1e-11)
    g = 0.21
    expected = g**4 * traced / (4 * 2 * 16 * math.pi * s * (s - 4 * m_n**2))
    _, eta_c_physical = xsec.annihilation_normalisation("physical")
    _, eta_c_paper = xsec.annihilation_normalisation("paper")
    assert float(xsec.sigma_dm_pair_to_mediator_pair(s, m_n, m_v, g, eta_c_physical)) == pytest.approx(
        expected, rel=1e-11
    )
    assert float(xsec.sigma_dm_pair_to_mediator_pair(s, m_n, m_v, g, eta_c_paper)) == pytest.approx(
        expected / 8, rel=1e-11
    )


def test_detailed_balance_of_the_mediator_pair_channel():
    """(G8) for both directions: g_Z′²·S_ff̄·λ_Z′·σ(Z′Z′→ff̄) = g_f²·S_Z′Z′·λ_f·σ(ff̄→Z′Z′), with the
    reverse σ integrated from the traces in f f̄ kinematics (g_f = 2N_c, S_Z′Z′ = 2) — the relation
    behind γ(Z′Z′→ff̄) = 2γ(ff̄→Z′Z′) of (G12)."""
    s, m_f, m_v, n_c = 12.0, 1.5, 0.7, 3.0
    # f(p₁) f̄(p₂) → Z′(k₁) Z′(k₂): Σ|M|² is the same function of (s, t = (p₁ − k₁)²) by crossing
    traced = n_c * integrate_t(lambda t: amplitude2_mediator_pair_to_fermions(s, t, m_f, m_v), s, m_f, m_v)
    sigma_reverse = traced / ((2 * n_c) ** 2 * 2 * 16 * math.pi * s * (s - 4 * m_f**2))
    sigma_forward = float(xsec.sigma_mediator_pair_to_fermion(s, m_f, m_v, 1.0, n_c))
    assert 9 * 1 * s * (s - 4 * m_v**2) * sigma_forward == pytest.approx(
        (2 * n_c) ** 2 * 2 * s * (s - 4 * m_f**2) * sigma_reverse, rel=1e-11
    )
    # the closed reverse form of (A22) from the package's I_b
    i_b = float(xsec.t_integrated_mediator_pair_to_fermions(s, m_f, m_v))
    assert i_b / (128 * math.pi * n_c * s * (s - 4 * m_f**2)) == pytest.approx(sigma_reverse, rel=1e-11)


# --- thresholds and high-energy limits -------------------------------------------------------------


def test_dm_annihilation_is_p_wave_at_threshold():
    """Majorana N₁N₁ → f f̄ via a vector: ∫dt Σ|M_a|² ∝ β_N³ (A18), i.e. σ_a ∝ β_N and σv ∝ β_N²;
    d ln(σ_a·s(s − 4M_N²))/d ln(s − 4M_N²) → 3/2 with the full s-dependence of Γ_SM(√s) and BW,
    the deviation vanishing linearly in s − 4M_N²."""
    m_n, m_f, m_v, width = 0.5, 0.1, 3.0, 0.1

    def integrated(eps):
        s = 4 * m_n**2 + eps
        bw = (s - m_v**2) ** 2 + (m_v * width) ** 2
        sigma = float(xsec.sigma_dm_pair_to_sm(s, m_n, 1.0, width_to_fermion_pair(math.sqrt(s), m_f), bw, 1.0))
        return sigma * s * (s - 4 * m_n**2)

    def deviation(eps):
        return float(log_derivative(integrated, eps, 1e-3)) - 1.5

    assert abs(deviation(1e-6)) < 1e-5
    assert convergence_order(deviation, 1e-3, factor=10.0) == pytest.approx(1.0, abs=0.01)
    # the traced amplitude vanishes at threshold (no s-wave): Σ|M_a|²/max over the t-range → 0 like β²
    s = 4 * m_n**2 * (1 + 1e-6)
    t = np.linspace(*t_range(s, m_n, m_f), 5)
    s_far = 4.0
    far = amplitude2_dm_pair_to_fermions(s_far, np.linspace(*t_range(s_far, m_n, m_f), 5), m_n, m_f, m_v, width)
    assert np.max(np.abs(amplitude2_dm_pair_to_fermions(s, t, m_n, m_f, m_v, width))) < 1e-5 * np.max(np.abs(far))


@pytest.mark.parametrize("m_heavy,m_light", [(1.0, 0.3), (0.7, 0.69), (2.0, 0.0)])
def test_i_b_is_s_wave_at_threshold(m_heavy, m_light):
    """Near s = 4max(M, M_f)² the t-range shrinks to t₀ = M² + M_f² − s/2: I_b → R·Σ|M_b|²(t₀),
    R = √((s − 4M²)(s − 4M_f²)) (σv → const: s-wave), for either particle the heavier."""
    for m_v, m_f in ((m_heavy, m_light), (m_light, m_heavy)):
        if m_v == 0.0:
            continue  # a massless mediator is not a valid input
        s0 = 4 * max(m_v, m_f) ** 2
        s = s0 * (1 + 1e-9)
        r = math.sqrt((s - 4 * m_v**2) * (s - 4 * m_f**2))
        t0 = m_v**2 + m_f**2 - s / 2
        limit = float(amplitude2_mediator_pair_to_fermions(s, np.array([t0]), m_f, m_v)[0])
        assert float(xsec.t_integrated_mediator_pair_to_fermions(s, m_f, m_v)) / r == pytest.approx(limit, rel=1e-6)


@pytest.mark.parametrize("m_heavy,m_light", [(1.0, 0.3), (0.7, 0.69), (2.0, 0.05)])
def test_i_c_is_s_wave_at_threshold(m_heavy, m_light):
    """As for I_b: I_c → R·Σ|M_c|²(t₀) at s → 4max(M, M_N)² (σ(N₁N₁→Z′Z′)·v → const)."""
    for m_n, m_v in ((m_heavy, m_light), (m_light, m_heavy)):
        s = 4 * max(m_v, m_n) ** 2 * (1 + 1e-9)
        r = math.sqrt((s - 4 * m_v**2) * (s - 4 * m_n**2))
        t0 = m_v**2 + m_n**2 - s / 2
        limit = float(amplitude2_dm_pair_to_mediator_pair(s, np.array([t0]), m_n, m_v)[0])
        assert float(xsec.t_integrated_dm_pair_to_mediator_pair(s, m_n, m_v)) / r == pytest.approx(limit, rel=1e-6)


def test_high_energy_limits():
    """s ≫ all masses (relative corrections O(m²/s · ln s) ≲ 1e-8 at s = 1e10 GeV²):
    σ_a → η_a g_dm² g_sm² Q′²N_c/(12π s) (massless f, A25's off-shell limit);
    I_b → 16 s [ln(s/M_f²) − 1] (M_f² s ≫ M⁴) and 32 s [ln(s/M²) − 1] for M_f = 0;
    I_c → 16 s [ln(s/M_N²) − 1] (M_N² s ≫ M⁴)."""
    s, m_n, m_v = 1e10, 1.0, 0.5
    g_dm, g_sm = 0.3, 0.2
    sigma_a = float(
        xsec.sigma_dm_pair_to_sm(
            s, m_n, g_dm, g_sm**2 * width_to_fermion_pair(math.sqrt(s), 0.0), (s - m_v**2) ** 2, 1.0
        )
    )
    assert s * sigma_a == pytest.approx(g_dm**2 * g_sm**2 / (12 * math.pi), rel=1e-9)
    leading = 16 * s * (math.log(s) - 1)
    assert float(xsec.t_integrated_mediator_pair_to_fermions(s, 1.0, 0.1)) == pytest.approx(leading, rel=1e-7)
    assert float(xsec.t_integrated_mediator_pair_to_fermions(s, 0.0, 1.0)) == pytest.approx(2 * leading, rel=1e-7)
    assert float(xsec.t_integrated_dm_pair_to_mediator_pair(s, 1.0, 0.1)) == pytest.approx(leading, rel=1e-7)
    # hence σ(Z′Z′→ff̄) → N_c g⁴ [ln(s/M_f²) − 1]/(9π s) and σ(N₁N₁→Z′Z′) → g⁴ [ln(s/M_N²) − 1]/(8π s)
    assert float(xsec.sigma_mediator_pair_to_fermion(s, 1.0, 0.1, 1.0, 3.0)) == pytest.approx(
        3 * (math.log(s) - 1) / (9 * math.pi * s), rel=1e-7
    )
    assert float(xsec.sigma_dm_pair_to_mediator_pair(s, 1.0, 0.1, 1.0)) == pytest.approx(
        (math.log(s) - 1) / (8 * math.pi * s), rel=1e-7
    )
    # the next order is visible: at s = 1e8 the deviation of I_b(M_f = 1) is ≈ 100× larger
    low = float(xsec.t_integrated_mediator_pair_to_fermions(1e8, 1.0, 0.1)) / (16e8 * (math.log(1e8) - 1)) - 1
    high = float(xsec.t_integrated_mediator_pair_to_fermions(s, 1.0, 0.1)) / leading - 1
    assert 1e-8 < abs(low) < 1e-6 and abs(high) < 1e-2 * abs(low) * 1.5


def test_zero_below_threshold_with_nan_free_gradients():
    """σ = 0 (and ∂σ = 0, not NaN) below the initial- or final-state threshold and exactly at it (N.4)."""
    cases = [
        (
            lambda s, m, big_m: xsec.sigma_dm_pair_to_sm(s, m, 1.0, 0.1, (s - big_m**2) ** 2 + 0.01, 1.0),
            0.5,
            3.0,
            4 * 0.25,
        ),
        (lambda s, m, big_m: xsec.sigma_mediator_pair_to_fermion(s, m, big_m, 1.0, 1.0), 0.3, 1.0, 4.0),
        (lambda s, m, big_m: xsec.sigma_mediator_pair_to_fermion(s, m, big_m, 1.0, 1.0), 1.0, 0.3, 4.0),
        (lambda s, m, big_m: xsec.sigma_dm_pair_to_mediator_pair(s, m, big_m, 1.0), 1.0, 0.3, 4.0),
        (lambda s, m, big_m: xsec.sigma_dm_pair_to_mediator_pair(s, m, big_m, 1.0), 0.3, 1.0, 4.0),
    ]
    for sigma, m, big_m, threshold in cases:
        for s in (0.37 * threshold, 0.999 * threshold, threshold):
            assert float(sigma(s, m, big_m)) == 0.0
            grads = jax.grad(sigma, argnums=(0, 1, 2))(s, m, big_m)
            assert all(float(g) == 0.0 for g in grads), (s, grads)
        assert float(sigma(1.001 * threshold, m, big_m)) > 0.0
    for x, root in ((4.0, 2.0), (0.0, 0.0), (-3.0, 0.0)):
        assert float(xsec.safe_sqrt(x)) == root
    assert float(jax.grad(xsec.safe_sqrt)(4.0)) == 0.25
    assert float(jax.grad(xsec.safe_sqrt)(0.0)) == 0.0 and float(jax.grad(xsec.safe_sqrt)(-1.0)) == 0.0


@pytest.mark.parametrize("process", ["b", "c"])
@pytest.mark.parametrize("where", ["s=2M^2", "s=4M^2-M^4/m^2"])
def test_nan_free_gradients_at_the_zeros_of_the_closed_form_denominators(process, where):
    """I_b, I_c divide by s − 2M² and by M⁴ − 4M²m² + m²s, which vanish below threshold (at s = 2M² and
    s = 4M² − M⁴/m²): there the value is 0 and every gradient is 0, not NaN, and Python floats do not
    raise ZeroDivisionError (docs/equations.md N.4)."""
    sigma = {
        "b": lambda s, m, big_m: xsec.sigma_mediator_pair_to_fermion(s, m, big_m, 1.0, 1.0),
        "c": lambda s, m, big_m: xsec.sigma_dm_pair_to_mediator_pair(s, m, big_m, 1.0),
    }[process]
    m, big_m = (0.3, 1.0) if where == "s=2M^2" else (1.0, 0.3)
    s = 2 * big_m**2 if where == "s=2M^2" else 4 * big_m**2 - big_m**4 / m**2  # both below threshold
    args = (jnp.asarray(s), jnp.asarray(m), jnp.asarray(big_m))
    assert float(sigma(*args)) == 0.0
    grads = jax.grad(sigma, argnums=(0, 1, 2))(*args)
    assert all(float(g) == 0.0 for g in grads), grads
    assert float(sigma(s, m, big_m)) == 0.0


@pytest.mark.parametrize("name", ["a", "b", "c"])
def test_gradients_match_central_differences(name):
    """jax.grad in (s, light mass, heavy mass) vs 5-point differences (relative step 1e-4)."""
    if name == "a":

        def sigma(p):
            s, m, big_m = p[0], p[1], p[2]
            return xsec.sigma_dm_pair_to_sm(
                s, m, 0.3, 0.02 * jnp.sqrt(s), (s - big_m**2) ** 2 + (0.1 * big_m) ** 2, 1.0
            )

        point = np.array([7.3, 0.6, 2.4])
    elif name == "b":

        def sigma(p):
            return xsec.sigma_mediator_pair_to_fermion(p[0], p[1], p[2], 0.3, 3.0)

        point = np.array([9.1, 0.4, 1.1])
    else:

        def sigma(p):
            return xsec.sigma_dm_pair_to_mediator_pair(p[0], p[1], p[2], 0.3)

        point = np.array([9.1, 1.1, 0.4])
    grad = np.asarray(jax.grad(sigma)(jnp.asarray(point)))
    fd = central_difference(lambda p: float(sigma(jnp.asarray(p))), point, 1e-4, 4, relative=True)
    np.testing.assert_allclose(grad, fd, rtol=1e-8)


# --- scalings ----------------------------------------------------------------------------------------


def test_coupling_colour_and_mode_scalings():
    """σ_b ∝ (gQ′)⁴ N_c, σ_c ∝ g⁴ η_c, σ_a ∝ g_dm² Γ_SM η_a and Γ_SM ∝ g_sm² (so σ_a ∝ g⁴ at g_dm = g_sm)."""
    s = np.array([5.0, 17.0, 240.0])
    lam = 3.7
    b1 = np.asarray(xsec.sigma_mediator_pair_to_fermion(s, 0.2, 0.9, 1e-3, 1.0))
    np.testing.assert_allclose(
        np.asarray(xsec.sigma_mediator_pair_to_fermion(s, 0.2, 0.9, lam * 1e-3, 3.0)), 3 * lam**4 * b1, rtol=1e-13
    )
    c1 = np.asarray(xsec.sigma_dm_pair_to_mediator_pair(s, 0.9, 0.2, 1e-3))
    np.testing.assert_allclose(
        np.asarray(xsec.sigma_dm_pair_to_mediator_pair(s, 0.9, 0.2, lam * 1e-3, 0.125)), lam**4 * c1 / 8, rtol=1e-13
    )
    bw = (s - 4.0) ** 2 + 0.04

    def sigma_a(g, eta):
        return np.asarray(
            xsec.sigma_dm_pair_to_sm(
                s, 0.9, g, g**2 * np.array([width_to_fermion_pair(math.sqrt(x), 0.1) for x in s]), bw, eta
            )
        )

    np.testing.assert_allclose(sigma_a(lam * 1e-3, 0.5), lam**4 * sigma_a(1e-3, 1.0) / 2, rtol=1e-13)
    assert xsec.annihilation_normalisation("paper") == (0.5, 0.125)
    assert xsec.annihilation_normalisation("physical") == (1.0, 1.0)


def test_elementwise_broadcasting_matches_scalar_calls():
    s = np.array([[4.5], [11.0], [60.0]])
    m_v = np.array([0.3, 0.8, 1.1])
    grid = np.asarray(xsec.sigma_dm_pair_to_mediator_pair(s, 1.0, m_v, 0.5))
    assert grid.shape == (3, 3)
    for i in range(3):
        for j in range(3):
            assert grid[i, j] == pytest.approx(
                float(xsec.sigma_dm_pair_to_mediator_pair(float(s[i, 0]), 1.0, float(m_v[j]), 0.5)), rel=1e-15
            )
    assert grid[0, 2] == 0.0  # s = 4.5 < 4·1.1²


# --- the narrow-width pole term -------------------------------------------------------------------


def _log_pole_a28(m, big_m, gamma_nn, gamma_sm, temperature):
    """ln of (A28)/(n_N^eq)²: γ_pole = 3M²T/π² K₁(M/T) Γ_NN Γ_SM/Γ, n_N^eq = M_N² T K₂(M_N/T)/π² (G1, g_N = 2)."""
    gamma = gamma_nn + gamma_sm
    log_rate = math.log(
        3 * big_m**2 * temperature / math.pi**2 * sp.kve(1, big_m / temperature) * gamma_nn * gamma_sm / gamma
    )
    log_n2 = 2 * math.log(m**2 * temperature * sp.kve(2, m / temperature) / math.pi**2)
    return log_rate - log_n2 - (big_m - 2 * m) / temperature


@pytest.mark.parametrize("temperature", [0.01, 0.1, 1.0, 30.0])
def test_pole_term_equals_decay_form(temperature):
    """E.4 'pole identity (A27) = (A28)', physical mode: the package's pole term of ⟨σv⟩_a, fed with
    σ̃(M²) = σ_a·BW from the package, is on-shell Z′ production times BR(Z′→N₁N₁)·2 (exact)."""
    m, big_m, g = 0.3, 1.0, 1e-4
    gamma_sm = g**2 * 6.5 * big_m / (12 * math.pi)  # Σ Q′²N_c = 6.5 massless channels (K4)
    gamma_nn = g**2 * big_m / (24 * math.pi) * (1 - 4 * m**2 / big_m**2) ** 1.5  # (A10)
    reduced = float(xsec.sigma_dm_pair_to_sm(big_m**2, m, g, gamma_sm, 1.0, 1.0))
    log_pole = float(rates.log_sigma_v_pole(m, big_m, gamma_sm + gamma_nn, reduced, temperature))
    assert log_pole == pytest.approx(_log_pole_a28(m, big_m, gamma_nn, gamma_sm, temperature), abs=1e-12)
    # paper mode: η_a = 1/2 halves the pole term
    eta_paper, _ = xsec.annihilation_normalisation("paper")
    reduced_paper = float(xsec.sigma_dm_pair_to_sm(big_m**2, m, g, gamma_sm, 1.0, eta_paper))
    log_paper = float(rates.log_sigma_v_pole(m, big_m, gamma_sm + gamma_nn, reduced_paper, temperature))
    assert log_paper - log_pole == pytest.approx(-math.log(2), abs=1e-12)


def test_pole_term_is_the_narrow_width_limit_of_the_breit_wigner_integral():
    """(G19): ⟨σv⟩ of (G12) with the full Breit–Wigner, integrated in θ = arctan((s − M²)/MΓ)
    (ds/BW = dθ/MΓ, SciPy quad), approaches the package's pole term linearly in Γ/M."""
    m, big_m, g, temperature = 0.3, 1.0, 1e-3, 0.2
    n_channels = 2.5

    def numerator(s):  # σ·BW·(s − 4m²)√s K₁(√s/T), Γ_SM(√s) = g² n √s/(12π)
        width_sm = g**2 * n_channels * math.sqrt(s) / (12 * math.pi)
        return (
            g**2
            * width_sm
            * math.sqrt(s - 4 * m**2)
            * (s - 4 * m**2)
            * math.sqrt(s)
            * sp.k1(math.sqrt(s) / temperature)
        )

    normalisation = 8 * m**4 * temperature * sp.kn(2, m / temperature) ** 2
    reduced = float(xsec.sigma_dm_pair_to_sm(big_m**2, m, g, g**2 * n_channels * big_m / (12 * math.pi), 1.0, 1.0))

    def relative_deviation(width_over_m):
        width = width_over_m * big_m
        edges = (
            [math.atan((4 * m**2 - big_m**2) / (big_m * width))]
            + [
                math.atan(d / (big_m * width))
                for d in (-0.1, -1e-2, -1e-3, -1e-4, 0.0, 1e-4, 1e-3, 1e-2, 0.1, 1.0, 10.0, 100.0)
            ]
            + [math.pi / 2]
        )
        total = sum(
            si.quad(
                lambda th: numerator(big_m**2 + big_m * width * math.tan(th)), a, b, limit=200, epsabs=0, epsrel=1e-10
            )[0]
            for a, b in itertools.pairwise(edges)
        ) / (big_m * width)
        pole = math.exp(float(rates.log_sigma_v_pole(m, big_m, width, reduced, temperature)))
        return total / normalisation / pole - 1

    assert abs(relative_deviation(1e-6)) < 3e-6
    assert convergence_order(relative_deviation, 1e-5, factor=10.0) == pytest.approx(1.0, abs=0.01)


def test_panel_edges_are_merged_as_a_sort_would_order_them():
    """The thermal averages' panel edges (N.2) are the fixed t-panels merged with each ascending group
    of breakpoints by rank, not by a sort: the same values (ties, edges clipped to t = 0 and 60, a
    zero-width window), hence the same nodes, and the same derivatives."""
    rng = np.random.default_rng(7)
    fixed = jnp.asarray(rates._FIXED_T_PANELS)
    for _ in range(20):
        groups = [
            jnp.asarray(np.sort(rng.choice([0.0, 1e-3, 0.2, 60.0, 7.0], 5))),  # ties with the fixed edges
            jnp.asarray(np.sort(rng.uniform(-30.0, 90.0, 44))),  # some below 0 and above 60
            jnp.full((10,), rng.uniform(0.0, 60.0)),  # a closed window: all edges equal
        ]
        clipped = [jnp.clip(g, 0.0, 60.0) for g in groups]
        merged = fixed
        for group in clipped:
            merged = rates._merge_ascending(merged, group)
        np.testing.assert_array_equal(merged, jnp.sort(jnp.concatenate([fixed, *clipped])))
        nodes, weights = rates._gauss_legendre_panels(rates._composite_edges(groups), 8)
        assert nodes.shape == (8 * (fixed.size - 1 + 59),)
        assert float(jnp.sum(weights)) == pytest.approx(60.0, rel=1e-13)

    def integral(shift, merge):
        groups = [jnp.asarray([0.5, 3.0, 40.0]) * shift, jnp.asarray([2.0, 2.5]) + shift]
        edges = jnp.concatenate([fixed, *groups])
        edges = merge(groups) if merge else jnp.sort(edges)
        return jnp.sum(jnp.exp(-edges) * jnp.arange(edges.size))

    def by_rank(groups):
        merged = fixed
        for group in groups:
            merged = rates._merge_ascending(merged, group)
        return merged

    for shift in (0.7, 1.3):
        value, tangent = jax.jvp(lambda x: integral(x, by_rank), (shift,), (1.0,))
        value_sorted, tangent_sorted = jax.jvp(lambda x: integral(x, None), (shift,), (1.0,))
        assert float(value) == float(value_sorted)
        assert float(tangent) == float(tangent_sorted)


# slow: the per-temperature rule compiled beside the passes (~20 s); the Dirac χ's σ_a average stays checked by default against quad in test_dark_photon_reference.py
@pytest.mark.slow
def test_panels_of_zero_width_are_skipped_with_the_same_sums_and_derivatives():
    """`rates._sigma_v_scaled_on_panels` (the Dirac χ's σ_a average, docs/relic.md "Thermal averages")
    evaluates only the (temperature, panel) pairs of non-zero width, in passes of
    `rates.PANEL_PASS`: against every temperature summed alone over all its panels (the rule it
    replaces), the same sums to 1e-14 relative, with 0, 1, a pass and a pass and one of the pairs
    non-empty, and more than 3 passes; its derivatives (written out from each pair's gradient, in
    forward and reverse mode) equal those of the per-temperature sums, and the sums under a derivative
    are the same numbers as without one."""
    n_t, nodes = 64, 8
    temperatures = jnp.geomspace(2.0, 2e-3, n_t)
    m, pole_mass = 0.3, 0.7
    # breakpoints in √s above √s_min = 2m (the first panel has non-zero width): most clip to t = 60 at
    # the low temperatures
    breakpoints = jnp.geomspace(0.65, 40.0, 57)

    def sigma(s, detuning, i, args):
        scale, widths = args
        return scale / (detuning**2 + s * widths[i] ** 2) * jnp.sqrt(s)

    def edges_for(b):
        return jax.vmap(lambda t: rates._t_panel_edges(2.0 * m, t, (b,)))(temperatures)

    def each_alone(edges, scale, widths):  # every temperature over all its panels (the rule replaced)
        def at(i, temperature, edges):
            t, w = rates._gauss_legendre_panels(edges, nodes)
            x = temperature * t
            s = (2.0 * m + x) ** 2
            sigma_s = sigma(s, (x - (pole_mass - 2.0 * m)) * (x + 2.0 * m + pole_mass), i, (scale, widths))
            integral = rates._t_panel_integral(m, 2.0 * m, temperature, t, w, sigma_s)
            return integral / rates.gondolo_gelmini_normalisation(m, temperature)

        return jax.vmap(at)(jnp.arange(n_t), temperatures, edges)

    def skipping_on(edges, scale, widths):
        # nodes moving with the panel edges: the derivative of the per-temperature sums compared below
        return rates._sigma_v_scaled_on_panels(
            sigma, nodes, m, 2.0 * m, temperatures, edges, pole_mass, (scale, widths), follow_edges=True
        )

    def one_by_one(b, scale, widths):
        return each_alone(edges_for(b), scale, widths)

    def skipping(b, scale, widths):
        return skipping_on(edges_for(b), scale, widths)

    widths = jnp.linspace(0.05, 0.2, n_t)
    slots = n_t * (rates._FIXED_T_PANELS.size + breakpoints.size - 1)
    non_empty = int(jnp.sum(jnp.diff(edges_for(breakpoints), axis=1) > 0))
    assert non_empty > 3 * rates.PANEL_PASS and non_empty < 0.8 * slots
    fast, slow = jax.jit(skipping)(breakpoints, 2.0, widths), jax.jit(one_by_one)(breakpoints, 2.0, widths)
    np.testing.assert_allclose(fast, slow, rtol=1e-14)
    assert np.all(np.asarray(slow) > 0)

    # the pairs of non-zero width ending at a pass boundary, one past it, one, and none at all: every
    # panel after the first `listed` of non-zero width (in the order of the pairs) collapsed onto its
    # last kept edge
    edges = edges_for(breakpoints)
    for listed in (rates.PANEL_PASS, rates.PANEL_PASS + 1, 1, 0):
        kept = jnp.cumsum((jnp.diff(edges, axis=1) > 0).ravel()).reshape(n_t, -1) <= listed
        collapsed = jax.lax.cummax(
            jnp.where(jnp.concatenate([jnp.ones((n_t, 1), bool), kept], axis=1), edges, -1.0), axis=1
        )
        assert int(jnp.sum(jnp.diff(collapsed, axis=1) > 0)) == listed
        np.testing.assert_allclose(
            skipping_on(collapsed, 2.0, widths), each_alone(collapsed, 2.0, widths), rtol=1e-14, atol=0
        )

    # derivatives in the breakpoints' scale (the edges move), σ's scale and the widths
    def summed(f):
        return lambda u: jnp.sum(jnp.log(f(breakpoints * u[0], u[1], widths * u[2])))

    u0 = jnp.asarray([1.1, 2.0, 0.7])
    primal, _ = jax.jit(lambda u: jax.jvp(summed(skipping), (u,), (jnp.ones(3),)))(u0)
    assert float(primal) == float(jax.jit(summed(skipping))(u0))
    forward = jax.jit(jax.jacfwd(summed(skipping)))(u0)
    reverse = jax.jit(jax.grad(summed(skipping)))(u0)
    expected = jax.jit(jax.jacfwd(summed(one_by_one)))(u0)
    assert np.all(np.abs(np.asarray(expected)) > 1e-4)  # each direction moves the sums (the edges: 5e-4)
    scale = 1e-12 * float(np.abs(np.asarray(expected)).max())
    np.testing.assert_allclose(forward, expected, rtol=1e-12, atol=scale)
    np.testing.assert_allclose(reverse, expected, rtol=1e-12, atol=scale)


def test_mediator_pair_average_on_one_grid_matches_each_temperature_on_its_own():
    """⟨σv⟩_b of a table is integrated on one grid in √s − 2M_V that its temperatures share (N.2):
    against each temperature integrated alone on its own panels in t (the fixed ones and the fermion
    thresholds) at 32 nodes per panel, ≤ 3e-5 in ln⟨σv⟩_b over 7–11 decades of temperature, quark
    gate at T_QCD included (measured on these 8 points: 2.35e-5; with 32 geometric panels instead of
    48: 5.4e-5); a table of one temperature works too."""

    @functools.partial(jax.jit, static_argnames="current")
    def shared_and_alone(m_dm, m_v, current):
        masses, weights, is_quark = rates._sm_fermion_channels(current)
        portal = VectorPortal(m_dm, m_v, 1.0, 1.0, current=current)
        # a table's range: T_R = 100 max(m) to min(m)/10⁵ (x_end), up to 11 decades here
        temperatures = jnp.geomspace(100.0 * jnp.maximum(m_dm, m_v), jnp.minimum(m_dm, m_v) / 1e5, 128)

        def alone(temperature):
            gate = 1.0 / (1.0 + jnp.exp(-(temperature - rates.T_QCD) / (0.05 * rates.T_QCD)))
            channel_weights = jnp.where(is_quark, gate, 1.0) * weights

            def sigma(s):
                return xsec.sigma_mediator_pair_to_fermion(s[:, None], masses, m_v, 1.0, 1.0) @ channel_weights

            thresholds = [2.0 * mass for mass in masses if mass > 0]
            return rates.log_sigma_v_identical_pair(sigma, m_v, 2.0 * m_v, temperature, (thresholds,), 32)

        return (
            rates._log_sigma_v_mediator_annihilation(portal, temperatures),
            jax.vmap(alone)(temperatures),
            rates._log_sigma_v_mediator_annihilation(portal, temperatures[60:61]),
        )

    rng = np.random.default_rng(11)
    for current in ("b-l", "em"):
        for m_dm, m_v in 10 ** rng.uniform(-3.0, 1.0, (4, 2)):
            shared, reference, one = (np.asarray(x) for x in shared_and_alone(m_dm, m_v, current))
            relevant = reference > -700.0
            assert relevant.sum() > 100
            np.testing.assert_allclose(shared[relevant], reference[relevant], rtol=0, atol=3e-5, err_msg=current)
            assert one[0] == pytest.approx(reference[60], abs=3e-5)


def test_majorana_annihilation_average_on_one_grid_matches_each_temperature_on_its_own():
    """⟨σv⟩_a of the Majorana N₁ off the pole is integrated on one grid in √s − 2M_N₁ that a table's
    temperatures share (N.2): against each temperature integrated alone on its own panels in t (the
    fixed ones, the resonance-window edges and the fixed √s edges) at 32 nodes per panel, over 7–12
    decades of temperature, pole open and closed. Measured on these points: max 4.9e-5 (physical)
    and 4.4e-4 (paper), where the t panels at 8 nodes (the rule it replaced) give 6.4e-5 and 2.3e-4;
    with 16 geometric panels instead of 48, 1.1e-3 (physical). On 40 random points a mode both rules
    reach 1.2e-4 (physical) and 1.2e-3 (paper). A table of one temperature works too."""

    @functools.partial(jax.jit, static_argnames="mode")
    def shared_and_alone(m_dm, m_v, mode):
        settings = uvmsm_jax.Settings(mode=mode)
        portal = VectorPortal(m_dm, m_v, 1.0, 1.0)
        temperatures = jnp.geomspace(100.0 * jnp.maximum(m_dm, m_v), jnp.minimum(m_dm, m_v) / 1e5, 128)
        zero = jnp.zeros(())
        window = rates.resonance_window(portal)
        sigma = rates.dm_pair_to_sm_cross_section(portal, settings, zero, window)
        window_edges = [rates.safe_sqrt(m_v**2 + k * window) for k in rates.RESONANCE_WINDOW_EDGES]
        fixed_edges = list(rates._annihilation_sqrt_s_edges(float(settings.sqrt_s_switch), portal.current))

        def alone(temperature):
            groups = (window_edges, fixed_edges)
            return rates.log_sigma_v_identical_pair(sigma, m_dm, 2.0 * m_dm, temperature, groups, 32)

        def shared(temperatures):
            return rates._log_sigma_v_annihilation(portal, settings, 1.0, 1.0, (zero, zero, zero), temperatures)[0]

        return shared(temperatures), jax.vmap(alone)(temperatures), shared(temperatures[60:61])

    rng = np.random.default_rng(12)
    for mode, bound in (("physical", 1e-4), ("paper", 1e-3)):
        pole_open = 0
        for m_dm, m_v in 10 ** rng.uniform(-3.0, 1.3, (6, 2)):
            pole_open += m_v > 2.0 * m_dm
            shared, reference, one = (np.asarray(x) for x in shared_and_alone(m_dm, m_v, mode))
            relevant = reference > -700.0
            assert relevant.sum() > 100
            np.testing.assert_allclose(shared[relevant], reference[relevant], rtol=0, atol=bound, err_msg=mode)
            assert one[0] == pytest.approx(reference[60], abs=bound)
        assert 0 < pole_open < 6


@pytest.mark.parametrize(
    "model,mode",
    [
        pytest.param(uvmsm_jax.UVMSM(0.1, 0.3, 1e-5), "physical", id="uvmsm-pole-open"),
        pytest.param(uvmsm_jax.UVMSM(2.0, 1.0, 1e-3), "paper", id="uvmsm-pole-closed", marks=pytest.mark.slow),
        pytest.param(uvmsm_jax.DarkPhotonDM(0.1, 0.3, 5e-4, 0.3), "physical", id="dark-photon", marks=pytest.mark.slow),
    ],
)
def test_written_out_derivatives_of_the_thermal_averages_equal_forward_mode(model, mode, monkeypatch):
    """The derivatives of the thermal averages are written out (N.2′: `rates._shared_grid_average`,
    `rates._t_panel_integral`). The whole rate table's Jacobian in θ = (m_dm, m_v, g_sm, g_dm, T_R),
    its nodes moving with θ (σ_a of the N₁ in the threshold frame of N.2′), equals forward mode through the Bessel kernel (the functions
    undecorated) in every column: d ln(coefficient)/d ln θ to 1e-8 absolute (measured: ≤ 3e-9 on
    96 random UνMSM tables of both modes and 32 dark-photon tables). The reverse-mode gradient
    of a sum of columns equals the forward Jacobian's, and the values are the same to 1e-14. (One point by
    default; the closed pole and the Dirac χ's (a) next to it are slow: ≈ 40 s of compilation each.)"""
    from uvmsm_jax.pipeline import configure, parameters, point_rate_table

    settings = uvmsm_jax.Settings(mode=mode)
    config = configure(model, settings)
    theta = jnp.asarray(parameters(model, settings))

    def columns(th):
        table = point_rate_table(th, config)
        values = jnp.stack([table.log_sv_a_off_pole, table.log_sv_a_shift, table.log_sv_b, table.log_sv_c])
        return values, values

    def summed(th):
        values = columns(th)[0]
        return jnp.sum(jnp.where(values > -600.0, values, 0.0))

    jacobian, values = (np.asarray(x) for x in jax.jit(jax.jacfwd(columns, has_aux=True))(theta))
    gradient = jax.jit(jax.grad(summed))(theta)
    with monkeypatch.context() as patch:
        patch.setattr(rates, "_shared_grid_average", rates._shared_grid_average.fun)
        patch.setattr(rates, "_t_panel_integral", rates._t_panel_integral.fun)
        reference, reference_values = (np.asarray(x) for x in jax.jit(jax.jacfwd(columns, has_aux=True))(theta))
    # the same numbers to rounding: XLA may contract the kernel's products into fused multiply-adds
    # differently where it also carries tangents (measured: 1.6e-15)
    np.testing.assert_allclose(values, reference_values, rtol=1e-14, atol=0)
    live = values > -600.0  # ln 0 (LOG_ZERO) columns have zero derivatives either way
    assert live.sum() > 200
    elasticity = jacobian * np.asarray(theta)
    np.testing.assert_allclose(elasticity[live], (reference * np.asarray(theta))[live], rtol=0, atol=1e-8)
    assert np.abs(elasticity[live]).max() > 1.0  # the check has something to compare
    np.testing.assert_allclose(
        np.asarray(gradient), np.where(live[..., None], jacobian, 0.0).sum(axis=(0, 1)), rtol=1e-10
    )


def _annihilation_derivatives_along_the_masses(points, settings):
    """d ln⟨σv⟩_a,off/d ln(m_dm, m_v) of each point's own rate table at nine points 5e-4 apart in
    ln m_dm and ln m_v together (the middle one the point), the values, each table's temperatures
    [GeV], θ, and ln⟨σv⟩_a,off of (ln masses, θ) (traced when called)."""
    from uvmsm_jax.pipeline import configure, parameters, prepare, rate_table

    config = configure(points[0], settings)
    thetas = jnp.asarray(np.stack([np.asarray(parameters(p, settings)) for p in points]))
    offsets = np.linspace(-2e-3, 2e-3, 9)

    def off_pole(log_masses, theta):
        return rate_table(theta.at[:2].set(jnp.exp(log_masses)), config, False).log_sv_a_off_pole

    def along(theta, offset):
        log_masses = jnp.log(theta[:2]) + offset
        return jax.jacfwd(off_pole)(log_masses, theta), off_pole(log_masses, theta)

    slopes, values = jax.jit(jax.vmap(jax.vmap(along, (None, 0)), (0, None)))(thetas, offsets)
    temperatures = [np.asarray(p.m_ref * jnp.exp(-p.taus)) for p in (prepare(t, config) for t in thetas)]
    return offsets, np.asarray(slopes), np.asarray(values), temperatures, thetas, off_pole


def _check_smooth_and_window_edges(points, window_point, roughness, edge_tolerance, monkeypatch):
    offsets, slopes, values, temperatures, thetas, off_pole = _annihilation_derivatives_along_the_masses(
        points, uvmsm_jax.Settings()
    )
    design = np.vander(offsets, 3)
    for i in range(len(points)):
        live = (temperatures[i] > 2e-3) & np.all(np.abs(values[i]) < 600.0, axis=0)
        for mass in range(2):
            derivative = slopes[i][:, live, mass]
            fit = design @ np.linalg.lstsq(design, derivative, rcond=None)[0]
            assert np.abs(fit - derivative).max() <= roughness
    # the window's edges: d/d ln m_v at the open pole against central differences of the values on a
    # finer rule (24 nodes a panel), whose own rule changes are smaller
    monkeypatch.setitem(rates.NODES_PER_PANEL, "annihilation", 24)
    finer = jax.jit(off_pole)
    theta, step = thetas[window_point], 1e-2
    fd = sum(
        weight * np.asarray(finer(jnp.log(theta[:2]).at[1].add(k * step), theta)) / step
        for k, weight in zip((2, 1, -1, -2), np.array([-1.0, 8.0, -8.0, 1.0]) / 12.0)
    )
    live = (temperatures[window_point] > 2e-3) & (np.abs(values[window_point, 4]) < 600.0)
    assert np.abs(slopes[window_point, 4, live, 1]).max() > 0.5  # the pole window moves the average
    np.testing.assert_allclose(slopes[window_point, 4, live, 1], fd[live], rtol=0, atol=edge_tolerance)


# slow since stop 69 (27 s): the default run reached 583 s of its 600 with the elasticity tests, and
# the derivative through σ_a stays checked by default against differences through the whole solver
# (test_relic.py's freeze-out gradient, test_elasticities.py)
@pytest.mark.slow
def test_majorana_annihilation_derivative_is_the_integrals_smooth_in_the_masses(monkeypatch):
    """N.2′: σ_a's averages are differentiated in the threshold frame (`rates._threshold_frame`), not
    as the rule whose nodes move with the panel edges. Γ_SM(√s) is linear between data points
    0.25–0.5 MeV apart; moving nodes sampled that σ′, and followed the rule's own changes as edges
    crossed, so d ln⟨σv⟩_a/d ln M_N₁ jumped between masses 10⁻³ apart. At nine points 5e-4 apart in
    ln M_N₁ and ln M_Z′ together, at a freeze-in point (pole closed, hadronic √s) and one with the
    excised pole window in the hadronic data: the derivatives in ln M_N₁ and ln M_Z′ lie on a
    quadratic to ≤ 3e-4 at every temperature above 2 MeV (measured ≤ 7e-5; moving nodes 0.10).
    Below, the thermal window spans a few linear pieces of the data and the derivative is their local
    slope. And the window's moving edges (`rates._excised_window_edge_terms`): the derivative in
    ln M_Z′ equals central differences (steps 1e-2) to 1e-2 there (measured 4.3e-4; without the edge
    terms off by 8)."""
    points = [uvmsm_jax.UVMSM(0.3173, 3.11e-4, 8.56e-13), uvmsm_jax.UVMSM(0.2, 0.9, 1e-5)]
    _check_smooth_and_window_edges(points, 1, 3e-4, 1e-2, monkeypatch)


@pytest.mark.slow
def test_dirac_annihilation_derivative_is_the_integrals_smooth_in_the_masses(monkeypatch):
    """The Dirac χ's σ_a on its per-temperature panels in the same frame (`rates._threshold_frame`),
    and the edges of each temperature's (H11) window: as the test above, at a 2→2 freeze-in point
    and one with the pole open and split off (H11), to ≤ 1.5e-3 (measured 6.7e-4 and 3.5e-4; moving
    nodes 0.19 and 6.7e-2); the edge terms to 0.1 (measured 2.6e-2, the differences' own noise: 5.5e-2
    with steps 5e-3; without the edge terms off by 4.4). (At m_χ = 2.2 GeV ln⟨σv⟩_a itself varies by 0.03 over 5e-4 in ln m_χ at
    T = 2 MeV: the thermal window resolves the R data's ψ(4415), which no frame smooths.)"""
    points = [uvmsm_jax.DarkPhotonDM(0.251, 7.11e-3, 1.34e-12, 6.4e-8), uvmsm_jax.DarkPhotonDM(0.1, 0.3, 1e-7, 1e-3)]
    _check_smooth_and_window_edges(points, 1, 1.5e-3, 0.1, monkeypatch)
