"""Ωh² = target contours (issue 6): every branch, accuracy, IFT sensitivities, CLI.

The default tests run the whole algorithm (bracketing scan, optimistix Newton with the Bisection
fallback, the optax alternative, sensitivities, CLI) on analytic stand-ins for ln Ωh²(θ) that
compile in seconds; the tests marked ``slow`` do the same with the real relic solver (each new
Settings compiles the Newton kernel again, minutes on 2 CPU cores).
"""

from __future__ import annotations

import collections
import functools
import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import log_derivative

import uvmsm_jax as uj
from uvmsm_jax import _contour as contour_module
from uvmsm_jax import _programs as programs_module
from uvmsm_jax import cli, contour
from uvmsm_jax.cli import contour as contour_command

LN_T = math.log(0.12)


def two_branch(p, cls, settings, tie):
    """Model-1 stand-in: Ω = 1/(1/Ω_in + 1/Ω_out), freeze-in ∝ g⁴ and freeze-out ∝ g^-3.5 with
    mass and T_R dependences (nonlinear in the masses so that FD checks are not trivial)."""
    lm1, lmz, lg, s = p[0], p[1], p[2], p[3]
    x = lmz - math.log(0.1)
    l_in = LN_T + 4 * (lg - math.log(1e-6)) + 0.5 * x + 0.1 * x**2 - (lm1 - math.log(0.1)) + 0.01 * s
    l_out = LN_T - 3.5 * (lg - math.log(1e-2)) + 2 * x - 0.5 * (lm1 - math.log(0.1)) + 0.05 * jnp.sin(x) - 0.001 * s
    lo = -jnp.logaddexp(-l_in, -l_out)
    extras = jnp.stack([jnp.exp(lo), 0.0, jnp.where(l_in < l_out, 3.0, 1.0), 0.0, 0.0, 0.0])
    return lo, jax.lax.stop_gradient(extras)


def twin_peak(p, cls, settings, tie):
    """Two roots 0.4 apart in ln g around a maximum (closer than the bracketing step)."""
    u = p[2] - math.log(3e-7)
    lo = LN_T + 0.8 - 20.0 * u**2
    extras = jnp.stack([jnp.exp(lo), 0.0, 3.0, 0.0, 0.0, 0.0])
    return lo, jax.lax.stop_gradient(extras)


def cube_root(p, cls, settings, tie):
    """F ~ ∛(ln g − ln g₀) away from the root (Newton's iterates grow by −2 each step, so it fails
    from the regula-falsi start), linear within ~1e-3 of it."""
    u = p[2] - math.log(2e-5)
    lo = LN_T + u / (jnp.abs(u) ** (2.0 / 3.0) + 1e-2)
    extras = jnp.stack([jnp.exp(lo), 0.0, 1.0, 0.0, 0.0, 0.0])
    return lo, jax.lax.stop_gradient(extras)


def flagged_rise(p, cls, settings, tie):
    """Rises through the target at g = 1e-6 and falls through it at g = 1e-2, but the points with
    |ln(g/1e-6)| < 1 are flagged like :attr:`uvmsm_jax.Status.NEEDS_DARK_TEMPERATURE` (status 5, NaN
    Ωh²): the sign change across them is not a root."""
    u_rise, u_fall = p[2] - math.log(1e-6), p[2] - math.log(1e-2)
    flagged = jnp.abs(u_rise) < 1.0
    lo = jnp.where(flagged, jnp.nan, LN_T + jnp.minimum(u_rise, -u_fall))
    status = jnp.where(flagged, float(uj.Status.NEEDS_DARK_TEMPERATURE), 0.0)
    extras = jnp.stack([jnp.exp(lo), status, 1.0, 0.0, 0.0, 0.0])
    return lo, jax.lax.stop_gradient(extras)


def dark_photon_like(p, cls, settings, tie):
    """Model-2 stand-in: Ω ∝ ε^a e′^b m_A′^c (m_χ/m_A′)^d, monotonic in each coupling."""
    lchi, lap, leps, led, s = p
    lo = (
        LN_T
        + 2 * (leps - math.log(1e-9))
        + 1.5 * (led - math.log(1e-4))
        - 0.7 * (lap)
        + 0.3 * (lchi - lap) ** 2
        + 0.02 * s
    )
    extras = jnp.stack([jnp.exp(lo), 0.0, 4.0, 0.0, 0.0, 0.0])
    return lo, jax.lax.stop_gradient(extras)


