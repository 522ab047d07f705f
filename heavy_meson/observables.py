r"""Observables of a heavy-light eigenstate (physics.md E), one function each.

Every function takes the static femtoworm basis and one full-basis eigenvector ``c`` (grid
coefficients, normalised: ``sum |c|^2 = 1``) and works in lattice units (``a = 1``, momenta in
``1/a``). Grid conventions (physics.md C.7): sector 0 ``phi_0(kappa_i, h) = c_i / sqrt(h)``;
sector 1 ``phi_1 = c / h``; densities on a grid are ``|c|^2 / h`` per grid point.

``helicity`` selects the sector-0 light-quark helicity that carries the state's ``j_z``
(bit 0 = up for ``j_z = +1/2``, bit 1 = down for the ``j_z = -1/2`` partner); the results do not
depend on which spin partner is used (a test checks it).
"""

from __future__ import annotations

import math

import numpy as np

from lfqcd.basis import ChainBasis

N_COLOURS = 3  # physics.md 2: sqrt(N_c) in decay constants uses N_c = 3


def _sector0(basis: ChainBasis, c: np.ndarray, helicity: int) -> tuple[np.ndarray, np.ndarray]:
    """(kappa grid, phi_0 on it) for the chosen helicity, sorted by kappa."""
    s0 = basis.sector_slice(0)
    sel = np.arange(s0.start, s0.stop)[basis.hel_q[s0] == helicity]
    kappa = basis.kappa_quark()[sel]
    order = np.argsort(kappa)
    return kappa[order], c[sel][order] / math.sqrt(basis.h)


def probabilities(basis: ChainBasis, c: np.ndarray) -> dict[str, float]:
    """Fock-sector probabilities ``P_0``, ``P_1`` (physics.md E.3); they sum to 1."""
    w = np.abs(c) ** 2
    return {f"P{n}": float(w[basis.sector_slice(n)].sum()) for n in range(basis.max_links + 1)}


def phi0_integral(basis: ChainBasis, c: np.ndarray, helicity: int = 0, G: float = 0.0) -> float:
    r"""``int_0^inf phi_0(kappa) dkappa`` on the grid plus the ``kappa^-3`` tail beyond the cutoff.

    Midpoint rule ``sum_i sqrt(h) c_i`` (physics.md C.7) plus ``G I_0 / (2 kappa_max^2)`` from
    the exact large-kappa behaviour ``phi_0 -> G I_0 / kappa^3`` (physics.md J.2 identity 4).
    """
    kappa, phi = _sector0(basis, c, helicity)
    integral = float(np.real(phi.sum()) * basis.h)
    kappa_max = basis.n_cut * basis.h
    return integral / (1.0 - G / (2.0 * kappa_max**2))  # I = I_grid + G I / (2 kmax^2)


def decay_constant(basis: ChainBasis, c: np.ndarray, helicity: int = 0, G: float = 0.0) -> float:
    r"""``f_B sqrt(M_B) = sqrt(2 N_c / pi) (1/a) int phi_0 dkappa`` in lattice units (physics.md E.2).

    Static-limit quantity (dimension mass^{3/2}); multiply by ``(1/a)^{3/2}`` in GeV^{3/2}.
    """
    return math.sqrt(2.0 * N_COLOURS / math.pi) * phi0_integral(basis, c, helicity, G)


def lcda(basis: ChainBasis, c: np.ndarray, helicity: int = 0) -> tuple[np.ndarray, np.ndarray]:
    r"""B-meson light-cone distribution amplitude ``phi_+(omega) = phi_0(omega) / int phi_0``
    on the quark grid (physics.md E.3); ``int phi_+ domega = 1`` on the grid."""
    kappa, phi = _sector0(basis, c, helicity)
    phi = np.real(phi)
    return kappa, phi / (phi.sum() * basis.h)


def lcda_moments(basis: ChainBasis, c: np.ndarray, helicity: int = 0) -> dict[str, float]:
    r"""``1/lambda_B = int phi_+/omega`` and ``<omega>_+ = int omega phi_+`` (physics.md E.3)."""
    omega, phi_plus = lcda(basis, c, helicity)
    inv_lambda = float(np.sum(phi_plus / omega) * basis.h)
    return {
        "lambda_B": 1.0 / inv_lambda,
        "omega_plus_mean": float(np.sum(phi_plus * omega) * basis.h),
    }


