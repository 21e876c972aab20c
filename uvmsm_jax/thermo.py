"""Thermodynamics of the early-universe plasma (docs/equations.md G.3, D.1, E.5).

Units: GeV for T, m, ρ^{1/4}, H; GeV³ for n and s; GeV⁴ for ρ; yields are dimensionless.
Every function is elementwise, JAX-traceable and differentiable in its continuous arguments.

* :class:`DegreesOfFreedom` — g*ρ(T), g*s(T), δ(T) = (1/3) d ln g*s/d ln T (G5) and the g*^{1/2}
  of (G15), as a C² cubic spline of ln g vs ln T on a uniform grid (O(1) lookup, no search).
  Build it with :func:`degrees_of_freedom` from a ``Settings.gstar`` value.
* :func:`saikawa_shirai_fit` — the analytic fit (D1)–(D3), both branches, C¹-blended at 0.12 GeV.
* Expansion and entropy: :func:`hubble_rate` (G3), :func:`entropy_density`, :func:`energy_density` (G2).
* Equilibrium: :func:`number_density_eq` (G1, MB or FD/BE), :func:`yield_eq` (G4),
  :func:`log_yield_eq` (ln of (G4), finite for any m/T), :func:`mean_inverse_gamma` (G6).
"""

from __future__ import annotations

import functools
import importlib.resources
import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from . import constants as c
from ._numerics import cubic_hermite, horner
from ._validation import jit_when_eager
from .special import bessel_k012e

__all__ = [
    "DegreesOfFreedom",
    "degrees_of_freedom",
    "saikawa_shirai_fit",
    "hubble_rate",
    "entropy_density",
    "energy_density",
    "number_density_eq",
    "yield_eq",
    "log_yield_eq",
    "mean_inverse_gamma",
]

# ============================================================================================
# Degrees of freedom
# ============================================================================================


def _ln(T: ArrayLike) -> Array:
    return jnp.log(jnp.asarray(T, jnp.float64))


_LN_G_RHO, _LN_G_S = 0, 2
"""Columns of :attr:`DegreesOfFreedom.knots`: a spline's node values; the next column holds its node slopes."""


