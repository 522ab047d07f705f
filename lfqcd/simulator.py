"""The simulator protocol used by scans (``lfqcd.scan``) and active learning, plus a toy simulator.

Protocol
--------
A *simulator* is a callable named by an import string ``"module:attribute"`` (for example
``"heavy_meson.simulator:simulate"``) with the signature::

    simulate(point: Mapping[str, float | int | str], *, warm_start: object | None = None)
        -> SimulationOutput

* ``point`` holds every coupling and resolution value by name (``G``, ``m``, ``mu``, ``t_F``,
  ``delta``, ``kappa_max``, ...), already merged from the simulator defaults, a preset, the
  fixed values and the design. The engine also always passes the reserved key ``"backend"``
  (the eigensolver backend name, ``"auto"`` by default, see :mod:`lfqcd.eigen`); it is a run
  option, not a physics input, and is not stored as a ``param.*`` column.
* ``warm_start`` is a ``warm_state`` returned earlier *by the same simulator in the same
  process* for a point with the same resolution (see ``resolution_params`` below), or ``None``.
  A simulator must ignore a warm start it cannot use (wrong shape, other backend...).
* The simulator returns a :class:`SimulationOutput` or **raises** on failure; the engine records
  the exception message as a failed point and carries on. Invalid input should raise
  :class:`~lfqcd.errors.InvalidParameterError` with a message naming the bad value.
* Results must not depend on the warm start beyond the solver tolerance, nor on whether the
  simulator's caches were warm.

Optional hooks (looked up first as attributes of the callable, then on its module):

``parameter_defaults() -> dict[str, float | int | str]``
    Every accepted input name with its default value. The engine rejects names not listed here
    (typos in a scan configuration), fills in defaults so that every point is complete, and
    casts values to the default's type (``int`` stays ``int``). Without it any name is accepted.
``resolution_params() -> tuple[str, ...]``
    The inputs that determine the expensive, coupling-independent pieces (basis, operator
    pieces): resolution, truncation, symmetry sector. The engine groups and orders points by
    these values and only passes warm starts between points that agree on them. Without it,
    all ``int`` and ``str`` inputs are treated as resolution parameters.
``validate(point) -> None``
    Cheap checks run by the engine in the parent process for every point *before* any work is
    submitted (e.g. "resolution too small for the Fock truncation"); raise
    :class:`~lfqcd.errors.InvalidParameterError`. The message is shown to the user unchanged.
``clear_cache() -> None``
    Drop the in-process caches of bases and operator pieces. The engine calls it before every
    point when operator reuse is switched off (``reuse = false``; used by the throughput
    benchmark to measure "rebuild everything per point").

The toy simulator
-----------------
:data:`toy_simulate` is a small, deterministic, cheap simulator used to test the scan engine:
spinless fermions on an open chain, ``H = T1 + W D + t2 T2 + V U + h S``
(:class:`ToySimulator`). It has a real basis enumeration and sparse operator pieces cached per
``(L, N)``, so operator reuse and warm starts behave as in the physics code.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import itertools
import math
import os
import re
import threading
from collections.abc import Callable, Hashable, Mapping
from typing import Any, Protocol, runtime_checkable

import numpy as np
import scipy.sparse as sp

from lfqcd.errors import ConfigError, InvalidParameterError

ParamValue = float | int | str

#: key the engine adds to every point: the eigensolver backend (not a physics input)
BACKEND_KEY = "backend"

_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclasses.dataclass
class SimulationOutput:
    """What one simulator call returns.

    Attributes
    ----------
    observables : scalar results by name (stored as ``obs.<name>`` summary columns).
    arrays : curves by name (stored in the point file; 1-D arrays with at most
        ``flatten_max`` entries also become ``obs.<name>[<i>]`` summary columns).
    warm_state : anything the simulator can use as ``warm_start`` for a nearby point of the
        same resolution (e.g. the ground-state eigenvector); never stored.
    backend : the eigensolver backend that actually ran (``"scipy"``, ``"cupy"``, ...).
    residual : largest eigen-residual ``||H v - lambda v||`` of the solve.
    """

    observables: dict[str, float]
    arrays: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
    warm_state: object | None = None
    backend: str = "unknown"
    residual: float = float("nan")

    def check(self) -> None:
        """Raise ``TypeError``/``ValueError`` when names or values break the protocol."""
        for name, value in self.observables.items():
            if not _NAME_RE.match(name):
                raise ValueError(f"observable name {name!r} must match {_NAME_RE.pattern}")
            if isinstance(value, bool) or not isinstance(value, (int, float, np.integer,
                                                                 np.floating)):
                raise TypeError(f"observable {name!r} must be a real scalar, got {value!r}")
        for name, arr in self.arrays.items():
            if not _NAME_RE.match(name):
                raise ValueError(f"array name {name!r} must match {_NAME_RE.pattern}")
            a = np.asarray(arr)
            if a.dtype.kind not in "biufc":
                raise TypeError(f"array {name!r} must be numeric, got dtype {a.dtype}")
            if name in self.observables:
                raise ValueError(f"{name!r} is both an observable and an array")


@runtime_checkable
class Simulator(Protocol):
    """The callable part of the protocol (hooks are optional, see the module docstring)."""

    def __call__(
        self, point: Mapping[str, ParamValue], *, warm_start: object | None = None
    ) -> SimulationOutput: ...


@dataclasses.dataclass(frozen=True)
class SimulatorSpec:
    """A loaded simulator with its optional hooks resolved (``None`` where absent)."""

    ref: str
    simulate: Callable[..., SimulationOutput]
    parameter_defaults: Callable[[], dict[str, ParamValue]] | None
    resolution_params: Callable[[], tuple[str, ...]] | None
    validate: Callable[[Mapping[str, ParamValue]], None] | None
    clear_cache: Callable[[], None] | None
    version: str | None

    def defaults(self) -> dict[str, ParamValue] | None:
        """The simulator's parameter defaults, or ``None`` when it declares none."""
        return None if self.parameter_defaults is None else dict(self.parameter_defaults())

    def resolution_key(self, params: Mapping[str, ParamValue]) -> tuple[Hashable, ...]:
        """Values that must agree for two points to share cached pieces and warm starts."""
        if self.resolution_params is not None:
            names = tuple(self.resolution_params())
        else:
            names = tuple(
                sorted(k for k, v in params.items() if isinstance(v, (int, str)))
            )
        return tuple((name, params.get(name)) for name in names)


