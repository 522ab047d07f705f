"""Convergence in the number of links (issue 11): the B meson at max_links = 1, 2, 3.

For every resolution of a small ladder and every Fock truncation, build
:class:`~heavy_meson.hamiltonian.HeavyLightModel` with that ``max_links``, tune the counterterm
with the run's renormalisation condition (by default ``Lambda-bar`` fixed, so the other
observables are predictions), and write one row per (resolution, max_links) to
``links_convergence.csv`` with ``lambda_bar, rho2, fB_sqrtM, lambda_B, P0..P3`` (lattice units
and GeV), the counterterm, sizes, wall time and peak memory, plus a plot and a JSON record of
the configuration and versions.

The couplings of the terms that need two or more links (link potential, plaquette) come from
the configuration's ``[links]``: zero in ``runs/b_meson_links.toml`` (only the Lagrangian-fixed
two-link emission and pair Coulomb terms act), the transverse-string fit
(:func:`lfqcd.transverse_string.fit_link_couplings`) in ``runs/b_meson_links_fitted.toml``. The
femtoworm couplings (G, mu, m, t_F, t_NF) are not recalibrated with links. "Errors" are the
change between the two finest resolutions of the ladder, not a fit.

Usage: ``lfqcd run runs/b_meson_links.toml --out DIR`` (a run configuration whose
``[truncation] max_links`` is a list is this study), or
``python -m heavy_meson.links_convergence runs/b_meson_links.toml --out DIR``.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import math
import platform
import resource
import sys
import time
from pathlib import Path
from typing import Any

from heavy_meson import observables as obs
from heavy_meson.hamiltonian import COUNTERTERM_SECTORS, HeavyLightModel, Resolution
from heavy_meson.renormalization import RenormalizationCondition, renormalized_solve
from lfqcd import __version__, outdir
from lfqcd.couplings import get_preset
from lfqcd.errors import InvalidParameterError, LFQCDError
from lfqcd.links import LinkCouplings
from lfqcd.tomlio import read_toml

COLUMNS = ("max_links", "counterterm_sectors", "h", "kappa_max", "full_dim", "block_dim",
           "m0_sq", "lambda_bar", "lambda_bar_GeV", "rho2", "fB_sqrtM", "fB_sqrtM_GeV32",
           "lambda_B", "lambda_B_GeV", "P0", "P1", "P2", "P3", "residual", "wall_s", "peak_rss_GB")
#: observables whose resolution spread is reported as the error
QUANTITIES = ("lambda_bar", "rho2", "fB_sqrtM", "lambda_B", "P0", "P1", "P2", "P3")


@dataclasses.dataclass(frozen=True)
class LinksConfig:
    """What ``links_convergence.toml``-style files hold (all sections optional but resolution)."""

    preset: str
    resolutions: tuple[Resolution, ...]
    max_links: tuple[int, ...] = (1, 2, 3)
    link_couplings: LinkCouplings = LinkCouplings()
    lambda_bar_gev: float | None = None
    memory_limit_gb: float = 8.0
    counterterm_sectors: tuple[str, ...] = ("emitting",)
    link_kappa_max: float | None = None

    @classmethod
    def from_toml(cls, path: str | Path) -> LinksConfig:
        return cls.from_dict(read_toml(path), path)

    @classmethod
    def from_dict(cls, data: dict[str, Any], path: str | Path = "<config>") -> LinksConfig:
        unknown = set(data) - {"couplings", "links", "truncation", "resolution",
                               "renormalization", "limits"}
        if unknown:
            raise InvalidParameterError(f"{path}: unknown section(s) {sorted(unknown)}")
        res = data.get("resolution", {})
        hs = res.get("h")
        kmaxs = res.get("kappa_max")
        if not isinstance(hs, list) or not isinstance(kmaxs, list) or len(hs) != len(kmaxs) or not hs:
            raise InvalidParameterError(
                f"{path}: [resolution] needs equal-length lists h = [...] and kappa_max = [...]")
        links = data.get("links", {})
        try:
            lc = LinkCouplings(**links)
        except TypeError as exc:
            raise InvalidParameterError(f"{path}: [links] {exc}") from None
        trunc = data.get("truncation", {})
        max_links = tuple(trunc.get("max_links", (1, 2, 3)))
        link_kmax = trunc.get("link_kappa_max")
        if not max_links or any(isinstance(n, bool) or n not in (0, 1, 2, 3) for n in max_links):
            raise InvalidParameterError(f"{path}: [truncation] max_links must list 0..3")
        ren = data.get("renormalization", {})
        target = ren.get("lambda_bar_GeV")
        ct = ren.get("counterterm_sectors", ["emitting"])
        ct = (ct,) if isinstance(ct, str) else tuple(ct)
        if not ct or any(c not in COUNTERTERM_SECTORS for c in ct):
            raise InvalidParameterError(
                f"{path}: [renormalization] counterterm_sectors must be among {COUNTERTERM_SECTORS}")
        return cls(
            preset=str(data.get("couplings", {}).get("preset", "calibrated")),
            resolutions=tuple(Resolution(float(h), float(k)) for h, k in zip(hs, kmaxs, strict=True)),
            max_links=max_links,
            link_couplings=lc,
            lambda_bar_gev=None if target is None else float(target),
            memory_limit_gb=float(data.get("limits", {}).get("memory_limit_gb", 8.0)),
            counterterm_sectors=ct,
            link_kappa_max=None if link_kmax is None else float(link_kmax),
        )


def _inv_a_gev(preset_name: str) -> float:
    return 0.1973269804 / get_preset(preset_name).lattice_spacing_fm


def solve_point(config: LinksConfig, resolution: Resolution, max_links: int,
                counterterm_sectors: str = "emitting") -> dict[str, Any]:
    """One row: build, renormalise, measure (failures are recorded, not raised)."""
    preset = get_preset(config.preset)
    inv_a = _inv_a_gev(config.preset)
    target = (preset.lambda_bar_target if config.lambda_bar_gev is None
              else config.lambda_bar_gev / inv_a)
    row: dict[str, Any] = {"max_links": max_links, "counterterm_sectors": counterterm_sectors,
                           "h": resolution.h, "kappa_max": resolution.kappa_max}
    t0 = time.perf_counter()
    try:
        model = HeavyLightModel(resolution, jz=0.5, max_links=max_links,
                                memory_limit=int(config.memory_limit_gb * 2**30),
                                link_couplings=config.link_couplings,
                                counterterm_sectors=counterterm_sectors,
                                link_kappa_max=config.link_kappa_max)
        cond = RenormalizationCondition(kind="lambda_bar", target=target)
        ren = renormalized_solve(model, preset.couplings, cond)
        c = ren.solution.vectors[:, 0]
        P = obs.probabilities(model.basis, c)
        lcda = obs.lcda_moments(model.basis, c)
        f = obs.decay_constant(model.basis, c, 0, preset.couplings.G)
        lb = float(ren.solution.lambda_bar[0])
        row.update(full_dim=model.basis.dim, block_dim=model.dim, m0_sq=ren.m0_sq,
                   lambda_bar=lb, lambda_bar_GeV=lb * inv_a,
                   rho2=obs.isgur_wise_moments(model.basis, c)["rho2"],
                   fB_sqrtM=f, fB_sqrtM_GeV32=f * inv_a**1.5,
                   lambda_B=lcda["lambda_B"], lambda_B_GeV=lcda["lambda_B"] * inv_a,
                   residual=float(max(ren.solution.residuals)))
        row.update({f"P{n}": P.get(f"P{n}", 0.0) for n in range(4)})
        row["status"] = "ok"
    except LFQCDError as exc:
        row["status"] = f"failed: {type(exc).__name__}: {exc}"
    row["wall_s"] = time.perf_counter() - t0
    row["peak_rss_GB"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    return row


def spreads(rows: list[dict[str, Any]]) -> dict[int, dict[str, float]]:
    """Per (max_links, counterterm_sectors): |value(finest h) - value(next finest h)|."""
    out: dict[str, dict[str, float]] = {}
    for key in sorted({_group(r) for r in rows}):
        ok = sorted((r for r in rows if _group(r) == key and r.get("status") == "ok"),
                    key=lambda r: r["h"])
        if len(ok) >= 2:
            out[key] = {q: abs(ok[0][q] - ok[1][q]) for q in QUANTITIES}
    return out


def _group(row: dict[str, Any]) -> str:
    return f"{row['max_links']}/{row['counterterm_sectors']}"


def write_csv(rows: list[dict[str, Any]], path: Path) -> None:
    err = spreads(rows)
    cols = list(COLUMNS) + [f"{q}_err" for q in QUANTITIES] + ["status"]
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=cols, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            out = dict(r)
            for q in QUANTITIES:
                out[f"{q}_err"] = err.get(_group(r), {}).get(q, math.nan)
            w.writerow(out)


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib.pyplot as plt

    ok = [r for r in rows if r.get("status") == "ok"]
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
    for h, ct in sorted({(r["h"], r["counterterm_sectors"]) for r in ok}):
        sel = sorted((r for r in ok if r["h"] == h and r["counterterm_sectors"] == ct),
                     key=lambda r: r["max_links"])
        n = [r["max_links"] for r in sel]
        lab = f"h = {h:g}, m0^2 in {ct}"
        axes[0].plot(n, [r["rho2"] for r in sel], "o-", label=lab)
        axes[1].plot(n, [r["fB_sqrtM_GeV32"] for r in sel], "o-", label=lab)
        axes[2].plot(n, [r["P0"] for r in sel], "o-", label=lab)
    for ax, lab in zip(axes, ("rho^2", "f_B sqrt(M_B) [GeV^3/2]", "P0"), strict=True):
        ax.set_xlabel("max_links")
        ax.set_ylabel(lab)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def run(config: LinksConfig, out_dir: Path) -> list[dict[str, Any]]:
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for ct in config.counterterm_sectors:
        for n in config.max_links:
            for res in config.resolutions:
                row = solve_point(config, res, n, ct)
                rows.append(row)
                print(f"max_links={n} counterterm={ct} h={res.h:g} kappa_max={res.kappa_max:g}: "
                      f"{row['status']} ({row['wall_s']:.1f} s)", flush=True)
    write_csv(rows, out_dir / "links_convergence.csv")
    plot(rows, out_dir / "links_convergence.png")
    record = {"config": {"preset": config.preset, "max_links": list(config.max_links),
                         "resolutions": [r.to_dict() for r in config.resolutions],
                         "link_couplings": config.link_couplings.to_dict(),
                         "lambda_bar_GeV": config.lambda_bar_gev,
                         "counterterm_sectors": list(config.counterterm_sectors),
                         "link_kappa_max": config.link_kappa_max},
              "versions": {"lfqcd": __version__, "python": platform.python_version()},
              "rows": rows, "errors_from_resolution_spread": spreads(rows)}
    outdir.write_json(out_dir / "links_convergence.json", record, default=float)
    return rows


def is_study(raw: dict[str, Any]) -> bool:
    """Whether a parsed run configuration is a links-convergence study (``max_links`` a list)."""
    trunc = raw.get("truncation")
    return isinstance(trunc, dict) and isinstance(trunc.get("max_links"), list)


def run_command(raw: dict[str, Any], config_path: str | Path, out: str | Path,
                overwrite: bool = False) -> int:
    """``lfqcd run`` of a links-convergence configuration (``raw``, read from ``config_path``):
    the output-folder contract of :mod:`lfqcd.outdir`, the study, and a one-line summary;
    exit status 1 if a row failed."""
    config = LinksConfig.from_dict(raw, config_path)
    outdir.prepare(out, "run", outdir.config_hash(raw), overwrite=overwrite)
    rows = run(config, Path(out))
    print(f"\nwrote {out}/links_convergence.csv, .json and .png ({len(rows)} rows)")
    return 0 if all(r.get("status") == "ok" for r in rows) else 1


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m heavy_meson.links_convergence",
                                description=__doc__.splitlines()[0])
    p.add_argument("config", help="TOML file, e.g. runs/b_meson_links.toml")
    p.add_argument("--out", required=True, help="output directory")
    args = p.parse_args(argv)
    try:
        rows = run(LinksConfig.from_toml(args.config), Path(args.out))
    except LFQCDError as exc:
        print(f"links_convergence: error: {exc}", file=sys.stderr)
        return 2
    return 0 if all(r.get("status") == "ok" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
