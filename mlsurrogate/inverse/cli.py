"""Infer couplings from target observables through a surrogate ensemble, verified by the solver.

``lfqcd infer runs/infer.toml --out DIR`` solves a design in the prior box (or reads a scan
store / a saved ensemble), trains a small ensemble of dense surrogates, fits the targets with
the ensemble's own uncertainty in the likelihood (best fit, Laplace covariance, posterior
samples), maps where in the box each target can be met, and re-solves the best fit, the
least-tension point and a few posterior samples with the real simulator. Writes
``infer.json``, ``infer.txt``, ``corner.png``, ``design.csv`` and ``surrogate/`` (use it with
``lfqcd predict DIR/surrogate --at ...``).
"""

from __future__ import annotations

import argparse


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="infer configuration, e.g. runs/infer.toml")
    parser.add_argument("--out", help="output folder (default: [infer] out of the file)")
    parser.add_argument("--quiet", action="store_true")
    from lfqcd.outdir import add_overwrite_argument

    add_overwrite_argument(parser)


def main(args: argparse.Namespace) -> int:
    from lfqcd import outdir
    from lfqcd.tomlio import read_toml
    from mlsurrogate.inverse.config import load_infer_config
    from mlsurrogate.inverse.report import summary_text
    from mlsurrogate.inverse.run import run_inference

    cfg = load_infer_config(args.config)
    out = args.out or cfg.out
    # the output-folder contract: refuse another command's or configuration's results
    outdir.prepare(out, "infer", outdir.config_hash(read_toml(args.config, "infer configuration")),
                   overwrite=args.overwrite)
    res = run_inference(cfg, out, None if args.quiet else lambda m: print(m, flush=True))
    print(summary_text(res))
    print(f"\nwrote {out}/infer.json, infer.txt, corner.png, design.csv, surrogate/ "
          f"({res['wall_s']:.0f} s, {res['simulator_calls']} simulator calls)")
    return 0
