"""Status and mechanism codes of every result (``RelicResult``, scans, contours).

``status`` is 0 for a number the package vouches for and a :class:`Status` code otherwise; a batch
never raises because one point failed. ``mechanism`` indexes :data:`MECHANISMS`; each model declares
in the registry (:mod:`uvmsm_jax.models`) which mechanisms it can produce.
"""

from __future__ import annotations

import enum

import numpy as np

__all__ = ["MECHANISMS", "STATUS_MESSAGES", "Mechanism", "Status", "mechanism_names"]


class Status(enum.IntEnum):
    """Per-point status codes (integers in results and Zarr stores)."""

    NOT_COMPUTED = -1
    """A scan store's fill value: the point has not been computed yet."""
    OK = 0
    """Solved; the numbers are valid."""
    INVALID_INPUT = 1
    """A mass, coupling or T_R is not a positive finite number (the point is not solved)."""
    SOLVER_FAILED = 2
    """diffrax reported a failure (non-finite values, failed Newton iterations)."""
    MAX_STEPS = 3
    """The ODE needed more than ``Settings.max_steps`` steps."""
    NO_DM_CHANNEL = 4
    """The model's production mechanism gives no DM at this point: the dark photon's P2 setting,
    ``mode="paper"``, with m_χ ≥ m_A′/2 (A′ → χχ̄ is closed), or any point whose solved DM yield is
    exactly 0 (the same setting with m_A′ < 2m_e: no SM decay makes the A′). Ωh² = 0 is reported."""
    NEEDS_DARK_TEMPERATURE = 5
    """The dark sector would need its own temperature T′ ≠ T (docs/equations.md (H14)–(H17): its
    number-changing reactions run both ways faster than H while the portal never re-equilibrates it
    with the SM). The T′ = T solution does not apply; no Ωh² is returned (NaN)."""
    NO_DISTRIBUTION_PARTIAL_THERMALISATION = 6
    """:func:`~uvmsm_jax.momentum_distribution`: the DM came close to equilibrium without thermalising
    (the relic solver's (H18) label ``partial-thermalisation``): neither the freeze-in quadrature nor a
    freeze-out shape applies (docs/equations.md K57); no f is returned."""
    NO_DISTRIBUTION_MECHANISM = 7
    """:func:`~uvmsm_jax.momentum_distribution`: the point's production has no modelled f — P1's pole
    bookkeeping of the resonance (paper mode, K50: prompt decays of an equilibrium Z′), V V → DM DM
    from a non-thermal mediator (sequential-mediator-pair-freeze-in), or a freeze-out without a
    decoupling temperature (A32) for the shapes of W.1.3."""
    DISTRIBUTION_YIELD_MISMATCH = 8
    """:func:`~uvmsm_jax.momentum_distribution`: the zeroth moment of the freeze-in f differs from the
    relic solver's yield by more than 1 % (W18): f does not describe the production that Ωh² comes from
    (e.g. back-reaction near equilibrium, which the freeze-in f drops, K57); or a freeze-out form
    (W16) vanishes on the whole q grid (a user T_kd far above the mass); no f is returned."""
    STABLE_MEDIATOR = 9
    """The mediator has no decay channel that the model implements (the dark photon below 2m_e and
    2m_χ: A′ → 3γ and A′ → νν̄ are not included), so it would outlive the integration as a relic of its
    own; no Ωh² is returned (NaN). The ODE still runs, to T = min(m_DM, m_V)/x_end."""
    CONTOUR_NOT_CONVERGED = 10
    """A contour root that neither Newton nor bisection brought within tolerance."""
    OUTSIDE_MODEL = 11
    """The point lies outside the physics the models implement: a DM lighter than
    ``pipeline.LIGHTEST_DM`` (1 eV; Ωh² = m Y s₀/ρ_c of (A40) needs it non-relativistic today), or a
    portal coupling with g²/4π > 1 (g_B−L, e′, or ε·e: the rates are tree level), or a kinetic
    mixing ε ≥ 1 (``ModelSpec.largest_sm_coupling``; (B2) needs |ε| < 1), or a mediator, or a DM pair
    where DM DM ↔ SM is solved, heavier than ``ModelSpec.largest_sm_momentum`` (the dark photon's 19.9
    GeV, (B2′)). No Ωh² is returned (NaN); the ODE still runs."""
    ULTRAVIOLET_SENSITIVE = 12
    """Ωh² changes by more than ``pipeline.ULTRAVIOLET_TOLERANCE`` (1 %) when DM DM ↔ SM is switched off
    at temperatures where its thermal √s exceeds the model's ``ModelSpec.largest_sm_momentum`` (the dark
    photon: T above 4.7 GeV, √s ≳ 20 GeV, where the Z, and above the electroweak crossover the
    hypercharge, replace the photon mixing of (B2); docs/equations.md K46). The result rests on physics
    the model does not implement; no Ωh² is returned (NaN). A reheating temperature ``Settings.t_reheat``
    at or below that temperature has no such part."""

    @property
    def message(self) -> str:
        """One-line description (the text of :data:`STATUS_MESSAGES`)."""
        return STATUS_MESSAGES[self]


