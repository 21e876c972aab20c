"""The DM momentum distribution and the WDM mapping (docs/equations.md Part W): the validation targets of
W.4 (W1.1–W1.8, W3.1–W3.3), the zeroth-moment consistency with the relic solver (W18), statuses,
batching and derivatives of ⟨q⟩ and the Lyman-α margin."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import special

import uvmsm_jax as uj
from uvmsm_jax import _batching
from uvmsm_jax import momentum as mom
from uvmsm_jax.rates import log_sigma_v_identical_pair
from uvmsm_jax.thermo import number_density_eq

ZETA5 = float(special.zeta(5.0))
M_PLANCK = 2.435e18


def analytic_decay_settings(statistics: str) -> uj.Settings:
    """Constant g*, T_R = 1e4 M, the dark photon's P2 system (decays only): the setting of (W8)–(W9)."""
    return uj.Settings(mode="paper", gstar=10.75, t_reheat=1e4, statistics=statistics)


@pytest.fixture(scope="module")
def thermal_decays():
    """W1.1–W1.6: V (M = 1 GeV) in equilibrium decaying to a pair with 2m/M = 2e-9 and 0.5."""
    model = uj.DarkPhotonDM(np.array([1e-9, 0.25]), 1.0, 1e-12, 1e-12)
    return {
        stats: mom.freeze_in_distribution(model, analytic_decay_settings(stats), thermal_mediator=True)
        for stats in ("maxwell-boltzmann", "quantum")
    }


# slow: the W1 validation compiles two settings (~30 s); W1 stays checked by default on the reference (test_momentum_reference.py)
@pytest.mark.slow
def test_w1_equilibrium_decay_moments(thermal_decays):
    mb, be = thermal_decays["maxwell-boltzmann"], thermal_decays["quantum"]
    # const g*: q = y (W2); W1.1–W1.4 to 1e-4 against the exact values of (W9)
    assert float(mb.mean_q[0]) == pytest.approx(2.5, rel=1e-4)
    assert float(mb.rms_q[0]) == pytest.approx(math.sqrt(35.0) / 2.0, rel=1e-4)
    assert float(be.mean_q[0]) == pytest.approx(2.5 * float(special.zeta(6.0)) / ZETA5, rel=1e-4)
    assert float(be.rms_q[0]) == pytest.approx(math.sqrt(35.0 / 4.0 * float(special.zeta(7.0)) / ZETA5), rel=1e-4)
    # W1.5: Y_BE/Y_MB = ζ(5)
    assert float(be.yield_from_f[0] / mb.yield_from_f[0]) == pytest.approx(ZETA5, rel=1e-6)
    # W1.6: massive daughter, 2m/M = 0.5
    assert float(mb.mean_q[1]) == pytest.approx(2.30885, rel=1e-3)


# slow: shares the thermal_decays fixture above; the decay route stays covered by default via test_zeroth_moment_reproduces_the_relic_yield_model1
@pytest.mark.slow
def test_w1_equilibrium_decay_shape_and_yield(thermal_decays):
    """f ∝ y^{-1/2} e^{-y} (W8) and its zeroth moment = (A46) with N_χ = 1 per species, ×2 for χ + χ̄."""
    mb = thermal_decays["maxwell-boltzmann"]
    q, f = np.asarray(mb.q[0]), np.asarray(mb.f[0])
    window = (q > 0.05) & (q < 20.0)
    ratio = f[window] / (q[window] ** -0.5 * np.exp(-q[window]))
    assert np.ptp(ratio) / np.mean(ratio) < 1e-4
    widths = uj.widths(uj.DarkPhotonDM(1e-9, 1.0, 1e-12, 1e-12), uj.Settings(mode="paper"))
    width_dm, g_star, big_m = widths.as_dict()["partial"]["dm"], 10.75, 1.0
    expected = 2 * 135.0 * math.sqrt(90.0) / (8.0 * math.pi**4) * 3.0 * width_dm * M_PLANCK / (g_star**1.5 * big_m**2)
    assert float(mb.yield_from_f[0]) == pytest.approx(expected, rel=1e-4)


def wdm_mass_bound(mean_or_rms: float, thermal: float, bound_kev: float = 5.3) -> float:
    """m_DM [keV] at which the equivalent WDM mass equals ``bound_kev`` (m_WDM ∝ m_DM^{3/4})."""
    return (bound_kev / float(mom.thermal_wdm_mass(1e-6, mean_or_rms, thermal))) ** (4.0 / 3.0)


