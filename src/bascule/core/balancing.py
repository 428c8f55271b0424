"""Smooth weighted round-robin (DECISIONS §14), the interleaving nginx uses.

Each pick adds every eligible target's weight to its running score, picks the highest score (the first
on ties) and subtracts the total eligible weight from it. Over any window of `sum(weights)` picks a target
of weight w is picked exactly w times, and never more than w times in a row. Weight 0 is never picked.
Targets that `is_eligible` rejects (down hosts) are left out of that pick without disturbing the others.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence


class SmoothWeightedRoundRobin:
    """The balancer state of one API: a running score per target. Not thread-safe; one per event loop."""

    __slots__ = ("_scores", "_weights")

    def __init__(self, weights: Sequence[int]) -> None:
        if any(w < 0 for w in weights):
            raise ValueError("weights must not be negative")
        self._weights = tuple(weights)
        self._scores = [0] * len(self._weights)

    @property
    def weights(self) -> tuple[int, ...]:
        return self._weights

    def pick(self, is_eligible: Callable[[int], bool] | None = None) -> int | None:
        """The index of the next target, or None when no target with weight > 0 is eligible."""
        weights = self._weights
        scores = self._scores
        total = 0
        best = -1
        best_score = 0
        for index, weight in enumerate(weights):
            if weight == 0 or (is_eligible is not None and not is_eligible(index)):
                continue
            score = scores[index] + weight
            scores[index] = score
            total += weight
            if best < 0 or score > best_score:
                best = index
                best_score = score
        if best < 0:
            return None
        scores[best] -= total
        return best
