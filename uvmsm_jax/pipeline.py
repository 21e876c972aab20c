"""The stages of a relic computation, for one parameter point (docs/equations.md A.6, A.8, B.3–B.5).

    configure(model, settings) → Config          static: the model's registry entry and its physics
    parameters(model, settings) → θ               θ = (m_dm, m_v, g_sm, g_dm, T_R), last axis 5
    prepare(θ, config) → PreparedPoint            widths, integration range, tabulated rate table
    classify(prepared, config) → Regime           thermalisation, decoupling, mechanism (one classifier)
    solve(prepared, regime, config) → Solution    initial conditions and the stiff Boltzmann solve

:func:`uvmsm_jax.relic`, :func:`uvmsm_jax.thermalisation`, :func:`uvmsm_jax.yield_history`, the
contour solver and the Model-2 helpers are compositions of these stages; every model-specific rule
comes from the registry (:mod:`uvmsm_jax.models`).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike

from . import boltzmann as bz
from . import constants as c
from ._indicators import TrajectoryIndicators, trajectory_indicators
from ._lazy import LazyModule
from ._programs import filter_jit
from ._widths import dm_pair_width
from .codes import Status
from .hadrons import sm_width_unit
from .models import Assessment, ModelSpec, Physics, model_spec
from .portal import VectorPortal
from .rates import (
    WIDTH_FREE_TOLERANCE,
    RateDiagnostics,
    UnitRates,
    coupled_log_rates,
    coupling_free_log_rates,
    coupling_log_shifts,
    plasma_background,
    propagator_width_effect,
    unit_log_rates,
)
from .settings import Settings

if TYPE_CHECKING:
    import diffrax
else:  # imported on first use (docs/relic.md, "Compilation")
    diffrax = LazyModule("diffrax")

__all__ = [
    "Config",
    "N_PARAMETERS",
    "PreparedPoint",
    "Regime",
    "classify",
    "collocate",
    "collocation_candidate",
    "collocation_terms",
    "configure",
    "crossing_temperature",
    "decayed_temperature",
    "first_crossing_temperature",
    "outside_model",
    "parameters",
    "point_rate_table",
    "portal_of",
    "prepare",
    "rate_table",
    "shared_rate_table",
    "shared_rate_table_error",
    "solve",
    "uses_collocation",
    "uses_shared_rate_table",
]

N_PARAMETERS = 5
"""Length of θ = (m_dm, m_v, g_sm, g_dm, T_R)."""
DECAY_COMPLETION = 100.0
"""Integrate at least until Γ_V/H ≥ this, so a decaying mediator is gone (e^{-50})."""
SAFE_THETA = (1.0, 1.0, 1e-10, 1e-10, 100.0)
"""A valid point substituted for invalid input before solving (its result is discarded)."""
LIGHTEST_DM = 1e-9
"""Smallest DM mass [GeV] (1 eV) the models implement: Ωh² = m Y s₀/ρ_c (A40) takes the DM
non-relativistic today, its momentum then ≈ T₀ ≈ 2.3e-4 eV (⟨p²⟩/2m² ≲ 1e-7 at 1 eV)."""
PERTURBATIVE_ALPHA = 1.0
"""Largest g²/4π of the portal's couplings g_sm and g_dm that the models' tree-level rates stand for."""
ULTRAVIOLET_TOLERANCE = 1e-2
"""Largest relative change of Ωh² when DM DM ↔ SM is switched off above :func:`ultraviolet_temperature`
for which the point keeps status 0 (:func:`ultraviolet_share`; above: ``ULTRAVIOLET_SENSITIVE``)."""
RELAXATION = 50.0
"""Smallest DM rate per unit τ, r_DM/H, over one e-fold in T below T_c/1.2 with which
:func:`ultraviolet_share` takes the DM as reset to equilibrium whatever happened above T_c (a deviation
decays by e^{−50} ≈ 2e-22 there) and skips the repeated solve."""
PAIR_MOMENTUM_PER_T = math.sqrt(18.0)
"""√⟨s⟩/T of two massless Maxwell–Boltzmann particles (⟨s⟩ = 2⟨E⟩² = 18T²)."""
INSTANT_FILL = 1e8
"""Fill rate per unit τ at T_R above which ``Settings(initial="zero")``, and ``"auto"`` too, starts a
species in equilibrium: from empty it is there within ~1/rate in τ (:func:`_instant_fills`)."""


class Config(eqx.Module):
    """Everything static about a relic computation (hashable; a ``jax.jit`` cache key).

    spec: the model's registry entry. physics: its reading of the settings (processes, system
    switches, M_P, δ term) with ``settings.t_reheat`` removed (T_R travels in θ).
    """

    spec: ModelSpec = eqx.field(static=True)
    physics: Physics = eqx.field(static=True)

    @property
    def settings(self) -> Settings:
        return self.physics.settings


def configure(model, settings: Settings | None = None) -> Config:
    """The :class:`Config` of ``model`` (instance, class, name or spec) under ``settings``."""
    settings = Settings() if settings is None else settings
    spec = model_spec(model)
    static_settings = eqx.tree_at(lambda s: s.t_reheat, settings, None, is_leaf=lambda x: x is None)
    return Config(spec=spec, physics=spec.physics(spec.resolve_settings(static_settings)))


@filter_jit  # on concrete input one compiled program, not one per operation (≈ 0.1 s a CLI call)
def parameters(model, settings: Settings | None = None) -> Array:
    """θ = (m_dm, m_v, g_sm, g_dm, T_R) broadcast to the batch shape, last axis of length 5.

    T_R is ``settings.t_reheat`` or the model's default (:meth:`ModelSpec.default_t_reheat`).
    """
    settings = Settings() if settings is None else settings
    portal = model.portal
    if settings.t_reheat is not None:
        t_reheat = jnp.asarray(settings.t_reheat, dtype=float)
    else:
        spec = model_spec(model)
        t_reheat = spec.default_t_reheat(portal, spec.resolve_settings(settings))
    fields = jnp.broadcast_arrays(portal.m_dm, portal.m_v, portal.g_sm, portal.g_dm, t_reheat)
    return jnp.stack(fields, axis=-1)


def portal_of(theta: Array, config: Config) -> VectorPortal:
    """The :class:`VectorPortal` of θ (first four entries) for the configured model."""
    m_dm, m_v, g_sm, g_dm = theta[0], theta[1], theta[2], theta[3]
    return VectorPortal(m_dm, m_v, g_sm, g_dm, current=config.spec.current, dm_kind=config.spec.dm_kind)


def decayed_temperature(width: Array, planck_mass: float) -> Array:
    """Temperature [GeV] at which Γ/H (H at g* = 106.75, an upper bound on g*) reaches :data:`DECAY_COMPLETION`:
    below it a particle of width Γ [GeV] has decayed (∫Γ dt = 50)."""
    h_coefficient = jnp.sqrt(jnp.pi**2 * 106.75 / 90.0) / planck_mass
    return jnp.sqrt(width / (DECAY_COMPLETION * h_coefficient))


def crossing_temperature(log_ratio: Array, taus: Array, m_ref: Array) -> Array:
    """Lowest grid temperature where ln(r/H) crosses 0 from above (A32) [GeV]; NaN if never > 0."""
    above = log_ratio > 0
    n = log_ratio.shape[0]
    last = jnp.max(jnp.where(above, jnp.arange(n), -1))
    i = jnp.clip(last, 0, n - 2)
    lo, hi = log_ratio[i], log_ratio[i + 1]
    fraction = jnp.clip(lo / jnp.where(lo - hi != 0, lo - hi, 1.0), 0.0, 1.0)
    tau = taus[i] + fraction * (taus[i + 1] - taus[i])
    tau = jnp.where(last == n - 1, taus[-1], tau)
    return jnp.where(last >= 0, m_ref * jnp.exp(-tau), jnp.nan)


def first_crossing_temperature(log_ratio: Array, taus: Array, m_ref: Array) -> Array:
    """Highest temperature at which ln(r/H) first exceeds 0 [GeV] (T_R when it starts above); NaN if never."""
    above = log_ratio > 0
    i = jnp.argmax(above)
    j = jnp.maximum(i - 1, 0)
    lo, hi = log_ratio[j], log_ratio[i]
    fraction = jnp.clip(-lo / jnp.where(hi - lo != 0, hi - lo, 1.0), 0.0, 1.0)
    tau = jnp.where(i == 0, taus[0], taus[j] + fraction * (taus[i] - taus[j]))
    return jnp.where(jnp.any(above), m_ref * jnp.exp(-tau), jnp.nan)


class PreparedPoint(eqx.Module):
    """A point's widths [GeV], integration range in τ = ln(m_ref/T), rate table and rate diagnostics.

    valid: every entry of the input θ is positive and finite (otherwise θ is :data:`SAFE_THETA`).
    diagnostics: ln(r/H) of (A30) for each process on the τ grid ``taus``.
    coupling_free: the table of the columns without couplings and widths
    (:func:`~uvmsm_jax.rates.coupling_free_log_rates`), which with ``log_shifts``
    (:func:`~uvmsm_jax.rates.coupling_log_shifts`, (N_COLUMNS,)) gives every column of ``table`` but k_a.
    """

    valid: Array
    theta: Array
    m_ref: Array
    width_sm: Array
    width_dm: Array
    tau_start: Array
    tau_end: Array
    table: bz.RateTable
    taus: Array
    diagnostics: RateDiagnostics
    coupling_free: bz.RateTable
    log_shifts: Array


class _Range(eqx.Module):
    """A point's validated θ, portal, widths [GeV], m_ref [GeV] and τ range; ``tau_end_masses``: the
    end set by x_end alone, ln(m_ref x_end/min(m_dm, m_v)) (it depends on the masses only);
    ``range_coupling_free``: τ_end is that end (the mediator has decayed by then)."""

    valid: Array
    theta: Array
    portal: VectorPortal
    width_sm: Array
    width_dm: Array
    m_ref: Array
    tau_start: Array
    tau_end: Array
    tau_end_masses: Array
    range_coupling_free: Array


def _integration_range(theta: Array, config: Config) -> _Range:
    physics, spec = config.physics, config.spec
    settings = physics.settings
    valid = jnp.all(jnp.isfinite(theta) & (theta > 0))
    theta = jnp.where(valid, theta, jnp.asarray(SAFE_THETA))
    portal = portal_of(theta, config)
    width_sm = portal.g_sm**2 * sm_width_unit(portal.m_v, portal.current, settings).total
    width_dm = dm_pair_width(portal)
    m_ref = spec.reference_mass(portal)
    t_end_masses = jnp.minimum(portal.m_dm, portal.m_v) / settings.x_end
    t_end, range_coupling_free = t_end_masses, jnp.asarray(True)
    if physics.processes.decays:  # until the mediator has decayed: Γ/H(g* ≤ 106.75) ≥ 100
        t_decayed = decayed_temperature(width_sm + width_dm, physics.planck_mass)
        range_coupling_free = t_decayed >= t_end_masses
        # a mediator without a decay channel never decays (Status.STABLE_MEDIATOR): the masses' end
        t_end = jnp.where(t_decayed > 0, jnp.minimum(t_end_masses, t_decayed), t_end_masses)
    return _Range(
        valid=valid,
        theta=theta,
        portal=portal,
        width_sm=width_sm,
        width_dm=width_dm,
        m_ref=m_ref,
        tau_start=jnp.log(m_ref / theta[4]),
        tau_end=jnp.log(m_ref / t_end),
        tau_end_masses=jnp.log(m_ref / t_end_masses),
        range_coupling_free=range_coupling_free,
    )


def _tabulate_unit_rates(
    r: _Range, config: Config, propagator: tuple[Array, Array, Array], tau_end: Array
) -> UnitRates:
    """The :class:`~uvmsm_jax.rates.UnitRates` of the point's masses on the τ grid from r.tau_start to
    ``tau_end`` (arrays of n_grid)."""
    physics = config.physics
    settings = physics.settings
    width_sm_unit = sm_width_unit(r.portal.m_v, r.portal.current, settings).total
    return unit_log_rates(
        r.portal,
        settings,
        physics.processes,
        physics.planck_mass,
        physics.entropy_derivative,
        width_sm_unit,
        propagator,
        r.m_ref * jnp.exp(-jnp.linspace(r.tau_start, tau_end, settings.n_grid)),
        physics.g_s_equals_g_rho,
    )


def rate_table(theta: Array, config: Config, shared: ArrayLike) -> UnitRates:
    """θ's coupling-free rate table: its masses' shared table where ``shared``
    (:func:`shared_rate_table`), else its own (:func:`point_rate_table`). ``shared`` is a bool that may
    be traced, so that one compiled program tabulates both kinds (docs/relic.md, "Shared rate tables")."""
    r = _integration_range(theta, config)
    g_sm, g_dm, width = (jnp.where(shared, 0.0, x) for x in (r.portal.g_sm, r.portal.g_dm, r.width_sm + r.width_dm))
    return _tabulate_unit_rates(r, config, (g_sm, g_dm, width), jnp.where(shared, r.tau_end_masses, r.tau_end))


def point_rate_table(theta: Array, config: Config) -> UnitRates:
    """The point's own coupling-free rate table: its masses' rates at unit couplings on its own τ grid,
    with its own width in σ_a's propagator below the pole (exact for θ; docs/equations.md A.5.1)."""
    return rate_table(theta, config, False)


