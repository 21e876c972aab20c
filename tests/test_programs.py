"""The package's programs compile with its XLA options at the top level and inline into a caller's
trace (``uvmsm_jax._programs``; docs/relic.md, "Compilation")."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from uvmsm_jax import _regimes, _relic
from uvmsm_jax._programs import DERIVATIVE_XLA_OPTIONS, TABULATION_XLA_OPTIONS, XLA_OPTIONS, filter_jit, jit


def _sine(x):
    return jnp.sin(x) * jnp.exp(-x)


@pytest.mark.parametrize("make", [jit, filter_jit], ids=["jit", "filter_jit"])
def test_a_program_runs_at_the_top_level_and_inside_a_callers_trace(make):
    """At the top level the program compiled with :data:`XLA_OPTIONS` runs; inside a caller's ``jit``,
    ``vmap`` or ``grad`` the plain nested one (JAX refuses compiler options on a nested ``jit``), with
    the same value and derivative (calling the optioned one there raises a ValueError)."""
    program = make(_sine)
    x = jnp.linspace(0.1, 2.0, 5)
    top = program(x)
    np.testing.assert_allclose(jax.jit(program)(x), top, rtol=1e-15)
    np.testing.assert_allclose(jax.vmap(program)(x), top, rtol=1e-15)
    derivative = jax.grad(lambda y: program(y).sum())(x)
    np.testing.assert_allclose(derivative, jnp.exp(-x) * (jnp.cos(x) - jnp.sin(x)), rtol=1e-14)


def test_the_top_level_call_compiles_the_program_with_the_options():
    """Only the optioned program is compiled for a top-level call; a caller's ``jit`` compiles neither.
    (A function of its own: JAX shares the compiled programs of equal functions and options.)"""
    program = jit(lambda x: jnp.cos(x) * x)
    program(jnp.ones(3))
    jax.jit(program)(jnp.ones(3))
    assert program.top_level._cache_size() == 1 and program.nested._cache_size() == 0


@pytest.mark.parametrize(
    "options", [XLA_OPTIONS, TABULATION_XLA_OPTIONS, DERIVATIVE_XLA_OPTIONS], ids=["all", "tabulation", "derivative"]
)
def test_the_options_reach_the_compiler(options):
    """XLA accepts each set of options on the top-level program (compiling raises on an option it
    does not know, as the last lines show), and the program keeps the function's name, which keys the
    stored executables."""
    program = jit(_sine, xla_options=options)
    assert program.xla_options is options
    program.lower(jnp.ones(3)).compile()
    assert program.__name__ == "_sine" and program.__module__ == __name__
    with pytest.raises(Exception, match="no_such_option"):
        jax.jit(_sine, compiler_options={**options, "no_such_option": True}).lower(jnp.ones(3)).compile()


def test_only_the_tabulating_programs_prefer_wide_vectors():
    """The per-point programs of relic and of the thermalisation map and the table stage compile with
    :data:`TABULATION_XLA_OPTIONS` (512-bit vectors, the Bessel kernel of the rate tables), the
    per-point elasticities :data:`DERIVATIVE_XLA_OPTIONS`; the stages that take tables as input do
    not (docs/relic.md, "Compilation")."""
    assert TABULATION_XLA_OPTIONS == {**XLA_OPTIONS, "xla_cpu_prefer_vector_width": 512}
    for program in (_relic._relic_batch, _relic._rate_tables, _regimes._classify_batch):
        assert program.xla_options is TABULATION_XLA_OPTIONS
    stages_given_tables = (_relic._solve_with_tables, _relic._collocate_with_tables, _regimes._classify_with_tables)
    for program in (*stages_given_tables, _relic._collocation_candidates):
        assert program.xla_options is XLA_OPTIONS
    # the per-point elasticities: the same without YNNPACK's fusions
    assert DERIVATIVE_XLA_OPTIONS == {**TABULATION_XLA_OPTIONS, "xla_cpu_experimental_ynn_fusion_type": ""}
    assert _relic._relic_elasticity_batch.xla_options is DERIVATIVE_XLA_OPTIONS
