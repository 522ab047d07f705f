"""The main job: a heavy-light (B) meson run over a resolution ladder, with extrapolation.

``lfqcd run runs/b_meson_default.toml --out DIR`` (or :func:`run` from Python) solves the
femtoworm operator in the ``j_z = +1/2`` block at every resolution of the ladder, with the
counterterm of the renormalisation condition, computes every observable of physics.md E,
extrapolates ``h -> 0, kappa_max -> inf`` with a fit error, and writes ``results.json``,
``isgur_wise.csv``, ``lcda.csv``, ``pdf.csv`` and four plots into ``DIR``.

A resolution that fails (unconverged solver, unreachable counterterm) is recorded with its
error message; the run continues, writes everything it has, and reports the failure.
"""

from __future__ import annotations

import argparse
import dataclasses
import platform
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from heavy_meson import checkpoint
from heavy_meson import observables as obs
from heavy_meson.config import RunConfig, load_config
from heavy_meson.hamiltonian import HeavyLightModel, Resolution
from heavy_meson.renormalization import RenormalizationCondition, renormalized_solve
from lfqcd import __version__
from lfqcd.assembly import kernels_compiled
from lfqcd.couplings import get_preset
from lfqcd.errors import LFQCDError
from lfqcd.extrapolate import extrapolate
from lfqcd.outdir import config_hash, write_json

#: scalar observables extrapolated and reported (results.json keys)
SCALARS = (
    "lambda_bar", "rho2", "xi_curvature", "fB_sqrtM", "lambda_B", "omega_plus_mean", "P0", "P1",
    "virial_mismatch", "kappa_tot_mean", "m0_sq", "jz_partner_splitting",
)


#: resolution-dependent by construction: reported per resolution, never extrapolated
#: (the counterterm grows like ln(1/h), physics.md K)
NOT_EXTRAPOLATED = ("m0_sq",)


@dataclasses.dataclass
class ResolutionResult:
    """Everything computed at one resolution (lattice units)."""

    resolution: Resolution
    status: str
    error: str | None = None
    scalars: dict[str, float] = dataclasses.field(default_factory=dict)
    levels: dict[str, list[float]] = dataclasses.field(default_factory=dict)
    xi: np.ndarray | None = None
    lcda: tuple[np.ndarray, np.ndarray] | None = None
    distributions: dict[str, np.ndarray] | None = None
    residual: float = float("nan")
    backend: str = ""
    iterations: int = 0
    wall_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "h": self.resolution.h, "kappa_max": self.resolution.kappa_max,
            "status": self.status, "error": self.error, "observables": self.scalars,
            "levels": self.levels, "max_residual": self.residual, "backend": self.backend,
            "counterterm_iterations": self.iterations, "wall_s": self.wall_s,
        }


def solve_resolution(
    config: RunConfig, resolution: Resolution, w_grid: np.ndarray, model: HeavyLightModel | None = None
) -> ResolutionResult:
    """Solve, renormalise and measure at one resolution; failures are returned, not raised."""
    t0 = time.perf_counter()
    out = ResolutionResult(resolution=resolution, status="ok")
    try:
        model = model or HeavyLightModel(resolution, jz=0.5,
                                         memory_limit=int(config.memory_limit_gb * 2**30))
        ren = renormalized_solve(model, config.couplings, config.renormalization,
                                 n_states=config.n_states, backend=config.backend)
        sol = ren.solution
        c = sol.vectors[:, 0]
        G = config.couplings.G
        out.scalars = obs.all_scalar_observables(model.basis, c, sol.lambda_bar[0], G, helicity=0)
        out.scalars["m0_sq"] = ren.m0_sq
        out.levels["jz=+1/2"] = sol.lambda_bar.tolist()
        fixed = RenormalizationCondition(kind="fixed", value=ren.m0_sq)
        partner = renormalized_solve(model.with_jz(-0.5), config.couplings, fixed, 1, config.backend)
        out.scalars["jz_partner_splitting"] = float(partner.solution.lambda_bar[0] - sol.lambda_bar[0])
        for jz in config.excited_jz:
            exc = renormalized_solve(model.with_jz(jz), config.couplings, fixed,
                                     config.n_states, config.backend)
            out.levels[f"jz={jz:+g}"] = exc.solution.lambda_bar.tolist()
        out.xi = obs.isgur_wise(model.basis, c, w_grid)
        out.lcda = obs.lcda(model.basis, c, helicity=0)
        out.distributions = obs.momentum_distributions(model.basis, c)
        out.residual = float(np.max(sol.residuals))
        out.backend = sol.backend
        out.iterations = ren.iterations
    except LFQCDError as exc:
        out.status = "failed"
        out.error = f"{type(exc).__name__}: {exc}"
    out.wall_s = time.perf_counter() - t0
    return out


