"""Vector production in light-meson decays at SHiP (docs/equations.md C.3, eqs. (C12)–(C14), C.6).

What is implemented:

* the branching ratios P → γV (P = π⁰, η, η′; (C12)) and ω → π⁰V ((C13)), for the dark photon
  and — through the quark-level anomaly factors below — for the B−L Z′;
* the meson yields per POT of (C14) and the resulting number of vectors per POT;
* the **P2-style rescaling route** (C19)–(C20): the published SHiP 2020 meson-channel reach
  (DarkCast files ``SHiP_Ahdida2020new_meson_*``, 2×10²⁰ POT, N_thr = 2.3) is turned, mass by
  mass, into an effective event-count model

      N_c(m, ε) = A_c(m) · ε² · P_dec(κ_c(m) ε²),   P_dec(x) = e^(−L₁x) − e^(−L₂x),

  whose two parameters (A_c, κ_c = m Γ₁/(p_eff ħc)) are fixed by the published lower and upper
  edges (N_c = 2.3 at both). The model then gives the reach for other N_POT and N_thr — exactly
  ε_lower ∝ (N_thr/N_POT)^(1/4) on the long-lifetime side and the logarithmic shift of the upper
  edge — and can be added to the computed bremsstrahlung count. L₁ = 50 m, L₂ = 85 m is the
  SHiP 2020 layout as encoded by DarkCast (decay volume/shield = 35/50); only L₂/L₁ matters.

**Limitation.** A first-principles meson channel needs the meson momentum/angle spectra (Pythia8
or a BMPT-type parametrisation), which are not available here. The rescaled curves therefore
carry the SHiP 2020 geometry, acceptance and efficiency, interpolated between the published
masses, and a single effective momentum per mass (exact on the lower edge, approximate on the
upper one). For the B−L Z′ the dark-photon fit is recast with the production ratio
(g a_P/e)² / ε² and the B−L lifetime and visible branching ratio (same effective momentum).
The DarkCast files hold √ε; they are squared by :func:`uvmsm_jax.limits.load`.
"""

from __future__ import annotations

import functools
import math

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jax.nn import logsumexp

from .. import constants as c

MESON_YIELDS_PER_POT = {"pi0": 6.166, "eta": 0.7012, "omega": 0.8295, "eta_prime": 0.07825}
"""Mean multiplicities per 400 GeV pp interaction = per POT (thick target), Pythia8/FairShip (C14)."""
MESON_MASSES = {"pi0": c.M_PI0, "eta": c.M_ETA, "omega": c.M_OMEGA, "eta_prime": c.M_ETA_PRIME}
"""Meson masses [GeV] (docs/equations.md G.1)."""
BR_TWO_PHOTONS = {"pi0": c.BR_PI0_GAMMA_GAMMA, "eta": c.BR_ETA_GAMMA_GAMMA, "eta_prime": c.BR_ETA_PRIME_GAMMA_GAMMA}
"""BR(P → γγ) (docs/equations.md G.1)."""

ANOMALY_FACTOR_B_MINUS_L = {"pi0": 1.0, "eta": 0.5, "eta_prime": -1.0 / 7.0}
"""a_P = A(P → γ Z′_B−L)/A(P → γγ) per unit (g/e), from Σ_q c_q Q_q x_q / Σ_q c_q Q_q² with
x_q = 1/3 and the quark content π⁰ = (uū − dd̄)/√2, η = (uū + dd̄ − ss̄)/√3, η′ = (uū + dd̄ + 2ss̄)/√6
(ideal octet–singlet mixing; the physical mixing angle changes a_η, a_η′ by tens of per cent).
ω → π⁰Z′ vanishes: the ω → π⁰γ amplitude needs the isovector photon, which B−L does not have."""


def br_pseudoscalar_to_gamma_vector(mass, meson: str, coupling=1.0, current: str = "em"):
    """BR(P → γV) of (C12) for P ∈ {"pi0", "eta", "eta_prime"}; ``mass`` = m_V [GeV].

    Dark photon ("em", coupling ε): 2ε²(1 − m²/M_P²)³ BR(P → γγ). B−L ("b-l", coupling g_BL):
    ε → a_P g/e (:data:`ANOMALY_FACTOR_B_MINUS_L`). Zero above M_P.
    """
    mass = jnp.asarray(mass, dtype=jnp.float64)
    m_p = MESON_MASSES[meson]
    effective = coupling if current == "em" else ANOMALY_FACTOR_B_MINUS_L[meson] * coupling / c.E_EM
    phase = jnp.clip(1.0 - mass**2 / m_p**2, 0.0, None) ** 3
    return 2.0 * effective**2 * phase * BR_TWO_PHOTONS[meson]