@functools.cache
def objective_class(fn):
    """A :class:`uvmsm_jax.LogOmegaObjective` evaluating the analytic stand-in ``fn`` (one class per
    stand-in, so the compiled root finders are cached as for the real solver)."""

    def __call__(self, p):
        return fn(p, self.spec, self.settings, self.tie)

    return type(fn.__name__, (uj.LogOmegaObjective,), {"__call__": __call__})


@pytest.fixture
def stand_in(monkeypatch):
    """``use(fn)`` → :func:`uvmsm_jax.contour` solving the stand-in ``fn`` (also behind ``uvmsm-jax contour``)."""

    def use(fn):
        solver = functools.partial(uj.contour, objective_class=objective_class(fn))
        monkeypatch.setattr(contour_command, "contour", solver)
        return solver

    return use


def test_every_branch_with_mechanism(stand_in):
    contour = stand_in(two_branch)
    masses = np.array([0.05, 0.1, 0.3])
    r = contour("uvmsm", masses, ratio=1.0, chunk=16, solver_chunk=4)
    assert len(r) == 6 and not r.no_solution
    for i, m in enumerate(masses):
        low, high = r.points[2 * i], r.points[2 * i + 1]
        assert low["m_zp"] == m and low["m_n1"] == m and low["g_bl"] < high["g_bl"]
        assert (low["mechanism"], high["mechanism"]) == ("freeze-in", "freeze-out")
        assert (low["branch"], high["branch"]) == (0, 1)
        for point in (low, high):
            assert point["status"] == 0
            p = jnp.log(jnp.array([point["m_n1"], point["m_zp"], point["g_bl"], 1.0])).at[3].set(0.0)
            omega = float(jnp.exp(two_branch(p, None, None, True)[0]))
            assert abs(omega / 0.12 - 1) <= 1e-6
            assert abs(point["omega_h2"] / 0.12 - 1) <= 1e-6


def test_the_newton_kernel_traces_its_solve_once():
    """The Newton kernel calls the objective's value and Jacobian twice, as the primal of its custom
    JVP (optimistix's shapes) and in the JVP rule; both calls share one trace (for the real solver a
    forward-mode solve, seconds to trace). JAX keys its trace cache on the abstract mesh in effect,
    which differed between the two calls: it was traced twice."""
    traces = []

    class Counted(uj.LogOmegaObjective):
        def __call__(self, p):
            return two_branch(p, self.spec, self.settings, self.tie)

        def value_and_jacobian(self, p, held):
            traces.append(jax.typeof(p))
            return super().value_and_jacobian(p, held)

    result = uj.contour("uvmsm", [0.1], ratio=1.0, objective_class=Counted)
    assert [point["mechanism"] for point in result.points] == ["freeze-in", "freeze-out"]
    assert len(traces) == 1, traces


def test_no_solution_is_reported(stand_in):
    contour = stand_in(two_branch)
    r = contour("uvmsm", [0.1], ratio=1.0, coupling_range=(1e-4, 1e-3), n_coarse=6, chunk=16, solver_chunk=4)
    assert len(r) == 0 and r.no_solution == [{"m_zp": 0.1, "m_n1": 0.1}]


def test_close_twin_roots_are_both_found(stand_in):
    contour = stand_in(twin_peak)
    r = contour("uvmsm", [0.1], ratio=1.0, chunk=16, solver_chunk=4)
    g = r.array("g_bl")
    expected = 3e-7 * np.exp(np.array([-1.0, 1.0]) * math.sqrt(0.8 / 20.0))
    assert len(r) == 2 and np.all(r.array("status") == 0)
    np.testing.assert_allclose(g, expected, rtol=1e-6)


def test_bisection_fallback(stand_in):
    contour = stand_in(cube_root)
    r = contour("uvmsm", [0.1], ratio=1.0, chunk=16, solver_chunk=4, coupling_range=(1e-7, 1e-1), n_coarse=5)
    assert len(r) == 1 and r.points[0]["status"] == 0
    assert r.timings["fallbacks"] == 1  # Newton alone failed here
    assert abs(r.points[0]["g_bl"] / 2e-5 - 1) < 1e-6


