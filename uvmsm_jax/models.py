"""Model parameters as equinox Modules (DESIGN.md §1, docs/equations.md A.1, B.1).

Both models are thin parameterisations of one *vector portal*: a massive vector V (Z′ or A′)
coupled to the SM fermion current (B−L charges × g_BL, or electric charges × εe) and to a DM
fermion (Majorana N₁ with axial coupling g_BL, or Dirac χ with vector coupling e′). Widths, cross
sections, rates and the Boltzmann system are written once for :class:`VectorPortal`.

Continuous parameters are array fields (scalars or arrays, vmap-able and differentiable);
physics switches are static fields.
"""

from __future__ import annotations

from typing import Literal

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

from . import constants as c
from ._validation import check_positive_finite


def _as_float(x: ArrayLike) -> Float[Array, "..."]:
    return jnp.asarray(x, dtype=jnp.float64)


class VectorPortal(eqx.Module):
    """A massive vector mediator V coupled to SM fermions and to a DM fermion.

    Fields (GeV for masses, dimensionless couplings):
      m_dm:  DM fermion mass (N₁ or χ).
      m_v:   mediator mass (Z′ or A′).
      g_sm:  coupling multiplying the SM charges of ``current`` (g_BL for "b-l", ε·e for "em").
      g_dm:  DM coupling (g_BL·|Q′_N| = g_BL for the Majorana N₁, e′ for the Dirac χ).
      current: "b-l" (charges of docs/equations.md A2) or "em" (electric charges, docs/equations.md B2).
      dm_kind: "majorana" (N₁, g=2, axial vertex, 1/2 for identical final state) or "dirac"
        (χ + χ̄, 2 + 2 d.o.f.).
    """

    m_dm: Float[Array, "..."] = eqx.field(converter=_as_float)
    m_v: Float[Array, "..."] = eqx.field(converter=_as_float)
    g_sm: Float[Array, "..."] = eqx.field(converter=_as_float)
    g_dm: Float[Array, "..."] = eqx.field(converter=_as_float)
    current: Literal["b-l", "em"] = eqx.field(static=True, default="b-l")
    dm_kind: Literal["majorana", "dirac"] = eqx.field(static=True, default="majorana")


class UVMSM(eqx.Module):
    """Model 1 (docs/equations.md Part A): Majorana N₁ dark matter with a U(1)_B−L gauge boson Z′.

    Fields: ``m_n1`` = M_N₁ [GeV], ``m_zp`` = M_Z′ [GeV], ``g_bl`` = g_B−L [dimensionless].
    """

    m_n1: Float[Array, "..."] = eqx.field(converter=_as_float)
    m_zp: Float[Array, "..."] = eqx.field(converter=_as_float)
    g_bl: Float[Array, "..."] = eqx.field(converter=_as_float)

    parameter_names = ("m_n1", "m_zp", "g_bl")

    @property
    def portal(self) -> VectorPortal:
        return VectorPortal(self.m_n1, self.m_zp, self.g_bl, self.g_bl, current="b-l", dm_kind="majorana")

    @property
    def m_dm(self) -> Float[Array, "..."]:
        return self.m_n1


class DarkPhotonDM(eqx.Module):
    """Model 2 (docs/equations.md Part B): Dirac χ with dark charge e′ and a dark photon A′ of mixing ε.

    Fields: ``m_chi`` = m_χ [GeV], ``m_ap`` = m_A′ [GeV], ``epsilon`` = photon kinetic mixing ε of
    (B2), ``e_dark`` = dark gauge coupling e′ (not α′).
    """

    m_chi: Float[Array, "..."] = eqx.field(converter=_as_float)
    m_ap: Float[Array, "..."] = eqx.field(converter=_as_float)
    epsilon: Float[Array, "..."] = eqx.field(converter=_as_float)
    e_dark: Float[Array, "..."] = eqx.field(converter=_as_float)

    parameter_names = ("m_chi", "m_ap", "epsilon", "e_dark")

    @property
    def portal(self) -> VectorPortal:
        return VectorPortal(
            self.m_chi, self.m_ap, self.epsilon * c.E_EM, self.e_dark, current="em", dm_kind="dirac"
        )

    @property
    def m_dm(self) -> Float[Array, "..."]:
        return self.m_chi


Model = UVMSM | DarkPhotonDM


