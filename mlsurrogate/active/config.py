"""Active-learning run configuration: TOML -> validated frozen dataclasses (no torch import).

Schema (see ``runs/al_toy.toml`` for every key with a comment)::

    [al]          simulator, name, out, backend, preset, seed, mode, observables
    [fixed]       constant simulator inputs (resolution, other couplings)
    [box]         the coupling box: name = [low, high] or {low, high, log}
    [policy]      kind, initial, initial_sampler, batch, rounds, pool_size, pool_sampler,
                  refresh_pool, jitter, uniform_mix, power, dedup_tol
    [uncertainty] kind ("ensemble" | "heteroscedastic"), members
    [model]       width, depth, activation, dtype, seed  (mlsurrogate.config.ModelConfig)
    [train]       lr, batch_size, initial_epochs, round_epochs, chunk_epochs, patience,
                  val_fraction, weight_decay, warm_start
    [test]        n_points, sampler, seed             (held-out set; n_points = 0: none)
    [stream]      sim_workers, oversample, split
    [executor]    as in scans: kind, workers, address, scheduler_file, connect_timeout_s
    [output]      progress, plots, keep_checkpoints

Precedence: command-line flags > file > defaults. Unknown tables/keys, wrong types and bad
values raise :class:`~lfqcd.errors.ConfigError` / :class:`~lfqcd.errors.InvalidParameterError`
naming the key and the value. :meth:`ALConfig.science_dict` is the part a results folder is
bound to (a resumed run must match it).
"""

from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lfqcd.errors import ConfigError, InvalidParameterError
from lfqcd.scan.config import EXECUTORS, ExecutorSpec
from lfqcd.tomlio import read_toml
from mlsurrogate.config import ModelConfig

__all__ = [
    "ALConfig",
    "BoxAxis",
    "OutputOptions",
    "PolicyConfig",
    "StreamConfig",
    "TestSetConfig",
    "TrainOptions",
    "UncertaintyConfig",
    "config_from_dict",
    "load_al_config",
]

MODES = ("sequential", "streaming")
POLICIES = ("uncertainty", "random", "sobol")
UNCERTAINTIES = ("ensemble", "heteroscedastic")
SAMPLERS = ("sobol", "lhs", "random")


@dataclasses.dataclass(frozen=True)
class BoxAxis:
    """One side of the coupling box: ``low < high``, optionally log-scaled (``low > 0``)."""

    name: str
    low: float
    high: float
    log: bool = False


@dataclasses.dataclass(frozen=True)
class PolicyConfig:
    """Batch selection (uncertainty sampling, mlsurrogate/active/policy.py).

    ``kind="random"`` is the baseline arm: every batch uniform in the box, same rounds,
    training and warm starts. ``kind="sobol"`` the space-filling baseline: every batch the next
    points of the initial design's scrambled Sobol' sequence (sequential mode, Sobol' initial
    design). ``uniform_mix`` is the fraction of the probability mass spread
    uniformly over the pool (default 0.1, a guard against an over-confident model; 0 is the
    paper's pure proportional rule). ``jitter`` is the Gaussian sigma around a chosen
    candidate in units of the pool spacing ``pool_size**(-1/d)`` of the unit box (spec 7: 0.1-0.2).
    ``dedup_tol`` is the unit-box distance under which a proposal counts as a duplicate of a
    point already simulated (or already in the batch).
    """

    kind: str = "uncertainty"
    initial: int = 16
    initial_sampler: str = "sobol"
    batch: int = 8
    rounds: int = 6
    pool_size: int = 2048
    pool_sampler: str = "sobol"
    refresh_pool: bool = True
    jitter: float = 0.15
    uniform_mix: float = 0.1
    power: float = 1.0
    dedup_tol: float = 1e-3

    @property
    def budget(self) -> int:
        """Simulations of the sequential workflow: ``initial + rounds * batch``."""
        return self.initial + self.rounds * self.batch

    def streaming_budget(self, oversample: float) -> int:
        """Simulations of the streaming workflow: ``initial + (R - 1) ceil(oversample B) + B``."""
        if self.rounds == 0:
            return self.initial
        return self.initial + (self.rounds - 1) * math.ceil(oversample * self.batch) + self.batch


