"""The figures of P1 (arXiv:1606.09317, Figs. 1a–3b) and P2 (arXiv:2512.05380, Figs. 1 and 3),
recomputed with this package's solvers (docs/equations.md A.10, B.7, Part F).

Every function ``NAME(ax=None, resolution=..., mode="paper", ...)`` returns a
:class:`matplotlib.figure.Figure` (drawn into ``ax`` when given, otherwise a new figure that is
not registered with pyplot, so the module works with the Agg backend and in notebooks alike):

========== =====================================================================================
``fig1a``  M_N₁ = 10 keV, plane (M_Z′, g): regimes of (A31)–(A33) — non-thermal (deep blue),
           relativistic (light yellow) and non-relativistic (light green) decoupling — and the
           Ωh² = 0.12 curves.
``fig1b``  the same plane with the constraints of docs/equations.md F.1: overclosure (gray), BBN (A35 +
           P1's thermalisation-time criterion, dark blue), LEP, BaBar, beam dumps, Borexino, NuTeV,
           SHiP reach (proton bremsstrahlung, ≥ 3 events, 60 m + 50 m).
``fig2a``  M_N₁ = M_Z′; ``fig2b`` M_N₁ = 100 M_Z′: Ωh² > 0.12 (gray), Ωh² = 0.12 (blue), the
           N₁ thermalisation boundary (dashed), BBN and laboratory limits.
``fig3a``  resonant freeze-in (M_Z′ > 2M_N₁) Ωh² = 0.12 curves for M_N₁ = 10 keV … 10 MeV (blue
           band) with the SHiP reach and limits.
``fig3b``  off-resonance freeze-in band, M_N₁ from ≈ M_Z′/2 (``ratios[0]``) to M_N₁ ≫ M_Z′
           (``ratios[1]``), with the SHiP reach (E1.18: SHiP covers it for 1 MeV ≲ M_Z′ ≲ 200 MeV).
``p2_fig1`` Model 2: Ωh² = 0.12 contours in (m_A′, ε) for e′/ε = 0.1, 0.01, 0.001 and
           m_χ/m_A′ = 0.1, 0.4 (stand-ins for P2's lost values, docs/equations.md K20) with ε_th (B21).
``p2_fig3`` Model 2: (m_A′, ε) plane — sequential-freeze-in band ε_DM ≤ ε < ε_th (B21, B23), SHiP
           reach for 6×10²⁰ POT (Pbrem VMD and dipole, mesons), existing bounds (gray).
``dp_regimes`` Model 2 in every regime: the (e′, ε) plane at fixed (m_χ, m_A′) coloured by the
           (H18) label, the points that need a dark temperature (H17) hatched, Ωh² = 0.12.
``dp_thermal_target`` Model 2: (m_χ, y = ε²α′(m_χ/m_A′)⁴) at m_A′ = 3m_χ, α′ = 0.5 — the
           freeze-out Ωh² = 0.12 line and the CMB-excluded region (H20)–(H21).
``fig1a_wdm`` Fig. 1a (``fig1a(wdm=True)``) with the Lyman-α verdict (docs/equations.md Part W, (W21))
           along the physical-mode Ωh² = 0.12 freeze-in line: excluded / marginal / allowed segments.
``wdm_line`` m_WDM^eq (W21) along the resonant freeze-in line Ωh² = 0.12 versus M_Z′ for a few M_N₁,
           with the Lyman-α bounds of W.3.
========== =====================================================================================

How the curves are computed. Ωh² is evaluated with :func:`uvmsm_jax.relic` on a log-spaced
(mass, coupling) grid through :func:`uvmsm_jax.evaluate` (one compiled, padded chunk
function per model and settings, shared by all figures); the Ωh² = 0.12 curves are the zero
level of ln(Ωh²/0.12) contoured in (log mass, log coupling) with contourpy, which is accurate
even on coarse grids because freeze-in Ωh² is a power of the coupling. Coloured regimes and the
BBN region come from the rate/H classification without the ODE (the machinery of
:func:`uvmsm_jax.thermalisation`) on a grid 2× (Fig. 1a) or 1.5× (Figs. 1b, 2) as fine. Laboratory limits are the packaged
curves of :mod:`uvmsm_jax.limits`; SHiP reaches come from :func:`uvmsm_jax.ship.ship_reach`;
ε_th and ε_DM from :func:`uvmsm_jax.epsilon_threshold` and :func:`uvmsm_jax.epsilon_dm` (with e′
for Ωh² = 0.12 read off a relic grid). Nothing is drawn from closed-form relic formulas.

``resolution`` = grid points per axis of the relic grid (the regime maps use ``regime_factor``×). ``mode``:
``"paper"`` (P1 as printed, docs/equations.md A.0), ``"physical"``, or ``"both"`` (regions in paper
mode, the Ωh² = 0.12 curves of both modes: solid paper, dashed physical). The Model-2 figures
ignore ``mode``: the P2 figures always use P2's system (``mode="paper"``), the ``dp_*`` figures the
all-regime system (``mode="physical"``, docs/equations.md Part H). The momentum distributions of the
Lyman-α figures are always computed in ``mode="physical"`` (the f of the out-of-equilibrium Z′ needs
its decays; P1's paper mode has none, K50), on the coarser quadrature grid
:data:`FIGURE_MOMENTUM_GRID`. By default the rate tables use ``n_grid=64`` nodes
(:data:`FIGURE_N_GRID`; Ωh² of 200 random UνMSM points within 7.6e-5 of 1024 nodes, median 1.8e-8,
3.5e-4 for the dark photon; the default is 96); pass ``settings=`` to change any solver switch.

The numbers behind each figure are attached as ``fig.figure_data`` (a dict: axes, grids,
curve vertices, band edges) for tests and re-plotting. ``uvmsm-jax figure NAME --out FILE``
(PNG or PDF by extension) is the command-line entry point (:mod:`uvmsm_jax.cli.figure`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from ._validation import check_positive_finite
from .codes import MECHANISMS, Mechanism, Status

if TYPE_CHECKING:
    import contourpy._contourpy as cpy

__all__ = [
    "FIGURES",
    "DEFAULT_RESOLUTION",
    "BAND_COUPLINGS_PER_MASS",
    "fig1a",
    "fig1b",
    "fig2a",
    "fig2b",
    "fig3a",
    "fig3b",
    "p2_fig1",
    "p2_fig3",
    "dp_regimes",
    "dp_thermal_target",
    "fig1a_wdm",
    "wdm_line",
    "regime_labels",
    "figure_settings",
    "lyman_alpha_settings",
    "make_figure",
]

OMEGA_TARGET = 0.12
FIGURE_N_GRID = 64
"""Rate-table nodes used by the figures unless ``settings`` says otherwise (Settings default 96)."""
MODES = ("paper", "physical", "both")
DEFAULT_RESOLUTION = {
    "fig1a": 128,
    "fig1b": 128,
    "fig2a": 128,
    "fig2b": 128,
    "fig3a": 128,
    "fig3b": 128,
    "p2_fig1": 128,
    "p2_fig3": 128,
    "dp_regimes": 128,
    "dp_thermal_target": 128,
    "fig1a_wdm": 128,
    "wdm_line": 128,
}
"""Default relic-grid points per axis of each figure. The P1 figures take 40–60 s each at 128 on 2
CPU cores (docs/figures.md, "Run time"), the dark photon's all-regime maps 43–44 s at 128 (physical-mode
ODE points, ~10× dearer), P2's Fig. 1 57–58 s and Fig. 3 21 s at 128, and the Lyman-α
figures (a momentum distribution for each point of their lines) fig1a-wdm 52–55 s at 128 (with
the rate tables' programs compiled for 512-bit vectors, 2026-12-06; 54–57 s since the collocation's
check grid took one sweep and the stages compiled ahead, 2026-12-05; 58–63 s before, when its
default was 64) and wdm-line 48–50 s at 128."""
BAND_COUPLINGS_PER_MASS = 4
"""The freeze-in bands of P1 Figs. 3a/3b scan ``resolution // BAND_COUPLINGS_PER_MASS`` couplings per
mass: freeze-in Ωh² is a power of g, so the log–log crossing is exact but for curvature. Against 127
couplings the crossing moved ≤ 3.3e-6 (Fig. 3a, 32 couplings over 6 decades) and ≤ 2.2e-7
(Fig. 3b, 33 over 5)."""

# colours (P1 Fig. 1 conventions, docs/equations.md A.10)
C_NONTHERMAL = "#1c2f8a"
C_RELATIVISTIC = "#fff4a8"
C_NONREL = "#bfe6b5"
C_OMEGA = "#1f8fff"
C_OVERCLOSED = "#9a9a9a"
C_BBN = "#0b1f5c"
C_SHIP = "black"

B_MINUS_L_LIMITS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("LEP", "#8c510a", ("darkcast/LEP_Fox2011fx", "lep-contact")),
    ("BaBar", "#7b3294", ("darkcast/BaBar_Lees2014xha",)),
    (
        "beam dumps (E137, E141, E774, Orsay, ν-Cal I)",
        "#f28e2b",
        (
            "darkcast/E137_Andreas2012mt",
            "darkcast/E141_Riordan1987aw",
            "darkcast/E774_Bross1989mp",
            "darkcast/Orsay_Davier1989wz",
            "darkcast/NuCAL_Blumlein1991xh",
            "darkcast/NuCAL_Blumlein1990ay",
        ),
    ),
    ("Borexino", "#3b3b3b", ("foresee/bounds_Borexino",)),
    ("NuTeV", "#d9c84a", ("nutev",)),
)
"""(label, colour, limit names) of the P1 Fig. 1b laboratory constraints (docs/equations.md F.1) that
are packaged; HB stars and SN1987A for the B−L boson are not (they are omitted)."""

DARK_PHOTON_LIMITS: tuple[str, ...] = (
    "darkcast/BaBar_Lees2014xha",
    "darkcast/NA64_NA642019imj",
    "darkcast/NA64_Banerjee2019hmi",
    "darkcast/LHCb_Aaij2019bvg_prompt",
    "darkcast/LHCb_Aaij2019bvg_displaced",
    "darkcast/E137_Andreas2012mt",
    "darkcast/CHARM_Bergsma1985qz",
    "darkcast/NuCAL_Blumlein1991xh",
    "darkcast/NuCAL_Blumlein1990ay",
    "darkcast/E141_Riordan1987aw",
    "darkcast/E774_Bross1989mp",
    "darkcast/Orsay_Davier1989wz",
    "darkcast/KLOE_Anastasi2018azp_combined",
    "darkcast/A1_Merkel2014avp",
    "darkcast/NA48_Batley2015lha",
    "darkcast/PS191_Bernardi1985ny",
    "darkcast/CMS_CMS2019kiy",
    "darkmatterlive/SN1987A",
)
"""Existing dark-photon bounds drawn in gray on P2 Fig. 3 (docs/equations.md F.2)."""


# ---------------------------------------------------------------------------------------------
# Settings and cached grid evaluations
# ---------------------------------------------------------------------------------------------


def figure_settings(mode: str = "paper", settings=None):
    """The :class:`~uvmsm_jax.Settings` a figure uses: ``settings`` (default ``Settings(n_grid=64)``)
    with ``mode`` applied."""
    from .settings import Settings

    if mode not in ("paper", "physical"):
        raise ValueError(f"mode must be 'paper' or 'physical', got {mode!r}")
    base = Settings(n_grid=FIGURE_N_GRID) if settings is None else settings
    return dataclasses.replace(base, mode=mode)


def _check_common(resolution: int, mode: str) -> tuple[int, tuple[str, ...]]:
    try:
        resolution = int(resolution)
    except (TypeError, ValueError):
        raise ValueError(f"resolution must be an integer ≥ 4, got {resolution!r}") from None
    if resolution < 4:
        raise ValueError(f"resolution must be an integer ≥ 4, got {resolution}")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    modes = ("paper", "physical") if mode == "both" else (mode,)
    return resolution, modes


_CACHE: dict[str, Any] = {}
_CACHE_SIZE = 64


def _key(*parts) -> str:
    h = hashlib.sha1()
    for part in parts:
        if isinstance(part, np.ndarray):
            h.update(str(part.shape).encode())
            h.update(np.ascontiguousarray(part, dtype=np.float64).tobytes())
        elif isinstance(part, Mapping):
            for k in sorted(part):
                h.update(k.encode())
                h.update(_key(np.asarray(part[k], dtype=float)).encode())
        else:
            h.update(repr(part).encode())
    return h.hexdigest()


def _memo(key: str, compute: Callable[[], Any]) -> Any:
    if key not in _CACHE:
        if len(_CACHE) >= _CACHE_SIZE:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = compute()
    return _CACHE[key]


def clear_cache() -> None:
    """Forget the memoised grid evaluations (they are reused between figures of one process)."""
    _CACHE.clear()


def _settings_key(settings) -> str:
    from ._scan import settings_dict

    return repr(sorted(settings_dict(settings).items()))


def relic_grid(model: str, params: Mapping[str, Any], settings, chunk: int | None = None) -> dict[str, np.ndarray]:
    """:func:`uvmsm_jax.evaluate` on broadcastable ``params`` in chunks of ``chunk`` points (default
    the scan's; memoised in this process)."""
    from ._scan import evaluate

    params = {k: np.asarray(v, dtype=float) for k, v in params.items()}
    return _memo(
        _key("relic", model, _settings_key(settings), chunk, params), lambda: evaluate(model, params, settings, chunk)
    )


def _line_relic(params: Mapping[str, Any], settings) -> dict[str, np.ndarray]:
    """:func:`relic_grid` of UνMSM points with one coupling per mass (no shared rate tables) in the
    chunks of a contour's root finding (:func:`~uvmsm_jax._batching.default_chunk`, 32 points on
    CPU): :func:`wdm_line`'s relic solutions then run in the program that :func:`uvmsm_jax.contour`
    compiled for its secant steps, and a few points are not padded to a scan chunk of 2 048."""
    from ._batching import default_chunk

    return relic_grid("uvmsm", params, settings, default_chunk())


def regime_grid(m_n1, m_zp, g_bl, settings) -> dict[str, np.ndarray]:
    """Rate/H classification of UνMSM points without the ODE (docs/equations.md A.6), memoised.

    :func:`uvmsm_jax.thermalisation` on the broadcast points. Returns arrays of the broadcast
    shape: ``mechanism`` (index into :data:`uvmsm_jax.MECHANISMS`), ``dm_thermalised``,
    ``mediator_thermalised``, and the N₁ and Z′ decoupling (last r = H crossing, (A32)) and
    thermalisation (first crossing) temperatures [GeV] — the inputs of
    :func:`uvmsm_jax.constraints.bbn.bbn_excluded`.
    """
    from ._regimes import thermalisation
    from .models import UVMSM

    arrays = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (m_n1, m_zp, g_bl)))

    def compute():
        t = thermalisation(UVMSM(*arrays), settings)
        fields = {
            "mechanism": t.mechanism,
            "dm_thermalised": t.dm_thermalised,
            "mediator_thermalised": t.mediator_thermalised,
            "t_dec_dm": t.t_dec,
            "t_therm_dm": t.t_therm_dm,
            "t_dec_mediator": t.t_dec_mediator,
            "t_therm_mediator": t.t_therm_mediator,
        }
        return {name: np.asarray(value) for name, value in fields.items()}

    return _memo(_key("regime", _settings_key(settings), *arrays), compute)


