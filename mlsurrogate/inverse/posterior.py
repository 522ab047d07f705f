r"""Posterior of the fitted couplings given targets, through an ensemble surrogate.

Likelihood (Gaussian, per target ``i``, independent)::

    -2 log L(theta) = sum_i (mu_i(theta) - t_i)^2 / v_i(theta) + log v_i(theta)
    v_i(theta)      = e_i^2 + (r t_i)^2 + s_i(theta)^2

with ``mu_i``/``s_i`` the ensemble mean/spread, ``e_i`` the target's error and ``r`` an
optional relative model ("theory") error. Dropping ``s_i`` gives the fit that trusts the
surrogate blindly; both are reported, so the surrogate's share of the uncertainty is visible.
The prior is flat on the ``[parameters]`` box.

* best fit: multi-start bounded minimisation (L-BFGS-B) from the best prior samples;
* Laplace: covariance from the finite-difference Hessian of ``-log L`` at the best fit;
* samples: an affine-invariant ensemble sampler (Goodman & Weare 2010 stretch move), written
  out here in a few lines of numpy;
* tension map: pulls ``z_i = (mu_i - t_i)/sqrt(v_i)`` over prior samples: the fraction of the
  box where each target alone is met (|z| < 2) and where all are met together, and the point
  where the largest pull is smallest.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.optimize import minimize

from mlsurrogate.inverse.config import Target


class Likelihood:
    """``-2 log L`` and pulls over batches of points ``(N, d)`` (module docstring)."""

    def __init__(self, ensemble: Any, targets: dict[str, Target], lo: np.ndarray, hi: np.ndarray,
                 theory_rel_error: float = 0.0, with_surrogate_error: bool = True) -> None:
        self.ens = ensemble
        self.names = list(targets)
        self.cols = [ensemble.column(n) for n in self.names]
        self.t = np.array([targets[n].value for n in self.names])
        self.var0 = np.array([targets[n].error ** 2 for n in self.names]) + (theory_rel_error * self.t) ** 2
        self.lo, self.hi = np.asarray(lo, float), np.asarray(hi, float)
        self.with_surrogate_error = with_surrogate_error

    def inside(self, X: np.ndarray) -> np.ndarray:
        return np.all((X >= self.lo) & (X <= self.hi), axis=1)

    def moments(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Predicted target observables and their total variance, each ``(N, targets)``."""
        mean, std = self.ens.predict(X)
        mu, s = mean[:, self.cols], std[:, self.cols]
        var = self.var0 + (s**2 if self.with_surrogate_error else 0.0)
        return mu, var

    def neg2logl(self, X: np.ndarray) -> np.ndarray:
        X = np.atleast_2d(X)
        out = np.full(X.shape[0], np.inf)
        ok = self.inside(X)
        if ok.any():
            mu, var = self.moments(X[ok])
            out[ok] = np.sum((mu - self.t) ** 2 / var + np.log(var), axis=1)
        return out

    def pulls(self, X: np.ndarray) -> np.ndarray:
        mu, var = self.moments(np.atleast_2d(X))
        return (mu - self.t) / np.sqrt(var)


def best_fit(lik: Likelihood, prior: np.ndarray, n_starts: int = 5) -> np.ndarray:
    """Bounded minimisation of ``-2 log L`` from the ``n_starts`` best prior samples."""
    vals = lik.neg2logl(prior)
    starts = prior[np.argsort(vals)[:n_starts]]
    scale = lik.hi - lik.lo

    def f(u: np.ndarray) -> float:
        return float(lik.neg2logl(lik.lo + u * scale)[0])

    best_u, best_v = None, np.inf
    for x0 in starts:
        r = minimize(f, (x0 - lik.lo) / scale, method="L-BFGS-B", bounds=[(0.0, 1.0)] * len(scale),
                     options={"eps": 1e-5})
        if r.fun < best_v:
            best_u, best_v = r.x, r.fun
    return lik.lo + np.asarray(best_u) * scale


