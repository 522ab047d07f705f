"""End-to-end scans on the toy simulator (issue 5): resume, corruption, reuse, bad input."""

from __future__ import annotations

import json
import os
from collections import Counter
from concurrent.futures import CancelledError

import numpy as np
import pytest

from lfqcd.errors import BackendUnavailableError, ConfigError, InvalidParameterError
from lfqcd.scan import ProcessExecutor, SerialExecutor, config_from_dict, read_summary, run_scan
from lfqcd.scan.store import ScanStore
from lfqcd.simulator import toy_simulate

FAIL_ENV = "LFQCD_TEST_FAIL_T2"
T2_VALUES = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5]


def flaky_simulate(point, *, warm_start=None):
    """The toy simulator, but raises for the point whose t2 is in $LFQCD_TEST_FAIL_T2."""
    if os.environ.get(FAIL_ENV) and float(os.environ[FAIL_ENV]) == point["t2"]:
        raise RuntimeError(f"injected failure at t2={point['t2']}")
    return toy_simulate(point, warm_start=warm_start)


flaky_simulate.parameter_defaults = toy_simulate.parameter_defaults
flaky_simulate.resolution_params = toy_simulate.resolution_params
flaky_simulate.validate = toy_simulate.validate
flaky_simulate.clear_cache = toy_simulate.clear_cache


def dying_simulate(point, *, warm_start=None):
    """The toy simulator, but the worker process dies (as if OOM-killed) at t2 = 0.3."""
    if os.environ.get(FAIL_ENV) and point["t2"] == 0.3:
        os._exit(1)
    return toy_simulate(point, warm_start=warm_start)


def toy_cfg(out, *, simulator="lfqcd.simulator:toy_simulate", design=None, fixed=None,
            scan=None, executor=None):
    design = design or {"points": [{"t2": t} for t in T2_VALUES]}
    varied = set(design.get("axes", {})) | set(design.get("ranges", {}))
    fixed = {k: v for k, v in {"L": 10, "N": 4, "k": 3, **(fixed or {})}.items()
             if k not in varied}
    raw = {
        "scan": {"simulator": simulator, "out": str(out), "name": "t", **(scan or {})},
        "fixed": fixed,
        "design": design,
        "executor": executor or {"kind": "serial"},
        "output": {"plots": False, "progress": False},
    }
    return config_from_dict(raw)


def ok_entries(store):
    return [e["key"] for e in store.manifest_entries() if e["status"] == "ok"]


def test_resume_after_failure_on_point_3_of_6(tmp_path, monkeypatch):
    cfg = toy_cfg(tmp_path / "s", simulator="test_scan_runner:flaky_simulate",
                  executor={"kind": "process", "workers": 2})
    monkeypatch.setenv(FAIL_ENV, str(T2_VALUES[2]))
    first = run_scan(cfg)
    assert (first.n_ok, first.n_failed, first.n_run) == (5, 1, 6)
    assert "injected failure at t2=0.2" in first.failures[0][2]
    rows = read_summary(tmp_path / "s" / "summary.csv")
    assert [r["status"] for r in rows] == ["ok", "ok", "failed", "ok", "ok", "ok"]
    assert "injected failure" in rows[2]["error"]

    monkeypatch.delenv(FAIL_ENV)
    second = run_scan(cfg)
    assert (second.n_ok, second.n_failed, second.n_previous, second.n_run) == (6, 0, 5, 1)
    store = ScanStore(tmp_path / "s")
    oks = ok_entries(store)
    assert len(oks) == 6 and len(set(oks)) == 6  # 6 unique finished entries, none duplicated
    assert len(store.manifest_entries()) == 7  # plus the one failure record
    assert len(list(store.points_dir.glob("*.npz"))) == 6
    rows = read_summary(tmp_path / "s" / "summary.csv")
    assert len(rows) == 6 and {r["status"] for r in rows} == {"ok"}

    third = run_scan(cfg)  # nothing left to do
    assert (third.n_run, third.n_previous) == (0, 6)
    assert len(store.manifest_entries()) == 7


def test_failed_points_reported_not_retried_when_asked(tmp_path, monkeypatch):
    cfg = toy_cfg(tmp_path / "s", simulator="test_scan_runner:flaky_simulate")
    monkeypatch.setenv(FAIL_ENV, "0.5")
    run_scan(cfg)
    monkeypatch.delenv(FAIL_ENV)
    res = run_scan(cfg.with_overrides(retry_failed=False))
    assert (res.n_run, res.n_failed) == (0, 1)
    assert run_scan(cfg).n_failed == 0


