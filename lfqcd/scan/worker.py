"""What runs inside a worker process: one point through the simulator, failures captured.

The function :func:`run_point` is submitted to whatever executor runs the scan (process pool,
Dask, MPI, or in-process), so it takes and returns plain picklable dataclasses and imports the
simulator by its import string inside the worker.

Operator reuse and warm starts
------------------------------
The simulator keeps its own cache of bases and operator pieces (keyed by resolution), which
lives as long as the worker process. In addition this module keeps, per process, the last
:data:`WARM_SLOTS` ``warm_state`` objects (eigenvectors can be large, so this is a small global
budget) tagged with (scan, simulator, resolution) and the point's unit coordinates, and passes
the *nearest* one of the same scan and resolution as ``warm_start``. The runner submits points
grouped by resolution and ordered along a short path, so consecutive points on a worker are
close. With
``reuse=False`` the simulator's ``clear_cache()`` hook is called before the point and no warm
start is passed: everything is rebuilt (the baseline of the throughput benchmark).
"""

from __future__ import annotations

import dataclasses
import functools
import os
import platform
import socket
import threading
import time
import traceback
from collections import deque
from collections.abc import Hashable
from typing import Any

import numpy as np

from lfqcd.backend import to_numpy
from lfqcd.simulator import BACKEND_KEY, SimulationOutput, load_simulator

WARM_SLOTS = 4  #: warm states kept in each worker process (all scans and resolutions)

Slot = tuple[str, str, tuple[Hashable, ...]]
_warm: deque[tuple[Slot, np.ndarray, object]] = deque(maxlen=WARM_SLOTS)
_warm_lock = threading.Lock()


@dataclasses.dataclass(frozen=True)
class PointTask:
    """Everything a worker needs for one point."""

    key: str
    index: int
    scan: str
    simulator: str
    params: dict[str, Any]
    backend: str
    reuse: bool
    resolution: tuple[Hashable, ...]
    coords: tuple[float, ...]


@dataclasses.dataclass
class PointRecord:
    """The outcome of one point (``status`` is ``"ok"`` or ``"failed"``)."""

    key: str
    index: int
    status: str
    wall_s: float
    host: str
    versions: dict[str, str | None]
    cpu_s: float = float("nan")
    backend: str = ""
    residual: float = float("nan")
    observables: dict[str, float] = dataclasses.field(default_factory=dict)
    arrays: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
    error: str | None = None
    warm_started: bool = False


@functools.lru_cache(maxsize=1)
def worker_versions() -> dict[str, str | None]:
    """Versions of the packages a point result depends on, as seen by this worker."""
    import scipy

    from lfqcd import __version__

    return {
        "lfqcd": __version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
    }


def clear_warm_states() -> None:
    """Forget all warm states of this process."""
    with _warm_lock:
        _warm.clear()


def _take_warm(slot: Slot, coords: np.ndarray) -> object | None:
    with _warm_lock:
        entries = [(c, st) for s, c, st in _warm if s == slot and c.shape == coords.shape]
    if not entries:
        return None
    dists = [float(np.sum((c - coords) ** 2)) for c, _ in entries]
    return entries[int(np.argmin(dists))][1]


def _put_warm(slot: Slot, coords: np.ndarray, state: object) -> None:
    with _warm_lock:
        _warm.append((slot, coords, state))


