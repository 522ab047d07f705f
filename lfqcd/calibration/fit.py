"""Fix the transverse-lattice couplings from light mesons and covariance (docs/physics.md (F1)-(F8)).

Fit parameters (lattice units): ``G``, ``mu``, ``m``, the renormalised light-quark mass
``m_R_sq`` (docs/physics.md (R4)), ``t_F``, ``t_NF`` and the factor ``log_factor`` (``zeta``) of
the self-energy log coefficient ``c = zeta 4 (t_F^2 + t_NF^2)/m^2`` (docs/physics.md (R3), (R10):
``zeta = 1`` is the leading-order derivation; fitted, one value for every resolution, it absorbs
what the derivation leaves out, and ``[fit] fixed = ["log_factor"]`` holds it at the start
value); the link swaps are Lagrangian-consistent with ``m_V = m`` (physics C.5a). Conditions,
each a residual divided by its tolerance:

1. ``sigma_T = sigma_L`` (rotational invariance of the heavy-source potential);
2. ``m_pi``, 3. ``m_rho`` (lowest ``j_z = 0`` and ``j_z = 1`` light-light states);
4. ``f_pi`` (light-light analogue of the decay-constant formula);
5. covariance of the pion dispersion relation along a lattice axis, ``c_T^2 = 1``, and
6. along the diagonal;
7. the rho's ``j_z = 0`` member (lowest ``j_z = 0`` state with C-parity -) degenerate with its
   ``j_z = 1`` member (a weak condition: the femtoworm cannot make it small);
8. resolution stability: ``M^2(K)`` of pi and rho within ``tol_stability m_rho^2`` of the
   extrapolated value at every fit ``K`` (so all K are fitted together);
9. any :class:`ExtraCondition` a package above the core supplies (``heavy_meson.calibrate``
   adds the heavy-light renormalisation condition: no ``ln(1/h)`` trend of Lambda-bar).

Resolution stability: every light-light observable is computed at each DLCQ resolution of
``Setup.k_values`` and extrapolated linearly in ``1/K``; the conditions are imposed on the
extrapolated values, so the couplings describe the resolution limit rather than one ``K``.
The physical scale comes from the longitudinal string tension, ``G_phys = 2 sigma / pi``, which
fixes ``1/a = sqrt(G_phys / G)``. Least squares (``scipy.optimize.least_squares``, trust-region
reflective, bounded); covariance ``(J^T J)^-1`` from the Jacobian at the solution (residuals in
units of their tolerances).
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
from lfqcd.couplings import CALIBRATION_PARAMS, Couplings, couplings_from_fit, self_energy_log_coefficient
from lfqcd.errors import InvalidParameterError, LFQCDError

PARAMS = CALIBRATION_PARAMS
CONDITIONS = ("sigma_T/sigma_L", "m_pi", "m_rho", "f_pi", "c_T^2 axis", "c_T^2 diagonal",
              "rho jz=0/1")
#: light-light observables computed per K and extrapolated in 1/K
PER_K = ("M2_pi", "M2_rho", "M2_rho_jz0", "f_pi_lat", "c2_axis", "c2_diagonal")
HBARC_GEV_FM = 0.1973269804


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
    tol_degeneracy: float = 0.5
    tol_stability: float = 0.05
    #: c_T^2 target along the diagonal (None: the same as ``c2``)
    c2_diagonal: float | None = None

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if f.name == "c2_diagonal" and v is None:
                continue
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or v <= 0:
                raise InvalidParameterError(f"[targets] {f.name} must be a positive finite number, "
                                            f"got {v!r}")

    @property
    def G_phys(self) -> float:
        """``G = 2 sigma / pi`` in GeV^2 (physics C.2)."""
        return 2.0 * self.sqrt_sigma**2 / math.pi


@dataclasses.dataclass(frozen=True)
class Setup:
    """Resolutions and fixed choices of the fit."""

    k_values: tuple[int, ...] = (28, 32, 40, 48)
    k_holdout: tuple[int, ...] = (16, 24, 64)
    p_cov: float = 0.3
    string_h: float = 0.1
    string_kappa_max: float = 12.0

    def __post_init__(self) -> None:
        ks = tuple(self.k_values)
        if len(ks) < 2 or any(not isinstance(k, int) or isinstance(k, bool) or k < 4 for k in ks):
            raise InvalidParameterError(
                f"[setup] k_values must list at least two integer DLCQ resolutions >= 4, got {ks!r}")
        if len(set(ks)) != len(ks):
            raise InvalidParameterError(f"[setup] k_values has duplicates: {ks!r}")
        hold = tuple(self.k_holdout)
        if any(not isinstance(k, int) or isinstance(k, bool) or k < 4 for k in hold):
            raise InvalidParameterError(f"[setup] k_holdout must list integer K >= 4, got {hold!r}")
        object.__setattr__(self, "k_values", tuple(sorted(ks)))
        object.__setattr__(self, "k_holdout", tuple(sorted(hold)))
        if not (math.isfinite(self.p_cov) and self.p_cov > 0):
            raise InvalidParameterError(f"[setup] p_cov must be > 0, got {self.p_cov!r}")


def couplings_from(theta: np.ndarray) -> tuple[Couplings, float, float]:
    """(couplings, m_R_sq, log coefficient c) for a parameter vector ordered as :data:`PARAMS`."""
    c, m_R_sq, log_factor = couplings_from_fit(theta)
    return c, m_R_sq, self_energy_log_coefficient(c.t_F, c.t_NF, c.m, log_factor)


def extrapolate_in_inverse_k(ks: np.ndarray, values: np.ndarray) -> tuple[float, float]:
    """``q(K) = q_inf + b/K`` by least squares; error = |q_inf(1/K) - q_inf(1/K + 1/K^2)| when
    three or more K are given (the ansatz spread), else the step from the largest K."""
    x = 1.0 / np.asarray(ks, dtype=float)
    q = np.asarray(values, dtype=float)
    lin = np.polyfit(x, q, 1)[-1]
    if len(q) >= 3:
        quad = np.polyfit(x, q, 2)[-1]
        return float(lin), float(abs(quad - lin))
    return float(lin), float(abs(lin - q[np.argmax(ks)]))


@dataclasses.dataclass(frozen=True)
class ExtraCondition:
    """A condition supplied from outside the core: ``(value(theta) - target) / tol`` is one more
    residual (``theta`` ordered as :data:`PARAMS`); ``value`` raises an
    :class:`~lfqcd.errors.LFQCDError` where it cannot be evaluated."""

    name: str
    value: Callable[[np.ndarray], float]
    target: float
    tol: float


class Calibrator:
    """Holds the cached light-light models (one per K) and the string; evaluates predictions."""

    def __init__(self, setup: Setup, targets: Targets,
                 extra: tuple[ExtraCondition, ...] = ()) -> None:
        self.setup, self.targets, self.extra = setup, targets, tuple(extra)
        self.models = {k: LightLightModel(k) for k in setup.k_values}
        self.string = TransverseString(setup.string_h, setup.string_kappa_max)
        self.n_eval = 0

    @property
    def conditions(self) -> tuple[str, ...]:
        """Names of the conditions (residual order of :meth:`residuals_of`)."""
        return CONDITIONS + tuple(e.name for e in self.extra)

    def model(self, k: int) -> LightLightModel:
        if k not in self.models:
            self.models[k] = LightLightModel(k)
        return self.models[k]

    def at_k(self, theta: np.ndarray, k: int) -> dict[str, float]:
        """Light-light observables (lattice units) at DLCQ resolution ``k``."""
        c, m_R_sq, c_log = couplings_from(theta)
        mod = self.model(k)
        pi2, vec = mod.ground_state(c, m_R_sq, c_log)
        rho2 = float(mod.spectrum(c, m_R_sq, 1.0, 1, c_log)[0])
        rho0, _ = mod.lowest_with_c_parity(c, m_R_sq, 0.0, -1, c_log)
        p = self.setup.p_cov
        q = p / math.sqrt(2.0)
        # E(0) of the full operator is the pion (the lowest state at rest is j_z = 0)
        return {
            "M2_pi": pi2, "M2_rho": rho2, "M2_rho_jz0": rho0,
            "f_pi_lat": mod.decay_constant(vec),
            "c2_axis": (mod.energy(c, m_R_sq, (p, 0.0), c_log) - pi2) / p**2,
            "c2_diagonal": (mod.energy(c, m_R_sq, (q, q), c_log) - pi2) / p**2,
        }

    def predict(self, theta: np.ndarray) -> dict[str, Any]:
        """Observables per K, extrapolated to ``K -> inf``, and in GeV (``_GeV``)."""
        self.n_eval += 1
        c, _, _ = couplings_from(theta)
        inv_a = math.sqrt(self.targets.G_phys / c.G)
        ks = np.array(self.setup.k_values)
        per_k = [self.at_k(theta, int(k)) for k in ks]
        out: dict[str, Any] = {"per_K": {int(k): d for k, d in zip(ks, per_k, strict=True)}}
        for name in PER_K:
            vals = np.array([d[name] for d in per_k])
            if not np.all(np.isfinite(vals)):
                raise _Unsolvable(f"{name} not found at some K")
            out[name], out[name + "_error"] = extrapolate_in_inverse_k(ks, vals)
        out.update({
            "inv_a_GeV": inv_a, "a_fm": HBARC_GEV_FM / inv_a,
            "sigma_ratio": self.string.sigma_T(c.mu, c.G) / sigma_L(c.G),
            "m_pi_sq_GeV2": out["M2_pi"] * inv_a**2, "m_rho_sq_GeV2": out["M2_rho"] * inv_a**2,
            "m_rho_jz0_sq_GeV2": out["M2_rho_jz0"] * inv_a**2,
            "f_pi_GeV": out["f_pi_lat"] * inv_a,
            "extra": {e.name: float(e.value(np.asarray(theta, dtype=float))) for e in self.extra},
        })
        return out

    def residuals_of(self, p: dict[str, Any]) -> np.ndarray:
        t = self.targets
        return np.array([
            (p["sigma_ratio"] - 1.0) / t.tol_sigma,
            (p["m_pi_sq_GeV2"] - t.m_pi**2) / (2 * t.m_pi**2 * t.tol_m_pi),
            (p["m_rho_sq_GeV2"] - t.m_rho**2) / (2 * t.m_rho**2 * t.tol_m_rho),
            (p["f_pi_GeV"] - t.f_pi) / (t.f_pi * t.tol_f_pi),
            (p["c2_axis"] - t.c2) / t.tol_c2,
            (p["c2_diagonal"] - (t.c2 if t.c2_diagonal is None else t.c2_diagonal)) / t.tol_c2,
            (p["M2_rho_jz0"] - p["M2_rho"]) / (p["M2_rho"] * t.tol_degeneracy),
            *[(p["extra"][e.name] - e.target) / e.tol for e in self.extra],
        ])

    def stability_residuals(self, p: dict[str, Any]) -> np.ndarray:
        """``(M^2(K) - M^2(extrapolated)) / (tol_stability m_rho^2)`` for pi and rho at every fit
        K: the resolution-stability acceptance of docs/physics.md (F7) as fit residuals, so the
        couplings are fitted to all K together and cannot lean on a steep 1/K extrapolation."""
        scale = self.targets.tol_stability * p["M2_rho"]
        return np.array([(d[name] - p[name]) / scale for d in p["per_K"].values()
                         for name in ("M2_pi", "M2_rho")])

    def residuals(self, theta: np.ndarray) -> np.ndarray:
        n = len(self.conditions) + 2 * len(self.setup.k_values)
        try:
            p = self.predict(theta)
            return np.concatenate([self.residuals_of(p), self.stability_residuals(p)])
        except (LFQCDError, _Unsolvable):
            return np.full(n, 1e6)  # an unsolvable point is simply very bad

    def stability_table(self, theta: np.ndarray, pred: dict[str, Any]) -> dict[str, Any]:
        """m_pi, m_rho, f_pi at every fitted K and held-out K, the extrapolated values, and the
        acceptance test ``|M^2(K) - M^2(extrapolated)| <= 0.05 m_rho^2`` (both mesons)."""
        inv_a = pred["inv_a_GeV"]
        tol = 0.05 * pred["M2_rho"]
        rows = []
        for k in (*self.setup.k_values, *self.setup.k_holdout):
            d = pred["per_K"].get(k) or self.at_k(theta, k)
            dev = max(abs(d["M2_pi"] - pred["M2_pi"]), abs(d["M2_rho"] - pred["M2_rho"]))
            rows.append({
                "K": k, "role": ("fit" if k in self.setup.k_values else
                                 "held-out" if k > max(self.setup.k_values) else "coarser"),
                "M2_pi": d["M2_pi"], "M2_rho": d["M2_rho"], "M2_rho_jz0": d["M2_rho_jz0"],
                "m_pi_GeV": signed_sqrt(d["M2_pi"]) * inv_a,
                "m_rho_GeV": signed_sqrt(d["M2_rho"]) * inv_a,
                "f_pi_GeV": d["f_pi_lat"] * inv_a, "c2_axis": d["c2_axis"],
                "max_dev_M2_over_m_rho2": dev / pred["M2_rho"], "within_tolerance": bool(dev <= tol),
                # the extrapolation's own stated error (ansatz spread), for the held-out K
                "within_stated_error": bool(
                    abs(d["M2_pi"] - pred["M2_pi"]) <= pred["M2_pi_error"]
                    and abs(d["M2_rho"] - pred["M2_rho"]) <= pred["M2_rho_error"]),
            })
        extrap = {k: pred[k] for k in PER_K} | {f"{k}_error": pred[k + "_error"] for k in PER_K}
        extrap |= {"m_pi_GeV": signed_sqrt(pred["M2_pi"]) * inv_a,
                   "m_rho_GeV": signed_sqrt(pred["M2_rho"]) * inv_a, "f_pi_GeV": pred["f_pi_GeV"]}
        held = [r for r in rows if r["role"] == "held-out"]
        return {
            "rows": rows, "extrapolated": extrap,
            "tolerance": "|M^2(K) - M^2(extrapolated)| <= 0.05 m_rho^2 for pi and rho",
            "all_fit_K_within_tolerance": all(r["within_tolerance"] for r in rows
                                              if r["role"] == "fit"),
            "held_out_within_tolerance": all(r["within_tolerance"] for r in held) if held else None,
            "held_out_within_stated_error": (all(r["within_stated_error"] for r in held)
                                             if held else None),
        }


class _Unsolvable(Exception):
    """An observable could not be identified at this coupling point."""


def signed_sqrt(x: float) -> float:
    """sqrt(|x|) with the sign of x: the mass of a (possibly tachyonic) M^2."""
    return math.copysign(math.sqrt(abs(x)), x)


@dataclasses.dataclass
class CalibrationResult:
    params: dict[str, float]
    errors: dict[str, float]
    covariance: list[list[float]]
    correlation: list[list[float]]
    residuals: dict[str, float]
    predictions: dict[str, Any]
    stability: dict[str, Any]
    couplings: dict[str, float]
    m_R_sq: float
    log_coefficient: float
    lattice_spacing_fm: float
    success: bool
    message: str
    n_eval: int
    wall_s: float
    setup: dict[str, Any]
    targets: dict[str, Any]
    #: conditions supplied from outside the core: name -> value, target, tol
    extra: dict[str, dict[str, float]] = dataclasses.field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def fit(
    setup: Setup,
    targets: Targets,
    start: dict[str, float],
    progress: Callable[[str], None] | None = None,
    max_nfev: int = 200,
    calibrator: Calibrator | None = None,
    fixed: tuple[str, ...] = (),
    ftol: float = 1e-8,
) -> CalibrationResult:
    """Least-squares fit of :data:`PARAMS` to the conditions, from ``start``; the names in
    ``fixed`` keep their start values (zero error, zero covariance rows). ``ftol``: stop when
    a step lowers the cost ``|r|^2/2`` by less than this fraction (SciPy's criterion)."""
    unknown = [p for p in fixed if p not in PARAMS]
    if unknown:
        raise InvalidParameterError(f"cannot fix unknown parameter(s) {unknown}; known: {PARAMS}")
    free = np.array([p not in fixed for p in PARAMS])
    missing = [p for p in PARAMS if p not in start]
    if missing:
        raise InvalidParameterError(f"calibration start values missing for {missing}")
    x0 = np.array([float(start[p]) for p in PARAMS])
    if not np.all(np.isfinite(x0)):
        raise InvalidParameterError(
            f"[start] values must be finite, got {dict(zip(PARAMS, x0, strict=True))}")
    if not (isinstance(max_nfev, int) and max_nfev >= 1):
        raise InvalidParameterError(f"[fit] max_nfev must be an integer >= 1, got {max_nfev!r}")
    lower = np.array([1e-3, 1e-3, 1e-3, -np.inf, 0.0, 0.0, 1e-3])
    upper = np.full(len(PARAMS), np.inf)
    if np.any(x0 < lower):
        raise InvalidParameterError(f"start values {dict(zip(PARAMS, x0, strict=True))} violate the bounds "
                                    f"{dict(zip(PARAMS, lower, strict=True))}")
    t0 = time.perf_counter()
    cal = calibrator or Calibrator(setup, targets)

    def fun(theta: np.ndarray) -> np.ndarray:
        r = cal.residuals(theta)
        if progress:
            progress(f"  eval {cal.n_eval:3d}: " + ", ".join(
                f"{k}={v:.5g}" for k, v in zip(PARAMS, theta, strict=True))
                + f"  |r|={np.linalg.norm(r):.4g}")
        return r

    def full(theta_free: np.ndarray) -> np.ndarray:
        theta = x0.copy()
        theta[free] = theta_free
        return theta

    sol = least_squares(lambda t: fun(full(t)), x0[free], bounds=(lower[free], upper[free]),
                        x_scale="jac", diff_step=1e-4, max_nfev=max_nfev, method="trf",
                        ftol=ftol)
    n = len(PARAMS)
    cov, err, corr = np.zeros((n, n)), np.zeros(n), np.full((n, n), np.nan)
    try:
        cov_free = np.linalg.inv(sol.jac.T @ sol.jac)
        cov[np.ix_(free, free)] = cov_free
        err[free] = np.sqrt(np.clip(np.diag(cov_free), 0, None))
        corr[np.ix_(free, free)] = cov_free / np.outer(err[free], err[free])
    except np.linalg.LinAlgError:
        cov[np.ix_(free, free)] = np.nan
        err[free] = np.inf
    x = full(sol.x)
    pred = cal.predict(x)
    c, m_R_sq, c_log = couplings_from(x)
    stability = cal.stability_table(x, pred)
    return CalibrationResult(
        params=dict(zip(PARAMS, map(float, x), strict=True)),
        errors=dict(zip(PARAMS, map(float, err), strict=True)),
        covariance=cov.tolist(),
        correlation=corr.tolist(),
        residuals=dict(zip(cal.conditions, map(float, cal.residuals_of(pred)), strict=True)),
        predictions={k: v for k, v in pred.items() if k != "per_K"},
        stability=stability,
        couplings=c.to_dict(),
        m_R_sq=m_R_sq,
        log_coefficient=c_log,
        lattice_spacing_fm=pred["a_fm"],
        success=bool(sol.success),
        message=str(sol.message),
        n_eval=cal.n_eval,
        wall_s=time.perf_counter() - t0,
        setup=dataclasses.asdict(setup),
        targets=dataclasses.asdict(targets),
        extra={e.name: {"value": pred["extra"][e.name], "target": e.target, "tol": e.tol}
               for e in cal.extra},
    )
