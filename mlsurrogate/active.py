"""Batch-mode active learning by uncertainty sampling (spec active_learning.md 3, 4, 7).

Our surrogate is a *forward* model (couplings -> observables), so candidates are scored
without simulating them (spec 7): each round draws a fresh quasi-random pool over the
coupling box, scores it with the current model, turns the scores into probabilities, draws a
multinomial batch, jitters it, drops duplicates, simulates it and retrains warm-started.

Uncertainty (``[uncertainty] kind``)
    ``"ensemble"`` (default): ``members`` >= 2 dense FFNs (:class:`~mlsurrogate.models.FFN`
    through :func:`~mlsurrogate.train.train_surrogate`) with different initialisation seeds,
    shuffling seeds and train/validation splits. Score of a coupling point: the predictive
    variance across members, per output divided by that output's variance over the labelled
    set, averaged over outputs (:meth:`EnsembleModel.score`).
    ``"heteroscedastic"``: the published single-model head (spec 3.1/4): one FFN predicting a
    mean and a log-variance ``s`` per output, trained with the Gaussian negative log-likelihood
    ``(y - mu)^2 e^{-s} + s`` (:func:`gaussian_nll`); score ``mean_j exp(s_j)`` (standardised
    outputs). With a deterministic simulator this learns where the fit error is large, not
    epistemic uncertainty (spec 3.1), which is why the ensemble is the default.

Selection (``[policy]``, spec 3.2-3.4)
    ``p_i = (1 - eps) * score_i^beta / sum_j score_j^beta + eps / M`` over the ``M`` pool
    candidates (:func:`selection_probabilities`; ``beta = power = 1`` and ``eps =
    uniform_mix`` - default 0.1, 0 is the paper's pure rule), counts ``~ Multinomial(B, p)``,
    each copy jittered by a Gaussian of ``jitter`` pool spacings (redrawn until it lies in the
    box), proposals within ``dedup_tol`` of a simulated point or of an earlier proposal dropped
    and redrawn (:func:`draw_batch`).

Rounds (:func:`run_active_learning`)
    round 0: ``initial`` points of a Sobol'/LHS design, models trained from scratch
    (``initial_epochs``); rounds 1..R: ``batch`` points each, models warm-started from the
    previous round (weights and standardisation kept; Adam and its learning rate restarted;
    ``round_epochs`` with early stopping). ``[policy] kind = "random"`` is the baseline arm:
    the same rounds and training with uniformly random batches.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from lfqcd.errors import InvalidParameterError, ResultFileError
from lfqcd.scan.executors import ScanExecutor, make_executor
from mlsurrogate.al_config import ALConfig, PolicyConfig
from mlsurrogate.al_run import (
    ALResult,
    ALRun,
    Echo,
    Progress,
    derive_seed,
    design_unit,
    progress_enabled,
)
from mlsurrogate.al_sim import CouplingBox, SimRecord
from mlsurrogate.arch import Arch
from mlsurrogate.config import FitConfig, ModelConfig
from mlsurrogate.data import Dataset, Standardizer, group_observables
from mlsurrogate.models import Surrogate, build_network, load_surrogate, torch_dtype
from mlsurrogate.train import FitResult, fit, train_surrogate

__all__ = [
    "EnsembleModel",
    "HeteroscedasticModel",
    "Selection",
    "UncertaintyModel",
    "candidate_pool",
    "draw_batch",
    "gaussian_nll",
    "heldout_metrics",
    "jitter_inside",
    "make_model",
    "run_active_learning",
    "select_batch",
    "selection_probabilities",
    "train_chunked",
]

EpochCallback = Callable[[dict[str, float]], None]


# --------------------------------------------------------------------------------------------
# uncertainty models
# --------------------------------------------------------------------------------------------
class UncertaintyModel(Protocol):
    """What the policy needs of a model: fit, predict (mean, variance), score, save."""

    kind: str

    def fit(self, ds: Dataset, epochs: int, *, warm: bool,
            progress: EpochCallback | None = None) -> list[FitResult]: ...

    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...

    def score(self, X: np.ndarray) -> np.ndarray: ...

    def save(self, folder: Path) -> None: ...


def _output_scale(Y: np.ndarray) -> np.ndarray:
    """Per-output standard deviation of the labelled set (``1`` where it is ~0)."""
    s = Y.std(axis=0)
    return np.where(s <= 1e-12 * np.maximum(1.0, np.abs(Y.mean(axis=0))), 1.0, s)


def _fit_config(opts: Any, epochs: int, seed: int) -> FitConfig:
    return FitConfig(batch_size=opts.batch_size, lr=opts.lr, weight_decay=opts.weight_decay,
                     max_epochs=epochs, patience=opts.patience, seed=seed, device="cpu")


class EnsembleModel:
    """A deep ensemble of dense FFN surrogates (different seeds); the default uncertainty.

    Member ``i`` uses the initialisation seed ``model.seed + 7919 i``, shuffling seed
    ``derive_seed(seed, i, 11)`` and validation split ``derive_seed(seed, i, 13)``, so the
    members differ in initialisation, batch order and held-back points.
    """

    kind = "ensemble"

    def __init__(self, members: int, model: ModelConfig, train: Any, seed: int = 0) -> None:
        if members < 2:
            raise InvalidParameterError(f"an ensemble needs at least 2 members, got {members}")
        self.n_members, self.model_cfg, self.train_opts, self.seed = members, model, train, seed
        self.members: list[Surrogate] = []
        self.y_scale: np.ndarray | None = None

    def fit(self, ds: Dataset, epochs: int, *, warm: bool,
            progress: EpochCallback | None = None) -> list[FitResult]:
        """Train every member on ``ds`` (warm-started from the current members if ``warm``)."""
        results = []
        new: list[Surrogate] = []
        for i in range(self.n_members):
            init = self.members[i] if warm and len(self.members) == self.n_members else None
            mcfg = dataclasses.replace(self.model_cfg, seed=self.model_cfg.seed + 7919 * i)
            sur, res = train_surrogate(
                ds, mcfg, _fit_config(self.train_opts, epochs, derive_seed(self.seed, i, 11)),
                val_fraction=self.train_opts.val_fraction,
                split_seed=derive_seed(self.seed, i, 13), init=init, progress=progress,
            )
            new.append(sur)
            results.append(res)
        self.members = new
        self.y_scale = _output_scale(ds.Y)
        return results

    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Ensemble mean and variance ``(N, d_out)`` in physical units."""
        if not self.members:
            raise InvalidParameterError("the ensemble has not been trained yet")
        P = np.stack([m.predict_array(X) for m in self.members])
        return P.mean(axis=0), P.var(axis=0, ddof=1)

    def score(self, X: np.ndarray) -> np.ndarray:
        """Per-output standardised predictive variance, averaged over outputs ``(N,)``."""
        _, var = self.predict(X)
        assert self.y_scale is not None
        return np.mean(var / self.y_scale**2, axis=1)

    def save(self, folder: Path) -> None:
        """``member_<i>.pt`` checkpoints plus ``model.json``."""
        folder.mkdir(parents=True, exist_ok=True)
        for i, m in enumerate(self.members):
            m.save(folder / f"member_{i}.pt")
        meta = {"kind": self.kind, "members": self.n_members,
                "y_scale": None if self.y_scale is None else self.y_scale.tolist()}
        (folder / "model.json").write_text(json.dumps(meta))

    def load(self, folder: Path) -> None:
        """Reload what :meth:`save` wrote (raises ResultFileError when incomplete)."""
        meta = _read_meta(folder, self.kind)
        self.members = [load_surrogate(folder / f"member_{i}.pt") for i in range(self.n_members)]
        self.y_scale = None if meta.get("y_scale") is None else np.asarray(meta["y_scale"])


