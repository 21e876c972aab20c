"""Benchmark: grid scans and Ωh² = 0.12 contours (issue 6), in one process.

    python benchmarks/scan_contour.py            # 200×200 scan, contour at 200 masses (≈ 10 min on 2 CPU cores)
    python benchmarks/scan_contour.py --quick    # 6×200 scan, contour at 6 masses (minutes, mostly compiling)
    python benchmarks/scan_contour.py --json     # one JSON object on stdout
    python benchmarks/scan_contour.py --solver ode   # Settings.solver, for before/after rows

What is measured (UνMSM, M_N₁ = r·M_Z′, default Settings, M_Z′ in 0.01–10 GeV, g in 1e-13–1):

* the (M_Z′, g_BL) scan: compile time, steady throughput, total; with ``--quick`` (6 masses × the
  full 200 couplings, so the chunks are those of the 200 × 200 scan) ``scan_200x200_s`` is the
  compile time plus 40 000 points at the throughput of a second, warm pass (``"extrapolated": true``);
* the contour at the scan's masses by gradient root finding (:func:`uvmsm_jax.contour`:
  bracketing scan + optimistix Newton, every branch) against grid + linear interpolation of
  ln Ωh² in ln g on the scan itself: times and accuracy of each. The accuracy of a contour point is
  |Δ ln g| = |ln(Ωh²(g)/0.12)| / |∂ ln Ωh²/∂ ln g| with Ωh²(g) re-evaluated through the relic solver;
* optax (L-BFGS on (ln Ωh² − ln 0.12)²) against optimistix Newton on a few masses (times include
  each method's compile, the dominant cost on CPU).

Side by side: every time is printed with the ratios that compare them.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import sys
import time

import numpy as np


def _machine() -> str:
    import jax

    dev = jax.devices()[0]
    cpu = platform.processor() or platform.machine()
    return f"{jax.default_backend()} ({dev.device_kind}), {os.cpu_count()} CPU cores ({cpu}), jax {jax.__version__}"


def _grid_contour(m_zp, g, omega, target):
    """Roots of ln Ω(ln g) − ln target along each row by linear interpolation: list of (i, g)."""
    f = np.log(omega) - math.log(target)
    u = np.log(g)
    out = []
    for i in range(len(m_zp)):
        row = f[i]
        for j in range(len(u) - 1):
            a, b = row[j], row[j + 1]
            if np.isfinite(a) and np.isfinite(b) and (a < 0) != (b < 0):
                out.append((i, float(np.exp(u[j] - a * (u[j + 1] - u[j]) / (b - a)))))
    return out


def _log_g_errors(kind, points, settings, chunk, target):
    """|Δ ln g| of each contour point from Ωh² re-evaluated with the relic solver."""
    from uvmsm_jax import evaluate

    if not points:
        return np.array([]), np.array([])
    params = {k: np.array([p[k] for p in points]) for k in ("m_n1", "m_zp", "g_bl")}
    out = evaluate(kind, params, settings, chunk)
    slope = np.array([p["sensitivities"]["d_ln_omega/d_ln_g_bl"] for p in points])
    return np.abs(np.log(out["omega_h2"] / target)) / np.abs(slope), np.abs(out["omega_h2"] / target - 1)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (minutes; the 200x200 time is extrapolated)")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    parser.add_argument("--n-mass", type=int, help="masses (scan rows and contour points); default 200, quick 6")
    parser.add_argument(
        "--n-g",
        type=int,
        help="couplings per mass in the scan; default 200 (also with --quick: the chunks of the full scan)",
    )
    parser.add_argument("--ratio", type=float, default=1.0, help="M_N1/M_Z' (default 1: both branches exist)")
    parser.add_argument("--chunk", type=int, default=None, help="scan chunk (default: uvmsm_jax.scan's, 64 on CPU)")
    parser.add_argument("--solver", choices=("auto", "ode"), default="auto", help="Settings.solver (default auto)")
    parser.add_argument(
        "--optax-masses", type=int, default=None, help="masses for optax vs optimistix (default 4, quick 1)"
    )
    args = parser.parse_args(argv)

    log = sys.stderr if args.json else sys.stdout
    with contextlib.redirect_stdout(sys.stderr) if args.json else contextlib.nullcontext():
        result = run(args, log)
    if args.json:
        print(json.dumps(result, allow_nan=False, default=lambda x: None))
    return 0


def run(args, log) -> dict:
    import uvmsm_jax as uj
    from uvmsm_jax import contour, scan
    from uvmsm_jax._scan import compute_chunk, make_spec

    n_mass = args.n_mass or (6 if args.quick else 200)
    n_g = args.n_g or 200
    n_optax = args.optax_masses or (1 if args.quick else 4)
    target = 0.12
    settings = uj.Settings(solver=args.solver)
    m_zp = np.geomspace(0.01, 10.0, n_mass)
    g = np.geomspace(1e-13, 1.0, n_g)
    grid = {"m_zp": m_zp, "g_bl": g}
    ratios = {"m_n1": ("m_zp", args.ratio)}
    chunk = args.chunk
    spec = make_spec("uvmsm", grid, None, ratios, settings, chunk)
    print(f"machine: {_machine()}", file=log)
    print(
        f"scan {n_mass} x {n_g} (M_Z' x g_BL), M_N1 = {args.ratio:g} M_Z', chunks of {spec.size} points "
        f"(blocks {spec.block}, {spec.n_chunks} chunks)",
        file=log,
    )

    # --- scan: cold (compiles every stage some chunk needs), then warm ---------------------------
    t0 = time.perf_counter()
    compute_chunk(spec, 0)
    first_chunk_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    ds = scan("uvmsm", grid, ratios=ratios, settings=settings, chunk=chunk, progress=not args.json)
    cold_s = time.perf_counter() - t0
    extrapolated = (n_mass, n_g) != (200, 200)
    steady_s = cold_s
    if extrapolated:  # a small scan's first pass is mostly compiling: time a warm pass
        t0 = time.perf_counter()
        ds = scan("uvmsm", grid, ratios=ratios, settings=settings, chunk=chunk, progress=not args.json)
        steady_s = time.perf_counter() - t0
    n_points = n_mass * n_g
    rate = n_points / steady_s
    compile_s = first_chunk_s + cold_s - steady_s  # the first chunk and the cold scan, less a warm scan
    scan_s = compile_s + steady_s
    scan_200 = compile_s + 40000 / rate if extrapolated else scan_s
    status = np.asarray(ds["status"].values)
    print(
        f"  compile {compile_s:.1f} s (first chunk {first_chunk_s:.1f} s, cold scan {cold_s:.1f} s); warm: {n_points} points in {steady_s:.1f} s "
        f"({rate:.1f} points/s, {1e3 / rate:.1f} ms/point); status != 0 at {int((status != 0).sum())} points",
        file=log,
    )
    print(
        f"  200x200 scan: {scan_200:.0f} s" + (" (extrapolated from the measured rate)" if extrapolated else ""),
        file=log,
    )

    # --- grid + interpolation ------------------------------------------------------------------
    t0 = time.perf_counter()
    omega = np.where(status == 0, np.asarray(ds["omega_h2"].values), np.nan)
    grid_roots = _grid_contour(m_zp, g, omega, target)
    interp_s = time.perf_counter() - t0
    grid_contour_s = scan_s + interp_s

    # --- gradient contour --------------------------------------------------------------------------
    t0 = time.perf_counter()
    res = contour("uvmsm", m_zp, ratio=args.ratio, target=target, settings=settings)
    contour_s = time.perf_counter() - t0
    contour_200 = contour_s
    if n_mass != 200:  # extrapolate: compile once (cold - warm) + 200 masses at the warm rate
        t0 = time.perf_counter()
        contour("uvmsm", m_zp, ratio=args.ratio, target=target, settings=settings)
        warm = time.perf_counter() - t0
        contour_200 = (contour_s - warm) + warm * 200 / n_mass
        print(f"contour warm rerun: {warm:.1f} s -> 200 masses ~ {contour_200:.0f} s (extrapolated)", file=log)
    ok = [p for p in res.points if p["status"] == 0]
    dlng, domega = _log_g_errors("uvmsm", ok, settings, spec.size, target)
    max_err = float(dlng.max()) if dlng.size else float("nan")
    branches = {}
    for p in res.points:
        branches[p["mechanism"]] = branches.get(p["mechanism"], 0) + 1
    print(
        f"contour at {n_mass} masses (gradient root finding): {contour_s:.1f} s "
        f"(brackets {res.timings['brackets_s']:.1f} s incl. compile, Newton {res.timings['solve_s']:.1f} s incl. "
        f"compile; {int(res.timings['coarse_evaluations'])} bracketing evaluations, {len(res.points)} solutions "
        f"{branches}, {int(res.timings['fallbacks'])} bisection fallbacks, "
        f"{sum(p['status'] != 0 for p in res.points)} failed)",
        file=log,
    )
    print(
        f"  accuracy: max |d ln g| = {max_err:.2e}, max |Omega/0.12 - 1| = "
        f"{float(domega.max()) if domega.size else float('nan'):.2e} (re-evaluated)",
        file=log,
    )

    # grid accuracy against the gradient contour (same mass, nearest root)
    grid_err = []
    by_mass = {}
    for p in ok:
        by_mass.setdefault(int(np.argmin(np.abs(m_zp - p["m_zp"]))), []).append(p["g_bl"])
    for i, gg in grid_roots:
        ref = by_mass.get(i)
        if ref:
            j = int(np.argmin(np.abs(np.log(np.asarray(ref) / gg))))
            grid_err.append(abs(gg / ref[j] - 1))
    grid_max_err = float(max(grid_err)) if grid_err else float("nan")
    print(
        f"grid + interpolation on the {n_mass}x{n_g} scan: {grid_contour_s:.1f} s (scan {scan_s:.1f} s + "
        f"interpolation {interp_s * 1e3:.1f} ms), {len(grid_roots)} roots, max |g/g_contour - 1| = "
        f"{grid_max_err:.2e}",
        file=log,
    )
    speedup_here = grid_contour_s / contour_s
    speedup = scan_200 / contour_200  # the grid approach needs the 200x200 scan
    print(
        f"side by side: contour {contour_s:.1f} s vs grid {grid_contour_s:.1f} s at this size -> {speedup_here:.2f}x; "
        f"at 200 masses x 200 couplings: contour {contour_200:.0f} s vs grid {scan_200:.0f} s -> {speedup:.2f}x"
        + (" (extrapolated)" if extrapolated else "")
        + f"; accuracy {max_err:.1e} vs {grid_max_err:.1e} (grid with {n_g} couplings per mass)",
        file=log,
    )

    # --- optax vs optimistix -----------------------------------------------------------------------
    subset = m_zp[np.linspace(0, n_mass - 1, n_optax).astype(int)]
    timings = {}
    solutions = {}
    for method in ("newton", "optax"):
        t0 = time.perf_counter()
        r = contour("uvmsm", subset, ratio=args.ratio, settings=settings, method=method, solver_chunk=4)
        cold = time.perf_counter() - t0
        t0 = time.perf_counter()
        r = contour("uvmsm", subset, ratio=args.ratio, settings=settings, method=method, solver_chunk=4)
        warm = time.perf_counter() - t0
        timings[method] = {
            "cold_s": cold,
            "warm_s": warm,
            "solve_warm_s": r.timings["solve_s"],
            "iterations_mean": float(np.mean(r.array("iterations"))) if len(r) else float("nan"),
            "failed": int(sum(p["status"] != 0 for p in r.points)),
            "solutions": len(r),
        }
        solutions[method] = r.array("g_bl")
        print(
            f"{method:>7} on {n_optax} masses: cold {cold:.1f} s (incl. compile), warm {warm:.1f} s "
            f"(root finding {r.timings['solve_s']:.2f} s, mean iterations {timings[method]['iterations_mean']:.1f}, "
            f"{timings[method]['failed']} failed of {len(r)})",
            file=log,
        )
    agree = (
        float(np.max(np.abs(solutions["optax"] / solutions["newton"] - 1)))
        if solutions["optax"].shape == solutions["newton"].shape and solutions["newton"].size
        else float("nan")
    )
    ratio_warm = timings["optax"]["solve_warm_s"] / timings["newton"]["solve_warm_s"]
    print(
        f"side by side: optax / optimistix root-finding time (warm) = {ratio_warm:.2f}x; max |g_optax/g_newton - 1| "
        f"= {agree:.1e}",
        file=log,
    )

    return {
        "machine": _machine(),
        "quick": bool(args.quick),
        "n_mass": n_mass,
        "n_g": n_g,
        "ratio": args.ratio,
        "chunk": spec.size,
        "scan_compile_s": compile_s,
        "scan_s": scan_s,
        "scan_points_per_s": rate,
        "scan_200x200_s": scan_200,
        "extrapolated": extrapolated,
        "grid_contour_s": grid_contour_s,
        "grid_max_rel_err": grid_max_err,
        "contour_200_s": contour_200,
        "contour_s": contour_s,
        "contour_solutions": len(res.points),
        "contour_failed": int(sum(p["status"] != 0 for p in res.points)),
        "contour_branches": branches,
        "contour_max_rel_err": max_err,
        "contour_vs_grid_speedup": speedup,
        "contour_vs_grid_speedup_this_size": speedup_here,
        "optax_vs_optimistix": {**timings, "solve_time_ratio_warm": ratio_warm, "max_rel_diff": agree},
    }


if __name__ == "__main__":
    sys.exit(main())