#: simulators a configuration file may name without an explicit opt-in (see
#: :func:`check_simulator_allowed`); :func:`register_simulator` adds more from Python
REGISTERED_SIMULATORS: set[str] = {
    "heavy_meson.simulator:simulate",
    "lfqcd.simulator:toy_simulate",
    "mlsurrogate.al_standin:simulate",
}

#: environment variable that allows any ``"module:function"`` simulator (like the CLI flag)
ENV_ALLOW_IMPORT = "LFQCD_ALLOW_SIMULATOR_IMPORT"


def register_simulator(ref: str) -> None:
    """Allow configuration files to name the simulator ``ref`` without an opt-in."""
    REGISTERED_SIMULATORS.add(ref)


def check_simulator_allowed(ref: str, allow_import: bool = False,
                            key: str = "simulator") -> None:
    """Refuse a simulator import string that is not registered, unless explicitly allowed.

    A configuration's ``simulator = "module:function"`` imports ``module`` and calls
    ``function``: running a configuration file from someone else would run their code. The
    commands therefore accept only :data:`REGISTERED_SIMULATORS` unless the user opts in with
    ``--allow-simulator-import`` or ``LFQCD_ALLOW_SIMULATOR_IMPORT=1``. (The Python API trusts
    its caller and does not check.)
    """
    if ref in REGISTERED_SIMULATORS:
        return
    if allow_import or os.environ.get(ENV_ALLOW_IMPORT, "").strip().lower() in ("1", "true", "yes"):
        return
    raise ConfigError(
        f"{key} {ref!r} is not a registered simulator ({', '.join(sorted(REGISTERED_SIMULATORS))}). "
        "A 'module:function' simulator imports and runs that code; if you trust this "
        f"configuration, pass --allow-simulator-import (or set {ENV_ALLOW_IMPORT}=1)"
    )


@functools.lru_cache(maxsize=32)
def load_simulator(ref: str) -> SimulatorSpec:
    """Import ``"module:attribute"`` and resolve the protocol hooks.

    Raises :class:`~lfqcd.errors.ConfigError` when the string is malformed, the module cannot
    be imported or the attribute is not callable.
    """
    if not isinstance(ref, str) or ref.count(":") != 1:
        raise ConfigError(
            f"simulator must be an import string 'module:function', got {ref!r}"
        )
    mod_name, attr = ref.split(":")
    try:
        module = importlib.import_module(mod_name)
    except ImportError as exc:
        raise ConfigError(f"cannot import simulator module {mod_name!r} ({exc})") from exc
    fn = getattr(module, attr, None)
    if fn is None or not callable(fn):
        raise ConfigError(f"simulator {ref!r}: module {mod_name!r} has no callable {attr!r}")

    def hook(name: str) -> Any:
        h = getattr(fn, name, None)
        if h is None:
            h = getattr(module, name, None)
        return h if callable(h) else None

    top = importlib.import_module(mod_name.split(".")[0])
    version = getattr(module, "__version__", None) or getattr(top, "__version__", None)
    return SimulatorSpec(
        ref=ref,
        simulate=fn,
        parameter_defaults=hook("parameter_defaults"),
        resolution_params=hook("resolution_params"),
        validate=hook("validate"),
        clear_cache=hook("clear_cache"),
        version=None if version is None else str(version),
    )


