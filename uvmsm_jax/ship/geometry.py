"""SHiP decay volume, decay probability and geometric acceptance (docs/equations.md C.1, C.5).

Lengths in metres, momenta/masses/widths in GeV, angles in radians. Distances are measured from
the upstream face of the target along the beam axis; for the small angles involved the flight
path to a plane at distance L is L/cos θ ≃ L (C2).
"""

from __future__ import annotations

import math
from typing import Literal

import equinox as eqx
import jax.numpy as jnp

from .. import constants as c


class DecayVolume(eqx.Module):
    """A decay volume between ``l_start`` and ``l_end`` [m] with an exit window (docs/equations.md C15–C16).

    ``shape="rectangle"``: the vector's direction must hit the window |x| < ``half_width_x``,
    |y| < ``half_width_y`` [m] at distance ``l_end``. ``shape="cone"``: θ < ``half_width_x``/``l_end``.
    """

    name: str = eqx.field(static=True)
    l_start: float = eqx.field(static=True)
    l_end: float = eqx.field(static=True)
    half_width_x: float = eqx.field(static=True)
    half_width_y: float = eqx.field(static=True)
    shape: Literal["rectangle", "cone"] = eqx.field(static=True, default="rectangle")

    @property
    def length(self) -> float:
        """Decay-volume length L₂ − L₁ [m]."""
        return self.l_end - self.l_start

    @property
    def max_angle(self) -> float:
        """Largest accepted polar angle [rad] (window corner for a rectangle, cone half-angle)."""
        if self.shape == "cone":
            return math.atan(self.half_width_x / self.l_end)
        return math.atan(math.hypot(self.half_width_x, self.half_width_y) / self.l_end)


GEOMETRIES = {
    # SHiP at ECN3 (current design; default for new runs): 50 m vessel from ≈33 m, 4 m × 6 m exit.
    "ecn3": DecayVolume("ecn3", 33.0, 83.0, 2.0, 3.0, "rectangle"),
    # P1 / Gorbunov–Makarov–Timiryasov (2015 technical proposal): 60 m shield + 50 m decay region,
    # cone of 2.5 m radius at 110 m.
    "p1": DecayVolume("p1", 60.0, 110.0, 2.5, 2.5, "cone"),
    # SHiP BDF 2019–2020 (arXiv:2011.05115, used by P2): ≈45–50 m + 50 m, 5 m × 10 m window (K23).
    "bdf2020": DecayVolume("bdf2020", 47.5, 97.5, 2.5, 5.0, "rectangle"),
}
"""Decay-volume configurations of docs/equations.md (C15)."""


def get_geometry(geometry: str | DecayVolume) -> DecayVolume:
    """A :class:`DecayVolume` from its name in :data:`GEOMETRIES` (or pass one through)."""
    if isinstance(geometry, DecayVolume):
        return geometry
    try:
        return GEOMETRIES[geometry]
    except KeyError:
        raise ValueError(f"geometry must be one of {sorted(GEOMETRIES)}, got {geometry!r}") from None


def inverse_decay_length(momentum, mass, width_total):
    """1/ℓ [m⁻¹] with the lab decay length ℓ = (|p|/m) ħc/Γ_tot (C2); GeV inputs."""
    return mass * width_total / (momentum * c.HBAR_C_GEV_M)


def log_decay_probability(inv_length, geometry: DecayVolume):
    """ln P_dec of (C2), P_dec = e^(−L₁/ℓ) − e^(−L₂/ℓ), from ``inv_length`` = 1/ℓ [m⁻¹].

    Written as −L₁/ℓ + ln(−expm1(−(L₂−L₁)/ℓ)) so that it stays finite and smooth both for
    ℓ ≫ L₂ (P ≈ (L₂−L₁)/ℓ) and for ℓ ≪ L₁ (P ≈ e^(−L₁/ℓ), far below the float range).
    """
    return -geometry.l_start * inv_length + jnp.log(-jnp.expm1(-geometry.length * inv_length))


def decay_probability(inv_length, geometry: DecayVolume):
    """P_dec = e^(−L₁/ℓ) − e^(−L₂/ℓ) of (C2)."""
    return jnp.exp(log_decay_probability(inv_length, geometry))


def angular_acceptance(theta, geometry: DecayVolume):
    """Fraction of the azimuth (uniform φ) for which direction θ hits the exit window (C16).

    Rectangle: |θ cos φ| < a/L₂ and |θ sin φ| < b/L₂ (small angles), i.e. the arc of the circle of
    radius θ inside the rectangle: [arcsin(min(1, B/θ)) − arccos(min(1, A/θ))]₊/(π/2).
    Cone: 1 for θ < a/L₂, else 0.
    """
    theta = jnp.asarray(theta, dtype=jnp.float64)
    a = geometry.half_width_x / geometry.l_end
    if geometry.shape == "cone":
        return jnp.where(theta < a, 1.0, 0.0)
    b = geometry.half_width_y / geometry.l_end
    safe = jnp.maximum(theta, 1e-300)
    ra = jnp.minimum(a / safe, 1.0)
    rb = jnp.minimum(b / safe, 1.0)
    frac = (jnp.arcsin(rb) - jnp.arccos(ra)) / (0.5 * jnp.pi)
    return jnp.clip(frac, 0.0, 1.0)
