"""Limit curves (docs/equations.md Part F; data/limits README)."""

from pathlib import Path

import numpy as np
import pytest

import uvmsm_jax as uj
from uvmsm_jax import limits


def test_available_lists_both_models():
    dp = limits.available("dark-photon")
    bl = limits.available("uvmsm")
    assert "darkcast/BaBar_Lees2014xha" in dp and "darkcast/BaBar_Lees2014xha" in bl
    assert "darkcast-reach/SHiP_Ahdida2020new_brem_vmd" in dp
    assert "darkmatterlive/SN1987A" in dp and "foresee/bounds_SN" in dp
    assert "foresee/bounds_Borexino" in bl and "nutev" in bl and "lep-contact" in bl
    assert "recast/BaBar_Lees2014xha" in bl
    assert not any(n.startswith(("recast/", "nutev")) for n in dp)
    assert limits.available("b-l") == bl
    with pytest.raises(ValueError, match="model"):
        limits.available("axion")


@pytest.mark.parametrize("model", ["dark-photon", "uvmsm"])
def test_every_packaged_curve_loads(model):
    for name in limits.available(model):
        curve = limits.load(model, name)
        assert curve.mass.shape == curve.lower.shape == curve.upper.shape
        assert curve.citation and curve.licence
        finite = np.isfinite(curve.lower)
        assert np.all(curve.lower[finite] > 0) and np.all(curve.upper[finite] >= curve.lower[finite])
        assert np.all(np.isnan(curve.upper[~finite]))
        assert curve.coupling == uj.model_spec(model).sm_coupling


def test_lmt_formats_and_sentinel():
    two = limits.load("dark-photon", "BaBar_Lees2014xha")  # 2 columns, one-sided
    assert not two.two_sided and np.all(np.isposinf(two.upper[np.isfinite(two.lower)]))
    assert np.isnan(two.lower[0])  # first row is the 1e5 sentinel
    three = limits.load("dark-photon", "darkcast-reach/SHiP_Ahdida2020new_brem_vmd")
    assert three.two_sided
    assert three.lower[three.mass == 0.75][0] == pytest.approx(2.9166e-9)
    assert np.isnan(three.lower[-1])  # 2.6 GeV row: sentinel 1e5
    assert "GPL-2.0-or-later" in three.licence and "1801.04847" in three.citation and "2011.05115" in three.citation


def test_txt_and_csv_formats():
    borexino = limits.load("uvmsm", "foresee/bounds_Borexino")
    assert np.all(np.diff(borexino.mass) >= 0) and borexino.lower.max() < 1e3  # sentinels dropped
    na64 = limits.load("uvmsm", "foresee/bounds_NA64_inv_new")
    assert np.all(np.diff(na64.mass) >= 0)  # trailing closing point removed
    sn = limits.load("dark-photon", "foresee/bounds_SN")
    assert sn.two_sided and sn.contour is not None and np.all(sn.upper >= sn.lower)
    ship = limits.load("dark-photon", "darkmatterlive/SHiP_rescaled")
    assert ship.kind == "projection" and "Apache-2.0" in ship.licence and "2504.06692" in ship.citation
    lo, hi = ship.interpolate(0.5)
    assert 1e-9 < lo < hi < 1e-4
    assert "MIT" in limits.load("uvmsm", "bounds_Texono").licence


def test_darkcast_meson_projection_is_squared():
    curve = limits.load("dark-photon", "darkcast-reach/SHiP_Ahdida2020new_meson_pi0")
    assert curve.lower[curve.mass == 0.05][0] == pytest.approx(1.3506e-4**2)
    assert "squared" in curve.notes


def test_missing_file_names_the_file(tmp_path, monkeypatch):
    missing = tmp_path / "nothing_here.lmt"
    with pytest.raises(FileNotFoundError, match="nothing_here.lmt"):
        limits.read_lmt(missing)
    # a packaged curve whose file disappeared
    name = "darkcast/BaBar_Lees2014xha"
    real_root = limits.data_root()
    fake_root = tmp_path / "limits"
    (fake_root / "darkcast" / "dark_photon").mkdir(parents=True)
    (fake_root / "darkcast" / "darkcast_limits_index.csv").write_text(
        (real_root / "darkcast" / "darkcast_limits_index.csv").read_text()
    )
    (fake_root / "darkcast" / "dark_photon" / "BaBar_Lees2014xha.lmt").write_text("")
    monkeypatch.setattr(limits, "data_root", lambda: fake_root)
    (fake_root / "darkcast" / "dark_photon" / "BaBar_Lees2014xha.lmt").unlink()
    monkeypatch.setattr(limits, "available", lambda model: [name])
    with pytest.raises(FileNotFoundError, match="BaBar_Lees2014xha.lmt"):
        limits.load("dark-photon", name)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("#  mass lower\n0.1 1e-3\n0.2 abc\n", "line 3 is not numeric"),
        ("0.1 1e-3 1e-2\n0.2 1e-3\n", "line 2 has 2 columns"),
        ("0.1 1e-3 1e-2 1\n", "expected 2 or 3 columns"),
        ("0.2 1e-3\n0.1 1e-3\n", "not sorted"),
        ("0.1 -1e-3\n", "positive"),
        ("0.1 nan\n", "non-finite"),
    ],
)
def test_malformed_lmt_names_the_file(tmp_path, content, message):
    path = tmp_path / "broken_curve.lmt"
    path.write_text(content)
    with pytest.raises(ValueError, match=message) as err:
        limits.read_lmt(path)
    assert "broken_curve.lmt" in str(err.value)


