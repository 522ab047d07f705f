"""The one CSR assembly path: two-pass count/fill from a numba row kernel (docs/solvers.md, Assembly).

A *row kernel* is a numba-jitted function ``row_fn(i, args, cols, vals) -> n`` that writes the
``n`` nonzeros of row ``i`` (column indices and values, duplicates allowed) into the scratch
buffers ``cols``/``vals`` and returns ``n``. ``args`` is a tuple of arrays and scalars (the
basis arrays and geometry; never coupling values - every operator piece is coupling free).

:func:`build_csr` calls the kernel twice per row: a count pass to size ``indptr``, then a fill
pass straight into the CSR arrays; finally each row is sorted, duplicates are summed and exact
zeros dropped. This beat COO + ``tocsr`` in time and peak memory here (docs/solvers.md, Assembly).

With ``parallel=True`` (automatic for large blocks) every pass is a numba ``prange`` over rows
(the count pass over chunks of rows, each with its own scratch row): rows are independent and
each writes only its own CSR segment, so the result is identical, bit for bit, to the serial
passes and for any thread count (``NUMBA_NUM_THREADS``). Compiling the parallel drivers for a
row kernel takes about a minute per process (vs ~20 s serial), so small blocks stay serial.

With ``block`` (a :class:`lfqcd.symmetry.JzBlock`) the matrix is assembled directly in the
``j_z`` block, ``V^H O V``, without forming the full-basis matrix: block row ``b`` is the full
row of the orbit representative ``r_b`` (the unchanged row kernel, into scratch buffers of the
kernel's own dtype), each column ``t`` mapped to its block column ``index[t]`` (dropped when
its orbit has none) and weighted by ``factor[t] * inv_norm[b]`` (``O`` must commute with the
rotation, as every piece does); then the same sort/merge. The output is complex.
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
def _merge_row(indices, data, lo, hi, out):  # pragma: no cover - numba
    """Row ``[lo, hi)``: sort by column, sum duplicates, drop zeros, write the result from
    position ``out`` (``out <= lo``: the row is copied before writing); returns the new end."""
    order = np.argsort(indices[lo:hi], kind="mergesort")
    c_row = indices[lo:hi][order]
    d_row = data[lo:hi][order]
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
    return out


@numba.njit(cache=True)
def _sort_merge(indptr, indices, data, new_indptr):  # pragma: no cover - numba
    """Sort each row by column, sum duplicates, drop zeros; compacts in place."""
    dim = indptr.shape[0] - 1
    out = 0
    for i in range(dim):
        new_indptr[i] = out
        out = _merge_row(indices, data, indptr[i], indptr[i + 1], out)
    new_indptr[dim] = out
    return out


@numba.njit
def _count_block(row_fn, reps, index, args, cols, vals):  # pragma: no cover - numba
    """Entries of each block row: the representative's row, columns without a block dropped."""
    nb = reps.shape[0]
    counts = np.zeros(nb + 1, dtype=np.int64)
    for b in range(nb):
        n = row_fn(reps[b], args, cols, vals)
        m = 0
        for k in range(n):
            if index[cols[k]] >= 0:
                m += 1
        counts[b + 1] = m
    return counts


@numba.njit
def _block_row(row_fn, b, reps, index, factor, inv_norm, args, cols, vals, indices, data,
               pos):  # pragma: no cover - numba
    """Write block row ``b`` from position ``pos``: mapped columns, weighted values."""
    n = row_fn(reps[b], args, cols, vals)
    s = inv_norm[b]
    for k in range(n):
        t = cols[k]
        c = index[t]
        if c >= 0:
            indices[pos] = c
            data[pos] = vals[k] * factor[t] * s
            pos += 1
    return pos


@numba.njit
def _fill_block(row_fn, reps, index, factor, inv_norm, args, cols, vals, indptr, indices,
                data):  # pragma: no cover - numba
    for b in range(reps.shape[0]):
        _block_row(row_fn, b, reps, index, factor, inv_norm, args, cols, vals, indices, data,
                   indptr[b])


def kernels_compiled() -> bool:
    """True once the assembly loops have been compiled in this process (first use: ~10 s)."""
    return bool(_count.signatures)


@numba.njit(parallel=True)
def _count_par(row_fn, dim, args, chunk, max_row, dtype_probe):  # pragma: no cover - numba
    """Entries each row emits (before merging); rows split into chunks, one scratch each."""
    counts = np.zeros(dim + 1, dtype=np.int64)
    n_chunks = (dim + chunk - 1) // chunk
    for c in numba.prange(n_chunks):
        cols = np.empty(max_row, dtype=np.int64)
        vals = np.empty(max_row, dtype=dtype_probe.dtype)
        for i in range(c * chunk, min(dim, (c + 1) * chunk)):
            counts[i + 1] = row_fn(i, args, cols, vals)
    return counts


@numba.njit(parallel=True)
def _fill_par(row_fn, dim, args, indptr, indices, data):  # pragma: no cover - numba
    for i in numba.prange(dim):
        lo = indptr[i]
        row_fn(i, args, indices[lo:], data[lo:])


@numba.njit(parallel=True, cache=True)
def _sort_merge_rows(indptr, indices, data, kept):  # pragma: no cover - numba
    """Per row, in its own segment: sort by column, sum duplicates, drop zeros; count kept."""
    dim = indptr.shape[0] - 1
    for i in numba.prange(dim):
        lo = indptr[i]
        kept[i] = _merge_row(indices, data, lo, indptr[i + 1], lo) - lo


