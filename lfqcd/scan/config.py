"""Scan configuration: the TOML schema, its validation and the resolved, serialisable form.

Schema (every table and key is optional except ``[design]``; see ``runs/scan_toy.toml``)::

    [scan]
    simulator = "heavy_meson.simulator:simulate"   # "module:function"; the CLI accepts only
                                # registered simulators unless --allow-simulator-import
    name = "my_scan"            # label used in messages and plot titles
    out = "out/my_scan"         # results folder (CLI --out wins)
    backend = "auto"            # eigensolver backend passed to the simulator
    preset = "illustrative"     # fixed couplings from lfqcd.couplings.get_preset(name)
    seed = 0                    # seed of the quasi-random designs
    reuse = true                # operator reuse + warm starts; false rebuilds per point
    retry_failed = true         # re-run points that failed in an earlier run

    [fixed]                     # values for every point (override the preset)
    G = 1.0

    [design]
    sampler = "sobol"           # "sobol" | "lhs" over [design.ranges], n_points points
    n_points = 64
    points = [{t_F = 0.3, mu = 1.0}]   # explicit list (instead of sampler/ranges)
    [design.ranges]             # box for the sampler: [low, high] or {low, high, log, integer}
    t_F = [0.2, 0.8]
    [design.axes]               # full grid: a list of values or {start, stop, num, log}
    delta = [0.4, 0.3]

    [executor]
    kind = "process"            # "process" | "serial" | "dask" | "mpi"
    workers = 2                 # default: all usable cores
    address = ""                # Dask scheduler (else env LFQCD_DASK_SCHEDULER, else local)
    scheduler_file = ""         # Dask scheduler file (Slurm set-ups)
    connect_timeout_s = 10.0

    [output]
    plots = true
    progress = "auto"           # "auto" (TTY and not CI) | true | false
    flatten_max = 16            # 1-D arrays up to this length become obs.<name>[<i>] columns

The grid axes are crossed with the sampled block (or the explicit list) when both are given.
Precedence: CLI flags > configuration file > defaults.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from lfqcd.errors import ConfigError, InvalidParameterError
from lfqcd.tomlio import read_toml

DEFAULT_SIMULATOR = "heavy_meson.simulator:simulate"
SAMPLERS = ("sobol", "lhs")
EXECUTORS = ("process", "serial", "dask", "mpi")
ENV_SCHEDULER = "LFQCD_DASK_SCHEDULER"

_TABLES = {
    "scan": {"simulator", "name", "out", "backend", "preset", "seed", "reuse", "retry_failed"},
    "fixed": None,
    "design": {"sampler", "n_points", "points", "ranges", "axes"},
    "executor": {"kind", "workers", "address", "scheduler_file", "connect_timeout_s",
                 "start_method"},
    "output": {"plots", "progress", "flatten_max"},
}


@dataclasses.dataclass(frozen=True)
class Range:
    """A box edge for quasi-random designs: ``low < high``; optional log scale or integers."""

    low: float
    high: float
    log: bool = False
    integer: bool = False


@dataclasses.dataclass(frozen=True)
class Axis:
    """A grid axis: an explicit, non-empty tuple of values."""

    values: tuple[float | int | str, ...]


@dataclasses.dataclass(frozen=True)
class DesignSpec:
    """Which points to run: grid axes crossed with a sampled box or an explicit list."""

    axes: dict[str, Axis] = dataclasses.field(default_factory=dict)
    sampler: str | None = None
    n_points: int | None = None
    ranges: dict[str, Range] = dataclasses.field(default_factory=dict)
    points: tuple[dict[str, Any], ...] | None = None

    def varied(self) -> list[str]:
        """Names of the varied inputs, in declaration order."""
        names = list(self.axes) + list(self.ranges)
        for p in self.points or ():
            names += [k for k in p if k not in names]
        return names


@dataclasses.dataclass(frozen=True)
class ExecutorSpec:
    """Where the points run (see :mod:`lfqcd.scan.executors`)."""

    kind: str = "process"
    workers: int | None = None
    address: str | None = None
    scheduler_file: str | None = None
    connect_timeout_s: float = 10.0
    start_method: str | None = None


@dataclasses.dataclass(frozen=True)
class OutputSpec:
    """Plots, progress bar and summary flattening."""

    plots: bool = True
    progress: str | bool = "auto"
    flatten_max: int = 16


@dataclasses.dataclass(frozen=True)
class ScanConfig:
    """A validated scan configuration (names are checked against the simulator later)."""

    design: DesignSpec
    simulator: str = DEFAULT_SIMULATOR
    name: str = "scan"
    out: str | None = None
    backend: str = "auto"
    preset: str | None = None
    seed: int = 0
    reuse: bool = True
    retry_failed: bool = True
    fixed: dict[str, Any] = dataclasses.field(default_factory=dict)
    executor: ExecutorSpec = dataclasses.field(default_factory=ExecutorSpec)
    output: OutputSpec = dataclasses.field(default_factory=OutputSpec)
    source: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The full resolved configuration as plain JSON-compatible data."""
        d = dataclasses.asdict(self)
        d["design"] = science_design(self.design)
        return d

    def science_dict(self) -> dict[str, Any]:
        """The parts that determine the results (compared when resuming a results folder).

        The executor, output options, ``out``, ``reuse``, ``retry_failed`` and ``name`` only
        change how and where points run, so a folder may be resumed with different values.
        """
        return {
            "simulator": self.simulator,
            "backend": self.backend,
            "preset": self.preset,
            "seed": self.seed,
            "fixed": dict(sorted(self.fixed.items())),
            "design": science_design(self.design),
        }

    def with_overrides(self, **changes: Any) -> ScanConfig:
        """Copy with top-level fields and ``executor_*``/``output_*`` fields replaced.

        ``None`` values are ignored, so CLI flags that were not given leave the file's value.
        """
        top: dict[str, Any] = {}
        ex: dict[str, Any] = {}
        out: dict[str, Any] = {}
        for key, value in changes.items():
            if value is None:
                continue
            if key.startswith("executor_"):
                ex[key.removeprefix("executor_")] = value
            elif key.startswith("output_"):
                out[key.removeprefix("output_")] = value
            else:
                top[key] = value
        cfg = dataclasses.replace(self, **top)
        if ex:
            cfg = dataclasses.replace(cfg, executor=dataclasses.replace(cfg.executor, **ex))
        if out:
            cfg = dataclasses.replace(cfg, output=dataclasses.replace(cfg.output, **out))
        _check_executor(cfg.executor)
        _check_output(cfg.output)
        return cfg


