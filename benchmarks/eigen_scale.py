"""Eigensolver scaling: CSR matvec against the memory-bandwidth floor, and solves to 1e6 states.

    python benchmarks/eigen_scale.py            # 1e4, 1e5, 1e6 states
    python benchmarks/eigen_scale.py --quick    # 1e4, 1e5, 3e5 states (largest still > 4x LLC)

The operator is *synthetic*, with the column pattern of a 2-link heavy-light block (until
2-link blocks exist): states in sector order, a small 1-link sector A (1/16 of the states)
and the 2-link sector B; every row couples to momentum neighbours in its own sector (a band,
``|i - j| <= 8`` in B, ``<= 2`` in A; the Coulomb/kinetic transfers), to the same momenta on
other link paths (offsets ``+-S``, ``+-2S`` with ``S = 64``: link swaps), and B rows to two
A rows at the proportional position (emission/absorption; A rows get the transposed
entries). About 23 nonzeros per row, real symmetric, float64 data and int32 indices
(12 bytes per nonzero); a kinetic-like diagonal from 10 to 250 (set by the momentum, as the
femtoworm's 17 to 250) and off-diagonal entries of -0.5 to -1.5. It is built
with the project's parallel row-kernel assembly (:func:`lfqcd.assembly.build_csr`).

For every size it prints: states, nonzeros, CSR size, assembly rate, ms per CSR matvec (best
of ``--repeat``), the floor ``12 B/nnz / copy bandwidth`` with the copy bandwidth measured in
the same run on arrays far larger than the last-level cache (bytes read + bytes written per
second), the ratio to the floor, the matrix-free (term-by-term) matvec, and per backend
(ARPACK; PRIMME with a Jacobi preconditioner when installed) the matvecs to convergence of the
lowest ``--k`` eigenpairs (``tol = 1e-10``), wall time and ms per matvec inside the solve, and
the process's peak resident memory so far. Threads: BLAS/numba pinned to ``--threads``
(default 1); the SciPy CSR matvec is single-threaded. The last line is
``largest block: N states, M nnz, ratio to floor R``.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import time
from typing import Any

import numba
import numpy as np
import scipy
import scipy.sparse.linalg as spla

from lfqcd.assembly import build_csr
from lfqcd.eigen import available_backends, solve
from lfqcd.matfree import PieceSumOperator
from lfqcd.threads import pin_threads

STRIDE = 64  #: "link path" stride of the synthetic pattern
BAND_B, BAND_A = 8, 2
MAX_ROW = 64


@numba.njit(cache=True)
def _value(i, j):  # pragma: no cover - numba; symmetric, deterministic off-diagonal value
    a, b = min(i, j), max(i, j)
    h = (a * 2654435761 + b * 40503) % 1000
    return -0.5 - 0.001 * h


@numba.njit(cache=True)
def _emission_target(i, nA, nB):  # pragma: no cover - numba; A row of B row i (i >= nA)
    return ((i - nA) * nA) // nB


@numba.njit(cache=True)
def _synthetic_row(i, args, cols, vals):  # pragma: no cover - numba
    """Row ``i`` of the synthetic 2-link-pattern operator; ``args = (n, nA, part)``.

    ``part``: 0 all terms, 1 diagonal + bands, 2 link-path strides, 3 emission.
    """
    n, nA, part = args
    nB = n - nA
    m = 0
    if i < nA:
        lo, hi, band = 0, nA, BAND_A
    else:
        lo, hi, band = nA, n, BAND_B
    if part == 0 or part == 1:
        cols[m] = i  # kinetic-like: 10 .. 250, set by the "momentum" (i mod S) and the sector
        vals[m] = 10.0 + 200.0 * ((i * 37) % STRIDE) / STRIDE + 40.0 * (i - lo) / (hi - lo)
        m += 1
        for d in range(1, band + 1):
            for j in (i - d, i + d):
                if lo <= j < hi:
                    cols[m] = j
                    vals[m] = _value(i, j)
                    m += 1
    if (part == 0 or part == 2) and i >= nA:
        for d in (STRIDE, 2 * STRIDE):
            for j in (i - d, i + d):
                if lo <= j < hi:
                    cols[m] = j
                    vals[m] = 0.5 * _value(i, j)
                    m += 1
    if part == 0 or part == 3:
        if i >= nA:
            t = _emission_target(i, nA, nB)
            for j in (t, t + 1):
                if j < nA:
                    cols[m] = j
                    vals[m] = 0.3 * _value(i, j)
                    m += 1
        else:  # transposed emission: B rows whose target is i or i - 1
            k0 = nA + ((i - 1) * nB + nA - 1) // nA if i > 0 else nA
            k = max(nA, k0 - 1)
            while k < n and _emission_target(k, nA, nB) <= i:
                t = _emission_target(k, nA, nB)
                if (t == i or t + 1 == i) and m < MAX_ROW:
                    cols[m] = k
                    vals[m] = 0.3 * _value(i, k)
                    m += 1
                k += 1
    return m


def synthetic(n: int, part: int = 0):
    """The synthetic operator (or one of its three parts) with ``n`` states."""
    return build_csr(_synthetic_row, n, (n, max(2, n // 16), part), np.float64, MAX_ROW,
                     parallel=True)


def copy_bandwidth(nbytes: int = 1 << 28, repeat: int = 5) -> float:
    """Bytes read + written per second by ``np.copyto`` on ``nbytes`` arrays (best of repeat)."""
    src = np.ones(nbytes // 8)
    dst = np.empty_like(src)
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        np.copyto(dst, src)
        best = min(best, time.perf_counter() - t0)
    return 2 * nbytes / best


def best_time(fn: Any, repeat: int) -> float:
    fn()
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # kB on Linux


def counted(H: Any) -> tuple[spla.LinearOperator, list[int]]:
    count = [0]

    def mv(x: np.ndarray) -> np.ndarray:
        count[0] += 1
        return H @ x

    def mm(X: np.ndarray) -> np.ndarray:
        count[0] += X.shape[1]
        return H @ X

    return spla.LinearOperator(H.shape, matvec=mv, matmat=mm, dtype=H.dtype), count


def run_matrix(label: str, H: Any, parts: dict[str, Any], k: int, repeat: int,
               backends: list[str], build_s: float) -> list[dict]:
    """Matvec against the floor, matrix-free matvec over ``parts``, and one solve per backend."""
    n = H.shape[0]
    x = np.random.default_rng(0).standard_normal(n).astype(H.dtype)
    # bandwidth measured next to the matvec (before and after, best kept): on a shared machine
    # the load changes, and the floor must be measured under the same conditions
    bw = copy_bandwidth()
    mv_s = best_time(lambda: H @ x, repeat)
    bandwidth = max(bw, copy_bandwidth())
    bytes_csr = H.data.nbytes + H.indices.nbytes + H.indptr.nbytes
    floor_s = bytes_per_nnz(H) * H.nnz / bandwidth
    op = PieceSumOperator(parts, {name: 1.0 for name in parts})
    mf_s = best_time(lambda: op @ x, repeat)
    base = {"label": label, "n": n, "nnz": H.nnz, "csr_mib": bytes_csr / 2**20,
            "build_mnnz_s": H.nnz / build_s / 1e6 if build_s > 0 else float("nan"),
            "mv_ms": mv_s * 1e3, "floor_ms": floor_s * 1e3, "ratio": mv_s / floor_s,
            "mf_ms": mf_s * 1e3, "bw_gbs": bandwidth / 1e9}
    rows = []
    v0 = np.random.default_rng(1).standard_normal(n)
    ref = None
    for backend in backends:
        if backend == "scipy":
            A, count = counted(H)
            t0 = time.perf_counter()
            res = solve(A, k, backend="scipy", v0=v0, tol=1e-10)
            wall = time.perf_counter() - t0
            matvecs = count[0]
        else:
            t0 = time.perf_counter()
            res = solve(H, k, backend=backend, v0=v0, tol=1e-10)
            wall = time.perf_counter() - t0
            matvecs = res.matvecs
        ref = res.eigenvalues if ref is None else ref
        rows.append({**base, "backend": backend, "matvecs": matvecs, "solve_s": wall,
                     "solve_ms_mv": wall / matvecs * 1e3 if matvecs else float("nan"),
                     "diff": float(np.abs(res.eigenvalues - ref).max()),
                     "peak_gib": peak_rss_gib()})
    return rows


def bytes_per_nnz(H: Any) -> int:
    """Data plus column index bytes per nonzero (12 for float64 with int32 indices)."""
    return H.data.itemsize + H.indices.itemsize


def run_size(n: int, k: int, repeat: int, backends: list[str]) -> list[dict]:
    t0 = time.perf_counter()
    H = synthetic(n)
    build_s = time.perf_counter() - t0
    parts = {f"p{p}": synthetic(n, p) for p in (1, 2, 3)}
    return run_matrix("synthetic", H, parts, k, repeat, backends, build_s)


def run_femtoworm(h: float, k: int, repeat: int, backends: list[str]) -> list[dict]:
    """The real 1-link j_z = 1/2 block at ``h`` (kappa_max 12, illustrative couplings)."""
    from heavy_meson.hamiltonian import HeavyLightModel, Resolution
    from lfqcd.couplings import get_preset

    model = HeavyLightModel(Resolution(h, 12.0))
    coeffs = model.coefficients(get_preset("illustrative").couplings)
    H = model.pieces.combine(coeffs)
    parts = {name: coeffs[name] * O for name, O in model.pieces.pieces.items() if coeffs[name]}
    return run_matrix(f"femtoworm h={h:g}", H, parts, k, repeat, backends, 0.0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=float, nargs="+", help="states per block")
    parser.add_argument("--quick", action="store_true", help="sizes 1e4 1e5 3e5")
    parser.add_argument("--k", type=int, default=4, help="eigenpairs per solve (default 4)")
    parser.add_argument("--repeat", type=int, default=5, help="matvec timing repetitions")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--femtoworm", type=float, nargs="*",
                        help="also the real 1-link j_z block at these h (default: 0.25; "
                             "--quick: 0.4)")
    args = parser.parse_args(argv)
    pin_threads(args.threads)
    sizes = args.sizes or ([1e4, 1e5, 3e5] if args.quick else [1e4, 1e5, 1e6])
    avail = available_backends()
    backends = ["scipy"] + (["primme"] if avail["primme"] else [])
    synthetic(1000)  # compile the row kernel and the assembly passes once, untimed
    print(f"# eigen_scale: python {platform.python_version()}, numpy {np.__version__}, "
          f"scipy {scipy.__version__}, numba {numba.__version__}; threads {args.threads} "
          f"(numba {numba.get_num_threads()}, SciPy CSR matvec single-threaded); "
          f"{os.cpu_count()} CPUs; k = {args.k}, tol = 1e-10, seeds 0/1; "
          f"backends {', '.join(backends)}")
    print("# copy bandwidth: np.copyto of 256 MiB (read + write), best of 5, measured before "
          "and after each matvec timing; floor = (data + index bytes)/nnz / bandwidth (12 B "
          "for float64/int32); femtoworm rows are in or near cache (no floor meaning); "
          "assembly rate of the synthetic operator with the parallel row-kernel assembly")
    print()
    print("| operator | states | nnz | CSR [MiB] | assembly [M nnz/s] | copy [GB/s] | matvec [ms] | "
          "floor [ms] | ratio | matrix-free matvec [ms] | backend | matvecs | solve [s] | "
          "ms/matvec in solve | max dE vs ARPACK | peak RSS [GiB] |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|",
          flush=True)
    rows: list[dict] = []
    femto = args.femtoworm if args.femtoworm is not None else ([0.4] if args.quick else [0.25])
    jobs = [lambda h=h: run_femtoworm(h, args.k, args.repeat, backends) for h in femto]
    jobs += [lambda n=n: run_size(int(n), args.k, args.repeat, backends) for n in sizes]
    for job in jobs:
        for r in job():
            rows.append(r)
            print(f"| {r['label']} | {r['n']:,} | {r['nnz']:,} | {r['csr_mib']:.1f} | "
                  f"{r['build_mnnz_s']:.2f} | {r['bw_gbs']:.1f} | {r['mv_ms']:.2f} | "
                  f"{r['floor_ms']:.2f} | {r['ratio']:.2f} | {r['mf_ms']:.2f} | "
                  f"{r['backend']} | {r['matvecs']} | {r['solve_s']:.2f} | "
                  f"{r['solve_ms_mv']:.2f} | {r['diff']:.1e} | {r['peak_gib']:.2f} |", flush=True)
    last = rows[-1]
    print()
    print(f"largest block: {last['n']} states, {last['nnz']} nnz, ratio to floor {last['ratio']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
