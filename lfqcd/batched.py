"""Batched block eigensolver: the lowest ``k`` eigenpairs of ``B`` operators sharing pieces.

A scan's points at one resolution differ only in the coefficients of the same pieces,
``H_b = sum_i C[b, i] O_i``. :func:`solve_batch` finds the lowest ``k`` eigenpairs of every
``H_b`` at once with a batched LOBPCG: the ``B`` problems advance in lockstep, every piece is
applied to the whole ``n x (B k)`` block as one sparse-times-dense product (the Python
overhead and the sparse index stream are paid once per batch, not once per point), and the
small Rayleigh-Ritz problems are solved as one stacked ``eigh``. Blocks are laid out
``(B, n, k)``.

Written once against an array module ``xp``: NumPy with SciPy sparse pieces on the CPU, CuPy
with ``cupyx.scipy.sparse`` pieces on a GPU (the pieces only need ``O @ X`` for a 2-D ``X`` and
``O.diagonal()``). Nothing here branches on the module.

Algorithm (one iteration, for every point ``b`` still active)
-------------------------------------------------------------
* ``R = H X - X diag(lambda)``; a point whose residual norms are all
  ``<= tol * max(1, |lambda|_max)`` is converged and leaves the active set.
* ``W = R / (|d - lambda| + delta)`` with ``d`` the diagonal of ``H_b`` (Jacobi preconditioner;
  light-front Hamiltonians are dominated by the kinetic diagonal).
* ``W`` is orthonormalised against ``X`` and within itself (block Gram-Schmidt, twice; the
  in-block step in the metric of the small Gram matrix); a column keeping less than ``DROP``
  of its norm is dropped (set to zero) for that point only, which keeps the batch rectangular
  without ill-conditioned Gram matrices. ``H`` is applied to ``W`` only (``k`` columns per
  point).
* The previous direction ``P`` is orthonormalised against ``[X, W]`` the same way, and its
  image ``H P`` (carried from the last step) receives the same combinations; it is dropped
  below ``P_DROP``, which bounds the cancellation error of the carried image. ``H X`` is
  likewise carried (orthonormal combinations, no error growth).
* Rayleigh-Ritz on ``A = S^H H S``, ``S = [X, W, P]`` (dropped columns get a huge diagonal so
  they never win); ``X <- S Y[:, :k]``, ``P <- S_{W,P} Y_{W,P}[:, :k]``.

The returned residuals are recomputed from ``H X`` of the final vectors.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from lfqcd.errors import EigNoConvergenceError, InvalidParameterError

if TYPE_CHECKING:
    from lfqcd.eigen import EigResult

#: a new search column keeping less than this fraction of its norm is dropped (the in-block
#: Gram-Schmidt works on Gram matrices, accurate to about sqrt(eps) relative)
DROP = 1e-6
#: the search direction P (whose image is carried, not recomputed) is dropped below this:
#: the carried image's cancellation error grows like the inverse of the fraction kept
P_DROP = 1e-3


def array_module(x: Any) -> Any:
    """NumPy for host arrays, CuPy for device arrays (without importing CuPy needlessly)."""
    if type(x).__module__.split(".")[0] == "cupy":
        import cupy

        return cupy
    return np


def _check_pieces(pieces: Sequence[Any], coefficients: Any) -> np.ndarray:
    if not pieces:
        raise InvalidParameterError("a batch needs at least one operator piece")
    n = pieces[0].shape[0]
    for O in pieces:
        if O.shape != (n, n):
            raise InvalidParameterError(f"pieces must all be {n}x{n}, got {O.shape}")
    C = np.asarray(coefficients, dtype=np.float64)
    if C.ndim != 2 or C.shape[1] != len(pieces) or C.shape[0] < 1:
        raise InvalidParameterError(
            f"coefficients must have shape (B >= 1, {len(pieces)}), got {C.shape}"
        )
    if not np.all(np.isfinite(C)):
        raise InvalidParameterError("batch coefficients must be finite")
    return C


class PieceBatch:
    """``H_b = sum_i C[b, i] O_i`` applied term by term to a block ``X`` of shape ``(B, n, k)``.

    Every piece is applied once to all ``B k`` columns (one sparse-times-dense product per
    piece per application); memory is the pieces plus a few blocks, so this form suits blocks
    whose per-point CSR would not fit ``B`` times.

    Parameters
    ----------
    pieces : the ``P`` coupling-free pieces (SciPy or CuPy sparse), all ``n x n``, on the
        device of the blocks they will be applied to.
    coefficients : ``(B, P)`` real coefficients, one row per point (host array).
    xp : the array module of the blocks (``numpy`` or ``cupy``).
    """

    def __init__(self, pieces: Sequence[Any], coefficients: Any, xp: Any = np) -> None:
        C = _check_pieces(pieces, coefficients)
        self.pieces = list(pieces)
        self.xp = xp
        self.n = pieces[0].shape[0]
        self.coefficients = C
        self._C = xp.asarray(C)
        self.dtype = np.result_type(*(O.dtype for O in pieces), np.float64)

    @property
    def batch(self) -> int:
        return self.coefficients.shape[0]

    def subset(self, rows: np.ndarray) -> PieceBatch:
        """The same pieces for the points ``rows`` (host integer array)."""
        return PieceBatch(self.pieces, self.coefficients[rows], self.xp)

    def diagonal(self) -> Any:
        """``(B, n)`` diagonals of every ``H_b``."""
        xp = self.xp
        D = xp.stack([xp.asarray(O.diagonal()).real for O in self.pieces], axis=0)  # (P, n)
        return self._C @ D

    def apply(self, X: Any) -> Any:
        """``Y[b] = H_b X[b]`` for a ``(B, n, k)`` block."""
        xp = self.xp
        B, n, k = X.shape
        X2 = xp.ascontiguousarray(X.transpose(1, 0, 2)).reshape(n, B * k)
        Y = None
        for i, O in enumerate(self.pieces):
            if not np.any(self.coefficients[:, i]):
                continue
            Z = (O @ X2).reshape(n, B, k) * self._C[None, :, i, None]
            Y = Z if Y is None else Y + Z
        if Y is None:
            return xp.zeros_like(X)
        return xp.ascontiguousarray(Y.transpose(1, 0, 2))

    def matrix(self, b: int) -> Any:
        """``H_b`` as one sparse matrix (per-point cross-checks)."""
        H = None
        for i, O in enumerate(self.pieces):
            c = float(self.coefficients[b, i])
            if c != 0.0:
                H = c * O if H is None else H + c * O
        return H if H is not None else 0.0 * self.pieces[0]


@dataclasses.dataclass
class BatchResult:
    """Lowest eigenpairs of every point: ``eigenvalues[b, j]`` with ``eigenvectors[b, :, j]``."""

    eigenvalues: Any  # (B, k), ascending per point
    eigenvectors: Any  # (B, n, k), orthonormal per point
    residuals: Any  # (B, k): ||H_b v - lambda v||
    iterations: int
    matvecs: int  # columns H was applied to, summed over the batch
    wall_s: float


def _inner(xp: Any, A: Any, B: Any) -> Any:
    """Per-point ``A^H B``: (B, n, a), (B, n, b) -> (B, a, b)."""
    return xp.matmul(A.conj().transpose(0, 2, 1), B)


def _colnorms(xp: Any, V: Any) -> Any:
    """Per-point column norms: (B, n, m) -> (B, m)."""
    return xp.sqrt(xp.sum((V.conj() * V).real, axis=1))


def _gram_orth(xp: Any, G: Any, norm0: Any, thr: float) -> tuple[Any, Any, Any]:
    """``T`` (B, m, m) with ``V @ T`` orthonormal where ``G = V^H V``; dropped columns are zero.

    Gram-Schmidt in the metric ``G`` (small arrays only); column ``j`` is dropped for a point
    when it keeps less than ``thr`` of its reference norm ``norm0[:, j]``.
    """
    B, m, _ = G.shape
    T = xp.zeros_like(G)
    keep = xp.zeros((B, m), dtype=bool)
    kept = xp.ones((B, m))  # fraction of the norm each column keeps
    for j in range(m):
        t = xp.zeros((B, m, 1), dtype=G.dtype)
        t[:, j, 0] = 1.0
        if j:
            Tj = T[:, :, :j]
            t = t - Tj @ (Tj.conj().transpose(0, 2, 1) @ (G @ t))
        nrm = xp.sqrt(xp.maximum((t.conj().transpose(0, 2, 1) @ G @ t).real[:, 0, 0], 0.0))
        ok = nrm > thr * norm0[:, j]
        T[:, :, j] = xp.where(ok[:, None], t[:, :, 0] / xp.where(ok, nrm, 1.0)[:, None], 0.0)
        keep[:, j] = ok
        kept[:, j] = xp.where(ok, nrm / xp.where(ok, norm0[:, j], 1.0), 1.0)
    return T, keep, kept


def _orthonormalize(xp: Any, S: Any, start: int, thr: float = DROP,
                    HS: Any = None) -> tuple[Any, Any, Any]:
    """Orthonormalise the columns ``start:`` of ``S`` (B, n, m) against the earlier ones.

    The columns before ``start`` must be orthonormal. Block classical Gram-Schmidt against
    them, then Gram-Schmidt within the block in the metric of its Gram matrix, repeated once
    when some column lost more than half of its norm ("twice is enough"). ``HS``, when
    given, holds the images ``H S`` and receives the same combinations (``H`` is linear).
    Returns ``(S, HS, keep)``: ``keep`` (B, m - start) flags the columns kept; the others
    are zero.
    """
    Q = S[:, :, :start]
    V = S[:, :, start:]
    HQ = HV = None
    if HS is not None:
        HQ, HV = HS[:, :, :start], HS[:, :, start:]
    keep = None
    norm0 = _colnorms(xp, V)
    for _ in range(2):
        if start:
            c = _inner(xp, Q, V)
            V = V - Q @ c
            if HV is not None:
                HV = HV - HQ @ c
        T, ok, kept = _gram_orth(xp, _inner(xp, V, V), norm0, thr)
        V = V @ T
        if HV is not None:
            HV = HV @ T
        keep = ok if keep is None else keep & ok
        if float(_host(xp.min(kept))) > 0.5:  # little cancellation: one pass is enough
            break
        norm0 = _colnorms(xp, V)
    S = xp.concatenate([Q, V], axis=2)
    HS = None if HV is None else xp.concatenate([HQ, HV], axis=2)
    return S, HS, keep


def _host(x: Any) -> np.ndarray:
    return x.get() if hasattr(x, "get") else np.asarray(x)


def _start_block(xp: Any, B: int, n: int, k: int, dtype: Any, X0: Any, seed: int) -> Any:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((B, n, k))
    if np.issubdtype(dtype, np.complexfloating):
        X = X + 1j * rng.standard_normal((B, n, k))
    X = xp.asarray(X.astype(dtype))
    if X0 is not None:
        X0 = xp.asarray(X0).astype(dtype)
        if X0.ndim == 2:
            X0 = X0[:, :, None]
        if X0.shape[:2] != (B, n) or X0.shape[2] > k:
            raise InvalidParameterError(
                f"start block must be (B, n[, j <= k]) = ({B}, {n}[, <= {k}]), "
                f"got {tuple(X0.shape)}"
            )
        j = X0.shape[2]
        have = _colnorms(xp, X0) > 0  # (B, j): an all-zero column means "no warm start"
        X[:, :, :j] = xp.where(have[:, None, :], X0, X[:, :, :j])
    X, _, _ = _orthonormalize(xp, X, 0)
    return X


def solve_batch(
    op: Any,
    k: int = 1,
    *,
    tol: float = 1e-9,
    maxiter: int = 1000,
    X0: Any | None = None,
    seed: int = 0,
) -> BatchResult:
    """Lowest ``k`` eigenpairs of every ``H_b`` of ``op`` by batched LOBPCG (module docstring).

    Parameters
    ----------
    op : a :class:`PieceBatch` (or anything with ``xp``, ``n``, ``batch``, ``dtype``,
        ``apply``, ``diagonal`` and ``subset``).
    k : eigenpairs per point.
    tol : converged when every residual ``||H v - lambda v|| <= tol * max(1, |lambda|_max)``.
    maxiter : iterations before :class:`EigNoConvergenceError` (carrying the partial result).
    X0 : optional start block ``(B, n)`` or ``(B, n, j <= k)`` (warm starts; an all-zero
        column means "no warm start for this point" and is replaced by a seeded random one).
    seed : seed of the random start columns.
    """
    xp, n, B = op.xp, op.n, op.batch
    if k < 1 or 3 * k >= n:
        raise InvalidParameterError(f"k={k} eigenpairs of a {n}x{n} operator: need 1 <= k < n/3")
    t0 = time.perf_counter()
    X = _start_block(xp, B, n, k, op.dtype, X0, seed)
    HX = op.apply(X)
    matvecs = B * k
    lam = xp.sum((X.conj() * HX).real, axis=1)  # (B, k)
    diag = op.diagonal()  # (B, n)
    P = HP = None
    active = np.arange(B)
    it = 0
    for _ in range(maxiter):
        it += 1
        ia = xp.asarray(active)  # device copy of the host index list (CuPy indexing)
        Xa, HXa, lama = X[ia], HX[ia], lam[ia]
        R = HXa - Xa * lama[:, None, :]
        rn = _colnorms(xp, R)  # (Ba, k)
        scale = xp.maximum(1.0, xp.max(xp.abs(lama), axis=1))
        done = _host(xp.all(rn <= tol * scale[:, None], axis=1))
        if np.all(done):
            active = active[:0]
            break
        if np.any(done):  # converged points leave the batch
            keep = ~done
            active = active[keep]
            kd = xp.asarray(keep)
            Xa, HXa, lama, R = Xa[kd], HXa[kd], lama[kd], R[kd]
            if P is not None:
                P, HP = P[kd], HP[kd]
        opa = op.subset(active) if active.size < B else op
        ia = xp.asarray(active)
        d = diag[ia][:, :, None]
        delta = 1e-3 * xp.maximum(1.0, xp.abs(lama))[:, None, :]
        W = R / (xp.abs(d - lama[:, None, :]) + delta)
        S, _, keep_w = _orthonormalize(xp, xp.concatenate([Xa, W], axis=2), k)
        HS = xp.concatenate([HXa, opa.apply(S[:, :, k:])], axis=2)
        matvecs += int(active.size) * k
        keep_cols = xp.concatenate([xp.ones((active.size, k), dtype=bool), keep_w], axis=1)
        if P is not None:  # P with its carried image, orthonormalised against [X, W]
            S, HS, keep_p = _orthonormalize(xp, xp.concatenate([S, P], axis=2), 2 * k,
                                            P_DROP, xp.concatenate([HS, HP], axis=2))
            keep_cols = xp.concatenate([keep_cols, keep_p], axis=1)
        A = _inner(xp, S, HS)
        A = 0.5 * (A + A.conj().transpose(0, 2, 1))
        m = S.shape[2]
        both = keep_cols[:, :, None] & keep_cols[:, None, :]
        big = 1e3 * (xp.max(xp.abs(A), axis=(1, 2)) + 1.0)
        A = xp.where(both, A, 0.0) + xp.where(keep_cols, 0.0, big[:, None])[:, :, None] * xp.eye(m)
        w, Y = xp.linalg.eigh(A)
        Yk = Y[:, :, :k]
        X[ia] = S @ Yk
        HX[ia] = HS @ Yk
        lam[ia] = w[:, :k]
        P = S[:, :, k:] @ Yk[:, k:, :]
        HP = HS[:, :, k:] @ Yk[:, k:, :]
    HX = op.apply(X)
    matvecs += B * k
    lam = xp.sum((X.conj() * HX).real, axis=1)
    order = xp.argsort(lam, axis=1)
    lam = xp.take_along_axis(lam, order, axis=1)
    X = xp.take_along_axis(X, order[:, None, :], axis=2)
    HX = xp.take_along_axis(HX, order[:, None, :], axis=2)
    res = _colnorms(xp, HX - X * lam[:, None, :])
    out = BatchResult(eigenvalues=lam, eigenvectors=X, residuals=res, iterations=it,
                      matvecs=matvecs, wall_s=time.perf_counter() - t0)
    if active.size:
        raise EigNoConvergenceError(
            f"batched LOBPCG did not converge in {maxiter} iterations for {active.size} of {B} "
            f"points (k={k}, n={n}, tol={tol}); largest residual {float(_host(xp.max(res))):.3g}",
            _host(lam), _host(X), _host(res),
        )
    return out


def solve_coefficient_batch(
    pieces: Mapping[str, Any],
    coefficients: Sequence[Mapping[str, float]],
    k: int = 1,
    *,
    starts: Sequence[Any | None] | None = None,
    tol: float = 1e-10,
    device: bool = False,
    seed: int = 0,
) -> list[EigResult]:
    """Per-point :class:`~lfqcd.eigen.EigResult` for ``H_b = sum_name coefficients[b][name] O``.

    The front-end the simulators use: ``pieces`` by name (host SciPy matrices, or CuPy ones
    with ``device=True``), one coefficient mapping per point (every piece named), optional
    warm-start vectors per point (``None`` or a wrong shape: random start). ``tol`` (residual
    relative to ``max(1, |lambda|)``) matches ARPACK's ``tol = 1e-10`` of the per-point
    path (ARPACK stops at ``||r|| <= tol |lambda|``). Eigenvectors come
    back on the host; ``backend`` is ``"batched-numpy"`` or ``"batched-cupy"`` and ``wall_s``
    the batch's wall time divided by the batch size.
    """
    from lfqcd.eigen import EigResult

    names = list(pieces)
    for c in coefficients:
        if set(c) != set(names):
            raise InvalidParameterError(
                f"coefficients do not match the pieces: missing {sorted(set(names) - set(c))}, "
                f"unknown {sorted(set(c) - set(names))}"
            )
    if device:
        import cupy as xp
    else:
        xp = np
    C = np.array([[float(c[name]) for name in names] for c in coefficients])
    op = PieceBatch([pieces[name] for name in names], C, xp)
    X0 = None
    if starts is not None:
        X0 = np.zeros((op.batch, op.n), dtype=op.dtype)
        for b, v in enumerate(starts):
            v = None if v is None else _host(v)
            if v is not None and v.shape == (op.n,):
                X0[b] = v
    res = solve_batch(op, k, tol=tol, X0=X0, seed=seed)
    lam, vec, rn = _host(res.eigenvalues), _host(res.eigenvectors), _host(res.residuals)
    per = res.wall_s / op.batch
    tag = "batched-cupy" if device else "batched-numpy"
    return [EigResult(eigenvalues=lam[b], eigenvectors=vec[b], residuals=rn[b], backend=tag,
                      wall_s=per) for b in range(op.batch)]
