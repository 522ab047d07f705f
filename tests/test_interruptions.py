"""Finished work survives interruption (issue 14): ``lfqcd run`` resumes from its per-resolution
checkpoints, and pool workers exit by themselves when their driver is killed with ``kill -9``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from heavy_meson.config import config_from_dict
from heavy_meson.run import run

ROOT = Path(__file__).resolve().parents[1]

TINY = {
    "run": {"name": "tiny", "preset": "illustrative", "n_states": 2, "excited_jz": [1.5]},
    "resolutions": {"ladder": [[0.5, 6.0], [0.4, 6.0], [0.5, 8.0]]},
    "observables": {"n_w": 11},
}

TINY_TOML = """
[run]
name = "tiny"
preset = "illustrative"
n_states = 2
excited_jz = [1.5]
[resolutions]
ladder = [[0.5, 6.0], [0.4, 6.0], [0.25, 10.0]]
[observables]
n_w = 11
"""


def comparable(results_json: Path) -> dict:
    """results.json without what legitimately differs between two runs (timings, host)."""
    d = json.loads(results_json.read_text())
    for r in d["resolutions"]:
        r.pop("wall_s")
    d["failed_resolutions"] = [{k: v for k, v in r.items() if k != "wall_s"}
                               for r in d["failed_resolutions"]]
    return {k: d[k] for k in ("config", "resolutions", "observables", "physical_units", "tables",
                              "failed_resolutions")}


class StopAfter:
    """Progress callback that interrupts the run after ``n`` solved resolutions (like Ctrl-C)."""

    def __init__(self, n: int | None = None) -> None:
        self.n = n
        self.lines: list[str] = []

    def __call__(self, line: str) -> None:
        self.lines.append(line)
        solved = [x for x in self.lines if x.startswith("h=") and "reused" not in x]
        if self.n is not None and len(solved) >= self.n:
            raise KeyboardInterrupt


def test_run_interrupted_after_second_resolution_resumes_and_equals_uninterrupted(tmp_path):
    cfg = config_from_dict(TINY)
    out = tmp_path / "interrupted"
    with pytest.raises(KeyboardInterrupt):
        run(cfg, out, progress=StopAfter(2))
    assert len(list((out / "checkpoints").glob("*.json"))) == 2
    assert not (out / "results.json").exists()

    resumed = StopAfter()
    run(cfg, out, progress=resumed)
    reused = [x for x in resumed.lines if "reused from" in x]
    assert len(reused) == 2, resumed.lines
    assert len(list((out / "checkpoints").glob("*.json"))) == 3

    reference = tmp_path / "reference"
    run(cfg, reference, progress=None)
    assert comparable(out / "results.json") == comparable(reference / "results.json")


def test_checkpoint_of_another_config_is_not_reused(tmp_path):
    cfg = config_from_dict(TINY)
    out = tmp_path / "o"
    with pytest.raises(KeyboardInterrupt):
        run(cfg, out, progress=StopAfter(1))
    other = config_from_dict({**TINY, "renormalization": {"target_GeV": 0.9 * 0.35}})  # 1/a = 0.35 GeV
    lines = StopAfter()
    run(other, out, progress=lines)
    assert not [x for x in lines.lines if "reused" in x]
    res = json.loads((out / "results.json").read_text())
    assert res["observables"]["lambda_bar"]["per_resolution"][0] == pytest.approx(0.9, abs=1e-6)


def _cli(args: list[str], **kw) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "tests"), str(ROOT)]),
           "PYTHONUNBUFFERED": "1"}
    # SIGINT back to the default: a test run started in the background of a non-interactive
    # shell (`cmd &`) has it ignored, and the child would inherit that
    return subprocess.Popen([sys.executable, "-m", "lfqcd.cli", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
                            **kw)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_kill_9_after_second_resolution_then_resume_equals_uninterrupted(tmp_path):
    """The real thing: ``lfqcd run`` killed with SIGKILL after its second resolution."""
    cfg = tmp_path / "run.toml"
    cfg.write_text(TINY_TOML)
    out = tmp_path / "out"
    proc = _cli(["run", str(cfg), "--out", str(out)])
    ckpt = out / "checkpoints"
    t0 = time.monotonic()
    while len(list(ckpt.glob("*.json"))) < 2:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() - t0 < 300
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert len(list(ckpt.glob("*.json"))) == 2 and not (out / "results.json").exists()

    proc = _cli(["run", str(cfg), "--out", str(out)])
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr
    assert stdout.count("reused from") == 2, stdout

    ref = tmp_path / "ref"
    proc = _cli(["run", str(cfg), "--out", str(ref), "--quiet"])
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr
    assert comparable(out / "results.json") == comparable(ref / "results.json")


SCAN_TOML = """
[scan]
name = "orphans"
simulator = "test_scan_cli:slow_simulate"
[fixed]
L = 8
N = 3
k = 3
[design]
sampler = "sobol"
n_points = 64
[design.ranges]
t2 = [0.0, 0.5]
[executor]
kind = "process"
workers = 2
[output]
plots = false
"""


def _children(pid: int) -> list[int]:
    kids: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        kids += [int(x) for x in text]
    return kids


def _gone(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc")
@pytest.mark.timeout(120)
def test_pool_workers_exit_within_10_s_of_driver_kill_9(tmp_path):
    cfg = tmp_path / "scan.toml"
    cfg.write_text(SCAN_TOML)
    out = tmp_path / "out"
    proc = _cli(["scan", str(cfg), "--out", str(out), "--allow-simulator-import"])
    manifest = out / "manifest.jsonl"
    t0 = time.monotonic()
    while not (manifest.exists() and manifest.read_text().count("\n") >= 2):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() - t0 < 90
        time.sleep(0.05)
    workers = [p for p in _children(proc.pid) if "python" in Path(f"/proc/{p}/cmdline")
               .read_bytes().decode(errors="replace")]
    assert len(workers) >= 2, workers
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    t_kill = time.monotonic()
    while not all(_gone(p) for p in workers) and time.monotonic() - t_kill < 10:
        time.sleep(0.1)
    alive = [p for p in workers if not _gone(p)]
    for p in alive:  # do not leave them behind if the test fails
        os.kill(p, signal.SIGKILL)
    assert not alive, f"workers {alive} still running 10 s after the driver was killed"


TRAIN_TOML = """
[data]
source = "synthetic"
[data.synthetic]
n_samples = 256
d_in = 3
n_scalars = 2
curve_points = 4
teacher_width = 8
[model]
width = 8
depth = 1
[parallel]
mode = "none"
nproc = 1
[train]
batch_size = 32
max_epochs = 100000
patience = 0
[output]
dir = "OUT"
"""


def _wait_for_evaluations(proc: subprocess.Popen, n: int) -> None:
    """Read the training's stdout until ``n`` evaluation lines have appeared."""
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if sum("iter" in x for x in lines) >= n:
            return


