"""Typed, validated transverse-lattice couplings and named presets.

All couplings are in **lattice units** (powers of ``1/a``), the internal unit system of the
project; :mod:`lfqcd.units` converts to GeV with the lattice spacing of a run. Names follow the
femtoworm operator of docs/physics.md (H1):

===========  ======================================================================
``G``        't Hooft-normalised longitudinal coupling (mass^2), docs/physics.md (H4)
``m``        light-quark kinetic mass (sector 1; the renormalised mass), C.3
``mu``       link mass, C.3
``t_F``      helicity-flip single-link emission ("vector" hop), C.4
``t_NF``     helicity-non-flip single-link emission (Wilson-type hop), C.4
``w_FF``     instantaneous link swap, flip x flip, C.5a
``w_NN``     instantaneous link swap, non-flip x non-flip, C.5a
``w_FN``     instantaneous link swap, mixed, C.5a
===========  ======================================================================

The sector-0 kinetic mass ``m_0^2`` is *not* a coupling here: it is the renormalisation
counterterm of docs/physics.md section 6, fixed per resolution by a renormalisation condition
(``heavy_meson.renormalization``).
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Mapping, Sequence
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


def self_energy_log_coefficient(t_F: float, t_NF: float, m: float,
                                log_factor: float = 1.0) -> float:
    r"""``c = log_factor 4 (t_F^2 + t_NF^2) / m^2``: coefficient of the small-momentum log of
    the second-order quark self-energy, ``Sigma(p) -> -(c/p) ln(p / delta p)`` (docs/physics.md
    (R3); ``log_factor`` is the calibrated factor of (R10), 1 for the leading-order derivation).

    Four link directions, flip and non-flip vertices ``|V|^2 -> (t_F^2 + t_NF^2)/(p p_q^2)``
    against the energy denominator ``m^2 / p_q`` of the sector-1 quark (mass ``m``).
    """
    if not m > 0:
        raise InvalidParameterError(f"the self-energy log needs a quark mass m > 0, got {m}")
    return log_factor * 4.0 * (t_F**2 + t_NF**2) / m**2


def lagrangian_swap_couplings(t_F: float, t_NF: float, m_V: float) -> dict[str, float]:
    """Link-swap couplings implied by the Lagrangian (docs/physics.md (H12)-(H14)): w = t t' / m_V^2."""
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
    #: renormalised light-quark mass of the cell-log counterterm (docs/physics.md (R4)); ``None``
    #: when the preset was not calibrated with it (then only the Lambda-bar scheme applies)
    m_R_sq: float | None = None
    #: fitted parameters (order :data:`CALIBRATION_PARAMS`) and their covariance, for the
    #: calibration part of the error budget; ``None`` for hand-set presets
    fit_values: tuple[float, ...] | None = None
    covariance: tuple[tuple[float, ...], ...] | None = None
    #: string tension that sets the scale, G_phys = 2 sigma / pi (GeV)
    sqrt_sigma_GeV: float = 0.44
    #: factor of the derived self-energy log coefficient, c = log_factor 4 (t_F^2 + t_NF^2)/m^2
    #: (docs/physics.md (R10)); 1 is the leading-order derivation
    log_factor: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["couplings"] = self.couplings.to_dict()
        return d


_ILLUSTRATIVE = Couplings(G=1.0, m=0.5, mu=1.2, t_F=0.5, t_NF=0.3,
                          **lagrangian_swap_couplings(0.5, 0.3, 0.5))

#: order of the calibrated parameters in :attr:`Preset.fit_values` and :attr:`Preset.covariance`
CALIBRATION_PARAMS = ("G", "mu", "m", "m_R_sq", "t_F", "t_NF", "log_factor")


def couplings_from_fit(values: Sequence[float]) -> tuple[Couplings, float, float]:
    """(couplings, m_R_sq, log_factor) from calibrated parameters ordered as
    :data:`CALIBRATION_PARAMS` (link swaps Lagrangian-consistent with the vertex mass m_V = m,
    physics C.5a; ``log_factor`` multiplies the derived self-energy log coefficient)."""
    G, mu, m, m_R_sq, t_F, t_NF, log_factor = (float(v) for v in values)
    return Couplings(G=G, m=m, mu=mu, t_F=t_F, t_NF=t_NF,
                     **lagrangian_swap_couplings(t_F, t_NF, m)), m_R_sq, log_factor


#: `lfqcd calibrate runs/calibrate.toml` result (CALIBRATION_PARAMS order) and its covariance
_CAL_FIT = (1.1751038305784758, 1.1142356878580448, 0.987950309319465, 10.010156945631547,
            0.9866841477298299, 1.2265753443732288, 1.4221364271660848)
