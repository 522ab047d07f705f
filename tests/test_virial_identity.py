r"""Grid virial identity, docs/physics.md (R7): ``<kappa_tot> - Lambda-bar = d Lambda-bar / d ln h``
at fixed ``N = kappa_max / h``.

In cell-index space every non-recoil piece of the heavy-light operator scales exactly as ``1/h``
and the recoil ``kappa_tot`` as ``h``, also with a sector-0 counterterm that depends only on the
quark's cell index (constant ``m_0^2`` or the renormalised-quark ``m_R^2 + c ln(n - 1/2)``,
(R4)); Hellmann-Feynman then gives the identity exactly. The test compares the virial mismatch of
the ground state with a central finite difference of ``Lambda-bar`` in ``ln h``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from lfqcd import operators as ops
from lfqcd.basis import static_basis
from lfqcd.couplings import get_preset
from lfqcd.symmetry import jz_isometry

N_GRID = 12


def _ground_state(h: float, m0_sq: float, c_log: float) -> tuple[float, float]:
    """(Lambda-bar, <kappa_tot> - Lambda-bar) of the j_z = 1/2 ground state at spacing h."""
    b = static_basis(h, N_GRID * h, max_links=1)
    c = get_preset("illustrative").couplings
    s0 = b.nlinks == 0
    kq = b.kappa_quark()
    log_ct = np.where(s0, np.log(b.quark_mom - 0.5) / kq, 0.0)  # (R4): c ln(n - 1/2) / kappa_q
    H = (ops.light_momentum(b) + m0_sq * ops.inverse_momentum(b, "quark", sector=0)
         + c.m**2 * ops.inverse_momentum(b, "quark", sector=1)
         + c.mu**2 * ops.inverse_momentum(b, "links") + c.G * ops.coulomb(b)
         + c.t_F * ops.link_emission(b, True) + c.t_NF * ops.link_emission(b, False)
         + c.w_FF * ops.link_swap(b, "FF") + c.w_NN * ops.link_swap(b, "NN")
         + c.w_FN * ops.link_swap(b, "FN") + c_log * ops.diagonal(b, log_ct))
    V = jz_isometry(b, 0.5)
    ev, vec = np.linalg.eigh((V.conj().T @ H @ V).toarray())
    v = np.asarray(V @ vec[:, 0]).ravel()
    lam = 0.5 * ev[0]
    return lam, float(np.real(np.vdot(v, b.kappa_light_total() * v))) - lam


@pytest.mark.parametrize("m0_sq, c_log", [(1.64, 0.0), (0.25, 1.36)])
def test_virial_mismatch_is_the_log_slope_at_fixed_n(m0_sq, c_log):
    h, eps = 0.25, 1e-3
    _, mismatch = _ground_state(h, m0_sq, c_log)
    lo, _ = _ground_state(h * math.exp(-eps), m0_sq, c_log)
    hi, _ = _ground_state(h * math.exp(eps), m0_sq, c_log)
    slope = (hi - lo) / (2 * eps)
    assert abs(mismatch) > 0.05  # a non-trivial check: the grid is far from the continuum
    assert mismatch == pytest.approx(slope, rel=1e-5, abs=1e-7)
