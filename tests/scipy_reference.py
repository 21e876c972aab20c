"""Independent NumPy/SciPy reference for the UνMSM relic abundance (docs/equations.md A.2–A.8, G, E.4).

Written from the physics specification only (not from ``uvmsm_jax.relic`` / ``rates`` / ``xsec`` /
``boltzmann``) to cross-check the JAX solver (issue 4 acceptance) and to serve as the SciPy
baseline of ``benchmarks/relic_throughput.py``. Everything here is plain Python/NumPy/SciPy:

* cross sections σ_a (A19)+(A20) written as η_a g² Γ_SM(√s) √(s−4M_N²)/D(s), σ_b (A21)–(A22) summed
  over SM fermions, σ_c (A23)–(A24);
* Gondolo–Gelmini averages ⟨σv⟩ (G12) by adaptive ``scipy.integrate.quad`` in ξ = (√s − √s_min)/T
  with exponentially scaled Bessel functions (``scipy.special.kve``) and all exponentials combined
  analytically (no under/overflow); the tabulated hadronic part of σ_a below 2 GeV (R_X piecewise
  linear with ~4000 nodes and narrow ω/φ peaks, which adaptive quad resolves only slowly and to
  ~1e-6) is integrated instead with a vectorised composite Gauss–Legendre rule on the R_X nodes,
  exact to rounding for the piecewise-linear table. ln⟨σv⟩ (with the threshold Boltzmann factor
  taken out) is tabulated on a ln T grid and interpolated with a cubic spline
  (``nodes_per_decade``); the paper-mode pole term (A27) is evaluated analytically at every T;
* s-channel resonance per G.6: off-pole part with Γ → 0 and the window |s − M²| < δs excised when
  M_Z′ > 2M_N (δs = min(0.05 M², (M² − 4M_N²)/2)); full Breit–Wigner with Γ_tot when M_Z′ ≤ 2M_N;
  in ``paper`` mode the analytic narrow-width pole term (A27) is added (bookkeeping R, no decays),
  in ``physical`` mode the Z′ (inverse) decays of (A36)–(A37) are evolved instead (bookkeeping D).
  Where the split's error bound (2/π) M Γ_tot/δs exceeds 1e-4 (close above the threshold, or wide
  Z′), the full Breit–Wigner also above the threshold, with break points a factor 4 apart in
  |s − M²|/(MΓ), and its on-shell part (A27) taken out (the decays or the analytic pole term
  carry it): the spline holds ln(off + λ·pole) with off = BW − pole, λ ≥ 0 the least that keeps
  it positive (the pole's Boltzmann factor e^{−(M − 2M_N)/T} then stays out of the spline);
* the coupled system (A36)–(A37) in τ = ln x, x = M_N/T, solved with ``solve_ivp(method="Radau")``
  and an analytic Jacobian.

Data-layer inputs taken from the package (validated by their own tests) and evaluated to NumPy once
(cached): g*ρ(T), g*s(T), δ(T) from :func:`uvmsm_jax.thermo.degrees_of_freedom`, and the hadronic
R ratio R_X(√s) below the 2 GeV switch from :func:`uvmsm_jax.hadrons.hadronic_width_unit` (R_B−L in
``physical``, R_EM in ``paper`` mode), tabulated on a uniform √s grid with 1e-5 GeV spacing (the
package function is piecewise linear in √s there). Lepton, neutrino and perturbative-quark widths
above 2 GeV are coded here from (A8), (A9), (A11).

Conventions reproduced (those of ``uvmsm_jax.relic``):
  T_R = 100·max(M_N, M_Z′) (or ``t_reheat``); T_end = min(M_N, M_Z′)/1e5, lowered in physical mode
  until Γ_Z′/H ≥ 100 with H at g* = 106.75; Y_eq MB (G4) with g_N = 2, g_Z′ = 3; ⟨M/E⟩ = K1/K2;
  ``physical``: M_P = 2.435e18, separate g*ρ, g*s, δ from the table (δ = 0 and g*ρ = g*s for a
  number), η_a = η_c = 1, R_B−L; ``paper``: M_P = 2.4e18, g*s = g*ρ, δ = 0, η_a = 1/2, η_c = 1/8,
  R_EM. Quark channels of (b) carry the gate 1/(1 + exp(−(T − 0.15)/0.0075)).
  Ωh² = 2.7420e8·M_N·Y_N(T_end).

Public entry points: :func:`relic_scipy` (one point → dict with ``omega_h2``, ``yield_dm``, …) and
:func:`warm_up` (build the cached tables before timing). Unit-test helpers: :func:`i_b`, :func:`i_c`,
:func:`sigma_a_fermion`, :func:`gamma_sm_unit`, :func:`gamma_nn`.

Accuracy (defaults rtol = 1e-8, quad_rtol = 1e-9, 12 nodes/decade): Ωh² changes by ≲ 1e-6 when
the grid is doubled and all tolerances are tightened by 100. Runtime ≈ 1–4 s per point on one
busy CPU core (≈ 100 nodes × 4 quad averages, then ~3k–30k RHS evaluations of Radau).
"""

