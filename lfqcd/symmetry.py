"""Symmetry blocks: the C_4 rotation with helicity phases and its j_z sectors (docs/physics.md (G5)).

On the transverse lattice only ``j_z mod 4`` is conserved. The rotation ``R`` (see
:func:`lfqcd.operators.rotation_c4`) has eigenvalues ``exp(-i j_z pi/2)``; the projector on one
sector is ``P_j = (1/4) sum_{n=0}^{3} exp(+i j pi n/2) R^n`` (``R^4 = -1`` on half-integer
``j_z``, so ``P_j`` is idempotent). Projecting one representative of every rotation orbit and
normalising gives the orthonormal columns of the block isometry ``V``; ``V^H H V`` is the block.
Formally equivalent to diagonalising the full ``H`` and keeping the eigenvectors with
``R v = exp(-i j_z pi/2) v`` - a test compares the two on small bases.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from lfqcd.basis import ChainBasis
from lfqcd.errors import InvalidParameterError
from lfqcd.operators import rotation_c4


def jz_projector(basis: ChainBasis, jz: float) -> sp.csr_matrix:
    """The sparse projector ``P_j`` onto ``j_z = jz (mod 4)``."""
    twice = 2 * jz
    if abs(twice - round(twice)) > 1e-12:
        raise InvalidParameterError(f"j_z must be a multiple of 1/2, got {jz}")
    n_fermions = {"static": 1, "dlcq": 2, "static_pair": 0}[basis.kind]
    if round(twice) % 2 != n_fermions % 2:
        kind = "half-integer" if n_fermions % 2 else "integer"
        raise InvalidParameterError(
            f"j_z = {jz} is impossible for a {basis.kind} basis with {n_fermions} light "
            f"fermion(s): j_z must be {kind}"
        )
    R = rotation_c4(basis)
    P = sp.identity(basis.dim, dtype=np.complex128, format="csr")
    Rn = P.copy()
    for n in range(1, 4):
        Rn = (Rn @ R).tocsr()
        P = P + np.exp(0.5j * np.pi * jz * n) * Rn
    P = (P / 4.0).tocsr()
    P.data[np.abs(P.data) < 1e-14] = 0
    P.eliminate_zeros()
    return P


def jz_isometry(basis: ChainBasis, jz: float) -> sp.csr_matrix:
    """Orthonormal basis (columns) of the ``j_z = jz`` block, one column per rotation orbit.

    Each orbit is represented by its lowest state index; the column is ``P_j`` applied to that
    state, normalised (orbits whose projection vanishes contribute no column).
    """
    P = jz_projector(basis, jz).tocsc()
    R = rotation_c4(basis).tocsr()
    image = R.indices[R.indptr[:-1]]  # R is a phase-permutation: one entry per row
    rep = np.arange(basis.dim)
    j = np.arange(basis.dim)
    for _ in range(3):
        j = image[j]
        rep = np.minimum(rep, j)
    reps = np.unique(rep)
    cols = P[:, reps]
    norms = np.sqrt(np.asarray(abs(cols.multiply(cols.conj())).sum(axis=0)).ravel())
    keep = norms > 1e-10
    if not np.any(keep):
        raise InvalidParameterError(f"the j_z = {jz} block of this basis is empty")
    V = cols[:, np.flatnonzero(keep)] @ sp.diags(1.0 / norms[keep])
    return sp.csr_matrix(V)
