"""Assembly and eigensolve benchmark of the heavy-light femtoworm (issue #2, "Done means").

For three resolutions of the static-source basis (one link, spin; ``kappa_max = 12`` and
``N = kappa_max/h = 24, 40, 64`` by default) it prints

1. the one-off JIT cost: the first build of every piece on a tiny basis (numba compile, or
   cache load of the kernels that are disk-cached; the generic count/fill drivers are compiled
   once per process), reported separately from the timings below;
2. per piece and for the whole set: build time, nonzeros and nonzeros per second (warm);
3. the ``j_z = +1/2`` block: isometry construction and projection of all pieces (``V^H O V``),
   and the cost of one coupling point (``PieceSum.combine``);
4. the eigensolve of the lowest 4 states of the block with the illustrative couplings
   (``m_0^2 = 1.64``, docs/physics.md section 6) by backend: dense (when the block is small enough), scipy,
   primme (if installed), cupy (if a GPU is usable), with the ratio to scipy from the same run
   and the largest eigenvalue difference to scipy.

    python benchmarks/assembly.py [--n-grid 24 40 64] [--kappa-max 12] [--threads 1]
           [--dense-max 4500] [--repeat 3]

Timings are best-of-``repeat`` wall times (one run for the eigensolves above 5 s); BLAS, numba
and torch pools are pinned to ``--threads`` (default 1, as in CI).
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from lfqcd import operators as ops
from lfqcd.basis import ChainBasis, static_basis
from lfqcd.couplings import get_preset
from lfqcd.eigen import available_backends, solve
from lfqcd.hamiltonian import PieceSum
from lfqcd.symmetry import jz_isometry
from lfqcd.threads import pin_threads

M0_SQ = 1.64  # sector-0 counterterm of the docs/physics.md section 6 example (Lambda-bar ~ 0.8 at h = 0.4)

PIECES: dict[str, Callable[[ChainBasis], Any]] = {
    "kinetic": ops.light_momentum,
    "m0_sq": lambda b: ops.inverse_momentum(b, "quark", sector=0),
    "m_sq": lambda b: ops.inverse_momentum(b, "quark", sector=1),
    "mu_sq": lambda b: ops.inverse_momentum(b, "links"),
    "G": ops.coulomb,
    "t_F": lambda b: ops.link_emission(b, helicity_flip=True),
    "t_NF": lambda b: ops.link_emission(b, helicity_flip=False),
    "w_FF": lambda b: ops.link_swap(b, "FF"),
    "w_NN": lambda b: ops.link_swap(b, "NN"),
    "w_FN": lambda b: ops.link_swap(b, "FN"),
}


def coefficients() -> dict[str, float]:
    c = get_preset("illustrative").couplings
    return {"kinetic": 1.0, "m0_sq": M0_SQ, "m_sq": c.m**2, "mu_sq": c.mu**2, "G": c.G,
            "t_F": c.t_F, "t_NF": c.t_NF, "w_FF": c.w_FF, "w_NN": c.w_NN, "w_FN": c.w_FN}


def best_of(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    best, out = math.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
        if best > 5.0:
            break
    return best, out


def rate(nnz: int, seconds: float) -> str:
    return f"{nnz / seconds / 1e6:8.2f}" if seconds > 0 else "     inf"


def jit_warmup() -> dict[str, float]:
    """First call of every piece (and of the j_z projection) on a tiny basis."""
    tiny = static_basis(0.5, 2.0, max_links=1)
    first = {}
    for name, build in PIECES.items():
        t0 = time.perf_counter()
        build(tiny)
        first[name] = time.perf_counter() - t0
    t0 = time.perf_counter()
    jz_isometry(tiny, 0.5)
    first["jz_isometry"] = time.perf_counter() - t0
    return first


def bench_size(n_grid: int, kappa_max: float, repeat: int, backends: list[str],
               dense_max: int) -> None:
    h = kappa_max / n_grid
    t_basis, basis = best_of(lambda: static_basis(h, kappa_max, max_links=1, spin=True), repeat)
    print(f"\n## N = kappa_max/h = {n_grid} (h = {h:.5g}, kappa_max = {kappa_max:g}): "
          f"{basis.dim:,} states, basis built in {t_basis * 1e3:.1f} ms")
    print(f"{'piece':<10} {'build [ms]':>11} {'nnz':>11} {'Mnnz/s':>8}")
    pieces, total_t, total_nnz = {}, 0.0, 0
    for name, build in PIECES.items():
        t, op = best_of(lambda build=build: build(basis), repeat)
        pieces[name] = op
        total_t += t
        total_nnz += op.nnz
        print(f"{name:<10} {t * 1e3:11.2f} {op.nnz:11,} {rate(op.nnz, t)}")
    print(f"{'all':<10} {total_t * 1e3:11.2f} {total_nnz:11,} {rate(total_nnz, total_t)}")

    t_iso, V = best_of(lambda: jz_isometry(basis, 0.5), repeat)
    t_proj, block = best_of(lambda: PieceSum(pieces, isometry=V), repeat)
    coef = coefficients()
    t_comb, H = best_of(lambda: block.combine(coef), repeat)
    print(f"j_z = +1/2 block: {block.dim:,} states; isometry {t_iso * 1e3:.1f} ms, projection of "
          f"all pieces {t_proj * 1e3:.1f} ms ({block.nnz:,} nnz), one coupling point (combine) "
          f"{t_comb * 1e3:.2f} ms ({H.nnz:,} nnz)")

    print(f"{'backend':<8} {'solve [s]':>10} {'vs scipy':>9} {'max|dE| vs scipy':>17} "
          f"{'max residual':>13}  Lambda-bar_0..3")
    results = {}
    for backend in backends:
        if backend == "dense" and block.dim > dense_max:
            print(f"{'dense':<8} {'skipped':>10}   (block {block.dim:,} > --dense-max {dense_max:,})")
            continue
        t, res = best_of(lambda backend=backend: solve(H, 4, backend=backend), repeat)
        results[backend] = (t, res)
    t_ref, ref = results["scipy"]
    for backend, (t, res) in results.items():
        dE = np.abs(res.eigenvalues - ref.eigenvalues).max()
        lam = " ".join(f"{x:.6f}" for x in res.eigenvalues / 2)
        print(f"{backend:<8} {t:10.3f} {t / t_ref:9.2f} {dE:17.2e} {res.residuals.max():13.2e}  {lam}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-grid", type=int, nargs="+", default=[24, 40, 64],
                        help="kappa_max/h of each basis")
    parser.add_argument("--kappa-max", type=float, default=12.0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dense-max", type=int, default=4500,
                        help="largest block diagonalised densely")
    args = parser.parse_args(argv)
    pin_threads(args.threads)
    avail = available_backends()
    backends = [b for b in ("dense", "scipy", "primme", "cupy") if avail[b]]
    import numba
    import scipy

    print("# lfqcd assembly benchmark: heavy-light femtoworm, static source, <= 1 link, spin")
    print(f"python {platform.python_version()}, numpy {np.__version__}, scipy {scipy.__version__}, "
          f"numba {numba.__version__}; {args.threads} thread(s); {platform.machine()}")
    print(f"eigensolver backends here: {', '.join(backends)} "
          f"(not usable: {', '.join(b for b in ('primme', 'cupy') if not avail[b]) or 'none'})")
    c = get_preset("illustrative").couplings
    print(f"couplings: illustrative preset {c.to_dict()}, m0_sq = {M0_SQ}")
    print(f"load average at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores "
          "(wall times of a shared machine scale with it)")

    t0 = time.perf_counter()
    first = jit_warmup()
    print(f"\nJIT (first build on a tiny basis, compile or cache load) {time.perf_counter() - t0:.2f} s: "
          + ", ".join(f"{k} {v:.2f}" for k, v in first.items()))
    for n in args.n_grid:
        bench_size(n, args.kappa_max, args.repeat, backends, args.dense_max)
    print(f"\nload average at end: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
