"""Scan result store (issue 5): stable keys, atomic writes, corruption detection, manifest."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import lfqcd.scan.store as store_mod
from lfqcd.errors import ConfigError, ResultFileError
from lfqcd.scan.keys import canonical_json, point_key
from lfqcd.scan.store import ScanStore, config_diff

REF = "lfqcd.simulator:toy_simulate"
VERSION = {"lfqcd": "0.1.0", "simulator": "0.1.0"}
PARAMS = {"L": 12, "N": 5, "t2": 0.1, "V": 1.5}


def test_point_key_is_stable_and_content_addressed():
    key = point_key(REF, PARAMS, "auto", VERSION)
    # golden value: changing it invalidates every stored scan (bump the code version instead)
    assert key == "6c6ff8aca6bbc727a94f91f499deb1decc20ed836a2274d48b8b3733b7bbc64f"
    assert point_key(REF, dict(reversed(list(PARAMS.items()))), "auto", VERSION) == key
    assert point_key(REF, {**PARAMS, "t2": np.float64(0.1), "L": np.int64(12)}, "auto",
                     VERSION) == key
    assert point_key(REF, {**PARAMS, "t2": 0.1 + 1e-18}, "auto", VERSION) == key  # same float
    assert point_key(REF, {**PARAMS, "t2": np.nextafter(0.1, 1)}, "auto", VERSION) != key
    assert point_key(REF, PARAMS, "cupy", VERSION) != key
    assert point_key(REF, PARAMS, "auto", {**VERSION, "lfqcd": "0.2.0"}) != key
    assert point_key(REF, {**PARAMS, "V": -0.0}, "auto", VERSION) == point_key(
        REF, {**PARAMS, "V": 0.0}, "auto", VERSION)


def test_point_key_is_the_same_in_another_interpreter():
    code = (
        "from lfqcd.scan.keys import point_key;"
        f"print(point_key({REF!r}, {PARAMS!r}, 'auto', {VERSION!r}))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, check=True, timeout=60).stdout.strip()
    assert out == point_key(REF, PARAMS, "auto", VERSION)


def test_canonical_json_sorts_and_spells_non_finite_values():
    assert canonical_json({"b": 1, "a": (1, 2)}) == '{"a":[1,2],"b":1}'
    assert canonical_json({"a": float("nan"), "b": [-np.inf]}) == '{"a":"nan","b":["-inf"]}'
    key = point_key(REF, {**PARAMS, "m0": float("nan")}, "auto", VERSION)
    assert key == point_key(REF, {**PARAMS, "m0": np.nan}, "auto", VERSION)


def _write(store, key="k" * 64):
    return store.write_point(key, {"params": PARAMS}, {"E0": -1.5},
                             {"spectrum": np.arange(3.0)})


def test_write_point_round_trips(tmp_path):
    store = ScanStore(tmp_path)
    _write(store)
    data = store.load_point("k" * 64)
    assert data.observables == {"E0": -1.5}
    assert np.array_equal(data.arrays["spectrum"], np.arange(3.0))
    assert data.meta["params"] == PARAMS
    assert not [p for p in store.points_dir.iterdir() if p.name.endswith(".tmp")]


def test_atomic_write_never_shows_a_partial_file(tmp_path, monkeypatch):
    store = ScanStore(tmp_path)
    final = store.point_path("a" * 64)
    seen = {}
    real_savez = np.savez

    def savez_then_crash(fh, **content):
        real_savez(fh, **content)
        seen["final_exists_while_writing"] = final.exists()
        fh.truncate(10)
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(store_mod.np, "savez", savez_then_crash)
    with pytest.raises(OSError, match="simulated"):
        _write(store, "a" * 64)
    assert seen == {"final_exists_while_writing": False}
    assert not final.exists()
    assert list(store.points_dir.iterdir()) == []  # temporary file removed too


def test_atomic_write_replaces_only_when_complete(tmp_path, monkeypatch):
    store = ScanStore(tmp_path)
    key = "b" * 64
    _write(store, key)
    before = store.point_path(key).read_bytes()
    real_replace = os.replace
    observed = []

    def spy(src, dst):
        observed.append((os.path.basename(src), store.point_path(key).read_bytes() == before))
        real_replace(src, dst)

    monkeypatch.setattr(store_mod.os, "replace", spy)
    store.write_point(key, {"params": PARAMS}, {"E0": -2.0}, {})
    assert observed and observed[0][0].startswith(".") and observed[0][1]
    assert store.load_point(key).observables == {"E0": -2.0}


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty", "wrong_key"])
def test_corrupt_point_file_is_detected(tmp_path, damage):
    store = ScanStore(tmp_path)
    key = "c" * 64
    path = _write(store, key)
    raw = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(raw[: len(raw) // 2])
    elif damage == "garbage":
        path.write_bytes(raw[:100] + b"\x00" * 50 + raw[150:])
    elif damage == "empty":
        path.write_bytes(b"")
    else:
        os.replace(path, store.point_path("d" * 64))
        with pytest.raises(ResultFileError):
            store.load_point("d" * 64)
        return
    with pytest.raises(ResultFileError, match="corrupt|truncated"):
        store.load_point(key)


def test_manifest_tolerates_a_torn_last_line(tmp_path):
    store = ScanStore(tmp_path)
    store.append_manifest({"key": "x", "status": "failed", "error": "boom"})
    with open(store.manifest_path, "a") as fh:
        fh.write('{"key": "y", "status": "o')  # writer died mid-line
    store.append_manifest({"key": "x", "status": "ok", "residual": float("nan")})
    latest, bad = store.read_manifest()
    assert bad == 1
    assert latest["x"]["status"] == "ok" and latest["x"]["residual"] is None
    lines = store.manifest_path.read_text().splitlines()
    assert json.loads(lines[-1])["key"] == "x"


def test_folder_of_another_config_is_refused_without_touching_it(tmp_path):
    store = ScanStore(tmp_path / "s")
    store.check_compatible({"design": {"n": 4}})  # new folder: fine
    store.write_meta({"science": {"design": {"n": 4}, "seed": 0}})
    store.check_compatible({"design": {"n": 4}, "seed": 0})
    before = store.meta_path.read_bytes()
    with pytest.raises(ConfigError, match=r"different scan configuration.*design\.n: 4 -> 8"):
        store.check_compatible({"design": {"n": 8}, "seed": 0})
    assert store.meta_path.read_bytes() == before
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="not a scan store"):
        ScanStore(other).check_compatible({})


def test_config_diff_lists_changes():
    assert config_diff({"a": 1, "b": {"c": 2}}, {"a": 1, "b": {"c": 3}, "d": 0}) == [
        "b.c: 2 -> 3", "d: added 0"]
