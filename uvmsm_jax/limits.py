"""Published limit curves, projections and computed bounds (docs/equations.md Part F).

Two planes, by the mediator's SM current (``ModelSpec.current``): ``model="dark-photon"`` (m_A′ [GeV], ε) and
``model="uvmsm"`` (M_Z′ [GeV], g_BL); any alias of the registry (:mod:`uvmsm_jax.models`) is accepted.

>>> from uvmsm_jax import limits
>>> limits.available("uvmsm")[:3]                      # names, e.g. "darkcast/BaBar_Lees2014xha"
>>> curve = limits.load("uvmsm", "darkcast/BaBar_Lees2014xha")
>>> curve.mass, curve.lower, curve.upper, curve.citation, curve.licence

Name prefixes:

* ``darkcast/<stem>``        DarkCast v1.2 limits (GPL-2.0-or-later data; ε or g_BL recast by DarkCast
  at the level of the event count — the right choice for displaced / beam-dump searches).
* ``darkcast-reach/<stem>``  DarkCast projections (SHiP, FASER, Belle II, ...).
* ``foresee/<stem>``         FORESEE lines (MIT): B−L ν–e scattering (Borexino, TEXONO, CHARM-II),
  NA64 invisible, dark-photon SN1987A, a relic target line.
* ``darkmatterlive/<stem>``  DarkMatterLive (Apache-2.0): dark-photon SN1987A, SHiP 2025 projection.
* ``recast/<stem>``          (uvmsm only) a dark-photon DarkCast curve rescaled to B−L by the simple
  rule of docs/equations.md F.1, g = e·ε·sqrt(BR_A′(F)/BR_Z′(F)) — :func:`recast_to_b_minus_l`.
* ``nutev``, ``lep-contact`` (uvmsm only) computed lines M/g > 0.4 TeV (M > 10 GeV) and
  M/g > 6 TeV (contact interaction, valid for M ≫ 209 GeV) — :func:`nutev_bound`,
  :func:`lep_contact_bound`.

A bare stem (e.g. ``"BaBar_Lees2014xha"``) is accepted when it is unambiguous.

Conventions of :class:`LimitCurve`: couplings with ``lower < c < upper`` are excluded; a
one-sided limit has ``upper = +inf``; NaN in ``lower``/``upper`` marks masses with no exclusion
(the DarkCast sentinel 1e5 and the FORESEE closing rows become NaN). Data files are read with
NumPy; a missing file raises ``FileNotFoundError`` and a malformed one ``ValueError``, both naming
the file.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import importlib.resources
from pathlib import Path

import numpy as np

from . import constants as c
from ._programs import filter_jit
from .hadrons import sm_width_unit
from .models import MODELS, model_spec

SENTINEL_MIN = 1e3
"""Couplings at or above this value are "no exclusion" markers (DarkCast 1e5, FORESEE 1e4–1e7)."""

NUTEV_MASS_OVER_COUPLING = 400.0
"""NuTeV: M_Z′/g_BL > 0.4 TeV for M_Z′ > 10 GeV (docs/equations.md F.1, E1.19), GeV."""
NUTEV_MIN_MASS = 10.0
"""Lower end of the NuTeV line's validity [GeV]."""
LEP_CONTACT_MASS_OVER_COUPLING = 6000.0
"""LEP contact interaction: M_Z′/g_BL ≳ 6 TeV (Carena et al., hep-ph/0408098; docs/equations.md F.1), GeV."""
LEP_SQRT_S = 209.0
"""Highest LEP energy [GeV]; the contact bound needs M_Z′ ≫ √s."""

