"""Dask executor (issue 5): LocalCluster gives the process-pool results; dead schedulers fail fast."""

from __future__ import annotations

import socket
import time

import numpy as np
import pytest

from lfqcd.errors import BackendUnavailableError
from lfqcd.scan import DaskExecutor, ProcessExecutor, config_from_dict, run_scan
from lfqcd.scan.config import ENV_SCHEDULER

distributed = pytest.importorskip("distributed")


def _cfg(out, executor=None):
    return config_from_dict({
        "scan": {"simulator": "lfqcd.simulator:toy_simulate", "out": str(out), "name": "d",
                 "backend": "scipy"},
        "fixed": {"N": 5, "k": 3},
        "design": {"axes": {"L": [12, 13]}, "sampler": "sobol", "n_points": 4,
                   "ranges": {"t2": [0.0, 0.5], "V": [0.0, 1.5]}},
        "executor": executor or {"kind": "process", "workers": 2},
        "output": {"plots": False, "progress": False},
    })


@pytest.mark.timeout(120)
def test_dask_local_cluster_matches_process_pool(tmp_path):
    ref = run_scan(_cfg(tmp_path / "pool"), executor=ProcessExecutor(2))
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster, set_as_default=False) as client:
        ex = DaskExecutor(client)
        assert ex.n_workers == 2
        res = run_scan(_cfg(tmp_path / "dask"), executor=ex)
        ex.close()
        assert client.status == "running"  # a client we passed in is not closed for us
    assert res.n_ok == ref.n_ok == 8
    assert [r["key"] for r in res.rows] == [r["key"] for r in ref.rows]
    cols = [c for c in ref.rows[0] if c.startswith("obs.")]
    a = np.array([[r[c] for c in cols] for r in ref.rows])
    b = np.array([[r[c] for c in cols] for r in res.rows])
    assert np.allclose(a, b, rtol=1e-9, atol=1e-9, equal_nan=True)  # eigsh tol 1e-10; warm starts may differ


@pytest.fixture
def silent_server():
    """A TCP port that accepts connections but never speaks (an unresponsive scheduler)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    yield f"tcp://127.0.0.1:{srv.getsockname()[1]}"
    srv.close()


@pytest.mark.timeout(60)
def test_unresponsive_scheduler_gives_clear_error_within_timeout(tmp_path, silent_server):
    cfg = _cfg(tmp_path / "s", {"kind": "dask", "address": silent_server,
                                "connect_timeout_s": 2.0})
    t0 = time.perf_counter()
    with pytest.raises(BackendUnavailableError,
                       match=rf"Dask scheduler at {silent_server} did not answer within 2 s"):
        run_scan(cfg)
    assert time.perf_counter() - t0 < 20


@pytest.mark.timeout(60)
def test_scheduler_address_from_environment(tmp_path, monkeypatch):
    with socket.socket() as s:  # a free port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv(ENV_SCHEDULER, f"tcp://127.0.0.1:{port}")
    with pytest.raises(BackendUnavailableError, match=f"127.0.0.1:{port}.*{ENV_SCHEDULER}"):
        DaskExecutor(connect_timeout_s=1.0)
