"""``lfqcd scan`` from the command line (issue 5): errors, dry run, kill -9 and Ctrl-C resume."""

from __future__ import annotations

import json
import os
import runpy
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lfqcd.cli import main as lfqcd_main
from lfqcd.scan.store import ScanStore, read_summary
from lfqcd.simulator import toy_simulate

ROOT = Path(__file__).resolve().parents[1]


def slow_simulate(point, *, warm_start=None):
    """The toy simulator, slowed down so that a scan can be interrupted half-way."""
    time.sleep(0.25)
    return toy_simulate(point, warm_start=warm_start)


slow_simulate.parameter_defaults = toy_simulate.parameter_defaults


def write_cfg(path: Path, *, simulator="lfqcd.simulator:toy_simulate", n_points=4,
              fixed="N = 4\nk = 3", workers=2) -> Path:
    path.write_text(f"""
[scan]
name = "cli"
simulator = "{simulator}"

[fixed]
{fixed}

[design]
sampler = "sobol"
n_points = {n_points}
[design.ranges]
t2 = [0.0, 0.5]
[design.axes]
L = [9]

[executor]
kind = "process"
workers = {workers}

[output]
plots = false
""")
    return path


def test_cli_runs_then_resumes(tmp_path, capsys):
    cfg = write_cfg(tmp_path / "c.toml")
    out = tmp_path / "out"
    assert lfqcd_main(["scan", str(cfg), "--out", str(out), "--no-progress"]) == 0
    first = capsys.readouterr().out
    assert "ok 4, failed 0, pending 0" in first
    assert lfqcd_main(["scan", str(cfg), "--out", str(out), "--executor", "serial"]) == 0
    assert "nothing to compute" in capsys.readouterr().out
    assert len(read_summary(out / "summary.csv")) == 4