_CURRENT_DIRS = {
    "em": {
        "darkcast": "dark_photon",
        "darkcast-reach": "reach_dark_photon",
        "foresee": "dark_photon",
        "darkmatterlive": "dark_photon",
    },
    "b-l": {"darkcast": "B-L_boson", "darkcast-reach": "reach_B-L_boson", "foresee": "B-L_boson"},
}
"""Data folders of each source by the mediator's SM current (``ModelSpec.current``)."""
_SOURCE_FOLDER = {
    "darkcast": "darkcast",
    "darkcast-reach": "darkcast",
    "foresee": "foresee",
    "darkmatterlive": "darkmatterlive",
}
_EXTENSIONS = {"darkcast": ".lmt", "darkcast-reach": ".lmt", "foresee": ".txt", "darkmatterlive": ".csv"}
_LICENCES = {
    "darkcast": "GPL-2.0-or-later (DarkCast data, © 2021 P. Ilten, Y. Soreq, M. Williams, W. Xue)",
    "foresee": "MIT (FORESEE, © 2020 F. Kling and S. Trojanowski)",
    "darkmatterlive": "Apache-2.0 (NewPhysicsLive/DarkMatterLive)",
}
_DARKCAST_CITE = "recast by DarkCast: P. Ilten, Y. Soreq, M. Williams, W. Xue, JHEP 06 (2018) 004, arXiv:1801.04847"
_FORESEE_CITES = {
    "bounds_Borexino": (
        "Borexino ν–e scattering; Harnik, Kopp, Machado, JCAP 07 (2012) 026, arXiv:1202.6073 "
        "(compiled by Bauer, Foldenauer, Jaeckel, JHEP 07 (2018) 094, arXiv:1803.05466) "
        "[origin not stated by FORESEE]"
    ),
    "bounds_Texono": (
        "TEXONO ν–e scattering; Bilmis et al., PRD 92 (2015) 033009, arXiv:1502.07763 [origin not stated by FORESEE]"
    ),
    "bounds_CHARM-II": (
        "CHARM-II ν–e scattering; Bilmis et al., PRD 92 (2015) 033009, arXiv:1502.07763 [origin not stated by FORESEE]"
    ),
    "bounds_NA64_inv_new": "NA64 invisible search recast to B−L [origin not stated by FORESEE]",
    "bounds_SN": (
        "SN1987A cooling; J.H. Chang, R. Essig, S.D. McDermott, JHEP 01 (2017) 107, arXiv:1611.03864 "
        "[origin not stated by FORESEE]"
    ),
    "scalar_DM_Oh2_intermediate_eps_vs_mAprime": (
        "thermal-relic target of complex scalar DM (m_χ = 0.6 m_A′, α_D = 0.1), FORESEE — not a limit"
    ),
}
_FORESEE_CONTOURS = {"bounds_SN"}
_DML_CITES = {
    "SN1987A": "SN1987A; J.H. Chang, R. Essig, S.D. McDermott, JHEP 01 (2017) 107, arXiv:1611.03864",
    "SHiP_rescaled": "SHiP Collaboration, arXiv:2504.06692 (2025) projection (√ of the published ε² curve, DarkMatterLive)",
}
_DARKCAST_SQRT_EPSILON_FILES = {f"SHiP_Ahdida2020new_meson_{x}" for x in ("pi0", "eta", "etap", "omega")}
"""DarkCast projection files whose numbers are √ε (see data/limits/darkcast/README.md); squared on load."""


@dataclasses.dataclass(frozen=True)
class LimitCurve:
    """One limit curve in the (mass, coupling) plane.

    mass [GeV], lower, upper: NumPy arrays (same length); couplings strictly between ``lower`` and
    ``upper`` are excluded (``upper = inf`` for one-sided limits, NaN = no exclusion at that mass).
    coupling: the model's SM coupling field (``ModelSpec.sm_coupling``): "epsilon" or "g_bl". kind: "limit", "projection", "computed", "recast", "target".
    citation: the original publication(s) to cite. licence: licence of the data. source: packaged
    file (relative to ``uvmsm_jax/data/limits``) or a description. contour: the raw closed contour
    (n×2: mass, coupling) for curves given as contours, else ``None``.
    """

    name: str
    model: str
    coupling: str
    mass: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    kind: str
    two_sided: bool
    citation: str
    licence: str
    source: str
    notes: str = ""
    contour: np.ndarray | None = None

    def interpolate(self, mass) -> tuple[np.ndarray, np.ndarray]:
        """(lower, upper) at ``mass`` [GeV], linear in log–log between tabulated points.

        NaN outside the tabulated range and wherever a neighbouring point has no exclusion.
        """
        mass = np.asarray(mass, dtype=float)
        return _interp_loglog(self.mass, self.lower, mass), _interp_loglog(self.mass, self.upper, mass)

    def excluded(self, mass, coupling) -> np.ndarray:
        """Boolean array: is (mass [GeV], coupling) inside the excluded region? (broadcasts)."""
        mass, coupling = np.broadcast_arrays(np.asarray(mass, float), np.asarray(coupling, float))
        lower, upper = self.interpolate(mass)
        with np.errstate(invalid="ignore"):
            return np.isfinite(lower) & (coupling > lower) & (coupling < upper)