@dataclasses.dataclass
class RunResult:
    config: RunConfig
    per_resolution: list[ResolutionResult]
    w: np.ndarray
    extrapolated: dict[str, dict[str, Any]]
    xi_extrapolated: np.ndarray
    xi_error: np.ndarray
    wall_s: float

    @property
    def ok(self) -> list[ResolutionResult]:
        return [r for r in self.per_resolution if r.status == "ok"]

    @property
    def finest(self) -> ResolutionResult | None:
        ok = self.ok
        return min(ok, key=lambda r: (r.resolution.h, -r.resolution.kappa_max)) if ok else None

    def physical(self) -> dict[str, dict[str, float]]:
        """Extrapolated values converted to GeV (see units in the table of README)."""
        from lfqcd.units import inverse_spacing_gev

        inv_a = inverse_spacing_gev(self.config.lattice_spacing_fm)
        powers = {"lambda_bar": 1.0, "fB_sqrtM": 1.5, "lambda_B": 1.0, "omega_plus_mean": 1.0}
        out = {}
        for key, p in powers.items():
            e = self.extrapolated.get(key)
            if e and e.get("value") is not None:
                out[key] = {"value": e["value"] * inv_a**p, "error": e["error"] * inv_a**p,
                            "unit": f"GeV^{p:g}"}
        return out

    def _tables(self) -> dict[str, Any]:
        """xi(w) extrapolated; LCDA and momentum distributions at the finest resolution."""
        tables: dict[str, Any] = {
            "isgur_wise": {"w": self.w.tolist(), "xi": self.xi_extrapolated.tolist(),
                           "error": self.xi_error.tolist()},
        }
        fin = self.finest
        if fin is not None and fin.lcda is not None:
            tables["lcda"] = {"resolution": fin.resolution.to_dict(),
                              "omega": fin.lcda[0].tolist(), "phi_plus": fin.lcda[1].tolist()}
            tables["pdf"] = {"resolution": fin.resolution.to_dict(),
                             **{k: v.tolist() for k, v in fin.distributions.items()}}
        return tables

    def to_dict(self) -> dict[str, Any]:
        fin = self.finest
        return {
            "config": self.config.to_dict(),
            "preset": get_preset(self.config.preset).to_dict(),
            "version": __version__,
            "git_revision": _git_revision(),
            "seeds": {"eigensolver_start_vector": self.config.seed},
            "host": platform.node(),
            "wall_s": self.wall_s,
            "units": {"internal": "lattice units (powers of 1/a)",
                      "lattice_spacing_fm": self.config.lattice_spacing_fm},
            "renormalization_note": RENORMALIZATION_NOTE,
            "resolutions": [r.to_dict() for r in self.per_resolution],
            "observables": {
                key: {
                    "per_resolution": [r.scalars.get(key) for r in self.per_resolution],
                    "finest": None if fin is None else fin.scalars.get(key),
                    **self.extrapolated.get(key, {}),
                }
                for key in SCALARS
            },
            "physical_units": self.physical(),
            "tables": self._tables(),
            "failed_resolutions": [r.to_dict() for r in self.per_resolution if r.status != "ok"],
        }


RENORMALIZATION_NOTE = (
    "Sector-0 kinetic-mass counterterm m0_sq(h) tuned per resolution so that the ground-state "
    "Lambda-bar equals the configured target (physics.md K); with condition 'lambda_bar', "
    "Lambda-bar is an input and all other observables are predictions. virial_mismatch = "
    "<kappa_tot> - Lambda-bar is the convergence/counterterm diagnostic (zero only without "
    "log counterterms)."
)