def shared_rate_table(theta: Array, config: Config) -> UnitRates:
    """The coupling-free rate table of θ's masses and T_R (docs/equations.md A.5.1): the rates at unit
    couplings with a width-free propagator on the τ grid that ends at min(m_dm, m_v)/x_end. One table
    serves every coupling for which :func:`uses_shared_rate_table` holds; θ's couplings enter nothing."""
    return rate_table(theta, config, True)


def shared_rate_table_error(theta: Array, config: Config) -> Array:
    """Upper bound on the relative change of any rate coefficient when :func:`shared_rate_table` stands
    in for θ's own (:func:`point_rate_table`): the width in σ_a's propagator below the pole
    (:func:`~uvmsm_jax.rates.propagator_width_effect`; 0 without annihilation), and ∞ where it cannot
    stand in at all (θ invalid, or its τ range depends on the couplings)."""
    r = _integration_range(theta, config)
    if not config.physics.processes.annihilation:
        effect = jnp.zeros_like(r.m_ref)
    else:
        effect = propagator_width_effect(r.portal, config.settings, r.width_sm + r.width_dm)
    return jnp.where(r.valid & r.range_coupling_free, effect, jnp.inf)


def uses_shared_rate_table(theta: Array, config: Config) -> Array:
    """Whether :func:`shared_rate_table` gives θ its exact rate table (bool): θ is valid, its τ range
    does not depend on the couplings, and the width in σ_a's propagator below the pole changes no rate
    by more than :data:`~uvmsm_jax.rates.WIDTH_FREE_TOLERANCE` (:func:`shared_rate_table_error`)."""
    return shared_rate_table_error(theta, config) <= WIDTH_FREE_TOLERANCE


