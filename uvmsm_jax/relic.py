"""Relic abundance of either model from the coupled Boltzmann system (docs/equations.md A.8, B.3–B.5).

:func:`relic` is the one entry point: it resolves the physics switches for the model, tabulates the
rate coefficients, solves the stiff system with diffrax, classifies the production mechanism
(docs/equations.md A.6, B.5) and returns a :class:`RelicResult`. It accepts scalar or array fields (the
batch is vmapped; an invalid point gets a status code and never disturbs its neighbours) and is
differentiable in every continuous parameter: derivatives are computed in forward mode through the
solver (exact for the discretised solution) and are exposed to both ``jax.jvp`` and ``jax.grad``.
"""

from __future__ import annotations

import functools

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from . import boltzmann as bz
from . import constants as c
from ._validation import is_concrete
from .hadrons import sm_width_unit
from .models import DarkPhotonDM, Model, Settings, UVMSM, VectorPortal, validate_model
from .rates import ProcessSwitches, log_rate_coefficients
from .thermo import degrees_of_freedom, hubble_rate
from .widths import dm_pair_width

MECHANISMS = (
    "freeze-out-relativistic",
    "freeze-out",
    "freeze-in-resonant",
    "freeze-in",
    "sequential-freeze-in",
    "thermal-mediator-decay",
)
"""Mechanism names indexed by ``RelicResult.mechanism`` (docs/equations.md A.6 for Model 1, B22 for Model 2)."""

STATUS_OK = 0
STATUS_INVALID_INPUT = 1
"""A mass, coupling or T_R is not a positive finite number (the point is not solved)."""
STATUS_SOLVER_FAILED = 2
"""diffrax reported a failure (non-finite values, failed Newton iterations)."""
STATUS_MAX_STEPS = 3
"""The ODE needed more than ``Settings.max_steps`` steps."""
STATUS_NO_DM_CHANNEL = 4
"""Model 2 with m_χ ≥ m_A′/2: A′ → χχ̄ is closed, this production mechanism gives no DM (Ω = 0)."""
STATUS_MESSAGES = {
    STATUS_OK: "ok",
    STATUS_INVALID_INPUT: "invalid input (a mass, coupling or T_R is not a positive finite number)",
    STATUS_SOLVER_FAILED: "ODE solver failed",
    STATUS_MAX_STEPS: "ODE solver reached max_steps",
    STATUS_NO_DM_CHANNEL: "mediator cannot decay to a DM pair (m_dm >= m_v/2): no production",
}

_DECAY_COMPLETION = 100.0
"""Integrate at least until Γ_V/H ≥ this, so a decaying mediator is gone (e^{-50})."""
_SAFE_THETA = (1.0, 1.0, 1e-10, 1e-10, 100.0)
"""A valid point substituted for invalid input before solving (its result is discarded)."""


class _Config(eqx.Module):
    """Everything static about a relic computation (hashable; a jit cache key)."""

    model_kind: str = eqx.field(static=True)
    settings: Settings = eqx.field(static=True)
    processes: ProcessSwitches = eqx.field(static=True)
    system: bz.SystemSwitches = eqx.field(static=True)
    planck_mass: float = eqx.field(static=True)
    entropy_derivative: bool = eqx.field(static=True)

    @property
    def current(self) -> str:
        return "b-l" if self.model_kind == "uvmsm" else "em"

    @property
    def dm_kind(self) -> str:
        return "majorana" if self.model_kind == "uvmsm" else "dirac"


def _config(model: Model, settings: Settings) -> _Config:
    """Resolve the physics switches of ``settings`` for the model (docs/equations.md A.0, A.8.1, B.3)."""
    static_settings = eqx.tree_at(lambda s: s.t_reheat, settings, None, is_leaf=lambda x: x is None)
    if isinstance(model, UVMSM):
        resonance = settings.resonance
        if resonance == "auto":
            resonance = "pole" if settings.mode == "paper" else "decay"
        decays = resonance == "decay"
        entropy_derivative = settings.entropy_derivative
        if entropy_derivative is None:
            entropy_derivative = settings.mode == "physical" and isinstance(settings.gstar, str)
        return _Config(
            model_kind="uvmsm",
            settings=static_settings,
            processes=ProcessSwitches(
                conversion=settings.include_conversion, decays=decays, pole_in_annihilation=not decays
            ),
            system=bz.SystemSwitches(reduced=settings.system == "reduced", dm_decay_depletes_mediator=True),
            planck_mass=settings.planck_mass,
            entropy_derivative=bool(entropy_derivative),
        )
    if isinstance(model, DarkPhotonDM):
        return _Config(
            model_kind="dark-photon",
            settings=static_settings,
            processes=ProcessSwitches(
                annihilation=False, mediator_annihilation=False, conversion=False, decays=True, pole_in_annihilation=False
            ),
            system=bz.SystemSwitches(
                reduced=False, dm_decay_depletes_mediator=settings.include_invisible_in_depletion
            ),
            planck_mass=c.M_PLANCK_REDUCED,  # P2: M_Pl = 1.2209e19 GeV (docs/equations.md B.3)
            entropy_derivative=bool(settings.entropy_derivative),  # P2: t = 1/(2H), δ = 0 by default
        )
    raise TypeError(f"model must be UVMSM or DarkPhotonDM, got {type(model).__name__}")


