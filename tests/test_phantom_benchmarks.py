"""benchmarks/phantom_projection.py and the equal-loss table of benchmarks/phantom_vs_tensor.py
(issue 13, item 3): the model's GEMMs reproduce the cost model, the calibration recovers known
constants, p* is where the FLOP ratio is smallest, and unreached rows never get a ratio."""

from __future__ import annotations

import importlib.util
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mlsurrogate.costmodel import formula_ratios, hidden_layer_cost

ROOT = Path(__file__).resolve().parents[1]


def load(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod  # dataclasses look their module up while the class is built
    spec.loader.exec_module(mod)
    return mod


proj = load("phantom_projection")


@pytest.mark.parametrize("mode, n, p, k", [("tensor", 1024, 8, 0), ("phantom", 1024, 8, 4),
                                           ("phantom", 4096, 256, 8), ("phantom", 96, 3, 5),
                                           ("none", 64, 1, 0)])
def test_gemm_shapes_reproduce_the_cost_model(mode: str, n: int, p: int, k: int) -> None:
    want = hidden_layer_cost(mode, 32, n, p, k).flops
    assert proj.flops_of(proj.hidden_gemms(mode, 32, n, p, k)) == pytest.approx(want, rel=1e-12)
    proj.check_against_costmodel()  # the script's own start-up check


def test_p_star_is_where_the_flop_ratio_is_smallest() -> None:
    n, k = 16384, 16
    ps = np.arange(1, 513)
    ratios = [formula_ratios(n, int(p), k)["flops"] for p in ps]
    assert ps[int(np.argmin(ratios))] == round(math.sqrt(n / k))
    m_layer = [proj.flops_of(proj.hidden_gemms("phantom", 64, n, int(p), k))
               / proj.flops_of(proj.hidden_gemms("tensor", 64, n, int(p), 0)) for p in (16, 32, 64)]
    assert m_layer[1] < m_layer[0] and m_layer[1] < m_layer[2]  # p* = 32 for n/k = 1024


def test_calibration_recovers_known_constants() -> None:
    truth = np.array([1 / 5e9, 20e-6, 40e-6, 1 / 2e9])  # 1/throughput ... 1/bandwidth
    rows = []
    for n in (256, 512, 1024):
        for p in (1, 2, 4):
            for mode, k in [("tensor", 0), ("phantom", n // p // 8)]:
                arch = {"mode": mode, "width": n, "nproc": p, "ghosts": k, "depth": 2,
                        "d_in": 6, "d_out": 20}
                rows.append({"arch": arch, "t_iter_s": float(proj.cpu_terms(arch, 64) @ truth)})
    cal = proj.calibrate(rows, 64, cores=8)
    assert cal["rms_rel_residual"] < 1e-6
    assert cal["throughput_flops"] == pytest.approx(5e9, rel=1e-4)


def test_projection_ends_with_the_headline_line(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "phantom_projection.py"),
                          "--measured", str(tmp_path / "none.json"), "--json",
                          str(tmp_path / "p.json")], capture_output=True, text=True, cwd=ROOT,
                         timeout=120, check=True).stdout
    last = out.strip().splitlines()[-1]
    assert re.fullmatch(r"modeled PP/TP energy at p=256, n=65536: 0\.\d+", last), last
    assert "modeled" in out and "p* = sqrt(n/k)" in out
    for key in proj.PUBLISHED.values():
        assert key.source in proj.SOURCES  # every published number names its source


def test_equal_loss_table_never_prints_a_ratio_for_unreached_rows() -> None:
    pytest.importorskip("torch")
    pvt = load("phantom_vs_tensor")

    def seed(reached: bool, iters: int, e: float) -> dict:
        return {"reached": reached, "iters": iters, "time_s": 1.0, "energy_j": e, "band_j": [e, e],
                "best": 0.1, "static_share": 0.9, "peak_rss_mib": 300.0,
                "peak_rss_delta_mib": 5.0, "peak_is_this_run": True}

    arch = {"mode": "tensor", "width": 64, "nproc": 2, "depth": 2, "d_in": 6, "d_out": 20}
    res = {"target": 0.3, "budget": 100, "seeds": [0, 1, 2, 3], "runs": [
        {"label": "TP", "arch": arch, "ranks": 2, "params_total": 10,
         "seeds": [seed(True, 100, 10.0 + i) for i in range(4)]},
        {"label": "PP", "arch": {**arch, "mode": "phantom", "ghosts": 4}, "ranks": 2,
         "params_total": 5, "seeds": [seed(False, 200, 30.0) for _ in range(4)]},
        {"label": "PP", "arch": {**arch, "mode": "phantom", "ghosts": 2}, "ranks": 2,
         "params_total": 4, "seeds": [seed(i < 3, 150, 20.0) for i in range(4)]},
    ]}
    rows = [line for line in pvt.table_b(res).splitlines() if line.startswith("| TP") or
            line.startswith("| PP")]
    assert "1.00 ±" in rows[0]
    assert rows[1].count("not reached") >= 4 and "±" not in rows[1].split("|")[11]
    assert "0/4" in rows[1] and "3/4" in rows[2]
    assert rows[2].split("|")[11].strip() == "not reached in every seed"


def _ddp_history(ctx, arch: dict, fit_kw: dict) -> list:
    pvt = sys.modules["phantom_vs_tensor"]
    from mlsurrogate.arch import Arch
    from mlsurrogate.config import FitConfig
    from mlsurrogate.surrogate import build_network

    return pvt._ddp_fit(build_network(Arch(**arch), None), pvt._data_tensors(512),
                        FitConfig(**fit_kw), ctx)["history"]


def test_ddp_baseline_takes_the_single_process_steps() -> None:
    """Rows r::p of each global batch on p ranks + averaged gradients = the global-batch step."""
    pytest.importorskip("torch")
    pvt = load("phantom_vs_tensor")
    from mlsurrogate.arch import Arch
    from mlsurrogate.config import FitConfig
    from mlsurrogate.parallel.runtime import launch_local
    from mlsurrogate.surrogate import build_network
    from mlsurrogate.train.loop import fit

    arch = {"d_in": 6, "d_out": 20, "width": 32, "depth": 2, "seed": 3}
    kw = {"batch_size": 64, "lr": 1e-3, "max_iters": 12, "eval_every": 4, "seed": 5}
    ddp = launch_local(_ddp_history, 2, (arch, kw), timeout_s=60)[0]
    X, Y, Xv, Yv = pvt._data_tensors(512)
    ref = fit(build_network(Arch(**arch)), (X, Y), (Xv, Yv),
              FitConfig(**kw, max_epochs=10**6, patience=0)).history
    assert [h["iter"] for h in ddp] == [h["iter"] for h in ref] == [4, 8, 12]
    for a, b in zip(ddp, ref, strict=True):
        assert a["val_loss"] == pytest.approx(b["val_loss"], rel=1e-5)
