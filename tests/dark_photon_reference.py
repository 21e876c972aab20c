"""Independent NumPy/SciPy reference for the relic abundance of Model 2 in every regime (docs/equations.md Part H).

Dirac dark matter χ (mass m_χ, dark charge e′) and a dark photon A′ (mass m_A′, photon kinetic mixing ε),
written from the specification only: nothing here imports ``uvmsm_jax``; the only input file is the
PDG 2017 R-ratio table (the copy shipped in ``uvmsm_jax/data/rratio/``, read as a plain CSV file).

Conventions (docs/equations.md H.5):

* counting of H.0 and (H0): Y = (n_χ + n_χ̄)/s, a factor ½ on every χχ̄ reaction, g = 4 in Y_eq (G4),
  g = 3 for the A′; Maxwell–Boltzmann statistics throughout;
* constant g* = g*s = 10.75 and δ = 0 in (G5); H of (G3) with the reduced Planck mass M_P = 2.435e18 GeV;
  α = 1/137.036; Ωh² = 2.7420e8 (m_χ/GeV) Y_∞ (G18);
* widths (B3)–(B6) evaluated at the running mass √s (H1); s-channel propagator with the running total
  width, BW(s) = (s − M²)² + s Γ_tot(√s)² (H2); hadrons via R_EM (B4), (H5) (no isospin reweighting);
* R(√s) from the D.2 selection of the PDG 2017 compilation (short code containing EXCLSUM, EDWARDS or
  BLINOV, or BAI together with "01"; stable sort by √s, first row kept at a repeated √s; linear in √s;
  0 below 2m_π±, linear from 0 at 2m_π± to the first point), and above the last data point (10.295 GeV)
  the perturbative continuum N_c Σ_q Q_q² (1 + α_s/π)(1 + 2m_q²/s)β_q with α_s = 0.2 and the G.1
  threshold quark masses;
* Y_χ = Y_A′ = 0 at T_R = 100 max(m_χ, m_A′), except that a species whose own contact rate with the bath
  exceeds H at T_R starts in equilibrium (χ: ½ k_a⁺ n_eq; A′: ⟨M/E⟩ Γ_vis); integration down to
  T = m_χ/10⁶; k_b = 0; A′ depletion by Γ_tot together with the inverse decay χχ̄ → A′ (H12)–(H13).

Rates. Every thermal average is a Gondolo–Gelmini integral (G12) with m = m_χ. The SM annihilation
χχ̄ → SM is written with (H4) summed over final states, σ(s)(s − 4m²)√s = 12π s^{3/2} Γ_χχ̄(√s)Γ_vis(√s)/BW(s),
so the integrand has no 1/β_χ; the exponentials of K1(√s/T)/K2(m/T)² are combined analytically
(``scipy.special.kve``). Integration: ``scipy.integrate.quad`` in v = sqrt((√s − 2m)/T) with the
thresholds as break points, except over the piecewise-linear R data (2m_π± ≤ √s ≤ 10.295 GeV, ~800
kinks), where a vectorised composite 10-point Gauss–Legendre rule on every data interval is used
(agrees with quad at 1e-12 with every node as a break point to ≲1e-9; tested, ``vectorised_data``). Off-pole rate (H11),
k_a = ⟨σv⟩_a,off:

* m_A′ ≤ 2m_χ: no pole in range, the full running-width BW is integrated;
* m_A′ > 2m_χ and Γ_tot/m_A′ ≥ 1e-7: full BW minus the pole term (H9). Inside a window
  |s − M²| ≤ W (W = min(0.05 M², 4MT), below the χχ̄ threshold) the Lorentzian
  L(s) = F(M²)/((s − M²)² + M²Γ²), whose integral over the whole line is exactly the pole term, is
  subtracted under the integral (quad with the arctan substitution s = M² + MΓ tan θ); the rest of L
  is added analytically, −F(M²)/(MΓ)·[arctan(MΓ/W₁) + arctan(MΓ/W₂)];
* m_A′ > 2m_χ and Γ_tot/m_A′ < 1e-7: Hadamard finite part of (H11) with Γ → 0, window W below every
  threshold (and ≤ 0.05M²) and R replaced by its chord inside the window.

χχ̄ → A′A′ (H6) uses I_b of (A21); its average is tabulated with the factor e^{−2(M − m)/T} (M > m)
taken out and recombined in logarithms with Y_eq²/Y_A′,eq². k_a·(T² + m²) (k_a,off may change sign)
or ln k_a (m_A′ ≤ 2m_χ) and ln k̃_c are tabulated on a uniform ln T grid (160 nodes) and interpolated
by cubic splines; the pole term (H9), ⟨M/E⟩ = K1/K2 (G6) and the equilibrium yields are analytic.

Boltzmann system (``scipy.integrate.solve_ivp``, Radau with analytic Jacobians, τ = ln(m_χ/T)):

* route "1": (H12)–(H13), bookkeeping (D) (off-pole k_a plus decays and inverse decays), in
  (ln Y_χ, ln Y_A′) shifted by the exact equilibrium logs, i.e. (ln ρ, ln ρ_A′) with ρ = Y/Y_eq: the
  forward and backward terms then cancel inside expm1 of small arguments (in plain ln Y the round-off
  of ln Y ~ −x, amplified by rates up to 1e16 H, stalls the solver, e.g. M2-AA);
* route "1b": adiabatic elimination (H13′), Y_A′ = Y_A′,eq ρ², evolving ln(N/N_eq) with
  N = Y_χ + 2Y_A′; used when Γ_χχ̄⟨M/E⟩/H > 1e4 at T_R;
* route "2" (check only): one equation with ⟨σv⟩_a,BW + ⟨σv⟩_c = k_a + ⟨σv⟩_pole + k_c and
  Y_A′ = Y_A′,eq (bookkeeping (R)), in ln ρ.

Once ln ρ (ln N/N_eq) exceeds 20 the integration continues in ln Y_χ (ln N), whose size stays O(10–100)
(ln ρ grows like x, which a relative tolerance would not resolve at x = 1e6). A zero initial yield is
started analytically: Y(τ₀ + h) = h·dY/dτ with h = 1e-7.

Diagnostics from the solution: (H14) T_end, (H15) max Γ_P/H, (H16) max Γ_N/H on T_end ≤ T ≤ T_R, the
status (H17) and the label (H18) with the production shares P_a, P_D, P_c. The (H18) DM indicator
"max Y/Y_eq ≥ 0.9 where Y_eq > Y_∞" is, taken literally, ≈ 1 for every freeze-in point (a yield that is
already final when the falling Y_eq reaches it); used instead is the saturation sqrt(backward/forward)
of the DM number-changing reactions of (H12) (= Y/Y_eq when the A′ is in equilibrium), on
T_end ≤ T ≤ T_R with Y_eq > Y_∞ (the literal value is returned as a diagnostic).

Accuracy (defaults n_nodes = 160, quad_rtol = 1e-8, rtol = 1e-10): Ωh² moves by ≤ 7e-7 with 240 nodes,
quad_rtol = 1e-10 and rtol = 1e-11; runtime 5–16 s per point on one core.

Public entry points: :func:`relic_reference` (one point → dict) and :func:`b19_yield` ((B19) with
Γ_dep = Γ_tot). Building blocks used by the tests: :func:`gamma_visible`, :func:`gamma_chi`,
:func:`sigma_chi_to_ff`, :func:`sigma_ff_to_chi`, :func:`sigma_chi_to_hadrons`,
:func:`sigma_chi_to_apap`, :func:`sigma_apap_to_chi`, :func:`i_b`, :func:`r_ratio`.
"""

from __future__ import annotations

import bisect
import csv
import functools
import math
import os
import time
import warnings
from pathlib import Path

import numpy as np
from scipy import integrate, interpolate, special

