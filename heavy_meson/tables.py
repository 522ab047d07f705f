"""Form-factor tables and the summary table of a heavy-light run (CSV and text)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from heavy_meson.budget import POWERS, unit_of

if TYPE_CHECKING:
    from heavy_meson.run import ResolutionResult, RunResult

#: modern reference values (value, source); physical units
REFERENCES: dict[str, tuple[str, str]] = {
    "lambda_bar": ("0.555(31) GeV", "FNAL/MILC/TUMQCD 1802.04248 (MRS); quenched 0.68 GeV"),
    "fB_sqrtM": ("0.437 GeV^3/2", "f_B = 190.0(1.3) MeV (FLAG) x sqrt(5.279 GeV)"),
    "lambda_B": ("0.46(11) GeV", "QCD sum rules hep-ph/0309330 (at 1 GeV)"),
    "omega_plus_mean": ("4 Lambda-bar/3", "tree-level HQET relation (Grozin-Neubert)"),
    "rho2": ("1.139(20); >= 0.75", "HFLAV CLN fit of h_A1 (B -> D* l nu); Uraltsev bound"),
    "rho2_longitudinal": ("1.139(20); >= 0.75", "as rho2; >= 1/4 built in (Bjorken)"),
    "xi_curvature": (">= (4 rho2 + 3 rho2^2)/10", "curvature bound hep-ph/0210231"),
}

_BUDGET_PARTS = ("extrapolation", "calibration", "scheme", "frame")


def _fmt(v: float | None, e: float | None = None, digits: int = 4) -> str:
    if v is None or not np.isfinite(v):
        return "-"
    return f"{v:.{digits}f}" if e is None or not np.isfinite(e) else f"{v:.{digits}f} +- {e:.{digits}f}"


def _part(budget: dict[str, Any], name: str) -> float | None:
    v = budget.get(name)
    if isinstance(v, dict):
        v = v.get("error")
    return v if isinstance(v, float) else None


def summary_table(result: RunResult) -> str:
    """Plain-text table: finest value, prediction +- error (lattice and physical units), the
    budget parts (physical units where the observable has them) and the reference."""
    inv_a = result.inv_a
    fin = result.finest
    head = ("observable", "finest (latt.)", "prediction (latt.)", "physical", "extrap.",
            "calib.", "scheme", "frame", "reference")
    rows = [head]
    for key in ("lambda_bar", "fB_sqrtM", "lambda_B", "omega_plus_mean", "rho2",
                "rho2_longitudinal", "xi_curvature", "P0", "virial_mismatch"):
        o = result.observables.get(key, {})
        val, err = o.get("value"), o.get("error")
        p, unit = POWERS.get(key, 0.0), unit_of(key)
        f = inv_a**p
        phys = "-" if val is None else f"{val * f:.3f} +- {err * f:.3f} {unit}".strip()
        b = o.get("error_budget", {})
        parts = [_fmt(None if _part(b, n) is None else _part(b, n) * f, digits=3) for n in _BUDGET_PARTS]
        rows.append((key, _fmt(None if fin is None else fin.scalars.get(key)), _fmt(val, err), phys,
                     *parts, REFERENCES.get(key, ("", ""))[0]))
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    cond = result.config.renormalization
    if cond.kind == "lambda_bar":
        lines.append(f"(scheme lambda_bar: Lambda-bar is an input, fixed to {cond.target:.4f} in "
                     f"lattice units = {cond.target * inv_a:.3f} GeV at every resolution)")
    else:
        c_log = cond.log_coefficient_for(result.config.couplings)
        mass = "none" if cond.m_R_sq is None else f"{cond.m_R_sq:.4f}"
        lines.append(f"(scheme {cond.kind}: Lambda-bar is predicted; m_R^2 = {mass}, "
                     f"log coefficient c = {c_log:.4f}, log_factor {cond.log_factor:.4f})")
    lines.append("errors: extrapolation (fit + ansatz spread), calibration (coupling covariance), "
                 "scheme (vs the other renormalisation), frame (Drell-Yan vs longitudinal boost), "
                 "in quadrature; not included: matching to the references, link-number truncation")
    lines.append(f"1/a = {inv_a:.4f} GeV (a = {result.config.lattice_spacing_fm:.4f} fm)")
    return "\n".join(lines)


def _coarser(result: RunResult) -> ResolutionResult | None:
    """The next-coarser grid at the finest resolution's cutoff (for the tables' error column)."""
    fin = result.finest
    if fin is None:
        return None
    same = [r for r in result.ok if r.resolution.kappa_max == fin.resolution.kappa_max
            and r.resolution.h > fin.resolution.h]
    return min(same, key=lambda r: r.resolution.h) if same else None


def write_csv_tables(result: RunResult, out_dir: Path) -> None:
    """isgur_wise.csv (extrapolated, with errors and the longitudinal frame), lcda.csv and pdf.csv
    (finest resolution, named in every row; error = change from the next-coarser grid)."""
    xi = result.xi
    cols = ["w", "xi", "error", "xi_longitudinal", "error_longitudinal", "frame_difference",
            "xi_finest", "source"]
    with open(out_dir / "isgur_wise.csv", "w", newline="") as f:
        wr = csv.writer(f)
        wr.writerow(cols)
        n = len(result.w)
        get = {k: xi.get(k, np.full(n, np.nan)) for k in ("xi", "xi_error", "xi_longitudinal",
                                                          "xi_longitudinal_error", "xi_finest")}
        for j, w in enumerate(result.w):
            x, xl = get["xi"][j], get["xi_longitudinal"][j]
            wr.writerow([f"{w:.6g}", f"{x:.8g}", f"{get['xi_error'][j]:.3g}", f"{xl:.8g}",
                         f"{get['xi_longitudinal_error'][j]:.3g}", f"{x - xl:.3g}",
                         f"{get['xi_finest'][j]:.8g}", "extrapolated (rho2-rescaled finest curve)"])
    fin, coarse = result.finest, _coarser(result)
    inv_a = result.inv_a
    res_tag = "-" if fin is None else f"h={fin.resolution.h:g} kappa_max={fin.resolution.kappa_max:g}"
    with open(out_dir / "lcda.csv", "w", newline="") as f:
        wr = csv.writer(f)
        wr.writerow(["omega_lattice", "omega_GeV", "phi_plus_lattice", "phi_plus_per_GeV",
                     "error_lattice", "resolution"])
        if fin is not None and fin.lcda is not None:
            om, ph = fin.lcda
            err = (np.abs(ph - np.interp(om, *coarse.lcda)) if coarse is not None
                   else np.full(len(om), np.nan))
            for o, p, e in zip(om, ph, err, strict=True):
                wr.writerow([f"{o:.6g}", f"{o * inv_a:.6g}", f"{p:.8g}", f"{p / inv_a:.8g}",
                             f"{e:.3g}", res_tag])
    with open(out_dir / "pdf.csv", "w", newline="") as f:
        wr = csv.writer(f)
        wr.writerow(["kappa", "f_Q(y=kappa)", "f_q(kappa)", "kappa_link", "f_L(kappa_link)",
                     "error_f_Q", "resolution"])
        if fin is not None and fin.distributions is not None:
            d = fin.distributions
            err = (np.abs(d["f_Q"] - np.interp(d["y"], coarse.distributions["y"],
                                               coarse.distributions["f_Q"]))
                   if coarse is not None else np.full(len(d["y"]), np.nan))
            for row in zip(d["y"], d["f_Q"], d["f_q"], d["k_L"], d["f_L"], err, strict=True):
                wr.writerow([f"{v:.8g}" for v in row] + [res_tag])