def bbn_mask(regimes: Mapping[str, np.ndarray], m_n1, m_zp, settings) -> np.ndarray:
    """P1's BBN exclusion (docs/equations.md A.7) on a regime grid: ΔN_eff > 1 or thermalisation of a
    species lighter than ≈ 1 MeV before T_ν^dec (:func:`uvmsm_jax.constraints.bbn.bbn_excluded`)."""
    from .constraints.bbn import bbn_excluded

    res = bbn_excluded(
        np.asarray(m_zp, float),
        np.asarray(m_n1, float),
        thermal_zp=regimes["mediator_thermalised"],
        t_dec_zp=regimes["t_dec_mediator"],
        thermal_n1=regimes["dm_thermalised"],
        t_dec_n1=regimes["t_dec_dm"],
        t_therm_n1=regimes["t_therm_dm"],
        t_therm_zp=regimes["t_therm_mediator"],
        gstar=settings.gstar,
    )
    return np.asarray(res["excluded"])


# ---------------------------------------------------------------------------------------------
# Geometry helpers: contours in log space, freeze-in crossings, bands
# ---------------------------------------------------------------------------------------------


def omega_lines(x, y, omega, target: float = OMEGA_TARGET) -> list[np.ndarray]:
    """Ωh² = target curves of a grid ``omega[i_x, i_y]`` as a list of (n, 2) vertex arrays in
    (x, y), contoured in (log x, log y) with contourpy (NaN points are masked)."""
    import contourpy

    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.log(np.asarray(omega, dtype=float) / target).T  # contourpy wants z[i_y, i_x]
    mask = ~np.isfinite(z)
    z = np.ma.array(np.where(mask, 0.0, z), mask=mask)
    gen = contourpy.contour_generator(np.log10(x), np.log10(y), z, line_type="Separate")
    lines = cast("cpy.LineReturn_Separate", gen.lines(0.0))  # the layout line_type="Separate" selects
    return [10.0**seg for seg in lines if len(seg) > 1]


def _log_ratio(omega, target: float = OMEGA_TARGET) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(np.asarray(omega, dtype=float) / target)


def _filled_paths(x, y, z, lower: float, upper: float):
    """matplotlib Paths of lower ≤ z[i_x, i_y] < upper filled in (log x, log y)."""
    import contourpy
    from matplotlib.path import Path

    zz = np.asarray(z, dtype=float).T
    mask = ~np.isfinite(zz)
    zz = np.ma.array(np.where(mask, 0.0, zz), mask=mask)
    gen = contourpy.contour_generator(np.log10(x), np.log10(y), zz, fill_type="OuterCode")
    points, codes = cast("cpy.FillReturn_OuterCode", gen.filled(lower, upper))  # the layout fill_type selects
    return [Path(10.0**p, c) for p, c in zip(points, codes) if len(p) > 2]


def _fill(ax, x, y, z, lower, upper, **kwargs) -> None:
    from matplotlib.patches import PathPatch

    for path in _filled_paths(x, y, z, lower, upper):
        ax.add_patch(PathPatch(path, **kwargs))


def freeze_in_crossing(coupling, omega, target: float = OMEGA_TARGET) -> np.ndarray:
    """For each row of ``omega[i_mass, i_coupling]``: the smallest coupling at which Ωh² rises
    through ``target`` (log–log interpolation between grid points), NaN where it does not — the
    freeze-in branch of the Ωh² = target curve."""
    lg = np.log(np.asarray(coupling, dtype=float))
    with np.errstate(divide="ignore", invalid="ignore"):
        f = np.log(np.asarray(omega, dtype=float) / target)
    out = np.full(f.shape[0], np.nan)
    for i, row in enumerate(f):
        for j in range(len(row) - 1):
            a, b = row[j], row[j + 1]
            if np.isfinite(a) and np.isfinite(b) and a < 0 <= b:
                out[i] = math.exp(lg[j] + (lg[j + 1] - lg[j]) * (-a) / (b - a))
                break
    return out


def _interp_loglog(x, y, xq) -> np.ndarray:
    x, y, xq = (np.asarray(v, dtype=float) for v in (x, y, xq))
    ok = np.isfinite(y) & (y > 0)
    if ok.sum() < 2:
        return np.full(xq.shape, np.nan)
    lx, ly = np.log(x[ok]), np.log(y[ok])
    out = np.exp(np.interp(np.log(xq), lx, ly, left=np.nan, right=np.nan))
    # no interpolation across gaps (NaN neighbours)
    idx = np.searchsorted(x, xq)
    inside = (idx > 0) & (idx < len(x))
    good = np.zeros(xq.shape, dtype=bool)
    good[inside] = ok[idx[inside] - 1] & ok[np.minimum(idx[inside], len(x) - 1)]
    exact = np.isin(xq, x[ok])
    return np.where(good | exact, out, np.nan)


# ---------------------------------------------------------------------------------------------
# Drawing helpers
# ---------------------------------------------------------------------------------------------


def _new_axes(ax, figsize=(8.6, 5.4)):
    if ax is not None:
        return ax.figure, ax, False
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    ax = fig.add_axes((0.1, 0.11, 0.55, 0.8))
    return fig, ax, True


def _finish(
    fig,
    ax,
    handles,
    owns: bool,
    title: str,
    *,
    label: str,
    resolution: int,
    modes,
    n_grid: int,
    t0: float,
    data: dict,
    legend_fontsize=7.5,
    grid: str | None = None,
):
    """Title, legend, provenance note (the relic grid, by default ``resolution``², the modes, the
    rate-table nodes ``n_grid`` and the run time since ``t0``) and ``fig.figure_data`` = ``data`` plus
    ``"seconds"``; returns ``fig``."""
    elapsed = time.perf_counter() - t0
    ax.set_title(title, fontsize=10)
    if handles:
        if owns:
            ax.legend(
                handles=handles,
                loc="upper left",
                bbox_to_anchor=(1.02, 1.0),
                fontsize=legend_fontsize,
                frameon=False,
                borderaxespad=0.0,
            )
        else:
            ax.legend(handles=handles, loc="best", fontsize=legend_fontsize - 1, framealpha=0.85)
    if owns:
        fig.text(
            0.01,
            0.01,
            _note(label, grid or f"relic grid {resolution}×{resolution}", modes, n_grid, f"{elapsed:.0f} s"),
            fontsize=6,
            color="0.4",
            ha="left",
            va="bottom",
        )
    fig.figure_data = {**data, "seconds": elapsed}
    return fig


def _proxy_patch(color, label, **kwargs):
    from matplotlib.patches import Patch

    return Patch(facecolor=color, edgecolor=kwargs.pop("edgecolor", "none"), label=label, **kwargs)


def _proxy_line(color, label, **kwargs):
    from matplotlib.lines import Line2D

    return Line2D([], [], color=color, label=label, **kwargs)


def _outline(width=3.0):
    from matplotlib import patheffects

    return [patheffects.withStroke(linewidth=width, foreground="white")]


def _draw_lines(ax, lines, **kwargs) -> None:
    for seg in lines:
        ax.plot(seg[:, 0], seg[:, 1], **kwargs)


def _draw_limit(ax, curve, color, y_top: float, alpha=0.35, zorder=3) -> bool:
    """Excluded region of a :class:`~uvmsm_jax.limits.LimitCurve`; True if anything was drawn."""
    if curve.contour is not None and len(curve.contour) > 2:
        c = curve.contour
        ax.fill(c[:, 0], c[:, 1], facecolor=color, alpha=alpha, edgecolor=color, lw=0.6, zorder=zorder)
        return True
    lower = np.asarray(curve.lower, float)
    upper = np.where(np.isfinite(curve.upper), curve.upper, y_top)
    upper = np.minimum(upper, y_top)
    ok = np.isfinite(lower) & np.isfinite(upper) & (upper > lower)
    if not ok.any():
        return False
    ax.fill_between(
        curve.mass,
        np.where(ok, lower, np.nan),
        np.where(ok, upper, np.nan),
        where=ok,
        facecolor=color,
        alpha=alpha,
        edgecolor="none",
        zorder=zorder,
    )
    ax.plot(curve.mass, np.where(ok, lower, np.nan), color=color, lw=0.6, zorder=zorder)
    return True


def _draw_limit_family(ax, model: str, names, color, y_top: float, alpha: float, zorder) -> bool:
    """Draw every packaged limit curve in ``names`` that loads; True if any was drawn."""
    from . import limits

    drawn = False
    for name in names:
        try:
            curve = limits.load(model, name)
        except (FileNotFoundError, ValueError, KeyError):
            continue
        drawn |= _draw_limit(ax, curve, color, y_top, alpha=alpha, zorder=zorder)
    return drawn


def _draw_b_minus_l_limits(ax, y_top: float, families=B_MINUS_L_LIMITS, alpha=0.35, zorder=3) -> list:
    handles = []
    for label, color, names in families:
        if _draw_limit_family(ax, "uvmsm", names, color, y_top, alpha, zorder):
            handles.append(_proxy_patch(color, label, alpha=alpha + 0.2))
    return handles


def _ship(model_kind: str, masses, **options) -> tuple[np.ndarray, np.ndarray]:
    from .ship import ship_reach

    masses = np.asarray(masses, dtype=float)

    def compute():
        r = ship_reach(model_kind, masses, **options)
        to = lambda v: np.array([np.nan if x is None else x for x in v], dtype=float)
        return to(r["lower"]), to(r["upper"])

    return _memo(_key("ship", model_kind, masses, sorted(options.items())), compute)


def _draw_reach(ax, masses, lower, upper, color, label, ls="-", lw=1.6, zorder=6):
    """A reach contour: lower edge, upper edge and the closing tip, as one line."""
    ok = np.isfinite(lower) & np.isfinite(upper)
    if not ok.any():
        return None
    m = masses[ok]
    xs = np.concatenate([m, m[::-1], m[:1]])
    ys = np.concatenate([lower[ok], upper[ok][::-1], lower[ok][:1]])
    ax.plot(xs, ys, color=color, ls=ls, lw=lw, zorder=zorder)
    return _proxy_line(color, label, ls=ls, lw=lw)


def _log_axes(ax, xlim, ylim, xlabel, ylabel) -> None:
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)


def _edges(axis) -> np.ndarray:
    la = np.log10(axis)
    mid = 0.5 * (la[1:] + la[:-1])
    return 10.0 ** np.concatenate([[la[0] - (mid[0] - la[0])], mid, [la[-1] + (la[-1] - mid[-1])]])


M_ZP_LABEL = r"$M_{Z'}$ [GeV]"
G_BL_LABEL = r"$g_{B-L}$"
M_AP_LABEL = r"$m_{A'}$ [GeV]"
EPS_LABEL = r"kinetic mixing $\epsilon$"
MODE_STYLE = {"paper": "-", "physical": "--"}


def _mass_axis(lo, hi, n, special: Sequence[float] = ()) -> np.ndarray:
    axis = np.geomspace(lo, hi, n)
    extra = [s for s in special if lo < s < hi]
    return np.unique(np.concatenate([axis, extra])) if extra else axis


def _note(figure: str, grid: str, modes, n_grid: int, extra: str = "") -> str:
    from . import __version__

    mode_text = "+".join(modes) if modes else "n/a (Model 2)"
    return (
        f"uvmsm_jax {__version__} · {figure} · {grid} · mode {mode_text} · "
        f"n_grid {n_grid}{' · ' + extra if extra else ''}"
    )


# ---------------------------------------------------------------------------------------------
# P1 Fig. 1a / 1b
# ---------------------------------------------------------------------------------------------


def _plane_fig1(resolution, modes, m_n1, m_zp_range, g_range, settings):
    critical = 2.0 * m_n1
    m_zp = _mass_axis(*m_zp_range, resolution, special=(0.97 * critical, 1.03 * critical))
    g = np.geomspace(*g_range, resolution)
    omegas = {}
    for m in modes:
        s = figure_settings(m, settings)
        om = relic_grid("uvmsm", {"m_n1": m_n1, "m_zp": m_zp[:, None], "g_bl": g[None, :]}, s)["omega_h2"]
        omegas[m] = om
    return m_zp, g, omegas


