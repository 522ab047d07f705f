"""Active learning vs random and Sobol'-continuation sampling at equal simulation budget (issues
7, 13; results in docs/al_heavy4.md). Prints a table per simulator and saves learning-curve PNGs.

    python benchmarks/al_vs_random.py --quick                  # 4-D heavy meson, 2 seeds, minutes
    python benchmarks/al_vs_random.py --simulator heavy4 --seeds 4 --arms al random sobol
    python benchmarks/al_vs_random.py                          # every setup, every arm
    python benchmarks/al_vs_random.py --simulator standin --seeds 8

Protocol
--------
* One held-out set per simulator, simulated once (Sobol', its own seed) and shared by every
  arm and seed; its cost is the same for both arms and is not counted.
* Both arms run the *same* loop (:func:`mlsurrogate.active.run.run_active_learning`): the same
  initial Sobol' design per seed (paired seeds), the same rounds, batch, ensemble, training
  protocol and warm starts; only the batch selection differs (``policy.kind = "uncertainty"``
  vs ``"random"``: uniform i.i.d. in the box) - the "random + same round structure + warm
  start" control of spec 10.1.3.
* A second baseline (``sobol``) separates "AL selects informative points" from "AL fills
  space better than i.i.d. draws": every batch is the next points of the scrambled Sobol'
  sequence whose first points were the initial design (``policy.kind = "sobol"``).
* The x-axis counts every simulator call (initial set included; failures would count too).
* A third arm (``al_hetero``) is the ablation of spec 10.1.5: the same policy scored by the
  single-model heteroscedastic log-variance head instead of the ensemble.
* Error: held-out normalised MSE (mean over output columns of MSE / variance of the column)
  of the ensemble mean. Curves: mean +- std over seeds.
* "AL needs": the number of simulations at which the mean AL curve reaches a baseline's
  final mean error (log-log interpolation between rounds), as a fraction of the budget;
  per-seed fractions (paired) are given as mean +- std ("> 100%" if never reached). Seeds
  are 0 .. seeds-1 (run seed: initial design, pools, batch draws, ensemble members).
* ``heavy4``: the heavy-light solver over four couplings (G, mu, m, t_F) at the small
  resolution, Lambda-bar renormalised to the simulator default at every point.

All simulations go through one shared process pool (the scan executor), so the heavy-meson
workers compile and build the operator pieces once.
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
from mlsurrogate.active.policy import design_unit
from mlsurrogate.active.run import run_active_learning
from mlsurrogate.active.simulators.client import SimulationClient, output_columns
from mlsurrogate.data import Dataset
from mlsurrogate.report import versions

SETUPS: dict[str, dict[str, Any]] = {
    # analytic stand-in: a sharp circular front and a bump in a smooth background
    "standin": {
        "al": {"simulator": "mlsurrogate.active.simulators.standin:simulate"},
        "box": {"x1": [0.0, 1.0], "x2": [0.0, 1.0]},
        "policy": {"initial": 16, "batch": 16, "rounds": 12},
        "test": {"n_points": 1024},
    },
    # the heavy-light meson solver at the small resolution; two couplings varied
    "heavy": {
        "al": {"simulator": "heavy_meson.simulator:simulate",
               "observables": ["P0", "rho2", "fB_sqrtM", "lambda_B", "m0_sq", "xi"]},
        "fixed": {"h": 0.4, "kappa_max": 12.0},
        "box": {"t_F": [0.2, 0.8], "mu": [0.9, 1.6]},
        "policy": {"initial": 12, "batch": 8, "rounds": 8},
        "test": {"n_points": 256},
    },
    # the same solver over four couplings: string tension G, link mass mu, quark mass m and the
    # helicity-flip hop t_F (other couplings and the renormalisation: simulator defaults)
    "heavy4": {
        "al": {"simulator": "heavy_meson.simulator:simulate",
               "observables": ["P0", "rho2", "fB_sqrtM", "lambda_B", "m0_sq", "xi"]},
        "fixed": {"h": 0.4, "kappa_max": 12.0},
        "box": {"G": [0.7, 1.4], "mu": [0.9, 1.6], "m": [0.3, 0.8], "t_F": [0.2, 0.8]},
        "policy": {"initial": 16, "batch": 16, "rounds": 6},
        "test": {"n_points": 256},
    },
}

#: --quick: fewer rounds, members, epochs and held-out points (a few minutes on 2 cores)
QUICK: dict[str, dict[str, Any]] = {
    "policy": {"rounds": 4},
    "uncertainty": {"members": 3},
    "train": {"initial_epochs": 300, "round_epochs": 150},
    "test": {"n_points": 128},
}


#: benchmark arms: label -> (policy kind, uncertainty kind)
ARMS = {
    "al": ("uncertainty", "ensemble"),
    "al_hetero": ("uncertainty", "heteroscedastic"),
    "random": ("random", "ensemble"),
    "sobol": ("sobol", "ensemble"),
}
LABELS = {"al": "AL (ensemble)", "al_hetero": "AL (heteroscedastic)", "random": "random (i.i.d.)",
          "sobol": "Sobol' continuation"}
BASELINES = ("random", "sobol")


def make_config(name: str, arm: str, seed: int, out: Path, args: argparse.Namespace) -> ALConfig:
    raw = json.loads(json.dumps(SETUPS[name]))
    raw["al"].update({"name": f"{name}_{arm}_s{seed}", "out": str(out), "seed": seed})
    if args.quick:
        for table, values in QUICK.items():
            raw[table] = {**raw.get(table, {}), **values}
    raw["policy"]["kind"], kind = ARMS[arm]
    raw["uncertainty"] = {**raw.get("uncertainty", {}), "kind": kind}
    for key in ("initial", "batch", "rounds"):
        if getattr(args, key) is not None:
            raw["policy"][key] = getattr(args, key)
    raw["output"] = {"progress": False, "plots": False, "keep_checkpoints": False}
    return config_from_dict(raw, source=f"benchmark {name}")


def heldout(cfg: ALConfig, ex: ProcessExecutor, folder: Path) -> Dataset:
    """The shared held-out set: ``[test]`` simulated once through the AL simulation client."""
    client = SimulationClient(cfg, folder, ex)
    u = design_unit(cfg.test.sampler, client.box.d, cfg.test.n_points, cfg.test.seed)
    recs = client.run(client.box.from_unit(u), "test", -1)
    ok = [r for r in recs if r.status == "ok"]
    cols = output_columns(ok[0], cfg.observables)
    rows = [(r.x, r.vector(cols)) for r in ok]
    rows = [(x, y) for x, y in rows if y is not None]
    print(f"  held-out set: {len(rows)} of {len(recs)} points usable", flush=True)
    return Dataset(np.array([x for x, _ in rows]), np.array([y for _, y in rows]),
                   client.box.names, cols)


def machine() -> str:
    """CPU model and core count (for the tables), e.g. ``AMD EPYC, 2 cores``."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            model = next(line.split(":", 1)[1].strip() for line in fh if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{model}, {os.cpu_count()} cores, no GPU used"


