"""Momentum distribution of the dark matter and the warm-dark-matter verdict (docs/equations.md Part W).

:func:`momentum_distribution` takes a registered model and returns a :class:`MomentumDistribution`:
the phase-space density f(q) on the comoving momentum q = p/(T r(T)) of (W2) (today's momentum in
units of today's photon temperature), its moments, the yield and Ωh² from the zeroth moment (W18),
the free-streaming length (W19), today's velocity dispersion, the equivalent thermal-relic WDM mass
by ⟨q⟩ matching (W21, default) and by velocity-dispersion matching (W22), and the Lyman-α margin
and verdict against a selectable bound (W.3).

Which f is computed follows the relic solver's verdict on the point (:func:`uvmsm_jax.relic`):

* **freeze-in** (the DM never thermalised): the quadrature (W4) of the collision terms along lines of
  constant q, no back-reaction. Mediator decays V → DM DM by (W6) with the mediator in equilibrium
  ((W7), MB or BE by ``Settings.statistics``) when the relic solver finds it thermalised, and
  otherwise with the mediator's own distribution evolved along its comoving lines by the exact
  update (W11) of (W10) (production by inverse decays from the SM bath, depletion by the decays the
  model's Boltzmann system depletes it with, K50). Plus 2→2 production (W12)–(W13) off the pole:
  SM SM → DM DM through the s-channel V with the resonance window of (G19) excised (the pole is the
  decays; K59), and V V → DM DM when the mediator is thermal.
* **freeze-out**: the limiting forms of W.1.3, normalised to the relic solver's yield: the frozen
  Fermi–Dirac shape (W15) for relativistic decoupling (x_dec < 3), otherwise the Maxwellian after
  kinetic decoupling (W16) at T_kd = T_dec (the coldest admissible choice: the warmth is a lower
  bound, K56) or a user T_kd.

A point whose f the package does not model gets a non-zero ``status`` and NaN numbers: partial
thermalisation (K57; the relic solver's label), production whose f is not modelled (K50's pole
bookkeeping of P1's paper mode; V V → DM DM from a non-thermal mediator), or a freeze-in f whose zeroth
moment disagrees with the relic solver's yield by more than 1 % — the per-point check that f describes
the production Ωh² comes from (the relic solver keeps the back-reaction that (W4) drops, so a DM close
to equilibrium fails it too). Everything is jit-, vmap-
and differentiable (forward and reverse mode) in the masses, couplings and T_R.
"""

from __future__ import annotations

import functools
import math
import os

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike

from . import constants as c
from ._batching import MOMENTUM_BYTES_PER_POINT, MOMENTUM_CHUNK_BLOCKS, default_block, map_blocks, map_concrete_batch
from ._programs import jit
from ._relic import RelicResult, relic
from ._validation import check_positive_finite, is_concrete, without_derivative
from ._widths import dm_pair_width
from .codes import STATUS_MESSAGES, Mechanism, Status, mechanism_names
from .hadrons import sm_width_unit
from .models import validate_model
from .pipeline import (
    N_PARAMETERS,
    SAFE_THETA,
    Config,
    configure,
    decayed_temperature,
    first_crossing_temperature,
    parameters,
    portal_of,
)
from .portal import VectorPortal
from .rates import (
    dm_pair_to_mediator_pair_cross_section,
    dm_pair_to_sm_cross_section,
    resonance_window,
    thermodynamics,
)
from .settings import Settings
from .thermo import degrees_of_freedom
from .xsec import safe_sqrt

__all__ = [
    "DISTRIBUTIONS",
    "LYMAN_ALPHA_BOUNDS",
    "MARGINAL_BAND",
    "MEAN_Q_THERMAL",
    "RMS_Q_THERMAL",
    "T_CMB_GEV",
    "FreezeInDistribution",
    "MomentumDistribution",
    "MomentumGrid",
    "decay_collision_term",
    "equilibrium_mediator_integral",
    "free_streaming_length",
    "freeze_in_distribution",
    "lyman_alpha_verdict",
    "mediator_kinetic_window",
    "momentum_distribution",
    "moments",
    "thermal_wdm_mass",
    "two_to_two_collision_term",
    "yield_from_distribution",
]

# --- constants of W.2 and W.3 ---------------------------------------------------------------------------

T_CMB_GEV = 2.7255 * 8.617333262e-14
"""Today's photon temperature T₀ = 2.7255 K = 2.3487e-13 GeV (W2)."""
MEAN_Q_THERMAL = 7.0 * math.pi**4 / (180.0 * c.ZETA3)
"""⟨p⟩/T of a Fermi–Dirac gas, 7π⁴/(180ζ(3)) = 3.15137 (W15, W20)."""
_ZETA5 = 1.0369277551433699
RMS_Q_THERMAL = math.sqrt(15.0 * _ZETA5 / c.ZETA3)
"""⟨p²⟩^{1/2}/T of a Fermi–Dirac gas, √(15ζ(5)/ζ(3)) = 3.59714 (W20)."""
_RHO_CRIT_OVER_H2 = 1.053672e-5 * (c.HBAR_C_GEV_M * 100.0) ** 3
"""ρ_c/h² [GeV⁴] (1.053672e-5 GeV cm⁻³, PDG)."""

LYMAN_ALPHA_BOUNDS: dict[str, float] = {
    "irsic2017": 5.3,
    "irsic2017_conservative": 3.5,
    "villasenor2023": 3.1,
    "viel2013": 3.3,
    "irsic2024": 5.7,
}
"""Lyman-α lower bounds on the thermal-relic WDM mass [keV] (95 % CL; docs/equations.md W.3, K55).
Default ``irsic2017`` (5.3 keV, XQ-100 + HIRES/MIKE, smooth IGM temperature history)."""
DEFAULT_LYMAN_ALPHA_BOUND = "irsic2017"
MARGINAL_BAND = 0.15
"""Half-width of the "marginal" band of margin = ln(m_WDM^eq/m_WDM^bound) (W.3, K54)."""
VERDICTS = ("excluded", "marginal", "allowed")
"""Lyman-α verdicts, indexed by :func:`lyman_alpha_verdict`."""

# Cosmology of the free-streaming integral (W19).
_H_LITTLE = 0.674
_OMEGA_M = 0.315
_OMEGA_GAMMA = 2.4728e-5 / _H_LITTLE**2
_OMEGA_R = _OMEGA_GAMMA * (1.0 + 7.0 / 8.0 * (4.0 / 11.0) ** (4.0 / 3.0) * 3.044)
_HUBBLE_DISTANCE_MPC = 2997.92458 / _H_LITTLE
"""c/H₀ [Mpc]."""
_LN_A_MIN = -30.0