from __future__ import annotations

import functools
import math
import time

import numpy as np
from scipy import integrate, interpolate, special

# --- constants (docs/equations.md G.1) ---------------------------------------------------------------
M_P_PHYSICAL = 2.435e18
M_P_PAPER = 2.4e18
OMEGA_PER_MY = 2.7420e8
G_N = 2.0
G_ZP = 3.0
LEPTONS = (0.51099895e-3, 0.1056584, 1.77686)  # e, μ, τ (Q′ = −1, N_c = 1)
QUARKS = (0.0, 0.0, 0.095, 1.5, 4.8, 172.7)  # u, d, s, c, b, t (Q′ = 1/3, N_c = 3)
SQRT_S_SWITCH = 2.0  # hadrons: R_X below, perturbative quarks above (A11, D.2)
T_QCD, T_QCD_WIDTH = 0.15, 0.0075  # smooth gate of the quark channels of process (b)
EXCISION = 0.05  # Δ_exc of (G19)
NARROW_WIDTH_TOLERANCE = 1e-4  # largest bound (2/π) M Γ_tot/δs on the split's error where it is used (G.6)
G_STAR_DECAY = 106.75  # g* in the "Γ_Z′/H ≥ 100" end condition
X_END = 1e5
XI_MAX = 110.0  # upper limit of the ξ integral (integrand ∝ e^{−ξ}·poly(ξ))
# Thresholds in √s used as quad break points (GeV), per process.
_LEPTON_THRESHOLDS = tuple(2 * m for m in LEPTONS)
_QUARK_THRESHOLDS = tuple(2 * m for m in QUARKS if m > 0)


# =============================================================================================
# Data layer (package functions evaluated once to NumPy)
# =============================================================================================


HADRON_TABLE_START, HADRON_TABLE_STEP = 0.1, 1e-5


@functools.cache
def _hadron_table(mode: str):
    """R_X(√s) on a uniform √s grid [0.1, 2.0] GeV (step 1e-5): (start, step, list) for scalar lookup."""
    grid, r_ratio = _hadron_arrays(mode)
    return HADRON_TABLE_START, HADRON_TABLE_STEP, r_ratio.tolist()


@functools.cache
def _hadron_arrays(mode: str):
    """(√s grid, R_X) from ``uvmsm_jax.hadrons.hadronic_width_unit`` (B−L current, 2 GeV switch)."""
    import jax.numpy as jnp

    from uvmsm_jax import Settings, hadrons

    n = int(round((SQRT_S_SWITCH - HADRON_TABLE_START) / HADRON_TABLE_STEP)) + 1
    grid = HADRON_TABLE_START + HADRON_TABLE_STEP * np.arange(n)
    grid[-1] = np.nextafter(SQRT_S_SWITCH, 0.0)  # last node just below the switch
    gamma = np.asarray(hadrons.hadronic_width_unit(jnp.asarray(grid), "b-l", Settings(mode=mode)))
    return grid, gamma / (grid / (12.0 * math.pi))


@functools.cache
def _hadron_breaks():
    """√s nodes where the package's piecewise-linear R_EM / R_B−L (below 2 GeV) may have kinks."""
    from uvmsm_jax import hadrons

    pdg = hadrons.pdg_r_ratio_points()[0]
    vmd = hadrons.vmd_components()["sqrt_s"]
    nodes = np.concatenate([pdg[pdg < SQRT_S_SWITCH], vmd, [2 * 0.1395704, 0.3, SQRT_S_SWITCH]])
    return np.unique(nodes[(nodes >= HADRON_TABLE_START) & (nodes <= SQRT_S_SWITCH)])


_GL_X, _GL_W = np.polynomial.legendre.leggauss(6)


DOF_LN_T_MIN, DOF_LN_T_MAX, DOF_STEP = math.log(1e-16), math.log(1e12), 5e-4


@functools.cache
def _dof_table(gstar, mode: str):
    """g*ρ, g*s, δ sampled from the package g* model on a uniform ln T grid (step 5e-4).

    Returns the constant for a number (g*ρ = g*s = g*, δ = 0); otherwise three Python lists for
    fast scalar linear interpolation (the package spline is C², so the interpolation error is
    ≲ 1e-7 relative). ``paper`` mode: g*s = g*ρ and δ = 0.
    """
    if not isinstance(gstar, str):
        return float(gstar)
    from uvmsm_jax import thermo

    dof = thermo.degrees_of_freedom(gstar)
    n = int((DOF_LN_T_MAX - DOF_LN_T_MIN) / DOF_STEP) + 1
    t = np.exp(DOF_LN_T_MIN + DOF_STEP * np.arange(n))
    g_rho = np.asarray(dof.g_rho(t))
    if mode == "paper":
        return g_rho.tolist(), g_rho.tolist(), [0.0] * n
    return g_rho.tolist(), np.asarray(dof.g_s(t)).tolist(), np.asarray(dof.delta(t)).tolist()