def _interp_loglog(x, y, xq):
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    out = np.full(np.shape(xq), np.nan)
    if x.size == 0:
        return out
    lx, lxq = np.log(x), np.log(np.asarray(xq, float))
    inf = np.isposinf(y)
    with np.errstate(divide="ignore", invalid="ignore"):
        ly = np.where(np.isfinite(y) & (y > 0), np.log(np.where(y > 0, y, 1.0)), np.nan)
    idx = np.clip(np.searchsorted(lx, lxq, side="right") - 1, 0, max(x.size - 2, 0))
    if x.size == 1:
        hit = lxq == lx[0]
        out[hit] = y[0]
        return out
    x0, x1 = lx[idx], lx[idx + 1]
    inside = (lxq >= lx[0]) & (lxq <= lx[-1])
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(x1 > x0, (lxq - x0) / (x1 - x0), 0.0)
        val = np.exp(ly[idx] + t * (ly[idx + 1] - ly[idx]))
    both_inf = inf[idx] & inf[idx + 1]
    val = np.where(both_inf, np.inf, val)
    out = np.where(inside, val, np.nan)
    return out


# --- file readers ---------------------------------------------------------------------------------


def _read_numeric_rows(path: Path, *, delimiter: str | None, skip_header: str | None = None):
    """Rows of floats from a text file; ``ValueError`` naming the file and line on bad content."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"limit curve file not found: {path}")
    rows: list[list[float]] = []
    with path.open("r", encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            if skip_header is not None and number == 1 and text.replace(" ", "") == skip_header:
                continue
            fields = text.split(delimiter) if delimiter else text.split()
            try:
                values = [float(f) for f in fields]
            except ValueError:
                raise ValueError(f"malformed limit curve file {path}: line {number} is not numeric: {text!r}") from None
            if rows and len(values) != len(rows[0]):
                raise ValueError(
                    f"malformed limit curve file {path}: line {number} has {len(values)} columns, "
                    f"expected {len(rows[0])}"
                )
            rows.append(values)
    if not rows:
        return np.zeros((0, 2))
    table = np.asarray(rows, dtype=float)
    if table.shape[1] not in (2, 3):
        raise ValueError(
            f"malformed limit curve file {path}: expected 2 or 3 columns (mass, lower[, upper]), got {table.shape[1]}"
        )
    if not np.all(np.isfinite(table)):
        raise ValueError(f"malformed limit curve file {path}: non-finite value")
    if np.any(table[:, 0] <= 0) or np.any(table[:, 1:] <= 0):
        raise ValueError(f"malformed limit curve file {path}: masses and couplings must be positive")
    return table


def _mask_sentinels(lower, upper):
    no_limit = (lower >= SENTINEL_MIN) | (np.isfinite(upper) & (upper >= SENTINEL_MIN))
    return np.where(no_limit, np.nan, lower), np.where(no_limit, np.nan, upper)


def read_lmt(path) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """Read a DarkCast ``.lmt`` file → (mass, lower, upper, two_sided).

    2 columns: one-sided (``upper = inf``); 3 columns: two-sided. Sentinel rows (≥ 1e3, DarkCast
    uses 1e5) become NaN. An empty file (or header only) gives empty arrays.
    """
    table = _read_numeric_rows(Path(path), delimiter=None)
    if table.shape[0] > 1 and np.any(np.diff(table[:, 0]) < 0):
        raise ValueError(f"malformed limit curve file {path}: masses are not sorted")
    two_sided = table.shape[1] == 3
    mass = table[:, 0]
    lower = table[:, 1]
    upper = table[:, 2] if two_sided else np.full_like(lower, np.inf)
    lower, upper = _mask_sentinels(lower, upper)
    return mass, lower, upper, two_sided


def split_contour(points) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split a closed contour (n×2: mass, coupling) into (mass, lower, upper) on one mass grid.

    The contour is cut at its smallest and largest mass; the branch with the smaller median
    coupling is the lower edge. Both branches are interpolated (log–log) onto the union of their
    masses.
    """
    points = np.asarray(points, float)
    i_min, i_max = int(np.argmin(points[:, 0])), int(np.argmax(points[:, 0]))
    n = len(points)
    order_a = [(i_min + k) % n for k in range(((i_max - i_min) % n) + 1)]
    order_b = [(i_max + k) % n for k in range(((i_min - i_max) % n) + 1)]
    branches = []
    for order in (order_a, order_b):
        branch = points[order]
        branch = branch[np.argsort(branch[:, 0], kind="stable")]
        branches.append(branch)
    branches.sort(key=lambda b: np.median(np.log(b[:, 1])))
    grid = np.unique(np.concatenate([b[:, 0] for b in branches]))
    lower = np.exp(np.interp(np.log(grid), np.log(branches[0][:, 0]), np.log(branches[0][:, 1])))
    upper = np.exp(np.interp(np.log(grid), np.log(branches[1][:, 0]), np.log(branches[1][:, 1])))
    return grid, lower, upper