def validate_model(model: Model) -> None:
    """Raise ``ValueError`` naming the first parameter that is not a positive finite number.

    Only concrete (non-traced) values are checked; inside ``jit``/``vmap`` invalid points are
    reported through the per-point ``status`` of the result instead.
    """
    for name in model.parameter_names:
        check_positive_finite(name, getattr(model, name))


class Settings(eqx.Module):
    """Numerical and physics switches shared by every solver (all static except ``t_reheat``).

    mode: "physical" (default; corrections of docs/equations.md A.0) or "paper" (P1 as printed). Model 2
      has a single convention and ignores ``mode`` (it always uses M_P = 2.435e18 GeV).
    gstar: "saikawa2018" (tabulated g*, g*s; default), "saikawa2020", "saikawa2018-fit" (analytic
      fit D1–D3), or a number (constant g* = g*s, no dg*s/dT term).
    statistics: "maxwell-boltzmann" (default) or "quantum" (FD/BE equilibrium densities).
    entropy_derivative: include the (1+δ) factor of (G5). ``None`` → on for a tabulated g* in
      physical mode for Model 1, off otherwise (P1 and P2 set δ = 0).
    t_reheat: reheating temperature T_R [GeV]; ``None`` → 100·max(M_DM, M_V) (docs/equations.md A39, K13).
      Differentiable.
    sqrt_s_switch: √s above which hadronic channels are perturbative quarks [GeV] (docs/equations.md D.2).
    include_invisible_in_depletion: Model 2 flag of docs/equations.md B.3 (Γ_vis → Γ_tot in the A′ decay term).
    resonance: Model-1 bookkeeping of the s-channel pole (docs/equations.md A.8.1): "pole" keeps the
      narrow-width pole term (A27) in ⟨σv⟩_a and drops Z′ decays (R, P1's choice); "decay" keeps
      only the off-pole part and evolves Z′ (inverse) decays (D). "auto": "pole" in paper mode,
      "decay" in physical mode.
    include_conversion: Model 1 process (c) N₁N₁ ↔ Z′Z′ (A24) on (default) or off.
    system: "coupled" (A36)–(A37), default, or "reduced" (A38) with Y_Z′ = Y_Z′,eq where the Z′
      thermalises (A33).
    initial: "auto" (equilibrium for a species whose rate exceeds H at T_R, else zero; A.6),
      "zero" (A39) or "equilibrium".
    rtol: relative accuracy of the ODE solution for each yield Y = n/s.
    atol: absolute yield tolerance as a fraction of the point's DM yield scale
      min(Y_DM,eq(T_R), production estimate); yields below it are not resolved relatively.
    n_grid: nodes of the ln T grid on which rate coefficients are tabulated.
    x_end: integrate down to T = min(M_DM, M_V)/x_end (and until the mediator has decayed).
    max_steps: ODE step limit (a point that needs more reports status 3).
    """

    mode: Literal["physical", "paper"] = eqx.field(static=True, default="physical")
    gstar: str | float = eqx.field(static=True, default="saikawa2018")
    statistics: Literal["maxwell-boltzmann", "quantum"] = eqx.field(static=True, default="maxwell-boltzmann")
    entropy_derivative: bool | None = eqx.field(static=True, default=None)
    t_reheat: Float[Array, ""] | None = None
    sqrt_s_switch: float = eqx.field(static=True, default=2.0)
    include_invisible_in_depletion: bool = eqx.field(static=True, default=False)
    resonance: Literal["auto", "pole", "decay"] = eqx.field(static=True, default="auto")
    include_conversion: bool = eqx.field(static=True, default=True)
    system: Literal["coupled", "reduced"] = eqx.field(static=True, default="coupled")
    initial: Literal["auto", "zero", "equilibrium"] = eqx.field(static=True, default="auto")
    rtol: float = eqx.field(static=True, default=1e-7)
    atol: float = eqx.field(static=True, default=1e-16)
    n_grid: int = eqx.field(static=True, default=256)
    x_end: float = eqx.field(static=True, default=1e5)
    max_steps: int = eqx.field(static=True, default=8192)

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

    @property
    def planck_mass(self) -> float:
        """Reduced Planck mass M_P [GeV] for Model 1 in this mode (docs/equations.md K12)."""
        return c.M_PLANCK_REDUCED_PAPER if self.mode == "paper" else c.M_PLANCK_REDUCED


GSTAR_TABLES = ("saikawa2018", "saikawa2020", "saikawa2018-fit")
