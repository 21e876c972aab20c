"""The models and the model registry (docs/equations.md Part A, Part B).

A model is an ``eqx.Module`` of continuous parameters (scalars or arrays: vmap-able and
differentiable) with a ``portal`` property mapping them onto the shared :class:`VectorPortal`, plus
one :class:`ModelSpec` in the registry that declares everything else about it: name and aliases,
parameters (field, CLI option, unit, help), which couplings scale which rates, conventions, default
T_R, the mass defining x = m/T, the thermalisation criterion of the mediator, the mechanism
classification and any status rule. Every other module (relic, scan, contour, figures, limits,
SHiP, CLI) reads the registry; none branches on a model name.

Adding a model (see docs/models.md, "Adding a model"): write its ``eqx.Module`` and a
:class:`ModelSpec` subclass here (or in your own module) and call :func:`register_model`.
"""

from __future__ import annotations

import abc
import dataclasses
import math
from collections.abc import Mapping
from typing import Any, ClassVar, Literal

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float

from . import boltzmann as bz
from . import constants as c
from ._batching import RELIC_BYTES_PER_POINT
from ._indicators import PARTIALLY_THERMALISED, THERMALISED, TrajectoryIndicators
from ._validation import check_positive_finite
from .codes import Mechanism, Status
from .portal import VectorPortal, as_float
from .rates import ProcessSwitches
from .settings import Mode, Settings
from .thermo import degrees_of_freedom, hubble_rate

__all__ = [
    "MODELS",
    "Assessment",
    "DarkPhotonDM",
    "DarkPhotonSpec",
    "ModelSpec",
    "Parameter",
    "Physics",
    "UVMSM",
    "UVMSMSpec",
    "model_spec",
    "register_model",
    "validate_model",
]


class UVMSM(eqx.Module):
    """Model 1 (docs/equations.md Part A): Majorana N₁ dark matter with a U(1)_B−L gauge boson Z′.

    Fields: ``m_n1`` = M_N₁ [GeV], ``m_zp`` = M_Z′ [GeV], ``g_bl`` = g_B−L [dimensionless].
    """

    m_n1: Float[Array, ...] = eqx.field(converter=as_float)
    m_zp: Float[Array, ...] = eqx.field(converter=as_float)
    g_bl: Float[Array, ...] = eqx.field(converter=as_float)

    @property
    def portal(self) -> VectorPortal:
        """The Z′ portal: B−L current with coupling g_BL, Majorana N₁ with axial coupling g_BL (A2)."""
        return VectorPortal(self.m_n1, self.m_zp, self.g_bl, self.g_bl, current="b-l", dm_kind="majorana")


class DarkPhotonDM(eqx.Module):
    """Model 2 (docs/equations.md Part B): Dirac χ with dark charge e′ and a dark photon A′ of mixing ε.

    Fields: ``m_chi`` = m_χ [GeV], ``m_ap`` = m_A′ [GeV], ``epsilon`` = photon kinetic mixing ε of
    (B2), ``e_dark`` = dark gauge coupling e′ (not α′).
    """

    m_chi: Float[Array, ...] = eqx.field(converter=as_float)
    m_ap: Float[Array, ...] = eqx.field(converter=as_float)
    epsilon: Float[Array, ...] = eqx.field(converter=as_float)
    e_dark: Float[Array, ...] = eqx.field(converter=as_float)

    @property
    def portal(self) -> VectorPortal:
        """The A′ portal: electromagnetic current with coupling εe, Dirac χ with vector coupling e′ (B2)."""
        return VectorPortal(self.m_chi, self.m_ap, self.epsilon * c.E_EM, self.e_dark, current="em", dm_kind="dirac")


@dataclasses.dataclass(frozen=True)
class Parameter:
    """One continuous parameter of a model.

    field: the ``eqx.Module`` field (and the JSON / Zarr name). option: the CLI option.
    unit: "GeV" or "1". role: "dm_mass", "mediator_mass" or "coupling". symbol: plain-text symbol.
    help: one line for ``--help``.
    """

    field: str
    option: str
    unit: str
    role: Literal["dm_mass", "mediator_mass", "coupling"]
    symbol: str
    help: str

    @property
    def metavar(self) -> str:
        """``GEV`` for a mass, ``G`` for a coupling."""
        return "GEV" if self.unit == "GeV" else "G"