@dataclasses.dataclass(frozen=True)
class UncertaintyConfig:
    """``ensemble`` (default, ``members`` FFNs of different seeds) or ``heteroscedastic``."""

    kind: str = "ensemble"
    members: int = 5


@dataclasses.dataclass(frozen=True)
class TrainOptions:
    """Training per round: Adam, full batch for small sets, the best-validation state kept.

    Epochs run in chunks of ``chunk_epochs``: each chunk is a warm-started fit (Adam and its
    learning rate restarted, the chunk's best-validation state kept); the streaming workflow
    reads arrived results between chunks, and the sequential one trains identically.
    ``patience = 0`` (default) trains the full ``initial_epochs``/``round_epochs``; on a
    validation split of a few points early stopping was noisier and worse for both arms
    of the AL-vs-random benchmark.
    """

    lr: float = 3e-3
    batch_size: int = 256
    initial_epochs: int = 600
    round_epochs: int = 300
    chunk_epochs: int = 25
    patience: int = 0
    val_fraction: float = 0.2
    weight_decay: float = 0.0
    warm_start: bool = True


@dataclasses.dataclass(frozen=True)
class TestSetConfig:
    """The held-out set: ``n_points`` simulations from its own design and seed (0 = none)."""

    __test__ = False  # not a pytest class

    n_points: int = 128
    sampler: str = "sobol"
    seed: int = 987654


@dataclasses.dataclass(frozen=True)
class StreamConfig:
    """The streaming workflow (spec 6): oversampling, the split, how often results are read.

    ``sim_workers``: simulation processes while the trainer runs in the main process
    (default: usable cores - 1, at least 1). ``oversample``: each intermediate round draws
    ``ceil(oversample * batch)`` points (spec 6.3: 1.2). ``split``: the fraction of a round's
    draw that must have arrived before the round trains (spec 6.3: 0.43); the rest is
    simulated while it trains and is fed in at the next ``[train] chunk_epochs`` boundary.
    """

    sim_workers: int | None = None
    oversample: float = 1.2
    split: float = 0.43


@dataclasses.dataclass(frozen=True)
class OutputOptions:
    """Progress display, plots, and whether every round's checkpoint is kept."""

    progress: str | bool = "auto"
    plots: bool = True
    keep_checkpoints: bool = True


@dataclasses.dataclass(frozen=True)
class ALConfig:
    """A validated active-learning run configuration."""

    box: tuple[BoxAxis, ...]
    simulator: str = "mlsurrogate.active.simulators.standin:simulate"
    name: str = "al"
    out: str | None = None
    backend: str = "auto"
    preset: str | None = None
    seed: int = 0
    mode: str = "sequential"
    observables: tuple[str, ...] = ()
    fixed: dict[str, Any] = dataclasses.field(default_factory=dict)
    policy: PolicyConfig = dataclasses.field(default_factory=PolicyConfig)
    uncertainty: UncertaintyConfig = dataclasses.field(default_factory=UncertaintyConfig)
    model: ModelConfig = dataclasses.field(default_factory=lambda: ModelConfig(width=64))
    train: TrainOptions = dataclasses.field(default_factory=TrainOptions)
    test: TestSetConfig = dataclasses.field(default_factory=TestSetConfig)
    stream: StreamConfig = dataclasses.field(default_factory=StreamConfig)
    executor: ExecutorSpec = dataclasses.field(default_factory=ExecutorSpec)
    output: OutputOptions = dataclasses.field(default_factory=OutputOptions)
    source: str | None = None

    @property
    def names(self) -> list[str]:
        """The varied couplings (surrogate inputs), in box order."""
        return [a.name for a in self.box]

    @property
    def budget(self) -> int:
        """Total simulations of this run's workflow (held-out set not included)."""
        if self.mode == "streaming":
            return self.policy.streaming_budget(self.stream.oversample)
        return self.policy.budget

    def to_dict(self) -> dict[str, Any]:
        """The full configuration as JSON-compatible data."""
        d = dataclasses.asdict(self)
        d["box"] = {a.name: {"low": a.low, "high": a.high, "log": a.log} for a in self.box}
        d["observables"] = list(self.observables)
        return d

    def science_dict(self) -> dict[str, Any]:
        """What the results depend on; a results folder is bound to it (resume check).

        Left out: ``name``, ``out``, ``executor``, ``output``, ``source`` and
        ``stream.sim_workers`` (how and where things run, not what is computed).
        """
        d = self.to_dict()
        for key in ("name", "out", "executor", "output", "source"):
            d.pop(key)
        d["stream"].pop("sim_workers")
        return d

    def with_overrides(self, **changes: Any) -> ALConfig:
        """Copy with top-level fields or ``<table>_<key>`` fields replaced (``None`` ignored).

        Example: ``cfg.with_overrides(mode="streaming", out="out/x", executor_workers=1)``.
        """
        top: dict[str, Any] = {}
        nested: dict[str, dict[str, Any]] = {}
        tables = {"policy", "uncertainty", "model", "train", "test", "stream", "executor",
                  "output"}
        for key, value in changes.items():
            if value is None:
                continue
            table, _, sub = key.partition("_")
            if table in tables and sub:
                nested.setdefault(table, {})[sub] = value
            else:
                top[key] = value
        cfg = dataclasses.replace(self, **top)
        for table, values in nested.items():
            cfg = dataclasses.replace(cfg, **{table: dataclasses.replace(getattr(cfg, table),
                                                                         **values)})
        validate(cfg)
        return cfg


