"""One ``lfqcd infer`` run: surrogate ensemble -> posterior -> verification with the solver.

Steps (:func:`run_inference`):

1. the surrogate: solve a scrambled-Sobol' design in the prior box (``source = "design"``,
   ``test_fraction`` of it held out and never trained on), read a scan store (``"scan"``) or
   load a saved ensemble (``"model"``); train an ensemble of small dense networks;
2. the posterior through the ensemble, with and without the ensemble's spread in the
   likelihood (:mod:`mlsurrogate.inverse.posterior`): best fit, Laplace covariance, samples;
3. the tension map over prior samples (which targets can be met where, and together);
4. verification: the real simulators at the best fit, at the least-tension point and at
   ``n_posterior`` posterior samples, against the surrogate's mean and spread.

Writes ``infer.json``, ``infer.txt``, ``corner.png``, ``design.csv`` (solved design points)
and ``surrogate/`` (the ensemble, usable with ``lfqcd predict``).
"""

from __future__ import annotations

import csv
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from lfqcd import __version__
from lfqcd.errors import ConfigError
from lfqcd.outdir import atomic_write_text, write_json
from mlsurrogate.inverse import posterior as post
from mlsurrogate.inverse.config import InferConfig
from mlsurrogate.inverse.ensemble import Ensemble, heldout_metrics, train_ensemble
from mlsurrogate.inverse.forward import ForwardModel, sobol
from mlsurrogate.inverse.report import corner_plot, summary_text


def _write_csv(path: Path, X: np.ndarray, Y: np.ndarray, xn: list[str], yn: list[str],
               split: np.ndarray) -> None:
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["split", *xn, *yn])
        for s, x, y in zip(split, X, Y, strict=True):
            w.writerow([s, *(f"{v:.10g}" for v in x), *(f"{v:.10g}" for v in y)])


def _scan_data(cfg: InferConfig, fwd: ForwardModel) -> tuple[np.ndarray, np.ndarray, list[str]]:
    from mlsurrogate.data import read_scan_store

    ds = read_scan_store(cfg.surrogate.path, params=cfg.names, missing="columns")
    rows = []
    for x, y in zip(ds.X, ds.Y, strict=True):
        theta = dict(zip(cfg.names, x, strict=True))
        obs = {n: float(v) for n, v in zip(ds.output_names, y, strict=True) if "[" not in n}
        rows.append(fwd.derived(obs, fwd.values(theta)["G"]))
    names = sorted(rows[0])
    return ds.X, np.array([[r[n] for n in names] for r in rows]), names


def build_surrogate(cfg: InferConfig, fwd: ForwardModel, out: Path, say: Callable[[str], None]
                    ) -> tuple[Ensemble, dict[str, Any], np.ndarray, np.ndarray, list[str]]:
    """The ensemble, its provenance/test metrics, and the solved data (empty for a loaded one)."""
    s = cfg.surrogate
    if s.source == "model":
        ens = Ensemble.load(s.path)
        if ens.input_names != cfg.names:
            raise ConfigError(f"ensemble {s.path} takes inputs {ens.input_names}, the fit has "
                              f"{cfg.names} (same names, same order)")
        return ens, {"source": "model", "path": s.path}, np.zeros((0, len(cfg.names))), \
            np.zeros((0, len(ens.output_names))), ens.output_names
    t0 = time.perf_counter()
    if s.source == "design":
        say(f"solving {s.n_points} design points with {[e.ref for e in cfg.simulators]} ...")
        X, Y, names, failed = fwd.design(s.n_points, cfg.seed, say)
        info: dict[str, Any] = {"source": "design", "n_points": s.n_points, "failed": failed}
    else:
        X, Y, names = _scan_data(cfg, fwd)
        info = {"source": "scan", "path": s.path}
    info["solve_wall_s"] = time.perf_counter() - t0
    rng = np.random.default_rng(cfg.seed)
    n_test = int(round(s.test_fraction * len(X))) if s.test_fraction > 0 else 0
    perm = rng.permutation(len(X))
    test, train = np.sort(perm[:n_test]), np.sort(perm[n_test:])
    split = np.array(["train"] * len(X), dtype=object)
    split[test] = "test"
    _write_csv(out / "design.csv", X, Y, cfg.names, names, split)
    say(f"training {s.members} ensemble members on {len(train)} points ({n_test} held out) ...")
    t0 = time.perf_counter()
    ens = train_ensemble(X[train], Y[train], cfg.names, names, s.members, s.width, s.depth, s.lr,
                         s.batch_size, s.max_epochs, s.patience, cfg.seed, info, say)
    info["train_wall_s"] = time.perf_counter() - t0
    info["n_train"], info["n_test"] = len(train), n_test
    if n_test:
        info["heldout"] = heldout_metrics(ens, X[test], Y[test])
        ens.meta["heldout"] = info["heldout"]
    ens.save(out / "surrogate")
    return ens, info, X, Y, names


