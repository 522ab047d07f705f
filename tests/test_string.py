"""The transverse string with up to R + 2 links (issue 11, item 3): key layout at 4 and 5 links,
string bases, every piece on a static-pair string == the dense references of test_links /
test_operators, the string operator (Hermitian, sectors, lattice symmetries, linear V(R)), the
link-coupling fit and the ``lfqcd string`` command."""

from __future__ import annotations

import functools
import itertools
import json
import math

import numpy as np
import pytest
from test_basis import state_label
from test_links import reference
from test_operators import _coulomb_reference, assert_hermitian, eps_tol

from lfqcd import links
from lfqcd import operators as ops
from lfqcd.basis import (
    _BQ_SHIFT,
    _NL_SHIFT,
    MAX_LINKS,
    MAX_MOM_MULTI,
    STEPS,
    dlcq_basis,
    find_state,
    lattice_walks,
    pack_key,
    static_basis,
    static_string_basis,
    string_sector_size,
)
from lfqcd.calibration.lightlight import TransverseString
from lfqcd.couplings import get_preset
from lfqcd.errors import BasisTooLargeError, InvalidParameterError
from lfqcd.links import LinkCouplings
from lfqcd.transverse_string import (
    AXIS,
    LINK_PARAMS,
    StaticString,
    StringConfig,
    axis_fit,
    build_strings,
    fit_link_couplings,
    string_table,
)

PRESET = get_preset("calibrated").couplings
SOME_LINKS = LinkCouplings(lam_S=0.3, lam_P=-0.4, lam_B=0.5, beta=0.7)


@functools.cache
def tiny(sep: tuple[int, int], n_cut: int = 5) -> object:
    return static_string_basis(1.0, float(n_cut), sep, extra_links=2)


# ----------------------------------------------------------------------------------------------
# key layout and bases


@pytest.mark.parametrize("sep", [(1, 0), (3, 0), (2, 1), (1, 1)])
def test_key_round_trip_up_to_five_links(sep):
    b = static_string_basis(1.0, 7.0, sep, extra_links=2)
    assert np.all(np.diff(b.keys) > 0) and np.all(b.keys > 0)
    assert b.dirs.shape == (b.dim, MAX_LINKS) and b.max_links == sum(map(abs, sep)) + 2
    for i in range(b.dim):
        assert pack_key(b.nlinks[i], 0, 0, 0, 0, b.dirs[i], b.link_mom[i]) == b.keys[i]
        assert find_state(b.keys, b.keys[i]) == i
        nl = b.nlinks[i]
        # the path ends on the second source; unused slots are zero
        assert tuple(STEPS[b.dirs[i, :nl]].sum(axis=0)) == sep
        assert np.all(b.dirs[i, nl:] == 0) and np.all(b.link_mom[i, nl:] == 0)
        assert np.all(b.link_mom[i, :nl] >= 1) and b.link_mom[i].sum() <= b.n_cut
    assert np.all(b.quark_mom == 0) and np.all(b.anti_mom == 0)


def test_key_fields_of_links_four_and_five_are_independent():
    dirs = np.array([3, 2, 1, 3, 2], dtype=np.int64)
    top = np.full(5, MAX_MOM_MULTI, dtype=np.int64)
    key = pack_key(5, 0, 0, 0, 0, dirs, top)
    assert 0 < key < 2**63 and key >> _NL_SHIFT == 5
    seen = {int(key)}
    for j in range(5):
        m = top.copy()
        m[j] -= 1
        seen.add(int(pack_key(5, 0, 0, 0, 0, dirs, m)))
        d = dirs.copy()
        d[j] = (d[j] + 1) % 4
        seen.add(int(pack_key(5, 0, 0, 0, 0, d, top)))
    assert len(seen) == 11
    # link 4: momentum in the low 8 bits of the b_q field, then d_4, d_5
    one = np.array([0, 0, 0, 1, 0])
    assert pack_key(4, 0, 0, 0, 0, np.zeros(5, np.int64), one) == (4 << _NL_SHIFT) | (1 << _BQ_SHIFT)