def reach(n: np.ndarray, err: np.ndarray, target: float) -> float:
    """Simulations at which the curve ``err(n)`` first reaches ``target`` (log-log interp.)."""
    if err[0] <= target:
        return float(n[0])
    for i in range(1, len(n)):
        if err[i] <= target:
            a, b = math.log(err[i - 1]), math.log(err[i])
            t = (math.log(target) - a) / (b - a) if b != a else 1.0
            return float(math.exp(math.log(n[i - 1]) + t * (math.log(n[i]) - math.log(n[i - 1]))))
    return math.inf


def bench(name: str, args: argparse.Namespace, ex: ProcessExecutor) -> dict[str, Any]:
    root = Path(args.out) / name
    if root.exists() and not args.keep:
        shutil.rmtree(root)
    print(f"\n== {name}: {SETUPS[name]['al']['simulator']} ==", flush=True)
    t0 = time.perf_counter()
    test = heldout(make_config(name, "al", 0, root / "unused", args), ex, root / "heldout")
    t_test = time.perf_counter() - t0
    curves: dict[str, list[np.ndarray]] = {arm: [] for arm in args.arms}
    timing = dict.fromkeys(args.arms, 0.0)
    failed = dict.fromkeys(args.arms, 0)
    n_axis = None
    for seed in range(args.seeds):
        for arm in args.arms:
            cfg = make_config(name, arm, seed, root / f"{arm}_s{seed}", args)
            t = time.perf_counter()
            res = run_active_learning(cfg, executor=ex, test_set=test)
            timing[arm] += time.perf_counter() - t
            failed[arm] += res.n_failed
            n_axis = np.array([r["n_sims"] for r in res.rounds], dtype=float)
            curves[arm].append(np.array([r["test_nmse"] for r in res.rounds]))
            print(f"  seed {seed} {arm:9s}: final nMSE {curves[arm][-1][-1]:.4g} "
                  f"({res.n_sims} sims, {res.n_failed} failed, {time.perf_counter() - t:.1f} s)",
                  flush=True)
    assert n_axis is not None
    errs = {arm: np.array(c) for arm, c in curves.items()}
    targets = {b: float(errs[b][:, -1].mean()) for b in BASELINES if b in errs}
    needs: dict[str, dict[str, Any]] = {}
    for arm in args.arms:
        if arm in BASELINES:
            continue
        A = errs[arm]
        needs[arm] = {b: {
            "n_needed": reach(n_axis, A.mean(axis=0), t),
            "per_seed": [reach(n_axis, A[i], errs[b][i, -1]) / n_axis[-1] for i in range(len(A))],
        } for b, t in targets.items()}
    return {"name": name, "n": n_axis, "errs": errs, "targets": targets, "needs": needs,
            "seeds": list(range(args.seeds)),
            "budget": n_axis[-1], "timing": timing, "t_test": t_test, "n_test": len(test),
            "failed": failed, "config": make_config(name, "al", 0, root, args)}


