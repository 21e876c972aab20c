"""Indicators read off a solved yield history (docs/equations.md H.2, H.3).

The coupled system (H12)–(H13) assumes that DM and mediator share the SM temperature. Whether that
holds, which process produced the relic and whether either species reached equilibrium are
decided from the T′ = T solution itself: :func:`trajectory_indicators` evaluates the rates of
(H15)–(H16) and the production terms of (H18) at the solver's accepted steps (dense where the
yields change), with the rate coefficients from the point's rate table.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array

from . import boltzmann as bz

__all__ = ["TrajectoryIndicators", "trajectory_indicators"]

RELIC_SETTLED = 0.01
"""|Y(T)/Y_∞ − 1| above which the DM yield is still changing: defines T_end of (H14)."""
THERMALISED = 0.9
"""max Y/Y_eq at or above which a species counts as chemically thermalised ((H18) indicators)."""
PARTIALLY_THERMALISED = 0.1
"""max Y/Y_eq from which a non-thermalised DM counts as partially thermalised ((H18))."""
MEDIATOR_WINDOW = 3.0
"""The A′ thermalisation indicator looks at T ≥ m_A′/3 ((H18), the ODE form of (B21))."""


class TrajectoryIndicators(eqx.Module):
    """What the solved yields say about a point (scalars).

    max_dm_saturation: max over T ≥ T_end of (H14) of min(Y/Y_eq, √(backward/forward)) of the DM
      number-changing reactions, = Y/Y_eq for DM in equilibrium with a thermal mediator (DM
      thermalisation, (H18); see :func:`trajectory_indicators`).
    max_mediator_saturation: max Y_V/Y_V,eq over T ≥ M_V/3.
    production_2to2, production_decay, production_pairs: ∫dτ of the three DM source terms of (H12)
      (SM SM → DM DM off-shell, V → DM DM, V V → DM DM) [yield].
    max_dark_rate_over_h: max Γ_N/H of (H16) over T_end ≤ T ≤ T_R (two-way DM number-changing rate).
    max_portal_rate_over_h: max Γ_P/H of (H15) over the same range (SM contact rate); over the whole
      table range T_end(table) ≤ T ≤ T_R when the solve did not finish (Γ_P needs only equilibrium
      densities).
    Both rates include the (1 + δ) factor of the table's coefficients (δ = 0 unless switched on).
    Only these two maxima carry a derivative (that of the rate at the step where each is reached); the
    other fields decide labels and are constants to differentiation (:func:`trajectory_indicators`).
    """

    max_dm_saturation: Array
    max_mediator_saturation: Array
    production_2to2: Array
    production_decay: Array
    production_pairs: Array
    max_dark_rate_over_h: Array
    max_portal_rate_over_h: Array


def portal_rate_over_h(q: Array) -> Array:
    """Γ_P/H of (H15) on table rows ``q`` (…, N_COLUMNS): SM contact through V decays and (a), per DM +
    mediator particle in equilibrium (times (1 + δ)). Formed as ratios of logarithms: the equilibrium
    yields underflow at large m/T, and the derivative of a quotient by one (its square) with them
    (a NaN in the forward-mode Jacobian, and so in ``jax.grad``, of the relic outputs)."""
    log_equilibrium = jnp.logaddexp(q[..., bz.LOG_Y_DM_EQ], q[..., bz.LOG_Y_V_EQ])
    decays = jnp.exp(q[..., bz.LOG_D_SM] + q[..., bz.LOG_Y_V_EQ] - log_equilibrium)
    return decays + bz.annihilation_source(q, log_equilibrium)


def dark_rate_over_h(q: Array, y: Array, y_v: Array) -> Array:
    """Γ_N/H of (H16) on table rows ``q`` (…, N_COLUMNS) with yields Y_DM = ``y``, Y_V = ``y_v``: the DM
    number-changing reactions running both ways, min(forward, backward), per DM + mediator particle."""
    e = jnp.exp
    decays = jnp.minimum(e(q[..., bz.LOG_D_DM]) * y_v, e(q[..., bz.LOG_D_DM_INVERSE]) * y**2)
    pairs = jnp.minimum(e(q[..., bz.LOG_K_C]) * y**2, e(q[..., bz.LOG_K_C_REVERSE]) * y_v**2)
    total = y + y_v
    return (decays + pairs) / jnp.where(total > 0, total, 1.0)


def _step_yields(q: Array, states: Array, adiabatic: Array) -> tuple[Array, Array]:
    """(Y_DM, Y_V) ≥ 0 of the solver's ``states`` with the table rows ``q`` (:func:`~uvmsm_jax.boltzmann.yields`)."""
    y, y_v = bz.yields(q, states, adiabatic)
    return jnp.maximum(y, 0.0), jnp.maximum(y_v, 0.0)


