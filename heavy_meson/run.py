"""The main job: a heavy-light (B) meson run over a resolution ladder, with an error budget.

``lfqcd run runs/b_meson_default.toml --out DIR`` (or :func:`run` from Python) solves the
femtoworm operator in the ``j_z = +1/2`` block at every resolution of the ladder with the
renormalised light quark of the calibration (docs/physics.md (R4): ``Lambda-bar`` is predicted),
computes every observable of docs/physics.md section E, extrapolates ``h -> 0,
kappa_max -> inf`` with several ansaetze, attaches an error budget to every observable
(:mod:`heavy_meson.budget`), and writes ``results.json``, ``isgur_wise.csv``, ``lcda.csv``,
``pdf.csv`` and four plots into ``DIR``.

A resolution that fails (unconverged solver, unreachable counterterm) is recorded with its
error message; the run continues, writes everything it has, and reports the failure.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import math
import platform
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from heavy_meson import budget as bud
from heavy_meson import checkpoint
from heavy_meson import observables as obs
from heavy_meson.config import RunConfig, load_config
from heavy_meson.hamiltonian import HeavyLightModel, Resolution
from heavy_meson.renormalization import RenormalizationCondition, log_slope, renormalized_solve
from lfqcd import __version__
from lfqcd.assembly import kernels_compiled
from lfqcd.couplings import couplings_from_fit, get_preset
from lfqcd.endpoint import endpoint_report
from lfqcd.errors import LFQCDError
from lfqcd.extrapolate import extrapolate_ansatz
from lfqcd.outdir import config_hash, write_json
from lfqcd.units import inverse_spacing_gev

#: scalar observables extrapolated and reported (results.json keys)
SCALARS = (
    "lambda_bar", "rho2", "rho2_longitudinal", "xi_curvature", "fB_sqrtM", "lambda_B",
    "omega_plus_mean", "P0", "P1", "virial_mismatch", "kappa_tot_mean", "jz_partner_splitting",
)
#: physical range of an extrapolated limit (an ansatz whose limit leaves it is not acceptable)
BOUNDS: dict[str, tuple[float, float]] = {"P0": (0.0, 1.0), "P1": (0.0, 1.0)}



@dataclasses.dataclass
class ResolutionResult:
    """Everything computed at one resolution (lattice units)."""

    resolution: Resolution
    status: str
    error: str | None = None
    scalars: dict[str, float] = dataclasses.field(default_factory=dict)
    levels: dict[str, list[float]] = dataclasses.field(default_factory=dict)
    xi: np.ndarray | None = None
    xi_longitudinal: np.ndarray | None = None
    lcda: tuple[np.ndarray, np.ndarray] | None = None
    distributions: dict[str, np.ndarray] | None = None
    residual: float = float("nan")
    backend: str = ""
    iterations: int = 0
    m0_sq: float = float("nan")
    m0_log: float = 0.0
    wall_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "h": self.resolution.h, "kappa_max": self.resolution.kappa_max,
            "status": self.status, "error": self.error, "observables": self.scalars,
            "levels": self.levels, "max_residual": self.residual, "backend": self.backend,
            "sector0_mass": {"m0_sq": self.m0_sq, "log_coefficient": self.m0_log,
                             "counterterm_iterations": self.iterations},
            "wall_s": self.wall_s,
        }


def _new_model(config: RunConfig, resolution: Resolution) -> HeavyLightModel:
    return HeavyLightModel(resolution, jz=0.5, memory_limit=int(config.memory_limit_gb * 2**30),
                           max_links=config.max_links)


def solve_resolution(
    config: RunConfig, resolution: Resolution, w_grid: np.ndarray,
    model: HeavyLightModel | None = None, condition: RenormalizationCondition | None = None,
    full: bool = True,
) -> ResolutionResult:
    """Solve and measure at one resolution; failures are returned, not raised. ``full=False``
    computes only the scalar observables of the ground state (error-budget solves)."""
    t0 = time.perf_counter()
    out = ResolutionResult(resolution=resolution, status="ok")
    cond = condition or config.renormalization
    try:
        model = model or _new_model(config, resolution)
        ren = renormalized_solve(model, config.couplings, cond,
                                 n_states=config.n_states if full else 1, backend=config.backend)
        sol = ren.solution
        c = sol.vectors[:, 0]
        G = config.couplings.G
        out.scalars = obs.all_scalar_observables(model.basis, c, sol.lambda_bar[0], G, helicity=0)
        out.m0_sq, out.m0_log, out.iterations = ren.m0_sq, ren.m0_log, ren.iterations
        out.residual = float(np.max(sol.residuals))
        out.backend = sol.backend
        if full:
            out.levels["jz=+1/2"] = sol.lambda_bar.tolist()
            fixed = RenormalizationCondition(kind="fixed", value=ren.m0_sq,
                                             log_coefficient=ren.m0_log)
            partner = renormalized_solve(model.with_jz(-0.5), config.couplings, fixed, 1,
                                         config.backend)
            out.scalars["jz_partner_splitting"] = float(partner.solution.lambda_bar[0]
                                                        - sol.lambda_bar[0])
            for jz in config.excited_jz:
                exc = renormalized_solve(model.with_jz(jz), config.couplings, fixed,
                                         config.n_states, config.backend)
                out.levels[f"jz={jz:+g}"] = exc.solution.lambda_bar.tolist()
            out.xi = obs.isgur_wise(model.basis, c, w_grid)
            if model.basis.max_links <= 1:  # longitudinal frame: written for <= 1 link
                # the longitudinal overlap is smooth and costly: 9 points, interpolated
                w_coarse = np.linspace(w_grid[0], w_grid[-1], 9)
                out.xi_longitudinal = np.interp(
                    w_grid, w_coarse, obs.isgur_wise_longitudinal(model.basis, c, w_coarse))
            out.lcda = obs.lcda(model.basis, c, helicity=0, G=G)
            out.distributions = obs.momentum_distributions(model.basis, c)
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
    observables: dict[str, dict[str, Any]]
    xi: dict[str, np.ndarray]
    scheme: dict[str, Any]
    wall_s: float

    @property
    def ok(self) -> list[ResolutionResult]:
        return [r for r in self.per_resolution if r.status == "ok"]

    @property
    def finest(self) -> ResolutionResult | None:
        ok = self.ok
        return min(ok, key=lambda r: (r.resolution.h, -r.resolution.kappa_max)) if ok else None

    @property
    def inv_a(self) -> float:
        return inverse_spacing_gev(self.config.lattice_spacing_fm)

    def physical(self) -> dict[str, dict[str, Any]]:
        """Values, errors and budgets converted to GeV (lattice values times (1/a)^power)."""
        out = {}
        for key, p in bud.POWERS.items():
            o = self.observables.get(key)
            if not o or o.get("value") is None:
                continue
            f = self.inv_a**p
            out[key] = {"value": o["value"] * f, "error": o["error"] * f, "unit": bud.unit_of(key),
                        "error_budget": _scale_budget(o["error_budget"], f)}
        return out

    def _tables(self) -> dict[str, Any]:
        fin = self.finest
        tables: dict[str, Any] = {"isgur_wise": {k: v.tolist() for k, v in self.xi.items()}}
        if fin is not None and fin.lcda is not None:
            tables["lcda"] = {"resolution": fin.resolution.to_dict(),
                              "omega": fin.lcda[0].tolist(), "phi_plus": fin.lcda[1].tolist()}
            tables["pdf"] = {"resolution": fin.resolution.to_dict(),
                             **{k: v.tolist() for k, v in fin.distributions.items()}}
        return tables

    def to_dict(self) -> dict[str, Any]:
        fin = self.finest
        cond = self.config.renormalization
        return {
            "config": self.config.to_dict(),
            "preset": get_preset(self.config.preset).to_dict(),
            "version": __version__,
            "git_revision": _git_revision(),
            "seeds": {"eigensolver_start_vector": self.config.seed},
            "host": platform.node(),
            "wall_s": self.wall_s,
            "units": {"internal": "lattice units (powers of 1/a)",
                      "lattice_spacing_fm": self.config.lattice_spacing_fm,
                      "inverse_spacing_GeV": self.inv_a},
            "renormalization": {
                "scheme": cond.kind,
                "lambda_bar_is_input": cond.kind == "lambda_bar",
                "m_R_sq": cond.m_R_sq,
                "log_coefficient": cond.log_coefficient_for(self.config.couplings),
                "log_factor": cond.log_factor,
                "note": RENORMALIZATION_NOTES[cond.kind],
                "lambda_bar_trend": lambda_bar_trend(self.ok),
                # below mu^2 = 2G the link's end point falls to the centre: no h -> 0 limit
                "endpoint": endpoint_report(self.config.couplings),
            },
            "resolutions": [r.to_dict() for r in self.per_resolution],
            "observables": {
                key: {
                    "per_resolution": [r.scalars.get(key) for r in self.per_resolution],
                    "finest": None if fin is None else fin.scalars.get(key),
                    **self.observables.get(key, {}),
                }
                for key in SCALARS
            },
            "physical_units": self.physical(),
            "scheme_comparison": self.scheme,
            "tables": self._tables(),
            "failed_resolutions": [r.to_dict() for r in self.per_resolution if r.status != "ok"],
        }


RENORMALIZATION_NOTES = {
    "renormalized_quark": (
        "One renormalised light quark (docs/physics.md (R1)-(R5), (R10)): the sector-0 kinetic "
        "mass on the quark's cell n is m_R^2 + c ln(n - 1/2) with the self-energy log "
        "coefficient c = log_factor 4 (t_F^2 + t_NF^2)/m^2; m_R^2 and log_factor come from the "
        "calibration (log_factor fixed by regulator independence only); nothing is tuned per "
        "resolution and Lambda-bar is a prediction."),
    "lambda_bar": (
        "Constant sector-0 kinetic mass m0_sq(h) tuned per resolution so that the ground-state "
        "Lambda-bar equals the configured target: Lambda-bar is an input and all other "
        "observables are predictions."),
    "fixed": "Constant sector-0 kinetic mass m0_sq given explicitly.",
    "none": "No counterterm (m0 = m): shows the small-momentum divergence.",
}


def lambda_bar_trend(done: list[ResolutionResult]) -> dict[str, Any] | None:
    """Slope of Lambda-bar against ln(1/h) at the cutoff with the most grid spacings: with one
    renormalised quark it should be consistent with zero (docs/physics.md (R9)); a residual
    slope is a log the counterterm does not remove (least squares, standard error)."""
    by_k: dict[float, list[ResolutionResult]] = {}
    for r in done:
        by_k.setdefault(r.resolution.kappa_max, []).append(r)
    k, rs = max(by_k.items(), key=lambda kv: len(kv[1])) if by_k else (None, [])
    if len(rs) < 3:
        return None
    slope, err = log_slope(np.array([r.resolution.h for r in rs]),
                           np.array([r.scalars["lambda_bar"] for r in rs]))
    return {"kappa_max": k, "slope_per_ln_inv_h": slope, "error": err,
            "units": "lattice units per unit ln(1/h)"}


def _scale_budget(b: dict[str, Any], f: float) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in b.items():
        if isinstance(v, float):
            out[k] = v * f
        elif isinstance(v, dict):
            out[k] = {kk: (vv * f if isinstance(vv, float) and kk in ("error", "fit_error",
                                                                      "ansatz_spread") else vv)
                      for kk, vv in v.items()}
        else:
            out[k] = v
    return out


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
        vals = np.array([r.scalars.get(key, np.nan) for r in done], dtype=float)
        if np.all(np.isfinite(vals)):
            out[key] = extrapolate_ansatz(h, vals, km, bounds=BOUNDS.get(key)).to_dict()
    return out


def _budget_parts(config: RunConfig, progress: Callable[[str], None] | None,
                  model: HeavyLightModel | None = None,
                  ) -> tuple[dict[str, float] | None, dict[str, float] | None, dict[str, Any]]:
    """Calibration errors and scheme differences at the budget resolution (lattice units);
    ``model``: that resolution's model when the ladder already built it."""
    bc = config.budget
    res = Resolution(*bc.resolution)
    model = model or _new_model(config, res)
    preset = get_preset(config.preset)
    cond = config.renormalization
    inv_a = inverse_spacing_gev(config.lattice_spacing_fm)

    def scalars(cfg: RunConfig, condition: RenormalizationCondition) -> dict[str, float]:
        r = solve_resolution(cfg, res, np.array([1.0]), model, condition, full=False)
        if r.status != "ok":
            raise LFQCDError(r.error or "failed")
        return r.scalars

    central = scalars(config, cond)
    calib: dict[str, float] | None = None
    same_point = (preset.fit_values is not None and preset.covariance is not None
                  and couplings_from_fit(preset.fit_values)[0] == config.couplings
                  and cond.log_factor == preset.log_factor)
    if same_point and cond.kind == "renormalized_quark":
        if progress:
            progress(f"error budget: calibration covariance through the solver at h={res.h}, "
                     f"kappa_max={res.kappa_max} ({2 * len(preset.fit_values)} solves)")

        def at(theta: np.ndarray) -> dict[str, float]:
            c, m_R_sq, log_factor = couplings_from_fit(theta)
            cfg = dataclasses.replace(config, couplings=c)
            # the scale moves with G: observables in GeV units of the central spacing
            s = scalars(cfg, dataclasses.replace(cond, m_R_sq=m_R_sq, log_factor=log_factor))
            ratio = math.sqrt(c.G / config.couplings.G)  # (1/a)_theta / (1/a)_central
            return {k: v * ratio ** bud.POWERS.get(k, 0.0) for k, v in s.items()}

        calib, _ = bud.calibration_errors(at, np.array(preset.fit_values),
                                          np.array(preset.covariance))
    # the other scheme at the same resolution
    scheme_info: dict[str, Any] = {"resolution": res.to_dict()}
    diff: dict[str, float] | None = None
    if cond.kind == "renormalized_quark":
        lam = bc.lambda_bar_GeV / inv_a
        other = RenormalizationCondition(kind="lambda_bar", target=lam)
        if progress:
            progress(f"error budget: Lambda-bar scheme (Lambda-bar = {bc.lambda_bar_GeV} GeV) at "
                     f"h={res.h}, kappa_max={res.kappa_max}")
        alt = scalars(config, other)
        diff = {k: central[k] - alt[k] for k in central}
        d_lam = bc.lambda_bar_error_GeV / inv_a
        up = scalars(config, RenormalizationCondition(kind="lambda_bar", target=lam + d_lam))
        dn = scalars(config, RenormalizationCondition(kind="lambda_bar", target=lam - d_lam))
        scheme_info.update({
            "other_scheme": "lambda_bar", "lambda_bar_GeV": bc.lambda_bar_GeV,
            "this_scheme": central, "lambda_bar_scheme": alt,
            "d_observable_d_lambda_bar": {k: (up[k] - dn[k]) / (2 * d_lam) for k in central},
            "note": ("sensitivity of every observable to the Lambda-bar input of the lambda_bar "
                     "scheme (lattice units per lattice unit), by central difference over "
                     f"+-{bc.lambda_bar_error_GeV} GeV"),
        })
    return calib, diff, scheme_info


