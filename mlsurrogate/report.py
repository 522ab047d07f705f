"""Run artifacts: checkpoint, loss-curve PNG (matplotlib Agg) and the JSON record."""

from __future__ import annotations

import datetime
import importlib
import json
import platform
import subprocess
from pathlib import Path
from typing import Any

import numpy as np

from mlsurrogate.data import Dataset

__all__ = ["SCHEMES", "plot_loss_curve", "rmse_by_observable", "versions", "write_artifacts"]

SCHEMES = {
    "none": "dense single-process FFN (reference)",
    "tensor": "TP-A: 1-D, every hidden layer column-parallel, activations "
              "sharded between layers (all-gather fwd / reduce-scatter bwd)",
    "phantom": "phantom parallelism (per-layer ghost all-gather fwd / reduce-scatter bwd)",
}


def versions() -> dict[str, Any]:
    """Package versions, Python, platform and (best effort) the git revision."""
    import lfqcd

    out: dict[str, Any] = {"lfqcd": lfqcd.__version__, "python": platform.python_version(),
                           "platform": platform.platform()}
    for name in ("torch", "numpy", "scipy", "matplotlib"):
        try:
            out[name] = importlib.import_module(name).__version__
        except ImportError:
            out[name] = None
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=5, cwd=Path(lfqcd.__file__).parent)
        out["git_revision"] = rev.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        out["git_revision"] = None
    return out


def rmse_by_observable(surrogate: Any, ds: Dataset) -> dict[str, float]:
    """Root-mean-square error per observable in physical units (curves: over all points)."""
    pred = surrogate.predict_array(ds.X)
    return {name: float(np.sqrt(np.mean((pred[:, cols] - ds.Y[:, cols]) ** 2)))
            for name, cols in ds.observables.items()}


def plot_loss_curve(history: list[dict[str, float]], path: Path, title: str = "") -> Path:
    """Training and validation MSE (standardised units) against iteration, log scale."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    it = [h["iter"] for h in history]
    fig, ax = plt.subplots(figsize=(6, 4), constrained_layout=True)
    ax.plot(it, [h["train_loss"] for h in history], label="train (running mean)")
    ax.plot(it, [h["val_loss"] for h in history], label="validation")
    ax.set_yscale("log")
    ax.set_xlabel("iteration")
    ax.set_ylabel("MSE (standardised units)")
    ax.set_title(title, fontsize=9)
    ax.legend()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, float) and not np.isfinite(x):
        return None
    return x


def write_artifacts(surrogate: Any, result: Any, record: dict[str, Any], out_dir: Path) -> dict[str, str]:
    """Write ``model.pt``, ``loss_curve.png`` and ``record.json`` into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"checkpoint": str(out_dir / "model.pt"), "loss_curve": str(out_dir / "loss_curve.png"),
             "record": str(out_dir / "record.json")}
    surrogate.meta["record"] = "record.json"
    surrogate.save(paths["checkpoint"])
    a = record["arch"]
    title = (f"{a['mode']}  n={a['width']} L={a['depth']} p={a['nproc']}"
             + (f" k={a['ghosts']}" if a["mode"] == "phantom" else "")
             + f"  best val {result.best_val_loss:.3g} @ {result.best_iter}")
    plot_loss_curve(result.history, Path(paths["loss_curve"]), title)
    record = {**record, "artifacts": paths,
              "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")}
    tmp = Path(paths["record"] + ".tmp")
    tmp.write_text(json.dumps(_jsonable(record), indent=2))
    tmp.replace(paths["record"])
    return paths
