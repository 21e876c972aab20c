"""``uvmsm-jax scan``: Ωh² on a grid written chunk by chunk to Zarr, resumable (:func:`uvmsm_jax.scan`)."""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from .._scan import ELASTICITY_PREFIX, ScanMismatchError, mechanism_names, scan
from ..models import model_spec
from ._common import (
    Command,
    Range,
    UsageError,
    add_json_argument,
    add_model_arguments,
    add_ratio_argument,
    add_settings_arguments,
    argument_type,
    cache_directory,
    parse_positive_float,
    parse_range,
    positive_int,
    reject_other_model_options,
    settings_from_args,
)


def parse_value_or_range(text: str, option: str) -> float | Range:
    """A positive number (a fixed value) or ``LO:HI:N`` (a grid axis); :class:`UsageError` names ``option``."""
    return parse_range(text, option) if ":" in str(text) else parse_positive_float(text, option)


def value_or_range(option: str) -> Callable[[str], Any]:
    """argparse ``type=``: a positive number (fixed value) or ``LO:HI:N`` (a grid axis)."""
    return argument_type(parse_value_or_range, option, "value or range")


def add_grid_arguments(parser: argparse.ArgumentParser) -> None:
    """``--model`` and every model parameter as a value or a LO:HI:N axis, plus ``--ratio``/``--linear``."""
    add_model_arguments(parser, value_type=value_or_range, metavar_suffix="|LO:HI:N")
    add_ratio_argument(parser)
    parser.add_argument(
        "--linear",
        action="append",
        default=[],
        metavar="PARAM",
        help="use linear instead of log spacing for this axis (e.g. --linear m-zp); repeatable",
    )


