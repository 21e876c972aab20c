"""Cosmological constraints (docs/equations.md Part F): BBN / ΔN_eff (:mod:`~uvmsm_jax.constraints.bbn`).

Published laboratory and astrophysical limit curves are in :mod:`uvmsm_jax.limits`.
"""

from .bbn import (
    DELTA_NEFF_EXCLUSION as DELTA_NEFF_EXCLUSION,
)
from .bbn import (
    bbn_excluded as bbn_excluded,
)
from .bbn import (
    delta_neff as delta_neff,
)
from .bbn import (
    delta_neff_from_temperatures as delta_neff_from_temperatures,
)
from .bbn import (
    species_in_delta_neff as species_in_delta_neff,
)
from .bbn import (
    thermalises_before_bbn as thermalises_before_bbn,
)
