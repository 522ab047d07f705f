"""What ``lfqcd train`` runs on every rank: data, model, instrumented step (FlopCounterMode +
byte counters), :func:`~mlsurrogate.train.loop.fit`, then checkpoint, loss-curve PNG and JSON
record written by rank 0 (:mod:`mlsurrogate.report`)."""

from __future__ import annotations

import resource
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

import mlsurrogate.report as report
from lfqcd.errors import InvalidParameterError
from mlsurrogate.arch import Arch
from mlsurrogate.config import TrainConfig
from mlsurrogate.costmodel import iteration_cost, modeled_energy, param_count
from mlsurrogate.data import Standardizer
from mlsurrogate.energy import EnergyMeter
from mlsurrogate.errors import CheckpointMismatchError
from mlsurrogate.models.layers import torch_dtype
from mlsurrogate.parallel.collectives import COUNTER, backend_support, gather_objects
from mlsurrogate.parallel.runtime import DistContext, single_process_context
from mlsurrogate.surrogate import Surrogate, build_network, build_reference, read_checkpoint
from mlsurrogate.train.api import device_of, load_dataset, tensors_of
from mlsurrogate.train.loop import fit, schedule

__all__ = ["instrumented_step", "run_training"]


def instrumented_step(net: nn.Module, xb: torch.Tensor, yb: torch.Tensor) -> dict[str, Any]:
    """One forward+backward (no optimizer step) under FlopCounterMode and the byte counters.

    Returns ``{"flops": counted GEMM FLOPs, "bytes": COUNTER snapshot of that step}``; the
    gradients are zeroed afterwards, so training is unaffected.
    """
    from torch.utils.flop_counter import FlopCounterMode

    before = COUNTER.snapshot()
    with FlopCounterMode(display=False) as counter:
        loss = F.mse_loss(net(xb), yb)
        loss.backward()
    step = COUNTER.since(before)
    net.zero_grad(set_to_none=True)
    return {"flops": float(counter.get_total_flops()), "bytes": step}


def run_training(
    cfg: TrainConfig,
    ctx: DistContext | None = None,
    init_from: str | Path | None = None,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any] | None:
    """Train per ``cfg`` on this rank; rank 0 writes the artifacts and returns the record.

    Collective when ``ctx`` has several ranks. Other ranks return None.
    """
    t_all = time.perf_counter()
    if ctx is None:
        ctx = single_process_context(device_of(cfg.train.device))
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
    Xt, Yt = tensors_of(train_ds, std, dt, ctx.device)
    Xv, Yv = tensors_of(val_ds, std, dt, ctx.device)
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
    plan = schedule(cfg.train, Xt.shape[0])
    say(f"fit: batch {plan.batch}, {plan.iters_per_epoch} step(s)/epoch, at most "
        f"{plan.max_iters} steps, validation every {plan.eval_every}, patience "
        f"{cfg.train.patience or 'off'} steps")
    shown = max(1, plan.max_iters // plan.eval_every // 40)  # about 40 progress lines at most

    def show(e: dict[str, float]) -> None:
        if (e["iter"] // plan.eval_every) % shown == 0:
            say(f"  iter {e['iter']:6d}  epoch {e['epoch']:6.1f}  "
                f"train {e['train_loss']:.4e}  val {e['val_loss']:.4e}")

    result = fit(net, (Xt, Yt), (Xv, Yv), cfg.train, ctx, show)
    reading = meter.stop()
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    state = net.export_state()  # collective for TP/PP
    per_rank = gather_objects({
        "flops_step": probe["flops"], "bytes_step": probe["bytes"], "run_bytes": COUNTER.snapshot(),
        "cpu_s": (cpu1.ru_utime + cpu1.ru_stime) - (cpu0.ru_utime + cpu0.ru_stime),
        "energy": reading.to_dict(), "median_step_s": result.median_step_s,
    }, ctx.group)
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
