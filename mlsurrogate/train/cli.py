"""Train a surrogate FFN (dense, tensor parallel or phantom parallel) from a TOML configuration.

One process: the run happens here. ``--nproc P > 1``: the resolved configuration is written to
the output folder and ``P`` ranks are started with ``torchrun --standalone`` running
:mod:`mlsurrogate.train.worker` (gloo on CPU, NCCL when every rank has a GPU). Rank 0 writes
``model.pt``, ``loss_curve.png`` and ``record.json`` into the output folder.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from lfqcd import outdir
from lfqcd.errors import InvalidParameterError

MODES = ("none", "tensor", "phantom")


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``lfqcd train``; flags override the config file."""
    parser.add_argument("config", help="training configuration (see runs/train_*.toml)")
    parser.add_argument("--parallel", choices=MODES, help="parallel mode (overrides the config)")
    parser.add_argument("--nproc", type=int,
                        help="number of ranks (overrides the config); --nproc 1 without "
                             "--parallel trains the dense model")
    parser.add_argument("--ghosts", type=int, help="phantom ghosts per rank k")
    parser.add_argument("--width", type=int, help="hidden width n")
    parser.add_argument("--data", metavar="SCAN_DIR", help="train on this scan store folder")
    parser.add_argument("--out", metavar="DIR", help="output folder (overrides output.dir)")
    parser.add_argument("--epochs", type=int, help="maximum number of epochs")
    parser.add_argument("--batch-size", type=int, metavar="B", help="mini-batch size")
    parser.add_argument("--lr", type=float, help="Adam learning rate")
    parser.add_argument("--patience", type=int, metavar="STEPS",
                        help="stop after this many optimizer steps without validation "
                             "improvement (0: never)")
    parser.add_argument("--min-iters", type=int, metavar="STEPS",
                        help="train at least this many optimizer steps (small data sets)")
    parser.add_argument("--backend", choices=("auto", "gloo", "nccl"), help="distributed backend")
    parser.add_argument("--timeout", type=float, metavar="S", help="process-group timeout (s)")
    parser.add_argument("--init-from", metavar="CKPT",
                        help="start from the weights of a checkpoint of the same architecture")
    parser.add_argument("--quiet", action="store_true", help="no per-evaluation progress lines")
    outdir.add_overwrite_argument(parser)


def resolve_config(args: argparse.Namespace) -> Any:
    """Config file + command-line overrides, validated (flags > file > defaults)."""
    from mlsurrogate.config import load_config

    cfg = load_config(args.config)
    par: dict[str, Any] = {}
    if args.parallel is not None:
        par["mode"] = args.parallel
        if args.parallel == "none" and args.nproc is None:
            par["nproc"] = 1  # the file's nproc belongs to its parallel mode
    elif args.nproc == 1:
        par["mode"] = "none"  # one process: the dense model, unless a parallel mode is asked for
    for flag, key in (("nproc", "nproc"), ("ghosts", "ghosts"), ("backend", "backend"),
                      ("timeout", "timeout_s")):
        if getattr(args, flag) is not None:
            par[key] = getattr(args, flag)
    data = {"source": "scan", "path": args.data} if args.data else {}
    return cfg.with_overrides(
        parallel=par,
        data=data,
        model={"width": args.width} if args.width is not None else {},
        train={key: getattr(args, flag) for flag, key in
               (("epochs", "max_epochs"), ("batch_size", "batch_size"), ("lr", "lr"),
                ("patience", "patience"), ("min_iters", "min_iters"))
               if getattr(args, flag) is not None},
        output={"dir": args.out} if args.out else {},
    )


def _summary(record: dict[str, Any]) -> str:
    fitd, fl, by, en = record["fit"], record["flops"], record["bytes"], record["energy"]
    mod, meas = en["modeled"], en["measured"]
    measured = (f"{meas['energy_j']:.3g} J ({meas['source']}, {meas['scope']})"
                if meas.get("energy_j") is not None else meas.get("note", "not measured"))
    lines = [
        f"best validation MSE {fitd['best_val_loss']:.4e} at iteration {fitd['best_iter']} "
        f"({fitd['n_iters']} iterations, stopped: {fitd['stopped']}, "
        f"median step {fitd['median_step_s'] * 1e3:.2f} ms, wall {record['timing']['wall_s']:.1f} s)",
        f"FLOPs/iter/rank: analytic {fl['analytic_per_iter_per_rank']:.4g}, counted "
        f"{', '.join(f'{c:.4g}' for c in fl['counted_per_iter_per_rank'])} (FlopCounterMode)",
        f"bytes/iter/rank: analytic {sum(by['analytic_per_iter_per_rank'].values()):.4g}, counted "
        + ", ".join(f"{b['total_logical_bytes']:.4g}" for b in by["counted_per_iter_per_rank"]),
        f"energy measured: {measured}",
        f"energy modeled: {mod['energy_j']:.3g} J (band {mod['band_j'][0]:.3g}-{mod['band_j'][1]:.3g}"
        " J; coefficients in record.json)",
        "wrote " + ", ".join(record["artifacts"].values()),
    ]
    return "\n".join(lines)


