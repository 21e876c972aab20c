"""Grid scans of the relic abundance at scale (docs/relic.md, "At scale").

:func:`scan` evaluates :func:`uvmsm_jax.relic` on a grid over any continuous parameters (a model
field or ``t_reheat``: log, linear or explicit axes; the other fields fixed or tied by a fixed ratio
such as M_N₁ = r·M_Z′) and returns an :class:`xarray.Dataset`; with ``out=`` it is written to a
**Zarr** store chunk by chunk.

Chunks
    The grid is cut into rectangular blocks (the last axis varies fastest) of at most ``chunk``
    points; every block is padded to the same size (with copies of its last point) and evaluated as
    one batch of :func:`uvmsm_jax.relic` (:func:`chunk_function`): its distinct masses are tabulated
    once, the points solved in fixed-size blocks, so a scan compiles each stage exactly once. Each
    block is also exactly one Zarr chunk of every variable, written by a single process.

Resume
    After a block's data are written, a completion marker ``<store>/.scan_done/<k>`` is created
    atomically. ``resume=True`` skips the blocks that have a marker and recomputes the others (a
    block interrupted half-way is simply rewritten): the result is bit-for-bit that of an
    uninterrupted run, because every block is evaluated by the same compiled program. A store made
    with a different model, grid, settings, chunking or package version is refused with an error
    naming the difference (:class:`ScanMismatchError`).

Backends
    single process (default); ``backend="processes"`` with ``workers=N`` local processes; Dask
    distributed with ``scheduler=ADDRESS``, ``client=Client`` or ``workers=N`` (a
    :class:`dask.distributed.LocalCluster`). Workers only compute; the calling process writes.
    When JAX sees a GPU the default chunk is larger (:func:`~uvmsm_jax._batching.default_scan_chunk`:
    2 048 points on CPU, 4096 on a GPU).

Output variables (dims = the grid axes, in the order given): ``omega_h2``, ``yield_dm``,
``yield_mediator``, ``status`` (0 ok, codes in ``attrs["status_codes"]``, −1 = not computed yet),
``mechanism`` (index into ``attrs["mechanism_names"]``, −1 invalid / not computed),
``dm_thermalised``, ``mediator_thermalised``, ``t_dec`` [GeV], ``x_dec``, ``max_dark_rate_over_h``,
``max_portal_rate_over_h`` (the (H17) diagnostics; NaN for models without the check); with
``elasticities=True`` also ``elasticity_<x>`` = d ln Ωh²/d ln x for every model field x (and T_R when
given; NaN where ``status`` ≠ 0). Fixed and tied parameters
are coordinates too. Attributes: the full settings (``settings``, JSON), package version, model,
device, data provenance (citations and sha256 of the packaged tables).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import datetime
import functools
import hashlib
import importlib.resources
import json
import math
import multiprocessing
import os
import shutil
import sys
import time
import warnings
from collections.abc import Callable, Generator, Mapping
from typing import Any

import jax
import numpy as np

from ._batching import default_scan_chunk, pad_rows
from ._relic import STAGE_TRACES, relic
from .codes import MECHANISMS, STATUS_MESSAGES
from .models import model_spec
from .pipeline import configure
from .settings import Settings

__all__ = [
    "OUTPUTS",
    "ScanMismatchError",
    "ScanSpec",
    "ScanStore",
    "block_shape",
    "make_spec",
    "chunk_function",
    "chunk_traces",
    "compute_chunk",
    "mechanism_names",
    "evaluate",
    "open_scan",
    "scan",
    "settings_dict",
]

T_REHEAT_UNITS, T_REHEAT_LONG_NAME = "GeV", "reheating temperature T_R"


def _units_and_long_name(spec, name: str) -> tuple[str, str]:
    """(units, long name) of a coordinate: a model parameter of the registry, or ``t_reheat``."""
    if name == "t_reheat":
        return T_REHEAT_UNITS, T_REHEAT_LONG_NAME
    p = spec.parameter(name)
    return p.unit, p.help


OUTPUTS: tuple[tuple[str, str, Any, str, str], ...] = (
    # name, dtype, fill value (= not computed), units, long name
    ("omega_h2", "float64", float("nan"), "1", "relic abundance Omega h^2"),
    ("yield_dm", "float64", float("nan"), "1", "DM yield Y = n/s today"),
    ("yield_mediator", "float64", float("nan"), "1", "mediator yield at the end of the integration"),
    ("status", "int8", -1, "1", "solver status (0 ok; -1 not computed; see attrs status_codes)"),
    ("mechanism", "int8", -1, "1", "production mechanism (index into attrs mechanism_names; -1 invalid)"),
    ("dm_thermalised", "bool", False, "1", "DM reached equilibrium"),
    ("mediator_thermalised", "bool", False, "1", "mediator reached equilibrium"),
    ("t_dec", "float64", float("nan"), "GeV", "DM decoupling temperature"),
    ("x_dec", "float64", float("nan"), "1", "M_DM / T_dec"),
    ("max_dark_rate_over_h", "float64", float("nan"), "1", "max Gamma_N/H, dark number-changing rate (H16)"),
    ("max_portal_rate_over_h", "float64", float("nan"), "1", "max Gamma_P/H, SM contact rate (H15)"),
)
"""The variables of a scan: (name, dtype, fill value, units, long name)."""
OUTPUT_NAMES = tuple(o[0] for o in OUTPUTS)
ELASTICITY_PREFIX = "elasticity_"
"""A scan with ``elasticities=True`` adds ``elasticity_<x>`` = d ln Ωh²/d ln x for every model field x
(and ``t_reheat`` when T_R is a column), from :func:`uvmsm_jax.relic`'s ``elasticities``."""


