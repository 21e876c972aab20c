"""Hadronic R ratios and the unit-coupling Standard-Model width of a vector (docs/equations.md D.2, A.2, B.2).

Everything here is a pure JAX function of √s (or of the vector mass M, which plays the role of
√s in a decay) in GeV: jit-, vmap- and grad-safe, with ``jnp.where`` guards at every kinematic
threshold (docs/equations.md N.4). The data tables are read once (``importlib.resources``) and cached.

R ratios (dimensionless, R ≡ σ(e⁺e⁻→hadrons)/σ⁽⁰⁾_μμ, docs/equations.md (D5)):

* :func:`r_ratio_em` — photon current. PDG 2017 compilation for √s ≤ 10.295 GeV, perturbative
  open-flavour continuum above.
* :func:`r_ratio_b_minus_l` — B−L current. DarkCast vector-meson-dominance (VMD) decomposition for
  √s ≤ 2 GeV (docs/equations.md (D7)), perturbative quarks with B−L charge 1/3 above.
* :func:`r_ratio_vmd` — the VMD sum for arbitrary ρ/ω/φ couplings; :func:`r_ratio_perturbative`.

Widths: :func:`sm_width_unit` gives Γ(V→SM)/g_sm² per channel (e, μ, τ, ν, hadrons), the building
block for every width and for σ(DM DM → SM)(s) ∝ Γ_SM(√s) (docs/equations.md (A8)–(A12), (B3)–(B4)).
"""

from __future__ import annotations

import csv
import functools
import importlib.resources
import math
from typing import Literal

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from . import constants as c
from .settings import Settings

Current = Literal["b-l", "em"]

N_COLOURS = 3.0
QCD_CONTINUUM_FACTOR = 1.0 + c.ALPHA_S_CONTINUUM / math.pi
"""(1 + α_s/π) multiplying the perturbative R continuum (docs/equations.md D5/D.2), α_s = 0.2."""

QUARK_CHARGES_B_MINUS_L = dict.fromkeys(c.QUARK_MASSES, 1.0 / 3.0)
"""B−L charges Q′ of the quarks (docs/equations.md (A2))."""
LEPTON_CHARGE = -1.0
"""Charge of e, μ, τ for both currents: Q′ = −1 (B−L, (A2)) and Q = −1 (EM, (B2))."""

VMD_MAX_SQRT_S = 2.0
"""Upper end of the DarkCast VMD grids [GeV]; R_B−L is perturbative above."""

PDG_SELECTED_CODES = ("EXCLSUM", "EDWARDS", "BLINOV")
"""Short-code substrings kept from the PDG compilation (docs/equations.md D.2; plus "BAI" with "01")."""

_DATA_DIR = ("data", "rratio")
_VMD_FILES = {
    # meson contribution -> final states F whose R_μ^{F,V} grid is shipped
    "rho0": ("pi+_pi-", "pi+_pi-_pi+_pi-", "pi+_pi-_pi0_pi0", "other"),
    "omega": ("pi+_pi-_pi0", "pi0_gamma", "other"),
    "phi": ("pi+_pi-_pi0", "K_K", "K_K_pi", "other"),
    "omega_phi": ("pi+_pi-_pi0",),
}


def _as_float(x: ArrayLike) -> Float[Array, ...]:
    return jnp.asarray(x, dtype=jnp.float64)


def _data_file(*parts: str):
    return importlib.resources.files("uvmsm_jax").joinpath(*_DATA_DIR, *parts)


def _check_current(current: str) -> None:
    if current not in ("b-l", "em"):
        raise ValueError(f"current must be 'b-l' or 'em', got {current!r}")


# --- data tables (NumPy, loaded once) ------------------------------------------------------------


def is_selected_pdg_code(short_code: str) -> bool:
    """FairShip's selection of a single-valued R curve from the PDG compilation (docs/equations.md D.2).

    Keeps "EXCLSUM 17" (sum of exclusive channels, 0.30–1.99 GeV), "BAI 01" (BES, 2.0–4.8 GeV),
    "EDWARDS 90" (Crystal Ball, 5.0–7.4 GeV) and "BLINOV 93" (MD-1, 7.3–10.295 GeV).
    """
    return any(key in short_code for key in PDG_SELECTED_CODES) or ("BAI" in short_code and "01" in short_code)


