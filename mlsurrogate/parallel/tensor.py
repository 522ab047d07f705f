"""Tensor-parallel (TP) FFN: scheme TP-A (1-D, every hidden layer column-parallel).

Implementation notes
--------------------
Partition (ranks slice one master weight). For a hidden layer ``z = H Wᵀ + β`` with ``W (n, n)``, rank ``r``
owns the output rows ``W_r = W[r·m:(r+1)·m, :]`` (``m = n/p``) and ``β_r``; the activations
``h_r (b, m)`` stay sharded by neuron between layers, exactly like the phantom model, so both
models share the same input and output layers (``phantom.py``, model assembly) and differ only in the hidden
layer. Per hidden layer and rank:

* forward: all-gather ``h_r`` -> ``H (b, n)``; ``z_r = H W_rᵀ + β_r``            (2bnm FLOPs)
* backward: ``∇W_r = δ_rᵀ H``, ``∂ℓ/∂H = δ_r W_r`` (partial), reduce-scatter (sum) -> ``(b, m)``
  slices; with ``overlap`` the reduce-scatter is in flight while ``∇W_r`` is computed
  (Megatron's async grad-input communication).                                   (4bnm FLOPs)
* bytes sent: ``2·(p-1)/p · b·n·s`` (ring all-gather + ring reduce-scatter).

Why TP-A rather than TP-B (column/row pairs): its activation layout matches the phantom model
(sharded between layers), so the comparison isolates the hidden-layer operator; both move the
same bytes per layer (ring all-reduce = reduce-scatter + all-gather). Weights are slices of one
master weight per layer, so a TP model on any number of ranks equals the single-process
:class:`~mlsurrogate.models.dense.FFN`.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from mlsurrogate.arch import Arch, validate_layout
from mlsurrogate.errors import CheckpointMismatchError
from mlsurrogate.models.layers import (
    activation_fn,
    cpu_state,
    load_state_strict,
    master_linear,
    torch_dtype,
)
from mlsurrogate.parallel.collectives import (
    all_gather_last_dim,
    all_reduce_sum,
    backend_support,
    gather_objects,
    rank_in_layout,
    raw_all_gather_last_dim,
    raw_reduce_scatter_last_dim,
)

__all__ = ["GatheredColumnLinearFn", "TensorParallelFFN"]


class GatheredColumnLinearFn(torch.autograd.Function):
    """``z_r = all-gather(h)ᵀ W_rᵀ + β_r`` fused, with the backward reduce-scatter overlapped.

    Collectives: forward all-gather of ``h_r`` along the last dim, backward reduce-scatter (sum)
    of ``∂ℓ/∂H`` - the adjoint pair. ``apply(h_r, W_r, β_r, group)``.
    """

    @staticmethod
    def forward(ctx: Any, h: torch.Tensor, W: torch.Tensor, b: torch.Tensor, group: Any) -> torch.Tensor:
        H = raw_all_gather_last_dim(h, group)
        ctx.save_for_backward(H, W)
        ctx.group = group
        return torch.addmm(b, H, W.t())

    @staticmethod
    def backward(ctx: Any, dz: torch.Tensor) -> tuple[Any, ...]:
        H, W = ctx.saved_tensors
        pending = raw_reduce_scatter_last_dim(dz @ W, ctx.group, async_op=True)
        dW = dz.t() @ H  # overlaps the reduce-scatter
        db = dz.sum(0)
        return pending.wait(), dW, db, None


class TensorParallelFFN(nn.Module):
    """This rank's share of a TP-A FFN; ``forward(x)`` returns the full output on every rank.

    Parameters: ``w_in (m, d_in), b_in (m,)`` (rows of the master input layer),
    ``w.l (m, n), b.l (m,)`` per hidden layer (rows of the master weight), ``w_out (d_out, m)``
    (columns of the master output weight) and ``b_out`` on rank 0 only.
    """

    def __init__(self, arch: Arch, group: Any = None) -> None:
        super().__init__()
        p, r = rank_in_layout(arch.mode, arch.nproc, "tensor", "TensorParallelFFN", group)
        m = validate_layout(arch.width, p)
        self.arch, self.group, self.rank, self.m = arch, group, r, m
        dt = torch_dtype(arch.dtype)
        sl = slice(r * m, (r + 1) * m)
        n = arch.width
        w, b = master_linear(n, arch.d_in, arch.seed, "input", 0, arch.activation, dt)
        self.w_in, self.b_in = nn.Parameter(w[sl].clone()), nn.Parameter(b[sl].clone())
        ws, bs = [], []
        for l in range(arch.depth):
            w, b = master_linear(n, n, arch.seed, "hidden", l, arch.activation, dt)
            ws.append(nn.Parameter(w[sl].clone()))
            bs.append(nn.Parameter(b[sl].clone()))
        self.w, self.b = nn.ParameterList(ws), nn.ParameterList(bs)
        w, b = master_linear(arch.d_out, n, arch.seed, "output", 0, "identity", dt)
        self.w_out = nn.Parameter(w[:, sl].clone())
        self.b_out = nn.Parameter(b.clone()) if r == 0 else None
        self._act = activation_fn(arch.activation)
        backend_support(group)  # collective probe, issued by every rank at construction

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self._act(F.linear(x, self.w_in, self.b_in))  # replicated x: no communication
        for W, b in zip(self.w, self.b, strict=True):
            if self.arch.overlap:
                z = GatheredColumnLinearFn.apply(h, W, b, self.group)
            else:
                z = F.linear(all_gather_last_dim(h, self.group), W, b)
            h = self._act(z)
        y = F.linear(h, self.w_out, self.b_out)
        return all_reduce_sum(y, self.group)

    # -- checkpoints: the dense master weights ---------------------------------------------
    def export_state(self) -> dict[str, torch.Tensor]:
        """Collective: the dense :class:`~mlsurrogate.models.dense.FFN` state dict (master weights)."""
        shards = gather_objects(cpu_state(self), self.group)
        cat0 = lambda key: torch.cat([s[key] for s in shards], dim=0)  # noqa: E731
        full = {"inp.weight": cat0("w_in"), "inp.bias": cat0("b_in")}
        for l in range(self.arch.depth):
            full[f"hidden.{l}.weight"] = cat0(f"w.{l}")
            full[f"hidden.{l}.bias"] = cat0(f"b.{l}")
        full["out.weight"] = torch.cat([s["w_out"] for s in shards], dim=1)
        full["out.bias"] = shards[0]["b_out"]
        return full

    def load_exported(self, full: dict[str, torch.Tensor]) -> None:
        """Load a dense FFN state dict (the checkpoint ``state``) and keep this rank's slices."""
        sl = slice(self.rank * self.m, (self.rank + 1) * self.m)
        try:
            own = {"w_in": full["inp.weight"][sl], "b_in": full["inp.bias"][sl],
                   "w_out": full["out.weight"][:, sl]}
            for l in range(self.arch.depth):
                own[f"w.{l}"] = full[f"hidden.{l}.weight"][sl]
                own[f"b.{l}"] = full[f"hidden.{l}.bias"][sl]
            if self.rank == 0:
                own["b_out"] = full["out.bias"]
        except (KeyError, TypeError, IndexError) as exc:
            raise CheckpointMismatchError(f"checkpoint state is not a dense FFN state ({exc})") from exc
        load_state_strict(self, own)
