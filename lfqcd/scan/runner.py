"""Run a scan: resolve the points, skip finished ones, execute the rest, store every outcome.

``run_scan(config)`` is the public entry point (the CLI is a thin layer over it). Resume rules:

* a point whose manifest entry is ``ok`` and whose point file validates is skipped;
* a point whose file is missing, truncated or corrupt is recomputed (the count is reported);
* a point file without a manifest entry (the driver died between the two writes) is adopted;
* failed points are retried (``retry_failed = true``, the default) or reported as failed;
* the manifest is append-only; ``summary.csv`` is rewritten from scratch at the end of every
  run (also after Ctrl-C), one row per point, so nothing is duplicated.

Every finished point is written (point file, then manifest line) by this process as soon as
its result arrives, so an interrupted scan loses at most the points that were running.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import BrokenExecutor
from pathlib import Path
from typing import Any

from lfqcd import __version__
from lfqcd.errors import BackendUnavailableError, ResultFileError
from lfqcd.scan.config import ScanConfig
from lfqcd.scan.designs import unit_coordinates
from lfqcd.scan.executors import ScanExecutor, make_executor
from lfqcd.scan.keys import canonical_json
from lfqcd.scan.planning import plan_order
from lfqcd.scan.points import ResolvedScan, ScanPoint, resolve_points
from lfqcd.scan.store import STORE_FORMAT, ScanStore, now_iso
from lfqcd.scan.table import Outcome, short_arrays, summary_table
from lfqcd.scan.worker import PointRecord, PointTask, run_batch, run_point
from lfqcd.simulator import load_simulator

Echo = Callable[[str], None]


@dataclasses.dataclass
class ScanResult:
    """What a scan run did; ``rows`` are the ``summary.csv`` rows as Python values."""

    out: Path
    name: str
    n_points: int
    n_ok: int
    n_failed: int
    n_previous: int
    n_run: int
    n_corrupt: int
    n_adopted: int
    wall_s: float
    executor: str
    failures: list[tuple[str, dict[str, Any], str]]
    interrupted: bool
    plots: list[Path]
    rows: list[dict[str, Any]]
    observables: list[str]
    varied: list[str]
    warm_started: int = 0
    notes: list[str] = dataclasses.field(default_factory=list)

    @property
    def points_per_second(self) -> float:
        """Points computed in this run per second of wall time."""
        return self.n_run / self.wall_s if self.wall_s > 0 else float("nan")


def default_out(cfg: ScanConfig) -> Path:
    """``[scan] out`` or ``out/scan_<name>``."""
    return Path(cfg.out) if cfg.out else Path("out") / f"scan_{cfg.name}"


def git_revision() -> str | None:
    """The git commit of the lfqcd checkout, when it is one (best effort)."""
    here = Path(__file__).resolve().parent
    try:
        res = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "HEAD"],
            capture_output=True, text=True, timeout=5, check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return res.stdout.strip() or None if res.returncode == 0 else None


def progress_enabled(setting: str | bool) -> bool:
    """``"auto"``: on for an interactive terminal unless ``CI`` is set."""
    if setting == "auto":
        ci = os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")
        return sys.stderr.isatty() and not ci
    return bool(setting)


def _existing_outcomes(
    store: ScanStore, points: list[ScanPoint], retry_failed: bool, flatten_max: int
) -> tuple[dict[str, Outcome], list[ScanPoint], int, int]:
    """Outcomes already in the store, the points still to run, #corrupt, #adopted."""
    manifest, _ = store.read_manifest()
    done: dict[str, Outcome] = {}
    todo: list[ScanPoint] = []
    corrupt = adopted = 0
    for p in points:
        entry = manifest.get(p.key)
        status = entry.get("status") if entry else None
        if status == "failed" and not retry_failed:
            done[p.key] = Outcome(
                p.key, p.index, "failed", p.params, wall_s=_num(entry.get("wall_s")),
                backend=str(entry.get("backend") or ""), error=entry.get("error"),
            )
            continue
        if status == "failed" or (entry is None and not store.point_path(p.key).exists()):
            todo.append(p)
            continue
        try:
            data = store.load_point(p.key)
        except ResultFileError:
            corrupt += status == "ok"
            todo.append(p)
            continue
        meta = data.meta
        if entry is None:  # died between writing the file and the manifest line
            adopted += 1
            store.append_manifest(_manifest_entry(
                p, "ok", meta.get("wall_s"), meta.get("host"), meta.get("versions"),
                meta.get("backend"), meta.get("residual"), data.observables,
                adopted=True, cpu_s=meta.get("cpu_s"),
            ))
        done[p.key] = Outcome(
            p.key, p.index, "ok", p.params, wall_s=_num(meta.get("wall_s")),
            backend=str(meta.get("backend", "")), residual=_num(meta.get("residual")),
            observables=data.observables, arrays=short_arrays(data.arrays, flatten_max),
        )
    return done, todo, corrupt, adopted


