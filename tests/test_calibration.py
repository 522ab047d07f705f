"""Calibration physics and the fit machinery (issue 4)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import brentq

from lfqcd.calibration.fit import PARAMS, Calibrator, Setup, Targets, fit
from lfqcd.calibration.lightlight import LightLightModel, TransverseString, sigma_L
from lfqcd.couplings import Couplings
from lfqcd.errors import InvalidParameterError
from lfqcd.thooft import light_light_spectrum

AIRY = np.array([1.0188, 2.3381])  # zeros of Ai' (even) and Ai (odd), physics.md J.2


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


def test_fit_recovers_couplings_from_synthetic_targets():
    setup = Setup(k_total=8, p_cov=0.3, t_ratio=0.6)
    probe = Calibrator(setup, Targets())
    G, m, m0_sq, t_F = 1.0, 0.8, 6.0, 0.6
    mu = brentq(lambda x: probe.string.sigma_T(x, G) / sigma_L(G) - 1.0, 0.2, 3.0, xtol=1e-12)
    truth = np.array([G, mu, m, m0_sq, t_F])
    pred = probe.predict(truth)
    assert pred["m_pi_sq"] > 0 and pred["m_rho_sq"] > pred["m_pi_sq"]
    targets = Targets(m_pi=math.sqrt(pred["m_pi_sq"]), m_rho=math.sqrt(pred["m_rho_sq"]),
                      f_pi=pred["f_pi"], c2=pred["c2_axis"])
    start = dict(zip(PARAMS, truth * np.array([1.1, 0.92, 1.08, 0.9, 1.12]), strict=True))
    res = fit(setup, targets, start, max_nfev=80)
    got = np.array([res.params[p] for p in PARAMS])
    np.testing.assert_allclose(got, truth, rtol=2e-3)
    assert max(abs(v) for v in res.residuals.values()) < 1e-2
    assert all(np.isfinite(list(res.errors.values())))


def test_bad_calibration_input():
    with pytest.raises(InvalidParameterError, match="K must be an integer >= 4"):
        LightLightModel(2)
    with pytest.raises(InvalidParameterError, match="start values missing"):
        fit(Setup(k_total=4), Targets(), {"G": 1.0})


def test_calibrated_preset_reproduces_its_conditions():
    """The shipped preset is the recorded result of `lfqcd calibrate runs/calibrate.toml`."""
    from lfqcd.couplings import get_preset

    preset = get_preset("calibrated")
    setup = Setup()  # the defaults are those of runs/calibrate.toml
    cal = Calibrator(setup, Targets())
    c = preset.couplings
    theta = np.array([c.G, c.mu, c.m, 48.9814, c.t_F])
    assert c.t_NF == pytest.approx(setup.t_ratio * c.t_F, rel=1e-5)
    pred = cal.predict(theta, with_diagonal=True)
    assert np.max(np.abs(cal.residuals_of(pred))) < 0.05  # within 5 % of each tolerance
    assert pred["a_fm"] == pytest.approx(preset.lattice_spacing_fm, rel=1e-5)
    assert pred["c2_diagonal"] == pytest.approx(1.0, abs=0.02)  # rotational invariance check
    assert preset.lambda_bar_target / pred["a_fm"] * 0.1973269804 == pytest.approx(0.555, rel=1e-5)


def test_calibration_cli_reproduces_the_preset(tmp_path):
    import json
    from pathlib import Path

    from lfqcd.cli import main
    from lfqcd.couplings import get_preset

    cfg = Path(__file__).resolve().parents[1] / "runs" / "calibrate.toml"
    assert main(["calibrate", str(cfg), "--out", str(tmp_path), "--quiet"]) == 0
    got = json.loads((tmp_path / "calibration.json").read_text())["couplings"]
    for k, v in get_preset("calibrated").couplings.to_dict().items():
        assert got[k] == pytest.approx(v, rel=1e-4), k
