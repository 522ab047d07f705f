"""The main job end to end, its files, and its bad-input handling (issue 3)."""

from __future__ import annotations

import csv
import json
import runpy
import sys
from pathlib import Path

import numpy as np
import pytest

from heavy_meson.config import config_from_dict, load_config
from lfqcd.cli import main as cli_main
from lfqcd.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]

SMALL = """
[run]
name = "tiny"
preset = "illustrative"
n_states = 2
excited_jz = [1.5]
[resolutions]
ladder = [[0.5, 6.0], [0.4, 6.0], [0.5, 8.0]]
[observables]
n_w = 11
"""


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "run.toml"
    p.write_text(text)
    return p


def test_cli_run_writes_tables_plots_and_full_record(tmp_path, capsys):
    out = tmp_path / "out"
    assert cli_main(["run", str(_write(tmp_path, SMALL)), "--out", str(out), "--quiet"]) == 0
    for name in ("results.json", "isgur_wise.csv", "lcda.csv", "pdf.csv", "isgur_wise.png",
                 "lcda.png", "pdf.png", "convergence.png"):
        assert (out / name).stat().st_size > 0, name
    res = json.loads((out / "results.json").read_text())
    assert res["version"] and res["config"]["couplings"]["t_F"] == 0.5
    assert res["seeds"]["eigensolver_start_vector"] == 0
    assert res["preset"]["name"] == "illustrative"
    assert "docs/physics.md section 6" in res["preset"]["provenance"]
    for key in ("lambda_bar", "rho2", "xi_curvature", "fB_sqrtM", "lambda_B", "omega_plus_mean",
                "P0", "virial_mismatch"):
        o = res["observables"][key]
        assert len(o["per_resolution"]) == 3 and o["finest"] is not None
        assert o["error"] >= 0 and "error_budget" in o
        b = o["error_budget"]
        assert {"extrapolation", "calibration", "scheme", "frame", "links_truncation"} <= set(b)
    assert res["observables"]["lambda_bar"]["value"] == pytest.approx(0.8, abs=1e-6)
    assert res["renormalization"]["scheme"] == "lambda_bar"
    assert res["renormalization"]["lambda_bar_is_input"]
    link = res["renormalization"]["endpoint"]["link"]  # docs/physics.md (R14')
    assert link["falls_to_centre"] == (link["mu_sq"] < link["bound_mu_sq"])
    assert "matching" in res["observables"]["rho2"]["error_budget"]
    tables = res["tables"]
    assert len(tables["isgur_wise"]["xi"]) == 11
    assert len(tables["lcda"]["omega"]) == len(tables["lcda"]["phi_plus"]) > 5
    assert {"y", "f_Q", "k_q", "f_q", "k_L", "f_L"} <= set(tables["pdf"])
    with open(out / "isgur_wise.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 11 and float(rows[0]["xi"]) == pytest.approx(1.0, abs=1e-9)
    xi = [float(r["xi"]) for r in rows]
    assert all(a > b for a, b in zip(xi, xi[1:], strict=False))  # monotonically decreasing
    assert float(rows[0]["xi_longitudinal"]) == pytest.approx(1.0, abs=1e-9)
    with open(out / "lcda.csv") as f:
        assert "resolution" in next(csv.reader(f))
    assert "observable" in capsys.readouterr().out


def test_unconvergeable_run_says_so_and_keeps_what_it_has(tmp_path, capsys):
    cfg = SMALL + '[renormalization]\ncondition = "lambda_bar"\ntarget_GeV = 14.0\n'
    out = tmp_path / "out"
    assert cli_main(["run", str(_write(tmp_path, cfg)), "--out", str(out), "--quiet"]) == 1
    res = json.loads((out / "results.json").read_text())
    assert len(res["failed_resolutions"]) == 3
    assert "out of reach" in res["failed_resolutions"][0]["error"]
    assert "resolution(s) failed" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (SMALL + "[couplings]\nmu = -1.0\n", "mu must be >= 0"),
        (SMALL + "[couplings]\ntF = 0.3\n", "unknown key(s) ['tF'] in [couplings]"),
        (SMALL.replace("n_states = 2", "n_states = 2\ncolour = 3"), "unknown key(s) ['colour'] in [run]"),
        (SMALL + "[units]\nlattice_spacing_fm = 0.5\n", "lattice_spacing_fm = 0.5 is inconsistent"),
        (SMALL + "[units]\nG_GeV2 = 0.5\n", "inconsistent units"),
        (SMALL.replace("illustrative", "calibrated") + "[couplings]\nmu = 2.0\n",
         "give [renormalization] m_R_sq"),
        (SMALL + "[renormalization]\ncondition = \"renormalized_quark\"\n", "needs m_R_sq"),
        (SMALL.replace("[0.5, 8.0]]", "[1.0, 3.0]]"), "resolution too coarse"),
        (SMALL.replace("[0.5, 8.0]]", "[0.3, 8.0]]"), "not a multiple of h"),
        (SMALL + "[renormalization]\ncondition = \"magic\"\n", "unknown renormalisation condition"),
        ("[foo]\nx = 1\n", "unknown section"),
    ],
    ids=["negative-mu", "unknown-coupling", "unknown-key", "inconsistent-spacing",
         "inconsistent-units", "override-needs-m_R", "illustrative-has-no-m_R", "too-coarse",
         "kmax-not-multiple", "unknown-condition", "unknown-section"],
)
def test_bad_configs_get_specific_messages(tmp_path, capsys, text, message):
    with pytest.raises(ConfigError, match=None) as err:
        load_config(_write(tmp_path, text))
    assert message in str(err.value)
    assert cli_main(["run", str(_write(tmp_path, text)), "--out", str(tmp_path / "o")]) == 2
    assert message in capsys.readouterr().err


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml")


