"""The training loop shared by every mode, and the public single-process training API.

* :func:`fit` - Adam on standardised tensors, validation every ``eval_every`` iterations, best
  state kept in memory and restored at the end, early stopping (patience), optional target
  loss; seeded shuffling. Works unchanged for the dense, TP and PP networks: every rank sees
  the same batches (model parallelism), the loss is computed redundantly from the all-reduced
  output, and rank 0's validation loss is broadcast so every rank takes the same decisions.
* :func:`train_surrogate` - dataset in, :class:`~mlsurrogate.models.Surrogate` out, in one
  process (optionally warm-started from an existing surrogate).
* :func:`run_training` - what ``lfqcd train`` runs on every rank: data, model, instrumented
  step (FlopCounterMode + byte counters), fit, then checkpoint, loss-curve PNG and JSON record
  written by rank 0 (:mod:`mlsurrogate.report`).
"""

from __future__ import annotations

import math
import resource
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lfqcd.errors import InvalidParameterError
from lfqcd.signals import stop_requested
from mlsurrogate.arch import Arch
from mlsurrogate.config import DataConfig, FitConfig, ModelConfig, TrainConfig
from mlsurrogate.data import Dataset, Standardizer, read_scan_store, teacher_student
from mlsurrogate.errors import CheckpointMismatchError, CollectiveError
from mlsurrogate.models import (
    Surrogate,
    build_network,
    build_reference,
    read_checkpoint,
    torch_dtype,
)
from mlsurrogate.parallel.runtime import DistContext, single_process_context

__all__ = [
    "FitResult",
    "fit",
    "gather_objects",
    "instrumented_step",
    "load_dataset",
    "run_training",
    "train_surrogate",
]


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
def gather_objects(obj: Any, ctx: DistContext | None) -> list[Any]:
    """Collective: ``obj`` of every rank, in rank order (``[obj]`` for one process)."""
    if ctx is None or ctx.world_size == 1:
        return [obj]
    import torch.distributed as dist

    out: list[Any] = [None] * ctx.world_size
    try:
        dist.all_gather_object(out, obj)
    except RuntimeError as exc:
        raise CollectiveError(f"all_gather_object failed on rank {ctx.rank}: {exc}") from exc
    return out


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