def _parameters(model: Model, settings: Settings) -> Array:
    """θ = (m_dm, m_v, g_sm, g_dm, T_R) broadcast to the batch shape, last axis of length 5."""
    portal = model.portal
    if settings.t_reheat is not None:
        t_reheat = jnp.asarray(settings.t_reheat, dtype=float)
    elif isinstance(model, UVMSM):
        t_reheat = 100.0 * jnp.maximum(portal.m_dm, portal.m_v)  # docs/equations.md A39, K13
    else:
        t_reheat = 1000.0 * portal.m_v  # docs/equations.md B18: x_R = 1e-3
    fields = jnp.broadcast_arrays(portal.m_dm, portal.m_v, portal.g_sm, portal.g_dm, t_reheat)
    return jnp.stack(fields, axis=-1)


def _reference_mass(config: _Config, portal: VectorPortal) -> Array:
    """Mass defining x = m/T: M_N₁ for Model 1 (docs/equations.md A36), m_A′ for Model 2 (B13)."""
    return portal.m_dm if config.model_kind == "uvmsm" else portal.m_v


def _crossing_temperature(log_ratio: Array, taus: Array, m_ref: Array) -> Array:
    """Lowest grid temperature where ln(r/H) crosses 0 from above (docs/equations.md A32); NaN if never > 0."""
    above = log_ratio > 0
    n = log_ratio.shape[0]
    last = jnp.max(jnp.where(above, jnp.arange(n), -1))
    i = jnp.clip(last, 0, n - 2)
    lo, hi = log_ratio[i], log_ratio[i + 1]
    fraction = jnp.clip(lo / jnp.where(lo - hi != 0, lo - hi, 1.0), 0.0, 1.0)
    tau = taus[i] + fraction * (taus[i + 1] - taus[i])
    tau = jnp.where(last == n - 1, taus[-1], tau)
    return jnp.where(last >= 0, m_ref * jnp.exp(-tau), jnp.nan)


class _Prepared(eqx.Module):
    """A point's rate table, integration range and classification (docs/equations.md A.6, B.5)."""

    valid: Array
    theta: Array
    width_dm: Array
    tau_start: Array
    tau_end: Array
    table: bz.RateTable
    taus: Array
    log_dm_rate_over_h: Array
    log_mediator_rate_over_h: Array
    dm_thermal: Array
    mediator_thermal: Array
    t_dec: Array
    x_dec: Array
    mechanism: Array


