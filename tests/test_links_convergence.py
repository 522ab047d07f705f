"""links_convergence: a tiny ladder writes the CSV with one row per (resolution, max_links),
probabilities summing to one and P2 > 0 beyond the femtoworm (issue 11 "Done means")."""

from __future__ import annotations

import csv

import pytest

from heavy_meson.links_convergence import LinksConfig, main
from lfqcd.errors import InvalidParameterError


def _write(path, body: str):
    path.write_text(body)
    return path


TINY = """
[couplings]
preset = "illustrative"
[truncation]
max_links = [1, 2]
[resolution]
h = [1.0, 0.8]
kappa_max = [5.0, 4.0]
[renormalization]
lambda_bar_GeV = 0.3
counterterm_sectors = ["emitting", "zero"]
"""


def test_tiny_ladder_writes_the_csv(tmp_path):
    cfg = _write(tmp_path / "links.toml", TINY)
    assert main([str(cfg), "--out", str(tmp_path / "out")]) == 0
    rows = list(csv.DictReader(open(tmp_path / "out" / "links_convergence.csv")))
    keys = [(r["counterterm_sectors"], int(r["max_links"]), float(r["h"])) for r in rows]
    assert keys == [(ct, n, h) for ct in ("emitting", "zero") for n in (1, 2) for h in (1.0, 0.8)]
    # the two counterterm placements agree at one link
    for i in (0, 1):
        assert abs(float(rows[i]["rho2"]) - float(rows[4 + i]["rho2"])) < 1e-8
    for r in rows:
        P = [float(r[f"P{n}"]) for n in range(4)]
        assert abs(sum(P) - 1.0) < 1e-10
        assert abs(float(r["lambda_bar_GeV"]) - 0.3) < 1e-5  # the renormalisation condition
        assert (P[2] > 0) == (int(r["max_links"]) >= 2)
        assert float(r["rho2_err"]) >= 0
    assert (tmp_path / "out" / "links_convergence.png").stat().st_size > 0
    assert (tmp_path / "out" / "links_convergence.json").is_file()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("[resolution]\nh = [1.0]\n", r"\[resolution\] needs equal-length lists"),
        (TINY.replace("max_links = [1, 2]", "max_links = [4]"), r"max_links must list 0\.\.3"),
        (TINY + "[links]\nlam_X = 1.0\n", r"\[links\]"),
        (TINY + "[extra]\n", r"unknown section\(s\) \['extra'\]"),
        (TINY.replace('"zero"]', '"all"]'), r"counterterm_sectors must be among"),
    ],
)
def test_bad_config(tmp_path, body, message):
    with pytest.raises(InvalidParameterError, match=message):
        LinksConfig.from_toml(_write(tmp_path / "bad.toml", body))


def test_lfqcd_run_dispatches_a_links_study(tmp_path):
    """`lfqcd run` of a configuration with a list ``[truncation] max_links`` is the study, under
    the output-folder contract (a second run into the same folder resumes, another command's
    folder is refused)."""
    from lfqcd.cli import main as cli_main

    cfg = _write(tmp_path / "links.toml", TINY.replace('["emitting", "zero"]', '["emitting"]'))
    out = tmp_path / "out"
    assert cli_main(["run", str(cfg), "--out", str(out)]) == 0
    rows = list(csv.DictReader(open(out / "links_convergence.csv")))
    assert [int(r["max_links"]) for r in rows] == [1, 1, 2, 2]
    assert all(abs(sum(float(r[f"P{n}"]) for n in range(4)) - 1.0) < 1e-10 for r in rows)
    assert (out / "links_convergence.png").stat().st_size > 0


def test_fitted_link_couplings_config(tmp_path):
    """runs/b_meson_links_fitted.toml is runs/b_meson_links.toml with the string-fitted link
    couplings (docs/physics_links.md sections 8, 10): it parses, differs only in [links], holds
    nonzero lam_S, lam_P, beta (lam_B 0: undetermined by the string), and a tiny 2-link point
    with those couplings runs, renormalised, with probabilities summing to one and observables
    that differ from the zero-coupling point (the couplings act)."""
    from pathlib import Path

    from lfqcd.tomlio import read_toml

    runs = Path(__file__).resolve().parent.parent / "runs"
    fitted, zero = read_toml(runs / "b_meson_links_fitted.toml"), read_toml(runs / "b_meson_links.toml")
    assert {k: v for k, v in fitted.items() if k != "links"} == {
        k: v for k, v in zero.items() if k != "links"}
    lc = LinksConfig.from_toml(runs / "b_meson_links_fitted.toml").link_couplings
    assert lc.lam_S != 0 and lc.lam_P != 0 and lc.beta > 0 and lc.lam_B == 0
    assert lc.two_link_emission and lc.pair_coulomb
    links = "\n".join(f"{k} = {v}" for k, v in fitted["links"].items() if not isinstance(v, bool))
    tiny = TINY.replace("max_links = [1, 2]", "max_links = [2]").replace(
        "h = [1.0, 0.8]", "h = [1.0]").replace("kappa_max = [5.0, 4.0]", "kappa_max = [5.0]"
    ).replace('["emitting", "zero"]', '["emitting"]')
    rows = {}
    for name, body in (("zero", tiny), ("fitted", tiny + "[links]\n" + links + "\n")):
        cfg = _write(tmp_path / f"{name}.toml", body)
        assert main([str(cfg), "--out", str(tmp_path / name)]) == 0
        (rows[name],) = csv.DictReader(open(tmp_path / name / "links_convergence.csv"))
    for r in rows.values():
        P = [float(r[f"P{n}"]) for n in range(4)]
        assert abs(sum(P) - 1.0) < 1e-10 and P[2] > 0
        assert abs(float(r["lambda_bar_GeV"]) - 0.3) < 1e-5
    assert abs(float(rows["fitted"]["rho2"]) - float(rows["zero"]["rho2"])) > 1e-4
