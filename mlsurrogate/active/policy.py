"""Batch selection by uncertainty sampling (results: docs/al_heavy4.md).

Our surrogate is a *forward* model (couplings -> observables), so candidates are scored
without simulating them (spec 7): each round draws a fresh quasi-random pool over the
coupling box, scores it with the current model, turns the scores into probabilities, draws a
multinomial batch, jitters it and drops duplicates.

``p_i = (1 - eps) * score_i^beta / sum_j score_j^beta + eps / M`` over the ``M`` pool
candidates (:func:`selection_probabilities`; ``beta = power = 1`` and ``eps = uniform_mix`` -
default 0.1, 0 is the paper's pure rule), counts ``~ Multinomial(B, p)``, each copy jittered by
a Gaussian of ``jitter`` pool spacings (redrawn until it lies in the box), proposals within
``dedup_tol`` of a simulated point or of an earlier proposal dropped and redrawn
(:func:`draw_batch`). ``[policy] kind = "random"`` is the i.i.d. uniform baseline arm,
``"sobol"`` the Sobol'-continuation one (:func:`sobol_continuation`).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from lfqcd.errors import InvalidParameterError
from lfqcd.scan.designs import unit_sample
from mlsurrogate.active.config import PolicyConfig
from mlsurrogate.active.simulators.client import CouplingBox
from mlsurrogate.data import Dataset

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "Selection",
    "UncertaintyModel",
    "candidate_pool",
    "design_unit",
    "draw_batch",
    "jitter_inside",
    "select_batch",
    "selection_probabilities",
    "sobol_continuation",
]


class UncertaintyModel(Protocol):
    """What the policy needs of a model: fit, predict (mean, variance), score, save."""

    kind: str

    def fit(self, ds: Dataset, epochs: int, *, warm: bool,
            progress: Callable[[dict[str, float]], None] | None = None) -> list[Any]: ...

    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...

    def score(self, X: np.ndarray) -> np.ndarray: ...

    def save(self, folder: Path) -> None: ...


def sobol_continuation(d: int, start: int, n: int, seed: int) -> np.ndarray:
    """Points ``start .. start + n - 1`` of the scrambled Sobol' sequence of ``seed``, whose
    first points are ``design_unit("sobol", d, start, seed)`` (the Sobol'-continuation
    baseline: every round extends the initial design's low-discrepancy sequence)."""
    if start < 0 or n < 1:
        raise InvalidParameterError(f"Sobol' continuation needs start >= 0 and n >= 1, got "
                                    f"{start}, {n}")
    return unit_sample("sobol", d, start + n, seed)[start:]


def design_unit(kind: str, d: int, n: int, seed: int) -> np.ndarray:
    """``n`` points in the unit cube: scrambled ``"sobol"``, ``"lhs"`` or i.i.d. ``"random"``."""
    if n <= 0:
        return np.zeros((0, d))
    if kind == "random":
        return np.random.default_rng(seed).random((n, d))
    return unit_sample(kind, d, n, seed)


def candidate_pool(d: int, n: int, sampler: str = "sobol", seed: int = 0) -> np.ndarray:
    """``n`` candidates in the unit cube ``[0, 1)^d`` (scipy.stats.qmc Sobol'/LHS or random)."""
    if n < 1:
        raise InvalidParameterError(f"candidate pool size must be >= 1, got {n}")
    return design_unit(sampler, d, n, seed)


def selection_probabilities(scores: np.ndarray, uniform_mix: float = 0.1,
                            power: float = 1.0) -> np.ndarray:
    """``p_i = (1 - eps) s_i^beta / sum_j s_j^beta + eps / M`` (spec 3.2 for ``beta = 1``).

    Negative or non-finite scores count as 0; if every score is 0 the distribution is uniform.
    """
    s = np.asarray(scores, dtype=float).reshape(-1)
    if s.size == 0:
        raise InvalidParameterError("no candidates to score (empty pool)")
    if not 0.0 <= uniform_mix <= 1.0:
        raise InvalidParameterError(f"uniform_mix must be in [0, 1], got {uniform_mix}")
    if not power > 0:
        raise InvalidParameterError(f"power must be > 0, got {power}")
    s = np.where(np.isfinite(s) & (s > 0), s, 0.0)
    if s.max() > 0:
        s = (s / s.max()) ** power  # rescale first: no overflow for large powers
    total = s.sum()
    prop = s / total if total > 0 else np.full(s.size, 1.0 / s.size)
    p = (1.0 - uniform_mix) * prop + uniform_mix / s.size
    return p / p.sum()


def jitter_inside(u: np.ndarray, sigma: float, rng: np.random.Generator,
                  max_tries: int = 100) -> np.ndarray:
    """Gaussian jitter of unit-cube points, redrawn until inside ``[0, 1]^d``.

    A point still outside after ``max_tries`` draws keeps its unjittered position.
    """
    u = np.asarray(u, dtype=float)
    if sigma <= 0 or u.size == 0:
        return u.copy()
    out = u + sigma * rng.standard_normal(u.shape)
    bad = ~np.all((out >= 0) & (out <= 1), axis=1)
    for _ in range(max_tries):
        if not bad.any():
            break
        out[bad] = u[bad] + sigma * rng.standard_normal((int(bad.sum()), u.shape[1]))
        bad = ~np.all((out >= 0) & (out <= 1), axis=1)
    out[bad] = u[bad]
    return out


def draw_batch(pool: np.ndarray, probs: np.ndarray, n: int, rng: np.random.Generator, *,
               jitter: float = 0.0, exclude: np.ndarray | None = None,
               dedup_tol: float = 1e-3, max_rounds: int = 50) -> np.ndarray:
    """Draw ``n`` new unit-cube points from ``pool`` ``(M, d)`` with probabilities ``probs``.

    Counts ``~ Multinomial(n, probs)``; each copy is jittered by ``N(0, sigma^2)`` with
    ``sigma = jitter * M**(-1/d)`` (inside the cube); a proposal closer than ``dedup_tol`` to a
    point of ``exclude`` or to an earlier proposal is dropped (its candidate gets probability
    0 when there is no jitter) and the shortfall is drawn again.

    Raises
    ------
    InvalidParameterError : ``n`` larger than the pool, or the pool cannot supply ``n`` new
        points (everything left duplicates simulated points).
    """
    pool = np.asarray(pool, dtype=float)
    M, d = pool.shape
    if n > M:
        raise InvalidParameterError(f"batch of {n} points is larger than the candidate pool "
                                    f"({M} points); raise pool_size or lower batch")
    p = np.asarray(probs, dtype=float).copy()
    if p.shape != (M,) or not np.all(np.isfinite(p)) or np.any(p < 0) or p.sum() <= 0:
        raise InvalidParameterError("selection probabilities must be finite, >= 0, one per "
                                    "candidate, with a positive sum")
    p /= p.sum()
    sigma = jitter * M ** (-1.0 / d)
    ref = np.zeros((0, d)) if exclude is None else np.asarray(exclude, dtype=float).reshape(-1, d)
    accepted: list[np.ndarray] = []
    for _ in range(max_rounds):
        need = n - len(accepted)
        if need == 0 or p.sum() <= 0:
            break
        counts = rng.multinomial(need, p / p.sum())
        idx = np.repeat(np.arange(M), counts)
        props = jitter_inside(pool[idx], sigma, rng)
        for i, q in zip(idx, props, strict=True):
            taken = np.vstack([ref, *accepted]) if accepted else ref
            if taken.shape[0] and np.min(np.linalg.norm(taken - q, axis=1)) <= dedup_tol:
                if sigma == 0:
                    p[i] = 0.0
                continue
            accepted.append(q[None, :])
    if len(accepted) < n:
        raise InvalidParameterError(
            f"only {len(accepted)} of {n} requested points are new: the candidate pool of {M} "
            f"is exhausted (the rest duplicates simulated points); raise pool_size or jitter"
        )
    return np.vstack(accepted)


@dataclasses.dataclass
class Selection:
    """One batch selection: the new points (couplings and unit coordinates) and the pool."""

    x: np.ndarray
    u: np.ndarray
    pool: np.ndarray | None = None
    scores: np.ndarray | None = None
    probs: np.ndarray | None = None

    def stats(self) -> dict[str, float]:
        """Summary numbers for the round record."""
        if self.scores is None or self.probs is None:
            return {}
        return {"score_max": float(np.max(self.scores)), "score_mean": float(np.mean(self.scores)),
                "p_max_over_uniform": float(np.max(self.probs) * self.probs.size)}


def select_batch(model: UncertaintyModel | None, box: CouplingBox, n: int, policy: PolicyConfig,
                 rng: np.random.Generator, *, exclude_u: np.ndarray | None = None,
                 pool_seed: int = 0) -> Selection:
    """The next ``n`` points: uncertainty sampling over a fresh pool, or uniform (baseline)."""
    d = box.d
    if policy.kind == "random" or model is None:
        u = draw_batch(rng.random((max(n, policy.pool_size), d)), np.ones(max(n, policy.pool_size)),
                       n, rng, exclude=exclude_u, dedup_tol=policy.dedup_tol)
        return Selection(box.from_unit(u), u)
    pool = candidate_pool(d, policy.pool_size, policy.pool_sampler, pool_seed)
    scores = model.score(box.from_unit(pool))
    probs = selection_probabilities(scores, policy.uniform_mix, policy.power)
    u = draw_batch(pool, probs, n, rng, jitter=policy.jitter, exclude=exclude_u,
                   dedup_tol=policy.dedup_tol)
    return Selection(box.from_unit(u), u, pool, scores, probs)