class Physics(eqx.Module):
    """The model's reading of :class:`Settings`: which processes and terms enter the Boltzmann system."""

    settings: Settings = eqx.field(static=True)
    processes: ProcessSwitches = eqx.field(static=True)
    system: bz.SystemSwitches = eqx.field(static=True)
    planck_mass: float = eqx.field(static=True)
    entropy_derivative: bool = eqx.field(static=True)
    g_s_equals_g_rho: bool = eqx.field(static=True, default=False)


class Assessment(eqx.Module):
    """A model's verdict on a solved point: status code, mechanism index and the thermalisation flags."""

    status: Array
    mechanism: Array
    dm_thermalised: Array
    mediator_thermalised: Array


class ModelSpec(abc.ABC):
    """What the package needs to know about a model beyond its parameters (one registry entry).

    Class attributes declare data; methods are the model's physics rules, called inside the jitted
    solver with JAX arrays (one parameter point at a time). Instances are hashable by identity and
    travel as static data through ``jax.jit``.
    """

    name: ClassVar[str]
    """Canonical name (``--model NAME``, JSON ``model``)."""
    aliases: ClassVar[tuple[str, ...]] = ()
    """Other accepted spellings (case-insensitive, ``_`` = ``-``)."""
    model_class: ClassVar[type]
    """The ``eqx.Module`` of the parameters; its ``portal`` property maps them onto VectorPortal."""
    title: ClassVar[str]
    """Human-readable description."""
    parameters: ClassVar[tuple[Parameter, ...]]
    """The continuous parameters, in the order of the model class's fields."""
    sm_coupling: ClassVar[str]
    """Field of the coupling to the SM current (the coupling of SHiP reach and limit curves)."""
    contour_unknown: ClassVar[str]
    """Coupling solved for by default on the Ωh² contour."""
    rate_coupling_powers: ClassVar[Mapping[str, Mapping[str, int]]]
    """Rate → {coupling field: power}: each rate coefficient is the product of these coupling powers
    and a coupling-free function of the masses and T. Rates: ``annihilation`` (a) DM DM ↔ SM,
    ``mediator_annihilation`` (b) V V ↔ SM, ``conversion`` (c) DM DM ↔ V V, ``decay_sm`` V → SM,
    ``decay_dm`` V → DM DM. Off the narrow-width pole, the mediator width inside the propagator of (a)
    below the resonance threshold breaks the scaling at O(Γ²/M²)."""
    mechanisms: ClassVar[tuple[Mechanism, ...]]
    """The mechanisms this model's classification can return."""
    conventions: ClassVar[tuple[Mode, ...]] = ("physical",)
    """``Settings.mode`` values the model distinguishes; any other mode is read as the first."""
    current: ClassVar[Literal["b-l", "em"]]
    """SM current of the mediator (VectorPortal.current)."""
    dm_kind: ClassVar[Literal["majorana", "dirac"]]
    """DM fermion (VectorPortal.dm_kind)."""
    default_t_reheat_help: ClassVar[str]
    """The default T_R in words (CLI help, docs)."""
    largest_sm_coupling: ClassVar[float] = math.inf
    """g_sm (VectorPortal.g_sm) from which on the model's own definition fails, besides perturbativity
    (``pipeline.PERTURBATIVE_ALPHA``): status 11, ``OUTSIDE_MODEL``."""
    relic_bytes_per_point: ClassVar[float] = RELIC_BYTES_PER_POINT
    """Working memory of one point of :func:`uvmsm_jax.relic`'s per-point program (its rate table,
    quadrature nodes and solver state) [bytes]: sizes its block on a GPU
    (:func:`~uvmsm_jax._batching.default_block`). The UνMSM's, measured on an H200, by default."""
    largest_sm_momentum: ClassVar[float] = math.inf
    """Largest momentum √(q²) [GeV] through the mediator's line at which the model's couplings to the SM
    hold: a heavier mediator, or a DM pair whose annihilation threshold 2m_DM lies above, is status 11,
    ``OUTSIDE_MODEL``; a point whose Ωh² rests on DM DM ↔ SM at thermal √s above it is status 12,
    ``ULTRAVIOLET_SENSITIVE`` (``pipeline.ultraviolet_share``)."""

    def __repr__(self) -> str:
        return f"<model {self.name!r}>"

    # --- derived data -------------------------------------------------------------------------
    @property
    def fields(self) -> tuple[str, ...]:
        """Parameter fields in order."""
        return tuple(p.field for p in self.parameters)

    def parameter(self, field: str) -> Parameter:
        """The :class:`Parameter` of ``field`` (``KeyError`` if the model has none)."""
        for p in self.parameters:
            if p.field == field:
                return p
        raise KeyError(f"model {self.name!r} has no parameter {field!r}")

    def _field_of(self, role: str) -> str:
        (field,) = (p.field for p in self.parameters if p.role == role)
        return field

    @property
    def dm_mass(self) -> str:
        """Field of the DM mass."""
        return self._field_of("dm_mass")

    @property
    def mediator_mass(self) -> str:
        """Field of the mediator mass."""
        return self._field_of("mediator_mass")

    @property
    def couplings(self) -> tuple[str, ...]:
        """Fields of the couplings."""
        return tuple(p.field for p in self.parameters if p.role == "coupling")

    def model(self, **fields) -> Any:
        """An instance of :attr:`model_class` from keyword fields."""
        return self.model_class(**fields)

    def values(self, model) -> dict[str, Array]:
        """The model's parameter values keyed by field."""
        return {f: getattr(model, f) for f in self.fields}

    # --- physics rules --------------------------------------------------------------------------
    def resolve_settings(self, settings: Settings) -> Settings:
        """``settings`` as this model reads them: a ``mode`` outside :attr:`conventions` becomes the
        first convention, so models with one convention give identical results in either mode."""
        if settings.mode in self.conventions:
            return settings
        return dataclasses.replace(settings, mode=self.conventions[0])

    def physics(self, settings: Settings) -> Physics:
        """Processes, system switches, M_P and the δ term for ``settings`` (already resolved)."""
        return Physics(
            settings=settings,
            processes=self.processes(settings),
            system=self.system(settings),
            planck_mass=self.planck_mass(settings),
            entropy_derivative=self.entropy_derivative(settings),
            g_s_equals_g_rho=self.g_s_equals_g_rho(settings),
        )

    @abc.abstractmethod
    def processes(self, settings: Settings) -> ProcessSwitches:
        """Which processes enter the Boltzmann system."""

    @abc.abstractmethod
    def system(self, settings: Settings) -> bz.SystemSwitches:
        """Which terms of the coupled system are present."""

    @abc.abstractmethod
    def planck_mass(self, settings: Settings) -> float:
        """The reduced Planck mass M_P [GeV] of the model's conventions."""

    def entropy_derivative(self, settings: Settings) -> bool:
        """Whether the (1 + δ) factor of (G5) is on: ``Settings.entropy_derivative``, or if None on for a
        tabulated g* in physical mode ((A36)–(A37), (H12)–(H13)) and off in paper mode (P1 and P2 set δ = 0)."""
        if settings.entropy_derivative is None:
            return settings.mode == "physical" and isinstance(settings.gstar, str)
        return bool(settings.entropy_derivative)

    def g_s_equals_g_rho(self, settings: Settings) -> bool:
        """Whether the entropy degrees of freedom are set to g* (default: no, the tabulated g*s)."""
        return False

    @abc.abstractmethod
    def default_t_reheat(self, portal: VectorPortal, settings: Settings) -> Array:
        """T_R [GeV] when ``Settings.t_reheat`` is None."""

    @abc.abstractmethod
    def reference_mass(self, portal: VectorPortal) -> Array:
        """The mass m_ref [GeV] of x = m_ref/T and τ = ln x."""

    @abc.abstractmethod
    def mediator_thermalised(
        self, log_mediator_rate_over_h: Array, width_sm: Array, portal: VectorPortal, physics: Physics
    ) -> Array:
        """Whether the mediator reaches equilibrium (bool), from ln(Γ_V/H) on the τ grid and Γ_V→SM [GeV]."""

    @abc.abstractmethod
    def mechanism(
        self, dm_thermalised: Array, mediator_thermalised: Array, x_dec: Array, portal: VectorPortal
    ) -> Array:
        """The :class:`Mechanism` index of a valid point."""

    def uses_trajectory(self, physics: Physics) -> bool:
        """Whether :meth:`assess` reads the solved yields on the table nodes (default: no)."""
        return False

    def assess(
        self,
        status: Array,
        regime: Any,
        indicators: TrajectoryIndicators | None,
        width_dm: Array,
        physics: Physics,
    ) -> Assessment:
        """The model's verdict on a solved point from the solver ``status``, the pre-solve ``regime``
        (:class:`~uvmsm_jax.pipeline.Regime`) and, when :meth:`uses_trajectory`, the solution's
        ``indicators``. Default: the regime's mechanism and flags, the status unchanged."""
        return Assessment(status, regime.mechanism, regime.dm_thermalised, regime.mediator_thermalised)


