"""Batch scans over couplings and resolutions with a resumable result store.

Public API::

    from lfqcd.scan import load_config, run_scan
    cfg = load_config("runs/scan_toy.toml").with_overrides(out="out/toy")
    result = run_scan(cfg)                    # resumable; see ScanResult
    rows = read_summary(result.out / "summary.csv")

Modules: :mod:`~lfqcd.scan.config` (TOML schema), :mod:`~lfqcd.scan.designs` (grids, lists,
Sobol/LHS), :mod:`~lfqcd.scan.points` (complete validated points), :mod:`~lfqcd.scan.keys`
(content hashes), :mod:`~lfqcd.scan.store` (the folder layout), :mod:`~lfqcd.scan.executors`
(process pool, Dask, MPI, serial; Slurm notes), :mod:`~lfqcd.scan.worker` (one point in a
worker), :mod:`~lfqcd.scan.planning` (submission order), :mod:`~lfqcd.scan.runner`
(``run_scan``), :mod:`~lfqcd.scan.table`, :mod:`~lfqcd.scan.report`, :mod:`~lfqcd.scan.plots`,
:mod:`~lfqcd.scan.cli`. The simulator protocol is in :mod:`lfqcd.simulator`.
"""

from lfqcd.scan.config import (
    DesignSpec,
    ExecutorSpec,
    Range,
    ScanConfig,
    config_from_dict,
    load_config,
)
from lfqcd.scan.designs import build_design, grid_design, lhs_design, list_design, sobol_design
from lfqcd.scan.executors import (
    DaskExecutor,
    MPIExecutor,
    ProcessExecutor,
    ScanExecutor,
    SerialExecutor,
    make_executor,
)
from lfqcd.scan.keys import point_key
from lfqcd.scan.plots import plot_scan
from lfqcd.scan.report import format_summary
from lfqcd.scan.runner import ScanResult, run_scan
from lfqcd.scan.store import ScanStore, read_summary

__all__ = [
    "DaskExecutor",
    "DesignSpec",
    "ExecutorSpec",
    "MPIExecutor",
    "ProcessExecutor",
    "Range",
    "ScanConfig",
    "ScanExecutor",
    "ScanResult",
    "ScanStore",
    "SerialExecutor",
    "build_design",
    "config_from_dict",
    "format_summary",
    "grid_design",
    "lhs_design",
    "list_design",
    "load_config",
    "make_executor",
    "plot_scan",
    "point_key",
    "read_summary",
    "run_scan",
    "sobol_design",
]