DISTRIBUTIONS = ("freeze-in-thermal-mediator", "freeze-in-nonthermal-mediator", "hot-relic", "cold-relic")
"""Which f a result holds (the ``distribution`` index): freeze-in (W4) with an equilibrium mediator (W7)
or with the mediator's own distribution (W10); the frozen Fermi–Dirac shape (W15); the Maxwellian
after kinetic decoupling (W16)."""

YIELD_TOLERANCE = 1e-2
"""Largest |Y(W18)/Y_relic − 1| of a freeze-in f (status :attr:`Status.DISTRIBUTION_YIELD_MISMATCH` above)."""
HOT_RELIC_X_DEC = 3.0
"""x_dec below which a freeze-out is relativistic decoupling (W15); above it (W16)."""
TWO_TO_TWO_X_END = 40.0
"""The 2→2 grid runs down to T = m_DM/40 (W.5)."""

MECHANISM_STATUS: dict[Mechanism, Status] = {
    Mechanism.PARTIAL_THERMALISATION: Status.NO_DISTRIBUTION_PARTIAL_THERMALISATION,
    Mechanism.SEQUENTIAL_MEDIATOR_PAIR_FREEZE_IN: Status.NO_DISTRIBUTION_MECHANISM,
}
"""Mechanisms of the relic solver whose f is not modelled, and the status they get (K57; V V → DM DM
from a non-thermal mediator needs f_V in a 2→2 kernel, which (W12) does not have)."""


class DMCounting(eqx.Module):
    """How f counts one DM kind (``VectorPortal.dm_kind``; K60).

    per_decay: DM particles of the species of f per mediator decay (N_χ of (W6)).
    species: species with this f (the yield of (W18) is multiplied by it: χ and χ̄).
    """

    per_decay: float = eqx.field(static=True)
    species: float = eqx.field(static=True)


DM_COUNTING: dict[str, DMCounting] = {
    "majorana": DMCounting(per_decay=2.0, species=1.0),
    "dirac": DMCounting(per_decay=1.0, species=2.0),
}
"""(W6), (W18) and K60: N₁N₁ (2 per decay, one species); χχ̄ (1 per decay and species, χ + χ̄)."""
G_PER_SPECIES = 2.0
"""Internal degrees of freedom of one DM species (N₁; χ or χ̄)."""


class MomentumGrid(eqx.Module):
    """Grids of the freeze-in quadrature (W.5); every field static (a jit cache key).

    n_q, q_min, q_max: DM comoving momenta (log-spaced; the top is raised to 20 p*/T_d for a mediator
      that decays at T_d, so late decays at rest stay on the grid). n_q_mediator, q_mediator_min/max: the
    mediator's comoving momenta of (W10). n_t: intervals of the decay grid, uniform in ln T from T_R
    until the mediator has decayed. n_t_2to2: intervals of the 2→2 grid (T_R to m_DM/40). n_s:
    Gauss–Legendre nodes of the s integral of (W12). n_a: nodes in ln a of (W19).
    """

    n_q: int = eqx.field(static=True, default=400)
    q_min: float = eqx.field(static=True, default=1e-3)
    q_max: float = eqx.field(static=True, default=3e3)
    n_q_mediator: int = eqx.field(static=True, default=600)
    q_mediator_min: float = eqx.field(static=True, default=1e-4)
    q_mediator_max: float = eqx.field(static=True, default=300.0)
    n_t: int = eqx.field(static=True, default=4000)
    n_t_2to2: int = eqx.field(static=True, default=256)
    n_s: int = eqx.field(static=True, default=96)
    n_a: int = eqx.field(static=True, default=600)

    def q(self, q_top: ArrayLike | None = None) -> Array:
        """The DM comoving momentum grid, from ``q_min`` to max(``q_max``, ``q_top``) (a point's late decays)."""
        top = self.q_max if q_top is None else jnp.maximum(self.q_max, q_top)
        return jnp.exp(jnp.linspace(math.log(self.q_min), jnp.log(top), self.n_q))

    def q_mediator(self) -> np.ndarray:
        """The mediator comoving momentum grid."""
        return np.geomspace(self.q_mediator_min, self.q_mediator_max, self.n_q_mediator)


# --- kernels (W5)–(W13) -----------------------------------------------------------------------------------


def mediator_kinetic_window(p: Array, m: Array, big_m: Array) -> tuple[Array, Array]:
    """Kinetic energies (K_V⁻, K_V⁺) [GeV] of a mediator of mass M whose decay V → DM DM can give a DM of
    momentum p and mass m (W5), in the cancellation-free forms (K_V⁻ ≥ 0; finite for p ≪ M)."""
    e = jnp.sqrt(p**2 + m**2)
    e_star = 0.5 * big_m
    p_star = 0.5 * big_m * safe_sqrt(1.0 - 4.0 * m**2 / big_m**2)
    denominator = e * e_star + p * p_star
    k_minus = big_m * (p - p_star) * (p - e_star * (p + p_star) / (e + e_star)) / denominator
    k_plus = big_m * (denominator - m**2) / m**2
    return jnp.maximum(k_minus, 0.0), k_plus


def equilibrium_mediator_integral(
    k_minus: Array, k_plus: Array, big_m: Array, temperature: Array, statistics: str = "maxwell-boltzmann"
) -> Array:
    """∫ f_V dE_V [GeV] over E_V ∈ [M + K⁻, M + K⁺] for a mediator in equilibrium (W7): MB
    T e^{−E⁻/T}(1 − e^{−(K⁺−K⁻)/T}), or BE T ln[(1 − e^{−E⁺/T})/(1 − e^{−E⁻/T})]."""
    e_minus = (big_m + k_minus) / temperature
    if statistics == "maxwell-boltzmann":
        return temperature * jnp.exp(-e_minus) * -jnp.expm1(-(k_plus - k_minus) / temperature)
    e_plus = (big_m + k_plus) / temperature
    return temperature * (jnp.log1p(-jnp.exp(-e_plus)) - jnp.log1p(-jnp.exp(-e_minus)))


def decay_collision_term(
    p: Array, m: Array, big_m: Array, width_dm: Array, mediator_integral: Array, per_decay: float
) -> Array:
    """C(p) [GeV] per DM degree of freedom from V → DM DM (W6): N_χ g_V Γ M²/(2 g p E p*) ∫f_V dE_V.

    width_dm: Γ(V → DM DM) [GeV]; mediator_integral: ∫ f_V dE_V over the window of
    :func:`mediator_kinetic_window` [GeV]; per_decay: N_χ. Zero where the decay is closed (M ≤ 2m).
    """
    e = jnp.sqrt(p**2 + m**2)
    open_decay = big_m > 2.0 * m
    p_star = 0.5 * big_m * safe_sqrt(1.0 - 4.0 * m**2 / big_m**2)
    p_star = jnp.where(open_decay, p_star, 1.0)
    prefactor = per_decay * c.G_VECTOR * width_dm * big_m**2 / (2.0 * G_PER_SPECIES * p * e * p_star)
    return jnp.where(open_decay, prefactor * mediator_integral, 0.0)


