"""Proton bremsstrahlung of a light vector off the SPS beam (docs/equations.md C.2, eqs. (C3)–(C11)).

Quasi-real (Fermi–Weizsäcker–Williams) approximation of Blümlein & Brunner (arXiv:1311.3870):
the number of vectors V (A′ or the B−L Z′) radiated per proton on target, per unit of the
longitudinal momentum fraction ``z`` and of the squared transverse momentum ``pt2`` [GeV²], is

    d²n/(dz dpT²) = σ_pp(s′)/σ_pp(s) · |F(m²)|² · w_ba(z, pT²)                          (C3)

with the splitting function ``w_ba`` (C4)–(C5), the pp total cross section (C7) and a proton form
factor: time-like VMD (C9), the SHiP "dipole" penalty factor (C10), or the isoscalar VMD part for
the B−L current (C11). Everything is in GeV; σ_pp appears only as a ratio (mb). All functions are
elementwise JAX functions (broadcast over any shape, differentiable).

The coupling enters only through ``alpha_coupling``: ε²α for the dark photon, g_BL²/(4π) for the
B−L Z′ (C11: the proton has electric charge and B−L charge 1).
"""

from __future__ import annotations

from typing import Literal

import jax.numpy as jnp
import numpy as np

from .. import constants as c

BEAM_ENERGY_SPS = 400.0
"""SPS proton beam energy E_p [GeV] (docs/equations.md C6)."""

ThirdTerm = Literal["fairship", "bdnmc"]
FormFactorKind = Literal["vmd", "dipole", "none"]
Current = Literal["em", "b-l"]

# --- (C9) Faessler et al. time-like VMD fit: (f_V, m_V [GeV], Γ_V [GeV]) -----------------------
VMD_RHO_FAMILY = (
    (0.6165340033101271, 0.77, 0.15),
    (0.22320420111672623, 1.25, 0.30),
    (-0.33973820442685326, 1.45, 0.50),
)
"""Isovector (ρ, ρ′, ρ″) terms of (C9); the f_V sum to 1/2."""
VMD_OMEGA_FAMILY = (
    (1.0117544786579074, 0.77, 0.0085),
    (-0.8816565944110686, 1.25, 0.30),
    (0.3699021157531611, 1.45, 0.50),
)
"""Isoscalar (ω, ω′, ω″) terms of (C9); the f_V sum to 1/2."""

DIPOLE_LAMBDA2 = 0.71
"""Λ² of the SHiP dipole penalty factor (C10), GeV²."""

# (C7) coefficients, s in GeV², σ in mb.
_SIGMA_PP = (35.45, 0.308, 28.94, 42.53, 0.458, 33.34, 0.545)


def sigma_pp_total(s):
    """Total pp cross section σ_pp(s) [mb] of (C7); ``s`` in GeV² (valid for s ≳ 10 GeV²)."""
    a, b, s0, c1, p1, c2, p2 = _SIGMA_PP
    return a + b * jnp.log(s / s0) ** 2 + c1 * s ** (-p1) - c2 * s ** (-p2)


def beam_momentum(e_beam=BEAM_ENERGY_SPS):
    """Beam momentum P = √(E_p² − m_p²) [GeV]."""
    return jnp.sqrt(e_beam**2 - c.M_PROTON**2)


def virtuality(z, pt2, mass):
    """H(z, pT²) = pT² + (1 − z) m² + z² m_p² [GeV²] of (C5)."""
    return pt2 + (1.0 - z) * mass**2 + z**2 * c.M_PROTON**2


def splitting_function(z, pt2, mass, alpha_coupling, third_term: ThirdTerm = "fairship"):
    """Blümlein–Brunner splitting function w_ba(z, pT²) [GeV⁻²] of (C4).

    ``z``: longitudinal momentum fraction of the vector; ``pt2``: pT² [GeV²]; ``mass``: m_V [GeV];
    ``alpha_coupling``: ε²α (dark photon) or g²/(4π) (B−L, C11). ``third_term`` selects the bracket
    of the third term (docs/equations.md K21): ``"fairship"`` → [1 + (1 − z)²] (SHiP default),
    ``"bdnmc"`` → [z + (1 − z)²].
    """
    mp2 = c.M_PROTON**2
    m2 = mass**2
    h = virtuality(z, pt2, mass)
    one_minus_z = 1.0 - z
    if third_term == "fairship":
        bracket3 = 1.0 + one_minus_z**2
    elif third_term == "bdnmc":
        bracket3 = z + one_minus_z**2
    else:
        raise ValueError(f"third_term must be 'fairship' or 'bdnmc', got {third_term!r}")
    terms = (
        (1.0 + one_minus_z**2) / z
        - 2.0 * z * one_minus_z * ((2.0 * mp2 + m2) / h - z**2 * 2.0 * mp2**2 / h**2)
        + 2.0 * z * one_minus_z * bracket3 * mp2 * m2 / h**2
        + 2.0 * z * one_minus_z**2 * m2**2 / h**2
    )
    return alpha_coupling / (2.0 * jnp.pi * h) * terms


