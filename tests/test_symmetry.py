r"""C_4 rotation and j_z blocks (docs/physics.md (G5) and section 10; issue #2).

On the transverse lattice only ``j_z mod 4`` is conserved: ``R`` (links turned by 90 degrees, helicity
phases ``exp(-i s pi/2)``) commutes with every piece, the projectors ``P_j`` split the basis, the
union of the block spectra is the full spectrum, and the reflection symmetry makes ``j_z`` and
``-j_z`` degenerate (the ``j_z = +-1/2`` doublets of docs/physics.md section 10).
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
from test_basis import SMALL_BASES, basis_params, get_basis
from test_operators import eps_tol, femtoworm_coefficients, femtoworm_pieces

from lfqcd.errors import InvalidParameterError
from lfqcd.hamiltonian import PieceSum
from lfqcd.operators import rotation_c4
from lfqcd.symmetry import jz_isometry, jz_projector


def jz_values(basis) -> tuple[float, ...]:
    """One representative of each j_z class mod 4: half-integer for one light fermion (static
    source), integer for a dynamical quark-antiquark pair."""
    return (-0.5, 0.5, 1.5, 2.5) if basis.static else (0.0, 1.0, 2.0, 3.0)


def femtoworm_H(basis) -> np.ndarray:
    """Dense ``2 Lambda-bar`` (static) or ``M^2`` (dlcq) with the illustrative couplings."""
    coef = femtoworm_coefficients(basis)
    return PieceSum(femtoworm_pieces(basis)).combine(coef).toarray()


def clusters(values: np.ndarray, tol: float) -> list[tuple[float, int]]:
    """Group sorted eigenvalues into (value, multiplicity) within ``tol``."""
    out: list[list] = []
    for v in np.sort(values):
        if out and abs(v - out[-1][0]) <= tol:
            out[-1][1] += 1
        else:
            out.append([v, 1])
    return [(v, n) for v, n in out]


SPIN_BASES = basis_params(lambda s: s.spin and s.max_links >= 1)


@pytest.mark.parametrize("name", basis_params())
def test_every_piece_commutes_with_the_rotation(name):
    basis = get_basis(name)
    R = rotation_c4(basis)
    for piece, O in femtoworm_pieces(basis).items():
        C = (O @ R - R @ O).tocsr()
        err = np.abs(C.data).max() if C.nnz else 0.0
        scale = np.abs(O.data).max() if O.nnz else 1.0
        assert err <= eps_tol(scale), f"[{piece}, R] = {err:.3g} on {name}"


@pytest.mark.parametrize("name", basis_params())
def test_projectors_split_the_basis(name):
    basis = get_basis(name)
    R = rotation_c4(basis).toarray()
    total = np.zeros((basis.dim, basis.dim), dtype=complex)
    dims = 0
    for jz in jz_values(basis):
        P = jz_projector(basis, jz).toarray()
        assert np.abs(P @ P - P).max() <= eps_tol(1.0, 4), "P_j must be idempotent"
        assert np.abs(P - P.conj().T).max() <= eps_tol(1.0, 4), "P_j must be Hermitian"
        # R acts on the block as exp(-i j_z pi/2)
        assert np.abs(R @ P - np.exp(-0.5j * np.pi * jz) * P).max() <= eps_tol(1.0, 4)
        total += P
        if round(np.trace(P).real) == 0:  # e.g. |j_z| = 3/2 needs a link
            with pytest.raises(InvalidParameterError, match=r"block of this basis is empty"):
                jz_isometry(basis, jz)
            continue
        V = jz_isometry(basis, jz).toarray()
        assert np.abs(V.conj().T @ V - np.eye(V.shape[1])).max() <= eps_tol(1.0, 4)
        assert np.abs(P @ V - V).max() <= eps_tol(1.0, 4), "isometry columns must lie in the block"
        assert V.shape[1] == round(np.trace(P).real)
        dims += V.shape[1]
    assert np.abs(total - np.eye(basis.dim)).max() <= eps_tol(1.0, 4)
    assert dims == basis.dim, "block dimensions must sum to the full dimension"


@pytest.mark.parametrize("name", SPIN_BASES)
def test_block_spectra_union_is_the_full_spectrum(name):
    basis = get_basis(name)
    H = femtoworm_H(basis)
    full = scipy.linalg.eigvalsh(H)
    blocks = []
    for jz in jz_values(basis):
        V = jz_isometry(basis, jz).toarray()
        blocks.append(scipy.linalg.eigvalsh(V.conj().T @ H @ V))
    union = np.sort(np.concatenate(blocks))
    scale = np.abs(full).max()
    assert union.shape == full.shape
    assert np.abs(union - full).max() <= eps_tol(scale, basis.dim)


@pytest.mark.parametrize("name", SPIN_BASES)
def test_block_spectrum_is_the_projected_full_spectrum(name):
    """Cross-representation check (symmetry.py "formally equivalent"): for every eigenvalue of
    the full ``H``, the rank of ``P_j`` on its eigenspace equals its multiplicity in block ``j``."""
    basis = get_basis(name)
    H = femtoworm_H(basis)
    w, U = scipy.linalg.eigh(H)
    scale = np.abs(w).max()
    tol = 1e3 * eps_tol(scale, basis.dim)
    for jz in jz_values(basis)[:2]:
        P = jz_projector(basis, jz).toarray()
        V = jz_isometry(basis, jz).toarray()
        wb = scipy.linalg.eigvalsh(V.conj().T @ H @ V)
        lo = 0
        for value, mult in clusters(w, tol):
            space = U[:, lo:lo + mult]
            lo += mult
            sv = np.linalg.svd(P @ space, compute_uv=False)
            rank = int(np.sum(sv > 0.5))  # singular values are 0 or 1 for an exact eigenspace
            assert np.all((sv < 1e-6) | (sv > 1 - 1e-6))
            assert rank == int(np.sum(np.abs(wb - value) <= tol)), (jz, value)


@pytest.mark.parametrize("name", SPIN_BASES)
def test_plus_minus_jz_degeneracy(name):
    basis = get_basis(name)
    H = femtoworm_H(basis)
    scale = np.abs(H).max()
    js = jz_values(basis)
    pairs = [(0.5, -0.5), (1.5, 2.5)] if basis.static else [(1.0, 3.0)]
    for ja, jb in pairs:
        Va, Vb = (jz_isometry(basis, j).toarray() for j in (ja, jb))
        wa = scipy.linalg.eigvalsh(Va.conj().T @ H @ Va)
        wb = scipy.linalg.eigvalsh(Vb.conj().T @ H @ Vb)
        assert wa.shape == wb.shape
        assert np.abs(wa - wb).max() <= eps_tol(scale, basis.dim), (ja, jb)
    assert len(js) == 4


def test_ground_state_is_a_jz_half_doublet():
    """docs/physics.md section 6: hopping on, the lowest state of the femtoworm is a j_z = +-1/2 doublet."""
    basis = get_basis("static-N8-1link-spin")
    H = femtoworm_H(basis)
    full = scipy.linalg.eigvalsh(H)
    tol = eps_tol(np.abs(full).max(), basis.dim)
    lowest = {}
    for jz in jz_values(basis):
        V = jz_isometry(basis, jz).toarray()
        lowest[jz] = scipy.linalg.eigvalsh(V.conj().T @ H @ V)[0]
    assert abs(lowest[0.5] - full[0]) <= tol and abs(lowest[-0.5] - full[0]) <= tol
    assert min(lowest[1.5], lowest[2.5]) > full[0] + 1e-3
    assert abs(full[1] - full[0]) <= tol and full[2] > full[0] + 1e-3


def test_piece_sum_block_lifts_to_full_eigenvectors():
    """PieceSum with the j_z isometry: block eigenvectors lifted back are eigenvectors of the
    full operator with the same eigenvalues (residual check)."""
    basis = get_basis("static-N8-1link-spin")
    pieces = femtoworm_pieces(basis)
    coef = femtoworm_coefficients(basis)
    V = jz_isometry(basis, 0.5)
    block = PieceSum(pieces, isometry=V)
    assert block.dim == V.shape[1] and block.dim < basis.dim
    Hb = block.combine(coef).toarray()
    assert np.abs(Hb - Hb.conj().T).max() <= eps_tol(np.abs(Hb).max())
    w, u = scipy.linalg.eigh(Hb)
    full = block.lift(u[:, :4])
    H = PieceSum(pieces).combine(coef)
    res = np.linalg.norm(H @ full - full * w[None, :4], axis=0)
    assert res.max() <= eps_tol(np.abs(w).max(), basis.dim)
    R = rotation_c4(basis)
    assert np.abs(R @ full - np.exp(-0.25j * np.pi) * full).max() <= eps_tol(1.0, 4)


def test_jz_must_be_a_multiple_of_one_half():
    basis = get_basis("static-N8-1link-spin")
    with pytest.raises(InvalidParameterError, match=r"j_z must be a multiple of 1/2, got 0\.3"):
        jz_projector(basis, 0.3)


def test_empty_block_is_refused():
    basis = get_basis("static-N6-0link")  # no links, spin up only: j_z = +1/2 alone
    with pytest.raises(InvalidParameterError, match=r"the j_z = 1\.5 block of this basis is empty"):
        jz_isometry(basis, 1.5)
    assert jz_isometry(basis, 0.5).shape == (basis.dim, basis.dim)


def test_half_integer_jz_on_a_two_fermion_basis_is_refused():
    basis = get_basis("dlcq-K6-1link-spin")  # R^4 = +1: integer j_z only
    with pytest.raises(InvalidParameterError, match=r"j_z"):
        jz_projector(basis, 0.5)


def test_registry_has_both_kinds_with_links():
    kinds = {spec.kind for spec in SMALL_BASES.values() if spec.spin and spec.max_links >= 1}
    assert kinds == {"static", "dlcq"}