def test_corrupt_missing_and_orphaned_point_files(tmp_path):
    cfg = toy_cfg(tmp_path / "s")
    run_scan(cfg)
    store = ScanStore(tmp_path / "s")
    keys = [r["key"] for r in read_summary(store.summary_path)]
    reference = {r["key"]: r["obs.E0"] for r in read_summary(store.summary_path)}
    p0, p1, p2 = (store.point_path(k) for k in keys[:3])
    p0.write_bytes(p0.read_bytes()[:200])  # truncated
    p1.write_bytes(b"not a zip file")  # garbage
    p2.unlink()  # missing
    # drop the manifest line of point 4: the driver died between file and manifest writes
    lines = store.manifest_path.read_text().splitlines()
    kept = [ln for ln in lines if json.loads(ln)["key"] != keys[3]]
    store.manifest_path.write_text("\n".join(kept) + "\n")

    res = run_scan(cfg)
    assert (res.n_corrupt, res.n_adopted, res.n_run, res.n_ok) == (3, 1, 3, 6)
    for k in keys:
        store.load_point(k)  # all valid again
    again = {r["key"]: r["obs.E0"] for r in read_summary(store.summary_path)}
    assert again.keys() == reference.keys()
    for k, v in reference.items():  # recomputed points may get another warm start
        assert float(again[k]) == pytest.approx(float(v), rel=1e-10, abs=1e-12), k


def test_summary_and_scan_json_follow_the_store_contract(tmp_path):
    cfg = toy_cfg(tmp_path / "s", design={"sampler": "sobol", "n_points": 4,
                                          "ranges": {"t2": [0.0, 0.5], "V": [0.0, 1.0]}},
                  scan={"seed": 7})
    cfg = cfg.with_overrides(output_plots=True)
    res = run_scan(cfg)
    root = tmp_path / "s"
    header = (root / "summary.csv").read_text().splitlines()[0].split(",")
    assert header[:4] == ["key", "status", "wall_s", "backend"]
    params = [c for c in header if c.startswith("param.")]
    assert params == [f"param.{n}" for n in ("L", "N", "k", "W", "t2", "V", "h")]
    obs = [c for c in header if c.startswith("obs.")]
    assert obs[:3] == ["obs.E0", "obs.gap", "obs.U"]
    assert "obs.spectrum[2]" in obs and "obs.density[9]" in obs
    assert header.index(params[-1]) < header.index(obs[0])
    meta = json.loads((root / "scan.json").read_text())
    assert meta["params"] == ["L", "N", "k", "W", "t2", "V", "h"]
    assert meta["observables"][:3] == ["E0", "gap", "U"]
    assert meta["config"]["design"]["n_points"] == 4 and meta["seeds"] == {"design": 7}
    assert meta["version"] and meta["status"] == "complete"
    entry = ScanStore(root).manifest_entries()[0]
    for field in ("key", "params", "status", "path", "wall_s", "host", "versions"):
        assert field in entry
    assert sorted(p.name for p in res.plots) == ["E0.png", "U.png", "gap.png"]


def test_operator_reuse_and_warm_start_do_not_change_results(tmp_path):
    design = {"sampler": "sobol", "n_points": 6, "ranges": {"t2": [0.0, 0.4], "V": [0.0, 1.0]}}
    kw = {"design": design, "fixed": {"L": 12, "N": 5}, "scan": {"backend": "scipy"}}
    toy_simulate.clear_cache()
    b0 = toy_simulate.builds
    warm = run_scan(toy_cfg(tmp_path / "a", **kw))
    b1 = toy_simulate.builds
    cold = run_scan(toy_cfg(tmp_path / "b", **kw).with_overrides(reuse=False))
    b2 = toy_simulate.builds
    assert b1 - b0 == 1 and b2 - b1 == 6  # pieces built once vs once per point
    assert warm.warm_started == 5 and cold.warm_started == 0
    for rw, rc in zip(warm.rows, cold.rows, strict=True):
        assert rw["key"] == rc["key"]
        assert rw["obs.E0"] == pytest.approx(rc["obs.E0"], abs=1e-9)
        assert rw["obs.gap"] == pytest.approx(rc["obs.gap"], abs=1e-8)


