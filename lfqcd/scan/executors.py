"""Where scan points run: one small submit/as_completed interface over existing engines.

Executors
---------
``process`` (default)
    :class:`concurrent.futures.ProcessPoolExecutor` on this machine, ``workers`` processes
    (default: all usable cores), each pinned to one BLAS/OpenMP/numba/torch thread by its
    initializer (two-thread OpenBLAS made a small scan 15x slower on a 2-core VM, see
    lfqcd/threads.py). Workers live for the whole scan, so the simulator's operator cache is reused.
``serial``
    In the calling process, one point at a time (debugging, profiling, tiny scans).
``dask``
    A Dask distributed :class:`~distributed.Client`: connects to the scheduler at ``address``
    (``[executor] address``, ``--scheduler``, or the environment variable
    ``LFQCD_DASK_SCHEDULER``) or via a ``scheduler_file``, waiting at most
    ``connect_timeout_s``; without either it starts a local cluster of ``workers`` one-thread
    processes. A worker plugin pins every worker's threads to 1, including workers that join
    later. Needs ``pip install 'lfqcd[cluster]'``.
``mpi``
    :class:`mpi4py.futures.MPIPoolExecutor` (optional, needs ``pip install mpi4py`` and an MPI,
    e.g. ``pip install mpich``); same thread-pinning initializer. Under
    ``mpiexec -n N python -m mpi4py.futures ...`` the other ``N - 1`` ranks are the workers and
    ``workers`` is ignored; otherwise ``workers`` processes are spawned (needs MPI spawn).

Running on a Slurm cluster
--------------------------
Only the driver (the ``lfqcd scan`` process) writes the results folder; workers return their
results to it. The workers need the same Python environment (a virtual environment on a shared
file system) but no access to ``--out``.

*Dask with a scheduler file* (one allocation, no extra packages)::

    #SBATCH --nodes=4 --ntasks-per-node=32 --cpus-per-task=1
    srun --ntasks=1 --nodes=1 dask scheduler --scheduler-file $SCRATCH/sched.json &
    srun --ntasks=$((SLURM_NTASKS-1)) dask worker --scheduler-file $SCRATCH/sched.json \\
         --nthreads 1 --nworkers 1 --memory-limit 0 &
    lfqcd scan runs/scan_small.toml --executor dask --scheduler-file $SCRATCH/sched.json

*Dask via dask-jobqueue* (the driver submits worker jobs itself; ``pip install dask-jobqueue``)::

    from dask_jobqueue import SLURMCluster
    from distributed import Client
    from lfqcd.scan import DaskExecutor, load_config, run_scan
    cluster = SLURMCluster(cores=32, processes=32, memory="64GB", walltime="02:00:00")
    cluster.scale(jobs=4)
    with DaskExecutor(Client(cluster)) as ex:
        run_scan(load_config("runs/scan_small.toml"), executor=ex)

*MPI* (``mpi4py.futures``; rank 0 is the driver, the other ranks are workers)::

    srun -n 128 python -m mpi4py.futures -m lfqcd.cli scan runs/scan_small.toml --executor mpi

Use ``--cpus-per-task=1`` (or export ``OMP_NUM_THREADS=1``): the executors pin threads anyway.
An interrupted or time-limited job is simply resubmitted with the same command: finished points
are skipped.
"""

from __future__ import annotations

import abc
import concurrent.futures as cf
import contextlib
import multiprocessing
import os
import signal
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from lfqcd.errors import BackendUnavailableError
from lfqcd.scan.config import ENV_SCHEDULER, ExecutorSpec
from lfqcd.signals import exit_with_driver
from lfqcd.threads import pin_threads


def usable_cores() -> int:
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def init_worker(n_threads: int = 1, driver_pid: int | None = None) -> None:
    """Process-pool initializer: pin every thread pool of the worker to ``n_threads``.

    Workers also ignore SIGINT and SIGTERM: Ctrl-C (and Slurm's SIGTERM at the time limit)
    reaches the whole process group, and only the driver should react - it saves what is
    finished and then kills the workers - so an interrupted point is never mistaken for a
    failed one. With ``driver_pid`` a worker also exits by itself within a second of its
    driver's death (even ``kill -9``, see :func:`lfqcd.signals.exit_with_driver`); SIGKILL
    stops it at once.
    """
    pin_threads(n_threads)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if driver_pid is not None:
        exit_with_driver(driver_pid)