def _verify(fwd: ForwardModel, ens: Ensemble, label: str, x: np.ndarray,
            watch: list[str]) -> dict[str, Any]:
    theta = dict(zip(fwd.names, map(float, x), strict=True))
    solver = fwd.evaluate(theta)
    mean, std = ens.predict(x[None, :])
    obs = {}
    for name in watch:
        if name not in solver:
            continue
        j = ens.column(name)
        d = float(solver[name] - mean[0, j])
        obs[name] = {"surrogate": float(mean[0, j]), "surrogate_std": float(std[0, j]),
                     "solver": float(solver[name]),
                     "pull": d / float(std[0, j]) if std[0, j] > 0 else float("inf")}
    return {"label": label, "point": theta, "observables": obs}


def refine_with_solver(cfg: InferConfig, fwd: ForwardModel, x0: np.ndarray) -> dict[str, Any]:
    """Least squares on the *real* solver (bounded to the box) from the surrogate's best fit:
    residuals ``(solver - target)/total error``. For cheap solvers; it settles whether the
    targets can be met where the surrogate is biased."""
    from scipy.optimize import least_squares

    lo, hi = fwd.bounds()
    names = list(cfg.targets)
    t = np.array([cfg.targets[n].value for n in names])
    e = np.array([cfg.targets[n].error for n in names])
    tot = np.sqrt(e**2 + (cfg.theory_rel_error * t) ** 2)

    def residual(x: np.ndarray) -> np.ndarray:
        obs = fwd.evaluate(dict(zip(fwd.names, map(float, x), strict=True)))
        return (np.array([obs[n] for n in names]) - t) / tot

    sol = least_squares(residual, np.clip(x0, lo, hi), bounds=(lo, hi), x_scale=hi - lo,
                        diff_step=1e-3, max_nfev=cfg.refine_max_nfev)
    obs = fwd.evaluate(dict(zip(fwd.names, map(float, sol.x), strict=True)))
    diff = np.array([obs[n] for n in names]) - t
    return {"point": dict(zip(fwd.names, map(float, sol.x), strict=True)),
            "solver": {n: float(obs[n]) for n in obs},
            "pulls_total_error": {n: float(v) for n, v in zip(names, diff / tot, strict=True)},
            "pulls_target_error_only": {n: float(v) for n, v in zip(names, diff / e, strict=True)},
            "nfev": int(sol.nfev), "status": str(sol.message)}


def reference_check(cfg: InferConfig, fwd: ForwardModel) -> dict[str, Any]:
    """The real solver at a named preset's couplings (fitted names only), against the targets."""
    from lfqcd.couplings import get_preset

    preset = get_preset(cfg.reference_preset)
    c = preset.couplings.to_dict()
    if preset.m_R_sq is not None:  # the renormalised quark mass of a calibrated preset
        c["m_R_sq"] = preset.m_R_sq
    missing = [n for n in fwd.names if n not in c]
    if missing:
        raise ConfigError(f"reference preset {cfg.reference_preset!r} has no value for {missing}")
    theta = {n: c[n] for n in fwd.names}
    obs = fwd.evaluate(theta)
    pulls = {n: (obs[n] - t.value) / math.hypot(t.error, cfg.theory_rel_error * t.value)
             for n, t in cfg.targets.items()}
    return {"preset": cfg.reference_preset, "point": theta, "solver": obs, "pulls_total_error": pulls}


def _bound(cfg: InferConfig, names: list[str], Y: np.ndarray) -> dict[str, Any] | None:
    """Real-solver statements over the solved design: the largest f_B^2 rho^2 and P0 P1, and
    the best each of the two targets gets where the other is met within 2 total errors."""
    need = {"fB2_rho2_GeV2", "P0", "P1", "fB_GeV", "rho2"}
    if len(Y) == 0 or not need <= set(names) or not {"fB_GeV", "rho2"} <= set(cfg.targets):
        return None
    col = {n: Y[:, names.index(n)] for n in need}
    tol = {n: 2.0 * math.hypot(cfg.targets[n].error, cfg.theory_rel_error * cfg.targets[n].value)
           for n in ("rho2", "fB_GeV")}
    near = {n: np.abs(col[n] - cfg.targets[n].value) < tol[n] for n in tol}

    def best(values: np.ndarray, mask: np.ndarray) -> float | None:
        return float(values[mask].max()) if mask.any() else None

    return {"n_design": len(Y), "max_fB2_rho2_GeV2": float(col["fB2_rho2_GeV2"].max()),
            "needed_GeV2": cfg.targets["fB_GeV"].value ** 2 * cfg.targets["rho2"].value,
            "max_P0P1": float((col["P0"] * col["P1"]).max()),
            "n_rho2_met": int(near["rho2"].sum()), "n_fB_met": int(near["fB_GeV"].sum()),
            "n_both_met": int((near["rho2"] & near["fB_GeV"]).sum()),
            "max_fB_GeV_where_rho2_met": best(col["fB_GeV"], near["rho2"]),
            "max_rho2_where_fB_met": best(col["rho2"], near["fB_GeV"])}


