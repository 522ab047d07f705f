"""Simulate while training: the streaming active-learning workflow (benchmarks/streaming_vs_sequential.py).

The trainer runs in this process; simulations run on the scan executor (the same
:class:`~lfqcd.scan.executors.ScanExecutor` and :func:`lfqcd.scan.worker.run_point` as scans:
a local process pool by default, Dask or MPI when configured). There is no scheduler of our
own: selected points wait in a local *backlog* and are submitted as executor futures, at most
``W`` at a time while the trainer waits (all executor workers simulate) and at most
``stream.sim_workers`` while it trains (default ``W - 1``: the trainer has a core to itself).
Submission and collection happen between training epochs (the ``progress`` hook of
:func:`mlsurrogate.train.loop.fit`), so every finished simulation is stored at once.

Rounds (spec 6.3, adapted to a forward surrogate)
    round 0: the ``initial`` design, simulated on all workers, then the first training;
    round k = 1..R-1: ``ceil(oversample * batch)`` points drawn with the current model; once
    a ``split`` fraction of them has arrived, train the round (``round_epochs``, in chunks
    of ``chunk_epochs``) while the rest is simulated; results that arrive during training
    join the training set at the next chunk (the incremental feed of spec 7); whenever the
    model was retrained on new data, the pool is re-scored and the not-yet-submitted
    backlog is replaced by a fresh selection (less staleness than the paper's fixed
    split); when the backlog runs dry while the trainer trains, the next round's points
    are drawn at once with the current model, so the workers keep producing (its split
    may then have arrived before its training starts); with ``train.patience > 0`` a round
    ends early after that many epochs without new data or validation improvement;
    round R: draw ``batch`` points, wait for every outstanding point, train on everything
    (as the paper's last round: 100% simulated before training).

Total simulations: ``initial + (R - 1) * ceil(oversample * batch) + batch`` (the oversampled
points are simulated behind training). Each completed round is checkpointed like the
sequential workflow's; a resumed streaming run continues after the last completed round with
every stored result (arrival order depends on timing, so streaming runs are not
bit-reproducible, unlike sequential ones).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from lfqcd.scan.executors import ScanExecutor, make_executor, usable_cores
from mlsurrogate.active.config import ALConfig
from mlsurrogate.active.folder import ALResult, ALRun, Echo, Progress, progress_enabled
from mlsurrogate.active.policy import design_unit, select_batch
from mlsurrogate.active.rounds import (
    build_result,
    describe_point,
    heldout_metrics,
    resume_point,
    seeds_of,
    train_chunked,
)
from mlsurrogate.active.simulators.client import PendingSim, SimRecord, wait_any
from mlsurrogate.active.uncertainty import make_model
from mlsurrogate.data import Dataset
from mlsurrogate.seeds import derive_seed

__all__ = ["StreamState", "run_streaming", "streaming_budget"]


def streaming_budget(cfg: ALConfig) -> int:
    """Simulations of a streaming run: ``initial + (R - 1) ceil(oversample B) + B``."""
    return cfg.policy.streaming_budget(cfg.stream.oversample)


class StreamState:
    """The backlog, the in-flight futures and the arrived records of a streaming run."""

    def __init__(self, run: ALRun, records: list[SimRecord], progress: Progress) -> None:
        self.run = run
        self.client = run.client
        self.records = records
        self.progress = progress
        self.backlog: list[tuple[np.ndarray, str, int]] = []
        self.inflight: list[PendingSim] = []
        self.arrived = 0  # results collected in this session
        self.submitted = 0

    def pump(self, limit: int) -> None:
        """Submit backlog points until ``limit`` are in flight (non-blocking)."""
        while self.backlog and len(self.inflight) < limit:
            x, origin, rnd = self.backlog.pop(0)
            p = self.client.submit(x[None, :], origin, rnd)[0]
            self.submitted += 1
            if p.record is not None:  # stored earlier (resume): no simulation needed
                self._arrive(p.record)
            else:
                self.inflight.append(p)

    def arrived_in(self, rnd: int) -> int:
        """Results (ok or failed) of points drawn for round ``rnd``."""
        return sum(1 for r in self.records if r.round == rnd)

    def drain(self) -> int:
        """Collect finished futures (non-blocking); returns how many arrived."""
        done = [p for p in self.inflight if p.done()]
        for p in done:
            self.inflight.remove(p)
            self._arrive(self.client.collect(p))
        return len(done)

    def _arrive(self, rec: SimRecord) -> None:
        self.records.append(rec)
        self.arrived += 1
        self.progress.sim_done(rec)
        if rec.status != "ok":
            self.progress.note(f"simulation failed at {describe_point(self.client.box, rec.x)}: "
                               f"{rec.error}")

    def wait(self, until: Callable[[], bool], workers: int) -> None:
        """Trainer idle: keep ``workers`` simulations running until ``until()`` or nothing left."""
        while not until() and (self.backlog or self.inflight):
            self.pump(workers)
            if self.inflight and not any(p.done() for p in self.inflight):
                if not wait_any(self.inflight, 0.05) and not hasattr(self.inflight[0].future, "done"):
                    self.client.collect(self.inflight[0])  # lazy (serial) futures run on demand
            self.drain()

    def taken_unit(self) -> np.ndarray:
        """Unit coordinates of every point simulated, in flight or in the backlog."""
        xs = [r.x for r in self.records] + [p.x for p in self.inflight] + [b[0] for b in self.backlog]
        d = self.client.box.d
        return self.client.box.to_unit(np.array(xs).reshape(-1, d))


def run_streaming(
    cfg: ALConfig,
    *,
    executor: ScanExecutor | None = None,
    test_set: Dataset | None = None,
    echo: Echo | None = None,
    on_round: Callable[[int, dict[str, Any]], None] | None = None,
    on_chunk: Callable[[dict[str, Any]], None] | None = None,
) -> ALResult:
    """Run (or resume) the streaming workflow of ``cfg`` (module docstring).

    Same parameters and errors as :func:`mlsurrogate.active.run.run_active_learning`, plus
    ``on_chunk`` called after every training chunk with ``{"wall_s", "n_sims", "n_train",
    "test_nmse", "round"}`` (the benchmark's time-to-error curve).
    """
    say = echo or (lambda _m: None)
    t_start = time.perf_counter()
    run = ALRun(cfg, echo=say)
    run.start(seeds_of(cfg))
    model = make_model(cfg)
    box, pol, scfg = run.client.box, cfg.policy, cfg.stream
    last, _ = resume_point(run, model, say)
    records: list[SimRecord] = []
    if last >= 0:
        man = run.client.manifest()
        records = run.records_for([k for k, e in man.items() if e.get("al_origin") != "test"])
        say(f"resuming {run.out} after round {last} ({len(records)} stored simulations)")
    budget = streaming_budget(cfg)
    members = cfg.uncertainty.members if cfg.uncertainty.kind == "ensemble" else 1
    progress = Progress(cfg.name, budget, progress_enabled(cfg.output.progress), say, members)
    progress.sims, progress.failed = len(records), sum(r.status != "ok" for r in records)
    own = executor is None
    ex = executor if executor is not None else make_executor(cfg.executor)
    run.attach(ex)
    W = max(1, int(getattr(ex, "n_workers", 1) or 1))
    w_train = min(W, scfg.sim_workers or max(1, min(W, usable_cores()) - 1))
    st = StreamState(run, records, progress)
    interrupted = False
    notes = [f"streaming: {W} simulation worker(s) while the trainer waits, {w_train} while it "
             f"trains; {budget} simulations in total"]
    n_rescore = 0
    origin = "random" if pol.kind == "random" else "al"
    drawn: dict[int, int] = {}  # round -> points drawn for it

    def draw(k: int) -> None:
        """Select round ``k``'s points with the current model into the backlog."""
        n_k = pol.batch if k == pol.rounds else math.ceil(scfg.oversample * pol.batch)
        n_new = max(0, n_k - st.arrived_in(k))  # a resumed run already has some
        drawn[k] = n_k
        if n_new:
            rng = np.random.default_rng(derive_seed(cfg.seed, k, 1))
            sel = select_batch(model, box, n_new, pol, rng, exclude_u=st.taken_unit(),
                               pool_seed=derive_seed(cfg.seed, k if pol.refresh_pool else 1, 2))
            st.backlog += [(x, origin, k) for x in sel.x]

    try:
        test = run.test_set(test_set, progress)

        def point(k: int, entry: dict[str, Any] | None = None) -> dict[str, Any]:
            data_n = sum(1 for r in st.records if r.status == "ok")
            return {"round": k, "wall_s": time.perf_counter() - t_start, "n_sims": len(st.records),
                    "n_train": data_n, **heldout_metrics(model, test), **(entry or {})}

        def train_round(k: int, epochs: int, warm: bool) -> dict[str, Any]:
            """:func:`train_chunked` with the incremental feed and re-scoring of the backlog."""
            t0 = time.perf_counter()
            seen = len(st.records)

            def between_epochs(entry: dict[str, float]) -> None:
                progress.epoch(entry)
                st.pump(w_train)
                st.drain()

            def between_chunks(val: float) -> Dataset | None:
                nonlocal seen, n_rescore
                if on_chunk is not None:
                    on_chunk(point(k, {"val_loss": val}))
                if len(st.records) == seen:
                    return None
                seen = len(st.records)
                if st.backlog:  # retrained on new data: re-score the backlog
                    n_rescore += 1
                    tags = [b[2] for b in st.backlog]
                    st.backlog.clear()
                    rng = np.random.default_rng(derive_seed(cfg.seed, k, 1, 1000 + n_rescore))
                    sel = select_batch(model, box, len(tags), pol, rng, exclude_u=st.taken_unit(),
                                       pool_seed=derive_seed(cfg.seed, k, 2, n_rescore))
                    st.backlog += [(x, origin, t) for x, t in zip(sel.x, tags, strict=True)]
                if k < pol.rounds and (k + 1) not in drawn and not st.backlog \
                        and len(st.inflight) < w_train:
                    draw(k + 1)  # keep the workers busy: the next round's batch, drawn now
                return run.dataset(st.records)

            out = train_chunked(model, run.dataset(st.records), epochs,
                                chunk=cfg.train.chunk_epochs, warm=warm,
                                patience=cfg.train.patience, on_epoch=between_epochs,
                                between=between_chunks)
            return {**out, "train_s": time.perf_counter() - t0}

        for k in range(last + 1, pol.rounds + 1):
            final = k == pol.rounds
            t_round = time.perf_counter()
            if k == 0:
                u = design_unit(pol.initial_sampler, box.d, pol.initial, derive_seed(cfg.seed, 0, 3))
                st.backlog += [(x, "initial", 0) for x in box.from_unit(u)]
                drawn[0] = pol.initial
                need = pol.initial
            else:
                if k not in drawn:
                    draw(k)
                need = math.ceil(scfg.split * drawn[k])
            st.wait(lambda k=k, need=need: st.arrived_in(k) >= need, W)
            if final:  # the last round trains on everything (spec 6.3: 100% before train3)
                st.wait(lambda: False, W)
            epochs = cfg.train.initial_epochs if k == 0 else cfg.train.round_epochs
            tr = train_round(k, epochs, warm=k > 0 and cfg.train.warm_start)
            data = tr.pop("data")
            entry = {**tr, **heldout_metrics(model, test)}
            entry.update({
                "n_sims": len(st.records), "n_failed": sum(r.status != "ok" for r in st.records)
                + sum(1 for r in st.records if r.key in run.unusable),
                "n_train": len(data), "in_flight": len(st.inflight), "backlog": len(st.backlog),
                "rescored": n_rescore, "final": final,
                "round_s": time.perf_counter() - t_round, "wall_s": time.perf_counter() - t_start,
            })
            run.complete_round(k, model, [r.key for r in st.records], entry, st.records)
            progress.round_done(k, pol.rounds, entry)
            if on_round is not None:
                on_round(k, entry)
        st.wait(lambda: False, W)  # nothing should be left; consume it if there is
    except BaseException:  # Ctrl-C, SIGTERM, a dead worker: stop the workers, keep results
        interrupted = True
        raise
    finally:
        progress.close()
        if interrupted:
            st.client.cancel(st.inflight)
        if own:
            ex.close(interrupted=interrupted)
        if interrupted:
            run.finish("interrupted", {})
            say(f"interrupted: {len(run.rounds)} completed round(s) kept in {run.out}; re-run "
                f"the same command to resume")
    return build_result(run, model, st.records, t_start, last, mode="streaming", notes=notes)
