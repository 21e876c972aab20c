"""Paper figures (issue 8): figure functions on coarse grids, where the Ωh² = 0.12 curves lie
(docs/equations.md A.10, B.7, E1.17, E1.18, E1.20, E2.4, E2.5) and the ``uvmsm-jax figure`` command;
the Model-2 regime figures dp-regimes and dp-thermal-target (docs/equations.md H.3, H.4); the Lyman-α
figures fig1a-wdm and wdm-line (issue 15, docs/equations.md Part W).

All figures share one compiled relic chunk per model and mode (Settings(n_grid=64), the default chunk: paper
mode for P1 and P2, physical mode for the dp figures) and one regime classifier, so the module costs
a few compilations plus a few hundred relic points.
"""

from __future__ import annotations

import subprocess
import sys

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

import uvmsm_jax as uj
from uvmsm_jax import cli
from uvmsm_jax import figures as F

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def fig1a():
    return F.fig1a(resolution=10)


@pytest.fixture(scope="module")
def fig1a_wdm(fig1a):
    # the same resolution as the fig1a fixture: its regime and paper-mode relic grids are reused
    return F.fig1a_wdm(resolution=10)


@pytest.fixture(scope="module")
def wdm_line():
    return F.wdm_line(resolution=4, m_n1_values=(1e-5, 1e-4))


@pytest.fixture(scope="module")
def fig2b():
    return F.fig2b(resolution=8)


@pytest.fixture(scope="module")
def p2_fig3():
    return F.p2_fig3(resolution=6)


@pytest.fixture(scope="module")
def dp_regimes():
    return F.dp_regimes(resolution=6)


@pytest.fixture(scope="module")
def dp_thermal_target():
    return F.dp_thermal_target(resolution=6)


def _labels(fig):
    ax = fig.axes[0]
    return ax.get_xlabel(), ax.get_ylabel(), ax.get_xscale(), ax.get_yscale()


# slow: the fig1a grids take ~2 min; the figure route stays covered by default via p2_fig1 below
@pytest.mark.slow
def test_fig1a_axes_and_legend(fig1a):
    xlabel, ylabel, xscale, yscale = _labels(fig1a)
    assert "M_{Z'}" in xlabel and "GeV" in xlabel
    assert "g_{B-L}" in ylabel
    assert (xscale, yscale) == ("log", "log")
    texts = [t.get_text() for t in fig1a.axes[0].get_legend().get_texts()]
    assert any("0.12" in t for t in texts)
    assert any("never thermal" in t for t in texts)
    assert fig1a.figure_data["curves"]["paper"], "no Ωh² = 0.12 curve was found"


# slow: the fig1a grids take ~2 min; the figure route stays covered by default via p2_fig1 below
@pytest.mark.slow
def test_fig1a_resonance_feature_at_twice_the_dm_mass(fig1a):
    """E1.20 / A.10: at M_Z′ > 2M_N₁ the resonance thermalises N₁ (and gives Ωh² = 0.12) at much
    smaller g than at M_Z′ < 2M_N₁."""
    d = fig1a.figure_data
    critical = 2 * d["m_n1"]
    # thermalisation: smallest thermal g just below / just above the critical mass
    rx, ry, thermal = d["regime_m_zp"], d["regime_g_bl"], d["dm_thermalised"]
    below = np.argmin(np.abs(rx - 0.99 * critical))
    above = np.argmin(np.abs(rx - 1.01 * critical))
    g_therm_below = ry[thermal[below]].min()
    g_therm_above = ry[thermal[above]].min()
    assert g_therm_above < 1e-3 * g_therm_below
    # Ωh² = 0.12, freeze-in branch: off-resonance g ~ 1e-6 (A51) vs resonant g ~ 1e-12 (A45)
    m_zp, g_fi = d["m_zp"], d["freeze_in_g"]["paper"]
    i_below = np.argmin(np.abs(m_zp - 0.97 * critical))
    i_above = np.argmin(np.abs(m_zp - 1.03 * critical))
    assert 3e-7 < g_fi[i_below] < 1e-5, g_fi[i_below]
    assert g_fi[i_above] < 1e-9, g_fi[i_above]
    assert g_fi[i_below] / g_fi[i_above] > 1e3


