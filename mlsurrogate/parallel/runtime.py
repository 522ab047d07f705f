"""Process groups: backend choice, initialisation with timeouts, shutdown, local launcher.

Implementation notes
--------------------
* Backend: ``auto`` picks NCCL only when CUDA is available with at least one device per rank
  (NCCL refuses several ranks on one GPU); otherwise gloo on CPU.
  Asking for ``nccl`` without enough GPUs raises :class:`BackendUnavailableError`.
* Every rank pins its thread pools to one thread (:func:`lfqcd.threads.pin_threads`).
* ``init_process_group`` always gets a timeout; collectives on a dead peer then fail within it
  (see :class:`~mlsurrogate.errors.CollectiveError`) instead of hanging.
* :func:`launch_local` starts ``p`` ranks on this machine (``fork`` by default: about 0.1 s
  instead of several seconds per rank for ``spawn``) with a ``file://``
  rendezvous in a fresh temporary folder, collects each rank's return value and turns a rank
  that dies or overruns into :class:`~mlsurrogate.errors.RankFailureError`. ``lfqcd train``
  uses ``torchrun`` instead (see :mod:`mlsurrogate.train.cli`).
"""

from __future__ import annotations

import contextlib
import datetime
import multiprocessing as mp
import os
import pickle
import queue as queue_mod
import shutil
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from lfqcd.errors import BackendUnavailableError, InvalidParameterError
from lfqcd.threads import pin_threads
from mlsurrogate.errors import RankFailureError

__all__ = [
    "DistContext",
    "choose_backend",
    "distributed",
    "init_distributed",
    "launch_local",
    "shutdown",
    "single_process_context",
]

BACKENDS = ("auto", "gloo", "nccl")


@dataclass(frozen=True)
class DistContext:
    """Where this rank runs: rank, world size, backend ("none" = no process group), device."""

    rank: int
    world_size: int
    local_rank: int
    backend: str
    device: torch.device
    timeout_s: float
    group: Any = None

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def choose_backend(requested: str, nproc: int) -> str:
    """Resolve ``auto|gloo|nccl`` for ``nproc`` ranks; raise if the request cannot be served."""
    if requested not in BACKENDS:
        raise InvalidParameterError(
            f"unknown distributed backend {requested!r}; choose one of {', '.join(BACKENDS)}"
        )
    n_gpu = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if requested == "nccl":
        if n_gpu == 0:
            raise BackendUnavailableError(
                "backend 'nccl' needs CUDA GPUs, but none is visible (torch "
                f"{torch.__version__}, torch.cuda.is_available() is False); use backend "
                "'gloo' or 'auto'"
            )
        if not dist.is_nccl_available():
            raise BackendUnavailableError("backend 'nccl' is not built into this torch")
        if n_gpu < nproc:
            raise BackendUnavailableError(
                f"backend 'nccl' needs one GPU per rank: {nproc} ranks but {n_gpu} visible "
                "CUDA device(s) (NCCL refuses several ranks on one GPU); use fewer ranks or "
                "backend 'gloo'"
            )
        return "nccl"
    if requested == "auto" and n_gpu >= nproc and dist.is_nccl_available():
        return "nccl"
    if not dist.is_gloo_available():
        raise BackendUnavailableError("backend 'gloo' is not built into this torch")
    return "gloo"


def single_process_context(device: str | torch.device = "cpu") -> DistContext:
    """A world of one: collectives are identities, no process group is created."""
    return DistContext(0, 1, 0, "none", torch.device(device), 0.0)


def init_distributed(
    backend: str = "auto",
    timeout_s: float = 60.0,
    init_method: str = "env://",
    rank: int | None = None,
    world_size: int | None = None,
    local_rank: int | None = None,
) -> DistContext:
    """Create the default process group (with a timeout) and return this rank's context.

    ``rank``/``world_size``/``local_rank`` default to the ``RANK``/``WORLD_SIZE``/
    ``LOCAL_RANK`` variables that ``torchrun`` sets.
    """
    pin_threads(1)
    rank = int(os.environ.get("RANK", "0")) if rank is None else rank
    world_size = int(os.environ.get("WORLD_SIZE", "1")) if world_size is None else world_size
    local_rank = int(os.environ.get("LOCAL_RANK", str(rank))) if local_rank is None else local_rank
    if timeout_s <= 0:
        raise InvalidParameterError(f"timeout_s must be > 0, got {timeout_s}")
    chosen = choose_backend(backend, world_size)
    device = torch.device("cpu")
    if chosen == "nccl":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    try:
        dist.init_process_group(
            chosen,
            init_method=init_method,
            rank=rank,
            world_size=world_size,
            timeout=datetime.timedelta(seconds=timeout_s),
        )
    except (RuntimeError, TimeoutError, ValueError) as exc:
        raise RankFailureError(
            f"rank {rank}: process-group creation ({chosen}, {init_method}) failed within "
            f"{timeout_s:g} s: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
        ) from exc
    return DistContext(rank, world_size, local_rank, chosen, device, float(timeout_s))


