"""The on-disk export cache of the traced solver (``relic(..., export_cache=DIR)``, used by the CLI)."""

from __future__ import annotations

import jax
import numpy as np

import uvmsm_jax as uj
from uvmsm_jax._export import SUFFIX

MODEL = uj.DarkPhotonDM(0.1, 1.0, 1e-9, 1e-12)
SETTINGS = uj.Settings(n_grid=32)


def test_exported_solver_is_stored_reused_and_equal(tmp_path):
    first = uj.relic(MODEL, SETTINGS, export_cache=tmp_path)
    (stored,) = tmp_path.glob("*" + SUFFIX)
    stamp = stored.stat().st_mtime_ns
    second = uj.relic(MODEL, SETTINGS, export_cache=tmp_path)
    assert stored.stat().st_mtime_ns == stamp  # loaded, not exported again
    plain = uj.relic(MODEL, SETTINGS)
    assert first.as_dict() == second.as_dict() == plain.as_dict()
    assert first.as_dict()["status"] == 0 and first.as_dict()["omega_h2"] > 0
    assert first.as_dict()["ode_steps"] > 10  # the stiff solve took steps, and the count is reported
    # another batch size (or model, or settings) is another file
    uj.relic(uj.DarkPhotonDM([0.1, 0.2], 1.0, 1e-9, 1e-12), SETTINGS, export_cache=tmp_path)
    assert len(list(tmp_path.glob("*" + SUFFIX))) == 2
    # a corrupt (or foreign) file is exported again
    stored.write_bytes(b"not an exported program")
    assert uj.relic(MODEL, SETTINGS, export_cache=tmp_path).as_dict() == plain.as_dict()
    assert stored.read_bytes() != b"not an exported program"


def test_traced_inputs_ignore_the_cache(tmp_path):
    """Inside ``jit`` (or a derivative) the inputs are traced: the differentiable path runs, no file is
    written, and the value equals the plain solve."""
    solve = jax.jit(lambda e: uj.relic(uj.DarkPhotonDM(0.1, 1.0, 1e-9, e), SETTINGS, export_cache=tmp_path).omega_h2)
    traced = solve(1e-12)
    assert not list(tmp_path.glob("*" + SUFFIX))
    np.testing.assert_array_equal(traced, uj.relic(MODEL, SETTINGS).omega_h2)