def prepare(theta: Array, config: Config, rates: UnitRates | None = None) -> PreparedPoint:
    """Widths, integration range and the tabulated rate coefficients of one point θ.

    The coupling-free ``rates`` on the point's τ grid — its own (:func:`point_rate_table`, the
    default) or its masses' shared table (:func:`shared_rate_table`; only where
    :func:`uses_shared_rate_table`) — with the couplings added (:func:`~uvmsm_jax.rates.coupled_log_rates`).
    """
    r = _integration_range(theta, config)
    portal = r.portal
    rates = point_rate_table(theta, config) if rates is None else rates
    taus = jnp.linspace(r.tau_start, r.tau_end, config.settings.n_grid)
    physics = config.physics
    processes = physics.processes
    values, diagnostics = coupled_log_rates(rates, portal, processes, r.width_sm, r.width_dm)
    analytic = bz.AnalyticPart(
        background=plasma_background(physics.settings, physics.entropy_derivative, r.m_ref, physics.g_s_equals_g_rho),
        exponents=bz.boltzmann_energies(portal.m_dm, portal.m_v) / r.m_ref,
    )
    return PreparedPoint(
        valid=r.valid,
        theta=r.theta,
        m_ref=r.m_ref,
        width_sm=r.width_sm,
        width_dm=r.width_dm,
        tau_start=r.tau_start,
        tau_end=r.tau_end,
        table=bz.interpolant(values, taus, analytic),
        taus=taus,
        diagnostics=diagnostics,
        coupling_free=bz.interpolant(coupling_free_log_rates(rates, portal, processes), taus, analytic),
        log_shifts=coupling_log_shifts(portal, processes, r.width_sm, r.width_dm),
    )


