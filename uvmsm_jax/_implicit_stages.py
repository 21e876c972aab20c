"""Root finders of the implicit stages of the Boltzmann solve (:func:`uvmsm_jax.boltzmann.solve`,
Kvaerno5), the closed-form 2 × 2 linear solve they use and the stage relation with the rate
table's row held (docs/relic.md, "ODE").

Imported when a solve is traced, not with the package: it needs lineax, optimistix and diffrax, which
a call answered by a stored executable never loads (docs/relic.md, "Compilation").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import diffrax
import jax
import jax.numpy as jnp
import lineax as lx
import optimistix as optx
from jaxtyping import Array

from .boltzmann import rate_equations

__all__ = [
    "STAGE_ROOT_FINDERS",
    "StageRootFinderWrapper",
    "TableRowHeld",
    "TwoByTwoLU",
    "reads_handed_state",
    "two_by_two_solve",
]


def two_by_two_solve(matrix: Array, vector: Array) -> Array:
    """x with ``matrix`` x = ``vector`` for a 2 × 2 matrix: :class:`TwoByTwoLU`'s arithmetic."""
    swap = jnp.abs(matrix[1, 0]) > jnp.abs(matrix[0, 0])
    pivot, other = jnp.where(swap, matrix[1], matrix[0]), jnp.where(swap, matrix[0], matrix[1])
    rhs_pivot, rhs_other = jnp.where(swap, vector[1], vector[0]), jnp.where(swap, vector[0], vector[1])
    multiplier = other[0] * (1.0 / pivot[0])  # getrf scales by the reciprocal of the pivot
    second = (rhs_other - multiplier * rhs_pivot) / (other[1] - multiplier * pivot[1])
    first = (rhs_pivot - second * pivot[1]) / pivot[0]
    return jnp.stack([first, second])


class TwoByTwoLU(lx.AbstractLinearSolver):
    """LU with partial pivoting of a 2 × 2 system, written out (a lineax solver).

    Every Newton iteration of the Boltzmann solver's implicit stages solves (I − γhJ) Δ = r for the
    two yields. lineax's :class:`~lineax.LU` calls LAPACK (getrf, then getrs) once per point of a
    vmapped batch and per call; for two unknowns the same arithmetic is a handful of elementwise
    operations, which XLA fuses over the batch (docs/relic.md, "ODE"). The operations are getrf's and
    getrs's, in their order: the row with the larger |first entry| is the pivot row, the multiplier
    is the other row's first entry times the pivot's reciprocal. The order matters where I − γhJ is
    singular to working precision (|γhJ| ~ 1e19 while a fast conversion conserves Y_X + Y_V: the
    identity is lost in rounding) and the stage's fate depends on rounding: with a division for the
    multiplier, 3 of 200 random dark-photon points stopped at max_steps against 1 with LAPACK and 1
    in this order (measured while a point's first stage depended on its block); with each point's
    steps its own, 4 of 400 in this order and 4 with LAPACK (2026-12-04; since the empty starts
    that fill at once begin in equilibrium, none of 8 448: docs/relic.md, "ODE"). For operators
    with one (2,) array in and out; a singular matrix gives inf/NaN, as LAPACK's does.
    """

    def init(self, operator: lx.AbstractLinearOperator, options: dict[str, Any]) -> Array:
        del options
        for structure in (operator.in_structure(), operator.out_structure()):
            if not (isinstance(structure, jax.ShapeDtypeStruct) and structure.shape == (2,)):
                raise ValueError(f"TwoByTwoLU solves for one array of shape (2,), got {structure}")
        return operator.as_matrix()

    def compute(self, state: Array, vector: Array, options: dict[str, Any]) -> tuple[Array, Any, dict[str, Any]]:
        del options
        return two_by_two_solve(state, vector), lx.RESULTS.successful, {}

    def transpose(self, state: Array, options: dict[str, Any]) -> tuple[Array, dict[str, Any]]:
        del options
        return state.T, {}

    def conj(self, state: Array, options: dict[str, Any]) -> tuple[Array, dict[str, Any]]:
        del options
        return state.conj(), {}

    def assume_full_rank(self) -> bool:
        return True


def reads_handed_state(solver: optx.AbstractRootFinder) -> bool:
    """Whether ``solver`` reads the state that diffrax's Kvaerno5 evaluates at each step's second stage,
    outside the root finds, and hands on to every stage's (``options["init_state"]``): diffrax's
    VeryChord keeps that Newton matrix for the whole step; optimistix's Chord and Newton form their own
    in every root find and never read it. A wrapper reads it where the solver it wraps does; any other
    solver is taken to."""
    if isinstance(solver, StageRootFinderWrapper):
        return reads_handed_state(solver.solver)
    return not isinstance(solver, (optx.Chord, optx.Newton))


