"""Phantom (PP) vs tensor parallelism (TP) projected to 256 GPUs: a *modeled* study (issue 13).

    python benchmarks/phantom_projection.py [--measured out/bench/phantom_vs_tensor.json]
                                            [--json out/bench/phantom_projection.json]
                                            [--plot out/bench/phantom_projection.png]

Nothing here is measured on GPUs: every time and energy of the projection is the cost model of
the analytic cost model (the one in mlsurrogate/costmodel.py, whose FLOP counts this script reproduces
GEMM by GEMM and checks) evaluated with the published numbers of one named system, NVIDIA DGX
H100 (8 x H100 SXM5 per node, NVLink 4 inside a node, one 400 Gb/s InfiniBand NDR port per GPU
between nodes), plus a few stated assumptions. Every such number is labelled "modeled".

Time of one hidden layer, per rank and training iteration (forward + backward), no overlap:

    T = sum_GEMMs [ max(2MKN / (eff * peak), bytes(M,K,N) / HBM) + t_kernel ]
        + sum_collectives (p - 1) * (alpha + chunk / beta)

with ring all-gather (forward) and reduce-scatter (backward) of a per-rank chunk ``b*m*s``
bytes for TP-A and ``b*k*s`` for PP; ``beta``/``alpha`` are NVLink's for p <= 8 (one node) and
the per-GPU InfiniBand port's beyond (the ring is as slow as its slowest link).
Energy (mlsurrogate/costmodel.py): ``E = sum_ranks(eps_F F + eps_B B) + p P_static T``.

Calibration of the CPU analogue: the same time model, with (1/throughput, per-GEMM overhead,
per-step latency, 1/bandwidth) fitted by non-negative least
squares to the equal-width gloo runs of benchmarks/phantom_vs_tensor.py measured on this
machine (relative residuals); the residual per row is printed. The GPU projection then
replaces the fitted CPU constants by the published GPU ones - the calibration tests the
*form* of the model, not the GPU constants.

PP's own limit: at fixed n and k the FLOP ratio 1/p + kp/n is smallest at p* = sqrt(n/k);
past p* decompression ((p-1)k ghosts per rank) grows with p. Rows past p* are marked.
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import nnls

from mlsurrogate.arch import Arch
from mlsurrogate.costmodel import EnergyCoefficients, hidden_layer_cost, iteration_cost, modeled_energy

# --------------------------------------------------------------------------------------------
# the named system: published numbers, each with its source
# --------------------------------------------------------------------------------------------
SOURCES = {
    "H100-DS": "NVIDIA H100 Tensor Core GPU datasheet (nvidia.com/en-us/data-center/h100), "
               "H100 SXM column",
    "DGX-DS": "NVIDIA DGX H100 datasheet (nvidia.com/en-us/data-center/dgx-h100) and the NVIDIA "
              "DGX H100 User Guide (docs.nvidia.com/dgx/dgxh100-user-guide), network modules",
}


@dataclass(frozen=True)
class Published:
    value: float
    unit: str
    source: str
    note: str


SYSTEM_NAME = "NVIDIA DGX H100 (8 x H100 SXM5 80 GB per node)"
PUBLISHED = {
    # 1,979 TFLOP/s BF16 Tensor Core is quoted "with sparsity"; the datasheet notes dense is half
    "peak_bf16_flops": Published(989.4e12, "FLOP/s", "H100-DS", "dense BF16 Tensor Core"),
    "hbm_bw": Published(3.35e12, "B/s", "H100-DS", "HBM3 memory bandwidth"),
    "tdp": Published(700.0, "W", "H100-DS", "max thermal design power (configurable)"),
    # 900 GB/s is the total (both directions) NVLink bandwidth per GPU
    "nvlink_bw": Published(450e9, "B/s", "H100-DS", "NVLink 4: 900 GB/s per GPU, both directions"),
    "gpus_per_node": Published(8, "GPUs", "DGX-DS", "8 H100 SXM5 per DGX H100"),
    # 8 ConnectX-7 ports per node at 400 Gb/s (InfiniBand NDR): one port per GPU
    "ib_bw_per_gpu": Published(50e9, "B/s", "DGX-DS", "400 Gb/s InfiniBand NDR per GPU, per direction"),
    "node_max_power": Published(10.2e3, "W", "DGX-DS", "system power usage, max"),
}

#: values the sources do not give: ASSUMPTIONS with a band (low, high); results are "modeled"
ASSUMED = {
    "gemm_efficiency": (0.7, (0.5, 0.85), "fraction of dense peak a large GEMM sustains"),
    "t_kernel_s": (5e-6, (2e-6, 10e-6), "fixed cost per GEMM kernel (launch, tail)"),
    "alpha_intra_s": (5e-6, (2e-6, 10e-6), "latency per ring step inside a node (NVLink)"),
    "alpha_inter_s": (10e-6, (5e-6, 20e-6), "latency per ring step between nodes (InfiniBand)"),
    "gpu_idle_w": (100.0, (60.0, 150.0), "GPU power when not computing"),
    "node_share": (0.5, (0.0, 1.0), "fraction of the per-GPU node overhead counted as static"),
    "eps_byte_j": (50e-12, (10e-12, 200e-12), "dynamic energy per byte sent (link + NIC + switch)"),
    "batch_rows": (4096, (4096, 4096), "rows b per iteration and model replica"),
    "bytes_per_element": (2, (2, 2), "bf16 activations and weights"),
    "ghosts_k": (16, (16, 16), "ghost neurons per rank and layer (cost-model examples)"),
}


def gpu_coefficients() -> tuple[EnergyCoefficients, dict[str, float]]:
    """Energy-model coefficients from the published numbers and the assumptions above.

    eps_F = (TDP - idle) / (eff * peak): the dynamic energy of one FLOP at the sustained rate;
    P_static = idle + node_share * (node max power - 8 TDP) / 8 (CPUs, NICs, switches, fans)."""
    P = {k: v.value for k, v in PUBLISHED.items()}
    eff, eff_band = ASSUMED["gemm_efficiency"][:2]
    idle, idle_band = ASSUMED["gpu_idle_w"][:2]
    share, share_band = ASSUMED["node_share"][:2]
    overhead = (P["node_max_power"] - P["gpus_per_node"] * P["tdp"]) / P["gpus_per_node"]

    def eps_f(i: float, e: float) -> float:
        return (P["tdp"] - i) / (e * P["peak_bf16_flops"])

    eb, eb_band = ASSUMED["eps_byte_j"][:2]
    coeffs = EnergyCoefficients(
        eps_flop_j=eps_f(idle, eff), eps_byte_j=eb, p_static_w=idle + share * overhead,
        eps_flop_range=(eps_f(idle_band[1], eff_band[1]), eps_f(idle_band[0], eff_band[0])),
        eps_byte_range=eb_band,
        p_static_range=(idle_band[0] + share_band[0] * overhead,
                        idle_band[1] + share_band[1] * overhead),
        source=f"DERIVED from the published {SYSTEM_NAME} numbers and the ASSUMPTIONS table",
    )
    return coeffs, {"node_overhead_per_gpu_w": overhead}


# --------------------------------------------------------------------------------------------
# GEMMs and collectives of one iteration (the shapes behind costmodel's FLOP counts)
# --------------------------------------------------------------------------------------------
def hidden_gemms(mode: str, b: int, n: int, p: int, k: int) -> list[tuple[int, int, int]]:
    """(M, K, N) of every GEMM of one hidden layer, forward + backward, on one rank."""
    if mode == "none":
        return [(b, n, n), (n, b, n), (b, n, n)]
    m = n // p
    if mode == "tensor":  # z = H W_r^T ; dW_r = dz^T H ; dH = dz W_r
        return [(b, n, m), (m, b, n), (b, m, n)]
    g = (p - 1) * k  # PP, mlsurrogate/parallel/phantom.py
    shapes = [(b, m, k), (b, m, m), (b, g, m),  # g_r = h C^T ; h A^T ; G D^T
              (b, m, g), (m, b, m), (m, b, g),  # dP = dz D ; dA ; dD
              (k, b, m), (b, m, m), (b, k, m)]  # dC ; dz A ; dg C
    return [s for s in shapes if min(s) > 0]


def io_gemms(b: int, m: int, d_in: int, d_out: int) -> list[tuple[int, int, int]]:
    """Input layer (no input gradient) and output layer GEMMs on one rank."""
    return [(b, d_in, m), (m, b, d_in), (b, m, d_out), (d_out, b, m), (b, d_out, m)]


def hidden_collectives(mode: str, b: int, n: int, p: int, k: int, s: int) -> list[tuple[int, float]]:
    """(ring steps, bytes per step) of each collective of one hidden layer."""
    if p == 1 or mode == "none":
        return []
    chunk = b * (n // p if mode == "tensor" else k) * s
    return [(p - 1, chunk), (p - 1, chunk)]  # all-gather (fwd), reduce-scatter (bwd)


def flops_of(gemms: list[tuple[int, int, int]]) -> float:
    return float(sum(2 * M * K * N for M, K, N in gemms))


def check_against_costmodel() -> None:
    """The GEMM lists reproduce mlsurrogate.costmodel exactly (else the script stops)."""
    for mode, n, p, k in [("tensor", 512, 4, 0), ("phantom", 512, 4, 16), ("phantom", 256, 2, 8),
                          ("none", 128, 1, 0)]:
        want = hidden_layer_cost(mode, 64, n, p, k).flops
        got = flops_of(hidden_gemms(mode, 64, n, p, k))
        if abs(want - got) > 1e-9 * want:
            raise SystemExit(f"GEMM list disagrees with costmodel for {mode} n={n} p={p}: {got} vs {want}")
        arch = Arch(d_in=6, d_out=20, width=n, depth=2, mode=mode, nproc=p, ghosts=k or 16)
        total = 2 * got + flops_of(io_gemms(64, n // p, 6, 20))
        if abs(iteration_cost(arch, 64).flops - total) > 1e-9 * total:
            raise SystemExit(f"iteration FLOPs disagree with costmodel for {mode} n={n} p={p}")


# --------------------------------------------------------------------------------------------
# calibration of the CPU analogue on the gloo runs measured here
# --------------------------------------------------------------------------------------------
#: at the single batch size b of the measurements the optimizer's per-parameter time is
#: collinear with the FLOPs (6 b FLOPs per parameter), so it is absorbed in 1/throughput
TERMS = ("flops", "gemms", "steps", "bytes")


def cpu_terms(arch: dict[str, Any], b: int, s: int = 4) -> np.ndarray:
    """Linear terms of the time model for one measured configuration (whole network)."""
    mode, n, p, k, L = arch["mode"], arch["width"], arch["nproc"], arch.get("ghosts", 0), arch["depth"]
    d_in, d_out = arch["d_in"], arch["d_out"]
    gemms = L * hidden_gemms(mode, b, n, p, k) + io_gemms(b, n // p, d_in, d_out)
    colls = L * hidden_collectives(mode, b, n, p, k, s)
    if p > 1:  # output all-reduce (forward), ring: 2(p-1) steps of b*d_out*s/p
        colls.append((2 * (p - 1), b * d_out * s / p))
    return np.array([flops_of(gemms), len(gemms), sum(st for st, _ in colls),
                     sum(st * c for st, c in colls)], dtype=float)


def calibrate(rows: list[dict[str, Any]], b: int, cores: int) -> dict[str, Any]:
    """NNLS fit of the time model's constants to measured per-iteration times (relative).

    ``p`` single-thread ranks on ``cores`` cores get ``min(1, cores/p)`` of a core each, so the
    compute terms (FLOPs, GEMMs) of a row are multiplied by ``max(1, p/cores)``; load
    from other jobs on a shared machine is not modeled and shows up in the residual."""
    A = np.array([cpu_terms(r["arch"], b) for r in rows])
    share = np.array([max(1.0, r["arch"]["nproc"] / cores) for r in rows])
    A[:, :2] *= share[:, None]
    t = np.array([r["t_iter_s"] for r in rows])
    coef, _ = nnls(A / t[:, None], np.ones(len(t)))
    pred = A @ coef
    rel = pred / t - 1.0
    return {
        "cores": cores,
        "constants": dict(zip(TERMS, coef.tolist(), strict=True)),
        "throughput_flops": 1.0 / coef[0] if coef[0] > 0 else math.inf,
        "bandwidth_Bps": 1.0 / coef[3] if coef[3] > 0 else math.inf,
        "rows": [{"mode": r["arch"]["mode"], "n": r["arch"]["width"], "p": r["arch"]["nproc"],
                  "k": r["arch"].get("ghosts", 0), "measured_ms": 1e3 * tm,
                  "model_ms": 1e3 * pm, "rel_residual": float(e)}
                 for r, tm, pm, e in zip(rows, t, pred, rel, strict=True)],
        "rms_rel_residual": float(np.sqrt(np.mean(rel**2))),
        "max_abs_rel_residual": float(np.max(np.abs(rel))),
        "rms_by_p": {int(p): float(np.sqrt(np.mean(rel[[r["arch"]["nproc"] == p for r in rows]] ** 2)))
                     for p in sorted({r["arch"]["nproc"] for r in rows})},
    }


def machine_cores(measured: dict[str, Any]) -> int:
    """Core count from the benchmark's machine line ("2 cores (...)"), else this machine's."""
    import os
    import re

    m = re.match(r"(\d+) cores", str(measured.get("machine", "")))
    return int(m.group(1)) if m else (os.cpu_count() or 1)


def print_calibration(cal: dict[str, Any], title: str) -> None:
    print(title + "\n")
    print("| mode | n | p | k | measured ms/iter | model ms/iter | residual |")
    print("|---|---|---|---|---|---|---|")
    for r in cal["rows"]:
        print(f"| {r['mode']} | {r['n']} | {r['p']} | {r['k'] or '-'} | {r['measured_ms']:.2f} | "
              f"{r['model_ms']:.2f} | {100 * r['rel_residual']:+.0f} % |")
    c = cal["constants"]
    print(f"\nFitted CPU constants: throughput {cal['throughput_flops'] / 1e9:.2f} GFLOP/s, "
          f"{1e6 * c['gemms']:.1f} us per GEMM, {1e6 * c['steps']:.0f} us per ring step, "
          f"bandwidth {cal['bandwidth_Bps'] / 1e9:.2f} GB/s.")
    print(f"Residual: RMS {100 * cal['rms_rel_residual']:.0f} %, max "
          f"{100 * cal['max_abs_rel_residual']:.0f} %; RMS by p: "
          + ", ".join(f"p={p}: {100 * v:.0f} %" for p, v in cal["rms_by_p"].items()) + ".")


# --------------------------------------------------------------------------------------------
# GPU projection
# --------------------------------------------------------------------------------------------
def gemm_time(M: int, K: int, N: int, s: int, peak: float, eff: float, hbm: float,
              t_kernel: float) -> float:
    return max(2.0 * M * K * N / (eff * peak), s * (M * K + K * N + M * N) / hbm) + t_kernel


def layer_cost_gpu(mode: str, n: int, p: int, k: int, a: dict[str, float]) -> dict[str, float]:
    """Modeled time, FLOPs and bytes of one hidden layer on one rank (module docstring)."""
    P = {key: v.value for key, v in PUBLISHED.items()}
    b, s = int(a["batch_rows"]), int(a["bytes_per_element"])
    t_gemm = sum(gemm_time(M, K, N, s, P["peak_bf16_flops"], a["gemm_efficiency"], P["hbm_bw"],
                           a["t_kernel_s"]) for M, K, N in hidden_gemms(mode, b, n, p, k))
    one_node = p <= P["gpus_per_node"]
    beta = P["nvlink_bw"] if one_node else P["ib_bw_per_gpu"]
    alpha = a["alpha_intra_s"] if one_node else a["alpha_inter_s"]
    colls = hidden_collectives(mode, b, n, p, k, s)
    t_coll = sum(st * (alpha + c / beta) for st, c in colls)
    return {"time_s": t_gemm + t_coll, "t_gemm_s": t_gemm, "t_coll_s": t_coll,
            "flops": flops_of(hidden_gemms(mode, b, n, p, k)),
            "bytes": float(sum(st * c for st, c in colls))}


def project(widths: list[int], ps: list[int], assumed: dict[str, float],
            coeffs: EnergyCoefficients) -> list[dict[str, Any]]:
    k = int(assumed["ghosts_k"])
    rows = []
    for n in widths:
        for p in ps:
            m = n // p
            if k >= m:
                continue
            tp = layer_cost_gpu("tensor", n, p, 0, assumed)
            pp = layer_cost_gpu("phantom", n, p, k, assumed)
            e_tp = modeled_energy([tp["flops"]] * p, [tp["bytes"]] * p, tp["time_s"], coeffs=coeffs)
            e_pp = modeled_energy([pp["flops"]] * p, [pp["bytes"]] * p, pp["time_s"], coeffs=coeffs)
            rows.append({
                "n": n, "p": p, "k": k, "p_star": math.sqrt(n / k), "past_p_star": p > math.sqrt(n / k),
                "tp": tp, "pp": pp, "time_ratio": pp["time_s"] / tp["time_s"],
                "energy_ratio": e_pp["energy_j"] / e_tp["energy_j"],
                "energy_ratio_band": [e_pp["band_j"][0] / e_tp["band_j"][0],
                                      e_pp["band_j"][1] / e_tp["band_j"][1]],
                "flop_ratio": pp["flops"] / tp["flops"],
                "byte_ratio": pp["bytes"] / tp["bytes"] if tp["bytes"] else float("nan"),
                "energy_tp_j": e_tp["energy_j"], "energy_pp_j": e_pp["energy_j"],
                "label": "modeled",
            })
    return rows


def projection_table(rows: list[dict[str, Any]]) -> str:
    lines = ["| n | p | m = n/p | p* = sqrt(n/k) | TP time (ms, modeled) | PP time (ms, modeled) "
             "| time PP/TP | FLOPs PP/TP | bytes PP/TP | energy PP/TP (modeled) [all-low, all-high "
             "coefficients] |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        mark = " (past p*)" if r["past_p_star"] else ""
        lo, hi = sorted(r["energy_ratio_band"])
        lines.append(
            f"| {r['n']} | {r['p']}{mark} | {r['n'] // r['p']} | {r['p_star']:.1f} | "
            f"{1e3 * r['tp']['time_s']:.3f} | {1e3 * r['pp']['time_s']:.3f} | "
            f"{r['time_ratio']:.3f} | {r['flop_ratio']:.3f} | {r['byte_ratio']:.4f} | "
            f"{r['energy_ratio']:.3f} [{lo:.3f}-{hi:.3f}] |")
    return "\n".join(lines)


def equal_loss_factor(measured: dict[str, Any] | None) -> dict[str, Any] | None:
    """Iterations-to-ℓ* ratio PP/TP at equal (n, p) from the multi-seed runs measured here."""
    if not measured or "equal_loss" not in measured:
        return None
    runs = measured["equal_loss"]["runs"]
    out = {}
    for p in (2, 4):
        tp = [r for r in runs if r["arch"]["mode"] == "tensor" and r["arch"]["nproc"] == p]
        pp = [r for r in runs if r["arch"]["mode"] == "phantom" and r["arch"]["nproc"] == p
              and tp and r["arch"]["width"] == tp[0]["arch"]["width"]]
        if tp and pp and all(x["reached"] for x in tp[0]["seeds"] + pp[0]["seeds"]):
            it_tp = np.mean([x["iters"] for x in tp[0]["seeds"]])
            it_pp = np.mean([x["iters"] for x in pp[0]["seeds"]])
            out[p] = {"n": tp[0]["arch"]["width"], "iters_tp": float(it_tp), "iters_pp": float(it_pp),
                      "ratio": float(it_pp / it_tp)}
    return out or None


def write_plot(rows: list[dict[str, Any]], widths: list[int], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for i, n in enumerate(widths):
        rs = [r for r in rows if r["n"] == n]
        line, = ax.plot([r["p"] for r in rs], [r["energy_ratio"] for r in rs], "o-", label=f"n={n}")
        ax.axvline(rs[0]["p_star"], color=line.get_color(), ls=":", lw=1)
        ax.text(rs[0]["p_star"], 0.02 + 0.05 * i, f" p*={rs[0]['p_star']:.0f}", color=line.get_color(),
                fontsize=8)
    ax.axhline(0.5, color="k", ls="--", lw=1, label="~50 % claim (arXiv:2508.00960)")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("ranks p (GPUs)")
    ax.set_ylabel("PP/TP energy per iteration (modeled)")
    ax.set_title(f"modeled, equal width, k={rows[0]['k']}: {SYSTEM_NAME}", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--measured", default="out/bench/phantom_vs_tensor.json",
                        help="JSON written by benchmarks/phantom_vs_tensor.py --json (calibration "
                             "and the equal-loss factor); skipped with a note when absent")
    parser.add_argument("--json", help="also write all numbers to this JSON file")
    parser.add_argument("--plot", help="PP/TP modeled energy vs p with the p* lines (PNG)")
    args = parser.parse_args()
    check_against_costmodel()
    widths, ps = [8192, 16384, 32768, 65536], [2, 4, 8, 16, 32, 64, 128, 256]
    assumed = {key: v[0] for key, v in ASSUMED.items()}
    coeffs, derived = gpu_coefficients()

    print(f"System: {SYSTEM_NAME}. Published numbers:\n")
    print("| quantity | value | unit | what | source |\n|---|---|---|---|---|")
    for key, v in PUBLISHED.items():
        print(f"| {key} | {v.value:g} | {v.unit} | {v.note} | {SOURCES[v.source]} |")
    print("\nAssumptions (not published; every result depends on them and is labelled modeled):\n")
    print("| quantity | value | band | meaning |\n|---|---|---|---|")
    for key, (val, band, what) in ASSUMED.items():
        print(f"| {key} | {val:g} | {band[0]:g}-{band[1]:g} | {what} |")
    print("\nEnergy-model coefficients, DERIVED:\n")
    for row in coeffs.table():
        print(f"  {row['coefficient']} = {row['value']:.3g} {row['units']} "
              f"(band {row['range'][0]:.3g}-{row['range'][1]:.3g})")
    print(f"  node overhead per GPU (node max power - 8 TDP)/8 = {derived['node_overhead_per_gpu_w']:.0f} W")

    measured = None
    mpath = Path(args.measured)
    result: dict[str, Any] = {"system": SYSTEM_NAME, "label": "modeled",
                              "published": {k: v.__dict__ for k, v in PUBLISHED.items()},
                              "sources": SOURCES, "assumed": ASSUMED}
    if mpath.is_file():
        measured = json.loads(mpath.read_text())
        rows = measured.get("equal_width", [])
        if rows:
            cores = machine_cores(measured)
            load = (measured.get("load_start"), measured.get("load_end"))
            cal = calibrate(rows, 64, cores)
            own = [r for r in rows if r["arch"]["nproc"] <= cores]
            cal_own = calibrate(own, 64, cores)
            result["calibration"] = {"all_rows": cal, "one_rank_per_core": cal_own, "load": load}
            print_calibration(cal, f"\nCalibration of the CPU analogue on the {len(rows)} "
                              f"equal-width gloo runs measured here ({mpath}; L=2, b=64, fp32; "
                              f"{cores} cores, 1-minute load average {load[0]:.1f} at start and "
                              f"{load[1]:.1f} at end, i.e. shared with other jobs):")
            print_calibration(cal_own, f"\nThe same fit on the {len(own)} runs with at most one "
                              "rank per core:")
    else:
        print(f"\nNo measured runs at {mpath}: the CPU-analogue calibration is skipped (run "
              "benchmarks/phantom_vs_tensor.py --json there first).")

    rows = project(widths, ps, assumed, coeffs)
    result["projection"] = rows
    print(f"\nProjection (modeled), one hidden layer per iteration at equal width, k = "
          f"{int(assumed['ghosts_k'])}, b = {int(assumed['batch_rows'])}, bf16; p <= 8 inside one "
          "node (NVLink), p > 8 across nodes (InfiniBand):\n")
    print(projection_table(rows))
    factor = equal_loss_factor(measured)
    result["equal_loss_factor"] = factor
    print("\nAgainst the seed's ~50 % claim: modeled PP/TP energy per iteration at equal width, "
          "smallest and at p=256, per width:")
    for n in widths:
        rs = [r for r in rows if r["n"] == n]
        best = min(rs, key=lambda r: r["energy_ratio"])
        print(f"  n={n}: minimum {best['energy_ratio']:.3f} at p={best['p']} (p* = "
              f"{best['p_star']:.0f}); at p=256 {rs[-1]['energy_ratio']:.3f}")
    if factor:
        print("\nEqual width is not equal loss (a PP layer has 1/p + kp/n of the TP parameters). "
              "Iterations to ℓ* measured here (multi-seed, n = "
              + ", ".join(f"{v['n']} p={p}: PP/TP = {v['ratio']:.2f}" for p, v in factor.items())
              + ") would multiply the ratios above if they carried over to these widths - an "
              "extrapolation of 2+ orders of magnitude in n that this project cannot test.")
    n_head = widths[-1]
    head = next(r for r in rows if r["n"] == n_head and r["p"] == 256)
    result["headline"] = {"n": n_head, "p": 256, "energy_ratio": head["energy_ratio"]}
    if args.plot:
        write_plot(rows, widths, Path(args.plot))
        print(f"\nplot: {args.plot}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=1, default=float))
    print(f"\nmodeled PP/TP energy at p=256, n={n_head}: {head['energy_ratio']:.3f}")


if __name__ == "__main__":
    main()