class Regime(eqx.Module):
    """Thermal history of a point without the ODE (A30)–(A33), (B21)–(B22).

    log_dm_rate_over_h, log_mediator_rate_over_h: ln(r/H) on the τ grid entering the criteria.
    dm_thermalised, mediator_thermalised: bool. mechanism: :class:`~uvmsm_jax.codes.Mechanism` index.
    t_dec_dm [GeV], x_dec: DM decoupling (last r_DM = H crossing, (A32)) and M_DM/T_dec (NaN if the DM
    never thermalises). t_therm_dm: first r_DM = H crossing. t_dec_mediator, t_therm_mediator: the
    same for the mediator rate (t_dec_mediator NaN unless the mediator thermalised).
    """

    log_dm_rate_over_h: Array
    log_mediator_rate_over_h: Array
    dm_thermalised: Array
    mediator_thermalised: Array
    t_dec_dm: Array
    x_dec: Array
    t_therm_dm: Array
    t_dec_mediator: Array
    t_therm_mediator: Array
    mechanism: Array


def classify(prepared: PreparedPoint, config: Config) -> Regime:
    """The one classifier: thermalisation criteria, decoupling temperatures and mechanism."""
    physics, spec = config.physics, config.spec
    p = prepared
    portal = portal_of(p.theta, config)
    d = p.diagnostics
    # 2→2 rates over the whole history; (inverse) decays only while T ≥ M_V (afterwards Γ/H grows
    # for any decaying particle without thermalising anything).
    temperatures = p.m_ref * jnp.exp(-p.taus)
    decays_count = physics.processes.decays & (temperatures >= portal.m_v)
    log_rd = jnp.where(decays_count, d.log_rd_over_h, bz.LOG_ZERO)
    log_mediator_rate = jnp.logaddexp(d.log_rb_over_h, log_rd)
    mediator_thermal = spec.mediator_thermalised(log_mediator_rate, p.width_sm, portal, physics)
    log_rc = jnp.where(mediator_thermal, d.log_rc_over_h, bz.LOG_ZERO)
    log_dm_rate = jnp.logaddexp(d.log_ra_over_h, log_rc)
    dm_thermal = jnp.max(log_dm_rate) > 0
    t_dec = crossing_temperature(log_dm_rate, p.taus, p.m_ref)
    x_dec = portal.m_dm / t_dec
    return Regime(
        log_dm_rate_over_h=log_dm_rate,
        log_mediator_rate_over_h=log_mediator_rate,
        dm_thermalised=dm_thermal,
        mediator_thermalised=mediator_thermal,
        t_dec_dm=t_dec,
        x_dec=x_dec,
        t_therm_dm=first_crossing_temperature(log_dm_rate, p.taus, p.m_ref),
        t_dec_mediator=jnp.where(mediator_thermal, crossing_temperature(log_mediator_rate, p.taus, p.m_ref), jnp.nan),
        t_therm_mediator=first_crossing_temperature(log_mediator_rate, p.taus, p.m_ref),
        mechanism=spec.mechanism(dm_thermal, mediator_thermal, x_dec, portal),
    )


class Outcome(eqx.Module):
    """Ωh² and the model's assessment of one solved point (the fields :func:`solve` and
    :func:`collocate` share).

    omega_h2, yield_dm, yield_mediator: NaN where ``status`` flags a failure. status: a
    :class:`~uvmsm_jax.codes.Status` code. mechanism, dm_thermalised, mediator_thermalised: the
    model's :class:`~uvmsm_jax.models.Assessment` (from the solution where the model reads it, else
    the :class:`Regime`'s).
    """

    omega_h2: Array
    yield_dm: Array
    yield_mediator: Array
    status: Array
    mechanism: Array
    dm_thermalised: Array
    mediator_thermalised: Array