def fig1a(
    ax=None,
    resolution: int = DEFAULT_RESOLUTION["fig1a"],
    mode: str = "paper",
    *,
    m_n1: float = 1e-5,
    m_zp_range: tuple[float, float] = (1e-6, 1e3),
    g_range: tuple[float, float] = (1e-13, 1.0),
    settings=None,
    regime_factor: int = 2,
    wdm: bool = False,
):
    """P1 Fig. 1a: regimes and Ωh² = 0.12 in the (M_Z′, g_B−L) plane at M_N₁ = ``m_n1`` (10 keV).

    Coloured cells: the classification of (A31)–(A33) on a (``regime_factor``·resolution)² grid —
    deep blue non-thermal (freeze-in), light yellow relativistic decoupling (x_dec < 1), light green
    non-relativistic decoupling. Blue curves: Ωh² = 0.12 from the relic grid. The dotted line
    marks M_Z′ = 2M_N₁ where the resonance switches on (E1.20).

    ``wdm=True`` adds the Lyman-α verdict of the default bound (5.3 keV, Iršič et al. 2017) along the
    Ωh² = 0.12 freeze-in line, as :func:`fig1a_wdm` draws it (which also takes another bound).
    """
    if not isinstance(wdm, (bool, np.bool_)):
        raise ValueError(f"wdm must be True or False, got {wdm!r}")
    return _fig1a(
        ax, resolution, mode, m_n1, m_zp_range, g_range, settings, regime_factor, "irsic2017" if wdm else None
    )


def _fig1a(ax, resolution, mode, m_n1, m_zp_range, g_range, settings, regime_factor, lya_bound):
    """:func:`fig1a`, with the Lyman-α overlay of :func:`fig1a_wdm` for the bound ``lya_bound`` (None: none)."""
    resolution, modes = _check_common(resolution, mode)
    m_n1 = _positive("m_n1", m_n1)
    m_zp_range, g_range = _log_range("m_zp_range", m_zp_range), _log_range("g_range", g_range)
    if lya_bound is not None:
        from .momentum import resolve_lyman_alpha_bound

        resolve_lyman_alpha_bound(lya_bound)  # a ValueError before any computation
    t0 = time.perf_counter()
    fig, ax, owns = _new_axes(ax)
    base = figure_settings(modes[0], settings)
    critical = 2.0 * m_n1
    fine = max(4, int(regime_factor * resolution))
    rx = _mass_axis(*m_zp_range, fine, special=(0.99 * critical, 1.01 * critical))
    ry = np.geomspace(*g_range, fine)
    regimes = regime_grid(m_n1, rx[:, None], ry[None, :], base)
    mech = regimes["mechanism"]
    # 0 relativistic, 1 non-relativistic, 2/3 non-thermal → colour index
    colour_index = np.select([mech == 0, mech == 1, mech >= 2], [1, 2, 0], default=-1).astype(float)
    colour_index[mech < 0] = np.nan
    from matplotlib.colors import ListedColormap

    cmap = ListedColormap([C_NONTHERMAL, C_RELATIVISTIC, C_NONREL])
    ax.pcolormesh(
        _edges(rx),
        _edges(ry),
        colour_index.T,
        cmap=cmap,
        vmin=-0.5,
        vmax=2.5,
        shading="flat",
        rasterized=True,
        zorder=1,
    )
    m_zp, g, omegas = _plane_fig1(resolution, modes, m_n1, m_zp_range, g_range, settings)
    curves = {}
    handles = [
        _proxy_patch(C_NONTHERMAL, "N₁ never thermal (freeze-in)"),
        _proxy_patch(C_RELATIVISTIC, "thermal, relativistic decoupling", edgecolor="0.6"),
        _proxy_patch(C_NONREL, "thermal, non-relativistic decoupling", edgecolor="0.6"),
    ]
    for m, om in omegas.items():
        lines = omega_lines(m_zp, g, om)
        curves[m] = lines
        _draw_lines(ax, lines, color=C_OMEGA, lw=2.0, ls=MODE_STYLE[m], path_effects=_outline(), zorder=5)
        handles.append(_proxy_line(C_OMEGA, rf"$\Omega h^2 = 0.12$ ({m} mode)", lw=2.0, ls=MODE_STYLE[m]))
    ax.axvline(critical, color="white", ls=":", lw=1.2, zorder=4)
    handles.append(_proxy_line("0.3", rf"$M_{{Z'}} = 2M_{{N_1}}$ = {critical * 1e6:.3g} keV", ls=":"))
    _log_axes(ax, m_zp_range, g_range, M_ZP_LABEL, G_BL_LABEL)
    data = {
        "name": "fig1a",
        "m_n1": m_n1,
        "m_zp": m_zp,
        "g_bl": g,
        "omega_h2": omegas,
        "curves": curves,
        "freeze_in_g": {m: freeze_in_crossing(g, om) for m, om in omegas.items()},
        "regime_m_zp": rx,
        "regime_g_bl": ry,
        "mechanism": mech,
        "dm_thermalised": regimes["dm_thermalised"],
    }
    title = rf"P1 Fig. 1a: $M_{{N_1}}$ = {m_n1 * 1e6:.3g} keV — regimes and $\Omega h^2=0.12$"
    label = "P1 Fig. 1a"
    if lya_bound is not None:
        wdm = _wdm_overlay(ax, m_n1, m_zp, g, omegas, g_range, resolution, settings, lya_bound)
        handles += wdm.pop("handles")
        data.update(name="fig1a_wdm", wdm=wdm)
        title = rf"P1 Fig. 1a: $M_{{N_1}}$ = {m_n1 * 1e6:.3g} keV — $\Omega h^2=0.12$ and the Lyman-$\alpha$ verdict"
        label = f"P1 Fig. 1a + Lyman-α (physical-mode f, its line at n_grid {lyman_alpha_settings(settings).n_grid})"
    return _finish(
        fig,
        ax,
        handles,
        owns,
        title,
        label=label,
        resolution=resolution,
        modes=modes,
        n_grid=base.n_grid,
        t0=t0,
        data=data,
    )


def fig1b(
    ax=None,
    resolution: int = DEFAULT_RESOLUTION["fig1b"],
    mode: str = "paper",
    *,
    m_n1: float = 1e-5,
    m_zp_range: tuple[float, float] = (1e-6, 1e3),
    g_range: tuple[float, float] = (1e-13, 1.0),
    settings=None,
    ship_n_thr: float = 3.0,
    regime_factor: float = 1.5,
):
    """P1 Fig. 1b: the (M_Z′, g_B−L) plane at M_N₁ = 10 keV with the constraints of docs/equations.md F.1.

    Gray: Ωh² > 0.12 (relic grid); dashed blue: Ωh² = 0.12; dark blue: BBN (A35 with P1's
    window, plus P1's thermalisation-time criterion; from the regime grid); shaded: packaged
    laboratory limits (LEP incl. the 6 TeV contact line, BaBar, beam dumps, Borexino, NuTeV —
    DarkCast/FORESEE recasts to B−L); black: SHiP proton-bremsstrahlung reach (2×10²⁰ POT,
    ≥ ``ship_n_thr`` events, P1's 60 m + 50 m geometry). HB and SN1987A are not packaged for B−L.
    """
    resolution, modes = _check_common(resolution, mode)
    t0 = time.perf_counter()
    fig, ax, owns = _new_axes(ax)
    base = figure_settings(modes[0], settings)
    m_zp, g, omegas = _plane_fig1(resolution, modes, m_n1, m_zp_range, g_range, settings)
    primary = omegas[modes[0]]
    handles = []
    _fill(ax, m_zp, g, _log_ratio(primary), 0.0, np.inf, facecolor=C_OVERCLOSED, alpha=0.55, edgecolor="none", zorder=1)
    handles.append(_proxy_patch(C_OVERCLOSED, r"$\Omega h^2 > 0.12$ (overclosure)", alpha=0.55))
    fine = max(4, int(regime_factor * resolution))
    rx = np.geomspace(*m_zp_range, fine)
    ry = np.geomspace(*g_range, fine)
    regimes = regime_grid(m_n1, rx[:, None], ry[None, :], base)
    bbn = bbn_mask(regimes, m_n1, rx[:, None], base)
    _fill(ax, rx, ry, bbn.astype(float), 0.5, 2.0, facecolor=C_BBN, alpha=0.8, edgecolor="none", zorder=2)
    handles.append(_proxy_patch(C_BBN, r"BBN ($\Delta N_{\rm eff}>1$ / early thermalisation)", alpha=0.8))
    handles += _draw_b_minus_l_limits(ax, g_range[1])
    ship_m = np.geomspace(1e-3, 5.0, 48)
    lower, upper = _ship("uvmsm", ship_m, n_thr=ship_n_thr, geometry="p1")
    h = _draw_reach(ax, ship_m, lower, upper, C_SHIP, f"SHiP Pbrem, 2×10²⁰ POT, ≥{ship_n_thr:g} events")
    if h is not None:
        handles.append(h)
    curves = {}
    for m, om in omegas.items():
        lines = omega_lines(m_zp, g, om)
        curves[m] = lines
        ls = "--" if m == "paper" else ":"
        _draw_lines(ax, lines, color=C_OMEGA, lw=1.8, ls=ls, zorder=7)
        handles.append(_proxy_line(C_OMEGA, rf"$\Omega h^2 = 0.12$ ({m} mode)", lw=1.8, ls=ls))
    _log_axes(ax, m_zp_range, g_range, M_ZP_LABEL, G_BL_LABEL)
    data = {
        "name": "fig1b",
        "m_n1": m_n1,
        "m_zp": m_zp,
        "g_bl": g,
        "omega_h2": omegas,
        "curves": curves,
        "bbn_m_zp": rx,
        "bbn_g_bl": ry,
        "bbn_excluded": bbn,
        "ship_mass": ship_m,
        "ship_lower": lower,
        "ship_upper": upper,
    }
    title = rf"P1 Fig. 1b: $M_{{N_1}}$ = {m_n1 * 1e6:.3g} keV — constraints"
    return _finish(
        fig,
        ax,
        handles,
        owns,
        title,
        label="P1 Fig. 1b",
        resolution=resolution,
        modes=modes,
        n_grid=base.n_grid,
        t0=t0,
        data=data,
    )


# ---------------------------------------------------------------------------------------------
# P1 Fig. 2a / 2b
# ---------------------------------------------------------------------------------------------


def _fig2(name, ratio, ax, resolution, mode, m_zp_range, g_range, settings, title, regime_factor=1.5):
    resolution, modes = _check_common(resolution, mode)
    t0 = time.perf_counter()
    fig, ax, owns = _new_axes(ax)
    m_zp = np.geomspace(*m_zp_range, resolution)
    g = np.geomspace(*g_range, resolution)
    handles = []
    omegas, thermal = {}, {}
    for m in modes:
        s = figure_settings(m, settings)
        res = relic_grid("uvmsm", {"m_n1": ratio * m_zp[:, None], "m_zp": m_zp[:, None], "g_bl": g[None, :]}, s)
        omegas[m] = res["omega_h2"]
        thermal[m] = res["dm_thermalised"]
    primary = omegas[modes[0]]
    _fill(ax, m_zp, g, _log_ratio(primary), 0.0, np.inf, facecolor=C_OVERCLOSED, alpha=0.6, edgecolor="none", zorder=1)
    handles.append(_proxy_patch(C_OVERCLOSED, r"$\Omega h^2 > 0.12$", alpha=0.6))
    base = figure_settings(modes[0], settings)
    fine = max(4, int(regime_factor * resolution))
    rx = np.geomspace(*m_zp_range, fine)
    ry = np.geomspace(*g_range, fine)
    regimes = regime_grid(ratio * rx[:, None], rx[:, None], ry[None, :], base)
    bbn = bbn_mask(regimes, ratio * rx[:, None], rx[:, None], base)
    _fill(ax, rx, ry, bbn.astype(float), 0.5, 2.0, facecolor=C_BBN, alpha=0.55, edgecolor="none", zorder=2)
    handles.append(_proxy_patch(C_BBN, "BBN", alpha=0.55))
    handles += _draw_b_minus_l_limits(ax, g_range[1], alpha=0.25)
    boundary = omega_lines(rx, ry, np.where(regimes["dm_thermalised"], 2.0, 0.5), target=1.0)
    _draw_lines(ax, boundary, color="black", lw=1.3, ls="--", zorder=6)
    handles.append(_proxy_line("black", "N₁ thermalisation boundary (thermal above)", ls="--", lw=1.3))
    curves = {}
    for m, om in omegas.items():
        lines = omega_lines(m_zp, g, om)
        curves[m] = lines
        _draw_lines(ax, lines, color=C_OMEGA, lw=2.0, ls=MODE_STYLE[m], path_effects=_outline(2.5), zorder=7)
        handles.append(_proxy_line(C_OMEGA, rf"$\Omega h^2 = 0.12$ ({m} mode)", lw=2.0, ls=MODE_STYLE[m]))
    _log_axes(ax, m_zp_range, g_range, M_ZP_LABEL, G_BL_LABEL)
    data = {
        "name": name,
        "ratio": ratio,
        "m_zp": m_zp,
        "g_bl": g,
        "omega_h2": omegas,
        "curves": curves,
        "dm_thermalised": thermal,
        "freeze_in_g": {m: freeze_in_crossing(g, om) for m, om in omegas.items()},
        "thermal_boundary": boundary,
        "bbn_excluded": bbn,
    }
    return _finish(
        fig,
        ax,
        handles,
        owns,
        title,
        label=title.split(":")[0],
        resolution=resolution,
        modes=modes,
        n_grid=base.n_grid,
        t0=t0,
        data=data,
    )


def fig2a(
    ax=None,
    resolution: int = DEFAULT_RESOLUTION["fig2a"],
    mode: str = "paper",
    *,
    m_zp_range: tuple[float, float] = (1e-5, 1e3),
    g_range: tuple[float, float] = (1e-13, 1.0),
    settings=None,
    regime_factor: float = 1.5,
):
    """P1 Fig. 2a: M_N₁ = M_Z′. Gray Ωh² > 0.12, blue Ωh² = 0.12 (freeze-in line near g ~ 10⁻⁶,
    (A51); thermal-relic line at large g), dashed: N₁ thermalisation boundary, BBN and limits."""
    return _fig2(
        "fig2a",
        1.0,
        ax,
        resolution,
        mode,
        m_zp_range,
        g_range,
        settings,
        r"P1 Fig. 2a: $M_{N_1} = M_{Z'}$",
        regime_factor,
    )