def test_malformed_csv_and_txt_name_the_file(tmp_path):
    csv_path = tmp_path / "contour.csv"
    csv_path.write_text("x,y\n0.1,1e-8\n")
    with pytest.raises(ValueError, match="contour.csv"):
        limits.read_contour_csv(csv_path)
    txt = tmp_path / "line.txt"
    txt.write_text("0.1 1e-3 5\n")
    with pytest.raises(ValueError, match="line.txt"):
        limits.read_foresee(txt)


def test_unknown_and_ambiguous_names():
    with pytest.raises(ValueError, match="unknown limit curve"):
        limits.load("uvmsm", "not_a_curve")
    curve = limits.load("uvmsm", "E137_Andreas2012mt")  # bare stem, unambiguous
    assert curve.name == "darkcast/E137_Andreas2012mt" and curve.two_sided


def test_e1_19_nutev_and_lep_contact_lines():
    assert float(limits.nutev_bound(20.0)) == pytest.approx(20.0 / 400.0)
    assert np.isnan(limits.nutev_bound(5.0))
    nutev = limits.load("uvmsm", "nutev")
    np.testing.assert_allclose(nutev.mass / nutev.lower, 400.0)
    assert nutev.mass.min() == pytest.approx(10.0)
    lep = limits.load("uvmsm", "lep-contact")
    np.testing.assert_allclose(lep.mass / lep.lower, 6000.0)
    assert lep.mass.min() == pytest.approx(209.0) and "hep-ph/0408098" in lep.citation
    custom = limits.load("uvmsm", "lep-contact", mass=[1.0, 2.0])
    np.testing.assert_allclose(custom.lower, [1 / 6000, 2 / 6000])


def test_simple_recast_to_b_minus_l_matches_darkcast():
    """F.1 rescaling g = e ε sqrt(BR_A′/BR_Z′) vs DarkCast's own B−L recast of the same search."""
    assert set(limits.recastable_darkcast_limits()) >= {"BaBar_Lees2014xha", "KLOE_Anastasi2015qla", "A1_Merkel2014avp"}
    for stem in ("BaBar_Lees2014xha", "KLOE_Anastasi2018azp_mumu", "A1_Merkel2014avp"):
        ours = limits.load("uvmsm", f"recast/{stem}")
        theirs = limits.load("uvmsm", f"darkcast/{stem}")
        lower, _ = theirs.interpolate(ours.mass)
        ratio = ours.lower / lower
        assert np.nanmedian(ratio) == pytest.approx(1.0, abs=0.01)
        assert np.nanmin(ratio) > 0.85 and np.nanmax(ratio) < 1.15
    # below the dimuon threshold: A′ → ee only, Z′ → ee + νν̄ (BR 0.4): factor e·sqrt(2.5)
    babar = limits.load("uvmsm", "recast/BaBar_Lees2014xha")
    dp = limits.load("dark-photon", "darkcast/BaBar_Lees2014xha")
    i = np.flatnonzero(np.isfinite(dp.lower) & (dp.mass < 0.2))[0]
    assert babar.lower[i] / dp.lower[i] == pytest.approx(0.30282 * np.sqrt(2.5), rel=1e-3)
    with pytest.raises(ValueError, match="not a visible lepton final state"):
        limits.recast_to_b_minus_l(limits.load("dark-photon", "darkcast/BaBar_Lees2017lec"))


def test_excluded_region_queries():
    babar = limits.load("dark-photon", "BaBar_Lees2014xha")
    assert babar.excluded(0.5, 1e-2) and not babar.excluded(0.5, 1e-5)
    assert not babar.excluded(1.02, 1e-2)  # φ window: no BaBar limit (sentinel gap)
    e137 = limits.load("dark-photon", "E137_Andreas2012mt")
    assert e137.excluded(0.01, 1e-6) and not e137.excluded(0.01, 1e-3) and not e137.excluded(5.0, 1e-6)
    grid = babar.excluded(np.array([[0.5], [2.0]]), np.array([1e-5, 1e-2]))
    assert grid.shape == (2, 2)


def test_data_licences_are_shipped_separately():
    root = limits.data_root()
    assert "GNU GENERAL PUBLIC LICENSE" in (root / "darkcast" / "COPYING").read_text()
    assert "GPL-2.0-or-later" in (root / "darkcast" / "README.md").read_text()
    assert "MIT License" in (root / "foresee" / "LICENSE").read_text()
    assert "Apache License" in (root / "darkmatterlive" / "LICENSE").read_text()
    assert not list(Path(root).rglob("*.py"))  # data only, no code
