"""SLEPc backend of :func:`lfqcd.eigen.solve`: Krylov-Schur on an MPI ``aij`` matrix.

Run under MPI (``mpirun -n P python ...``) every rank calls ``solve(H, k, backend="slepc")``
with the same arguments. Each rank inserts only its own block of rows into a distributed
PETSc matrix (PETSc's default contiguous split, :func:`row_range`); ``H`` may be a SciPy sparse
matrix (every rank slices its rows) or a :class:`RowBlocks` that assembles just the rows asked
for, e.g. from the operator row kernels with :func:`lfqcd.assembly.build_csr`'s ``rows``
argument, so no rank ever holds the whole matrix. The solver is SLEPc's Krylov-Schur for a
Hermitian problem (``EPS.ProblemType.HEP``), smallest real eigenvalues, tolerance ``tol``;
the eigenvectors are gathered onto every rank, so the front-end's residual check and all
downstream code see ordinary host arrays.

petsc4py/slepc4py are an optional install (``docs/solvers.md``); nothing here imports them at
module import time. Without MPI (one process) the backend still works, on one rank.

    mpirun -n 2 python -m lfqcd.eigen_slepc      # self-check: SLEPc vs ARPACK to 1e-8
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.sparse as sp

from lfqcd.errors import BackendUnavailableError, EigNoConvergenceError, InvalidParameterError


class RowBlocks:
    """A square operator known by its row blocks: ``rows(lo, hi)`` -> CSR of shape (hi-lo, n).

    ``diagonal`` (optional) and ``matmat`` are only needed outside SLEPc (residual checks on
    one process); the SLEPc backend calls ``rows`` once per rank for its own block.
    """

    def __init__(self, n: int, rows: Callable[[int, int], sp.csr_matrix],
                 dtype: Any = np.float64) -> None:
        self.shape = (int(n), int(n))
        self.rows = rows
        self.dtype = np.dtype(dtype)

    def __matmul__(self, X: np.ndarray) -> np.ndarray:
        step = max(1, 1 << 16)
        parts = [self.rows(lo, min(lo + step, self.shape[0])) @ X
                 for lo in range(0, self.shape[0], step)]
        return np.concatenate(parts, axis=0)


def available() -> bool:
    """True when slepc4py and petsc4py import."""
    try:
        import petsc4py  # noqa: F401
        import slepc4py  # noqa: F401
    except ImportError:
        return False
    return True


def _init() -> tuple[Any, Any]:
    try:
        import slepc4py

        slepc4py.init(sys.argv[:1])
        from petsc4py import PETSc
        from slepc4py import SLEPc
    except ImportError as exc:
        raise BackendUnavailableError(
            "eigensolver backend 'slepc' needs petsc4py and slepc4py (see docs/solvers.md)"
        ) from exc
    return PETSc, SLEPc


def row_range(n: int, rank: int, size: int) -> tuple[int, int]:
    """PETSc's default contiguous split of ``n`` rows over ``size`` ranks."""
    base, extra = divmod(n, size)
    lo = rank * base + min(rank, extra)
    return lo, lo + base + (1 if rank < extra else 0)


def _local_rows(H: Any, lo: int, hi: int) -> sp.csr_matrix:
    if isinstance(H, RowBlocks):
        block = sp.csr_matrix(H.rows(lo, hi))
    elif sp.issparse(H):
        block = sp.csr_matrix(H)[lo:hi]
    else:
        raise InvalidParameterError(
            f"backend 'slepc' needs a SciPy sparse matrix or lfqcd.eigen_slepc.RowBlocks, got "
            f"{type(H).__name__}"
        )
    if block.shape != (hi - lo, H.shape[1]):
        raise InvalidParameterError(f"row block {lo}:{hi} has shape {block.shape}, expected "
                                    f"{(hi - lo, H.shape[1])}")
    block.sort_indices()
    return block


def _mult_counter(PETSc: Any) -> Callable[[], int] | None:
    """Counts ``MatMult`` calls from now on (PETSc's event log), or None if unavailable."""
    try:
        PETSc.Log.begin()
        event = PETSc.Log.Event("MatMult")
        start = event.getPerfInfo()["count"]
    except (AttributeError, KeyError, PETSc.Error):
        return None
    return lambda: int(event.getPerfInfo()["count"] - start)


