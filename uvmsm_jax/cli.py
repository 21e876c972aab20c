"""The ``uvmsm-jax`` command line (DESIGN.md §3); also ``python -m uvmsm_jax``.

Subcommands::

    uvmsm-jax relic  --model uvmsm --m-n1 GEV --m-zp GEV --g-bl G [--mode ...] [--gstar ...]
                     [--statistics mb|quantum] [--t-reheat GEV] [--json]
    uvmsm-jax relic  --model dark-photon --m-chi GEV --m-ap GEV --epsilon E --e-dark E [...]
    uvmsm-jax widths --model uvmsm|dark-photon ... [--mode ...] [--json]
    uvmsm-jax ship   --model dark-photon|uvmsm --m LO:HI:N [--pot 2e20] [--form-factor vmd|dipole]
                     [--production brems|mesons|all] [--json]

Contract:

* ``--json`` prints exactly one JSON object on stdout and nothing else: while the command runs,
  everything written to stdout (Python or C level, e.g. JAX/XLA messages) goes to stderr.
  Non-finite numbers are written as ``null``.
* Bad input exits with status 2 and one line on stderr naming the offending option, e.g.
  ``uvmsm-jax: error: --m-zp must be a positive finite number, got -1.0``. A ``ValueError`` raised
  by the library is treated the same way. Any other exception exits with status 1 and one line
  (``--debug`` shows the traceback).

Adding a subcommand
-------------------
A subcommand is a :class:`Command`: ``add_arguments(parser)`` declares its options and
``run(args)`` returns a JSON-ready mapping (printed as JSON with ``--json``, otherwise through
``format_text``) or ``None`` when it prints its own output. Either call :func:`register` here, or
put ``CLI_COMMAND = Command(...)`` in your module and add ``"name": "module:CLI_COMMAND"`` to
:data:`EXTERNAL_COMMANDS`. Such modules are imported when the parser is built, so import heavy
solvers inside ``run``. Reuse :func:`add_model_arguments`, :func:`model_from_args`,
:func:`add_settings_arguments`, :func:`settings_from_args`, :func:`positive_float`,
:func:`parse_range` / :func:`range_type` and :func:`add_json_argument`; raise :class:`UsageError`
(or ``ValueError``) for bad input.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib
import io
import json
import math
import os
import re
import sys
import traceback
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

PROG = "uvmsm-jax"


class UsageError(ValueError):
    """Bad command-line input: reported as one line on stderr, exit status 2."""


# ---------------------------------------------------------------------------------------------
# Argument types (each knows the option it parses, so messages name it)
# ---------------------------------------------------------------------------------------------


def parse_positive_float(text: str, option: str) -> float:
    """``float(text)`` if it is a positive finite number, else :class:`UsageError` naming ``option``."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise UsageError(f"{option} must be a positive finite number, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise UsageError(f"{option} must be a positive finite number, got {value!r}")
    return value


def positive_float(option: str) -> Callable[[str], float]:
    """argparse ``type=`` for a positive finite float; errors name ``option``."""

    def convert(text: str) -> float:
        try:
            return parse_positive_float(text, option)
        except UsageError as err:
            raise argparse.ArgumentTypeError(str(err)) from None

    convert.__name__ = "positive number"
    return convert


class Range(NamedTuple):
    """A grid ``LO:HI:N`` from the command line (LO > 0, HI > LO, N ≥ 1)."""

    lo: float
    hi: float
    n: int

    def values(self, spacing: str = "log"):
        """The N grid points as a NumPy float64 array: ``"log"`` (default) or ``"linear"`` spacing.

        N = 1 gives ``[LO]``.
        """
        import numpy as np

        if self.n == 1:
            return np.array([self.lo], dtype=np.float64)
        if spacing == "log":
            return np.geomspace(self.lo, self.hi, self.n, dtype=np.float64)
        if spacing == "linear":
            return np.linspace(self.lo, self.hi, self.n, dtype=np.float64)
        raise ValueError(f"spacing must be 'log' or 'linear', got {spacing!r}")