def _num(x: Any) -> float:
    return float("nan") if x is None else float(x)


def _manifest_entry(
    p: ScanPoint, status: str, wall_s: Any, host: Any, versions: Any, backend: Any,
    residual: Any, observables: dict[str, float], error: str | None = None,
    adopted: bool = False, cpu_s: Any = None,
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "key": p.key,
        "params": p.params,
        "status": status,
        "path": f"points/{p.key}.npz" if status == "ok" else None,
        "wall_s": wall_s,
        "cpu_s": cpu_s,
        "host": host,
        "versions": versions,
        "backend": backend,
        "residual": residual,
        "observables": observables,
        "time": now_iso(),
    }
    if error is not None:
        entry["error"] = error
    if adopted:
        entry["adopted"] = True
    return entry


def _engine_failure(task: PointTask, exc: BaseException) -> PointRecord:
    return PointRecord(
        key=task.key, index=task.index, status="failed", wall_s=float("nan"), host="",
        versions={}, backend=task.backend,
        error=f"worker error {type(exc).__name__}: {exc}",
    )


def _store_record(store: ScanStore, p: ScanPoint, rec: PointRecord, simulator: str,
                  flatten_max: int) -> Outcome:
    if rec.status == "ok":
        store.write_point(
            p.key,
            {"params": p.params, "simulator": simulator, "backend": rec.backend,
             "residual": rec.residual, "wall_s": rec.wall_s, "cpu_s": rec.cpu_s,
             "host": rec.host,
             "versions": rec.versions, "time": now_iso()},
            rec.observables, rec.arrays,
        )
    store.append_manifest(_manifest_entry(
        p, rec.status, rec.wall_s, rec.host, rec.versions, rec.backend, rec.residual,
        rec.observables, error=rec.error, cpu_s=rec.cpu_s,
    ))
    return Outcome(
        p.key, p.index, rec.status, p.params, wall_s=rec.wall_s, backend=rec.backend,
        residual=rec.residual, observables=rec.observables,
        arrays=short_arrays(rec.arrays, flatten_max), error=rec.error,
    )


def _scan_meta(cfg: ScanConfig, resolved: ResolvedScan, science: dict[str, Any],
               previous: dict[str, Any] | None, observables: list[str],
               status: str, counts: dict[str, int]) -> dict[str, Any]:
    return {
        "format": STORE_FORMAT,
        "name": cfg.name,
        "simulator": cfg.simulator,
        "params": resolved.param_names,
        "varied": resolved.varied,
        "observables": observables or (previous or {}).get("observables", []),
        "config": {**cfg.to_dict(), "preset_values": resolved.preset_values},
        "science": science,
        "version": __version__,
        "code_version": resolved.code_version,
        "git_revision": git_revision(),
        "seeds": {"design": cfg.seed},
        "n_points": len(resolved.points),
        "status": status,
        "counts": counts,
        "created": (previous or {}).get("created", now_iso()),
        "updated": now_iso(),
    }


@dataclasses.dataclass
class _RunState:
    """Book-keeping of one run (passed to :func:`_finish`)."""

    cfg: ScanConfig
    store: ScanStore
    resolved: ResolvedScan
    science: dict[str, Any]
    previous: dict[str, Any] | None
    outcomes: dict[str, Outcome]
    n_previous: int
    n_corrupt: int
    n_adopted: int
    notes: list[str]
    executor: str = "none (nothing to run)"
    n_run: int = 0
    warm: int = 0
    interrupted: bool = False