def instrumented_step(net: nn.Module, xb: torch.Tensor, yb: torch.Tensor) -> dict[str, Any]:
    """One forward+backward (no optimizer step) under FlopCounterMode and the byte counters.

    Returns ``{"flops": counted GEMM FLOPs, "bytes": COUNTER snapshot of that step}``; the
    gradients are zeroed afterwards, so training is unaffected.
    """
    from torch.utils.flop_counter import FlopCounterMode

    from mlsurrogate.parallel.collectives import COUNTER

    before = COUNTER.snapshot()
    with FlopCounterMode(display=False) as counter:
        loss = F.mse_loss(net(xb), yb)
        loss.backward()
    step = COUNTER.since(before)
    net.zero_grad(set_to_none=True)
    return {"flops": float(counter.get_total_flops()), "bytes": step}


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
    b = min(cfg.batch_size, N)
    iters_per_epoch = max(1, N // b)  # drop the last partial batch: constant cost per step
    eval_every = cfg.eval_every or iters_per_epoch
    max_iters = cfg.max_epochs * iters_per_epoch
    if cfg.max_iters:
        max_iters = min(max_iters, cfg.max_iters)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    gen = torch.Generator().manual_seed(cfg.seed)
    res = FitResult()
    best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
    bad_evals, running, n_running, it = 0, 0.0, 0, 0
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
            stop = stop_requested() and (ctx is None or ctx.world_size == 1)  # Ctrl-C, SIGTERM
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
                    res.best_val_loss, res.best_iter, bad_evals = val_loss, it, 0
                    best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
                else:
                    bad_evals += 1
                if progress is not None:
                    progress(entry)
                if cfg.target_loss > 0 and val_loss <= cfg.target_loss and res.target_iter is None:
                    res.target_iter = it
                    res.stopped = "target_loss"
                elif cfg.patience and bad_evals >= cfg.patience:
                    res.stopped = "early_stopping"
                if stop:
                    res.stopped = "interrupted"  # the best state is kept and saved as usual
            if res.stopped or it >= max_iters:
                break
    if not res.stopped:
        res.stopped = "max_iters" if cfg.max_iters and it >= cfg.max_iters else "max_epochs"
    res.n_iters, res.n_epochs = it, it / iters_per_epoch
    res.wall_s = time.perf_counter() - t_start
    net.load_state_dict(best_state)
    return res


# --------------------------------------------------------------------------------------------
# single-process API
# --------------------------------------------------------------------------------------------
def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        from lfqcd.errors import BackendUnavailableError

        raise BackendUnavailableError("train.device = 'cuda' but no CUDA device is visible")
    return torch.device(name)


def _tensors(
    ds: Dataset, std: Standardizer, dtype: torch.dtype, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    return (torch.as_tensor(std.transform_x(ds.X), dtype=dtype, device=device),
            torch.as_tensor(std.transform_y(ds.Y), dtype=dtype, device=device))


def train_surrogate(
    dataset: Dataset,
    model: ModelConfig | None = None,
    fit_cfg: FitConfig | None = None,
    val_fraction: float = 0.2,
    split_seed: int = 1,
    init: Surrogate | None = None,
    progress: Callable[[dict[str, float]], None] | None = None,
) -> tuple[Surrogate, FitResult]:
    """Train a dense single-process surrogate on ``dataset`` (split into train/validation).

    With ``init`` the network, architecture and standardisation of that surrogate are reused
    and training continues from its weights (warm start; it must have the dataset's columns).
    """
    model = model or ModelConfig()
    fit_cfg = fit_cfg or FitConfig()
    train_ds, val_ds = dataset.split(val_fraction, split_seed)
    device = _device(fit_cfg.device)
    if init is not None:
        if init.input_names != dataset.input_names or init.output_names != dataset.output_names:
            raise CheckpointMismatchError(
                "warm-start surrogate has columns "
                f"{init.input_names} -> {init.output_names}, the data set "
                f"{dataset.input_names} -> {dataset.output_names}"
            )
        arch, std, net = init.arch, init.standardizer, init.net.to(device)
    else:
        arch = Arch(d_in=len(dataset.input_names), d_out=len(dataset.output_names),
                    width=model.width, depth=model.depth, activation=model.activation,
                    seed=model.seed, dtype=model.dtype)
        std = Standardizer.fit(train_ds.X, train_ds.Y)
        net = build_network(arch).to(device)
    dt = torch_dtype(arch.dtype)
    result = fit(net, _tensors(train_ds, std, dt, device), _tensors(val_ds, std, dt, device),
                 fit_cfg, None, progress)
    meta = {"best_val_loss": result.best_val_loss, "n_train": len(train_ds), "n_val": len(val_ds),
            "data_source": dataset.source}
    return Surrogate(net, arch, std, dataset.input_names, dataset.output_names, meta), result


def load_dataset(cfg: DataConfig) -> Dataset:
    """The data set a :class:`~mlsurrogate.config.DataConfig` names."""
    if cfg.source == "scan":
        return read_scan_store(cfg.path, missing=cfg.missing)
    return teacher_student(**asdict(cfg.synthetic))


# --------------------------------------------------------------------------------------------
# what `lfqcd train` runs on every rank
# --------------------------------------------------------------------------------------------
def run_training(
    cfg: TrainConfig,
    ctx: DistContext | None = None,
    init_from: str | Path | None = None,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any] | None:
    """Train per ``cfg`` on this rank; rank 0 writes the artifacts and returns the record.

    Collective when ``ctx`` has several ranks. Other ranks return None.
    """
    from mlsurrogate import report
    from mlsurrogate.costmodel import iteration_cost, modeled_energy, param_count
    from mlsurrogate.energy import EnergyMeter
    from mlsurrogate.parallel.collectives import COUNTER, backend_support

    t_all = time.perf_counter()
    if ctx is None:
        ctx = single_process_context(_device(cfg.train.device))
    say = log if (log is not None and ctx.is_main) else (lambda _msg: None)
    data = load_dataset(cfg.data)
    train_ds, val_ds = data.split(cfg.data.val_fraction, cfg.data.split_seed)
    std = Standardizer.fit(train_ds.X, train_ds.Y)
    arch = cfg.arch(len(data.input_names), len(data.output_names))
    if arch.nproc != ctx.world_size:
        raise InvalidParameterError(
            f"config asks for nproc={arch.nproc} but {ctx.world_size} rank(s) are running"
        )
    net = build_network(arch, ctx)
    if init_from is not None:
        ck = read_checkpoint(init_from)
        diff = Arch.from_dict(ck["arch"]).diff(arch)
        if diff or ck["input_names"] != data.input_names or ck["output_names"] != data.output_names:
            what = ", ".join(f"{k}: checkpoint {a!r} vs config {b!r}" for k, (a, b) in diff.items())
            raise CheckpointMismatchError(
                f"checkpoint {init_from} does not match this run ({what or 'column names differ'})"
            )
        net.load_exported(ck["state"])
        std = Standardizer.from_tensors(ck["standardizer"])
    dt = torch_dtype(arch.dtype)
    Xt, Yt = _tensors(train_ds, std, dt, ctx.device)
    Xv, Yv = _tensors(val_ds, std, dt, ctx.device)
    b = min(cfg.train.batch_size, Xt.shape[0])
    say(f"data: {data.source.get('kind')} {len(train_ds)} train / {len(val_ds)} validation, "
        f"{arch.d_in} inputs -> {arch.d_out} outputs; model {arch.mode} n={arch.width} "
        f"L={arch.depth} p={arch.nproc}" + (f" k={arch.ghosts}" if arch.mode == "phantom" else "")
        + f" on {ctx.backend}/{ctx.device}")

    probe = instrumented_step(net, Xt[:b], Yt[:b])
    COUNTER.reset()
    meter = EnergyMeter(gpu_index=ctx.device.index if ctx.device.type == "cuda" else None,
                        use_rapl=ctx.local_rank == 0)
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    meter.start()
    result = fit(net, (Xt, Yt), (Xv, Yv), cfg.train, ctx,
                 lambda e: say(f"  iter {e['iter']:6d}  epoch {e['epoch']:6.1f}  "
                               f"train {e['train_loss']:.4e}  val {e['val_loss']:.4e}"))
    reading = meter.stop()
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    state = net.export_state()  # collective for TP/PP
    per_rank = gather_objects({
        "flops_step": probe["flops"], "bytes_step": probe["bytes"], "run_bytes": COUNTER.snapshot(),
        "cpu_s": (cpu1.ru_utime + cpu1.ru_stime) - (cpu0.ru_utime + cpu0.ru_stime),
        "energy": reading.to_dict(), "median_step_s": result.median_step_s,
    }, ctx)
    if not ctx.is_main:
        return None

    ref = build_reference(arch)
    ref.load_exported(state)
    sur = Surrogate(ref, arch, std, data.input_names, data.output_names,
                    {"best_val_loss": result.best_val_loss, "data_source": data.source})
    cost = iteration_cost(arch, b)
    t_iter = max(r["median_step_s"] for r in per_rank)
    ran = [r["energy"] for r in per_rank if r["energy"]["source"] != "none"]
    measured = ({"energy_j": sum(r["energy_j"] for r in ran), "source": ran[0]["source"],
                 "scope": "; ".join(r["scope"] for r in ran), "per_rank": ran}
                if ran else {**per_rank[0]["energy"], "energy_j": None})
    counted = [r["flops_step"] for r in per_rank]
    record = {
        "kind": "lfqcd-train-record",
        "config": cfg.to_dict(),
        "arch": arch.to_dict(),
        "versions": report.versions(),
        "seeds": {"model": arch.seed, "shuffle": cfg.train.seed, "split": cfg.data.split_seed,
                  "data": cfg.data.synthetic.seed if cfg.data.source == "synthetic" else None},
        "parallel": {"mode": arch.mode, "nproc": arch.nproc, "backend": ctx.backend,
                     "device": str(ctx.device), "scheme": report.SCHEMES[arch.mode],
                     "collective_support": backend_support(ctx.group),
                     "process_group_timeout_s": ctx.timeout_s or None},
        "data": {**data.source, "n_train": len(train_ds), "n_val": len(val_ds),
                 "input_names": data.input_names, "output_names": data.output_names},
        "params": param_count(arch),
        "fit": result.to_dict(),
        "validation_rmse": report.rmse_by_observable(sur, val_ds),
        "flops": {
            "unit": "GEMM FLOPs per rank per training iteration (forward + backward)",
            "analytic_per_iter_per_rank": cost.flops,
            "counted_per_iter_per_rank": counted,
            "counter": "torch.utils.flop_counter.FlopCounterMode",
            "max_relative_difference": max(abs(c - cost.flops) / cost.flops for c in counted),
            "training_total_analytic": cost.flops * arch.nproc * result.n_iters,
        },
        "bytes": {
            "unit": "bytes sent per rank per training iteration (ring model)",
            "analytic_per_iter_per_rank": cost.bytes_by_op,
            "counted_per_iter_per_rank": [r["bytes_step"] for r in per_rank],
            "run_total_counted_per_rank": [r["run_bytes"] for r in per_rank],
            "training_total_analytic": cost.bytes * arch.nproc * result.n_iters,
        },
        "timing": {"wall_s": time.perf_counter() - t_all, "fit_wall_s": result.wall_s,
                   "median_step_s_per_rank": [r["median_step_s"] for r in per_rank],
                   "cpu_s_per_rank": [r["cpu_s"] for r in per_rank]},
        "energy": {
            "measured": measured,
            "modeled": {
                **modeled_energy(counted, [r["bytes_step"]["total_logical_bytes"]
                                           for r in per_rank],
                                 t_iter, result.n_iters, cfg.energy.coefficients()),
                "scope": "training iterations (median step time x iterations); validation "
                         "passes and start-up excluded",
            },
        },
    }
    out = Path(cfg.output.dir)
    record["artifacts"] = report.write_artifacts(sur, result, record, out)
    return record