def parse_range(text: str, option: str = "range") -> Range:
    """Parse ``"LO:HI:N"`` (LO > 0, HI > LO, N integer ≥ 1); :class:`UsageError` names ``option``."""
    parts = str(text).split(":")
    if len(parts) != 3:
        raise UsageError(f"{option} must have the form LO:HI:N (e.g. 0.01:1:50), got {text!r}")
    lo_text, hi_text, n_text = (p.strip() for p in parts)
    lo = parse_positive_float(lo_text, f"{option} LO")
    hi = parse_positive_float(hi_text, f"{option} HI")
    if not hi > lo:
        raise UsageError(f"{option} needs HI > LO, got {text!r}")
    try:
        n = int(n_text)
    except ValueError:
        raise UsageError(f"{option} N must be an integer >= 1, got {n_text!r}") from None
    if n < 1:
        raise UsageError(f"{option} N must be an integer >= 1, got {n}")
    return Range(lo, hi, n)


def range_type(option: str) -> Callable[[str], Range]:
    """argparse ``type=`` for ``LO:HI:N`` ranges; errors name ``option``."""

    def convert(text: str) -> Range:
        try:
            return parse_range(text, option)
        except UsageError as err:
            raise argparse.ArgumentTypeError(str(err)) from None

    convert.__name__ = "range"
    return convert


def gstar_type(text: str) -> str | float:
    """``--gstar``: a table name of :data:`uvmsm_jax.models.GSTAR_TABLES` or a positive number."""
    from .models import GSTAR_TABLES

    if text in GSTAR_TABLES:
        return text
    try:
        return parse_positive_float(text, "--gstar")
    except UsageError:
        raise argparse.ArgumentTypeError(
            f"--gstar must be one of {', '.join(GSTAR_TABLES)} or a positive number, got {text!r}"
        ) from None


# ---------------------------------------------------------------------------------------------
# Parser with one-line errors
# ---------------------------------------------------------------------------------------------

# argparse treats "-1e-3", "-inf" or "-1:2:3" as option names (only "-1" and "-1.5" count as
# numbers), which would turn "--m-zp -1e-3" into "expected one argument". Treat anything that
# starts with "-" and a digit (no option does), and -inf/-nan, as a value so it reaches the
# validators and gets the real message.
_NEGATIVE_NUMBER = re.compile(r"^-\.?\d|^-(inf|infinity|nan)$", re.IGNORECASE)
_ARGUMENT_MESSAGE = re.compile(r"argument (\S+): (.*)", re.DOTALL)


def _one_line(message: str) -> str:
    return " ".join(str(message).split())


def _rephrase(message: str) -> str:
    """``argument --x: --x must be…`` → ``--x must be…``; ``argument --x: msg`` → ``--x: msg``."""
    match = _ARGUMENT_MESSAGE.fullmatch(message)
    if match:
        option, rest = match.groups()
        message = rest if rest.startswith(option) else f"{option}: {rest}"
    return _one_line(message)


