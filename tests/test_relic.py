"""The relic solver against docs/equations.md Part E.1 closed forms, mode ratios, batches and gradients.

Each distinct ``Settings`` compiles the solver once (~10–30 s on 2 cores), so tests share settings.
"""

import dataclasses
import math

import diffrax
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import (
    REGIME_GRADIENT_RTOL,
    REGIME_POINTS,
    RESONANT_FREEZE_IN_POINT,
    SEQUENTIAL_HEAVY_MEDIATOR,
    TWO_TO_TWO_ABOVE_THE_MIXING,
    central_difference,
    check_hessian,
)

import uvmsm_jax as uj
from uvmsm_jax import approximations as ap
from uvmsm_jax import boltzmann as bz
from uvmsm_jax import constants as c
from uvmsm_jax import pipeline

PAPER_100 = uj.Settings(mode="paper", gstar=100.0)
PHYSICAL_100 = uj.Settings(mode="physical", gstar=100.0)


# Finite differences of Ωh² (tests/helpers.central_difference): the five-point stencil (truncation
# O(h⁴)) with steps FD_STEP·x_i. The step is not smaller because Ω carries ~1e-8 relative noise
# (adaptive steps of the ODE) even at rtol = 1e-12: with a two-point rule and h = 1e-4 that noise
# alone is 5e-5 in d ln Ω/d ln g (seen at the freeze-out point below).
FD_STEP, FD_ORDER = 1e-3, 4


def omega(model, settings):
    result = uj.relic(model, settings)
    assert int(result.status) == 0, result.as_dict()
    return float(result.omega_h2)


@pytest.mark.parametrize("settings", [PHYSICAL_100, PAPER_100], ids=["physical", "paper"])
def test_resonant_freeze_in_solves_to_the_decay_closed_form(settings):
    """E1.4/E1.6 route: with constant g*, the ODE equals (A46)–(A47) (paper: the pole term is ½)."""
    m_zp, m_n1, g = 1e4, 2.5e3, 4e-12
    model = uj.UVMSM(m_n1, m_zp, g)
    w = uj.widths(model, settings)
    y = ap.resonant_freeze_in_yield_physical(
        float(w.dm), float(w.sm), float(w.total), m_zp, 100.0, uj.model_spec("uvmsm").planck_mass(settings)
    )
    if settings.mode == "paper":
        y /= 2.0
    expected = c.OMEGA_H2_PER_MASS_YIELD * m_n1 * y
    result = uj.relic(model, settings)
    assert result.mechanism_name == "freeze-in-resonant"
    assert float(result.omega_h2) == pytest.approx(expected, rel=1e-5)


def test_resonant_freeze_in_paper_mode_against_p1_formula():
    """E1.3 from the ODE: (A45) with the exact channel sums replacing 8/3 and C_f = 7."""
    m_zp, tau, g = 1e4, 0.5, 4e-12
    model = uj.UVMSM(tau * m_zp / 2, m_zp, g)
    w = uj.widths(model, PAPER_100)
    unit = g**2 * m_zp / (12 * math.pi)
    # P1's 8/3 is Σ Q′²N_c / 3 with Σ = 8; the exact pole term has Σ = Γ_SM/(g²M/12π).
    closed = ap.resonant_freeze_in_omega_paper(g, tau, 100.0, c_f=float(w.total) / unit, channel_sum=float(w.sm) / unit)
    assert omega(model, PAPER_100) == pytest.approx(closed, rel=1e-5)
    # massless channel sum with ν at 1/2 is 6.5 (K4): the ODE is 6.5/8 of P1's literal formula
    assert float(w.sm) / unit == pytest.approx(6.5, rel=2e-3)


def test_physical_over_paper_resonant_ratio():
    """×2 M_P(phys)/M_P(paper) for the ODE; ×1.625 between the closed forms (A47)/(A45) (E.1)."""
    model = uj.UVMSM(2.5e3, 1e4, 4e-12)
    ratio = omega(model, PHYSICAL_100) / omega(model, PAPER_100)
    assert ratio == pytest.approx(2 * c.M_PLANCK_REDUCED / c.M_PLANCK_REDUCED_PAPER, rel=1e-5)
    width_ratio = 13 / 14
    closed_ratio = 1.75 * width_ratio
    assert closed_ratio == pytest.approx(1.625)


# slow: two conversion-free settings compile (~1 min); the physical/paper ratio stays checked on resonance by test_physical_over_paper_resonant_ratio
@pytest.mark.slow
def test_off_resonance_physical_over_paper_is_two():
    """Process (a) alone (conversion off): physical/paper = 2 × M_P ratio (E.1 '×2 off-resonance')."""
    model = uj.UVMSM(2.0, 0.01, 1e-6)
    paper = uj.Settings(mode="paper", gstar=100.0, include_conversion=False)
    physical = uj.Settings(mode="physical", gstar=100.0, include_conversion=False)
    r_paper, r_phys = uj.relic(model, paper), uj.relic(model, physical)
    assert r_paper.mechanism_name == r_phys.mechanism_name == "freeze-in"
    ratio = float(r_phys.omega_h2) / float(r_paper.omega_h2)
    assert ratio == pytest.approx(2 * c.M_PLANCK_REDUCED / c.M_PLANCK_REDUCED_PAPER, rel=1e-4)


