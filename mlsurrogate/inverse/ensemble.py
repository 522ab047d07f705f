"""A deep ensemble of small dense surrogates: the mean is the prediction, the spread between
members is the surrogate's own (epistemic) uncertainty.

Members differ in initialisation seed and in their train/validation split (``split_seed``), so
the spread also reflects which points each member saw. Saved as a folder::

    <dir>/ensemble.json     names, member files, held-out test metrics (when measured)
    <dir>/member_<i>.pt     ordinary surrogate checkpoints (``mlsurrogate.load_surrogate``)
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lfqcd.errors import InvalidParameterError, ResultFileError

MANIFEST = "ensemble.json"


class Ensemble:
    """Members that share input and output names; predictions in physical units."""

    def __init__(self, members: Sequence[Any], meta: dict[str, Any] | None = None) -> None:
        if not members:
            raise InvalidParameterError("an ensemble needs at least one member")
        first = members[0]
        for m in members[1:]:
            if m.input_names != first.input_names or m.output_names != first.output_names:
                raise InvalidParameterError("ensemble members have different input/output names")
        self.members = list(members)
        self.input_names: list[str] = list(first.input_names)
        self.output_names: list[str] = list(first.output_names)
        self.meta = dict(meta or {})

    def member_predictions(self, x: Any) -> np.ndarray:
        """``(members, N, d_out)`` predictions (a dict of inputs or an ``(N, d_in)`` array)."""
        return np.stack([m.predict_array(x) for m in self.members])

    def predict(self, x: Any) -> tuple[np.ndarray, np.ndarray]:
        """Ensemble mean and standard deviation (``ddof = 1``), each ``(N, d_out)``."""
        ys = self.member_predictions(x)
        return ys.mean(axis=0), ys.std(axis=0, ddof=1 if len(self.members) > 1 else 0)

    def column(self, name: str) -> int:
        try:
            return self.output_names.index(name)
        except ValueError:
            raise InvalidParameterError(
                f"the surrogate has no output {name!r}; it has {self.output_names}") from None

    # -- persistence --------------------------------------------------------------------------
    def save(self, folder: str | Path) -> Path:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        files = []
        for i, m in enumerate(self.members):
            f = f"member_{i}.pt"
            m.save(folder / f)
            files.append(f)
        manifest = {"format": "lfqcd-ensemble", "members": files, "input_names": self.input_names,
                    "output_names": self.output_names, "meta": self.meta}
        (folder / MANIFEST).write_text(json.dumps(manifest, indent=1, default=float))
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> Ensemble:
        from mlsurrogate.surrogate import load_surrogate

        folder = Path(folder)
        path = folder / MANIFEST
        if not path.is_file():
            raise ResultFileError(f"{folder} is not a saved ensemble ({MANIFEST} not found)")
        try:
            manifest = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise ResultFileError(f"{path} is not valid JSON ({exc})") from exc
        if manifest.get("format") != "lfqcd-ensemble":
            raise ResultFileError(f"{path} is not an lfqcd ensemble manifest")
        return cls([load_surrogate(folder / f) for f in manifest["members"]], manifest.get("meta"))


def train_ensemble(
    X: np.ndarray, Y: np.ndarray, input_names: Sequence[str], output_names: Sequence[str],
    members: int, width: int, depth: int, lr: float, batch_size: int, max_epochs: int,
    patience: int, seed: int, source: Mapping[str, Any] | None = None,
    progress: Callable[[str], None] | None = None,
) -> Ensemble:
    """Train ``members`` dense surrogates (seeds ``seed + i``) through the public API."""
    from mlsurrogate.config import FitConfig, ModelConfig
    from mlsurrogate.data import Dataset
    from mlsurrogate.train.api import train_surrogate

    ds = Dataset(X, Y, list(input_names), list(output_names), dict(source or {}))
    trained, losses = [], []
    for i in range(members):
        sur, res = train_surrogate(
            ds, ModelConfig(width=width, depth=depth, activation="tanh", dtype="float64",
                            seed=seed + i),
            FitConfig(batch_size=batch_size, lr=lr, max_epochs=max_epochs, patience=patience,
                      seed=seed + i, device="cpu"),
            val_fraction=0.2, split_seed=seed + i)
        trained.append(sur)
        losses.append(res.best_val_loss)
        if progress:
            progress(f"  member {i + 1}/{members}: best validation MSE {res.best_val_loss:.3g} "
                     f"(standardised) after {res.n_iters} steps ({res.stopped})")
    return Ensemble(trained, {"val_mse_standardised": losses, "n_data": len(ds),
                              "width": width, "depth": depth, "seed": seed})


def heldout_metrics(ens: Ensemble, X: np.ndarray, Y: np.ndarray) -> dict[str, dict[str, float]]:
    """Held-out accuracy per output: RMSE and median relative error of the ensemble mean,
    mean ensemble std, and the fraction of points inside mean +- 1 std and +- 2 std (an honest
    check of whether the spread is a usable uncertainty; a Gaussian would give 0.68 / 0.95)."""
    mean, std = ens.predict(X)
    out = {}
    for j, name in enumerate(ens.output_names):
        err = mean[:, j] - Y[:, j]
        scale = np.maximum(np.abs(Y[:, j]), 1e-12)
        out[name] = {
            "rmse": float(np.sqrt(np.mean(err**2))),
            "median_rel_err": float(np.median(np.abs(err) / scale)),
            "mean_std": float(np.mean(std[:, j])),
            "coverage_1sigma": float(np.mean(np.abs(err) <= std[:, j])),
            "coverage_2sigma": float(np.mean(np.abs(err) <= 2 * std[:, j])),
        }
    return out
