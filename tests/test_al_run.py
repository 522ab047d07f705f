"""Active-learning runs of issue 7 on the analytic stand-in: rounds reduce the held-out error,
resume after an interruption, refusal of a changed configuration, simulator failures, bad
input, the streaming workflow, the CLI and the example script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lfqcd.errors import ConfigError, InvalidParameterError
from lfqcd.scan.executors import ProcessExecutor, SerialExecutor
from mlsurrogate.active.config import ALConfig, config_from_dict
from mlsurrogate.active.run import run_active_learning
from mlsurrogate.data import read_scan_store

ROOT = Path(__file__).resolve().parents[1]


def small(out: Path, **tables: dict[str, Any]) -> ALConfig:
    """A few-second stand-in run: 3-member ensemble, serial executor, tiny budgets."""
    raw: dict[str, Any] = {
        "al": {"name": "t", "simulator": "mlsurrogate.active.simulators.standin:simulate", "out": str(out),
               "seed": 2, "observables": ["E", "order", "xi"]},
        "box": {"x1": [0.0, 1.0], "x2": [0.0, 1.0]},
        "policy": {"initial": 12, "batch": 6, "rounds": 2, "pool_size": 256},
        "uncertainty": {"members": 3},
        "model": {"width": 32},
        "train": {"initial_epochs": 150, "round_epochs": 80, "patience": 40},
        "test": {"n_points": 64},
        "executor": {"kind": "serial"},
        "output": {"progress": False, "plots": False},
    }
    for name, values in tables.items():
        raw[name] = {**raw.get(name, {}), **values}
    return config_from_dict(raw)


def manifest(out: Path, store: str = "sims") -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / store / "manifest.jsonl").read_text().splitlines()]


def test_rounds_reduce_heldout_error(tmp_path: Path) -> None:
    cfg = small(tmp_path / "run", policy={"rounds": 3, "batch": 10})
    res = run_active_learning(cfg)
    errs = [r["test_nmse"] for r in res.rounds]
    assert [r["round"] for r in res.rounds] == [0, 1, 2, 3]
    assert res.n_sims == cfg.budget == 42 and res.n_failed == 0 and res.n_train == 42
    assert errs[-1] < 0.75 * errs[0]
    state = json.loads((tmp_path / "run" / "al_state.json").read_text())
    assert state["status"] == "complete" and state["versions"]["torch"]
    assert state["seeds"]["run"] == 2 and state["config"]["policy"]["batch"] == 10
    assert (tmp_path / "run" / "learning_curve.csv").read_text().count("\n") == 5
    # sims/ is a normal scan store of the training points only (issue 13: the held-out points
    # used to be in it, so `lfqcd train --data <run>/sims` trained on them)
    ds = read_scan_store(tmp_path / "run" / "sims", params=["x1", "x2"])
    assert len(ds) == 42
    assert {m["al_origin"] for m in manifest(tmp_path / "run")} == {"initial", "al"}
    test = read_scan_store(tmp_path / "run" / "test", params=["x1", "x2"])
    assert len(test) == 64 and {m["al_origin"] for m in manifest(tmp_path / "run", "test")} == {"test"}
    assert not {tuple(r) for r in test.X} & {tuple(r) for r in ds.X}


def test_sobol_continuation_baseline_extends_the_initial_design(tmp_path: Path) -> None:
    """``[policy] kind = "sobol"``: round 0 plus every batch are the first points of one
    scrambled Sobol' sequence (a space-filling baseline beside i.i.d. random batches)."""
    from mlsurrogate.active.policy import design_unit
    from mlsurrogate.active.simulators.client import CouplingBox
    from mlsurrogate.seeds import derive_seed

    cfg = small(tmp_path / "run", policy={"kind": "sobol", "initial": 8, "batch": 8, "rounds": 2},
                train={"initial_epochs": 20, "round_epochs": 10}, test={"n_points": 16})
    res = run_active_learning(cfg)
    assert res.n_sims == 24 and [r["round"] for r in res.rounds] == [0, 1, 2]
    entries = manifest(tmp_path / "run")
    assert [m["al_origin"] for m in entries] == ["initial"] * 8 + ["sobol"] * 16
    got = np.array([[m["params"]["x1"], m["params"]["x2"]] for m in entries])
    box = CouplingBox(cfg.box)
    want = box.from_unit(design_unit("sobol", 2, 24, derive_seed(cfg.seed, 0, 3)))
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


