"""Table and figures of a calibration fit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from lfqcd.calibration.fit import CONDITIONS, PARAMS, Calibrator, couplings_from, signed_sqrt


def calibration_table(r: dict[str, Any]) -> str:
    """Plain-text table of a calibration result (the dict written to calibration.json)."""
    lines = ["fitted couplings (lattice units)", f"{'param':<10} {'value':>10} {'error':>10}"]
    for p in PARAMS:
        lines.append(f"{p:<10} {r['params'][p]:>10.4f} {r['errors'][p]:>10.4f}")
    c = r["couplings"]
    lines.append(f"derived: log coefficient c = log_factor x 4 (t_F^2 + t_NF^2)/m^2 = "
                 f"{r['log_coefficient']:.4f}, w_FF = {c['w_FF']:.4f}, w_NN = {c['w_NN']:.4f}, "
                 f"w_FN = {c['w_FN']:.4f}; a = {r['lattice_spacing_fm']:.4f} fm")
    lines.append("")
    lines.append(f"{'condition (K -> inf)':<22} {'target':>9} {'fitted':>10} {'residual/tol':>13}")
    t, p = r["targets"], r["predictions"]
    rows = [
        ("sigma_T/sigma_L", 1.0, p["sigma_ratio"]),
        ("m_pi [GeV]", t["m_pi"], signed_sqrt(p["m_pi_sq_GeV2"])),
        ("m_rho [GeV]", t["m_rho"], signed_sqrt(p["m_rho_sq_GeV2"])),
        ("f_pi [GeV]", t["f_pi"], p["f_pi_GeV"]),
        ("c_T^2 (axis)", t["c2"], p["c2_axis"]),
        ("c_T^2 (diagonal)", t["c2"], p["c2_diagonal"]),
        ("m_rho(j_z=0) [GeV]", t["m_rho"], signed_sqrt(p["m_rho_jz0_sq_GeV2"])),
    ]
    for (name, target, val), cond in zip(rows, CONDITIONS, strict=True):
        lines.append(f"{name:<22} {target:>9.4f} {val:>10.4f} {r['residuals'][cond]:>13.3f}")
    for name, e in r.get("extra", {}).items():
        lines.append(f"{name:<22} {e['target']:>9.4f} {e['value']:>10.4f} "
                     f"{r['residuals'][name]:>13.3f}")
    st = r["stability"]
    lines += ["", "stability (lattice units; extrapolated = linear in 1/K over the fit K)",
              f"{'K':>4} {'role':<9} {'M2_pi':>9} {'M2_rho':>9} {'m_pi GeV':>9} {'m_rho GeV':>9} "
              f"{'f_pi GeV':>9} {'dev/m_rho^2':>11} ok"]
    for row in st["rows"]:
        lines.append(f"{row['K']:>4} {row['role']:<9} {row['M2_pi']:>9.4f} {row['M2_rho']:>9.4f} "
                     f"{row['m_pi_GeV']:>9.4f} {row['m_rho_GeV']:>9.4f} {row['f_pi_GeV']:>9.4f} "
                     f"{row['max_dev_M2_over_m_rho2']:>11.4f} {'yes' if row['within_tolerance'] else 'NO'}")
    e = st["extrapolated"]
    lines.append(f"{'inf':>4} {'extrap.':<9} {e['M2_pi']:>9.4f} {e['M2_rho']:>9.4f} "
                 f"{e['m_pi_GeV']:>9.4f} {e['m_rho_GeV']:>9.4f} {e['f_pi_GeV']:>9.4f}")
    lines.append(f"tolerance: {st['tolerance']}")
    if st.get("held_out_within_stated_error") is not None:
        lines.append("held-out K within the extrapolation's stated error (M2_pi +- "
                     f"{e['M2_pi_error']:.4f}, M2_rho +- {e['M2_rho_error']:.4f}): "
                     f"{'yes' if st['held_out_within_stated_error'] else 'NO'}")
    lines.append("")
    lines.append("correlation matrix (" + ", ".join(PARAMS) + ")")
    for row in r["correlation"]:
        lines.append("  " + " ".join(f"{v:+.3f}" for v in row))
    lines.append(f"fit: success={r['success']} ({r['message']}); {r['n_eval']} evaluations, "
                 f"{r['wall_s']:.0f} s")
    return "\n".join(lines)


def write_plots(cal: Calibrator, r: dict[str, Any], out: Path) -> None:
    """Pion dispersion relation (axis, diagonal) at the largest fit K, and the stability table."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    theta = np.array([r["params"][p] for p in PARAMS])
    c, m_R_sq, c_log = couplings_from(theta)
    k = max(cal.setup.k_values)
    mod = cal.model(k)
    e0 = mod.ground_state(c, m_R_sq, c_log)[0]
    ps = np.linspace(0.1, 0.8, 6)
    fig, ax = plt.subplots(figsize=(5.5, 4), constrained_layout=True)
    for diag, lab in ((False, "along x"), (True, "diagonal")):
        vec = [(q / np.sqrt(2), q / np.sqrt(2)) if diag else (q, 0.0) for q in ps]
        e = [mod.energy(c, m_R_sq, v, c_log) - e0 for v in vec]
        ax.plot(ps**2, e, "o-", label=f"pion, P {lab} (K = {k})")
    ax.plot(ps**2, ps**2, "k--", label=r"covariant: $E(P)-E(0)=P^2$")
    ax.set_xlabel(r"$P_\perp^2$ [$a^{-2}$]")
    ax.set_ylabel(r"$2P^+P^-(P_\perp) - M^2$ [$a^{-2}$]")
    ax.set_title("pion dispersion relation (fitted couplings)")
    ax.legend(fontsize=8)
    fig.savefig(out / "dispersion.png", dpi=130)
    plt.close(fig)

    rows = r["stability"]["rows"]
    ext = r["stability"]["extrapolated"]
    ks = np.array([row["K"] for row in rows], dtype=float)
    fig, ax = plt.subplots(figsize=(5.5, 4), constrained_layout=True)
    for key, lab, col in (("M2_pi", r"$\pi$", "C0"), ("M2_rho", r"$\rho$ ($j_z=1$)", "C2"),
                          ("M2_rho_jz0", r"$\rho$ ($j_z=0$)", "C3")):
        ax.plot(1 / ks, [row[key] for row in rows], "o", color=col, label=lab)
        ax.errorbar([0.0], [ext[key]], yerr=[ext[key + "_error"]], fmt="s", color=col)
    band = 0.05 * ext["M2_rho"]
    for key in ("M2_pi", "M2_rho"):
        ax.axhspan(ext[key] - band, ext[key] + band, color="0.85", zorder=0)
    ax.set_xlabel("1/K")
    ax.set_ylabel(r"$M^2$ [$a^{-2}$]")
    ax.set_title(r"resolution stability (grey: $\pm 0.05\,m_\rho^2$)")
    ax.legend(fontsize=8)
    fig.savefig(out / "stability.png", dpi=130)
    plt.close(fig)
