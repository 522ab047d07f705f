"""Content keys of scan points: sha256 of canonical JSON of (point config + code version).

The key names the point file (``points/<key>.npz``) and identifies the point in the manifest,
so it must be stable: the same inputs give the same key in every process, on every machine and
in every Python session, independent of dict order. Floats are written with Python's
shortest round-trip ``repr`` (via :mod:`json`), ``-0.0`` is normalised to ``0.0`` and NumPy
scalars are converted to Python numbers first. Changing the code version changes every key, so
results of an older code are never mistaken for current ones (they stay in the folder).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from lfqcd import __version__


def plain(value: Any) -> Any:
    """Convert NumPy scalars/arrays and tuples to JSON-compatible Python values."""
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        v = float(value)
        return v + 0.0 if math.isfinite(v) else v
    if isinstance(value, np.ndarray):
        return [plain(v) for v in value.tolist()]
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def _tokens(value: Any) -> Any:
    """Non-finite floats as the strings ``"nan"``, ``"inf"``, ``"-inf"`` (JSON has none)."""
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {k: _tokens(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_tokens(v) for v in value]
    return value


def canonical_json(obj: Any) -> str:
    """Deterministic compact JSON (sorted keys, ASCII; NaN/inf spelled as strings).

    A simulator may use NaN as "not set" in its defaults (e.g. an unused counterterm), so
    non-finite inputs must hash; they become ``"nan"``/``"inf"``/``"-inf"``.
    """
    return json.dumps(_tokens(plain(obj)), sort_keys=True, separators=(",", ":"),
                      ensure_ascii=True, allow_nan=False)


def code_version(simulator_version: str | None = None) -> dict[str, str | None]:
    """The code version that enters every key: lfqcd's and the simulator package's."""
    return {"lfqcd": __version__, "simulator": simulator_version}


def point_key(
    simulator: str,
    params: Mapping[str, Any],
    backend: str,
    version: Mapping[str, Any],
) -> str:
    """sha256 hex digest identifying one point of one simulator at one code version."""
    payload = {
        "point": {"simulator": simulator, "params": dict(params), "backend": backend},
        "code_version": dict(version),
    }
    return hashlib.sha256(canonical_json(payload).encode("ascii")).hexdigest()