def fig2b(
    ax=None,
    resolution: int = DEFAULT_RESOLUTION["fig2b"],
    mode: str = "paper",
    *,
    m_zp_range: tuple[float, float] = (1e-5, 1e3),
    g_range: tuple[float, float] = (1e-13, 1.0),
    settings=None,
    regime_factor: float = 1.5,
):
    """P1 Fig. 2b: M_N₁ = 100 M_Z′ (same content as :func:`fig2a`)."""
    return _fig2(
        "fig2b",
        100.0,
        ax,
        resolution,
        mode,
        m_zp_range,
        g_range,
        settings,
        r"P1 Fig. 2b: $M_{N_1} = 100\,M_{Z'}$",
        regime_factor,
    )


# ---------------------------------------------------------------------------------------------
# P1 Fig. 3a / 3b
# ---------------------------------------------------------------------------------------------


def _band_on(masses, curves: Sequence[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Envelope (min, max) of several g(M) curves on a common mass axis (NaN where none exists)."""
    values = np.stack([_interp_loglog(m, c, masses) for m, c in curves])
    with np.errstate(all="ignore"):
        ok = np.isfinite(values).any(axis=0)
        lo = np.where(ok, np.nanmin(np.where(np.isfinite(values), values, np.inf), axis=0), np.nan)
        hi = np.where(ok, np.nanmax(np.where(np.isfinite(values), values, -np.inf), axis=0), np.nan)
    return lo, hi


def fig3a(
    ax=None,
    resolution: int = DEFAULT_RESOLUTION["fig3a"],
    mode: str = "paper",
    *,
    m_n1_values=(1e-5, 1e-4, 1e-3, 1e-2),
    m_zp_range: tuple[float, float] = (1e-5, 10.0),
    g_range: tuple[float, float] = (1e-13, 1e-2),
    g_scan: tuple[float, float] = (1e-13, 1e-7),
    settings=None,
    ship_n_thr: float = 3.0,
):
    """P1 Fig. 3a: resonant freeze-in (M_Z′ > 2M_N₁) in the (M_Z′, g_B−L) plane.

    For each M_N₁ in ``m_n1_values`` (10 keV, 100 keV, 1 MeV, 10 MeV) the freeze-in branch of
    Ωh² = 0.12 is found on a relic grid over M_Z′ ∈ (2.1 M_N₁, max] × g ∈ ``g_scan`` (resolution ×
    resolution/:data:`BAND_COUPLINGS_PER_MASS` points); the blue band is their envelope. P1 drew it
    from (A45) with C_f = 43/6; here it is the full solution. With the SHiP reach (black) and the laboratory limits.
    """
    resolution, modes = _check_common(resolution, mode)
    t0 = time.perf_counter()
    fig, ax, owns = _new_axes(ax)
    handles = _draw_b_minus_l_limits(ax, g_range[1], alpha=0.25)
    g = np.geomspace(*g_scan, max(6, resolution // BAND_COUPLINGS_PER_MASS))
    common = np.geomspace(*m_zp_range, 4 * resolution)
    data: dict[str, Any] = {"m_n1_values": tuple(m_n1_values), "g_bl": g, "curves": {}, "band": {}}
    colours = ["#08306b", "#2171b5", "#4292c6", "#6baed6", "#9ecae1"]
    for mi, m in enumerate(modes):
        s = figure_settings(m, settings)
        curves = []
        for i, m_n1 in enumerate(m_n1_values):
            lo = max(m_zp_range[0], 2.1 * m_n1)
            if lo >= m_zp_range[1]:
                continue
            m_zp = np.geomspace(lo, m_zp_range[1], resolution)
            om = relic_grid("uvmsm", {"m_n1": m_n1, "m_zp": m_zp[:, None], "g_bl": g[None, :]}, s)["omega_h2"]
            gc = freeze_in_crossing(g, om)
            curves.append((m_zp, gc))
            data["curves"][(m, m_n1)] = (m_zp, gc)
            ls = MODE_STYLE[m]
            ax.plot(m_zp, gc, color=colours[i % len(colours)], lw=1.4, ls=ls, zorder=6)
            if mi == 0:
                label = f"{m_n1 * 1e6:.3g} keV" if m_n1 < 1e-3 else f"{m_n1 * 1e3:.3g} MeV"
                handles.append(_proxy_line(colours[i % len(colours)], rf"$M_{{N_1}}$ = {label}", lw=1.4))
        lo_band, hi_band = _band_on(common, curves)
        data["band"][m] = (common, lo_band, hi_band)
        if mi == 0:
            ok = np.isfinite(lo_band)
            ax.fill_between(common, lo_band, hi_band, where=ok, facecolor=C_OMEGA, alpha=0.35, zorder=5, lw=0)
            handles.append(_proxy_patch(C_OMEGA, "resonant freeze-in, $\\Omega h^2=0.12$", alpha=0.35))
    if len(modes) == 2:
        handles.append(_proxy_line("0.3", "dashed: physical mode", ls="--"))
    ship_m = np.geomspace(1e-3, 5.0, 48)
    lower, upper = _ship("uvmsm", ship_m, n_thr=ship_n_thr, geometry="p1")
    h = _draw_reach(ax, ship_m, lower, upper, C_SHIP, f"SHiP Pbrem, ≥{ship_n_thr:g} events")
    if h is not None:
        handles.append(h)
    _log_axes(ax, m_zp_range, g_range, M_ZP_LABEL, G_BL_LABEL)
    data.update(name="fig3a", ship_mass=ship_m, ship_lower=lower, ship_upper=upper)
    title = r"P1 Fig. 3a: freeze-in on resonance ($M_{Z'} > 2M_{N_1}$)"
    return _finish(
        fig,
        ax,
        handles,
        owns,
        title,
        label="P1 Fig. 3a",
        resolution=resolution,
        modes=modes,
        n_grid=s.n_grid,
        t0=t0,
        data=data,
    )


def fig3b(
    ax=None,
    resolution: int = DEFAULT_RESOLUTION["fig3b"],
    mode: str = "paper",
    *,
    ratios=(0.6, 100.0),
    m_zp_range: tuple[float, float] = (1e-4, 10.0),
    g_range: tuple[float, float] = (1e-9, 1e-2),
    g_scan: tuple[float, float] = (1e-8, 1e-3),
    settings=None,
    ship_n_thr: float = 3.0,
):
    """P1 Fig. 3b: off-resonance freeze-in (M_Z′ < 2M_N₁) band and the SHiP reach.

    Band edges: the freeze-in branch of Ωh² = 0.12 at M_N₁ = ``ratios[0]``·M_Z′ (near the
    M_Z′/2 edge of P1; exactly at M_Z′/2 the threshold enhancement of the off-shell propagator,
    absent from (A51), dominates) and at M_N₁ = ``ratios[1]``·M_Z′ (M_N₁ ≫ M_Z′). SHiP: proton
    bremsstrahlung, 2×10²⁰ POT, ≥ ``ship_n_thr`` events, P1 geometry. ``figure_data["ship_overlap"]``
    gives the M_Z′ range in which the reach covers part of the band (E1.18: ≈ 1–200 MeV).
    """
    resolution, modes = _check_common(resolution, mode)
    t0 = time.perf_counter()
    fig, ax, owns = _new_axes(ax)
    handles = _draw_b_minus_l_limits(ax, g_range[1], alpha=0.25)
    m_zp = np.geomspace(*m_zp_range, resolution)
    g = np.geomspace(*g_scan, max(6, resolution // BAND_COUPLINGS_PER_MASS))
    data: dict[str, Any] = {"name": "fig3b", "ratios": tuple(ratios), "m_zp": m_zp, "g_bl": g, "edges": {}}
    for mi, m in enumerate(modes):
        s = figure_settings(m, settings)
        edges = []
        for r in ratios:
            om = relic_grid("uvmsm", {"m_n1": r * m_zp[:, None], "m_zp": m_zp[:, None], "g_bl": g[None, :]}, s)[
                "omega_h2"
            ]
            edges.append(freeze_in_crossing(g, om))
        lo_edge, hi_edge = np.fmin(edges[0], edges[1]), np.fmax(edges[0], edges[1])
        data["edges"][m] = (edges[0], edges[1])
        ls = MODE_STYLE[m]
        if mi == 0:
            ok = np.isfinite(lo_edge) & np.isfinite(hi_edge)
            ax.fill_between(m_zp, lo_edge, hi_edge, where=ok, facecolor=C_OMEGA, alpha=0.4, zorder=5, lw=0)
            handles.append(_proxy_patch(C_OMEGA, r"off-resonance freeze-in, $\Omega h^2 = 0.12$", alpha=0.4))
        for r, e, lw in zip(ratios, edges, (1.2, 1.8)):
            ax.plot(m_zp, e, color="#08519c", lw=lw, ls=ls, zorder=6)
            handles.append(_proxy_line("#08519c", rf"$M_{{N_1}} = {r:g}\,M_{{Z'}}$ ({m})", lw=lw, ls=ls))
    ship_m = np.geomspace(1e-3, 5.0, 64)
    lower, upper = _ship("uvmsm", ship_m, n_thr=ship_n_thr, geometry="p1")
    h = _draw_reach(ax, ship_m, lower, upper, C_SHIP, f"SHiP Pbrem, 2×10²⁰ POT, ≥{ship_n_thr:g} events")
    if h is not None:
        handles.append(h)
    e0, e1 = data["edges"][modes[0]]
    band_lo = _interp_loglog(m_zp, np.fmin(e0, e1), ship_m)
    band_hi = _interp_loglog(m_zp, np.fmax(e0, e1), ship_m)
    with np.errstate(invalid="ignore"):
        covered = np.isfinite(lower) & (upper > band_lo) & (lower < band_hi)
    overlap = (float(ship_m[covered].min()), float(ship_m[covered].max())) if covered.any() else None
    _log_axes(ax, m_zp_range, g_range, M_ZP_LABEL, G_BL_LABEL)
    data.update(ship_mass=ship_m, ship_lower=lower, ship_upper=upper, ship_overlap=overlap)
    title = r"P1 Fig. 3b: freeze-in off resonance ($M_{Z'} < 2M_{N_1}$) and SHiP"
    return _finish(
        fig,
        ax,
        handles,
        owns,
        title,
        label="P1 Fig. 3b",
        resolution=resolution,
        modes=modes,
        n_grid=s.n_grid,
        t0=t0,
        data=data,
    )


# ---------------------------------------------------------------------------------------------
# P2 Fig. 1 / 3 (Model 2)
# ---------------------------------------------------------------------------------------------


def _dp_settings(settings):
    """P2's sequential freeze-in system, (B13)–(B14): ``settings`` with ``mode="paper"``."""
    return figure_settings("paper", settings)


def p2_fig1(
    ax=None,
    resolution: int = DEFAULT_RESOLUTION["p2_fig1"],
    mode: str = "paper",
    *,
    coupling_ratios=(0.1, 0.01, 0.001),
    mass_ratios=(0.1, 0.4),
    m_ap_range: tuple[float, float] = (1e-2, 10.0),
    eps_range: tuple[float, float] = (1e-13, 1e-6),
    settings=None,
):
    """P2 Fig. 1: Ωh² = 0.12 contours of the sequential freeze-in system (B13)–(B14) in the
    (m_A′, ε) plane for e′ = ratio·ε (``coupling_ratios``) and m_χ = r·m_A′ (``mass_ratios``);
    black: ε_th (B21), above which the A′ thermalises (not sequential). The ratio values are the
    stand-ins of docs/equations.md K20 (P2's were lost). Always P2's system (``Settings.mode =
    "paper"``, also when ``settings`` are given); the ``mode`` argument is ignored."""
    resolution, _ = _check_common(resolution, mode)
    from .dark_photon import epsilon_threshold

    t0 = time.perf_counter()
    fig, ax, owns = _new_axes(ax)
    s = _dp_settings(settings)
    m_ap = np.geomspace(*m_ap_range, resolution)
    eps = np.geomspace(*eps_range, resolution)
    colours = ["#d62728", "#2ca02c", "#1f77b4", "#9467bd", "#8c564b"]
    styles = ["-", "--", ":", "-."]
    handles, curves = [], {}
    for j, r in enumerate(mass_ratios):
        for i, k in enumerate(coupling_ratios):
            res = relic_grid(
                "dark-photon",
                {
                    "m_chi": r * m_ap[:, None],
                    "m_ap": m_ap[:, None],
                    "epsilon": eps[None, :],
                    "e_dark": k * eps[None, :],
                },
                s,
            )
            lines = omega_lines(m_ap, eps, res["omega_h2"])
            curves[(r, k)] = lines
            _draw_lines(ax, lines, color=colours[i % len(colours)], ls=styles[j % len(styles)], lw=1.6, zorder=5)
            if j == 0:
                handles.append(_proxy_line(colours[i % len(colours)], rf"$e'/\epsilon$ = {k:g}", lw=1.6))
    for j, r in enumerate(mass_ratios):
        handles.append(_proxy_line("0.3", rf"$m_\chi/m_{{A'}}$ = {r:g}", ls=styles[j % len(styles)]))
    fine_m = np.geomspace(*m_ap_range, 4 * resolution)
    eps_th = np.asarray(epsilon_threshold(fine_m, s))
    ax.plot(fine_m, eps_th, color="black", lw=2.0, zorder=6)
    ax.fill_between(fine_m, eps_th, eps_range[1], facecolor="0.85", zorder=1, lw=0)
    handles.append(_proxy_line("black", r"$\epsilon_{\rm th}$: $\Gamma_{\rm vis} = H(T=m_{A'})$ (B21)", lw=2.0))
    handles.append(_proxy_patch("0.85", "A′ thermalised (not sequential)"))
    data = {
        "name": "p2_fig1",
        "mode": s.mode,
        "m_ap": m_ap,
        "epsilon": eps,
        "curves": curves,
        "eps_th_mass": fine_m,
        "eps_th": eps_th,
    }
    return _finish_m_ap_epsilon_plane(
        fig,
        ax,
        handles,
        owns,
        r"P2 Fig. 1: sequential freeze-in, $\Omega_\chi h^2 = 0.12$",
        m_ap_range,
        eps_range,
        resolution,
        s.n_grid,
        t0,
        data,
    )


def _finish_m_ap_epsilon_plane(fig, ax, handles, owns, title, m_ap_range, eps_range, resolution, n_grid, t0, data):
    """Log axes of the (m_A′, ε) plane, then :func:`_finish` (Model 2: P2's system, "paper")."""
    _log_axes(ax, m_ap_range, eps_range, M_AP_LABEL, EPS_LABEL)
    return _finish(
        fig,
        ax,
        handles,
        owns,
        title,
        label=title.split(":")[0],
        resolution=resolution,
        modes=("paper",),
        n_grid=n_grid,
        t0=t0,
        data=data,
    )


def e_dark_relic_grid(
    m_ap, ratio: float, settings, e_scan: tuple[float, float] = (1e-15, 1e-9), n_e: int = 8
) -> np.ndarray:
    """e′ giving Ωh² = 0.12 at m_χ = ratio·m_A′ (ε = ε_th/10, inside the sequential window), read off
    a relic grid over (m_A′, e′) (log–log interpolation; Ω ∝ e′² in the P2 setting, (B20))."""
    from .dark_photon import epsilon_threshold

    m_ap = np.asarray(m_ap, dtype=float)
    e_dark = np.geomspace(*e_scan, n_e)
    eps = 0.1 * np.asarray(epsilon_threshold(m_ap, settings))
    res = relic_grid(
        "dark-photon",
        {"m_chi": ratio * m_ap[:, None], "m_ap": m_ap[:, None], "epsilon": eps[:, None], "e_dark": e_dark[None, :]},
        settings,
    )
    return freeze_in_crossing(e_dark, res["omega_h2"])


def p2_fig3(
    ax=None,
    resolution: int = DEFAULT_RESOLUTION["p2_fig3"],
    mode: str = "paper",
    *,
    mass_ratios=(0.1, 0.4),
    m_ap_range: tuple[float, float] = (1e-2, 10.0),
    eps_range: tuple[float, float] = (1e-12, 1e-2),
    pot: float = 6e20,
    settings=None,
    eps_dm_factor: float = 10.0,
):
    """P2 Fig. 3: (m_A′, ε) plane — sequential-freeze-in band ε_DM ≤ ε < ε_th (blue; ε_DM of (B23)
    for m_χ/m_A′ = ``mass_ratios[0]``, dashed for the others, with e′_relic from the relic
    solver), ε_th (black, (B21)), the SHiP reach for ``pot`` protons on target (Pbrem with VMD and
    dipole form factors, meson decays; Drell–Yan is not computed), existing bounds (gray).
    Always P2's system (``Settings.mode = "paper"``); the ``mode`` argument is ignored."""
    resolution, _ = _check_common(resolution, mode)
    from .dark_photon import epsilon_dm, epsilon_threshold

    t0 = time.perf_counter()
    fig, ax, owns = _new_axes(ax)
    s = _dp_settings(settings)
    handles = []
    if _draw_limit_family(ax, "dark-photon", DARK_PHOTON_LIMITS, "0.55", eps_range[1], alpha=0.45, zorder=2):
        handles.append(_proxy_patch("0.55", "existing bounds (DarkCast, SN1987A)", alpha=0.6))
    m_ap = np.geomspace(*m_ap_range, resolution)
    eps_th = np.asarray(epsilon_threshold(m_ap, s))
    eps_dm = {}
    for j, r in enumerate(mass_ratios):
        e_rel = e_dark_relic_grid(m_ap, r, s)
        eps_dm[r] = np.asarray(epsilon_dm(m_ap, r, eps_dm_factor, s, e_dark_relic=e_rel))
        if j == 0:
            ax.fill_between(m_ap, eps_dm[r], eps_th, facecolor=C_OMEGA, alpha=0.35, zorder=3, lw=0)
            ax.plot(m_ap, eps_dm[r], color=C_OMEGA, lw=1.6, zorder=4)
            handles.append(_proxy_patch(C_OMEGA, rf"sequential freeze-in, $m_\chi/m_{{A'}}$ = {r:g}", alpha=0.35))
        else:
            ax.plot(m_ap, eps_dm[r], color=C_OMEGA, lw=1.4, ls="--", zorder=4)
            handles.append(_proxy_line(C_OMEGA, rf"$\epsilon_{{\rm DM}}$, $m_\chi/m_{{A'}}$ = {r:g}", ls="--"))
    ax.plot(m_ap, eps_th, color="black", lw=2.0, zorder=6)
    handles.append(_proxy_line("black", r"$\epsilon_{\rm th}$ (B21)", lw=2.0))
    ship_m = np.geomspace(1e-2, 5.0, 64)
    reaches = {}
    for label, colour, opts in (
        ("Pbrem, VMD", "#d62728", {"form_factor": "vmd"}),
        ("Pbrem, dipole", "#1f4fd6", {"form_factor": "dipole"}),
        ("mesons", "#2ca02c", {"production": "mesons"}),
    ):
        lower, upper = _ship("dark-photon", ship_m, pot=pot, **opts)
        reaches[label] = (lower, upper)
        h = _draw_reach(ax, ship_m, lower, upper, colour, f"SHiP {label}, {pot:.0e} POT".replace("e+", "e"))
        if h is not None:
            handles.append(h)
    data = {
        "name": "p2_fig3",
        "mode": s.mode,
        "m_ap": m_ap,
        "eps_th": eps_th,
        "eps_dm": eps_dm,
        "ship_mass": ship_m,
        "ship": reaches,
    }
    return _finish_m_ap_epsilon_plane(
        fig,
        ax,
        handles,
        owns,
        r"P2 Fig. 3: sequential freeze-in and SHiP",
        m_ap_range,
        eps_range,
        resolution,
        s.n_grid,
        t0,
        data,
    )


# ---------------------------------------------------------------------------------------------
# Model 2 in every regime (docs/equations.md Part H)
# ---------------------------------------------------------------------------------------------

REGIME_STYLE: dict[int, tuple[str, str]] = {
    Mechanism.FREEZE_OUT: ("#1b9e77", "freeze-out"),
    Mechanism.PARTIAL_THERMALISATION: ("#b2df8a", "partial thermalisation"),
    Mechanism.FREEZE_IN_2TO2: ("#7570b3", "freeze-in 2→2 (off-shell A′)"),
    Mechanism.THERMAL_MEDIATOR_DECAY: ("#d95f02", "freeze-in: decays of thermal A′"),
    Mechanism.SEQUENTIAL_FREEZE_IN: ("#e6ab02", "sequential freeze-in (A′ → χχ̄)"),
    Mechanism.MEDIATOR_PAIR_FREEZE_IN: ("#e7298a", "freeze-in: A′A′ → χχ̄, thermal A′"),
    Mechanism.SEQUENTIAL_MEDIATOR_PAIR_FREEZE_IN: ("#a6761d", "sequential freeze-in (A′A′ → χχ̄)"),
}
"""Mechanism (:class:`~uvmsm_jax.codes.Mechanism`) → (colour, legend text) of the (H18) labels on the
dp-regimes map; a declared mechanism without an entry gets a colour of a fallback cycle."""
C_DARK_TEMPERATURE = "#cfcfcf"
C_FAILED = "#4d4d4d"
DARK_PHOTON = "dark-photon"
"""Registry name of the model the ``dp_*`` figures draw."""
NEEDS_DARK_TEMPERATURE_LABEL = "needs-dark-temperature"


def _positive(name: str, value) -> float:
    """``value`` as a float, ``ValueError`` naming ``name`` unless it is a positive finite number."""
    check_positive_finite(name, value)
    return float(value)


def _log_range(name: str, value) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a pair (LO, HI) with 0 < LO < HI, got {value!r}") from None
    if not (0 < lo < hi and math.isfinite(hi)):
        raise ValueError(f"{name} must be a pair (LO, HI) with 0 < LO < HI, got {value!r}")
    return lo, hi


def regime_labels(status, mechanism) -> np.ndarray:
    """Per-point labels of a relic grid: the mechanism name (:data:`uvmsm_jax.MECHANISMS`) where
    ``status`` is 0, ``"needs-dark-temperature"`` for :attr:`~uvmsm_jax.Status.NEEDS_DARK_TEMPERATURE`
    (docs/equations.md (H17)) and ``"status-N"`` for any other non-zero status."""
    status = np.asarray(status)
    mechanism = np.asarray(mechanism)
    names = np.asarray(MECHANISMS + ("invalid",), dtype=object)[np.where(mechanism >= 0, mechanism, -1)]
    out = np.where(status == 0, names, np.char.add("status-", status.astype(str)).astype(object))
    out = np.where(status == Status.NEEDS_DARK_TEMPERATURE, NEEDS_DARK_TEMPERATURE_LABEL, out)
    return out.astype(str)


def _hatch_cells(ax, x_edges, y_edges, mask, hatch: str, colour) -> None:
    """Hatch the cells ``mask[i_x, i_y]`` of a pcolormesh with edges ``x_edges``, ``y_edges``."""
    from matplotlib.collections import PolyCollection

    cells = [
        [
            (x_edges[i], y_edges[j]),
            (x_edges[i + 1], y_edges[j]),
            (x_edges[i + 1], y_edges[j + 1]),
            (x_edges[i], y_edges[j + 1]),
        ]
        for i, j in zip(*np.nonzero(mask))
    ]
    if cells:
        ax.add_collection(
            PolyCollection(cells, facecolor="none", edgecolor=colour, hatch=hatch, linewidth=0, zorder=2),
            autolim=False,
        )


def _regime_thresholds(m_chi: float, m_ap: float, settings) -> tuple[float, float]:
    """Approximate boundaries (1) and (2) of docs/equations.md H.3: ε_th of (B21), Γ_vis(ε_th) =
    H(T = m_A′), and e′_th with Γ_χχ̄(e′_th) = H(T = m_A′) (NaN for m_A′ ≤ 2m_χ), from the widths
    (B3)–(B6): e′_th = ε_th (Γ_vis(ε = 1)/Γ_χχ̄(e′ = 1))^½."""
    from ._widths import widths
    from .dark_photon import epsilon_threshold
    from .models import model_spec

    eps_th = float(epsilon_threshold(m_ap, settings))
    w = widths(model_spec(DARK_PHOTON).model(m_chi=m_chi, m_ap=m_ap, epsilon=1.0, e_dark=1.0), settings)
    gamma_dm = float(w.dm)
    e_th = eps_th * math.sqrt(float(w.visible) / gamma_dm) if gamma_dm > 0 else float("nan")
    return eps_th, e_th


def dp_regimes(
    ax=None,
    resolution: int = DEFAULT_RESOLUTION["dp_regimes"],
    mode: str = "physical",
    *,
    m_chi: float = 0.1,
    m_ap: float = 0.3,
    eps_range: tuple[float, float] = (1e-12, 1e-2),
    e_dark_range: tuple[float, float] = (1e-12, 1.0),
    settings=None,
):
    """Model 2 in every regime: the (e′, ε) plane at fixed m_χ = ``m_chi``, m_A′ = ``m_ap`` [GeV]
    (docs/equations.md H.3).

    Each cell of the ``resolution``² relic grid (log-spaced e′ on x, ε on y) is coloured by the
    (H18) label :func:`uvmsm_jax.relic` returns there (:data:`REGIME_STYLE`); hatched light gray:
    status :attr:`~uvmsm_jax.Status.NEEDS_DARK_TEMPERATURE` ((H17): the dark sector would need its
    own temperature, no Ωh²); cross-hatched dark gray: any other non-zero status. Blue: Ωh² = 0.12
    contoured from the grid (:func:`omega_lines`; the flagged cells are masked). Black dotted and
    dash-dotted: the approximate boundaries (1) ε = ε_th (B21) and (2) e′ = e′_th (Γ_χχ̄ = H at T = m_A′; only for
    m_A′ > 2m_χ) of H.3 — guides only, the labels are decided by (H18). Always the all-regime system
    (``Settings.mode = "physical"``, also when ``settings`` are given); the ``mode`` argument is ignored.

    ``figure_data``: ``e_dark``, ``epsilon`` (axes), ``omega_h2``, ``status``, ``mechanism`` and
    ``labels`` (:func:`regime_labels`) indexed [i_e′, i_ε], ``label_counts``, ``curves``,
    ``eps_th``, ``e_dark_th``.
    """
    resolution, _ = _check_common(resolution, mode)
    m_chi, m_ap = _positive("m_chi", m_chi), _positive("m_ap", m_ap)
    eps_range, e_dark_range = _log_range("eps_range", eps_range), _log_range("e_dark_range", e_dark_range)
    from matplotlib.colors import ListedColormap

    from .models import model_spec

    t0 = time.perf_counter()
    spec = model_spec(DARK_PHOTON)
    s = figure_settings("physical", settings)
    fig, ax, owns = _new_axes(ax)
    e_dark = np.geomspace(*e_dark_range, resolution)
    eps = np.geomspace(*eps_range, resolution)
    params = {"m_chi": m_chi, "m_ap": m_ap, "e_dark": e_dark[:, None], "epsilon": eps[None, :]}
    grid = relic_grid(DARK_PHOTON, params, s)
    status, mechanism, omega = grid["status"], grid["mechanism"], grid["omega_h2"]
    labels = regime_labels(status, mechanism)

    mechanisms = [int(m) for m in spec.mechanisms]
    fallback = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#17becf"]
    colours = [REGIME_STYLE.get(m, (fallback[k % len(fallback)], ""))[0] for k, m in enumerate(mechanisms)]
    n_mech = len(mechanisms)
    index = np.full(status.shape, np.nan)
    for k, m in enumerate(mechanisms):
        index[(status == 0) & (mechanism == m)] = k
    dark_t = status == Status.NEEDS_DARK_TEMPERATURE
    failed = (status != 0) & ~dark_t
    index[dark_t] = n_mech
    index[failed] = n_mech + 1
    cmap = ListedColormap([*colours, C_DARK_TEMPERATURE, C_FAILED])
    xe, ye = _edges(e_dark), _edges(eps)
    ax.pcolormesh(xe, ye, index.T, cmap=cmap, vmin=-0.5, vmax=n_mech + 1.5, shading="flat", rasterized=True, zorder=1)
    for mask, hatch, colour in ((dark_t, "///", "0.45"), (failed, "xxx", "0.85")):
        _hatch_cells(ax, xe, ye, mask, hatch, colour)

    handles = []
    present = set(np.unique(labels))
    for k, m in enumerate(mechanisms):
        text = REGIME_STYLE.get(m, ("", MECHANISMS[m]))[1] or MECHANISMS[m]
        edge = "0.6" if MECHANISMS[m] in present else "none"
        handles.append(
            _proxy_patch(colours[k], f"{text}" + ("" if MECHANISMS[m] in present else " (none here)"), edgecolor=edge)
        )
    handles.append(
        _proxy_patch(C_DARK_TEMPERATURE, "needs a dark temperature (H17): no Ωh²", hatch="///", edgecolor="0.45")
    )
    if failed.any():
        handles.append(_proxy_patch(C_FAILED, "no Ωh² (other status)", hatch="xxx", edgecolor="0.85"))

    curves = omega_lines(e_dark, eps, omega)
    _draw_lines(ax, curves, color=C_OMEGA, lw=2.2, path_effects=_outline(), zorder=6)
    handles.append(_proxy_line(C_OMEGA, r"$\Omega h^2 = 0.12$", lw=2.2))
    eps_th, e_th = _regime_thresholds(m_chi, m_ap, s)
    ax.axhline(eps_th, color="black", ls=":", lw=1.2, zorder=5)
    handles.append(_proxy_line("black", r"(1) $\epsilon_{\rm th}$ (B21)", ls=":"))
    if math.isfinite(e_th):
        ax.axvline(e_th, color="black", ls="-.", lw=1.0, zorder=5)
        handles.append(_proxy_line("black", r"(2) $e'_{\rm th}$: $\Gamma_{\chi\bar\chi} = H(m_{A'})$", ls="-."))
    _log_axes(ax, e_dark_range, eps_range, r"dark gauge coupling $e'$", EPS_LABEL)
    unique, counts = np.unique(labels, return_counts=True)
    data = {
        "name": "dp_regimes",
        "mode": s.mode,
        "m_chi": m_chi,
        "m_ap": m_ap,
        "e_dark": e_dark,
        "epsilon": eps,
        "omega_h2": omega,
        "status": status,
        "mechanism": mechanism,
        "labels": labels,
        "label_counts": {str(k): int(v) for k, v in zip(unique, counts)},
        "curves": curves,
        "eps_th": eps_th,
        "e_dark_th": e_th,
    }
    title = rf"Dark photon regimes (H18): $m_\chi$ = {m_chi:g} GeV, $m_{{A'}}$ = {m_ap:g} GeV"
    return _finish(
        fig,
        ax,
        handles,
        owns,
        title,
        label="dp-regimes",
        resolution=resolution,
        n_grid=s.n_grid,
        modes=("physical",),
        t0=t0,
        data=data,
    )


def dp_thermal_target(
    ax=None,
    resolution: int = DEFAULT_RESOLUTION["dp_thermal_target"],
    mode: str = "physical",
    *,
    mass_ratio: float = 3.0,
    alpha_dark: float = 0.5,
    m_chi_range: tuple[float, float] = (1e-3, 1.0),
    y_range: tuple[float, float] = (1e-16, 1e-8),
    settings=None,
):
    """The thermal target of Model 2: the (m_χ, y) plane, y = ε²α′(m_χ/m_A′)⁴, at m_A′ =
    ``mass_ratio``·m_χ and α′ = e′²/(4π) = ``alpha_dark`` (docs/equations.md H.3, H.4).

    Blue: Ωh² = 0.12 from a ``resolution``² relic grid (log-spaced m_χ [GeV] and y; ε =
    (y/α′)^½ (m_A′/m_χ)²), contoured through the points labelled freeze-out (H18) — the freeze-out
    branch; other points (none in the default window) are masked. Red, hatched: the region where
    the CMB bound excludes χ as all of the DM, p_ann = f_eff⟨σv⟩_late/(2m_χ) (H20) above the Planck
    2018 limit (H21), from :func:`uvmsm_jax.observables` on the same grid (independent of Ωh²).
    Always the all-regime system (``Settings.mode = "physical"``); the ``mode`` argument is ignored.

    ``figure_data``: ``m_chi``, ``y`` (axes), ``epsilon``, ``e_dark``, and indexed [i_m, i_y]:
    ``omega_h2``, ``status``, ``mechanism``, ``p_ann``, ``p_ann_limit``, ``cmb_excluded``; ``curves``
    (the Ωh² = 0.12 line), ``cmb_edge`` (p_ann = limit).
    """
    resolution, _ = _check_common(resolution, mode)
    mass_ratio = _positive("mass_ratio", mass_ratio)
    alpha_dark = _positive("alpha_dark", alpha_dark)
    m_chi_range, y_range = _log_range("m_chi_range", m_chi_range), _log_range("y_range", y_range)
    from ._observables import observables
    from ._relic import RelicResult
    from .models import model_spec

    t0 = time.perf_counter()
    spec = model_spec(DARK_PHOTON)
    s = figure_settings("physical", settings)
    fig, ax, owns = _new_axes(ax)
    m_chi = np.geomspace(*m_chi_range, resolution)
    y = np.geomspace(*y_range, resolution)
    eps = np.sqrt(y / alpha_dark) * mass_ratio**2
    e_dark = math.sqrt(4.0 * math.pi * alpha_dark)
    m_grid, eps_grid = np.broadcast_arrays(m_chi[:, None], eps[None, :])
    params = {"m_chi": m_grid, "m_ap": mass_ratio * m_grid, "epsilon": eps_grid, "e_dark": e_dark}
    grid = relic_grid(DARK_PHOTON, params, s)
    status, mechanism, omega = grid["status"], grid["mechanism"], grid["omega_h2"]

    def cmb():
        model = spec.model(**{k: np.broadcast_to(np.asarray(v, float), m_grid.shape) for k, v in params.items()})
        nan = np.full(m_grid.shape, np.nan)
        result = RelicResult(
            **{name: grid[name] for name in ("omega_h2", "yield_dm", "yield_mediator", "status", "mechanism")},
            **{name: grid[name] for name in ("dm_thermalised", "mediator_thermalised", "t_dec", "x_dec")},
            ode_steps=np.zeros(m_grid.shape, dtype=np.int32),
            max_dark_rate_over_h=nan,
            max_portal_rate_over_h=nan,
        )
        o = observables(model, s, relic_result=result)
        return {k: np.asarray(getattr(o, k)) for k in ("p_ann", "p_ann_limit", "cmb_excluded")}

    obs = _memo(_key("cmb", _settings_key(s), params), cmb)
    ratio = _log_ratio(obs["p_ann"], float(obs["p_ann_limit"]))
    handles = []
    _fill(ax, m_chi, y, ratio, 0.0, np.inf, facecolor="#f4a6a6", alpha=0.6, edgecolor="none", zorder=1)
    _fill(ax, m_chi, y, ratio, 0.0, np.inf, facecolor="none", hatch="\\\\", edgecolor="#c0392b", lw=0, zorder=2)
    edge = omega_lines(m_chi, y, obs["p_ann"], target=float(obs["p_ann_limit"]))
    _draw_lines(ax, edge, color="#c0392b", lw=1.2, zorder=3)
    handles.append(
        _proxy_patch(
            "#f4a6a6", r"CMB: $p_{\rm ann} >$ Planck 2018 (H20)–(H21)", alpha=0.8, hatch="\\\\", edgecolor="#c0392b"
        )
    )
    thermal = np.where((status == 0) & (mechanism == Mechanism.FREEZE_OUT), omega, np.nan)
    curves = omega_lines(m_chi, y, thermal)
    _draw_lines(ax, curves, color=C_OMEGA, lw=2.2, path_effects=_outline(), zorder=6)
    handles.append(_proxy_line(C_OMEGA, r"$\Omega h^2 = 0.12$ (freeze-out)", lw=2.2))
    _log_axes(ax, m_chi_range, y_range, r"$m_\chi$ [GeV]", r"$y = \epsilon^2\alpha'(m_\chi/m_{A'})^4$")
    data = {
        "name": "dp_thermal_target",
        "mode": s.mode,
        "mass_ratio": mass_ratio,
        "alpha_dark": alpha_dark,
        "m_chi": m_chi,
        "y": y,
        "epsilon": eps,
        "e_dark": e_dark,
        "omega_h2": omega,
        "status": status,
        "mechanism": mechanism,
        "p_ann": obs["p_ann"],
        "p_ann_limit": float(obs["p_ann_limit"]),
        "cmb_excluded": obs["cmb_excluded"],
        "curves": curves,
        "cmb_edge": edge,
    }
    title = rf"Dark photon thermal target: $m_{{A'}} = {mass_ratio:g}\,m_\chi$, $\alpha' = {alpha_dark:g}$"
    return _finish(
        fig,
        ax,
        handles,
        owns,
        title,
        label="dp-thermal-target",
        resolution=resolution,
        n_grid=s.n_grid,
        modes=("physical",),
        t0=t0,
        data=data,
    )


# ---------------------------------------------------------------------------------------------
# Warm dark matter: the momentum distribution and the Lyman-α verdict (docs/equations.md Part W)
# ---------------------------------------------------------------------------------------------

FIGURE_MOMENTUM_GRID: dict[str, int] = {
    "n_q": 200,
    "n_q_mediator": 300,
    "n_t": 2000,
    "n_t_2to2": 64,
    "n_s": 32,
    "n_a": 200,
}
"""Fields of the :class:`~uvmsm_jax.momentum.MomentumGrid` the Lyman-α figures use (the momentum and decay
grids of W.5 halved, the 2→2 grids a quarter to a third: 18 s against 87 s for the 192 points below,
compilation included, on 2 CPU cores). On the 192 points of
:func:`wdm_line` at 64 masses per line (M_N₁ = 10, 30, 100 keV), m_WDM^eq agrees with the default
grid within 1.9·10⁻⁴ (median 2·10⁻⁵) and f's zeroth moment with the relic yield within 8·10⁻⁴; on
its 384 points at 128 masses per line within 8.2·10⁻⁴ (median 2.0·10⁻⁵; the largest at M_N₁ = 100
keV, M_Z′ = 0.80 MeV), 17 s against 127 s for the default grid. With
a quarter of the decay steps (1 000, the value before 2026-12-05; 15.5 s) m_WDM^eq was 0.5 % off at
worst, and two points of the 100 keV line (M_Z′ ≈ 0.7–0.9 MeV, ⟨q⟩ ≈ 70) failed the 1 % yield check
(status 8) that the default grid passes."""
MOMENTUM_BLOCK = 32
"""The points of one batched momentum call are padded to a multiple of this, the CPU block
(:data:`~uvmsm_jax._batching.CPU_BLOCK`; not imported, this module loads without JAX): a whole number
of :func:`uvmsm_jax.momentum_distribution`'s blocks on CPU, each a call of one compiled size, spread
over the cores (:data:`~uvmsm_jax._batching.MOMENTUM_CHUNK_BLOCKS`)."""
MOMENTUM_RELIC_N_GRID = 128
"""Rate-table nodes (at least) of the Lyman-α figures' relic solutions (:func:`lyman_alpha_settings`):
the ``Settings`` default until 2026-12-06 (now 96), kept so that the lines are unchanged. The
figures' 64-node tables (:data:`FIGURE_N_GRID`) put the yield 1–2 % off near the ρ/ω and φ
(M_Z′ ≈ 0.6–1.3 GeV), more than the 1 % check of
:func:`uvmsm_jax.momentum_distribution` between the relic yield and f's zeroth moment allows (status 8).
Against 256 nodes (the value until 2026-12-05) the lines' couplings moved ≤ 2.1·10⁻⁶ and m_WDM^eq
≤ 1.5·10⁻⁶ at the default resolutions."""
WDM_G_MAX = 1e-5
"""Top of the coupling window of the physical-mode relic grid that locates the freeze-in line of
:func:`fig1a_wdm` when the figure has no physical-mode grid of its own (the line lies below ≈ 3×10⁻⁶)."""
VERDICT_STYLE: dict[str, tuple[str, Any, str]] = {
    "excluded": ("#d62728", "-", "excluded"),
    "marginal": ("#ff9f1c", (0, (3.0, 1.5)), "marginal"),
    "allowed": ("#2ca02c", "-", "allowed"),
    "none": ("0.55", ":", "no f (status ≠ 0)"),
}
"""Lyman-α verdict → (colour, line style, legend text) of the overlay segments."""
WDM_COLOURS = ("#08306b", "#2171b5", "#6baed6", "#9e9ac8", "#54278f")
BOUND_STYLES = ("-", "--", ":", "-.", (0, (5, 1, 1, 1)))


def _verdict_names(margin, status) -> np.ndarray:
    """Verdicts "excluded" | "marginal" | "allowed" from ln(m_WDM^eq/bound) (W.3); "none" where there is no f."""
    from .momentum import lyman_alpha_verdict

    verdict = lyman_alpha_verdict(np.where(np.asarray(status) == 0, margin, np.nan))
    return np.array(["none" if v is None else v for v in verdict.ravel()], dtype=str).reshape(verdict.shape)


def lyman_alpha_settings(settings=None):
    """The :class:`~uvmsm_jax.Settings` of the Lyman-α figures' relic solutions: :func:`figure_settings`
    in physical mode with at least :data:`MOMENTUM_RELIC_N_GRID` rate-table nodes. The line is found and
    f is checked with the same solutions (the figures' 64 nodes put the yield 1–2 % off near the ρ/ω
    and φ)."""
    s = figure_settings("physical", settings)
    return dataclasses.replace(s, n_grid=max(int(s.n_grid), MOMENTUM_RELIC_N_GRID))


def _momentum_points(m_n1, m_zp, g_bl, settings, lya_bound, relic: Mapping[str, np.ndarray] | None = None):
    """Relic solution (``relic``, outputs of :func:`relic_grid` at the points, else :func:`_line_relic`;
    ``settings``, those of :func:`lyman_alpha_settings`) and the momentum distribution
    (:func:`uvmsm_jax.momentum_distribution`, grid :data:`FIGURE_MOMENTUM_GRID`) of UνMSM points, in
    one batched call padded to a multiple of :data:`MOMENTUM_BLOCK` points (memoised). Returns 1-D
    arrays: ``omega_h2``, ``mechanism``, ``mean_q``, ``rms_q``, ``m_wdm_kev`` (W21),
    ``m_wdm_sigma_kev`` (W22), ``lambda_fs_mpc`` (W19), ``lya_margin``, ``status``, ``distribution``
    (name), ``verdict``; ``lya_bound``, ``lya_bound_kev``."""
    from ._batching import pad_rows
    from ._relic import RelicResult
    from .models import UVMSM
    from .momentum import DISTRIBUTIONS, MomentumGrid, momentum_distribution, resolve_lyman_alpha_bound

    arrays = [a.ravel() for a in np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (m_n1, m_zp, g_bl)))]
    n = arrays[0].size
    bound_name, bound_kev = resolve_lyman_alpha_bound(lya_bound)

    def compute():
        keys = ("mean_q", "rms_q", "m_wdm_kev", "m_wdm_sigma_kev", "lambda_fs_mpc", "lya_margin", "status")
        out = {"lya_bound": bound_name, "lya_bound_kev": bound_kev}
        if n == 0:
            out.update({k: np.zeros(0) for k in (*keys, "omega_h2", "mechanism")})
            out.update(distribution=np.zeros(0, dtype=str), verdict=np.zeros(0, dtype=str))
            return out
        size = MOMENTUM_BLOCK * math.ceil(n / MOMENTUM_BLOCK)
        padded = [pad_rows(a, size) for a in arrays]
        if relic is None:
            grid = _line_relic(dict(zip(("m_n1", "m_zp", "g_bl"), padded)), settings)
        else:
            grid = {k: pad_rows(np.asarray(v), size) for k, v in relic.items()}
        result = RelicResult(
            **{k: grid[k] for k in ("omega_h2", "yield_dm", "yield_mediator", "status", "mechanism")},
            **{k: grid[k] for k in ("dm_thermalised", "mediator_thermalised", "t_dec", "x_dec")},
            **{k: grid[k] for k in ("max_dark_rate_over_h", "max_portal_rate_over_h")},
            ode_steps=np.zeros(size, dtype=np.int32),
        )
        d = momentum_distribution(
            UVMSM(*padded),
            settings,
            lya_bound=lya_bound,
            grid=MomentumGrid(**FIGURE_MOMENTUM_GRID),
            relic_result=result,
        )
        out.update({k: np.asarray(getattr(d, k))[:n] for k in keys})
        out["omega_h2"] = grid["omega_h2"][:n]
        out["mechanism"] = grid["mechanism"][:n]
        index = np.asarray(d.distribution)[:n]
        out["distribution"] = np.asarray(DISTRIBUTIONS + ("none",))[index]
        out["verdict"] = _verdict_names(out["lya_margin"], out["status"])
        return out

    return _memo(_key("momentum", _settings_key(settings), bound_name, bound_kev, relic is None, *arrays), compute)


