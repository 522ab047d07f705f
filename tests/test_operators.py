r"""Operator pieces: fast numba CSR path == slow dense reference, Hermiticity (issue #2).

:func:`reference_pieces` rebuilds every coupling-free piece of :mod:`lfqcd.operators` as a dense
matrix with plain Python loops, directly from the formulas of docs/physics.md (H3)-(H14) discretised as
in C.7, on the state labels of :func:`test_basis.state_label` (looked up in a Python dict, not
through packed keys). It shares no code with the numba kernels. The only liberty taken with the
literal C.7 text is the cutoff tail of the static-source--link Coulomb self-energy (see
:func:`_static_pair_diag` and :func:`test_c7_literal_link_tail_double_counts_half_a_cell`).

``eps_tol`` is the single eps-based tolerance helper of the operator/symmetry/eigen tests.
"""

from __future__ import annotations

import cmath
import math

import numpy as np
import pytest
import scipy.sparse as sp
from test_basis import basis_params, get_basis, state_label

from lfqcd import operators as ops
from lfqcd.assembly import build_csr
from lfqcd.basis import ChainBasis, static_basis
from lfqcd.couplings import get_preset

# ----------------------------------------------------------------------------------------------
# tolerance helper


def eps_tol(scale: float = 1.0, n: int = 1, factor: float = 64.0) -> float:
    """Round-off tolerance ``factor * n * eps * scale`` for double precision.

    ``scale`` is the magnitude of the largest quantity entering the comparison (for instance a
    matrix norm) and ``n`` the number of terms accumulated in one entry (a row length or a
    matrix dimension), so the bound follows the usual ``n eps ||A||`` backward-error estimate.
    """
    return factor * max(n, 1) * np.finfo(np.float64).eps * max(scale, np.finfo(np.float64).tiny)


def assert_hermitian(A: sp.spmatrix, what: str = "operator") -> None:
    D = (A - A.conj().T).tocsr()
    err = np.abs(D.data).max() if D.nnz else 0.0
    scale = np.abs(A.data).max() if A.nnz else 1.0
    assert err <= eps_tol(scale), f"{what} is not Hermitian: max |A - A^H| = {err:.3g}"


# ----------------------------------------------------------------------------------------------
# the femtoworm Hamiltonian of docs/physics.md (H1) (shared with test_symmetry / test_eigen)

FEMTOWORM_PIECES = ("kinetic", "m0_sq", "m_sq", "mu_sq", "G", "t_F", "t_NF", "w_FF", "w_NN", "w_FN")


def femtoworm_pieces(basis: ChainBasis) -> dict[str, sp.csr_matrix]:
    """All coupling-free pieces of ``2 Lambda-bar`` (static) / ``M^2`` (dlcq) on ``basis``."""
    pieces = {
        "kinetic": ops.light_momentum(basis),
        "m0_sq": ops.inverse_momentum(basis, "quark", sector=0),
        "m_sq": ops.inverse_momentum(basis, "quark", sector=1),
        "mu_sq": ops.inverse_momentum(basis, "links"),
        "G": ops.coulomb(basis),
        "t_F": ops.link_emission(basis, helicity_flip=True),
        "t_NF": ops.link_emission(basis, helicity_flip=False),
        "w_FF": ops.link_swap(basis, "FF"),
        "w_NN": ops.link_swap(basis, "NN"),
        "w_FN": ops.link_swap(basis, "FN"),
    }
    if not basis.static:
        pieces["mbar_sq"] = ops.inverse_momentum(basis, "antiquark")
    return pieces


def femtoworm_coefficients(basis: ChainBasis | None = None, m0_sq: float = 1.64) -> dict[str, float]:
    """Coefficients from the ``illustrative`` preset (docs/physics.md section 6 example, ``m_0^2 = 1.64``)."""
    c = get_preset("illustrative").couplings
    coef = {
        "kinetic": 1.0, "m0_sq": m0_sq, "m_sq": c.m**2, "mu_sq": c.mu**2, "G": c.G,
        "t_F": c.t_F, "t_NF": c.t_NF, "w_FF": c.w_FF, "w_NN": c.w_NN, "w_FN": c.w_FN,
    }
    if basis is not None and not basis.static:
        coef["mbar_sq"] = c.m**2
    return coef


