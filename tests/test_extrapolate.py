"""Continuum extrapolation with fit errors (lfqcd.extrapolate; issue #2 "after extrapolation").

The fit models are exact for polynomials in h (and 1/kappa_max^2), so synthetic ladders built
from a known limit must come back to round-off; with fixed-seed noise the reported error must
cover the truth; a two-point Richardson step must never claim zero error.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_operators import eps_tol

from lfqcd.errors import InvalidParameterError
from lfqcd.extrapolate import extrapolate


def test_linear_ladder_is_exact():
    h = np.array([0.04, 0.02, 0.01])
    ext = extrapolate(h, 1.5 - 0.7 * h)
    assert abs(ext.value - 1.5) <= eps_tol(1.5, 3)
    assert ext.model == "1+h"
    assert ext.error <= eps_tol(1.5, 3)
    np.testing.assert_allclose(ext.coefficients, [1.5, -0.7], atol=eps_tol(10.0, 3))


def test_quadratic_term_used_with_four_spacings():
    h = np.array([0.08, 0.04, 0.02, 0.01])
    ext = extrapolate(h, 2.0 + 0.3 * h - 5.0 * h**2)
    assert ext.model == "1+h+h2"
    assert abs(ext.value - 2.0) <= eps_tol(2.0, 4)


def test_cutoff_term_when_kappa_max_varies():
    h = np.array([0.04, 0.02, 0.01, 0.04, 0.02, 0.01])
    kmax = np.array([20.0, 20.0, 20.0, 30.0, 30.0, 30.0])
    q = 0.8 + 0.1 * h + 3.0 / kmax**2
    ext = extrapolate(h, q, kappa_max=kmax)
    assert "kmax2" in ext.model
    assert abs(ext.value - 0.8) <= eps_tol(1.0, 6) * 10
    # ignoring the cutoff term leaves a bias of order 3/kmax^2
    biased = extrapolate(h, q)
    assert abs(biased.value - 0.8) > 1e-3


def test_two_point_richardson_reports_its_step():
    h = np.array([0.02, 0.01])
    q = np.array([1.02, 1.01])  # exactly linear: value 1.0
    ext = extrapolate(h, q)
    assert abs(ext.value - 1.0) <= eps_tol(1.0, 2)
    # no spare points: the error is the whole step from the finest value
    assert abs(ext.error - 0.01) <= eps_tol(1.0, 2)


def test_error_is_honest_with_noise():
    """Fixed-seed noise: the reported error covers the truth about as often as a 1-sigma /
    3-sigma error should (the 6-point quadratic fit has 3 degrees of freedom, so the pull is
    Student-t-like: P(|t| < 1) ~ 0.61, P(|t| < 3) ~ 0.94), and is not grossly inflated."""
    rng = np.random.default_rng(20240602)
    h = np.array([0.08, 0.06, 0.04, 0.03, 0.02, 0.01])
    pulls, errors, deviations = [], [], []
    for _ in range(200):
        q = 3.0 + 0.5 * h + 1e-4 * rng.standard_normal(h.size)
        ext = extrapolate(h, q)
        pulls.append(abs(ext.value - 3.0) / ext.error)
        errors.append(ext.error)
        deviations.append(ext.value - 3.0)
    pulls = np.array(pulls)
    assert np.mean(pulls <= 1) > 0.6
    assert np.mean(pulls <= 3) > 0.95
    assert np.mean(errors) < 3 * np.std(deviations)


def test_curvature_inflates_the_error():
    """A linear fit to curved data must report a larger error than to straight data."""
    h = np.array([0.04, 0.02, 0.01])
    straight = extrapolate(h, 1.0 + 0.2 * h)
    curved = extrapolate(h, 1.0 + 0.2 * h + 40.0 * h**2)
    assert curved.error > 100 * max(straight.error, eps_tol())
    assert abs(curved.value - 1.0) <= 3 * curved.error


@pytest.mark.parametrize(
    ("h", "values", "message"),
    [
        pytest.param([0.1, 0.1], [1.0, 1.1], r"need at least two distinct grid spacings",
                     id="one-spacing"),
        pytest.param([0.1, 0.05], [1.0, float("nan")], r"cannot extrapolate non-finite values "
                     r"\[1\.0, nan\]", id="nan"),
        pytest.param([0.1, 0.05, 0.02], [1.0, 1.1], r"h and values must be 1-D arrays of equal "
                     r"length", id="shape"),
    ],
)
def test_bad_input(h, values, message):
    with pytest.raises(InvalidParameterError, match=message):
        extrapolate(h, values)


def test_result_serialises():
    d = extrapolate([0.02, 0.01], [1.02, 1.01]).to_dict()
    assert set(d) == {"value", "error", "model", "coefficients"}


def test_ansatz_extrapolation_recovers_a_known_limit_and_reports_every_model():
    from lfqcd.extrapolate import extrapolate_ansatz

    h = np.array([0.5, 0.4, 0.3, 0.25, 0.2, 0.5, 0.5])
    k = np.array([8.0, 8, 8, 8, 8, 12, 16])
    q = 1.0 + 0.3 * h + 0.2 * h**2 + 2.0 / k**2
    e = extrapolate_ansatz(h, q, k)
    assert e.model == "h+h2" and abs(e.value - 1.0) < 1e-10
    assert set(e.models) >= {"h", "h+h2", "sqrt h"} and "leave-one-out" in e.criterion
    # a log (no continuum limit) is not among the ansaetze: the spread shows the ambiguity
    e2 = extrapolate_ansatz(h, 1.0 + 0.2 * np.log(h) + 2.0 / k**2, k)
    assert e2.error > 0.02


def test_ansatz_prediction_at_a_held_out_resolution():
    """The chosen ansatz's value at a resolution it did not use, with the ansatz spread there:
    exact for polynomial data, and an h ln h ladder is covered by the acceptable ansaetze."""
    from lfqcd.extrapolate import extrapolate_ansatz

    h = np.array([0.5, 0.4, 0.3, 0.25, 0.2, 0.5, 0.5])
    k = np.array([8.0, 8, 8, 8, 8, 12, 16])
    e = extrapolate_ansatz(h, 1.0 + 0.3 * h + 0.2 * h**2 + 2.0 / k**2, k)
    value, err = e.predict(0.1, 8.0)
    assert abs(value - (1.0 + 0.03 + 0.002 + 2.0 / 64)) < 1e-10
    # the only spread is the straight line through the two finest spacings (0.2, 0.25), which
    # misses the quadratic by 0.2 (h - 0.2)(h - 0.25): at h = 0.1 and at the limit
    assert abs(err - 0.2 * 0.1 * 0.15) < 1e-10
    assert abs(e.error - 0.2 * 0.2 * 0.25) < 1e-10 and e.accepted == ["h+h2", "finest pair"]
    q = 1.0 + 0.5 * h * np.log(h) + 2.0 / k**2
    e2 = extrapolate_ansatz(h, q, k)
    assert e2.model == "h+h ln h" and abs(e2.value - 1.0) < 1e-10
    v2, err2 = e2.predict(0.1, 8.0)
    assert abs(v2 - (1.0 + 0.05 * np.log(0.1) + 2.0 / 64)) <= max(2 * err2, 1e-10)


def test_ansatz_outside_the_physical_range_is_not_acceptable():
    """A limit outside ``bounds`` (a probability below 0) disqualifies an ansatz; the criterion
    says so; with no ansatz in range, the criterion says that instead."""
    from lfqcd.extrapolate import extrapolate_ansatz

    h = np.array([0.4, 0.3, 0.25, 0.2, 0.15, 0.4, 0.4])
    k = np.array([12.0, 12, 12, 12, 12, 16, 20])
    # a probability falling like h^0.75 (no ansatz is exact) to 0.01: the sqrt h + h fit is
    # acceptable by its leave-one-out RMS but overshoots below 0
    q = 0.01 + 0.6 * h**0.75 + 0.1 / k**2
    free = extrapolate_ansatz(h, q, k)
    assert "sqrt h+h" in free.accepted and free.models["sqrt h+h"]["value"] < 0.0
    bounded = extrapolate_ansatz(h, q, k, bounds=(0.0, 1.0))
    assert "sqrt h+h" not in bounded.accepted
    assert all(0.0 <= bounded.models[n]["value"] <= 1.0 for n in bounded.accepted)
    assert "physical range [0, 1]" in bounded.criterion
    assert abs(bounded.value - 0.01) <= 2 * bounded.error
    none_in_range = extrapolate_ansatz(h, q - 1.0, k, bounds=(0.0, 1.0))
    assert "no ansatz has its limit in the physical range" in none_in_range.criterion


def _measure(c, cond, resolutions):
    from heavy_meson import observables as obs
    from heavy_meson.hamiltonian import HeavyLightModel, Resolution
    from heavy_meson.renormalization import renormalized_solve

    out = []
    for h, kmax in resolutions:
        m = HeavyLightModel(Resolution(h, kmax))
        sol = renormalized_solve(m, c, cond).solution
        out.append(obs.all_scalar_observables(m.basis, sol.vectors[:, 0], sol.lambda_bar[0], c.G))
    return out


def _fit_ladder(ladder, data, key):
    from heavy_meson.run import BOUNDS
    from lfqcd.extrapolate import extrapolate_ansatz

    h = np.array([r[0] for r in ladder])
    km = np.array([r[1] for r in ladder])
    vals = np.array([d[key] for d in data])
    return extrapolate_ansatz(h, vals, km, bounds=BOUNDS.get(key)), vals


def _check_held_out(ladder, data, finer_res, finer, keys):
    """The fit's value at a resolution it did not use, within 2 of its errors."""
    for key in keys:
        e, _ = _fit_ladder(ladder, data, key)
        value, err = e.predict(*finer_res)
        assert abs(finer[key] - value) <= 2 * err, (key, finer[key], value, err)