def _crossing_and_slope(coupling, omega, target: float = OMEGA_TARGET) -> tuple[np.ndarray, np.ndarray]:
    """:func:`freeze_in_crossing` and the log slope d ln Ωh²/d ln g of the bracketing grid interval."""
    lg = np.log(np.asarray(coupling, dtype=float))
    g = freeze_in_crossing(coupling, omega, target)
    f = _log_ratio(omega, target)
    slope = np.full(g.shape, np.nan)
    for i, gi in enumerate(g):
        if np.isfinite(gi):
            j = min(max(int(np.searchsorted(lg, math.log(gi))) - 1, 0), lg.size - 2)
            slope[i] = (f[i, j + 1] - f[i, j]) / (lg[j + 1] - lg[j])
    return g, slope


LINE_SLOPE_STEP = 1e-3
"""Step in ln g of the second coupling at which :func:`_freeze_in_line` evaluates each of its points:
the Newton steps' local slope d ln Ωh²/d ln g. With two couplings a mass, the relic batch shares one
rate table per mass and runs in the programs of a grid with the same settings (:func:`fig1a_wdm`'s
overlay grid), where distinct masses would compile a program of their own (9.6 s on 2 CPU cores)."""
LINE_NEWTON_STEPS = 2
"""Newton steps of :func:`_freeze_in_line` from the grid's crossing: Ωh² = 0.12 within 5·10⁻⁸ at
:func:`fig1a_wdm`'s default (the step's slope is the local one)."""


