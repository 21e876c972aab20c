"""Input validation shared by the Python API and the CLI.

Outside JAX transformations bad values raise ``ValueError`` naming the parameter; traced values
are left to the per-point ``status`` codes of the solvers (:data:`uvmsm_jax.STATUS_MESSAGES`).
"""

import functools

import jax
import numpy as np

from ._programs import jit


def is_concrete(value) -> bool:
    """True when ``value`` holds no JAX tracer (it can be inspected with NumPy)."""
    return not any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree_util.tree_leaves(value))


def without_derivative(x):
    """``x`` as a constant for differentiation (``jax.lax.stop_gradient``; a NumPy array is one already)."""
    return x if isinstance(x, np.ndarray) else jax.lax.stop_gradient(x)


def check_positive_finite(name: str, value) -> None:
    """Raise ``ValueError`` if a concrete ``value`` has an element that is not finite and > 0."""
    if not is_concrete(value):
        return
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    bad = ~(np.isfinite(arr) & (arr > 0))
    if np.any(bad):
        first = arr[bad].flat[0] if arr.ndim else arr
        raise ValueError(f"{name} must be a positive finite number, got {float(first)!r}")


def jit_when_eager(fn=None, **jit_kwargs):
    """``jax.jit`` the function for eager (concrete) callers, run it inline when being traced.

    Small physics helpers called op by op from Python are slow without ``jit``; called inside the
    solvers' traces, a nested ``jit`` only adds tracing work (every vmapped call re-batches it).
    """
    if fn is None:
        return functools.partial(jit_when_eager, **jit_kwargs)
    jitted = jit(fn, **jit_kwargs)

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if is_concrete((args, kwargs)):
            return jitted(*args, **kwargs)
        return fn(*args, **kwargs)

    return wrapper
