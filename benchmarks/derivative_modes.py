"""A UνMSM derivative's two parts in forward mode (the package's) and in reverse mode (an adjoint).

Ωh²'s derivative in the model's 3 fields has two parts: the rate table's Jacobian in the fields and the
ODE's derivative in its inputs (the table, the τ range). This script times each part both ways on the
same freeze-in points as ``relic_throughput.py`` (chunks of ``--batch``, one ``jax.jit`` each):

* tables: the point's rate table (``pipeline.point_rate_table``); forward mode along the 3 fields
  (``jax.jvp``, as the package does); reverse mode (``jax.vjp`` of the table, applied to one cotangent:
  what an adjoint needs once per output).
* ODE: the package's solve (``boltzmann.solve``: Kvaerno5, its stages' root finder); forward mode along
  the 3 fields' table and τ-range tangents (the package's forward sensitivities,
  ``_sensitivities.integrate``); reverse mode by diffrax's discrete adjoint
  (``diffrax.RecursiveCheckpointAdjoint``, the default for ``jax.grad`` through ``diffeqsolve``) of the
  same Kvaerno5 solve, its gradient in the table and τ range contracted with the same tangents, so
  that both give d Y_DM(τ_end)/d(field) — compared (``max_rel_diff``, of each point's largest).

Usage: ``python benchmarks/derivative_modes.py [--points N] [--batch B] [--repeats R]
[--checkpoints C] [--json]``. Times are medians of ``--repeats`` calls, programs called in random
order; ``--json`` prints one JSON object (``*_ms`` and ``*_over_*`` ratios, ``max_rel_diff``,
``machine``). The speed issue asks for mass derivatives "by forward mode or an adjoint, whichever is
cheaper — measure both": this is that measurement.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from relic_throughput import regime_points

import uvmsm_jax as uj
from uvmsm_jax import boltzmann as bz
from uvmsm_jax._implicit_stages import STAGE_ROOT_FINDERS
from uvmsm_jax._relic import _parameters_of_row
from uvmsm_jax._sensitivities import _state_norm
from uvmsm_jax.pipeline import _ode_inputs, classify, configure, point_rate_table, prepare

SETTINGS = uj.Settings()
CONFIG = configure(uj.UVMSM(1.0, 1.0, 1e-11), SETTINGS)
SYSTEM = CONFIG.physics.system


def ode_inputs(row):
    """The ODE's inputs at one point (m_n1, m_zp, g_bl) as ``pipeline.solve`` forms them: (table,
    conversion weight, adiabatic (as a float), initial state, τ_start, τ_end, atol)."""
    p = prepare(_parameters_of_row(row, CONFIG, True), CONFIG)
    state0, weight, adiabatic, atol = _ode_inputs(p, classify(p, CONFIG), CONFIG)
    return p.table, weight, adiabatic.astype(float), state0, p.tau_start, p.tau_end, atol


def with_field_tangents(row):
    """:func:`ode_inputs` and their tangents along each of the 3 fields (leading axis 3)."""
    return jax.vmap(lambda d: jax.jvp(ode_inputs, (row,), (d,)), out_axes=(None, 0))(jnp.eye(3))


def package_dm_yield(table, weight, adiabatic, state0, tau_start, tau_end, atol):
    """Y_DM(τ_end) by the package's solve (forward mode: its sensitivities)."""
    solution = bz.solve(
        table, SYSTEM, weight, adiabatic > 0.5, state0, tau_start, tau_end, SETTINGS.rtol, atol, SETTINGS.max_steps
    )
    return solution.ys[-1, 0]


def adjoint_dm_yield(table, weight, adiabatic, state0, tau_start, tau_end, atol, checkpoints):
    """Y_DM(τ_end) by the same Kvaerno5 solve as ``boltzmann.solve`` (its first stage, root finder and
    controller), differentiable in reverse mode by diffrax's ``RecursiveCheckpointAdjoint``."""
    args = (table, SYSTEM, weight, adiabatic > 0.5)
    solution = diffrax.diffeqsolve(
        diffrax.ODETerm(bz.right_hand_side),
        diffrax.Kvaerno5(root_finder=STAGE_ROOT_FINDERS[SETTINGS.stage_jacobian]),
        t0=tau_start,
        t1=tau_end,
        dt0=None,
        y0=state0,
        args=args,
        solver_state=(jnp.array(False), bz.right_hand_side(tau_start, state0, args)),
        stepsize_controller=diffrax.PIDController(
            rtol=SETTINGS.rtol, atol=atol, pcoeff=0.3, icoeff=0.3, norm=_state_norm
        ),
        max_steps=SETTINGS.max_steps,
        adjoint=diffrax.RecursiveCheckpointAdjoint(checkpoints=checkpoints),
        throw=False,
    )
    return solution.ys[-1, 0]


