"""Active learning on the analytic stand-in simulator through the public API (about 10 s).

    python examples/active_learning.py --out out/al_example

Builds the configuration in code (the same keys as ``runs/al_toy.toml``), runs three rounds of
uncertainty sampling with a 4-member ensemble on a local process pool, prints the learning
curve and the final summary, then predicts with the trained ensemble (mean +- ensemble spread)
at a point on the stand-in's sharp front and compares with the exact value. Run it twice: the
second run finds every round completed and simulates nothing.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from lfqcd.threads import pin_threads
from mlsurrogate.active.config import config_from_dict
from mlsurrogate.active.run import run_active_learning
from mlsurrogate.active.simulators.standin import evaluate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="out/al_example", help="results folder")
    parser.add_argument("--workers", type=int, default=2, help="simulation processes")
    args = parser.parse_args(argv)
    pin_threads(1)  # entry point: one BLAS/torch thread here and in every worker

    cfg = config_from_dict({
        "al": {"name": "example", "simulator": "mlsurrogate.active.simulators.standin:simulate",
               "out": args.out, "seed": 7, "observables": ["E", "order"]},
        "box": {"x1": [0.0, 1.0], "x2": [0.0, 1.0]},
        "policy": {"initial": 16, "batch": 8, "rounds": 3, "pool_size": 1024},
        "uncertainty": {"kind": "ensemble", "members": 4},
        "model": {"width": 48, "depth": 2},
        "train": {"initial_epochs": 300, "round_epochs": 150, "patience": 40},
        "test": {"n_points": 128},
        "executor": {"kind": "process", "workers": args.workers},
        "output": {"progress": False, "plots": True},
    })
    result = run_active_learning(cfg, echo=lambda msg: print(msg, file=sys.stderr))
    print("round  simulations  held-out nMSE")
    for r in result.rounds:
        print(f"{r['round']:5d}  {r['n_sims']:11d}  {r['test_nmse']:.4f}")
    print(result.summary())

    point = np.array([[0.35 + 0.25, 0.45]])  # on the front r = 0.25 around (0.35, 0.45)
    mean, var = result.model.predict(point)
    exact = evaluate(point[:, 0], point[:, 1], np.array([0.5]))
    for j, name in enumerate(["E", "order"]):
        print(f"{name} at x1=0.60, x2=0.45: surrogate {mean[0, j]:+.3f} +- {np.sqrt(var[0, j]):.3f},"
              f" exact {float(exact[name][0]):+.3f}")
    return 0 if result.n_sims == cfg.policy.budget else 1


if __name__ == "__main__":
    sys.exit(main())