def table(r: dict[str, Any]) -> str:
    errs, n = r["errs"], r["n"]
    arms = list(errs)
    cfg: ALConfig = r["config"]
    base = list(r["targets"])
    lines = [
        f"### {r['name']}: {cfg.simulator}, box "
        + ", ".join(f"{a.name} in [{a.low:g}, {a.high:g}]" for a in cfg.box)
        + (f", fixed {', '.join(f'{k}={v}' for k, v in cfg.fixed.items())}" if cfg.fixed else "")
        + f"; seeds {', '.join(map(str, r['seeds']))}; held-out set {r['n_test']} points (Sobol')",
        f"initial {cfg.policy.initial} + {cfg.policy.rounds} rounds x {cfg.policy.batch}; "
        f"ensemble of {cfg.uncertainty.members} FFNs (width {cfg.model.width}, depth "
        f"{cfg.model.depth}, {cfg.train.initial_epochs}/{cfg.train.round_epochs} epochs); pool "
        f"{cfg.policy.pool_size}, jitter {cfg.policy.jitter:g}, uniform mix "
        f"{cfg.policy.uniform_mix:g}. Held-out normalised MSE, mean +- std over seeds:",
        "",
        "| simulations | " + " | ".join(LABELS[a] for a in arms) + " | "
        + " | ".join(f"AL / {b}" for b in base if "al" in errs) + " |",
        "|---:|" + "---:|" * (len(arms) + (len(base) if "al" in errs else 0)),
    ]
    for i, ni in enumerate(n):
        cells = [f"{errs[a][:, i].mean():.4g} +- {errs[a][:, i].std():.2g}" for a in arms]
        ratios = [f"{errs['al'][:, i].mean() / errs[b][:, i].mean():.2f}" for b in base
                  if "al" in errs]
        lines.append(f"| {int(ni)} | " + " | ".join(cells + ratios) + " |")
    lines.append("")
    for b in base:
        lines.append(f"{LABELS[b]}'s final error ({int(r['budget'])} simulations): "
                     f"{r['targets'][b]:.4g}.")
    for arm, per_base in r["needs"].items():
        for b, nd in per_base.items():
            ps = np.array(nd["per_seed"])
            fin = ps[np.isfinite(ps)]
            frac = nd["n_needed"] / r["budget"]
            per = f"{100 * fin.mean():.0f}% +- {100 * fin.std():.0f}%" if fin.size else "n/a"
            never = (f" ({int((~np.isfinite(ps)).sum())} seed(s) never)"
                     if (~np.isfinite(ps)).any() else "")
            lines.append(
                f"{LABELS[arm]} reaches {LABELS[b]}'s final error at "
                + (f"{nd['n_needed']:.0f} simulations = **{100 * frac:.0f}% of the budget** "
                   f"(mean curves); per seed, paired: {per}{never}." if math.isfinite(frac)
                   else f"no point within the budget (> 100%); per seed: {per}{never}.")
            )
    lines.append("Wall time: " + ", ".join(f"{LABELS[a]} {r['timing'][a]:.0f} s" for a in arms)
                 + f", held-out set {r['t_test']:.0f} s; failed simulations: "
                 + ", ".join(f"{LABELS[a]} {r['failed'][a]}" for a in arms) + ".")
    return "\n".join(lines)