@functools.cache
def pdg_r_ratio_points() -> tuple[np.ndarray, np.ndarray]:
    """Selected PDG 2017 R points (√s [GeV], R), strictly increasing in √s, read-only NumPy arrays.

    Rows pass :func:`is_selected_pdg_code`; they are stably sorted by √s and, where several rows
    share a √s, the first row of the file is kept (EXCLSUM 1.01716 and 1.02274 GeV and EDWARDS 6.0,
    6.5, 7.0 GeV appear twice with statistically compatible R; at 7.4 GeV BLINOV 3.86 is kept over
    EDWARDS 3.35). A point (2m_π±, 0) is prepended so that linear interpolation rises from zero at
    the two-pion threshold to the first point (0.30 GeV). 785 points, 2m_π±–10.295 GeV.
    """
    with _data_file("R_ratio_pdg2017.csv").open("r", encoding="utf-8") as handle:
        rows = [row for row in csv.DictReader(handle) if is_selected_pdg_code(row["short_code"])]
    sqrt_s = np.array([float(row["sqrt_s_GeV"]) for row in rows])
    r_value = np.array([float(row["R"]) for row in rows])
    order = np.argsort(sqrt_s, kind="stable")
    sqrt_s, r_value = sqrt_s[order], r_value[order]
    first_of_each = np.concatenate(([True], np.diff(sqrt_s) > 0.0))
    sqrt_s = np.concatenate(([2.0 * c.M_PI_CHARGED], sqrt_s[first_of_each]))
    r_value = np.concatenate(([0.0], r_value[first_of_each]))
    sqrt_s.flags.writeable = False
    r_value.flags.writeable = False
    return sqrt_s, r_value


@functools.cache
def vmd_components() -> dict[str, np.ndarray]:
    """DarkCast VMD grids summed over final states, on one common √s grid (read-only NumPy arrays).

    Keys: ``"sqrt_s"`` [GeV] (0.14–2.0 GeV, step 0.5 MeV), ``"rho0"``, ``"omega"``, ``"phi"``
    (Σ_F R_μ^{F,V}, photon-normalised) and ``"omega_phi"`` (the ω–φ interference grid R^{ωφ} of
    π⁺π⁻π⁰). Every file starts at zero and lies on multiples of 0.5 MeV, so re-gridding is exact;
    beyond a file's range its contribution is zero.
    """

    def read(meson: str, final: str) -> np.ndarray:
        with _data_file("darkcast_vmd", f"rf.{final}.{meson}.dat").open("r", encoding="utf-8") as handle:
            return np.loadtxt(handle, comments="#")

    curves = {(meson, final): read(meson, final) for meson, finals in _VMD_FILES.items() for final in finals}
    grid = np.unique(np.round(np.concatenate([curve[:, 0] for curve in curves.values()]), 7))
    out = {"sqrt_s": grid}
    for meson, finals in _VMD_FILES.items():
        out[meson] = sum(
            np.interp(grid, curves[meson, f][:, 0], curves[meson, f][:, 1], left=0.0, right=0.0) for f in finals
        )
    for array in out.values():
        array.flags.writeable = False
    return out


# --- kinematics and perturbative pieces -----------------------------------------------------------


def fermion_pair_phase_space(m_v: ArrayLike, m_f: ArrayLike) -> Float[Array, ...]:
    """(1 + 2m_f²/M²)·sqrt(1 − 4m_f²/M²) for M > 2m_f, else 0 (dimensionless; docs/equations.md (A8), (B3)).

    ``m_v`` = M and ``m_f`` in GeV. NaN-free value and gradient at and below threshold.
    """
    ratio = 4.0 * _as_float(m_f) ** 2 / _as_float(m_v) ** 2
    beta_sq = 1.0 - ratio
    is_open = beta_sq > 0.0
    beta = jnp.sqrt(jnp.where(is_open, beta_sq, 1.0))
    return jnp.where(is_open, (1.0 + 0.5 * ratio) * beta, 0.0)


def quark_charges(current: Current) -> dict[str, float]:
    """Quark charges of the current: electric charges ("em", (B2)) or B−L charges 1/3 ("b-l", (A2))."""
    _check_current(current)
    return c.QUARK_CHARGES_EM if current == "em" else QUARK_CHARGES_B_MINUS_L


