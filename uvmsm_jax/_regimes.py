"""Thermalisation and decoupling map without solving the Boltzmann system (docs/equations.md A.6, B.5).

:func:`thermalisation` evaluates the rate/H criteria (A31)–(A33) (and (B21) for the dark photon)
with the pipeline's one classifier (:func:`uvmsm_jax.pipeline.classify`) on the same rate tables the
relic solver uses, vectorised over any array of points — the input of P1 Fig. 1a's coloured regions
and of the BBN criteria (:func:`uvmsm_jax.constraints.bbn.bbn_excluded`).
"""

from __future__ import annotations

import functools

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array

from ._batching import default_block, map_blocks
from .codes import mechanism_names
from .pipeline import N_PARAMETERS, Config, classify, configure, parameters, prepare
from .settings import Settings

__all__ = ["Thermalisation", "thermalisation"]


class Thermalisation(eqx.Module):
    """Regime of each point (arrays with the batch shape of the model fields).

    dm_thermalised: the DM reaches r/H > 1 below T_R (A31).
    mediator_thermalised: Z′ thermal per (A33) (2→2 and, while T ≥ M_Z′, inverse decays), or A′
      with Γ_vis > H(T = m_A′) (B21).
    t_dec [GeV], x_dec: last crossing r_DM = H (A32) and M_DM/T_dec; NaN where the DM never thermalises.
    t_therm_dm [GeV]: first crossing r_DM = H (T_R when it starts above); NaN if never.
    t_dec_mediator, t_therm_mediator [GeV]: the same for the mediator rate (t_dec_mediator NaN
      unless the mediator thermalised).
    mechanism: :class:`~uvmsm_jax.codes.Mechanism` index the relic would be labelled with (−1 invalid).
    """

    dm_thermalised: Array
    mediator_thermalised: Array
    t_dec: Array
    x_dec: Array
    t_therm_dm: Array
    t_dec_mediator: Array
    t_therm_mediator: Array
    mechanism: Array

    @property
    def mechanism_name(self):
        """Mechanism name (str) for a scalar, a NumPy array of names for a batch."""
        return mechanism_names(self.mechanism)


@functools.partial(jax.jit, static_argnums=(1, 2))
def _classify_batch(thetas: Array, config: Config, block: int) -> Thermalisation:
    def one(theta):
        p = prepare(theta, config)
        r = classify(p, config)
        nan = jnp.nan

        def masked(x):
            return jnp.where(p.valid, x, nan)

        return Thermalisation(
            dm_thermalised=p.valid & r.dm_thermalised,
            mediator_thermalised=p.valid & r.mediator_thermalised,
            t_dec=masked(r.t_dec_dm),
            x_dec=masked(r.x_dec),
            t_therm_dm=masked(r.t_therm_dm),
            t_dec_mediator=masked(r.t_dec_mediator),
            t_therm_mediator=masked(r.t_therm_mediator),
            mechanism=jnp.where(p.valid, r.mechanism, -1).astype(jnp.int32),
        )

    return map_blocks(one, thetas, block)


def thermalisation(model, settings: Settings | None = None) -> Thermalisation:
    """Thermalisation flags, decoupling and thermalisation temperatures and mechanism for every point
    of ``model`` (solved in blocks of :func:`uvmsm_jax.default_block` points, so any batch fits in
    memory)."""
    settings = Settings() if settings is None else settings
    theta = parameters(model, settings)
    shape = theta.shape[:-1]
    flat = _classify_batch(theta.reshape(-1, N_PARAMETERS), configure(model, settings), default_block())
    return jax.tree.map(lambda x: x.reshape(shape), flat)
