"""The ``lfqcd infer`` configuration (TOML), validated into frozen dataclasses.

Sections (``runs/infer.toml`` is the annotated example)::

    [infer]        seed, out
    [parameters]   fitted couplings: name = [low, high]  (flat prior on this box)
    [couplings]    preset (non-fitted couplings), t_ratio (t_NF = t_ratio t_F, when t_NF is
                   neither fitted nor fixed), swaps ("lagrangian": w = t t'/m^2, or "preset"),
                   and any coupling or extra simulator input held fixed (name = value)
    [scale]        sqrt_sigma_gev (1/a = sqrt(G_phys/G)), M_B_gev, lambda_bar_gev (optional:
                   the heavy-light renormalisation target in GeV, converted per point)
    [[simulators]] ref ("module:function"), fixed (inputs of that simulator only), inputs
                   (which fitted/fixed names it receives; default: the couplings), rename
                   (name in the fit -> name the simulator expects), observables (kept outputs)
    [targets]      observable = {value, error}; theory_rel_error (model error added in quadrature)
    [surrogate]    source (design | scan | model), n_points, test_fraction, path, members,
                   width, depth, lr, batch_size, max_epochs, patience
    [posterior]    walkers, steps, burn, n_prior
    [verify]       n_posterior (posterior samples re-solved with the real simulators),
                   refine_max_nfev (> 0: refine the best fit by least squares on the real
                   solver, for cheap solvers), reference_preset (a preset solved for comparison)
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lfqcd.errors import ConfigError
from lfqcd.tomlio import read_toml

_SECTIONS = {"infer", "parameters", "couplings", "scale", "simulators", "targets", "surrogate",
             "posterior", "verify"}


@dataclasses.dataclass(frozen=True)
class SimulatorEntry:
    ref: str
    fixed: dict[str, Any] = dataclasses.field(default_factory=dict)
    inputs: tuple[str, ...] | None = None  # None: the eight couplings
    rename: dict[str, str] = dataclasses.field(default_factory=dict)
    observables: tuple[str, ...] | None = None  # None: every scalar output


@dataclasses.dataclass(frozen=True)
class Target:
    value: float
    error: float


@dataclasses.dataclass(frozen=True)
class SurrogateOptions:
    source: str = "design"  # design | scan | model
    path: str = ""  # scan store (source = scan) or saved ensemble (source = model)
    n_points: int = 256
    test_fraction: float = 0.15
    members: int = 5
    width: int = 64
    depth: int = 2
    lr: float = 3e-3
    batch_size: int = 32
    max_epochs: int = 400
    patience: int = 40


@dataclasses.dataclass(frozen=True)
class PosteriorOptions:
    walkers: int = 32
    steps: int = 1500
    burn: int = 500
    n_prior: int = 20000


@dataclasses.dataclass(frozen=True)
class InferConfig:
    parameters: dict[str, tuple[float, float]]
    targets: dict[str, Target]
    simulators: tuple[SimulatorEntry, ...]
    seed: int = 0
    out: str = "out/infer"
    preset: str = "illustrative"
    t_ratio: float | None = None
    swaps: str = "lagrangian"
    fixed: dict[str, Any] = dataclasses.field(default_factory=dict)
    sqrt_sigma_gev: float = 0.44
    M_B_gev: float = 5.279
    lambda_bar_gev: float | None = None
    theory_rel_error: float = 0.0
    surrogate: SurrogateOptions = SurrogateOptions()
    posterior: PosteriorOptions = PosteriorOptions()
    n_verify_posterior: int = 4
    refine_max_nfev: int = 0  # > 0: least-squares refinement with the real solver from the best fit
    reference_preset: str = ""  # a coupling preset also solved and compared with the targets

    @property
    def names(self) -> list[str]:
        return list(self.parameters)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _number(v: Any, where: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise ConfigError(f"{where} must be a finite number, got {v!r}")
    return float(v)


def _options(cls: type, table: Mapping[str, Any], where: str) -> Any:
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(table) - set(fields))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; allowed: {', '.join(fields)}")
    out = {}
    for k, v in table.items():
        default = getattr(cls(), k)
        if isinstance(default, str):
            if not isinstance(v, str):
                raise ConfigError(f"{where}.{k} must be a string, got {v!r}")
            out[k] = v
        elif isinstance(default, int):
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ConfigError(f"{where}.{k} must be a non-negative integer, got {v!r}")
            out[k] = v
        else:
            out[k] = _number(v, f"{where}.{k}")
    return cls(**out)


def config_from_dict(raw: Mapping[str, Any], source: str = "config") -> InferConfig:
    """Validate a parsed TOML table; every mistake raises :class:`ConfigError` naming it."""
    unknown = sorted(set(raw) - _SECTIONS)
    if unknown:
        raise ConfigError(f"{source}: unknown section(s) {unknown}; allowed: {sorted(_SECTIONS)}")
    params: dict[str, tuple[float, float]] = {}
    for name, box in (raw.get("parameters") or {}).items():
        if not (isinstance(box, list) and len(box) == 2):
            raise ConfigError(f"{source}: [parameters] {name} must be [low, high], got {box!r}")
        lo, hi = (_number(v, f"[parameters] {name}") for v in box)
        if not lo < hi:
            raise ConfigError(f"{source}: [parameters] {name}: low {lo} must be below high {hi}")
        params[name] = (lo, hi)
    if not params:
        raise ConfigError(f"{source}: [parameters] must name at least one fitted coupling")

    targets: dict[str, Target] = {}
    tsec = dict(raw.get("targets") or {})
    theory = _number(tsec.pop("theory_rel_error", 0.0), "[targets] theory_rel_error")
    for name, spec in tsec.items():
        if not (isinstance(spec, Mapping) and set(spec) == {"value", "error"}):
            raise ConfigError(f"{source}: [targets] {name} must be {{value = ..., error = ...}}")
        err = _number(spec["error"], f"[targets] {name}.error")
        if err <= 0:
            raise ConfigError(f"{source}: [targets] {name}.error must be > 0, got {err}")
        targets[name] = Target(_number(spec["value"], f"[targets] {name}.value"), err)
    if not targets:
        raise ConfigError(f"{source}: [targets] must name at least one observable")

    sims = []
    for i, s in enumerate(raw.get("simulators") or []):
        where = f"{source}: [[simulators]] #{i + 1}"
        extra = sorted(set(s) - {"ref", "fixed", "inputs", "rename", "observables"})
        if extra or "ref" not in s:
            raise ConfigError(f"{where} needs 'ref' and allows fixed, inputs, rename, observables"
                              + (f" (unknown {extra})" if extra else ""))
        sims.append(SimulatorEntry(
            ref=str(s["ref"]), fixed=dict(s.get("fixed", {})),
            inputs=tuple(s["inputs"]) if "inputs" in s else None,
            rename=dict(s.get("rename", {})),
            observables=tuple(s["observables"]) if "observables" in s else None))
    if not sims:
        raise ConfigError(f"{source}: at least one [[simulators]] entry is needed")

    coup = dict(raw.get("couplings") or {})
    preset = coup.pop("preset", "illustrative")
    swaps = coup.pop("swaps", "lagrangian")
    if swaps not in ("lagrangian", "preset"):
        raise ConfigError(f"{source}: [couplings] swaps must be 'lagrangian' or 'preset', got {swaps!r}")
    t_ratio = coup.pop("t_ratio", None)
    fixed = {k: _number(v, f"[couplings] {k}") for k, v in coup.items()}
    clash = sorted(set(fixed) & set(params))
    if clash:
        raise ConfigError(f"{source}: {clash} both fitted ([parameters]) and fixed ([couplings])")

    scale = dict(raw.get("scale") or {})
    bad = sorted(set(scale) - {"sqrt_sigma_gev", "M_B_gev", "lambda_bar_gev"})
    if bad:
        raise ConfigError(f"{source}: unknown key(s) {bad} in [scale]")
    inf = dict(raw.get("infer") or {})
    bad = sorted(set(inf) - {"seed", "out"})
    if bad:
        raise ConfigError(f"{source}: unknown key(s) {bad} in [infer]")
    ver = dict(raw.get("verify") or {})
    bad = sorted(set(ver) - {"n_posterior", "refine_max_nfev", "reference_preset"})
    if bad:
        raise ConfigError(f"{source}: unknown key(s) {bad} in [verify]; allowed: n_posterior, "
                          "refine_max_nfev, reference_preset")
    sur = _options(SurrogateOptions, raw.get("surrogate") or {}, "[surrogate]")
    if sur.source not in ("design", "scan", "model"):
        raise ConfigError(f"{source}: [surrogate] source must be design, scan or model, got {sur.source!r}")
    if sur.source != "design" and not sur.path:
        raise ConfigError(f"{source}: [surrogate] source = {sur.source!r} needs path")
    if sur.members < 2:
        raise ConfigError(f"{source}: [surrogate] members must be >= 2 (the ensemble spread is "
                          "the surrogate's uncertainty)")
    post = _options(PosteriorOptions, raw.get("posterior") or {}, "[posterior]")
    if post.walkers < 2 * len(params) or post.walkers % 2:
        raise ConfigError(f"{source}: [posterior] walkers must be even and >= 2 x the number of "
                          f"fitted parameters ({2 * len(params)})")
    if post.burn >= post.steps:
        raise ConfigError(f"{source}: [posterior] burn must be below steps")
    return InferConfig(
        parameters=params, targets=targets, simulators=tuple(sims),
        seed=int(inf.get("seed", 0)), out=str(inf.get("out", "out/infer")),
        preset=str(preset), t_ratio=None if t_ratio is None else _number(t_ratio, "t_ratio"),
        swaps=swaps, fixed=fixed,
        sqrt_sigma_gev=_number(scale.get("sqrt_sigma_gev", 0.44), "[scale] sqrt_sigma_gev"),
        M_B_gev=_number(scale.get("M_B_gev", 5.279), "[scale] M_B_gev"),
        lambda_bar_gev=(None if "lambda_bar_gev" not in scale
                        else _number(scale["lambda_bar_gev"], "[scale] lambda_bar_gev")),
        theory_rel_error=theory, surrogate=sur, posterior=post,
        n_verify_posterior=int(ver.get("n_posterior", 4)),
        refine_max_nfev=int(ver.get("refine_max_nfev", 0)),
        reference_preset=str(ver.get("reference_preset", "")),
    )


def load_infer_config(path: str | Path) -> InferConfig:
    """Read and validate an infer TOML file."""
    return config_from_dict(read_toml(path, "infer configuration"), source=str(path))
