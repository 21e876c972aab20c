"""Shared test helpers: central finite differences, logarithmic derivatives, convergence orders and
the named parameter points that several test files reuse.

Import from a test file with ``from helpers import central_difference``: with pytest's default
``prepend`` import mode the test file's directory (``tests/``, which has no ``__init__.py``) is put
on ``sys.path``; a script outside pytest can do ``sys.path.insert(0, str(Path(__file__).resolve().parent))``
as ``test_relic_reference.py`` does.

Everything here is plain NumPy: ``f`` may return Python floats, NumPy or JAX arrays; results are
NumPy float64 arrays (0-d for a scalar derivative of a scalar function).

Stencils (steps ``h``, truncation error for a smooth f):

* ``order=2``: f′ ≈ [f(x+h) − f(x−h)] / 2h,                          error  h²/6 · f‴ + O(h⁴)
* ``order=4``: f′ ≈ [−f(x+2h) + 8f(x+h) − 8f(x−h) + f(x−2h)] / 12h,  error −h⁴/30 · f⁽⁵⁾ + O(h⁶)

Round-off adds ~ε·|f|/h, so the optimal step is ~ε^{1/3} (order 2) or ~ε^{1/5} (order 4) times the
scale of x; a noisy f (an adaptive ODE solve) needs larger steps, where order 4 pays off.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

__all__ = [
    "E4_I_B",
    "E4_I_C",
    "REGIME_GRADIENT_RTOL",
    "REGIME_MECHANISMS",
    "REGIME_POINTS",
    "RESONANT_FREEZE_IN_POINT",
    "batched_central_difference",
    "central_difference",
    "check_agreement",
    "check_hessian",
    "convergence_order",
    "elementwise_derivative",
    "log_derivative",
    "random_points",
    "stencil",
]

_STENCILS = {
    2: (np.array([1.0, -1.0]), np.array([0.5, -0.5])),
    4: (np.array([2.0, 1.0, -1.0, -2.0]), np.array([-1.0, 8.0, -8.0, 1.0]) / 12.0),
}


def stencil(order: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """(offsets, weights) of the central first-derivative stencil of accuracy ``order`` (2 or 4).

    f′(x) ≈ Σ_k weights[k] · f(x + offsets[k]·h) / h. Raises ``ValueError`` for another order.
    """
    try:
        offsets, weights = _STENCILS[order]
    except KeyError:
        raise ValueError(f"order must be 2 or 4, got {order!r}") from None
    return offsets.copy(), weights.copy()


def _value(f: Callable, x) -> np.ndarray:
    return np.asarray(f(x), dtype=float)


def _steps(x: np.ndarray, h, relative: bool) -> np.ndarray:
    """Per-component steps: ``h`` (scalar or array broadcast to x), times |x| if ``relative``."""
    steps = np.broadcast_to(np.asarray(h, dtype=float), x.shape).astype(float)
    if relative:
        steps = steps * np.abs(x)
    if np.any(steps <= 0) or not np.all(np.isfinite(steps)):
        raise ValueError(f"finite-difference steps must be positive and finite, got {steps}")
    return steps


def central_difference(
    f: Callable,
    x,
    h,
    order: int = 4,
    *,
    direction=None,
    relative: bool = False,
) -> np.ndarray:
    """Central finite-difference derivative of ``f`` at ``x`` (stencil of accuracy ``order`` = 2 or 4).

    * ``x`` a scalar: df/dx with step ``h`` (``h·|x|`` if ``relative``). ``f`` may return an array
      (several outputs of one scalar input); the result has its shape.
    * ``x`` a 1-D vector, ``direction=None``: the gradient ∂f/∂x_i, one stencil per component with
      step ``h`` (a scalar or one step per component; times |x_i| if ``relative``). ``f`` takes the
      whole vector; the result has shape ``(len(x),) + shape(f(x))``.
    * ``x`` a 1-D vector and ``direction`` v: the directional derivative d/dε f(x + ε v) at ε = 0
      with step ``h`` in ε (``relative`` is not used).

    The vector path passes NumPy float64 arrays to ``f`` (wrap with ``jnp.asarray`` inside ``f`` if
    needed).
    """
    offsets, weights = stencil(order)
    x = np.asarray(x, dtype=float)
    if x.ndim == 0:
        step = float(_steps(x, h, relative))
        return np.asarray(sum(w * _value(f, float(x) + o * step) for o, w in zip(offsets, weights)) / step)
    if x.ndim != 1:
        raise ValueError(f"x must be a scalar or a 1-D vector, got shape {x.shape}")
    if direction is not None:
        v = np.asarray(direction, dtype=float)
        if v.shape != x.shape:
            raise ValueError(f"direction has shape {v.shape}, x has {x.shape}")
        step = float(h)
        return np.asarray(sum(w * _value(f, x + o * step * v) for o, w in zip(offsets, weights)) / step)
    steps = _steps(x, h, relative)
    out = []
    for i in range(x.size):
        total = 0.0
        for o, w in zip(offsets, weights):
            shifted = x.copy()
            shifted[i] += o * steps[i]
            total = total + w * _value(f, shifted)
        out.append(total / steps[i])
    return np.stack(out)


def elementwise_derivative(f: Callable, x, h, order: int = 4, *, relative: bool = False) -> np.ndarray:
    """df/dx at every element of ``x`` for a vectorised, element-wise ``f`` (f(x)[i] depends on x[i] only).

    ``h`` is a scalar or an array broadcast to x (times |x| if ``relative``); ``f`` is called
    ``order`` times, on whole shifted arrays (e.g. ``g_s(T ± h)`` over a vector of temperatures).
    """
    offsets, weights = stencil(order)
    x = np.asarray(x, dtype=float)
    steps = _steps(x, h, relative)
    return np.asarray(sum(w * _value(f, x + o * steps) for o, w in zip(offsets, weights)) / steps)


def batched_central_difference(
    f_batch: Callable, x, h, order: int = 4, *, relative: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Gradient of a scalar function evaluated in ONE batched call: ``f_batch(points)`` with
    ``points`` of shape (k, n) returns the k values (e.g. one vmapped relic solve).

    Row 0 of ``points`` is ``x`` itself, followed by the stencil points of every component (step
    ``h``, times |x_i| if ``relative``). Returns ``(gradient (n,), f(x))``.
    """
    offsets, weights = stencil(order)
    x = np.asarray(x, dtype=float)
    if x.ndim != 1:
        raise ValueError(f"x must be a 1-D vector, got shape {x.shape}")
    steps = _steps(x, h, relative)
    rows = [x.copy()]
    for i in range(x.size):
        for o in offsets:
            shifted = x.copy()
            shifted[i] += o * steps[i]
            rows.append(shifted)
    values = np.asarray(f_batch(np.stack(rows)), dtype=float).reshape(len(rows))
    k = len(offsets)
    grad = np.array([values[1 + i * k : 1 + (i + 1) * k] @ weights / steps[i] for i in range(x.size)])
    return grad, values[0]


