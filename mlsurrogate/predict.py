"""Observables with their uncertainty from a saved surrogate at given couplings.

``lfqcd predict MODEL --at t_F=0.5,mu=1.2`` where ``MODEL`` is an ensemble folder written by
``lfqcd infer`` (``DIR/surrogate``: mean +- the spread between members, plus the held-out RMSE
of each output when it was measured) or a single checkpoint ``.pt`` written by ``lfqcd train``
(one network has no spread: only its value is printed, marked so). ``--at`` may be repeated for
several points; every input of the model must be given.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from lfqcd.errors import InvalidParameterError


def parse_point(text: str) -> dict[str, float]:
    """``"t_F=0.5,mu=1.2"`` -> ``{"t_F": 0.5, "mu": 1.2}`` with a clear error for bad input."""
    point: dict[str, float] = {}
    for item in filter(None, (s.strip() for s in text.split(","))):
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise InvalidParameterError(f"--at {text!r}: expected name=value pairs, got {item!r}")
        try:
            point[name.strip()] = float(value)
        except ValueError:
            raise InvalidParameterError(
                f"--at {text!r}: {name.strip()} = {value!r} is not a number") from None
    if not point:
        raise InvalidParameterError("--at needs at least one name=value pair")
    return point


def load_model(path: str | Path) -> Any:
    """An :class:`~mlsurrogate.inverse.ensemble.Ensemble` (folder) or a one-member one (.pt)."""
    from mlsurrogate.inverse.ensemble import Ensemble
    from mlsurrogate.surrogate import load_surrogate

    p = Path(path)
    if p.is_dir():
        return Ensemble.load(p)
    return Ensemble([load_surrogate(p)], {"single_checkpoint": str(p)})


def predict(model: Any, point: dict[str, float]) -> dict[str, dict[str, float | None]]:
    """``{observable: {"mean", "std" (None for one network), "heldout_rmse" (or None)}}``."""
    extra = sorted(set(point) - set(model.input_names))
    missing = [n for n in model.input_names if n not in point]
    if extra or missing:
        raise InvalidParameterError(
            f"the model takes inputs {model.input_names}"
            + (f"; missing {missing}" if missing else "") + (f"; unknown {extra}" if extra else ""))
    x = np.array([[point[n] for n in model.input_names]])
    mean, std = model.predict(x)
    single = len(model.members) == 1
    held = model.meta.get("heldout", {})
    return {n: {"mean": float(mean[0, j]), "std": None if single else float(std[0, j]),
                "heldout_rmse": held.get(n, {}).get("rmse")}
            for j, n in enumerate(model.output_names)}


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="ensemble folder (lfqcd infer: OUT/surrogate) or a .pt checkpoint")
    parser.add_argument("--at", action="append", required=True,
                        help="inputs as name=value,name=value (repeat for several points)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def main(args: argparse.Namespace) -> int:
    model = load_model(args.model)
    results = [(p, predict(model, p)) for p in map(parse_point, args.at)]
    if args.json:
        print(json.dumps([{"at": p, "observables": r} for p, r in results], indent=1))
        return 0
    for p, r in results:
        print("at " + ", ".join(f"{k}={v:g}" for k, v in p.items())
              + f" ({len(model.members)} network{'s' if len(model.members) > 1 else ''}):")
        for name, d in r.items():
            unc = ("(one network: no uncertainty)" if d["std"] is None
                   else f"+- {d['std']:.3g} (ensemble spread)")
            held = "" if d["heldout_rmse"] is None else f"; held-out RMSE {d['heldout_rmse']:.3g}"
            print(f"  {name:>16s} = {d['mean']:.6g} {unc}{held}")
    return 0
