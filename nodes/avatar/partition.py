"""Split a line into a fixed number of pieces at candidate joins: the cheapest choice (dynamic programming).

Shared by the segment planner (frames) and the text splitter (characters). Candidate ``j`` is a join
where one piece ends at ``ends[j]`` and the next starts at ``starts[j]`` (after a gap, or before it for
an overlap); candidates are sorted so that both arrays grow. A piece from join ``i`` to join ``j`` is
``ends[j] - starts[i]`` long. The cost of a split is

    sum over pieces of   balance_weight * ((length - target) / target) ** 2
  + sum over joins of    join_cost[j]

and the search keeps every piece within ``[min_len, max_len]`` (the last piece only needs
``last_min_len``). Cost: O(count × candidates × candidates per piece) in numpy, memory O(count × candidates).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Line:
    """The candidates and the limits of one split."""

    starts: np.ndarray
    ends: np.ndarray
    join_cost: np.ndarray
    begin: float  # where the first piece starts
    end: float  # where the last piece ends
    min_len: float
    max_len: float
    last_min_len: float
    balance_weight: float


def best_joins(line: Line, count: int, target: float) -> list[int] | None:
    """Indices of the ``count - 1`` candidates of the cheapest split into ``count`` pieces around
    ``target`` length each; ``None`` when no split keeps every piece within the limits."""
    starts, ends = line.starts, line.ends
    size = len(starts)

    def fits(length, low):
        return (length >= low) & (length <= line.max_len)

    def balance(length):
        return line.balance_weight * ((length - target) / target) ** 2

    if count == 1:
        return [] if fits(line.end - line.begin, line.last_min_len) else None
    if size < count - 1:
        return None
    first = ends - line.begin
    cost = np.where(fits(first, line.min_len), balance(first) + line.join_cost, np.inf)
    # the predecessors of candidate j that keep the piece between them within the limits
    low = np.searchsorted(starts, ends - line.max_len, "left")
    high = np.minimum(np.searchsorted(starts, ends - line.min_len, "right") - 1, np.arange(size) - 1)
    width = int(max(0, (high - low + 1).max()))
    back = []
    for _ in range(count - 2):
        best = np.full(size, np.inf)
        arg = np.full(size, -1)
        for offset in range(width):
            before = np.minimum(low + offset, size - 1)
            value = cost[before] + balance(ends - starts[before])
            better = (low + offset <= high) & (value < best)
            best[better] = value[better]
            arg[better] = before[better]
        cost = best + line.join_cost
        back.append(arg)
    last = line.end - starts
    total = np.where(fits(last, line.last_min_len), cost + balance(last), np.inf)
    j = int(np.argmin(total))
    if not np.isfinite(total[j]):
        return None
    joins = [j]
    for arg in reversed(back):
        j = int(arg[j])
        joins.append(j)
    return joins[::-1]