def plot(results: list[dict[str, Any]], path: Path) -> None:
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = {"al": "C3", "al_hetero": "C2", "random": "C0", "sobol": "C1"}
    fig, axes = plt.subplots(1, len(results), figsize=(5.2 * len(results), 4), squeeze=False)
    for ax, r in zip(axes[0], results, strict=True):
        for arm, E in r["errs"].items():
            m, s = E.mean(axis=0), E.std(axis=0)
            ax.plot(r["n"], m, "o-", color=colors[arm], ms=3, label=LABELS[arm])
            ax.fill_between(r["n"], np.maximum(m - s, 1e-12), m + s, color=colors[arm], alpha=0.2)
        for b, t in r["targets"].items():
            ax.axhline(t, color=colors[b], ls=":", lw=1)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_xticks([int(v) for v in r["n"][:: max(1, len(r["n"]) // 6)]])
        ax.set_xlabel("simulations (initial set included)")
        ax.set_ylabel("held-out normalised MSE")
        ax.set_title(f"{r['name']} ({len(r['seeds'])} seeds, mean $\\pm$ std)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--simulator", choices=(*SETUPS, "both", "all"), default=None,
                        help="one setup; both = standin + heavy; all (default) adds heavy4")
    parser.add_argument("--seeds", type=int, default=None, help="seeds 0..N-1 (default 6)")
    parser.add_argument("--quick", action="store_true",
                        help="heavy4, 2 seeds, arms al/random/sobol, fewer rounds/members/epochs")
    parser.add_argument("--initial", type=int)
    parser.add_argument("--batch", type=int)
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--arms", nargs="+", choices=sorted(ARMS), default=None,
                        help="default: al random sobol al_hetero (--quick: al random sobol)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", default="out/bench_al_vs_random")
    parser.add_argument("--keep", action="store_true", help="reuse earlier results (resume)")
    args = parser.parse_args(argv)
    if args.quick:
        args.simulator = args.simulator or "heavy4"
        args.seeds = args.seeds or 2
        args.arms = args.arms or ["al", "random", "sobol"]
    args.simulator = args.simulator or "all"
    args.seeds = args.seeds or 6
    args.arms = args.arms or ["al", "random", "sobol", "al_hetero"]
    if not set(BASELINES) & set(args.arms):
        parser.error("--arms must include a baseline: 'random' and/or 'sobol'")
    pin_threads(1)
    names = {"both": ["standin", "heavy"], "all": list(SETUPS)}.get(args.simulator, [args.simulator])
    Path(args.out).mkdir(parents=True, exist_ok=True)
    load0 = " ".join(f"{x:.2f}" for x in os.getloadavg())
    t0 = time.perf_counter()
    results = []
    with ProcessExecutor(args.workers) as ex:
        for name in names:
            results.append(bench(name, args, ex))
    print(f"\nmachine: {machine()} ({ex.n_workers} simulation workers, trainer in the main "
          f"process), python {platform.python_version()}, load average before "
          f"{load0}; total {time.perf_counter() - t0:.0f} s")
    for r in results:
        print()
        print(table(r))
    png = Path(args.out) / "al_vs_random.png"
    plot(results, png)
    summary = [{"name": r["name"], "n": r["n"].tolist(), "seeds": r["seeds"],
                "errs": {a: e.tolist() for a, e in r["errs"].items()}, "targets": r["targets"],
                "needs": r["needs"], "timing_s": r["timing"], "quick": args.quick,
                "config": dataclasses.asdict(r["config"]), "versions": versions()}
               for r in results]
    (Path(args.out) / "al_vs_random.json").write_text(json.dumps(summary, indent=1, default=str))
    print(f"\nfigure: {png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