def log_derivative(f: Callable, x, h=1e-4, order: int = 4) -> np.ndarray:
    """Logarithmic derivative d ln f / d ln x by central differences in ln x of ln f (needs f, x > 0).

    The stencil points are x·e^{k h}, so ``h`` is a relative step. A power law c·x^p gives p up to
    round-off for any h. ``x`` a scalar → a scalar; ``x`` a 1-D vector → the vector of
    ∂ ln f/∂ ln x_i (``f`` takes the whole vector).
    """
    x = np.asarray(x, dtype=float)
    if np.any(x <= 0):
        raise ValueError("log_derivative needs x > 0")

    def log_f(u):
        value = _value(f, np.exp(u) if np.ndim(u) else math.exp(u))
        if np.any(value <= 0):
            raise ValueError(f"log_derivative needs f > 0, got {value}")
        return np.log(value)

    return central_difference(log_f, np.log(x), h, order)


def convergence_order(error: Callable[[float], float], h: float, factor: float = 2.0) -> float:
    """Observed order p of a discretisation error e(h) ~ C h^p: ln[e(h)/e(h/factor)] / ln factor.

    ``error`` returns the (absolute) error at step h; halving h should cut it by 4 for p = 2
    and by 16 for p = 4.
    """
    coarse, fine = abs(float(error(h))), abs(float(error(h / factor)))
    if coarse == 0.0 or fine == 0.0:
        raise ValueError(f"zero error at h={h} or h/{factor}: the order is undefined (exact scheme?)")
    return math.log(coarse / fine) / math.log(factor)


