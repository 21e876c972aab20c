"""Model 2 regimes and inverse problems: ε_th, ε_DM, e′ for Ωh² = 0.12 (docs/equations.md B.4, B.5).

Everything here is built on the shared vector-portal core (:func:`uvmsm_jax.relic` and its
stages in :mod:`uvmsm_jax.pipeline`, :mod:`uvmsm_jax.rates`, :mod:`uvmsm_jax.hadrons`); nothing of
the Boltzmann system is re-implemented.

Regime functions (all vectorised over broadcastable array inputs, GeV for masses):

* :func:`epsilon_threshold` — (B21): Γ_vis(ε_th, m_A′) = H(T = m_A′), the criterion
  :func:`uvmsm_jax.relic` uses to label a point "thermal-mediator-decay".
* :func:`epsilon_threshold_ode` — the ODE cross-check of (B21): smallest ε for which the solution
  of (B13) reaches Y_A′/Y_A′,eq ≥ ``fraction`` at some x = m_A′/T ≤ ``x_max`` (see its docstring for
  why a finite ``x_max`` is needed).
* :func:`e_dark_for_relic` — e′ such that Ωh²(m_χ, m_A′, ε, e′) = target from the full Boltzmann
  solution: optimistix Newton in ln e′, implicit-function gradients, vmapped over the batch.
* :func:`epsilon_dm` — (B23): ε_DM = factor·e′_relic/e (hypothesis of K19, factor exposed).
* :func:`epsilon_invisible_crossover` — ε where Γ_vis = Γ(A′→χχ̄) (B20 last paragraph, E2.6).

These are P2's sequential-freeze-in questions (Part B): with ``settings=None`` they use P2's setting,
``Settings(mode="paper")`` ((B13)–(B14), T_R = 1000·m_A′). Pass physical-mode settings to ask them
of the every-regime system of Part H instead.

Closed forms for validation (constant g* = g*s, δ = 0, docs/equations.md B.4, A46):
:func:`yield_decay`, :func:`omega_constant_gstar` ((B19) for either depletion convention),
:func:`e_dark_constant_gstar` ((B20)) and :data:`B20_COEFFICIENT` (= 1.7464e26).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

from . import constants as c
from ._lazy import LazyModule
from ._programs import filter_jit
from ._relic import relic
from .hadrons import sm_width_unit
from .models import DarkPhotonDM
from .pipeline import classify, configure, parameters, prepare, solve
from .rates import thermodynamics
from .settings import Settings
from .thermo import degrees_of_freedom, hubble_rate

if TYPE_CHECKING:
    import optimistix as optx
else:  # imported on first use (docs/relic.md, "Compilation")
    optx = LazyModule("optimistix")

__all__ = [
    "B20_COEFFICIENT",
    "YIELD_DECAY_COEFFICIENT",
    "dark_pair_phase_space",
    "e_dark_constant_gstar",
    "e_dark_for_relic",
    "epsilon_dm",
    "epsilon_invisible_crossover",
    "epsilon_threshold",
    "epsilon_threshold_ode",
    "omega_constant_gstar",
    "visible_width",
    "yield_decay",
]

PLANCK_MASS = c.M_PLANCK_REDUCED
"""Reduced Planck mass of Model 2 (2.435e18 GeV; P2's M_Pl = √(8π) M_P, docs/equations.md B.3)."""

YIELD_DECAY_COEFFICIENT = 135.0 * math.sqrt(90.0) / (8.0 * math.pi**4)
"""1.6435 of (A46): Y_dec = 1.6435 g_X Γ M_P/(g*^{3/2} M²)."""

B20_COEFFICIENT = (
    c.OMEGA_H2_PER_MASS_YIELD * 2.0 * YIELD_DECAY_COEFFICIENT * c.G_VECTOR / (12.0 * math.pi) * PLANCK_MASS
)
"""1.7464e26 of (B20): Ωh² = B20_COEFFICIENT · e′² r F(r)/g*^{3/2} (P2 setting, constant g*)."""

_ALL_FINITE_POSITIVE = lambda *xs: jnp.all(jnp.stack([jnp.isfinite(x) & (x > 0) for x in xs]), axis=0)


def _settings(settings: Settings | None) -> Settings:
    """``settings``, or P2's setting (``mode="paper"``) when None."""
    return Settings(mode="paper") if settings is None else settings


def _as_float(x: ArrayLike) -> Array:
    return jnp.asarray(x, dtype=jnp.float64)


# --- widths and closed forms ----------------------------------------------------------------------


def dark_pair_phase_space(ratio: ArrayLike) -> Float[Array, ...]:
    """F(r) = (1 + 2r²)√(1 − 4r²) of (B5), r = m_χ/m_A′; 0 for r ≥ 1/2 (NaN-free gradient)."""
    r = _as_float(ratio)
    beta_sq = 1.0 - 4.0 * r**2
    is_open = beta_sq > 0
    return jnp.where(is_open, (1.0 + 2.0 * r**2) * jnp.sqrt(jnp.where(is_open, beta_sq, 1.0)), 0.0)


def visible_width(m_ap: ArrayLike, epsilon: ArrayLike, settings: Settings | None = None) -> Float[Array, ...]:
    """Γ_vis = Σ_ℓ Γ_ℓℓ + Γ_had [GeV] of (B6) (ε²e² × the shared unit-coupling EM width)."""
    unit = sm_width_unit(_as_float(m_ap), "em", _settings(settings)).visible
    return (_as_float(epsilon) * c.E_EM) ** 2 * unit


def yield_decay(width: ArrayLike, g_x: ArrayLike, mass: ArrayLike, gstar: ArrayLike) -> Float[Array, ...]:
    """Y_dec(Γ; g_X, M) = 135√90/(8π⁴) g_X Γ M_P/(g*^{3/2} M²) of (A46) (constant g* = g*s).

    The yield produced by inverse decays f f̄ → X integrated over all times, ∫dt n_eq⟨M/E⟩Γ/s.
    ``width`` Γ and ``mass`` M in GeV; M_P = 2.435e18 GeV.
    """
    return (
        YIELD_DECAY_COEFFICIENT
        * _as_float(g_x)
        * _as_float(width)
        * PLANCK_MASS
        / (_as_float(gstar) ** 1.5 * _as_float(mass) ** 2)
    )


def omega_constant_gstar(
    m_chi: ArrayLike,
    m_ap: ArrayLike,
    epsilon: ArrayLike,
    e_dark: ArrayLike,
    gstar: ArrayLike,
    include_invisible_in_depletion: bool = False,
    settings: Settings | None = None,
) -> Float[Array, ...]:
    """Ωh² of the exact solution (B19) of (B13)–(B14) for constant g* = g*s [dimensionless].

    Y_χ^∞ = 2 Y_dec(Γ_χχ̄; 3, m_A′)·Γ_vis/Γ_dep with Γ_dep = Γ_vis (P2) or Γ_vis + Γ_χχ̄ (flag),
    Ωh² = 2.742e8 m_χ Y_χ^∞. In the P2 setting this is (B20) and does not depend on ε.
    ``settings`` only selects the hadronic R ratio used in Γ_vis (needed with the flag).
    """
    m_chi, m_ap, e_dark = _as_float(m_chi), _as_float(m_ap), _as_float(e_dark)
    width_dm = e_dark**2 * m_ap / (12.0 * jnp.pi) * dark_pair_phase_space(m_chi / m_ap)
    y_chi = 2.0 * yield_decay(width_dm, c.G_VECTOR, m_ap, gstar)
    if include_invisible_in_depletion:
        width_vis = visible_width(m_ap, epsilon, settings)
        y_chi = y_chi * width_vis / (width_vis + width_dm)
    else:
        y_chi = y_chi * jnp.ones_like(_as_float(epsilon))
    return c.OMEGA_H2_PER_MASS_YIELD * m_chi * y_chi


def e_dark_constant_gstar(
    m_chi: ArrayLike, m_ap: ArrayLike, gstar: ArrayLike, target: ArrayLike = c.OMEGA_DM_H2
) -> Float[Array, ...]:
    """e′_relic of (B20): [target·g*^{3/2}/(1.7464e26 r F(r))]^{1/2} (P2 setting, constant g*)."""
    r = _as_float(m_chi) / _as_float(m_ap)
    return jnp.sqrt(_as_float(target) * _as_float(gstar) ** 1.5 / (B20_COEFFICIENT * r * dark_pair_phase_space(r)))


# --- thresholds ------------------------------------------------------------------------------------


def _hubble_at_mass(m_ap: Array, settings: Settings) -> Array:
    """H(T = m_A′) [GeV] with g*(m_A′) of ``settings.gstar`` and M_P = 2.435e18 GeV."""
    g_rho = degrees_of_freedom(settings.gstar).g_rho(m_ap)
    return hubble_rate(m_ap, g_rho, PLANCK_MASS)


def epsilon_threshold(m_ap: ArrayLike, settings: Settings | None = None) -> Float[Array, ...]:
    """ε_th of (B21): Γ_vis(ε_th, m_A′) = H(T = m_A′) [dimensionless].

    ε_th² = 3·1.66√g*(m_A′) m_A′/(α 𝒩(m_A′) M_Pl), with g* from ``settings.gstar`` and 𝒩 from the
    shared EM widths (leptons + R_EM hadrons). This is exactly the criterion by which
    :func:`uvmsm_jax.relic` labels a point "thermal-mediator-decay" (ε > ε_th) or
    "sequential-freeze-in". Vectorised over ``m_ap`` [GeV].
    """
    settings = _settings(settings)
    m_ap = _as_float(m_ap)
    return jnp.sqrt(_hubble_at_mass(m_ap, settings) / visible_width(m_ap, 1.0, settings))


def _mediator_equilibrium_fraction(
    log_epsilon: Array, m_ap: Array, ratio: Array, settings: Settings, x_max: float, n_save: int
) -> Array:
    """max_{x_R ≤ x ≤ x_max} Y_A′(x)/Y_A′,eq(x) from the shared relic solver (one point)."""
    model = DarkPhotonDM(ratio * m_ap, m_ap, jnp.exp(log_epsilon), _as_float(1e-13))
    config = configure(model, settings)
    theta = parameters(model, settings)
    m_v = theta[1]
    x_start = m_v / theta[4]
    save_x = jnp.geomspace(1.0, x_max / x_start, n_save) * x_start
    prepared = prepare(theta, config)
    solution = solve(prepared, classify(prepared, config), config, jnp.log(save_x))
    physics = config.physics
    th = thermodynamics(
        model.portal,
        physics.settings,
        physics.planck_mass,
        physics.entropy_derivative,
        m_v / save_x,
        physics.g_s_equals_g_rho,
    )
    ys = solution.ode.ys
    assert ys is not None  # saved at save_x
    return jnp.max(ys[:, 1] * jnp.exp(-th.log_y_v_eq))


@filter_jit
def _epsilon_threshold_ode_batch(m_ap, ratio, settings, fraction, x_max, n_save, rtol):
    def one(m, r):
        guess = jnp.log(epsilon_threshold(m, settings))

        def fn(log_eps, _):
            return _mediator_equilibrium_fraction(log_eps, m, r, settings, x_max, n_save) - fraction

        solution = optx.root_find(
            fn,
            optx.Bisection(rtol=0.0, atol=rtol, flip=False),  # the fraction grows with ε
            guess,
            options={"lower": guess - jnp.log(30.0), "upper": guess + jnp.log(1e3)},
            max_steps=128,
            throw=False,
        )
        ok = (solution.result == optx.RESULTS.successful) & jnp.isfinite(solution.value)
        return jnp.where(ok, jnp.exp(solution.value), jnp.nan)

    return jax.vmap(one)(m_ap, ratio)


def epsilon_threshold_ode(
    m_ap: ArrayLike,
    settings: Settings | None = None,
    *,
    fraction: float = 0.9,
    x_max: float = 1.0,
    ratio: ArrayLike = 0.1,
    n_save: int = 64,
    rtol: float = 1e-4,
) -> Float[Array, ...]:
    """ODE cross-check of (B21): smallest ε with max_{x ≤ x_max} Y_A′/Y_A′,eq ≥ ``fraction``.

    (B13) is solved by the shared relic pipeline (:func:`uvmsm_jax.pipeline.solve`, yields saved
    on ``n_save`` log-spaced x in [x_R, x_max]) and the condition is bisected in ln ε (bracket
    ε_th/30 … 1e3 ε_th, tolerance ``rtol`` in ln ε). e′ = 1e-13 and m_χ = ``ratio``·m_A′; they do not
    enter (B13) in the P2 setting.

    Why ``x_max``: over *all* x the ratio Y_A′/Y_A′,eq exceeds 1 for every ε, because the A′ that
    were produced decay later than the equilibrium density falls (Y_eq ∝ e^{-x}; e.g. for
    ε = 0.3 ε_th at 1 GeV the ratio is 1.25 at x = 5, and for ε = 1e-11 it is ≫ 1 for x ≳ 20), so
    the alternative of docs/equations.md B21 read literally is satisfied by any ε. Restricting to
    T ≥ m_A′/x_max makes it a statement about reaching equilibrium while the A′ are still
    abundant; the default x_max = 1 (T = m_A′) is the temperature at which (B21) compares Γ_vis and
    H. Measured (default settings, m_A′ = 0.01, 0.1, 1, 10 GeV): ε_ODE/ε_th(B21) = 3.9, 5.1, 4.0,
    3.8 for x_max = 1; 1.24, 1.35, 1.31, 1.24 for x_max = 2; 0.59, 0.63, 0.64, 0.59 for x_max = 3.
    Returns NaN where the bisection fails or the input is not a positive finite mass / r ≥ 1/2.
    ``fraction`` and ``x_max`` are traced (changing them does not recompile).
    """
    settings = _settings(settings)
    m_ap, ratio = jnp.broadcast_arrays(_as_float(m_ap), _as_float(ratio))
    shape = m_ap.shape
    valid = _ALL_FINITE_POSITIVE(m_ap, ratio) & (ratio < 0.5)
    safe_m = jnp.where(valid, m_ap, 1.0).reshape(-1)
    safe_r = jnp.where(valid, ratio, 0.1).reshape(-1)
    out = _epsilon_threshold_ode_batch(
        safe_m, safe_r, settings, jnp.asarray(fraction, float), jnp.asarray(x_max, float), int(n_save), float(rtol)
    )
    return jnp.where(valid, out.reshape(shape), jnp.nan)


def epsilon_invisible_crossover(
    m_chi: ArrayLike, m_ap: ArrayLike, e_dark: ArrayLike, settings: Settings | None = None
) -> Float[Array, ...]:
    """ε at which Γ_vis = Γ(A′→χχ̄) (B20 last paragraph, E2.6): ε = e′√(F(r)/𝒩(m_A′))/e."""
    m_chi, m_ap, e_dark = _as_float(m_chi), _as_float(m_ap), _as_float(e_dark)
    width_dm = e_dark**2 * m_ap / (12.0 * jnp.pi) * dark_pair_phase_space(m_chi / m_ap)
    return jnp.sqrt(width_dm / visible_width(m_ap, 1.0, settings))


# --- e′ for the relic abundance ----------------------------------------------------------------------


def _e_dark_one(m_chi, m_ap, epsilon, target, settings: Settings, xtol: float, max_steps: int):
    valid = _ALL_FINITE_POSITIVE(m_chi, m_ap, epsilon, target) & (2.0 * m_chi < m_ap)
    m_chi = jnp.where(valid, m_chi, 0.1)
    m_ap = jnp.where(valid, m_ap, 1.0)
    epsilon = jnp.where(valid, epsilon, 1e-9)
    target = jnp.where(valid, target, c.OMEGA_DM_H2)
    # Initial guess: (B20) with g* = g*(m_A′) — exact for constant g*, within ~10 % otherwise.
    gstar_guess = degrees_of_freedom(settings.gstar).g_rho(m_ap)
    guess = jnp.log(e_dark_constant_gstar(m_chi, m_ap, gstar_guess, target))
    guess = jax.lax.stop_gradient(guess)

    def fn(log_e_dark, args):
        m_chi_, m_ap_, epsilon_, target_ = args
        result = relic(DarkPhotonDM(m_chi_, m_ap_, epsilon_, jnp.exp(log_e_dark)), settings)
        solved = (result.status == 0) & jnp.isfinite(result.omega_h2) & (result.omega_h2 > 0)
        log_omega = jnp.log(jnp.where(solved, result.omega_h2, 1.0))
        # Where the relic solver fails, a finite stand-in with slope 2 sends Newton back to the
        # guess instead of feeding NaN into the linear solve; the final status check rejects it.
        residual = jnp.where(solved, log_omega - jnp.log(target_), 2.0 * (log_e_dark - guess))
        return residual, solved

    solution: optx.Solution[Array, Array] = optx.root_find(
        fn,
        optx.Newton(rtol=0.0, atol=xtol),
        guess,
        args=(m_chi, m_ap, epsilon, target),
        has_aux=True,
        adjoint=optx.ImplicitAdjoint(),
        max_steps=max_steps,
        throw=False,
    )
    ok = valid & solution.aux & (solution.result == optx.RESULTS.successful) & jnp.isfinite(solution.value)
    return jnp.where(ok, jnp.exp(solution.value), jnp.nan)


@filter_jit
def _e_dark_batch(m_chi, m_ap, epsilon, target, settings, xtol, max_steps):
    return jax.vmap(lambda a, b, e, t: _e_dark_one(a, b, e, t, settings, xtol, max_steps))(m_chi, m_ap, epsilon, target)


def e_dark_for_relic(
    m_chi: ArrayLike,
    m_ap: ArrayLike,
    epsilon: ArrayLike,
    target: ArrayLike = c.OMEGA_DM_H2,
    settings: Settings | None = None,
    *,
    xtol: float | None = None,
    max_steps: int = 16,
) -> Float[Array, ...]:
    """Dark charge e′ with Ωh²(m_χ, m_A′, ε, e′) = ``target`` from the full Boltzmann solution.

    Newton's method (optimistix) on ln Ωh²(ln e′) − ln target, started from (B20) with g*(m_A′);
    nothing assumes Ω ∝ e′² (it holds in the P2 setting, not with
    ``include_invisible_in_depletion`` near Γ_χχ̄ ≈ Γ_vis). Inputs broadcast together and are
    solved point by point (vmap); gradients with respect to every input come from the implicit
    function theorem (``optimistix.ImplicitAdjoint``): d ln e′ = −(∂ ln Ω/∂θ)/(∂ ln Ω/∂ ln e′) dθ.

    ``xtol``: convergence tolerance on ln e′ and on ln Ω (default max(1e-5, 100·``settings.rtol``): the
    ODE noise in ln Ω is ≈ 50·rtol).
    Returns NaN where no solution exists (m_χ ≥ m_A′/2, non-positive or non-finite input, or a
    solver failure, e.g. a target that cannot be reached with the flag on).
    """
    settings = _settings(settings)
    xtol = max(1e-5, 100.0 * settings.rtol) if xtol is None else float(xtol)
    m_chi, m_ap, epsilon, target = jnp.broadcast_arrays(*(_as_float(v) for v in (m_chi, m_ap, epsilon, target)))
    shape = m_chi.shape
    out = _e_dark_batch(
        m_chi.reshape(-1), m_ap.reshape(-1), epsilon.reshape(-1), target.reshape(-1), settings, xtol, int(max_steps)
    )
    return out.reshape(shape)


def epsilon_dm(
    m_ap: ArrayLike,
    ratio: ArrayLike,
    factor: float = 10.0,
    settings: Settings | None = None,
    *,
    e_dark_relic: ArrayLike | None = None,
    epsilon_ref: ArrayLike | None = None,
) -> Float[Array, ...]:
    """Lower edge of the sequential-freeze-in window, (B23): ε_DM = factor·e′_relic(m_A′, r)/e.

    Working hypothesis of docs/equations.md K19 (factor 10: Γ_χχ̄ ≲ 1 % of Γ_vis). ``e_dark_relic``:
    precomputed e′_relic (else :func:`e_dark_for_relic` at m_χ = r·m_A′ and ε = ``epsilon_ref``,
    default ε_th/10 — any ε gives the same e′ in the P2 setting). Vectorised; NaN for r ≥ 1/2.
    """
    settings = _settings(settings)
    m_ap, ratio = jnp.broadcast_arrays(_as_float(m_ap), _as_float(ratio))
    if e_dark_relic is None:
        eps = 0.1 * epsilon_threshold(m_ap, settings) if epsilon_ref is None else _as_float(epsilon_ref)
        e_dark_relic = e_dark_for_relic(ratio * m_ap, m_ap, eps, c.OMEGA_DM_H2, settings)
    return factor * _as_float(e_dark_relic) / c.E_EM