def test_three_link_keys_are_the_old_layout():
    """nlinks(2 -> 3 bits) must not move any key of a chain with <= 3 links."""
    dirs = np.array([1, 2, 3, 0, 0], dtype=np.int64)
    moms = np.array([4095, 200, 17, 0, 0], dtype=np.int64)
    old = (3 << 60) | (1 << 59) | (0 << 58) | (1234 << 46) | (77 << 34)
    old |= (1 << 28) | (2 << 30) | (3 << 32) | 4095 | (200 << 12) | (17 << 20)
    assert pack_key(3, 1, 0, 1234, 77, dirs, moms) == old


def _brute_force_string(n_cut: int, sep: tuple[int, int], extra: int) -> set:
    n0 = abs(sep[0]) + abs(sep[1])
    steps = {0: (1, 0), 1: (0, 1), 2: (-1, 0), 3: (0, -1)}
    out = set()
    for n in range(n0, n0 + extra + 1, 2):
        for path in itertools.product(range(4), repeat=n):
            if (sum(steps[d][0] for d in path), sum(steps[d][1] for d in path)) != sep:
                continue
            for moms in itertools.product(range(1, n_cut + 1), repeat=n):
                if sum(moms) <= n_cut:
                    out.add((n, 0, 0, 0, 0, path, moms))
    return out


@pytest.mark.parametrize("sep,n_cut", [((1, 0), 6), ((2, 0), 5), ((1, 1), 5), ((2, 1), 6), ((0, -1), 5)])
def test_string_basis_sizes(sep, n_cut):
    b = static_string_basis(1.0, float(n_cut), sep, extra_links=2)
    labels = {state_label(b, i) for i in range(b.dim)}
    assert labels == _brute_force_string(n_cut, sep, 2)
    n0 = abs(sep[0]) + abs(sep[1])
    for n in (n0, n0 + 2):
        sl = b.sector_slice(n)
        assert sl.stop - sl.start == string_sector_size(n_cut, n, sep)
    for n in range(7):
        walks = sum(1 for p in itertools.product(range(4), repeat=n)
                    if tuple(STEPS[list(p)].sum(axis=0)) == sep) if n else int(sep == (0, 0))
        assert lattice_walks(n, sep) == walks


def test_refusals():
    with pytest.raises(InvalidParameterError,
                       match=r"outside the supported range 0..3 of chains with a quark"):
        static_basis(1.0, 8.0, max_links=4)
    with pytest.raises(InvalidParameterError, match=r"outside the supported range 0..3"):
        dlcq_basis(8, max_links=5)
    with pytest.raises(InvalidParameterError, match=r"needs 6 links; the key layout holds at most 5"):
        static_string_basis(1.0, 8.0, (2, 2))
    with pytest.raises(InvalidParameterError, match=r"extra_links must be an even integer"):
        static_string_basis(1.0, 8.0, (1, 0), extra_links=1)
    with pytest.raises(InvalidParameterError, match=r"different sites"):
        static_string_basis(1.0, 8.0, (0, 0))
    with pytest.raises(InvalidParameterError, match=r"pair of integers"):
        static_string_basis(1.0, 8.0, (1.5, 0))
    with pytest.raises(InvalidParameterError, match=r"too small for 5 link"):
        static_string_basis(1.0, 4.0, (3, 0))
    with pytest.raises(InvalidParameterError, match=r"8-bit momentum field"):
        static_string_basis(0.01, 2.56, (1, 0))
    with pytest.raises(BasisTooLargeError, match=r"before any operator"):
        static_string_basis(1.0, 200.0, (2, 1), memory_limit=2**20)


# ----------------------------------------------------------------------------------------------
# every piece on a string == the dense reference


STRING_PIECES = ("lam_S", "lam_P", "lam_B", "lam_B_zz", "plaq", "plaq_staple", "coul_s",
                 "coul_pair")


@pytest.mark.parametrize("sep,n_cut", [((1, 0), 5), ((1, 1), 5), ((2, 1), 6)])
def test_string_pieces_equal_dense_reference(sep, n_cut):
    b = tiny(sep, n_cut)
    pieces = links.string_pieces(b)
    for name in STRING_PIECES:
        A = pieces[name].toarray()
        R = reference(b, name)
        scale = max(np.abs(R).max(), 1.0)
        assert np.abs(R).max() > 0 or (name == "lam_S" and sep == (1, 1)), name
        np.testing.assert_allclose(A, R, rtol=0, atol=eps_tol(scale, b.dim), err_msg=name)
        assert_hermitian(pieces[name], name)
    labels = [state_label(b, i) for i in range(b.dim)]
    C = _coulomb_reference(b, {lab: i for i, lab in enumerate(labels)}, labels)
    np.testing.assert_allclose(ops.coulomb(b).toarray(), C, rtol=0,
                               atol=eps_tol(np.abs(C).max(), b.dim))