def run_point(task: PointTask) -> PointRecord:
    """Run one point; any ``Exception`` of the simulator becomes a ``"failed"`` record.

    ``KeyboardInterrupt``/``SystemExit`` propagate so that an interrupted scan does not record
    interrupted points as failures.
    """
    host = f"{socket.gethostname()}:{os.getpid()}"
    t0 = time.perf_counter()
    c0 = time.process_time()
    slot = (task.scan, task.simulator, task.resolution)
    coords = np.asarray(task.coords, dtype=float)
    warm = None
    try:
        spec = load_simulator(task.simulator)
        if task.reuse:
            warm = _take_warm(slot, coords)
        else:
            clear_warm_states()
            if spec.clear_cache is not None:
                spec.clear_cache()
        point = {**task.params, BACKEND_KEY: task.backend}
        out = spec.simulate(point, warm_start=warm)
        if not isinstance(out, SimulationOutput):
            raise TypeError(
                f"simulator {task.simulator} returned {type(out).__name__}, "
                f"expected SimulationOutput"
            )
        out.check()
        observables = {k: float(v) for k, v in out.observables.items()}
        arrays = {k: np.asarray(to_numpy(v)) for k, v in out.arrays.items()}
    except Exception as exc:  # noqa: BLE001 - a failing point must not stop the scan
        tb = traceback.extract_tb(exc.__traceback__)
        where = f" [at {tb[-1].filename}:{tb[-1].lineno}]" if tb else ""
        return PointRecord(
            key=task.key, index=task.index, status="failed",
            wall_s=time.perf_counter() - t0, host=host, versions=worker_versions(),
            backend=task.backend, error=f"{type(exc).__name__}: {exc}{where}",
        )
    if task.reuse and out.warm_state is not None:
        _put_warm(slot, coords, out.warm_state)
    return PointRecord(
        key=task.key, index=task.index, status="ok",
        wall_s=time.perf_counter() - t0, host=host, versions=worker_versions(),
        cpu_s=time.process_time() - c0,
        backend=str(out.backend), residual=float(out.residual),
        observables=observables,
        arrays=arrays,
        warm_started=warm is not None,
    )


def run_batch(tasks: list[PointTask]) -> list[PointRecord]:
    """Run points of one resolution through the simulator's ``simulate_batch`` hook.

    Falls back to :func:`run_point` per task when the simulator has no such hook, the batch
    has one point, operator reuse is off, or the batched call raises (then each point is
    retried alone, so one bad point does not fail its neighbours). When the worker holds no
    warm state for the resolution yet, the first point is solved alone to seed the others.
    Wall and CPU time of a batched call are shared equally by its points.
    """
    spec = load_simulator(tasks[0].simulator)
    if spec.simulate_batch is None or len(tasks) == 1 or not all(t.reuse for t in tasks):
        return [run_point(t) for t in tasks]
    first = tasks[0]
    if _take_warm((first.scan, first.simulator, first.resolution),
                  np.asarray(first.coords, dtype=float)) is None:
        # nothing to warm-start from yet: one point alone seeds the rest of the batch
        return [run_point(first), *run_batch(tasks[1:])]
    host = f"{socket.gethostname()}:{os.getpid()}"
    t0 = time.perf_counter()
    c0 = time.process_time()
    slots = [(t.scan, t.simulator, t.resolution) for t in tasks]
    coords = [np.asarray(t.coords, dtype=float) for t in tasks]
    warm = [_take_warm(s, c) for s, c in zip(slots, coords, strict=True)]
    try:
        points = [{**t.params, BACKEND_KEY: t.backend} for t in tasks]
        outs = spec.simulate_batch(points, warm_starts=warm)
        if len(outs) != len(tasks) or not all(isinstance(o, SimulationOutput) for o in outs):
            raise TypeError(f"simulate_batch of {tasks[0].simulator} returned {len(outs)} "
                            f"outputs for {len(tasks)} points")
        for o in outs:
            o.check()
    except Exception:  # noqa: BLE001 - retry alone: a failing point must not fail the batch
        return [run_point(t) for t in tasks]
    wall = (time.perf_counter() - t0) / len(tasks)
    cpu = (time.process_time() - c0) / len(tasks)
    records = []
    for t, s, c, w, out in zip(tasks, slots, coords, warm, outs, strict=True):
        if out.warm_state is not None:
            _put_warm(s, c, out.warm_state)
        records.append(PointRecord(
            key=t.key, index=t.index, status="ok", wall_s=wall, host=host,
            versions=worker_versions(), cpu_s=cpu, backend=str(out.backend),
            residual=float(out.residual),
            observables={k: float(v) for k, v in out.observables.items()},
            arrays={k: np.asarray(to_numpy(v)) for k, v in out.arrays.items()},
            warm_started=w is not None,
        ))
    return records