def run_inference(cfg: InferConfig, out: str | Path,
                  progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """The whole run (module docstring); returns the ``infer.json`` dictionary."""
    say = progress or (lambda _msg: None)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    fwd = ForwardModel(cfg)
    ens, sur_info, _X, Y, out_names = build_surrogate(cfg, fwd, out, say)
    missing = [t for t in cfg.targets if t not in ens.output_names]
    if missing:
        raise ConfigError(f"targets {missing} are not surrogate outputs; outputs: {ens.output_names}")
    lo, hi = fwd.bounds()
    u = sobol(len(lo), cfg.posterior.n_prior, cfg.seed + 1)
    prior = lo + u * (hi - lo)
    p = cfg.posterior
    fits = {}
    for with_err in (True, False):
        lik = post.Likelihood(ens, cfg.targets, lo, hi, cfg.theory_rel_error, with_err)
        bf = post.best_fit(lik, prior)
        lap = post.laplace(lik, bf)
        mc = post.sample(lik, bf, p.walkers, p.steps, p.burn, cfg.seed + 2)
        fits[with_err] = (lik, bf, lap, mc)
        say(f"posterior ({'with' if with_err else 'without'} surrogate error): best fit "
            + ", ".join(f"{n}={v:.4g}" for n, v in zip(cfg.names, bf, strict=True))
            + f", acceptance {mc['acceptance']:.2f}")
    lik, bf, lap, mc = fits[True]
    tension = post.tension_map(lik, prior, cfg.names)
    watch = list(dict.fromkeys([*cfg.targets, *(n for n in ("fB2_rho2_GeV2", "P0", "P1", "lambda_B_GeV")
                                                    if n in ens.output_names)]))
    say("verifying with the real simulator ...")
    checks = [("best fit", bf), ("least tension", np.array(list(tension["least_tension_point"].values())))]
    rng = np.random.default_rng(cfg.seed + 3)
    for i in rng.choice(len(mc["samples"]), size=cfg.n_verify_posterior, replace=False):
        checks.append((f"posterior sample {i}", mc["samples"][i]))
    verification = [_verify(fwd, ens, label, x, watch) for label, x in checks]
    refined = None
    if cfg.refine_max_nfev > 0:
        say(f"refining the best fit with the real solver (<= {cfg.refine_max_nfev} evaluations) ...")
        refined = refine_with_solver(cfg, fwd, bf)
    reference = reference_check(cfg, fwd) if cfg.reference_preset else None
    mean_bf, std_bf = (a[0] for a in ens.predict(bf[None, :]))
    res: dict[str, Any] = {
        "parameters": cfg.names,
        "box": {n: list(cfg.parameters[n]) for n in cfg.names},
        "targets": {n: {"value": t.value, "error": t.error} for n, t in cfg.targets.items()},
        "theory_rel_error": cfg.theory_rel_error,
        "best_fit": dict(zip(cfg.names, map(float, bf), strict=True)),
        "best_neg2logl": float(lik.neg2logl(bf)[0]),
        "best_fit_pulls": dict(zip(lik.names, map(float, lik.pulls(bf)[0]), strict=True)),
        "surrogate_prediction_at_best_fit": {
            n: {"mean": float(m), "std": float(s)}
            for n, m, s in zip(ens.output_names, mean_bf, std_bf, strict=True)},
        "laplace": {"std": lap["std"].tolist(), "cov": lap["cov"].tolist(),
                    "positive_definite": lap["positive_definite"], "at_box_edge": lap["at_box_edge"]},
        "posterior": {"summary": post.summarize(mc["samples"], cfg.names),
                      "acceptance": mc["acceptance"], "walkers": p.walkers, "steps": p.steps,
                      "burn": p.burn, "n_samples": len(mc["samples"]),
                      "correlation": np.corrcoef(mc["samples"].T).tolist()},
        "posterior_without_surrogate_error": {
            "best_fit": dict(zip(cfg.names, map(float, fits[False][1]), strict=True)),
            "summary": post.summarize(fits[False][3]["samples"], cfg.names)},
        "tension": tension,
        "bound": _bound(cfg, out_names, Y),
        "verification": verification,
        "solver_refined": refined,
        "reference": reference,
        "surrogate": sur_info,
        "simulators": [e.ref for e in cfg.simulators],
        "simulator_calls": fwd.n_calls,
        "config": cfg.to_dict(),
        "version": __version__,
        "wall_s": time.perf_counter() - t_start,
    }
    write_json(out / "infer.json", res, default=float)
    atomic_write_text(out / "infer.txt", summary_text(res) + "\n")
    marks = {"best fit": bf, "least tension": checks[1][1]}
    if refined:
        marks["solver-refined"] = np.array(list(refined["point"].values()))
    corner_plot(mc["samples"], cfg.names, res["box"], marks, out / "corner.png")
    return res
