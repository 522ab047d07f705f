"""Hamiltonians as coefficient-weighted sums of cached, coupling-free operator pieces.

``H(c) = sum_i c_i O_i``: the pieces ``O_i`` (sparse, from :mod:`lfqcd.operators`) are built
once per basis, optionally projected once onto a symmetry block, and each new set of couplings
costs only a few sparse additions - the operator reuse that makes scans cheap
(docs/solvers.md, batched solves over coupling points).
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from lfqcd.errors import InvalidParameterError, ResultFileError


class PieceSum:
    """A fixed set of named Hermitian pieces that combine linearly.

    Parameters
    ----------
    pieces : mapping name -> sparse matrix (all the same shape), or an iterable of
        ``(name, matrix)`` pairs, consumed one at a time: each piece is projected / transformed
        as it arrives, so a generator that builds them never has all of them held as built.
    isometry : optional ``(n_full, n_block)`` matrix ``V`` with orthonormal columns; when given,
        every piece is stored projected, ``V^H O V``, and :meth:`lift` maps block vectors back.
        If a diagonal re-phasing of the block basis makes every piece real (:func:`real_gauge`),
        it is applied to ``V`` and the pieces are stored real: real symmetric Lanczos is about
        twice as fast as the complex Hermitian route and needs half the memory.
    projected : the pieces are already in the block of ``isometry`` (built there directly,
        :func:`lfqcd.assembly.build_csr` with a ``block``): stored as given, the isometry kept
        for :meth:`lift`; the real gauge is applied the same way.
    try_real_gauge : look for the real gauge at all (False where it is known not to exist: the
        search is then pure cost; never tried with ``real_basis``).
    real_basis : optional unitary ``T`` (block x block) in which every projected piece is real
        (:func:`lfqcd.symmetry.real_block_basis`); each piece is stored as
        :func:`to_real_basis` gives it and the isometry becomes ``V T``.
    """

    def __init__(self, pieces: Mapping[str, sp.spmatrix] | Iterable[tuple[str, sp.spmatrix]],
                 isometry: sp.spmatrix | None = None, projected: bool = False,
                 try_real_gauge: bool = True, real_basis: sp.spmatrix | None = None):
        if (projected or real_basis is not None) and isometry is None:
            raise ValueError("projected pieces and a real basis need the isometry of their block")
        V = None if isometry is None else sp.csr_matrix(isometry)
        VH = None if V is None or projected else V.conj().T.tocsr()
        items = pieces.items() if isinstance(pieces, Mapping) else pieces
        stored: dict[str, sp.spmatrix] = {}
        shapes = set()
        for name, op in items:
            shapes.add(op.shape)
            if len(shapes) != 1:
                raise ValueError(f"pieces have different shapes: {shapes}")
            if V is not None:
                if projected and V.shape[1] != op.shape[0]:
                    raise ValueError(f"pieces of shape {shapes} are not in the block of an "
                                     f"isometry of shape {V.shape}")
                if not projected:
                    op = (VH @ op @ V).tocsr()
                if real_basis is not None:
                    op = to_real_basis(op, real_basis)
            stored[name] = op
        if not stored:
            raise ValueError("PieceSum needs at least one piece")
        pieces = stored
        self.isometry = V
        if V is not None:
            if real_basis is not None:
                self.isometry = (V @ real_basis).tocsr()
            gauge = real_gauge(pieces) if try_real_gauge and real_basis is None else None
            if gauge is not None:  # re-phase the block basis: every piece becomes real
                D = sp.diags(gauge)
                self.isometry = (V @ D).tocsr()
                pieces = {k: (D.conj() @ p @ D).real.tocsr() for k, p in pieces.items()}
        dtype = np.result_type(*(p.dtype for p in pieces.values()))
        self.pieces: dict[str, sp.csr_matrix] = {
            k: p.astype(dtype, copy=False).tocsr() for k, p in pieces.items()}
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
        """The pieces as CuPy matrices, copied to the GPU once."""
        if getattr(self, "_device_pieces", None) is None:
            from lfqcd.backend import to_device_csr

            self._device_pieces = {k: to_device_csr(p) for k, p in self.pieces.items()}
        return self._device_pieces

    def lift(self, vectors: np.ndarray) -> np.ndarray:
        """Map block vectors (columns) to the full basis (identity without an isometry)."""
        if self.isometry is None:
            return vectors
        return self.isometry @ vectors

    def save(self, path: str | Path) -> None:
        """Write the (projected) pieces and the isometry to one ``.npz``, atomically."""
        path = Path(path)
        arrays: dict[str, np.ndarray] = {"names": np.array(self.names)}
        mats = dict(self.pieces)
        if self.isometry is not None:
            mats["__isometry__"] = self.isometry
        for name, m in mats.items():
            m = m.tocsr()
            arrays[f"{name}.data"], arrays[f"{name}.indices"] = m.data, m.indices
            arrays[f"{name}.indptr"], arrays[f"{name}.shape"] = m.indptr, np.array(m.shape)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez(tmp, **arrays)
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: str | Path) -> PieceSum:
        """Read pieces written by :meth:`save`; a truncated/corrupt file raises ResultFileError."""
        try:
            with np.load(path, allow_pickle=False) as z:
                def mat(name: str) -> sp.csr_matrix:
                    return sp.csr_matrix((z[f"{name}.data"], z[f"{name}.indices"],
                                          z[f"{name}.indptr"]), shape=tuple(z[f"{name}.shape"]))

                pieces = {str(n): mat(str(n)) for n in z["names"]}
                iso = mat("__isometry__") if "__isometry__.data" in z.files else None
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
            raise ResultFileError(f"operator cache {str(path)!r} is unreadable ({exc})") from exc
        obj = cls(pieces)
        obj.isometry = iso
        return obj

    @property
    def nnz(self) -> int:
        return int(sum(p.nnz for p in self.pieces.values()))


def to_real_basis(op: sp.spmatrix, real_basis: sp.spmatrix, tol: float = 1e-10) -> sp.csr_matrix:
    """``T^H O T`` for a block piece ``O`` and the unitary ``T`` of
    :func:`lfqcd.symmetry.real_block_basis`, stored real; an imaginary part above ``tol`` (relative
    to the largest entry) means ``O`` breaks the antiunitary symmetry: AssertionError."""
    T = sp.csr_matrix(real_basis)
    out = (T.conj().T @ sp.csr_matrix(op) @ T).tocsr()
    scale = max(1.0, float(np.abs(out.data).max(initial=0.0)))
    if np.abs(out.data.imag).max(initial=0.0) > tol * scale:
        raise AssertionError("a piece is not real in the reflection basis: it breaks S K")
    real = out.real.tocsr()
    real.data[np.abs(real.data) <= 1e-15 * scale] = 0.0
    real.eliminate_zeros()
    return real


def real_gauge(pieces: Mapping[str, sp.spmatrix], tol: float = 1e-12) -> np.ndarray | None:
    """Phases ``d`` such that ``D^H O D`` (``D = diag(d)``) is real for every piece, or None.

    The phases are fixed along a breadth-first spanning forest of the union of the pieces'
    nonzero patterns (each edge's phase taken from the first piece that has it), then every
    piece is checked; real input returns None (nothing to do).
    """
    if all(not np.iscomplexobj(p.data) for p in pieces.values()):
        return None
    mats = [sp.csr_matrix(p) for p in pieces.values()]
    n = mats[0].shape[0]
    # one representative complex entry per edge: the first piece (in order) that has the edge
    edge = None
    for m in mats:
        mm = m.copy()
        mm.data = np.where(np.abs(mm.data) > tol, mm.data, 0)
        mm.eliminate_zeros()
        if edge is None:
            edge = mm.astype(np.complex128)
        else:
            free = (abs(edge) > 0).astype(np.int8)
            edge = edge + (mm - mm.multiply(free)).astype(np.complex128)
    edge = edge.tocsr()
    phase = np.zeros(n, dtype=np.complex128)
    for root in range(n):
        if phase[root] != 0:
            continue
        phase[root] = 1.0
        stack = [root]
        while stack:
            i = stack.pop()
            for jj in range(edge.indptr[i], edge.indptr[i + 1]):
                j = edge.indices[jj]
                if phase[j] == 0:
                    v = edge.data[jj]
                    phase[j] = phase[i] * np.conj(v) / abs(v)
                    stack.append(j)
    D = sp.diags(phase)
    for m in mats:
        t = (D.conj() @ m @ D).tocsr()
        scale = max(1.0, float(np.abs(t.data).max(initial=0.0)))
        if np.abs(t.data.imag).max(initial=0.0) > 1e-10 * scale:
            return None
    return phase
