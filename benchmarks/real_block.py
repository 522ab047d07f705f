"""Real j_z blocks (reflection basis) against the complex block, for 1-3 links.

For each case (links, h, kappa_max = 12) a fresh process builds the heavy-light ``j_z = +1/2``
block directly (block-direct assembly) in one of two forms and solves the lowest 3 states with
the ``calibrated`` couplings (renormalised quark, link couplings zero):

* ``complex``: the block pieces as assembled, complex Hermitian (``real_block=False``; before
  the reflection basis, one link used a diagonal re-phasing instead, two and three links this);
* ``real``: the pieces in the basis of ``S K``-invariant columns
  (:func:`lfqcd.symmetry.real_block_basis`), the default of ``HeavyLightModel``.

Printed per case: block size, stored nonzeros, build time, peak memory of the process (max RSS,
including about 0.25 GiB of interpreter and numba), the eigensolve time, the lowest
Lambda-bar of each form and the ratios complex / real from the same run.

    python benchmarks/real_block.py [--cases 2:0.4 2:0.3 3:1.0 3:0.75 1:0.15]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

from lfqcd.threads import pin_threads

DEFAULT_CASES = ["1:0.15", "2:0.4", "2:0.3", "3:1.0", "3:0.75"]


def one(links: int, h: float, form: str) -> dict:
    """Build and solve one case in this process; returns the measurements."""
    from heavy_meson.hamiltonian import HeavyLightModel, Resolution
    from heavy_meson.renormalization import RenormalizationCondition
    from lfqcd.couplings import get_preset
    from lfqcd.eigen import solve

    preset = get_preset("calibrated")
    HeavyLightModel(Resolution(1.0, 4.0), jz=0.5, max_links=links)  # numba warm-up
    t0 = time.perf_counter()
    model = HeavyLightModel(Resolution(h, 12.0), jz=0.5, max_links=links,
                            memory_limit=20 * 2**30, real_block=form == "real")
    build_s = time.perf_counter() - t0
    cond = RenormalizationCondition.of_preset(preset)
    m0_sq, m0_log = cond.fixed_counterterm(preset.couplings)
    coeffs = model.coefficients(preset.couplings, m0_sq, m0_log)
    H = model.pieces.combine(coeffs)
    t0 = time.perf_counter()
    eig = solve(H, 3, seed=0)
    solve_s = time.perf_counter() - t0
    return {"dim": model.pieces.dim, "nnz": model.pieces.nnz, "dtype": str(model.pieces.dtype),
            "build_s": build_s, "solve_s": solve_s, "lambda_bar": float(eig.eigenvalues[0] / 2),
            "peak_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=DEFAULT_CASES, help="links:h at kappa_max 12")
    parser.add_argument("--one", nargs=3, help=argparse.SUPPRESS)  # links h form (child process)
    args = parser.parse_args(argv)
    pin_threads(1)
    if args.one:
        print(json.dumps(one(int(args.one[0]), float(args.one[1]), args.one[2])))
        return 0
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1",
               NUMBA_NUM_THREADS="1")
    print(f"{'links':>5} {'h':>5} {'block':>8} {'form':>8} {'nnz':>11} {'build s':>8} "
          f"{'peak GiB':>9} {'solve s':>8} {'Lambda-bar':>12}")
    ratios = []
    for case in args.cases:
        links, h = case.split(":")
        out = {}
        for form in ("complex", "real"):
            run = subprocess.run([sys.executable, __file__, "--one", links, h, form], env=env,
                                 capture_output=True, text=True, check=True)
            r = out[form] = json.loads(run.stdout.strip().splitlines()[-1])
            print(f"{links:>5} {h:>5} {r['dim']:8,} {form:>8} {r['nnz']:11,} {r['build_s']:8.2f} "
                  f"{r['peak_gib']:9.2f} {r['solve_s']:8.2f} {r['lambda_bar']:12.8f}")
        c, r = out["complex"], out["real"]
        ratios.append((links, h, c["nnz"] / r["nnz"], c["build_s"] / r["build_s"],
                       c["peak_gib"] / r["peak_gib"], c["solve_s"] / r["solve_s"],
                       abs(c["lambda_bar"] - r["lambda_bar"])))
    print(f"\n{'links':>5} {'h':>5} {'nnz c/r':>8} {'build c/r':>10} {'peak c/r':>9} "
          f"{'solve c/r':>10} {'|dLambda|':>10}")
    for links, h, *q, d in ratios:
        print(f"{links:>5} {h:>5} {q[0]:8.2f} {q[1]:10.2f} {q[2]:9.2f} {q[3]:10.2f} {d:10.1e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
