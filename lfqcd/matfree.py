"""Matrix-free ``H = sum_i c_i O_i`` as a SciPy ``LinearOperator`` (issue 12, large blocks).

For blocks whose assembled sum would not fit next to its pieces, :class:`PieceSumOperator`
applies the pieces term by term (``H x = sum_i c_i (O_i x)``), never forming ``H``. It is a
``scipy.sparse.linalg.LinearOperator`` with a ``diagonal()``, so ``lfqcd.eigen.solve`` accepts
it with the ``scipy`` (ARPACK) and ``primme`` (Jacobi preconditioner from ``diagonal()``)
backends; ``dense``, ``cupy`` and ``slepc`` need an assembled matrix and say so.

Cost: one sparse matrix-vector product per nonzero piece, so about ``sum_i nnz(O_i)`` instead
of ``nnz(H)`` per product (the pieces overlap, so this is somewhat more), in exchange for not
storing ``H``: useful when memory, not time, is the limit.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import scipy.sparse.linalg as spla

from lfqcd.errors import InvalidParameterError


class PieceSumOperator(spla.LinearOperator):
    """``sum_name coefficients[name] * pieces[name]`` applied term by term.

    Parameters
    ----------
    pieces : name -> square sparse matrix (all the same shape), e.g. ``PieceSum.pieces``.
    coefficients : name -> finite real coefficient, for every piece (0 skips the piece).
    """

    def __init__(self, pieces: Mapping[str, Any], coefficients: Mapping[str, float]) -> None:
        missing = set(pieces) - set(coefficients)
        extra = set(coefficients) - set(pieces)
        if missing or extra:
            raise InvalidParameterError(
                f"coefficients do not match the pieces: missing {sorted(missing)}, "
                f"unknown {sorted(extra)}"
            )
        if not pieces:
            raise InvalidParameterError("a matrix-free operator needs at least one piece")
        shapes = {p.shape for p in pieces.values()}
        if len(shapes) != 1 or len(next(iter(shapes))) != 2 or len(set(next(iter(shapes)))) != 1:
            raise InvalidParameterError(f"pieces must be square and of one shape, got {shapes}")
        terms = []
        for name, O in pieces.items():
            c = float(coefficients[name])
            if not np.isfinite(c):
                raise InvalidParameterError(f"coefficient of {name!r} is not finite: {c}")
            if c != 0.0:
                terms.append((c, O))
        self.terms = terms
        dtype = np.result_type(*(O.dtype for O in pieces.values()), np.float64)
        super().__init__(dtype=dtype, shape=next(iter(shapes)))
        self.products = 0  #: columns the operator has been applied to (matvec count)

    def _matmat(self, X: np.ndarray) -> np.ndarray:
        self.products += X.shape[1]
        Y = np.zeros((self.shape[0], X.shape[1]), dtype=np.result_type(self.dtype, X.dtype))
        for c, O in self.terms:
            Y += c * (O @ X)
        return Y

    def _matvec(self, x: np.ndarray) -> np.ndarray:
        return self._matmat(x.reshape(-1, 1)).reshape(-1)

    def _adjoint(self) -> PieceSumOperator:
        return self  # every piece is Hermitian and every coefficient real

    def diagonal(self) -> np.ndarray:
        """Diagonal of ``H`` (for Jacobi preconditioners)."""
        d = np.zeros(self.shape[0], dtype=self.dtype)
        for c, O in self.terms:
            d += c * O.diagonal()
        return d
