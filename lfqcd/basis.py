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

Each state is packed into one ``int64`` key (link number most significant, so Fock sectors
are contiguous; layout below: up to ``MAX_LINKS = 3`` links in 62 bits, momentum labels up to
4095 for the fermions and the first link, 255 for the second and third); keys are sorted and
looked up with ``np.searchsorted``. Decoded arrays (``nlinks``, ``dirs``, ``link_mom``,
``quark_mom``, ``anti_mom``, ``hel_q``, ``hel_qbar``) are kept for the numba operator kernels.
Helicities are stored as bits: 0 = up (+1/2), 1 = down (-1/2).

Closed-form sector sizes (tested): static sector n has ``4^n * n_h * C(N, n + 1)`` states and
dlcq sector n has ``4^n * n_h^2 * C(K, n + 1)`` states (``n_h`` = 2 with spin, 1 without).
"""

from __future__ import annotations

import dataclasses
import itertools
import math

import numba
import numpy as np

from lfqcd.errors import BasisTooLargeError, InvalidParameterError

#: bit layout of a packed key (most significant first, 62 bits):
#: nlinks(2) | hel_q(1) | hel_qbar(1) | b_q(12) | b_qbar(12) | dirs(2 x 3) | a_3(8) | a_2(8) | a_1(12)
#: The fermions and the first link keep the 12-bit fields of the femtoworm layout (momentum
#: labels up to 4095, as the zero- and one-link resolutions need); the second and third links
#: get 8 bits (up to 255), which no 2- or 3-link basis that fits in memory reaches.
MOM_BITS = 12
MULTI_MOM_BITS = 8
MAX_LINKS = 3
MAX_MOM = (1 << MOM_BITS) - 1
MAX_MOM_MULTI = (1 << MULTI_MOM_BITS) - 1
_LINK_BITS = np.array([MOM_BITS, MULTI_MOM_BITS, MULTI_MOM_BITS], dtype=np.int64)
_MOM_SHIFT = np.array([0, MOM_BITS, MOM_BITS + MULTI_MOM_BITS], dtype=np.int64)
_DIR_SHIFT = int(_LINK_BITS.sum())
_BQB_SHIFT = _DIR_SHIFT + 2 * MAX_LINKS
_BQ_SHIFT = _BQB_SHIFT + MOM_BITS
_HQB_SHIFT = _BQ_SHIFT + MOM_BITS
_HQ_SHIFT = _HQB_SHIFT + 1
_NL_SHIFT = _HQ_SHIFT + 1
assert _NL_SHIFT + 2 <= 63

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
        key |= np.int64(dirs[i]) << (_DIR_SHIFT + 2 * i)
        key |= np.int64(moms[i]) << _MOM_SHIFT[i]
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
    if not 0 <= max_links <= MAX_LINKS:
        raise InvalidParameterError(
            f"max_links={max_links} is outside the supported range 0..{MAX_LINKS}"
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
        keys |= arr[:, 5 + j] << (_DIR_SHIFT + 2 * j)
        keys |= arr[:, 5 + MAX_LINKS + j] << _MOM_SHIFT[j]
    return keys


def _build(kind: str, h: float, n_cut: int, max_links: int, spin: bool, arr: np.ndarray,
           link_cut: int | None = None) -> ChainBasis:
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


def static_pair_basis(
    h: float, kappa_max: float, n_links: int = 1, memory_limit: int = DEFAULT_MEMORY_LIMIT
) -> ChainBasis:
    """Links only, stretched between two static sources (both chain ends static): the
    transverse string of docs/physics.md (H18), (F2). Link momenta ``a h`` with ``sum(a) <= N``; the quark
    slot is empty (momentum label 0) and every direction ``(r_1..r_n)`` is enumerated."""
    _check_spacing(h)
    n_cut = round(kappa_max / h)
    if n_cut < 1 or abs(n_cut * h - kappa_max) > 1e-9 * kappa_max:
        raise InvalidParameterError(
            f"kappa_max={kappa_max} must be a positive multiple of the grid spacing h={h}"
        )
    _validate(h, n_cut, n_links - 1 if n_links >= 1 else 0, "kappa_max/h")
    if not 1 <= n_links <= MAX_LINKS:
        raise InvalidParameterError(f"a static pair needs 1..{MAX_LINKS} links, got {n_links}")
    comps = _composition_array(n_cut, n_links, exact=False)
    paths = np.array(list(itertools.product(range(4), repeat=n_links)), dtype=np.int64)
    _check_memory(paths.shape[0] * comps.shape[0], memory_limit)
    rows = np.zeros((paths.shape[0], comps.shape[0], 5 + 2 * MAX_LINKS), dtype=np.int64)
    rows[..., 0] = n_links
    rows[..., 5 : 5 + n_links] = paths[:, None, :]
    rows[..., 5 + MAX_LINKS : 5 + MAX_LINKS + n_links] = comps[None, :, :]
    return _build("static_pair", h, n_cut, n_links, False, rows.reshape(-1, 5 + 2 * MAX_LINKS))


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