# --- constants (docs/equations.md G.1, H.5) ---------------------------------------------------------
M_P = 2.435e18
ALPHA = 1.0 / 137.036
E_EM = math.sqrt(4.0 * math.pi * ALPHA)
G_STAR = 10.75
OMEGA_PER_MY = 2.7420e8
G_CHI = 4.0  # χ + χ̄ (H.0)
G_AP = 3.0
M_E, M_MU, M_TAU = 0.51099895e-3, 0.1056584, 1.77686
LEPTONS = (M_E, M_MU, M_TAU)
M_PI_CHARGED = 0.1395704
QUARKS = ((2 / 3, 0.0), (-1 / 3, 0.0), (-1 / 3, 0.095), (2 / 3, 1.5), (-1 / 3, 4.8), (2 / 3, 172.7))  # (Q, m)
ALPHA_S = 0.2  # continuum (1 + α_s/π) of D.2 (the value is not fixed by D.2)
R_CODES = ("EXCLSUM", "EDWARDS", "BLINOV")

T_R_FACTOR = 100.0
X_END = 1e6
FP_WIDTH_RATIO = 1e-7  # Γ_tot/M below which the finite part of (H11) is used
STIFF_ROUTE_1B = 1e4  # Γ_χχ̄⟨M/E⟩/H at T_R above which (H13′) is used
ALPHA_SWITCH = 20.0  # ln(Y/Y_eq) above which the ODE continues in ln Y (ln N for (H13′))
XI_MAX = 80.0  # upper limit of ξ = (√s − √s_min)/T; integrands ∝ e^{−ξ}·poly(ξ)
MAX_BREAK_POINTS = 60  # more R nodes than this inside one integral: rely on quad's adaptivity instead
QUAD_LIMIT = 2000
_LEPTON_4M2 = tuple(4.0 * m * m for m in LEPTONS)
_GL_X, _GL_W = np.polynomial.legendre.leggauss(10)
HUBBLE_COEFF = math.pi * math.sqrt(G_STAR / 90.0) / M_P  # H = HUBBLE_COEFF·T² (G3)
ENTROPY_COEFF = 2.0 * math.pi**2 / 45.0 * G_STAR  # s = ENTROPY_COEFF·T³ (G2)
LOG_YEQ_COEFF = math.log(45.0 / (4.0 * math.pi**4 * G_STAR))  # Y_eq = e^{…}·g·x²K2(x) (G4)

_DATA_CANDIDATES = (
    Path(__file__).resolve().parent.parent / "uvmsm_jax" / "data" / "rratio" / "R_ratio_pdg2017.csv",
    Path(__file__).resolve().parents[2] / "shared" / "data" / "rratio" / "R_ratio_pdg2017.csv",
)


# =============================================================================================
# Hadronic R ratio (docs/equations.md D.2)
# =============================================================================================