def test_extrapolation_of_the_real_operator_predicts_a_finer_resolution():
    """Fit a coarse heavy-light ladder (illustrative couplings, Lambda-bar scheme): a finer
    resolution the fit did not use lies within 2 standard errors of the fit's value there."""
    from heavy_meson.renormalization import RenormalizationCondition
    from lfqcd.couplings import get_preset

    c = get_preset("illustrative").couplings
    cond = RenormalizationCondition(kind="lambda_bar", target=0.8)
    ladder = [(0.5, 6.0), (0.4, 6.0), (0.3, 6.0), (0.25, 6.0), (0.5, 8.0), (0.5, 10.0)]
    *data, finer = _measure(c, cond, ladder + [(0.2, 6.0)])
    _check_held_out(ladder, data, (0.2, 6.0), finer, ("rho2", "fB_sqrtM", "P0"))


#: the default run's ladder (runs/b_meson_default.toml) and two finer grids it does not use
DEFAULT_LADDER = [(0.4, 12.0), (0.3, 12.0), (0.25, 12.0), (0.2, 12.0), (0.15, 12.0),
                  (0.4, 16.0), (0.4, 20.0)]
DEFAULT_KEYS = ("lambda_bar", "rho2", "fB_sqrtM", "P0")


@pytest.fixture(scope="module")
def default_ladder():
    from heavy_meson.renormalization import RenormalizationCondition
    from lfqcd.couplings import get_preset

    p = get_preset("calibrated")
    data = _measure(p.couplings, RenormalizationCondition.of_preset(p),
                    DEFAULT_LADDER + [(0.1, 12.0)])
    return data[:-1], data[-1]