class UVMSMSpec(ModelSpec):
    """Model 1, the UνMSM (docs/equations.md Part A)."""

    name = "uvmsm"
    aliases = ("b-l", "b_l", "bl", "uνmsm")
    model_class = UVMSM
    title = "UνMSM: Majorana N₁ dark matter with a U(1)_B−L Z′"
    parameters = (
        Parameter("m_n1", "--m-n1", "GeV", "dm_mass", "M_N1", "dark-matter N₁ mass M_N₁ [GeV]"),
        Parameter("m_zp", "--m-zp", "GeV", "mediator_mass", "M_Z'", "B−L gauge boson mass M_Z′ [GeV]"),
        Parameter("g_bl", "--g-bl", "1", "coupling", "g_B-L", "B−L gauge coupling g_B−L"),
    )
    sm_coupling = "g_bl"
    contour_unknown = "g_bl"
    rate_coupling_powers = {
        "annihilation": {"g_bl": 4},
        "mediator_annihilation": {"g_bl": 4},
        "conversion": {"g_bl": 4},
        "decay_sm": {"g_bl": 2},
        "decay_dm": {"g_bl": 2},
    }
    mechanisms = (
        Mechanism.FREEZE_OUT_RELATIVISTIC,
        Mechanism.FREEZE_OUT,
        Mechanism.FREEZE_IN_RESONANT,
        Mechanism.FREEZE_IN,
    )
    conventions = ("physical", "paper")
    current = "b-l"
    dm_kind = "majorana"
    default_t_reheat_help = "100·max(M_N₁, M_Z′)"

    def processes(self, settings: Settings) -> ProcessSwitches:
        """(a), (b), (c) (A.3) and the resonance bookkeeping of A.8.1: "pole" (the narrow-width term in
        ⟨σv⟩_a, no Z′ decays) in paper mode, "decay" (Z′ (inverse) decays) in physical mode, unless set."""
        resonance = settings.resonance
        if resonance == "auto":
            resonance = "pole" if settings.mode == "paper" else "decay"
        decays = resonance == "decay"
        return ProcessSwitches(conversion=settings.include_conversion, decays=decays, pole_in_annihilation=not decays)

    def system(self, settings: Settings) -> bz.SystemSwitches:
        """(A36)–(A37), or (A38) with ``Settings.system = "reduced"``."""
        return bz.SystemSwitches(reduced=settings.system == "reduced", dm_decay_depletes_mediator=True)

    def planck_mass(self, settings: Settings) -> float:
        """P1's 2.4e18 GeV in paper mode, 2.435e18 GeV otherwise (K12)."""
        return c.M_PLANCK_REDUCED_PAPER if settings.mode == "paper" else c.M_PLANCK_REDUCED

    def g_s_equals_g_rho(self, settings: Settings) -> bool:
        """P1 sets g*s = g* (K11): in paper mode."""
        return settings.mode == "paper"

    def default_t_reheat(self, portal: VectorPortal, settings: Settings) -> Array:
        """100·max(M_N₁, M_Z′) (A39, K13)."""
        return 100.0 * jnp.maximum(portal.m_dm, portal.m_v)

    def reference_mass(self, portal: VectorPortal) -> Array:
        """M_N₁ (A36)."""
        return portal.m_dm

    def mediator_thermalised(self, log_mediator_rate_over_h, width_sm, portal, physics):
        """(A33): 2→2 and (while T ≥ M_Z′) inverse-decay rates exceed H at some T."""
        return jnp.max(log_mediator_rate_over_h) > 0

    def mechanism(self, dm_thermalised, mediator_thermalised, x_dec, portal):
        """A.6: freeze-out (relativistic if x_dec < 1) when N₁ thermalised, else freeze-in, resonant
        when M_Z′ > 2M_N₁."""
        freeze_out = jnp.where(x_dec < 1.0, Mechanism.FREEZE_OUT_RELATIVISTIC, Mechanism.FREEZE_OUT)
        freeze_in = jnp.where(portal.m_v > 2.0 * portal.m_dm, Mechanism.FREEZE_IN_RESONANT, Mechanism.FREEZE_IN)
        return jnp.where(dm_thermalised, freeze_out, freeze_in)


