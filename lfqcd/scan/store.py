"""The resumable scan result store: one folder per scan.

Layout (a contract: :mod:`mlsurrogate` reads it)::

    <out>/scan.json          {"params", "observables", "config", "version", "seeds", ...}
    <out>/manifest.jsonl     one JSON line per finished or failed point (append-only)
    <out>/summary.csv        one row per point: key, status, wall_s, backend, param.*, obs.*,
                             residual, error
    <out>/points/<key>.npz   one file per finished point, written atomically
    <out>/plots/<obs>.png    each scalar observable against each varied input

Writes are atomic: a temporary file in the same folder (``.<name>.<pid>.<thread>.tmp``), then
``os.replace``; a reader never sees a partial file under the final name. The manifest is
appended under a :class:`filelock.FileLock`; a truncated last line (a crash during the append)
is skipped on reading. A point counts as finished only when its manifest entry says ``ok``
*and* its point file loads completely (every member read, so the zip CRCs are checked) and
names the right key; otherwise it is recomputed. Because every file is validated on resume,
nothing is ``fsync``-ed: after an operating-system crash a file that did not reach the disk
is simply recomputed (``fsync`` cost ~8 ms per point on the development VM).
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import json
import math
import os
import time
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from filelock import FileLock

from lfqcd.errors import ConfigError, ResultFileError
from lfqcd.outdir import MARKER, atomic_write, atomic_write_text, json_finite
from lfqcd.scan.keys import canonical_json, plain

POINT_FORMAT = "lfqcd-scan-point/1"
STORE_FORMAT = "lfqcd-scan-store/1"
FIXED_COLUMNS = ("key", "status", "wall_s", "backend")
TRAILING_COLUMNS = ("residual", "error")


@dataclasses.dataclass
class PointData:
    """The contents of one point file."""

    meta: dict[str, Any]
    observables: dict[str, float]
    arrays: dict[str, np.ndarray]


def config_diff(old: Any, new: Any, path: str = "", limit: int = 4) -> list[str]:
    """Human-readable differences between two JSON-like values (at most ``limit``)."""
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        out: list[str] = []
        for k in sorted(set(old) | set(new)):
            sub = f"{path}.{k}" if path else str(k)
            if k not in old:
                out.append(f"{sub}: added {new[k]!r}")
            elif k not in new:
                out.append(f"{sub}: removed (was {old[k]!r})")
            else:
                out += config_diff(old[k], new[k], sub, limit)
            if len(out) >= limit:
                break
        return out[:limit]
    if canonical_json(old) != canonical_json(new):
        return [f"{path}: {old!r} -> {new!r}"]
    return []


class ScanStore:
    """Read and write one scan's results folder (see the module docstring)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.points_dir = self.root / "points"
        self.plots_dir = self.root / "plots"
        self.meta_path = self.root / "scan.json"
        self.manifest_path = self.root / "manifest.jsonl"
        self.summary_path = self.root / "summary.csv"
        self._lock = FileLock(str(self.root / ".manifest.lock"))

    # scan.json ---------------------------------------------------------------------------
    def read_meta(self) -> dict[str, Any] | None:
        """The stored ``scan.json``, or ``None`` for a new folder."""
        if not self.meta_path.exists():
            return None
        try:
            return json.loads(self.meta_path.read_text())
        except (OSError, ValueError) as exc:
            raise ResultFileError(f"{self.meta_path} is unreadable ({exc}); it describes the "
                                  f"results in {self.root}, restore or remove it") from exc

    def check_compatible(self, science: Mapping[str, Any]) -> None:
        """Refuse a folder written by a different scan configuration (nothing is touched).

        ``science`` is :meth:`ScanConfig.science_dict` plus the resolved preset values.
        """
        if not self.root.exists():
            return
        meta = self.read_meta()
        if meta is None:
            if any(p.name != MARKER for p in self.root.iterdir()):
                raise ConfigError(
                    f"results folder {self.root} exists, is not empty and is not a scan store "
                    f"(no scan.json); choose a new or empty folder with --out"
                )
            return
        old = meta.get("science")
        new = json_finite(plain(dict(science)))  # as stored: NaN -> null
        if old is None or canonical_json(old) != canonical_json(new):
            diff = config_diff(old or {}, new)
            raise ConfigError(
                f"results folder {self.root} was written by a different scan configuration "
                f"({'; '.join(diff) or 'unknown format'}); refusing to mix results. Use a new "
                f"folder (--out) or restore the original configuration; nothing was deleted"
            )

    def write_meta(self, meta: Mapping[str, Any]) -> None:
        """Atomically (re)write ``scan.json``."""
        text = json.dumps(json_finite(plain(dict(meta))), indent=2, allow_nan=False)
        atomic_write_text(self.meta_path, text + "\n")

    # point files -------------------------------------------------------------------------
    def point_path(self, key: str) -> Path:
        """Where the point file of ``key`` lives."""
        return self.points_dir / f"{key}.npz"

    def write_point(
        self,
        key: str,
        meta: Mapping[str, Any],
        observables: Mapping[str, float],
        arrays: Mapping[str, np.ndarray],
    ) -> Path:
        """Atomically write ``points/<key>.npz`` and return its path."""
        content: dict[str, np.ndarray] = {
            "__meta__": np.array(
                json.dumps(json_finite(plain({**meta, "key": key, "format": POINT_FORMAT})))
            )
        }
        for name, value in observables.items():
            content[f"obs.{name}"] = np.asarray(value, dtype=float)
        for name, arr in arrays.items():
            content[f"arr.{name}"] = np.asarray(arr)
        path = self.point_path(key)
        atomic_write(path, lambda fh: np.savez(fh, **content))
        return path

    def load_point(self, key: str) -> PointData:
        """Read and validate a point file; :class:`ResultFileError` if missing or corrupt."""
        path = self.point_path(key)
        try:
            with np.load(path, allow_pickle=False) as z:
                data = {name: z[name] for name in z.files}  # reads all members: CRC checked
            meta = json.loads(str(data.pop("__meta__")))
        except FileNotFoundError as exc:
            raise ResultFileError(f"point file {path} is missing") from exc
        except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as exc:
            raise ResultFileError(f"point file {path} is corrupt or truncated ({exc})") from exc
        if meta.get("format") != POINT_FORMAT or meta.get("key") != key:
            raise ResultFileError(f"point file {path} does not belong to point {key}")
        obs = {k[4:]: float(v) for k, v in data.items() if k.startswith("obs.")}
        arrays = {k[4:]: v for k, v in data.items() if k.startswith("arr.")}
        return PointData(meta, obs, arrays)

    # manifest ----------------------------------------------------------------------------
    def append_manifest(self, entry: Mapping[str, Any]) -> None:
        """Append one JSON line under the file lock."""
        line = json.dumps(json_finite(plain(dict(entry))), allow_nan=False)
        self.root.mkdir(parents=True, exist_ok=True)
        with self._lock, open(self.manifest_path, "ab+") as fh:
            fh.seek(0, io.SEEK_END)
            if fh.tell() > 0:
                fh.seek(-1, io.SEEK_END)
                if fh.read(1) != b"\n":  # a previous writer died mid-line
                    fh.write(b"\n")
            fh.write(line.encode("utf-8") + b"\n")

    def read_manifest(self) -> tuple[dict[str, dict[str, Any]], int]:
        """Latest entry per key, and the number of unreadable lines that were skipped."""
        latest: dict[str, dict[str, Any]] = {}
        bad = 0
        if not self.manifest_path.exists():
            return latest, bad
        with self._lock:
            text = self.manifest_path.read_text(encoding="utf-8", errors="replace")
        for line in text.splitlines():
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
                latest[str(entry["key"])] = entry
            except (ValueError, KeyError, TypeError):
                bad += 1
        return latest, bad

    def manifest_entries(self) -> list[dict[str, Any]]:
        """Every readable manifest line, in order (duplicates included)."""
        out = []
        if self.manifest_path.exists():
            for line in self.manifest_path.read_text().splitlines():
                with contextlib.suppress(ValueError):
                    out.append(json.loads(line))
        return out

    # summary -----------------------------------------------------------------------------
    def write_summary(self, columns: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> None:
        """Atomically write ``summary.csv`` (floats in round-trip precision, NaN as ``nan``)."""
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow([_cell(row.get(c)) for c in columns])
        atomic_write_text(self.summary_path, buf.getvalue())


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (float, np.floating)):
        v = float(value)
        return "nan" if math.isnan(v) else repr(v)
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    return str(value)


def read_summary(path: str | os.PathLike[str]) -> list[dict[str, str]]:
    """Rows of a ``summary.csv`` as dicts of strings (a convenience for tests and users)."""
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def now_iso() -> str:
    """UTC time stamp for manifest entries."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