@functools.cache
def r_data() -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Selected PDG 2017 points (√s [GeV], R) with (2m_π±, 0) prepended (docs/equations.md D.2)."""
    path = os.environ.get("DARK_PHOTON_REFERENCE_R_FILE")
    path = Path(path) if path else next(p for p in _DATA_CANDIDATES if p.exists())
    rows = []
    with path.open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            code = row["short_code"]
            if any(k in code for k in R_CODES) or ("BAI" in code and "01" in code):
                rows.append((float(row["sqrt_s_GeV"]), float(row["R"])))
    rows.sort(key=lambda r: r[0])  # stable: the first row of a repeated √s comes first
    u, r = [2.0 * M_PI_CHARGED], [0.0]
    for su, rv in rows:
        if su > u[-1]:
            u.append(su)
            r.append(rv)
    return tuple(u), tuple(r)


def r_continuum(sqrt_s: float) -> float:
    """N_c Σ_q Q_q² (1 + α_s/π)(1 + 2m_q²/s)β_q over open flavours (D.2, above the data)."""
    s = sqrt_s * sqrt_s
    return 3.0 * (1.0 + ALPHA_S / math.pi) * sum(q * q * _phase(s, m) for q, m in QUARKS)


def r_ratio(sqrt_s: float) -> float:
    """R_EM(√s): 0 below 2m_π±, linear data interpolation up to the last point, continuum above."""
    u, r = r_data()
    if sqrt_s <= u[0]:
        return 0.0
    if sqrt_s > u[-1]:
        return r_continuum(sqrt_s)
    i = bisect.bisect_right(u, sqrt_s) - 1
    if i >= len(u) - 1:
        return r[-1]
    return r[i] + (r[i + 1] - r[i]) * (sqrt_s - u[i]) / (u[i + 1] - u[i])


# =============================================================================================
# Widths (docs/equations.md (B3)–(B6), (H1)) and cross sections (H2)–(H8)
# =============================================================================================


def _phase(s: float, m: float) -> float:
    """(1 + 2m²/s)·sqrt(1 − 4m²/s), zero below threshold."""
    r = 4.0 * m * m / s
    return (1.0 + 0.5 * r) * math.sqrt(1.0 - r) if r < 1.0 else 0.0


def gamma_leptons(mu: float, epsilon: float) -> float:
    """Σ_ℓ Γ(A′ → ℓ⁺ℓ⁻) at vector mass μ (B3) [GeV]."""
    s = mu * mu
    return epsilon**2 * ALPHA * mu / 3.0 * sum(_phase(s, m) for m in LEPTONS)


def gamma_hadrons(mu: float, epsilon: float, r_value: float | None = None) -> float:
    """Γ(A′ → hadrons) = ε²αμ/3·R(μ²) (B4) [GeV] (``r_value`` overrides R)."""
    return epsilon**2 * ALPHA * mu / 3.0 * (r_ratio(mu) if r_value is None else r_value)


def gamma_visible(mu: float, epsilon: float) -> float:
    """Γ_vis(μ) = Σ_ℓ Γ_ℓℓ + Γ_had (B6) [GeV]."""
    return gamma_leptons(mu, epsilon) + gamma_hadrons(mu, epsilon)


def gamma_chi(mu: float, m_chi: float, e_dark: float) -> float:
    """Γ(A′ → χχ̄) = e′²μ/(12π)(1 + 2m²/μ²)sqrt(1 − 4m²/μ²) (B5) [GeV]."""
    return e_dark**2 * mu / (12.0 * math.pi) * _phase(mu * mu, m_chi)


def breit_wigner(s: float, m_chi: float, m_ap: float, epsilon: float, e_dark: float) -> float:
    """BW(s) = (s − M²)² + s Γ_tot(√s)² (H2) [GeV⁴]."""
    u = math.sqrt(s)
    width = gamma_visible(u, epsilon) + gamma_chi(u, m_chi, e_dark)
    return (s - m_ap * m_ap) ** 2 + s * width * width


def sigma_chi_to_ff(s, m_chi, m_ap, epsilon, e_dark, m_f, charge=-1.0, n_c=1.0) -> float:
    """σ(χχ̄ → f f̄)(s) (H3) [GeV⁻²], g_f = εeQ_f."""
    if s <= 4 * max(m_chi, m_f) ** 2:
        return 0.0
    g_f2 = (epsilon * E_EM * charge) ** 2
    beta_f = math.sqrt(1 - 4 * m_f**2 / s)
    beta_chi = math.sqrt(1 - 4 * m_chi**2 / s)
    bw = breit_wigner(s, m_chi, m_ap, epsilon, e_dark)
    return e_dark**2 * g_f2 * n_c * (s + 2 * m_chi**2) * (s + 2 * m_f**2) * beta_f / (12 * math.pi * s * beta_chi * bw)


def sigma_ff_to_chi(s, m_chi, m_ap, epsilon, e_dark, m_f, charge=-1.0, n_c=1.0) -> float:
    """σ(f f̄ → χχ̄)(s) (H8) [GeV⁻²]."""
    if s <= 4 * max(m_chi, m_f) ** 2:
        return 0.0
    g_f2 = (epsilon * E_EM * charge) ** 2
    beta_f = math.sqrt(1 - 4 * m_f**2 / s)
    beta_chi = math.sqrt(1 - 4 * m_chi**2 / s)
    bw = breit_wigner(s, m_chi, m_ap, epsilon, e_dark)
    return e_dark**2 * g_f2 * (s + 2 * m_chi**2) * (s + 2 * m_f**2) * beta_chi / (12 * math.pi * n_c * s * beta_f * bw)


def sigma_chi_to_hadrons(s, m_chi, m_ap, epsilon, e_dark, r_value: float | None = None) -> float:
    """σ(χχ̄ → hadrons)(s) = αε²e′²(s + 2m²)R/(3β_χ BW) (H5) [GeV⁻²]."""
    if s <= 4 * m_chi**2:
        return 0.0
    r_value = r_ratio(math.sqrt(s)) if r_value is None else r_value
    beta_chi = math.sqrt(1 - 4 * m_chi**2 / s)
    bw = breit_wigner(s, m_chi, m_ap, epsilon, e_dark)
    return ALPHA * epsilon**2 * e_dark**2 * (s + 2 * m_chi**2) * r_value / (3 * beta_chi * bw)


def _log_term(s: float, m: float, big: float):
    """(R, L, Q) of (A17) with L = log1p(R(a + R)/(2Q)), a = s − 2M², (a − R)(a + R) = 4Q."""
    m2, big2 = m * m, big * big
    r = math.sqrt(max((s - 4 * big2) * (s - 4 * m2), 0.0))
    q = big2 * big2 - 4 * big2 * m2 + m2 * s
    return r, math.log1p(r * (s - 2 * big2 + r) / (2 * q)), q


def i_b(s: float, m_f: float, m_v: float) -> float:
    """I_b(s; M_f, M) of (A21), here with M_f → m_χ and M → m_A′ (H6)."""
    r, log_term, q = _log_term(s, m_f, m_v)
    mf2, m2 = m_f * m_f, m_v * m_v
    return (
        16 * (s * s + 4 * mf2 * s + 4 * m2 * m2 - 8 * m2 * mf2 - 8 * mf2 * mf2) / (s - 2 * m2) * log_term
        - 16 * r * (2 * m2 * m2 + 4 * mf2 * mf2 + mf2 * s) / q
    )


def sigma_chi_to_apap(s, m_chi, m_ap, e_dark) -> float:
    """σ(χχ̄ → A′A′) = e′⁴ I_b/(128π s(s − 4m²)) (H6) [GeV⁻²] (identical-particle ½ included)."""
    if s <= 4 * max(m_chi, m_ap) ** 2:
        return 0.0
    return e_dark**4 * i_b(s, m_chi, m_ap) / (128 * math.pi * s * (s - 4 * m_chi**2))


def sigma_apap_to_chi(s, m_chi, m_ap, e_dark) -> float:
    """σ(A′A′ → χχ̄) = e′⁴ I_b/(144π s(s − 4M²)) (H7) [GeV⁻²]."""
    if s <= 4 * max(m_chi, m_ap) ** 2:
        return 0.0
    return e_dark**4 * i_b(s, m_chi, m_ap) / (144 * math.pi * s * (s - 4 * m_ap**2))


# =============================================================================================
# One parameter point: thermal averages (docs/equations.md (G12), (H9), (H11), (H6))
# =============================================================================================


class _Point:
    """Everything about one (m_χ, m_A′, ε, e′) that does not depend on T."""

    def __init__(self, m_chi: float, m_ap: float, epsilon: float, e_dark: float):
        self.m, self.big, self.eps, self.ed = float(m_chi), float(m_ap), float(epsilon), float(e_dark)
        m, big = self.m, self.big
        self.gam_vis = gamma_visible(big, self.eps)
        self.gam_chi = gamma_chi(big, m, self.ed)
        self.gam_tot = self.gam_vis + self.gam_chi
        self.resonant = big > 2.0 * m
        if not self.resonant:
            self.mode = "full"
        elif self.gam_tot / big >= FP_WIDTH_RATIO:
            self.mode = "bw"
        else:
            self.mode = "fp"
        self.coupling = self.ed**2 * self.eps**2 * ALPHA / 3.0  # 12π s^{3/2}Γ_χχ̄Γ_vis = c·s^{5/2}P_χ N_vis
        self.vis_unit = self.eps**2 * ALPHA / 3.0  # Γ_vis(u) = vis_unit·u·N_vis(u)
        self.chi_unit = self.ed**2 / (12.0 * math.pi)  # Γ_χχ̄(u) = chi_unit·u·P_χ(u)
        u_nodes = r_data()[0]
        thresholds = [2 * ml for ml in LEPTONS] + [2 * mq for _, mq in QUARKS if mq > 0]
        self.thresholds = frozenset(thresholds)
        self.vectorised_data = True  # False: plain quad with every R node as a break point (slow check)
        self.quad_rtol = 1e-8
        self.data_range = (u_nodes[0], u_nodes[-1])
        self.data_nodes = sorted(set(u_nodes) | {x for x in thresholds if u_nodes[0] < x < u_nodes[-1]})
        self.data_nodes_array, self.data_r_array = np.array(u_nodes), np.array(r_data()[1])
        self.features = sorted(set(thresholds) | set(u_nodes))
        self.m4, self.big2 = 4.0 * m * m, big * big
        m2 = big * big
        if self.mode == "fp":
            # finite-part window below every threshold; R replaced by its chord inside it (H11)
            dist = [abs(4 * x * x - m2) for x in (*thresholds, M_PI_CHARGED)]
            self.w_fp = min(0.05 * m2, 0.5 * (m2 - 4 * m * m), 0.5 * min(dist))
            lo, hi = math.sqrt(m2 - self.w_fp), math.sqrt(m2 + self.w_fp)
            self.chord = (lo, r_ratio(lo), hi, r_ratio(hi))

    # --- SM annihilation integrand --------------------------------------------------------------
    def _n_vis(self, u: float, s: float, chord: bool = False) -> float:
        """Σ_ℓ(1 + 2m_ℓ²/s)β_ℓ + R(√s): Γ_vis(u) = ε²αu/3 times this (B3), (B4)."""
        total = 0.0
        for m2x4 in _LEPTON_4M2:
            if s > m2x4:
                r = m2x4 / s
                total += (1.0 + 0.5 * r) * math.sqrt(1.0 - r)
        if chord:
            lo, r_lo, hi, r_hi = self.chord
            return total + r_lo + (r_hi - r_lo) * (u - lo) / (hi - lo)
        return total + r_ratio(u)

    def _f_hat_bw(self, u: float, t: float, chord: bool = False) -> tuple[float, float]:
        """(F̂(s), BW(s)): F̂ = 12π s^{3/2} Γ_χχ̄(√s)Γ_vis(√s) kve(1, √s/T) e^{−(√s − 2m)/T} (H4)×(G12), BW of (H2)."""
        s = u * u
        r = self.m4 / s
        if r >= 1.0:
            return 0.0, (s - self.big2) ** 2
        p_chi = (1.0 + 0.5 * r) * math.sqrt(1.0 - r)
        n_vis = self._n_vis(u, s, chord)
        width = u * (self.vis_unit * n_vis + self.chi_unit * p_chi)
        f = self.coupling * s * s * u * p_chi * n_vis * special.kve(1, u / t) * math.exp(-(u - 2 * self.m) / t)
        return f, (s - self.big2) ** 2 + s * width * width

    def _f_hat(self, u: float, t: float, chord: bool = False) -> float:
        """F̂(s) alone (see :meth:`_f_hat_bw`)."""
        return self._f_hat_bw(u, t, chord)[0]

    def _bw(self, u: float, s: float) -> float:
        """BW(s) of (H2) with the running Γ_tot(√s)."""
        width = u * (self.vis_unit * self._n_vis(u, s) + self.chi_unit * _phase(s, self.m))
        return (s - self.big2) ** 2 + s * width * width

    def _points(self, u_lo: float, u_hi: float, to_var) -> list[float]:
        """Break points (thresholds; R nodes too when there are few of them) inside (u_lo, u_hi)."""
        i0, i1 = bisect.bisect_right(self.features, u_lo), bisect.bisect_left(self.features, u_hi)
        inside = self.features[i0:i1]
        if len(inside) > MAX_BREAK_POINTS and self.vectorised_data:
            inside = [f for f in inside if f in self.thresholds]
        return [to_var(f) for f in inside]

    def _outside(self, t: float, u_lo: float, u_hi: float, propagator: str) -> float:
        """∫ ds F̂(s)/P(s) over √s ∈ [u_lo, u_hi] (P = BW or (s − M²)²): ``quad`` in v = sqrt((√s − 2m)/T)
        outside the R-data range, :meth:`_data_part` inside it."""
        if not self.vectorised_data:
            return self._quad_part(t, u_lo, u_hi, propagator)
        d0, d1 = self.data_range
        total = self._quad_part(t, u_lo, min(u_hi, d0), propagator)
        total += self._data_part(t, max(u_lo, d0), min(u_hi, d1), propagator)
        return total + self._quad_part(t, max(u_lo, d1), u_hi, propagator)

    def _quad_part(self, t: float, u_lo: float, u_hi: float, propagator: str) -> float:
        """``quad`` in v of F̂/P with the thresholds in range as break points (smooth pieces only)."""
        if u_hi <= u_lo:
            return 0.0
        m, m2 = self.m, self.big2
        full_bw = propagator == "bw"

        def integrand(v):
            u = 2 * m + t * v * v
            f, bw = self._f_hat_bw(u, t)
            if f == 0.0:
                return 0.0
            prop = bw if full_bw else (u * u - m2) ** 2
            return f / prop * 4.0 * u * t * v  # ds = 2u du, du = 2Tv dv

        v_lo, v_hi = math.sqrt((u_lo - 2 * m) / t), math.sqrt((u_hi - 2 * m) / t)
        points = self._points(u_lo, u_hi, lambda f: math.sqrt((f - 2 * m) / t))
        value, _ = integrate.quad(
            integrand, v_lo, v_hi, points=points or None, epsabs=0.0, epsrel=self.quad_rtol, limit=QUAD_LIMIT
        )
        return value

    def _data_part(self, t: float, u_lo: float, u_hi: float, propagator: str) -> float:
        """Same integral over the piecewise-linear R data (2m_π± ≤ √s ≤ 10.295 GeV), vectorised.

        Adaptive ``quad`` needs ~20 evaluations per data interval (785 kinks), so this piece uses a
        composite 10-point Gauss–Legendre rule on every data interval (and threshold), each cut into
        pieces no longer than T/4 and |√s − M|/4 in √s and mapped as √s = start + L y² (a threshold
        can only open at the start of a piece); the integrand is analytic in y on every piece.
        """
        if u_hi <= u_lo:
            return 0.0
        m, big = self.m, self.big
        nodes = self.data_nodes
        i0, i1 = bisect.bisect_right(nodes, u_lo), bisect.bisect_left(nodes, u_hi)
        edges = np.array([u_lo, *nodes[i0:i1], u_hi])
        a, b = edges[:-1], edges[1:]
        dist = np.maximum(np.maximum(a - big, big - b), 0.0)  # distance of the interval from M
        scale = np.minimum(t, np.where(dist > 0.0, dist, np.inf)) / 4.0
        pieces = np.clip(np.ceil((b - a) / scale), 1, 4096).astype(int)
        length = np.repeat((b - a) / pieces, pieces)
        k = np.arange(pieces.sum()) - np.repeat(np.cumsum(pieces) - pieces, pieces)
        starts = np.repeat(a, pieces) + k * length
        # u = start + L y², y ∈ [0, 1]: removes the sqrt of a threshold at the start of a piece
        y = 0.5 * (1.0 + _GL_X)[None, :]
        u = starts[:, None] + length[:, None] * y * y
        w = length[:, None] * y * _GL_W[None, :]  # du = 2Ly dy, dy = ½ dx_GL
        s = u * u
        r = self.m4 / s
        p_chi = np.where(r < 1.0, (1.0 + 0.5 * r) * np.sqrt(np.maximum(1.0 - r, 0.0)), 0.0)
        n_vis = np.interp(u, self.data_nodes_array, self.data_r_array)
        for m2x4 in _LEPTON_4M2:
            rl = m2x4 / s
            n_vis = n_vis + np.where(rl < 1.0, (1.0 + 0.5 * rl) * np.sqrt(np.maximum(1.0 - rl, 0.0)), 0.0)
        f = self.coupling * s * s * u * p_chi * n_vis * special.kve(1, u / t) * np.exp(-(u - 2 * m) / t)
        if propagator == "bw":
            width = u * (self.vis_unit * n_vis + self.chi_unit * p_chi)
            prop = (s - self.big2) ** 2 + s * width * width
        else:
            prop = (s - self.big2) ** 2
        return float(np.sum(f / prop * 2.0 * u * w))  # ds = 2u du

    def _window_bw(self, t: float, w_lo: float, w_hi: float) -> float:
        """∫ (F̂/BW − L) ds over s ∈ [M² − w_lo, M² + w_hi], s = M² + MΓ tanθ (H11), minus the rest of L."""
        big, m2, gam = self.big, self.big**2, self.gam_tot
        mg = big * gam
        f0 = self._f_hat(big, t)

        def integrand(theta):
            tan = math.tan(theta)
            dt = mg * tan
            s = m2 + dt
            f, bw = self._f_hat_bw(math.sqrt(s), t)
            return (f * (dt * dt + mg * mg) / bw - f0) / mg

        th_lo, th_hi = -math.atan(w_lo / mg), math.atan(w_hi / mg)
        u_lo, u_hi = math.sqrt(m2 - w_lo), math.sqrt(m2 + w_hi)
        points = sorted({0.0, *self._points(u_lo, u_hi, lambda f: math.atan((f * f - m2) / mg))})
        value, _ = integrate.quad(
            integrand, th_lo, th_hi, points=points, epsabs=0.0, epsrel=self.quad_rtol, limit=QUAD_LIMIT
        )
        return value - f0 / mg * (math.atan(mg / w_lo) + math.atan(mg / w_hi))

    def _window_fp(self, t: float) -> float:
        """Hadamard finite part over |s − M²| ≤ W (H11), R → chord inside the window."""
        m2, w = self.big**2, self.w_fp
        f0 = self._f_hat(self.big, t, chord=True)

        def integrand(dt):
            fp = self._f_hat(math.sqrt(m2 + dt), t, chord=True)
            fm = self._f_hat(math.sqrt(m2 - dt), t, chord=True)
            return (fp + fm - 2.0 * f0) / (dt * dt)

        value, _ = integrate.quad(integrand, 0.0, w, epsabs=0.0, epsrel=self.quad_rtol, limit=QUAD_LIMIT)
        return value - 2.0 * f0 / w

    def _norm(self, t: float) -> float:
        """1/(8m⁴T kve(2, m/T)²) of (G12) (the e^{2m/T} is inside F̂)."""
        return 1.0 / (8.0 * self.m**4 * t * special.kve(2, self.m / t) ** 2)

    def k_a(self, t: float) -> float:
        """k_a = ⟨σv⟩_a,off(T) (H11) [GeV⁻²] (the full running-width average when m_A′ ≤ 2m_χ)."""
        m, big, m2 = self.m, self.big, self.big**2
        u_max = 2 * m + t * XI_MAX
        if self.mode == "full":
            return self._norm(t) * self._outside(t, 2 * m, u_max, "bw")
        xi_pole = (big - 2 * m) / t
        propagator = "bw" if self.mode == "bw" else "(s-M2)^2"
        if xi_pole > XI_MAX + 10.0:  # pole region Boltzmann-suppressed beyond the range
            return self._norm(t) * self._outside(t, 2 * m, u_max, propagator)
        if self.mode == "bw":
            w_hi = min(0.05 * m2, 4.0 * big * t)
            w_lo = min(w_hi, 0.5 * (m2 - 4 * m * m))
            window = self._window_bw(t, w_lo, w_hi)
        else:
            w_lo = w_hi = self.w_fp
            window = self._window_fp(t)
        u_a, u_b = math.sqrt(m2 - w_lo), math.sqrt(m2 + w_hi)
        total = (
            self._outside(t, 2 * m, u_a, propagator)
            + window
            + self._outside(t, u_b, max(u_max, u_b + t * XI_MAX), propagator)
        )
        return self._norm(t) * total

    def log_k_pole(self, t: float) -> float:
        """ln⟨σv⟩_pole (H9), summed over the visible channels (−inf if m_A′ ≤ 2m_χ)."""
        if not self.resonant:
            return -math.inf
        m, big = self.m, self.big
        return (
            math.log(1.5 * math.pi**2 * big**2 * self.gam_chi * self.gam_vis / (self.gam_tot * m**4 * t))
            + math.log(special.kve(1, big / t))
            - 2.0 * math.log(special.kve(2, m / t))
            - (big - 2 * m) / t
        )

    def log_k_c_reduced(self, t: float) -> float:
        """ln k̃_c = ln⟨σv⟩_c + 2(max(m, M) − m)/T for χχ̄ → A′A′ (H6), by quad in v."""
        m, big = self.m, self.big
        u_c = 2.0 * max(m, big)
        pref = self.ed**4 / (128.0 * math.pi)

        def integrand(v):
            u = u_c + t * v * v
            s = u * u
            if s <= u_c * u_c:
                return 0.0
            return pref * i_b(s, m, big) * special.kve(1, u / t) * math.exp(-v * v) * 4.0 * t * v

        value, _ = integrate.quad(
            integrand, 0.0, math.sqrt(XI_MAX), epsabs=0.0, epsrel=self.quad_rtol, limit=QUAD_LIMIT
        )
        return math.log(value * self._norm(t))


# =============================================================================================
# Rate tables and the Boltzmann system (docs/equations.md (H12)–(H13), (H13′), H.5)
# =============================================================================================


def _log_yield_eq(g_dof: float, mass: float, t: float) -> float:
    """ln Y_eq(T) = ln[45 g x² K2(x)/(4π⁴ g*s)], x = mass/T (G4, MB); exact for any x (kve)."""
    x = mass / t
    return LOG_YEQ_COEFF + math.log(g_dof) + 2.0 * math.log(x) + math.log(special.kve(2, x)) - x


def _mean_inverse_gamma(mass: float, t: float) -> float:
    """⟨M/E⟩ = K1(M/T)/K2(M/T) (G6)."""
    return special.kve(1, mass / t) / special.kve(2, mass / t)


def _hubble(t: float) -> float:
    """H(T) of (G3) with constant g* = 10.75 and the reduced Planck mass."""
    return HUBBLE_COEFF * t * t


def _exp(x: float) -> float:
    """e^x without overflow (capped at e^700; such values only arise in terms that are multiplied by ~0)."""
    return math.exp(min(x, 700.0))


class _Rates:
    """Cubic-spline tables in ln T of k_a (H11) and ln k̃_c (H6), plus the analytic T-dependent pieces."""

    def __init__(self, pt: _Point, ln_lo: float, ln_hi: float, n_nodes: int):
        self.pt = pt
        nodes = np.linspace(ln_lo, ln_hi, n_nodes)
        temps = np.exp(nodes)
        k_a = np.array([pt.k_a(t) for t in temps])
        lk_c = np.array([pt.log_k_c_reduced(t) for t in temps])
        self.signed = pt.resonant  # k_a,off may change sign: spline k_a·(T² + m²)
        self.scale = pt.m**2
        if self.signed:
            col_a = k_a * (temps**2 + self.scale)
        else:
            if np.any(k_a <= 0.0):
                raise FloatingPointError("non-positive full-BW rate")
            col_a = np.log(k_a)
        table = np.stack([col_a, lk_c], axis=1)
        if not np.all(np.isfinite(table)):
            raise FloatingPointError("non-finite rate table")
        spline = interpolate.CubicSpline(nodes, table, axis=0)
        self.coeffs = spline.c.transpose(1, 0, 2).tolist()
        self.lo, self.step, self.n = float(nodes[0]), float(nodes[1] - nodes[0]), n_nodes
        self.nodes = nodes.tolist()
        self.k_a_nodes, self.lk_c_nodes, self.temps = k_a, lk_c, temps
        self.gap_c = 2.0 * max(pt.big - pt.m, 0.0)  # √s_min − 2m of χχ̄ → A′A′

    def at(self, ln_t: float) -> tuple[float, float]:
        """(k_a, ln k_c) at ln T (k_c with its Boltzmann factor e^{−gap/T})."""
        i = min(max(int((ln_t - self.lo) / self.step), 0), self.n - 2)
        dx = ln_t - self.nodes[i]
        c3, c2, c1, c0 = self.coeffs[i]
        col_a = ((c3[0] * dx + c2[0]) * dx + c1[0]) * dx + c0[0]
        lk_c = ((c3[1] * dx + c2[1]) * dx + c1[1]) * dx + c0[1]
        t = math.exp(ln_t)
        k_a = col_a / (t * t + self.scale) if self.signed else math.exp(col_a)
        return k_a, lk_c - self.gap_c / t


class _State:
    """All T-dependent coefficients at τ = ln(m_χ/T), with a one-entry memo (Radau calls repeat τ).

    Returns (T, H, s/H, ln Y_eq, ln Y_A′,eq, ⟨M/E⟩, k_a, ln k_c, ln⟨σv⟩_pole, d ln Y_eq/dτ, d ln Y_A′,eq/dτ);
    d ln Y_eq/dτ = −x K1(x)/K2(x) for Y_eq ∝ x²K2(x), x ∝ e^τ.
    """

    def __init__(self, pt: _Point, rates: _Rates):
        self.pt, self.rates = pt, rates
        self.ln_m = math.log(pt.m)
        self._tau = None
        self._val = None

    def __call__(self, tau: float):
        if tau != self._tau:
            self._tau, self._val = tau, self._compute(tau)
        return self._val

    def _compute(self, tau: float):
        pt = self.pt
        ln_t = self.ln_m - tau
        t = math.exp(ln_t)
        hubble = _hubble(t)
        f2 = ENTROPY_COEFF * t**3 / hubble  # s/H
        e = _log_yield_eq(G_CHI, pt.m, t)
        f = _log_yield_eq(G_AP, pt.big, t)
        me = _mean_inverse_gamma(pt.big, t)
        k_a, lk_c = self.rates.at(ln_t)
        l_pole = pt.log_k_pole(t)
        de = -pt.m / t * _mean_inverse_gamma(pt.m, t)
        df = -pt.big / t * me
        return t, hubble, f2, e, f, me, k_a, lk_c, l_pole, de, df


def _exp_expm1(p: float, q: float) -> float:
    """e^p (e^q − 1) without cancellation for small q and without overflow of e^q alone."""
    if q > 1.0:
        return _exp(p + q) - _exp(p)
    return _exp(p) * math.expm1(q)


def _rhs_route1(st: _State):
    """(H12)–(H13) in (α, β) = (ln Y_χ/Y_eq, ln Y_A′/Y_A′,eq) and τ = ln x (δ = 0).

    ln Y_χ and ln Y_A′ shifted by the exact ln Y_eq(τ), ln Y_A′,eq(τ): near equilibrium the forward and
    backward terms then cancel inside expm1 of small arguments instead of between two large logarithms
    (otherwise the round-off of ln Y ~ −x, amplified by rates up to 1e16 H, stalls the solver).
    """
    pt = st.pt
    g_chi, g_vis = pt.gam_chi, pt.gam_vis
    l_gchi = math.log(g_chi) if g_chi > 0.0 else -math.inf

    def coefficients(tau):
        _, hubble, f2, e, f, me, k_a, lk_c, _, de, df = st(tau)
        ha = 0.5 * k_a * f2  # ½ k_a s/H
        lc = math.log(0.5 * f2) + lk_c  # ln(½ k_c s/H)
        dec = me / hubble  # ⟨M/E⟩/H
        return ha, lc, dec, e, f, de, df

    def rhs(tau, y):
        al, be = y
        ha, lc, dec, e, f, de, df = coefficients(tau)
        # χχ̄ ↔ SM off-pole: −½k_a (s/H)(Y² − Y_eq²)/Y
        dal = -ha * _exp_expm1(e - al, 2 * al) if ha != 0.0 else 0.0
        # χχ̄ ↔ A′A′: −½k_c (s/H)(Y² − Y_eq² ρ_A′²)/Y and +(…)/Y_A′
        dal += _exp_expm1(lc + e + al, 2 * (be - al))
        dbe = _exp_expm1(lc + 2 * e - f + be, 2 * (al - be))
        if g_chi > 0.0:  # A′ ↔ χχ̄: +2Γ⟨M/E⟩(Y_A′ − Y_A′,eq ρ²)/(H Y), −Γ⟨M/E⟩(Y_A′ − Y_A′,eq ρ²)/(H Y_A′)
            dal += 2.0 * dec * _exp_expm1(l_gchi + f - e + al, be - 2 * al)
            dbe += dec * g_chi * math.expm1(min(2 * al - be, 700.0))
        dbe += dec * g_vis * math.expm1(min(-be, 700.0))  # A′ ↔ SM: −Γ_vis⟨M/E⟩(Y_A′ − Y_A′,eq)/(H Y_A′)
        return [dal - de, dbe - df]

    def jac(tau, y):
        al, be = y
        ha, lc, dec, e, f, _, _ = coefficients(tau)
        c_fwd, c_bwd = _exp(lc + e + al), _exp(lc + e + 2 * be - al)
        a_fwd, a_bwd = _exp(lc + 2 * e - f + 2 * al - be), _exp(lc + 2 * e - f + be)
        daa = -ha * (_exp(e + al) + _exp(e - al)) - c_fwd - c_bwd
        dab = 2.0 * c_bwd
        dba = 2.0 * a_fwd
        dbb = -a_fwd - a_bwd - dec * g_vis * _exp(-be)
        if g_chi > 0.0:
            d_fwd, d_bwd = _exp(l_gchi + f - e + be - al), _exp(l_gchi + f - e + al)
            daa -= 2.0 * dec * (d_fwd + d_bwd)
            dab += 2.0 * dec * d_fwd
            inv = _exp(2 * al - be)
            dba += 2.0 * dec * g_chi * inv
            dbb -= dec * g_chi * inv
        return [[daa, dab], [dba, dbb]]

    return rhs, jac


def _route1b_rho(nu: float, e: float, f: float) -> float:
    """ln ρ = ln(Y_χ/Y_eq) from ν = ln(N/N_eq), N = Y_χ + 2Y_A′ with Y_A′ = Y_A′,eq ρ² (H13′).

    ρ + rρ² = (1 + r)e^ν with r = 2Y_A′,eq/Y_eq, i.e. ρ = 2(1 + r)e^ν/(1 + sqrt(1 + 4r(1 + r)e^ν)).
    """
    lr = math.log(2.0) + f - e
    if lr < -700.0:
        return nu
    r = math.exp(min(lr, 700.0))
    lq = math.log(4.0) + lr + math.log1p(r) + nu  # ln q, q = 4r(1 + r)e^ν
    if lq > 0.0:  # ln(1 + sqrt(1 + q)) = ½ ln q + ln(q^{−½} + sqrt(1 + 1/q)), no overflow
        l_den = 0.5 * lq + math.log(math.exp(-0.5 * lq) + math.sqrt(1.0 + math.exp(-lq)))
    else:
        l_den = math.log(1.0 + math.sqrt(1.0 + math.exp(lq)))
    return math.log(2.0) + math.log1p(r) + nu - l_den


def _rhs_route1b(st: _State):
    """(H13′) for ν = ln(N/N_eq), N = Y_χ + 2Y_A′, N_eq = Y_eq + 2Y_A′,eq, in τ = ln x.

    With ρ = Y_χ/Y_eq: dN/dτ = −(ρ² − 1)[½k_a (s/H) Y_eq² + ½k_c (s/H) Y_χ² + 2⟨M/E⟩Γ_vis Y_A′,eq/H].
    """
    pt = st.pt
    l_vis = math.log(pt.gam_vis) if pt.gam_vis > 0.0 else -math.inf

    def rhs(tau, y):
        (nu,) = y
        _, hubble, f2, e, f, me, k_a, lk_c, _, de, df = st(tau)
        l_neq = np.logaddexp(e, math.log(2.0) + f)
        lrho = _route1b_rho(nu, e, f)
        ly = e + lrho
        l_n = l_neq + nu
        dnu = -_exp_expm1(math.log(0.5 * f2) + lk_c + 2 * ly - l_n, 2.0 * lrho)
        dnu -= _exp_expm1(math.log(2.0 * me / hubble) + l_vis + f - l_n, 2.0 * lrho)
        if k_a != 0.0:
            dnu -= math.copysign(_exp_expm1(math.log(0.5 * abs(k_a) * f2) + 2 * e - l_n, 2.0 * lrho), k_a)
        return [dnu - de * _exp(e - l_neq) - df * 2.0 * _exp(f - l_neq)]

    def jac(tau, y):
        (nu,) = y
        _, hubble, f2, e, f, me, k_a, lk_c, _, _, _ = st(tau)
        l_neq = np.logaddexp(e, math.log(2.0) + f)
        lrho = _route1b_rho(nu, e, f)
        l_n = l_neq + nu
        r_rho = _exp(math.log(2.0) + f - e + lrho)  # rρ
        g = (1.0 + r_rho) / (1.0 + 2.0 * r_rho)  # d ln ρ/dν
        x, x2 = math.expm1(min(2.0 * lrho, 700.0)), 2.0 * g
        l_c = math.log(0.5 * f2) + lk_c + 2 * (e + lrho) - l_n
        l_v = math.log(2.0 * me / hubble) + l_vis + f - l_n
        d = _exp(l_c) * (2.0 * g - 1.0) * x + x2 * _exp(l_c + 2.0 * lrho)
        d += -_exp(l_v) * x + x2 * _exp(l_v + 2.0 * lrho)
        if k_a != 0.0:
            l_a = math.log(0.5 * abs(k_a) * f2) + 2 * e - l_n
            d += math.copysign(-_exp(l_a) * x + x2 * _exp(l_a + 2.0 * lrho), k_a)
        return [[-d]]

    return rhs, jac


def _rhs_route2(st: _State):
    """Single equation, bookkeeping (R): −½(k_a + ⟨σv⟩_pole + k_c)(s/H)(Y² − Y_eq²), Y_A′ = Y_A′,eq; α = ln ρ."""

    def rhs(tau, y):
        (al,) = y
        _, _, f2, e, _, _, k_a, lk_c, l_pole, de, _ = st(tau)
        k = k_a + _exp(l_pole) + _exp(lk_c) if l_pole > -700 else k_a + _exp(lk_c)
        return [-0.5 * k * f2 * _exp_expm1(e - al, 2 * al) - de]

    def jac(tau, y):
        (al,) = y
        _, _, f2, e, _, _, k_a, lk_c, l_pole, _, _ = st(tau)
        k = k_a + _exp(l_pole) + _exp(lk_c) if l_pole > -700 else k_a + _exp(lk_c)
        return [[-0.5 * k * f2 * (_exp(e + al) + _exp(e - al))]]

    return rhs, jac


def _log_n_eq(e: float, f: float) -> float:
    """ln N_eq = ln(Y_eq + 2Y_A′,eq)."""
    return float(np.logaddexp(e, math.log(2.0) + f))


def _solve_two_phase(st: _State, rhs, jac, y0, span, rtol: float, shift):
    """Radau in the near-equilibrium variable (first component ln(Y/Y_eq)-like) until it exceeds
    ``ALPHA_SWITCH``, then in the absolute logarithm z = y + shift(τ) (its size stays O(10–100) while
    ln(Y/Y_eq) grows like x, which a relative tolerance would not resolve).

    ``shift(τ)`` → (s₀, ds₀/dτ) for the first component (the others are unchanged). Returns
    (sol1, sol2 or None, τ_switch, n_rhs).
    """
    n_rhs = [0]

    def rhs1(tau, y):
        n_rhs[0] += 1
        return rhs(tau, y)

    def rhs2(tau, z):
        n_rhs[0] += 1
        s0, ds0 = shift(tau)
        y = [z[0] - s0, *z[1:]]
        out = rhs(tau, y)
        return [out[0] + ds0, *out[1:]]

    def jac2(tau, z):
        s0, _ = shift(tau)
        return jac(tau, [z[0] - s0, *z[1:]])

    def crossing(tau, y):
        return y[0] - ALPHA_SWITCH

    crossing.terminal, crossing.direction = True, 1.0
    kw = {"method": "Radau", "rtol": rtol, "atol": rtol, "dense_output": True}
    sol1 = integrate.solve_ivp(rhs1, span, list(y0), jac=jac, events=crossing, **kw)
    if sol1.status != 1:  # reached the end (0) or failed (−1)
        return sol1, None, span[1], n_rhs[0]
    tau_s = float(sol1.t[-1])
    z0 = [sol1.y[0, -1] + shift(tau_s)[0], *sol1.y[1:, -1]]
    sol2 = integrate.solve_ivp(rhs2, (tau_s, span[1]), z0, jac=jac2, **kw)
    return sol1, sol2, tau_s, n_rhs[0]


def b19_yield(m_chi: float, m_ap: float, epsilon: float, e_dark: float, x_reheat: float = 0.0) -> float:
    """Y_χ,∞ of (B19) with Γ_dep = Γ_tot: 2(Γ_χχ̄/Γ_tot)·C1∫_{x_R}^∞ x³K1(x)dx (∫_0^∞ = 3π/2), x = m_A′/T."""
    g_vis, g_chi = gamma_visible(m_ap, epsilon), gamma_chi(m_ap, m_chi, e_dark)
    c1 = G_AP * g_vis / (2.0 * math.pi**2 * HUBBLE_COEFF * ENTROPY_COEFF * m_ap**2)  # (B15)
    head = integrate.quad(lambda x: x**3 * special.k1(x), 0.0, x_reheat, epsabs=0.0, epsrel=1e-12)[0] if x_reheat else 0
    return 2.0 * g_chi / (g_vis + g_chi) * c1 * (1.5 * math.pi - head)


def _diagnostics(pt: _Point, st: _State, taus: np.ndarray, ly: np.ndarray, lya: np.ndarray) -> dict:
    """(H14)–(H17) maxima, the (H18) indicators and production shares on a dense τ grid."""
    n = len(taus)
    cols = np.array([st(float(tau)) for tau in taus])  # the columns of _State
    t, hubble, f2, e, f, me, k_a, lk_c = (cols[:, i] for i in range(8))
    ly_inf = ly[-1]
    with np.errstate(divide="ignore", over="ignore", under="ignore", invalid="ignore"):
        # (H14): lowest T with |Y/Y_∞ − 1| > 1 %
        off = np.abs(np.expm1(ly - ly_inf)) > 0.01
        i_end = int(np.nonzero(off)[0][-1]) if np.any(off) else 0
        window = np.arange(n) <= i_end
        l_den_p = np.logaddexp(e, f)
        l_dec_vis = np.log(me * pt.gam_vis / hubble) if pt.gam_vis > 0 else np.full(n, -np.inf)
        l_ka = np.where(k_a > 0, np.log(np.maximum(0.5 * k_a * f2, 1e-300)), -np.inf)
        gp = np.exp(f + l_dec_vis - l_den_p) + np.exp(l_ka + 2 * e - l_den_p)  # (H15)/H
        l_den_n = np.logaddexp(ly, lya)
        lc = np.log(0.5 * f2) + lk_c
        l_dec_chi = np.log(me * pt.gam_chi / hubble) if pt.gam_chi > 0 else np.full(n, -np.inf)
        gn = np.exp(l_dec_chi + np.minimum(lya, f + 2 * (ly - e)) - l_den_n) + np.exp(
            lc + np.minimum(2 * ly, 2 * e + 2 * (lya - f)) - l_den_n
        )  # (H16)/H
        # (H18) DM indicator. Literally max Y/Y_eq where Y_eq > Y_∞; but any yield that is already
        # (nearly) final when the falling Y_eq reaches it gives Y/Y_eq → 1 there, so every freeze-in
        # point would count as thermal. Used instead: the saturation sqrt(backward/forward) of the DM
        # number-changing reactions of (H12) (= Y/Y_eq when the A′ is in equilibrium), over
        # T_end ≤ T ≤ T_R (H14) and Y_eq > Y_∞. The literal value is reported as well.
        before = e > ly_inf
        literal = float(np.max(np.exp(ly - e)[before])) if np.any(before) else 0.0
        l_d = math.log(2.0) + l_dec_chi
        l_forward = np.logaddexp.reduce([l_ka + 2 * e, lc + 2 * e + 2 * (lya - f), l_d + lya])
        l_backward = np.logaddexp.reduce([l_ka + 2 * ly, lc + 2 * ly, l_d + f + 2 * (ly - e)])
        saturation = np.exp(0.5 * (l_backward - l_forward))
        before &= window & np.isfinite(l_forward)
        dm_ratio = float(np.max(saturation[before])) if np.any(before) else 0.0
        hot = t >= pt.big / 3.0
        ap_ratio = float(np.max(np.exp(lya - f)[hot])) if np.any(hot) else 0.0
        p_a = 0.5 * k_a * f2 * np.exp(2 * e)
        p_d = 2.0 * np.exp(l_dec_chi + lya)
        p_c = np.exp(lc + 2 * e + 2 * (lya - f))
    shares = {k: float(integrate.trapezoid(np.nan_to_num(v), taus)) for k, v in (("a", p_a), ("D", p_d), ("c", p_c))}
    return {
        "max_gamma_p_over_h": float(np.max(gp[window])),
        "max_gamma_n_over_h": float(np.max(gn[window])),
        "t_end_h14": float(t[i_end]),
        "max_dm_saturation": dm_ratio,
        "max_y_over_yeq_literal": literal,
        "max_yap_over_yapeq": ap_ratio,
        "production": shares,
    }


def _label(diag: dict) -> tuple[str, str]:
    """(label, status) of (H17)–(H18)."""
    if diag["max_gamma_n_over_h"] >= 1.0 and diag["max_gamma_p_over_h"] < 1.0:
        return "needs_dark_temperature", "needs_dark_temperature"
    ratio = diag["max_dm_saturation"]
    if ratio >= 0.9:
        return "freeze_out", "ok"
    if ratio >= 0.1:
        return "partial_thermalisation", "ok"
    shares = diag["production"]
    largest = max(shares, key=shares.get)
    ap_thermal = diag["max_yap_over_yapeq"] >= 0.9
    if largest == "a":
        return "freeze_in_2to2", "ok"
    if largest == "D":
        return ("freeze_in_decay_thermal_Ap" if ap_thermal else "sequential_freeze_in_decay"), "ok"
    return ("freeze_in_AA_thermal_Ap" if ap_thermal else "sequential_freeze_in_AA"), "ok"


def _quiet(fn):
    """Run ``fn`` without quad's IntegrationWarnings and NumPy overflow/underflow warnings (rejected
    Radau trial steps, exponentials that underflow to 0 by design); accuracy is checked by convergence."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with np.errstate(over="ignore", under="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", integrate.IntegrationWarning)
            return fn(*args, **kwargs)

    return wrapper


