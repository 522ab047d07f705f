"""``lfqcd infer`` / ``lfqcd predict`` (issue 13, item 1): configuration, forward model,
posterior machinery against analytic answers, and an end-to-end run on the stand-in simulator."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from lfqcd.cli import main as cli_main
from lfqcd.errors import ConfigError, InvalidParameterError
from mlsurrogate.inverse import posterior as post
from mlsurrogate.inverse.config import Target, config_from_dict
from mlsurrogate.inverse.forward import ForwardModel
from mlsurrogate.inverse.standin import simulate as standin
from mlsurrogate.predict import parse_point

STANDIN = "mlsurrogate.inverse.standin:simulate"


def raw_config(**changes: object) -> dict:
    raw = {
        "infer": {"seed": 3},
        "parameters": {"t_F": [0.3, 1.2], "mu": [0.8, 1.6]},
        "couplings": {"G": 1.0, "m": 0.5, "t_ratio": 0.6},
        "simulators": [{"ref": STANDIN}],
        "targets": {"rho2": {"value": 0.6, "error": 0.01}},
        "surrogate": {"n_points": 64, "members": 3, "width": 32, "max_epochs": 60},
        "posterior": {"walkers": 12, "steps": 250, "burn": 100, "n_prior": 2048},
        "verify": {"n_posterior": 2, "refine_max_nfev": 10, "reference_preset": "illustrative"},
    }
    raw.update(changes)
    return raw


# -- configuration --------------------------------------------------------------------------
@pytest.mark.parametrize("changes, match", [
    ({"bogus": {}}, "unknown section"),
    ({"parameters": {"t_F": [1.0, 0.5]}}, "low 1.0 must be below"),
    ({"parameters": {}}, "at least one fitted"),
    ({"targets": {"rho2": {"value": 1.0}}}, "value = ..., error"),
    ({"targets": {"rho2": {"value": 1.0, "error": 0.0}}}, "error must be > 0"),
    ({"simulators": []}, "at least one"),
    ({"couplings": {"t_F": 0.5}}, "both fitted"),
    ({"surrogate": {"members": 1}}, "members must be >= 2"),
    ({"surrogate": {"source": "model"}}, "needs path"),
    ({"posterior": {"walkers": 3}}, "walkers must be even"),
])
def test_config_errors_name_the_mistake(changes: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        config_from_dict(raw_config(**changes))


def test_cli_bad_config_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    f = tmp_path / "bad.toml"
    f.write_text("[parameters]\nt_F = [1.0]\n")
    assert cli_main(["infer", str(f), "--out", str(tmp_path / "o")]) == 2
    assert "must be [low, high]" in capsys.readouterr().err


# -- forward model --------------------------------------------------------------------------
def test_forward_assembles_couplings_and_derived_units() -> None:
    fwd = ForwardModel(config_from_dict(raw_config()))
    vals = fwd.values({"t_F": 0.8, "mu": 1.3})
    assert vals["t_NF"] == pytest.approx(0.48)
    assert vals["w_FN"] == pytest.approx(0.8 * 0.48 / 0.5**2)  # Lagrangian swaps, m_V = m
    obs = fwd.evaluate({"t_F": 0.8, "mu": 1.3})
    direct = standin({**{k: vals[k] for k in ("G", "m", "mu", "t_F", "t_NF")},
                      **{k: vals[k] for k in ("w_FF", "w_NN", "w_FN")}}).observables
    inv_a = math.sqrt(2 * 0.44**2 / math.pi / 1.0)
    assert obs["fB_GeV"] == pytest.approx(direct["fB_sqrtM"] * inv_a**1.5 / math.sqrt(5.279))
    assert obs["fB2_rho2_GeV2"] == pytest.approx(obs["fB_GeV"] ** 2 * direct["rho2"])
    assert obs["lambda_B_GeV"] == pytest.approx(direct["lambda_B"] * inv_a)


def test_lambda_bar_in_gev_becomes_the_lattice_target_per_point() -> None:
    raw = raw_config(simulators=[{"ref": "heavy_meson.simulator:simulate", "fixed": {"h": 0.4}}],
                     parameters={"G": [0.5, 2.0]}, couplings={"t_ratio": 0.6},
                     scale={"lambda_bar_gev": 0.555})
    fwd = ForwardModel(config_from_dict(raw))
    for G in (0.5, 2.0):
        (point,) = fwd.points({"G": G})
        assert point["lambda_bar_target"] == pytest.approx(0.555 / fwd.inverse_spacing_gev(G))
        assert point["h"] == 0.4 and point["G"] == G


# -- posterior against an analytic Gaussian --------------------------------------------------
class LinearEnsemble:
    """y = A x + b with a constant ensemble spread s: the posterior is Gaussian in closed form."""

    output_names = ["y0", "y1"]

    def __init__(self, spread: float) -> None:
        self.A = np.array([[1.0, 0.5], [-0.3, 2.0]])
        self.b = np.array([0.1, -0.2])
        self.s = spread

    def column(self, name: str) -> int:
        return self.output_names.index(name)

    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        X = np.atleast_2d(X)
        mean = X @ self.A.T + self.b
        return mean, np.full_like(mean, self.s)


@pytest.mark.parametrize("with_err", [True, False])
def test_posterior_matches_closed_form(with_err: bool) -> None:
    ens = LinearEnsemble(spread=0.03)
    x_true = np.array([0.4, 0.7])
    y = ens.A @ x_true + ens.b
    targets = {"y0": Target(float(y[0]), 0.04), "y1": Target(float(y[1]), 0.04)}
    lik = post.Likelihood(ens, targets, np.array([-2.0, -2.0]), np.array([3.0, 3.0]), 0.0, with_err)
    var = 0.04**2 + (0.03**2 if with_err else 0.0)
    cov = np.linalg.inv(ens.A.T @ ens.A / var)
    prior = np.random.default_rng(0).uniform(-2, 3, size=(2000, 2))
    bf = post.best_fit(lik, prior)
    assert np.allclose(bf, x_true, atol=1e-3)
    lap = post.laplace(lik, bf)
    assert np.allclose(lap["std"], np.sqrt(np.diag(cov)), rtol=0.02)
    mc = post.sample(lik, bf, walkers=16, steps=1500, burn=300, seed=1)
    assert np.allclose(mc["samples"].mean(0), x_true, atol=0.3 * np.sqrt(np.diag(cov)).max())
    assert np.allclose(mc["samples"].std(0), np.sqrt(np.diag(cov)), rtol=0.15)


def test_tension_map_finds_no_joint_region_when_targets_conflict() -> None:
    ens = LinearEnsemble(spread=0.01)
    # y0 = x0 + 0.5 x1 + 0.1 and y1 = -0.3 x0 + 2 x1 - 0.2 on [0,1]^2: y0 = 3 needs x0 + 0.5 x1 = 2.9
    targets = {"y0": Target(3.0, 0.05), "y1": Target(0.0, 0.05)}
    lik = post.Likelihood(ens, targets, np.zeros(2), np.ones(2))
    prior = np.random.default_rng(0).random((4000, 2))
    t = post.tension_map(lik, prior, ["x0", "x1"])
    assert t["fraction_all_met"] == 0.0 and t["joint_region_box"] is None
    assert t["fraction_met"]["y1"] > 0.0
    assert t["least_tension_point"]["x0"] > 0.95  # pushed to the edge where y0 is largest


# -- end to end on the stand-in ----------------------------------------------------------------
def test_infer_recovers_a_known_point_and_predict_reads_the_ensemble(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    truth = {"t_F": 0.7, "mu": 1.1}
    fwd = ForwardModel(config_from_dict(raw_config()))
    obs = fwd.evaluate(truth)
    raw = raw_config(targets={"rho2": {"value": obs["rho2"], "error": 0.01},
                              "lambda_B_GeV": {"value": obs["lambda_B_GeV"], "error": 0.01}})
    cfg_file = tmp_path / "infer.toml"
    cfg_file.write_text(toml(raw))
    out = tmp_path / "out"
    assert cli_main(["infer", str(cfg_file), "--out", str(out), "--quiet"]) == 0
    res = json.loads((out / "infer.json").read_text())
    for name, value in truth.items():
        s = res["posterior"]["summary"][name]
        assert abs(res["best_fit"][name] - value) < 3 * s["std"]
        assert s["median"] - 3 * s["minus"] < value < s["median"] + 3 * s["plus"]
        assert s["std"] < 0.1 * value
    best = res["verification"][0]
    assert best["label"] == "best fit"
    for name in ("rho2", "lambda_B_GeV"):  # the solver agrees with the surrogate at the fit
        d = best["observables"][name]
        assert abs(d["solver"] - d["surrogate"]) < 0.03 * abs(d["solver"])
    assert res["surrogate"]["heldout"]["rho2"]["median_rel_err"] < 0.05
    refined = res["solver_refined"]  # least squares on the stand-in itself meets the targets
    assert max(abs(v) for v in refined["pulls_target_error_only"].values()) < 0.1
    ref = res["reference"]  # the illustrative preset, solved: t_F = 0.5, mu = 1.2
    assert ref["point"] == {"t_F": 0.5, "mu": 1.2}
    assert ref["solver"]["rho2"] == pytest.approx(fwd.evaluate({"t_F": 0.5, "mu": 1.2})["rho2"])
    assert (out / "corner.png").stat().st_size > 0
    capsys.readouterr()
    assert cli_main(["predict", str(out / "surrogate"), "--at", "t_F=0.7,mu=1.1", "--json"]) == 0
    pred = json.loads(capsys.readouterr().out)[0]["observables"]
    assert pred["rho2"]["std"] > 0
    assert abs(pred["rho2"]["mean"] - obs["rho2"]) < 0.03 * obs["rho2"]


def toml(raw: dict) -> str:
    """Minimal TOML writer for the nested dicts used here."""
    def val(v: object) -> str:
        if isinstance(v, dict):
            return "{" + ", ".join(f"{k} = {val(x)}" for k, x in v.items()) + "}"
        if isinstance(v, list):
            return "[" + ", ".join(val(x) for x in v) + "]"
        return json.dumps(v)
    lines = []
    for sec, table in raw.items():
        if isinstance(table, list):
            for entry in table:
                lines.append(f"[[{sec}]]")
                lines += [f"{k} = {val(v)}" for k, v in entry.items()]
        else:
            lines.append(f"[{sec}]")
            lines += [f"{k} = {val(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


# -- predict ----------------------------------------------------------------------------------
@pytest.mark.parametrize("text, match", [("t_F", "name=value"), ("t_F=abc", "not a number"),
                                         (",", "at least one")])
def test_predict_parses_points_with_clear_errors(text: str, match: str) -> None:
    with pytest.raises(InvalidParameterError, match=match):
        parse_point(text)


def test_predict_missing_model_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert cli_main(["predict", str(tmp_path / "nope.pt"), "--at", "t_F=1"]) == 2
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.slow
def test_lightlight_simulator_reproduces_the_calibrated_point() -> None:
    from mlsurrogate.inverse.lightlight import simulate

    obs = simulate({}).observables  # calibrated preset (renormalised quark) at K = 24
    record = json.loads((Path(__file__).resolve().parents[1] / "docs" / "calibration.json")
                        .read_text())
    row = next(r for r in record["stability"]["rows"] if r["K"] == 24)
    assert obs["m_pi_sq_GeV2"] == pytest.approx(row["m_pi_GeV"] ** 2, rel=1e-6)
    assert obs["f_pi_GeV"] == pytest.approx(row["f_pi_GeV"], rel=1e-6)


def test_scan_store_rows_get_the_derived_observables(tmp_path: Path) -> None:
    from mlsurrogate.inverse.run import _scan_data

    store = tmp_path / "scan"
    store.mkdir()
    fwd = ForwardModel(config_from_dict(raw_config()))
    pts = [{"t_F": 0.5, "mu": 1.0}, {"t_F": 0.9, "mu": 1.4}]
    lines = ["key,status,param.t_F,param.mu,obs.rho2,obs.fB_sqrtM,obs.lambda_B"]
    for i, p in enumerate(pts):
        o = standin({k: v for k, v in fwd.values(p).items() if k != "t_ratio"}).observables
        lines.append(f"k{i},ok,{p['t_F']},{p['mu']},{o['rho2']},{o['fB_sqrtM']},{o['lambda_B']}")
    (store / "summary.csv").write_text("\n".join(lines) + "\n")
    (store / "scan.json").write_text(json.dumps({"params": ["t_F", "mu"],
                                                 "observables": ["rho2", "fB_sqrtM", "lambda_B"]}))
    cfg = config_from_dict(raw_config(surrogate={"source": "scan", "path": str(store)}))
    X, Y, names = _scan_data(cfg, fwd)
    assert X.shape == (2, 2) and "fB_GeV" in names and "fB2_rho2_GeV2" in names
    for row, p in zip(Y, pts, strict=True):
        want = fwd.evaluate(p)
        assert row[names.index("fB_GeV")] == pytest.approx(want["fB_GeV"])
        assert row[names.index("lambda_B_GeV")] == pytest.approx(want["lambda_B_GeV"])