def two_to_two_collision_term(p3: Array, m: Array, temperature: Array, sigma, s_min: Array, n_s: int) -> Array:
    """C(p₃) [GeV] per DM degree of freedom from a b → DM DM with a, b in MB equilibrium (W12)–(W13).

    ``sigma(s)`` [GeV⁻²] is the cross section of the inverse process DM DM → a b as the rate layer
    defines it (summed over channels, ½ for an identical final pair); ``s_min`` [GeV²] its threshold
    (≥ 4m²). The s integral is Gauss–Legendre in u, s = s_min + (S − s_min)u² with
    S − s_min = 60T(4p₃ + 2m + 8T) (W.5); E₄⁻ in the stable form of (W13). ``p3`` any shape.
    """
    u, w = np.polynomial.legendre.leggauss(n_s)
    u, w = 0.5 * (u + 1.0), 0.5 * w
    p3 = p3[..., None]
    e3 = jnp.sqrt(p3**2 + m**2)
    span = 60.0 * temperature * (4.0 * p3 + 2.0 * m + 8.0 * temperature)
    s = s_min + span * u**2
    root = safe_sqrt(s * (s - 4.0 * m**2))
    e4_plus = (e3 * (s - 2.0 * m**2) + p3 * root) / (2.0 * m**2)
    e4_minus = ((s - 2.0 * m**2) ** 2 + 4.0 * p3**2 * m**2) / (4.0 * m**2 * e4_plus)
    boltzmann = jnp.exp(-(e3 + e4_minus) / temperature) * -jnp.expm1(-p3 * root / (m**2 * temperature))
    integral = jnp.sum(2.0 * span * u * w * root * sigma(s) * boltzmann, axis=-1)
    return G_PER_SPECIES * temperature * integral / (16.0 * jnp.pi**2 * e3[..., 0] * p3[..., 0])


# --- moments and the WDM mapping (W17)–(W22) ------------------------------------------------------------------


def _trapezoid_log(q: Array, integrand_times_q: Array) -> Array:
    """∫ g(q) dq = ∫ q g(q) d ln q by the trapezoid rule on a log grid (last axis; NumPy for NumPy input)."""
    xp = np if isinstance(q, np.ndarray) and isinstance(integrand_times_q, np.ndarray) else jnp
    values = integrand_times_q
    return xp.sum(0.5 * (values[..., 1:] + values[..., :-1]) * xp.diff(xp.log(q)), axis=-1)


def moments(q: Array, f: Array) -> tuple[Array, Array, Array]:
    """(∫q²f dq, ⟨q⟩, ⟨q²⟩^{1/2}) of f on the log grid q (W17)."""
    norm = _trapezoid_log(q, q**3 * f)
    mean = _trapezoid_log(q, q**4 * f) / norm
    rms = jnp.sqrt(_trapezoid_log(q, q**5 * f) / norm)
    return norm, mean, rms


def yield_from_distribution(zeroth_moment: Array, g_s0: Array, species: float = 1.0) -> Array:
    """Y = n/s = species · 45 g/(4π⁴ g*s0) ∫q²f dq (W18) with g = 2 per species (K60)."""
    return species * 45.0 * G_PER_SPECIES / (4.0 * jnp.pi**4 * g_s0) * zeroth_moment


def _yield_on_grid(q: Array, f: Array, g_s0: Array, species: float) -> Array:
    """Y of (W18) for f on the log grid q (the zeroth moment alone)."""
    return yield_from_distribution(_trapezoid_log(q, q**3 * f), g_s0, species)


def free_streaming_length(q: Array, f: Array, m_dm: Array, n_a: int = 600) -> Array:
    """Comoving free-streaming length λ_FS [Mpc] of (W19): ∫₀¹ ⟨v⟩(a) da/(a²H(a)) with the cosmology of
    W.2 (h = 0.674, Ω_m = 0.315, radiation with N_eff = 3.044, flat); m_dm in GeV; f on the log grid q."""
    ln_a = jnp.linspace(_LN_A_MIN, 0.0, n_a)
    a = jnp.exp(ln_a)
    mass_over_t0 = m_dm / T_CMB_GEV
    weight = q**3 * f
    speeds = q / jnp.sqrt(q**2 + (a[:, None] * mass_over_t0) ** 2)
    mean_speed = _trapezoid_log(q, weight * speeds) / _trapezoid_log(q, weight)
    expansion = jnp.sqrt(_OMEGA_R / a**4 + _OMEGA_M / a**3 + (1.0 - _OMEGA_M - _OMEGA_R))
    integrand = mean_speed / (a * expansion)  # ⟨v⟩/(a² E) · a (d ln a)
    return _HUBBLE_DISTANCE_MPC * jnp.sum(0.5 * (integrand[1:] + integrand[:-1]) * jnp.diff(ln_a))


def thermal_wdm_mass(m_dm: ArrayLike, moment: ArrayLike, thermal_moment: float = MEAN_Q_THERMAL) -> Array:
    """Thermal-relic WDM mass [keV] with the same today's ⟨p⟩/m (W21; ``moment`` = ⟨q⟩) or ⟨p²⟩^{1/2}/m
    (W22; ``moment`` = ⟨q²⟩^{1/2}, ``thermal_moment`` = :data:`RMS_Q_THERMAL`) as a DM of mass m_dm [GeV].

    The thermal relic (g = 2, Fermi–Dirac at T_W) makes all of Ω_DM h² = 0.12 (W20): T_W0 ∝ m_WDM^{−1/3},
    so m_DM = ⟨q⟩T₀ m_WDM/(3.15137 T_W0) ⇔ m_WDM = (m_DM·3.15137·κ/(⟨q⟩T₀))^{3/4} with T_W0 = κ m_WDM^{−1/3}.
    """
    kappa = (2.0 * jnp.pi**2 * c.OMEGA_DM_H2 * _RHO_CRIT_OVER_H2 / (3.0 * c.ZETA3)) ** (1.0 / 3.0)
    m_wdm_gev = (jnp.asarray(m_dm) * thermal_moment * kappa / (jnp.asarray(moment) * T_CMB_GEV)) ** 0.75
    return m_wdm_gev * 1e6