# --------------------------------------------------------------------------------------------
# Toy simulator
# --------------------------------------------------------------------------------------------

_TOY_DISORDER_SEED = 20240601


def _popcount(x: np.ndarray) -> np.ndarray:
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(x).astype(np.int64)
    x = x.astype(np.int64)
    count = np.zeros_like(x)
    while np.any(x):
        count += x & 1
        x = x >> 1
    return count


class ToySimulator:
    r"""Spinless fermions on an open chain: a small Fock-space ED with cached operator pieces.

    .. math::

        H = T_1 + W D + t_2 T_2 + V U + h S,\quad
        T_r = -\sum_i (c_i^\dagger c_{i+r} + \mathrm{h.c.}),\quad
        D = \sum_i \epsilon_i n_i,\quad U = \sum_i n_i n_{i+1},\quad S = \sum_i (-1)^i n_i

    with fixed disorder energies :math:`\epsilon_i \in U(-1, 1)` (seeded; they break the
    symmetries so the spectrum is non-degenerate). ``L`` sites and ``N`` particles are the
    "resolution" and "truncation": the basis (``C(L, N)`` bit strings, enumerated in Python) and
    the five pieces are built once per ``(L, N)`` and cached; a point only forms the sparse sum
    and solves for the ``k`` lowest levels with :func:`lfqcd.eigen.solve`. With
    ``backend="cupy"`` the pieces are also kept on the GPU across points.

    Observables: ``E0``, ``gap`` (``E1 - E0``), ``U`` (``<U>`` in the ground state);
    arrays: ``spectrum`` (``k`` levels) and ``density`` (``<n_i>``, ``L`` values).
    """

    DEFAULTS: dict[str, ParamValue] = {
        "L": 10, "N": 4, "k": 4, "W": 0.5, "t2": 0.0, "V": 0.0, "h": 0.0
    }
    MAX_L = 26

    def __init__(self) -> None:
        self._pieces: dict[tuple[int, int], dict[str, Any]] = {}
        self._device: dict[tuple[int, int], dict[str, Any]] = {}
        self._lock = threading.Lock()
        self.builds = 0  #: number of (L, N) piece builds since the last clear (for tests)

    # hooks -----------------------------------------------------------------------------
    def parameter_defaults(self) -> dict[str, ParamValue]:
        """Every accepted parameter with its default."""
        return dict(self.DEFAULTS)

    def resolution_params(self) -> tuple[str, ...]:
        """``L`` and ``N`` fix the basis and the operator pieces."""
        return ("L", "N")

    def validate(self, point: Mapping[str, ParamValue]) -> None:
        """Reject points that cannot be solved (too small a chain for ``N``/``k``)."""
        L, N, k = point.get("L"), point.get("N"), point.get("k")
        for name, val in (("L", L), ("N", N), ("k", k)):
            if not isinstance(val, (int, np.integer)) or isinstance(val, bool):
                raise InvalidParameterError(f"{name} must be an integer, got {val!r}")
        if not 1 <= N < L:
            raise InvalidParameterError(
                f"resolution L={L} is too small for the truncation N={N} particles "
                f"(need 1 <= N < L)"
            )
        if L > self.MAX_L:
            raise InvalidParameterError(f"L={L} exceeds the toy limit L <= {self.MAX_L}")
        dim = math.comb(L, N)
        if k < 1 or dim < k + 2:
            raise InvalidParameterError(
                f"resolution L={L}, N={N} gives only {dim} states, too few for k={k} levels "
                f"(need at least k + 2)"
            )
        for name in ("W", "t2", "V", "h"):
            val = point.get(name)
            if not isinstance(val, (int, float)) or not math.isfinite(val):
                raise InvalidParameterError(f"coupling {name} must be a finite number, got {val!r}")

    def clear_cache(self) -> None:
        """Forget all bases and operator pieces (host and device)."""
        with self._lock:
            self._pieces.clear()
            self._device.clear()

    # pieces ------------------------------------------------------------------------------
    def pieces(self, L: int, N: int) -> dict[str, Any]:
        """Basis and coupling-independent CSR pieces for ``(L, N)`` (built once, cached)."""
        with self._lock:
            cached = self._pieces.get((L, N))
            if cached is None:
                cached = self._build(L, N)
                self._pieces[(L, N)] = cached
                self.builds += 1
            return cached

    @staticmethod
    def _build(L: int, N: int) -> dict[str, Any]:
        states = np.array(
            sorted(sum(1 << i for i in occ) for occ in itertools.combinations(range(L), N)),
            dtype=np.int64,
        )
        dim = states.size
        occ = (states[:, None] >> np.arange(L)[None, :]) & 1  # (dim, L) occupations
        eps = np.random.default_rng(_TOY_DISORDER_SEED).uniform(-1.0, 1.0, size=64)[:L]

        def hopping(r: int) -> sp.csr_matrix:
            rows, cols, vals = [], [], []
            for i in range(L - r):
                j = i + r
                src = np.nonzero((occ[:, i] == 1) & (occ[:, j] == 0))[0]
                if src.size == 0:
                    continue
                s = states[src]
                dst_state = s ^ ((1 << i) | (1 << j))
                between = ((1 << j) - 1) ^ ((1 << (i + 1)) - 1)
                sign = 1.0 - 2.0 * (_popcount(s & between) % 2)
                dst = np.searchsorted(states, dst_state)
                rows.append(dst)
                cols.append(src)
                vals.append(-sign)
            if not rows:
                return sp.csr_matrix((dim, dim))
            r_, c_, v_ = (np.concatenate(x) for x in (rows, cols, vals))
            A = sp.coo_matrix((v_, (r_, c_)), shape=(dim, dim))
            return (A + A.T).tocsr()

        nn = (occ[:, :-1] * occ[:, 1:]).sum(axis=1).astype(float)
        stag = (occ * ((-1.0) ** np.arange(L))[None, :]).sum(axis=1)
        return {
            "states": states,
            "occ": occ,
            "T1": hopping(1),
            "D": sp.diags(occ @ eps).tocsr(),
            "T2": hopping(2),
            "U": sp.diags(nn).tocsr(),
            "S": sp.diags(stag).tocsr(),
        }

    def _device_pieces(self, L: int, N: int, host: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            dev = self._device.get((L, N))
            if dev is None:
                import cupyx.scipy.sparse as csp

                dev = {name: csp.csr_matrix(host[name]) for name in ("T1", "D", "T2", "U", "S")}
                self._device[(L, N)] = dev
            return dev

    # simulate ----------------------------------------------------------------------------
    def __call__(
        self, point: Mapping[str, ParamValue], *, warm_start: object | None = None
    ) -> SimulationOutput:
        """Solve one point; see the class docstring."""
        from lfqcd.backend import to_numpy
        from lfqcd.eigen import solve

        p = {**self.DEFAULTS, **{k: v for k, v in point.items() if k != BACKEND_KEY}}
        self.validate(p)
        backend = str(point.get(BACKEND_KEY, "auto"))
        L, N, k = int(p["L"]), int(p["N"]), int(p["k"])
        host = self.pieces(L, N)
        coeffs = {"T1": 1.0, "D": p["W"], "T2": p["t2"], "U": p["V"], "S": p["h"]}
        mats = self._device_pieces(L, N, host) if backend == "cupy" else host
        H = sum(c * mats[name] for name, c in coeffs.items() if c != 0.0)
        v0 = None
        if isinstance(warm_start, np.ndarray) and warm_start.shape == (host["states"].size,):
            v0 = warm_start
        res = solve(H, k=k, backend=backend, v0=v0, seed=0)
        psi = res.eigenvectors[:, 0]
        prob = np.abs(psi) ** 2
        density = prob @ host["occ"]
        U = float(prob @ host["U"].diagonal())
        w = res.eigenvalues
        return SimulationOutput(
            observables={"E0": float(w[0]), "gap": float(w[1] - w[0]), "U": U},
            arrays={"spectrum": np.asarray(w, dtype=float), "density": to_numpy(density)},
            warm_state=np.ascontiguousarray(psi),
            backend=res.backend,
            residual=float(np.max(res.residuals)),
        )


#: the toy simulator instance (``"lfqcd.simulator:toy_simulate"``)
toy_simulate = ToySimulator()

__all__ = [
    "BACKEND_KEY",
    "ParamValue",
    "SimulationOutput",
    "Simulator",
    "SimulatorSpec",
    "ToySimulator",
    "check_simulator_allowed",
    "load_simulator",
    "register_simulator",
    "toy_simulate",
]
