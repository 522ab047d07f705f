"""Calibrate the couplings: light mesons + covariance + string tensions (docs/physics.md section 8).

``lfqcd calibrate runs/calibrate.toml --out DIR`` runs the least-squares fit of
:mod:`lfqcd.calibration.fit` and writes ``calibration.json`` (fitted couplings with errors,
correlation, residual of every condition, predictions, configuration, version),
``calibration.txt`` (the table) and two plots: the pion dispersion relation along the axis and
the diagonal, and the light-meson spectrum against ``t_F`` around the fitted point.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lfqcd import __version__, outdir
from lfqcd.calibration.checks import check_values
from lfqcd.couplings import CALIBRATION_PARAMS
from lfqcd.errors import ConfigError, InvalidParameterError
from lfqcd.tomlio import read_toml

if TYPE_CHECKING:
    from lfqcd.calibration.fit import ExtraCondition

_SCHEMA = {"setup": {"k_values", "k_holdout", "p_cov", "string_h", "string_kappa_max"},
           "targets": {"sqrt_sigma", "m_pi", "m_rho", "f_pi", "c2", "tol_sigma", "tol_m_pi",
                       "tol_m_rho", "tol_f_pi", "tol_c2", "tol_degeneracy", "tol_stability",
                       "c2_diagonal"},
           "start": set(CALIBRATION_PARAMS),
           "fit": {"max_nfev", "fixed", "ftol"}}


def load_calibration_config(path: str | Path,
                            extra_schema: dict[str, set[str]] | None = None) -> dict[str, Any]:
    """Parse and validate the calibration TOML (unknown sections/keys are refused);
    ``extra_schema`` adds the sections of conditions supplied from outside the core."""
    p = Path(path)
    raw = read_toml(p, "calibration configuration")
    schema = {**_SCHEMA, **(extra_schema or {})}
    for sec, val in raw.items():
        if sec not in schema:
            raise ConfigError(f"{p}: unknown section [{sec}]; allowed: {', '.join(schema)}")
        if not isinstance(val, dict):
            raise ConfigError(f"{p}: [{sec}] must be a table, got {val!r}")
        unknown = sorted(set(val) - schema[sec])
        if unknown:
            raise ConfigError(f"{p}: unknown key(s) {unknown} in [{sec}]; "
                              f"allowed: {', '.join(sorted(schema[sec]))}")
    if set(raw.get("start", {})) != _SCHEMA["start"]:
        raise ConfigError(f"{p}: [start] needs every fit parameter: {', '.join(sorted(_SCHEMA['start']))}")
    check_values(raw)
    return raw


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="calibration configuration, e.g. runs/calibrate.toml")
    parser.add_argument("--out", default="out/calibration", help="output folder")
    parser.add_argument("--quiet", action="store_true")
    outdir.add_overwrite_argument(parser)


def main(args: argparse.Namespace, extra_schema: dict[str, set[str]] | None = None,
         extra_conditions: Callable[[dict[str, Any]], tuple[ExtraCondition, ...]] | None = None
         ) -> int:
    """The calibration command; ``extra_schema`` / ``extra_conditions(raw)`` let a package above
    the core add conditions and their configuration sections (``heavy_meson.calibrate``)."""
    from lfqcd.calibration.fit import Calibrator, Setup, Targets, fit
    from lfqcd.calibration.report import calibration_table, write_plots

    raw = load_calibration_config(args.config, extra_schema)
    extra = extra_conditions(raw) if extra_conditions else ()  # validated before any output
    outdir.prepare(args.out, "calibrate", outdir.config_hash(raw), overwrite=args.overwrite)
    try:
        setup = Setup(**{k: tuple(v) if isinstance(v, list) else v
                         for k, v in raw.get("setup", {}).items()})
        targets = Targets(**raw.get("targets", {}))
    except (TypeError, InvalidParameterError) as exc:
        raise ConfigError(f"{args.config}: {exc}") from exc
    cal = Calibrator(setup, targets, extra)
    result = fit(setup, targets, raw["start"], progress=None if args.quiet else print,
                 max_nfev=raw.get("fit", {}).get("max_nfev", 200), calibrator=cal,
                 fixed=tuple(raw.get("fit", {}).get("fixed", ())),
                 ftol=raw.get("fit", {}).get("ftol", 1e-8))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    record = {"version": __version__, "config": raw, **result.to_dict()}
    outdir.write_json(out / "calibration.json", record, default=_json_default)
    table = calibration_table(json.loads(json.dumps(record, default=_json_default)))
    outdir.atomic_write_text(out / "calibration.txt", table + "\n")
    write_plots(cal, record, out)
    print(table)
    print(f"\nwrote {out}/calibration.json, calibration.txt, dispersion.png, stability.png "
          f"({result.n_eval} Hamiltonian evaluations, {result.wall_s:.0f} s)")
    return 0 if result.success else 1


def _json_default(x: Any) -> Any:
    if isinstance(x, np.generic):
        return x.item()
    if dataclasses.is_dataclass(x):
        return dataclasses.asdict(x)
    raise TypeError(f"not JSON serialisable: {type(x).__name__}")
