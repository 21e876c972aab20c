"""Shared machinery of the ``uvmsm-jax`` command line: the parser with one-line errors, argument
types, model and settings options generated from the registry, JSON output and the entry point.

Contract (README, "Command line"):

* ``--json`` prints exactly one JSON object on stdout and nothing else: while the command runs,
  everything written to stdout (Python or C level, e.g. JAX/XLA messages) goes to stderr.
  Non-finite numbers are written as ``null``.
* Bad input exits with status 2 and one line on stderr naming the offending option, e.g.
  ``uvmsm-jax: error: --m-zp must be a positive finite number, got -1.0``. A ``ValueError`` raised
  by the library is treated the same way. Any other exception exits with status 1 and one line
  (``--debug`` shows the traceback).

A subcommand is a :class:`Command` in its own module of this package (``relic``, ``observables``,
``momentum``, ``widths``, ``ship``, ``scan``, ``contour``, ``figure``), listed in :data:`COMMAND_MODULES`.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib
import io
import json
import logging
import math
import os
import re
import sys
import threading
import traceback
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple, NoReturn

import numpy as np

from .. import __version__
from ..models import MODELS, model_spec
from ..settings import GSTAR_TABLES, Settings

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


def parse_int_at_least(text: str, option: str, minimum: int = 1) -> int:
    """``int(text)`` if it is an integer ≥ ``minimum``, else :class:`UsageError` naming ``option``."""
    try:
        value = int(text)
    except (TypeError, ValueError):
        raise UsageError(f"{option} must be an integer >= {minimum}, got {text!r}") from None
    if value < minimum:
        raise UsageError(f"{option} must be an integer >= {minimum}, got {value}")
    return value


def argument_type(parse: Callable[[str, str], Any], option: str, name: str) -> Callable[[str], Any]:
    """argparse ``type=`` from ``parse(text, option)``, which raises :class:`UsageError` on bad input;
    the message names ``option`` and ``name`` is what argparse calls the type."""

    def convert(text: str):
        try:
            return parse(text, option)
        except UsageError as err:
            raise argparse.ArgumentTypeError(str(err)) from None

    convert.__name__ = name
    return convert


def positive_float(option: str) -> Callable[[str], float]:
    """argparse ``type=`` for a positive finite float; errors name ``option``."""
    return argument_type(parse_positive_float, option, "positive number")


def positive_int(option: str) -> Callable[[str], int]:
    """argparse ``type=`` for a positive integer; errors name ``option``."""
    return argument_type(parse_int_at_least, option, "positive integer")


class Range(NamedTuple):
    """A grid ``LO:HI:N`` from the command line (LO > 0, HI > LO, N ≥ 1)."""

    lo: float
    hi: float
    n: int

    def values(self, spacing: str = "log"):
        """The N grid points as a NumPy float64 array: ``"log"`` (default) or ``"linear"`` spacing.

        N = 1 gives ``[LO]``.
        """
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
    return Range(lo, hi, parse_int_at_least(n_text, f"{option} N"))


def range_type(option: str) -> Callable[[str], Range]:
    """argparse ``type=`` for ``LO:HI:N`` ranges; errors name ``option``."""
    return argument_type(parse_range, option, "range")


def add_ratio_argument(parser) -> None:
    """``--ratio R``: the DM mass tied to the mediator mass, M_DM = R·M_V (scan and contour)."""
    parser.add_argument(
        "--ratio",
        type=positive_float("--ratio"),
        metavar="R",
        help="DM mass / mediator mass: M_DM = R*M_V (M_N1 = R*M_Z', m_chi = R*m_A') instead of a fixed DM mass",
    )


def gstar_type(text: str) -> str | float:
    """``--gstar``: a table name of :data:`uvmsm_jax.settings.GSTAR_TABLES` or a positive number."""
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


class Parser(argparse.ArgumentParser):
    """ArgumentParser whose errors are one line on stderr (no usage block), exit status 2."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)
        if hasattr(self, "_negative_number_matcher"):
            self._negative_number_matcher = _NEGATIVE_NUMBER

    def error(self, message: str):
        self.exit(2, f"{PROG}: error: {_rephrase(message)}\n")


# ---------------------------------------------------------------------------------------------
# Shared option groups: models and settings
# ---------------------------------------------------------------------------------------------