# --- named parameter points -----------------------------------------------------------------------

REGIME_POINTS: dict[str, tuple[float, float, float, str]] = {
    "relativistic-freeze-out": (1e-5, 0.1, 3e-4, "paper"),
    "freeze-out": (10.0, 25.0, 0.01, "physical"),
    "off-resonance-freeze-in": (1.2, 0.5, 4e-6, "physical"),
    "resonant-freeze-in": (3.0, 10.0, 1e-11, "physical"),
}
"""The four regime points of the Model-1 gradient checks (tests/test_relic.py,
``test_gradients_match_finite_differences_each_regime``): name → (M_N₁, M_Z′, g_B−L, mode),
masses in GeV. The off-resonance point has √s from 2.4 GeV and the b-quark threshold inside the
quadrature range (see the comment in test_relic.py)."""

REGIME_GRADIENT_RTOL: dict[str, float] = {
    "relativistic-freeze-out": 1e-5,
    "freeze-out": 1e-5,
    "off-resonance-freeze-in": 1e-4,
    "resonant-freeze-in": 1e-5,
}
"""Relative tolerance of d ln Ω/d ln x_i (jacfwd vs 5-point differences, relative step 1e-3, solver
rtol 1e-12) at each regime point, as used in tests/test_relic.py."""

REGIME_MECHANISMS: dict[str, str] = {
    "relativistic-freeze-out": "freeze-out-relativistic",
    "freeze-out": "freeze-out",
    "off-resonance-freeze-in": "freeze-in",
    "resonant-freeze-in": "freeze-in-resonant",
}
"""``RelicResult.mechanism_name`` of each regime point with the default ``Settings(mode=mode)``
(checked once by hand when this table was written; tests/test_relic.py and
tests/test_relic_reference.py assert the same labels for these or neighbouring points)."""

RESONANT_FREEZE_IN_POINT: tuple[float, float, float, str] = (0.05, 0.2, 4e-12, "paper")
"""(M_N₁, M_Z′, g_B−L, mode) of the resonant freeze-in gradient check (test_relic.py, with g* = 100
and rtol = 1e-12); the same masses and coupling are the README point (docs/equations.md KF9) and
``"resonant-fi"`` of test_relic_reference.py."""

E4_I_B: dict[tuple[float, float, float], float] = {
    (10.0, 0.5, 1.0): 481.16308177771,
    (30.0, 1.3, 2.0): 1148.4289262148,
    (9.0, 1.2, 0.2): 144.95162574222,
}
"""docs/equations.md E.4: I_b(s; M_f, M) of (A21) [GeV⁴], keyed (s, M_f, M), from explicit Dirac traces."""

E4_I_C: dict[tuple[float, float, float], float] = {
    (10.0, 0.5, 1.0): 663.68798699004,
    (30.0, 1.3, 2.0): 1742.5737648388,
    (9.0, 1.2, 0.2): 123.06087766176,
}
"""docs/equations.md E.4: I_c(s; M_N, M) of (A23) [GeV⁴], keyed (s, M_N, M), from explicit Dirac traces."""


# --- random points across every regime, and the agreement of a fast path with its reference ------

