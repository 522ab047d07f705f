"""Parallel CSR assembly (issue 12): the prange passes give the same matrix for any thread count.

Rows are split into chunks for the count pass and each row owns its CSR segment in the fill,
sort/merge and compaction passes, so the result must be bit-identical to the serial passes and
to a reference built with SciPy from the same (row, column, value) triples, whatever ``numba``
threads run.
"""

from __future__ import annotations

import numba
import numpy as np
import pytest
import scipy.sparse as sp
from numba import njit

from lfqcd.assembly import build_csr


@njit
def _scrambled_row(i, args, cols, vals):  # pragma: no cover - numba
    """Row i: a pseudo-random set of columns with duplicates, unsorted, and a cancelling pair."""
    n, width = args
    m = 0
    for j in range(width):
        c = (i * 7919 + j * j * 104729) % n
        cols[m] = c
        vals[m] = 1.0 + ((i + 3 * j) % 5)
        m += 1
    cols[m] = (i + 1) % n
    vals[m] = 2.5
    cols[m + 1] = (i + 1) % n
    vals[m + 1] = -2.5
    return m + 2


def reference(n: int, width: int) -> sp.csr_matrix:
    rows, cols, vals = [], [], []
    for i in range(n):
        for j in range(width):
            rows.append(i)
            cols.append((i * 7919 + j * j * 104729) % n)
            vals.append(1.0 + ((i + 3 * j) % 5))
    A = sp.csr_matrix((vals, (rows, cols)), shape=(n, n))
    A.sum_duplicates()
    A.eliminate_zeros()
    A.sort_indices()
    return A


@pytest.mark.parametrize("threads", sorted({1, numba.config.NUMBA_NUM_THREADS}))
def test_parallel_assembly_is_thread_count_independent(threads):
    """(The serial passes are checked against the same kind of reference in test_operators.)"""
    parallel = True
    n, width = 10_007, 9  # n prime: the last chunk is short
    previous = numba.get_num_threads()
    numba.set_num_threads(threads)
    try:
        A = build_csr(_scrambled_row, n, (n, width), np.float64, max_row=width + 2,
                      parallel=parallel)
    finally:
        numba.set_num_threads(previous)
    ref = reference(n, width)
    assert A.has_sorted_indices
    np.testing.assert_array_equal(A.indptr, ref.indptr)
    np.testing.assert_array_equal(A.indices, ref.indices)
    np.testing.assert_array_equal(A.data, ref.data)
    assert A.indices.dtype == np.int32 and A.indptr.dtype == np.int32
