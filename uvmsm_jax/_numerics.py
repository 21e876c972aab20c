"""Small numerical kernels shared by the physics layers (polynomials, cubic Hermite interpolation and
Radau IIA collocation of a linear scalar ODE on a fixed grid)."""

from __future__ import annotations

from typing import TypeVar

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike

__all__ = ["cubic_hermite", "horner", "linear_collocation", "radau_iia"]


_Values = TypeVar("_Values", Array, np.ndarray)


def horner(coeffs, t: ArrayLike) -> Array:
    """Σ_j c_j t^j by Horner's rule (``coeffs`` from c₀ up; a Python sequence, unrolled so that XLA
    fuses the whole polynomial into one elementwise kernel)."""
    result = jnp.full_like(jnp.asarray(t, jnp.float64), coeffs[-1])
    for c in coeffs[-2::-1]:
        result = result * t + c
    return result


def cubic_hermite(y0: _Values, y1: _Values, m0: _Values, m1: _Values, s: _Values) -> _Values:
    """Cubic Hermite interpolant on one interval at local coordinate s ∈ [0, 1] (JAX or NumPy arrays).

    y0, y1: values at the interval ends; m0, m1: slopes at the ends times the interval length.
    """
    s2, s3 = s * s, s * s * s
    return (2 * s3 - 3 * s2 + 1) * y0 + (s3 - 2 * s2 + s) * m0 + (-2 * s3 + 3 * s2) * y1 + (s3 - s2) * m1


def radau_iia(stages: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes c (the right Radau points on [0, 1], c_s = 1) and coefficient matrix A_ij = ∫₀^{c_i} ℓ_j of
    the ``stages``-stage Radau IIA collocation method (order 2s − 1, L-stable, stiffly accurate)."""
    legendre = np.polynomial.legendre
    roots = legendre.legroots(np.eye(stages + 1)[stages] - np.eye(stages + 1)[stages - 1])
    # the roots of P_s − P_{s−1} are real; NumPy 2.5 returns them with a complex dtype
    nodes = (np.sort(np.real(roots)) + 1.0) / 2.0
    matrix = np.empty((stages, stages))
    for j in range(stages):
        others = np.delete(nodes, j)
        antiderivative = np.polyint(np.poly(others) / np.prod(nodes[j] - others))
        matrix[:, j] = np.polyval(antiderivative, nodes) - np.polyval(antiderivative, 0.0)
    return nodes, matrix


def linear_collocation(rate: Array, source: Array, steps: Array, y0: ArrayLike, matrix: np.ndarray) -> Array:
    """Stage values of y′ = −rate(t) y + source(t) by Radau IIA collocation on consecutive intervals.

    ``rate``, ``source``: (n, s) at the stage points t_i + c_j h_i of the n intervals; ``steps``: the
    h_i (n,); ``y0``: y at the start; ``matrix``: A of :func:`radau_iia`. On each interval the stages
    Y solve (I + h A diag(rate)) Y = y_i 1 + h A source, i.e. Y = α y_i + β (Gaussian elimination
    written out, no pivoting: the matrix is I plus h A times a diagonal of non-negative rates in
    use), and y_{i+1} = Y_s: a recurrence of affine maps (``jax.lax.scan``; a parallel prefix,
    ``jax.lax.associative_scan``, took twice as long on CPU). Returns Y (n, s)."""
    stages = matrix.shape[0]
    a = jnp.asarray(matrix)
    m = [[(i == j) + steps * a[i, j] * rate[:, j] for j in range(stages)] for i in range(stages)]
    weighted = (source @ a.T) * steps[:, None]
    r = [jnp.stack([jnp.ones_like(steps), weighted[:, i]], axis=-1) for i in range(stages)]
    for p in range(stages):
        inverse = 1.0 / m[p][p]
        for i in range(p + 1, stages):
            factor = m[i][p] * inverse
            for j in range(p + 1, stages):
                m[i][j] = m[i][j] - factor * m[p][j]
            r[i] = r[i] - factor[:, None] * r[p]
    x: list[Array] = [jnp.zeros(())] * stages
    for i in reversed(range(stages)):
        acc = r[i]
        for j in range(i + 1, stages):
            acc = acc - m[i][j][:, None] * x[j]
        x[i] = acc / m[i][i][:, None]
    alpha, beta = jnp.stack([xi[:, 0] for xi in x], axis=-1), jnp.stack([xi[:, 1] for xi in x], axis=-1)

    def advance(y, affine):  # y_{i+1} = α_s y_i + β_s, keeping y_i
        return affine[0] * y + affine[1], y

    _, y_start = jax.lax.scan(advance, jnp.asarray(y0, alpha.dtype), (alpha[:, -1], beta[:, -1]))
    return alpha * y_start[:, None] + beta