def test_w17_w18_wdm_mapping():
    # W1.7: decays of a bath particle at g*s = 106.75 (MB, massless daughters), g*s0 = 3.931 (K53)
    dilution = (3.931 / 106.75) ** (1.0 / 3.0)
    assert wdm_mass_bound(2.5 * dilution, mom.MEAN_Q_THERMAL) == pytest.approx(15.23, rel=1e-3)
    assert wdm_mass_bound(math.sqrt(35.0) / 2.0 * dilution, mom.RMS_Q_THERMAL) == pytest.approx(15.79, rel=1e-3)
    # W1.8: Dodelson–Widrow (FD at T_ν) coefficient of (W21) at ω_DM = 0.1225 (Viel et al.: 4.43)
    coefficient = wdm_mass_bound(mom.MEAN_Q_THERMAL * (4.0 / 11.0) ** (1.0 / 3.0), mom.MEAN_Q_THERMAL, 1.0)
    assert coefficient * (0.1225 / 0.12) ** (-1.0 / 3.0) == pytest.approx(4.4274, rel=1e-2)
    # (W20): T_W0/T0 = 0.16011 at 1 keV, i.e. a FD gas with that temperature maps back to 1 keV
    assert float(mom.thermal_wdm_mass(1e-6, mom.MEAN_Q_THERMAL * 0.16011)) == pytest.approx(1.0, rel=1e-4)
    assert float(mom.thermal_wdm_mass(1e-6, mom.RMS_Q_THERMAL * 0.16011, mom.RMS_Q_THERMAL)) == pytest.approx(
        1.0, rel=1e-4
    )


@pytest.mark.parametrize(("m_wdm", "expected"), [(1.0, 0.533), (3.5, 0.118), (5.3, 0.0709)])
def test_free_streaming_length_of_thermal_wdm(m_wdm, expected):
    """(W19) for a thermal relic, against the values quoted with the definition (1 %)."""
    q = jnp.geomspace(1e-3, 60.0, 600)
    f = 1.0 / (jnp.exp(q / (0.16011 * m_wdm ** (-1.0 / 3.0))) + 1.0)
    assert float(mom.free_streaming_length(q, f, m_wdm * 1e-6)) == pytest.approx(expected, rel=1e-2)


def test_lyman_alpha_bounds_and_verdict():
    assert mom.resolve_lyman_alpha_bound("irsic2017") == ("irsic2017", 5.3)
    assert mom.resolve_lyman_alpha_bound(" Villasenor2023 ") == ("villasenor2023", 3.1)
    assert mom.resolve_lyman_alpha_bound(4.2) == ("custom", 4.2)
    assert mom.resolve_lyman_alpha_bound("4.2") == ("custom", 4.2)
    for bad in ("nonsense", -1.0, 0.0, float("nan"), "inf"):
        with pytest.raises(ValueError, match="lya_bound"):
            mom.resolve_lyman_alpha_bound(bad)
    verdicts = mom.lyman_alpha_verdict(np.array([-0.2, -0.1, 0.0, 0.1, 0.2, np.nan]))
    assert list(verdicts) == ["excluded", "marginal", "marginal", "marginal", "allowed", None]
    assert mom.lyman_alpha_verdict(0.3).item() == "allowed"


# --- 2→2 (W12)–(W14) --------------------------------------------------------------------------------------


def constant_reduced_cross_section(m: float, coupling: float = 1.0):
    """The (A50) setting: λ^{1/2}(s, m², m²) σ(s) = g⁴/(24π)."""

    def sigma(s):
        return coupling**4 / (24.0 * jnp.pi) / jnp.sqrt(s * (s - 4.0 * m**2))

    return sigma


