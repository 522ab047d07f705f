"""What the sequential and the streaming workflows share: round training, held-out metrics,
resume, and the final result."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from lfqcd.errors import ResultFileError
from mlsurrogate.active.config import ALConfig
from mlsurrogate.active.folder import ALResult, ALRun, Echo, Progress
from mlsurrogate.active.policy import UncertaintyModel
from mlsurrogate.active.simulators.client import CouplingBox, SimRecord
from mlsurrogate.data import Dataset, group_observables

__all__ = [
    "build_result",
    "describe_point",
    "fit_round",
    "heldout_metrics",
    "resume_point",
    "seeds_of",
    "train_chunked",
]

EpochCallback = Callable[[dict[str, float]], None]


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
