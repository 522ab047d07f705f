"""Training configuration: TOML file -> validated dataclasses (no torch import).

Precedence: command-line flags > config file > defaults. Unknown sections/keys and wrong types
raise :class:`lfqcd.errors.ConfigError` naming the key. See ``runs/train_phantom.toml`` for a
commented example of every key.
"""

from __future__ import annotations

import typing
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from lfqcd import validate as check
from lfqcd.errors import ConfigError
from lfqcd.tomlio import read_toml
from mlsurrogate.arch import MODES, Arch
from mlsurrogate.costmodel import EnergyCoefficients

__all__ = [
    "DataConfig",
    "FitConfig",
    "ModelConfig",
    "ParallelConfig",
    "SyntheticConfig",
    "TrainConfig",
    "load_config",
]


@dataclass(frozen=True)
class SyntheticConfig:
    """Arguments of :func:`mlsurrogate.data.teacher_student`."""

    n_samples: int = 8192
    d_in: int = 6
    n_scalars: int = 4
    curve_points: int = 16
    teacher_width: int = 64
    teacher_depth: int = 2
    noise: float = 0.01
    seed: int = 1


@dataclass(frozen=True)
class DataConfig:
    source: str = "synthetic"  # "synthetic" | "scan"
    path: str = ""  # scan folder when source = "scan"
    missing: str = "rows"  # scan rows with missing values: drop the "rows" or the "columns"
    val_fraction: float = 0.2
    split_seed: int = 1
    synthetic: SyntheticConfig = field(default_factory=SyntheticConfig)


@dataclass(frozen=True)
class ModelConfig:
    width: int = 256
    depth: int = 2
    activation: str = "tanh"
    dtype: str = "float32"
    seed: int = 0


@dataclass(frozen=True)
class ParallelConfig:
    mode: str = "none"  # none | tensor | phantom
    nproc: int = 1
    ghosts: int = 16  # k, phantom only
    self_ghost: bool = False
    ghost_activation: str = "identity"
    overlap: bool = True
    backend: str = "auto"  # auto | gloo | nccl
    timeout_s: float = 60.0


@dataclass(frozen=True)
class FitConfig:
    """Options of :func:`mlsurrogate.train.fit`."""

    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 0.0
    max_epochs: int = 50
    max_iters: int = 0  # 0 = no limit besides max_epochs
    patience: int = 10  # evaluations without improvement before stopping; 0 = never
    min_delta: float = 0.0  # relative improvement that counts
    eval_every: int = 0  # iterations between validations; 0 = once per epoch
    target_loss: float = 0.0  # stop once the validation loss is <= this; 0 = off
    seed: int = 0  # batch shuffling
    device: str = "auto"  # auto | cpu | cuda (single process; ranks use their backend's device)


@dataclass(frozen=True)
class OutputConfig:
    dir: str = "out/train"


@dataclass(frozen=True)
class EnergyConfig:
    eps_flop_j: float = 5e-11
    eps_byte_j: float = 5e-10
    p_static_w: float = 10.0
    eps_flop_range: tuple[float, float] = (1e-11, 2e-10)
    eps_byte_range: tuple[float, float] = (5e-11, 5e-9)
    p_static_range: tuple[float, float] = (2.0, 30.0)

    def coefficients(self) -> EnergyCoefficients:
        return EnergyCoefficients(**asdict(self))


