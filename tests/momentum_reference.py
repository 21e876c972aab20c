"""Independent NumPy/SciPy reference for the DM momentum distribution (docs/equations.md Part W).

Written from the equations of Part W only, to cross-check :func:`uvmsm_jax.momentum_distribution`.
Nothing is imported from ``uvmsm_jax.momentum``, ``rates``, ``boltzmann`` or ``pipeline``. Data-layer
inputs taken from the package: g*ρ(T) and g*s(T) of :func:`uvmsm_jax.thermo.degrees_of_freedom`
and the Z′ partial widths of :func:`uvmsm_jax.widths` (Model 1 driver :func:`uvmsm_point` only).

Units: GeV for masses, momenta, temperatures and widths; q = p/(T r(T)) is dimensionless (W2);
λ_FS in Mpc; m_WDM in keV.

Formulation (deliberately different from the one W.5 recommends for the JAX code):

* **Decay kinematics in rapidities.** A χ of lab energy E = m cosh η can come from a V of rapidity
  η_V ∈ [|η − η*|, η + η*] (η* the χ rapidity in the V rest frame, cosh η* = M/2m), so
  p_V^± = M sinh(η ± η*) with no cancellation; for m = 0, η − η* = ln(2p/M) and p_V^+ = ∞. This is
  (W5) (E_V^± = M cosh(η ± η*)) written in another variable.
* **(W6) in mediator momentum.** ∫ f_V dE_V = ∫ f_V p_V/E_V dp_V = ∫ f_V p_V²/E_V d ln p_V. The
  integrand is tabulated on the log-spaced q_V grid (uniform in ln p_V at every T), integrated by
  the trapezoid rule, and the partial cells at p_V^± are integrated exactly for the linear
  interpolant of the integrand (not a linear interpolation of a cumulative in K_V).
* **(W10) along constant q_V** with the integrand of the Duhamel form interpolated exponentially
  between T nodes ("logarithmic-mean" trapezoid): f_V ← f_V e^{−D} + h·L(σ_k e^{−D}, σ_{k+1}),
  D = trapezoid of M Γ_dep/(E_V H) over the step in ln a, L(a, b) = (a − b)/ln(a/b). Second order
  and unconditionally stable (it tends to the quasi-static σ/ρ for D ≫ 1); not the midpoint-frozen
  update (W11). The source is handled in logarithms (no underflow of e^{−E_V/T}).
* **Time** in ln a with Δ ln a = −Δ ln(T r) from the g*s table (W3), 1/H at the nodes, trapezoid
  for the DM collision integral (W4).
* **Moments** by the trapezoid rule in ln q (W17), Y by (W18), m_WDM by (W21)/(W22) with the
  coefficients recomputed from (W20) and the constants, λ_FS by (W19) on a ln a grid.

Second route (Monte Carlo, does not use (W5), (W7), (W11)): :func:`mc_thermal_decays` samples the
decay epoch and the mediator momentum of an equilibrium MB mediator and decays it isotropically;
:func:`mc_out_of_equilibrium` samples inverse-decay production events, propagates each Z′ with its
survival probability along its redshifting momentum and decays it.

Accuracy (defaults): W1.1–W1.6 to ≲ 1e-5; doubling all grids of :func:`solve_out_of_equilibrium`
changes ⟨q⟩ by ≲ 1e-4 and Y by ≲ 1e-4. Runtime ≈ 2–5 s per Model-1 point on one core.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time
from collections.abc import Callable

import numpy as np
from scipy import special

# --- constants (docs/equations.md G.1, W.2, W.3) -------------------------------------------------
M_P_PHYSICAL = 2.435e18  # reduced Planck mass [GeV], physical mode
OMEGA_PER_MY = 2.7420e8  # s0/(ρc/h²) [1/GeV]: Ωh² = OMEGA_PER_MY·(m/GeV)·Y
T0_GEV = 2.3487e-13  # photon temperature today (2.7255 K) [GeV]
RHO_CRIT_H2 = 1.05368e-5  # ρc/h² [GeV cm⁻³]
HBAR_C_GEV_CM = 1.973269804e-14  # ħc [GeV cm]
OMEGA_DM_H2 = 0.12
# Cosmology of (W19)
H_LITTLE = 0.674
OMEGA_M = 0.315
OMEGA_GAMMA_H2 = 2.4728e-5
N_EFF = 3.044
C_KM_S = 299792.458
# Counting (G.2)
G_N = 2.0
G_ZP = 3.0
N_CHI_MAJORANA = 2.0
# Lyman-α bounds on the thermal-relic mass [keV] (W.3 table)
LYA_BOUNDS_KEV = {
    "irsic2017": 5.3,
    "irsic2017_conservative": 3.5,
    "villasenor2023": 3.1,
    "viel2013": 3.3,
    "irsic2024": 5.7,
}
VERDICT_BAND = 0.15  # |ln(m_WDM/bound)| below this is "marginal" (W.3)

# Grids (W.5)
Q_DM = np.geomspace(1e-3, 3e3, 400)
Q_MEDIATOR = np.geomspace(1e-4, 300.0, 600)


# =============================================================================================
# Thermodynamics (G2, G3, W2, W3)
# =============================================================================================


@dataclasses.dataclass(frozen=True)
class Thermo:
    """g*ρ(T), g*s(T) [dimensionless] as NumPy callables, with g*s0 = g*s(T → 0) (W2, K53) and M_P [GeV]."""

    g_rho: Callable[[np.ndarray], np.ndarray]
    g_s: Callable[[np.ndarray], np.ndarray]
    g_s0: float
    m_planck: float = M_P_PHYSICAL

    @classmethod
    def constant(cls, g: float, m_planck: float = M_P_PHYSICAL) -> Thermo:
        """Constant g*ρ = g*s = g (the analytic limits of (W8), (W9)); then r ≡ 1 and q = y."""

        def const(t):
            return np.full(np.shape(t), float(g))

        return cls(const, const, float(g), m_planck)

    @classmethod
    def table(cls, gstar: str = "saikawa2018", m_planck: float = M_P_PHYSICAL) -> Thermo:
        """The package's g* model (data-layer input), sampled once on a fine ln T grid."""
        ln_t, g_rho, g_s = _dof_samples(gstar)

        def rho(t):
            return np.interp(np.log(t), ln_t, g_rho)

        def ent(t):
            return np.interp(np.log(t), ln_t, g_s)

        return cls(rho, ent, float(g_s[0]), m_planck)

    def r(self, t: np.ndarray) -> np.ndarray:
        """r(T) = (g*s(T)/g*s0)^{1/3} (W2)."""
        return np.cbrt(self.g_s(t) / self.g_s0)

    def hubble(self, t: np.ndarray) -> np.ndarray:
        """H = sqrt(π² g*ρ/90) T²/M_P [GeV] (G3)."""
        return np.sqrt(np.pi**2 * self.g_rho(t) / 90.0) * t**2 / self.m_planck

    def entropy(self, t: np.ndarray) -> np.ndarray:
        """s = 2π²/45 g*s T³ [GeV³] (G2)."""
        return 2.0 * np.pi**2 / 45.0 * self.g_s(t) * t**3

    def ln_a(self, t: np.ndarray) -> np.ndarray:
        """ln a = −ln(T r(T)) + const (W3)."""
        return -np.log(t * self.r(t))


