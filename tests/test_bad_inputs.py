"""The bad-input catalogue (issue 14): every bad configuration ends in one clear line, exit 2.

Each case calls the CLI's ``main(argv)`` in-process and asserts

* exit status 2,
* a message on stderr that names the offending key (or flag / file),
* no traceback on stderr,
* an existing results folder of the same command, passed as ``--out``, is byte-for-byte
  unchanged (hash of every file name and content before and after).

A few cases are repeated as real subprocesses (``python -m lfqcd.cli``) for the no-traceback
guarantee of the whole interpreter, import time included.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lfqcd import outdir
from lfqcd.cli import main as lfqcd_main
from lfqcd.eigen import available_backends

ROOT = Path(__file__).resolve().parents[1]

# ----------------------------------------------------------------------------------- helpers


def tree_hash(path: Path) -> str:
    """Hash of every file name and content under ``path``."""
    h = hashlib.sha256()
    for p in sorted(path.rglob("*")):
        h.update(str(p.relative_to(path)).encode())
        if p.is_file():
            h.update(p.read_bytes())
    return h.hexdigest()


def run_bad(argv: list[str], key: str, existing: Path | None, capsys) -> str:
    before = tree_hash(existing) if existing is not None else None
    rc = lfqcd_main(argv)
    err = capsys.readouterr().err
    assert rc == 2, err
    assert "Traceback" not in err
    assert key.lower() in err.lower(), f"message does not name {key!r}: {err}"
    assert len(err.strip().splitlines()) == 1, err
    if existing is not None:
        assert tree_hash(existing) == before, "the existing results folder was changed"
    return err


def fake_results(path: Path, command: str, files: dict[str, str]) -> Path:
    """A results folder as ``command`` leaves it (marker + result files)."""
    outdir.prepare(path, command, "0123456789abcdef")
    for name, text in files.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(text)
    return path


# --------------------------------------------------------------------------------- lfqcd run

RUN_BASE = {
    "run": 'name = "tiny"\npreset = "illustrative"\nn_states = 2\nexcited_jz = [1.5]',
    "couplings": "",
    "units": "",
    "renormalization": "",
    "resolutions": "ladder = [[0.5, 6.0], [0.4, 6.0]]",
    "observables": "n_w = 11",
}


def run_toml(**sections: str) -> str:
    parts = []
    for name, body in {**RUN_BASE, **sections}.items():
        if body is not None:
            parts.append(f"[{name}]\n{body}\n")
    return "\n".join(parts)


def with_run(line: str) -> str:
    return RUN_BASE["run"] + "\n" + line


NO_GPU = not available_backends()["cupy"]

RUN_CASES = [
    ("n_states_fraction", run_toml(run='name = "t"\nn_states = 3.5'), "n_states"),
    ("n_states_zero", run_toml(run='name = "t"\nn_states = 0'), "n_states"),
    ("n_states_string", run_toml(run='name = "t"\nn_states = "3"'), "n_states"),
    ("n_w_negative", run_toml(observables="n_w = -5"), "n_w"),
    ("n_w_fraction", run_toml(observables="n_w = 11.5"), "n_w"),
    ("w_max_below_one", run_toml(observables="w_max = 0.5"), "w_max"),
    ("backend_unknown", run_toml(run=with_run('backend = "magma"')), "backend"),
    pytest.param(run_toml(run=with_run('backend = "cupy"')), "backend",
                 id="backend_cupy_without_gpu",
                 marks=pytest.mark.skipif(not NO_GPU, reason="a GPU is usable")),
    ("seed_negative", run_toml(run=with_run("seed = -1")), "seed"),
    ("memory_limit_zero", run_toml(run=with_run("memory_limit_gb = 0")), "memory_limit_gb"),
    ("memory_limit_too_small", run_toml(run=with_run("memory_limit_gb = 1e-7")),
     "memory_limit_gb"),
    ("excited_jz_integer", run_toml(run='name = "t"\nexcited_jz = [1.0]'), "excited_jz"),
    ("excited_jz_not_list", run_toml(run='name = "t"\nexcited_jz = "up"'), "excited_jz"),
    ("name_not_string", run_toml(run="name = 3"), "name"),
    ("preset_unknown", run_toml(run='preset = "nope"'), "preset"),
    ("unknown_key", run_toml(run=with_run("n_state = 2")), "n_state"),
    ("unknown_section", run_toml() + "\n[runn]\nx = 1\n", "runn"),
    ("target_nan", run_toml(renormalization="target_GeV = nan"), "target_GeV"),
    ("target_negative", run_toml(renormalization="target_GeV = -1.0"), "target_GeV"),
    ("target_old_name", run_toml(renormalization="target = 0.8"), "target"),
    ("m_R_sq_nan", run_toml(renormalization='condition = "renormalized_quark"\nm_R_sq = nan'),
     "m_R_sq"),
    ("renormalized_quark_without_m_R", run_toml(renormalization='condition = "renormalized_quark"'),
     "m_R_sq"),
    ("budget_resolution_bad", run_toml() + "\n[error_budget]\nresolution = [0.3]\n", "resolution"),
    ("tolerance_zero", run_toml(renormalization="tolerance = 0.0"), "tolerance"),
    ("condition_unknown", run_toml(renormalization='condition = "bogus"'), "condition"),
    ("ladder_single", run_toml(resolutions="ladder = [[0.5, 6.0]]"), "ladder"),
    ("ladder_negative_h", run_toml(resolutions="ladder = [[-0.5, 6.0], [0.4, 6.0]]"), "h"),
    ("ladder_not_multiple", run_toml(resolutions="ladder = [[0.5, 6.1], [0.4, 6.0]]"),
     "kappa_max"),
    ("ladder_not_pairs", run_toml(resolutions='ladder = [[0.5, "a"], [0.4, 6.0]]'), "ladder"),
    ("coupling_not_number", run_toml(couplings='G = "x"'), "G"),
    ("coupling_unknown", run_toml(couplings="g = 1.0"), "g"),
    ("lattice_spacing_zero", run_toml(units="lattice_spacing_fm = 0.0"), "lattice_spacing_fm"),
]


@pytest.fixture(scope="module")
def existing_run(tmp_path_factory) -> Path:
    return fake_results(tmp_path_factory.mktemp("run") / "out", "run",
                        {"results.json": '{"ok": true}\n', "checkpoints/00_h0.5_k6.json": "{}"})


def _params(cases: list) -> list:
    return [pytest.param(c[1], c[2], id=c[0]) if isinstance(c[0], str) and len(c) == 3
            and not hasattr(c, "marks") else c for c in cases]


@pytest.mark.parametrize("text, key", _params(RUN_CASES))
def test_run_bad_config(tmp_path, existing_run, capsys, text, key):
    cfg = tmp_path / "bad.toml"
    cfg.write_text(text)
    run_bad(["run", str(cfg), "--out", str(existing_run)], key, existing_run, capsys)


def test_run_config_binary_file(tmp_path, existing_run, capsys):
    cfg = tmp_path / "model.pt"
    cfg.write_bytes(bytes(range(256)) * 4)
    run_bad(["run", str(cfg), "--out", str(existing_run)], "model.pt", existing_run, capsys)


def test_run_config_missing(tmp_path, existing_run, capsys):
    run_bad(["run", str(tmp_path / "nope.toml"), "--out", str(existing_run)], "nope.toml",
            existing_run, capsys)


def _good_run(tmp_path: Path) -> Path:
    cfg = tmp_path / "good.toml"
    cfg.write_text(run_toml())
    return cfg


def test_run_out_is_a_file(tmp_path, capsys):
    target = tmp_path / "file.txt"
    target.write_text("keep me")
    run_bad(["run", str(_good_run(tmp_path)), "--out", str(target)], "--out", None, capsys)
    assert target.read_text() == "keep me"


def test_run_out_unwritable(tmp_path, capsys):
    run_bad(["run", str(_good_run(tmp_path)), "--out", "/proc/lfqcd_x"], "--out", None, capsys)


def test_run_out_holds_a_scan_store(tmp_path, capsys):
    scan = fake_results(tmp_path / "scan", "scan", {"scan.json": "{}", "points/a.npz": "x"})
    err = run_bad(["run", str(_good_run(tmp_path)), "--out", str(scan)], "--out", scan, capsys)
    assert "scan store" in err and "--overwrite" in err


def test_run_out_holds_another_run_config(tmp_path, existing_run, capsys):
    err = run_bad(["run", str(_good_run(tmp_path)), "--out", str(existing_run)], "--out",
                  existing_run, capsys)
    assert "another configuration" in err


def test_run_out_holds_foreign_files_even_with_overwrite(tmp_path, capsys):
    foreign = tmp_path / "home"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("precious")
    err = run_bad(["run", str(_good_run(tmp_path)), "--out", str(foreign), "--overwrite"],
                  "--out", foreign, capsys)
    assert "thesis.tex" in err


# --------------------------------------------------------------------------- lfqcd calibrate

CAL_BASE = (ROOT / "runs" / "calibrate.toml").read_text()


def cal_toml(section: str, old: str, new: str | None) -> str:
    """The shipped calibration config with one line of ``[section]`` replaced (or dropped)."""
    lines = CAL_BASE.splitlines()
    out, current = [], None
    for line in lines:
        if line.startswith("["):
            current = line.split("]")[0].strip("[")
        if current == section and line.split("=")[0].strip() == old:
            if new is not None:
                out.append(new)
            continue
        out.append(line)
    text = "\n".join(out) + "\n"
    assert text != CAL_BASE or new is None
    return text


CAL_CASES = [
    ("tol_zero", cal_toml("targets", "tol_m_pi", "tol_m_pi = 0.0"), "tol_m_pi"),
    ("start_nan", cal_toml("start", "G", "G = nan"), "G"),
    ("max_nfev_zero", cal_toml("fit", "max_nfev", "max_nfev = 0"), "max_nfev"),
    ("max_nfev_fraction", cal_toml("fit", "max_nfev", "max_nfev = 2.5"), "max_nfev"),
    ("negative_target_mass", cal_toml("targets", "m_pi", "m_pi = -0.14"), "m_pi"),
    ("k_values_fraction", cal_toml("setup", "k_values", "k_values = [16, 20.5]"), "k_values"),
    ("k_values_small", cal_toml("setup", "k_values", "k_values = [2, 16]"), "k_values"),
    ("k_values_single", cal_toml("setup", "k_values", "k_values = [16]"), "k_values"),
    ("k_holdout_small", cal_toml("setup", "k_holdout", "k_holdout = [3]"), "k_holdout"),
    ("tol_degeneracy_zero", cal_toml("targets", "tol_degeneracy", "tol_degeneracy = 0"),
     "tol_degeneracy"),
    ("start_t_NF_negative", cal_toml("start", "t_NF", "t_NF = -1.0"), "t_NF"),
    ("p_cov_zero", cal_toml("setup", "p_cov", "p_cov = 0.0"), "p_cov"),
    ("start_mu_negative", cal_toml("start", "mu", "mu = -0.9"), "mu"),
    ("start_missing", cal_toml("start", "t_F", None), "t_F"),
    ("unknown_key", cal_toml("fit", "max_nfev", "maxnfev = 10"), "maxnfev"),
    ("section_not_table", "setup = 3\n", "setup"),
    ("heavy_light_short_ladder", cal_toml("heavy_light", "h", "h = [0.4, 0.3]"), "heavy_light"),
    ("heavy_light_tol_zero", cal_toml("heavy_light", "tol_slope", "tol_slope = 0"), "tol_slope"),
    ("heavy_light_kappa_not_multiple", cal_toml("heavy_light", "kappa_max", "kappa_max = 12.1"),
     "heavy_light"),
    ("fit_ftol_negative", cal_toml("fit", "ftol", "ftol = -1.0"), "ftol"),
    ("start_log_factor_zero", cal_toml("start", "log_factor", "log_factor = 0.0"), "log_factor"),
    ("fit_fixed_unknown", cal_toml("fit", "max_nfev", 'max_nfev = 3\nfixed = ["zeta"]'), "fixed"),
]


@pytest.fixture(scope="module")
def existing_calibration(tmp_path_factory) -> Path:
    return fake_results(tmp_path_factory.mktemp("cal") / "out", "calibrate",
                        {"calibration.json": "{}", "calibration.txt": "table"})


@pytest.mark.parametrize("text, key", _params(CAL_CASES))
def test_calibrate_bad_config(tmp_path, existing_calibration, capsys, text, key):
    cfg = tmp_path / "bad.toml"
    cfg.write_text(text)
    run_bad(["calibrate", str(cfg), "--out", str(existing_calibration)], key,
            existing_calibration, capsys)


def test_calibrate_out_holds_a_run(tmp_path, existing_run, capsys):
    cfg = tmp_path / "cal.toml"
    cfg.write_text(CAL_BASE)
    err = run_bad(["calibrate", str(cfg), "--out", str(existing_run)], "--out", existing_run,
                  capsys)
    assert "heavy-meson run" in err


def test_infer_out_holds_a_run(tmp_path, existing_run, capsys):
    cfg = tmp_path / "infer.toml"
    cfg.write_text((ROOT / "runs" / "infer.toml").read_text())
    err = run_bad(["infer", str(cfg), "--out", str(existing_run)], "--out", existing_run, capsys)
    assert "heavy-meson run" in err


# -------------------------------------------------------------------------------- lfqcd scan

SCAN_BASE = {
    "scan": 'name = "bad"\nsimulator = "lfqcd.simulator:toy_simulate"',
    "fixed": "L = 8\nN = 3\nk = 3",
    "design": "points = [{t2 = 0.0}, {t2 = 0.2}]",
    "executor": 'kind = "serial"',
    "output": "plots = false\nprogress = false",
}


def scan_toml(**sections: str) -> str:
    return "\n".join(f"[{k}]\n{v}\n" for k, v in {**SCAN_BASE, **sections}.items())


SCAN_CASES = [
    ("simulator_os_system", scan_toml(scan='simulator = "os:system"'), "simulator"),
    ("simulator_malformed", scan_toml(scan='simulator = "nonsense"'), "simulator"),
    ("backend_unknown", scan_toml(scan='backend = "magma"'), "backend"),
    ("n_points_zero", scan_toml(design='sampler = "sobol"\nn_points = 0\n'
                                       "[design.ranges]\nt2 = [0.0, 0.5]"), "n_points"),
    ("range_empty", scan_toml(design='sampler = "sobol"\nn_points = 4\n'
                                     "[design.ranges]\nt2 = [0.5, 0.0]"), "t2"),
    ("sampler_unknown", scan_toml(design='sampler = "grid"\nn_points = 4\n'
                                         "[design.ranges]\nt2 = [0.0, 0.5]"), "sampler"),
    ("workers_zero", scan_toml(executor='kind = "process"\nworkers = 0'), "workers"),
    ("executor_unknown", scan_toml(executor='kind = "slurm"'), "kind"),
    ("progress_bad", scan_toml(output='progress = "sometimes"'), "progress"),
    ("fixed_nan", scan_toml(fixed="L = 8\nN = 3\nk = 3\nW = nan"), "W"),
    ("unknown_parameter", scan_toml(fixed="L = 8\nN = 3\nk = 3\nQ = 1.0"), "Q"),
    ("unknown_table", scan_toml() + "\n[scann]\nx = 1\n", "scann"),
    ("seed_not_int", scan_toml(scan='name = "bad"\nseed = "x"'), "seed"),
    ("resolution_infeasible", scan_toml(fixed="L = 4\nN = 4\nk = 3"), "N"),
]


@pytest.fixture(scope="module")
def existing_scan(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("scan")
    cfg = base / "good.toml"
    cfg.write_text(scan_toml())
    out = base / "out"
    assert lfqcd_main(["scan", str(cfg), "--out", str(out)]) == 0
    return out


@pytest.mark.parametrize("text, key", _params(SCAN_CASES))
def test_scan_bad_config(tmp_path, existing_scan, capsys, text, key):
    cfg = tmp_path / "bad.toml"
    cfg.write_text(text)
    run_bad(["scan", str(cfg), "--out", str(existing_scan)], key, existing_scan, capsys)


def test_scan_other_config_refused_with_diff(tmp_path, existing_scan, capsys):
    cfg = tmp_path / "other.toml"
    cfg.write_text(scan_toml(design="points = [{t2 = 0.3}]"))
    err = run_bad(["scan", str(cfg), "--out", str(existing_scan)], "design", existing_scan,
                  capsys)
    assert "different scan configuration" in err


def test_scan_out_holds_a_run(tmp_path, existing_run, capsys):
    cfg = tmp_path / "s.toml"
    cfg.write_text(scan_toml())
    run_bad(["scan", str(cfg), "--out", str(existing_run)], "--out", existing_run, capsys)


def test_scan_binary_config(tmp_path, existing_scan, capsys):
    cfg = tmp_path / "data.npz"
    cfg.write_bytes(b"PK\x03\x04\xff\xfe" * 100)
    run_bad(["scan", str(cfg), "--out", str(existing_scan)], "data.npz", existing_scan, capsys)


# ------------------------------------------------------------------ real subprocess runs


def _subprocess(argv: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "lfqcd.cli", *argv], capture_output=True,
                          text=True, env=env, cwd=tmp_path, timeout=120)


@pytest.mark.parametrize("command, text, key", [
    ("run", run_toml(run='name = "t"\nn_states = 3.5'), "n_states"),
    ("run", "\x00\xff binary", "bad.toml"),
    ("scan", scan_toml(scan='simulator = "os:system"'), "simulator"),
], ids=["run", "run-binary", "scan"])
def test_subprocess_no_traceback(tmp_path, command, text, key):
    cfg = tmp_path / "bad.toml"
    cfg.write_bytes(text.encode("latin-1"))
    res = _subprocess([command, str(cfg), "--out", str(tmp_path / "o")], tmp_path)
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr and key in res.stderr
    assert not (tmp_path / "o").exists()  # refused before anything was created


def test_results_json_is_standard_json(tmp_path):
    """NaN/inf (e.g. every resolution failed) are written as null, never as bare NaN."""
    data = {"a": float("nan"), "b": [1.0, float("inf")], "c": {"d": (float("-inf"),)}}
    outdir.write_json(tmp_path / "r.json", data)
    loaded = json.loads((tmp_path / "r.json").read_text(),
                        parse_constant=lambda c: pytest.fail(f"non-standard JSON {c}"))
    assert loaded == {"a": None, "b": [1.0, None], "c": {"d": [None]}}


# ------------------------------------------------------------------------------- lfqcd train

TRAIN_BASE = ((ROOT / "runs" / "train_phantom.toml").read_text()
              .replace('mode = "phantom"', 'mode = "none"').replace("nproc = 2", "nproc = 1"))


def train_toml(old: str, new: str) -> str:
    assert old in TRAIN_BASE, old
    return TRAIN_BASE.replace(old, new)


TRAIN_CASES = [
    ("lr_nan", train_toml("lr = 1e-3", "lr = nan"), "train.lr"),
    ("batch_size_zero", train_toml("batch_size = 128", "batch_size = 0"), "batch_size"),
    ("max_epochs_fraction", train_toml("max_epochs = 40", "max_epochs = 2.5"), "max_epochs"),
    ("source_unknown", train_toml('source = "synthetic"', 'source = "web"'), "source"),
    ("scan_path_missing", train_toml('source = "synthetic"', 'source = "scan"')
     .replace('path = ""', 'path = "/nonexistent/scan"'), "data.path"),
    ("val_fraction_above_one", train_toml("val_fraction = 0.2", "val_fraction = 1.5"),
     "val_fraction"),
    ("n_samples_negative", train_toml("n_samples = 8192", "n_samples = -3"), "n_samples"),
    ("noise_infinite", train_toml("noise = 0.01", "noise = inf"), "noise"),
    ("activation_unknown", train_toml('activation = "tanh"', 'activation = "swish9"'),
     "activation"),
    ("width_negative", train_toml("width = 512", "width = -1"), "width"),
    ("timeout_zero", train_toml("timeout_s = 60", "timeout_s = 0"), "timeout_s"),
    ("energy_coefficient_negative", train_toml("eps_flop_j = 5e-11", "eps_flop_j = -1.0"),
     "eps_flop_j"),
]


@pytest.fixture(scope="module")
def existing_train(tmp_path_factory) -> Path:
    return fake_results(tmp_path_factory.mktemp("train") / "out", "train",
                        {"model.pt": "weights", "record.json": "{}"})


@pytest.mark.parametrize("text, key", _params(TRAIN_CASES))
def test_train_bad_config(tmp_path, existing_train, capsys, text, key):
    cfg = tmp_path / "bad.toml"
    cfg.write_text(text)
    run_bad(["train", str(cfg), "--out", str(existing_train)], key, existing_train, capsys)


def test_train_out_holds_a_scan_store(tmp_path, existing_scan, capsys):
    cfg = tmp_path / "t.toml"
    cfg.write_text(TRAIN_BASE)
    err = run_bad(["train", str(cfg), "--out", str(existing_scan)], "--out", existing_scan,
                  capsys)
    assert "scan store" in err


# ---------------------------------------------------------------------------------- lfqcd al

AL_BASE = (ROOT / "runs" / "al_toy.toml").read_text()


def al_toml(old: str, new: str) -> str:
    assert old in AL_BASE, old
    return AL_BASE.replace(old, new, 1)


AL_CASES = [
    ("simulator_os_system", al_toml('simulator = "mlsurrogate.active.simulators.standin:simulate"',
                                    'simulator = "os:system"'), "simulator"),
    ("pool_size_exhausts_memory", al_toml("pool_size = 2048", "pool_size = 1000000000000"),
     "pool_size"),
    ("backend_unknown", al_toml('backend = "auto"', 'backend = "magma"'), "backend"),
    ("batch_zero", al_toml("batch = 16", "batch = 0"), "batch"),
    ("members_zero", al_toml("members = 5", "members = 0"), "members"),
]


@pytest.fixture(scope="module")
def existing_al(tmp_path_factory) -> Path:
    return fake_results(tmp_path_factory.mktemp("al") / "out", "al",
                        {"al_state.json": "{}", "sims/scan.json": "{}"})


@pytest.mark.parametrize("text, key", _params(AL_CASES))
def test_al_bad_config(tmp_path, existing_al, capsys, text, key):
    cfg = tmp_path / "bad.toml"
    cfg.write_text(text)
    run_bad(["al", str(cfg), "--out", str(existing_al)], key, existing_al, capsys)


def test_al_out_holds_a_run(tmp_path, existing_run, capsys):
    cfg = tmp_path / "al.toml"
    cfg.write_text(AL_BASE)
    run_bad(["al", str(cfg), "--out", str(existing_run)], "--out", existing_run, capsys)