@dataclass(frozen=True)
class TrainConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    parallel: ParallelConfig = field(default_factory=ParallelConfig)
    train: FitConfig = field(default_factory=FitConfig)
    energy: EnergyConfig = field(default_factory=EnergyConfig)
    output: OutputConfig = field(default_factory=OutputConfig)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "config") -> TrainConfig:
        cfg = _build(cls, d, where)
        cfg.validate()
        return cfg

    def arch(self, d_in: int, d_out: int) -> Arch:
        """The :class:`Arch` for a data set with ``d_in`` inputs and ``d_out`` outputs."""
        m, p = self.model, self.parallel
        return Arch(
            d_in=d_in, d_out=d_out, width=m.width, depth=m.depth, activation=m.activation,
            mode=p.mode, nproc=p.nproc, ghosts=p.ghosts if p.mode == "phantom" else 0,
            self_ghost=p.self_ghost, ghost_activation=p.ghost_activation, overlap=p.overlap,
            seed=m.seed, dtype=m.dtype,
        )

    def validate(self) -> None:
        """Checks that need no data; the layout (p | n, 1 <= k < n/p) is checked via Arch."""
        p, d, t = self.parallel, self.data, self.train
        if p.mode not in MODES:
            raise ConfigError(f"unknown parallel mode {p.mode!r}; choose one of {', '.join(MODES)}")
        if d.source not in ("synthetic", "scan"):
            raise ConfigError(f"data.source must be 'synthetic' or 'scan', got {d.source!r}")
        if d.missing not in ("rows", "columns"):
            raise ConfigError(f"data.missing must be 'rows' or 'columns', got {d.missing!r}")
        if d.source == "scan" and not d.path:
            raise ConfigError("data.source = 'scan' needs data.path (or --data PATH)")
        if d.source == "scan" and not (Path(d.path) / "summary.csv").is_file():
            raise ConfigError(f"data.path {d.path!r} is not a scan store (no summary.csv)")
        if not 0 < check.number(d.val_fraction, "data.val_fraction") < 1:
            raise ConfigError(f"data.val_fraction must be in (0, 1), got {d.val_fraction}")
        for name, value in asdict(d.synthetic).items():
            check.number(value, f"data.synthetic.{name}", ge=0)
        for name in ("n_samples", "d_in", "teacher_width"):
            check.integer(getattr(d.synthetic, name), f"data.synthetic.{name}", ge=1)
        check.integer(t.batch_size, "train.batch_size", ge=1)
        check.number(t.lr, "train.lr", gt=0)
        check.integer(t.max_epochs, "train.max_epochs", ge=1)
        for name, value in asdict(self.energy).items():  # energy-model coefficients
            for v in value if isinstance(value, tuple | list) else (value,):
                check.number(v, f"energy.{name}", gt=0)
        if p.timeout_s <= 0:
            raise ConfigError(f"parallel.timeout_s must be > 0, got {p.timeout_s}")
        if t.device not in ("auto", "cpu", "cuda"):
            raise ConfigError(f"train.device must be auto, cpu or cuda, got {t.device!r}")
        # d_in/d_out do not affect layout validity: check it now with placeholders
        self.arch(1, 1)

    def with_overrides(self, **sections: dict[str, Any]) -> TrainConfig:
        """Copy with some keys replaced, e.g. ``with_overrides(parallel={"nproc": 2})``."""
        new = self
        for name, values in sections.items():
            if values:
                new = replace(new, **{name: replace(getattr(new, name), **values)})
        new.validate()
        return new


def _check_type(value: Any, tp: Any, where: str) -> Any:
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if typing.get_origin(tp) is tuple:
        if not isinstance(value, list | tuple) or len(value) != 2:
            raise ConfigError(f"{where} must be a [low, high] pair, got {value!r}")
        return tuple(float(v) for v in value)
    if isinstance(tp, type) and not isinstance(value, tp) or (tp is int and isinstance(value, bool)):
        raise ConfigError(f"{where} must be of type {getattr(tp, '__name__', tp)}, got {value!r}")
    return value


def _build(cls: type, table: dict[str, Any], where: str) -> Any:
    if not isinstance(table, dict):
        raise ConfigError(f"[{where}] must be a table")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(table) - names)
    if unknown:
        raise ConfigError(f"unknown key(s) in [{where}]: {', '.join(unknown)} "
                          f"(known: {', '.join(sorted(names))})")
    kwargs = {}
    for key, value in table.items():
        tp = hints[key]
        sub = f"{where}.{key}" if where != "config" else key
        if isinstance(tp, type) and hasattr(tp, "__dataclass_fields__"):
            kwargs[key] = _build(tp, value, sub)
        else:
            kwargs[key] = _check_type(value, tp, sub)
    return cls(**kwargs)


def load_config(path: str | Path) -> TrainConfig:
    """Read and validate a training TOML file."""
    raw = read_toml(path, "training configuration")
    try:
        return TrainConfig.from_dict(raw)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