# ----------------------------------------------------------------------------------------------
# the slow reference: plain loops over labels, formulas of docs/physics.md (H3)-(H14)


def _cell(k: float, kp: float, h: float) -> float:
    """C.7: integral of 1/(k - q)^2 over the grid cell of width h centred at kp."""
    return 1.0 / (k - kp - h / 2) - 1.0 / (k - kp + h / 2)


def _strip(k: float, lo: float, hi: float) -> float:
    """Integral of 1/(k - q)^2 over q in (lo, hi), k outside; hi may be infinite."""
    return (0.0 if math.isinf(hi) else 1.0 / (k - hi)) - 1.0 / (k - lo)


def _F(k: float, kp: float) -> float:
    """C.2 link factor (k + k')/(2 sqrt(k k'))."""
    return (k + kp) / (2.0 * math.sqrt(k * kp))


def _igamma_matrix(r: int) -> np.ndarray:
    """C.4: <h'|i gamma^r|h> as a 2x2 matrix (index 0 = up, 1 = down)."""
    th = r * math.pi / 2
    return np.array([[0, -cmath.exp(-1j * th)], [-cmath.exp(1j * th), 0]])


def _alpha_alpha(r_out: int, r_in: int) -> np.ndarray:
    """C.5a: alpha^{r_out} alpha^{r_in} = cos(th_out - th_in) + i sin(th_in - th_out) Sigma^3."""
    d = (r_in - r_out) * math.pi / 2
    return math.cos(d) * np.eye(2) + 1j * math.sin(d) * np.diag([1.0, -1.0])


def _swap_matrix(which: str, r_out: int, r_in: int) -> np.ndarray:
    """C.5a / D.3: W(r_out <- r_in) for one of w_FF, w_NN, w_FN set to one."""
    if which == "FF":
        return _alpha_alpha(r_out, r_in)
    if which == "NN":
        return np.eye(2)
    return _igamma_matrix(r_out) + _igamma_matrix(r_in)


class _Chain:
    """A chain state as lists: parton kinds ('S' static, 'A' antiquark, 'L' link, 'Q' quark) and
    grid labels (b for fermions: k = (b - 1/2) h; a for links: k = a h)."""

    def __init__(self, label: tuple, static: bool, static_right: bool = False):
        nl, self.hq, self.hqb, bq, bqb, self.dirs, moms = label
        self.nl = nl
        self.kinds = ["S" if static else "A"] + ["L"] * nl + ["S" if static_right else "Q"]
        self.labels = [0 if static else bqb] + list(moms) + [bq]

    def label(self) -> tuple:
        nl = self.nl
        bqb = 0 if self.kinds[0] == "S" else self.labels[0]
        return (nl, self.hq, self.hqb, self.labels[-1], bqb, tuple(self.dirs),
                tuple(self.labels[1:nl + 1]))


def _mom(kind: str, lab: int, h: float) -> float:
    return lab * h if kind == "L" else (lab - 0.5) * h


def _static_pair_diag(k: float, kind: str, h: float, n_cut: int) -> float:
    r"""Static-source Coulomb self-energy of the parton next to the source (C.7 sector 0/1 diagonal).

    Cell sums over the parton's own grid up to the cutoff index, the excluded link zero-mode
    sliver ``(0, h/2)``, and the tail beyond the last cell to infinity. For the quark grid the last
    cell ends at ``kappa_max`` and the tail is C.7's ``1/(kappa_max - kappa)``. For the link grid the
    last cell ends at ``kappa_max + h/2``; C.7's literal ``1/(kappa_max - kappa_L)`` would count
    ``(kappa_max, kappa_max + h/2)`` twice, so the reference integrates from the cell edge.
    """
    grid = [_mom(kind, c, h) for c in range(1, n_cut + 1)]
    d = sum(_cell(k, kp, h) for kp in grid if abs(kp - k) > h / 4)
    top = n_cut * h + (h / 2 if kind == "L" else 0.0)
    d += _strip(k, top, math.inf)
    if kind == "L":
        d += _strip(k, 0.0, h / 2)
    return d


