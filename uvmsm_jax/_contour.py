"""Ωh² = target contours by gradient root finding, with every branch and IFT sensitivities (issue 6).

For each mediator mass (M_Z′ for the UνMSM, m_A′ for the dark-photon model; the DM mass tied by a
fixed ratio or fixed) :func:`contour` solves ln Ωh²(g) = ln target for the coupling g (``g_bl``;
Model 2: ``e_dark`` or ``epsilon``, the other held fixed):

1. **Brackets.** Ωh²(g) is not monotonic (freeze-in rises with g, freeze-out falls), so a coarse
   log-spaced scan in ln g (the vmapped chunk function of :func:`uvmsm_jax.scan`) brackets every sign
   change of F = ln Ωh² − ln target; local extrema of F that come close to zero without crossing
   are re-sampled more finely (twin roots a coarse step apart are not missed).
2. **Newton in ln g** (``method="newton"``, default): ``optimistix.root_find`` with
   ``optimistix.Newton`` inside each bracket (iterates clipped to it), vmapped over all brackets of
   all masses in fixed-size padded chunks (compiled once). F′ comes from forward-mode
   differentiation through the ODE solver (one solve carrying all tangents gives F and the full
   gradient ∂ ln Ω/∂ ln θ, reused for the sensitivities). What does not change with the coupling
   is computed first, once per mass (:meth:`LogOmegaObjective.held`; for :func:`uvmsm_jax.relic`
   the masses' coupling-free rate table and the table's mass and T_R derivatives), so an iterate
   costs one ODE solve; a root whose held value's error bound exceeds ``tol`` is solved again by
   forward mode through the whole objective, from the root found. Brackets where Newton does not converge
   fall back to ``optimistix.Bisection`` in ln g, then Newton again from the bisection point.
   ``method="optax"`` minimises (ln Ωh² − ln target)² with ``optax.lbfgs`` from the same start,
   for comparison (benchmarks/scan_contour.py). ``method="secant"`` needs no derivative: the
   Illinois variant of regula falsi in ln g inside each bracket, evaluated with the chunk function
   of the bracketing scan, which JAX's persistent compilation cache keeps between processes, as it
   keeps the forward-mode Newton kernel (its derivative through the solve has no host callback since
   the solve's derivative is written out, docs/relic.md "Differentiability"). With an
   ``export_cache`` (the ``uvmsm-jax`` command passes one) the held tables' program and the root
   finder are kept there, so a repeated command neither traces nor compiles them (the two compiled
   ahead on threads: a Newton phase of 17–23 s from empty caches for 200 UνMSM masses on 2 CPU
   cores, 3.1–3.8 s in a repeated command, 2.5–3 s warm in one process). A chunk of secant steps
   whose points are all at different masses (one branch's bracket still open) shares no rate table and
   runs :func:`uvmsm_jax.relic`'s per-point program, which the bracketing scan does not compile
   (6 s of the secant phase's 8 s from empty caches at 200 masses). It returns no sensitivities.
3. **Sensitivities** by the implicit-function theorem at each solution: with J = ∂ ln Ω/∂ ln θ,
   d ln g/d ln θ = −J_θ/J_g. Reported per point (keys ``"d_ln_<g>/d_ln_<x>"`` and
   ``"d_ln_omega/d_ln_<x>"``): the mediator mass at fixed ratio (or at fixed DM mass), the mass ratio
   at fixed mediator mass (``ratio`` = M_DM/M_V), the other coupling (Model 2), T_R, and
   d ln Ωh²/d ln θ for every parameter and T_R. With the default T_R (``Settings.t_reheat=None``:
   T_R = 100·max(M_DM, M_Z′) for Model 1, 1000·m_A′ for Model 2) the mass derivatives include T_R's
   dependence on the masses, exactly as :func:`uvmsm_jax.relic` defines the model; the T_R
   derivative is taken with that relation scaled, T_R → λ·T_R.

Each solution carries the mechanism of :func:`uvmsm_jax.relic` at that point and a ``status``:
0 ok, the relic status where that failed, or :attr:`~uvmsm_jax.codes.Status.CONTOUR_NOT_CONVERGED`.
Scan points with a non-zero relic status (e.g. :attr:`~uvmsm_jax.codes.Status.NEEDS_DARK_TEMPERATURE`,
where Ωh² is NaN) are never bracket ends: a sign change of F across a flagged point is not a root.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import functools
import math
import os
import sys
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ._batching import chunk_size, default_chunk, pad_rows, run_padded
from ._export import bound_compiled, store_ahead, stored_path
from ._lazy import LazyModule
from ._programs import COMPILED_AHEAD, compile_ahead, filter_jit, jit
from ._relic import OUTPUT_FIELDS, held_rate_table, outputs_with_held_table, relic, table_arrays
from ._scan import chunk_function, settings_dict, static_settings
from .codes import MECHANISMS, Status
from .models import ModelSpec, model_spec
from .pipeline import configure, parameters
from .rates import UnitRates
from .settings import Settings

if TYPE_CHECKING:
    import optimistix as optx
else:  # imported on first use (docs/relic.md, "Compilation")
    optx = LazyModule("optimistix")

__all__ = ["ContourResult", "LogOmegaObjective", "RelicObjective", "contour"]

METHODS = ("newton", "optax", "secant")
BRACKETING_BLOCKS = 16
"""Solve blocks per chunk of the bracketing scan (512 points on CPU): one chunk holds the couplings
of ~12 masses, whose rate tables are shared and whose solve blocks are full (docs/relic.md,
"At scale")."""
RATE_ELASTICITY_MARGIN = 10.0
"""|Δ ln Ωh²| per relative change of the rate coefficients assumed by :class:`RelicObjective`'s error
bound: Ωh² responds to σ_a with an elasticity of about −1 (freeze-out) to +1 (freeze-in from
annihilations), so 10 is a margin (docs/relic.md, "At scale", gives the measured differences)."""
EXTRAS = ("omega_h2", "status", "mechanism", "yield_dm", "dm_thermalised", "mediator_thermalised")
"""The per-point values an objective reports beside ln Ωh² (in this order)."""


# ---------------------------------------------------------------------------------------------
# The value-and-gradient kernel: ln Ωh² and ∂ ln Ωh²/∂(ln fields, ln T_R) from one forward solve
# ---------------------------------------------------------------------------------------------


class LogOmegaObjective(eqx.Module):
    """The function a contour solves: p ↦ (ln Ωh², extras) for one point.

    p = (ln of each model field in registry order, then s), where T_R = T_default(masses)·e^s when
    ``tie`` (no ``Settings.t_reheat``) and T_R = e^s otherwise. ``extras`` are the :data:`EXTRAS`.
    Subclass and override :meth:`__call__` to contour another function of the parameters.
    """

    spec: ModelSpec = eqx.field(static=True)
    settings: Settings = eqx.field(static=True)
    tie: bool = eqx.field(static=True)

    def __call__(self, p):
        raise NotImplementedError

    def batch(self, size: int, export_cache: str | None = None):
        """The vmapped, jitted objective for ``size`` points p (shape (size, P + 1)). ``export_cache``
        (passed only when :func:`contour` is given one): a folder in which the compiled batch may be
        kept; unused here."""
        return filter_jit(jax.vmap(self))

    @property
    def holds(self) -> bool:
        """Whether :meth:`held` holds anything (False here): then :meth:`value_and_jacobian` may be
        approximate at some p, and a root whose error bound exceeds the tolerance is solved again
        without it."""
        return False

    def held(self, p):
        """What :meth:`value_and_jacobian` reuses at every p that differs from ``p`` only in the
        unknown coupling (computed once for all brackets at the same masses); None here: nothing."""
        return None

    def value_and_jacobian(self, p, held):
        """(ln Ω, extras, J = ∂ ln Ω/∂p, error) at p, given ``held`` = :meth:`held` at p's masses;
        ``error`` ≥ 0 bounds |ln Ω − the objective's own ln Ω at p| (∞: not the objective's at all;
        with ``held`` None it must be 0). Here: forward-mode differentiation through
        :meth:`__call__` (error 0)."""
        lo, extras, jac = _kernel(p, self)
        return lo, extras, jac, jnp.asarray(0.0)


class RelicObjective(LogOmegaObjective):
    """ln Ωh² of :func:`uvmsm_jax.relic` (the default objective).

    With the default ``Settings.rate_tables="shared"`` a bracket holds its masses' coupling-free rate
    table and the table's mass and T_R derivatives (:func:`~uvmsm_jax._relic.held_rate_table`), and
    every Newton iterate solves one ODE carrying all tangents with it. The error of that value is
    :data:`RATE_ELASTICITY_MARGIN` × the bound on the relative change of the rates
    (:func:`~uvmsm_jax.pipeline.shared_rate_table_error`: the propagator width the table leaves out;
    ∞ where the table cannot stand in), so a root is kept only where it lies within the tolerance,
    and is otherwise found again by forward mode through :func:`uvmsm_jax.relic`.
    """

    def _model_and_settings(self, p):
        spec = self.spec
        n = len(spec.fields)
        model = spec.model(**{name: jnp.exp(p[i]) for i, name in enumerate(spec.fields)})
        t_reheat = parameters(model, self.settings)[..., 4] * jnp.exp(p[n]) if self.tie else jnp.exp(p[n])
        return model, dataclasses.replace(self.settings, t_reheat=t_reheat)

    def theta(self, p):
        """θ = (m_dm, m_v, g_sm, g_dm, T_R) of p (:func:`uvmsm_jax.pipeline.parameters`)."""
        return parameters(*self._model_and_settings(p))

    @property
    def holds(self) -> bool:
        return self.settings.rate_tables == "shared"

    def held(self, p):
        # as dicts of arrays (TableArrays), so that the programs that pass them can be stored
        if not self.holds:
            return None
        return tuple(table_arrays(t) for t in held_rate_table(self.theta(p), configure(self.spec, self.settings)))

    def value_and_jacobian(self, p, held):
        if held is None:
            return super().value_and_jacobian(p, held)
        theta = self.theta(p)
        table, derivatives = (UnitRates(**arrays) for arrays in held)
        outputs, jacobian, rate_error = outputs_with_held_table(
            theta, jax.jacfwd(self.theta)(p), configure(self.spec, self.settings), (table, derivatives)
        )
        column = {name: i for i, name in enumerate(OUTPUT_FIELDS)}
        omega = outputs[column["omega_h2"]]
        extras = jnp.stack([outputs[column[name]] for name in EXTRAS])
        error = RATE_ELASTICITY_MARGIN * rate_error
        return jnp.log(omega), extras, jacobian[column["omega_h2"]] / omega, error

    def __call__(self, p):
        r = relic(*self._model_and_settings(p))
        extras = jnp.stack([getattr(r, name).astype(float) for name in EXTRAS])
        return jnp.log(r.omega_h2), jax.lax.stop_gradient(extras)

    def batch(self, size: int, export_cache: str | None = None):
        """The compiled scan chunk function (shared with scans of the same chunk size and settings; its
        stages kept in ``export_cache`` when given, as :func:`uvmsm_jax.scan`'s)."""
        chunk_fn = chunk_function(self.spec.name, self.settings, not self.tie, size, export_cache)
        n = len(self.spec.fields)

        def run(p):
            out = chunk_fn(jnp.exp(p[:, : n + (0 if self.tie else 1)]))
            extras = jnp.stack([out[name].astype(float) for name in EXTRAS], axis=-1)
            return jnp.log(out["omega_h2"]), extras

        return run


def _kernel(p, objective: LogOmegaObjective):
    """(ln Ω, extras, J = ∂ ln Ω/∂p) with one forward-mode solve."""

    def f(q):
        lo, extras = objective(q)
        return lo, (lo, extras)

    jac, (lo, extras) = jax.jacfwd(f, has_aux=True)(p)
    return lo, extras, jax.lax.stop_gradient(jac)


def _differentiable_kernel(objective: LogOmegaObjective):
    """ln Ω(p, held) as a custom_jvp function whose JVP rule evaluates
    :meth:`LogOmegaObjective.value_and_jacobian` once, returning (ln Ω, extras, J, error) as primal
    outputs so that a Newton step gets F, F′ and the full gradient from a single solve (``held``
    does not change along a bracket: its tangent is ignored)."""

    # jitted so that its two calls (the primal, for optimistix's shapes, and the JVP rule) share one
    # trace: tracing a forward-mode solve is seconds. JAX keys that trace on the abstract mesh in
    # effect, which its JVP rule runs under (the empty mesh, as inside any jit) and optimistix's
    # closure conversion of the primal does not (None): the same one is set for both.
    jitted = jit(objective.value_and_jacobian)

    def value_and_jacobian(p, held):
        with jax.sharding.use_abstract_mesh(jax.sharding.AbstractMesh((), ())):
            return jitted(p, held)

    @jax.custom_jvp
    def g(p, held):
        return value_and_jacobian(p, held)

    @g.defjvp
    def g_jvp(primals, tangents):
        (p, held), (dp, _) = primals, tangents
        lo, extras, jac, error = value_and_jacobian(p, held)
        zeros = tuple(jnp.zeros_like(x) for x in (extras, jac, error))
        return (lo, extras, jac, error), (jac @ dp, *zeros)

    return g


# ---------------------------------------------------------------------------------------------
# Batched solvers (one compiled function per model, settings, unknown and chunk size)
# ---------------------------------------------------------------------------------------------


def _held_rows(p, *, objective: LogOmegaObjective):
    """:meth:`LogOmegaObjective.held` of each row of ``p``."""
    return jax.vmap(objective.held)(p)


_held_program = jit(_held_rows, static_argnames="objective")
""":func:`_held_rows` compiled (once per objective and batch size; a plain ``jax.jit``, whose lowering
states its output's shapes, :func:`_compile_root_finding_ahead`)."""


def _newton_in_bracket(objective: LogOmegaObjective, iu: int, tol: float, max_iter: int):
    """Newton in ln g (``optimistix.Newton``, iterates clipped to the bracket) for one bracket."""
    g = _differentiable_kernel(objective)

    def one(u0, lower, upper, p_other, held, ln_target):
        def fn(u, args):
            p = args.at[iu].set(u)
            lo, extras, jac, error = g(p, held)
            aux = jax.lax.stop_gradient((u, lo, extras, jac, error))
            return lo - ln_target, aux

        sol = optx.root_find(
            fn,
            optx.Newton(rtol=0.0, atol=tol),
            u0,
            args=p_other,
            has_aux=True,
            options={"lower": lower, "upper": upper},
            max_steps=max_iter,
            throw=False,
        )
        u_eval, lo, extras, jac, error = sol.aux
        return {
            "u": u_eval,
            "u_final": sol.value,
            "log_omega": lo,
            "extras": extras,
            "jacobian": jac,
            "error": error,
            "converged": sol.result == optx.RESULTS.successful,
            "steps": sol.stats["num_steps"],
        }

    return one


@functools.cache
def _bisection_function(objective: LogOmegaObjective, iu: int, tol: float, size: int):
    def one(lower, upper, sign, p_other, ln_target):
        def fn(u, args):
            lo, _ = objective(args.at[iu].set(u))
            return sign * (lo - ln_target), None

        # only to get close: Newton polishes the result
        sol = optx.root_find(
            fn,
            optx.Bisection(rtol=0.0, atol=max(tol, 1e-4), flip=False),
            0.5 * (lower + upper),
            args=p_other,
            has_aux=True,
            options={"lower": lower, "upper": upper},
            max_steps=40,
            throw=False,
        )
        return sol.value

    return filter_jit(jax.vmap(one, in_axes=(0, 0, 0, 0, None)))


def _optax_in_bracket(objective: LogOmegaObjective, iu: int, tol: float, max_iter: int):
    """L-BFGS (``optax.lbfgs``) on (ln Ωh² − ln target)² for one bracket, iterates clipped to it."""
    import optax

    g = _differentiable_kernel(objective)

    def one(u0, lower, upper, p_other, held, ln_target):
        def loss(u):
            lo, _, _, _ = g(p_other.at[iu].set(u[0]), held)
            return (lo - ln_target) ** 2

        solver = optax.lbfgs()
        value_and_grad = optax.value_and_grad_from_state(loss)

        def cond(carry):
            _, _, k, value = carry
            return (k < max_iter) & ~(value <= tol**2)

        def body(carry):
            u, state, k, _ = carry
            value, grad = value_and_grad(u, state=state)
            updates, state = solver.update(grad, state, u, value=value, grad=grad, value_fn=loss)
            u = jnp.clip(optax.apply_updates(u, updates), lower, upper)
            return u, state, k + 1, value

        u = jnp.reshape(u0, (1,))
        u, _, steps, _ = jax.lax.while_loop(cond, body, (u, solver.init(u), 0, jnp.inf))
        lo, extras, jac, error = g(p_other.at[iu].set(u[0]), held)
        return {
            "u": u[0],
            "u_final": u[0],
            "log_omega": lo,
            "extras": extras,
            "jacobian": jac,
            "error": error,
            "converged": jnp.abs(lo - ln_target) <= tol,
            "steps": steps,
        }

    return one


ROOT_FINDERS = {"newton": _newton_in_bracket, "optax": _optax_in_bracket}
"""The derivative-based root finders of :func:`contour`'s ``method``, each a builder of the function
that solves one bracket."""


def _root_finding_chunk(
    u0,
    lower,
    upper,
    p_other,
    held,
    ln_target,
    *,
    objective: LogOmegaObjective,
    method: str,
    iu: int,
    tol: float,
    max_iter: int,
):
    """``method`` (a key of :data:`ROOT_FINDERS`) in each bracket of a chunk: from ``u0`` inside
    [``lower``, ``upper``] in ln g (the unknown, column ``iu`` of p; the other columns ``p_other``),
    with each bracket's ``held`` part (:meth:`LogOmegaObjective.held`, or None)."""
    one = ROOT_FINDERS[method](objective, iu, tol, max_iter)
    return jax.vmap(one, in_axes=(0, 0, 0, 0, 0, None))(u0, lower, upper, p_other, held, ln_target)


_root_finding_program = jit(_root_finding_chunk, static_argnames=("objective", "method", "iu", "tol", "max_iter"))
""":func:`_root_finding_chunk` compiled, once per objective, method, tolerances and chunk size."""


def _illinois(evaluate, mass_index, a, b, fa, fb, tol: float, max_evaluations: int) -> dict[str, Any]:
    """Illinois (modified regula falsi) in ln g inside every bracket [a, b] at once.

    ``evaluate(mass_index, u)`` returns (F = ln Ωh² − ln target, NaN where the relic status is not 0;
    ln Ωh²; the :data:`EXTRAS`) for a batch of points (one padded chunk call per round, for every
    bracket still open). A bracket stops when |F| ≤ ``tol``, when F is not finite at the new point
    (a flagged point inside the bracket: no root is claimed) or when it has shrunk below 1e-12 in
    ln g. Returns the fields of the Newton solver's result, with ``jacobian`` None.
    """
    a, b, fa, fb = (np.array(x, dtype=float) for x in (a, b, fa, fb))
    n = a.size
    side = np.zeros(n, dtype=int)  # which end was replaced last (−1: b, +1: a)
    done = np.zeros(n, dtype=bool)
    u = np.full(n, np.nan)
    f_last = np.full(n, np.nan)
    log_omega = np.full(n, np.nan)
    extras = np.full((n, len(EXTRAS)), np.nan)
    steps = np.zeros(n, dtype=int)
    for _ in range(max(int(max_evaluations), 1)):
        act = np.flatnonzero(~done)
        if act.size == 0:
            break
        c = (fa[act] * b[act] - fb[act] * a[act]) / (fa[act] - fb[act])
        fc, lo_c, ex_c = evaluate(mass_index[act], c)
        u[act], f_last[act], log_omega[act], extras[act] = c, fc, lo_c, ex_c
        steps[act] += 1
        for k, i in enumerate(act):
            if not (np.isfinite(fc[k]) and abs(fc[k]) > tol):
                done[i] = True
                continue
            if (fc[k] < 0) == (fb[i] < 0):  # the new point replaces b; halve f(a) if b moved twice
                b[i], fb[i] = c[k], fc[k]
                fa[i] *= 0.5 if side[i] == -1 else 1.0
                side[i] = -1
            else:
                a[i], fa[i] = c[k], fc[k]
                fb[i] *= 0.5 if side[i] == 1 else 1.0
                side[i] = 1
            done[i] = abs(b[i] - a[i]) <= 1e-12
    return {
        "u": u,
        "log_omega": log_omega,
        "extras": extras,
        "jacobian": None,
        "error": np.zeros(n),
        "converged": np.isfinite(f_last) & (np.abs(f_last) <= tol),
        "steps": steps,
    }


# ---------------------------------------------------------------------------------------------
# Result
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass
class ContourResult:
    """Solutions of Ωh² = target, one entry per branch and mass (sorted by mass, then coupling).

    ``points``: dicts with the model parameters (``m_zp``, ``m_n1``, ``g_bl``; Model 2 ``m_chi``,
    ``m_ap``, ``epsilon``, ``e_dark``), ``mechanism`` (name), ``omega_h2``, ``status``, ``branch``
    (0, 1, … in increasing coupling at that mass), ``iterations`` and ``sensitivities`` (empty with
    ``method="secant"``). ``no_solution``: the masses without any root in the coupling range.
    """

    model: str
    unknown: str
    target: float
    method: str
    settings: Settings
    points: list[dict[str, Any]]
    no_solution: list[dict[str, float]]
    coupling_range: tuple[float, float]
    timings: dict[str, float]

    def __len__(self) -> int:
        return len(self.points)

    def array(self, key: str) -> np.ndarray:
        """One field of every point as an array (e.g. ``"g_bl"``, ``"omega_h2"``)."""
        return np.asarray([p[key] for p in self.points])

    def sensitivity(self, key: str) -> np.ndarray:
        return np.asarray([p["sensitivities"].get(key, np.nan) for p in self.points], dtype=float)

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape of ``uvmsm-jax contour --json``: ``{"points": [...], ...}``."""
        return {
            "points": self.points,
            "model": self.model,
            "unknown": self.unknown,
            "target": self.target,
            "method": self.method,
            "coupling_range": list(self.coupling_range),
            "no_solution": self.no_solution,
            "settings": settings_dict(self.settings),
            "timings_s": self.timings,
        }


# ---------------------------------------------------------------------------------------------
# contour()
# ---------------------------------------------------------------------------------------------


HELD_GROUP = 16
"""Root-finding chunks per group of brackets whose held parts are computed together (memory: a
group holds ≤ 16 × 64 held parts on CPU, ~40 kB each for :class:`RelicObjective`)."""


def _compile_root_finding_ahead(
    static: dict[str, Any], p_first: np.ndarray, size: int, ln_target: float, export_cache: str | None
) -> tuple[concurrent.futures.Future, concurrent.futures.Future] | None:
    """Start compiling the held part's program (:data:`_held_program`) and the root finder
    (:data:`_root_finding_program` with the keyword arguments ``static``) for chunks of ``size``
    brackets (``p_first``: the first chunk's p, padded), or None where this process has compiled both
    already (with ``export_cache``: where the held part's executable is stored there). Returns the two
    compilations (held part, root finder); with ``export_cache`` each is stored there
    (:func:`~uvmsm_jax._export.store_ahead`), for its first call to load.

    JAX traces a program holding the GIL, and XLA compiles it on about one core without it: the held
    part is traced, then compiled on a thread while the root finder is traced, and the root finder
    is compiled on a second thread while the held parts run. One after another, these four steps
    took 2.2 + 5.5 + 4.6 + 6.5 s for the UνMSM on 2 CPU cores (docs/relic.md, "At scale"). Each
    program's first call, after its compilation is done, finds it in JAX's caches (recorded in
    :data:`~uvmsm_jax._programs.COMPILED_AHEAD`, as the stages of :class:`~uvmsm_jax._relic.StagesAhead`)
    or in ``export_cache``."""
    objective = static["objective"]
    p_chunk = jnp.asarray(p_first)
    keys = (("held", objective, size), ("root finding", *sorted(static.items()), size))
    if export_cache is None:
        if all(key in COMPILED_AHEAD for key in keys):
            return None
    elif stored_path(export_cache, _held_program, (p_chunk,), {"objective": objective}).exists():
        return None  # stored by an earlier process (the root finder too, unless removed since)
    pool = concurrent.futures.ThreadPoolExecutor(2, thread_name_prefix="uvmsm-contour-compile")

    def compile_on_thread(program, lowered, key, *args, **program_static):
        if export_cache is None:
            return pool.submit(compile_ahead, lowered, key)
        return pool.submit(store_ahead, export_cache, program, lowered, *args, **program_static)

    try:
        lowered = _held_program.lower(p_chunk, objective=objective)
        held_compiled = compile_on_thread(_held_program, lowered, keys[0], p_chunk, objective=objective)
        held = jax.tree_util.tree_map(lambda s: jnp.zeros(s.shape, s.dtype), lowered.out_info)
        arguments = (*(jnp.zeros(size),) * 3, jnp.zeros_like(p_chunk), held, jnp.asarray(ln_target))
        lowered = _root_finding_program.lower(*arguments, **static)
        solve_compiled = compile_on_thread(_root_finding_program, lowered, keys[1], *arguments, **static)
    finally:
        pool.shutdown(wait=False)
    return held_compiled, solve_compiled


def _root_finder(static: dict[str, Any], size: int, ln_target: float, export_cache: str | None):
    """``find(u0, lower, upper, p_other, hold)``: the root finder (:data:`_root_finding_program` with
    the keyword arguments ``static``: objective, method, iu, tol, max_iter) over all brackets in padded
    chunks of ``size``. With ``hold``, :meth:`LogOmegaObjective.held` is computed once per distinct p
    apart from the unknown (the two branches at one mass share it), a group of :data:`HELD_GROUP`
    chunks at a time; without, every bracket gets ``held`` None.

    With ``export_cache`` (a folder) and an objective of this module (:class:`RelicObjective`), both
    programs run from executables kept there (:func:`~uvmsm_jax._export.call_compiled`): a later process loads
    them instead of tracing and compiling (docs/relic.md, "Compilation"). Either way both are
    compiled ahead when missing (:func:`_compile_root_finding_ahead`). A user's objective is never
    stored: its code is not part of the file's key."""
    objective = static["objective"]
    exported = export_cache if type(objective).__module__ == __name__ else None
    held_function = bound_compiled(exported, _held_program, objective=objective)
    solve = bound_compiled(exported, _root_finding_program, **static)

    def find(u0, lower, upper, p_other, hold: bool):
        pieces = []
        ahead = None
        for start in range(0, u0.size, HELD_GROUP * size):
            rows = slice(start, start + HELD_GROUP * size)
            held = None
            if hold:
                key = p_other[rows].copy()
                key[:, static["iu"]] = 0.0
                _, first, which = np.unique(key, axis=0, return_index=True, return_inverse=True)
                if start == 0:
                    p_first = pad_rows(p_other[rows][first][:size], size)
                    ahead = _compile_root_finding_ahead(static, p_first, size, ln_target, exported)
                    if ahead is not None:
                        ahead[0].result()
                held = run_padded(held_function, size, [p_other[rows][first]])
                held = jax.tree_util.tree_map(functools.partial(np.take, indices=which.ravel(), axis=0), held)
            leaves, structure = jax.tree_util.tree_flatten(held)

            def call(*args, structure=structure):
                *inputs, target = args
                return solve(*inputs[:4], jax.tree_util.tree_unflatten(structure, inputs[4:]), target)

            arrays = [u0[rows], lower[rows], upper[rows], p_other[rows], *leaves]
            if ahead is not None:
                ahead[1].result()
                ahead = None
            pieces.append(run_padded(call, size, arrays, ln_target))
        return jax.tree_util.tree_map(lambda *xs: np.concatenate(xs), *pieces)

    return find


def _find_brackets(u: np.ndarray, f: np.ndarray) -> list[tuple[float, float, float, float]]:
    """Sign changes of f between neighbouring finite samples: (a, b, f(a), f(b))."""
    ok = np.isfinite(f)
    out = []
    idx = np.flatnonzero(ok)
    for i, j in zip(idx[:-1], idx[1:]):
        if j != i + 1:
            continue
        if (f[i] < 0) != (f[j] < 0):
            out.append((float(u[i]), float(u[j]), float(f[i]), float(f[j])))
    return out


def _near_misses(u: np.ndarray, f: np.ndarray, window: float) -> list[tuple[float, float]]:
    """Intervals around interior extrema of f that approach zero within ``window`` without crossing."""
    out = []
    for i in range(1, len(u) - 1):
        a, b, c = f[i - 1], f[i], f[i + 1]
        if not (np.isfinite(a) and np.isfinite(b) and np.isfinite(c)):
            continue
        if (a < 0) != (b < 0) or (b < 0) != (c < 0):
            continue
        if b < 0 and b >= a and b >= c and -b < window or b > 0 and b <= a and b <= c and b < window:
            out.append((float(u[i - 1]), float(u[i + 1])))
    return out


def contour(
    model="uvmsm",
    masses=None,
    *,
    ratio: float | None = None,
    fixed: Mapping[str, float] | None = None,
    target: float = 0.12,
    unknown: str | None = None,
    settings: Settings | None = None,
    coupling_range: tuple[float, float] = (1e-13, 1.0),
    n_coarse: int = 40,
    refine: int = 2,
    method: str = "newton",
    tol: float = 1e-5,
    max_iter: int = 10,
    chunk: int | None = None,
    solver_chunk: int | None = None,
    progress: bool = False,
    objective_class: type[LogOmegaObjective] = RelicObjective,
    export_cache: str | os.PathLike | None = None,
) -> ContourResult:
    """Solve Ωh²(coupling) = ``target`` at each mediator mass, returning every branch.

    model: a registered model (name, class or instance). masses: mediator masses [GeV] (M_Z′ or m_A′), 1-D.
    ratio: M_DM/M_V (M_N₁ = r·M_Z′, m_χ = r·m_A′); or give the DM mass in ``fixed``.
    fixed: the remaining parameters, e.g. ``{"epsilon": 1e-9}`` for Model 2 solving for e′.
    unknown: the coupling solved for (default the registry's ``contour_unknown``: ``g_bl`` / ``e_dark``;
      Model 2 also ``epsilon``).
    coupling_range, n_coarse, refine: the log-spaced bracketing scan of the unknown (points whose
      relic status is not 0 never end a bracket).
    method: ``"newton"`` (optimistix Newton in ln g + Bisection fallback), ``"optax"`` (L-BFGS on
      (ln Ω − ln target)²) or ``"secant"`` (Illinois regula falsi in ln g on the bracketing scan's
      chunk function, no sensitivities — ``sensitivities`` is empty).
      tol: required |ln(Ωh²/target)| (and Newton step in ln g). max_iter: Newton / L-BFGS iterations
      (``"secant"``: 3·max_iter evaluations per bracket).
    chunk: points per chunk of the bracketing scan (default :data:`BRACKETING_BLOCKS` × the scan's
      default chunk, 32 points on CPU and 4096 on a GPU); later evaluations (re-sampling, secant
      steps) go in chunks of at most that default chunk.
    solver_chunk: brackets per compiled root-finding chunk (default: next power of two ≥ the number
      of brackets and ≥ 4, at most the default chunk and ``chunk``).
    objective_class: the function solved for (default :class:`RelicObjective`, ln Ωh² of
      :func:`uvmsm_jax.relic`); a :class:`LogOmegaObjective` subclass contours another function.
    export_cache: a folder in which the bracketing scan's compiled stages are kept, as
      :func:`uvmsm_jax.scan`'s, and, for :class:`RelicObjective`, the Newton phase's programs
      (docs/relic.md, "Compilation").
    """
    t_start = time.perf_counter()

    def say(message: str) -> None:
        if progress:
            print(f"contour: {message} ({time.perf_counter() - t_start:.1f} s)", file=sys.stderr, flush=True)

    spec = model_spec(model)
    kind, names = spec.name, spec.fields
    settings = Settings() if settings is None else settings
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    unknown = spec.contour_unknown if unknown is None else unknown
    if unknown not in spec.couplings:
        raise ValueError(f"unknown must be one of {spec.couplings} for model {kind!r}, got {unknown!r}")
    if settings.t_reheat is not None and np.ndim(settings.t_reheat) != 0:
        raise ValueError("settings.t_reheat must be a scalar")
    if not (target > 0 and math.isfinite(target)):
        raise ValueError(f"target must be a positive finite number, got {target!r}")
    lo_g, hi_g = (float(x) for x in coupling_range)
    if not (0 < lo_g < hi_g and math.isfinite(hi_g)):
        raise ValueError(f"coupling_range must be 0 < LO < HI, got {coupling_range!r}")
    if n_coarse < 2:
        raise ValueError("n_coarse must be at least 2")
    med, dm = spec.mediator_mass, spec.dm_mass
    masses = np.atleast_1d(np.asarray(masses, dtype=np.float64))
    if masses.ndim != 1 or masses.size == 0 or not np.all(np.isfinite(masses) & (masses > 0)):
        raise ValueError(f"masses ({med}) must be a non-empty 1-D array of positive finite numbers")
    fixed = dict(fixed or {})
    for key, value in fixed.items():
        if key not in names:
            raise ValueError(f"unknown fixed parameter {key!r} for model {kind!r}")
        if key in (med, unknown):
            raise ValueError(f"{key} cannot be fixed in a contour over {med} solving for {unknown}")
        if not (math.isfinite(float(value)) and float(value) > 0):
            raise ValueError(f"{key} must be a positive finite number, got {value!r}")
    if (ratio is None) == (dm not in fixed):
        raise ValueError(f"give exactly one of ratio (= {dm}/{med}) or fixed {dm}")
    if ratio is not None and not (math.isfinite(float(ratio)) and float(ratio) > 0):
        raise ValueError(f"ratio must be a positive finite number, got {ratio!r}")
    missing = [n for n in names if n not in (med, unknown, dm) and n not in fixed]
    if missing:
        raise ValueError(f"fixed must give {', '.join(missing)} for model {kind!r} solving for {unknown}")

    n_mass = masses.size
    base = {med: masses, dm: masses * float(ratio) if ratio is not None else np.full(n_mass, float(fixed[dm]))}
    for key, value in fixed.items():
        if key != dm:
            base[key] = np.full(n_mass, float(value))
    tie = settings.t_reheat is None
    objective = objective_class(spec, static_settings(settings), tie)
    chunk = int(chunk or BRACKETING_BLOCKS * default_chunk())
    block = min(chunk, default_chunk())
    ln_target = math.log(target)

    # 1. coarse scan in ln g and brackets --------------------------------------------------
    u_grid = np.linspace(math.log(lo_g), math.log(hi_g), int(n_coarse))

    iu = names.index(unknown)
    ln_tr = 0.0 if settings.t_reheat is None else math.log(float(settings.t_reheat))
    cached = (
        objective.batch
        if export_cache is None
        else functools.partial(objective.batch, export_cache=os.fspath(export_cache))
    )
    batch = functools.cache(cached)

    def evaluate_points(
        mass_index: np.ndarray, u: np.ndarray, size: int = block
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(F, ln Ωh², extras) at (mass index, ln g) in chunks of ``size`` points; F is NaN where the
        relic status is not 0."""
        p = np.empty((u.size, len(names) + 1))
        for j, name in enumerate(names):
            p[:, j] = u if name == unknown else np.log(base[name][mass_index])
        p[:, -1] = ln_tr
        lo, extras = run_padded(batch(size), size, [p])
        return np.where(extras[:, 1] == 0, lo - ln_target, np.nan), lo, extras

    def log_f(mass_index: np.ndarray, u: np.ndarray, size: int = block) -> np.ndarray:
        return evaluate_points(mass_index, u, size)[0]

    idx = np.repeat(np.arange(n_mass), u_grid.size)
    f_all = log_f(idx, np.tile(u_grid, n_mass), chunk).reshape(n_mass, u_grid.size)
    samples = [(u_grid.copy(), f_all[i]) for i in range(n_mass)]
    n_evaluations = f_all.size
    for _ in range(max(int(refine), 0)):
        requests = []
        for i, (u, f) in enumerate(samples):
            for u_lo, u_hi in _near_misses(u, f, window=3.0):
                for x in np.linspace(u_lo, u_hi, 10)[1:-1]:
                    if not np.any(np.isclose(u, x, rtol=0, atol=1e-12)):
                        requests.append((i, x))
        if not requests:
            break
        r_idx = np.asarray([i for i, _ in requests])
        r_u = np.asarray([x for _, x in requests])
        r_f = log_f(r_idx, r_u)
        n_evaluations += r_u.size
        for i in np.unique(r_idx):
            u, f = samples[i]
            u = np.concatenate([u, r_u[r_idx == i]])
            f = np.concatenate([f, r_f[r_idx == i]])
            order = np.argsort(u)
            samples[i] = (u[order], f[order])
    brackets = [(i, *br) for i, (u, f) in enumerate(samples) for br in _find_brackets(u, f)]
    t_brackets = time.perf_counter()
    say(f"{n_evaluations} bracketing evaluations at {n_mass} masses: {len(brackets)} brackets")

    # 2. root finding in each bracket -------------------------------------------------------
    n_br = len(brackets)
    points: list[dict[str, Any]] = []
    t_solve = t_brackets
    n_fallback = n_inexact = 0
    if n_br:
        mass_index = np.asarray([b[0] for b in brackets])
        a = np.asarray([b[1] for b in brackets])
        b_ = np.asarray([b[2] for b in brackets])
        fa = np.asarray([b[3] for b in brackets])
        fb = np.asarray([b[4] for b in brackets])
        u0 = a - fa * (b_ - a) / (fb - fa)  # regula falsi start
        p_other = np.zeros((n_br, len(names) + 1))
        for j, name in enumerate(names):
            if name != unknown:
                p_other[:, j] = np.log(base[name][mass_index])
        p_other[:, iu] = u0
        p_other[:, -1] = ln_tr
        size = int(solver_chunk or chunk_size(max(n_br, 4), block))
        if method == "secant":
            res = _illinois(evaluate_points, mass_index, a, b_, fa, fb, float(tol), 3 * int(max_iter))
        else:
            static = {"objective": objective, "method": method, "iu": iu, "tol": float(tol), "max_iter": int(max_iter)}
            find = _root_finder(static, size, ln_target, None if export_cache is None else os.fspath(export_cache))
            res = find(u0, a, b_, p_other, hold=objective.holds)
            f_held = res["log_omega"] - ln_target
            inexact = np.flatnonzero((res["error"] != 0) & ~(np.abs(f_held) + res["error"] <= tol))
            if inexact.size:  # the held part's error bound exceeds the tolerance: again without it
                n_inexact = int(inexact.size)
                start = np.where(np.isfinite(res["u_final"][inexact]), res["u_final"][inexact], u0[inexact])
                again = find(start, a[inexact], b_[inexact], p_other[inexact], hold=False)
                for key in res:
                    res[key][inexact] = again[key] + (res[key][inexact] if key == "steps" else 0)
                say(f"{inexact.size} roots solved again without the held tables")
        f_eval = res["log_omega"] - ln_target
        good = np.isfinite(f_eval) & (np.abs(f_eval) <= tol) & (res["extras"][:, 1] == 0)
        bad = np.flatnonzero(~good)
        say(f"{method}: {int(good.sum())}/{n_br} converged (mean {np.mean(res['steps']):.1f} iterations)")
        if bad.size and method == "newton":  # fallback: bisection in ln g, then Newton from there
            n_fallback = int(bad.size)
            sign = np.where(fb[bad] > fa[bad], 1.0, -1.0)
            bisect = _bisection_function(objective, iu, float(tol), size)
            u_b = run_padded(bisect, size, [a[bad], b_[bad], sign, p_other[bad]], ln_target)
            res2 = find(u_b, a[bad], b_[bad], p_other[bad], hold=False)
            f2 = res2["log_omega"] - ln_target
            better = np.isfinite(f2) & ((np.abs(f2) < np.abs(f_eval[bad])) | ~np.isfinite(f_eval[bad]))
            for key in res:
                res[key][bad[better]] = res2[key][better]
                if key == "steps":
                    res[key][bad] += res2[key]
            f_eval = res["log_omega"] - ln_target
            good = np.isfinite(f_eval) & (np.abs(f_eval) <= tol) & (res["extras"][:, 1] == 0)
            say(f"bisection fallback for {bad.size} brackets: {int(good.sum())}/{n_br} converged")
        t_solve = time.perf_counter()
        points = _points(spec, unknown, base, ratio, mass_index, res, good)

    no_solution = [
        {med: float(masses[i]), dm: float(base[dm][i])} for i in range(n_mass) if not any(b[0] == i for b in brackets)
    ]
    timings = {
        "brackets_s": t_brackets - t_start,
        "solve_s": t_solve - t_brackets,
        "total_s": time.perf_counter() - t_start,
        "coarse_evaluations": float(n_evaluations),
        "brackets": float(n_br),
        "fallbacks": float(n_fallback),
        "solved_again_unheld": float(n_inexact),
    }
    say(f"{sum(p['status'] == 0 for p in points)} solutions at {n_mass} masses")
    return ContourResult(kind, unknown, float(target), method, settings, points, no_solution, (lo_g, hi_g), timings)


def _points(spec: ModelSpec, unknown, base, ratio, mass_index, res, good) -> list[dict[str, Any]]:
    names = spec.fields
    med, dm = spec.mediator_mass, spec.dm_mass
    iu = names.index(unknown)
    i_med, i_dm = names.index(med), names.index(dm)
    points = []
    for k in range(mass_index.size):
        i = int(mass_index[k])
        extras = res["extras"][k]
        relic_status = int(extras[1])
        mechanism = int(extras[2])
        point: dict[str, Any] = {}
        for name in names:
            point[name] = float(math.exp(res["u"][k])) if name == unknown else float(base[name][i])
        point["mechanism"] = MECHANISMS[mechanism] if 0 <= mechanism < len(MECHANISMS) else "invalid"
        point["omega_h2"] = float(extras[0])
        point["status"] = 0 if good[k] else (relic_status if relic_status != 0 else int(Status.CONTOUR_NOT_CONVERGED))
        point["iterations"] = int(res["steps"][k])
        sens: dict[str, float] = {}
        point["sensitivities"] = sens
        point["_mass_index"] = i
        points.append(point)
        if res["jacobian"] is None:  # method="secant": no derivatives
            continue
        jac = res["jacobian"][k]
        ju = jac[iu]
        # implicit-function theorem: d ln u / d ln x = -J_x / J_u
        if ratio is not None:
            sens[f"d_ln_{unknown}/d_ln_{med}"] = float(-(jac[i_med] + jac[i_dm]) / ju)
        else:
            sens[f"d_ln_{unknown}/d_ln_{med}"] = float(-jac[i_med] / ju)
        sens[f"d_ln_{unknown}/d_ln_ratio"] = float(-jac[i_dm] / ju)
        for j, name in enumerate(names):
            if name not in (med, dm, unknown):
                sens[f"d_ln_{unknown}/d_ln_{name}"] = float(-jac[j] / ju)
        sens[f"d_ln_{unknown}/d_ln_t_reheat"] = float(-jac[-1] / ju)
        for j, name in enumerate(names):
            sens[f"d_ln_omega/d_ln_{name}"] = float(jac[j])
        sens["d_ln_omega/d_ln_t_reheat"] = float(jac[-1])
    points.sort(key=lambda p: (p["_mass_index"], p[unknown]))
    branch: dict[int, int] = {}
    for p in points:
        i = p.pop("_mass_index")
        p["branch"] = branch.get(i, 0)
        branch[i] = p["branch"] + 1
    return points
