"""Run or resume a batch scan over couplings/resolutions: ``lfqcd scan CONFIG.toml``.

Re-running the same command resumes: finished points are skipped, failed ones retried.
Results: ``<out>/summary.csv``, ``manifest.jsonl``, ``scan.json``, ``points/<key>.npz`` and
``plots/<observable>.png``. Flags override the configuration file.
"""

from __future__ import annotations

import argparse
import sys

from lfqcd.eigen import check_backend
from lfqcd.scan.config import EXECUTORS, load_config
from lfqcd.signals import sigterm_as_interrupt
from lfqcd.simulator import check_simulator_allowed


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``lfqcd scan``."""
    parser.add_argument("config", help="scan configuration (TOML), e.g. runs/scan_toy.toml")
    parser.add_argument("--out", help="results folder (default: [scan] out, else out/scan_<name>)")
    parser.add_argument("--executor", choices=EXECUTORS, help="where points run")
    parser.add_argument("--workers", type=int, help="worker processes (default: all cores)")
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="Dask scheduler address (implies --executor dask)")
    parser.add_argument("--scheduler-file", help="Dask scheduler file (implies --executor dask)")
    parser.add_argument("--connect-timeout", type=float, metavar="S",
                        help="seconds to wait for a Dask scheduler")
    parser.add_argument("--backend", help="eigensolver backend passed to the simulator")
    parser.add_argument("--no-reuse", action="store_true",
                        help="rebuild operators per point and never warm-start (benchmarking)")
    parser.add_argument("--no-retry-failed", action="store_true",
                        help="report points that failed earlier instead of retrying them")
    parser.add_argument("--no-plots", action="store_true", help="skip the plots")
    progress = parser.add_mutually_exclusive_group()
    progress.add_argument("--progress", dest="progress", action="store_const", const=True,
                          help="always show the progress bar")
    progress.add_argument("--no-progress", dest="progress", action="store_const", const=False,
                          help="never show the progress bar")
    parser.add_argument("--dry-run", action="store_true",
                        help="validate the configuration and show the plan; run nothing")
    from lfqcd.outdir import add_overwrite_argument

    add_overwrite_argument(parser)
    parser.add_argument("--allow-simulator-import", action="store_true",
                        help="allow a simulator that is not registered (runs its code)")


def main(args: argparse.Namespace) -> int:
    """Entry point of ``lfqcd scan``; returns 0 when every point is ok, 1 if some failed."""
    from lfqcd.scan.report import format_summary
    from lfqcd.scan.runner import run_scan

    cfg = load_config(args.config)
    kind = args.executor
    if (args.scheduler or args.scheduler_file) and kind is None:
        kind = "dask"
    cfg = cfg.with_overrides(
        out=args.out,
        backend=args.backend,
        reuse=False if args.no_reuse else None,
        retry_failed=False if args.no_retry_failed else None,
        executor_kind=kind,
        executor_workers=args.workers,
        executor_address=args.scheduler,
        executor_scheduler_file=args.scheduler_file,
        executor_connect_timeout_s=args.connect_timeout,
        output_plots=False if args.no_plots else None,
        output_progress=args.progress,
    )
    check_simulator_allowed(cfg.simulator, args.allow_simulator_import, "[scan] simulator")
    check_backend(cfg.backend, "[scan] backend")
    if args.dry_run:
        print(dry_run_text(cfg))
        return 0
    from lfqcd import outdir
    from lfqcd.scan.points import resolve_points
    from lfqcd.scan.runner import default_out
    from lfqcd.simulator import load_simulator

    resolve_points(cfg, load_simulator(cfg.simulator))  # every point valid before any write
    outdir.prepare(default_out(cfg), "scan", None, overwrite=args.overwrite)

    def echo(msg: str) -> None:
        print(msg, file=sys.stderr)

    with sigterm_as_interrupt():
        res = run_scan(cfg, executor=None, echo=echo)
    print(format_summary(res))
    return 0 if res.n_failed == 0 else 1


def dry_run_text(cfg: object) -> str:
    """What ``--dry-run`` prints: the resolved plan without running anything."""
    from lfqcd.scan.config import ScanConfig
    from lfqcd.scan.points import resolve_points
    from lfqcd.scan.runner import default_out
    from lfqcd.scan.store import ScanStore
    from lfqcd.simulator import load_simulator

    assert isinstance(cfg, ScanConfig)
    spec = load_simulator(cfg.simulator)
    resolved = resolve_points(cfg, spec)
    out = default_out(cfg)
    science = {**cfg.science_dict(), "preset_values": resolved.preset_values}
    ScanStore(out).check_compatible(science)
    manifest, _ = ScanStore(out).read_manifest()
    done = sum(1 for p in resolved.points if manifest.get(p.key, {}).get("status") == "ok")
    groups = len({p.resolution for p in resolved.points})
    lines = [
        f"scan {cfg.name}: simulator {cfg.simulator}, backend {cfg.backend}",
        f"  {len(resolved.points)} points ({resolved.duplicates} duplicates dropped), "
        f"{groups} resolution group(s), {done} already finished in {out}",
        f"  varied: {', '.join(resolved.varied)}",
        f"  inputs: {', '.join(resolved.param_names)}",
        f"  executor: {cfg.executor.kind} (workers={cfg.executor.workers or 'all cores'})",
    ]
    for p in resolved.points[:5]:
        lines.append("  e.g. " + ", ".join(f"{v}={p.params[v]!r}" for v in resolved.varied))
    return "\n".join(lines)
