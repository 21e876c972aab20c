"""SHiP signal count and reach (docs/equations.md C.1, C.6; eqs. (C1), (C18)–(C20)).

    N_sig(m, c) = N_POT · ε_det · BR_vis · ∫dz dpT² d²n/(dz dpT²) · P_dec(p) · A(θ)            (C1)

for proton bremsstrahlung of the dark photon (coupling c = ε, docs/equations.md B.2) or of the B−L Z′
(c = g_BL, (C11)), plus — optionally — the meson channels through the P2-style rescaling of the
published SHiP curves (:mod:`uvmsm_jax.ship.mesons`). The (z, pT²) integral is a fixed
Gauss–Legendre rule (:func:`uvmsm_jax.ship.brems.pbrem_nodes`), so ``N_sig`` is a smooth JAX
function of the coupling (``jax.grad`` in c, ``vmap`` over masses and couplings). It is evaluated
in log space (ln N via logsumexp), which keeps both the long-lifetime side (N ∝ c⁴) and the
short-lifetime side (N ∝ exp(−L₁/ℓ), far below the float range) finite.

Reach edges: at fixed mass f(u) = ln N(m, eᵘ) − ln N_thr is unimodal in u = ln c. A coarse scan
brackets its maximum, a golden-section search refines it, and the two roots (lower =
long-lifetime edge, upper = short-lifetime edge) are found with ``optimistix.Bisection`` on the
two monotone branches. Bisection rather than Newton: the upper branch falls like −exp(2u), so
Newton steps from the far side overshoot by many e-folds, while each branch is known to be
monotone, so a bracket exists and bisection always converges (≈ 40 steps to |Δu| < 1e-7).
optimistix's implicit adjoint makes the edges differentiable with respect to the array fields of
the setup, e.g. ∂ln c_lower/∂ln N_POT = −1/4 (C20).

Defaults and their calibration (documented deviation from docs/equations.md C8/K22): the Pbrem pT range
is ``"wide"`` — pT limited by the angular acceptance of the decay volume (as in FairShip, which
integrates the polar angle up to π/2) instead of pT ≤ 1 GeV. With it the lower edge reproduces the
published SHiP 2020 curves (E.3, DarkCast ``SHiP_Ahdida2020new_brem_*``) within a factor
1.02–1.11 (VMD) and 0.99–1.11 (dipole) on their mass grid at 0.1–2 GeV, for the ECN3 and the
BDF-2020 layouts alike; with ``"bb"`` (pT ≤ 1 GeV) it is 1.23–1.63 (VMD) / 1.23–1.90 (dipole) above
them and the dipole reach closes before 2 GeV. The upper edge is 1.25–1.35× the published one with
ECN3 (shorter shield) and 1.0–1.1× with ``geometry="bdf2020"``. ``efficiency`` (ε_det) stays 1:
no tuning was needed.
"""

from __future__ import annotations

import functools
import os
from typing import TYPE_CHECKING, Literal

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import ArrayLike

from .. import constants as c
from .._export import call_compiled
from .._lazy import LazyModule
from .._programs import filter_jit, jit
from .._validation import is_concrete
from ..hadrons import sm_width_unit
from ..models import model_spec
from ..settings import Settings
from . import brems, mesons
from . import geometry as geo

if TYPE_CHECKING:
    import optimistix as optx
else:  # imported on first use (docs/relic.md, "Compilation")
    optx = LazyModule("optimistix")

Production = Literal["brems", "mesons", "all"]
PRODUCTIONS = ("brems", "mesons", "all")

N_POT_5_YEARS = 2e20
"""Protons on target in 5 years (SHiP 2020, P2 "5-year"; docs/equations.md (C19))."""
N_POT_15_YEARS = 6e20
"""Protons on target in 15 years at ECN3 (P2 "15-year"; (C19))."""
N_THRESHOLD_90CL = 2.3
"""Signal events for 90 % CL exclusion with zero background ((C18); P1 uses 3)."""
COUPLING_SCAN = (1e-14, 1.0)
"""Coupling interval (ε or g_BL) in which the reach edges are searched."""


def _as_array(x: ArrayLike) -> jax.Array:
    """Array fields are JAX float64 arrays, so changing them never triggers a recompilation."""
    return jnp.asarray(x, dtype=jnp.float64)


