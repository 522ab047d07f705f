"""Sector-0 kinetic mass of the light quark: renormalised once, or tuned per resolution.

With hopping switched on, the second-order self-energy of the sector-0 quark diverges
logarithmically as the grid is refined (small-``kappa_q`` region of sector 1): ``Lambda-bar``
with the naive ``m_0 = m`` has no continuum limit. Following the working recipe of docs/physics.md section 6
we normal-order, drop one-body contractions, and tune a sector-0 kinetic mass ``m_0^2(h)`` per
resolution so that one physical quantity stays fixed across resolutions.

Conditions (``RenormalizationCondition.kind``):

``renormalized_quark``  (default) one renormalised light quark (docs/physics.md (R1)-(R5)): the
                sector-0 kinetic mass on the quark's momentum cell ``n`` is
                ``m_R^2 + c ln(n - 1/2)`` with ``c = 4 (t_F^2 + t_NF^2)/m^2`` the derived
                coefficient of the self-energy log (or a given ``log_coefficient``). ``m_R^2``
                comes from the light-light calibration, in which the same counterterm is used
                on the DLCQ grid; nothing is tuned per resolution, and ``Lambda-bar`` is a
                *prediction*.
``lambda_bar``  (the previous scheme) a constant ``m_0^2`` such that the ground-state
                ``Lambda-bar`` equals ``target``.
                ``Lambda-bar = M_B - m_b`` fixes the light-quark mass counterterm the way a
                hadron mass fixes a quark mass; ``Lambda-bar`` is then an *input*, and every
                other observable (f_B, rho^2, lambda_B, xi(w), distributions, excitation
                energies) is a prediction. ``m_0^2`` grows like ``ln(1/h)``.
``none``        no counterterm: ``m_0 = m`` (shows the divergence; for studies and tests).
``fixed``       ``m_0^2 = value`` given explicitly (e.g. from a calibration).

The tuning is a safeguarded Newton iteration on ``Lambda-bar(m_0^2) - target`` using the exact
Hellmann-Feynman derivative ``d Lambda-bar / d m_0^2 = <O_m0>/2 > 0``, warm-started from the
previous eigenvector, with bisection fallback inside a bracket.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from heavy_meson.hamiltonian import HeavyLightModel, Solution
from lfqcd.couplings import Couplings, Preset, self_energy_log_coefficient
from lfqcd.errors import EigNoConvergenceError, InvalidParameterError, LFQCDError

KINDS = ("renormalized_quark", "lambda_bar", "none", "fixed")
#: above this sector-0 mass the zero-link sector is decoupled for any sane resolution
SATURATION_M0_SQ = 1e6


class CounterTermError(LFQCDError, RuntimeError):
    """The renormalisation condition could not be met at some resolution.

    Fix: choose a reachable target (Lambda-bar grows monotonically with m_0^2; the message gives
    the range explored), or a finer/coarser resolution.
    """


@dataclasses.dataclass(frozen=True)
class RenormalizationCondition:
    """``target``: Lambda-bar (``lambda_bar``); ``value``: constant m0_sq (``fixed``);
    ``m_R_sq``: renormalised quark mass parameter (``renormalized_quark``);
    ``log_coefficient``: ``c`` of the cell-log mass (``None``: ``log_factor`` times the
    coefficient derived from the couplings for ``renormalized_quark``, docs/physics.md (R3),
    (R10); 0 for the constant-mass schemes)."""

    kind: str = "renormalized_quark"
    target: float | None = None
    value: float | None = None
    tolerance: float = 1e-7
    m_R_sq: float | None = None
    log_coefficient: float | None = None
    log_factor: float = 1.0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise InvalidParameterError(
                f"unknown renormalisation condition {self.kind!r}; use one of {', '.join(KINDS)}"
            )
        if self.kind == "lambda_bar" and (self.target is None or not math.isfinite(self.target)):
            raise InvalidParameterError("condition 'lambda_bar' needs a finite target value")
        if self.kind == "fixed" and (self.value is None or not math.isfinite(self.value)):
            raise InvalidParameterError("condition 'fixed' needs a finite m0_sq value")
        if self.kind == "renormalized_quark" and (self.m_R_sq is None
                                                  or not math.isfinite(self.m_R_sq)):
            raise InvalidParameterError(
                "condition 'renormalized_quark' needs a finite renormalised mass m_R_sq "
                "(from the light-light calibration, e.g. the preset's)")
        if not (math.isfinite(self.log_factor) and self.log_factor > 0):
            raise InvalidParameterError(f"log_factor must be a positive finite number, got "
                                        f"{self.log_factor!r}")
        if self.log_coefficient is not None and not math.isfinite(self.log_coefficient):
            raise InvalidParameterError(
                f"log_coefficient must be finite, got {self.log_coefficient}")

    @classmethod
    def of_preset(cls, preset: Preset) -> RenormalizationCondition:
        """The renormalised light quark a calibrated preset was fitted with: its ``m_R_sq`` and
        ``log_factor`` (docs/physics.md (R4), (R10))."""
        if preset.m_R_sq is None:
            raise InvalidParameterError(
                f"preset {preset.name!r} was not calibrated with the renormalised quark "
                "(no m_R_sq); use condition 'lambda_bar'")
        return cls(kind="renormalized_quark", m_R_sq=preset.m_R_sq, log_factor=preset.log_factor)

    def log_coefficient_for(self, couplings: Couplings) -> float:
        """Coefficient ``c`` of the cell-log sector-0 mass used with ``couplings``."""
        if self.log_coefficient is not None:
            return float(self.log_coefficient)
        if self.kind == "renormalized_quark":
            return self_energy_log_coefficient(couplings.t_F, couplings.t_NF, couplings.m,
                                               self.log_factor)
        return 0.0

    def fixed_counterterm(self, couplings: Couplings) -> tuple[float | None, float]:
        """``(m0_sq, m0_log)`` of the schemes that need no iteration (``none``: ``m0_sq`` None,
        i.e. the naive ``m^2``; ``fixed``; ``renormalized_quark``); ``lambda_bar`` tunes
        ``m0_sq`` per point and raises here."""
        if self.kind == "lambda_bar":
            raise InvalidParameterError("condition 'lambda_bar' has no fixed counterterm: "
                                        "m0_sq is tuned per point")
        m0 = {"none": None, "fixed": self.value, "renormalized_quark": self.m_R_sq}[self.kind]
        return m0, (0.0 if self.kind == "none" else self.log_coefficient_for(couplings))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _check_reachable(model: HeavyLightModel, couplings: Couplings, target: float,
                     tolerance: float, backend: str) -> None:
    """Bracket test: refuse a target above the one-link threshold (see :mod:`heavy_meson.reach`)."""
    from heavy_meson.reach import lambda_bar_limit

    sup = lambda_bar_limit(model, couplings, backend)
    if target > sup - tolerance:
        raise CounterTermError(
            f"[renormalization] target Lambda-bar = {target} is out of reach at h = "
            f"{model.resolution.h}, kappa_max = {model.resolution.kappa_max}: Lambda-bar grows "
            f"with m0_sq but saturates at the one-link threshold {sup:.6g}; choose a smaller "
            "target"
        )


def first_order_guess(model: HeavyLightModel, new: Couplings, old: Couplings, m0_old: float,
                       v: np.ndarray) -> float:
    """``m0_sq`` that keeps the energy fixed to first order when the couplings move old -> new."""
    c_new, c_old = model.coefficients(new, m0_old), model.coefficients(old, m0_old)
    norm = float(np.real(np.vdot(v, v)))
    if norm <= 0:
        return m0_old
    d_energy = sum((c_new[k] - c_old[k]) * model.expectation(k, v) for k in c_new if k != "m0_sq")
    slope = model.expectation("m0_sq", v)
    return m0_old - d_energy / slope if slope > 1e-12 * norm else m0_old


@dataclasses.dataclass
class Renormalized:
    solution: Solution
    m0_sq: float
    iterations: int
    m0_log: float = 0.0


def log_slope(h: np.ndarray, values: np.ndarray) -> tuple[float, float]:
    """Least-squares slope of ``values`` against ``ln(1/h)`` and its standard error (the
    residual trend of docs/physics.md (R9); the error is 0 for two points)."""
    x = np.log(1.0 / np.asarray(h, dtype=float))
    y = np.asarray(values, dtype=float)
    A = np.stack([np.ones_like(x), x], axis=1)
    coef, *_ = np.linalg.lstsq(A, y, rcond=None)
    resid = y - A @ coef
    cov = float(resid @ resid) / max(len(y) - 2, 1) * np.linalg.inv(A.T @ A)
    return float(coef[1]), float(np.sqrt(cov[1, 1]))


def newton_step(x: float, f: float, deriv: float, lo: float, hi: float
                ) -> tuple[float, float, float]:
    """One safeguarded Newton step on ``m0_sq`` for ``f(x) = Lambda-bar(x) - target``.

    ``deriv = dLambda-bar/dm0_sq = <O_m0>/2`` (Hellmann-Feynman); ``lo``/``hi`` bracket the root
    (``f(lo) < 0 < f(hi)``) and are updated with ``x``. A step leaving the bracket bisects it;
    without a bracket the step is limited to the scale of ``m0_sq`` itself. Returns
    ``(x_new, lo, hi)``."""
    if f < 0:
        lo = max(lo, x)
    else:
        hi = min(hi, x)
    step = -f / deriv if deriv > 1e-12 else math.copysign(1.0, -f)
    x_new = x + step
    if math.isfinite(lo) and math.isfinite(hi):
        if not lo < x_new < hi:
            x_new = 0.5 * (lo + hi)
    else:  # unbracketed: limit runaway Newton steps to the scale of m0_sq itself
        limit = 10.0 + abs(x)
        x_new = x + max(-limit, min(limit, x_new - x))
    return x_new, lo, hi


def renormalized_solve(
    model: HeavyLightModel,
    couplings: Couplings,
    condition: RenormalizationCondition,
    n_states: int = 1,
    backend: str = "auto",
    m0_guess: float | None = None,
    v0: np.ndarray | None = None,
    max_iter: int = 40,
    previous: Couplings | None = None,
) -> Renormalized:
    """Solve ``model`` at ``couplings`` with ``m_0^2`` set by ``condition``.

    Warm start: ``v0`` (block vector) and ``m0_guess`` from a nearby solved point; when that
    point's ``previous`` couplings are given too, the guess is first moved by first-order
    perturbation theory, ``dE = sum_k dc_k <O_k> + dm0 <O_m0> = 0`` (Hellmann-Feynman), which
    saves Newton iterations in scans.
    """
    c_log = condition.log_coefficient_for(couplings)
    if condition.kind == "none":
        return Renormalized(model.solve(couplings, n_states, None, backend, v0), couplings.m**2, 0)
    if condition.kind in ("fixed", "renormalized_quark"):
        m0, c_log = condition.fixed_counterterm(couplings)
        try:
            sol = model.solve(couplings, n_states, m0, backend, v0, m0_log=c_log)
        except EigNoConvergenceError as exc:
            raise CounterTermError(f"eigensolver failed at m0_sq = {m0:.6g}: {exc}") from exc
        return Renormalized(sol, float(m0), 0, c_log)

    target = float(condition.target)
    x = couplings.m**2 if m0_guess is None else float(m0_guess)
    if previous is not None and m0_guess is not None and v0 is not None:
        x = first_order_guess(model, couplings, previous, x, v0)
    lo, hi = -math.inf, math.inf  # bracket on m0_sq: f(lo) < 0 < f(hi)
    history: list[tuple[float, float]] = []
    checked = False
    for it in range(1, max_iter + 1):
        try:
            sol = model.solve(couplings, n_states, x, backend, v0, m0_log=c_log)
        except EigNoConvergenceError as exc:
            raise CounterTermError(
                f"eigensolver failed while tuning m0_sq (at m0_sq = {x:.6g}): {exc}"
            ) from exc
        f = sol.lambda_bar[0] - target
        history.append((x, float(sol.lambda_bar[0])))
        if abs(f) <= condition.tolerance:
            return Renormalized(sol, x, it, c_log)
        deriv = 0.5 * model.expectation("m0_sq", sol.block_vectors[:, 0])
        x_new, lo, hi = newton_step(x, f, deriv, lo, hi)
        if not (math.isfinite(lo) and math.isfinite(hi)):
            if f < 0 and not checked and x_new - history[0][0] > 100.0 + 10.0 * abs(history[0][0]):
                checked = True  # far from the start and still below: is the target reachable?
                _check_reachable(model, couplings, target, condition.tolerance, backend)
        if f < 0 and x > SATURATION_M0_SQ:
            raise CounterTermError(
                f"Lambda-bar = {target} is out of reach at h = {model.resolution.h}: "
                f"even m0_sq = {x:.3g} gives only {sol.lambda_bar[0]:.6g} (Lambda-bar saturates "
                "at the one-link threshold as the sector-0 mass grows); choose a smaller target"
            )
        if math.isfinite(lo) and math.isfinite(hi) and hi - lo < 1e-12 * max(1.0, abs(x)):
            break
        x = x_new
        v0 = sol.block_vectors[:, 0]
    explored = ", ".join(f"m0_sq={a:.4g}->Lambda-bar={b:.5g}" for a, b in history[-4:])
    raise CounterTermError(
        f"could not tune m0_sq so that Lambda-bar = {target} at h = {model.resolution.h}, "
        f"kappa_max = {model.resolution.kappa_max} within {max_iter} solves ({explored})"
    )