def _with_derivative_at_step(maximum: Array, counted: Array, live: Array) -> Array:
    """``maximum`` (computed without derivatives) with the derivative of ``live``, the same quantity at
    the step where it is reached: the derivative of a maximum. None where the step is not ``counted``
    (the maximum is then 0) or ``live`` is not finite; the value stays ``maximum`` to the last bit."""
    return maximum + jnp.where(counted & jnp.isfinite(live), live - jax.lax.stop_gradient(live), 0.0)


INDICATOR_CHUNK = 256
"""Step slots per pass of :func:`trajectory_indicators`' loops over the used slots (a dark-photon point
takes a few hundred of its ``max_steps`` = 8 192)."""


def _slot_yields(table: bz.RateTable, taus: Array, states: Array, valid: Array, adiabatic: Array):
    """The table rows at ``taus`` and (Y_DM, Y_V), 0 at slots that are not ``valid``."""
    q = jax.vmap(table)(taus)
    y, y_v = (jnp.where(valid, v, 0.0) for v in _step_yields(q, states, adiabatic))
    return q, y, y_v


def _first_maximum(best: tuple[Array, Array], values: Array, first: Array) -> tuple[Array, Array]:
    """(maximum, index) of ``values`` (slot ``first`` onwards) merged into ``best`` = (maximum, index) of
    the earlier slots, as ``jnp.max`` and ``jnp.argmax`` of them all: NaN wins, then the first maximum."""
    value, index = jnp.max(values), first + jnp.argmax(values)
    take = (value > best[0]) | (jnp.isnan(value) & ~jnp.isnan(best[0]))
    return jnp.where(take, value, best[0]), jnp.where(take, index, best[1])


