"""Per-resolution checkpoints of ``lfqcd run``: finished work survives Ctrl-C, SIGTERM, kill -9.

Every resolution that finishes is written at once to ``<out>/checkpoints/<i>_h<h>_k<kmax>.json``
(atomically, with the configuration hash inside). A re-run of the same command (same
configuration hash, see :mod:`lfqcd.outdir`) loads every checkpoint whose hash and resolution
match and solves only the rest, so an interruption loses at most the resolution in flight.
Failed resolutions are not checkpointed: they are retried. A checkpoint that is unreadable or
belongs to another configuration is ignored (recomputed) and overwritten.

The file is JSON with arrays tagged (``{"__ndarray__": [...], "dtype": ...}``); floats are
written with ``repr`` precision, so a resumed run reproduces an uninterrupted one exactly.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np

from heavy_meson.hamiltonian import Resolution
from lfqcd.outdir import atomic_write_text

FORMAT = "lfqcd-run-resolution/1"
FOLDER = "checkpoints"


def path_for(out_dir: Path, index: int, resolution: Resolution) -> Path:
    """Where the checkpoint of resolution number ``index`` lives."""
    return out_dir / FOLDER / f"{index:02d}_h{resolution.h:g}_k{resolution.kappa_max:g}.json"


def _encode(x: Any) -> Any:
    if isinstance(x, np.ndarray):
        return {"__ndarray__": x.tolist(), "dtype": str(x.dtype), "shape": list(x.shape)}
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, tuple):
        return {"__tuple__": [_encode(v) for v in x]}
    if isinstance(x, Resolution):
        return {"__resolution__": x.to_dict()}
    if isinstance(x, dict):
        return {str(k): _encode(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_encode(v) for v in x]
    return x


def _decode(x: Any) -> Any:
    if isinstance(x, dict):
        if "__ndarray__" in x:
            return np.array(x["__ndarray__"], dtype=x["dtype"]).reshape(x["shape"])
        if "__tuple__" in x:
            return tuple(_decode(v) for v in x["__tuple__"])
        if "__resolution__" in x:
            return Resolution(**x["__resolution__"])
        return {k: _decode(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_decode(v) for v in x]
    return x


def save(out_dir: Path, index: int, cfg_hash: str, result: Any) -> Path:
    """Write the checkpoint of one finished resolution (a ``ResolutionResult`` dataclass)."""
    fields = {f.name: _encode(getattr(result, f.name)) for f in dataclasses.fields(result)}
    path = path_for(out_dir, index, result.resolution)
    doc = {"format": FORMAT, "config_hash": cfg_hash, "index": index, "result": fields}
    atomic_write_text(path, json.dumps(doc))
    return path


def load(out_dir: Path, index: int, resolution: Resolution, cfg_hash: str,
         cls: type) -> Any | None:
    """The checkpointed result of this resolution, or ``None`` (missing, corrupt, other config)."""
    path = path_for(out_dir, index, resolution)
    try:
        doc = json.loads(path.read_text())
        if doc.get("format") != FORMAT or doc.get("config_hash") != cfg_hash:
            return None
        fields = {k: _decode(v) for k, v in doc["result"].items()}
        result = cls(**fields)
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None
    return result if result.resolution == resolution else None