_CAL_COV = (
    (0.06039799223405193, 0.07563663791020112, -0.015490868058166216, -0.1438124671180824,
     -0.0194996106468431, 0.019565430844987002, -0.06795386153804321),
    (0.0756366379101984, 0.09588649579694333, -0.02000811262472305, -0.17907707208137955,
     -0.024215750778022797, 0.024002140657646113, -0.08618490898064647),
    (-0.015490868058154557, -0.020008112624709064, 0.004762617337234794, 0.03464331241492896,
     0.005161707409799128, -0.004476235982143176, 0.01832721009096686),
    (-0.14381246712011214, -0.17907707208395485, 0.034643312415495175, 0.9731825838929827,
     0.08262151724915232, -0.012905301603184914, 0.1597663312139386),
    (-0.019499610646942677, -0.024215750778149754, 0.005161707409829397, 0.08262151724872414,
     0.009405323909891603, -0.005013785721211076, 0.022326674925642814),
    (0.01956543084486671, 0.02400214065749485, -0.004476235982115055, -0.012905301602245112,
     -0.005013785721139646, 0.009700160301497467, -0.02179002300927695),
    (-0.06795386153802685, -0.08618490898062903, 0.018327210090975824, 0.15976633121158315,
     0.022326674925523784, -0.021790023009408903, 0.07790022034134123),
)
_CAL_SQRT_SIGMA = 0.44
_CALIBRATED, _CAL_M_R_SQ, _CAL_LOG_FACTOR = couplings_from_fit(_CAL_FIT)
_CAL_INV_A_GEV = math.sqrt(2 * _CAL_SQRT_SIGMA**2 / math.pi / _CALIBRATED.G)  # sqrt(G_phys / G)

PRESETS: dict[str, Preset] = {
    "calibrated": Preset(
        name="calibrated",
        couplings=_CALIBRATED,
        lattice_spacing_fm=0.1973269804 / _CAL_INV_A_GEV,
        # the alternative (lambda_bar) scheme's input: 0.555 GeV (FNAL/MILC/TUMQCD, MRS)
        lambda_bar_target=0.555 / _CAL_INV_A_GEV,
        m_R_sq=_CAL_M_R_SQ,
        log_factor=_CAL_LOG_FACTOR,
        fit_values=_CAL_FIT,
        covariance=_CAL_COV,
        sqrt_sigma_GeV=_CAL_SQRT_SIGMA,
        provenance=(
            "Fitted by `lfqcd calibrate runs/calibrate.toml` (docs/physics.md section 8): G, mu, "
            "m, the renormalised light-quark mass m_R_sq, t_F, t_NF and log_factor (the factor "
            "of the self-energy log coefficient, c = log_factor 4 (t_F^2 + t_NF^2)/m^2, (R10)) "
            "by least squares to sigma_T = sigma_L (sqrt(sigma) = 0.44 GeV), m_pi, m_rho, f_pi, "
            "covariance of the pion dispersion relation along the axis and the diagonal, the "
            "rho's j_z = 0/1 degeneracy (weak), every light-light observable at K = 28, 32, 40, "
            "48 extrapolated in 1/K and held near its K -> inf value (resolution-stability "
            "residuals), and no ln(1/h) trend of the heavy-light Lambda-bar at kappa_max = 12, "
            "h = 0.4 ... 0.15 (the slope only); link swaps Lagrangian-consistent with m_V = m. "
            "Fit status: success=True (`ftol` termination condition is satisfied.); residuals/tol "
            "sigma_T/sigma_L -0.18, m_pi +0.33, m_rho +0.18, f_pi -0.75, c_T^2 axis -0.36, c_T^2 "
            "diagonal -0.30, rho jz=0/1 +2.86, Lambda-bar slope -0.27; log_factor = 1.42(28), "
            "c = 14.44, a = 0.6093 fm; resolution stability met at K = 24 ... 48 and the held-out "
            "K = 64 (max |M^2(K) - M^2(inf)|/m_rho^2 = 0.048), not at K = 16 (0.093)."
        ),
    ),
    "illustrative": Preset(
        name="illustrative",
        couplings=_ILLUSTRATIVE,
        # a sqrt(G) = 1 in lattice units with sqrt(G) = 0.35 GeV (sqrt(sigma_L) = 0.44 GeV,
        # sigma_L = pi G / 2): a = 1 / 0.35 GeV^-1 = 0.5638 fm (docs/physics.md (F1)).
        lattice_spacing_fm=0.1973269804 / 0.35,
        lambda_bar_target=0.8,
        sqrt_sigma_GeV=0.35 * math.sqrt(math.pi / 2),  # sigma = pi G_phys / 2, G_phys = 0.35^2
        provenance=(
            "Hand-set illustrative couplings of docs/physics.md section 6 (m = 0.5, mu = 1.2, t_F = 0.5, "
            "t_NF = 0.3 in units a sqrt(G) = 1; link swaps Lagrangian-consistent with m_V = m, "
            "docs/physics.md (H12)-(H14)), renormalised by fixing Lambda-bar = 0.8 sqrt(G) as in the "
            "section 6 example. Not fitted to data."
        ),
    ),
}


def get_preset(name: str) -> Preset:
    """A named preset; the error lists the available names."""
    try:
        return PRESETS[name]
    except (KeyError, TypeError):  # TypeError: not a name at all (e.g. a list from a config)
        raise InvalidParameterError(
            f"unknown coupling preset {name!r}; available: {', '.join(sorted(PRESETS))}"
        ) from None
