"""Analytic FLOP / byte / energy model of the dense, TP-A and PP networks.

Everything is *per rank and per training iteration* (forward + backward) unless a name says
otherwise; elementwise work and the optimizer are ignored. ``s`` is bytes per
element. Bytes are bytes *sent per rank* under ring algorithms, split by collective so that
they can be compared one-to-one with :data:`~mlsurrogate.parallel.collectives.COUNTER`.

Hidden layer, per rank (``m = n/p``, ``g = (p-1)k``, or ``pk`` with
self-ghosts):

=========  ====================================  ==========================================
mode       GEMM FLOPs (fwd + bwd)                bytes sent
=========  ====================================  ==========================================
dense      2bn² + 4bn²                           0
TP-A       2bnm + 4bnm = 6bn²/p                  all-gather (p-1)bms + reduce-scatter (p-1)bms
PP         (2bm² + 2bmk + 2bmg) + (4bm² + 4bmk   all-gather (p-1)bks + reduce-scatter (p-1)bks
           + 4bmg) = 6bn²/p² + 6bnk  (g=(p-1)k)
=========  ====================================  ==========================================

Input layer (replicated x, column shard): ``2b·d_in·m`` forward, ``2b·d_in·m`` backward (no
input gradient). Output layer (row shard): ``2bm·d_out`` forward, ``4bm·d_out`` backward, one
all-reduce of ``(b, d_out)`` forward: ``2(p-1)/p·b·d_out·s`` bytes.

Energy (coefficients are ASSUMPTIONS, every result is labelled "modeled")::

    E_iter = Σ_ranks [ε_F·F_rank + ε_B·B_rank] + p·P_static·T_iter
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from mlsurrogate.arch import Arch

__all__ = [
    "DEFAULT_COEFFICIENTS",
    "EnergyCoefficients",
    "IterationCost",
    "formula_ratios",
    "hidden_layer_cost",
    "iteration_cost",
    "modeled_energy",
    "param_count",
]


@dataclass(frozen=True)
class LayerCost:
    """FLOPs and bytes of one layer on one rank."""

    flops_fwd: float
    flops_bwd: float
    bytes_fwd: dict[str, float] = field(default_factory=dict)
    bytes_bwd: dict[str, float] = field(default_factory=dict)

    @property
    def flops(self) -> float:
        return self.flops_fwd + self.flops_bwd


def _ring(p: int, chunk_elems: float, s: int) -> float:
    return (p - 1) * chunk_elems * s  # mlsurrogate/parallel/phantom.py: (p-1)·c·s per rank


def hidden_layer_cost(
    mode: str, b: int, n: int, p: int = 1, k: int = 0, s: int = 4, self_ghost: bool = False
) -> LayerCost:
    """One hidden layer on one rank, per training iteration (table above)."""
    if mode == "none":
        return LayerCost(2.0 * b * n * n, 4.0 * b * n * n)
    m = n // p
    if mode == "tensor":  # TP-A: 6bn²/p, 2(p-1)/p·b·n·s
        return LayerCost(2.0 * b * n * m, 4.0 * b * n * m,
                         {"all_gather": _ring(p, b * m, s)}, {"reduce_scatter": _ring(p, b * m, s)})
    if mode == "phantom":  # PP forward: 2bm² + 2bmkp ; backward: 4bm² + 4bmkp
        g = (p if self_ghost else p - 1) * k
        fwd = 2.0 * b * m * m + 2.0 * b * m * k + 2.0 * b * m * g
        bwd = 4.0 * b * m * m + 4.0 * b * m * k + 4.0 * b * m * g
        return LayerCost(fwd, bwd, {"all_gather": _ring(p, b * k, s)},
                         {"reduce_scatter": _ring(p, b * k, s)})
    raise ValueError(f"unknown mode {mode!r}")


@dataclass(frozen=True)
class IterationCost:
    """Per-rank cost of one training iteration (or one forward pass with ``forward_only``)."""

    flops: float
    flops_hidden: float
    bytes_by_op: dict[str, float]

    @property
    def bytes(self) -> float:
        return float(sum(self.bytes_by_op.values()))

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["bytes"] = self.bytes
        return d


def iteration_cost(arch: Arch, b: int, s: int | None = None, forward_only: bool = False) -> IterationCost:
    """Analytic per-rank FLOPs and bytes of one iteration of ``arch`` with batch ``b``."""
    s = (8 if arch.dtype == "float64" else 4) if s is None else s
    p = arch.nproc
    m = arch.width // p
    layer = hidden_layer_cost(arch.mode, b, arch.width, p, arch.ghosts, s, arch.self_ghost)
    hidden = arch.depth * (layer.flops_fwd if forward_only else layer.flops)
    flops = hidden
    flops += 2.0 * b * arch.d_in * m * (1 if forward_only else 2)  # input layer
    flops += 2.0 * b * m * arch.d_out * (1 if forward_only else 3)  # output layer
    by_op: dict[str, float] = {}
    parts = [layer.bytes_fwd] if forward_only else [layer.bytes_fwd, layer.bytes_bwd]
    for part in parts:
        for op, v in part.items():
            by_op[op] = by_op.get(op, 0.0) + arch.depth * v
    if p > 1:  # output all-reduce (model assembly); backward is the identity
        by_op["all_reduce"] = 2.0 * (p - 1) / p * b * arch.d_out * s
    return IterationCost(flops, hidden, {k: v for k, v in by_op.items() if v})


def param_count(arch: Arch) -> dict[str, int]:
    """Parameters per rank (the largest, rank 0) and in total (table above)."""
    n, p, L, k = arch.width, arch.nproc, arch.depth, arch.ghosts
    m = n // p
    io = arch.d_in * m + m + m * arch.d_out  # per rank, input + output layers
    if arch.mode == "phantom":
        g = (p if arch.self_ghost else p - 1) * k
        hidden = L * (m * m + k * m + m * g + m)  # m² + mkp + m per layer
    elif arch.mode == "tensor":
        hidden = L * (m * n + m)
    else:
        hidden = L * (n * n + n)
    per_rank0 = io + hidden + arch.d_out
    return {"per_rank0": per_rank0, "total": p * (io + hidden) + arch.d_out}


def formula_ratios(n: int, p: int, k: int) -> dict[str, float]:
    """PP/TP ratios of one hidden layer at equal n, p, b (table above): FLOPs ``1/p + kp/n``,
    bytes ``kp/n = k/m``."""
    return {"flops": 1.0 / p + k * p / n, "bytes": k * p / n}


# --------------------------------------------------------------------------------------------
# energy model
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class EnergyCoefficients:
    """Energy-model coefficients with a (low, high) range each. ASSUMPTIONS, not measured.

    Defaults are order-of-magnitude values for one core of a server CPU exchanging data over
    loopback TCP: ε_F ~ 50 pJ/FLOP (10-200), ε_B ~ 0.5 nJ/byte (0.05-5, memcpy + TCP stack up
    to NIC-class), P_static ~ 10 W per rank (2-30).
    """

    eps_flop_j: float = 5e-11
    eps_byte_j: float = 5e-10
    p_static_w: float = 10.0
    eps_flop_range: tuple[float, float] = (1e-11, 2e-10)
    eps_byte_range: tuple[float, float] = (5e-11, 5e-9)
    p_static_range: tuple[float, float] = (2.0, 30.0)
    source: str = "ASSUMPTION (order-of-magnitude CPU/loopback values, not measured)"

    def table(self) -> list[dict[str, Any]]:
        """The coefficient table for records and reports."""
        return [
            {"coefficient": "eps_F", "meaning": "dynamic energy per FLOP", "units": "J/FLOP",
             "value": self.eps_flop_j, "range": list(self.eps_flop_range)},
            {"coefficient": "eps_B", "meaning": "dynamic energy per byte sent", "units": "J/B",
             "value": self.eps_byte_j, "range": list(self.eps_byte_range)},
            {"coefficient": "P_static", "meaning": "static power per rank over wall time",
             "units": "W", "value": self.p_static_w, "range": list(self.p_static_range)},
        ]


DEFAULT_COEFFICIENTS = EnergyCoefficients()


def modeled_energy(
    flops_per_rank: list[float],
    bytes_per_rank: list[float],
    t_iter_s: float,
    n_iter: float = 1.0,
    coeffs: EnergyCoefficients = DEFAULT_COEFFICIENTS,
) -> dict[str, Any]:
    """``N·E_iter`` of the energy model with its sensitivity band (all coefficients low / high).

    The result is always labelled ``"modeled"`` and carries its coefficient table.
    """
    p = len(flops_per_rank)

    def energy(ef: float, eb: float, ps: float) -> tuple[float, float, float]:
        dyn_f = ef * sum(flops_per_rank)
        dyn_b = eb * sum(bytes_per_rank)
        static = p * ps * t_iter_s
        return dyn_f * n_iter, dyn_b * n_iter, static * n_iter

    c = coeffs
    f, b, st = energy(c.eps_flop_j, c.eps_byte_j, c.p_static_w)
    lo = sum(energy(c.eps_flop_range[0], c.eps_byte_range[0], c.p_static_range[0]))
    hi = sum(energy(c.eps_flop_range[1], c.eps_byte_range[1], c.p_static_range[1]))
    return {
        "label": "modeled",
        "energy_j": f + b + st,
        "band_j": [lo, hi],
        "breakdown_j": {"flops": f, "bytes": b, "static": st},
        "n_iter": n_iter,
        "t_iter_s": t_iter_s,
        "ranks": p,
        "formula": "E = N * (sum_ranks(eps_F*F_rank + eps_B*B_rank) + p*P_static*T_iter)",
        "coefficients": c.table(),
        "coefficient_source": c.source,
    }
