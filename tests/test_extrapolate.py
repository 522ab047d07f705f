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


def _ladder_check(c, cond, ladder, finer_res, keys, spread_check):
    from heavy_meson import observables as obs
    from heavy_meson.hamiltonian import HeavyLightModel, Resolution
    from heavy_meson.renormalization import renormalized_solve
    from lfqcd.extrapolate import extrapolate_ansatz

    def measure(h: float, kmax: float) -> dict[str, float]:
        m = HeavyLightModel(Resolution(h, kmax))
        sol = renormalized_solve(m, c, cond).solution
        return obs.all_scalar_observables(m.basis, sol.vectors[:, 0], sol.lambda_bar[0], c.G)

    data = [measure(*r) for r in ladder]
    finer = measure(*finer_res)
    h = np.array([r[0] for r in ladder])
    km = np.array([r[1] for r in ladder])
    for key in keys:
        vals = np.array([d[key] for d in data])
        e = extrapolate_ansatz(h, vals, km)
        assert abs(finer[key] - e.value) <= 2 * e.error, key
        if spread_check:
            assert e.error < vals.max() - vals.min(), key


def test_extrapolation_of_the_real_operator_predicts_a_finer_resolution():
    """Fit a coarse heavy-light ladder (illustrative couplings, Lambda-bar scheme): a finer
    resolution the fit did not use lies within 2 standard errors of the extrapolation."""
    from heavy_meson.renormalization import RenormalizationCondition
    from lfqcd.couplings import get_preset

    _ladder_check(get_preset("illustrative").couplings,
                  RenormalizationCondition(kind="lambda_bar", target=0.8),
                  [(0.5, 6.0), (0.4, 6.0), (0.3, 6.0), (0.25, 6.0), (0.5, 8.0), (0.5, 10.0)],
                  (0.2, 6.0), ("rho2", "fB_sqrtM", "P0"), spread_check=False)


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="known: on h >= 0.15 Lambda-bar(h) is curved (maximum near "
                   "h = 0.27) and the leave-one-out criterion keeps only h+h2, whose error (0.001) "
                   "misses the held-out h = 0.15 by ~80 errors (rho2 ~9, fB_sqrtM ~7)")
def test_default_ladder_extrapolation_is_informative_and_predicts_a_finer_grid():
    """The calibrated couplings in the renormalised-quark scheme on the default run's ladder
    minus its finest grid: the held-out h = 0.15 lands within 2 standard errors, and the
    extrapolation error is smaller than the ladder's own variation."""
    from heavy_meson.renormalization import RenormalizationCondition
    from lfqcd.couplings import get_preset

    p = get_preset("calibrated")
    _ladder_check(p.couplings, RenormalizationCondition.of_preset(p),
                  [(0.4, 12.0), (0.3, 12.0), (0.25, 12.0), (0.2, 12.0), (0.4, 16.0), (0.4, 20.0)],
                  (0.15, 12.0), ("lambda_bar", "rho2", "fB_sqrtM", "P0"), spread_check=True)
