"""BBN constraints on the UνMSM: ΔN_eff of decoupled Z′/N₁ and P1's thermalisation-time criterion.

docs/equations.md A.7, eqs. (A34)–(A35), K15; validation E1.9–E1.11, E1.16. Temperatures and masses in
GeV. Every function is elementwise JAX (broadcasts over grids, jit/vmap-safe); the decoupling and
thermalisation temperatures are *inputs* (from the thermalisation classifier, docs/equations.md A.6), so
the same functions serve single points and (M_Z′, g) grids (P1 Fig. 1b, dark-blue region).

(A35)  ΔN_eff ≃ 12/7 [g*(T_ν^dec)/g*(T_Z′^dec)]^{4/3} + [g*(T_ν^dec)/g*(T_N₁^dec)]^{4/3},
       g*(T_ν^dec) = 10.75, each bracket capped at 1; a term counts only if the species was
       thermalised, decoupled at T ≥ T_ν^dec ≈ 1 MeV and is light (see :func:`species_in_delta_neff`).
       Excluded if ΔN_eff > 1.

P1's thermalisation-time criterion (A.7 (ii), (iv)): a species lighter than ≈ T_ν^dec that
thermalises before T_ν^dec (T_therm ≥ 1 MeV) is excluded — for 2M_N₁ ≲ M_Z′ ≲ 1 MeV this is the
requirement that N₁ does not thermalise before T ≃ 1 MeV (g ≳ 3×10⁻⁹–10⁻¹⁰ excluded, E1.16).
"""

from __future__ import annotations

from typing import Literal

import jax.numpy as jnp

T_NU_DECOUPLING = 1e-3
"""Neutrino decoupling temperature T_ν^dec ≈ 1 MeV [GeV] (P1 (3.2))."""
GSTAR_NU_DECOUPLING = 10.75
"""g*(T_ν^dec) in (A35)."""
DELTA_NEFF_EXCLUSION = 1.0
"""P1's exclusion criterion ΔN_eff > 1."""
ZPRIME_WEIGHT = 12.0 / 7.0
"""Z′ weight in (A35): 3 vector d.o.f. over 7/4 per neutrino species."""
N1_WEIGHT = 1.0
"""N₁ weight in (A35): a Majorana N₁ counts as one neutrino species."""
P1_MAX_MASS = 10e-3
"""Upper end of P1's ΔN_eff window 1 MeV ≲ M ≲ 10 MeV [GeV] (A.7 (i), K15)."""


def _as_f64(x):
    return jnp.asarray(x, dtype=jnp.float64)


def delta_neff_species(gstar_dec, weight=1.0, gstar_nu=GSTAR_NU_DECOUPLING):
    """One term of (A35): weight · min(1, g*(T_ν^dec)/g*(T_dec))^{4/3} (dimensionless)."""
    ratio = jnp.minimum(gstar_nu / _as_f64(gstar_dec), 1.0)
    return weight * ratio ** (4.0 / 3.0)


def delta_neff(gstar_dec_zp, gstar_dec_n1, include_zp=True, include_n1=True, gstar_nu=GSTAR_NU_DECOUPLING):
    """ΔN_eff of (A35) from g* at the Z′ and N₁ decoupling temperatures.

    ``include_zp``/``include_n1`` (bool arrays) switch the terms on (see
    :func:`species_in_delta_neff`); each bracket is capped at 1. E1.9: both at 10.75 → 12/7 + 1 =
    2.7143; E1.10: both at 106.75 → 0.12717; E1.11: Z′ only / N₁ only at 10.75 → 12/7 / 1.
    """
    zp = jnp.where(include_zp, delta_neff_species(gstar_dec_zp, ZPRIME_WEIGHT, gstar_nu), 0.0)
    n1 = jnp.where(include_n1, delta_neff_species(gstar_dec_n1, N1_WEIGHT, gstar_nu), 0.0)
    return zp + n1


def species_in_delta_neff(
    thermalised,
    t_dec,
    mass,
    *,
    t_nu_dec=T_NU_DECOUPLING,
    mass_window: Literal["p1", "relativistic"] = "p1",
    max_mass=P1_MAX_MASS,
):
    """Does a species contribute to (A35)? (bool array, elementwise).

    Conditions (A.7): it was thermalised, it decoupled at T_dec ≥ T_ν^dec, and it is light:
    ``mass_window="p1"`` (default, K15): mass ≤ ``max_mass`` = 10 MeV (P1's window); ``"relativistic"``:
    mass ≤ T_ν^dec (relativistic at neutrino decoupling, the strict reading). Masses and
    temperatures in GeV.
    """
    thermalised = jnp.asarray(thermalised, dtype=bool)
    t_dec, mass = _as_f64(t_dec), _as_f64(mass)
    if mass_window == "p1":
        light = mass <= max_mass
    elif mass_window == "relativistic":
        light = mass <= t_nu_dec
    else:
        raise ValueError(f"mass_window must be 'p1' or 'relativistic', got {mass_window!r}")
    return thermalised & (t_dec >= t_nu_dec) & light