def test_conversion_rate_physical_over_paper_is_eight():
    """⟨σv⟩_c: physical/paper = 8 (docs/equations.md K2)."""
    from uvmsm_jax import rates

    portal = uj.UVMSM(1.0, 0.3, 1e-3).portal
    log_paper = rates._log_sigma_v_conversion(portal, uj.Settings(mode="paper"), jnp.asarray(0.4))
    log_phys = rates._log_sigma_v_conversion(portal, uj.Settings(mode="physical"), jnp.asarray(0.4))
    assert float(jnp.exp(log_phys - log_paper)) == pytest.approx(8.0, rel=1e-12)


# slow: one compile per statistics (~30–50 s each); by default E1.2 is checked in closed form only (test_approximations.py)
@pytest.mark.slow
@pytest.mark.parametrize(
    "statistics,expected", [("quantum", 106.23), ("maxwell-boltzmann", 106.23 * 0.46197 / 0.41649)]
)
def test_relativistic_freeze_out_plateau(statistics, expected):
    """E1.2 from the ODE: M_N₁ = 10 keV decoupling relativistically at g* = 10.75."""
    settings = uj.Settings(mode="paper", gstar=10.75, statistics=statistics)
    result = uj.relic(uj.UVMSM(1e-5, 0.1, 3e-4), settings)
    assert result.mechanism_name == "freeze-out-relativistic"
    assert float(result.x_dec) < 0.01
    assert float(result.omega_h2) == pytest.approx(expected, rel=1e-3)


def test_scalar_invalid_input_raises_naming_the_parameter():
    with pytest.raises(ValueError, match="m_zp"):
        uj.relic(uj.UVMSM(0.05, -0.2, 4e-12))
    with pytest.raises(ValueError, match="g_bl"):
        uj.relic(uj.UVMSM(0.05, 0.2, float("nan")))
    with pytest.raises(ValueError, match="e_dark"):
        uj.relic(uj.DarkPhotonDM(0.1, 1.0, 1e-9, 0.0))


def test_strong_annihilation_resolves_the_final_yield():
    """Freeze-out just below and above the resonance threshold at g_B−L = 0.02–0.9 ends at Ωh² ≈
    1e-19–1e-6, far below the yield scale min(Y_eq(T_R), P) that ``atol`` is a fraction of: its final
    yield was not resolved and Ωh² was 2.5e-3–6.5e-3 from the converged value. The DM's tolerance now
    follows Y_eq at its decoupling (A32): within 1e-5 of ``rtol`` 1e-10, ``atol`` 1e-24."""
    model = uj.UVMSM(
        np.array([2.8524375673808692e-06, 7.282656163622689e-06, 16.406496117793324]),
        np.array([5.703012111164063e-06, 1.4578317863360231e-05, 32.8398287214106]),
        np.array([0.8876083604353281, 0.01943951044960448, 0.8741473523472547]),
    )
    default = uj.relic(model)
    tight = uj.relic(model, uj.Settings(rtol=1e-10, atol=1e-24, max_steps=30000))
    assert list(default.mechanism_name) == ["freeze-out"] * 3
    np.testing.assert_allclose(default.omega_h2, tight.omega_h2, rtol=1e-5)


def test_the_reduced_system_resolves_its_own_production():
    """The reduced system (A38) has no decays, but the DM's tolerance scale (``atol`` times the
    production estimate) counted the Z′ → N₁N₁ source of the coupled one: where the Z′ does not
    thermalise the DM's yield, from annihilation alone, lay far below its tolerance, and 196 of 512
    random points were off by a median 11 % and up to 191 % (6–9 steps), one with a negative Ωh² at
    status 0. With the reduced system's own sources all 509 that a tight solve finishes agree with it
    to ≤ 9.0e-6."""
    model = uj.UVMSM(np.array([6.326682984033955e-06, 0.0068807680047571745]),
                     np.array([0.0003304302750079152, 0.22332320851140863]),
                     np.array([9.244563003667122e-12, 3.665653734835959e-14]))  # fmt: skip
    default = uj.relic(model, uj.Settings(system="reduced"))
    tight = uj.relic(model, uj.Settings(system="reduced", rtol=1e-10, atol=1e-30, solver="ode", max_steps=30000))
    np.testing.assert_array_equal(default.status, 0)
    assert np.all(np.asarray(default.omega_h2) > 0)
    np.testing.assert_allclose(default.omega_h2, tight.omega_h2, rtol=1e-4)


