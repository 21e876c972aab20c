"""Latency of the README's main job on the command line: one cold run, then warm runs.

``uvmsm-jax relic --model uvmsm --m-n1 0.05 --m-zp 0.2 --g-bl 7.36e-13 --json`` (run as
``python -m uvmsm_jax``) in fresh processes sharing a fresh cache folder (``XDG_CACHE_HOME``): the
first run compiles and stores the solver, the later ones load it. Every run must print the same
JSON with status 0.

Usage: ``python benchmarks/cli_latency.py [--runs N] [--json]``. ``--json`` prints one JSON object:
cold_s, warm_s (every warm run), warm_median_s, cold_rss_mb and warm_max_rss_mb (peak resident
memory of the cold run and of the largest warm run), target_warm_s, omega_h2, machine. Target (2-core CPU, speed issue): a warm run ≤ 2 s.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

MAIN_JOB = ["relic", "--model", "uvmsm", "--m-n1", "0.05", "--m-zp", "0.2", "--g-bl", "7.36e-13", "--json"]
TARGET_WARM_S = 2.0


def run_once(env: dict[str, str]) -> tuple[float, float, dict]:
    """Wall time [s], peak resident memory [MB] and parsed output of one main-job process."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvmsm_jax", *MAIN_JOB], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    assert proc.stdout is not None
    stdout = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)  # this child's own resource usage
    seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"the main job exited with status {proc.returncode}")
    rss_mb = usage.ru_maxrss / (1024**2 if platform.system() == "Darwin" else 1024)  # bytes on macOS, KiB on Linux
    return seconds, rss_mb, json.loads(stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=8, help="warm runs after the cold one (default 8)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as cache:
        env = {k: v for k, v in os.environ.items() if k != "JAX_COMPILATION_CACHE_DIR"}
        env["XDG_CACHE_HOME"] = cache  # the CLI's compilation and executable caches, both empty
        cold_s, cold_rss_mb, reference = run_once(env)
        warm_s, warm_rss_mb = [], []
        for _ in range(args.runs):
            seconds, rss_mb, output = run_once(env)
            if output != reference:
                raise SystemExit(f"a warm run printed another result: {output} != {reference}")
            warm_s.append(seconds)
            warm_rss_mb.append(rss_mb)
    if reference["status"] != 0:
        raise SystemExit(f"the main job returned status {reference['status']}")
    result = {
        "cold_s": round(cold_s, 2),
        "warm_s": [round(s, 2) for s in warm_s],
        "warm_median_s": round(statistics.median(warm_s), 2),
        "cold_rss_mb": round(cold_rss_mb),
        "warm_max_rss_mb": round(max(warm_rss_mb)),
        "target_warm_s": TARGET_WARM_S,
        "omega_h2": reference["omega_h2"],
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(f"cold {result['cold_s']} s; warm median {result['warm_median_s']} s over {args.runs} runs")
        print(
            f"  warm runs: {result['warm_s']}; peak memory cold {result['cold_rss_mb']} MB, warm {result['warm_max_rss_mb']} MB"
        )
        print(f"  target: ≤ {TARGET_WARM_S} s warm")


if __name__ == "__main__":
    main()
