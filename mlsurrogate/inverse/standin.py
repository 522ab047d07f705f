r"""An analytic stand-in for the heavy-light simulator (import string
``"mlsurrogate.inverse.standin:simulate"``), for fast tests of ``lfqcd infer``.

Takes the eight couplings and returns heavy-meson-like observables with the same structure
as the femtoworm (two Fock sectors, ``P0 + P1 = 1``)::

    P1 = t_F^2 / (t_F^2 + mu^2),  P0 = 1 - P1
    rho2 = 0.2 + 2 P0 P1 + 0.1 m          (so rho2 <= 0.7 + 0.1 m: bounded, as P0 P1 <= 1/4)
    fB_sqrtM = 0.5 sqrt(P0) (1 + 0.2 G),  lambda_B = 1 + P1 + mu

Microseconds per point; no numba, no torch.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from lfqcd.couplings import COUPLING_NAMES, Couplings, get_preset
from lfqcd.errors import InvalidParameterError
from lfqcd.simulator import SimulationOutput


def parameter_defaults() -> dict[str, float]:
    return get_preset("illustrative").couplings.to_dict()


def simulate(point: Mapping[str, Any], *, warm_start: object | None = None) -> SimulationOutput:
    full = {**parameter_defaults(), **point}
    unknown = sorted(set(full) - set(COUPLING_NAMES))
    if unknown:
        raise InvalidParameterError(f"unknown stand-in input(s) {unknown}")
    c = Couplings.from_mapping(full)
    p1 = c.t_F**2 / (c.t_F**2 + c.mu**2)
    p0 = 1.0 - p1
    return SimulationOutput(observables={
        "P0": p0, "P1": p1, "rho2": 0.2 + 2.0 * p0 * p1 + 0.1 * c.m,
        "fB_sqrtM": 0.5 * math.sqrt(p0) * (1.0 + 0.2 * c.G), "lambda_B": 1.0 + p1 + c.mu,
    }, backend="analytic")