def ode_forward(point):
    (table, weight, adiabatic, state0, t0, t1, atol), (table_dots, *_, t0_dots, t1_dots, _) = point

    def dm_yield(tab, a, b):
        return package_dm_yield(tab, weight, adiabatic, state0, a, b, atol)

    def along(table_dot, t0_dot, t1_dot):
        return jax.jvp(dm_yield, (table, t0, t1), (table_dot, t0_dot, t1_dot))[1]

    return jax.vmap(along)(table_dots, t0_dots, t1_dots)


def ode_adjoint(point, checkpoints):
    (table, weight, adiabatic, state0, t0, t1, atol), (table_dots, *_, t0_dots, t1_dots, _) = point
    gradient = eqx.filter_grad(
        lambda x: adjoint_dm_yield(x[0], weight, adiabatic, state0, x[1], x[2], atol, checkpoints)
    )((table, t0, t1))

    def contract(table_dot, t0_dot, t1_dot):
        pairs = zip(jax.tree_util.tree_leaves(gradient[0]), jax.tree_util.tree_leaves(table_dot), strict=True)
        return sum(jnp.vdot(g, d) for g, d in pairs) + gradient[1] * t0_dot + gradient[2] * t1_dot

    return jax.vmap(contract)(table_dots, t0_dots, t1_dots)


def ode_plain(point):
    return package_dm_yield(*point[0])


def table_of_row(row):
    return point_rate_table(_parameters_of_row(row, CONFIG, True), CONFIG)


def table_forward(row):
    return jax.vmap(lambda d: jax.jvp(table_of_row, (row,), (d,))[1])(jnp.eye(3))


def table_reverse(row):
    table, pullback = jax.vjp(table_of_row, row)
    return pullback(jax.tree_util.tree_map(jnp.ones_like, table))[0]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=256, help="freeze-in points (256)")
    parser.add_argument("--batch", type=int, default=16, help="points per chunk (16)")
    parser.add_argument("--repeats", type=int, default=5, help="timed calls of each program (5)")
    parser.add_argument(
        "--checkpoints", type=int, default=None, help="RecursiveCheckpointAdjoint's (default: diffrax's)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)

    rows = jnp.stack(regime_points("freeze-in", args.points), axis=-1)

    def chunked(f):
        return jax.jit(lambda x: jax.lax.map(f, x, batch_size=args.batch))

    points = chunked(with_field_tangents)(rows)
    programs = {
        "table": (chunked(table_of_row), rows),
        "table_forward": (chunked(table_forward), rows),
        "table_reverse": (chunked(table_reverse), rows),
        "ode": (chunked(ode_plain), points),
        "ode_forward": (chunked(ode_forward), points),
        "ode_adjoint": (chunked(lambda p: ode_adjoint(p, args.checkpoints)), points),
    }
    outputs = {name: np.asarray(jax.block_until_ready(f(x))) for name, (f, x) in programs.items()}
    times: dict[str, list[float]] = {name: [] for name in programs}
    order = np.random.default_rng(0)
    for _ in range(args.repeats):
        for name in order.permutation(list(programs)):
            f, x = programs[name]
            start = time.perf_counter()
            jax.block_until_ready(f(x))
            times[name].append(time.perf_counter() - start)
    ms = {name: 1e3 * float(np.median(t)) for name, t in times.items()}
    forward, adjoint = outputs["ode_forward"], outputs["ode_adjoint"]
    scale = np.max(np.abs(forward), axis=-1, keepdims=True)
    report = {
        "points": args.points,
        "batch": args.batch,
        **{f"{name}_ms": value for name, value in ms.items()},
        "table_forward_over_table": ms["table_forward"] / ms["table"],
        "table_reverse_over_table": ms["table_reverse"] / ms["table"],
        "ode_forward_over_ode": ms["ode_forward"] / ms["ode"],
        "ode_adjoint_over_ode": ms["ode_adjoint"] / ms["ode"],
        "max_rel_diff": float(np.max(np.abs(adjoint - forward) / np.where(scale > 0, scale, 1.0))),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, jax {jax.__version__} {jax.default_backend()}",
    }
    if args.json:
        print(json.dumps(report))
    else:
        for key, value in report.items():
            print(f"{key}: {value:.4g}" if isinstance(value, float) else f"{key}: {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
