r"""The transverse string: two static sources with chains of up to ``R + 2`` links (issue 11).

A static source at the origin and one at ``R = (R_x, R_y)``; the Fock space holds every chain
of links from one to the other with ``n = |R_x| + |R_y|`` and ``n + 2`` links
(:func:`lfqcd.basis.static_string_basis`), so a linear potential is a result of the dynamics,
not of the construction. The operator generalises docs/physics.md (H18) to every piece that
acts on links (docs/physics_links.md, "Transverse string"):

.. math::
    2E = \kappa_{tot} + \mu^2 \sum_i \frac{1}{\kappa_i}
         + G\,(\text{coulomb} + \text{coul\_s} + \text{coul\_pair})
         + \lambda_S O_S + \lambda_P O_P + \lambda_B O_B + \beta\,(\text{plaq} + \text{plaq\_staple})

with the cutoff ``kappa_tot <= kappa_max`` on the grid ``h`` and ``V(R) = E_0 / 2`` (lattice
units, ``1/a``). :func:`string_table` evaluates ``V`` at the separations ``(1,0), (2,0), (3,0),
(1,1), (2,1)``; the axis values give ``sigma_T`` (least-squares slope, and ``V(2) - V(1)`` of
(F8)), the linearity residual, and the rotational-invariance deviations ``V(1,1) -
V_axis(sqrt 2)`` and ``V(2,1) - V_axis(sqrt 5)`` with ``V_axis`` the linear axis fit.
:func:`fit_link_couplings` fits the link couplings to ``sigma_T = sigma_L = pi G / 2`` ((F2),
(F8)) and rotational invariance, with the exact Jacobian from the Hellmann-Feynman theorem
(``dV/dc = <O_c>/2``: the operator is linear in every coupling).

Everything is assembled through :class:`lfqcd.hamiltonian.PieceSum` from the coupling-free
pieces of :mod:`lfqcd.operators` and :mod:`lfqcd.links` (one assembly path, no symmetry
reduction). The command ``lfqcd string CFG --out DIR`` (:func:`main`) writes ``string.csv``
and ``string.json``.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import math
import platform
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from lfqcd import __version__, outdir
from lfqcd import links as lk
from lfqcd import operators as ops
from lfqcd.basis import DEFAULT_MEMORY_LIMIT, ChainBasis, static_string_basis, string_sectors
from lfqcd.calibration.lightlight import sigma_L
from lfqcd.eigen import solve
from lfqcd.errors import InvalidParameterError
from lfqcd.hamiltonian import PieceSum
from lfqcd.links import LinkCouplings

AXIS: tuple[tuple[int, int], ...] = ((1, 0), (2, 0), (3, 0))
OFF_AXIS: tuple[tuple[int, int], ...] = ((1, 1), (2, 1))
SEPARATIONS = AXIS + OFF_AXIS
#: the couplings :func:`fit_link_couplings` can vary, and the pieces each multiplies
LINK_PARAMS: dict[str, tuple[str, ...]] = {
    "lam_S": ("lam_S",), "lam_P": ("lam_P",), "lam_B": ("lam_B", "lam_B_zz"),
    "beta": ("plaq", "plaq_staple"),
}
CONDITIONS = ("sigma_T", "linearity", "rot_11", "rot_21")


# ----------------------------------------------------------------------------------------------
# one separation


@dataclasses.dataclass(frozen=True)
class StringLevel:
    """The lowest state of one string: ``V = E_0 / 2``, sector probabilities ``P[n]``, and
    ``dV/dc`` for every coupling of :data:`LINK_PARAMS` (Hellmann-Feynman)."""

    V: float
    probabilities: dict[int, float]
    dV: dict[str, float]
    residual: float
    vector: np.ndarray = dataclasses.field(repr=False)


class StaticString:
    """The string operator between static sources at the origin and at ``separation``.

    Parameters: grid spacing ``h``, cutoff ``kappa_max`` (a multiple of ``h``), ``separation
    = (R_x, R_y)``, ``extra_links`` (even; chains of ``|R_x| + |R_y|`` up to that many more
    links), ``memory_limit`` in bytes (checked before the basis is built).
    """

    def __init__(self, h: float, kappa_max: float, separation: tuple[int, int],
                 extra_links: int = 2, memory_limit: int = DEFAULT_MEMORY_LIMIT) -> None:
        t0 = time.perf_counter()
        self.basis: ChainBasis = static_string_basis(h, kappa_max, separation, extra_links,
                                                     memory_limit=memory_limit)
        b = self.basis
        self.separation = b.separation
        self.sectors = string_sectors(self.separation, extra_links)
        pieces: dict[str, sp.csr_matrix] = {
            "kinetic": ops.light_momentum(b),
            "mu_sq": ops.inverse_momentum(b, "links"),
            "coulomb": ops.coulomb(b),
            **lk.string_pieces(b),
        }
        self.pieces = PieceSum(pieces)
        self.build_s = time.perf_counter() - t0
        self._v0: np.ndarray | None = None

    @property
    def dim(self) -> int:
        return self.basis.dim

    def sector_dims(self) -> dict[int, int]:
        out = {}
        for n in self.sectors:
            sl = self.basis.sector_slice(n)
            out[n] = sl.stop - sl.start
        return out

    @staticmethod
    def coefficients(G: float, mu: float, link: LinkCouplings) -> dict[str, float]:
        """Coefficient of every piece: kinetic 1, ``mu^2``, ``G`` (t-channel Coulomb and, when
        ``link.pair_coulomb``, the backtracking-pair terms) and the link couplings."""
        c = {k: v for k, v in link.coefficients(_GOnly(G)).items() if not k.startswith("e2_")}
        return {"kinetic": 1.0, "mu_sq": mu * mu, "coulomb": G, **c}

    def matrix(self, G: float, mu: float, link: LinkCouplings) -> sp.csr_matrix:
        """The Hermitian ``2E`` matrix at these couplings."""
        return self.pieces.combine(self.coefficients(G, mu, link))

    def solve(self, G: float, mu: float, link: LinkCouplings, seed: int = 0) -> StringLevel:
        """Lowest eigenpair (warm-started from the previous solve of this string)."""
        H = self.matrix(G, mu, link)
        v0 = self._v0 if self._v0 is not None and self._v0.shape[0] == self.dim else None
        res = solve(H, 1, v0=v0, seed=seed)
        c = np.asarray(res.eigenvectors[:, 0])
        self._v0 = c.copy()
        w = np.abs(c) ** 2
        w /= w.sum()
        probs = {n: float(w[self.basis.sector_slice(n)].sum()) for n in self.sectors}
        dV = {}
        for name, pieces in LINK_PARAMS.items():
            dV[name] = 0.5 * sum(float(np.real(np.vdot(c, self.pieces.pieces[p] @ c)))
                                 for p in pieces) / float(np.vdot(c, c).real)
        return StringLevel(V=0.5 * float(res.eigenvalues[0]), probabilities=probs, dV=dV,
                           residual=float(res.residuals[0]), vector=c)


@dataclasses.dataclass(frozen=True)
class _GOnly:
    """The femtoworm couplings :meth:`LinkCouplings.coefficients` reads (no quark: w = 0)."""

    G: float
    w_FF: float = 0.0
    w_NN: float = 0.0
    w_FN: float = 0.0


# ----------------------------------------------------------------------------------------------
# the table at one resolution


def axis_fit(values: Mapping[tuple[int, int], float]) -> dict[str, float]:
    """Linear least-squares fit ``V = c + sigma R`` of the axis values ``R = 1, 2, 3``.

    Returns ``sigma_T`` (slope), ``intercept``, ``sigma_T_diff = V(2) - V(1)`` ((F8)),
    ``linearity`` = ``V(3) - 2 V(2) + V(1)`` (the second difference; the fit residuals are
    ``(1, -2, 1) x linearity / 6``) and ``linearity_rel`` = linearity / sigma_T.
    """
    R = np.array([1.0, 2.0, 3.0])
    V = np.array([values[s] for s in AXIS])
    slope, intercept = np.polyfit(R, V, 1)
    second = float(V[2] - 2 * V[1] + V[0])
    return {"sigma_T": float(slope), "intercept": float(intercept),
            "sigma_T_diff": float(V[1] - V[0]), "linearity": second,
            "linearity_rel": second / float(slope) if slope != 0 else math.nan}


def rotational_deviations(values: Mapping[tuple[int, int], float],
                          fit: Mapping[str, float]) -> dict[str, float]:
    """``V(R) - V_axis(|R|)`` for the off-axis separations, ``V_axis`` the linear axis fit."""
    out = {}
    for s in OFF_AXIS:
        if s in values:
            r = math.hypot(*s)
            out[f"rot_{s[0]}{s[1]}"] = float(values[s] - (fit["intercept"] + fit["sigma_T"] * r))
    return out


@dataclasses.dataclass
class StringTable:
    """``V(R)`` at one resolution and link couplings, with the derived summary."""

    h: float
    kappa_max: float
    rows: list[dict[str, Any]]
    summary: dict[str, float]


def build_strings(h: float, kappa_max: float, separations: Sequence[tuple[int, int]] = SEPARATIONS,
                  extra_links: int = 2, memory_limit: int = DEFAULT_MEMORY_LIMIT
                  ) -> dict[tuple[int, int], StaticString]:
    """One :class:`StaticString` per separation (built once, re-solved at any couplings)."""
    return {tuple(s): StaticString(h, kappa_max, tuple(s), extra_links, memory_limit)
            for s in separations}


def string_table(strings: Mapping[tuple[int, int], StaticString], G: float, mu: float,
                 link: LinkCouplings, seed: int = 0) -> StringTable:
    """``V(R)`` of every string and the summary (:func:`axis_fit`, :func:`rotational_deviations`,
    ``sigma_L``; only the parts whose separations are present)."""
    rows = []
    values = {}
    first = next(iter(strings.values()))
    for s, st in strings.items():
        t0 = time.perf_counter()
        lev = st.solve(G, mu, link, seed)
        values[s] = lev.V
        n0 = st.sectors[0]
        rows.append({"Rx": s[0], "Ry": s[1], "R": math.hypot(*s), "dim": st.dim,
                     "sector_dims": st.sector_dims(), "V": lev.V,
                     "P_n": lev.probabilities[n0],
                     "P_n2": lev.probabilities.get(n0 + 2, 0.0),
                     "residual": lev.residual, "build_s": st.build_s,
                     "solve_s": time.perf_counter() - t0})
    summary: dict[str, float] = {"sigma_L": sigma_L(G)}
    if all(s in values for s in AXIS):
        fit = axis_fit(values)
        summary.update(fit)
        summary.update(rotational_deviations(values, fit))
    return StringTable(first.basis.h, first.basis.n_cut * first.basis.h, rows, summary)


# ----------------------------------------------------------------------------------------------
# fit of the link couplings


@dataclasses.dataclass
class LinkFit:
    """Result of :func:`fit_link_couplings` (couplings in lattice units)."""

    couplings: LinkCouplings
    free: tuple[str, ...]
    values: dict[str, float]
    errors: dict[str, float]
    covariance: list[list[float]]
    correlation: list[list[float]]
    #: ``(h, kappa_max)`` of every resolution fitted together, in the order of the lists below
    resolutions: list[tuple[float, float]]
    #: per resolution: residual of every condition in units of ``tolerance x sigma_L``
    residuals: list[dict[str, float]]
    #: per resolution: the conditions in lattice units
    conditions: list[dict[str, float]]
    chi2: float
    singular_values: list[float]
    weakest_direction: dict[str, float]
    success: bool
    message: str
    nfev: int

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["couplings"] = self.couplings.to_dict()
        return d


def _conditions(levels: Mapping[tuple[int, int], StringLevel], G: float
                ) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """The four conditions (lattice units) and their derivatives by every link coupling.

    Every condition is linear in the ``V(R)`` (:func:`axis_fit`, :func:`rotational_deviations`),
    so its derivative is the same function of the ``dV/dc`` (Hellmann-Feynman)."""
    def of(values: Mapping[tuple[int, int], float]) -> dict[str, float]:
        fit = axis_fit(values)
        return {"sigma_T": fit["sigma_T"], "linearity": fit["linearity"],
                **rotational_deviations(values, fit)}

    cond = of({s: lv.V for s, lv in levels.items()})
    cond["sigma_T"] -= sigma_L(G)
    der = {p: of({s: lv.dV[p] for s, lv in levels.items()}) for p in LINK_PARAMS}
    return cond, der


def _as_resolutions(strings: Mapping[tuple[int, int], StaticString]
                   | Sequence[Mapping[tuple[int, int], StaticString]]
                   ) -> list[Mapping[tuple[int, int], StaticString]]:
    """One set of strings (a mapping) or several (a sequence of mappings), as a list."""
    if isinstance(strings, Mapping):
        return [strings]
    out = list(strings)
    if not out or not all(isinstance(s, Mapping) for s in out):
        raise InvalidParameterError("the link-coupling fit needs one or more sets of strings "
                                    "(a mapping separation -> StaticString per resolution)")
    return out


def _resolution_of(strings: Mapping[tuple[int, int], StaticString]) -> tuple[float, float]:
    b = next(iter(strings.values())).basis
    return (float(b.h), float(b.n_cut * b.h))


def fit_link_couplings(strings: Mapping[tuple[int, int], StaticString]
                       | Sequence[Mapping[tuple[int, int], StaticString]], G: float, mu: float,
                       start: LinkCouplings | None = None,
                       free: Sequence[str] = ("lam_S", "lam_P", "beta"),
                       tolerance: float = 0.05, seed: int = 0, max_nfev: int = 60) -> LinkFit:
    """Least-squares fit of the ``free`` link couplings (the others stay at ``start``) to
    ``sigma_T = sigma_L`` (axis slope), linearity on the axis (``V(3) - 2 V(2) + V(1) = 0``) and
    rotational invariance, ``V(1,1) = V_axis(sqrt 2)``, ``V(2,1) = V_axis(sqrt 5)``.

    ``strings`` is one set of strings (one resolution) or a sequence of sets (several
    resolutions, e.g. from :func:`build_strings` at each ``(h, kappa_max)``): the four conditions
    of every resolution are stacked into one residual vector and **one** set of couplings is
    fitted to all of them (resolution-stable, as the femtoworm calibration fits several ``K``
    together). Every residual is divided by ``tolerance x sigma_L``; the Jacobian is exact
    (Hellmann-Feynman). The covariance is ``(J^T J)^-1`` of the stacked Jacobian at the
    solution; the singular values of the stacked Jacobian in *all four* couplings tell which
    direction the conditions leave undetermined (returned as ``weakest_direction``). ``beta``
    is bounded below by 0 (see the comment in the code).
    """
    from scipy.optimize import least_squares

    sets = _as_resolutions(strings)
    start = LinkCouplings() if start is None else start
    free = tuple(free)
    bad = [p for p in free if p not in LINK_PARAMS]
    if bad or not free or len(set(free)) != len(free):
        raise InvalidParameterError(
            f"free link couplings must be distinct names from {sorted(LINK_PARAMS)}, got {list(free)}")
    for st in sets:
        missing = [s for s in SEPARATIONS if s not in st]
        if missing:
            raise InvalidParameterError(f"the link-coupling fit needs the separations {missing}")
    if not (math.isfinite(tolerance) and tolerance > 0):
        raise InvalidParameterError(f"fit tolerance must be positive, got {tolerance!r}")
    scale = tolerance * sigma_L(G)
    cache: dict[tuple[float, ...], list] = {}

    def evaluate(x: np.ndarray) -> list:
        key = tuple(float(v) for v in x)
        if key not in cache:
            lc = dataclasses.replace(start, **dict(zip(free, key, strict=True)))
            per = []
            for st in sets:
                levels = {s: st[s].solve(G, mu, lc, seed) for s in SEPARATIONS}
                per.append(_conditions(levels, G))
            cache.clear()
            cache[key] = per
        return cache[key]

    def fun(x: np.ndarray) -> np.ndarray:
        return np.array([cond[c] for cond, _ in evaluate(x) for c in CONDITIONS]) / scale

    def jacobian(x: np.ndarray, params: Sequence[str]) -> np.ndarray:
        return np.array([[der[p][c] for p in params]
                         for _, der in evaluate(x) for c in CONDITIONS]) / scale

    def jac(x: np.ndarray) -> np.ndarray:
        return jacobian(x, free)

    # beta >= 0 (stated choice): the corner flip alone is blind to the sign of beta (the ground
    # state picks the symmetric or antisymmetric corner combination), only the weak staple sees
    # it, so the conditions have a mirror minimum at beta < 0; a positive plaquette coupling is
    # the sign of the Wilson action (flux around a plaquette lowers the energy)
    lower = np.array([0.0 if p == "beta" else -np.inf for p in free])
    x0 = np.array([getattr(start, p) for p in free], dtype=float)
    x0 = np.maximum(x0, lower)
    res = least_squares(fun, x0, jac=jac, method="trf", bounds=(lower, np.inf), max_nfev=max_nfev,
                        xtol=1e-10, ftol=1e-10, gtol=1e-10)
    per = evaluate(res.x)
    J = jacobian(res.x, free)
    cov = np.linalg.pinv(J.T @ J)
    err = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = cov / np.outer(err, err)
    _, sv, vt = np.linalg.svd(jacobian(res.x, tuple(LINK_PARAMS)))
    weakest = vt[-1] * np.sign(vt[-1][np.argmax(np.abs(vt[-1]))])
    values = dict(zip(free, (float(v) for v in res.x), strict=True))
    r = fun(res.x)
    return LinkFit(
        couplings=dataclasses.replace(start, **values), free=free, values=values,
        errors=dict(zip(free, (float(e) for e in err), strict=True)),
        covariance=cov.tolist(), correlation=np.nan_to_num(corr).tolist(),
        resolutions=[_resolution_of(st) for st in sets],
        residuals=[{c: float(cond[c] / scale) for c in CONDITIONS} for cond, _ in per],
        conditions=[{c: float(cond[c]) for c in CONDITIONS} for cond, _ in per],
        chi2=float(r @ r),
        singular_values=[float(v) for v in sv],
        weakest_direction=dict(zip(LINK_PARAMS, (float(v) for v in weakest), strict=True)),
        success=bool(res.success), message=str(res.message), nfev=int(res.nfev))


# ----------------------------------------------------------------------------------------------
# configuration and the ``lfqcd string`` command


@dataclasses.dataclass(frozen=True)
class StringConfig:
    """What ``runs/string.toml`` holds (see that file for every key)."""

    preset: str = "calibrated"
    resolutions: tuple[tuple[float, float], ...] = ((1.0, 6.0),)
    separations: tuple[tuple[int, int], ...] = SEPARATIONS
    extra_links: int = 2
    link_couplings: LinkCouplings = LinkCouplings()
    fit: bool = True
    #: indices into ``resolutions`` fitted together (one set of couplings)
    fit_resolutions: tuple[int, ...] = (-1,)
    fit_free: tuple[str, ...] = ("lam_S", "lam_P", "beta")
    fit_tolerance: float = 0.05
    memory_limit_gb: float = 4.0
    seed: int = 0

    @classmethod
    def from_toml(cls, path: str | Path) -> StringConfig:
        from lfqcd.tomlio import read_toml

        return cls.from_dict(read_toml(path), path)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], path: str | Path = "<config>") -> StringConfig:
        def bad(msg: str) -> InvalidParameterError:
            return InvalidParameterError(f"{path}: {msg}")

        unknown = set(data) - {"couplings", "string", "resolution", "links", "fit", "limits", "seed"}
        if unknown:
            raise bad(f"unknown section(s) {sorted(unknown)}; allowed: couplings, string, "
                      f"resolution, links, fit, limits, seed")
        for sec in ("couplings", "string", "resolution", "links", "fit", "limits"):
            if sec in data and not isinstance(data[sec], dict):
                raise bad(f"[{sec}] must be a table")
        preset = data.get("couplings", {}).get("preset", "calibrated")
        from lfqcd.couplings import get_preset

        try:
            get_preset(preset)
        except InvalidParameterError as exc:
            raise bad(str(exc)) from None
        res = data.get("resolution", {})
        hs, ks = res.get("h"), res.get("kappa_max")
        if not isinstance(hs, list) or not isinstance(ks, list) or len(hs) != len(ks) or not hs:
            raise bad("[resolution] needs equal-length non-empty lists h = [...] and kappa_max = [...]")
        for v in hs + ks:
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or v <= 0:
                raise bad(f"[resolution] h and kappa_max must be positive numbers, got {v!r}")
        st = data.get("string", {})
        seps = st.get("separations", [list(s) for s in SEPARATIONS])
        if (not isinstance(seps, list) or not seps
                or not all(isinstance(s, list) and len(s) == 2 for s in seps)):
            raise bad("[string] separations must be a list of [R_x, R_y] pairs")
        extra = st.get("extra_links", 2)
        lk_raw = dict(data.get("links", {}))
        allowed_links = {f.name for f in dataclasses.fields(LinkCouplings)} - {"two_link_emission"}
        if set(lk_raw) - allowed_links:
            raise bad(f"[links] unknown key(s) {sorted(set(lk_raw) - allowed_links)}; allowed: "
                      f"{sorted(allowed_links)}")
        link = LinkCouplings(**lk_raw, two_link_emission=False)
        fit = data.get("fit", {})
        unknown_fit = set(fit) - {"enabled", "resolution", "resolutions", "free", "tolerance"}
        if unknown_fit:
            raise bad(f"[fit] unknown key(s) {sorted(unknown_fit)}")
        free = fit.get("free", ["lam_S", "lam_P", "beta"])
        if not isinstance(free, list) or not free or any(p not in LINK_PARAMS for p in free):
            raise bad(f"[fit] free must be a non-empty list of {sorted(LINK_PARAMS)}, got {free!r}")
        if "resolution" in fit and "resolutions" in fit:
            raise bad("[fit] give either resolution = i or resolutions = [i, j, ...], not both")
        idxs = fit["resolutions"] if "resolutions" in fit else [fit.get("resolution", -1)]
        if not isinstance(idxs, list) or not idxs:
            raise bad(f"[fit] resolutions must be a non-empty list of indices into the "
                      f"[resolution] lists, got {idxs!r}")
        for idx in idxs:
            if not isinstance(idx, int) or isinstance(idx, bool) or not -len(hs) <= idx < len(hs):
                raise bad(f"[fit] resolution(s) must index the [resolution] lists "
                          f"(0..{len(hs) - 1}), got {idx!r}")
        if len({i % len(hs) for i in idxs}) != len(idxs):
            raise bad(f"[fit] resolutions must not repeat a resolution, got {idxs!r}")
        tol = fit.get("tolerance", 0.05)
        if isinstance(tol, bool) or not isinstance(tol, int | float) or not tol > 0:
            raise bad(f"[fit] tolerance must be a positive number, got {tol!r}")
        enabled = fit.get("enabled", True)
        if not isinstance(enabled, bool):
            raise bad("[fit] enabled must be true or false")
        seed = data.get("seed", 0)
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise bad(f"seed must be an integer, got {seed!r}")
        mem = data.get("limits", {}).get("memory_limit_gb", 4.0)
        if isinstance(mem, bool) or not isinstance(mem, int | float) or not mem > 0:
            raise bad(f"[limits] memory_limit_gb must be positive, got {mem!r}")
        separations = tuple((s[0], s[1]) for s in seps)
        if enabled and any(s not in separations for s in SEPARATIONS):
            raise bad(f"the link-coupling fit needs every separation of {list(SEPARATIONS)}; "
                      f"add them or set [fit] enabled = false")
        cfg = cls(preset=preset, resolutions=tuple(zip(map(float, hs), map(float, ks), strict=True)),
                  separations=separations, extra_links=extra, link_couplings=link, fit=enabled,
                  fit_resolutions=tuple(idxs), fit_free=tuple(free), fit_tolerance=float(tol),
                  memory_limit_gb=float(mem), seed=seed)
        # validate every basis parameter (and the memory limit) without building anything
        from lfqcd.basis import check_string_basis

        for s in separations:
            for h, k in cfg.resolutions:
                try:
                    check_string_basis(h, k, s, extra, cfg.memory_limit)
                except InvalidParameterError as exc:
                    raise bad(str(exc)) from None
        return cfg

    @property
    def memory_limit(self) -> int:
        return int(self.memory_limit_gb * 2**30)

    def to_dict(self) -> dict[str, Any]:
        return {"preset": self.preset, "resolutions": [list(r) for r in self.resolutions],
                "separations": [list(s) for s in self.separations],
                "extra_links": self.extra_links, "link_couplings": self.link_couplings.to_dict(),
                "fit": {"enabled": self.fit, "resolutions": list(self.fit_resolutions),
                        "free": list(self.fit_free), "tolerance": self.fit_tolerance},
                "memory_limit_gb": self.memory_limit_gb, "seed": self.seed}


CSV_COLUMNS = ("couplings", "h", "kappa_max", "Rx", "Ry", "R", "dim", "V", "V_GeV", "P_n", "P_n2",
               "residual", "build_s", "solve_s")


def run(config: StringConfig, out_dir: Path) -> dict[str, Any]:
    """Build the strings at every resolution, tabulate ``V(R)`` at the configured link
    couplings, fit the link couplings (jointly at ``fit_resolutions``), tabulate again at the fitted
    values, and write ``string.csv`` and ``string.json`` into ``out_dir``."""
    from lfqcd.couplings import get_preset
    from lfqcd.units import inverse_spacing_gev

    t_start = time.perf_counter()
    preset = get_preset(config.preset)
    G, mu = preset.couplings.G, preset.couplings.mu
    inv_a = inverse_spacing_gev(preset.lattice_spacing_fm)
    built = []
    for h, k in config.resolutions:
        built.append(build_strings(h, k, config.separations, config.extra_links,
                                   config.memory_limit))
    tables: list[tuple[str, StringTable]] = []
    for strings in built:
        tables.append(("configured", string_table(strings, G, mu, config.link_couplings,
                                                  config.seed)))
    fit = None
    if config.fit:
        t_fit = time.perf_counter()
        fit = fit_link_couplings([built[i] for i in config.fit_resolutions], G, mu,
                                 config.link_couplings, config.fit_free, config.fit_tolerance,
                                 config.seed)
        fit_s = time.perf_counter() - t_fit
        for strings in built:
            tables.append(("fitted", string_table(strings, G, mu, fit.couplings, config.seed)))
    rows = []
    for label, tab in tables:
        for r in tab.rows:
            rows.append({"couplings": label, "h": tab.h, "kappa_max": tab.kappa_max, **r,
                         "V_GeV": r["V"] * inv_a})
    with open(out_dir / "string.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=CSV_COLUMNS, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow(r)
    summaries = []
    for label, tab in tables:
        s = dict(tab.summary)
        if "sigma_T" in s:
            s["sigma_T_GeV2"] = s["sigma_T"] * inv_a**2
            s["sigma_T_diff_GeV2"] = s["sigma_T_diff"] * inv_a**2
        s["sigma_L_GeV2"] = s["sigma_L"] * inv_a**2
        summaries.append({"couplings": label, "h": tab.h, "kappa_max": tab.kappa_max, **s})
    record = {
        "what": "transverse string between two static sources, chains of |R| .. |R| + "
                f"{config.extra_links} links (docs/physics_links.md, Transverse string)",
        "config": config.to_dict(),
        "couplings": {"G": G, "mu": mu, "lattice_spacing_fm": preset.lattice_spacing_fm,
                      "inverse_spacing_GeV": inv_a},
        "versions": {"lfqcd": __version__, "python": platform.python_version(),
                     "numpy": np.__version__},
        "seeds": {"eigensolver_start_vector": config.seed},
        "units": "V, sigma in lattice units (1/a, 1/a^2) unless the name ends in _GeV/_GeV2",
        "summary": summaries,
        "rows": rows,
        "fit": None if fit is None else {
            **fit.to_dict(),
            "wall_s": fit_s,
            "conditions_in_words": {
                "sigma_T": "least-squares slope of V on the axis R = 1, 2, 3 minus sigma_L = pi G/2",
                "linearity": "V(3) - 2 V(2) + V(1) on the axis",
                "rot_11": "V(1,1) - V_axis(sqrt 2)", "rot_21": "V(2,1) - V_axis(sqrt 5)"},
            "tolerance_units": f"residuals in units of {config.fit_tolerance} sigma_L"},
        "wall_s": time.perf_counter() - t_start,
    }
    outdir.write_json(out_dir / "string.json", record, default=float)
    return record


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="TOML configuration, e.g. runs/string.toml")
    parser.add_argument("--out", required=True, help="output folder (string.csv, string.json)")
    outdir.add_overwrite_argument(parser)


def main(args: argparse.Namespace) -> int:
    from lfqcd.tomlio import read_toml

    raw = read_toml(args.config)
    config = StringConfig.from_dict(raw, args.config)
    outdir.prepare(args.out, "string", outdir.config_hash(raw), overwrite=args.overwrite)
    record = run(config, Path(args.out))
    for s in record["summary"]:
        if "sigma_T" in s:
            print(f"{s['couplings']:>10} h={s['h']:g} kappa_max={s['kappa_max']:g}: "
                  f"sigma_T = {s['sigma_T']:.4f} ({s['sigma_T_GeV2']:.4f} GeV^2), V(2)-V(1) = "
                  f"{s['sigma_T_diff']:.4f}, sigma_L = {s['sigma_L']:.4f}, linearity "
                  f"{s['linearity']:+.4f}, rot (1,1) {s.get('rot_11', math.nan):+.4f} "
                  f"(2,1) {s.get('rot_21', math.nan):+.4f}")
    if record["fit"] is not None:
        f = record["fit"]
        vals = ", ".join(f"{k} = {v:.4g}({f['errors'][k]:.2g})" for k, v in f["values"].items())
        print(f"fitted link couplings (jointly at {len(f['resolutions'])} resolution(s)): {vals}; "
              f"chi2 = {f['chi2']:.3g}")
        for (h, k), r in zip(f["resolutions"], f["residuals"], strict=True):
            print(f"  residuals / tol at h={h:g} kappa_max={k:g}: "
                  + ", ".join(f"{c} {v:+.3f}" for c, v in r.items()))
    print(f"wrote {args.out}/string.csv and string.json ({record['wall_s']:.1f} s)")
    return 0
