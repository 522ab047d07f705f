"""Hamiltonians as coefficient-weighted sums of cached, coupling-free operator pieces.

``H(c) = sum_i c_i O_i``: the pieces ``O_i`` (sparse, from :mod:`lfqcd.operators`) are built
once per basis, optionally projected once onto a symmetry block, and each new set of couplings
costs only a few sparse additions - the operator reuse that makes scans cheap (ecosystem.md 3).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import scipy.sparse as sp

from lfqcd.errors import InvalidParameterError


class PieceSum:
    """A fixed set of named Hermitian pieces that combine linearly.

    Parameters
    ----------
    pieces : mapping name -> sparse matrix (all the same shape).
    isometry : optional ``(n_full, n_block)`` matrix ``V`` with orthonormal columns; when given,
        every piece is stored projected, ``V^H O V``, and :meth:`lift` maps block vectors back.
    """

    def __init__(self, pieces: Mapping[str, sp.spmatrix], isometry: sp.spmatrix | None = None):
        if not pieces:
            raise ValueError("PieceSum needs at least one piece")
        shapes = {p.shape for p in pieces.values()}
        if len(shapes) != 1:
            raise ValueError(f"pieces have different shapes: {shapes}")
        self.isometry = None if isometry is None else sp.csr_matrix(isometry)
        if self.isometry is not None:
            V = self.isometry
            VH = V.conj().T.tocsr()
            pieces = {k: (VH @ p @ V).tocsr() for k, p in pieces.items()}
        dtype = np.result_type(*(p.dtype for p in pieces.values()))
        self.pieces: dict[str, sp.csr_matrix] = {k: p.astype(dtype).tocsr() for k, p in pieces.items()}
        for p in self.pieces.values():
            p.sort_indices()
        self.dim = next(iter(self.pieces.values())).shape[0]
        self.dtype = dtype

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.pieces)

    def combine(self, coefficients: Mapping[str, float], device: bool = False) -> sp.csr_matrix:
        """``sum_i c_i O_i``; every piece must get a finite coefficient (0 is allowed).

        ``device=True`` sums copies of the pieces kept on the GPU (made once, on first use) and
        returns a CuPy sparse matrix: the pieces stay on the device across coupling points.
        """
        missing = set(self.pieces) - set(coefficients)
        extra = set(coefficients) - set(self.pieces)
        if missing or extra:
            raise InvalidParameterError(
                f"coefficients do not match the pieces: missing {sorted(missing)}, "
                f"unknown {sorted(extra)}"
            )
        pieces = self._on_device() if device else self.pieces
        H = None
        for name, op in pieces.items():
            c = float(coefficients[name])
            if not np.isfinite(c):
                raise InvalidParameterError(f"coefficient of {name!r} is not finite: {c}")
            if c == 0.0:
                continue
            H = c * op if H is None else H + c * op
        if H is None:
            H = 0.0 * next(iter(pieces.values()))
        return H.tocsr()

    def _on_device(self) -> dict:
        if getattr(self, "_device_pieces", None) is None:
            from lfqcd.backend import to_device_csr

            self._device_pieces = {k: to_device_csr(p) for k, p in self.pieces.items()}
        return self._device_pieces

    def lift(self, vectors: np.ndarray) -> np.ndarray:
        """Map block vectors (columns) to the full basis (identity without an isometry)."""
        if self.isometry is None:
            return vectors
        return self.isometry @ vectors

    @property
    def nnz(self) -> int:
        return int(sum(p.nnz for p in self.pieces.values()))
