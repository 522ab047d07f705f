"""Phantom (PP) vs tensor parallelism (TP-A) on this machine: the two tables of issue 6.

    python benchmarks/phantom_vs_tensor.py [--quick] [--json out/bench/phantom_vs_tensor.json]

(a) Equal width: p in {1, 2, 4}, n in {1024, 2048}, k in {m/32, m/8, m/4} (m = n/p), depth
    L = 2, batch b = 64, fp32. Per configuration: median wall time of a full training
    iteration (forward, backward, Adam; >= 20 timed iterations after 5 warm-up ones, each
    between two dist.barrier() calls, taken in 4 rounds interleaved over the configurations
    of the same p so that other load on the machine hits TP and PP alike), GEMM FLOPs per
    rank counted with FlopCounterMode, bytes sent per rank counted by the collective wrappers
    (both checked against the analytic model of mlsurrogate/costmodel.py), and the modeled energy per
    iteration (mlsurrogate/costmodel.py); reported as PP/TP ratios next to the formula ratios
    1/p + kp/n and k/m.
(b) Equal loss over >= 4 seeds (model initialisation and batch order; --seeds): the synthetic
    teacher-student task of runs/train_phantom.toml. The TP baseline (n=1024, p=4) trains for
    a fixed budget; the target ℓ* is 1.1 x the median over seeds of its best held-out MSE.
    Every other run (TP p=2, PP at p=4 and p=2, a smaller PP model at p=2, and the baselines
    of the comparison protocol: a dense single-process model of the TP width, a dense single-process
    model with as many parameters as PP p=2, and that model data-parallel (DDP) on 2 ranks)
    trains until its held-out MSE reaches ℓ* (or twice the budget); reported per row: seeds
    that reached ℓ*, mean ± standard error of iterations, training time (sum of step times,
    validation excluded) and modeled energy to ℓ*, the energy ratio to the TP baseline (only
    when every seed of both rows reached ℓ*; otherwise "not reached"), the static-power share
    of the modeled energy, and the peak resident memory per rank.

Every rank runs with one thread; ranks are fork-started gloo processes on this machine. With
p = 4 on a 2-core machine the ranks share cores, so times are functional evidence only
(see docs/phantom_scaling.md); FLOP and byte counts are the transferable results. No energy counter exists
here, so energies are *modeled* with the coefficient table printed below the tables.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import time
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F

from lfqcd.threads import pin_threads
from mlsurrogate.arch import Arch
from mlsurrogate.config import FitConfig
from mlsurrogate.costmodel import (
    DEFAULT_COEFFICIENTS,
    formula_ratios,
    iteration_cost,
    modeled_energy,
    param_count,
)
from mlsurrogate.data import Standardizer, teacher_student
from mlsurrogate.parallel.runtime import DistContext, launch_local
from mlsurrogate.surrogate import build_network
from mlsurrogate.train.loop import fit
from mlsurrogate.train.run import instrumented_step

D_IN, D_OUT = 6, 20  # the teacher-student task: 6 couplings -> 4 scalars + a 16-point curve


# --------------------------------------------------------------------------------------------
# (a) equal width
# --------------------------------------------------------------------------------------------
def _step(net: torch.nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor) -> None:
    """One training iteration: forward, backward, Adam step."""
    opt.zero_grad(set_to_none=True)
    F.mse_loss(net(x), y).backward()
    opt.step()


def _equal_width_worker(ctx: DistContext, archs: list[dict[str, Any]], b: int, iters: int,
                        warmup: int, rounds: int = 4) -> list[dict[str, Any]]:
    """Time every configuration in interleaved rounds, so that load from other jobs on a
    shared machine affects TP and PP alike; ``iters`` timed iterations per configuration."""
    gen = torch.Generator().manual_seed(0)
    x, y = torch.randn(b, D_IN, generator=gen), torch.randn(b, D_OUT, generator=gen)
    runs = []
    for a in archs:
        net = build_network(Arch(**a), ctx)
        opt = torch.optim.Adam(net.parameters(), lr=1e-4)
        for _ in range(warmup):
            _step(net, opt, x, y)
        runs.append((net, opt, instrumented_step(net, x, y), []))
    per_round = -(-iters // rounds)
    for _ in range(rounds):
        for net, opt, _probe, times in runs:
            for _ in range(per_round):
                dist.barrier()
                t0 = time.perf_counter()
                _step(net, opt, x, y)
                dist.barrier()
                times.append(time.perf_counter() - t0)
    return [{"arch": a, "flops": probe["flops"], "bytes": probe["bytes"]["total_logical_bytes"],
             "wire": probe["bytes"]["total_wire_bytes"], "median_s": statistics.median(times),
             "n_timed": len(times)}
            for a, (_net, _opt, probe, times) in zip(archs, runs, strict=True)]


def equal_width(ns: list[int], ps: list[int], b: int, iters: int, warmup: int) -> list[dict[str, Any]]:
    rows = []
    for p in ps:
        archs = []
        for n in ns:
            m = n // p
            base = dict(d_in=D_IN, d_out=D_OUT, width=n, depth=2, nproc=p)
            archs.append({**base, "mode": "tensor"})
            archs += [{**base, "mode": "phantom", "ghosts": m // div} for div in (32, 8, 4)]
        t0 = time.perf_counter()
        per_rank = launch_local(_equal_width_worker, p, (archs, b, iters, warmup), timeout_s=300,
                                join_timeout_s=3600)
        print(f"  (a) p={p}: {len(archs)} configurations in {time.perf_counter() - t0:.0f} s",
              flush=True)
        for i, a in enumerate(archs):
            res = [per_rank[r][i] for r in range(p)]
            arch = Arch(**a)
            cost = iteration_cost(arch, b)
            t = max(r["median_s"] for r in res)
            flops = [r["flops"] for r in res]
            nbytes = [r["bytes"] for r in res]
            rows.append({
                "arch": a, "t_iter_s": t, "flops_per_rank": flops[0], "bytes_per_rank": nbytes[0],
                "counters_match_model": all(f == cost.flops for f in flops)
                and all(abs(x - cost.bytes) < 1e-6 for x in nbytes),
                "energy_modeled_j": modeled_energy(flops, nbytes, t)["energy_j"],
                "params_total": param_count(arch)["total"],
            })
    return rows


def table_a(rows: list[dict[str, Any]]) -> str:
    tp = {(r["arch"]["width"], r["arch"]["nproc"]): r for r in rows if r["arch"]["mode"] == "tensor"}
    lines = [
        "| n | p | k (m/k) | TP ms/iter | PP ms/iter | time PP/TP | FLOPs PP/TP (formula) "
        "| bytes PP/TP (formula k/m) | modeled energy PP/TP | params PP/TP |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        a = r["arch"]
        if a["mode"] != "phantom":
            continue
        n, p, k = a["width"], a["nproc"], a["ghosts"]
        t = tp[(n, p)]
        f = formula_ratios(n, p, k)
        b_ratio = (f"{r['bytes_per_rank'] / t['bytes_per_rank']:.3f} ({f['bytes']:.3f})"
                   if t["bytes_per_rank"] else "no communication")
        lines.append(
            f"| {n} | {p} | {k} ({n // p // k}) | {t['t_iter_s'] * 1e3:.1f} | "
            f"{r['t_iter_s'] * 1e3:.1f} | {r['t_iter_s'] / t['t_iter_s']:.2f} | "
            f"{r['flops_per_rank'] / t['flops_per_rank']:.3f} ({f['flops']:.3f}) | {b_ratio} | "
            f"{r['energy_modeled_j'] / t['energy_modeled_j']:.2f} | "
            f"{r['params_total'] / t['params_total']:.3f} |"
        )
    ok = all(r["counters_match_model"] for r in rows)
    lines.append("")
    lines.append(f"FlopCounterMode and byte counters equal the analytic model in every row: {ok}. "
                 "FLOP and byte ratios include the (identical) input and output layers, so they "
                 "sit slightly above the hidden-layer formulas.")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# (b) equal loss, several seeds, with dense and data-parallel baselines
# --------------------------------------------------------------------------------------------
def _rss_mib(field: str) -> float:
    """``VmRSS`` / ``VmHWM`` of this process in MiB (``ru_maxrss`` where /proc is absent)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return float(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark of this process (``clear_refs`` 5, Linux >= 4.0), so
    that ``VmHWM`` afterwards is the peak of this run, not of the parent it was forked from."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _warm_up_torch() -> None:
    """One tiny Adam step, so torch's first-use allocations are not counted as this run's."""
    net = torch.nn.Sequential(torch.nn.Linear(D_IN, 8), torch.nn.Tanh(), torch.nn.Linear(8, D_OUT))
    opt = torch.optim.Adam(net.parameters())
    F.mse_loss(net(torch.zeros(4, D_IN)), torch.zeros(4, D_OUT)).backward()
    opt.step()


def _data_tensors(n_samples: int) -> list[torch.Tensor]:
    data = teacher_student(n_samples=n_samples, d_in=D_IN, seed=1)  # = runs/train_phantom.toml
    train, val = data.split(0.2, 1)
    std = Standardizer.fit(train.X, train.Y)
    return [torch.as_tensor(f(d), dtype=torch.float32) for d in (train, val)
            for f in (lambda d: std.transform_x(d.X), lambda d: std.transform_y(d.Y))]


def _ddp_fit(net: torch.nn.Module, tens: list[torch.Tensor], cfg: FitConfig, ctx: DistContext
             ) -> dict[str, Any]:
    """Data-parallel training with the same global batch as the other runs: every rank holds
    the whole dense model, takes rows ``r::p`` of each global batch, and DDP averages the
    gradients (one all-reduce of all gradients per step), so each step equals the
    single-process step on the global batch."""
    from torch.nn.parallel import DistributedDataParallel

    X, Y, Xv, Yv = tens
    ddp = DistributedDataParallel(net)
    opt = torch.optim.Adam(ddp.parameters(), lr=cfg.lr)
    gen = torch.Generator().manual_seed(cfg.seed)
    N, b = X.shape[0], cfg.batch_size
    history, step_times, it, best = [], [], 0, float("inf")
    while it < cfg.max_iters:
        perm = torch.randperm(N, generator=gen)
        for j in range(N // b):
            idx = perm[j * b:(j + 1) * b][ctx.rank::ctx.world_size]
            t0 = time.perf_counter()
            opt.zero_grad(set_to_none=True)
            F.mse_loss(ddp(X[idx]), Y[idx]).backward()
            opt.step()
            step_times.append(time.perf_counter() - t0)
            it += 1
            if it % cfg.eval_every == 0 or it == cfg.max_iters:
                with torch.no_grad():
                    val = float(F.mse_loss(net(Xv), Yv))
                best = min(best, val)
                history.append({"iter": it, "val_loss": val})
                if cfg.target_loss > 0 and val <= cfg.target_loss:
                    return {"history": history, "step_times": step_times, "best": best, "n_iters": it}
            if it >= cfg.max_iters:
                break
    return {"history": history, "step_times": step_times, "best": best, "n_iters": it}


def _equal_loss_worker(ctx: DistContext, a: dict[str, Any], fit_kw: dict[str, Any],
                       n_samples: int, ddp: bool) -> dict[str, Any]:
    tens = _data_tensors(n_samples)
    cfg = FitConfig(**fit_kw)
    _warm_up_torch()
    exact_peak = _reset_peak_rss()
    rss0 = _rss_mib("VmRSS")
    arch = Arch(**a)
    if ddp:  # the dense model on every rank; analytic per-rank cost (no counters inside DDP)
        net = build_network(arch, None)
        res = _ddp_fit(net, tens, cfg, ctx)
        p = ctx.world_size
        flops = iteration_cost(arch, cfg.batch_size // p).flops
        nbytes = 2.0 * (p - 1) / p * param_count(arch)["total"] * 4  # ring all-reduce of grads
    else:
        net = build_network(arch, ctx)
        probe = instrumented_step(net, tens[0][: cfg.batch_size], tens[1][: cfg.batch_size])
        fr = fit(net, (tens[0], tens[1]), (tens[2], tens[3]), cfg, ctx)
        res = {"history": fr.history, "step_times": fr.step_times_s, "best": fr.best_val_loss,
               "n_iters": fr.n_iters}
        flops, nbytes = probe["flops"], probe["bytes"]["total_logical_bytes"]
    return {**res, "flops": flops, "bytes": nbytes, "rss_start_mib": rss0,
            "rss_peak_mib": _rss_mib("VmHWM"), "peak_is_this_run": exact_peak}


def _to_target(res: list[dict[str, Any]], target: float) -> dict[str, Any]:
    r0 = res[0]
    hit = next((h["iter"] for h in r0["history"] if h["val_loss"] <= target), None)
    n = hit if hit is not None else r0["n_iters"]
    # time per iteration: the slowest rank's mean step time over the same iterations
    t_total = max(sum(r["step_times"][:n]) for r in res)
    e = modeled_energy([r["flops"] for r in res], [r["bytes"] for r in res], t_total / n, n)
    return {"reached": hit is not None, "iters": n, "time_s": t_total,
            "energy_j": e["energy_j"], "band_j": e["band_j"], "best": r0["best"],
            "static_share": e["breakdown_j"]["static"] / e["energy_j"],
            "peak_rss_mib": max(r["rss_peak_mib"] for r in res),
            "peak_rss_delta_mib": max(r["rss_peak_mib"] - r["rss_start_mib"] for r in res),
            "peak_is_this_run": all(r["peak_is_this_run"] for r in res)}


def dense_width_matching(params: int, d_in: int, d_out: int, depth: int) -> int:
    """The dense width whose parameter count is closest to ``params`` (a multiple of 2)."""
    def count(w: int) -> int:
        return param_count(Arch(d_in=d_in, d_out=d_out, width=w, depth=depth))["total"]
    return min(range(2, 4 * int(params**0.5) + 4, 2), key=lambda w: abs(count(w) - params))


def equal_loss_runs(big: int, small: int) -> list[tuple[str, dict[str, Any], bool]]:
    """(label, arch, is_ddp) of every row; the first row is the TP baseline that sets ℓ*."""
    base = dict(d_in=D_IN, d_out=D_OUT, depth=2)
    pp2 = {**base, "mode": "phantom", "width": big, "nproc": 2, "ghosts": big // 2 // 8}
    n_dense = dense_width_matching(param_count(Arch(**pp2))["total"], D_IN, D_OUT, 2)
    return [
        ("TP", {**base, "mode": "tensor", "width": big, "nproc": 4}, False),
        ("TP", {**base, "mode": "tensor", "width": big, "nproc": 2}, False),
        ("PP", {**base, "mode": "phantom", "width": big, "nproc": 4, "ghosts": big // 4 // 8}, False),
        ("PP", pp2, False),
        ("PP", {**base, "mode": "phantom", "width": small, "nproc": 2, "ghosts": small // 2 // 8},
         False),
        ("dense, TP-size", {**base, "mode": "none", "width": big, "nproc": 1}, False),
        ("dense, PP-params", {**base, "mode": "none", "width": n_dense, "nproc": 1}, False),
        ("DDP, PP-params", {**base, "mode": "none", "width": n_dense, "nproc": 1, "ddp": 2}, True),
    ]


def equal_loss(budget: int, b: int, n_samples: int, eval_every: int, big: int, small: int,
               seeds: list[int]) -> dict[str, Any]:
    """Every row of :func:`equal_loss_runs` for every seed (model initialisation and batch
    order). ℓ* = 1.1 x the median over seeds of the TP baseline's best held-out MSE within
    ``budget`` iterations; every other run stops at ℓ* or after 2 x ``budget``."""
    fit_kw = dict(batch_size=b, lr=1e-3, max_epochs=10**6, eval_every=eval_every, patience=0)
    runs = equal_loss_runs(big, small)
    raw: dict[int, list[list[dict[str, Any]]]] = {}

    def launch(a: dict[str, Any], ddp: bool, kw: dict[str, Any], seed: int) -> list[dict[str, Any]]:
        arch = {k: v for k, v in a.items() if k != "ddp"}
        arch["seed"] = seed
        nproc = a.get("ddp", arch["nproc"])
        return launch_local(_equal_loss_worker, nproc, (arch, dict(kw, seed=seed), n_samples, ddp),
                            timeout_s=300, join_timeout_s=3600)

    t0 = time.perf_counter()
    base_res = {s: launch(runs[0][1], False, dict(fit_kw, max_iters=budget), s) for s in seeds}
    target = 1.1 * statistics.median(r[0]["best"] for r in base_res.values())
    print(f"  (b) TP baseline over seeds {seeds}: ℓ* = {target:.4g} "
          f"({time.perf_counter() - t0:.0f} s)", flush=True)
    rows = []
    for i, (label, a, ddp) in enumerate(runs):
        per_seed = []
        t0 = time.perf_counter()
        for s in seeds:
            res = base_res[s] if i == 0 else launch(
                a, ddp, dict(fit_kw, max_iters=2 * budget, target_loss=target), s)
            raw.setdefault(s, []).append(res)
            per_seed.append(_to_target(res, target))
        arch = {k: v for k, v in a.items() if k != "ddp"}
        rows.append({"label": label, "arch": arch, "ranks": a.get("ddp", arch["nproc"]),
                     "params_total": param_count(Arch(**arch))["total"], "seeds": per_seed})
        print(f"  (b) {label} n={arch['width']} p={rows[-1]['ranks']}: reached in "
              f"{sum(r['reached'] for r in per_seed)}/{len(seeds)} seeds, iterations "
              f"{[r['iters'] for r in per_seed]} ({time.perf_counter() - t0:.0f} s)", flush=True)
    return {"target": target, "runs": rows, "budget": budget, "seeds": seeds}


def _mean_sem(xs: list[float]) -> tuple[float, float]:
    m = statistics.fmean(xs)
    return m, (statistics.stdev(xs) / len(xs) ** 0.5 if len(xs) > 1 else float("nan"))


def table_b(res: dict[str, Any]) -> str:
    """Mean ± standard error over seeds; a row not reaching ℓ* in every seed gets no ratio."""
    base = res["runs"][0]
    base_ok = all(r["reached"] for r in base["seeds"])
    be, be_err = _mean_sem([r["energy_j"] for r in base["seeds"]])
    n_seeds = len(res["seeds"])
    lines = [
        f"Target held-out MSE ℓ* = {res['target']:.4g} (standardised units) = 1.1 x the median "
        f"over seeds {res['seeds']} of the TP baseline's (first row) best within {res['budget']} "
        "iterations; other rows stop at ℓ* or after twice that. Values are mean ± standard "
        "error over the seeds that reached ℓ*.",
        "",
        "| run | n | ranks | k | params | reached | iterations to ℓ* | time to ℓ* (s) "
        "| modeled energy to ℓ* (J) | static share | energy / TP baseline | peak RSS per rank "
        "(MiB; rise during the run) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in res["runs"]:
        a = r["arch"]
        ok = [x for x in r["seeds"] if x["reached"]]
        reached = f"{len(ok)}/{n_seeds}"
        if not ok:
            its = tim = en = "not reached"
            ratio = "not reached"
            static = "-"
        else:
            its = "{:.0f} ± {:.0f}".format(*_mean_sem([x["iters"] for x in ok]))
            tim = "{:.1f} ± {:.1f}".format(*_mean_sem([x["time_s"] for x in ok]))
            e, e_err = _mean_sem([x["energy_j"] for x in ok])
            en = f"{e:.1f} ± {e_err:.1f}"
            static = f"{statistics.fmean(x['static_share'] for x in ok):.2f}"
            if len(ok) < n_seeds or not base_ok:
                ratio = "not reached in every seed"
            else:
                q = e / be
                ratio = f"{q:.2f} ± {q * ((e_err / e) ** 2 + (be_err / be) ** 2) ** 0.5:.2f}"
        rss = max(x["peak_rss_mib"] for x in r["seeds"])
        rise = max(x["peak_rss_delta_mib"] for x in r["seeds"])
        k = a["ghosts"] if a["mode"] == "phantom" else "-"
        lines.append(
            f"| {r['label']} | {a['width']} | {r['ranks']} | {k} | "
            f"{r['params_total']} | {reached} | {its} | {tim} | {en} | {static} | {ratio} | "
            f"{rss:.0f} ({rise:+.1f}) |")
    exact = all(x["peak_is_this_run"] for r in res["runs"] for x in r["seeds"])
    lines += ["", "Peak RSS: VmHWM of each rank process after its run"
              + (" (reset at the start of the run, so it is this run's peak)" if exact else
                 " (could not be reset: includes the parent's peak before the fork)")
              + "; the rise is peak minus the RSS when training started (model, optimizer state, "
              "activations, collective buffers). DDP rows: FLOPs and bytes are analytic "
              "(per-rank batch b/p; ring all-reduce of all gradients, 2(p-1)/p x params x 4 B)."]
    return "\n".join(lines)


def coefficient_table() -> str:
    c = DEFAULT_COEFFICIENTS
    lines = ["| coefficient | value | band | units |", "|---|---|---|---|"]
    for row in c.table():
        lo, hi = row["range"]
        lines.append(f"| {row['coefficient']} ({row['meaning']}) | {row['value']:g} | "
                     f"{lo:g}-{hi:g} | {row['units']} |")
    return "\n".join(lines) + f"\n\nSource: {c.source}. All energies above are modeled."


def machine() -> str:
    cpu = platform.processor() or "cpu"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{os.cpu_count()} cores ({cpu}), Linux {platform.release()}, Python "
            f"{platform.python_version()}, torch {torch.__version__}, gloo, one thread per rank, "
            "fork-started ranks")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke test, ~1 min)")
    parser.add_argument("--iters", type=int, default=20, help="timed iterations per config")
    parser.add_argument("--budget", type=int, default=1500, help="TP baseline iterations in (b)")
    parser.add_argument("--skip-a", action="store_true")
    parser.add_argument("--skip-b", action="store_true")
    parser.add_argument("--widths", help="comma-separated widths n for (a) (default 1024,2048; "
                        "--quick: 256)")
    parser.add_argument("--seeds", type=int, default=4, help="seeds per equal-loss row (>= 4)")
    parser.add_argument("--json", help="also write all numbers to this JSON file")
    args = parser.parse_args()
    pin_threads(1)
    ns, b_a, n_samples, big, small = [1024, 2048], 64, 8192, 1024, 512
    if args.quick:
        ns, n_samples, big, small, args.budget = [256], 2048, 256, 128, 200
    if args.widths:
        ns = [int(w) for w in args.widths.split(",")]
    if args.seeds < 4:
        print(f"note: --seeds {args.seeds} is below the 4 seeds the comparison needs", flush=True)
    print(f"machine: {machine()}", flush=True)
    results: dict[str, Any] = {"machine": machine(), "load_start": os.getloadavg()[0]}
    t0 = time.perf_counter()
    if not args.skip_a:
        rows = equal_width(ns, [1, 2, 4], b_a, max(args.iters, 20), 5)
        results["equal_width"] = rows
    if not args.skip_b:
        results["equal_loss"] = equal_loss(args.budget, 128, n_samples, 25, big, small,
                                           list(range(args.seeds)))
    results["load_end"] = os.getloadavg()[0]
    print()
    print(f"Machine: {results['machine']}; 1-minute load average {results['load_start']:.1f} at "
          f"start, {results['load_end']:.1f} at end (values above the rank count mean other jobs "
          "shared the cores).")
    if "equal_width" in results:
        print(f"\n(a) Equal width: L=2 hidden layers, b={b_a}, fp32, d_in={D_IN}, d_out={D_OUT}; "
              "time = median of >= 20 training iterations (fwd+bwd+Adam) between barriers.\n")
        print(table_a(results["equal_width"]))
    if "equal_loss" in results:
        print(f"\n(b) Equal loss: teacher-student data ({n_samples} samples, 80/20 split), b=128, "
              "Adam lr 1e-3, validation every 25 iterations.\n")
        print(table_b(results["equal_loss"]))
    print("\nModeled-energy coefficients:\n")
    print(coefficient_table())
    print(f"\nTotal benchmark time {time.perf_counter() - t0:.0f} s.")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(results, indent=1, default=float))


if __name__ == "__main__":
    main()
