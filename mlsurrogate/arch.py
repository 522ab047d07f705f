"""Network architecture and parallel layout, validated; no torch import (cheap for the CLI).

One :class:`Arch` describes every model this package builds, so that the dense reference, the
tensor-parallel and the phantom-parallel networks share one assembly (``mlsurrogate/parallel/phantom.py``,
"identical for PP and TP"):

    x (b, d_in) -> σ(x W_inᵀ + b_in) -> depth × [hidden layer, σ] -> h W_outᵀ + b_out

with hidden width ``n``. ``mode`` chooses the hidden layer: dense (``none``), tensor parallel
(``tensor``, TP-A of ``parallel/tensor.py``) or phantom parallel (``phantom``,
``parallel/phantom.py``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from lfqcd.errors import InvalidParameterError
from mlsurrogate.errors import ParallelLayoutError

__all__ = ["ACTIVATIONS", "GHOST_ACTIVATIONS", "MODES", "Arch", "validate_layout"]

MODES = ("none", "tensor", "phantom")
ACTIVATIONS = ("tanh", "relu", "gelu", "silu")
GHOST_ACTIVATIONS = ("identity", "tanh", "relu")
DTYPES = ("float32", "float64")


def validate_layout(n: int, p: int, k: int | None = None) -> int:
    """Check ``p | n`` and, for phantom layers, ``1 <= k < m = n/p`` (fewer ghosts than neurons); return m."""
    if n < 1:
        raise ParallelLayoutError(f"hidden width n must be >= 1, got n={n}")
    if p < 1:
        raise ParallelLayoutError(f"number of ranks p must be >= 1, got p={p}")
    if n % p:
        raise ParallelLayoutError(
            f"p={p} ranks do not divide the hidden width n={n}; choose n as a multiple of p"
        )
    m = n // p
    if k is not None:
        if k < 1:
            raise ParallelLayoutError(f"ghosts per rank k must be >= 1, got k={k}")
        if k >= m:
            raise ParallelLayoutError(
                f"ghosts per rank k={k} must be < n/p = {n}/{p} = {m} (fewer ghosts than neurons); with "
                f"k >= m the phantom layer saves nothing"
            )
    return m


@dataclass(frozen=True)
class Arch:
    """Architecture + parallel layout. ``depth`` counts hidden-to-hidden layers (``L``)."""

    d_in: int
    d_out: int
    width: int = 256
    depth: int = 2
    activation: str = "tanh"
    mode: str = "none"
    nproc: int = 1
    ghosts: int = 0
    self_ghost: bool = False
    ghost_activation: str = "identity"
    overlap: bool = True
    seed: int = 0
    dtype: str = "float32"

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise InvalidParameterError(
                f"unknown parallel mode {self.mode!r}; choose one of {', '.join(MODES)}"
            )
        if self.activation not in ACTIVATIONS:
            raise InvalidParameterError(
                f"unknown activation {self.activation!r}; choose one of {', '.join(ACTIVATIONS)}"
            )
        if self.ghost_activation not in GHOST_ACTIVATIONS:
            raise InvalidParameterError(
                f"unknown ghost_activation {self.ghost_activation!r}; choose one of "
                f"{', '.join(GHOST_ACTIVATIONS)}"
            )
        if self.dtype not in DTYPES:
            raise InvalidParameterError(f"dtype must be one of {DTYPES}, got {self.dtype!r}")
        if self.d_in < 1 or self.d_out < 1:
            raise InvalidParameterError(f"d_in and d_out must be >= 1, got {self.d_in}, {self.d_out}")
        if self.depth < 0:
            raise InvalidParameterError(f"depth must be >= 0, got {self.depth}")
        if self.mode == "none" and self.nproc != 1:
            raise InvalidParameterError(
                f"parallel mode 'none' runs on one process, got nproc={self.nproc}; use mode "
                "'tensor' or 'phantom' for several ranks"
            )
        validate_layout(self.width, self.nproc, self.ghosts if self.mode == "phantom" else None)

    @property
    def m(self) -> int:
        """Neurons per rank in each hidden layer, ``n/p``."""
        return self.width // self.nproc

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Arch:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def diff(self, other: Arch) -> dict[str, tuple[Any, Any]]:
        """Fields that differ: ``{name: (self value, other value)}``."""
        a, b = self.to_dict(), other.to_dict()
        return {k: (a[k], b[k]) for k in a if a[k] != b[k]}