def momentum_distributions(basis: ChainBasis, c: np.ndarray) -> dict[str, np.ndarray]:
    r"""Heavy-quark, light-quark and link momentum distributions (physics.md E.4).

    ``f~_Q(y) = <delta(y - kappa_tot)>`` and ``f~_q(k) = <delta(k - kappa_q)>`` live on the
    half-odd grid, ``f~_L(k) = <delta(k - kappa_L)>`` on the integer grid (it integrates to
    ``P_1`` at one link, to the mean link number in general). With ``y = M (1 - x_Q)``,
    ``f_Q(x) dx = f~_Q(y) dy``.
    """
    w = np.abs(c) ** 2
    n = basis.n_cut
    h = basis.h
    half = (np.arange(1, n + 1) - 0.5) * h
    links = np.arange(1, n + 1) * h
    tot_idx = np.rint(basis.kappa_light_total() / h + 0.5).astype(int) - 1
    q_idx = basis.quark_mom - 1
    f_Q = np.bincount(tot_idx, weights=w, minlength=n)[:n] / h
    f_q = np.bincount(q_idx, weights=w, minlength=n)[:n] / h
    f_L = np.zeros(n)
    for j in range(basis.max_links):  # every link of every chain (integrates to <n_links>)
        used = basis.nlinks > j
        f_L += np.bincount(basis.link_mom[used, j] - 1, weights=w[used], minlength=n)[:n] / h
    return {"y": half, "f_Q": f_Q, "k_q": half, "f_q": f_q, "k_L": links, "f_L": f_L}


def momentum_sum_rule(basis: ChainBasis, c: np.ndarray) -> dict[str, float]:
    """``<kappa_q> + <kappa_L> = <kappa_tot>`` (physics.md E.4) from the three distributions."""
    d = momentum_distributions(basis, c)
    h = basis.h
    kq = float(np.sum(d["k_q"] * d["f_q"]) * h)
    kl = float(np.sum(d["k_L"] * d["f_L"]) * h)
    kt = float(np.sum(d["y"] * d["f_Q"]) * h)
    return {"kappa_q_mean": kq, "kappa_L_mean": kl, "kappa_tot_mean": kt}


def virial_mismatch(basis: ChainBasis, c: np.ndarray, lambda_bar: float) -> float:
    """``<kappa_tot> - Lambda-bar``: zero for the exact continuum operator without log
    counterterms (physics.md J.3); the convergence diagnostic reported with every result."""
    w = np.abs(c) ** 2
    return float(np.sum(w * basis.kappa_light_total()) - lambda_bar)


def _impact_moment(basis: ChainBasis) -> np.ndarray:
    r"""``X = e . sum_i kappa_i b_i`` per state with ``e`` the x axis (physics.md E.5).

    Sector 0: ``X = 0``; sector 1: ``X = a cos(theta_r) (kappa_L/2 + kappa_q)`` (link at its
    midpoint, quark one site along ``r``; lattice units ``a = 1``). With more links each link
    sits at the midpoint of its bond along the path and the quark at the path's end.
    """
    X = np.zeros(basis.dim)
    x = np.zeros(basis.dim)  # x coordinate of the current site along each path
    step = np.array([1.0, 0.0, -1.0, 0.0])
    for j in range(basis.max_links):
        used = basis.nlinks > j
        dx = np.where(used, step[basis.dirs[:, j]], 0.0)
        X += basis.link_mom[:, j] * basis.h * (x + 0.5 * dx)
        x += dx
    X += basis.kappa_quark() * x
    return X


def isgur_wise(basis: ChainBasis, c: np.ndarray, w: np.ndarray) -> np.ndarray:
    r"""``xi(w) = <cos(sqrt(2(w - 1)) X)>`` (physics.md E.5) on an array of ``w >= 1``."""
    w = np.asarray(w, dtype=float)
    X = _impact_moment(basis)
    prob = np.abs(c) ** 2
    z = np.sqrt(2.0 * np.clip(w - 1.0, 0.0, None))
    return np.cos(np.outer(z, X)) @ prob


def isgur_wise_moments(basis: ChainBasis, c: np.ndarray) -> dict[str, float]:
    r"""Slope ``rho^2 = <X^2>`` and ``xi''(1) = <X^4>/3``, curvature ``c = xi''(1)/2`` (E.5)."""
    X = _impact_moment(basis)
    prob = np.abs(c) ** 2
    rho2 = float(prob @ X**2)
    xi2 = float(prob @ X**4) / 3.0
    return {"rho2": rho2, "xi_second_derivative": xi2, "xi_curvature": 0.5 * xi2}


def all_scalar_observables(
    basis: ChainBasis, c: np.ndarray, lambda_bar: float, G: float, helicity: int = 0
) -> dict[str, float]:
    """Every scalar observable of one eigenstate, keyed by its results.json name."""
    out: dict[str, float] = {"lambda_bar": float(lambda_bar)}
    out.update(probabilities(basis, c))
    out["fB_sqrtM"] = decay_constant(basis, c, helicity, G)
    out.update(lcda_moments(basis, c, helicity))
    out.update(isgur_wise_moments(basis, c))
    out.update(momentum_sum_rule(basis, c))
    out["virial_mismatch"] = virial_mismatch(basis, c, lambda_bar)
    return out
