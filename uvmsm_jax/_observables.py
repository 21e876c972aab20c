"""Late-time observables of vector-portal dark matter: CMB energy injection, direct detection and the
ΔN_eff caveat (docs/equations.md H.4, with (H6′) and (H10) of H.1).

:func:`observables` takes a registered model and returns an :class:`Observables` (arrays with the
batch shape of the model fields): the relic Ωh², mechanism and status of :func:`uvmsm_jax.relic`
and

* ⟨σv⟩_late, the s-wave χχ̄ annihilation cross section per channel ((H10) for e⁺e⁻, μ⁺μ⁻, τ⁺τ⁻
  and hadrons through the widths Γ_X(2m_χ), (H6′) for χχ̄ → A′A′);
* f_eff (H19) from the packaged Slatyer/hazma tables (``uvmsm_jax/data/cmb/``, K40), with the
  approximations per channel listed at :func:`f_eff_channels`;
* p_ann = f_eff ⟨σv⟩_late/(2m_χ) (H20) against the Planck 2018 bound (H21) (K39);
* σ̄_e (H22), σ_p (H23) and the per-nucleon σ_N^eff of a target (H24), with the nuclear-recoil
  light-mediator flag of K42;
* the ΔN_eff flag of K43.

Which DM kinds are modelled is data (:data:`DM_KIND_RULES`, keyed by ``ModelSpec.dm_kind``): the
Dirac χ with a vector coupling (Model 2) is; the Majorana N₁ (Model 1) is not — its annihilation
and scattering observables are NaN in the arrays and ``null`` in :meth:`Observables.as_dict`, with
the reason in ``not_modelled``. The pure functions below take a
:class:`~uvmsm_jax.portal.VectorPortal` and are jit-, vmap- and grad-safe (NaN-free gradients at
every threshold); cross sections are in GeV⁻², energies and masses in GeV.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.resources
import math
import os
from typing import Any

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from . import constants as c
from ._export import call_compiled
from ._programs import jit
from ._relic import RelicResult, relic
from ._validation import is_concrete
from ._widths import dm_pair_width
from .codes import STATUS_MESSAGES, mechanism_names
from .hadrons import sm_width_unit
from .models import model_spec
from .pipeline import Config, configure
from .portal import VectorPortal, as_float
from .settings import Settings
from .xsec import running_breit_wigner, safe_sqrt

__all__ = [
    "ANNIHILATION_CHANNELS",
    "ATOMIC_MASS_UNIT_GEV",
    "BOX_NODES",
    "DELTA_NEFF_MASS_THRESHOLD",
    "DM_KIND_RULES",
    "GEV_M2_TO_CM2",
    "GEV_M2_TO_CM3_S",
    "HBAR_C_GEV_CM",
    "MICHEL_NODES",
    "NUCLEAR_RECOIL_V_MAX",
    "NUCLEON_CHARGES",
    "PION_MUON_ENERGY_FRACTION",
    "PLANCK_P_ANN_LIMIT",
    "SPEED_OF_LIGHT_CM_S",
    "TARGETS",
    "DMKindRule",
    "Observables",
    "electron_cross_section",
    "f_eff_box",
    "f_eff_channels",
    "f_eff_charged_pion",
    "f_eff_decaying_lepton",
    "f_eff_electron",
    "f_eff_photon",
    "nuclear_recoil_q_max",
    "nucleon_cross_section",
    "observables",
    "proton_cross_section",
    "sigma_v_late",
]

# --- units -----------------------------------------------------------------------------------------

SPEED_OF_LIGHT_CM_S = 2.99792458e10
"""c in cm s⁻¹ (exact, SI definition)."""
HBAR_C_GEV_CM = c.HBAR_C_GEV_M * 100.0
"""ħc in GeV·cm (from ``constants.HBAR_C_GEV_M``)."""
GEV_M2_TO_CM2 = HBAR_C_GEV_CM**2
"""1 GeV⁻² in cm²: (ħc)² = 3.893794e-28 cm² (docs/equations.md G.1: 0.3894 mb)."""
GEV_M2_TO_CM3_S = GEV_M2_TO_CM2 * SPEED_OF_LIGHT_CM_S
"""1 GeV⁻² in cm³ s⁻¹ for a velocity-weighted cross section σv (v in units of c): (ħc)²·c = 1.167330e-17
(docs/equations.md (H21) quotes the rounded 1.1673e-17)."""

PLANCK_P_ANN_LIMIT = 3.2e-28
"""Planck 2018 95 % CL bound on p_ann [cm³ s⁻¹ GeV⁻¹], TT,TE,EE+lowE+lensing (docs/equations.md (H21), K39)."""

ATOMIC_MASS_UNIT_GEV = 0.93149410242
"""Atomic mass unit u in GeV (CODATA 2018); the nuclear mass of a target is taken as A·u."""
NUCLEAR_RECOIL_V_MAX = 800.0 / 299792.458
"""Largest DM speed in the detector frame, v_esc + v_Earth ≈ 544 + 256 km/s = 800 km/s, in units of c.

