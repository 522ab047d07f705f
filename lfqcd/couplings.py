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


def self_energy_log_coefficient(t_F: float, t_NF: float, m: float) -> float:
    r"""``c = 4 (t_F^2 + t_NF^2) / m^2``: coefficient of the small-momentum log of the
    second-order quark self-energy, ``Sigma(p) -> -(c/p) ln(p / delta p)`` (docs/physics.md (R3)).

    Four link directions, flip and non-flip vertices ``|V|^2 -> (t_F^2 + t_NF^2)/(p p_q^2)``
    against the energy denominator ``m^2 / p_q`` of the sector-1 quark (mass ``m``).
    """
    if not m > 0:
        raise InvalidParameterError(f"the self-energy log needs a quark mass m > 0, got {m}")
    return 4.0 * (t_F**2 + t_NF**2) / m**2


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

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["couplings"] = self.couplings.to_dict()
        return d


_ILLUSTRATIVE = Couplings(G=1.0, m=0.5, mu=1.2, t_F=0.5, t_NF=0.3,
                          **lagrangian_swap_couplings(0.5, 0.3, 0.5))

#: order of the calibrated parameters in :attr:`Preset.fit_values` and :attr:`Preset.covariance`
CALIBRATION_PARAMS = ("G", "mu", "m", "m_R_sq", "t_F", "t_NF")


def couplings_from_fit(values: tuple[float, ...] | list[float]) -> tuple[Couplings, float]:
    """(couplings, m_R_sq) from calibrated parameters ordered as :data:`CALIBRATION_PARAMS`
    (link swaps Lagrangian-consistent with the vertex mass m_V = m, physics C.5a)."""
    G, mu, m, m_R_sq, t_F, t_NF = (float(v) for v in values)
    return Couplings(G=G, m=m, mu=mu, t_F=t_F, t_NF=t_NF,
                     **lagrangian_swap_couplings(t_F, t_NF, m)), m_R_sq


#: `lfqcd calibrate runs/calibrate.toml` result (CALIBRATION_PARAMS order) and its covariance
_CAL_FIT = (1.5827205504850774, 1.62421589170588, 0.9169989725627665,
            10.374776196062555, 0.9848524711023923, 1.4213910747135463)
_CAL_COV = (
    (0.005886073068036542, 0.0050914235303059574, 0.0036420082742881017,
     0.0023766511423418185, 0.002008734591788326, 0.005636708276416182),
    (0.005091423530306798, 0.005536679927920486, 0.003633784967737449,
     -0.00041570110568512296, 0.0021957432370691247, 0.005003861726442224),
    (0.003642008274286362, 0.003633784967735031, 0.002712245138177116,
     0.00662617801087506, 0.0016286185958172374, 0.0044051821236433565),
    (0.002376651142115632, -0.0004157011059302499, 0.006626178010713278,
     0.6122207246054804, 0.030270640723559096, 0.049922845731285644),
    (0.0020087345917771874, 0.002195743237056719, 0.0016286185958100134,
     0.03027064072365682, 0.0024826000773795747, 0.004164843711835797),
    (0.005636708276398865, 0.00500386172642277, 0.004405182123632738,
     0.049922845731510734, 0.004164843711839432, 0.010311761878161612),
)
_CAL_SQRT_SIGMA = 0.44
_CALIBRATED, _CAL_M_R_SQ = couplings_from_fit(_CAL_FIT)
_CAL_INV_A_GEV = math.sqrt(2 * _CAL_SQRT_SIGMA**2 / math.pi / _CALIBRATED.G)  # sqrt(G_phys / G)

PRESETS: dict[str, Preset] = {
    "calibrated": Preset(
        name="calibrated",
        couplings=_CALIBRATED,
        lattice_spacing_fm=0.1973269804 / _CAL_INV_A_GEV,
        # the alternative (lambda_bar) scheme's input: 0.555 GeV (FNAL/MILC/TUMQCD, MRS)
        lambda_bar_target=0.555 / _CAL_INV_A_GEV,
        m_R_sq=_CAL_M_R_SQ,
        fit_values=_CAL_FIT,
        covariance=_CAL_COV,
        sqrt_sigma_GeV=_CAL_SQRT_SIGMA,
        provenance=(
            "Fitted by `lfqcd calibrate runs/calibrate.toml` (docs/physics.md section K): G, mu, "
            "m, the renormalised light-quark mass m_R_sq, t_F and t_NF by least squares to "
            "sigma_T = sigma_L (sqrt(sigma) = 0.44 GeV), m_pi, m_rho, f_pi, covariance of the pion "
            "dispersion relation along the axis and the diagonal and the rho's j_z = 0/1 "
            "degeneracy (weak), every light-light observable at K = 16, 20, 24 extrapolated in 1/K and "
            "held near its K -> inf value (resolution-stability residuals); "
            "link swaps Lagrangian-consistent with m_V = m; self-energy log coefficient "
            "c = 4 (t_F^2 + t_NF^2)/m^2. "
            "Fit status: success=True (`ftol` termination condition is satisfied.); residuals/tol "
            "sigma_T/sigma_L +0.01, m_pi +0.00, m_rho +0.54, f_pi -0.61, c_T^2 axis -0.20, c_T^2 "
            "diagonal -0.09, rho jz=0/1 +3.44; a = 0.7071 fm; resolution stability NOT met (max "
            "|M^2(K) - M^2(inf)|/m_rho^2 = 0.065 over the fit K)."
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
    except KeyError:
        raise InvalidParameterError(
            f"unknown coupling preset {name!r}; available: {', '.join(sorted(PRESETS))}"
        ) from None