def extended_w_grid(w_max: float, n_w: int) -> np.ndarray:
    """The per-resolution grid: twice the reported range (every other point is a reported one),
    so that the rescaled extrapolation of :func:`_xi_curves` can reach past ``w_max``."""
    return np.linspace(1.0, 1.0 + 2.0 * (w_max - 1.0), 2 * n_w - 1)


def _xi_curves(done: list[ResolutionResult], w: np.ndarray,
               observables: dict[str, dict[str, Any]]) -> dict[str, np.ndarray]:
    """Extrapolated xi(w) that keeps xi(1) = 1 and monotonicity: the finest curve with its
    argument rescaled so that its slope is the extrapolated rho^2,
    xi(w) = xi_fin(1 + (w - 1) rho2 / rho2_fin) (docs/physics.md (B4)); the band from rho2's
    total error; the same for the longitudinal frame."""
    fin = min(done, key=lambda r: (r.resolution.h, -r.resolution.kappa_max))
    w_ext = extended_w_grid(w[-1], len(w))
    out: dict[str, np.ndarray] = {"w": w}
    for key, curve, name in (("rho2", fin.xi, "xi"),
                             ("rho2_longitudinal", fin.xi_longitudinal, "xi_longitudinal")):
        o = observables.get(key)
        if not o or o.get("value") is None or curve is None:
            continue
        r_fin = fin.scalars[key]

        def scaled(rho2: float, curve: np.ndarray = curve, r_fin: float = r_fin) -> np.ndarray:
            return np.interp(1.0 + (w - 1.0) * max(rho2, 0.0) / r_fin, w_ext, curve,
                             right=np.nan)

        out[name] = scaled(o["value"])
        lo, hi = scaled(o["value"] + o["error"]), scaled(o["value"] - o["error"])
        out[name + "_error"] = 0.5 * np.abs(hi - lo)
    out["xi_finest"] = fin.xi[::2]
    if fin.xi_longitudinal is not None:
        out["xi_longitudinal_finest"] = fin.xi_longitudinal[::2]
    return out


