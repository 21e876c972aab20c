"""``uvmsm_jax.relic(..., elasticities=True)``: d ln Ωh²/d ln x for every model field x (docs/relic.md,
"Elasticities") against central differences of ln Ωh², and its two batch paths against each other."""

import json

import numpy as np
import pytest
from helpers import check_agreement, random_points

import uvmsm_jax as uj
from uvmsm_jax.cli._common import parse_range

FD_LOG_STEP = 1e-2
"""Step in ln x of the central differences: the 4th-order stencil's error is O(h⁴) ≈ 1e-8 of the
derivatives' third and fifth derivatives in ln x, and Ω's solver noise (≈ rtol = 1e-7, and the steps a
perturbed point takes differently) enters the difference as ≈ 1e-7/h = 1e-5."""


def log_differences(spec_fields, values: dict, settings: uj.Settings, kind) -> dict:
    """d ln Ωh²/d ln x by the 4th-order central stencil in ln x, every field (and T_R when
    ``settings.t_reheat`` is an array of the points') and every point, in one batch of :func:`uvmsm_jax.relic`
    with ``elasticities=True``: its Ωh² is the ODE's, and its programs are those of the derivative
    under test (one compilation for both)."""
    names = [*spec_fields, *(() if settings.t_reheat is None else ("t_reheat",))]
    base = {**values, **({} if settings.t_reheat is None else {"t_reheat": np.asarray(settings.t_reheat)})}
    offsets = np.array([-2.0, -1.0, 1.0, 2.0]) * FD_LOG_STEP
    columns = {name: [] for name in names}
    for name in names:
        for offset in offsets:
            for other in names:
                columns[other].append(base[other] * (np.exp(offset) if other == name else 1.0))
    stacked = {name: np.concatenate(v) for name, v in columns.items()}
    t_reheat = stacked.pop("t_reheat", None)
    omega = np.asarray(uj.relic(kind(**stacked), uj.Settings(t_reheat=t_reheat), elasticities=True).omega_h2)
    omega = np.log(omega).reshape(len(names), len(offsets), -1)
    weights = np.array([1.0, -8.0, 8.0, -1.0]) / (12.0 * FD_LOG_STEP)
    return {name: np.tensordot(weights, omega[i], axes=1) for i, name in enumerate(names)}


def test_elasticities_are_the_derivative_of_ln_omega():
    """A batch of two masses × two couplings (freeze-in and freeze-out; each mass's table and its
    derivatives tabulated once), with T_R given per point: every field's elasticity and T_R's against
    central differences of ln Ωh² to 1e-3 of max(1, |e|). (A flagged point in a batch: NaN, its
    neighbours unaffected, in the slow random-point test below and in the next test.)"""
    m_zp = np.array([0.1, 0.1, 2.0, 2.0])
    values = {"m_n1": 0.3 * m_zp, "m_zp": m_zp, "g_bl": np.array([3e-12, 1e-3, 3e-12, 1e-3])}
    t_reheat = 100.0 * m_zp
    result = uj.relic(uj.UVMSM(**values), uj.Settings(t_reheat=t_reheat), elasticities=True)
    assert np.asarray(result.status).tolist() == [0, 0, 0, 0]
    assert set(result.elasticities) == {"m_n1", "m_zp", "g_bl", "t_reheat"}
    assert sorted(set(np.asarray(result.mechanism_name))) == ["freeze-in-resonant", "freeze-out"]
    fd = log_differences(("m_n1", "m_zp", "g_bl"), values, uj.Settings(t_reheat=t_reheat), uj.UVMSM)
    for name, expected in fd.items():
        got = np.asarray(result.elasticities[name])
        np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-3, err_msg=name)