class NoSimulations(SerialExecutor):
    """An executor that fails the test if anything is submitted to it."""

    def submit(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a completed run simulated again")


class InterruptingExecutor(SerialExecutor):
    """Serial executor that raises KeyboardInterrupt after ``after`` results once armed."""

    def __init__(self) -> None:
        self.armed: int | None = None

    def as_completed(self, futures: Sequence[Any]) -> Iterator[Any]:
        for f in super().as_completed(futures):
            if self.armed is not None:
                if self.armed == 0:
                    raise KeyboardInterrupt("test")
                self.armed -= 1
            yield f


def test_resume_from_last_completed_round(tmp_path: Path) -> None:
    ref = run_active_learning(small(tmp_path / "ref", policy={"rounds": 3}))
    cfg = small(tmp_path / "run", policy={"rounds": 3})
    ex = InterruptingExecutor()

    def arm(k: int, _entry: dict) -> None:
        if k == 1:
            ex.armed = 4  # Ctrl-C after 4 of the 6 simulations of round 2

    with pytest.raises(KeyboardInterrupt):
        run_active_learning(cfg, executor=ex, on_round=arm)
    state = json.loads((tmp_path / "run" / "al_state.json").read_text())
    assert state["status"] == "interrupted"
    assert [r["round"] for r in state["rounds"]] == [0, 1]
    round2 = [m for m in manifest(tmp_path / "run") if m["al_round"] == 2]
    assert len(round2) == 4  # finished simulations of the interrupted round are kept

    res = run_active_learning(cfg)
    assert res.resumed_from == 1
    assert [r["round"] for r in res.rounds] == [0, 1, 2, 3]
    assert res.rounds[2]["n_reused"] == 4  # ... and not simulated again
    assert len([m for m in manifest(tmp_path / "run") if m["al_round"] == 2]) == 6
    # same seeds, same selections: identical to the uninterrupted run
    assert res.final["test_nmse"] == pytest.approx(ref.final["test_nmse"], rel=1e-9)
    before = {store: (tmp_path / "run" / store / "manifest.jsonl").read_bytes()
              for store in ("sims", "test")}
    again = run_active_learning(cfg, executor=NoSimulations())  # complete: nothing to do
    assert again.n_sims == res.n_sims and again.resumed_from == 3
    for store, text in before.items():  # nothing simulated or appended, held-out set included
        assert (tmp_path / "run" / store / "manifest.jsonl").read_bytes() == text


def test_changed_config_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    run_active_learning(small(out, policy={"rounds": 1}))
    before = (out / "al_state.json").read_text()
    with pytest.raises(ConfigError, match=r"different active-learning configuration.*"
                                          r"policy\.batch: 6 -> 7.*refusing to resume"):
        run_active_learning(small(out, policy={"rounds": 1, "batch": 7}))
    with pytest.raises(ConfigError, match="mode: 'sequential' -> 'streaming'"):
        run_active_learning(small(out, policy={"rounds": 1}, al={"mode": "streaming"}))
    assert (out / "al_state.json").read_text() == before  # nothing touched
    # where/how it runs may change: more workers, progress, another executor
    run_active_learning(small(out, policy={"rounds": 1}, executor={"kind": "process",
                                                                    "workers": 1}))
    # the CLI prints one line and exits with status 2
    from lfqcd.cli import main

    toml = tmp_path / "c.toml"
    toml.write_text(f'[al]\nsimulator = "mlsurrogate.active.simulators.standin:simulate"\nout = "{out}"\n'
                    f'seed = 9\n[box]\nx1 = [0.0, 1.0]\nx2 = [0.0, 1.0]\n')
    assert main(["al", str(toml), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "different active-learning configuration" in err[0]


def test_simulator_failures_recorded_and_skipped(tmp_path: Path) -> None:
    out = tmp_path / "run"
    cfg = small(out, fixed={"fail_radius": 0.45}, policy={"rounds": 2})
    res = run_active_learning(cfg)
    failed = [m for m in manifest(out) + manifest(out, "test") if m["status"] == "failed"]
    assert failed and all("did not converge" in m["error"] for m in failed)
    n_fail_train = sum(m["al_origin"] != "test" for m in failed)
    assert n_fail_train == sum(m["status"] == "failed" for m in manifest(out))
    assert res.n_failed == n_fail_train > 0
    assert res.n_sims == cfg.budget and res.n_train == res.n_sims - n_fail_train
    assert res.rounds[-1]["n_failed"] == n_fail_train
    for m in failed:  # every failure is where the stand-in fails, none is lost
        assert np.hypot(m["params"]["x1"] - 0.9, m["params"]["x2"] - 0.9) < 0.45


@pytest.mark.parametrize("tables, exc, match", [
    ({"box": {"x9": [0.0, 1.0]}}, InvalidParameterError, "unknown coupling name.*x9"),
    ({"box": {"work_s": [-0.2, 0.6]}}, InvalidParameterError,
     r"coupling box corner \(x1=0, x2=0, work_s=-0.2\) is not a valid point.*shrink the box"),
    ({"box": {"work_s": [-1.0, 0.5]}}, InvalidParameterError,
     "centre of the coupling box is not a valid simulator point.*work_s must be >= 0"),
    ({"al": {"observables": ["E", "nope"]}}, InvalidParameterError,
     "observable 'nope' is not an output"),
    ({"fixed": {"fail_radius": 10.0}}, InvalidParameterError, "no simulation succeeded"),
    ({"al": {"simulator": "lfqcd.simulator:toy_simulate", "observables": []},
      "box": {"L": [8.0, 12.0]}, "fixed": {}}, ConfigError, "integer"),
])
def test_bad_inputs_have_specific_messages(tmp_path: Path, tables: dict, exc: type,
                                           match: str) -> None:
    cfg_tables = {k: v for k, v in tables.items() if k != "box"}
    cfg = small(tmp_path / "run", test={"n_points": 0}, **cfg_tables)
    if "box" in tables:
        import dataclasses

        from mlsurrogate.active.config import BoxAxis

        extra = tuple(BoxAxis(n, lo, hi) for n, (lo, hi) in tables["box"].items())
        box = extra if "toy" in cfg.simulator else cfg.box + extra
        cfg = dataclasses.replace(cfg, box=box)
    with pytest.raises(exc, match=match):
        run_active_learning(cfg)


def test_foreign_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="not an active-learning run"):
        run_active_learning(small(tmp_path / "run"))


def test_heteroscedastic_option_runs(tmp_path: Path) -> None:
    res = run_active_learning(small(tmp_path / "run", uncertainty={"kind": "heteroscedastic"},
                                    policy={"rounds": 1}))
    assert res.final["test_nmse"] < 1.0 and (tmp_path / "run/rounds/round_001/model.pt").exists()


def test_streaming_consumes_all_results(tmp_path: Path) -> None:
    out = tmp_path / "stream"
    cfg = small(out, al={"mode": "streaming"}, fixed={"work_s": 0.02},
                policy={"rounds": 3, "batch": 5}, train={"chunk_epochs": 20},
                test={"n_points": 32})
    chunks: list[dict] = []
    from mlsurrogate.active.streaming import run_streaming

    with ProcessExecutor(2) as ex:
        res = run_streaming(cfg, executor=ex, on_chunk=chunks.append)
    assert res.mode == "streaming"
    assert res.n_sims == cfg.budget == 12 + 2 * 6 + 5  # oversampled by 1.2 except the last
    assert res.n_train == res.n_sims and res.n_failed == 0
    last = res.rounds[-1]
    assert last["final"] and last["in_flight"] == 0 and last["backlog"] == 0
    assert [r["round"] for r in res.rounds] == [0, 1, 2, 3]
    entries = [m for m in manifest(out) if m["al_origin"] != "test"]
    assert len(entries) == len({m["key"] for m in entries}) == res.n_sims  # each once
    assert all(m["status"] == "ok" for m in entries)
    assert chunks and np.isfinite(last["test_nmse"]) and last["test_nmse"] < 1.0
    assert all(c["n_sims"] <= res.n_sims for c in chunks)


def test_cli_dry_run_and_light_import(tmp_path: Path) -> None:
    code = "import sys, mlsurrogate.active.cli; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
    out = subprocess.run(
        [sys.executable, "-m", "lfqcd.cli", "al", str(ROOT / "runs" / "al_toy.toml"),
         "--dry-run", "--out", str(tmp_path / "x"), "--streaming"],
        capture_output=True, text=True, cwd=ROOT, check=True,
    ).stdout
    assert "streaming" in out and "box: x1 in [0, 1]" in out and "new folder" in out


def test_example_script(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "active_learning.py"), "--out",
         str(tmp_path / "ex")], capture_output=True, text=True, cwd=ROOT, timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},  # this checkout, not an installed copy
    )
    assert proc.returncode == 0, proc.stderr
    assert "held-out normalised MSE" in proc.stdout and "exact" in proc.stdout


def test_streaming_resume_keeps_the_budget(tmp_path: Path) -> None:
    from mlsurrogate.active.streaming import run_streaming

    cfg = small(tmp_path / "s", al={"mode": "streaming"}, fixed={"work_s": 0.01},
                policy={"rounds": 3, "batch": 5}, test={"n_points": 0})

    def stop(k: int, _entry: dict) -> None:
        if k == 1:
            raise KeyboardInterrupt("test")

    with ProcessExecutor(2) as ex:
        with pytest.raises(KeyboardInterrupt):
            run_streaming(cfg, executor=ex, on_round=stop)
        res = run_streaming(cfg, executor=ex)
    assert res.resumed_from == 1 and [r["round"] for r in res.rounds] == [0, 1, 2, 3]
    assert res.n_sims == cfg.budget == 12 + 2 * 6 + 5  # nothing lost, nothing drawn twice
    keys = [m["key"] for m in manifest(tmp_path / "s")]
    assert len(keys) == len(set(keys)) == res.n_sims