def quark_pair_sum(sqrt_s: ArrayLike, current: Current) -> Float[Array, ...]:
    """Σ_q N_c Q_q² (1 + 2m_q²/s) sqrt(1 − 4m_q²/s) over open flavours (dimensionless).

    Tree-level quark-pair sum of (A8) in units of g²√s/(12π): Q_q = electric charge for "em",
    B−L charge 1/3 for "b-l"; masses from ``constants.QUARK_MASSES`` (threshold type, K10).
    """
    sqrt_s = _as_float(sqrt_s)
    return sum(
        (
            N_COLOURS * charge**2 * fermion_pair_phase_space(sqrt_s, c.QUARK_MASSES[q])
            for q, charge in quark_charges(current).items()
        ),
        start=jnp.zeros(()),
    )


def r_ratio_perturbative(sqrt_s: ArrayLike, current: Current = "em") -> Float[Array, ...]:
    """Perturbative continuum R = N_c Σ_q Q_q² (1 + α_s/π) (1 + 2m_q²/s) sqrt(1 − 4m_q²/s).

    docs/equations.md D.2 (continuum above the data) with open flavours, α_s = ``ALPHA_S_CONTINUUM`` = 0.2;
    √s in GeV. For "em" above the b threshold this is 11/3·(1.0637) ≈ 3.9; for "b-l" with u, d, s
    open it is 1.0637 (= ½ of the EM value, docs/equations.md (D7)).
    """
    return QCD_CONTINUUM_FACTOR * quark_pair_sum(sqrt_s, current)


# --- R ratios ------------------------------------------------------------------------------------


def r_ratio_em(sqrt_s: ArrayLike) -> Float[Array, ...]:
    """Hadronic R ratio of the electromagnetic current, R_EM(√s) (docs/equations.md (D5), D.2).

    * √s < 2m_π±: 0; 2m_π± to 0.30 GeV: linear from 0 to the first data point.
    * 2m_π± ≤ √s ≤ 10.295 GeV: linear interpolation in √s of the selected PDG 2017 points
      (:func:`pdg_r_ratio_points`). Narrow J/ψ, ψ(2S), Υ states are not in these data (ignored).
    * √s > 10.295 GeV (end of the data): :func:`r_ratio_perturbative` ("em"), photon exchange only
      (no Z pole). Join: data 3.48 → continuum 3.72 at 10.295 GeV, a +7 % step (BLINOV 93 sits
      ≈5 % below (1+α_s/π) perturbation theory); R is otherwise continuous.

    √s in GeV; differentiable (piecewise linear below 10.295 GeV).
    """
    sqrt_s = _as_float(sqrt_s)
    points_sqrt_s, points_r = pdg_r_ratio_points()
    data = jnp.interp(sqrt_s, jnp.asarray(points_sqrt_s), jnp.asarray(points_r), left=0.0, right=0.0)
    return jnp.where(sqrt_s <= points_sqrt_s[-1], data, r_ratio_perturbative(sqrt_s, "em"))


def vmd_coefficients(x_u: float, x_d: float, x_s: float) -> tuple[float, float, float]:
    """Couplings (c_ρ, c_ω, c_φ) of a vector with light-quark charges x_u, x_d, x_s to ρ, ω, φ.

    Normalised so that the photon (x = 2/3, −1/3, −1/3) has (1, 1, −1) (DarkCast, arXiv:1801.04847,
    Sec. 2): c_ρ = x_u − x_d (isovector), c_ω = 3(x_u + x_d) (isoscalar ūu + d̄d), c_φ = 3x_s (s̄s).
    B−L (1/3, 1/3, 1/3) gives (0, 2, 1): ρ decouples, ω amplitude ×2, φ amplitude ×(−1) relative
    to the photon — i.e. rates ω×4, φ×1 and ω–φ interference ×(−2) (docs/equations.md (D7)).
    """
    return x_u - x_d, 3.0 * (x_u + x_d), 3.0 * x_s


VMD_COEFFICIENTS_EM = vmd_coefficients(*(c.QUARK_CHARGES_EM[q] for q in "uds"))
VMD_COEFFICIENTS_B_MINUS_L = vmd_coefficients(*(QUARK_CHARGES_B_MINUS_L[q] for q in "uds"))