def lyman_alpha_verdict(margin: ArrayLike) -> np.ndarray:
    """Verdict strings for margin = ln(m_WDM^eq/m_WDM^bound) (W.3): "excluded" below −0.15, "allowed"
    above +0.15, "marginal" in between; None where the margin is NaN."""
    margin = np.asarray(margin, dtype=float)
    index = np.where(margin < -MARGINAL_BAND, 0, np.where(margin > MARGINAL_BAND, 2, 1))
    index = np.where(np.isfinite(margin), index, 3)
    return np.asarray((*VERDICTS, None), dtype=object)[index.reshape(-1)].reshape(index.shape)


def resolve_lyman_alpha_bound(bound: str | float) -> tuple[str, float]:
    """(name, keV) of a bound given by name (:data:`LYMAN_ALPHA_BOUNDS`) or as a positive number in keV."""
    if isinstance(bound, str):
        key = bound.strip().lower()
        if key in LYMAN_ALPHA_BOUNDS:
            return key, LYMAN_ALPHA_BOUNDS[key]
        try:
            value = float(key)
        except ValueError:
            names = ", ".join(LYMAN_ALPHA_BOUNDS)
            raise ValueError(f"lya_bound must be one of {names} or a positive number in keV, got {bound!r}") from None
    else:
        value = float(bound)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"lya_bound must be a positive finite number in keV, got {bound!r}")
    return "custom", value


# --- one point ------------------------------------------------------------------------------------------------


class _Background(eqx.Module):
    """Background at the midpoints of a ln T grid: T [GeV], r = (g*s/g*s0)^{1/3} (W2), dt [GeV⁻¹] with the
    relic solver's clock (1+δ) dτ/H, H [GeV] and ln Y_DM,eq."""

    temperature: Array
    r: Array
    dt: Array
    hubble: Array
    log_y_dm_eq: Array


def _entropy_dof(config: Config, temperature):
    dof = degrees_of_freedom(config.settings.gstar)
    return dof.g_rho(temperature) if config.physics.g_s_equals_g_rho else dof.g_s(temperature)


def _background(config: Config, portal: VectorPortal, t_start: Array, t_end: Array, n: int) -> _Background:
    physics = config.physics
    ln_t = jnp.linspace(jnp.log(t_start), jnp.log(t_end), n + 1)
    temperature = jnp.exp(0.5 * (ln_t[1:] + ln_t[:-1]))
    th = thermodynamics(
        portal, physics.settings, physics.planck_mass, physics.entropy_derivative, temperature, physics.g_s_equals_g_rho
    )
    g_s0 = _entropy_dof(config, T_CMB_GEV)
    r = (_entropy_dof(config, temperature) / g_s0) ** (1.0 / 3.0)
    dt = th.entropy_factor * (ln_t[0] - ln_t[1]) / th.hubble
    return _Background(temperature=temperature, r=r, dt=dt, hubble=th.hubble, log_y_dm_eq=th.log_y_dm_eq)


def _statistics_weight(energy_over_t: Array, statistics: str) -> Array:
    """Equilibrium occupation of the mediator: e^{−E/T} (MB) or 1/(e^{E/T} − 1) (BE)."""
    if statistics == "maxwell-boltzmann":
        return jnp.exp(-energy_over_t)
    return 1.0 / jnp.expm1(energy_over_t)


def _relative_expm1(z: Array) -> Array:
    """(eᶻ − 1)/z, 1 at z = 0 (NaN-free value and derivative)."""
    small = jnp.abs(z) < 1e-8
    z_safe = jnp.where(small, 1.0, z)
    return jnp.where(small, 1.0 + 0.5 * z, jnp.expm1(z_safe) / z_safe)


def _log_linear_integral(nodes: Array, values: Array, x: Array) -> Array:
    """∫₀ˣ g dK for g ≥ 0 exponential between ``nodes`` (increasing, nodes[0] = 0; ln g linear), whose
    integral beyond the last node is taken as 0. Exact for e^{−K/T}, the shape a mediator distribution
    follows locally, so the linear interpolation error of W.5 (3) drops out of the zeroth moment of (W6)."""
    widths = jnp.diff(nodes)
    log_values = jnp.log(jnp.maximum(values, 1e-300))
    slopes = jnp.diff(log_values)  # ln g_{j+1} − ln g_j per interval
    segments = widths * jnp.exp(log_values[:-1]) * _relative_expm1(slopes)
    cumulative = jnp.concatenate([jnp.zeros(1), jnp.cumsum(segments)])
    j = jnp.clip(jnp.searchsorted(nodes, x, side="right") - 1, 0, nodes.shape[0] - 2)
    offset = jnp.clip(x - nodes[j], 0.0, widths[j])
    partial = offset * jnp.exp(log_values[j]) * _relative_expm1(slopes[j] * offset / widths[j])
    return cumulative[j] + partial


def _decay_production(config, portal, widths, thermal_mediator, t_reheat, q, q_grid, grid):
    """f(q) from V → DM DM along the decay grid, the yield history and the mediator-decay temperature.

    widths = (Γ_prod, Γ_dep, Γ_DM) [GeV]. The mediator is either in equilibrium (W7) or evolves on its
    comoving grid by the exact step (W11); the DM source of a step uses the mediator's exact time
    average over the step. Returns (f, Y after each step, T_d where H = Γ_dep (K58))."""
    settings = config.settings
    counting = DM_COUNTING[portal.dm_kind]
    width_prod, width_dep, width_dm = widths
    m, big_m = portal.m_dm, portal.m_v
    t_end = jnp.minimum(big_m / 50.0, decayed_temperature(width_dep, config.physics.planck_mass))
    t_end = jnp.minimum(t_end, m / TWO_TO_TWO_X_END)  # the saturation check also sees the 2→2 epoch
    bg = _background(config, portal, t_reheat, t_end, grid.n_t)
    q_v = jnp.asarray(grid.q_mediator())
    g_s0 = _entropy_dof(config, T_CMB_GEV)

    def step(carry, x):
        f_v, f = carry
        temperature, r, dt = x
        p_v = q_v * temperature * r
        e_v = jnp.sqrt(big_m**2 + p_v**2)
        k_v = p_v**2 / (e_v + big_m)
        decay = big_m * width_dep * dt / e_v
        f_limit = width_prod / width_dep * _statistics_weight(e_v / temperature, settings.statistics)
        f_v_mean = f_limit + (f_v - f_limit) * _relative_expm1(-decay)  # (1 − e^{−D})/D
        f_v_next = f_limit + (f_v - f_limit) * jnp.exp(-decay)
        nodes = jnp.concatenate([jnp.zeros(1), k_v])
        values = jnp.concatenate([f_v_mean[:1], f_v_mean])
        p = q * temperature * r
        k_minus, k_plus = mediator_kinetic_window(p, m, big_m)
        tabulated = _log_linear_integral(nodes, values, k_plus) - _log_linear_integral(nodes, values, k_minus)
        closed_form = equilibrium_mediator_integral(k_minus, k_plus, big_m, temperature, settings.statistics)
        integral = jnp.where(thermal_mediator, closed_form, tabulated)
        f = f + dt * decay_collision_term(p, m, big_m, width_dm, integral, counting.per_decay)
        return (f_v_next, f), _yield_on_grid(q_grid, f[: grid.n_q], g_s0, counting.species)

    init = (jnp.zeros_like(q_v), jnp.zeros_like(q))
    (_, f), y_history = jax.lax.scan(step, init, (bg.temperature, bg.r, bg.dt))
    log_ratio = jnp.log(width_dep / bg.hubble)
    t_decay = first_crossing_temperature(log_ratio, -jnp.log(bg.temperature), jnp.ones(()))
    return f, y_history, bg, t_decay