@functools.cache
def _dof_samples(gstar: str):
    """(ln T, g*ρ, g*s) of the package table on a uniform ln T grid (step 2e-4, 1e-9 … 1e6 GeV).

    The package spline is smooth; linear interpolation on this grid is exact to ≲ 1e-8."""
    from uvmsm_jax import thermo

    dof = thermo.degrees_of_freedom(gstar)
    ln_t = np.arange(math.log(1e-9), math.log(1e6), 2e-4)
    t = np.exp(ln_t)
    return ln_t, np.asarray(dof.g_rho(t), dtype=float), np.asarray(dof.g_s(t), dtype=float)


# =============================================================================================
# Decay kinematics (W5 in rapidities) and the collision term (W6, W7)
# =============================================================================================


def mediator_momentum_range(p: np.ndarray, m: float, big_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Mediator momenta p_V^−(p), p_V^+(p) [GeV] that can give a χ of momentum p in V → χχ (W5).

    η_V ∈ [|η − η*|, η + η*], p_V = M sinh η_V, with sinh η = p/m and cosh η* = M/(2m). m = 0: η − η* =
    ln(2p/M) and p_V^+ = ∞."""
    if m == 0.0:
        return big_m * np.abs(np.sinh(np.log(2.0 * p / big_m))), np.full(np.shape(p), np.inf)
    eta = np.arcsinh(p / m)
    eta_star = np.arccosh(big_m / (2.0 * m))
    return big_m * np.sinh(np.abs(eta - eta_star)), big_m * np.sinh(eta + eta_star)


def decay_prefactor(p: np.ndarray, m: float, big_m: float) -> np.ndarray:
    """M²/(2 p E p*) [GeV⁻¹] of (W6) (→ M/p² for m = 0)."""
    e = np.hypot(p, m)
    p_star = 0.5 * big_m * math.sqrt(max(1.0 - 4.0 * m * m / big_m**2, 0.0))
    return big_m**2 / (2.0 * p * e * p_star)


def equilibrium_energy_integral(p_lo, p_hi, big_m: float, t, statistics: str = "mb"):
    """∫_{E_V^-}^{E_V^+} f_V^eq dE_V [GeV] (W7) for MB or BE, in kinetic-energy form (no cancellation)."""
    k_lo = p_lo**2 / (np.hypot(p_lo, big_m) + big_m)
    with np.errstate(over="ignore", invalid="ignore"):
        k_hi = np.where(np.isinf(p_hi), np.inf, p_hi**2 / (np.hypot(p_hi, big_m) + big_m))
    if statistics == "mb":
        return t * np.exp(-big_m / t) * (np.exp(-k_lo / t) - np.exp(-k_hi / t))
    if statistics == "be":
        return t * (np.log1p(-np.exp(-(big_m + k_hi) / t)) - np.log1p(-np.exp(-(big_m + k_lo) / t)))
    raise ValueError(f"statistics must be 'mb' or 'be', got {statistics!r}")


def equilibrium_distribution(
    q: np.ndarray,
    m: float,
    big_m: float,
    width_dm: float,
    thermo: Thermo,
    *,
    t_reheat: float,
    t_end: float,
    statistics: str = "mb",
    n_chi: float = N_CHI_MAJORANA,
    g_v: float = G_ZP,
    g_chi: float = G_N,
    n_t: int = 6000,
) -> np.ndarray:
    """f(q) per internal d.o.f. for decays of an equilibrium mediator (W4) × (W6) × (W7).

    q: comoving momenta (W2); m, big_m: χ and V masses [GeV]; width_dm = Γ(V → χχ) [GeV]; the time
    integral runs from t_reheat down to t_end [GeV] on n_t log-spaced T nodes (trapezoid in ln a)."""
    t = np.geomspace(t_reheat, t_end, n_t + 1)
    ln_a = thermo.ln_a(t)
    tr = t * thermo.r(t)
    h = thermo.hubble(t)
    p = q[None, :] * tr[:, None]
    p_lo, p_hi = mediator_momentum_range(p, m, big_m)
    integral = equilibrium_energy_integral(p_lo, p_hi, big_m, t[:, None], statistics)
    source = n_chi * g_v * width_dm * decay_prefactor(p, m, big_m) * integral / (g_chi * h[:, None])
    return np.sum(0.5 * (source[1:] + source[:-1]) * np.diff(ln_a)[:, None], axis=0)


def analytic_mb_shape(y: np.ndarray) -> np.ndarray:
    """(W8), MB, up to normalisation: f ∝ y^{-1/2} e^{-y}."""
    return y**-0.5 * np.exp(-y)


# =============================================================================================
# Out-of-equilibrium mediator (W10) and the DM source (W6) along constant-q lines (W4)
# =============================================================================================


def _log_mean(log_a: np.ndarray, log_b: np.ndarray) -> np.ndarray:
    """Logarithmic mean L(a, b) = (a − b)/ln(a/b) of a = e^{log_a}, b = e^{log_b} (L(a, a) = a)."""
    hi = np.maximum(log_a, log_b)
    z = -np.abs(log_a - log_b)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(z < -1e-12, np.expm1(z) / np.where(z < -1e-12, z, 1.0), 1.0 + 0.5 * z)
    return np.exp(hi) * ratio


def _cumulative_energy_integral(g: np.ndarray, ln_p0: float, h: float, p_query: np.ndarray) -> np.ndarray:
    """G(P) = ∫_0^P f_V p_V²/E_V d ln p_V for integrand nodes g on the grid ln p_V = ln_p0 + h·i.

    Trapezoid on full cells; partial cells integrated exactly for the linear interpolant of g; below
    the first node g ∝ p_V² (f_V finite, E_V ≈ M), i.e. G = g_0/2·(P/p_0)²; above the last node G is
    constant."""
    n = g.size
    cum = np.empty(n)
    cum[0] = 0.5 * g[0]
    cum[1:] = cum[0] + np.cumsum(0.5 * h * (g[1:] + g[:-1]))
    out = np.empty_like(p_query)
    finite = np.isfinite(p_query) & (p_query > 0)
    u = np.where(p_query > 0, np.inf, -np.inf)  # P = 0 → G = 0; P = ∞ → the full integral
    u[finite] = (np.log(p_query[finite]) - ln_p0) / h
    below = u < 0
    above = u >= n - 1
    inside = ~below & ~above
    out[below] = 0.5 * g[0] * np.exp(2.0 * h * u[below])
    out[above] = cum[-1]
    i = np.floor(u[inside]).astype(int)
    theta = u[inside] - i
    out[inside] = cum[i] + h * theta * (g[i] + 0.5 * theta * (g[i + 1] - g[i]))
    return out


@dataclasses.dataclass
class OutOfEquilibriumResult:
    """Output of :func:`solve_out_of_equilibrium`.

    q, f: DM grid and f(q) per internal d.o.f.; q_v, f_v_end: mediator grid and f_V at t_end;
    yield_mediator_produced: Y_V^prod = ∫ Γ_prod n_V^eq⟨M/E⟩/s dt; yield_mediator_end: Y_V at t_end;
    yield_identity: N_χ (Γ/Γ_dep)(Y_V^prod − Y_V(t_end)), the zeroth-moment identity below (W10);
    t_grid: the T nodes [GeV]; seconds: wall time."""

    q: np.ndarray
    f: np.ndarray
    q_v: np.ndarray
    f_v_end: np.ndarray
    yield_mediator_produced: float
    yield_mediator_end: float
    yield_identity: float
    t_grid: np.ndarray
    seconds: float


def rest_frame_end_temperature(big_m: float, gamma_dep: float, thermo: Thermo, t_reheat: float, depth: float) -> float:
    """T [GeV] at which a mediator at rest has decayed with optical depth ∫ Γ_dep dt = depth (W.5)."""
    t = np.geomspace(t_reheat, 1e-9 * big_m, 4001)
    ln_a = thermo.ln_a(t)
    rate = gamma_dep / thermo.hubble(t)
    tau = np.concatenate([[0.0], np.cumsum(0.5 * (rate[1:] + rate[:-1]) * np.diff(ln_a))])
    if tau[-1] < depth:
        raise ValueError("mediator does not decay before T = 1e-9 M")
    return float(np.exp(np.interp(math.log(depth), np.log(np.maximum(tau, 1e-300)), np.log(t))))


def solve_out_of_equilibrium(
    m: float,
    big_m: float,
    width_dm: float,
    gamma_prod: float,
    gamma_dep: float,
    thermo: Thermo,
    *,
    t_reheat: float,
    t_end: float | None = None,
    n_t: int = 5000,
    q: np.ndarray = Q_DM,
    q_v: np.ndarray = Q_MEDIATOR,
    n_chi: float = N_CHI_MAJORANA,
    g_v: float = G_ZP,
    g_chi: float = G_N,
) -> OutOfEquilibriumResult:
    """f(q) for V → χχ with V produced by inverse decays and depleted by decays (W10) (W6) (W4).

    m, big_m [GeV]: χ and V masses; width_dm = Γ(V → χχ), gamma_prod, gamma_dep [GeV] (Model 1:
    Γ_SM and Γ_Z′). The mediator starts empty at t_reheat; t_end defaults to the T where a V at rest
    has optical depth 100 (but at most 1e-2 M). q_v must be log-spaced."""
    t0 = time.perf_counter()
    if t_end is None:
        t_end = min(rest_frame_end_temperature(big_m, gamma_dep, thermo, t_reheat, 100.0), 1e-2 * big_m)
    t = np.geomspace(t_reheat, t_end, n_t + 1)
    tr = t * thermo.r(t)
    hub = thermo.hubble(t)
    dln_a = np.diff(thermo.ln_a(t))
    ln_qv = np.log(q_v)
    h_qv = (ln_qv[-1] - ln_qv[0]) / (q_v.size - 1)
    if not np.allclose(np.diff(ln_qv), h_qv, rtol=1e-9, atol=0):
        raise ValueError("q_v must be log-spaced")
    weight_dm = n_chi * g_v * width_dm / g_chi

    def node(k: int):
        """(depletion rate per ln a, ln of the source per ln a, E_V) on the q_V line at T_k."""
        p_v = q_v * tr[k]
        e_v = np.hypot(p_v, big_m)
        k_v = p_v**2 / (e_v + big_m)
        rho = big_m * gamma_dep / (e_v * hub[k])
        log_sigma = np.log(big_m * gamma_prod / (e_v * hub[k])) - big_m / t[k] - k_v / t[k]
        return rho, log_sigma, e_v

    def dm_source(k: int, f_v: np.ndarray, e_v: np.ndarray) -> np.ndarray:
        """g_χ C_χ/(g_χ H) on the DM grid at T_k: (W6) with the tabulated f_V, per unit ln a."""
        p_v = q_v * tr[k]
        g = f_v * p_v**2 / e_v
        p = q * tr[k]
        p_lo, p_hi = mediator_momentum_range(p, m, big_m)
        ln_p0 = ln_qv[0] + math.log(tr[k])
        integral = _cumulative_energy_integral(g, ln_p0, h_qv, p_hi) - _cumulative_energy_integral(g, ln_p0, h_qv, p_lo)
        return weight_dm * decay_prefactor(p, m, big_m) * integral / hub[k]

    f_v = np.zeros(q_v.size)
    f = np.zeros(q.size)
    rho0, log_sigma0, e_v0 = node(0)
    source0 = dm_source(0, f_v, e_v0)
    for k in range(n_t):
        rho1, log_sigma1, e_v1 = node(k + 1)
        depth = 0.5 * (rho0 + rho1) * dln_a[k]
        f_v = f_v * np.exp(-depth) + dln_a[k] * _log_mean(log_sigma0 - depth, log_sigma1)
        source1 = dm_source(k + 1, f_v, e_v1)
        f += 0.5 * dln_a[k] * (source0 + source1)
        rho0, log_sigma0, source0 = rho1, log_sigma1, source1

    # zeroth-moment bookkeeping (W10, W18): Y_V^prod = ∫ Γ_prod n_eq <M/E> /(s H) d ln a, (G7)
    x = big_m / t
    prod = gamma_prod * g_v * big_m**2 * t * special.k1e(x) * np.exp(-x) / (2.0 * np.pi**2) / (thermo.entropy(t) * hub)
    y_prod = float(np.sum(0.5 * (prod[1:] + prod[:-1]) * dln_a))
    y_v_end = yield_from_f(q_v, f_v, g_v, thermo.g_s0)
    identity = n_chi * width_dm / gamma_dep * (y_prod - y_v_end)
    return OutOfEquilibriumResult(q, f, q_v, f_v, y_prod, y_v_end, identity, t, time.perf_counter() - t0)


# =============================================================================================
# Moments, yield, WDM mapping, free streaming (W17–W22)
# =============================================================================================


def _ln_q_integral(q: np.ndarray, integrand: np.ndarray) -> np.ndarray:
    """∫ integrand dq = ∫ q·integrand d ln q by the trapezoid rule on the (log-spaced) grid (last axis)."""
    return np.trapezoid(q * integrand, np.log(q), axis=-1)


def moments(q: np.ndarray, f: np.ndarray) -> tuple[float, float]:
    """(⟨q⟩, ⟨q²⟩^{1/2}) of (W17)."""
    n0 = _ln_q_integral(q, q**2 * f)
    return float(_ln_q_integral(q, q**3 * f) / n0), float(math.sqrt(_ln_q_integral(q, q**4 * f) / n0))


def yield_from_f(q: np.ndarray, f: np.ndarray, g: float, g_s0: float) -> float:
    """Y = n/s = 45 g/(4π⁴ g*s0) ∫ q² f dq (W18); g internal d.o.f. per f."""
    return float(45.0 * g / (4.0 * np.pi**4 * g_s0) * _ln_q_integral(q, q**2 * f))


def wdm_coefficients(omega_dm_h2: float = OMEGA_DM_H2) -> tuple[float, float, float]:
    """(T_W0/T0 at 1 keV, c_mean, c_rms) of (W20)–(W22) from the constants of G.1 and W.2.

    T_W0³ = 2π² Ω h² (ρc/h²)/(3ζ(3) m_WDM); m_DM/keV = c·⟨q⟩ (or ⟨q²⟩^{1/2})·(m_WDM/keV)^{4/3} with
    c = 1/(T_W0/T0 · ⟨p⟩/T_W) [⟨p⟩/T_W = 7π⁴/(180ζ(3)), ⟨p²⟩^{1/2}/T_W = sqrt(15ζ(5)/ζ(3))]."""
    zeta3, zeta5 = special.zeta(3.0), special.zeta(5.0)
    t_w_cube = 2.0 * np.pi**2 * omega_dm_h2 * RHO_CRIT_H2 / (3.0 * zeta3 * 1e-6)  # [cm⁻³]
    t0_cube = (T0_GEV / HBAR_C_GEV_CM) ** 3  # [cm⁻³]
    ratio = (t_w_cube / t0_cube) ** (1.0 / 3.0)
    mean_fd = 7.0 * np.pi**4 / (180.0 * zeta3)
    rms_fd = math.sqrt(15.0 * zeta5 / zeta3)
    return float(ratio), float(1.0 / (ratio * mean_fd)), float(1.0 / (ratio * rms_fd))


def m_wdm_kev(m_dm_gev: float, mean_q: float, omega_dm_h2: float = OMEGA_DM_H2) -> float:
    """Thermal-relic-equivalent mass m_WDM^eq [keV] by ⟨p⟩ matching (W21)."""
    return (m_dm_gev * 1e6 / (wdm_coefficients(omega_dm_h2)[1] * mean_q)) ** 0.75


def m_wdm_sigma_kev(m_dm_gev: float, rms_q: float, omega_dm_h2: float = OMEGA_DM_H2) -> float:
    """m_WDM [keV] by ⟨p²⟩^{1/2} matching (W22)."""
    return (m_dm_gev * 1e6 / (wdm_coefficients(omega_dm_h2)[2] * rms_q)) ** 0.75


def lambda_fs_mpc(q: np.ndarray, f: np.ndarray, m_dm_gev: float, a_min: float = 1e-14, n_a: int = 3000) -> float:
    """Comoving free-streaming length λ_FS [Mpc] of (W19), ∫ ⟨v⟩/(a H) d ln a from a_min to 1.

    H = H0 sqrt(Ω_r a⁻⁴ + Ω_m a⁻³ + Ω_Λ) with Ω_Λ = 1 − Ω_m − Ω_r (flat), h = 0.674."""
    omega_r = OMEGA_GAMMA_H2 / H_LITTLE**2 * (1.0 + 7.0 / 8.0 * (4.0 / 11.0) ** (4.0 / 3.0) * N_EFF)
    omega_l = 1.0 - OMEGA_M - omega_r
    h0 = 100.0 * H_LITTLE / C_KM_S  # [1/Mpc]
    a = np.geomspace(a_min, 1.0, n_a)
    weight = q**2 * f
    ratio = a[:, None] * m_dm_gev / T0_GEV
    v = _ln_q_integral(q, weight * q / np.sqrt(q**2 + ratio**2)) / _ln_q_integral(q, weight)
    hubble = h0 * np.sqrt(omega_r * a**-4 + OMEGA_M * a**-3 + omega_l)
    return float(np.trapezoid(v / (a * hubble), np.log(a)))


def thermal_wdm_distribution(q: np.ndarray, m_wdm_kev_value: float) -> np.ndarray:
    """FD f(q) = 1/(exp(q T0/T_W0) + 1) of a thermal relic of mass m_WDM with Ωh² = 0.12 (W20)."""
    ratio = wdm_coefficients()[0] * m_wdm_kev_value ** (-1.0 / 3.0)
    return special.expit(-q / ratio)


def verdict(m_wdm: float, bound_kev: float) -> tuple[float, str]:
    """(margin = ln(m_WDM/bound), "excluded" | "marginal" | "allowed") of W.3."""
    margin = math.log(m_wdm / bound_kev)
    if margin < -VERDICT_BAND:
        return margin, "excluded"
    return margin, ("allowed" if margin > VERDICT_BAND else "marginal")


def summarize(
    q: np.ndarray, f: np.ndarray, m_dm: float, g_chi: float, g_s0: float, lya_bound: str = "irsic2017"
) -> dict:
    """All W.2/W.3 outputs of one distribution: ⟨q⟩, ⟨q²⟩^{1/2}, Y, Ωh², m_WDM (W21, W22), λ_FS, verdict."""
    mean_q, rms_q = moments(q, f)
    y = yield_from_f(q, f, g_chi, g_s0)
    m_w = m_wdm_kev(m_dm, mean_q)
    margin, label = verdict(m_w, LYA_BOUNDS_KEV[lya_bound])
    return {
        "mean_q": mean_q,
        "rms_q": rms_q,
        "yield": y,
        "omega_h2": OMEGA_PER_MY * m_dm * y,
        "m_wdm_kev": m_w,
        "m_wdm_sigma_kev": m_wdm_sigma_kev(m_dm, rms_q),
        "lambda_fs_mpc": lambda_fs_mpc(q, f, m_dm),
        "lya_margin": margin,
        "lyman_alpha": label,
    }


# =============================================================================================
# Model 1 driver (physical mode)
# =============================================================================================


def uvmsm_point(m_n1: float, m_zp: float, g_bl: float, *, n_t: int = 5000, lya_bound: str = "irsic2017") -> dict:
    """Model 1, physical mode, out-of-equilibrium Z′ (W10): every W.2/W.3 output plus diagnostics.

    Widths from :func:`uvmsm_jax.widths` (data layer): Γ = Γ(Z′ → N₁N₁), Γ_prod = Γ_SM = total − Γ,
    Γ_dep = total. T_R = 100·max(M_N₁, M_Z′) (A39), g* = saikawa2018, N_χ = 2, g_N = 2, g_Z′ = 3.
    Diagnostics: Γ_Z′/H(T = M_Z′) and T_d where H = Γ_Z′ (K58) [GeV]; ``seconds``: wall time."""
    import uvmsm_jax as uj

    t0 = time.perf_counter()
    w = uj.widths(uj.UVMSM(m_n1, m_zp, g_bl)).as_dict()
    total, gamma = float(w["total"]), float(w["partial"]["dm"])
    thermo = Thermo.table("saikawa2018")
    t_reheat = 100.0 * max(m_n1, m_zp)
    sol = solve_out_of_equilibrium(m_n1, m_zp, gamma, total - gamma, total, thermo, t_reheat=t_reheat, n_t=n_t)
    out = summarize(sol.q, sol.f, m_n1, G_N, thermo.g_s0, lya_bound)
    t_probe = np.geomspace(10.0 * m_zp, 1e-6 * m_zp, 20001)
    ratio = total / thermo.hubble(t_probe)
    out.update(
        gamma_over_h_at_m=float(total / thermo.hubble(np.array(m_zp))),
        t_decay=float(t_probe[np.argmax(ratio >= 1.0)]),
        yield_identity=sol.yield_identity,
        yield_mediator_end=sol.yield_mediator_end,
        width_total=total,
        width_dm=gamma,
        result=sol,
        seconds=time.perf_counter() - t0,
    )
    return out


# =============================================================================================
# Monte Carlo (second route; uses none of (W5), (W7), (W11))
# =============================================================================================


def sample_kinetic_energy(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """k = K_V/T from the MB density weighted by M/E: ∝ p² e^{−E/T} M/E dp ∝ sqrt(k(k+2x)) e^{−k} dk, x = M/T.

    Rejection from the mixture (k + sqrt(2xk)) e^{−k} = Γ(2) + sqrt(2x)·Γ(3/2) shapes; acceptance
    sqrt(k+2x)/(sqrt k + sqrt 2x) ≥ 1/√2."""
    x = np.asarray(x, dtype=float)
    k = np.empty_like(x)
    todo = np.arange(x.size)
    while todo.size:
        xs = x[todo]
        w_b = np.sqrt(2.0 * xs) * 0.5 * math.sqrt(math.pi)
        use_b = rng.random(todo.size) < w_b / (1.0 + w_b)
        trial = np.where(use_b, rng.gamma(1.5, size=todo.size), rng.gamma(2.0, size=todo.size))
        accept = rng.random(todo.size) * (np.sqrt(trial) + np.sqrt(2.0 * xs)) <= np.sqrt(trial + 2.0 * xs)
        k[todo[accept]] = trial[accept]
        todo = todo[~accept]
    return k


def isotropic_decay_momentum(p_v: np.ndarray, m: float, big_m: float, rng: np.random.Generator) -> np.ndarray:
    """Lab momentum [GeV] of one daughter of V → χχ, isotropic in the V rest frame, V of momentum p_v.

    p_∥ = (E_V p* cos θ* + p_V E*)/M, p_⊥ = p* sin θ* (explicit boost; no (W5))."""
    e_star = 0.5 * big_m
    p_star = 0.5 * big_m * math.sqrt(max(1.0 - 4.0 * m * m / big_m**2, 0.0))
    cos = rng.uniform(-1.0, 1.0, p_v.size)
    e_v = np.hypot(p_v, big_m)
    p_par = (e_v * p_star * cos + p_v * e_star) / big_m
    p_perp = p_star * np.sqrt(1.0 - cos**2)
    return np.hypot(p_par, p_perp)


def _sample_epochs(
    t: np.ndarray, weight_per_ln_a: np.ndarray, ln_a: np.ndarray, n: int, rng: np.random.Generator
) -> np.ndarray:
    """T [GeV] sampled with density weight_per_ln_a in ln a (piecewise-linear inverse CDF on the nodes)."""
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (weight_per_ln_a[1:] + weight_per_ln_a[:-1]) * np.diff(ln_a))])
    u = rng.random(n) * cdf[-1]
    return np.exp(np.interp(u, cdf, np.log(t)))


def _production_weight(t: np.ndarray, big_m: float, g_v: float, thermo: Thermo) -> np.ndarray:
    """n_V^eq⟨M/E⟩/(s H) per unit width and ln a [dimensionless/GeV] (G7): g_V M² T K1(M/T)/(2π² s H)."""
    x = big_m / t
    return g_v * big_m**2 * t * special.k1e(x) * np.exp(-x) / (2.0 * np.pi**2 * thermo.entropy(t) * thermo.hubble(t))


@dataclasses.dataclass
class MCResult:
    """Monte Carlo moments: mean ± standard error of q, sqrt(⟨q²⟩), the samples and the wall time [s]."""

    mean_q: float
    mean_q_error: float
    rms_q: float
    samples: np.ndarray
    seconds: float


def _mc_result(q: np.ndarray, t0: float) -> MCResult:
    return MCResult(
        float(q.mean()),
        float(q.std(ddof=1) / math.sqrt(q.size)),
        float(math.sqrt(np.mean(q**2))),
        q,
        time.perf_counter() - t0,
    )


def mc_thermal_decays(
    m: float,
    big_m: float,
    thermo: Thermo,
    *,
    t_reheat: float,
    t_end: float,
    n: int = 200_000,
    seed: int = 1,
    g_v: float = G_ZP,
    n_t: int = 20000,
) -> MCResult:
    """⟨q⟩ of χ from V → χχ decays of an MB-equilibrium V (second route to (W6)×(W7)).

    Decay epoch with density Γ n_V^eq⟨M/E⟩/(s H) per ln a between t_reheat and t_end [GeV]; V momentum
    from MB × M/E (time dilation) at that T; isotropic decay, boost, q = p/(T r(T))."""
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    t = np.geomspace(t_reheat, t_end, n_t + 1)
    temps = _sample_epochs(t, _production_weight(t, big_m, g_v, thermo), thermo.ln_a(t), n, rng)
    x = big_m / temps
    k = sample_kinetic_energy(x, rng)
    p_v = temps * np.sqrt(k * (k + 2.0 * x))
    p = isotropic_decay_momentum(p_v, m, big_m, rng)
    return _mc_result(p / (temps * thermo.r(temps)), t0)


def mc_out_of_equilibrium(
    m: float,
    big_m: float,
    gamma_dep: float,
    thermo: Thermo,
    *,
    t_reheat: float,
    t_end: float | None = None,
    n: int = 200_000,
    seed: int = 2,
    g_v: float = G_ZP,
    n_t: int = 6000,
    n_qv: int = 400,
) -> MCResult:
    """⟨q⟩ of χ from V produced by inverse decays and decaying late (second route to (W10)+(W6)).

    Production epoch with density Γ_prod n_V^eq⟨M/E⟩/(s H) per ln a from t_reheat (Γ_prod only
    normalises), momentum from MB × M/E; each V survives with probability exp(−∫ Γ_dep M/E_V dt)
    along p_V = q_V T r (optical depth tabulated on a (ln q_V, ln T) grid, linear in ln q_V,
    decay point by inverse interpolation in T); isotropic decay at T_d, q = p/(T_d r(T_d)).
    t_end defaults to the T where a V at rest has optical depth 2000."""
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    if t_end is None:
        t_end = rest_frame_end_temperature(big_m, gamma_dep, thermo, t_reheat, 2000.0)
    t = np.geomspace(t_reheat, t_end, n_t + 1)
    ln_a = thermo.ln_a(t)
    tr = t * thermo.r(t)
    hub = thermo.hubble(t)
    temps = _sample_epochs(t, _production_weight(t, big_m, g_v, thermo), ln_a, n, rng)
    x = big_m / temps
    k = sample_kinetic_energy(x, rng)
    q_v = np.sqrt(k * (k + 2.0 * x)) / thermo.r(temps)

    # optical depth τ(q_V, T) from T_R, table on a log q_V grid
    grid = np.geomspace(1e-6, 1e3, n_qv)
    rate = big_m * gamma_dep / (np.hypot(grid[:, None] * tr[None, :], big_m) * hub[None, :])
    tau = np.concatenate(
        [np.zeros((n_qv, 1)), np.cumsum(0.5 * (rate[:, 1:] + rate[:, :-1]) * np.diff(ln_a), axis=1)], axis=1
    )
    u = np.clip((np.log(q_v) - math.log(grid[0])) / (math.log(grid[-1] / grid[0]) / (n_qv - 1)), 0.0, n_qv - 1.000001)
    row = np.floor(u).astype(int)
    w = u - row

    def tau_at(j):
        return (1.0 - w) * tau[row, j] + w * tau[row + 1, j]

    ln_t = np.log(t)
    pos = np.clip(np.interp(-np.log(temps), -ln_t, np.arange(t.size)), 0.0, t.size - 1.000001)
    j0 = np.floor(pos).astype(int)
    tau_prod = tau_at(j0) + (pos - j0) * (tau_at(j0 + 1) - tau_at(j0))
    target = tau_prod - np.log(rng.random(n))
    if np.any(tau_at(np.full(n, t.size - 1)) < target):
        raise RuntimeError("some mediators survive past t_end; lower t_end")
    lo, hi = j0.copy(), np.full(n, t.size - 1)  # τ(lo) < target ≤ τ(hi)
    while np.any(hi - lo > 1):
        mid = (lo + hi) // 2
        up = tau_at(mid) >= target
        hi = np.where(up, mid, hi)
        lo = np.where(up, lo, mid)
    tau_lo, tau_hi = tau_at(lo), tau_at(hi)
    frac = np.clip((target - np.maximum(tau_lo, tau_prod)) / (tau_hi - np.maximum(tau_lo, tau_prod)), 0.0, 1.0)
    ln_t_lo = np.where(tau_lo < tau_prod, np.log(temps), ln_t[lo])
    t_dec = np.exp(ln_t_lo + frac * (ln_t[hi] - ln_t_lo))
    p_v = q_v * t_dec * thermo.r(t_dec)
    p = isotropic_decay_momentum(p_v, m, big_m, rng)
    return _mc_result(p / (t_dec * thermo.r(t_dec)), t0)


def mc_analytic_limit(n: int = 200_000, seed: int = 3, x_min: float = 1e-5, x_max: float = 80.0) -> MCResult:
    """W1.1 by Monte Carlo: MB V, m = 0, constant g*, T_R → ∞: returns ⟨y⟩ (exactly 5/2, (W9)).

    Decay epoch x = M/T with density ∝ x³ K1(x) (Γ n⟨M/E⟩ dt/s in radiation domination), V momentum
    from MB × M/E, isotropic decay into massless daughters, y = p/T."""
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    x_grid = np.geomspace(x_min, x_max, 40001)
    dens = x_grid**3 * special.k1(x_grid)
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (dens[1:] + dens[:-1]) * np.diff(x_grid))])
    x = np.interp(rng.random(n) * cdf[-1], cdf, x_grid)
    k = sample_kinetic_energy(x, rng)
    p_v = np.sqrt(k * (k + 2.0 * x))  # in units of T, with M = x (units of T)
    # massless daughters: p = (E_V + p_V cos θ*)/2 (boost of E* = p* = M/2), in units of T
    cos = rng.uniform(-1.0, 1.0, n)
    y = 0.5 * (np.hypot(p_v, x) + p_v * cos)
    return _mc_result(y, t0)