STATUS_MESSAGES: dict[int, str] = {
    Status.NOT_COMPUTED: "not computed yet",
    Status.OK: "ok",
    Status.INVALID_INPUT: "invalid input (a mass, coupling or T_R is not a positive finite number)",
    Status.SOLVER_FAILED: "ODE solver failed",
    Status.MAX_STEPS: "ODE solver reached max_steps",
    Status.NO_DM_CHANNEL: "no DM production at this point (e.g. the mediator cannot decay to a DM pair): omega_h2 = 0",
    Status.NEEDS_DARK_TEMPERATURE: "dark sector needs its own temperature (T' != T, docs/equations.md H17): no omega_h2",
    Status.NO_DISTRIBUTION_PARTIAL_THERMALISATION: "momentum distribution not computed: partial thermalisation (K57)",
    Status.NO_DISTRIBUTION_MECHANISM: "momentum distribution not computed: production mechanism without a modelled f",
    Status.DISTRIBUTION_YIELD_MISMATCH: "momentum distribution disagrees with the relic yield by more than 1 % (W18, K57)",
    Status.STABLE_MEDIATOR: "mediator has no decay channel in the model (a relic of its own): no omega_h2",
    Status.CONTOUR_NOT_CONVERGED: "contour root not converged",
    Status.OUTSIDE_MODEL: (
        "outside the modelled physics (DM below 1 eV, a coupling with g^2/4pi > 1, epsilon >= 1,"
        " or a dark photon above 19.9 GeV or DM above 9.95 GeV): no omega_h2"
    ),
    Status.ULTRAVIOLET_SENSITIVE: (
        "more than 1 % of omega_h2 comes from DM-SM annihilation above T = 4.7 GeV, where the photon mixing"
        " (B2) fails (docs/equations.md K46): no omega_h2; t_reheat <= 4.7 GeV gives one"
    ),
}
"""Status code → message."""


class Mechanism(enum.IntEnum):
    """Production mechanism of the relic (docs/equations.md A.6 for Model 1; (B22) and (H18) for Model 2)."""

    FREEZE_OUT_RELATIVISTIC = 0
    """The DM thermalised and decoupled while relativistic (x_dec < 1)."""
    FREEZE_OUT = 1
    """The DM thermalised and froze out non-relativistically."""
    FREEZE_IN_RESONANT = 2
    """Never thermalised; produced on the s-channel resonance (M_V > 2 M_DM)."""
    FREEZE_IN = 3
    """Never thermalised; produced off resonance."""
    SEQUENTIAL_FREEZE_IN = 4
    """Dark photon: A′ frozen in from the SM, then A′ → χχ̄ (ε < ε_th; (H18) ``sequential_freeze_in_decay``)."""
    THERMAL_MEDIATOR_DECAY = 5
    """Dark photon: decays of a thermal A′ (ε > ε_th; (H18) ``freeze_in_decay_thermal_Ap``)."""
    FREEZE_IN_2TO2 = 6
    """Dark photon: freeze-in through SM SM → χχ̄ with an off-shell A′ ((H18) ``freeze_in_2to2``)."""
    MEDIATOR_PAIR_FREEZE_IN = 7
    """Dark photon: freeze-in from thermal on-shell A′ by A′A′ → χχ̄ ((H18) ``freeze_in_AA_thermal_Ap``)."""
    SEQUENTIAL_MEDIATOR_PAIR_FREEZE_IN = 8
    """Dark photon: A′ frozen in, then A′A′ → χχ̄ ((H18) ``sequential_freeze_in_AA``)."""
    PARTIAL_THERMALISATION = 9
    """Dark photon: the DM came within 0.1–0.9 of equilibrium ((H18) ``partial_thermalisation``)."""

    @property
    def label(self) -> str:
        """The name used in JSON and Zarr output, e.g. ``"freeze-in-resonant"``."""
        return self.name.lower().replace("_", "-")


MECHANISMS: tuple[str, ...] = tuple(m.label for m in Mechanism)
"""Mechanism labels indexed by the integer ``mechanism`` of a result."""


def mechanism_names(mechanism):
    """Labels of :data:`MECHANISMS` indices ("invalid" for −1): a str for a scalar, else an array."""
    names = np.asarray(MECHANISMS + ("invalid",))[np.asarray(mechanism)]
    return str(names) if names.ndim == 0 else names
