"""Lattice units <-> GeV. Internal quantities are in powers of 1/a (docs/physics.md section 1, (F1))."""

from __future__ import annotations

import math

from lfqcd.errors import InvalidParameterError

HBARC_GEV_FM = 0.1973269804  # GeV fm


def inverse_spacing_gev(a_fm: float) -> float:
    """``1/a`` in GeV for a lattice spacing in fm."""
    if not (math.isfinite(a_fm) and a_fm > 0):
        raise InvalidParameterError(f"lattice spacing must be a positive length in fm, got {a_fm}")
    return HBARC_GEV_FM / a_fm


def mass_to_gev(value: float, a_fm: float, power: float = 1.0) -> float:
    """Convert ``value`` with mass dimension ``power`` from lattice units to GeV^power."""
    return value * inverse_spacing_gev(a_fm) ** power


def check_units(G_lattice: float, a_fm: float, G_gev2: float, rtol: float = 1e-3) -> None:
    """Refuse a configuration whose lattice G, spacing and physical G disagree."""
    implied = mass_to_gev(G_lattice, a_fm, 2.0)
    if not math.isclose(implied, G_gev2, rel_tol=rtol):
        raise InvalidParameterError(
            f"inconsistent units: G = {G_lattice} (lattice units) with a = {a_fm} fm means "
            f"G = {implied:.5g} GeV^2, but the configuration says G = {G_gev2} GeV^2 "
            f"(fix one of them; a = {HBARC_GEV_FM * math.sqrt(G_lattice / G_gev2):.5g} fm "
            f"would be consistent)"
        )