class StageRootFinderWrapper(optx.AbstractRootFinder):
    """A root finder that runs ``solver`` (its tolerances and norm), for a wrapper (:class:`TableRowHeld`,
    :class:`uvmsm_jax._sensitivities.StageSensitivities`) to change one part of."""

    solver: optx.AbstractRootFinder
    rtol: float
    atol: float
    norm: Callable[[Any], Array]

    def __init__(self, solver: optx.AbstractRootFinder):
        self.solver = solver
        self.rtol, self.atol, self.norm = solver.rtol, solver.atol, solver.norm

    def init(self, fn, y, args, options, f_struct, aux_struct, tags):
        return self.solver.init(fn, y, args, options, f_struct, aux_struct, tags)

    def step(self, fn, y, args, options, state, tags):
        return self.solver.step(fn, y, args, options, state, tags)

    def terminate(self, fn, y, args, options, state, tags):
        return self.solver.terminate(fn, y, args, options, state, tags)

    def postprocess(self, fn, y, aux, args, options, state, tags, result):
        return self.solver.postprocess(fn, y, aux, args, options, state, tags, result)


class TableRowHeld(StageRootFinderWrapper):
    """``solver`` on an implicit stage of :func:`uvmsm_jax.boltzmann.solve` with the rate table's row at
    the stage time evaluated once per stage, not at every evaluation of the stage relation.

    diffrax's f-space stage relation is f − F(τ_i, Y_partial + γ h f): within one stage τ_i is fixed
    and only the yields change, so every evaluation — the Newton matrix's Jacobian and each chord
    iteration — reads the same table row: its Hermite interpolation and the plasma's exact part,
    about half of an evaluation of F. Here the row is evaluated once, when the stage starts, and the
    relation is diffrax's, term by term and in its order, with F from
    :func:`~uvmsm_jax.boltzmann.rate_equations` on that row: every step and output is bit-identical,
    and distinct random UνMSM points ran ≈ 10 % faster (docs/relic.md, "ODE"). Holding the row's
    fourteen exponentials instead was measured slower. The stage's derivative is not taken through
    it (:class:`uvmsm_jax._sensitivities.StageSensitivities`)."""

    def __init__(self, solver: optx.AbstractRootFinder):  # the wrapper's (a type checker sees the fields')
        super().__init__(solver)

    @staticmethod
    def _held(args):
        # diffrax's f-space stage relation: (stage, γ, vector field, product, τ_i, Y_partial, args, h);
        # the vector field's args are (RateTable, SystemSwitches, conversion weight, adiabatic)
        _, diagonal, _, product, tau, y_partial, (table, *rest), h = args
        return diagonal, product, y_partial, h, table(jnp.asarray(tau)), *rest

    @staticmethod
    def _relation(f, held):
        # runge_kutta._implicit_relation_f of diffrax, the vector field being right_hand_side
        diagonal, product, y_partial, h, row, switches, conversion_weight, adiabatic = held
        y = y_partial + diagonal * product(f, h)
        return f - rate_equations(row, y, switches, conversion_weight, adiabatic), None

    def init(self, fn, y, args, options, f_struct, aux_struct, tags):
        del fn
        held = self._held(args)
        return held, self.solver.init(self._relation, y, held, options, f_struct, aux_struct, tags)

    def step(self, fn, y, args, options, state, tags):
        del fn, args
        held, inner = state
        y, inner, aux = self.solver.step(self._relation, y, held, options, inner, tags)
        return y, (held, inner), aux

    def terminate(self, fn, y, args, options, state, tags):
        del fn, args
        held, inner = state
        return self.solver.terminate(self._relation, y, held, options, inner, tags)

    def postprocess(self, fn, y, aux, args, options, state, tags, result):
        del fn, args
        held, inner = state
        return self.solver.postprocess(self._relation, y, aux, held, options, inner, tags, result)


STAGE_ROOT_FINDERS: dict[str, optx.AbstractRootFinder] = {
    # Newton matrix at each stage's predictor (optimistix's Chord re-linearises on every root find,
    # i.e. per implicit stage). Stopped by the convergence-rate test (Hairer & Wanner's κ criterion)
    # rather than by the residual: in the stiff equilibrium phase the stage residual carries rounding
    # of order |λ| ulp(Y) (|λ| up to 1e12), which a residual test never meets — the step then shrinks
    # without end. The loose tolerance (relative to the step controller's) is enough for the stages.
    # The 2 × 2 Newton systems are solved in closed form (TwoByTwoLU) instead of by a LAPACK call per
    # point and solve: the same steps, the solve stage 1.3–1.6× faster (docs/relic.md, "ODE").
    # The default evaluates the table once per stage (TableRowHeld); the per-step reference keeps
    # diffrax's own stage relation (with the row held, its steps moved by rounding).
    "per-stage": TableRowHeld(
        optx.Chord(
            rtol=1e-3,
            atol=1e-6,
            norm=optx.max_norm,
            kappa=0.1,
            cauchy_termination=False,
            linear_solver=TwoByTwoLU(),
        )
    ),
    # one Newton matrix per step (at the second stage): 3–7× the freeze-out steps (benchmarks/README.md)
    "per-step": diffrax.VeryChord(rtol=1e-3, atol=1e-6, norm=optx.max_norm),
}
"""Root finders of the implicit stages of :func:`uvmsm_jax.boltzmann.solve`, by :attr:`~uvmsm_jax.Settings.stage_jacobian`."""