def run(config: RunConfig, out_dir: str | Path | None = None,
        progress: Callable[[str], None] | None = print) -> RunResult:
    """Run the ladder of ``config``; write all outputs into ``out_dir`` when given."""
    t0 = time.perf_counter()
    w_grid = np.linspace(1.0, config.w_max, config.n_w)
    w_ext = extended_w_grid(config.w_max, config.n_w)
    results = []
    budget_res = Resolution(*config.budget.resolution)
    budget_model: HeavyLightModel | None = None
    cfg_hash = config_hash(config.to_dict())
    for i, res in enumerate(config.resolutions):
        r = None if out_dir is None else checkpoint.load(Path(out_dir), i, res, cfg_hash,
                                                         ResolutionResult)
        if r is None:
            if progress and not kernels_compiled():
                progress("compiling the numba operator kernels (once per process, ~10 s) ...")
            if res == budget_res:  # the error budget solves at this resolution again
                with contextlib.suppress(LFQCDError):  # a failure is recorded by the solve
                    budget_model = _new_model(config, res)
            r = solve_resolution(config, res, w_ext, budget_model if res == budget_res else None)
            if out_dir is not None and r.status == "ok":
                checkpoint.save(Path(out_dir), i, cfg_hash, r)
        elif progress:
            progress(f"h={res.h:<5g} kappa_max={res.kappa_max:<5g} reused from "
                     f"{checkpoint.path_for(Path(out_dir), i, res)}")
        results.append(r)
        if progress:
            if r.status == "ok":
                s = r.scalars
                progress(f"h={res.h:<5g} kappa_max={res.kappa_max:<5g} "
                         f"Lambda-bar={s['lambda_bar']:.5f} rho2={s['rho2']:.4f} "
                         f"rho2_L={s.get('rho2_longitudinal', math.nan):.4f} P0={s['P0']:.4f} "
                         f"fB_sqrtM={s['fB_sqrtM']:.4f} lambda_B={s['lambda_B']:.4f} "
                         f"({r.wall_s:.1f} s)")
            else:
                progress(f"h={res.h:<5g} kappa_max={res.kappa_max:<5g} FAILED: {r.error}")
    done = [r for r in results if r.status == "ok"]
    extrap = _extrapolate_all(done)
    calib = diff = None
    scheme: dict[str, Any] = {}
    if config.budget.enabled and extrap:
        try:
            calib, diff, scheme = _budget_parts(config, progress, budget_model)
        except LFQCDError as exc:
            scheme = {"error": f"{type(exc).__name__}: {exc}"}
    frame = {k: extrap[k]["value"] - extrap[v]["value"] for k, v in bud.FRAME_PAIRS.items()
             if k in extrap and v in extrap}
    inv_a = inverse_spacing_gev(config.lattice_spacing_fm)
    observables = {
        key: bud.assemble(key, extrap.get(key), calib, diff, frame,
                          None if key not in extrap else extrap[key]["value"]
                          * inv_a ** bud.POWERS.get(key, 0.0), config.max_links)
        for key in SCALARS if key in extrap
    }
    for key in observables:
        observables[key]["extrapolation"] = extrap[key]
    xi = _xi_curves(done, w_grid, observables) if extrap else {"w": w_grid}
    result = RunResult(config, results, w_grid, observables, xi, scheme, time.perf_counter() - t0)
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
    from lfqcd.outdir import add_overwrite_argument

    add_overwrite_argument(parser)


def main(args: argparse.Namespace) -> int:
    from heavy_meson import links_convergence
    from heavy_meson.tables import summary_table
    from lfqcd import outdir
    from lfqcd.signals import sigterm_as_interrupt
    from lfqcd.tomlio import read_toml

    raw = read_toml(args.config, "run configuration")  # read once: a table run or a study
    if links_convergence.is_study(raw):
        return links_convergence.run_command(raw, args.config, args.out, args.overwrite)
    config = load_config(args.config, raw)
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
