"""Relic-solver throughput: vmapped JAX solver vs a SciPy ``solve_ivp(Radau)`` reference.

Runs in one process, on the same parameter points, separately for freeze-out and freeze-in:

* SciPy: the independent reference of the same equations (``tests/scipy_reference.py``), timed on
  a subset of the points (it takes ~0.1–5 s per point) → seconds per point;
* JAX: :func:`uvmsm_jax.relic` on the whole batch (≥ 1024 points by default): compile time (first
  call) reported separately from the steady-state time (the median of ``--repeats`` calls, default
  3, each on the points perturbed anew: the VM's speed varies from one call to the next);
* gradient: forward-mode Jacobian of Ωh² w.r.t. (m_n1, m_zp, g_bl) over the batch, relative to a
  plain solve (a caller's ``jax.jit``), and the package's own batched derivative,
  ``uj.relic(..., elasticities=True)``, relative to ``uj.relic`` on the same points.

Usage: ``python benchmarks/relic_throughput.py [--quick] [--json] [--points N] [--scipy-points K]
[--repeats R] [--stage-jacobian per-stage|per-step] [--solver auto|ode] [--grad-points N]
[--grad-batch B]``
(``--stage-jacobian`` and ``--solver``: ``Settings.stage_jacobian`` and ``Settings.solver``, for
before/after rows; the gradient runs on the first ``--grad-points`` freeze-in points, default all, in
chunks of ``--grad-batch``, default 16: on a GPU, a subset in larger chunks).
``--json`` prints one JSON object (keys include speedup_freeze_out, speedup_freeze_in,
points_per_s_freeze_out, points_per_s_freeze_in, points_per_s_random, steps_per_point_freeze_out,
steps_per_point_freeze_in ({median, p99} ODE steps of the points the ODE solved),
collocated_fraction_freeze_out, collocated_fraction_freeze_in (points solved by collocation, 0 ODE
steps), memory_peak_mb (host), device_memory_peak_mb (a GPU's), grad_over_forward,
elasticities_run_s, elasticities_over_relic). Targets
(2-core CPU, speed issue): speedup ≥ 1000× (freeze-out), ≥ 1000 random points/s, gradient ≤ 2× a
solve.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))

from scipy_reference import relic_scipy

import uvmsm_jax as uj


def regime_points(regime: str, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(m_n1, m_zp, g_bl) log-uniform in a box that lies in the named regime (P1 Fig. 1a/2)."""
    rng = np.random.default_rng(seed)
    m_zp = 10 ** rng.uniform(-2, 1, n)
    if regime == "freeze-out":
        ratio, g = 10 ** rng.uniform(-1, 0, n), 10 ** rng.uniform(-3.5, -2, n)
    else:
        ratio, g = 10 ** rng.uniform(-1.5, 1, n), 10 ** rng.uniform(-12, -10, n)
    return ratio * m_zp, m_zp, g


def time_call(fn, *args):
    start = time.perf_counter()
    out = jax.block_until_ready(fn(*args))
    return time.perf_counter() - start, out


def time_repeated(fn, inputs, repeats: int):
    """Median wall time of ``repeats`` calls ``fn(*inputs(k))``, k = 1…repeats (new inputs each
    time), and the output of the first."""
    times, outputs = zip(*(time_call(fn, *inputs(k)) for k in range(1, repeats + 1)), strict=True)
    return float(np.median(times)), outputs[0]


def perturbed(m_n1, m_zp, g):
    """The points with M_N₁ moved by k × 1e-6 (relative) for the k-th timed call."""
    return lambda k: (m_n1 * (1 + 1e-6 * k), m_zp, g)