def outside_model(theta: Array, config: Config) -> Array:
    """Whether θ = (m_dm, m_v, g_sm, g_dm, T_R) lies outside the physics the configured model implements
    (:attr:`~uvmsm_jax.codes.Status.OUTSIDE_MODEL`): m_dm < :data:`LIGHTEST_DM`, g²/4π >
    :data:`PERTURBATIVE_ALPHA` for g_sm or g_dm, g_sm ≥ the model's
    :attr:`~uvmsm_jax.models.ModelSpec.largest_sm_coupling`, or m_v, or 2m_dm where DM DM ↔ SM is
    solved, above its :attr:`~uvmsm_jax.models.ModelSpec.largest_sm_momentum`."""
    spec = config.spec
    couplings = theta[..., 2:4]
    non_perturbative = jnp.any(couplings**2 > 4.0 * jnp.pi * PERTURBATIVE_ALPHA, axis=-1)
    momentum = theta[..., 1]
    if config.physics.processes.annihilation:
        momentum = jnp.maximum(momentum, 2.0 * theta[..., 0])
    return (
        (theta[..., 0] < LIGHTEST_DM)
        | non_perturbative
        | (theta[..., 2] >= spec.largest_sm_coupling)
        | (momentum > spec.largest_sm_momentum)
    )


def ultraviolet_temperature(config: Config) -> float | None:
    """T_c [GeV] above which the thermal √s of DM DM ↔ SM, ≈ :data:`PAIR_MOMENTUM_PER_T`·T, exceeds the
    model's :attr:`~uvmsm_jax.models.ModelSpec.largest_sm_momentum` (4.7 GeV for the dark photon); None
    where the model has no such bound or does not solve DM DM ↔ SM (docs/equations.md K46)."""
    largest = config.spec.largest_sm_momentum
    if not (config.physics.processes.annihilation and math.isfinite(largest)):
        return None
    return largest / PAIR_MOMENTUM_PER_T


def ultraviolet_share(
    prepared: PreparedPoint,
    regime: Regime,
    config: Config,
    inputs: OdeInputs,
    y_dm: Array,
    solved: Array,
) -> tuple[Array, Array] | None:
    """How much the DM yield ``y_dm`` of :func:`solve` rests on DM DM ↔ SM above
    :func:`ultraviolet_temperature` T_c, where the model's SM couplings do not hold: |ΔY|/Y when the
    solve is repeated with k_a cut off above T_c (:func:`~uvmsm_jax.boltzmann.with_ultraviolet_cut`),
    and the repeated solve's diffrax result. None for a model without the bound. ``inputs``: the
    point's :class:`OdeInputs`; ``solved``: the point's status so far is OK.

    The repeat takes no step (share 0) where it cannot change the answer: T_R ≤ T_c, a status already
    set, no DM, or a DM that DM DM ↔ SM and DM DM ↔ V V hold in equilibrium at r_DM/H ≥
    :data:`RELAXATION` throughout T_c/(1.2e) ≤ T ≤ T_c/1.2, below the cut's edge (the regime's rate,
    (A30)), which resets it whatever happened above. The check decides a status only: no derivative
    flows through it (docs/equations.md K46)."""
    t_cut = ultraviolet_temperature(config)
    if t_cut is None:
        return None
    p = prepared
    tau_cut = jnp.log(p.m_ref / t_cut)
    window = (p.taus >= tau_cut + math.log(1.2)) & (p.taus <= tau_cut + math.log(1.2) + 1.0)
    relaxed = jnp.all(jnp.where(window, regime.log_dm_rate_over_h, jnp.inf) >= math.log(RELAXATION))
    needed = (p.tau_start < tau_cut) & solved & (y_dm != 0) & ~(relaxed & jnp.any(window))
    table, inputs = jax.lax.stop_gradient(
        (bz.with_ultraviolet_cut(p.table, (bz.LOG_K_A, bz.LOG_K_A_SHIFT), tau_cut), inputs)
    )
    ode = _integrate(table, config, inputs, jnp.where(needed, p.tau_start, p.tau_end), p.tau_end)
    assert ode.ys is not None and ode.ts is not None
    y_cut, _ = bz.yields(table(ode.ts[-1]), ode.ys[-1], inputs.adiabatic)
    y_dm = jax.lax.stop_gradient(y_dm)
    share = jnp.where(needed, jnp.abs(y_cut - y_dm) / jnp.where(needed, jnp.abs(y_dm), 1.0), 0.0)
    return share, ode.result


def _outcome(
    prepared: PreparedPoint,
    config: Config,
    y_end: tuple[Array, Array],
    assessment: Assessment,
    ultraviolet: tuple[Array, Array] | None = None,
) -> dict:
    """The :class:`Outcome` fields of final yields ``y_end`` = (Y_DM, Y_V) and the model's
    ``assessment`` of the solve (:meth:`~uvmsm_jax.models.ModelSpec.assess`): Ωh² (A40), NaN where the
    status flags a failure. ``ultraviolet``: :func:`ultraviolet_share`'s (share, diffrax result), where
    the model has it."""
    p = prepared
    y_dm, y_v = y_end
    status = assessment.status
    if ultraviolet is not None:  # the check's own solve failing leaves the point unchecked
        share, result = ultraviolet
        check = jnp.where(share > ULTRAVIOLET_TOLERANCE, Status.ULTRAVIOLET_SENSITIVE, solver_status_of(result))
        status = jnp.where(status == Status.OK, check, status)
    # no DM produced at all: none of the model's processes reaches it from the SM at this point
    status = jnp.where((status == Status.OK) & (y_dm == 0), Status.NO_DM_CHANNEL, status)
    if config.physics.processes.decays:
        status = jnp.where(p.width_sm + p.width_dm > 0, status, Status.STABLE_MEDIATOR)
    status = jnp.where(outside_model(p.theta, config), Status.OUTSIDE_MODEL, status)
    status = jnp.where(p.valid, status, Status.INVALID_INPUT)
    failed = (status != Status.OK) & (status != Status.NO_DM_CHANNEL)
    return {
        "omega_h2": jnp.where(failed, jnp.nan, c.OMEGA_H2_PER_MASS_YIELD * p.theta[0] * y_dm),
        "yield_dm": jnp.where(failed, jnp.nan, y_dm),
        "yield_mediator": jnp.where(failed, jnp.nan, y_v),
        "status": status,
        "mechanism": assessment.mechanism,
        "dm_thermalised": assessment.dm_thermalised,
        "mediator_thermalised": assessment.mediator_thermalised,
    }


