"""Closed forms of docs/equations.md A.8–A.9 against the numbers of Part E.1."""

import math

import numpy as np
import pytest
import scipy.integrate as si
import scipy.optimize as so
import scipy.special as sp

from uvmsm_jax import approximations as ap


def test_e1_1_stability_bound():
    assert ap.n1_stability_yukawa_bound(1e-6) == pytest.approx(5.49e-16, rel=0.02)


def test_e1_2_relativistic_relic():
    assert float(ap.relativistic_relic_omega(1e-5, 10.75)) == pytest.approx(106.23, rel=1e-3)


def test_e1_3_and_e1_4_resonant_coupling():
    g = so.brentq(lambda g: ap.resonant_freeze_in_omega_paper(g, tau_for_f(0.19), 100.0) - 0.12, 1e-13, 1e-10)
    assert g == pytest.approx(5.068e-12, rel=1e-3)
    assert g == pytest.approx(5.1e-12, rel=0.01)
    # E1.4: Ωh² = 1.7214e26 g² f/(C_f g*^{3/2})
    assert ap.resonant_freeze_in_omega_paper(1e-12, 0.5, 100.0) == pytest.approx(
        1.7214e26 * 1e-24 * ap.resonance_shape(0.5) / (7 * 1000.0), rel=1e-4
    )


def tau_for_f(f_value):
    """τ < 1/2 with f(τ) = f_value."""
    return so.brentq(lambda t: ap.resonance_shape(t) - f_value, 1e-6, 0.5)


def test_e1_5_resonance_shape_maximum():
    result = so.minimize_scalar(
        lambda t: -ap.resonance_shape(t), bounds=(0, 1), method="bounded", options={"xatol": 1e-10}
    )
    assert result.x == pytest.approx(0.5, abs=1e-6)
    assert -result.fun == pytest.approx(0.3248, abs=1e-4)
    assert ap.resonance_shape(0.4) == pytest.approx(0.3079, abs=1e-4)


def test_e1_6_physical_resonant_coupling():
    """(A47) with BR_SM = 13/14: g = 3.98e-12 (3.83e-12 for BR_SM = 1)."""
    tau = tau_for_f(0.19)

    def omega(g, br_sm):
        m_zp = 1.0
        width_nn = g**2 * m_zp / (24 * math.pi) * (1 - tau**2) ** 1.5
        y = ap.resonant_freeze_in_yield_physical(width_nn, br_sm, 1.0, m_zp, 100.0)
        return 2.742e8 * (tau * m_zp / 2) * y

    assert so.brentq(lambda g: omega(g, 13 / 14) - 0.12, 1e-13, 1e-10) == pytest.approx(3.98e-12, rel=0.01)
    assert so.brentq(lambda g: omega(g, 1.0) - 0.12, 1e-13, 1e-10) == pytest.approx(3.83e-12, rel=0.01)


def test_e1_7_off_resonance_coupling_and_e1_8_scale():
    g = so.brentq(lambda g: ap.off_resonance_freeze_in_omega_paper(g, 100.0) - 0.12, 1e-8, 1e-4)
    assert g == pytest.approx(4.528e-6, rel=1e-3)
    assert g == pytest.approx(4.5e-6, rel=0.01)
    # physical mode doubles (σv): g → g / 2^{1/4} with M_P = 2.435e18
    g_phys = so.brentq(lambda g: 2 * ap.off_resonance_freeze_in_omega_paper(g, 100.0) - 0.12, 1e-8, 1e-4)
    assert g_phys == pytest.approx(3.808e-6, rel=1e-3)
    assert ap.b_minus_l_breaking_scale(1.0, g) == pytest.approx(7.81e4, rel=2e-3)


def test_e1_14_e1_15_bounds():
    assert ap.heavy_neutrino_mass_ratio_bound(1.0, 0.01) == pytest.approx(0.1257, rel=1e-3)
    g_res = 4.528e-6
    assert ap.scalar_mass_bound(0.5e-3, g_res) == pytest.approx(198, rel=0.03)
    assert ap.scalar_mass_bound(1e-3, g_res) == pytest.approx(396, rel=0.03)


def test_e1_22_identities():
    assert si.quad(lambda x: x**3 * sp.k1(x), 0, np.inf)[0] == pytest.approx(1.5 * math.pi, rel=1e-8)
    assert si.quad(lambda x: x**2 * sp.k1(x) ** 2, 0, np.inf)[0] == pytest.approx(3 * math.pi**2 / 32, rel=1e-8)
    m, t = 0.7, 0.3
    lhs = si.quad(
        lambda s: math.sqrt(s - 4 * m**2) * sp.k1(math.sqrt(s) / t), 4 * m**2, np.inf, epsabs=0, epsrel=1e-13
    )[0]
    assert lhs == pytest.approx(4 * m**2 * t * sp.k1(m / t) ** 2, rel=1e-10)
