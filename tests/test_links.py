r"""Multi-link pieces (issue 11): numba CSR == an independent dense reference, symmetries.

The reference below evaluates ``<bra|O|ket>`` for every pair of basis states with plain Python
loops directly from the matrix elements written in docs/physics_links.md (chain labels from
:func:`test_basis.state_label`, momenta as floats); it shares no code with :mod:`lfqcd.links`.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
from test_basis import state_label
from test_operators import _swap_matrix, assert_hermitian, eps_tol

from lfqcd import links
from lfqcd import operators as ops
from lfqcd.basis import ChainBasis, dlcq_basis, static_basis
from lfqcd.errors import InvalidParameterError

TINY = {
    "static-N4-3link-spin": lambda: static_basis(0.5, 2.0, max_links=3),
    "static-N5-3link": lambda: static_basis(0.5, 2.5, max_links=3, spin=False),
    "static-N6-2link": lambda: static_basis(0.25, 1.5, max_links=2, spin=False),
    "dlcq-K5-3link-spin": lambda: dlcq_basis(5, max_links=3, spin=True),
}


@functools.cache
def tiny(name: str) -> ChainBasis:
    return TINY[name]()


@functools.cache
def built(name: str) -> dict:
    return links.multi_link_pieces(tiny(name))


# ----------------------------------------------------------------------------------------------
# the dense reference


class Chain:
    """Chain as plain lists: momenta along the chain [antiquark, links..., quark] (antiquark
    momentum None for a static source), link directions, helicities."""

    def __init__(self, label: tuple, h: float, static: bool, static_right: bool = False):
        nl, self.hq, self.hqb, bq, bqb, dirs, moms = label
        self.nl = nl
        self.dirs = list(dirs)
        self.k = ([None if static else (bqb - 0.5) * h] + [a * h for a in moms]
                  + [None if static_right else (bq - 0.5) * h])

    def links(self) -> list:
        return list(zip(self.dirs, self.k[1:-1], strict=True))


def _v(k1: float, k2: float) -> float:
    return (k1 - k2) / (2 * math.sqrt(k1 * k2))


def _F(k: float, kp: float) -> float:
    return (k + kp) / (2 * math.sqrt(k * kp))


def _close(x, y) -> bool:
    if x is None or y is None:
        return x is None and y is None
    return abs(x - y) < 1e-9


def _same(xs, ys) -> bool:
    return len(xs) == len(ys) and all(
        a == b if isinstance(a, int) else _close(a, b) for a, b in zip(xs, ys, strict=True))


def _links_equal(la, lb) -> bool:
    return len(la) == len(lb) and all(d1 == d2 and _close(k1, k2)
                                      for (d1, k1), (d2, k2) in zip(la, lb, strict=True))


def _orient(d1: int, d2: int) -> str:
    return {0: "S", 2: "B"}.get((d2 - d1) % 4, "P")


def ref_e2(B: Chain, K: Chain, h: float, which: str) -> complex:
    """<B|e2|K>: B has two links more, appended at the quark end (docs 3)."""
    if B.nl != K.nl + 2 or B.hqb != K.hqb or not _close(B.k[0], K.k[0]):
        return 0.0
    if not _links_equal(B.links()[: K.nl], K.links()):
        return 0.0
    (d1, k1), (d2, k2) = B.links()[-2:]
    kout, kin = B.k[-1], K.k[-1]
    if not _close(kin, k1 + k2 + kout):
        return 0.0
    W = _swap_matrix(which, d2, (d1 + 2) % 4)
    return h * W[B.hq, K.hq] / ((k2 + kout) * math.sqrt(k1 * k2))


def _others_equal(B: Chain, K: Chain) -> bool:
    return B.hq == K.hq and B.hqb == K.hqb and _close(B.k[0], K.k[0]) and _close(B.k[-1], K.k[-1])


def ref_pair_terms(B: Chain, K: Chain, h: float, term: str) -> float:
    """Number-conserving two-link terms acting on consecutive links (p, p + 1) (docs 2a, 4, 5)."""
    if B.nl != K.nl or B.nl < 2 or not _others_equal(B, K):
        return 0.0
    bl, kl = B.links(), K.links()
    total = 0.0
    for p in range(K.nl - 1):
        if not (_links_equal(bl[:p], kl[:p]) and _links_equal(bl[p + 2:], kl[p + 2:])):
            continue
        (e1, b1), (e2, b2) = bl[p], bl[p + 1]
        (d1, k1), (d2, k2) = kl[p], kl[p + 1]
        if not _close(b1 + b2, k1 + k2):
            continue
        norm = h / math.sqrt(b1 * b2 * k1 * k2)
        if term in ("S", "P", "B"):
            if (e1, e2) == (d1, d2) and _orient(d1, d2) == term:
                total += norm
        elif term == "plaq":
            if _orient(d1, d2) == "P" and (e1, e2) == (d2, d1):
                total -= norm
        elif term == "coul_s":
            if _orient(d1, d2) == "B" and _orient(e1, e2) == "B":
                total += h * _v(b1, b2) * _v(k1, k2) / (k1 + k2) ** 2
    return total


def ref_one_three(B: Chain, K: Chain, h: float, kind: str) -> float:
    """<B|piece|K>, B with two links more: link (r, k) of K -> (s, r, -s) in B, s perpendicular
    to r (``kind = "staple"``, value -1, docs 5), or -> (r, -r, r) (``"zigzag"``, +1, docs 4)."""
    if B.nl != K.nl + 2 or not _others_equal(B, K):
        return 0.0
    bl, kl = B.links(), K.links()
    total = 0.0
    for p in range(K.nl):
        if not (_links_equal(bl[:p], kl[:p]) and _links_equal(bl[p + 3:], kl[p + 1:])):
            continue
        (x, k1), (y, k2), (z, k3) = bl[p : p + 3]
        r0, k = kl[p]
        if not _close(k1 + k2 + k3, k):
            continue
        if kind == "staple" and y == r0 and z == (x + 2) % 4 and _orient(x, y) == "P":
            total -= h / math.sqrt(k1 * k2 * k3 * k)
        if kind == "zigzag" and x == z == r0 and y == (r0 + 2) % 4:
            total += h / math.sqrt(k1 * k2 * k3 * k)
    return total


def ref_pair_absorption(B: Chain, K: Chain, h: float) -> float:
    """<B|coul_pair|K>, B with a backtracking pair more whose momentum K's neighbour holds."""
    if B.nl != K.nl + 2 or B.hq != K.hq or B.hqb != K.hqb:
        return 0.0
    total = 0.0
    for p in range(B.nl - 1):  # the pair: B links p, p + 1 = chain slots p + 1, p + 2
        (d1, k1), (d2, k2) = B.links()[p], B.links()[p + 1]
        if _orient(d1, d2) != "B":
            continue
        P = k1 + k2
        rest_k = B.k[: p + 1] + B.k[p + 3:]
        rest_d = B.dirs[:p] + B.dirs[p + 2:]
        if rest_d != K.dirs:
            continue
        for j in (p, p + 1):  # absorbing slot in K (left / right neighbour of the pair)
            want = list(rest_k)
            if want[j] is None:  # static source: absorbs the momentum
                fac = 1.0
            else:
                want[j] = rest_k[j] + P
                is_link = 1 <= j <= K.nl
                fac = _F(rest_k[j], want[j]) if is_link else 1.0
            if _same(want, K.k):  # left neighbour (slot p): -, right neighbour: +
                total += (-1.0 if j == p else 1.0) * h * _v(k1, k2) * fac / P**2
    return total