def output_variables(model: str, with_t_reheat: bool, elasticities: bool) -> tuple[tuple[str, str, Any, str, str], ...]:
    """The variables of a scan of ``model``: :data:`OUTPUTS`, then with ``elasticities`` one
    ``elasticity_<x>`` per model field x (and T_R when ``with_t_reheat``), as (name, dtype, fill value,
    units, long name)."""
    if not elasticities:
        return OUTPUTS
    names = (*model_spec(model).fields, *(("t_reheat",) if with_t_reheat else ()))
    return OUTPUTS + tuple(
        (f"{ELASTICITY_PREFIX}{x}", "float64", float("nan"), "1", f"d ln(Omega h^2) / d ln {x} (NaN where status != 0)")
        for x in names
    )


FORMAT_VERSION = 2
"""2: the (H17) rate diagnostics were added (a store of format 1 cannot be resumed)."""
_DONE_DIR = ".scan_done"
_SPEC_ATTR = "uvmsm_jax_scan"


class ScanMismatchError(ValueError):
    """Resuming into a store made with a different model, grid, settings, chunking or version."""


# ---------------------------------------------------------------------------------------------
# Settings and provenance
# ---------------------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, np.integer)):
        return int(value)
    arr = np.asarray(value)
    if arr.ndim == 0:
        return float(arr)
    return [float(v) for v in arr.ravel()]


def settings_dict(settings: Settings) -> dict[str, Any]:
    """Every field of ``settings`` as JSON-ready values (``t_reheat``: float or None)."""
    return {f.name: _plain(getattr(settings, f.name)) for f in dataclasses.fields(settings)}


def static_settings(settings: Settings) -> Settings:
    """``settings`` with ``t_reheat = None`` (hashable; T_R travels as a data column instead)."""
    return dataclasses.replace(settings, t_reheat=None)


def _device_description() -> str:
    try:
        devices = jax.devices()
        return f"{jax.default_backend()}: {devices[0].device_kind} x{len(devices)}"
    except Exception:  # pragma: no cover
        return "unknown"


@functools.lru_cache(maxsize=1)
def data_provenance() -> dict[str, Any]:
    """Citations and sha256 of the packaged data tables the relic solver reads."""
    root = importlib.resources.files("uvmsm_jax").joinpath("data")
    files: dict[str, str] = {}
    for sub in ("gstar", "rratio"):
        base = root.joinpath(sub)
        stack = [(base, f"data/{sub}")]
        while stack:
            node, rel = stack.pop()
            for child in sorted(node.iterdir(), key=lambda c: c.name):
                name = f"{rel}/{child.name}"
                if child.is_dir():
                    stack.append((child, name))
                elif child.name.endswith((".csv", ".dat")):
                    files[name] = hashlib.sha256(child.read_bytes()).hexdigest()
    return {
        "gstar": "K. Saikawa and S. Shirai, JCAP 05 (2018) 035, arXiv:1803.01038 (2018 table; 2020 update "
        "for gstar='saikawa2020'); see uvmsm_jax/data/gstar/PROVENANCE.md",
        "rratio": "PDG R ratio compilation (2017) and DarkCast VMD fits; see uvmsm_jax/data/rratio/PROVENANCE.md",
        "index": "uvmsm_jax/data/PROVENANCE.md (sources, licences, citations)",
        "files_sha256": files,
    }


# ---------------------------------------------------------------------------------------------
# The compiled chunk function
# ---------------------------------------------------------------------------------------------


@functools.cache
def chunk_function(
    model: str,
    settings: Settings,
    with_t_reheat: bool,
    size: int,
    export_cache: str | None = None,
    elasticities: bool = False,
) -> Callable:
    """The function evaluating one chunk: ``f(theta) -> dict`` of the :func:`output_variables` (NumPy arrays).

    ``theta`` has shape ``(size, P)``: the model fields in ``parameter_names`` order, then T_R when
    ``with_t_reheat``. ``settings`` must have ``t_reheat=None``. The chunk is one concrete batch of
    :func:`uvmsm_jax.relic`: with the default ``Settings.rate_tables="shared"`` its distinct masses
    are tabulated once and the points solved in fixed-size blocks, so every stage compiles once
    per key however many chunks follow (:func:`chunk_traces`), and with ``export_cache`` (a folder)
    they run from the executables kept there, so a later process does not trace them. With
    ``elasticities``, the chunk is solved with ``relic(..., elasticities=True)`` and its
    ``elasticity_<x>`` variables filled.
    """
    spec = model_spec(model)
    names = spec.fields
    if settings.t_reheat is not None:
        raise ValueError("chunk_function needs settings with t_reheat=None (pass T_R as a column)")

    def evaluate_chunk(theta):
        theta = np.asarray(theta)
        fields = {name: theta[:, i] for i, name in enumerate(names)}
        s = dataclasses.replace(settings, t_reheat=theta[:, len(names)]) if with_t_reheat else settings
        result = relic(spec.model(**fields), s, elasticities=elasticities, export_cache=export_cache)
        out = {name: np.asarray(getattr(result, name)) for name in OUTPUT_NAMES}
        for x, value in (result.elasticities or {}).items():
            out[f"{ELASTICITY_PREFIX}{x}"] = np.asarray(value)
        return out

    return evaluate_chunk