# slow: the fig1a grids take ~2 min; the figure route stays covered by default via p2_fig1 below
@pytest.mark.slow
def test_fig1a_regimes(fig1a):
    """A.10: non-thermal at tiny g, a relativistic-decoupling region, and non-thermal again in
    the lower-right corner (heavy Z′)."""
    d = fig1a.figure_data
    mech = d["mechanism"]
    assert np.all(mech[:, 0] >= 2)  # smallest g: freeze-in everywhere
    assert (mech == 0).sum() > 0.1 * mech.size  # relativistic decoupling covers a large area
    assert (mech == 1).any()
    heavy = d["regime_m_zp"] > 100.0
    assert np.all(mech[heavy][:, d["regime_g_bl"] < 1e-8] >= 2)


def assert_verdicts_consistent(d, bound_kev=5.3):
    """Per point: margin = ln(m_WDM^eq/bound) and the verdict of W.3 (±0.15), "none" exactly where the
    status is not 0 (NaN numbers there)."""
    ok = np.asarray(d["status"]) == 0
    assert ok.any()
    margin = np.asarray(d["lya_margin"])
    np.testing.assert_allclose(margin[ok], np.log(d["m_wdm_kev"][ok] / bound_kev), rtol=1e-12)
    expected = uj.momentum.lyman_alpha_verdict(margin)
    expected = np.where(ok, expected.astype(str), "none")
    assert np.array_equal(d["verdict"], expected)
    assert np.all(np.isnan(np.asarray(d["m_wdm_kev"])[~ok]))
    assert np.all(np.asarray(d["m_wdm_sigma_kev"])[ok] > 0)


# slow: fig1a grids plus a momentum distribution per point (the wdm tests ≈ 30 s together); momentum_distribution has default tests in test_momentum.py
@pytest.mark.slow
def test_fig1a_wdm_verdict_along_the_line(fig1a_wdm, tmp_path):
    """W.4 / K50: along P1's Ωh² = 0.12 freeze-in line at M_N₁ = 10 keV (physical mode) the N₁ is much
    warmer than the Lyman-α bound allows: m_WDM^eq (W21) < 2.5 keV everywhere, all points excluded for
    5.3 keV; on the resonant line the Z′ decays out of equilibrium and ⟨q⟩ ≫ 2.5 (K50)."""
    d = fig1a_wdm.figure_data
    assert d["name"] == "fig1a_wdm" and d["curves"]["paper"]
    w = d["wdm"]
    assert w["mode"] == "physical" and w["lya_bound"] == "irsic2017" and w["lya_bound_kev"] == 5.3
    n = len(w["m_zp"])
    assert n >= 8 and all(len(np.asarray(w[k])) == n for k in ("g_bl", "m_wdm_kev", "verdict", "status"))
    # Newton steps with the local slope, on the relic solutions that f is checked against
    np.testing.assert_allclose(w["omega_h2"], 0.12, rtol=1e-5)
    ok = w["status"] == 0
    assert ok.sum() >= n - 1
    assert_verdicts_consistent(w)
    assert set(w["verdict"][ok]) == {"excluded"} and np.all(w["m_wdm_kev"][ok] < 2.5)
    assert sum(w["verdict_counts"].values()) == n
    resonant = ok & (w["m_zp"] > 1e-4) & (w["m_zp"] < 1e-2)
    assert resonant.any() and np.all(w["mean_q"][resonant] > 10)
    assert set(w["distribution"][resonant]) == {"freeze-in-nonthermal-mediator"}
    off = ok & (w["m_zp"] < 2e-5)
    assert off.any() and np.all((w["g_bl"][off] > 1e-7) & (w["g_bl"][off] < 3e-6))
    texts = [t.get_text() for t in fig1a_wdm.axes[0].get_legend().get_texts()]
    assert any("Lyman" in t and "physical" in t for t in texts)
    assert any(t.startswith("excluded") for t in texts) and any(t.startswith("allowed") for t in texts)
    assert fig1a_wdm.axes[0].get_xscale() == "log"
    out = tmp_path / "fig1a-wdm.png"
    fig1a_wdm.savefig(out, dpi=60)
    assert out.read_bytes()[:8] == PNG_MAGIC
    # fig1a(wdm=True) is the same figure (every grid memoised)
    same = F.fig1a(resolution=10, wdm=True).figure_data["wdm"]
    np.testing.assert_array_equal(same["m_wdm_kev"], w["m_wdm_kev"])