class DegreesOfFreedom(eqx.Module):
    """Effective degrees of freedom g*ρ(T) and g*s(T) of the SM plasma (docs/equations.md D.1).

    Holds a C² cubic spline (node values and node slopes, Hermite form) of ln g*ρ and ln g*s
    against ln(T/GeV) on the uniform grid ``ln_t_min + i·ln_t_step``. Outside the grid the values
    are clamped to the boundary values (D4), and the spline's end slopes are zero so the clamped
    function stays C¹. All methods take T in GeV (any shape) and are elementwise.

    ``knots`` (n, 4): per node ln g*ρ, its slope, ln g*s, its slope. An evaluation reads the two rows
    of its interval (two gathers) for all of them: the background of every rate table evaluation in
    the stiff solve (:meth:`log_background`) read each of the four with its own gather before, which
    was a large part of the solve's time (docs/relic.md, "ODE").
    """

    knots: Float[Array, "n 4"]
    ln_t_min: float = eqx.field(static=True)
    ln_t_step: float = eqx.field(static=True)

    def _rows(self, ln_t):
        """The knots at both ends of the interval of ln(T/GeV) (clamped to the grid) and the local
        coordinate s ∈ [0, 1] in it."""
        n = self.knots.shape[0]
        ln_t_max = self.ln_t_min + (n - 1) * self.ln_t_step
        u = (jnp.clip(ln_t, self.ln_t_min, ln_t_max) - self.ln_t_min) / self.ln_t_step
        i = jnp.clip(jnp.floor(u), 0, n - 2).astype(jnp.int32)
        return self.knots[i], self.knots[i + 1], u - i

    def _spline(self, rows, column):
        """Cubic Hermite value of the spline in ``column`` at the point of ``rows`` (:meth:`_rows`)."""
        lo, hi, s = rows
        h = self.ln_t_step
        return cubic_hermite(lo[..., column], hi[..., column], h * lo[..., column + 1], h * hi[..., column + 1], s)

    def _spline_slope(self, rows, column):
        """d(spline)/d ln T at the point of ``rows``; the end slopes are zero, so this is also 0 where T
        is clamped."""
        lo, hi, s = rows
        h = self.ln_t_step
        s2 = s * s
        return (
            (6 * s - 6 * s2) * (hi[..., column] - lo[..., column]) / h
            + (3 * s2 - 4 * s + 1) * lo[..., column + 1]
            + (3 * s2 - 2 * s) * hi[..., column + 1]
        )

    @jit_when_eager
    def g_rho(self, T: ArrayLike) -> Float[Array, ...]:
        """g*(T) ≡ g*ρ, energy-density degrees of freedom (G2, G3); T in GeV."""
        return jnp.exp(self._spline(self._rows(_ln(T)), _LN_G_RHO))

    @jit_when_eager
    def g_s(self, T: ArrayLike) -> Float[Array, ...]:
        """g*s(T), entropy degrees of freedom (G2, G4); T in GeV."""
        return jnp.exp(self._spline(self._rows(_ln(T)), _LN_G_S))

    @jit_when_eager
    def delta(self, T: ArrayLike) -> Float[Array, ...]:
        """δ(T) = (1/3) d ln g*s / d ln T of (G5); dimensionless, T in GeV (0 outside the grid)."""
        return self._spline_slope(self._rows(_ln(T)), _LN_G_S) / 3.0

    def log_background(self, ln_t: Array, entropy_derivative: bool, g_s_equals_g_rho: bool) -> Array:
        """(ln(1 + δ), ln g*s, ln g*ρ) at ln(T/GeV) = ``ln_t`` (shape (…, 3)): the plasma's part of
        every rate coefficient and equilibrium yield (docs/equations.md G5, A.5.1). δ = 0 unless
        ``entropy_derivative``; ``g_s_equals_g_rho``: g*s = g*ρ (K11)."""
        rows = self._rows(ln_t)
        ln_g_rho = self._spline(rows, _LN_G_RHO)
        ln_g_s = ln_g_rho if g_s_equals_g_rho else self._spline(rows, _LN_G_S)
        if entropy_derivative:
            log_entropy_factor = jnp.log1p(self._spline_slope(rows, _LN_G_S) / 3.0)
        else:
            log_entropy_factor = jnp.zeros_like(ln_g_rho)
        return jnp.stack([log_entropy_factor, ln_g_s, ln_g_rho], axis=-1)

    @jit_when_eager
    def g_star_half(self, T: ArrayLike) -> Float[Array, ...]:
        """g*^{1/2}(T) = g*s/√g*ρ · (1 + δ) of (G15) (Gondolo–Gelmini); T in GeV."""
        return self.g_s(T) / jnp.sqrt(self.g_rho(T)) * (1.0 + self.delta(T))


def _clamped_spline_slopes(values: np.ndarray, step: float) -> np.ndarray:
    """Node slopes of the C² cubic spline through ``values`` (uniform ``step``), zero end slopes.

    Solves m_{i−1} + 4 m_i + m_{i+1} = 3 (y_{i+1} − y_{i−1})/h for the interior nodes with
    m_0 = m_{n−1} = 0 (Thomas algorithm; runs once per table).
    """
    rhs = 3.0 * (values[2:] - values[:-2]) / step
    c_prime, d_prime = np.zeros(len(rhs)), np.zeros(len(rhs))
    for i in range(len(rhs)):
        den = 4.0 - (c_prime[i - 1] if i else 0.0)
        c_prime[i] = 1.0 / den
        d_prime[i] = (rhs[i] - (d_prime[i - 1] if i else 0.0)) / den
    slopes = np.zeros(len(values))
    for i in range(len(rhs) - 1, -1, -1):
        slopes[i + 1] = d_prime[i] - c_prime[i] * slopes[i + 2]
    return slopes


def _gaussian_smooth(values: np.ndarray, sigma_steps: float) -> np.ndarray:
    """Convolve with a normalised Gaussian of width ``sigma_steps`` grid steps (edges held constant)."""
    if sigma_steps <= 0:
        return values
    half = int(math.ceil(5 * sigma_steps))
    offsets = np.arange(-half, half + 1)
    kernel = np.exp(-0.5 * (offsets / sigma_steps) ** 2)
    kernel /= kernel.sum()
    padded = np.concatenate([np.full(half, values[0]), values, np.full(half, values[-1])])
    return np.convolve(padded, kernel, mode="valid")


