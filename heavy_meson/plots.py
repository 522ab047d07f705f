"""Figures of a heavy-light run: Isgur-Wise function, LCDA, momentum distributions, convergence."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from lfqcd.units import inverse_spacing_gev

if TYPE_CHECKING:
    from heavy_meson.run import RunResult


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def write_plots(result: RunResult, out_dir: Path) -> None:
    plt = _pyplot()
    with plt.style.context("default"):
        plt.rcParams.update({"font.size": 11, "axes.grid": True, "grid.alpha": 0.3})
        _isgur_wise(plt, result, out_dir / "isgur_wise.png")
        _lcda(plt, result, out_dir / "lcda.png")
        _pdf(plt, result, out_dir / "pdf.png")
        _convergence(plt, result, out_dir / "convergence.png")


def _finish(plt, fig, axes, path: Path, legend_size: int = 8, dpi: int = 130) -> None:
    """Legends where there is something to label, then save and close the figure."""
    for ax in axes:
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=legend_size)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)


def cln_h_a1(w: np.ndarray, rho2: float) -> np.ndarray:
    """CLN parametrisation of h_A1(w)/h_A1(1) (Caprini-Lellouch-Neubert, hep-ph/9712417):
    1 - 8 rho2 z + (53 rho2 - 15) z^2 - (231 rho2 - 91) z^3, z = (sqrt(w+1) - sqrt2)/(sqrt(w+1) + sqrt2)."""
    z = (np.sqrt(w + 1) - np.sqrt(2)) / (np.sqrt(w + 1) + np.sqrt(2))
    return 1 - 8 * rho2 * z + (53 * rho2 - 15) * z**2 - (231 * rho2 - 91) * z**3


#: HFLAV CLN slope of h_A1 (B -> D* l nu) and the w range of the measurements
HFLAV_RHO2, HFLAV_RHO2_ERR, W_MEASURED = 1.139, 0.020, 1.5


def _isgur_wise(plt, result: RunResult, path: Path) -> None:
    w = result.w
    xi = result.xi
    fig, ax = plt.subplots(figsize=(6, 4.2), constrained_layout=True)
    if "xi" in xi:
        ax.fill_between(w, xi["xi"] - xi["xi_error"], xi["xi"] + xi["xi_error"], alpha=0.3,
                        color="C0", lw=0)
        ax.plot(w, xi["xi"], color="C0", lw=2, label="this code, Drell-Yan frame (extrapolated)")
    if "xi_longitudinal" in xi:
        ax.fill_between(w, xi["xi_longitudinal"] - xi["xi_longitudinal_error"],
                        xi["xi_longitudinal"] + xi["xi_longitudinal_error"], alpha=0.2,
                        color="C1", lw=0)
        ax.plot(w, xi["xi_longitudinal"], color="C1", lw=1.5, ls="-.",
                label="this code, longitudinal frame")
    wm = w[w <= W_MEASURED + 1e-12]
    ax.fill_between(wm, cln_h_a1(wm, HFLAV_RHO2 + HFLAV_RHO2_ERR),
                    cln_h_a1(wm, HFLAV_RHO2 - HFLAV_RHO2_ERR), color="C3", alpha=0.35, lw=0)
    ax.plot(wm, cln_h_a1(wm, HFLAV_RHO2), color="C3", lw=1,
            label=r"HFLAV CLN $h_{A_1}$, $\rho^2=1.139(20)$ (measured range)")
    ax.plot(w, (2 / (1 + w)) ** 1.5, "k--", lw=1, label=r"BPS limit, Uraltsev bound $\rho^2=3/4$")
    ax.plot(w, (2 / (1 + w)) ** 0.5, "k:", lw=1, label=r"Bjorken bound $\rho^2=1/4$")
    ax.set_xlabel(r"$w = v\cdot v'$")
    ax.set_ylabel(r"$\xi(w)$")
    ax.set_ylim(0.3, 1.02)
    ax.set_title("Isgur-Wise function (heavy-quark limit, femtoworm)")
    _finish(plt, fig, [ax], path, legend_size=7)


def _lcda(plt, result: RunResult, path: Path) -> None:
    inv_a = inverse_spacing_gev(result.config.lattice_spacing_fm)
    fig, ax = plt.subplots(figsize=(6, 4.2), constrained_layout=True)
    for r in result.ok:
        om, ph = r.lcda
        ax.plot(om * inv_a, ph / inv_a, lw=1, label=f"h={r.resolution.h:g}, kmax={r.resolution.kappa_max:g}")
    lam = result.observables.get("lambda_B", {}).get("value")
    if lam:
        om = np.linspace(1e-3, 4.0, 400)  # GeV
        w0 = lam * inv_a
        ax.plot(om, om / w0**2 * np.exp(-om / w0), "k--", lw=1,
                label=r"exponential model, $\omega_0=\lambda_B$")
    ax.set_xlabel(r"$\omega$ [GeV]")
    ax.set_ylabel(r"$\phi_+^B(\omega)$ [GeV$^{-1}$]")
    ax.set_xlim(0, 4)
    ax.set_title("B-meson light-cone distribution amplitude")
    _finish(plt, fig, [ax], path, legend_size=7)


def _pdf(plt, result: RunResult, path: Path) -> None:
    fin = result.finest
    fig, ax = plt.subplots(figsize=(6, 4.2), constrained_layout=True)
    if fin is not None:
        d = fin.distributions
        ax.plot(d["y"], d["f_Q"], lw=2, label=r"heavy quark $\tilde f_Q(y)$, $y = M(1-x_Q)$")
        ax.plot(d["k_q"], d["f_q"], lw=1.2, label=r"light quark $\tilde f_q(\kappa)$")
        ax.plot(d["k_L"], d["f_L"], lw=1.2, label=r"link $\tilde f_L(\kappa)$")
        ax.set_title(f"momentum distributions (h={fin.resolution.h:g}, "
                     f"kmax={fin.resolution.kappa_max:g})")
    ax.set_xlabel(r"$\kappa$ [lattice units $1/a$]")
    ax.set_ylabel("density")
    ax.set_xlim(0, 8)
    _finish(plt, fig, [ax], path, legend_size=8)


def _convergence(plt, result: RunResult, path: Path) -> None:
    keys = ["lambda_bar", "rho2", "fB_sqrtM", "lambda_B", "P0", "virial_mismatch"]
    fig, axes = plt.subplots(2, 3, figsize=(10, 5.6), constrained_layout=True)
    ok = result.ok
    for ax, key in zip(axes.flat, keys, strict=True):
        kms = sorted({r.resolution.kappa_max for r in ok})
        for i, km in enumerate(kms):
            pts = sorted((r.resolution.h, r.scalars[key]) for r in ok if r.resolution.kappa_max == km)
            if pts:
                hs, vs = zip(*pts, strict=True)
                ax.plot(hs, vs, "o-", color=f"C{i}", label=f"kmax={km:g}")
        e = result.observables.get(key)
        if e and e.get("value") is not None:
            ax.errorbar([0.0], [e["value"]], yerr=[e["error"]], fmt="s", color="k", label="h->0")
        ax.set_title(key)
        ax.set_xlabel("h")
        ax.set_xlim(left=-0.02)
    fig.suptitle("convergence in the resolution (lattice units)")
    _finish(plt, fig, axes.flat, path, legend_size=7, dpi=110)
