"""Small numerical kernels shared by the physics layers (polynomials, cubic and quintic Hermite
interpolation, finite-difference derivatives on a uniform grid and Radau IIA collocation of a linear
scalar ODE on a fixed grid, and flags broadcast along an array's leading axis)."""

from __future__ import annotations

from typing import TypeVar

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike

__all__ = [
    "along_first_axis",
    "coarser_collocation_stages",
    "cubic_hermite",
    "finite_difference_matrix",
    "horner",
    "linear_collocation",
    "quintic_hermite",
    "radau_iia",
]


_Values = TypeVar("_Values", Array, np.ndarray)


def along_first_axis(flags: Array, x: Array) -> Array:
    """``flags`` (k,) shaped to broadcast along the leading axis of ``x`` (k, …)."""
    return flags.reshape(-1, *(1,) * (x.ndim - 1))


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


def quintic_hermite(
    y0: _Values, y1: _Values, m0: _Values, m1: _Values, c0: _Values, c1: _Values, s: _Values
) -> _Values:
    """Quintic Hermite interpolant on one interval at local coordinate s ∈ [0, 1] (JAX or NumPy arrays).

    y0, y1: values at the interval ends; m0, m1: first derivatives there times the interval length;
    c0, c1: second derivatives there times its square."""
    s2 = s * s
    s3 = s2 * s
    s4, s5 = s3 * s, s3 * s2
    rise = 10 * s3 - 15 * s4 + 6 * s5
    return (
        (1 - rise) * y0
        + rise * y1
        + (s - 6 * s3 + 8 * s4 - 3 * s5) * m0
        + (-4 * s3 + 7 * s4 - 3 * s5) * m1
        + 0.5 * (s2 - 3 * s3 + 3 * s4 - s5) * c0
        + 0.5 * (s3 - 2 * s4 + s5) * c1
    )


def finite_difference_matrix(n: int, derivative: int, points: int = 7) -> np.ndarray:
    """(n, n) matrix D with (D f)_i the ``derivative``-th derivative at node i of the polynomial of degree
    ``points`` − 1 through f on ``points`` consecutive nodes of a uniform grid of unit spacing: centred
    where the grid allows, shifted to one side within ``points``/2 nodes of an end."""
    if n < points:
        raise ValueError(f"a grid of {n} nodes has fewer than the {points} of one difference")
    matrix = np.zeros((n, n))
    half = points // 2
    for i in range(n):
        start = min(max(i - half, 0), n - points)
        offsets = np.arange(start, start + points) - i
        vandermonde = offsets[None, :] ** np.arange(points)[:, None]  # row k: offsets^k
        rhs = np.zeros(points)
        rhs[derivative] = float(np.prod(np.arange(1, derivative + 1)))
        matrix[i, start : start + points] = np.linalg.solve(vandermonde, rhs)
    return matrix


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
    Y solve (I + h A R) Y = y_i 1 + h A source with R = diag(rate), multiplied here by (h A)⁻¹:
    (W/h + R) Y = (W 1/h) y_i + source with W = A⁻¹, i.e. Y = α y_i + β. Its off-diagonal entries
    are the same on every interval of equal step, and no product A·source is formed. Gaussian
    elimination written out, α's and β's right-hand sides as separate arrays (a (…, 2) array of both
    took twice as long on CPU), no pivoting: with B = diag(b), b the quadrature weights (A's last
    row), B(W/h + R) has a positive semidefinite symmetric part where the rates are non-negative
    (Radau IIA is algebraically stable); against a pivoted elimination in extended precision α and β
    agree to ≤ 1.6e-14 normwise for h·rate = 1e-10…1e17 (tests/test_collocation.py). Then
    y_{i+1} = Y_s: a recurrence of affine maps (``jax.lax.scan``; a parallel prefix,
    ``jax.lax.associative_scan``, took twice as long on CPU). Returns Y (n, s)."""
    stages = matrix.shape[0]
    inverse_matrix = np.linalg.inv(matrix)
    inverse_steps = 1.0 / steps
    m = [
        [inverse_matrix[i, j] * inverse_steps + (rate[:, i] if i == j else 0.0) for j in range(stages)]
        for i in range(stages)
    ]
    alpha = [inverse_matrix[i].sum() * inverse_steps for i in range(stages)]
    beta = [source[:, i] for i in range(stages)]
    for p in range(stages):
        inverse_pivot = 1.0 / m[p][p]
        for i in range(p + 1, stages):
            factor = m[i][p] * inverse_pivot
            for j in range(p + 1, stages):
                m[i][j] = m[i][j] - factor * m[p][j]
            alpha[i] = alpha[i] - factor * alpha[p]
            beta[i] = beta[i] - factor * beta[p]
    for i in reversed(range(stages)):
        for j in range(i + 1, stages):
            alpha[i] = alpha[i] - m[i][j] * alpha[j]
            beta[i] = beta[i] - m[i][j] * beta[j]
        alpha[i], beta[i] = alpha[i] / m[i][i], beta[i] / m[i][i]

    def advance(y, affine):  # y_{i+1} = α_s y_i + β_s, keeping y_i
        return affine[0] * y + affine[1], y

    _, y_start = jax.lax.scan(advance, jnp.asarray(y0, alpha[-1].dtype), (alpha[-1], beta[-1]))
    return jnp.stack([a * y_start + b for a, b in zip(alpha, beta, strict=True)], axis=-1)


def coarser_collocation_stages(stages: Array, y0: ArrayLike, nodes: np.ndarray, ratio: int) -> Array:
    """The collocation solution ``stages`` (n, s) of :func:`linear_collocation` (y = ``y0`` at the
    start; ``nodes``: c of :func:`radau_iia`) at the stage points of the grid whose intervals each join
    ``ratio`` consecutive ones: on each interval the collocation polynomial of degree s through the
    start value and the s stage values, evaluated where the coarser grid's stages fall. Returns
    (n / ratio, s)."""
    n, s = stages.shape
    starts = jnp.concatenate([jnp.asarray(y0, stages.dtype)[None], stages[:-1, -1]])
    values = jnp.concatenate([starts[:, None], stages], axis=1).reshape(n // ratio, ratio, s + 1)
    points = np.concatenate([[0.0], nodes])
    weights = np.zeros((s, ratio, s + 1))  # coarse stage j: Lagrange weights on the nodes of its interval
    for j, position in enumerate(ratio * nodes):
        interval = int(np.ceil(position)) - 1
        for k in range(s + 1):
            others = np.delete(points, k)
            weights[j, interval, k] = np.prod((position - interval - others) / (points[k] - others))
    return jnp.einsum("mik,jik->mj", values, jnp.asarray(weights))
