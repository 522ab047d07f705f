"""Train a small surrogate on synthetic teacher-student data, save it, reload it, predict.

    python examples/train_surrogate.py [--out DIR]

Uses only the public Python API of ``mlsurrogate``; for scan data replace ``teacher_student``
by ``read_scan_store("out/scan_x")``. Multi-process (tensor/phantom parallel) training goes
through ``lfqcd train runs/train_phantom.toml --nproc 2``.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from lfqcd.threads import pin_threads
from mlsurrogate import FitConfig, ModelConfig, load_surrogate, teacher_student, train_surrogate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None, help="folder for surrogate.pt (default: temp)")
    args = parser.parse_args()
    pin_threads(1)
    out = Path(args.out or tempfile.mkdtemp(prefix="surrogate_"))

    data = teacher_student(n_samples=2000, seed=0)  # couplings c0..c5 -> s0..s3 + curve[0..15]
    surrogate, result = train_surrogate(
        data, ModelConfig(width=64, depth=2), FitConfig(max_epochs=6, lr=3e-3, batch_size=64)
    )
    print(f"trained {result.n_iters} iterations, best validation MSE {result.best_val_loss:.3e}"
          f" (standardised units), stopped: {result.stopped}")

    path = surrogate.save(out / "surrogate.pt")
    reloaded = load_surrogate(path)
    x = data.X[:3]
    pred = reloaded.predict(x)  # dict: scalars (3,), curves (3, 16)
    print("inputs:", reloaded.input_names)
    print("s0 predicted:", np.round(pred["s0"], 4), " true:", np.round(data.Y[:3, 0], 4))
    print("curve[0..3] of the first point:", np.round(pred["curve"][0, :4], 4))
    same = np.allclose(reloaded.predict_array(x), surrogate.predict_array(x), atol=1e-6)
    print(f"saved to {path}; reloaded prediction matches: {same}")
    if not same:
        raise SystemExit("reloaded surrogate disagrees with the trained one")


if __name__ == "__main__":
    main()
