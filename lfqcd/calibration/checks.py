"""Value checks of the calibration configuration, before any Hamiltonian is built.

The schema (sections and key names) is checked by :func:`lfqcd.calibration.cli.
load_calibration_config`; this module checks every value's type, range and finiteness so that a
bad value ends in one key-naming :class:`~lfqcd.errors.ConfigError` (exit status 2) instead of a
traceback from deep inside the least-squares fit. Unknown keys are left to the schema check.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lfqcd import validate as check
from lfqcd.couplings import CALIBRATION_PARAMS

#: (key, lower bound, strict) for numbers that must be positive / non-negative
_SETUP_POSITIVE = {"p_cov": 0.0, "string_h": 0.0, "string_kappa_max": 0.0}
_START_BOUNDS = {"G": (0.0, True), "mu": (0.0, True), "m": (0.0, True), "t_F": (0.0, False),
                 "t_NF": (0.0, False), "m_R_sq": (None, False),
                 "log_factor": (0.0, True)}


def check_values(raw: Mapping[str, Any]) -> None:
    """Raise :class:`~lfqcd.errors.ConfigError` naming the first invalid value of ``raw``."""
    setup = raw.get("setup", {})
    for key in ("k_values", "k_holdout"):
        if key in setup:
            ks = setup[key]
            if not isinstance(ks, list) or (key == "k_values" and len(ks) < 2):
                raise check.ConfigError(f"[setup] {key} must be a list of integer DLCQ resolutions"
                                        f"{' (at least two)' if key == 'k_values' else ''}, got {ks!r}")
            for k in ks:
                check.integer(k, f"[setup] {key}", ge=4)
    for key, low in _SETUP_POSITIVE.items():
        if key in setup:
            check.number(setup[key], f"[setup] {key}", gt=low)
    for key, value in raw.get("targets", {}).items():  # masses, f_pi, c2 and tolerances > 0
        check.number(value, f"[targets] {key}", gt=0.0)
    for key, value in raw.get("start", {}).items():
        low, strict = _START_BOUNDS.get(key, (None, False))
        if low is None:
            check.number(value, f"[start] {key}")
        elif strict:
            check.number(value, f"[start] {key}", gt=low)
        else:
            check.number(value, f"[start] {key}", ge=low)
    fit = raw.get("fit", {})
    if "max_nfev" in fit:
        check.integer(fit["max_nfev"], "[fit] max_nfev", ge=1)
    if "ftol" in fit:
        check.number(fit["ftol"], "[fit] ftol", gt=0.0)
    if "fixed" in fit:
        names = fit["fixed"]
        if not isinstance(names, list) or any(n not in CALIBRATION_PARAMS for n in names):
            raise check.ConfigError(f"[fit] fixed must list fit parameters "
                                    f"({', '.join(CALIBRATION_PARAMS)}), got {names!r}")
