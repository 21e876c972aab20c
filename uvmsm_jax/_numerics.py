"""Small numerical kernels shared by the physics layers (polynomials and cubic Hermite interpolation)."""

from __future__ import annotations

import jax.numpy as jnp
from jaxtyping import Array, ArrayLike

__all__ = ["cubic_hermite", "horner"]


def horner(coeffs, t: ArrayLike) -> Array:
    """Σ_j c_j t^j by Horner's rule (``coeffs`` from c₀ up; a Python sequence, unrolled so that XLA
    fuses the whole polynomial into one elementwise kernel)."""
    result = jnp.full_like(jnp.asarray(t, jnp.float64), coeffs[-1])
    for c in coeffs[-2::-1]:
        result = result * t + c
    return result


def cubic_hermite(y0: Array, y1: Array, m0: Array, m1: Array, s: Array) -> Array:
    """Cubic Hermite interpolant on one interval at local coordinate s ∈ [0, 1].

    y0, y1: values at the interval ends; m0, m1: slopes at the ends times the interval length.
    """
    s2, s3 = s * s, s * s * s
    return (2 * s3 - 3 * s2 + 1) * y0 + (s3 - 2 * s2 + s) * m0 + (-2 * s3 + 3 * s2) * y1 + (s3 - s2) * m1
