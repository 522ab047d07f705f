"""PieceSum: linear combination, real gauge of projected blocks, save/load."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from lfqcd.errors import InvalidParameterError, ResultFileError
from lfqcd.hamiltonian import PieceSum, real_gauge


def test_real_gauge_found_when_possible_and_refused_with_flux():
    rng = np.random.default_rng(3)
    n = 6
    A = rng.standard_normal((n, n))
    A = A + A.T
    d = np.exp(1j * rng.uniform(0, 2 * np.pi, n))
    H = sp.csr_matrix(np.diag(d) @ A @ np.diag(d.conj()))  # a real matrix in disguise
    g = real_gauge({"H": H})
    assert g is not None
    R = (sp.diags(g).conj() @ H @ sp.diags(g)).toarray()
    assert np.abs(R.imag).max() < 1e-12
    np.testing.assert_allclose(np.linalg.eigvalsh(R.real), np.linalg.eigvalsh(H.toarray()), atol=1e-12)
    flux = sp.csr_matrix(np.array([[0, 1, 1], [1, 0, 1j], [1, -1j, 0]]))  # phase i around a loop
    assert real_gauge({"H": flux}) is None
    assert real_gauge({"H": sp.csr_matrix(A)}) is None  # already real: nothing to do


def test_projected_femtoworm_block_is_stored_real_with_the_same_spectrum():
    from heavy_meson.hamiltonian import HeavyLightModel, Resolution
    from lfqcd.couplings import get_preset

    c = get_preset("illustrative").couplings
    block = HeavyLightModel(Resolution(0.5, 6.0), jz=0.5)
    assert block.pieces.dtype == np.float64
    full = HeavyLightModel(Resolution(0.5, 6.0), jz=None)
    e_block = np.linalg.eigvalsh(block.hamiltonian(c, 1.5).toarray())
    e_full = np.linalg.eigvalsh(full.hamiltonian(c, 1.5).toarray())
    assert all(np.min(np.abs(e_full - e)) < 1e-10 for e in e_block)
    V = block.pieces.isometry
    assert abs(V.conj().T @ V - sp.identity(V.shape[1])).max() < 1e-12


def test_combine_checks_names_and_values(tmp_path):
    ps = PieceSum({"a": sp.identity(3, format="csr"), "b": sp.csr_matrix(np.ones((3, 3)))})
    np.testing.assert_allclose(ps.combine({"a": 2.0, "b": 0.5}).toarray(), 2 * np.eye(3) + 0.5)
    with pytest.raises(InvalidParameterError, match="missing"):
        ps.combine({"a": 1.0})
    with pytest.raises(InvalidParameterError, match="not finite"):
        ps.combine({"a": 1.0, "b": float("nan")})
    path = tmp_path / "p.npz"
    ps.save(path)
    np.testing.assert_allclose(PieceSum.load(path).combine({"a": 1, "b": 1}).toarray(),
                               ps.combine({"a": 1, "b": 1}).toarray())
    path.write_bytes(b"not a zip")
    with pytest.raises(ResultFileError, match="unreadable"):
        PieceSum.load(path)