def science_design(design: DesignSpec) -> dict[str, Any]:
    """JSON form of a design (what the results depend on)."""
    return {
        "axes": {k: list(a.values) for k, a in design.axes.items()},
        "sampler": design.sampler,
        "n_points": design.n_points,
        "ranges": {k: dataclasses.asdict(r) for k, r in design.ranges.items()},
        "points": None if design.points is None else [dict(p) for p in design.points],
    }


def load_config(path: str | os.PathLike[str]) -> ScanConfig:
    """Read and validate a scan TOML file."""
    raw = read_toml(path, "scan configuration")
    return config_from_dict(raw, source=str(path))


def config_from_dict(raw: Mapping[str, Any], *, source: str | None = None) -> ScanConfig:
    """Validate a configuration given as nested dicts (the parsed TOML)."""
    where = source or "scan configuration"
    unknown = sorted(set(raw) - set(_TABLES))
    if unknown:
        raise ConfigError(
            f"{where}: unknown table(s) {', '.join(map(repr, unknown))}; "
            f"allowed: {', '.join(_TABLES)}"
        )
    tables: dict[str, dict[str, Any]] = {}
    for name, allowed in _TABLES.items():
        t = raw.get(name, {})
        if not isinstance(t, Mapping):
            raise ConfigError(f"{where}: [{name}] must be a table, got {t!r}")
        if allowed is not None:
            bad = sorted(set(t) - allowed)
            if bad:
                raise ConfigError(
                    f"{where}: unknown key(s) {', '.join(map(repr, bad))} in [{name}]; "
                    f"allowed: {', '.join(sorted(allowed))}"
                )
        tables[name] = dict(t)
    if "design" not in raw:
        raise ConfigError(f"{where}: missing [design] table (what to vary)")
    s = tables["scan"]
    fixed = tables["fixed"]
    for k, v in fixed.items():
        _check_value(f"[fixed] {k}", v)
    design = _parse_design(tables["design"], where)
    clash = sorted(set(fixed) & set(design.varied()))
    if clash:
        raise ConfigError(
            f"{where}: {', '.join(clash)} is both fixed and varied; remove it from one of them"
        )
    executor = ExecutorSpec(**{k: (v or None) if k in ("address", "scheduler_file",
                                                         "start_method") else v
                               for k, v in tables["executor"].items()})
    _check_executor(executor)
    output = OutputSpec(**tables["output"])
    _check_output(output)
    cfg = ScanConfig(
        design=design,
        simulator=_typed(s, "simulator", str, DEFAULT_SIMULATOR, where),
        name=_typed(s, "name", str, Path(source).stem if source else "scan", where),
        out=_typed(s, "out", str, None, where) or None,
        backend=_typed(s, "backend", str, "auto", where),
        preset=_typed(s, "preset", str, None, where) or None,
        seed=_typed(s, "seed", int, 0, where),
        reuse=_typed(s, "reuse", bool, True, where),
        retry_failed=_typed(s, "retry_failed", bool, True, where),
        fixed=fixed,
        executor=executor,
        output=output,
        source=source,
    )
    return cfg


