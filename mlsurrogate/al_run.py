"""Book-keeping shared by the sequential (:mod:`mlsurrogate.active`) and streaming
(:mod:`mlsurrogate.stream`) workflows: the results folder, resume, held-out set, progress.

Results folder (``[al] out``, default ``out/al_<name>``)::

    al_state.json           format, config, science (what a resume must match), versions,
                            seeds, output columns, one entry per completed round, status
    sims/                   a scan store with every simulation (failures too); see
                            mlsurrogate.al_sim - readable by read_scan_store / lfqcd train
    rounds/round_<k>/       the model after round k (ensemble members or heteroscedastic net)
    learning_curve.csv      round, simulations, training points, held-out error, wall time
    learning_curve.png      held-out error against simulations

A round is *completed* once its model checkpoint and its entry in ``al_state.json`` are
written (in that order, each atomically). An interrupted run resumes from the last completed
round: the model is reloaded, the labelled set is the points of rounds up to it, and the next
selection - deterministic given the seeds - finds the points the interrupted round had already
simulated in ``sims/`` and does not run them again. A folder written with a different
configuration (:meth:`ALConfig.science_dict`) is refused with the differences listed.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lfqcd.errors import ConfigError, InvalidParameterError, ResultFileError
from lfqcd.outdir import MARKER
from lfqcd.scan.designs import unit_sample
from lfqcd.scan.keys import canonical_json, plain
from lfqcd.scan.store import atomic_write_text, config_diff, now_iso
from lfqcd.scan.store import json_finite as _finite
from mlsurrogate.al_config import ALConfig
from mlsurrogate.al_sim import SimRecord, SimulationClient, output_columns
from mlsurrogate.data import Dataset

__all__ = ["ALResult", "ALRun", "Echo", "Progress", "design_unit", "derive_seed", "default_out"]

STATE_FORMAT = "lfqcd-al/1"
Echo = Callable[[str], None]


def default_out(cfg: ALConfig) -> Path:
    """``[al] out`` or ``out/al_<name>``."""
    return Path(cfg.out) if cfg.out else Path("out") / f"al_{cfg.name}"


def derive_seed(*parts: int) -> int:
    """An independent 32-bit seed from integers (``numpy.random.SeedSequence``)."""
    return int(np.random.SeedSequence([int(p) & 0xFFFFFFFF for p in parts]).generate_state(1)[0])


def design_unit(kind: str, d: int, n: int, seed: int) -> np.ndarray:
    """``n`` points in the unit cube: scrambled ``"sobol"``, ``"lhs"`` or i.i.d. ``"random"``."""
    if n <= 0:
        return np.zeros((0, d))
    if kind == "random":
        return np.random.default_rng(seed).random((n, d))
    return unit_sample(kind, d, n, seed)


@dataclasses.dataclass
class ALResult:
    """What an active-learning run did (also in ``al_state.json``)."""

    out: Path
    mode: str
    rounds: list[dict[str, Any]]
    n_sims: int
    n_failed: int
    n_train: int
    final: dict[str, Any]
    wall_s: float
    interrupted: bool = False
    resumed_from: int | None = None
    curve: list[dict[str, float]] = dataclasses.field(default_factory=list)
    model: Any = None
    notes: list[str] = dataclasses.field(default_factory=list)

    def summary(self) -> str:
        """A few lines for the terminal."""
        f = self.final
        err = f.get("test_nmse")
        lines = [
            f"active learning ({self.mode}) -> {self.out}",
            f"  rounds completed: {len(self.rounds)}"
            + (f" (resumed after round {self.resumed_from})" if self.resumed_from is not None else ""),
            f"  simulations: {self.n_sims} ({self.n_failed} failed or unusable, recorded in "
            f"sims/manifest.jsonl); training points: {self.n_train}",
            f"  held-out normalised MSE: {err:.4g}" if err is not None else
            "  held-out error: no test set ([test] n_points = 0)",
            f"  wall time: {self.wall_s:.1f} s",
        ]
        if f.get("test_rmse"):
            lines.append("  held-out RMSE: " + ", ".join(f"{k} {v:.3g}"
                                                         for k, v in f["test_rmse"].items()))
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# progress display
# --------------------------------------------------------------------------------------------
def progress_enabled(setting: str | bool) -> bool:
    """``"auto"``: a live bar on an interactive terminal unless ``CI`` is set."""
    if setting == "auto":
        ci = os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")
        return sys.stderr.isatty() and not ci
    return bool(setting)


class Progress:
    """Simulations done, training epochs and the current held-out error.

    On a terminal a tqdm bar over the simulation budget with the rest as postfix; otherwise
    (logs, CI) one line per round through ``echo``.
    """

    def __init__(self, name: str, budget: int, live: bool, echo: Echo | None,
                 members: int = 1) -> None:
        self.echo = echo or (lambda _m: None)
        self.members = max(1, members)
        self.sims = 0
        self.failed = 0
        self.evals = 0
        self.round = 0
        self.val: float | None = None
        self.test: float | None = None
        self._bar = None
        if live:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=budget, desc=f"al {name}", unit="sim", file=sys.stderr,
                             dynamic_ncols=True)

    @property
    def epochs(self) -> int:
        """Training epochs so far (per ensemble member)."""
        return self.evals // self.members

    def sim_done(self, rec: SimRecord) -> None:
        """Count one finished (or failed) simulation."""
        self.sims += 1
        self.failed += rec.status != "ok"
        if self._bar is not None:
            self._bar.update(1)
            self._post()

    def epoch(self, _entry: dict[str, float] | None = None) -> None:
        """Count one training evaluation (one epoch of one member)."""
        self.evals += 1
        if self._bar is not None and self.evals % (25 * self.members) == 0:
            self._post()

    def round_done(self, k: int, rounds: int, entry: dict[str, Any]) -> None:
        """A round finished: update the display / print its line."""
        self.round = k
        self.val = entry.get("val_loss")
        self.test = entry.get("test_nmse")
        if self._bar is not None:
            self._post()
        else:
            test = f"{self.test:.4g}" if self.test is not None else "n/a"
            self.echo(
                f"round {k}/{rounds}: {self.sims} sims ({self.failed} failed), "
                f"{entry.get('n_train')} training points, {self.epochs} epochs, "
                f"val {self.val:.3g}, held-out nMSE {test}, {entry.get('wall_s', 0):.1f} s"
            )

    def note(self, msg: str) -> None:
        """A one-off message (printed above the bar)."""
        if self._bar is not None:
            self._bar.write(msg, file=sys.stderr)
        else:
            self.echo(msg)

    def _post(self) -> None:
        assert self._bar is not None
        post = {"round": self.round, "epochs": self.epochs}
        if self.failed:
            post["failed"] = self.failed
        if self.val is not None:
            post["val"] = f"{self.val:.3g}"
        if self.test is not None:
            post["heldout_nMSE"] = f"{self.test:.3g}"
        self._bar.set_postfix(post, refresh=True)

    def close(self) -> None:
        """Close the bar."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None


