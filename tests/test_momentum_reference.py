"""uvmsm_jax.momentum_distribution vs the independent reference and Monte Carlo (docs/equations.md Part W).

``tests/momentum_reference.py`` re-implements Part W from the equations with NumPy/SciPy (rapidity
form of (W5), (W6) integrated in mediator momentum, (W10) by an exponential-interpolation Duhamel
step). Its Monte Carlo functions are a second route that uses none of (W5), (W7), (W11): they sample
decay (or production) epochs and mediator momenta, propagate and decay each mediator isotropically.

Default suite:

* the reference against the analytic targets W1.1–W1.8 of W.4 and the thermal-WDM λ_FS values of (W19);
* (c) Monte Carlo of W1.1 (MB mediator, m → 0, constant g*, T_R → ∞): ⟨y⟩ = 5/2;
* (a) Monte Carlo of decays of an equilibrium mediator against the package (and the reference (W7));
* (b) Monte Carlo of an out-of-equilibrium Z′ (production by inverse decays, survival, decay) against
  the package at the W2 point M_Z′ = 0.1 GeV.

``-m slow``: the three W2 points of W.4 (M_N₁ = 10 keV on the resonant freeze-in Ωh² = 0.12 line of
the package's own contour): reference vs package on ⟨q⟩, ⟨q²⟩^{1/2}, Y, m_WDM (W21, W22), λ_FS and the
Lyman-α verdict, plus the Monte Carlo of (b) at each point; ``pytest -s`` prints the table.
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest

pytest.importorskip("scipy")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import momentum_reference as ref
from scipy import special

import uvmsm_jax as uj

MC_SIGMAS = 4.0
M_N1_W2 = 1e-5
W2_MASSES = (1e-3, 0.1, 1.0)
W2_EXPECTED_MEAN_Q = (21.7, 12.9, 5.0)  # W.4 / Part W summary (three significant digits)
G_W2_01 = 2.6653001876346112e-11  # the package's Ωh² = 0.12 root at (M_N₁, M_Z′) = (1e-5, 0.1) GeV (secant)
TOLERANCES = {
    "mean_q": 2e-3,
    "rms_q": 2e-3,
    "yield": 1e-3,
    "m_wdm_kev": 2e-3,
    "m_wdm_sigma_kev": 2e-3,
    "lambda_fs_mpc": 1e-2,
}


def _field(result, name: str, index: int | None = None) -> float:
    value = np.asarray(getattr(result, name))
    return float(value if index is None else value[index])


# =============================================================================================
# The reference against the closed forms of W.4 (no package solver)
# =============================================================================================


@pytest.fixture(scope="module")
def analytic_limit():
    """(W4)×(W7) at constant g* = 100, m = 0, T_R = 1e4 M: MB and BE f(y)."""
    thermo = ref.Thermo.constant(100.0)
    kwargs = {"t_reheat": 1e4, "t_end": 1.0 / 300.0}
    return {
        stat: ref.equilibrium_distribution(ref.Q_DM, 0.0, 1.0, 1e-20, thermo, statistics=stat, **kwargs)
        for stat in ("mb", "be")
    }


def test_reference_w1_equilibrium_mediator(analytic_limit):
    """W1.1–W1.5: (W9) moments for MB and BE, Y_BE/Y_MB = ζ(5), and the MB shape and normalisation of (W8)."""
    q = ref.Q_DM
    z5, z6, z7 = special.zeta(5.0), special.zeta(6.0), special.zeta(7.0)
    mean_mb, rms_mb = ref.moments(q, analytic_limit["mb"])
    mean_be, rms_be = ref.moments(q, analytic_limit["be"])
    assert mean_mb == pytest.approx(2.5, rel=1e-6)
    assert rms_mb == pytest.approx(math.sqrt(35.0) / 2.0, rel=1e-6)
    assert mean_be == pytest.approx(2.5 * z6 / z5, rel=1e-6)
    assert rms_be == pytest.approx(math.sqrt(35.0 / 4.0 * z7 / z5), rel=1e-6)
    ratio = ref.yield_from_f(q, analytic_limit["be"], 2.0, 100.0) / ref.yield_from_f(
        q, analytic_limit["mb"], 2.0, 100.0
    )
    assert ratio == pytest.approx(z5, rel=1e-6)
    # (W8): f = 2√π N_χ g_V Γ/(g_χ H_M) y^{-1/2} e^{-y}, H_M = H(T = M)
    h_m = float(ref.Thermo.constant(100.0).hubble(np.array(1.0)))
    expected = 2.0 * math.sqrt(math.pi) * 2.0 * 3.0 * 1e-20 / (2.0 * h_m) * ref.analytic_mb_shape(q)
    sel = q < 30.0
    np.testing.assert_allclose(analytic_limit["mb"][sel], expected[sel], rtol=1e-6)


def test_reference_w1_6_massive_daughter():
    """W1.6: ⟨y⟩ = 2.30885 for 2m/M = 0.5 (MB mediator, constant g*, T_R → ∞)."""
    f = ref.equilibrium_distribution(
        ref.Q_DM, 0.25, 1.0, 1e-20, ref.Thermo.constant(100.0), t_reheat=1e4, t_end=1.0 / 300.0
    )
    assert ref.moments(ref.Q_DM, f)[0] == pytest.approx(2.30885, rel=1e-5)


def test_reference_wdm_mapping():
    """(W20)–(W22) coefficients from the constants; W1.7 (15.23 / 15.79 keV) and W1.8 (4.4274)."""
    ratio, c_mean, c_rms = ref.wdm_coefficients()
    assert ratio == pytest.approx(0.16011, rel=5e-5)
    assert c_mean == pytest.approx(1.98187, rel=5e-5)
    assert c_rms == pytest.approx(1.73627, rel=5e-5)
    dilution = (3.931 / 106.75) ** (1.0 / 3.0)
    assert c_mean * 2.5 * dilution * 5.3 ** (4.0 / 3.0) == pytest.approx(15.23, rel=1e-3)
    assert c_rms * math.sqrt(35.0) / 2.0 * dilution * 5.3 ** (4.0 / 3.0) == pytest.approx(15.79, rel=1e-3)
    dw = c_mean * 3.15137 * (4.0 / 11.0) ** (1.0 / 3.0) * (0.1225 / 0.12) ** (-1.0 / 3.0)
    assert dw == pytest.approx(4.4274, rel=1e-4)
    # round trip on the thermal-relic shape itself
    f = ref.thermal_wdm_distribution(ref.Q_DM, 5.3)
    mean_q, rms_q = ref.moments(ref.Q_DM, f)
    assert ref.m_wdm_kev(5.3e-6, mean_q) == pytest.approx(5.3, rel=1e-6)
    assert ref.m_wdm_sigma_kev(5.3e-6, rms_q) == pytest.approx(5.3, rel=1e-6)
    assert ref.verdict(5.3, 5.3)[1] == "marginal"
    assert ref.verdict(4.5, 5.3)[1] == "excluded"
    assert ref.verdict(6.3, 5.3)[1] == "allowed"


@pytest.mark.parametrize(
    ("m_wdm", "expected", "half_digit"),
    [(1.0, 0.533, 5e-4), (3.1, 0.136, 5e-4), (3.5, 0.118, 5e-4), (5.3, 0.0709, 5e-5), (5.7, 0.0649, 5e-5)],
)
def test_reference_free_streaming_thermal_wdm(m_wdm, expected, half_digit):
    """(W19) for the thermal relic: the values printed in W.2, to their last digit."""
    f = ref.thermal_wdm_distribution(ref.Q_DM, m_wdm)
    assert ref.lambda_fs_mpc(ref.Q_DM, f, m_wdm * 1e-6) == pytest.approx(expected, abs=half_digit)


# =============================================================================================
# Monte Carlo (c): W1.1 without any package code
# =============================================================================================


def test_mc_analytic_limit():
    """(c) MB mediator, m = 0, constant g*, T_R → ∞: MC ⟨y⟩ = 5/2 within 4 standard errors (W1.1)."""
    mc = ref.mc_analytic_limit(n=400_000, seed=11)
    print(
        f"\nW1.1 MC: <y> = {mc.mean_q:.5f} ± {mc.mean_q_error:.5f} (exact 2.5), rms {mc.rms_q:.5f} ({math.sqrt(35) / 2:.5f})"
    )
    assert abs(mc.mean_q - 2.5) < MC_SIGMAS * mc.mean_q_error
    assert mc.mean_q_error < 0.004


# =============================================================================================
# Monte Carlo (a): decays of an equilibrium mediator, against the package
# =============================================================================================

# Model 1 has no thermal-Z′ point with a frozen-in N₁ that the package models: Γ(Z′ → N₁N₁)/Γ_Z′ ≥ 0.1
# away from threshold, so a thermal Z′ (Γ_Z′/H(M) ≳ 10) brings N₁ to Y/Y_eq ≳ 1, and near threshold
# (M_N₁ → M_Z′/2) Y_eq of the heavy N₁ drops below Y; the package flags both (K57, status 6). The
# dark photon (thermal A′ by ε, χ frozen in by a tiny e′) is the clean case of (W7).
THERMAL_POINT = {"m_chi": 1e-4, "m_ap": 0.1, "epsilon": 1e-6, "e_dark": 1e-11}
# (G5)/(W3) time with δ: the dark-photon default is δ = 0 (Settings.entropy_derivative=None), which the
# reference and the Monte Carlo, built on Δ ln a = −Δ ln(T r), do not model.
THERMAL_SETTINGS = {"entropy_derivative": True}


# slow: Monte Carlo reference (~75 s); test_mc_analytic_limit and the W1 reference tests above stay in the default run
@pytest.mark.slow
def test_mc_thermal_mediator_vs_package():
    """(a) ⟨q⟩ of the package (equilibrium A′, (W7)) vs Monte Carlo decays within 4σ, and vs the reference (W7)."""
    p = THERMAL_POINT
    model = uj.DarkPhotonDM(p["m_chi"], p["m_ap"], p["epsilon"], p["e_dark"])
    settings = uj.Settings(**THERMAL_SETTINGS)
    relic = uj.relic(model, settings)
    assert int(relic.status) == 0
    assert bool(relic.mediator_thermalised) and not bool(relic.dm_thermalised)
    res = uj.momentum_distribution(model, settings, relic_result=relic)
    assert int(res.status) == 0
    assert res.distribution_name == "freeze-in-thermal-mediator"

    thermo = ref.Thermo.table()
    t_reheat = 100.0 * max(p["m_chi"], p["m_ap"])
    mc = ref.mc_thermal_decays(
        p["m_chi"], p["m_ap"], thermo, t_reheat=t_reheat, t_end=p["m_ap"] / 100.0, n=200_000, seed=5
    )
    width = float(uj.widths(model).as_dict()["partial"]["dm"])
    f = ref.equilibrium_distribution(
        ref.Q_DM, p["m_chi"], p["m_ap"], width, thermo, t_reheat=t_reheat, t_end=p["m_ap"] / 100.0, n_chi=1.0
    )
    mean_ref, rms_ref = ref.moments(ref.Q_DM, f)
    mean_pkg = _field(res, "mean_q")
    print(
        f"\n(a) thermal A′: package <q> = {mean_pkg:.5f}, reference (W7) {mean_ref:.5f}, MC {mc.mean_q:.5f} ± {mc.mean_q_error:.5f}"
    )
    assert abs(mean_pkg - mc.mean_q) < MC_SIGMAS * mc.mean_q_error
    assert mean_pkg == pytest.approx(mean_ref, rel=2e-3)
    assert _field(res, "rms_q") == pytest.approx(rms_ref, rel=2e-3)
    # Y of (W18) for χ + χ̄ (two species of g = 2)
    assert _field(res, "yield_from_f") == pytest.approx(2.0 * ref.yield_from_f(ref.Q_DM, f, 2.0, thermo.g_s0), rel=1e-3)


# =============================================================================================
# Monte Carlo (b): out-of-equilibrium Z′ at the W2 point M_Z′ = 0.1 GeV, against the package
# =============================================================================================


# slow: Monte Carlo reference (~40 s); test_momentum.py::test_zeroth_moment_reproduces_the_relic_yield_model1 still runs the out-of-equilibrium route
@pytest.mark.slow
def test_mc_out_of_equilibrium_vs_package():
    """(b) ⟨q⟩ of the package ((W10)/(W11) Z′) vs Monte Carlo production, survival and decay within 4σ."""
    m_zp = 0.1
    model = uj.UVMSM(M_N1_W2, m_zp, G_W2_01)
    res = uj.momentum_distribution(model)
    assert int(res.status) == 0
    assert res.distribution_name == "freeze-in-nonthermal-mediator"
    total = float(uj.widths(model).as_dict()["total"])
    mc = ref.mc_out_of_equilibrium(M_N1_W2, m_zp, total, ref.Thermo.table(), t_reheat=100.0 * m_zp, n=200_000, seed=7)
    mean_pkg = _field(res, "mean_q")
    print(
        f"\n(b) W2 M_Z′ = 0.1 GeV: package <q> = {mean_pkg:.5f}, MC {mc.mean_q:.5f} ± {mc.mean_q_error:.5f} ({mc.seconds:.1f} s)"
    )
    assert abs(mean_pkg - mc.mean_q) < MC_SIGMAS * mc.mean_q_error


# =============================================================================================
# W2 (slow): the resonant freeze-in line at M_N₁ = 10 keV
# =============================================================================================


def _w2_couplings() -> list[float]:
    """g_B−L of the resonant freeze-in branch (smallest root) of the package's Ωh² = 0.12 contour."""
    contour = uj.contour("uvmsm", np.array(W2_MASSES), fixed={"m_n1": M_N1_W2}, method="secant")
    couplings = []
    for m_zp in W2_MASSES:
        roots = [p for p in contour.points if p["m_zp"] == m_zp and p["status"] == 0]
        assert roots, f"no Ωh² = 0.12 root at M_Z′ = {m_zp}"
        couplings.append(min(p["g_bl"] for p in roots))
    return couplings