class HeldTwoBranch(uj.LogOmegaObjective):
    """:func:`two_branch` with a held part, as :class:`uvmsm_jax.RelicObjective` holds a rate table:
    the mass and T_R columns of the bracket's p (the unknown g_B−L, column 2, is never held). The held
    value is off by 1e-8 (error bound 2e-8, within the tolerance) for g < 1e-3 and by 0.3 (bound 1)
    above."""

    @property
    def holds(self):
        return True

    def held(self, p):
        return p.at[2].set(jnp.nan)  # only what does not change along the bracket

    def value_and_jacobian(self, p, held):
        if held is None:  # solving again without the held part
            return super().value_and_jacobian(p, held)
        lo, extras, jac = contour_module._kernel(held.at[2].set(p[2]), self)
        close = p[2] < math.log(1e-3)
        return lo + jnp.where(close, 1e-8, 0.3), extras, jac, jnp.where(close, 2e-8, 1.0)

    def __call__(self, p):
        return two_branch(p, self.spec, self.settings, self.tie)


def counting_traces(traces: collections.Counter) -> type[HeldTwoBranch]:
    """A new subclass of :class:`HeldTwoBranch` that counts the traces of its held part and of its
    kernel in ``traces``."""

    class Counted(HeldTwoBranch):
        def held(self, p):
            traces["held"] += 1
            return super().held(p)

        def value_and_jacobian(self, p, held):
            traces["kernel"] += 1
            return super().value_and_jacobian(p, held)

    return Counted


def test_root_finding_programs_compiled_ahead_are_the_ones_called():
    """With a held part, the held part's program and the Newton kernel are lowered from the first
    chunk's shapes and compiled on threads before their first call (``_compile_root_finding_ahead``);
    each call then finds its program in JAX's caches: the held part and the kernel's solve are traced
    once each (a lowering whose argument types differed from the call's, e.g. in a dtype, would
    trace them again), and a second contour in the process compiles nothing ahead."""
    traces = collections.Counter()
    kw = {"ratio": 1.0, "chunk": 16, "solver_chunk": 4, "objective_class": counting_traces(traces)}
    result = uj.contour("uvmsm", [0.1, 0.2, 0.3], **kw)
    assert np.all(result.array("status") == 0) and len(result) == 6
    assert traces == {"held": 1, "kernel": 2}, traces  # the kernel: once held, once solving again without
    ahead = set(programs_module.COMPILED_AHEAD)
    again = uj.contour("uvmsm", [0.1, 0.2, 0.3], **kw)
    assert ahead == programs_module.COMPILED_AHEAD and traces == {"held": 1, "kernel": 2}
    np.testing.assert_array_equal(again.array("g_bl"), result.array("g_bl"))


def test_root_finding_programs_are_stored_and_loaded_without_tracing(tmp_path):
    """With ``export_cache``, in equinox's default mode of its run-time checks (the derivative
    programs have no host callback), the package's own objective keeps its held part's program and
    its root finder (held, and again without the held part) as executables in the folder, compiled
    ahead on threads (:func:`~uvmsm_jax._export.store_ahead`); a later process (here: the loaded
    executables forgotten) runs them from the files without tracing either, and every root and
    sensitivity equals the contour's without the folder. A user's objective is not stored (its code
    is not in the key)."""
    from uvmsm_jax import _export as export

    traces = collections.Counter()
    Stored = counting_traces(traces)
    kw = {"ratio": 1.0, "chunk": 16, "solver_chunk": 4}
    masses = [0.1, 0.2, 0.3]
    uj.contour("uvmsm", masses, objective_class=Stored, export_cache=tmp_path, **kw)
    assert not list(tmp_path.glob("*" + export.SUFFIX))  # a user's objective: nothing stored
    Stored.__module__ = contour_module.__name__  # stands in for the package's own objective
    plain = uj.contour("uvmsm", masses, objective_class=Stored, **kw)
    first = uj.contour("uvmsm", masses, objective_class=Stored, export_cache=tmp_path, **kw)
    stored = sorted(tmp_path.glob("*" + export.SUFFIX))
    assert len(stored) == 3  # the held part, the root finder with it and without it (solved again)
    stamps = [path.stat().st_mtime_ns for path in stored]
    export._load.cache_clear()  # as in a new process: read from the files
    export._RAN.clear()
    traces.clear()
    second = uj.contour("uvmsm", masses, objective_class=Stored, export_cache=tmp_path, **kw)
    assert not traces  # neither the held part nor the kernel traced
    assert [path.stat().st_mtime_ns for path in sorted(tmp_path.glob("*" + export.SUFFIX))] == stamps
    assert first.timings["solved_again_unheld"] == second.timings["solved_again_unheld"] == 3
    for result in (first, second):
        assert result.points == plain.points


