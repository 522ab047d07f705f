"""Cost model (mlsurrogate/costmodel.py) vs counters, collectives at world size 1, energy reporting
(mlsurrogate/energy.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from mlsurrogate.arch import Arch
from mlsurrogate.costmodel import (
    EnergyCoefficients,
    formula_ratios,
    hidden_layer_cost,
    iteration_cost,
    modeled_energy,
    param_count,
)
from mlsurrogate.energy import EnergyMeter, available_counters
from mlsurrogate.parallel.collectives import (
    COUNTER,
    all_gather_last_dim,
    all_reduce_sum,
    copy_to_parallel,
    raw_reduce_scatter_last_dim,
    reduce_scatter_last_dim,
    ring_bytes,
)
from mlsurrogate.surrogate import build_network, build_reference

ARCHS = {
    "dense": dict(mode="none"),
    "tensor": dict(mode="tensor"),
    "phantom": dict(mode="phantom", ghosts=3),
    "phantom-self": dict(mode="phantom", ghosts=3, self_ghost=True, ghost_activation="tanh"),
}


@pytest.mark.parametrize("name", list(ARCHS), ids=list(ARCHS))
def test_analytic_flops_equal_flop_counter(name: str) -> None:
    arch = Arch(d_in=4, d_out=3, width=24, depth=3, **ARCHS[name])
    net = build_network(arch)
    x, y = torch.randn(10, 4), torch.randn(10, 3)
    with FlopCounterMode(display=False) as fc:
        F.mse_loss(net(x), y).backward()
    assert fc.get_total_flops() == iteration_cost(arch, 10).flops
    with FlopCounterMode(display=False) as fc, torch.no_grad():
        net(x)
    assert fc.get_total_flops() == iteration_cost(arch, 10, forward_only=True).flops


def test_hidden_layer_formulas_of_phantom_md_3() -> None:
    b, n, p, k, s = 64, 1024, 4, 8, 4
    m = n // p
    pp, tp = hidden_layer_cost("phantom", b, n, p, k, s), hidden_layer_cost("tensor", b, n, p, 0, s)
    assert pp.flops == 6 * b * n**2 / p**2 + 6 * b * n * k  # 6bn²/p² + 6bnk
    assert tp.flops == 6 * b * n**2 / p  # 6bn²/p
    assert sum(pp.bytes_fwd.values()) + sum(pp.bytes_bwd.values()) == 2 * (p - 1) * b * k * s
    assert sum(tp.bytes_fwd.values()) + sum(tp.bytes_bwd.values()) == 2 * (p - 1) / p * b * n * s
    r = formula_ratios(n, p, k)
    assert r["bytes"] == pytest.approx(k / m)
    assert pp.flops / tp.flops == pytest.approx(r["flops"])
    # worked examples of the cost model, rounded to two figures
    assert formula_ratios(8192, 8, 16) == pytest.approx({"flops": 0.14, "bytes": 0.016}, abs=0.005)
    assert formula_ratios(16384, 32, 16)["flops"] == pytest.approx(0.063, abs=0.001)


@pytest.mark.parametrize("p", [1, 2, 4])
def test_param_count_matches_models(p: int) -> None:
    arch = Arch(d_in=5, d_out=2, width=16, depth=2, mode="phantom", nproc=p, ghosts=2)
    ref = build_reference(arch)
    counts = param_count(arch)
    assert counts["total"] == sum(t.numel() for t in ref.parameters())
    assert counts["per_rank0"] == sum(t.numel() for t in ref.ranks[0].parameters())
    dense = Arch(d_in=5, d_out=2, width=16, depth=2)
    assert param_count(dense)["total"] == sum(t.numel() for t in build_network(dense).parameters())


def test_ring_bytes() -> None:
    assert ring_bytes("all_gather", 4, 10, 4) == 3 * 10 * 4
    assert ring_bytes("reduce_scatter", 4, 10, 8) == 3 * 10 * 8
    assert ring_bytes("all_reduce", 4, 100, 4) == 2 * 3 / 4 * 100 * 4
    assert ring_bytes("all_reduce", 1, 100, 4) == 0.0


def test_collectives_are_identities_without_a_process_group() -> None:
    x = torch.randn(3, 4, requires_grad=True)
    before = COUNTER.snapshot()
    for fn in (all_gather_last_dim, reduce_scatter_last_dim, all_reduce_sum, copy_to_parallel):
        y = fn(x)
        assert y is x or torch.equal(y, x)
    assert raw_reduce_scatter_last_dim(x.detach(), async_op=True).wait() is not None
    assert COUNTER.since(before)["total_logical_bytes"] == 0.0


def test_modeled_energy_is_labelled_with_band() -> None:
    c = EnergyCoefficients()
    e = modeled_energy([1e9, 1e9], [1e6, 1e6], t_iter_s=0.01, n_iter=100, coeffs=c)
    assert e["label"] == "modeled" and len(e["coefficients"]) == 3
    expected = 100 * (c.eps_flop_j * 2e9 + c.eps_byte_j * 2e6 + 2 * c.p_static_w * 0.01)
    assert e["energy_j"] == pytest.approx(expected)
    lo, hi = e["band_j"]
    assert lo < e["energy_j"] < hi
    assert "ASSUMPTION" in e["coefficient_source"]


def _fake_rapl(root: Path, value: int, wrap: int = 1000) -> None:
    zone = root / "intel-rapl:0"
    zone.mkdir(parents=True, exist_ok=True)
    (zone / "energy_uj").write_text(str(value))
    (zone / "max_energy_range_uj").write_text(str(wrap))
    sub = root / "intel-rapl:0:0"  # a sub-zone: must not be double counted
    sub.mkdir(exist_ok=True)
    (sub / "energy_uj").write_text("5")
    (sub / "max_energy_range_uj").write_text("1000")


def test_energy_meter_reads_rapl_with_wraparound(tmp_path: Path) -> None:
    _fake_rapl(tmp_path, 900)
    assert available_counters(tmp_path)["rapl"]
    meter = EnergyMeter(use_rapl=True, rapl_root=tmp_path)
    meter.start()
    _fake_rapl(tmp_path, 100)  # wrapped: 900 -> 1000 -> 100 = 200 uJ
    r = meter.stop()
    assert r.source == "rapl_counter" and r.energy_j == pytest.approx(200e-6)


def test_energy_not_measured_without_counters(tmp_path: Path) -> None:
    with EnergyMeter(gpu_index=None, rapl_root=tmp_path / "absent") as meter:
        pass
    r = meter.reading
    assert r is not None and r.energy_j is None and r.source == "none"
    assert r.note.startswith("not measured")