@pytest.mark.slow
def test_default_ladder_predicts_finer_grids(default_ladder):
    """The calibrated couplings in the renormalised-quark scheme: the default ladder minus its
    finest grid predicts h = 0.15, and the whole ladder predicts h = 0.1, each within 2 errors
    (measured pulls: Lambda-bar 0.25 / 0.44, rho2 0.04 / 0.12, f_B 0.07 / 1.9, P0 0.5 / 0.2)."""
    data, h01 = default_ladder
    coarse = [r for r in DEFAULT_LADDER if r != (0.15, 12.0)]
    i15 = DEFAULT_LADDER.index((0.15, 12.0))
    _check_held_out(coarse, data[:i15] + data[i15 + 1:], (0.15, 12.0), data[i15], DEFAULT_KEYS)
    _check_held_out(DEFAULT_LADDER, data, (0.1, 12.0), h01, DEFAULT_KEYS)
    # informative where the ladder is close to asymptotic (Lambda-bar and P0: the xfail below)
    for key in ("rho2", "fB_sqrtM"):
        e, vals = _fit_ladder(DEFAULT_LADDER, data, key)
        assert e.error < vals.max() - vals.min(), key


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="known: h >= 0.15 is not in the asymptotic regime for "
                   "Lambda-bar (curved, maximum near h = 0.27) and P0: the acceptable ansaetze "
                   "disagree on the limit by 0.30 and 0.28, more than the ladder's own spread "
                   "(0.023, 0.19); rho2 (0.05 < 0.16) and f_B sqrt(M) (0.07 < 0.33) pass. "
                   "Below the ladder Lambda-bar keeps a residual slope of ~0.08 per unit ln h "
                   "down to h = 0.05 (docs/physics.md (R11)): a counterterm problem, not a fit one")
def test_default_ladder_extrapolation_is_informative(default_ladder):
    """The extrapolation error is smaller than the ladder's own variation (an error as large as
    the data's spread says nothing about the limit)."""
    data, _ = default_ladder
    for key in DEFAULT_KEYS:
        e, vals = _fit_ladder(DEFAULT_LADDER, data, key)
        assert e.error < vals.max() - vals.min(), (key, e.error, vals.max() - vals.min())
