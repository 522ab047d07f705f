"""Phantom-parallel (PP) FFN: the layer (per-layer ghost all-gather) and its single-process references.

Implementation notes
--------------------
Rank ``r`` of ``p`` owns ``m = n/p`` neurons of every hidden layer and, per layer, the
parameters

    A_r (m, m)   local block           C_r (k, m)   compressor -> k ghost neurons
    D_r (m, (p-1)k) decompressor       β_r (m,)     bias

(``D_r`` is ``(m, pk)`` with ``self_ghost=True``). Forward::

    u_r = h_r C_rᵀ ; g_r = φ(u_r)                   φ = ghost activation, identity by default
    G   = all-gather(g_r)         (b, pk)           overlapped with h_r A_rᵀ when overlap=True
    z_r = h_r A_rᵀ + G_{¬r} D_rᵀ + β_r

Backward (steps 1-5 below)::

    P_r  = δ_r D_r ; insert a zero block at slot r (self_ghost: keep it)
    ∂ℓ/∂g_r = reduce-scatter-sum(P)                overlapped with ∇A, ∇D, ∇β, δ_r A_r
    ∇A_r = δ_rᵀ h_r ; ∇D_r = δ_rᵀ G_{¬r} ; ∇β_r = Σ_rows δ_r
    ∂ℓ/∂u_r = ∂ℓ/∂g_r ⊙ φ'(u_r) ; ∇C_r = (∂ℓ/∂u_r)ᵀ h_r
    ∂ℓ/∂h_r = δ_r A_r + (∂ℓ/∂u_r) C_r

The per-rank algebra lives in ``_compress``/``_decompress``/``_local_grads`` and is shared by
:class:`PhantomLinearFn` (one rank, real collectives) and :class:`VirtualPhantomLinearFn` (all
``p`` ranks in one process, the reduce-scatter being a local sum). The virtual version is what
``gradcheck`` verifies in float64; the distributed version is tested against it; and both equal
the dense layer with low-rank off-diagonal blocks
(:func:`dense_equivalent_weight`).

Model assembly (identical to the TP model): the input layer is column-parallel
(rank r keeps rows r·m..(r+1)·m of the master ``W_in``; no communication), the output layer is
row-parallel (columns of the master ``W_out``) followed by one all-reduce (identity backward);
the output bias is owned by rank 0 so that replicated copies cannot drift.
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
    kaiming_uniform,
    layer_seed,
    load_state_strict,
    master_linear,
    torch_dtype,
    uniform,
)
from mlsurrogate.parallel.collectives import (
    all_reduce_sum,
    backend_support,
    gather_objects,
    get_rank,
    rank_in_layout,
    raw_all_gather_last_dim,
    raw_reduce_scatter_last_dim,
)

__all__ = [
    "PhantomFFN",
    "PhantomLayerSpec",
    "PhantomLinearFn",
    "PhantomRankParams",
    "VirtualPhantomFFN",
    "VirtualPhantomLinearFn",
    "dense_equivalent_weight",
    "init_phantom_layer",
]


class PhantomLayerSpec:
    """Static description of one phantom layer: ``n, p, k``, self-ghost and ghost activation."""

    def __init__(
        self, n: int, p: int, k: int, self_ghost: bool = False, ghost_activation: str = "identity"
    ) -> None:
        self.m = validate_layout(n, p, k)
        self.n, self.p, self.k = n, p, k
        self.self_ghost = bool(self_ghost)
        if ghost_activation not in ("identity", "tanh", "relu"):
            raise ValueError(f"unknown ghost activation {ghost_activation!r}")
        self.ghost_activation = ghost_activation

    @property
    def n_ghost_in(self) -> int:
        """Ghost columns each rank decompresses: ``(p-1)k``, or ``pk`` with self-ghosts."""
        return (self.p if self.self_ghost else self.p - 1) * self.k

    def __repr__(self) -> str:
        return (f"PhantomLayerSpec(n={self.n}, p={self.p}, k={self.k}, "
                f"self_ghost={self.self_ghost}, ghost_activation={self.ghost_activation!r})")


def init_phantom_layer(
    spec: PhantomLayerSpec, layer: int, rank: int, seed: int, activation: str, dtype: torch.dtype
) -> dict[str, torch.Tensor]:
    """Parameters ``A, C, D, bias`` of ``rank`` in hidden ``layer`` from their own seed.

    Model assembly: ``[A | D]`` is one linear map of fan-in ``m + n_ghost_in``; ``C`` one of
    fan-in ``m`` with the ghost activation's gain. Draw order A, C, D, bias is fixed.
    """
    gen = torch.Generator().manual_seed(layer_seed(seed, "phantom", layer, rank))
    m, k, fan = spec.m, spec.k, spec.m + spec.n_ghost_in
    A = kaiming_uniform((m, m), fan, activation, gen, dtype)
    C = kaiming_uniform((k, m), m, spec.ghost_activation, gen, dtype)
    D = kaiming_uniform((m, spec.n_ghost_in), fan, activation, gen, dtype)
    bias = uniform((m,), fan ** -0.5, gen, dtype)
    return {"A": A, "C": C, "D": D, "bias": bias}


# --------------------------------------------------------------------------------------------
# per-rank algebra shared by the distributed and the virtual Function
# --------------------------------------------------------------------------------------------
def _phi(u: torch.Tensor, name: str) -> torch.Tensor:
    if name == "tanh":
        return torch.tanh(u)
    if name == "relu":
        return torch.relu(u)
    return u


def _dphi(du: torch.Tensor, u: torch.Tensor, g: torch.Tensor, name: str) -> torch.Tensor:
    """Chain rule through the ghost activation: ``du = dg ⊙ φ'(u)``."""
    if name == "tanh":
        return du * (1.0 - g * g)
    if name == "relu":
        return du * (u > 0).to(du.dtype)
    return du