def benchmark_regime(regime: str, n: int, n_scipy: int, settings: uj.Settings, repeats: int) -> dict:
    m_n1, m_zp, g = regime_points(regime, n)

    def solve(a, b, c):
        return uj.relic(uj.UVMSM(a, b, c), settings)

    compile_s, _ = time_call(solve, m_n1, m_zp, g)
    run_s, result = time_repeated(solve, perturbed(m_n1, m_zp, g), repeats)
    ok = np.asarray(result.status) == 0
    omega = np.asarray(result.omega_h2)
    steps = np.asarray(result.ode_steps)
    ode_steps = steps[steps > 0] if np.any(steps > 0) else np.zeros(1)

    scipy_times, rel_diffs = [], []
    for i in range(n_scipy):
        start = time.perf_counter()
        reference = relic_scipy(
            m_n1[i] * (1 + 1e-6),
            m_zp[i],
            g[i],
            mode=settings.mode,
            gstar=settings.gstar,
            initial="zero" if regime == "freeze-in" else "equilibrium",
        )
        scipy_times.append(time.perf_counter() - start)
        rel_diffs.append(abs(reference["omega_h2"] / omega[i] - 1.0))
    scipy_per_point = float(np.mean(scipy_times))
    jax_per_point = run_s / n
    return {
        "points": n,
        "ok_fraction": float(ok.mean()),
        "mechanisms": {name: int(np.sum(np.asarray(result.mechanism_name) == name)) for name in uj.MECHANISMS[:4]},
        "jax_compile_s": compile_s,
        "jax_run_s": run_s,
        "points_per_s": n / run_s,
        "steps_per_point": {"median": float(np.median(ode_steps)), "p99": float(np.percentile(ode_steps, 99))},
        "collocated_fraction": float(np.mean(steps == 0)),
        "scipy_points": n_scipy,
        "scipy_s_per_point": scipy_per_point,
        "speedup": scipy_per_point / jax_per_point,
        "max_rel_diff_vs_scipy": float(np.max(rel_diffs)) if rel_diffs else None,
        "_inputs": (m_n1, m_zp, g),
        "_plain_s": run_s,
    }