def _freeze_in_line(
    m_n1: float, m_zp, g_axis, omega, settings
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray] | None]:
    """The freeze-in branch of Ωh² = 0.12 of a relic grid ``omega[i_M, i_g]``: per M_Z′ column the
    smallest crossing (log–log interpolation), then :data:`LINE_NEWTON_STEPS` Newton steps in ln g,
    each with the local slope from g and g·e^δ (δ = :data:`LINE_SLOPE_STEP`; the grid interval's
    slope where that one is not positive) and kept only where it brings ln(Ωh²/0.12) closer to 0.
    Returns M_Z′ and g of the columns with a crossing and the outputs of :func:`relic_grid` there
    (``settings``; None without a crossing)."""
    g, grid_slope = _crossing_and_slope(g_axis, omega)
    ok = np.isfinite(g) & np.isfinite(grid_slope) & (grid_slope > 0)
    m, g, slope = np.asarray(m_zp, float)[ok], g[ok], grid_slope[ok]
    if m.size == 0:
        return m, g, None

    def at(g):
        """The relic outputs at (M_Z′, g) and the local slope there."""
        couplings = g[:, None] * np.exp([0.0, LINE_SLOPE_STEP])
        pair = relic_grid("uvmsm", {"m_n1": m_n1, "m_zp": m[:, None], "g_bl": couplings}, settings)
        f = _log_ratio(pair["omega_h2"])
        return {k: v[:, 0] for k, v in pair.items()}, (f[:, 1] - f[:, 0]) / LINE_SLOPE_STEP

    def usable(local, fallback):
        return np.where(np.isfinite(local) & (local > 0), local, fallback)

    out, local = at(g)
    slope = usable(local, slope)
    for _ in range(LINE_NEWTON_STEPS):
        f = _log_ratio(out["omega_h2"])
        with np.errstate(invalid="ignore", divide="ignore"):
            g_new = g * np.exp(-f / slope)
        g_new = np.where(np.isfinite(g_new) & (g_new > 0), g_new, g)
        new, local = at(g_new)
        better = np.isfinite(new["omega_h2"]) & ~(np.abs(_log_ratio(new["omega_h2"])) > np.abs(f))
        g, slope = np.where(better, g_new, g), np.where(better, usable(local, slope), slope)
        out = {k: np.where(better, new[k], v) for k, v in out.items()}
    return m, g, out