def read_foresee(path, *, contour: bool = False):
    """Read a FORESEE ``.txt`` line → (mass, lower, upper, raw_points).

    One-sided (couplings above excluded, ``upper = inf``); sentinel rows (≥ 1e3) are dropped and
    trailing rows that run back in mass (curve-closing points) are removed. ``contour=True``
    treats the file as a closed contour (:func:`split_contour`).
    """
    table = _read_numeric_rows(Path(path), delimiter=None)
    if table.shape[1] != 2:
        raise ValueError(f"malformed limit curve file {path}: expected 2 columns (mass, coupling)")
    points = table[table[:, 1] < SENTINEL_MIN]
    if points.shape[0] < 2:
        raise ValueError(f"malformed limit curve file {path}: fewer than two points")
    if contour:
        mass, lower, upper = split_contour(points)
        return mass, lower, upper, points
    keep = len(points)
    while keep > 2 and points[keep - 1, 0] < points[keep - 2, 0]:
        keep -= 1
    line = points[:keep]
    if np.any(np.diff(line[:, 0]) < 0):
        raise ValueError(f"malformed limit curve file {path}: masses are not sorted")
    return line[:, 0], line[:, 1], np.full(keep, np.inf), points


def read_contour_csv(path):
    """Read a DarkMatterLive ``x,y`` closed contour → (mass, lower, upper, raw_points)."""
    table = _read_numeric_rows(Path(path), delimiter=",", skip_header="x,y")
    if table.shape[1] != 2 or table.shape[0] < 3:
        raise ValueError(f"malformed limit curve file {path}: expected an x,y contour with ≥ 3 points")
    mass, lower, upper = split_contour(table)
    return mass, lower, upper, table


# --- catalogue --------------------------------------------------------------------------------------


def _canonical_model(model) -> str:
    """The registry name of ``model`` (any alias, class or instance; ``ValueError`` otherwise)."""
    return model_spec(model).name


def _model_of_current(current: str) -> str:
    """The first registered model whose mediator couples to ``current`` (the plane of its limit files)."""
    return next(name for name, spec in MODELS.items() if spec.current == current)


def data_root() -> Path:
    """Folder of the packaged limit curves (``uvmsm_jax/data/limits``)."""
    return Path(str(importlib.resources.files("uvmsm_jax").joinpath("data", "limits")))


@functools.cache
def darkcast_index() -> dict[tuple[str, str], dict[str, str]]:
    """Rows of ``darkcast/darkcast_limits_index.csv`` keyed by (directory, file stem)."""
    path = data_root() / "darkcast" / "darkcast_limits_index.csv"
    if not path.is_file():
        raise FileNotFoundError(f"limit curve index not found: {path}")
    with path.open("r", encoding="utf-8") as handle:
        return {(row["directory"], Path(row["file"]).stem): row for row in csv.DictReader(handle)}


def _packaged_names(model: str) -> list[str]:
    names = []
    root = data_root()
    for prefix, sub in _CURRENT_DIRS[model_spec(model).current].items():
        folder = root / _SOURCE_FOLDER[prefix] / sub
        if folder.is_dir():
            names += [f"{prefix}/{p.stem}" for p in sorted(folder.glob("*" + _EXTENSIONS[prefix]))]
    return names


