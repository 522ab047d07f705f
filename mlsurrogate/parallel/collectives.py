"""Differentiable collectives over ``torch.distributed`` with byte counters.

Implementation notes
--------------------
Three tiers, in the style of Megatron-LM's ``mappings.py``, re-implemented for CPU/gloo:

1. Raw primitives ``raw_all_gather_last_dim``, ``raw_reduce_scatter_last_dim`` and
   ``raw_all_reduce`` (no autograd). They return a :class:`Pending` handle so that callers can
   overlap computation with communication (the overlap of mlsurrogate/parallel/phantom.py); ``Pending.wait()``
   turns a backend failure (a dead or late peer) into :class:`CollectiveError`.
2. Private ``torch.autograd.Function`` classes whose forward and backward are adjoint pairs.
3. Public wrappers whose docstrings state the pair. ``world_size == 1`` is the identity, the
   group is explicit (``None`` = default group) and the device comes from the input tensor, so
   gloo/CPU and NCCL/CUDA run the same code.

Byte accounting (mlsurrogate/costmodel.py, ring algorithms, bytes *sent per rank*):

* all-gather of a per-rank chunk of ``c`` elements: ``(p-1)·c·s``
* reduce-scatter to a per-rank chunk of ``c`` elements: ``(p-1)·c·s``
* all-reduce of ``S`` elements: ``2·(p-1)/p·S·s``

Every call adds these *logical* bytes to :data:`COUNTER`. It also adds the *wire* bytes of the
implementation actually used: equal to the logical bytes for a native collective, but e.g.
``2·(p-1)·c·s`` when a backend without reduce-scatter falls back to an all-reduce of the whole
buffer. Fallbacks are listed in ``COUNTER.fallbacks``. Wire bytes are
themselves a ring model; gloo's internal algorithms may move more.

Backend support is probed once per process group on first use (a tiny collective, issued by all
ranks because all ranks execute the same code path). torch 2.13 renamed
``all_gather_into_tensor``/``reduce_scatter_tensor`` to ``all_gather_single``/
``reduce_scatter_single`` and warns on the old names; both spellings are handled here and
nowhere else.
"""

from __future__ import annotations

import re
import warnings
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.distributed as dist

from mlsurrogate.errors import CollectiveError

__all__ = [
    "COUNTER",
    "CommCounter",
    "Pending",
    "all_gather_last_dim",
    "all_reduce_sum",
    "backend_support",
    "copy_to_parallel",
    "get_rank",
    "forget_backend_support",
    "gather_objects",
    "get_world_size",
    "override_backend_support",
    "raw_all_gather_last_dim",
    "raw_all_reduce",
    "raw_reduce_scatter_last_dim",
    "reduce_scatter_last_dim",
    "ring_bytes",
]


# --------------------------------------------------------------------------------------------
# counters
# --------------------------------------------------------------------------------------------
@dataclass
class CommCounter:
    """Bytes sent per rank by the collectives of this process, by operation name.

    ``logical`` follows the mlsurrogate/costmodel.py formulas for the collective requested; ``wire`` is what
    the implementation used sends under the same ring model (differs only for fallbacks).
    """

    logical: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    wire: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    calls: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    fallbacks: dict[str, str] = field(default_factory=dict)

    def add(self, op: str, logical: float, wire: float, fallback: str | None = None) -> None:
        self.logical[op] += logical
        self.wire[op] += wire
        self.calls[op] += 1
        if fallback is not None:
            self.fallbacks[op] = fallback

    def reset(self) -> None:
        self.logical.clear()
        self.wire.clear()
        self.calls.clear()
        self.fallbacks.clear()

    @property
    def total_logical(self) -> float:
        return float(sum(self.logical.values()))

    @property
    def total_wire(self) -> float:
        return float(sum(self.wire.values()))

    def since(self, before: dict[str, Any]) -> dict[str, Any]:
        """Snapshot of what was added after ``before`` (an earlier :meth:`snapshot`)."""
        now = self.snapshot()
        out: dict[str, Any] = {"fallbacks": now["fallbacks"]}
        for key in ("logical_bytes", "wire_bytes", "calls"):
            out[key] = {op: v - before[key].get(op, 0) for op, v in now[key].items()
                        if v - before[key].get(op, 0)}
        out["total_logical_bytes"] = float(sum(out["logical_bytes"].values()))
        out["total_wire_bytes"] = float(sum(out["wire_bytes"].values()))
        return out

    def snapshot(self) -> dict[str, Any]:
        """A JSON-ready copy: per-op logical/wire bytes and call counts, totals, fallbacks."""
        return {
            "logical_bytes": dict(self.logical),
            "wire_bytes": dict(self.wire),
            "calls": dict(self.calls),
            "fallbacks": dict(self.fallbacks),
            "total_logical_bytes": self.total_logical,
            "total_wire_bytes": self.total_wire,
        }


