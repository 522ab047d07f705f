"""One rank of a multi-process ``lfqcd train`` run; started by torchrun, not by users.

``python -m torch.distributed.run --standalone --nproc-per-node P -m mlsurrogate.train.worker
--config OUT/config.resolved.json --error-dir OUT/rank_errors``

Reads the resolved configuration, joins the process group (``env://`` from torchrun, with the
configured timeout), trains, and always destroys the group. An expected failure is written to
``<error-dir>/rank<r>.txt`` (first line = message) so that the launcher can report it in one
line, and the rank exits with status 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from pathlib import Path


def _report(error_dir: str | None, text: str) -> None:
    if not error_dir:
        return
    rank = os.environ.get("RANK", "0")
    Path(error_dir).mkdir(parents=True, exist_ok=True)
    Path(error_dir, f"rank{rank}.txt").write_text(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mlsurrogate.train.worker")
    parser.add_argument("--config", required=True)
    parser.add_argument("--error-dir")
    parser.add_argument("--init-from")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)

    from lfqcd.errors import LFQCDError
    from lfqcd.threads import pin_threads

    pin_threads(1)
    driver = os.environ.get("LFQCD_DRIVER_PID")
    if driver and driver.isdigit():
        from lfqcd.signals import exit_with_driver

        exit_with_driver(int(driver))  # a killed `lfqcd train` leaves no rank running
    try:
        from mlsurrogate.config import TrainConfig
        from mlsurrogate.parallel.runtime import distributed
        from mlsurrogate.train.run import run_training

        cfg = TrainConfig.from_dict(json.loads(Path(args.config).read_text()))
        with distributed(cfg.parallel.backend, cfg.parallel.timeout_s) as ctx:
            run_training(cfg, ctx, args.init_from, log=None if args.quiet else print)
        return 0
    except LFQCDError as exc:
        msg = f"{type(exc).__name__}: {exc}"
        _report(args.error_dir, msg)
        print(f"rank {os.environ.get('RANK', '?')}: error: {msg}", file=sys.stderr)
        return 2
    except BaseException as exc:
        _report(args.error_dir, f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}")
        raise


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # Skip interpreter finalisation, as multiprocessing children do: with gloo on torch 2.13
    # a rank occasionally aborted there ("terminate called without an active exception",
    # SIGABRT, ~1 run in 10) after a clean destroy_process_group, failing a finished run.
    os._exit(code)