def chunk_traces(model: str, settings: Settings, with_t_reheat: bool, size: int) -> int:
    """How many times the most-traced compiled stage of this key's chunks was traced (0: nothing
    compiled yet; 1: each stage compiled once, as it should be)."""
    config = configure(model, settings)
    counts = [n for (_, key, _), n in STAGE_TRACES.items() if key == config]
    return max(counts, default=0)


def _columns(model: str, params: Mapping[str, Any], settings: Settings) -> tuple[np.ndarray, bool]:
    """Stack the model fields (and T_R) of ``params`` (broadcast, flattened) into (n, P) columns."""
    names = list(model_spec(model).fields)
    missing = [n for n in names if n not in params]
    if missing:
        raise ValueError(f"missing parameter(s) {', '.join(missing)} for model {model!r}")
    extra = set(params) - set(names) - {"t_reheat"}
    if extra:
        raise ValueError(f"unknown parameter(s) {', '.join(sorted(extra))} for model {model!r}")
    t_reheat = params.get("t_reheat", settings.t_reheat)
    if t_reheat is not None:
        names.append("t_reheat")
    values = [np.asarray(params[n] if n != "t_reheat" else t_reheat, dtype=np.float64) for n in names]
    broadcast = np.broadcast_arrays(*values)
    return np.stack([v.ravel() for v in broadcast], axis=-1), t_reheat is not None


def _run_chunk(
    model: str,
    settings: Settings,
    with_t_reheat: bool,
    theta: np.ndarray,
    export_cache: str | None = None,
    elasticities: bool = False,
) -> dict[str, np.ndarray]:
    function = chunk_function(
        model, static_settings(settings), with_t_reheat, theta.shape[0], export_cache, elasticities
    )
    return function(theta)


def evaluate(
    model,
    params: Mapping[str, Any],
    settings: Settings | None = None,
    chunk: int | None = None,
    elasticities: bool = False,
) -> dict[str, np.ndarray]:
    """Evaluate the relic solver on arbitrary points through the padded chunk function.

    ``params`` maps every model field (and optionally ``t_reheat``) to broadcastable arrays; the
    result maps each name of :func:`output_variables` (:data:`OUTPUTS`, and with ``elasticities``
    the ``elasticity_<x>``) to an array of the broadcast shape. Points are cut
    into chunks of exactly ``chunk`` (default :func:`~uvmsm_jax._batching.default_scan_chunk`) and the last one is padded,
    so any number of points reuses one compiled function (the one :func:`scan` uses).
    """
    kind = model_spec(model).name
    settings = Settings() if settings is None else settings
    theta, with_t_reheat = _columns(kind, params, settings)
    shape = np.broadcast_shapes(*(np.shape(v) for v in params.values()))
    size = int(chunk or default_scan_chunk())
    n = theta.shape[0]
    variables = output_variables(kind, with_t_reheat, elasticities)
    out = {name: np.empty(n, dtype=dtype) for name, dtype, *_ in variables}
    for start in range(0, n, size):
        block = theta[start : start + size]
        m = block.shape[0]
        res = _run_chunk(kind, settings, with_t_reheat, pad_rows(block, size), elasticities=elasticities)
        for name, *_ in variables:
            out[name][start : start + m] = res[name][:m]
    return {k: v.reshape(shape) for k, v in out.items()}


# ---------------------------------------------------------------------------------------------
# The scan specification
# ---------------------------------------------------------------------------------------------


def block_shape(shape: tuple[int, ...], chunk: int) -> tuple[int, ...]:
    """Rectangular blocks of at most ``chunk`` points, filling from the last axis, evenly split."""
    block = [1] * len(shape)
    capacity = max(int(chunk), 1)
    for axis in reversed(range(len(shape))):
        n = shape[axis]
        if capacity <= 1:
            break
        pieces = math.ceil(n / capacity)
        block[axis] = math.ceil(n / pieces)
        capacity //= block[axis]
    return tuple(block)


def _spacing(values: np.ndarray) -> str:
    if values.size < 3:
        return "log" if values.size == 2 else "single"
    if np.allclose(np.diff(np.log(values)), np.log(values[1] / values[0]), rtol=1e-9, atol=0):
        return "log"
    if np.allclose(np.diff(values), values[1] - values[0], rtol=1e-9, atol=0):
        return "linear"
    return "explicit"


