"""How the package compiles its programs: with :data:`XLA_OPTIONS` whenever a program of its own is
compiled (docs/relic.md, "Compilation")."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
from jax._src import core as jax_core

__all__ = [
    "COMPILED_AHEAD",
    "DERIVATIVE_XLA_OPTIONS",
    "TABULATION_XLA_OPTIONS",
    "XLA_OPTIONS",
    "Program",
    "XlaOptions",
    "compile_ahead",
    "filter_jit",
    "jit",
]

XlaOptions = dict[str, bool | int | str]
"""``compiler_options`` of ``jax.jit``: XLA option names and their values."""

XLA_OPTIONS: XlaOptions = {"xla_cpu_use_fusion_emitters": False}
"""XLA options of every program the package compiles (``compiler_options`` of ``jax.jit``).

``xla_cpu_use_fusion_emitters`` off: XLA's CPU backend emits its fused kernels with its LLVM IR
emitters instead of the MLIR fusion emitters jaxlib 0.10 uses by default. On a 2-core CPU the relic
programs then compile in ≈ 2/3 of the time and run no slower (docs/relic.md, "Compilation"). A GPU
ignores the option."""

TABULATION_XLA_OPTIONS: XlaOptions = {**XLA_OPTIONS, "xla_cpu_prefer_vector_width": 512}
""":data:`XLA_OPTIONS` of the programs that tabulate a rate table for each point they solve (the
per-point programs of relic and of the thermalisation map, and the table stage of a batch with
shared tables): vectors of 512 bits, where XLA's CPU backend prefers 256. Most of a table is the
Bessel kernel of the thermal averages at ~10⁵ (temperature, node) pairs a point, a loop the compiler
vectorises; with AVX-512 a table took 1.8–2.1 ms on one core instead of 2.4–2.6 ms, and, since
the kernel takes each factor of one index once, 0.56–0.58 ms instead of 0.72–0.74 ms in one process
on 2 cores, whose loops XLA runs on both (docs/relic.md, "Compilation"). On a CPU without 512-bit
vectors the compiler keeps the widest it has (the same times with AVX2 alone). The other programs
keep :data:`XLA_OPTIONS`: with the option the contour's held tables (a table and its derivatives)
ran 20 % slower, and neither the ODE stage nor the momentum distribution's programs measurably
faster. A GPU ignores it."""


DERIVATIVE_XLA_OPTIONS: XlaOptions = {
    **TABULATION_XLA_OPTIONS,
    "xla_cpu_experimental_ynn_fusion_type": "",
}
""":data:`TABULATION_XLA_OPTIONS` of the per-point program of :func:`~uvmsm_jax.relic`'s elasticities
(each point's rate table and solve in forward mode), with the fusions that XLA's CPU backend hands
to YNNPACK off (an empty list of fusion types). On 256 random freeze-in points the elasticities took
0.597 s (median of 7 calls, 0.592–0.615) instead of 0.652 s (0.643–0.753), alternated in one
process (2026-12-07); 128 random dark-photon points took 2.15 and 2.32 s against 2.22 and 2.21 s
(two runs of 9 and 5 alternated calls: no difference beyond the VM's spread). The plain per-point
program got slower with it (1 044 and 987 against 957 and 947 points/s) and keeps
:data:`TABULATION_XLA_OPTIONS`, as the held-table programs of a batch with shared tables do (3 % on
a 16 × 128 grid, within the VM's spread). The elasticities change by rounding, as between any two
compilations of a derivative: at most 8e-4 of max(1, |e|) on those points (docs/relic.md,
"Compilation"). A GPU ignores the option."""


def _at_top_level() -> bool:
    """True when no JAX transformation is tracing, so that a ``jit`` called now compiles a program of
    its own. JAX refuses ``compiler_options`` on a ``jit`` called inside another one's trace (where it
    is inlined into the caller's program and compiled with the caller's options). The test reads JAX's
    trace state, which JAX does not export; should that move, every program compiles without the
    options."""
    trace_ctx = getattr(jax_core, "trace_ctx", None)
    is_top_level = getattr(trace_ctx, "is_top_level", None)
    return bool(is_top_level is not None and is_top_level())


class Program:
    """A jitted function (``jax.jit`` or ``equinox.filter_jit``) compiled with ``xla_options`` (one of
    :data:`XLA_OPTIONS`, :data:`TABULATION_XLA_OPTIONS` and :data:`DERIVATIVE_XLA_OPTIONS`) when
    called at the top level, and as a plain nested ``jit`` inside a trace (a caller's ``jax.jit``,
    ``vmap`` or ``grad``)."""

    def __init__(self, make: Callable[..., Any], fun: Callable, xla_options: XlaOptions, **jit_kwargs: Any):
        self.xla_options = xla_options
        self.top_level = make(fun, compiler_options=xla_options, **jit_kwargs)
        self.nested = make(fun, **jit_kwargs)
        functools.update_wrapper(self, fun)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return (self.top_level if _at_top_level() else self.nested)(*args, **kwargs)

    def lower(self, *args: Any, **kwargs: Any) -> jax.stages.Lowered:
        """The top-level program lowered for ``args`` (``jax.jit(...).lower``)."""
        return self.top_level.lower(*args, **kwargs)


def jit(fun: Callable, *, xla_options: XlaOptions = XLA_OPTIONS, **jit_kwargs: Any) -> Program:
    """``jax.jit(fun, **jit_kwargs)`` with ``xla_options`` (:data:`XLA_OPTIONS`,
    :data:`TABULATION_XLA_OPTIONS` or :data:`DERIVATIVE_XLA_OPTIONS`; see :class:`Program`)."""
    return Program(jax.jit, fun, xla_options, **jit_kwargs)


def filter_jit(fun: Callable, **jit_kwargs: Any) -> Program:
    """``equinox.filter_jit(fun, **jit_kwargs)`` with :data:`XLA_OPTIONS` (see :class:`Program`)."""
    return Program(eqx.filter_jit, fun, XLA_OPTIONS, **jit_kwargs)


COMPILED_AHEAD: set[tuple] = set()
"""The keys of the programs compiled ahead of their first call in this process: the stages of
:class:`~uvmsm_jax._relic.StagesAhead` and the contour's root-finding programs
(:func:`~uvmsm_jax._contour._compile_root_finding_ahead`)."""


def compile_ahead(lowered: jax.stages.Lowered, key: tuple) -> None:
    """Compile ``lowered`` (a program lowered for its first call, which then finds it in JAX's
    caches) and record ``key`` in :data:`COMPILED_AHEAD`; run on a background thread, as XLA
    compiles without the interpreter lock."""
    lowered.compile()
    COMPILED_AHEAD.add(key)