def _from_uniform_samples(ln_t: np.ndarray, g_rho: np.ndarray, g_s: np.ndarray) -> DegreesOfFreedom:
    step = (ln_t[-1] - ln_t[0]) / (len(ln_t) - 1)
    if np.max(np.abs(ln_t - (ln_t[0] + step * np.arange(len(ln_t))))) > 1e-3 * step:
        raise ValueError("g* table is not uniform in ln T")
    ln_g_rho, ln_g_s = np.log(g_rho), np.log(g_s)
    columns = (ln_g_rho, _clamped_spline_slopes(ln_g_rho, step), ln_g_s, _clamped_spline_slopes(ln_g_s, step))
    return DegreesOfFreedom(
        knots=jnp.asarray(np.stack(columns, axis=-1)), ln_t_min=float(ln_t[0]), ln_t_step=float(step)
    )


# file, Gaussian smoothing width in ln T, subsampling stride (see degrees_of_freedom)
_TABLES = {
    "saikawa2018": ("gstar_saikawa_shirai_2018.csv", 0.03, 3),
    "saikawa2020": ("gstar_saikawa_shirai_2020.csv", 0.0, 1),
}
_FIT_GRID = (1e-5, 1e16, 4001)  # T range of (D1)–(D3) [GeV] (D4) and number of spline nodes


def _load_table(name: str) -> DegreesOfFreedom:
    filename, sigma_ln_t, stride = _TABLES[name]
    resource = importlib.resources.files("uvmsm_jax").joinpath("data", "gstar", filename)
    with resource.open("r") as f:
        table = np.loadtxt(f, delimiter=",", skiprows=1)
    ln_t = np.log(table[:, 0])
    step = (ln_t[-1] - ln_t[0]) / (len(ln_t) - 1)
    smooth = [np.exp(_gaussian_smooth(np.log(table[:, k]), sigma_ln_t / step)) for k in (1, 2)]
    return _from_uniform_samples(ln_t[::stride], smooth[0][::stride], smooth[1][::stride])


def degrees_of_freedom(gstar: str | float = "saikawa2018") -> DegreesOfFreedom:
    """Build (once per setting) the g*(T) model selected by ``Settings.gstar`` (docs/equations.md D.1).

    * ``"saikawa2018"`` (default): packaged Saikawa–Shirai 2018 table (10000 rows, 2 keV–1e17 GeV).
      The table has stitching steps (+2 % in g* at 0.120 GeV, −0.3 % at 135 and 145 GeV, kinks at
      0.175 and 0.185 GeV) that give spikes up to δ ≈ 0.9 in a raw derivative. ln g is therefore
      smoothed with a Gaussian of width σ = 0.03 in ln T and every 3rd point is kept
      (Δ ln T = 0.0157, 3334 nodes): −0.003 ≤ δ ≤ 0.55, max |dδ/d ln T| ≈ 2.2. Deviation from the
      raw table: ≤ 0.2 % outside 0.08–0.5 GeV, ≤ 1.1 % at the 0.12 GeV step (half the step).
    * ``"saikawa2020"``: packaged Saikawa–Shirai 2020 table (Δ ln T = ln 1.05, 10 keV–1.5e6 GeV),
      splined as is (no steps: −0.004 ≤ δ ≤ 0.59, max |dδ/d ln T| ≈ 4.9).
    * ``"saikawa2018-fit"``: :func:`saikawa_shirai_fit` (D1)–(D3) sampled at 4001 points in
      [1e-5, 1e16] GeV (spline error ≤ 1e-5 relative in g, ≤ 1e-3 in δ, largest at the blend).
    * a positive number: constant g*ρ = g*s = ``gstar`` and δ = 0 (P1/P2 "paper" convention).

    The result is cached per setting (the tables are read from the package data once); it is
    built eagerly even when first requested inside a ``jit``/``grad`` trace.
    """
    if isinstance(gstar, str):
        return _build_degrees_of_freedom(gstar)
    value = float(gstar)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"gstar must be a positive finite number, got {gstar!r}")
    return _build_degrees_of_freedom(value)