#: Process-wide counter used by every collective in this module.
COUNTER = CommCounter()


def ring_bytes(op: str, p: int, elements: int, itemsize: int) -> float:
    """Bytes sent per rank by a ring collective (mlsurrogate/costmodel.py).

    ``elements`` is the per-rank chunk for ``all_gather``/``reduce_scatter`` and the whole buffer
    for ``all_reduce``.
    """
    if p <= 1:
        return 0.0
    if op in ("all_gather", "reduce_scatter"):
        return float((p - 1) * elements * itemsize)  # PP forward all-gather, backward reduce-scatter
    if op == "all_reduce":
        return 2.0 * (p - 1) / p * elements * itemsize  # ring all-reduce
    raise ValueError(f"unknown collective {op!r}")


# --------------------------------------------------------------------------------------------
# group helpers and backend probing
# --------------------------------------------------------------------------------------------
def _initialized() -> bool:
    return dist.is_available() and dist.is_initialized()


def get_world_size(group: Any = None) -> int:
    """World size of ``group``; 1 when torch.distributed is not initialised."""
    return dist.get_world_size(group) if _initialized() else 1


def get_rank(group: Any = None) -> int:
    """Rank within ``group``; 0 when torch.distributed is not initialised."""
    return dist.get_rank(group) if _initialized() else 0


_SUPPORT: dict[int, dict[str, bool]] = {}