def _margin_breaks(m0: float, m1: float) -> list[float]:
    """Fractions t ∈ (0, 1) where a margin linear from m0 to m1 crosses ±MARGINAL_BAND."""
    from .momentum import MARGINAL_BAND

    out = []
    for level in (-MARGINAL_BAND, MARGINAL_BAND):
        if (m0 - level) * (m1 - level) < 0:
            out.append((level - m0) / (m1 - m0))
    return sorted(out)


def _draw_verdict_line(ax, x, y, margin, verdict, connect, lw: float = 3.0, zorder: int = 7) -> set[str]:
    """The polyline (x[i], y[i]) coloured by the Lyman-α verdict (:data:`VERDICT_STYLE`), with the margin
    linear in ln x between neighbours ``i``, ``i + 1`` where ``connect[i]``; a segment is split where
    the margin crosses ±0.15 (W.3), and drawn as "none" if an end has no f. Returns the verdicts drawn."""
    from .momentum import MARGINAL_BAND

    drawn: set[str] = set()
    lx, ly = np.log(np.asarray(x, float)), np.log(np.asarray(y, float))
    for i in range(len(lx) - 1):
        if not connect[i]:
            continue
        ends_ok = verdict[i] != "none" and verdict[i + 1] != "none"
        breaks = [0.0, *(_margin_breaks(margin[i], margin[i + 1]) if ends_ok else []), 1.0]
        for t0, t1 in zip(breaks[:-1], breaks[1:]):
            if ends_ok:
                mid = margin[i] + 0.5 * (t0 + t1) * (margin[i + 1] - margin[i])
                kind = "excluded" if mid < -MARGINAL_BAND else "allowed" if mid > MARGINAL_BAND else "marginal"
            else:
                kind = "none"
            colour, ls, _ = VERDICT_STYLE[kind]
            ts = np.array([t0, t1])
            ax.plot(
                np.exp(lx[i] + ts * (lx[i + 1] - lx[i])),
                np.exp(ly[i] + ts * (ly[i + 1] - ly[i])),
                color=colour,
                ls=ls,
                lw=lw,
                solid_capstyle="butt",
                path_effects=_outline(lw + 1.5),
                zorder=zorder,
            )
            drawn.add(kind)
    for kind in VERDICT_STYLE:
        sel = np.asarray(verdict) == kind
        if sel.any():
            ax.plot(
                np.asarray(x)[sel],
                np.asarray(y)[sel],
                "o",
                ms=3.2,
                color=VERDICT_STYLE[kind][0],
                mec="white",
                mew=0.6,
                zorder=zorder + 1,
            )
            drawn.add(kind)
    return drawn