def _git_revision() -> str | None:
    try:
        return subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
            cwd=Path(__file__).resolve().parent, check=True,
        ).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def _extrapolate_all(done: list[ResolutionResult]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    if len({r.resolution.h for r in done}) < 2:
        return out
    h = np.array([r.resolution.h for r in done])
    km = np.array([r.resolution.kappa_max for r in done])
    for key in SCALARS:
        if key in NOT_EXTRAPOLATED:
            continue
        vals = np.array([r.scalars.get(key, np.nan) for r in done], dtype=float)
        if not np.all(np.isfinite(vals)):
            continue
        e = extrapolate(h, vals, km)
        out[key] = {"extrapolated": e.value, "value": e.value, "error": e.error, "fit": e.model}
    return out


def run(config: RunConfig, out_dir: str | Path | None = None,
        progress: Callable[[str], None] | None = print) -> RunResult:
    """Run the ladder of ``config``; write all outputs into ``out_dir`` when given."""
    t0 = time.perf_counter()
    w_grid = np.linspace(1.0, config.w_max, config.n_w)
    results = []
    cfg_hash = config_hash(config.to_dict())
    for i, res in enumerate(config.resolutions):
        r = None if out_dir is None else checkpoint.load(Path(out_dir), i, res, cfg_hash,
                                                         ResolutionResult)
        if r is None:
            if progress and not kernels_compiled():
                progress("compiling the numba operator kernels (once per process, ~10 s) ...")
            r = solve_resolution(config, res, w_grid)
            if out_dir is not None and r.status == "ok":
                checkpoint.save(Path(out_dir), i, cfg_hash, r)
        elif progress:
            progress(f"h={res.h:<5g} kappa_max={res.kappa_max:<5g} reused from "
                     f"{checkpoint.path_for(Path(out_dir), i, res)}")
        results.append(r)
        if progress:
            if r.status == "ok":
                s = r.scalars
                progress(f"h={res.h:<5g} kappa_max={res.kappa_max:<5g} m0_sq={s['m0_sq']:.4f} "
                         f"Lambda-bar={s['lambda_bar']:.5f} rho2={s['rho2']:.4f} "
                         f"P0={s['P0']:.4f} fB_sqrtM={s['fB_sqrtM']:.4f} ({r.wall_s:.1f} s)")
            else:
                progress(f"h={res.h:<5g} kappa_max={res.kappa_max:<5g} FAILED: {r.error}")
    done = [r for r in results if r.status == "ok"]
    extrap = _extrapolate_all(done)
    xi_val = np.full(len(w_grid), np.nan)
    xi_err = np.full(len(w_grid), np.nan)
    if len({r.resolution.h for r in done}) >= 2:
        h = np.array([r.resolution.h for r in done])
        km = np.array([r.resolution.kappa_max for r in done])
        xis = np.array([r.xi for r in done])
        for j in range(len(w_grid)):
            e = extrapolate(h, xis[:, j], km)
            xi_val[j], xi_err[j] = e.value, e.error
    result = RunResult(config, results, w_grid, extrap, xi_val, xi_err, time.perf_counter() - t0)
    if out_dir is not None:
        write_outputs(result, Path(out_dir))
    return result


def write_outputs(result: RunResult, out_dir: Path) -> None:
    """results.json, CSV tables and plots (atomic JSON write: no partial file is visible)."""
    from heavy_meson import plots, tables

    out_dir.mkdir(parents=True, exist_ok=True)
    write_json(out_dir / "results.json", result.to_dict(), default=_json_default)  # NaN -> null
    tables.write_csv_tables(result, out_dir)
    plots.write_plots(result, out_dir)


def _json_default(x: Any) -> Any:
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, np.generic):
        return x.item()
    raise TypeError(f"not JSON serialisable: {type(x).__name__}")


# ---------------------------------------------------------------------------------------------- CLI


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="run configuration (TOML), e.g. runs/b_meson_default.toml")
    parser.add_argument("--out", default="out/b_meson", help="output folder (default out/b_meson)")
    parser.add_argument("--quiet", action="store_true", help="no per-resolution progress lines")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace what --out holds instead of resuming it")


def main(args: argparse.Namespace) -> int:
    from heavy_meson.tables import summary_table
    from lfqcd import outdir
    from lfqcd.signals import sigterm_as_interrupt

    config = load_config(args.config)
    outdir.prepare(args.out, "run", config_hash(config.to_dict()), overwrite=args.overwrite)
    with sigterm_as_interrupt():
        result = run(config, args.out, progress=None if args.quiet else print)
    print()
    print(summary_table(result))
    print(f"\nwrote {args.out}/results.json, isgur_wise.csv, lcda.csv, pdf.csv and 4 plots "
          f"in {result.wall_s:.1f} s")
    failed = [r for r in result.per_resolution if r.status != "ok"]
    if failed:
        print(f"WARNING: {len(failed)} resolution(s) failed; see failed_resolutions in results.json")
        return 1
    return 0
