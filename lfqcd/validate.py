"""Small checks of configuration values, each raising one specific, key-naming error.

Every command validates its whole configuration with these before any compute starts; the
message always names the offending key (``[section] key``) and repeats the value, so the CLI
prints one clear line and exits with status 2.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from lfqcd.errors import ConfigError

_MISSING = object()


def number(value: Any, key: str, *, gt: float | None = None, ge: float | None = None,
           le: float | None = None) -> float:
    """A finite real number (not a bool) within the given bounds."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"{key} must be a finite number, got {value!r}")
    _bounds(value, key, gt, ge, le)
    return float(value)


def integer(value: Any, key: str, *, ge: int | None = None, le: int | None = None) -> int:
    """An integer (``3.0`` is accepted, ``3.5`` and ``true`` are not) within bounds."""
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{key} must be an integer, got {value!r}")
    _bounds(value, key, None, ge, le)
    return value


def string(value: Any, key: str, choices: Iterable[str] | None = None) -> str:
    """A string, optionally one of ``choices``."""
    if not isinstance(value, str):
        raise ConfigError(f"{key} must be a string, got {value!r}")
    if choices is not None:
        options = tuple(choices)
        if value not in options:
            raise ConfigError(f"{key} must be one of {', '.join(options)}; got {value!r}")
    return value


def numbers(value: Any, key: str) -> tuple[float, ...]:
    """A list of finite numbers."""
    if not isinstance(value, list | tuple):
        raise ConfigError(f"{key} must be a list of numbers, got {value!r}")
    return tuple(number(v, key) for v in value)


def get(table: Mapping[str, Any], name: str, key: str, default: Any = _MISSING) -> Any:
    """``table[name]`` or ``default``; a missing required value names ``key``."""
    if name in table:
        return table[name]
    if default is _MISSING:
        raise ConfigError(f"{key} is required")
    return default


def _bounds(value: float, key: str, gt: float | None, ge: float | None, le: float | None) -> None:
    if gt is not None and not value > gt:
        raise ConfigError(f"{key} must be > {gt:g}, got {value!r}")
    if ge is not None and not value >= ge:
        raise ConfigError(f"{key} must be >= {ge:g}, got {value!r}")
    if le is not None and not value <= le:
        raise ConfigError(f"{key} must be <= {le:g}, got {value!r}")


def available_memory_bytes() -> int | None:
    """Memory available to new allocations (Linux ``MemAvailable``), ``None`` if unknown."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def fits_in_memory(needed_bytes: float, key: str, what: str) -> None:
    """Refuse ``key`` when ``what`` would need more memory than is available now."""
    avail = available_memory_bytes()
    if avail is not None and needed_bytes > avail:
        raise ConfigError(
            f"{key}: {what} needs about {needed_bytes / 2**30:.3g} GiB but only "
            f"{avail / 2**30:.3g} GiB of memory is available; lower it"
        )