def test_default_run_config_is_valid():
    cfg = load_config(ROOT / "runs" / "b_meson_default.toml")
    assert cfg.renormalization.kind == "renormalized_quark" and len(cfg.resolutions) >= 4
    assert len({r.kappa_max for r in cfg.resolutions}) >= 3  # kappa_max from three cutoffs
    assert config_from_dict({"resolutions": {"ladder": [[0.5, 6.0], [0.4, 6.0]]}}).preset


def test_example_script_runs(capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["form_factor_table.py"])
    runpy.run_path(str(ROOT / "examples" / "form_factor_table.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert "rho2" in out and "xi(w)" in out


@pytest.mark.slow
def test_default_run_end_to_end(tmp_path):
    assert cli_main(["run", str(ROOT / "runs" / "b_meson_default.toml"), "--out",
                     str(tmp_path), "--quiet"]) == 0


def test_two_link_table_run(tmp_path):
    """``[truncation] max_links = 2`` in a table run: P2 > 0, probabilities sum to one, xi(1) = 1
    and decreasing, the frame entry says why it is missing, the list form is refused here."""
    from heavy_meson.run import run

    text = SMALL.replace("[[0.5, 6.0], [0.4, 6.0], [0.5, 8.0]]", "[[1.0, 4.0], [0.8, 4.0], [1.0, 5.0]]")
    text += "[truncation]\nmax_links = 2\n[error_budget]\nenabled = false\n"
    cfg = load_config(_write(tmp_path, text))
    assert cfg.max_links == 2
    res = run(cfg, tmp_path / "out", progress=None)
    assert all(r.status == "ok" for r in res.per_resolution)
    with open(tmp_path / "out" / "isgur_wise.csv") as f:
        assert all(r["xi_longitudinal"] == "nan" for r in csv.DictReader(f))  # not available
    assert json.loads((tmp_path / "out" / "results.json").read_text())["config"]["max_links"] == 2
    for r in res.per_resolution:
        s = r.scalars
        assert s["P2"] > 0 and abs(s["P0"] + s["P1"] + s["P2"] - 1.0) < 1e-10
        assert r.xi[0] == pytest.approx(1.0, abs=1e-9) and all(np.diff(r.xi) < 0)
    b = res.observables["rho2"]["error_budget"]
    assert "longitudinal-frame xi is written for <= 1 link" in b["frame"]
    assert "at most 2 links" in b["links_truncation"]
    with pytest.raises(ConfigError, match="links-convergence study"):
        config_from_dict({"resolutions": {"ladder": [[0.5, 6.0], [0.4, 6.0]]},
                          "truncation": {"max_links": [1, 2]}})
    with pytest.raises(ConfigError, match="max_links must be 0, 1, 2 or 3"):
        config_from_dict({"resolutions": {"ladder": [[0.5, 6.0], [0.4, 6.0]]},
                          "truncation": {"max_links": 4}})
