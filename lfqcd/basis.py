"""Fock bases of meson chains on the transverse lattice (large N: single-trace chains).

A meson Fock state is a colour chain ``antiquark -- L_{r_1} -- ... -- L_{r_n} -- quark``
(docs/physics.md section 3). The antiquark end sits at the transverse origin; link ``i`` points along
direction ``r_i`` in ``{+x, +y, -x, -y}`` (codes 0..3, angle ``theta_r = r pi/2``) and the quark
sits at the end of the path. Longitudinal momenta are discretised on the grids of docs/physics.md (G2)-(G4)
and (G4) with spacing ``h``:

* quark and dynamic antiquark: ``k = (b - 1/2) h``, ``b = 1, 2, ...`` (antiperiodic, half-odd);
* link: ``k = a h``, ``a = 1, 2, ...`` (periodic, zero mode excluded).

Two kinds of basis share this module:

``static``  the antiquark is an infinitely heavy static source (heavy-quark limit, docs/physics.md section 3):
            it carries no momentum label; the light momenta obey the cutoff
            ``kappa_tot <= kappa_max = N h``, i.e. ``sum(a) + b <= N``.
``dlcq``    the antiquark is dynamical (light-light mesons, 't Hooft model, docs/physics.md 4.2, 10):
            total momentum is fixed, ``sum(a) + b_q + b_qbar = K + 1`` (``P = K h``).

A third kind holds links only:

``static_pair`` both chain ends are static sources (the transverse string, docs/physics.md (H18));
            the quark slot is empty (label 0). :func:`static_pair_basis` enumerates every path of
            one link number, :func:`static_string_basis` the paths from the source at the origin
            to a second source at ``(R_x, R_y)`` with ``|R_x| + |R_y|``, ``+2``, ... links.

Each state is packed into one ``int64`` key (link number most significant, so Fock sectors
are contiguous; layout below: chains with fermions have up to ``MAX_QUARK_LINKS = 3`` links in
62 bits, momentum labels up to 4095 for the fermions and the first link, 255 for the second and
third); keys are sorted and looked up with ``np.searchsorted``. Chains between two static
sources carry no fermion labels, so their 4th and 5th links (``MAX_LINKS = 5``) live in the two
12-bit fermion fields (see the layout comment; labels up to 255), and the keys of chains with at
most 3 links are the same as before the 5-link extension. Decoded arrays (``nlinks``, ``dirs``,
``link_mom``, ``quark_mom``, ``anti_mom``, ``hel_q``, ``hel_qbar``; ``dirs`` and ``link_mom`` of
width ``MAX_LINKS``) are kept for the numba operator kernels.
Helicities are stored as bits: 0 = up (+1/2), 1 = down (-1/2).

Closed-form sector sizes (tested): static sector n has ``4^n * n_h * C(N, n + 1)`` states,
dlcq sector n has ``4^n * n_h^2 * C(K, n + 1)`` states (``n_h`` = 2 with spin, 1 without) and a
string sector n between sources at separation ``(R_x, R_y)`` has ``W_n(R) * C(N, n)`` states,
``W_n(R) = C(n, (n + R_x + R_y)/2) C(n, (n + R_x - R_y)/2)`` the number of n-step lattice walks
from the origin to ``R`` (rotate the lattice by 45 degrees: the two diagonal coordinates walk
independently by +-1).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from typing import Any

import numba
import numpy as np

from lfqcd.errors import BasisTooLargeError, InvalidParameterError

#: bit layout of a packed key (most significant first, 63 bits; bit 63 stays 0 so keys are >= 0):
#: nlinks(3) | hel_q(1) | hel_qbar(1) | b_q(12) | b_qbar(12) | dirs(2 x 3) | a_3(8) | a_2(8) | a_1(12)
#: The fermions and the first link keep the 12-bit fields of the femtoworm layout (momentum
#: labels up to 4095, as the zero- and one-link resolutions need); the second and third links
#: get 8 bits (up to 255), which no 2- or 3-link basis that fits in memory reaches.
#: Chains of 4 or 5 links exist only between two static sources (kind ``static_pair``: no quark,
#: no dynamical antiquark, so b_q = b_qbar = 0 and both helicity bits 0); there the two fermion
#: fields hold the extra links: b_q = d_5(2) | d_4(2) | a_4(8), b_qbar = 0000 | a_5(8).
#: Widening nlinks from 2 to 3 bits left every key with <= 3 links unchanged.
MOM_BITS = 12
MULTI_MOM_BITS = 8
#: chains with a quark (static heavy-light and dlcq bases): at most 3 links
MAX_QUARK_LINKS = 3
#: width of the decoded ``dirs`` / ``link_mom`` arrays; 4 and 5 links only for static pairs
MAX_LINKS = 5
MAX_MOM = (1 << MOM_BITS) - 1
MAX_MOM_MULTI = (1 << MULTI_MOM_BITS) - 1
_LINK_BITS = np.array([MOM_BITS, MULTI_MOM_BITS, MULTI_MOM_BITS], dtype=np.int64)
_MOM_SHIFT = np.array([0, MOM_BITS, MOM_BITS + MULTI_MOM_BITS], dtype=np.int64)
_DIR_SHIFT = int(_LINK_BITS.sum())
_BQB_SHIFT = _DIR_SHIFT + 2 * MAX_QUARK_LINKS
_BQ_SHIFT = _BQB_SHIFT + MOM_BITS
_HQB_SHIFT = _BQ_SHIFT + MOM_BITS
_HQ_SHIFT = _HQB_SHIFT + 1
_NL_SHIFT = _HQ_SHIFT + 1
_NL_BITS = 3
assert _NL_SHIFT + _NL_BITS <= 63 and MAX_LINKS < (1 << _NL_BITS)
#: links 4 and 5 (static pairs): momentum and direction positions inside the fermion fields
_XMOM_SHIFT = np.array([_BQ_SHIFT, _BQB_SHIFT], dtype=np.int64)
_XDIR_SHIFT = np.array([_BQ_SHIFT + MULTI_MOM_BITS, _BQ_SHIFT + MULTI_MOM_BITS + 2],
                       dtype=np.int64)

#: memory refused above this estimate unless the caller raises it deliberately
DEFAULT_MEMORY_LIMIT = 8 * 1024**3


@numba.njit(cache=True)
def pack_key(nl, hq, hqb, bq, bqb, dirs, moms):  # pragma: no cover - numba
    """Pack one chain state into an int64 key (numba and Python callable)."""
    key = np.int64(nl) << _NL_SHIFT
    key |= np.int64(hq) << _HQ_SHIFT
    key |= np.int64(hqb) << _HQB_SHIFT
    key |= np.int64(bq) << _BQ_SHIFT
    key |= np.int64(bqb) << _BQB_SHIFT
    for i in range(nl):
        if i < MAX_QUARK_LINKS:
            key |= np.int64(dirs[i]) << (_DIR_SHIFT + 2 * i)
            key |= np.int64(moms[i]) << _MOM_SHIFT[i]
        else:  # links 4, 5: static pairs only, in the (empty) fermion fields
            key |= np.int64(dirs[i]) << _XDIR_SHIFT[i - MAX_QUARK_LINKS]
            key |= np.int64(moms[i]) << _XMOM_SHIFT[i - MAX_QUARK_LINKS]
    return key


@numba.njit(cache=True)
def find_state(keys, key):  # pragma: no cover - numba
    """Index of ``key`` in the sorted ``keys`` array, or -1 when the state is not in the basis."""
    i = np.searchsorted(keys, key)
    if i < keys.shape[0] and keys[i] == key:
        return i
    return -1


@dataclasses.dataclass(frozen=True)
class ChainBasis:
    """A sorted Fock basis of meson chains; build it with :func:`static_basis` or :func:`dlcq_basis`.

    Attributes hold one entry per state (length ``dim``); ``dirs`` and ``link_mom`` have shape
    ``(dim, MAX_LINKS)`` with unused slots zero.
    """

    kind: str
    h: float
    n_cut: int
    max_links: int
    spin: bool
    keys: np.ndarray
    nlinks: np.ndarray
    dirs: np.ndarray
    link_mom: np.ndarray
    quark_mom: np.ndarray
    anti_mom: np.ndarray
    hel_q: np.ndarray
    hel_qbar: np.ndarray
    #: total link momentum cap ``sum(a) <= link_cut`` (None: only the overall cutoff)
    link_cut: int | None = None
    #: static strings (:func:`static_string_basis`): the second source's site ``(R_x, R_y)``
    separation: tuple[int, int] | None = None

    @property
    def dim(self) -> int:
        return int(self.keys.shape[0])

    @property
    def static(self) -> bool:
        """True when the antiquark end is a static source (``static`` and ``static_pair``)."""
        return self.kind in ("static", "static_pair")

    @property
    def static_code(self) -> int:
        """0: both ends dynamical (dlcq); 1: static antiquark; 2: both ends static."""
        return {"dlcq": 0, "static": 1, "static_pair": 2}[self.kind]

    def sector_slice(self, n: int) -> slice:
        """Index range of the ``n``-link sector (contiguous because keys sort by link number)."""
        lo = int(np.searchsorted(self.nlinks, n, side="left"))
        hi = int(np.searchsorted(self.nlinks, n, side="right"))
        return slice(lo, hi)

    def kappa_quark(self) -> np.ndarray:
        """Quark momentum ``(b - 1/2) h`` of every state (zero for a static quark)."""
        return np.where(self.quark_mom > 0, (self.quark_mom - 0.5) * self.h, 0.0)

    def kappa_antiquark(self) -> np.ndarray:
        """Dynamic antiquark momentum ``(b - 1/2) h`` (zero for a static source)."""
        return np.where(self.anti_mom > 0, (self.anti_mom - 0.5) * self.h, 0.0)

    def kappa_links(self) -> np.ndarray:
        """Link momenta ``a h``, shape ``(dim, MAX_LINKS)``, zero in unused slots."""
        return self.link_mom * self.h

    def kappa_light_total(self) -> np.ndarray:
        """Total light momentum ``kappa_tot`` = quark + links (+ dynamic antiquark)."""
        return self.kappa_quark() + self.kappa_links().sum(axis=1) + self.kappa_antiquark()

    def index(self, key: int) -> int:
        """Position of a packed key, -1 if absent."""
        return int(find_state(self.keys, np.int64(key)))


def static_sector_size(n_cut: int, n_links: int, spin: bool = True,
                       link_cut: int | None = None) -> int:
    """Closed-form size of the static-source sector with ``n_links`` links (module docstring).

    ``link_cut``: total link momentum ``sum(a) <= link_cut`` as well (the optional link-momentum
    truncation); then the count is ``4^n n_h sum_{s=n}^{min(link_cut, N-1)} C(s-1, n-1) (N - s)``
    (``C(s-1, n-1)`` ways to split ``s`` over ``n`` links, ``N - s`` quark momenta).
    """
    n_h = 2 if spin else 1
    if n_links == 0 or link_cut is None or link_cut >= n_cut - 1:
        return 4**n_links * n_h * math.comb(n_cut, n_links + 1)
    count = sum(math.comb(s - 1, n_links - 1) * (n_cut - s)
                for s in range(n_links, min(link_cut, n_cut - 1) + 1))
    return 4**n_links * n_h * count


def dlcq_sector_size(k_total: int, n_links: int, spin: bool = True) -> int:
    """Closed-form size of the DLCQ sector with ``n_links`` links at resolution ``K``."""
    return 4**n_links * (4 if spin else 1) * math.comb(k_total, n_links + 1)


def _check_spacing(h: float) -> None:
    if not (isinstance(h, float | int) and math.isfinite(h) and h > 0):
        raise InvalidParameterError(f"grid spacing must be a positive finite number, got {h!r}")


def _validate(h: float, n_cut: int, max_links: int, what: str) -> None:
    _check_spacing(h)
    if not 0 <= max_links <= MAX_QUARK_LINKS:
        raise InvalidParameterError(
            f"max_links={max_links} is outside the supported range 0..{MAX_QUARK_LINKS} of chains "
            f"with a quark (4 and 5 links exist only between two static sources: "
            f"static_string_basis)"
        )
    if n_cut > MAX_MOM:
        raise InvalidParameterError(
            f"{what}={n_cut} exceeds the {MOM_BITS}-bit momentum field (max {MAX_MOM})"
        )
    if max_links >= 2 and n_cut > MAX_MOM_MULTI:
        raise InvalidParameterError(
            f"{what}={n_cut} exceeds the {MULTI_MOM_BITS}-bit momentum field of the second and "
            f"third links (max {MAX_MOM_MULTI} with {max_links} links)"
        )
    if n_cut < max_links + 1:
        raise InvalidParameterError(
            f"{what}={n_cut} is too small for {max_links} link(s): a chain with n links needs "
            f"at least n + 1 momentum units; use {what} >= {max_links + 1}"
        )


#: int64 words per state: the kept key and decoded arrays (6 + 2 MAX_LINKS), plus the row table
#: the enumeration builds and its sorted copy (2 x (5 + 2 MAX_LINKS)) alive at the peak
_WORDS_PER_STATE = 6 + 2 * MAX_LINKS + 2 * (5 + 2 * MAX_LINKS)


def estimate_bytes(dim: int, nnz: int = 0) -> int:
    """Peak memory estimate of building a basis of ``dim`` states (int64 arrays, including the
    enumeration's transient row table) plus CSR at 16 B/nonzero."""
    return 8 * _WORDS_PER_STATE * dim + 16 * nnz


def sector_sizes(kind: str, n_cut: int, max_links: int, spin: bool = True) -> list[int]:
    """Closed-form size of every sector ``0..max_links`` (``kind`` ``static`` or ``dlcq``)."""
    size = {"static": static_sector_size, "dlcq": dlcq_sector_size}.get(kind)
    if size is None:
        raise InvalidParameterError(f"unknown basis kind {kind!r}; use static or dlcq")
    return [size(n_cut, n, spin) for n in range(max_links + 1)]


def _check_memory(dim: int, memory_limit: int) -> None:
    est = estimate_bytes(dim)
    if est > memory_limit:
        raise BasisTooLargeError(
            f"basis of {dim:,} states needs about {est / 2**30:.2f} GiB before any operator "
            f"(limit {memory_limit / 2**30:.2f} GiB); use a coarser grid or a smaller cutoff",
            est,
            memory_limit,
        )


def _pack_keys(arr: np.ndarray) -> np.ndarray:
    """Vectorised :func:`pack_key` over rows ``[nl, hq, hqb, bq, bqb, dirs..., moms...]``."""
    keys = arr[:, 0] << _NL_SHIFT
    keys |= arr[:, 1] << _HQ_SHIFT
    keys |= arr[:, 2] << _HQB_SHIFT
    keys |= arr[:, 3] << _BQ_SHIFT
    keys |= arr[:, 4] << _BQB_SHIFT
    for j in range(MAX_LINKS):
        if j < MAX_QUARK_LINKS:
            keys |= arr[:, 5 + j] << (_DIR_SHIFT + 2 * j)
            keys |= arr[:, 5 + MAX_LINKS + j] << _MOM_SHIFT[j]
        else:
            keys |= arr[:, 5 + j] << _XDIR_SHIFT[j - MAX_QUARK_LINKS]
            keys |= arr[:, 5 + MAX_LINKS + j] << _XMOM_SHIFT[j - MAX_QUARK_LINKS]
    return keys


def _build(kind: str, h: float, n_cut: int, max_links: int, spin: bool, arr: np.ndarray,
           link_cut: int | None = None, separation: tuple[int, int] | None = None) -> ChainBasis:
    arr = np.ascontiguousarray(arr, dtype=np.int64).reshape(-1, 5 + 2 * MAX_LINKS)
    keys = _pack_keys(arr)
    order = np.argsort(keys, kind="stable")
    arr = arr[order]
    return ChainBasis(
        kind=kind,
        h=float(h),
        n_cut=int(n_cut),
        max_links=int(max_links),
        spin=bool(spin),
        keys=keys[order],
        nlinks=arr[:, 0].copy(),
        dirs=arr[:, 5 : 5 + MAX_LINKS].copy(),
        link_mom=arr[:, 5 + MAX_LINKS :].copy(),
        quark_mom=arr[:, 3].copy(),
        anti_mom=arr[:, 4].copy(),
        hel_q=arr[:, 1].copy(),
        hel_qbar=arr[:, 2].copy(),
        link_cut=link_cut,
        separation=separation,
    )


def _composition_array(total: int, parts: int, exact: bool) -> np.ndarray:
    """All compositions into ``parts`` positive integers, sum ``<= total`` (or ``==``).

    A composition is fixed by its increasing partial sums: ``parts`` distinct cut points in
    ``1..total`` (``C(total, parts)`` of them), or ``parts - 1`` cut points in ``1..total - 1``
    with the last partial sum pinned to ``total`` when ``exact``.
    """
    if parts == 0:
        return np.zeros((1, 0), dtype=np.int64)
    free = parts - 1 if exact else parts
    hi = total - 1 if exact else total
    count = math.comb(hi, free) if hi >= free else 0
    flat = np.fromiter(itertools.chain.from_iterable(itertools.combinations(range(1, hi + 1), free)),
                       dtype=np.int64, count=count * free)
    cuts = flat.reshape(count, free)
    if exact:
        cuts = np.hstack([cuts, np.full((count, 1), total, dtype=np.int64)])
    return np.diff(cuts, axis=1, prepend=0)


def _rows(n_cut: int, max_links: int, spin: bool, dynamic_anti: bool,
          link_cut: int | None = None) -> np.ndarray:
    """Every state as a row ``[nl, hq, hqb, bq, bqb, dirs(MAX_LINKS), moms(MAX_LINKS)]``."""
    hels = (0, 1) if spin else (0,)
    blocks = []
    for n in range(max_links + 1):
        parts = n + (2 if dynamic_anti else 1)
        comps = _composition_array(n_cut + (1 if dynamic_anti else 0), parts, exact=dynamic_anti)
        if link_cut is not None:
            comps = comps[comps[:, :n].sum(axis=1) <= link_cut]
        paths = np.array(list(itertools.product(range(4), repeat=n)), dtype=np.int64).reshape(4**n, n)
        hel_pairs = [(hq, hqb) for hq in hels for hqb in (hels if dynamic_anti else (0,))]
        n_rows = paths.shape[0] * comps.shape[0] * len(hel_pairs)
        rows = np.zeros((paths.shape[0], comps.shape[0], len(hel_pairs), 5 + 2 * MAX_LINKS),
                        dtype=np.int64)
        rows[..., 0] = n
        rows[..., 1] = np.array([p[0] for p in hel_pairs])[None, None, :]
        rows[..., 2] = np.array([p[1] for p in hel_pairs])[None, None, :]
        rows[..., 3] = comps[None, :, n, None]
        if dynamic_anti:
            rows[..., 4] = comps[None, :, n + 1, None]
        rows[..., 5 : 5 + n] = paths[:, None, None, :]
        rows[..., 5 + MAX_LINKS : 5 + MAX_LINKS + n] = comps[None, :, None, :n]
        blocks.append(rows.reshape(n_rows, -1))
    return np.concatenate(blocks)


def static_basis(
    h: float,
    kappa_max: float,
    max_links: int = 1,
    spin: bool = True,
    memory_limit: int = DEFAULT_MEMORY_LIMIT,
    link_kappa_max: float | None = None,
) -> ChainBasis:
    """Heavy-light basis: static antiquark at the origin, light momenta ``kappa_tot <= kappa_max``.

    ``kappa_max / h`` must be an integer ``N`` (docs/physics.md (G2)-(G4)); sector-0 quark momenta are
    ``(b - 1/2) h``, ``b = 1..N``. ``link_kappa_max`` (a multiple of ``h``, optional) also caps
    the total link momentum of every chain (a truncation that keeps 3 links tractable; every
    operator on the truncated basis is the principal submatrix of the untruncated one).
    """
    if not (isinstance(kappa_max, float | int) and math.isfinite(kappa_max) and kappa_max > 0):
        raise InvalidParameterError(f"kappa_max must be positive and finite, got {kappa_max!r}")
    _check_spacing(h)
    if h > kappa_max:
        raise InvalidParameterError(
            f"grid spacing h={h} is coarser than the cutoff kappa_max={kappa_max}: the grid of "
            f"docs/physics.md (G2)-(G4) needs N = kappa_max/h >= 1 (got {kappa_max / h:.6g}); refine h"
        )
    n_cut = round(kappa_max / h)
    if abs(n_cut * h - kappa_max) > 1e-9 * kappa_max:
        raise InvalidParameterError(
            f"kappa_max={kappa_max} is not a multiple of the grid spacing h={h} "
            f"(kappa_max/h = {kappa_max / h:.6g}); docs/physics.md (G2)-(G4) needs N = kappa_max/h integer"
        )
    _validate(h, n_cut, max_links, "kappa_max/h")
    link_cut = None
    if link_kappa_max is not None:
        link_cut = round(link_kappa_max / h)
        if (not math.isfinite(link_kappa_max) or link_cut < max(max_links, 1)
                or abs(link_cut * h - link_kappa_max) > 1e-9 * max(link_kappa_max, h)):
            raise InvalidParameterError(
                f"link_kappa_max={link_kappa_max} must be a multiple of h={h} and at least "
                f"max_links x h = {max(max_links, 1) * h:g}"
            )
    dim = sum(static_sector_size(n_cut, n, spin, link_cut) for n in range(max_links + 1))
    _check_memory(dim, memory_limit)
    return _build("static", h, n_cut, max_links, spin,
                  _rows(n_cut, max_links, spin, False, link_cut), link_cut)


def _pair_grid(h: float, kappa_max: float, max_links: int) -> int:
    """Validated ``N = kappa_max / h`` of a static-pair basis with up to ``max_links`` links."""
    _check_spacing(h)
    if not (isinstance(kappa_max, float | int) and math.isfinite(kappa_max) and kappa_max > 0):
        raise InvalidParameterError(f"kappa_max must be positive and finite, got {kappa_max!r}")
    n_cut = round(kappa_max / h)
    if n_cut < 1 or abs(n_cut * h - kappa_max) > 1e-9 * kappa_max:
        raise InvalidParameterError(
            f"kappa_max={kappa_max} must be a positive multiple of the grid spacing h={h}"
        )
    limit = MAX_MOM if max_links <= 1 else MAX_MOM_MULTI
    if n_cut > limit:
        raise InvalidParameterError(
            f"kappa_max/h={n_cut} exceeds the {MOM_BITS if max_links <= 1 else MULTI_MOM_BITS}-bit "
            f"momentum field of a {max_links}-link chain (max {limit})"
        )
    if n_cut < max_links:
        raise InvalidParameterError(
            f"kappa_max/h={n_cut} is too small for {max_links} link(s) between static sources: "
            f"every link needs at least one momentum unit; use kappa_max/h >= {max_links}"
        )
    return n_cut


def static_pair_basis(
    h: float, kappa_max: float, n_links: int = 1, memory_limit: int = DEFAULT_MEMORY_LIMIT
) -> ChainBasis:
    """Links only, stretched between two static sources (both chain ends static): the
    transverse string of docs/physics.md (H18), (F2). Link momenta ``a h`` with ``sum(a) <= N``; the quark
    slot is empty (momentum label 0) and every direction ``(r_1..r_n)`` is enumerated."""
    if not isinstance(n_links, int | np.integer) or not 1 <= n_links <= MAX_LINKS:
        raise InvalidParameterError(f"a static pair needs 1..{MAX_LINKS} links, got {n_links}")
    n_cut = _pair_grid(h, kappa_max, int(n_links))
    _check_memory(4**n_links * math.comb(n_cut, n_links), memory_limit)
    paths = np.array(list(itertools.product(range(4), repeat=n_links)), dtype=np.int64)
    return _build("static_pair", h, n_cut, n_links, False, _pair_rows(n_cut, paths))


def _pair_rows(n_cut: int, paths: np.ndarray) -> np.ndarray:
    """Rows (``_rows`` layout) of link-only chains: every path of ``paths`` (shape
    ``(n_paths, n)``) with every link-momentum composition ``sum(a) <= n_cut``."""
    n = paths.shape[1]
    comps = _composition_array(n_cut, n, exact=False)
    rows = np.zeros((paths.shape[0], comps.shape[0], 5 + 2 * MAX_LINKS), dtype=np.int64)
    rows[..., 0] = n
    rows[..., 5 : 5 + n] = paths[:, None, :]
    rows[..., 5 + MAX_LINKS : 5 + MAX_LINKS + n] = comps[None, :, :]
    return rows.reshape(-1, 5 + 2 * MAX_LINKS)


#: unit steps of the direction codes 0..3 (+x, +y, -x, -y)
STEPS = np.array([[1, 0], [0, 1], [-1, 0], [0, -1]], dtype=np.int64)


def lattice_walks(n: int, separation: tuple[int, int]) -> int:
    """Number of n-step nearest-neighbour walks on the square lattice from the origin to
    ``separation``: ``C(n, (n + x + y)/2) C(n, (n + x - y)/2)`` (0 when the parity is wrong)."""
    x, y = separation
    u, v = n + x + y, n + x - y
    if u % 2 or not (0 <= u <= 2 * n and 0 <= v <= 2 * n):
        return 0
    return math.comb(n, u // 2) * math.comb(n, v // 2)


def string_sectors(separation: tuple[int, int], extra_links: int = 2) -> tuple[int, ...]:
    """Link numbers of a string basis: ``|R_x| + |R_y|``, ``+2``, ... ``+extra_links``."""
    n0 = abs(separation[0]) + abs(separation[1])
    return tuple(range(n0, n0 + extra_links + 1, 2))


def string_sector_size(n_cut: int, n_links: int, separation: tuple[int, int]) -> int:
    """Closed-form size of the ``n_links`` sector of :func:`static_string_basis`:
    ``W_n(R) C(N, n)`` (walks times link-momentum compositions with ``sum(a) <= N``)."""
    return lattice_walks(n_links, separation) * math.comb(n_cut, n_links)


def _check_separation(separation: Any, extra_links: Any) -> tuple[tuple[int, int], int]:
    try:
        rx, ry = separation
    except (TypeError, ValueError):
        raise InvalidParameterError(
            f"separation must be a pair of integers (R_x, R_y), got {separation!r}") from None
    if not all(isinstance(v, int | np.integer) and not isinstance(v, bool) for v in (rx, ry)):
        raise InvalidParameterError(
            f"separation must be a pair of integers (R_x, R_y), got {separation!r}")
    if not isinstance(extra_links, int | np.integer) or isinstance(extra_links, bool) \
            or extra_links < 0 or extra_links % 2:
        raise InvalidParameterError(
            f"extra_links must be an even integer >= 0 (a closed path adds links in pairs), "
            f"got {extra_links!r}")
    n0 = abs(int(rx)) + abs(int(ry))
    if n0 == 0:
        raise InvalidParameterError("the two static sources must sit on different sites")
    if n0 + extra_links > MAX_LINKS:
        raise InvalidParameterError(
            f"separation {(int(rx), int(ry))} with extra_links={extra_links} needs "
            f"{n0 + extra_links} links; the key layout holds at most {MAX_LINKS}")
    return (int(rx), int(ry)), int(extra_links)


def check_string_basis(h: float, kappa_max: float, separation: tuple[int, int],
                       extra_links: int = 2, memory_limit: int = DEFAULT_MEMORY_LIMIT
                       ) -> tuple[tuple[int, int], tuple[int, ...], int]:
    """Validate the parameters of :func:`static_string_basis` and its memory estimate without
    building anything; returns ``(separation, link numbers, N)``."""
    separation, extra_links = _check_separation(separation, extra_links)
    sectors = string_sectors(separation, extra_links)
    n_cut = _pair_grid(h, kappa_max, sectors[-1])
    _check_memory(sum(string_sector_size(n_cut, n, separation) for n in sectors), memory_limit)
    return separation, sectors, n_cut


def static_string_basis(
    h: float,
    kappa_max: float,
    separation: tuple[int, int] = (1, 0),
    extra_links: int = 2,
    memory_limit: int = DEFAULT_MEMORY_LIMIT,
) -> ChainBasis:
    """The transverse string between a static source at the origin and one at ``separation``.

    Every chain of links whose path runs from the origin to ``separation = (R_x, R_y)`` with
    ``n = |R_x| + |R_y|, n + 2, ..., n + extra_links`` links (all walks of that length: detours,
    backtracking pairs and staples included), link momenta ``a h`` with ``sum(a) <= N =
    kappa_max / h``; kind ``static_pair`` (both chain ends static, quark slot empty). Sector
    sizes are :func:`string_sector_size`; the memory estimate is checked before anything is
    built (:class:`~lfqcd.errors.BasisTooLargeError`).
    """
    separation, sectors, n_cut = check_string_basis(h, kappa_max, separation, extra_links,
                                                    memory_limit)
    blocks = []
    for n in sectors:
        paths = np.array(list(itertools.product(range(4), repeat=n)), dtype=np.int64)
        ends = STEPS[paths].sum(axis=1)
        paths = paths[(ends[:, 0] == separation[0]) & (ends[:, 1] == separation[1])]
        blocks.append(_pair_rows(n_cut, paths))
    return _build("static_pair", h, n_cut, sectors[-1], False, np.concatenate(blocks),
                  separation=separation)


def dlcq_basis(
    k_total: int,
    max_links: int = 0,
    spin: bool = True,
    memory_limit: int = DEFAULT_MEMORY_LIMIT,
) -> ChainBasis:
    """Light-light DLCQ basis at harmonic resolution ``K``: grid spacing ``h = 1/K`` so that
    momenta are light-cone fractions ``x`` and ``P^+ = 1``."""
    if not isinstance(k_total, int | np.integer) or k_total < 1:
        raise InvalidParameterError(f"DLCQ resolution K must be a positive integer, got {k_total!r}")
    _validate(1.0 / k_total, int(k_total), max_links, "K")
    dim = sum(dlcq_sector_size(int(k_total), n, spin) for n in range(max_links + 1))
    _check_memory(dim, memory_limit)
    return _build("dlcq", 1.0 / k_total, int(k_total), max_links, spin,
                  _rows(int(k_total), max_links, spin, True))