def _prepare_point(theta: Array, config: _Config) -> _Prepared:
    """Widths, integration range, tabulated rate coefficients and the regime classification."""
    settings = config.settings
    valid = jnp.all(jnp.isfinite(theta) & (theta > 0))
    theta = jnp.where(valid, theta, jnp.asarray(_SAFE_THETA))
    m_dm, m_v, g_sm, g_dm, t_reheat = theta
    portal = VectorPortal(m_dm, m_v, g_sm, g_dm, current=config.current, dm_kind=config.dm_kind)
    width_sm = g_sm**2 * sm_width_unit(m_v, config.current, settings).total
    width_dm = dm_pair_width(portal)
    width_total = width_sm + width_dm
    m_ref = _reference_mass(config, portal)

    t_end = jnp.minimum(m_dm, m_v) / settings.x_end
    if config.processes.decays:  # until the mediator has decayed: Γ/H(g* ≤ 106.75) ≥ 100
        h_coefficient = jnp.sqrt(jnp.pi**2 * 106.75 / 90.0) / config.planck_mass
        t_end = jnp.minimum(t_end, jnp.sqrt(width_total / (_DECAY_COMPLETION * h_coefficient)))
    tau_start, tau_end = jnp.log(m_ref / t_reheat), jnp.log(m_ref / t_end)

    def log_rates(tau):
        return log_rate_coefficients(
            portal, settings, config.processes, config.planck_mass, config.entropy_derivative,
            width_sm, width_dm, m_ref * jnp.exp(-tau),
        )

    table, taus, diagnostics = bz.tabulate(log_rates, tau_start, tau_end, settings.n_grid)

    # Thermalisation (A31–A33): 2→2 rates over the whole history; (inverse) decays only while
    # T ≥ M_V (afterwards Γ/H grows for any decaying particle without thermalising anything).
    temperatures = m_ref * jnp.exp(-taus)
    decays_count = config.processes.decays & (temperatures >= m_v)
    log_rd = jnp.where(decays_count, diagnostics.log_rd_over_h, bz.LOG_ZERO)
    log_mediator_rate = jnp.logaddexp(diagnostics.log_rb_over_h, log_rd)
    if config.model_kind == "uvmsm":
        mediator_thermal = jnp.max(log_mediator_rate) > 0
    else:  # Γ_vis = H(T = m_A′) defines ε_th (B21)
        g_at_m = degrees_of_freedom(settings.gstar).g_rho(m_v)
        mediator_thermal = width_sm > hubble_rate(m_v, g_at_m, config.planck_mass)
    log_rc = jnp.where(mediator_thermal, diagnostics.log_rc_over_h, bz.LOG_ZERO)
    log_dm_rate = jnp.logaddexp(diagnostics.log_ra_over_h, log_rc)
    dm_thermal = jnp.max(log_dm_rate) > 0
    t_dec = _crossing_temperature(log_dm_rate, taus, m_ref)
    x_dec = m_dm / t_dec
    if config.model_kind == "uvmsm":
        freeze_out = jnp.where(x_dec < 1.0, 0, 1)
        freeze_in = jnp.where(m_v > 2.0 * m_dm, 2, 3)
        mechanism = jnp.where(dm_thermal, freeze_out, freeze_in)
    else:
        mechanism = jnp.where(mediator_thermal, 5, 4)
    return _Prepared(
        valid=valid, theta=theta, width_dm=width_dm, tau_start=tau_start, tau_end=tau_end,
        table=table, taus=taus, log_dm_rate_over_h=log_dm_rate, log_mediator_rate_over_h=log_mediator_rate,
        dm_thermal=dm_thermal, mediator_thermal=mediator_thermal, t_dec=t_dec, x_dec=x_dec, mechanism=mechanism,
    )


def _solve_point(theta: Array, config: _Config, save_taus: Array | None = None):
    """Solve one parameter point; returns (float outputs, diffrax solution)."""
    settings = config.settings
    p = _prepare_point(theta, config)
    valid, table, taus = p.valid, p.table, p.taus
    m_dm = p.theta[0]
    columns = table.values

    # --- initial conditions (docs/equations.md A39, A.6) and solve --------------------------------
    y_eq0 = jnp.exp(jnp.stack([columns[0, bz.LOG_Y_DM_EQ], columns[0, bz.LOG_Y_V_EQ]]))
    if settings.initial == "zero":
        start_in_equilibrium = jnp.array([False, False])
    elif settings.initial == "equilibrium":
        start_in_equilibrium = jnp.array([True, True])
    else:
        start_in_equilibrium = jnp.stack([p.log_dm_rate_over_h[0] > 0, p.log_mediator_rate_over_h[0] > 0])
    y0 = jnp.where(start_in_equilibrium, y_eq0, 0.0)
    yield_scale = jnp.minimum(y_eq0[0], bz.production_estimate(table, taus))
    # a tolerance, not physics: keep parameter derivatives out of the step-size control
    atol = jax.lax.stop_gradient(jnp.maximum(settings.atol * yield_scale, 1e-300))
    adjoint = diffrax.ForwardMode()
    conversion_weight = jnp.where(p.mediator_thermal, 1.0, 0.0)
    solution = bz.solve(
        table, config.system, conversion_weight, y0, p.tau_start, p.tau_end,
        settings.rtol, atol, settings.max_steps, adjoint, save_taus,
    )
    y_dm, y_v = solution.ys[-1, 0], solution.ys[-1, 1]
    omega = c.OMEGA_H2_PER_MASS_YIELD * m_dm * y_dm

    status = jnp.where(
        solution.result == diffrax.RESULTS.successful,
        STATUS_OK,
        jnp.where(solution.result == diffrax.RESULTS.max_steps_reached, STATUS_MAX_STEPS, STATUS_SOLVER_FAILED),
    )
    if config.model_kind == "dark-photon":
        status = jnp.where((status == STATUS_OK) & (p.width_dm <= 0), STATUS_NO_DM_CHANNEL, status)
    status = jnp.where(valid, status, STATUS_INVALID_INPUT)
    failed = (status != STATUS_OK) & (status != STATUS_NO_DM_CHANNEL)
    nan = jnp.nan
    outputs = jnp.stack([
        jnp.where(failed, nan, omega),
        jnp.where(failed, nan, y_dm),
        jnp.where(failed, nan, y_v),
        jnp.where(valid, p.t_dec, nan),
        jnp.where(valid, p.x_dec, nan),
        status.astype(float),
        jnp.where(valid, p.mechanism, -1).astype(float),
        jnp.where(valid, p.dm_thermal, False).astype(float),
        jnp.where(valid, p.mediator_thermal, False).astype(float),
    ])
    return outputs, solution