@pytest.mark.parametrize("x", [0.1, 1.0, 10.0])
def test_w33_two_to_two_zeroth_moment_is_the_reaction_density(x):
    """(W14): g₃ ∫d³p/(2π)³ C₃ = γ = n_eq² ⟨σv⟩ (G11) with ⟨σv⟩ of the rate layer (G12), to 1e-6."""
    m, g = 1.0, 2.0
    temperature = m / x
    sigma = constant_reduced_cross_section(m)
    nodes, weights = np.polynomial.legendre.leggauss(400)
    ln_p = 0.5 * (nodes + 1.0) * (math.log(200.0 * temperature) - math.log(1e-6 * temperature)) + math.log(
        1e-6 * temperature
    )
    half_width = 0.5 * (math.log(200.0 * temperature) - math.log(1e-6 * temperature))
    p = jnp.exp(jnp.asarray(ln_p))
    collision = mom.two_to_two_collision_term(p, m, temperature, sigma, 4.0 * m**2, 400)
    density_rate = g / (2.0 * math.pi**2) * float(jnp.sum(half_width * jnp.asarray(weights) * p**3 * collision))
    n_eq = float(number_density_eq(m, g, temperature))
    gamma = n_eq**2 * math.exp(float(log_sigma_v_identical_pair(sigma, m, 2.0 * m, temperature)))
    assert density_rate == pytest.approx(gamma, rel=1e-6)


# slow: 300 collision-term evaluations (~17 s); the 2→2 collision term stays checked by default in test_w33_two_to_two_zeroth_moment_is_the_reaction_density
@pytest.mark.slow
def test_w31_w32_off_resonance_two_to_two():
    """W3.1–W3.2: (W4) with (W12) in the (A50) setting (massive N, constant g*), x from 1e-3 to 40."""
    m, coupling, g_star = 1.0, 1e-6, 100.0
    sigma = constant_reduced_cross_section(m, coupling)
    q = jnp.geomspace(1e-3, 300.0, 400)
    ln_x = np.linspace(math.log(1e-3), math.log(40.0), 301)
    x_mid = np.exp(0.5 * (ln_x[1:] + ln_x[:-1]))
    f = jnp.zeros_like(q)
    for x in x_mid:
        temperature = m / x
        hubble = math.sqrt(math.pi**2 * g_star / 90.0) * temperature**2 / M_PLANCK
        dt = (ln_x[1] - ln_x[0]) / hubble
        f = f + dt * mom.two_to_two_collision_term(q * temperature, m, temperature, sigma, 4.0 * m**2, 96)
    zeroth, mean_q, rms_q = mom.moments(q, f)
    assert float(mean_q) == pytest.approx(2.30595, rel=2e-3)
    assert float(rms_q) == pytest.approx(2.73891, rel=2e-3)
    y_w18 = float(mom.yield_from_distribution(zeroth, g_star))
    y_a51 = 135.0 * math.sqrt(10.0) * coupling**4 * M_PLANCK / (1024.0 * math.pi**6 * g_star**1.5 * m)
    assert y_w18 / y_a51 == pytest.approx(0.99948, abs=1e-3)


def test_kinetic_window_is_cancellation_free():
    """(W5): K⁻ from the stable form equals E_V⁻ − M where that difference is accurate, and stays ≥ 0,
    finite and small for a mediator at rest (p = p*), where the difference loses every digit."""
    big_m, m = 1.0, 0.1
    p = jnp.array([0.01, 0.2, 0.49, 1.0, 5.0])
    e = jnp.sqrt(p**2 + m**2)
    e_star, p_star = 0.5 * big_m, 0.5 * big_m * math.sqrt(1.0 - 4.0 * m**2 / big_m**2)
    k_minus, k_plus = mom.mediator_kinetic_window(p, m, big_m)
    direct_minus = big_m * (e * e_star - p * p_star) / m**2 - big_m
    direct_plus = big_m * (e * e_star + p * p_star) / m**2 - big_m
    np.testing.assert_allclose(k_plus, direct_plus, rtol=1e-12)
    np.testing.assert_allclose(k_minus, big_m * (e_star**2 + p**2) / (e * e_star + p * p_star) - big_m, rtol=1e-9)
    np.testing.assert_allclose(np.asarray(k_minus)[[0, 3, 4]], np.asarray(direct_minus)[[0, 3, 4]], rtol=1e-9)
    at_rest, _ = mom.mediator_kinetic_window(jnp.asarray(p_star), m, big_m)
    assert 0.0 <= float(at_rest) < 1e-15


# --- the full pipeline: consistency with the relic solver, statuses, batches, derivatives ---------------


FREEZE_IN_UVMSM = uj.UVMSM(np.array([1e-5, 0.05]), np.array([0.1, 0.06]), np.array([3e-11, 5e-6]))
"""Resonant freeze-in with a late-decaying Z′ (out of equilibrium), and off-resonance 2→2 freeze-in."""


