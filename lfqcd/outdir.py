"""The output-folder contract shared by every command (run, calibrate, train, scan, al, ...).

:func:`prepare` is called by a command *after* its configuration is validated and *before* any
compute starts. It

1. refuses a path that is a file, or a folder that cannot be created or written (a probe file
   is written and removed), naming the path and the operating-system reason;
2. refuses a non-empty folder that holds another command's results, or the same command's
   results for another configuration (compared by :func:`config_hash`), with a message that
   says what is there; ``overwrite=True`` (the ``--overwrite`` flag) empties such a folder
   first, but only when it was written by lfqcd (a marker or known result files), never an
   unrelated folder;
3. writes the marker ``.lfqcd-out.json`` (command, configuration hash, version, time), so the
   next run in the same folder knows what is there.

The same command with the same configuration hash is accepted: that is a resume (``lfqcd run``
reuses its finished resolutions, ``lfqcd train`` its checkpoint). Commands that compare their
configurations themselves with a detailed diff (the scan and active-learning stores) pass
``config_hash=None`` and keep that check.

The helpers :func:`atomic_write`, :func:`atomic_write_text` and :func:`write_json` write via a
temporary file in the same folder and ``os.replace``, so no reader ever sees a partial file;
:func:`write_json` also replaces NaN/inf by ``null`` so the file is standard JSON.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import math
import os
import shutil
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any

from lfqcd.errors import OutputFolderError

MARKER = ".lfqcd-out.json"

#: files that identify what a folder written by an older version (no marker) holds
KNOWN_FILES: dict[str, str] = {
    "results.json": "run",
    "calibration.json": "calibrate",
    "scan.json": "scan",
    "al_state.json": "al",
    "model.pt": "train",
    "record.json": "train",
    "infer.json": "infer",
}

DESCRIPTIONS: dict[str, str] = {
    "run": "a heavy-meson run (lfqcd run: results.json)",
    "calibrate": "a calibration (lfqcd calibrate: calibration.json)",
    "scan": "a scan store (lfqcd scan: scan.json, points/)",
    "al": "an active-learning run (lfqcd al: al_state.json)",
    "train": "a trained surrogate (lfqcd train: model.pt, record.json)",
    "infer": "an inverse fit (lfqcd infer: infer.json, surrogate/)",
}


@dataclasses.dataclass(frozen=True)
class OutDir:
    """A prepared output folder; ``resume`` when it already held this command and config."""

    path: Path
    command: str
    config_hash: str | None
    resume: bool


def add_overwrite_argument(parser: Any) -> None:
    """The ``--overwrite`` flag of every command that writes an output folder."""
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an existing results folder instead of resuming or refusing")


def config_hash(config: Any) -> str:
    """A short stable hash of a JSON-like configuration (key order and NaN spelling ignored)."""
    text = json.dumps(json_finite(config), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def read_marker(path: Path) -> dict[str, Any] | None:
    """The marker of ``path``, or ``None`` when absent or unreadable."""
    try:
        data = json.loads((path / MARKER).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _contents(path: Path) -> list[str]:
    try:
        return sorted(p.name for p in path.iterdir() if p.name != MARKER)
    except OSError:
        return []


def describe(path: Path) -> str | None:
    """What a folder holds, in words (``None`` for a missing or empty folder)."""
    names = _contents(path) if path.is_dir() else []
    if not names:
        return None
    marker = read_marker(path)
    owner = owner_of(path, marker)
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    if owner is None:
        return f"files not written by lfqcd ({shown})"
    what = DESCRIPTIONS.get(owner, f"results of lfqcd {owner}")
    if marker and marker.get("config_hash"):
        what += f" for configuration {marker['config_hash']}"
    return f"{what} ({shown})"


def owner_of(path: Path, marker: Mapping[str, Any] | None = None) -> str | None:
    """The command that wrote ``path``: from the marker, else from known result files."""
    if marker is None:
        marker = read_marker(path)
    if marker and isinstance(marker.get("command"), str):
        return marker["command"]
    for name, command in KNOWN_FILES.items():
        if (path / name).exists():
            return command
    return None


def check_writable(path: Path, flag: str = "--out") -> None:
    """Create ``path`` (and parents) and prove it writable with a probe file."""
    if path.exists() and not path.is_dir():
        raise OutputFolderError(f"{flag} {path} is a file, not a folder; choose a folder path")
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".lfqcd-write-test.{os.getpid()}"
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise OutputFolderError(
            f"{flag} {path} cannot be created or written ({reason}); choose a writable folder"
        ) from exc


def prepare(
    path: str | os.PathLike[str],
    command: str,
    cfg_hash: str | None,
    *,
    overwrite: bool = False,
    flag: str = "--out",
) -> OutDir:
    """Apply the contract of the module docstring; return the prepared folder.

    Raises :class:`~lfqcd.errors.OutputFolderError` (nothing in the folder is changed then).
    """
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise OutputFolderError(f"{flag} {p} is a file, not a folder; choose a folder path")
    marker = read_marker(p) if p.is_dir() else None
    present = describe(p)
    resume = False
    if present is not None:
        owner = owner_of(p, marker)
        same_config = cfg_hash is None or (marker or {}).get("config_hash") == cfg_hash
        if owner == command and same_config and not overwrite:
            resume = True
        elif not overwrite:
            why = ("not an lfqcd results folder" if owner is None
                   else "another command's results" if owner != command
                   else "another configuration" if marker is not None
                   else "results without a recorded configuration (an older lfqcd)")
            raise OutputFolderError(
                f"{flag} {p} already holds {present}: that is {why}; refusing to mix or "
                f"replace it. Choose a new folder with {flag}, or pass --overwrite to replace it"
            )
        elif owner is None:
            raise OutputFolderError(
                f"{flag} {p} holds {present}; --overwrite only replaces folders written by "
                f"lfqcd. Choose a new or empty folder"
            )
        else:
            check_writable(p, flag)
            _empty(p)
    check_writable(p, flag)
    if not resume:  # a resumed folder is left exactly as it is
        write_json(p / MARKER, {
            "command": command, "config_hash": cfg_hash,
            "version": _version(), "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        })
    return OutDir(p, command, cfg_hash, resume)


def _empty(path: Path) -> None:
    for child in path.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


def _version() -> str:
    from lfqcd import __version__

    return __version__


# ------------------------------------------------------------------------------ atomic writes


def atomic_write(path: Path, write: Callable[[IO[bytes]], None]) -> None:
    """Write ``path`` via a temporary file and ``os.replace`` (never a partial final file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            write(fh)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """:func:`atomic_write` for UTF-8 text."""
    atomic_write(path, lambda fh: fh.write(text.encode("utf-8")))


def json_finite(value: Any) -> Any:
    """Replace NaN/inf by ``None`` (recursively) so that the value is standard JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_finite(v) for v in value]
    return value


def write_json(path: Path, data: Any, default: Callable[[Any], Any] | None = None) -> None:
    """Atomically write ``data`` as standard JSON (NaN/inf become ``null``)."""
    plain = json.loads(json.dumps(data, default=default))  # numpy etc. -> plain Python first
    text = json.dumps(json_finite(plain), indent=2, allow_nan=False)
    atomic_write_text(path, text + "\n")