@functools.cache
def _build_degrees_of_freedom(gstar: str | float) -> DegreesOfFreedom:
    with jax.ensure_compile_time_eval():  # concrete arrays even if called while tracing
        return _build_degrees_of_freedom_now(gstar)


def _build_degrees_of_freedom_now(gstar: str | float) -> DegreesOfFreedom:
    if isinstance(gstar, str):
        if gstar in _TABLES:
            return _load_table(gstar)
        if gstar == "saikawa2018-fit":
            t_min, t_max, n = _FIT_GRID
            ln_t = np.linspace(math.log(t_min), math.log(t_max), n)
            g_rho, g_s = (np.asarray(g) for g in saikawa_shirai_fit(np.exp(ln_t)))
            return _from_uniform_samples(ln_t, g_rho, g_s)
        raise ValueError(f"gstar must be 'saikawa2018', 'saikawa2020', 'saikawa2018-fit' or a number, got {gstar!r}")
    ln_t = np.log(np.array(_FIT_GRID[:2]))
    return _from_uniform_samples(ln_t, np.full(2, gstar), np.full(2, gstar))


# --- Saikawa–Shirai analytic fit (D1)–(D3) -------------------------------------------------------

_FIT_A = (1.0, 1.11724, 3.12672e-1, -4.68049e-2, -2.65004e-2, -1.19760e-3, 1.82812e-4, 1.36436e-4,
          8.55051e-5, 1.22840e-5, 3.82259e-7, -6.87035e-9)  # fmt: skip
_FIT_B = (1.43382e-2, 1.37559e-2, 2.92108e-3, -5.38533e-4, -1.62496e-4, -2.87906e-5, -3.84278e-6,
          2.78776e-6, 7.40342e-7, 1.17210e-7, 3.72499e-9, -6.74107e-11)  # fmt: skip
_FIT_C = (1.0, 6.07869e-1, -1.54485e-1, -2.24034e-1, -2.82147e-2, 2.90620e-2, 6.86778e-3, -1.00005e-3,
          -1.69104e-4, 1.06301e-5, 1.69528e-6, -9.33311e-8)  # fmt: skip
_FIT_D = (7.07388e1, 9.18011e1, 3.31892e1, -1.39779, -1.52558, -1.97857e-2, -1.60146e-1, 8.22615e-5,
          2.02651e-2, -1.82134e-5, 7.83943e-5, 7.13518e-5)  # fmt: skip
_FIT_T_SWITCH = 0.12  # GeV, (D1) above, (D2) below
_FIT_BLEND_HALF_WIDTH = 0.005  # GeV, C¹ blend over T_switch ± 5 MeV (D4)
# (D2): effective masses [GeV] and weights; (D3): (exponent, cubic coefficients)
_FIT_M_E, _FIT_M_MU = 0.511e-3, 0.1056
_FIT_BOSON_MASSES = (0.135, 0.140, 0.5, 0.77, 1.2, 2.0)
_FIT_BOSON_W_RHO = (1.05, 2.08, 4.165, 30.55, 89.4, 8209.0)
_FIT_BOSON_W_S = (1.034, 2.068, 4.16, 30.55, 90.0, 6209.0)
_F_RHO = (1.04855, (1.0, 1.03757, 0.508630, 0.0893988))
_B_RHO = (1.03149, (1.0, 1.03317, 0.398264, 0.0648056))
_F_S = (1.04190, (1.0, 1.03400, 0.456426, 0.0595249))
_B_S = (1.03365, (1.0, 1.03397, 0.342548, 0.0506182))


def _fit_shape(params, y):
    """f_ρ, b_ρ, f_s or b_s of (D3): e^{−a y}(1 + c₁y + c₂y² + c₃y³)."""
    a, cubic = params
    return jnp.exp(-a * y) * horner(cubic, y)


def _fit_high(T):
    """(D1), T ≥ 0.12 GeV: (g*ρ, g*s)."""
    t = jnp.log(T)
    g_rho = horner(_FIT_A, t) / horner(_FIT_B, t)
    return g_rho, g_rho / (1.0 + horner(_FIT_C, t) / horner(_FIT_D, t))