def test_points_outside_the_modelled_physics_get_a_status():
    """A DM below 1 eV (Ωh² = m Y s₀/ρ_c needs it non-relativistic today), a coupling with g²/4π > 1
    (the rates are tree level) or a kinetic mixing ε ≥ 1 ((B2) needs |ε| < 1) is
    :attr:`~uvmsm_jax.Status.OUTSIDE_MODEL` with NaN, never status 0 with a number (all were status 0:
    M_N₁ = 1e-30 GeV and g_B−L = 10 from the command line, ε = 2); their neighbours just inside are solved.

    (B2′) and K46: (B2) holds for momenta through the A′ line up to 19.9 GeV. An A′ above it, or a χ
    with 2m_χ above it, is outside too (m_A′ = m_Z was status 0 with a number); a point whose Ωh² rests
    by more than 1 % on χχ̄ ↔ SM above T_c = 4.7 GeV, where its thermal √s passes 19.9 GeV, is
    :attr:`~uvmsm_jax.Status.ULTRAVIOLET_SENSITIVE` at the default T_R (it was status 0). The check is
    on k_a alone: sequential freeze-in from an 8 GeV A′ keeps status 0, although 16 % of its A′ come
    from inverse decays above T_c (``test_dark_photon.py``, slow: the share against a start at T_c)."""
    uvmsm = uj.relic(uj.UVMSM(np.array([1e-10, 2e-9, 0.05, 0.05]), 0.2, np.array([1e-12, 1e-12, 4.0, 3.0])))
    points = np.array(
        [(0.1, 0.3, 1e-9, 4.0), (0.1, 0.3, 1e-9, 1e-12), (0.1, 0.3, 12.0, 1e-12)]
        + [(0.1, 0.3, eps, 1e-3) for eps in (1.0, 2.0, 0.99)]
        + [(0.1, 19.8, 1e-9, 1e-12), (0.1, 20.0, 1e-9, 1e-12), (9.9, 0.3, 1e-3, 0.5), (10.0, 0.3, 1e-3, 0.5)]
        + [TWO_TO_TWO_ABOVE_THE_MIXING, SEQUENTIAL_HEAVY_MEDIATOR]
    )
    dark_photon = uj.relic(uj.DarkPhotonDM(*points.T))
    outside, sensitive = uj.Status.OUTSIDE_MODEL, uj.Status.ULTRAVIOLET_SENSITIVE
    np.testing.assert_array_equal(uvmsm.status, [outside, 0, outside, 0])
    np.testing.assert_array_equal(
        dark_photon.status, [outside, 0, outside, outside, outside, 0, 0, outside, 0, outside, sensitive, 0]
    )
    for result in (uvmsm, dark_photon):
        flagged = np.asarray(result.status) != 0
        assert np.all(np.isnan(np.asarray(result.omega_h2)[flagged]))
        assert np.all(np.isfinite(np.asarray(result.omega_h2)[~flagged]))


def test_an_empty_start_that_fills_at_once_does_not_stall():
    """``Settings(initial="zero")`` at freeze-out with g_B−L ≳ 0.05: the rates fill an empty species
    within 1e-13 in τ or less, below τ's resolution at T_R, and the solve stalled at ``max_steps`` (status 3,
    80 of 2 048 random UνMSM points). Such a species now starts in equilibrium (the solve's own
    fill rate per unit τ > ``pipeline.INSTANT_FILL``); at ``rtol`` 1e-10, ``atol`` 1e-24 the literal
    empty start, where it did not stall, agreed with that to ≤ 5.1e-8 (49 points). A freeze-in point,
    filled slowly, still starts empty: the README's Ωh² = 0.12."""
    m_n1 = [0.002046452619382514, 1.4883942055831738e-05, 7.292558193206771, 0.05]
    m_zp = [0.004089242289313706, 0.00018858577451519152, 0.10565208065503491, 0.2]
    g_bl = [0.43320763552807195, 0.4227604526019799, 0.7887253289510294, 7.36e-13]
    result = uj.relic(uj.UVMSM(np.array(m_n1), np.array(m_zp), np.array(g_bl)), uj.Settings(initial="zero"))
    np.testing.assert_array_equal(result.status, 0)
    assert np.all(np.asarray(result.ode_steps) < 1000)
    assert list(result.mechanism_name) == ["freeze-out"] * 3 + ["freeze-in-resonant"]
    assert float(result.omega_h2[3]) == pytest.approx(0.12, rel=2e-3)


def test_a_reheating_temperature_below_the_mediator_mass_does_not_stall():
    """``Settings(t_reheat=1.0)`` with m_A′ = 3–8 GeV and ε = 0.1–0.4: the classifier counts the A′'s
    (inverse) decays only while T ≥ m_A′, so ``"auto"`` started it empty, and its inverse decays
    filled it at ~1e15 per unit τ, below τ's resolution: 5 of 512 random points stopped at
    ``max_steps`` (status 3, no step accepted). ``"auto"`` now also starts in equilibrium what the
    solve's own rates fill within ~1e-8 in τ, as ``"zero"`` does; at the package's default T_R no point
    of 4 096 random ones changed, and where T_R = 1 GeV the changed points agree with the literal
    empty start to ≤ 1.2e-7 at ``rtol`` 1e-10, ``atol`` 1e-24. The second point's 2m_χ = 26 GeV lies
    above the momenta where (B2) holds (B2′): status 11, its ODE solved all the same."""
    m_chi = np.array([0.053660150153355145, 13.073445928196769])
    m_ap = np.array([7.537750747437212, 7.1202722370219504])
    epsilon = np.array([0.09916847753190768, 0.4321793908258935])
    e_dark = np.array([3.115976558867136e-11, 9.998619325065912e-13])
    result = uj.relic(uj.DarkPhotonDM(m_chi, m_ap, epsilon, e_dark), uj.Settings(t_reheat=1.0))
    np.testing.assert_array_equal(result.status, [0, uj.Status.OUTSIDE_MODEL])
    assert np.all(np.asarray(result.ode_steps) < 1000)


