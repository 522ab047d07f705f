r"""Coupling-free operator pieces on a :class:`~lfqcd.basis.ChainBasis`.

Every function here returns one sparse Hermitian matrix ``O`` that does not depend on any
coupling value; Hamiltonians are sums ``sum_i c_i(couplings) O_i`` (:mod:`lfqcd.hamiltonian`).
All pieces are written for the light-front energy operator in momentum variables (docs/physics.md
(G7)) and (H2): every term is homogeneous of degree -1 in the light momenta. For a static-source basis
the heavy-light operator is ``2 Lambda-bar = kappa_tot + sum_i c_i O_i``; for a DLCQ basis
(``P^+ = 1``, momenta are fractions) the same pieces give ``M^2 = sum_i c_i O_i``.

Grid normalisation (docs/physics.md (G4)): a sector with ``n`` dynamical partons has wavefunction
coefficients ``c = phi * h^{n/2}``, so an operator between sectors whose parton numbers differ
by one carries ``sqrt(h)`` and an integral over one momentum becomes ``h * sum``.

Implementation notes: each piece is a numba *row kernel* ``(i, args, cols, vals) -> n`` fed to
the single assembly path :func:`lfqcd.assembly.build_csr`. Momenta inside kernels are integers
in half units of ``h``: quark/antiquark ``2b - 1`` (odd), link ``2a`` (even).

The kernels inline :func:`lfqcd.basis.pack_key`; numba's on-disk cache (``cache=True``) only
watches this file, so after a change of the key layout in ``basis.py`` delete the cached
``__pycache__/*.nbi`` / ``*.nbc`` files (last layout change: 3-bit link number, links 4 and 5
of static pairs in the fermion fields, ``MAX_LINKS = 5``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numba
import numpy as np
import scipy.sparse as sp

from lfqcd.assembly import build_csr
from lfqcd.basis import MAX_LINKS, ChainBasis, find_state, pack_key

if TYPE_CHECKING:  # symmetry imports this module (rotation_c4)
    from lfqcd.symmetry import JzBlock

# ----------------------------------------------------------------------------------------------
# shared numba helpers


@numba.njit(cache=True)
def _cell_kernel(k, kp, h):  # pragma: no cover - numba
    """Integral of 1/(k - q)^2 over the grid cell of width h centred at kp (docs/physics.md (H6))."""
    d = k - kp
    return 1.0 / (d - 0.5 * h) - 1.0 / (d + 0.5 * h)


@numba.njit(cache=True)
def _link_factor(k, kp):  # pragma: no cover - numba
    """F(k, k') = (k + k')/(2 sqrt(k k')) for a link end of a Coulomb exchange (docs/physics.md (H5))."""
    return (k + kp) / (2.0 * np.sqrt(k * kp))


@numba.njit(cache=True)
def _igamma(r, h_out, h_in):  # pragma: no cover - numba
    """<h_out| i gamma^r |h_in> (docs/physics.md (H10)); helicity bits 0 = up, 1 = down."""
    theta = 0.5 * np.pi * r
    if h_out == h_in:
        return 0.0 + 0.0j
    if h_out == 0:
        return -np.exp(-1j * theta)
    return -np.exp(1j * theta)


@numba.njit(cache=True)
def _state_key(nl, hq, hqb, bq, bqb, dirs, moms):  # pragma: no cover - numba
    return pack_key(nl, hq, hqb, bq, bqb, dirs, moms)


# ----------------------------------------------------------------------------------------------
# diagonal pieces


@numba.njit(cache=True)
def _diag_row(i, args, cols, vals):  # pragma: no cover - numba
    (values,) = args
    if values[i] == 0.0:
        return 0
    cols[0] = i
    vals[0] = values[i]
    return 1


def diagonal(basis: ChainBasis, values: np.ndarray, block: JzBlock | None = None
             ) -> sp.csr_matrix:
    """Diagonal operator with the given per-state values (through the one assembly path).

    ``block`` (here and in every piece below): a :class:`lfqcd.symmetry.JzBlock` of ``basis``;
    the piece is then built directly in that ``j_z`` block, ``V^H O V`` (complex), never on the
    full basis (:func:`lfqcd.assembly.build_csr`)."""
    values = np.ascontiguousarray(values, dtype=np.float64)
    if values.shape != (basis.dim,):
        raise ValueError(f"need {basis.dim} diagonal values, got shape {values.shape}")
    return build_csr(_diag_row, basis.dim, (values,), np.float64, max_row=1, block=block)


def light_momentum(basis: ChainBasis, block: JzBlock | None = None) -> sp.csr_matrix:
    r"""``kappa_tot``: the static-source recoil term of the heavy-light operator (docs/physics.md (H2))."""
    return diagonal(basis, basis.kappa_light_total(), block)


def inverse_momentum(basis: ChainBasis, parton: str, sector: int | None = None,
                     block: JzBlock | None = None) -> sp.csr_matrix:
    r"""Kinetic-mass piece ``1/k`` of one parton type (docs/physics.md (H3)): multiply by ``m^2`` or
    ``mu^2``. ``parton`` is ``"quark"``, ``"antiquark"`` or ``"links"`` (sum over all links);
    ``sector`` restricts it to one link number (sector-dependent kinetic masses, docs/physics.md section 6).
    """
    if parton == "quark":
        vals = 1.0 / basis.kappa_quark()
    elif parton == "antiquark":
        if basis.static:
            raise ValueError("a static source has no kinetic term")
        vals = 1.0 / basis.kappa_antiquark()
    elif parton == "links":
        kl = basis.kappa_links()
        with np.errstate(divide="ignore"):
            vals = np.where(kl > 0, 1.0 / np.where(kl > 0, kl, 1.0), 0.0).sum(axis=1)
    else:
        raise ValueError(f"unknown parton {parton!r}; use quark, antiquark or links")
    if sector is not None:
        vals = np.where(basis.nlinks == sector, vals, 0.0)
    return diagonal(basis, vals, block)


def cell_log_mass(basis: ChainBasis, parton: str, sector: int,
                  block: JzBlock | None = None) -> sp.csr_matrix:
    r"""Log part of the renormalised kinetic mass, ``ln(p / delta p) / p`` (docs/physics.md (R4)).

    ``p = (n - 1/2) delta p`` is the quark's (``parton="quark"``) or dynamic antiquark's
    momentum and ``delta p`` its own momentum cell (``h`` on the static grid, ``1/K`` in DLCQ),
    so the value ``ln(n - 1/2) / p`` is the same function of the cell index ``n`` in both bases:
    that is how the light-light and heavy-light regulators are matched. Multiplied by the
    self-energy log coefficient it cancels the ``-(c/p) ln(p/delta p)`` divergence of the
    second-order self-energy of a quark in ``sector``.
    """
    if parton == "quark":
        n, p = basis.quark_mom, basis.kappa_quark()
    elif parton == "antiquark":
        if basis.static:
            raise ValueError("a static source has no kinetic term")
        n, p = basis.anti_mom, basis.kappa_antiquark()
    else:
        raise ValueError(f"unknown parton {parton!r}; use quark or antiquark")
    vals = np.where((basis.nlinks == sector) & (n > 0),
                    np.log(np.maximum(n, 1) - 0.5) / np.where(p > 0, p, 1.0), 0.0)
    return diagonal(basis, vals, block)


# ----------------------------------------------------------------------------------------------
# longitudinal gluon exchange between colour-adjacent partons (docs/physics.md (H4)-(H8))


@numba.njit(cache=True)
def _chain_units(i, nlinks, lmom, qmom, amom, static):  # pragma: no cover - numba
    """Momenta along the chain of state ``i`` in half units of h: [antiquark, links..., quark]
    (0 for a static end)."""
    nl = nlinks[i]
    units = np.zeros(nl + 2, dtype=np.int64)
    units[0] = 0 if static else 2 * amom[i] - 1
    for j in range(nl):
        units[1 + j] = 2 * lmom[i, j]
    units[nl + 1] = 0 if static == 2 else 2 * qmom[i] - 1
    return units


@numba.njit(cache=True)
def static_slot(j, nl, static):  # pragma: no cover - numba
    """True when chain slot ``j`` (0 = antiquark end, ``nl + 1`` = quark end; the layout of
    :func:`_chain_units`) is a static source: the left end of a static chain, both ends of a
    static pair."""
    return (j == 0 and static >= 1) or (j == nl + 1 and static == 2)


@numba.njit(cache=True)
def _coulomb_row(i, args, cols, vals):  # pragma: no cover - numba
    keys, nlinks, dirs, lmom, qmom, amom, hq, hqb, h, n_cut, static = args
    nl = nlinks[i]
    d = dirs[i].copy()
    units = _chain_units(i, nlinks, lmom, qmom, amom, static)
    n = 0
    diag = 0.0
    for p in range(nl + 1):
        left, right = p, p + 1
        left_link = 1 <= left <= nl
        right_link = 1 <= right <= nl
        left_static = static_slot(left, nl, static)
        right_static = static_slot(right, nl, static)
        # the parton whose grid carries the cell kernel: a link if there is one, else the right end
        if left_static:
            v = right
        elif right_static:
            v = left
        else:
            v = right if (right_link or not left_link) else left
        o = left if v == right else right
        v_link = 1 <= v <= nl
        o_link = 1 <= o <= nl
        kv = 0.5 * h * units[v]
        start = 2 if v_link else 1
        if left_static or right_static:
            # static source: k' runs over (0, inf); total light momentum bounded by the cutoff
            diag += 4.0 / h - 1.0 / kv
            # sum of grid indices of the other dynamical partons (links a, quark b) <= n_cut
            idx_others = 0
            for j in range(1, nl + 2):
                if j != v and not (j == nl + 1 and static == 2):
                    idx_others += (units[j] + 1) // 2  # link 2a -> a; quark 2b - 1 -> b
            umax = 2 * (n_cut - idx_others) - (0 if v_link else 1)
            o_moves = False
            ptot = 0
            kP = 0.0
        else:
            # dynamic pair: k' runs over (0, P), the partner takes P - k'
            ptot = units[v] + units[o]
            kP = 0.5 * h * ptot
            diag += 4.0 / h - 1.0 / kv - 1.0 / (kP - kv)
            umax = ptot - (2 if o_link else 1)
            o_moves = True
        u = start
        while u <= umax:
            if u != units[v]:
                kp = 0.5 * h * u
                val = -_cell_kernel(kv, kp, h)
                if v_link:
                    val *= _link_factor(kv, kp)
                new = units.copy()
                new[v] = u
                if o_moves:
                    new[o] = ptot - u
                    if o_link:
                        val *= _link_factor(kP - kv, kP - kp)
                t = find_state(keys, _pack_units(nl, hq[i], hqb[i], new, d, static))
                if t >= 0:
                    cols[n] = t
                    vals[n] = val
                    n += 1
            u += 2
    cols[n] = i
    vals[n] = diag
    return n + 1


@numba.njit(cache=True)
def _pack_units(nl, hq, hqb, units, dirs, static):  # pragma: no cover - numba
    moms = np.zeros(MAX_LINKS, dtype=np.int64)
    for j in range(nl):
        moms[j] = units[1 + j] // 2
    bq = (units[nl + 1] + 1) // 2
    bqb = 0 if static else (units[0] + 1) // 2
    return pack_key(nl, hq, hqb, bq, bqb, dirs, moms)


def _geometry(basis: ChainBasis) -> tuple:
    return (basis.keys, basis.nlinks, basis.dirs, basis.link_mom, basis.quark_mom,
            basis.anti_mom, basis.hel_q, basis.hel_qbar, basis.h, basis.n_cut, basis.static_code)


def _max_row(basis: ChainBasis) -> int:
    return (basis.max_links + 2) * 8 * (basis.n_cut + 2)


def coulomb(basis: ChainBasis, block: JzBlock | None = None) -> sp.csr_matrix:
    r"""Instantaneous longitudinal-gluon exchange between every colour-adjacent pair (coefficient G).

    .. math::
        (H_C\psi)(k_i,k_j) = G \int dk_i' \frac{\psi(k_i,k_j) - F_i F_j\,\psi(k_i', P-k_i')}{(k_i-k_i')^2}

    docs/physics.md (H4)-(H5), discretised with cell-integrated kernels (H6)-(H8). The diagonal (self-energy)
    is the exact integral of ``1/(k - q)^2`` over the allowed range minus the parton's own cell,
    ``4/h - 1/k - 1/(P - k)`` (dynamic pair, range ``(0, P)``) or ``4/h - 1/k`` (static source,
    range ``(0, inf)``); it equals the (H6) cell sums, including the excluded link zero-mode
    sliver ``(0, h/2)``, and extends the static-source tail to infinity exactly.
    """
    return build_csr(_coulomb_row, basis.dim, _geometry(basis), np.float64, _max_row(basis),
                     block=block)


# ----------------------------------------------------------------------------------------------
# single-link emission at the quark end (docs/physics.md (H9)-(H11))


@numba.njit(cache=True)
def _vertex_amp(r, a, b, h_out, h_in, h, flip):  # pragma: no cover - numba
    """sqrt(h) V(r; kL = a h, kq = (b - 1/2) h; h_out <- h_in) for one coupling (t = 1)."""
    kl = a * h
    kq = (b - 0.5) * h
    kin = kl + kq
    if flip:
        amp = _igamma(r, h_out, h_in) * (1.0 / kq - 1.0 / kin)
    else:
        amp = (-(1.0 / kq + 1.0 / kin) + 0.0j) if h_out == h_in else 0.0j
    return np.sqrt(h) * amp / np.sqrt(kl)


@numba.njit(cache=True)
def _vertex_row(i, args, cols, vals):  # pragma: no cover - numba
    keys, nlinks, dirs, lmom, qmom, amom, hq, hqb, h, n_cut, static, max_links, nhel, flip = args
    nl = nlinks[i]
    n = 0
    b = qmom[i]
    # emission: this state -> sector nl + 1; H[i, t] = conj(H[t, i])
    if nl < max_links:
        d = dirs[i].copy()
        m = lmom[i].copy()
        for r in range(4):
            d[nl] = r
            for a in range(1, b):
                m[nl] = a
                for h_out in range(nhel):
                    amp = _vertex_amp(r, a, b - a, h_out, hq[i], h, flip)
                    if amp == 0:
                        continue
                    key = pack_key(nl + 1, h_out, hqb[i], b - a, amom[i], d, m)
                    t = find_state(keys, key)
                    if t >= 0:
                        cols[n] = t
                        vals[n] = np.conj(amp)
                        n += 1
    # absorption of the last link: this state -> sector nl - 1
    if nl >= 1:
        r = dirs[i, nl - 1]
        a = lmom[i, nl - 1]
        d = dirs[i].copy()
        m = lmom[i].copy()
        d[nl - 1] = 0
        m[nl - 1] = 0
        for h_in in range(nhel):
            amp = _vertex_amp(r, a, b, hq[i], h_in, h, flip)
            if amp == 0:
                continue
            key = pack_key(nl - 1, h_in, hqb[i], a + b, amom[i], d, m)
            t = find_state(keys, key)
            if t >= 0:
                cols[n] = t
                vals[n] = amp
                n += 1
    return n


def link_emission(basis: ChainBasis, helicity_flip: bool, block: JzBlock | None = None
                  ) -> sp.csr_matrix:
    r"""Single-link emission/absorption by the quark (coefficient ``t_F`` or ``t_NF``).

    .. math::
        V(r; k_L, k_q; h\leftarrow h_0) = k_L^{-1/2}\Big[t_F \langle h|i\gamma^r|h_0\rangle
        \big(\tfrac{1}{k_q} - \tfrac{1}{k_L+k_q}\big)
        - t_{NF}\,\delta_{hh_0}\big(\tfrac{1}{k_q} + \tfrac{1}{k_L+k_q}\big)\Big]

    docs/physics.md (H9)-(H11); the quark at the end of the path hops one site along ``r`` and the
    new link is appended to the path. Hermitian by construction (both directions emitted).
    """
    args = _geometry(basis) + (basis.max_links, 2 if basis.spin else 1, bool(helicity_flip))
    return build_csr(_vertex_row, basis.dim, args, np.complex128, _max_row(basis), block=block)


# ----------------------------------------------------------------------------------------------
# instantaneous link swap at the quark end (docs/physics.md (H12)-(H14))


@numba.njit(cache=True)
def _swap_amp(r_out, r_in, h_out, h_in, which):  # pragma: no cover - numba
    """<h_out| W(r_out <- r_in) |h_in> for one of w_FF (0), w_NN (1), w_FN (2) set to 1."""
    if which == 0:
        if h_out != h_in:
            return 0.0j
        sigma = 1.0 if h_out == 0 else -1.0
        dth = 0.5 * np.pi * (r_out - r_in)
        return np.cos(dth) - 1j * np.sin(dth) * sigma
    if which == 1:
        return 1.0 + 0.0j if h_out == h_in else 0.0j
    return _igamma(r_out, h_out, h_in) + _igamma(r_in, h_out, h_in)


@numba.njit(cache=True)
def _swap_row(i, args, cols, vals):  # pragma: no cover - numba
    keys, nlinks, dirs, lmom, qmom, amom, hq, hqb, h, n_cut, static, nhel, which = args
    nl = nlinks[i]
    if nl == 0:
        return 0
    n = 0
    r = dirs[i, nl - 1]
    a = lmom[i, nl - 1]
    b = qmom[i]
    tot = a + b  # kL + kq = (tot - 1/2) h
    kl = a * h
    kin = (tot - 0.5) * h
    d = dirs[i].copy()
    m = lmom[i].copy()
    for r2 in range(4):
        d[nl - 1] = r2
        for a2 in range(1, tot):
            m[nl - 1] = a2
            kl2 = a2 * h
            for h2 in range(nhel):
                amp = _swap_amp(r, r2, hq[i], h2, which)
                if amp == 0:
                    continue
                key = pack_key(nl, h2, hqb[i], tot - a2, amom[i], d, m)
                t = find_state(keys, key)
                if t >= 0:
                    cols[n] = t
                    vals[n] = h * amp / (kin * np.sqrt(kl * kl2))
                    n += 1
    return n


SWAP_TERMS = {"FF": 0, "NN": 1, "FN": 2}


def link_swap(basis: ChainBasis, which: str, block: JzBlock | None = None) -> sp.csr_matrix:
    r"""Instantaneous link swap at the quark (coefficient ``w_FF``, ``w_NN`` or ``w_FN``).

    .. math::
        \langle h|W(r\leftarrow r')|h'\rangle\,\frac{h}{(k_L+k_q)\sqrt{k_L k_L'}},\quad
        W = w_{FF}\alpha^r\alpha^{r'} + w_{NN} + w_{FN}\,i(\gamma^r+\gamma^{r'})

    docs/physics.md (H12)-(H14) (``r'``, ``k_L'`` the absorbed link; includes ``r' = r, k_L' = k_L``).
    """
    if which not in SWAP_TERMS:
        raise ValueError(f"unknown link-swap term {which!r}; use one of {sorted(SWAP_TERMS)}")
    args = _geometry(basis) + (2 if basis.spin else 1, SWAP_TERMS[which])
    return build_csr(_swap_row, basis.dim, args, np.complex128, _max_row(basis), block=block)


# ----------------------------------------------------------------------------------------------
# C_4 rotation (docs/physics.md (G5)) and the y mirror (docs/physics_links.md section 7)


@numba.njit(cache=True)
def _relabel_row(i, args, cols, vals):  # pragma: no cover - numba
    """Image of state ``i`` under ``r -> (sign r + shift) mod 4`` for every link direction, times
    the helicity phases ``exp(-i s pi/2)`` when ``phase`` (the rotation) or 1 (the mirror)."""
    keys, nlinks, dirs, lmom, qmom, amom, hq, hqb, h, n_cut, static, sign, shift, phase = args
    nl = nlinks[i]
    d = dirs[i].copy()
    for j in range(nl):
        d[j] = (sign * d[j] + shift + 4) % 4
    cols[0] = find_state(keys, pack_key(nl, hq[i], hqb[i], qmom[i], amom[i], d, lmom[i]))
    vals[0] = 1.0
    if phase:  # helicity phase exp(-i s pi/2) per quark (and dynamic antiquark), s = +-1/2
        s = 0.5 if hq[i] == 0 else -0.5
        if not static:
            s += 0.5 if hqb[i] == 0 else -0.5
        vals[0] = np.exp(-0.5j * np.pi * s)
    return 1


def rotation_c4(basis: ChainBasis) -> sp.csr_matrix:
    """The C_4 rotation ``R``: every link direction turned by +90 degrees, times the helicity
    phases ``exp(-i s pi/2)``. Stored as ``R[i, j] = <i|R|j>``; eigenvalues ``exp(-i j_z pi/2)``.
    """
    args = _geometry(basis) + (1, 1, True)
    R_rows = build_csr(_relabel_row, basis.dim, args, np.complex128, 1)
    # row i of R_rows holds <R i| ... i.e. the image of state i: transpose to get <i|R|j>.
    return R_rows.T.tocsr()


def reflection_y(basis: ChainBasis) -> sp.csr_matrix:
    """The mirror ``y -> -y`` of every link direction, helicities unchanged: a permutation ``S``.

    ``S K`` (``K`` complex conjugation of the basis coefficients) is antiunitary, squares to 1
    and commutes with every heavy-light piece (``<h|i gamma^r|h'>`` and the link-swap phases
    depend on ``exp(+-i theta_r)``, which ``K`` and ``theta_r -> -theta_r`` each conjugate) and
    with ``R_C4`` up to ``S R^* S = R^{-1}``, so it maps every ``j_z`` block to itself: the basis
    in which the blocks are real (:func:`lfqcd.symmetry.real_block_basis`, docs/physics_links.md
    section 7).
    """
    # theta_r -> -theta_r: r = 1 (+y) <-> r = 3 (-y)
    return build_csr(_relabel_row, basis.dim, _geometry(basis) + (-1, 0, False), np.complex128,
                     1).T.real.tocsr()


# ----------------------------------------------------------------------------------------------
# charge conjugation and transverse Bloch phases (light-light chains, docs/physics.md (H15)-(H17))


@numba.njit(cache=True)
def _cconj_row(i, args, cols, vals):  # pragma: no cover - numba
    keys, nlinks, dirs, lmom, qmom, amom, hq, hqb, h, n_cut, static = args
    nl = nlinks[i]
    d = np.zeros(MAX_LINKS, dtype=np.int64)
    m = np.zeros(MAX_LINKS, dtype=np.int64)
    for j in range(nl):  # read the chain from the other end: order and directions reversed
        d[j] = (dirs[i, nl - 1 - j] + 2) % 4
        m[j] = lmom[i, nl - 1 - j]
    key = pack_key(nl, hqb[i], hq[i], amom[i], qmom[i], d, m)
    cols[0] = find_state(keys, key)
    vals[0] = 1.0
    return 1


def charge_conjugation(basis: ChainBasis, block: JzBlock | None = None) -> sp.csr_matrix:
    """The relabelling permutation ``X``: quark <-> antiquark (momenta and helicities), the link
    path read backwards with every direction reversed. Only for DLCQ (both ends dynamical) bases.

    Charge conjugation on meson chains is ``C = -X`` (docs/physics.md (C1)-(C6): link
    ``M_r -> M_r^*``, no helicity phase with ``v = C ubar^T``, -1 from fermion reordering), so
    the antiquark-end emission and link-swap pieces are ``X O_quark X`` (one implementation of
    each term); pi has ``X = -1`` (C = +), rho ``X = +1`` (C = -). ``block``: ``X`` in that
    ``j_z`` block, ``V^H X V`` (``X`` commutes with the rotation, so with the block projector;
    then ``(X O X^T)`` in the block is ``X_b O_b X_b^H``).
    """
    if basis.kind != "dlcq":
        raise ValueError("charge conjugation needs a basis with a dynamical antiquark (dlcq)")
    X = build_csr(_cconj_row, basis.dim, _geometry(basis), np.float64, 1)
    if block is None:
        return X
    V = block.isometry
    return (V.conj().T @ X @ V).tocsr()


_UNIT_VECTORS = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]])


def antiquark_shift_phases(basis: ChainBasis, op: sp.spmatrix, p_perp: tuple[float, float]
                           ) -> sp.csr_matrix:
    r"""Bloch phases of an antiquark-end operator at total transverse momentum ``P_perp``.

    With Bloch states ``sum_y exp(i P.R(y)) |chain at y>`` (``R`` the light-front centre), an
    operator that moves the antiquark site by ``s`` picks up ``exp(-i P.s)`` (the remaining
    ``exp(i P.(rho - rho'))`` factor is a diagonal unitary and drops out of every spectrum).
    Here ``s = e(r_first of column) - e(r_first of row)``: the first link of the chain is the one
    the antiquark emits, absorbs or swaps. ``P_perp`` is in units of ``1/a``.
    """
    A = sp.csr_matrix(op, dtype=np.complex128, copy=True)
    first = np.zeros((basis.dim, 2))
    has = basis.nlinks > 0
    first[has] = _UNIT_VECTORS[basis.dirs[has, 0]]
    rows = np.repeat(np.arange(basis.dim), np.diff(A.indptr))
    shift = first[A.indices] - first[rows]
    A.data *= np.exp(-1j * (shift @ np.asarray(p_perp, dtype=float)))
    return A