def _dof(table, ln_t: float):
    """(g*ρ, g*s, δ) at ln T (clamped to the grid)."""
    if isinstance(table, float):
        return table, table, 0.0
    g_rho, g_s, delta = table
    pos = min(max((ln_t - DOF_LN_T_MIN) / DOF_STEP, 0.0), len(g_rho) - 1.000001)
    i = int(pos)
    w = pos - i
    return (
        g_rho[i] + w * (g_rho[i + 1] - g_rho[i]),
        g_s[i] + w * (g_s[i + 1] - g_s[i]),
        delta[i] + w * (delta[i + 1] - delta[i]),
    )


# =============================================================================================
# Widths and cross sections (docs/equations.md A.2, A.4)
# =============================================================================================


def _pair_phase_space(s: float, m: float) -> float:
    """(1 + 2m²/s)·sqrt(1 − 4m²/s), zero below threshold."""
    r = 4.0 * m * m / s
    return (1.0 + 0.5 * r) * math.sqrt(1.0 - r) if r < 1.0 else 0.0


def gamma_sm_unit(sqrt_s: float, mode: str = "physical", tabulated_hadrons: bool = True) -> float:
    """Γ(V → SM)/g² [GeV] of a B−L vector of mass √s (A8, A9, A11, A12 without N₁N₁).

    ``tabulated_hadrons=False`` leaves out the R_X part below the 2 GeV switch (the perturbative
    quarks above it are always included).
    """
    u = float(sqrt_s)
    s = u * u
    unit = u / (12.0 * math.pi)
    width = unit * sum(_pair_phase_space(s, m) for m in LEPTONS) + 3.0 * u / (24.0 * math.pi)
    if u < SQRT_S_SWITCH:
        if not tabulated_hadrons:
            return width
        u0, step, table = _hadron_table(mode)
        if u >= u0:
            pos = (u - u0) / step
            i = min(int(pos), len(table) - 2)
            w = pos - i
            width += unit * ((1.0 - w) * table[i] + w * table[i + 1])
    else:
        width += unit * sum(3.0 / 9.0 * _pair_phase_space(s, m) for m in QUARKS)
    return width


def gamma_nn(m_n: float, m_zp: float, g: float) -> float:
    """Γ(Z′ → N₁N₁) [GeV] (A10)."""
    b2 = 1.0 - 4.0 * m_n * m_n / (m_zp * m_zp)
    return g * g * m_zp / (24.0 * math.pi) * b2**1.5 if b2 > 0 else 0.0


def sigma_a_fermion(s, m_n, m_f, m_zp, width, g=1.0, charge=1.0, n_c=1.0, eta=1.0):
    """σ(N₁N₁ → f f̄)(s) of one Dirac fermion with a Breit–Wigner of width ``width`` (A19)."""
    bw = (s - m_zp**2) ** 2 + m_zp**2 * width**2
    return (
        eta
        * g**4
        * charge**2
        * n_c
        * (s + 2 * m_f**2)
        * math.sqrt((s - 4 * m_n**2) * (s - 4 * m_f**2))
        / (12.0 * math.pi * s * bw)
    )


def _log_term(s: float, m: float, big: float):
    """(R, L, Q) of (A17): R = sqrt((s−4M²)(s−4m²)), L = ln((s−2M²+R)/(s−2M²−R)), Q = M⁴−4M²m²+m²s.

    Uses (s−2M²)² − R² = 4Q so that L = 2 ln(s−2M²+R) − ln(4Q) has no cancellation.
    """
    m2, big2 = m * m, big * big
    r = math.sqrt(max((s - 4 * big2) * (s - 4 * m2), 0.0))
    q = big2 * big2 - 4 * big2 * m2 + m2 * s
    return r, 2.0 * math.log(s - 2 * big2 + r) - math.log(4.0 * q), q


def i_b(s: float, m_f: float, m_zp: float) -> float:
    """I_b(s; M_f, M) of (A21) (Z′Z′ ↔ f f̄, per N_c g⁴ Q′⁴)."""
    r, log_term, q = _log_term(s, m_f, m_zp)
    mf2, m2 = m_f * m_f, m_zp * m_zp
    return (
        16 * (s * s + 4 * mf2 * s + 4 * m2 * m2 - 8 * m2 * mf2 - 8 * mf2 * mf2) / (s - 2 * m2) * log_term
        - 16 * r * (2 * m2 * m2 + 4 * mf2 * mf2 + mf2 * s) / q
    )


def i_c(s: float, m_n: float, m_zp: float) -> float:
    """I_c(s; M_N, M) of (A23) (N₁N₁ ↔ Z′Z′, per g⁴, `physical` normalisation)."""
    r, log_term, q = _log_term(s, m_n, m_zp)
    n2, m2 = m_n * m_n, m_zp * m_zp
    return (
        16 * (s * s + 12 * n2 * s + 4 * m2 * m2 - 40 * m2 * n2 + 24 * n2 * n2) / (s - 2 * m2) * log_term
        - 16 * r * (2 * m2 * m2 - 16 * m2 * n2 + 36 * n2 * n2 + n2 * s) / q
    )


# =============================================================================================
# One parameter point
# =============================================================================================