def _typed(table: Mapping[str, Any], key: str, typ: type, default: Any, where: str) -> Any:
    if key not in table:
        return default
    val = table[key]
    if typ is int and isinstance(val, bool) or not isinstance(val, typ):
        raise ConfigError(f"{where}: [scan] {key} must be {typ.__name__}, got {val!r}")
    return val


def _check_value(what: str, v: Any) -> None:
    if isinstance(v, bool) or not isinstance(v, (int, float, str)):
        raise ConfigError(f"{what} must be a number or a string, got {v!r}")
    if isinstance(v, float) and not math.isfinite(v):
        raise InvalidParameterError(f"{what} must be finite, got {v!r}")


def _parse_design(t: Mapping[str, Any], where: str) -> DesignSpec:
    axes = {name: _parse_axis(name, spec) for name, spec in dict(t.get("axes", {})).items()}
    ranges = {name: _parse_range(name, spec) for name, spec in dict(t.get("ranges", {})).items()}
    sampler = t.get("sampler")
    n_points = t.get("n_points")
    points = t.get("points")
    if sampler is not None and sampler not in SAMPLERS:
        raise ConfigError(f"{where}: [design] sampler must be one of {SAMPLERS}, got {sampler!r}")
    if points is not None and (ranges or sampler is not None):
        raise ConfigError(
            f"{where}: [design] gives both an explicit 'points' list and a sampled box; "
            f"use one of them (grid 'axes' may be combined with either)"
        )
    if ranges and sampler is None:
        raise ConfigError(f"{where}: [design.ranges] needs sampler = \"sobol\" or \"lhs\"")
    if sampler is not None:
        if not ranges:
            raise ConfigError(f"{where}: sampler {sampler!r} needs a [design.ranges] box")
        if isinstance(n_points, bool) or not isinstance(n_points, int):
            raise ConfigError(f"{where}: [design] n_points must be an integer, got {n_points!r}")
        if n_points < 1:
            raise InvalidParameterError(f"{where}: [design] n_points={n_points} gives an empty "
                                        f"design; need n_points >= 1")
    elif n_points is not None:
        raise ConfigError(f"{where}: [design] n_points is only used with a sampler")
    pts: tuple[dict[str, Any], ...] | None = None
    if points is not None:
        if not isinstance(points, list) or not all(isinstance(p, Mapping) for p in points):
            raise ConfigError(f"{where}: [design] points must be a list of tables")
        if not points:
            raise InvalidParameterError(f"{where}: [design] points is an empty list")
        for p in points:
            for k, v in p.items():
                _check_value(f"[design] points {k}", v)
        pts = tuple(dict(p) for p in points)
    if not axes and sampler is None and pts is None:
        raise ConfigError(f"{where}: [design] varies nothing; give axes, ranges or points")
    clash = sorted(set(axes) & (set(ranges) | {k for p in pts or () for k in p}))
    if clash:
        raise ConfigError(f"{where}: {', '.join(clash)} appears both as a grid axis and in the "
                          f"sampled box/point list")
    return DesignSpec(axes=axes, sampler=sampler, n_points=n_points, ranges=ranges, points=pts)


