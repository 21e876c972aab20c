"""The coupled Boltzmann system for the DM yield and the mediator yield (docs/equations.md A.8.1, B.3).

One system serves both models (the vector portal):

    dY_X/dτ = −k_a (Y_X² − Y_X,eq²) − (k_c Y_X² − k̄_c Y_V²) + 2 (d_X Y_V − d̄_X Y_X²)
    dY_V/dτ = −k_b (Y_V² − Y_V,eq²) + (k_c Y_X² − k̄_c Y_V²) − d_SM (Y_V − Y_V,eq) − ϑ (d_X Y_V − d̄_X Y_X²)

with τ = ln(m_ref/T), k_i = (1+δ) s⟨σv⟩_i/H for the 2→2 processes (a) XX↔SM, (b) VV↔SM,
(c) XX↔VV, d = (1+δ) Γ⟨M/E⟩/H for V → SM and V → XX, the barred coefficients fixed by detailed
balance, and ϑ = 1 unless the Model-2 setting drops the invisible width from the A′ depletion.
This is (A36)–(A37) (and, with only the decay terms, (B13)–(B14)) written in ln x.

Rate coefficients are tabulated once per parameter point on a uniform τ grid and evaluated in the
ODE right-hand side by quintic Hermite interpolation of their logarithms, so the stiff solver sees a
smooth, cheap right-hand side.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import TYPE_CHECKING

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike

from ._lazy import LazyModule
from ._numerics import (
    coarser_collocation_stages,
    finite_difference_matrix,
    linear_collocation,
    quintic_hermite,
    radau_iia,
)

if TYPE_CHECKING:
    import diffrax
else:  # imported on the first solve (docs/relic.md, "Compilation")
    diffrax = LazyModule("diffrax")

# Columns of the rate table (natural logs). k_a = e^{LOG_K_A} − e^{LOG_K_A_SHIFT}: the off-pole
# finite part of (H11) can be negative near a resonance, so it is stored as the difference of two
# positive, smooth, coupling-scaling terms (the shift is zero, LOG_ZERO, for Model 1).
(
    LOG_K_A,
    LOG_K_B,
    LOG_K_C,
    LOG_K_C_REVERSE,
    LOG_D_SM,
    LOG_D_DM,
    LOG_D_DM_INVERSE,
    LOG_Y_DM_EQ,
    LOG_Y_V_EQ,
    LOG_K_A_SHIFT,
) = range(10)
N_COLUMNS = 10
LOG_ZERO = -1.0e30
"""Value standing for ln 0 in the tables: exp gives exactly 0, and adding any finite log (a
detailed-balance shift, a Boltzmann exponent) keeps it at "zero"."""


LOG_ZERO_BELOW = 0.5 * LOG_ZERO
"""A table value below this stands for ln 0 (:data:`LOG_ZERO` plus any finite shift)."""


def log_or_zero(x: Array) -> Array:
    """ln x for x > 0, :data:`LOG_ZERO` for x ≤ 0, with NaN-free gradients."""
    positive = x > 0
    return jnp.where(positive, jnp.log(jnp.where(positive, x, 1.0)), LOG_ZERO)


BACKGROUND_WEIGHTS = np.array(
    [
        [1.0, 1.0, -0.5],  # k_a = (1+δ) s⟨σv⟩/H, s ∝ g*s, H ∝ √g*ρ
        [1.0, 1.0, -0.5],  # k_b
        [1.0, 1.0, -0.5],  # k_c
        [1.0, 1.0, -0.5],  # k̄_c = k_c (Y_X,eq/Y_V,eq)²: g*s cancels in the ratio
        [1.0, 0.0, -0.5],  # d_SM = (1+δ) Γ⟨M/E⟩/H
        [1.0, 0.0, -0.5],  # d_X
        [1.0, 1.0, -0.5],  # d̄_X = d_X Y_V,eq/Y_X,eq², Y_eq ∝ 1/g*s
        [0.0, -1.0, 0.0],  # ln Y_X,eq
        [0.0, -1.0, 0.0],  # ln Y_V,eq
        [1.0, 1.0, -0.5],  # k_a shift
    ]
)
"""∂(column)/∂(ln(1+δ), ln g*s, ln g*ρ): how each log column carries the plasma (docs/equations.md G3–G5)."""


def boltzmann_energies(m_dm: Array, m_v: Array) -> Array:
    """E_j [GeV] of each column's Boltzmann factor e^{−E_j/T} (shape (…, N_COLUMNS)): m_DM and M_V for
    the equilibrium yields, the threshold excess 2 max(M_V − m_DM, 0) of ⟨σv⟩_c (G12) and 2 max(m_DM −
    M_V, 0) of its reverse, M_V − 2m_DM for inverse decays and the (H11) shift, 0 for the rest."""
    zero = jnp.zeros_like(m_dm * m_v)
    excess = 2.0 * jnp.maximum(m_v - m_dm, 0.0)
    reverse = 2.0 * jnp.maximum(m_dm - m_v, 0.0)
    pole = m_v - 2.0 * m_dm
    return jnp.stack([zero, zero, excess, reverse, zero, zero, pole, m_dm + zero, m_v + zero, pole], axis=-1)


ULTRAVIOLET_CUT_POWER = 16
"""Power n of the cut factor exp(−(T/T_c)ⁿ) of :func:`with_ultraviolet_cut`: ≥ 0.947 below T_c/1.2, ≤ 1e-8
above 1.2 T_c."""
ULTRAVIOLET_CUT_LARGEST = 1.0e4
"""Largest (T/T_c)ⁿ taken (exp(−10⁴) is 0 in double precision; no overflow at any T_R)."""


class AnalyticPart(eqx.Module):
    """τ ↦ the part of each log column known in closed form: the plasma's,
    ``BACKGROUND_WEIGHTS`` · (ln(1+δ), ln g*s, ln g*ρ) from ``background``, the Boltzmann exponent
    −E_j/T = −``exponents``_j e^τ (``exponents`` = E_j/m_ref, :func:`boltzmann_energies`) and, where
    ``cut_columns`` is given (:func:`with_ultraviolet_cut`), −(T/T_c)ⁿ in those columns, T_c = m_ref e^{−``cut_tau``}."""

    background: Callable[[Array], Array]
    exponents: Array
    cut_columns: Array | None = None
    cut_tau: Array | None = None

    def __call__(self, tau: Array) -> Array:
        out = self.background(tau) @ jnp.asarray(BACKGROUND_WEIGHTS.T) - self.exponents * jnp.exp(tau)[..., None]
        return out if self.cut_columns is None else out - self.ultraviolet_cut(tau)

    def ultraviolet_cut(self, tau: Array) -> Array:
        """(T/T_c)ⁿ in the ``cut_columns`` (0 in the others; requires them)."""
        assert self.cut_columns is not None and self.cut_tau is not None
        power = jnp.minimum(ULTRAVIOLET_CUT_POWER * (self.cut_tau - tau), math.log(ULTRAVIOLET_CUT_LARGEST))
        return self.cut_columns * jnp.exp(power)[..., None]


class RateTable(eqx.Module):
    """Interpolant of the log rate coefficients on a uniform τ = ln(m_ref/T) grid.

    The part of each column known in closed form (``analytic``, an :class:`AnalyticPart`) is
    evaluated exactly; the rest — thermal averages, widths and the powers of T, smooth in τ — by
    quintic Hermite interpolation of its node values, slopes and curvatures (docs/relic.md, "Rate
    tables"). The g* tables vary on scales of Δln T ≈ 0.03 near the QCD transition (δ up to 0.55),
    finer than the grid, and interpolating them cost up to 2 % in a coefficient there; a Boltzmann
    exponent m/T grows as e^τ and its interpolation error with it.
    Without ``analytic`` every column is interpolated as a whole. ``values``: the columns at the
    nodes (n, N_COLUMNS); ``slopes`` and ``curvatures``: d/dτ and d²/dτ² of their interpolated part;
    ``analytic_nodes``: the analytic part at the nodes. On an interval with a node of ln 0
    (:data:`LOG_ZERO_BELOW`) at either end the column is ln 0 (:func:`interpolant`).
    """

    tau0: Array
    step: Array
    values: Array
    slopes: Array
    curvatures: Array
    analytic_nodes: Array | None = None
    analytic: AnalyticPart | None = None

    def __call__(self, tau: Array) -> Array:
        n = self.values.shape[0]
        u = (tau - self.tau0) / self.step
        i = jnp.clip(jnp.floor(u).astype(jnp.int32), 0, n - 2)
        h = jnp.clip(u - i, 0.0, 1.0)
        lo, hi = self.values[i], self.values[i + 1]
        ends_zero = jnp.minimum(lo, hi) < LOG_ZERO_BELOW
        if self.analytic_nodes is not None:
            lo, hi = lo - self.analytic_nodes[i], hi - self.analytic_nodes[i + 1]
        step2 = self.step * self.step
        rest = quintic_hermite(
            lo,
            hi,
            self.slopes[i] * self.step,
            self.slopes[i + 1] * self.step,
            self.curvatures[i] * step2,
            self.curvatures[i + 1] * step2,
            h,
        )
        rest = jnp.where(ends_zero, LOG_ZERO, rest)
        return rest if self.analytic is None else rest + self.analytic(tau)

    def interpolated_on_intervals(self, fractions: np.ndarray, column: int | None = None) -> Array:
        """The interpolated part of the columns (without ``analytic``) at τ_k + f·step for every interval
        k of the grid and every f of ``fractions`` (a NumPy vector in [0, 1]): shape (n − 1,
        len(fractions), N_COLUMNS), or (n − 1, len(fractions)) for ``column`` alone. With
        :meth:`analytic_on_intervals` added, the values of ``self(τ)`` there, to rounding; the Hermite
        weights of each f are computed once for all intervals instead of a search and gather per point
        (the collocation's stage points, 3 000 a point, made the table lookups most of its time).

        One product of the Hermite weights of ``fractions`` with each interval's end values, slopes and
        curvatures:
        written elementwise, XLA fused the node values' own computation (the analytic part subtracted,
        the slopes' differences) into every stage point's and repeated it there, 3× the time."""
        rest = self.values if self.analytic_nodes is None else self.values - self.analytic_nodes
        slopes = self.slopes * self.step
        curvatures = self.curvatures * (self.step * self.step)
        ends_zero = jnp.minimum(self.values[:-1], self.values[1:]) < LOG_ZERO_BELOW  # (n − 1, N_COLUMNS)
        if column is not None:
            rest, slopes, curvatures = rest[:, column], slopes[:, column], curvatures[:, column]
            ends_zero = ends_zero[:, column]
        f = np.asarray(fractions, dtype=float)
        weights = np.stack([quintic_hermite(u[0], u[1], u[2], u[3], u[4], u[5], f) for u in np.eye(6)], axis=-1)
        ends = jnp.stack(
            [rest[:-1], rest[1:], slopes[:-1], slopes[1:], curvatures[:-1], curvatures[1:]], axis=1
        )  # (n − 1, 6, …)
        return jnp.where(ends_zero[:, None], LOG_ZERO, jnp.einsum("fk,ik...->if...", weights, ends))

    def analytic_on_intervals(self, fractions: np.ndarray) -> Array:
        """The ``analytic`` part of the columns at the points of :meth:`interpolated_on_intervals` (shape
        (n − 1, len(fractions), N_COLUMNS))."""
        assert self.analytic is not None
        f = np.asarray(fractions, dtype=float)
        taus = self.tau0 + (np.arange(self.values.shape[0] - 1)[:, None] + f) * self.step
        return jax.vmap(jax.vmap(self.analytic))(taus)


def _log_zero_nodes_filled(columns: Array) -> Array:
    """``columns`` (n, k) with each node of ln 0 (:data:`LOG_ZERO_BELOW`) replaced by the column's
    nearest node that is not (the earlier one at equal distance); a column of ln 0 throughout is kept."""
    n = columns.shape[0]
    index = jnp.broadcast_to(jnp.arange(n)[:, None], columns.shape)
    finite = columns >= LOG_ZERO_BELOW
    before = jax.lax.cummax(jnp.where(finite, index, -n), axis=0)
    after = jax.lax.cummin(jnp.where(finite, index, 2 * n), axis=0, reverse=True)
    nearest = jnp.clip(jnp.where(index - before <= after - index, before, after), 0, n - 1)
    return jnp.where(finite, columns, jnp.take_along_axis(columns, nearest, axis=0))


def interpolant(values: Array, taus: Array, analytic: AnalyticPart | None = None) -> RateTable:
    """The :class:`RateTable` of node ``values`` (n, N_COLUMNS) on the uniform grid ``taus`` (n ≥ 7),
    with the ``analytic`` part of the columns evaluated exactly where given.

    The slopes and curvatures are the first and second derivatives at each node of the polynomial of
    degree 6 through 7 consecutive nodes of the interpolated part (centred, or shifted within three
    nodes of an end): errors O(h⁶), and O(h⁵) for the curvatures at the ends, so the interpolant is
    accurate to O(h⁶) everywhere (observed O(h⁷) inside; tests/test_boltzmann.py). The cubic Hermite
    interpolant with 4th-order slopes that it replaced was O(h⁴): at 96 nodes the quintic's Ωh² are
    closer to the converged table than the cubic's were at 128 (docs/relic.md, "Rate tables").

    A column can be ln 0 on part of the grid: a thermal average whose threshold lies beyond its
    quadrature's reach (t = 60, N.2) is 0 there, and next to such nodes ±10³⁰ entered the differences
    and put ln k ≈ +10²⁹ into the interval before them (an infinite rate; the solve of such a dark
    photon stalled at ``max_steps``). The slopes and curvatures are now taken with each node of ln 0
    replaced by its column's nearest other node, and an interval with a node of ln 0 at either end
    is ln 0 (:class:`RateTable`): the rate ends at the last node where it is not 0.
    """
    step = taus[1] - taus[0]
    analytic_nodes = None if analytic is None else jax.vmap(analytic)(taus)
    rest = _log_zero_nodes_filled(values if analytic_nodes is None else values - analytic_nodes)
    n = values.shape[0]
    slopes = jnp.asarray(finite_difference_matrix(n, 1)) @ rest / step
    curvatures = jnp.asarray(finite_difference_matrix(n, 2)) @ rest / (step * step)
    return RateTable(
        tau0=taus[0],
        step=step,
        values=values,
        slopes=slopes,
        curvatures=curvatures,
        analytic_nodes=analytic_nodes,
        analytic=analytic,
    )


def with_ultraviolet_cut(table: RateTable, columns: tuple[int, ...], tau_cut: Array) -> RateTable:
    """``table`` with its ``columns`` multiplied by exp(−(T/T_c)ⁿ) (n = :data:`ULTRAVIOLET_CUT_POWER`),
    T_c = m_ref e^{−τ_cut}: the rates those columns stand for switched off above T_c and kept below
    (docs/equations.md K46). The cut is exact, in the analytic part; the interpolated part is unchanged."""
    assert table.analytic is not None and table.analytic_nodes is not None
    weights = jnp.zeros(N_COLUMNS).at[np.asarray(columns)].set(1.0)
    analytic = dataclasses.replace(table.analytic, cut_columns=weights, cut_tau=tau_cut)
    cut = jax.vmap(analytic.ultraviolet_cut)(table.tau0 + table.step * jnp.arange(table.values.shape[0]))
    return dataclasses.replace(
        table, values=table.values - cut, analytic_nodes=table.analytic_nodes - cut, analytic=analytic
    )


class SystemSwitches(eqx.Module):
    """Static switches of the coupled system (which terms are present)."""

    reduced: bool = eqx.field(static=True, default=False)
    """Solve (A38) instead: only Y_X evolves, Y_V = Y_V,eq, conversion weighted by ``conversion_weight``."""
    dm_decay_depletes_mediator: bool = eqx.field(static=True, default=True)
    adiabatic_mediator: bool = eqx.field(static=True, default=False)
    """Allow the adiabatic elimination (H13′) per point: where V ↔ DM DM is fast from the start
    (d_X ≥ :data:`ADIABATIC_DECAY_RATE` at τ_start), evolve N = Y_X + 2Y_V with Y_V = Y_V,eq (Y_X/Y_X,eq)²."""


ADIABATIC_DECAY_RATE = 1.0e4
"""Γ_V→DM DM ⟨M/E⟩/H at T_R above which the mediator is eliminated adiabatically ((H13′); the
forward and backward decay terms then cancel to rounding and the two-yield system is too stiff)."""


def eliminates_mediator(table: RateTable, switches: SystemSwitches) -> Array:
    """Whether a point is solved in the adiabatic form (H13′) (a traced bool)."""
    if not (switches.adiabatic_mediator and switches.dm_decay_depletes_mediator and not switches.reduced):
        return jnp.asarray(False)
    return table.values[0, LOG_D_DM] > jnp.log(ADIABATIC_DECAY_RATE)


def yields(q: Array, y: Array, adiabatic: Array) -> tuple[Array, Array]:
    """(Y_X, Y_V) from the state ``y`` with the table row(s) ``q`` [..., N_COLUMNS]: the state itself, or
    in the adiabatic form N = y[0] → Y_X = 2N/(1 + √(1 + 8N Y_V,eq/Y_X,eq²)), Y_V = (N − Y_X)/2 (H13′)."""
    n = y[..., 0]
    ratio = jnp.exp(jnp.minimum(q[..., LOG_Y_V_EQ] - 2.0 * q[..., LOG_Y_DM_EQ], 600.0))  # Y_V,eq/Y_X,eq²
    z = 8.0 * jnp.maximum(n, 0.0) * ratio
    y_dm = 2.0 * n / (1.0 + jnp.sqrt(1.0 + z))
    # Y_V = (N − Y_X)/2 loses every digit when Y_V ≪ Y_X (then z ≪ 1): use Y_V,eq ρ² there.
    y_v = jnp.where(z < 1.0, ratio * y_dm**2, 0.5 * (n - y_dm))
    return jnp.where(adiabatic, y_dm, y[..., 0]), jnp.where(adiabatic, y_v, y[..., 1])


def right_hand_side(tau: ArrayLike, y: Array, args) -> Array:
    """d(Y_X, Y_V)/dτ of the module docstring; ``args`` = (RateTable, SystemSwitches, conversion_weight,
    adiabatic). In the adiabatic form (H13′) the state is (N, 0) and dN/dτ = dY_X/dτ + 2 dY_V/dτ, in
    which the V ↔ DM DM terms cancel exactly."""
    table, switches, conversion_weight, adiabatic = args
    return rate_equations(table(jnp.asarray(tau)), y, switches, conversion_weight, adiabatic)


def rate_equations(q: Array, y: Array, switches: SystemSwitches, conversion_weight: Array, adiabatic: Array) -> Array:
    """:func:`right_hand_side` at the τ of the table row ``q`` (N_COLUMNS,): what the implicit stages
    of the solve evaluate with their row held (:class:`uvmsm_jax._implicit_stages.TableRowHeld`)."""
    adiabatic = adiabatic & switches.adiabatic_mediator  # the state is (N, 0) only where allowed
    y_dm, y_v = yields(q, y, adiabatic)
    # Y|Y| for the pair terms Y²: the same for Y ≥ 0; a yield pushed below 0 by a step's error (a
    # tail far below its absolute tolerance) is then pulled back instead of driven to −∞ by its own
    # pair losses (docs/relic.md, "ODE")
    dm_pairs, v_pairs = y_dm * jnp.abs(y_dm), y_v * jnp.abs(y_v)
    e = jnp.exp
    annihilation = (
        e(q[LOG_K_A]) * dm_pairs
        - e(q[LOG_K_A] + 2 * q[LOG_Y_DM_EQ])
        - e(q[LOG_K_A_SHIFT]) * dm_pairs
        + e(q[LOG_K_A_SHIFT] + 2 * q[LOG_Y_DM_EQ])
    )
    if switches.reduced:
        conversion = conversion_weight * (e(q[LOG_K_C]) * dm_pairs - e(q[LOG_K_C] + 2 * q[LOG_Y_DM_EQ]))
        return jnp.stack([-annihilation - conversion, jnp.zeros_like(y_v)])
    mediator_annihilation = e(q[LOG_K_B]) * v_pairs - e(q[LOG_K_B] + 2 * q[LOG_Y_V_EQ])
    conversion = e(q[LOG_K_C]) * dm_pairs - e(q[LOG_K_C_REVERSE]) * v_pairs
    dm_decay = e(q[LOG_D_DM]) * y_v - e(q[LOG_D_DM_INVERSE]) * dm_pairs
    sm_decay = e(q[LOG_D_SM]) * y_v - e(q[LOG_D_SM] + q[LOG_Y_V_EQ])
    depletion = dm_decay if switches.dm_decay_depletes_mediator else 0.0
    d_dm = -annihilation - conversion + 2.0 * dm_decay
    d_v = -mediator_annihilation + conversion - sm_decay - depletion
    if switches.adiabatic_mediator:
        d_total = -annihilation + conversion - 2.0 * mediator_annihilation - 2.0 * sm_decay
        return jnp.where(adiabatic, jnp.stack([d_total, jnp.zeros_like(y_v)]), jnp.stack([d_dm, d_v]))
    return jnp.stack([d_dm, d_v])


def annihilation_source(values: Array, log_per: Array | float = 0.0) -> Array:
    """max(k_a, 0) Y_X,eq² e^{−log_per} on table rows ``values`` (…, N_COLUMNS): the SM SM → DM DM
    production term, per e^{log_per} (a yield, as a logarithm, that it is compared with: the ratio is
    formed before the exponential, so neither it nor its derivative under- or overflows)."""
    log_y_eq2 = 2 * values[..., LOG_Y_DM_EQ] - log_per
    source = jnp.exp(values[..., LOG_K_A] + log_y_eq2) - jnp.exp(values[..., LOG_K_A_SHIFT] + log_y_eq2)
    return jnp.maximum(source, 0.0)


def equilibrium_sources(q: Array, switches: SystemSwitches) -> Array:
    """The source terms of each yield with every species at its equilibrium density, by origin, on
    table rows ``q`` (…, N_COLUMNS) → (…, 2, 2): the DM's [from the SM: k_a Y_X,eq²
    (:func:`annihilation_source`); from the mediator: k̄_c Y_V,eq² + 2 d_X Y_V,eq] and the mediator's
    [from the SM: d_SM Y_V,eq + k_b Y_V,eq²; from the DM: k_c Y_X,eq² (+ d̄_X Y_X,eq² where DM DM → V
    feeds it)] ((A36)–(A37); dY/dτ of an empty species). The reduced system (A38) has no decays: there
    the DM's from the mediator is the conversion's k_c Y_X,eq² (at its largest weight, 1)."""
    e = jnp.exp
    dm_eq, v_eq = q[..., LOG_Y_DM_EQ], q[..., LOG_Y_V_EQ]
    if switches.reduced:
        dm_from_mediator = e(q[..., LOG_K_C] + 2 * dm_eq)
    else:
        dm_from_mediator = e(q[..., LOG_K_C_REVERSE] + 2 * v_eq) + 2.0 * e(q[..., LOG_D_DM] + v_eq)
    mediator_from_dm = e(q[..., LOG_K_C] + 2 * dm_eq)
    if switches.dm_decay_depletes_mediator:
        mediator_from_dm = mediator_from_dm + e(q[..., LOG_D_DM_INVERSE] + 2 * dm_eq)
    mediator_from_sm = e(q[..., LOG_D_SM] + v_eq) + e(q[..., LOG_K_B] + 2 * v_eq)
    return jnp.stack(
        [
            jnp.stack([annihilation_source(q), dm_from_mediator], axis=-1),
            jnp.stack([mediator_from_sm, mediator_from_dm], axis=-1),
        ],
        axis=-2,
    )


def production_estimates(table: RateTable, taus: Array, switches: SystemSwitches) -> Array:
    """Estimates of the (DM, mediator) yields produced from an empty start: ∫ dτ of each yield's
    :func:`equilibrium_sources`, trapezoidal on the table nodes. The scales of the solver's absolute
    tolerances (docs/relic.md, "ODE"), not physics: for freeze-in they are the freeze-in yields."""
    sources = equilibrium_sources(table.values, switches).sum(axis=-1)
    return jnp.trapezoid(sources, taus, axis=0)


def solve(
    table: RateTable,
    switches: SystemSwitches,
    conversion_weight: Array,
    adiabatic: Array,
    y0: Array,
    tau_start: Array,
    tau_end: Array,
    rtol: float,
    atol: Array,
    max_steps: int,
    save_taus: Array | None = None,
    save_steps: bool = False,
    stage_jacobian: str = "per-stage",
) -> diffrax.Solution:
    """Integrate the system from ``tau_start`` to ``tau_end`` with an L-stable implicit solver.

    ``y0`` and the solution are in the state variables: (Y_X, Y_V), or (N, 0) where ``adiabatic``
    (:func:`yields` converts). Saved: τ_end, or ``save_taus``; with ``save_steps`` also every accepted
    step (``ts``/``ys`` become pairs; unused step slots hold t = inf).

    ``atol`` is the absolute tolerance on the yields: below it a yield is not resolved relatively,
    which keeps exponentially falling tails (a decaying mediator, an equilibrium tail) cheap.

    Kvaerno5 (ESDIRK, 5th order, L-stable) with a PI step-size controller (gains 0.3/0.3, the
    usual choice for stiff problems — fewer rejected steps in the equilibrium phase); ``throw=False`` so a failing
    point reports through ``Solution.result`` instead of raising (docs/relic.md, "Batches").
    ``stage_jacobian`` (:attr:`~uvmsm_jax.Settings.stage_jacobian`) picks the implicit stages' root
    finder from :data:`uvmsm_jax._implicit_stages.STAGE_ROOT_FINDERS`. Differentiable in forward mode
    (``jax.jvp``, ``jax.jacfwd``) in every array argument but ``atol`` and ``adiabatic``: forward
    sensitivities carried in the state, each implicit stage's solved in closed form
    (:mod:`uvmsm_jax._sensitivities`; docs/relic.md, "Differentiability").
    """
    from ._sensitivities import integrate  # here, not with the package (docs/relic.md, "Compilation")

    return integrate(
        table,
        conversion_weight,
        adiabatic,
        y0,
        tau_start,
        tau_end,
        atol,
        save_taus,
        switches=switches,
        rtol=rtol,
        max_steps=max_steps,
        save_steps=save_steps,
        stage_jacobian=stage_jacobian,
    )


COLLOCATION_STAGES = 4
"""Stages of the Radau IIA collocation of :func:`collocate` (order 7 where the rates are smooth)."""
COLLOCATION_ITERATIONS = 3
"""Quasi-linearisation sweeps of :func:`collocate`; the change in the last one is the Newton check."""


class Collocation(eqx.Module):
    """Result of :func:`collocate`: the yields (Y_X, Y_V) at τ_end, |ΔY_X(τ_end)|/Y_X(τ_end)
    between the last two sweeps (with ``about``: between the sweep and Ỹ_X; 0 where both are 0), and
    ``stages``: (Y_X, Y_V) at the stage points (intervals × subdivisions, COLLOCATION_STAGES) of the
    last sweep."""

    y_dm: Array
    y_v: Array
    newton_change: Array
    stages: tuple[Array, Array]


_SHARED_TERM_COLUMNS = (
    {LOG_K_A_SHIFT: 1},  # k_a's (H11) shift
    {LOG_K_A_SHIFT: 1, LOG_Y_DM_EQ: 2},  # and times Y_X,eq²
    {LOG_K_B: 1},
    {LOG_K_B: 1, LOG_Y_V_EQ: 2},  # k_b Y_V,eq²
    {LOG_K_C: 1},
    {LOG_K_C_REVERSE: 1},
    {LOG_D_SM: 1},
    {LOG_D_SM: 1, LOG_Y_V_EQ: 1},  # d_SM Y_V,eq
    {LOG_D_DM: 1},
    {LOG_D_DM_INVERSE: 1},
)
SHARED_TERMS = np.array([[term.get(j, 0) for j in range(N_COLUMNS)] for term in _SHARED_TERM_COLUMNS], dtype=float)
"""The exponentials of :func:`collocate`'s coefficients that every coupling at one table's masses
shares up to a factor of its own: row i holds the weights of the log columns in term i (in this order:
k_a's shift, and times Y_X,eq²; k_b, and times Y_V,eq²; k_c; k̄_c; d_SM, and times Y_V,eq; d_X; d̄_X)."""


class CollocationTerms(eqx.Module):
    """The coupling-free part of :func:`collocate`'s coefficients on one grid, at its stage points
    (intervals, COLLOCATION_STAGES): ``shared``, the exponentials of :data:`SHARED_TERMS` (…, 10) of a
    table of coupling-free columns, each divided by its largest value e^{``log_scale``} (10,);
    ``log_y_dm_eq``, ln Y_X,eq; ``log_k_a_analytic``, the analytic part of ln k_a. Computed once per
    table (:func:`collocation_terms`) for every coupling that uses it.

    The scale keeps ``shared`` finite: without its couplings and widths a term can exceed the largest
    float where the point's own term is 0 (d̄_X ∝ e^{(2m_X − M_V)/T} below the pole, where Γ_X = 0)."""

    shared: Array
    log_scale: Array
    log_y_dm_eq: Array
    log_k_a_analytic: Array


def _stage_fractions(subdivisions: int) -> np.ndarray:
    """The stage points of :func:`collocate` as fractions of a table interval (sub-interval, stage)."""
    nodes, _ = radau_iia(COLLOCATION_STAGES)
    return (np.arange(subdivisions)[:, None] + nodes) / subdivisions


def collocation_terms(coupling_free: RateTable, subdivisions: int) -> CollocationTerms:
    """The :class:`CollocationTerms` of the grid with ``subdivisions`` per table interval from a table of
    coupling-free columns (:func:`~uvmsm_jax.rates.coupling_free_log_rates`, with its analytic part)."""
    fractions = _stage_fractions(subdivisions).ravel()
    analytic = coupling_free.analytic_on_intervals(fractions)
    q = (coupling_free.interpolated_on_intervals(fractions) + analytic).reshape(-1, COLLOCATION_STAGES, N_COLUMNS)
    exponents = q @ jnp.asarray(SHARED_TERMS.T)
    log_scale = jnp.max(exponents, axis=(0, 1))
    return CollocationTerms(
        shared=jnp.exp(exponents - log_scale),
        log_scale=log_scale,
        log_y_dm_eq=q[..., LOG_Y_DM_EQ],
        log_k_a_analytic=analytic[..., LOG_K_A].reshape(-1, COLLOCATION_STAGES),
    )


def collocate(
    table: RateTable,
    terms: CollocationTerms,
    log_shifts: Array,
    switches: SystemSwitches,
    y0: Array,
    subdivisions: int,
    about: tuple[Array, Array] | None = None,
) -> Collocation:
    """The system of the module docstring (two-yield form; not the reduced or adiabatic forms) by Radau IIA
    collocation on a fixed grid: every interval of the table's grid split into ``subdivisions``
    (docs/relic.md, "Collocation"; the system of docs/equations.md A.8.1).

    Each yield obeys dY/dτ = P − L Y − B Y² given the other yield (for the mediator L = d_SM + ϑ d_X,
    B = k_b + k̄_c; for the DM L = 0, B = k_a + k_c + 2 d̄_X; P, L ≥ 0, and B ≥ 0 except where the
    finite part of (H11) in k_a is negative near Model 2's pole — the sweeps are the same). A sweep
    replaces B Y² by its linearisation 2BỸ Y − BỸ² about the previous sweep's Ỹ (zero at first) and
    solves the mediator's linear equation, then the DM's with the new mediator yield
    (:func:`~uvmsm_jax._numerics.linear_collocation`). The first sweep is the solution without
    back-reaction (freeze-in); each further one a Newton step of the quadratic terms, so the sweeps
    converge fast only where the quadratic terms are a small correction — the caller accepts a result
    only where the last change is small and a second grid agrees. ``y0``: (Y_X, Y_V) at τ_start.
    ``about``: (Ỹ_X, Ỹ_V) at this grid's stage points; given, one sweep about them instead of
    :data:`COLLOCATION_ITERATIONS` from zero (the check grid about the solution on the finer grid).

    The coefficients at the stage points are the point's: ln k_a interpolated from ``table`` (its width
    term varies with T), every other one a :class:`CollocationTerms` exponential of its masses' table
    (``terms``, this grid's) times e^{``log_shifts``} (the point's
    :func:`~uvmsm_jax.rates.coupling_log_shifts`, weighted by :data:`SHARED_TERMS`) and by the terms' scale.
    """
    _, matrix = radau_iia(COLLOCATION_STAGES)
    fractions = _stage_fractions(subdivisions).ravel()
    log_k_a = table.interpolated_on_intervals(fractions, LOG_K_A).reshape(-1, COLLOCATION_STAGES)
    log_k_a = log_k_a + terms.log_k_a_analytic
    shared = terms.shared * jnp.exp(jnp.asarray(SHARED_TERMS) @ log_shifts + terms.log_scale)
    k_a_shift, k_a_shift_source, k_b, k_b_source, k_c, k_c_reverse, d_sm, d_sm_source, d_dm, d_dm_inverse = (
        jnp.moveaxis(shared, -1, 0)
    )
    steps = jnp.full(log_k_a.shape[0], table.step / subdivisions)
    depletion = 1.0 if switches.dm_decay_depletes_mediator else 0.0
    dm_sink = jnp.exp(log_k_a) - k_a_shift + k_c + 2.0 * d_dm_inverse
    dm_source = jnp.exp(log_k_a + 2 * terms.log_y_dm_eq) - k_a_shift_source
    dm_from_mediator = k_c_reverse
    dm_decay = d_dm
    mediator_sink = k_b + dm_from_mediator
    mediator_decay = d_sm + depletion * dm_decay
    mediator_source = k_b_source + d_sm_source
    dm_to_mediator = k_c + depletion * d_dm_inverse

    def sweep(_, state):
        y_dm, y_v, _ = state
        y_v = linear_collocation(
            mediator_decay + 2.0 * mediator_sink * y_v,
            mediator_source + dm_to_mediator * y_dm**2 + mediator_sink * y_v**2,
            steps,
            y0[1],
            matrix,
        )
        new_y_dm = linear_collocation(
            2.0 * dm_sink * y_dm,
            dm_source + dm_from_mediator * y_v**2 + 2.0 * dm_decay * y_v + dm_sink * y_dm**2,
            steps,
            y0[0],
            matrix,
        )
        return new_y_dm, y_v, y_dm[-1, -1]

    if about is None:
        # one traced sweep, not one per iteration: the compiled program is a third of the size
        zeros = jnp.zeros_like(dm_sink)
        y_dm, y_v, previous = jax.lax.fori_loop(0, COLLOCATION_ITERATIONS, sweep, (zeros, zeros, zeros[-1, -1]))
    else:
        y_dm, y_v, previous = sweep(0, (*about, about[0][-1, -1]))
    final = y_dm[-1, -1]
    change = jnp.abs(final - previous) / jnp.where(final != 0, jnp.abs(final), 1.0)
    return Collocation(y_dm=final, y_v=y_v[-1, -1], newton_change=change, stages=(y_dm, y_v))


def on_coarser_grid(fine: Collocation, y0: Array, ratio: int) -> tuple[Array, Array]:
    """(Y_X, Y_V) of ``fine`` (a :func:`collocate` solution starting from ``y0`` = (Y_X, Y_V)) at the stage
    points of the grid with ``ratio`` times fewer sub-intervals: the ``about`` of that grid's
    :func:`collocate` (:func:`~uvmsm_jax._numerics.coarser_collocation_stages`)."""
    nodes, _ = radau_iia(COLLOCATION_STAGES)
    y_dm, y_v = (
        coarser_collocation_stages(stages, start, nodes, ratio) for stages, start in zip(fine.stages, y0, strict=True)
    )
    return y_dm, y_v
