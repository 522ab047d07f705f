"""HeavyLightModel with 2 and 3 links (issue 11): regression at 1 link, symmetries, blocks,
sector decoupling, mu -> infinity, probabilities and sum rules. Tiny bases, dense solves."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import scipy.sparse as sp
from test_operators import femtoworm_pieces

from heavy_meson import observables as ob
from heavy_meson.hamiltonian import PIECES, HeavyLightModel, Resolution, estimate_nnz
from lfqcd import operators as ops
from lfqcd.couplings import get_preset
from lfqcd.errors import InvalidParameterError
from lfqcd.links import LINK_NUMBER_CHANGING, MULTI_LINK_PIECES, LinkCouplings

COUPLINGS = get_preset("illustrative").couplings
LINK_COUPLINGS = LinkCouplings(lam_S=0.3, lam_P=0.2, lam_B=0.5, beta=0.2)
RES = {2: Resolution(0.5, 3.0), 3: Resolution(0.5, 2.0)}  # full bases of 772 and 312 states


@functools.cache
def model(max_links: int, jz: float | None = None) -> HeavyLightModel:
    if jz is not None:
        return model(max_links).with_jz(jz)
    return HeavyLightModel(RES.get(max_links, Resolution(0.5, 3.0)), jz=None,
                           max_links=max_links, link_couplings=LINK_COUPLINGS)


def dense(m: HeavyLightModel, coeffs: dict | None = None, m0_sq: float = 1.64) -> np.ndarray:
    if coeffs is None:
        return m.hamiltonian(COUPLINGS, m0_sq=m0_sq).toarray()
    return m.pieces.combine(coeffs).toarray()


def test_one_link_operator_is_the_femtoworm_operator():
    m = HeavyLightModel(Resolution(0.5, 3.0), jz=None, max_links=1, link_couplings=LINK_COUPLINGS)
    pieces = m.full_pieces()
    assert tuple(pieces) == PIECES
    reference = femtoworm_pieces(m.basis)
    reference.setdefault("m0_log", ops.cell_log_mass(m.basis, "quark", sector=0))
    for name in PIECES:
        diff = (pieces[name] - reference[name]).tocsr()
        assert diff.nnz == 0 or np.abs(diff.data).max() == 0.0, name
    assert set(m.coefficients(COUPLINGS)) == set(PIECES)  # no multi-link coefficient at 1 link


@pytest.mark.parametrize("max_links", [2, 3])
def test_hermitian_and_rotation_invariant(max_links):
    m = model(max_links)
    assert set(MULTI_LINK_PIECES) <= set(m.pieces.names)
    H = dense(m)
    np.testing.assert_allclose(H, H.conj().T, atol=1e-12 * np.abs(H).max())
    R = ops.rotation_c4(m.basis).toarray()
    assert np.abs(H @ R - R @ H).max() <= 1e-12 * np.abs(H).max()


@pytest.mark.parametrize("max_links", [2, 3])
def test_block_spectra_equal_the_full_spectrum_and_jz_doublets(max_links):
    full = np.linalg.eigvalsh(dense(model(max_links)))
    blocks = {jz: np.linalg.eigvalsh(dense(model(max_links, jz))) for jz in (0.5, -0.5, 1.5, 2.5)}
    union = np.sort(np.concatenate(list(blocks.values())))
    np.testing.assert_allclose(union, full, atol=1e-9 * np.abs(full).max())
    np.testing.assert_allclose(blocks[0.5], blocks[-0.5], atol=1e-9 * np.abs(full).max())


def test_two_links_enclose_a_phase_no_diagonal_gauge_removes():
    """At 1 link every j_z piece is real after a diagonal re-phasing; at 2 links the flip and
    non-flip hops already enclose the loop phase exp(i(theta_1 - theta_2)) (d_1 perpendicular
    to d_2), so no diagonal re-phasing makes the block real: that takes the reflection basis
    (next test)."""
    from lfqcd.hamiltonian import real_gauge
    from lfqcd.symmetry import jz_isometry

    for L, real in ((1, True), (2, False)):
        m = model(L)
        V = jz_isometry(m.basis, 0.5)
        VH = V.conj().T.tocsr()
        block = {k: (VH @ m.full_pieces()[k] @ V).tocsr() for k in ("t_F", "t_NF")}
        assert (real_gauge(block) is not None) == real, L


@pytest.mark.parametrize("max_links", [1, 2, 3])
def test_reflection_basis_makes_every_block_real(max_links):
    """The columns W = V T of real_block_basis are orthonormal, j_z eigenvectors and invariant
    under A = S K (S the y-mirror permutation); every piece (link couplings on) is real in them,
    and the real block has the complex block's spectrum at every j_z."""
    from lfqcd.symmetry import jz_block, real_block_basis

    m = model(max_links)
    S = ops.reflection_y(m.basis)
    R = ops.rotation_c4(m.basis)
    assert abs(S @ S - sp.identity(m.basis.dim)).max() == 0
    np.testing.assert_allclose((S @ R.conj() @ S).toarray(), R.conj().T.toarray(), atol=1e-15)
    full = m.full_pieces()
    for jz in (0.5, -0.5, 1.5, 2.5):
        block = jz_block(m.basis, jz)
        W = (block.isometry @ real_block_basis(m.basis, block)).toarray()
        np.testing.assert_allclose(W.conj().T @ W, np.eye(W.shape[1]), atol=1e-12)
        np.testing.assert_allclose(S @ W.conj(), W, atol=1e-12)  # A w = w
        np.testing.assert_allclose(R @ W, np.exp(-0.5j * np.pi * jz) * W, atol=1e-12)
        for name, p in full.items():
            B = W.conj().T @ p.toarray() @ W
            assert np.abs(B.imag).max() <= 1e-12 * max(1.0, np.abs(B).max()), (jz, name)
        real = m.with_jz(jz)
        assert real.pieces.dtype == np.float64
        cplx = HeavyLightModel(m.resolution, jz=jz, max_links=max_links,
                               link_couplings=LINK_COUPLINGS, real_block=False)
        assert np.iscomplexobj(cplx.pieces.pieces["t_F"].data)
        np.testing.assert_allclose(np.linalg.eigvalsh(dense(real)), np.linalg.eigvalsh(dense(cplx)),
                                   atol=1e-10 * np.abs(dense(cplx)).max())