def model_name(text: str) -> str:
    """argparse ``type=`` for ``--model``: the registry name of any accepted spelling."""
    try:
        return model_spec(text).name
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def add_model_option(parser: argparse.ArgumentParser) -> None:
    """Add the required ``--model`` (a registry name or alias)."""
    parser.add_argument(
        "--model",
        required=True,
        type=model_name,
        metavar="|".join(MODELS),
        help="model: " + "; ".join(f"{name} ({spec.title})" for name, spec in MODELS.items()),
    )


def add_model_arguments(
    parser: argparse.ArgumentParser, value_type: Callable[[str], Callable] | None = None, metavar_suffix: str = ""
) -> None:
    """Add ``--model`` and every registered model's parameter options (one group per model).

    ``value_type(option)`` makes the argparse ``type=`` of an option (default: a positive finite
    float, :func:`positive_float`).
    """
    add_model_option(parser)
    value_type = positive_float if value_type is None else value_type
    seen: set[str] = set()
    for spec in MODELS.values():
        group = parser.add_argument_group(f"--model {spec.name}")
        for p in spec.parameters:
            if p.option in seen:  # shared by several models: declared once
                continue
            seen.add(p.option)
            group.add_argument(
                p.option, dest=p.field, metavar=p.metavar + metavar_suffix, type=value_type(p.option), help=f"{p.help}"
            )


def reject_other_model_options(args: argparse.Namespace) -> None:
    """:class:`UsageError` if an option of a model other than ``--model`` was given."""
    spec = model_spec(args.model)
    takes = ", ".join(p.option for p in spec.parameters)
    for other in MODELS.values():
        for p in other.parameters:
            if p.field not in spec.fields and getattr(args, p.field, None) is not None:
                raise UsageError(f"{p.option} does not apply to --model {spec.name} (it takes {takes})")


def model_from_args(args: argparse.Namespace):
    """Build the model chosen by ``--model`` from its options; :class:`UsageError` if one is missing
    or an option of another model was given."""
    spec = model_spec(args.model)
    reject_other_model_options(args)
    values = {}
    for p in spec.parameters:
        value = getattr(args, p.field, None)
        if value is None:
            raise UsageError(f"{p.option} is required for --model {spec.name}")
        values[p.field] = value
    return spec.model(**values)


def model_parameters(args: argparse.Namespace) -> dict[str, float]:
    """The chosen model's parameters as plain floats, keyed by field name."""
    return {field: float(getattr(args, field)) for field in model_spec(args.model).fields}


STATISTICS = {"mb": "maxwell-boltzmann", "quantum": "quantum"}


def add_settings_arguments(parser: argparse.ArgumentParser, *, thermal: bool = True) -> None:
    """Add ``--mode`` and, with ``thermal``, ``--gstar``, ``--statistics``, ``--t-reheat``."""
    group = parser.add_argument_group("settings")
    group.add_argument(
        "--mode",
        choices=("physical", "paper"),
        default="physical",
        help="UνMSM conventions: physical (default) or paper (P1 as printed; docs/equations.md A.0); models "
        "with one convention (dark-photon) ignore it",
    )
    if not thermal:
        return
    group.add_argument(
        "--gstar",
        type=gstar_type,
        default="saikawa2018",
        metavar="saikawa2018|saikawa2020|saikawa2018-fit|NUMBER",
        help="g*(T) treatment: tabulated (default saikawa2018), analytic fit, or a constant g* = g*s",
    )
    group.add_argument(
        "--statistics",
        choices=tuple(STATISTICS),
        default="mb",
        help="equilibrium statistics: mb = Maxwell–Boltzmann (default) or quantum (FD/BE)",
    )
    group.add_argument(
        "--t-reheat",
        type=positive_float("--t-reheat"),
        default=None,
        metavar="GEV",
        help="reheating temperature T_R [GeV] (default: "
        + "; ".join(f"{name} {spec.default_t_reheat_help}" for name, spec in MODELS.items())
        + ")",
    )


def settings_from_args(args: argparse.Namespace):
    """:class:`uvmsm_jax.settings.Settings` from the options of :func:`add_settings_arguments`."""
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