# --------------------------------------------------------------------------------------------
# parsing
# --------------------------------------------------------------------------------------------
_AL_KEYS = {"simulator", "name", "out", "backend", "preset", "seed", "mode", "observables"}
_SUBTABLES: dict[str, type] = {
    "policy": PolicyConfig,
    "uncertainty": UncertaintyConfig,
    "model": ModelConfig,
    "train": TrainOptions,
    "test": TestSetConfig,
    "stream": StreamConfig,
    "executor": ExecutorSpec,
    "output": OutputOptions,
}
_TABLES = {"al", "fixed", "box", *_SUBTABLES}


def load_al_config(path: str | Path) -> ALConfig:
    """Read and validate an active-learning TOML file."""
    raw = read_toml(path, "active-learning configuration")
    return config_from_dict(raw, source=str(path))


def config_from_dict(raw: Mapping[str, Any], *, source: str | None = None) -> ALConfig:
    """Validate a configuration given as nested dicts (the parsed TOML)."""
    where = source or "active-learning configuration"
    unknown = sorted(set(raw) - _TABLES)
    if unknown:
        raise ConfigError(f"{where}: unknown table(s) {', '.join(map(repr, unknown))}; "
                          f"allowed: {', '.join(sorted(_TABLES))}")
    for name in _TABLES:
        if name in raw and not isinstance(raw[name], Mapping):
            raise ConfigError(f"{where}: [{name}] must be a table, got {raw[name]!r}")
    al = dict(raw.get("al", {}))
    bad = sorted(set(al) - _AL_KEYS)
    if bad:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(map(repr, bad))} in [al]; "
                          f"allowed: {', '.join(sorted(_AL_KEYS))}")
    if "box" not in raw:
        raise InvalidParameterError(
            f"{where}: no [box] table: the coupling box is empty; give at least one range, "
            f"e.g. [box] t_F = [0.2, 0.8]"
        )
    fixed = dict(raw.get("fixed", {}))
    for k, v in fixed.items():
        if isinstance(v, bool) or not isinstance(v, (int, float, str)):
            raise ConfigError(f"{where}: [fixed] {k} must be a number or a string, got {v!r}")
    box = tuple(_parse_axis(name, spec, where) for name, spec in dict(raw["box"]).items())
    subs = {name: _build(cls, dict(raw.get(name, {})), name, where)
            for name, cls in _SUBTABLES.items()}
    subs["model"] = dataclasses.replace(ALConfig.__dataclass_fields__["model"].default_factory(),
                                        **dict(raw.get("model", {})))
    ex = subs["executor"]
    subs["executor"] = dataclasses.replace(
        ex, **{k: (getattr(ex, k) or None) for k in ("address", "scheduler_file", "start_method")}
    )
    observables = al.get("observables", [])
    if not isinstance(observables, list) or not all(isinstance(o, str) for o in observables):
        raise ConfigError(f"{where}: [al] observables must be a list of names, got {observables!r}")
    cfg = ALConfig(
        box=box,
        simulator=_typed(al, "simulator", str, ALConfig.simulator, where),
        name=_typed(al, "name", str, Path(source).stem if source else "al", where),
        out=_typed(al, "out", str, None, where) or None,
        backend=_typed(al, "backend", str, "auto", where),
        preset=_typed(al, "preset", str, None, where) or None,
        seed=_typed(al, "seed", int, 0, where),
        mode=_typed(al, "mode", str, "sequential", where),
        observables=tuple(observables),
        fixed=fixed,
        source=source,
        **subs,
    )
    validate(cfg, where)
    return cfg