class _Parser(argparse.ArgumentParser):
    """ArgumentParser whose errors are one line on stderr (no usage block), exit status 2."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)
        if hasattr(self, "_negative_number_matcher"):
            self._negative_number_matcher = _NEGATIVE_NUMBER

    def error(self, message: str):  # noqa: D102 - argparse API
        self.exit(2, f"{PROG}: error: {_rephrase(message)}\n")


# ---------------------------------------------------------------------------------------------
# Shared option groups: models and settings
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Param:
    option: str
    field: str
    metavar: str
    help: str


MODEL_PARAMETERS: dict[str, tuple[_Param, ...]] = {
    "uvmsm": (
        _Param("--m-n1", "m_n1", "GEV", "UνMSM: dark-matter N₁ mass M_N₁ [GeV]"),
        _Param("--m-zp", "m_zp", "GEV", "UνMSM: B−L gauge boson mass M_Z′ [GeV]"),
        _Param("--g-bl", "g_bl", "G", "UνMSM: B−L gauge coupling g_B−L"),
    ),
    "dark-photon": (
        _Param("--m-chi", "m_chi", "GEV", "dark photon model: Dirac DM χ mass m_χ [GeV]"),
        _Param("--m-ap", "m_ap", "GEV", "dark photon model: dark photon mass m_A′ [GeV]"),
        _Param("--epsilon", "epsilon", "E", "dark photon model: kinetic mixing ε"),
        _Param("--e-dark", "e_dark", "E", "dark photon model: dark gauge coupling e′ (not α′)"),
    ),
}
"""Model name on the command line → its parameters (option, field of the model class)."""

MODEL_NAMES = tuple(MODEL_PARAMETERS)


def _model_class(name: str):
    from .models import DarkPhotonDM, UVMSM

    return {"uvmsm": UVMSM, "dark-photon": DarkPhotonDM}[name]


def add_model_option(parser: argparse.ArgumentParser, models: tuple[str, ...] = MODEL_NAMES) -> None:
    """Add the required ``--model`` choice."""
    parser.add_argument(
        "--model", required=True, choices=models, help="model: " + " | ".join(models)
    )


def add_model_arguments(parser: argparse.ArgumentParser, models: tuple[str, ...] = MODEL_NAMES) -> None:
    """Add ``--model`` and every model parameter option (validated positive finite numbers)."""
    add_model_option(parser, models)
    for model in models:
        group = parser.add_argument_group(f"--model {model}")
        for p in MODEL_PARAMETERS[model]:
            group.add_argument(p.option, dest=p.field, metavar=p.metavar, type=positive_float(p.option), help=p.help)


def reject_other_model_options(args: argparse.Namespace) -> None:
    """:class:`UsageError` if an option of a model other than ``--model`` was given."""
    name = args.model
    takes = ", ".join(q.option for q in MODEL_PARAMETERS[name])
    for other, params in MODEL_PARAMETERS.items():
        for p in params if other != name else ():
            if getattr(args, p.field, None) is not None:
                raise UsageError(f"{p.option} does not apply to --model {name} (it takes {takes})")


def model_from_args(args: argparse.Namespace):
    """Build the model chosen by ``--model`` from its options; :class:`UsageError` if one is missing
    or an option of the other model was given."""
    name = args.model
    reject_other_model_options(args)
    values = {}
    for p in MODEL_PARAMETERS[name]:
        value = getattr(args, p.field, None)
        if value is None:
            raise UsageError(f"{p.option} is required for --model {name}")
        values[p.field] = value
    return _model_class(name)(**values)


def model_parameters(args: argparse.Namespace) -> dict[str, float]:
    """The chosen model's parameters as plain floats, keyed by field name."""
    return {p.field: float(getattr(args, p.field)) for p in MODEL_PARAMETERS[args.model]}


STATISTICS = {"mb": "maxwell-boltzmann", "quantum": "quantum"}


def add_settings_arguments(parser: argparse.ArgumentParser, *, thermal: bool = True) -> None:
    """Add ``--mode`` and, with ``thermal``, ``--gstar``, ``--statistics``, ``--t-reheat``."""
    group = parser.add_argument_group("settings")
    group.add_argument(
        "--mode", choices=("physical", "paper"), default="physical",
        help="UνMSM conventions: physical (default) or paper (P1 as printed; docs/equations.md A.0)",
    )
    if not thermal:
        return
    group.add_argument(
        "--gstar", type=gstar_type, default="saikawa2018", metavar="saikawa2018|saikawa2020|saikawa2018-fit|NUMBER",
        help="g*(T) treatment: tabulated (default saikawa2018), analytic fit, or a constant g* = g*s",
    )
    group.add_argument(
        "--statistics", choices=tuple(STATISTICS), default="mb",
        help="equilibrium statistics: mb = Maxwell–Boltzmann (default) or quantum (FD/BE)",
    )
    group.add_argument(
        "--t-reheat", type=positive_float("--t-reheat"), default=None, metavar="GEV",
        help="reheating temperature T_R [GeV] (default 100·max(M_DM, M_V))",
    )


def settings_from_args(args: argparse.Namespace):
    """:class:`uvmsm_jax.models.Settings` from the options of :func:`add_settings_arguments`."""
    from .models import Settings

    kwargs: dict[str, Any] = {"mode": args.mode}
    if getattr(args, "gstar", None) is not None:
        kwargs["gstar"] = args.gstar
    if getattr(args, "statistics", None) is not None:
        kwargs["statistics"] = STATISTICS[args.statistics]
    if getattr(args, "t_reheat", None) is not None:
        kwargs["t_reheat"] = args.t_reheat
    return Settings(**kwargs)


def settings_summary(args: argparse.Namespace) -> dict[str, Any]:
    """The settings options actually used, for the JSON output."""
    out: dict[str, Any] = {"mode": args.mode}
    if hasattr(args, "gstar"):
        out["gstar"] = args.gstar
        out["statistics"] = STATISTICS[args.statistics]
        out["t_reheat"] = args.t_reheat
    return out


def add_json_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout (nothing else)")


# ---------------------------------------------------------------------------------------------
# JSON and text output helpers
# ---------------------------------------------------------------------------------------------