def laplace(lik: Likelihood, x: np.ndarray, rel_step: float = 1e-3) -> dict[str, Any]:
    """Covariance ``H^-1`` of ``-log L`` at ``x`` (central differences in box-scaled units).

    Parameters within 1 % of a box edge are flagged: there the Gaussian approximation is only
    one-sided and the posterior samples are the better summary."""
    scale = lik.hi - lik.lo
    d = len(x)
    h = rel_step

    def f(u: np.ndarray) -> float:
        # evaluated without the box check, so a best fit on the edge still has a curvature
        xx = (lik.lo + u * scale)[None, :]
        mu, var = lik.moments(xx)
        return 0.5 * float(np.sum((mu - lik.t) ** 2 / var + np.log(var)))

    u0 = (x - lik.lo) / scale
    H = np.zeros((d, d))
    for i in range(d):
        for j in range(i, d):
            ei, ej = np.eye(d)[i] * h, np.eye(d)[j] * h
            H[i, j] = H[j, i] = (f(u0 + ei + ej) - f(u0 + ei - ej) - f(u0 - ei + ej)
                                 + f(u0 - ei - ej)) / (4 * h * h)
    w, V = np.linalg.eigh(H)
    positive = bool(np.all(w > 0))
    w = np.where(w > 1e-12 * max(1.0, float(np.abs(w).max())), w, np.nan)
    cov_u = (V / w) @ V.T if positive else np.full((d, d), np.nan)
    cov = cov_u * np.outer(scale, scale)
    edge = (u0 < 0.01) | (u0 > 0.99)
    return {"cov": cov, "std": np.sqrt(np.clip(np.diag(cov), 0, None)),
            "positive_definite": positive, "at_box_edge": edge.tolist()}


def sample(lik: Likelihood, x0: np.ndarray, walkers: int, steps: int, burn: int,
           seed: int, a: float = 2.0) -> dict[str, Any]:
    """Affine-invariant stretch-move sampler (Goodman & Weare 2010) started in a small ball
    around ``x0`` inside the box; returns the post-burn-in samples and the acceptance rate."""
    rng = np.random.default_rng(seed)
    d = len(x0)
    scale = lik.hi - lik.lo
    X = np.clip(x0 + 0.02 * scale * rng.standard_normal((walkers, d)), lik.lo, lik.hi)
    lp = -0.5 * lik.neg2logl(X)
    half = walkers // 2
    chain = np.empty((steps, walkers, d))
    accepted = 0
    for t in range(steps):
        for first in (True, False):
            act = slice(0, half) if first else slice(half, walkers)
            oth = slice(half, walkers) if first else slice(0, half)
            xa, xo = X[act], X[oth]
            z = ((a - 1.0) * rng.random(half) + 1.0) ** 2 / a
            partner = xo[rng.integers(0, xo.shape[0], half)]
            prop = partner + z[:, None] * (xa - partner)
            lp_new = -0.5 * lik.neg2logl(prop)
            log_acc = (d - 1) * np.log(z) + lp_new - lp[act]
            acc = np.log(rng.random(half)) < log_acc
            xa[acc], lpa = prop[acc], lp[act]
            lpa[acc] = lp_new[acc]
            X[act], lp[act] = xa, lpa
            accepted += int(acc.sum())
        chain[t] = X
    return {"samples": chain[burn:].reshape(-1, d), "acceptance": accepted / (steps * walkers),
            "walkers": walkers, "steps": steps, "burn": burn, "seed": seed}


def summarize(samples: np.ndarray, names: Sequence[str]) -> dict[str, dict[str, float]]:
    q16, q50, q84 = np.percentile(samples, [16, 50, 84], axis=0)
    return {n: {"median": float(q50[i]), "minus": float(q50[i] - q16[i]),
                "plus": float(q84[i] - q50[i]), "mean": float(samples[:, i].mean()),
                "std": float(samples[:, i].std())} for i, n in enumerate(names)}


def tension_map(lik: Likelihood, prior: np.ndarray, names: Sequence[str],
                z_max: float = 2.0) -> dict[str, Any]:
    """Where in the prior box each target, and all together, are met within ``z_max``."""
    z = lik.pulls(prior)
    ok = np.abs(z) < z_max
    both = np.all(ok, axis=1)
    worst = np.max(np.abs(z), axis=1)
    i = int(np.argmin(worst))
    region = None
    if both.any():
        sub = prior[both]
        region = {n: [float(sub[:, j].min()), float(sub[:, j].max())] for j, n in enumerate(names)}
    return {
        "z_max": z_max,
        "n_prior_samples": int(prior.shape[0]),
        "fraction_met": {t: float(ok[:, j].mean()) for j, t in enumerate(lik.names)},
        "fraction_all_met": float(both.mean()),
        "joint_region_box": region,
        "least_tension_point": dict(zip(names, map(float, prior[i]), strict=True)),
        "least_tension_pulls": dict(zip(lik.names, map(float, z[i]), strict=True)),
        "least_tension_max_pull": float(worst[i]),
    }