def shutdown() -> None:
    """Destroy the default process group if there is one (safe to call twice)."""
    from mlsurrogate.parallel.collectives import forget_backend_support

    forget_backend_support()
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


@contextlib.contextmanager
def distributed(backend: str = "auto", timeout_s: float = 60.0, **kw: Any) -> Iterator[DistContext]:
    """``with distributed(...) as ctx:`` - init the group, always destroy it at exit."""
    ctx = init_distributed(backend, timeout_s, **kw)
    try:
        yield ctx
        # tear down together: a rank that destroys its group and exits while a peer still
        # works can abort in gloo's C++ destructors ("terminate called without an active
        # exception"); skipped on errors, where the peer may be gone
        dist.barrier()
    finally:
        shutdown()


# --------------------------------------------------------------------------------------------
# local launcher (tests, benchmarks)
# --------------------------------------------------------------------------------------------
def _child(
    fn: Callable[..., Any],
    rank: int,
    nproc: int,
    rdzv_file: str,
    backend: str,
    timeout_s: float,
    args: tuple[Any, ...],
    out: Any,
) -> None:
    try:
        ctx = init_distributed(
            backend, timeout_s, f"file://{rdzv_file}", rank=rank, world_size=nproc, local_rank=rank
        )
        try:
            result = fn(ctx, *args)
        finally:
            shutdown()
        # plain pickle: torch.multiprocessing would pass tensors as shared-memory handles that
        # die with this process before the parent reads them
        out.put((rank, True, pickle.dumps(result)))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, which re-raises
        first = str(exc).splitlines()[0] if str(exc) else ""
        out.put((rank, False, (f"{type(exc).__name__}: {first}", traceback.format_exc())))


def launch_local(
    fn: Callable[..., Any],
    nproc: int,
    args: tuple[Any, ...] = (),
    *,
    backend: str = "gloo",
    timeout_s: float = 60.0,
    join_timeout_s: float | None = None,
    start_method: str = "fork",
) -> list[Any]:
    """Run ``fn(ctx, *args)`` on ``nproc`` local ranks and return the results in rank order.

    ``fn`` must be a module-level function (picklable for ``spawn``) and its result picklable.
    ``timeout_s`` is the process-group timeout; ``join_timeout_s`` (default ``2*timeout_s +
    30``) bounds the whole run. Any rank that raises, exits without a result or overruns gives
    :class:`RankFailureError` naming each failing rank and its first error line.
    """
    if nproc < 1:
        raise InvalidParameterError(f"nproc must be >= 1, got {nproc}")
    join_timeout_s = 2 * timeout_s + 30 if join_timeout_s is None else join_timeout_s
    mpctx = mp.get_context(start_method)
    tmp = tempfile.mkdtemp(prefix="lfqcd_rdzv_")
    q = mpctx.Queue()
    procs = [
        mpctx.Process(
            target=_child,
            args=(fn, r, nproc, os.path.join(tmp, "rdzv"), backend, timeout_s, args, q),
            daemon=True,
        )
        for r in range(nproc)
    ]
    results: dict[int, Any] = {}
    failures: dict[int, str] = {}
    details: dict[int, str] = {}
    try:
        for proc in procs:
            proc.start()
        deadline = time.monotonic() + join_timeout_s
        while len(results) + len(failures) < nproc and time.monotonic() < deadline:
            try:
                rank, ok, payload = q.get(timeout=0.05)
            except queue_mod.Empty:
                dead = [
                    r
                    for r, proc in enumerate(procs)
                    if r not in results and r not in failures and not proc.is_alive()
                ]
                if dead:  # let messages already written by exited ranks arrive first
                    with contextlib.suppress(queue_mod.Empty):
                        while True:
                            _store(*q.get(timeout=0.3), results, failures, details)
                    for r in dead:
                        if r not in results and r not in failures:
                            failures[r] = f"exited with code {procs[r].exitcode} without a result"
                continue
            _store(rank, ok, payload, results, failures, details)
        for r in range(nproc):
            if r not in results and r not in failures:
                failures[r] = f"no result within {join_timeout_s:g} s (killed)"
    finally:
        for proc in procs:
            proc.join(timeout=1.0)
            if proc.is_alive():
                proc.kill()
                proc.join(timeout=5.0)
        q.close()
        shutil.rmtree(tmp, ignore_errors=True)
    if failures:
        lines = "; ".join(f"rank {r}: {failures[r]}" for r in sorted(failures))
        err = RankFailureError(f"{len(failures)} of {nproc} ranks failed: {lines}")
        err.failures = failures  # type: ignore[attr-defined]
        err.tracebacks = details  # type: ignore[attr-defined]
        raise err
    return [results[r] for r in range(nproc)]


def _store(
    rank: int,
    ok: bool,
    payload: Any,
    results: dict[int, Any],
    failures: dict[int, str],
    details: dict[int, str],
) -> None:
    if ok:
        results[rank] = pickle.loads(payload)
    else:
        failures[rank], details[rank] = payload