def _two_to_two_production(config, portal, width_total, thermal_mediator, t_reheat, q, q_grid, grid):
    """f(q) from a b → DM DM (W12) along the 2→2 grid and the yield after each step: SM SM → DM DM off
    the pole (window of (G19) excised, K59) and, for a thermal mediator, V V → DM DM."""
    processes = config.physics.processes
    settings = config.settings
    m, big_m = portal.m_dm, portal.m_v
    counting = DM_COUNTING[portal.dm_kind]
    bg = _background(config, portal, t_reheat, m / TWO_TO_TWO_X_END, grid.n_t_2to2)
    g_s0 = _entropy_dof(config, T_CMB_GEV)
    channels = []
    if processes.annihilation:
        sigma_a = dm_pair_to_sm_cross_section(portal, settings, width_total, resonance_window(portal))
        channels.append((sigma_a, 4.0 * m**2, 1.0))
    if processes.conversion:
        sigma_c = dm_pair_to_mediator_pair_cross_section(portal, settings)
        channels.append((sigma_c, 4.0 * jnp.maximum(m, big_m) ** 2, jnp.where(thermal_mediator, 1.0, 0.0)))

    def step(f, x):
        temperature, r, dt = x
        p = q * temperature * r
        for sigma, s_min, weight in channels:
            f = f + dt * weight * two_to_two_collision_term(p, m, temperature, sigma, s_min, grid.n_s)
        return f, _yield_on_grid(q_grid, f[: grid.n_q], g_s0, counting.species)

    f, y_history = jax.lax.scan(step, jnp.zeros_like(q), (bg.temperature, bg.r, bg.dt))
    return f, y_history, bg


class _FreezeIn(eqx.Module):
    """Freeze-in production without back-reaction (W4): f on q, the final yield Y (W18), max Y/Y_eq while
    1–90 % of Y is produced (K57), the share of Y from decays, and T_d where H = Γ_dep (K58)."""

    q_grid: Array
    f: Array
    yield_dm: Array
    saturation: Array
    decay_fraction: Array
    mediator_decay_temperature: Array


def _freeze_in(theta: Array, q_out: Array, mediator_thermal: Array, config: Config, grid: MomentumGrid) -> _FreezeIn:
    """The freeze-in f on the point's grid (``q_grid``) followed by ``q_out``."""
    portal = portal_of(theta, config)
    physics = config.physics
    width_prod = portal.g_sm**2 * sm_width_unit(portal.m_v, portal.current, physics.settings).total
    width_dm = dm_pair_width(portal)
    width_dep = width_prod + width_dm if physics.system.dm_decay_depletes_mediator else width_prod
    # H(T_d) = Γ_dep at g* ≈ 10.75: a DM from a decay at rest there has q ≈ p*/T_d
    t_decay_estimate = jnp.sqrt(width_dep * physics.planck_mass / jnp.sqrt(jnp.pi**2 * 10.75 / 90.0))
    q_grid = grid.q(20.0 * 0.5 * portal.m_v / t_decay_estimate)
    q = jnp.concatenate([q_grid, q_out])
    f, y_history, bg, t_decay = _decay_production(
        config, portal, (width_prod, width_dep, width_dm), mediator_thermal, theta[4], q, q_grid, grid
    )
    y_decay = y_history[-1]
    if physics.processes.annihilation or physics.processes.conversion:
        f_22, y_22, bg_22 = _two_to_two_production(
            config, portal, width_prod + width_dm, mediator_thermal, theta[4], q, q_grid, grid
        )
        f = f + f_22
        # the 2→2 yield history on the decay grid (ln(1/T) increases along both)
        y_history = y_history + jnp.interp(-jnp.log(bg.temperature), -jnp.log(bg_22.temperature), y_22, left=0.0)
        y_total = y_decay + y_22[-1]
    else:
        y_total = y_decay
    # the production epoch: between 1 % and 90 % of the final yield
    producing = (y_history >= 0.01 * y_total) & (y_history <= 0.9 * y_total)
    return _FreezeIn(
        q_grid=q_grid,
        f=f,
        yield_dm=y_total,
        saturation=jnp.max(jnp.where(producing, y_history / jnp.exp(bg.log_y_dm_eq), 0.0)),
        decay_fraction=y_decay / y_total,
        mediator_decay_temperature=t_decay,
    )


