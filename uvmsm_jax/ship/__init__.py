"""SHiP sensitivity to the dark photon and to the B−L Z′ (docs/equations.md Part C).

Modules: :mod:`~uvmsm_jax.ship.brems` (proton bremsstrahlung (C3)–(C11)),
:mod:`~uvmsm_jax.ship.mesons` (meson decays (C12)–(C14) and the rescaled published meson reach),
:mod:`~uvmsm_jax.ship.geometry` (decay probability and acceptance (C2), (C15)–(C16)),
:mod:`~uvmsm_jax.ship.sensitivity` (N_sig (C1) and the reach edges (C18)–(C20)).

Entry points: :func:`ship_reach` (CLI-friendly, lists with ``None``), :func:`reach_edges`
(arrays), :func:`log_signal_events` / :func:`signal_events` (differentiable in the coupling),
:class:`ShipSetup`.
"""

from .brems import (
    form_factor_squared as form_factor_squared,
)
from .brems import (
    pbrem_yield_per_pot as pbrem_yield_per_pot,
)
from .brems import (
    sigma_pp_total as sigma_pp_total,
)
from .brems import (
    splitting_function as splitting_function,
)
from .geometry import GEOMETRIES as GEOMETRIES
from .geometry import DecayVolume as DecayVolume
from .geometry import decay_probability as decay_probability
from .mesons import meson_vector_yields_per_pot as meson_vector_yields_per_pot
from .sensitivity import (
    N_POT_5_YEARS as N_POT_5_YEARS,
)
from .sensitivity import (
    N_POT_15_YEARS as N_POT_15_YEARS,
)
from .sensitivity import (
    N_THRESHOLD_90CL as N_THRESHOLD_90CL,
)
from .sensitivity import (
    ShipSetup as ShipSetup,
)
from .sensitivity import (
    log_signal_events as log_signal_events,
)
from .sensitivity import (
    reach_edges as reach_edges,
)
from .sensitivity import (
    ship_reach as ship_reach,
)
from .sensitivity import (
    ship_setup as ship_setup,
)
from .sensitivity import (
    signal_events as signal_events,
)
