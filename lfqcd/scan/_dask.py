"""Dask helpers (kept apart so that ``distributed`` is imported only when Dask is used)."""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
from typing import Any

from distributed import Client, WorkerPlugin

from lfqcd.threads import pin_threads


class PinThreadsPlugin(WorkerPlugin):
    """Pin the BLAS/OpenMP/numba/torch threads of every (present and future) worker to 1."""

    def setup(self, worker: Any) -> None:
        pin_threads(1)


async def _connect_once(address: str | None, scheduler_file: str | None, timeout: float) -> None:
    client = Client(address, scheduler_file=scheduler_file, asynchronous=True,
                    timeout=timeout, set_as_default=False)
    try:
        await asyncio.wait_for(client, timeout)
    finally:
        await client.close()


def probe_scheduler(address: str | None, scheduler_file: str | None, timeout: float) -> None:
    """Connect and disconnect once, giving up after ``timeout`` seconds in total.

    ``Client(timeout=...)`` bounds only the TCP connect, not the handshake that follows
    (dask/distributed#7698), so a peer that accepts connections but never answers would hang
    the synchronous client forever. This probe runs Dask's own asynchronous client under
    :func:`asyncio.wait_for` in a private event loop (a separate thread, so it also works when
    the caller runs an event loop, e.g. in Jupyter) and raises ``TimeoutError``/``OSError``.
    """
    with cf.ThreadPoolExecutor(1, thread_name_prefix="lfqcd-dask-probe") as pool:
        pool.submit(asyncio.run, _connect_once(address, scheduler_file, timeout)).result()
