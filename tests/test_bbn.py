"""BBN / ΔN_eff constraints (docs/equations.md A.7; validation E1.9–E1.11, E1.16)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import uvmsm_jax  # noqa: F401
from uvmsm_jax.constraints import bbn


def test_e1_9_to_e1_11_delta_neff():
    assert float(bbn.delta_neff(10.75, 10.75)) == pytest.approx(12 / 7 + 1, abs=1e-12)  # E1.9: 2.7143
    assert float(bbn.delta_neff(106.75, 106.75)) == pytest.approx(0.12717, abs=1e-4)  # E1.10
    assert float(bbn.delta_neff(10.75, 10.75, True, False)) == pytest.approx(12 / 7, abs=1e-12)  # E1.11
    assert float(bbn.delta_neff(10.75, 10.75, False, True)) == pytest.approx(1.0, abs=1e-12)


def test_brackets_are_capped_at_one():
    # g*(T_dec) below 10.75 (e.g. 10.5 just above 1 MeV in the tables) must not raise ΔN_eff
    assert float(bbn.delta_neff(10.5, 3.9)) == pytest.approx(12 / 7 + 1)
    assert float(bbn.delta_neff_species(50.0, 1.0)) == pytest.approx((10.75 / 50.0) ** (4 / 3))


def test_works_on_grids_jit_and_grad():
    g = jnp.geomspace(10.75, 106.75, 7)
    grid = bbn.delta_neff(g[:, None], g[None, :])
    assert grid.shape == (7, 7) and float(grid[0, 0]) == pytest.approx(2.7142857)
    assert bool(jnp.all(jnp.diff(grid, axis=0) < 0))
    jitted = jax.jit(bbn.delta_neff)(g, g)
    np.testing.assert_allclose(jitted, jnp.diag(grid))
    d = jax.grad(lambda x: bbn.delta_neff(x, 106.75, True, False))(50.0)
    assert float(d) == pytest.approx(-(4 / 3) * (12 / 7) * (10.75 / 50.0) ** (4 / 3) / 50.0, rel=1e-10)


def test_species_counting_conditions():
    count = bbn.species_in_delta_neff
    assert bool(count(True, 2e-3, 5e-3))  # thermal, decoupled before T_ν, inside P1's window
    assert not bool(count(False, 2e-3, 5e-3))  # never thermalised
    assert not bool(count(True, 5e-4, 5e-3))  # still coupled at T_ν
    assert not bool(count(True, 2e-3, 20e-3))  # heavier than P1's 10 MeV window
    assert not bool(count(True, 2e-3, 5e-3, mass_window="relativistic"))  # not relativistic at 1 MeV
    assert bool(count(True, 2e-3, 5e-4, mass_window="relativistic"))
    with pytest.raises(ValueError, match="mass_window"):
        count(True, 1.0, 1.0, mass_window="other")


def test_delta_neff_from_temperatures_uses_gstar_table():
    t_dec = jnp.array([2e-3, 1.0, 1e3])
    dn = bbn.delta_neff_from_temperatures(t_dec, t_dec, True, True, 5e-3, 1e-5)
    assert float(dn[0]) == pytest.approx(12 / 7 + 1, rel=1e-3)  # g*(2 MeV) ≈ 10.7 → capped
    g_1gev = 69.744  # E.5 (Saikawa–Shirai), within the table/fit spread
    assert float(dn[1]) == pytest.approx((12 / 7 + 1) * (10.75 / g_1gev) ** (4 / 3), rel=0.02)
    assert float(dn[2]) < float(dn[1])
    const = bbn.delta_neff_from_temperatures(1.0, 1.0, True, True, 5e-3, 1e-5, gstar=106.75)
    assert float(const) == pytest.approx(0.12717, abs=1e-4)
    # non-thermal or late-decoupling species (NaN temperatures) contribute nothing, without NaN
    dn = bbn.delta_neff_from_temperatures(jnp.nan, 5e-4, False, True, 5e-3, 1e-5)
    assert float(dn) == 0.0


def test_bbn_excluded_regions():
    out = bbn.bbn_excluded(
        m_zp=jnp.array([5e-3, 5e-3, 5e-4, 5e-4, 5e-2]),
        m_n1=jnp.array([1e-4, 1e-4, 1e-4, 1e-4, 1e-4]),
        thermal_zp=jnp.array([True, False, False, False, True]),
        t_dec_zp=jnp.array([0.5, jnp.nan, jnp.nan, jnp.nan, 0.5]),
        thermal_n1=jnp.array([False, False, True, True, False]),
        t_dec_n1=jnp.array([jnp.nan, jnp.nan, 1e-4, 1e-4, jnp.nan]),
        t_therm_n1=jnp.array([jnp.nan, jnp.nan, 3e-3, 5e-4, jnp.nan]),
    )
    # (i) thermal Z′ in the 1–10 MeV window decoupled at 0.5 GeV: ΔN_eff = 12/7 (10.75/g*)^{4/3} < 1 …
    assert 0.0 < float(out["delta_neff"][0]) < 1.0 and not bool(out["excluded"][0])
    assert not bool(out["excluded"][1])
    # (ii) 2M_N₁ < M_Z′ < 1 MeV: N₁ thermalising at 3 MeV (before T_ν) is excluded, at 0.5 MeV not
    assert bool(out["by_thermalisation"][2]) and bool(out["excluded"][2])
    assert not bool(out["excluded"][3])
    assert float(out["delta_neff"][4]) == 0.0  # 50 MeV Z′ is outside P1's window
    late = bbn.bbn_excluded(
        5e-3, 1e-4, thermal_zp=True, t_dec_zp=3e-3, thermal_n1=False, t_dec_n1=jnp.nan, t_therm_n1=jnp.nan
    )
    assert bool(late["by_delta_neff"]) and float(late["delta_neff"]) == pytest.approx(12 / 7)


def _n1_thermalisation_temperature(g, m_zp, m_n1):
    """Independent estimate for E1.16: highest T with r_a/H > 1 from the resonant pole (A28).

    r_a = γ_pole/n_N^eq, γ_pole = (3M²T/π²) K₁(M/T) Γ_NN Γ_SM/Γ, n_N^eq = (2/2π²) M_N² T K₂(M_N/T) (MB),
    H of (G3) with g* from the packaged table; scanned on a log-T grid (0.05–50 MeV).
    """
    from scipy.special import kn

    from uvmsm_jax import UVMSM, widths
    from uvmsm_jax.thermo import degrees_of_freedom

    w = widths(UVMSM(m_n1, m_zp, g))
    gamma_nn, gamma_sm = float(w.dm), float(w.sm)
    t = np.geomspace(5e-5, 5e-2, 400)
    gamma = 3 * m_zp**2 * t / np.pi**2 * kn(1, m_zp / t) * gamma_nn * gamma_sm / (gamma_nn + gamma_sm)
    n_eq = m_n1**2 * t * kn(2, m_n1 / t) / np.pi**2
    hubble = np.sqrt(np.pi**2 * np.asarray(degrees_of_freedom("saikawa2018").g_rho(t)) / 90) * t**2 / 2.435e18
    above = gamma / n_eq / hubble > 1
    return t[above].max() if above.any() else np.nan


def test_thermalisation_criterion_applies_only_with_a_light_mediator():
    """A.7 (ii)/(iv): the thermalisation-time test is P1's for M_Z′ ≲ T_ν^dec only. A light N₁ that
    thermalised at 3 MeV is excluded with a 0.5 MeV Z′ but judged by ΔN_eff alone with a 5 MeV Z′ (it
    decouples at 2 MeV, before T_ν^dec, so it counts in ΔN_eff (A35), which then decides)."""
    out = bbn.bbn_excluded(
        m_zp=jnp.array([5e-4, 5e-3]),
        m_n1=jnp.array([1e-4, 1e-4]),
        thermal_zp=jnp.array([False, False]),
        t_dec_zp=jnp.array([jnp.nan, jnp.nan]),
        thermal_n1=jnp.array([True, True]),
        t_dec_n1=jnp.array([2e-3, 2e-3]),
        t_therm_n1=jnp.array([3e-3, 3e-3]),
        t_therm_zp=jnp.array([jnp.nan, jnp.nan]),
    )
    assert bool(out["by_thermalisation"][0]) and bool(out["excluded"][0])
    assert not bool(out["by_thermalisation"][1])
    assert float(out["delta_neff"][1]) > 0.0 and bool(out["excluded"][1]) == bool(out["by_delta_neff"][1])


def test_e1_16_thermalisation_before_bbn_excludes_g_above_1e_10_to_3e_9():
    """E1.16: for 2M_N₁ ≲ M_Z′ ≲ 1 MeV P1 excludes g ≳ 3e-9–1e-10 (factor 3)."""
    m_n1 = 1e-5
    thresholds = {}
    for m_zp in (1e-4, 1e-3):
        gs = np.geomspace(1e-11, 1e-7, 41)
        t_therm = np.array([_n1_thermalisation_temperature(g, m_zp, m_n1) for g in gs])
        excluded = np.asarray(bbn.thermalises_before_bbn(np.isfinite(t_therm), t_therm))
        assert not excluded[0] and excluded[-1]
        assert np.all(np.diff(excluded.astype(int)) >= 0)  # one edge: excluded above a threshold
        thresholds[m_zp] = gs[np.argmax(excluded)]
    assert 1e-10 / 3 < thresholds[1e-3] < 3e-9 * 3
    assert 1e-10 / 3 < thresholds[1e-4] < 3e-9 * 3
    assert thresholds[1e-4] > thresholds[1e-3]  # lighter Z′ needs a larger coupling