Z_ADMIXTURE = 0.05
"""Largest admixture q²/(m_Z² − q²) of the Z current in the dark photon's couplings that (B2) neglects
(docs/equations.md K46)."""
PHOTON_MIXING_MOMENTUM = c.M_Z * math.sqrt(Z_ADMIXTURE / (1.0 + Z_ADMIXTURE))
"""√(q²) [GeV] at which the Z admixture reaches :data:`Z_ADMIXTURE`, 19.9 GeV: the dark photon's
:attr:`ModelSpec.largest_sm_momentum`. The SM width changes there by ≈ 2 %, a down quark's by ≈ 7 % (K46)."""


class DarkPhotonSpec(ModelSpec):
    """Model 2, Dirac χ with a dark photon (docs/equations.md Part B, Part H).

    ``mode="physical"`` (default): every regime of the (ε, e′) plane, the coupled system (H12)–(H13)
    with χχ̄ ↔ SM off the pole (H11), χχ̄ ↔ A′A′ (H6), A′ (inverse) decays with depletion by Γ_tot,
    T_R = 100·max(m_χ, m_A′), labels (H18) and the T′ = T check (H17). ``mode="paper"``: P2's
    sequential freeze-in system (B13)–(B14) as published (decays only, depletion by Γ_vis,
    T_R = 1000·m_A′), for reproducing P2.
    """

    name = "dark-photon"
    aliases = ("dark_photon", "darkphoton", "darkphotondm", "dark-photon-dm", "dp")
    model_class = DarkPhotonDM
    title = "Dirac χ dark matter with a dark photon A′"
    parameters = (
        Parameter("m_chi", "--m-chi", "GeV", "dm_mass", "m_chi", "Dirac DM χ mass m_χ [GeV]"),
        Parameter("m_ap", "--m-ap", "GeV", "mediator_mass", "m_A'", "dark photon mass m_A′ [GeV]"),
        Parameter("epsilon", "--epsilon", "1", "coupling", "epsilon", "kinetic mixing ε"),
        Parameter("e_dark", "--e-dark", "1", "coupling", "e'", "dark gauge coupling e′ (not α′)"),
    )
    sm_coupling = "epsilon"
    contour_unknown = "e_dark"
    largest_sm_coupling = c.E_EM
    """ε = 1: removing the kinetic mixing of (B2) needs |ε| < 1 (positive-definite gauge kinetic terms)."""
    largest_sm_momentum = PHOTON_MIXING_MOMENTUM
    relic_bytes_per_point = 1.8 * 2**20
    """XLA's memory analysis on CPU, blocks of 32 (2026-12-07): 1.75 MB a dark-photon point against
    0.68 MB a UνMSM point, whose 0.69 MB on an H200 it matches (45.2 GB in blocks of 65 536). With the
    UνMSM's size an H200 took blocks of 65 536 dark-photon points, ≈ 115 GB of its 105 GB."""
    rate_coupling_powers = {
        "annihilation": {"epsilon": 2, "e_dark": 2},
        "mediator_annihilation": {"epsilon": 4},
        "conversion": {"e_dark": 4},
        "decay_sm": {"epsilon": 2},
        "decay_dm": {"e_dark": 2},
    }
    mechanisms = (
        Mechanism.FREEZE_OUT,
        Mechanism.PARTIAL_THERMALISATION,
        Mechanism.FREEZE_IN_2TO2,
        Mechanism.THERMAL_MEDIATOR_DECAY,
        Mechanism.SEQUENTIAL_FREEZE_IN,
        Mechanism.MEDIATOR_PAIR_FREEZE_IN,
        Mechanism.SEQUENTIAL_MEDIATOR_PAIR_FREEZE_IN,
    )
    conventions = ("physical", "paper")
    current = "em"
    dm_kind = "dirac"
    default_t_reheat_help = "100·max(m_χ, m_A′); 1000·m_A′ with --mode paper"

    def processes(self, settings: Settings) -> ProcessSwitches:
        """Physical: (a) off the pole, (c), decays ((H12)–(H13); (b) ∝ ε⁴ is dropped, H.2). Paper:
        only the A′ decay terms ((B13)–(B14))."""
        every_regime = settings.mode == "physical"
        return ProcessSwitches(
            annihilation=every_regime,
            mediator_annihilation=False,
            conversion=every_regime and settings.include_conversion,
            decays=True,
            pole_in_annihilation=False,
        )

    def system(self, settings: Settings) -> bz.SystemSwitches:
        """A′ → χχ̄ depletes the A′ (Γ_tot, (H13), K35) unless ``Settings.include_invisible_in_depletion``
        is False; by default on in physical mode and off in paper mode (Γ_vis, B.3)."""
        depletes = settings.include_invisible_in_depletion
        if depletes is None:
            depletes = settings.mode == "physical"
        return bz.SystemSwitches(
            reduced=False, dm_decay_depletes_mediator=depletes, adiabatic_mediator=settings.mode == "physical"
        )

    def planck_mass(self, settings: Settings) -> float:
        """2.435e18 GeV (P2's M_Pl = √(8π) M_P, B.3)."""
        return c.M_PLANCK_REDUCED

    def default_t_reheat(self, portal: VectorPortal, settings: Settings) -> Array:
        """100·max(m_χ, m_A′) (H.2, A39); 1000·m_A′ in paper mode (x_R = 1e-3, B18)."""
        if settings.mode == "paper":
            return 1000.0 * portal.m_v
        return 100.0 * jnp.maximum(portal.m_dm, portal.m_v)

    def reference_mass(self, portal: VectorPortal) -> Array:
        """m_A′ (B13)."""
        return portal.m_v

    def mediator_thermalised(self, log_mediator_rate_over_h, width_sm, portal, physics):
        """(B21): Γ_vis > H(T = m_A′)."""
        g_at_m = degrees_of_freedom(physics.settings.gstar).g_rho(portal.m_v)
        return width_sm > hubble_rate(portal.m_v, g_at_m, physics.planck_mass)

    def mechanism(self, dm_thermalised, mediator_thermalised, x_dec, portal):
        """(B22): decays of a thermal A′ when ε > ε_th, else sequential freeze-in (the pre-solve label;
        physical mode replaces it by (H18) in :meth:`assess`)."""
        return jnp.where(mediator_thermalised, Mechanism.THERMAL_MEDIATOR_DECAY, Mechanism.SEQUENTIAL_FREEZE_IN)

    def uses_trajectory(self, physics: Physics) -> bool:
        """Physical mode decides labels and the T′ = T check from the solution ((H14)–(H18))."""
        return physics.settings.mode == "physical"

    def assess(self, status, regime, indicators, width_dm, physics):
        """Physical mode: the labels of (H18) and the status rule (H17) (:attr:`Status.NEEDS_DARK_TEMPERATURE`).
        Paper mode: (B22), and :attr:`Status.NO_DM_CHANNEL` when A′ → χχ̄ is closed."""
        if indicators is None:
            status = jnp.where((status == Status.OK) & (width_dm <= 0), Status.NO_DM_CHANNEL, status)
            return Assessment(status, regime.mechanism, regime.dm_thermalised, regime.mediator_thermalised)
        i = indicators
        dm_thermal = i.max_dm_saturation >= THERMALISED
        mediator_thermal = i.max_mediator_saturation >= THERMALISED
        decay = jnp.where(mediator_thermal, Mechanism.THERMAL_MEDIATOR_DECAY, Mechanism.SEQUENTIAL_FREEZE_IN)
        pairs = jnp.where(
            mediator_thermal, Mechanism.MEDIATOR_PAIR_FREEZE_IN, Mechanism.SEQUENTIAL_MEDIATOR_PAIR_FREEZE_IN
        )
        largest = jnp.argmax(jnp.stack([i.production_2to2, i.production_decay, i.production_pairs]))
        freeze_in = jnp.stack([jnp.asarray(Mechanism.FREEZE_IN_2TO2), decay, pairs])[largest]
        mechanism = jnp.where(
            dm_thermal,
            Mechanism.FREEZE_OUT,
            jnp.where(i.max_dm_saturation >= PARTIALLY_THERMALISED, Mechanism.PARTIAL_THERMALISATION, freeze_in),
        )
        # (H17). A solve that stopped early (max_steps, failure) is still flagged when its computed part
        # already shows two-way dark reactions faster than H and the portal never reaches H: that
        # verdict cannot change on the missing part (the portal maximum then covers every T).
        dark = (i.max_dark_rate_over_h >= 1.0) & (i.max_portal_rate_over_h < 1.0)
        solved = (status == Status.OK) | (status == Status.MAX_STEPS) | (status == Status.SOLVER_FAILED)
        status = jnp.where(solved & dark, Status.NEEDS_DARK_TEMPERATURE, status)
        return Assessment(status, mechanism, dm_thermal, mediator_thermal)