class _Point:
    """Everything about one (M_N, M_Z′, g, mode) that does not depend on T."""

    def __init__(self, m_n, m_zp, g, mode):
        if mode not in ("physical", "paper"):
            raise ValueError(f"mode must be 'physical' or 'paper', got {mode!r}")
        self.m_n, self.m_zp, self.g, self.mode = float(m_n), float(m_zp), float(g), mode
        self.eta_a = 1.0 if mode == "physical" else 0.5
        self.eta_c = 1.0 if mode == "physical" else 0.125
        self.m_planck = M_P_PHYSICAL if mode == "physical" else M_P_PAPER
        self.decays = mode == "physical"  # θ_D: bookkeeping (D) physical, (R) paper
        self.gamma_sm = g * g * gamma_sm_unit(m_zp, mode)
        self.gamma_nn = gamma_nn(m_n, m_zp, g)
        self.gamma_tot = self.gamma_sm + self.gamma_nn
        m2 = self.m_zp**2
        self.resonant = self.m_zp > 2.0 * self.m_n
        # G.6: the split holds while its error bound (2/π) M Γ_tot/δs ≤ NARROW_WIDTH_TOLERANCE; above
        # the threshold where it fails, the full Breit–Wigner with its on-shell part (A27) subtracted
        self.ds = min(EXCISION * m2, 0.5 * (m2 - 4.0 * self.m_n**2)) if self.resonant else 0.0
        self.breit_wigner = (
            self.resonant and 2.0 / math.pi * self.m_zp * self.gamma_tot > NARROW_WIDTH_TOLERANCE * self.ds
        )
        if self.resonant and not self.breit_wigner:
            self.window = (m2 - self.ds, m2 + self.ds)
            self.window_u = (math.sqrt(self.window[0]), math.sqrt(self.window[1]))
        else:
            self.window = self.window_u = None
        # √s break points about the pole: the window edges, or a factor 4 apart in |s − M²|/(MΓ)
        pole_offsets = [0.0] + [sign * 4.0**k * self.m_zp * self.gamma_tot for k in range(-1, 6) for sign in (-1, 1)]
        pole_u = [math.sqrt(m2 + d) for d in pole_offsets if m2 + d > 4.0 * self.m_n**2]
        self.resonance_edges_u = list(self.window_u or ()) + (pole_u if self.breit_wigner else [])
        # √s break points of the quad integrals: σ_a (without the tabulated hadrons) has lepton
        # thresholds, the quark thresholds above the 2 GeV switch, the switch itself, the Z′ mass
        # and the excision edges; σ_b has the final-state fermion thresholds; σ_c none.
        self.features_a = (
            list(_LEPTON_THRESHOLDS)
            + [q for q in _QUARK_THRESHOLDS if q > SQRT_S_SWITCH]
            + [SQRT_S_SWITCH, self.m_zp]
            + self.resonance_edges_u
        )

    # --- cross sections --------------------------------------------------------------------
    def _propagator(self, s: float, detuning: float | None = None) -> float:
        """1/D(s): off-pole 1/(s − M²)² with the window excised (M_Z′ > 2M_N), else Breit–Wigner.
        ``detuning``: s − M² where known more precisely than from s (next to a very narrow pole)."""
        m2 = self.m_zp * self.m_zp
        d = s - m2 if detuning is None else detuning
        if self.window is not None:
            if self.window[0] < s < self.window[1]:
                return 0.0
            return 1.0 / d**2
        return 1.0 / (d**2 + m2 * self.gamma_tot**2)

    def sigma_a(self, s: float, tabulated_hadrons: bool = True, detuning: float | None = None) -> float:
        """σ(N₁N₁ → SM)(s) = η_a g² Γ_SM(√s) √(s − 4M_N²)/D(s) ((A19) summed + (A20))."""
        prop = self._propagator(s, detuning)
        if prop == 0.0:
            return 0.0
        g2 = self.g * self.g
        width = gamma_sm_unit(math.sqrt(s), self.mode, tabulated_hadrons)
        return self.eta_a * g2 * g2 * width * math.sqrt(max(s - 4 * self.m_n**2, 0.0)) * prop

    def sigma_a_nonhadronic(self, s: float, detuning: float | None = None) -> float:
        """σ_a without the tabulated R_X part (leptons, ν, perturbative quarks above 2 GeV)."""
        return self.sigma_a(s, tabulated_hadrons=False, detuning=detuning)

    def sigma_b_leptons(self, s: float) -> float:
        """Σ_ℓ σ(Z′Z′ → ℓℓ̄) + 3 × ½ σ(Z′Z′ → νν̄) (A22), Q′⁴ = 1, N_c = 1."""
        total = 0.5 * 3.0 * i_b(s, 0.0, self.m_zp)
        for m in LEPTONS:
            if s > 4 * m * m:
                total += i_b(s, m, self.m_zp)
        return self.g**4 * total / (144.0 * math.pi * s * (s - 4 * self.m_zp**2))

    def sigma_b_quarks(self, s: float) -> float:
        """Σ_q σ(Z′Z′ → q q̄) (A22), Q′⁴ = 1/81, N_c = 3 (without the T gate)."""
        total = 0.0
        for m in QUARKS:
            if s > 4 * m * m:
                total += i_b(s, m, self.m_zp)
        return 3.0 / 81.0 * self.g**4 * total / (144.0 * math.pi * s * (s - 4 * self.m_zp**2))

    def sigma_c(self, s: float) -> float:
        """σ(N₁N₁ → Z′Z′)(s) = η_c g⁴ I_c/(128π s(s − 4M_N²)) (A24)."""
        return self.eta_c * self.g**4 * i_c(s, self.m_n, self.m_zp) / (128.0 * math.pi * s * (s - 4 * self.m_n**2))

    # --- thermal averages --------------------------------------------------------------------
    def _quad_part(self, sigma, m: float, u_min: float, t: float, rtol: float, features=()) -> float:
        """∫_{u_min}^∞ du 2u² σ(u²)(u² − 4m²) kve(1, u/T) e^{−(u−u_min)/T} by ``quad`` in ξ.

        √s = u = u_min + Tξ; the ξ range is cut at XI_MAX (integrand ∝ e^{−ξ}·poly(ξ)).
        """

        def integrand(xi):
            u = u_min + t * xi
            s = u * u
            # σ_a with the full Breit–Wigner: s − M² = (u − M)(u + M) with u − M = (u_min − M) + Tξ,
            # which resolves a pole of relative width 1e-15 that s alone does not
            if sigma in (self.sigma_a, self.sigma_a_nonhadronic) and self.breit_wigner:
                offset = (u_min - self.m_zp) + t * xi
                sig = sigma(s, detuning=offset * (offset + 2.0 * self.m_zp))
            else:
                sig = sigma(s)
            if sig == 0.0:
                return 0.0
            return sig * (s - 4 * m * m) * s * special.kve(1, u / t) * math.exp(-xi)

        upper = u_min + t * XI_MAX
        points = sorted({(f - u_min) / t for f in features if u_min < f < upper})
        value, _ = integrate.quad(integrand, 0.0, XI_MAX, points=points or None, epsabs=0.0, epsrel=rtol, limit=1000)
        return 2.0 * t * value  # ds √s = 2u² du, du = T dξ

    def _hadron_part(self, m: float, u_min: float, t: float) -> float:
        """Same integral as :meth:`_quad_part` for the tabulated hadronic part of σ_a (√s < 2 GeV).

        R_X is piecewise linear in √s with thousands of nodes, which adaptive quadrature resolves
        only slowly, so this piece uses a vectorised composite 6-point Gauss–Legendre rule on the
        R_X nodes (and the excision edges), each interval subdivided to ≤ T/2 and ≤ |√s − M|/2,
        in v = sqrt(√s − u_min) (removes the √(s − 4M_N²) threshold singularity).
        """
        lo = max(u_min, HADRON_TABLE_START)
        hi = min(SQRT_S_SWITCH, u_min + t * XI_MAX)
        if hi <= lo:
            return 0.0
        nodes = _hadron_breaks()
        edges = [lo, hi] + [e for e in self.resonance_edges_u if lo < e < hi]
        edges = np.unique(np.concatenate([nodes[(nodes > lo) & (nodes < hi)], edges]))
        a, b = edges[:-1], edges[1:]
        mid = 0.5 * (a + b)
        scale = np.minimum(t, np.abs(mid - self.m_zp)) / 2.0
        pieces = np.clip(np.ceil((b - a) / np.maximum(scale, 1e-300)), 1, 256).astype(int)
        width_piece = np.repeat((b - a) / pieces, pieces)
        index_in_interval = np.arange(pieces.sum()) - np.repeat(np.cumsum(pieces) - pieces, pieces)
        starts = np.repeat(a, pieces) + index_in_interval * width_piece
        ends = starts + width_piece
        va, vb = np.sqrt(starts - u_min), np.sqrt(ends - u_min)
        v = 0.5 * (va + vb)[:, None] + 0.5 * (vb - va)[:, None] * _GL_X[None, :]
        w = 0.5 * (vb - va)[:, None] * _GL_W[None, :]
        u = u_min + v * v
        s = u * u
        grid, r_ratio = _hadron_arrays(self.mode)
        width = np.interp(u, grid, r_ratio) * u / (12.0 * math.pi)
        m2 = self.m_zp**2
        if self.window is not None:
            prop = 1.0 / (s - m2) ** 2
            prop[(s > self.window[0]) & (s < self.window[1])] = 0.0
        else:
            offset = (u_min - self.m_zp) + v * v  # u − M, precise next to the pole (see _quad_part)
            prop = 1.0 / ((offset * (offset + 2.0 * self.m_zp)) ** 2 + m2 * self.gamma_tot**2)
        g2 = self.g * self.g
        sigma = self.eta_a * g2 * g2 * width * np.sqrt(np.maximum(s - 4 * self.m_n**2, 0.0)) * prop
        f = 2.0 * s * sigma * (s - 4 * m * m) * special.kve(1, u / t) * np.exp(-(u - u_min) / t)
        return float(np.sum(f * 2.0 * v * w))  # du = 2v dv

    def log_sigma_v_reduced(
        self, sigma, m: float, u_min: float, t: float, rtol: float, features=(), hadrons=False
    ) -> float:
        """ln⟨σv⟩ + (u_min − 2m)/T for an identical pair of mass m, √s ≥ u_min (≥ 2m) (G12).

        ⟨σv⟩ = 1/(8m⁴T K2(m/T)²) ∫ ds σ(s)(s − 4m²)√s K1(√s/T); with K_ν(z) = kve(ν, z)e^{−z} the
        exponentials combine to e^{−(√s − u_min)/T}·e^{−(u_min − 2m)/T}; the last factor is left out
        here (added analytically by the caller, so that it cancels exactly in ratios).
        """
        value = self._quad_part(sigma, m, u_min, t, rtol, features)
        if hadrons:
            value += self._hadron_part(m, u_min, t)
        if value <= 0.0:
            return -math.inf
        return math.log(value) - math.log(8.0 * m**4 * t) - 2.0 * math.log(special.kve(2, m / t))

    def log_rates(self, t: float, rtol: float):
        """Reduced logs (see :meth:`log_sigma_v_reduced`) of ⟨σv⟩_a (off-pole or BW), ⟨σv⟩_b from
        leptons+ν, ⟨σv⟩_b from quarks (no gate), ⟨σv⟩_c (√s ≥ 2max(M_N, M_Z′))."""
        mn, mz = self.m_n, self.m_zp
        return (
            self.log_sigma_v_reduced(self.sigma_a_nonhadronic, mn, 2 * mn, t, rtol, self.features_a, True),
            self.log_sigma_v_reduced(self.sigma_b_leptons, mz, 2 * mz, t, rtol, _LEPTON_THRESHOLDS),
            self.log_sigma_v_reduced(self.sigma_b_quarks, mz, 2 * mz, t, rtol, _QUARK_THRESHOLDS),
            self.log_sigma_v_reduced(self.sigma_c, mn, 2 * max(mn, mz), t, rtol),
        )

    def log_sigma_v_pole(self, t: float) -> float:
        """ln⟨σv⟩_pole = ln[γ_pole/(n_N^eq)²] of (A27) (paper mode, M_Z′ > 2M_N).

        γ_pole/(n_eq)² = π(M² − 4M_N²) K1(M/T) σ̃_a(M²)/(8 Γ_tot M_N⁴ T K2(M_N/T)²),
        σ̃_a(M²) = η_a g² Γ_SM(M) √(M² − 4M_N²).
        """
        mn, mz = self.m_n, self.m_zp
        d = mz * mz - 4 * mn * mn
        sigma_tilde = self.eta_a * self.g**2 * self.gamma_sm * math.sqrt(d)
        return (
            math.log(math.pi * d * sigma_tilde / (8.0 * self.gamma_tot * mn**4 * t))
            + math.log(special.kve(1, mz / t))
            - 2.0 * math.log(special.kve(2, mn / t))
            - (mz - 2 * mn) / t
        )


