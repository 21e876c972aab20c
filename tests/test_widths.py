"""Mediator widths vs the closed forms of docs/equations.md (A8)–(A13), (B3)–(B6), E1.12, E1.13."""

import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import central_difference

import uvmsm_jax  # noqa: F401  (enables float64)
from uvmsm_jax import Widths, widths
from uvmsm_jax import constants as c
from uvmsm_jax._widths import dm_pair_width, massless_width_coefficient_cf
from uvmsm_jax.hadrons import r_ratio_b_minus_l, r_ratio_em, sm_width_unit
from uvmsm_jax.models import UVMSM, DarkPhotonDM, Settings, VectorPortal

PAPER = Settings(mode="paper")
PHYSICAL = Settings(mode="physical")


def closed_form_ffbar(g, n_c, q, m_v, m_f):
    """(A8) written out."""
    x = m_f**2 / m_v**2
    return g**2 * n_c * q**2 * m_v / (12 * math.pi) * (1 + 2 * x) * math.sqrt(1 - 4 * x) if 4 * x < 1 else 0.0


@pytest.mark.parametrize("m_zp", [0.05, 0.3, 1.5, 3.7, 12.0])
def test_b_minus_l_leptons_and_neutrinos_closed_form(m_zp):
    g = 3e-6
    w = widths(UVMSM(m_n1=0.01, m_zp=m_zp, g_bl=g))
    for name, m_l in c.LEPTON_MASSES.items():
        assert float(getattr(w, name)) == pytest.approx(closed_form_ffbar(g, 1, -1, m_zp, m_l), rel=1e-10, abs=0)
    assert float(w.nu) == pytest.approx(3 * g**2 * m_zp / (24 * math.pi), rel=1e-12)  # (A9)


@pytest.mark.parametrize("m_ap", [0.05, 0.3, 1.5, 3.7, 12.0])
def test_dark_photon_leptons_closed_form_b3(m_ap):
    eps = 1e-5
    w = widths(DarkPhotonDM(m_chi=0.01, m_ap=m_ap, epsilon=eps, e_dark=1e-3))
    for name, m_l in c.LEPTON_MASSES.items():
        r2 = m_l**2 / m_ap**2
        b3 = eps**2 * c.ALPHA_EM * m_ap / 3 * (1 + 2 * r2) * math.sqrt(1 - 4 * r2) if r2 < 0.25 else 0.0
        assert float(getattr(w, name)) == pytest.approx(b3, rel=1e-10, abs=0)
    assert float(w.nu) == 0.0
    # (B4): ε²αM/3·R_EM(M)
    assert float(w.hadrons) == pytest.approx(eps**2 * c.ALPHA_EM * m_ap / 3 * float(r_ratio_em(m_ap)), rel=1e-10)


@pytest.mark.parametrize("ratio", [0.0, 0.1, 0.3, 0.49])
def test_dm_pair_widths_closed_forms(ratio):
    m_v, g = 2.0, 0.7
    tau_sq = 4 * ratio**2
    majorana = dm_pair_width(VectorPortal(ratio * m_v, m_v, 1.0, g, current="b-l", dm_kind="majorana"))
    assert float(majorana) == pytest.approx(g**2 * m_v / (24 * math.pi) * (1 - tau_sq) ** 1.5, rel=1e-12)  # (A10)
    dirac = dm_pair_width(VectorPortal(ratio * m_v, m_v, 1.0, g, current="em", dm_kind="dirac"))
    f_r = (1 + 2 * ratio**2) * math.sqrt(1 - 4 * ratio**2)
    assert float(dirac) == pytest.approx(g**2 * m_v / (12 * math.pi) * f_r, rel=1e-12)  # (B5)
    alpha_dark = g**2 / (4 * math.pi)
    assert float(dirac) == pytest.approx(alpha_dark * m_v / 3 * f_r, rel=1e-12)


