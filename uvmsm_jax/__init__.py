"""uvmsm_jax: differentiable, batched relic abundances for light vector-portal dark sectors.

Importing the package enables float64 in JAX (relic yields span 1e-20 … 1e-2).

Public API (DESIGN.md §3)::

    import uvmsm_jax as uj
    m = uj.UVMSM(m_n1=0.05, m_zp=0.2, g_bl=4e-12)
    r = uj.relic(m, uj.Settings(mode="physical"))   # RelicResult: omega_h2, yield_dm, mechanism, status
    w = uj.widths(m)                                # Widths: partial and total mediator widths [GeV]
    grid = {"m_zp": np.geomspace(1e-2, 10, 50), "g_bl": np.geomspace(1e-13, 1e-3, 50)}
    ds = uj.scan("uvmsm", grid, ratios={"m_n1": ("m_zp", 0.5)}, out="grid.zarr")  # xarray, Zarr
    c = uj.contour("uvmsm", np.geomspace(1e-2, 10, 20), ratio=1.0)  # every Ωh² = 0.12 branch

The functions ``scan`` and ``contour`` shadow their modules as package attributes (like ``relic``);
the modules stay importable by name (``from uvmsm_jax.scan import evaluate``).
"""

import jax

jax.config.update("jax_enable_x64", True)

from .models import (  # noqa: E402
    DarkPhotonDM as DarkPhotonDM,
    Settings as Settings,
    UVMSM as UVMSM,
    VectorPortal as VectorPortal,
)
from .relic import (  # noqa: E402
    MECHANISMS as MECHANISMS,
    STATUS_MESSAGES as STATUS_MESSAGES,
    RelicResult as RelicResult,
    relic as relic,
)
from .relic import yield_history as yield_history  # noqa: E402
from .regimes import Thermalisation as Thermalisation, thermalisation as thermalisation  # noqa: E402
from .widths import Widths as Widths, widths as widths  # noqa: E402
from .dark_photon import (  # noqa: E402
    e_dark_for_relic as e_dark_for_relic,
    epsilon_dm as epsilon_dm,
    epsilon_threshold as epsilon_threshold,
)
from .scan import evaluate as evaluate, open_scan as open_scan, scan as scan  # noqa: E402
from .contour import ContourResult as ContourResult, contour as contour  # noqa: E402
from . import approximations as approximations, limits as limits  # noqa: E402

__version__ = "0.1.0"
