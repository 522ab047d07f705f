"""Fix the transverse-lattice couplings from light mesons and covariance (physics.md F).

Fit parameters (lattice units): ``G``, ``mu``, ``m``, the light-light sector-0 counterterm
``m0_sq`` and ``t_F``; ``t_NF = t_ratio * t_F`` and the link swaps are Lagrangian-consistent
with ``m_V = m`` (physics.md C.5a). Conditions, each a residual divided by its tolerance:

1. ``sigma_T = sigma_L`` (rotational invariance of the heavy-source potential, F.2);
2. ``m_pi``, 3. ``m_rho`` (lowest ``j_z = 0`` and ``j_z = 1`` light-light states);
4. ``f_pi`` (light-light analogue of E.2);
5. covariance of the pion dispersion relation: ``c_T^2 = [E(P) - E(0)]/P^2 = 1`` along a
   lattice axis at small ``P`` (the diagonal is reported as a rotational-invariance check).

The physical scale comes from the longitudinal string tension: ``G_phys = 2 sigma / pi``
(C.2) fixes ``1/a = sqrt(G_phys / G)``. Least squares (``scipy.optimize.least_squares``,
trust-region reflective, bounded) over full Hamiltonian solves; parameter uncertainties from
the Jacobian at the solution, ``cov = (J^T J)^-1`` with residuals already in units of their
tolerances, and the correlation matrix from it.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from scipy.optimize import least_squares

from lfqcd.calibration.lightlight import LightLightModel, TransverseString, sigma_L
from lfqcd.couplings import Couplings, lagrangian_swap_couplings
from lfqcd.errors import InvalidParameterError, LFQCDError

PARAMS = ("G", "mu", "m", "m0_sq", "t_F")
CONDITIONS = ("sigma_T/sigma_L", "m_pi", "m_rho", "f_pi", "c_T^2")


@dataclasses.dataclass(frozen=True)
class Targets:
    """Physical inputs (GeV) and the tolerance of each condition (relative, except c_T^2)."""

    sqrt_sigma: float = 0.44
    m_pi: float = 0.14
    m_rho: float = 0.77
    f_pi: float = 0.130
    c2: float = 1.0
    tol_sigma: float = 0.02
    tol_m_pi: float = 0.02
    tol_m_rho: float = 0.02
    tol_f_pi: float = 0.05
    tol_c2: float = 0.05

    @property
    def G_phys(self) -> float:
        """``G = 2 sigma / pi`` in GeV^2 (physics.md C.2)."""
        return 2.0 * self.sqrt_sigma**2 / math.pi


@dataclasses.dataclass(frozen=True)
class Setup:
    """Resolutions and fixed choices of the fit."""

    k_total: int = 12
    p_cov: float = 0.3
    t_ratio: float = 1.5
    string_h: float = 0.1
    string_kappa_max: float = 12.0


def couplings_from(theta: np.ndarray, setup: Setup) -> tuple[Couplings, float]:
    """(couplings, light-light m0_sq) for a parameter vector ordered as :data:`PARAMS`."""
    G, mu, m, m0_sq, t_F = (float(x) for x in theta)
    t_NF = setup.t_ratio * t_F
    return Couplings(G=G, m=m, mu=mu, t_F=t_F, t_NF=t_NF,
                     **lagrangian_swap_couplings(t_F, t_NF, m)), m0_sq


class Calibrator:
    """Holds the cached light-light model and string; evaluates predictions and residuals."""

    def __init__(self, setup: Setup, targets: Targets) -> None:
        self.setup, self.targets = setup, targets
        self.model = LightLightModel(setup.k_total)
        self.string = TransverseString(setup.string_h, setup.string_kappa_max)
        self.n_eval = 0

    def predict(self, theta: np.ndarray, with_diagonal: bool = False) -> dict[str, float]:
        """Observables in GeV (and c_T^2) at ``theta``; lattice values with suffix ``_lat``.
        ``with_diagonal`` adds the dispersion along the lattice diagonal (a check, not fitted)."""
        self.n_eval += 1
        c, m0_sq = couplings_from(theta, self.setup)
        inv_a = math.sqrt(self.targets.G_phys / c.G)
        pi2, vec = self.model.ground_state(c, m0_sq)
        rho2 = self.model.spectrum(c, m0_sq, 1.0, 1)[0]
        p = self.setup.p_cov
        # E(0) of the full operator is the pion (the lowest state at rest is j_z = 0)
        c2_axis = (self.model.energy(c, m0_sq, (p, 0.0)) - pi2) / p**2
        c2_diag = float("nan")
        if with_diagonal:
            q = p / math.sqrt(2.0)
            c2_diag = (self.model.energy(c, m0_sq, (q, q)) - pi2) / p**2
        return {
            "inv_a_GeV": inv_a, "a_fm": 0.1973269804 / inv_a,
            "sigma_ratio": self.string.sigma_T(c.mu, c.G) / sigma_L(c.G),
            "m_pi_sq": pi2 * inv_a**2, "m_rho_sq": rho2 * inv_a**2,
            "f_pi": self.model.decay_constant(vec) * inv_a,
            "c2_axis": c2_axis, "c2_diagonal": c2_diag,
            "M2_pi_lat": pi2, "M2_rho_lat": rho2,
        }

    def residuals_of(self, p: dict[str, float]) -> np.ndarray:
        t = self.targets
        return np.array([
            (p["sigma_ratio"] - 1.0) / t.tol_sigma,
            (p["m_pi_sq"] - t.m_pi**2) / (2 * t.m_pi**2 * t.tol_m_pi),
            (p["m_rho_sq"] - t.m_rho**2) / (2 * t.m_rho**2 * t.tol_m_rho),
            (p["f_pi"] - t.f_pi) / (t.f_pi * t.tol_f_pi),
            (p["c2_axis"] - t.c2) / t.tol_c2,
        ])

    def residuals(self, theta: np.ndarray) -> np.ndarray:
        try:
            return self.residuals_of(self.predict(theta))
        except LFQCDError:
            return np.full(len(CONDITIONS), 1e6)  # an unsolvable point is simply very bad


@dataclasses.dataclass
class CalibrationResult:
    params: dict[str, float]
    errors: dict[str, float]
    correlation: list[list[float]]
    residuals: dict[str, float]
    predictions: dict[str, float]
    couplings: dict[str, float]
    m0_sq_lightlight: float
    lattice_spacing_fm: float
    success: bool
    message: str
    n_eval: int
    wall_s: float
    setup: dict[str, Any]
    targets: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def fit(
    setup: Setup,
    targets: Targets,
    start: dict[str, float],
    progress: Callable[[str], None] | None = None,
    max_nfev: int = 60,
    calibrator: Calibrator | None = None,
) -> CalibrationResult:
    """Least-squares fit of :data:`PARAMS` to the conditions, from ``start``."""
    missing = [p for p in PARAMS if p not in start]
    if missing:
        raise InvalidParameterError(f"calibration start values missing for {missing}")
    t0 = time.perf_counter()
    cal = calibrator or Calibrator(setup, targets)
    x0 = np.array([float(start[p]) for p in PARAMS])
    lower = np.array([1e-3, 1e-3, 1e-3, -np.inf, 0.0])
    upper = np.full(len(PARAMS), np.inf)
    if np.any(x0 < lower):
        raise InvalidParameterError(f"start values {dict(zip(PARAMS, x0, strict=True))} violate the bounds "
                                    f"{dict(zip(PARAMS, lower, strict=True))}")

    def fun(theta: np.ndarray) -> np.ndarray:
        r = cal.residuals(theta)
        if progress:
            progress(f"  eval {cal.n_eval:3d}: " + ", ".join(
                f"{k}={v:.4g}" for k, v in zip(PARAMS, theta, strict=True))
                + f"  |r|={np.linalg.norm(r):.4g}")
        return r

    sol = least_squares(fun, x0, bounds=(lower, upper), x_scale="jac", diff_step=1e-4,
                        max_nfev=max_nfev, method="trf")
    J = sol.jac
    try:
        cov = np.linalg.inv(J.T @ J)
        err = np.sqrt(np.clip(np.diag(cov), 0, None))
        corr = cov / np.outer(err, err)
    except np.linalg.LinAlgError:
        err = np.full(len(PARAMS), np.inf)
        corr = np.full((len(PARAMS), len(PARAMS)), np.nan)
    pred = cal.predict(sol.x, with_diagonal=True)
    c, m0_sq = couplings_from(sol.x, setup)
    return CalibrationResult(
        params=dict(zip(PARAMS, map(float, sol.x), strict=True)),
        errors=dict(zip(PARAMS, map(float, err), strict=True)),
        correlation=corr.tolist(),
        residuals=dict(zip(CONDITIONS, map(float, cal.residuals_of(pred)), strict=True)),
        predictions=pred,
        couplings=c.to_dict(),
        m0_sq_lightlight=m0_sq,
        lattice_spacing_fm=pred["a_fm"],
        success=bool(sol.success),
        message=str(sol.message),
        n_eval=cal.n_eval,
        wall_s=time.perf_counter() - t0,
        setup=dataclasses.asdict(setup),
        targets=dataclasses.asdict(targets),
    )
