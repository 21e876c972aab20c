"""Grid scans (issue 6): Zarr round trip, compile-once chunks, a real kill -9 + --resume, Dask.

One small grid (2 × 8 points, chunks of 3 → 6 chunks, two of them padded) is used throughout, so the
whole module compiles the chunk function once in this process. The interrupted scan runs the real
``uvmsm-jax scan`` entry point in a subprocess; it and the Dask workers share a persistent JAX
compilation cache (a temporary directory), so only the first of them pays the full compile.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import uvmsm_jax as uj
from uvmsm_jax import cli
from uvmsm_jax._scan import (
    OUTPUT_NAMES,
    ScanMismatchError,
    chunk_traces,
    open_scan,
    scan,
    settings_dict,
)
from uvmsm_jax.cli._common import parse_range

_SCRIPT = shutil.which("uvmsm-jax", path=os.path.dirname(sys.executable)) or shutil.which("uvmsm-jax")
ENTRY = [_SCRIPT] if _SCRIPT else [sys.executable, "-m", "uvmsm_jax"]

M_ZP, G_BL, RATIO, CHUNK = "0.05:0.5:2", "1e-9:1e-2:8", 1.0, 3
GRID = {"m_zp": parse_range(M_ZP).values("log"), "g_bl": parse_range(G_BL).values("log")}
RATIOS = {"m_n1": ("m_zp", RATIO)}
CLI_ARGS = ["scan", "--model", "uvmsm", "--m-zp", M_ZP, "--g-bl", G_BL, "--ratio", str(RATIO), "--chunk", str(CHUNK)]
N_CHUNKS = 6  # blocks of (1, 3) on a (2, 8) grid: 3 + 3 + 2 per row


def assert_bit_identical(a, b):
    for name in OUTPUT_NAMES:
        x, y = np.asarray(a[name].values), np.asarray(b[name].values)
        assert x.dtype == y.dtype and x.shape == y.shape, name
        assert x.tobytes() == y.tobytes(), f"{name} differs:\n{x}\n{y}"


@pytest.fixture(scope="module")
def cache_env(tmp_path_factory):
    """Environment for subprocesses and Dask workers: the session's compilation cache (conftest.py)
    or a temporary one."""
    env = dict(os.environ)
    env.setdefault("JAX_COMPILATION_CACHE_DIR", str(tmp_path_factory.mktemp("jax-cache")))
    env.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
    return env


@pytest.fixture(scope="module")
def killed_scan(tmp_path_factory, cache_env):
    """Start the real CLI scan in a subprocess and kill -9 it once its first chunk is stored.

    Runs in the background while this process computes the reference scan. It has a JAX compilation
    cache of its own: JAX writes a cache entry in place (``jax._src.lru_cache``, no temporary file),
    so a reader of a shared cache could load an entry that this process was still writing, or that
    the kill cut short, and crash (a segmentation fault in the reference scan's cache read, seen
    once on 2026-12-05, when both compiled the same programs at once)."""
    store = str(tmp_path_factory.mktemp("interrupted") / "scan.zarr")
    proc = subprocess.Popen(
        [*ENTRY, *CLI_ARGS, "--out", store, "--no-progress"],
        env={**cache_env, "JAX_COMPILATION_CACHE_DIR": str(tmp_path_factory.mktemp("killed-scan-jax-cache"))},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    state = {"killed": False}
    done_dir = os.path.join(store, ".scan_done")

    def watch():
        while proc.poll() is None:
            if os.path.isdir(done_dir) and any(n.isdigit() for n in os.listdir(done_dir)):
                proc.send_signal(signal.SIGKILL)
                state["killed"] = True
                break
            time.sleep(0.005)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    yield store, proc, thread, state
    if proc.poll() is None:
        proc.kill()


@pytest.fixture(scope="module")
def reference(killed_scan):
    """The uninterrupted single-process scan, in memory."""
    return scan("uvmsm", GRID, ratios=RATIOS, chunk=CHUNK, progress=False)


def test_zarr_round_trip(reference, tmp_path):
    path = str(tmp_path / "rt.zarr")
    ds = scan("uvmsm", GRID, ratios=RATIOS, chunk=CHUNK, out=path, progress=False)
    back = open_scan(path)
    assert_bit_identical(back, reference)
    assert_bit_identical(ds, reference)
    assert back["omega_h2"].dims == ("m_zp", "g_bl")
    np.testing.assert_array_equal(back["m_zp"].values, GRID["m_zp"])
    np.testing.assert_array_equal(back["g_bl"].values, GRID["g_bl"])
    np.testing.assert_array_equal(back["m_n1"].values, RATIO * GRID["m_zp"])
    assert "m_n1" in back.coords and back["m_n1"].dims == ("m_zp",)
    assert back["m_zp"].attrs["units"] == "GeV" and back["g_bl"].attrs["units"] == "1"
    assert back["m_zp"].attrs["spacing"] == "log"
    assert back["t_dec"].attrs["units"] == "GeV"
    assert back["status"].dtype == np.int8 and back["dm_thermalised"].dtype == bool
    assert json.loads(back.attrs["settings"]) == settings_dict(uj.Settings())
    assert back.attrs["uvmsm_jax_version"] == uj.__version__
    assert list(back.attrs["mechanism_names"]) == list(uj.MECHANISMS)
    provenance = json.loads(back.attrs["data_provenance"])
    assert "Saikawa" in provenance["gstar"]
    assert any(k.endswith("gstar_saikawa_shirai_2018.csv") for k in provenance["files_sha256"])
    assert back.attrs["n_chunks"] == N_CHUNKS
    # the grid has both regimes, and every point solved
    assert np.all(back["status"].values == 0)
    mechanisms = set(np.asarray(back["mechanism"].values).ravel().tolist())
    assert {uj.MECHANISMS.index("freeze-in"), uj.MECHANISMS.index("freeze-out")} <= mechanisms


def test_chunk_function_compiles_once(reference):
    # six chunks (two padded from 2 to 3 points) in two scans: one trace of the chunk function
    settings = uj.Settings()
    assert chunk_traces("uvmsm", settings, False, CHUNK) == 1


def test_resume_refuses_a_different_scan(tmp_path, reference):
    path = str(tmp_path / "s.zarr")
    scan("uvmsm", GRID, ratios=RATIOS, chunk=CHUNK, out=path, progress=False)
    with pytest.raises(ScanMismatchError, match=r"settings\.rtol"):
        scan("uvmsm", GRID, ratios=RATIOS, chunk=CHUNK, out=path, resume=True, settings=uj.Settings(rtol=1e-8))
    other = dict(GRID, g_bl=GRID["g_bl"][:-1])
    with pytest.raises(ScanMismatchError, match="grid axis g_bl"):
        scan("uvmsm", other, ratios=RATIOS, chunk=CHUNK, out=path, resume=True)
    with pytest.raises(ScanMismatchError, match="chunking"):
        scan("uvmsm", GRID, ratios=RATIOS, chunk=4, out=path, resume=True)
    with pytest.raises(FileExistsError):
        scan("uvmsm", GRID, ratios=RATIOS, chunk=CHUNK, out=path)
    # resuming a finished store computes nothing and keeps the data
    ds = scan("uvmsm", GRID, ratios=RATIOS, out=path, resume=True, progress=False)
    assert ds.attrs["chunks_computed"] == 0
    assert_bit_identical(ds, reference)


def test_killed_scan_resumes_bit_identical(killed_scan, reference, cache_env):
    store, proc, thread, state = killed_scan
    thread.join(timeout=900)
    proc.wait(timeout=60)
    stderr = proc.stderr.read()
    assert state["killed"], f"the scan finished before it could be killed (rc={proc.returncode}): {stderr[-2000:]}"
    assert proc.returncode == -signal.SIGKILL
    done_before = {int(n) for n in os.listdir(os.path.join(store, ".scan_done")) if n.isdigit()}
    assert 1 <= len(done_before) < N_CHUNKS
    partial = open_scan(store)
    assert np.any(partial["status"].values == -1)  # not computed yet

    out = subprocess.run(
        [*ENTRY, *CLI_ARGS, "--out", store, "--resume", "--json"],
        env=cache_env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    lines = [line for line in out.stdout.splitlines() if line.strip()]
    assert len(lines) == 1
    summary = json.loads(lines[0])
    assert summary["chunks_computed"] == N_CHUNKS - len(done_before)
    assert summary["points"] == 16 and summary["status_counts"] == {"0": 16}
    assert_bit_identical(open_scan(store), reference)


# slow: starts a Dask cluster whose workers load the solver (~70 s); the single-process scan stays covered by test_zarr_round_trip
@pytest.mark.slow
def test_dask_local_cluster_equals_single_process(reference, cache_env, monkeypatch, killed_scan):
    pytest.importorskip("distributed")
    killed_scan[2].join(timeout=900)  # the killed scan is over; the reference filled the compilation cache
    for key in ("JAX_COMPILATION_CACHE_DIR", "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"):
        monkeypatch.setenv(key, cache_env[key])  # inherited by the worker processes
    ds = scan("uvmsm", GRID, ratios=RATIOS, chunk=CHUNK, workers=2, progress=False)
    assert_bit_identical(ds, reference)


@pytest.mark.slow
def test_local_processes_equal_single_process(reference, cache_env, monkeypatch, tmp_path):
    for key in ("JAX_COMPILATION_CACHE_DIR", "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"):
        monkeypatch.setenv(key, cache_env[key])
    ds = scan(
        "uvmsm",
        GRID,
        ratios=RATIOS,
        chunk=CHUNK,
        backend="processes",
        workers=2,
        out=str(tmp_path / "p.zarr"),
        progress=False,
    )
    assert_bit_identical(ds, reference)


# ---------------------------------------------------------------------------------------------
# Command-line contract (no solving)
# ---------------------------------------------------------------------------------------------


def run_main(capsys, argv):
    try:
        status = cli.main(argv)
    except SystemExit as exc:  # argparse errors exit from inside the parser
        status = exc.code
    captured = capsys.readouterr()
    return status, captured.out, captured.err


BASE = ["scan", "--model", "uvmsm", "--ratio", "1", "--out", "unused.zarr"]


@pytest.mark.parametrize(
    "argv, option",
    [
        (["--m-zp", "1:0.1:5", "--g-bl", "1e-9:1e-6:3"], "--m-zp"),  # LO > HI
        (["--m-zp", "0.1:1:0", "--g-bl", "1e-9:1e-6:3"], "--m-zp"),  # N = 0
        (["--m-zp", "0.1:1:-2", "--g-bl", "1e-9:1e-6:3"], "--m-zp"),  # N < 0
        (["--m-zp", "0.1:1:3", "--g-bl", "1e-9:abc:3"], "--g-bl"),  # non-numeric
        (["--m-zp", "0.1:1:3", "--g-bl", "1e-9:1e-6:2.5"], "--g-bl"),  # N not an integer
        (["--m-zp", "0.1:1", "--g-bl", "1e-9:1e-6:3"], "--m-zp"),  # not LO:HI:N
        (["--m-zp", "-1:1:3", "--g-bl", "1e-9:1e-6:3"], "--m-zp"),  # negative
        (["--m-zp", "0.1:inf:3", "--g-bl", "1e-9:1e-6:3"], "--m-zp"),  # infinite
        (["--m-zp", "0.1:1:3", "--g-bl", "1e-9:1e-6:3", "--chunk", "0"], "--chunk"),
        (["--m-zp", "0.1:1:3", "--g-bl", "1e-9:1e-6:3", "--workers", "x"], "--workers"),
        (["--m-zp", "0.1:1:3", "--g-bl", "1e-9:1e-6:3", "--m-n1", "0.1"], "--m-n1"),  # and --ratio
        (["--m-zp", "0.1:1:3", "--g-bl", "1e-9:1e-6:3", "--m-chi", "0.1"], "--m-chi"),  # wrong model
        (["--m-zp", "0.1:1:3", "--g-bl", "1e-9:1e-6:3", "--linear", "m-n2"], "--linear"),
    ],
)
def test_bad_grid_specs_exit_2_one_line(capsys, argv, option):
    status, out, err = run_main(capsys, BASE + argv)
    assert status == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("uvmsm-jax: error:") and option in lines[0], err


def test_bad_grid_spec_real_entry_point():
    proc = subprocess.run(
        [*ENTRY, *BASE, "--m-zp", "1:0.1:5", "--g-bl", "1e-9:1e-6:3"], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 2 and proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "--m-zp" in lines[0] and "HI > LO" in lines[0]


def test_existing_output_needs_resume(capsys, tmp_path):
    path = tmp_path / "exists.zarr"
    path.mkdir()
    status, out, err = run_main(
        capsys,
        ["scan", "--model", "uvmsm", "--m-zp", "0.1:1:2", "--g-bl", "1e-9:1e-6:2", "--ratio", "1", "--out", str(path)],
    )
    assert status == 2 and "--resume" in err and len(err.strip().splitlines()) == 1


def test_resume_mismatch_is_exit_2(capsys, tmp_path):
    path = str(tmp_path / "m.zarr")
    # only the store's metadata is needed for the check: create it without computing anything
    from uvmsm_jax._scan import ScanStore, make_spec

    ScanStore(path, make_spec("uvmsm", GRID, None, RATIOS, uj.Settings(), CHUNK)).create()
    status, out, err = run_main(capsys, [*CLI_ARGS, "--out", path, "--resume", "--statistics", "quantum"])
    assert status == 2 and out == ""
    assert "settings.statistics" in err and len(err.strip().splitlines()) == 1


def test_grid_from_args():
    from uvmsm_jax.cli._common import Parser
    from uvmsm_jax.cli.scan import add_grid_arguments, grid_from_args

    parser = Parser()
    add_grid_arguments(parser)
    args = parser.parse_args(
        [
            "--model",
            "dark-photon",
            "--m-ap",
            "0.1:1:4",
            "--ratio",
            "0.2",
            "--epsilon",
            "1e-10:1e-8:3",
            "--e-dark",
            "1e-5",
            "--linear",
            "m-ap",
        ]
    )
    grid, fixed, ratios = grid_from_args(args)
    np.testing.assert_allclose(grid["m_ap"], np.linspace(0.1, 1, 4))
    np.testing.assert_allclose(grid["epsilon"], np.geomspace(1e-10, 1e-8, 3))
    assert fixed == {"e_dark": 1e-5} and ratios == {"m_chi": ("m_ap", 0.2)}


def test_block_shapes():
    from uvmsm_jax._scan import block_shape

    assert block_shape((200, 200), 64) == (1, 50)
    assert block_shape((200, 200), 4096) == (20, 200)
    assert block_shape((2, 8), 3) == (1, 3)
    assert block_shape((5,), 64) == (5,)
    assert block_shape((3, 4, 5), 40) == (2, 4, 5)
