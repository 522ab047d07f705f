"""The heavy-light solver behind the simulator protocol of :mod:`lfqcd.simulator`.

``simulate(point, warm_start=None)`` solves the femtoworm operator at one coupling point and one
resolution and returns the scalar observables plus the Isgur-Wise function on a fixed ``w`` grid.
Used by scans (``lfqcd scan``) and by active learning. Operator reuse: the basis and every
coupling-free piece are built once per ``(h, kappa_max)`` in each process and kept in a small
LRU cache; a point only sums the pieces and solves (warm-started from a nearby point's ground
state when the engine passes one).

Inputs (``parameter_defaults``): the couplings of :mod:`lfqcd.couplings` (defaults: the
``illustrative`` preset), the resolution ``h``, ``kappa_max``, and the renormalisation:
``condition`` (``lambda_bar`` | ``renormalized_quark`` | ``none`` | ``fixed``) with
``lambda_bar_target``, ``m_R_sq`` (renormalised quark mass; the self-energy log coefficient is
derived from the couplings, docs/physics.md (R4)) or ``m0_sq``.

Set ``LFQCD_OPERATOR_CACHE=DIR`` to also keep the projected pieces on disk (one ``.npz`` per
resolution and code version, written atomically; a corrupt file is rebuilt).
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from heavy_meson import observables as obs
from heavy_meson.hamiltonian import HeavyLightModel, Resolution, Solution
from heavy_meson.renormalization import RenormalizationCondition, renormalized_solve
from lfqcd.couplings import COUPLING_NAMES, Couplings, get_preset
from lfqcd.errors import InvalidParameterError
from lfqcd.simulator import SimulationOutput

#: Isgur-Wise function is returned on this fixed grid (array "xi", 11 values)
W_GRID = np.linspace(1.0, 2.0, 11)
_CACHE_SIZE = 4


def parameter_defaults() -> dict[str, float | str]:
    """Every accepted input with its default (the illustrative preset at a small resolution)."""
    p = get_preset("illustrative")
    return {
        **p.couplings.to_dict(),
        "h": 0.4,
        "kappa_max": 12.0,
        "condition": "lambda_bar",
        "lambda_bar_target": float(p.lambda_bar_target),
        "m0_sq": float("nan"),
        "m_R_sq": float("nan"),
        "log_factor": float(p.log_factor),
    }


def resolution_params() -> tuple[str, ...]:
    """Inputs that fix the basis and the operator pieces."""
    return ("h", "kappa_max")


def _parse(point: Mapping[str, Any]) -> tuple[Resolution, Couplings, RenormalizationCondition]:
    full = {**parameter_defaults(), **{k: v for k, v in point.items() if k != "backend"}}
    unknown = sorted(set(full) - set(parameter_defaults()))
    if unknown:
        raise InvalidParameterError(f"unknown heavy-meson input(s) {unknown}")
    res = Resolution(float(full["h"]), float(full["kappa_max"]))
    couplings = Couplings.from_mapping({k: full[k] for k in COUPLING_NAMES})
    kind = str(full["condition"])
    m0 = float(full["m0_sq"])
    condition = RenormalizationCondition(
        kind=kind,
        target=float(full["lambda_bar_target"]) if kind == "lambda_bar" else None,
        value=m0 if kind == "fixed" else None,
        m_R_sq=float(full["m_R_sq"]) if kind == "renormalized_quark" else None,
        log_factor=float(full["log_factor"]),
    )
    return res, couplings, condition


def validate(point: Mapping[str, Any]) -> None:
    """Cheap checks (resolution, couplings, renormalisation) before any work is submitted."""
    _parse(point)


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _model(resolution: Resolution) -> HeavyLightModel:
    # optional on-disk cache of the projected operator pieces, shared by workers and runs
    return HeavyLightModel(resolution, jz=0.5, cache_dir=os.environ.get("LFQCD_OPERATOR_CACHE"))


def clear_cache() -> None:
    """Forget every cached basis and operator piece (used to measure rebuild-per-point cost)."""
    _model.cache_clear()


def simulate(point: Mapping[str, Any], *, warm_start: object | None = None) -> SimulationOutput:
    """Solve one coupling point; raises on invalid input or an unconverged solve."""
    res, couplings, condition = _parse(point)
    backend = str(point.get("backend", "auto"))
    model = _model(res)
    v0, m0_guess, previous = _warm(model, warm_start)
    ren = renormalized_solve(model, couplings, condition, n_states=1, backend=backend,
                             m0_guess=m0_guess, v0=v0, previous=previous)
    return _output(model, ren.solution, ren.m0_sq, couplings)


def _warm(model: HeavyLightModel, warm_start: object | None
          ) -> tuple[np.ndarray | None, float | None, Couplings | None]:
    """(block vector, m0_sq, couplings) of a warm state this simulator wrote
    (:attr:`SimulationOutput.warm_state`) that fits ``model``; ``None`` each otherwise."""
    if isinstance(warm_start, tuple) and len(warm_start) == 3:
        vec, m0_prev, prev_couplings = warm_start
        if isinstance(vec, np.ndarray) and vec.shape == (model.dim,):
            return vec, float(m0_prev), prev_couplings
    return None, None, None


def _output(model: HeavyLightModel, sol: Solution, m0_sq: float,
            couplings: Couplings) -> SimulationOutput:
    c = sol.vectors[:, 0]
    scalars = obs.all_scalar_observables(model.basis, c, sol.lambda_bar[0], couplings.G)
    scalars["m0_sq"] = m0_sq
    scalars = {k: float(v) for k, v in scalars.items() if math.isfinite(v)}
    return SimulationOutput(
        observables=scalars,
        arrays={"xi": obs.isgur_wise(model.basis, c, W_GRID)},
        warm_state=(sol.block_vectors[:, 0].copy(), m0_sq, couplings),
        backend=sol.backend,
        residual=float(np.max(sol.residuals)),
    )


def simulate_batch(points: list[Mapping[str, Any]], *,
                   warm_starts: list[object | None]) -> list[SimulationOutput]:
    """Points of one resolution together (scans with ``batch_size > 1``).

    At a given counterterm (``condition`` ``fixed``, ``renormalized_quark`` or ``none``) the
    batch is one block eigensolve (:func:`lfqcd.batched.solve_coefficient_batch`). With the
    ``lambda_bar`` condition every point needs a Newton iteration on ``m0_sq``: the iterations
    run together, one block solve per step over the points not yet converged
    (:func:`_batched_newton`).
    """
    from lfqcd.batched import solve_coefficient_batch

    parsed = [_parse(p) for p in points]
    resolutions = {r for r, _, _ in parsed}
    if len(resolutions) != 1:
        raise InvalidParameterError(f"a batch must share one resolution, got {sorted(resolutions)}")
    model = _model(parsed[0][0])
    device = str(points[0].get("backend", "auto")) == "cupy"
    if any(cond.kind == "lambda_bar" for _, _, cond in parsed):
        if not all(cond.kind == "lambda_bar" for _, _, cond in parsed):
            raise InvalidParameterError("a batch must share one renormalisation condition")
        return _batched_newton(model, points, parsed, warm_starts, device)
    counterterms = [cond.fixed_counterterm(c) for _, c, cond in parsed]
    m0s = [m0 for m0, _ in counterterms]
    coeffs = [model.coefficients(c, m0, m0_log)
              for (_, c, _), (m0, m0_log) in zip(parsed, counterterms, strict=True)]
    starts = [_warm(model, w)[0] for w in warm_starts]
    pieces = model.pieces._on_device() if device else model.pieces.pieces
    results = solve_coefficient_batch(pieces, coeffs, 1, starts=starts, device=device)
    outs = []
    for (_, c, _), m0, co, r in zip(parsed, m0s, coeffs, results, strict=True):
        outs.append(_output(model, model.solution(r, c, m0), co["m0_sq"], c))
    return outs


#: batched Newton steps before the points still unconverged continue one by one
NEWTON_BATCH_STEPS = 12


def _batched_newton(model: HeavyLightModel, points: list[Mapping[str, Any]],
                    parsed: list[tuple[Resolution, Couplings, RenormalizationCondition]],
                    warm_starts: list[object | None], device: bool) -> list[SimulationOutput]:
    """The ``lambda_bar`` condition for a batch: every Newton step on ``m0_sq``
    (:func:`heavy_meson.renormalization.newton_step`, the per-point safeguard) is one block
    solve of the points not yet converged, each warm-started from its previous vector. Points
    still unconverged after :data:`NEWTON_BATCH_STEPS` continue alone through :func:`simulate`
    (with its reachability checks and messages)."""
    from heavy_meson.renormalization import first_order_guess, newton_step
    from lfqcd.batched import solve_coefficient_batch

    n = len(points)
    pieces = model.pieces._on_device() if device else model.pieces.pieces
    x = [c.m**2 for _, c, _ in parsed]
    starts: list[np.ndarray | None] = [None] * n
    for b, w in enumerate(warm_starts):
        vec, m0_prev, previous = _warm(model, w)
        if vec is not None:
            starts[b], x[b] = vec, m0_prev
            if isinstance(previous, Couplings):  # move m0_sq to first order (as per point)
                x[b] = first_order_guess(model, parsed[b][1], previous, m0_prev, vec)
    lo, hi = [-math.inf] * n, [math.inf] * n
    outs: list[SimulationOutput | None] = [None] * n
    active = list(range(n))
    for _ in range(NEWTON_BATCH_STEPS):
        coeffs = [model.coefficients(parsed[b][1], x[b]) for b in active]
        results = solve_coefficient_batch(pieces, coeffs, 1, starts=[starts[b] for b in active],
                                          device=device)
        still = []
        for b, r in zip(active, results, strict=True):
            _, c, cond = parsed[b]
            sol = model.solution(r, c, x[b])
            f = sol.lambda_bar[0] - float(cond.target)
            if abs(f) <= cond.tolerance:
                outs[b] = _output(model, sol, x[b], c)
                continue
            deriv = 0.5 * model.expectation("m0_sq", sol.block_vectors[:, 0])
            x[b], lo[b], hi[b] = newton_step(x[b], f, deriv, lo[b], hi[b])
            starts[b] = sol.block_vectors[:, 0]
            still.append(b)
        active = still
        if not active:
            break
    for b in active:
        outs[b] = simulate(points[b], warm_start=(starts[b], x[b], parsed[b][1]))
    return [o for o in outs if o is not None]
