"""Typed, validated transverse-lattice couplings and named presets.

All couplings are in **lattice units** (powers of ``1/a``), the internal unit system of the
project; :mod:`lfqcd.units` converts to GeV with the lattice spacing of a run. Names follow the
femtoworm operator of physics.md D.3:

===========  ======================================================================
``G``        't Hooft-normalised longitudinal coupling (mass^2), physics.md C.2
``m``        light-quark kinetic mass (sector 1; the renormalised mass), C.3
``mu``       link mass, C.3
``t_F``      helicity-flip single-link emission ("vector" hop), C.4
``t_NF``     helicity-non-flip single-link emission (Wilson-type hop), C.4
``w_FF``     instantaneous link swap, flip x flip, C.5a
``w_NN``     instantaneous link swap, non-flip x non-flip, C.5a
``w_FN``     instantaneous link swap, mixed, C.5a
===========  ======================================================================

The sector-0 kinetic mass ``m_0^2`` is *not* a coupling here: it is the renormalisation
counterterm of physics.md K, fixed per resolution by a renormalisation condition
(``heavy_meson.renormalization``).
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Mapping
from typing import Any

from lfqcd.errors import InvalidParameterError

COUPLING_NAMES = ("G", "m", "mu", "t_F", "t_NF", "w_FF", "w_NN", "w_FN")
_NONNEGATIVE = ("G", "m", "mu")


@dataclasses.dataclass(frozen=True)
class Couplings:
    """One point in coupling space (lattice units). Validated on construction."""

    G: float = 1.0
    m: float = 0.5
    mu: float = 1.2
    t_F: float = 0.0
    t_NF: float = 0.0
    w_FF: float = 0.0
    w_NN: float = 0.0
    w_FN: float = 0.0

    def __post_init__(self) -> None:
        for name in COUPLING_NAMES:
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, numbers.Real):
                raise InvalidParameterError(f"coupling {name} must be a number, got {v!r}")
            if not math.isfinite(v):
                raise InvalidParameterError(f"coupling {name} must be finite, got {v}")
            if name in _NONNEGATIVE and v < 0:
                raise InvalidParameterError(f"coupling {name} must be >= 0, got {v}")
        if self.mu == 0 and (self.t_F or self.t_NF):
            raise InvalidParameterError(
                "link mass mu = 0 with non-zero hopping: the one-link sector has no mass gap "
                "(mu^2/kappa_L term) and the spectrum is unbounded in the continuum; use mu > 0"
            )

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> Couplings:
        """Build from a dict, refusing unknown names (a typo must not be silently ignored)."""
        unknown = sorted(set(values) - set(COUPLING_NAMES))
        if unknown:
            raise InvalidParameterError(
                f"unknown coupling name(s) {unknown}; known: {', '.join(COUPLING_NAMES)}"
            )
        return cls(**{k: _as_float(k, v) for k, v in values.items()})

    def replace(self, **changes: float) -> Couplings:
        return Couplings.from_mapping({**self.to_dict(), **changes})

    def to_dict(self) -> dict[str, float]:
        return dataclasses.asdict(self)



def _as_float(name: str, v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        raise InvalidParameterError(f"coupling {name} must be a number, got {v!r}")
    return float(v)


def lagrangian_swap_couplings(t_F: float, t_NF: float, m_V: float) -> dict[str, float]:
    """Link-swap couplings implied by the Lagrangian (physics.md C.5a): w = t t' / m_V^2."""
    if not m_V > 0:
        raise InvalidParameterError(f"vertex mass m_V must be > 0, got {m_V}")
    return {"w_FF": t_F**2 / m_V**2, "w_NN": t_NF**2 / m_V**2, "w_FN": t_F * t_NF / m_V**2}


@dataclasses.dataclass(frozen=True)
class Preset:
    """A named coupling set with its provenance and the units/renormalisation it was made for."""

    name: str
    couplings: Couplings
    lattice_spacing_fm: float
    lambda_bar_target: float | None
    provenance: str

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["couplings"] = self.couplings.to_dict()
        return d


_ILLUSTRATIVE = Couplings(G=1.0, m=0.5, mu=1.2, t_F=0.5, t_NF=0.3,
                          **lagrangian_swap_couplings(0.5, 0.3, 0.5))

_CAL_T_F, _CAL_T_NF, _CAL_M = 1.898788, 2.848182, 1.395401
_CALIBRATED = Couplings(G=2.262629, m=_CAL_M, mu=2.443760, t_F=_CAL_T_F, t_NF=_CAL_T_NF,
                        **lagrangian_swap_couplings(_CAL_T_F, _CAL_T_NF, _CAL_M))
_CAL_INV_A_GEV = 0.2333920  # sqrt(G_phys / G) with G_phys = 2 (0.44 GeV)^2 / pi

PRESETS: dict[str, Preset] = {
    "calibrated": Preset(
        name="calibrated",
        couplings=_CALIBRATED,
        lattice_spacing_fm=0.1973269804 / _CAL_INV_A_GEV,  # 0.8455 fm
        # renormalisation of the heavy-light sector-0 counterterm: Lambda-bar = 0.555 GeV
        # (FNAL/MILC/TUMQCD, MRS scheme, physics.md H) in lattice units
        lambda_bar_target=0.555 / _CAL_INV_A_GEV,
        provenance=(
            "Fitted by `lfqcd calibrate runs/calibrate.toml` (physics.md F): G, mu, m, the "
            "light-light sector-0 counterterm (m0_sq = 48.98 at K = 12) and t_F by least squares "
            "to sigma_T = sigma_L (sqrt(sigma) = 0.44 GeV), m_pi = 0.14 GeV, m_rho = 0.77 GeV, "
            "f_pi = 0.130 GeV and covariance of the pion dispersion relation (c_T^2 = 1 along an "
            "axis at |P| = 0.3/a; the diagonal gives 1.004); t_NF = 1.5 t_F, link swaps "
            "Lagrangian-consistent with m_V = m. All five conditions met (residuals < 1e-10); "
            "fit errors G 0.23, mu 0.30, m 0.17, t_F 0.17 (see calibration.json). Heavy-light "
            "counterterm fixed by Lambda-bar = 0.555 GeV."
        ),
    ),
    "illustrative": Preset(
        name="illustrative",
        couplings=_ILLUSTRATIVE,
        # a sqrt(G) = 1 in lattice units with sqrt(G) = 0.35 GeV (sqrt(sigma_L) = 0.44 GeV,
        # sigma_L = pi G / 2): a = 1 / 0.35 GeV^-1 = 0.5638 fm (physics.md F.1, K).
        lattice_spacing_fm=0.197327 / 0.35,
        lambda_bar_target=0.8,
        provenance=(
            "Hand-set illustrative couplings of physics.md K (m = 0.5, mu = 1.2, t_F = 0.5, "
            "t_NF = 0.3 in units a sqrt(G) = 1; link swaps Lagrangian-consistent with m_V = m, "
            "physics.md C.5a), renormalised by fixing Lambda-bar = 0.8 sqrt(G) as in the K "
            "example. Not fitted to data."
        ),
    ),
}


def get_preset(name: str) -> Preset:
    """A named preset; the error lists the available names."""
    try:
        return PRESETS[name]
    except KeyError:
        raise InvalidParameterError(
            f"unknown coupling preset {name!r}; available: {', '.join(sorted(PRESETS))}"
        ) from None
