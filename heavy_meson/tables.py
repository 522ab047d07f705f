"""Form-factor tables and the summary table of a heavy-light run (CSV and text)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from lfqcd.units import inverse_spacing_gev

if TYPE_CHECKING:
    from heavy_meson.run import RunResult

#: modern reference values, physics.md H (value, error or None, source); physical units
REFERENCES: dict[str, tuple[str, str]] = {
    "lambda_bar": ("0.555(31) GeV", "FNAL/MILC/TUMQCD 1802.04248 (MRS); quenched 0.68 GeV"),
    "fB_sqrtM": ("0.437 GeV^3/2", "f_B = 190 MeV (FLAG) x sqrt(5.279 GeV); static limit differs"),
    "lambda_B": ("0.46(11) GeV", "QCD sum rules hep-ph/0309330 (at 1 GeV)"),
    "omega_plus_mean": ("4 Lambda-bar/3", "tree-level HQET relation (Grozin-Neubert)"),
    "rho2": ("1.139(20); >= 0.75", "HFLAV CLN fit (B -> D* l nu); Uraltsev bound (Bjorken >= 0.25)"),
    "xi_curvature": (">= (4 rho2 + 3 rho2^2)/10", "curvature bound hep-ph/0210231"),
}

_UNITS = {"lambda_bar": ("GeV", 1.0), "fB_sqrtM": ("GeV^3/2", 1.5), "lambda_B": ("GeV", 1.0),
          "omega_plus_mean": ("GeV", 1.0)}


def _fmt(v: float | None, e: float | None = None) -> str:
    if v is None or not np.isfinite(v):
        return "-"
    return f"{v:.4f}" if e is None or not np.isfinite(e) else f"{v:.4f} +- {e:.4f}"


def summary_table(result: RunResult) -> str:
    """Plain-text table: finest value, extrapolated value +- error, physical value, reference."""
    inv_a = inverse_spacing_gev(result.config.lattice_spacing_fm)
    fin = result.finest
    rows = [("observable", "finest (latt.)", "extrapolated (latt.)", "physical", "reference")]
    for key in ("lambda_bar", "fB_sqrtM", "lambda_B", "omega_plus_mean", "rho2", "xi_curvature",
                "P0", "virial_mismatch", "m0_sq"):
        e = result.extrapolated.get(key, {})
        val, err = e.get("value"), e.get("error")
        phys = "-"
        if key in _UNITS and val is not None:
            unit, p = _UNITS[key]
            phys = f"{val * inv_a**p:.3f} +- {err * inv_a**p:.3f} {unit}"
        elif key in ("rho2", "xi_curvature") and val is not None:
            phys = f"{val:.3f} +- {err:.3f}"
        ref = REFERENCES.get(key, ("", ""))[0]
        if key == "m0_sq":
            ref = "counterterm, ~ ln(1/h): not extrapolated"
        rows.append((key, _fmt(None if fin is None else fin.scalars.get(key)), _fmt(val, err),
                     phys, ref))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lam = result.config.renormalization
    if lam.kind == "lambda_bar":
        lines.append(f"(Lambda-bar is the renormalisation condition: fixed to {lam.target:.4f} in "
                     f"lattice units = {lam.target * inv_a:.3f} GeV at every resolution)")
    lines.append(f"1/a = {inv_a:.4f} GeV (a = {result.config.lattice_spacing_fm:.4f} fm)")
    return "\n".join(lines)


def write_csv_tables(result: RunResult, out_dir: Path) -> None:
    """isgur_wise.csv (extrapolated), lcda.csv and pdf.csv (finest resolution, lattice units)."""
    with open(out_dir / "isgur_wise.csv", "w", newline="") as f:
        wr = csv.writer(f)
        wr.writerow(["w", "xi", "error"])
        for w, x, e in zip(result.w, result.xi_extrapolated, result.xi_error, strict=True):
            wr.writerow([f"{w:.6g}", f"{x:.8g}", f"{e:.3g}"])
    fin = result.finest
    inv_a = inverse_spacing_gev(result.config.lattice_spacing_fm)
    with open(out_dir / "lcda.csv", "w", newline="") as f:
        wr = csv.writer(f)
        wr.writerow(["omega_lattice", "omega_GeV", "phi_plus_lattice", "phi_plus_per_GeV"])
        if fin is not None and fin.lcda is not None:
            for om, ph in zip(*fin.lcda, strict=True):
                wr.writerow([f"{om:.6g}", f"{om * inv_a:.6g}", f"{ph:.8g}", f"{ph / inv_a:.8g}"])
    with open(out_dir / "pdf.csv", "w", newline="") as f:
        wr = csv.writer(f)
        wr.writerow(["kappa", "f_Q(y=kappa)", "f_q(kappa)", "kappa_link", "f_L(kappa_link)"])
        if fin is not None and fin.distributions is not None:
            d = fin.distributions
            for row in zip(d["y"], d["f_Q"], d["f_q"], d["k_L"], d["f_L"], strict=True):
                wr.writerow([f"{v:.8g}" for v in row])