def br_omega_to_pi0_vector(mass, coupling=1.0, current: str = "em"):
    """BR(ω → π⁰V) of (C13): ε² BR(ω → π⁰γ) λ^{3/2}(m_ω², m_π⁰², m²)/(m_ω² − m_π⁰²)³ (K27).

    ``mass`` [GeV]; zero above m_ω − m_π⁰ and for the B−L current (isoscalar ω cannot radiate an
    isoscalar vector with a π⁰).
    """
    mass = jnp.asarray(mass, dtype=jnp.float64)
    if current != "em":
        return jnp.zeros_like(mass)
    a, b, m2 = c.M_OMEGA**2, c.M_PI0**2, mass**2
    kallen = a**2 + b**2 + m2**2 - 2.0 * (a * b + b * m2 + m2 * a)
    open_ = (mass < c.M_OMEGA - c.M_PI0) & (kallen > 0.0)
    lam = jnp.where(open_, kallen, 1.0)
    return jnp.where(open_, coupling**2 * c.BR_OMEGA_PI0_GAMMA * lam**1.5 / (a - b) ** 3, 0.0)


def meson_vector_yields_per_pot(mass, coupling=1.0, current: str = "em") -> dict:
    """Vectors per POT from each meson channel, n̄_M · BR(M → X V) (C14); ``mass`` [GeV].

    Keys "pi0", "eta", "eta_prime", "omega" and "total". No momentum spectra: these are total
    yields, not yields in the SHiP acceptance.
    """
    out = {
        m: MESON_YIELDS_PER_POT[m] * br_pseudoscalar_to_gamma_vector(mass, m, coupling, current)
        for m in ("pi0", "eta", "eta_prime")
    }
    out["omega"] = MESON_YIELDS_PER_POT["omega"] * br_omega_to_pi0_vector(mass, coupling, current)
    out["total"] = sum(out.values())
    return out


# --- P2-style rescaling of the published SHiP meson curves ----------------------------------------

PUBLISHED_MESON_CURVES = {
    "pi0": "darkcast-reach/SHiP_Ahdida2020new_meson_pi0",
    "eta": "darkcast-reach/SHiP_Ahdida2020new_meson_eta",
    "eta_prime": "darkcast-reach/SHiP_Ahdida2020new_meson_etap",
    "omega": "darkcast-reach/SHiP_Ahdida2020new_meson_omega",
}
"""Dark-photon SHiP 2020 meson-channel reach (arXiv:2011.05115 via DarkCast) used for rescaling."""
PUBLISHED_N_POT = 2e20
PUBLISHED_N_THRESHOLD = 2.3
PUBLISHED_L_START = 50.0
PUBLISHED_L_END = 85.0
NO_EVENTS_LOG = -1.0e4
"""ln N used where a channel has no published reach (N = e^(−10⁴) ≈ 0, finite for autodiff)."""


def _log_pdec(x, l1, l2):
    return -l1 * x + np.log(-np.expm1(-(l2 - l1) * x))


def fit_effective_reach(
    lower, upper, *, n_threshold=PUBLISHED_N_THRESHOLD, l_start=PUBLISHED_L_START, l_end=PUBLISHED_L_END
):
    """(ln A, ln κ) of N(ε) = A ε² P_dec(κε²) through N(lower) = N(upper) = ``n_threshold``.

    NumPy, elementwise over the arrays ``lower`` < ``upper`` (couplings); κ in m⁻¹. NaN where an
    edge is missing. Solved by bisection in ln κ (the log-ratio of the two counts is monotone in κ).
    """
    lower = np.asarray(lower, float)
    upper = np.asarray(upper, float)
    ok = np.isfinite(lower) & np.isfinite(upper) & (upper > lower)
    lo2 = np.where(ok, lower, 1.0) ** 2
    up2 = np.where(ok, upper, 2.0) ** 2

    def mismatch(log_kappa):
        k = np.exp(log_kappa)
        return (np.log(lo2) + _log_pdec(k * lo2, l_start, l_end)) - (np.log(up2) + _log_pdec(k * up2, l_start, l_end))

    a = np.full(lower.shape, -60.0) - np.log(up2)
    b = np.full(lower.shape, 60.0) - np.log(up2)
    for _ in range(200):
        mid = 0.5 * (a + b)
        positive = mismatch(mid) > 0.0
        b = np.where(positive, mid, b)
        a = np.where(positive, a, mid)
    log_kappa = 0.5 * (a + b)
    log_amp = math.log(n_threshold) - np.log(lo2) - _log_pdec(np.exp(log_kappa) * lo2, l_start, l_end)
    return np.where(ok, log_amp, np.nan), np.where(ok, log_kappa, np.nan)