def recastable_darkcast_limits() -> list[str]:
    """Dark-photon DarkCast limits valid for the simple B−L rescaling of docs/equations.md F.1.

    Valid when production goes through the electron coupling only (e⁺e⁻ → γV or electron
    bremsstrahlung: same coupling magnitude e·ε ↔ g_BL), the decay is to e⁺e⁻ and/or μ⁺μ⁻, and
    the search is prompt (no lifetime-dependent acceptance). Beam dumps, meson-decay and
    hadron-collider production and invisible searches need the event-level recast (use the
    ``darkcast/`` B−L curves for those).
    """
    out = []
    for (directory, stem), row in darkcast_index().items():
        if (
            directory == _CURRENT_DIRS["em"]["darkcast"]
            and row["production"] in ("e_e", "e_brem")
            and row["decay"] in ("e_e", "mu_mu", "e_e;mu_mu")
            and row["efficiency"].startswith("prompt")
        ):
            out.append(stem)
    return sorted(out)


def available(model: str) -> list[str]:
    """Names of the limit curves for ``model`` ("dark-photon" or "uvmsm"), sorted by source."""
    model = _canonical_model(model)
    names = _packaged_names(model)
    if model_spec(model).current == "b-l":
        names += [f"recast/{stem}" for stem in recastable_darkcast_limits()]
        names += ["nutev", "lep-contact"]
    return names


def _resolve(model: str, name: str) -> str:
    names = available(model)
    if name in names:
        return name
    matches = [n for n in names if n.split("/", 1)[-1] == name and not n.startswith("recast/")]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise ValueError(f"limit curve name {name!r} is ambiguous for model {model!r}: {matches}")
    raise ValueError(f"unknown limit curve {name!r} for model {model!r}; see uvmsm_jax.limits.available({model!r})")


def load(model: str, name: str, **options) -> LimitCurve:
    """Load the limit curve ``name`` for ``model`` ("dark-photon" | "uvmsm") → :class:`LimitCurve`.

    ``options``: for ``nutev`` / ``lep-contact`` a ``mass`` grid [GeV] (defaults: 10 GeV–10 TeV and
    209 GeV–10 TeV); for ``recast/*`` a ``settings`` (:class:`~uvmsm_jax.settings.Settings`, selects
    R_B−L or R_EM for the Z′ hadronic width). Raises ``FileNotFoundError`` / ``ValueError`` naming
    the file when a packaged file is missing or malformed.
    """
    model = _canonical_model(model)
    full = _resolve(model, name)
    if full == "nutev":
        return nutev_curve(**options)
    if full == "lep-contact":
        return lep_contact_curve(**options)
    prefix, stem = full.split("/", 1)
    if prefix == "recast":
        return recast_to_b_minus_l(load(_model_of_current("em"), f"darkcast/{stem}"), **options)
    if options:
        raise TypeError(f"load() got unexpected options {sorted(options)} for {full!r}")
    spec = model_spec(model)
    sub = _CURRENT_DIRS[spec.current][prefix]
    rel = Path(_SOURCE_FOLDER[prefix]) / sub / (stem + _EXTENSIONS[prefix])
    path = data_root() / rel
    coupling = spec.sm_coupling
    licence = _LICENCES[_SOURCE_FOLDER[prefix]]
    notes, contour = "", None
    if prefix in ("darkcast", "darkcast-reach"):
        mass, lower, upper, two_sided = read_lmt(path)
        row = darkcast_index().get((sub, stem), {})
        cite = "; ".join(
            x for x in (row.get("publication", ""), _arxiv(row.get("arxiv", "")), _doi(row.get("doi", ""))) if x
        )
        citation = f"{cite} [{row.get('bibkey', stem)}]; {_DARKCAST_CITE}"
        kind = "projection" if prefix == "darkcast-reach" else "limit"
        notes = "; ".join(
            x
            for x in (
                f"production {row.get('production', '?')}",
                f"decay {row.get('decay', '?')}",
                row.get("efficiency", ""),
            )
            if x
        )
        if stem in _DARKCAST_SQRT_EPSILON_FILES:
            if spec.current == "em":
                lower, upper = lower**2, upper**2
                notes += "; file values are √ε and were squared on load (see data/limits/darkcast/README.md)"
            else:
                notes += (
                    "; UNRELIABLE: recast of a DarkCast file whose values are √ε (see data/limits/darkcast/README.md)"
                )
        if mass.size == 0 or not np.any(np.isfinite(lower)):
            notes += "; no exclusion in this file"
    elif prefix == "foresee":
        is_contour = stem in _FORESEE_CONTOURS
        mass, lower, upper, raw = read_foresee(path, contour=is_contour)
        two_sided = is_contour
        contour = raw if is_contour else None
        citation = _FORESEE_CITES.get(stem, "FORESEE line [origin not stated]") + "; via FORESEE, arXiv:2105.07077"
        kind = "target" if stem.startswith("scalar_DM") else "limit"
    else:  # darkmatterlive
        mass, lower, upper, contour = read_contour_csv(path)
        two_sided = True
        citation = _DML_CITES.get(stem, stem) + "; via NewPhysicsLive/DarkMatterLive"
        kind = "projection" if "SHiP" in stem else "limit"
    return LimitCurve(
        name=full,
        model=model,
        coupling=coupling,
        mass=mass,
        lower=lower,
        upper=upper,
        kind=kind,
        two_sided=two_sided,
        citation=citation,
        licence=licence,
        source=str(rel),
        notes=notes,
        contour=contour,
    )


