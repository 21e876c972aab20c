"""``uvmsm-jax observables``: CMB, direct-detection and ΔN_eff observables of one parameter point
(:func:`uvmsm_jax.observables`, docs/equations.md H.4)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping

from .._observables import PLANCK_P_ANN_LIMIT, TARGETS, observables
from ._common import (
    PROG,
    Command,
    add_point_arguments,
    cache_directory,
    format_value,
    model_line,
    point_from_args,
    point_summary,
    positive_float,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_point_arguments(parser)
    group = parser.add_argument_group("observables")
    group.add_argument(
        "--p-ann-limit",
        type=positive_float("--p-ann-limit"),
        default=PLANCK_P_ANN_LIMIT,
        metavar="CM3_S_GEV",
        help=f"upper bound on p_ann [cm^3 s^-1 GeV^-1] (default {PLANCK_P_ANN_LIMIT:g}, Planck 2018, "
        "docs/equations.md (H21))",
    )
    group.add_argument(
        "--target",
        choices=tuple(TARGETS),
        default="xenon",
        help="nucleus of the per-nucleon cross section sigma_n (docs/equations.md (H24)); default xenon",
    )


def run(args: argparse.Namespace) -> dict:
    """``observables(model, settings).as_dict()`` with the model, its parameters and the settings used."""
    model, settings = point_from_args(args)
    # the relic solver and the closed forms are kept beside the compilation cache: a repeated call loads them
    data = observables(
        model, settings, p_ann_limit=args.p_ann_limit, target=args.target, export_cache=cache_directory("export")
    ).as_dict()
    if data["status"] != 0:
        print(
            f"{PROG}: warning: the relic solver returned status {data['status']} ({data['status_message']}); "
            "the late-time observables do not depend on it",
            file=sys.stderr,
        )
    return {**data, **point_summary(args)}


def _with_unit(value, unit: str) -> str:
    return "-" if value is None else f"{format_value(value)} {unit}"


def format_text(result: Mapping) -> str:
    settings = result["settings"]
    target = result["target"]
    excluded = result["cmb_excluded"]
    rows = [
        ("model", model_line(result)),
        ("settings", ", ".join(f"{k}={format_value(v)}" for k, v in settings.items() if v is not None)),
        ("omega_h2", format_value(result["omega_h2"])),
        ("mechanism", format_value(result["mechanism"])),
        ("status", f"{result['status']} ({result['status_message']})"),
        ("sigma_v_late", _with_unit(result["sigma_v_late_cm3_s"], "cm^3/s")),
        ("f_eff", format_value(result["f_eff"])),
        (
            "p_ann",
            f"{_with_unit(result['p_ann'], 'cm^3/s/GeV')} (limit {format_value(result['p_ann_limit'])}"
            + ("" if excluded is None else ", excluded" if excluded else ", allowed")
            + ")",
        ),
        ("sigma_e", _with_unit(result["sigma_e_cm2"], "cm^2")),
        ("sigma_p", _with_unit(result["sigma_p_cm2"], "cm^2")),
        (f"sigma_n ({target})", _with_unit(result[f"sigma_n_{target}_cm2"], "cm^2")),
        ("light mediator", format_value(result["nuclear_recoil_light_mediator"])),
        ("dNeff caveat", format_value(result["delta_neff_unmodelled"])),
    ]
    if result.get("not_modelled"):
        rows.append(("not modelled", result["not_modelled"]))
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}} {v}" for k, v in rows)


COMMAND = Command(
    "observables",
    "CMB p_ann, direct-detection cross sections and ΔN_eff flag of one parameter point",
    add_arguments,
    run,
    format_text,
)