def _gstar_function(gstar, dof: Literal["rho", "s"]):
    from ..thermo import DegreesOfFreedom, degrees_of_freedom

    model = gstar if isinstance(gstar, DegreesOfFreedom) else degrees_of_freedom(gstar)
    if dof == "rho":
        return model.g_rho
    if dof == "s":
        return model.g_s
    raise ValueError(f"dof must be 'rho' or 's', got {dof!r}")


def delta_neff_from_temperatures(
    t_dec_zp,
    t_dec_n1,
    thermal_zp,
    thermal_n1,
    m_zp,
    m_n1,
    *,
    gstar="saikawa2018",
    dof: Literal["rho", "s"] = "rho",
    t_nu_dec=T_NU_DECOUPLING,
    gstar_nu=GSTAR_NU_DECOUPLING,
    mass_window: Literal["p1", "relativistic"] = "p1",
):
    """ΔN_eff (A35) on a grid from decoupling temperatures [GeV] and thermalisation flags.

    g* at decoupling from ``gstar`` (a ``Settings.gstar`` value or a
    :class:`~uvmsm_jax.thermo.DegreesOfFreedom`); ``dof="rho"`` uses g*ρ as P1 writes, ``"s"``
    g*s (entropy dilution). Terms counted per :func:`species_in_delta_neff`. Masses in GeV.
    """
    g_of_t = _gstar_function(gstar, dof)
    include_zp = species_in_delta_neff(thermal_zp, t_dec_zp, m_zp, t_nu_dec=t_nu_dec, mass_window=mass_window)
    include_n1 = species_in_delta_neff(thermal_n1, t_dec_n1, m_n1, t_nu_dec=t_nu_dec, mass_window=mass_window)
    # evaluate g* only at sensible temperatures (NaN/0 T_dec of non-thermal points are masked)
    safe = lambda t, ok: jnp.where(ok, _as_f64(t), 1.0)
    return delta_neff(
        g_of_t(safe(t_dec_zp, include_zp)), g_of_t(safe(t_dec_n1, include_n1)), include_zp, include_n1, gstar_nu
    )


def thermalises_before_bbn(thermalised, t_therm, t_nu_dec=T_NU_DECOUPLING):
    """P1's thermalisation-time test: the species reached equilibrium at T_therm ≥ T_ν^dec.

    ``t_therm`` [GeV] is the (highest) temperature at which r/H first exceeds 1 (docs/equations.md A.6);
    NaN/0 for species that never thermalise (``thermalised`` False).
    """
    thermalised = jnp.asarray(thermalised, dtype=bool)
    return thermalised & (jnp.where(thermalised, _as_f64(t_therm), 0.0) >= t_nu_dec)


def bbn_excluded(
    m_zp,
    m_n1,
    *,
    thermal_zp,
    t_dec_zp,
    thermal_n1,
    t_dec_n1,
    t_therm_n1,
    t_therm_zp=None,
    gstar="saikawa2018",
    dof: Literal["rho", "s"] = "rho",
    t_nu_dec=T_NU_DECOUPLING,
    light_mass=T_NU_DECOUPLING,
    mass_window: Literal["p1", "relativistic"] = "p1",
):
    """BBN exclusion of UνMSM points (docs/equations.md A.7) → dict of arrays.

    * ``delta_neff``: (A35) via :func:`delta_neff_from_temperatures`;
      ``by_delta_neff`` = ΔN_eff > 1 (P1 (i), (iii)).
    * ``by_thermalisation``: where P1 applies it (A.7 (ii): 2M_N₁ ≲ M_Z′ ≲ 1 MeV; (iv): M_N₁,
      M_Z′ ≲ T_ν^dec), i.e. only for M_Z′ ≤ ``light_mass`` (≈ T_ν^dec): a species with mass ≤
      ``light_mass`` that thermalises before T_ν^dec — N₁ from ``t_therm_n1``, the Z′ too when
      ``t_therm_zp`` is given. With a heavier Z′ an early-thermalised light N₁ that decouples before
      T_ν^dec is judged by ΔN_eff alone.
    * ``excluded`` = either.

    Inputs broadcast (grids); temperatures and masses in GeV; ``thermal_*`` booleans from the
    thermalisation classifier (A31)–(A33).
    """
    m_zp, m_n1 = _as_f64(m_zp), _as_f64(m_n1)
    options = {"gstar": gstar, "dof": dof, "t_nu_dec": t_nu_dec, "mass_window": mass_window}
    dn = delta_neff_from_temperatures(t_dec_zp, t_dec_n1, thermal_zp, thermal_n1, m_zp, m_n1, **options)
    by_neff = dn > DELTA_NEFF_EXCLUSION
    by_therm = (m_n1 <= light_mass) & thermalises_before_bbn(thermal_n1, t_therm_n1, t_nu_dec)
    if t_therm_zp is not None:
        by_therm = by_therm | thermalises_before_bbn(thermal_zp, t_therm_zp, t_nu_dec)
    by_therm = by_therm & (m_zp <= light_mass)
    return {"delta_neff": dn, "by_delta_neff": by_neff, "by_thermalisation": by_therm, "excluded": by_neff | by_therm}