def test_pair_next_to_the_right_source_is_absorbed_by_it():
    """On a static pair a backtracking pair just before the second source is absorbed by it
    (the bug this replaces: only the left source was static, these entries vanished)."""
    b = tiny((1, 0), 5)
    A = links.pair_absorption(b).tocoo()
    right = [(i, j) for i, j in zip(A.row, A.col, strict=True)
             if b.nlinks[i] == 3 and b.dirs[i, 1] == (b.dirs[i, 2] + 2) % 4
             and b.dirs[i, 1] != (b.dirs[i, 0] + 2) % 4  # links 0, 1 not a pair as well
             and b.nlinks[j] == 1 and b.link_mom[j, 0] == b.link_mom[i, 0]]
    assert right, "no absorption by the right source"
    i, j = right[0]
    k1, k2 = b.link_mom[i, 1], b.link_mom[i, 2]
    v = (k1 - k2) / (2 * math.sqrt(k1 * k2))
    assert A.tocsr()[i, j] == pytest.approx(+v / (k1 + k2) ** 2)  # right neighbour: +, F = 1


# ----------------------------------------------------------------------------------------------
# the string operator


def test_string_operator_hermitian_and_sector_structure():
    st = StaticString(1.0, 6.0, (2, 1))
    H = st.matrix(PRESET.G, PRESET.mu, SOME_LINKS)
    assert_hermitian(H, "string operator")
    # with every number-changing term off (no pair Coulomb, beta = 0, lambda_B's zig-zag off
    # while its number-conserving backtracking part stays on), the spectrum is the union of the
    # sectors' spectra, and sector n0 is a separate solve on the n0-only basis
    off = LinkCouplings(lam_S=0.3, lam_P=-0.4, lam_B=0.5, beta=0.0, pair_coulomb=False)

    def matrix(string: StaticString) -> np.ndarray:
        coeffs = {**string.coefficients(PRESET.G, PRESET.mu, off), "lam_B_zz": 0.0}
        return string.pieces.combine(coeffs).toarray()

    H_off = matrix(st)
    full = np.linalg.eigvalsh(H_off)
    e0 = np.linalg.eigvalsh(matrix(StaticString(1.0, 6.0, (2, 1), extra_links=0)))
    sl = st.basis.sector_slice(5)
    e5 = np.linalg.eigvalsh(H_off[sl, sl])
    np.testing.assert_allclose(full, np.sort(np.concatenate([e0, e5])), atol=1e-9)
    assert abs(st.pieces.pieces["lam_B"][sl, sl]).max() > 0  # lambda_B acts in sector n0 + 2
    _, vecs = np.linalg.eigh(H_off)
    assert np.sum(np.abs(vecs[sl, 0]) ** 2) == pytest.approx(0.0, abs=1e-20)
    # the zig-zag alone couples the sectors: with it on, sector n0 + 2 mixes into the ground state
    assert st.solve(PRESET.G, PRESET.mu, off).probabilities[5] > 1e-8


def test_one_link_sector_is_the_femtoworm_transverse_string():
    """R = (1, 0) without extra links is (H18)'s one-link string of lfqcd.calibration."""
    ts = TransverseString(h=0.5, kappa_max=6.0)
    st = StaticString(0.5, 6.0, (1, 0), extra_links=0)
    V = st.solve(PRESET.G, PRESET.mu, LinkCouplings()).V
    assert V == pytest.approx(ts.sigma_T(PRESET.mu, PRESET.G), rel=1e-10)


def test_lattice_symmetries_of_the_potential():
    """V depends on R only through the square lattice's symmetry (rotations, reflections)."""
    V = {s: StaticString(1.0, 6.0, s).solve(PRESET.G, PRESET.mu, SOME_LINKS).V
         for s in [(1, 0), (0, 1), (-1, 0), (2, 1), (1, 2), (-1, -2), (1, 1), (-1, 1)]}
    for a, b in [((1, 0), (0, 1)), ((1, 0), (-1, 0)), ((2, 1), (1, 2)), ((2, 1), (-1, -2)),
                 ((1, 1), (-1, 1))]:
        assert V[a] == pytest.approx(V[b], rel=1e-9), (a, b)