def reference(basis: ChainBasis, name: str) -> np.ndarray:
    h = basis.h
    chains = [Chain(state_label(basis, i), h, basis.static, basis.static_code == 2)
              for i in range(basis.dim)]
    H = np.zeros((basis.dim, basis.dim), dtype=complex)
    conserving = name in ("lam_S", "lam_P", "lam_B", "plaq", "coul_s")
    for i, B in enumerate(chains):
        for j, K in enumerate(chains):
            if (B.nl == K.nl) != conserving or abs(B.nl - K.nl) not in (0, 2):
                continue
            if name.startswith("e2_"):
                which = name[3:]
                H[i, j] = ref_e2(B, K, h, which) + np.conj(ref_e2(K, B, h, which))
            elif name == "lam_B_zz":
                H[i, j] = ref_one_three(B, K, h, "zigzag") + ref_one_three(K, B, h, "zigzag")
            elif name.startswith("lam_"):
                H[i, j] = ref_pair_terms(B, K, h, name[4:])
            elif name in ("plaq", "coul_s"):
                H[i, j] = ref_pair_terms(B, K, h, name)
            elif name == "plaq_staple":
                H[i, j] = ref_one_three(B, K, h, "staple") + ref_one_three(K, B, h, "staple")
            elif name == "coul_pair":
                H[i, j] = ref_pair_absorption(B, K, h) + ref_pair_absorption(K, B, h)
    return H


