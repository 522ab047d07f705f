"""The training loop shared by every mode: :func:`fit` and its :class:`FitResult`.

Adam on standardised tensors, validation every ``eval_every`` iterations, best state kept in
memory and restored at the end, early stopping (patience counted in optimizer steps), optional
target loss; seeded shuffling. Works unchanged for the dense, TP and PP networks: every rank
sees the same batches (model parallelism), the loss is computed redundantly from the
all-reduced output, and rank 0's validation loss is broadcast so every rank takes the same
decisions.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lfqcd.errors import InvalidParameterError
from lfqcd.signals import stop_requested
from mlsurrogate.config import FitConfig
from mlsurrogate.errors import CollectiveError
from mlsurrogate.parallel.runtime import DistContext

__all__ = ["FitResult", "Schedule", "evaluate", "fit", "schedule"]


@dataclass
class FitResult:
    """What :func:`fit` did: history of evaluations, best validation loss, why it stopped."""

    history: list[dict[str, float]] = field(default_factory=list)
    best_val_loss: float = math.inf
    best_iter: int = 0
    n_iters: int = 0
    n_epochs: float = 0.0
    stopped: str = ""
    target_iter: int | None = None  # first iteration whose validation loss reached the target
    step_times_s: list[float] = field(default_factory=list)
    wall_s: float = 0.0

    @property
    def median_step_s(self) -> float:
        t = self.step_times_s[5:] if len(self.step_times_s) > 10 else self.step_times_s
        return float(np.median(t)) if t else math.nan

    def to_dict(self, with_steps: bool = False) -> dict[str, Any]:
        d = asdict(self)
        if not with_steps:
            d.pop("step_times_s")
        d["median_step_s"] = self.median_step_s
        return d


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------
#: validations per run at most when ``eval_every = 0`` and epochs are very short
MAX_EVALS = 200


@dataclass(frozen=True)
class Schedule:
    """How :func:`fit` runs for ``n_train`` rows: batch, steps per epoch, evaluation interval
    and the step budget (all in optimizer steps)."""

    batch: int
    iters_per_epoch: int
    eval_every: int
    max_iters: int


def schedule(cfg: FitConfig, n_train: int) -> Schedule:
    """The :class:`Schedule` of ``cfg`` on ``n_train`` training rows.

    The budget is ``max_epochs`` epochs, raised to ``min_iters`` steps (a store of 40 rows
    under batch 128 makes one step per epoch) and capped by ``max_iters`` when that is set.
    The last partial batch of an epoch is dropped (constant cost per step). ``eval_every = 0``
    validates once per epoch, or every ``budget / MAX_EVALS`` steps when epochs are shorter.
    """
    b = min(cfg.batch_size, n_train)
    ipe = max(1, n_train // b)
    budget = max(cfg.max_epochs * ipe, cfg.min_iters)
    if cfg.max_iters:
        budget = min(budget, cfg.max_iters)
    every = cfg.eval_every or max(ipe, -(-budget // MAX_EVALS))
    return Schedule(b, ipe, every, budget)


def _broadcast_scalar(value: float, ctx: DistContext | None) -> float:
    if ctx is None or ctx.world_size == 1:
        return value
    import torch.distributed as dist

    t = torch.tensor([value], dtype=torch.float64, device=ctx.device)
    try:
        dist.broadcast(t, src=0)
    except RuntimeError as exc:
        raise CollectiveError(f"broadcast failed on rank {ctx.rank}: {exc}") from exc
    return float(t.item())


def _any_rank(flag: bool, ctx: DistContext) -> bool:
    """True on every rank when ``flag`` is true on any rank (an all-reduce of one number)."""
    import torch.distributed as dist

    t = torch.tensor([1.0 if flag else 0.0], dtype=torch.float64, device=ctx.device)
    try:
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
    except RuntimeError as exc:
        raise CollectiveError(f"all-reduce failed on rank {ctx.rank}: {exc}") from exc
    return bool(t.item() > 0)


def evaluate(net: nn.Module, X: torch.Tensor, Y: torch.Tensor, batch_size: int = 4096) -> float:
    """Mean squared error over all elements (standardised units), no gradients."""
    net.eval()
    total = 0.0
    with torch.no_grad():
        for i in range(0, X.shape[0], batch_size):
            d = net(X[i : i + batch_size]) - Y[i : i + batch_size]
            total += float((d.double() ** 2).sum())
    net.train()
    return total / max(1, Y.numel())


def _mean_loss(net: nn.Module, X: torch.Tensor, Y: torch.Tensor,
               loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> float:
    """``loss_fn`` on the whole set (no gradients; validation with a custom loss)."""
    net.eval()
    with torch.no_grad():
        value = float(loss_fn(net(X), Y))
    net.train()
    return value


# --------------------------------------------------------------------------------------------
# the loop
# --------------------------------------------------------------------------------------------
def fit(
    net: nn.Module,
    train: tuple[torch.Tensor, torch.Tensor],
    val: tuple[torch.Tensor, torch.Tensor],
    cfg: FitConfig,
    ctx: DistContext | None = None,
    progress: Callable[[dict[str, float]], None] | None = None,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
) -> FitResult:
    """Train ``net`` in place on standardised ``(X, Y)`` tensors; restore the best state.

    Collective when ``ctx`` has several ranks: all ranks must call it with the same data.
    ``progress`` (if given) is called on every evaluation with the history entry.
    ``loss_fn(net(X), Y)`` replaces the mean squared error for training *and* validation
    (e.g. a Gaussian negative log-likelihood when the network also predicts log-variances,
    :mod:`mlsurrogate.active`); ``None`` keeps the MSE.
    """
    X, Y = train
    Xv, Yv = val
    N = X.shape[0]
    plan = schedule(cfg, N)
    b, iters_per_epoch, eval_every, max_iters = (plan.batch, plan.iters_per_epoch,
                                                 plan.eval_every, plan.max_iters)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    gen = torch.Generator().manual_seed(cfg.seed)
    res = FitResult()
    best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
    running, n_running, it = 0.0, 0, 0
    t_start = time.perf_counter()
    net.train()
    while it < max_iters and not res.stopped:
        perm = torch.randperm(N, generator=gen).to(X.device)
        for j in range(iters_per_epoch):
            idx = perm[j * b : (j + 1) * b]
            t0 = time.perf_counter()
            opt.zero_grad(set_to_none=True)
            loss = (loss_fn or F.mse_loss)(net(X[idx]), Y[idx])
            loss.backward()
            opt.step()
            res.step_times_s.append(time.perf_counter() - t0)
            running += float(loss.detach())
            n_running += 1
            it += 1
            # Ctrl-C / SIGTERM / the driver's stop file: one process stops at once; ranks agree
            # at the evaluation steps (every rank reaches them together), so all stop together
            if ctx is None or ctx.world_size == 1:
                stop = stop_requested()
            else:
                stop = it % eval_every == 0 and _any_rank(stop_requested(), ctx)
            if it % eval_every == 0 or it == max_iters or stop:
                val_loss = _broadcast_scalar(
                    evaluate(net, Xv, Yv) if loss_fn is None else _mean_loss(net, Xv, Yv, loss_fn),
                    ctx,
                )
                if not math.isfinite(val_loss):
                    raise InvalidParameterError(
                        f"validation loss is {val_loss} at iteration {it}; lower train.lr"
                    )
                entry = {"iter": it, "epoch": it / iters_per_epoch,
                         "train_loss": running / n_running, "val_loss": val_loss,
                         "wall_s": time.perf_counter() - t_start}
                res.history.append(entry)
                running, n_running = 0.0, 0
                if val_loss < res.best_val_loss * (1.0 - cfg.min_delta):
                    res.best_val_loss, res.best_iter = val_loss, it
                    best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
                if progress is not None:
                    progress(entry)
                if cfg.target_loss > 0 and val_loss <= cfg.target_loss and res.target_iter is None:
                    res.target_iter = it
                    res.stopped = "target_loss"
                elif cfg.patience and it - res.best_iter >= cfg.patience:
                    res.stopped = "early_stopping"
                if stop:
                    res.stopped = "interrupted"  # the best state is kept and saved as usual
            if res.stopped or it >= max_iters:
                break
    if not res.stopped:
        if cfg.max_iters and it >= cfg.max_iters:
            res.stopped = "max_iters"
        elif max_iters > cfg.max_epochs * iters_per_epoch:
            res.stopped = "min_iters"  # the step floor of a small data set ran out
        else:
            res.stopped = "max_epochs"
    res.n_iters, res.n_epochs = it, it / iters_per_epoch
    res.wall_s = time.perf_counter() - t_start
    net.load_state_dict(best_state)
    return res


