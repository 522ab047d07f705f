"""Building blocks shared by the dense, TP and PP networks: initialisation, activations, dtypes,
strict state loading.

Deterministic parameter initialisation (``parallel/phantom.py``, model assembly):

* Input, dense-hidden and output layers are drawn as one full *master* weight per layer from a
  per-layer seed; a rank keeps its slice. A TP model on any number of ranks therefore starts
  out equal to the single-process dense model.
* Phantom hidden layers are drawn per (layer, rank) from their own seed, so a single-process
  "virtual p-rank" reference reproduces every rank exactly.
* Bounds are Kaiming-style uniform, ``gain·sqrt(3/fan_in)``; ``[A_r | D_r]`` is treated as one
  linear map with fan-in ``m + (p-1)k`` (``m + pk`` with self-ghosts), ``C_r`` as one with
  fan-in ``m`` and the gain of the ghost activation. Biases are ``U(±1/sqrt(fan_in))``.

Values are drawn in float64 and cast, so float32 and float64 models start from the same numbers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from mlsurrogate.errors import CheckpointMismatchError
from mlsurrogate.seeds import derive_seed

__all__ = [
    "activation_fn",
    "cpu_state",
    "gain",
    "kaiming_uniform",
    "layer_seed",
    "load_state_strict",
    "master_linear",
    "torch_dtype",
    "uniform",
]

_TAGS = {"input": 1, "hidden": 2, "output": 3, "phantom": 4}
_GAINS = {
    "identity": 1.0,
    "tanh": 5.0 / 3.0,
    "relu": math.sqrt(2.0),
    "gelu": math.sqrt(2.0),
    "silu": math.sqrt(2.0),
}


def layer_seed(seed: int, tag: str, *index: int) -> int:
    """The seed of one layer (``tag``: input, hidden, output, phantom) and its indices."""
    return derive_seed(seed, _TAGS[tag], *index)


def activation_fn(name: str) -> Any:
    """The elementwise nonlinearity σ by name."""
    return {"tanh": torch.tanh, "relu": F.relu, "gelu": F.gelu, "silu": F.silu}[name]


def torch_dtype(name: str) -> torch.dtype:
    """``"float32"``/``"float64"`` -> the torch dtype."""
    return {"float32": torch.float32, "float64": torch.float64}[name]


def cpu_state(module: nn.Module) -> dict[str, torch.Tensor]:
    """A detached CPU copy of ``module``'s state dict (what a checkpoint stores)."""
    return {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}


def load_state_strict(module: nn.Module, state: Mapping[str, torch.Tensor]) -> None:
    """``module.load_state_dict(state)`` that first lists every missing, unexpected or
    mis-shaped tensor in one :class:`CheckpointMismatchError` (dtype is converted)."""
    own = module.state_dict()
    problems = [f"missing {k}" for k in own if k not in state]
    problems += [f"unexpected {k}" for k in state if k not in own]
    problems += [
        f"{k}: shape {tuple(state[k].shape)} != {tuple(v.shape)}"
        for k, v in own.items()
        if k in state and tuple(state[k].shape) != tuple(v.shape)
    ]
    if problems:
        raise CheckpointMismatchError(
            "checkpoint state does not fit the model: " + "; ".join(problems[:6])
            + (f" (+{len(problems) - 6} more)" if len(problems) > 6 else "")
        )
    module.load_state_dict({k: v.to(own[k].dtype) for k, v in state.items()})


def gain(activation: str) -> float:
    """Kaiming gain of the nonlinearity that follows a layer."""
    return _GAINS[activation]


def uniform(shape: tuple[int, ...], bound: float, gen: torch.Generator, dtype: torch.dtype) -> torch.Tensor:
    """``U(-bound, bound)`` drawn in float64 from ``gen``, cast to ``dtype``."""
    return ((torch.rand(shape, generator=gen, dtype=torch.float64) * 2.0 - 1.0) * bound).to(dtype)


def kaiming_uniform(
    shape: tuple[int, ...], fan_in: int, activation: str, gen: torch.Generator, dtype: torch.dtype
) -> torch.Tensor:
    """Kaiming-style uniform weights, bound ``gain·sqrt(3/fan_in)`` (Kaiming uniform)."""
    return uniform(shape, gain(activation) * math.sqrt(3.0 / max(fan_in, 1)), gen, dtype)


def master_linear(
    out_features: int,
    in_features: int,
    seed: int,
    tag: str,
    layer: int,
    activation: str,
    dtype: torch.dtype,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Full master ``(W (out, in), b (out,))`` of one layer; ranks slice it."""
    gen = torch.Generator().manual_seed(layer_seed(seed, tag, layer))
    w = kaiming_uniform((out_features, in_features), in_features, activation, gen, dtype)
    b = uniform((out_features,), 1.0 / math.sqrt(in_features), gen, dtype)
    return w, b