def _compress(h: torch.Tensor, C: torch.Tensor, spec: PhantomLayerSpec) -> tuple[torch.Tensor, torch.Tensor]:
    u = h @ C.t()  # forward step 1: 2bmk FLOPs
    return u, _phi(u, spec.ghost_activation)


def _others(G: torch.Tensor, r: int, spec: PhantomLayerSpec) -> torch.Tensor:
    """``G_{¬r}``: drop rank r's own k columns unless self-ghosts are used (forward)."""
    if spec.self_ghost:
        return G
    k = spec.k
    return torch.cat([G[:, : r * k], G[:, (r + 1) * k :]], dim=1)


def _slot_buffer(P: torch.Tensor, r: int, spec: PhantomLayerSpec) -> torch.Tensor:
    """Re-insert a zero (b,k) block at slot r so the buffer is (b, pk) (backward reduce-scatter)."""
    if spec.self_ghost:
        return P
    k = spec.k
    zero = P.new_zeros(P.shape[0], k)
    return torch.cat([P[:, : r * k], zero, P[:, r * k :]], dim=1)


def _local_grads(
    dz: torch.Tensor, h: torch.Tensor, A: torch.Tensor, G_use: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Communication-free part of backward steps 1 and 5: ∇A, ∇D, ∇β and δ A."""
    dA = dz.t() @ h  # 2bm^2
    dD = dz.t() @ G_use  # 2bm(p-1)k
    db = dz.sum(0)
    dh = dz @ A  # 2bm^2
    return dA, dD, db, dh


def _ghost_grads(
    dg: torch.Tensor, u: torch.Tensor, g: torch.Tensor, h: torch.Tensor, C: torch.Tensor,
    dh: torch.Tensor, spec: PhantomLayerSpec,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Backward steps 4-5: ∇C and the ghost contribution to ∂ℓ/∂h."""
    du = _dphi(dg, u, g, spec.ghost_activation)
    dC = du.t() @ h  # 2bkm
    return dC, torch.addmm(dh, du, C)  # + 2bkm


# --------------------------------------------------------------------------------------------
# the distributed operator (one rank)
# --------------------------------------------------------------------------------------------
class PhantomLinearFn(torch.autograd.Function):
    """Rank-local phantom layer ``z_r = h_r A_rᵀ + G_{¬r} D_rᵀ + β_r`` (forward and backward above).

    Collectives: forward all-gather of the ``(b, k)`` ghosts, backward reduce-scatter (sum) of
    the ``(b, pk)`` partial ghost gradients - the adjoint pair. Both are overlapped with the
    local GEMMs when ``overlap`` is set. Call as
    ``PhantomLinearFn.apply(h, A, C, D, bias, spec, group, overlap)``.
    """

    @staticmethod
    def forward(
        ctx: Any, h: torch.Tensor, A: torch.Tensor, C: torch.Tensor, D: torch.Tensor,
        bias: torch.Tensor, spec: PhantomLayerSpec, group: Any, overlap: bool,
    ) -> torch.Tensor:
        r = get_rank(group)
        u, g = _compress(h, C, spec)
        pending = raw_all_gather_last_dim(g, group, async_op=True)  # (b, pk) in flight
        if not overlap:
            G = pending.wait()
        z = torch.addmm(bias, h, A.t())  # 2bm^2, overlaps the all-gather
        if overlap:
            G = pending.wait()
        G_use = _others(G, r, spec)
        z = torch.addmm(z, G_use, D.t())  # 2bm(p-1)k
        ctx.save_for_backward(h, A, C, D, G_use, u, g)
        ctx.spec, ctx.group, ctx.r, ctx.overlap = spec, group, r, overlap
        return z

    @staticmethod
    def backward(ctx: Any, dz: torch.Tensor) -> tuple[Any, ...]:
        h, A, C, D, G_use, u, g = ctx.saved_tensors
        spec = ctx.spec
        P = dz @ D  # backward step 2: 2bm(p-1)k
        pending = raw_reduce_scatter_last_dim(_slot_buffer(P, ctx.r, spec), ctx.group,
                                              async_op=True)
        if not ctx.overlap:
            dg = pending.wait()
        dA, dD, db, dh = _local_grads(dz, h, A, G_use)  # overlaps the reduce-scatter
        if ctx.overlap:
            dg = pending.wait()
        dC, dh = _ghost_grads(dg, u, g, h, C, dh, spec)
        return dh, dA, dC, dD, db, None, None, None


# --------------------------------------------------------------------------------------------
# the virtual-rank operator (all ranks in one process)
# --------------------------------------------------------------------------------------------
class VirtualPhantomLinearFn(torch.autograd.Function):
    """All ``p`` ranks of one phantom layer in one process; the collectives are local.

    ``apply(spec, *hs, *As, *Cs, *Ds, *biases)`` returns the tuple ``(z_0, ..., z_{p-1})``.
    The all-gather becomes a concatenation, its adjoint reduce-scatter a sum over ranks.
    """

    @staticmethod
    def forward(ctx: Any, spec: PhantomLayerSpec, *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
        p = spec.p
        hs, As, Cs, Ds, bs = (tensors[i * p : (i + 1) * p] for i in range(5))
        us, gs = zip(*(_compress(h, C, spec) for h, C in zip(hs, Cs, strict=True)), strict=True)
        G = torch.cat(gs, dim=1)  # the all-gather
        G_uses = [_others(G, r, spec) for r in range(p)]
        zs = tuple(
            torch.addmm(torch.addmm(bs[r], hs[r], As[r].t()), G_uses[r], Ds[r].t()) for r in range(p)
        )
        ctx.save_for_backward(*hs, *As, *Cs, *Ds, *G_uses, *us, *gs)
        ctx.spec = spec
        return zs

    @staticmethod
    def backward(ctx: Any, *dzs: torch.Tensor) -> tuple[Any, ...]:
        spec, p, k = ctx.spec, ctx.spec.p, ctx.spec.k
        saved = ctx.saved_tensors
        hs, As, Cs, Ds, G_uses, us, gs = (saved[i * p : (i + 1) * p] for i in range(7))
        total = sum(_slot_buffer(dzs[r] @ Ds[r], r, spec) for r in range(p))  # reduce ...
        dgs = [total[:, j * k : (j + 1) * k] for j in range(p)]  # ... -scatter
        dh_l, dA_l, dC_l, dD_l, db_l = [], [], [], [], []
        for r in range(p):
            dA, dD, db, dh = _local_grads(dzs[r], hs[r], As[r], G_uses[r])
            dC, dh = _ghost_grads(dgs[r], us[r], gs[r], hs[r], Cs[r], dh, spec)
            dh_l.append(dh)
            dA_l.append(dA)
            dC_l.append(dC)
            dD_l.append(dD)
            db_l.append(db)
        return (None, *dh_l, *dA_l, *dC_l, *dD_l, *db_l)


def dense_equivalent_weight(
    As: list[torch.Tensor], Cs: list[torch.Tensor], Ds: list[torch.Tensor], spec: PhantomLayerSpec
) -> torch.Tensor:
    """The ``n x n`` dense-equivalent weight: ``W[r,r] = A_r (+ D_{r<-r} C_r)``,
    ``W[r,j] = D_{r<-j} C_j`` (rank <= k). Differentiable; only for the identity ghost activation.
    """
    if spec.ghost_activation != "identity":
        raise ValueError("a phantom layer with a ghost nonlinearity has no dense equivalent")
    p, k = spec.p, spec.k
    rows = []
    for r in range(p):
        blocks = []
        for j in range(p):
            if spec.self_ghost:
                slot = j
            elif j == r:
                blocks.append(As[r])
                continue
            else:
                slot = j if j < r else j - 1
            blk = Ds[r][:, slot * k : (slot + 1) * k] @ Cs[j]
            blocks.append(As[r] + blk if j == r else blk)
        rows.append(torch.cat(blocks, dim=1))
    return torch.cat(rows, dim=0)


# --------------------------------------------------------------------------------------------
# models
# --------------------------------------------------------------------------------------------
class PhantomRankParams(nn.Module):
    """Every parameter rank ``rank`` holds (parameters and model assembly above).

    ``w_in (m, d_in), b_in (m,)``: rows of the master input layer; per hidden layer ``l``:
    ``A.l, C.l, D.l, bias.l``; ``w_out (d_out, m)``: columns of the master output weight;
    ``b_out (d_out,)`` on rank 0 only.
    """

    def __init__(self, arch: Arch, rank: int) -> None:
        super().__init__()
        dt = torch_dtype(arch.dtype)
        spec = phantom_spec(arch)
        m, sl = spec.m, slice(rank * spec.m, (rank + 1) * spec.m)
        w, b = master_linear(arch.width, arch.d_in, arch.seed, "input", 0, arch.activation, dt)
        self.w_in, self.b_in = nn.Parameter(w[sl].clone()), nn.Parameter(b[sl].clone())
        layers = [init_phantom_layer(spec, l, rank, arch.seed, arch.activation, dt)
                  for l in range(arch.depth)]
        self.A = nn.ParameterList(nn.Parameter(t["A"]) for t in layers)
        self.C = nn.ParameterList(nn.Parameter(t["C"]) for t in layers)
        self.D = nn.ParameterList(nn.Parameter(t["D"]) for t in layers)
        self.bias = nn.ParameterList(nn.Parameter(t["bias"]) for t in layers)
        w, b = master_linear(arch.d_out, arch.width, arch.seed, "output", 0, "identity", dt)
        self.w_out = nn.Parameter(w[:, sl].clone())
        self.b_out = nn.Parameter(b.clone()) if rank == 0 else None
        self.m = m


def phantom_spec(arch: Arch) -> PhantomLayerSpec:
    return PhantomLayerSpec(arch.width, arch.nproc, arch.ghosts, arch.self_ghost,
                            arch.ghost_activation)


class PhantomFFN(nn.Module):
    """This rank's share of a phantom-parallel FFN; ``forward(x)`` returns the full output.

    ``x (b, d_in)`` is replicated on every rank; the result ``(b, d_out)`` is identical on every
    rank (one all-reduce). The world size of ``group`` must equal ``arch.nproc``.
    """

    def __init__(self, arch: Arch, group: Any = None) -> None:
        super().__init__()
        p, r = rank_in_layout(arch.mode, arch.nproc, "phantom", "PhantomFFN", group)
        self.arch, self.spec, self.group, self.rank = arch, phantom_spec(arch), group, r
        self.params = PhantomRankParams(arch, r)
        self._act = activation_fn(arch.activation)
        backend_support(group)  # collective probe, issued by every rank at construction

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        P = self.params
        h = self._act(F.linear(x, P.w_in, P.b_in))  # replicated x: no communication
        for l in range(self.arch.depth):
            z = PhantomLinearFn.apply(h, P.A[l], P.C[l], P.D[l], P.bias[l], self.spec,
                                      self.group, self.arch.overlap)
            h = self._act(z)
        y = F.linear(h, P.w_out, P.b_out)  # bias on rank 0 only
        return all_reduce_sum(y, self.group)  # forward all-reduce, backward identity

    def export_state(self) -> list[dict[str, torch.Tensor]]:
        """Collective: every rank's parameters, as a list indexed by rank (on every rank)."""
        return gather_objects(cpu_state(self.params), self.group)

    def load_exported(self, states: list[dict[str, torch.Tensor]]) -> None:
        if len(states) != self.arch.nproc:
            raise CheckpointMismatchError(
                f"checkpoint holds {len(states)} phantom rank(s), this model has {self.arch.nproc}"
            )
        load_state_strict(self.params, states[self.rank])


class VirtualPhantomFFN(nn.Module):
    """All ``p`` ranks of a phantom-parallel FFN in one process (the reference).

    Holds exactly the parameters of every rank (``ranks.<r>.<name>``) and computes the same
    function as :class:`PhantomFFN` on ``p`` processes, with :class:`VirtualPhantomLinearFn`.
    """

    def __init__(self, arch: Arch) -> None:
        super().__init__()
        if arch.mode != "phantom":
            raise ValueError(f"VirtualPhantomFFN needs mode 'phantom', got {arch.mode!r}")
        self.arch, self.spec = arch, phantom_spec(arch)
        self.ranks = nn.ModuleList(PhantomRankParams(arch, r) for r in range(arch.nproc))
        self._act = activation_fn(arch.activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        R = self.ranks
        hs = [self._act(F.linear(x, P.w_in, P.b_in)) for P in R]
        for l in range(self.arch.depth):
            zs = VirtualPhantomLinearFn.apply(
                self.spec, *hs, *(P.A[l] for P in R), *(P.C[l] for P in R),
                *(P.D[l] for P in R), *(P.bias[l] for P in R),
            )
            hs = [self._act(z) for z in zs]
        y = F.linear(hs[0], R[0].w_out, R[0].b_out)
        for P, h in zip(R[1:], hs[1:], strict=True):
            y = y + F.linear(h, P.w_out)
        return y

    def dense_weights(self) -> list[torch.Tensor]:
        """Per hidden layer, the dense-equivalent ``n x n`` weight (differentiable)."""
        R = self.ranks
        return [
            dense_equivalent_weight([P.A[l] for P in R], [P.C[l] for P in R],
                                    [P.D[l] for P in R], self.spec)
            for l in range(self.arch.depth)
        ]

    def export_state(self) -> list[dict[str, torch.Tensor]]:
        return [cpu_state(P) for P in self.ranks]

    def load_exported(self, states: list[dict[str, torch.Tensor]]) -> None:
        if len(states) != self.arch.nproc:
            raise CheckpointMismatchError(
                f"checkpoint holds {len(states)} phantom rank(s), this model has {self.arch.nproc}"
            )
        for P, st in zip(self.ranks, states, strict=True):
            load_state_strict(P, st)