def benchmark_gradient(inputs, settings: uj.Settings, plain_s: float, n_points: int, batch: int, repeats: int) -> dict:
    m_n1, m_zp, g = (jnp.asarray(x[:n_points]) for x in inputs)

    @jax.jit
    def jacobian(a, b, c):
        def omega(x):
            return uj.relic(uj.UVMSM(x[0], x[1], x[2]), settings).omega_h2

        # chunks of `batch` points keep the forward-mode tangents of the rate tables in memory
        return jax.lax.map(jax.jacfwd(omega), jnp.stack([a, b, c], axis=-1), batch_size=batch)

    compile_s, _ = time_call(jacobian, m_n1, m_zp, g)
    run_s, jac = time_repeated(jacobian, perturbed(m_n1, m_zp, g), repeats)
    # the plain solve of the same points in the same chunking, for a like-for-like ratio
    chunked = jax.jit(
        lambda a, b, c: jax.lax.map(
            lambda x: uj.relic(uj.UVMSM(x[0], x[1], x[2]), settings).omega_h2,
            jnp.stack([a, b, c], axis=-1),
            batch_size=batch,
        )
    )
    time_call(chunked, m_n1, m_zp, g)
    plain_chunked_s, _ = time_repeated(chunked, perturbed(m_n1, m_zp, g), repeats)

    # the package's own batched derivative (uj.relic(..., elasticities=True): blocks on every core, the
    # ODE for every point) against its plain batch of the same points
    def package(elasticities: bool):
        def call(a, b, c):
            return uj.relic(uj.UVMSM(a, b, c), settings, elasticities=elasticities).omega_h2

        return call

    host = [np.asarray(x) for x in (m_n1, m_zp, g)]
    elasticities_compile_s, _ = time_call(package(True), *host)
    time_call(package(False), *host)
    relic_s, _ = time_repeated(package(False), perturbed(*host), repeats)
    elasticities_s, _ = time_repeated(package(True), perturbed(*host), repeats)
    return {
        "elasticities_compile_s": elasticities_compile_s,
        "elasticities_run_s": elasticities_s,
        "elasticities_over_relic": elasticities_s / relic_s,
        "grad_points": n_points,
        "grad_batch": batch,
        "grad_compile_s": compile_s,
        "grad_run_s": run_s,
        "grad_over_forward": run_s / plain_chunked_s,
        "grad_over_batched_forward": run_s / (plain_s * n_points / inputs[0].shape[0]),
        "grad_finite_fraction": float(np.isfinite(np.asarray(jac)).all(axis=-1).mean()),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="256 points, 3 SciPy points per regime")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--points", type=int, default=None)
    parser.add_argument("--scipy-points", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=3, help="timed calls per measure, their median (3)")
    parser.add_argument("--stage-jacobian", choices=("per-stage", "per-step"), default="per-stage")
    parser.add_argument("--solver", choices=("auto", "ode"), default="auto")
    parser.add_argument("--grad-points", type=int, default=None, help="points of the gradient run (default all)")
    parser.add_argument(
        "--grad-batch", type=int, default=16, help="points per chunk of the gradient run and its plain twin (16)"
    )
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    n = args.points or (256 if args.quick else 1024)
    n_scipy = args.scipy_points or (3 if args.quick else 12)
    n_grad = min(args.grad_points or n, n)
    settings = uj.Settings(stage_jacobian=args.stage_jacobian, solver=args.solver)
    report = {
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "jax": jax.__version__,
            "backend": jax.default_backend(),
        },
        "settings": {
            "mode": settings.mode,
            "gstar": settings.gstar,
            "rtol": settings.rtol,
            "stage_jacobian": settings.stage_jacobian,
            "solver": settings.solver,
        },
        "repeats": args.repeats,
    }
    for regime in ("freeze-out", "freeze-in"):
        result = benchmark_regime(regime, n, n_scipy, settings, args.repeats)
        inputs, plain_s = result.pop("_inputs"), result.pop("_plain_s")
        key = regime.replace("-", "_")
        report[key] = result
        report[f"speedup_{key}"] = result["speedup"]
        report[f"points_per_s_{key}"] = result["points_per_s"]
        report[f"steps_per_point_{key}"] = result["steps_per_point"]
        report[f"collocated_fraction_{key}"] = result["collocated_fraction"]
        print(
            f"{regime:>11}: {result['points_per_s']:9.1f} points/s (JAX, {n} points, compile "
            f"{result['jax_compile_s']:.1f} s) | SciPy {result['scipy_s_per_point']:.3f} s/point "
            f"| speedup {result['speedup']:.1f}x | max |ΔΩ/Ω| vs SciPy {result['max_rel_diff_vs_scipy']:.1e}",
            file=sys.stderr if args.json else sys.stdout,
            flush=True,
        )
        if regime == "freeze-in":
            report.update(benchmark_gradient(inputs, settings, plain_s, n_grad, args.grad_batch, args.repeats))
    # distinct random masses and couplings in both regimes: the throughput a scan of random points sees
    regimes = [report["freeze_out"], report["freeze_in"]]
    report["points_per_s_random"] = sum(r["points"] for r in regimes) / sum(r["jax_run_s"] for r in regimes)
    report["memory_peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB
    device_stats = jax.devices()[0].memory_stats() or {}  # None on CPU
    if "peak_bytes_in_use" in device_stats:
        report["device_memory_peak_mb"] = device_stats["peak_bytes_in_use"] / 2**20
    if args.json:
        print(json.dumps(report))
    else:
        for key in ("freeze_out", "freeze_in"):
            steps = report[f"steps_per_point_{key}"]
            print(
                f"{key:>11}: ODE steps per point median {steps['median']:.0f}, p99 {steps['p99']:.0f}; "
                f"collocated {report[f'collocated_fraction_{key}']:.0%}"
            )
        print(
            f"     random: {report['points_per_s_random']:.1f} points/s; peak memory {report['memory_peak_mb']:.0f} MB"
        )
        print(f"   gradient: jacfwd of Ωh² w.r.t. 3 parameters = {report['grad_over_forward']:.2f}x a solve")
        print(
            f"elasticities: uj.relic(..., elasticities=True) {report['elasticities_run_s']:.2f} s = "
            f"{report['elasticities_over_relic']:.2f}x uj.relic on the same points"
        )
        print("targets (2-core CPU): speedup ≥ 1000x freeze-out, ≥ 1000 random points/s, gradient ≤ 2x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
