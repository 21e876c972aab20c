"""``uvmsm-jax relic``: Ωh², mechanism and status of one parameter point (:func:`uvmsm_jax.relic`)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping

from .._relic import relic
from ._common import (
    PROG,
    Command,
    add_point_arguments,
    cache_directory,
    format_value,
    model_line,
    point_from_args,
    point_summary,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_point_arguments(parser)
    parser.add_argument(
        "--elasticities",
        action="store_true",
        help="also d ln Ωh²/d ln x for every model parameter x (and T_R when given), from the forward-mode derivative",
    )


def run(args: argparse.Namespace) -> dict:
    """``relic(model, settings).as_dict()`` with the model, its parameters and the settings used."""
    # the traced solver is kept beside the compilation cache: a repeated call skips tracing too
    data = relic(
        *point_from_args(args), elasticities=args.elasticities, export_cache=cache_directory("export")
    ).as_dict()
    head = {k: data.pop(k) for k in ("omega_h2", "yield_dm", "mechanism", "status")}
    if head["status"] != 0:
        print(
            f"{PROG}: warning: the relic solver returned status {head['status']} ({data['status_message']})",
            file=sys.stderr,
        )
    return {**head, **data, **point_summary(args)}


def format_text(result: Mapping) -> str:
    settings = result["settings"]
    rows = [
        ("model", model_line(result)),
        ("settings", ", ".join(f"{k}={format_value(v)}" for k, v in settings.items() if v is not None)),
        ("omega_h2", format_value(result["omega_h2"])),
        ("yield_dm", format_value(result["yield_dm"])),
        ("mechanism", format_value(result["mechanism"])),
        ("status", f"{result['status']} ({result['status_message']})"),
    ]
    rows += [(f"d ln Ωh²/d ln {name}", format_value(value)) for name, value in result.get("elasticities", {}).items()]
    width = max(10, *(len(k) for k, _ in rows))
    return "\n".join(f"{k:<{width}} {v}" for k, v in rows)


COMMAND = Command("relic", "relic abundance Ωh² of one parameter point", add_arguments, run, format_text)
