"""``uvmsm-jax widths``: total and partial widths of the mediator (:func:`uvmsm_jax.widths`)."""

from __future__ import annotations

import argparse
from collections.abc import Mapping

from .._widths import widths
from ._common import Command, add_point_arguments, format_value, model_line, point_from_args, point_summary, to_jsonable


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_point_arguments(parser, thermal=False)


def run(args: argparse.Namespace) -> dict:
    """``widths(model, settings).as_dict()`` in GeV with the model, its parameters and the settings used."""
    data = widths(*point_from_args(args)).as_dict()
    return {"total": data["total"], "partial": data["partial"], "units": "GeV", **point_summary(args)}


def format_text(result: Mapping) -> str:
    total = to_jsonable(result["total"])
    lines = [
        f"mediator widths [GeV], {model_line(result)}, mode {result['settings']['mode']}",
        f"{'channel':<9} {'width/GeV':>13} {'BR':>11}",
    ]
    for channel, width in to_jsonable(result["partial"]).items():
        br = width / total if (width is not None and total) else None
        lines.append(f"{channel:<9} {format_value(width, '13.6e')} {format_value(br, '11.4e')}")
    lines.append(f"{'total':<9} {format_value(total, '13.6e')}")
    return "\n".join(lines)


COMMAND = Command("widths", "total and partial widths of the mediator (Z′ or A′)", add_arguments, run, format_text)