@pytest.mark.parametrize("method", ["newton", "optax"])
def test_held_part_and_roots_beyond_its_error_solved_again(stand_in, method):
    """The held part serves every iterate of a bracket; a root where its error bound exceeds the
    tolerance (here the freeze-out branch) is solved again without it and matches the plain
    objective's root; within the bound (freeze-in) the held root is kept."""
    kw = {"ratio": 1.0, "chunk": 16, "solver_chunk": 4, "method": method}
    masses = [0.1, 0.2, 0.3]
    plain = stand_in(two_branch)("uvmsm", masses, **kw)
    held = uj.contour("uvmsm", masses, objective_class=HeldTwoBranch, **kw)
    assert len(held) == 6 and np.all(held.array("status") == 0)
    assert held.timings["solved_again_unheld"] == 3 and plain.timings["solved_again_unheld"] == 0
    assert [p["mechanism"] for p in held.points] == ["freeze-in", "freeze-out"] * 3
    g_held, g_plain = held.array("g_bl"), plain.array("g_bl")
    np.testing.assert_allclose(g_held[1::2], g_plain[1::2], rtol=1e-9)  # solved again: the plain root
    np.testing.assert_allclose(g_held[::2], g_plain[::2], rtol=1e-6)  # held roots: 1e-8/4 in ln g away at most
    steps_held, steps_plain = held.array("iterations"), plain.array("iterations")
    assert np.all(steps_held[::2] == steps_plain[::2]) and np.all(steps_held[1::2] > steps_plain[1::2])
    for a, b in zip(held.points, plain.points):
        assert a["sensitivities"] == pytest.approx(b["sensitivities"], rel=1e-6)


def test_sensitivities_match_finite_differences_of_the_contour(stand_in):
    contour = stand_in(two_branch)
    m, ratio, h = 0.1, 1.3, 1e-4
    kw = {"chunk": 16, "solver_chunk": 4, "tol": 1e-12}
    base = contour("uvmsm", [m], ratio=ratio, **kw)

    def g_bl(masses, ratio):  # the two branches' couplings
        return np.array([p["g_bl"] for p in contour("uvmsm", masses, ratio=ratio, **kw).points])

    # d ln g_B−L / d ln θ by central differences in ln θ (step h, 3-point stencil), both branches at once
    fd_mass = log_derivative(lambda mass: g_bl([mass], ratio), m, h, order=2)
    fd_ratio = log_derivative(lambda r: g_bl([m], r), ratio, h, order=2)
    for branch in (0, 1):
        s = base.points[branch]["sensitivities"]
        assert abs(s["d_ln_g_bl/d_ln_m_zp"] - fd_mass[branch]) <= 1e-4 * max(1.0, abs(fd_mass[branch]))
        assert abs(s["d_ln_g_bl/d_ln_ratio"] - fd_ratio[branch]) <= 1e-4 * max(1.0, abs(fd_ratio[branch]))
    # analytic values on the freeze-in branch (Ω_out negligible there)
    s = base.points[0]["sensitivities"]
    x = math.log(m / 0.1)
    assert s["d_ln_omega/d_ln_g_bl"] == pytest.approx(4.0, rel=1e-3)
    assert s["d_ln_omega/d_ln_t_reheat"] == pytest.approx(0.01, rel=1e-3)
    assert s["d_ln_g_bl/d_ln_t_reheat"] == pytest.approx(-0.01 / 4.0, rel=1e-3)
    assert s["d_ln_omega/d_ln_m_zp"] == pytest.approx(0.5 + 0.2 * x, rel=1e-3)


