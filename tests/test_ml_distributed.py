"""Multi-process gloo runs (2 ranks, fork-started, file:// rendezvous) against the references.

Kept few on purpose: each test starts its ranks once and checks several things in them.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from ml_helpers import TOL32, max_abs
from torch.utils.flop_counter import FlopCounterMode

from mlsurrogate.arch import Arch
from mlsurrogate.costmodel import iteration_cost
from mlsurrogate.errors import RankFailureError
from mlsurrogate.models.dense import FFN
from mlsurrogate.parallel.collectives import COUNTER, override_backend_support
from mlsurrogate.parallel.phantom import VirtualPhantomFFN
from mlsurrogate.parallel.runtime import launch_local
from mlsurrogate.surrogate import build_network

pytestmark = [pytest.mark.distributed, pytest.mark.timeout(120)]

B, STEPS = 8, 4


def _data(arch: Arch) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(11)
    return torch.randn(B, arch.d_in, generator=gen), torch.randn(B, arch.d_out, generator=gen)


def _run(net: torch.nn.Module, arch: Arch) -> dict[str, Any]:
    """Output, gradients, FLOPs and bytes of one step, then parameters after STEPS Adam steps."""
    x, y = _data(arch)
    before = COUNTER.snapshot()
    with FlopCounterMode(display=False) as fc:
        out = net(x)
        F.mse_loss(out, y).backward()
    res = {"out": out.detach().clone(), "flops": fc.get_total_flops(),
           "bytes": COUNTER.since(before),
           "grads": {n: p.grad.clone() for n, p in net.named_parameters()}}
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    opt.step()
    for _ in range(STEPS - 1):
        opt.zero_grad()
        F.mse_loss(net(x), y).backward()
        opt.step()
    res["params"] = {n: p.detach().clone() for n, p in net.named_parameters()}
    res["out_after"] = net(x).detach().clone()
    res["exported"] = net.export_state()  # collective for TP/PP: the checkpoint "state"
    return res


def _worker(ctx: Any, cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    results = []
    for case in cases:
        if case.get("fallback"):
            override_backend_support(all_gather_single=False, reduce_scatter_single=False)
        results.append(_run(build_network(Arch.from_dict(case["arch"]), ctx), Arch(**case["arch"])))
    return results


def _check_costs(res: dict[str, Any], arch: Arch, fallback: bool = False) -> None:
    """Byte counters == mlsurrogate/costmodel.py formulas for the collectives issued; FLOPs == analytic."""
    cost = iteration_cost(arch, B)
    assert res["flops"] == cost.flops
    assert res["bytes"]["logical_bytes"] == pytest.approx(cost.bytes_by_op)
    assert res["bytes"]["calls"] == {"all_gather": arch.depth, "reduce_scatter": arch.depth,
                                     "all_reduce": 1}
    wire = dict(cost.bytes_by_op)
    if fallback:  # all-reduce of the (b, pk) buffer: 2(p-1)/p·(pbk)·s = 2 x (p-1)bks
        wire["reduce_scatter"] = 2 * cost.bytes_by_op["reduce_scatter"]
        assert set(res["bytes"]["fallbacks"]) == {"all_gather", "reduce_scatter"}
    assert res["bytes"]["wire_bytes"] == pytest.approx(wire)


PHANTOM_CASES = [
    {"arch": dict(d_in=5, d_out=3, width=16, depth=2, mode="phantom", nproc=2, ghosts=3)},
    {"arch": dict(d_in=5, d_out=3, width=16, depth=2, mode="phantom", nproc=2, ghosts=2,
                  self_ghost=True, ghost_activation="tanh", overlap=False, seed=4)},
    {"arch": dict(d_in=5, d_out=3, width=16, depth=1, mode="phantom", nproc=2, ghosts=3,
                  seed=5), "fallback": True},
]


def test_phantom_two_ranks_equal_virtual_reference() -> None:
    """2-rank gloo == single-process virtual reference: outputs, grads, params after 4 steps."""
    results = launch_local(_worker, 2, (PHANTOM_CASES,), timeout_s=30)
    for case_no, case in enumerate(PHANTOM_CASES):
        arch = Arch(**case["arch"])
        ref_net = VirtualPhantomFFN(arch)
        ref = _run(ref_net, arch)
        for r in range(2):
            res = results[r][case_no]
            assert max_abs(res["out"], ref["out"]) < TOL32
            assert max_abs(res["out_after"], ref["out_after"]) < TOL32
            assert set(res["grads"]) == {f"params.{k}" for k, _ in ref_net.ranks[r].named_parameters()}
            for name in res["grads"]:
                ref_name = f"ranks.{r}.{name.removeprefix('params.')}"
                assert max_abs(res["grads"][name], ref["grads"][ref_name]) < TOL32, name
                assert max_abs(res["params"][name], ref["params"][ref_name]) < TOL32, name
            _check_costs(res, arch, fallback=case.get("fallback", False))
            assert len(res["exported"]) == 2  # every rank's shard, loadable by the reference
            for mine, theirs in zip(res["exported"], ref["exported"], strict=True):
                assert mine.keys() == theirs.keys()
                assert all(max_abs(mine[k], theirs[k]) < TOL32 for k in mine)


TP_CASES = [
    {"arch": dict(d_in=5, d_out=3, width=16, depth=2, mode="tensor", nproc=2)},
    {"arch": dict(d_in=5, d_out=3, width=16, depth=2, mode="tensor", nproc=2, overlap=False,
                  activation="gelu", seed=2)},
]


def _tp_name(name: str, r: int, m: int) -> tuple[str, Any]:
    """TP parameter name of rank r -> (dense FFN name, slice of the dense tensor)."""
    rows = slice(r * m, (r + 1) * m)
    if name in ("w_in", "b_in"):
        return ("inp.weight" if name == "w_in" else "inp.bias"), rows
    if name == "w_out":
        return "out.weight", (slice(None), rows)
    if name == "b_out":
        return "out.bias", slice(None)
    kind, l = name.split(".")
    return f"hidden.{l}.{'weight' if kind == 'w' else 'bias'}", rows


def test_tensor_parallel_two_ranks_equal_dense_model() -> None:
    """TP-A on 2 ranks == the single-rank dense FFN (master-weight init, same steps)."""
    results = launch_local(_worker, 2, (TP_CASES,), timeout_s=30)
    for case_no, case in enumerate(TP_CASES):
        arch = Arch(**case["arch"])
        dense_arch = Arch(**{**case["arch"], "mode": "none", "nproc": 1})
        ref = _run(FFN(dense_arch), dense_arch)
        for r in range(2):
            res = results[r][case_no]
            assert max_abs(res["out"], ref["out"]) < TOL32
            assert max_abs(res["out_after"], ref["out_after"]) < TOL32
            for name in res["grads"]:
                ref_name, sl = _tp_name(name, r, arch.m)
                assert max_abs(res["grads"][name], ref["grads"][ref_name][sl]) < TOL32, name
                assert max_abs(res["params"][name], ref["params"][ref_name][sl]) < TOL32, name
            _check_costs(res, arch)
            exported = res["exported"]  # gathered master weights == the dense state dict
            assert exported.keys() == ref["exported"].keys()
            assert all(max_abs(exported[k], ref["exported"][k]) < TOL32 for k in exported)


def _dies_or_hangs(ctx: Any, mode: str) -> str:
    net = build_network(Arch(d_in=3, d_out=2, width=8, depth=1, mode="phantom", nproc=2,
                             ghosts=1), ctx)
    if ctx.rank == 1:
        if mode == "die":
            os._exit(3)
        time.sleep(ctx.timeout_s + 1.5)  # never reaches the collective in time
        return "late"
    net(torch.randn(4, 3))
    return "unreachable"


@pytest.mark.parametrize("mode", ["die", "hang"])
def test_dead_or_late_rank_gives_clear_error_within_timeout(mode: str) -> None:
    t0 = time.monotonic()
    with pytest.raises(RankFailureError) as info:
        launch_local(_dies_or_hangs, 2, (mode,), timeout_s=3, join_timeout_s=20)
    elapsed = time.monotonic() - t0
    assert elapsed < 12
    failures = info.value.failures
    assert "CollectiveError: all_gather failed on rank 0 of 2" in failures[0]
    assert "peer rank probably died" in failures[0]
    if mode == "die":
        assert failures[1] == "exited with code 3 without a result"
    else:
        assert "Timed out" in failures[0] and 1 not in failures


def test_cli_two_ranks_via_torchrun(tmp_path: Path) -> None:
    """`lfqcd train CONFIG --nproc 2` (torchrun) writes checkpoint, PNG and JSON record."""
    from lfqcd.cli import main
    from mlsurrogate.surrogate import load_surrogate

    cfg = tmp_path / "tiny.toml"
    cfg.write_text(
        "[data.synthetic]\nn_samples = 600\n[model]\nwidth = 32\n"
        "[parallel]\nmode = 'phantom'\nghosts = 4\ntimeout_s = 30\n"
        "[train]\nmax_epochs = 3\nmin_iters = 0\nbatch_size = 64\n"
    )
    out = tmp_path / "out"
    assert main(["train", str(cfg), "--nproc", "2", "--out", str(out), "--quiet"]) == 0
    rec = json.loads((out / "record.json").read_text())
    assert (out / "loss_curve.png").stat().st_size > 1000
    assert rec["parallel"]["nproc"] == 2 and rec["parallel"]["backend"] == "gloo"
    assert rec["flops"]["max_relative_difference"] == 0.0
    counted = rec["bytes"]["counted_per_iter_per_rank"]
    assert [c["logical_bytes"] for c in counted] == [rec["bytes"]["analytic_per_iter_per_rank"]] * 2
    assert rec["energy"]["modeled"]["label"] == "modeled"
    assert rec["energy"]["measured"]["source"] in ("none", "rapl_counter", "nvml_counter")
    assert rec["versions"]["torch"] == torch.__version__
    sur = load_surrogate(out / "model.pt")  # 2-rank phantom checkpoint -> one process
    assert sur.arch.nproc == 2 and sur.predict_array([[0.0] * 6]).shape == (1, 20)
