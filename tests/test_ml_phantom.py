"""Phantom layer (``phantom.py``) in one process: dense equivalence, gradcheck, init, layout errors."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from ml_helpers import TOL32, max_abs

from mlsurrogate.arch import Arch, validate_layout
from mlsurrogate.errors import ParallelLayoutError
from mlsurrogate.parallel.phantom import (
    PhantomFFN,
    PhantomLayerSpec,
    PhantomLinearFn,
    PhantomRankParams,
    VirtualPhantomFFN,
    VirtualPhantomLinearFn,
    init_phantom_layer,
)

VARIANTS = {
    "plain": {},
    "self_ghost": {"self_ghost": True},
}


def _dense_forward(v: VirtualPhantomFFN, x: torch.Tensor) -> torch.Tensor:
    """The dense FFN whose hidden weights are the block matrices of ``dense_equivalent_weight``."""
    R = v.ranks
    h = torch.tanh(F.linear(x, torch.cat([P.w_in for P in R]), torch.cat([P.b_in for P in R])))
    for l, W in enumerate(v.dense_weights()):
        h = torch.tanh(F.linear(h, W, torch.cat([P.bias[l] for P in R])))
    return F.linear(h, torch.cat([P.w_out for P in R], dim=1), R[0].b_out)


@pytest.mark.parametrize("variant", list(VARIANTS), ids=list(VARIANTS))
def test_phantom_equals_dense_with_low_rank_off_diagonal_blocks(variant: str) -> None:
    """Dense equivalence: forward and every gradient equal the dense block model (fp32, 1e-5)."""
    arch = Arch(d_in=5, d_out=3, width=24, depth=2, mode="phantom", nproc=4, ghosts=2,
                **VARIANTS[variant])
    v = VirtualPhantomFFN(arch)
    x = torch.randn(9, 5, generator=torch.Generator().manual_seed(0))
    y_t = torch.randn(9, 3, generator=torch.Generator().manual_seed(1))

    y_pp = v(x)
    F.mse_loss(y_pp, y_t).backward()
    grads_pp = {n: p.grad.clone() for n, p in v.named_parameters()}
    v.zero_grad()
    y_dense = _dense_forward(v, x)  # autograd through the dense assembly
    F.mse_loss(y_dense, y_t).backward()

    assert max_abs(y_pp, y_dense) < TOL32
    assert len(grads_pp) == sum(1 for _ in v.parameters())
    for name, p in v.named_parameters():
        assert max_abs(grads_pp[name], p.grad) < TOL32, name


def test_off_diagonal_blocks_have_rank_at_most_k() -> None:
    arch = Arch(d_in=2, d_out=1, width=24, depth=1, mode="phantom", nproc=3, ghosts=2,
                dtype="float64")
    W = VirtualPhantomFFN(arch).dense_weights()[0].detach()
    m = 8
    for r in range(3):
        for j in range(3):
            rank = torch.linalg.matrix_rank(W[r * m:(r + 1) * m, j * m:(j + 1) * m])
            assert rank == (m if r == j else 2)


@pytest.mark.parametrize(
    ("self_ghost", "ghost_act"), [(False, "identity"), (True, "tanh"), (False, "relu")],
    ids=["plain", "self_ghost+tanh", "relu"],
)
def test_gradcheck_virtual_ranks_float64(self_ghost: bool, ghost_act: str) -> None:
    """torch.autograd.gradcheck on the hand-written backward of mlsurrogate/parallel/phantom.py (float64)."""
    spec = PhantomLayerSpec(6, 3, 1, self_ghost=self_ghost, ghost_activation=ghost_act)
    gen = torch.Generator().manual_seed(3)
    hs = [torch.randn(4, 2, dtype=torch.float64, generator=gen).requires_grad_() for _ in range(3)]
    ps = [init_phantom_layer(spec, 0, r, 7, "tanh", torch.float64) for r in range(3)]
    if ghost_act == "relu":  # keep u = h C^T away from the kink at 0
        for p in ps:
            p["C"] *= 3.0
    tensors = [*hs] + [p[name].requires_grad_() for name in ("A", "C", "D", "bias") for p in ps]
    assert torch.autograd.gradcheck(lambda *t: VirtualPhantomLinearFn.apply(spec, *t),
                                    tensors, eps=1e-6, atol=1e-7)


def test_single_rank_function_gradcheck_float64() -> None:
    """The distributed Function itself at world size 1 (collectives are identities)."""
    spec = PhantomLayerSpec(5, 1, 2, self_ghost=True, ghost_activation="tanh")
    p = init_phantom_layer(spec, 0, 0, 1, "tanh", torch.float64)
    h = torch.randn(3, 5, dtype=torch.float64).requires_grad_()
    args = (h, *(p[k].requires_grad_() for k in ("A", "C", "D", "bias")))
    for overlap in (True, False):
        assert torch.autograd.gradcheck(
            lambda *t, o=overlap: PhantomLinearFn.apply(*t, spec, None, o), args)


def test_virtual_reference_reproduces_every_rank_initialisation() -> None:
    """Model assembly: per-(layer, rank) seeds; rank r of the virtual model == rank r built alone."""
    arch = Arch(d_in=3, d_out=2, width=16, depth=3, mode="phantom", nproc=4, ghosts=3)
    v = VirtualPhantomFFN(arch)
    for r in (0, 3):
        alone = PhantomRankParams(arch, r).state_dict()
        mine = v.ranks[r].state_dict()
        assert alone.keys() == mine.keys()
        assert all(torch.equal(alone[k], mine[k]) for k in alone)
    # different seeds give different parameters
    other = VirtualPhantomFFN(Arch(**{**arch.to_dict(), "seed": 1}))
    assert not torch.equal(other.ranks[0].A[0], v.ranks[0].A[0])


def test_world_size_one_phantom_ffn_equals_virtual() -> None:
    arch = Arch(d_in=4, d_out=2, width=16, depth=2, mode="phantom", nproc=1, ghosts=3)
    x = torch.randn(5, 4)
    net, ref = PhantomFFN(arch), VirtualPhantomFFN(arch)
    assert max_abs(net(x), ref(x)) == 0.0


@pytest.mark.parametrize(
    ("n", "p", "k", "match"),
    [(10, 3, 1, "do not divide"), (16, 2, 8, "must be < n/p"), (16, 2, 9, "must be < n/p"),
     (16, 2, 0, "must be >= 1"), (16, 4, -1, "must be >= 1")],
)
def test_bad_layouts_are_rejected(n: int, p: int, k: int, match: str) -> None:
    with pytest.raises(ParallelLayoutError, match=match):
        validate_layout(n, p, k)
    with pytest.raises(ParallelLayoutError, match=match):
        Arch(d_in=1, d_out=1, width=n, nproc=p, mode="phantom", ghosts=k)
    with pytest.raises(ParallelLayoutError, match=match):
        PhantomLayerSpec(n, p, k)