class Solution(Outcome):
    """Result of :func:`solve` for one point: the :class:`Outcome`, and indicators:
    :class:`~uvmsm_jax._indicators.TrajectoryIndicators` of the solution (at every accepted step), or
    None for a model that does not read them; ode: the diffrax solution (ts and ys = (Y_DM, Y_V) at
    the saved τ: ``save_taus`` if given, else τ_end).
    """

    indicators: TrajectoryIndicators | None
    ode: diffrax.Solution


def solver_status_of(result: Array) -> Array:
    """The :class:`~uvmsm_jax.codes.Status` of a diffrax result: OK, MAX_STEPS or SOLVER_FAILED."""
    return jnp.where(
        result == diffrax.RESULTS.successful,
        Status.OK,
        jnp.where(result == diffrax.RESULTS.max_steps_reached, Status.MAX_STEPS, Status.SOLVER_FAILED),
    )


def _instant_fills(row: Array, switches: bz.SystemSwitches) -> Array:
    """Which species an empty start at T_R would fill to equilibrium within ~1/:data:`INSTANT_FILL` in
    τ (bool (DM, mediator)), from the solve's own rate coefficients on the table's first ``row``
    (N_COLUMNS,): each species from the SM, then one from the other, filled, by its
    :func:`~uvmsm_jax.boltzmann.equilibrium_sources` over its Y_eq (a rate per unit τ, dY/dτ at Y = 0
    over Y_eq). The fill from empty is Y_eq tanh(rate·Δτ).

    Or both, where the dark sector ignites: seeded by the SM at r_s per unit τ (the faster species'
    rate), it multiplies itself through V → DM DM (d_X per V) and DM DM → V V (r_c = k_c Y_X,eq per DM
    at equilibrium), each cycle one V into two: while the decays keep up, dN/dτ ≈ r_s Y_eq + r_c N²/Y_eq,
    which blows up at τ ≈ π/(2√(r_s r_c)), and equilibrium follows within ~1/r, r = min(d_X, r_c).
    Both start in equilibrium where r > :data:`INSTANT_FILL` and r_s r > INSTANT_FILL (ignition within
    ~1e-4 in τ, at T_R's rates, and equilibrium ~1e-8 after): from empty the blow-up outran τ's
    resolution (steps of 2e-14) and the solve stalled at ``max_steps``; after ignition both starts
    are at the equilibrium that the rates ≥ r hold, so the result is the same."""
    sources = bz.equilibrium_sources(row, switches)
    rates = sources / jnp.exp(jnp.stack([row[bz.LOG_Y_DM_EQ], row[bz.LOG_Y_V_EQ]]))[:, None]
    from_sm, from_other = rates[:, 0] > INSTANT_FILL, rates[:, 1] > INSTANT_FILL
    if switches.reduced:  # the reduced system keeps Y_V at its start
        return jnp.stack([from_sm[0], jnp.asarray(False)])
    multiplication = jnp.exp(jnp.minimum(row[bz.LOG_D_DM], row[bz.LOG_K_C] + row[bz.LOG_Y_DM_EQ]))  # r
    ignites = (multiplication > INSTANT_FILL) & (jnp.max(rates[:, 0]) * multiplication > INSTANT_FILL)
    return from_sm | (from_sm[::-1] & from_other) | ignites


def _initial_yields(prepared: PreparedPoint, regime: Regime, config: Config) -> tuple[Array, Array]:
    """(Y_X, Y_V) at T_R by ``Settings.initial`` (A39, A.6), and the equilibrium yields there.

    ``"auto"``: a species starts in equilibrium where its rate exceeds H at T_R, or where the other
    species does and DM DM ↔ V V runs faster than H per particle of this one (r_c for the DM,
    r_c Y_X,eq/Y_V,eq by detailed balance; (A39)). The conversion fills an empty species within
    ~H/r_c, which at r_c/H ~ 1e12 is below the resolution of τ at T_R: the solve stalled there until
    ``max_steps``. Also, as for ``"zero"``, a species that the solve's own rates fill within
    ~1/:data:`INSTANT_FILL` in τ: the classifier counts the mediator's (inverse) decays only while
    T ≥ M_V, so with T_R below M_V an empty A′ filled at ~1e15 per unit τ stalled the solve.
    ``"zero"``: empty, but for a species that the solve's own rates fill within
    ~1/:data:`INSTANT_FILL` in τ (:func:`_instant_fills`; freeze-out at g_B−L ≳ 0.05 stalled so)."""
    settings = config.settings
    columns = prepared.table.values
    y_eq0 = jnp.exp(jnp.stack([columns[0, bz.LOG_Y_DM_EQ], columns[0, bz.LOG_Y_V_EQ]]))
    if settings.initial == "zero":
        start_in_equilibrium = _instant_fills(columns[0], config.physics.system)
    elif settings.initial == "equilibrium":
        start_in_equilibrium = jnp.array([True, True])
    else:
        dm_start = regime.log_dm_rate_over_h[0] > 0
        mediator_start = regime.log_mediator_rate_over_h[0] > 0
        if not config.physics.system.reduced:  # the reduced system keeps Y_V at its start
            log_per_dm = prepared.diagnostics.log_rc_over_h[0]
            log_per_mediator = log_per_dm + columns[0, bz.LOG_Y_DM_EQ] - columns[0, bz.LOG_Y_V_EQ]
            dm_start, mediator_start = (
                dm_start | (mediator_start & (log_per_dm > 0)),
                mediator_start | (dm_start & (log_per_mediator > 0)),
            )
        start_in_equilibrium = jnp.stack([dm_start, mediator_start]) | _instant_fills(columns[0], config.physics.system)
    return jnp.where(start_in_equilibrium, y_eq0, 0.0), y_eq0