def r_ratio_vmd(sqrt_s: ArrayLike, c_rho: float, c_omega: float, c_phi: float) -> Float[Array, ...]:
    """VMD hadronic R ratio of a vector with meson couplings (c_ρ, c_ω, c_φ), √s ≤ 2 GeV.

    R = Σ_F [c_ρ² R^{F,ρ} + c_ω² R^{F,ω} + c_φ² R^{F,φ}] + 2 c_ω c_φ R^{ωφ}   (DarkCast eq. (2.18);
    docs/equations.md (D7)), with the DarkCast grids (:func:`vmd_components`) normalised to the photon.
    The interference grid enters with 2c_ωc_φ, i.e. with −2 for the photon (c_φ = −1): this
    sign/factor reproduces the PDG data around and above the φ (χ² 27 vs 598 for 0.98–1.01 GeV
    and 2.8e3 vs 1.1e4 for 1.03–1.10 GeV against EXCLSUM, compared with adding the grid with +1).
    √s in GeV; zero outside the grids (below 0.14 GeV and above 2 GeV).
    """
    sqrt_s = _as_float(sqrt_s)
    table = vmd_components()
    grid = jnp.asarray(table["sqrt_s"])

    def component(name: str) -> Float[Array, ...]:
        return jnp.interp(sqrt_s, grid, jnp.asarray(table[name]), left=0.0, right=0.0)

    return (
        c_rho**2 * component("rho0")
        + c_omega**2 * component("omega")
        + c_phi**2 * component("phi")
        + 2.0 * c_omega * c_phi * component("omega_phi")
    )


def r_ratio_b_minus_l(sqrt_s: ArrayLike) -> Float[Array, ...]:
    """Hadronic R ratio of the B−L current, R_B−L(√s) (docs/equations.md (D7), `physical` mode of Model 1).

    Normalised like R_EM: Γ(Z′→hadrons) = g_BL² M/(12π) R_B−L(M).

    * √s ≤ 2 GeV: :func:`r_ratio_vmd` with B−L couplings (0, 2, 1) — no ρ, 4× the ω family, 1× the
      φ family, +4× the interference grid. Includes Z′→π⁰γ (via ω) from 0.14 GeV, i.e. R_B−L is
      tiny (≤ 1.6e-5) but non-zero between m_π⁰ and 2m_π±.
    * √s > 2 GeV: :func:`r_ratio_perturbative` ("b-l"): N_c Σ_q (1/3)² (1+α_s/π), open flavours.
      Join at 2 GeV: VMD 1.000 → 1.063, a +6 % step.
    """
    sqrt_s = _as_float(sqrt_s)
    return jnp.where(
        sqrt_s <= VMD_MAX_SQRT_S,
        r_ratio_vmd(sqrt_s, *VMD_COEFFICIENTS_B_MINUS_L),
        r_ratio_perturbative(sqrt_s, "b-l"),
    )


# --- unit-coupling widths ------------------------------------------------------------------------


class SMChannelWidths(eqx.Module):
    """Widths of the mediator into the SM channels [GeV]: ``e``, ``mu``, ``tau`` (charged-lepton
    pairs), ``nu`` (ν ν̄ summed over the three flavours), ``hadrons`` (arrays broadcast like M)."""

    e: Float[Array, ...]
    mu: Float[Array, ...]
    tau: Float[Array, ...]
    nu: Float[Array, ...]
    hadrons: Float[Array, ...]

    @property
    def sm(self) -> Float[Array, ...]:
        """All SM channels, Γ_SM of docs/equations.md (A12) [GeV]."""
        return self.e + self.mu + self.tau + self.nu + self.hadrons

    @property
    def visible(self) -> Float[Array, ...]:
        """Charged final states e + μ + τ + hadrons, Γ_vis of docs/equations.md (B6) [GeV]."""
        return self.e + self.mu + self.tau + self.hadrons


class UnitSMWidths(SMChannelWidths):
    """Γ(V→SM)/g_sm² per channel [GeV] for a vector of mass M; ``total`` = Γ_SM/g²."""

    @property
    def total(self) -> Float[Array, ...]:
        """Γ_SM/g² (docs/equations.md (A12) without the DM channel) [GeV]."""
        return self.sm