def test_an_elasticity_is_nan_exactly_where_there_is_no_omega():
    """:func:`~uvmsm_jax._relic.omega_elasticities` on solver outputs: x ∂Ωh²/∂x / Ωh² where status is 0
    and Ωh² > 0; NaN for a flagged point, for Ωh² = 0 (no DM channel) and for a NaN Ωh², whatever its
    gradient; NumPy in, NumPy out (no program compiled)."""
    from uvmsm_jax._relic import OUTPUT_FIELDS, omega_elasticities

    outputs = np.zeros((4, len(OUTPUT_FIELDS)))
    outputs[:, 0] = [0.12, 0.12, 0.0, np.nan]
    outputs[:, OUTPUT_FIELDS.index("status")] = [0, 12, 4, 0]
    gradient = np.array([[0.24, -0.06], [1.0, 1.0], [1.0, 1.0], [np.inf, 1.0]])
    rows = np.array([[0.5, 2.0], [0.5, 2.0], [0.5, 2.0], [0.5, 2.0]])
    got = omega_elasticities(outputs, gradient, rows)
    assert isinstance(got, np.ndarray)
    np.testing.assert_allclose(got[0], [1.0, -1.0])
    assert np.isnan(got[1:]).all()


@pytest.mark.slow
@pytest.mark.parametrize(
    "name,kind,settings",
    [
        ("uvmsm", uj.UVMSM, uj.Settings()),
        ("dark-photon", uj.DarkPhotonDM, uj.Settings()),
    ],
)
def test_both_batch_paths_give_the_same_elasticities(name, kind, settings):
    """Random points, several couplings per mass (tests/helpers.random_points), across the regimes:
    the batch with shared tables (each mass's table derivative tabulated once, the derivative in θ taken
    to the fields by the chain rule) against each point tabulating its own table in forward mode
    (``Settings.rate_tables="per-point"``, the path of ``jax.jacfwd``): Ωh² and statuses identical up to
    the solver's tolerance (``helpers.check_agreement``: identical statuses and mechanisms, |ΔΩ/Ω| median
    ≤ 1e-6 and max ≤ 1e-4, as the plain batch's two paths), elasticities likewise: the difference over
    max(1, |e|) median ≤ 1e-6 and max ≤ 1e-3. With the default T_R, which follows the masses, the
    masses' elasticities include it. Ωh² is the ODE's: ``Settings(solver="ode")``'s plain batch agrees
    the same way."""
    import dataclasses

    values = random_points(name, 4, 8, seed=11)
    shared = uj.relic(kind(**values), settings, elasticities=True)
    own = uj.relic(kind(**values), dataclasses.replace(settings, rate_tables="per-point"), elasticities=True)
    check_agreement(shared, own, 16)
    check_agreement(shared, uj.relic(kind(**values), dataclasses.replace(settings, solver="ode")), 16)
    ok = np.asarray(shared.status) == 0
    assert set(shared.elasticities) == set(uj.model_spec(name).fields)
    for field in shared.elasticities:
        a, b = np.asarray(shared.elasticities[field]), np.asarray(own.elasticities[field])
        assert np.isnan(a[~ok]).all() and np.isfinite(a[ok]).all(), field
        scaled = np.abs(a[ok] - b[ok]) / np.maximum(1.0, np.abs(b[ok]))
        assert np.median(scaled) <= 1e-6 and np.max(scaled) <= 1e-3, (field, np.median(scaled), np.max(scaled))


@pytest.mark.slow
def test_dark_photon_elasticities_are_the_derivative_of_ln_omega():
    """The dark photon in its four fields (a sequential freeze-in point and a 2→2 freeze-in point, T_R
    given below the check of (B2′)), against central differences of ln Ωh² as above. The A′ lies
    below the hadronic threshold, where Γ_SM(m_A′) is analytic: above, it is linear between the R
    data, and a derivative in m_A′ is the slope within its data interval (docs/relic.md,
    "Differentiability"; 7.906 against 7.854 by differences 1e-2 wide at m_A′ = 0.3 GeV)."""
    values = {
        "m_chi": np.array([0.05, 0.05]),
        "m_ap": np.array([0.2, 3e-3]),
        "epsilon": np.array([1e-7, 1e-9]),
        "e_dark": np.array([1e-3, 1e-3]),
    }
    t_reheat = np.array([30.0, 4.0])
    result = uj.relic(uj.DarkPhotonDM(**values), uj.Settings(t_reheat=t_reheat), elasticities=True)
    assert np.asarray(result.status).tolist() == [0, 0]
    fd = log_differences(uj.model_spec("dark-photon").fields, values, uj.Settings(t_reheat=t_reheat), uj.DarkPhotonDM)
    for name, expected in fd.items():
        np.testing.assert_allclose(np.asarray(result.elasticities[name]), expected, rtol=2e-3, atol=2e-3, err_msg=name)


