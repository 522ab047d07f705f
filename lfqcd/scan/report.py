"""The end-of-scan summary printed by ``lfqcd scan`` (plain text, a few lines)."""

from __future__ import annotations

import math

from lfqcd.scan.runner import ScanResult

MAX_FAILURES_SHOWN = 5


def _fmt(x: float) -> str:
    return "nan" if math.isnan(x) else f"{x:.6g}"


def format_summary(res: ScanResult) -> str:
    """Counts, throughput, failed points (with their message), observable ranges, files."""
    lines = [f"scan {res.name}: {res.n_points} points -> {res.out}"]
    state = "interrupted" if res.interrupted else "done"
    if res.n_run:
        lines.append(
            f"  this run ({state}): {res.n_run} computed in {res.wall_s:.1f} s "
            f"({res.points_per_second:.3g} points/s) on {res.executor}; "
            f"{res.warm_started} warm-started"
        )
    else:
        lines.append(f"  this run ({state}): nothing to compute")
    pending = res.n_points - res.n_ok - res.n_failed
    lines.append(f"  ok {res.n_ok}, failed {res.n_failed}, pending {pending} "
                 f"(finished in earlier runs: {res.n_previous})")
    for key, params, err in res.failures[:MAX_FAILURES_SHOWN]:
        shown = ", ".join(f"{k}={v!r}" for k, v in params.items())
        lines.append(f"  FAILED {key[:12]} ({shown}): {err}")
    if len(res.failures) > MAX_FAILURES_SHOWN:
        lines.append(f"  ... {len(res.failures) - MAX_FAILURES_SHOWN} more failures in "
                     f"{res.out / 'summary.csv'} (column 'error')")
    ok_rows = [r for r in res.rows if r["status"] == "ok"]
    scalars = [o for o in res.observables if "[" not in o]
    if ok_rows and scalars:
        width = max(len(o) for o in scalars)
        lines.append("  observable ranges over ok points:")
        for o in scalars:
            vals = [float(r[f"obs.{o}"]) for r in ok_rows if not math.isnan(r[f"obs.{o}"])]
            if vals:
                lines.append(f"    {o:<{width}}  {_fmt(min(vals))} .. {_fmt(max(vals))}")
        res_max = max((r["residual"] for r in ok_rows if not math.isnan(r["residual"])),
                      default=math.nan)
        lines.append(f"  largest eigen-residual: {_fmt(res_max)}")
    for note in res.notes:
        lines.append(f"  note: {note}")
    files = "summary.csv, manifest.jsonl, scan.json, points/"
    if res.plots:
        files += f", plots/ ({len(res.plots)} PNG)"
    lines.append(f"  files: {files}")
    if res.n_failed or pending:
        lines.append("  re-run the same command to retry failed and run pending points")
    return "\n".join(lines)