MODELS: dict[str, ModelSpec] = {}
"""The registry: canonical name → :class:`ModelSpec`."""


def _key(name: str) -> str:
    return name.strip().lower().replace("_", "-")


def register_model(spec: ModelSpec) -> ModelSpec:
    """Add ``spec`` to :data:`MODELS` (its name and aliases must be new). Returns ``spec``."""
    taken = {_key(n) for s in MODELS.values() for n in (s.name, *s.aliases)}
    clash = taken.intersection(_key(n) for n in (spec.name, *spec.aliases))
    if clash:
        raise ValueError(f"model name(s) {sorted(clash)} are already registered")
    if any(s.model_class is spec.model_class for s in MODELS.values()):
        raise ValueError(f"{spec.model_class.__name__} is already registered")
    fields = [f.name for f in dataclasses.fields(spec.model_class)]
    if list(spec.fields) != fields:
        raise ValueError(
            f"parameters {spec.fields} must list the fields of {spec.model_class.__name__} in order {fields}"
        )
    MODELS[spec.name] = spec
    return spec


def model_spec(model: Any) -> ModelSpec:
    """The :class:`ModelSpec` of a name or alias, a model class, a model instance or a spec.

    ``ValueError`` naming the registered models otherwise.
    """
    if isinstance(model, ModelSpec):
        return model
    if isinstance(model, str):
        key = _key(model)
        for spec in MODELS.values():
            if key in {_key(n) for n in (spec.name, *spec.aliases)}:
                return spec
    else:
        for spec in MODELS.values():
            if model is spec.model_class or isinstance(model, spec.model_class):
                return spec
    raise ValueError(f"model must be one of {', '.join(MODELS)} (or its class), got {model!r}")


def validate_model(model) -> None:
    """Raise ``ValueError`` naming the first parameter that is not a positive finite number.

    Only concrete (non-traced) values are checked; inside ``jit``/``vmap`` invalid points are
    reported through the per-point ``status`` of the result instead.
    """
    for field, value in model_spec(model).values(model).items():
        check_positive_finite(field, value)


register_model(UVMSMSpec())
register_model(DarkPhotonSpec())
