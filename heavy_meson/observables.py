r"""Observables of a heavy-light eigenstate (docs/physics.md section 7), one function each.

Every function takes the static femtoworm basis and one full-basis eigenvector ``c`` (grid
coefficients, normalised: ``sum |c|^2 = 1``) and works in lattice units (``a = 1``, momenta in
``1/a``). Grid conventions (docs/physics.md (G2)-(G4)): sector 0 ``phi_0(kappa_i, h) = c_i / sqrt(h)``;
sector 1 ``phi_1 = c / h``; densities on a grid are ``|c|^2 / h`` per grid point.

``helicity`` selects the sector-0 light-quark helicity that carries the state's ``j_z``
(bit 0 = up for ``j_z = +1/2``, bit 1 = down for the ``j_z = -1/2`` partner); the results do not
depend on which spin partner is used (a test checks it).
"""

from __future__ import annotations

import math

import numpy as np

from lfqcd.basis import ChainBasis
from lfqcd.errors import InvalidParameterError

N_COLOURS = 3  # docs/physics.md (E2): sqrt(N_c) in decay constants uses N_c = 3


def _sector0(basis: ChainBasis, c: np.ndarray, helicity: int) -> tuple[np.ndarray, np.ndarray]:
    """(kappa grid, phi_0 on it) for the chosen helicity, sorted by kappa."""
    s0 = basis.sector_slice(0)
    sel = np.arange(s0.start, s0.stop)[basis.hel_q[s0] == helicity]
    kappa = basis.kappa_quark()[sel]
    order = np.argsort(kappa)
    return kappa[order], c[sel][order] / math.sqrt(basis.h)


def probabilities(basis: ChainBasis, c: np.ndarray) -> dict[str, float]:
    """Fock-sector probabilities ``P_0``, ``P_1`` (docs/physics.md (E5)); they sum to 1."""
    w = np.abs(c) ** 2
    return {f"P{n}": float(w[basis.sector_slice(n)].sum()) for n in range(basis.max_links + 1)}


def phi0_integral(basis: ChainBasis, c: np.ndarray, helicity: int = 0, G: float = 0.0) -> float:
    r"""``int_0^inf phi_0(kappa) dkappa`` on the grid plus the ``kappa^-3`` tail beyond the cutoff.

    Midpoint rule ``sum_i sqrt(h) c_i`` (docs/physics.md (E3)) plus ``G I_0 / (2 kappa_max^2)`` from
    the exact large-kappa behaviour ``phi_0 -> G I_0 / kappa^3`` (docs/physics.md (E3), section 10).
    """
    kappa, phi = _sector0(basis, c, helicity)
    integral = float(np.real(phi.sum()) * basis.h)
    kappa_max = basis.n_cut * basis.h
    return integral / (1.0 - G / (2.0 * kappa_max**2))  # I = I_grid + G I / (2 kmax^2)


def decay_constant(basis: ChainBasis, c: np.ndarray, helicity: int = 0, G: float = 0.0) -> float:
    r"""``f_B sqrt(M_B) = sqrt(2 N_c / pi) (1/a) int phi_0 dkappa`` in lattice units
    (docs/physics.md (E2)-(E3)).

    Static-limit quantity (dimension mass^{3/2}); multiply by ``(1/a)^{3/2}`` in GeV^{3/2}.
    """
    return math.sqrt(2.0 * N_COLOURS / math.pi) * phi0_integral(basis, c, helicity, G)


def lcda(basis: ChainBasis, c: np.ndarray, helicity: int = 0, G: float = 0.0
         ) -> tuple[np.ndarray, np.ndarray]:
    r"""B-meson light-cone distribution amplitude ``phi_+(omega) = phi_0(omega) / int phi_0``
    on the quark grid (docs/physics.md (E3)). The normalisation is the same integral as in
    :func:`decay_constant`, including the ``kappa^-3`` tail beyond the cutoff, so the grid part
    integrates to ``1 - G/(2 kappa_max^2)`` and the tail carries the rest."""
    kappa, phi = _sector0(basis, c, helicity)
    phi = np.real(phi)
    return kappa, phi / phi0_integral(basis, c, helicity, G)