@dataclasses.dataclass(frozen=True)
class ScanSpec:
    """Everything that determines a scan's numbers (picklable; sent to workers)."""

    model: str
    axes: tuple[tuple[str, tuple[float, ...]], ...]
    fixed: tuple[tuple[str, float], ...]
    ratios: tuple[tuple[str, str, float], ...]
    settings: Settings
    block: tuple[int, ...]
    export_cache: str | None = None
    """Folder in which the chunk's compiled stages are kept (:func:`uvmsm_jax.relic`'s
    ``export_cache``); not part of the scan's identity (:meth:`fingerprint`)."""
    elasticities: bool = False
    """Whether the scan also stores d ln Ωh²/d ln x (:func:`output_variables`)."""

    @property
    def dims(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.axes)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(len(v) for _, v in self.axes)

    @property
    def size(self) -> int:
        """Points per compiled chunk (every block is padded to this)."""
        return int(np.prod(self.block))

    @property
    def n_points(self) -> int:
        return int(np.prod(self.shape))

    @property
    def outputs(self) -> tuple[tuple[str, str, Any, str, str], ...]:
        """The scan's variables (:func:`output_variables`)."""
        return output_variables(self.model, self.with_t_reheat, self.elasticities)

    @property
    def block_grid(self) -> tuple[int, ...]:
        return tuple(math.ceil(n / b) for n, b in zip(self.shape, self.block))

    @property
    def n_chunks(self) -> int:
        return int(np.prod(self.block_grid))

    @property
    def with_t_reheat(self) -> bool:
        return (
            "t_reheat" in self.dims
            or any(n == "t_reheat" for n, _ in self.fixed)
            or (self.settings.t_reheat is not None)
        )

    def region(self, k: int) -> tuple[slice, ...]:
        index = np.unravel_index(k, self.block_grid)
        return tuple(slice(i * b, min((i + 1) * b, n)) for i, b, n in zip(index, self.block, self.shape))

    def chunk_points(self, k: int) -> int:
        return int(np.prod([s.stop - s.start for s in self.region(k)]))

    def parameter_values(self, region: tuple[slice, ...] | None = None) -> dict[str, np.ndarray]:
        """Every model field (and T_R if set) on the grid (or on one block), broadcast to its shape."""
        region = region or tuple(slice(None) for _ in self.axes)
        coords = [np.asarray(v, dtype=np.float64)[s] for (_, v), s in zip(self.axes, region)]
        mesh = np.meshgrid(*coords, indexing="ij")
        values: dict[str, np.ndarray] = dict(zip(self.dims, mesh))
        shape = mesh[0].shape
        for name, value in self.fixed:
            values[name] = np.full(shape, value)
        for name, ref, r in self.ratios:
            values[name] = r * values[ref]
        if "t_reheat" not in values and self.settings.t_reheat is not None:
            values["t_reheat"] = np.full(shape, float(self.settings.t_reheat))
        return values

    def fingerprint(self) -> dict[str, Any]:
        """JSON-ready identity of the scan (compared on resume)."""
        from . import __version__

        return {
            "format": FORMAT_VERSION,
            "model": self.model,
            "axes": {name: [float(x) for x in v] for name, v in self.axes},
            "dims": list(self.dims),
            "fixed": {name: float(v) for name, v in self.fixed},
            "ratios": {name: [ref, float(r)] for name, ref, r in self.ratios},
            "settings": settings_dict(self.settings),
            "block": list(self.block),
            "version": __version__,
            "elasticities": self.elasticities,
        }


def make_spec(model, grid, fixed, ratios, settings, chunk, elasticities: bool = False) -> ScanSpec:
    """The :class:`ScanSpec` of a scan (arguments as :func:`scan`); ``ValueError`` naming a bad input."""
    kind = model_spec(model).name
    names = model_spec(kind).fields
    allowed = (*names, "t_reheat")
    settings = Settings() if settings is None else settings
    if not isinstance(grid, Mapping) or not grid:
        raise ValueError("grid must be a non-empty mapping of parameter name -> 1-D array of values")
    axes = []
    for name, values in grid.items():
        if name not in allowed:
            raise ValueError(f"unknown grid parameter {name!r} for model {kind!r} (allowed: {', '.join(allowed)})")
        arr = np.asarray(values, dtype=np.float64)
        if arr.ndim == 0:
            arr = arr.reshape(1)
        if arr.ndim != 1 or arr.size == 0:
            raise ValueError(f"grid axis {name} must be a non-empty 1-D array")
        if not np.all(np.isfinite(arr) & (arr > 0)):
            raise ValueError(f"grid axis {name} must hold positive finite numbers")
        if arr.size > 1 and len(np.unique(arr)) != arr.size:
            raise ValueError(f"grid axis {name} has repeated values")
        axes.append((name, tuple(float(x) for x in arr)))
    fixed = dict(fixed or {})
    ratios = dict(ratios or {})
    fixed_items = []
    for name, value in fixed.items():
        if name not in allowed:
            raise ValueError(f"unknown parameter {name!r} for model {kind!r}")
        value = float(value)
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a positive finite number, got {value!r}")
        fixed_items.append((name, value))
    ratio_items = []
    for name, spec in ratios.items():
        ref, r = spec
        if name not in names or ref not in names:
            raise ValueError(f"ratio {name} = r*{ref}: both must be fields of model {kind!r}")
        r = float(r)
        if not (math.isfinite(r) and r > 0):
            raise ValueError(f"ratio {name}/{ref} must be a positive finite number, got {r!r}")
        if ref in ratios:
            raise ValueError(f"ratio {name} = r*{ref}: {ref} must be a grid axis or fixed, not another ratio")
        ratio_items.append((name, ref, r))
    dims = [n for n, _ in axes]
    seen = dims + [n for n, _ in fixed_items] + [n for n, *_ in ratio_items]
    duplicates = sorted({n for n in seen if seen.count(n) > 1})
    if duplicates:
        raise ValueError(f"parameter(s) given more than once (grid/fixed/ratios): {', '.join(duplicates)}")
    missing = [n for n in names if n not in seen]
    if missing:
        raise ValueError(f"parameter(s) {', '.join(missing)} need a grid axis, a fixed value or a ratio")
    if "t_reheat" in seen and settings.t_reheat is not None:
        raise ValueError("t_reheat given both in settings and as a scan parameter")
    if settings.t_reheat is not None and np.ndim(settings.t_reheat) != 0:
        raise ValueError("settings.t_reheat must be a scalar in a scan (use a grid axis for several values)")
    shape = tuple(len(v) for _, v in axes)
    chunk = default_scan_chunk() if chunk is None else int(chunk)
    if chunk < 1:
        raise ValueError(f"chunk must be a positive integer, got {chunk}")
    block = block_shape(shape, chunk)
    return ScanSpec(
        kind, tuple(axes), tuple(fixed_items), tuple(ratio_items), settings, block, elasticities=bool(elasticities)
    )