def _point(row: Array, q_out: Array, config: Config, grid: MomentumGrid) -> dict[str, Array]:
    """Every output of one point; row = (θ, mediator thermal, DM thermal, x_dec, T_dec, Y_relic, relic status,
    mechanism, T_kd or NaN)."""
    theta = row[:N_PARAMETERS]
    mediator_thermal, dm_thermal = row[5] > 0.5, row[6] > 0.5
    x_dec, t_dec, y_relic, relic_status, mechanism, t_kd = row[7], row[8], row[9], row[10], row[11], row[12]
    valid = relic_status == Status.OK
    theta = jnp.where(valid & jnp.all(jnp.isfinite(theta) & (theta > 0)), theta, jnp.asarray(SAFE_THETA))
    portal = portal_of(theta, config)
    counting = DM_COUNTING[portal.dm_kind]
    g_s0 = _entropy_dof(config, T_CMB_GEV)
    freeze_in = _freeze_in(theta, q_out, mediator_thermal, config, grid)
    q_grid = freeze_in.q_grid
    q = jnp.concatenate([q_grid, q_out])

    # freeze-out limiting forms (W15), (W16), normalised to the relic yield
    dof_dec = _entropy_dof(config, jnp.where(jnp.isfinite(t_dec), t_dec, 1.0))
    r_dec = (dof_dec / g_s0) ** (1.0 / 3.0)
    t_kin = jnp.where(jnp.isfinite(t_kd), t_kd, t_dec)
    t_kin = jnp.where(jnp.isfinite(t_kin) & (t_kin > 0), t_kin, 1.0)
    r_kin = (_entropy_dof(config, t_kin) / g_s0) ** (1.0 / 3.0)
    hot = x_dec < HOT_RELIC_X_DEC
    # both forms stay finite with finite derivatives where they are not used (a freeze-in point's
    # Maxwellian underflows to 0): a NaN there would reach jax.grad through the unselected branch
    fermi_dirac = jax.nn.sigmoid(-q * r_dec)  # 1/(e^{q r} + 1) without overflow
    shape = jnp.where(hot, fermi_dirac, jnp.exp(-(q**2) * t_kin * r_kin**2 / (2.0 * portal.m_dm)))
    shape_norm = yield_from_distribution(moments(q_grid, shape[: grid.n_q])[0], g_s0, counting.species)
    f_freeze_out = shape * y_relic / jnp.where(shape_norm > 0.0, shape_norm, 1.0)

    f = jnp.where(dm_thermal, f_freeze_out, freeze_in.f)
    zeroth, mean_q, rms_q = moments(q_grid, f[: grid.n_q])
    y_from_f = yield_from_distribution(zeroth, g_s0, counting.species)
    yield_mismatch = freeze_in.yield_dm / y_relic - 1.0

    mechanism_status = jnp.asarray([MECHANISM_STATUS.get(mech, Status.OK) for mech in Mechanism], dtype=jnp.int32)[
        jnp.clip(mechanism.astype(jnp.int32), 0, len(Mechanism) - 1)
    ]
    modelled = Status.OK if config.physics.processes.decays else Status.NO_DISTRIBUTION_MECHANISM
    # a freeze-out shape needs the decoupling temperature of (A32) (or a user T_kd for (W16))
    freeze_out_status = jnp.where(
        jnp.isfinite(t_dec) | (jnp.isfinite(t_kd) & ~hot), Status.OK, Status.NO_DISTRIBUTION_MECHANISM
    )
    # a (W16) form that vanishes on the whole q grid (a T_kd far above the mass) cannot carry the yield
    freeze_out_status = jnp.where(shape_norm > 0.0, freeze_out_status, Status.DISTRIBUTION_YIELD_MISMATCH)
    freeze_in_status = jnp.where(
        jnp.abs(yield_mismatch) > YIELD_TOLERANCE, Status.DISTRIBUTION_YIELD_MISMATCH, Status.OK
    )
    status = jnp.where(
        ~valid,
        relic_status.astype(jnp.int32),
        jnp.where(
            modelled != Status.OK,
            modelled,
            jnp.where(
                mechanism_status != Status.OK,
                mechanism_status,
                jnp.where(dm_thermal, freeze_out_status, freeze_in_status),
            ),
        ),
    )
    ok = status == Status.OK
    distribution = jnp.where(dm_thermal, jnp.where(hot, 2, 3), jnp.where(mediator_thermal, 0, 1))
    nan = jnp.nan

    def good(x):
        return jnp.where(ok, x, nan)

    return {
        "q_grid": q_grid,
        "f_out": good(f[grid.n_q :]),
        "f": good(f[: grid.n_q]),
        "mean_q": good(mean_q),
        "rms_q": good(rms_q),
        "yield_from_f": good(y_from_f),
        "omega_h2_from_f": good(c.OMEGA_H2_PER_MASS_YIELD * portal.m_dm * y_from_f),
        "v_rms_today": good(rms_q * T_CMB_GEV / portal.m_dm),
        "lambda_fs_mpc": good(free_streaming_length(q_grid, f[: grid.n_q], portal.m_dm, grid.n_a)),
        "m_wdm_kev": good(thermal_wdm_mass(portal.m_dm, mean_q)),
        "m_wdm_sigma_kev": good(thermal_wdm_mass(portal.m_dm, rms_q, RMS_Q_THERMAL)),
        "status": status,
        "distribution": jnp.where(ok, distribution, -1),
        "saturation": jnp.where(valid & ~dm_thermal, freeze_in.saturation, nan),
        "yield_mismatch": jnp.where(valid & ~dm_thermal, yield_mismatch, nan),
        "decay_fraction": jnp.where(valid & ~dm_thermal, freeze_in.decay_fraction, nan),
        "mediator_decay_temperature": jnp.where(valid, freeze_in.mediator_decay_temperature, nan),
        "kinetic_decoupling_temperature": jnp.where(valid & dm_thermal & ~hot, t_kin, nan),
    }


@functools.partial(jit, static_argnums=(2, 3, 4))
def _momentum_batch(rows: Array, q_out: Array, config: Config, grid: MomentumGrid, block: int):
    return map_blocks(lambda row: _point(row, q_out, config, grid), rows, block)


# --- public entry point ------------------------------------------------------------------------------------------

_RELIC_FIELDS = ("mediator_thermalised", "dm_thermalised", "x_dec", "t_dec", "yield_dm", "status", "mechanism")