def _launch_torchrun(cfg: Any, args: argparse.Namespace) -> dict[str, Any]:
    from mlsurrogate.errors import RankFailureError

    out = Path(cfg.output.dir)
    out.mkdir(parents=True, exist_ok=True)
    resolved = out / "config.resolved.json"
    resolved.write_text(json.dumps(cfg.to_dict(), indent=2))
    err_dir = out / "rank_errors"
    if err_dir.exists():
        for f in err_dir.glob("rank*.txt"):
            f.unlink()
    record_path = out / "record.json"
    if record_path.exists():
        record_path.unlink()
    log_path = out / "torchrun.log"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
           "--nproc-per-node", str(cfg.parallel.nproc), "--max-restarts", "0",
           "-m", "mlsurrogate.train.worker", "--config", str(resolved),
           "--error-dir", str(err_dir)]
    if args.init_from:
        cmd += ["--init-from", str(args.init_from)]
    if args.quiet:
        cmd.append("--quiet")
    stop_file = out / "STOP"
    stop_file.unlink(missing_ok=True)
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1",
               LFQCD_STOP_FILE=str(stop_file), LFQCD_DRIVER_PID=str(os.getpid()))
    from lfqcd.signals import graceful_stop, stop_requested

    with log_path.open("w") as log:
        # torchrun and its ranks get a session of their own, so a Ctrl-C in the terminal reaches
        # only this driver: it asks the ranks to stop (stop file), they agree on a step, save
        # the best model and exit; a second Ctrl-C aborts them without saving
        proc = subprocess.Popen(cmd, stdout=None, stderr=log, env=env, start_new_session=True)
        try:
            with graceful_stop():
                while (rc := proc.poll()) is None:
                    if stop_requested() and not stop_file.exists():
                        stop_file.touch()
                    time.sleep(0.2)
        except KeyboardInterrupt:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
            raise
        finally:
            stop_file.unlink(missing_ok=True)
    if rc != 0 or not record_path.is_file():
        reports = sorted(err_dir.glob("rank*.txt")) if err_dir.exists() else []
        found = {p.stem: p.read_text().strip().splitlines()[0] for p in reports if p.read_text()}
        silent = [f"rank{r}" for r in range(cfg.parallel.nproc) if f"rank{r}" not in found]
        parts = [f"{k}: {v}" for k, v in sorted(found.items())]
        if silent and rc != 0:
            parts.append(f"{', '.join(silent)}: no error report (killed or crashed)")
        raise RankFailureError(
            f"torchrun with {cfg.parallel.nproc} ranks failed (exit code {rc}): "
            + ("; ".join(parts) or "no rank reported an error")
            + f". Full log: {log_path}"
        )
    return json.loads(record_path.read_text())


def main(args: argparse.Namespace) -> int:
    """Run ``lfqcd train``; returns the exit status."""
    cfg = resolve_config(args)
    from mlsurrogate.parallel.runtime import choose_backend

    nproc = cfg.parallel.nproc
    if nproc < 1:
        raise InvalidParameterError(f"--nproc must be >= 1, got {nproc}")
    choose_backend(cfg.parallel.backend, nproc)  # fail fast: e.g. NCCL without GPUs
    if args.init_from and not Path(args.init_from).is_file():
        from lfqcd.errors import ResultFileError

        raise ResultFileError(f"checkpoint {args.init_from} does not exist")
    od = outdir.prepare(cfg.output.dir, "train", outdir.config_hash(cfg.to_dict()),
                        overwrite=args.overwrite)
    resume_from = _resume_checkpoint(od) if od.resume else None
    if resume_from is not None:
        print(f"resuming from the best checkpoint of the interrupted run: {resume_from}")
        args.init_from = str(resume_from)
    if nproc == 1:
        from lfqcd.signals import graceful_stop
        from mlsurrogate.train.run import run_training

        with graceful_stop():  # Ctrl-C/SIGTERM: finish the step, save the best model, stop
            record = run_training(cfg, None, args.init_from, log=None if args.quiet else print)
        assert record is not None
    else:
        record = _launch_torchrun(cfg, args)
    print(_summary(record))
    if record["fit"]["stopped"] == "interrupted":
        print(f"interrupted: the best model so far is saved in {od.path / 'model.pt'}; "
              "re-run the same command to resume from it", file=sys.stderr)
        return 130
    return 0


def _resume_checkpoint(od: Any) -> Path | None:
    """``model.pt`` of an interrupted run in the folder; refuse to redo a finished one."""
    from lfqcd.errors import OutputFolderError

    try:
        stopped = json.loads((od.path / "record.json").read_text())["fit"]["stopped"]
    except (OSError, ValueError, KeyError, TypeError):
        return None  # no finished record (e.g. killed): train from the start
    if stopped == "interrupted" and (od.path / "model.pt").is_file():
        return od.path / "model.pt"
    raise OutputFolderError(
        f"--out {od.path} already holds a finished training of this configuration "
        f"(stopped: {stopped}); pass --overwrite to train again or choose a new folder"
    )