SCAN_GRID = {"m_zp": parse_range("0.1:2:4").values("log"), "g_bl": parse_range("1e-9:1e-3:16").values("log")}
SCAN_RATIOS, SCAN_SETTINGS = {"m_n1": ("m_zp", 0.3)}, uj.Settings(t_reheat=50.0)
SCAN_ARGV = ["scan", "--model", "uvmsm", "--m-zp", "0.1:2:4", "--g-bl", "1e-9:1e-3:16", "--ratio", "0.3"]
SCAN_ARGV += ["--t-reheat", "50", "--chunk", "64", "--no-progress", "--elasticities", "--json"]


def test_a_scan_stores_the_elasticities(tmp_path):
    """``uj.scan(..., elasticities=True)``: an ``elasticity_<x>`` variable per model field and T_R
    (given), equal bit for bit to ``uj.relic(..., elasticities=True)`` on the same points; a store is
    resumed only with the same choice. One chunk of 64 points whose masses' tables serve them all: the
    programs the test above compiled for its 64 stencil points."""
    from uvmsm_jax._scan import ScanMismatchError

    path = tmp_path / "s.zarr"
    ds = uj.scan(
        "uvmsm",
        SCAN_GRID,
        ratios=SCAN_RATIOS,
        settings=SCAN_SETTINGS,
        out=path,
        chunk=64,
        progress=False,
        elasticities=True,
    )
    m_zp, g_bl = np.meshgrid(SCAN_GRID["m_zp"], SCAN_GRID["g_bl"], indexing="ij")
    result = uj.relic(
        uj.UVMSM(0.3 * m_zp, m_zp, g_bl), uj.Settings(t_reheat=np.full(m_zp.shape, 50.0)), elasticities=True
    )
    assert (np.asarray(result.status) == 0).sum() >= 48
    for x in ("m_n1", "m_zp", "g_bl", "t_reheat"):
        assert ds[f"elasticity_{x}"].attrs["units"] == "1"
        np.testing.assert_array_equal(ds[f"elasticity_{x}"].values, np.asarray(result.elasticities[x]), err_msg=x)
    np.testing.assert_array_equal(ds["omega_h2"].values, np.asarray(result.omega_h2))
    with pytest.raises(ScanMismatchError, match="elasticities"):
        uj.scan("uvmsm", SCAN_GRID, ratios=SCAN_RATIOS, settings=SCAN_SETTINGS, out=path, resume=True, progress=False)


@pytest.mark.slow
def test_the_scan_command_stores_the_elasticities(tmp_path, capsys):
    """``uvmsm-jax scan --elasticities``: the summary lists the stored variables, whose values are
    ``uj.scan(..., elasticities=True)``'s (the command runs its stages from stored executables)."""
    from uvmsm_jax import cli

    assert cli.main([*SCAN_ARGV, "--out", str(tmp_path / "cli.zarr")]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["elasticities"] == [f"elasticity_{x}" for x in ("g_bl", "m_n1", "m_zp", "t_reheat")]
    ds = uj.scan(
        "uvmsm", SCAN_GRID, ratios=SCAN_RATIOS, settings=SCAN_SETTINGS, chunk=64, progress=False, elasticities=True
    )
    stored = uj.open_scan(tmp_path / "cli.zarr")
    for x in ("m_n1", "m_zp", "g_bl", "t_reheat"):
        np.testing.assert_allclose(stored[f"elasticity_{x}"].values, ds[f"elasticity_{x}"].values, rtol=1e-12)
