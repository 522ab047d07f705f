"""Network construction for every mode and the :class:`Surrogate` checkpoint object.

:func:`build_network` gives the training network of an :class:`~mlsurrogate.arch.Arch` (dense,
tensor or phantom parallel); :func:`build_reference` the single-process network computing the
same function. A :class:`Surrogate` bundles a trained network with the input/output
standardisation and the observable names, predicts in physical units and saves/loads one
self-describing checkpoint.

Checkpoint format (``torch.save`` of plain containers, loadable with ``weights_only=True``)::

    {"format": "lfqcd-surrogate", "version": 1, "arch": Arch.to_dict(),
     "state": exported network state, "standardizer": {...tensors...},
     "input_names": [...], "output_names": [...], "meta": {...}}

``state`` is a dense-FFN state dict for modes ``none`` and ``tensor`` (TP shards are gathered
into the master weights, since TP computes the dense function) and a list of per-rank state
dicts for ``phantom``; either reloads into a single process (for ``phantom`` as the virtual
p-rank reference), so any checkpoint predicts without torch.distributed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from lfqcd.errors import InvalidParameterError, ResultFileError
from mlsurrogate.arch import Arch
from mlsurrogate.data import Standardizer, group_observables
from mlsurrogate.errors import CheckpointMismatchError
from mlsurrogate.models.dense import FFN
from mlsurrogate.parallel.phantom import PhantomFFN, VirtualPhantomFFN
from mlsurrogate.parallel.tensor import TensorParallelFFN

__all__ = [
    "Surrogate",
    "build_network",
    "build_reference",
    "load_surrogate",
    "read_checkpoint",
    "save_checkpoint",
]

FORMAT = "lfqcd-surrogate"
VERSION = 1


def build_network(arch: Arch, ctx: Any = None) -> nn.Module:
    """The training network of ``arch`` for this rank (``ctx`` from parallel.runtime).

    ``none`` -> :class:`FFN`; ``tensor`` -> :class:`~mlsurrogate.parallel.tensor.TensorParallelFFN`;
    ``phantom`` -> :class:`~mlsurrogate.parallel.phantom.PhantomFFN`. The world size of ``ctx``
    must equal ``arch.nproc``.
    """
    world = 1 if ctx is None else ctx.world_size
    if world != arch.nproc:
        raise InvalidParameterError(
            f"architecture is laid out for nproc={arch.nproc} but the process group has "
            f"{world} rank(s)"
        )
    if arch.mode == "none":
        net: nn.Module = FFN(arch)
    elif arch.mode == "tensor":
        net = TensorParallelFFN(arch, group=None if ctx is None else ctx.group)
    else:
        net = PhantomFFN(arch, group=None if ctx is None else ctx.group)
    if ctx is not None:
        net = net.to(ctx.device)
    return net


def build_reference(arch: Arch) -> nn.Module:
    """Single-process network computing the same function as ``arch`` on ``arch.nproc`` ranks."""
    if arch.mode == "phantom":
        return VirtualPhantomFFN(arch)
    return FFN(arch)


class Surrogate:
    """A trained network with its standardisation and names; predicts in physical units.

    ``net`` maps standardised inputs to standardised outputs. ``observables`` groups the
    flattened output columns: scalars (``"rho2"``) and curves (``"xi[0]" ... "xi[15]"``).
    """

    def __init__(
        self,
        net: nn.Module,
        arch: Arch,
        standardizer: Standardizer,
        input_names: Sequence[str],
        output_names: Sequence[str],
        meta: dict[str, Any] | None = None,
    ) -> None:
        if len(input_names) != arch.d_in or len(output_names) != arch.d_out:
            raise InvalidParameterError(
                f"{len(input_names)} input / {len(output_names)} output names for an "
                f"architecture with d_in={arch.d_in}, d_out={arch.d_out}"
            )
        self.net, self.arch, self.standardizer = net, arch, standardizer
        self.input_names, self.output_names = list(input_names), list(output_names)
        self.observables = group_observables(self.output_names)
        self.meta = dict(meta or {})

    # -- prediction --------------------------------------------------------------------------
    def _as_matrix(self, x: Any) -> np.ndarray:
        if isinstance(x, Mapping):
            missing = [n for n in self.input_names if n not in x]
            if missing:
                raise InvalidParameterError(f"inputs missing: {missing}; need {self.input_names}")
            cols = [np.atleast_1d(np.asarray(x[n], dtype=float)) for n in self.input_names]
            arr = np.stack(np.broadcast_arrays(*cols), axis=1)
        else:
            arr = np.asarray(x, dtype=float)
            if arr.ndim == 1:
                arr = arr[None, :]
        if arr.ndim != 2 or arr.shape[1] != self.arch.d_in:
            raise InvalidParameterError(
                f"inputs of shape {arr.shape}; the surrogate expects (N, {self.arch.d_in}) "
                f"columns {self.input_names}"
            )
        if not np.all(np.isfinite(arr)):
            raise InvalidParameterError("inputs contain NaN or inf")
        return arr

    def predict_array(self, x: Any, batch_size: int = 8192) -> np.ndarray:
        """Predictions ``(N, d_out)`` in physical units for inputs ``(N, d_in)`` or a dict."""
        arr = self.standardizer.transform_x(self._as_matrix(x))
        param = next(self.net.parameters())
        outs = []
        self.net.eval()
        with torch.no_grad():
            for i in range(0, arr.shape[0], batch_size):
                xb = torch.as_tensor(arr[i : i + batch_size], dtype=param.dtype, device=param.device)
                outs.append(self.net(xb).double().cpu().numpy())
        y = np.concatenate(outs, axis=0) if outs else np.zeros((0, self.arch.d_out))
        return self.standardizer.inverse_y(y)

    def predict(self, x: Any) -> dict[str, np.ndarray]:
        """Predictions by observable: scalars ``(N,)``, curves ``(N, points)``."""
        y = self.predict_array(x)
        return {
            name: (y[:, cols[0]] if len(cols) == 1 and "[" not in self.output_names[cols[0]]
                   else y[:, cols])
            for name, cols in self.observables.items()
        }

    # -- checkpoints -------------------------------------------------------------------------
    def checkpoint(self, state: Any | None = None) -> dict[str, Any]:
        """The checkpoint dictionary; ``state`` defaults to ``self.net.export_state()``."""
        return {
            "format": FORMAT,
            "version": VERSION,
            "arch": self.arch.to_dict(),
            "state": self.net.export_state() if state is None else state,
            "standardizer": self.standardizer.to_tensors(),
            "input_names": self.input_names,
            "output_names": self.output_names,
            "meta": self.meta,
        }

    def save(self, path: str | Path) -> Path:
        """Write the checkpoint atomically (``.tmp`` + rename) and return its path."""
        return save_checkpoint(self.checkpoint(), path)

    @classmethod
    def load(cls, path: str | Path, expect_arch: Arch | None = None) -> Surrogate:
        """Reload a checkpoint into a single-process surrogate (see module docstring).

        Raises :class:`ResultFileError` for a missing/corrupt file and
        :class:`CheckpointMismatchError` when it is not a surrogate checkpoint, when
        ``expect_arch`` differs from the stored architecture, or when tensors do not fit.
        """
        ck = read_checkpoint(path)
        arch = Arch.from_dict(ck["arch"])
        if expect_arch is not None:
            diff = arch.diff(expect_arch)
            if diff:
                text = ", ".join(f"{k}: checkpoint {a!r} vs expected {b!r}" for k, (a, b) in diff.items())
                raise CheckpointMismatchError(f"checkpoint {path} was written for another model ({text})")
        net = build_reference(arch)
        net.load_exported(ck["state"])
        return cls(net, arch, Standardizer.from_tensors(ck["standardizer"]),
                   ck["input_names"], ck["output_names"], ck.get("meta", {}))


def save_checkpoint(ck: dict[str, Any], path: str | Path) -> Path:
    """``torch.save`` to ``path`` via a temporary file and an atomic rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(ck, tmp)
    tmp.replace(path)
    return path


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load and sanity-check a checkpoint dictionary (no network is built)."""
    path = Path(path)
    if not path.is_file():
        raise ResultFileError(f"checkpoint {path} does not exist")
    try:
        ck = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means a corrupt file
        raise ResultFileError(f"checkpoint {path} cannot be read ({type(exc).__name__}: {exc})") from exc
    if not isinstance(ck, dict) or ck.get("format") != FORMAT:
        raise CheckpointMismatchError(f"{path} is not an lfqcd surrogate checkpoint")
    if ck.get("version") != VERSION:
        raise CheckpointMismatchError(
            f"checkpoint {path} has format version {ck.get('version')}, this code reads {VERSION}"
        )
    return ck


def load_surrogate(path: str | Path, expect_arch: Arch | None = None) -> Surrogate:
    """Shorthand for :meth:`Surrogate.load`."""
    return Surrogate.load(path, expect_arch)
