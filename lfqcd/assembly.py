"""The one CSR assembly path: two-pass count/fill from a numba row kernel (ecosystem.md 2.1).

A *row kernel* is a numba-jitted function ``row_fn(i, args, cols, vals) -> n`` that writes the
``n`` nonzeros of row ``i`` (column indices and values, duplicates allowed) into the scratch
buffers ``cols``/``vals`` and returns ``n``. ``args`` is a tuple of arrays and scalars (the
basis arrays and geometry; never coupling values - every operator piece is coupling free).

:func:`build_csr` calls the kernel twice per row: a count pass to size ``indptr``, then a fill
pass straight into the CSR arrays; finally each row is sorted, duplicates are summed and exact
zeros dropped. This beat COO + ``tocsr`` in time and peak memory here (ecosystem.md 2.1).
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np
import scipy.sparse as sp


@numba.njit
def _count(row_fn, dim, args, cols, vals):  # pragma: no cover - numba
    counts = np.zeros(dim + 1, dtype=np.int64)
    for i in range(dim):
        counts[i + 1] = row_fn(i, args, cols, vals)
    return counts


@numba.njit
def _fill(row_fn, dim, args, indptr, indices, data):  # pragma: no cover - numba
    for i in range(dim):
        lo = indptr[i]
        row_fn(i, args, indices[lo:], data[lo:])


@numba.njit(cache=True)
def _sort_merge(indptr, indices, data, new_indptr):  # pragma: no cover - numba
    """Sort each row by column, sum duplicates, drop zeros; compacts in place."""
    dim = indptr.shape[0] - 1
    out = 0
    for i in range(dim):
        lo, hi = indptr[i], indptr[i + 1]
        order = np.argsort(indices[lo:hi], kind="mergesort")
        c_row = indices[lo:hi][order]
        d_row = data[lo:hi][order]
        new_indptr[i] = out
        j = 0
        n = hi - lo
        while j < n:
            c = c_row[j]
            acc = d_row[j]
            j += 1
            while j < n and c_row[j] == c:
                acc += d_row[j]
                j += 1
            if acc != 0:
                indices[out] = c
                data[out] = acc
                out += 1
    new_indptr[dim] = out
    return out


def kernels_compiled() -> bool:
    """True once the assembly loops have been compiled in this process (first use: ~10 s)."""
    return bool(_count.signatures)


def build_csr(row_fn: Any, dim: int, args: tuple, dtype: Any = np.float64,
              max_row: int | None = None) -> sp.csr_matrix:
    """Assemble the ``dim x dim`` CSR matrix whose rows the numba kernel ``row_fn`` generates.

    ``max_row`` bounds the entries one row may emit before merging (default ``dim``: safe).
    """
    buf = max_row if max_row is not None else max(dim, 1)
    cols = np.empty(buf, dtype=np.int64)
    vals = np.empty(buf, dtype=dtype)
    counts = _count(row_fn, dim, args, cols, vals)
    indptr = np.cumsum(counts)
    nnz = int(indptr[-1])
    indices = np.empty(nnz, dtype=np.int64)
    data = np.empty(nnz, dtype=dtype)
    _fill(row_fn, dim, args, indptr, indices, data)
    new_indptr = np.empty_like(indptr)
    kept = _sort_merge(indptr, indices, data, new_indptr)
    idx_dtype = np.int32 if dim < 2**31 and kept < 2**31 else np.int64
    return sp.csr_matrix(
        (data[:kept].copy(), indices[:kept].astype(idx_dtype), new_indptr.astype(idx_dtype)),
        shape=(dim, dim),
    )
