"""Plots of each scalar observable against each varied input, from a finished results folder.

One PNG per observable (``plots/<obs>.png``) with one panel per varied numeric input; when
two or more inputs vary, the points are coloured by another varied input so that the spread
of a scatter panel can be read. Uses matplotlib's object API with the Agg canvas (no pyplot,
no global backend switch), so it is safe in workers, tests and headless machines.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from lfqcd.errors import ResultFileError
from lfqcd.scan.store import ScanStore, read_summary


def _float(s: str) -> float:
    try:
        return float(s)
    except ValueError:
        return math.nan


def plot_scan(root: str | Path, *, dpi: int = 110) -> list[Path]:
    """Write ``plots/<obs>.png`` for every scalar observable of the scan in ``root``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    store = ScanStore(root)
    meta = store.read_meta()
    if meta is None or not store.summary_path.exists():
        raise ResultFileError(f"{root} has no scan.json/summary.csv to plot")
    rows = [r for r in read_summary(store.summary_path) if r["status"] == "ok"]
    varied = [
        v for v in meta.get("varied", [])
        if rows and all(not math.isnan(_float(r[f"param.{v}"])) for r in rows)
    ]
    scalars = [o for o in meta.get("observables", []) if "[" not in o]
    if not rows or not varied:
        return []
    store.plots_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for obs in scalars:
        y = [_float(r[f"obs.{obs}"]) for r in rows]
        ncols = len(varied)
        fig = Figure(figsize=(3.6 * ncols, 3.2), layout="constrained")
        FigureCanvasAgg(fig)
        for j, v in enumerate(varied):
            ax = fig.add_subplot(1, ncols, j + 1)
            x = [_float(r[f"param.{v}"]) for r in rows]
            others = [w for w in varied if w != v]
            if others:
                c = [_float(r[f"param.{others[0]}"]) for r in rows]
                sc = ax.scatter(x, y, c=c, s=14, cmap="viridis")
                fig.colorbar(sc, ax=ax, label=others[0])
            else:
                pairs = sorted(zip(x, y, strict=True))
                ax.plot([p[0] for p in pairs], [p[1] for p in pairs], "o-", ms=3)
            ax.set_xlabel(v)
            if j == 0:
                ax.set_ylabel(obs)
        fig.suptitle(f"{meta.get('name', 'scan')}: {obs} ({len(rows)} points)")
        path = store.plots_dir / f"{obs}.png"
        fig.savefig(path, dpi=dpi)
        written.append(path)
    (store.plots_dir / "index.json").write_text(
        json.dumps({"observables": scalars, "varied": varied}, indent=1) + "\n"
    )
    return written
