"""Continuum extrapolation of resolution ladders with a fit error (physics.md B, L.6).

A quantity computed at grid spacings ``h_i`` (and cutoffs ``kappa_max_i``) is fitted by linear
least squares to ``q(h, kmax) = q_inf + c_1 h [+ c_2 h^2] [+ c_3 / kmax^2]``; the O(h) term is the
leading discretisation error of cell-integrated kernels away from end points (physics.md B) and
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