@numba.njit(parallel=True, cache=True)
def _compact(indptr, indices, data, new_indptr, new_indices, new_data):  # pragma: no cover
    dim = indptr.shape[0] - 1
    for i in numba.prange(dim):
        src, dst = indptr[i], new_indptr[i]
        for j in range(new_indptr[i + 1] - dst):
            new_indices[dst + j] = indices[src + j]
            new_data[dst + j] = data[src + j]


#: ``parallel=None`` assembles in parallel from this many rows on (when numba has > 1 thread):
#: compiling the parallel drivers costs about a minute per process per row kernel, which only
#: pays off for large blocks
PARALLEL_MIN_ROWS = 200_000


def build_csr(row_fn: Any, dim: int, args: tuple, dtype: Any = np.float64,
              max_row: int | None = None, parallel: bool | None = None,
              block: Any = None) -> sp.csr_matrix:
    """Assemble the ``dim x dim`` CSR matrix whose rows the numba kernel ``row_fn`` generates.

    ``max_row`` bounds the entries one row may emit before merging (default ``dim``: safe).
    ``parallel``: numba ``prange`` passes (True), the serial passes (False), or automatic
    (None: parallel from :data:`PARALLEL_MIN_ROWS` rows with more than one numba thread).
    Both give the same matrix, bit for bit.
    ``block``: a :class:`lfqcd.symmetry.JzBlock` of the basis (``dim`` states): return the
    ``block.dim x block.dim`` complex matrix ``V^H O V`` built directly (module docstring);
    ``dtype`` stays the kernel's own. The block passes are serial (a block has a quarter of
    the full rows; ``parallel=True`` with a block is refused rather than ignored).
    """
    buf = max_row if max_row is not None else max(dim, 1)
    if block is not None:
        if parallel:
            raise ValueError("block-direct assembly has serial passes only (parallel=True)")
        return _build_block(row_fn, dim, args, dtype, buf, block)
    if parallel is None:
        parallel = dim >= PARALLEL_MIN_ROWS and numba.get_num_threads() > 1
    if not parallel:
        cols = np.empty(buf, dtype=np.int64)
        vals = np.empty(buf, dtype=dtype)
        counts = _count(row_fn, dim, args, cols, vals)
    else:
        chunk = max(1, min(4096, -(-dim // (4 * numba.get_num_threads()))))
        counts = _count_par(row_fn, dim, args, chunk, buf, np.zeros(1, dtype=dtype))
    indptr = np.cumsum(counts)
    nnz = int(indptr[-1])
    indices = np.empty(nnz, dtype=np.int64)
    data = np.empty(nnz, dtype=dtype)
    if not parallel:
        _fill(row_fn, dim, args, indptr, indices, data)
        return _merged_csr(indptr, indices, data)
    _fill_par(row_fn, dim, args, indptr, indices, data)
    kept_rows = np.zeros(dim, dtype=np.int64)
    _sort_merge_rows(indptr, indices, data, kept_rows)
    new_indptr = np.zeros(dim + 1, dtype=np.int64)
    np.cumsum(kept_rows, out=new_indptr[1:])
    kept = int(new_indptr[-1])
    idx_dtype = np.int32 if dim < 2**31 and kept < 2**31 else np.int64
    new_indices = np.empty(kept, dtype=idx_dtype)
    new_data = np.empty(kept, dtype=dtype)
    _compact(indptr, indices, data, new_indptr, new_indices, new_data)
    return sp.csr_matrix((new_data, new_indices, new_indptr.astype(idx_dtype)), shape=(dim, dim))


def _merged_csr(indptr: np.ndarray, indices: np.ndarray, data: np.ndarray) -> sp.csr_matrix:
    """The square CSR matrix of filled rows after the serial sort/merge (duplicates summed)."""
    n = indptr.shape[0] - 1
    new_indptr = np.empty_like(indptr)
    kept = _sort_merge(indptr, indices, data, new_indptr)
    idx_dtype = np.int32 if n < 2**31 and kept < 2**31 else np.int64
    return sp.csr_matrix(
        (data[:kept].copy(), indices[:kept].astype(idx_dtype), new_indptr.astype(idx_dtype)),
        shape=(n, n),
    )


def _build_block(row_fn: Any, dim: int, args: tuple, dtype: Any, buf: int,
                 block: Any) -> sp.csr_matrix:
    """:func:`build_csr` in a j_z block: serial count/fill over the representatives, merge."""
    if block.full_dim != dim:
        raise ValueError(f"block of a {block.full_dim}-state basis used on {dim} states")
    cols = np.empty(buf, dtype=np.int64)
    vals = np.empty(buf, dtype=dtype)
    counts = _count_block(row_fn, block.reps, block.index, args, cols, vals)
    indptr = np.cumsum(counts)
    nnz = int(indptr[-1])
    indices = np.empty(nnz, dtype=np.int64)
    data = np.empty(nnz, dtype=np.complex128)
    _fill_block(row_fn, block.reps, block.index, block.factor, block.inv_norm, args, cols, vals,
                indptr, indices, data)
    return _merged_csr(indptr, indices, data)