def fermion_pair_width_unit(m_v: ArrayLike, m_f: ArrayLike, charge: float, n_colours: float = 1.0) -> Float[Array, ...]:
    """Γ(V→f f̄)/g² = N_c Q² M/(12π)(1+2m_f²/M²)sqrt(1−4m_f²/M²) [GeV] (docs/equations.md (A8)).

    ``m_v`` = M and ``m_f`` in GeV; ``charge`` = Q′ or Q of the Dirac fermion f; zero below threshold.
    """
    m_v = _as_float(m_v)
    return n_colours * charge**2 * m_v / (12.0 * jnp.pi) * fermion_pair_phase_space(m_v, m_f)


def lepton_pair_width_unit(m_v: ArrayLike, m_lepton: ArrayLike) -> Float[Array, ...]:
    """Γ(V→ℓ⁺ℓ⁻)/g² = M/(12π)(1+2m²/M²)sqrt(1−4m²/M²) [GeV] (docs/equations.md (A8) with Q′ = −1, (B3)).

    With g² = ε²e² = 4πε²α this is ε²αM/3·(…) of (B3) exactly.
    """
    return fermion_pair_width_unit(m_v, m_lepton, LEPTON_CHARGE)


def neutrino_width_unit(m_v: ArrayLike, current: Current) -> Float[Array, ...]:
    """Σ_α Γ(V→ν_α ν̄_α)/g² [GeV]: 3M/(24π) for B−L (docs/equations.md (A9), E1.13), 0 for the EM current.

    Left-handed neutrinos carry half the width of a massless Dirac fermion with the same charge.
    """
    _check_current(current)
    m_v = _as_float(m_v)
    if current == "em":
        return jnp.zeros_like(m_v)
    return 3.0 * m_v / (24.0 * jnp.pi)


def hadronic_width_unit(m_v: ArrayLike, current: Current, settings: Settings | None = None) -> Float[Array, ...]:
    """Γ(V→hadrons)/g² [GeV] (docs/equations.md (A11) for "b-l", (B4) for "em").

    "b-l" (switch √s_sw = ``settings.sqrt_s_switch``, default 2 GeV; K10, K24):
      M < √s_sw: M/(12π)·R_X(M) with R_X = R_EM (`paper`) or R_B−L (`physical`);
      M ≥ √s_sw: tree-level quark pairs (A8), B−L charge 1/3, N_c = 3, open flavours (both modes,
      no α_s factor). At 2 GeV this is a downward step 2.18 → 1.00 in `paper` mode (documented in
      D.2) and continuous to 1e-5 in `physical` mode (VMD 1.00000 vs quarks 0.99999).
      ``sqrt_s_switch=inf`` keeps R_X throughout.
    "em": M/(12π)·R_EM(M) at every M (no switch; ε²αM/3·R with g² = ε²e²).
    """
    _check_current(current)
    settings = Settings() if settings is None else settings
    m_v = _as_float(m_v)
    if current == "em":
        return m_v / (12.0 * jnp.pi) * r_ratio_em(m_v)
    r_low = r_ratio_em(m_v) if settings.mode == "paper" else r_ratio_b_minus_l(m_v)
    r_effective = jnp.where(m_v < settings.sqrt_s_switch, r_low, quark_pair_sum(m_v, "b-l"))
    return m_v / (12.0 * jnp.pi) * r_effective


def sm_width_unit(m_v: ArrayLike, current: Current = "b-l", settings: Settings | None = None) -> UnitSMWidths:
    """Γ(V→SM)/g_sm² per channel for a vector of mass ``m_v`` [GeV] → :class:`UnitSMWidths` [GeV].

    Channels (docs/equations.md (A8), (A9), (A11) for ``current="b-l"``; (B3), (B4) for ``"em"``): e, μ, τ
    (Q² = 1), ν (3M/24π for B−L, 0 for EM), hadrons (:func:`hadronic_width_unit`). Multiply by
    g_BL² or ε²e². Valid at any M (also M = √s inside cross sections); vectorised, NaN-free
    gradients at thresholds.
    """
    m_v = _as_float(m_v)
    return UnitSMWidths(
        e=lepton_pair_width_unit(m_v, c.M_ELECTRON),
        mu=lepton_pair_width_unit(m_v, c.M_MUON),
        tau=lepton_pair_width_unit(m_v, c.M_TAU),
        nu=neutrino_width_unit(m_v, current),
        hadrons=hadronic_width_unit(m_v, current, settings),
    )
