"""Physics acceptance of the heavy-light femtoworm operator and its observables (issue 3)."""

from __future__ import annotations

import numpy as np
import pytest

from heavy_meson import observables as obs
from heavy_meson.hamiltonian import HeavyLightModel, Resolution
from heavy_meson.renormalization import (
    CounterTermError,
    RenormalizationCondition,
    renormalized_solve,
)
from lfqcd.couplings import Couplings, get_preset
from lfqcd.extrapolate import extrapolate
from lfqcd.operators import rotation_c4
from lfqcd.thooft import heavy_light_spectrum

ILL = get_preset("illustrative").couplings
SMALL = Resolution(0.5, 6.0)


@pytest.fixture(scope="module")
def small_full() -> HeavyLightModel:
    return HeavyLightModel(SMALL, jz=None)


@pytest.fixture(scope="module")
def small_block() -> HeavyLightModel:
    return HeavyLightModel(SMALL, jz=0.5)


@pytest.fixture(scope="module")
def ground(small_block):
    """Renormalised illustrative ground state at a moderate resolution (both spin partners)."""
    model = HeavyLightModel(Resolution(0.4, 8.0), jz=0.5)
    ren = renormalized_solve(model, ILL, RenormalizationCondition("lambda_bar", 0.8), n_states=2)
    partner = model.with_jz(-0.5).solve(ILL, 1, m0_sq=ren.m0_sq)
    return model, ren, partner


def test_full_operator_is_hermitian_and_commutes_with_c4(small_full):
    H = small_full.hamiltonian(ILL, m0_sq=1.5)
    assert abs(H - H.conj().T).max() < 1e-13
    R = rotation_c4(small_full.basis)
    assert abs(R @ H - H @ R).max() < 1e-12
    # R is unitary and R^4 = -1 on half-integer angular momentum
    R4 = (R @ R @ R @ R).toarray()
    assert np.allclose(R4, -np.eye(R4.shape[0]))


def test_jz_doublets_and_block_spectra_union(small_full, small_block):
    H = small_full.hamiltonian(ILL, m0_sq=1.5).toarray()
    full = np.linalg.eigvalsh(H)
    plus = np.linalg.eigvalsh(small_block.hamiltonian(ILL, m0_sq=1.5).toarray())
    minus = np.linalg.eigvalsh(small_block.with_jz(-0.5).hamiltonian(ILL, m0_sq=1.5).toarray())
    np.testing.assert_allclose(plus, minus, atol=1e-11)  # j_z = +-1/2 degeneracy
    blocks = np.sort(np.concatenate([
        plus, minus,
        np.linalg.eigvalsh(small_block.with_jz(1.5).hamiltonian(ILL, m0_sq=1.5).toarray()),
        np.linalg.eigvalsh(small_block.with_jz(-1.5).hamiltonian(ILL, m0_sq=1.5).toarray()),
    ]))
    np.testing.assert_allclose(blocks, full, atol=1e-10)
    assert full[0] == pytest.approx(plus[0], abs=1e-11)  # the ground state is a j_z = 1/2 doublet
    assert full[1] - full[0] < 1e-10


def test_zero_hopping_is_heavy_light_thooft_same_resolution():
    res = Resolution(0.25, 6.0)
    free = Couplings(G=1.0, m=1.0, mu=3.0)
    lam = HeavyLightModel(res, jz=0.5).solve(free, 3).lambda_bar
    ref, _, _ = heavy_light_spectrum(0.25, 6.0, 1.0, n_states=3)
    np.testing.assert_allclose(lam[:2], ref[:2], rtol=0, atol=1e-10)


def test_zero_link_path_reproduces_j2_table():
    """Same pieces and assembly with the link sector removed: docs/physics.md section 10, m = 1 and 2."""
    for m, (l0, l1) in {1.0: (1.7196, 2.8387), 2.0: (2.65464, 3.64530)}.items():
        hs = np.array([0.04, 0.02, 0.01])
        vals = np.array([
            HeavyLightModel(Resolution(h, 20.0), jz=0.5, max_links=0)
            .solve(Couplings(G=1.0, m=m), 2, backend="scipy").lambda_bar
            for h in hs
        ])
        assert extrapolate(hs, vals[:, 0]).value == pytest.approx(l0, abs=2e-3)
        assert extrapolate(hs, vals[:, 1]).value == pytest.approx(l1, abs=1e-2)


