"""Uncertainty models of issue 7: the deep ensemble (default) and the heteroscedastic
log-variance head (spread plus aleatoric variance), and the ``loss_fn`` option of ``fit``."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mlsurrogate.active.config import TrainOptions
from mlsurrogate.active.uncertainty import EnsembleModel, HeteroscedasticModel, gaussian_nll
from mlsurrogate.arch import Arch
from mlsurrogate.config import FitConfig, ModelConfig
from mlsurrogate.data import Dataset
from mlsurrogate.models.dense import FFN
from mlsurrogate.train.loop import fit

MODEL = ModelConfig(width=32, depth=2, activation="tanh")


def sine_data(x: np.ndarray, noise: np.ndarray | float = 0.0, seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    y = np.sin(3 * x) + noise * rng.standard_normal(x.shape)
    return Dataset(x[:, None], np.stack([y, 0.5 * y**2], axis=1), ["c"], ["a", "b"])


def test_ensemble_variance_grows_away_from_data() -> None:
    x = np.random.default_rng(1).uniform(0.0, 0.4, 40)
    ens = EnsembleModel(5, MODEL, TrainOptions(initial_epochs=300, patience=0), seed=3)
    ens.fit(sine_data(x), 300, warm=False)
    inside = ens.score(np.linspace(0.05, 0.35, 20)[:, None])
    outside = ens.score(np.linspace(0.8, 1.0, 20)[:, None])
    assert np.all(inside >= 0) and inside.shape == (20,)
    assert outside.mean() > 10 * inside.mean()  # members agree on the data, disagree away
    mean, var = ens.predict(np.array([[0.2]]))
    assert mean.shape == var.shape == (1, 2)
    assert abs(mean[0, 0] - np.sin(0.6)) < 0.1


def test_ensemble_warm_start_save_and_load(tmp_path: Path) -> None:
    x = np.linspace(0, 1, 30)
    ens = EnsembleModel(3, MODEL, TrainOptions(), seed=0)
    ens.fit(sine_data(x), 100, warm=False)
    first = ens.predict(x[:, None])[0]
    ens.fit(sine_data(np.linspace(0, 1, 45)), 1, warm=True)  # one epoch: stays close
    assert np.abs(ens.predict(x[:, None])[0] - first).max() < 0.2
    ens.save(tmp_path / "r")
    back = EnsembleModel(3, MODEL, TrainOptions(), seed=0)
    back.load(tmp_path / "r")
    np.testing.assert_allclose(back.score(x[:, None]), ens.score(x[:, None]), rtol=1e-6)


def test_heteroscedastic_head_learns_the_noise_level(tmp_path: Path) -> None:
    x = np.random.default_rng(0).uniform(0, 1, 600)
    noise = np.where(x > 0.5, 0.3, 0.01)
    model = HeteroscedasticModel(MODEL, TrainOptions(lr=3e-3, patience=0), seed=1)
    (res,) = model.fit(sine_data(x, noise), 400, warm=False)
    assert res.history[-1]["train_loss"] < res.history[0]["train_loss"] - 0.5  # NLL trains
    quiet = model.score(np.linspace(0.1, 0.4, 10)[:, None])
    loud = model.score(np.linspace(0.6, 0.9, 10)[:, None])
    assert loud.mean() > 5 * quiet.mean()
    mu, var = model.predict(np.array([[0.25]]))
    assert abs(mu[0, 0] - np.sin(0.75)) < 0.1 and np.all(var > 0)
    model.save(tmp_path / "h")
    back = HeteroscedasticModel(MODEL, TrainOptions(), seed=1)
    back.load(tmp_path / "h")
    np.testing.assert_allclose(back.score(x[:5, None]), model.score(x[:5, None]), rtol=1e-6)
    model.fit(sine_data(x, noise), 2, warm=True)  # warm start keeps the architecture


def test_gaussian_nll_matches_definition() -> None:
    y = torch.tensor([[1.0, 2.0]])
    out = torch.tensor([[0.5, 2.0, 0.0, np.log(4.0)]])
    expected = 0.5 * np.mean([(0.5**2) / 1.0 + 0.0, 0.0 / 4.0 + np.log(4.0)])
    assert float(gaussian_nll(out, y)) == pytest.approx(expected)


def test_fit_default_loss_is_unchanged() -> None:
    """Backwards compatibility of the ``loss_fn`` option: None == explicit MSE."""
    rng = np.random.default_rng(0)
    X = torch.as_tensor(rng.standard_normal((64, 3)), dtype=torch.float32)
    Y = torch.as_tensor(rng.standard_normal((64, 2)), dtype=torch.float32)
    cfg = FitConfig(max_epochs=5, batch_size=16, device="cpu")
    arch = Arch(d_in=3, d_out=2, width=16, depth=1)
    a, b = FFN(arch), FFN(arch)
    ra = fit(a, (X, Y), (X[:8], Y[:8]), cfg)
    rb = fit(b, (X, Y), (X[:8], Y[:8]), cfg, loss_fn=F.mse_loss)
    assert [h["train_loss"] for h in ra.history] == pytest.approx(
        [h["train_loss"] for h in rb.history], rel=1e-6)
    assert ra.best_val_loss == pytest.approx(rb.best_val_loss, rel=1e-6)


@pytest.mark.parametrize("kind", ["ensemble", "heteroscedastic"])
def test_validation_split_is_fixed_for_the_run(monkeypatch: pytest.MonkeyPatch, kind: str) -> None:
    """Issue 13: as the labelled set grows round by round, no point moves between the training
    and the validation side (before, every round re-split the grown set with a fixed seed, so
    earlier training points became validation points: optimistic model selection)."""
    calls: list[tuple[int, set, set]] = []
    original = Dataset.split

    def spy(self: Dataset, frac: float, seed: int, **kw: object) -> tuple[Dataset, Dataset]:
        tr, va = original(self, frac, seed, **kw)
        calls.append((seed, {tuple(r) for r in tr.X}, {tuple(r) for r in va.X}))
        return tr, va

    monkeypatch.setattr(Dataset, "split", spy)
    x = np.random.default_rng(4).uniform(0, 1, 60)
    opts = TrainOptions(patience=0)
    small = ModelConfig(width=8, depth=1)
    model = (EnsembleModel(2, small, opts, seed=5) if kind == "ensemble"
             else HeteroscedasticModel(small, opts, seed=5))
    for k, n in enumerate((20, 40, 60)):
        model.fit(sine_data(x[:n]), 2, warm=k > 0)
    by_member: dict[int, list[tuple[set, set]]] = {}
    for seed, tr, va in calls:
        by_member.setdefault(seed, []).append((tr, va))
    assert len(by_member) == (2 if kind == "ensemble" else 1)
    for rounds in by_member.values():
        assert len(rounds) == 3 and all(va for _, va in rounds)
        for (tr0, va0), (tr1, va1) in itertools.pairwise(rounds):
            assert tr0 <= tr1 and va0 <= va1  # every point keeps its side