class OdeInputs(NamedTuple):
    """What :func:`solve` hands :func:`~uvmsm_jax.boltzmann.solve` besides the table and the τ range:
    the initial ``state`` in the state variables (A39, A.6; (N, 0) in the adiabatic form (H13′)), the
    ``conversion_weight``, whether the ``adiabatic`` form is solved (bool) and the absolute tolerances
    ``atol`` of the two yields (dimensionless)."""

    state: Array
    conversion_weight: Array
    adiabatic: Array
    atol: Array


def _ode_inputs(p: PreparedPoint, regime: Regime, config: Config) -> OdeInputs:
    """The point's :class:`OdeInputs`."""
    y0, y_eq0 = _initial_yields(p, regime, config)
    # Absolute tolerances, a fraction settings.atol of each yield's scale min(Y_eq(T_R), production
    # estimate); the mediator's never below the DM's (its error reaches the DM only through its decays
    # and conversions). A tolerance, not physics: parameter derivatives stay out of the step control.
    yield_scale = jnp.minimum(y_eq0, bz.production_estimates(p.table, p.taus, config.physics.system))
    yield_scale = yield_scale.at[1].max(yield_scale[0])
    # A DM that decouples from equilibrium ends near Y_eq at T_dec (A32), at strong annihilation far
    # below that scale: its tolerance follows it, so that the final yield is resolved to rtol.
    log_y_dec = jnp.interp(jnp.log(p.m_ref / regime.t_dec_dm), p.taus, p.table.values[:, bz.LOG_Y_DM_EQ])
    y_dec = jnp.where(regime.dm_thermalised & jnp.isfinite(log_y_dec), jnp.exp(log_y_dec), jnp.inf)
    yield_scale = yield_scale.at[0].min(y_dec)
    atol = jax.lax.stop_gradient(jnp.maximum(config.settings.atol * yield_scale, 1e-300))
    conversion_weight = jnp.where(regime.mediator_thermalised, 1.0, 0.0)
    adiabatic = bz.eliminates_mediator(p.table, config.physics.system)
    state0 = jnp.where(adiabatic, jnp.stack([y0[0] + 2.0 * y0[1], 0.0]), y0)
    return OdeInputs(state0, conversion_weight, adiabatic, atol)


def _integrate(
    table: bz.RateTable,
    config: Config,
    inputs: OdeInputs,
    tau_start: Array,
    tau_end: Array,
    save_taus: Array | None = None,
    save_steps: bool = False,
) -> diffrax.Solution:
    """:func:`~uvmsm_jax.boltzmann.solve` of ``table`` from ``tau_start`` to ``tau_end`` with the
    point's ``inputs`` and the configured tolerances, step limit and stage root finder."""
    settings = config.settings
    return bz.solve(
        table,
        config.physics.system,
        inputs.conversion_weight,
        inputs.adiabatic,
        inputs.state,
        tau_start,
        tau_end,
        settings.rtol,
        inputs.atol,
        settings.max_steps,
        save_taus,
        save_steps=save_steps,
        stage_jacobian=settings.stage_jacobian,
    )


def solve(prepared: PreparedPoint, regime: Regime, config: Config, save_taus: Array | None = None) -> Solution:
    """Initial conditions (A39, A.6), the stiff solve of (A36)–(A37) / (H12)–(H13), Ωh² (A40) and the
    model's assessment of one point."""
    spec = config.spec
    p = prepared
    inputs = _ode_inputs(p, regime, config)
    adiabatic = inputs.adiabatic
    # A model that reads the solution gets it at every accepted step.
    trajectory = spec.uses_trajectory(config.physics)
    ode = _integrate(p.table, config, inputs, p.tau_start, p.tau_end, save_taus, trajectory)
    assert ode.ys is not None and ode.ts is not None  # bz.solve always saves (t1, or the save_taus)
    (ts, states), steps = ((ode.ts[0], ode.ys[0]), (ode.ts[1], ode.ys[1])) if trajectory else ((ode.ts, ode.ys), None)
    indicators = None
    if steps is not None:
        step_taus, step_states = steps
        done = jnp.isfinite(step_taus)
        step_taus = jnp.where(done, step_taus, p.tau_end)
        complete = ode.result == diffrax.RESULTS.successful
        indicators = trajectory_indicators(
            p.table, step_taus, step_states, adiabatic, done, complete, p.m_ref, p.theta[1]
        )
    ys = jnp.stack(bz.yields(jax.vmap(p.table)(ts), states, adiabatic), axis=-1)
    ode = eqx.tree_at(lambda o: (o.ts, o.ys), ode, (ts, ys))
    assessment = spec.assess(solver_status_of(ode.result), regime, indicators, p.width_dm, config.physics)
    ultraviolet = ultraviolet_share(p, regime, config, inputs, ode.ys[-1, 0], assessment.status == Status.OK)
    return Solution(
        **_outcome(p, config, (ode.ys[-1, 0], ode.ys[-1, 1]), assessment, ultraviolet),
        indicators=indicators,
        ode=ode,
    )