# slow: an initial="zero" batch and the pipeline's stages compiled (~65 s without a compilation cache); the
# default initial condition's stalls stay checked by default in the reheating-temperature test above
@pytest.mark.slow
def test_a_dark_sector_that_ignites_from_empty_starts_in_equilibrium():
    """``Settings(initial="zero")`` for a dark photon with e′ ≈ 0.9 and a slow SM contact: seeded by the
    SM, χχ̄ → A′A′ with A′ → χχ̄ multiplies the dark sector, which blows up ≈ 2e-8 in τ after T_R,
    steeper than τ resolves (steps of 2e-14 where N ≈ Y_eq/50): 5 of 2 048 random points
    stalled at ``max_steps`` (status 3) even with 10⁵ steps. Such a sector now starts in equilibrium
    (``pipeline._instant_fills``). Where the literal empty start can be solved (7 of 21 changed points
    at ``rtol`` 1e-10), the two agree to ≤ 9.2e-10: after ignition both hold the same equilibrium. One
    of those is solved here from empty through the pipeline's stages and compared."""
    stalled = uj.DarkPhotonDM(
        np.array([0.005633248714699968, 0.2653735561361359, 0.0002598989466204223]),
        np.array([0.037251714958866776, 2.1199201473481297, 0.15274428076874755]),
        np.array([1.8887253432411128e-07, 9.630032448076216e-05, 5.469306035400025e-06]),
        np.array([0.9490128707916838, 0.7724646848153067, 0.3740788241878822]),
    )
    result = uj.relic(stalled, uj.Settings(initial="zero"))
    np.testing.assert_array_equal(result.status, 0)
    assert np.all(np.asarray(result.ode_steps) < 1000)

    point = uj.DarkPhotonDM(0.031917370499350846, 0.19253455557582852, 0.005369226205135839, 0.09361345402615502)
    tight = uj.Settings(initial="zero", rtol=1e-10, atol=1e-24, solver="ode", max_steps=30000)
    config = pipeline.configure(point, tight)

    @jax.jit
    def from_empty(theta):
        prepared = pipeline.prepare(theta, config)
        _, weight, adiabatic, atol = pipeline._ode_inputs(prepared, pipeline.classify(prepared, config), config)
        ode = bz.solve(
            prepared.table, config.physics.system, weight, adiabatic, jnp.zeros(2), prepared.tau_start,
            prepared.tau_end, tight.rtol, atol, tight.max_steps,
        )  # fmt: skip
        y_dm = bz.yields(prepared.table(ode.ts[-1]), ode.ys[-1], adiabatic)[0]
        return c.OMEGA_H2_PER_MASS_YIELD * theta[0] * y_dm, ode.result == diffrax.RESULTS.successful

    omega_empty, solved = from_empty(pipeline.parameters(point, tight))
    assert bool(solved)
    assert float(uj.relic(point, tight).omega_h2) == pytest.approx(float(omega_empty), rel=1e-8)


# slow: three dark-photon batches of 8 (~21 s); neighbours' independence stays checked by default in test_shared_tables.py's invalid points in a shared batch
@pytest.mark.slow
def test_a_point_in_a_batch_does_not_depend_on_its_neighbours():
    """Two dark-photon points solved in a batch of 8 with two different sets of random neighbours give
    bitwise the same outputs (the same compiled program), status 0. With diffrax's first-same-as-last
    under vmap they did not: a neighbour still at its first step made every point of the block
    re-evaluate its first stage. Between other neighbour sets these two points' Ωh² moved by 1e-6 and
    3e-6 and their steps by up to 33, and with the neighbours drawn here both ran out of steps
    (status 3). ``boltzmann.solve`` now starts each point from its own first stage (docs/relic.md, "ODE")."""
    targets = np.array(
        [
            [4.69514027e-03, 4.28612433e00, 3.07871923e-03, 7.65039148e-06],
            [8.60303700e-01, 2.78833587e00, 7.23006668e-08, 1.05252243e-03],
        ]
    )
    rng = np.random.default_rng(34)
    low, high = np.log10([1e-3, 1e-3, 1e-13, 1e-6]), np.log10([10.0, 10.0, 1e-2, 1.0])
    outputs = []
    for _ in range(2):
        points = np.concatenate([targets, 10 ** rng.uniform(low, high, (6, 4))])
        result = uj.relic(uj.DarkPhotonDM(*points.T))
        outputs.append(
            {
                field.name: np.asarray(getattr(result, field.name))[:2]
                for field in dataclasses.fields(result)
                if getattr(result, field.name) is not None  # elasticities: not asked for
            }
        )
    for name, first in outputs[0].items():
        np.testing.assert_array_equal(first, outputs[1][name], err_msg=name)
    assert np.all(outputs[0]["status"] == 0)