class MesonReachModel(eqx.Module):
    """Effective dark-photon event-count model per meson channel fitted to the published curves.

    ``log_mass`` (n_m,): ln m [GeV] grid (union of the channels' masses); ``log_amp``,
    ``log_kappa`` (n_ch, n_m): ln A_c and ln κ_c (NumPy arrays) interpolated onto the grid
    (:data:`NO_EVENTS_LOG` where the channel has no reach); ``channels``: names (static).
    """

    log_mass: np.ndarray | jnp.ndarray
    log_amp: np.ndarray | jnp.ndarray
    log_kappa: np.ndarray | jnp.ndarray
    channels: tuple = eqx.field(static=True)

    def log_events_dark_photon(self, mass, log_coupling):
        """ln N_c for each channel (last axis) at ``mass`` [GeV] and u = ln ε, SHiP 2020 setup."""
        lm = jnp.log(jnp.asarray(mass, dtype=jnp.float64))
        inside = (lm >= self.log_mass[0]) & (lm <= self.log_mass[-1])
        amp = jnp.stack([jnp.interp(lm, self.log_mass, row) for row in self.log_amp], axis=-1)
        kap = jnp.stack([jnp.interp(lm, self.log_mass, row) for row in self.log_kappa], axis=-1)
        amp = jnp.where(inside[..., None], amp, NO_EVENTS_LOG)
        return amp, kap


@functools.cache
def published_meson_model() -> MesonReachModel:
    """Fit :func:`fit_effective_reach` to the four SHiP 2020 meson curves (cached)."""
    from .. import limits

    fits = {}
    for channel, name in PUBLISHED_MESON_CURVES.items():
        curve = limits.load("dark-photon", name)
        good = np.isfinite(curve.lower) & np.isfinite(curve.upper)
        la, lk = fit_effective_reach(curve.lower[good], curve.upper[good])
        fits[channel] = (np.log(curve.mass[good]), la, lk)
    grid = np.unique(np.concatenate([f[0] for f in fits.values()]))
    amps, kaps = [], []
    for lm, la, lk in fits.values():
        inside = (grid >= lm[0]) & (grid <= lm[-1])
        amps.append(np.where(inside, np.interp(grid, lm, la), NO_EVENTS_LOG))
        kaps.append(np.where(inside, np.interp(grid, lm, lk), 0.0))
    # NumPy arrays (not jnp): the cached model may first be built inside a jit trace.
    return MesonReachModel(grid, np.array(amps), np.array(kaps), tuple(fits))


def meson_channel_parameters(
    mass, *, current: str = "em", width_ratio=1.0, br_ratio=1.0, log_scale=0.0, model: MesonReachModel | None = None
):
    """Per-channel (ln A_c, ln κ_c) at ``mass`` [GeV] (channels on the last axis), recast and scaled.

    ``log_scale`` = ln[(N_POT/2e20)·efficiency] relative to the published setup. For the B−L
    current (``current="b-l"``, coupling g_BL): ``width_ratio`` = (Γ_Z′/g²)/(Γ_A′/ε²) and
    ``br_ratio`` = BR_vis(Z′)/BR_vis(A′) at this mass; the production ratio is a_P²/e²
    (:data:`ANOMALY_FACTOR_B_MINUS_L`, zero for ω → π⁰Z′).
    """
    model = published_meson_model() if model is None else model
    amp, kap = model.log_events_dark_photon(mass, 0.0)
    amp = amp + jnp.asarray(log_scale)[..., None]
    if current == "em":
        return amp, kap
    factors = jnp.asarray(
        [
            2.0 * math.log(abs(ANOMALY_FACTOR_B_MINUS_L[ch]) / c.E_EM)
            if ch in ANOMALY_FACTOR_B_MINUS_L
            else NO_EVENTS_LOG
            for ch in model.channels
        ]
    )
    return amp + factors + jnp.log(br_ratio)[..., None], kap + jnp.log(width_ratio)[..., None]


def meson_log_events(log_amp, log_kappa, log_coupling):
    """ln N_sig summed over meson channels: ln Σ_c A_c c² P_dec(κ_c c²) with the published layout.

    ``log_amp``, ``log_kappa`` from :func:`meson_channel_parameters` (channels on the last axis);
    ``log_coupling`` = ln ε or ln g_BL (broadcast against the leading axes). Differentiable.
    """
    u = jnp.asarray(log_coupling, dtype=jnp.float64)[..., None]
    x = jnp.exp(log_kappa + 2.0 * u)
    log_p = -PUBLISHED_L_START * x + jnp.log(-jnp.expm1(-(PUBLISHED_L_END - PUBLISHED_L_START) * x))
    return logsumexp(log_amp + 2.0 * u + log_p, axis=-1)
