r"""An analytic stand-in simulator for active learning (import string
``"mlsurrogate.active.simulators.standin:simulate"``): milliseconds per point, localised structure.

It follows the simulator protocol of :mod:`lfqcd.simulator` exactly (so it runs through the
scan executors and the scan store like the heavy-meson solver) and needs neither numba nor
torch, so worker processes start fast. Inputs are three "couplings" ``x1, x2, x3`` (defaults
0.5; any box inside the unit cube is meaningful) and two test knobs:

``fail_radius`` (default 0)
    points closer than this to ``(x1, x2) = (0.9, 0.9)`` raise ``RuntimeError`` ("did not
    converge"), like a solver that fails in a corner of the coupling space;
``work_s`` (default 0)
    burn this many seconds of CPU per point (a busy loop of small matrix products) to mimic a
    CPU-bound diagonalisation of known cost - used by the streaming benchmark.

.. math::

    r &= \sqrt{(x_1 - 0.35)^2 + (x_2 - 0.45)^2},\qquad
    F = \tanh\big((r - 0.25)/0.03\big) \quad\text{(a sharp circular front)}\\
    B &= \exp\!\big(-[(x_1 - 0.8)^2 + (x_2 - 0.2)^2]/(2\cdot 0.08^2)\big)
        \quad\text{(a localised bump)}\\
    E &= \sin(1.5 x_1)\cos x_2 + 0.3 x_3 + 0.5 F,\quad
    \mathrm{order} = (1 - F)/2,\quad \mathrm{peak} = B + 0.1 x_2\\
    \xi(w) &= \exp\!\big(-(0.3 + 0.4\,\mathrm{order} + 0.2 x_3)(w - 1)\big),
        \quad w \in \{1, 1.1, \dots, 2\}

Outputs: scalars ``E``, ``order``, ``peak`` and the 11-point array ``xi`` (``xi[0] = 1``, like
the Isgur-Wise function of the real simulator). Away from the front and the bump everything is
smooth, so a surrogate's error concentrates in two small regions: the case where uncertainty
sampling should beat uniform sampling.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from lfqcd.errors import InvalidParameterError
from lfqcd.simulator import BACKEND_KEY, SimulationOutput

#: the curve ``xi`` is returned on this grid
W_GRID = np.linspace(1.0, 2.0, 11)
FAIL_CENTRE = (0.9, 0.9)

_DEFAULTS: dict[str, float] = {
    "x1": 0.5, "x2": 0.5, "x3": 0.5, "fail_radius": 0.0, "work_s": 0.0,
}


def parameter_defaults() -> dict[str, float]:
    """Every accepted input with its default."""
    return dict(_DEFAULTS)


def resolution_params() -> tuple[str, ...]:
    """The stand-in has no resolution: every point shares one (empty) cache group."""
    return ()


def validate(point: Mapping[str, Any]) -> None:
    """Reject non-finite inputs and negative knobs (message names the value)."""
    for name in _DEFAULTS:
        v = point.get(name, _DEFAULTS[name])
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise InvalidParameterError(f"stand-in input {name} must be a finite number, got {v!r}")
    for name in ("fail_radius", "work_s"):
        if float(point.get(name, 0.0)) < 0:
            raise InvalidParameterError(f"stand-in input {name} must be >= 0, got {point[name]!r}")


def _burn(seconds: float) -> None:
    """Busy CPU work for ``seconds`` (one thread: small dense products)."""
    if seconds <= 0:
        return
    a = np.full((48, 48), 1.0 / 48)
    t_end = time.perf_counter() + seconds
    while time.perf_counter() < t_end:
        a = a @ a
        a /= a.sum()


def evaluate(x1: np.ndarray, x2: np.ndarray, x3: np.ndarray) -> dict[str, np.ndarray]:
    """The stand-in observables for arrays of inputs (vectorised; ``xi`` has shape ``(N, 11)``)."""
    x1, x2, x3 = (np.asarray(v, dtype=float) for v in (x1, x2, x3))
    r = np.hypot(x1 - 0.35, x2 - 0.45)
    front = np.tanh((r - 0.25) / 0.03)
    bump = np.exp(-((x1 - 0.8) ** 2 + (x2 - 0.2) ** 2) / (2 * 0.08**2))
    order = 0.5 * (1.0 - front)
    slope = 0.3 + 0.4 * order + 0.2 * x3
    return {
        "E": np.sin(1.5 * x1) * np.cos(x2) + 0.3 * x3 + 0.5 * front,
        "order": order,
        "peak": bump + 0.1 * x2,
        "xi": np.exp(-np.multiply.outer(slope, W_GRID - 1.0)),
    }


def simulate(point: Mapping[str, Any], *, warm_start: object | None = None) -> SimulationOutput:
    """One stand-in "simulation" (see the module docstring); ``warm_start`` is ignored."""
    p = {**_DEFAULTS, **{k: v for k, v in point.items() if k != BACKEND_KEY}}
    unknown = sorted(set(p) - set(_DEFAULTS))
    if unknown:
        raise InvalidParameterError(f"unknown stand-in input(s) {unknown}; known: {sorted(_DEFAULTS)}")
    validate(p)
    _burn(float(p["work_s"]))
    x1, x2, x3 = float(p["x1"]), float(p["x2"]), float(p["x3"])
    if math.hypot(x1 - FAIL_CENTRE[0], x2 - FAIL_CENTRE[1]) < float(p["fail_radius"]):
        raise RuntimeError(f"stand-in solver did not converge at x1={x1:.4g}, x2={x2:.4g}")
    out = evaluate(np.array(x1), np.array(x2), np.array(x3))
    return SimulationOutput(
        observables={k: float(out[k]) for k in ("E", "order", "peak")},
        arrays={"xi": np.asarray(out["xi"], dtype=float).reshape(-1)},
        backend="analytic",
        residual=0.0,
    )


__all__ = ["W_GRID", "evaluate", "parameter_defaults", "resolution_params", "simulate", "validate"]