def compute_chunk(spec: ScanSpec, k: int) -> tuple[int, dict[str, np.ndarray]]:
    """Evaluate block ``k`` of ``spec`` (padded to ``spec.size``); returns (k, arrays of the block shape)."""
    region = spec.region(k)
    values = spec.parameter_values(region)
    block_shape = next(iter(values.values())).shape
    theta, with_t_reheat = _columns(spec.model, values, spec.settings)
    m = theta.shape[0]
    res = _run_chunk(
        spec.model, spec.settings, with_t_reheat, pad_rows(theta, spec.size), spec.export_cache, spec.elasticities
    )
    return k, {name: res[name][:m].reshape(block_shape) for name, *_ in spec.outputs}


# ---------------------------------------------------------------------------------------------
# Zarr store
# ---------------------------------------------------------------------------------------------


def _attrs(spec: ScanSpec) -> dict[str, Any]:
    from . import __version__

    status = {str(int(k)): v for k, v in STATUS_MESSAGES.items()}
    return {
        "title": f"uvmsm_jax relic-abundance scan ({spec.model})",
        "model": spec.model,
        "dims": list(spec.dims),
        "uvmsm_jax_version": __version__,
        "jax_version": jax.__version__,
        "settings": json.dumps(settings_dict(spec.settings)),
        "fixed": json.dumps(dict(spec.fixed)),
        "ratios": json.dumps({n: {"of": ref, "ratio": r} for n, ref, r in spec.ratios}),
        "mechanism_names": list(MECHANISMS),
        "status_codes": json.dumps(status),
        "chunk_shape": list(spec.block),
        "n_chunks": spec.n_chunks,
        "device": _device_description(),
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "data_provenance": json.dumps(data_provenance()),
        "references": f"uvmsm-jax {__version__}: equations in docs/equations.md of the package repository; "
        "solver uvmsm_jax.relic",
        _SPEC_ATTR: json.dumps(spec.fingerprint()),
    }


def _coordinate_arrays(spec: ScanSpec) -> list[tuple[str, np.ndarray, list[str]]]:
    """(name, values, dims) of every coordinate: the axes, the fixed values, the tied parameters."""
    out = [(name, np.asarray(v, dtype=np.float64), [name]) for name, v in spec.axes]
    fixed = dict(spec.fixed)
    for name, value in spec.fixed:
        out.append((name, np.asarray(value, dtype=np.float64), []))
    for name, ref, r in spec.ratios:
        if ref in spec.dims:
            out.append((name, r * np.asarray(spec.axes[spec.dims.index(ref)][1], dtype=np.float64), [ref]))
        else:
            out.append((name, np.asarray(r * fixed[ref], dtype=np.float64), []))
    return out