class ScanExecutor(abc.ABC):
    """The interface the scan runner uses: ``submit``, ``as_completed``, ``cancel``, ``close``.

    Futures only need a ``result()`` method. Use as a context manager; ``close`` is idempotent.
    """

    name: str = "executor"
    n_workers: int = 1

    @abc.abstractmethod
    def submit(self, fn: Callable[..., Any], /, *args: Any) -> Any:
        """Schedule ``fn(*args)``; return a future."""

    @abc.abstractmethod
    def as_completed(self, futures: Sequence[Any]) -> Iterator[Any]:
        """Yield the futures as they finish."""

    def cancel(self, futures: Sequence[Any]) -> None:
        """Cancel futures that have not started (best effort)."""
        for f in futures:
            f.cancel()

    def close(self, *, interrupted: bool = False) -> None:  # noqa: B027 - optional override
        """Release the workers; ``interrupted`` stops running work as fast as possible."""

    def map(self, fn: Callable[[Any], Any], args: Iterable[Any]) -> Iterator[Any]:
        """``fn(a)`` for every ``a``; results in argument order."""
        futures = [self.submit(fn, a) for a in args]
        for f in futures:
            yield f.result()

    def describe(self) -> str:
        """One line for messages: kind and size."""
        return f"{self.name} ({self.n_workers} worker{'s' if self.n_workers != 1 else ''})"

    def __enter__(self) -> ScanExecutor:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.close(interrupted=exc_type is not None)