def canonical_model(model) -> str:
    """The registry name of ``model`` (any alias of :data:`uvmsm_jax.models.MODELS`, e.g. ``"b-l"`` =
    the uvmsm Z′); ``ValueError`` naming the registered models otherwise."""
    return model_spec(model).name


class ShipSetup(eqx.Module):
    """Everything that defines a SHiP sensitivity calculation (docs/equations.md Part C, N.6).

    Static switches:
      model: a registered model name, e.g. "dark-photon" (coupling ε) or "uvmsm" (B−L Z′, coupling
        g_BL); its mediator current (``ModelSpec.current``) selects the physics.
      production: "brems" (computed Pbrem, (C3)–(C11)), "mesons" (rescaled published SHiP meson
        curves, :mod:`~uvmsm_jax.ship.mesons`) or "all" (event counts of both added).
      form_factor: "vmd" (C9; isoscalar (C11) for B−L), "dipole" (C10) or "none".
      geometry: a :class:`~uvmsm_jax.ship.geometry.DecayVolume` (default ECN3, (C15)); Pbrem only.
      visible: final states in BR_vis (C17): "charged" (e, μ, τ, f_ch·hadrons) or "dileptons"
        (e, μ). ``None`` → "charged" for the dark photon, "dileptons" for B−L (P1).
      pbrem_ranges: "wide" (default: z ∈ [0.1, 0.9], pT up to the acceptance) or "bb"
        (pT ≤ 1 GeV, docs/equations.md C8); K22. third_term: (C4) bracket, "fairship" or "bdnmc" (K21).
      e_beam: proton energy [GeV]; n_z, n_pt: Gauss–Legendre nodes in z and in ln(pT² + H₀).
      settings: :class:`~uvmsm_jax.settings.Settings` for the hadronic width (mode, √s switch).
    Differentiable (array) fields:
      n_pot: protons on target (C19); n_threshold: N_thr (C18); efficiency: global
        ε_det × daughter-track acceptance (C16, default 1); f_charged: fraction of the hadronic
        width with ≥ 2 charged tracks (C17, default 1).
    """

    model: str = eqx.field(static=True, default="dark-photon")
    production: Production = eqx.field(static=True, default="brems")
    form_factor: brems.FormFactorKind = eqx.field(static=True, default="vmd")
    geometry: geo.DecayVolume = eqx.field(static=True, default=geo.GEOMETRIES["ecn3"])
    visible: Literal["charged", "dileptons"] | None = eqx.field(static=True, default=None)
    pbrem_ranges: str = eqx.field(static=True, default="wide")
    third_term: brems.ThirdTerm = eqx.field(static=True, default="fairship")
    e_beam: float = eqx.field(static=True, default=brems.BEAM_ENERGY_SPS)
    n_z: int = eqx.field(static=True, default=64)
    n_pt: int = eqx.field(static=True, default=64)
    settings: Settings = Settings()
    n_pot: jax.Array = eqx.field(default=N_POT_5_YEARS, converter=_as_array)
    n_threshold: jax.Array = eqx.field(default=N_THRESHOLD_90CL, converter=_as_array)
    efficiency: jax.Array = eqx.field(default=1.0, converter=_as_array)
    f_charged: jax.Array = eqx.field(default=1.0, converter=_as_array)

    def __check_init__(self):
        canonical_model(self.model)
        if self.production not in PRODUCTIONS:
            raise ValueError(f"production must be 'brems', 'mesons' or 'all', got {self.production!r}")
        if self.form_factor not in ("vmd", "dipole", "none"):
            raise ValueError(f"form_factor must be 'vmd', 'dipole' or 'none', got {self.form_factor!r}")
        if self.visible not in (None, "charged", "dileptons"):
            raise ValueError(f"visible must be 'charged' or 'dileptons', got {self.visible!r}")
        if self.third_term not in ("fairship", "bdnmc"):
            raise ValueError(f"third_term must be 'fairship' or 'bdnmc', got {self.third_term!r}")
        brems.PbremRanges.get(self.pbrem_ranges)

    @property
    def current(self) -> brems.Current:
        """The mediator's SM current: "em" for the dark photon, "b-l" for the Z′."""
        return model_spec(self.model).current

    @property
    def visible_channels(self) -> str:
        """Final states counted in BR_vis (C17)."""
        if self.visible is not None:
            return self.visible
        return "charged" if self.current == "em" else "dileptons"

    @property
    def uses_brems(self) -> bool:
        return self.production in ("brems", "all")

    @property
    def uses_mesons(self) -> bool:
        return self.production in ("mesons", "all")


