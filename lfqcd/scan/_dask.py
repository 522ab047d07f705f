"""Dask worker plugin (kept apart so that ``distributed`` is imported only when Dask is used)."""

from __future__ import annotations

from typing import Any

from distributed import WorkerPlugin

from lfqcd.threads import pin_threads


class PinThreadsPlugin(WorkerPlugin):
    """Pin the BLAS/OpenMP/numba/torch threads of every (present and future) worker to 1."""

    def setup(self, worker: Any) -> None:
        pin_threads(1)
