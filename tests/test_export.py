"""The on-disk cache of compiled solvers (``relic(..., export_cache=DIR)``, used by the CLI)."""

from __future__ import annotations

import concurrent.futures
import functools
import os
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import uvmsm_jax as uj
from uvmsm_jax import _export as export
from uvmsm_jax._export import SUFFIX, call_compiled

MODEL = uj.DarkPhotonDM(0.1, 1.0, 1e-9, 1e-12)
SETTINGS = uj.Settings(n_grid=32)


def test_compiled_solver_is_stored_reused_and_equal(tmp_path):
    plain = uj.relic(MODEL, SETTINGS)
    first = uj.relic(MODEL, SETTINGS, export_cache=tmp_path)
    (stored,) = tmp_path.glob("*" + SUFFIX)
    stamp = stored.stat().st_mtime_ns
    second = uj.relic(MODEL, SETTINGS, export_cache=tmp_path)
    assert stored.stat().st_mtime_ns == stamp  # loaded and run, not compiled again
    assert first.as_dict() == second.as_dict() == plain.as_dict()
    assert first.as_dict()["status"] == 0 and first.as_dict()["omega_h2"] > 0
    assert first.as_dict()["ode_steps"] > 10  # the stiff solve took steps, and the count is reported
    assert isinstance(second.omega_h2, jax.Array) and second.status.dtype == np.int32


@pytest.mark.slow  # ≈ 25 s on 2 cores: the stages of a batch compiled twice (the plain run, then afresh to store)
def test_shared_table_stages_are_stored_reused_and_equal(tmp_path):
    """A batch with repeated masses (solved in stages with shared rate tables) keeps one executable per
    stage; a second call loads them all, and every output equals the plain call's bit for bit."""
    masses, couplings = np.meshgrid([0.1, 0.3], [1e-12, 1e-10, 1e-8], indexing="ij")
    model = uj.DarkPhotonDM(masses, 3.0 * masses, 1e-9, couplings)
    settings = uj.Settings(n_grid=32, mode="paper")  # a mode that collocates: every stage runs
    plain = uj.relic(model, settings)
    first = uj.relic(model, settings, export_cache=tmp_path)
    stored = sorted(tmp_path.glob("*" + SUFFIX))
    assert len(stored) == 5  # the plan, the tables, the collocation candidates, the collocation, the ODE
    stamps = [path.stat().st_mtime_ns for path in stored]
    export._load.cache_clear()  # as in a new process: read from the files
    export._RAN.clear()
    second = uj.relic(model, settings, export_cache=tmp_path)
    assert [path.stat().st_mtime_ns for path in sorted(tmp_path.glob("*" + SUFFIX))] == stamps
    assert np.all(np.asarray(plain.status) == 0)
    for result in (first, second):
        for name in ("omega_h2", "status", "mechanism", "ode_steps", "yield_mediator"):
            np.testing.assert_array_equal(getattr(result, name), getattr(plain, name))


@jax.jit
def _dict_sum(tree):
    return {"total": tree["a"].sum() + tree["b"].sum()}


def test_pytree_arguments_are_keyed_by_their_leaves(tmp_path):
    """An argument may be a dict of arrays (the rate tables the stages exchange): its leaves' shapes
    are part of the key, and the stored executable takes and returns the same pytrees."""
    tree = {"a": np.arange(3.0), "b": np.ones(2)}
    assert call_compiled(tmp_path, _dict_sum, tree) == {"total": 5.0}
    assert call_compiled(tmp_path, _dict_sum, tree) == {"total": 5.0}
    assert len(list(tmp_path.glob("*" + SUFFIX))) == 1
    assert call_compiled(tmp_path, _dict_sum, {"a": np.arange(4.0), "b": np.ones(2)}) == {"total": 8.0}
    assert len(list(tmp_path.glob("*" + SUFFIX))) == 2


@jax.jit
def _slow_trace_sum(x):
    time.sleep(0.3)  # the other threads arrive while the first compiles
    return {"total": jnp.sum(x**2)}


def test_threads_calling_a_missing_executable_store_it_once(tmp_path):
    """Four threads call a program whose executable is not stored yet (the blocks of a batch run on
    every core): one compiles and stores it, the others wait and load it; every result is right."""
    x = np.arange(5.0)
    stamps = []

    def call(_):
        out = call_compiled(tmp_path, _slow_trace_sum, x)
        stamps.append(tuple(p.stat().st_mtime_ns for p in tmp_path.glob("*" + SUFFIX)))
        return float(out["total"])

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        assert list(pool.map(call, range(8))) == [30.0] * 8
    (stored,) = tmp_path.glob("*" + SUFFIX)
    assert set(stamps) == {(stored.stat().st_mtime_ns,)}  # written once, never replaced