def lcda_moments(basis: ChainBasis, c: np.ndarray, helicity: int = 0, G: float = 0.0
                 ) -> dict[str, float]:
    r"""``1/lambda_B = int phi_+/omega`` and ``<omega>_+ = int omega phi_+`` (docs/physics.md (E3)),
    with the ``phi_+ -> G/(2... ) omega^-3`` tail beyond the cutoff added to both integrals."""
    omega, phi_plus = lcda(basis, c, helicity, G)
    kappa_max = basis.n_cut * basis.h
    # tail phi_+ = G / omega^3 (normalised, docs/physics.md section 10): int_kmax^inf phi_+/omega, omega phi_+
    inv_lambda = float(np.sum(phi_plus / omega) * basis.h) + G / (3.0 * kappa_max**3)
    return {
        "lambda_B": 1.0 / inv_lambda,
        "omega_plus_mean": float(np.sum(phi_plus * omega) * basis.h) + G / kappa_max,
    }


def momentum_distributions(basis: ChainBasis, c: np.ndarray) -> dict[str, np.ndarray]:
    r"""Heavy-quark, light-quark and link momentum distributions (docs/physics.md (E6)).

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
    """``<kappa_q> + <kappa_L> = <kappa_tot>`` (docs/physics.md (E6)) from the three distributions."""
    d = momentum_distributions(basis, c)
    h = basis.h
    kq = float(np.sum(d["k_q"] * d["f_q"]) * h)
    kl = float(np.sum(d["k_L"] * d["f_L"]) * h)
    kt = float(np.sum(d["y"] * d["f_Q"]) * h)
    return {"kappa_q_mean": kq, "kappa_L_mean": kl, "kappa_tot_mean": kt}


def virial_mismatch(basis: ChainBasis, c: np.ndarray, lambda_bar: float) -> float:
    """``<kappa_tot> - Lambda-bar``: zero for the exact continuum operator without log
    counterterms (docs/physics.md (R7)-(R8)); the convergence diagnostic reported with every result."""
    w = np.abs(c) ** 2
    return float(np.sum(w * basis.kappa_light_total()) - lambda_bar)


def _impact_moment(basis: ChainBasis) -> np.ndarray:
    r"""``X = e . sum_i kappa_i b_i`` per state with ``e`` the x axis (docs/physics.md (E7)-(E8)).

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
    r"""``xi(w) = <cos(sqrt(2(w - 1)) X)>`` (docs/physics.md (E7)) on an array of ``w >= 1``."""
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
    out.update(lcda_moments(basis, c, helicity, G))
    out.update(isgur_wise_moments(basis, c))
    if basis.max_links <= 1:  # the longitudinal-frame xi is written for at most one link
        out["rho2_longitudinal"] = rho2_longitudinal(basis, c)
    out.update(momentum_sum_rule(basis, c))
    out["virial_mismatch"] = virial_mismatch(basis, c, lambda_bar)
    return out


# ---------------------------------------------------------------------------------------------
# Isgur-Wise function in the longitudinal frame (q_perp = 0): no transverse positions needed


def _sector_grids(basis: ChainBasis, c: np.ndarray) -> list[tuple[int, np.ndarray]]:
    """Per Fock sector: (number of light partons n, wavefunction array on a momentum grid).

    Sector 0: ``phi_0[label, b]`` on ``kappa_q = (b + 1/2) h``; sector 1:
    ``phi_1[label, a, b]`` on ``kappa_L = (a + 1) h``, ``kappa_q = (b + 1/2) h`` (zero beyond the
    cutoff). ``label`` runs over helicity (and direction) combinations.
    """
    if basis.max_links > 1:
        raise InvalidParameterError(
            f"the longitudinal-frame Isgur-Wise function is implemented for at most one link "
            f"(basis has max_links = {basis.max_links})"
        )
    n, h = basis.n_cut, basis.h
    out = []
    s0 = basis.sector_slice(0)
    lab0 = basis.hel_q[s0]
    g0 = np.zeros((2, n), dtype=complex)
    g0[lab0, basis.quark_mom[s0] - 1] = c[s0] / np.sqrt(h)
    out.append((1, g0))
    if basis.max_links >= 1:
        s1 = basis.sector_slice(1)
        lab1 = basis.hel_q[s1] * 4 + basis.dirs[s1, 0]
        g1 = np.zeros((8, n, n), dtype=complex)
        g1[lab1, basis.link_mom[s1, 0] - 1, basis.quark_mom[s1] - 1] = c[s1] / h
        out.append((2, g1))
    return out