@pytest.fixture(scope="module")
def uvmsm_freeze_in():
    relic = uj.relic(FREEZE_IN_UVMSM)
    return relic, uj.momentum_distribution(FREEZE_IN_UVMSM, relic_result=relic)


def test_zeroth_moment_reproduces_the_relic_yield_model1(uvmsm_freeze_in):
    """(W18) against the relic solver's Y (≤ 1e-3), for the two freeze-in cases of Model 1."""
    relic, dist = uvmsm_freeze_in
    assert list(relic.mechanism_name) == ["freeze-in-resonant", "freeze-in"]
    np.testing.assert_array_equal(dist.status, [0, 0])
    assert list(dist.distribution_name) == ["freeze-in-nonthermal-mediator", "freeze-in-thermal-mediator"]
    np.testing.assert_allclose(dist.yield_from_f, relic.yield_dm, rtol=1e-3)
    np.testing.assert_allclose(dist.omega_h2_from_f, relic.omega_h2, rtol=1e-3)
    # the resonant point is pure decays, the off-resonance one pure 2→2
    np.testing.assert_allclose(dist.decay_fraction, [1.0, 0.0], atol=1e-6)
    # the late-decaying Z′ makes the N₁ far harder than an equilibrium-decay shape (K50)
    assert float(dist.mean_q[0]) > 3.0 * 2.5
    assert float(dist.mean_q[1]) == pytest.approx(1.6, rel=0.05)
    with pytest.raises(ValueError, match="scalar"):
        dist.as_dict()


def test_as_dict_and_user_momenta(uvmsm_freeze_in):
    relic, _ = uvmsm_freeze_in
    point = uj.UVMSM(1e-5, 0.1, 3e-11)
    scalar_relic = jax.tree_util.tree_map(lambda x: x[0], relic)
    q = np.array([1.0, 10.0, 30.0])
    dist = uj.momentum_distribution(point, q=q, relic_result=scalar_relic, lya_bound=3.1)
    data = dist.as_dict()
    for key in ("mean_q", "rms_q", "omega_h2_from_f", "m_wdm_kev", "m_wdm_sigma_kev", "lambda_fs_mpc", "status"):
        assert key in data
    assert data["lya_bound"] == "custom" and data["lya_bound_kev"] == 3.1
    assert data["lyman_alpha"] == "excluded" and data["status"] == 0
    assert data["q"] == pytest.approx(list(q))
    # f at the requested q equals the f on the grid there (same quadrature, log interpolation)
    q_grid, f_grid = np.asarray(dist.q_grid), np.asarray(dist.f_grid)
    positive = f_grid > 0
    grid_f = np.interp(np.log(q), np.log(q_grid[positive]), np.log(f_grid[positive]))
    np.testing.assert_allclose(np.asarray(dist.f), np.exp(grid_f), rtol=5e-3)
    assert data["m_wdm_kev"] == pytest.approx(float(mom.thermal_wdm_mass(1e-5, data["mean_q"])), rel=1e-12)
    assert data["lya_margin"] == pytest.approx(math.log(data["m_wdm_kev"] / 3.1), rel=1e-12)


def test_bad_input_names_the_parameter():
    with pytest.raises(ValueError, match="m_zp"):
        uj.momentum_distribution(uj.UVMSM(1e-5, -0.1, 3e-11))
    with pytest.raises(ValueError, match="lya_bound"):
        uj.momentum_distribution(uj.UVMSM(1e-5, 0.1, 3e-11), lya_bound="warmest")
    with pytest.raises(ValueError, match="q must"):
        uj.momentum_distribution(uj.UVMSM(1e-5, 0.1, 3e-11), q=np.array([-1.0, 2.0]))
    with pytest.raises(ValueError, match="t_kd"):
        uj.momentum_distribution(uj.UVMSM(1e-5, 0.1, 3e-11), t_kd=-1.0)