def _quiet(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call a c10d function with its rename FutureWarnings silenced (torch 2.13)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return fn(*args, **kwargs)


_AG_SINGLE = getattr(dist, "all_gather_single", None) or getattr(
    dist, "all_gather_into_tensor", None
)
_RS_SINGLE = getattr(dist, "reduce_scatter_single", None) or getattr(
    dist, "reduce_scatter_tensor", None
)


def _unsupported(exc: BaseException) -> bool:
    text = str(exc).lower()
    return isinstance(exc, NotImplementedError) or any(
        s in text for s in ("not support", "unsupported", "not implemented")
    )


def _collective_error(op: str, group: Any, exc: BaseException) -> CollectiveError:
    backend = dist.get_backend(group) if _initialized() else "none"
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    text = re.sub(r"^\[[^\]]*\]\s*", "", text).split(". This is typically")[0].rstrip(".")
    return CollectiveError(
        f"{op} failed on rank {get_rank(group)} of {get_world_size(group)} (backend {backend}):"
        f" {text}. A peer rank probably died or did not reach this collective within the"
        " process-group timeout."
    )


def backend_support(group: Any = None, device: torch.device | None = None) -> dict[str, bool]:
    """Which single-tensor collectives the backend of ``group`` supports (probed once).

    Collective call: every rank of ``group`` must call it (the model constructors and the first
    forward do so on all ranks). Returns ``{"all_gather_single": bool, "reduce_scatter_single":
    bool}``; both are True for world size 1.
    """
    if get_world_size(group) == 1:
        return {"all_gather_single": True, "reduce_scatter_single": True}
    key = id(group) if group is not None else 0
    if key in _SUPPORT:
        return _SUPPORT[key]
    if device is None:
        device = torch.device("cuda", torch.cuda.current_device()) if (
            dist.get_backend(group) == "nccl"
        ) else torch.device("cpu")
    p = get_world_size(group)
    result = {}
    for name, fn in (("all_gather_single", _AG_SINGLE), ("reduce_scatter_single", _RS_SINGLE)):
        if fn is None:
            result[name] = False
            continue
        x = torch.ones(p if name == "reduce_scatter_single" else 1, device=device)
        out = torch.empty(1 if name == "reduce_scatter_single" else p, device=device)
        try:
            _quiet(fn, out, x, group=group)
            result[name] = True
        except (RuntimeError, NotImplementedError, ValueError) as exc:
            if not _unsupported(exc):
                raise _collective_error(f"probe of {name}", group, exc) from exc
            result[name] = False
    _SUPPORT[key] = result
    return result


def forget_backend_support() -> None:
    """Drop the probe cache (called when the process group is destroyed)."""
    _SUPPORT.clear()


def override_backend_support(group: Any = None, **flags: bool) -> dict[str, bool]:
    """Replace probed support flags, e.g. ``reduce_scatter_single=False`` to use the all-reduce
    fallback on a backend whose native reduce-scatter is slow (gloo's is one all-reduce per
    rank). Local to this process: call it on every rank alike."""
    unknown = set(flags) - {"all_gather_single", "reduce_scatter_single"}
    if unknown:
        raise ValueError(f"unknown collective flag(s) {sorted(unknown)}")
    key = id(group) if group is not None else 0
    _SUPPORT[key] = {**backend_support(group), **flags}
    return _SUPPORT[key]


# --------------------------------------------------------------------------------------------
# tier 1: raw primitives with pending handles
# --------------------------------------------------------------------------------------------
class Pending:
    """A collective in flight. ``wait()`` returns its result or raises CollectiveError."""

    def __init__(
        self,
        op: str,
        group: Any,
        works: list[Any],
        finish: Callable[[], torch.Tensor],
    ) -> None:
        self._op, self._group, self._works, self._finish = op, group, works, finish

    def wait(self) -> torch.Tensor:
        try:
            for w in self._works:
                w.wait()
        except (RuntimeError, TimeoutError) as exc:
            raise _collective_error(self._op, self._group, exc) from exc
        return self._finish()


def _launch(op: str, group: Any, fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
    try:
        return _quiet(fn, *args, group=group, async_op=True, **kw)
    except (RuntimeError, TimeoutError) as exc:
        raise _collective_error(op, group, exc) from exc


def raw_all_gather_last_dim(
    x: torch.Tensor, group: Any = None, async_op: bool = False
) -> torch.Tensor | Pending:
    """All-gather ``x (..., c)`` from every rank into ``(..., p·c)`` ordered by rank (no autograd).

    Counts ``(p-1)·numel(x)·s`` bytes (PP forward, ``phantom.py``). With ``async_op`` returns a
    :class:`Pending` whose ``wait()`` gives the result.
    """
    p = get_world_size(group)
    if p == 1:
        return _done(x) if async_op else x
    x = x.contiguous()
    nbytes = ring_bytes("all_gather", p, x.numel(), x.element_size())
    lead, c = x.shape[:-1], x.shape[-1]
    if backend_support(group, x.device)["all_gather_single"]:
        buf = torch.empty((p, *x.shape), dtype=x.dtype, device=x.device)
        work = _launch("all_gather", group, _AG_SINGLE, buf.view(p * x.shape[0], *x.shape[1:]), x)
        COUNTER.add("all_gather", nbytes, nbytes)
        works = [work]
    else:  # list form is available on every backend; same ring bytes on the wire
        buf = torch.empty((p, *x.shape), dtype=x.dtype, device=x.device)
        works = [_launch("all_gather", group, dist.all_gather, list(buf.unbind(0)), x)]
        COUNTER.add("all_gather", nbytes, nbytes, fallback="all_gather(list)")

    def finish() -> torch.Tensor:
        return buf.movedim(0, -2).reshape(*lead, p * c)

    pending = Pending("all_gather", group, works, finish)
    return pending if async_op else pending.wait()


def raw_reduce_scatter_last_dim(
    y: torch.Tensor, group: Any = None, async_op: bool = False
) -> torch.Tensor | Pending:
    """Sum ``y (..., p·c)`` over ranks and give rank r the ``c`` columns of slot r (no autograd).

    Counts ``(p-1)·c·s`` logical bytes (PP backward, ``phantom.py``). Without a native reduce-scatter
    it all-reduces the whole buffer and slices slot r, counting ``2·(p-1)·c·s`` wire bytes.
    """
    p = get_world_size(group)
    if p == 1:
        return _done(y) if async_op else y
    r = get_rank(group)
    if y.shape[-1] % p:
        raise ValueError(f"last dim {y.shape[-1]} not divisible by world size {p}")
    c = y.shape[-1] // p
    lead = y.shape[:-1]
    chunks = y.reshape(*lead, p, c).movedim(-2, 0).contiguous()  # (p, ..., c)
    itemsize = y.element_size()
    per_rank = chunks[0].numel()
    nbytes = ring_bytes("reduce_scatter", p, per_rank, itemsize)
    if backend_support(group, y.device)["reduce_scatter_single"]:
        out = torch.empty(chunks.shape[1:], dtype=y.dtype, device=y.device)
        flat_in = chunks.reshape(-1, *chunks.shape[2:])  # rank-major, as the c10d op wants
        work = _launch("reduce_scatter", group, _RS_SINGLE, out, flat_in)
        COUNTER.add("reduce_scatter", nbytes, nbytes)

        def finish() -> torch.Tensor:
            return out
    else:
        work = _launch("reduce_scatter", group, dist.all_reduce, chunks)
        wire = ring_bytes("all_reduce", p, chunks.numel(), itemsize)
        COUNTER.add("reduce_scatter", nbytes, wire, fallback="all_reduce+slice")

        def finish() -> torch.Tensor:
            return chunks[r]

    pending = Pending("reduce_scatter", group, [work], finish)
    return pending if async_op else pending.wait()


def raw_all_reduce(
    x: torch.Tensor, group: Any = None, async_op: bool = False
) -> torch.Tensor | Pending:
    """Sum ``x`` over ranks (out of place; no autograd). Counts ``2·(p-1)/p·numel·s`` bytes."""
    p = get_world_size(group)
    if p == 1:
        return _done(x) if async_op else x
    out = x.contiguous().clone()
    nbytes = ring_bytes("all_reduce", p, out.numel(), out.element_size())
    work = _launch("all_reduce", group, dist.all_reduce, out)
    COUNTER.add("all_reduce", nbytes, nbytes)
    pending = Pending("all_reduce", group, [work], lambda: out)
    return pending if async_op else pending.wait()


def _done(x: torch.Tensor) -> Pending:
    return Pending("identity", None, [], lambda: x)


# --------------------------------------------------------------------------------------------
# tier 2: adjoint autograd pairs
# --------------------------------------------------------------------------------------------
class _AllGatherLastDim(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, group: Any) -> torch.Tensor:
        ctx.group = group
        return raw_all_gather_last_dim(x, group)

    @staticmethod
    def backward(ctx: Any, dy: torch.Tensor) -> tuple[torch.Tensor, None]:
        # adjoint of "concatenate every rank's x": sum the gradients over ranks, keep slot r
        return raw_reduce_scatter_last_dim(dy, ctx.group), None


class _ReduceScatterLastDim(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, y: torch.Tensor, group: Any) -> torch.Tensor:
        ctx.group = group
        return raw_reduce_scatter_last_dim(y, group)

    @staticmethod
    def backward(ctx: Any, dx: torch.Tensor) -> tuple[torch.Tensor, None]:
        return raw_all_gather_last_dim(dx, ctx.group), None


class _AllReduceSum(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, group: Any) -> torch.Tensor:
        return raw_all_reduce(x, group)

    @staticmethod
    def backward(ctx: Any, dy: torch.Tensor) -> tuple[torch.Tensor, None]:
        return dy, None


class _CopyToParallel(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, group: Any) -> torch.Tensor:
        ctx.group = group
        return x.view_as(x)

    @staticmethod
    def backward(ctx: Any, dy: torch.Tensor) -> tuple[torch.Tensor, None]:
        return raw_all_reduce(dy, ctx.group), None


# --------------------------------------------------------------------------------------------
# tier 3: public wrappers
# --------------------------------------------------------------------------------------------
def all_gather_last_dim(x: torch.Tensor, group: Any = None) -> torch.Tensor:
    """Forward: all-gather along the last dim, ``(..., c) -> (..., p·c)`` in rank order.
    Backward: reduce-scatter (sum over ranks) of the gradient, slot r to rank r.

    The backward *sums*; returning only the local slice of the gradient is wrong whenever ranks
    use the gathered tensor differently.
    """
    if get_world_size(group) == 1:
        return x
    return _AllGatherLastDim.apply(x, group)


def reduce_scatter_last_dim(y: torch.Tensor, group: Any = None) -> torch.Tensor:
    """Forward: reduce-scatter (sum) along the last dim, ``(..., p·c) -> (..., c)``.
    Backward: all-gather of the gradient along the last dim."""
    if get_world_size(group) == 1:
        return y
    return _ReduceScatterLastDim.apply(y, group)


def all_reduce_sum(x: torch.Tensor, group: Any = None) -> torch.Tensor:
    """Forward: all-reduce (sum). Backward: identity ("reduce from the parallel region").

    The identity backward is the right adjoint when every rank then computes the *same* loss
    from the replicated result (the loss is counted once, not p times).
    """
    if get_world_size(group) == 1:
        return x
    return _AllReduceSum.apply(x, group)


def copy_to_parallel(x: torch.Tensor, group: Any = None) -> torch.Tensor:
    """Forward: identity (a replicated tensor enters the parallel region).
    Backward: all-reduce (sum) of the per-rank partial gradients."""
    if get_world_size(group) == 1:
        return x
    return _CopyToParallel.apply(x, group)


def gather_objects(obj: Any, group: Any = None) -> list[Any]:
    """Collective: ``obj`` of every rank of ``group`` in rank order; ``[obj]`` in one process.

    The one gathered export of the package (checkpoint shards, per-rank measurements); a
    failure becomes :class:`CollectiveError`.
    """
    p = get_world_size(group)
    if p == 1:
        return [obj]
    out: list[Any] = [None] * p
    try:
        dist.all_gather_object(out, obj, group=group)
    except RuntimeError as exc:
        raise _collective_error("all_gather_object", group, exc) from exc
    return out


def rank_in_layout(arch_mode: str, arch_nproc: int, expected_mode: str, owner: str,
                   group: Any = None) -> tuple[int, int]:
    """``(world_size, rank)`` of ``group`` after checking that a model-parallel layer of kind
    ``expected_mode`` and ``arch_nproc`` ranks is being built on it."""
    if arch_mode != expected_mode:
        raise ValueError(f"{owner} needs mode {expected_mode!r}, got {arch_mode!r}")
    p, r = get_world_size(group), get_rank(group)
    if p != arch_nproc:
        raise ValueError(f"group has {p} ranks, architecture expects {arch_nproc}")
    return p, r