def test_hellmann_feynman_derivatives():
    st = StaticString(1.0, 6.0, (2, 1))
    lev = st.solve(PRESET.G, PRESET.mu, SOME_LINKS)
    for p in LINK_PARAMS:
        eps = 1e-5
        up = st.solve(PRESET.G, PRESET.mu, _shift(SOME_LINKS, p, eps)).V
        dn = st.solve(PRESET.G, PRESET.mu, _shift(SOME_LINKS, p, -eps)).V
        assert lev.dV[p] == pytest.approx((up - dn) / (2 * eps), rel=1e-5, abs=1e-8), p


def test_condition_jacobian_equals_finite_differences():
    """The fit's Jacobian (the conditions applied to dV/dc) against central differences of the
    conditions themselves: the fit's stationarity checks use the same Jacobian and could not
    catch a wrong one."""
    from lfqcd.transverse_string import SEPARATIONS, _conditions

    strings = tiny_strings(1.0, 6.0)

    def conditions(lc: LinkCouplings) -> tuple[dict, dict]:
        return _conditions({s: strings[s].solve(PRESET.G, PRESET.mu, lc) for s in SEPARATIONS},
                           PRESET.G)

    _, der = conditions(SOME_LINKS)
    eps = 1e-5
    for p in LINK_PARAMS:
        up, _ = conditions(_shift(SOME_LINKS, p, eps))
        dn, _ = conditions(_shift(SOME_LINKS, p, -eps))
        for c, v in der[p].items():
            assert v == pytest.approx((up[c] - dn[c]) / (2 * eps), rel=1e-5, abs=1e-8), (p, c)


def _shift(lc: LinkCouplings, name: str, d: float) -> LinkCouplings:
    import dataclasses

    return dataclasses.replace(lc, **{name: getattr(lc, name) + d})


def test_string_potential_is_linear_on_the_axis():
    """V(R), R = 1..3 on the axis, calibrated G and mu, link couplings zero, h = 1,
    kappa_max = 12 (converged in kappa_max to ~0.01: 16 moves V by <= 0.015).

    Measured: V = 2.289, 4.194, 6.067; second difference V(3) - 2V(2) + V(1) = -0.032 = 1.7 % of
    the slope 1.889 (also 1.7 % at h = 0.75; 4.3 % at kappa_max = 8, so it is the cutoff's).
    Tolerance: 3 % of the slope, i.e. the linear fit's residuals (second difference / 6) below
    0.5 % of the slope. A string whose energy per link changed by 3 % from one link to the next
    would fail."""
    strings = build_strings(1.0, 12.0, AXIS)
    tab = string_table(strings, PRESET.G, PRESET.mu, LinkCouplings())
    V = [r["V"] for r in tab.rows]
    assert V == pytest.approx([2.289, 4.194, 6.067], abs=2e-3)
    fit = axis_fit({s: v for s, v in zip(AXIS, V, strict=True)})
    assert abs(fit["linearity"]) <= 0.03 * fit["sigma_T"]
    # the n + 2 sector is populated (the pair Coulomb terms act), but little
    assert all(0 < r["P_n2"] < 0.01 for r in tab.rows)


@functools.cache
def tiny_strings(h: float, kappa_max: float) -> dict:
    """Every separation at a tiny resolution, built once for the fit tests."""
    return build_strings(h, kappa_max)


def test_link_coupling_fit_improves_the_conditions():
    strings = tiny_strings(1.0, 6.0)
    before = string_table(strings, PRESET.G, PRESET.mu, LinkCouplings()).summary
    fit = fit_link_couplings(strings, PRESET.G, PRESET.mu)
    after = string_table(strings, PRESET.G, PRESET.mu, fit.couplings).summary
    assert fit.success and set(fit.values) == {"lam_S", "lam_P", "beta"}
    assert fit.couplings.lam_B == 0.0 and fit.values["beta"] >= 0.0
    assert len(fit.residuals) == 1 and fit.resolutions == [(1.0, 6.0)]
    chi2 = sum(r * r for r in fit.residuals[0].values())
    assert chi2 == pytest.approx(fit.chi2, rel=1e-12)
    tol = 0.05 * before["sigma_L"]
    chi2_before = sum((before[k] - (before["sigma_L"] if k == "sigma_T" else 0.0)) ** 2
                      for k in ("sigma_T", "linearity", "rot_11", "rot_21")) / tol**2
    assert chi2 < 0.1 * chi2_before
    assert abs(after["rot_11"]) < 0.2 * abs(before["rot_11"])
    # lam_B is the direction the conditions do not see
    w = fit.weakest_direction
    assert abs(w["lam_B"]) > 0.9 and fit.singular_values[-1] < 0.01 * fit.singular_values[0]
    with pytest.raises(InvalidParameterError, match=r"free link couplings"):
        fit_link_couplings(strings, PRESET.G, PRESET.mu, free=("mu",))