def alpha_coupling(coupling, model: str):
    """Coupling in the splitting function (C4)/(C11): ε²α (dark photon) or g²/(4π) (B−L)."""
    if model_spec(model).current == "em":
        return coupling**2 * c.ALPHA_EM
    return coupling**2 / (4.0 * jnp.pi)


def _visible_unit_width(unit, channels: str, f_charged):
    if channels == "charged":
        return unit.e + unit.mu + unit.tau + f_charged * unit.hadrons
    return unit.e + unit.mu


def unit_widths(mass, setup: ShipSetup):
    """(Γ_tot, Γ_vis) per unit coupling² [GeV] of the mediator of mass ``mass`` [GeV].

    Γ = c² × value with c = ε (Γ ∝ ε²e², docs/equations.md (B3)–(B6)) or g_BL ((A8)–(A12)), built from
    :func:`uvmsm_jax.hadrons.sm_width_unit`. The DM channel is closed: the SHiP curves assume
    visible decays and P1 ignores Z′ → N₁N₁ (K26). Γ_vis follows (C17) for ``setup.visible_channels``.
    """
    unit = sm_width_unit(mass, setup.current, setup.settings)
    scale = c.E_EM**2 if setup.current == "em" else 1.0
    return scale * unit.total, scale * _visible_unit_width(unit, setup.visible_channels, setup.f_charged)


class SignalKernel(eqx.Module):
    """Coupling-independent pieces of N_sig at a mass (or a batch of masses).

    Pbrem: ``log_norm`` = ln(N_POT ε_det BR_vis); ``weight`` = quadrature weight × d²n/(dz dpT²)
    per unit coupling-α × acceptance; ``inv_length_unit`` = 1/ℓ per unit c² [m⁻¹] per node.
    Mesons: ``meson_log_amp``, ``meson_log_kappa`` per channel (last axis), already recast to the
    model and scaled to N_POT and ε_det. ``log_threshold`` = ln N_thr.
    """

    log_norm: jax.Array
    weight: jax.Array
    inv_length_unit: jax.Array
    meson_log_amp: jax.Array
    meson_log_kappa: jax.Array
    log_threshold: jax.Array


def signal_kernel(mass, setup: ShipSetup) -> SignalKernel:
    """Precompute the coupling-independent part of (C1) at ``mass`` [GeV] (any shape)."""
    mass = jnp.asarray(mass, dtype=jnp.float64)
    width_total, width_visible = unit_widths(mass, setup)
    log_scale = jnp.log(setup.n_pot) + jnp.log(setup.efficiency)
    empty = jnp.zeros(mass.shape + (0,))
    weight = inv_length_unit = empty
    if setup.uses_brems:
        volume = setup.geometry
        z, pt2, w = brems.pbrem_nodes(
            mass,
            ranges=setup.pbrem_ranges,
            max_angle=volume.max_angle,
            n_z=setup.n_z,
            n_pt=setup.n_pt,
            e_beam=setup.e_beam,
        )
        m = mass[..., None]
        dn = brems.pbrem_differential_yield(
            z,
            pt2,
            m,
            1.0,
            form_factor=setup.form_factor,
            current=setup.current,
            e_beam=setup.e_beam,
            third_term=setup.third_term,
        )
        p_long = z * brems.beam_momentum(setup.e_beam)
        momentum = jnp.sqrt(p_long**2 + pt2)
        theta = jnp.arctan2(jnp.sqrt(pt2), p_long)
        weight = w * dn * geo.angular_acceptance(theta, volume)
        inv_length_unit = geo.inverse_decay_length(momentum, m, width_total[..., None])
    meson_amp = meson_kappa = empty
    if setup.uses_mesons:
        meson_amp, meson_kappa = _meson_parameters(mass, setup, width_total, width_visible)
    return SignalKernel(
        log_norm=log_scale + jnp.log(width_visible) - jnp.log(width_total),
        weight=weight,
        inv_length_unit=inv_length_unit,
        meson_log_amp=meson_amp,
        meson_log_kappa=meson_kappa,
        log_threshold=jnp.log(jnp.asarray(setup.n_threshold, dtype=jnp.float64)),
    )