# slow: big batch (~2 min); invalid points in a batch stay covered by default in test_shared_tables.py
@pytest.mark.slow
def test_batch_with_invalid_points_keeps_neighbours_exact():
    """256 points, some invalid: status 1 there, finite and identical results elsewhere."""
    rng = np.random.default_rng(1)
    n = 256
    m_zp = 10 ** rng.uniform(-2, 0, n)
    m_n1 = m_zp * 10 ** rng.uniform(-1.5, 0.5, n)
    g = 10 ** rng.uniform(-12, -10, n)
    bad = np.zeros(n, bool)
    bad[[3, 17, 100, 255]] = True
    m_zp[3], g[17], m_n1[100], m_zp[255] = -1.0, np.nan, 0.0, np.inf
    result = uj.relic(uj.UVMSM(m_n1, m_zp, g), PAPER_100)
    status = np.asarray(result.status)
    assert np.all(status[bad] == 1)
    assert np.all(status[~bad] == 0)
    assert np.all(np.isfinite(np.asarray(result.omega_h2)[~bad]))
    assert np.all(np.asarray(result.mechanism)[bad] == -1)
    single = uj.relic(uj.UVMSM(m_n1[:4], m_zp[:4], g[:4]), PAPER_100)  # a different batch shape
    np.testing.assert_allclose(
        np.asarray(single.omega_h2)[[0, 1, 2]], np.asarray(result.omega_h2)[[0, 1, 2]], rtol=1e-12
    )


# slow: big batch, two classifier compiles (~90 s); the classify stage runs inside every relic solve of the default tests above
@pytest.mark.slow
def test_thermalisation_of_a_large_batch_runs_in_blocks():
    """More points than one block (32 on CPU): mapped block by block (bounded memory), each point
    as in a small batch; the regime map covers freeze-in and freeze-out."""
    m_zp = np.geomspace(1e-3, 10.0, 10)[:, None] * np.ones((1, 13))
    g = np.geomspace(1e-13, 1e-1, 13)[None, :] * np.ones((10, 1))
    big = uj.thermalisation(uj.UVMSM(0.5 * m_zp, m_zp, g), PAPER_100)
    assert big.dm_thermalised.shape == (10, 13)
    small = uj.thermalisation(uj.UVMSM(0.5 * m_zp[-1, -3:], m_zp[-1, -3:], g[-1, -3:]), PAPER_100)
    np.testing.assert_array_equal(np.asarray(small.mechanism), np.asarray(big.mechanism)[-1, -3:])
    np.testing.assert_allclose(np.asarray(small.x_dec), np.asarray(big.x_dec)[-1, -3:], rtol=1e-12)
    assert {"freeze-in", "freeze-out"} <= set(big.mechanism_name.ravel())