def _coulomb_reference(basis: ChainBasis, index: dict, labels: list) -> np.ndarray:
    """C.2 planar rule for every colour-adjacent pair, cell-integrated as in C.7."""
    h, n = basis.h, basis.dim
    H = np.zeros((n, n))
    pair = basis.static_code == 2  # both chain ends static (transverse string)
    for i, lab in enumerate(labels):
        ch = _Chain(lab, basis.static, pair)
        for p in range(ch.nl + 1):  # pair (p, p + 1) along the chain
            kl, kr = ch.kinds[p], ch.kinds[p + 1]
            if "S" in (kl, kr):
                # static source: the partner's momentum runs over (0, inf), others fixed
                q = p + 1 if kl == "S" else p  # the partner's slot
                kind = ch.kinds[q]
                k = _mom(kind, ch.labels[q], h)
                H[i, i] += _static_pair_diag(k, kind, h, basis.n_cut)
                for c in range(1, basis.n_cut + 1):
                    if c == ch.labels[q]:
                        continue
                    new = _Chain(lab, basis.static, pair)
                    new.labels[q] = c
                    j = index.get(new.label())
                    if j is not None:
                        kp = _mom(kind, c, h)
                        H[i, j] -= _cell(k, kp, h) * (_F(k, kp) if kind == "L" else 1.0)
                continue
            # dynamic pair: P = k_left + k_right fixed; move the left parton over its grid
            k_left = _mom(kl, ch.labels[p], h)
            k_right = _mom(kr, ch.labels[p + 1], h)
            P = k_left + k_right
            covered = []
            for c in range(1, 4 * basis.n_cut + 4):
                kp = _mom(kl, c, h)
                kq = P - kp  # the right parton's new momentum: on its grid, > 0 (zero mode excluded)
                if kq < h / 4:
                    break
                covered.append(kp)
                if c == ch.labels[p]:
                    continue
                H[i, i] += _cell(k_left, kp, h)
                new = _Chain(lab, basis.static)
                new.labels[p] = c
                new.labels[p + 1] = round(kq / h + (0.5 if kr != "L" else 0.0))
                j = index[new.label()]
                val = _cell(k_left, kp, h)
                if kl == "L":
                    val *= _F(k_left, kp)
                if kr == "L":
                    val *= _F(k_right, kq)
                H[i, j] -= val
            # parts of (0, P) not covered by the left parton's cells (link zero-mode slivers)
            H[i, i] += _strip(k_left, 0.0, min(covered) - h / 2)
            H[i, i] += _strip(k_left, max(covered) + h / 2, P)
    return H


def _vertex_V(r: int, kL: float, kq: float, flip: bool) -> np.ndarray:
    """C.4 / D.3: V(r; kL, kq; h <- h0) as a 2x2 matrix [h, h0] for t_F = 1 or t_NF = 1."""
    kin = kL + kq
    if flip:
        return _igamma_matrix(r) * (1 / kq - 1 / kin) / math.sqrt(kL)
    return -np.eye(2) * (1 / kq + 1 / kin) / math.sqrt(kL)


def _emission_reference(basis: ChainBasis, index: dict, labels: list, flip: bool) -> np.ndarray:
    """C.7 vertex: H[(r, h, a, b), (a + b, h0)] = sqrt(h) V, plus its Hermitian conjugate."""
    h, n = basis.h, basis.dim
    hels = (0, 1) if basis.spin else (0,)
    H = np.zeros((n, n), dtype=complex)
    for j, lab in enumerate(labels):  # source state (fewer links)
        nl, hq0, hqb, bq_in, bqb, dirs, moms = lab
        if nl >= basis.max_links:
            continue
        for r in range(4):
            for a in range(1, bq_in):
                b = bq_in - a
                V = _vertex_V(r, a * h, (b - 0.5) * h, flip)
                for hq in hels:
                    i = index.get((nl + 1, hq, hqb, b, bqb, dirs + (r,), moms + (a,)))
                    if i is None:
                        continue
                    H[i, j] += math.sqrt(h) * V[hq, hq0]
                    H[j, i] += math.sqrt(h) * np.conj(V[hq, hq0])
    return H