class MomentumDistribution(eqx.Module):
    """Result of :func:`momentum_distribution` (arrays with the batch shape of the model fields).

    q: comoving momenta q = p/(T r(T)) = p₀/T₀ (W2) of ``f``: the ``q`` asked for, else the point's grid.
    f: phase-space density per internal degree of freedom of one DM species (N₁; χ, equal to χ̄, K60)
      at ``q``, shape (*batch, n_q). f_grid: the same on the point's grid ``q_grid`` (*batch, n_q; the
      moments use it).
    mean_q, rms_q: ⟨q⟩ and ⟨q²⟩^{1/2} (W17). yield_from_f, omega_h2_from_f: Y (χ + χ̄ for Model 2) and
      Ωh² from the zeroth moment (W18). omega_h2: the relic solver's Ωh².
    v_rms_today: ⟨q²⟩^{1/2}T₀/m today [c]. lambda_fs_mpc: free-streaming length (W19) [Mpc].
    m_wdm_kev, m_wdm_sigma_kev: equivalent thermal-relic WDM mass by ⟨q⟩ (W21) and by ⟨q²⟩^{1/2} (W22).
    lya_bound_kev, lya_bound: the Lyman-α bound used [keV] and its name ("custom" for a number).
    lya_margin: ln(m_wdm_kev/lya_bound_kev), the smooth differentiable verdict (W.3).
    status: 0 or a :class:`~uvmsm_jax.codes.Status` code (the relic's where it is not 0; 6–8 for f).
    mechanism: the relic solver's mechanism index. distribution: index into :data:`DISTRIBUTIONS` (−1 none).
    saturation: max Y/Y_eq of the freeze-in production without back-reaction while it is produced (1–90 %
      of the final yield; a K57 diagnostic, NaN after freeze-out).
    yield_mismatch: Y(W18)/Y_relic − 1 of the freeze-in f. decay_fraction: share of the freeze-in yield
      from mediator decays (the rest is 2→2).
    mediator_decay_temperature: T [GeV] at which Γ_dep = H (K58). kinetic_decoupling_temperature: T_kd
      [GeV] of (W16) (NaN unless that form is used).
    """

    q: Array
    f: Array
    q_grid: Array
    f_grid: Array
    mean_q: Array
    rms_q: Array
    yield_from_f: Array
    omega_h2_from_f: Array
    omega_h2: Array
    v_rms_today: Array
    lambda_fs_mpc: Array
    m_wdm_kev: Array
    m_wdm_sigma_kev: Array
    lya_bound_kev: float = eqx.field(static=True)
    lya_bound: str = eqx.field(static=True)
    lya_margin: Array
    status: Array
    mechanism: Array
    distribution: Array
    saturation: Array
    yield_mismatch: Array
    decay_fraction: Array
    mediator_decay_temperature: Array
    kinetic_decoupling_temperature: Array

    @property
    def lyman_alpha(self):
        """ "allowed" | "marginal" | "excluded" (None where no f): a str for a scalar, else an array."""
        verdict = lyman_alpha_verdict(self.lya_margin)
        return verdict.item() if verdict.ndim == 0 else verdict

    @property
    def distribution_name(self):
        """Name in :data:`DISTRIBUTIONS` ("none" for −1): a str for a scalar, else an array."""
        names = np.asarray(DISTRIBUTIONS + ("none",))[np.asarray(self.distribution)]
        return str(names) if names.ndim == 0 else names

    @property
    def warmth_is_lower_bound(self):
        """True where f is (W16) at T_kd = T_dec: the coldest admissible shape, so the DM is at least this
        warm (K56)."""
        return np.asarray(self.distribution) == DISTRIBUTIONS.index("cold-relic")

    def q2f_normalised(self) -> Array:
        """q²f/∫q²f dq on ``q`` (the shape Lyman-α codes read; last axis)."""
        weight = self.q**2 * self.f
        return weight / _trapezoid_log(self.q, self.q * weight)[..., None]

    def as_dict(self) -> dict:
        """JSON-ready dict of a scalar result (floats or None, ints, bools, strings, lists)."""
        if np.ndim(self.mean_q) != 0:
            raise ValueError("as_dict() needs a scalar result; index the batch first")

        def optional(x):
            x = float(x)
            return x if math.isfinite(x) else None

        status = int(self.status)
        q2f = jax.tree.map(np.asarray, self).q2f_normalised()  # NumPy: no program compiled for it
        return {
            "mean_q": optional(self.mean_q),
            "rms_q": optional(self.rms_q),
            "omega_h2_from_f": optional(self.omega_h2_from_f),
            "omega_h2": optional(self.omega_h2),
            "yield_from_f": optional(self.yield_from_f),
            "m_wdm_kev": optional(self.m_wdm_kev),
            "m_wdm_sigma_kev": optional(self.m_wdm_sigma_kev),
            "lambda_fs_mpc": optional(self.lambda_fs_mpc),
            "v_rms_today": optional(self.v_rms_today),
            "lyman_alpha": self.lyman_alpha,
            "lya_bound_kev": self.lya_bound_kev,
            "lya_bound": self.lya_bound,
            "lya_margin": optional(self.lya_margin),
            "status": status,
            "status_message": STATUS_MESSAGES.get(status, "unknown"),
            "mechanism": mechanism_names(self.mechanism),
            "distribution": self.distribution_name,
            "warmth_is_lower_bound": bool(self.warmth_is_lower_bound),
            "saturation": optional(self.saturation),
            "yield_mismatch": optional(self.yield_mismatch),
            "decay_fraction": optional(self.decay_fraction),
            "mediator_decay_temperature_gev": optional(self.mediator_decay_temperature),
            "kinetic_decoupling_temperature_gev": optional(self.kinetic_decoupling_temperature),
            "q": [float(x) for x in np.asarray(self.q)],
            "q2f": [float(x) if math.isfinite(x) else None for x in q2f],
        }