@pytest.mark.slow
def test_zeroth_moment_reproduces_the_relic_yield_model2_and_statuses():
    """Model 2 (K60: Y = 2 × (W18)): sequential freeze-in, 2→2 freeze-in, thermal-A′ decays (≤ 1e-3);
    freeze-out shapes; the flagged points (status 5 from the relic, 8 for late decays of a very
    non-relativistic A′ whose line the q grid cannot resolve in P2's setting)."""
    model = uj.DarkPhotonDM(
        np.array([0.1, 0.01, 0.1, 0.1, 0.1]),
        np.array([0.3, 0.015, 0.3, 0.3, 0.3]),
        np.array([1e-10, 1e-4, 1e-6, 5e-4, 1e-10]),
        np.array([1e-12, 1e-7, 1e-10, 0.3, 1e-3]),
    )
    relic = uj.relic(model)
    dist = uj.momentum_distribution(model, relic_result=relic)
    assert list(relic.mechanism_name[:4]) == [
        "sequential-freeze-in",
        "freeze-in-2to2",
        "thermal-mediator-decay",
        "freeze-out",
    ]
    np.testing.assert_array_equal(dist.status, [0, 0, 0, 0, uj.Status.NEEDS_DARK_TEMPERATURE])
    np.testing.assert_allclose(dist.yield_from_f[:3], relic.yield_dm[:3], rtol=1e-3)
    assert list(dist.distribution_name[:4]) == [
        "freeze-in-nonthermal-mediator",
        "freeze-in-thermal-mediator",
        "freeze-in-thermal-mediator",
        "cold-relic",
    ]
    # a T_kd far above the mass: the (W16) form underflows on the whole q grid; flagged, no numbers
    # (it was NaN with status 0); the freeze-in points do not read T_kd
    hot_kd = uj.momentum_distribution(model, relic_result=relic, t_kd=1e9)
    np.testing.assert_array_equal(hot_kd.status[:4], [0, 0, 0, uj.Status.DISTRIBUTION_YIELD_MISMATCH])
    np.testing.assert_array_equal(hot_kd.mean_q[:3], dist.mean_q[:3])
    assert np.isnan(float(hot_kd.mean_q[3]))
    # freeze-out: (W16) at T_kd = T_dec, normalised to the relic's yield; at least this warm (K56)
    assert bool(dist.warmth_is_lower_bound[3])
    assert float(dist.omega_h2_from_f[3]) == pytest.approx(float(relic.omega_h2[3]), rel=1e-12)
    assert float(relic.x_dec[3]) > mom.HOT_RELIC_X_DEC
    assert float(dist.kinetic_decoupling_temperature[3]) == pytest.approx(float(relic.t_dec[3]), rel=1e-12)
    assert np.isnan(float(dist.mean_q[4])) and dist.lyman_alpha[4] is None
    # P1's paper bookkeeping (pole in ⟨σv⟩_a, no Z′ decays) has no f (K50)
    paper = uj.momentum_distribution(uj.UVMSM(1e-5, 0.1, 3e-11), uj.Settings(mode="paper"))
    assert int(paper.status) == uj.Status.NO_DISTRIBUTION_MECHANISM
    # P2's setting, ε = e′ = 1e-12 at m_A′ = 1 GeV: the A′ decays at T_d ≈ 1.5e-4 GeV nearly at rest; the
    # DM line is narrower than the q grid, the zeroth moment misses the yield, and the point is flagged
    late = uj.momentum_distribution(uj.DarkPhotonDM(0.1, 1.0, 1e-12, 1e-12), uj.Settings(mode="paper"))
    assert int(late.status) == uj.Status.DISTRIBUTION_YIELD_MISMATCH
    assert np.isnan(float(late.mean_q))


@pytest.mark.slow
def test_batch_equals_points_and_derivatives_match_finite_differences():
    """vmap: a batch gives each point's scalar result; d⟨q⟩/d ln θ and d margin/d ln θ (forward mode
    through the quadrature and the (W11) scan) agree with central differences (h = 1e-3)."""
    point = uj.UVMSM(1e-5, 0.1, 3e-11)
    relic = uj.relic(point)
    single = uj.momentum_distribution(point, relic_result=relic)
    batch = uj.momentum_distribution(FREEZE_IN_UVMSM, relic_result=uj.relic(FREEZE_IN_UVMSM))
    assert float(batch.mean_q[0]) == pytest.approx(float(single.mean_q), rel=1e-12)

    def outputs(log_theta):
        model = uj.UVMSM(*jnp.exp(log_theta))
        d = uj.momentum_distribution(model, relic_result=relic)
        return jnp.stack([jnp.log(d.mean_q), d.lya_margin])

    log_theta = jnp.log(jnp.array([1e-5, 0.1, 3e-11]))
    jacobian = np.asarray(jax.jacfwd(outputs)(log_theta))
    h = 1e-3
    for i in range(3):
        step = jnp.zeros(3).at[i].set(h)
        central = (np.asarray(outputs(log_theta + step)) - np.asarray(outputs(log_theta - step))) / (2 * h)
        np.testing.assert_allclose(jacobian[:, i], central, atol=2e-4, rtol=2e-3)
    assert np.all(np.isfinite(jacobian))


