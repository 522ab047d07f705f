"""The ``lfqcd`` command: one thin subcommand per public Python API.

Each subcommand lives in the module that owns its API and provides two functions::

    configure_parser(parser: argparse.ArgumentParser) -> None
    main(args: argparse.Namespace) -> int

This file only wires them together; it imports the owning module when the subcommand is
listed, so that ``lfqcd info`` does not pay for torch. Expected failures (``LFQCDError``) are
printed as one clear line and exit with status 2; anything else is a bug and shows a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from lfqcd import __version__
from lfqcd.errors import LFQCDError

#: subcommand -> (module providing configure_parser/main, one-line help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "info": ("lfqcd.info", "versions, eigensolver backends, GPU availability"),
    "run": ("heavy_meson.run", "heavy-light meson run: form-factor table, plots, results.json"),
    "calibrate": ("heavy_meson.calibrate", "fit the couplings to light mesons and covariance"),
    "scan": ("lfqcd.scan.cli", "batch scan over couplings/resolutions with a resumable store"),
    "train": ("mlsurrogate.train.cli", "train a surrogate (none/tensor/phantom parallel)"),
    "al": ("mlsurrogate.active.cli", "active learning / streaming simulate-while-training"),
    "string": ("lfqcd.transverse_string", "transverse string between static sources: V(R), "
               "sigma_T, rotational invariance, link-coupling fit"),
    "bench": ("lfqcd.bench", "run the benchmark scripts in benchmarks/"),
    "infer": ("mlsurrogate.inverse.cli", "fit couplings to target observables through a surrogate"),
    "predict": ("mlsurrogate.predict", "observables with uncertainty from a saved surrogate"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lfqcd", description="Light-front QCD on a transverse lattice."
    )
    parser.add_argument("--version", action="version", version=f"lfqcd {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name is not None and module_name.startswith(exc.name):
                continue  # subcommand not built yet in this checkout
            raise
        p = sub.add_parser(name, help=help_text, description=module.__doc__)
        module.configure_parser(p)
        p.set_defaults(_module=module)
    return parser


def main(argv: list[str] | None = None) -> int:
    from lfqcd.threads import pin_threads

    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    pin_threads(getattr(args, "threads", 1) or 1)
    try:
        return int(args._module.main(args) or 0)
    except LFQCDError as exc:
        print(f"lfqcd {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"lfqcd {args.command}: interrupted; finished results are kept.", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into e.g. ``head``: not an error of the run
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