def _dilation(grid: np.ndarray, h: float):
    """``scale -> phi(scale * kappa)`` on the same grid, by cubic interpolation built once; the
    wavefunction is taken to vanish at zero momentum (end-point behaviour ``kappa^beta``)."""
    from scipy.interpolate import CubicSpline, RegularGridInterpolator

    n = grid.shape[-1]
    k_q = np.concatenate([[0.0], (np.arange(n) + 0.5) * h])
    if grid.ndim == 2:
        spline = CubicSpline(k_q, np.concatenate([np.zeros((grid.shape[0], 1)), grid], axis=1),
                             axis=1)
        return lambda scale: spline(scale * k_q[1:])
    k_l = np.concatenate([[0.0], (np.arange(n) + 1.0) * h])
    padded = np.zeros((grid.shape[0], n + 1, n + 1), dtype=complex)
    padded[:, 1:, 1:] = grid
    interps = [None if not np.any(g) else
               RegularGridInterpolator((k_l, k_q), g, method="cubic", bounds_error=False,
                                       fill_value=0.0) for g in padded]

    def at(scale: float) -> np.ndarray:
        L, Q = np.meshgrid(scale * k_l[1:], scale * k_q[1:], indexing="ij")
        pts = np.stack([L.ravel(), Q.ravel()], axis=1)
        res = np.zeros_like(grid)
        for i, f in enumerate(interps):
            if f is not None:
                res[i] = f(pts).reshape(n, n)
        return res

    return at


def isgur_wise_longitudinal(basis: ChainBasis, c: np.ndarray, w: np.ndarray) -> np.ndarray:
    r"""``xi_L(w) = sqrt(2/(1+w)) sum_n int phi_n(kappa) phi_n(e^{-eta} kappa) e^{-n eta/2}``
    with ``w = cosh(eta)`` (docs/physics.md (E6)): the Isgur-Wise function from a longitudinal
    boost at ``q_perp = 0``. It needs no transverse positions, hence no link-position
    convention; its difference from :func:`isgur_wise` measures the rotational-invariance
    violation of the truncated transverse lattice."""
    w = np.asarray(w, dtype=float)
    h = basis.h
    sectors = [(n_part, g, _dilation(g, h)) for n_part, g in _sector_grids(basis, c)]
    out = np.empty(len(w))
    for j, wj in enumerate(w):
        eta = float(np.arccosh(max(wj, 1.0)))
        overlap = 0.0
        for n_part, g, dilated in sectors:
            overlap += (float(np.real(np.vdot(g, dilated(np.exp(-eta)))))
                        * h**n_part * np.exp(-0.5 * n_part * eta))
        out[j] = np.sqrt(2.0 / (1.0 + wj)) * overlap
    return out


def rho2_longitudinal(basis: ChainBasis, c: np.ndarray) -> float:
    r"""Slope of :func:`isgur_wise_longitudinal`: ``rho^2_L = 1/4 + <D^2>`` with the dilation
    generator ``D = -i (sum_i kappa_i d/dkappa_i + n/2)`` (docs/physics.md (E7)); derivatives by
    central differences on the grid (zero beyond the cutoff and at zero momentum)."""
    h = basis.h
    total = 0.0
    for n_part, g in _sector_grids(basis, c):
        if g.ndim == 2:
            k_q = (np.arange(g.shape[1]) + 0.5) * h
            pad = np.concatenate([np.zeros((g.shape[0], 1)), g, np.zeros((g.shape[0], 1))], axis=1)
            dq = (pad[:, 2:] - pad[:, :-2]) / (2 * h)
            dq[:, 0] = (g[:, 1] - 0.0) / (1.5 * h) if g.shape[1] > 1 else dq[:, 0]
            Dg = k_q * dq + 0.5 * n_part * g
        else:
            n = g.shape[-1]
            k_l = (np.arange(n) + 1.0) * h
            k_q = (np.arange(n) + 0.5) * h
            padl = np.pad(g, ((0, 0), (1, 1), (0, 0)))
            padq = np.pad(g, ((0, 0), (0, 0), (1, 1)))
            dl = (padl[:, 2:, :] - padl[:, :-2, :]) / (2 * h)
            dq = (padq[:, :, 2:] - padq[:, :, :-2]) / (2 * h)
            dq[:, :, 0] = g[:, :, 1] / (1.5 * h)  # zero at kappa_q = 0, first point at h/2
            Dg = k_l[None, :, None] * dl + k_q[None, None, :] * dq + 0.5 * n_part * g
        total += float(np.sum(np.abs(Dg) ** 2)) * h ** (g.ndim - 1)
    return 0.25 + total