def add_point_arguments(parser: argparse.ArgumentParser, *, thermal: bool = True) -> None:
    """The options of a command on one parameter point: ``--model`` and the model parameters, the
    settings (:func:`add_settings_arguments`) and ``--json``."""
    add_model_arguments(parser)
    add_settings_arguments(parser, thermal=thermal)
    add_json_argument(parser)


def point_from_args(args: argparse.Namespace) -> tuple[Any, Settings]:
    """(model, settings) from the options of :func:`add_point_arguments`."""
    return model_from_args(args), settings_from_args(args)


def point_summary(args: argparse.Namespace) -> dict[str, Any]:
    """``model``, ``parameters`` and ``settings`` of a one-point command, for its JSON output."""
    return {"model": args.model, "parameters": model_parameters(args), "settings": settings_summary(args)}


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
        arr = np.asarray(obj)
        if arr.ndim == 0:
            return to_jsonable(arr.item())
        return [to_jsonable(v) for v in arr.tolist()]
    return str(obj)


def format_value(x: Any, spec: str = ".6g") -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return format(x, spec)
    return str(x)


def model_line(result: Mapping) -> str:
    params = ", ".join(f"{k}={format_value(v)}" for k, v in result["parameters"].items())
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


COMMAND_MODULES = ("relic", "observables", "momentum", "widths", "ship", "scan", "contour", "figure")
"""The subcommand modules of :mod:`uvmsm_jax.cli`, in ``--help`` order; each defines ``COMMAND``."""


def commands() -> list[Command]:
    """Every subcommand (:data:`COMMAND_MODULES`)."""
    return [importlib.import_module(f"uvmsm_jax.cli.{name}").COMMAND for name in COMMAND_MODULES]


def build_parser() -> argparse.ArgumentParser:
    """The full ``uvmsm-jax`` parser with every registered subcommand."""
    parser = Parser(
        prog=PROG,
        description="Relic abundances, mediator widths and SHiP reach for light vector-portal dark "
        "sectors (UνMSM B−L Z′ with N₁ dark matter; Dirac DM with a dark photon).",
        epilog="Run 'uvmsm-jax COMMAND --help' for the options of a command.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the full traceback on errors")
    common = Parser(add_help=False)
    common.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS, help="show the full traceback on errors"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in commands():
        p = sub.add_parser(
            command.name, help=command.help, description=command.description or command.help, parents=[common]
        )
        command.add_arguments(p)
        p.set_defaults(_command=command)
    return parser


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
    if match and any(match.group(1) == field for spec in MODELS.values() for field in spec.fields):
        return "--" + match.group(1).replace("_", "-") + message[match.end() :]
    return message


def cache_directory(kind: str) -> str | None:
    """``$XDG_CACHE_HOME/uvmsm-jax/KIND`` (default ``~/.cache/uvmsm-jax/KIND``), created; None when it
    cannot be created (read-only home): the commands then run without that cache."""
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    path = os.path.join(root, "uvmsm-jax", kind)
    try:
        os.makedirs(path, exist_ok=True)
    except OSError:
        return None
    return path


def _enable_compilation_cache() -> None:
    """Keep compiled solvers on disk between runs (``$JAX_COMPILATION_CACHE_DIR`` if set, else
    :func:`cache_directory` ``("jax")``): a repeated command skips the 10–30 s XLA compilation."""
    if os.environ.get("JAX_COMPILATION_CACHE_DIR"):
        return
    path = cache_directory("jax")
    if path is not None:
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


def console_script() -> NoReturn:
    """The ``uvmsm-jax`` command (and ``python -m uvmsm_jax``): :func:`main`, then the process ends.

    Once the command has returned and its output is flushed, what is left of a normal exit is tearing
    the interpreter down: freeing JAX's backend and the loaded executable, 0.3–0.4 s of a warm call on
    a 2-core CPU (docs/relic.md, "Compilation"). So the process ends with ``os._exit`` after
    ``logging.shutdown()``, unless a non-daemon thread or a child process is still running (it then
    exits as usual). The commands join their own pools and close their files and stores before they
    return. ``--help``, ``--version`` and usage errors exit inside :func:`main` as usual.
    """
    status = main()
    others = [t for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon]
    children = "multiprocessing" in sys.modules and sys.modules["multiprocessing"].active_children()
    if others or children:
        sys.exit(status)
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # a closed pipe: nothing more can be written anyway
            stream.flush()
    os._exit(status)