def _log_yield_eq_reduced(g_dof: float, m: float, t: float, g_s: float) -> float:
    """ln Y_eq + m/T, Y_eq = 45 g x² K2(x)/(4π⁴ g*s), x = m/T (G4, MB)."""
    x = m / t
    return math.log(45.0 * g_dof / (4.0 * math.pi**4 * g_s)) + 2.0 * math.log(x) + math.log(special.kve(2, x))


def warm_up(mode: str = "physical", gstar: str | float = "saikawa2018") -> None:
    """Build the cached data-layer tables (R_X via JAX, g* grid) for ``mode``/``gstar`` once.

    The first :func:`relic_scipy` call of a (mode, gstar) otherwise pays this one-off cost (a few
    seconds); call it before timing.
    """
    _hadron_table(mode)
    _hadron_breaks()
    _dof_table(gstar if isinstance(gstar, str) else float(gstar), mode)


# =============================================================================================
# Relic abundance
# =============================================================================================


def relic_scipy(
    m_n1: float,
    m_zp: float,
    g_bl: float,
    mode: str = "physical",
    gstar: str | float = "saikawa2018",
    rtol: float = 1e-8,
    atol: float = 1e-30,
    quad_rtol: float = 1e-9,
    nodes_per_decade: int = 12,
    initial: str = "zero",
    t_reheat: float | None = None,
    dense_output: bool = False,
    processes: str = "abcd",
) -> dict:
    """Ωh² of the UνMSM from (A36)–(A37) with SciPy (independent of the JAX solver).

    Args:
      m_n1, m_zp, g_bl: M_N₁ [GeV], M_Z′ [GeV], g_B−L.
      mode: "physical" or "paper" (docs/equations.md A.0; see the module docstring).
      gstar: a ``Settings.gstar`` table name (e.g. "saikawa2018") or a constant number.
      rtol, atol: ``solve_ivp`` (Radau) tolerances on (Y_N, Y_Z′).
      quad_rtol: relative tolerance of every ``quad`` thermal average.
      nodes_per_decade: ln T tabulation density of ln⟨σv⟩ (cubic spline in between).
      initial: "zero" (Y_N = Y_Z′ = 0 at T_R, A39) or "equilibrium" (both at Y_eq).
      t_reheat: T_R [GeV]; default 100·max(M_N, M_Z′).
      dense_output: also return the solution object (``"solution"``) and the rate spline.
      processes: the terms kept (diagnostics): "a", "b", "c" (2 → 2 processes), "d" (Z′ decays,
        physical mode only); default all.

    Returns a dict: omega_h2, yield_dm (Y_N at T_end), yield_zp (Y_Z′ at T_end), t_reheat, t_end,
    status (solve_ivp status; 0 = success), message, n_rhs (RHS evaluations), n_nodes (rate
    nodes), time_rates_s, time_ode_s, time_total_s.
    """
    start = time.perf_counter()
    pt = _Point(m_n1, m_zp, g_bl, mode)
    dof_table = _dof_table(gstar if isinstance(gstar, str) else float(gstar), mode)
    mn, mz = pt.m_n, pt.m_zp

    t_r = 100.0 * max(mn, mz) if t_reheat is None else float(t_reheat)
    t_end = min(mn, mz) / X_END
    if pt.decays:
        h_coeff = math.sqrt(math.pi**2 * G_STAR_DECAY / 90.0)
        t_end = min(t_end, math.sqrt(pt.gamma_tot * pt.m_planck / (100.0 * h_coeff)))

    # --- tabulate ln⟨σv⟩ on a ln T grid (nodes beyond both ends) -------------------------------
    ln_lo, ln_hi = math.log(t_end) - 0.2, math.log(t_r) + 0.2
    n_nodes = max(8, int(math.ceil((ln_hi - ln_lo) / math.log(10.0) * nodes_per_decade)) + 1)
    ln_nodes = np.linspace(ln_lo, ln_hi, n_nodes)
    table = np.array([pt.log_rates(math.exp(v), quad_rtol) for v in ln_nodes])
    share = 0.0  # λ: with the full Breit–Wigner, the spline holds ln(off + λ·pole), off = BW − pole ≥ −pole
    if pt.breit_wigner:
        log_pole = np.array([pt.log_sigma_v_pole(math.exp(v)) for v in ln_nodes])
        share = max(-2.0 * float(np.min(np.expm1(table[:, 0] - log_pole))), 0.0)
        table[:, 0] = table[:, 0] + np.log1p((share - 1.0) * np.exp(log_pole - table[:, 0]))
    if not np.all(np.isfinite(table)):
        raise FloatingPointError("non-finite ln<σv> on the tabulation grid")
    spline = interpolate.CubicSpline(ln_nodes, table, axis=0)
    spline_coeffs = spline.c.transpose(1, 0, 2).tolist()  # [interval][power][column]
    spline_step = float(ln_nodes[1] - ln_nodes[0])
    node_list = ln_nodes.tolist()

    def rates_at(ln_t):
        """The cubic spline of ln⟨σv⟩ evaluated by hand (scalar, ~50× faster than __call__)."""
        i = min(max(int((ln_t - ln_lo) / spline_step), 0), n_nodes - 2)
        dx = ln_t - node_list[i]
        c3, c2, c1, c0 = spline_coeffs[i]
        return [((c3[k] * dx + c2[k]) * dx + c1[k]) * dx + c0[k] for k in range(4)]

    t_rates = time.perf_counter() - start

    gap_c = 2.0 * max(mn, mz) - 2.0 * mn  # √s_min − 2M_N of process (c)
    # (R): the pole term (A27) in ⟨σv⟩_a; the full Breit–Wigner's spline also carries λ·pole
    pole = mode == "paper" and pt.resonant and "a" in processes
    carried = share if "a" in processes else 0.0
    ln_mn = math.log(mn)
    n_rhs = [0]

    memo = [None, None]

    def coefficients(tau):
        if tau == memo[0]:
            return memo[1]
        memo[0], memo[1] = tau, _coefficients(tau)
        return memo[1]

    def _coefficients(tau):
        ln_t = ln_mn - tau
        t = math.exp(ln_t)
        g_rho, g_s, delta = _dof(dof_table, ln_t)
        s_ent = 2.0 * math.pi**2 / 45.0 * g_s * t**3
        hubble = math.sqrt(math.pi**2 * g_rho / 90.0) * t * t / pt.m_planck
        f2 = (1.0 + delta) * s_ent / hubble  # multiplies the 2→2 brackets
        fd = (1.0 + delta) / hubble  # multiplies the decay brackets
        # Reduced logs (the Boltzmann factors e^{-m/T} are handled analytically so that they
        # cancel exactly in the detailed-balance ratios, with no overflow or 0/0).
        ly_n = _log_yield_eq_reduced(G_N, mn, t, g_s)  # ln Y_N,eq + M_N/T
        ly_z = _log_yield_eq_reduced(G_ZP, mz, t, g_s)  # ln Y_Z′,eq + M_Z′/T
        la, lbl, lbq, lc = rates_at(ln_t)  # lc = ln⟨σv⟩_c + gap_c/T
        sv_a = math.exp(la) if "a" in processes else 0.0
        if pole or carried:
            sv_a += ((1.0 if pole else 0.0) - carried) * math.exp(pt.log_sigma_v_pole(t))
        gate = 1.0 / (1.0 + math.exp(-(t - T_QCD) / T_QCD_WIDTH))
        sv_b = math.exp(lbl) + gate * math.exp(lbq) if "b" in processes else 0.0
        sv_c = math.exp(lc - gap_c / t) if "c" in processes else 0.0
        y_n_eq, y_z_eq = math.exp(ly_n - mn / t), math.exp(ly_z - mz / t)
        # ⟨σv⟩_c Y_N,eq²/Y_Z′,eq²: exponent −gap_c − 2M_N + 2M_Z′ = −2 max(M_N − M_Z′, 0)
        c_rev = math.exp(lc + 2 * ly_n - 2 * ly_z - 2.0 * max(mn - mz, 0.0) / t) if "c" in processes else 0.0
        me = special.kve(1, mz / t) / special.kve(2, mz / t)  # ⟨M/E⟩ of the Z′
        if pt.decays and pt.gamma_nn > 0.0:
            # Y_Z′,eq/Y_N,eq², exponent −(M_Z′ − 2M_N)/T < 0 (Γ_NN > 0 only for M_Z′ > 2M_N)
            inv_nn = math.exp(ly_z - 2 * ly_n - (mz - 2 * mn) / t)
        else:
            inv_nn = 0.0
        return f2, fd, sv_a, sv_b, sv_c, y_n_eq, y_z_eq, c_rev, me, inv_nn

    theta_d = 1.0 if pt.decays and "d" in processes else 0.0

    def rhs(tau, y):
        n_rhs[0] += 1
        yn, yz = y
        f2, fd, sv_a, sv_b, sv_c, y_n_eq, y_z_eq, c_rev, me, inv_nn = coefficients(tau)
        proc_c = sv_c * yn * yn - c_rev * yz * yz
        nn_decay = pt.gamma_nn * me * (yz - inv_nn * yn * yn)
        dyn = f2 * (-sv_a * (yn * yn - y_n_eq**2) - proc_c) + theta_d * fd * 2.0 * nn_decay
        dyz = f2 * (-sv_b * (yz * yz - y_z_eq**2) + proc_c) - theta_d * fd * (
            pt.gamma_sm * me * (yz - y_z_eq) + nn_decay
        )
        return [dyn, dyz]

    def jac(tau, y):
        yn, yz = y
        f2, fd, sv_a, sv_b, sv_c, _, _, c_rev, me, inv_nn = coefficients(tau)
        dc_dn, dc_dz = 2 * sv_c * yn, -2 * c_rev * yz
        dd_dn, dd_dz = -pt.gamma_nn * me * inv_nn * 2 * yn, pt.gamma_nn * me
        dn_dn = f2 * (-2 * sv_a * yn - dc_dn) + theta_d * fd * 2 * dd_dn
        dn_dz = -f2 * dc_dz + theta_d * fd * 2 * dd_dz
        dz_dn = f2 * dc_dn - theta_d * fd * dd_dn
        dz_dz = f2 * (-2 * sv_b * yz + dc_dz) - theta_d * fd * (pt.gamma_sm * me + dd_dz)
        return [[dn_dn, dn_dz], [dz_dn, dz_dz]]

    tau0, tau1 = math.log(mn / t_r), math.log(mn / t_end)
    if initial == "zero":
        y0 = [0.0, 0.0]
    elif initial == "equilibrium":
        g_s0 = _dof(dof_table, math.log(t_r))[1]
        y0 = [
            math.exp(_log_yield_eq_reduced(G_N, mn, t_r, g_s0) - mn / t_r),
            math.exp(_log_yield_eq_reduced(G_ZP, mz, t_r, g_s0) - mz / t_r),
        ]
    else:
        raise ValueError(f"initial must be 'zero' or 'equilibrium', got {initial!r}")
    t_ode = time.perf_counter()
    sol = integrate.solve_ivp(
        rhs,
        (tau0, tau1),
        y0,
        method="Radau",
        jac=jac,
        rtol=rtol,
        atol=atol,
        dense_output=dense_output,
    )
    now = time.perf_counter()
    y_n, y_z = (float(v) for v in sol.y[:, -1])
    out = {
        "omega_h2": OMEGA_PER_MY * mn * y_n if sol.status == 0 else math.nan,
        "yield_dm": y_n,
        "yield_zp": y_z,
        "t_reheat": t_r,
        "t_end": t_end,
        "status": int(sol.status),
        "message": sol.message,
        "n_rhs": n_rhs[0],
        "n_nodes": n_nodes,
        "time_rates_s": t_rates,
        "time_ode_s": now - t_ode,
        "time_total_s": now - start,
    }
    if dense_output:
        out["solution"] = sol
        out["log_rate_spline"] = spline
    return out


__all__ = ["gamma_nn", "gamma_sm_unit", "i_b", "i_c", "relic_scipy", "sigma_a_fermion", "warm_up"]
