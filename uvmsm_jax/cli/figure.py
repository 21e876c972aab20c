"""``uvmsm-jax figure``: a paper figure recomputed from the solvers (:mod:`uvmsm_jax.figures`)."""

from __future__ import annotations

import argparse
import inspect
import os
import time
from collections.abc import Mapping

import numpy as np

from ..figures import DEFAULT_RESOLUTION, FIGURES, MODES, canonical_name, flatten_figure_data, make_figure
from ._common import Command, UsageError, argument_type, parse_int_at_least, positive_float

FIGURE_OPTIONS: tuple[tuple[str, str, str], ...] = (
    ("--m-chi", "m_chi", "dp-regimes: DM mass m_χ [GeV] (default 0.1)"),
    ("--m-ap", "m_ap", "dp-regimes: dark photon mass m_A′ [GeV] (default 0.3)"),
    ("--mass-ratio", "mass_ratio", "dp-thermal-target: m_A′/m_χ (default 3)"),
    ("--alpha-dark", "alpha_dark", "dp-thermal-target: α′ = e′²/4π (default 0.5)"),
)
"""(option, keyword of the figure function, help) of the figure-specific options; an option is
accepted for the figures whose function takes that keyword."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", metavar="NAME", help="figure: " + ", ".join(n.replace("_", "-") for n in FIGURES))
    parser.add_argument("--out", required=True, metavar="FILE", help="output file, .png or .pdf")
    parser.add_argument(
        "--resolution",
        type=argument_type(parse_resolution, "--resolution", "integer"),
        default=None,
        metavar="N",
        help="relic-grid points per axis (default per figure: "
        + ", ".join(f"{k.replace('_', '-')} {v}" for k, v in DEFAULT_RESOLUTION.items())
        + ")",
    )
    parser.add_argument(
        "--mode",
        default="paper",
        choices=MODES,
        help="Model-1 convention (docs/equations.md A.0); 'both' overlays the Ωh²=0.12 curves of both "
        "(default paper; ignored by the Model-2 figures: p2-fig1 and p2-fig3 use P2's system, dp-regimes "
        "and dp-thermal-target the all-regime one; fig1a-wdm draws its Lyman-α line and wdm-line always in "
        "physical mode)",
    )
    group = parser.add_argument_group("figure-specific options")
    for option, _, text in FIGURE_OPTIONS:
        group.add_argument(option, type=positive_float(option), default=None, metavar="X", help=text)
    group.add_argument(
        "--lya-bound",
        type=_lya_bound_type,
        default=None,
        metavar="NAME|KEV",
        help="fig1a-wdm, wdm-line: the Lyman-α bound of the verdict, a name of uvmsm_jax.LYMAN_ALPHA_BOUNDS "
        "or a number in keV (default irsic2017, 5.3 keV; docs/momentum.md)",
    )
    parser.add_argument(
        "--dpi",
        type=argument_type(parse_resolution, "--dpi", "integer"),
        default=150,
        metavar="DPI",
        help="PNG resolution (default 150)",
    )
    parser.add_argument(
        "--data",
        metavar="FILE.npz",
        default=None,
        help="also save the numbers behind the figure (grids, curves, band edges) to FILE.npz",
    )
    parser.add_argument("--json", action="store_true", help="print the result as one JSON object")


def _lya_bound_type(text: str):
    from .momentum import lya_bound_type

    return lya_bound_type(text)


def parse_resolution(text: str, option: str) -> int:
    """An integer ≥ 4 (grid points per axis, or DPI); :class:`UsageError` naming ``option``."""
    return parse_int_at_least(text, option, minimum=4)


def run(args: argparse.Namespace) -> dict:
    try:
        key = canonical_name(args.name)
    except ValueError as err:
        raise UsageError(str(err)) from None
    ext = os.path.splitext(args.out)[1].lower()
    if ext not in (".png", ".pdf"):
        raise UsageError(f"--out must end in .png or .pdf, got {args.out!r}")
    if args.data is not None and not args.data.endswith(".npz"):
        raise UsageError(f"--data must end in .npz, got {args.data!r}")
    accepted = inspect.signature(FIGURES[key]).parameters
    options = {}
    for option, keyword, _ in (*FIGURE_OPTIONS, ("--lya-bound", "lya_bound", "")):
        value = getattr(args, keyword)
        if value is None:
            continue
        if keyword not in accepted:
            raise UsageError(f"{option} does not apply to figure {key.replace('_', '-')}")
        options[keyword] = value
    t0 = time.perf_counter()
    resolution = DEFAULT_RESOLUTION[key] if args.resolution is None else args.resolution
    fig = make_figure(key, args.out, resolution=resolution, mode=args.mode, dpi=args.dpi, **options)
    result = {
        "figure": key.replace("_", "-"),
        "out": os.path.abspath(args.out),
        "resolution": resolution,
        "mode": fig.figure_data.get("mode", args.mode),
        **options,
        "bytes": os.path.getsize(args.out),
        "seconds": round(time.perf_counter() - t0, 1),
    }
    if args.data is not None:
        arrays = flatten_figure_data(fig.figure_data)
        # numpy's stub: mypy cannot rule out a key "allow_pickle" (a bool parameter) in **arrays
        np.savez_compressed(args.data, **arrays)  # type: ignore[arg-type]
        result["data"] = os.path.abspath(args.data)
    return result


def format_text(result: Mapping) -> str:
    return (
        f"wrote {result['out']} ({result['figure']}, resolution {result['resolution']}, mode {result['mode']}, "
        f"{result['bytes']} bytes) in {result['seconds']} s"
    )


COMMAND = Command(
    "figure",
    "draw a paper figure (P1 Figs. 1a–3b, P2 Figs. 1 and 3), a Model-2 regime figure or a Lyman-α figure from the "
    "solvers",
    add_arguments,
    run,
    format_text,
    description="Recompute and draw a figure of P1 (arXiv:1606.09317) or P2 (arXiv:2512.05380), or a map "
    "of the dark-photon model in every regime (dp-regimes, dp-thermal-target), or the Lyman-α verdict on the "
    "freeze-in line (fig1a-wdm, wdm-line): NAME is one of "
    + ", ".join(n.replace("_", "-") for n in FIGURES)
    + ". The output format "
    "follows the extension of --out (.png or .pdf).",
)
