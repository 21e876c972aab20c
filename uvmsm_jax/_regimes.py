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
import numpy as np
from jaxtyping import Array

from ._batching import default_block, map_blocks, map_concrete_batch
from ._programs import TABULATION_XLA_OPTIONS, jit
from ._relic import TableArrays, map_with_shared_tables
from ._validation import is_concrete
from .codes import mechanism_names
from .pipeline import N_PARAMETERS, Config, classify, configure, parameters, prepare
from .rates import UnitRates
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


def _classified(theta: Array, config: Config, table: UnitRates | None = None) -> Thermalisation:
    """The :class:`Thermalisation` of one point (``table``: its coupling-free rate table when
    tabulated beforehand, see :func:`~uvmsm_jax.pipeline.prepare`)."""
    p = prepare(theta, config, table)
    r = classify(p, config)

    def masked(x):
        return jnp.where(p.valid, x, jnp.nan)

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


@functools.partial(jit, static_argnums=(1, 2), xla_options=TABULATION_XLA_OPTIONS)
def _classify_batch(thetas: Array, config: Config, block: int) -> Thermalisation:
    return map_blocks(lambda theta: _classified(theta, config), thetas, block)


@functools.partial(jit, static_argnums=(2,))
def _classify_with_tables(thetas: Array, tables: TableArrays, config: Config) -> Thermalisation:
    return jax.vmap(lambda theta, table: _classified(theta, config, UnitRates(**table)))(thetas, tables)


def thermalisation(model, settings: Settings | None = None) -> Thermalisation:
    """Thermalisation flags, decoupling and thermalisation temperatures and mechanism for every point
    of ``model`` (solved in blocks of :func:`uvmsm_jax.default_block` points, so any batch fits in
    memory). A concrete batch tabulates each distinct mass point's coupling-free rates once
    (``Settings.rate_tables``, as :func:`uvmsm_jax.relic` does): a (mass × coupling) map costs one
    tabulation per mass."""
    settings = Settings() if settings is None else settings
    config = configure(model, settings)
    theta = parameters(model, settings)
    shape = theta.shape[:-1]
    flat = theta.reshape(-1, N_PARAMETERS)
    result = None
    if is_concrete(flat) and flat.shape[0] > 1 and settings.rate_tables == "shared":
        result = map_with_shared_tables(
            np.asarray(flat),
            config,
            lambda in_blocks, thetas: in_blocks(_classify_with_tables, np.arange(thetas.shape[0])),
            [(_classify_with_tables, False)],
        )
    if result is None:
        result = map_concrete_batch(
            _classify_batch,
            flat,
            concrete=is_concrete(flat),
            config=config,
            block=default_block(config.spec.relic_bytes_per_point),
        )
    return jax.tree.map(lambda x: jax.device_put(x.reshape(shape)), result)  # NumPy leaves: no programs compiled