# slow: fig1a grids plus a momentum distribution per point (the wdm tests ≈ 30 s together); momentum_distribution has default tests in test_momentum.py
@pytest.mark.slow
def test_cli_fig1a_wdm_with_data(fig1a_wdm, tmp_path, capsys):
    out, npz = tmp_path / "f.png", tmp_path / "f.npz"
    argv = ["figure", "fig1a-wdm", "--out", str(out), "--resolution", "10", "--data", str(npz), "--json"]
    assert cli.main(argv) == 0
    assert out.read_bytes()[:8] == PNG_MAGIC
    with np.load(npz) as data:
        np.testing.assert_array_equal(data["wdm/verdict"], fig1a_wdm.figure_data["wdm"]["verdict"])
        assert str(data["wdm/lya_bound"]) == "irsic2017"
    assert '"figure": "fig1a-wdm"' in capsys.readouterr().out


# slow: contour roots plus momentum distributions (compiles it shared with fig1a_wdm); test_momentum.py covers momentum_distribution by default
@pytest.mark.slow
def test_wdm_line_bounds_and_masses(wdm_line, tmp_path):
    """Part W: m_WDM^eq along the resonant freeze-in line (the smallest-coupling root of uj.contour) rises
    with M_N₁ (∝ M_N₁^{~3/8} at fixed M_Z′) and with M_Z′ beyond ≈ 1 GeV (the Z′ decays earlier, closer
    to equilibrium); a 10 keV N₁ stays below every Lyman-α bound of W.3."""
    d = wdm_line.figure_data
    assert d["mode"] == "physical" and d["bounds"] == uj.LYMAN_ALPHA_BOUNDS
    lines = d["lines"]
    assert set(lines) == {1e-5, 1e-4}
    for m_n1, line in lines.items():
        assert len(line["m_zp"]) == 4 and not line["no_solution"]
        assert line["m_zp"][0] == pytest.approx(2.1 * m_n1) and line["m_zp"][-1] == pytest.approx(1e3)
        assert np.all(line["mechanism"] == uj.Mechanism.FREEZE_IN_RESONANT)
        assert np.all(line["g_bl"] < 2e-8)
        ok = line["status"] == 0
        np.testing.assert_allclose(line["omega_h2"][ok], 0.12, rtol=3e-2)
        assert_verdicts_consistent(line)
    light, heavy = lines[1e-5], lines[1e-4]
    assert np.nanmax(light["m_wdm_kev"]) < 3.1
    assert set(light["verdict"][light["status"] == 0]) == {"excluded"}
    assert heavy["m_wdm_kev"][-1] > 2 * light["m_wdm_kev"][-1]
    assert light["m_wdm_kev"][-1] > light["m_wdm_kev"][1]
    ax = wdm_line.axes[0]
    assert (ax.get_xscale(), ax.get_yscale()) == ("log", "log")
    assert "WDM" in ax.get_ylabel() and "M_{Z'}" in ax.get_xlabel()
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any(t.startswith("5.3 keV (irsic2017") for t in texts)
    assert any(t.startswith("3.1 keV (villasenor2023") for t in texts)
    assert any("100 keV" in t for t in texts)
    out = tmp_path / "wdm-line.png"
    F.make_figure("wdm-line", out, resolution=4, m_n1_values=(1e-5, 1e-4))  # memoised
    data = out.read_bytes()
    assert data[:8] == PNG_MAGIC and len(data) > 10_000


def test_wdm_figures_bad_options():
    with pytest.raises(ValueError, match="lya_bound"):
        F.fig1a_wdm(lya_bound="nope")
    with pytest.raises(ValueError, match="lya_bound"):
        F.wdm_line(lya_bound=-1.0)
    with pytest.raises(ValueError, match="wdm"):
        F.fig1a(wdm="yes")
    with pytest.raises(ValueError, match="m_n1_values"):
        F.wdm_line(m_n1_values=())
    with pytest.raises(ValueError, match="m_n1_values"):
        F.wdm_line(m_n1_values=(1e-5, -1.0))
    with pytest.raises(ValueError, match="bounds"):
        F.wdm_line(bounds=("irsic2017", "nope"))
    with pytest.raises(ValueError, match="n_coarse"):
        F.wdm_line(n_coarse=2)
    with pytest.raises(ValueError, match="m_zp_range"):
        F.fig1a_wdm(m_zp_range=(1.0, 1e-3))