# --------------------------------------------------------------------------------------------
# the run folder
# --------------------------------------------------------------------------------------------
class ALRun:
    """One active-learning results folder: state, records, datasets, checkpoints, curve.

    Opening it validates the configuration against the simulator (names, box corners) and,
    for an existing folder, against the stored configuration (nothing is written before that
    check passes).
    """

    def __init__(self, cfg: ALConfig, *, echo: Echo | None = None) -> None:
        self.cfg = cfg
        self.out = default_out(cfg)
        self.state_path = self.out / "al_state.json"
        self.science = plain(cfg.science_dict())
        self.state = self._read_state()
        self.client = SimulationClient(cfg, self.out / "sims")
        self.echo = echo or (lambda _m: None)
        self.columns: list[str] | None = self.state.get("columns") if self.state else None
        self.unusable: dict[str, str] = {}
        self.test_records: list[SimRecord] = []

    # -- state -----------------------------------------------------------------------------
    def _read_state(self) -> dict[str, Any] | None:
        if not self.state_path.exists():
            if self.out.exists() and any(p.name != MARKER for p in self.out.iterdir()):
                raise ConfigError(
                    f"results folder {self.out} exists, is not empty and is not an active-"
                    f"learning run (no al_state.json); choose a new or empty folder with --out"
                )
            return None
        try:
            state = json.loads(self.state_path.read_text())
        except (OSError, ValueError) as exc:
            raise ResultFileError(f"{self.state_path} is unreadable ({exc}); restore or remove "
                                  f"it") from exc
        if state.get("format") != STATE_FORMAT:
            raise ResultFileError(f"{self.state_path} is not an lfqcd active-learning state")
        old = state.get("science", {})
        if canonical_json(old) != canonical_json(self.science):
            diff = config_diff(old, self.science, limit=6)
            raise ConfigError(
                f"results folder {self.out} was written by a different active-learning "
                f"configuration ({'; '.join(diff) or 'unknown difference'}); refusing to resume "
                f"with a changed config. Use a new folder (--out) or restore the original "
                f"configuration; nothing was changed"
            )
        return state

    def start(self, seeds: dict[str, Any]) -> dict[str, Any]:
        """Create (or re-open) the state; returns it."""
        from mlsurrogate.report import versions

        if self.state is None:
            self.state = {
                "format": STATE_FORMAT, "science": self.science, "config": plain(self.cfg.to_dict()),
                "versions": versions(), "seeds": seeds, "columns": None, "rounds": [],
                "created": now_iso(), "status": "running", "mode": self.cfg.mode,
                "preset_values": self.client.preset_values, "sessions": [],
            }
        self.state["sessions"].append({"started": now_iso(), "versions": versions(),
                                       "executor": dataclasses.asdict(self.cfg.executor)})
        self.save_state()
        return self.state

    def save_state(self) -> None:
        """Atomically rewrite ``al_state.json``."""
        assert self.state is not None
        self.out.mkdir(parents=True, exist_ok=True)
        text = json.dumps(_finite(plain(self.state)), indent=1, allow_nan=False)
        atomic_write_text(self.state_path, text + "\n")

    @property
    def rounds(self) -> list[dict[str, Any]]:
        """Completed rounds (entries of ``al_state.json``)."""
        return list((self.state or {}).get("rounds", []))

    # -- records ---------------------------------------------------------------------------
    def records_for(self, keys: Sequence[str]) -> list[SimRecord]:
        """Records of stored points by key (resume); missing/corrupt ones are recomputed later."""
        out = []
        man = self.client.manifest()
        for key in keys:
            entry = man.get(key)
            if entry is None:
                continue
            x = np.array([float(entry["params"][n]) for n in self.client.box.names])
            rec = self.client.lookup(key, x, str(entry.get("al_origin", "al")),
                                          int(entry.get("al_round", 0)))
            if rec is not None:
                out.append(rec)
        return out

    def usable(self, rec: SimRecord) -> np.ndarray | None:
        """The output vector of a record, fixing the columns at the first success; else None."""
        if rec.status != "ok":
            return None
        if self.columns is None:
            self.columns = output_columns(rec, self.cfg.observables)
            assert self.state is not None
            self.state["columns"] = self.columns
        y = rec.vector(self.columns)
        if y is None:
            self.unusable[rec.key] = "missing or non-finite output"
        return y

    def dataset(self, records: Sequence[SimRecord]) -> Dataset:
        """Training set of the usable records (failed/unusable ones skipped, counted)."""
        xs, ys = [], []
        for r in records:
            y = self.usable(r)
            if y is not None:
                xs.append(r.x)
                ys.append(y)
        d = self.client.box.d
        if self.columns is None:
            raise InvalidParameterError(
                f"no simulation succeeded among {len(records)} points; see the errors in "
                f"{self.client.store.manifest_path}"
            )
        return Dataset(np.array(xs).reshape(-1, d), np.array(ys).reshape(-1, len(self.columns)),
                       self.client.box.names, list(self.columns),
                       {"kind": "active_learning", "path": str(self.out / "sims")})

    def test_set(self, given: Dataset | None, progress: Progress | None) -> Dataset | None:
        """The held-out set: ``given``, or ``[test]`` simulated once (stored, reused)."""
        if given is not None:
            if given.input_names != self.client.box.names:
                raise InvalidParameterError(
                    f"test set inputs {given.input_names} differ from the box {self.client.box.names}"
                )
            return given
        t = self.cfg.test
        if t.n_points == 0:
            return None
        u = design_unit(t.sampler, self.client.box.d, t.n_points, t.seed)
        recs = self.client.run(self.client.box.from_unit(u), "test", -1)
        self.test_records = recs
        if progress is not None:
            failed = sum(r.status != "ok" for r in recs)
            progress.note(f"held-out set: {len(recs)} points ({failed} failed)")
        ok = [r for r in recs if self.usable(r) is not None]
        if len(ok) < 2:
            raise InvalidParameterError(f"held-out set: only {len(ok)} of {len(recs)} points "
                                        f"succeeded; see {self.client.store.manifest_path}")
        return self.dataset(ok)

    # -- rounds ----------------------------------------------------------------------------
    def round_dir(self, k: int) -> Path:
        """Where the model of round ``k`` is saved."""
        return self.out / "rounds" / f"round_{k:03d}"

    def complete_round(self, k: int, model: Any, keys: Sequence[str], entry: dict[str, Any],
                       all_records: Sequence[SimRecord]) -> None:
        """Checkpoint round ``k`` (model first, then state), rewrite the summary and curve."""
        assert self.state is not None
        d = self.round_dir(k)
        if d.exists():
            shutil.rmtree(d)
        model.save(d)
        earlier = [r for r in self.state["rounds"] if r["round"] < k]
        known = set(self.keys_upto(earlier))
        entry = {**entry, "round": k, "new_keys": [key for key in keys if key not in known],
                 "checkpoint": str(d.relative_to(self.out)), "time": now_iso()}
        self.state["rounds"] = earlier + [entry]
        self.save_state()
        if not self.cfg.output.keep_checkpoints:
            for r in self.state["rounds"][:-1]:
                shutil.rmtree(self.out / r["checkpoint"], ignore_errors=True)
        self.write_summary(all_records)
        self.write_curve()

    @staticmethod
    def keys_upto(rounds: Sequence[dict[str, Any]]) -> list[str]:
        """Keys of the labelled points of ``rounds`` (each entry lists its ``new_keys``)."""
        out: list[str] = []
        for r in rounds:
            out += r.get("new_keys", [])
        return out

    def write_summary(self, records: Sequence[SimRecord]) -> None:
        """The sims store's ``summary.csv``/``scan.json`` (``records`` + the held-out set)."""
        self.client.write_summary(list(records) + self.test_records, {"config": plain(self.cfg.to_dict()),
                                            "science": self.science,
                                            "created": (self.state or {}).get("created")})

    def write_curve(self) -> None:
        """``learning_curve.csv`` (one row per round)."""
        rows = ["round,n_sims,n_failed,n_train,val_loss,test_nmse,wall_s"]
        for r in self.rounds:
            rows.append(",".join(_fmt(r.get(c)) for c in
                                 ("round", "n_sims", "n_failed", "n_train", "val_loss",
                                  "test_nmse", "wall_s")))
        atomic_write_text(self.out / "learning_curve.csv", "\n".join(rows) + "\n")

    def plot_curve(self) -> Path | None:
        """``learning_curve.png``: held-out error against simulations (None without a test set)."""
        pts = [(r["n_sims"], r["test_nmse"]) for r in self.rounds if r.get("test_nmse") is not None]
        if not pts:
            return None
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(5, 3.5))
        ax.loglog(*zip(*pts, strict=True), "o-")
        ax.set_xlabel("simulations")
        ax.set_ylabel("held-out normalised MSE")
        ax.set_title(f"active learning: {self.cfg.name} ({self.cfg.mode})")
        ax.grid(True, which="both", alpha=0.3)
        fig.tight_layout()
        path = self.out / "learning_curve.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        return path

    def finish(self, status: str, final: dict[str, Any]) -> None:
        """Mark the run complete/interrupted in the state."""
        assert self.state is not None
        self.state["status"] = status
        self.state["final"] = final
        self.state["updated"] = now_iso()
        self.save_state()


def _fmt(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return repr(v)
    return str(v)


def now() -> float:
    """Monotonic seconds (wall-clock timings of a run)."""
    return time.perf_counter()
