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
    parser.add_argument("--h", type=float, default=None,
                        help="static (heavy-light) basis sizes at grid spacing h (needs --kappa-max)")
    parser.add_argument("--kappa-max", type=float, default=None, help="static-basis cutoff")
    parser.add_argument("--K", type=int, default=None, dest="k_total",
                        help="light-light DLCQ basis sizes at harmonic resolution K")
    parser.add_argument("--max-links", type=int, default=1,
                        help="Fock truncation for the basis sizes (0..3, default 1)")
    parser.add_argument("--link-kappa-max", type=float, default=None,
                        help="static basis: cap on the total link momentum (multiple of h)")


def basis_size_table(h: float | None, kappa_max: float | None, k_total: int | None,
                     max_links: int, link_kappa_max: float | None = None) -> dict[str, Any]:
    """Per-sector and cumulative full-basis sizes (both helicities, all 4^n paths) with the
    memory estimate of building the basis; no basis is built."""
    from lfqcd.basis import MAX_QUARK_LINKS, estimate_bytes, sector_sizes, static_sector_size
    from lfqcd.errors import InvalidParameterError

    if not 0 <= max_links <= MAX_QUARK_LINKS:
        raise InvalidParameterError(
            f"max_links={max_links} is outside the supported range 0..{MAX_QUARK_LINKS}")
    if k_total is not None:
        if k_total < max_links + 1:
            raise InvalidParameterError(f"K={k_total} is too small for {max_links} link(s)")
        kind, n_cut, label = "dlcq", k_total, f"dlcq K={k_total}"
    else:
        if h is None or kappa_max is None or not (h > 0 and kappa_max >= h):
            raise InvalidParameterError(
                "basis sizes need --h and --kappa-max (static, kappa_max >= h > 0) or --K (dlcq)")
        n_cut = round(kappa_max / h)
        if abs(n_cut * h - kappa_max) > 1e-9 * kappa_max:
            raise InvalidParameterError(
                f"kappa_max={kappa_max} is not a multiple of h={h} (ratio {kappa_max / h:.6g})")
        kind, label = "static", f"static h={h:g} kappa_max={kappa_max:g} (N={n_cut})"
    if link_kappa_max is not None:
        if kind != "static" or h is None:
            raise InvalidParameterError("--link-kappa-max applies to static bases (--h, --kappa-max)")
        cut = round(link_kappa_max / h)
        label += f", link momentum <= {cut * h:g}"
        sizes = [static_sector_size(n_cut, n, True, cut) for n in range(max_links + 1)]
    else:
        sizes = sector_sizes(kind, n_cut, max_links)
    return {"basis": label, "max_links": max_links, "sectors": sizes, "total": sum(sizes),
            "jz_block_approx": sum(sizes) // 4, "build_bytes": estimate_bytes(sum(sizes))}


def main(args: argparse.Namespace) -> int:
    if args.h is not None or args.kappa_max is not None or args.k_total is not None:
        table = basis_size_table(args.h, args.kappa_max, args.k_total, args.max_links,
                                 args.link_kappa_max)
        if args.json:
            print(json.dumps(table, indent=2))
            return 0
        print(f"basis {table['basis']}, max_links = {table['max_links']}")
        running = 0
        for n, size in enumerate(table["sectors"]):
            running += size
            print(f"  sector {n}: {size:>14,} states   (<= {n} links: {running:,})")
        print(f"  total {table['total']:,} states; a j_z block is about {table['jz_block_approx']:,}; "
              f"building the basis needs about {table['build_bytes'] / 2**30:.2f} GiB")
        return 0
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
