"""Contract tests of the chain Fock bases (issue #2, section 2 "Fock bases").

Every basis of the registry :data:`SMALL_BASES` goes through the same checks: sizes equal the
closed-form counts and an independent brute-force enumeration, packed keys round-trip through
``find_state``, the decoded arrays re-pack to the stored keys, Fock sectors are contiguous and
their dimensions sum to the total, and every state sits on the grids of docs/physics.md (G2)-(G4).
The registry is imported by ``test_operators.py`` and ``test_symmetry.py`` so that all contract
tests run over the same named bases.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math
import time

import numpy as np
import pytest

from lfqcd.basis import (
    MAX_LINKS,
    MAX_MOM,
    MAX_MOM_MULTI,
    ChainBasis,
    dlcq_basis,
    dlcq_sector_size,
    estimate_bytes,
    find_state,
    pack_key,
    sector_sizes,
    static_basis,
    static_sector_size,
)
from lfqcd.errors import BasisTooLargeError, InvalidParameterError

# ----------------------------------------------------------------------------------------------
# the registry of small bases


@dataclasses.dataclass(frozen=True)
class BasisSpec:
    """How to build one small basis: ``n_cut`` is ``kappa_max/h`` (static) or ``K`` (dlcq)."""

    kind: str
    n_cut: int
    max_links: int
    spin: bool
    h: float = 0.5  # static only

    def build(self) -> ChainBasis:
        if self.kind == "static":
            return static_basis(self.h, self.n_cut * self.h, self.max_links, self.spin)
        return dlcq_basis(self.n_cut, self.max_links, self.spin)

    def sector_size(self, n: int) -> int:
        if self.kind == "static":
            return static_sector_size(self.n_cut, n, self.spin)
        return dlcq_sector_size(self.n_cut, n, self.spin)


SMALL_BASES: dict[str, BasisSpec] = {
    "static-N6-0link": BasisSpec("static", 6, 0, False),
    "static-N8-0link-spin": BasisSpec("static", 8, 0, True, h=0.25),
    "static-N8-1link-spin": BasisSpec("static", 8, 1, True),  # h = 0.5, kappa_max = 4
    "static-N7-1link": BasisSpec("static", 7, 1, False, h=0.3),
    "static-N5-2link-spin": BasisSpec("static", 5, 2, True),
    "static-N5-3link-spin": BasisSpec("static", 5, 3, True),
    "dlcq-K9-0link": BasisSpec("dlcq", 9, 0, False),
    "dlcq-K6-0link-spin": BasisSpec("dlcq", 6, 0, True),
    "dlcq-K6-1link-spin": BasisSpec("dlcq", 6, 1, True),
    "dlcq-K5-2link": BasisSpec("dlcq", 5, 2, False),
    "dlcq-K5-3link": BasisSpec("dlcq", 5, 3, False),
}


@functools.cache
def get_basis(name: str) -> ChainBasis:
    """Build (once per session) the registry basis ``name``."""
    return SMALL_BASES[name].build()


def basis_params(predicate=lambda spec: True) -> list:
    """``pytest.param(name, id=name)`` for every registry basis whose spec passes ``predicate``."""
    return [pytest.param(name, id=name) for name, spec in SMALL_BASES.items() if predicate(spec)]


def state_label(basis: ChainBasis, i: int) -> tuple:
    """Plain-Python label of state ``i``: (nlinks, hel_q, hel_qbar, b_q, b_qbar, dirs, link moms)."""
    nl = int(basis.nlinks[i])
    return (
        nl,
        int(basis.hel_q[i]),
        int(basis.hel_qbar[i]),
        int(basis.quark_mom[i]),
        int(basis.anti_mom[i]),
        tuple(int(d) for d in basis.dirs[i, :nl]),
        tuple(int(a) for a in basis.link_mom[i, :nl]),
    )


def brute_force_labels(spec: BasisSpec) -> set:
    """All states of ``spec`` enumerated directly from docs/physics.md section 3 (no code from lfqcd.basis).

    static: links ``a_j >= 1``, quark ``b >= 1``, ``sum a + b <= N``; dlcq: additionally the
    antiquark ``b' >= 1`` with ``sum a + b + b' = K + 1`` (total momentum ``(K + 1 - 1) h = 1``).
    """
    hels = (0, 1) if spec.spin else (0,)
    dyn = spec.kind == "dlcq"
    out = set()
    for nl in range(spec.max_links + 1):
        for dirs in itertools.product(range(4), repeat=nl):
            for moms in itertools.product(range(1, spec.n_cut + 1), repeat=nl):
                for bq in range(1, spec.n_cut + 2):
                    for bqb in range(1, spec.n_cut + 2) if dyn else (0,):
                        total = sum(moms) + bq + bqb
                        if (dyn and total != spec.n_cut + 1) or (not dyn and total > spec.n_cut):
                            continue
                        for hq in hels:
                            for hqb in hels if dyn else (0,):
                                out.add((nl, hq, hqb, bq, bqb, dirs, moms))
    return out


# ----------------------------------------------------------------------------------------------
# contract tests over the registry


@pytest.mark.parametrize("name", basis_params())
def test_sizes_match_closed_form_and_brute_force(name):
    spec, basis = SMALL_BASES[name], get_basis(name)
    expected = sum(spec.sector_size(n) for n in range(spec.max_links + 1))
    assert basis.dim == expected
    labels = [state_label(basis, i) for i in range(basis.dim)]
    assert len(set(labels)) == basis.dim, "duplicate states"
    assert set(labels) == brute_force_labels(spec)


def test_closed_form_counts_by_hand():
    # static, N = 8, spin, 1 link: 2 * 8 + 4 * 2 * C(8, 2) = 16 + 224 (docs/physics.md (G2)-(G4) grids)
    assert static_sector_size(8, 0) == 16
    assert static_sector_size(8, 1) == 224
    # N = 32 gives ~4000 states
    assert static_sector_size(32, 0) + static_sector_size(32, 1) == 64 + 8 * 496
    # dlcq, K = 6, spin: sector 0 has 4 helicity pairs x 6 splittings
    assert dlcq_sector_size(6, 0) == 24
    assert dlcq_sector_size(6, 1, spin=False) == 4 * math.comb(6, 2)


@pytest.mark.parametrize("name", basis_params())
def test_key_round_trip(name):
    basis = get_basis(name)
    assert np.all(np.diff(basis.keys) > 0), "keys must be sorted and unique"
    for i in range(basis.dim):
        assert find_state(basis.keys, basis.keys[i]) == i
        assert basis.index(int(basis.keys[i])) == i
        repacked = pack_key(basis.nlinks[i], basis.hel_q[i], basis.hel_qbar[i], basis.quark_mom[i],
                            basis.anti_mom[i], basis.dirs[i], basis.link_mom[i])
        assert repacked == basis.keys[i]


@pytest.mark.parametrize("name", basis_params())
def test_absent_states_are_not_found(name):
    basis = get_basis(name)
    nl = basis.max_links
    dirs = np.zeros(MAX_LINKS, dtype=np.int64)
    moms = np.zeros(MAX_LINKS, dtype=np.int64)
    moms[:nl] = 1
    # the quark momentum beyond the cutoff / total momentum: never in the basis
    too_far = pack_key(nl, 0, 0, basis.n_cut + 1, 0 if basis.static else 1, dirs, moms)
    assert find_state(basis.keys, too_far) == -1
    assert basis.index(int(basis.keys[-1]) + 1) == -1
    assert find_state(basis.keys, np.int64(-1)) == -1


@pytest.mark.parametrize("name", basis_params())
def test_sectors_contiguous_and_sum_to_total(name):
    spec, basis = SMALL_BASES[name], get_basis(name)
    assert np.all(np.diff(basis.nlinks) >= 0), "sectors must be contiguous (sorted by link number)"
    total = 0
    previous_stop = 0
    for n in range(spec.max_links + 1):
        sl = basis.sector_slice(n)
        assert sl.start == previous_stop
        assert sl.stop - sl.start == spec.sector_size(n)
        assert np.all(basis.nlinks[sl] == n)
        previous_stop = sl.stop
        total += sl.stop - sl.start
    assert total == basis.dim


@pytest.mark.parametrize("name", basis_params())
def test_states_lie_on_the_grids(name):
    spec, basis = SMALL_BASES[name], get_basis(name)
    h = basis.h
    kq = basis.kappa_quark()
    # quark: half-odd multiples of h; links: integer multiples, zero mode excluded
    np.testing.assert_allclose(kq / h - 0.5, np.round(kq / h - 0.5), atol=1e-12)
    assert np.all(kq > 0)
    kl = basis.kappa_links()
    for n in range(MAX_LINKS):
        used = basis.nlinks > n
        assert np.all(basis.link_mom[used, n] >= 1)
        assert np.all(basis.link_mom[~used, n] == 0)
        assert np.all(basis.dirs[~used, n] == 0)
        np.testing.assert_allclose(kl[used, n] / h, np.round(kl[used, n] / h), atol=1e-12)
    assert np.all(basis.dirs >= 0) and np.all(basis.dirs < 4)
    ktot = basis.kappa_light_total()
    if spec.kind == "static":
        assert basis.h == spec.h
        assert np.all(basis.anti_mom == 0) and np.all(basis.hel_qbar == 0)
        assert np.all(ktot <= spec.n_cut * h + 1e-12)  # cutoff kappa_tot <= kappa_max
        # kappa_tot is half-odd too (docs/physics.md (G2): the vertex maps grid to grid)
        np.testing.assert_allclose(ktot / h - 0.5, np.round(ktot / h - 0.5), atol=1e-12)
    else:
        assert basis.h == 1.0 / spec.n_cut
        np.testing.assert_allclose(ktot, 1.0, atol=1e-12)  # momentum fractions sum to one
        assert np.all(basis.kappa_antiquark() > 0)
    if not spec.spin:
        assert np.all(basis.hel_q == 0) and np.all(basis.hel_qbar == 0)


def test_static_sector0_is_the_quark_grid():
    basis = static_basis(0.25, 2.0, max_links=0, spin=False)
    np.testing.assert_allclose(basis.kappa_quark(), (np.arange(1, 9) - 0.5) * 0.25, rtol=0, atol=0)
    assert basis.static and basis.kind == "static" and basis.n_cut == 8


# ----------------------------------------------------------------------------------------------
# bad input: each with a specific message (issue #2, "Bad input")


def test_kappa_max_not_a_multiple_of_h():
    with pytest.raises(InvalidParameterError, match=r"kappa_max=1\.0 is not a multiple of the grid "
                       r"spacing h=0\.3 \(kappa_max/h = 3\.33333\)"):
        static_basis(0.3, 1.0)


def test_grid_coarser_than_the_cutoff():
    with pytest.raises(InvalidParameterError, match=r"grid spacing h=2\.0 is coarser than the "
                       r"cutoff kappa_max=1\.0"):
        static_basis(2.0, 1.0, max_links=0)


def test_grid_too_coarse_for_the_link_truncation():
    with pytest.raises(InvalidParameterError, match=r"kappa_max/h=2 is too small for 2 link\(s\).*"
                       r"use kappa_max/h >= 3"):
        static_basis(0.5, 1.0, max_links=2)


def test_dlcq_resolution_too_small_for_the_links():
    with pytest.raises(InvalidParameterError, match=r"K=1 is too small for 1 link\(s\).*use K >= 2"):
        dlcq_basis(1, max_links=1)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param(dict(h=-0.1, kappa_max=2.0), r"grid spacing must be a positive finite number, "
                     r"got -0\.1", id="negative-h"),
        pytest.param(dict(h=float("nan"), kappa_max=2.0), r"grid spacing must be a positive finite "
                     r"number, got nan", id="nan-h"),
        pytest.param(dict(h=0.1, kappa_max=float("inf")), r"kappa_max must be positive and finite, "
                     r"got inf", id="inf-cutoff"),
        pytest.param(dict(h=0.1, kappa_max=0.0), r"kappa_max must be positive and finite, got 0\.0",
                     id="zero-cutoff"),
        pytest.param(dict(h=0.5, kappa_max=4.0, max_links=4), r"max_links=4 is outside the "
                     r"supported range 0\.\.3", id="too-many-links"),
        pytest.param(dict(h=1.0, kappa_max=float(MAX_MOM + 1), max_links=0),
                     r"kappa_max/h=4096 exceeds the 12-bit momentum field \(max 4095\)",
                     id="momentum-field-overflow"),
    ],
)
def test_static_basis_bad_input(kwargs, message):
    with pytest.raises(InvalidParameterError, match=message):
        static_basis(**kwargs)


@pytest.mark.parametrize("K", [0, -3, 2.0, "8"])
def test_dlcq_resolution_must_be_a_positive_integer(K):
    with pytest.raises(InvalidParameterError, match=r"DLCQ resolution K must be a positive integer, "
                       rf"got {K!r}"):
        dlcq_basis(K)


def test_basis_too_large_is_refused_with_the_estimate():
    dim = static_sector_size(400, 0) + static_sector_size(400, 1)  # 800 + 638,400 states
    est = estimate_bytes(dim)
    limit = 1_000_000
    with pytest.raises(BasisTooLargeError, match=rf"basis of {dim:,} states needs about "
                       rf"{est / 2**30:.2f} GiB before any operator \(limit 0\.00 GiB\)") as exc:
        static_basis(0.01, 4.0, max_links=1, memory_limit=limit)
    assert exc.value.estimate_bytes == est
    assert exc.value.limit_bytes == limit
    assert isinstance(exc.value, MemoryError)


def test_basis_too_large_is_refused_before_enumeration():
    # 3 links at N = 250 would be ~10^10 states: the default limit must refuse it at once
    t0 = time.perf_counter()
    with pytest.raises(BasisTooLargeError, match=r"use a coarser grid or a smaller cutoff"):
        static_basis(0.04, 10.0, max_links=3)
    with pytest.raises(BasisTooLargeError, match=r"use a coarser grid or a smaller cutoff"):
        static_basis(0.001, 4.0, max_links=1)
    assert time.perf_counter() - t0 < 1.0


def test_small_memory_limit_still_allows_small_bases():
    dim = static_sector_size(8, 0) + static_sector_size(8, 1)
    basis = static_basis(0.5, 4.0, 1, memory_limit=estimate_bytes(dim))
    assert basis.dim == dim


@pytest.mark.parametrize(
    ("n_grid", "expected"),
    [(30, (3.5e3, 1.3e5, 3.6e6)), (48, (9.1e3, 5.6e5, 2.6e7)), (80, (2.5e4, 2.7e6, 2.1e8))],
)
def test_cumulative_static_sizes_match_the_issue_table(n_grid, expected):
    """<= 1, 2, 3 links at kappa_max = 12 (issue 11 table, two significant figures)."""
    sizes = sector_sizes("static", n_grid, 3)
    for n_max, want in zip((1, 2, 3), expected, strict=True):
        got = sum(sizes[: n_max + 1])
        assert abs(got - want) <= 0.05 * want, (n_max, got, want)


def test_sector_sizes_closed_form_matches_a_built_three_link_basis():
    basis = static_basis(0.5, 3.5, max_links=3)  # N = 7
    for n, size in enumerate(sector_sizes("static", 7, 3)):
        sl = basis.sector_slice(n)
        assert sl.stop - sl.start == size
    dl = dlcq_basis(7, max_links=3)
    assert dl.dim == sum(sector_sizes("dlcq", 7, 3))


def test_sector_sizes_bad_kind():
    with pytest.raises(InvalidParameterError, match=r"unknown basis kind 'pair'; use static or dlcq"):
        sector_sizes("pair", 8, 1)


def test_key_layout_holds_three_links_at_the_largest_momenta():
    dirs = np.array([3, 2, 1], dtype=np.int64)
    top = np.array([MAX_MOM, MAX_MOM_MULTI, MAX_MOM_MULTI], dtype=np.int64)
    key = pack_key(3, 1, 1, MAX_MOM, MAX_MOM, dirs, top)
    assert 0 < key < 2**63
    # every field is independent: lowering any one label by one changes the key by its weight
    seen = {int(key)}
    for j in range(3):
        m = top.copy()
        m[j] -= 1
        seen.add(int(pack_key(3, 1, 1, MAX_MOM, MAX_MOM, dirs, m)))
    for args in ((3, 0, 1, MAX_MOM, MAX_MOM), (3, 1, 0, MAX_MOM, MAX_MOM),
                 (3, 1, 1, MAX_MOM - 1, MAX_MOM), (3, 1, 1, MAX_MOM, MAX_MOM - 1),
                 (2, 1, 1, MAX_MOM, MAX_MOM)):
        seen.add(int(pack_key(*args, dirs, top)))
    assert len(seen) == 9


def test_multi_link_momentum_field_limit():
    with pytest.raises(InvalidParameterError, match=r"kappa_max/h=256 exceeds the 8-bit momentum "
                       r"field of the second and third links \(max 255 with 2 links\)"):
        static_basis(1.0, 256.0, max_links=2)
    assert dlcq_basis(255, max_links=0).dim == 255 * 4


@pytest.mark.parametrize("link_cut", [3, 4, 5, 6, 9])
def test_link_momentum_truncation_sizes_and_states(link_cut):
    h, n_cut = 0.5, 7
    basis = static_basis(h, n_cut * h, max_links=3, link_kappa_max=link_cut * h)
    assert basis.link_cut == link_cut
    assert np.all(basis.link_mom.sum(axis=1) <= link_cut)
    for n in range(4):
        sl = basis.sector_slice(n)
        assert sl.stop - sl.start == static_sector_size(n_cut, n, True, link_cut), n
    # the truncation removes exactly the states above the cap
    full = static_basis(h, n_cut * h, max_links=3)
    keep = full.link_mom.sum(axis=1) <= link_cut
    np.testing.assert_array_equal(full.keys[keep], basis.keys)


def test_link_momentum_truncation_bad_input():
    with pytest.raises(InvalidParameterError, match=r"link_kappa_max=0\.75 must be a multiple of "
                       r"h=0\.5 and at least max_links x h = 1"):
        static_basis(0.5, 3.5, max_links=2, link_kappa_max=0.75)
    with pytest.raises(InvalidParameterError, match=r"at least max_links x h = 1\.5"):
        static_basis(0.5, 3.5, max_links=3, link_kappa_max=1.0)
