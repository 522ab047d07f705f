r"""The 't Hooft model (zero-link sector) as the first Hamiltonians of the core (docs/physics.md section 10).

Both equations use the same basis/operator code as the transverse-lattice models, with the
hoppings switched off and the link number capped at zero:

* light-light (two dynamical quarks, DLCQ resolution ``K``, fractions ``x``):
  .. math:: M^2\phi(x) = \Big[\frac{m_1^2}{x} + \frac{m_2^2}{1-x}\Big]\phi(x)
            + G\int_0^1 dy\,\frac{\phi(x)-\phi(y)}{(x-y)^2}
* heavy-light (static source, grid spacing ``h``, cutoff ``kappa_max``):
  .. math:: 2\bar\Lambda\,\phi(k) = \Big[k + \frac{m^2}{k}\Big]\phi(k)
            + G\int_0^\infty dk'\,\frac{\phi(k)-\phi(k')}{(k-k')^2}

Spin plays no role in either, so the bases are built without helicity labels.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from lfqcd.basis import ChainBasis, dlcq_basis, static_basis
from lfqcd.eigen import EigResult, solve
from lfqcd.errors import InvalidParameterError
from lfqcd.hamiltonian import PieceSum
from lfqcd.operators import coulomb, inverse_momentum, light_momentum


def _check_nonneg(**values: float) -> None:
    for name, v in values.items():
        # numbers.Real admits NumPy scalars (np.int64 from np.arange, np.float32); bool is refused
        if isinstance(v, bool) or not (isinstance(v, numbers.Real) and math.isfinite(v)):
            raise InvalidParameterError(f"{name} must be a finite number, got {v!r}")
        if v < 0:
            raise InvalidParameterError(f"{name} must be >= 0, got {v}")


def _check_levels(n_states: int, dim: int, grid: str) -> None:
    if isinstance(n_states, bool) or not isinstance(n_states, numbers.Integral) or n_states < 1:
        raise InvalidParameterError(f"n_states must be a positive integer, got {n_states!r}")
    if n_states >= dim:
        raise InvalidParameterError(
            f"grid too coarse: {grid} gives only {dim} momentum point(s), too few for "
            f"n_states={n_states} levels; refine the grid"
        )


def light_light_pieces(k_total: int) -> tuple[ChainBasis, PieceSum]:
    """Basis and pieces ``{"m1_sq": 1/x_q, "m2_sq": 1/x_qbar, "G": Coulomb}`` at resolution K."""
    basis = dlcq_basis(k_total, max_links=0, spin=False)
    pieces = {
        "m1_sq": inverse_momentum(basis, "quark"),
        "m2_sq": inverse_momentum(basis, "antiquark"),
        "G": coulomb(basis),
    }
    return basis, PieceSum(pieces)


def light_light_spectrum(
    k_total: int, m1: float, m2: float, G: float = 1.0, n_states: int = 4, backend: str = "auto"
) -> EigResult:
    """Lowest ``M^2`` eigenvalues of the light-light 't Hooft equation at DLCQ resolution K."""
    _check_nonneg(m1=m1, m2=m2, G=G)
    basis, ps = light_light_pieces(k_total)
    _check_levels(n_states, basis.dim, f"DLCQ resolution K={k_total}")
    H = ps.combine({"m1_sq": m1 * m1, "m2_sq": m2 * m2, "G": G})
    return solve(H, n_states, backend=backend)


def heavy_light_pieces(h: float, kappa_max: float) -> tuple[ChainBasis, PieceSum]:
    """Basis and pieces ``{"kinetic": kappa, "m_sq": 1/kappa, "G": Coulomb}`` (static source)."""
    basis = static_basis(h, kappa_max, max_links=0, spin=False)
    pieces = {
        "kinetic": light_momentum(basis),
        "m_sq": inverse_momentum(basis, "quark"),
        "G": coulomb(basis),
    }
    return basis, PieceSum(pieces)


def heavy_light_spectrum(
    h: float, kappa_max: float, m: float, G: float = 1.0, n_states: int = 3,
    backend: str = "auto",
) -> tuple[np.ndarray, EigResult, ChainBasis]:
    """Binding energies ``Lambda-bar_n`` (= eigenvalue/2) of the static heavy-light equation.

    Returns ``(lambda_bar, eig_result, basis)``; the eigenvectors are grid coefficients
    ``c_i = phi(kappa_i) sqrt(h)`` on ``kappa_i = (i - 1/2) h``.
    """
    _check_nonneg(m=m, G=G)
    basis, ps = heavy_light_pieces(h, kappa_max)
    _check_levels(n_states, basis.dim, f"h={h} with kappa_max={kappa_max}")
    res = solve(ps.combine({"kinetic": 1.0, "m_sq": m * m, "G": G}), n_states, backend=backend)
    return res.eigenvalues / 2.0, res, basis