class ScanStore:
    """A scan's Zarr v3 store: one Zarr chunk per compute block, completion markers beside the data."""

    def __init__(self, path: str, spec: ScanSpec):
        self.path = os.fspath(path)
        self.spec = spec
        self.done_dir = os.path.join(self.path, _DONE_DIR)
        self._arrays: dict[str, Any] = {}

    # -- creation / checks ----------------------------------------------------------------
    def create(self) -> None:
        """Write the store's metadata and coordinates into a temporary directory, then rename it
        into place: a store either exists completely or not at all."""
        final = self.path
        self.path = f"{final}.creating-{os.getpid()}"
        try:
            self._create()
            os.rename(self.path, final)
        except BaseException:
            shutil.rmtree(self.path, ignore_errors=True)
            raise
        finally:
            self.path = final
            self.done_dir = os.path.join(final, _DONE_DIR)

    def _create(self) -> None:
        import zarr

        spec = self.spec
        self.done_dir = os.path.join(self.path, _DONE_DIR)
        group = zarr.open_group(self.path, mode="w", zarr_format=3)
        group.attrs.update(_attrs(spec))
        coordinates = _coordinate_arrays(spec)
        for name, values, dims in coordinates:
            arr = group.create_array(
                name,
                shape=values.shape,
                chunks=values.shape if values.shape else "auto",
                dtype="float64",
                dimension_names=dims,
                fill_value=float("nan"),
                attributes=_coordinate_attrs(spec, name, values, dims),
            )
            arr[...] = values
        for name, dtype, fill, *_ in spec.outputs:
            group.create_array(
                name,
                shape=spec.shape,
                chunks=spec.block,
                dtype=dtype,
                fill_value=fill,
                dimension_names=list(spec.dims),
                attributes=_output_attrs(spec, name, coordinates),
            )
        with warnings.catch_warnings():  # "consolidated metadata is not part of the v3 spec (yet)"
            warnings.simplefilter("ignore")
            zarr.consolidate_metadata(self.path)
        os.makedirs(self.done_dir, exist_ok=True)

    def stored_fingerprint(self) -> dict[str, Any]:
        import zarr

        try:
            group = zarr.open_group(self.path, mode="r", zarr_format=3)
        except Exception as err:
            raise ScanMismatchError(f"cannot resume {self.path}: not a Zarr v3 store ({err})") from None
        raw = group.attrs.get(_SPEC_ATTR)
        if not isinstance(raw, str):  # written as a JSON string by _create
            raise ScanMismatchError(f"cannot resume {self.path}: it is not a uvmsm_jax scan store")
        return json.loads(raw)

    # -- chunks ---------------------------------------------------------------------------
    def _array(self, name: str):
        if name not in self._arrays:
            import zarr

            self._arrays[name] = zarr.open_array(os.path.join(self.path, name), mode="r+", zarr_format=3)
        return self._arrays[name]

    def done(self) -> set[int]:
        if not os.path.isdir(self.done_dir):
            return set()
        return {int(n) for n in os.listdir(self.done_dir) if n.isdigit()}

    def write(self, k: int, data: Mapping[str, np.ndarray]) -> None:
        region = self.spec.region(k)
        for name, *_ in self.spec.outputs:
            self._array(name)[region] = data[name]
        marker = os.path.join(self.done_dir, str(k))
        tmp = f"{marker}.{os.getpid()}.tmp"
        with open(tmp, "w") as fh:
            fh.write("done\n")
        os.replace(tmp, marker)  # atomic: the marker exists only once the data are on disk


def _compare(stored: Mapping[str, Any], wanted: Mapping[str, Any], path: str) -> None:
    differences = []
    keys = ("format", "version", "model", "dims", "axes", "fixed", "ratios", "settings", "block", "elasticities")
    for key in keys:
        default = False if key == "elasticities" else None  # a store made before the option has none
        a, b = stored.get(key, default), wanted.get(key, default)
        if a == b:
            continue
        if key == "settings" and isinstance(a, dict) and isinstance(b, dict):
            for s in sorted(set(a) | set(b)):
                if a.get(s) != b.get(s):
                    differences.append(f"settings.{s} (store {a.get(s)!r}, requested {b.get(s)!r})")
        elif key == "axes" and isinstance(a, dict) and isinstance(b, dict):
            for s in sorted(set(a) | set(b)):
                if a.get(s) != b.get(s):
                    sa, sb = a.get(s), b.get(s)
                    describe = lambda v: "absent" if v is None else f"{len(v)} points {v[0]:g}..{v[-1]:g}"
                    differences.append(f"grid axis {s} (store {describe(sa)}, requested {describe(sb)})")
        elif key == "block":
            differences.append(f"chunking (store blocks {a}, requested {b}; omit --chunk to reuse the store's)")
        else:
            differences.append(f"{key} (store {a!r}, requested {b!r})")
    if differences:
        raise ScanMismatchError(
            f"cannot resume {path}: it was made with a different scan: "
            + "; ".join(differences)
            + " (use a new --out, or remove the store to start again)"
        )


def open_scan(path: str):
    """Open a scan store as an :class:`xarray.Dataset` (lazy, no Dask needed)."""
    import xarray as xr

    return xr.open_dataset(os.fspath(path), engine="zarr", chunks=None, consolidated=True)


# ---------------------------------------------------------------------------------------------
# Backends
# ---------------------------------------------------------------------------------------------


def _iter_single(spec: ScanSpec, todo: list[int]) -> Generator[tuple[int, dict[str, np.ndarray]], None, None]:
    for k in todo:
        yield compute_chunk(spec, k)


def _iter_processes(
    spec: ScanSpec, todo: list[int], workers: int
) -> Generator[tuple[int, dict[str, np.ndarray]], None, None]:
    context = multiprocessing.get_context("spawn")  # JAX is not fork-safe
    executor = concurrent.futures.ProcessPoolExecutor(max_workers=workers, mp_context=context)
    try:
        futures = [executor.submit(compute_chunk, spec, k) for k in todo]
        for future in concurrent.futures.as_completed(futures):
            yield future.result()
    finally:
        executor.shutdown(wait=True, cancel_futures=True)