def _chi2(summary: dict, tol: float) -> float:
    """Sum of the squared conditions of one resolution (units of ``tol``), from a table."""
    return sum((summary[k] - (summary["sigma_L"] if k == "sigma_T" else 0.0)) ** 2
               for k in ("sigma_T", "linearity", "rot_11", "rot_21")) / tol**2


def test_joint_fit_at_two_resolutions():
    """Two tiny resolutions (h = 1, kappa_max = 6 and h = 0.75, kappa_max = 4.5) fitted together:
    stacked residuals (four per resolution), one set of couplings; the joint chi^2 is the sum
    of the per-resolution ones, it is at a minimum (J^T r = 0 in the unbounded couplings) and no
    larger than the chi^2 over both resolutions of either single-resolution fit."""
    a, b = tiny_strings(1.0, 6.0), tiny_strings(0.75, 4.5)
    G, mu = PRESET.G, PRESET.mu
    tol = 0.05 * 0.5 * math.pi * G
    joint = fit_link_couplings([a, b], G, mu)
    assert joint.success and joint.resolutions == [(1.0, 6.0), (0.75, 4.5)]
    assert len(joint.residuals) == 2 and all(len(r) == 4 for r in joint.residuals)
    assert joint.chi2 == pytest.approx(sum(v * v for r in joint.residuals for v in r.values()))
    # the per-resolution residuals are those of a table at the fitted couplings
    for strings, r in zip((a, b), joint.residuals, strict=True):
        tab = string_table(strings, G, mu, joint.couplings).summary
        assert _chi2(tab, tol) == pytest.approx(sum(v * v for v in r.values()), rel=1e-6)
        assert (tab["sigma_T"] - tab["sigma_L"]) / tol == pytest.approx(r["sigma_T"], abs=1e-6)
    cov = np.array(joint.covariance)
    assert cov.shape == (3, 3) and np.allclose(cov, cov.T) and np.all(np.diag(cov) > 0)
    assert joint.errors["lam_S"] == pytest.approx(math.sqrt(cov[0, 0]))
    # a single mapping is the one-resolution case of the same code path
    single = [fit_link_couplings(s, G, mu) for s in (a, b)]
    assert fit_link_couplings([a], G, mu).values == pytest.approx(single[0].values)
    for one in single:
        both = sum(_chi2(string_table(s, G, mu, one.couplings).summary, tol) for s in (a, b))
        assert joint.chi2 <= both + 1e-6
    # lam_B stays the undetermined direction of the stacked Jacobian
    assert abs(joint.weakest_direction["lam_B"]) > 0.9
    with pytest.raises(InvalidParameterError, match=r"one or more sets of strings"):
        fit_link_couplings([], G, mu)


# ----------------------------------------------------------------------------------------------
# the command


TINY_CFG = """
[couplings]
preset = "calibrated"
[string]
separations = [[1, 0], [2, 0], [3, 0], [1, 1], [2, 1]]
extra_links = 2
[resolution]
h = [1.0]
kappa_max = [6.0]
[fit]
enabled = true
resolution = 0
"""
TINY_JOINT_CFG = TINY_CFG.replace("h = [1.0]", "h = [1.0, 0.75]").replace(
    "kappa_max = [6.0]", "kappa_max = [6.0, 4.5]").replace("resolution = 0", "resolutions = [0, 1]")


