"""Scan designs and configuration parsing (issue 5): grids, lists, Sobol/LHS boxes, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from lfqcd.errors import ConfigError, InvalidParameterError
from lfqcd.scan.config import Range, config_from_dict
from lfqcd.scan.designs import (
    build_design,
    cross,
    grid_design,
    lhs_design,
    list_design,
    sobol_design,
    unit_sample,
)
from lfqcd.scan.planning import nearest_neighbour_path, plan_order


def test_grid_is_full_product_last_axis_fastest():
    pts = grid_design({"a": [1, 2], "b": [0.1, 0.2, 0.3]})
    assert len(pts) == 6
    assert pts[0] == {"a": 1, "b": 0.1} and pts[1] == {"a": 1, "b": 0.2}
    assert {(p["a"], p["b"]) for p in pts} == {(a, b) for a in (1, 2) for b in (0.1, 0.2, 0.3)}


def test_sobol_covers_box_one_point_per_cell_and_respects_bounds():
    ranges = {"x": Range(-1.0, 3.0), "y": Range(0.5, 0.75)}
    pts = sobol_design(ranges, 64, seed=3)
    x = np.array([p["x"] for p in pts])
    y = np.array([p["y"] for p in pts])
    assert x.min() >= -1.0 and x.max() <= 3.0 and y.min() >= 0.5 and y.max() <= 0.75
    # a scrambled 2-D Sobol' net of 2^6 points has exactly one point in each 8 x 8 cell
    cx = np.floor((x + 1.0) / 4.0 * 8).astype(int)
    cy = np.floor((y - 0.5) / 0.25 * 8).astype(int)
    cells = set(zip(cx.tolist(), cy.tolist(), strict=True))
    assert len(cells) == 64


def test_lhs_one_point_per_stratum_on_every_axis():
    ranges = {"a": Range(0.0, 1.0), "b": Range(10.0, 20.0), "c": Range(-5.0, -4.0)}
    n = 20
    pts = lhs_design(ranges, n, seed=11)
    for name, r in ranges.items():
        v = np.array([p[name] for p in pts])
        assert v.min() >= r.low and v.max() <= r.high
        strata = np.floor((v - r.low) / (r.high - r.low) * n).astype(int)
        assert sorted(strata.tolist()) == list(range(n))


def test_log_and_integer_ranges_stay_in_bounds_and_fill_them():
    ranges = {"g": Range(1e-3, 10.0, log=True), "L": Range(8, 12, integer=True)}
    pts = sobol_design(ranges, 128, seed=0)
    g = np.array([p["g"] for p in pts])
    L = [p["L"] for p in pts]
    assert g.min() >= 1e-3 and g.max() <= 10.0
    # log scale: every decade gets about a quarter of the points
    decades = np.floor(np.log10(g)).astype(int)
    assert set(decades.tolist()) == {-3, -2, -1, 0}
    assert all(isinstance(v, int) for v in L) and set(L) == {8, 9, 10, 11, 12}


def test_quasi_random_designs_are_seeded():
    a = unit_sample("sobol", 3, 16, seed=5)
    assert np.array_equal(a, unit_sample("sobol", 3, 16, seed=5))
    assert not np.array_equal(a, unit_sample("sobol", 3, 16, seed=6))
    assert np.array_equal(unit_sample("lhs", 2, 7, seed=1), unit_sample("lhs", 2, 7, seed=1))


def test_build_design_crosses_axes_with_sampled_block():
    cfg = config_from_dict({
        "design": {"sampler": "lhs", "n_points": 5, "ranges": {"t2": [0.0, 1.0]},
                   "axes": {"L": [10, 12], "V": {"start": 0.0, "stop": 1.0, "num": 3}}},
    })
    pts = build_design(cfg.design, seed=2)
    assert len(pts) == 2 * 3 * 5
    assert cfg.design.varied() == ["L", "V", "t2"]
    assert sorted({p["V"] for p in pts}) == [0.0, 0.5, 1.0]
    assert cross([{"a": 1}], [{"b": 2}, {"b": 3}]) == [{"a": 1, "b": 2}, {"a": 1, "b": 3}]
    assert list_design([{"a": 1}]) == [{"a": 1}]


@pytest.mark.parametrize(
    ("design", "exc", "match"),
    [
        ({"sampler": "sobol", "n_points": 8, "ranges": {"t2": [0.5, 0.5]}},
         InvalidParameterError, "empty"),
        ({"sampler": "sobol", "n_points": 8, "ranges": {"t2": [1.0, 0.0]}},
         InvalidParameterError, "empty"),
        ({"axes": {"V": []}}, InvalidParameterError, "empty"),
        ({"axes": {"V": {"start": 1.0, "stop": 1.0, "num": 4}}}, InvalidParameterError, "empty"),
        ({"sampler": "lhs", "n_points": 0, "ranges": {"t2": [0.0, 1.0]}},
         InvalidParameterError, "n_points"),
        ({"points": []}, InvalidParameterError, "empty"),
        ({"sampler": "halton", "n_points": 4, "ranges": {"t2": [0, 1]}}, ConfigError, "sampler"),
        ({"ranges": {"t2": [0, 1]}}, ConfigError, "sampler"),
        ({"points": [{"t2": 0.1}], "sampler": "sobol", "n_points": 2,
          "ranges": {"V": [0, 1]}}, ConfigError, "both"),
        ({}, ConfigError, "varies nothing"),
    ],
)
def test_bad_designs_give_specific_messages(design, exc, match):
    with pytest.raises(exc, match=match):
        config_from_dict({"design": design})


def test_bad_tables_keys_and_fixed_varied_clash():
    with pytest.raises(ConfigError, match="unknown table"):
        config_from_dict({"design": {"axes": {"V": [1]}}, "scna": {}})
    with pytest.raises(ConfigError, match="unknown key"):
        config_from_dict({"design": {"axes": {"V": [1]}}, "scan": {"simulater": "x:y"}})
    with pytest.raises(ConfigError, match="both fixed and varied"):
        config_from_dict({"design": {"axes": {"V": [1]}}, "fixed": {"V": 2.0}})
    with pytest.raises(ConfigError, match="missing \\[design\\]"):
        config_from_dict({"scan": {}})


def test_planning_groups_by_resolution_and_walks_short_path():
    res = ["a", "b", "a", "b", "a"]
    X = np.array([[0.9], [0.5], [0.0], [0.1], [0.5]])
    order = plan_order(res, X)
    assert order == [2, 4, 0, 3, 1]
    path = nearest_neighbour_path(np.random.default_rng(0).random((50, 2)))
    assert sorted(path) == list(range(50))