# slow: value, grad and jacfwd compiles at rtol 1e-12 (~4 min); by default the freeze-out case of
# test_gradients_match_finite_differences_each_regime checks jacfwd through the solver against differences
@pytest.mark.slow
def test_gradient_matches_finite_differences_resonant_freeze_in():
    """d Ωh²/d(m_n1, m_zp, g_bl) by forward mode through diffrax vs central differences (≤1e-5)."""
    # rtol 1e-12: adaptive-step noise in Ωh² must be ≪ 1e-5 × the FD step (1e-4) for FD to be exact.
    *point, mode = RESONANT_FREEZE_IN_POINT  # (0.05, 0.2, 4e-12), "paper"
    settings = uj.Settings(mode=mode, gstar=100.0, rtol=1e-12)
    x0 = np.array(point)

    def f(x):
        return uj.relic(uj.UVMSM(x[0], x[1], x[2]), settings).omega_h2

    grad = np.asarray(jax.grad(f)(jnp.asarray(x0)))
    jvp_grad = np.asarray(jax.jacfwd(f)(jnp.asarray(x0)))
    np.testing.assert_allclose(grad, jvp_grad, rtol=1e-12)
    fd = central_difference(lambda x: f(jnp.asarray(x)), x0, FD_STEP, FD_ORDER, relative=True)
    np.testing.assert_allclose(grad, fd, rtol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize(
    "model, t_reheat",
    [(uj.UVMSM(0.05, 0.8, 3e-3), None), (uj.DarkPhotonDM(0.2, 0.1, 1e-5, 0.3), 30.0)],
    ids=["uvmsm-default-t_reheat", "dark-photon-given-t_reheat"],
)
def test_derivatives_in_the_model_fields_equal_forward_mode_in_theta(model, t_reheat):
    # relic's derivative rule takes forward mode in the model's fields (and T_R when given), one
    # tangent per field, rather than in θ = (m_dm, m_v, g_sm, g_dm, T_R): the same derivatives.
    from uvmsm_jax._relic import OUTPUT_FIELDS, _point_outputs
    from uvmsm_jax.models import model_spec

    settings = uj.Settings(t_reheat=t_reheat)
    spec = model_spec(model)
    names = spec.fields
    x0 = jnp.asarray([float(getattr(model, name)) for name in names] + ([t_reheat] if t_reheat else []))

    def model_and_settings(x):
        fields = spec.model(**{name: x[i] for i, name in enumerate(names)})
        return fields, dataclasses.replace(settings, t_reheat=x[len(names)]) if t_reheat else settings

    def omega(x):
        return uj.relic(*model_and_settings(x)).omega_h2

    def theta(x):
        return pipeline.parameters(*model_and_settings(x))

    config = pipeline.configure(model, settings)
    column = OUTPUT_FIELDS.index("omega_h2")

    def in_theta(x):
        return jax.jacfwd(lambda th: _point_outputs(th, config)[column])(theta(x)) @ jax.jacfwd(theta)(x)

    assert int(uj.relic(model, settings).status) == 0
    # both in a jax.jit of their own, so compiled with the same XLA options (a program compiled on its
    # own takes the package's, docs/relic.md "Compilation": Ωh² then differs by rounding, and a
    # step of the ODE may go the other way)
    np.testing.assert_allclose(
        np.asarray(jax.jit(jax.jacfwd(omega))(x0)), np.asarray(jax.jit(in_theta)(x0)), rtol=1e-8, atol=1e-20
    )


# slow: its own compile (~45 s); E2.3 ε-independence stays in the default run as test_dark_photon.py::test_e23_epsilon_independence
@pytest.mark.slow
def test_dark_photon_relic_is_epsilon_independent():
    """P2 setting: Ω independent of ε (E2.3) within the ODE tolerance."""
    eps = np.array([1e-11, 1e-9, 1e-7])
    result = uj.relic(uj.DarkPhotonDM(0.1, 1.0, eps, 1e-12), uj.Settings(mode="paper"))
    values = np.asarray(result.omega_h2)
    assert np.all(np.asarray(result.status) == 0)
    np.testing.assert_allclose(values, values[0], rtol=1e-4)
    assert list(result.mechanism_name) == ["sequential-freeze-in", "sequential-freeze-in", "thermal-mediator-decay"]


def _coupling_for_relic(make_model, settings, lo, hi):
    """g with Ωh² = 0.12 from the ODE (brentq in ln g; each call reuses the compiled solver)."""
    import scipy.optimize as so

    def f(log_g):
        return math.log(omega(make_model(math.exp(log_g)), settings) / 0.12)

    return math.exp(so.brentq(f, math.log(lo), math.log(hi), xtol=1e-8))


def test_e1_6_physical_resonant_coupling_from_the_ode():
    """E1.6: physical mode, g* = 100, f(τ) = 0.19 → g = 3.98e-12 (BR_SM = 13/14 in the spec)."""
    import scipy.optimize as so

    tau = so.brentq(lambda t: ap.resonance_shape(t) - 0.19, 1e-6, 0.5)
    m_zp = 1e4
    g = _coupling_for_relic(lambda g: uj.UVMSM(tau * m_zp / 2, m_zp, g), PHYSICAL_100, 1e-12, 1e-11)
    w = uj.widths(uj.UVMSM(tau * m_zp / 2, m_zp, g), PHYSICAL_100)
    # the exact Γ_SM/Γ_Z′ here differs from 13/14 only through (1 − τ²)^{3/2} in Γ_NN and the top mass
    expected = 3.98e-12 * math.sqrt((13 / 14) / (float(w.sm) / float(w.total)))
    assert g == pytest.approx(expected, rel=5e-3)
    assert g == pytest.approx(3.98e-12, rel=0.01)


# slow: its own settings compile plus a brentq over the ODE (~20 s); off-resonance freeze-in stays checked by default against SciPy in test_relic_reference.py
@pytest.mark.slow
def test_e1_7_off_resonance_from_the_ode():
    """E1.7 from the ODE (paper, g* = 100, process (a) only, M_Z′ ≪ M_N₁ so all channels are open).

    Against (A51), whose (σv)_P1 = g⁴/(3πs) has one unit channel and β_N → 1, the exact ODE has
    Σ Q′²N_c = 6.5 (ν at ½, K4) and σ ∝ β_N, i.e. ∫(s−4m²)^{3/2}s⁻³ / ∫(s−4m²)^{1/2}s⁻² = 3/4:
    Ω_ODE = 6.5 · 3/4 · Ω_(A51). T_R = 1e5 M_N₁ so the T⁻² tail of the production is converged.
    """
    m_n1, g = 1e4, 3e-6
    settings = uj.Settings(mode="paper", gstar=100.0, include_conversion=False, t_reheat=1e5 * m_n1)
    result = uj.relic(uj.UVMSM(m_n1, 1.0, g), settings)
    assert result.mechanism_name == "freeze-in"
    expected = 6.5 * 0.75 * ap.off_resonance_freeze_in_omega_paper(g, 100.0)
    assert float(result.omega_h2) == pytest.approx(expected, rel=1e-3)
    # the coupling for Ωh² = 0.12: P1's 4.528e-6 scaled by (6.5·3/4)^{-1/4}
    g_relic = _coupling_for_relic(lambda g: uj.UVMSM(m_n1, 1.0, g), settings, 1e-6, 1e-5)
    assert g_relic == pytest.approx(4.528e-6 / (6.5 * 0.75) ** 0.25, rel=1e-3)
    # E1.8: v_S = M_Z′/(2√2 g) = 7.81e4 M_Z′ with P1's g; the ODE coupling gives ×(4.528/3.047)
    assert ap.b_minus_l_breaking_scale(1.0, g_relic) == pytest.approx(7.81e4 * 4.528e-6 / g_relic, rel=2e-3)


# REGIME_POINTS (tests/helpers.py): relativistic freeze-out (paper mode), non-relativistic
# freeze-out, off-resonance freeze-in and resonant freeze-in (physical mode).
# Off-resonance freeze-in, √s from 2.4 GeV. Every √-threshold of Γ_SM (here the b quark at
# 9.6 GeV) must be a quadrature panel edge, else Ω(M_N₁) wiggles by 5e-6 and d ln Ω/d ln M_N₁
# was off by 3e-3. What remains are ~3e-8 kinks in Ω(M_N₁) where a rate-table node crosses
# a node of the g*(T) spline (δ is the spline's slope, only C¹), so local derivatives agree
# to ~5e-5, hence REGIME_GRADIENT_RTOL = 1e-4 there (1e-5 elsewhere). (At M_N₁ = 1 GeV, 2M_N₁ is
# the 2 GeV quark/R-ratio switch, where Γ_SM jumps: a physical kink of the model.)
# The freeze-out case runs by default (the one gradient-vs-finite-difference check through the whole
# relic solver there); the other three are slow (a value and a jacfwd compile each at rtol 1e-12).
@pytest.mark.parametrize(
    "point,mode,rtol",
    [
        pytest.param(
            REGIME_POINTS[name][:3],
            REGIME_POINTS[name][3],
            REGIME_GRADIENT_RTOL[name],
            id=name,
            marks=() if name == "freeze-out" else pytest.mark.slow,
        )
        for name in REGIME_POINTS
    ],
)
def test_gradients_match_finite_differences_each_regime(point, mode, rtol):
    settings = uj.Settings(mode=mode, rtol=1e-12, max_steps=65536)
    x0 = np.array(point)

    def f(x):
        omega = uj.relic(uj.UVMSM(x[0], x[1], x[2]), settings).omega_h2
        return omega, omega

    # one compiled program gives the derivative and the value, also at the stencil's points (a
    # separate program for the values cost another ≈ 20 s of compilation)
    derivative_and_value = jax.jit(jax.jacfwd(f, has_aux=True))
    grad, value = (np.asarray(out) for out in derivative_and_value(jnp.asarray(x0)))
    # Logarithmic derivatives d ln Ω/d ln x_i, agreeing to 1e-5 relative; a nearly vanishing one
    # (|d ln Ω/d ln x| ≪ 1, e.g. ∂/∂M_Z′ in relativistic freeze-out) to 1e-5 absolute, which is the
    # central-difference noise floor there. The coupling gets a 10× larger step: d ln Ω/d ln g is O(1–4),
    # so the stencil's h⁴ error stays ≲ 1e-7, while Ω carries ~1e-8 of solver noise in freeze-out even
    # at rtol 1e-12 (at the freeze-out point a relative step of 1e-3 in g left 2e-5 of noise in the
    # difference, 1e-4 left 1.4e-4; forward mode is unchanged to 1e-8 across solver versions).
    steps = np.array([FD_STEP, FD_STEP, 10 * FD_STEP])
    fd = central_difference(lambda x: derivative_and_value(jnp.asarray(x))[1], x0, steps, FD_ORDER, relative=True)
    np.testing.assert_allclose(grad * x0 / value, fd * x0 / value, rtol=rtol, atol=1e-5)


HESSIAN_TOLERANCE = {
    "relativistic-freeze-out": 2e-4,
    "freeze-out": 2e-4,
    "off-resonance-freeze-in": 3e-3,
    "resonant-freeze-in": 2e-4,
}
"""Largest |H − difference quotient of the gradient| over the largest |H_ij| at each REGIME_POINTS
point (measured 2026-12-08: 1.2e-5, 5.5e-5, 1.3e-3 and 4.0e-5). At the off-resonance point the
quotient itself is not symmetric to 1e-3 (∂²/∂ln M_N₁∂ln M_Z′ −0.07837 one way, −0.07827 the other;
H's two entries agree to 2e-13): Ω(M_N₁) carries the ~3e-8 kinks of the g*(T) spline's nodes
(comment above the gradient test), which a difference of gradients amplifies."""


@pytest.mark.slow
@pytest.mark.parametrize("name", list(REGIME_POINTS))
def test_second_derivatives_match_differences_of_the_gradient(name):
    """``jax.hessian`` of ln Ωh² in ln(M_N₁, M_Z′, g_B−L) (reverse mode over the package's forward-mode
    rule, each rule's own operations differentiated by JAX) against 4th-order central differences of
    ``jax.grad`` (steps 1e-3 in ln M, 1e-2 in ln g, rtol 1e-12), in each regime; the Hessian is
    symmetric to 1e-8 of its largest entry. At the freeze-out point, the derivative of
    ``RelicResult.elasticities`` (``jax.jacfwd`` of ``uj.relic(..., elasticities=True)``, forward
    mode over the rule) gives the same matrix: d e_i/d ln x_j = ∂² ln Ω/∂ln x_i ∂ln x_j."""
    *point, mode = REGIME_POINTS[name]
    settings = uj.Settings(mode=mode, rtol=1e-12, max_steps=65536)

    def log_omega(log_x):
        return jnp.log(uj.relic(uj.UVMSM(*jnp.exp(log_x)), settings).omega_h2)

    x0 = np.log(np.array(point))
    hessian = np.asarray(jax.jit(jax.hessian(log_omega))(x0))
    gradient = jax.jit(jax.grad(log_omega))
    steps = np.array([1e-3, 1e-3, 1e-2])
    check_hessian(hessian, lambda x: gradient(jnp.asarray(x)), x0, steps, HESSIAN_TOLERANCE[name], symmetry=1e-8)
    if name == "freeze-out":

        def elasticities(log_x):
            result = uj.relic(uj.UVMSM(*jnp.exp(log_x)), settings, elasticities=True)
            return jnp.stack([result.elasticities[field] for field in ("m_n1", "m_zp", "g_bl")])

        derivative = np.asarray(jax.jit(jax.jacfwd(elasticities))(x0))
        np.testing.assert_allclose(derivative, hessian, rtol=0, atol=1e-8 * np.abs(hessian).max())


# the light-N₁ and dark-photon cases are slow (their two table compiles, ~12 and ~24 s): the light-Z′ case, by default, crosses the QCD transition as well
@pytest.mark.parametrize(
    "model",
    [
        pytest.param(uj.UVMSM(0.0707, 0.00171, 3.03e-11), id="uvmsm-light-zp"),
        pytest.param(uj.UVMSM(1.64e-5, 4.26, 8.34e-6), id="uvmsm-light-n1", marks=pytest.mark.slow),
        pytest.param(uj.DarkPhotonDM(0.05, 0.3, 1e-9, 0.1), id="dark-photon", marks=pytest.mark.slow),
    ],
)
def test_rate_table_between_nodes(model):
    """The rate table of a point whose range crosses the QCD transition, at the midpoints of its
    n_grid = 128 grid, against the coefficients tabulated there (grid 2n − 1), where they are neither
    ln 0 nor beyond e^{±700}: the decay coefficients d = (1+δ)Γ⟨M/E⟩/H, whose only fast structure is
    the plasma's, to ≤ 1e-5 (interpolating g*, g*s and δ with the rest, before their exact evaluation,
    gave up to 3e-2 near T ≈ 0.12 GeV); every column to ≤ 1e-2 (the thermal averages' own structure:
    hadronic resonances, the 2 GeV switch of Γ_SM, the quark gate of (b) at T_QCD, all O(h⁴)); the
    equilibrium yields, whose Boltzmann exponent is exact, to ≤ 1e-5 at every temperature."""

    tables = []
    for n in (128, 255):
        settings = uj.Settings(n_grid=n)
        config = pipeline.configure(model, settings)
        tables.append(
            jax.jit(lambda theta, config=config: pipeline.prepare(theta, config))(pipeline.parameters(model, settings))
        )
    coarse, fine = tables
    np.testing.assert_allclose(np.asarray(fine.taus)[::2], np.asarray(coarse.taus), rtol=0, atol=1e-12)
    exact = np.asarray(fine.table.values)[1::2]
    got = np.asarray(jax.vmap(coarse.table)(fine.taus[1::2]))
    relevant = np.abs(exact) < 700.0
    error = np.where(relevant, np.abs(got - exact), 0.0)
    decays = [bz.LOG_D_SM, bz.LOG_D_DM]
    assert relevant[:, bz.LOG_D_SM].any()
    assert error[:, decays].max() <= 1e-5
    assert error.max() <= 1e-2
    # the equilibrium yields everywhere, e^{−m/T} included (interpolated whole: up to 1e6 at T_end)
    yields = [bz.LOG_Y_DM_EQ, bz.LOG_Y_V_EQ]
    assert np.all(np.abs(got - exact)[:, yields] <= 1e-5 + 1e-12 * np.abs(exact[:, yields]))