def test_process_pool_matches_serial(tmp_path):
    design = {"axes": {"L": [10, 11]}, "sampler": "lhs", "n_points": 3,
              "ranges": {"V": [0.0, 2.0]}}
    a = run_scan(toy_cfg(tmp_path / "a", design=design))
    b = run_scan(toy_cfg(tmp_path / "b", design=design), executor=ProcessExecutor(2))
    assert [r["key"] for r in a.rows] == [r["key"] for r in b.rows]
    for ra, rb in zip(a.rows, b.rows, strict=True):
        assert np.allclose([ra["obs.E0"], ra["obs.U"]], [rb["obs.E0"], rb["obs.U"]],
                           rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"fixed": {"tt2": 0.1}}, r"unknown coupling name.*'tt2' in \[fixed\] "
                                  r"\(did you mean 't2'\?\)"),
        ({"design": {"axes": {"Vnn": [0.0, 1.0]}}}, r"'Vnn' in \[design\]"),
        ({"fixed": {"backend": "cupy"}}, r"set the backend with \[scan\] backend"),
        ({"fixed": {"L": 4, "N": 5}}, r"resolution L=4 is too small for the truncation N=5"),
        ({"design": {"axes": {"L": [5, 10]}}, "fixed": {"N": 4, "k": 4}},
         r"1 of 2 scan points are invalid: point 1 \(L=5\): resolution L=5, N=4 gives only "
         r"5 states, too few for k=4"),
        ({"fixed": {"L": 10.5}}, r"L must be an integer, got 10.5"),
    ],
)
def test_bad_inputs_are_rejected_before_anything_runs(tmp_path, kw, match):
    cfg = toy_cfg(tmp_path / "s", **kw)
    with pytest.raises(InvalidParameterError, match=match):
        run_scan(cfg)
    assert not (tmp_path / "s").exists()


def test_folder_from_a_different_config_is_refused_and_kept(tmp_path):
    run_scan(toy_cfg(tmp_path / "s"))
    store = ScanStore(tmp_path / "s")
    before = {p.name: p.read_bytes() for p in store.root.rglob("*") if p.is_file()}
    other = toy_cfg(tmp_path / "s", fixed={"W": 0.7})
    with pytest.raises(ConfigError, match=r"different scan configuration \(fixed\.W: added 0\.7"):
        run_scan(other)
    after = {p.name: p.read_bytes() for p in store.root.rglob("*") if p.is_file()}
    assert after == before
    # how the points run may change: executor, workers, plots, reuse
    res = run_scan(toy_cfg(tmp_path / "s").with_overrides(reuse=False, executor_workers=3))
    assert (res.n_run, res.n_previous) == (0, 6)


def test_keys_do_not_depend_on_int_or_float_spelling(tmp_path):
    a = run_scan(toy_cfg(tmp_path / "a", fixed={"L": 10, "W": 1}))
    b = run_scan(toy_cfg(tmp_path / "b", fixed={"L": 10.0, "W": 1.0}))
    assert [r["key"] for r in a.rows] == [r["key"] for r in b.rows]
    assert Counter(r["param.L"] for r in a.rows) == {10: 6}


def test_serial_executor_interface():
    ex = SerialExecutor()
    futs = [ex.submit(pow, 2, i) for i in range(4)]
    assert [f.result() for f in ex.as_completed(futs)] == [1, 2, 4, 8]
    assert list(ex.map(abs, [-1, 2])) == [1, 2]
    f = ex.submit(pow, 2, 2)
    ex.cancel([f])
    with pytest.raises(CancelledError):
        f.result()


def test_warm_states_never_cross_scans(tmp_path):
    # regression: a later scan in the same process (other varied inputs, same resolution)
    # must not receive the earlier scan's warm states
    fixed = {"L": 12, "N": 5}
    two = {"sampler": "sobol", "n_points": 4, "ranges": {"t2": [0.0, 0.4], "V": [0.0, 1.0]}}
    one = {"sampler": "sobol", "n_points": 4, "ranges": {"t2": [0.0, 0.4]}}
    a = run_scan(toy_cfg(tmp_path / "a", design=two, fixed=fixed, scan={"backend": "scipy"}))
    b = run_scan(toy_cfg(tmp_path / "b", design=one, fixed=fixed, scan={"backend": "scipy"}))
    assert (a.n_ok, a.warm_started, b.n_ok, b.warm_started) == (4, 3, 4, 3)


def test_dead_worker_stops_the_scan_without_fake_failures(tmp_path, monkeypatch):
    cfg = toy_cfg(tmp_path / "s", simulator="test_scan_runner:dying_simulate",
                  executor={"kind": "process", "workers": 2})
    monkeypatch.setenv(FAIL_ENV, "1")
    with pytest.raises(BackendUnavailableError, match="worker process .* died.*re-run to resume"):
        run_scan(cfg)
    store = ScanStore(tmp_path / "s")
    assert all(e["status"] == "ok" for e in store.manifest_entries())
    assert json.loads(store.meta_path.read_text())["status"] == "interrupted"
    monkeypatch.delenv(FAIL_ENV)
    res = run_scan(cfg)
    assert res.n_ok == 6 and res.n_run == 6 - res.n_previous
