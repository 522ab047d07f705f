"""Streaming (simulate while training) vs sequential active learning: wall time to the same
held-out error (issue 7). Prints a table, saves a PNG.

    python benchmarks/streaming_vs_sequential.py                     # stand-in sweep + heavy
    python benchmarks/streaming_vs_sequential.py --setups standin_0.1 --seeds 5

Protocol
--------
* Same machine, same seeds, one shared process pool of ``--workers`` (default 2 = every core
  of the development VM) for both workflows, warmed up before any timing (numba compilation
  and operator pieces of the heavy-meson workers are not timed). Runs are interleaved
  (sequential s0, streaming s0, sequential s1, ...) so that machine noise hits both.
* Sequential: simulate a round's batch on all workers, then train (the trainer runs alone:
  one core idles). Streaming (:mod:`mlsurrogate.active.streaming`): all workers simulate while the
  trainer waits, ``workers - 1`` while it trains (the trainer has the remaining core), the
  1.2x oversampling and 0.43 split of spec 6.3, and the incremental feed.
* The held-out set is simulated once beforehand and shared; its evaluation after every
  round (sequential) or training chunk (streaming) is inside the timed region for both.
* Target: the sequential run's final held-out error, same seed. Time to target: the first
  evaluation of the streaming run from which its error stays at or below the target to the
  end (a transient dip does not count; ``not reached`` if it ends above, then its end-to-end
  time is used and counted).
* Headline: the **end-to-end** ratio, streaming wall time / sequential wall time for the whole
  run, per seed, mean +- std. The time-to-error ratio is printed next to it, never alone: it
  compares streaming at every training chunk (with 1.2x oversampled simulations) against
  sequential at its end, so it is the more favourable of the two. Also reported: end-to-end
  times, final errors and simulations of both.
* The simulation-to-training cost ratio decides the saving (spec 10.2.5): the stand-in
  setups burn ``work_s`` CPU seconds per point to sweep it; ``heavy`` is the real solver.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import platform
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from lfqcd.scan.executors import ProcessExecutor
from lfqcd.threads import pin_threads
from mlsurrogate.active.config import ALConfig, config_from_dict
from mlsurrogate.active.run import run_active_learning
from mlsurrogate.active.streaming import run_streaming

sys.path.insert(0, str(Path(__file__).resolve().parent))
from al_vs_random import heldout, machine  # noqa: E402 - sibling benchmark script

STANDIN = {
    "al": {"simulator": "mlsurrogate.active.simulators.standin:simulate"},
    "box": {"x1": [0.0, 1.0], "x2": [0.0, 1.0]},
    "policy": {"initial": 16, "batch": 8, "rounds": 6},
    "test": {"n_points": 512},
}
SETUPS: dict[str, dict[str, Any]] = {
    "standin_0.05": {**STANDIN, "fixed": {"work_s": 0.05}},
    "standin_0.2": {**STANDIN, "fixed": {"work_s": 0.2}},
    # the same without oversampling: separates the overlap gain from the extra simulations
    "standin_0.2_os1": {**STANDIN, "fixed": {"work_s": 0.2}, "stream": {"oversample": 1.0}},
    "standin_0.5": {**STANDIN, "fixed": {"work_s": 0.5}},
    # the real solver at h = 0.15 (~0.3 s per warm-started point; at h = 0.4 a point costs
    # ~0.02 s and there is nothing to overlap)
    "heavy": {
        "al": {"simulator": "heavy_meson.simulator:simulate",
               "observables": ["P0", "rho2", "fB_sqrtM", "lambda_B", "m0_sq", "xi"]},
        "fixed": {"h": 0.15, "kappa_max": 12.0},
        "box": {"t_F": [0.2, 0.8], "mu": [0.9, 1.6]},
        "policy": {"initial": 12, "batch": 8, "rounds": 5},
        "test": {"n_points": 48},
    },
}


def make_config(setup: str, mode: str, seed: int, out: Path) -> ALConfig:
    raw = json.loads(json.dumps(SETUPS[setup]))
    raw["al"].update({"name": f"{setup}_{mode}_s{seed}", "out": str(out), "seed": seed,
                      "mode": mode})
    raw["output"] = {"progress": False, "plots": False, "keep_checkpoints": False}
    return config_from_dict(raw, source=f"benchmark {setup}")


def cfg_out(cfg: ALConfig) -> Path:
    return Path(cfg.out or ".")


def time_to(curve: list[tuple[float, float]], target: float) -> float:
    """First time from which the error stays <= target to the end (inf if it ends above)."""
    hit = math.inf
    for t, e in curve:
        if e is None or e > target * (1 + 1e-12):
            hit = math.inf
        elif not math.isfinite(hit):
            hit = t
    return hit


def bench(setup: str, args: argparse.Namespace, ex: ProcessExecutor) -> dict[str, Any]:
    root = Path(args.out) / setup
    if root.exists():
        shutil.rmtree(root)
    print(f"\n== {setup} ==", flush=True)
    test_cfg = make_config(setup, "sequential", 0, root / "unused")
    if "work_s" in test_cfg.fixed:  # the burn does not change the outputs: skip it here
        test_cfg = dataclasses.replace(test_cfg, fixed={**test_cfg.fixed, "work_s": 0.0})
    test = heldout(test_cfg, ex, root / "heldout")
    rows = []
    for seed in range(args.seeds):
        row: dict[str, Any] = {"seed": seed}
        for mode in ("sequential", "streaming"):
            cfg = make_config(setup, mode, seed, root / f"{mode}_s{seed}")
            curve: list[tuple[float, float]] = []
            t0 = time.perf_counter()
            if mode == "sequential":
                res = run_active_learning(
                    cfg, executor=ex, test_set=test,
                    on_round=lambda _k, e, c=curve, t0=t0: c.append(
                        (time.perf_counter() - t0, e["test_nmse"])))
            else:
                res = run_streaming(
                    cfg, executor=ex, test_set=test,
                    on_chunk=lambda e, c=curve, t0=t0: c.append(
                        (time.perf_counter() - t0, e["test_nmse"])))
            wall = time.perf_counter() - t0
            sim_s = sum(r.get("sim_s", 0.0) for r in res.rounds)
            train_s = sum(r.get("train_s", 0.0) for r in res.rounds)
            walls = [json.loads(line).get("wall_s") for line in
                     (cfg_out(cfg) / "sims" / "manifest.jsonl").read_text().splitlines()]
            row[mode] = {"wall": wall, "final": res.final["test_nmse"], "n_sims": res.n_sims,
                         "per_sim": float(np.mean([w for w in walls if w is not None])),
                         "curve": curve, "sim_s": sim_s, "train_s": train_s,
                         "failed": res.n_failed}
            print(f"  seed {seed} {mode:10s}: {wall:6.1f} s, final nMSE {res.final['test_nmse']:.4g}"
                  f", {res.n_sims} sims ({res.n_failed} failed)", flush=True)
        target = row["sequential"]["final"]
        t_hit = time_to(row["streaming"]["curve"], target)
        row["reached"] = math.isfinite(t_hit)
        row["t_stream"] = t_hit if row["reached"] else row["streaming"]["wall"]
        row["ratio"] = row["t_stream"] / row["sequential"]["wall"]
        row["ratio_end"] = row["streaming"]["wall"] / row["sequential"]["wall"]
        rows.append(row)
    return {"setup": setup, "rows": rows, "config": make_config(setup, "streaming", 0, root)}


def table(results: list[dict[str, Any]]) -> str:
    lines = [
        "| setup | s per simulation (worker) | sequential: time, sims, final nMSE | streaming: time to "
        "sequential's error | streaming: end time, sims, final nMSE | ratio end to end "
        "(headline) | ratio to sequential's final error |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        rows = r["rows"]
        seq = np.array([x["sequential"]["wall"] for x in rows])
        hit = np.array([x["t_stream"] for x in rows])
        end = np.array([x["streaming"]["wall"] for x in rows])
        ratio = np.array([x["ratio"] for x in rows])
        ratio_end = np.array([x["ratio_end"] for x in rows])
        fs = np.array([x["sequential"]["final"] for x in rows])
        ft = np.array([x["streaming"]["final"] for x in rows])
        reached = sum(x["reached"] for x in rows)
        n_seq = rows[0]["sequential"]["n_sims"]
        n_str = rows[0]["streaming"]["n_sims"]
        per_sim = np.mean([x["sequential"]["per_sim"] for x in rows])
        lines.append(
            f"| {r['setup']} | {per_sim:.2f} | {seq.mean():.1f} +- {seq.std():.1f} s, {n_seq}, "
            f"{fs.mean():.3g} +- {fs.std():.2g} | {hit.mean():.1f} +- {hit.std():.1f} s "
            f"(reached {reached}/{len(rows)}) | {end.mean():.1f} +- {end.std():.1f} s, {n_str}, "
            f"{ft.mean():.3g} +- {ft.std():.2g} | **{ratio_end.mean():.2f} +- "
            f"{ratio_end.std():.2f}** | {ratio.mean():.2f} +- {ratio.std():.2f} |"
        )
    return "\n".join(lines)


def headline(results: list[dict[str, Any]]) -> str:
    """One line per setup: the end-to-end ratio first, the time-to-error ratio beside it."""
    lines = []
    for r in results:
        rows = r["rows"]
        end = np.array([x["ratio_end"] for x in rows])
        hit = np.array([x["ratio"] for x in rows])
        reached = sum(x["reached"] for x in rows)
        lines.append(
            f"{r['setup']}: streaming / sequential wall time, end to end: {end.mean():.2f} +- "
            f"{end.std():.2f} ({len(rows)} seeds; {rows[0]['streaming']['n_sims']} vs "
            f"{rows[0]['sequential']['n_sims']} simulations); to the sequential run's final "
            f"error: {hit.mean():.2f} +- {hit.std():.2f} (reached {reached}/{len(rows)})")
    return "\n".join(lines)


def breakdown(results: list[dict[str, Any]]) -> str:
    lines = ["| setup | sequential: simulation phases | sequential: training | streaming: "
             "training (overlapped) |", "|---|---:|---:|---:|"]
    for r in results:
        rows = r["rows"]
        lines.append(
            f"| {r['setup']} | {np.mean([x['sequential']['sim_s'] for x in rows]):.1f} s | "
            f"{np.mean([x['sequential']['train_s'] for x in rows]):.1f} s | "
            f"{np.mean([x['streaming']['train_s'] for x in rows]):.1f} s |")
    return "\n".join(lines)


def plot(results: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(4.6 * len(results), 3.8), squeeze=False)
    for ax, r in zip(axes[0], results, strict=True):
        for i, row in enumerate(r["rows"]):
            for mode, color in (("sequential", "C0"), ("streaming", "C3")):
                t, e = zip(*row[mode]["curve"], strict=True)
                ax.plot(t, e, "-", color=color, alpha=0.7, lw=1,
                        label=mode if i == 0 else None)
        ax.set_yscale("log")
        ax.set_xlabel("wall time (s)")
        ax.set_ylabel("held-out normalised MSE")
        ax.set_title(r["setup"])
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def warm_up(ex: ProcessExecutor, setups: list[str]) -> None:
    """Import the simulators, compile and build their pieces in every worker (untimed)."""
    from lfqcd.scan.worker import PointTask, run_point
    from mlsurrogate.active.simulators.client import SimulationClient

    for setup in setups:
        cfg = make_config(setup, "sequential", 0, Path("unused"))
        client = SimulationClient(cfg, Path("unused"))
        params = client.params_of(np.array([a.low for a in cfg.box]))
        task = PointTask(key="warm", index=0, scan="warmup", simulator=client.spec.ref,
                         params=params, backend="auto", reuse=True,
                         resolution=client.spec.resolution_key(params), coords=(0.0,) * 2)
        futures = [ex.submit(run_point, task) for _ in range(2 * ex.n_workers)]
        for f in futures:
            f.result()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--setups", nargs="+",
                        default=["standin_0.05", "standin_0.2", "standin_0.2_os1", "heavy"],
                        choices=sorted(SETUPS))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", default="out/bench_streaming")
    args = parser.parse_args(argv)
    pin_threads(1)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    load0 = " ".join(f"{x:.2f}" for x in os.getloadavg())
    t0 = time.perf_counter()
    results = []
    with ProcessExecutor(args.workers) as ex:
        warm_up(ex, args.setups)
        for setup in args.setups:
            results.append(bench(setup, args, ex))
    print(f"\nmachine: {machine()}; {args.workers} simulation workers + the trainer in the "
          f"main process, python {platform.python_version()}; load average before {load0}, "
          f"after {' '.join(f'{x:.2f}' for x in os.getloadavg())}; total "
          f"{time.perf_counter() - t0:.0f} s; {args.seeds} seeds per setup")
    print()
    print(table(results))
    print()
    print(breakdown(results))
    print()
    print(headline(results))
    png = Path(args.out) / "streaming_vs_sequential.png"
    plot(results, png)
    out = [{"setup": r["setup"], "rows": r["rows"]} for r in results]
    (Path(args.out) / "streaming_vs_sequential.json").write_text(
        json.dumps(out, indent=1, default=float))
    print(f"\nfigure: {png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
