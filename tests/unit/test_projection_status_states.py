"""How `qualtrace projections status` tells caught up, catching up and stuck apart
(`qualtrace.status.classify`, from two samples of head and positions)."""

from __future__ import annotations

from qualtrace.status import CATCHING_UP, CAUGHT_UP, STUCK, classify, sample_status


def states(head_before: int, before: dict[str, int], head: int, after: dict[str, int]) -> dict:
    return {p.name: p.state for p in classify(head_before, before, head, after)}


def test_at_the_head_is_caught_up() -> None:
    assert states(10, {"a": 10}, 10, {"a": 10}) == {"a": CAUGHT_UP}


def test_behind_but_moving_is_catching_up() -> None:
    assert states(100, {"a": 10}, 100, {"a": 60}) == {"a": CATCHING_UP}


def test_behind_only_by_events_stored_after_the_first_sample_is_catching_up() -> None:
    # It had everything there was at the first sample; new events arrived since.
    assert states(10, {"a": 10}, 12, {"a": 10}) == {"a": CATCHING_UP}


def test_behind_the_first_sample_and_not_moving_is_stuck() -> None:
    assert states(10, {"a": 4, "b": 10}, 12, {"a": 4, "b": 12}) == {"a": STUCK, "b": CAUGHT_UP}


def test_sample_status_reads_twice_and_is_unhealthy_only_when_stuck() -> None:
    reads = iter([(10, {"a": 4, "b": 3}), (10, {"a": 4, "b": 10})])
    slept: list[float] = []
    status = sample_status(lambda: next(reads), 1.5, sleep=slept.append)
    assert slept == [1.5]
    assert not status.healthy
    assert status.as_dict()["projections"] == {
        "a": {"position": 4, "lag": 6, "state": STUCK},
        "b": {"position": 10, "lag": 0, "state": CAUGHT_UP},
    }