def to_jsonable(obj: Any) -> Any:
    """Convert NumPy/JAX scalars and arrays to Python values; non-finite floats become ``None``."""
    if obj is None or isinstance(obj, (str, bool)):
        return obj
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, int):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if hasattr(obj, "__array__") or type(obj).__module__ == "numpy":
        import numpy as np

        arr = np.asarray(obj)
        if arr.ndim == 0:
            return to_jsonable(arr.item())
        return [to_jsonable(v) for v in arr.tolist()]
    return str(obj)


def _fmt(x: Any, spec: str = ".6g") -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return format(x, spec)
    return str(x)


def _model_line(result: Mapping) -> str:
    params = ", ".join(f"{k}={_fmt(v)}" for k, v in result["parameters"].items())
    return f"{result['model']} ({params})"


# ---------------------------------------------------------------------------------------------
# Command registry
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Command:
    """One subcommand: options, action and (optional) text rendering of its result."""

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], Mapping | None]
    format_text: Callable[[Mapping], str] | None = None
    description: str | None = None


COMMANDS: dict[str, Command] = {}
"""Registered subcommands, in the order they appear in ``--help``."""

EXTERNAL_COMMANDS: dict[str, str] = {"scan": "uvmsm_jax.scan:CLI_COMMAND", "contour": "uvmsm_jax.contour:CLI_COMMAND",
                                     "figure": "uvmsm_jax.figures:CLI_COMMAND"}
"""Subcommands defined elsewhere: name → ``"module:attribute"`` of a :class:`Command`.

e.g. ``{"scan": "uvmsm_jax.scan:CLI_COMMAND"}``. Imported when the parser is built; if the import
fails the subcommand still shows in ``--help`` and reports the import error when run.
"""


def register(command: Command) -> Command:
    """Add a subcommand (names must be unique)."""
    if command.name in COMMANDS:
        raise ValueError(f"subcommand {command.name!r} is already registered")
    COMMANDS[command.name] = command
    return command


def _unavailable(name: str, target: str, err: BaseException) -> Command:
    reason = _one_line(f"{type(err).__name__}: {err}")

    def add_arguments(parser):
        parser.set_defaults(_accepts_unknown=True)  # its real options are unknown: accept anything

    def run(args):
        raise RuntimeError(f"subcommand {name!r} is unavailable: importing {target} failed ({reason})")

    return Command(name, f"(unavailable: {reason})", add_arguments, run)


def _all_commands() -> list[Command]:
    commands = list(COMMANDS.values())
    for name, target in EXTERNAL_COMMANDS.items():
        if name in COMMANDS:
            continue
        module_name, _, attribute = target.partition(":")
        try:
            command = getattr(importlib.import_module(module_name), attribute or "CLI_COMMAND")
        except Exception as err:  # keep the rest of the CLI usable
            command = _unavailable(name, target, err)
        commands.append(command)
    return commands


def build_parser() -> argparse.ArgumentParser:
    """The full ``uvmsm-jax`` parser with every registered subcommand."""
    from . import __version__

    parser = _Parser(
        prog=PROG,
        description="Relic abundances, mediator widths and SHiP reach for light vector-portal dark "
        "sectors (UνMSM B−L Z′ with N₁ dark matter; Dirac DM with a dark photon).",
        epilog="Run 'uvmsm-jax COMMAND --help' for the options of a command.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the full traceback on errors")
    common = _Parser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show the full traceback on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in _all_commands():
        p = sub.add_parser(
            command.name, help=command.help, description=command.description or command.help, parents=[common]
        )
        command.add_arguments(p)
        p.set_defaults(_command=command)
    return parser


# ---------------------------------------------------------------------------------------------
# Built-in subcommands
# ---------------------------------------------------------------------------------------------


def _relic_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_arguments(parser)
    add_settings_arguments(parser)
    add_json_argument(parser)


def _relic_run(args: argparse.Namespace) -> dict:
    model = model_from_args(args)
    settings = settings_from_args(args)
    from .relic import relic

    result = relic(model, settings)
    data = dict(result.as_dict()) if hasattr(result, "as_dict") else {}
    for key in ("omega_h2", "yield_dm", "status"):
        if key not in data:
            data[key] = getattr(result, key)
    mechanism_name = getattr(result, "mechanism_name", None)
    if callable(mechanism_name):
        mechanism_name = mechanism_name()
    if mechanism_name is not None:
        data["mechanism"] = mechanism_name
    elif "mechanism" not in data:
        data["mechanism"] = getattr(result, "mechanism")
    data["status"] = int(to_jsonable(data["status"]))
    head = {k: data.pop(k) for k in ("omega_h2", "yield_dm", "mechanism", "status")}
    out = {**head, **data, "model": args.model, "parameters": model_parameters(args), "settings": settings_summary(args)}
    if head["status"] != 0:
        why = data.get("status_message")
        print(f"{PROG}: warning: the relic solver returned status {head['status']}" + (f" ({why})" if why else ""),
              file=sys.stderr)
    return out


