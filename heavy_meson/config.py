"""Run configuration of a heavy-light run: TOML in, validated dataclass out.

Unknown sections or keys are refused (a typo must never silently fall back to a default), and
every value is checked before any Hamiltonian is built. See ``runs/b_meson_default.toml`` for
the documented layout; :func:`RunConfig.to_dict` is written next to every result.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

from heavy_meson.hamiltonian import Resolution
from heavy_meson.renormalization import RenormalizationCondition
from lfqcd import validate as check
from lfqcd.couplings import Couplings, get_preset
from lfqcd.errors import ConfigError, InvalidParameterError
from lfqcd.tomlio import read_toml
from lfqcd.units import HBARC_GEV_FM, check_units

_SCHEMA: dict[str, set[str]] = {
    "run": {"name", "preset", "seed", "backend", "n_states", "excited_jz", "memory_limit_gb"},
    "couplings": {"G", "m", "mu", "t_F", "t_NF", "w_FF", "w_NN", "w_FN"},
    "units": {"lattice_spacing_fm", "G_GeV2", "sqrt_sigma_GeV"},
    "renormalization": {"condition", "target_GeV", "value", "tolerance", "m_R_sq",
                        "log_coefficient", "log_factor"},
    "resolutions": {"ladder"},
    "observables": {"w_max", "n_w"},
    "error_budget": {"enabled", "resolution", "lambda_bar_GeV", "lambda_bar_error_GeV"},
    "truncation": {"max_links"},
}


@dataclasses.dataclass(frozen=True)
class BudgetConfig:
    """Where and how the calibration, scheme and frame parts of the error budget are computed.

    ``resolution``: the ``[h, kappa_max]`` at which the couplings' covariance is propagated
    (finite-difference Jacobian) and the two renormalisation schemes are compared;
    ``lambda_bar_GeV`` (``+- lambda_bar_error_GeV``): the reference Lambda-bar of the
    alternative scheme (FNAL/MILC/TUMQCD 1802.04248, MRS scheme)."""

    enabled: bool = True
    resolution: tuple[float, float] = (0.3, 12.0)
    lambda_bar_GeV: float = 0.555
    lambda_bar_error_GeV: float = 0.031

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class RunConfig:
    name: str
    preset: str
    couplings: Couplings
    lattice_spacing_fm: float
    renormalization: RenormalizationCondition
    resolutions: tuple[Resolution, ...]
    seed: int = 0
    backend: str = "auto"
    n_states: int = 3
    excited_jz: tuple[float, ...] = (1.5,)
    w_max: float = 1.6
    n_w: int = 31
    memory_limit_gb: float = 8.0
    budget: BudgetConfig = BudgetConfig()
    sqrt_sigma_GeV: float = 0.44
    #: Fock truncation: at most this many links (1 = femtoworm; 2, 3 with the multi-link terms
    #: of docs/physics_links.md at zero link potential and plaquette, counterterm on every
    #: sector that can still emit)
    max_links: int = 1

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["couplings"] = self.couplings.to_dict()
        d["renormalization"] = self.renormalization.to_dict()
        d["resolutions"] = [r.to_dict() for r in self.resolutions]
        d["budget"] = self.budget.to_dict()
        return d


def _section(raw: dict, name: str) -> dict:
    sec = raw.get(name, {})
    if not isinstance(sec, dict):
        raise ConfigError(f"[{name}] must be a table, got {type(sec).__name__}")
    unknown = sorted(set(sec) - _SCHEMA[name])
    if unknown:
        raise ConfigError(
            f"unknown key(s) {unknown} in [{name}]; allowed: {', '.join(sorted(_SCHEMA[name]))}"
        )
    return sec


def _number(sec: dict, key: str, where: str, default: Any = None) -> Any:
    v = sec.get(key, default)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise ConfigError(f"[{where}] {key} must be a finite number, got {v!r}")
    return v


def config_from_dict(raw: dict[str, Any]) -> RunConfig:
    """Validate a parsed TOML document (see module docstring)."""
    unknown = sorted(set(raw) - set(_SCHEMA))
    if unknown:
        raise ConfigError(f"unknown section(s) {unknown}; allowed: {', '.join(sorted(_SCHEMA))}")
    run = _section(raw, "run")
    preset = get_preset(str(run.get("preset", "illustrative")))
    try:
        couplings = preset.couplings.replace(**_section(raw, "couplings"))
    except InvalidParameterError as exc:
        raise ConfigError(f"[couplings]: {exc}") from exc

    units = _section(raw, "units")
    sqrt_sigma = float(_number(units, "sqrt_sigma_GeV", "units", preset.sqrt_sigma_GeV))
    if sqrt_sigma <= 0:
        raise ConfigError(f"[units] sqrt_sigma_GeV must be > 0, got {sqrt_sigma}")
    # the scale: G_phys = 2 sigma / pi (docs/physics.md (F1)) and 1/a = sqrt(G_phys / G)
    a_from_G = HBARC_GEV_FM * math.sqrt(couplings.G * math.pi / (2.0 * sqrt_sigma**2))
    a_fm = _number(units, "lattice_spacing_fm", "units")
    if a_fm is None:
        a_fm = a_from_G if couplings.G > 0 else preset.lattice_spacing_fm
    elif a_fm <= 0:
        raise ConfigError(f"[units] lattice_spacing_fm must be > 0, got {a_fm}")
    elif couplings.G > 0 and not math.isclose(a_fm, a_from_G, rel_tol=1e-3):
        raise ConfigError(
            f"[units] lattice_spacing_fm = {a_fm} is inconsistent with G = {couplings.G} "
            f"(lattice units) and sqrt_sigma_GeV = {sqrt_sigma}: the string tension fixes "
            f"a = {a_from_G:.5g} fm. Leave lattice_spacing_fm out (it is derived from G), or "
            "change sqrt_sigma_GeV")
    G_gev2 = _number(units, "G_GeV2", "units")
    if G_gev2 is not None:
        check_units(couplings.G, a_fm, G_gev2)
    inv_a = HBARC_GEV_FM / a_fm

    ren = _section(raw, "renormalization")
    default_kind = "renormalized_quark" if preset.m_R_sq is not None else "lambda_bar"
    kind = check.string(ren.get("condition", default_kind), "[renormalization] condition")
    if "target" in ren:
        raise ConfigError("[renormalization] target is now target_GeV (Lambda-bar in GeV)")
    target_gev = _number(ren, "target_GeV", "renormalization")
    if target_gev is None and preset.lambda_bar_target is not None:
        target_gev = preset.lambda_bar_target * HBARC_GEV_FM / preset.lattice_spacing_fm
    m_R_sq = _number(ren, "m_R_sq", "renormalization", preset.m_R_sq)
    if kind == "renormalized_quark" and m_R_sq is None:
        raise ConfigError(
            f"[renormalization] condition 'renormalized_quark' needs m_R_sq: preset {preset.name!r} "
            "has none (it was not calibrated with the renormalised quark); give m_R_sq or use "
            "condition = 'lambda_bar'")
    if kind == "renormalized_quark" and set(_section(raw, "couplings")) - {"G"} and "m_R_sq" not in ren:
        raise ConfigError(
            "[couplings] overrides change the light-quark self-energy, so the preset's m_R_sq no "
            "longer describes the same renormalised quark: give [renormalization] m_R_sq "
            "explicitly (e.g. from `lfqcd calibrate`) or use condition = 'lambda_bar'")
    check.number(ren.get("tolerance", 1e-7), "[renormalization] tolerance", gt=0)
    if kind == "lambda_bar" and target_gev is not None and target_gev <= 0:
        raise ConfigError(f"[renormalization] target_GeV must be > 0 (Lambda-bar = M_B - m_b is "
                          f"positive), got {target_gev!r}")
    condition = RenormalizationCondition(
        kind=kind,
        target=None if kind != "lambda_bar" or target_gev is None else target_gev / inv_a,
        value=_number(ren, "value", "renormalization"),
        tolerance=_number(ren, "tolerance", "renormalization", 1e-7),
        m_R_sq=m_R_sq if kind == "renormalized_quark" else None,
        log_coefficient=_number(ren, "log_coefficient", "renormalization"),
        log_factor=_number(ren, "log_factor", "renormalization", preset.log_factor),
    )

    bsec = _section(raw, "error_budget")
    bres = bsec.get("resolution", [0.3, 12.0])
    try:
        Resolution(float(bres[0]), float(bres[1]))
        budget = BudgetConfig(
            enabled=bool(bsec.get("enabled", True)),
            resolution=(float(bres[0]), float(bres[1])),
            lambda_bar_GeV=float(_number(bsec, "lambda_bar_GeV", "error_budget", 0.555)),
            lambda_bar_error_GeV=float(_number(bsec, "lambda_bar_error_GeV", "error_budget", 0.031)),
        )
    except (TypeError, ValueError, IndexError) as exc:
        raise ConfigError(f"[error_budget] resolution must be an [h, kappa_max] pair: {exc}") from exc

    ladder = _section(raw, "resolutions").get("ladder")
    if not ladder:
        raise ConfigError("[resolutions] ladder must list at least two [h, kappa_max] pairs")
    try:
        resolutions = tuple(Resolution(check.number(h, "[resolutions] ladder h"),
                                       check.number(k, "[resolutions] ladder kappa_max"))
                            for h, k in ladder)
    except InvalidParameterError as exc:
        raise ConfigError(f"[resolutions] ladder: {exc}") from exc
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"[resolutions] ladder must be a list of [h, kappa_max] pairs: {exc}") from exc
    if len({r.h for r in resolutions}) < 2:
        raise ConfigError("[resolutions] ladder needs at least two distinct h to extrapolate")

    obs = _section(raw, "observables")
    n_states = check.integer(run.get("n_states", 3), "[run] n_states", ge=1)
    w_max = float(_number(obs, "w_max", "observables", 1.6))
    if w_max <= 1.0:
        raise ConfigError(f"[observables] w_max must be > 1, got {w_max}")
    excited = check.numbers(run.get("excited_jz", [1.5]), "[run] excited_jz")
    backend = check.string(run.get("backend", "auto"), "[run] backend")
    memory_gb = check.number(run.get("memory_limit_gb", 8.0), "[run] memory_limit_gb", gt=0)
    max_links = _section(raw, "truncation").get("max_links", 1)
    if isinstance(max_links, list):
        raise ConfigError("[truncation] max_links is a list: that is a links-convergence study "
                          "(`lfqcd run` runs it, see runs/b_meson_links.toml), not a table run")
    max_links = check.integer(max_links, "[truncation] max_links", ge=0)
    if max_links > 3:
        raise ConfigError(f"[truncation] max_links must be 0, 1, 2 or 3, got {max_links}")
    check_feasible(backend, resolutions, excited, memory_gb, max_links)
    return RunConfig(
        name=check.string(run.get("name", "b_meson"), "[run] name"),
        preset=preset.name,
        couplings=couplings,
        lattice_spacing_fm=float(a_fm),
        renormalization=condition,
        resolutions=resolutions,
        seed=check.integer(run.get("seed", 0), "[run] seed", ge=0),
        backend=backend,
        n_states=n_states,
        excited_jz=excited,
        w_max=w_max,
        n_w=check.integer(obs.get("n_w", 31), "[observables] n_w", ge=2),
        memory_limit_gb=memory_gb,
        budget=budget,
        sqrt_sigma_GeV=sqrt_sigma,
        max_links=max_links,
    )


def check_feasible(backend: str, resolutions: tuple[Resolution, ...],
                   excited_jz: tuple[float, ...], limit: float, max_links: int = 1) -> None:
    """Before compute: backend usable here, j_z blocks, memory estimate of every resolution."""
    from heavy_meson.hamiltonian import check_memory
    from lfqcd.eigen import check_backend
    from lfqcd.errors import BasisTooLargeError

    check_backend(backend, "[run] backend")
    for jz in excited_jz:
        if not (2 * jz).is_integer() or int(2 * jz) % 2 == 0:
            raise ConfigError(f"[run] excited_jz must list half-odd j_z values (e.g. 1.5), "
                              f"got {jz!r}")
    for res in resolutions:
        try:
            check_memory(res, int(limit * 2**30), max_links)
        except BasisTooLargeError as exc:
            raise ConfigError(f"[resolutions] ladder: {exc} ([run] memory_limit_gb = "
                              f"{limit:g})") from exc


def load_config(path: str | Path, raw: dict[str, Any] | None = None) -> RunConfig:
    """Read and validate a TOML run configuration (``raw``: its already parsed content)."""
    raw = read_toml(path, "run configuration") if raw is None else raw
    try:
        return config_from_dict(raw)
    except InvalidParameterError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