TWO_TO_TWO_ABOVE_THE_MIXING = (3.896820779697952, 0.001858728246409937, 1.0274778005684148e-13, 6.738958391419524e-4)
"""2→2 freeze-in (m_A′ < 2m_χ) that makes ≈ half its χ by χχ̄ ↔ f f̄ above T_c = 4.7 GeV (K46)."""
SEQUENTIAL_HEAVY_MEDIATOR = (1.0, 8.0, 1e-11, 1e-9)
"""Sequential freeze-in whose A′ come from inverse decays, 16 % of them above T_c (K46)."""


RANDOM_POINT_RANGES: dict[str, tuple[dict[str, tuple[float, float]], dict[str, tuple[float, float]]]] = {
    "uvmsm": ({"m_n1": (1e-5, 10.0), "m_zp": (1e-3, 100.0)}, {"g_bl": (1e-13, 1.0)}),
    "dark-photon": ({"m_chi": (1e-3, 10.0), "m_ap": (1e-3, 10.0)}, {"epsilon": (1e-13, 1e-3), "e_dark": (1e-8, 1.0)}),
}
"""model name → (mass ranges [GeV], coupling ranges) of :func:`random_points`: every regime of both models."""


def random_points(name: str, n_masses: int, n_couplings: int, seed: int) -> dict[str, np.ndarray]:
    """``n_masses`` random mass pairs, each with ``n_couplings`` random couplings (log-uniform in
    :data:`RANDOM_POINT_RANGES`), as the model's field arrays."""
    rng = np.random.default_rng(seed)
    masses, couplings = RANDOM_POINT_RANGES[name]

    def log_uniform(bounds, size):
        lo, hi = np.log(bounds)
        return np.exp(rng.uniform(lo, hi, size))

    values = {k: np.repeat(log_uniform(b, n_masses), n_couplings) for k, b in masses.items()}
    values.update({k: log_uniform(b, n_masses * n_couplings) for k, b in couplings.items()})
    return values


def check_hessian(hessian, gradient: Callable, x0, h, tolerance: float, symmetry: float) -> None:
    """A Hessian at ``x0`` against 4th-order central differences of ``gradient`` (x → ∇f, 1-D; steps
    ``h``): finite and not all zero, symmetric to ``symmetry`` and equal to the differences to
    ``tolerance``, both as shares of its largest entry."""
    hessian = np.asarray(hessian)
    quotient = central_difference(lambda x: np.asarray(gradient(x)), x0, h, 4)
    scale = np.abs(hessian).max()
    assert np.all(np.isfinite(hessian)) and scale > 0
    assert np.abs(hessian - hessian.T).max() <= symmetry * scale
    assert np.abs(hessian - quotient).max() <= tolerance * scale


def check_agreement(fast, reference, n_points: int) -> None:
    """A fast path's ``RelicResult`` against its reference's on the same points (speed issue,
    acceptance): identical statuses, mechanisms and finiteness; at least half the points valid;
    |ΔΩ/Ω| median ≤ 1e-6 and max ≤ 1e-4 (Ωh² = 0 on both sides counts as agreement)."""
    np.testing.assert_array_equal(np.asarray(fast.status), np.asarray(reference.status))
    np.testing.assert_array_equal(np.asarray(fast.mechanism), np.asarray(reference.mechanism))
    a, b = np.asarray(fast.omega_h2), np.asarray(reference.omega_h2)
    np.testing.assert_array_equal(np.isfinite(a), np.isfinite(b))
    ok = np.isfinite(b)
    assert ok.sum() >= n_points // 2
    a, b = a[ok], b[ok]
    with np.errstate(divide="ignore", invalid="ignore"):  # Ωh² = 0 on both sides: no DM channel
        relative = np.where(a == b, 0.0, np.abs(a - b) / np.abs(b))
    assert np.median(relative) <= 1e-6
    assert np.max(relative) <= 1e-4
