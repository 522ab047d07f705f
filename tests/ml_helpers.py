"""Shared helpers for the mlsurrogate tests (tolerances, tiny models, a fixture scan store)."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

#: issue 6: distributed == reference to 1e-5 in float32
TOL32 = 1e-5
TOL64 = 1e-10


def tol(dtype: torch.dtype) -> float:
    """Absolute tolerance for O(1) values computed in ``dtype``."""
    return TOL32 if dtype == torch.float32 else TOL64


def max_abs(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.detach().double() - b.detach().double()).abs().max())


def write_scan_store(root: Path, rows: list[dict[str, Any]], params: list[str],
                     observables: list[str], extra_meta: dict[str, Any] | None = None) -> Path:
    """Write a scan folder following the scan-store contract (summary.csv + scan.json)."""
    root.mkdir(parents=True, exist_ok=True)
    header = ["key", "status", "wall_s", "backend"]
    for r in rows:
        header += [c for c in r if c not in header]
    with (root / "summary.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=header)
        w.writeheader()
        for r in rows:
            w.writerow(r)
    meta = {"params": params, "observables": observables, "config": {"name": "fixture"}}
    meta.update(extra_meta or {})
    (root / "scan.json").write_text(json.dumps(meta))
    return root


def fixture_scan(root: Path, n_ok: int = 40, n_failed: int = 3, seed: int = 0) -> Path:
    """A scan over (g, mu) with a fixed input T, scalars E0/gap and a 5-point curve xi."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n_ok + n_failed):
        g, mu = rng.uniform(0.1, 1.0), rng.uniform(-1, 1)
        ok = i >= n_failed
        row = {"key": f"k{i:03d}", "status": "ok" if ok else "failed", "wall_s": 0.1,
               "backend": "dense", "param.g": g, "param.mu": mu, "param.T": 4,
               "obs.E0": -g - mu**2 if ok else "", "obs.gap": g * (1 + mu) if ok else ""}
        for j in range(5):
            row[f"obs.xi[{j}]"] = np.exp(-g * j * 0.1) + 0.1 * mu if ok else ""
        rows.append(row)
    return write_scan_store(root, rows, ["g", "mu", "T"], ["E0", "gap", "xi"],
                            {"varied": ["g", "mu"]})