def test_large_link_mass_decouples_sector_one():
    res = Resolution(0.25, 6.0)
    ref = heavy_light_spectrum(0.25, 6.0, ILL.m)[0][0]
    model = HeavyLightModel(res)
    gaps, p1 = [], []
    for mu in (8.0, 40.0, 200.0):
        sol = model.solve(ILL.replace(mu=mu), 1)
        gaps.append(abs(sol.lambda_bar[0] - ref))
        p1.append(obs.probabilities(model.basis, sol.vectors[:, 0])["P1"])
    assert gaps[0] > gaps[1] > gaps[2] and gaps[2] < 1e-3  # shifts fall like 1/mu^2
    assert p1[0] > p1[1] > p1[2] and p1[2] < 1e-6


def test_counterterm_keeps_lambda_bar_fixed_across_resolutions():
    target = 0.8
    m0 = []
    for h in (0.4, 0.3, 0.25):
        model = HeavyLightModel(Resolution(h, 12.0))
        ren = renormalized_solve(model, ILL, RenormalizationCondition("lambda_bar", target))
        assert ren.solution.lambda_bar[0] == pytest.approx(target, abs=1e-6)
        m0.append(ren.m0_sq)
    # docs/physics.md section 6: m0^2 = 1.64, 2.46, 3.05 for h = 0.4, 0.3, 0.25, growing like ln(1/h)
    np.testing.assert_allclose(m0, [1.64, 2.46, 3.05], atol=0.03)
    # without the counterterm there is no continuum limit (K: 0.21, -0.31 at h = 0.4, 0.25)
    naive = [HeavyLightModel(Resolution(h, 12.0)).solve(ILL, 1).lambda_bar[0] for h in (0.4, 0.25)]
    assert naive[0] == pytest.approx(0.21, abs=0.02) and naive[1] == pytest.approx(-0.31, abs=0.02)


def test_unreachable_condition_is_reported():
    model = HeavyLightModel(SMALL)
    with pytest.raises(CounterTermError, match="out of reach"):
        renormalized_solve(model, ILL, RenormalizationCondition("lambda_bar", 50.0))


def test_isgur_wise_properties_and_slope_from_derivative(ground):
    model, ren, _ = ground
    c = ren.solution.vectors[:, 0]
    w = np.linspace(1.0, 2.0, 51)
    xi = obs.isgur_wise(model.basis, c, w)
    assert xi[0] == pytest.approx(1.0, abs=1e-12)
    assert np.all(np.abs(xi) <= 1.0 + 1e-12)
    assert np.all(np.diff(xi) < 0)
    mom = obs.isgur_wise_moments(model.basis, c)
    eps = 1e-4
    x1, x2 = obs.isgur_wise(model.basis, c, np.array([1.0 + eps, 1.0 + 2 * eps]))
    slope = -(-3.0 + 4.0 * x1 - x2) / (2 * eps)  # one-sided second-order derivative at w = 1
    assert mom["rho2"] == pytest.approx(slope, abs=1e-4)
    curv = (1.0 - 2 * x1 + x2) / eps**2
    assert mom["xi_second_derivative"] == pytest.approx(curv, rel=1e-2)
    assert mom["rho2"] > 0.1  # non-trivial one-link content


