"""Turn a configuration into complete, validated, keyed scan points.

Every point holds every input by name: simulator defaults < preset < ``[fixed]`` < design.
Names the simulator does not declare are rejected (with a "did you mean" hint), values are cast
to the type of the simulator's default (an ``int`` resolution stays ``int``), the simulator's
own ``validate`` hook is run on every point before anything is submitted, and duplicate points
(same key) are run once.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import math
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

from lfqcd.errors import ConfigError, InvalidParameterError, LFQCDError
from lfqcd.scan.config import ScanConfig
from lfqcd.scan.designs import build_design
from lfqcd.scan.keys import code_version, plain, point_key
from lfqcd.simulator import BACKEND_KEY, SimulatorSpec


@dataclasses.dataclass(frozen=True)
class ScanPoint:
    """One point of a scan: its key, complete inputs and grouping information."""

    index: int
    key: str
    params: dict[str, Any]
    resolution: tuple[Hashable, ...]


@dataclasses.dataclass(frozen=True)
class ResolvedScan:
    """The points of a scan plus what was resolved on the way (stored in ``scan.json``)."""

    points: list[ScanPoint]
    param_names: list[str]
    varied: list[str]
    preset_values: dict[str, Any]
    code_version: dict[str, Any]
    duplicates: int


def load_preset(name: str) -> dict[str, Any]:
    """Couplings of the named preset from :mod:`lfqcd.couplings`."""
    try:
        couplings = importlib.import_module("lfqcd.couplings")
    except ImportError as exc:
        raise ConfigError(
            f"preset {name!r} needs lfqcd.couplings.get_preset, which is not available "
            f"({exc}); give the couplings in [fixed] instead"
        ) from exc
    try:
        preset = couplings.get_preset(name)
    except LFQCDError:
        raise
    except KeyError as exc:
        raise InvalidParameterError(f"unknown coupling preset {name!r}") from exc
    # get_preset returns a Preset whose ``couplings`` has ``to_dict()``; accept a plain mapping
    values = getattr(preset, "couplings", preset)
    if not isinstance(values, Mapping):
        values = values.to_dict()
    return {str(k): plain(v) for k, v in dict(values).items()}


def _coerce(name: str, value: Any, default: Any) -> Any:
    value = plain(value)
    if default is None:
        return value
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise InvalidParameterError(f"{name} must be true or false, got {value!r}")
        return value
    if isinstance(default, int):
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidParameterError(f"{name} must be an integer, got {value!r}")
        return value
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InvalidParameterError(f"{name} must be a number, got {value!r}")
        if math.isinf(value):  # NaN is allowed: simulators use it as "not set"
            raise InvalidParameterError(f"{name} must be finite, got {value!r}")
        return float(value)
    if isinstance(default, str) and not isinstance(value, str):
        raise InvalidParameterError(f"{name} must be a string, got {value!r}")
    return value


def check_names(
    sources: Mapping[str, Sequence[str]], known: Sequence[str], simulator: str
) -> None:
    """Raise :class:`InvalidParameterError` listing every unknown name and where it is used."""
    problems = []
    for where, names in sources.items():
        for name in names:
            if name == BACKEND_KEY:
                problems.append(f"{name!r} in {where} (set the backend with [scan] backend)")
            elif name not in known:
                close = difflib.get_close_matches(name, known, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                problems.append(f"{name!r} in {where}{hint}")
    if problems:
        raise InvalidParameterError(
            f"unknown coupling name(s) for simulator {simulator}: {'; '.join(problems)}. "
            f"Known names: {', '.join(known)}"
        )


def resolve_points(cfg: ScanConfig, spec: SimulatorSpec) -> ResolvedScan:
    """All points of ``cfg`` for the simulator ``spec``, validated and keyed (design order)."""
    defaults = spec.defaults()
    preset = load_preset(cfg.preset) if cfg.preset else {}
    design = build_design(cfg.design, cfg.seed)
    varied = cfg.design.varied()
    sources = {f"preset {cfg.preset!r}": list(preset), "[fixed]": list(cfg.fixed),
               "[design]": varied}
    if defaults is not None:
        check_names(sources, list(defaults), spec.ref)
    else:  # any name is accepted, except the reserved backend key
        check_names({k: [n for n in v if n == BACKEND_KEY] for k, v in sources.items()},
                    [], spec.ref)
    base: dict[str, Any] = {**(defaults or {}), **preset, **cfg.fixed}
    version = code_version(spec.version)
    seen: set[str] = set()
    points: list[ScanPoint] = []
    errors: list[str] = []
    n_invalid = 0
    for i, d in enumerate(design):
        raw = {**base, **d}
        try:
            params = {
                name: _coerce(name, value, (defaults or {}).get(name))
                for name, value in raw.items()
            }
            if spec.validate is not None:
                spec.validate(params)
        except (LFQCDError, ValueError, TypeError) as exc:
            n_invalid += 1
            if len(errors) < 3:
                shown = ", ".join(f"{k}={d[k]!r}" for k in d) or "fixed values"
                errors.append(f"point {i + 1} ({shown}): {exc}")
            continue
        key = point_key(spec.ref, params, cfg.backend, version)
        if key in seen:
            continue
        seen.add(key)
        points.append(ScanPoint(len(points), key, params, spec.resolution_key(params)))
    if errors:
        more = f" (and {n_invalid - len(errors)} more)" if n_invalid > len(errors) else ""
        raise InvalidParameterError(
            f"{n_invalid} of {len(design)} scan points are invalid: {'; '.join(errors)}{more}"
        )
    names = list(base) + [v for v in varied if v not in base]
    return ResolvedScan(
        points=points,
        param_names=names,
        varied=varied,
        preset_values=preset,
        code_version=version,
        duplicates=len(design) - len(points),
    )
