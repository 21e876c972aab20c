"""uvmsm_jax: differentiable, batched relic abundances for light vector-portal dark sectors.

Importing the package enables float64 in JAX (relic yields span 1e-20 … 1e-2).

Public API (everything in ``__all__``; implementation modules are private and re-exported here)::

    import uvmsm_jax as uj
    m = uj.UVMSM(m_n1=0.05, m_zp=0.2, g_bl=7.4e-13)
    r = uj.relic(m, uj.Settings(mode="physical"))   # RelicResult: omega_h2, yield_dm, mechanism, status
    w = uj.widths(m)                                # Widths: partial and total mediator widths [GeV]
    o = uj.observables(uj.DarkPhotonDM(0.1, 0.3, 5e-4, 0.3))  # p_ann (CMB), σ_e, σ_p, ΔN_eff flag
    d = uj.momentum_distribution(uj.UVMSM(1e-5, 0.1, 1e-11))  # f(q), ⟨q⟩, m_WDM, Lyman-α verdict
    grid = {"m_zp": np.geomspace(1e-2, 10, 50), "g_bl": np.geomspace(1e-13, 1e-3, 50)}
    ds = uj.scan("uvmsm", grid, ratios={"m_n1": ("m_zp", 0.5)}, out="grid.zarr")  # xarray, Zarr
    c = uj.contour("uvmsm", np.geomspace(1e-2, 10, 20), ratio=1.0)  # every Ωh² = 0.12 branch

Models live in one registry (:data:`MODELS`, :func:`model_spec`, :func:`register_model`); the
stages of a relic computation are public in :mod:`uvmsm_jax.pipeline`; status and mechanism codes
are the enums :class:`Status` and :class:`Mechanism`.
"""

import importlib.metadata

import jax

jax.config.update("jax_enable_x64", True)

from . import approximations as approximations  # noqa: E402
from . import dark_photon as dark_photon  # noqa: E402
from . import limits as limits  # noqa: E402
from . import momentum as momentum  # noqa: E402
from . import pipeline as pipeline  # noqa: E402
from ._batching import default_block as default_block  # noqa: E402
from ._contour import ContourResult as ContourResult  # noqa: E402
from ._contour import LogOmegaObjective as LogOmegaObjective  # noqa: E402
from ._contour import RelicObjective as RelicObjective  # noqa: E402
from ._contour import contour as contour  # noqa: E402
from ._observables import Observables as Observables  # noqa: E402
from ._observables import observables as observables  # noqa: E402
from ._regimes import Thermalisation as Thermalisation  # noqa: E402
from ._regimes import thermalisation as thermalisation  # noqa: E402
from ._relic import RelicResult as RelicResult  # noqa: E402
from ._relic import relic as relic  # noqa: E402
from ._relic import yield_history as yield_history  # noqa: E402
from ._scan import ScanMismatchError as ScanMismatchError  # noqa: E402
from ._scan import evaluate as evaluate  # noqa: E402
from ._scan import open_scan as open_scan  # noqa: E402
from ._scan import scan as scan  # noqa: E402
from ._widths import Widths as Widths  # noqa: E402
from ._widths import widths as widths  # noqa: E402
from .codes import MECHANISMS as MECHANISMS  # noqa: E402
from .codes import STATUS_MESSAGES as STATUS_MESSAGES  # noqa: E402
from .codes import Mechanism as Mechanism  # noqa: E402
from .codes import Status as Status  # noqa: E402
from .dark_photon import e_dark_for_relic as e_dark_for_relic  # noqa: E402
from .dark_photon import epsilon_dm as epsilon_dm  # noqa: E402
from .dark_photon import epsilon_threshold as epsilon_threshold  # noqa: E402
from .models import MODELS as MODELS  # noqa: E402
from .models import UVMSM as UVMSM  # noqa: E402
from .models import DarkPhotonDM as DarkPhotonDM  # noqa: E402
from .models import ModelSpec as ModelSpec  # noqa: E402
from .models import Parameter as Parameter  # noqa: E402
from .models import model_spec as model_spec  # noqa: E402
from .models import register_model as register_model  # noqa: E402
from .momentum import LYMAN_ALPHA_BOUNDS as LYMAN_ALPHA_BOUNDS  # noqa: E402
from .momentum import MomentumDistribution as MomentumDistribution  # noqa: E402
from .momentum import momentum_distribution as momentum_distribution  # noqa: E402
from .portal import VectorPortal as VectorPortal  # noqa: E402
from .settings import Settings as Settings  # noqa: E402

__version__: str = importlib.metadata.version("uvmsm-jax")
"""The installed package version (from the package metadata, i.e. ``pyproject.toml``)."""

__all__ = [
    "LYMAN_ALPHA_BOUNDS",
    "MECHANISMS",
    "MODELS",
    "STATUS_MESSAGES",
    "UVMSM",
    "ContourResult",
    "DarkPhotonDM",
    "LogOmegaObjective",
    "Mechanism",
    "ModelSpec",
    "MomentumDistribution",
    "Observables",
    "Parameter",
    "RelicObjective",
    "RelicResult",
    "ScanMismatchError",
    "Settings",
    "Status",
    "Thermalisation",
    "VectorPortal",
    "Widths",
    "__version__",
    "approximations",
    "contour",
    "dark_photon",
    "default_block",
    "e_dark_for_relic",
    "epsilon_dm",
    "epsilon_threshold",
    "evaluate",
    "limits",
    "model_spec",
    "momentum",
    "momentum_distribution",
    "observables",
    "open_scan",
    "pipeline",
    "register_model",
    "relic",
    "scan",
    "thermalisation",
    "widths",
    "yield_history",
]