@pytest.mark.slow  # 48 s on 2 cores (two solvers compiled twice); the default run covers call_compiled above
def test_momentum_distribution_is_stored_reused_and_equal(tmp_path):
    """``momentum_distribution(..., export_cache=DIR)`` (the ``momentum`` command) keeps its executable
    beside the relic solver's: the second call loads both, and every field equals the plain call's
    (the result unpacked in NumPy may differ from XLA's by rounding in ``lya_margin``)."""
    plain = uj.momentum_distribution(MODEL, SETTINGS)
    first = uj.momentum_distribution(MODEL, SETTINGS, export_cache=tmp_path)
    stored = sorted(tmp_path.glob("*" + SUFFIX))
    assert len(stored) == 2  # the relic solve's and the momentum computation's
    stamps = [path.stat().st_mtime_ns for path in stored]
    second = uj.momentum_distribution(MODEL, SETTINGS, export_cache=tmp_path)
    assert [path.stat().st_mtime_ns for path in stored] == stamps
    assert int(first.status) == 0 and float(first.mean_q) > 0
    for result in (first, second):
        for name, value in vars(plain).items():
            if name == "lya_margin":
                np.testing.assert_allclose(getattr(result, name), value, rtol=1e-14)
            elif isinstance(value, str | float):
                assert getattr(result, name) == value
            else:
                assert isinstance(getattr(result, name), jax.Array)
                np.testing.assert_array_equal(getattr(result, name), value)


@functools.partial(jax.jit, static_argnames="power")
def _power_sum(x, *, power):
    return jnp.sum(jnp.sort(x) ** power)  # a sort: XLA:CPU cannot serialise it once it has run


def test_keys_and_recovery_from_a_bad_file(tmp_path):
    """One file per static argument and argument shape; a corrupt file is compiled again and replaced,
    except in a process that has run that executable already (XLA:CPU cannot serialise an executable
    with a sort after it has run): the call still answers, and a later process stores it."""
    x = np.arange(4.0)
    assert call_compiled(tmp_path, _power_sum, x, power=2) == 14.0
    (stored,) = tmp_path.glob("*" + SUFFIX)
    stamp = stored.stat().st_mtime_ns
    assert call_compiled(tmp_path, _power_sum, x, power=2) == 14.0
    assert stored.stat().st_mtime_ns == stamp
    assert call_compiled(tmp_path, _power_sum, x, power=3) == 36.0
    assert call_compiled(tmp_path, _power_sum, x[:3], power=2) == 5.0
    assert len(list(tmp_path.glob("*" + SUFFIX))) == 3
    stored.write_bytes(b"not an executable")
    assert call_compiled(tmp_path, _power_sum, x, power=2) == 14.0
    assert stored.read_bytes() == b"not an executable"
    jax.clear_caches()  # as in a new process: compiled afresh, and the file is replaced
    assert call_compiled(tmp_path, _power_sum, x, power=2) == 14.0
    assert stored.read_bytes() != b"not an executable"
    assert call_compiled(tmp_path, _power_sum, x, power=2) == 14.0


def test_folder_stays_within_its_budget(tmp_path, monkeypatch):
    """Storing an executable removes the oldest files beyond the folder's budget, never the new one."""
    x = np.arange(4.0)
    jax.clear_caches()  # powers this process has not run: each is stored (see above)
    for power, age in ((6, 200), (7, 100)):
        call_compiled(tmp_path, _power_sum, x, power=power)
        (newest,) = (p for p in tmp_path.glob("*" + SUFFIX) if p.stat().st_mtime > time.time() - 50)
        os.utime(newest, (time.time() - age, time.time() - age))
    oldest, middle = sorted(tmp_path.glob("*" + SUFFIX), key=lambda p: p.stat().st_mtime)
    monkeypatch.setattr(export, "FOLDER_BUDGET_BYTES", oldest.stat().st_size + middle.stat().st_size + 1)
    assert call_compiled(tmp_path, _power_sum, x, power=8) == 6818.0
    remaining = set(tmp_path.glob("*" + SUFFIX))
    assert len(remaining) == 2 and middle in remaining and oldest not in remaining
    monkeypatch.setattr(export, "FOLDER_BUDGET_BYTES", 0)
    assert call_compiled(tmp_path, _power_sum, x, power=9) == 20196.0
    assert len(list(tmp_path.glob("*" + SUFFIX))) == 1  # only the one just stored


def test_traced_inputs_ignore_the_cache(tmp_path):
    """Inside ``jit`` (or a derivative) the inputs are traced: the differentiable path runs, no file is
    written, and the value equals the plain solve. The caller's ``jax.jit`` compiles without the
    package's XLA options (``_programs.XLA_OPTIONS``), so the two programs round differently: 1.0e-6
    apart here, against the ODE's ``rtol`` of 1e-7."""
    solve = jax.jit(lambda e: uj.relic(uj.DarkPhotonDM(0.1, 1.0, 1e-9, e), SETTINGS, export_cache=tmp_path).omega_h2)
    traced = solve(1e-12)
    assert not list(tmp_path.glob("*" + SUFFIX))
    np.testing.assert_allclose(traced, uj.relic(MODEL, SETTINGS).omega_h2, rtol=1e-5)