@functools.partial(jax.custom_jvp, nondiff_argnums=(1,))
def _relic_outputs(theta: Array, config: _Config) -> Array:
    return _solve_point(theta, config)[0]


@_relic_outputs.defjvp
def _relic_outputs_jvp(config, primals, tangents):
    """Forward-mode Jacobian through the solver; the tangent map J·dθ is linear, so ``jax.grad``
    works by transposing it (one forward solve per parameter, exact for the discrete solution)."""
    (theta,), (theta_dot,) = primals, tangents

    def outputs_with_copy(th):
        out = _solve_point(th, config)[0]
        return out, out

    jacobian, outputs = jax.jacfwd(outputs_with_copy, has_aux=True)(theta)
    # Outputs that are undefined (NaN, e.g. T_dec of a point that never thermalised) get a zero
    # derivative row, so a zero cotangent on them cannot turn a reverse-mode gradient into NaN.
    jacobian = jnp.where(jnp.isfinite(outputs)[:, None], jacobian, 0.0)
    return outputs, jacobian @ theta_dot


CPU_BLOCK = 64
GPU_BLOCK = 4096


def default_block() -> int:
    """Points solved together in one vmapped block: 64 on CPU, 4096 when JAX's default backend is a
    GPU. Larger batches are mapped block by block, which bounds the memory (the rate tables of a
    point take ~15 MB at ``n_grid`` = 256) without changing any result."""
    try:
        backend = jax.default_backend()
    except RuntimeError:  # pragma: no cover - no backend at all
        backend = "cpu"
    return GPU_BLOCK if backend in ("gpu", "cuda", "rocm") else CPU_BLOCK


def map_blocks(fn, thetas: Array, block: int):
    """``jax.vmap(fn)(thetas)`` evaluated ``block`` points at a time (one block: a plain vmap)."""
    if thetas.shape[0] <= block:
        return jax.vmap(fn)(thetas)
    return jax.lax.map(fn, thetas, batch_size=block)


@functools.partial(jax.jit, static_argnums=(1, 2))
def _relic_batch(thetas: Array, config: _Config, block: int) -> Array:
    return map_blocks(lambda theta: _relic_outputs(theta, config), thetas, block)


def mechanism_names(mechanism):
    """Names of :data:`MECHANISMS` indices ("invalid" for −1): a str for a scalar, else an array."""
    names = np.asarray(MECHANISMS + ("invalid",))[np.asarray(mechanism)]
    return str(names) if names.ndim == 0 else names


