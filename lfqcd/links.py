r"""Coupling-free operator pieces that exist only with two or more links (issue 11).

The derivations, conventions and the matrix element of every piece are in
``docs/physics_links.md``; this module is their implementation through the one assembly path
(:func:`lfqcd.assembly.build_csr`), in the same grid normalisation as :mod:`lfqcd.operators`
(a sector with ``p`` dynamical partons has coefficients ``c = phi h^{p/2}``). Every piece is
Hermitian by construction: each row kernel writes ``H[i, t] = A(t -> i)`` for the states ``t``
with more links and ``conj(A(i -> t))`` for those with fewer.

===================  ==========================================================  ===========
piece                term                                                        coefficient
===================  ==========================================================  ===========
``e2_FF/NN/FN``      instantaneous two-link emission by the quark (n <-> n + 2)  ``w_FF/NN/FN``
``lam_S/P/B``        quartic link potential of two links meeting at a site,      ``lambda_S/P/B``
                     straight / perpendicular / backtracking (n -> n)
``plaq``             plaquette corner flip ``r s -> s r`` (n -> n), sign -1       ``beta``
``plaq_staple``      plaquette staple ``r <-> s r -s`` (n <-> n + 2), sign -1     ``beta``
``coul_s``           s-channel annihilation of a backtracking pair into a         ``G``
                     longitudinal gluon and re-creation at the same site (n -> n)
``coul_pair``        a backtracking pair annihilated into a longitudinal gluon    ``G``
                     absorbed by the colour-adjacent parton (n <-> n - 2)
===================  ==========================================================  ===========

Directions along the chain are codes ``0..3`` (``+x, +y, -x, -y``); ``d + 2 (mod 4)`` reverses.
Momenta inside kernels: link ``a h``, quark / antiquark ``(b - 1/2) h``.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numba
import numpy as np
import scipy.sparse as sp

from lfqcd.assembly import build_csr
from lfqcd.basis import MAX_LINKS, ChainBasis, find_state, pack_key
from lfqcd.errors import InvalidParameterError
from lfqcd.operators import _chain_units, _pack_units, _swap_amp, static_slot

if TYPE_CHECKING:
    from lfqcd.symmetry import JzBlock

#: relative orientation of two consecutive path directions (d_i, d_{i+1})
STRAIGHT, PERPENDICULAR, BACKTRACKING = 0, 1, 2
POTENTIAL_CLASSES = {"S": STRAIGHT, "P": PERPENDICULAR, "B": BACKTRACKING}
EMISSION_TERMS = {"FF": 0, "NN": 1, "FN": 2}


@numba.njit(cache=True)
def _orientation(d1, d2):  # pragma: no cover - numba
    diff = (d2 - d1) % 4
    if diff == 0:
        return STRAIGHT
    if diff == 2:
        return BACKTRACKING
    return PERPENDICULAR


@numba.njit(cache=True)
def _pair_vertex(k1, k2):  # pragma: no cover - numba
    """Pair-annihilation vertex of the link current, (k1 - k2)/(2 sqrt(k1 k2))."""
    return (k1 - k2) / (2.0 * np.sqrt(k1 * k2))


@numba.njit(cache=True)
def _link_factor(k, kp):  # pragma: no cover - numba
    return (k + kp) / (2.0 * np.sqrt(k * kp))


def _args(basis: ChainBasis, quark: bool = False) -> tuple:
    """Kernel arguments. Every piece but the quark's two-link emission (``quark=True``) also acts
    on chains between two static sources (``static_pair``: the transverse string)."""
    if quark and basis.kind == "static_pair":
        raise InvalidParameterError(
            "the two-link emission acts at the quark end; a static pair (two static sources) "
            "has no quark"
        )
    return (basis.keys, basis.nlinks, basis.dirs, basis.link_mom, basis.quark_mom,
            basis.anti_mom, basis.hel_q, basis.hel_qbar, basis.h, basis.n_cut,
            basis.static_code, basis.max_links, 2 if basis.spin else 1)


# ----------------------------------------------------------------------------------------------
# instantaneous two-link emission by the quark (docs/physics_links.md, section 3)


@numba.njit(cache=True)
def _e2_amp(d1, d2, a1, a2, b_out, h_out, h_in, h, which):  # pragma: no cover - numba
    """A(q(b_in, h_in) -> L(d1, a1) L(d2, a2) q(b_out, h_out)) times the grid factor h."""
    k1 = a1 * h
    k2 = a2 * h
    kout = (b_out - 0.5) * h
    w = _swap_amp(d2, (d1 + 2) % 4, h_out, h_in, which)
    return h * w / ((k2 + kout) * np.sqrt(k1 * k2))


@numba.njit(cache=True)
def _e2_row(i, args, cols, vals):  # pragma: no cover - numba
    keys, nlinks, dirs, lmom, qmom, amom, hq, hqb, h, n_cut, static, max_links, nhel, which = args
    nl = nlinks[i]
    n = 0
    # t has two links fewer: row i holds A(t -> i)
    if nl >= 2:
        d1, d2 = dirs[i, nl - 2], dirs[i, nl - 1]
        a1, a2 = lmom[i, nl - 2], lmom[i, nl - 1]
        d = dirs[i].copy()
        m = lmom[i].copy()
        d[nl - 2] = 0
        d[nl - 1] = 0
        m[nl - 2] = 0
        m[nl - 1] = 0
        b_in = a1 + a2 + qmom[i]
        for h_in in range(nhel):
            amp = _e2_amp(d1, d2, a1, a2, qmom[i], hq[i], h_in, h, which)
            if amp == 0:
                continue
            t = find_state(keys, pack_key(nl - 2, h_in, hqb[i], b_in, amom[i], d, m))
            if t >= 0:
                cols[n] = t
                vals[n] = amp
                n += 1
    # t has two links more: row i holds conj(A(i -> t))
    if nl + 2 <= max_links:
        d = dirs[i].copy()
        m = lmom[i].copy()
        b_in = qmom[i]
        for d1 in range(4):
            for d2 in range(4):
                d[nl] = d1
                d[nl + 1] = d2
                for a1 in range(1, b_in):
                    for a2 in range(1, b_in - a1):
                        m[nl] = a1
                        m[nl + 1] = a2
                        b_out = b_in - a1 - a2
                        for h_out in range(nhel):
                            amp = _e2_amp(d1, d2, a1, a2, b_out, h_out, hq[i], h, which)
                            if amp == 0:
                                continue
                            t = find_state(keys, pack_key(nl + 2, h_out, hqb[i], b_out, amom[i],
                                                          d, m))
                            if t >= 0:
                                cols[n] = t
                                vals[n] = np.conj(amp)
                                n += 1
    return n


def two_link_emission(basis: ChainBasis, which: str, block: JzBlock | None = None
                      ) -> sp.csr_matrix:
    r"""Instantaneous two-link emission/absorption by the quark (coefficient ``w_FF/NN/FN``).

    .. math::
        \langle \ldots L_{d_1}(k_1) L_{d_2}(k_2)\, q(k', h')|M^2|\ldots q(k, h)\rangle
        = \frac{\langle h'|W(d_2 \leftarrow d_1 + 2)|h\rangle}{(k_2 + k')\sqrt{k_1 k_2}},
        \quad k = k_1 + k_2 + k'

    with the link-swap spinor matrix ``W`` of :func:`lfqcd.operators.link_swap`
    (docs/physics_links.md section 3); grid factor ``h``.
    """
    if which not in EMISSION_TERMS:
        raise ValueError(f"unknown two-link emission term {which!r}; use one of "
                         f"{sorted(EMISSION_TERMS)}")
    n = basis.n_cut
    args = _args(basis, quark=True) + (EMISSION_TERMS[which],)
    return build_csr(_e2_row, basis.dim, args, np.complex128, max_row=32 * n * n + 64,
                     block=block)


# ----------------------------------------------------------------------------------------------
# quartic link potential and plaquette (docs/physics_links.md, sections 4 and 5)


@numba.njit(cache=True)
def _potential_row(i, args, cols, vals):  # pragma: no cover - numba
    keys, nlinks, dirs, lmom, qmom, amom, hq, hqb, h, n_cut, static, max_links, nhel, cls = args
    nl = nlinks[i]
    n = 0
    for p in range(nl - 1):
        d1, d2 = dirs[i, p], dirs[i, p + 1]
        flip = cls < 0  # plaquette corner flip: perpendicular pairs only, directions exchanged
        if flip:
            if _orientation(d1, d2) != PERPENDICULAR:
                continue
        elif _orientation(d1, d2) != cls:
            continue
        a1, a2 = lmom[i, p], lmom[i, p + 1]
        tot = a1 + a2
        pre = (-1.0 if flip else 1.0) * h / np.sqrt(a1 * h * a2 * h)
        d = dirs[i].copy()
        m = lmom[i].copy()
        if flip:
            d[p], d[p + 1] = d2, d1
        for b1 in range(1, tot):
            m[p] = b1
            m[p + 1] = tot - b1
            t = find_state(keys, pack_key(nl, hq[i], hqb[i], qmom[i], amom[i], d, m))
            if t >= 0:
                cols[n] = t
                vals[n] = pre / np.sqrt(b1 * h * (tot - b1) * h)
                n += 1
    return n


@numba.njit(cache=True)
def _one_three_row(i, args, cols, vals):  # pragma: no cover - numba
    """1 <-> 3 link replacements: ``cls = -2`` the plaquette staple, link ``r`` <-> ``(s, r, s + 2)``
    with ``s`` perpendicular to ``r`` (value -1); ``cls = -3`` the ``lambda_B`` zig-zag, link ``r``
    <-> ``(r, r + 2, r)`` (value +1). Times ``h / sqrt(k_1 k_2 k_3 k)``, ``k = k_1 + k_2 + k_3``."""
    keys, nlinks, dirs, lmom, qmom, amom, hq, hqb, h, n_cut, static, max_links, nhel, cls = args
    nl = nlinks[i]
    n = 0
    zigzag = cls == -3
    sign = 1.0 if zigzag else -1.0
    # row i contains the three links p, p+1, p+2 that t has replaced by one link
    for p in range(nl - 2):
        x, y, z = dirs[i, p], dirs[i, p + 1], dirs[i, p + 2]
        if zigzag:
            if y != (x + 2) % 4 or z != x:
                continue
            r = x
        else:
            if z != (x + 2) % 4 or _orientation(x, y) != PERPENDICULAR:
                continue
            r = y
        a1, a2, a3 = lmom[i, p], lmom[i, p + 1], lmom[i, p + 2]
        d = np.zeros(MAX_LINKS, dtype=np.int64)
        m = np.zeros(MAX_LINKS, dtype=np.int64)
        for j in range(p):
            d[j] = dirs[i, j]
            m[j] = lmom[i, j]
        d[p] = r
        m[p] = a1 + a2 + a3
        for j in range(p + 3, nl):
            d[j - 2] = dirs[i, j]
            m[j - 2] = lmom[i, j]
        t = find_state(keys, pack_key(nl - 2, hq[i], hqb[i], qmom[i], amom[i], d, m))
        if t >= 0:
            cols[n] = t
            vals[n] = sign * h / np.sqrt(a1 * h * a2 * h * a3 * h * (a1 + a2 + a3) * h)
            n += 1
    # row i has a link p that t replaces by three
    if nl + 2 <= max_links:
        for p in range(nl):
            r = dirs[i, p]
            a = lmom[i, p]
            for ds in (1, 3):
                if zigzag and ds == 3:  # one zig-zag per link
                    continue
                d = np.zeros(MAX_LINKS, dtype=np.int64)
                m = np.zeros(MAX_LINKS, dtype=np.int64)
                for j in range(p):
                    d[j] = dirs[i, j]
                    m[j] = lmom[i, j]
                for j in range(p + 1, nl):
                    d[j + 2] = dirs[i, j]
                    m[j + 2] = lmom[i, j]
                if zigzag:
                    d[p], d[p + 1], d[p + 2] = r, (r + 2) % 4, r
                else:
                    s = (r + ds) % 4
                    d[p], d[p + 1], d[p + 2] = s, r, (s + 2) % 4
                for a1 in range(1, a):
                    for a2 in range(1, a - a1):
                        a3 = a - a1 - a2
                        m[p], m[p + 1], m[p + 2] = a1, a2, a3
                        t = find_state(keys, pack_key(nl + 2, hq[i], hqb[i], qmom[i], amom[i],
                                                      d, m))
                        if t >= 0:
                            cols[n] = t
                            vals[n] = sign * h / np.sqrt(a1 * h * a2 * h * a3 * h * a * h)
                            n += 1
    return n


def link_potential(basis: ChainBasis, orientation: str, block: JzBlock | None = None
                   ) -> sp.csr_matrix:
    r"""Quartic potential of two consecutive links meeting at a site (coefficient ``lambda_X``).

    .. math::
        \langle L_{d_1}(k_1') L_{d_2}(k_2')|M^2|L_{d_1}(k_1) L_{d_2}(k_2)\rangle
        = \frac{1}{\sqrt{k_1 k_2 k_1' k_2'}},\quad k_1' + k_2' = k_1 + k_2

    for the pairs whose orientation is ``S`` (straight, ``d_2 = d_1``), ``P`` (perpendicular) or
    ``B`` (backtracking, ``d_2 = d_1 + 2``); directions unchanged (docs/physics_links.md 4).
    """
    if orientation not in POTENTIAL_CLASSES:
        raise ValueError(f"unknown link-potential orientation {orientation!r}; use one of "
                         f"{sorted(POTENTIAL_CLASSES)}")
    args = _args(basis) + (POTENTIAL_CLASSES[orientation],)
    return build_csr(_potential_row, basis.dim, args, np.float64,
                     max_row=MAX_LINKS * (basis.n_cut + 2), block=block)


def plaquette(basis: ChainBasis, staple: bool = False, block: JzBlock | None = None
              ) -> sp.csr_matrix:
    r"""Transverse plaquette ``-beta Tr(M_r M_s M_r^+ M_s^+)`` (coefficient ``beta``).

    ``staple=False``: corner flip ``(r, s) -> (s, r)`` of two consecutive perpendicular links
    (link number unchanged); ``staple=True``: a link ``r`` <-> the staple ``(s, r, -s)`` around
    the same plaquette (link number changes by 2). Both are ``-1/sqrt(product of the four link
    momenta)`` with total momentum conserved (docs/physics_links.md 5); grid factor ``h``.
    """
    n = basis.n_cut
    if staple:
        return build_csr(_one_three_row, basis.dim, _args(basis) + (-2,), np.float64,
                         max_row=MAX_LINKS + 2 * n * n + 8, block=block)
    return build_csr(_potential_row, basis.dim, _args(basis) + (-1,), np.float64,
                     max_row=MAX_LINKS * (n + 2), block=block)


def link_zigzag(basis: ChainBasis, block: JzBlock | None = None) -> sp.csr_matrix:
    r"""The link-number-changing part of ``lambda_B``'s ``Tr[(M_r M_r^+)^2]``: a link ``r``
    <-> the zig-zag ``(r, -r, r)`` over the same link (coefficient ``lambda_B``).

    .. math::
        \langle L_r(k_1) L_{-r}(k_2) L_r(k_3)|M^2|L_r(k)\rangle
        = \frac{1}{\sqrt{k_1 k_2 k_3 k}},\quad k_1 + k_2 + k_3 = k

    the same local, momentum-conserving vertex as the number-conserving backtracking piece
    (docs/physics_links.md 4); grid factor ``h``. Needs chains of 3 links.
    """
    n = basis.n_cut
    return build_csr(_one_three_row, basis.dim, _args(basis) + (-3,), np.float64,
                     max_row=MAX_LINKS + n * n + 8, block=block)


# ----------------------------------------------------------------------------------------------
# longitudinal gluon from a backtracking link pair (docs/physics_links.md, section 2)


@numba.njit(cache=True)
def _coul_s_row(i, args, cols, vals):  # pragma: no cover - numba
    keys, nlinks, dirs, lmom, qmom, amom, hq, hqb, h, n_cut, static, max_links, nhel = args
    nl = nlinks[i]
    n = 0
    for p in range(nl - 1):
        if dirs[i, p + 1] != (dirs[i, p] + 2) % 4:
            continue
        a1, a2 = lmom[i, p], lmom[i, p + 1]
        tot = a1 + a2
        P = tot * h
        v = _pair_vertex(a1 * h, a2 * h)
        if v == 0.0:
            continue
        d = dirs[i].copy()
        m = lmom[i].copy()
        for e in range(4):
            d[p] = e
            d[p + 1] = (e + 2) % 4
            for b1 in range(1, tot):
                v2 = _pair_vertex(b1 * h, (tot - b1) * h)
                if v2 == 0.0:
                    continue
                m[p] = b1
                m[p + 1] = tot - b1
                t = find_state(keys, pack_key(nl, hq[i], hqb[i], qmom[i], amom[i], d, m))
                if t >= 0:
                    cols[n] = t
                    vals[n] = h * v * v2 / (P * P)
                    n += 1
    return n


def pair_annihilation(basis: ChainBasis, block: JzBlock | None = None) -> sp.csr_matrix:
    r"""s-channel: a backtracking pair annihilates into a longitudinal gluon and is re-created
    at the same site in any direction (coefficient ``G``, link number unchanged).

    .. math::
        +\,\frac{v(k_1, k_2)\, v(k_1', k_2')}{(k_1 + k_2)^2},\qquad
        v(k_1, k_2) = \frac{k_1 - k_2}{2\sqrt{k_1 k_2}}

    (docs/physics_links.md 2a); grid factor ``h``.
    """
    return build_csr(_coul_s_row, basis.dim, _args(basis), np.float64,
                     max_row=4 * MAX_LINKS * (basis.n_cut + 2), block=block)


@numba.njit(cache=True)
def _neighbour_factor(u_old, u_new, j, nl, h):  # pragma: no cover - numba
    """Current vertex of the absorbing parton ``j`` (1 for a fermion, F for a link)."""
    if 1 <= j <= nl:
        return _link_factor(0.5 * h * u_old, 0.5 * h * u_new)
    return 1.0


@numba.njit(cache=True)
def _coul_pair_row(i, args, cols, vals):  # pragma: no cover - numba
    keys, nlinks, dirs, lmom, qmom, amom, hq, hqb, h, n_cut, static, max_links, nhel = args
    nl = nlinks[i]
    n = 0
    u = _chain_units(i, nlinks, lmom, qmom, amom, static)
    # (1) row i holds a backtracking pair at links p, p+1 (chain slots p+1, p+2): t has it
    # absorbed by the left neighbour (slot p) or the right neighbour (slot p+3)
    for p in range(nl - 1):
        if dirs[i, p + 1] != (dirs[i, p] + 2) % 4:
            continue
        a1, a2 = lmom[i, p], lmom[i, p + 1]
        v = _pair_vertex(a1 * h, a2 * h)
        if v == 0.0:
            continue
        P2 = 2 * (a1 + a2)  # pair momentum in half units
        for side in range(2):
            j = p if side == 0 else p + 3  # absorbing parton's chain slot
            nt = nl - 2
            ut = np.zeros(nt + 2, dtype=np.int64)
            dt = np.zeros(MAX_LINKS, dtype=np.int64)
            ut[0] = u[0]
            for q in range(p):
                ut[1 + q] = u[1 + q]
                dt[q] = dirs[i, q]
            for q in range(p + 2, nl):
                ut[q - 1] = u[1 + q]
                dt[q - 2] = dirs[i, q]
            ut[nt + 1] = u[nl + 1]
            jt = j if side == 0 else j - 2  # the absorbing parton's slot in t
            static_j = static_slot(jt, nt, static)  # a static source absorbs the momentum
            if static_j:
                fac = 1.0
            else:
                ut[jt] = u[j] + P2
                fac = _neighbour_factor(u[j], ut[jt], jt, nt, h)
            t = find_state(keys, _pack_units(nt, hq[i], hqb[i], ut, dt, static))
            if t >= 0:
                cols[n] = t
                # the left neighbour meets the pair's left (incoming) colour index, the right
                # neighbour its right one: opposite charges, opposite signs (C-invariance)
                vals[n] = (-1.0 if side == 0 else 1.0) * h * v * fac / ((a1 + a2) * h) ** 2
                n += 1
    # (2) row i lacks the pair: t has a backtracking pair inserted after chain slot q (links
    # p = q, q+1 in t), its momentum taken from the left (slot q) or right (slot q+1) neighbour
    if nl + 2 <= max_links:
        nt = nl + 2
        for q in range(nl + 1):
            for side in range(2):
                j = q if side == 0 else q + 1  # donor slot in i
                static_j = static_slot(j, nl, static)
                if static_j:
                    avail = 2 * n_cut  # bounded by the cutoff through find_state
                else:
                    avail = u[j] - (2 if 1 <= j <= nl else 1)  # donor keeps >= its lowest mode
                for e in range(4):
                    for a1 in range(1, avail // 2 + 1):
                        for a2 in range(1, avail // 2 + 1 - a1):
                            P2 = 2 * (a1 + a2)
                            if P2 > avail:
                                break
                            v = _pair_vertex(a1 * h, a2 * h)
                            if v == 0.0:
                                continue
                            ut = np.zeros(nt + 2, dtype=np.int64)
                            dt = np.zeros(MAX_LINKS, dtype=np.int64)
                            ut[0] = u[0]
                            for k in range(q):
                                ut[1 + k] = u[1 + k]
                                dt[k] = dirs[i, k]
                            ut[q + 1] = 2 * a1
                            ut[q + 2] = 2 * a2
                            dt[q] = e
                            dt[q + 1] = (e + 2) % 4
                            for k in range(q, nl):
                                ut[k + 3] = u[1 + k]
                                dt[k + 2] = dirs[i, k]
                            ut[nt + 1] = u[nl + 1]
                            jt = j if side == 0 else j + 2
                            if static_j:
                                fac = 1.0
                            else:
                                ut[jt] = u[j] - P2
                                fac = _neighbour_factor(ut[jt], u[j], jt, nt, h)
                            t = find_state(keys, _pack_units(nt, hq[i], hqb[i], ut, dt, static))
                            if t >= 0:
                                cols[n] = t
                                sgn = -1.0 if side == 0 else 1.0
                                vals[n] = sgn * h * v * fac / ((a1 + a2) * h) ** 2
                                n += 1
    return n


def pair_absorption(basis: ChainBasis, block: JzBlock | None = None) -> sp.csr_matrix:
    r"""A backtracking pair annihilates into a longitudinal gluon that the colour-adjacent
    parton (left or right neighbour of the pair along the chain) absorbs, and the reverse
    (coefficient ``G``; link number changes by 2).

    .. math::
        \mp\,\frac{v(k_1, k_2)\, F_j(k_j, k_j + k_1 + k_2)}{(k_1 + k_2)^2}

    ``-`` when the left neighbour absorbs (it meets the pair's left colour index), ``+`` for
    the right neighbour (opposite charge): that makes the term charge-conjugation invariant.
    ``F_j`` = 1 for the quark, antiquark and static source, the link factor for a link; a
    static source absorbs the momentum (docs/physics_links.md 2b) — on a static pair both chain
    ends are static sources, so a pair next to either end is absorbed by it; grid factor ``h``.
    """
    n = basis.n_cut
    return build_csr(_coul_pair_row, basis.dim, _args(basis), np.float64,
                     max_row=2 * MAX_LINKS + 8 * (MAX_LINKS + 1) * n * n + 8, block=block)


def _iter_link_chain_pieces(basis: ChainBasis, block: JzBlock | None = None
                            ) -> Iterator[tuple[str, sp.csr_matrix]]:
    """The pieces that act on the links alone (potential, plaquette, backtracking-pair Coulomb),
    built one at a time."""
    yield "lam_S", link_potential(basis, "S", block)
    yield "lam_P", link_potential(basis, "P", block)
    yield "lam_B", link_potential(basis, "B", block)
    yield "lam_B_zz", link_zigzag(basis, block)
    yield "plaq", plaquette(basis, block=block)
    yield "plaq_staple", plaquette(basis, staple=True, block=block)
    yield "coul_s", pair_annihilation(basis, block)
    yield "coul_pair", pair_absorption(basis, block)


def string_pieces(basis: ChainBasis) -> dict[str, sp.csr_matrix]:
    """The multi-link pieces that act between two static sources (``static_pair`` bases: the
    transverse string): everything of :func:`multi_link_pieces` but the quark's two-link
    emission. ``coul_pair`` lets either source absorb or emit the pair's momentum."""
    if basis.kind != "static_pair":
        raise InvalidParameterError("string pieces need a static_pair (two static sources) basis")
    return dict(_iter_link_chain_pieces(basis))


def iter_multi_link_pieces(basis: ChainBasis, block: JzBlock | None = None
                           ) -> Iterator[tuple[str, sp.csr_matrix]]:
    """``(name, piece)`` for every n >= 2-link piece, built one at a time (a caller that
    transforms each piece never holds all of them as built)."""
    yield "e2_FF", two_link_emission(basis, "FF", block)
    yield "e2_NN", two_link_emission(basis, "NN", block)
    yield "e2_FN", two_link_emission(basis, "FN", block)
    yield from _iter_link_chain_pieces(basis, block)


def multi_link_pieces(basis: ChainBasis, block: JzBlock | None = None
                      ) -> dict[str, sp.csr_matrix]:
    """Every n >= 2-link piece by name (empty pieces on a basis with fewer than 2 links);
    ``block``: built directly in that j_z block (:func:`lfqcd.operators.diagonal`)."""
    return dict(iter_multi_link_pieces(basis, block))


#: pieces that change the link number (by 2); the rest conserve it
LINK_NUMBER_CHANGING = ("e2_FF", "e2_NN", "e2_FN", "lam_B_zz", "plaq_staple", "coul_pair")


MULTI_LINK_PIECES = ("e2_FF", "e2_NN", "e2_FN", "lam_S", "lam_P", "lam_B", "lam_B_zz", "plaq",
                     "plaq_staple", "coul_s", "coul_pair")


@dataclasses.dataclass(frozen=True)
class LinkCouplings:
    """Couplings of the terms that need two or more links (lattice units).

    ``lam_S``, ``lam_P``, ``lam_B``: quartic link potential of two consecutive links that run
    straight, turn a corner, or backtrack; ``beta``: transverse plaquette (>= 0 lowers the
    energy of flux around a plaquette). ``two_link_emission`` and ``pair_coulomb`` switch the
    Lagrangian-fixed terms (coefficients ``w_FF/NN/FN`` and ``G`` of the femtoworm couplings):
    a switch, not a coupling, so that tests can turn every link-number-changing term off.
    """

    lam_S: float = 0.0
    lam_P: float = 0.0
    lam_B: float = 0.0
    beta: float = 0.0
    two_link_emission: bool = True
    pair_coulomb: bool = True

    def __post_init__(self) -> None:
        for name in ("lam_S", "lam_P", "lam_B", "beta"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v):
                raise InvalidParameterError(f"link coupling {name} must be a finite number, got {v!r}")
        for name in ("two_link_emission", "pair_coulomb"):
            if not isinstance(getattr(self, name), bool):
                raise InvalidParameterError(f"{name} must be true or false")

    def coefficients(self, couplings: Any) -> dict[str, float]:
        """Coefficient of every multi-link piece, given the femtoworm ``Couplings``."""
        e2 = 1.0 if self.two_link_emission else 0.0
        pc = 1.0 if self.pair_coulomb else 0.0
        return {
            "e2_FF": e2 * couplings.w_FF, "e2_NN": e2 * couplings.w_NN,
            "e2_FN": e2 * couplings.w_FN,
            "lam_S": float(self.lam_S), "lam_P": float(self.lam_P), "lam_B": float(self.lam_B),
            "lam_B_zz": float(self.lam_B), "plaq": float(self.beta), "plaq_staple": float(self.beta),
            "coul_s": pc * couplings.G, "coul_pair": pc * couplings.G,
        }

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def iter_light_light_pieces(basis: ChainBasis, block: JzBlock | None = None
                            ) -> Iterator[tuple[str, sp.csr_matrix]]:
    """``(name, piece)`` for every multi-link piece of the light-light (DLCQ) operator, built one
    at a time: the two-link emission at both ends (the antiquark end as ``C e2 C^T`` with
    :func:`lfqcd.operators.charge_conjugation`, as the femtoworm light-light operator does for
    its emission and swap) and the pieces that act inside the chain, which are
    charge-conjugation symmetric by themselves. ``block``: built directly in that ``j_z`` block
    (``C`` taken there, :func:`lfqcd.operators.charge_conjugation`)."""
    if basis.kind != "dlcq":
        raise InvalidParameterError("light-light multi-link pieces need a dlcq basis")
    from lfqcd.operators import charge_conjugation

    C = charge_conjugation(basis, block)
    for name, piece in iter_multi_link_pieces(basis, block):
        if name.startswith("e2_"):
            piece = (piece + C @ piece @ C.conj().T).tocsr()
        yield name, piece


def light_light_pieces(basis: ChainBasis, block: JzBlock | None = None
                       ) -> dict[str, sp.csr_matrix]:
    """Every multi-link piece of the light-light operator by name
    (:func:`iter_light_light_pieces`)."""
    return dict(iter_light_light_pieces(basis, block))