@pytest.mark.slow
def test_stored_after_a_compilation_cache_hit_loads_in_a_new_process(tmp_path):
    """An executable XLA read from its persistent compilation cache serialises without some of its
    functions, which only a new process notices ("Function … not found"): the stored one is compiled
    afresh. Three processes sharing one XLA cache: a plain solve fills it, the next stores the
    executable, the third must load that file (not compile and store it again), without importing
    the solver libraries (they are only needed to trace a solve)."""
    env = {**os.environ, "JAX_COMPILATION_CACHE_DIR": str(tmp_path / "xla")}
    script = (
        "import sys, uvmsm_jax as uj; "
        "r = uj.relic(uj.DarkPhotonDM(0.1, 1.0, 1e-9, 1e-12), uj.Settings(n_grid=32), export_cache=sys.argv[1] or None); "
        "print(repr(r.as_dict())); print(sorted(set(sys.modules) & {'diffrax', 'optimistix', 'lineax'}))"
    )

    def solve(export_cache: str) -> str:
        result, imported = subprocess.run(
            [sys.executable, "-c", script, export_cache], env=env, capture_output=True, text=True, check=True
        ).stdout.splitlines()
        loaded.append(imported)
        return result

    loaded: list[str] = []
    plain = solve("")
    assert list((tmp_path / "xla").iterdir())  # the solver is in XLA's cache
    stored_dir = tmp_path / "executables"
    assert solve(str(stored_dir)) == plain
    (stored,) = stored_dir.glob("*" + SUFFIX)
    stamp = stored.stat().st_mtime_ns
    assert solve(str(stored_dir)) == plain
    assert stored.stat().st_mtime_ns == stamp  # loaded and run in the third process
    assert loaded == ["['diffrax', 'lineax', 'optimistix']"] * 2 + ["[]"]


def test_package_and_command_line_import_no_solver_library():
    """``import uvmsm_jax`` and building the ``uvmsm-jax`` parser load neither diffrax, optimistix nor
    lineax (≈ 0.5 s of a CLI call); an attribute read through the stand-in gives the real module's."""
    script = (
        "import sys, uvmsm_jax, uvmsm_jax.cli; uvmsm_jax.cli.build_parser(); "
        "print(sorted(set(sys.modules) & {'diffrax', 'optimistix', 'lineax'}))"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
    import diffrax

    from uvmsm_jax import boltzmann

    assert boltzmann.diffrax.Kvaerno5 is diffrax.Kvaerno5


@pytest.mark.parametrize("function, lapack", [("linalg.solve", True), ("sin", False)])
def test_an_executable_that_calls_lapack_runs_in_a_new_process(tmp_path, function, lapack):
    """An LU and triangular solves are LAPACK calls on CPU (the contour's root finder has them), and
    jaxlib looks its LAPACK routines up only when it lowers such a program: a process that loaded a
    stored one without having lowered any crashed with a segmentation fault until loading initialised
    LAPACK (``_export._lapack_ready``). Two processes: one stores the executable, the next loads it.
    An executable without LAPACK calls (the relic solver's kind) loads without that initialisation,
    which imports SciPy (≈ 0.2 s of a warm command's ≈ 1.3 s)."""
    script = (
        "import sys, numpy as np, jax.numpy as jnp, uvmsm_jax; "
        "from uvmsm_jax._export import call_compiled; from uvmsm_jax._programs import jit; "
        "a = np.array([[2.0, 1.0, 0.0], [1.0, 3.0, 1.0], [0.0, 1.0, 4.0]]); "
        f"args = (a, np.ones(3)) if {lapack} else (a,); "
        f"print(repr(np.asarray(call_compiled(sys.argv[1], jit(jnp.{function}), *args)).tolist())); "
        "print('scipy' in sys.modules)"
    )

    def run() -> list[str]:
        return subprocess.run(
            [sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, check=True
        ).stdout.splitlines()

    first, _ = run()
    (stored,) = tmp_path.glob("*" + SUFFIX)
    stamp = stored.stat().st_mtime_ns
    second, scipy_imported = run()
    assert second == first
    assert stored.stat().st_mtime_ns == stamp  # loaded and run in the second process
    assert scipy_imported == str(lapack)
    a = np.array([[2.0, 1.0, 0.0], [1.0, 3.0, 1.0], [0.0, 1.0, 4.0]])
    expected = np.linalg.solve(a, np.ones(3)) if lapack else np.sin(a)
    np.testing.assert_allclose(eval(first), expected, rtol=1e-14)