def solve_slepc(H: Any, k: int, tol: float, v0: np.ndarray | None,
                maxiter: int | None) -> tuple[np.ndarray, np.ndarray, int | None]:
    """Lowest ``k`` eigenpairs on all ranks: ``(values, vectors (n, k), matvecs)``."""
    PETSc, SLEPc = _init()
    comm = PETSc.COMM_WORLD
    n = H.shape[0]
    scalar = np.dtype(PETSc.ScalarType)
    if np.iscomplexobj(np.zeros(0, dtype=H.dtype)) and not np.iscomplexobj(np.zeros(0, scalar)):
        raise BackendUnavailableError(
            "backend 'slepc' got a complex matrix but this PETSc is built with real scalars; "
            "use a real (gauge-fixed) block or a complex PETSc build"
        )
    lo, hi = row_range(n, comm.getRank(), comm.getSize())
    block = _local_rows(H, lo, hi)
    ival = np.dtype(PETSc.IntType)
    csr = (block.indptr.astype(ival), block.indices.astype(ival), block.data.astype(scalar))
    A = PETSc.Mat().createAIJ(size=((hi - lo, n), (hi - lo, n)), csr=csr, comm=comm)
    A.assemble()
    eps = SLEPc.EPS().create(comm=comm)
    eps.setOperators(A)
    eps.setProblemType(SLEPc.EPS.ProblemType.HEP)
    eps.setType(SLEPc.EPS.Type.KRYLOVSCHUR)
    eps.setWhichEigenpairs(SLEPc.EPS.Which.SMALLEST_REAL)
    eps.setDimensions(nev=k)
    eps.setTolerances(tol=tol, max_it=maxiter if maxiter is not None else 10_000)
    if v0 is not None:
        x0 = A.createVecRight()
        x0.setArray(np.asarray(v0, dtype=scalar)[lo:hi])
        eps.setInitialSpace([x0])
    mult = _mult_counter(PETSc)
    eps.solve()
    matvecs = mult() if mult is not None else None
    nconv = eps.getConverged()
    its = eps.getIterationNumber()
    values, vectors = [], []
    xr = A.createVecRight()
    scatter, full = PETSc.Scatter.toAll(xr)
    for i in range(min(nconv, k)):
        lam = eps.getEigenpair(i, xr)
        scatter.scatter(xr, full, PETSc.InsertMode.INSERT_VALUES, PETSc.ScatterMode.FORWARD)
        values.append(float(np.real(lam)))
        vectors.append(np.array(full.getArray(), copy=True))
    for obj in (scatter, full, xr, eps, A):
        obj.destroy()
    w = np.asarray(values)
    v = np.column_stack(vectors) if vectors else np.zeros((n, 0))
    if len(values) < k:
        raise EigNoConvergenceError(
            f"SLEPc Krylov-Schur converged {nconv} of {k} eigenpairs in {its} iterations "
            f"(n={n}, tol={tol})", w, v, None,
        )
    return w, v, matvecs


def _self_check() -> int:  # pragma: no cover - run under mpirun by tests/test_slepc_mpi.py
    """SLEPc on every rank vs ARPACK on rank 0, same matrix: exit 0 when they agree to 1e-8."""
    # under ``python -m`` this file runs as ``__main__``: the solver checks for the importable
    # module's RowBlocks class, so take it from there, not from this copy
    from lfqcd.eigen import solve
    from lfqcd.eigen_slepc import RowBlocks
    from lfqcd.thooft import light_light_pieces

    PETSc, _ = _init()
    rank, size = PETSc.COMM_WORLD.getRank(), PETSc.COMM_WORLD.getSize()
    _, ps = light_light_pieces(300)
    H = ps.combine({"m1_sq": 0.25, "m2_sq": 1.0, "G": 1.0}).tocsr()
    res = solve(H, 4, backend="slepc")
    blocks = RowBlocks(H.shape[0], lambda lo, hi: H[lo:hi], H.dtype)
    res_rows = solve(blocks, 4, backend="slepc")
    ok = True
    if rank == 0:
        ref = solve(H, 4, backend="scipy")
        scale = max(1.0, float(np.abs(ref.eigenvalues).max()))
        d1 = float(np.abs(res.eigenvalues - ref.eigenvalues).max()) / scale
        d2 = float(np.abs(res_rows.eigenvalues - ref.eigenvalues).max()) / scale
        ok = d1 <= 1e-8 and d2 <= 1e-8
        print(f"slepc on {size} ranks: n={H.shape[0]}, eigenvalues {res.eigenvalues}, "
              f"max relative difference to ARPACK {d1:.2e} (sparse) {d2:.2e} (row blocks), "
              f"matvecs {res.matvecs}, residual {res.residuals.max():.2e}")
    return 0 if ok else 1  # rank 0's verdict is mpirun's exit status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(_self_check())