def test_reflection_basis_needs_a_meson_basis():
    from lfqcd.basis import static_pair_basis
    from lfqcd.symmetry import jz_block, real_block_basis

    b = static_pair_basis(0.5, 2.0, n_links=1)
    with pytest.raises(ValueError, match="static_pair"):
        real_block_basis(b, jz_block(b, 0.0))


def _sector_spectra(m: HeavyLightModel, coeffs: dict) -> dict[int, np.ndarray]:
    H = m.pieces.combine(coeffs).toarray()
    return {n: np.linalg.eigvalsh(H[m.basis.sector_slice(n), m.basis.sector_slice(n)])
            for n in range(m.max_links + 1)}


def test_without_link_number_changing_terms_sectors_are_separate_problems():
    """Emission, two-link emission, staple and pair absorption off: the spectrum is the union
    of the sectors' spectra, and each sector's spectrum does not depend on the truncation."""
    res = Resolution(0.5, 2.5)
    spectra = {}
    for L in (2, 3):
        m = HeavyLightModel(res, jz=None, max_links=L, link_couplings=LINK_COUPLINGS)
        coeffs = m.coefficients(COUPLINGS.replace(t_F=0.0, t_NF=0.0), m0_sq=COUPLINGS.m**2)
        coeffs.update({k: 0.0 for k in LINK_NUMBER_CHANGING})
        full = np.linalg.eigvalsh(m.pieces.combine(coeffs).toarray())
        spectra[L] = _sector_spectra(m, coeffs)
        union = np.sort(np.concatenate(list(spectra[L].values())))
        np.testing.assert_allclose(union, full, atol=1e-10 * np.abs(full).max())
    for n in range(3):
        np.testing.assert_allclose(spectra[2][n], spectra[3][n], atol=1e-10)
    # with them on, the sectors do mix
    m = HeavyLightModel(res, jz=None, max_links=2, link_couplings=LINK_COUPLINGS)
    coeffs = m.coefficients(COUPLINGS.replace(t_F=0.0, t_NF=0.0), m0_sq=COUPLINGS.m**2)
    H = m.pieces.combine(coeffs).toarray()
    assert np.abs(H[m.basis.sector_slice(0), m.basis.sector_slice(2)]).max() > 0