def _wait_for_resume(proc: subprocess.Popen) -> None:
    for line in proc.stdout:
        if "resuming from the best checkpoint" in line:
            return
    pytest.fail(f"no resume message: {proc.communicate()}")


@pytest.mark.slow  # three torch start-ups and trainings: ~65 s on the 2-core VM
@pytest.mark.timeout(300)
def test_train_ctrl_c_saves_best_model_and_rerun_resumes(tmp_path):
    pytest.importorskip("torch")
    out = tmp_path / "train"
    cfg = tmp_path / "train.toml"
    cfg.write_text(TRAIN_TOML.replace("OUT", str(out)))
    proc = _cli(["train", str(cfg)])
    _wait_for_evaluations(proc, 3)
    os.kill(proc.pid, signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "re-run the same command to resume" in stderr
    record = json.loads((out / "record.json").read_text())
    assert record["fit"]["stopped"] == "interrupted" and (out / "model.pt").is_file()
    first_best = record["fit"]["best_val_loss"]

    proc = _cli(["train", str(cfg), "--epochs", "2"])  # another configuration: refused
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 2 and "another configuration" in stderr
    proc = _cli(["train", str(cfg)])
    _wait_for_resume(proc)
    _wait_for_evaluations(proc, 1)
    os.kill(proc.pid, signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    record = json.loads((out / "record.json").read_text())
    assert record["fit"]["best_val_loss"] <= first_best * 1.5  # started from the saved weights


@pytest.mark.slow  # torchrun with two gloo ranks: start-up dominates
@pytest.mark.distributed
@pytest.mark.timeout(400)
def test_train_two_ranks_ctrl_c_saves_best_model_and_kill_leaves_no_rank(tmp_path):
    """Under torchrun a Ctrl-C reaches only the driver (the ranks run in their own session): it
    writes the stop file, the ranks agree on an evaluation step, save the gathered best model
    and exit; the re-run resumes. A driver killed with -9 leaves no rank running."""
    pytest.importorskip("torch")
    out = tmp_path / "train"
    cfg = tmp_path / "train.toml"
    text = (TRAIN_TOML.replace("OUT", str(out)).replace('mode = "none"', 'mode = "phantom"')
            .replace("nproc = 1", "nproc = 2").replace("width = 8", "width = 64"))
    cfg.write_text(text)
    proc = _cli(["train", str(cfg)])
    _wait_for_evaluations(proc, 2)
    os.killpg(proc.pid, signal.SIGINT)  # the terminal's Ctrl-C: the driver's process group
    stdout, stderr = proc.communicate(timeout=180)
    assert proc.returncode == 130, stderr
    record = json.loads((out / "record.json").read_text())
    assert record["fit"]["stopped"] == "interrupted" and (out / "model.pt").is_file()
    assert not (out / "STOP").exists()

    proc = _cli(["train", str(cfg)])
    _wait_for_resume(proc)
    _wait_for_evaluations(proc, 1)
    os.kill(proc.pid, signal.SIGKILL)  # the driver alone, kill -9
    proc.wait(timeout=30)
    t0 = time.monotonic()
    while time.monotonic() - t0 < 20:
        ranks = subprocess.run(["pgrep", "-f", f"mlsurrogate.train.worker --config {out}"],
                               capture_output=True, text=True).stdout.split()
        if not ranks:
            break
        time.sleep(0.5)
    assert not ranks, f"ranks {ranks} still running 20 s after the driver was killed"
