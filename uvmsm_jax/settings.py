"""Numerical and physics switches shared by every solver (:class:`Settings`)."""

from __future__ import annotations

from typing import Literal

import equinox as eqx
from jaxtyping import Array, Float

from ._validation import check_positive_finite

__all__ = ["GSTAR_TABLES", "Settings"]

Mode = Literal["physical", "paper"]
"""Values of :attr:`Settings.mode`."""


class Settings(eqx.Module):
    """Numerical and physics switches shared by every solver (all static except ``t_reheat``).

    mode: "physical" (default; corrections of docs/equations.md A.0; for the dark photon every regime,
      Part H) or "paper" (the publication as printed: P1 for the UνMSM, P2's sequential freeze-in
      (B13)–(B14) for the dark photon). A model with a single convention ignores it
      (``ModelSpec.conventions``).
    gstar: "saikawa2018" (tabulated g*, g*s; default), "saikawa2020", "saikawa2018-fit" (analytic
      fit D1–D3), or a number (constant g* = g*s, no dg*s/dT term).
    statistics: "maxwell-boltzmann" (default) or "quantum" (FD/BE equilibrium densities).
    entropy_derivative: include the (1+δ) factor of (G5). ``None`` → on for a tabulated g* in
      physical mode (both models: (A36)–(A37), (H12)–(H13)), off otherwise (P1 and P2 set δ = 0).
    t_reheat: reheating temperature T_R [GeV]; ``None`` → the model's default
      (``ModelSpec.default_t_reheat``: 100·max(M_N₁, M_Z′) for the UνMSM, (A39), K13; for the dark
      photon 100·max(m_χ, m_A′) (H.2), or 1000·m_A′ in its paper mode (B18)). Differentiable.
    sqrt_s_switch: √s above which hadronic channels are perturbative quarks [GeV] (docs/equations.md D.2).
    include_invisible_in_depletion: Model 2 flag of docs/equations.md B.3 and K35 (Γ_vis → Γ_tot in the A′
      decay term). ``None`` → on in physical mode (every regime, (H13)), off in paper mode (P2).
    resonance: Model-1 bookkeeping of the s-channel pole (docs/equations.md A.8.1): "pole" keeps the
      narrow-width pole term (A27) in ⟨σv⟩_a and drops Z′ decays (R, P1's choice); "decay" keeps
      only the off-pole part and evolves Z′ (inverse) decays (D). "auto": "pole" in paper mode,
      "decay" in physical mode.
    include_conversion: process (c) DM DM ↔ V V on (default) or off: N₁N₁ ↔ Z′Z′ (A24), and χχ̄ ↔ A′A′
      (H6) in the dark photon's physical mode.
    system: "coupled" (A36)–(A37), default, or "reduced" (A38) with Y_Z′ = Y_Z′,eq where the Z′
      thermalises (A33).
    initial: "auto" (equilibrium for a species whose rate exceeds H at T_R, or, in the coupled
      system, that DM DM ↔ V V fills faster than H from the other species in equilibrium, or that
      "zero" starts in equilibrium; else zero; A.6, A39), "zero" (A39: empty, except a species that
      the solve's own rates fill within ~1e-8 in τ, or a dark sector that ignites within ~1e-4 in τ,
      which start in equilibrium; an empty start stalled there, docs/relic.md, "ODE") or
      "equilibrium".
    rtol: relative accuracy of the ODE solution for each yield Y = n/s.
    atol: absolute yield tolerances as a fraction of each yield's scale min(Y_eq(T_R), production
      estimate), for a DM that decouples also at most Y_eq at T_dec (A32) — the mediator's never below
      the DM's; a yield below its tolerance is not resolved relatively (docs/relic.md, "ODE").
    n_grid: nodes of the ln T grid on which rate coefficients are tabulated (96: Ωh² of 200 random
      UνMSM points within 6.8e-6 of 1024 nodes, median 1.9e-9; of the dark photon's within 3.8e-4, the
      quadrature's own spread; docs/relic.md, "Rate tables").
    x_end: integrate down to T = min(M_DM, M_V)/x_end (and until the mediator has decayed).
    max_steps: ODE step limit (a point that needs more reports status 3).
    rate_tables: "shared" (default): a concrete batch tabulates the coupling-free rates once per
      distinct (masses, T_R) and adds each point's couplings (docs/equations.md A.5.1; points the
      shared table does not represent exactly get their own); "per-point": every point tabulates its
      own rates (the reference the shared tables are tested against). Traced input (``jit``,
      ``vmap``, derivatives) always tabulates per point.
    stage_jacobian: where the implicit stages of the stiff solve evaluate their Newton matrix
      (docs/relic.md, "ODE"): "per-stage" (default) at each stage's predictor, chord iterations
      stopped by the convergence-rate test; "per-step": once per step (diffrax's VeryChord; the
      solver before the per-stage matrix, kept as the reference the default is tested against).
    solver: "auto" (default): a batch solved in two stages (shared rate tables: concrete, repeated
      masses) first solves by collocation on a fixed grid (quasi-linearised sweeps, docs/relic.md
      "Collocation") every point whose DM does not thermalise, and keeps that result where its checks
      pass — freeze-in, at 0.4× the ODE's cost — and solves the rest with the adaptive ODE; a
      collocated point reports ``ode_steps`` = 0. Applies to models that do not read their labels
      off the solved trajectory (the UνMSM, the dark photon's paper mode) and the coupled system.
      "ode": every point by the ODE (the reference the collocation is tested against). A scalar
      point, traced input and a batch without repeated masses always use the ODE.
    """

    mode: Mode = eqx.field(static=True, default="physical")
    gstar: str | float = eqx.field(static=True, default="saikawa2018")
    statistics: Literal["maxwell-boltzmann", "quantum"] = eqx.field(static=True, default="maxwell-boltzmann")
    entropy_derivative: bool | None = eqx.field(static=True, default=None)
    t_reheat: Float[Array, ""] | None = None
    sqrt_s_switch: float = eqx.field(static=True, default=2.0)
    include_invisible_in_depletion: bool | None = eqx.field(static=True, default=None)
    resonance: Literal["auto", "pole", "decay"] = eqx.field(static=True, default="auto")
    include_conversion: bool = eqx.field(static=True, default=True)
    system: Literal["coupled", "reduced"] = eqx.field(static=True, default="coupled")
    initial: Literal["auto", "zero", "equilibrium"] = eqx.field(static=True, default="auto")
    rtol: float = eqx.field(static=True, default=1e-7)
    atol: float = eqx.field(static=True, default=1e-16)
    n_grid: int = eqx.field(static=True, default=96)
    x_end: float = eqx.field(static=True, default=1e5)
    max_steps: int = eqx.field(static=True, default=8192)
    rate_tables: Literal["shared", "per-point"] = eqx.field(static=True, default="shared")
    stage_jacobian: Literal["per-stage", "per-step"] = eqx.field(static=True, default="per-stage")
    solver: Literal["auto", "ode"] = eqx.field(static=True, default="auto")

    def __check_init__(self):
        if self.mode not in ("physical", "paper"):
            raise ValueError(f"mode must be 'physical' or 'paper', got {self.mode!r}")
        if self.statistics not in ("maxwell-boltzmann", "quantum"):
            raise ValueError(f"statistics must be 'maxwell-boltzmann' or 'quantum', got {self.statistics!r}")
        if isinstance(self.gstar, str):
            if self.gstar not in GSTAR_TABLES:
                raise ValueError(f"gstar must be one of {sorted(GSTAR_TABLES)} or a number, got {self.gstar!r}")
        else:
            check_positive_finite("gstar", self.gstar)
        for name, allowed in (
            ("resonance", ("auto", "pole", "decay")),
            ("system", ("coupled", "reduced")),
            ("initial", ("auto", "zero", "equilibrium")),
            ("rate_tables", ("shared", "per-point")),
            ("stage_jacobian", ("per-stage", "per-step")),
            ("solver", ("auto", "ode")),
        ):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")
        if not float(self.sqrt_s_switch) > 0:  # may be inf: R ratio at all masses (docs/equations.md D.2)
            raise ValueError(f"sqrt_s_switch must be positive, got {self.sqrt_s_switch!r}")
        for name in ("rtol", "atol", "x_end"):
            check_positive_finite(name, getattr(self, name))
        if self.n_grid < 16 or self.max_steps < 1:
            raise ValueError("n_grid must be ≥ 16 and max_steps ≥ 1")
        if self.t_reheat is not None:
            check_positive_finite("t_reheat", self.t_reheat)


GSTAR_TABLES = ("saikawa2018", "saikawa2020", "saikawa2018-fit")