def grid_from_args(args: argparse.Namespace) -> tuple[dict, dict, dict]:
    """(grid, fixed, ratios) from the options of :func:`add_grid_arguments`."""
    model = args.model
    spec = model_spec(model)
    reject_other_model_options(args)
    linear = {name.lstrip("-").replace("-", "_") for name in args.linear}
    options = {p.field: p.option for p in spec.parameters}
    unknown = linear - set(options)
    if unknown:
        raise UsageError(f"--linear: unknown parameter {sorted(unknown)[0]!r} for --model {model}")
    grid, fixed, ratios = {}, {}, {}
    dm, mediator = spec.dm_mass, spec.mediator_mass
    for field, option in options.items():
        value = getattr(args, field, None)
        if field == dm and args.ratio is not None:
            if value is not None:
                raise UsageError(f"give either {option} or --ratio, not both")
            ratios[dm] = (mediator, args.ratio)
            continue
        if value is None:
            hint = " (or --ratio)" if field == dm else ""
            raise UsageError(f"{option} is required for --model {model}{hint}")
        if isinstance(value, Range):
            grid[field] = value.values("linear" if field in linear else "log")
        else:
            if field in linear:
                raise UsageError(f"--linear {option.lstrip('-')}: {option} is a single value, not a LO:HI:N axis")
            fixed[field] = value
    if not grid:
        raise UsageError("give at least one parameter as a LO:HI:N grid axis")
    return grid, fixed, ratios


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_grid_arguments(parser)
    parser.add_argument("--out", required=True, metavar="FILE.zarr", help="Zarr store to write (chunk by chunk)")
    parser.add_argument(
        "--resume", action="store_true", help="continue an interrupted scan in --out (finished chunks are kept)"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    parser.add_argument(
        "--chunk",
        type=positive_int("--chunk"),
        metavar="N",
        help="maximum points per compiled chunk (default 512 on CPU, 4096 on GPU)",
    )
    parser.add_argument(
        "--workers",
        type=positive_int("--workers"),
        metavar="N",
        help="N worker processes (Dask LocalCluster, or local processes with --backend processes)",
    )
    parser.add_argument("--scheduler", metavar="ADDR", help="Dask scheduler address (e.g. tcp://host:8786)")
    parser.add_argument(
        "--backend", choices=("single", "processes", "dask"), help="default: single, or dask with --workers/--scheduler"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument(
        "--elasticities",
        action="store_true",
        help="also store elasticity_<x> = d ln Ωh²/d ln x for every model parameter x (every point solved by the ODE)",
    )
    add_settings_arguments(parser)
    add_json_argument(parser)


def _summary(ds, path: str, elapsed: float) -> dict[str, Any]:
    status = np.asarray(ds["status"].values)
    codes, counts = np.unique(status, return_counts=True)
    mech = mechanism_names(ds)
    m_codes, m_counts = np.unique(mech, return_counts=True)
    omega = np.asarray(ds["omega_h2"].values)
    finite = omega[np.isfinite(omega)]
    return {
        "out": path,
        "dims": {d: int(ds.sizes[d]) for d in ds["omega_h2"].dims},
        "points": int(status.size),
        "chunks": int(ds.attrs.get("n_chunks", 0)),
        "chunks_computed": int(ds.attrs.get("chunks_computed", 0)),
        "elapsed_s": elapsed,
        "status_counts": {str(int(c)): int(n) for c, n in zip(codes, counts)},
        "mechanism_counts": {str(c): int(n) for c, n in zip(m_codes, m_counts)},
        "omega_h2_range": [float(finite.min()), float(finite.max())] if finite.size else [None, None],
        "elasticities": sorted(name for name in ds.data_vars if name.startswith(ELASTICITY_PREFIX)),
        "settings": json.loads(ds.attrs["settings"]),
    }


def run(args: argparse.Namespace) -> dict:
    grid, fixed, ratios = grid_from_args(args)
    settings = settings_from_args(args)
    if args.scheduler is not None and args.backend not in (None, "dask"):
        raise UsageError("--scheduler needs the dask backend")
    if os.path.exists(args.out) and not (args.resume or args.overwrite):
        raise UsageError(f"--out {args.out} already exists (use --resume to continue it or --overwrite to replace it)")
    start = time.perf_counter()
    try:
        ds = scan(
            args.model,
            grid,
            fixed=fixed,
            ratios=ratios,
            settings=settings,
            out=args.out,
            resume=args.resume,
            overwrite=args.overwrite,
            chunk=args.chunk,
            backend=args.backend,
            workers=args.workers,
            scheduler=args.scheduler,
            progress=not args.no_progress,
            export_cache=cache_directory("export"),  # a repeated scan loads its compiled stages
            elasticities=args.elasticities,
        )
    except ScanMismatchError as err:
        raise UsageError(str(err)) from None
    return _summary(ds, args.out, time.perf_counter() - start)


def format_text(result: Mapping) -> str:
    dims = " x ".join(f"{d}[{n}]" for d, n in result["dims"].items())
    lines = [
        f"wrote {result['out']}: {dims} = {result['points']} points in {result['chunks']} chunks "
        f"({result['chunks_computed']} computed now, {result['elapsed_s']:.1f} s)",
        "status:    " + ", ".join(f"{k}: {v}" for k, v in result["status_counts"].items()),
        "mechanism: " + ", ".join(f"{k}: {v}" for k, v in result["mechanism_counts"].items()),
    ]
    lo, hi = result["omega_h2_range"]
    if lo is not None:
        lines.append(f"omega_h2:  {lo:.4g} .. {hi:.4g}")
    if result["elasticities"]:
        lines.append("stored:    " + ", ".join(result["elasticities"]))
    return "\n".join(lines)


COMMAND = Command(
    "scan",
    "relic abundance on a parameter grid, written chunk by chunk to Zarr (resumable)",
    add_arguments,
    run,
    format_text,
    description="Scan Omega h^2 over a grid (each model parameter a value or LO:HI:N, log-spaced unless "
    "--linear) and write an xarray Dataset to a Zarr store chunk by chunk. Ctrl-C (or a killed job) "
    "loses nothing: run the same command again with --resume.",
)
