"""Scan throughput: operator reuse vs rebuilding per point, and 1 vs 2 worker processes.

    python benchmarks/scan_throughput.py                                  # toy simulator
    python benchmarks/scan_throughput.py --config runs/scan_small.toml --points 16   # B meson

Runs the *same* points of a scan configuration four times in one invocation: for each worker
count, once with operator reuse (basis and pieces built once per worker and resolution,
warm-started solves) and once with ``reuse=false`` (the simulator's ``clear_cache()`` before
every point, cold solves). Each run gets a fresh process pool whose workers are first warmed up
(imports, numba compilation) on the first design point and then emptied with ``clear_cache()``,
so the timings compare steady-state work, and the reuse run still pays for its one build per
worker. Each run is repeated (``--repeat``) and the fastest counts, since a shared machine
adds noise; the CPU time per point (measured in the worker) is also shown, as it is much less
sensitive to other load than wall time. Prints a Markdown table and the ratios; results of the
two modes are cross-checked.

    python benchmarks/scan_throughput.py --batched [--quick] [--batch-size 32]

``--batched`` instead times the per-point reuse path against the batched path
(``batch_size = B``, :mod:`lfqcd.batched`) on one worker, same points, same process pool,
same run: by default the B-meson simulator at its default resolution (h = 0.4,
kappa_max = 12: 900 states in the j_z = 1/2 block) with the counterterm held fixed
(``condition = "fixed"``, where a batch is a plain block eigensolve). The per-point solves
use ARPACK with ``tol = 1e-10``, the batched ones stop at residuals of
``1e-10 max(1, |lambda|)``. Ends with ``batched/per-point: X`` (throughput ratio).
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from lfqcd.scan import ProcessExecutor, load_config, run_scan
from lfqcd.scan.config import ScanConfig
from lfqcd.scan.points import resolve_points
from lfqcd.scan.store import ScanStore
from lfqcd.simulator import BACKEND_KEY, load_simulator
from lfqcd.threads import pin_threads

DEFAULT_CONFIG = Path(__file__).resolve().parents[1] / "runs" / "scan_toy.toml"


def _warm_up(simulator: str, point: dict[str, Any], backend: str, pause: float) -> int:
    """Worker task: import, compile and build once, then drop the caches; hold the worker."""
    import os

    spec = load_simulator(simulator)
    spec.simulate({**point, BACKEND_KEY: backend})
    if spec.clear_cache is not None:
        spec.clear_cache()
    time.sleep(pause)  # keep this worker busy so every worker gets one warm-up task
    return os.getpid()


def _parse_fixed(items: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        name, _, value = item.partition("=")
        try:
            out[name] = int(value)
        except ValueError:
            try:
                out[name] = float(value)
            except ValueError:
                out[name] = value
    return out


def bench_config(cfg: ScanConfig, points: int | None, fixed: dict[str, Any]) -> ScanConfig:
    """The configuration to time: fewer points, extra fixed values, no plots/progress."""
    import dataclasses

    design = cfg.design
    if points is not None and design.sampler is not None:
        design = dataclasses.replace(design, n_points=points)
    axes = {k: v for k, v in design.axes.items() if k not in fixed}
    design = dataclasses.replace(design, axes=axes)
    cfg = dataclasses.replace(cfg, design=design, fixed={**cfg.fixed, **fixed})
    return cfg.with_overrides(output_plots=False, output_progress=False)


def run_once(cfg: ScanConfig, workers: int, reuse: bool, root: Path,
             repeat: int = 0) -> dict[str, Any]:
    """One timed scan on a fresh, warmed-up pool of ``workers`` processes."""
    resolved = resolve_points(cfg, load_simulator(cfg.simulator))
    first = resolved.points[0].params
    tag = f"w{workers}_{'reuse' if reuse else 'rebuild'}_{repeat}"
    run_cfg = cfg.with_overrides(out=str(root / tag), reuse=reuse)
    with ProcessExecutor(workers) as ex:
        warm = [ex.submit(_warm_up, cfg.simulator, first, cfg.backend, 0.5)
                for _ in range(workers)]
        pids = {f.result() for f in warm}
        res = run_scan(run_cfg, executor=ex)
    if res.n_failed:
        raise SystemExit(f"{tag}: {res.n_failed} points failed: {res.failures[0][2]}")
    point_s = [r["wall_s"] for r in res.rows]
    cpu_s = [e["cpu_s"] for e in ScanStore(res.out).manifest_entries()]
    return {
        "workers": workers, "mode": "reuse" if reuse else "rebuild", "n": res.n_run,
        "wall_s": res.wall_s, "pps": res.points_per_second,
        "point_s": sum(point_s) / len(point_s), "cpu_s": sum(cpu_s) / len(cpu_s),
        "warm": res.warm_started,
        "warmed_workers": len(pids), "rows": res.rows,
    }


BATCHED_CONFIG = Path(__file__).resolve().parents[1] / "runs" / "scan_small.toml"
#: fixed counterterm for the batched benchmark (the calibrated light-light value, lattice units)
BATCHED_FIXED = {"condition": "fixed", "m0_sq": 48.98}


def run_batched(cfg: ScanConfig, batch: int, root: Path, repeat: int) -> dict[str, Any]:
    """One timed scan on a fresh, warmed-up single worker with ``batch_size = batch``."""
    import dataclasses

    best = None
    for i in range(repeat):
        run_cfg = dataclasses.replace(cfg, batch_size=batch)
        r = run_once(run_cfg, 1, True, root / f"b{batch}", i)
        if best is None or r["pps"] > best["pps"]:
            best = r
    assert best is not None
    best["batch"] = batch
    return best


def main_batched(args: argparse.Namespace) -> int:
    """``--batched``: per-point reuse path vs batched solves, one worker, same points."""
    fixed = _parse_fixed(args.fixed)
    config = args.config if args.config != str(DEFAULT_CONFIG) else str(BATCHED_CONFIG)
    if not args.fixed and Path(config) == BATCHED_CONFIG:
        fixed = dict(BATCHED_FIXED)
    points = args.points if args.points != 48 else (128 if args.quick else 256)
    repeat = 1 if args.quick else args.repeat
    cfg = bench_config(load_config(config), points, fixed)
    with tempfile.TemporaryDirectory(prefix="scan_bench_") as tmp:
        root = Path(args.out) if args.out else Path(tmp)
        t0 = time.perf_counter()
        runs = [run_batched(cfg, 1, root, repeat), run_batched(cfg, args.batch_size, root, repeat)]
        total = time.perf_counter() - t0
    print(format_batched(cfg, runs, total))
    return 0


def format_batched(cfg: ScanConfig, runs: list[dict[str, Any]], total: float) -> str:
    """Markdown table of the per-point and batched runs, the agreement, and the ratio."""
    import platform

    import numpy as np
    import scipy

    per, bat = runs
    lines = [
        f"simulator {cfg.simulator}, {per['n']} points, fixed {cfg.fixed}, 1 worker, "
        f"1 thread; best of the repetitions; numpy {np.__version__}, scipy {scipy.__version__}, "
        f"python {platform.python_version()}",
        "",
        "| path | batch size | wall [s] | points/s | CPU per point [s] | warm-started | backend |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for name, r in (("per-point (reuse)", per), ("batched", bat)):
        backends = sorted({str(row.get("backend")) for row in r["rows"]})
        lines.append(f"| {name} | {r['batch']} | {r['wall_s']:.2f} | {r['pps']:.2f} | "
                     f"{r['cpu_s']:.4f} | {r['warm']} | {', '.join(backends)} |")
    diffs = []
    for a, b in zip(per["rows"], bat["rows"], strict=True):
        for col, v in a.items():
            if col.startswith("obs.") and isinstance(v, float) and not math.isnan(v):
                diffs.append(abs(v - b[col]) / max(1.0, abs(v)))
    lines.append("")
    lines.append(f"max relative |batched - per-point| over all observables: "
                 f"{max(diffs, default=0):.2e}")
    lines.append(f"total benchmark time {total:.1f} s")
    lines.append(f"batched/per-point: {bat['pps'] / per['pps']:.2f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(DEFAULT_CONFIG), help="scan TOML to time")
    parser.add_argument("--points", type=int, default=48,
                        help="n_points of the sampled design (default 48)")
    parser.add_argument("--fixed", action="append", default=[], metavar="NAME=VALUE",
                        help="fix an input (removes it from the grid axes), e.g. L=16")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeat", type=int, default=3,
                        help="repetitions of each run; the fastest counts (default 3)")
    parser.add_argument("--out", help="keep the stores here (default: a temporary folder)")
    parser.add_argument("--batched", action="store_true",
                        help="per-point reuse path vs batched solves (see the module docstring)")
    parser.add_argument("--batch-size", type=int, default=32, help="B of --batched (default 32)")
    parser.add_argument("--quick", action="store_true",
                        help="--batched with 128 points and one repetition")
    args = parser.parse_args(argv)
    pin_threads(1)
    if args.batched:
        return main_batched(args)

    fixed = _parse_fixed(args.fixed)
    if not args.fixed and Path(args.config) == DEFAULT_CONFIG:
        fixed = {"L": 18, "N": 6}  # 18564 states: points of 40-100 ms, eigsh (not dense)
    cfg = bench_config(load_config(args.config), args.points, fixed)
    with tempfile.TemporaryDirectory(prefix="scan_bench_") as tmp:
        root = Path(args.out) if args.out else Path(tmp)
        t0 = time.perf_counter()
        runs = []
        for w in args.workers:
            for reuse in (True, False):
                trials = [run_once(cfg, w, reuse, root, i) for i in range(args.repeat)]
                runs.append(max(trials, key=lambda r: r["pps"]))
        total = time.perf_counter() - t0
    print(format_table(cfg, runs, total))
    return 0


def format_table(cfg: ScanConfig, runs: list[dict[str, Any]], total: float) -> str:
    """The result table and ratios as Markdown."""
    n = runs[0]["n"]
    lines = [
        f"simulator {cfg.simulator}, {n} points, fixed {cfg.fixed}, backend {cfg.backend}; "
        f"best of the repetitions",
        "",
        "| workers | mode | wall [s] | points/s | wall per point [s] | CPU per point [s] "
        "| warm-started |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    for r in runs:
        lines.append(f"| {r['workers']} | {r['mode']} | {r['wall_s']:.2f} | {r['pps']:.2f} | "
                     f"{r['point_s']:.4f} | {r['cpu_s']:.4f} | {r['warm']} |")
    by = {(r["workers"], r["mode"]): r for r in runs}
    lines.append("")
    for w in sorted({r["workers"] for r in runs}):
        ratio = by[(w, "reuse")]["pps"] / by[(w, "rebuild")]["pps"]
        cpu = by[(w, "rebuild")]["cpu_s"] / by[(w, "reuse")]["cpu_s"]
        lines.append(f"reuse / rebuild, {w} worker(s): throughput {ratio:.2f}x, "
                     f"CPU per point {cpu:.2f}x")
    ws = sorted({r["workers"] for r in runs})
    if len(ws) > 1:
        for mode in ("reuse", "rebuild"):
            ratio = by[(ws[-1], mode)]["pps"] / by[(ws[0], mode)]["pps"]
            lines.append(f"{ws[-1]} vs {ws[0]} worker(s), {mode}: {ratio:.2f}x")
    diffs = []
    for a, b in zip(by[(ws[0], "reuse")]["rows"], by[(ws[0], "rebuild")]["rows"], strict=True):
        for col, v in a.items():
            if col.startswith("obs.") and isinstance(v, float) and not math.isnan(v):
                diffs.append(abs(v - b[col]))
    lines.append(f"max |reuse - rebuild| over all observables: {max(diffs, default=0):.2e}")
    lines.append(f"total benchmark time {total:.1f} s")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
