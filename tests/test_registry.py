"""The model registry (issue 12): lookups, declared coupling powers checked against the rates, and a
third model added in one place (a ``ModelSpec`` subclass plus its ``eqx.Module``)."""

from __future__ import annotations

import dataclasses
import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import uvmsm_jax as uj
from uvmsm_jax import boltzmann as bz
from uvmsm_jax import models
from uvmsm_jax.cli import build_parser
from uvmsm_jax.portal import VectorPortal, as_float
from uvmsm_jax.rates import ProcessSwitches, coupled_log_rates, unit_log_rates

RATE_COLUMNS = {
    "annihilation": (bz.LOG_K_A, bz.LOG_K_A_SHIFT),
    "mediator_annihilation": (bz.LOG_K_B,),
    "conversion": (bz.LOG_K_C,),
    "decay_sm": (bz.LOG_D_SM,),
    "decay_dm": (bz.LOG_D_DM,),
}


@pytest.mark.parametrize(
    "spelling, name",
    [
        ("uvmsm", "uvmsm"),
        ("B-L", "uvmsm"),
        ("b_l", "uvmsm"),
        ("dark_photon", "dark-photon"),
        ("DarkPhotonDM", "dark-photon"),
        (uj.UVMSM, "uvmsm"),
        (uj.DarkPhotonDM(0.1, 1.0, 1e-9, 1e-12), "dark-photon"),
    ],
)
def test_model_spec_lookup(spelling, name):
    assert uj.model_spec(spelling).name == name


def test_unknown_model_names_the_registered_ones():
    with pytest.raises(ValueError, match="uvmsm, dark-photon"):
        uj.model_spec("axion")


def test_registry_declarations_are_consistent():
    for spec in uj.MODELS.values():
        assert spec.fields == tuple(f.name for f in dataclasses.fields(spec.model_class))
        assert spec.sm_coupling in spec.couplings and spec.contour_unknown in spec.couplings
        assert set(spec.rate_coupling_powers) == set(RATE_COLUMNS)
        for powers in spec.rate_coupling_powers.values():
            assert set(powers) <= set(spec.couplings)
        assert spec.mechanisms and spec.conventions[0] == "physical"


@pytest.mark.parametrize(
    "name, masses, couplings",
    [
        ("uvmsm", {"m_n1": 0.05, "m_zp": 0.3}, {"g_bl": 1e-6}),
        ("dark-photon", {"m_chi": 0.05, "m_ap": 0.3}, {"epsilon": 1e-7, "e_dark": 1e-4}),
    ],
)
def test_declared_coupling_powers_match_the_rates(name, masses, couplings):
    """Scaling one coupling by λ shifts each log rate coefficient by (declared power)·ln λ — the
    property the coupling-free rate tables rely on. All processes are switched on (with the pole
    above threshold, so the off-pole propagator carries no width) and the check is made at
    temperatures across the whole history."""
    spec = uj.model_spec(name)
    settings = uj.Settings()
    physics = spec.physics(settings)
    switches = ProcessSwitches(
        annihilation=True, mediator_annihilation=True, conversion=True, decays=True, pole_in_annihilation=False
    )
    temperatures = jnp.geomspace(masses[spec.mediator_mass] * 30, masses[spec.mediator_mass] / 30, 5)

    @jax.jit
    def log_columns(values):
        model = spec.model(**values)
        portal = model.portal
        w = uj.widths(portal, settings)
        width_sm = w.sm

        unit = unit_log_rates(
            portal,
            settings,
            switches,
            physics.planck_mass,
            physics.entropy_derivative,
            width_sm / portal.g_sm**2,
            (portal.g_sm, portal.g_dm, width_sm + w.dm),
            temperatures,
            physics.g_s_equals_g_rho,
        )
        return coupled_log_rates(unit, portal, switches, width_sm, w.dm)[0]

    base = log_columns({**masses, **couplings})
    scale = 7.0
    for coupling in couplings:
        scaled = log_columns({**masses, **couplings, coupling: couplings[coupling] * scale})
        for rate, columns in RATE_COLUMNS.items():
            expected = spec.rate_coupling_powers[rate].get(coupling, 0) * math.log(scale)
            for column in columns:
                present = base[:, column] > bz.LOG_ZERO / 2  # the shift is ln 0 for Model 1
                np.testing.assert_allclose(
                    (scaled[:, column] - base[:, column])[present],
                    expected,
                    rtol=0,
                    atol=1e-9,
                    err_msg=f"{name}: {rate} (column {column}) vs {coupling}",
                )


# --- a third model, declared in one place ------------------------------------------------------------