Sets the kinematic maximum q_max = 2μ_χN v_max of the nuclear-recoil momentum transfer (K42)."""
DELTA_NEFF_MASS_THRESHOLD = 0.02
"""Mass [GeV] below which a thermalised DM or mediator heats the photons after ν decoupling (K43)."""

TARGETS: dict[str, tuple[int, float]] = {
    "xenon": (54, 131.293),
    "argon": (18, 39.948),
    "germanium": (32, 72.630),
    "silicon": (14, 28.085),
}
"""Direct-detection targets: name → (Z, A) with A the standard atomic weight (docs/equations.md (H24))."""

NUCLEON_CHARGES: dict[str, tuple[float, float, float]] = {"em": (-1.0, 1.0, 0.0), "b-l": (-1.0, 1.0, 1.0)}
"""Charges (electron, proton, neutron) of the mediator's SM current (``VectorPortal.current``): electric
charges (kinetic mixing, (B2): f_n = 0 at leading order, (H23)) or B−L charges (A2)."""

ANNIHILATION_CHANNELS = ("e", "mu", "tau", "nu", "hadrons", "mediator_pair")
"""Channels of ⟨σv⟩_late: the SM channels of :func:`~uvmsm_jax.hadrons.sm_width_unit` (``nu`` is zero
for the electromagnetic current) and ``mediator_pair`` (DM DM → V V, (H6′))."""


@dataclasses.dataclass(frozen=True)
class DMKindRule:
    """How the observables treat one DM kind (``ModelSpec.dm_kind``).

    modelled: whether ⟨σv⟩_late, p_ann and the scattering cross sections are computed.
    pair_mass_factor: p_ann = f_eff ⟨σv⟩_late/(pair_mass_factor · m_DM) (2 for a Dirac pair, (H20), K32).
    conventions: the counting convention, stated in every output.
    not_modelled: why the observables are null (``None`` when modelled).
    """

    modelled: bool
    pair_mass_factor: float
    conventions: str
    not_modelled: str | None = None


DM_KIND_RULES: dict[str, DMKindRule] = {
    "dirac": DMKindRule(
        modelled=True,
        pair_mass_factor=2.0,
        conventions=(
            "Dirac chi + chibar: Omega h^2 counts chi plus chibar; <sigma v>_late is the chi-chibar cross section "
            "(H.0); p_ann = f_eff <sigma v>_late/(2 m_chi) (docs/equations.md (H20), K32), i.e. Planck's "
            "self-conjugate definition with <sigma v>_eff = <sigma v>/2; scattering cross sections per DM "
            "particle (chi and chibar scatter alike, the flux counts both)"
        ),
    ),
    "majorana": DMKindRule(
        modelled=False,
        pair_mass_factor=1.0,
        conventions="Majorana N1 (self-conjugate): annihilation and scattering observables not modelled",
        not_modelled=(
            "Majorana DM with an axial coupling: the s-wave N1 N1 -> f fbar annihilation is helicity-suppressed "
            "(proportional to m_f^2) and the leading p-wave part is velocity-suppressed at recombination; "
            "Z' exchange with nuclei and electrons is axial x vector, i.e. velocity- or spin-suppressed. "
            "Neither is implemented, so p_ann, sigma_e and sigma_p are null"
        ),
    ),
}
"""Treatment of each DM kind, keyed by ``ModelSpec.dm_kind`` (no branch on model names)."""


def _rule(dm_kind: str) -> DMKindRule:
    try:
        return DM_KIND_RULES[dm_kind]
    except KeyError:
        raise ValueError(f"dm_kind must be one of {', '.join(DM_KIND_RULES)}, got {dm_kind!r}") from None


def _require_modelled(portal: VectorPortal) -> None:
    rule = _rule(portal.dm_kind)
    if not rule.modelled:
        raise ValueError(f"late-time observables are not modelled for dm_kind {portal.dm_kind!r}: {rule.not_modelled}")


# --- f_eff tables (docs/equations.md (H19), K40) ---------------------------------------------------------

_CMB_DATA = ("data", "cmb")
_EV = 1e-9  # GeV


@functools.cache
def _table(name: str) -> tuple[np.ndarray, np.ndarray]:
    """(E [GeV], f_eff) of ``data/cmb/<name>`` (read-only NumPy arrays, E increasing)."""
    with importlib.resources.files("uvmsm_jax").joinpath(*_CMB_DATA, name).open("r", encoding="utf-8") as handle:
        data = np.loadtxt(handle, delimiter=",", comments="#")
    energy, f_eff = data[:, 0] * _EV, data[:, 1]
    if not np.all(np.diff(energy) > 0):
        raise ValueError(f"data/cmb/{name}: energies must increase")
    energy.flags.writeable = False
    f_eff.flags.writeable = False
    return energy, f_eff


def f_eff_electron(energy: ArrayLike) -> Float[Array, ...]:
    """f_eff^{e⁺e⁻}(E) of an injected e⁺e⁻ pair, E the total energy of each particle [GeV] (dimensionless).

    The hazma 2.2.0 table (digitised Fig. 3 of Slatyer 2016; docs/equations.md (H19), K40),
    interpolated linearly in E; constant beyond its ends (5 keV, 5.8 TeV).
    """
    energy_nodes, f_nodes = _table("f_eff_ep.dat")
    return jnp.interp(as_float(energy), jnp.asarray(energy_nodes), jnp.asarray(f_nodes))


def f_eff_photon(energy: ArrayLike) -> Float[Array, ...]:
    """f_eff^γ(E) of an injected photon of energy E [GeV] (dimensionless; docs/equations.md (H19), K40).

    Linear in E, constant beyond the table. Not used by the channels of :func:`f_eff_channels`: the
    only photon channel, χχ̄ → π⁰γ, is neglected (K41).
    """
    energy_nodes, f_nodes = _table("f_eff_g.dat")
    return jnp.interp(as_float(energy), jnp.asarray(energy_nodes), jnp.asarray(f_nodes))


@functools.cache
def _electron_antiderivative() -> tuple[np.ndarray, ...]:
    """Segments of F(E) = ∫₀^E e f^{e⁺e⁻}(e) de: lower node, intercept a, slope b (f = a + bE), F(node).

    Segment 0 runs from 0 to the first node and the last from the last node to ∞, both with the
    constant end value of f (as :func:`f_eff_electron`).
    """
    energy, f_eff = _table("f_eff_ep.dat")
    nodes = np.concatenate(([0.0], energy))
    slope = np.concatenate(([0.0], np.diff(f_eff) / np.diff(energy), [0.0]))
    intercept = np.concatenate(([f_eff[0]], f_eff[:-1] - slope[1:-1] * energy[:-1], [f_eff[-1]]))
    upper = np.append(nodes[1:], np.inf)
    finite = np.isfinite(upper)
    pieces = np.zeros_like(nodes)
    e_lo, e_hi = nodes[finite], upper[finite]
    pieces[finite] = intercept[finite] * (e_hi**2 - e_lo**2) / 2.0 + slope[finite] * (e_hi**3 - e_lo**3) / 3.0
    cumulative = np.concatenate(([0.0], np.cumsum(pieces[:-1])))
    return nodes, intercept, slope, cumulative


def _energy_weighted_integral(energy: Array) -> Array:
    """∫₀^E e f^{e⁺e⁻}(e) de [GeV²], exact for the piecewise-linear f (differentiable in E). The
    segment is found by bisection (``searchsorted``'s "scan"): f_eff of the Michel and box spectra
    needs ≈ 3 500 of these a point, and comparing each with all 41 nodes ("compare_all") made
    :func:`uvmsm_jax.observables` of 16 384 dark-photon points take 6.9 s warm instead of 2.1 s (the
    same bits)."""
    nodes, intercept, slope, cumulative = (jnp.asarray(a) for a in _electron_antiderivative())
    k = jnp.clip(jnp.searchsorted(nodes, energy, side="right", method="scan") - 1, 0, nodes.size - 1)
    e0 = nodes[k]
    return cumulative[k] + intercept[k] * (energy**2 - e0**2) / 2.0 + slope[k] * (energy**3 - e0**3) / 3.0


def f_eff_box(energy_low: ArrayLike, energy_high: ArrayLike) -> Float[Array, ...]:
    """Energy-weighted mean of f^{e⁺e⁻} over a flat (box) e± spectrum on [E_lo, E_hi], energies in GeV (dimensionless).

    ∫E f(E) dE / ∫E dE, integrated exactly for the piecewise-linear table: (H19) for e± with a box
    spectrum (e.g. from A′ → e⁺e⁻ in flight, H.4(a)). A box narrower than 1e-7 of its upper end is a
    line, f(E_mid).
    """
    lo, hi = jnp.broadcast_arrays(as_float(energy_low), as_float(energy_high))
    width = hi - lo
    wide = width > 1e-7 * hi
    lo_safe = jnp.where(wide, lo, 0.5 * hi)
    denominator = (hi**2 - lo_safe**2) / 2.0
    box = (_energy_weighted_integral(hi) - _energy_weighted_integral(lo_safe)) / jnp.where(wide, denominator, 1.0)
    return jnp.where(wide, box, f_eff_electron(0.5 * (lo + hi)))


@functools.cache
def _gauss_legendre_unit(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss–Legendre nodes and weights on [0, 1]."""
    x, w = np.polynomial.legendre.leggauss(n)
    return 0.5 * (x + 1.0), 0.5 * w


MICHEL_NODES = 48
"""Gauss–Legendre nodes of the Michel-spectrum convolution (:func:`f_eff_decaying_lepton`)."""
BOX_NODES = 16
"""Gauss–Legendre nodes over the box spectrum of a heavy lepton from A′ decay (:func:`f_eff_channels`)."""


def f_eff_decaying_lepton(energy: ArrayLike, mass: ArrayLike) -> Float[Array, ...]:
    """f_eff of a heavy charged lepton of total energy E and mass m [GeV] that decays to e νν̄ (dimensionless).

    f = (1/E) ∫ E_e f^{e⁺e⁻}(E_e) dN_e/dE_e dE_e: the e± spectrum of an unpolarised decay at rest is
    Michel's, dN/dx = 2x²(3 − 2x) with x = 2E*/m (massless e), isotropic, so at fixed x the
    lab-frame spectrum is a box E* γ(1 ± β) (:func:`f_eff_box`); the x integral uses
    :data:`MICHEL_NODES` Gauss–Legendre nodes. The e± carry ⟨x⟩/2 = 0.35 of the lepton energy (the
    neutrinos the rest), so f = 0.35 f^{e⁺e⁻} for a flat table (docs/equations.md H.4(a): 0.3–0.35).
    Exact for the muon (up to the e mass and radiative corrections); for the τ, whose decays are
    65 % hadronic, it is a rough stand-in (see :func:`f_eff_channels`). Needs E ≥ m.
    """
    energy, mass = jnp.broadcast_arrays(as_float(energy), as_float(mass))
    x, w = (jnp.asarray(a) for a in _gauss_legendre_unit(MICHEL_NODES))
    gamma = energy / mass
    beta = safe_sqrt(1.0 - 1.0 / gamma**2)
    rest_energy = 0.5 * x * mass[..., None]
    e_low = gamma[..., None] * rest_energy * (1.0 - beta[..., None])
    e_high = gamma[..., None] * rest_energy * (1.0 + beta[..., None])
    michel = 2.0 * x**2 * (3.0 - 2.0 * x)
    return jnp.sum(w * michel * 0.5 * x * f_eff_box(e_low, e_high), axis=-1)


PION_MUON_ENERGY_FRACTION = (c.M_PI_CHARGED**2 + c.M_MUON**2) / (2.0 * c.M_PI_CHARGED**2)
"""Mean lab energy of the μ from π± → μν over the pion energy, E*_μ/m_π = (m_π² + m_μ²)/(2m_π²) = 0.787."""


def f_eff_charged_pion(energy: ArrayLike) -> Float[Array, ...]:
    """Approximate f_eff of a π± of total energy E [GeV] (dimensionless; needs E ≥ m_π±).

    π → μν gives the muon on average the fraction r = E*_μ/m_π = 0.787 of the pion energy; the muon
    is then treated exactly (:func:`f_eff_decaying_lepton`) at the mean energy rE:
    f = r f_μ(rE) ≈ 0.787 × 0.35 = 0.275 f^{e⁺e⁻}, the "¼ of the energy in e±" of docs/equations.md H.4(a).
    The spread of the muon energy is neglected.
    """
    energy = as_float(energy)
    fraction = PION_MUON_ENERGY_FRACTION
    return fraction * f_eff_decaying_lepton(fraction * energy, c.M_MUON)


# --- ⟨σv⟩_late (docs/equations.md (H10), (H6′)) ----------------------------------------------------------


def _sm_widths_at(sqrt_s: Array, portal: VectorPortal, settings: Settings | None) -> dict[str, Array]:
    """Γ_X(√s) [GeV] of the SM channels of :data:`ANNIHILATION_CHANNELS` (docs/equations.md (H1))."""
    unit = sm_width_unit(sqrt_s, portal.current, settings)
    g_sm_sq = portal.g_sm**2
    return {name: g_sm_sq * getattr(unit, name) for name in ANNIHILATION_CHANNELS[:-1]}


def sigma_v_late(portal: VectorPortal, settings: Settings | None = None) -> dict[str, Float[Array, ...]]:
    """lim_{v→0} σv_rel(χχ̄ → X) [GeV⁻²] per channel of :data:`ANNIHILATION_CHANNELS` (Dirac DM only).

    SM channels, (H10) written through the widths of (H1) at √s = 2m_χ:

        σv_rel → 6 m_χ e′² Γ_X(2m_χ) / BW(4m_χ²),

    the v_rel = 2β_χ → 0 limit of (H4) (:func:`~uvmsm_jax.xsec.sigma_dirac_pair_to_sm`). With
    Γ_ℓℓ(√s) of (B3) this is (H10) for ℓ⁺ℓ⁻ (zero for m_ℓ ≥ m_χ), and with Γ_had = ε²α√s R/3 of (H5)
    it is 4αε²e′²m_χ²R(4m_χ²)/BW. BW is (H2) with the running width Γ_tot(2m_χ), which includes
    Γ_χχ̄(2m_χ) (zero exactly at threshold). The hadronic channel reads ``settings`` (R data, D.2).

    ``mediator_pair``: χχ̄ → A′A′, (H6′) e′⁴ (1 − M²/m²)^{3/2} / [16π m² (1 − M²/2m²)²] for M < m_χ,
    zero otherwise. The (H20) caveat applies: BW at s = 4m_χ² is exact unless the pole lies within
    m_χ²v² of threshold (v ~ 1e-4 at recombination).
    """
    _require_modelled(portal)
    m, big_m, g_dm = portal.m_dm, portal.m_v, portal.g_dm
    sqrt_s = 2.0 * m
    widths = _sm_widths_at(sqrt_s, portal, settings)
    at_threshold = VectorPortal(m, sqrt_s, portal.g_sm, g_dm, current=portal.current, dm_kind=portal.dm_kind)
    total = sum(widths.values()) + dm_pair_width(at_threshold)
    bw = running_breit_wigner(sqrt_s**2, big_m, total)
    out = {name: 6.0 * m * g_dm**2 * width / bw for name, width in widths.items()}
    ratio = big_m**2 / m**2
    is_open = ratio < 1.0
    ratio_safe = jnp.where(is_open, ratio, 0.5)
    pair = g_dm**4 / (16.0 * jnp.pi * m**2) * (1.0 - ratio_safe) ** 1.5 / (1.0 - 0.5 * ratio_safe) ** 2
    out["mediator_pair"] = jnp.where(is_open, pair, 0.0)
    shape = jnp.broadcast_shapes(*(jnp.shape(v) for v in out.values()))
    return {name: jnp.broadcast_to(value, shape) for name, value in out.items()}


# --- f_eff per channel (docs/equations.md (H19)) -----------------------------------------------------------


def _daughter_box(m: Array, big_m: Array, m_f: float) -> tuple[Array, Array, Array]:
    """(open, E_lo, E_hi) [GeV] of a daughter of mass m_f of V → f f̄, V with energy m (χχ̄ at rest → VV).

    E_± = γ(M/2 ± β p*), γ = m/M, β = √(1 − M²/m²), p* = √(M²/4 − m_f²); E_± = m(1 ± β)/2 for m_f → 0
    (docs/equations.md H.4(a)). Closed (M ≥ m or M ≤ 2m_f): a valid stand-in box above m_f.
    """
    is_open = (big_m < m) & (big_m > 2.0 * m_f)
    m_v = jnp.where(is_open, big_m, 3.0 * m_f)
    energy = jnp.where(is_open, m, 2.0 * m_v)
    gamma = energy / m_v
    gamma_beta = safe_sqrt(gamma**2 - 1.0)
    p_star = safe_sqrt(m_v**2 / 4.0 - m_f**2)
    low = gamma * m_v / 2.0 - gamma_beta * p_star
    high = gamma * m_v / 2.0 + gamma_beta * p_star
    return is_open, low, high


def _box_nodes(low: Array, high: Array) -> tuple[Array, Array]:
    """Energies [GeV] and weights of :data:`BOX_NODES` Gauss–Legendre nodes of a flat spectrum on [low, high],
    weighted by E: the energy-weighted mean of f is Σ weights·f(energies) (the weights sum to 1)."""
    x, w = (jnp.asarray(a) for a in _gauss_legendre_unit(BOX_NODES))
    energy = low[..., None] + (high - low)[..., None] * x
    weight = w * energy
    return energy, weight / jnp.sum(weight, axis=-1, keepdims=True)


def f_eff_channels(portal: VectorPortal, settings: Settings | None = None) -> dict[str, Float[Array, ...]]:
    """f_eff of each channel of :data:`ANNIHILATION_CHANNELS` (dimensionless; docs/equations.md (H19)).

    Each value is the channel's own efficiency (the total is the ⟨σv⟩_late-weighted mean, (H20)):

    * ``e``: a line, f^{e⁺e⁻}(m_χ) (:func:`f_eff_electron`). Table precision (K40): ≥ 5 %.
    * ``mu``: each μ has energy m_χ; Michel spectrum boosted to it (:func:`f_eff_decaying_lepton`),
      f ≈ 0.35 f^{e⁺e⁻}(E_e). Unpolarised muons (μ⁺μ⁻ spin correlations are neglected), massless e:
      a few per cent, below the table's own precision.
    * ``tau``: the same Michel convolution with m_τ (0.35 of the energy in e±). The τ decays to
      e (18 %), μ (17 %) and hadrons (65 %, with π⁰ → γγ); the true deposited fraction is
      uncertain by a factor ≈ 2 here. Open only for m_χ > m_τ.
    * ``nu``: 0 (neutrinos deposit nothing; only the B−L current has this channel).
    * ``hadrons``: every hadronic final state is treated as π⁺π⁻, each pion with energy m_χ, through
      :func:`f_eff_charged_pion` (≈ ¼ of the energy in e±, docs/equations.md H.4(a)). Photons from
      π⁰ (3π, π⁰γ, K41) and kaons are neglected: uncertain by tens of per cent, and an
      underestimate where π⁰ channels matter.
    * ``mediator_pair``: χχ̄ → A′A′, each A′ with energy m_χ, weighted by the A′ branching
      fractions Γ_X(M)/Γ_tot(M): e⁺e⁻ as an exact box (:func:`f_eff_box`, massive daughters), μ⁺μ⁻
      and τ⁺τ⁻ as a box of leptons each treated as in ``mu``/``tau``, hadrons as two pions of energy
      m_χ/2 (:func:`f_eff_charged_pion`). An A′ lighter than 2m_e (no visible decay) contributes 0.

    Closed channels give 0 (with NaN-free gradients).
    """
    _require_modelled(portal)
    m, big_m = jnp.broadcast_arrays(portal.m_dm, portal.m_v)
    mediator_open = big_m < m
    pion_fraction = PION_MUON_ENERGY_FRACTION

    # every heavy lepton (direct, from a pion, from an A′ box) in one Michel convolution
    def line(threshold: float, energy: Array, floor: float) -> tuple[Array, Array]:
        is_open = m > threshold
        return is_open, jnp.where(is_open, energy, 2.0 * floor)[..., None]

    mu_open, mu_energy = line(c.M_MUON, m, c.M_MUON)
    tau_open, tau_energy = line(c.M_TAU, m, c.M_TAU)
    pion_open, pion_energy = line(c.M_PI_CHARGED, m, c.M_PI_CHARGED)
    pions_open, pair_pion_energy = line(2.0 * c.M_PI_CHARGED, 0.5 * m, c.M_PI_CHARGED)
    pions_open = pions_open & mediator_open
    mu_box_open, mu_low, mu_high = _daughter_box(m, big_m, c.M_MUON)
    tau_box_open, tau_low, tau_high = _daughter_box(m, big_m, c.M_TAU)
    mu_box, mu_weight = _box_nodes(mu_low, mu_high)
    tau_box, tau_weight = _box_nodes(tau_low, tau_high)
    parts = (
        (mu_energy, c.M_MUON),
        (tau_energy, c.M_TAU),
        (pion_fraction * pion_energy, c.M_MUON),
        (pion_fraction * pair_pion_energy, c.M_MUON),
        (mu_box, c.M_MUON),
        (tau_box, c.M_TAU),
    )
    energies = jnp.concatenate([energy for energy, _ in parts], axis=-1)
    masses = np.concatenate([np.full(energy.shape[-1], mass) for energy, mass in parts])
    lepton = f_eff_decaying_lepton(energies, masses)
    f_mu, f_tau, f_pion, f_pair_pion, f_mu_box, f_tau_box = jnp.split(
        lepton, np.cumsum([energy.shape[-1] for energy, _ in parts])[:-1], axis=-1
    )

    e_box_open, e_low, e_high = _daughter_box(m, big_m, c.M_ELECTRON)
    out = {
        "e": f_eff_electron(m),
        "mu": jnp.where(mu_open, f_mu[..., 0], 0.0),
        "tau": jnp.where(tau_open, f_tau[..., 0], 0.0),
        "nu": jnp.zeros_like(m),
        "hadrons": jnp.where(pion_open, pion_fraction * f_pion[..., 0], 0.0),
    }
    daughters = {
        "e": jnp.where(e_box_open, f_eff_box(e_low, e_high), 0.0),
        "mu": jnp.where(mu_box_open, jnp.sum(mu_weight * f_mu_box, axis=-1), 0.0),
        "tau": jnp.where(tau_box_open, jnp.sum(tau_weight * f_tau_box, axis=-1), 0.0),
        "nu": jnp.zeros_like(m),
        "hadrons": jnp.where(pions_open, pion_fraction * f_pair_pion[..., 0], 0.0),
    }
    widths = _sm_widths_at(big_m, portal, settings)
    total = sum(widths.values()) + dm_pair_width(portal)
    decays = total > 0.0
    total_safe = jnp.where(decays, total, 1.0)
    mixed = sum(widths[name] / total_safe * daughters[name] for name in daughters)
    out["mediator_pair"] = jnp.where(decays & mediator_open, mixed, 0.0)
    return {name: jnp.broadcast_to(out[name], m.shape) for name in ANNIHILATION_CHANNELS}


# --- direct detection (docs/equations.md (H22)–(H24), K42) ----------------------------------------------


def _reduced_mass(a, b):
    return a * b / (a + b)


def electron_cross_section(portal: VectorPortal) -> Float[Array, ...]:
    """σ̄_e [GeV⁻²] (docs/equations.md (H22); Essig–Mardon–Volansky, reference momentum q₀ = αm_e).

    σ̄_e = μ_χe² (g_sm Q_e)² g_dm² / [π (M² + α²m_e²)²] = 16π μ_χe² α ε² α′/(m_A′² + α²m_e²)² for the
    dark photon, valid for heavy and light mediators (the F_DM(q) = (M² + α²m_e²)/(M² + q²) of
    (H22) carries the q dependence).
    """
    _require_modelled(portal)
    q_e = NUCLEON_CHARGES[portal.current][0]
    mu = _reduced_mass(portal.m_dm, c.M_ELECTRON)
    denominator = (portal.m_v**2 + (c.ALPHA_EM * c.M_ELECTRON) ** 2) ** 2
    return mu**2 * (portal.g_sm * q_e) ** 2 * portal.g_dm**2 / (jnp.pi * denominator)


def proton_cross_section(portal: VectorPortal) -> Float[Array, ...]:
    """σ_p [GeV⁻²] at q² ≪ M² (docs/equations.md (H23)): μ_χp² (g_sm Q_p)² g_dm²/(π M⁴) = 16πμ_χp²αε²α′/m_A′⁴."""
    _require_modelled(portal)
    q_p = NUCLEON_CHARGES[portal.current][1]
    mu = _reduced_mass(portal.m_dm, c.M_PROTON)
    return mu**2 * (portal.g_sm * q_p) ** 2 * portal.g_dm**2 / (jnp.pi * portal.m_v**4)


def nucleon_cross_section(portal: VectorPortal, target: str = "xenon") -> Float[Array, ...]:
    """Per-nucleon σ_N^eff [GeV⁻²] for a target of :data:`TARGETS` (docs/equations.md (H24)).

    The cross section an isospin-symmetric spin-independent limit (f_p = f_n) is compared with:
    σ_N^eff = μ_χp² g_sm² g_dm² [(Z Q_p + (A − Z) Q_n)/A]²/(π M⁴), i.e. σ_p Z²/A² for the dark
    photon (Q_n = 0). Contact interaction: see :func:`nuclear_recoil_q_max` for its validity (K42).
    """
    _require_modelled(portal)
    z, a = _target(target)
    _, q_p, q_n = NUCLEON_CHARGES[portal.current]
    mu = _reduced_mass(portal.m_dm, c.M_PROTON)
    coupling = portal.g_sm * (z * q_p + (a - z) * q_n) / a
    return mu**2 * coupling**2 * portal.g_dm**2 / (jnp.pi * portal.m_v**4)


def _target(target: str) -> tuple[int, float]:
    try:
        return TARGETS[target]
    except KeyError:
        raise ValueError(f"target must be one of {', '.join(TARGETS)}, got {target!r}") from None


def nuclear_recoil_q_max(m_dm: ArrayLike, target: str = "xenon") -> Float[Array, ...]:
    """Kinematic maximum momentum transfer of a nuclear recoil, q_max = 2 μ_χN v_max [GeV] (K42).

    m_N = A·u and v_max = :data:`NUCLEAR_RECOIL_V_MAX` (800 km/s). The contact form (H23)–(H24) holds
    for m_A′ ≫ q; where m_A′ < q_max the rate carries [m_A′²/(m_A′² + q²)]² over part of the recoil
    spectrum and the experiment's light-mediator analysis applies (docs/equations.md (H24)). q_max grows
    with m_χ until μ_χN saturates: 0.5 MeV at m_χ = 0.1 GeV, 5 MeV at 1 GeV, 0.6 GeV at 1 TeV (xenon).
    """
    _, a = _target(target)
    m_nucleus = a * ATOMIC_MASS_UNIT_GEV
    return 2.0 * _reduced_mass(as_float(m_dm), m_nucleus) * NUCLEAR_RECOIL_V_MAX


# --- the result ---------------------------------------------------------------------------------------


def _number(x) -> float | None:
    value = float(x)
    return value if math.isfinite(value) else None


class Observables(eqx.Module):
    """Result of :func:`observables` (arrays with the batch shape of the model fields).

    From :func:`uvmsm_jax.relic`: ``omega_h2``, ``status``, ``mechanism``, ``dm_thermalised``,
    ``mediator_thermalised`` (see :class:`~uvmsm_jax.RelicResult`).

    Annihilation (docs/equations.md (H10), (H6′), (H19)–(H21)):
      sigma_v_late_cm3_s: ⟨σv⟩_late of χχ̄ [cm³ s⁻¹], summed over channels.
      channel_fractions: {channel: share of ⟨σv⟩_late} over :data:`ANNIHILATION_CHANNELS`.
      f_eff_channels: {channel: f_eff of that channel} (:func:`f_eff_channels`).
      f_eff: the ⟨σv⟩_late-weighted f_eff (NaN where ⟨σv⟩_late = 0).
      p_ann: f_eff ⟨σv⟩_late/(2m_χ) [cm³ s⁻¹ GeV⁻¹] (H20).
      p_ann_limit: the bound it is compared with [cm³ s⁻¹ GeV⁻¹] (H21).
      cmb_excluded: p_ann > p_ann_limit.
    Scattering (docs/equations.md (H22)–(H24)):
      sigma_e_cm2: σ̄_e [cm²]; sigma_p_cm2: σ_p [cm²]; sigma_n_cm2: σ_N^eff of ``target`` [cm²].
      q_nuclear_max_gev: q_max = 2μ_χN v_max of the target [GeV] (:func:`nuclear_recoil_q_max`).
      nuclear_recoil_light_mediator: m_A′ < q_max: the contact limits do not apply (K42).
    delta_neff_unmodelled: a thermalised DM or mediator lighter than 20 MeV; its heating of the
      photons after ν decoupling is not modelled (K43).

    Where the DM kind is not modelled (:data:`DM_KIND_RULES`) the annihilation and scattering
    arrays are NaN and the two bool flags False; :meth:`as_dict` reports them as ``None``.
    """

    omega_h2: Array
    status: Array
    mechanism: Array
    dm_thermalised: Array
    mediator_thermalised: Array
    sigma_v_late_cm3_s: Array
    channel_fractions: dict[str, Array]
    f_eff_channels: dict[str, Array]
    f_eff: Array
    p_ann: Array
    p_ann_limit: Array
    cmb_excluded: Array
    sigma_e_cm2: Array
    sigma_p_cm2: Array
    sigma_n_cm2: Array
    q_nuclear_max_gev: Array
    nuclear_recoil_light_mediator: Array
    delta_neff_unmodelled: Array
    target: str = eqx.field(static=True, default="xenon")
    modelled: bool = eqx.field(static=True, default=True)
    conventions: str = eqx.field(static=True, default="")
    not_modelled: str | None = eqx.field(static=True, default=None)

    def as_dict(self) -> dict:
        """JSON-ready dict of a scalar result; quantities that do not apply (or are not finite) are ``None``.

        Keys: ``omega_h2``, ``mechanism`` (name), ``status``, ``status_message``,
        ``sigma_v_late_cm3_s``, ``channel_fractions``, ``f_eff``, ``f_eff_channels``, ``p_ann``,
        ``p_ann_limit``, ``p_ann_over_limit``, ``cmb_excluded``, ``sigma_e_cm2``, ``sigma_p_cm2``,
        ``sigma_n_<target>_cm2``, ``target``, ``q_nuclear_max_gev``, ``nuclear_recoil_light_mediator``,
        ``delta_neff_unmodelled``, ``dm_thermalised``, ``mediator_thermalised``, ``conventions``,
        ``not_modelled``.
        """
        if np.ndim(self.omega_h2) != 0 or np.ndim(self.p_ann) != 0:
            raise ValueError("as_dict() needs a scalar result; index the batch first")
        modelled = self.modelled

        def flag(x) -> bool | None:
            return bool(x) if modelled else None

        status = int(self.status)
        p_ann = _number(self.p_ann)
        limit = _number(self.p_ann_limit)
        return {
            "omega_h2": _number(self.omega_h2),
            "mechanism": mechanism_names(self.mechanism),
            "status": status,
            "status_message": STATUS_MESSAGES.get(status, "unknown"),
            "sigma_v_late_cm3_s": _number(self.sigma_v_late_cm3_s),
            "channel_fractions": {k: _number(self.channel_fractions[k]) for k in ANNIHILATION_CHANNELS},
            "f_eff": _number(self.f_eff),
            "f_eff_channels": {k: _number(self.f_eff_channels[k]) for k in ANNIHILATION_CHANNELS},
            "p_ann": p_ann,
            "p_ann_limit": limit,
            "p_ann_over_limit": None if p_ann is None or not limit else p_ann / limit,
            "cmb_excluded": flag(self.cmb_excluded),
            "sigma_e_cm2": _number(self.sigma_e_cm2),
            "sigma_p_cm2": _number(self.sigma_p_cm2),
            f"sigma_n_{self.target}_cm2": _number(self.sigma_n_cm2),
            "target": self.target,
            "q_nuclear_max_gev": _number(self.q_nuclear_max_gev),
            "nuclear_recoil_light_mediator": flag(self.nuclear_recoil_light_mediator),
            "delta_neff_unmodelled": bool(self.delta_neff_unmodelled),
            "dm_thermalised": bool(self.dm_thermalised),
            "mediator_thermalised": bool(self.mediator_thermalised),
            "conventions": self.conventions,
            "not_modelled": self.not_modelled,
        }


@functools.partial(jit, static_argnames=("config", "target"))
def _late_time(
    m_dm: Array,
    m_v: Array,
    g_sm: Array,
    g_dm: Array,
    dm_thermalised: Array,
    mediator_thermalised: Array,
    p_ann_limit: Array,
    *,
    config: Config,
    target: str,
) -> dict[str, Any]:
    """Every :class:`Observables` array that does not come from the relic solver, for inputs of one
    shape (one compiled program; units and meaning as in :class:`Observables`)."""
    spec = config.spec
    rule = _rule(spec.dm_kind)
    shape = m_dm.shape
    q_max = nuclear_recoil_q_max(m_dm, target)
    light = (dm_thermalised & (m_dm < DELTA_NEFF_MASS_THRESHOLD)) | (
        mediator_thermalised & (m_v < DELTA_NEFF_MASS_THRESHOLD)
    )
    out: dict[str, Any] = {"q_nuclear_max_gev": q_max, "delta_neff_unmodelled": light}
    if not rule.modelled:
        nan = jnp.full(shape, jnp.nan)
        no = jnp.zeros(shape, dtype=bool)
        quantities = ("f_eff", "sigma_v_late_cm3_s", "p_ann", "sigma_e_cm2", "sigma_p_cm2", "sigma_n_cm2")
        return {
            **out,
            **dict.fromkeys(quantities, nan),
            "channel_fractions": dict.fromkeys(ANNIHILATION_CHANNELS, nan),
            "f_eff_channels": dict.fromkeys(ANNIHILATION_CHANNELS, nan),
            "cmb_excluded": no,
            "nuclear_recoil_light_mediator": no,
        }
    portal = VectorPortal(m_dm, m_v, g_sm, g_dm, current=spec.current, dm_kind=spec.dm_kind)
    channels = sigma_v_late(portal, config.settings)
    total = sum(channels.values())
    has_rate = total > 0.0
    total_safe = jnp.where(has_rate, total, 1.0)
    f_channels = f_eff_channels(portal, config.settings)
    f_weighted = sum(f_channels[name] * channels[name] for name in channels)
    p_ann = f_weighted * GEV_M2_TO_CM3_S / (rule.pair_mass_factor * m_dm)
    return {
        **out,
        "channel_fractions": {name: value / total_safe for name, value in channels.items()},
        "f_eff_channels": f_channels,
        "f_eff": jnp.where(has_rate, f_weighted / total_safe, jnp.nan),
        "sigma_v_late_cm3_s": total * GEV_M2_TO_CM3_S,
        "p_ann": p_ann,
        "cmb_excluded": jnp.broadcast_to(p_ann > p_ann_limit, shape),
        "sigma_e_cm2": electron_cross_section(portal) * GEV_M2_TO_CM2,
        "sigma_p_cm2": proton_cross_section(portal) * GEV_M2_TO_CM2,
        "sigma_n_cm2": nucleon_cross_section(portal, target) * GEV_M2_TO_CM2,
        "nuclear_recoil_light_mediator": m_v < q_max,
    }


def observables(
    model,
    settings: Settings | None = None,
    *,
    p_ann_limit: ArrayLike = PLANCK_P_ANN_LIMIT,
    target: str = "xenon",
    relic_result: RelicResult | None = None,
    export_cache: str | os.PathLike | None = None,
) -> Observables:
    """Late-time observables of ``model`` (any registered model) → :class:`Observables` (docs/equations.md H.4).

    Calls :func:`uvmsm_jax.relic` for Ωh², mechanism, status and the thermalisation flags, unless
    ``relic_result`` (a :class:`~uvmsm_jax.RelicResult` of the same points) is given. Everything
    else is closed form: ⟨σv⟩_late ((H10), (H6′); :func:`sigma_v_late`), f_eff ((H19);
    :func:`f_eff_channels`), p_ann (H20) against ``p_ann_limit`` [cm³ s⁻¹ GeV⁻¹] (default the Planck
    2018 bound (H21), K39), σ̄_e, σ_p and σ_N^eff of ``target`` ((H22)–(H24); a name of
    :data:`TARGETS`) with the K42 flag, and the K43 ΔN_eff flag.

    The DM kind of the model's registry entry (``ModelSpec.dm_kind``) decides what applies
    (:data:`DM_KIND_RULES`). With ``relic_result`` given the function is pure JAX: jit-, vmap- and
    grad-safe in every model field.

    ``export_cache``: a folder in which the compiled closed forms (and, without ``relic_result``,
    the relic solver) are kept, as in :func:`uvmsm_jax.relic`: a later call with concrete input
    loads them instead of tracing (docs/relic.md, "Compilation"). Ignored for traced input.
    """
    spec = model_spec(model)
    settings = Settings() if settings is None else settings
    _target(target)
    rule = _rule(spec.dm_kind)
    if relic_result is None:
        relic_result = relic(model, settings, export_cache=export_cache)
    portal = model.portal
    limit = as_float(p_ann_limit)
    inputs = (
        portal.m_dm,
        portal.m_v,
        portal.g_sm,
        portal.g_dm,
        relic_result.dm_thermalised,
        relic_result.mediator_thermalised,
    )
    config = configure(model, settings)
    if is_concrete((inputs, limit)):  # NumPy for the broadcast: a jnp one would compile a program
        arrays = np.broadcast_arrays(*(np.asarray(x) for x in inputs))
        if export_cache is not None:
            values = call_compiled(export_cache, _late_time, *arrays, limit, config=config, target=target)
        else:
            values = _late_time(*arrays, limit, config=config, target=target)
    else:
        values = _late_time(*jnp.broadcast_arrays(*inputs), limit, config=config, target=target)
    return Observables(
        omega_h2=relic_result.omega_h2,
        status=relic_result.status,
        mechanism=relic_result.mechanism,
        dm_thermalised=relic_result.dm_thermalised,
        mediator_thermalised=relic_result.mediator_thermalised,
        p_ann_limit=limit,
        target=target,
        modelled=rule.modelled,
        conventions=rule.conventions,
        not_modelled=rule.not_modelled,
        **values,
    )
