r"""The heavy-light femtoworm operator ``H_HQ = 2 Lambda-bar`` (docs/physics.md (H1)) on the lfqcd core.

.. math::
    H_{HQ} = \kappa_{tot} + m_0^2\,O^{(0)}_{1/\kappa_q} + m^2\,O^{(1)}_{1/\kappa_q}
           + \mu^2\,O_{1/\kappa_L} + G\,O_C + t_F V_F + t_{NF} V_{NF}
           + w_{FF} W_{FF} + w_{NN} W_{NN} + w_{FN} W_{FN} + c\,O^{(0)}_{\ln(n-1/2)/\kappa_q}

on the static-source basis with at most one link (the "femtoworm" truncation, docs/physics.md section 3):
sector 0 ``|Qbar(0) q(0)>`` and sector 1 ``|Qbar(0) L_r q(a r)>``, all four directions and both
helicities. With ``max_links = 2`` or ``3`` (issue 11) the same pieces act on the longer chains
and the terms that exist only with two or more links are added (:mod:`lfqcd.links`,
docs/physics_links.md), with coefficients from the femtoworm couplings (two-link emission:
``w``; pair Coulomb terms: ``G``) and from :class:`lfqcd.links.LinkCouplings` (link potential,
plaquette). The counterterm (``m_0^2`` and the cell-log ``m0_log``) then acts in every
sector that can still emit a link (``n < max_links``: they share sector 0's small-momentum
log), ``m^2`` in the last sector (option ``counterterm_sectors="zero"``: sector 0 only).
The static antiquark is a pure colour source (HQET at leading order, docs/physics.md section 4.1): it never
hops, so the operator has no heavy-quark vertex. ``m_0^2`` is the sector-0 kinetic mass; with
the renormalised light quark (docs/physics.md (R4)) it is ``m_R^2 + c ln(n - 1/2)`` on the
quark's cell ``n`` (pieces ``m0_sq`` and ``m0_log``), otherwise a constant tuned per
resolution (:mod:`heavy_meson.renormalization`); ``m`` is the sector-1 kinetic mass.

A :class:`HeavyLightModel` builds the basis and every coupling-free piece once per
:class:`Resolution`, directly in the requested ``j_z`` block (the full-basis pieces are formed
only for ``jz=None`` or when asked for); each coupling point then costs only a sparse sum and
an eigensolve.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from lfqcd import __version__
from lfqcd import operators as ops
from lfqcd.backend import gpu_available
from lfqcd.basis import DEFAULT_MEMORY_LIMIT, ChainBasis, static_basis, static_sector_size
from lfqcd.couplings import Couplings
from lfqcd.eigen import EigResult, solve
from lfqcd.errors import BasisTooLargeError, InvalidParameterError, ResultFileError
from lfqcd.hamiltonian import PieceSum
from lfqcd.links import MULTI_LINK_PIECES, LinkCouplings, iter_multi_link_pieces
from lfqcd.symmetry import JzBlock, jz_block, real_block_basis

#: piece name -> coupling that multiplies it (squared where the operator is quadratic)
PIECES = ("kinetic", "m0_sq", "m0_log", "m_sq", "mu_sq", "G", "t_F", "t_NF", "w_FF", "w_NN", "w_FN")
#: the largest Fock truncation the model accepts (the basis key layout holds 3 links)
MAX_MODEL_LINKS = 3
#: where the counterterm (m0_sq and m0_log) acts (see HeavyLightModel)
COUNTERTERM_SECTORS = ("emitting", "zero")


@dataclasses.dataclass(frozen=True)
class Resolution:
    """Grid spacing ``h`` (= Delta) and cutoff ``kappa_max`` in lattice units (docs/physics.md (G2)-(G4))."""

    h: float
    kappa_max: float

    def __post_init__(self) -> None:
        for name in ("h", "kappa_max"):
            v = getattr(self, name)
            if not (isinstance(v, int | float) and math.isfinite(v) and v > 0):
                raise InvalidParameterError(f"resolution {name} must be positive and finite, got {v!r}")
        n = self.kappa_max / self.h
        if abs(n - round(n)) > 1e-9 * n:
            raise InvalidParameterError(
                f"kappa_max = {self.kappa_max} is not a multiple of h = {self.h} "
                f"(ratio {n:.6g}); pick kappa_max = N h with integer N"
            )
        if round(n) < 4:
            raise InvalidParameterError(
                f"resolution too coarse: kappa_max/h = {n:.3g} < 4 grid points; "
                "the one-link sector needs at least a few momenta"
            )

    @property
    def n_grid(self) -> int:
        return round(self.kappa_max / self.h)

    def to_dict(self) -> dict[str, float]:
        return dataclasses.asdict(self)


def estimate_nnz(n_grid: int, max_links: int = 1, link_cut: int | None = None,
                 block: bool = False) -> int:
    """Nonzeros of all pieces on the full basis (dominated by the link swap), or with
    ``block=True`` of the pieces built directly in one ``j_z`` block.

    A block row is the row of its orbit's representative with the columns merged per orbit, so
    it has at most as many entries as that full row; every chain with a link lies in an orbit
    of 4 states (the rotation turns its first link), so sectors ``n >= 1`` contribute a quarter
    of their full count, and sector 0 (orbits of one state) is kept whole (an upper bound)."""
    if max_links == 0:
        return 2 * n_grid * (n_grid + 3)
    if max_links == 1:
        # sector-1 row with pair total T: swap 8 (T - 1) per piece x 3 pieces, Coulomb ~ N + T,
        # vertex 2; sector-0 row: Coulomb N, vertex 8 b. Pair totals T = 2..N occur (T - 1) x 8
        # times.
        nnz = 0
        for T in range(2, n_grid + 1):
            nnz += 8 * (T - 1) * (3 * 8 * (T - 1) + n_grid + T + 8)
        if block:
            nnz //= 4
        nnz += 2 * n_grid * (2 * n_grid)
        return nnz
    # per sector-n row, with T = 2 (N + 1)/(n + 2) the mean momentum (in grid units) of two
    # consecutive partons of a chain: Coulomb N + 2 (static source - first parton) + n T
    # (other pairs), emission 16 (both ways), swap 3 x 4 T (n >= 1: 4 directions, one
    # helicity per piece), and for n >= 2 per consecutive link pair 3 T (one potential class,
    # the plaquette on half the pairs, the s-channel x 4 directions on a quarter); the
    # n <-> n + 2 terms (two-link emission 3 x 2 helicities, pair absorption 2 per pair,
    # staple 2) are counted on the longer chain's row and doubled for their transposes.
    # Measured: 1.3-2.1 x the real count for N = 6..20 at 2 and 3 links.
    nnz = 0
    for n in range(max_links + 1):
        T = 2.0 * (n_grid + 1) / (n + 2)
        per_row = (n_grid + 2) + n * T + 16 + (12 * T if n >= 1 else 0)
        if n >= 2:
            per_row += (n - 1) * 3 * T + 2 * (6 + 2 * (n - 1) + 2)
        rows = static_sector_size(n_grid, n, True, link_cut)
        nnz += int(rows * per_row / (4 if block and n >= 1 else 1))
    return nnz


def check_memory(resolution: Resolution, memory_limit: int = DEFAULT_MEMORY_LIMIT,
                 max_links: int = 1, link_cut: int | None = None, block: bool = True) -> int:
    """Estimate the bytes needed for the basis and all pieces; refuse above ``memory_limit``.

    ``block=True`` (a model in a ``j_z`` block, as every run uses): the pieces are built
    directly in the block (:meth:`HeavyLightModel.build_pieces`); ``False``: on the full basis.
    """
    n = resolution.n_grid
    dim = sum(static_sector_size(n, k, True, link_cut) for k in range(max_links + 1))
    nnz = estimate_nnz(n, max_links, link_cut, block=block)
    if block:
        # one piece at a time passes through the int64/complex assembly buffers (24 B per entry
        # before merging) and its transform to the real block basis; the stored pieces are
        # real (8 B + int32 index, 15-27 % fewer entries). Measured peak: 34-35 B per assembled
        # (complex) block nonzero at 2 links, h = 0.25 and 0.2 (27-28 B per estimated one), so
        # 48 B per estimated nonzero bounds it without leaning on the overestimate of the count
        # (docs/physics_links.md sections 7-8)
        est = 96 * dim + 48 * nnz
    else:
        est = 96 * dim + 2 * 24 * nnz  # pieces (complex, 24 B/nnz) + their block copies
    if est > memory_limit:
        raise BasisTooLargeError(
            f"resolution h = {resolution.h}, kappa_max = {resolution.kappa_max} "
            f"({dim:,} states, ~{nnz:,} nonzeros) needs about {est / 2**30:.1f} GiB "
            f"(limit {memory_limit / 2**30:.1f} GiB); use a larger h or a smaller kappa_max",
            est,
            memory_limit,
        )
    return est


@dataclasses.dataclass
class Solution:
    """Lowest eigenpairs of one ``j_z`` block at one coupling point.

    ``lambda_bar[n]`` = eigenvalue/2; ``vectors[:, n]`` are full-basis grid coefficients,
    normalised, with the phase fixed so that the sector-0 amplitude sum is real and >= 0.
    """

    lambda_bar: np.ndarray
    vectors: np.ndarray
    residuals: np.ndarray
    jz: float
    m0_sq: float
    backend: str
    wall_s: float
    block_vectors: np.ndarray

    def to_dict(self) -> dict[str, Any]:
        return {
            "lambda_bar": self.lambda_bar.tolist(),
            "residuals": self.residuals.tolist(),
            "jz": self.jz,
            "m0_sq": self.m0_sq,
            "backend": self.backend,
            "wall_s": self.wall_s,
        }


class HeavyLightModel:
    """Basis and cached coupling-free pieces of ``H_HQ`` at one resolution and ``j_z`` block.

    Parameters
    ----------
    resolution : grid spacing and cutoff.
    jz : the ``j_z`` block to work in (``None``: the full basis, all blocks together).
    memory_limit : refuse (with the estimate) resolutions that would need more bytes.
    max_links : 1 (femtoworm, default), 0 (zero-link sector only: the heavy-light 't Hooft
        model through the same pieces and assembly, used for the 't Hooft checks), 2 or 3 (issue 11).
    link_couplings : couplings of the terms that need two or more links (default all zero;
        ignored below 2 links).
    counterterm_sectors : ``"emitting"`` (default): ``m0_sq`` multiplies ``1/kappa_q`` in every
        sector that can still emit a link (``n < max_links``); ``"zero"``: sector 0 only, ``m^2``
        in all others. The two agree at ``max_links <= 1``.
    link_kappa_max : optional cap on the total link momentum of every chain (a multiple of
        ``h``; see :func:`lfqcd.basis.static_basis`): a stated truncation for 3 links.
    real_block : store the ``j_z`` block in the basis where it is real
        (:func:`lfqcd.symmetry.real_block_basis`; default). ``False`` keeps the block as
        assembled, complex Hermitian (for comparisons: ``benchmarks/real_block.py``).
    """

    def __init__(self, resolution: Resolution, jz: float | None = 0.5,
                 memory_limit: int = DEFAULT_MEMORY_LIMIT, max_links: int = 1,
                 cache_dir: str | Path | None = None,
                 link_couplings: LinkCouplings | None = None,
                 counterterm_sectors: str = "emitting",
                 link_kappa_max: float | None = None, real_block: bool = True) -> None:
        if counterterm_sectors not in COUNTERTERM_SECTORS:
            raise InvalidParameterError(
                f"counterterm_sectors={counterterm_sectors!r}; use one of {COUNTERTERM_SECTORS}")
        self.counterterm_sectors = counterterm_sectors
        self.real_block = bool(real_block)
        if isinstance(max_links, bool) or max_links not in range(MAX_MODEL_LINKS + 1):
            raise InvalidParameterError(
                f"max_links={max_links!r} is not supported: use 0, 1 (femtoworm), 2 or 3"
            )
        self.link_couplings = LinkCouplings() if link_couplings is None else link_couplings
        link_cut = None if link_kappa_max is None else round(link_kappa_max / resolution.h)
        check_memory(resolution, memory_limit, max_links, link_cut, block=jz is not None)
        t0 = time.perf_counter()
        self.resolution = resolution
        self.jz = jz
        self.max_links = max_links
        self.basis: ChainBasis = static_basis(resolution.h, resolution.kappa_max,
                                              max_links=max_links, spin=True,
                                              memory_limit=memory_limit,
                                              link_kappa_max=link_kappa_max)
        self._full_pieces: dict | None = None
        cache = None if cache_dir is None else Path(cache_dir) / self._cache_name()
        if cache is not None and cache.is_file():
            try:
                self.pieces = PieceSum.load(cache)
                expected = set(PIECES) | (set(MULTI_LINK_PIECES) if max_links >= 2 else set())
                if set(self.pieces.pieces) != expected:
                    del self.pieces  # written by another code version: rebuild below
            except ResultFileError:
                cache.unlink()  # corrupt or truncated: rebuild below
        if not hasattr(self, "pieces"):
            self.pieces = self._piece_sum(jz)
            if cache is not None:
                self.pieces.save(cache)
        self.build_s = time.perf_counter() - t0

    def _cache_name(self) -> str:
        r = self.resolution
        ct = "" if self.counterterm_sectors == "emitting" else f"_ct{self.counterterm_sectors}"
        ct += "" if self.real_block else "_complex"
        if self.basis.link_cut is not None:
            ct += f"_lcut{self.basis.link_cut}"
        return (f"femtoworm_h{r.h:.6g}_kmax{r.kappa_max:.6g}_links{self.max_links}_jz{self.jz}"
                f"{ct}_v{__version__}.npz")  # coupling free: link couplings do not enter

    def _piece_sum(self, jz: float | None) -> PieceSum:
        """The pieces of block ``jz``: projected from the full pieces when those are already
        built, else assembled directly in the block (the full-basis matrices never formed);
        ``jz = None``: the full pieces themselves."""
        if jz is None:
            return PieceSum(self.full_pieces())
        block = jz_block(self.basis, jz)
        # the basis of A = S K invariant columns makes every block piece real at any number of
        # links (docs/physics_links.md section 7): real symmetric Lanczos, half the memory
        T = real_block_basis(self.basis, block) if self.real_block else None
        if self._full_pieces is not None:
            return PieceSum(self._full_pieces, block.isometry, try_real_gauge=False, real_basis=T)
        # built one at a time, each made real as it arrives (the complex block pieces are never
        # all held at once)
        return PieceSum(self._iter_pieces(block), block.isometry, projected=True,
                        try_real_gauge=False, real_basis=T)

    def build_pieces(self, block: JzBlock | None = None) -> dict:
        """Build every coupling-free piece: on the full basis, or directly in ``block``."""
        return dict(self._iter_pieces(block))

    def _iter_pieces(self, block: JzBlock | None) -> Iterator[tuple[str, sp.spmatrix]]:
        b = self.basis
        top = max(self.max_links, 1)  # the last sector: no emission, no counterterm
        cut = top if self.counterterm_sectors == "emitting" else 1
        inv = 1.0 / b.kappa_quark()
        yield "kinetic", ops.light_momentum(b, block)  # docs/physics.md (H2): kappa_tot
        # C.3 + K: the counterterm on sectors n < cut, the renormalised m^2 above
        yield "m0_sq", ops.diagonal(b, np.where(b.nlinks < cut, inv, 0.0), block)
        yield "m0_log", sum((ops.cell_log_mass(b, "quark", sector=n, block=block)
                             for n in range(cut)),
                            start=ops.diagonal(b, np.zeros(b.dim), block)).tocsr()  # (R2)
        yield "m_sq", ops.diagonal(b, np.where(b.nlinks >= cut, inv, 0.0), block)  # C.3
        yield "mu_sq", ops.inverse_momentum(b, "links", block=block)  # C.3 link mass
        yield "G", ops.coulomb(b, block)  # docs/physics.md (H4)-(H8) (static source, Qbar-L, L-q)
        yield "t_F", ops.link_emission(b, helicity_flip=True, block=block)  # C.4
        yield "t_NF", ops.link_emission(b, helicity_flip=False, block=block)  # C.4
        yield "w_FF", ops.link_swap(b, "FF", block)  # C.5a
        yield "w_NN", ops.link_swap(b, "NN", block)  # C.5a
        yield "w_FN", ops.link_swap(b, "FN", block)  # C.5a
        if self.max_links >= 2:  # issue 11, docs/physics_links.md
            yield from iter_multi_link_pieces(b, block)

    def full_pieces(self) -> dict:
        """The coupling-free pieces on the full basis (built on first use; a model in a
        ``j_z`` block builds its pieces directly there and forms these only when asked)."""
        if self._full_pieces is None:
            self._full_pieces = self.build_pieces()
        return self._full_pieces

    def with_jz(self, jz: float | None) -> HeavyLightModel:
        """The same resolution in another ``j_z`` block, sharing the basis (and the full
        pieces, projected, when they exist; otherwise the block's pieces are built directly)."""
        other = object.__new__(HeavyLightModel)
        other.resolution, other.jz, other.basis = self.resolution, jz, self.basis
        other.max_links = self.max_links
        other.link_couplings = self.link_couplings
        other.counterterm_sectors = self.counterterm_sectors
        other.real_block = self.real_block
        other._full_pieces = self._full_pieces
        t0 = time.perf_counter()
        other.pieces = other._piece_sum(jz)
        self._full_pieces = other._full_pieces  # built for jz = None: share them back
        other.build_s = time.perf_counter() - t0
        return other

    @property
    def dim(self) -> int:
        """Dimension of the block the eigensolver works in."""
        return self.pieces.dim

    def coefficients(self, couplings: Couplings, m0_sq: float | None = None,
                     m0_log: float = 0.0) -> dict[str, float]:
        """Coefficient of every piece; ``m0_sq`` defaults to the naive ``m^2`` (no counterterm),
        ``m0_log`` is the coefficient of the cell-log mass (0: constant sector-0 mass)."""
        c = couplings
        m0 = c.m**2 if m0_sq is None else float(m0_sq)
        if not math.isfinite(m0):
            raise InvalidParameterError(f"sector-0 kinetic mass m0_sq must be finite, got {m0}")
        if not math.isfinite(m0_log):
            raise InvalidParameterError(f"log coefficient m0_log must be finite, got {m0_log}")
        coeffs = {
            "kinetic": 1.0, "m0_sq": m0, "m0_log": float(m0_log), "m_sq": c.m**2, "mu_sq": c.mu**2,
            "G": c.G,
            "t_F": c.t_F, "t_NF": c.t_NF, "w_FF": c.w_FF, "w_NN": c.w_NN, "w_FN": c.w_FN,
        }
        if self.max_links >= 2:
            coeffs.update(self.link_couplings.coefficients(c))
        return coeffs

    def hamiltonian(self, couplings: Couplings, m0_sq: float | None = None, device: bool = False,
                    m0_log: float = 0.0):
        """The sparse ``2 Lambda-bar`` operator in this model's block.

        The sum of every piece except the counterterm is kept for the last ``couplings``, so the
        Newton iterations of the renormalisation condition each cost one sparse addition.
        """
        coeffs = self.coefficients(couplings, m0_sq, m0_log)
        if getattr(self, "_base_key", None) != (couplings, device, coeffs["m0_log"]):
            self._base = self.pieces.combine({**coeffs, "m0_sq": 0.0}, device=device)
            self._base_key = (couplings, device, coeffs["m0_log"])
        pieces = self.pieces._on_device() if device else self.pieces.pieces
        return self._base + coeffs["m0_sq"] * pieces["m0_sq"]

    def expectation(self, piece: str, block_vector: np.ndarray) -> float:
        """``<v|O_piece|v>`` for a normalised block vector (Hellmann-Feynman derivatives)."""
        O = self.pieces.pieces[piece]
        return float(np.real(np.vdot(block_vector, O @ block_vector)))

    def solve(
        self,
        couplings: Couplings,
        n_states: int = 1,
        m0_sq: float | None = None,
        backend: str = "auto",
        v0: np.ndarray | None = None,
        tol: float = 1e-10,
        m0_log: float = 0.0,
    ) -> Solution:
        """Lowest ``n_states`` eigenpairs of the block at ``couplings`` (warm start with ``v0``)."""
        on_gpu = backend == "cupy" or (backend == "auto" and gpu_available()
                                         and self.pieces.nnz >= 1_000_000)
        # on a GPU the pieces stay on the device across coupling points (combined there)
        H = self.hamiltonian(couplings, m0_sq, device=on_gpu, m0_log=m0_log)
        res: EigResult = solve(H, n_states, backend="cupy" if on_gpu else backend, v0=v0, tol=tol)
        return self.solution(res, couplings, m0_sq)

    def solution(self, res: EigResult, couplings: Couplings,
                 m0_sq: float | None = None) -> Solution:
        """The :class:`Solution` of block eigenpairs ``res`` (lifted, phase fixed)."""
        full = self.pieces.lift(res.eigenvectors)
        full = np.asarray(full)
        s0 = self.basis.sector_slice(0)
        for j in range(full.shape[1]):
            amp = full[s0, j].sum()
            if abs(amp) > 1e-14:
                phase = np.conj(amp) / abs(amp)
                full[:, j] *= phase
        return Solution(
            lambda_bar=res.eigenvalues / 2.0,
            vectors=full,
            residuals=res.residuals,
            jz=float("nan") if self.jz is None else float(self.jz),
            m0_sq=self.coefficients(couplings, m0_sq)["m0_sq"],
            backend=res.backend,
            wall_s=res.wall_s,
            block_vectors=res.eigenvectors,
        )