def _relic_text(result: Mapping) -> str:
    settings = result["settings"]
    rows = [
        ("model", _model_line(result)),
        ("settings", ", ".join(f"{k}={_fmt(v)}" for k, v in settings.items() if v is not None)),
        ("omega_h2", _fmt(result["omega_h2"])),
        ("yield_dm", _fmt(result["yield_dm"])),
        ("mechanism", _fmt(result["mechanism"])),
        ("status", f"{result['status']} ({result.get('status_message') or ('ok' if result['status'] == 0 else 'failed')})"),
    ]
    return "\n".join(f"{k:<10} {v}" for k, v in rows)


def _widths_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_arguments(parser)
    add_settings_arguments(parser, thermal=False)
    add_json_argument(parser)


def _widths_run(args: argparse.Namespace) -> dict:
    model = model_from_args(args)
    settings = settings_from_args(args)
    from .widths import widths

    data = dict(widths(model, settings).as_dict())
    return {
        "total": data.pop("total"),
        "partial": data.pop("partial"),
        **data,
        "units": "GeV",
        "model": args.model,
        "parameters": model_parameters(args),
        "settings": settings_summary(args),
    }


def _widths_text(result: Mapping) -> str:
    total = to_jsonable(result["total"])
    lines = [f"mediator widths [GeV], {_model_line(result)}, mode {result['settings']['mode']}",
             f"{'channel':<9} {'width/GeV':>13} {'BR':>11}"]
    for channel, width in to_jsonable(result["partial"]).items():
        br = width / total if (width is not None and total) else None
        lines.append(f"{channel:<9} {_fmt(width, '13.6e')} {_fmt(br, '11.4e')}")
    lines.append(f"{'total':<9} {_fmt(total, '13.6e')}")
    return "\n".join(lines)


SHIP_COUPLING = {"dark-photon": "epsilon", "uvmsm": "g_bl"}


def _ship_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, choices=("dark-photon", "uvmsm"),
                        help="dark-photon (reach in ε) or uvmsm (reach in g_B−L)")
    parser.add_argument("--m", required=True, type=range_type("--m"), metavar="LO:HI:N",
                        help="mediator masses [GeV]: N log-spaced points from LO to HI")
    parser.add_argument("--pot", type=positive_float("--pot"), default=2e20, metavar="N",
                        help="protons on target (default 2e20)")
    parser.add_argument("--form-factor", choices=("vmd", "dipole"), default="vmd",
                        help="proton form factor for bremsstrahlung (default vmd)")
    parser.add_argument("--production", choices=("brems", "mesons", "all"), default="brems",
                        help="production channels (default brems)")
    add_json_argument(parser)


def _ship_run(args: argparse.Namespace) -> dict:
    from .ship import ship_reach

    masses = args.m.values("log")
    reach = dict(ship_reach(args.model, masses, pot=args.pot, form_factor=args.form_factor, production=args.production))
    settings = {"pot": args.pot, "form_factor": args.form_factor, "production": args.production}
    settings.update(to_jsonable(reach.pop("settings", None)) or {})
    return {
        "model": args.model,
        "coupling": SHIP_COUPLING[args.model],
        "mass": reach.pop("mass", masses),
        "lower": reach.pop("lower"),
        "upper": reach.pop("upper"),
        **reach,
        "settings": settings,
    }


def _ship_text(result: Mapping) -> str:
    coupling = result["coupling"]
    lines = [f"SHiP reach, {result['model']} ({coupling}), "
             + ", ".join(f"{k}={_fmt(v)}" for k, v in result["settings"].items()),
             f"{'mass/GeV':>12} {coupling + ' lower':>14} {coupling + ' upper':>14}"]
    for m, lo, hi in zip(*(to_jsonable(result[k]) for k in ("mass", "lower", "upper"))):
        lines.append(f"{_fmt(m, '12.5g')} {_fmt(lo, '14.4e'):>14} {_fmt(hi, '14.4e'):>14}")
    lines.append("('-' = no reach at that mass)")
    return "\n".join(lines)


