"""Submission order: group points by resolution, then follow a short path within each group.

Workers keep the simulator's cached pieces for the resolution they last used and warm-start
from the nearest earlier point, so the order in which points are handed out matters for
throughput (never for results): all points of one resolution are submitted together, and
within a resolution a greedy nearest-neighbour path in the unit-scaled varied coordinates keeps
consecutive points close. With ``w`` workers pulling from the queue, each worker gets every
``w``-th point of that path, still a short hop from its previous one.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np

GREEDY_MAX = 4000  #: above this group size fall back to a lexicographic sort (O(n log n))


def nearest_neighbour_path(X: np.ndarray) -> list[int]:
    """Greedy path through the rows of ``X`` starting at the row closest to the origin."""
    n = X.shape[0]
    if n == 0:
        return []
    if n > GREEDY_MAX:
        return list(np.lexsort(X.T[::-1]))
    left = np.ones(n, dtype=bool)
    cur = int(np.argmin(np.sum(X * X, axis=1)))
    path = [cur]
    left[cur] = False
    for _ in range(n - 1):
        d = np.sum((X - X[cur]) ** 2, axis=1)
        d[~left] = np.inf
        cur = int(np.argmin(d))
        path.append(cur)
        left[cur] = False
    return path


def plan_order(resolutions: Sequence[Hashable], coords: np.ndarray) -> list[int]:
    """Indices of the points in submission order (groups in order of first appearance)."""
    groups: dict[Hashable, list[int]] = {}
    for i, r in enumerate(resolutions):
        groups.setdefault(r, []).append(i)
    order: list[int] = []
    for members in groups.values():
        idx = np.asarray(members)
        order += [int(idx[j]) for j in nearest_neighbour_path(coords[idx])]
    return order
