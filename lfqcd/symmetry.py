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

import dataclasses

import numpy as np
import scipy.sparse as sp

from lfqcd.basis import ChainBasis
from lfqcd.errors import InvalidParameterError
from lfqcd.operators import reflection_y, rotation_c4


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


@dataclasses.dataclass(frozen=True, eq=False)
class JzBlock:
    """The ``j_z = jz`` block of a basis, in the form the block-direct assembly needs.

    Column ``b`` of the isometry ``V`` is ``P_j e_{r_b} / n_b`` (``r_b = reps[b]`` the lowest
    state index of its rotation orbit, ``n_b = ||P_j e_{r_b}||``; orbits whose projection
    vanishes have no column). Every full state ``t`` lies in one orbit, so ``V`` has at most one
    nonzero per row: ``V[t, index[t]] = factor[t]`` (``index[t] = -1``, ``factor[t] = 0`` when
    the orbit has no column). For a rotation-invariant Hermitian ``O`` this gives
    ``(V^H O V)[b, b'] = inv_norm[b] * sum_t O[r_b, t] factor[t]`` over the ``t`` with
    ``index[t] = b'`` (``P_j`` Hermitian, idempotent and commuting with ``O``): the representative
    row only, its columns mapped to blocks and weighted (:func:`lfqcd.assembly.build_csr`).
    """

    jz: float
    reps: np.ndarray  # (n_block,) int64: representative (lowest) state of each column's orbit
    index: np.ndarray  # (n_full,) int64: block column of each state's orbit, -1 if none
    factor: np.ndarray  # (n_full,) complex128: V[t, index[t]] (0 where index is -1)
    inv_norm: np.ndarray  # (n_block,) float64: 1 / n_b
    isometry: sp.csr_matrix  # V, (n_full, n_block)

    @property
    def dim(self) -> int:
        return int(self.reps.shape[0])

    @property
    def full_dim(self) -> int:
        return int(self.index.shape[0])


def jz_block(basis: ChainBasis, jz: float) -> JzBlock:
    """The :class:`JzBlock` of ``j_z = jz``: one column per rotation orbit whose projection does
    not vanish, represented by its lowest state index, normalised."""
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
    V = sp.csr_matrix(cols[:, np.flatnonzero(keep)] @ sp.diags(1.0 / norms[keep]))
    V.sort_indices()
    reps = reps[keep].astype(np.int64)
    nnz_row = np.diff(V.indptr)
    if nnz_row.max(initial=0) > 1:  # orbits are disjoint: never more than one column per row
        raise AssertionError("j_z isometry with two nonzeros in a row")
    rows = np.repeat(np.arange(basis.dim), nnz_row)
    index = np.full(basis.dim, -1, dtype=np.int64)
    index[rows] = V.indices
    factor = np.zeros(basis.dim, dtype=np.complex128)
    factor[rows] = V.data
    # every state of a kept orbit must carry its column (P e_r vanishes on none of its states)
    orbit_col = np.full(basis.dim, -1, dtype=np.int64)
    orbit_col[reps] = np.arange(reps.shape[0])
    if not np.array_equal(index, orbit_col[rep]):
        raise AssertionError("j_z isometry columns do not match the rotation orbits")
    return JzBlock(jz=float(jz), reps=reps, index=index, factor=factor,
                   inv_norm=1.0 / norms[keep], isometry=V)


def jz_isometry(basis: ChainBasis, jz: float) -> sp.csr_matrix:
    """Orthonormal basis (columns) of the ``j_z = jz`` block, one column per rotation orbit.

    Each orbit is represented by its lowest state index; the column is ``P_j`` applied to that
    state, normalised (orbits whose projection vanishes contribute no column). The isometry of
    :func:`jz_block`.
    """
    return jz_block(basis, jz).isometry


def real_block_basis(basis: ChainBasis, block: JzBlock) -> sp.csr_matrix:
    """The unitary ``T`` (block x block) whose columns are invariant under ``A = S K``.

    ``A`` (:func:`lfqcd.operators.reflection_y` times complex conjugation) maps block column
    ``v_b`` to ``c_b v_{b'}`` with ``b' = index[S r_b]`` and ``c_b = conj(factor[S r_b]) / n_b``
    (``P_j S = S P_j^*``, ``P_j e_t = v_{index[t]} conj(factor[t])``). Self-paired columns become
    ``c_b^{1/2} v_b``, pairs ``(v_b + c_b v_{b'})/sqrt 2`` and ``i (v_b - c_b v_{b'})/sqrt 2``. Every
    operator that commutes with ``A`` is real in ``V T`` (``<w|O w'> = <A w|A O w'>^* =
    <w|O w'>^*``): the heavy-light blocks at any number of links, where no diagonal re-phasing
    suffices, and the light-light blocks at rest (docs/physics_links.md section 7). Raises
    ``AssertionError`` if the reflection does not act as an antiunitary involution on the block
    (a basis it is not a symmetry of).
    """
    if basis.kind not in ("static", "dlcq"):
        raise ValueError("real_block_basis needs a heavy-light (static) or light-light (dlcq) "
                         f"basis, got {basis.kind!r}")
    image = reflection_y(basis).tocsc().indices  # S e_t = e_{image[t]}: one entry per column
    t = image[block.reps]
    partner = block.index[t]
    if np.any(partner < 0):
        raise AssertionError("the reflection leaves the j_z block")
    c = np.conj(block.factor[t]) * block.inv_norm
    b = np.arange(block.dim)
    if (not np.array_equal(partner[partner], b) or not np.allclose(np.abs(c), 1.0, atol=1e-10)
            or not np.allclose(np.conj(c) * c[partner], 1.0, atol=1e-10)):
        raise AssertionError("the reflection is not an antiunitary involution on the j_z block")
    alone = partner == b
    first = partner > b  # the lower column of each pair
    r2 = 1.0 / np.sqrt(2.0)
    pb, pp, pc = b[first], partner[first], c[first]
    rows = np.concatenate([b[alone], pb, pp, pb, pp])
    cols = np.concatenate([b[alone], pb, pb, pp, pp])  # a pair's two new columns sit at b and b'
    vals = np.concatenate([np.sqrt(c[alone]), np.full(pb.size, r2), r2 * pc,
                           np.full(pb.size, 1j * r2), -1j * r2 * pc])
    return sp.csr_matrix((vals.astype(np.complex128), (rows, cols)), shape=(block.dim, block.dim))