class DarkPhotonAlpha(eqx.Module):
    """The dark-photon model parameterised by α′ = e′²/(4π) instead of e′ (toy third model)."""

    m_chi: jax.Array = eqx.field(converter=as_float)
    m_ap: jax.Array = eqx.field(converter=as_float)
    epsilon: jax.Array = eqx.field(converter=as_float)
    alpha_dark: jax.Array = eqx.field(converter=as_float)

    @property
    def portal(self) -> VectorPortal:
        e_dark = jnp.sqrt(4.0 * jnp.pi * self.alpha_dark)
        return uj.DarkPhotonDM(self.m_chi, self.m_ap, self.epsilon, e_dark).portal


class DarkPhotonAlphaSpec(models.DarkPhotonSpec):
    """Everything but the name, class and parameters is inherited from the dark-photon entry."""

    name = "dark-photon-alpha"
    aliases = ()
    model_class = DarkPhotonAlpha
    title = "dark photon with α′ instead of e′ (test model)"
    parameters = (
        *models.DarkPhotonSpec.parameters[:3],
        uj.Parameter("alpha_dark", "--alpha-dark", "1", "coupling", "alpha'", "dark fine-structure constant α′"),
    )
    contour_unknown = "alpha_dark"
    conventions = ("physical",)  # one convention: paper mode reads as physical
    rate_coupling_powers = {
        "annihilation": {"epsilon": 2, "alpha_dark": 1},
        "mediator_annihilation": {"epsilon": 4},
        "conversion": {"alpha_dark": 2},
        "decay_sm": {"epsilon": 2},
        "decay_dm": {"alpha_dark": 1},
    }


@pytest.fixture
def third_model():
    spec = uj.register_model(DarkPhotonAlphaSpec())
    yield spec
    del uj.MODELS[spec.name]


# slow: compiles the toy model in a batch of two and the reference (~100 s); test_models_with_one_convention_ignore_the_mode still registers and solves it
@pytest.mark.slow
def test_a_third_model_is_added_in_one_place(third_model, capsys):
    e_dark = 3e-12
    alpha = e_dark**2 / (4 * math.pi)
    point = {"m_chi": 0.1, "m_ap": 1.0, "epsilon": 1e-9}
    settings = uj.Settings(n_grid=32)  # as in test_export: the reference solve is compiled once per session
    toy = uj.relic(DarkPhotonAlpha(**point, alpha_dark=[alpha, -1.0]), settings)
    # the reference in a batch of two as well: a point alone is another program, which rounds
    # differently and can take other steps (1.3e-6 apart here: 321 and 335 steps)
    reference = uj.relic(uj.DarkPhotonDM(**point, e_dark=[e_dark, -1.0]), settings)
    assert int(toy.status[0]) == 0 and int(toy.status[1]) == uj.Status.INVALID_INPUT
    # e′ = √(4πα′) differs from 3e-12 in the last bit; the stiff solve turns that into ≲ 1e-11
    assert float(toy.omega_h2[0]) == pytest.approx(float(reference.omega_h2[0]), rel=1e-10)
    assert toy.mechanism_name[0] == reference.mechanism_name[0]
    # registry-driven: scan specs, the CLI options and the limit planes know the new model
    assert uj.model_spec("dark-photon-alpha") is third_model
    args = build_parser().parse_args(
        [
            "relic",
            "--model",
            "dark-photon-alpha",
            "--m-chi",
            "0.1",
            "--m-ap",
            "1",
            "--epsilon",
            "1e-9",
            "--alpha-dark",
            "1e-24",
        ]
    )
    assert args.model == "dark-photon-alpha" and args.alpha_dark == 1e-24
    assert uj.limits.available("dark-photon-alpha") == uj.limits.available("dark-photon")
    with pytest.raises(ValueError, match="already registered"):
        uj.register_model(DarkPhotonAlphaSpec())


# slow: a third model's solver compiled in two modes (~15 s); registering and solving a third model stays checked by default in this file
@pytest.mark.slow
def test_models_with_one_convention_ignore_the_mode(third_model):
    """A model with one convention (the toy α′ model) gives bit-identical results in ``mode="paper"``
    (before, P1's g*s = g* leaked into the dark photon in paper mode); the dark photon itself now has
    two (every regime, and P2's sequential freeze-in)."""
    model = DarkPhotonAlpha(0.1, 1.0, 1e-9, 1e-25)
    physical = uj.relic(model, uj.Settings(mode="physical", n_grid=32))
    paper = uj.relic(model, uj.Settings(mode="paper", n_grid=32))
    assert float(paper.omega_h2) == float(physical.omega_h2)
    assert uj.pipeline.configure(model, uj.Settings(mode="paper")) == uj.pipeline.configure(model, uj.Settings())
    assert models.DarkPhotonSpec.conventions == ("physical", "paper")
