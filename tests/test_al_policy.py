"""Selection policy of issue 7 (uncertainty sampling, mlsurrogate/active/policy.py): scores -> probabilities,
multinomial batch draw, jitter, de-duplication, uniform mix; the coupling box; the config."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lfqcd.errors import ConfigError, InvalidParameterError
from mlsurrogate.active.config import BoxAxis, config_from_dict
from mlsurrogate.active.policy import (
    candidate_pool,
    draw_batch,
    jitter_inside,
    selection_probabilities,
)
from mlsurrogate.active.simulators.client import CouplingBox


def test_probabilities_proportional_to_score() -> None:
    s = np.array([1.0, 2.0, 3.0, 4.0])
    p = selection_probabilities(s, uniform_mix=0.0)
    np.testing.assert_allclose(p, s / s.sum())  # spec 3.2: w_i = s_i / sum_j s_j


def test_uniform_mix_fraction() -> None:
    M, eps = 100, 0.2
    s = np.zeros(M)
    s[7] = 5.0
    p = selection_probabilities(s, uniform_mix=eps)
    assert p.sum() == pytest.approx(1.0)
    assert p[7] == pytest.approx(1 - eps + eps / M)
    np.testing.assert_allclose(np.delete(p, 7), eps / M)
    # empirically: draws that land on zero-score candidates ~ eps (M - 1)/M of the batch
    rng = np.random.default_rng(0)
    counts = rng.multinomial(20000, p)
    frac = 1 - counts[7] / 20000
    assert frac == pytest.approx(eps * (M - 1) / M, abs=0.01)


def test_probabilities_edge_cases() -> None:
    p = selection_probabilities(np.array([0.0, np.nan, -1.0, 0.0]), uniform_mix=0.0)
    np.testing.assert_allclose(p, 0.25)  # nothing to prefer: uniform
    p2 = selection_probabilities(np.array([1.0, 2.0]), uniform_mix=0.0, power=2.0)
    np.testing.assert_allclose(p2, [0.2, 0.8])
    with pytest.raises(InvalidParameterError, match="uniform_mix"):
        selection_probabilities(np.ones(3), uniform_mix=1.5)
    with pytest.raises(InvalidParameterError, match="empty pool"):
        selection_probabilities(np.zeros(0))


def test_draw_is_seeded_and_respects_batch_size() -> None:
    pool = candidate_pool(2, 256, "sobol", seed=1)
    p = selection_probabilities(np.linspace(0.1, 1.0, 256))
    a = draw_batch(pool, p, 17, np.random.default_rng(5), jitter=0.15)
    b = draw_batch(pool, p, 17, np.random.default_rng(5), jitter=0.15)
    c = draw_batch(pool, p, 17, np.random.default_rng(6), jitter=0.15)
    assert a.shape == (17, 2)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_draw_prefers_high_scores() -> None:
    pool = candidate_pool(1, 64, "sobol", seed=0)
    score = np.where(pool[:, 0] > 0.5, 10.0, 0.1)
    u = draw_batch(pool, selection_probabilities(score, uniform_mix=0.0), 20,
                   np.random.default_rng(0), jitter=0.0)
    assert np.mean(u[:, 0] > 0.5) > 0.8  # 100:1 odds per candidate, 32 candidates per half


def test_dedup_against_simulated_and_within_batch() -> None:
    pool = candidate_pool(2, 32, "sobol", seed=3)
    p = np.zeros(32)
    p[:4] = 1.0  # all the mass on four candidates, three of them already simulated
    rng = np.random.default_rng(0)
    with pytest.raises(InvalidParameterError, match="only 1 of 2 requested points are new"):
        draw_batch(pool, p, 2, rng, jitter=0.0, exclude=pool[:3])
    u = draw_batch(pool, p + 1e-3, 10, rng, jitter=0.0, exclude=pool[:3])
    d_sim = np.min(np.linalg.norm(u[:, None, :] - pool[None, :3, :], axis=2), axis=1)
    assert np.all(d_sim > 1e-3)
    d_self = np.linalg.norm(u[:, None, :] - u[None, :, :], axis=2) + np.eye(len(u))
    assert np.all(d_self > 1e-3)  # no duplicates inside the batch


def test_jitter_stays_in_box() -> None:
    rng = np.random.default_rng(1)
    corners = np.array([[0.0, 0.0], [1.0, 1.0], [0.0, 1.0]] * 50)
    out = jitter_inside(corners, 0.3, rng)
    assert np.all((out >= 0) & (out <= 1))
    assert not np.array_equal(out, corners)
    pool = candidate_pool(3, 64, "lhs", seed=2)
    u = draw_batch(pool, np.ones(64), 40, rng, jitter=3.0)  # sigma of ~0.75 box widths
    assert np.all((u >= 0) & (u <= 1))


def test_batch_larger_than_pool() -> None:
    pool = candidate_pool(2, 8, "sobol", seed=0)
    with pytest.raises(InvalidParameterError, match="larger than the candidate pool"):
        draw_batch(pool, np.ones(8), 9, np.random.default_rng(0))


def test_candidate_pool_is_quasi_random_and_seeded() -> None:
    a = candidate_pool(3, 128, "sobol", seed=4)
    assert a.shape == (128, 3) and np.all((a >= 0) & (a < 1))
    np.testing.assert_array_equal(a, candidate_pool(3, 128, "sobol", seed=4))
    # Sobol' balance: every octant holds 128/8 points
    octant = (a > 0.5).astype(int) @ np.array([1, 2, 4])
    assert np.bincount(octant, minlength=8).tolist() == [16] * 8


def test_box_maps_linear_and_log_axes() -> None:
    box = CouplingBox((BoxAxis("t_F", 0.2, 0.8), BoxAxis("G", 0.1, 10.0, log=True)))
    u = np.array([[0.0, 0.0], [0.5, 0.5], [1.0, 1.0]])
    x = box.from_unit(u)
    np.testing.assert_allclose(x, [[0.2, 0.1], [0.5, 1.0], [0.8, 10.0]])
    np.testing.assert_allclose(box.to_unit(x), u, atol=1e-12)
    assert box.contains(x).all() and not box.contains(np.array([[0.9, 1.0]])).any()
    with pytest.raises(InvalidParameterError, match="empty"):
        CouplingBox(())
    with pytest.raises(InvalidParameterError, match="degenerate"):
        CouplingBox((BoxAxis("mu", 1.0, 1.0),))


BASE = {"al": {"simulator": "mlsurrogate.active.simulators.standin:simulate"}, "box": {"x1": [0.0, 1.0]}}


@pytest.mark.parametrize("change, exc, match", [
    ({"box": {}}, InvalidParameterError, "coupling box .*is empty"),
    ({"box": None}, InvalidParameterError, "no \\[box\\] table"),
    ({"box": {"x1": [0.3, 0.3]}}, InvalidParameterError, "x1 is degenerate"),
    ({"box": {"x1": [0.5, 0.1]}}, InvalidParameterError, "x1 is degenerate"),
    ({"box": {"x1": [0.0, float("nan")]}}, InvalidParameterError, "not a finite number"),
    ({"policy": {"batch": 64, "pool_size": 32}}, InvalidParameterError,
     "batch=64 is larger than the candidate pool"),
    ({"policy": {"initial": 2}}, InvalidParameterError, "at least 4 initial"),
    ({"policy": {"uniform_mix": 2.0}}, InvalidParameterError, "uniform_mix"),
    ({"policy": {"bogus": 1}}, ConfigError, "unknown key.*bogus"),
    ({"uncertainty": {"kind": "dropout"}}, ConfigError, "uncertainty"),
    ({"uncertainty": {"members": 1}}, InvalidParameterError, "at least 2 members"),
    ({"train": {"lr": "fast"}}, ConfigError, "lr must be float"),
    ({"al": {"mode": "async"}}, ConfigError, "mode"),
    ({"fixed": {"x1": 0.2}}, ConfigError, "both fixed and in the box"),
    ({"extra": {}}, ConfigError, "unknown table"),
    ({"policy": {"kind": "sobol", "initial_sampler": "lhs"}}, ConfigError,
     "continues the initial Sobol' design"),
    ({"policy": {"kind": "sobol"}, "al": {"mode": "streaming"}}, ConfigError,
     "sobol.* is a sequential baseline"),
])
def test_config_bad_input_messages(change: dict, exc: type, match: str) -> None:
    raw = {**BASE, **{k: v for k, v in change.items() if v is not None}}
    if change.get("box", 0) is None:
        raw.pop("box")
    if "al" in change:
        raw["al"] = {**BASE["al"], **change["al"]}
    with pytest.raises(exc, match=match):
        config_from_dict(raw)


def test_config_defaults_and_science() -> None:
    cfg = config_from_dict(BASE)
    assert cfg.policy.uniform_mix == 0.1 and cfg.uncertainty.kind == "ensemble"
    assert cfg.uncertainty.members >= 5 and cfg.model.width == 64
    assert cfg.budget == cfg.policy.initial + cfg.policy.rounds * cfg.policy.batch
    moved = cfg.with_overrides(out="elsewhere", executor_workers=1, stream_sim_workers=1)
    assert moved.science_dict() == cfg.science_dict()  # where/how it runs is not science
    assert cfg.with_overrides(policy_batch=4).science_dict() != cfg.science_dict()
    streaming = cfg.with_overrides(mode="streaming")
    assert streaming.budget == 16 + 5 * 10 + 8  # initial + (R-1) ceil(1.2 B) + B


@pytest.mark.parametrize("name", ["al_toy", "al_small", "al_heavy4"])
def test_shipped_configs_are_valid(name: str) -> None:
    from mlsurrogate.active.config import load_al_config

    root = Path(__file__).resolve().parents[1]
    cfg = load_al_config(root / "runs" / f"{name}.toml")
    assert cfg.name and cfg.budget > cfg.policy.initial
    if name == "al_heavy4":
        assert cfg.names == ["G", "mu", "m", "t_F"] and cfg.budget == 112
