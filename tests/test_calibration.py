"""Calibration physics and the fit machinery (issue 4)."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy.optimize import brentq

from lfqcd.calibration.fit import CONDITIONS, PARAMS, Calibrator, Setup, Targets, fit
from lfqcd.calibration.lightlight import LightLightModel, TransverseString, sigma_L
from lfqcd.couplings import Couplings
from lfqcd.errors import InvalidParameterError
from lfqcd.thooft import light_light_spectrum

AIRY = np.array([1.0188, 2.3381])  # zeros of Ai' (even) and Ai (odd), docs/physics.md section 10


def test_longitudinal_string_tension_from_heavy_heavy_limit():
    """(M - 2m) -> (sigma_L^2/(2 mu_red))^(1/3) z_n with sigma_L = pi G/2, up to O(m^-2/3)."""
    ratios = {}
    for m in (20.0, 40.0):
        ev = light_light_spectrum(400, m, m, G=1.0, n_states=2, backend="dense").eigenvalues
        scale = (sigma_L(1.0) ** 2 / (2 * (m / 2))) ** (1 / 3)
        ratios[m] = (np.sqrt(ev) - 2 * m) / scale / AIRY
    u20, u40 = 20.0 ** (-2 / 3), 40.0 ** (-2 / 3)  # relativistic corrections ~ p/m ~ m^(-2/3)
    limit = ratios[40.0] + (ratios[40.0] - ratios[20.0]) * u40 / (u20 - u40)
    np.testing.assert_allclose(limit, 1.0, atol=0.015)
    # and a wrong string tension (pi G instead of pi G / 2) is clearly excluded
    assert np.all(np.abs(limit * 2 ** (-2 / 3) - 1.0) > 0.3)


@pytest.fixture(scope="module")
def ll8() -> LightLightModel:
    return LightLightModel(8)


def test_zero_link_limit_is_light_light_thooft(ll8):
    c = Couplings(G=1.0, m=0.7, mu=30.0)  # no hopping: sector 1 decouples
    pion = ll8.spectrum(c, m0_sq=0.49, jz=0.0, n_states=2)
    ref = light_light_spectrum(8, 0.7, 0.7, G=1.0, n_states=3, backend="dense").eigenvalues
    np.testing.assert_allclose(pion[0], ref[0], atol=1e-10)
    assert np.any(np.isclose(pion[1], ref[:3], atol=1e-10))


def test_free_dispersion_relation_is_flat(ll8):
    c = Couplings(G=0.0, m=0.5, mu=1.0)
    for diagonal in (False, True):
        d = ll8.dispersion(c, 0.25, 0.6, diagonal=diagonal)
        assert d["E"] == pytest.approx(d["E0"], abs=1e-12)


def test_hopping_makes_the_pion_move_and_is_hermitian(ll8):
    c = Couplings(G=1.0, m=0.8, mu=0.9, t_F=0.6, t_NF=0.4, w_FF=0.5, w_NN=0.2, w_FN=0.3)
    for p in ((0.0, 0.0), (0.4, 0.0), (0.3, 0.3)):
        H = sum(v * ll8.pieces(p)[k] for k, v in ll8.coefficients(c, 2.0).items())
        assert abs(H - H.conj().T).max() < 1e-12
    assert ll8.dispersion(c, 2.0, 0.4)["c2"] > 0.05


def test_transverse_string_grows_with_the_link_mass_and_has_the_free_limit():
    s = TransverseString(h=0.1, kappa_max=10.0)
    e_small, e_large = s.sigma_T(0.5, 1.0), s.sigma_T(3.0, 1.0)
    assert e_small < e_large
    # G = 0: the link energy is min(kappa + mu^2/kappa) = 2 mu at kappa = mu, halved
    assert s.sigma_T(3.0, 0.0) == pytest.approx(3.0, rel=1e-3)


@pytest.mark.slow
def test_fit_recovers_couplings_from_synthetic_targets():
    """Targets computed at a known point: the fit from a perturbed start gets back to a point at
    least as good as the truth."""
    setup = Setup(k_values=(6, 8), k_holdout=(), p_cov=0.3)
    probe = Calibrator(setup, Targets())
    G, m, m_R_sq, t_F, t_NF = 1.0, 0.8, 6.0, 0.6, 0.4
    mu = brentq(lambda x: probe.string.sigma_T(x, G) / sigma_L(G) - 1.0, 0.2, 3.0, xtol=1e-12)
    truth = np.array([G, mu, m, m_R_sq, t_F, t_NF, 1.0])
    pred = probe.predict(truth)
    assert pred["m_pi_sq_GeV2"] > 0 and pred["m_rho_sq_GeV2"] > pred["m_pi_sq_GeV2"]
    targets = Targets(m_pi=math.sqrt(pred["m_pi_sq_GeV2"]), m_rho=math.sqrt(pred["m_rho_sq_GeV2"]),
                      f_pi=pred["f_pi_GeV"], c2=pred["c2_axis"], tol_degeneracy=1e3,
                      tol_stability=1e3)  # K = 6, 8 drift: only the conditions are fitted
    r_truth = np.abs(Calibrator(setup, targets).residuals_of(pred)).max()
    start = dict(zip(PARAMS, truth * np.array([1.05, 0.96, 1.04, 0.95, 1.06, 0.95, 1.0]),
                     strict=True))
    res = fit(setup, targets, start, max_nfev=60, fixed=("log_factor",))
    assert max(abs(v) for v in res.residuals.values()) <= r_truth + 1e-2
    assert abs(res.residuals["sigma_T/sigma_L"]) < 0.05  # mu follows G through the string
    # with t_NF free and only the conditions (no stability residuals) at K = 6, 8 the fit has a
    # flat direction: the truth is one of several points with the same residuals ...
    assert all(np.isfinite(list(res.errors.values())))
    # ... and with t_NF held at its true value the other five are recovered
    exact = Targets(**{**dataclasses.asdict(targets), "c2_diagonal": pred["c2_diagonal"],
                       "tol_degeneracy": 1e9})  # every condition exactly met at the truth
    res5 = fit(setup, exact, {**start, "t_NF": t_NF}, max_nfev=80, fixed=("t_NF", "log_factor"))
    got = np.array([res5.params[p] for p in PARAMS])
    np.testing.assert_allclose(got, truth, rtol=2e-3)
    assert res5.errors["t_NF"] == 0.0 and all(np.isfinite(list(res5.errors.values())))


def test_two_link_light_light_operator():
    """max_links = 2: Hermitian, commutes with charge conjugation (X) and the C_4 rotation, the
    counterterm on sectors 0 and 1 and m^2 on sector 2, the multi-link couplings enter, the
    pion stays the lowest j_z = 0 level with C = +; P_perp != 0 is refused (no Bloch phases
    for the two-link antiquark emission)."""
    from lfqcd import operators as ops
    from lfqcd.links import MULTI_LINK_PIECES, LinkCouplings

    c = Couplings(G=1.0, m=0.8, mu=0.9, t_F=0.6, t_NF=0.4, w_FF=0.5, w_NN=0.2, w_FN=0.3)
    m = LightLightModel(6, max_links=2, link_couplings=LinkCouplings(lam_S=0.3, lam_P=0.2,
                                                                     lam_B=0.4, beta=0.5))
    b = m.basis
    assert b.nlinks.max() == 2 and set(MULTI_LINK_PIECES) <= set(m.fixed)
    coeffs = m.coefficients(c, 2.0, 0.7)
    assert coeffs["lam_S"] == 0.3 and coeffs["plaq"] == 0.5 and coeffs["e2_NN"] == c.w_NN
    H = sum(v * m.pieces()[k] for k, v in coeffs.items()).toarray()
    np.testing.assert_allclose(H, H.conj().T, atol=1e-12 * np.abs(H).max())
    for U in (ops.charge_conjugation(b), ops.rotation_c4(b)):
        U = U.toarray()
        assert np.abs(H @ U - U @ H).max() <= 1e-11 * np.abs(H).max()
    inv = 1.0 / b.kappa_quark() + 1.0 / b.kappa_antiquark()
    np.testing.assert_allclose(m.fixed["m0_sq"].diagonal(), np.where(b.nlinks < 2, inv, 0.0))
    np.testing.assert_allclose(m.fixed["m_sq"].diagonal(), np.where(b.nlinks == 2, inv, 0.0))
    # the blocks, built directly there and real in the reflection basis, have the spectra of
    # the projected full operator
    from lfqcd.hamiltonian import PieceSum
    from lfqcd.symmetry import jz_isometry

    for jz in (0.0, 1.0):
        assert m._blocks[jz].dtype == np.float64
        ref = PieceSum(m.pieces(), jz_isometry(b, jz), try_real_gauge=False).combine(coeffs)
        np.testing.assert_allclose(np.linalg.eigvalsh(m._blocks[jz].combine(coeffs).toarray()),
                                   np.linalg.eigvalsh(ref.toarray()), atol=1e-10 * np.abs(H).max())
    m2, cpar = m.lowest_with_c_parity(c, 2.0, 0.0, +1)
    assert m2 == pytest.approx(m.spectrum(c, 2.0, 0.0)[0]) and cpar == pytest.approx(1.0)
    with pytest.raises(InvalidParameterError, match="Bloch phases"):
        m.energy(c, 2.0, (0.3, 0.0))
    with pytest.raises(InvalidParameterError, match="max_links=3"):
        LightLightModel(8, max_links=3)
    with pytest.raises(InvalidParameterError, match="K must be an integer >= 6 for 2 link"):
        LightLightModel(5, max_links=2)
    from lfqcd.errors import BasisTooLargeError

    with pytest.raises(BasisTooLargeError, match=r"K = 48 with 2 link\(s\) \(1,125,184 states\)"):
        LightLightModel(48, max_links=2)  # refused before anything is built


def test_bad_calibration_input():
    with pytest.raises(InvalidParameterError, match="K must be an integer >= 4"):
        LightLightModel(2)
    with pytest.raises(InvalidParameterError, match="start values missing"):
        fit(Setup(k_values=(4, 6), k_holdout=()), Targets(), {"G": 1.0})
    with pytest.raises(InvalidParameterError, match="k_values"):
        Setup(k_values=(8,))
    with pytest.raises(InvalidParameterError, match="tol_m_pi"):
        Targets(tol_m_pi=0.0)


def test_counterterm_keeps_the_pion_stable_in_k():
    """The derived cell-log counterterm (docs/physics.md (R4)) keeps the pion M^2 stable in K at
    fixed m_R^2, where a constant sector-0 mass makes it run away (tachyonic by K = 16)."""
    from lfqcd.couplings import couplings_from_fit, self_energy_log_coefficient

    c, _, _ = couplings_from_fit((2.262629, 2.443760, 1.395401, 0.0, 1.898788, 2.848182, 1.0))
    c_log = self_energy_log_coefficient(c.t_F, c.t_NF, c.m)
    ks = (12, 16, 20)
    models = {k: LightLightModel(k) for k in ks}
    m_R_sq = brentq(lambda x: models[12].spectrum(c, x, 0.0, 1, c_log)[0] - 0.36, 0.0, 60.0,
                    xtol=1e-8)
    pion = [models[k].spectrum(c, m_R_sq, 0.0, 1, c_log)[0] for k in ks]
    assert max(pion) - min(pion) < 0.1  # lattice units; m_rho^2 ~ 11
    const = brentq(lambda x: models[12].spectrum(c, x, 0.0, 1)[0] - 0.36, 0.0, 200.0, xtol=1e-8)
    assert models[16].spectrum(c, const, 0.0, 1)[0] < -3.0  # without the log: runs away


RECORD = Path(__file__).resolve().parents[1] / "docs" / "calibration.json"


@pytest.fixture(scope="module")
def preset_prediction():
    from lfqcd.couplings import get_preset

    preset = get_preset("calibrated")
    cal = Calibrator(Setup(), Targets())
    theta = np.array(preset.fit_values)
    return preset, cal, theta, cal.predict(theta)


def test_calibrated_preset_reproduces_its_record(preset_prediction):
    """The shipped preset is the recorded result of `lfqcd calibrate runs/calibrate.toml`
    (docs/calibration.json): same parameters and covariance, and the light-light observables
    recomputed at the preset equal the recorded ones."""
    from lfqcd.couplings import CALIBRATION_PARAMS

    preset, cal, theta, pred = preset_prediction
    record = json.loads(RECORD.read_text())
    assert CALIBRATION_PARAMS == PARAMS
    np.testing.assert_allclose(theta, [record["params"][k] for k in PARAMS], rtol=1e-6)
    np.testing.assert_allclose(np.array(preset.covariance), np.array(record["covariance"]),
                               rtol=1e-5, atol=1e-12)
    assert pred["a_fm"] == pytest.approx(preset.lattice_spacing_fm, rel=1e-6)
    assert preset.m_R_sq == preset.fit_values[PARAMS.index("m_R_sq")]
    for key in ("M2_pi", "M2_rho", "M2_rho_jz0", "f_pi_lat", "c2_axis", "c2_diagonal"):
        assert pred[key] == pytest.approx(record["predictions"][key], rel=1e-6, abs=1e-9), key
    assert np.all(np.isfinite(np.array(preset.covariance)))
    # the conditions the fit met (residuals in units of their tolerances)
    res = dict(zip(CONDITIONS, cal.residuals_of(pred), strict=True))
    for cond in ("sigma_T/sigma_L", "m_pi", "m_rho", "f_pi", "c_T^2 axis", "c_T^2 diagonal"):
        assert abs(res[cond]) < 1.0, cond


def test_calibrated_preset_is_resolution_stable(preset_prediction):
    """docs/physics.md (F7): at every fit K (24 ... 48) and the held-out K = 64, pi and rho M^2
    within 0.05 m_rho^2 of the extrapolated value; K = 64 also within the extrapolation's stated
    error; at least four fit K."""
    _, cal, theta, pred = preset_prediction
    table = cal.stability_table(theta, pred)
    assert len(cal.setup.k_values) >= 4 and max(cal.setup.k_holdout) > max(cal.setup.k_values)
    assert table["all_fit_K_within_tolerance"] and table["held_out_within_tolerance"]
    assert table["held_out_within_stated_error"]


@pytest.mark.slow
def test_calibration_cli_reproduces_the_preset(tmp_path):
    from lfqcd.cli import main
    from lfqcd.couplings import get_preset

    cfg = Path(__file__).resolve().parents[1] / "runs" / "calibrate.toml"
    main(["calibrate", str(cfg), "--out", str(tmp_path), "--quiet"])
    got = json.loads((tmp_path / "calibration.json").read_text())
    assert "stability" in got and len(got["stability"]["rows"]) >= 4
    for k, v in zip(PARAMS, get_preset("calibrated").fit_values, strict=True):
        assert got["params"][k] == pytest.approx(v, rel=1e-3), k


def test_extra_condition_joins_the_residuals_and_the_record():
    """A condition supplied from outside the core is one more residual (value - target)/tol, and
    the result records its value, target and tolerance."""
    from lfqcd.calibration.fit import ExtraCondition

    setup = Setup(k_values=(6, 8), k_holdout=())
    extra = ExtraCondition("G itself", lambda theta: float(theta[0]), 1.0, 0.5)
    cal = Calibrator(setup, Targets(), (extra,))
    theta = np.array([1.5, 1.2, 0.8, 6.0, 0.6, 0.4, 1.0])
    pred = cal.predict(theta)
    res = cal.residuals_of(pred)
    assert cal.conditions[-1] == "G itself" and len(res) == len(CONDITIONS) + 1
    assert res[-1] == pytest.approx((1.5 - 1.0) / 0.5)
    out = fit(setup, Targets(), dict(zip(PARAMS, theta, strict=True)), max_nfev=1, calibrator=cal,
              fixed=tuple(p for p in PARAMS if p != "G"))
    assert out.extra["G itself"]["target"] == 1.0 and "G itself" in out.residuals


def test_heavy_light_slope_condition_matches_direct_solves():
    """heavy_meson.calibrate: the slope of Lambda-bar against ln(1/h) from the calibration
    parameters equals the least-squares slope of independent renormalised-quark solves."""
    from heavy_meson.calibrate import LambdaBarSlope, conditions
    from heavy_meson.hamiltonian import HeavyLightModel, Resolution
    from heavy_meson.renormalization import RenormalizationCondition, renormalized_solve
    from lfqcd.couplings import couplings_from_fit

    theta = np.array([1.5, 1.4, 0.9, 9.0, 0.9, 1.3, 1.1])
    hs = (1.0, 0.8, 0.5)
    slope = LambdaBarSlope(hs, 4.0)(theta)
    c, m_R_sq, zeta = couplings_from_fit(theta)
    cond = RenormalizationCondition(m_R_sq=m_R_sq, log_factor=zeta)
    lam = [renormalized_solve(HeavyLightModel(Resolution(h, 4.0)), c, cond).solution.lambda_bar[0]
           for h in hs]
    x = np.log(1.0 / np.array(hs))
    assert slope == pytest.approx(np.polyfit(x, lam, 1)[0], rel=1e-8, abs=1e-10)
    (cond_x,) = conditions({"heavy_light": {"h": list(hs), "kappa_max": 4.0, "tol_slope": 0.02}})
    assert cond_x.tol == 0.02 and cond_x.target == 0.0
    assert conditions({}) == ()
