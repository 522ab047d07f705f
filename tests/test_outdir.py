"""The output-folder contract, progress lines, simulator opt-in and the Lambda-bar bracket test
(issue 14), as unit tests, plus the good path of every command through the contract."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import pytest

from lfqcd import outdir
from lfqcd.cli import main as lfqcd_main
from lfqcd.errors import ConfigError, OutputFolderError
from lfqcd.progress import ProgressLines, format_duration
from lfqcd.signals import process_alive
from lfqcd.simulator import ENV_ALLOW_IMPORT, check_simulator_allowed

# ------------------------------------------------------------------------ output folders


def test_new_folder_gets_marker_and_same_config_resumes(tmp_path):
    p = tmp_path / "a" / "b"
    od = outdir.prepare(p, "run", "h1")
    assert not od.resume and outdir.read_marker(p)["command"] == "run"
    (p / "results.json").write_text("{}")
    marker = (p / outdir.MARKER).read_bytes()
    assert outdir.prepare(p, "run", "h1").resume
    assert (p / outdir.MARKER).read_bytes() == marker  # a resumed folder is not touched


def test_other_config_and_other_command_are_refused_then_overwritten(tmp_path):
    p = tmp_path / "o"
    outdir.prepare(p, "run", "h1")
    (p / "results.json").write_text("{}")
    with pytest.raises(OutputFolderError, match="another configuration"):
        outdir.prepare(p, "run", "h2")
    with pytest.raises(OutputFolderError, match="heavy-meson run.*another command's results"):
        outdir.prepare(p, "train", "h1")
    od = outdir.prepare(p, "train", "h1", overwrite=True)
    assert not od.resume and not (p / "results.json").exists()
    assert outdir.read_marker(p)["command"] == "train"


def test_folder_of_an_older_version_is_recognised_by_its_files(tmp_path):
    (tmp_path / "scan.json").write_text("{}")
    assert outdir.owner_of(tmp_path) == "scan"
    assert outdir.prepare(tmp_path, "scan", None).resume  # scans compare configs themselves
    with pytest.raises(OutputFolderError, match="scan store"):
        outdir.prepare(tmp_path, "run", "h")


def test_empty_existing_folder_is_fine(tmp_path):
    assert not outdir.prepare(tmp_path, "calibrate", "h").resume


def test_config_hash_ignores_key_order_and_nan_spelling():
    assert outdir.config_hash({"a": 1, "b": [1.0, math.nan]}) == \
        outdir.config_hash({"b": [1.0, None], "a": 1})
    assert outdir.config_hash({"a": 1}) != outdir.config_hash({"a": 2})


# ----------------------------------------------------------------------------- progress


def test_progress_lines_are_rate_limited_and_end_with_a_final_line():
    now = [0.0]
    buf = io.StringIO()
    pl = ProgressLines(100, "scan x", stream=buf, min_interval_s=10.0, clock=lambda: now[0])
    for _ in range(100):
        now[0] += 0.5  # 2 points/s: 50 s in all
        pl.update(1, failed=int(_ == 3))
    lines = buf.getvalue().splitlines()
    assert 5 <= len(lines) <= 7  # first, every 10 s, last
    assert lines[-1].startswith("scan x: 100/100 points (100%), 2 points/s, ETA 0s, 1 failed")
    assert "ETA 45s" in lines[1] or "ETA 4" in lines[1]


def test_format_duration():
    assert format_duration(95) == "1m35s" and format_duration(7300) == "2h01m"
    assert format_duration(float("nan")) == "?"


def test_scan_prints_plain_progress_lines_when_not_a_terminal(tmp_path, capsys):
    cfg = tmp_path / "s.toml"
    cfg.write_text('[scan]\nname = "lines"\nsimulator = "lfqcd.simulator:toy_simulate"\n'
                   '[fixed]\nL = 8\nN = 3\nk = 3\n[design]\npoints = [{t2 = 0.0}, {t2 = 0.1}]\n'
                   '[executor]\nkind = "serial"\n[output]\nplots = false\n')
    assert lfqcd_main(["scan", str(cfg), "--out", str(tmp_path / "o")]) == 0
    err = capsys.readouterr().err
    assert "scan lines: 2/2 points (100%)" in err and "\r" not in err


# ----------------------------------------------------------------- simulators, processes


def test_only_registered_simulators_without_opt_in(monkeypatch):
    monkeypatch.delenv(ENV_ALLOW_IMPORT, raising=False)
    check_simulator_allowed("lfqcd.simulator:toy_simulate")
    with pytest.raises(ConfigError, match="os:system.*--allow-simulator-import"):
        check_simulator_allowed("os:system")
    check_simulator_allowed("os:system", allow_import=True)
    monkeypatch.setenv(ENV_ALLOW_IMPORT, "1")
    check_simulator_allowed("os:system")


def test_process_alive():
    import os
    import subprocess
    import sys

    assert process_alive(os.getpid())
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    assert not process_alive(p.pid)


# ------------------------------------------------------------------------- bracket test


def test_lambda_bar_limit_bounds_and_is_approached():
    """Lambda-bar(m0_sq) increases towards the one-link threshold and never passes it."""
    from heavy_meson.hamiltonian import HeavyLightModel, Resolution
    from heavy_meson.reach import lambda_bar_limit
    from lfqcd.couplings import get_preset

    model = HeavyLightModel(Resolution(0.5, 6.0))
    c = get_preset("illustrative").couplings
    sup = lambda_bar_limit(model, c)
    values = [model.solve(c, 1, m0).lambda_bar[0] for m0 in (1.0, 100.0, 1e4)]
    assert values[0] < values[1] < values[2] < sup
    assert sup - values[2] < 0.05 * (sup - values[0])


def test_unreachable_target_fails_fast_with_the_limit():
    from heavy_meson.hamiltonian import HeavyLightModel, Resolution
    from heavy_meson.renormalization import CounterTermError, RenormalizationCondition, renormalized_solve
    from lfqcd.couplings import get_preset

    model = HeavyLightModel(Resolution(0.5, 6.0))
    c = get_preset("illustrative").couplings
    calls = []
    solve = model.solve
    model.solve = lambda *a, **k: calls.append(1) or solve(*a, **k)
    with pytest.raises(CounterTermError, match="out of reach.*one-link threshold"):
        renormalized_solve(model, c, RenormalizationCondition(target=50.0))
    assert len(calls) <= 6  # before: Newton crept on for ~17 solves up to m0_sq ~ 1e6


# --------------------------------------------------------------- good path through the CLI


def test_al_cli_runs_in_a_new_folder_and_resumes(tmp_path, capsys):
    out = tmp_path / "al"
    cfg = tmp_path / "al.toml"
    cfg.write_text(f'[al]\nname = "t"\nsimulator = "mlsurrogate.al_standin:simulate"\n'
                   f'out = "{out}"\nseed = 2\n[box]\nx1 = [0.0, 1.0]\nx2 = [0.0, 1.0]\n'
                   "[policy]\ninitial = 6\nbatch = 2\nrounds = 1\npool_size = 64\n"
                   "[uncertainty]\nmembers = 2\n[model]\nwidth = 8\n"
                   "[train]\ninitial_epochs = 20\nround_epochs = 10\nchunk_epochs = 10\n"
                   '[test]\nn_points = 0\n[executor]\nkind = "serial"\n'
                   "[output]\nprogress = false\nplots = false\n")
    pytest.importorskip("torch")
    assert lfqcd_main(["al", str(cfg), "--quiet"]) == 0
    state = json.loads((out / "al_state.json").read_text())
    assert lfqcd_main(["al", str(cfg), "--quiet"]) == 0  # complete: resumes, nothing to do
    assert json.loads((out / "al_state.json").read_text())["rounds"] == state["rounds"]
    assert outdir.read_marker(out)["command"] == "al"
    capsys.readouterr()


def test_calibrate_refuses_an_unwritable_folder_before_the_fit(tmp_path, capsys):
    cfg = Path(__file__).resolve().parents[1] / "runs" / "calibrate.toml"
    assert lfqcd_main(["calibrate", str(cfg), "--out", "/proc/lfqcd_cal"]) == 2
    assert "cannot be created or written" in capsys.readouterr().err


def test_scan_overwrite_replaces_a_store_of_another_configuration(tmp_path, capsys):
    def cfg(t2: float) -> Path:
        p = tmp_path / f"s{t2}.toml"
        p.write_text('[scan]\nname = "ow"\nsimulator = "lfqcd.simulator:toy_simulate"\n'
                     f'[fixed]\nL = 8\nN = 3\nk = 3\n[design]\npoints = [{{t2 = {t2}}}]\n'
                     '[executor]\nkind = "serial"\n[output]\nplots = false\nprogress = false\n')
        return p

    out = tmp_path / "o"
    assert lfqcd_main(["scan", str(cfg(0.1)), "--out", str(out)]) == 0
    assert lfqcd_main(["scan", str(cfg(0.2)), "--out", str(out)]) == 2
    assert "different scan configuration" in capsys.readouterr().err
    assert lfqcd_main(["scan", str(cfg(0.2)), "--out", str(out), "--overwrite"]) == 0
    meta = json.loads((out / "scan.json").read_text())
    assert meta["science"]["design"]["points"] == [{"t2": 0.2}]
    assert len((out / "manifest.jsonl").read_text().splitlines()) == 1


def test_config_folder_instead_of_file(tmp_path, capsys):
    assert lfqcd_main(["run", str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err


def test_results_of_an_older_version_without_marker_are_not_mixed(tmp_path):
    (tmp_path / "results.json").write_text("{}")
    with pytest.raises(OutputFolderError, match="without a recorded configuration"):
        outdir.prepare(tmp_path, "run", "h")
    assert outdir.prepare(tmp_path, "run", "h", overwrite=True).path == tmp_path
    assert not (tmp_path / "results.json").exists()