def _fit_low(T):
    """(D2)–(D3), T < 0.12 GeV: (g*ρ, g*s)."""
    y_e, y_mu = _FIT_M_E / T, _FIT_M_MU / T
    s_fit = 1.0 + 1.75 * _fit_shape(_F_S, y_e)
    g_rho = 2.030 + 1.353 * s_fit ** (4.0 / 3.0) + 3.495 * _fit_shape(_F_RHO, y_e) + 3.446 * _fit_shape(_F_RHO, y_mu)
    g_s = 2.008 + 1.923 * s_fit + 3.442 * _fit_shape(_F_S, y_e) + 3.468 * _fit_shape(_F_S, y_mu)
    for m, w_rho, w_s in zip(_FIT_BOSON_MASSES, _FIT_BOSON_W_RHO, _FIT_BOSON_W_S):
        g_rho = g_rho + w_rho * _fit_shape(_B_RHO, m / T)
        g_s = g_s + w_s * _fit_shape(_B_S, m / T)
    return g_rho, g_s


@jit_when_eager
def saikawa_shirai_fit(T: ArrayLike) -> tuple[Float[Array, ...], Float[Array, ...]]:
    """(g*ρ, g*s) from the Saikawa–Shirai fit, docs/equations.md (D1)–(D3); T in GeV.

    (D1) above and (D2) below 0.12 GeV, joined by a C¹ smoothstep blend over 0.12 ± 0.005 GeV
    (the branches differ there by 0.1 %). T is clamped to [1e-5, 1e16] GeV (D4).
    """
    T = jnp.clip(jnp.asarray(T, jnp.float64), _FIT_GRID[0], _FIT_GRID[1])
    lo, hi = _FIT_T_SWITCH - _FIT_BLEND_HALF_WIDTH, _FIT_T_SWITCH + _FIT_BLEND_HALF_WIDTH
    g_rho_high, g_s_high = _fit_high(jnp.maximum(T, lo))  # each branch only at safe T (no poles)
    g_rho_low, g_s_low = _fit_low(jnp.minimum(T, hi))
    s = jnp.clip((T - lo) / (hi - lo), 0.0, 1.0)
    w = s * s * (3.0 - 2.0 * s)
    return (1 - w) * g_rho_low + w * g_rho_high, (1 - w) * g_s_low + w * g_s_high


# ============================================================================================
# Expansion, entropy, energy density
# ============================================================================================


@jit_when_eager
def hubble_rate(T: ArrayLike, g_rho: ArrayLike, m_planck: ArrayLike) -> Float[Array, ...]:
    """H = √(π² g*/90) T²/M_P [GeV], docs/equations.md (G3); T, M_P (reduced Planck mass) in GeV."""
    return jnp.sqrt(jnp.pi**2 * jnp.asarray(g_rho, jnp.float64) / 90.0) * jnp.asarray(T, jnp.float64) ** 2 / m_planck


@jit_when_eager
def entropy_density(T: ArrayLike, g_s: ArrayLike) -> Float[Array, ...]:
    """s = (2π²/45) g*s T³ [GeV³], docs/equations.md (G2); T in GeV."""
    return 2.0 * jnp.pi**2 / 45.0 * jnp.asarray(g_s, jnp.float64) * jnp.asarray(T, jnp.float64) ** 3


@jit_when_eager
def energy_density(T: ArrayLike, g_rho: ArrayLike) -> Float[Array, ...]:
    """ρ = (π²/30) g* T⁴ [GeV⁴], docs/equations.md (G2); T in GeV."""
    return jnp.pi**2 / 30.0 * jnp.asarray(g_rho, jnp.float64) * jnp.asarray(T, jnp.float64) ** 4


# ============================================================================================
# Equilibrium densities
# ============================================================================================

_N_QUANTUM_TERMS = 12  # explicit terms of the K₂ series; the rest by Euler–Maclaurin