def _arxiv(value: str) -> str:
    return f"arXiv:{value}" if value else ""


def _doi(value: str) -> str:
    return f"doi:{value}" if value else ""


# --- computed lines and the simple recast (docs/equations.md F.1) -----------------------------------------


def nutev_bound(mass):
    """Largest allowed g_BL from NuTeV, M_Z′/g > 0.4 TeV (docs/equations.md F.1, E1.19); ``mass`` [GeV].

    NaN below 10 GeV (no NuTeV constraint in this form there). Works on NumPy or JAX arrays.
    """
    mass = np.asarray(mass, float)
    return np.where(mass >= NUTEV_MIN_MASS, mass / NUTEV_MASS_OVER_COUPLING, np.nan)


def lep_contact_bound(mass, scale_gev: float = LEP_CONTACT_MASS_OVER_COUPLING):
    """Largest allowed g_BL from LEP contact interactions, M_Z′/g > ``scale_gev`` (≈ 6 TeV).

    Valid only for M_Z′ ≫ √s_LEP = 209 GeV (docs/equations.md F.1 (i)); evaluated at any mass given,
    the caller decides where to draw it.
    """
    return np.asarray(mass, float) / scale_gev


def nutev_curve(mass=None) -> LimitCurve:
    """NuTeV line as a :class:`LimitCurve` (default grid 10 GeV–10 TeV, 60 log points)."""
    mass = np.geomspace(NUTEV_MIN_MASS, 1e4, 60) if mass is None else np.asarray(mass, float)
    lower = nutev_bound(mass)
    return LimitCurve(
        name="nutev",
        model=_model_of_current("b-l"),
        coupling="g_bl",
        mass=mass,
        lower=lower,
        upper=np.where(np.isfinite(lower), np.inf, np.nan),
        kind="computed",
        two_sided=False,
        citation="NuTeV ν_μ–q scattering, conservative line M_Z′/g_BL > 0.4 TeV for M_Z′ > 10 GeV "
        "(as used by Kaneta, Kang, Lee, JHEP 02 (2017) 031, arXiv:1606.09317)",
        licence="computed (MIT code)",
        source="computed: uvmsm_jax.limits.nutev_bound",
        notes="docs/equations.md F.1, E1.19",
    )


def lep_contact_curve(mass=None, scale_gev: float = LEP_CONTACT_MASS_OVER_COUPLING) -> LimitCurve:
    """LEP contact-interaction line M_Z′/g > 6 TeV (default grid 209 GeV–10 TeV, 40 log points)."""
    mass = np.geomspace(LEP_SQRT_S, 1e4, 40) if mass is None else np.asarray(mass, float)
    return LimitCurve(
        name="lep-contact",
        model=_model_of_current("b-l"),
        coupling="g_bl",
        mass=mass,
        lower=lep_contact_bound(mass, scale_gev),
        upper=np.full(mass.shape, np.inf),
        kind="computed",
        two_sided=False,
        citation="LEP e⁺e⁻ → ff̄ contact interactions, M_Z′/g_BL ≳ 6 TeV: M. Carena, A. Daleo, "
        "B.A. Dobrescu, T.M.P. Tait, PRD 70 (2004) 093009, hep-ph/0408098",
        licence="computed (MIT code)",
        source="computed: uvmsm_jax.limits.lep_contact_bound",
        notes=f"valid only for M_Z′ ≫ {LEP_SQRT_S:g} GeV; scale {scale_gev:g} GeV (docs/equations.md F.1 (i))",
    )