def trajectory_indicators(
    table: bz.RateTable,
    taus: Array,
    states: Array,
    adiabatic: Array,
    valid: Array,
    complete: Array | bool,
    m_ref: Array,
    m_v: Array,
) -> TrajectoryIndicators:
    """:class:`TrajectoryIndicators` of a solution saved at increasing ``taus`` as the solver's ``states``
    (shape (n, 2); ``adiabatic``: the form of :func:`~uvmsm_jax.boltzmann.yields`); entries where
    ``valid`` is False (unused step slots, after the used ones and placed at the last τ) are ignored.
    ``complete``: the solve reached τ_end (otherwise the portal maximum covers the whole table).

    The used slots are read in passes of :data:`INDICATOR_CHUNK` (a loop that stops after the last used
    slot), not all ``max_steps`` of them: the maxima and the step they are reached at are those over all
    slots; the ∫dτ of the sources are the trapezoid sums over the used slots and the segment to the
    first unused one (the unused ones add zero-width segments).

    The indicators decide labels and the status; of them only the two rate maxima are outputs with a
    derivative. So they are computed without derivatives — the table rows and yields at every step slot
    (``max_steps`` of them) carried each direction's tangent, most of a dark-photon point's
    derivative (docs/relic.md, "Differentiability") — and each maximum gets the derivative of its rate
    at the step where it is reached."""
    live = (table, taus, states)
    table, taus, states = jax.lax.stop_gradient(live)
    valid = jnp.asarray(valid)
    e = jnp.exp
    n, chunk = taus.shape[0], INDICATOR_CHUNK
    slots = jnp.arange(n)
    used = jnp.sum(valid)
    last = jnp.max(jnp.where(valid, slots, 0))
    y_final = _slot_yields(table, taus[last][None], states[last][None], valid[last][None], adiabatic)[1][0]
    # padded to whole passes plus one slot (the trapezoid's right end), copies of the last slot
    padding = -n % chunk + 1
    taus, states = (jnp.concatenate([x, jnp.repeat(x[-1:], padding, axis=0)]) for x in (taus, states))
    valid = jnp.concatenate([valid, jnp.zeros(padding, bool)])

    def passes(body, init):
        """``body(first, carry)`` on the passes from slot 0 that hold a used slot."""
        _, out = jax.lax.while_loop(
            lambda c: c[0] < used, lambda c: (c[0] + chunk, body(c[0], c[1])), (jnp.asarray(0), init)
        )
        return out

    def window(first, width=chunk):
        """Slot indices, τ, states and validity of ``width`` slots from ``first``."""
        cut = lambda x: jax.lax.dynamic_slice_in_dim(x, first, width)
        return first + jnp.arange(width), cut(taus), cut(states), cut(valid)

    def changing(first, last_changing):
        index, t, x, ok = window(first)
        y = _slot_yields(table, t, x, ok, adiabatic)[1]
        still = ok & (jnp.abs(y / jnp.where(y_final > 0, y_final, 1.0) - 1.0) > RELIC_SETTLED)
        return jnp.maximum(last_changing, jnp.max(jnp.where(still, index, 0)))

    last_changing = passes(changing, jnp.asarray(0))

    def before_t_end(index, ok):
        return ok & (index <= last_changing)  # T ≥ T_end of (H14)

    def reduce(first, carry):
        index, t, x, ok = window(first, chunk + 1)  # the next pass's first slot closes the trapezoid
        q, y, y_v = _slot_yields(table, t, x, ok, adiabatic)
        counted = before_t_end(index, ok)
        y_eq, y_v_eq = e(q[:, bz.LOG_Y_DM_EQ]), e(q[:, bz.LOG_Y_V_EQ])
        # DM saturation, min(Y/Y_eq, √(backward/forward)) of the DM number-changing reactions, while the
        # yield is still changing (T ≥ T_end of (H14)). Both equal Y/Y_eq for DM in equilibrium with a
        # thermal mediator. Y/Y_eq alone would count a late decay population that the falling Y_eq
        # passes; √(backward/forward) alone would count a dark sector in equilibrium with itself far
        # below Y_eq.
        # the three DM source terms of (H12): SM SM → DM DM off-shell, V → DM DM, V V → DM DM
        source_2to2 = bz.annihilation_source(q)
        source_decay = 2.0 * e(q[:, bz.LOG_D_DM]) * y_v
        source_pairs = e(q[:, bz.LOG_K_C_REVERSE]) * y_v**2
        k_a = jnp.maximum(e(q[:, bz.LOG_K_A]) - e(q[:, bz.LOG_K_A_SHIFT]), 0.0)
        forward = source_2to2 + source_pairs + source_decay
        backward = (k_a + e(q[:, bz.LOG_K_C]) + 2.0 * e(q[:, bz.LOG_D_DM_INVERSE])) * y**2
        balance = jnp.sqrt(backward / jnp.where(forward > 0, forward, 1.0))
        saturation = jnp.minimum(y / jnp.where(y_eq > 0, y_eq, 1.0), balance)
        mediator_window = ok & (m_ref * e(-t) >= m_v / MEDIATOR_WINDOW)
        mediator_saturation = jnp.where(mediator_window, y_v / jnp.where(y_v_eq > 0, y_v_eq, 1.0), 0.0)
        sources = jnp.stack([source_2to2, source_decay, source_pairs])
        segments = jnp.where(index[1:] < n, jnp.diff(t) * (sources[:, 1:] + sources[:, :-1]), 0.0)
        dark_rate = jnp.where(counted, dark_rate_over_h(q, y, y_v), 0.0)[:chunk]
        portal_rate = jnp.where(counted, portal_rate_over_h(q), 0.0)[:chunk]
        dm, mediator, integrals, dark, portal = carry
        return (
            jnp.maximum(dm, jnp.max(jnp.where(counted & (forward > 0), saturation, 0.0)[:chunk])),
            jnp.maximum(mediator, jnp.max(mediator_saturation[:chunk])),
            integrals + jnp.sum(segments, axis=1),
            _first_maximum(dark, dark_rate, first),
            _first_maximum(portal, portal_rate, first),
        )

    zero = jnp.asarray(0.0)
    start = (zero, jnp.asarray(0))  # every rate is ≥ 0: jnp.argmax of all zeros is slot 0
    max_dm, max_mediator, integrals, (dark_max, i_dark), (portal_max, i_portal) = passes(
        reduce, (zero, zero, jnp.zeros(3), start, start)
    )
    live_table, live_taus, live_states = live

    def live_rates(i):
        """(Γ_N/H, Γ_P/H) at step ``i`` with the derivatives."""
        q_i = live_table(live_taus[i])
        return dark_rate_over_h(q_i, *_step_yields(q_i, live_states[i], adiabatic)), portal_rate_over_h(q_i)

    counted_at = lambda i: before_t_end(i, valid[i])
    max_dark = _with_derivative_at_step(dark_max, counted_at(i_dark), live_rates(i_dark)[0])
    max_portal = jnp.where(
        complete,
        _with_derivative_at_step(portal_max, counted_at(i_portal), live_rates(i_portal)[1]),
        jnp.max(portal_rate_over_h(live_table.values)),
    )
    production_2to2, production_decay, production_pairs = 0.5 * integrals
    return TrajectoryIndicators(
        max_dm_saturation=max_dm,
        max_mediator_saturation=max_mediator,
        production_2to2=production_2to2,
        production_decay=production_decay,
        production_pairs=production_pairs,
        max_dark_rate_over_h=max_dark,
        max_portal_rate_over_h=max_portal,
    )