def gaussian_nll(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Heteroscedastic Gaussian NLL (spec 4): ``mean(((y - mu)^2 e^{-s} + s) / 2)``.

    ``out = [mu, s]`` with ``s`` the predicted log-variance per output, clamped to [-12, 12]
    for stability.
    """
    m = y.shape[1]
    mu, s = out[:, :m], out[:, m:].clamp(-12.0, 12.0)
    return 0.5 * ((y - mu) ** 2 * torch.exp(-s) + s).mean()


class HeteroscedasticModel:
    """One FFN with a mean and a log-variance output per observable column (spec 3.1, 4).

    Stored as a regular :class:`~mlsurrogate.models.Surrogate` whose outputs are the columns
    followed by ``logvar:<column>`` (standardisation of the log-variances is the identity).
    """

    kind = "heteroscedastic"

    def __init__(self, model: ModelConfig, train: Any, seed: int = 0) -> None:
        self.model_cfg, self.train_opts, self.seed = model, train, seed
        self.sur: Surrogate | None = None
        self.m = 0

    def fit(self, ds: Dataset, epochs: int, *, warm: bool,
            progress: EpochCallback | None = None) -> list[FitResult]:
        """Train with :func:`gaussian_nll` (warm-started from the current network if ``warm``)."""
        train_ds, val_ds = ds.split(self.train_opts.val_fraction, derive_seed(self.seed, 0, 13))
        m = len(ds.output_names)
        if warm and self.sur is not None:
            arch, net = self.sur.arch, self.sur.net
            std = Standardizer(self.sur.standardizer.x_mean, self.sur.standardizer.x_std,
                               self.sur.standardizer.y_mean[:m], self.sur.standardizer.y_std[:m])
        else:
            mc = self.model_cfg
            arch = Arch(d_in=len(ds.input_names), d_out=2 * m, width=mc.width, depth=mc.depth,
                        activation=mc.activation, seed=mc.seed, dtype=mc.dtype)
            std = Standardizer.fit(train_ds.X, train_ds.Y)
            net = build_network(arch)
        dt = torch_dtype(arch.dtype)

        def tensors(d: Dataset) -> tuple[torch.Tensor, torch.Tensor]:
            return (torch.as_tensor(std.transform_x(d.X), dtype=dt),
                    torch.as_tensor(std.transform_y(d.Y), dtype=dt))

        res = fit(net, tensors(train_ds), tensors(val_ds),
                  _fit_config(self.train_opts, epochs, derive_seed(self.seed, 0, 11)),
                  None, progress, loss_fn=gaussian_nll)
        full = Standardizer(std.x_mean, std.x_std, np.concatenate([std.y_mean, np.zeros(m)]),
                            np.concatenate([std.y_std, np.ones(m)]))
        names = list(ds.output_names) + [f"logvar:{c}" for c in ds.output_names]
        self.sur = Surrogate(net, arch, full, ds.input_names, names,
                             {"kind": self.kind, "best_val_nll": res.best_val_loss})
        self.m = m
        return [res]

    def _raw(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.sur is None:
            raise InvalidParameterError("the heteroscedastic model has not been trained yet")
        out = self.sur.predict_array(X)
        return out[:, : self.m], np.clip(out[:, self.m :], -12.0, 12.0)

    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and predicted variance ``(N, d_out)`` in physical units."""
        mu, s = self._raw(X)
        assert self.sur is not None
        return mu, np.exp(s) * self.sur.standardizer.y_std[: self.m] ** 2

    def score(self, X: np.ndarray) -> np.ndarray:
        """``mean_j exp(s_j)``: predicted variance of the standardised outputs ``(N,)``."""
        return np.mean(np.exp(self._raw(X)[1]), axis=1)

    def save(self, folder: Path) -> None:
        """``model.pt`` plus ``model.json``."""
        assert self.sur is not None
        folder.mkdir(parents=True, exist_ok=True)
        self.sur.save(folder / "model.pt")
        (folder / "model.json").write_text(json.dumps({"kind": self.kind, "m": self.m}))

    def load(self, folder: Path) -> None:
        """Reload what :meth:`save` wrote."""
        meta = _read_meta(folder, self.kind)
        self.sur = load_surrogate(folder / "model.pt")
        self.m = int(meta["m"])


def _read_meta(folder: Path, kind: str) -> dict[str, Any]:
    try:
        meta = json.loads((folder / "model.json").read_text())
    except (OSError, ValueError) as exc:
        raise ResultFileError(f"model checkpoint {folder} is missing or unreadable ({exc})") from exc
    if meta.get("kind") != kind:
        raise ResultFileError(f"model checkpoint {folder} holds a {meta.get('kind')!r} model, "
                              f"expected {kind!r}")
    return meta


def make_model(cfg: ALConfig) -> EnsembleModel | HeteroscedasticModel:
    """The uncertainty model a configuration asks for (untrained)."""
    if cfg.uncertainty.kind == "heteroscedastic":
        return HeteroscedasticModel(cfg.model, cfg.train, cfg.seed)
    return EnsembleModel(cfg.uncertainty.members, cfg.model, cfg.train, cfg.seed)


# --------------------------------------------------------------------------------------------
# the policy
# --------------------------------------------------------------------------------------------
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


def heldout_metrics(model: UncertaintyModel, test: Dataset | None) -> dict[str, Any]:
    """Held-out error: ``test_nmse`` = mean over non-constant columns of MSE / Var(test column),
    plus the RMSE per observable (physical units). Empty without a test set.
    """
    if test is None:
        return {}
    pred, _ = model.predict(test.X)
    var = test.Y.var(axis=0)
    live = var > 1e-12 * np.maximum(1.0, test.Y.mean(axis=0) ** 2)
    mse = np.mean((pred - test.Y) ** 2, axis=0)
    nmse = float(np.mean(mse[live] / var[live])) if live.any() else float(np.mean(mse))
    rmse = {name: float(np.sqrt(np.mean(mse[cols])))
            for name, cols in group_observables(test.output_names).items()}
    return {"test_nmse": nmse, "test_rmse": rmse}


# --------------------------------------------------------------------------------------------
# the sequential workflow
# --------------------------------------------------------------------------------------------
def seeds_of(cfg: ALConfig) -> dict[str, Any]:
    """The seeds a run uses (stored in ``al_state.json``)."""
    return {"run": cfg.seed, "model_init": cfg.model.seed, "test_design": cfg.test.seed,
            "members": cfg.uncertainty.members,
            "derivation": "numpy SeedSequence([run, round, purpose]); purposes: 1 batch draw, "
                          "2 candidate pool, 3 initial design, 11 shuffling, 13 validation split"}


def train_chunked(
    model: Any,
    data: Dataset,
    epochs: int,
    *,
    chunk: int,
    warm: bool,
    patience: int = 0,
    on_epoch: EpochCallback | None = None,
    between: Callable[[float], Dataset | None] | None = None,
) -> dict[str, Any]:
    """Train ``epochs`` epochs in chunks of ``chunk`` - the one training loop of both workflows.

    Every chunk is a warm-started :meth:`fit` (Adam restarted, the best-validation state of
    the chunk kept), so the sequential and the streaming workflow train identically.
    ``between(val_loss)`` runs after each chunk and may return a grown data set (streaming:
    the results that arrived meanwhile), which the next chunk trains on. With ``patience > 0``
    training stops after that many epochs without new data or validation improvement.
    Returns ``{"val_loss", "epochs", "data"}`` (``data``: the last data set trained on).
    """
    left, trained, best, stale, val = epochs, 0.0, math.inf, 0, math.inf
    first = True
    while left > 0:
        n = min(chunk, left)
        results = model.fit(data, n, warm=warm or not first, progress=on_epoch)
        first = False
        left -= n
        trained += float(np.mean([r.n_epochs for r in results]))
        val = float(np.mean([r.best_val_loss for r in results]))
        grown = between(val) if between is not None else None
        if grown is not None:
            data = grown
        stale = 0 if (grown is not None or val < best) else stale + n
        best = min(best, val)
        if patience and stale >= patience:
            break
    return {"val_loss": val, "epochs": trained, "data": data}


def fit_round(run: ALRun, model: Any, data: Dataset, k: int, progress: Progress) -> dict[str, Any]:
    """Train the model for round ``k`` (scratch at 0, warm-started after) and time it."""
    cfg = run.cfg
    t0 = time.perf_counter()
    epochs = cfg.train.initial_epochs if k == 0 else cfg.train.round_epochs
    out = train_chunked(model, data, epochs, chunk=cfg.train.chunk_epochs,
                        warm=k > 0 and cfg.train.warm_start, patience=cfg.train.patience,
                        on_epoch=progress.epoch)
    out.pop("data")
    return {**out, "train_s": time.perf_counter() - t0}


def resume_point(run: ALRun, model: Any, echo: Echo) -> tuple[int, list[SimRecord]]:
    """Last completed round (``-1``: none) with its model loaded and its labelled records."""
    rounds = run.rounds
    for i in range(len(rounds) - 1, -1, -1):
        entry = rounds[i]
        try:
            model.load(run.out / entry["checkpoint"])
        except (ResultFileError, OSError, KeyError) as exc:
            echo(f"checkpoint of round {entry['round']} unusable ({exc}); trying the one before")
            continue
        keys = run.keys_upto(rounds[: i + 1])
        records = run.records_for(keys)
        if len(records) < len(keys):
            echo(f"{len(keys) - len(records)} stored point(s) up to round {entry['round']} are "
                 f"missing or corrupt and will be re-simulated")
        return int(entry["round"]), records
    return -1, []


def run_active_learning(
    cfg: ALConfig,
    *,
    executor: ScanExecutor | None = None,
    test_set: Dataset | None = None,
    echo: Echo | None = None,
    on_round: Callable[[int, dict[str, Any]], None] | None = None,
) -> ALResult:
    """Run (or resume) the sequential active-learning workflow of ``cfg``.

    Parameters
    ----------
    cfg : a validated configuration (:func:`mlsurrogate.al_config.load_al_config`); with
        ``cfg.mode == "streaming"`` this delegates to :func:`mlsurrogate.stream.run_streaming`.
    executor : where simulations run; default: built from ``cfg.executor`` and closed after.
    test_set : a precomputed held-out set (benchmarks share one); default: ``[test]``.
    echo : one-line messages (``None``: silent).
    on_round : called after every completed round with ``(k, round entry)``.

    Raises
    ------
    ConfigError, InvalidParameterError : bad configuration, box or names; a results folder
        written with another configuration; nothing usable simulated.
    BackendUnavailableError : the executor cannot start or a worker process died.
    KeyboardInterrupt : re-raised after the finished rounds and simulations are saved (the
        same for any other exception: completed rounds are kept, the run resumes).
    """
    if cfg.mode == "streaming":
        from mlsurrogate.stream import run_streaming

        return run_streaming(cfg, executor=executor, test_set=test_set, echo=echo,
                             on_round=on_round)
    say = echo or (lambda _m: None)
    t_start = time.perf_counter()
    run = ALRun(cfg, echo=say)
    run.start(seeds_of(cfg))
    model = make_model(cfg)
    box = run.client.box
    pol = cfg.policy
    last, records = resume_point(run, model, say)
    if last >= 0:
        say(f"resuming {run.out} after round {last} ({len(records)} labelled points)")
    progress = Progress(cfg.name, pol.budget, progress_enabled(cfg.output.progress), say,
                        cfg.uncertainty.members if cfg.uncertainty.kind == "ensemble" else 1)
    progress.sims = len(records)
    progress.failed = sum(r.status != "ok" for r in records)
    own = executor is None
    ex = executor
    interrupted = False
    try:
        needs_sims = last < pol.rounds or (test_set is None and cfg.test.n_points > 0)
        if needs_sims and ex is None:
            ex = make_executor(cfg.executor)
        if ex is not None:
            run.client.attach(ex)
        test = run.test_set(test_set, progress)
        for k in range(last + 1, pol.rounds + 1):
            t_round = time.perf_counter()
            if k == 0:
                u = design_unit(pol.initial_sampler, box.d, pol.initial, derive_seed(cfg.seed, 0, 3))
                sel = Selection(box.from_unit(u), u)
                origin = "initial"
            else:
                rng = np.random.default_rng(derive_seed(cfg.seed, k, 1))
                done_u = box.to_unit(np.array([r.x for r in records]))
                sel = select_batch(model, box, pol.batch, pol, rng, exclude_u=done_u,
                                   pool_seed=derive_seed(cfg.seed, k if pol.refresh_pool else 1, 2))
                origin = "random" if pol.kind == "random" else "al"
            t_sim = time.perf_counter()
            new = run.client.run(sel.x, origin, k, on_result=progress.sim_done)
            sim_s = time.perf_counter() - t_sim
            records = records + new
            data = run.dataset(records)
            entry = fit_round(run, model, data, k, progress)
            entry.update(heldout_metrics(model, test))
            entry.update(sel.stats())
            entry.update({
                "n_sims": len(records), "n_failed": sum(r.status != "ok" for r in records)
                + sum(1 for r in records if r.key in run.unusable),
                "n_train": len(data), "n_new": len(new),
                "n_reused": sum(r.reused for r in new), "sim_s": sim_s,
                "round_s": time.perf_counter() - t_round,
                "wall_s": time.perf_counter() - t_start,
            })
            for r in new:
                if r.status != "ok":
                    progress.note(f"simulation failed at {describe_point(box, r.x)}: {r.error}")
            run.complete_round(k, model, [r.key for r in records], entry, records)
            progress.round_done(k, pol.rounds, entry)
            if on_round is not None:
                on_round(k, entry)
    except BaseException:  # Ctrl-C, SIGTERM, a dead worker: stop the workers, keep results
        interrupted = True
        raise
    finally:
        progress.close()
        if own and ex is not None:
            ex.close(interrupted=interrupted)
        if interrupted:
            run.finish("interrupted", {})
            say(f"interrupted: {len(run.rounds)} completed round(s) kept in {run.out}; re-run "
                f"the same command to resume")
    return build_result(run, model, records, t_start, last)


def describe_point(box: CouplingBox, x: np.ndarray) -> str:
    """``"t_F=0.3, mu=1.2"`` for messages."""
    return ", ".join(f"{n}={v:.4g}" for n, v in zip(box.names, x, strict=True))


def build_result(run: ALRun, model: Any, records: Sequence[SimRecord], t_start: float,
                 resumed: int, mode: str = "sequential", notes: Sequence[str] = ()) -> ALResult:
    """Mark the run complete, plot the curve and build the :class:`ALResult`."""
    rounds = run.rounds
    final = {k: v for k, v in (rounds[-1] if rounds else {}).items() if k != "new_keys"}
    run.finish("complete", final)
    if run.cfg.output.plots:
        run.plot_curve()
    n_failed = sum(r.status != "ok" for r in records) + sum(
        1 for r in records if r.key in run.unusable)
    curve = [{"round": r["round"], "n_sims": r["n_sims"], "test_nmse": r.get("test_nmse"),
              "wall_s": r.get("wall_s")} for r in rounds]
    return ALResult(
        out=run.out, mode=mode, rounds=[{k: v for k, v in r.items() if k != "new_keys"}
                                        for r in rounds],
        n_sims=len(records), n_failed=n_failed, n_train=int(final.get("n_train", 0)),
        final=final, wall_s=time.perf_counter() - t_start,
        resumed_from=resumed if resumed >= 0 else None, curve=curve, model=model,
        notes=list(notes),
    )
