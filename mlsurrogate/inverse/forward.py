"""The forward model of the inverse problem: fitted couplings -> simulator points -> observables.

One point ``theta`` (a dict over the fitted names) becomes the eight femtoworm couplings
(preset values, overridden by ``[couplings]`` fixed values and by ``theta``; ``t_NF = t_ratio
t_F`` and Lagrangian link swaps ``w = t t'/m^2`` (docs/physics.md (H12)-(H14)) unless those are fitted or
fixed), then one call per configured simulator. The simulators are import strings of the
simulator protocol (:mod:`lfqcd.simulator`), so the heavy-light solver of today
(``heavy_meson.simulator:simulate``) can be swapped for a renormalised one by editing the
configuration only.

The physical scale is set by the longitudinal string tension, ``1/a = sqrt(G_phys / G)`` with
``G_phys = 2 sigma / pi`` (docs/physics.md (F1), the calibration's convention). Derived observables
in GeV are added when their inputs are present:

* ``fB_GeV = fB_sqrtM (1/a)^{3/2} / sqrt(M_B)``,
* ``lambda_B_GeV = lambda_B / a``,
* ``fB2_rho2_GeV2 = fB_GeV^2 rho2`` (the combination that is bounded by ``P0 P1 <= 1/4``).

With ``[scale] lambda_bar_gev`` the heavy-light renormalisation target is fixed in GeV and
converted to lattice units at every point (``lambda_bar_target = lambda_bar_gev a``).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from scipy.stats import qmc

from lfqcd.couplings import COUPLING_NAMES, get_preset, lagrangian_swap_couplings
from lfqcd.errors import ConfigError, LFQCDError
from lfqcd.simulator import load_simulator
from mlsurrogate.inverse.config import InferConfig


class ForwardModel:
    """Evaluates the configured simulators at fitted-coupling points (see module docstring)."""

    def __init__(self, cfg: InferConfig) -> None:
        self.cfg = cfg
        self.names = cfg.names
        self.specs = [load_simulator(s.ref) for s in cfg.simulators]
        self.base = get_preset(cfg.preset).couplings.to_dict()
        self.n_calls = 0

    # -- coupling assembly --------------------------------------------------------------------
    def values(self, theta: Mapping[str, float]) -> dict[str, float]:
        """Couplings and every other fitted/fixed value at ``theta``."""
        given = {**self.cfg.fixed, **{k: float(v) for k, v in theta.items()}}
        vals = {**self.base, **given}
        if "t_NF" not in given and self.cfg.t_ratio is not None:
            vals["t_NF"] = self.cfg.t_ratio * vals["t_F"]
        if self.cfg.swaps == "lagrangian":
            swaps = lagrangian_swap_couplings(vals["t_F"], vals["t_NF"], vals["m"])
            vals.update({k: v for k, v in swaps.items() if k not in given})
        return vals

    def inverse_spacing_gev(self, G: float) -> float:
        """``1/a = sqrt(G_phys / G)``, ``G_phys = 2 sigma / pi`` (docs/physics.md (F1))."""
        return math.sqrt(2.0 * self.cfg.sqrt_sigma_gev**2 / math.pi / G)

    def points(self, theta: Mapping[str, float]) -> list[dict[str, Any]]:
        """The input point of each simulator at ``theta``."""
        vals = self.values(theta)
        inv_a = self.inverse_spacing_gev(vals["G"])
        out = []
        for entry, spec in zip(self.cfg.simulators, self.specs, strict=True):
            names = entry.inputs if entry.inputs is not None else COUPLING_NAMES
            missing = [n for n in names if n not in vals]
            if missing:
                raise ConfigError(f"simulator {entry.ref}: inputs {missing} are neither fitted "
                                  "([parameters]) nor fixed ([couplings])")
            point = {entry.rename.get(n, n): vals[n] for n in names}
            defaults = spec.defaults() or {}
            if (self.cfg.lambda_bar_gev is not None and "lambda_bar_target" in defaults
                    and "lambda_bar_target" not in entry.fixed):
                point["lambda_bar_target"] = self.cfg.lambda_bar_gev / inv_a
            point.update(entry.fixed)
            out.append(point)
        return out

    # -- evaluation ---------------------------------------------------------------------------
    def evaluate(self, theta: Mapping[str, float]) -> dict[str, float]:
        """Scalar observables (kept ones plus derived GeV ones) of every simulator at ``theta``."""
        obs: dict[str, float] = {}
        for entry, spec, point in zip(self.cfg.simulators, self.specs, self.points(theta),
                                      strict=True):
            res = spec.simulate(point)
            self.n_calls += 1
            keep = entry.observables or tuple(res.observables)
            absent = [k for k in keep if k not in res.observables]
            if absent:
                raise ConfigError(f"simulator {entry.ref} returned no observable(s) {absent}; "
                                  f"it has {sorted(res.observables)}")
            obs.update({k: float(res.observables[k]) for k in keep})
        return self.derived(obs, self.values(theta)["G"])

    def derived(self, obs: dict[str, float], G: float) -> dict[str, float]:
        inv_a = self.inverse_spacing_gev(G)
        out = dict(obs)
        if "fB_sqrtM" in obs:
            out["fB_GeV"] = obs["fB_sqrtM"] * inv_a**1.5 / math.sqrt(self.cfg.M_B_gev)
        if "lambda_B" in obs:
            out["lambda_B_GeV"] = obs["lambda_B"] * inv_a
        if "fB_sqrtM" in obs and "rho2" in obs:
            out["fB2_rho2_GeV2"] = out["fB_GeV"] ** 2 * obs["rho2"]
        return out

    def design(self, n: int, seed: int, progress: Callable[[str], None] | None = None
               ) -> tuple[np.ndarray, np.ndarray, list[str], int]:
        """``n`` scrambled-Sobol' points in the prior box, solved: (X, Y, output names, failed)."""
        lo, hi = self.bounds()
        u = sobol(len(self.names), n, seed)
        X = lo + u * (hi - lo)
        rows: list[dict[str, float]] = []
        keep: list[int] = []
        failed = 0
        for i, x in enumerate(X):
            try:
                rows.append(self.evaluate(dict(zip(self.names, x, strict=True))))
                keep.append(i)
            except (LFQCDError, RuntimeError, ArithmeticError):
                failed += 1
            if progress and (i + 1) % max(1, n // 8) == 0:
                progress(f"  design: {i + 1}/{n} points solved ({failed} failed)")
        if not rows:
            raise LFQCDError("every design point failed in the simulator; check the prior box")
        out_names = sorted(set.intersection(*(set(r) for r in rows)))
        Y = np.array([[r[k] for k in out_names] for r in rows])
        return X[keep], Y, out_names, failed

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        box = np.array([self.cfg.parameters[n] for n in self.names], dtype=float)
        return box[:, 0], box[:, 1]




def sobol(d: int, n: int, seed: int) -> np.ndarray:
    """``n`` scrambled Sobol' points in the unit cube (scipy warns when ``n`` is not a power of
    two: the first ``n`` points of the sequence are still a valid, if less balanced, design)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return qmc.Sobol(d, scramble=True, seed=seed).random(n)
