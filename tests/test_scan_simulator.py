"""The simulator protocol and the toy simulator (issue 5)."""

from __future__ import annotations

import numpy as np
import pytest

from lfqcd.errors import ConfigError, InvalidParameterError
from lfqcd.scan.worker import PointTask, clear_warm_states, run_point
from lfqcd.simulator import SimulationOutput, ToySimulator, load_simulator, toy_simulate


def _free_levels(L: int, t2: float) -> np.ndarray:
    h = np.zeros((L, L))
    for r, t in ((1, 1.0), (2, t2)):
        idx = np.arange(L - r)
        h[idx, idx + r] = h[idx + r, idx] = -t
    return np.linalg.eigvalsh(h)


@pytest.mark.parametrize("t2", [0.0, 0.35])
def test_toy_free_fermions_fill_the_lowest_orbitals(t2):
    # with next-nearest hopping the fermion signs matter: the N-particle ground state energy is
    # the sum of the N lowest single-particle levels only if the signs are right
    sim = ToySimulator()
    L, N = 9, 3
    out = sim({"L": L, "N": N, "k": 3, "W": 0.0, "t2": t2, "backend": "dense"})
    eps = _free_levels(L, t2)
    assert out.observables["E0"] == pytest.approx(eps[:N].sum(), abs=1e-12)
    assert out.observables["gap"] == pytest.approx(eps[N] - eps[N - 1], abs=1e-12)
    assert out.arrays["density"].sum() == pytest.approx(N)
    assert out.residual < 1e-10 and out.backend == "dense"


def test_toy_caches_pieces_per_resolution_and_uses_warm_start():
    sim = ToySimulator()
    a = sim({"L": 14, "N": 5, "V": 1.0, "backend": "scipy"})
    b = sim({"L": 14, "N": 5, "V": 1.1, "backend": "scipy"}, warm_start=a.warm_state)
    c = sim({"L": 14, "N": 5, "V": 1.1, "backend": "scipy"})
    assert sim.builds == 1
    assert b.observables["E0"] == pytest.approx(c.observables["E0"], abs=1e-10)
    sim({"L": 12, "N": 5, "backend": "scipy"}, warm_start=a.warm_state)  # wrong size: ignored
    assert sim.builds == 2
    sim.clear_cache()
    sim({"L": 12, "N": 5})
    assert sim.builds == 3


def test_toy_validation_messages():
    with pytest.raises(InvalidParameterError, match="L=3 is too small for the truncation N=3"):
        toy_simulate.validate({**toy_simulate.parameter_defaults(), "L": 3, "N": 3})
    with pytest.raises(InvalidParameterError, match="coupling V must be a finite number"):
        toy_simulate.validate({**toy_simulate.parameter_defaults(), "V": float("inf")})


def test_load_simulator_resolves_hooks_and_rejects_bad_refs():
    spec = load_simulator("lfqcd.simulator:toy_simulate")
    assert spec.defaults()["L"] == 10 and spec.clear_cache is not None
    assert spec.resolution_key({"L": 10, "N": 4, "V": 0.3}) == (("L", 10), ("N", 4))
    for bad in ("lfqcd.simulator", "no_such_module_xyz:f", "lfqcd.simulator:nothing"):
        with pytest.raises(ConfigError):
            load_simulator(bad)


def test_output_check_rejects_protocol_violations():
    with pytest.raises(ValueError, match="observable name"):
        SimulationOutput({"E 0": 1.0}).check()
    with pytest.raises(TypeError, match="real scalar"):
        SimulationOutput({"E0": 1j}).check()
    with pytest.raises(ValueError, match="both an observable and an array"):
        SimulationOutput({"x": 1.0}, {"x": np.zeros(2)}).check()


def bad_return(point, *, warm_start=None):
    return {"E0": 1.0}


def test_worker_turns_exceptions_and_bad_returns_into_failed_records():
    clear_warm_states()
    task = PointTask(key="k", index=0, scan="s", simulator="test_scan_simulator:bad_return",
                     params={}, backend="auto", reuse=True, resolution=(), coords=())
    rec = run_point(task)
    assert rec.status == "failed" and "expected SimulationOutput" in rec.error
    task = PointTask(key="k", index=0, scan="s", simulator="lfqcd.simulator:toy_simulate",
                     params={"L": 3, "N": 3}, backend="auto", reuse=True, resolution=(),
                     coords=())
    rec = run_point(task)
    assert rec.status == "failed" and rec.error.startswith("InvalidParameterError: resolution")
