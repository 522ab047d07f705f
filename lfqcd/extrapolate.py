"""Continuum extrapolation of resolution ladders with a fit error (docs/physics.md (B2)).

A quantity computed at grid spacings ``h_i`` (and cutoffs ``kappa_max_i``) is fitted by linear
least squares to ``q(h, kmax) = q_inf + c_1 h [+ c_2 h^2] [+ c_3 / kmax^2]``; the O(h) term is the
leading discretisation error of cell-integrated kernels away from end points (docs/physics.md (H6)) and
``1/kmax^2`` the leading cutoff error of a ``kappa^-3`` tail. The reported error combines the
statistical fit error (covariance scaled by the residual variance when there are spare degrees
of freedom) with a systematic spread in quadrature: the change of the extrapolated value when the
coarsest spacing is dropped, or - with no spare points - the whole step from the finest value, so
a two-point Richardson step never pretends to be exact.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from lfqcd.errors import InvalidParameterError


@dataclasses.dataclass
class Extrapolation:
    value: float
    error: float
    model: str
    coefficients: list[float]

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _design(h: np.ndarray, kmax: np.ndarray, terms: tuple[str, ...]) -> np.ndarray:
    cols = [np.ones_like(h)]
    for t in terms:
        cols.append({"h": h, "h2": h**2, "kmax2": 1.0 / kmax**2}[t])
    return np.stack(cols, axis=1)


def _fit(h, kmax, q, terms):
    A = _design(h, kmax, terms)
    coef, *_ = np.linalg.lstsq(A, q, rcond=None)
    dof = len(q) - A.shape[1]
    resid = q - A @ coef
    if dof > 0:
        s2 = float(resid @ resid) / dof
        cov = s2 * np.linalg.pinv(A.T @ A)
        stat = float(np.sqrt(max(cov[0, 0], 0.0)))
    else:
        stat = 0.0
    return coef, stat


def extrapolate(
    h: np.ndarray, values: np.ndarray, kappa_max: np.ndarray | None = None
) -> Extrapolation:
    """Extrapolate ``values`` measured at spacings ``h`` (and cutoffs) to ``h -> 0, kmax -> inf``."""
    h = np.asarray(h, dtype=float)
    q = np.asarray(values, dtype=float)
    if h.shape != q.shape or h.ndim != 1:
        raise InvalidParameterError("h and values must be 1-D arrays of equal length")
    if len(np.unique(h)) < 2:
        raise InvalidParameterError("need at least two distinct grid spacings to extrapolate")
    if not np.all(np.isfinite(q)):
        raise InvalidParameterError(f"cannot extrapolate non-finite values {q.tolist()}")
    kmax = np.full_like(h, np.inf) if kappa_max is None else np.asarray(kappa_max, dtype=float)
    vary_k = np.isfinite(kmax).all() and len(np.unique(kmax)) >= 2
    base: tuple[str, ...] = ("h",) + (("kmax2",) if vary_k else ())
    n_par = 1 + len(base)
    terms = base + (("h2",) if len(np.unique(h)) >= 3 and len(q) >= n_par + 2 else ())
    coef, stat = _fit(h, kmax, q, terms)
    # model/systematic spread: refit without the coarsest spacing (if still determined),
    # else the whole extrapolation step from the finest point.
    keep = h < h.max()
    sub_terms = terms if keep.sum() >= 1 + len(terms) + 1 else base
    if keep.sum() >= 1 + len(sub_terms):
        coef_s, _ = _fit(h[keep], kmax[keep], q[keep], sub_terms)
        spread = abs(coef[0] - coef_s[0])
    else:
        spread = abs(coef[0] - q[np.argmin(h)])
    err = float(np.hypot(stat, spread))
    return Extrapolation(value=float(coef[0]), error=err, model="+".join(("1",) + terms),
                         coefficients=[float(c) for c in coef])


#: candidate ansaetze for :func:`extrapolate_ansatz` (name -> terms besides the constant)
ANSAETZE: dict[str, tuple[str, ...]] = {
    "h": ("h", "kmax2"),
    "h+h2": ("h", "h2", "kmax2"),
    "sqrt h": ("sqrth", "kmax2"),
    "sqrt h+h": ("sqrth", "h", "kmax2"),
    "h+h ln h": ("h", "hlnh", "kmax2"),
    "h, 1/kmax": ("h", "kmax1"),
}


@dataclasses.dataclass
class AnsatzExtrapolation:
    """Result of :func:`extrapolate_ansatz`: value, total error and its parts, every model.

    ``models[name]`` holds the ansatz's limit (``value``), its standard error, its leave-one-out
    RMS and, for :meth:`predict`, its ``terms``, ``coefficients`` and ``covariance``."""

    value: float
    error: float
    fit_error: float
    ansatz_spread: float
    model: str
    accepted: list[str]
    models: dict[str, dict]
    criterion: str

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def predict(self, h: float, kappa_max: float) -> tuple[float, float]:
        """The chosen ansatz's value at a resolution ``(h, kappa_max)`` the fit may not have
        used, and its error by the same rule as the limit: the chosen fit's standard error there
        and the largest difference to an acceptable ansatz's prediction, in quadrature."""
        hh = np.array([float(h)])
        kk = np.array([float(kappa_max)])

        def at(name: str) -> tuple[float, float]:
            m = self.models[name]
            x = _design_any(hh, kk, tuple(m["terms"]))[0]
            cov = np.asarray(m["covariance"], dtype=float)
            return float(x @ np.asarray(m["coefficients"])), float(np.sqrt(max(x @ cov @ x, 0.0)))

        value, stat = at(self.model)
        spread = max(abs(at(k)[0] - value) for k in self.accepted)
        return value, float(np.hypot(stat, spread))


