"""Phantom (PP) vs tensor parallelism (TP-A) on this machine: the two tables of issue 6.

    python benchmarks/phantom_vs_tensor.py [--quick] [--json out/bench/phantom_vs_tensor.json]

(a) Equal width: p in {1, 2, 4}, n in {1024, 2048}, k in {m/32, m/8, m/4} (m = n/p), depth
    L = 2, batch b = 64, fp32. Per configuration: median wall time of a full training
    iteration (forward, backward, Adam; >= 20 timed iterations after 5 warm-up ones, each
    between two dist.barrier() calls, taken in 4 rounds interleaved over the configurations
    of the same p so that other load on the machine hits TP and PP alike), GEMM FLOPs per
    rank counted with FlopCounterMode, bytes sent per rank counted by the collective wrappers
    (both checked against the analytic model of phantom.md 3), and the modeled energy per
    iteration (phantom.md 3.2); reported as PP/TP ratios next to the formula ratios
    1/p + kp/n and k/m.
(b) Equal loss: the synthetic teacher-student task of runs/train_phantom.toml. The TP
    baseline (n=1024, p=4) trains for a fixed budget; the target ℓ* is 1.1 x its best held-out
    MSE. Every other run (TP p=2, PP at p=4 and p=2, a smaller PP model at p=2) trains until
    its held-out MSE reaches ℓ* (or twice the budget); reported: iterations, training time
    (sum of step times, validation excluded) and modeled energy to ℓ*.

Every rank runs with one thread; ranks are fork-started gloo processes on this machine. With
p = 4 on a 2-core machine the ranks share cores, so times are functional evidence only
(phantom.md 7.3); FLOP and byte counts are the transferable results. No energy counter exists
here, so energies are *modeled* with the coefficient table printed below the tables.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
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
# (b) equal loss
# --------------------------------------------------------------------------------------------
def _equal_loss_worker(ctx: DistContext, a: dict[str, Any], fit_kw: dict[str, Any],
                       n_samples: int) -> dict[str, Any]:
    data = teacher_student(n_samples=n_samples, d_in=D_IN, seed=1)  # = runs/train_phantom.toml
    train, val = data.split(0.2, 1)
    std = Standardizer.fit(train.X, train.Y)
    tens = [torch.as_tensor(f(d), dtype=torch.float32) for d in (train, val)
            for f in (lambda d: std.transform_x(d.X), lambda d: std.transform_y(d.Y))]
    arch = Arch(**a)
    net = build_network(arch, ctx)
    cfg = FitConfig(**fit_kw)
    probe = instrumented_step(net, tens[0][: cfg.batch_size], tens[1][: cfg.batch_size])
    res = fit(net, (tens[0], tens[1]), (tens[2], tens[3]), cfg, ctx)
    return {"history": res.history, "step_times": res.step_times_s, "flops": probe["flops"],
            "bytes": probe["bytes"]["total_logical_bytes"], "best": res.best_val_loss,
            "n_iters": res.n_iters}


def _to_target(res: list[dict[str, Any]], target: float) -> dict[str, Any]:
    r0 = res[0]
    hit = next((h["iter"] for h in r0["history"] if h["val_loss"] <= target), None)
    n = hit if hit is not None else r0["n_iters"]
    # time per iteration: the slowest rank's mean step time over the same iterations
    t_total = max(sum(r["step_times"][:n]) for r in res)
    e = modeled_energy([r["flops"] for r in res], [r["bytes"] for r in res], t_total / n, n)
    return {"reached": hit is not None, "iters": n, "time_s": t_total,
            "energy_j": e["energy_j"], "band_j": e["band_j"], "best": r0["best"]}


def equal_loss(budget: int, b: int, n_samples: int, eval_every: int, big: int, small: int) -> dict[str, Any]:
    base = dict(d_in=D_IN, d_out=D_OUT, depth=2)
    fit_kw = dict(batch_size=b, lr=1e-3, max_epochs=10**6, eval_every=eval_every, patience=0)
    runs = [
        ("TP", {**base, "mode": "tensor", "width": big, "nproc": 4}),
        ("TP", {**base, "mode": "tensor", "width": big, "nproc": 2}),
        ("PP", {**base, "mode": "phantom", "width": big, "nproc": 4, "ghosts": big // 4 // 8}),
        ("PP", {**base, "mode": "phantom", "width": big, "nproc": 2, "ghosts": big // 2 // 8}),
        ("PP", {**base, "mode": "phantom", "width": small, "nproc": 2, "ghosts": small // 2 // 8}),
    ]
    out: list[dict[str, Any]] = []
    target = None
    for i, (label, a) in enumerate(runs):
        kw = dict(fit_kw, max_iters=budget) if i == 0 else dict(fit_kw, max_iters=2 * budget,
                                                                 target_loss=target)
        t0 = time.perf_counter()
        res = launch_local(_equal_loss_worker, a["nproc"], (a, kw, n_samples), timeout_s=300,
                           join_timeout_s=3600)
        if i == 0:
            target = 1.1 * res[0]["best"]
        row = {"label": label, "arch": a, **_to_target(res, target),
               "params_total": param_count(Arch(**a))["total"]}
        out.append(row)
        print(f"  (b) {label} n={a['width']} p={a['nproc']}: {row['iters']} iterations, "
              f"reached={row['reached']} ({time.perf_counter() - t0:.0f} s)", flush=True)
    return {"target": target, "runs": out, "budget": budget}


def table_b(res: dict[str, Any]) -> str:
    base = res["runs"][0]
    lines = [
        f"Target held-out MSE ℓ* = {res['target']:.4g} (standardised units) = 1.1 x the best of "
        f"the TP baseline (first row) within {res['budget']} iterations.",
        "",
        "| run | n | p | k | params | iterations to ℓ* | time to ℓ* (s) | modeled energy to ℓ* (J) "
        "[band] | energy / TP baseline |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in res["runs"]:
        a = r["arch"]
        iters = f"{r['iters']}" if r["reached"] else f"not reached in {r['iters']}"
        lines.append(
            f"| {r['label']} | {a['width']} | {a['nproc']} | {a.get('ghosts', '-')} | "
            f"{r['params_total']} | {iters} | {r['time_s']:.1f} | {r['energy_j']:.1f} "
            f"[{r['band_j'][0]:.1f}-{r['band_j'][1]:.1f}] | {r['energy_j'] / base['energy_j']:.2f} |"
        )
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
    parser.add_argument("--json", help="also write all numbers to this JSON file")
    args = parser.parse_args()
    pin_threads(1)
    ns, b_a, n_samples, big, small = [1024, 2048], 64, 8192, 1024, 512
    if args.quick:
        ns, n_samples, big, small, args.budget = [256], 2048, 256, 128, 200
    print(f"machine: {machine()}", flush=True)
    results: dict[str, Any] = {"machine": machine(), "load_start": os.getloadavg()[0]}
    t0 = time.perf_counter()
    if not args.skip_a:
        rows = equal_width(ns, [1, 2, 4], b_a, max(args.iters, 20), 5)
        results["equal_width"] = rows
    if not args.skip_b:
        results["equal_loss"] = equal_loss(args.budget, 128, n_samples, 25, big, small)
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
    print("\nModeled-energy coefficients (phantom.md 3.2):\n")
    print(coefficient_table())
    print(f"\nTotal benchmark time {time.perf_counter() - t0:.0f} s.")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(results, indent=1, default=float))


if __name__ == "__main__":
    main()