def test_cli_end_to_end(tmp_path, capsys):
    from lfqcd.cli import main

    cfg = tmp_path / "string.toml"
    cfg.write_text(TINY_CFG)
    out = tmp_path / "out"
    assert main(["string", str(cfg), "--out", str(out)]) == 0
    rec = json.loads((out / "string.json").read_text())
    assert rec["versions"]["lfqcd"] and rec["seeds"] == {"eigensolver_start_vector": 0}
    assert rec["config"]["resolutions"] == [[1.0, 6.0]]
    assert {s["couplings"] for s in rec["summary"]} == {"configured", "fitted"}
    assert set(rec["fit"]["values"]) == {"lam_S", "lam_P", "beta"}
    lines = (out / "string.csv").read_text().splitlines()
    assert lines[0].startswith("couplings,h,kappa_max,Rx,Ry,R,dim,V") and len(lines) == 11
    assert "sigma_T" in capsys.readouterr().out
    # same folder, same configuration: accepted (resume); another configuration: refused
    cfg.write_text(TINY_CFG.replace("kappa_max = [6.0]", "kappa_max = [7.0]"))
    assert main(["string", str(cfg), "--out", str(out)]) == 2


def test_cli_joint_fit(tmp_path, capsys):
    from lfqcd.cli import main

    cfg = tmp_path / "string.toml"
    cfg.write_text(TINY_JOINT_CFG)
    assert StringConfig.from_toml(cfg).fit_resolutions == (0, 1)
    out = tmp_path / "out"
    assert main(["string", str(cfg), "--out", str(out)]) == 0
    rec = json.loads((out / "string.json").read_text())
    assert rec["config"]["fit"]["resolutions"] == [0, 1]
    assert rec["fit"]["resolutions"] == [[1.0, 6.0], [0.75, 4.5]]
    assert len(rec["fit"]["residuals"]) == 2 and len(rec["fit"]["covariance"]) == 3
    assert [(s["couplings"], s["h"]) for s in rec["summary"]] == [
        ("configured", 1.0), ("configured", 0.75), ("fitted", 1.0), ("fitted", 0.75)]
    assert "residuals / tol at h=0.75 kappa_max=4.5" in capsys.readouterr().out


@pytest.mark.parametrize("base,edit,message", [
    ("tiny", ("[fit]", "[fitt]"), r"unknown section\(s\) \['fitt'\]"),
    ("tiny", ("h = [1.0]", "h = [1.0, 0.5]"), r"equal-length non-empty lists"),
    ("tiny", ("h = [1.0]", "h = [-1.0]"), r"positive numbers"),
    ("tiny", ("extra_links = 2", "extra_links = 3"), r"extra_links must be an even integer"),
    ("tiny", ("[[1, 0], [2, 0], [3, 0], [1, 1], [2, 1]]", "[[1, 0], [2, 0]]"), r"needs every separation"),
    ("tiny", ("[[1, 0], [2, 0], [3, 0], [1, 1], [2, 1]]", "[[1, 0, 3]]"), r"list of \[R_x, R_y\] pairs"),
    ("tiny", ("resolution = 0", "resolution = 4"), r"must index the \[resolution\] lists"),
    ("tiny", ("preset = \"calibrated\"", "preset = \"nope\""), r"unknown coupling preset 'nope'"),
    ("tiny", ("preset = \"calibrated\"", "preset = [1]"), r"unknown coupling preset \[1\]; available"),
    ("tiny", ("kappa_max = [6.0]", "kappa_max = [4000.0]"), r"8-bit momentum field"),
    ("tiny", ("enabled = true", "enabled = true\nfree = [\"lam_Q\"]"), r"free must be a non-empty list"),
    ("joint", ("resolutions = [0, 1]", "resolutions = [0, 1]\nresolution = 0"), r"not both"),
    ("joint", ("resolutions = [0, 1]", "resolutions = [0, -2]"), r"must not repeat"),
    ("joint", ("resolutions = [0, 1]", "resolutions = []"), r"non-empty list of indices"),
    ("joint", ("resolutions = [0, 1]", "resolutions = 1"), r"non-empty list of indices"),
    ("joint", ("resolutions = [0, 1]", "resolutions = [0, 2]"),
     r"must index the \[resolution\] lists"),
])
def test_bad_config_is_one_clear_line(tmp_path, capsys, base, edit, message):
    from lfqcd.cli import main

    cfg = tmp_path / "bad.toml"
    cfg.write_text({"tiny": TINY_CFG, "joint": TINY_JOINT_CFG}[base].replace(*edit))
    with pytest.raises(InvalidParameterError, match=message):
        StringConfig.from_toml(cfg)
    assert main(["string", str(cfg), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("lfqcd string: error:") and "\n" not in err
    assert not (tmp_path / "o").exists()