def _design_any(h: np.ndarray, kmax: np.ndarray, terms: tuple[str, ...]) -> np.ndarray:
    cols = {"h": h, "h2": h**2, "sqrth": np.sqrt(h), "hlnh": h * np.log(h),
            "kmax2": 1.0 / kmax**2, "kmax1": 1.0 / kmax}
    return np.stack([np.ones_like(h)] + [cols[t] for t in terms], axis=1)


def _fit_any(h, kmax, q, terms):
    """Least-squares coefficients and their covariance (scaled by the residual variance; zero
    when the fit has no spare degree of freedom)."""
    A = _design_any(h, kmax, terms)
    coef, *_ = np.linalg.lstsq(A, q, rcond=None)
    dof = len(q) - A.shape[1]
    resid = q - A @ coef
    cov = np.zeros((A.shape[1], A.shape[1]))
    if dof > 0:
        cov = float(resid @ resid) / dof * np.linalg.pinv(A.T @ A)
    return coef, cov


def _loo_rms(h, kmax, q, terms) -> float:
    """Leave-one-out prediction RMS: each point predicted from a fit to the others."""
    n_par = 1 + len(terms)
    errs = []
    for i in range(len(q)):
        keep = np.arange(len(q)) != i
        if keep.sum() < n_par or np.linalg.matrix_rank(_design_any(h[keep], kmax[keep], terms)) < n_par:
            return float("inf")
        coef, _ = _fit_any(h[keep], kmax[keep], q[keep], terms)
        errs.append(q[i] - (_design_any(h[i:i + 1], kmax[i:i + 1], terms) @ coef)[0])
    return float(np.sqrt(np.mean(np.square(errs))))


#: name of the local estimate of :func:`extrapolate_ansatz`: the straight line through the two
#: finest spacings at the finest point's cutoff (Richardson step)
FINEST_PAIR = "finest pair"


def _finest_pair(h: np.ndarray, km: np.ndarray, q: np.ndarray, cutoff: dict) -> dict | None:
    """The line through the two finest spacings at the cutoff of the finest point, after the
    cutoff terms of the ``cutoff`` model entry are taken off (so that its constant is the
    ``h -> 0, kappa_max -> inf`` limit), as a model entry (exactly determined: no fit error,
    no leave-one-out RMS); None without two spacings at that cutoff."""
    same = km == km[np.argmin(h)]
    hs = np.unique(h[same])
    if hs.size < 2:
        return None
    i1 = np.flatnonzero(same & (h == hs[0]))[0]
    i2 = np.flatnonzero(same & (h == hs[1]))[0]
    k_terms = [t for t in cutoff["terms"] if t.startswith("kmax")]
    k_coef = np.array([c for t, c in zip(cutoff["terms"], cutoff["coefficients"][1:], strict=True)
                       if t.startswith("kmax")])
    idx = np.array([i1, i2])
    tail = _design_any(h[idx], km[idx], tuple(k_terms))[:, 1:] @ k_coef if k_terms else 0.0
    q1, q2 = q[idx] - tail
    slope = (q2 - q1) / (h[i2] - h[i1])
    coef = [float(q1 - slope * h[i1]), float(slope)] + [float(c) for c in k_coef]
    n = len(coef)
    return {"value": coef[0], "fit_error": 0.0, "loo_rms": float("nan"), "terms": ["h"] + k_terms,
            "coefficients": coef, "covariance": np.zeros((n, n)).tolist()}