def run_scan(
    cfg: ScanConfig,
    *,
    executor: ScanExecutor | None = None,
    echo: Echo | None = None,
) -> ScanResult:
    """Run (or resume) the scan ``cfg``; return what happened.

    Parameters
    ----------
    cfg : a validated configuration (:func:`lfqcd.scan.load_config`).
    executor : where to run points; default: built from ``cfg.executor`` and closed after.
    echo : called with one-line progress messages (``None``: silent).

    Raises
    ------
    InvalidParameterError, ConfigError : bad names/values, or the results folder belongs to a
        different configuration (nothing is written in that case).
    BackendUnavailableError : the executor cannot start (e.g. no Dask scheduler answers).
    KeyboardInterrupt : re-raised after the finished points and ``summary.csv`` are saved.
    """
    say = echo or (lambda _msg: None)
    spec = load_simulator(cfg.simulator)
    resolved = resolve_points(cfg, spec)
    science = {**cfg.science_dict(), "preset_values": resolved.preset_values}
    out = default_out(cfg)
    store = ScanStore(out)
    store.check_compatible(science)
    previous = store.read_meta()
    flatten = cfg.output.flatten_max
    store.write_meta(_scan_meta(cfg, resolved, science, previous, [], "running", {}))
    done, todo, n_corrupt, n_adopted = _existing_outcomes(
        store, resolved.points, cfg.retry_failed, flatten
    )
    st = _RunState(cfg, store, resolved, science, previous, dict(done),
                   n_previous=sum(o.status == "ok" for o in done.values()),
                   n_corrupt=n_corrupt, n_adopted=n_adopted, notes=[])
    if resolved.duplicates:
        st.notes.append(f"{resolved.duplicates} duplicate design point(s) run once")
    if n_corrupt:
        st.notes.append(f"{n_corrupt} corrupt or missing point file(s) recomputed")
    if n_adopted:
        st.notes.append(f"{n_adopted} point file(s) without manifest entry adopted")
    if not cfg.reuse and spec.clear_cache is None:
        st.notes.append(f"simulator {cfg.simulator} has no clear_cache(); reuse=false only "
                        f"disables warm starts")
    t0 = time.perf_counter()
    if not todo:
        say(f"scan {cfg.name}: all {len(resolved.points)} points already in {out}")
        return _finish(st, t0, say)

    coords = unit_coordinates([p.params for p in todo], resolved.varied)
    order = plan_order([p.resolution for p in todo], coords)
    scan_id = hashlib.sha256(canonical_json(science).encode()).hexdigest()[:16]
    tasks = [
        PointTask(key=todo[i].key, index=todo[i].index, scan=scan_id, simulator=cfg.simulator,
                  params=todo[i].params, backend=cfg.backend, reuse=cfg.reuse,
                  resolution=todo[i].resolution, coords=tuple(float(c) for c in coords[i]))
        for i in order
    ]
    by_key = {p.key: p for p in todo}
    own = executor is None
    ex = executor if executor is not None else make_executor(cfg.executor)
    st.executor = ex.describe()
    say(f"scan {cfg.name}: {len(resolved.points)} points, {st.n_previous} already finished, "
        f"{len(tasks)} to run on {st.executor} -> {out}")
    from tqdm.auto import tqdm

    from lfqcd.progress import ProgressLines, use_lines

    futures: dict[Any, PointTask] = {}
    n_fail = 0
    broken: BaseException | None = None
    bar = None
    t0 = time.perf_counter()
    try:
        # submit first: a process pool forks its workers here, before tqdm starts a thread
        futures = {ex.submit(run_batch, c) if len(c) > 1 else ex.submit(run_point, c[0]): c
                   for c in batches(tasks, cfg.effective_batch_size())}
        show_bar = progress_enabled(cfg.output.progress)
        bar = tqdm(total=len(tasks), desc=f"scan {cfg.name}", unit="pt",
                   disable=not show_bar, file=sys.stderr)
        lines = (ProgressLines(len(tasks), f"scan {cfg.name}", stream=sys.stderr)
                 if echo is not None and use_lines(cfg.output.progress, show_bar) else None)
        for fut in ex.as_completed(list(futures)):
            chunk = futures[fut]
            try:
                recs = fut.result()
            except BrokenExecutor as exc:  # a worker process died: not the point's fault
                broken = exc
                st.interrupted = True
                ex.cancel(list(futures))
                break
            except Exception as exc:  # noqa: BLE001 - pickling, Dask KilledWorker, cancellation
                recs = [_engine_failure(task, exc) for task in chunk]
            for task, rec in zip(chunk, recs if isinstance(recs, list) else [recs], strict=True):
                with deferred_interrupt():  # point file, manifest line and outcome: all or none
                    oc = _store_record(store, by_key[task.key], rec, cfg.simulator, flatten)
                    st.outcomes[task.key] = oc
                st.n_run += 1
                st.warm += rec.warm_started
                n_fail += oc.status == "failed"
                bar.update(1)
                if lines is not None:
                    lines.update(1, failed=int(oc.status == "failed"))
            if n_fail:
                bar.set_postfix(failed=n_fail, refresh=False)
    except KeyboardInterrupt:
        st.interrupted = True
        ex.cancel(list(futures))
        raise
    finally:
        if bar is not None:
            bar.close()
        if own:
            ex.close(interrupted=st.interrupted)
        result = _finish(st, t0, say)
        if st.interrupted:
            say(f"scan {cfg.name} interrupted: {result.n_ok} of {result.n_points} points are "
                f"finished and kept in {out}; re-run the same command to resume")
    if broken is not None:
        raise BackendUnavailableError(
            f"a worker process of the {st.executor} executor died ({type(broken).__name__}: "
            f"{broken}; killed by a signal or out of memory?); {result.n_ok} of "
            f"{result.n_points} points are finished and kept in {out}; re-run to resume"
        ) from broken
    return result


