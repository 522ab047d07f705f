"""Block-direct assembly: every piece built straight in a j_z block equals ``V^H O V``.

``build_csr(..., block=JzBlock)`` assembles the block row of each orbit representative with
the unchanged row kernel, maps the columns to their orbits' block columns and weights them by
``V[t, b(t)] / n_b`` (docs/solvers.md, Assembly). The reference here is the projection of the
full-basis piece with the isometry of :func:`lfqcd.symmetry.jz_isometry`; the heavy-light model
built block-direct must give the spectra and lifted vectors of the projected path.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from test_basis import get_basis

from heavy_meson.hamiltonian import HeavyLightModel, Resolution, estimate_nnz
from lfqcd import operators as ops
from lfqcd.assembly import build_csr
from lfqcd.couplings import get_preset
from lfqcd.hamiltonian import PieceSum
from lfqcd.links import LinkCouplings, multi_link_pieces
from lfqcd.symmetry import jz_block, jz_isometry

COUPLINGS = get_preset("illustrative").couplings
LINK_COUPLINGS = LinkCouplings(lam_S=0.3, lam_P=0.2, lam_B=0.5, beta=0.2)


def pieces(basis, block=None) -> dict[str, sp.csr_matrix]:
    """Every piece function HeavyLightModel uses (and the dynamic antiquark's on dlcq)."""
    out = {
        "kinetic": ops.light_momentum(basis, block),
        # any rotation-invariant diagonal (the block formula needs [O, R] = 0)
        "diag": ops.diagonal(basis, basis.nlinks - 0.3 * basis.quark_mom + 0.1, block),
        "inv_q": ops.inverse_momentum(basis, "quark", block=block),
        "inv_q1": ops.inverse_momentum(basis, "quark", sector=1, block=block),
        "inv_links": ops.inverse_momentum(basis, "links", block=block),
        "log_q0": ops.cell_log_mass(basis, "quark", 0, block),
        "coulomb": ops.coulomb(basis, block),
        "t_F": ops.link_emission(basis, True, block),
        "t_NF": ops.link_emission(basis, False, block),
        **{f"w_{w}": ops.link_swap(basis, w, block) for w in ("FF", "NN", "FN")},
    }
    if not basis.static:
        out["inv_qbar"] = ops.inverse_momentum(basis, "antiquark", block=block)
        out["log_qbar1"] = ops.cell_log_mass(basis, "antiquark", 1, block)
    if basis.max_links >= 2:
        out.update(multi_link_pieces(basis, block))
    return out


CASES = [("static-N8-1link-spin", 0.5), ("static-N8-1link-spin", 1.5),
         ("static-N5-2link-spin", 0.5), ("static-N5-2link-spin", 1.5),
         ("static-N5-2link-spin", -0.5),
         ("static-N5-3link-spin", 0.5), ("static-N5-3link-spin", 1.5),
         ("dlcq-K6-1link-spin", 0.0), ("dlcq-K6-1link-spin", 1.0),
         ("dlcq-K5-2link", 2.0)]


def orbit_lengths(basis) -> np.ndarray:
    R = ops.rotation_c4(basis).tocsr()
    image = R.indices[R.indptr[:-1]]
    length = np.zeros(basis.dim, dtype=int)
    j = np.arange(basis.dim)
    for n in range(1, 5):
        j = image[j]
        length = np.where((length == 0) & (j == np.arange(basis.dim)), n, length)
    return length


@pytest.mark.parametrize(("name", "jz"), CASES, ids=[f"{n}-jz{j}" for n, j in CASES])
def test_every_piece_in_the_block_is_the_projected_piece(name, jz):
    basis = get_basis(name)
    block = jz_block(basis, jz)
    V = jz_isometry(basis, jz)
    VH = V.conj().T.tocsr()
    full = pieces(basis)
    direct = pieces(basis, block)
    assert direct.keys() == full.keys()
    for piece, O in full.items():
        B = direct[piece]
        assert B.shape == (block.dim, block.dim) and B.dtype == np.complex128
        ref = (VH @ O @ V).toarray()
        scale = max(np.abs(O).max(), 1e-300)
        err = np.abs(B.toarray() - ref).max()
        assert err <= 1e-12 * scale, f"{piece} on {name}, j_z = {jz}: {err:.3g}"
    # orbits shorter than 4 (the states without links: R only rotates the helicity phase) are
    # covered, in the block or projected out of it
    short = orbit_lengths(basis) < 4
    assert short.any() and np.all(orbit_lengths(basis)[~short] == 4)
    # a fixed point t (R t = phase t) is in the block iff its phase is exp(-i j_z pi/2)
    phase = ops.rotation_c4(basis).diagonal()[short]
    np.testing.assert_array_equal(block.index[short] >= 0,
                                  np.isclose(phase, np.exp(-0.5j * np.pi * jz)))


def test_jz_block_is_the_isometry():
    """JzBlock and jz_isometry: same representatives (lowest index of each orbit), order and
    normalisation; one nonzero per row of V, V[t, index[t]] = factor[t]."""
    basis = get_basis("static-N5-2link-spin")
    for jz in (0.5, 1.5, 2.5):
        block = jz_block(basis, jz)
        V = jz_isometry(basis, jz).toarray()
        assert V.shape == (basis.dim, block.dim)
        rows = np.flatnonzero(block.index >= 0)
        expected = np.zeros_like(V)
        expected[rows, block.index[rows]] = block.factor[rows]
        np.testing.assert_array_equal(V, expected)
        assert np.all(block.factor[block.index < 0] == 0)
        assert np.all(np.diff(block.reps) > 0)  # columns in order of their representatives
        for b, r in enumerate(block.reps):  # the representative is the orbit's lowest state
            assert np.flatnonzero(block.index == b).min() == r
        np.testing.assert_allclose(np.linalg.norm(V, axis=0), 1.0, atol=1e-14)
        # 1/n_b: P_j e_r = n_b V[:, b] has the entry <r|P_j|r> = ||P_j e_r||^2 = n_b^2 at r,
        # so V[r_b, b] = n_b
        np.testing.assert_allclose(block.factor[block.reps] * block.inv_norm, 1.0, atol=1e-14)


def test_block_must_belong_to_the_basis():
    basis = get_basis("static-N8-1link-spin")
    other = jz_block(get_basis("static-N5-2link-spin"), 0.5)
    with pytest.raises(ValueError, match=r"block of a \d+-state basis used on \d+ states"):
        ops.coulomb(basis, other)
    block = jz_block(basis, 0.5)
    with pytest.raises(ValueError, match=r"serial passes only"):
        build_csr(ops._diag_row, basis.dim, (np.ones(basis.dim),), np.float64, 1,
                  parallel=True, block=block)
    with pytest.raises(ValueError, match=r"projected pieces and a real basis need the isometry"):
        PieceSum({"a": sp.identity(3, format="csr")}, projected=True)
    with pytest.raises(ValueError, match=r"a real basis need the isometry"):
        PieceSum({"a": sp.identity(3, format="csr")}, real_basis=sp.identity(3, format="csr"))
    with pytest.raises(ValueError, match=r"at least one piece"):
        PieceSum(iter([]))


@pytest.mark.parametrize("max_links", [1, 2, 3])
def test_model_spectra_unchanged(max_links):
    """The model built block-direct (jz given) vs the projected path (full pieces, with_jz):
    same pieces, eigenvalues, lifted eigenvectors; both are real at every number of links (the
    reflection basis of lfqcd.symmetry.real_block_basis)."""
    res = {1: Resolution(0.5, 3.0), 2: Resolution(0.5, 3.0), 3: Resolution(0.5, 2.0)}[max_links]
    kw = dict(max_links=max_links, link_couplings=LINK_COUPLINGS)
    full = HeavyLightModel(res, jz=None, **kw)
    for jz in (0.5, 1.5):
        direct = HeavyLightModel(res, jz=jz, **kw)
        assert direct._full_pieces is None  # no full-basis piece formed
        projected = full.with_jz(jz)
        assert direct.pieces.dtype == projected.pieces.dtype
        assert direct.pieces.dtype == np.float64
        for name, p in projected.pieces.pieces.items():
            d = direct.pieces.pieces[name]
            scale = max(np.abs(full.full_pieces()[name]).max(), 1e-300)
            assert np.abs((d - p).toarray()).max() <= 1e-12 * scale, name
        H_d = direct.hamiltonian(COUPLINGS, m0_sq=1.64).toarray()
        H_p = projected.hamiltonian(COUPLINGS, m0_sq=1.64).toarray()
        w_d, w_p = np.linalg.eigvalsh(H_d), np.linalg.eigvalsh(H_p)
        np.testing.assert_allclose(w_d, w_p, atol=1e-12 * np.abs(w_p).max())
        a = direct.solve(COUPLINGS, 2, m0_sq=1.64, backend="scipy")
        b = projected.solve(COUPLINGS, 2, m0_sq=1.64, backend="scipy")
        np.testing.assert_allclose(a.lambda_bar, b.lambda_bar, atol=1e-10)
        if jz == 0.5:  # the phase fixed by the sector-0 amplitude (none at j_z = 3/2)
            np.testing.assert_allclose(a.vectors, b.vectors, atol=1e-7)
        # with_jz of a block-direct model builds the other block directly as well
        other = direct.with_jz(-jz)
        assert other._full_pieces is None
        np.testing.assert_allclose(
            np.linalg.eigvalsh(other.hamiltonian(COUPLINGS, m0_sq=1.64).toarray()), w_d,
            atol=1e-10 * np.abs(w_d).max())


def test_block_memory_estimate_bounds_the_real_nonzeros():
    """estimate_nnz(block=True) (the guard of the block-direct path) bounds the measured
    nonzeros of the block pieces as assembled (complex) within a factor 3 at 2 and 3 links;
    the stored real-basis pieces have no more."""
    for max_links, res in ((2, Resolution(0.5, 3.0)), (2, Resolution(0.5, 5.0)),
                           (3, Resolution(0.5, 2.5)), (3, Resolution(0.75, 6.0))):
        nnz = HeavyLightModel(res, jz=0.5, max_links=max_links, real_block=False).pieces.nnz
        est = estimate_nnz(res.n_grid, max_links, block=True)
        assert nnz <= est <= 3 * nnz, (max_links, res, nnz, est)
        assert HeavyLightModel(res, jz=0.5, max_links=max_links).pieces.nnz <= nnz


def test_block_direct_piece_sum_lifts_to_full_eigenvectors():
    """A PieceSum of block-direct pieces (real gauge applied at 1 link) lifts its block
    eigenvectors to eigenvectors of the full operator in the j_z = 1/2 sector."""
    basis = get_basis("static-N8-1link-spin")
    block = jz_block(basis, 0.5)
    ps = PieceSum(pieces(basis, block), block.isometry, projected=True)
    H = ps.combine({k: 1.0 for k in ps.names}).toarray()
    w, u = np.linalg.eigh(H)
    full = ps.lift(u[:, :3])
    H_full = PieceSum(pieces(basis)).combine({k: 1.0 for k in ps.names})
    res = np.linalg.norm(H_full @ full - full * w[None, :3], axis=0)
    assert res.max() <= 1e-10 * np.abs(w).max()
    R = ops.rotation_c4(basis)
    assert np.abs(R @ full - np.exp(-0.25j * np.pi) * full).max() <= 1e-12


def test_build_csr_block_of_a_diagonal_is_the_diagonal():
    """A diagonal piece in the block: the representatives' values (the weights cancel)."""
    basis = get_basis("static-N5-3link-spin")
    block = jz_block(basis, 1.5)
    vals = 1.0 + basis.nlinks + 0.7 * basis.link_mom.sum(axis=1)  # rotation invariant
    B = build_csr(ops._diag_row, basis.dim, (vals,), np.float64, 1, block=block)
    np.testing.assert_allclose(B.diagonal(), vals[block.reps], rtol=1e-15)
    assert B.nnz == block.dim