def extrapolate_ansatz(h: np.ndarray, values: np.ndarray, kappa_max: np.ndarray,
                       accept_factor: float = 10.0,
                       bounds: tuple[float, float] | None = None) -> AnsatzExtrapolation:
    r"""Extrapolate ``h -> 0, kappa_max -> inf`` with several ansaetze (:data:`ANSAETZE`):
    O(h) cell-kernel errors, O(h^2), ``h ln h`` (grid sums of the end-point logarithm, whose
    cell-by-cell mismatch with (R4) is O(1/n)), ``h^{1/2}`` with and without the O(h) term
    (end points ``phi ~ kappa^beta`` with beta near 1/2), and ``1/kappa_max^2`` tails or
    ``1/kappa_max`` for slowly converging moments (docs/physics.md (B2)).

    Fit-quality criterion: the leave-one-out prediction RMS of each ansatz (every point
    predicted from a fit to the others). The ansatz with the smallest one gives the value; every
    ansatz within ``accept_factor`` times that RMS is *acceptable*, unless its limit lies outside
    the physical range ``bounds`` (e.g. ``(0, 1)`` for a probability). The straight line through
    the two finest spacings (:data:`FINEST_PAIR`, a Richardson step) is always acceptable: on a
    ladder that has not reached its asymptotic form the global ansaetze can agree with each
    other and with held-out points and still turn over before ``h = 0``; the local step bounds
    how far the data alone carry the trend. The largest difference between an acceptable
    estimate's limit and the chosen one is the ansatz spread. The error is the chosen fit's
    standard error and the spread in quadrature.
    """
    h = np.asarray(h, dtype=float)
    q = np.asarray(values, dtype=float)
    km = np.asarray(kappa_max, dtype=float)
    if not (h.shape == q.shape == km.shape) or h.ndim != 1:
        raise InvalidParameterError("h, values and kappa_max must be 1-D arrays of equal length")
    if len(np.unique(h)) < 2:
        raise InvalidParameterError("need at least two grid spacings to extrapolate")
    vary_k = len(np.unique(km)) >= 2
    if not np.all(np.isfinite(q)):
        raise InvalidParameterError(f"cannot extrapolate non-finite values {q.tolist()}")
    models: dict[str, dict] = {}
    for name, terms in ANSAETZE.items():
        if not vary_k:  # one cutoff: no kappa_max term can be determined
            if "kmax1" in terms:
                continue
            terms = tuple(t for t in terms if t != "kmax2")
        if len(q) < len(terms) + 1:
            continue
        coef, cov = _fit_any(h, km, q, terms)
        models[name] = {"value": float(coef[0]), "fit_error": float(np.sqrt(max(cov[0, 0], 0.0))),
                        "loo_rms": _loo_rms(h, km, q, terms) if len(q) >= len(terms) + 2
                        else float("inf"),
                        "terms": list(terms), "coefficients": [float(c) for c in coef],
                        "covariance": cov.tolist()}
    finite = {k: m for k, m in models.items() if np.isfinite(m["loo_rms"])}
    criterion = f"leave-one-out RMS; ansaetze within {accept_factor:g}x of the best are acceptable"
    if bounds is not None:
        lo, hi = bounds
        physical = {k: m for k, m in finite.items() if lo <= m["value"] <= hi}
        if physical:
            finite = physical
            criterion += f", if their limit lies in the physical range [{lo:g}, {hi:g}]"
        elif finite:
            criterion += f" (no ansatz has its limit in the physical range [{lo:g}, {hi:g}])"
    if not finite:
        if not models:
            raise InvalidParameterError("too few resolutions for any extrapolation ansatz")
        # exactly determined: no cross-check possible; the whole step from the finest point
        name = next(iter(models))
        step = abs(models[name]["value"] - q[np.argmin(h)])
        return AnsatzExtrapolation(
            value=models[name]["value"], error=step, fit_error=0.0, ansatz_spread=step,
            model=name, accepted=[name], models=models,
            criterion="exactly determined (too few resolutions to compare ansaetze): "
                      "error = the whole extrapolation step from the finest point")
    best = min(finite, key=lambda k: finite[k]["loo_rms"])
    limit = accept_factor * max(finite[best]["loo_rms"], 1e-15)
    accepted = [k for k, m in finite.items() if m["loo_rms"] <= limit]
    step = _finest_pair(h, km, q, finite[best])
    if step is not None:
        models[FINEST_PAIR] = step
        accepted.append(FINEST_PAIR)
        criterion += ("; the linear continuation of the two finest spacings is always acceptable "
                      "(it bounds how far the global ansaetze may carry the ladder's trend)")
    spread = max(abs(models[k]["value"] - finite[best]["value"]) for k in accepted)
    stat = finite[best]["fit_error"]
    return AnsatzExtrapolation(
        value=finite[best]["value"], error=float(np.hypot(stat, spread)), fit_error=stat,
        ansatz_spread=float(spread), model=best, accepted=accepted, models=models,
        criterion=criterion,
    )
