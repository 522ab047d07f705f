"""The simulation side of active learning: the scan engine's simulator protocol, executors and
result store, driven with points given as coupling-box coordinates (no torch here).

One interface for scans and active learning
-------------------------------------------
A point is run exactly as a scan point is: its complete inputs (simulator defaults < preset <
``[fixed]`` < box coordinates, type-checked by :func:`lfqcd.scan.points.resolve_points`) become
a :class:`lfqcd.scan.worker.PointTask`, :func:`lfqcd.scan.worker.run_point` runs
``simulate(point, warm_start=...)`` in a worker of a :class:`lfqcd.scan.executors.ScanExecutor`
(local process pool by default, Dask or MPI when configured; warm starts and operator caches
per worker as in scans), and every outcome - failures included - is written to a scan store
(``<out>/sims``: ``points/<key>.npz``, ``manifest.jsonl``, ``summary.csv``, ``scan.json``). So
``<out>/sims`` is a normal scan folder (``mlsurrogate.read_scan_store`` and ``lfqcd train
--data`` read it), and a point already in it (same content key) is never simulated twice: a
resumed run or a repeated benchmark arm reuses it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import math
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import BrokenExecutor
from pathlib import Path
from typing import Any

import numpy as np

from lfqcd.errors import (
    BackendUnavailableError,
    ConfigError,
    InvalidParameterError,
    LFQCDError,
    ResultFileError,
)
from lfqcd.scan.config import config_from_dict as scan_config_from_dict
from lfqcd.scan.executors import ScanExecutor
from lfqcd.scan.keys import canonical_json, code_version, point_key
from lfqcd.scan.points import check_names, resolve_points
from lfqcd.scan.store import STORE_FORMAT, ScanStore, now_iso
from lfqcd.scan.table import Outcome, short_arrays, summary_table
from lfqcd.scan.worker import PointRecord, PointTask, run_point
from lfqcd.simulator import SimulatorSpec, load_simulator
from mlsurrogate.active.config import ALConfig, BoxAxis

__all__ = [
    "CouplingBox",
    "PendingSim",
    "SimRecord",
    "SimulationClient",
    "box_centre",
    "output_columns",
    "wait_any",
]

FLATTEN_MAX = 16  #: 1-D arrays up to this length become outputs ``name[i]`` (as in scans)


# --------------------------------------------------------------------------------------------
# the coupling box
# --------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class CouplingBox:
    """The box of varied couplings; maps the unit cube ``[0, 1]^d`` onto it (log axes too)."""

    axes: tuple[BoxAxis, ...]

    def __post_init__(self) -> None:
        if not self.axes:
            raise InvalidParameterError("the coupling box is empty: give at least one range")
        for a in self.axes:
            if not (math.isfinite(a.low) and math.isfinite(a.high) and a.low < a.high):
                raise InvalidParameterError(
                    f"coupling box axis {a.name} is degenerate or empty: low={a.low}, "
                    f"high={a.high} (need low < high)"
                )
            if a.log and a.low <= 0:
                raise InvalidParameterError(f"coupling box axis {a.name}: log scale needs low > 0")

    @property
    def names(self) -> list[str]:
        """Axis names in order."""
        return [a.name for a in self.axes]

    @property
    def d(self) -> int:
        """Number of varied couplings."""
        return len(self.axes)

    def from_unit(self, u: np.ndarray) -> np.ndarray:
        """Unit-cube points ``(n, d)`` -> couplings ``(n, d)`` (clipped to the box)."""
        u = np.clip(np.asarray(u, dtype=float).reshape(-1, self.d), 0.0, 1.0)
        x = np.empty_like(u)
        for j, a in enumerate(self.axes):
            if a.log:
                x[:, j] = np.exp(np.log(a.low) + u[:, j] * (np.log(a.high) - np.log(a.low)))
            else:
                x[:, j] = a.low + u[:, j] * (a.high - a.low)
            x[:, j] = np.clip(x[:, j], a.low, a.high)
        return x

    def to_unit(self, x: np.ndarray) -> np.ndarray:
        """Couplings ``(n, d)`` -> unit-cube coordinates ``(n, d)`` (not clipped)."""
        x = np.asarray(x, dtype=float).reshape(-1, self.d)
        u = np.empty_like(x)
        for j, a in enumerate(self.axes):
            if a.log:
                u[:, j] = (np.log(x[:, j]) - np.log(a.low)) / (np.log(a.high) - np.log(a.low))
            else:
                u[:, j] = (x[:, j] - a.low) / (a.high - a.low)
        return u

    def contains(self, x: np.ndarray) -> np.ndarray:
        """Boolean ``(n,)``: which couplings lie inside the closed box."""
        x = np.asarray(x, dtype=float).reshape(-1, self.d)
        lo = np.array([a.low for a in self.axes])
        hi = np.array([a.high for a in self.axes])
        return np.all((x >= lo) & (x <= hi), axis=1)

    def corners(self, limit: int = 64) -> np.ndarray:
        """The box corners (at most ``limit``; the first ones in binary order)."""
        combos = itertools.islice(itertools.product((0.0, 1.0), repeat=self.d), limit)
        return self.from_unit(np.array(list(combos), dtype=float))


# --------------------------------------------------------------------------------------------
# records
# --------------------------------------------------------------------------------------------
@dataclasses.dataclass
class SimRecord:
    """One simulated point as active learning sees it.

    ``status`` is ``"ok"`` or ``"failed"`` (the simulator raised, the worker died, or an
    output needed for training is missing/non-finite: ``error`` says which). ``origin`` is
    ``"initial"``, ``"al"`` (selected by the policy), ``"random"`` (baseline arm) or
    ``"test"``; ``round`` the round that selected it; ``reused`` marks a result found in the
    store instead of simulated again.
    """

    key: str
    x: np.ndarray
    status: str
    origin: str
    round: int
    observables: dict[str, float] = dataclasses.field(default_factory=dict)
    arrays: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
    error: str | None = None
    wall_s: float = float("nan")
    reused: bool = False

    def vector(self, columns: Sequence[str]) -> np.ndarray | None:
        """The outputs in ``columns`` order (``name`` or ``name[i]``); ``None`` if any is missing."""
        out = np.empty(len(columns))
        for j, c in enumerate(columns):
            if c.endswith("]") and "[" in c:
                name, idx = c[:-1].split("[")
                a = self.arrays.get(name)
                i = int(idx)
                if a is None or np.ndim(a) != 1 or i >= np.size(a):
                    return None
                out[j] = float(np.asarray(a)[i])
            elif c in self.observables:
                out[j] = self.observables[c]
            else:
                return None
        return out if np.all(np.isfinite(out)) else None


def output_columns(rec: SimRecord, wanted: Sequence[str] = ()) -> list[str]:
    """Flattened output columns from a successful record: scalars, then ``name[i]`` of arrays.

    ``wanted`` (observable names, scalars or arrays) selects and orders them; empty means
    every scalar and every 1-D array of at most :data:`FLATTEN_MAX` entries.
    """
    short = short_arrays(rec.arrays, FLATTEN_MAX)
    names = list(wanted) or list(rec.observables) + list(short)
    cols: list[str] = []
    for n in names:
        if n in rec.observables:
            cols.append(n)
        elif n in short:
            cols += [f"{n}[{i}]" for i in range(np.asarray(short[n]).size)]
        else:
            raise InvalidParameterError(
                f"observable {n!r} is not an output of the simulator (it returned scalars "
                f"{sorted(rec.observables)} and arrays {sorted(short)})"
            )
    return cols


@dataclasses.dataclass
class PendingSim:
    """A submitted point: its future (``None`` when the result was already in the store)."""

    key: str
    x: np.ndarray
    params: dict[str, Any]
    origin: str
    round: int
    future: Any = None
    record: SimRecord | None = None

    def done(self) -> bool:
        """Finished (or resolved from the store)? Lazy futures count as not done."""
        if self.record is not None:
            return True
        fn = getattr(self.future, "done", None)
        return bool(fn()) if callable(fn) else False


# --------------------------------------------------------------------------------------------
# the client
# --------------------------------------------------------------------------------------------
class SimulationClient:
    """Run simulator points given as box coordinates through a scan executor; store them.

    Parameters
    ----------
    cfg : the active-learning configuration (simulator, preset, fixed inputs, box, backend).
    store_dir : the scan store for every outcome (created; resumed if it exists).
    executor : a :class:`~lfqcd.scan.executors.ScanExecutor`; may be given later
        (:meth:`attach`), only needed once something has to be simulated.

    Raises
    ------
    ConfigError, InvalidParameterError : unknown names, a box axis that is not a real-valued
        input, or a box corner the simulator's ``validate`` hook rejects.
    """

    def __init__(self, cfg: ALConfig, store_dir: str | Path,
                 executor: ScanExecutor | None = None) -> None:
        self.cfg = cfg
        self.box = CouplingBox(cfg.box)
        self.spec: SimulatorSpec = load_simulator(cfg.simulator)
        self.base_params, self.preset_values = self._base_point()
        self.version = code_version(self.spec.version)
        self.run_id = hashlib.sha256(canonical_json(cfg.science_dict()).encode()).hexdigest()[:16]
        self.store = ScanStore(store_dir)
        self.executor = executor
        self._check_corners()
        self._index = itertools.count()
        self.records: dict[str, SimRecord] = {}  # everything finished in this session
        self._manifest: dict[str, dict[str, Any]] | None = None

    # -- set-up --------------------------------------------------------------------------------
    def _base_point(self) -> tuple[dict[str, Any], dict[str, Any]]:
        cfg = self.cfg
        defaults = self.spec.defaults()
        if defaults is not None:
            check_names({"[box]": [a.name for a in cfg.box], "[fixed]": list(cfg.fixed)},
                        list(defaults), self.spec.ref)
            for a in cfg.box:
                if a.name in defaults and (isinstance(defaults[a.name], (bool, str))
                                           or not isinstance(defaults[a.name], (int, float))):
                    raise ConfigError(
                        f"[box] {a.name}: the simulator input is {type(defaults[a.name]).__name__}"
                        f"-valued; active learning varies real-valued couplings only"
                    )
                if a.name in defaults and isinstance(defaults[a.name], int):
                    raise ConfigError(
                        f"[box] {a.name}: the simulator input is an integer (a resolution?); "
                        f"put it in [fixed] - active learning varies real-valued couplings only"
                    )
        centre = {a.name: float(v) for a, v in zip(cfg.box, box_centre(cfg.box), strict=True)}
        scan = scan_config_from_dict({
            "scan": {"simulator": cfg.simulator, "backend": cfg.backend,
                     **({"preset": cfg.preset} if cfg.preset else {})},
            "fixed": dict(cfg.fixed),
            "design": {"points": [centre]},
        })
        try:
            resolved = resolve_points(scan, self.spec)
        except InvalidParameterError as exc:
            raise InvalidParameterError(f"the centre of the coupling box is not a valid "
                                        f"simulator point: {exc}") from exc
        return dict(resolved.points[0].params), dict(resolved.preset_values)

    def _check_corners(self) -> None:
        if self.spec.validate is None:
            return
        for x in self.box.corners():
            params = self.params_of(x)
            try:
                self.spec.validate(params)
            except (LFQCDError, ValueError, TypeError) as exc:
                where = ", ".join(f"{n}={v:.6g}" for n, v in zip(self.box.names, x, strict=True))
                raise InvalidParameterError(
                    f"coupling box corner ({where}) is not a valid point of {self.cfg.simulator}: "
                    f"{exc}; shrink the box"
                ) from exc

    def attach(self, executor: ScanExecutor) -> None:
        """Use ``executor`` for the simulations from now on."""
        self.executor = executor

    # -- points --------------------------------------------------------------------------------
    def params_of(self, x: np.ndarray) -> dict[str, Any]:
        """Complete simulator inputs of the box point ``x``."""
        return {**self.base_params, **{n: float(v) for n, v in zip(self.box.names, x, strict=True)}}

    def key_of(self, params: dict[str, Any]) -> str:
        """The scan-store content key of a point."""
        return point_key(self.spec.ref, params, self.cfg.backend, self.version)

    def manifest(self) -> dict[str, dict[str, Any]]:
        """Latest manifest entry per key (read once, then kept up to date in memory)."""
        if self._manifest is None:
            self._manifest = self.store.read_manifest()[0] if self.store.root.exists() else {}
        return self._manifest

    def lookup(self, key: str, x: np.ndarray, origin: str, rnd: int) -> SimRecord | None:
        """The stored outcome of ``key`` (``None``: not stored, corrupt, or an engine failure)."""
        entry = self.manifest().get(key)
        if entry is None:
            return None
        status = entry.get("status")
        if status == "failed":
            err = str(entry.get("error") or "")
            if err.startswith("worker error"):
                return None  # the engine failed, not the simulator: try again
            return SimRecord(key, x, "failed", origin, rnd, error=err, reused=True,
                             wall_s=_num(entry.get("wall_s")))
        try:
            data = self.store.load_point(key)
        except ResultFileError:
            return None
        return SimRecord(key, x, "ok", origin, rnd, data.observables, data.arrays,
                         wall_s=_num(data.meta.get("wall_s")), reused=True)

    def submit(self, X: np.ndarray, origin: str, rnd: int) -> list[PendingSim]:
        """Submit the box points ``X`` ``(n, d)``; results already stored are not re-run.

        A point the simulator's ``validate`` hook rejects becomes a failed record at once.
        """
        out: list[PendingSim] = []
        for x in np.asarray(X, dtype=float).reshape(-1, self.box.d):
            params = self.params_of(x)
            key = self.key_of(params)
            p = PendingSim(key, x.copy(), params, origin, rnd)
            p.record = self.lookup(key, p.x, origin, rnd)
            if p.record is None and self.spec.validate is not None:
                try:
                    self.spec.validate(params)
                except (LFQCDError, ValueError, TypeError) as exc:
                    p.record = self._finish(p, PointRecord(
                        key=key, index=0, status="failed", wall_s=0.0, host="", versions={},
                        backend=self.cfg.backend, error=f"invalid point: {exc}"))
            if p.record is None:
                if self.executor is None:
                    raise RuntimeError("SimulationClient has no executor; call attach() first")
                task = PointTask(
                    key=key, index=next(self._index), scan=self.run_id,
                    simulator=self.spec.ref, params=params, backend=self.cfg.backend,
                    reuse=True, resolution=self.spec.resolution_key(params),
                    coords=tuple(float(c) for c in self.box.to_unit(x)[0]),
                )
                p.future = self.executor.submit(run_point, task)
            out.append(p)
        return out

    def collect(self, p: PendingSim) -> SimRecord:
        """Block until ``p`` is finished; store and return its record (idempotent)."""
        if p.record is not None:
            return p.record
        try:
            rec = p.future.result()
        except BrokenExecutor as exc:  # a worker process died: not the point's fault
            raise BackendUnavailableError(
                f"a simulation worker process died ({type(exc).__name__}: {exc}; killed by a "
                f"signal or out of memory?); finished simulations are kept in "
                f"{self.store.root}; re-run the same command to resume"
            ) from exc
        except Exception as exc:  # noqa: BLE001 - engine trouble (pickling, Dask KilledWorker)
            rec = PointRecord(key=p.key, index=0, status="failed", wall_s=float("nan"), host="",
                              versions={}, backend=self.cfg.backend,
                              error=f"worker error {type(exc).__name__}: {exc}")
        p.record = self._finish(p, rec)
        return p.record

    def cancel(self, pending: Iterable[PendingSim]) -> list[PendingSim]:
        """Cancel points that have not started; return the ones that were cancelled."""
        cancelled = []
        for p in pending:
            if p.record is None and p.future is not None and hasattr(p.future, "cancel") \
                    and not p.done() and p.future.cancel():
                cancelled.append(p)
        return cancelled

    def _finish(self, p: PendingSim, rec: PointRecord) -> SimRecord:
        entry: dict[str, Any] = {
            "key": p.key, "params": p.params, "status": rec.status,
            "path": f"points/{p.key}.npz" if rec.status == "ok" else None,
            "wall_s": rec.wall_s, "host": rec.host, "versions": rec.versions,
            "backend": rec.backend, "residual": rec.residual, "observables": rec.observables,
            "time": now_iso(), "al_origin": p.origin, "al_round": p.round,
        }
        if rec.error is not None:
            entry["error"] = rec.error
        if rec.status == "ok":
            self.store.write_point(
                p.key,
                {"params": p.params, "simulator": self.spec.ref, "backend": rec.backend,
                 "residual": rec.residual, "wall_s": rec.wall_s, "host": rec.host,
                 "versions": rec.versions, "time": now_iso()},
                rec.observables, rec.arrays,
            )
        self.store.append_manifest(entry)
        self.manifest()[p.key] = entry
        sim = SimRecord(p.key, p.x, rec.status, p.origin, p.round, dict(rec.observables),
                        dict(rec.arrays), rec.error, rec.wall_s)
        self.records[p.key] = sim
        return sim

    def run(self, X: np.ndarray, origin: str, rnd: int,
            on_result: Callable[[SimRecord], None] | None = None) -> list[SimRecord]:
        """Simulate ``X`` (blocking, in parallel on the executor); records in ``X`` order."""
        pending = self.submit(X, origin, rnd)
        waiting = [p for p in pending if p.record is None]
        for p in pending:
            if p.record is not None and on_result is not None:
                on_result(p.record)
        if waiting:
            by_future = {id(p.future): p for p in waiting}
            assert self.executor is not None
            for fut in self.executor.as_completed([p.future for p in waiting]):
                rec = self.collect(by_future[id(fut)])
                if on_result is not None:
                    on_result(rec)
        return [self.collect(p) for p in pending]

    # -- the store's summary -------------------------------------------------------------------
    def write_summary(self, records: Sequence[SimRecord], extra: dict[str, Any]) -> None:
        """Rewrite ``summary.csv`` and ``scan.json`` of the store from ``records``."""
        outcomes = [
            Outcome(r.key, i, r.status, self.params_of(r.x), wall_s=r.wall_s,
                    observables=r.observables, arrays=short_arrays(r.arrays, FLATTEN_MAX),
                    error=r.error)
            for i, r in enumerate(records)
        ]
        param_names = list(self.base_params)
        columns, rows, obs_names = summary_table(outcomes, param_names, FLATTEN_MAX)
        self.store.write_summary(columns, rows)
        self.store.write_meta({
            "format": STORE_FORMAT, "name": f"al_{self.cfg.name}", "simulator": self.spec.ref,
            "params": param_names, "varied": self.box.names, "observables": obs_names,
            "config": extra.get("config", {}), "science": extra.get("science", {}),
            "code_version": self.version, "n_points": len(records),
            "counts": {"ok": sum(r.status == "ok" for r in records),
                       "failed": sum(r.status != "ok" for r in records)},
            "created": extra.get("created", now_iso()), "updated": now_iso(),
            "status": extra.get("status", "running"),
        })


def box_centre(axes: Sequence[BoxAxis]) -> list[float]:
    """The centre of the box (geometric centre on log axes)."""
    return [math.sqrt(a.low * a.high) if a.log else 0.5 * (a.low + a.high) for a in axes]


def _num(x: Any) -> float:
    return float("nan") if x is None else float(x)


def wait_any(pending: Sequence[PendingSim], timeout: float) -> bool:
    """Sleep-poll until one of ``pending`` is done or ``timeout`` s pass; True if one is done."""
    t_end = time.perf_counter() + timeout
    while True:
        if any(p.done() for p in pending):
            return True
        if time.perf_counter() >= t_end:
            return False
        time.sleep(0.005)