# slow: a paper-mode relic grid (~40 s); the figure route stays covered by default via p2_fig1
@pytest.mark.slow
def test_fig2b_freeze_in_line_near_a51(fig2b):
    """A.10 / E1.17: off resonance the freeze-in line sits near g ~ 1e-6 (A51: 4.5e-6 (g*/100)^{3/8})
    and hardly depends on the mass."""
    g_fi = fig2b.figure_data["freeze_in_g"]["paper"]
    ok = np.isfinite(g_fi)
    assert ok.sum() >= 6
    assert np.all((g_fi[ok] > 8e-7) & (g_fi[ok] < 8e-6)), g_fi
    assert g_fi[ok].max() / g_fi[ok].min() < 4
    xlabel, ylabel, *_ = _labels(fig2b)
    assert "GeV" in xlabel and "g_{B-L}" in ylabel
    # the thermalisation boundary (dashed) lies above the freeze-in line
    boundary = np.concatenate(fig2b.figure_data["thermal_boundary"])
    assert np.median(boundary[:, 1]) > np.median(g_fi[ok])


# slow: two paper-mode relic grids plus the SHiP reach (~40 s with the compile); the figure route stays covered by default via p2_fig1
@pytest.mark.slow
def test_fig3b_ship_reaches_the_off_resonance_band():
    """E1.18: SHiP (Pbrem, ≥ 3 events) reaches the Fig. 3b band for 1 MeV ≲ M_Z′ ≲ 200 MeV."""
    fig = F.fig3b(resolution=8)
    lo, hi = fig.figure_data["ship_overlap"]
    assert 1e-3 <= lo < 5e-3
    assert 0.08 < hi < 0.6


# slow: ε_th and ε_DM grids (~50 s); the P2 relic grid route stays covered by default in test_p2_fig1_contours_scale_with_coupling_ratio
@pytest.mark.slow
def test_p2_fig3_band_and_threshold(p2_fig3):
    """E2.4, E2.5: ε_th ~ 1e-9 … 3e-8 over 0.01–10 GeV; ε_DM ~ (1–7)e-11 for m_χ/m_A′ = 0.1."""
    d = p2_fig3.figure_data
    assert np.all((d["eps_th"] > 8e-10) & (d["eps_th"] < 4e-8))
    eps_dm = d["eps_dm"][0.1]
    assert np.all((eps_dm > 5e-12) & (eps_dm < 1.5e-10)), eps_dm
    assert np.all(eps_dm < d["eps_th"])
    xlabel, ylabel, *_ = _labels(p2_fig3)
    assert "m_{A'}" in xlabel and "GeV" in xlabel and "epsilon" in ylabel
    texts = [t.get_text() for t in p2_fig3.axes[0].get_legend().get_texts()]
    assert any("SHiP" in t for t in texts)


def test_p2_fig1_contours_scale_with_coupling_ratio():
    """B.7: Ωh² = 0.12 at e′ ≈ e′_relic (B20), so the contour for e′/ε = k sits at ε ≈ e′_relic/k."""
    fig = F.p2_fig1(resolution=6, coupling_ratios=(0.1, 0.001), mass_ratios=(0.1,))
    curves = fig.figure_data["curves"]
    eps_01 = np.median(np.concatenate(curves[(0.1, 0.1)])[:, 1])
    eps_0001 = np.median(np.concatenate(curves[(0.1, 0.001)])[:, 1])
    assert 2e-12 < eps_01 < 5e-11
    assert 60 < eps_0001 / eps_01 < 160


def assert_grid_consistent(data):
    """Every point is either status 0 with a finite Ωh² > 0 and a label the registry declares for the
    dark photon, or status ≠ 0 with NaN Ωh²."""
    declared = {uj.MECHANISMS[m] for m in uj.model_spec("dark-photon").mechanisms}
    status, mechanism, omega = (np.asarray(data[k]) for k in ("status", "mechanism", "omega_h2"))
    ok = status == 0
    assert ok.any()
    names = uj.codes.mechanism_names(mechanism)
    assert set(names[ok]) <= declared, set(names[ok]) - declared
    assert np.all(np.isfinite(omega[ok]) & (omega[ok] > 0))
    assert np.all(np.isnan(omega[~ok]))