def test_mu_to_infinity_decouples_the_multi_link_sectors():
    """At fixed h the shift of the ground state from 1 to 2 links falls like 1/mu^2 (sector 0
    reaches sector 2 directly through the two-link emission); 3 links add less again."""
    res = Resolution(0.5, 3.0)
    ms = {L: HeavyLightModel(res, jz=0.5, max_links=L, link_couplings=LINK_COUPLINGS)
          for L in (1, 2, 3)}
    shift = {}
    for mu in (8.0, 16.0, 32.0):
        c = COUPLINGS.replace(mu=mu)
        E = {L: np.linalg.eigvalsh(m.hamiltonian(c, m0_sq=c.m**2).toarray())[0]
             for L, m in ms.items()}
        shift[mu] = (E[2] - E[1], E[3] - E[2])
    for mu in (8.0, 16.0):
        ratio = shift[2 * mu][0] / shift[mu][0]
        assert 0.2 < ratio < 0.3, (mu, ratio)  # 1/mu^2 -> 0.25
        assert abs(shift[mu][1]) < 0.01 * abs(shift[mu][0])
    assert abs(shift[32.0][0]) < 0.02


@pytest.mark.parametrize("max_links", [2, 3])
def test_probabilities_and_sum_rules_with_links(max_links):
    m = HeavyLightModel(RES[max_links], jz=0.5, max_links=max_links,
                        link_couplings=LINK_COUPLINGS)
    sol = m.solve(COUPLINGS, n_states=1, m0_sq=1.64, backend="dense")
    c = sol.vectors[:, 0]
    P = ob.probabilities(m.basis, c)
    assert list(P) == [f"P{n}" for n in range(max_links + 1)]
    assert abs(sum(P.values()) - 1.0) < 1e-12
    assert P[f"P{max_links}"] > 1e-4  # the last sector is populated
    sr = ob.momentum_sum_rule(m.basis, c)
    assert abs(sr["kappa_q_mean"] + sr["kappa_L_mean"] - sr["kappa_tot_mean"]) < 1e-12
    w = np.linspace(1.0, 1.6, 7)
    xi = ob.isgur_wise(m.basis, c, w)
    assert abs(xi[0] - 1.0) < 1e-12 and np.all(np.diff(xi) < 0)
    # rho^2 = <X^2> with X built from the lattice path: check against a direct walk
    rho2 = ob.isgur_wise_moments(m.basis, c)["rho2"]
    X = np.zeros(m.basis.dim)
    step = {0: 1.0, 1: 0.0, 2: -1.0, 3: 0.0}
    for i in range(m.basis.dim):
        x = 0.0
        for j in range(m.basis.nlinks[i]):
            dx = step[int(m.basis.dirs[i, j])]
            X[i] += m.basis.link_mom[i, j] * m.basis.h * (x + dx / 2)
            x += dx
        X[i] += m.basis.kappa_quark()[i] * x
    assert abs(rho2 - np.abs(c) ** 2 @ X**2) < 1e-12


def test_bad_max_links_and_link_couplings():
    with pytest.raises(InvalidParameterError, match=r"max_links=4 is not supported: use 0, 1"):
        HeavyLightModel(Resolution(0.5, 3.0), max_links=4)
    with pytest.raises(InvalidParameterError, match=r"link coupling beta must be a finite number"):
        LinkCouplings(beta=float("nan"))


def test_memory_estimate_bounds_the_real_nonzeros():
    for L, res in RES.items():
        m = model(L)
        nnz = sum(p.nnz for p in m.full_pieces().values())
        est = estimate_nnz(res.n_grid, L)
        assert nnz <= est <= 3 * nnz, (L, nnz, est)


def test_link_momentum_truncation_is_a_principal_submatrix_and_variational():
    """Capping the total link momentum keeps a subset of the states; every piece (including
    the Coulomb self-energies) is the principal submatrix of the untruncated piece, so the
    ground state rises monotonically as the cap tightens (the measured truncation effect)."""
    res = Resolution(0.5, 2.5)  # N = 5: 1,050 states
    full = HeavyLightModel(res, jz=None, max_links=3, link_couplings=LINK_COUPLINGS)
    H_full = dense(full)
    energies = []
    for cut in (3, 4):
        m = HeavyLightModel(res, jz=None, max_links=3, link_couplings=LINK_COUPLINGS,
                            link_kappa_max=cut * res.h)
        keep = np.flatnonzero(full.basis.link_mom.sum(axis=1) <= cut)
        np.testing.assert_array_equal(full.basis.keys[keep], m.basis.keys)
        np.testing.assert_allclose(dense(m), H_full[np.ix_(keep, keep)], rtol=0, atol=1e-12)
        energies.append(np.linalg.eigvalsh(dense(m))[0])
    energies.append(np.linalg.eigvalsh(H_full)[0])
    assert np.all(np.diff(energies) <= 1e-12)
    assert energies[-1] == pytest.approx(energies[-2], abs=1e-12)  # cap N - 1 is no cap
