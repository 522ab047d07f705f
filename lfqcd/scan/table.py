"""Rows and columns of ``summary.csv`` from the per-point outcomes.

Column order (a contract, read by :mod:`mlsurrogate`): ``key, status, wall_s, backend``, then
``param.<name>`` for every input (varied and fixed), then ``obs.<name>`` for every scalar
observable followed by ``obs.<name>[<i>]`` for every *short* real 1-D array (at most
``flatten_max`` entries in every point), then ``residual, error``. Rows follow the design order;
points that never ran (an interrupted scan) have no row.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from lfqcd.scan.store import FIXED_COLUMNS, TRAILING_COLUMNS


@dataclasses.dataclass
class Outcome:
    """What the summary needs of one point (finished now, earlier, or failed)."""

    key: str
    index: int
    status: str
    params: dict[str, Any]
    wall_s: float = float("nan")
    backend: str = ""
    residual: float = float("nan")
    observables: dict[str, float] = dataclasses.field(default_factory=dict)
    arrays: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
    error: str | None = None


def short_arrays(arrays: Mapping[str, np.ndarray], flatten_max: int) -> dict[str, np.ndarray]:
    """The arrays that may become summary columns (real, 1-D, at most ``flatten_max``)."""
    out = {}
    for name, a in arrays.items():
        a = np.asarray(a)
        if a.ndim == 1 and a.size <= flatten_max and a.dtype.kind in "biuf":
            out[name] = a
    return out


def observable_columns(
    outcomes: Sequence[Outcome], flatten_max: int
) -> tuple[list[str], dict[str, int]]:
    """Scalar observable names (first-seen order) and flattened array names -> length."""
    scalars: list[str] = []
    lengths: dict[str, int] = {}
    excluded: set[str] = set()
    for o in outcomes:
        if o.status != "ok":
            continue
        scalars += [k for k in o.observables if k not in scalars]
        short = short_arrays(o.arrays, flatten_max)
        for name, a in o.arrays.items():
            if name not in short:
                excluded.add(name)
            else:
                lengths[name] = max(lengths.get(name, 0), a.size)
    return scalars, {k: n for k, n in lengths.items() if k not in excluded}


def summary_table(
    outcomes: Sequence[Outcome], param_names: Sequence[str], flatten_max: int
) -> tuple[list[str], list[dict[str, Any]], list[str]]:
    """``(columns, rows, observable names)`` of the summary; rows in design order."""
    scalars, lengths = observable_columns(outcomes, flatten_max)
    obs_names = list(scalars) + [f"{k}[{i}]" for k, n in lengths.items() for i in range(n)]
    columns = (
        list(FIXED_COLUMNS)
        + [f"param.{p}" for p in param_names]
        + [f"obs.{n}" for n in obs_names]
        + list(TRAILING_COLUMNS)
    )
    rows = []
    for o in sorted(outcomes, key=lambda o: o.index):
        row: dict[str, Any] = {
            "key": o.key, "status": o.status, "wall_s": o.wall_s, "backend": o.backend,
            "residual": o.residual, "error": o.error,
        }
        for p in param_names:
            row[f"param.{p}"] = o.params.get(p)
        for name in scalars:
            row[f"obs.{name}"] = o.observables.get(name, float("nan"))
        for name, n in lengths.items():
            a = o.arrays.get(name)
            for i in range(n):
                ok = a is not None and a.ndim == 1 and i < a.size
                row[f"obs.{name}[{i}]"] = float(a[i]) if ok else float("nan")
        rows.append(row)
    return columns, rows, obs_names
