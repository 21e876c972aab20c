"""``uvmsm-jax momentum`` (docs/momentum.md): the command-line contract of the momentum distribution.

The wiring (options reaching :func:`uvmsm_jax.momentum_distribution`, the JSON object, the text table,
the warning for a non-zero status) is tested in-process with stand-ins for the two solvers; the bad-input
rules and ``--help`` with the real parser; one real run in a subprocess checks the keys and that the
returned distribution q²f is normalised over q.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
from test_cli import assert_usage_error, one_json_object, run_cli, run_main

from uvmsm_jax.cli import momentum as momentum_command
from uvmsm_jax.momentum import LYMAN_ALPHA_BOUNDS

# Resonant freeze-in of a 10 keV N₁ through a 100 MeV Z′ (the P1 Fig. 1a mass; Ωh² ≈ 0.017).
POINT = ["--model", "uvmsm", "--m-n1", "1e-5", "--m-zp", "0.1", "--g-bl", "1e-11"]
FIELDS = {"m_n1": 1e-5, "m_zp": 0.1, "g_bl": 1e-11}

JSON_KEYS = (
    "mean_q",
    "rms_q",
    "omega_h2_from_f",
    "omega_h2",
    "yield_from_f",
    "m_wdm_kev",
    "m_wdm_sigma_kev",
    "lambda_fs_mpc",
    "v_rms_today",
    "lyman_alpha",
    "lya_bound_kev",
    "lya_bound",
    "lya_margin",
    "status",
    "status_message",
    "mechanism",
    "distribution",
    "warmth_is_lower_bound",
    "mediator_decay_temperature_gev",
    "q",
    "q2f",
)
VERDICTS = {"allowed", "marginal", "excluded"}


# ---------------------------------------------------------------------------------------------
# Bad input and --help (the parser only: no solver runs)
# ---------------------------------------------------------------------------------------------

BAD_INPUT = [
    ([*POINT, "--lya-bound", "nonsense"], "--lya-bound"),
    ([*POINT, "--lya-bound", "-1"], "--lya-bound"),
    ([*POINT, "--lya-bound", "0"], "--lya-bound"),
    ([*POINT, "--lya-bound", "nan"], "--lya-bound"),
    ([*POINT, "--lya-bound", "-inf"], "--lya-bound"),
    ([*POINT, "--t-kd", "-1e-6"], "--t-kd"),
    ([*POINT, "--t-kd", "cold"], "--t-kd"),
    (["--model", "uvmsm", "--m-n1", "-1e-5", "--m-zp", "0.1", "--g-bl", "1e-11"], "--m-n1"),
    (["--model", "uvmsm", "--m-n1", "1e-5", "--m-zp", "0.1"], "--g-bl"),
    ([*POINT, "--epsilon", "1e-9"], "--epsilon"),
]


@pytest.mark.parametrize("argv, option", BAD_INPUT, ids=[f"{i}-{case[1]}" for i, case in enumerate(BAD_INPUT)])
def test_bad_input_exits_2_with_one_line(capsys, argv, option):
    assert_usage_error(run_main(capsys, ["momentum", *argv, "--json"]), option)


def test_unknown_bound_names_the_choices(capsys):
    line = assert_usage_error(run_main(capsys, ["momentum", *POINT, "--lya-bound", "nonsense"]), "--lya-bound")
    for name in LYMAN_ALPHA_BOUNDS:
        assert name in line


def test_bad_input_real_entry_point():
    proc = run_cli("momentum", *POINT, "--lya-bound", "nonsense", "--json", timeout=300)
    assert_usage_error((proc.returncode, proc.stdout, proc.stderr), "--lya-bound")


def test_help_lists_the_options():
    proc = run_cli("momentum", "--help", timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: uvmsm-jax momentum")
    text = " ".join(proc.stdout.split())
    for option in ("--model", "--m-n1", "--m-zp", "--g-bl", "--m-chi", "--mode", "--gstar", "--lya-bound", "--t-kd"):
        assert option in text, option
    assert "--json" in text
    for name in LYMAN_ALPHA_BOUNDS:
        assert name in text, name
    proc = run_cli("--help", timeout=300)
    assert proc.returncode == 0 and "momentum" in proc.stdout


# ---------------------------------------------------------------------------------------------
# Wiring, with a stand-in for uj.momentum_distribution
# ---------------------------------------------------------------------------------------------


def stand_in_dict(lya_bound, status: int = 0) -> dict:
    q = np.geomspace(1e-3, 3e3, 400)
    q2f = q**1.5 * np.exp(-q / 10.0)
    q2f /= np.trapezoid(q2f, q)
    kev = LYMAN_ALPHA_BOUNDS[lya_bound] if isinstance(lya_bound, str) else float(lya_bound)
    ok = status == 0
    margin = math.log(2.0 / kev)
    return {
        "mean_q": 25.0 if ok else math.nan,
        "rms_q": 28.0 if ok else math.nan,
        "omega_h2_from_f": 0.017 if ok else math.nan,
        "omega_h2": 0.017,
        "yield_from_f": 6.16e-6 if ok else math.nan,
        "m_wdm_kev": 2.0 if ok else math.nan,
        "m_wdm_sigma_kev": 2.05 if ok else math.nan,
        "lambda_fs_mpc": 0.3 if ok else math.nan,
        "v_rms_today": 8.4e-9 if ok else math.nan,
        "lyman_alpha": ("excluded" if margin < -0.15 else "allowed" if margin > 0.15 else "marginal") if ok else None,
        "lya_bound_kev": kev,
        "lya_bound": lya_bound if isinstance(lya_bound, str) else "custom",
        "lya_margin": margin if ok else math.nan,
        "status": status,
        "status_message": "ok" if ok else "distribution not computed (stand-in)",
        "mechanism": "freeze-in-resonant",
        "distribution": "out-of-equilibrium mediator decays (stand-in)",
        "warmth_is_lower_bound": False,
        "mediator_decay_temperature_gev": 1.1e-4,
        "q": q.tolist() if ok else [],
        "q2f": q2f.tolist() if ok else [],
    }


@pytest.fixture
def stand_in(monkeypatch, tmp_path):
    calls: dict = {"status": 0, "cache_home": tmp_path}
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))

    def momentum_distribution(model, settings=None, q=None, *, lya_bound="irsic2017", t_kd=None, export_cache=None):
        calls["momentum"] = {"model": model, "settings": settings, "lya_bound": lya_bound, "t_kd": t_kd}
        calls["export_cache"] = export_cache
        print("solver chatter on stdout")
        data = stand_in_dict(lya_bound, calls["status"])
        if calls.get("cold_relic"):
            data.update(distribution="cold-relic", warmth_is_lower_bound=True, kinetic_decoupling_temperature_gev=1e-6)
        return SimpleNamespace(as_dict=lambda: data)

    monkeypatch.setattr(momentum_command, "momentum_distribution", momentum_distribution)
    return calls


def test_json_object_and_options_reach_the_library(capsys, stand_in):
    rc, out, err = run_main(capsys, ["momentum", *POINT, "--json"])
    assert rc == 0, err
    data = one_json_object(out)
    assert set(JSON_KEYS) <= set(data)
    assert data["model"] == "uvmsm" and data["parameters"] == FIELDS
    assert data["settings"]["mode"] == "physical"
    assert "solver chatter" in err
    assert stand_in["momentum"]["lya_bound"] == "irsic2017" and stand_in["momentum"]["t_kd"] is None
    assert stand_in["export_cache"] == str(stand_in["cache_home"] / "uvmsm-jax" / "export")  # kept compiled
    assert data["lya_bound"] == "irsic2017" and data["lya_bound_kev"] == 5.3

    rc, out, err = run_main(capsys, ["momentum", *POINT, "--lya-bound", "4.2", "--t-kd", "1e-6", "--json"])
    assert rc == 0, err
    assert stand_in["momentum"]["lya_bound"] == 4.2 and stand_in["momentum"]["t_kd"] == 1e-6
    data = one_json_object(out)
    assert data["lya_bound"] == "custom" and data["lya_bound_kev"] == 4.2

    rc, out, err = run_main(capsys, ["momentum", *POINT, "--lya-bound", "viel2013", "--json"])
    assert rc == 0, err
    assert stand_in["momentum"]["lya_bound"] == "viel2013"


def test_text_table(capsys, stand_in):
    rc, out, err = run_main(capsys, ["momentum", *POINT])
    assert rc == 0, err
    for fragment in ("uvmsm (m_n1=1e-05", "<q>", "m_wdm (W21)", "keV", "lambda_fs", "Mpc", "irsic2017", "excluded"):
        assert fragment in out, fragment
    assert not out.lstrip().startswith("{")
    stand_in["cold_relic"] = True  # (W16) at T_kd = T_dec: the mass is an upper bound (K56)
    rc, out, err = run_main(capsys, ["momentum", *POINT])
    assert rc == 0, err
    assert "upper bound" in out and "K56" in out and "T_kd" in out


def test_status_without_distribution_warns_and_writes_null(capsys, stand_in):
    stand_in["status"] = 6
    rc, out, err = run_main(capsys, ["momentum", *POINT, "--json"])
    assert rc == 0, err
    data = one_json_object(out)
    assert data["status"] == 6 and data["mean_q"] is None and data["lyman_alpha"] is None
    assert "warning" in err and "status 6" in err
    rc, out, err = run_main(capsys, ["momentum", *POINT])
    assert rc == 0 and "6 (" in out


# ---------------------------------------------------------------------------------------------
# One real run
# ---------------------------------------------------------------------------------------------


@pytest.mark.slow  # 30 s with warm caches, 55 s cold on 2 cores (relic solve + the distribution)
def test_real_run_json():
    proc = run_cli("momentum", *POINT, "--json", timeout=900)
    assert proc.returncode == 0, proc.stderr
    data = one_json_object(proc.stdout)
    assert set(JSON_KEYS) <= set(data), set(JSON_KEYS) - set(data)
    assert data["parameters"] == FIELDS
    assert data["status"] == 0, data["status_message"]
    assert data["mechanism"] == "freeze-in-resonant"
    q, q2f = np.asarray(data["q"]), np.asarray(data["q2f"])
    assert q.ndim == 1 and q.shape == q2f.shape and q.size > 10
    assert np.all(np.diff(q) > 0) and np.all(q2f >= 0)
    assert np.trapezoid(q2f, q) == pytest.approx(1.0, abs=1e-3)
    assert data["mean_q"] > 0 and data["rms_q"] >= data["mean_q"]
    assert data["lya_bound"] == "irsic2017" and data["lya_bound_kev"] == pytest.approx(5.3)
    margin = math.log(data["m_wdm_kev"] / data["lya_bound_kev"])
    assert data["lya_margin"] == pytest.approx(margin, rel=1e-9, abs=1e-12)
    assert data["lyman_alpha"] == ("excluded" if margin < -0.15 else "allowed" if margin > 0.15 else "marginal")
    assert data["omega_h2_from_f"] == pytest.approx(data["omega_h2"], rel=1e-2)