def _bose_sum_scaled(y, x):
    """e^x Σ_{k≥1} K₂(k y)/k for y ≥ x > 0 (the Bose–Einstein series of (G1)).

    Terms k < N = 12 are summed explicitly; the tail k ≥ N uses Euler–Maclaurin with
    f(k) = K₂(ky)/k: ∫_N^∞ f = K₁(Ny)/(Ny), then + f/2 − f′/12 + f‴/720 − f⁽⁵⁾/30240 at k = N, where
    with t = ky, f^{(j)} = y^{j+1} h^{(j)}(t) and h = K₂/t (from (t^{−ν}K_ν)′ = −t^{−ν}K_{ν+1}):
    h′ = −K₁/t − 3K₂/t², h‴ = −3K₃/t³ + 6K₄/t² − K₅/t, h⁽⁵⁾ = 15K₄/t⁴ − 45K₅/t³ + 15K₆/t² − K₇/t.
    The first neglected term, f⁽⁷⁾/1209600, is ≲ 2e-12 of the sum (worst at y → 0, where
    f ≈ 2/(y²k³)); for y ≳ 1 the tail itself is ≲ e^{−Ny}.
    """
    n = _N_QUANTUM_TERMS
    k = jnp.arange(1, n + 1, dtype=jnp.float64)
    t_all = y[..., None] * k  # k = 1 … N in one Bessel evaluation (last one for the tail)
    _, k1_all, k2_all = bessel_k012e(t_all)
    total = jnp.sum(k2_all[..., :-1] * jnp.exp(x[..., None] - t_all[..., :-1]) / k[:-1], axis=-1)
    t, k1, k2 = t_all[..., -1], k1_all[..., -1], k2_all[..., -1]
    k3 = k1 + 4.0 / t * k2  # upward recurrence K_{ν+1} = K_{ν−1} + (2ν/t) K_ν (stable for K)
    k4 = k2 + 6.0 / t * k3
    k5 = k3 + 8.0 / t * k4
    k6 = k4 + 10.0 / t * k5
    k7 = k5 + 12.0 / t * k6
    integral = k1 / t
    f = k2 / n
    f1 = y**2 * (-k1 / t - 3.0 * k2 / t**2)
    f3 = y**4 * (-3.0 * k3 / t**3 + 6.0 * k4 / t**2 - k5 / t)
    f5 = y**6 * (15.0 * k4 / t**4 - 45.0 * k5 / t**3 + 15.0 * k6 / t**2 - k7 / t)
    return total + (integral + 0.5 * f - f1 / 12.0 + f3 / 720.0 - f5 / 30240.0) * jnp.exp(x - t)


def _check_statistics(statistics: str, spin_statistics: str | None) -> None:
    if statistics == "maxwell-boltzmann":
        return
    if statistics != "quantum":
        raise ValueError(f"statistics must be 'maxwell-boltzmann' or 'quantum', got {statistics!r}")
    if spin_statistics not in ("fermion", "boson"):
        raise ValueError(f"statistics='quantum' needs spin_statistics='fermion' or 'boson', got {spin_statistics!r}")


def _reduced_density_scaled(x, statistics: str, spin_statistics: str | None):
    """A(x) eˣ with n_eq = g T³ A(x)/(2π²): A = x² K₂(x) (MB), x² Σ_k (±1)^{k+1} K₂(kx)/k (BE/FD).

    x = m/T ≥ 0 (x = 0 gives the massless limits 2, 2ζ(3), (3/2)ζ(3)). FD uses
    Σ (−1)^{k+1}K₂(kx)/k = S(x) − S(2x) with S the Bose sum, so no alternating series is summed.
    """
    _check_statistics(statistics, spin_statistics)
    massless = x == 0
    xs = jnp.where(massless, 1.0, x)  # x < 0 (m < 0) stays invalid and gives NaN
    if statistics == "maxwell-boltzmann":
        k0, k1, _ = bessel_k012e(xs)
        scaled, limit = xs * (xs * k0 + 2.0 * k1), 2.0  # x²K₂ = x²K₀ + 2xK₁ (no overflow as x → 0)
    elif spin_statistics == "boson":
        scaled, limit = xs * xs * _bose_sum_scaled(xs, xs), 2.0 * c.ZETA3
    else:
        sums = _bose_sum_scaled(jnp.stack([xs, 2.0 * xs]), xs)
        scaled, limit = xs * xs * (sums[0] - sums[1]), 1.5 * c.ZETA3
    return jnp.where(massless, limit, scaled)


