"""Active learning of a surrogate by uncertainty sampling: ``lfqcd al CONFIG.toml [--streaming]``.

Round 0 simulates a quasi-random initial design and trains an ensemble of small FFNs; every
further round scores a fresh candidate pool over the coupling box, draws a batch with
probabilities proportional to the predicted variance, simulates it (scan executor: local
process pool, Dask or MPI) and retrains warm-started. ``--streaming`` simulates while the
model trains. Re-running the same command resumes after the last completed round; a changed
configuration is refused. Results: ``<out>/al_state.json``, ``sims/`` (a scan store),
``rounds/round_<k>/``, ``learning_curve.{csv,png}``. See ``runs/al_toy.toml``.
"""

from __future__ import annotations

import argparse
import sys

from lfqcd.signals import sigterm_as_interrupt

EXECUTOR_KINDS = ("process", "serial", "dask", "mpi")


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``lfqcd al`` (flags override the configuration file)."""
    parser.add_argument("config", help="active-learning configuration (TOML), e.g. runs/al_toy.toml")
    parser.add_argument("--streaming", action="store_true",
                        help="simulate while training (overrides [al] mode)")
    parser.add_argument("--sequential", action="store_true",
                        help="alternate simulation and training (overrides [al] mode)")
    parser.add_argument("--out", help="results folder (default: [al] out, else out/al_<name>)")
    parser.add_argument("--executor", choices=EXECUTOR_KINDS, help="where simulations run")
    parser.add_argument("--workers", type=int, help="simulation worker processes")
    parser.add_argument("--sim-workers", type=int, metavar="N",
                        help="streaming: simulations running while the trainer trains")
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="Dask scheduler address (implies --executor dask)")
    parser.add_argument("--scheduler-file", help="Dask scheduler file (implies --executor dask)")
    parser.add_argument("--no-plots", action="store_true", help="skip learning_curve.png")
    progress = parser.add_mutually_exclusive_group()
    progress.add_argument("--progress", dest="progress", action="store_const", const=True,
                          help="always show the live progress bar")
    progress.add_argument("--no-progress", dest="progress", action="store_const", const=False,
                          help="one line per round instead of the live bar")
    parser.add_argument("--quiet", action="store_true", help="only the final summary")
    parser.add_argument("--dry-run", action="store_true",
                        help="validate the configuration, show the plan; simulate nothing")
    from lfqcd.outdir import add_overwrite_argument

    add_overwrite_argument(parser)
    parser.add_argument("--allow-simulator-import", action="store_true",
                        help="allow a simulator that is not registered (runs its code)")


def resolve(args: argparse.Namespace) -> object:
    """The configuration file with the command-line overrides applied."""
    from lfqcd.errors import ConfigError
    from mlsurrogate.active.config import load_al_config

    if args.streaming and args.sequential:
        raise ConfigError("--streaming and --sequential exclude each other")
    cfg = load_al_config(args.config)
    kind = args.executor
    if (args.scheduler or args.scheduler_file) and kind is None:
        kind = "dask"
    mode = "streaming" if args.streaming else "sequential" if args.sequential else None
    return cfg.with_overrides(
        mode=mode, out=args.out, executor_kind=kind, executor_workers=args.workers,
        executor_address=args.scheduler, executor_scheduler_file=args.scheduler_file,
        stream_sim_workers=args.sim_workers,
        output_plots=False if args.no_plots else None, output_progress=args.progress,
    )


def main(args: argparse.Namespace) -> int:
    """Entry point of ``lfqcd al``; 0 when the run completed."""
    from mlsurrogate.active.config import ALConfig
    from mlsurrogate.active.run import run_active_learning

    cfg = resolve(args)
    assert isinstance(cfg, ALConfig)
    check_feasible(cfg, args.allow_simulator_import)
    if args.dry_run:
        print(dry_run_text(cfg))
        return 0
    from lfqcd import outdir
    from mlsurrogate.active.folder import ALRun, default_out

    ALRun(cfg)  # names, box corners and an existing folder's configuration, before any write
    outdir.prepare(default_out(cfg), "al", None, overwrite=args.overwrite)

    def echo(msg: str) -> None:
        if not args.quiet:
            print(msg, file=sys.stderr, flush=True)

    with sigterm_as_interrupt():
        res = run_active_learning(cfg, echo=echo)
    print(res.summary())
    return 0


def check_feasible(cfg: object, allow_simulator_import: bool = False) -> None:
    """Registered simulator, usable backend, and a candidate pool that fits in memory."""
    from lfqcd import validate
    from lfqcd.eigen import check_backend
    from lfqcd.simulator import check_simulator_allowed

    check_simulator_allowed(cfg.simulator, allow_simulator_import, "[al] simulator")
    check_backend(cfg.backend, "[al] backend")
    # coarse: the pool's coordinates plus every member's activations, with temporaries
    per_candidate = 8 * (4 * len(cfg.box) + 4 * cfg.uncertainty.members * (cfg.model.width + 16))
    validate.fits_in_memory(cfg.policy.pool_size * per_candidate, "[policy] pool_size",
                            f"a candidate pool of {cfg.policy.pool_size} points")


def dry_run_text(cfg: object) -> str:
    """The resolved plan: simulator, box, budget, policy, model, executor, folder state."""
    from mlsurrogate.active.config import ALConfig
    from mlsurrogate.active.folder import ALRun

    assert isinstance(cfg, ALConfig)
    run = ALRun(cfg)  # validates names, box corners and an existing folder's configuration
    p, u = cfg.policy, cfg.uncertainty
    budget = cfg.budget
    done = run.rounds
    state = ("new folder" if not done else
             f"{len(done)} round(s) completed, would resume after round {done[-1]['round']}")
    box = ", ".join(f"{a.name} in [{a.low:g}, {a.high:g}]" + (" (log)" if a.log else "")
                    for a in cfg.box)
    return "\n".join([
        f"active learning {cfg.name} ({cfg.mode}): simulator {cfg.simulator}",
        f"  box: {box}",
        f"  fixed: {', '.join(f'{k}={v!r}' for k, v in cfg.fixed.items()) or '(simulator defaults)'}",
        f"  policy: {p.kind}; {p.initial} initial ({p.initial_sampler}) + {p.rounds} rounds x "
        f"{p.batch}; {budget} simulations; pool {p.pool_size} ({p.pool_sampler}), jitter "
        f"{p.jitter:g}, uniform mix {p.uniform_mix:g}, power {p.power:g}",
        f"  uncertainty: {u.kind}" + (f" ({u.members} members)" if u.kind == "ensemble" else "")
        + f"; FFN width {cfg.model.width}, depth {cfg.model.depth}",
        f"  held-out set: {cfg.test.n_points} points ({cfg.test.sampler}, seed {cfg.test.seed})",
        f"  executor: {cfg.executor.kind} (workers={cfg.executor.workers or 'all cores'})",
        f"  out: {run.out} ({state})",
    ])
