"""Matrix-free H = sum_i c_i O_i (issue 12): the same operator and eigenpairs as the assembled sum."""

from __future__ import annotations

import numpy as np
import pytest

from lfqcd.eigen import available_backends, solve
from lfqcd.errors import InvalidParameterError
from lfqcd.hamiltonian import PieceSum
from lfqcd.matfree import PieceSumOperator
from lfqcd.simulator import toy_simulate

COEFFS = {"T1": 1.0, "D": 0.5, "T2": 0.3, "U": 1.2, "S": 0.0}


@pytest.fixture(scope="module")
def pieces():
    host = toy_simulate.pieces(12, 5)  # 792 states, pure NumPy/SciPy pieces
    return PieceSum({name: host[name] for name in COEFFS})


def test_operator_equals_assembled_sum(pieces):
    op = PieceSumOperator(pieces.pieces, COEFFS)
    H = pieces.combine(COEFFS)
    X = np.random.default_rng(0).standard_normal((H.shape[0], 3))
    np.testing.assert_allclose(op @ X, H @ X, rtol=1e-13, atol=1e-12)
    np.testing.assert_allclose(op @ X[:, 0], H @ X[:, 0], rtol=1e-13, atol=1e-12)
    np.testing.assert_allclose(op.diagonal(), H.diagonal(), rtol=1e-14)
    assert op.products == 4


@pytest.mark.parametrize("backend", ["scipy", "primme"])
def test_matrix_free_solve_equals_assembled(pieces, backend):
    if not available_backends()[backend]:
        pytest.skip(f"{backend} not installed")
    H = pieces.combine(COEFFS)
    ref = solve(H, 3, backend="dense", dense_max=10_000)
    res = solve(PieceSumOperator(pieces.pieces, COEFFS), 3, backend=backend)
    assert res.backend == backend
    scale = max(1.0, np.abs(ref.eigenvalues).max())
    assert np.abs(res.eigenvalues - ref.eigenvalues).max() <= 1e-8 * scale
    if backend == "primme":
        assert res.matvecs is not None and res.matvecs > 0


def test_matrix_free_rejects_backends_that_need_a_matrix(pieces):
    op = PieceSumOperator(pieces.pieces, COEFFS)
    assert solve(op, 1).backend == "scipy"  # auto
    for backend in ("dense", "cupy", "slepc"):
        with pytest.raises(InvalidParameterError, match="needs an assembled matrix"):
            solve(op, 1, backend=backend)


def test_bad_coefficients(pieces):
    with pytest.raises(InvalidParameterError, match="missing"):
        PieceSumOperator(pieces.pieces, {"T1": 1.0})
    with pytest.raises(InvalidParameterError, match="not finite"):
        PieceSumOperator(pieces.pieces, {**COEFFS, "U": float("nan")})
