"""``uvmsm-jax momentum``: the dark matter's momentum distribution today, its moments, the equivalent
thermal-WDM mass and the Lyman-α verdict of one parameter point (:func:`uvmsm_jax.momentum_distribution`,
docs/equations.md Part W)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping

from ..momentum import DEFAULT_LYMAN_ALPHA_BOUND, LYMAN_ALPHA_BOUNDS, momentum_distribution, resolve_lyman_alpha_bound
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
    to_jsonable,
)

DEFAULT_LYA_BOUND = DEFAULT_LYMAN_ALPHA_BOUND


def lya_bound_type(text: str) -> str | float:
    """``--lya-bound``: a name of :data:`uvmsm_jax.LYMAN_ALPHA_BOUNDS` or a positive number [keV]."""
    try:
        name, kev = resolve_lyman_alpha_bound(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--lya-bound must be one of {', '.join(LYMAN_ALPHA_BOUNDS)} or a positive number in keV, got {text!r}"
        ) from None
    return kev if name == "custom" else name


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_point_arguments(parser)
    group = parser.add_argument_group("momentum distribution")
    group.add_argument(
        "--lya-bound",
        type=lya_bound_type,
        default=DEFAULT_LYA_BOUND,
        metavar="NAME|KEV",
        help="Lyman-α lower bound on the thermal-relic WDM mass: "
        + ", ".join(f"{name} ({kev:g} keV)" for name, kev in LYMAN_ALPHA_BOUNDS.items())
        + f", or a number in keV (default {DEFAULT_LYA_BOUND}; docs/equations.md W.3)",
    )
    group.add_argument(
        "--t-kd",
        type=positive_float("--t-kd"),
        default=None,
        metavar="GEV",
        help="kinetic-decoupling temperature [GeV] after non-relativistic freeze-out (W16); default the "
        "freeze-out temperature, the coldest choice (K56). Freeze-in points ignore it",
    )


def run(args: argparse.Namespace) -> dict:
    """``momentum_distribution(model, settings, ...).as_dict()`` with the model, its parameters and the
    settings used."""
    model, settings = point_from_args(args)
    data = momentum_distribution(
        model, settings, lya_bound=args.lya_bound, t_kd=args.t_kd, export_cache=cache_directory("export")
    ).as_dict()
    if data["status"] != 0:
        print(
            f"{PROG}: warning: momentum_distribution returned status {data['status']} ({data['status_message']})",
            file=sys.stderr,
        )
    return {**data, **point_summary(args)}


def _with_unit(value, unit: str) -> str:
    return "-" if value is None else f"{format_value(value)} {unit}"


def _verdict(result: Mapping) -> str:
    bound = f"{result['lya_bound']}: {format_value(result['lya_bound_kev'])} keV"
    if result["lyman_alpha"] is None:
        return f"- ({bound})"
    return f"{result['lyman_alpha']} ({bound}, margin ln(m_wdm/bound) = {format_value(result['lya_margin'], '.3f')})"


def format_text(result: Mapping) -> str:
    result = to_jsonable(result)  # plain floats; NaN -> None, printed as "-"
    settings = result["settings"]
    m_wdm = _with_unit(result["m_wdm_kev"], "keV")
    if result.get("warmth_is_lower_bound") and result["m_wdm_kev"] is not None:
        m_wdm += " (upper bound: at least this warm, docs/equations.md K56)"
    q = result.get("q") or []
    rows = [
        ("model", model_line(result)),
        ("settings", ", ".join(f"{k}={format_value(v)}" for k, v in settings.items() if v is not None)),
        ("mechanism", format_value(result["mechanism"])),
        ("distribution", format_value(result["distribution"])),
        ("status", f"{result['status']} ({result['status_message']})"),
        ("omega_h2", f"{format_value(result['omega_h2'])} (relic), {format_value(result['omega_h2_from_f'])} (from f)"),
        ("<q>", format_value(result["mean_q"])),
        ("<q^2>^1/2", format_value(result["rms_q"])),
        ("m_wdm (W21)", m_wdm),
        ("m_wdm (W22)", _with_unit(result["m_wdm_sigma_kev"], "keV")),
        ("lambda_fs", _with_unit(result["lambda_fs_mpc"], "Mpc")),
        ("v_rms today", _with_unit(result["v_rms_today"], "c")),
        ("lyman-alpha", _verdict(result)),
    ]
    if result.get("mediator_decay_temperature_gev") is not None:
        rows.append(("mediator T_d", _with_unit(result["mediator_decay_temperature_gev"], "GeV")))
    if result.get("kinetic_decoupling_temperature_gev") is not None:
        rows.append(("T_kd", _with_unit(result["kinetic_decoupling_temperature_gev"], "GeV")))
    if q and result["status"] == 0:
        rows.append(("q grid", f"{len(q)} points, {format_value(q[0])} to {format_value(q[-1])} (--json: q, q2f)"))
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}} {v}" for k, v in rows)


COMMAND = Command(
    "momentum",
    "momentum distribution of the dark matter, equivalent WDM mass and Lyman-α verdict of one parameter point",
    add_arguments,
    run,
    format_text,
)