# slow: a physical-mode (e′, ε) grid (~80 s); the dark-photon relic stays solved by default in test_export.py and test_cli.py
@pytest.mark.slow
def test_dp_regimes_labels_and_corners(dp_regimes):
    """H.3 (5), (1), (H18): at fixed m_χ = 0.1 GeV, m_A′ = 0.3 GeV the four corners of the (e′, ε)
    plane are freeze-out (both couplings large), decays of thermal A′ (ε > ε_th, e′ tiny), P2's
    sequential freeze-in (ε < ε_th, e′ tiny) and the dark-temperature corner (ε < ε_th, e′ large)."""
    d = dp_regimes.figure_data
    assert_grid_consistent(d)
    labels, status = d["labels"], d["status"]
    assert labels.shape == (6, 6) and d["e_dark"][0] == 1e-12 and d["epsilon"][-1] == 1e-2
    assert np.array_equal(labels == "needs-dark-temperature", status == uj.Status.NEEDS_DARK_TEMPERATURE)
    assert labels[-1, -1] == "freeze-out"
    assert labels[0, -1] == "thermal-mediator-decay"
    assert labels[0, 0] == "sequential-freeze-in"
    assert labels[-1, 0] == "needs-dark-temperature"
    assert sum(d["label_counts"].values()) == labels.size
    assert 1e-9 < d["eps_th"] < 3e-8 and np.isfinite(d["e_dark_th"])
    assert d["curves"], "no Ωh² = 0.12 curve"
    xlabel, ylabel, xscale, yscale = _labels(dp_regimes)
    assert "e'" in xlabel and "epsilon" in ylabel and (xscale, yscale) == ("log", "log")
    texts = [t.get_text() for t in dp_regimes.axes[0].get_legend().get_texts()]
    assert any("dark temperature" in t for t in texts) and any("0.12" in t for t in texts)


# slow: its own relic grid with observables (~50 s with the compile); observables have default tests in test_observables.py
@pytest.mark.slow
def test_dp_thermal_target_line_and_cmb(dp_thermal_target):
    """H.4: the freeze-out line of a Dirac χ with m_A′ = 3m_χ, α′ = 0.5 — y ≈ 10⁻¹¹…10⁻¹⁰ at
    m_χ = 0.1 GeV, rising roughly like m_χ² (s-wave ⟨σv⟩ ∝ y/m_χ²; a dip where 2m_χ crosses the ρ/ω)
    — lies inside the CMB-excluded region (H20)–(H21) over the whole MeV–GeV window."""
    d = dp_thermal_target.figure_data
    assert_grid_consistent(d)
    assert d["e_dark"] == pytest.approx(np.sqrt(2 * np.pi))
    np.testing.assert_allclose(d["epsilon"] ** 2 * 0.5 / 3.0**4, d["y"], rtol=1e-12)
    line = np.concatenate(d["curves"])
    line = line[np.argsort(line[:, 0])]
    assert line[0, 0] < 2e-3 and line[-1, 0] > 0.5 and line[-1, 1] > 1e4 * line[0, 1]
    y_01 = np.exp(np.interp(np.log(0.1), np.log(line[:, 0]), np.log(line[:, 1])))
    assert 1e-11 < y_01 < 1e-10, y_01
    edge = np.concatenate(d["cmb_edge"])
    edge = edge[np.argsort(edge[:, 0])]
    y_edge = np.exp(np.interp(np.log(line[:, 0]), np.log(edge[:, 0]), np.log(edge[:, 1])))
    assert np.all(line[:, 1] > 3 * y_edge)
    excluded = np.asarray(d["cmb_excluded"])
    assert excluded[:, -1].all() and not excluded[-1, 0]
    assert d["p_ann_limit"] == pytest.approx(3.2e-28)


# slow: needs both dp grids; writing a PNG stays covered by default in test_cli_figure_writes_png
@pytest.mark.slow
def test_dp_figures_write_png(tmp_path, dp_regimes, dp_thermal_target):
    for name in ("dp-regimes", "dp-thermal-target"):
        out = tmp_path / f"{name}.png"
        F.make_figure(name, out, resolution=6)
        data = out.read_bytes()
        assert data[:8] == PNG_MAGIC and len(data) > 10_000


