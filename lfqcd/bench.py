"""Run the benchmark scripts of ``benchmarks/`` (each prints its own ratio table).

``lfqcd bench`` lists them; ``lfqcd bench NAME [ARGS...]`` runs ``benchmarks/NAME.py`` with
the remaining arguments in a child Python with BLAS/OpenMP threads pinned to one. The scripts
live in the source tree (they are not part of the installed wheel), so this works from a
checkout or an editable install.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from lfqcd.errors import InvalidParameterError

BENCH_DIR = Path(__file__).resolve().parents[1] / "benchmarks"


def available() -> dict[str, str]:
    """Benchmark name -> first line of its docstring."""
    out = {}
    for path in sorted(BENCH_DIR.glob("*.py")):
        text = path.read_text()
        first = text.split('"""')[1].strip().splitlines()[0] if '"""' in text else ""
        out[path.stem] = first
    return out


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", nargs="?", help="benchmark to run (omit to list them)")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="arguments for the script")


def main(args: argparse.Namespace) -> int:
    benches = available()
    if not benches:
        raise InvalidParameterError(f"no benchmark scripts found in {BENCH_DIR} (source checkout needed)")
    if args.name is None:
        width = max(map(len, benches))
        for name, doc in benches.items():
            print(f"{name:<{width}}  {doc}")
        return 0
    if args.name not in benches:
        raise InvalidParameterError(
            f"unknown benchmark {args.name!r}; available: {', '.join(benches)}"
        )
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    cmd = [sys.executable, str(BENCH_DIR / f"{args.name}.py"), *args.args]
    return subprocess.run(cmd, env=env, check=False).returncode