def test_model2_solving_for_either_coupling(stand_in):
    contour = stand_in(dark_photon_like)
    masses = np.array([0.5, 2.0])
    r = contour("dark-photon", masses, ratio=0.2, fixed={"epsilon": 1e-9}, chunk=16, solver_chunk=4)
    assert r.unknown == "e_dark" and len(r) == 2
    for p in r.points:
        assert set(p) >= {"m_chi", "m_ap", "epsilon", "e_dark", "mechanism", "omega_h2", "status", "sensitivities"}
        assert p["epsilon"] == 1e-9 and p["status"] == 0 and p["mechanism"] == "sequential-freeze-in"
        assert p["sensitivities"]["d_ln_e_dark/d_ln_epsilon"] == pytest.approx(-2 / 1.5, rel=1e-9)
    r2 = contour(
        "dark-photon",
        masses,
        ratio=0.2,
        fixed={"e_dark": r.points[0]["e_dark"]},
        unknown="epsilon",
        chunk=16,
        solver_chunk=4,
    )
    assert r2.points[0]["epsilon"] == pytest.approx(1e-9, rel=1e-6)


def test_optax_method_agrees(stand_in):
    contour = stand_in(two_branch)
    kw = {"ratio": 1.0, "chunk": 16, "solver_chunk": 4}
    newton = contour("uvmsm", [0.1, 0.2], **kw)
    optax = contour("uvmsm", [0.1, 0.2], method="optax", **kw)
    assert np.all(optax.array("status") == 0)
    np.testing.assert_allclose(optax.array("g_bl"), newton.array("g_bl"), rtol=1e-6)


def test_secant_method_agrees(stand_in):
    contour = stand_in(two_branch)
    kw = {"ratio": 1.0, "chunk": 16, "solver_chunk": 4}
    newton = contour("uvmsm", [0.1, 0.2], **kw)
    secant = contour("uvmsm", [0.1, 0.2], method="secant", **kw)
    assert np.all(secant.array("status") == 0) and len(secant) == 4
    assert [p["mechanism"] for p in secant.points] == [p["mechanism"] for p in newton.points]
    np.testing.assert_allclose(secant.array("g_bl"), newton.array("g_bl"), rtol=1e-5)
    assert all(abs(p["omega_h2"] / 0.12 - 1) <= 1e-5 for p in secant.points)
    assert all(p["sensitivities"] == {} for p in secant.points)
    assert np.all(np.isnan(secant.sensitivity("d_ln_g_bl/d_ln_m_zp")))


def test_find_brackets_skips_flagged_points():
    u = np.arange(6.0)
    f = np.array([-1.0, np.nan, 1.0, 2.0, -1.0, np.nan])
    assert contour_module._find_brackets(u, f) == [(3.0, 4.0, 2.0, -1.0)]


@pytest.mark.parametrize("method", ["newton", "secant"])
def test_sign_change_across_flagged_points_is_not_a_root(stand_in, method):
    contour = stand_in(flagged_rise)
    r = contour("uvmsm", [0.1], ratio=1.0, chunk=16, solver_chunk=4, method=method)
    assert len(r) == 1 and r.points[0]["status"] == 0
    assert r.points[0]["g_bl"] == pytest.approx(1e-2, rel=1e-5)


def test_input_validation():
    with pytest.raises(ValueError, match="ratio"):
        contour("uvmsm", [0.1])
    with pytest.raises(ValueError, match="unknown"):
        contour("uvmsm", [0.1], ratio=1.0, unknown="epsilon")
    with pytest.raises(ValueError, match="e_dark|epsilon"):
        contour("dark-photon", [0.1], ratio=0.1)
    with pytest.raises(ValueError, match="masses"):
        contour("uvmsm", [-0.1], ratio=1.0)
    with pytest.raises(ValueError, match="method"):
        contour("uvmsm", [0.1], ratio=1.0, method="brent")


# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------


