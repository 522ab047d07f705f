"""Error budget of a heavy-light run (docs/physics.md, section B).

Every reported observable gets ``value``, ``error`` and ``error_budget`` with these parts:

``extrapolation``  fit error of the chosen resolution ansatz plus the spread between acceptable
                   ansaetze (:func:`lfqcd.extrapolate.extrapolate_ansatz`, leave-one-out criterion);
``calibration``    the fitted couplings' covariance propagated through the solver with a
                   finite-difference Jacobian at one resolution (``[error_budget] resolution``);
``scheme``         difference between the renormalised-quark scheme and the Lambda-bar scheme
                   (Lambda-bar fixed to the reference value) at that resolution;
``frame``          Drell-Yan (q+ = 0, transverse positions, link midpoint) minus the longitudinal
                   boost (q_perp = 0) for the Isgur-Wise slope and curvature: the
                   rotational-invariance violation of the truncated transverse lattice;
``matching``       where the reference is not the same quantity (:data:`MATCHING`); kept out of
                   ``error`` (it belongs to the comparison, not to the model's prediction);
``links_truncation``  not yet estimated (femtoworm: at most one link).

``error`` is the quadrature sum of extrapolation, calibration, scheme and frame.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

#: mass dimension of the observables reported in GeV (lattice value times (1/a)^power)
POWERS = {"lambda_bar": 1.0, "fB_sqrtM": 1.5, "lambda_B": 1.0, "omega_plus_mean": 1.0}


def unit_of(key: str) -> str:
    """The physical unit of an observable ("" when dimensionless)."""
    p = POWERS.get(key, 0.0)
    return {0.0: "", 1.0: "GeV", 1.5: "GeV^3/2"}.get(p, f"GeV^{p:g}")

#: observables whose reference value is a different quantity: (relative size, reason)
MATCHING: dict[str, tuple[float, str]] = {
    "rho2": (0.15, "HFLAV's 1.139(20) is the CLN slope of h_A1(w) in B -> D* l nu, not of xi(w): "
                   "1/m_c, 1/m_b and radiative corrections shift it by O(0.1-0.2)"),
    "fB_sqrtM": (0.25, "static-limit f_B sqrt(M) vs the physical B: 1/m_b and radiative (scale) "
                       "corrections of tens of percent"),
    "lambda_B": (0.3, "lambda_B(1 GeV) from QCD sum rules vs the model scale ~1/a with no "
                      "radiative tail"),
    "lambda_bar": (0.1, "Lambda-bar is scheme dependent (pole-mass renormalon); the reference is "
                        "the MRS scheme of 1802.04248"),
}

#: observables with a frame (rotational-invariance) comparison: DY key -> longitudinal key
FRAME_PAIRS = {"rho2": "rho2_longitudinal"}

NOT_ESTIMATED = ("not yet estimated (at most one link: femtoworm truncation; the links-convergence "
                 "study, runs/b_meson_links*.toml, moves f_B by ~70 % from one to two links at "
                 "the one-link calibration: not a controlled error before recalibrating with links)")


def calibration_errors(
    observables_at: Callable[[np.ndarray], dict[str, float]],
    fit_values: np.ndarray,
    covariance: np.ndarray,
    rel_step: float = 1e-3,
) -> tuple[dict[str, float], dict[str, list[float]]]:
    """sigma_obs^2 = g^T C g with ``g`` the central-difference gradient of each observable
    with respect to the calibrated parameters (``observables_at(theta)``)."""
    theta0 = np.asarray(fit_values, dtype=float)
    grads: dict[str, list[float]] = {}
    for i in range(len(theta0)):
        step = rel_step * max(abs(theta0[i]), 1e-3)
        up, dn = theta0.copy(), theta0.copy()
        up[i] += step
        dn[i] -= step
        o_up, o_dn = observables_at(up), observables_at(dn)
        for k in o_up:
            grads.setdefault(k, []).append((o_up[k] - o_dn[k]) / (2 * step))
    C = np.asarray(covariance, dtype=float)
    errs = {k: float(math.sqrt(max(float(np.asarray(g) @ C @ np.asarray(g)), 0.0)))
            for k, g in grads.items()}
    return errs, grads


def assemble(
    key: str,
    extrap: dict[str, Any] | None,
    calibration: dict[str, float] | None,
    scheme: dict[str, float] | None,
    frame: dict[str, float] | None,
    physical_value: float | None = None,
    max_links: int = 1,
) -> dict[str, Any]:
    """``value``, ``error`` and ``error_budget`` of one observable (lattice units)."""
    budget: dict[str, Any] = {}
    parts = []
    if extrap is not None:
        budget["extrapolation"] = {"error": extrap["error"], "fit_error": extrap["fit_error"],
                                   "ansatz_spread": extrap["ansatz_spread"], "model": extrap["model"],
                                   "accepted": extrap["accepted"], "criterion": extrap["criterion"]}
        parts.append(extrap["error"])
    for name, src in (("calibration", calibration), ("scheme", scheme)):
        if src is not None and key in src and math.isfinite(src[key]):
            budget[name] = abs(float(src[key]))
            parts.append(budget[name])
        else:
            budget[name] = None
    if frame is not None and key in frame:
        budget["frame"] = abs(float(frame[key]))
        parts.append(budget["frame"])
    elif key in FRAME_PAIRS and max_links > 1:
        budget["frame"] = "not estimated (the longitudinal-frame xi is written for <= 1 link)"
    else:
        budget["frame"] = "not applicable (no transverse positions)"
    if key in MATCHING:
        rel, why = MATCHING[key]
        v = physical_value if physical_value is not None else (extrap or {}).get("value")
        budget["matching"] = {"relative": rel, "reason": why,
                              "error": None if v is None else abs(rel * v)}
    budget["links_truncation"] = (NOT_ESTIMATED if max_links <= 1 else
                                  f"not yet estimated (at most {max_links} links; "
                                  "see the links-convergence study)")
    value = None if extrap is None else extrap["value"]
    return {"value": value, "error": float(math.sqrt(sum(p * p for p in parts))) if parts else None,
            "error_budget": budget}