def vector_energy(z, pt2, mass, e_beam=BEAM_ENERGY_SPS):
    """E_V = √(z²P² + pT² + m²) [GeV] (C6)."""
    p = beam_momentum(e_beam)
    return jnp.sqrt(z**2 * p**2 + pt2 + mass**2)


def sigma_pp_ratio(z, pt2, mass, e_beam=BEAM_ENERGY_SPS):
    """σ_pp(s′)/σ_pp(s) with s = 2 m_p E_p and s′ = 2 m_p (E_p − E_V) (C6)–(C7)."""
    s = 2.0 * c.M_PROTON * e_beam
    s_prime = 2.0 * c.M_PROTON * (e_beam - vector_energy(z, pt2, mass, e_beam))
    return sigma_pp_total(s_prime) / sigma_pp_total(s)


def _vmd_sum(q2, family):
    total = 0.0 + 0.0j
    for f_v, m_v, g_v in family:
        total = total + f_v * m_v**2 / (m_v**2 - q2 - 1j * m_v * g_v)
    return total


def form_factor_vmd(q2):
    """Time-like VMD Dirac form factor F_VMD(q²) of the proton (C9), complex; ``q2`` = m² [GeV²]."""
    q2 = jnp.asarray(q2, dtype=jnp.float64)
    return _vmd_sum(q2, VMD_RHO_FAMILY) + _vmd_sum(q2, VMD_OMEGA_FAMILY)


def form_factor_b_minus_l(q2):
    """B−L (isoscalar) VMD form factor F_B−L(q²) = 2 Σ_ω-family (C11), complex; F_B−L(0) = 1."""
    q2 = jnp.asarray(q2, dtype=jnp.float64)
    return 2.0 * _vmd_sum(q2, VMD_OMEGA_FAMILY)


def form_factor_dipole_squared(mass):
    """SHiP piecewise dipole penalty |F_dip(m²)|² (C10): 1 for m² ≤ Λ², (Λ²/m²)⁴ above (K25)."""
    m2 = jnp.asarray(mass, dtype=jnp.float64) ** 2
    return jnp.where(m2 <= DIPOLE_LAMBDA2, 1.0, (DIPOLE_LAMBDA2 / jnp.maximum(m2, DIPOLE_LAMBDA2)) ** 4)


def form_factor_squared(mass, kind: FormFactorKind = "vmd", current: Current = "em"):
    """|F(m²)|² for Pbrem: ``kind`` ∈ {"vmd", "dipole", "none"}; ``current`` "em" (A′) or "b-l" (Z′).

    For the B−L current the VMD form factor is the isoscalar one (C11); the dipole is unchanged.
    """
    mass = jnp.asarray(mass, dtype=jnp.float64)
    if kind == "vmd":
        ff = form_factor_vmd(mass**2) if current == "em" else form_factor_b_minus_l(mass**2)
        return jnp.abs(ff) ** 2
    if kind == "dipole":
        return form_factor_dipole_squared(mass)
    if kind == "none":
        return jnp.ones_like(mass)
    raise ValueError(f"form_factor must be 'vmd', 'dipole' or 'none', got {kind!r}")


def pbrem_differential_yield(
    z,
    pt2,
    mass,
    alpha_coupling,
    *,
    form_factor: FormFactorKind = "vmd",
    current: Current = "em",
    e_beam=BEAM_ENERGY_SPS,
    third_term: ThirdTerm = "fairship",
):
    """d²n/(dz dpT²) [GeV⁻² per POT] of (C3): vectors radiated per proton on target."""
    return (
        sigma_pp_ratio(z, pt2, mass, e_beam)
        * form_factor_squared(mass, form_factor, current)
        * splitting_function(z, pt2, mass, alpha_coupling, third_term)
    )


# --- Gauss–Legendre quadrature over (z, pT²) ---------------------------------------------------


