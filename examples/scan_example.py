"""A small coupling scan through the public Python API (toy simulator, about 2 s).

    python examples/scan_example.py --out out/scan_example

Builds the configuration in code (the same keys as a ``runs/scan_*.toml`` file), runs a
16-point Sobol' scan over two couplings at two resolutions on a local process pool, prints the
end-of-scan summary and reads the summary table back. Run it twice: the second run finds every
point finished and computes nothing.
"""

from __future__ import annotations

import argparse
import sys

from lfqcd.scan import config_from_dict, format_summary, read_summary, run_scan
from lfqcd.threads import pin_threads


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="out/scan_example", help="results folder")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    pin_threads(1)  # entry point: one BLAS thread here and in every worker

    cfg = config_from_dict({
        "scan": {"name": "example", "simulator": "lfqcd.simulator:toy_simulate",
                 "out": args.out, "seed": 3},
        "fixed": {"N": 4, "k": 3, "W": 0.5},
        "design": {
            "axes": {"L": [9, 10]},                         # grid over resolutions ...
            "sampler": "sobol", "n_points": 8,              # ... crossed with a Sobol' box
            "ranges": {"t2": [0.0, 0.5], "V": [0.0, 2.0]},
        },
        "executor": {"kind": "process", "workers": args.workers},
        "output": {"plots": True, "progress": False},
    })
    result = run_scan(cfg, echo=lambda msg: print(msg, file=sys.stderr))
    print(format_summary(result))

    rows = read_summary(result.out / "summary.csv")
    lowest = min(rows, key=lambda r: float(r["obs.E0"]))
    print(f"lowest E0 = {float(lowest['obs.E0']):.6f} at L={lowest['param.L']}, "
          f"t2={float(lowest['param.t2']):.3f}, V={float(lowest['param.V']):.3f}")
    return 0 if result.n_failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