def _parse_axis(name: str, spec: Any) -> Axis:
    if isinstance(spec, list):
        if not spec:
            raise InvalidParameterError(f"design axis {name!r} is empty; give at least one value")
        for v in spec:
            _check_value(f"design axis {name}", v)
        return Axis(tuple(spec))
    if isinstance(spec, Mapping):
        bad = set(spec) - {"start", "stop", "num", "log"}
        if bad or not {"start", "stop", "num"} <= set(spec):
            raise ConfigError(
                f"design axis {name!r} must be a list or {{start, stop, num[, log]}}, got {spec!r}"
            )
        start, stop, num, log = spec["start"], spec["stop"], spec["num"], spec.get("log", False)
        if isinstance(num, bool) or not isinstance(num, int) or num < 1:
            raise InvalidParameterError(f"design axis {name!r}: num={num!r} must be >= 1")
        if num > 1 and start == stop:
            raise InvalidParameterError(
                f"design axis {name!r} is an empty range: start = stop = {start}"
            )
        if log:
            if start <= 0 or stop <= 0:
                raise InvalidParameterError(f"design axis {name!r}: log axis needs start, stop > 0")
            vals = np.geomspace(start, stop, num)
        else:
            vals = np.linspace(start, stop, num)
        return Axis(tuple(float(v) for v in vals))
    raise ConfigError(f"design axis {name!r} must be a list or a table, got {spec!r}")


def _parse_range(name: str, spec: Any) -> Range:
    if isinstance(spec, list):
        if len(spec) != 2:
            raise ConfigError(f"design range {name!r} must be [low, high], got {spec!r}")
        r = Range(spec[0], spec[1])
    elif isinstance(spec, Mapping):
        bad = set(spec) - {"low", "high", "log", "integer"}
        if bad or not {"low", "high"} <= set(spec):
            raise ConfigError(
                f"design range {name!r} must be [low, high] or {{low, high[, log, integer]}}"
            )
        r = Range(spec["low"], spec["high"], bool(spec.get("log", False)),
                  bool(spec.get("integer", False)))
    else:
        raise ConfigError(f"design range {name!r} must be [low, high], got {spec!r}")
    for v in (r.low, r.high):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise InvalidParameterError(f"design range {name!r}: bound {v!r} is not a number")
    if not r.low < r.high:
        raise InvalidParameterError(
            f"design range {name!r} is empty: low={r.low} must be < high={r.high}"
        )
    if r.log and r.low <= 0:
        raise InvalidParameterError(f"design range {name!r}: log scale needs low > 0")
    if r.integer and (int(r.low) != r.low or int(r.high) != r.high):
        raise InvalidParameterError(f"design range {name!r}: integer range needs integer bounds")
    return Range(float(r.low), float(r.high), r.log, r.integer)


def _check_executor(ex: ExecutorSpec) -> None:
    if ex.kind not in EXECUTORS:
        raise ConfigError(f"[executor] kind must be one of {EXECUTORS}, got {ex.kind!r}")
    if ex.workers is not None and (
        isinstance(ex.workers, bool) or not isinstance(ex.workers, int) or ex.workers < 1
    ):
        raise InvalidParameterError(f"[executor] workers must be a positive integer, "
                                    f"got {ex.workers!r}")
    if not isinstance(ex.connect_timeout_s, (int, float)) or ex.connect_timeout_s <= 0:
        raise InvalidParameterError(
            f"[executor] connect_timeout_s must be > 0, got {ex.connect_timeout_s!r}"
        )


def _check_output(out: OutputSpec) -> None:
    if out.progress not in ("auto", True, False):
        raise ConfigError(f"[output] progress must be \"auto\", true or false, "
                          f"got {out.progress!r}")
    if isinstance(out.flatten_max, bool) or not isinstance(out.flatten_max, int) \
            or out.flatten_max < 0:
        raise ConfigError(f"[output] flatten_max must be an integer >= 0, got {out.flatten_max!r}")
