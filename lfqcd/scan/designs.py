"""Parameter designs: full grids, explicit lists and quasi-random boxes (Sobol, Latin hypercube).

Each generator returns a list of dicts ``{name: value}`` holding only the *varied* inputs;
:func:`lfqcd.scan.points.resolve_points` merges them with defaults, preset and fixed values.
Quasi-random designs use :mod:`scipy.stats.qmc` with a scrambling seed, so the same seed gives
the same points. Sobol' sequences keep their balance properties for powers of two
(``n_points = 2**m``); other sizes take the first ``n_points`` points of the sequence.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy.stats import qmc

from lfqcd.errors import InvalidParameterError
from lfqcd.scan.config import SAMPLERS, DesignSpec, Range

Point = dict[str, Any]


def grid_design(axes: Mapping[str, Sequence[Any]]) -> list[Point]:
    """Cartesian product of the axes; the last axis varies fastest."""
    for name, values in axes.items():
        if len(values) == 0:
            raise InvalidParameterError(f"design axis {name!r} is empty")
    names = list(axes)
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*axes.values())]


def list_design(points: Sequence[Mapping[str, Any]]) -> list[Point]:
    """An explicit list of points (each point may name a different subset of inputs)."""
    if len(points) == 0:
        raise InvalidParameterError("explicit design point list is empty")
    return [dict(p) for p in points]


def _sampler(kind: str, d: int, seed: int) -> qmc.QMCEngine:
    rng = np.random.default_rng(seed)
    cls = {"sobol": qmc.Sobol, "lhs": qmc.LatinHypercube}[kind]
    try:
        return cls(d, scramble=True, rng=rng)
    except TypeError:  # SciPy < 1.15 calls it ``seed``
        return cls(d, scramble=True, seed=rng)


def unit_sample(kind: str, d: int, n: int, seed: int) -> np.ndarray:
    """``n`` points of the ``kind`` design in the unit cube ``[0, 1)^d`` (seeded)."""
    if kind not in SAMPLERS:
        raise InvalidParameterError(f"unknown sampler {kind!r}; choose one of {SAMPLERS}")
    if n < 1:
        raise InvalidParameterError(f"a {kind} design needs n_points >= 1, got {n}")
    engine = _sampler(kind, d, seed)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*balance properties.*")
        return engine.random(n)


def scale_to_box(u: np.ndarray, ranges: Mapping[str, Range]) -> list[Point]:
    """Map unit-cube samples ``u`` (shape ``(n, d)``) onto the box; respects log/integer axes.

    Integer axes split ``[0, 1)`` into ``high - low + 1`` equal cells, so every integer in
    ``[low, high]`` is equally likely and the bounds are never exceeded.
    """
    names = list(ranges)
    if u.ndim != 2 or u.shape[1] != len(names):
        raise ValueError(f"samples have shape {u.shape}, expected (n, {len(names)})")
    cols: list[list[Any]] = []
    for j, name in enumerate(names):
        r = ranges[name]
        x = u[:, j]
        if r.integer:
            lo, hi = int(r.low), int(r.high)
            vals = np.minimum(lo + np.floor(x * (hi - lo + 1)), hi).astype(int)
            cols.append([int(v) for v in vals])
        elif r.log:
            lo, hi = np.log(r.low), np.log(r.high)
            cols.append([float(np.clip(np.exp(lo + v * (hi - lo)), r.low, r.high)) for v in x])
        else:
            cols.append([float(np.clip(r.low + v * (r.high - r.low), r.low, r.high)) for v in x])
    return [dict(zip(names, row, strict=True)) for row in zip(*cols, strict=True)]


def box_design(kind: str, ranges: Mapping[str, Range], n: int, seed: int) -> list[Point]:
    """``n`` quasi-random points (``"sobol"`` or ``"lhs"``) in the box ``ranges``."""
    if not ranges:
        raise InvalidParameterError(f"a {kind} design needs at least one range")
    return scale_to_box(unit_sample(kind, len(ranges), n, seed), ranges)


def sobol_design(ranges: Mapping[str, Range], n: int, seed: int = 0) -> list[Point]:
    """Scrambled Sobol' points in the box (use ``n = 2**m`` for balanced designs)."""
    return box_design("sobol", ranges, n, seed)


def lhs_design(ranges: Mapping[str, Range], n: int, seed: int = 0) -> list[Point]:
    """Latin-hypercube points in the box: one point per stratum along every axis."""
    return box_design("lhs", ranges, n, seed)


def cross(a: Sequence[Point], b: Sequence[Point]) -> list[Point]:
    """Every point of ``a`` combined with every point of ``b`` (``a`` varies slowest)."""
    return [{**p, **q} for p in a for q in b]


def build_design(spec: DesignSpec, seed: int = 0) -> list[Point]:
    """The varied values of every point of a validated :class:`DesignSpec`."""
    block: list[Point] = [{}]
    if spec.sampler is not None:
        assert spec.n_points is not None
        block = box_design(spec.sampler, spec.ranges, spec.n_points, seed)
    elif spec.points is not None:
        block = list_design(spec.points)
    grid = grid_design({k: a.values for k, a in spec.axes.items()}) if spec.axes else [{}]
    return cross(grid, block)


def unit_coordinates(points: Sequence[Mapping[str, Any]], names: Sequence[str]) -> np.ndarray:
    """Numeric coordinates of ``points`` along ``names`` rescaled to ``[0, 1]`` per axis.

    Used to order points along a short path and to pick the nearest warm start; strings
    and missing values map to 0.
    """
    X = np.zeros((len(points), len(names)))
    for j, name in enumerate(names):
        col = [p.get(name) for p in points]
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in col):
            x = np.asarray(col, dtype=float)
            span = x.max() - x.min() if x.size else 0.0
            X[:, j] = (x - x.min()) / span if span > 0 else 0.0
    return X
