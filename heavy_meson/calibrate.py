"""``lfqcd calibrate``: the light-light calibration of :mod:`lfqcd.calibration` plus the
heavy-light renormalisation condition (docs/physics.md (R9), (R10), section 8).

The core fits the couplings, ``m_R^2`` and the factor ``log_factor`` of the self-energy log to
light mesons, covariance, the string tension and resolution stability in ``K``. The log
coefficient is one number for both regulators (docs/physics.md (R4)), so it must also leave
the heavy-light Lambda-bar free of a ``ln(1/h)`` trend: the ``[heavy_light]`` section adds that
condition, the slope of Lambda-bar against ``ln(1/h)`` at fixed ``kappa_max`` (the run's trend
diagnostic, :func:`heavy_meson.run.lambda_bar_trend`) equal to zero within ``tol_slope``. Only
the slope is imposed, never Lambda-bar's value, which stays a prediction.
"""

from __future__ import annotations

import argparse
import functools
from typing import Any

import numpy as np

from heavy_meson.hamiltonian import HeavyLightModel, Resolution
from heavy_meson.renormalization import RenormalizationCondition, log_slope, renormalized_solve
from lfqcd import validate as check
from lfqcd.calibration import cli as core
from lfqcd.calibration.fit import ExtraCondition
from lfqcd.couplings import couplings_from_fit
from lfqcd.errors import ConfigError, InvalidParameterError

SCHEMA = {"heavy_light": {"h", "kappa_max", "tol_slope"}}


class LambdaBarSlope:
    """``theta -> d Lambda-bar / d ln(1/h)`` (lattice units) on a ladder of ``h`` at one
    ``kappa_max``, in the renormalised-quark scheme of the parameters ``theta``
    (:data:`lfqcd.calibration.fit.PARAMS` order); models built once (at the first call),
    solves warm-started."""

    def __init__(self, hs: tuple[float, ...], kappa_max: float) -> None:
        self.hs = tuple(float(h) for h in hs)
        self.resolutions = [Resolution(h, kappa_max) for h in self.hs]  # validated here
        self._v0: list[np.ndarray | None] = [None] * len(self.hs)

    @functools.cached_property
    def models(self) -> list[HeavyLightModel]:
        return [HeavyLightModel(r) for r in self.resolutions]

    def lambda_bar(self, theta: np.ndarray) -> list[float]:
        c, m_R_sq, log_factor = couplings_from_fit(theta)
        cond = RenormalizationCondition(m_R_sq=m_R_sq, log_factor=log_factor)
        out = []
        for i, model in enumerate(self.models):
            sol = renormalized_solve(model, c, cond, v0=self._v0[i]).solution
            self._v0[i] = sol.block_vectors[:, 0]
            out.append(float(sol.lambda_bar[0]))
        return out

    def __call__(self, theta: np.ndarray) -> float:
        return log_slope(np.array(self.hs), np.array(self.lambda_bar(theta)))[0]


def conditions(raw: dict[str, Any]) -> tuple[ExtraCondition, ...]:
    """The ``[heavy_light]`` condition of a calibration configuration (none without it)."""
    sec = raw.get("heavy_light")
    if not sec:
        return ()
    hs = sec.get("h", [0.4, 0.3, 0.25, 0.2, 0.15])
    if not isinstance(hs, list) or len(hs) < 3:
        raise ConfigError(f"[heavy_light] h must list at least three grid spacings, got {hs!r}")
    hs = tuple(check.number(h, "[heavy_light] h", gt=0.0) for h in hs)
    kmax = check.number(sec.get("kappa_max", 12.0), "[heavy_light] kappa_max", gt=0.0)
    tol = check.number(sec.get("tol_slope", 0.01), "[heavy_light] tol_slope", gt=0.0)
    try:
        slope = LambdaBarSlope(hs, kmax)
    except InvalidParameterError as exc:
        raise ConfigError(f"[heavy_light]: {exc}") from exc
    return (ExtraCondition("Lambda-bar ln(1/h) slope", slope, 0.0, tol),)


def configure_parser(parser: argparse.ArgumentParser) -> None:
    core.configure_parser(parser)


def main(args: argparse.Namespace) -> int:
    return core.main(args, SCHEMA, conditions)