def _typed(table: Mapping[str, Any], key: str, typ: type, default: Any, where: str) -> Any:
    if key not in table:
        return default
    val = table[key]
    if (typ is int and isinstance(val, bool)) or not isinstance(val, typ):
        raise ConfigError(f"{where}: [al] {key} must be {typ.__name__}, got {val!r}")
    return val


def _parse_axis(name: str, spec: Any, where: str) -> BoxAxis:
    if isinstance(spec, list):
        if len(spec) != 2:
            raise ConfigError(f"{where}: [box] {name} must be [low, high], got {spec!r}")
        low, high, log = spec[0], spec[1], False
    elif isinstance(spec, Mapping):
        extra = set(spec) - {"low", "high", "log"}
        if extra or not {"low", "high"} <= set(spec):
            raise ConfigError(f"{where}: [box] {name} must be [low, high] or {{low, high, log}}, "
                              f"got {dict(spec)!r}")
        low, high, log = spec["low"], spec["high"], spec.get("log", False)
        if not isinstance(log, bool):
            raise ConfigError(f"{where}: [box] {name}.log must be true or false, got {log!r}")
    else:
        raise ConfigError(f"{where}: [box] {name} must be [low, high], got {spec!r}")
    for v in (low, high):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise InvalidParameterError(f"{where}: [box] {name}: bound {v!r} is not a finite number")
    if not low < high:
        raise InvalidParameterError(
            f"{where}: [box] {name} is degenerate: low={low} must be < high={high} (a coupling "
            f"that does not vary belongs in [fixed])"
        )
    if log and low <= 0:
        raise InvalidParameterError(f"{where}: [box] {name}: a log-scaled range needs low > 0, "
                                    f"got low={low}")
    return BoxAxis(str(name), float(low), float(high), bool(log))


def _build(cls: type, table: dict[str, Any], name: str, where: str) -> Any:
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    bad = sorted(set(table) - known)
    if bad:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(map(repr, bad))} in [{name}]; "
                          f"allowed: {', '.join(sorted(known))}")
    kwargs = {}
    for key, value in table.items():
        kwargs[key] = _check_type(value, hints[key], f"[{name}] {key}", where)
    return cls(**kwargs)


def _check_type(value: Any, tp: Any, what: str, where: str) -> Any:
    args = typing.get_args(tp)
    allowed = tuple(a for a in args if a is not type(None)) if args else (tp,)
    if value is None and type(None) in args:
        return None
    for a in allowed:
        if a is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if a is bool and isinstance(value, bool):
            return value
        if a is int and isinstance(value, int) and not isinstance(value, bool):
            return value
        if a is str and isinstance(value, str):
            return value
    names = " or ".join(getattr(a, "__name__", str(a)) for a in allowed)
    raise ConfigError(f"{where}: {what} must be {names}, got {value!r}")


def _require(cond: bool, msg: str, where: str, exc: type[Exception] = InvalidParameterError) -> None:
    if not cond:
        raise exc(f"{where}: {msg}")


