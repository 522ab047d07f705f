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
from lfqcd.units import check_units

_SCHEMA: dict[str, set[str]] = {
    "run": {"name", "preset", "seed", "backend", "n_states", "excited_jz", "memory_limit_gb"},
    "couplings": {"G", "m", "mu", "t_F", "t_NF", "w_FF", "w_NN", "w_FN"},
    "units": {"lattice_spacing_fm", "G_GeV2"},
    "renormalization": {"condition", "target", "value", "tolerance"},
    "resolutions": {"ladder"},
    "observables": {"w_max", "n_w"},
}


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
    w_max: float = 2.0
    n_w: int = 41
    memory_limit_gb: float = 8.0

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["couplings"] = self.couplings.to_dict()
        d["renormalization"] = self.renormalization.to_dict()
        d["resolutions"] = [r.to_dict() for r in self.resolutions]
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
    a_fm = _number(units, "lattice_spacing_fm", "units", preset.lattice_spacing_fm)
    if a_fm <= 0:
        raise ConfigError(f"[units] lattice_spacing_fm must be > 0, got {a_fm}")
    G_gev2 = _number(units, "G_GeV2", "units")
    if G_gev2 is not None:
        check_units(couplings.G, a_fm, G_gev2)

    ren = _section(raw, "renormalization")
    kind = check.string(ren.get("condition", "lambda_bar"), "[renormalization] condition")
    target = _number(ren, "target", "renormalization", preset.lambda_bar_target)
    if kind == "lambda_bar" and target <= 0:
        raise ConfigError(f"[renormalization] target must be > 0 (Lambda-bar = M_B - m_b is "
                          f"positive), got {target!r}")
    check.number(ren.get("tolerance", 1e-7), "[renormalization] tolerance", gt=0)
    condition = RenormalizationCondition(
        kind=kind,
        target=target if kind == "lambda_bar" else None,
        value=_number(ren, "value", "renormalization"),
        tolerance=_number(ren, "tolerance", "renormalization", 1e-7),
    )

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
    w_max = float(_number(obs, "w_max", "observables", 2.0))
    if w_max <= 1.0:
        raise ConfigError(f"[observables] w_max must be > 1, got {w_max}")
    excited = check.numbers(run.get("excited_jz", [1.5]), "[run] excited_jz")
    backend = check.string(run.get("backend", "auto"), "[run] backend")
    memory_gb = check.number(run.get("memory_limit_gb", 8.0), "[run] memory_limit_gb", gt=0)
    check_feasible(backend, resolutions, excited, memory_gb)
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
        n_w=check.integer(obs.get("n_w", 41), "[observables] n_w", ge=2),
        memory_limit_gb=memory_gb,
    )


def check_feasible(backend: str, resolutions: tuple[Resolution, ...],
                   excited_jz: tuple[float, ...], limit: float) -> None:
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
            check_memory(res, int(limit * 2**30))
        except BasisTooLargeError as exc:
            raise ConfigError(f"[resolutions] ladder: {exc} ([run] memory_limit_gb = "
                              f"{limit:g})") from exc


def load_config(path: str | Path) -> RunConfig:
    """Read and validate a TOML run configuration."""
    raw = read_toml(path, "run configuration")
    try:
        return config_from_dict(raw)
    except InvalidParameterError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