@pytest.mark.parametrize(
    ("fixed", "message"),
    [
        ("N = 4\nmu = 1.0", "unknown coupling name(s) for simulator lfqcd.simulator:toy_simulate"
                            ": 'mu' in [fixed]"),
        ("N = 12\nk = 3", "resolution L=9 is too small for the truncation N=12"),
    ],
)
def test_cli_bad_input_is_one_clear_line(tmp_path, capsys, fixed, message):
    cfg = write_cfg(tmp_path / "c.toml", fixed=fixed)
    assert lfqcd_main(["scan", str(cfg), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("lfqcd scan: error: ") and message in err
    assert len(err.splitlines()) == 1
    assert lfqcd_main(["scan", str(tmp_path / "missing.toml")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_cli_dry_run_writes_nothing(tmp_path, capsys):
    cfg = write_cfg(tmp_path / "c.toml", n_points=8)
    assert lfqcd_main(["scan", str(cfg), "--out", str(tmp_path / "o"), "--dry-run"]) == 0
    text = capsys.readouterr().out
    assert "8 points" in text and "varied: L, t2" in text
    assert not (tmp_path / "o").exists()


def _start(cfg: Path, out: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "tests"), str(ROOT)]),
           "CI": "true"}
    return subprocess.Popen(
        [sys.executable, "-m", "lfqcd.cli", "scan", str(cfg), "--out", str(out),
         "--allow-simulator-import"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        start_new_session=True,  # its own process group: we signal the driver and its workers
        # a terminal's Ctrl-C: a test run started in the background of a non-interactive shell
        # (`cmd &`) has SIGINT ignored, which the child would inherit and keep
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def _wait_for_finished(out: Path, n: int, proc: subprocess.Popen, limit: float = 60) -> None:
    manifest = out / "manifest.jsonl"
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit:
        if manifest.exists() and len(manifest.read_text().splitlines()) >= n:
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    raise AssertionError(f"no {n} finished points after {limit} s")


@pytest.mark.timeout(120)
def test_kill_minus_9_then_resume(tmp_path):
    cfg = write_cfg(tmp_path / "c.toml", simulator="test_scan_cli:slow_simulate", n_points=12)
    out = tmp_path / "out"
    proc = _start(cfg, out)
    _wait_for_finished(out, 3, proc)
    os.killpg(proc.pid, signal.SIGKILL)  # driver and workers die at once (a Slurm time-out)
    proc.wait(timeout=30)
    store = ScanStore(out)
    finished_before = {e["key"] for e in store.manifest_entries() if e["status"] == "ok"}
    assert 3 <= len(finished_before) < 12

    from lfqcd.scan import load_config, run_scan

    res = run_scan(load_config(cfg).with_overrides(out=str(out), executor_kind="serial"))
    # a point whose file was written just before the kill but whose manifest line was not is
    # adopted (validated file), so it counts as finished too
    assert res.n_previous == len(finished_before) + res.n_adopted and res.n_ok == 12
    assert res.n_adopted <= 2
    oks = [e["key"] for e in store.manifest_entries() if e["status"] == "ok"]
    assert len(oks) == len(set(oks)) == 12  # nothing duplicated
    assert len(read_summary(out / "summary.csv")) == 12


@pytest.mark.timeout(120)
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_ctrl_c_keeps_finished_points_and_resumes(tmp_path, sig):
    cfg = write_cfg(tmp_path / "c.toml", simulator="test_scan_cli:slow_simulate", n_points=12)
    out = tmp_path / "out"
    proc = _start(cfg, out)
    _wait_for_finished(out, 2, proc)
    # Ctrl-C in a terminal (or Slurm's SIGTERM at the time limit) signals the whole group
    os.killpg(proc.pid, sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted; finished results are kept" in err
    meta = json.loads((out / "scan.json").read_text())
    assert meta["status"] == "interrupted"
    rows = read_summary(out / "summary.csv")
    assert 2 <= len(rows) < 12 and {r["status"] for r in rows} == {"ok"}  # no fake failures

    proc = _start(cfg, out)
    stdout, err = proc.communicate(timeout=90)
    assert proc.returncode == 0, err
    assert f"finished in earlier runs: {len(rows)}" in stdout
    oks = [e["key"] for e in ScanStore(out).manifest_entries() if e["status"] == "ok"]
    assert len(oks) == len(set(oks)) == 12


def test_example_script_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["scan_example.py", "--out", str(tmp_path / "ex")])
    with pytest.raises(SystemExit) as exc:
        runpy.run_path(str(ROOT / "examples" / "scan_example.py"), run_name="__main__")
    assert exc.value.code == 0
    assert "lowest E0" in capsys.readouterr().out
    assert (tmp_path / "ex" / "plots" / "E0.png").exists()


@pytest.mark.parametrize("name", ["scan_toy.toml", "scan_small.toml"])
def test_shipped_configs_resolve(tmp_path, capsys, name):
    if name == "scan_small.toml":
        pytest.importorskip("heavy_meson.simulator")
    cfg = ROOT / "runs" / name
    assert lfqcd_main(["scan", str(cfg), "--out", str(tmp_path / "o"), "--dry-run"]) == 0
    assert "64 points" in capsys.readouterr().out


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_heavy_meson_scan_smoke(tmp_path):
    pytest.importorskip("heavy_meson.simulator")
    from lfqcd.scan import load_config, run_scan

    cfg = load_config(ROOT / "runs" / "scan_small.toml")
    cfg = cfg.with_overrides(out=str(tmp_path / "o"), executor_kind="serial",
                             output_plots=False, output_progress=False)
    import dataclasses

    cfg = dataclasses.replace(cfg, design=dataclasses.replace(cfg.design, n_points=4))
    res = run_scan(cfg)
    assert res.n_ok == 4 and res.warm_started == 3
    assert all(abs(r["obs.lambda_bar"] - 0.8) < 1e-6 for r in res.rows)
    assert "obs.xi[10]" in res.rows[0]