_DECAY_CHANNELS = {"e_e": ("e",), "mu_mu": ("mu",), "e_e;mu_mu": ("e", "mu")}


def branching_ratio_ratio(mass, channels=("e", "mu"), settings=None):
    """BR_A′(F)/BR_Z′(F) for final states F ⊂ {e, μ, τ} at ``mass`` [GeV] (DM channels closed).

    Uses :func:`uvmsm_jax.hadrons.sm_width_unit` for both currents (Z′ hadrons per ``settings``:
    R_B−L in `physical`, R_EM in `paper` mode). The Z′ → N₁N₁ channel is ignored as in P1 (K26).
    """
    mass = np.asarray(mass, float)
    flat = mass.reshape(-1)
    size = max(256, 1 << int(np.ceil(np.log2(max(flat.size, 1)))))  # few padded shapes → few compilations
    padded = np.concatenate([flat, np.full(size - flat.size, flat[-1] if flat.size else 1.0)])
    ratio = np.asarray(_branching_ratio_ratio_jit(padded, tuple(channels), settings))
    return ratio[: flat.size].reshape(mass.shape)


@filter_jit
def _branching_ratio_ratio_jit(mass, channels, settings):
    em = sm_width_unit(mass, "em", settings)
    bl = sm_width_unit(mass, "b-l", settings)
    br_em = sum(getattr(em, ch) for ch in channels) / em.total
    br_bl = sum(getattr(bl, ch) for ch in channels) / bl.total
    return br_em / br_bl


def recast_to_b_minus_l(curve: LimitCurve, settings=None, channels=None) -> LimitCurve:
    """Simple rescaling of a dark-photon limit to B−L (docs/equations.md F.1, BaBar row):

        g_BL(m) = e · ε(m) · sqrt(BR_A′(F)/BR_Z′(F)),   F = the search's final states.

    Validity: the production rate must depend only on the electron coupling (e⁺e⁻ → γV, electron
    bremsstrahlung — |g_e| is e·ε for the A′ and g_BL for the Z′), the search must be prompt (no
    lifetime dependence: the Z′ and A′ lifetimes differ) and visible (F = ee, μμ). It is not
    valid for beam dumps, meson decays, hadron colliders or invisible searches; use the DarkCast
    B−L files (``darkcast/*``) for those. ``channels`` defaults to the decay column of the DarkCast
    index (e_e → ("e",), mu_mu → ("mu",), both → ("e", "mu")).
    """
    stem = curve.name.split("/", 1)[-1]
    if channels is None:
        decay = darkcast_index().get(("dark_photon", stem), {}).get("decay", "e_e;mu_mu")
        if decay not in _DECAY_CHANNELS:
            raise ValueError(
                f"{curve.name}: decay {decay!r} is not a visible lepton final state; "
                "the simple B−L rescaling does not apply"
            )
        channels = _DECAY_CHANNELS[decay]
    factor = np.full(curve.mass.shape, np.nan)
    if curve.mass.size:
        factor = c.E_EM * np.sqrt(branching_ratio_ratio(curve.mass, channels, settings))
    with np.errstate(invalid="ignore"):
        lower = curve.lower * factor
        upper = np.where(np.isposinf(curve.upper), np.inf, curve.upper * factor)
    return dataclasses.replace(
        curve,
        name=f"recast/{stem}",
        model=_model_of_current("b-l"),
        coupling="g_bl",
        lower=lower,
        upper=upper,
        kind="recast",
        notes=(
            f"simple rescaling g = e·ε·sqrt(BR_A′/BR_Z′) over {'+'.join(channels)} (docs/equations.md F.1); valid for "
            f"prompt visible searches with electron-coupling production; {curve.notes}"
        ),
    )


__all__ = [
    "LimitCurve",
    "available",
    "load",
    "read_lmt",
    "read_foresee",
    "read_contour_csv",
    "split_contour",
    "recast_to_b_minus_l",
    "branching_ratio_ratio",
    "nutev_bound",
    "lep_contact_bound",
    "nutev_curve",
    "lep_contact_curve",
    "recastable_darkcast_limits",
    "darkcast_index",
    "data_root",
]