PIECE_NAMES = ("e2_FF", "e2_NN", "e2_FN", "lam_S", "lam_P", "lam_B", "lam_B_zz", "plaq",
               "plaq_staple", "coul_s", "coul_pair")
ONE_THREE = ("plaq_staple", "lam_B_zz")  # need 3 links


@pytest.mark.parametrize("piece", PIECE_NAMES)
@pytest.mark.parametrize("name", [
    "static-N4-3link-spin", "static-N6-2link",
    pytest.param("static-N5-3link", marks=pytest.mark.slow),
])
def test_piece_equals_dense_reference(name, piece):
    basis = tiny(name)
    A = built(name)[piece].toarray()
    R = reference(basis, piece)
    scale = max(np.abs(R).max(), 1.0)
    # the mixed term flips helicity (zero without spin); a staple or zig-zag needs 3 links
    if (basis.spin or piece != "e2_FN") and (basis.max_links >= 3 or piece not in ONE_THREE):
        assert np.abs(R).max() > 0, f"{piece}: reference is empty on {name}"
    np.testing.assert_allclose(A, R, rtol=0, atol=eps_tol(scale, basis.dim))


@pytest.mark.parametrize("name", ["static-N4-3link-spin", "dlcq-K5-3link-spin"])
@pytest.mark.parametrize("piece", PIECE_NAMES)
def test_piece_is_hermitian_and_rotation_invariant(name, piece):
    basis = tiny(name)
    A = built(name)[piece]
    assert A.nnz > 0
    assert_hermitian(A, piece)
    R = ops.rotation_c4(basis)
    C = (A @ R - R @ A).tocsr()
    err = np.abs(C.data).max() if C.nnz else 0.0
    assert err <= eps_tol(np.abs(A.data).max(), basis.dim), f"[{piece}, R_C4] = {err:.3g}"


@pytest.mark.parametrize("piece", PIECE_NAMES)
def test_link_number_structure(piece):
    basis = tiny("static-N4-3link-spin")
    A = built("static-N4-3link-spin")[piece].tocoo()
    dn = np.abs(basis.nlinks[A.row] - basis.nlinks[A.col])
    expected = 2 if piece in links.LINK_NUMBER_CHANGING else 0
    assert set(np.unique(dn)) == {expected}
    # nothing acts on chains with fewer than 2 links unless it creates two
    if expected == 0:
        assert np.all(basis.nlinks[A.row] >= 2)


def test_pieces_vanish_below_two_links():
    basis = static_basis(0.5, 3.0, max_links=1)
    for name, A in links.multi_link_pieces(basis).items():
        assert A.nnz == 0, name


def test_bad_names_and_kinds():
    basis = tiny("static-N6-2link")
    with pytest.raises(ValueError, match=r"unknown two-link emission term 'XX'"):
        links.two_link_emission(basis, "XX")
    with pytest.raises(ValueError, match=r"unknown link-potential orientation 'Q'"):
        links.link_potential(basis, "Q")
    from lfqcd.basis import static_pair_basis

    with pytest.raises(InvalidParameterError, match=r"a static pair \(two static sources\) has no quark"):
        links.two_link_emission(static_pair_basis(0.5, 2.0, n_links=2), "NN")
    with pytest.raises(InvalidParameterError, match=r"need a static_pair"):
        links.string_pieces(tiny("static-N6-2link"))


def test_light_light_pieces_commute_with_charge_conjugation():
    basis = tiny("dlcq-K5-3link-spin")
    C = ops.charge_conjugation(basis)
    pieces = links.light_light_pieces(basis)
    for name, A in pieces.items():
        assert_hermitian(A, name)
        D = (C @ A @ C.T - A).tocsr()
        err = np.abs(D.data).max() if D.nnz else 0.0
        assert err <= eps_tol(np.abs(A.data).max(), basis.dim), f"{name}: [C, O] = {err:.3g}"
    # the antiquark end adds as many entries as the quark end
    assert pieces["e2_NN"].nnz == 2 * built("dlcq-K5-3link-spin")["e2_NN"].nnz
    with pytest.raises(InvalidParameterError, match=r"need a dlcq basis"):
        links.light_light_pieces(tiny("static-N6-2link"))