def momentum_distribution(
    model,
    settings: Settings | None = None,
    q: ArrayLike | None = None,
    *,
    lya_bound: str | float = DEFAULT_LYMAN_ALPHA_BOUND,
    t_kd: ArrayLike | None = None,
    grid: MomentumGrid | None = None,
    relic_result: RelicResult | None = None,
    export_cache: str | os.PathLike | None = None,
) -> MomentumDistribution:
    """The DM momentum distribution f(q), its moments, λ_FS, the equivalent WDM mass and the Lyman-α
    verdict of ``model`` (any registered model; scalar or array fields) under ``settings``
    (docs/equations.md Part W).

    q: comoving momenta [p₀/T₀] at which to return f (1-D, positive); default the internal grid.
    lya_bound: a name of :data:`LYMAN_ALPHA_BOUNDS` (default ``"irsic2017"``, 5.3 keV) or a bound in keV.
    t_kd: kinetic-decoupling temperature [GeV] of (W16) for freeze-out points (default T_dec, K56).
    grid: the quadrature grids (:class:`MomentumGrid`, W.5). relic_result: a :func:`~uvmsm_jax.relic`
    result of the same model and settings, reused instead of solving again. export_cache: a folder in
    which the compiled computation is kept, as for :func:`~uvmsm_jax.relic` (concrete inputs only;
    docs/relic.md, "Compilation"); it also serves the relic solve when ``relic_result`` is None.

    Differentiable in forward and reverse mode (``jax.jvp``, ``jax.jacfwd``, ``jax.grad``) in every
    model field and ``Settings.t_reheat``; the smooth ``lya_margin`` is the differentiable verdict. A
    batch never raises: each point has its ``status``.
    """
    settings = Settings() if settings is None else settings
    grid = MomentumGrid() if grid is None else grid
    bound_name, bound_kev = resolve_lyman_alpha_bound(lya_bound)
    config = configure(model, settings)
    theta: Array | np.ndarray = parameters(model, settings)
    if theta.ndim == 1 and is_concrete(theta):
        validate_model(model)
    q_out: Array | np.ndarray = np.zeros((0,))
    if q is not None and is_concrete(q):
        q_out = np.asarray(q, dtype=float)
        if q_out.ndim != 1 or q_out.size == 0 or not np.all(np.isfinite(q_out) & (q_out > 0)):
            raise ValueError("q must be a non-empty 1-D array of positive finite momenta")
    elif q is not None:
        q_out = jnp.asarray(q, dtype=float)
    if t_kd is not None and is_concrete(t_kd):
        check_positive_finite("t_kd", t_kd)
    relic_result = relic(model, settings, export_cache=export_cache) if relic_result is None else relic_result
    batch_shape = theta.shape[:-1]
    relic_fields = [getattr(relic_result, name) for name in _RELIC_FIELDS]
    concrete = is_concrete((theta, q_out, t_kd, relic_fields, relic_result.omega_h2))
    # NumPy around the computation for concrete input: on concrete values each jnp operation compiles a program
    xp = np if concrete else jnp
    if concrete:
        theta = np.asarray(theta)
    relic_columns = [xp.broadcast_to(xp.asarray(field, float), batch_shape) for field in relic_fields]
    t_kd_column = xp.broadcast_to(xp.asarray(np.nan if t_kd is None else t_kd, float), batch_shape)
    flags = [without_derivative(col) for col in relic_columns[:2]] + relic_columns[2:5]
    codes = [without_derivative(col) for col in relic_columns[5:]]
    rows = xp.concatenate([theta, xp.stack([*flags, *codes, t_kd_column], axis=-1)], axis=-1).reshape(
        -1, N_PARAMETERS + len(_RELIC_FIELDS) + 1
    )
    outputs = map_concrete_batch(
        _momentum_batch,
        rows,
        q_out,
        concrete=concrete,
        export_cache=export_cache,
        chunk_blocks=MOMENTUM_CHUNK_BLOCKS,
        config=config,
        grid=grid,
        block=default_block(MOMENTUM_BYTES_PER_POINT),
    )
    outputs = jax.tree.map(lambda x: (np.asarray(x) if concrete else x).reshape((*batch_shape, *x.shape[1:])), outputs)
    q_grid = outputs.pop("q_grid")
    f_out = outputs.pop("f_out")
    for name in ("status", "distribution"):
        outputs[name] = without_derivative(outputs[name]).astype(np.int32)
    arrays = {
        "q": q_grid if q is None else q_out,
        "f": outputs["f"] if q is None else f_out,
        "q_grid": q_grid,
        "f_grid": outputs.pop("f"),
        "omega_h2": xp.where(outputs["status"] == Status.OK, xp.asarray(relic_result.omega_h2), np.nan),
        "mechanism": xp.asarray(relic_result.mechanism),
        "lya_margin": xp.log(outputs["m_wdm_kev"] / bound_kev),
        **outputs,
    }
    return MomentumDistribution(
        **(jax.device_put(arrays) if concrete else arrays), lya_bound_kev=bound_kev, lya_bound=bound_name
    )


class FreezeInDistribution(eqx.Module):
    """Result of :func:`freeze_in_distribution` (arrays with the batch shape of the model fields).

    q: comoving momenta (W2); f: phase-space density per degree of freedom of one DM species at q;
    mean_q, rms_q: ⟨q⟩, ⟨q²⟩^{1/2} (W17); yield_from_f, omega_h2_from_f: (W18); saturation: max Y/Y_eq
    while 1–90 % of the yield is produced (K57); decay_fraction: share of Y from mediator decays; mediator_decay_temperature: T [GeV] where
    Γ_dep = H (K58).
    """

    q: Array
    f: Array
    mean_q: Array
    rms_q: Array
    yield_from_f: Array
    omega_h2_from_f: Array
    saturation: Array
    decay_fraction: Array
    mediator_decay_temperature: Array


@functools.partial(jit, static_argnums=(2, 3, 4))
def _freeze_in_batch(thetas: Array, thermal: Array, config: Config, grid: MomentumGrid, block: int):
    def one(row):
        result = _freeze_in(row[:N_PARAMETERS], jnp.zeros((0,)), row[N_PARAMETERS] > 0.5, config, grid)
        counting = DM_COUNTING[config.spec.dm_kind]
        zeroth, mean_q, rms_q = moments(result.q_grid, result.f)
        y = yield_from_distribution(zeroth, _entropy_dof(config, T_CMB_GEV), counting.species)
        return result, mean_q, rms_q, y

    rows = jnp.concatenate([thetas, thermal[:, None]], axis=-1)
    return map_blocks(one, rows, block)


def freeze_in_distribution(
    model,
    settings: Settings | None = None,
    *,
    thermal_mediator: bool | ArrayLike,
    grid: MomentumGrid | None = None,
) -> FreezeInDistribution:
    """The freeze-in f(q) (W4) of ``model`` with the mediator in equilibrium (``thermal_mediator=True``:
    (W7), MB or BE by ``Settings.statistics``) or evolved with its own distribution ((W10)–(W11)), on the
    internal grid, without a relic solve and without a status.

    The building block of :func:`momentum_distribution`, for comparisons the verdict-level API hides:
    e.g. K50, the equilibrium-decay shape against the out-of-equilibrium mediator at the same point, or
    analytic limits (constant g*, T_R → ∞, m → 0: (W8)–(W9)). No back-reaction: valid where the
    result's ``saturation`` ≪ 1.
    """
    settings = Settings() if settings is None else settings
    grid = MomentumGrid() if grid is None else grid
    config = configure(model, settings)
    theta = parameters(model, settings)
    if theta.ndim == 1 and is_concrete(theta):
        validate_model(model)
    batch_shape = theta.shape[:-1]
    thermal = jnp.broadcast_to(jnp.asarray(thermal_mediator, float), batch_shape).reshape(-1)
    result, mean_q, rms_q, y = _freeze_in_batch(
        theta.reshape(-1, N_PARAMETERS), thermal, config, grid, default_block(MOMENTUM_BYTES_PER_POINT)
    )
    result, mean_q, rms_q, y = jax.tree_util.tree_map(
        lambda x: x.reshape(*batch_shape, *x.shape[1:]), (result, mean_q, rms_q, y)
    )
    return FreezeInDistribution(
        q=result.q_grid,
        f=result.f,
        mean_q=mean_q,
        rms_q=rms_q,
        yield_from_f=y,
        omega_h2_from_f=c.OMEGA_H2_PER_MASS_YIELD * theta[..., 0] * y,
        saturation=result.saturation,
        decay_fraction=result.decay_fraction,
        mediator_decay_temperature=result.mediator_decay_temperature,
    )
