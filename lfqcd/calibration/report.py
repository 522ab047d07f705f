"""Table and figures of a calibration fit."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lfqcd.calibration.fit import CONDITIONS, PARAMS, CalibrationResult, Calibrator, couplings_from


def calibration_table(r: CalibrationResult) -> str:
    lines = ["fitted couplings (lattice units)", f"{'param':<8} {'value':>10} {'error':>10}"]
    for p in PARAMS:
        lines.append(f"{p:<8} {r.params[p]:>10.4f} {r.errors[p]:>10.4f}")
    c = r.couplings
    lines.append(f"derived: t_NF = {c['t_NF']:.4f}, w_FF = {c['w_FF']:.4f}, w_NN = {c['w_NN']:.4f}, "
                 f"w_FN = {c['w_FN']:.4f}; a = {r.lattice_spacing_fm:.4f} fm")
    lines.append("")
    lines.append(f"{'condition':<16} {'target':>9} {'fitted':>10} {'residual/tol':>13}")
    t, p = r.targets, r.predictions
    rows = [
        ("sigma_T/sigma_L", 1.0, p["sigma_ratio"]),
        ("m_pi [GeV]", t["m_pi"], np.sign(p["m_pi_sq"]) * np.sqrt(abs(p["m_pi_sq"]))),
        ("m_rho [GeV]", t["m_rho"], np.sign(p["m_rho_sq"]) * np.sqrt(abs(p["m_rho_sq"]))),
        ("f_pi [GeV]", t["f_pi"], p["f_pi"]),
        ("c_T^2 (axis)", t["c2"], p["c2_axis"]),
    ]
    for (name, target, val), cond in zip(rows, CONDITIONS, strict=True):
        lines.append(f"{name:<16} {target:>9.4f} {val:>10.4f} {r.residuals[cond]:>13.3f}")
    lines.append(f"{'c_T^2 (diagonal)':<16} {'(check)':>9} {p['c2_diagonal']:>10.4f}")
    lines.append("")
    lines.append("correlation matrix (" + ", ".join(PARAMS) + ")")
    for row in r.correlation:
        lines.append("  " + " ".join(f"{v:+.3f}" for v in row))
    lines.append(f"fit: success={r.success} ({r.message}); {r.n_eval} evaluations, {r.wall_s:.0f} s")
    return "\n".join(lines)


def write_plots(cal: Calibrator, r: CalibrationResult, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    theta = np.array([r.params[p] for p in PARAMS])
    c, m0_sq = couplings_from(theta, cal.setup)
    e0 = cal.model.ground_state(c, m0_sq)[0]
    ps = np.linspace(0.1, 0.8, 6)
    fig, ax = plt.subplots(figsize=(5.5, 4), constrained_layout=True)
    for diag, lab in ((False, "along x"), (True, "diagonal")):
        vec = [(q / np.sqrt(2), q / np.sqrt(2)) if diag else (q, 0.0) for q in ps]
        e = [cal.model.energy(c, m0_sq, v) - e0 for v in vec]
        ax.plot(ps**2, e, "o-", label=f"pion, P {lab}")
    ax.plot(ps**2, ps**2, "k--", label=r"covariant: $E(P)-E(0)=P^2$")
    ax.set_xlabel(r"$P_\perp^2$ [$a^{-2}$]")
    ax.set_ylabel(r"$2P^+P^-(P_\perp) - M^2$ [$a^{-2}$]")
    ax.set_title("pion dispersion relation (fitted couplings)")
    ax.legend(fontsize=8)
    fig.savefig(out / "dispersion.png", dpi=130)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(5.5, 4), constrained_layout=True)
    tfs = np.linspace(0.8, 1.2, 5) * r.params["t_F"]
    inv_a2 = cal.targets.G_phys / c.G
    rows = []
    for tf in tfs:
        th = theta.copy()
        th[PARAMS.index("t_F")] = tf
        cc, m0 = couplings_from(th, cal.setup)
        rows.append((cal.model.spectrum(cc, m0, 0.0, 2) * inv_a2,
                     cal.model.spectrum(cc, m0, 1.0, 1) * inv_a2))
    ax.plot(tfs, [x[0][0] for x in rows], "o-", label=r"$j_z=0$ ground ($\pi$)")
    ax.plot(tfs, [x[0][1] for x in rows], "s-", label=r"$j_z=0$ 1st excited")
    ax.plot(tfs, [x[1][0] for x in rows], "^-", label=r"$j_z=1$ ground ($\rho$)")
    ax.axhline(0.14**2, color="C0", ls=":")
    ax.axhline(0.77**2, color="C2", ls=":")
    ax.set_xlabel(r"$t_F$ (lattice units)")
    ax.set_ylabel(r"$M^2$ [GeV$^2$]")
    ax.set_title("light-meson spectrum vs t_F")
    ax.legend(fontsize=8)
    fig.savefig(out / "spectrum_vs_tF.png", dpi=130)
    plt.close(fig)