def _meson_parameters(mass, setup: ShipSetup, width_total, width_visible):
    """Per-channel (ln A, ln κ) of the rescaled SHiP meson reach for this model and setup."""
    log_scale = jnp.log(setup.n_pot / mesons.PUBLISHED_N_POT) + jnp.log(setup.efficiency)
    if setup.current == "em":
        return mesons.meson_channel_parameters(mass, log_scale=log_scale)
    unit_em = sm_width_unit(mass, "em", setup.settings)
    br_dark_photon = _visible_unit_width(unit_em, "charged", 1.0) / unit_em.total
    return mesons.meson_channel_parameters(
        mass,
        current="b-l",
        log_scale=log_scale,
        width_ratio=width_total / (c.E_EM**2 * unit_em.total),
        br_ratio=(width_visible / width_total) / br_dark_photon,
    )


def log_events_from_kernel(kernel: SignalKernel, log_coupling, setup: ShipSetup):
    """ln N_sig at u = ln c for a precomputed kernel (kernel batch shape × couplings broadcast)."""
    u = jnp.asarray(log_coupling, dtype=jnp.float64)
    terms = []
    if setup.uses_brems:
        inv_length = jnp.exp(2.0 * u)[..., None] * kernel.inv_length_unit
        log_p = geo.log_decay_probability(inv_length, setup.geometry)
        log_integral = jax.nn.logsumexp(log_p, axis=-1, b=kernel.weight)
        terms.append(kernel.log_norm + jnp.log(alpha_coupling(jnp.exp(u), setup.model)) + log_integral)
    if setup.uses_mesons:
        terms.append(mesons.meson_log_events(kernel.meson_log_amp, kernel.meson_log_kappa, u))
    if len(terms) == 1:
        return terms[0]
    return jnp.logaddexp(*terms)


@filter_jit
def log_signal_events(mass, coupling, setup: ShipSetup | None = None):
    """ln N_sig(m, c) of (C1); ``mass`` [GeV] and ``coupling`` (ε or g_BL) broadcast together;
    ``setup`` None is the default :class:`ShipSetup`.

    Smooth in the coupling (``jax.grad`` works, also inside ``vmap``/``jit``).
    """
    setup = ShipSetup() if setup is None else setup
    mass, coupling = jnp.broadcast_arrays(
        jnp.asarray(mass, dtype=jnp.float64), jnp.asarray(coupling, dtype=jnp.float64)
    )
    return log_events_from_kernel(signal_kernel(mass, setup), jnp.log(coupling), setup)


def signal_events(mass, coupling, setup: ShipSetup | None = None):
    """N_sig(m, c) of (C1): expected signal events (see :func:`log_signal_events`)."""
    return jnp.exp(log_signal_events(mass, coupling, setup))


# --- edges -------------------------------------------------------------------------------------


def _golden_max(fn, lo, hi, n_iter=40):
    """Maximum of a unimodal ``fn`` on [lo, hi] by golden-section search (fixed iterations, one
    new evaluation per iteration; the bracket shrinks by 0.618ⁿ)."""
    ratio = 0.5 * (np.sqrt(5.0) - 1.0)
    x1, x2 = hi - ratio * (hi - lo), lo + ratio * (hi - lo)

    def body(_, state):
        a, b, x1, x2, f1, f2 = state
        left = f1 >= f2  # maximum in [a, x2]
        a, b = jnp.where(left, a, x1), jnp.where(left, x2, b)
        new_x = jnp.where(left, b - ratio * (b - a), a + ratio * (b - a))
        f_new = fn(new_x)
        x1, x2 = jnp.where(left, new_x, x2), jnp.where(left, x1, new_x)
        f1, f2 = jnp.where(left, f_new, f2), jnp.where(left, f1, f_new)
        return a, b, x1, x2, f1, f2

    a, b, *_ = jax.lax.fori_loop(0, n_iter, body, (lo, hi, x1, x2, fn(x1), fn(x2)))
    x = 0.5 * (a + b)
    return x, fn(x)