def _swap_reference(basis: ChainBasis, index: dict, labels: list, which: str) -> np.ndarray:
    """C.7 link swap: h <h|W(r <- r')|h'> / ((kL + kq) sqrt(kL kL')) for all a' + b' = a + b."""
    h, n = basis.h, basis.dim
    hels = (0, 1) if basis.spin else (0,)
    H = np.zeros((n, n), dtype=complex)
    for i, lab in enumerate(labels):
        nl, hq, hqb, b, bqb, dirs, moms = lab
        if nl == 0:
            continue
        r, a = dirs[-1], moms[-1]
        kin = (a + b - 0.5) * h
        for r2 in range(4):
            for a2 in range(1, a + b):
                W = _swap_matrix(which, r, r2)
                for h2 in hels:
                    j = index[(nl, h2, hqb, a + b - a2, bqb, dirs[:-1] + (r2,), moms[:-1] + (a2,))]
                    H[i, j] += h * W[hq, h2] / (kin * math.sqrt(a * h * a2 * h))
    return H


def _rotation_reference(basis: ChainBasis, index: dict, labels: list) -> np.ndarray:
    """<i|R|j>: every link direction turned by +90 degrees, phase exp(-i s pi/2), s = sum of
    fermion helicities (+-1/2 each; the static source carries none)."""
    n = basis.dim
    R = np.zeros((n, n), dtype=complex)
    for j, lab in enumerate(labels):
        nl, hq, hqb, bq, bqb, dirs, moms = lab
        s = 0.5 - hq
        if not basis.static:
            s += 0.5 - hqb
        i = index[(nl, hq, hqb, bq, bqb, tuple((d + 1) % 4 for d in dirs), moms)]
        R[i, j] = cmath.exp(-0.5j * math.pi * s)
    return R


def reference_pieces(basis: ChainBasis) -> dict[str, np.ndarray]:
    """Dense reference of every piece of :func:`femtoworm_pieces` plus the rotation ``R``."""
    labels = [state_label(basis, i) for i in range(basis.dim)]
    index = {lab: i for i, lab in enumerate(labels)}
    kq = np.array([(lab[3] - 0.5) * basis.h for lab in labels])
    kqb = np.array([(lab[4] - 0.5) * basis.h if not basis.static else 0.0 for lab in labels])
    klinks = [[a * basis.h for a in lab[6]] for lab in labels]
    nl = np.array([lab[0] for lab in labels])
    ref = {
        "kinetic": np.diag(kq + kqb + np.array([sum(k) for k in klinks])),
        "m0_sq": np.diag(np.where(nl == 0, 1 / kq, 0.0)),
        "m_sq": np.diag(np.where(nl == 1, 1 / kq, 0.0)),
        "mu_sq": np.diag([sum(1 / k for k in ks) for ks in klinks]),
        "G": _coulomb_reference(basis, index, labels),
        "t_F": _emission_reference(basis, index, labels, flip=True),
        "t_NF": _emission_reference(basis, index, labels, flip=False),
        "w_FF": _swap_reference(basis, index, labels, "FF"),
        "w_NN": _swap_reference(basis, index, labels, "NN"),
        "w_FN": _swap_reference(basis, index, labels, "FN"),
        "R": _rotation_reference(basis, index, labels),
    }
    if not basis.static:
        ref["mbar_sq"] = np.diag(1 / kqb)
    return ref


# ----------------------------------------------------------------------------------------------
# fast path == slow reference

REFERENCE_BASES = basis_params(lambda s: s.kind == "static" or s.n_cut <= 6)


@pytest.fixture(scope="module")
def pieces_and_reference():
    cache: dict[str, tuple] = {}

    def get(name: str):
        if name not in cache:
            basis = get_basis(name)
            fast = femtoworm_pieces(basis)
            fast["R"] = ops.rotation_c4(basis)
            cache[name] = (basis, fast, reference_pieces(basis))
        return cache[name]

    return get


@pytest.mark.parametrize("name", REFERENCE_BASES)
def test_csr_equals_dense_reference(name, pieces_and_reference):
    basis, fast, ref = pieces_and_reference(name)
    assert set(fast) == set(ref)
    for piece, A in fast.items():
        assert A.shape == (basis.dim, basis.dim)
        D = ref[piece]
        scale = max(np.abs(D).max(), 1.0)
        err = np.abs(A.toarray() - D).max()
        assert err <= eps_tol(scale, basis.n_cut), f"{piece}: max |CSR - reference| = {err:.3g}"