def _iter_dask(
    spec: ScanSpec, todo: list[int], workers: int | None, scheduler: str | None, client: Any
) -> Generator[tuple[int, dict[str, np.ndarray]], None, None]:
    try:
        from dask.distributed import Client, LocalCluster, as_completed
    except ImportError as err:  # pragma: no cover - optional dependency
        raise RuntimeError("the Dask backend needs 'dask[distributed]' (pip install uvmsm-jax[distributed])") from err
    with contextlib.ExitStack() as stack:
        if client is None:
            if scheduler is not None:
                client = stack.enter_context(Client(scheduler))
            else:
                cluster = stack.enter_context(
                    LocalCluster(
                        n_workers=int(workers or 1),
                        threads_per_worker=1,
                        processes=True,
                        dashboard_address=None,
                    )
                )
                client = stack.enter_context(Client(cluster))
        spec_future = client.scatter(spec, broadcast=True)
        token = hashlib.sha1(json.dumps(spec.fingerprint(), sort_keys=True).encode()).hexdigest()[:12]
        futures = [client.submit(compute_chunk, spec_future, k, key=f"uvmsm-scan-{token}-{k}", retries=1) for k in todo]
        try:
            for future in as_completed(futures):
                yield future.result()
        finally:
            client.cancel(futures)


# ---------------------------------------------------------------------------------------------
# scan()
# ---------------------------------------------------------------------------------------------


def _progress_bar(total: int, initial: int, enabled: bool, desc: str):
    from tqdm.auto import tqdm

    return tqdm(
        total=total,
        initial=initial,
        unit="pt",
        desc=desc,
        disable=not enabled,
        file=sys.stderr,
        dynamic_ncols=True,
        smoothing=0.1,
        mininterval=0.5,
    )


def scan(
    model,
    grid: Mapping[str, Any],
    *,
    fixed: Mapping[str, float] | None = None,
    ratios: Mapping[str, tuple[str, float]] | None = None,
    settings: Settings | None = None,
    out: str | os.PathLike | None = None,
    resume: bool = False,
    overwrite: bool = False,
    chunk: int | None = None,
    backend: str | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    client: Any = None,
    progress: bool = True,
    export_cache: str | os.PathLike | None = None,
    elasticities: bool = False,
):
    """Scan the relic abundance over a grid; returns an :class:`xarray.Dataset`.

    model: ``"uvmsm"``, ``"dark-photon"`` or the model class.
    grid: parameter name → 1-D values (dims in this order, the last varies fastest in a chunk);
      names are model fields or ``"t_reheat"``. E.g. ``{"m_zp": np.geomspace(0.01, 1, 50),
      "g_bl": np.geomspace(1e-12, 1e-4, 80)}``.
    fixed: parameter name → value; ratios: name → (other, r) for ``name = r·other``
      (e.g. ``{"m_n1": ("m_zp", 0.5)}``). Each model field must be given exactly once.
    settings: :class:`Settings` (static fields and a scalar ``t_reheat``).
    out: Zarr store path; written chunk by chunk, the returned Dataset is opened from it.
      Without ``out`` the scan runs in memory.
    resume: continue the store at ``out`` (skip finished chunks; refuse a different scan with
      :class:`ScanMismatchError`); starts a new store if there is none.
    overwrite: replace an existing store (otherwise an existing ``out`` without ``resume`` is an error).
    chunk: maximum points per compiled chunk (default :func:`~uvmsm_jax._batching.default_scan_chunk`; when resuming, the
      store's chunking is reused unless given).
    backend: ``"single"`` (default), ``"processes"`` (``workers`` local processes) or ``"dask"``
      (``scheduler`` address, a ``client``, or a LocalCluster of ``workers`` processes).
      ``workers``/``scheduler``/``client`` alone select Dask.
    progress: show a tqdm progress bar on stderr (points/s and ETA).
    export_cache: a folder in which the compiled stages of a chunk are kept (as
      :func:`uvmsm_jax.relic`'s): a later scan with the same settings and chunk size, in any process
      (workers included), loads them instead of tracing and compiling (the CLI uses
      ``~/.cache/uvmsm-jax/export``). The numbers do not depend on it.
    elasticities: also store ``elasticity_<x>`` = d ln Ωh²/d ln x for every model field x (and
      ``elasticity_t_reheat`` when T_R is given), from ``relic(..., elasticities=True)``: each chunk's
      distinct masses get their table derivative once, and every point is solved by the ODE
      (docs/relic.md, "Elasticities"). Part of the scan's identity: a store is resumed with the
      same choice.
    """
    backend = _choose_backend(backend, workers, scheduler, client)
    path = None if out is None else os.fspath(out)
    store = None
    stored = None
    if path is not None and resume and os.path.exists(path):
        stored = ScanStore(path, None).stored_fingerprint()  # type: ignore[arg-type]
        if chunk is None and isinstance(stored.get("block"), list):
            spec = make_spec(model, grid, fixed, ratios, settings, 1, elasticities)
            if len(stored["block"]) == len(spec.shape):
                spec = dataclasses.replace(spec, block=tuple(int(b) for b in stored["block"]))
            else:
                spec = make_spec(model, grid, fixed, ratios, settings, chunk, elasticities)
        else:
            spec = make_spec(model, grid, fixed, ratios, settings, chunk, elasticities)
        _compare(stored, json.loads(json.dumps(spec.fingerprint())), path)
        store = ScanStore(path, spec)
    else:
        spec = make_spec(model, grid, fixed, ratios, settings, chunk, elasticities)
        if path is not None:
            if os.path.exists(path):
                if not overwrite:
                    raise FileExistsError(
                        f"{path} already exists: resume it (--resume / resume=True), choose another output "
                        "or overwrite it (--overwrite / overwrite=True)"
                    )
                shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)
            store = ScanStore(path, spec)
            store.create()

    spec = dataclasses.replace(spec, export_cache=None if export_cache is None else os.fspath(export_cache))
    done = store.done() if store is not None else set()
    todo = [k for k in range(spec.n_chunks) if k not in done]
    results: dict[str, np.ndarray] = {}  # the outputs of an in-memory scan (no store)
    if store is None:
        results = {name: np.full(spec.shape, fill, dtype=dtype) for name, dtype, fill, *_ in spec.outputs}
    done_points = sum(spec.chunk_points(k) for k in done)
    if backend == "single":
        compiled = chunk_traces(spec.model, static_settings(spec.settings), spec.with_t_reheat, spec.size) > 0
        desc = "scan" if compiled or not todo else "scan (compiling)"
    else:
        desc = "scan (starting workers)" if todo else "scan"
    bar = _progress_bar(spec.n_points, done_points, progress, desc)
    start = time.perf_counter()
    finished = len(done)

    def _store_chunk(k: int, data: Mapping[str, np.ndarray]) -> None:
        nonlocal finished
        if store is not None:
            store.write(k, data)
        else:
            for name, *_ in spec.outputs:
                results[name][spec.region(k)] = data[name]
        finished += 1
        if finished == len(done) + 1:
            bar.set_description("scan")
        bar.update(spec.chunk_points(k))

    try:
        if backend == "single":
            iterator = _iter_single(spec, todo)
        elif backend == "processes":
            iterator = _iter_processes(spec, todo, int(workers or os.cpu_count() or 1))
        else:
            iterator = _iter_dask(spec, todo, workers, scheduler, client)
        with contextlib.closing(iterator):  # stops the workers at once on Ctrl-C or an error
            for k, data in iterator:
                _store_chunk(k, data)
    except KeyboardInterrupt:
        bar.close()
        if store is not None:
            print(
                f"scan interrupted: {finished}/{spec.n_chunks} chunks are stored in {path}; "
                "run again with --resume (resume=True) to continue",
                file=sys.stderr,
            )
        raise
    finally:
        bar.close()
    elapsed = time.perf_counter() - start

    if store is not None:
        ds = open_scan(store.path)
    else:
        ds = _in_memory_dataset(spec, results)
    ds.attrs["elapsed_s"] = elapsed
    ds.attrs["chunks_computed"] = len(todo)
    return ds


