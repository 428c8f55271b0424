"""Tables and properties for `bascule.core.balancing` (DECISIONS §14, reliability §2.4 R6, §2.5)."""

from __future__ import annotations

from collections import Counter
from itertools import groupby

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bascule.core.balancing import SmoothWeightedRoundRobin


def picks(balancer: SmoothWeightedRoundRobin, count: int) -> list[int]:
    out: list[int] = []
    for _ in range(count):
        index = balancer.pick()
        assert index is not None
        out.append(index)
    return out


def longest_runs(sequence: list[int]) -> dict[int, int]:
    runs: dict[int, int] = {}
    for index, group in groupby(sequence):
        runs[index] = max(runs.get(index, 0), sum(1 for _ in group))
    return runs


# --- DECISIONS §14 ---------------------------------------------------------------------------------------


def test_nine_to_one_is_nine_of_every_ten() -> None:
    sequence = picks(SmoothWeightedRoundRobin([9, 1]), 1000)
    for start in range(0, len(sequence) - 9):
        assert Counter(sequence[start : start + 10]) == {0: 9, 1: 1}
    assert longest_runs(sequence)[0] <= 9
    assert longest_runs(sequence)[1] == 1


def test_nine_to_one_first_cycle() -> None:
    # The exact nginx interleaving: the light target lands in the middle of the cycle.
    assert picks(SmoothWeightedRoundRobin([9, 1]), 10) == [0, 0, 0, 0, 0, 1, 0, 0, 0, 0]


def test_five_one_one_is_the_nginx_sequence() -> None:
    # nginx's own example (ngx_http_upstream_round_robin.c): {5, 1, 1} -> a a b a c a a.
    assert picks(SmoothWeightedRoundRobin([5, 1, 1]), 7) == [0, 0, 1, 0, 2, 0, 0]


def test_one_three_six_over_ten_thousand_is_exact() -> None:
    # reliability-and-users §2.4 R6
    sequence = picks(SmoothWeightedRoundRobin([1, 3, 6]), 10_000)
    assert Counter(sequence) == {0: 1000, 1: 3000, 2: 6000}
    runs = longest_runs(sequence)
    assert runs[2] <= 6
    assert runs[1] <= 3
    assert runs[0] == 1


def test_equal_weights_alternate() -> None:
    assert picks(SmoothWeightedRoundRobin([1, 1, 1]), 7) == [0, 1, 2, 0, 1, 2, 0]
    assert picks(SmoothWeightedRoundRobin([2, 2]), 6) == [0, 1, 0, 1, 0, 1]


def test_single_target_always_picked() -> None:
    assert picks(SmoothWeightedRoundRobin([1]), 5) == [0] * 5
    assert picks(SmoothWeightedRoundRobin([7]), 20) == [0] * 20


def test_weight_zero_is_never_picked() -> None:
    sequence = picks(SmoothWeightedRoundRobin([0, 2, 0, 1, 0]), 300)
    assert Counter(sequence) == {1: 200, 3: 100}


@pytest.mark.parametrize("weights", [[0], [0, 0], [0, 0, 0, 0]])
def test_all_zero_gives_none(weights: list[int]) -> None:
    balancer = SmoothWeightedRoundRobin(weights)
    assert balancer.pick() is None
    assert balancer.pick() is None


def test_no_targets_gives_none() -> None:
    assert SmoothWeightedRoundRobin([]).pick() is None


def test_negative_weight_is_rejected() -> None:
    with pytest.raises(ValueError, match="negative"):
        SmoothWeightedRoundRobin([1, -1])


def test_weights_are_kept() -> None:
    assert SmoothWeightedRoundRobin([3, 0, 1]).weights == (3, 0, 1)
    assert SmoothWeightedRoundRobin((2,)).weights == (2,)


def test_duplicate_targets_as_weights() -> None:
    # Classic `target_list` [A, A, B] becomes weights [2, 1]: still two of every three, interleaved.
    assert picks(SmoothWeightedRoundRobin([2, 1]), 6) == [0, 1, 0, 0, 1, 0]


# --- is_eligible -----------------------------------------------------------------------------------------


