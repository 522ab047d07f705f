"""Uncertainty models for active learning (deep ensembles with a log-variance head).

``"ensemble"`` (default): ``members`` >= 2 dense FFNs (:class:`~mlsurrogate.models.dense.FFN`
through :func:`~mlsurrogate.train.api.train_surrogate`) with different initialisation and
shuffling seeds. Score of a coupling point: the predictive variance across members, per output
divided by that output's variance over the labelled set, averaged over outputs
(:meth:`EnsembleModel.score`).

``"heteroscedastic"``: the published single-model head (spec 3.1/4): one FFN predicting a mean
and a log-variance ``s`` per output, trained with the Gaussian negative log-likelihood
``(y - mu)^2 e^{-s} + s`` (:func:`gaussian_nll`); score ``mean_j exp(s_j)`` (standardised
outputs). With a deterministic simulator this learns where the fit error is large, not
epistemic uncertainty (spec 3.1), which is why the ensemble is the default.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lfqcd.errors import InvalidParameterError, ResultFileError
from mlsurrogate.active.config import ALConfig
from mlsurrogate.arch import Arch
from mlsurrogate.config import FitConfig, ModelConfig
from mlsurrogate.data import Dataset, Standardizer
from mlsurrogate.models.layers import torch_dtype
from mlsurrogate.seeds import derive_seed
from mlsurrogate.surrogate import Surrogate, build_network, load_surrogate
from mlsurrogate.train.api import train_surrogate
from mlsurrogate.train.loop import FitResult, fit

__all__ = ["EnsembleModel", "HeteroscedasticModel", "gaussian_nll", "make_model"]

EpochCallback = Callable[[dict[str, float]], None]


def _output_scale(Y: np.ndarray) -> np.ndarray:
    """Per-output standard deviation of the labelled set (``1`` where it is ~0)."""
    s = Y.std(axis=0)
    return np.where(s <= 1e-12 * np.maximum(1.0, np.abs(Y.mean(axis=0))), 1.0, s)


def _fit_config(opts: Any, epochs: int, seed: int) -> FitConfig:
    # [train] patience (epochs) acts between chunks (rounds.train_chunked), not inside a fit
    return FitConfig(batch_size=opts.batch_size, lr=opts.lr, weight_decay=opts.weight_decay,
                     max_epochs=epochs, patience=0, seed=seed, device="cpu")


class EnsembleModel:
    """A deep ensemble of dense FFN surrogates (different seeds); the default uncertainty.

    Member ``i`` uses the initialisation seed ``model.seed + 7919 i``, shuffling seed
    ``derive_seed(seed, i, 11)`` and validation split ``derive_seed(seed, i, 13)``, so the
    members differ in initialisation, batch order and held-back points. A member's split is
    fixed for the whole run (by each point's couplings): a point trained on in one round is
    never a validation point in a later one.
    """

    kind = "ensemble"

    def __init__(self, members: int, model: ModelConfig, train: Any, seed: int = 0) -> None:
        if members < 2:
            raise InvalidParameterError(f"an ensemble needs at least 2 members, got {members}")
        self.n_members, self.model_cfg, self.train_opts, self.seed = members, model, train, seed
        self.members: list[Surrogate] = []
        self.y_scale: np.ndarray | None = None

    def fit(self, ds: Dataset, epochs: int, *, warm: bool,
            progress: EpochCallback | None = None) -> list[FitResult]:
        """Train every member on ``ds`` (warm-started from the current members if ``warm``)."""
        results = []
        new: list[Surrogate] = []
        for i in range(self.n_members):
            init = self.members[i] if warm and len(self.members) == self.n_members else None
            mcfg = dataclasses.replace(self.model_cfg, seed=self.model_cfg.seed + 7919 * i)
            sur, res = train_surrogate(
                ds, mcfg, _fit_config(self.train_opts, epochs, derive_seed(self.seed, i, 11)),
                val_fraction=self.train_opts.val_fraction,
                split_seed=derive_seed(self.seed, i, 13), init=init, progress=progress,
                fixed_split=True,
            )
            new.append(sur)
            results.append(res)
        self.members = new
        self.y_scale = _output_scale(ds.Y)
        return results

    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Ensemble mean and variance ``(N, d_out)`` in physical units."""
        if not self.members:
            raise InvalidParameterError("the ensemble has not been trained yet")
        P = np.stack([m.predict_array(X) for m in self.members])
        return P.mean(axis=0), P.var(axis=0, ddof=1)

    def score(self, X: np.ndarray) -> np.ndarray:
        """Per-output standardised predictive variance, averaged over outputs ``(N,)``."""
        _, var = self.predict(X)
        assert self.y_scale is not None
        return np.mean(var / self.y_scale**2, axis=1)

    def save(self, folder: Path) -> None:
        """``member_<i>.pt`` checkpoints plus ``model.json``."""
        folder.mkdir(parents=True, exist_ok=True)
        for i, m in enumerate(self.members):
            m.save(folder / f"member_{i}.pt")
        meta = {"kind": self.kind, "members": self.n_members,
                "y_scale": None if self.y_scale is None else self.y_scale.tolist()}
        (folder / "model.json").write_text(json.dumps(meta))

    def load(self, folder: Path) -> None:
        """Reload what :meth:`save` wrote (raises ResultFileError when incomplete)."""
        meta = _read_meta(folder, self.kind)
        self.members = [load_surrogate(folder / f"member_{i}.pt") for i in range(self.n_members)]
        self.y_scale = None if meta.get("y_scale") is None else np.asarray(meta["y_scale"])


def gaussian_nll(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Heteroscedastic Gaussian NLL (spec 4): ``mean(((y - mu)^2 e^{-s} + s) / 2)``.

    ``out = [mu, s]`` with ``s`` the predicted log-variance per output, clamped to [-12, 12]
    for stability.
    """
    m = y.shape[1]
    mu, s = out[:, :m], out[:, m:].clamp(-12.0, 12.0)
    return 0.5 * ((y - mu) ** 2 * torch.exp(-s) + s).mean()


class HeteroscedasticModel:
    """One FFN with a mean and a log-variance output per observable column (spec 3.1, 4).

    Stored as a regular :class:`~mlsurrogate.surrogate.Surrogate` whose outputs are the columns
    followed by ``logvar:<column>`` (standardisation of the log-variances is the identity).
    """

    kind = "heteroscedastic"

    def __init__(self, model: ModelConfig, train: Any, seed: int = 0) -> None:
        self.model_cfg, self.train_opts, self.seed = model, train, seed
        self.sur: Surrogate | None = None
        self.m = 0

    def fit(self, ds: Dataset, epochs: int, *, warm: bool,
            progress: EpochCallback | None = None) -> list[FitResult]:
        """Train with :func:`gaussian_nll` (warm-started from the current network if ``warm``)."""
        train_ds, val_ds = ds.split(self.train_opts.val_fraction, derive_seed(self.seed, 0, 13),
                                    by_content=True)
        m = len(ds.output_names)
        if warm and self.sur is not None:
            arch, net = self.sur.arch, self.sur.net
            std = Standardizer(self.sur.standardizer.x_mean, self.sur.standardizer.x_std,
                               self.sur.standardizer.y_mean[:m], self.sur.standardizer.y_std[:m])
        else:
            mc = self.model_cfg
            arch = Arch(d_in=len(ds.input_names), d_out=2 * m, width=mc.width, depth=mc.depth,
                        activation=mc.activation, seed=mc.seed, dtype=mc.dtype)
            std = Standardizer.fit(train_ds.X, train_ds.Y)
            net = build_network(arch)
        dt = torch_dtype(arch.dtype)

        def tensors(d: Dataset) -> tuple[torch.Tensor, torch.Tensor]:
            return (torch.as_tensor(std.transform_x(d.X), dtype=dt),
                    torch.as_tensor(std.transform_y(d.Y), dtype=dt))

        res = fit(net, tensors(train_ds), tensors(val_ds),
                  _fit_config(self.train_opts, epochs, derive_seed(self.seed, 0, 11)),
                  None, progress, loss_fn=gaussian_nll)
        full = Standardizer(std.x_mean, std.x_std, np.concatenate([std.y_mean, np.zeros(m)]),
                            np.concatenate([std.y_std, np.ones(m)]))
        names = list(ds.output_names) + [f"logvar:{c}" for c in ds.output_names]
        self.sur = Surrogate(net, arch, full, ds.input_names, names,
                             {"kind": self.kind, "best_val_nll": res.best_val_loss})
        self.m = m
        return [res]

    def _raw(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.sur is None:
            raise InvalidParameterError("the heteroscedastic model has not been trained yet")
        out = self.sur.predict_array(X)
        return out[:, : self.m], np.clip(out[:, self.m :], -12.0, 12.0)

    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and predicted variance ``(N, d_out)`` in physical units."""
        mu, s = self._raw(X)
        assert self.sur is not None
        return mu, np.exp(s) * self.sur.standardizer.y_std[: self.m] ** 2

    def score(self, X: np.ndarray) -> np.ndarray:
        """``mean_j exp(s_j)``: predicted variance of the standardised outputs ``(N,)``."""
        return np.mean(np.exp(self._raw(X)[1]), axis=1)

    def save(self, folder: Path) -> None:
        """``model.pt`` plus ``model.json``."""
        assert self.sur is not None
        folder.mkdir(parents=True, exist_ok=True)
        self.sur.save(folder / "model.pt")
        (folder / "model.json").write_text(json.dumps({"kind": self.kind, "m": self.m}))

    def load(self, folder: Path) -> None:
        """Reload what :meth:`save` wrote."""
        meta = _read_meta(folder, self.kind)
        self.sur = load_surrogate(folder / "model.pt")
        self.m = int(meta["m"])


def _read_meta(folder: Path, kind: str) -> dict[str, Any]:
    try:
        meta = json.loads((folder / "model.json").read_text())
    except (OSError, ValueError) as exc:
        raise ResultFileError(f"model checkpoint {folder} is missing or unreadable ({exc})") from exc
    if meta.get("kind") != kind:
        raise ResultFileError(f"model checkpoint {folder} holds a {meta.get('kind')!r} model, "
                              f"expected {kind!r}")
    return meta


def make_model(cfg: ALConfig) -> EnsembleModel | HeteroscedasticModel:
    """The uncertainty model a configuration asks for (untrained)."""
    if cfg.uncertainty.kind == "heteroscedastic":
        return HeteroscedasticModel(cfg.model, cfg.train, cfg.seed)
    return EnsembleModel(cfg.uncertainty.members, cfg.model, cfg.train, cfg.seed)


