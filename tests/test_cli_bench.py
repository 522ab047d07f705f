"""`lfqcd bench`: lists the benchmark scripts and refuses unknown names."""

from __future__ import annotations

import pytest

from lfqcd.bench import available
from lfqcd.cli import main


def test_bench_lists_every_script(capsys):
    assert main(["bench"]) == 0
    out = capsys.readouterr().out
    for name in ("assembly", "scan_throughput", "phantom_vs_tensor", "al_vs_random",
                 "streaming_vs_sequential"):
        assert name in available() and name in out


def test_unknown_benchmark_is_refused(capsys):
    assert main(["bench", "nope"]) == 2
    assert "unknown benchmark 'nope'" in capsys.readouterr().err


@pytest.mark.slow
def test_bench_runs_a_script():
    assert main(["bench", "scan_throughput", "--points", "4", "--repeat", "1"]) == 0