register(Command("relic", "relic abundance Ωh² of one parameter point", _relic_arguments, _relic_run, _relic_text))
register(Command("widths", "total and partial widths of the mediator (Z′ or A′)", _widths_arguments, _widths_run, _widths_text))
register(Command("ship", "SHiP sensitivity (reach in ε or g_B−L) over a mass range", _ship_arguments, _ship_run, _ship_text))


# ---------------------------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------------------------


def _flush_c_stdio() -> None:
    """Flush C-level stdio buffers (text printed by compiled extensions) where libc is reachable."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL(None).fflush(None)


@contextlib.contextmanager
def _stdout_to_stderr():
    """Send everything written to stdout while active to stderr: Python-level writes through
    ``sys.stdout`` and C-level writes to file descriptor 1 (JAX/XLA, compiled extensions)."""
    sys.stdout.flush()
    _flush_c_stdio()
    saved = None  # without real descriptors (e.g. an embedding host) only Python-level writes move
    with contextlib.suppress(AttributeError, OSError, ValueError, io.UnsupportedOperation):
        err_fd = sys.stderr.fileno()
        saved = os.dup(1)
        try:
            os.dup2(err_fd, 1)
        except OSError:
            os.close(saved)
            saved = None
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        sys.stderr.flush()
        if saved is not None:
            _flush_c_stdio()
            os.dup2(saved, 1)
            os.close(saved)


def _fail(status: int, message: str) -> int:
    sys.stderr.write(f"{PROG}: error: {_one_line(message)}\n")
    sys.stderr.flush()
    return status


def _option_names(message: str) -> str:
    """Library messages name Python parameters (``m_zp must be…``); name the option instead."""
    match = re.match(r"([a-z][a-z0-9_]*)\b", message)
    if match and any(match.group(1) == p.field for ps in MODEL_PARAMETERS.values() for p in ps):
        return "--" + match.group(1).replace("_", "-") + message[match.end():]
    return message


def _enable_compilation_cache() -> None:
    """Keep compiled solvers on disk between runs (``$JAX_COMPILATION_CACHE_DIR`` if set, else
    ``$XDG_CACHE_HOME/uvmsm-jax/jax`` or ``~/.cache/uvmsm-jax/jax``): a repeated command skips the
    10–30 s XLA compilation."""
    if os.environ.get("JAX_COMPILATION_CACHE_DIR"):
        return
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    path = os.path.join(root, "uvmsm-jax", "jax")
    with contextlib.suppress(OSError):
        os.makedirs(path, exist_ok=True)
        import jax

        jax.config.update("jax_compilation_cache_dir", path)


def main(argv: list[str] | None = None) -> int:
    """Run ``uvmsm-jax``; returns the exit status (0 ok, 1 unexpected error, 2 bad input)."""
    _enable_compilation_cache()
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown and not getattr(args, "_accepts_unknown", False):
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    command: Command = args._command
    debug = getattr(args, "debug", False)
    as_json = getattr(args, "json", False)
    try:
        if as_json:
            with _stdout_to_stderr():
                result = command.run(args)
        else:
            result = command.run(args)
        if result is None:
            return 0
        if as_json or command.format_text is None:
            text = json.dumps(to_jsonable(result), allow_nan=False, indent=None if as_json else 2)
        else:
            text = command.format_text(result)
        sys.stdout.write(text + "\n")
        sys.stdout.flush()
        return 0
    except UsageError as err:
        if debug:
            traceback.print_exc()
        return _fail(2, str(err))
    except ValueError as err:
        if debug:
            traceback.print_exc()
        return _fail(2, _option_names(str(err)))
    except KeyboardInterrupt:
        return _fail(130, "interrupted")
    except BrokenPipeError:
        with contextlib.suppress(Exception):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except ModuleNotFoundError as err:
        if debug:
            traceback.print_exc()
        if (err.name or "").startswith("uvmsm_jax."):
            return _fail(1, f"'{command.name}' is not available in this installation ({err})")
        return _fail(1, f"{type(err).__name__}: {err} (run 'uvmsm-jax --debug ...' for the traceback)")
    except Exception as err:
        if debug:
            traceback.print_exc()
            return _fail(1, f"{type(err).__name__}: {err}")
        return _fail(1, f"{type(err).__name__}: {err} (run 'uvmsm-jax --debug ...' for the traceback)")


if __name__ == "__main__":
    sys.exit(main())
