"""Lowest eigenpairs of a sparse Hermitian operator: one function, backends behind it.

Implementation notes
--------------------
``solve(H, k, backend=...)`` is the only public entry point. Backends:

* ``"scipy"``  - ARPACK ``eigsh(which="SA")`` with a seeded start vector (docs/solvers.md, Backends);
* ``"dense"``  - LAPACK ``eigh`` on the densified matrix (small bases, reference);
* ``"primme"`` - ``primme.eigsh`` with a Jacobi preconditioner (optional extra ``eig``);
* ``"cupy"``   - ``cupyx.scipy.sparse.linalg.eigsh`` on the GPU (optional extra ``gpu-*``);
* ``"slepc"``  - SLEPc Krylov-Schur on a distributed PETSc matrix, rows split over the MPI
  ranks (:mod:`lfqcd.eigen_slepc`; petsc4py/slepc4py, docs/solvers.md);
* ``"auto"``   - dense up to ``dense_max`` (200) states, else cupy when a GPU is usable and the
  matrix has >= 1e6 nonzeros (where the GPU wins, docs/solvers.md, GPU), else scipy.

``H`` may also be a matrix-free ``scipy.sparse.linalg.LinearOperator`` such as
:class:`lfqcd.matfree.PieceSumOperator` (backends ``scipy`` and ``primme``; ``auto`` picks
scipy), or for ``slepc`` a :class:`lfqcd.eigen_slepc.RowBlocks` that assembles row blocks.
Many independent points sharing pieces are solved together by :mod:`lfqcd.batched`.

Every backend returns eigenvalues in ascending order, eigenvectors as columns on the host, and
residual norms ``||H v - lambda v||`` computed here on the host with the same code, so the
convergence criterion is backend independent. A solve whose residuals exceed ``residual_tol``
raises :class:`~lfqcd.errors.EigNoConvergenceError` carrying the partial result.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import numpy as np
import scipy.linalg
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from lfqcd.backend import gpu_available, to_numpy
from lfqcd.eigen_slepc import RowBlocks
from lfqcd.errors import BackendUnavailableError, EigNoConvergenceError, InvalidParameterError

BACKENDS = ("auto", "scipy", "dense", "primme", "cupy", "slepc")


@dataclasses.dataclass
class EigResult:
    """Lowest eigenpairs: ``eigenvalues[i]`` belongs to column ``eigenvectors[:, i]``."""

    eigenvalues: np.ndarray
    eigenvectors: np.ndarray
    residuals: np.ndarray
    backend: str
    wall_s: float
    matvecs: int | None = None  #: products with H, where the backend reports them

    def to_dict(self) -> dict[str, Any]:
        return {
            "eigenvalues": self.eigenvalues.tolist(),
            "residuals": self.residuals.tolist(),
            "backend": self.backend,
            "wall_s": self.wall_s,
            "matvecs": self.matvecs,
        }


def available_backends() -> dict[str, bool]:
    """Which backends can run here (``auto`` always can)."""
    try:
        import primme  # noqa: F401

        has_primme = True
    except ImportError:
        has_primme = False
    from lfqcd.eigen_slepc import available as slepc_available

    return {
        "auto": True,
        "scipy": True,
        "dense": True,
        "primme": has_primme,
        "cupy": gpu_available(),
        "slepc": slepc_available(),
    }


def check_backend(backend: str, key: str = "eigensolver backend") -> None:
    """Raise :class:`BackendUnavailableError` unless ``backend`` is known and usable here.

    ``key`` names the configuration entry in the message (e.g. ``"[run] backend"``).
    """
    if backend not in BACKENDS:
        raise BackendUnavailableError(
            f"{key}: unknown eigensolver backend {backend!r}; choose one of {', '.join(BACKENDS)}"
        )
    avail = available_backends()
    if not avail[backend]:
        hint = {"primme": "pip install 'lfqcd[eig]'", "cupy": "a CUDA GPU and lfqcd[gpu-cuda12]",
                "slepc": "petsc4py and slepc4py, see docs/solvers.md"}
        raise BackendUnavailableError(
            f"{key}: eigensolver backend {backend!r} is not usable here (needs {hint[backend]}); "
            f"usable: {', '.join(b for b, ok in avail.items() if ok)}"
        )


def residual_norms(H: Any, values: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """``||H v_i - lambda_i v_i||_2`` for each column (host arrays)."""
    R = H @ vectors - vectors * values[None, :]
    return np.linalg.norm(R, axis=0)


def _start_vector(n: int, seed: int, dtype: np.dtype) -> np.ndarray:
    rng = np.random.default_rng(seed)
    v = rng.standard_normal(n)
    if np.issubdtype(dtype, np.complexfloating):
        v = v + 1j * rng.standard_normal(n)
    return v.astype(dtype)


def _solve_dense(H: Any, k: int) -> tuple[np.ndarray, np.ndarray]:
    A = H.toarray() if sp.issparse(H) else np.asarray(H)
    w, v = scipy.linalg.eigh(A, subset_by_index=[0, k - 1])
    return w, v


def _solve_scipy(H: Any, k: int, tol: float, v0: np.ndarray, maxiter: int | None):
    try:
        w, v = spla.eigsh(H, k=k, which="SA", tol=tol, v0=v0, maxiter=maxiter)
    except spla.ArpackNoConvergence as exc:
        w_part = np.asarray(exc.eigenvalues).real  # H is Hermitian; eigs-route values are complex
        v_part = np.asarray(exc.eigenvectors).reshape(H.shape[0], w_part.shape[0])
        raise EigNoConvergenceError(
            f"ARPACK did not converge for k={k} (n={H.shape[0]}, tol={tol}, maxiter={maxiter}); "
            f"{len(w_part)} eigenpairs converged",
            w_part,
            v_part,
            residual_norms(H, w_part, v_part),
        ) from exc
    return w, v


def _solve_primme(H: Any, k: int, tol: float, v0: np.ndarray, maxiter: int | None):
    import primme

    opinv = None
    if hasattr(H, "diagonal"):  # Jacobi preconditioner (a bare LinearOperator has none)
        diag = np.asarray(H.diagonal()).real
        d = diag - diag.min() + 1.0

        def precond(x: np.ndarray) -> np.ndarray:
            return x / (d[:, None] if x.ndim == 2 else d)

        opinv = spla.LinearOperator(H.shape, matvec=precond, matmat=precond, dtype=H.dtype)
    w, v, stats = primme.eigsh(H, k=k, which="SA", tol=tol, v0=v0[:, None], OPinv=opinv,
                               maxiter=maxiter, return_stats=True)
    return w, v, int(stats["numMatvecs"])


def _solve_cupy(H: Any, k: int, tol: float, v0: np.ndarray, maxiter: int | None):
    import cupy
    import cupyx.scipy.sparse as csp
    import cupyx.scipy.sparse.linalg as cspla

    Hd = H if hasattr(H, "get") else csp.csr_matrix(sp.csr_matrix(H))
    w, v = cspla.eigsh(Hd, k=k, which="SA", tol=tol, v0=cupy.asarray(v0), maxiter=maxiter)
    return to_numpy(w), to_numpy(v)


def solve(
    H: Any,
    k: int = 1,
    *,
    backend: str = "auto",
    tol: float = 1e-10,
    residual_tol: float = 1e-6,
    v0: np.ndarray | None = None,
    seed: int = 0,
    maxiter: int | None = None,
    dense_max: int = 200,
) -> EigResult:
    """Lowest ``k`` eigenpairs of the Hermitian matrix ``H`` (SciPy/CuPy sparse or dense).

    Parameters
    ----------
    H : sparse or dense Hermitian matrix (real symmetric or complex Hermitian).
    k : number of lowest eigenpairs.
    backend : one of :data:`BACKENDS`.
    tol : backend convergence tolerance (ARPACK/PRIMME/CuPy ``tol``).
    residual_tol : accepted ``||H v - lambda v||`` relative to ``max(1, max|lambda|)``;
        larger residuals raise :class:`EigNoConvergenceError` with the partial result.
    v0 : start vector (warm start); default a seeded random vector.
    seed : seed of the default start vector (reproducible ARPACK runs).
    """
    if backend not in BACKENDS:
        check_backend(backend)  # unknown name: the specific message
    n = H.shape[0]
    if H.shape != (n, n):
        raise InvalidParameterError(f"H must be square, got shape {H.shape}")
    if not 1 <= k < n:
        raise InvalidParameterError(f"k={k} eigenpairs requested for a {n}x{n} matrix; need 1 <= k < n")
    if isinstance(H, (spla.LinearOperator, RowBlocks)):
        usable = ("scipy", "primme") if isinstance(H, spla.LinearOperator) else ("slepc",)
        backend = usable[0] if backend == "auto" else backend
        if backend not in usable:
            raise InvalidParameterError(
                f"backend {backend!r} needs an assembled matrix, got a {type(H).__name__}; "
                f"use backend {' or '.join(repr(b) for b in usable)}"
            )
    if backend == "auto":
        nnz = H.nnz if sp.issparse(H) else n * n
        if n <= dense_max:
            backend = "dense"
        elif gpu_available() and nnz >= 1_000_000:
            backend = "cupy"
        else:
            backend = "scipy"
    check_backend(backend)
    dtype = np.result_type(H.dtype, np.float64)
    if v0 is None:
        v0 = _start_vector(n, seed, dtype)
    else:
        v0 = np.asarray(to_numpy(v0), dtype=dtype).reshape(n)
    t0 = time.perf_counter()
    matvecs = None
    if backend == "dense":
        w, v = _solve_dense(H, k)
    elif backend == "scipy":
        w, v = _solve_scipy(H, k, tol, v0, maxiter)
    elif backend == "primme":
        w, v, matvecs = _solve_primme(H, k, tol, v0, maxiter)
    elif backend == "slepc":
        from lfqcd.eigen_slepc import solve_slepc

        w, v, matvecs = solve_slepc(H, k, tol, v0, maxiter)
    else:
        w, v = _solve_cupy(H, k, tol, v0, maxiter)
    wall = time.perf_counter() - t0
    order = np.argsort(w)
    w = np.asarray(w)[order]
    v = np.asarray(v)[:, order]
    H_host = H.get() if hasattr(H, "get") else H
    res = residual_norms(H_host, w, v)
    scale = max(1.0, float(np.max(np.abs(w))))
    if not np.all(np.isfinite(w)) or np.any(res > residual_tol * scale):
        raise EigNoConvergenceError(
            f"{backend} eigensolver returned residuals up to {np.nanmax(res):.3g} "
            f"(accepted {residual_tol * scale:.3g}) for k={k}, n={n}",
            w,
            v,
            res,
        )
    return EigResult(eigenvalues=w, eigenvectors=v, residuals=res, backend=backend, wall_s=wall,
                     matvecs=matvecs)
