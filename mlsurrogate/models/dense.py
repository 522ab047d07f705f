"""The dense single-process FFN: the reference every parallel model is tested against."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from mlsurrogate.arch import Arch
from mlsurrogate.models.layers import (
    activation_fn,
    cpu_state,
    load_state_strict,
    master_linear,
    torch_dtype,
)

__all__ = ["FFN"]


class FFN(nn.Module):
    """Dense single-process FFN, the reference model.

    ``y = W_out σ(W_L ... σ(W_1 σ(W_in x + b_in) + b_1) ...) + b_out``; every weight is the
    master weight of :func:`~mlsurrogate.models.layers.master_linear` (so a TP model on any
    number of ranks equals it at initialisation).
    """

    def __init__(self, arch: Arch) -> None:
        super().__init__()
        self.arch = arch
        dt = torch_dtype(arch.dtype)
        n = arch.width
        self.inp = nn.Linear(arch.d_in, n, dtype=dt)
        self.hidden = nn.ModuleList(nn.Linear(n, n, dtype=dt) for _ in range(arch.depth))
        self.out = nn.Linear(n, arch.d_out, dtype=dt)
        with torch.no_grad():
            w, b = master_linear(n, arch.d_in, arch.seed, "input", 0, arch.activation, dt)
            self.inp.weight.copy_(w)
            self.inp.bias.copy_(b)
            for l, lin in enumerate(self.hidden):
                w, b = master_linear(n, n, arch.seed, "hidden", l, arch.activation, dt)
                lin.weight.copy_(w)
                lin.bias.copy_(b)
            w, b = master_linear(arch.d_out, n, arch.seed, "output", 0, "identity", dt)
            self.out.weight.copy_(w)
            self.out.bias.copy_(b)
        self._act = activation_fn(arch.activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self._act(self.inp(x))
        for lin in self.hidden:
            h = self._act(lin(h))
        return self.out(h)

    def export_state(self) -> dict[str, torch.Tensor]:
        """The checkpoint ``state``: this module's state dict on CPU."""
        return cpu_state(self)

    def load_exported(self, state: Mapping[str, torch.Tensor]) -> None:
        """Load a checkpoint ``state`` written by :meth:`export_state` (strict)."""
        load_state_strict(self, state)
