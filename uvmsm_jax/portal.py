"""The vector-portal core shared by every model (one structure; the models are thin parameterisations of it).

A massive vector V (Z′ or A′) couples to the SM fermion current (B−L charges × g_BL, or electric
charges × εe) and to a DM fermion (Majorana N₁ with an axial coupling, or Dirac χ with a vector
coupling). Widths, cross sections, rates and the Boltzmann system are written once for
:class:`VectorPortal`; each model of :mod:`uvmsm_jax.models` maps its parameters onto it.
"""

from __future__ import annotations

from typing import Literal

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

__all__ = ["VectorPortal", "as_float"]

DMKind = Literal["majorana", "dirac"]
"""Values of :attr:`VectorPortal.dm_kind`."""


def as_float(x: ArrayLike) -> Float[Array, ...]:
    """``x`` as a float64 JAX array."""
    return jnp.asarray(x, dtype=jnp.float64)


class VectorPortal(eqx.Module):
    """A massive vector mediator V coupled to SM fermions and to a DM fermion.

    Fields (GeV for masses, dimensionless couplings):
      m_dm:  DM fermion mass (N₁ or χ).
      m_v:   mediator mass (Z′ or A′).
      g_sm:  coupling multiplying the SM charges of ``current`` (g_BL for "b-l", ε·e for "em").
      g_dm:  DM coupling (g_BL·|Q′_N| = g_BL for the Majorana N₁, e′ for the Dirac χ).
      current: "b-l" (charges of docs/equations.md A2) or "em" (electric charges, docs/equations.md B2).
      dm_kind: "majorana" (N₁, g=2, axial vertex, 1/2 for identical final state) or "dirac"
        (χ + χ̄, 2 + 2 d.o.f.).
    """

    m_dm: Float[Array, ...] = eqx.field(converter=as_float)
    m_v: Float[Array, ...] = eqx.field(converter=as_float)
    g_sm: Float[Array, ...] = eqx.field(converter=as_float)
    g_dm: Float[Array, ...] = eqx.field(converter=as_float)
    current: Literal["b-l", "em"] = eqx.field(static=True, default="b-l")
    dm_kind: DMKind = eqx.field(static=True, default="majorana")
