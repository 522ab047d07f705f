r"""Charge conjugation of the light-light operator and the C-parities of pi and rho.

docs/physics.md (C1)-(C6): C-invariance of the hopping term forces the link to transform as
``M_r(x) -> M_r(x)^*`` (no sign per link), quark <-> antiquark with no helicity phase in the
Lepage-Brodsky convention ``v = C ubar^T``, and an overall ``-1`` from reordering the fermion
operators: ``C = -X`` on meson chains, with ``X`` the pure relabelling permutation (quark <->
antiquark momenta and helicities, link path read backwards with every direction reversed). The
antiquark-end terms are therefore ``X O_quark X``; the pion (``X = -1``) is C-even and the rho
(``X = +1``) C-odd.

``relabelling_permutation`` rebuilds ``X`` with plain Python loops over the decoded state labels
(a dict lookup, no packed keys), independent of :func:`lfqcd.operators.charge_conjugation`. The
spinor tests check the two Dirac-algebra facts the derivation rests on with explicit
Lepage-Brodsky spinors. The last test flips the sign of the antiquark-end emission (the "link
C-parity -1" alternative) and checks that the operator then no longer commutes with ``X``.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from lfqcd import operators as ops
from lfqcd.basis import ChainBasis, dlcq_basis
from lfqcd.calibration.lightlight import HOPPING_PIECES, LightLightModel
from lfqcd.couplings import get_preset
from lfqcd.symmetry import jz_isometry

K_SMALL = 6
#: light-light sector-0 kinetic mass of the ``calibrated`` preset (its provenance: K = 12 fit)
M0_SQ_CALIBRATED = 48.98


def _label(b: ChainBasis, i: int) -> tuple:
    nl = int(b.nlinks[i])
    path = tuple((int(b.dirs[i, j]), int(b.link_mom[i, j])) for j in range(nl))
    return (nl, int(b.hel_q[i]), int(b.hel_qbar[i]), int(b.quark_mom[i]), int(b.anti_mom[i]), path)


def relabelling_permutation(b: ChainBasis) -> sp.csr_matrix:
    """``X``: swap quark and antiquark labels, read the path backwards, reverse directions."""
    index = {_label(b, i): i for i in range(b.dim)}
    rows, cols = [], []
    for i in range(b.dim):
        nl, hq, hqb, bq, bqb, path = _label(b, i)
        reversed_path = tuple(((r + 2) % 4, a) for r, a in reversed(path))  # r -> -r
        image = (nl, hqb, hq, bqb, bq, reversed_path)
        rows.append(index[image])
        cols.append(i)
    return sp.csr_matrix((np.ones(b.dim), (rows, cols)), shape=(b.dim, b.dim))


@pytest.fixture(scope="module")
def model() -> LightLightModel:
    return LightLightModel(K_SMALL)


def _hamiltonian(model: LightLightModel, emission_sign: float = 1.0) -> sp.csr_matrix:
    """``M^2`` at ``P_perp = 0`` with the ``calibrated`` couplings; ``emission_sign`` multiplies
    the antiquark-end single-link emission (``t_F``, ``t_NF``) pieces."""
    coef = model.coefficients(get_preset("calibrated").couplings, M0_SQ_CALIBRATED)
    pieces = model.pieces()
    H = sum(coef[k] * pieces[k] for k in pieces)
    for k in ("t_F", "t_NF"):
        H = H + (emission_sign - 1.0) * coef[k] * model.antiquark_end[k]
    return sp.csr_matrix(H)


def _commutator_norm(A: sp.spmatrix, B: sp.spmatrix) -> float:
    D = (A @ B - B @ A).tocsr()
    return float(np.abs(D.data).max()) if D.nnz else 0.0


def test_relabelling_is_an_involution_that_equals_the_code():
    b = dlcq_basis(K_SMALL, max_links=1, spin=True)
    X = relabelling_permutation(b)
    assert _commutator_norm(X, X) == 0.0
    assert abs((X @ X - sp.identity(b.dim)).tocsr()).max() == 0.0
    assert abs((X - ops.charge_conjugation(b)).tocsr()).max() == 0.0
    # not the identity: sector 0 with unequal momenta and the one-link sector are moved
    assert X.diagonal().sum() < b.dim


def test_antiquark_end_pieces_are_relabelled_quark_end_pieces(model):
    X = relabelling_permutation(model.basis)
    for k in HOPPING_PIECES:
        D = (model.antiquark_end[k] - X @ model.quark_end[k] @ X).tocsr()
        assert (np.abs(D.data).max() if D.nnz else 0.0) == 0.0, k


def test_every_piece_commutes_with_x(model):
    X = relabelling_permutation(model.basis)
    pieces = model.pieces()
    for name, O in pieces.items():
        scale = float(np.abs(O.data).max())
        assert _commutator_norm(O, X) <= 1e-13 * scale, name


def _lowest(model: LightLightModel, H: sp.spmatrix, jz: float) -> tuple[np.ndarray, np.ndarray]:
    V = jz_isometry(model.basis, jz)
    ev, vec = np.linalg.eigh((V.conj().T @ H @ V).toarray())
    return ev, np.asarray(V @ vec[:, :1])[:, 0]


def test_pion_is_c_even_and_rho_c_odd(model):
    H = _hamiltonian(model)
    X = relabelling_permutation(model.basis)
    for jz, x_expected in ((0.0, -1.0), (1.0, +1.0)):  # C = -X: pion C = +1, rho C = -1
        ev, v = _lowest(model, H, jz)
        assert ev[1] - ev[0] > 1.0, f"lowest j_z = {jz} level is (nearly) degenerate: {ev[:2]}"
        x_value = float(np.real(np.vdot(v, X @ v)))
        assert x_value == pytest.approx(x_expected, abs=1e-10), (jz, x_value)


def test_flipped_antiquark_emission_breaks_c(model):
    """A link with C-parity -1 would give antiquark-end emission ``-X O X``: that operator does
    not commute with ``X`` (it commutes with ``X (-1)^{n_links}`` instead)."""
    X = relabelling_permutation(model.basis)
    H = _hamiltonian(model)
    H_flip = _hamiltonian(model, emission_sign=-1.0)
    scale = float(np.abs(H.data).max())
    assert _commutator_norm(H, X) <= 1e-13 * scale
    assert _commutator_norm(H_flip, X) > 1e-2 * scale
    X_odd_link = sp.diags(np.where(model.basis.nlinks % 2 == 0, 1.0, -1.0)) @ X
    assert _commutator_norm(H_flip, X_odd_link) <= 1e-13 * scale


@pytest.mark.parametrize("p_perp", [(0.3, 0.0), (0.2, 0.1)])
def test_c_at_nonzero_transverse_momentum(model, p_perp):
    """(C6): at ``P_perp != 0`` the change of reference site gives
    ``C |c, P> = -exp(-i P . s(c)) |X c, P>`` (``s`` the chain's end-to-end vector); the Bloch
    phases of the antiquark-end pieces (H16) must make ``2P^+P^-(P)`` commute with it."""
    b = model.basis
    units = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]])
    s = np.zeros((b.dim, 2))
    for j in range(b.max_links):
        has = b.nlinks > j
        s[has] += units[b.dirs[has, j]]
    X = relabelling_permutation(b)
    phases = np.exp(-1j * (s @ np.asarray(p_perp)))
    C_P = X @ sp.diags(phases)  # column j -> row X(j) with exp(-i P . s_j)
    coef = model.coefficients(get_preset("calibrated").couplings, M0_SQ_CALIBRATED)
    pieces = model.pieces(p_perp)
    H = sum(coef[k] * pieces[k] for k in pieces)
    scale = float(np.abs(H.data).max())
    assert _commutator_norm(H, C_P) <= 1e-13 * scale
    # the phase is needed: [H(P), X] = [H(P) - H(0), X] since H(0) commutes with X, and it is a
    # sizeable part of the P-dependent (antiquark-end Bloch phase) change of the operator
    pieces0 = model.pieces((0.0, 0.0))
    dH = H - sum(coef[k] * pieces0[k] for k in pieces0)
    assert _commutator_norm(H, X) > 0.1 * float(np.abs(dH.data).max())


# ----------------------------------------------------------------------------------------------
# the Dirac-algebra input of the derivation (Dirac representation, Lepage-Brodsky spinors)

_S = (np.array([[0, 1], [1, 0]]), np.array([[0, -1j], [1j, 0]]), np.array([[1, 0], [0, -1]]))
_I2, _Z2 = np.eye(2), np.zeros((2, 2))
GAMMA0 = np.block([[_I2, _Z2], [_Z2, -_I2]]).astype(complex)
GAMMA = [np.block([[_Z2, s], [-s, _Z2]]).astype(complex) for s in _S]  # gamma^1, ^2, ^3
C_MATRIX = 1j * GAMMA0 @ GAMMA[1]  # i gamma^0 gamma^2
_CHI = {+1: np.array([1, 0, 1, 0]) / np.sqrt(2), -1: np.array([0, 1, 0, -1]) / np.sqrt(2)}


def _lb_spinor(p: np.ndarray, lam: int, antiparticle: bool) -> np.ndarray:
    """Lepage-Brodsky ``u(p, lam)`` / ``v(p, lam)``, ``p = (p^+, p_x, p_y, m)``."""
    pp, px, py, m = p
    sign, chi = (-1.0, _CHI[-lam]) if antiparticle else (1.0, _CHI[lam])
    alpha1, alpha2 = GAMMA0 @ GAMMA[0], GAMMA0 @ GAMMA[1]
    return (pp * np.eye(4) + sign * m * GAMMA0 + px * alpha1 + py * alpha2) @ chi / np.sqrt(pp)


def _bar(s: np.ndarray) -> np.ndarray:
    return s.conj() @ GAMMA0


def test_charge_conjugation_matrix_and_lb_spinors_carry_no_helicity_phase():
    C_inv = np.linalg.inv(C_MATRIX)
    for g in [GAMMA0, *GAMMA]:
        assert np.allclose(C_MATRIX @ g @ C_inv, -g.T)
    rng = np.random.default_rng(7)
    for _ in range(4):
        p = rng.uniform(0.2, 2.0, 4)
        for lam in (+1, -1):
            assert np.allclose(C_MATRIX @ _bar(_lb_spinor(p, lam, False)), _lb_spinor(p, lam, True))


def test_antiquark_bilinear_is_the_conjugated_quark_bilinear():
    """c-number identity ``vbar_1 G v_2 = -ubar_2 (C G^T C^-1) u_1``; the minus sign is undone by
    reordering ``d d^dagger -> -d^dagger d``. For the hopping matrix ``G = i c_V gamma^{-r} + c_W``
    the conjugate is ``i c_V gamma^r + c_W``: the same matrix as the quark hop along ``r``."""
    rng = np.random.default_rng(11)
    c_v, c_w = 0.8, 0.3
    C_inv = np.linalg.inv(C_MATRIX)
    for gamma_r in GAMMA[:2]:
        hop_minus_r = -1j * c_v * gamma_r + c_w * np.eye(4)  # gamma^{-r} := -gamma^r
        hop_r = 1j * c_v * gamma_r + c_w * np.eye(4)
        assert np.allclose(C_MATRIX @ hop_minus_r.T @ C_inv, hop_r)
        for _ in range(3):
            p1, p2 = rng.uniform(0.2, 2.0, 4), rng.uniform(0.2, 2.0, 4)
            p2[3] = p1[3]
            for l1 in (+1, -1):
                for l2 in (+1, -1):
                    lhs = _bar(_lb_spinor(p1, l1, True)) @ hop_minus_r @ _lb_spinor(p2, l2, True)
                    rhs = _bar(_lb_spinor(p2, l2, False)) @ hop_r @ _lb_spinor(p1, l1, False)
                    assert np.isclose(lhs, -rhs)