def test_majorana_identical_particle_half():
    # massless limit: Majorana (axial, 1/2 for identical N₁N₁) = ½ × Dirac with the same coupling
    maj = dm_pair_width(VectorPortal(0.0, 1.0, 1.0, 1.0, dm_kind="majorana"))
    dirac = dm_pair_width(VectorPortal(0.0, 1.0, 1.0, 1.0, dm_kind="dirac"))
    assert float(maj / dirac) == pytest.approx(0.5, rel=1e-14)


def test_dm_width_closed_below_threshold_and_gradient_at_threshold():
    for kind in ("majorana", "dirac"):
        below = dm_pair_width(VectorPortal(jnp.array([0.5, 0.6, 1.0]), 1.0, 1.0, 1.0, dm_kind=kind))
        np.testing.assert_array_equal(below, 0.0)

        def width_of(m_dm, m_v, kind=kind):
            return dm_pair_width(VectorPortal(m_dm, m_v, 1.0, 0.3, dm_kind=kind))

        grads = jax.grad(width_of, argnums=(0, 1))(0.5, 1.0)  # exactly at threshold
        assert all(np.isfinite(float(x)) for x in grads)


def test_e1_12_massless_cf_is_seven():
    assert massless_width_coefficient_cf("b-l", "majorana") == pytest.approx(7.0, abs=1e-14)
    assert massless_width_coefficient_cf("em", "dirac") == pytest.approx(9.0, abs=1e-14)


def test_e1_12_cf_from_full_widths_at_very_heavy_mass():
    # paper mode, M ≫ m_t: every mass correction is O(m⁴/M⁴) ≲ 1e-10
    m = 1e5
    w = widths(UVMSM(m_n1=1e-3, m_zp=m, g_bl=1.0), PAPER)
    assert float(w.total / (m / (12 * math.pi))) == pytest.approx(7.0, abs=1e-8)
    assert float(w.sm / w.total) == pytest.approx(13 / 14, abs=1e-9)  # BR_SM of E1.6


def test_e1_13_three_neutrinos_exact():
    m, g = 0.123, 2e-4
    assert float(widths(UVMSM(1.0, m, g)).nu) == pytest.approx(3 * g**2 * m / (24 * math.pi), rel=1e-15)


def test_hadrons_paper_vs_physical():
    g = 1e-4
    for m in (0.78, 1.02):
        paper = widths(UVMSM(0.1, m, g), PAPER)
        phys = widths(UVMSM(0.1, m, g), PHYSICAL)
        gamma0_mumu = g**2 * m / (12 * math.pi)  # massless-muon normalisation (K24)
        assert float(paper.hadrons) == pytest.approx(gamma0_mumu * float(r_ratio_em(m)), rel=1e-12)
        assert float(phys.hadrons) == pytest.approx(gamma0_mumu * float(r_ratio_b_minus_l(m)), rel=1e-12)
        # everything but hadrons identical in both modes
        for name in ("e", "mu", "tau", "nu", "dm"):
            assert float(getattr(paper, name)) == float(getattr(phys, name))
    # below 2m_π the (A11) width vanishes in paper mode
    assert float(widths(UVMSM(0.1, 0.25, g), PAPER).hadrons) == 0.0


@pytest.mark.parametrize("mode", ["paper", "physical"])
def test_hadrons_above_switch_are_b_minus_l_quarks_a8(mode):
    g, m = 1e-3, 7.0
    w = widths(UVMSM(0.1, m, g), Settings(mode=mode))
    quarks = sum(closed_form_ffbar(g, 3, 1 / 3, m, c.QUARK_MASSES[q]) for q in c.QUARK_MASSES)
    assert float(w.hadrons) == pytest.approx(quarks, rel=1e-10)
    # configurable switch: keeping R_EM up to 8 GeV in paper mode
    w_late = widths(UVMSM(0.1, m, g), Settings(mode="paper", sqrt_s_switch=8.0))
    assert float(w_late.hadrons) == pytest.approx(g**2 * m / (12 * math.pi) * float(r_ratio_em(m)), rel=1e-12)


