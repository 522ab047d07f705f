"""Batched block eigensolver (issue 12, item 4): every batched result equals the per-point solve.

The agreement tolerance is the project's backend tolerance (1e-8 relative on eigenvalues,
test_eigen.AGREE); eigenvectors are compared up to a phase. The scan tests run the same points
with ``batch_size = 1`` and ``batch_size > 1`` and compare every stored observable.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from lfqcd.backend import gpu_available
from lfqcd.batched import PieceBatch, solve_batch, solve_coefficient_batch
from lfqcd.eigen import solve
from lfqcd.errors import ConfigError, EigNoConvergenceError, InvalidParameterError
from lfqcd.simulator import toy_simulate

AGREE = 1e-8


def toy_batch(L: int = 12, N: int = 5, B: int = 6, seed: int = 1):
    host = toy_simulate.pieces(L, N)
    names = ("T1", "D", "T2", "U", "S")
    rng = np.random.default_rng(seed)
    C = np.column_stack([np.ones(B), np.full(B, 0.5), rng.uniform(0, 0.6, B),
                         rng.uniform(0, 2, B), rng.uniform(-0.3, 0.3, B)])
    return [host[n] for n in names], C


def assert_same_as_per_point(op, res, k):
    for b in range(op.batch):
        H = op.matrix(b)
        ref = solve(H, k, backend="dense" if H.shape[0] <= 1000 else "scipy")
        lam = res.eigenvalues[b]
        scale = max(1.0, np.abs(ref.eigenvalues).max())
        assert np.abs(lam - ref.eigenvalues).max() <= AGREE * scale
        V = res.eigenvectors[b]
        assert np.abs(V.conj().T @ V - np.eye(k)).max() <= 1e-8
        r = np.linalg.norm(H @ V - V * lam[None, :], axis=0)
        np.testing.assert_allclose(res.residuals[b], r, rtol=1e-6, atol=1e-12)
        # ground state: the same vector up to a phase
        assert abs(abs(np.vdot(ref.eigenvectors[:, 0], V[:, 0])) - 1) <= 1e-8


@pytest.mark.parametrize("k", [1, 3])
def test_batch_equals_per_point_toy(k):
    pieces, C = toy_batch()
    op = PieceBatch(pieces, C)
    res = solve_batch(op, k, tol=1e-9)
    assert res.eigenvalues.shape == (6, k) and res.eigenvectors.shape == (6, 792, k)
    assert np.all(np.diff(res.eigenvalues, axis=1) >= 0)
    assert_same_as_per_point(op, res, k)


def test_batch_equals_per_point_complex_hermitian():
    """A complex Hermitian piece (no real gauge) goes through the same code."""
    rng = np.random.default_rng(3)
    n = 300
    A = sp.random(n, n, density=0.02, random_state=4, format="csr")
    A = A + 1j * sp.random(n, n, density=0.02, random_state=5, format="csr")
    A = (A + A.conj().T).tocsr()
    D = sp.diags(np.linspace(1.0, 20.0, n)).tocsr()
    C = np.column_stack([np.ones(4), rng.uniform(0.1, 1.0, 4)])
    op = PieceBatch([D, A], C)
    res = solve_batch(op, 2, tol=1e-9)
    assert np.iscomplexobj(res.eigenvectors)
    assert_same_as_per_point(op, res, 2)


def test_warm_start_cuts_iterations_and_zero_column_means_random():
    pieces, C = toy_batch(B=4)
    op = PieceBatch(pieces, C)
    cold = solve_batch(op, 1, tol=1e-9)
    X0 = cold.eigenvectors[:, :, 0].copy()
    X0[1] = 0.0  # no warm start for point 1
    warm = solve_batch(op, 1, tol=1e-9, X0=X0)
    assert warm.matvecs < 0.6 * cold.matvecs  # only point 1 starts cold
    np.testing.assert_allclose(warm.eigenvalues, cold.eigenvalues, rtol=0, atol=1e-10)


def test_unconverged_batch_raises_with_partial_result():
    pieces, C = toy_batch(B=3)
    with pytest.raises(EigNoConvergenceError) as info:
        solve_batch(PieceBatch(pieces, C), 1, tol=1e-9, maxiter=2)
    assert info.value.eigenvalues.shape == (3, 1)


def test_bad_batch_input():
    pieces, C = toy_batch(B=2)
    with pytest.raises(InvalidParameterError, match="shape"):
        PieceBatch(pieces, C[:, :3])
    with pytest.raises(InvalidParameterError, match="finite"):
        PieceBatch(pieces, np.where(C == 1.0, np.nan, C))
    with pytest.raises(InvalidParameterError, match="k="):
        solve_batch(PieceBatch(pieces, C), 400)
    with pytest.raises(InvalidParameterError, match="missing"):
        solve_coefficient_batch({"A": pieces[0]}, [{"B": 1.0}])


def test_coefficient_front_end_matches_eigen_solve():
    host = toy_simulate.pieces(10, 4)
    pieces = {n: host[n] for n in ("T1", "D", "U")}
    coeffs = [{"T1": 1.0, "D": 0.5, "U": v} for v in (0.0, 0.7, 1.4)]
    out = solve_coefficient_batch(pieces, coeffs, 2, starts=[None, np.zeros(3), None])
    for c, r in zip(coeffs, out, strict=True):
        H = sum(v * pieces[n] for n, v in c.items())
        ref = solve(H, 2, backend="dense")
        assert r.backend == "batched-numpy"
        assert np.abs(r.eigenvalues - ref.eigenvalues).max() <= AGREE * 10


def _scan(tmp_path, name, batch_size, executor=None, backend="auto"):
    from lfqcd.scan import config_from_dict, run_scan

    raw = {
        "scan": {"simulator": "lfqcd.simulator:toy_simulate", "out": str(tmp_path / name),
                 "name": name, "batch_size": batch_size, "backend": backend},
        "fixed": {"N": 4, "k": 3},
        "design": {"sampler": "sobol", "n_points": 8, "ranges": {"t2": [0.0, 0.6],
                                                                  "V": [0.0, 2.0]},
                   "axes": {"L": [10, 11]}},
        "executor": executor or {"kind": "serial"},
        "output": {"plots": False, "progress": False},
    }
    return run_scan(config_from_dict(raw))


def test_scan_batched_equals_per_point(tmp_path):
    per = _scan(tmp_path, "per", 1)
    bat = _scan(tmp_path, "bat", 5)
    assert per.n_ok == bat.n_ok == 16
    backends = {r["backend"] for r in bat.rows}
    assert "batched-numpy" in backends
    for a, b in zip(per.rows, bat.rows, strict=True):
        for col, v in a.items():
            if col.startswith("obs.") and np.isnan(v):  # density[10] at L = 10
                assert np.isnan(b[col]), col
            elif col.startswith("obs.E0") or col.startswith("obs.spectrum"):
                assert abs(v - b[col]) <= AGREE * max(1.0, abs(v)), col
            elif col.startswith("obs."):  # ground-state expectation values
                assert abs(v - b[col]) <= 1e-6, col


def flaky_batch_simulate(point, *, warm_start=None):
    """The toy simulator, failing at t2 = 0.3 (alone and in any batch that contains it)."""
    if point["t2"] == 0.3:
        raise RuntimeError("injected failure at t2=0.3")
    return toy_simulate(point, warm_start=warm_start)


def _flaky_batch(points, *, warm_starts):
    if any(p["t2"] == 0.3 for p in points):
        raise RuntimeError("injected batch failure")
    return toy_simulate.simulate_batch(points, warm_starts=warm_starts)


flaky_batch_simulate.parameter_defaults = toy_simulate.parameter_defaults
flaky_batch_simulate.resolution_params = toy_simulate.resolution_params
flaky_batch_simulate.simulate_batch = _flaky_batch


def test_a_failing_point_fails_alone_in_a_batch(tmp_path):
    from lfqcd.scan import config_from_dict, run_scan

    raw = {
        "scan": {"simulator": "test_batched:flaky_batch_simulate", "out": str(tmp_path / "f"),
                 "batch_size": 4},
        "fixed": {"L": 10, "N": 4, "k": 2},
        "design": {"points": [{"t2": t} for t in (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)]},
        "executor": {"kind": "serial"},
        "output": {"plots": False, "progress": False},
    }
    res = run_scan(config_from_dict(raw))
    assert (res.n_ok, res.n_failed) == (5, 1)
    assert "t2=0.3" in res.failures[0][2]


def test_batch_size_is_validated(tmp_path):
    with pytest.raises(ConfigError, match="batch_size"):
        _scan(tmp_path, "bad", -1)


def test_automatic_batch_size():
    from lfqcd.scan import config_from_dict

    def cfg(**scan):
        return config_from_dict({"scan": scan, "design": {"points": [{"t2": 0.1}]}})

    assert cfg().batch_size == 0
    assert cfg().effective_batch_size() == (32 if gpu_available() else 1)
    assert cfg(backend="cupy").effective_batch_size() == 32
    assert cfg(backend="scipy").effective_batch_size() == 1
    assert cfg(batch_size=8).effective_batch_size() == 8


@pytest.mark.gpu
@pytest.mark.skipif(not gpu_available(), reason="needs CuPy and a CUDA device")
def test_gpu_batch_equals_cpu_batch():  # pragma: no cover - no GPU on the CI machine
    import cupy
    import cupyx.scipy.sparse as csp

    pieces, C = toy_batch(L=14, N=6, B=8)
    cpu = solve_batch(PieceBatch(pieces, C), 2, tol=1e-9)
    gpu = solve_batch(PieceBatch([csp.csr_matrix(p) for p in pieces], C, cupy), 2, tol=1e-9)
    np.testing.assert_allclose(cupy.asnumpy(gpu.eigenvalues), cpu.eigenvalues, rtol=0,
                               atol=AGREE * np.abs(cpu.eigenvalues).max())


@pytest.mark.parametrize("condition", ["fixed", "renormalized_quark", "lambda_bar"])
def test_heavy_meson_batch_equals_per_point(condition):
    """The B-meson simulator: a fixed counterterm or the renormalised quark (m_R^2 and the
    cell-log, whose coefficient moves with t_F) is one block solve; with lambda_bar every
    Newton step on m0_sq is one block solve of the points not yet converged."""
    from heavy_meson import simulator as hm

    base = {"h": 0.5, "kappa_max": 8.0, "condition": condition, "m0_sq": 40.0,
            "backend": "auto"}
    if condition == "renormalized_quark":
        base = {**base, "m0_sq": float("nan"), "m_R_sq": 6.0, "log_factor": 1.1}
    points = [{**base, "t_F": t, "mu": mu} for t, mu in ((0.3, 1.0), (0.5, 1.2), (0.7, 1.5))]
    per = [hm.simulate(p) for p in points]
    bat = hm.simulate_batch(points, warm_starts=[None, per[0].warm_state, None])
    want = "batched-numpy"  # lambda_bar: the Newton steps run as block solves too
    for a, b in zip(per, bat, strict=True):
        assert b.backend in (want, "dense")
        assert abs(a.observables["lambda_bar"] - b.observables["lambda_bar"]) <= AGREE * 10
        for name, v in a.observables.items():
            assert abs(v - b.observables[name]) <= 1e-6 * max(1.0, abs(v)), name
        np.testing.assert_allclose(a.arrays["xi"], b.arrays["xi"], rtol=0, atol=1e-6)


@pytest.mark.gpu
@pytest.mark.skipif(not gpu_available(), reason="needs CuPy and a CUDA device")
def test_gpu_batched_scan_equals_cpu_per_point(tmp_path):  # pragma: no cover - no GPU here
    per = _scan(tmp_path, "cpu", 1, backend="scipy")
    gpu = _scan(tmp_path, "gpu", 8, backend="cupy")
    assert {r["backend"] for r in gpu.rows} >= {"batched-cupy"}
    for a, b in zip(per.rows, gpu.rows, strict=True):
        assert abs(a["obs.E0"] - b["obs.E0"]) <= AGREE * max(1.0, abs(a["obs.E0"]))