def test_dp_figures_bad_options():
    with pytest.raises(ValueError, match="m_chi"):
        F.dp_regimes(m_chi=-0.1)
    with pytest.raises(ValueError, match="m_ap"):
        F.dp_regimes(m_ap=float("nan"))
    with pytest.raises(ValueError, match="eps_range"):
        F.dp_regimes(eps_range=(1e-2, 1e-12))
    with pytest.raises(ValueError, match="resolution"):
        F.dp_regimes(resolution=3)
    with pytest.raises(ValueError, match="mode"):
        F.dp_thermal_target(mode="sloppy")
    with pytest.raises(ValueError, match="alpha_dark"):
        F.dp_thermal_target(alpha_dark=0.0)
    with pytest.raises(ValueError, match="y_range"):
        F.dp_thermal_target(y_range=(1e-8,))


# slow: needs the dp_regimes grid; the figure CLI stays covered by default in test_cli_figure_writes_png and the bad-input tests
@pytest.mark.slow
def test_cli_dp_regimes_with_masses(tmp_path, capsys, dp_regimes):
    out = tmp_path / "dp.png"
    argv = ["figure", "dp-regimes", "--out", str(out), "--resolution", "6", "--m-chi", "0.1", "--m-ap", "0.3"]
    assert cli.main(argv) == 0
    assert out.read_bytes()[:8] == PNG_MAGIC
    assert "wrote" in capsys.readouterr().out


def test_draws_into_given_axes():
    from matplotlib.figure import Figure

    fig = Figure()
    ax = fig.add_subplot()
    out = F.p2_fig1(ax=ax, resolution=6, coupling_ratios=(0.1,), mass_ratios=(0.1,))
    assert out is fig
    assert ax.get_xscale() == "log"


def test_bad_arguments():
    with pytest.raises(ValueError, match="mode"):
        F.fig1a(mode="sloppy")
    with pytest.raises(ValueError, match="resolution"):
        F.fig2a(resolution=2)
    with pytest.raises(ValueError, match="unknown figure"):
        F.make_figure("fig9")


def test_cli_figure_writes_png(tmp_path, capsys):
    out = tmp_path / "p2.png"
    assert cli.main(["figure", "p2-fig1", "--out", str(out), "--resolution", "6"]) == 0
    data = out.read_bytes()
    assert data[:8] == PNG_MAGIC and len(data) > 10_000
    assert "wrote" in capsys.readouterr().out


def test_cli_figure_pdf(tmp_path):
    out = tmp_path / "p2.pdf"
    assert cli.main(["figure", "p2_fig1", "--out", str(out), "--resolution", "6"]) == 0
    assert out.read_bytes()[:5] == b"%PDF-"


@pytest.mark.parametrize(
    "args, message",
    [
        (["figure", "fig9", "--out", "x.png"], "unknown figure"),
        (["figure", "fig1a", "--out", "x.jpg"], ".png or .pdf"),
        (["figure", "fig1a", "--out", "x.png", "--resolution", "1"], "--resolution"),
        (["figure", "fig1a", "--out", "x.png", "--mode", "sloppy"], "--mode"),
        (["figure", "fig1a", "--out", "x.png", "--m-chi", "0.1"], "--m-chi"),
        (["figure", "dp-regimes", "--out", "x.png", "--alpha-dark", "0.5"], "--alpha-dark"),
        (["figure", "dp-regimes", "--out", "x.png", "--m-ap", "-1"], "--m-ap"),
        (["figure", "dp-thermal-target", "--out", "x.png", "--mass-ratio", "0"], "--mass-ratio"),
        (["figure", "fig1a", "--out", "x.png", "--lya-bound", "3.1"], "--lya-bound"),
        (["figure", "wdm-line", "--out", "x.png", "--lya-bound", "nope"], "--lya-bound"),
        (["figure", "fig1a-wdm", "--out", "x.png", "--lya-bound", "-3"], "--lya-bound"),
    ],
)
def test_cli_figure_bad_input_exits_2(args, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    try:
        status = cli.main(args)
    except SystemExit as exc:  # argparse errors
        status = exc.code
    assert status == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0]
    assert not any(tmp_path.iterdir())


def test_python_m_figure_help():
    proc = subprocess.run([sys.executable, "-m", "uvmsm_jax", "figure", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0
    assert "p2-fig3" in proc.stdout and "--resolution" in proc.stdout
    assert "dp-regimes" in proc.stdout and "dp-thermal-target" in proc.stdout and "--m-chi" in proc.stdout
    assert "fig1a-wdm" in proc.stdout and "wdm-line" in proc.stdout and "--lya-bound" in proc.stdout