@jit_when_eager(static_argnames=("statistics", "spin_statistics"))
def number_density_eq(
    m: ArrayLike,
    g: ArrayLike,
    T: ArrayLike,
    statistics: str = "maxwell-boltzmann",
    spin_statistics: str | None = None,
) -> Float[Array, ...]:
    """Equilibrium number density n_eq [GeV³] at zero chemical potential, docs/equations.md (G1).

    m (≥ 0) and T in GeV, g internal degrees of freedom. ``statistics="maxwell-boltzmann"``:
    n = g m² T K₂(m/T)/(2π²) (→ gT³/π² for m → 0). ``statistics="quantum"`` needs
    ``spin_statistics="fermion"`` (FD) or ``"boson"`` (BE): n = g m² T Σ_k (±1)^{k+1} K₂(km/T)/k /(2π²)
    (→ 3ζ(3)gT³/(4π²), ζ(3)gT³/π²); relative accuracy ≲ 3e-12 for all m/T (see ``_bose_sum_scaled``).
    Underflows to 0 for m/T ≳ 700; use :func:`log_yield_eq` there.
    """
    T = jnp.asarray(T, jnp.float64)
    x = jnp.asarray(m, jnp.float64) / T
    reduced = _reduced_density_scaled(x, statistics, spin_statistics) * jnp.exp(-x)
    return jnp.asarray(g, jnp.float64) * T**3 * reduced / (2.0 * jnp.pi**2)


@jit_when_eager(static_argnames=("statistics", "spin_statistics"))
def log_yield_eq(
    m: ArrayLike,
    g: ArrayLike,
    T: ArrayLike,
    g_s: ArrayLike,
    statistics: str = "maxwell-boltzmann",
    spin_statistics: str | None = None,
) -> Float[Array, ...]:
    """ln Y_eq, Y_eq = n_eq/s = 45 g x² K₂(x)/(4π⁴ g*s) (MB), docs/equations.md (G4), x = m/T.

    Built from eˣK₂(x), so it is finite (≈ −x) for any x (no underflow at m/T = 1e3 or 1e5).
    m, T in GeV; g internal d.o.f.; g_s = g*s(T). Statistics as in :func:`number_density_eq`.
    """
    x = jnp.asarray(m, jnp.float64) / jnp.asarray(T, jnp.float64)
    reduced = _reduced_density_scaled(x, statistics, spin_statistics)
    prefactor = 45.0 * jnp.asarray(g, jnp.float64) / (4.0 * jnp.pi**4 * jnp.asarray(g_s, jnp.float64))
    return jnp.log(prefactor) + jnp.log(reduced) - x


def yield_eq(m, g, T, g_s, statistics: str = "maxwell-boltzmann", spin_statistics=None) -> Float[Array, ...]:
    """Y_eq = n_eq/s = 45 g x² K₂(x)/(4π⁴ g*s) (MB), docs/equations.md (G4), x = m/T; dimensionless.

    The exponential of :func:`log_yield_eq` (same arguments and units: m, T in GeV; g internal
    d.o.f.; g_s = g*s(T)); underflows to 0 for x ≳ 700, where only the logarithm is usable.
    """
    return jnp.exp(log_yield_eq(m, g, T, g_s, statistics=statistics, spin_statistics=spin_statistics))


@jit_when_eager
def mean_inverse_gamma(m: ArrayLike, T: ArrayLike) -> Float[Array, ...]:
    """⟨M/E⟩ = K₁(m/T)/K₂(m/T) for an MB gas, docs/equations.md (G6); m ≥ 0, T in GeV (0 for m = 0)."""
    x = jnp.asarray(m, jnp.float64) / jnp.asarray(T, jnp.float64)
    massless = x == 0
    xs = jnp.where(massless, 1.0, x)  # m < 0 gives NaN
    _, k1, k2 = bessel_k012e(xs)
    return jnp.where(massless, 0.0, k1 / k2)
