"""Training data: the synthetic teacher-student set, the scan-store reader, splits, scaling.

No torch here: data are float64 numpy arrays; the training loop converts them.

Scan store contract (the scan engine, lfqcd/scan)::

    <scan>/summary.csv   one row per point: key, status ("ok"/"failed"), wall_s, backend,
                         param.<name> for every varied or fixed input,
                         obs.<name> for scalars, obs.<name>[<i>] for curve points
    <scan>/scan.json     {"params": [...], "observables": [...], "config": {...}}

Only rows with ``status == "ok"`` and finite values are used; the reader reports how many rows
it skipped and why.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lfqcd.errors import InvalidParameterError
from mlsurrogate.errors import DatasetError

__all__ = [
    "Dataset",
    "Standardizer",
    "group_observables",
    "read_scan_store",
    "row_uniforms",
    "teacher_student",
]

_CURVE = re.compile(r"^(?P<name>.+)\[(?P<i>\d+)\]$")


def group_observables(output_names: Sequence[str]) -> dict[str, list[int]]:
    """Group flattened output columns by observable: ``"xi[3]"`` -> ``"xi"``, in column order."""
    groups: dict[str, list[int]] = {}
    for j, name in enumerate(output_names):
        match = _CURVE.match(name)
        groups.setdefault(match.group("name") if match else name, []).append(j)
    return groups


@dataclass
class Dataset:
    """Inputs ``X (N, d_in)`` -> outputs ``Y (N, d_out)`` with column names and provenance."""

    X: np.ndarray
    Y: np.ndarray
    input_names: list[str]
    output_names: list[str]
    source: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.X = np.asarray(self.X, dtype=np.float64)
        self.Y = np.asarray(self.Y, dtype=np.float64)
        if self.X.ndim != 2 or self.Y.ndim != 2 or self.X.shape[0] != self.Y.shape[0]:
            raise DatasetError(f"X {self.X.shape} and Y {self.Y.shape} must be (N, d) with equal N")
        if self.X.shape[1] != len(self.input_names) or self.Y.shape[1] != len(self.output_names):
            raise DatasetError("column names do not match the array widths")

    def __len__(self) -> int:
        return int(self.X.shape[0])

    @property
    def observables(self) -> dict[str, list[int]]:
        return group_observables(self.output_names)

    def subset(self, index: np.ndarray) -> Dataset:
        return Dataset(self.X[index], self.Y[index], self.input_names, self.output_names,
                       dict(self.source))

    def split(self, val_fraction: float, seed: int, *,
              by_content: bool = False) -> tuple[Dataset, Dataset]:
        """Train/validation split.

        Default: a random permutation from ``numpy.random.default_rng(seed)`` (exactly
        ``round(val_fraction N)`` validation rows). ``by_content=True``: each row's side is
        fixed by its inputs and ``seed`` (:func:`row_uniforms` below ``val_fraction`` ->
        validation), so a data set that grows between active-learning rounds keeps every
        earlier training row in training and every validation row in validation. If that
        leaves one side empty, the row nearest the threshold changes side.
        """
        if not 0.0 < val_fraction < 1.0:
            raise InvalidParameterError(f"val_fraction must be in (0, 1), got {val_fraction}")
        if len(self) < 2:
            raise DatasetError(f"{len(self)} samples are too few for a validation split")
        if by_content:
            u = row_uniforms(self.X, seed)
            val = u < val_fraction
            if not val.any():
                val[np.argmin(u)] = True
            if val.all():
                val[np.argmax(u)] = False
            idx = np.arange(len(self))
            return self.subset(idx[~val]), self.subset(idx[val])
        n_val = max(1, int(round(val_fraction * len(self))))
        if len(self) - n_val < 1:
            raise DatasetError(f"{len(self)} samples are too few for a validation split")
        perm = np.random.default_rng(seed).permutation(len(self))
        return self.subset(np.sort(perm[n_val:])), self.subset(np.sort(perm[:n_val]))


def row_uniforms(X: np.ndarray, seed: int) -> np.ndarray:
    """One number in ``[0, 1)`` per row of ``X``, a hash of ``seed`` and the row's float64 bytes
    (independent of the row's position and of the other rows)."""
    rows = np.ascontiguousarray(np.asarray(X, dtype=np.float64))
    salt = int(seed).to_bytes(16, "little", signed=True)
    out = np.empty(rows.shape[0])
    for i, row in enumerate(rows):
        digest = hashlib.blake2b(salt + row.tobytes(), digest_size=8).digest()
        out[i] = int.from_bytes(digest, "little") / 2.0**64
    return out


@dataclass
class Standardizer:
    """Per-column affine scaling ``(v - mean)/std`` of inputs and outputs, fitted on training data.

    Columns with (near) zero spread get ``std = 1`` so constant inputs stay finite.
    """

    x_mean: np.ndarray
    x_std: np.ndarray
    y_mean: np.ndarray
    y_std: np.ndarray

    @staticmethod
    def _stats(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mean = a.mean(axis=0)
        std = a.std(axis=0)
        tiny = std <= 1e-12 * np.maximum(1.0, np.abs(mean))
        return mean, np.where(tiny, 1.0, std)

    @classmethod
    def fit(cls, X: np.ndarray, Y: np.ndarray) -> Standardizer:
        xm, xs = cls._stats(np.asarray(X, dtype=float))
        ym, ys = cls._stats(np.asarray(Y, dtype=float))
        return cls(xm, xs, ym, ys)

    def transform_x(self, X: np.ndarray) -> np.ndarray:
        return (X - self.x_mean) / self.x_std

    def transform_y(self, Y: np.ndarray) -> np.ndarray:
        return (Y - self.y_mean) / self.y_std

    def inverse_y(self, Ys: np.ndarray) -> np.ndarray:
        return Ys * self.y_std + self.y_mean

    def to_tensors(self) -> dict[str, Any]:
        import torch

        return {k: torch.as_tensor(getattr(self, k), dtype=torch.float64)
                for k in ("x_mean", "x_std", "y_mean", "y_std")}

    @classmethod
    def from_tensors(cls, d: dict[str, Any]) -> Standardizer:
        return cls(*(np.asarray(d[k].cpu().numpy() if hasattr(d[k], "cpu") else d[k], dtype=float)
                     for k in ("x_mean", "x_std", "y_mean", "y_std")))


# --------------------------------------------------------------------------------------------
# synthetic teacher-student data
# --------------------------------------------------------------------------------------------
def teacher_student(
    n_samples: int = 4096,
    d_in: int = 6,
    n_scalars: int = 4,
    curve_points: int = 16,
    teacher_width: int = 64,
    teacher_depth: int = 2,
    noise: float = 0.01,
    seed: int = 0,
) -> Dataset:
    """Synthetic regression set: ``y = teacher(x) + noise``, ``x ~ N(0, I)`` (teacher-student task).

    The teacher is a fixed random tanh FFN (``teacher_depth`` hidden layers of
    ``teacher_width``). Its last layer gives ``n_scalars`` scalar outputs ``s0, s1, ...`` and
    six coefficients of a smooth curve ``curve[0..curve_points-1]`` (Chebyshev polynomials on a
    grid ``w`` in [1, 1.5], mimicking an Isgur-Wise-like function of recoil ``w``). Gaussian
    noise of relative size ``noise`` (times each column's spread) is added. Inputs are named
    ``c0, c1, ...`` (couplings). Deterministic in ``seed``.
    """
    for name, v in (("n_samples", n_samples), ("d_in", d_in), ("teacher_width", teacher_width)):
        if v < 1:
            raise InvalidParameterError(f"{name} must be >= 1, got {v}")
    if n_scalars < 0 or curve_points < 0 or n_scalars + curve_points < 1:
        raise InvalidParameterError("need at least one output (n_scalars + curve_points >= 1)")
    if noise < 0 or not math.isfinite(noise):
        raise InvalidParameterError(f"noise must be >= 0, got {noise}")
    rng = np.random.default_rng(seed)
    n_coef = 6 if curve_points else 0
    X = rng.standard_normal((n_samples, d_in))
    h, fan_in = X, d_in
    for _ in range(teacher_depth + 1):
        W = rng.standard_normal((teacher_width, fan_in)) * (1.5 / math.sqrt(fan_in))
        b = 0.3 * rng.standard_normal(teacher_width)
        h, fan_in = np.tanh(h @ W.T + b), teacher_width
    W_out = rng.standard_normal((n_scalars + n_coef, fan_in)) / math.sqrt(fan_in)
    f = h @ W_out.T
    cols = [f[:, :n_scalars]]
    names = [f"s{i}" for i in range(n_scalars)]
    w_grid = np.linspace(1.0, 1.5, curve_points) if curve_points else np.zeros(0)
    if curve_points:
        t = 2.0 * (w_grid - 1.0) / 0.5 - 1.0  # [1, 1.5] -> [-1, 1]
        basis = np.polynomial.chebyshev.chebvander(t, n_coef - 1)  # (points, n_coef)
        decay = 0.5 ** np.arange(n_coef)  # smooth: higher orders smaller
        cols.append(1.0 - 0.8 * (w_grid - 1.0) + 0.1 * (f[:, n_scalars:] * decay) @ basis.T)
        names += [f"curve[{i}]" for i in range(curve_points)]
    clean = np.concatenate(cols, axis=1)
    spread = clean.std(axis=0) + 1e-12
    Y = clean + noise * spread * rng.standard_normal(clean.shape)
    source = {
        "kind": "synthetic_teacher_student",
        "n_samples": n_samples, "d_in": d_in, "n_scalars": n_scalars,
        "curve_points": curve_points, "teacher_width": teacher_width,
        "teacher_depth": teacher_depth, "noise": noise, "seed": seed,
        "curve_grid_w": w_grid.tolist(),
        # noise floor of the standardised validation MSE (noise variance / total variance)
        "noise_floor_std_mse": float(np.mean((noise * spread / Y.std(axis=0)) ** 2)),
    }
    return Dataset(X, Y, [f"c{i}" for i in range(d_in)], names, source)


# --------------------------------------------------------------------------------------------
# scan stores
# --------------------------------------------------------------------------------------------
def _to_float(text: str | None) -> float:
    if text is None or text.strip() == "":
        return math.nan
    try:
        return float(text)
    except ValueError:
        return math.nan


def read_scan_store(
    path: str | Path,
    params: Sequence[str] | None = None,
    observables: Sequence[str] | None = None,
    missing: str = "rows",
) -> Dataset:
    """Read a scan folder (module docstring) as a :class:`Dataset`.

    ``params`` defaults to ``scan.json``'s ``varied`` list when it has one (fixed inputs carry
    no information), else its ``params`` list, else every ``param.*`` column that varies over
    the ok rows. ``observables`` defaults to ``scan.json``'s list (names ``xi`` or ``xi[3]``).
    ``missing="rows"`` drops ok rows with a missing/non-finite value; ``"columns"`` first drops
    output columns that are missing in some ok row (e.g. curves whose length changes with the
    resolution). Raises :class:`DatasetError` naming the folder and the missing file/column, or
    when no usable row remains.
    """
    if missing not in ("rows", "columns"):
        raise InvalidParameterError(f"missing must be 'rows' or 'columns', got {missing!r}")
    root = Path(path)
    summary, meta_file = root / "summary.csv", root / "scan.json"
    for f in (summary, meta_file):
        if not f.is_file():
            raise DatasetError(f"scan store {root}: {f.name} not found (is this a scan folder?)")
    try:
        meta = json.loads(meta_file.read_text())
    except json.JSONDecodeError as exc:
        raise DatasetError(f"scan store {root}: scan.json is not valid JSON ({exc})") from exc
    with summary.open(newline="") as fh:
        reader = csv.DictReader(fh)
        header = list(reader.fieldnames or [])
        rows = list(reader)
    for col in ("key", "status"):
        if col not in header:
            raise DatasetError(f"scan store {root}: summary.csv has no '{col}' column")
    ok_rows = [r for r in rows if (r.get("status") or "").strip() == "ok"]

    if params is None:
        params = meta.get("varied") or meta.get("params")
    if not params:
        candidates = [c[len("param."):] for c in header if c.startswith("param.")]
        params = [p for p in candidates
                  if len({r.get(f"param.{p}") for r in ok_rows}) > 1]
    x_cols = [f"param.{p}" for p in params]
    absent = [c for c in x_cols if c not in header]
    if absent:
        raise DatasetError(f"scan store {root}: summary.csv lacks input column(s) {absent}")

    if observables is None:
        observables = meta.get("observables")
    if not observables:
        raise DatasetError(f"scan store {root}: scan.json lists no observables")
    y_cols: list[str] = []
    for name in observables:
        if f"obs.{name}" in header:
            y_cols.append(f"obs.{name}")
            continue
        pts = sorted(
            (int(m.group("i")), c) for c in header
            if c.startswith(f"obs.{name}[") and (m := _CURVE.match(c)) and m.group("name") == f"obs.{name}"
        )
        if not pts:
            raise DatasetError(f"scan store {root}: no column obs.{name} or obs.{name}[i]")
        if [i for i, _ in pts] != list(range(len(pts))):
            raise DatasetError(f"scan store {root}: curve obs.{name} has gaps in its indices")
        y_cols += [c for _, c in pts]

    X = np.array([[_to_float(r.get(c)) for c in x_cols] for r in ok_rows]).reshape(-1, len(x_cols))
    Y = np.array([[_to_float(r.get(c)) for c in y_cols] for r in ok_rows]).reshape(-1, len(y_cols))
    dropped_cols: list[str] = []
    if missing == "columns":
        keep = np.all(np.isfinite(Y), axis=0)
        dropped_cols = [c for c, k in zip(y_cols, keep, strict=True) if not k]
        y_cols = [c for c, k in zip(y_cols, keep, strict=True) if k]
        Y = Y[:, keep]
        if not y_cols:
            raise DatasetError(f"scan store {root}: every output column has missing values")
    finite = np.all(np.isfinite(X), axis=1) & np.all(np.isfinite(Y), axis=1)
    if not finite.any():
        raise DatasetError(
            f"scan store {root}: no usable rows ({len(rows)} rows, {len(ok_rows)} with status ok,"
            f" {int((~finite).sum())} of those with missing/non-finite values)"
        )
    source = {
        "kind": "scan_store",
        "path": str(root),
        "n_rows": len(rows),
        "n_ok": len(ok_rows),
        "n_failed_skipped": len(rows) - len(ok_rows),
        "n_nonfinite_skipped": int((~finite).sum()),
        "dropped_columns": dropped_cols,
        "scan_config": meta.get("config", {}),
    }
    return Dataset(X[finite], Y[finite], list(params), [c[len("obs."):] for c in y_cols], source)
