"""The integration of :func:`uvmsm_jax.boltzmann.solve` and its forward-mode derivative: forward
sensitivities carried in the ODE's state, each implicit stage's solved in closed form (docs/relic.md,
"Differentiability").

JAX's forward mode through diffrax differentiates the solver's operations: each implicit stage forms
its derivative by optimistix's implicit-function rule (the stage relation's Jacobian by two
evaluations with tangents, a LAPACK LU per point), and tangents run through the predictors, the error
estimate and the controller. Here the derivative is written out instead. The state is one array
(k + 1, 2): Y, then S, its derivative along each of k directions, with dS/dτ = J S + ∂F/∂p ṗ
(J = ∂F/∂Y): linear, so an implicit stage of S is one 2 × 2 solve with J at the stage's converged Y
(:class:`StageSensitivities`) — the implicit-function rule's own result. The step control reads Y
alone and the step sizes take no derivative (diffrax stops it), so the steps are those of the solve
without derivatives and S is the derivative of its discrete solution: the stage times move with
τ_start (a sum of step sizes from it), which enters as a direction of τ. Where a saved τ moves
against the steps (τ_end, a save time) its derivative is F(τ, Y) τ̇, the solution's own; forward mode
through the solver differentiated the last step's size or the dense output's polynomial there.

Imported when a solve is traced, not with the package (docs/relic.md, "Compilation").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import optimistix as optx
from jax.custom_batching import custom_vmap
from jaxtyping import Array

from ._implicit_stages import STAGE_ROOT_FINDERS, StageRootFinderWrapper, reads_handed_state, two_by_two_solve
from ._numerics import along_first_axis
from .boltzmann import RateTable, SystemSwitches, rate_equations, right_hand_side

__all__ = ["StageSensitivities", "integrate"]


class Directions(eqx.Module):
    """k tangent directions of what the right-hand side depends on besides Y, each with a leading axis
    of length k: the rate table's (``table``: a pytree like the :class:`~uvmsm_jax.boltzmann.RateTable`,
    None where a leaf does not move — the g*(T) spline's knots, for one), the conversion weight, and
    τ (τ_start's: the stage times move with it)."""

    table: Any
    conversion_weight: Array
    tau: Array


def _is_none(x) -> bool:
    return x is None


class HeldRow(eqx.Module):
    """The rate table's row at one implicit stage's τ, standing in for the
    :class:`~uvmsm_jax.boltzmann.RateTable` while that stage is solved: called at the stage's τ, it
    returns the row (:class:`StageSensitivities`)."""

    row: Array

    def __call__(self, tau: Array) -> Array:
        del tau  # the stage's, at which the row was evaluated
        return self.row


def table_row_tangents(tau: Array, table: RateTable, directions: Directions) -> tuple[Array, Array]:
    """The rate table's row at τ and its derivative along each of k ``directions`` (k, N_COLUMNS):
    the table's tangent and τ̇ (the stage times move with τ_start)."""
    moving = jax.tree_util.tree_map(lambda d: d is not None, directions.table, is_leaf=_is_none)
    dynamic, static = eqx.partition(table, moving)
    row, row_along = jax.linearize(lambda t, arrays: eqx.combine(arrays, static)(t), tau, dynamic)
    return row, jax.vmap(row_along)(directions.tau, directions.table)


def rate_derivatives(row: Array, rows_dot: Array, y: Array, s: Array, args) -> tuple[Array, Array]:
    """J = ∂F/∂Y (2 × 2) of F(τ, Y) (:func:`~uvmsm_jax.boltzmann.right_hand_side`) and the derivative
    of F along each of k directions, J s_k + ∂F/∂p ṗ_k (k, 2), at the table row ``row`` of τ with its
    derivatives ``rows_dot`` (:func:`table_row_tangents`), for ``args`` = (table, switches,
    conversion weight, adiabatic, :class:`Directions`)."""
    _, switches, conversion_weight, adiabatic, directions = args

    def rates(q, state, weight):
        return rate_equations(q, state, switches, weight, adiabatic)

    _, along = jax.linearize(rates, row, y, conversion_weight)
    # J's columns (the derivatives along Y's unit vectors) and the k directions in one application
    unit = jnp.eye(2, dtype=y.dtype)
    rows_dot = jnp.concatenate([jnp.zeros((2, *row.shape), row.dtype), rows_dot])
    weights_dot = jnp.concatenate([jnp.zeros(2, conversion_weight.dtype), directions.conversion_weight])
    derivatives = jax.vmap(along)(rows_dot, jnp.concatenate([unit, s]), weights_dot)
    return derivatives[:2].T, derivatives[2:]


def _right_hand_side_with_sensitivities(tau, y, args):
    # F by right_hand_side's own operations, so that the step size chosen from it is the solve's
    _, f_dot = rate_derivatives(*table_row_tangents(tau, args[0], args[4]), y[0], y[1:], args)
    return jnp.concatenate([right_hand_side(tau, y[0], args[:4])[None], f_dot])


def _product(f: Array, h: Array) -> Array:
    """diffrax's ODETerm.prod: the vector field times the step."""
    return h * f


class StageSensitivities(StageRootFinderWrapper):
    """``solver`` on the yields' part (row 0) of an implicit stage of the state (Y, S) (module
    docstring), then the stage's S in closed form.

    The stage relation of S is linear: f_S = J (S_partial + γ h f_S) + ∂F/∂p ṗ with J = ∂F/∂Y at the
    stage's Y, so f_S = (I − γhJ)⁻¹ (J S_partial + ∂F/∂p ṗ), one 2 × 2 solve per direction
    (:func:`~uvmsm_jax._implicit_stages.two_by_two_solve`). ``solver`` sees diffrax's stage relation of
    the yields alone (vector field :func:`~uvmsm_jax.boltzmann.right_hand_side`), so its iterations
    are those of the solve without derivatives. Where it fails diffrax rejects the step; S's stage is
    then the one at which S vanishes, a finite value that no test of the state reads as a failure.

    The table's row at the stage's τ and its derivatives along the directions are evaluated once,
    when the stage starts (:func:`table_row_tangents`), and held: ``solver`` reads the row from a
    :class:`HeldRow` in place of the table, and S's stage reads row and derivatives. Evaluating the
    row again for S's stage, with its derivatives, took ≈ 15–25 % of a UνMSM point's derivative
    (docs/relic.md, "Differentiability"). The held row comes from the same operations as the
    table's own: on every point measured (256 UνMSM, 32 dark-photon) the steps, outputs and
    derivatives are the same bits as before."""

    def __init__(self, solver: optx.AbstractRootFinder):  # the wrapper's (a type checker sees the fields')
        super().__init__(solver)

    @staticmethod
    def _yields_args(args, row: Array):
        # diffrax's f-space stage relation: (stage, γ, vector field, product, τ_i, Y_partial, args, h),
        # the vector field's args (table, switches, conversion weight, adiabatic, directions)
        stage, diagonal, _, _, tau, y_partial, (_, *vector_field_args, _), h = args
        yields_args = (HeldRow(row), *vector_field_args)
        return stage, diagonal, right_hand_side, _product, tau, y_partial[0], yields_args, h

    @staticmethod
    def _relation(f, args):
        # diffrax's runge_kutta._implicit_relation_f on the yields
        _, diagonal, vector_field, product, tau, y_partial, vector_field_args, h = args
        return f - vector_field(tau, y_partial + diagonal * product(f, h), vector_field_args), None

    def init(self, fn, y, args, options, f_struct, aux_struct, tags):
        del fn
        f_struct = jax.ShapeDtypeStruct(f_struct.shape[1:], f_struct.dtype)
        _, _, _, _, tau, _, (table, *_, directions), _ = args
        if "init_state" in options or reads_handed_state(self.solver):  # a root find's own start
            row, rows_dot = table_row_tangents(tau, table, directions)
        else:  # Kvaerno5's state for the step's stages, which the solver never reads: no tangents
            row = table(tau)
            rows_dot = jnp.zeros((directions.tau.shape[0], *row.shape), row.dtype)
        if "init_state" in options:  # diffrax hands on this wrapper's state of an earlier stage: a
            # root finder that keeps its Newton matrix for the whole step (per-step) reuses its own part
            options = {**options, "init_state": options["init_state"][1]}
        inner = self.solver.init(
            self._relation, y[0], self._yields_args(args, row), options, f_struct, aux_struct, tags
        )
        return (row, rows_dot), inner

    def step(self, fn, y, args, options, state, tags):
        del fn
        held, inner = state
        f, inner, aux = self.solver.step(self._relation, y[0], self._yields_args(args, held[0]), options, inner, tags)
        return y.at[0].set(f), (held, inner), aux

    def terminate(self, fn, y, args, options, state, tags):
        del fn
        held, inner = state
        return self.solver.terminate(self._relation, y[0], self._yields_args(args, held[0]), options, inner, tags)

    def postprocess(self, fn, y, aux, args, options, state, tags, result):
        del fn
        (row, rows_dot), inner = state
        f, aux, stats = self.solver.postprocess(
            self._relation, y[0], aux, self._yields_args(args, row), options, inner, tags, result
        )
        _, diagonal, _, _, _, y_partial, vector_field_args, h = args
        implicit = diagonal * h
        s_partial = y_partial[1:]
        stage_y = y_partial[0] + diagonal * _product(f, h)
        jacobian, rhs = rate_derivatives(row, rows_dot, stage_y, s_partial, vector_field_args)
        matrix = jnp.eye(2) - implicit * jacobian
        f_s = jax.vmap(lambda r: two_by_two_solve(matrix, r))(rhs)
        f_s = jnp.where(result == optx.RESULTS.successful, f_s, -s_partial / implicit)
        return jnp.concatenate([f[None], f_s]), aux, stats


def _state_norm(error) -> Array:
    """optimistix's RMS norm of the yields' part of a state: the sensitivities do not steer the steps."""
    return optx.rms_norm(error if error.ndim == 1 else error[0])


def _diffeqsolve(inputs: tuple, static: dict[str, Any], directions: Directions | None, s0: Array | None):
    """diffrax's Kvaerno5 on Y or, with ``directions``, on (Y, S) (k + 1, 2), S(τ_start) = ``s0`` (k, 2)."""
    table, conversion_weight, adiabatic, y0, tau_start, tau_end, atol, save_taus = inputs
    args: tuple = (table, static["switches"], conversion_weight, adiabatic)
    vector_field: Callable = right_hand_side
    root_finder = STAGE_ROOT_FINDERS[static["stage_jacobian"]]
    state0: Any = y0
    if directions is not None:
        assert s0 is not None
        args, state0 = (*args, directions), jnp.concatenate([y0[None], s0])
        vector_field, root_finder = _right_hand_side_with_sensitivities, StageSensitivities(root_finder)
    main = diffrax.SubSaveAt(t1=True) if save_taus is None else diffrax.SubSaveAt(ts=save_taus)
    saveat = diffrax.SaveAt(subs=(main, diffrax.SubSaveAt(steps=True)) if static["save_steps"] else main)
    # Kvaerno5's first stage is the last stage of the previous step (first-same-as-last), but under
    # vmap diffrax re-evaluates it as f(τ, y) on every point of a block while any point is still at its
    # first step (its first attempts rejected), and that f differs from the implicit stage's at the root
    # finder's tolerance: a point's trajectory depended on its neighbours. Starting from f(τ_start, y0)
    # with the first step marked as taken makes each point's steps its own (docs/relic.md, "ODE").
    first_stage = (jnp.array(False), vector_field(tau_start, state0, args))
    return diffrax.diffeqsolve(
        diffrax.ODETerm(vector_field),
        diffrax.Kvaerno5(root_finder=root_finder),
        t0=tau_start,
        t1=tau_end,
        dt0=None,
        y0=state0,
        args=args,
        solver_state=first_stage,
        saveat=saveat,
        stepsize_controller=diffrax.PIDController(
            rtol=static["rtol"], atol=atol, pcoeff=0.3, icoeff=0.3, norm=_state_norm
        ),
        max_steps=static["max_steps"],
        adjoint=diffrax.ForwardMode(),  # not differentiated: integrate's rule writes the derivative out
        throw=False,
    )


@eqx.filter_custom_jvp
def integrate(
    table: RateTable,
    conversion_weight: Array,
    adiabatic: Array,
    y0: Array,
    tau_start: Array,
    tau_end: Array,
    atol: Array,
    save_taus: Array | None,
    *,
    switches: SystemSwitches,
    rtol: float,
    max_steps: int,
    save_steps: bool,
    stage_jacobian: str,
) -> diffrax.Solution:
    """The integration of :func:`uvmsm_jax.boltzmann.solve` (its arguments; ``atol`` takes no
    derivative), differentiable in forward mode by forward sensitivities (module docstring)."""
    static = {
        "switches": switches,
        "rtol": rtol,
        "max_steps": max_steps,
        "save_steps": save_steps,
        "stage_jacobian": stage_jacobian,
    }
    inputs = (table, conversion_weight, adiabatic, y0, tau_start, tau_end, atol, save_taus)
    return _diffeqsolve(inputs, static, None, None)


class _Tangents(eqx.Module):
    """The tangents of :func:`integrate`'s differentiable inputs: arrays (zeros for symbolic zeros)
    but for the table's, a pytree like it with None where a leaf has no tangent (such a leaf is held
    fixed, not differentiated); ``save_taus`` None where no save times are given."""

    table: Any
    conversion_weight: Array
    y0: Array
    tau_start: Array
    tau_end: Array
    save_taus: Array | None


def _materialised(primals: tuple, tangents: tuple) -> _Tangents:
    table, weight, _, y0, tau_start, tau_end, _, save_taus = primals
    table_dot, weight_dot, _, y0_dot, tau_start_dot, tau_end_dot, _, save_taus_dot = tangents

    def filled(x, t):
        return jnp.zeros_like(x) if t is None else t

    if table_dot is None:
        table_dot = jax.tree_util.tree_map(lambda _: None, table)
    return _Tangents(
        table=table_dot,
        conversion_weight=filled(weight, weight_dot),
        y0=filled(y0, y0_dot),
        tau_start=filled(tau_start, tau_start_dot),
        tau_end=filled(tau_end, tau_end_dot),
        save_taus=None if save_taus is None else filled(save_taus, save_taus_dot),
    )


def _with_sensitivities(primals: tuple, tangents: _Tangents, static: dict[str, Any]):
    """:func:`integrate`'s solution at ``primals`` and its derivative along each of k ``tangents``
    (leading axis k): the solution's ts and ys (and t0, t1) with a leading axis k, the rest None."""
    table, weight, adiabatic, _, tau_start, tau_end, _, save_taus = primals
    # A direction with a non-finite tangent would put NaN into S, and diffrax's tests of the state (a
    # root find's finiteness, the step control's NaN test of a step) would then move Y's steps: it is
    # solved as zero and its derivatives are NaN, as JAX's own forward mode gives them.
    finite = jnp.all(
        jnp.stack([jnp.isfinite(x).reshape(x.shape[0], -1).all(axis=1) for x in jax.tree_util.tree_leaves(tangents)]),
        axis=0,
    )
    tangents = jax.tree_util.tree_map(lambda x: jnp.where(along_first_axis(finite, x), x, 0.0), tangents)
    directions = Directions(table=tangents.table, conversion_weight=tangents.conversion_weight, tau=tangents.tau_start)
    solution = _diffeqsolve(primals, static, directions, tangents.y0)
    save_steps = static["save_steps"]
    (ts, states), steps = (
        ((solution.ts[0], solution.ys[0]), (solution.ts[1], solution.ys[1]))
        if save_steps
        else ((solution.ts, solution.ys), None)
    )
    ys, s = states[:, 0], states[:, 1:]
    args = (table, static["switches"], weight, adiabatic)
    rates = jax.vmap(lambda tau, y: right_hand_side(tau, y, args))
    # Y(τ_j)'s derivative: S(τ_j) + F(τ_j) (τ̇_j − τ̇_start), τ_j the end or a save time
    taus_dot: Array = jnp.broadcast_to(tangents.tau_end[:, None], (tangents.tau_end.shape[0], ts.shape[0]))
    if tangents.save_taus is not None:
        taus_dot = tangents.save_taus
    ys_dot: Any = jnp.moveaxis(s, 1, 0) + (taus_dot - tangents.tau_start[:, None])[..., None] * rates(ts, ys)
    ts_dot: Any = taus_dot
    ys_out: Any = ys
    if steps is not None:
        step_ts, step_states = steps
        step_ys, step_s = step_states[:, 0], step_states[:, 1:]
        taken = jnp.isfinite(step_ts)
        last = step_ts == tau_end
        end_rates = right_hand_side(tau_end, step_ys[jnp.argmax(last)], args)
        step_ts_dot = jnp.where(taken, jnp.where(last, tangents.tau_end[:, None], tangents.tau_start[:, None]), 0.0)
        step_ys_dot = jnp.moveaxis(step_s, 1, 0) + jnp.where(
            last[:, None], (tangents.tau_end - tangents.tau_start)[:, None, None] * end_rates, 0.0
        )
        step_ys_dot = jnp.where(taken[:, None], step_ys_dot, 0.0)
        ts_dot, ys_out = (taus_dot, step_ts_dot), (ys, step_ys)
        ys_dot = (ys_dot, step_ys_dot)
    solution = eqx.tree_at(lambda sol: sol.ys, solution, ys_out)
    blank = jax.tree_util.tree_map(lambda _: None, solution)
    solution_dot = eqx.tree_at(
        lambda sol: (sol.t0, sol.t1, sol.ts, sol.ys),
        blank,
        (tangents.tau_start, tangents.tau_end, ts_dot, ys_dot),
        is_leaf=lambda x: x is None,
    )
    return solution, jax.tree_util.tree_map(lambda x: jnp.where(along_first_axis(finite, x), x, jnp.nan), solution_dot)


@integrate.def_jvp
def _integrate_jvp(primals, tangents, **static):
    if not jax.tree_util.tree_leaves(tangents):  # every input's tangent a symbolic zero
        return integrate(*primals, **static), None
    dynamic, fixed = eqx.partition(primals, eqx.is_array)

    def solve(arrays, directions: _Tangents, batched: bool):
        directions = directions if batched else jax.tree_util.tree_map(lambda x: x[None], directions)
        solution, solution_dot = _with_sensitivities(eqx.combine(arrays, fixed), directions, static)
        return solution, solution_dot if batched else jax.tree_util.tree_map(lambda x: x[0], solution_dot)

    @custom_vmap
    def along(arrays, directions):
        return solve(arrays, directions, False)

    @along.def_vmap
    def _along_directions(axis_size, in_batched, arrays, directions):
        """Under ``vmap`` over tangents only (``jax.jacfwd``'s directions) one solve carries them all;
        where the primals are batched too (a vmap over points outside the derivative), one per lane."""
        arrays_batched, directions_batched = in_batched
        if any(jax.tree_util.tree_leaves(arrays_batched)):
            axes = jax.tree_util.tree_map(lambda b: 0 if b else None, (arrays_batched, directions_batched))
            out = jax.vmap(lambda a, d: solve(a, d, False), in_axes=axes)(arrays, directions)
            return out, jax.tree_util.tree_map(lambda _: True, out)
        directions = jax.tree_util.tree_map(
            lambda x, b: x if b else jnp.broadcast_to(x, (axis_size, *x.shape)), directions, directions_batched
        )
        solution, solution_dot = solve(arrays, directions, True)
        batched = (
            jax.tree_util.tree_map(lambda _: False, solution),
            jax.tree_util.tree_map(lambda _: True, solution_dot),
        )
        return (solution, solution_dot), batched

    return along(dynamic, _materialised(primals, tangents))
