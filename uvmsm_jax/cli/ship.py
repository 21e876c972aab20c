"""``uvmsm-jax ship``: SHiP reach in the SM coupling of the mediator (:func:`uvmsm_jax.ship.ship_reach`)."""

from __future__ import annotations

import argparse
from collections.abc import Mapping

from ..models import model_spec
from ..ship import ship_reach
from ._common import (
    Command,
    add_json_argument,
    add_model_option,
    cache_directory,
    format_value,
    positive_float,
    range_type,
    to_jsonable,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_option(parser)
    parser.add_argument(
        "--m",
        required=True,
        type=range_type("--m"),
        metavar="LO:HI:N",
        help="mediator masses [GeV]: N log-spaced points from LO to HI",
    )
    parser.add_argument(
        "--pot", type=positive_float("--pot"), default=2e20, metavar="N", help="protons on target (default 2e20)"
    )
    parser.add_argument(
        "--form-factor",
        choices=("vmd", "dipole"),
        default="vmd",
        help="proton form factor for bremsstrahlung (default vmd)",
    )
    parser.add_argument(
        "--production", choices=("brems", "mesons", "all"), default="brems", help="production channels (default brems)"
    )
    add_json_argument(parser)


def run(args: argparse.Namespace) -> dict:
    """The reach edges at N log-spaced masses, with the model's SM coupling named."""
    reach = ship_reach(
        args.model,
        args.m.values("log"),
        pot=args.pot,
        form_factor=args.form_factor,
        production=args.production,
        export_cache=cache_directory("export"),  # a repeated call loads the compiled computation
    )
    return {"model": args.model, "coupling": model_spec(args.model).sm_coupling, **reach}


def format_text(result: Mapping) -> str:
    coupling = result["coupling"]
    lines = [
        f"SHiP reach, {result['model']} ({coupling}), "
        + ", ".join(f"{k}={format_value(v)}" for k, v in result["settings"].items()),
        f"{'mass/GeV':>12} {coupling + ' lower':>14} {coupling + ' upper':>14}",
    ]
    for m, lo, hi in zip(*(to_jsonable(result[k]) for k in ("mass", "lower", "upper"))):
        lines.append(f"{format_value(m, '12.5g')} {format_value(lo, '14.4e'):>14} {format_value(hi, '14.4e'):>14}")
    lines.append("('-' = no reach at that mass)")
    return "\n".join(lines)


COMMAND = Command("ship", "SHiP sensitivity (reach in ε or g_B−L) over a mass range", add_arguments, run, format_text)
