"""Print versions, usable eigensolver backends and whether a GPU is usable."""

from __future__ import annotations

import argparse
import importlib
import json
import platform
from typing import Any

from lfqcd import __version__


def collect_info() -> dict[str, Any]:
    """Versions of the key packages, eigensolver backends and the GPU status."""
    from lfqcd.backend import gpu_description
    from lfqcd.eigen import available_backends

    versions: dict[str, str | None] = {"lfqcd": __version__, "python": platform.python_version()}
    for name in ("numpy", "scipy", "numba", "matplotlib", "torch", "cupy", "primme", "dask"):
        try:
            versions[name] = importlib.import_module(name).__version__
        except ImportError:
            versions[name] = None
    return {
        "versions": versions,
        "eigensolver_backends": available_backends(),
        "gpu": gpu_description(),
        "platform": platform.platform(),
    }


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")


def main(args: argparse.Namespace) -> int:
    info = collect_info()
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"lfqcd {info['versions']['lfqcd']} on {info['platform']}")
    for name, ver in info["versions"].items():
        if name != "lfqcd":
            print(f"  {name:<11} {ver or 'not installed'}")
    usable = [b for b, ok in info["eigensolver_backends"].items() if ok]
    print(f"eigensolver backends: {', '.join(usable)}")
    print(f"GPU: {info['gpu']}")
    return 0
