"""Partial and total widths of the vector mediator V = Z′ or A′ (docs/equations.md A.2, B.2).

:func:`widths` takes a registered model (:class:`~uvmsm_jax.models.UVMSM`,
:class:`~uvmsm_jax.models.DarkPhotonDM`, …) or a :class:`~uvmsm_jax.portal.VectorPortal` and returns a :class:`Widths` (GeV). The SM channels
are g_sm² × :func:`~uvmsm_jax.hadrons.sm_width_unit`; the DM channel is :func:`dm_pair_width`.
All functions are jit/vmap/grad-safe; parameter fields may be scalars or broadcastable arrays.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from ._programs import filter_jit
from .hadrons import (
    Current,
    SMChannelWidths,
    fermion_pair_phase_space,
    fermion_pair_width_unit,
    neutrino_width_unit,
    quark_charges,
)
from .hadrons import (
    UnitSMWidths as UnitSMWidths,
)
from .hadrons import (
    sm_width_unit as sm_width_unit,
)
from .models import model_spec
from .portal import DMKind, VectorPortal, as_float
from .settings import Settings

CHANNELS = ("e", "mu", "tau", "nu", "hadrons", "dm")
"""Channel names of :class:`Widths` and of ``uvmsm-jax widths --json`` (README, "Command line")."""


class Widths(SMChannelWidths):
    """Partial widths of the mediator [GeV]: the SM channels (``nu`` summed over the three flavours)
    and ``dm``. Properties: ``sm`` (all SM channels, Γ_SM of (A12)), ``total`` (incl. ``dm``; Γ_Z′ of
    (A12), Γ_tot of (B6)), ``visible`` (e + μ + τ + hadrons, Γ_vis of (B6)).
    """

    dm: Float[Array, ...]

    @property
    def total(self) -> Float[Array, ...]:
        """Total width incl. the DM pair [GeV] (docs/equations.md (A12), (B6))."""
        return self.sm + self.dm

    def as_dict(self) -> dict:
        """``{"total": Γ, "partial": {channel: Γ_channel}}`` in GeV (the ``widths --json`` shape).

        Scalars become Python floats, arrays nested lists (JSON-serialisable).
        """

        def plain(x):
            value = np.asarray(x, dtype=np.float64)
            return float(value) if value.ndim == 0 else value.tolist()

        host = jax.tree.map(np.asarray, self)  # NumPy: a jnp sum would compile a small program
        return {"total": plain(host.total), "partial": {name: plain(getattr(host, name)) for name in CHANNELS}}


def dm_pair_width(portal: VectorPortal) -> Float[Array, ...]:
    """Γ(V → DM DM) [GeV]; zero for M_V ≤ 2m_DM (NaN-free gradient at threshold).

    * Majorana N₁ (docs/equations.md (A10)): g_dm² M/(24π) (1 − 4m²/M²)^{3/2}; axial coupling, includes the
      identical-particle factor 1/2.
    * Dirac χ (docs/equations.md (B5)): e′² M/(12π) (1 + 2r²) sqrt(1 − 4r²), r = m_χ/M.
    """
    m_v, m_dm, g_dm = portal.m_v, portal.m_dm, portal.g_dm
    if portal.dm_kind == "dirac":
        return g_dm**2 * m_v / (12.0 * jnp.pi) * fermion_pair_phase_space(m_v, m_dm)
    if portal.dm_kind != "majorana":
        raise ValueError(f"dm_kind must be 'majorana' or 'dirac', got {portal.dm_kind!r}")
    beta_sq = 1.0 - 4.0 * m_dm**2 / m_v**2
    is_open = beta_sq > 0.0
    beta_cubed = jnp.where(is_open, jnp.where(is_open, beta_sq, 1.0) ** 1.5, 0.0)
    return g_dm**2 * m_v / (24.0 * jnp.pi) * beta_cubed


def _broadcast_portal(portal: VectorPortal) -> VectorPortal:
    m_dm, m_v, g_sm, g_dm = jnp.broadcast_arrays(portal.m_dm, portal.m_v, portal.g_sm, portal.g_dm)
    return VectorPortal(m_dm, m_v, g_sm, g_dm, current=portal.current, dm_kind=portal.dm_kind)


def widths(model, settings: Settings | None = None) -> Widths:
    """Partial and total widths of the mediator of ``model`` [GeV] (docs/equations.md (A8)–(A12), (B3)–(B6)).

    ``model``: a registered model (UVMSM, DarkPhotonDM, …) or a :class:`~uvmsm_jax.portal.VectorPortal`.
    SM channels: g_sm² × :func:`~uvmsm_jax.hadrons.sm_width_unit` (g_sm = g_BL for UVMSM, ε·e for
    DarkPhotonDM); the hadronic channel follows ``settings.mode`` (as the model reads it) and
    ``settings.sqrt_s_switch`` for the B−L current (A11, D.2). DM channel: :func:`dm_pair_width`.
    All fields broadcast together.
    """
    if not isinstance(model, VectorPortal):
        settings = None if settings is None else model_spec(model).resolve_settings(settings)
    return _widths_of(model, settings)


@filter_jit  # on concrete input one compiled program, not one per array operation (≈ 0.8 s a CLI call)
def _widths_of(model, settings: Settings | None) -> Widths:
    """:func:`widths` of a model or portal under already resolved ``settings``."""
    portal = _broadcast_portal(model if isinstance(model, VectorPortal) else model.portal)
    unit = sm_width_unit(portal.m_v, portal.current, settings)
    g_sm_sq = portal.g_sm**2
    return Widths(
        e=g_sm_sq * unit.e,
        mu=g_sm_sq * unit.mu,
        tau=g_sm_sq * unit.tau,
        nu=g_sm_sq * unit.nu,
        hadrons=g_sm_sq * unit.hadrons,
        dm=dm_pair_width(portal),
    )


def massless_width_coefficient_cf(current: Current = "b-l", dm_kind: DMKind = "majorana") -> float:
    """C_f = Γ_total/(g² M/12π) with every fermion massless (docs/equations.md (A13), E1.12) [dimensionless].

    Built from the same channel functions as :func:`widths`, evaluated at zero fermion masses and
    equal SM and DM couplings: for B−L + Majorana N₁ this is 3 (e, μ, τ) + 3/2 (3ν) + 2 (6 quarks,
    N_c Q′² = 1/3 each) + 1/2 (N₁) = 7. (For "em" + Dirac: 3 + 0 + 5 + 1 = 9.)
    """
    m_v, massless = 1.0, 0.0
    leptons = 3.0 * fermion_pair_width_unit(m_v, massless, charge=-1.0)
    neutrinos = neutrino_width_unit(m_v, current)
    quarks = sum(fermion_pair_width_unit(m_v, massless, q, n_colours=3.0) for q in quark_charges(current).values())
    couplings = as_float(1.0)
    portal = VectorPortal(as_float(massless), as_float(m_v), couplings, couplings, current=current, dm_kind=dm_kind)
    dm = dm_pair_width(portal)
    return float((leptons + neutrinos + quarks + dm) / (m_v / (12.0 * jnp.pi)))


__all__ = [
    "CHANNELS",
    "UnitSMWidths",
    "Widths",
    "dm_pair_width",
    "massless_width_coefficient_cf",
    "sm_width_unit",
    "widths",
]
