r"""Light-light femtoworm mesons (docs/physics.md (H15)-(H17)) and transverse string tensions (H18), (F2).

Light-light operator (DLCQ resolution ``K``, ``P^+ = 1``, fractions ``x``) at total transverse
momentum ``P_perp`` (units of ``1/a``):

.. math::
    2P^+P^- = m_R^2\,O^{(0)}_{1/x_q+1/x_{\bar q}} + c\,O^{(0)}_{\ln(n-1/2)/x}
              + m^2\,O^{(1)}_{1/x_q+1/x_{\bar q}}
              + \mu^2 O_{1/x_L} + G\,O_C
              + \sum_{T} c_T\,\big(O_T + e^{-iP\cdot s}\circ\,C O_T C^{T}\big)

with the renormalised sector-0 quark and antiquark masses of docs/physics.md (R4) (the same
cell-log counterterm as the heavy-light operator, ``c = 4 (t_F^2 + t_NF^2)/m^2``), ``T`` over
the emission (``t_F``, ``t_NF``) and link-swap (``w_FF``, ``w_NN``, ``w_FN``) pieces at the
quark end and their charge conjugates ``C O_T C^T`` at the antiquark end (one implementation
of each term, :func:`lfqcd.operators.charge_conjugation`). The same Coulomb, kinetic, emission
and swap pieces as the heavy-light operator (docs/physics.md (H1)) are used; only the basis
differs (both ends dynamical). ``P_perp`` enters through the Bloch phases of the antiquark-end
pieces (:func:`lfqcd.operators.antiquark_shift_phases`): the quark-end terms leave the
antiquark, the chain's reference site, in place.

Mesons: the pion is the lowest ``j_z = 0`` state at ``P_perp = 0``; the rho the lowest
``j_z = 1`` state (transverse polarisation). ``M^2(P_perp) := 2P^+P^-(P_perp) - P_perp^2``;
covariance of the dispersion relation requires ``M^2(P_perp) = M^2(0)``, i.e. a transverse
"speed of light" ``c_T^2 = [E(P) - E(0)] / P^2 = 1``.

Transverse string (docs/physics.md (H18), (F2)): one link between two static sources on neighbouring
sites, ``2 E = kappa_L + mu^2/kappa_L + Coulomb with both sources``; ``sigma_T a = E_0 / 2``
(the lowest light-dof energy, halved as in ``2 Lambda-bar``), in lattice units
``sigma_T a^2 = E_0/2`` against ``sigma_L a^2 = pi G / 2``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from functools import cached_property

import numpy as np
import scipy.sparse as sp

from lfqcd import operators as ops
from lfqcd.basis import DEFAULT_MEMORY_LIMIT, ChainBasis, dlcq_basis, dlcq_sector_size, static_pair_basis
from lfqcd.couplings import Couplings
from lfqcd.eigen import solve
from lfqcd.errors import BasisTooLargeError, InvalidParameterError
from lfqcd.hamiltonian import PieceSum
from lfqcd.links import LinkCouplings, iter_light_light_pieces
from lfqcd.symmetry import JzBlock, jz_block, real_block_basis

N_COLOURS = 3
HOPPING_PIECES = ("t_F", "t_NF", "w_FF", "w_NN", "w_FN")


def check_light_light_memory(k_total: int, max_links: int,
                             memory_limit: int = DEFAULT_MEMORY_LIMIT) -> int:
    """Estimated peak bytes of a :class:`LightLightModel` with both ``j_z`` blocks built; refuse
    above ``memory_limit`` before anything is built.

    A block row has about ``5 K`` entries summed over both blocks (measured 4.7 K - 4.8 K at two
    links, ``K = 24 - 48``); the peak is about 38 B per stored real entry (the entries, each
    piece's complex assembly buffers and its real-basis transform; measured 9.1 GiB at
    ``K = 48``, two links), charged at 40 B plus 0.3 GiB of interpreter and numba.
    """
    dim = sum(dlcq_sector_size(k_total, n) for n in range(max_links + 1))
    est = int(0.3 * 2**30 + 40 * 5 * k_total * dim)
    if est > memory_limit:
        raise BasisTooLargeError(
            f"light-light K = {k_total} with {max_links} link(s) ({dim:,} states) needs about "
            f"{est / 2**30:.1f} GiB (limit {memory_limit / 2**30:.1f} GiB); use a smaller K or "
            "raise memory_limit deliberately", est, memory_limit)
    return est


class LightLightModel:
    """Basis and cached pieces of the light-light operator at DLCQ resolution ``K``.

    ``max_links = 1`` is the femtoworm operator of the calibration. ``max_links = 2`` adds the
    two-link sector and every multi-link piece (``links.light_light_pieces``: the two-link
    emission at both ends and the link-chain terms, docs/physics_links.md), with the
    counterterm on every sector that can still emit (sectors 0 and 1, as
    ``HeavyLightModel(counterterm_sectors="emitting")``) and the renormalised ``m^2`` on the last
    sector. ``link_couplings`` are the multi-link couplings (default zero); two links are for
    studies at rest (``P_perp = 0``): the Bloch phases of a two-link emission at the antiquark
    end are not built, so :meth:`energy` at ``P_perp != 0`` refuses them.
    """

    def __init__(self, k_total: int, max_links: int = 1,
                 link_couplings: LinkCouplings | None = None,
                 memory_limit: int = DEFAULT_MEMORY_LIMIT) -> None:
        if isinstance(max_links, bool) or max_links not in (1, 2):
            raise InvalidParameterError(
                f"light-light max_links={max_links!r} is not supported: use 1 or 2")
        if not isinstance(k_total, int) or k_total < 2 * max_links + 2:
            raise InvalidParameterError(
                f"light-light DLCQ resolution K must be an integer >= {2 * max_links + 2} for "
                f"{max_links} link(s), got {k_total!r}"
            )
        self.k_total = k_total
        self.max_links = max_links
        self.link_couplings = LinkCouplings() if link_couplings is None else link_couplings
        check_light_light_memory(k_total, max_links, memory_limit)
        self.basis = dlcq_basis(k_total, max_links=max_links, spin=True, memory_limit=memory_limit)
        self._at_momentum: dict[tuple[float, float], PieceSum] = {}

    def _iter_pieces(self, block: JzBlock | None = None
                     ) -> Iterator[tuple[str, str, sp.csr_matrix]]:
        """``(kind, name, piece)`` for every piece, built one at a time on the full basis or
        directly in ``block``: kind ``fixed``, or ``quark`` followed at once by the same term's
        ``anti`` (the antiquark end ``C O C^T``, ``C`` taken in the block)."""
        b, n_emit = self.basis, self.max_links
        inv = 1.0 / b.kappa_quark() + 1.0 / b.kappa_antiquark()
        emitting = b.nlinks < n_emit  # the sectors that can still emit a link
        yield "fixed", "m0_sq", ops.diagonal(b, np.where(emitting, inv, 0.0), block)  # C.3 (m_R^2)
        # docs/physics.md (R4): cell-log counterterm of quark and antiquark in every emitting sector
        yield "fixed", "m0_log", sum((ops.cell_log_mass(b, "quark", n, block)
                                      + ops.cell_log_mass(b, "antiquark", n, block)
                                      for n in range(n_emit)),
                                     start=ops.diagonal(b, np.zeros(b.dim), block)).tocsr()
        yield "fixed", "m_sq", ops.diagonal(b, np.where(emitting, 0.0, inv), block)  # C.3, last
        yield "fixed", "mu_sq", ops.inverse_momentum(b, "links", block=block)  # C.3
        yield "fixed", "G", ops.coulomb(b, block)  # C.2, all colour-adjacent pairs
        C = ops.charge_conjugation(b, block)
        quark_end = {
            "t_F": lambda: ops.link_emission(b, helicity_flip=True, block=block),  # (H9)
            "t_NF": lambda: ops.link_emission(b, helicity_flip=False, block=block),  # C.4
            "w_FF": lambda: ops.link_swap(b, "FF", block),  # C.5a
            "w_NN": lambda: ops.link_swap(b, "NN", block),
            "w_FN": lambda: ops.link_swap(b, "FN", block),
        }
        for name, build in quark_end.items():
            q = build()
            yield "quark", name, q
            yield "anti", name, (C @ q @ C.conj().T).tocsr()
        if n_emit >= 2:  # docs/physics_links.md: both ends' two-link emission, chain terms
            for name, piece in iter_light_light_pieces(b, block):
                yield "fixed", name, piece

    @cached_property
    def _full(self) -> tuple[dict, dict, dict]:
        """``(fixed, quark_end, antiquark_end)`` on the full basis (built on first use)."""
        out: dict[str, dict] = {"fixed": {}, "quark": {}, "anti": {}}
        for kind, name, piece in self._iter_pieces():
            out[kind][name] = piece
        return out["fixed"], out["quark"], out["anti"]

    @property
    def fixed(self) -> dict[str, sp.csr_matrix]:
        """The full-basis pieces without Bloch phases (built on first use)."""
        return self._full[0]

    @property
    def quark_end(self) -> dict[str, sp.csr_matrix]:
        return self._full[1]

    @property
    def antiquark_end(self) -> dict[str, sp.csr_matrix]:
        return self._full[2]

    def pieces(self, p_perp: tuple[float, float] = (0.0, 0.0)) -> dict[str, sp.csr_matrix]:
        """All full-basis pieces at ``P_perp``: hopping pieces = quark end + phased antiquark
        end."""
        out = dict(self.fixed)
        for k in HOPPING_PIECES:
            anti = self.antiquark_end[k]
            if p_perp != (0.0, 0.0):
                anti = ops.antiquark_shift_phases(self.basis, anti, p_perp)
            out[k] = (self.quark_end[k] + anti).tocsr()
        return out

    def coefficients(self, c: Couplings, m0_sq: float, m0_log: float = 0.0) -> dict[str, float]:
        out = {"m0_sq": m0_sq, "m0_log": m0_log, "m_sq": c.m**2, "mu_sq": c.mu**2, "G": c.G,
               "t_F": c.t_F, "t_NF": c.t_NF, "w_FF": c.w_FF, "w_NN": c.w_NN, "w_FN": c.w_FN}
        if self.max_links >= 2:
            out.update(self.link_couplings.coefficients(c))
        return out

    @cached_property
    def _blocks(self) -> dict[float, PieceSum]:
        """The ``j_z = 0`` and ``1`` blocks at rest, built directly there (the full-basis pieces
        are never formed) and stored in the basis where they are real
        (:func:`lfqcd.symmetry.real_block_basis`; at ``P_perp = 0`` the mirror times complex
        conjugation is a symmetry of every light-light piece)."""
        out = {}
        for jz in (0.0, 1.0):
            block = jz_block(self.basis, jz)
            out[jz] = PieceSum(self._pieces_at_rest(block), block.isometry, projected=True,
                               real_basis=real_block_basis(self.basis, block))
        return out

    def _pieces_at_rest(self, block: JzBlock) -> Iterator[tuple[str, sp.csr_matrix]]:
        """``(name, piece)`` at ``P_perp = 0`` in ``block``, one at a time: each hopping piece is
        its quark end plus its antiquark end (no Bloch phase)."""
        quark = {}
        for kind, name, piece in self._iter_pieces(block):
            if kind == "quark":
                quark[name] = piece
                continue
            yield name, (quark.pop(name) + piece).tocsr() if kind == "anti" else piece

    def spectrum(self, c: Couplings, m0_sq: float, jz: float, n_states: int = 1,
                 m0_log: float = 0.0) -> np.ndarray:
        """Lowest ``M^2`` in the ``j_z`` block at ``P_perp = 0`` (``jz`` 0 or 1)."""
        ps = self._blocks[jz]
        return solve(ps.combine(self.coefficients(c, m0_sq, m0_log)), n_states).eigenvalues

    def ground_state(self, c: Couplings, m0_sq: float, m0_log: float = 0.0
                     ) -> tuple[float, np.ndarray]:
        """Pion: lowest ``j_z = 0`` eigenpair at rest, vector in the full basis."""
        ps = self._blocks[0.0]
        res = solve(ps.combine(self.coefficients(c, m0_sq, m0_log)), 1)
        return float(res.eigenvalues[0]), np.asarray(ps.lift(res.eigenvectors))[:, 0]

    @cached_property
    def exchange(self) -> sp.csr_matrix:
        """``X``: quark <-> antiquark relabelling with the path reversed; ``C = -X``
        (docs/physics.md (C1)-(C3)): ``<X> = -1`` means C-parity +, ``+1`` means C-parity -."""
        return ops.charge_conjugation(self.basis)

    def lowest_with_c_parity(self, c: Couplings, m0_sq: float, jz: float, c_parity: int,
                             m0_log: float = 0.0, n_search: int = 6) -> tuple[float, float]:
        """(M^2, <C>) of the lowest ``j_z`` state whose C-parity is ``c_parity`` (+1 or -1)
        among the lowest ``n_search`` levels; ``nan`` when none of them has it."""
        ps = self._blocks[jz]
        n = min(n_search, ps.dim - 1)
        res = solve(ps.combine(self.coefficients(c, m0_sq, m0_log)), n)
        vecs = np.asarray(ps.lift(res.eigenvectors))
        X = self.exchange
        for k in np.argsort(res.eigenvalues):
            v = vecs[:, k]
            cpar = -float(np.real(np.vdot(v, X @ v)) / np.real(np.vdot(v, v)))
            if abs(cpar - c_parity) < 0.5:
                return float(res.eigenvalues[k]), cpar
        return float("nan"), float("nan")

    def energy(self, c: Couplings, m0_sq: float, p_perp: tuple[float, float],
               m0_log: float = 0.0) -> float:
        """Lowest eigenvalue of ``2P^+P^-`` at ``P_perp`` (full basis: ``j_z`` is broken)."""
        key = (float(p_perp[0]), float(p_perp[1]))
        if key != (0.0, 0.0) and self.max_links >= 2:
            raise InvalidParameterError(
                "light-light energies at P_perp != 0 need the Bloch phases of the two-link "
                "antiquark-end emission, which are not built: use max_links = 1")
        if key not in self._at_momentum:  # phased pieces built once per momentum (fit loop)
            self._at_momentum[key] = PieceSum(self.pieces(key))
        ps = self._at_momentum[key]
        return float(solve(ps.combine(self.coefficients(c, m0_sq, m0_log)), 1).eigenvalues[0])

    def dispersion(self, c: Couplings, m0_sq: float, p: float, diagonal: bool = False,
                   m0_log: float = 0.0) -> dict[str, float]:
        """``E(P)``, ``M^2(P) = E(P) - P^2`` and ``c_T^2 = (E(P) - E(0))/P^2`` along an axis
        (or the lattice diagonal) for ``|P_perp| = p``."""
        vec = (p / math.sqrt(2), p / math.sqrt(2)) if diagonal else (p, 0.0)
        e0 = self.energy(c, m0_sq, (0.0, 0.0), m0_log)
        ep = self.energy(c, m0_sq, vec, m0_log)
        return {"E0": e0, "E": ep, "M2": ep - p * p, "c2": (ep - e0) / (p * p)}

    def decay_constant(self, vector: np.ndarray) -> float:
        r"""``f_pi = sqrt(2 N_c/pi) (1/a) int dx phi_{J=0}(x)`` in lattice units, with
        ``phi_{J=0} = (psi_{up,down} - psi_{down,up})/sqrt(2)`` in sector 0 (the light-light
        analogue of docs/physics.md (E2), f_pi = 130 MeV convention) [DERIVED here by analogy]."""
        b = self.basis
        s0 = b.sector_slice(0)
        c = vector[s0]
        ud = (b.hel_q[s0] == 0) & (b.hel_qbar[s0] == 1)
        du = (b.hel_q[s0] == 1) & (b.hel_qbar[s0] == 0)
        # order both by quark momentum so the two helicity components line up
        a = c[ud][np.argsort(b.quark_mom[s0][ud])]
        d = c[du][np.argsort(b.quark_mom[s0][du])]
        integral = abs(np.sum(a - d)) / math.sqrt(2.0) * math.sqrt(b.h)
        return math.sqrt(2.0 * N_COLOURS / math.pi) * integral


class TransverseString:
    """One link between static sources on neighbouring sites (docs/physics.md (H18), (F2))."""

    def __init__(self, h: float = 0.1, kappa_max: float = 12.0) -> None:
        self.basis: ChainBasis = static_pair_basis(h, kappa_max, n_links=1)
        b = self.basis
        one_dir = b.dirs[:, 0] == 0  # all four directions are equivalent; keep +x
        P = sp.identity(b.dim, format="csr")[:, np.flatnonzero(one_dir)]
        self.pieces = PieceSum({"kinetic": ops.light_momentum(b),
                                "mu_sq": ops.inverse_momentum(b, "links"),
                                "G": ops.coulomb(b)}, P)

    def energy(self, mu: float, G: float) -> float:
        """Lowest light-dof energy ``E_0`` (eigenvalue of ``2E``, lattice units)."""
        H = self.pieces.combine({"kinetic": 1.0, "mu_sq": mu * mu, "G": G})
        return float(solve(H, 1, backend="dense").eigenvalues[0])

    def sigma_T(self, mu: float, G: float) -> float:
        """``sigma_T a^2 = E_0 / 2`` (lattice units)."""
        return 0.5 * self.energy(mu, G)


def sigma_L(G: float) -> float:
    """Longitudinal string tension ``pi G / 2`` (docs/physics.md (H18))."""
    return 0.5 * math.pi * G