@pytest.mark.slow
def test_w2_points_vs_package():
    """W2 of W.4: reference (W10)+(W6) vs the package on the resonant freeze-in line; prints the table."""
    couplings = _w2_couplings()
    n = len(W2_MASSES)
    model = uj.UVMSM(np.full(n, M_N1_W2), np.array(W2_MASSES), np.array(couplings))
    relic = uj.relic(model)
    assert list(relic.mechanism_name) == ["freeze-in-resonant"] * n
    assert not np.any(np.asarray(relic.mediator_thermalised))

    t0 = time.perf_counter()
    res = jax.block_until_ready(uj.momentum_distribution(model, relic_result=relic))
    first_call = time.perf_counter() - t0
    t0 = time.perf_counter()
    res = jax.block_until_ready(uj.momentum_distribution(model, relic_result=relic))
    warm_per_point = (time.perf_counter() - t0) / n
    assert np.all(np.asarray(res.status) == 0)

    thermo = ref.Thermo.table()
    rows = []
    for i, (m_zp, g) in enumerate(zip(W2_MASSES, couplings, strict=True)):
        r = ref.uvmsm_point(M_N1_W2, m_zp, g)
        mc = ref.mc_out_of_equilibrium(
            M_N1_W2, m_zp, r["width_total"], thermo, t_reheat=100.0 * m_zp, n=200_000, seed=20 + i
        )
        pkg = {
            "mean_q": _field(res, "mean_q", i),
            "rms_q": _field(res, "rms_q", i),
            "yield": _field(res, "yield_from_f", i),
            "m_wdm_kev": _field(res, "m_wdm_kev", i),
            "m_wdm_sigma_kev": _field(res, "m_wdm_sigma_kev", i),
            "lambda_fs_mpc": _field(res, "lambda_fs_mpc", i),
            "lyman_alpha": str(np.asarray(res.lyman_alpha)[i]) if np.ndim(res.lyman_alpha) else str(res.lyman_alpha),
            "omega_h2_from_f": _field(res, "omega_h2_from_f", i),
            "omega_h2_relic": _field(res, "omega_h2", i),
            "decay_fraction": _field(res, "decay_fraction", i),
        }
        rows.append((m_zp, g, r, pkg, mc))

    line = "-" * 118
    print(
        f"\nW2: M_N1 = 10 keV, resonant freeze-in Ωh² = 0.12 line (physical mode, saikawa2018), Lyman-α bound 5.3 keV\n{line}"
    )
    print(
        f"{'M_Z′ [GeV]':>10} {'g_B−L':>11} {'Γ/H(M)':>9} {'T_d [GeV]':>9} {'':>4} {'<q>':>9} {'rms q':>9} {'Y':>11} {'Ωh²(f)':>8} "
        f"{'m_WDM':>7} {'m_WDM σ':>7} {'λ_FS':>7} {'verdict':>8} {'time':>6}"
    )
    for m_zp, g, r, pkg, mc in rows:
        head = f"{m_zp:10.3g} {g:11.4e} {r['gamma_over_h_at_m']:9.2e} {r['t_decay']:9.2e}"
        print(
            f"{head} {'ref':>4} {r['mean_q']:9.5f} {r['rms_q']:9.5f} {r['yield']:11.5e} {r['omega_h2']:8.5f} {r['m_wdm_kev']:7.4f} "
            f"{r['m_wdm_sigma_kev']:7.4f} {r['lambda_fs_mpc']:7.4f} {r['lyman_alpha']:>8} {r['seconds']:5.1f}s"
        )
        print(
            f"{'':>42} {'pkg':>4} {pkg['mean_q']:9.5f} {pkg['rms_q']:9.5f} {pkg['yield']:11.5e} {pkg['omega_h2_from_f']:8.5f} "
            f"{pkg['m_wdm_kev']:7.4f} {pkg['m_wdm_sigma_kev']:7.4f} {pkg['lambda_fs_mpc']:7.4f} {pkg['lyman_alpha']:>8} {warm_per_point:5.2f}s"
        )
        print(
            f"{'':>42} {'MC':>4} {mc.mean_q:9.5f} ± {mc.mean_q_error:.5f} (rms {mc.rms_q:.4f}; 2e5 samples, {mc.seconds:.1f} s); "
            f"Ωh² relic {pkg['omega_h2_relic']:.5f}, decay share {pkg['decay_fraction']:.6f}"
        )
    print(
        f"{line}\npackage: first call {first_call:.1f} s for {n} points (compilation included), warm {warm_per_point:.3f} s/point"
    )

    for (m_zp, _, r, pkg, mc), expected in zip(rows, W2_EXPECTED_MEAN_Q, strict=True):
        for key, tol in TOLERANCES.items():
            assert pkg[key] == pytest.approx(r[key], rel=tol), (m_zp, key)
        assert pkg["lyman_alpha"] == r["lyman_alpha"]
        assert r["mean_q"] == pytest.approx(expected, rel=0.01)
        assert abs(r["mean_q"] - mc.mean_q) < MC_SIGMAS * mc.mean_q_error
        assert 4e-4 < r["gamma_over_h_at_m"] < 5e-3
        assert r["yield"] == pytest.approx(r["yield_identity"], rel=1e-3)
