"""The public single-process training API: a data set in, a
:class:`~mlsurrogate.surrogate.Surrogate` out (optionally warm-started from an existing one)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict

import torch

from mlsurrogate.arch import Arch
from mlsurrogate.config import DataConfig, FitConfig, ModelConfig
from mlsurrogate.data import Dataset, Standardizer, read_scan_store, teacher_student
from mlsurrogate.errors import CheckpointMismatchError
from mlsurrogate.models.layers import torch_dtype
from mlsurrogate.surrogate import Surrogate, build_network
from mlsurrogate.train.loop import FitResult, fit

__all__ = ["device_of", "load_dataset", "tensors_of", "train_surrogate"]


def device_of(name: str) -> torch.device:
    """``auto`` (CUDA when visible), ``cpu`` or ``cuda`` (refused without a device)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        from lfqcd.errors import BackendUnavailableError

        raise BackendUnavailableError("train.device = 'cuda' but no CUDA device is visible")
    return torch.device(name)


def tensors_of(
    ds: Dataset, std: Standardizer, dtype: torch.dtype, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """Standardised ``(X, Y)`` of ``ds`` as tensors of ``dtype`` on ``device``."""
    return (torch.as_tensor(std.transform_x(ds.X), dtype=dtype, device=device),
            torch.as_tensor(std.transform_y(ds.Y), dtype=dtype, device=device))


def train_surrogate(
    dataset: Dataset,
    model: ModelConfig | None = None,
    fit_cfg: FitConfig | None = None,
    val_fraction: float = 0.2,
    split_seed: int = 1,
    init: Surrogate | None = None,
    progress: Callable[[dict[str, float]], None] | None = None,
    fixed_split: bool = False,
) -> tuple[Surrogate, FitResult]:
    """Train a dense single-process surrogate on ``dataset`` (split into train/validation).

    With ``init`` the network, architecture and standardisation of that surrogate are reused
    and training continues from its weights (warm start; it must have the dataset's columns).
    ``fixed_split``: each row's train/validation side is fixed by its inputs (see
    :meth:`~mlsurrogate.data.Dataset.split`), for data sets that grow between calls.
    """
    model = model or ModelConfig()
    fit_cfg = fit_cfg or FitConfig()
    train_ds, val_ds = dataset.split(val_fraction, split_seed, by_content=fixed_split)
    device = device_of(fit_cfg.device)
    if init is not None:
        if init.input_names != dataset.input_names or init.output_names != dataset.output_names:
            raise CheckpointMismatchError(
                "warm-start surrogate has columns "
                f"{init.input_names} -> {init.output_names}, the data set "
                f"{dataset.input_names} -> {dataset.output_names}"
            )
        arch, std, net = init.arch, init.standardizer, init.net.to(device)
    else:
        arch = Arch(d_in=len(dataset.input_names), d_out=len(dataset.output_names),
                    width=model.width, depth=model.depth, activation=model.activation,
                    seed=model.seed, dtype=model.dtype)
        std = Standardizer.fit(train_ds.X, train_ds.Y)
        net = build_network(arch).to(device)
    dt = torch_dtype(arch.dtype)
    result = fit(net, tensors_of(train_ds, std, dt, device), tensors_of(val_ds, std, dt, device),
                 fit_cfg, None, progress)
    meta = {"best_val_loss": result.best_val_loss, "n_train": len(train_ds), "n_val": len(val_ds),
            "data_source": dataset.source}
    return Surrogate(net, arch, std, dataset.input_names, dataset.output_names, meta), result


def load_dataset(cfg: DataConfig) -> Dataset:
    """The data set a :class:`~mlsurrogate.config.DataConfig` names."""
    if cfg.source == "scan":
        return read_scan_store(cfg.path, missing=cfg.missing)
    return teacher_student(**asdict(cfg.synthetic))