def test_reference_is_not_trivial():
    """Every reference piece is non-zero on the C.7 example basis (h = 0.5, kappa_max = 4, one link),
    so the equality test above compares something for each of them."""
    ref = reference_pieces(get_basis("static-N8-1link-spin"))
    for piece, D in ref.items():
        assert np.abs(D).max() > 0.1, piece
    # the Coulomb piece couples within the sectors only; the vertex only across them
    s0 = slice(0, 16)
    assert np.abs(ref["G"][s0, 16:]).max() == 0
    assert np.abs(ref["t_F"][s0, s0]).max() == 0 and np.abs(ref["t_F"][s0, 16:]).max() > 0


def test_c7_literal_link_tail_double_counts_half_a_cell():
    """Documents the one departure of the reference from the literal C.7 text.

    C.7 gives the static-source--link self-energy as cell sums up to ``a' = N`` plus
    ``1/(kappa_max - kappa_L)``; the link cells reach ``kappa_max + h/2``, so that tail counts
    ``(kappa_max, kappa_max + h/2)`` twice. The core integrates ``(0, inf)`` exactly (``coulomb``
    docstring), i.e. C.7 minus the double-counted strip - checked here state by state.
    """
    basis = get_basis("static-N8-1link-spin")
    h, N = basis.h, basis.n_cut
    G = ops.coulomb(basis).diagonal()
    s1 = basis.sector_slice(1)
    for i in range(s1.start, s1.stop):
        a, b = int(basis.link_mom[i, 0]), int(basis.quark_mom[i])
        kL = a * h
        c7 = sum(_cell(kL, ap * h, h) for ap in range(1, N + 1) if ap != a)
        c7 += 1 / (N * h - kL) + (1 / (kL - h / 2) - 1 / kL)  # Qbar-L, literal C.7
        c7 += sum(_cell(kL, ap * h, h) for ap in range(1, a + b) if ap != a)
        c7 += 1 / (kL - h / 2) - 1 / kL  # L-q
        double = _strip(kL, N * h, N * h + h / 2)
        assert abs(G[i] - (c7 - double)) <= eps_tol(abs(c7), N)


def test_sector0_coulomb_matches_c7_closed_form():
    """Sector 0 of C.7 verbatim: H[i,i] = sum_{j != i} K(k_i; k_j) + 1/(kappa_max - k_i)."""
    basis = static_basis(0.125, 3.0, max_links=0, spin=False)
    k = basis.kappa_quark()
    C = ops.coulomb(basis).toarray()
    N = basis.n_cut
    for i in range(N):
        diag = sum(_cell(k[i], k[j], basis.h) for j in range(N) if j != i) + 1 / (3.0 - k[i])
        assert abs(C[i, i] - diag) <= eps_tol(diag, N)
        # 4/h - 1/k: the exact self-energy integral over (0, inf) minus the own cell
        assert abs(C[i, i] - (4 / basis.h - 1 / k[i])) <= eps_tol(diag, N)
    off = C - np.diag(np.diag(C))
    expect = -np.array([[_cell(a, b, basis.h) if a != b else 0.0 for b in k] for a in k])
    assert np.abs(off - expect).max() <= eps_tol(np.abs(expect).max(), N)


# ----------------------------------------------------------------------------------------------
# Hermiticity and structure of every piece, over the whole registry


@pytest.mark.parametrize("name", basis_params())
def test_every_piece_is_hermitian(name):
    basis = get_basis(name)
    for piece, A in femtoworm_pieces(basis).items():
        assert_hermitian(A, f"{piece} on {name}")


