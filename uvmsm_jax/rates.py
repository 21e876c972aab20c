"""Thermal averages, reaction rates and the Boltzmann rate coefficients (docs/equations.md G.4, G.6, A.5).

All thermal averages use Maxwell–Boltzmann statistics for the initial state (docs/equations.md G.2).
Everything is returned as a natural logarithm with the Boltzmann exponent combined analytically
from scaled Bessel functions, so nothing under- or overflows up to m/T ~ 1e3 and beyond
(docs/equations.md N.1–N.2).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike

from . import boltzmann as bz
from . import constants as c
from ._numerics import along_first_axis
from ._programs import jit
from .hadrons import Current, fermion_pair_phase_space, sm_width_unit
from .portal import VectorPortal
from .settings import Mode, Settings
from .special import bessel_k0e, bessel_k1e, bessel_k2e, bessel_k_boltzmann_grid
from .thermo import DegreesOfFreedom, degrees_of_freedom, entropy_density, hubble_rate, log_yield_eq, mean_inverse_gamma
from .xsec import (
    annihilation_normalisation,
    safe_sqrt,
    sigma_dirac_pair_to_mediator_pair,
    sigma_dirac_pair_to_sm,
    sigma_dm_pair_to_mediator_pair,
    sigma_dm_pair_to_sm,
    sigma_mediator_pair_to_fermion,
)

# Panel boundaries in t = (√s − √s_min)/T of the composite Gauss–Legendre rule: geometric near
# threshold, then covering the exponential tail up to e^{-60} (docs/equations.md N.2).
_FIXED_T_PANELS = np.array([0.0, 1e-3, 1e-2, 0.05, 0.2, 0.6, 1.5, 3.5, 7.0, 13.0, 22.0, 36.0, 60.0])
NODES_PER_PANEL = {"annihilation": 8, "mediator_annihilation": 6, "conversion": 6}
"""Gauss–Legendre nodes per panel of each thermal average (processes a, b, c): about the fewest whose
ln⟨σv⟩ agrees with 32 nodes per panel to the accuracy of the rest of the rate layer, and at least 64
nodes in all (N.2; (c) has only the 12 fixed panels). Measured max |Δ ln⟨σv⟩| on 80 random points of
each model, every temperature of the table: (c) 2.1e-8 at 6 nodes (9.0e-8 at 5, 6.2e-9 at 8); (b)
on its panels in t, 1.7e-5 at 6 (5.8e-6 at 8), and on the grid its temperatures now share
(:data:`SHARED_GRID_PANELS`), 2.4e-5 at 6; (a) at 8, 1.3e-4 for Model 1 and 2.9e-3 for
Model 2 (the R data's point-to-point kinks above 4.7 GeV), at 6, 3.1e-4 for Model 1
(docs/relic.md, "Thermal averages")."""
RESONANCE_WINDOW_EDGES = (-16.0, -8.0, -4.0, -2.0, -1.0, 1.0, 2.0, 4.0, 8.0, 16.0)
"""Panel edges s = M² + k·W about the excised window of half-width W (G19), in multiples k of W: the
off-pole integrand falls as 1/(s − M²)² away from the window, which one panel out to the next
edge does not resolve. Edges out to ±4W left ⟨σv⟩_a of Model 1 off by up to 5.5e-4 in the log where
the pole lies inside the thermal range (T ≳ M_V/60); out to ±16W, 1.3e-4 (more edges: no change)."""

RESONANCE_EXCISION = 0.05
"""Δ_exc of docs/equations.md G19: |s − M²| < Δ_exc M² is excised from the off-pole integral."""
T_QCD = 0.15
"""Temperature [GeV] below which quark channels of process (b) are switched off (docs/equations.md K14)."""

# Panel edges in √s [GeV] over the tabulated hadronic region, where σ_a(s) ∝ R(√s): the 2m_π
# threshold, 0.1 GeV steps, and dense edges across the narrow ω (0.783, Γ = 8.5 MeV) and
# φ (1.019, Γ = 4.3 MeV) peaks. Converted to t = (√s − √s_min)/T for each temperature.
_HADRONIC_SQRT_S_EDGES = tuple(
    sorted(
        {
            2 * c.M_PI_CHARGED,
            *np.round(np.arange(0.3, 2.05, 0.1), 6),
            0.74,
            0.76,
            0.77,
            0.775,
            0.78,
            0.785,
            0.79,
            0.80,
            0.82,
            1.00,
            1.010,
            1.015,
            1.018,
            1.020,
            1.022,
            1.025,
            1.03,
            1.04,
        }
    )
)


_CHARMONIUM_SQRT_S_EDGES = tuple(np.round(np.arange(3.70, 4.70 + 1e-9, 0.05), 6))
"""Panel edges [GeV] across the charmonium structure of the PDG R data (ψ(3770) … ψ(4415): steps of
5–10 % in R between neighbouring points), for where the data are used above 2 GeV."""


@functools.cache
def _annihilation_sqrt_s_edges(sqrt_s_switch: float, current: str) -> tuple[float, ...]:
    """Panel edges [GeV] of the σ_a average: the hadronic edges plus every place where Γ_SM(√s) is
    not smooth — the √-thresholds of the lepton and quark pairs, the quark/R-ratio switch and the
    end of the PDG R data, and where the R data hold above 2 GeV (the EM current, or a switch above
    the charmonium region), their charmonium structure. A kink between two nodes makes the quadrature
    sum a non-smooth function of the masses (a node sweeping across the b threshold moved
    d ln⟨σv⟩/d ln M_N₁ by 0.6); as panel edges they move with t = (√s − √s_min)/T and the rate stays
    smooth. Without the charmonium edges ⟨σv⟩_a of the EM current differed from 32 Gauss nodes per
    panel by up to 1.8e-2 at T ≈ 1–2 GeV (2.9e-3 with them)."""
    from .hadrons import pdg_r_ratio_points

    kinks = {2 * mass for mass in (c.M_ELECTRON, c.M_MUON, c.M_TAU, c.M_PI0, *c.QUARK_MASSES.values()) if mass > 0}
    kinks.add(float(pdg_r_ratio_points()[0][-1]))
    if np.isfinite(sqrt_s_switch):
        kinks.add(sqrt_s_switch)
    if current == "em" or sqrt_s_switch > _CHARMONIUM_SQRT_S_EDGES[0]:
        kinks.update(_CHARMONIUM_SQRT_S_EDGES)
    return tuple(sorted(kinks.union(_HADRONIC_SQRT_S_EDGES)))


def _merge_ascending(a: Array, b: Array) -> Array:
    """The ascending union, repeats kept, of two ascending 1-d arrays: the values of
    ``jnp.sort(jnp.concatenate([a, b]))``, placed by rank (a_i at i + #{b < a_i}, b_j at j + #{a ≤ b_j},
    a permutation) instead of by a sort (N.2): the edges of process (a) took 0.90 ms a point sorted
    and take 0.28–0.37 ms merged."""
    rank_a = jnp.arange(a.shape[0]) + jnp.sum(b[None, :] < a[:, None], axis=1)
    rank_b = jnp.arange(b.shape[0]) + jnp.sum(a[None, :] <= b[:, None], axis=1)
    merged = jnp.zeros(a.shape[0] + b.shape[0], dtype=jnp.result_type(a, b))
    return merged.at[rank_a].set(a).at[rank_b].set(b)


def _gauss_legendre_on(lo: Array, hi: Array, nodes_per_panel: int) -> tuple[Array, Array]:
    """Nodes and weights, shape (panels, ``nodes_per_panel``), of the Gauss–Legendre rule on each panel
    [lo, hi] (a panel of zero width gets weight 0)."""
    half = 0.5 * (hi - lo)
    gl_x, gl_w = np.polynomial.legendre.leggauss(nodes_per_panel)
    return (0.5 * (hi + lo))[:, None] + half[:, None] * gl_x[None, :], half[:, None] * gl_w[None, :]


def _gauss_legendre_panels(edges: Array, nodes_per_panel: int) -> tuple[Array, Array]:
    """Nodes and weights of the composite Gauss–Legendre rule on the panels between ascending ``edges``
    (a repeated edge leaves a panel of zero width, whose nodes get weight 0)."""
    nodes, weights = _gauss_legendre_on(edges[:-1], edges[1:], nodes_per_panel)
    return nodes.ravel(), weights.ravel()


def _composite_edges(breakpoint_groups_t: Sequence[Array]) -> Array:
    """Ascending panel edges on t ∈ [0, 60]: the fixed breakpoints merged with the given ones (each
    group ascending, clipped to [0, 60]; a clipped edge leaves a panel of zero width)."""
    t_max = _FIXED_T_PANELS[-1]
    edges = jnp.asarray(_FIXED_T_PANELS)
    for group in breakpoint_groups_t:
        edges = _merge_ascending(edges, jnp.clip(group, 0.0, t_max))
    return edges


SHARED_GRID_PANELS = 48
"""Geometric panels of the quadrature grid in x = √s − √s_min that a table's temperatures share
(processes (a) of the Majorana N₁ and (b); :func:`_shared_grid_nodes`): from 10⁻³ T_min to 60 T_max
(the first and last fixed t edges at the extreme temperatures), an edge ratio of 1.76–2.13 on τ
ranges of 7–11 decades (the fixed t panels': 1.6–2.5 above t = 0.6). Max |Δ ln⟨σv⟩_b| against each
temperature alone on its t panels at 32 nodes per panel (itself converged to 2e-7), 128
temperatures from 100 max(m) to min(m)/10⁵, 6 nodes per panel: 2.4e-5 on 24 random points (32
panels: 5.4e-5; 8 nodes at 40 or 48 panels: 1.2e-5, 1.1e-5), 1.6e-5 on 40 others; the t panels at
6 nodes: 3.1e-5. ⟨σv⟩_a: see :func:`_log_sigma_v_annihilation`."""


def _nodes_computed_once(x: Array, w: Array) -> tuple[Array, Array]:
    """The ascending nodes ``x`` and their weights ``w`` as they are; on CPU through a stable sort,
    which XLA does not fuse into its consumers: otherwise it computes the nodes from the panel edges
    inside the loop over (temperature, node) of :func:`_pair_weights`, which then ran ≈ 2.5×
    slower (docs/relic.md, "Thermal averages")."""

    def stably_sorted(x, w):
        x, w = jax.lax.sort((x, w), num_keys=1, is_stable=True)
        return x, w

    return jax.lax.platform_dependent(x, w, cpu=stably_sorted, default=lambda x, w: (x, w))


def _ascending_computed_once(t: Array) -> Array:
    """The ascending nodes ``t`` as they are; on CPU through a running maximum, which XLA does not fuse
    into its consumers: otherwise it computes each node from its temperature's panel edges inside the
    loop over the integrand of :func:`_sigma_v_scaled`, which then ran ≈ 1.5× slower (the Dirac χ's
    rate table; docs/relic.md, "Thermal averages"). A sort, as in :func:`_nodes_computed_once`, cost
    more than it saved on these per-temperature nodes. The nodes' tangents pass through unchanged:
    with ``cummax``'s own derivative rule, the compiled forward derivative differed from the uncompiled
    one and from finite differences (d ln⟨σv⟩_a/d ln m_χ of the Dirac χ by up to 1 at (m_χ, m_A′, ε, e′) =
    (0.1, 0.15, 1e-4, 0.1))."""
    return jax.lax.platform_dependent(t, cpu=_running_maximum_of_ascending, default=lambda t: t)


@jax.custom_jvp
def _running_maximum_of_ascending(t: Array) -> Array:
    """``jax.lax.cummax`` of ascending ``t`` (its values), with the derivative of the identity."""
    return jax.lax.cummax(t)


@_running_maximum_of_ascending.defjvp
def _running_maximum_of_ascending_jvp(primals, tangents):
    return _running_maximum_of_ascending(*primals), tangents[0]


def _shared_grid_nodes(
    m: Array, temperatures: Array, breakpoint_groups_x: Sequence[Array], nodes_per_panel: int
) -> tuple[Array, Array, Array]:
    """(x = √s − 2m [GeV] and s [GeV²] at the nodes, Gauss–Legendre weights in x [GeV]) of the one
    composite grid in x on which the Gondolo–Gelmini averages (G12) of a pair of mass m at a table's
    temperatures T (1-d, GeV) are taken (:func:`_shared_grid_average`; N.2).

    The edges are 0, then :data:`SHARED_GRID_PANELS` geometric panels from 10⁻³ T_min to 60 T_max,
    merged with each ascending group of breakpoints x (clipped to [0, 60 T_max]). A node beyond
    x = 60 T adds less than e^{−60} of a temperature's integral. A cross section that does not depend
    on T is so evaluated once per node instead of once per node and temperature."""
    x_lo = _FIXED_T_PANELS[1] * jnp.min(temperatures)
    x_hi = _FIXED_T_PANELS[-1] * jnp.max(temperatures)
    steps = np.arange(SHARED_GRID_PANELS + 1) / SHARED_GRID_PANELS
    edges = jnp.concatenate([jnp.zeros(1), x_lo * (x_hi / x_lo) ** steps])
    for group in breakpoint_groups_x:
        edges = _merge_ascending(edges, jnp.clip(group, 0.0, x_hi))
    x, w = _nodes_computed_once(*_gauss_legendre_panels(edges, nodes_per_panel))
    return x, (2.0 * m + x) ** 2, w


THRESHOLD_FRAME = 1e-2
"""x_f/m of the threshold frame in which σ_a's averages are differentiated (:func:`_threshold_frame`;
N.2′): the nodes follow the threshold up to x ≈ x_f and stand still in √s
beyond. Next to the threshold a frame at rest left O(m/T) terms to cancel numerically
(d ln⟨σv⟩_a/d ln M_N₁ off by 0.57 at T = 10⁻⁸ M_N₁); beyond x_f = 10⁻² m they are of order
m/x_f = 100 at most."""


def _frame_velocity(x: Array, m: Array, scale: float) -> Array:
    """V = 2(m − m₀) e^{−x/x_f} [GeV], m₀ = m held (0 in value, in tangent the velocity v = 2 dm e^{−x/x_f}
    in √s), x_f = ``scale``·m₀: the threshold frame's displacement at x = √s − 2m [GeV], which the
    caller holds (:func:`_threshold_frame`; N.2′)."""
    follow = jnp.exp(-x / (scale * jax.lax.stop_gradient(m)))
    return 2.0 * (m - jax.lax.stop_gradient(m)) * follow


def _threshold_frame(
    t: Array, w: Array, m: Array, sqrt_s_min: Array, temperature: Array, follow_edges: Array
) -> tuple[Array, Array]:
    """The nodes t = (√s − √s_min)/T and weights w (in t) as they are where ``follow_edges`` (a bool:
    the rule's derivative), else in the threshold frame (N.2′): the values unchanged, the nodes carried
    from the point as held (θ₀: m₀, T₀, the rule's nodes u = √s_min,₀ + T₀t₀ in √s) by the change of
    variables Φ(u) = u + V(u), V = 2(m − m₀) e^{−(u − 2m₀)/x_f} of :func:`_frame_velocity` — with the
    threshold next to it, at rest beyond x_f = :data:`THRESHOLD_FRAME` · m₀ — so t = (Φ(u) − √s_min)/T
    and w = w₀ (T₀/T) Φ′(u), Φ′ = 1 − V/x_f. To first order dt = (v − d√s_min − t dT)/T and
    dw = w (∂v/∂√s − dT/T); and as Φ is a change of variables for every θ, not only to first order,
    every derivative of the sum, the second included, is the integral's, which neither samples σ′
    beyond x_f nor follows the rule as its edges cross. A temperature's panels (the Dirac χ's σ_a)
    pass their T; the shared grid its nodes x = √s − 2m with √s_min = 2m and T = 1."""
    held_t, held_w, held_m, held_temperature, held_sqrt_s_min = jax.lax.stop_gradient(
        (t, w, m, temperature, sqrt_s_min)
    )
    velocity = _frame_velocity(held_sqrt_s_min - 2.0 * held_m + held_temperature * held_t, m, THRESHOLD_FRAME)
    framed_t = (
        held_t + (velocity - (sqrt_s_min - held_sqrt_s_min) - held_t * (temperature - held_temperature)) / temperature
    )
    framed_w = held_w * (held_temperature / temperature) * (1.0 - velocity / (THRESHOLD_FRAME * held_m))
    return jnp.where(follow_edges, t, framed_t), jnp.where(follow_edges, w, framed_w)


def _pair_weights(m: Array, temperatures: Array, x: Array, w: Array) -> Array:
    """W_ij = w_j 2s(s − 4m²) K̂₁(√s/T_i) e^{−x_j/T_i}/N(m, T_i) (dimensionless; [temperature, node]): the
    weights of (G12) at each temperature T_i on the nodes x_j, w_j of :func:`_shared_grid_nodes`, with N
    of :func:`gondolo_gelmini_normalisation`, so that Σ_j W_ij σ(s_j) = ⟨σv⟩(T_i) (N.2)."""
    sqrt_s = 2.0 * m + x
    s = sqrt_s**2
    t = temperatures[:, None]
    kernel = 2.0 * s * (s - 4.0 * m**2) * bessel_k_boltzmann_grid(1, 2.0 * m, x, temperatures)
    return w * kernel / gondolo_gelmini_normalisation(m, t)


@jax.custom_jvp
def _shared_grid_average(m: Array, temperatures: Array, x: Array, w: Array, values: Array) -> Array:
    """Σ_j W_ij values_j with W of :func:`_pair_weights` ([temperature] or [temperature, k], in the units
    of ``values``): the Gondolo–Gelmini averages (G12) of ``values`` (σ at the nodes, [node] or
    [node, k]) at each temperature T_i on the nodes x, w of :func:`_shared_grid_nodes` (N.2).

    Its derivative is written out (N.2′): K̂₁′ = K̂₁ − K̂₀ − K̂₁/z adds one kernel matrix, e^{−x/T}
    K̂₀(√s/T)/N, and every direction is then two matrix–vector products. Forward mode through K̂₁
    carried the kernel's tangent at every (temperature, node) pair for each direction (a table's
    derivative in 5 directions: 6× the table; docs/relic.md, "Thermal averages")."""
    return _pair_weights(m, temperatures, x, w) @ values


@_shared_grid_average.defjvp
def _shared_grid_average_jvp(primals, tangents):
    m, temperatures, x, w, values = primals
    m_dot, t_dot, x_dot, w_dot, values_dot = tangents
    weights = _pair_weights(m, temperatures, x, w)
    out = weights @ values
    column = (lambda v: v[:, None]) if values.ndim == 2 else (lambda v: v)
    sqrt_s = 2.0 * m + x
    s = sqrt_s**2
    phase = 2.0 * s * (s - 4.0 * m**2)
    t = temperatures[:, None]
    # V = e^{−x/T} K̂₀(√s/T)/N of (N.2′), its nodes behind a barrier so that XLA computes it in a loop
    # of its own: XLA:CPU ran one loop with both W and V as outputs ≈ 2× slower than the two loops
    by_k0 = bessel_k_boltzmann_grid(0, 2.0 * m, jax.lax.optimization_barrier(x), temperatures)
    by_k0 = by_k0 / gondolo_gelmini_normalisation(m, t)
    # c_j of (N.2′); 0 at a node of zero weight or phase space
    safe_phase = jnp.where(phase > 0, phase, 1.0)
    safe_w = jnp.where(w != 0, w, 1.0)
    moved = x_dot + 2.0 * m_dot
    node_factor = jnp.where(
        (phase > 0) & (w != 0),
        w_dot / safe_w
        + (8.0 * sqrt_s * (s - 2.0 * m**2) / safe_phase - 1.0 / sqrt_s) * moved
        - 16.0 * m * m_dot * s / safe_phase,
        0.0,
    )
    weighted = column(w * phase) * values
    t_col = column(temperatures)
    log_norm_dot = jax.jvp(
        lambda m, t: jnp.log(gondolo_gelmini_normalisation(m, t)), (m, temperatures), (m_dot, t_dot)
    )[1]
    out_dot = (
        weights @ (values_dot + column(node_factor) * values)
        + (column(t_dot) * (by_k0 @ (column(sqrt_s) * weighted)) / t_col - by_k0 @ (column(moved) * weighted)) / t_col
        + (2.0 * m_dot / t_col + column(t_dot) * (1.0 / t_col - 2.0 * m / t_col**2) - column(log_norm_dot)) * out
    )
    return out, out_dot


def _sigma_v_scaled(
    sigma: Callable[[Array], Array],
    m: Array,
    sqrt_s_min: Array,
    temperature: Array,
    breakpoint_groups_sqrt_s: Sequence[Sequence[ArrayLike]],
    nodes_per_panel: int,
) -> Array:
    """⟨σv⟩·e^{(√s_min − 2m)/T} [GeV⁻²] of (G12); see :func:`log_sigma_v_identical_pair`."""
    t, w = _gauss_legendre_panels(_t_panel_edges(sqrt_s_min, temperature, breakpoint_groups_sqrt_s), nodes_per_panel)
    t = _ascending_computed_once(t)
    sigma_s = sigma((sqrt_s_min + temperature * t) ** 2)
    return _t_panel_integral(m, sqrt_s_min, temperature, t, w, sigma_s) / gondolo_gelmini_normalisation(m, temperature)


def _t_panel_edges(
    sqrt_s_min: Array, temperature: Array, breakpoint_groups_sqrt_s: Sequence[Sequence[ArrayLike]]
) -> Array:
    """The panel edges in t = (√s − √s_min)/T of (G12) at temperature T [GeV] (:func:`_composite_edges`):
    the fixed ones and the breakpoints √s [GeV] (groups, each ascending)."""
    groups_t = [
        (jnp.stack([jnp.asarray(b, dtype=float) for b in group]) - sqrt_s_min) / temperature
        for group in breakpoint_groups_sqrt_s
        if len(group)
    ]
    return _composite_edges(groups_t)


PANEL_PASS = 512
"""(temperature, panel) pairs evaluated together by :func:`_sigma_v_scaled_on_panels`."""


def _sigma_v_scaled_on_panels(
    sigma: Callable[[Array, Array, Array, Any], Array],
    nodes_per_panel: int,
    m: Array,
    sqrt_s_min: Array,
    temperatures: Array,
    edges_t: Array,
    pole_mass: Array,
    sigma_args: Any,
    follow_edges: Array,
) -> Array:
    """:func:`_sigma_v_scaled` at each of the temperatures T (1-d, GeV), T_i on its own panels between
    the ascending edges ``edges_t[i]`` in t (:func:`_t_panel_edges`; shape (n_T, n_edges)), with σ
    called as σ(s, s − M², i, ``sigma_args``) at temperature T_i (M = ``pole_mass``; s − M² from
    x = √s − 2m as in (G19′)).

    Only the panels of non-zero width are evaluated (:func:`_panel_sums`): a clipped edge leaves a
    panel of zero width, whose nodes have weight 0 — the Dirac χ's √s edges of the EM current beyond
    t = 60 at the lower temperatures of a table, and the edges of a window or threshold structure
    that is absent, ≈ half of its panels. The derivative is written out (docs/equations.md N.2′):
    each such panel's gradient in everything it depends on, summed per temperature in a loop over
    the same pairs, so that a direction costs a dot product and reverse mode transposes it. Its nodes
    move with the panel edges where ``follow_edges`` (a bool), else in the threshold frame
    (:func:`_threshold_frame`)."""
    integrals = _panel_integrals(
        sigma, nodes_per_panel, m, sqrt_s_min, temperatures, edges_t, pole_mass, sigma_args, follow_edges
    )
    return integrals / gondolo_gelmini_normalisation(m, temperatures)


@functools.partial(jax.custom_jvp, nondiff_argnums=(0, 1))
def _panel_integrals(
    sigma, nodes_per_panel, m, sqrt_s_min, temperatures, edges_t, pole_mass, sigma_args, follow_edges
) -> Array:
    """The integrals I(T_i) of :func:`_sigma_v_scaled_on_panels` (before the normalisation N(m, T_i))."""
    shared = (m, sqrt_s_min, pole_mass, follow_edges, sigma_args)
    return _panel_sums(sigma, nodes_per_panel, shared, temperatures, edges_t, False)


@_panel_integrals.defjvp
def _panel_integrals_jvp(sigma, nodes_per_panel, primals, tangents):
    """dI_i of docs/equations.md N.2′ from the per-pair gradients of :func:`_panel_sums`."""
    m, sqrt_s_min, temperatures, edges_t, pole_mass, sigma_args, follow_edges = primals
    m_dot, sqrt_s_min_dot, temperatures_dot, edges_dot, pole_mass_dot, sigma_args_dot, follow_dot = tangents
    shared = (m, sqrt_s_min, pole_mass, follow_edges, sigma_args)
    shared_jacobian, temperature_jacobian, lo_jacobian, hi_jacobian = _panel_sums(
        sigma, nodes_per_panel, shared, temperatures, edges_t, True
    )
    moving_dot, _ = eqx.partition(
        (m_dot, sqrt_s_min_dot, pole_mass_dot, follow_dot, sigma_args_dot),
        jax.tree_util.tree_map(eqx.is_inexact_array, shared),
    )
    n_t = temperatures.shape[0]
    integrals_dot = temperature_jacobian * temperatures_dot + jnp.sum(
        lo_jacobian.reshape(n_t, -1) * edges_dot[:, :-1] + hi_jacobian.reshape(n_t, -1) * edges_dot[:, 1:], axis=1
    )
    for jacobian, dot in zip(jax.tree_util.tree_leaves(shared_jacobian), jax.tree_util.tree_leaves(moving_dot)):
        integrals_dot = integrals_dot + jnp.tensordot(jacobian, dot, axes=dot.ndim)
    # the integrals by the loop without gradients: the same numbers as without a derivative
    return _panel_integrals(sigma, nodes_per_panel, *primals), integrals_dot


def _panel_sums(sigma, nodes_per_panel, shared, temperatures, edges_t, gradients: bool):
    """The integrals of :func:`_panel_integrals`: each (temperature, panel) pair of non-zero width adds
    T_i Σ_j w_j (…) over its nodes (:func:`_t_panel_integral`) to its temperature's sum; the pairs are
    listed in order and taken :data:`PANEL_PASS` at a time until the last (a ``while`` loop). The sums
    are those of :func:`_sigma_v_scaled` in another order of addition. ``shared`` = (m, √s_min, M,
    ``follow_edges``, σ's arguments).

    With ``gradients``, instead each pair's gradient in the inexact arrays of ``shared``, in its
    temperature and in its two edges, summed per temperature: the shared ones' (n_T, …) per leaf, the
    temperatures' (n_T,), the lower and the upper edges' (n_T · n_panels,). A zero-width panel is left
    out of the derivative too: its edges are a kink of the sum (docs/equations.md N.2′)."""
    n_t, n_panels = edges_t.shape[0], edges_t.shape[1] - 1
    slots = n_t * n_panels
    lo, hi = edges_t[:, :-1].ravel(), edges_t[:, 1:].ravel()
    moving, fixed = eqx.partition(shared, eqx.is_inexact_array)

    def pair_integral(moving, temperature, lo, hi, i):
        m, sqrt_s_min, pole_mass, follow_edges, sigma_args = eqx.combine(moving, fixed)
        t, w = (x[0] for x in _gauss_legendre_on(lo[None], hi[None], nodes_per_panel))
        t, w = _threshold_frame(t, w, m, sqrt_s_min, temperature, follow_edges)
        x = (sqrt_s_min - 2.0 * m) + temperature * t
        s = (sqrt_s_min + temperature * t) ** 2
        sigma_s = sigma(s, (x - (pole_mass - 2.0 * m)) * (x + 2.0 * m + pole_mass), i, sigma_args)
        return _t_panel_integral(m, sqrt_s_min, temperature, t, w, sigma_s)

    def add_pairs(pair, used, totals):
        i = pair // n_panels
        per_pair = (temperatures[i], lo[pair], jnp.where(used, hi[pair], lo[pair]), i)  # unused: weight 0
        if not gradients:
            return totals.at[i].add(jax.vmap(pair_integral, in_axes=(None, 0, 0, 0, 0))(moving, *per_pair))
        gradient = jax.vmap(jax.grad(pair_integral, argnums=(0, 1, 2, 3)), in_axes=(None, 0, 0, 0, 0))(
            moving, *per_pair
        )
        g_shared, g_temperature, g_lo, g_hi = jax.tree_util.tree_map(
            lambda g: jnp.where(along_first_axis(used, g), g, 0.0), gradient
        )
        shared_jacobian, temperature_jacobian, lo_jacobian, hi_jacobian = totals
        return (
            jax.tree_util.tree_map(lambda total, g: total.at[i].add(g), shared_jacobian, g_shared),
            temperature_jacobian.at[i].add(g_temperature),
            lo_jacobian.at[pair].add(g_lo),
            hi_jacobian.at[pair].add(g_hi),
        )

    totals: Any = jnp.zeros_like(temperatures)
    if gradients:
        per_temperature = jax.tree_util.tree_map(lambda x: jnp.zeros((n_t, *x.shape), x.dtype), moving)
        totals = (per_temperature, jnp.zeros_like(temperatures), jnp.zeros(slots), jnp.zeros(slots))
    non_empty = hi > lo
    count = jnp.sum(non_empty)
    listed = jnp.where(non_empty, jnp.cumsum(non_empty) - 1, slots + PANEL_PASS)  # beyond the list: dropped
    pairs = (
        jnp.zeros(slots + PANEL_PASS, dtype=jnp.int32).at[listed].set(jnp.arange(slots, dtype=jnp.int32), mode="drop")
    )

    def one_pass(k, totals):
        used = k * PANEL_PASS + jnp.arange(PANEL_PASS) < count
        return add_pairs(jax.lax.dynamic_slice(pairs, (k * PANEL_PASS,), (PANEL_PASS,)), used, totals)

    return jax.lax.fori_loop(0, (count + PANEL_PASS - 1) // PANEL_PASS, one_pass, totals)


@jax.custom_jvp
def _t_panel_integral(m: Array, sqrt_s_min: Array, temperature: Array, t: Array, w: Array, sigma_s: Array) -> Array:
    """I = T Σ_j w_j 2s σ(s)(s − 4m²) K̂₁(√s/T) e^{−t_j} [GeV⁵ × the units of σ] with √s = √s_min + T t_j:
    the integral of (G12) on the t nodes of :func:`_sigma_v_scaled` (σ at the nodes: ``sigma_s``).

    Its derivative is written out (N.2′), as for :func:`_shared_grid_average`: K̂₁′ = K̂₁ − K̂₀ − K̂₁/z
    at each node once, whatever the number of directions."""
    sqrt_s = sqrt_s_min + temperature * t
    s = sqrt_s**2
    integrand = 2.0 * s * sigma_s * (s - 4.0 * m**2) * bessel_k1e(sqrt_s / temperature) * jnp.exp(-t)
    return temperature * jnp.sum(w * integrand)


@_t_panel_integral.defjvp
def _t_panel_integral_jvp(primals, tangents):
    m, sqrt_s_min, temperature, t, w, sigma_s = primals
    m_dot, sqrt_s_min_dot, temperature_dot, t_dot, w_dot, sigma_s_dot = tangents
    integral = _t_panel_integral(m, sqrt_s_min, temperature, t, w, sigma_s)
    sqrt_s = sqrt_s_min + temperature * t
    s = sqrt_s**2
    z = sqrt_s / temperature
    k1 = bessel_k1e(z)
    k0 = bessel_k0e(jax.lax.optimization_barrier(z))  # a loop of its own (see _shared_grid_average_jvp)
    e = jnp.exp(-t)
    phase = 2.0 * s * (s - 4.0 * m**2)
    sqrt_s_dot = sqrt_s_min_dot + temperature_dot * t + temperature * t_dot
    z_dot = sqrt_s_min_dot / temperature - sqrt_s_min * temperature_dot / temperature**2 + t_dot
    summand_dot = (w_dot * sigma_s + w * sigma_s_dot) * phase * k1 * e + w * sigma_s * e * (
        8.0 * sqrt_s * (s - 2.0 * m**2) * k1 * sqrt_s_dot
        + phase * ((k1 - k0 - k1 / z) * z_dot - k1 * t_dot)
        - 16.0 * m * s * k1 * m_dot
    )
    return integral, temperature_dot / temperature * integral + temperature * jnp.sum(summand_dot)


def gondolo_gelmini_normalisation(m: Array, temperature: Array) -> Array:
    """8 m⁴ T K₂(m/T)² e^{2m/T} [GeV⁵]: the denominator of (G12) with the Boltzmann factor split off."""
    return 8.0 * m**4 * temperature * bessel_k2e(m / temperature) ** 2


def log_sigma_v_identical_pair(
    sigma: Callable[[Array], Array],
    m: Array,
    sqrt_s_min: Array,
    temperature: Array,
    breakpoint_groups_sqrt_s: Sequence[Sequence[ArrayLike]] = (),
    nodes_per_panel: int | None = None,
) -> Array:
    """ln⟨σv⟩(T) [⟨σv⟩ in GeV⁻²], Gondolo–Gelmini for a pair of mass m (G12).

        ⟨σv⟩ = 1/(8 m⁴ T K₂²(m/T)) ∫_{s_min}^∞ ds σ(s) (s − 4m²) √s K₁(√s/T),

    with √s_min = max(2m, final-state threshold) [GeV]. The integral is done in
    t = (√s − √s_min)/T with e^{−t} split off analytically and a composite Gauss–Legendre rule of
    ``nodes_per_panel`` nodes per panel (default: :data:`NODES_PER_PANEL` of process (a));
    ``breakpoint_groups_sqrt_s`` are extra panel edges √s [GeV] (thresholds, the edges of an
    excised resonance window, narrow hadronic resonances) in groups, each in ascending order.
    σ must return 0 where a process is closed. Returns :data:`~uvmsm_jax.boltzmann.LOG_ZERO` where σ vanishes identically. For a Dirac pair
    this is the per-species average of (H0) (the degeneracy factors cancel).
    """
    nodes = NODES_PER_PANEL["annihilation"] if nodes_per_panel is None else nodes_per_panel
    scaled = _sigma_v_scaled(sigma, m, sqrt_s_min, temperature, breakpoint_groups_sqrt_s, nodes)
    return bz.log_or_zero(scaled) - (sqrt_s_min - 2.0 * m) / temperature


def log_sigma_v_pole(m: Array, m_v: Array, width_v: Array, reduced_sigma_at_pole: Array, temperature: Array) -> Array:
    """ln of the narrow-width pole part of ⟨σv⟩ [GeV⁻²] for an s-channel vector (docs/equations.md A27, G19).

    ``reduced_sigma_at_pole`` = σ̃(M²) = σ(s)·[(s − M²)² + M²Γ²] at s = M² [GeV²]; the
    Breit–Wigner is replaced by π δ(s − M²)/(MΓ). ln 0 (= LOG_ZERO) when M ≤ 2m.
    """
    open_pole = m_v > 2.0 * m
    phase_space = jnp.where(open_pole, m_v**2 - 4.0 * m**2, 0.0)
    ratio = bessel_k1e(m_v / temperature) / bessel_k2e(m / temperature) ** 2
    linear = jnp.pi * phase_space * reduced_sigma_at_pole * ratio / (8.0 * m**4 * temperature * width_v)
    return bz.log_or_zero(linear) - jnp.where(open_pole, m_v - 2.0 * m, 0.0) / temperature


_WIDTH_TABLE_SQRT_S = (1e-4, 1e5)
"""Range [GeV] of the Γ_SM/√s table; outside it the ratio is constant (all open channels massless)."""
_WIDTH_TABLE_LOG_NODES = 2**17
"""Nodes uniform in ln √s over the whole range: spacing 1.6e-4 (thresholds, continuum)."""
_WIDTH_TABLE_HADRONIC = (0.25, 10.5, 2.5e-4)
"""(start, end, step) [GeV] of the nodes uniform in √s over the hadronic data: multiples of the
0.5 MeV DarkCast VMD grid, so the piecewise-linear B−L ratio is reproduced exactly, and ~34 nodes
across the φ width (4.3 MeV)."""


def _hadronic_nodes() -> np.ndarray:
    start, end, step = _WIDTH_TABLE_HADRONIC
    return start + step * np.arange(round((end - start) / step) + 1)


@functools.cache
def _sm_width_unit_tables(current: Current, mode: Mode, sqrt_s_switch: float) -> tuple[np.ndarray, np.ndarray]:
    """Γ_SM/(g_sm² w) of a vector of mass w on the uniform-in-ln w grid and on the hadronic
    uniform-in-w grid.

    Both grids are evaluated by one compiled program. Op by op, the ≈ 740 operations (B−L; ≈ 300
    for EM) of :func:`~uvmsm_jax.hadrons.sm_width_unit` on 1.7 × 10⁵ masses took 2.6 s of the first
    relic solve traced in a process (B−L; 0.9 s compiled)."""
    settings = Settings(mode=mode, sqrt_s_switch=sqrt_s_switch)
    log_grid = np.geomspace(*_WIDTH_TABLE_SQRT_S, _WIDTH_TABLE_LOG_NODES)
    grid = np.concatenate([log_grid, _hadronic_nodes()])
    with jax.ensure_compile_time_eval():  # may be first called while tracing
        ratio = np.asarray(jit(lambda w: sm_width_unit(w, current, settings).total / w)(grid))
    return ratio[: log_grid.size], ratio[log_grid.size :]


def _uniform_interpolation(u: Array, values: np.ndarray) -> Array:
    """Linear interpolation of ``values`` given at u = 0, 1, …, n − 1 (u clipped to that range)."""
    n = values.shape[0]
    u = jnp.clip(u, 0.0, n - 1.0)
    i = jnp.clip(jnp.floor(u).astype(jnp.int32), 0, n - 2)
    f = u - i
    table = jnp.asarray(values)
    return table[i] * (1.0 - f) + table[i + 1] * f


def sm_width_unit_interpolated(sqrt_s: Array, current: Current, settings: Settings) -> Array:
    """Γ(V→SM)/g_sm² [GeV] for a vector of mass √s, from fine tables of Γ/√s.

    Used inside σ_a(s) = η g_dm² Γ_SM(√s) √(s − 4m²)/D(s) (docs/equations.md A19–A20); the exact
    per-channel function is :func:`uvmsm_jax.hadrons.sm_width_unit`. Both tables are uniform (in
    ln √s; in √s over the hadronic data), so a lookup is two gathers without a search: a binary
    search over one non-uniform table cost ~10× more and dominated the rate tables at ~10⁷
    quadrature nodes per batch. Linear interpolation rounds off √-thresholds, the PDG R data points
    (EM) and jumps within one cell; tests/test_hadrons.py bounds the effect on thermal averages.
    """
    log_ratio, hadronic_ratio = _sm_width_unit_tables(current, settings.mode, float(settings.sqrt_s_switch))
    x = jnp.clip(sqrt_s, *_WIDTH_TABLE_SQRT_S)
    lo, hi = np.log(_WIDTH_TABLE_SQRT_S)
    ratio = _uniform_interpolation((jnp.log(x) - lo) * ((_WIDTH_TABLE_LOG_NODES - 1) / (hi - lo)), log_ratio)
    start, end, step = _WIDTH_TABLE_HADRONIC
    hadronic = _uniform_interpolation((x - start) / step, hadronic_ratio)
    return sqrt_s * jnp.where((x >= start) & (x <= end), hadronic, ratio)


class ProcessSwitches(eqx.Module):
    """Which processes enter the Boltzmann system (static).

    annihilation: (a) DM DM ↔ SM through the s-channel mediator.
    mediator_annihilation: (b) V V ↔ f f̄.
    conversion: (c) DM DM ↔ V V.
    decays: V ↔ SM and V ↔ DM DM (inverse) decays (θ_D of (A36)–(A37)).
    pole_in_annihilation: keep the narrow-width pole (A27) inside ⟨σv⟩_a (bookkeeping R of
      docs/equations.md A.8.1; must be False when ``decays`` is True — no double counting).
    """

    annihilation: bool = eqx.field(static=True, default=True)
    mediator_annihilation: bool = eqx.field(static=True, default=True)
    conversion: bool = eqx.field(static=True, default=True)
    decays: bool = eqx.field(static=True, default=True)
    pole_in_annihilation: bool = eqx.field(static=True, default=False)

    def __check_init__(self):
        if self.decays and self.pole_in_annihilation:
            raise ValueError("pole_in_annihilation and decays double-count the resonance (docs/equations.md A.8.1)")


class Thermodynamics(eqx.Module):
    """Background quantities at one temperature (all GeV units)."""

    temperature: Array
    entropy_factor: Array | float  # (1 + δ); the float 1.0 without the δ term
    entropy_over_hubble: Array  # s/H [GeV²]
    hubble: Array
    log_y_dm_eq: Array
    log_y_v_eq: Array


def dm_degrees_of_freedom(portal: VectorPortal) -> float:
    """Internal d.o.f. counted by the DM yield: 2 (Majorana N₁) or 4 (χ + χ̄; docs/equations.md G.2, K28)."""
    return c.G_N1 if portal.dm_kind == "majorana" else 2.0 * c.G_DIRAC


def pair_reaction_factor(portal: VectorPortal) -> float:
    """Factor of every DM-pair reaction in the yield equation: 1 for the Majorana N₁ ((A36): the ½ for
    identical initial particles cancels the two removed), ½ for χχ̄ with Y counting χ + χ̄ ((H0), (H12))."""
    return 0.5 if portal.dm_kind == "dirac" else 1.0


def thermodynamics(
    portal: VectorPortal,
    settings: Settings,
    planck_mass: float,
    entropy_derivative: bool,
    temperature,
    g_s_equals_g_rho: bool = False,
):
    """g*, g*s, δ, H, s and the equilibrium yields of DM and mediator at T (docs/equations.md G1–G5).

    ``g_s_equals_g_rho``: use g*s = g* (P1's convention, K11) instead of the tabulated g*s."""
    dof = degrees_of_freedom(settings.gstar)
    g_rho = dof.g_rho(temperature)
    g_s = g_rho if g_s_equals_g_rho else dof.g_s(temperature)
    delta = dof.delta(temperature) if entropy_derivative else 0.0
    hubble = hubble_rate(temperature, g_rho, planck_mass)
    quantum = settings.statistics
    return Thermodynamics(
        temperature=temperature,
        entropy_factor=1.0 + delta,
        entropy_over_hubble=entropy_density(temperature, g_s) / hubble,
        hubble=hubble,
        log_y_dm_eq=log_yield_eq(portal.m_dm, dm_degrees_of_freedom(portal), temperature, g_s, quantum, "fermion"),
        log_y_v_eq=log_yield_eq(portal.m_v, c.G_VECTOR, temperature, g_s, quantum, "boson"),
    )


class PlasmaBackground(eqx.Module):
    """τ ↦ (ln(1+δ), ln g*s, ln g*ρ) at T = m_ref e^{−τ}: the plasma's part of the rate table, which
    :class:`~uvmsm_jax.boltzmann.RateTable` evaluates exactly instead of interpolating (docs/equations.md
    G3–G5, A.5.1). Same conventions as :func:`thermodynamics`."""

    dof: DegreesOfFreedom
    ln_m_ref: Array
    entropy_derivative: bool = eqx.field(static=True)
    g_s_equals_g_rho: bool = eqx.field(static=True, default=False)

    def __call__(self, tau: Array) -> Array:
        return self.dof.log_background(self.ln_m_ref - tau, self.entropy_derivative, self.g_s_equals_g_rho)


def plasma_background(
    settings: Settings, entropy_derivative: bool, m_ref: Array, g_s_equals_g_rho: bool = False
) -> PlasmaBackground:
    """The :class:`PlasmaBackground` of ``settings.gstar`` on the τ axis of reference mass ``m_ref`` [GeV]."""
    return PlasmaBackground(degrees_of_freedom(settings.gstar), jnp.log(m_ref), entropy_derivative, g_s_equals_g_rho)


def resonance_window(portal: VectorPortal) -> Array:
    """Half-width [GeV²] in s of the excised resonance window of (G19): min(Δ_exc M², (M² − 4m²)/2)
    where the pole is open (M_V > 2m; it shrinks at threshold so rates stay continuous), else 0."""
    big_m, m = portal.m_v, portal.m_dm
    window = jnp.minimum(RESONANCE_EXCISION * big_m**2, 0.5 * (big_m**2 - 4.0 * m**2))
    return jnp.where(big_m > 2.0 * m, window, 0.0)


NARROW_WIDTH_TOLERANCE = 1e-4
"""Largest estimate (:func:`narrow_width_split_error`) of the relative error of ⟨σv⟩_a from the
narrow-width split of (G19) (Majorana N₁) or the finite part of (H11) (Dirac χ) for which either is
used; above it the full propagator less its on-shell part (docs/equations.md G19′, H11′)."""
BREIT_WIGNER_EDGES = (-1024.0, -128.0, -16.0, -2.0, -0.25, 0.25, 2.0, 16.0, 128.0, 1024.0)
"""Panel edges s = M² + k·MΓ about the pole, in multiples k of MΓ, where the full Breit–Wigner is
integrated above the threshold (:func:`narrow_width_split_fails`), in place of
:data:`RESONANCE_WINDOW_EDGES` (as many, so the grid keeps its size): panels a factor 8 apart in
|s − M²| resolve 1/((s − M²)² + M²Γ²) from its core out to the excision window's edges (≤ 6.4·10³ MΓ
where the split fails). For the Dirac χ's running Breit–Wigner, ln⟨σv⟩_a against SciPy ``quad`` (the
tests' dark-photon reference) ≤ 7e-6 off the hadronic resonances (a factor 16 apart with 8 edges: 5e-4)."""


def narrow_width_split_error(portal: VectorPortal, width_total: Array) -> Array:
    """ε_split = (2/π) M Γ_tot / W of docs/equations.md (G19′): estimate of the error, relative to the
    pole term, of ⟨σv⟩_a taken with Γ → 0 about an open pole, W of :func:`resonance_window`
    (``width_total`` = Γ_tot [GeV]); zero where the pole is closed. For the Majorana N₁'s split of (G19),
    which excises the window, a bound: the split keeps 2F(M²)/W that the true propagator spreads over
    the pole's width. For the Dirac χ's finite part of (H11), whose counterterm removes that term, the
    first order left by Γ_SM's chord across the window (K41) and by F's change within it, which the
    counterterm does not remove (docs/equations.md H11′). ε_split has no bound at the threshold, where
    W → 0."""
    window = resonance_window(portal)
    error = 2.0 / jnp.pi * portal.m_v * width_total / jnp.where(window > 0, window, 1.0)
    return jnp.where(window > 0, error, 0.0)


def narrow_width_split_fails(portal: VectorPortal, width_total: Array) -> Array:
    """Whether the pole is open but ⟨σv⟩_a with Γ → 0 does not hold: :func:`narrow_width_split_error`
    above :data:`NARROW_WIDTH_TOLERANCE` (docs/equations.md G19′, H11′)."""
    return (resonance_window(portal) > 0) & ~(narrow_width_split_error(portal, width_total) <= NARROW_WIDTH_TOLERANCE)


def _dirac_running_width(sqrt_s: Array, unit_sm_width: Array, m_dm: Array, couplings: tuple[Array, Array]) -> Array:
    """Γ_tot(√s) [GeV] of (H1), (H2) for a vector of mass √s with (g_sm, g_dm) = ``couplings``:
    g_sm² ``unit_sm_width`` (Γ_SM/g_sm² at √s) + Γ_χχ̄(√s) of (B5)."""
    g_sm, g_dm = couplings
    return g_sm**2 * unit_sm_width + g_dm**2 * (sqrt_s / (12.0 * jnp.pi) * fermion_pair_phase_space(sqrt_s, m_dm))


def dm_pair_to_sm_cross_section(
    portal: VectorPortal,
    settings: Settings,
    width_total: Array,
    window: Array,
    propagator_couplings: tuple[Array, Array] | None = None,
) -> Callable[..., Array]:
    """σ_a(s) [GeV⁻²] of DM DM → SM through the s-channel V, off the pole (docs/equations.md A19–A20,
    (H3)–(H5), G19).

    Where ``window`` [GeV²] > 0 (the pole is open and split off, M_V > 2m) the propagator is
    (s − M²)² and |s − M²| < ``window`` is excised (the on-shell part is the V (inverse) decays).
    Elsewhere the full propagator: a constant width ``width_total`` for the Majorana N₁ (A19; also
    above the threshold where its split fails, :func:`narrow_width_split_error`), the running
    Breit–Wigner (H2) with Γ_tot(√s) including Γ_χχ̄(√s) for the Dirac χ, built from
    ``propagator_couplings`` = (g_sm, g_dm) (default: the portal's; the coupling-free tables of
    :func:`unit_log_rates` pass their own).
    """
    m, big_m, g_dm = portal.m_dm, portal.m_v, portal.g_dm
    g_sm_width, g_dm_width = (portal.g_sm, g_dm) if propagator_couplings is None else propagator_couplings
    split = window > 0
    eta_a, _ = annihilation_normalisation(settings.mode)

    def sigma(s, detuning=None):  # detuning: s − M² [GeV²] where known more precisely than from s
        sqrt_s = safe_sqrt(s)
        detuning = s - big_m**2 if detuning is None else detuning
        unit_sm_width = sm_width_unit_interpolated(sqrt_s, portal.current, settings)
        sm_width = portal.g_sm**2 * unit_sm_width
        if portal.dm_kind == "dirac":
            total = _dirac_running_width(sqrt_s, unit_sm_width, m, (g_sm_width, g_dm_width))
            propagator2 = jnp.where(split, detuning**2, detuning**2 + s * total**2)
        else:
            propagator2 = jnp.where(split, detuning**2, detuning**2 + (big_m * width_total) ** 2)
        propagator2 = jnp.where(propagator2 > 0, propagator2, 1.0)
        if portal.dm_kind == "dirac":
            value = sigma_dirac_pair_to_sm(s, m, g_dm, sm_width, propagator2)
        else:
            value = sigma_dm_pair_to_sm(s, m, g_dm, sm_width, propagator2, eta_a)
        return jnp.where(split & (jnp.abs(detuning) < window), 0.0, value)

    return sigma


def _on_shell_part_taken_out(breit_wigner: Array, log_full: Array, log_on_shell: Array) -> tuple[Array, Array]:
    """(ln P, ln S) of ⟨σv⟩_a,off = full − on-shell over a table's temperatures (last axis) where
    ``breit_wigner`` (docs/equations.md G19′): P = off + λ·on-shell and S = λ·on-shell, λ ≥ 0 the least
    that keeps P > 0 at every temperature (0 where the off-pole part is positive throughout; λ ≤ 2, the
    full average being positive). P then carries no pole Boltzmann factor e^{−(M − 2m)/T}, which the
    table interpolates exactly only in S's column. Elsewhere (ln full, ln 0)."""
    excess = jnp.clip(jnp.where(breit_wigner, log_full - log_on_shell, 0.0), -700.0, 700.0)
    # λ from the least excess (expm1 is increasing): the derivative of a minimum weights every entry, and
    # an entry's e^{excess} (up to e^{700}) times its tangent overflowed, 0·∞ = NaN at the others
    share = jnp.maximum(-2.0 * jnp.expm1(jnp.min(excess, axis=-1, keepdims=True)), 0.0)  # λ
    log_off_pole = log_full + jnp.where(breit_wigner, jnp.log1p((share - 1.0) * jnp.exp(-excess)), 0.0)
    log_share = jnp.log(jnp.where(share > 0, share, 1.0))
    log_shift = jnp.where(breit_wigner & (share > 0), log_share + log_on_shell, bz.LOG_ZERO)
    return log_off_pole, log_shift


def _excised_window_edge_terms(
    m: Array, big_m: Array, temperatures: Array, sigma: Callable[..., Array], window: Array
) -> Array:
    """The derivative's terms at the edges s = M² ∓ W of the window that (G19), or (H11) at one
    temperature, excises from σ_a's average at the temperatures T [GeV] ([temperature]; N.2′): 0 in
    value, and in tangent F(√s₋)(d√s₋ − v₋) − F(√s₊)(d√s₊ − v₊), F the integrand of ⟨σv⟩ per unit √s
    just outside the window, ``sigma`` σ(s, s − M²) [GeV⁻²], v the velocity of the threshold frame
    there (:func:`_frame_velocity`). Each term is F at the middle of the sliver between the edge that
    the frame carries and the edge itself, times the sliver's width δ = √s_e − Φ(√s_e,₀) (0 in value),
    that sliver's integral to O(δ³): its second derivatives are the integral's too. These are the
    only limits that move against the frame where the integrand does not vanish: at the threshold the
    frame moves with it, beyond 60 T the Boltzmann factor vanishes. 0 where ``window`` [GeV²] is 0
    (no window, or a Breit–Wigner, about which the nodes follow the panel edges)."""
    split = window > 0
    detuning = jnp.stack([-window, window])  # s − M² at the two edges
    sqrt_s = safe_sqrt(jnp.where(split, big_m**2 + detuning, 4.0 * m**2 + 1.0))
    held = jax.lax.stop_gradient(sqrt_s)
    # δ: 0; tangent each edge's d√s less the frame's velocity there
    moved = sqrt_s - held - _frame_velocity(held - 2.0 * jax.lax.stop_gradient(m), m, THRESHOLD_FRAME)
    # F at the sliver's middle (value: the edge), s − M² there from the edge's exact detuning
    middle = sqrt_s - 0.5 * moved
    density = _pair_weights(m, temperatures, middle - 2.0 * m, jnp.ones(2)) * sigma(
        middle**2, detuning - 0.5 * moved * (middle + sqrt_s)
    )
    terms = jnp.where(split, density, 0.0) @ (jnp.array([1.0, -1.0]) * moved)
    return jnp.where(split, terms, 0.0)


def _log_sigma_v_annihilation(portal, settings, width_sm, width_total, propagator, temperatures):
    """(ln⟨σv⟩_a without the pole, ln of its shift, ln of the pole term, ln of the width's first order)
    at each of a table's temperatures T (1-d, GeV): the off-pole integral with the resonance window
    excised (Γ → 0), no shift (ln 0) and the narrow-width pole (A27); where that split fails
    (:func:`narrow_width_split_fails`, only with the point's own width in ``propagator``) the full
    propagator less its on-shell part, the pole term at that width, as P − S (below; docs/equations.md
    G19′); when the pole is below threshold, the full propagator and a pole term ln 0
    (docs/equations.md A26–A27, G19). The last is
    ln⟨σ_a M²/(s − M²)²⟩ below the pole when the propagator carries no width (the coupling-free table
    shared by all couplings, docs/equations.md A.5.1), ln 0 otherwise.

    σ_a of the Majorana N₁ does not depend on T (its window is fixed), so the off-pole average is
    taken on the grid its temperatures share (:func:`_shared_grid_average`; N.2), split also at the
    window edges s = M² + k·W and at the fixed √s edges of :func:`_annihilation_sqrt_s_edges`. Max
    |Δ ln⟨σv⟩_a| against each temperature alone on its t panels at 32 nodes per panel, 40 random
    points a mode: 1.2e-4 (physical) and 1.2e-3 (paper), where the t panels at 8 nodes give 1.3e-4
    and 1.2e-3 (docs/relic.md, "Thermal averages").

    ``width_total`` [GeV] divides the pole term; ``propagator`` = (g_sm, g_dm, Γ_tot) sets the width
    of the propagator below the pole (see :func:`unit_log_rates`)."""
    m, big_m = portal.m_dm, portal.m_v
    eta_a, _ = annihilation_normalisation(settings.mode)
    window = resonance_window(portal)
    breit_wigner = narrow_width_split_fails(portal, propagator[2])
    sigma = dm_pair_to_sm_cross_section(portal, settings, propagator[2], jnp.where(breit_wigner, 0.0, window))
    offsets = jnp.where(
        breit_wigner,
        jnp.asarray(BREIT_WIGNER_EDGES) * big_m * propagator[2],
        jnp.asarray(RESONANCE_WINDOW_EDGES) * window,
    )
    # Next to the pole s resolves M² only to its ulp, a few widths M Γ where Γ/M ~ 1e-15: there both
    # the edges and s − M² are taken from x = √s − 2m, measured from the pole at x₀ = M − 2m (fine
    # next to the threshold, where x₀ ≪ M and a Breit–Wigner in the band has Γ ≳ 3e-4 x₀)
    pole_x = big_m - 2.0 * m
    root = safe_sqrt(big_m**2 + offsets)
    resonance_edges_x = jnp.where(breit_wigner, pole_x + offsets / (root + big_m), root - 2.0 * m)  # ascending
    fixed_edges = jnp.asarray(_annihilation_sqrt_s_edges(float(settings.sqrt_s_switch), portal.current))
    x, s, w = _shared_grid_nodes(
        m, temperatures, (resonance_edges_x, fixed_edges - 2.0 * m), NODES_PER_PANEL["annihilation"]
    )
    # The frame of the derivative (N.2′): the nodes follow the panel edges only about a Breit–Wigner
    # (edges k·MΓ); elsewhere the threshold frame, which neither samples the data's Γ_SM′ nor follows
    # the rule as edges cross (d ln Ω/d ln M_N₁ scattered by up to 0.1 between masses 10⁻⁴ apart)
    x, w = _threshold_frame(x, w, m, 2.0 * m, jnp.ones_like(m), breit_wigner)
    s = (2.0 * m + x) ** 2
    sigma_s = sigma(s, jnp.where(breit_wigner, (x - pole_x) * (x + 2.0 * m + big_m), s - big_m**2))
    edge_terms = _excised_window_edge_terms(m, big_m, temperatures, sigma, jnp.where(breit_wigner, 0.0, window))
    log_integral = bz.log_or_zero(_shared_grid_average(m, temperatures, x, w, sigma_s) + edge_terms)
    reduced = eta_a * portal.g_dm**2 * width_sm * safe_sqrt(big_m**2 - 4.0 * m**2)
    # With the full propagator, its on-shell part is the pole term (A27) at the point's width, which the
    # decays (D) or the pole term (R) carry (docs/equations.md G19′)
    own_width = jnp.where(breit_wigner, propagator[2], 1.0)
    log_on_shell = log_sigma_v_pole(m, big_m, own_width, reduced, temperatures)
    log_off_pole, log_shift = _on_shell_part_taken_out(breit_wigner, log_integral, log_on_shell)
    # σ_a(s; Γ) = σ_a(s; 0)/(1 + ε(s)), ε = M²Γ²/(s − M²)² below the pole (A19): its first order
    detuning = jnp.where(s > big_m**2, s - big_m**2, 1.0)
    log_width = bz.log_or_zero(_shared_grid_average(m, temperatures, x, w, sigma_s * big_m**2 / detuning**2))
    carried = (big_m < 2.0 * m) & (propagator[2] == 0)
    log_width = jnp.where(carried, log_width, bz.LOG_ZERO)
    return log_off_pole, log_shift, log_sigma_v_pole(m, big_m, width_total, reduced, temperatures), log_width


PROPAGATOR_WINDOW_THERMAL = 2.0
"""κ of the finite-part window of (H11): W ≤ κ M T, about the scale 2MT on which the Boltzmann
factor varies in s, so the subtracted integrand stays smooth and small against the counterterm."""
_WINDOW_GL_X, _WINDOW_GL_W = np.polynomial.legendre.leggauss(16)
THRESHOLD_PANELS = 14
THRESHOLD_PANEL_SPAN = (2.0**-16, 2.0**6)
RUNNING_WIDTH_PANEL_START = 2.0**-24
THRESHOLD_STRUCTURE_RESOLVED = 0.1
"""The Dirac χ's panels next to the threshold, where the scale x_s (in x = √s − 2m) of the propagator's
structure there — |M² − 4m²|, the running width's, or MΓ_tot — is below
:data:`THRESHOLD_STRUCTURE_RESOLVED` T: the integrand then peaks where the fixed t panels, a factor
3–10 apart, do not resolve it, as √u/(u + |M² − 4m²|)² or, with the running width, 1/(√u (u + u*)) in
u = s − 4m² (⟨σv⟩_a was 31 % low at M = 2m_χ, T = m_χ, and 19 % at M = 2m_χ(1 − 10⁻⁶), against SciPy
``quad``). Where the running width shapes the threshold (|M² − 4m²| ≤ u*), the integrand goes as 1/√u
at the threshold at every T, and the panels are there at every T too, on the scale min(x_s, T): with
the fixed t panels alone the first one, [0, 10⁻³ T], held ≈ 5 % of the integral at T ≈ 8 x_s, and
⟨σv⟩_a at M = 2m_χ was 0.2–0.4 % low for T ≤ m_χ/10⁴ — the 1.6·10⁻³ step of Ωh² across m_A′ = 2m_χ
that the late, still growing annihilation turned it into (docs/relic.md, "Model 2 off the pole").
:data:`THRESHOLD_PANELS` geometric panels from 2⁻¹⁶ x_s to the larger of 2⁶ x_s and the first fixed
edge, 10⁻³ T: 8 Gauss nodes leave 5 % of ∫ du/√u on [0, 2⁻¹⁶ x_s], which holds 2.5·10⁻³ of the peak's
integral, and 4·10⁻⁵ of ∫ du/u^{3/2} (the peak's tail) on a panel a factor 8 wide (1.5·10⁻³ at 16).
Where the running width shapes the threshold they start at :data:`RUNNING_WIDTH_PANEL_START` x_s,
2⁻²⁴: [0, 2⁻²⁴ x_s] holds 1.6·10⁻⁴ of the 1/√u peak, and ⟨σv⟩_a at M = 2m_χ is within 1.1·10⁻⁵ of
``quad`` for T ≤ m_χ/100 (1.3–2.8·10⁻⁴ low from 2⁻¹⁶). Elsewhere the integrand vanishes as √u at the
threshold, and the start stays at 2⁻¹⁶: from 2⁻²⁴ (panels a factor 4.4 apart) the forward-mode m_χ
elasticity of a closed-pole 2→2 freeze-in point differed from central differences by 1.03·10⁻⁴."""


def _dirac_sigma_off_pole(s: Array, precise_detuning: Array, i: Array, args) -> Array:
    """σ_a(s) [GeV⁻²] of the Dirac χ off the pole at the (H11) window of temperature i of a table
    (``args`` = (portal, settings, propagator, windows, breit_wigner) of
    :func:`_log_sigma_v_dirac_annihilation`); s − M² is ``precise_detuning`` where the Breit–Wigner is
    integrated (G19′)."""
    portal, settings, propagator, windows, breit_wigner = args
    sigma_off = dm_pair_to_sm_cross_section(portal, settings, propagator[2], windows[i], propagator[:2])
    return sigma_off(s, jnp.where(breit_wigner, precise_detuning, s - portal.m_v**2))


def _log_sigma_v_dirac_annihilation(portal, settings, width_sm, width_total, propagator, temperatures):
    """(ln P, ln S, ln⟨σv⟩_pole, ln 0) at each of a table's temperatures T (1-d, GeV), with
    ⟨σv⟩_a,off = P − S, for a Dirac χ with a vector coupling (docs/equations.md (H2)–(H5), (H9), (H11),
    (H11′)); the last is :class:`UnitRates`'s width column, which the Dirac χ does not use.

    σ_a(s) = e′² Γ_SM(√s)(s + 2m²)/(√s β_χ D(s)) summed over every SM channel. Below the resonance
    threshold (M ≤ 2m_χ) D is the running Breit–Wigner (H2), Γ_tot(√s) including Γ_χχ̄(√s), and S = 0.
    Above it the on-shell part belongs to the A′ (inverse) decays of the coupled system, and
    ⟨σv⟩_a,off is

    * the Hadamard finite part of (H11) with D = (s − M²)²: outside the window |s − M²| < W the
      integrand as is, inside it [F(M² + u) + F(M² − u) − 2F(M²)]/u² with Γ_SM replaced by its chord
      across the window, and the counterterm C = 2F(M²)/W; W = min(Δ_exc M², (M² − 4m²)/2, κ M T) moves
      with T, so each temperature has its own panels. The finite part can be negative near the pole,
      so it is returned as P = outside + inside + C and S = 2C, both positive and both ∝ ε² e′² (the
      rate table stores logarithms);
    * where that fails (:func:`narrow_width_split_fails`, only with the point's own width in
      ``propagator``), the running Breit–Wigner less its on-shell part, the pole term (H9) at
      Γ_tot(M) of the same propagator, as P − S of :func:`_on_shell_part_taken_out` (docs/equations.md
      H11′), on panels at s = M² + k·MΓ (:data:`BREIT_WIGNER_EDGES`, in place of the window edges
      :data:`RESONANCE_WINDOW_EDGES`) with s − M² taken from x = √s − 2m.
    """
    m, big_m, g_dm = portal.m_dm, portal.m_v, portal.g_dm
    pole_open = big_m > 2.0 * m
    breit_wigner = narrow_width_split_fails(portal, propagator[2])
    finite_part = pole_open & ~breit_wigner
    fixed_edges = list(_annihilation_sqrt_s_edges(float(settings.sqrt_s_switch), portal.current))
    unit_width_at_pole = sm_width_unit_interpolated(big_m, portal.current, settings)
    own_width = _dirac_running_width(big_m, unit_width_at_pole, m, propagator[:2])
    breit_wigner_offsets = jnp.asarray(BREIT_WIGNER_EDGES) * big_m * own_width
    # the scale in x = √s − 2m of the propagator's structure at the threshold: |M² − 4m²|, the running
    # Γ_χχ̄'s s Γ² ≃ (g_dm² M/8π)² (s − 4m²), and M Γ_tot (docs/equations.md H11′)
    detuning = jnp.abs((big_m - 2.0 * m) * (big_m + 2.0 * m))
    running_width_scale = (propagator[1] ** 2 * big_m / (8.0 * jnp.pi)) ** 2
    threshold_scale = jnp.maximum(detuning, jnp.maximum(running_width_scale, big_m * propagator[2])) / (4.0 * m)
    # the running Γ_χχ̄ shapes the threshold: the integrand goes as 1/√(s − 4m²) there at every T
    running_width_threshold = (running_width_scale > 0) & (detuning <= running_width_scale)

    def sm_width(sqrt_s):  # Γ_SM [GeV] of a vector of mass √s with the portal's SM coupling (A8–A11, B4)
        return portal.g_sm**2 * sm_width_unit_interpolated(sqrt_s, portal.current, settings)

    def panels(temperature):  # the (H11) window W(T) and the panel edges in t at T
        window = jnp.where(
            finite_part,
            jnp.minimum(resonance_window(portal), PROPAGATOR_WINDOW_THERMAL * big_m * temperature),
            0.0,
        )
        offsets = jnp.where(breit_wigner, breit_wigner_offsets, jnp.asarray(RESONANCE_WINDOW_EDGES) * window)
        root = safe_sqrt(big_m**2 + offsets)
        edges = jnp.where(breit_wigner, big_m + offsets / (root + big_m), root)  # ascending
        # geometric panels across the threshold structure where the fixed t panels (a factor 3–10 apart
        # below x = T/5) do not resolve it or the running width makes the integrand ∝ 1/√x there (on
        # the scale of the structure or of T, the smaller); else edges at the threshold (width 0)
        unresolved = (threshold_scale > 0) & (
            (threshold_scale < THRESHOLD_STRUCTURE_RESOLVED * temperature) | running_width_threshold
        )
        structure = jnp.minimum(threshold_scale, temperature)
        lowest = structure * jnp.where(running_width_threshold, RUNNING_WIDTH_PANEL_START, THRESHOLD_PANEL_SPAN[0])
        highest = jnp.maximum(structure * THRESHOLD_PANEL_SPAN[1], _FIXED_T_PANELS[1] * temperature)
        steps = np.arange(THRESHOLD_PANELS + 1) / THRESHOLD_PANELS
        threshold_edges = 2.0 * m + jnp.where(unresolved, lowest * (highest / lowest) ** steps, 0.0)
        return window, _t_panel_edges(2.0 * m, temperature, (edges, fixed_edges, threshold_edges))

    windows, edges_t = jax.vmap(panels)(temperatures)

    outside = _sigma_v_scaled_on_panels(
        _dirac_sigma_off_pole,
        NODES_PER_PANEL["annihilation"],
        m,
        2.0 * m,
        temperatures,
        edges_t,
        big_m,
        (portal, settings, propagator, windows, breit_wigner),
        breit_wigner,
    )

    def window_edge_terms(temperature, window):  # the derivative's terms at the (H11) window's edges
        sigma_off = dm_pair_to_sm_cross_section(portal, settings, propagator[2], window, propagator[:2])
        return _excised_window_edge_terms(m, big_m, temperature[None], sigma_off, window)[0]

    outside = outside + jax.vmap(window_edge_terms)(temperatures, jnp.where(finite_part, windows, 0.0))

    def window_part(temperature, window):
        # Inside the window, F(s) = σ(s)(s − M²)² (s − 4m²) √s K₁(√s/T) e^{2m/T}, evaluated relative to
        # the pole's Boltzmann factor e^{−(M − 2m)/T} (kept as a logarithm, so S never underflows); a
        # closed pole or the Breit–Wigner gets a stand-in window, min(M²/2, κMT), and factor, 1, that keep
        # the masked branch and its derivative finite (M²/2 and e^{(2m − M)/T} overflowed at T ≪ M: NaN
        # in ``jax.grad``).
        w = jnp.where(finite_part, window, jnp.minimum(0.5 * big_m**2, PROPAGATOR_WINDOW_THERMAL * big_m * temperature))
        s_lo, s_hi = big_m**2 - w, big_m**2 + w
        width_lo, width_hi = sm_width(safe_sqrt(s_lo)), sm_width(safe_sqrt(s_hi))

        def reduced_weight(s):
            sqrt_s = safe_sqrt(s)
            chord = width_lo + (width_hi - width_lo) * (s - s_lo) / (s_hi - s_lo)
            boltzmann = bessel_k1e(sqrt_s / temperature) * jnp.exp(-(sqrt_s - big_m) / temperature)
            return sigma_dirac_pair_to_sm(s, m, g_dm, chord, 1.0) * (s - 4.0 * m**2) * sqrt_s * boltzmann

        u = 0.5 * w * (1.0 + jnp.asarray(_WINDOW_GL_X))
        at_pole = reduced_weight(big_m**2)
        symmetric = (reduced_weight(big_m**2 + u) + reduced_weight(big_m**2 - u) - 2.0 * at_pole) / u**2
        normalisation = gondolo_gelmini_normalisation(m, temperature)
        inside = 0.5 * w * jnp.sum(jnp.asarray(_WINDOW_GL_W) * symmetric) / normalisation
        counterterm = 2.0 * at_pole / (w * normalisation)
        log_boltzmann = -jnp.where(finite_part, big_m - 2.0 * m, 0.0) / temperature  # ≤ 0 where used
        inside_part = jnp.where(finite_part, (inside + counterterm) * jnp.exp(log_boltzmann), 0.0)
        log_shift = jnp.where(finite_part, bz.log_or_zero(2.0 * counterterm) + log_boltzmann, bz.LOG_ZERO)
        return inside_part, log_shift

    inside_parts, log_finite_part_shift = jax.vmap(window_part)(temperatures, windows)
    log_integral = bz.log_or_zero(outside + inside_parts)
    # the on-shell part of the Breit–Wigner: (H9) with F(M²) and Γ_tot(M) of the same propagator
    on_shell = sigma_dirac_pair_to_sm(big_m**2, m, g_dm, unit_width_at_pole * portal.g_sm**2, 1.0)
    log_on_shell = log_sigma_v_pole(m, big_m, jnp.where(breit_wigner, own_width, 1.0), on_shell, temperatures)
    log_off_pole, log_shift = _on_shell_part_taken_out(breit_wigner, log_integral, log_on_shell)
    log_pole = log_sigma_v_pole(
        m, big_m, width_total, sigma_dirac_pair_to_sm(big_m**2, m, g_dm, width_sm, 1.0), temperatures
    )
    return (
        log_off_pole,
        jnp.where(breit_wigner, log_shift, log_finite_part_shift),
        log_pole,
        jnp.full_like(temperatures, bz.LOG_ZERO),
    )


def _sm_fermion_channels(current: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct SM fermion masses [GeV] for process (b), with Σ weight·N_c·Q⁴ per mass and a
    quark flag; massless channels (u, d, and the ν with weight 1/2 for B−L) share one entry."""
    channels: dict[tuple[float, bool], float] = {}

    def add(mass, charge, n_colour, weight, is_quark):
        key = (mass, is_quark)
        channels[key] = channels.get(key, 0.0) + weight * n_colour * charge**4

    for mass in c.LEPTON_MASSES.values():
        add(mass, -1.0, 1.0, 1.0, False)
    if current == "b-l":
        for _ in range(3):
            add(0.0, -1.0, 1.0, 0.5, False)
    for quark, mass in c.QUARK_MASSES.items():
        add(mass, 1.0 / 3.0 if current == "b-l" else c.QUARK_CHARGES_EM[quark], 3.0, 1.0, True)
    keys = sorted(channels)
    masses = np.array([k[0] for k in keys])
    return masses, np.array([channels[k] for k in keys]), np.array([k[1] for k in keys])


def _log_sigma_v_mediator_annihilation(portal, temperatures):
    """ln⟨σv⟩_b for V V → f f̄ summed over SM fermions at each of a table's temperatures T (1-d, GeV;
    docs/equations.md A22, A29); quark channels fade out below T_QCD = 0.15 GeV over ±5 % (K14).

    σ_b(s) does not depend on T, so it is evaluated once per node of the grid in x = √s − 2M_V that the
    temperatures share (:func:`_shared_grid_average`; N.2), split also at the fermion thresholds."""
    masses, weights, is_quark = _sm_fermion_channels(portal.current)
    m = portal.m_v
    thresholds = jnp.stack([2.0 * (mass - m) for mass in masses if mass > 0])  # ascending: the masses are sorted
    x, s, w = _shared_grid_nodes(m, temperatures, (thresholds,), NODES_PER_PANEL["mediator_annihilation"])
    per_channel = sigma_mediator_pair_to_fermion(s[:, None], masses, m, portal.g_sm, 1.0)  # [node, channel]
    quark_gate = 1.0 / (1.0 + jnp.exp(-(temperatures - T_QCD) / (0.05 * T_QCD)))
    channel_weights = jnp.where(is_quark, quark_gate[:, None], 1.0) * weights  # [temperature, channel]
    return bz.log_or_zero(jnp.sum(channel_weights * _shared_grid_average(m, temperatures, x, w, per_channel), axis=-1))


def dm_pair_to_mediator_pair_cross_section(portal: VectorPortal, settings: Settings) -> Callable[[Array], Array]:
    """σ_c(s) [GeV⁻²] of DM DM → V V (docs/equations.md A23–A24; Dirac χ: (H6)); zero below threshold."""
    _, eta_c = annihilation_normalisation(settings.mode)

    def sigma(s):
        if portal.dm_kind == "dirac":  # (H6)
            return sigma_dirac_pair_to_mediator_pair(s, portal.m_dm, portal.m_v, portal.g_dm)
        return sigma_dm_pair_to_mediator_pair(s, portal.m_dm, portal.m_v, portal.g_dm, eta_c)

    return sigma


def _log_sigma_v_conversion(portal, settings, temperature):
    """ln⟨σv⟩_c for DM DM → V V normalised to (n_DM^eq)² (docs/equations.md A24, A29; Dirac χ: (H6))."""
    sigma = dm_pair_to_mediator_pair_cross_section(portal, settings)
    threshold = jnp.maximum(2.0 * portal.m_dm, 2.0 * portal.m_v)
    return log_sigma_v_identical_pair(sigma, portal.m_dm, threshold, temperature, (), NODES_PER_PANEL["conversion"])


class RateDiagnostics(eqx.Module):
    """ln(r/H) of docs/equations.md (A30) at one temperature: r_a (with the pole), r_b, r_c, r_D."""

    log_ra_over_h: Array
    log_rb_over_h: Array
    log_rc_over_h: Array
    log_rd_over_h: Array


WIDTH_FREE_TOLERANCE = 1e-8
"""Largest relative change of σ_a(s) that the part of the propagator width below the pole a
coupling-free rate table leaves out (for the Majorana N₁ all but its first order) may make for the
table to stand in for the point's own (:func:`propagator_width_effect`)."""


class UnitRates(eqx.Module):
    """The coupling-free factors of the rate coefficients at the temperatures of a table, one value of each
    field per temperature (docs/equations.md A.5.1).

    At fixed masses every thermal average is a power of the couplings times a function of T: ⟨σv⟩_a
    (off the pole, its (H11) shift, and the narrow-width pole (A27) times Γ_V) ∝ g_dm² g_sm²,
    ⟨σv⟩_b ∝ g_sm⁴, ⟨σv⟩_c ∝ g_dm⁴, and the decay terms ∝ Γ. The fields are the logs at
    g_sm = g_dm = 1 (pole term at Γ_V = 1 GeV) [⟨σv⟩ in GeV⁻²], and the background: ln(1+δ), ln(s/H)
    [GeV²], ln(⟨M/E⟩/H) [GeV⁻¹] and the equilibrium yields. Only the propagator of σ_a below the pole
    (M_V ≤ 2m) carries the width; :func:`unit_log_rates` takes it as an argument.
    ``log_sv_a_width``: ln⟨σ_a M_V²/(s − M_V²)²⟩ [GeV⁻⁴] of the Majorana N₁ below the pole, the first
    order of that width in a table tabulated without it (ln 0 otherwise): ⟨σv⟩_a with the width Γ is
    ⟨σv⟩_a,off − Γ²·this, to a relative (M_V Γ/(4m² − M_V²))⁴ (docs/equations.md A.5.1).
    """

    log_sv_a_off_pole: Array
    log_sv_a_width: Array
    log_sv_a_shift: Array
    log_sv_a_pole: Array
    log_sv_b: Array
    log_sv_c: Array
    log_entropy_factor: Array
    log_s_over_h: Array
    log_inverse_gamma_over_h: Array
    log_y_dm_eq: Array
    log_y_v_eq: Array


def unit_portal(portal: VectorPortal) -> VectorPortal:
    """The portal with g_sm = g_dm = 1 (the normalisation of :class:`UnitRates`)."""
    one = jnp.ones_like(portal.g_sm)
    return VectorPortal(portal.m_dm, portal.m_v, one, one, current=portal.current, dm_kind=portal.dm_kind)


def propagator_width_effect(portal: VectorPortal, settings: Settings, width_total: Array) -> Array:
    """Upper bound on the relative change of σ_a(s) from the width in the propagator below the pole that
    the coupling-free table shared by all couplings leaves out (docs/equations.md A.5.1); zero where the
    pole is open and split off (its propagator carries no width), ∞ above the threshold where the
    split fails (:func:`narrow_width_split_fails`: only the point's own table carries the full
    propagator).

    Majorana N₁ (A19): the table carries the width's first order (``UnitRates.log_sv_a_width``), so
    what is left of 1/(1 + ε) is ε²/(1 + ε) ≤ ε_max², ε = (MΓ_tot)²/(s − M²)² ≤ ε_max =
    (MΓ_tot/(4m² − M²))². Dirac χ (H2), none of it carried: sΓ_tot(√s)²/(s − M²)² with
    Γ_tot(√s)/√s ≤ g_sm² max(Γ_SM/(g_sm²√s)) + g_dm²/(12π), and s/(s − M²) ≤ 4m²/(4m² − M²).
    """
    m, big_m = portal.m_dm, portal.m_v
    gap = jnp.maximum(4.0 * m**2 - big_m**2, 0.0)
    if portal.dm_kind == "dirac":
        tables = _sm_width_unit_tables(portal.current, settings.mode, float(settings.sqrt_s_switch))
        ratio_max = max(float(np.max(table)) for table in tables)
        relative_width = portal.g_sm**2 * ratio_max + portal.g_dm**2 / (12.0 * jnp.pi)
        bound = (relative_width * 4.0 * m**2 / jnp.where(gap > 0, gap, 1.0)) ** 2
    else:
        bound = (big_m * width_total / jnp.where(gap > 0, gap, 1.0)) ** 4
    above = jnp.where(narrow_width_split_fails(portal, width_total), jnp.inf, 0.0)
    return jnp.where(big_m > 2.0 * m, above, jnp.where(gap > 0, bound, jnp.inf))


def unit_log_rates(
    portal: VectorPortal,
    settings: Settings,
    switches: ProcessSwitches,
    planck_mass: float,
    entropy_derivative: bool,
    width_sm_unit: Array,
    propagator: tuple[Array, Array, Array],
    temperatures: Array,
    g_s_equals_g_rho: bool = False,
) -> UnitRates:
    """The :class:`UnitRates` of ``portal``'s masses at the temperatures T [GeV] of a table (1-d;
    every field has their shape): process (b), and (a) of the Majorana N₁, are integrated on one grid
    shared by them (:func:`_shared_grid_average`), (c) and (a) of the Dirac χ at each temperature alone.

    ``width_sm_unit`` = Γ(V → SM)/g_sm² [GeV]. ``propagator`` = (g_sm, g_dm, Γ_tot [GeV]) of the width
    in σ_a's propagator below the pole: the point's own couplings and width give its exact rates;
    zeros give the coupling-free table shared by every coupling at these masses (for the Majorana N₁
    with the width's first order, ``UnitRates.log_sv_a_width``), exact to
    :func:`propagator_width_effect` (asserted ≤ :data:`WIDTH_FREE_TOLERANCE` where it is used).
    """
    unit = unit_portal(portal)
    log_zero = jnp.full_like(temperatures, bz.LOG_ZERO)
    log_sv_b = _log_sigma_v_mediator_annihilation(unit, temperatures) if switches.mediator_annihilation else log_zero
    if not switches.annihilation:
        log_sv_a = (log_zero, log_zero, log_zero, log_zero)
    else:
        annihilation = _log_sigma_v_dirac_annihilation if portal.dm_kind == "dirac" else _log_sigma_v_annihilation
        log_sv_a = annihilation(unit, settings, width_sm_unit, 1.0, propagator, temperatures)
    if switches.conversion:
        log_sv_c = jax.vmap(lambda temperature: _log_sigma_v_conversion(unit, settings, temperature))(temperatures)
    else:
        log_sv_c = log_zero

    def at(temperature):
        th = thermodynamics(unit, settings, planck_mass, entropy_derivative, temperature, g_s_equals_g_rho)
        return {
            "log_entropy_factor": jnp.log(th.entropy_factor) * jnp.ones_like(temperature),
            "log_s_over_h": jnp.log(th.entropy_over_hubble),
            "log_inverse_gamma_over_h": jnp.log(mean_inverse_gamma(portal.m_v, temperature)) - jnp.log(th.hubble),
            "log_y_dm_eq": th.log_y_dm_eq,
            "log_y_v_eq": th.log_y_v_eq,
        }

    log_off_pole, log_shift, log_pole, log_width = log_sv_a
    return UnitRates(
        log_sv_a_off_pole=log_off_pole,
        log_sv_a_width=log_width,
        log_sv_a_shift=log_shift,
        log_sv_a_pole=log_pole,
        log_sv_b=log_sv_b,
        log_sv_c=log_sv_c,
        **jax.vmap(at)(temperatures),
    )


def coupling_free_log_rates(unit: UnitRates, portal: VectorPortal, switches: ProcessSwitches) -> Array:
    """The columns of :mod:`uvmsm_jax.boltzmann`'s rate table without their couplings and widths
    (shape (…, N_COLUMNS), from the :class:`UnitRates` at ``portal``'s masses): what every coupling at
    these masses shares. A point's column is this plus its :func:`coupling_log_shifts`, except k_a,
    which carries the width below the pole as a function of T: its entry here is the coupling-free
    factor (1+δ)(s/H) × the DM-pair factor that :func:`coupled_log_rates` multiplies ⟨σv⟩_a by
    (docs/equations.md A.5.1)."""
    u = unit
    zero = jnp.full_like(u.log_s_over_h, bz.LOG_ZERO)
    log_s = u.log_entropy_factor + u.log_s_over_h  # (1+δ) s/H
    log_conv = log_s + jnp.log(pair_reaction_factor(portal))  # … per DM pair
    log_sv_c = u.log_sv_c if switches.conversion else zero
    log_decay = u.log_entropy_factor + u.log_inverse_gamma_over_h if switches.decays else zero
    return jnp.stack(
        [
            log_conv,
            log_s + (u.log_sv_b if switches.mediator_annihilation else zero),
            log_conv + log_sv_c,
            log_conv + log_sv_c + 2.0 * (u.log_y_dm_eq - u.log_y_v_eq),
            log_decay,
            log_decay,
            log_decay + u.log_y_v_eq - 2.0 * u.log_y_dm_eq,
            u.log_y_dm_eq,
            u.log_y_v_eq,
            log_conv + (u.log_sv_a_shift if switches.annihilation else zero),
        ],
        axis=-1,
    )


def coupling_log_shifts(portal: VectorPortal, switches: ProcessSwitches, width_sm: Array, width_dm: Array) -> Array:
    """What the couplings and widths Γ_SM, Γ_DM [GeV] add to each column of :func:`coupling_free_log_rates`
    (shape (N_COLUMNS,)): ln g_dm²g_sm² for the (H11) shift of k_a, 2 ln g_sm² for k_b, 2 ln g_dm²
    for k_c and k̄_c, ln Γ for the decays, 0 for the equilibrium yields and for k_a (its couplings and
    width enter ⟨σv⟩_a, :func:`coupled_log_rates`); 0 for a process that is switched off."""
    log_g_sm2, log_g_dm2 = 2.0 * jnp.log(portal.g_sm), 2.0 * jnp.log(portal.g_dm)
    zero = jnp.zeros_like(log_g_sm2)
    log_d_sm, log_d_dm = (bz.log_or_zero(w) if switches.decays else zero for w in (width_sm, width_dm))
    log_c = 2.0 * log_g_dm2 if switches.conversion else zero
    return jnp.stack(
        [
            zero,
            2.0 * log_g_sm2 if switches.mediator_annihilation else zero,
            log_c,
            log_c,
            log_d_sm,
            log_d_dm,
            log_d_dm,
            zero,
            zero,
            log_g_dm2 + log_g_sm2 if switches.annihilation else zero,
        ]
    )


def coupled_log_rates(
    unit: UnitRates, portal: VectorPortal, switches: ProcessSwitches, width_sm: Array, width_dm: Array
) -> tuple[Array, RateDiagnostics]:
    """Columns of :mod:`uvmsm_jax.boltzmann`'s rate table and the rate diagnostics from the
    coupling-free :class:`UnitRates` (any shape) and the point's couplings and widths Γ_SM, Γ_DM [GeV].

    k_i = (1+δ) s⟨σv⟩_i/H, d = (1+δ)Γ⟨M/E⟩/H (docs/equations.md G5, A36–A37, B13–B14, H12–H13), with
    the DM-pair factor of :func:`pair_reaction_factor` on (a) and (c); the reverse coefficients follow
    from detailed balance with the equilibrium yields (MB). The couplings enter as added logs
    (docs/equations.md A.5.1): every column is :func:`coupling_free_log_rates` plus
    :func:`coupling_log_shifts`, k_a that factor plus ln⟨σv⟩_a; the columns are stacked on a new last axis.
    """
    u = unit
    zero = jnp.full_like(u.log_s_over_h, bz.LOG_ZERO)
    width_total = width_sm + width_dm
    log_g_sm2, log_g_dm2 = 2.0 * jnp.log(portal.g_sm), 2.0 * jnp.log(portal.g_dm)
    log_pair = jnp.log(pair_reaction_factor(portal))
    log_sv_b = u.log_sv_b + 2.0 * log_g_sm2 if switches.mediator_annihilation else zero
    log_sv_c = u.log_sv_c + 2.0 * log_g_dm2 if switches.conversion else zero
    if switches.annihilation:
        log_couplings = log_g_dm2 + log_g_sm2
        # the width below the pole to first order where the table leaves it out (docs/equations.md A.5.1)
        carried = u.log_sv_a_width > 0.5 * bz.LOG_ZERO
        width_order = jnp.where(carried, width_total**2 * jnp.exp(u.log_sv_a_width - u.log_sv_a_off_pole), 0.0)
        # ≤ ε_max ≤ 1e-4 where the table stands in; capped so that a table held for a point it cannot
        # stand in for (a contour's Newton iterate; its error bound is then ≥ 1/4) stays finite
        log_off_pole = u.log_sv_a_off_pole + jnp.log1p(-jnp.minimum(width_order, 0.5)) + log_couplings
        log_shift = u.log_sv_a_shift + log_couplings
        # Γ_tot > 0 wherever the pole is open (Γ_DM > 0); elsewhere the pole term is ln 0 anyway
        log_pole = u.log_sv_a_pole + log_couplings - jnp.log(jnp.where(width_total > 0, width_total, 1.0))
        # with the pole: P − S + pole ≥ 0 (the finite part is O(Γ/M) of the pole where negative)
        log_positive = jnp.logaddexp(log_off_pole, log_pole)
        log_sv_a_full = log_positive + bz.log_or_zero(1.0 - jnp.exp(log_shift - log_positive))
        log_sv_a = log_positive if switches.pole_in_annihilation else log_off_pole
    else:
        log_sv_a = log_sv_a_full = zero
    columns = coupling_free_log_rates(u, portal, switches) + coupling_log_shifts(portal, switches, width_sm, width_dm)
    columns = columns.at[..., bz.LOG_K_A].add(log_sv_a)
    diagnostics = RateDiagnostics(
        log_ra_over_h=log_pair + log_sv_a_full + u.log_s_over_h + u.log_y_dm_eq,
        log_rb_over_h=log_sv_b + u.log_s_over_h + u.log_y_v_eq,
        log_rc_over_h=log_pair + log_sv_c + u.log_s_over_h + u.log_y_dm_eq,
        log_rd_over_h=bz.log_or_zero(width_total) + u.log_inverse_gamma_over_h,
    )
    return columns, diagnostics
