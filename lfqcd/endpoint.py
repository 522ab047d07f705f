r"""End-point exponents of the light-front operator and the bound on the link mass.

Near the end point ``k -> 0`` of one parton (its colour partners at finite momentum) the
operator is scale free: its kinetic mass ``M^2/k`` and the subtracted longitudinal-gluon
kernel (docs/physics.md (H4)-(H5)) both scale like ``1/k``, so the wave function behaves like
``k^beta`` with ``beta`` fixed by one equation per parton kind (docs/physics.md (R13)-(R15)):

* a quark (``F = 1``) with one colour partner, the 't Hooft condition
  ``pi beta cot(pi beta) = 1 - m^2 / G``: real ``beta >= 0`` for ``m^2 >= 0``;
* a link (``F(k, k') = (k + k') / (2 sqrt(k k'))``) with ``n`` colour partners (two: its two
  ends), ``pi beta tan(pi beta) = mu^2 / (n G) - 1``: real ``beta`` in ``[0, 1/2)`` only for
  ``mu^2 >= n G``.

Below the bound the exponent is imaginary, ``beta = i nu``: the wave function oscillates in
``ln k`` (period ``pi / nu`` in ``ln k``) and the end point "falls to the centre", so
energies keep falling as the grid is refined (no continuum limit: measured in
docs/physics.md (R15)). :func:`endpoint_report` gives both exponents of a coupling set for
``results.json`` and the calibration record.
"""

from __future__ import annotations

import math
from typing import Any

from scipy.optimize import brentq

from lfqcd.couplings import Couplings
from lfqcd.errors import InvalidParameterError

#: colour partners of a link: the partons at its two ends (docs/physics.md (R14))
LINK_PARTNERS = 2


def _check(G: float, **masses: float) -> None:
    if not (math.isfinite(G) and G > 0):
        raise InvalidParameterError(f"the end-point exponents need G > 0, got G={G!r}")
    for name, v in masses.items():
        if not math.isfinite(v):
            raise InvalidParameterError(f"{name} must be finite, got {v!r}")


def _root(f, lo: float, hi: float) -> float:
    return float(brentq(f, lo, hi, xtol=1e-14, rtol=1e-13))


def _solve_increasing(g, target: float, lo: float) -> float:
    """``x >= lo`` with ``g(x) = target`` for ``g`` increasing and unbounded (bracket grown)."""
    hi = lo + 1.0
    while g(hi) < target:
        hi *= 2.0
    return _root(lambda x: g(x) - target, lo, hi)


def quark_exponent(m_sq: float, G: float) -> complex:
    r"""End-point exponent of a quark with one colour partner (docs/physics.md (R13)):
    ``pi beta cot(pi beta) = 1 - m^2/G``. Real ``beta`` in ``[0, 1)`` for ``m^2 >= 0``; for
    ``m^2 < 0`` the purely imaginary ``i nu`` with ``pi nu coth(pi nu) = 1 - m^2/G``."""
    _check(G, m_sq=m_sq)
    x = 1.0 - m_sq / G
    if m_sq >= 0.0:
        if x >= 1.0:
            return 0.0 + 0.0j
        # pi b cot(pi b) falls from 1 (b = 0) to -inf (b -> 1)
        return complex(_root(lambda b: math.pi * b / math.tan(math.pi * b) - x, 1e-15, 1 - 1e-15))
    nu = _solve_increasing(lambda v: math.pi * v / math.tanh(math.pi * v) if v > 0 else 1.0, x, 0.0)
    return complex(0.0, nu)


def link_exponent(mu_sq: float, G: float, partners: int = LINK_PARTNERS) -> complex:
    r"""End-point exponent of a link with ``partners`` colour partners (docs/physics.md (R14)):
    ``pi beta tan(pi beta) = mu^2/(n G) - 1``. Real ``beta`` in ``[0, 1/2)`` for ``mu^2 >= n G``;
    below, ``i nu`` with ``pi nu tanh(pi nu) = 1 - mu^2/(n G)`` (fall to the centre)."""
    _check(G, mu_sq=mu_sq)
    if partners < 1:
        raise InvalidParameterError(f"a link has at least one colour partner, got {partners!r}")
    x = mu_sq / (partners * G) - 1.0
    if x >= 0.0:
        if x == 0.0:
            return 0.0 + 0.0j
        return complex(_root(lambda b: math.pi * b * math.tan(math.pi * b) - x, 0.0, 0.5 - 1e-15))
    nu = _solve_increasing(lambda v: math.pi * v * math.tanh(math.pi * v), -x, 0.0)
    return complex(0.0, nu)


def link_mass_bound(G: float, partners: int = LINK_PARTNERS) -> float:
    """The smallest ``mu^2`` with a real link end-point exponent: ``n G`` (docs/physics.md (R14))."""
    _check(G)
    return partners * G


def _exponent_dict(beta: complex) -> dict[str, Any]:
    real = beta.imag == 0.0
    return {
        "beta": beta.real if real else None,
        "nu": None if real else beta.imag,
        "log_period": None if real else math.pi / beta.imag,
        "falls_to_centre": not real,
    }


def endpoint_report(couplings: Couplings) -> dict[str, Any]:
    """The end-point exponents of ``couplings`` (sector-1 quark, mass ``m``; link, mass ``mu``)
    and the link-mass bound, for result records (docs/physics.md (R13)-(R15))."""
    c = couplings
    bound = link_mass_bound(c.G)
    return {
        "link": {"mu_sq": c.mu**2, "bound_mu_sq": bound, "mu_sq_over_bound": c.mu**2 / bound,
                 **_exponent_dict(link_exponent(c.mu**2, c.G))},
        "quark": {"m_sq": c.m**2, **_exponent_dict(quark_exponent(c.m**2, c.G))},
        "equations": "docs/physics.md (R13)-(R15)",
    }