def _edges_one_mass(mass, setup: ShipSetup, n_grid: int, coupling_scan):
    kernel = signal_kernel(mass, setup)

    def objective(u, kern):
        return log_events_from_kernel(kern, u, setup) - kern.log_threshold

    u_min, u_max = (float(np.log(x)) for x in coupling_scan)
    grid = jnp.linspace(u_min, u_max, n_grid)
    values = jax.vmap(lambda u: objective(u, kernel))(grid)
    k = jnp.argmax(values)
    lo = grid[jnp.maximum(k - 1, 0)]
    hi = grid[jnp.minimum(k + 1, n_grid - 1)]
    u_peak, f_peak = _golden_max(lambda u: objective(u, kernel), lo, hi)
    u_peak = jax.lax.stop_gradient(u_peak)

    def edge(start, lower, upper, flip):
        """The root of the objective in [lower, upper] by bisection (``flip``: the objective falls there)."""
        solver = optx.Bisection(rtol=0.0, atol=1e-7, flip=flip)
        options = {"lower": lower, "upper": upper}
        return optx.root_find(objective, solver, start, args=kernel, options=options, throw=False, max_steps=256).value

    lower = edge(0.5 * (u_min + u_peak), u_min, u_peak, flip=False)
    upper = edge(0.5 * (u_peak + u_max), u_peak, u_max, flip=True)
    has_reach = f_peak > 0.0
    lower_ok = has_reach & (values[0] < 0.0)
    upper_ok = has_reach & (values[-1] < 0.0)
    return (
        jnp.where(lower_ok, jnp.exp(lower), jnp.nan),
        jnp.where(upper_ok, jnp.exp(upper), jnp.nan),
        jnp.exp(u_peak),
        f_peak + kernel.log_threshold,
    )


def _array_fields(setup: ShipSetup) -> tuple:
    """The differentiable (array) fields of a :class:`ShipSetup`, in declaration order."""
    return setup.n_pot, setup.n_threshold, setup.efficiency, setup.f_charged


@functools.partial(jit, static_argnames=("layout", "n_grid", "coupling_scan"))
def _edges_batch(masses, *arrays, layout: ShipSetup, n_grid: int, coupling_scan: tuple):
    """The edges at each of ``masses`` under the setup ``layout`` (its static fields) with the
    :func:`_array_fields` values ``arrays``."""
    setup = eqx.tree_at(_array_fields, layout, arrays, is_leaf=lambda x: x is None)
    return jax.vmap(lambda m: _edges_one_mass(m, setup, n_grid, coupling_scan))(masses)


def reach_edges(
    masses,
    setup: ShipSetup | None = None,
    *,
    n_grid: int = 64,
    coupling_scan=COUPLING_SCAN,
    export_cache: str | os.PathLike | None = None,
):
    """Edges of the reach, N_sig = N_thr (C18), at each mass [GeV], under ``setup`` (None: the
    default :class:`ShipSetup`).

    Returns a dict of arrays shaped like ``masses``: ``lower`` (long-lifetime edge) and ``upper``
    (short-lifetime edge) in ε or g_BL — NaN where N_sig < N_thr for every coupling in
    ``coupling_scan`` or where an edge lies outside it — plus ``peak_coupling`` and
    ``peak_log_events`` (the largest ln N_sig and where it is reached). Vectorised over masses
    (vmap) and jit-compiled (one compilation per array shape and setup); differentiable with
    respect to the array fields of ``setup`` (implicit function theorem, optimistix).

    ``export_cache``: a folder in which the compiled computation is kept, as in
    :func:`uvmsm_jax.relic`: a later call with concrete input loads it instead of tracing
    (docs/relic.md, "Compilation"). Ignored for traced input.
    """
    setup = ShipSetup() if setup is None else setup
    masses = jnp.asarray(masses, dtype=jnp.float64)
    arrays = _array_fields(setup)
    layout = eqx.tree_at(_array_fields, setup, (None,) * len(arrays))
    static = {"layout": layout, "n_grid": int(n_grid), "coupling_scan": tuple(coupling_scan)}
    flat = masses.reshape(-1)
    if export_cache is not None and is_concrete((flat, arrays)):
        lower, upper, peak, log_peak = call_compiled(export_cache, _edges_batch, flat, *arrays, **static)
    else:
        lower, upper, peak, log_peak = _edges_batch(flat, *arrays, **static)
    shape = masses.shape
    return {
        "lower": lower.reshape(shape),
        "upper": upper.reshape(shape),
        "peak_coupling": peak.reshape(shape),
        "peak_log_events": log_peak.reshape(shape),
    }