def _wdm_overlay(ax, m_n1, m_zp, g_axis, omegas, g_range, resolution, settings, lya_bound) -> dict[str, Any]:
    """Lyman-α verdict along the physical-mode freeze-in line of Fig. 1a (see :func:`fig1a_wdm`);
    returns the overlay's data with its legend ``handles``."""
    t0 = time.perf_counter()
    s = lyman_alpha_settings(settings)
    if "physical" in omegas:
        line_g, omega = g_axis, omegas["physical"]
    else:
        hi = min(g_range[1], WDM_G_MAX)
        line_g = np.geomspace(
            g_range[0], hi if hi > g_range[0] else g_range[1], max(6, resolution // BAND_COUPLINGS_PER_MASS)
        )
        omega = relic_grid("uvmsm", {"m_n1": m_n1, "m_zp": m_zp[:, None], "g_bl": line_g[None, :]}, s)["omega_h2"]
    m, g, line = _freeze_in_line(m_n1, m_zp, line_g, omega, s)
    points = _momentum_points(m_n1, m, g, s, lya_bound, line)
    critical = 2.0 * m_n1
    column = np.searchsorted(np.asarray(m_zp, float), m)
    connect = (np.diff(column) == 1) & ((m[:-1] > critical) == (m[1:] > critical))
    drawn = _draw_verdict_line(ax, m, g, points["lya_margin"], points["verdict"], connect)
    bound = points["lya_bound_kev"]
    from .momentum import MARGINAL_BAND

    lo, hi = bound * math.exp(-MARGINAL_BAND), bound * math.exp(MARGINAL_BAND)
    ranges = {
        "excluded": rf"$m_{{\rm WDM}}^{{\rm eq}}$ < {lo:.2g} keV",
        "marginal": f"{lo:.2g}–{hi:.2g} keV",
        "allowed": rf"> {hi:.2g} keV",
        "none": "",
    }
    name = points["lya_bound"]
    handles = [
        _proxy_line(
            "none",
            rf"Lyman-$\alpha$ verdict (W21), bound {bound:g} keV ({name}),"
            + "\n"
            + r"on the physical-mode $\Omega h^2=0.12$ freeze-in line:",
        )
    ]
    for kind, (colour, ls, text) in VERDICT_STYLE.items():
        if kind in drawn or kind != "none":
            label = f"{text} ({ranges[kind]})" if ranges[kind] else text
            handles.append(_proxy_line(colour, label, ls=ls, lw=3.0, marker="o", ms=3.2, mec="white"))
    data: dict[str, Any] = {
        "mode": "physical",
        "m_zp": m,
        "g_bl": g,
        **points,
        "verdict_counts": {k: int(np.sum(points["verdict"] == k)) for k in VERDICT_STYLE},
        "seconds": time.perf_counter() - t0,
        "handles": handles,
    }
    return data


def fig1a_wdm(
    ax=None,
    resolution: int = DEFAULT_RESOLUTION["fig1a_wdm"],
    mode: str = "paper",
    *,
    m_n1: float = 1e-5,
    m_zp_range: tuple[float, float] = (1e-6, 1e3),
    g_range: tuple[float, float] = (1e-13, 1.0),
    settings=None,
    regime_factor: int = 2,
    lya_bound: str | float = "irsic2017",
):
    """P1 Fig. 1a (:func:`fig1a`, drawn in ``mode``) with the Lyman-α verdict along the Ωh² = 0.12
    freeze-in line (docs/equations.md Part W).

    The line is the freeze-in branch (smallest coupling at each M_Z′ column, off resonance for
    M_Z′ < 2M_N₁ and resonant above) of Ωh² = 0.12 in **physical** mode — always, whatever ``mode``
    draws the regimes and the blue curves: the momentum distribution needs the Z′ decays (out of
    equilibrium on the resonant line, (W10)–(W11), K50), which P1's paper mode replaces by its pole
    bookkeeping. Its crossings come from the figure's physical-mode relic grid (``mode="physical"``
    or ``"both"``), else from a physical-mode grid over the same M_Z′ and g ∈ [g_min, 10⁻⁵]
    (``resolution``/:data:`BAND_COUPLINGS_PER_MASS` points); Newton steps in ln g with the local slope
    then put Ωh² at 0.12 (to ≤ 10⁻⁷ at the default resolution) on the relic solutions of
    :func:`lyman_alpha_settings` (≥ 128 rate-table nodes), which f's yield is checked against. On
    those points one batched :func:`uvmsm_jax.momentum_distribution` call gives the equivalent
    thermal-WDM mass m_WDM^eq by ⟨q⟩ matching (W21) and the margin ln(m_WDM^eq/bound) for
    ``lya_bound`` (a name of :data:`uvmsm_jax.LYMAN_ALPHA_BOUNDS` or keV; default 5.3 keV): red
    excluded (margin < −0.15), orange dashed marginal, green allowed (> 0.15), gray dotted no f
    (non-zero status); the margin is interpolated linearly in ln M_Z′ between the points.

    ``figure_data``: that of :func:`fig1a` with ``name = "fig1a_wdm"`` and ``wdm``: ``m_zp``, ``g_bl``
    of the line points, ``omega_h2`` (there, :func:`lyman_alpha_settings`), ``mean_q``, ``rms_q``,
    ``m_wdm_kev`` (W21), ``m_wdm_sigma_kev`` (W22), ``lambda_fs_mpc`` (W19) [Mpc], ``lya_margin``, ``verdict``, ``status``, ``distribution``,
    ``mechanism``, ``lya_bound``, ``lya_bound_kev``, ``verdict_counts``, ``seconds``.
    """
    return _fig1a(ax, resolution, mode, m_n1, m_zp_range, g_range, settings, regime_factor, lya_bound)


def _margin_zero_crossings(x, margin) -> list[float]:
    """x where the margin changes sign between neighbours (linear in ln x)."""
    out = []
    for i in range(len(x) - 1):
        a, b = margin[i], margin[i + 1]
        if np.isfinite(a) and np.isfinite(b) and a * b < 0:
            t = a / (a - b)
            out.append(float(math.exp(math.log(x[i]) + t * (math.log(x[i + 1]) - math.log(x[i])))))
    return out


def wdm_line(
    ax=None,
    resolution: int = DEFAULT_RESOLUTION["wdm_line"],
    mode: str = "physical",
    *,
    m_n1_values: Sequence[float] = (1e-5, 3e-5, 1e-4),
    m_zp_range: tuple[float, float] = (1e-5, 1e3),
    coupling_range: tuple[float, float] = (1e-14, 1e-6),
    n_coarse: int = 17,
    lya_bound: str | float = "irsic2017",
    bounds: Sequence[str] | None = None,
    settings=None,
):
    """The equivalent thermal-WDM mass m_WDM^eq (W21) along the resonant freeze-in line Ωh² = 0.12
    versus M_Z′, for each M_N₁ in ``m_n1_values`` [GeV] (10, 30, 100 keV; docs/equations.md Part W).

    For each M_N₁, :func:`uvmsm_jax.contour` (``method="secant"``, ``n_coarse`` bracketing points in
    ``coupling_range``) solves Ωh²(g_B−L) = 0.12 at ``resolution`` masses M_Z′ ∈ [2.1 M_N₁, max] and
    the smallest-coupling root (the freeze-in branch, branch 0) is kept; then one batched
    :func:`uvmsm_jax.momentum_distribution` call on all the points gives ⟨q⟩ and m_WDM^eq by ⟨q⟩
    matching (W21, solid, with dots) and by velocity-dispersion matching (W22, thin dashed) [keV].
    Horizontal lines: the Lyman-α bounds of :data:`uvmsm_jax.LYMAN_ALPHA_BOUNDS` (names in ``bounds``,
    default all, W.3); shaded: the marginal band ±15 % (margin |ln(m/bound)| < 0.15) of ``lya_bound``
    (default 5.3 keV), which also decides the verdicts in ``figure_data``. Always the physical mode
    (``Settings.mode = "physical"``, also when ``settings`` are given; the ``mode`` argument is ignored):
    the f of the out-of-equilibrium Z′ needs its decays (K50).

    A point where :func:`uvmsm_jax.momentum_distribution` returns no f (non-zero ``status``) leaves a gap.
    The contours and the relic solutions that f is checked against use :func:`lyman_alpha_settings`
    (≥ :data:`MOMENTUM_RELIC_N_GRID` rate-table nodes).

    ``figure_data``: ``m_n1_values``, ``bounds`` (name → keV), and per M_N₁ (keys of ``lines``):
    ``m_zp``, ``g_bl``, ``omega_h2``, ``mechanism``, ``mean_q``, ``rms_q``, ``m_wdm_kev``,
    ``m_wdm_sigma_kev``, ``lambda_fs_mpc``, ``lya_margin``, ``verdict``, ``status``, ``distribution``,
    ``margin_zero`` (M_Z′ where m_WDM^eq crosses the bound), ``no_solution`` (masses without a root).
    """
    resolution, _ = _check_common(resolution, mode)
    from .momentum import LYMAN_ALPHA_BOUNDS, MARGINAL_BAND, resolve_lyman_alpha_bound

    try:
        m_n1_values = tuple(float(m) for m in m_n1_values)
    except (TypeError, ValueError):
        raise ValueError(f"m_n1_values must be a sequence of positive masses, got {m_n1_values!r}") from None
    if not m_n1_values:
        raise ValueError("m_n1_values must not be empty")
    for m in m_n1_values:
        _positive("m_n1_values", m)
    m_zp_range = _log_range("m_zp_range", m_zp_range)
    coupling_range = _log_range("coupling_range", coupling_range)
    if isinstance(n_coarse, bool) or not isinstance(n_coarse, (int, np.integer)) or n_coarse < 4:
        raise ValueError(f"n_coarse must be an integer ≥ 4, got {n_coarse!r}")
    bound_name, bound_kev = resolve_lyman_alpha_bound(lya_bound)
    names = tuple(LYMAN_ALPHA_BOUNDS) if bounds is None else tuple(bounds)
    unknown_bounds = [b for b in names if b not in LYMAN_ALPHA_BOUNDS]
    if unknown_bounds:
        raise ValueError(f"bounds must be names of {', '.join(LYMAN_ALPHA_BOUNDS)}, got {unknown_bounds!r}")
    from ._contour import contour

    t0 = time.perf_counter()
    s = lyman_alpha_settings(settings)
    fig, ax, owns = _new_axes(ax)
    rows: list[tuple[int, float, float]] = []
    no_solution: dict[float, list[float]] = {}
    for k, m_n1 in enumerate(m_n1_values):
        lo = max(m_zp_range[0], 2.1 * m_n1)
        if lo >= m_zp_range[1]:
            no_solution[m_n1] = []
            continue
        masses = np.geomspace(lo, m_zp_range[1], resolution)

        def solve(m_n1=m_n1, masses=masses):
            return contour(
                "uvmsm",
                masses,
                fixed={"m_n1": m_n1},
                settings=s,
                method="secant",
                coupling_range=coupling_range,
                n_coarse=n_coarse,
            )

        c = _memo(_key("contour", m_n1, masses, _settings_key(s), coupling_range, n_coarse), solve)
        first: dict[float, float] = {}
        for p in c.points:  # sorted by mass, then coupling: the first good root is the freeze-in branch
            if p["status"] == 0 and p["m_zp"] not in first:
                first[p["m_zp"]] = p["g_bl"]
        no_solution[m_n1] = [float(x) for x in masses if x not in first]
        rows += [(k, m_zp, g) for m_zp, g in sorted(first.items())]
    index = np.asarray([r[0] for r in rows], dtype=int)
    m_n1_points = np.asarray([m_n1_values[r[0]] for r in rows])
    m_zp_points = np.asarray([r[1] for r in rows])
    g_points = np.asarray([r[2] for r in rows])
    points = _momentum_points(m_n1_points, m_zp_points, g_points, s, lya_bound)

    handles = []
    bound_values = {b: LYMAN_ALPHA_BOUNDS[b] for b in names}
    ax.axhspan(bound_kev * math.exp(-MARGINAL_BAND), bound_kev * math.exp(MARGINAL_BAND), color="0.88", zorder=0, lw=0)
    for j, (b, kev) in enumerate(sorted(bound_values.items(), key=lambda item: -item[1])):
        ls = BOUND_STYLES[j % len(BOUND_STYLES)]
        ax.axhline(kev, color="0.25", ls=ls, lw=1.1, zorder=2)
        handles.append(_proxy_line("0.25", f"{kev:g} keV ({b}{', default' if b == 'irsic2017' else ''})", ls=ls))
        if b in ("irsic2017", "villasenor2023"):
            ax.text(m_zp_range[0] * 1.2, kev / 1.03, f"{kev:g} keV", ha="left", va="top", fontsize=7, color="0.25")
    handles.append(
        _proxy_patch("0.88", f"marginal band ±15 % of {bound_kev:g} keV ({bound_name}): the verdict", edgecolor="0.7")
    )
    lines: dict[float, dict[str, Any]] = {}
    for k, m_n1 in enumerate(m_n1_values):
        sel = index == k
        colour = WDM_COLOURS[k % len(WDM_COLOURS)]
        line = {key: (value[sel] if isinstance(value, np.ndarray) else value) for key, value in points.items()}
        line.update(m_zp=m_zp_points[sel], g_bl=g_points[sel], no_solution=no_solution[m_n1])
        line["margin_zero"] = _margin_zero_crossings(line["m_zp"], line["lya_margin"])
        lines[m_n1] = line
        ok = line["status"] == 0
        x = line["m_zp"]
        ax.plot(x, np.where(ok, line["m_wdm_kev"], np.nan), "o-", color=colour, lw=1.8, ms=3.5, zorder=6)
        ax.plot(x, np.where(ok, line["m_wdm_sigma_kev"], np.nan), "--", color=colour, lw=0.9, zorder=5)
        mass = f"{m_n1 * 1e6:.3g} keV" if m_n1 < 1e-3 else f"{m_n1 * 1e3:.3g} MeV"
        handles.append(_proxy_line(colour, rf"$M_{{N_1}}$ = {mass}", lw=1.8, marker="o", ms=3.5))
    handles.append(
        _proxy_line(
            "0.3", r"solid: $\langle q\rangle$ matching (W21); dashed: $\sigma$ matching (W22)", lw=0.9, ls="--"
        )
    )
    if np.any(points["status"] != 0):
        handles.append(_proxy_line("none", "gaps: no f at that point (status ≠ 0)"))
    finite = np.concatenate([points["m_wdm_kev"], points["m_wdm_sigma_kev"], [min(bound_values.values(), default=1.0)]])
    finite = finite[np.isfinite(finite) & (finite > 0)]
    y_lo = 10.0 ** math.floor(math.log10(min(finite.min(), 0.9 * min(bound_values.values(), default=bound_kev))))
    y_hi = 10.0 ** math.ceil(math.log10(max(finite.max(), 1.2 * max(bound_values.values(), default=bound_kev))))
    _log_axes(ax, m_zp_range, (y_lo, y_hi), M_ZP_LABEL, r"$m_{\rm WDM}^{\rm eq}$ [keV]")
    data = {
        "name": "wdm_line",
        "mode": s.mode,
        "m_n1_values": m_n1_values,
        "bounds": bound_values,
        "lya_bound": bound_name,
        "lya_bound_kev": bound_kev,
        "lines": lines,
    }
    title = r"$m_{\rm WDM}^{\rm eq}$ (W21) along the resonant freeze-in line $\Omega h^2 = 0.12$ (physical mode)"
    return _finish(
        fig,
        ax,
        handles,
        owns,
        title,
        label="wdm-line",
        resolution=resolution,
        n_grid=s.n_grid,
        grid=f"{resolution} masses per line",
        modes=("physical",),
        t0=t0,
        data=data,
    )


# ---------------------------------------------------------------------------------------------
# Registry and command line
# ---------------------------------------------------------------------------------------------

FIGURES: dict[str, Callable] = {
    "fig1a": fig1a,
    "fig1b": fig1b,
    "fig2a": fig2a,
    "fig2b": fig2b,
    "fig3a": fig3a,
    "fig3b": fig3b,
    "p2_fig1": p2_fig1,
    "p2_fig3": p2_fig3,
    "dp_regimes": dp_regimes,
    "dp_thermal_target": dp_thermal_target,
    "fig1a_wdm": fig1a_wdm,
    "wdm_line": wdm_line,
}
"""Figure name → function (the CLI also accepts ``p2-fig1``, ``dp-regimes``, … with hyphens)."""


def canonical_name(name: str) -> str:
    key = str(name).strip().lower().replace("-", "_")
    if key not in FIGURES:
        raise ValueError(f"unknown figure {name!r}; choose one of: {', '.join(n.replace('_', '-') for n in FIGURES)}")
    return key


def make_figure(
    name: str,
    out: str | os.PathLike | None = None,
    *,
    resolution: int | None = None,
    mode: str = "paper",
    dpi: int = 150,
    **kwargs,
):
    """Draw figure ``name`` (``fig1a`` … ``p2-fig3``) and save it to ``out`` (PNG or PDF by
    extension) when given; returns the Figure."""
    key = canonical_name(name)
    if out is not None:
        ext = os.path.splitext(os.fspath(out))[1].lower()
        if ext not in (".png", ".pdf"):
            raise ValueError(f"--out must end in .png or .pdf, got {os.fspath(out)!r}")
    fig = FIGURES[key](resolution=DEFAULT_RESOLUTION[key] if resolution is None else resolution, mode=mode, **kwargs)
    if out is not None:
        directory = os.path.dirname(os.fspath(out))
        if directory:
            os.makedirs(directory, exist_ok=True)
        fig.savefig(out, dpi=dpi, bbox_inches="tight")
    return fig


def flatten_figure_data(data: Mapping[str, Any], prefix: str = "") -> dict[str, np.ndarray]:
    """``fig.figure_data`` as a flat ``{"key/sub/...": array}`` dict (for ``np.savez``)."""
    out: dict[str, np.ndarray] = {}
    for key, value in data.items():
        name = f"{prefix}{key if not isinstance(key, tuple) else ','.join(map(str, key))}"
        if isinstance(value, Mapping):
            out.update(flatten_figure_data(value, name + "/"))
        elif isinstance(value, (list, tuple)) and any(isinstance(v, (np.ndarray, list, tuple)) for v in value):
            for i, v in enumerate(value):
                if isinstance(v, Mapping):
                    out.update(flatten_figure_data(v, f"{name}/{i}/"))
                else:
                    out[f"{name}/{i}"] = np.asarray(v, dtype=float)
        elif value is not None:
            out[name] = np.asarray(value)
    return out
