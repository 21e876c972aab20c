"""Thermalisation and decoupling map without solving the Boltzmann system (docs/equations.md A.6, B.5).

:func:`thermalisation` evaluates the rate/H criteria (A31)–(A33) (and (B21) for the dark photon)
on the same rate tables the relic solver uses, vectorised over any array of points — the input
of P1 Fig. 1a's coloured regions.
"""

from __future__ import annotations

import functools

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array

from .models import Model, Settings
from .relic import _config, _Config, _parameters, _prepare_point, default_block, map_blocks, mechanism_names


class Thermalisation(eqx.Module):
    """Regime of each point (arrays with the batch shape of the model fields).

    dm_thermalised: N₁ (χ) reaches r/H > 1 below T_R (A31).
    mediator_thermalised: Z′ thermal per (A33) (2→2 and, while T ≥ M_Z′, inverse decays), or A′
      with Γ_vis > H(T = m_A′) (B21).
    t_dec [GeV], x_dec: last crossing r_N = H (A32); NaN where the DM never thermalises.
    mechanism: index into :data:`uvmsm_jax.MECHANISMS` the relic would be labelled with (−1 invalid).
    """

    dm_thermalised: Array
    mediator_thermalised: Array
    t_dec: Array
    x_dec: Array
    mechanism: Array

    @property
    def mechanism_name(self):
        """Mechanism name (str) for a scalar, a NumPy array of names for a batch."""
        return mechanism_names(self.mechanism)


@functools.partial(jax.jit, static_argnums=(1, 2))
def _classify_batch(thetas: Array, config: _Config, block: int):
    def one(theta):
        p = _prepare_point(theta, config)
        nan = jnp.nan
        return (
            p.valid & p.dm_thermal,
            p.valid & p.mediator_thermal,
            jnp.where(p.valid, p.t_dec, nan),
            jnp.where(p.valid, p.x_dec, nan),
            jnp.where(p.valid, p.mechanism, -1),
        )

    return map_blocks(one, thetas, block)


def thermalisation(model: Model, settings: Settings | None = None) -> Thermalisation:
    """Thermalisation flags, decoupling temperature and mechanism for every point of ``model``
    (solved in blocks of :func:`uvmsm_jax.relic.default_block` points, so any batch fits in memory)."""
    settings = Settings() if settings is None else settings
    theta = _parameters(model, settings)
    shape = theta.shape[:-1]
    outputs = _classify_batch(theta.reshape(-1, 5), _config(model, settings), default_block())
    dm, mediator, t_dec, x_dec, mechanism = (o.reshape(shape) for o in outputs)
    return Thermalisation(dm, mediator, t_dec, x_dec, mechanism.astype(jnp.int32))
