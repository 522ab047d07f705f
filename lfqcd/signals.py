"""Signal handling shared by the long-running commands (scans, active learning), and the
worker-side check that ends pool workers whose driver died."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Treat SIGTERM (Slurm's time limit, ``kill``) like Ctrl-C: save, then stop."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def process_alive(pid: int) -> bool:
    """True while process ``pid`` exists and is not a zombie (Linux ``/proc`` when present)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state != "Z"


def exit_with_driver(driver_pid: int, poll_s: float = 0.5) -> threading.Thread:
    """End this worker process (``os._exit``) within ``poll_s`` of its driver's death.

    Pool workers ignore SIGINT/SIGTERM (only the driver reacts to them) and an idle worker waits
    on a pipe whose write end it inherited itself, so it would never see end-of-file: without
    this check, a driver killed with ``kill -9`` leaves its workers hanging forever. A daemon
    thread polls the parent pid (it changes when the driver exits and the worker is re-parented)
    and whether ``driver_pid`` is still alive.
    """
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(poll_s)
            if os.getppid() != parent or not process_alive(driver_pid):
                with contextlib.suppress(Exception):
                    sys.stderr.write(f"lfqcd worker {os.getpid()}: driver {driver_pid} is gone; "
                                     "exiting\n")
                    sys.stderr.flush()
                os._exit(3)

    thread = threading.Thread(target=watch, name="lfqcd-driver-watch", daemon=True)
    thread.start()
    return thread


_stop = threading.Event()


#: environment variable naming a file whose existence requests a stop (set by a driver that
#: launches worker processes, e.g. ``lfqcd train`` under torchrun)
STOP_FILE_ENV = "LFQCD_STOP_FILE"


def stop_requested() -> bool:
    """True after the first SIGINT/SIGTERM inside :func:`graceful_stop`, or once the file named
    by ``$LFQCD_STOP_FILE`` exists (a driver asking its worker processes to stop)."""
    if _stop.is_set():
        return True
    path = os.environ.get(STOP_FILE_ENV)
    return bool(path) and os.path.exists(path)


@contextlib.contextmanager
def graceful_stop() -> Iterator[None]:
    """First Ctrl-C/SIGTERM only *requests* a stop (see :func:`stop_requested`); a second one
    interrupts at once. Long loops (training) poll the flag, finish the step, save, and return.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, _frame: object) -> None:
        if _stop.is_set():
            raise KeyboardInterrupt(f"signal {signum}")
        _stop.set()
        with contextlib.suppress(Exception):
            sys.stderr.write("stopping after this step and saving; press Ctrl-C again to "
                             "abort without saving\n")

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    _stop.clear()
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
        _stop.clear()
