"""Tables and properties for `bascule.core.host_health` (DECISIONS §15)."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bascule.core.host_health import HostHealthTracker, HostState, Transition

F, T = False, True


@pytest.mark.parametrize(
    ("sample_size", "results", "flips", "down"),
    [
        # (results in order, indexes at which a Transition comes back with its new state, down at the end)
        (3, [], [], False),
        (3, [T, T, T, T], [], False),
        (3, [F, F], [], False),
        (3, [F, F, F], [(2, False)], True),
        (3, [F, F, F, F, F, F], [(2, False)], True),  # one HostDown, not one per failing check (Tyk repeats)
        (3, [F, F, T, F, F], [], False),  # non-consecutive failures do not accumulate (Tyk: down at the 4th)
        (3, [F, F, F, T, T], [(2, False)], True),
        (3, [F, F, F, T, T, T], [(2, False), (5, True)], False),
        (3, [F, F, F, T, T, F, T, T, T], [(2, False), (8, True)], False),  # a failure resets the success run
        (1, [F], [(0, False)], True),
        (1, [F, T, F, T], [(0, False), (1, True), (2, False), (3, True)], False),
        (1, [T, T], [], False),
        (4, [F, F, F, F], [(3, False)], True),  # tyk-behaviour §5 case 35: fired exactly once
        (2, [T, F, F], [(2, False)], True),  # case 36
        (2, [F, F, T, T], [(1, False), (3, True)], False),  # case 37: down once, up once
    ],
)
def test_sequences(sample_size: int, results: list[bool], flips: list[tuple[int, bool]], down: bool) -> None:
    tracker = HostHealthTracker(sample_size)
    seen = []
    for index, ok in enumerate(results):
        transition = tracker.record("h:80", ok, now=float(index))
        if transition is not None:
            assert transition == Transition("h:80", transition.up, float(index))
            seen.append((index, transition.up))
    assert seen == flips
    assert tracker.is_down("h:80") is down


def test_state_details() -> None:
    tracker = HostHealthTracker(2)
    tracker.record("b:80", True, now=5.0, detail="200", latency=0.01)
    tracker.record("a:80", False, now=6.0, detail="connect refused")
    tracker.record("a:80", False, now=7.0, detail="TCP error")
    tracker.record("b:80", True, now=8.0, detail="200", latency=0.02)
    assert tracker.states() == [
        HostState("a:80", up=False, since=7.0, last_ok=False, last_detail="TCP error", last_latency=None, run=2),
        HostState("b:80", up=True, since=5.0, last_ok=True, last_detail="200", last_latency=0.02, run=2),
    ]
    tracker.record("a:80", True, now=9.0, detail="200", latency=0.5)
    assert tracker.states()[0] == HostState("a:80", False, 7.0, True, "200", 0.5, 1)


def test_unknown_hosts_are_up() -> None:
    tracker = HostHealthTracker(3)
    assert tracker.is_down("never.seen:80") is False
    assert tracker.states() == []


def test_forget_drops_hosts_not_kept() -> None:
    tracker = HostHealthTracker(1)
    for host in ("a:1", "b:1", "c:1"):
        tracker.record(host, False, now=1.0)
    tracker.forget(iter(["b:1", "z:1"]))
    assert [s.host for s in tracker.states()] == ["b:1"]
    assert tracker.is_down("a:1") is False  # forgotten: unknown again, hence up
    assert tracker.is_down("b:1") is True
    tracker.forget([])
    assert tracker.states() == []


@pytest.mark.parametrize("sample_size", [0, -1])
def test_sample_size_must_be_positive(sample_size: int) -> None:
    with pytest.raises(ValueError, match="sample_size"):
        HostHealthTracker(sample_size)


def expected_down(sample_size: int, results: list[bool]) -> bool:
    """The rule, stated over the whole history: scan windows of the last `sample_size` results."""
    down = False
    for end in range(sample_size, len(results) + 1):
        window = results[end - sample_size : end]
        if not any(window):
            down = True
        elif all(window):
            down = False
    return down


sizes = st.integers(min_value=1, max_value=5)
histories = st.lists(st.booleans(), max_size=60)


@given(sizes, histories)
def test_state_follows_the_last_window(sample_size: int, results: list[bool]) -> None:
    tracker = HostHealthTracker(sample_size)
    for index, ok in enumerate(results):
        tracker.record("h", ok, now=float(index))
        assert tracker.is_down("h") is expected_down(sample_size, results[: index + 1])


@given(sizes, histories)
def test_transitions_alternate_and_are_spaced(sample_size: int, results: list[bool]) -> None:
    tracker = HostHealthTracker(sample_size)
    flips: list[tuple[int, bool]] = []
    for index, ok in enumerate(results):
        transition = tracker.record("h", ok, now=float(index))
        if transition is not None:
            flips.append((index, transition.up))
    # the first flip is a HostDown; they alternate; each follows at least sample_size results after the last
    assert [up for _, up in flips] == [index % 2 == 1 for index in range(len(flips))]
    if flips:
        assert flips[0][0] >= sample_size - 1
    for (before, _), (after, _) in itertools.pairwise(flips):
        assert after - before >= sample_size
    assert len(flips) <= len(results) // sample_size  # never more than one flip per sample_size results


@given(sizes, histories)
def test_each_flip_is_reported_and_matches_is_down(sample_size: int, results: list[bool]) -> None:
    tracker = HostHealthTracker(sample_size)
    down = False
    for index, ok in enumerate(results):
        transition = tracker.record("h", ok, now=float(index))
        now_down = tracker.is_down("h")
        assert (transition is not None) is (now_down is not down)
        if transition is not None:
            assert transition.up is not now_down
            assert tracker.states()[0].since == float(index)
        down = now_down


@given(sizes, histories)
def test_run_counts_the_trailing_equal_results(sample_size: int, results: list[bool]) -> None:
    tracker = HostHealthTracker(sample_size)
    for index, ok in enumerate(results):
        tracker.record("h", ok, now=float(index))
        seen = results[: index + 1]
        trailing = len(seen) - next((i + 1 for i in range(len(seen) - 1, -1, -1) if seen[i] != ok), 0)
        assert tracker.states()[0].run == trailing
        assert tracker.states()[0].last_ok is ok


@given(sizes, st.lists(st.tuples(st.sampled_from(["a", "b", "c"]), st.booleans()), max_size=60))
def test_hosts_are_independent(sample_size: int, results: list[tuple[str, bool]]) -> None:
    together = HostHealthTracker(sample_size)
    apart = {host: HostHealthTracker(sample_size) for host in "abc"}
    for index, (host, ok) in enumerate(results):
        assert together.record(host, ok, float(index)) == apart[host].record(host, ok, float(index))
    assert together.states() == [s for host in "abc" for s in apart[host].states()]