@contextlib.contextmanager
def deferred_interrupt() -> Iterator[None]:
    """Hold Ctrl-C / SIGTERM for the duration of the block and raise ``KeyboardInterrupt``
    after it, so that a finished point is recorded completely (its manifest line and the
    in-memory outcome behind ``summary.csv``) or not at all. Only in the main thread (signal
    handlers cannot be changed elsewhere); a no-op there otherwise."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []
    sigs = (signal.SIGINT, signal.SIGTERM)
    old = {sig: signal.getsignal(sig) for sig in sigs}
    for sig in sigs:
        signal.signal(sig, lambda signum, frame: pending.append(signum))
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
    for signum in pending[:1]:  # deliver the first held signal as it would have been
        handler = old[signum]
        if callable(handler):
            handler(signum, None)  # e.g. default_int_handler or SIGTERM-as-interrupt: raises
        elif handler == signal.SIG_DFL:
            signal.raise_signal(signum)


def batches(tasks: list[PointTask], size: int) -> list[list[PointTask]]:
    """Consecutive runs of at most ``size`` tasks sharing a resolution (tasks come grouped)."""
    out: list[list[PointTask]] = []
    for t in tasks:
        if out and len(out[-1]) < size and out[-1][0].resolution == t.resolution:
            out[-1].append(t)
        else:
            out.append([t])
    return out


def _finish(st: _RunState, t0: float, say: Echo) -> ScanResult:
    """Write the summary, ``scan.json`` and plots; build the :class:`ScanResult`."""
    wall = time.perf_counter() - t0
    cfg, resolved = st.cfg, st.resolved
    ordered = sorted(st.outcomes.values(), key=lambda o: o.index)
    columns, rows, obs_names = summary_table(ordered, resolved.param_names,
                                             cfg.output.flatten_max)
    st.store.write_summary(columns, rows)
    n_ok = sum(o.status == "ok" for o in ordered)
    n_failed = sum(o.status == "failed" for o in ordered)
    n = len(resolved.points)
    status = "interrupted" if st.interrupted else ("complete" if n_ok == n else "incomplete")
    counts = {"ok": n_ok, "failed": n_failed, "pending": n - n_ok - n_failed}
    st.store.write_meta(_scan_meta(cfg, resolved, st.science, st.previous, obs_names, status,
                                   counts))
    plots: list[Path] = []
    if cfg.output.plots and not st.interrupted and n_ok:
        from lfqcd.scan.plots import plot_scan

        try:
            plots = plot_scan(st.store.root)
        except Exception as exc:  # noqa: BLE001 - a plotting problem must not fail a scan
            st.notes.append(f"plots failed: {type(exc).__name__}: {exc}")
    failures = [
        (o.key, {v: o.params.get(v) for v in resolved.varied}, o.error or "")
        for o in ordered if o.status == "failed"
    ]
    return ScanResult(
        out=st.store.root, name=cfg.name, n_points=n, n_ok=n_ok, n_failed=n_failed,
        n_previous=st.n_previous, n_run=st.n_run, n_corrupt=st.n_corrupt,
        n_adopted=st.n_adopted, wall_s=wall, executor=st.executor, failures=failures,
        interrupted=st.interrupted, plots=plots, rows=rows, observables=obs_names,
        varied=resolved.varied, warm_started=st.warm, notes=st.notes,
    )
