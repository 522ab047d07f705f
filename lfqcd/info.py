"""Print versions, usable eigensolver backends and whether a GPU is usable.

Versions come from the installed distributions' metadata, so ``lfqcd info`` stays fast and
does not import torch, matplotlib or dask (only the eigensolver/GPU probes import anything).
"""

from __future__ import annotations

import argparse
import json
import platform
from importlib import metadata
from typing import Any

from lfqcd import __version__

#: reported name -> distributions that provide it (CuPy ships one wheel per CUDA major)
_DISTRIBUTIONS: dict[str, tuple[str, ...]] = {
    "numpy": ("numpy",),
    "scipy": ("scipy",),
    "numba": ("numba",),
    "matplotlib": ("matplotlib",),
    "torch": ("torch",),
    "cupy": ("cupy-cuda12x", "cupy-cuda13x", "cupy"),
    "primme": ("primme",),
    "dask": ("dask",),
}


def _installed_version(distributions: tuple[str, ...]) -> str | None:
    for dist in distributions:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return None


def collect_info() -> dict[str, Any]:
    """Versions of the key packages, eigensolver backends and the GPU status."""
    from lfqcd.backend import gpu_description
    from lfqcd.eigen import available_backends

    versions: dict[str, str | None] = {"lfqcd": __version__, "python": platform.python_version()}
    for name, distributions in _DISTRIBUTIONS.items():
        versions[name] = _installed_version(distributions)
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
