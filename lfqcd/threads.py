"""Pin BLAS/OpenMP/numba/torch thread pools.

On the 2-core development machine two-thread OpenBLAS made a small scan 15x slower
(measured during development). Call :func:`pin_threads` once at an entry point (CLI, worker
initializer, test session) - never at import time of a library module.
"""

from __future__ import annotations

import os

_ENV_VARS = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
)


def pin_threads(n: int = 1) -> None:
    """Limit every known thread pool of this process (and its future children) to ``n`` threads.

    Sets the environment variables (effective for libraries not yet loaded and for child
    processes) and, for pools already loaded, uses threadpoolctl, numba and torch directly.
    """
    if n < 1:
        raise ValueError(f"thread count must be >= 1, got {n}")
    for var in _ENV_VARS:
        os.environ[var] = str(n)
    # NUMBA_NUM_THREADS is deliberately not touched: numba refuses a changed value once its
    # threading layer has started; our kernels are serial, and numba.set_num_threads caps prange.
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(n)
    except ImportError:
        pass
    import sys

    if "numba" in sys.modules:
        import numba

        numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    if "torch" in sys.modules:
        import torch

        torch.set_num_threads(n)