@_quiet
def relic_reference(
    m_chi: float,
    m_ap: float,
    epsilon: float,
    e_dark: float,
    *,
    n_nodes: int = 160,
    quad_rtol: float = 1e-8,
    rtol: float = 1e-10,
    route: str = "auto",
    compare_route2: bool = False,
    n_dense: int = 3000,
    t_reheat: float | None = None,
) -> dict:
    """Ωh² of Model 2 (χ + χ̄) with the H.5 conventions, and the (H15)–(H18) diagnostics.

    Args:
      m_chi, m_ap, epsilon, e_dark: m_χ [GeV], m_A′ [GeV], ε, e′.
      n_nodes: ln T nodes of the rate tables (T_end e^{−0.05} … T_R e^{0.05}).
      quad_rtol: relative tolerance of every ``quad`` thermal average.
      rtol: Radau relative (and, in the log variables, absolute) tolerance.
      route: "auto" (1b if Γ_χχ̄⟨M/E⟩/H > 1e4 at T_R, else 1), "1" or "1b".
      compare_route2: also solve route 2 (single equation, ⟨σv⟩_BW + ⟨σv⟩_c) → ``omega_h2_route2``.
      n_dense: points of the τ grid on which the diagnostics are evaluated.
      t_reheat: T_R [GeV]; default T_R_FACTOR·max(m_χ, m_A′) (A39).

    Returns a dict: omega_h2, label, status ("ok" / "needs_dark_temperature"; ``omega_h2`` is then the
    T′ = T number, an artefact), max_gamma_p_over_h, max_gamma_n_over_h, route, yield_dm, t_reheat,
    t_end, initial ("equilibrium"/"zero" per species), solver_status (solve_ivp; 0 = success),
    decay_over_h_at_t_reheat, diagnostics (t_end_h14, max_dm_saturation, max_y_over_yeq_literal,
    max_yap_over_yapeq, production shares "a", "D", "c"), widths, n_rhs, timings (rates_s, ode_s,
    total_s) and, with ``compare_route2``, omega_h2_route2.
    """
    start = time.perf_counter()
    pt = _Point(m_chi, m_ap, epsilon, e_dark)
    pt.quad_rtol = quad_rtol
    m, big = pt.m, pt.big
    t_r = T_R_FACTOR * max(m, big) if t_reheat is None else t_reheat
    t_end = m / X_END
    rates = _Rates(pt, math.log(t_end) - 0.05, math.log(t_r) + 0.05, n_nodes)
    t_rates = time.perf_counter() - start
    st = _State(pt, rates)
    tau0, tau1 = math.log(m / t_r), math.log(m / t_end)
    t0, hubble0, f2_0, e0, f0, me0, k_a0, lk_c0, l_pole0, _, _ = st(tau0)
    chi_contact = 0.5 * max(k_a0, 0.0) * f2_0 * math.exp(e0) > 1.0
    ap_contact = me0 * pt.gam_vis / hubble0 > 1.0
    stiff = pt.gam_chi * me0 / hubble0
    if route == "auto":
        route = "1b" if stiff > STIFF_ROUTE_1B else "1"
    h = 1e-7  # zero initial yields: start at τ₀ + h with Y = h·dY/dτ

    def kicked(production: float, log_eq: float) -> float:
        """ln(Y/Y_eq) after the first step h from Y = 0 (floored at e^{−690} for a vanishing source)."""
        return max(math.log(max(h * production, 1e-300)), -690.0 + log_eq) - log_eq

    t_ode = time.perf_counter()
    taus = np.linspace(tau0 + h, tau1, n_dense)
    lc0 = math.log(0.5 * f2_0) + lk_c0
    dec0 = me0 / hubble0

    def shift_chi(tau):
        vals = st(tau)
        return vals[3], vals[9]  # ln Y_eq, d ln Y_eq/dτ

    def shift_n(tau):
        vals = st(tau)
        e, f, de, df = vals[3], vals[4], vals[9], vals[10]
        l_neq = _log_n_eq(e, f)
        return l_neq, de * math.exp(e - l_neq) + df * 2.0 * math.exp(f - l_neq)

    if route == "1":
        y_eq0, y_apeq0 = math.exp(e0), math.exp(f0)
        rho_c = 1.0 if chi_contact else 0.0
        rho_ap = 1.0 if ap_contact else 0.0
        prod_chi = (0.5 * k_a0 * f2_0 + math.exp(lc0) * rho_ap**2) * y_eq0**2 + 2 * pt.gam_chi * dec0 * rho_ap * y_apeq0
        prod_ap = math.exp(lc0) * (rho_c * y_eq0) ** 2 + dec0 * y_apeq0 * (pt.gam_vis + pt.gam_chi * rho_c**2)
        al0 = 0.0 if chi_contact else kicked(prod_chi, e0)
        be0 = 0.0 if ap_contact else kicked(prod_ap, f0)
        rhs, jac = _rhs_route1(st)
        sol1, sol2, tau_s, n_rhs = _solve_two_phase(st, rhs, jac, [al0, be0], (tau0 + h, tau1), rtol, shift_chi)
        ly, lya = np.empty(n_dense), np.empty(n_dense)
        for i, tau in enumerate(taus):
            e, f = st(float(tau))[3:5]
            if sol2 is None or tau <= tau_s:
                al, be = sol1.sol(tau)
                ly[i], lya[i] = e + al, f + be
            else:
                ly[i], be = sol2.sol(tau)
                lya[i] = f + be
        ly_end = float(sol2.y[0, -1]) if sol2 is not None else st(tau1)[3] + float(sol1.y[0, -1])
    elif route == "1b":
        l_neq0 = _log_n_eq(e0, f0)
        if chi_contact or ap_contact:
            nu0 = 0.0
        else:
            prod = 0.5 * k_a0 * f2_0 * math.exp(2 * e0) + 2 * dec0 * pt.gam_vis * math.exp(f0)
            nu0 = kicked(prod, l_neq0)
        rhs, jac = _rhs_route1b(st)
        sol1, sol2, tau_s, n_rhs = _solve_two_phase(st, rhs, jac, [nu0], (tau0 + h, tau1), rtol, shift_n)
        ly, lya = np.empty(n_dense), np.empty(n_dense)
        for i, tau in enumerate(taus):
            e, f = st(float(tau))[3:5]
            if sol2 is None or tau <= tau_s:
                nu = float(sol1.sol(tau)[0])
            else:
                nu = float(sol2.sol(tau)[0]) - _log_n_eq(e, f)
            lrho = _route1b_rho(nu, e, f)
            ly[i], lya[i] = e + lrho, f + 2.0 * lrho
        ly_end = ly[-1]
    else:
        raise ValueError(f"route must be 'auto', '1' or '1b', got {route!r}")
    sol = sol2 if sol2 is not None else sol1
    ode_s = time.perf_counter() - t_ode
    diag = _diagnostics(pt, st, taus, ly, lya)
    label, status = _label(diag)
    y_inf = math.exp(ly_end)
    out = {
        "omega_h2": OMEGA_PER_MY * m * y_inf,
        "label": label,
        "status": status,
        "max_gamma_p_over_h": diag["max_gamma_p_over_h"],
        "max_gamma_n_over_h": diag["max_gamma_n_over_h"],
        "route": route,
        "yield_dm": y_inf,
        "solver_status": int(sol.status),
        "t_reheat": t_r,
        "t_end": t_end,
        "initial": {"chi": "equilibrium" if chi_contact else "zero", "ap": "equilibrium" if ap_contact else "zero"},
        "decay_over_h_at_t_reheat": stiff,
        "diagnostics": diag,
        "widths": {"vis": pt.gam_vis, "chi": pt.gam_chi, "tot": pt.gam_tot, "propagator": pt.mode},
        "n_rhs": n_rhs,
    }
    if compare_route2:
        k_bw = k_a0 + math.exp(l_pole0) + math.exp(lk_c0)
        chi2 = chi_contact or 0.5 * k_bw * f2_0 * math.exp(e0) > 1.0
        al0 = 0.0 if chi2 else kicked(0.5 * k_bw * f2_0 * math.exp(2 * e0), e0)
        r2a, r2b, _, _ = _solve_two_phase(st, *_rhs_route2(st), [al0], (tau0 + h, tau1), rtol, shift_chi)
        ly2 = float(r2b.y[0, -1]) if r2b is not None else st(tau1)[3] + float(r2a.y[0, -1])
        out["omega_h2_route2"] = OMEGA_PER_MY * m * math.exp(ly2)
    now = time.perf_counter()
    out["timings"] = {"rates_s": t_rates, "ode_s": ode_s, "total_s": now - start}
    return out


__all__ = [
    "b19_yield",
    "gamma_chi",
    "gamma_visible",
    "i_b",
    "r_ratio",
    "relic_reference",
    "sigma_apap_to_chi",
    "sigma_chi_to_apap",
    "sigma_chi_to_ff",
    "sigma_chi_to_hadrons",
    "sigma_ff_to_chi",
]
