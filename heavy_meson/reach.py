"""How far the sector-0 counterterm can move Lambda-bar: the bracket test of the tuning.

``2 Lambda-bar(m0_sq)`` is the lowest eigenvalue of ``H_base + m0_sq O_m0`` with ``O_m0 >= 0``
supported on the zero-link sector. As a function of ``m0_sq`` it is increasing and concave
(the lowest eigenvalue of an operator linear in a parameter), and as ``m0_sq -> infinity`` the
zero-link sector decouples: ``Lambda-bar`` tends to the ground state of ``H`` restricted to the
states ``O_m0`` does not touch (the one-link threshold). :func:`lambda_bar_limit` computes that
supremum with one solve of the restricted block, so an unreachable target is reported at once
instead of after many Newton steps that creep towards an ever larger ``m0_sq``.
"""

from __future__ import annotations

import numpy as np

from heavy_meson.hamiltonian import HeavyLightModel
from lfqcd.couplings import Couplings
from lfqcd.eigen import solve


def lambda_bar_limit(model: HeavyLightModel, couplings: Couplings,
                     backend: str = "auto") -> float:
    """``sup Lambda-bar`` over ``m0_sq`` at these couplings (``inf`` when it cannot be bounded)."""
    O = model.pieces.pieces["m0_sq"].tocsr()
    untouched = np.flatnonzero((np.diff(O.indptr) == 0) & (np.diff(O.T.tocsr().indptr) == 0))
    if untouched.size < 2:
        return float("inf")
    H = model.hamiltonian(couplings, 0.0).tocsr()[untouched][:, untouched]
    res = solve(H, 1, backend="auto" if backend == "cupy" else backend, seed=0)
    return float(res.eigenvalues[0]) / 2.0