def test_lcda_normalised_and_sum_rules(ground):
    model, ren, _ = ground
    c = ren.solution.vectors[:, 0]
    omega, phi = obs.lcda(model.basis, c)
    assert np.sum(phi) * model.basis.h == pytest.approx(1.0, abs=1e-12)
    p = obs.probabilities(model.basis, c)
    assert p["P0"] + p["P1"] == pytest.approx(1.0, abs=1e-12)
    d = obs.momentum_distributions(model.basis, c)
    h = model.basis.h
    assert np.sum(d["f_Q"]) * h == pytest.approx(1.0, abs=1e-12)
    assert np.sum(d["f_L"]) * h == pytest.approx(p["P1"], abs=1e-12)
    s = obs.momentum_sum_rule(model.basis, c)
    assert s["kappa_q_mean"] + s["kappa_L_mean"] == pytest.approx(s["kappa_tot_mean"], abs=1e-12)


def test_results_do_not_depend_on_spin_partner(ground):
    model, ren, partner = ground
    assert partner.lambda_bar[0] == pytest.approx(ren.solution.lambda_bar[0], abs=1e-10)
    m_minus = model.with_jz(-0.5)
    a = obs.all_scalar_observables(model.basis, ren.solution.vectors[:, 0],
                                   ren.solution.lambda_bar[0], ILL.G, helicity=0)
    b = obs.all_scalar_observables(m_minus.basis, partner.vectors[:, 0],
                                   partner.lambda_bar[0], ILL.G, helicity=1)
    for key, val in a.items():
        assert b[key] == pytest.approx(val, abs=1e-8), key


def test_zero_link_identities_virial_and_lambda_b():
    """Exact 't Hooft identities (docs/physics.md section 10) via the observables module:
    <kappa> = Lambda-bar, lambda_B = m."""
    m = 1.0
    errs = []
    for h in (0.04, 0.02):
        model = HeavyLightModel(Resolution(h, 20.0), max_links=0)
        sol = model.solve(Couplings(G=1.0, m=m), 1, backend="scipy")
        c = sol.vectors[:, 0]
        errs.append(abs(obs.virial_mismatch(model.basis, c, sol.lambda_bar[0])))
        lam_b = obs.lcda_moments(model.basis, c)["lambda_B"]
        assert lam_b == pytest.approx(m, abs=1e-2)
        # docs/physics.md (E3), section 10: int phi dkappa = 2.174 for m = 1 (with the tail correction)
        assert obs.phi0_integral(model.basis, c, G=1.0) == pytest.approx(2.174, abs=1e-2)
    assert errs[1] < errs[0] < 0.05  # the virial identity improves with the grid


@pytest.mark.gpu
def test_gpu_solve_keeps_pieces_on_device_and_matches_cpu():
    model = HeavyLightModel(Resolution(0.4, 8.0))
    cpu = model.solve(ILL, 2, m0_sq=1.6, backend="scipy")
    gpu = model.solve(ILL, 2, m0_sq=1.6, backend="cupy")
    np.testing.assert_allclose(gpu.lambda_bar, cpu.lambda_bar, atol=1e-8)
    assert model.pieces._device_pieces is not None  # reused by the next point
    again = model.solve(ILL.replace(t_F=0.45), 1, m0_sq=1.6, backend="cupy")
    assert np.isfinite(again.lambda_bar[0])


def test_operator_disk_cache_round_trip_and_corruption(tmp_path):
    res = Resolution(0.5, 6.0)
    built = HeavyLightModel(res, cache_dir=tmp_path)
    files = list(tmp_path.glob("femtoworm_*.npz"))
    assert len(files) == 1
    loaded = HeavyLightModel(res, cache_dir=tmp_path)
    assert loaded._full_pieces is None  # nothing rebuilt
    a = built.solve(ILL, 2, m0_sq=1.5).lambda_bar
    b = loaded.solve(ILL, 2, m0_sq=1.5).lambda_bar
    np.testing.assert_allclose(a, b, atol=1e-12)
    files[0].write_bytes(files[0].read_bytes()[:100])  # truncate: detected and rebuilt
    again = HeavyLightModel(res, cache_dir=tmp_path)
    np.testing.assert_allclose(again.solve(ILL, 2, m0_sq=1.5).lambda_bar, a, atol=1e-12)
    assert again.with_jz(-0.5).solve(ILL, 1, m0_sq=1.5).lambda_bar[0] == pytest.approx(a[0], abs=1e-10)
