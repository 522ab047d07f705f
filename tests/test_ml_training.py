"""Single-process training: data sets, scan-store reader, fit, checkpoints, CLI and bad input."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from ml_helpers import fixture_scan, write_scan_store

from lfqcd.errors import BackendUnavailableError, ConfigError, LFQCDError, ResultFileError
from mlsurrogate.arch import Arch
from mlsurrogate.config import FitConfig, ModelConfig, TrainConfig, load_config
from mlsurrogate.data import Standardizer, group_observables, read_scan_store, teacher_student
from mlsurrogate.errors import CheckpointMismatchError, DatasetError, ParallelLayoutError
from mlsurrogate.surrogate import Surrogate, build_network, load_surrogate
from mlsurrogate.train.api import train_surrogate
from mlsurrogate.train.loop import fit

ROOT = Path(__file__).resolve().parents[1]

TINY = (
    "[data.synthetic]\nn_samples = 400\n[model]\nwidth = 16\n"
    "[parallel]\nmode = '{mode}'\nghosts = 2\n[train]\nmax_epochs = 2\nmin_iters = 0\nbatch_size = 64\n"
)


# -- data ------------------------------------------------------------------------------------
def test_teacher_student_is_deterministic_and_named() -> None:
    a, b = teacher_student(300, seed=3), teacher_student(300, seed=3)
    assert np.array_equal(a.X, b.X) and np.array_equal(a.Y, b.Y)
    assert not np.array_equal(a.Y, teacher_student(300, seed=4).Y)
    assert a.input_names == [f"c{i}" for i in range(6)]
    assert list(a.observables) == ["s0", "s1", "s2", "s3", "curve"]
    assert a.observables["curve"] == list(range(4, 20))
    curve = a.Y[:, 4:]
    assert np.abs(np.diff(curve, axis=1)).max() < 0.2  # smooth in w
    tr, va = a.split(0.2, seed=1)
    assert len(tr) == 240 and len(va) == 60
    assert not set(map(tuple, tr.X)) & set(map(tuple, va.X))


def test_standardizer_round_trip_and_constant_columns() -> None:
    X = np.c_[np.arange(5.0), np.full(5, 4.0)]
    s = Standardizer.fit(X, X * 3)
    assert s.x_std[1] == 1.0
    assert np.allclose(s.inverse_y(s.transform_y(X * 3)), X * 3)
    again = Standardizer.from_tensors(s.to_tensors())
    assert np.array_equal(again.y_mean, s.y_mean)


def test_scan_store_reader_uses_ok_rows_and_flattened_curves(tmp_path: Path) -> None:
    ds = read_scan_store(fixture_scan(tmp_path / "scan", n_ok=40, n_failed=3))
    assert ds.input_names == ["g", "mu"]  # scan.json "varied"; the fixed T is dropped
    assert ds.output_names == ["E0", "gap"] + [f"xi[{j}]" for j in range(5)]
    assert len(ds) == 40 and ds.source["n_failed_skipped"] == 3
    assert group_observables(ds.output_names)["xi"] == [2, 3, 4, 5, 6]
    g, mu = ds.X[:, 0], ds.X[:, 1]
    assert np.allclose(ds.Y[:, 0], -g - mu**2)


def test_scan_store_missing_values_rows_or_columns(tmp_path: Path) -> None:
    rows = [{"key": f"k{i}", "status": "ok", "wall_s": 0, "backend": "x", "param.a": i,
             "obs.E": i * 2.0, "obs.d[0]": 1.0, "obs.d[1]": "nan" if i % 2 else 2.0}
            for i in range(6)]
    root = write_scan_store(tmp_path / "s", rows, ["a"], ["E", "d"])
    by_rows = read_scan_store(root)
    assert len(by_rows) == 3 and by_rows.source["n_nonfinite_skipped"] == 3
    by_cols = read_scan_store(root, missing="columns")
    assert len(by_cols) == 6 and by_cols.output_names == ["E", "d[0]"]


@pytest.mark.parametrize(
    ("mutate", "match"),
    [("no_json", "scan.json not found"), ("bad_param", "lacks input column"),
     ("bad_obs", "no column obs.nope"), ("all_failed", "no usable rows")],
)
def test_scan_store_errors_name_the_problem(tmp_path: Path, mutate: str, match: str) -> None:
    root = fixture_scan(tmp_path / "scan", n_ok=4, n_failed=2)
    kw = {}
    if mutate == "no_json":
        (root / "scan.json").unlink()
    elif mutate == "bad_param":
        kw["params"] = ["g", "zeta"]
    elif mutate == "bad_obs":
        kw["observables"] = ["nope"]
    else:
        text = (root / "summary.csv").read_text().replace(",ok,", ",failed,")
        (root / "summary.csv").write_text(text)
    with pytest.raises(DatasetError, match=match):
        read_scan_store(root, **kw)


# -- training, checkpoints -------------------------------------------------------------------
def test_train_save_reload_predict(tmp_path: Path) -> None:
    ds = teacher_student(1000, seed=0)
    sur, res = train_surrogate(ds, ModelConfig(width=32), FitConfig(max_epochs=8, lr=3e-3))
    hist = [h["val_loss"] for h in res.history]
    assert res.best_val_loss == min(hist) < 0.5 * hist[0]
    path = sur.save(tmp_path / "m.pt")
    again = load_surrogate(path)
    x = ds.X[:7]
    assert np.allclose(again.predict_array(x), sur.predict_array(x), atol=1e-6)
    pred = again.predict({n: x[:, i] for i, n in enumerate(ds.input_names)})
    assert pred["s0"].shape == (7,) and pred["curve"].shape == (7, 16)
    # warm start continues from the same weights and standardisation
    sur2, _ = train_surrogate(ds, fit_cfg=FitConfig(max_epochs=1), init=again)
    assert sur2.standardizer is again.standardizer


def test_fit_is_seeded_and_restores_best_with_early_stopping() -> None:
    ds = teacher_student(400, seed=1)
    cfg = FitConfig(max_epochs=200, patience=2, lr=0.3, batch_size=32)  # lr far too high
    runs = []
    for _ in range(2):
        sur, res = train_surrogate(ds, ModelConfig(width=16), cfg)
        runs.append((sur, res))
    (s1, r1), (s2, r2) = runs
    assert r1.stopped == "early_stopping" and r1.n_epochs < 200
    assert [h["val_loss"] for h in r1.history] == [h["val_loss"] for h in r2.history]
    tr, va = ds.split(0.2, 1)
    Xv = torch.as_tensor(s1.standardizer.transform_x(va.X), dtype=torch.float32)
    Yv = s1.standardizer.transform_y(va.Y)
    val = float(np.mean((s1.net(Xv).detach().double().numpy() - Yv) ** 2))
    assert val == pytest.approx(r1.best_val_loss, rel=1e-5)  # best state restored


def test_target_loss_stops_early() -> None:
    ds = teacher_student(400, seed=2)
    net = build_network(Arch(d_in=6, d_out=20, width=16))
    std = Standardizer.fit(ds.X, ds.Y)
    X = torch.as_tensor(std.transform_x(ds.X), dtype=torch.float32)
    Y = torch.as_tensor(std.transform_y(ds.Y), dtype=torch.float32)
    res = fit(net, (X, Y), (X, Y), FitConfig(max_epochs=50, target_loss=0.5, eval_every=2))
    assert res.stopped == "target_loss" and res.history[-1]["val_loss"] <= 0.5
    assert res.target_iter == res.history[-1]["iter"] and res.target_iter % 2 == 0


def test_mismatched_checkpoint_is_rejected(tmp_path: Path) -> None:
    ds = teacher_student(200, seed=0)
    sur, _ = train_surrogate(ds, ModelConfig(width=16), FitConfig(max_epochs=1))
    path = sur.save(tmp_path / "m.pt")
    other = Arch(**{**sur.arch.to_dict(), "width": 32})
    with pytest.raises(CheckpointMismatchError, match="width: checkpoint 16 vs expected 32"):
        load_surrogate(path, expect_arch=other)
    ck = torch.load(path, weights_only=True)
    ck["state"]["hidden.0.weight"] = torch.zeros(3, 3)
    torch.save(ck, tmp_path / "bad.pt")
    with pytest.raises(CheckpointMismatchError, match=r"hidden.0.weight: shape \(3, 3\)"):
        load_surrogate(tmp_path / "bad.pt")
    torch.save({"weights": 1}, tmp_path / "foreign.pt")
    with pytest.raises(CheckpointMismatchError, match="not an lfqcd surrogate checkpoint"):
        load_surrogate(tmp_path / "foreign.pt")
    with pytest.raises(ResultFileError, match="does not exist"):
        load_surrogate(tmp_path / "missing.pt")
    with pytest.raises(LFQCDError, match="expects"):
        sur.predict_array(np.zeros((2, 5)))


# -- configuration and CLI -------------------------------------------------------------------
def test_shipped_config_is_valid() -> None:
    cfg = load_config(ROOT / "runs" / "train_phantom.toml")
    assert cfg.parallel.mode == "phantom" and cfg.parallel.nproc == 2
    arch = cfg.arch(6, 20)
    assert arch.m == 256 and arch.ghosts == 32


@pytest.mark.parametrize(
    ("text", "exc", "match"),
    [("[parallel]\nmode = 'pipeline'\n", ConfigError, "unknown parallel mode 'pipeline'"),
     ("[parallel]\nmod = 'tensor'\n", ConfigError, r"unknown key\(s\) in \[parallel\]: mod"),
     ("[model]\nwidth = 'wide'\n", ConfigError, "model.width must be of type int"),
     ("[model]\nwidth = 30\n[parallel]\nmode = 'tensor'\nnproc = 4\n", ParallelLayoutError,
      "do not divide"),
     ("[model]\nwidth = 32\n[parallel]\nmode = 'phantom'\nnproc = 2\nghosts = 16\n",
      ParallelLayoutError, "must be < n/p"),
     ("[model]\nwidth = 32\n[parallel]\nmode = 'phantom'\nnproc = 2\nghosts = 0\n",
      ParallelLayoutError, "must be >= 1")],
    ids=["unknown-mode", "unknown-key", "wrong-type", "p-not-dividing-n", "k-too-large", "k-zero"],
)
def test_bad_configs(tmp_path: Path, text: str, exc: type, match: str) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(text)
    with pytest.raises(exc, match=match):
        load_config(cfg)


def test_cli_single_process_writes_artifacts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from lfqcd.cli import main

    cfg = tmp_path / "c.toml"
    cfg.write_text(TINY.format(mode="phantom"))
    out = tmp_path / "out"
    assert main(["train", str(cfg), "--nproc", "1", "--out", str(out), "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "energy measured: not measured" in text or "energy measured:" in text
    rec = json.loads((out / "record.json").read_text())
    assert set(rec["artifacts"]) == {"checkpoint", "loss_curve", "record"}
    assert rec["flops"]["counted_per_iter_per_rank"] == [rec["flops"]["analytic_per_iter_per_rank"]]
    assert rec["energy"]["modeled"]["label"] == "modeled"
    assert len(rec["energy"]["modeled"]["coefficients"]) == 3
    assert rec["seeds"] == {"model": 0, "shuffle": 0, "split": 1, "data": 1}
    for key in ("lfqcd", "torch", "numpy", "python"):
        assert rec["versions"][key]
    # resume from the checkpoint with the same configuration; a different width is rejected
    assert main(["train", str(cfg), "--nproc", "1", "--out", str(tmp_path / "o2"), "--quiet",
                 "--init-from", str(out / "model.pt")]) == 0
    assert main(["train", str(cfg), "--nproc", "1", "--out", str(tmp_path / "o3"), "--quiet",
                 "--width", "32", "--init-from", str(out / "model.pt")]) == 2
    assert "does not match this run (width: checkpoint 16 vs config 32" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "match"),
    [(["--backend", "nccl", "--nproc", "2"], "backend 'nccl' needs CUDA GPUs"),
     (["--nproc", "3"], "p=3 ranks do not divide the hidden width n=16"),
     (["--ghosts", "8", "--nproc", "2"], "ghosts per rank k=8 must be < n/p"),
     (["--ghosts", "0"], "ghosts per rank k must be >= 1"),
     (["--parallel", "none", "--nproc", "2"], "parallel mode 'none' runs on one process"),
     (["--init-from", "nowhere.pt"], "checkpoint nowhere.pt does not exist")],
    ids=["nccl-without-gpu", "p-not-dividing-n", "k>=m", "k<1", "none-with-2-ranks", "no-ckpt"],
)
def test_cli_bad_input_one_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], match: str
) -> None:
    from lfqcd.cli import main

    if "nccl" in args and torch.cuda.is_available():
        pytest.skip("CUDA is present: NCCL may be served")
    cfg = tmp_path / "c.toml"
    cfg.write_text(TINY.format(mode="phantom"))
    assert main(["train", str(cfg), "--out", str(tmp_path / "o"), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("lfqcd train: error:") and match in err
    assert len(err.splitlines()) == 1


def test_choose_backend_refuses_nccl_without_gpu() -> None:
    from mlsurrogate.parallel.runtime import choose_backend

    assert choose_backend("gloo", 2) == "gloo"
    if not torch.cuda.is_available():
        assert choose_backend("auto", 2) == "gloo"
        with pytest.raises(BackendUnavailableError, match="needs CUDA GPUs"):
            choose_backend("nccl", 1)
    with pytest.raises(LFQCDError, match="unknown distributed backend"):
        choose_backend("mpi-ish", 2)


def test_config_from_dict_round_trip() -> None:
    cfg = TrainConfig()
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg


def test_example_script_runs(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / "train_surrogate.py"),
                           "--out", str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "reloaded prediction matches" in proc.stdout
    assert (tmp_path / "surrogate.pt").is_file()


def test_surrogate_names_must_match_arch() -> None:
    arch = Arch(d_in=2, d_out=1, width=4)
    with pytest.raises(LFQCDError, match="names for an architecture"):
        Surrogate(build_network(arch), arch, Standardizer.fit(np.zeros((2, 2)), np.zeros((2, 1))),
                  ["a"], ["y"])


def test_cli_trains_a_small_store_properly(tmp_path: Path) -> None:
    """Issue 13: ``lfqcd train runs/train_phantom.toml --data STORE --nproc 1`` on ~50 rows.

    Before, patience counted evaluations (one optimizer step per epoch on 40 training rows),
    so training stopped after ~12 steps with a validation MSE near 0.2, and ``--nproc 1`` kept
    the file's phantom mode at p = 1. Now patience is in optimizer steps, small stores get at
    least ``min_iters`` steps, and ``--nproc 1`` without ``--parallel`` trains a dense model.
    """
    from lfqcd.cli import main

    store = fixture_scan(tmp_path / "scan", n_ok=51, n_failed=0)
    out = tmp_path / "out"
    assert main(["train", str(ROOT / "runs" / "train_phantom.toml"), "--data", str(store),
                 "--nproc", "1", "--width", "64", "--out", str(out), "--quiet"]) == 0
    rec = json.loads((out / "record.json").read_text())
    assert rec["arch"]["mode"] == "none" and rec["arch"]["nproc"] == 1
    assert rec["data"]["n_train"] + rec["data"]["n_val"] == 51
    fit_rec = rec["fit"]
    assert fit_rec["n_iters"] >= 1000, fit_rec  # not 12
    assert fit_rec["best_val_loss"] < 0.01, fit_rec  # standardised units; was ~0.2


def test_cli_training_flags_override_the_file(tmp_path: Path) -> None:
    """``--batch-size``, ``--lr``, ``--patience`` reach the fit; ``--parallel`` keeps its mode."""
    from mlsurrogate.train.cli import configure_parser, resolve_config

    parser = argparse.ArgumentParser()
    configure_parser(parser)
    toml = str(ROOT / "runs" / "train_phantom.toml")
    cfg = resolve_config(parser.parse_args([toml, "--batch-size", "16", "--lr", "0.01",
                                            "--patience", "123", "--nproc", "1"]))
    assert (cfg.train.batch_size, cfg.train.lr, cfg.train.patience) == (16, 0.01, 123)
    assert (cfg.parallel.mode, cfg.parallel.nproc) == ("none", 1)
    cfg = resolve_config(parser.parse_args([toml, "--parallel", "phantom", "--nproc", "1"]))
    assert (cfg.parallel.mode, cfg.parallel.nproc) == ("phantom", 1)
    assert resolve_config(parser.parse_args([toml])).parallel.mode == "phantom"  # the file's
    # lfqcd train's step floor also holds for a [train] table that does not name it
    assert TrainConfig.from_dict({"train": {"max_epochs": 3}}).train.min_iters == 2000
    assert TrainConfig().train.min_iters == 2000 and FitConfig().min_iters == 0


def test_patience_counts_optimizer_steps() -> None:
    """Early stopping after ``patience`` optimizer steps without improvement, whatever the
    number of steps per epoch or the evaluation interval."""
    torch.manual_seed(0)
    X, Y = torch.randn(64, 3), torch.randn(64, 2)  # pure noise: validation never improves long
    net = build_network(Arch(d_in=3, d_out=2, width=16, depth=1))
    res = fit(net, (X, Y), (torch.randn(32, 3), torch.randn(32, 2)),
              FitConfig(batch_size=8, max_epochs=1000, patience=40, eval_every=5, lr=1e-2))
    assert res.stopped == "early_stopping"
    assert 40 <= res.n_iters - res.best_iter < 45  # stopped at the first evaluation past it