# slow: a 33-point momentum batch with its relic batch compiled (~25 s); a batch within one block (two points) stays checked by default in test_zeroth_moment_reproduces_the_relic_yield_model1
@pytest.mark.slow
def test_a_batch_of_more_than_one_block(monkeypatch):
    """More points than a block (32 on CPU): blocks in a loop give each point the result of a small
    batch. Until 2026-12-05 such a batch raised ZeroDivisionError (``jax.lax.map``'s batch reshape of
    the empty f at given q), so the Lyman-α figures failed at their default resolutions. The blocks
    are calls of their own (``MOMENTUM_CHUNK_BLOCKS``), spread over the cores."""
    n = 33
    model = uj.UVMSM(np.full(n, 1e-5), np.geomspace(0.05, 0.2, n), np.geomspace(2e-11, 4e-11, n))
    relic = uj.relic(model)
    grid = mom.MomentumGrid(n_q=100, n_q_mediator=150, n_t=300, n_t_2to2=32, n_s=16, n_a=100)
    chunk_blocks = []
    map_chunks = _batching.map_chunks

    def spy(*args, **kwargs):
        chunk_blocks.append(kwargs["chunk_blocks"])
        return map_chunks(*args, **kwargs)

    monkeypatch.setattr(_batching, "map_chunks", spy)
    batch = uj.momentum_distribution(model, relic_result=relic, grid=grid)
    assert chunk_blocks == [_batching.MOMENTUM_CHUNK_BLOCKS] == [1]
    assert batch.mean_q.shape == (n,) and batch.f.shape[0] == n
    pick = np.array([0, 31, 32])  # the first block, its last point, the rest
    few = uj.momentum_distribution(
        uj.UVMSM(*(np.asarray(x)[pick] for x in (model.m_n1, model.m_zp, model.g_bl))),
        relic_result=jax.tree_util.tree_map(lambda x: np.asarray(x)[pick], relic),
        grid=grid,
    )
    np.testing.assert_array_equal(batch.status[pick], few.status)
    for key in ("mean_q", "rms_q", "m_wdm_kev", "yield_from_f"):
        np.testing.assert_allclose(getattr(batch, key)[pick], getattr(few, key), rtol=1e-10, err_msg=key)


@pytest.mark.slow  # three reverse-mode and three forward-mode compilations: ≈ 5 min on 2 cores
@pytest.mark.parametrize(
    ("model", "reuse_relic"),
    [
        (uj.UVMSM(1e-5, 0.1, 3e-11), True),  # freeze-in: the unused freeze-out shapes underflow
        (uj.DarkPhotonDM(0.1, 0.3, 5e-4, 0.3), True),  # freeze-out, (W16)
        (uj.UVMSM(1e-5, 0.1, 3e-11), False),  # the relic solve differentiated too
    ],
    ids=["freeze-in", "freeze-out", "freeze-in-with-relic"],
)
def test_reverse_mode_equals_forward_mode(model, reuse_relic):
    """jax.grad through the distribution (it returned NaN where the unused branch of f — a Maxwellian
    underflowing to 0, a Fermi–Dirac exp overflowing — had a non-finite derivative) equals jax.jacfwd."""
    relic = uj.relic(model) if reuse_relic else None
    fields = jnp.log(jnp.stack([jnp.asarray(leaf, float) for leaf in jax.tree.leaves(model)]))

    def margin(log_fields):
        rebuilt = jax.tree.unflatten(jax.tree.structure(model), list(jnp.exp(log_fields)))
        return uj.momentum_distribution(rebuilt, relic_result=relic).lya_margin

    assert int(uj.momentum_distribution(model, relic_result=relic).status) == 0
    forward = np.asarray(jax.jacfwd(margin)(fields))
    reverse = np.asarray(jax.grad(margin)(fields))
    assert np.all(np.isfinite(forward)) and np.any(forward != 0)
    np.testing.assert_allclose(reverse, forward, rtol=1e-9, atol=1e-12 * np.abs(forward).max())