class PbremRanges:
    """Integration ranges of (C8) (docs/equations.md K22).

    ``"bb"`` (default, Blümlein–Brunner / Gorbunov et al.): z ∈ [0.1, 0.9], pT ≤ 1 GeV.
    ``"wide"``: z ∈ [0.1, 0.9], pT limited only by the detector acceptance (needs ``max_angle``) —
    closer to FairShip, which integrates the polar angle up to π/2.
    """

    table = {"bb": (0.1, 0.9, 1.0), "wide": (0.1, 0.9, None)}

    @classmethod
    def get(cls, name: str):
        try:
            return cls.table[name]
        except KeyError:
            raise ValueError(f"pbrem_ranges must be one of {sorted(cls.table)}, got {name!r}") from None


def gauss_legendre(n: int, lo: float = -1.0, hi: float = 1.0):
    """Gauss–Legendre nodes and weights on [lo, hi] as NumPy constants (numpy.polynomial.legendre)."""
    x, w = np.polynomial.legendre.leggauss(n)
    return 0.5 * (hi - lo) * x + 0.5 * (hi + lo), 0.5 * (hi - lo) * w


def pbrem_nodes(mass, *, ranges: str = "bb", max_angle=None, n_z: int = 64, n_pt: int = 64, e_beam=BEAM_ENERGY_SPS):
    """Quadrature nodes of the Pbrem (z, pT²) integral for vector mass ``mass`` [GeV].

    z: Gauss–Legendre on [z_min, z_max]. pT²: Gauss–Legendre in v = ln(pT² + H₀(z)), H₀ = H(z, 0),
    which flattens the 1/H behaviour of (C4), from pT² = 0 to pT²_max(z) = min(pT_max, z P tan
    θ_max)² where θ_max is the largest polar angle accepted by the detector (``max_angle`` [rad];
    ``None`` = no angular limit). Returns ``(z, pt2, weight)`` with shape ``mass.shape + (n_z·n_pt,)``;
    Σ weight · f(z, pT²) ≈ ∫dz dpT² f.
    """
    z_min, z_max, pt_max = PbremRanges.get(ranges)
    mass = jnp.asarray(mass, dtype=jnp.float64)[..., None, None]
    zg, wz = gauss_legendre(n_z, z_min, z_max)
    tg, wt = gauss_legendre(n_pt, 0.0, 1.0)
    z = jnp.asarray(zg)[:, None]
    p_beam = beam_momentum(e_beam)
    limits = []
    if pt_max is not None:
        limits.append(jnp.asarray(pt_max) ** 2)
    if max_angle is not None:
        limits.append((z * p_beam * jnp.tan(max_angle)) ** 2)
    if not limits:
        raise ValueError(f"pbrem_ranges={ranges!r} limits pT only through the acceptance: pass max_angle")
    pt2_max = limits[0] if len(limits) == 1 else jnp.minimum(*limits)
    h0 = virtuality(z, 0.0, mass)
    v_lo = jnp.log(h0)
    v_hi = jnp.log(h0 + pt2_max)
    v = v_lo + (v_hi - v_lo) * jnp.asarray(tg)[None, :]
    pt2 = jnp.maximum(jnp.exp(v) - h0, 0.0)
    weight = jnp.asarray(wz)[:, None] * jnp.asarray(wt)[None, :] * (v_hi - v_lo) * jnp.exp(v)
    z_full = jnp.broadcast_to(z, pt2.shape)
    flat = mass.shape[:-2] + (n_z * n_pt,)
    return z_full.reshape(flat), pt2.reshape(flat), weight.reshape(flat)


def pbrem_yield_per_pot(
    mass,
    alpha_coupling=c.ALPHA_EM,
    *,
    form_factor: FormFactorKind = "none",
    current: Current = "em",
    ranges: str = "bb",
    max_angle=None,
    e_beam=BEAM_ENERGY_SPS,
    third_term: ThirdTerm = "fairship",
    n_z: int = 64,
    n_pt: int = 64,
):
    """Total number of vectors radiated per POT, ∫dz dpT² of (C3) over the ranges (C8).

    The default ``alpha_coupling`` = α is ε = 1 for the dark photon (the E.3 unit-test numbers,
    e.g. 7.655e-3 at m = 0.1 GeV without form factor). ``max_angle`` [rad] optionally restricts
    the polar angle (required for ``ranges="wide"``).
    """
    z, pt2, weight = pbrem_nodes(mass, ranges=ranges, max_angle=max_angle, n_z=n_z, n_pt=n_pt, e_beam=e_beam)
    m = jnp.asarray(mass, dtype=jnp.float64)[..., None]
    dn = pbrem_differential_yield(
        z, pt2, m, 1.0, form_factor=form_factor, current=current, e_beam=e_beam, third_term=third_term
    )
    return alpha_coupling * jnp.sum(weight * dn, axis=-1)
