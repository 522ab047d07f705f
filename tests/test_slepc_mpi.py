"""SLEPc backend (issue 12): Krylov-Schur on an MPI matrix agrees with ARPACK to 1e-8.

Skipped cleanly when petsc4py/slepc4py are not installed (they build from source; see
docs/solvers.md) or, for the two-rank run, when ``mpirun`` is missing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lfqcd.eigen import solve
from lfqcd.eigen_slepc import RowBlocks, available, row_range
from lfqcd.simulator import toy_simulate

pytestmark = pytest.mark.mpi
needs_slepc = pytest.mark.skipif(not available(), reason="petsc4py/slepc4py not installed")
ROOT = Path(__file__).resolve().parents[1]


def test_row_range_tiles_the_rows():
    for n, size in ((10, 3), (7, 7), (5, 2), (1000, 6)):
        ranges = [row_range(n, r, size) for r in range(size)]
        assert ranges[0][0] == 0 and ranges[-1][1] == n
        assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:], strict=False))
        assert max(hi - lo for lo, hi in ranges) - min(hi - lo for lo, hi in ranges) <= 1


@needs_slepc
def test_slepc_one_rank_agrees_with_arpack():
    host = toy_simulate.pieces(12, 5)
    H = (host["T1"] + 0.5 * host["D"] + 0.3 * host["T2"] + 1.2 * host["U"]).tocsr()
    ref = solve(H, 4, backend="scipy")
    res = solve(H, 4, backend="slepc")
    rows = solve(RowBlocks(H.shape[0], lambda lo, hi: H[lo:hi], H.dtype), 4, backend="slepc")
    scale = max(1.0, np.abs(ref.eigenvalues).max())
    for r in (res, rows):
        assert r.backend == "slepc"
        assert np.abs(r.eigenvalues - ref.eigenvalues).max() <= 1e-8 * scale


@needs_slepc
@pytest.mark.skipif(shutil.which("mpirun") is None, reason="mpirun not found")
def test_slepc_two_ranks_agree_with_arpack():
    cmd = ["mpirun", "-n", "2", "--oversubscribe"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-run-as-root")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
           "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run([*cmd, sys.executable, "-m", "lfqcd.eigen_slepc"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "slepc on 2 ranks" in proc.stdout