class RelicResult(eqx.Module):
    """Result of :func:`relic` (arrays with the batch shape of the model fields).

    omega_h2: Ωh² of the DM (NaN where ``status`` flags a failure).
    yield_dm: Y_DM = n/s today (Model 2: χ + χ̄).
    yield_mediator: Y_V at the end of the integration (≈ 0 once it has decayed).
    status: 0 ok, otherwise see :data:`STATUS_MESSAGES`.
    mechanism: index into :data:`MECHANISMS`.
    dm_thermalised, mediator_thermalised: (A31), (A33) / (B21).
    t_dec [GeV], x_dec: DM decoupling temperature (A32) and M_DM/T_dec (NaN when not thermalised).
    """

    omega_h2: Array
    yield_dm: Array
    yield_mediator: Array
    status: Array
    mechanism: Array
    dm_thermalised: Array
    mediator_thermalised: Array
    t_dec: Array
    x_dec: Array

    @property
    def mechanism_name(self):
        """Mechanism name (str) for a scalar result, a NumPy array of names for a batch."""
        return mechanism_names(self.mechanism)

    def as_dict(self) -> dict:
        """JSON-ready dict of a scalar result (floats, ints, bools, strings)."""
        if np.ndim(self.omega_h2) != 0:
            raise ValueError("as_dict() needs a scalar result; index the batch first")
        return {
            "omega_h2": float(self.omega_h2),
            "yield_dm": float(self.yield_dm),
            "yield_mediator": float(self.yield_mediator),
            "mechanism": self.mechanism_name,
            "status": int(self.status),
            "status_message": STATUS_MESSAGES.get(int(self.status), "unknown"),
            "dm_thermalised": bool(self.dm_thermalised),
            "mediator_thermalised": bool(self.mediator_thermalised),
            "t_dec": None if not np.isfinite(self.t_dec) else float(self.t_dec),
            "x_dec": None if not np.isfinite(self.x_dec) else float(self.x_dec),
        }


def relic(model: Model, settings: Settings | None = None) -> RelicResult:
    """Relic abundance Ωh² of ``model`` (UVMSM or DarkPhotonDM) under ``settings``.

    Scalar concrete input is validated (``ValueError`` naming the parameter); array input is solved
    point by point with per-point ``status``. Differentiable (``jax.grad``, ``jax.jvp``, ``jax.jacfwd``)
    with respect to every model field and ``Settings.t_reheat``.
    """
    settings = Settings() if settings is None else settings
    config = _config(model, settings)
    theta = _parameters(model, settings)
    if theta.ndim == 1 and is_concrete(theta):
        validate_model(model)
    batch_shape = theta.shape[:-1]
    outputs = _relic_batch(theta.reshape(-1, 5), config, default_block()).reshape(*batch_shape, -1)
    as_int = lambda x: jax.lax.stop_gradient(x).astype(jnp.int32)  # noqa: E731
    return RelicResult(
        omega_h2=outputs[..., 0],
        yield_dm=outputs[..., 1],
        yield_mediator=outputs[..., 2],
        t_dec=outputs[..., 3],
        x_dec=outputs[..., 4],
        status=as_int(outputs[..., 5]),
        mechanism=as_int(outputs[..., 6]),
        dm_thermalised=jax.lax.stop_gradient(outputs[..., 7]) > 0.5,
        mediator_thermalised=jax.lax.stop_gradient(outputs[..., 8]) > 0.5,
    )


@functools.partial(jax.jit, static_argnums=(1, 2))
def _history_point(theta: Array, config: _Config, n_points: int):
    prepared = _prepare_point(theta, config)
    save_taus = jnp.linspace(prepared.tau_start, prepared.tau_end, n_points)
    outputs, solution = _solve_point(theta, config, save_taus)
    equilibrium = jnp.exp(jax.vmap(prepared.table)(save_taus)[:, [bz.LOG_Y_DM_EQ, bz.LOG_Y_V_EQ]])
    m_ref = _reference_mass(config, VectorPortal(*prepared.theta[:4]))
    return m_ref * jnp.exp(-save_taus), solution.ys, equilibrium, outputs[5]


def yield_history(model: Model, settings: Settings | None = None, n_points: int = 200) -> dict:
    """Yields along the solution for one scalar point (plots, checks).

    Returns NumPy arrays ``temperature`` [GeV] (from T_R down), ``yield_dm``, ``yield_mediator``,
    ``yield_dm_eq``, ``yield_mediator_eq`` (equilibrium yields as used by the solver, i.e. the
    cubic interpolant of the tabulated ln Y_eq) and the integer ``status``.
    """
    settings = Settings() if settings is None else settings
    validate_model(model)
    theta = _parameters(model, settings)
    if theta.ndim != 1:
        raise ValueError("yield_history needs scalar model fields")
    temperature, ys, eq, status = _history_point(theta, _config(model, settings), int(n_points))
    return {
        "temperature": np.asarray(temperature),
        "yield_dm": np.asarray(ys[:, 0]),
        "yield_mediator": np.asarray(ys[:, 1]),
        "yield_dm_eq": np.asarray(eq[:, 0]),
        "yield_mediator_eq": np.asarray(eq[:, 1]),
        "status": int(status),
    }