def test_paper_mode_step_at_switch_is_documented_size():
    below = sm_width_unit(2.0 - 1e-9, "b-l", PAPER).hadrons
    above = sm_width_unit(2.0, "b-l", PAPER).hadrons
    assert float(below / above) == pytest.approx(2.18, rel=0.01)
    below_phys = sm_width_unit(2.0 - 1e-9, "b-l", PHYSICAL).hadrons
    above_phys = sm_width_unit(2.0, "b-l", PHYSICAL).hadrons
    assert float(below_phys / above_phys) == pytest.approx(1.0, abs=1e-4)


def test_widths_container_properties_and_as_dict():
    w = widths(DarkPhotonDM(m_chi=0.1, m_ap=1.0, epsilon=1e-6, e_dark=1e-5))
    assert float(w.sm) == pytest.approx(float(w.e + w.mu + w.tau + w.nu + w.hadrons), rel=1e-15)
    assert float(w.total) == pytest.approx(float(w.sm + w.dm), rel=1e-15)
    assert float(w.visible) == pytest.approx(float(w.sm), rel=1e-15)  # ν = 0 for a dark photon
    d = w.as_dict()
    assert set(d) == {"total", "partial"}
    assert set(d["partial"]) == {"e", "mu", "tau", "nu", "hadrons", "dm"}
    assert isinstance(d["total"], float) and all(isinstance(v, float) for v in d["partial"].values())
    json.dumps(d)
    z = widths(UVMSM(0.01, 0.5, 1e-5))
    assert float(z.visible) == pytest.approx(float(z.sm - z.nu), rel=1e-15)
    arr = widths(UVMSM(0.01, jnp.array([0.5, 1.0]), 1e-5)).as_dict()
    assert isinstance(arr["total"], list) and len(arr["partial"]["mu"]) == 2


def test_widths_accepts_portal_and_broadcasts():
    model = UVMSM(m_n1=jnp.array([0.01, 0.02, 0.3]), m_zp=0.2, g_bl=jnp.array([[1e-5], [2e-5]]))
    w = widths(model)
    assert isinstance(w, Widths)
    assert w.total.shape == (2, 3) and w.e.shape == (2, 3) and w.dm.shape == (2, 3)
    via_portal = widths(model.portal)
    np.testing.assert_array_equal(via_portal.total, w.total)
    assert float(w.dm[0, 2]) == 0.0  # 2 m_N > M


def test_vmap_jit_over_masses_matches_loop():
    masses = jnp.geomspace(1e-3, 50.0, 64)
    fn = jax.jit(jax.vmap(lambda m: widths(UVMSM(0.01, m, 1e-4)).total))
    batched = fn(masses)
    looped = np.array([float(widths(UVMSM(0.01, m, 1e-4)).total) for m in masses[::8]])
    np.testing.assert_allclose(batched[::8], looped, rtol=1e-13)
    assert np.all(np.isfinite(batched))


@pytest.mark.parametrize("model_kind", ["uvmsm", "dark-photon"])
def test_gradients_match_finite_differences(model_kind):
    # point away from thresholds and R-data knots (piecewise-linear R)
    if model_kind == "uvmsm":

        def total(p):
            return widths(UVMSM(p[0], p[1], p[2]), PHYSICAL).total

        params = jnp.array([0.123, 0.5123, 3e-3])
    else:

        def total(p):
            return widths(DarkPhotonDM(p[0], p[1], p[2], p[3])).total

        params = jnp.array([0.123, 0.5123, 1e-3, 2e-3])
    grad = jax.grad(total)(params)
    assert np.all(np.isfinite(grad))
    fd = central_difference(lambda p: total(jnp.asarray(p)), params, 1e-7, order=2, relative=True)  # steps 1e-7·p_i
    for i in range(len(params)):
        assert float(grad[i]) == pytest.approx(float(fd[i]), rel=1e-6)


def test_gradients_finite_at_lepton_thresholds():
    for m in (2 * c.M_ELECTRON, 2 * c.M_MUON, 2 * c.M_TAU, 2 * c.M_PI_CHARGED, 2.0):
        for mode in ("paper", "physical"):
            g = jax.grad(lambda mv, mode=mode: widths(UVMSM(0.01, mv, 1e-3), Settings(mode=mode)).total)(m)
            assert np.isfinite(float(g))
