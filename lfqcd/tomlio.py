"""Reading TOML configuration files with one clear error for every failure."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from lfqcd.errors import ConfigError


def read_toml(path: str | Path, what: str = "configuration") -> dict[str, Any]:
    """Parse ``path``; a missing file or invalid TOML raises :class:`ConfigError` naming it."""
    p = Path(path)
    if p.is_dir():
        raise ConfigError(f"{what} {str(p)!r} is a folder; pass the TOML configuration file")
    if not p.is_file():
        raise ConfigError(f"{what} {str(p)!r} does not exist")
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{what} {str(p)!r} is not a text file (byte {exc.start} is not UTF-8); "
            "pass the TOML configuration file"
        ) from exc
    except OSError as exc:
        raise ConfigError(f"{what} {str(p)!r} cannot be read ({exc.strerror or exc})") from exc
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: not valid TOML: {exc}") from exc