@pytest.mark.parametrize("name", basis_params())
def test_rotation_is_unitary_permutation_with_phases(name):
    basis = get_basis(name)
    R = ops.rotation_c4(basis)
    assert R.nnz == basis.dim
    assert np.all(np.diff(R.tocsc().indptr) == 1) and np.all(np.diff(R.tocsr().indptr) == 1)
    np.testing.assert_allclose(np.abs(R.data), 1.0, rtol=0, atol=eps_tol())
    eye = (R.conj().T @ R).toarray()
    assert np.abs(eye - np.eye(basis.dim)).max() <= eps_tol()
    R4 = (R @ R @ R @ R).toarray()
    # exp(-i 2 pi j_z): -1 for one light fermion (static), +1 for two (dlcq)
    sign = -1.0 if basis.static else 1.0
    assert np.abs(R4 - sign * np.eye(basis.dim)).max() <= eps_tol(1.0, 4)


@pytest.mark.parametrize("name", basis_params(lambda s: s.max_links >= 1))
def test_pieces_respect_fock_structure(name):
    basis = get_basis(name)
    p = femtoworm_pieces(basis)
    nl = basis.nlinks
    for piece in ("G", "w_FF", "w_NN", "w_FN", "kinetic", "m0_sq", "m_sq", "mu_sq"):
        rows, cols = p[piece].nonzero()
        assert np.all(nl[rows] == nl[cols]), f"{piece} changes the link number"
    for piece in ("t_F", "t_NF"):
        rows, cols = p[piece].nonzero()
        assert np.all(np.abs(nl[rows] - nl[cols]) == 1), f"{piece} must change the link number by 1"
    # sector-restricted kinetic masses live in their sector only
    assert np.all(nl[p["m0_sq"].nonzero()[0]] == 0)
    assert np.all(nl[p["m_sq"].nonzero()[0]] == 1)
    # only the non-flip hop and the w_NN swap survive without spin
    if not basis.spin:
        assert p["t_F"].nnz == 0 and p["w_FN"].nnz == 0


def test_inverse_momentum_bad_input():
    basis = get_basis("static-N8-1link-spin")
    with pytest.raises(ValueError, match=r"unknown parton 'gluon'; use quark, antiquark or links"):
        ops.inverse_momentum(basis, "gluon")
    with pytest.raises(ValueError, match=r"a static source has no kinetic term"):
        ops.inverse_momentum(basis, "antiquark")
    with pytest.raises(ValueError, match=r"unknown link-swap term 'XY'"):
        ops.link_swap(basis, "XY")
    with pytest.raises(ValueError, match=r"need 240 diagonal values, got shape \(3,\)"):
        ops.diagonal(basis, np.ones(3))


def test_build_csr_sums_duplicates_and_drops_zeros():
    """The one assembly path: duplicates within a row are summed, exact zeros dropped."""
    from numba import njit

    @njit
    def row(i, args, cols, vals):  # pragma: no cover - numba
        (n,) = args
        cols[0] = (i + 1) % n
        vals[0] = 1.0
        cols[1] = (i + 1) % n  # duplicate
        vals[1] = 2.0
        cols[2] = i
        vals[2] = 0.5 * i
        cols[3] = (i + 2) % n  # cancels to an exact zero
        vals[3] = 1.0
        cols[4] = (i + 2) % n
        vals[4] = -1.0
        return 5

    n = 6
    A = build_csr(row, n, (n,), np.float64, max_row=5)
    dense = np.zeros((n, n))
    for i in range(n):
        dense[i, (i + 1) % n] += 3.0
        dense[i, i] += 0.5 * i
    np.testing.assert_array_equal(A.toarray(), dense)
    assert A.nnz == 2 * n - 1  # row 0 has a zero diagonal, dropped
    assert A.has_sorted_indices


@pytest.mark.parametrize("name", ["static-N8-1link-spin", "dlcq-K6-1link-spin"])
def test_piece_sum_equals_dense_combination(name, pieces_and_reference):
    from lfqcd.hamiltonian import PieceSum

    basis, fast, ref = pieces_and_reference(name)
    coef = femtoworm_coefficients(basis)
    H = PieceSum({k: fast[k] for k in coef}).combine(coef).toarray()
    H_ref = sum(c * ref[k] for k, c in coef.items())
    assert np.abs(H - H_ref).max() <= eps_tol(np.abs(H_ref).max(), basis.n_cut)
    assert np.abs(H - H.conj().T).max() <= eps_tol(np.abs(H_ref).max())