def run_main(capsys, argv):
    try:
        status = cli.main(argv)
    except SystemExit as exc:
        status = exc.code
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_cli_json_shape(stand_in, capsys, tmp_path):
    stand_in(two_branch)
    status, out, err = run_main(
        capsys, ["contour", "--model", "uvmsm", "--m-zp", "0.05:0.2:3", "--ratio", "1", "--chunk", "16", "--json"]
    )
    assert status == 0, err
    lines = [line for line in out.splitlines() if line.strip()]
    assert len(lines) == 1
    data = json.loads(lines[0])
    assert len(data["points"]) == 6
    for p in data["points"]:
        assert set(p) >= {"m_zp", "m_n1", "g_bl", "mechanism", "omega_h2", "status", "sensitivities"}
        assert {"d_ln_g_bl/d_ln_m_zp", "d_ln_g_bl/d_ln_ratio", "d_ln_omega/d_ln_t_reheat"} <= set(p["sensitivities"])
    # --out writes the same JSON to a file and prints the text table
    path = tmp_path / "c.json"
    status, out, err = run_main(
        capsys,
        ["contour", "--model", "uvmsm", "--m-zp", "0.05:0.2:3", "--ratio", "1", "--chunk", "16", "--out", str(path)],
    )
    assert status == 0 and "freeze-in" in out and "freeze-out" in out
    assert json.loads(path.read_text())["points"] == data["points"]


def test_cli_secant_text_table(stand_in, capsys):
    stand_in(two_branch)
    argv = ["contour", "--model", "uvmsm", "--m-zp", "0.1:0.2:2", "--ratio", "1", "--chunk", "16", "--method", "secant"]
    status, out, err = run_main(capsys, argv)
    assert status == 0, err
    rows = [line for line in out.splitlines() if "freeze-" in line]
    assert len(rows) == 4 and all(line.rstrip().endswith("nan") for line in rows)  # no sensitivities


def test_cli_model2_json_keys(stand_in, capsys):
    stand_in(dark_photon_like)
    status, out, err = run_main(
        capsys,
        [
            "contour",
            "--model",
            "dark-photon",
            "--m-ap",
            "0.5:2:2",
            "--ratio",
            "0.2",
            "--epsilon",
            "1e-9",
            "--chunk",
            "16",
            "--json",
        ],
    )
    assert status == 0, err
    data = json.loads(out)
    assert data["unknown"] == "e_dark" and len(data["points"]) == 2
    assert set(data["points"][0]) >= {"m_chi", "m_ap", "epsilon", "e_dark"}


@pytest.mark.parametrize(
    "argv, option",
    [
        (["--model", "uvmsm", "--m-zp", "1:0.1:3", "--ratio", "1"], "--m-zp"),
        (["--model", "uvmsm", "--m-zp", "0.1:1:0", "--ratio", "1"], "--m-zp"),
        (["--model", "uvmsm", "--m-zp", "a:1:3", "--ratio", "1"], "--m-zp"),
        (["--model", "uvmsm", "--m-zp", "0.1:1:3"], "--ratio"),
        (["--model", "uvmsm", "--m-zp", "0.1:1:3", "--ratio", "-1"], "--ratio"),
        (["--model", "uvmsm", "--m-zp", "0.1:1:3", "--ratio", "1", "--target", "0"], "--target"),
        (["--model", "uvmsm", "--m-zp", "0.1:1:3", "--ratio", "1", "--coupling-range", "1:1e-3:5"], "--coupling-range"),
        (["--model", "dark-photon", "--m-ap", "0.1:1:3", "--ratio", "0.1"], "--epsilon"),
        (["--model", "dark-photon", "--m-zp", "0.1:1:3", "--ratio", "0.1", "--epsilon", "1e-9"], "--m-zp"),
    ],
)
def test_cli_bad_input_exit_2(capsys, argv, option):
    status, out, err = run_main(capsys, ["contour", *argv])
    assert status == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("uvmsm-jax: error:") and option in lines[0], err


# ---------------------------------------------------------------------------------------------
# The real relic solver (slow: compiles the Newton kernel for each Settings)
# ---------------------------------------------------------------------------------------------


DP_POINT = {"masses": [0.025], "ratio": 0.4, "fixed": {"epsilon": 3e-5}}
"""A textbook thermal relic of the dark photon: m_A′ = 25 MeV, m_χ = 10 MeV, ε = 3e-5 (e′ = 0.1 gives
Ωh² ≈ 0.19 by freeze-out)."""
NOT_FREEZE_IN = (uj.Mechanism.FREEZE_OUT, uj.Mechanism.PARTIAL_THERMALISATION)


