"""The sequential active-learning workflow, :func:`run_active_learning` (results: docs/al_heavy4.md).

Round 0: ``initial`` points of a Sobol'/LHS design, models trained from scratch
(``initial_epochs``); rounds 1..R: ``batch`` points each, selected by
:mod:`mlsurrogate.active.policy`, models warm-started from the previous round (weights and
standardisation kept; Adam and its learning rate restarted; ``round_epochs``).
``[policy] kind = "random"`` is the i.i.d. baseline arm (the same rounds and training with
uniformly random batches), ``"sobol"`` the space-filling one: round k takes the next ``batch``
points of the scrambled Sobol' sequence whose first ``initial`` points were round 0.
``[al] mode = "streaming"`` delegates to :mod:`mlsurrogate.active.streaming`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from lfqcd.scan.executors import ScanExecutor, make_executor
from mlsurrogate.active.config import ALConfig
from mlsurrogate.active.folder import ALResult, ALRun, Echo, Progress, progress_enabled
from mlsurrogate.active.policy import Selection, design_unit, select_batch, sobol_continuation
from mlsurrogate.active.rounds import (
    build_result,
    describe_point,
    fit_round,
    heldout_metrics,
    resume_point,
    seeds_of,
)
from mlsurrogate.active.streaming import run_streaming
from mlsurrogate.active.uncertainty import make_model
from mlsurrogate.data import Dataset
from mlsurrogate.seeds import derive_seed

__all__ = ["run_active_learning"]


def run_active_learning(
    cfg: ALConfig,
    *,
    executor: ScanExecutor | None = None,
    test_set: Dataset | None = None,
    echo: Echo | None = None,
    on_round: Callable[[int, dict[str, Any]], None] | None = None,
) -> ALResult:
    """Run (or resume) the sequential active-learning workflow of ``cfg``.

    Parameters
    ----------
    cfg : a validated configuration (:func:`mlsurrogate.active.config.load_al_config`); with
        ``cfg.mode == "streaming"`` this delegates to :func:`mlsurrogate.active.streaming.run_streaming`.
    executor : where simulations run; default: built from ``cfg.executor`` and closed after.
    test_set : a precomputed held-out set (benchmarks share one); default: ``[test]``.
    echo : one-line messages (``None``: silent).
    on_round : called after every completed round with ``(k, round entry)``.

    Raises
    ------
    ConfigError, InvalidParameterError : bad configuration, box or names; a results folder
        written with another configuration; nothing usable simulated.
    BackendUnavailableError : the executor cannot start or a worker process died.
    KeyboardInterrupt : re-raised after the finished rounds and simulations are saved (the
        same for any other exception: completed rounds are kept, the run resumes).
    """
    if cfg.mode == "streaming":
        return run_streaming(cfg, executor=executor, test_set=test_set, echo=echo,
                             on_round=on_round)
    say = echo or (lambda _m: None)
    t_start = time.perf_counter()
    run = ALRun(cfg, echo=say)
    run.start(seeds_of(cfg))
    model = make_model(cfg)
    box = run.client.box
    pol = cfg.policy
    last, records = resume_point(run, model, say)
    if last >= 0:
        say(f"resuming {run.out} after round {last} ({len(records)} labelled points)")
    progress = Progress(cfg.name, pol.budget, progress_enabled(cfg.output.progress), say,
                        cfg.uncertainty.members if cfg.uncertainty.kind == "ensemble" else 1)
    progress.sims = len(records)
    progress.failed = sum(r.status != "ok" for r in records)
    own = executor is None
    ex = executor
    interrupted = False
    try:
        needs_sims = last < pol.rounds or (test_set is None and cfg.test.n_points > 0)
        if needs_sims and ex is None:
            ex = make_executor(cfg.executor)
        if ex is not None:
            run.attach(ex)
        test = run.test_set(test_set, progress)
        for k in range(last + 1, pol.rounds + 1):
            t_round = time.perf_counter()
            if k == 0:
                u = design_unit(pol.initial_sampler, box.d, pol.initial, derive_seed(cfg.seed, 0, 3))
                sel = Selection(box.from_unit(u), u)
                origin = "initial"
            elif pol.kind == "sobol":  # the next points of the initial design's sequence
                u = sobol_continuation(box.d, pol.initial + (k - 1) * pol.batch, pol.batch,
                                       derive_seed(cfg.seed, 0, 3))
                sel = Selection(box.from_unit(u), u)
                origin = "sobol"
            else:
                rng = np.random.default_rng(derive_seed(cfg.seed, k, 1))
                done_u = box.to_unit(np.array([r.x for r in records]))
                sel = select_batch(model, box, pol.batch, pol, rng, exclude_u=done_u,
                                   pool_seed=derive_seed(cfg.seed, k if pol.refresh_pool else 1, 2))
                origin = "random" if pol.kind == "random" else "al"
            t_sim = time.perf_counter()
            new = run.client.run(sel.x, origin, k, on_result=progress.sim_done)
            sim_s = time.perf_counter() - t_sim
            records = records + new
            data = run.dataset(records)
            entry = fit_round(run, model, data, k, progress)
            entry.update(heldout_metrics(model, test))
            entry.update(sel.stats())
            entry.update({
                "n_sims": len(records), "n_failed": sum(r.status != "ok" for r in records)
                + sum(1 for r in records if r.key in run.unusable),
                "n_train": len(data), "n_new": len(new),
                "n_reused": sum(r.reused for r in new), "sim_s": sim_s,
                "round_s": time.perf_counter() - t_round,
                "wall_s": time.perf_counter() - t_start,
            })
            for r in new:
                if r.status != "ok":
                    progress.note(f"simulation failed at {describe_point(box, r.x)}: {r.error}")
            run.complete_round(k, model, [r.key for r in records], entry, records)
            progress.round_done(k, pol.rounds, entry)
            if on_round is not None:
                on_round(k, entry)
    except BaseException:  # Ctrl-C, SIGTERM, a dead worker: stop the workers, keep results
        interrupted = True
        raise
    finally:
        progress.close()
        if own and ex is not None:
            ex.close(interrupted=interrupted)
        if interrupted:
            run.finish("interrupted", {})
            say(f"interrupted: {len(run.rounds)} completed round(s) kept in {run.out}; re-run "
                f"the same command to resume")
    return build_result(run, model, records, t_start, last)