COLLOCATION_SUBDIVISIONS = (4, 2)
"""Sub-intervals per table interval of :func:`collocate`'s solution and of its check grid."""
NEWTON_TOLERANCE = 1e-6
"""Largest |ΔY_DM|/Y_DM in the last quasi-linearisation sweep for which :func:`collocate` accepts a point."""
GRID_TOLERANCE = 1e-5
"""Largest |Y_DM(check grid)/Y_DM − 1| for which :func:`collocate` accepts a point."""


class CollocatedSolution(Outcome):
    """Result of :func:`collocate` for one point: the :class:`Outcome`, and accepted: whether the
    collocation stands for the ODE at this point."""

    accepted: Array


def uses_collocation(config: Config) -> bool:
    """Whether :func:`collocate` applies to the configured model at all: the two-yield system (not the
    reduced one) and a model that does not read its labels off the solution ((H14)–(H18))."""
    return not config.physics.system.reduced and not config.spec.uses_trajectory(config.physics)


def collocation_candidate(prepared: PreparedPoint, regime: Regime, config: Config) -> Array:
    """Whether :func:`collocate` can be accepted at all (bool): a valid point whose DM does not
    thermalise by (A31) — where it does, the quadratic terms are no small correction and the Newton
    check fails — and which is not solved in the adiabatic form (H13′)."""
    return prepared.valid & ~regime.dm_thermalised & ~bz.eliminates_mediator(prepared.table, config.physics.system)


def collocation_terms(prepared: PreparedPoint) -> tuple[bz.CollocationTerms, bz.CollocationTerms]:
    """The :class:`~uvmsm_jax.boltzmann.CollocationTerms` of :func:`collocate`'s grid and check grid
    (:data:`COLLOCATION_SUBDIVISIONS`) from ``prepared.coupling_free``: they depend on the point's rate
    table and τ grid only, so every point that uses the same table (its masses' shared one,
    :func:`shared_rate_table`) can take those of any one of them."""
    fine, check = (bz.collocation_terms(prepared.coupling_free, n) for n in COLLOCATION_SUBDIVISIONS)
    return fine, check


def collocate(
    prepared: PreparedPoint,
    regime: Regime,
    config: Config,
    terms: tuple[bz.CollocationTerms, bz.CollocationTerms] | None = None,
) -> CollocatedSolution:
    """Ωh² of one point by collocation of the system on a fixed grid (:func:`~uvmsm_jax.boltzmann.collocate`;
    docs/relic.md, "Collocation") instead of the adaptive ODE solve, with the check that decides
    whether it may stand for :func:`solve`: a :func:`collocation_candidate`, the last
    quasi-linearisation sweep changes Y_DM by ≤ :data:`NEWTON_TOLERANCE` and the check grid agrees
    to :data:`GRID_TOLERANCE`. The check grid is solved in one sweep about the solution on the finer
    grid (:func:`~uvmsm_jax.boltzmann.on_coarser_grid`), which is at least as close to its
    fixed point as its own three sweeps from zero. Where it is not accepted the caller solves the
    ODE. ``terms``: the :func:`collocation_terms` of a point with the same rate table (default: this
    point's own)."""
    p = prepared
    y0, _ = _initial_yields(p, regime, config)
    terms = collocation_terms(p) if terms is None else terms
    (fine_terms, check_terms), (fine_grid, check_grid) = terms, COLLOCATION_SUBDIVISIONS
    fine = bz.collocate(p.table, fine_terms, p.log_shifts, config.physics.system, y0, fine_grid)
    about = bz.on_coarser_grid(fine, y0, fine_grid // check_grid)
    check = bz.collocate(p.table, check_terms, p.log_shifts, config.physics.system, y0, check_grid, about)
    y_dm = fine.y_dm
    grid_change = jnp.abs(check.y_dm - y_dm) / jnp.where(y_dm != 0, jnp.abs(y_dm), 1.0)
    accepted = (
        collocation_candidate(p, regime, config)
        & jnp.isfinite(y_dm)
        & jnp.isfinite(fine.y_v)
        & (y_dm >= 0)
        & (fine.newton_change <= NEWTON_TOLERANCE)
        & (grid_change <= GRID_TOLERANCE)
    )
    assessment = config.spec.assess(jnp.asarray(Status.OK), regime, None, p.width_dm, config.physics)
    outcome = _outcome(p, config, (y_dm, fine.y_v), assessment)
    return CollocatedSolution(**outcome, accepted=accepted)
