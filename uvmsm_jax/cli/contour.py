"""``uvmsm-jax contour``: the Ωh² = target set in a coupling, every branch (:func:`uvmsm_jax.contour`)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Mapping
from typing import Any

from .._contour import METHODS, contour
from ..models import MODELS, model_spec
from ._common import (
    Command,
    UsageError,
    add_json_argument,
    add_model_arguments,
    add_ratio_argument,
    add_settings_arguments,
    cache_directory,
    positive_float,
    positive_int,
    range_type,
    reject_other_model_options,
    settings_from_args,
    to_jsonable,
)

MEDIATOR_OPTIONS = frozenset(spec.parameter(spec.mediator_mass).option for spec in MODELS.values())
"""Options that take a LO:HI:N grid of mediator masses."""


def _mass_or_range(option: str) -> Callable[[str], Any]:
    """The mediator mass is a LO:HI:N grid; every other parameter a fixed value."""
    return range_type(option) if option in MEDIATOR_OPTIONS else positive_float(option)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_arguments(parser, value_type=_mass_or_range)
    group = parser.add_argument_group("contour")
    add_ratio_argument(group)
    group.add_argument(
        "--unknown",
        metavar="COUPLING",
        default=None,
        help="the coupling to solve for (default: "
        + "; ".join(
            f"{name} {spec.parameter(spec.contour_unknown).option.lstrip('-')}" for name, spec in MODELS.items()
        )
        + "); the others are fixed by their options",
    )
    group.add_argument(
        "--target",
        type=positive_float("--target"),
        default=0.12,
        metavar="OMEGA_H2",
        help="target relic abundance (default 0.12)",
    )
    group.add_argument(
        "--coupling-range",
        type=range_type("--coupling-range"),
        default=None,
        metavar="LO:HI:N",
        help="bracketing scan of the coupling (default 1e-13:1:40)",
    )
    group.add_argument(
        "--method",
        choices=METHODS,
        default="newton",
        help="root finder (default newton; secant: derivative-free, no sensitivities)",
    )
    group.add_argument(
        "--tol", type=positive_float("--tol"), default=1e-5, help="|ln(Omega/target)| tolerance (default 1e-5)"
    )
    group.add_argument(
        "--chunk", type=positive_int("--chunk"), metavar="N", help="points per compiled chunk of the bracketing scan"
    )
    parser.add_argument("--out", metavar="FILE", help="write the JSON result to FILE (text summary on stdout)")
    add_settings_arguments(parser)
    add_json_argument(parser)


def _contour_inputs(args: argparse.Namespace) -> tuple[Any, dict[str, float], str]:
    """(mediator masses, fixed parameters, unknown) from the options; :class:`UsageError` if one is missing."""
    spec = model_spec(args.model)
    reject_other_model_options(args)
    unknown = spec.contour_unknown if args.unknown is None else args.unknown.lstrip("-").replace("-", "_")
    if unknown not in spec.couplings:
        raise UsageError(
            f"--unknown must be one of {', '.join(c.replace('_', '-') for c in spec.couplings)} "
            f"for --model {spec.name}, got {args.unknown!r}"
        )
    mediator = spec.parameter(spec.mediator_mass)
    masses = getattr(args, mediator.field)
    if masses is None:
        raise UsageError(f"{mediator.option} LO:HI:N is required for --model {spec.name}")
    dm = spec.parameter(spec.dm_mass)
    if (args.ratio is None) == (getattr(args, dm.field) is None):
        raise UsageError(f"give exactly one of --ratio or {dm.option}")
    fixed: dict[str, float] = {}
    for p in spec.parameters:
        value = getattr(args, p.field)
        if p.field == unknown:
            if value is not None:
                raise UsageError(f"{p.option} is the unknown of the contour; do not give it")
        elif p.field != mediator.field and value is not None:
            fixed[p.field] = value
        elif p.field not in (mediator.field, dm.field):
            raise UsageError(f"{p.option} is required for --model {spec.name} solving for {unknown}")
    return masses.values("log"), fixed, unknown


def run(args: argparse.Namespace) -> dict:
    masses, fixed, unknown = _contour_inputs(args)
    kwargs: dict[str, Any] = {}
    if args.coupling_range is not None:
        kwargs["coupling_range"] = (args.coupling_range.lo, args.coupling_range.hi)
        kwargs["n_coarse"] = max(args.coupling_range.n, 2)
    result = contour(
        args.model,
        masses,
        ratio=args.ratio,
        fixed=fixed or None,
        target=args.target,
        unknown=unknown,
        settings=settings_from_args(args),
        method=args.method,
        tol=args.tol,
        chunk=args.chunk,
        progress=not args.json,
        export_cache=cache_directory("export"),  # a repeated contour loads its bracketing scan's stages
        **kwargs,
    )
    data = result.as_dict()
    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            json.dump(to_jsonable(data), fh, allow_nan=False, indent=1)
            fh.write("\n")
    return data


def format_text(result: Mapping) -> str:
    unknown = result["unknown"]
    model = result["model"]
    spec = model_spec(model)
    med, dm = spec.mediator_mass, spec.dm_mass
    head = f"Omega h^2 = {result['target']:g} contour, {model}, solving for {unknown} ({result['method']})"
    lines = [
        head,
        f"{med:>12} {dm:>12} {unknown:>13} {'omega_h2':>11} {'mechanism':<24} {'status':>6} "
        f"{'dln' + unknown + '/dln' + med:>18}",
    ]
    key = f"d_ln_{unknown}/d_ln_{med}"
    for p in result["points"]:
        lines.append(
            f"{p[med]:12.5g} {p[dm]:12.5g} {p[unknown]:13.6e} {p['omega_h2']:11.6g} {p['mechanism']:<24} "
            f"{p['status']:>6} {p['sensitivities'].get(key, float('nan')):18.6g}"
        )
    if result["no_solution"]:
        lines.append(
            f"no solution in {unknown} range {result['coupling_range']} at {med} = "
            + ", ".join(f"{q[med]:.4g}" for q in result["no_solution"])
        )
    return "\n".join(lines)


COMMAND = Command(
    "contour",
    "Omega h^2 = target contour in the coupling for each mediator mass (every branch, sensitivities)",
    add_arguments,
    run,
    format_text,
    description="Solve Omega h^2(coupling) = target for each mediator mass by Newton in ln g (optimistix) "
    "with bracketing, returning every branch (freeze-in, freeze-out, ...) with its mechanism and "
    "implicit-function-theorem sensitivities. The mediator mass option takes a LO:HI:N grid.",
)