def check_dark_photon_branches(r, settings):
    """Both branches of Ωh²(e′) = 0.12 (docs/equations.md H.3 (4)): freeze-in at small e′ (Ω rises
    with e′) and freeze-out at e′ ~ 0.1–1 (Ω falls), each reproduced by :func:`uvmsm_jax.relic`."""
    freeze_in = {uj.MECHANISMS[m] for m in uj.model_spec("dark-photon").mechanisms if m not in NOT_FREEZE_IN}
    assert len(r) == 2 and not r.no_solution, r.points
    low, high = r.points
    assert low["mechanism"] in freeze_in and high["mechanism"] == "freeze-out", (low, high)
    assert (low["branch"], high["branch"]) == (0, 1)
    assert 1e-14 < low["e_dark"] < 1e-11 and 0.1 < high["e_dark"] < 1.0, (low["e_dark"], high["e_dark"])
    for p in r.points:
        assert p["status"] == 0 and p["epsilon"] == 3e-5 and p["m_chi"] == pytest.approx(0.01)
        model = uj.DarkPhotonDM(p["m_chi"], p["m_ap"], p["epsilon"], p["e_dark"])
        result = uj.relic(model, settings)
        assert int(result.status) == 0 and result.mechanism_name == p["mechanism"]
        assert abs(float(result.omega_h2) / 0.12 - 1) <= 1e-4


# slow: the real solver over 15 coarse points plus secant steps (~2 min); the contour algorithm stays covered by the stand-in tests above
@pytest.mark.slow
def test_real_dark_photon_both_branches():
    """The real solver in every regime, derivative-free (``method="secant"`` reuses the compiled scan
    chunk, which the persistent compilation cache keeps; about a minute on 2 busy cores)."""
    settings = uj.Settings(n_grid=64)
    r = contour("dark-photon", **DP_POINT, settings=settings, coupling_range=(1e-14, 1.0), n_coarse=15, method="secant")
    check_dark_photon_branches(r, settings)


@pytest.mark.slow
def test_real_dark_photon_both_branches_newton():
    """As above with Newton and the IFT sensitivities (compiles the forward-mode kernel: minutes)."""
    settings = uj.Settings(n_grid=64)
    r = contour("dark-photon", **DP_POINT, settings=settings, coupling_range=(1e-14, 1.0), n_coarse=15, solver_chunk=2)
    check_dark_photon_branches(r, settings)
    low, high = r.points
    # freeze-in from thermal A′ decays: Ω ∝ e′² (B20); freeze-out: Ω falls with e′
    assert low["sensitivities"]["d_ln_omega/d_ln_e_dark"] == pytest.approx(2.0, rel=0.02)
    assert high["sensitivities"]["d_ln_omega/d_ln_e_dark"] < -0.5


@pytest.mark.slow
def test_real_both_branches_and_relic_reevaluation():
    # M_N1 = M_Z' = 0.1 GeV: freeze-in at g ~ 1e-6 and freeze-out at g ~ 1e-2 (see a coarse scan)
    r = contour("uvmsm", [0.1], ratio=1.0, solver_chunk=2)
    assert [p["mechanism"] for p in r.points] == ["freeze-in", "freeze-out"]
    assert 1e-7 < r.points[0]["g_bl"] < 1e-5 and 1e-3 < r.points[1]["g_bl"] < 1e-1
    for p in r.points:
        assert p["status"] == 0
        omega = float(uj.relic(uj.UVMSM(p["m_n1"], p["m_zp"], p["g_bl"])).omega_h2)
        assert abs(omega / 0.12 - 1) <= 1e-4