# --- convenience entry point (CLI) ---------------------------------------------------------------


def ship_setup(
    model_kind: str = "dark-photon",
    *,
    pot: float = N_POT_5_YEARS,
    form_factor: brems.FormFactorKind = "vmd",
    production: Production = "brems",
    n_thr: float = N_THRESHOLD_90CL,
    geometry: str | geo.DecayVolume = "ecn3",
    efficiency: float = 1.0,
    **kwargs,
) -> ShipSetup:
    """A :class:`ShipSetup` from CLI-style options (see :func:`ship_reach`); ``kwargs`` → fields."""
    return ShipSetup(
        model=canonical_model(model_kind),
        production=production,
        form_factor=form_factor,
        geometry=geo.get_geometry(geometry),
        n_pot=_as_array(float(pot)),
        n_threshold=_as_array(float(n_thr)),
        efficiency=_as_array(float(efficiency)),
        **kwargs,
    )


def _check_masses(masses) -> np.ndarray:
    values = np.atleast_1d(np.asarray(masses, dtype=float))
    if values.ndim != 1 or values.size == 0:
        raise ValueError("masses must be a non-empty 1-d list of masses in GeV")
    bad = ~(np.isfinite(values) & (values > 0))
    if np.any(bad):
        raise ValueError(f"masses must be positive finite numbers, got {values[bad][0]!r}")
    return values


def ship_reach(
    model_kind: str,
    masses,
    pot: float = N_POT_5_YEARS,
    form_factor: brems.FormFactorKind = "vmd",
    production: Production = "brems",
    n_thr: float = N_THRESHOLD_90CL,
    geometry: str = "ecn3",
    efficiency: float = 1.0,
    export_cache: str | os.PathLike | None = None,
    **options,
) -> dict:
    """SHiP reach in the coupling at each mass — the ``uvmsm-jax ship`` entry point.

    Arguments: ``model_kind`` a registered model: "dark-photon" (coupling ε) or "uvmsm" (B−L Z′,
    coupling g_BL);
    ``masses`` [GeV]; ``pot`` = N_POT (2e20 = 5 years, 6e20 = 15 years); ``form_factor`` "vmd" |
    "dipole" (Pbrem); ``production`` "brems" | "mesons" | "all"; ``n_thr`` (2.3 = 90 % CL; P1 uses
    3); ``geometry`` "ecn3" | "bdf2020" | "p1"; ``efficiency`` = global ε_det; further
    :class:`ShipSetup` fields in ``options`` (e.g. ``pbrem_ranges``, ``visible``, ``settings``);
    ``export_cache`` as in :func:`reach_edges`.

    Returns ``{"mass": [...], "lower": [...], "upper": [...], "settings": {...}}`` with plain
    Python floats and ``None`` where there is no reach.
    """
    values = _check_masses(masses)
    for name, value in (("pot", pot), ("n_thr", n_thr), ("efficiency", efficiency)):
        if not (np.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    setup = ship_setup(
        model_kind,
        pot=pot,
        form_factor=form_factor,
        production=production,
        n_thr=n_thr,
        geometry=geometry,
        efficiency=efficiency,
        **options,
    )
    edges = reach_edges(values, setup, export_cache=export_cache)

    def plain(array):
        return [float(x) if np.isfinite(x) else None for x in np.asarray(array)]

    settings = {
        "model": setup.model,
        "coupling": model_spec(setup.model).sm_coupling,
        "pot": float(pot),
        "form_factor": form_factor,
        "production": production,
        "n_thr": float(n_thr),
        "geometry": setup.geometry.name,
        "efficiency": float(efficiency),
        "visible": setup.visible_channels,
        "pbrem_ranges": setup.pbrem_ranges,
        "third_term": setup.third_term,
        "e_beam_gev": setup.e_beam,
        "mode": setup.settings.mode,
        "mesons": (
            "rescaled SHiP 2020 curves (arXiv:2011.05115 via DarkCast), no spectra" if setup.uses_mesons else None
        ),
    }
    return {
        "mass": [float(m) for m in values],
        "lower": plain(edges["lower"]),
        "upper": plain(edges["upper"]),
        "settings": settings,
    }