def _choose_backend(backend, workers, scheduler, client) -> str:
    if backend is None:
        if scheduler is not None or client is not None:
            return "dask"
        if workers is not None and int(workers) > 1:
            try:
                import distributed  # noqa: F401

                return "dask"
            except ImportError:
                return "processes"
        return "single"
    if backend not in ("single", "processes", "dask"):
        raise ValueError(f"backend must be 'single', 'processes' or 'dask', got {backend!r}")
    if workers is not None and int(workers) < 1:
        raise ValueError(f"workers must be a positive integer, got {workers}")
    return backend


def _coordinate_attrs(spec: ScanSpec, name: str, values: np.ndarray, dims: list[str]) -> dict[str, Any]:
    """CF-style attributes of a coordinate: units, long name and, for a grid axis, its spacing."""
    units, long_name = _units_and_long_name(model_spec(spec.model), name)
    return {"units": units, "long_name": long_name, **({"spacing": _spacing(values)} if dims == [name] else {})}


def _output_attrs(spec: ScanSpec, name: str, coordinates: list[tuple[str, np.ndarray, list[str]]]) -> dict[str, Any]:
    """Attributes of an output variable: units, long name, mechanism flags and (for a Zarr store,
    where xarray reads them back as coordinates) the names of the non-dimension ``coordinates``."""
    units, long_name = next((o[3], o[4]) for o in spec.outputs if o[0] == name)
    attrs: dict[str, Any] = {"units": units, "long_name": long_name}
    non_dims = [c for c, _, dims in coordinates if dims != [c]]
    if non_dims:
        attrs["coordinates"] = " ".join(non_dims)
    if name == "mechanism":
        attrs["flag_values"] = list(range(len(MECHANISMS)))
        attrs["flag_meanings"] = " ".join(MECHANISMS)
    return attrs


def _in_memory_dataset(spec: ScanSpec, results: Mapping[str, np.ndarray]):
    import xarray as xr

    coords = {
        name: xr.Variable(dims, values, _coordinate_attrs(spec, name, values, dims))
        for name, values, dims in _coordinate_arrays(spec)
    }
    data_vars = {
        name: xr.Variable(spec.dims, np.asarray(results[name], dtype=dtype), _output_attrs(spec, name, []))
        for name, dtype, *_ in spec.outputs
    }
    return xr.Dataset(data_vars, coords=coords, attrs=_attrs(spec))


def mechanism_names(ds) -> np.ndarray:
    """The mechanism of every point of a scan Dataset as names ("invalid" for −1)."""
    names = np.asarray(list(ds.attrs["mechanism_names"]) + ["invalid"])
    return names[np.asarray(ds["mechanism"].values, dtype=int)]
