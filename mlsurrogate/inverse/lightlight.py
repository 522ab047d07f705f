"""The calibration's light-light femtoworm mesons as a simulator (import string
``"mlsurrogate.inverse.lightlight:simulate"``), for light-meson targets of ``lfqcd infer``.

Inputs: the eight couplings (lattice units), the renormalised light-quark mass ``m_R_sq`` (the
sector-0 mass is ``m_R^2 + c ln(n - 1/2)`` with ``c = log_factor`` times the derived
coefficient, docs/physics.md (R4), (R10); default the preset's ``log_factor``) or, when
``m0_sq`` is given (finite), a constant sector-0 mass instead (the previous scheme), the DLCQ
resolution ``k_total`` and the scale ``sqrt_sigma_gev``
(``1/a = sqrt(G_phys/G)``, ``G_phys = 2 sigma/pi``, as in :mod:`lfqcd.calibration.fit`).
Outputs, in GeV: ``m_pi_sq_GeV2`` and ``m_rho_sq_GeV2`` (lowest ``j_z = 0`` and ``j_z = 1``
states at rest; squared masses, so a tachyonic point stays a finite number) and ``f_pi_GeV``.
The :class:`~lfqcd.calibration.lightlight.LightLightModel` of each resolution is built once
per process.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from typing import Any

from lfqcd.calibration.lightlight import LightLightModel
from lfqcd.couplings import COUPLING_NAMES, Couplings, get_preset, self_energy_log_coefficient
from lfqcd.errors import InvalidParameterError
from lfqcd.simulator import SimulationOutput


def parameter_defaults() -> dict[str, float | int]:
    """Every accepted input with its default (the calibrated preset at K = 24, one of its fit K)."""
    p = get_preset("calibrated")
    return {**p.couplings.to_dict(), "m_R_sq": float(p.m_R_sq), "log_factor": p.log_factor,
            "m0_sq": float("nan"), "k_total": 24, "sqrt_sigma_gev": p.sqrt_sigma_GeV}


def resolution_params() -> tuple[str, ...]:
    return ("k_total",)


@functools.lru_cache(maxsize=2)
def _model(k_total: int) -> LightLightModel:
    return LightLightModel(k_total)


def simulate(point: Mapping[str, Any], *, warm_start: object | None = None) -> SimulationOutput:
    """Light-meson masses and f_pi at one coupling point (module docstring)."""
    full = {**parameter_defaults(), **point}
    unknown = sorted(set(full) - set(parameter_defaults()))
    if unknown:
        raise InvalidParameterError(f"unknown light-light input(s) {unknown}")
    c = Couplings.from_mapping({k: full[k] for k in COUPLING_NAMES})
    if c.G <= 0:
        raise InvalidParameterError("G must be > 0 to set the scale 1/a = sqrt(G_phys/G)")
    k_total = full["k_total"]
    if isinstance(k_total, float) and k_total.is_integer():
        k_total = int(k_total)
    model = _model(k_total)
    if math.isfinite(float(full["m0_sq"])):  # the previous scheme: constant sector-0 mass
        m0_sq, c_log = float(full["m0_sq"]), 0.0
    else:
        m0_sq = float(full["m_R_sq"])  # docs/physics.md (R4), (R10)
        c_log = self_energy_log_coefficient(c.t_F, c.t_NF, c.m, float(full["log_factor"]))
    inv_a = math.sqrt(2.0 * float(full["sqrt_sigma_gev"]) ** 2 / math.pi / c.G)
    pi2, vec = model.ground_state(c, m0_sq, c_log)
    rho2 = float(model.spectrum(c, m0_sq, 1.0, 1, c_log)[0])
    return SimulationOutput(
        observables={"m_pi_sq_GeV2": pi2 * inv_a**2, "m_rho_sq_GeV2": rho2 * inv_a**2,
                     "f_pi_GeV": float(model.decay_constant(vec)) * inv_a},
        backend="light-light",
    )
