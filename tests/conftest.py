"""Test-session set-up: one thread per BLAS/numba/torch pool, Agg plots, GPU marker skip."""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("MPLBACKEND", "Agg")

import pytest  # noqa: E402

from lfqcd.threads import pin_threads  # noqa: E402

pin_threads(1)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    from lfqcd.backend import gpu_available

    if gpu_available():
        return
    skip_gpu = pytest.mark.skip(reason="no usable CUDA GPU (CuPy path tested where one exists)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip_gpu)