@pytest.mark.slow
def test_real_sensitivities_match_finite_differences():
    """IFT sensitivities against central differences of the contour itself (M_N1 = M_Z' = 0.1 GeV).

    On the freeze-in branch Ωh²(θ) is smooth down to ~1e-10 in ln Ωh² at rtol=1e-10, and the
    difference step is 1e-5. The freeze-out solution carries ~1e-6 non-smooth wiggles in ln Ωh²
    (stiff solver), so there the check uses a 1e-4 step and a 1e-2 tolerance (see the issue-6 notes).
    """
    rtol = 1e-10
    m, ratio = 0.1, 1.0
    branches = (  # coupling range (one root), step, Newton tolerance, accepted difference
        ("freeze-in", (1e-7, 1e-4), 1e-5, 1e-9, 1e-4),
        ("freeze-out", (1e-4, 1e-1), 1e-4, 1e-6, 1e-2),
    )
    for mechanism, coupling_range, h, tol, accept in branches:
        kw = {"solver_chunk": 4, "tol": tol, "coupling_range": coupling_range, "n_coarse": 7}
        settings = uj.Settings(rtol=rtol)

        def solve(masses, ratio=ratio, settings=settings, kw=kw, mechanism=mechanism):
            r = contour("uvmsm", masses, ratio=ratio, settings=settings, **kw)
            assert [p["mechanism"] for p in r.points] == [mechanism] * len(masses)
            assert all(p["status"] == 0 for p in r.points), r.points
            return r.points

        base = solve([m, m * math.exp(h), m * math.exp(-h)])
        s = base[0]["sensitivities"]
        fd_mass = (math.log(base[1]["g_bl"]) - math.log(base[2]["g_bl"])) / (2 * h)
        up, dn = (solve([m], ratio=ratio * math.exp(k * h))[0]["g_bl"] for k in (1, -1))
        fd_ratio = (math.log(up) - math.log(dn)) / (2 * h)
        assert abs(s["d_ln_g_bl/d_ln_m_zp"] - fd_mass) <= accept * max(1.0, abs(fd_mass)), (mechanism, s, fd_mass)
        assert abs(s["d_ln_g_bl/d_ln_ratio"] - fd_ratio) <= accept * max(1.0, abs(fd_ratio)), (mechanism, s, fd_ratio)
        # T_R: an explicit T_R equal to the default 100·max(M), scaled by e^{±h}
        t0 = 100 * m
        gt = [solve([m], settings=uj.Settings(rtol=rtol, t_reheat=t0 * math.exp(k * h)))[0] for k in (0, 1, -1)]
        fd_t = (math.log(gt[1]["g_bl"]) - math.log(gt[2]["g_bl"])) / (2 * h)
        s_t = gt[0]["sensitivities"]
        assert gt[0]["g_bl"] == pytest.approx(base[0]["g_bl"], rel=10 * tol)
        assert abs(s_t["d_ln_g_bl/d_ln_t_reheat"] - fd_t) <= accept * max(1.0, abs(fd_t)), (mechanism, s_t, fd_t)
        # the IFT relation itself
        assert s["d_ln_g_bl/d_ln_ratio"] == pytest.approx(-s["d_ln_omega/d_ln_m_n1"] / s["d_ln_omega/d_ln_g_bl"])


@pytest.mark.slow
def test_real_held_table_kernel_matches_the_full_evaluation():
    """RelicObjective's held-table evaluation (table and its mass/T_R tangents once, one ODE with
    all tangents) against forward mode through uj.relic at the same points: the same ln Ωh² and
    gradient to the ODE's own error at the default rtol (docs/relic.md, "At scale"), and an infinite
    error bound where the held table cannot stand in (the Z′ decays after T_end: the τ range depends
    on g_B−L)."""
    spec = uj.models.model_spec("uvmsm")
    objective = uj.RelicObjective(spec, uj.Settings(), True)
    points = [(0.1, 0.1, 1.4e-6), (0.1, 0.1, 8.0e-3), (6.0, 6.0, 5.5e-2), (0.1, 0.1, 1e-14)]
    p = jnp.asarray([[math.log(m_n1), math.log(m_zp), math.log(g), 0.0] for m_n1, m_zp, g in points])
    held_lo, _, held_jac, error = jax.jit(jax.vmap(lambda q: objective.value_and_jacobian(q, objective.held(q))))(p)
    full_lo, _, full_jac = jax.jit(jax.vmap(lambda q: contour_module._kernel(q, objective)))(p)
    assert np.all(np.isfinite(error[:3])) and np.all(error[:3] <= 1e-6) and np.isinf(error[3])
    np.testing.assert_allclose(held_lo[:3], full_lo[:3], rtol=0, atol=1e-5)
    scale = np.maximum(1.0, np.abs(full_jac[:3]))
    assert np.all(np.abs(held_jac[:3] - full_jac[:3]) <= 2e-3 * scale), (held_jac, full_jac)
    assert abs(float(held_jac[0, 2]) - 4.0) < 0.05 and float(held_jac[2, 2]) < -3.0  # freeze-in ∝ g⁴; freeze-out
