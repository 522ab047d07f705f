"""GPU path of scans (issue 5): the same toy scan on CPU (SciPy) and GPU (CuPy) agrees.

Skipped automatically without a usable CUDA device (tests/conftest.py).
"""

from __future__ import annotations

import numpy as np
import pytest

from lfqcd.scan import config_from_dict, run_scan


def _cfg(out, backend):
    return config_from_dict({
        "scan": {"simulator": "lfqcd.simulator:toy_simulate", "out": str(out),
                 "backend": backend, "name": f"gpu_{backend}"},
        "fixed": {"L": 16, "N": 6, "k": 4},
        "design": {"sampler": "sobol", "n_points": 8,
                   "ranges": {"t2": [0.0, 0.5], "V": [0.0, 1.5]}},
        "executor": {"kind": "serial"},
        "output": {"plots": False, "progress": False},
    })


@pytest.mark.gpu
def test_cpu_and_gpu_scans_agree(tmp_path):
    cpu = run_scan(_cfg(tmp_path / "cpu", "scipy"))
    gpu = run_scan(_cfg(tmp_path / "gpu", "cupy"))
    assert cpu.n_ok == gpu.n_ok == 8
    assert {r["backend"] for r in gpu.rows} == {"cupy"}
    assert gpu.warm_started == 7  # warm starts and device-resident pieces across points
    for col in ("obs.E0", "obs.spectrum[1]", "obs.spectrum[3]"):
        a = np.array([r[col] for r in cpu.rows])
        b = np.array([r[col] for r in gpu.rows])
        assert np.allclose(a, b, rtol=0, atol=1e-8), col
    assert max(r["residual"] for r in gpu.rows) < 1e-6