class _LazyFuture:
    def __init__(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self._fn, self._args = fn, args
        self._done = False
        self._cancelled = False
        self._value: Any = None
        self._exc: BaseException | None = None

    def run(self) -> None:
        if self._done or self._cancelled:
            return
        try:
            self._value = self._fn(*self._args)
        except Exception as exc:  # noqa: BLE001 - delivered through result()
            self._exc = exc
        self._done = True

    def cancel(self) -> bool:
        if not self._done:
            self._cancelled = True
        return self._cancelled

    def result(self) -> Any:
        self.run()
        if self._cancelled:
            raise cf.CancelledError()
        if self._exc is not None:
            raise self._exc
        return self._value


class SerialExecutor(ScanExecutor):
    """Runs each task in this process when its result is requested (submission order)."""

    name = "serial"
    n_workers = 1

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> _LazyFuture:
        return _LazyFuture(fn, args)

    def as_completed(self, futures: Sequence[Any]) -> Iterator[Any]:
        for f in futures:
            f.run()
            yield f


class ConcurrentExecutor(ScanExecutor):
    """Any :class:`concurrent.futures.Executor` (process pool, ``MPIPoolExecutor``)."""

    def __init__(self, pool: cf.Executor, name: str, n_workers: int) -> None:
        self.pool = pool
        self.name = name
        self.n_workers = n_workers
        self._closed = False

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> cf.Future[Any]:
        return self.pool.submit(fn, *args)

    def as_completed(self, futures: Sequence[Any]) -> Iterator[Any]:
        return cf.as_completed(futures)

    def close(self, *, interrupted: bool = False) -> None:
        if self._closed:
            return
        self._closed = True
        if not interrupted:
            self.pool.shutdown(wait=True)
            return
        self.pool.shutdown(wait=False, cancel_futures=True)
        # Stop points that are still running: ProcessPoolExecutor has no public API for this,
        # so kill its worker processes (only ours; ``_processes`` is stable since 3.8). They
        # ignore SIGINT (see init_worker) and a point may sit in compiled code for minutes.
        procs = getattr(self.pool, "_processes", None) or {}
        for proc in list(procs.values()):
            with contextlib.suppress(Exception):
                proc.kill()


class ProcessExecutor(ConcurrentExecutor):
    """Local process pool with one thread per worker (the default executor)."""

    def __init__(self, workers: int | None = None, start_method: str | None = None) -> None:
        n = workers or usable_cores()
        ctx = multiprocessing.get_context(start_method) if start_method else None
        pool = cf.ProcessPoolExecutor(
            max_workers=n, mp_context=ctx, initializer=init_worker,
            initargs=(1, os.getpid()),
        )
        super().__init__(pool, "process", n)


class MPIExecutor(ConcurrentExecutor):
    """``mpi4py.futures.MPIPoolExecutor`` (optional dependency)."""

    def __init__(self, workers: int | None = None) -> None:
        try:
            from mpi4py.futures import MPIPoolExecutor
        except ImportError as exc:
            raise BackendUnavailableError(
                "executor 'mpi' needs mpi4py and an MPI library (pip install mpi4py mpich); "
                f"import failed: {exc}"
            ) from exc
        from mpi4py import MPI

        world = MPI.COMM_WORLD.Get_size()
        if world > 1:  # under ``mpiexec ... -m mpi4py.futures``: the other ranks are the pool
            workers = None
        pool = MPIPoolExecutor(max_workers=workers, initializer=init_worker, initargs=(1,))
        super().__init__(pool, "mpi", workers or max(world - 1, 0))

    def describe(self) -> str:
        return f"mpi (mpi4py.futures, {self.n_workers or 'spawned'} workers)"


class DaskExecutor(ScanExecutor):
    """Dask distributed: an existing :class:`~distributed.Client`, a scheduler, or local."""

    name = "dask"

    def __init__(
        self,
        client: Any = None,
        *,
        address: str | None = None,
        scheduler_file: str | None = None,
        workers: int | None = None,
        connect_timeout_s: float = 10.0,
    ) -> None:
        try:
            import distributed
        except ImportError as exc:
            raise BackendUnavailableError(
                "executor 'dask' needs dask distributed (pip install 'lfqcd[cluster]')"
            ) from exc
        self._distributed = distributed
        self._own_client = client is None
        self._cluster = None
        self._closed = False
        address = address or (None if scheduler_file else os.environ.get(ENV_SCHEDULER) or None)
        if client is None and (address or scheduler_file):
            where = address or f"scheduler file {scheduler_file}"
            from lfqcd.scan._dask import probe_scheduler

            try:
                probe_scheduler(address, scheduler_file, connect_timeout_s)
                client = distributed.Client(
                    address=address, scheduler_file=scheduler_file,
                    timeout=connect_timeout_s, set_as_default=False,
                )
            except (OSError, TimeoutError, ValueError) as exc:
                raise BackendUnavailableError(
                    f"Dask scheduler at {where} did not answer within {connect_timeout_s:g} s "
                    f"({type(exc).__name__}: {exc}); start it (dask scheduler) or fix "
                    f"[executor] address / --scheduler / ${ENV_SCHEDULER}"
                ) from exc
        elif client is None:
            n = workers or usable_cores()
            self._cluster = distributed.LocalCluster(
                n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None
            )
            client = distributed.Client(self._cluster, set_as_default=False)
        self.client = client
        from lfqcd.scan._dask import PinThreadsPlugin

        client.register_plugin(PinThreadsPlugin(), name="lfqcd-pin-threads")
        info = client.scheduler_info()
        self.n_workers = len(info.get("workers", {})) or (workers or 0)
        self.address = info.get("address", address)

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> Any:
        return self.client.submit(fn, *args, pure=False)

    def as_completed(self, futures: Sequence[Any]) -> Iterator[Any]:
        return iter(self._distributed.as_completed(list(futures), loop=self.client.loop))

    def cancel(self, futures: Sequence[Any]) -> None:
        with contextlib.suppress(Exception):
            self.client.cancel(list(futures))

    def close(self, *, interrupted: bool = False) -> None:
        if self._closed:
            return
        self._closed = True
        if self._own_client:
            self.client.close()
            if self._cluster is not None:
                self._cluster.close()

    def describe(self) -> str:
        return f"dask ({self.n_workers} workers at {self.address})"


def make_executor(spec: ExecutorSpec) -> ScanExecutor:
    """Create the executor described by an ``[executor]`` configuration table."""
    if spec.kind == "process":
        return ProcessExecutor(spec.workers, spec.start_method)
    if spec.kind == "serial":
        return SerialExecutor()
    if spec.kind == "dask":
        return DaskExecutor(
            address=spec.address, scheduler_file=spec.scheduler_file,
            workers=spec.workers, connect_timeout_s=spec.connect_timeout_s,
        )
    if spec.kind == "mpi":
        return MPIExecutor(spec.workers)
    raise BackendUnavailableError(f"unknown executor kind {spec.kind!r}")
