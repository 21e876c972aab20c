"""Closed-form approximations of docs/equations.md Part A.8–A.9 (cross-checks, not the solver).

Each function states its assumptions. They reproduce the printed numbers of P1 (Part E.1) and
serve as analytic checks of :func:`uvmsm_jax.relic` in the limits where they hold. Masses in GeV.
"""

from __future__ import annotations

import math

import jax.numpy as jnp

from . import constants as c


def relativistic_relic_omega(m_n1, gstar_s_dec):
    """Ωh² of a relativistically decoupled Majorana N₁ with FD statistics (docs/equations.md A40).

    n/s = 135ζ(3)/(4π⁴ g*s(T_dec)) = 0.41649/g*s; Ωh² = 2.742e8 (m/GeV) n/s.
    """
    return c.OMEGA_H2_PER_MASS_YIELD * m_n1 * 135.0 * c.ZETA3 / (4.0 * jnp.pi**4 * gstar_s_dec)


def resonance_shape(tau):
    """f(τ) = τ (1 − τ²)^{3/2}, τ = 2M_N₁/M_Z′ ∈ (0, 1) (docs/equations.md A45; maximum 0.3248 at τ = 1/2, K6)."""
    return tau * (1.0 - tau**2) ** 1.5


def resonant_freeze_in_omega_paper(g_bl, tau, gstar, c_f=7.0, channel_sum=8.0, m_planck=c.M_PLANCK_REDUCED_PAPER):
    """P1's resonant freeze-in (docs/equations.md A43–A45), constant g*.

    Ωh² = 2.742e8 · 405√10/(16π⁵) · g² M_P f(τ)/(C_f g*^{3/2}) · (Σ Q′²N_c / 8); P1 uses the
    literal 8/3 (``channel_sum`` = 8, neutrinos counted fully, K4) and C_f = 7.
    """
    prefactor = c.OMEGA_H2_PER_MASS_YIELD * 405.0 * math.sqrt(10.0) / (16.0 * math.pi**5)
    return prefactor * g_bl**2 * m_planck * resonance_shape(tau) / (c_f * gstar**1.5) * (channel_sum / 8.0)


def decay_yield(width, g_mediator, m_mediator, gstar, m_planck=c.M_PLANCK_REDUCED):
    """Y_dec of docs/equations.md (A46): ∫dt n_eq⟨M/E⟩Γ/s = 135√90/(8π⁴) g_X Γ M_P/(g*^{3/2} M²), constant g*."""
    return 135.0 * math.sqrt(90.0) / (8.0 * math.pi**4) * g_mediator * width * m_planck / (gstar**1.5 * m_mediator**2)


def resonant_freeze_in_yield_physical(width_nn, width_sm, width_total, m_zp, gstar, m_planck=c.M_PLANCK_REDUCED):
    """Y_N₁ = 2 Y_dec(Γ_NN; 3, M_Z′) Γ_SM/Γ_Z′ (docs/equations.md A47): on-shell Z′ from inverse decays,
    each decaying to N₁N₁ with BR Γ_NN/Γ_Z′, two N₁ per decay; constant g*."""
    return 2.0 * decay_yield(width_nn, c.G_VECTOR, m_zp, gstar, m_planck) * width_sm / width_total


def off_resonance_freeze_in_omega_paper(g_bl, gstar, m_planck=c.M_PLANCK_REDUCED_PAPER):
    """P1's off-resonance freeze-in (docs/equations.md A48–A51): (σv)_P1 = g⁴/(3πs) (one unit channel,
    β_N → 1, M_Z′ ≪ √s), constant g*: Ωh² = 2.742e8 · 135√10/(1024π⁶) · g⁴ M_P/g*^{3/2}."""
    prefactor = c.OMEGA_H2_PER_MASS_YIELD * 135.0 * math.sqrt(10.0) / (1024.0 * math.pi**6)
    return prefactor * g_bl**4 * m_planck / gstar**1.5


def b_minus_l_breaking_scale(m_zp, g_bl):
    """v_S = M_Z′/(2√2 g) (docs/equations.md A4, A52) [GeV]."""
    return m_zp / (2.0 * math.sqrt(2.0) * g_bl)


def scalar_mass_bound(m_zp, g_bl, lambda_s=4.0 * math.pi):
    """M_S ≲ √(2λ_S) v_S (docs/equations.md A53) [GeV]."""
    return math.sqrt(2.0 * lambda_s) * b_minus_l_breaking_scale(m_zp, g_bl)


def heavy_neutrino_mass_ratio_bound(g_bl, m_zp_over_m_n1):
    """M_Nᵢ/M_N₁ < (4π/g)(M_Z′/M_N₁) from κᵢ < 4π (docs/equations.md A54)."""
    return 4.0 * math.pi / g_bl * m_zp_over_m_n1


def n1_stability_yukawa_bound(m_n1, lifetime_s=13.7e9 * 3.15576e7):
    """Σ_α|y_α1|² below which τ(N₁ → 3ν) > ``lifetime_s`` (docs/equations.md A6–A7, E1.1), m_n1 in GeV."""
    width_max = c.HBAR_GEV_S / lifetime_s
    sin2_theta_max = width_max * 96.0 * math.pi**3 / (c.G_FERMI**2 * m_n1**5)
    return sin2_theta_max * m_n1**2 / c.V_HIGGS**2
