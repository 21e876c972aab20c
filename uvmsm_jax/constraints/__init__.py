"""Cosmological constraints (docs/equations.md Part F): BBN / ΔN_eff (:mod:`~uvmsm_jax.constraints.bbn`).

Published laboratory and astrophysical limit curves are in :mod:`uvmsm_jax.limits`.
"""

from .bbn import (
    DELTA_NEFF_EXCLUSION as DELTA_NEFF_EXCLUSION,
    bbn_excluded as bbn_excluded,
    delta_neff as delta_neff,
    delta_neff_from_temperatures as delta_neff_from_temperatures,
    species_in_delta_neff as species_in_delta_neff,
    thermalises_before_bbn as thermalises_before_bbn,
)
