"""Deterministic parameter initialisation shared by the dense, TP and PP networks.

phantom.md 1.6 (model assembly) and style.md item 8:

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

import numpy as np
import torch

__all__ = ["derive_seed", "gain", "kaiming_uniform", "master_linear", "uniform"]

_TAGS = {"input": 1, "hidden": 2, "output": 3, "phantom": 4}
_GAINS = {
    "identity": 1.0,
    "tanh": 5.0 / 3.0,
    "relu": math.sqrt(2.0),
    "gelu": math.sqrt(2.0),
    "silu": math.sqrt(2.0),
}


def derive_seed(seed: int, tag: str, *index: int) -> int:
    """A 63-bit seed for ``(seed, tag, *index)``, independent of Python's hash randomisation."""
    state = np.random.SeedSequence([int(seed), _TAGS[tag], *map(int, index)]).generate_state(2)
    return int((int(state[0]) << 31) ^ int(state[1])) & ((1 << 63) - 1)


def gain(activation: str) -> float:
    """Kaiming gain of the nonlinearity that follows a layer."""
    return _GAINS[activation]


def uniform(shape: tuple[int, ...], bound: float, gen: torch.Generator, dtype: torch.dtype) -> torch.Tensor:
    """``U(-bound, bound)`` drawn in float64 from ``gen``, cast to ``dtype``."""
    return ((torch.rand(shape, generator=gen, dtype=torch.float64) * 2.0 - 1.0) * bound).to(dtype)


def kaiming_uniform(
    shape: tuple[int, ...], fan_in: int, activation: str, gen: torch.Generator, dtype: torch.dtype
) -> torch.Tensor:
    """Kaiming-style uniform weights, bound ``gain·sqrt(3/fan_in)`` (phantom.md 1.6)."""
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
    """Full master ``(W (out, in), b (out,))`` of one layer; ranks slice it (style.md item 8)."""
    gen = torch.Generator().manual_seed(derive_seed(seed, tag, layer))
    w = kaiming_uniform((out_features, in_features), in_features, activation, gen, dtype)
    b = uniform((out_features,), 1.0 / math.sqrt(in_features), gen, dtype)
    return w, b