def validate(cfg: ALConfig, where: str | None = None) -> None:
    """Value checks that need no simulator (names are checked against it at run time)."""
    w = where or cfg.source or "active-learning configuration"
    _require(len(cfg.box) > 0, "the coupling box [box] is empty; give at least one range, e.g. "
             "t_F = [0.2, 0.8]", w)
    names = [a.name for a in cfg.box]
    _require(len(set(names)) == len(names), f"[box] names repeat: {names}", w, ConfigError)
    clash = sorted(set(names) & set(cfg.fixed))
    _require(not clash, f"{', '.join(clash)} is both fixed and in the box; remove it from one",
             w, ConfigError)
    for a in cfg.box:
        _require(a.low < a.high, f"[box] {a.name} is degenerate: low={a.low} must be < "
                 f"high={a.high}", w)
    _require(cfg.mode in MODES, f"[al] mode must be one of {MODES}, got {cfg.mode!r}", w,
             ConfigError)
    _require(":" in cfg.simulator, f"[al] simulator must be 'module:function', got "
             f"{cfg.simulator!r}", w, ConfigError)
    p = cfg.policy
    _require(p.kind in POLICIES, f"[policy] kind must be one of {POLICIES}, got {p.kind!r}", w,
             ConfigError)
    if p.kind == "sobol":
        _require(p.initial_sampler == "sobol", "[policy] kind = \"sobol\" continues the initial "
                 f"Sobol' design: set initial_sampler = \"sobol\" (got {p.initial_sampler!r})", w,
                 ConfigError)
        _require(cfg.mode == "sequential", "[policy] kind = \"sobol\" is a sequential baseline; "
                 "use --sequential (or kind = \"random\" for streaming)", w, ConfigError)
    for s, v in (("initial_sampler", p.initial_sampler), ("pool_sampler", p.pool_sampler)):
        _require(v in SAMPLERS, f"[policy] {s} must be one of {SAMPLERS}, got {v!r}", w,
                 ConfigError)
    _require(p.initial >= 4, f"[policy] initial={p.initial}: need at least 4 initial points "
             f"(training and validation both need data)", w)
    _require(p.batch >= 1, f"[policy] batch={p.batch} must be >= 1", w)
    _require(p.rounds >= 0, f"[policy] rounds={p.rounds} must be >= 0", w)
    _require(p.pool_size >= 1, f"[policy] pool_size={p.pool_size} must be >= 1", w)
    _require(p.batch <= p.pool_size, f"[policy] batch={p.batch} is larger than the candidate "
             f"pool (pool_size={p.pool_size}); raise pool_size or lower batch", w)
    _require(p.jitter >= 0 and math.isfinite(p.jitter), f"[policy] jitter={p.jitter} must be "
             f">= 0", w)
    _require(0.0 <= p.uniform_mix <= 1.0, f"[policy] uniform_mix={p.uniform_mix} must be in "
             f"[0, 1]", w)
    _require(p.power > 0 and math.isfinite(p.power), f"[policy] power={p.power} must be > 0", w)
    _require(p.dedup_tol >= 0, f"[policy] dedup_tol={p.dedup_tol} must be >= 0", w)
    u = cfg.uncertainty
    _require(u.kind in UNCERTAINTIES, f"[uncertainty] kind must be one of {UNCERTAINTIES}, "
             f"got {u.kind!r}", w, ConfigError)
    _require(u.members >= (2 if u.kind == "ensemble" else 1),
             f"[uncertainty] members={u.members}: an ensemble needs at least 2 members "
             f"(5 recommended)", w)
    t = cfg.train
    _require(t.lr > 0 and t.batch_size >= 1 and t.initial_epochs >= 1 and t.round_epochs >= 1,
             "[train] needs lr > 0, batch_size >= 1, initial_epochs >= 1, round_epochs >= 1", w)
    _require(t.patience >= 0, f"[train] patience={t.patience} must be >= 0", w)
    _require(0.0 < t.val_fraction < 1.0, f"[train] val_fraction={t.val_fraction} must be in "
             f"(0, 1)", w)
    _require(cfg.test.n_points >= 0, f"[test] n_points={cfg.test.n_points} must be >= 0", w)
    _require(cfg.test.sampler in SAMPLERS, f"[test] sampler must be one of {SAMPLERS}", w,
             ConfigError)
    s = cfg.stream
    _require(s.sim_workers is None or s.sim_workers >= 1,
             f"[stream] sim_workers={s.sim_workers} must be >= 1", w)
    _require(s.oversample >= 1.0, f"[stream] oversample={s.oversample} must be >= 1", w)
    _require(0.0 < s.split <= 1.0, f"[stream] split={s.split} must be in (0, 1]", w)
    _require(t.chunk_epochs >= 1, f"[train] chunk_epochs={t.chunk_epochs} must be >= 1", w)
    _require(cfg.executor.kind in EXECUTORS, f"[executor] kind must be one of {EXECUTORS}, got "
             f"{cfg.executor.kind!r}", w, ConfigError)
    _require(cfg.executor.workers is None or cfg.executor.workers >= 1,
             f"[executor] workers={cfg.executor.workers} must be >= 1", w)
    _require(cfg.output.progress in ("auto", True, False),
             f"[output] progress must be \"auto\", true or false, got {cfg.output.progress!r}", w,
             ConfigError)