def test_ineligible_target_is_skipped() -> None:
    balancer = SmoothWeightedRoundRobin([1, 1, 1])
    seen = [balancer.pick(lambda i: i != 1) for _ in range(300)]
    assert 1 not in seen
    assert Counter(seen) == {0: 150, 2: 150}


def test_skipped_target_gets_nothing_under_weight() -> None:
    # reliability §2.4 R7: a down host's counter stays at 0 whatever its weight.
    balancer = SmoothWeightedRoundRobin([1, 100])
    seen = [balancer.pick(lambda i: i == 0) for _ in range(50)]
    assert seen == [0] * 50


def test_all_ineligible_gives_none() -> None:
    balancer = SmoothWeightedRoundRobin([1, 2, 3])
    assert balancer.pick(lambda _i: False) is None
    # and the balancer carries on afterwards
    assert Counter(picks(balancer, 6)) == {0: 1, 1: 2, 2: 3}


def test_only_eligible_zero_weight_gives_none() -> None:
    balancer = SmoothWeightedRoundRobin([0, 5])
    assert balancer.pick(lambda i: i == 0) is None


def test_is_eligible_not_asked_about_zero_weights() -> None:
    asked: list[int] = []

    def eligible(index: int) -> bool:
        asked.append(index)
        return True

    SmoothWeightedRoundRobin([0, 1, 0, 1]).pick(eligible)
    assert asked == [1, 3]


def test_skipping_keeps_the_others_proportional() -> None:
    balancer = SmoothWeightedRoundRobin([1, 3, 6])
    # target 2 down for a while
    seen = [balancer.pick(lambda i: i != 2) for _ in range(400)]
    assert Counter(seen) == {0: 100, 1: 300}
    # back up: within a few cycles the full proportions resume
    picks(balancer, 100)
    assert Counter(picks(balancer, 1000)) == {0: 100, 1: 300, 2: 600}


def test_recovered_target_rejoins() -> None:
    balancer = SmoothWeightedRoundRobin([1, 1])
    seen: list[int] = []
    for step in range(20):
        index = balancer.pick(lambda i, step=step: step >= 10 or i != 0)  # type: ignore[misc]
        assert index is not None
        seen.append(index)
    assert seen[:10] == [1] * 10
    assert 0 in seen[10:]


# --- properties (reliability §2.5) -----------------------------------------------------------------------

_weights = st.lists(st.integers(min_value=0, max_value=20), min_size=1, max_size=8).filter(any)


@given(_weights)
def test_every_window_of_one_cycle_is_exact(weights: list[int]) -> None:
    total = sum(weights)
    sequence = picks(SmoothWeightedRoundRobin(weights), 3 * total)
    expected = {i: w for i, w in enumerate(weights) if w}
    for start in range(len(sequence) - total + 1):
        assert Counter(sequence[start : start + total]) == expected


@given(_weights.filter(lambda ws: sum(1 for w in ws if w) >= 2))
def test_no_run_longer_than_the_weight(weights: list[int]) -> None:
    # With a single non-zero target every pick is that target, so a run is unbounded by definition;
    # the bound holds from two targets on.
    sequence = picks(SmoothWeightedRoundRobin(weights), 3 * sum(weights))
    for index, run in longest_runs(sequence).items():
        assert run <= weights[index]


@given(_weights)
def test_zero_weights_never_picked(weights: list[int]) -> None:
    sequence = picks(SmoothWeightedRoundRobin(weights), 2 * sum(weights))
    assert all(weights[i] > 0 for i in sequence)


@given(_weights, st.data())
def test_never_picks_an_ineligible_target(weights: list[int], data: st.DataObject) -> None:
    balancer = SmoothWeightedRoundRobin(weights)
    for _ in range(2 * sum(weights)):
        down = data.draw(st.frozensets(st.integers(min_value=0, max_value=len(weights) - 1)))
        index = balancer.pick(lambda i, down=down: i not in down)  # type: ignore[misc]
        if all(weights[i] == 0 or i in down for i in range(len(weights))):
            assert index is None
        else:
            assert index is not None
            assert index not in down
            assert weights[index] > 0
