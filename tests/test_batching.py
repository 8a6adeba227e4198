"""The decode batch planner (core/batching.py): which queued requests go into the
model's next call, and when; a hand-set clock, no threads, no model."""

from __future__ import annotations

import pytest

from livetrans.core.batching import BatchOptions, BatchPlanner, QueueFull


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def planner(streams: int = 0, **options: float) -> tuple[BatchPlanner[str], Clock]:
    clock = Clock()
    plan: BatchPlanner[str] = BatchPlanner(BatchOptions(**options), clock)  # type: ignore[arg-type]
    for s in range(streams):
        plan.open(s)
    return plan, clock


def test_nothing_queued_nothing_due() -> None:
    plan, _ = planner(2)
    assert plan.due() is None and plan.wait() is None and plan.take() == []


def test_a_lone_stream_never_waits_for_company() -> None:
    """Every open stream has its request queued: nobody else can join, so it goes now."""
    plan, _ = planner(1, max_wait=0.05)
    plan.submit(0, "a")
    assert plan.wait() == 0.0
    assert plan.take() == ["a"]


def test_an_idle_model_waits_at_most_max_wait_for_more() -> None:
    plan, clock = planner(3, max_wait=0.05)
    plan.submit(0, "a")
    assert plan.wait() == pytest.approx(0.05)
    assert plan.take() == []
    clock.now += 0.02
    plan.submit(1, "b")
    assert plan.wait() == pytest.approx(0.03)  # bounded by the oldest request's arrival
    clock.now += 0.03
    assert plan.take() == ["a", "b"]


def test_the_batch_goes_at_once_when_every_stream_has_asked() -> None:
    plan, clock = planner(3, max_wait=0.05)
    plan.submit(0, "a")
    clock.now += 0.01
    plan.submit(2, "c")
    clock.now += 0.01
    plan.submit(1, "b")
    assert plan.wait() == 0.0
    assert plan.take() == ["a", "c", "b"]  # oldest first


def test_a_full_batch_goes_at_once_and_the_rest_waits_for_the_next() -> None:
    plan, clock = planner(5, max_batch=2, max_wait=0.05)
    for s, item in enumerate("abc"):
        plan.submit(s, item)
        clock.now += 0.001
    assert plan.take() == ["a", "b"]
    assert plan.wait() is None  # busy: the model runs one batch at a time
    plan.done()
    # c arrived while the model was idle but has waited its max_wait by now.
    clock.now += 0.05
    assert plan.take() == ["c"]


def test_after_a_batch_the_streams_just_answered_are_waited_for() -> None:
    """A saturated model batches instead of alternating: the next batch waits up to
    max_wait after the previous one for the streams it answered to ask again."""
    plan, clock = planner(3, max_wait=0.05)
    plan.submit(0, "a")
    plan.submit(1, "b")
    clock.now += 0.05
    assert plan.take() == ["a", "b"]
    clock.now += 0.5
    plan.submit(2, "c")  # arrives during the decode
    plan.done()
    assert plan.wait() == pytest.approx(0.05)
    clock.now += 0.004
    plan.submit(0, "a2")  # the answered streams come back
    plan.submit(1, "b2")
    assert plan.wait() == 0.0
    assert plan.take() == ["c", "a2", "b2"]


def test_a_request_queued_during_a_batch_waits_no_more_than_max_wait_after_it() -> None:
    plan, clock = planner(3, max_wait=0.05)
    plan.submit(0, "a")
    clock.now += 0.05
    assert plan.take() == ["a"]
    clock.now += 0.5
    plan.submit(1, "b")
    plan.done()
    clock.now += 0.05
    assert plan.take() == ["b"]


def test_one_request_per_stream_per_batch_oldest_first() -> None:
    """A stream that queued several requests cannot crowd out the others."""
    plan, clock = planner(3, max_batch=3, max_queued=3, max_wait=0.0)
    for item in ("a1", "a2", "a3"):
        plan.submit(0, item)
        clock.now += 0.01
    plan.submit(1, "b1")
    clock.now += 0.01
    plan.submit(2, "c1")
    assert plan.take() == ["a1", "b1", "c1"]
    plan.done()
    assert plan.take() == ["a2"]
    plan.done()
    assert plan.take() == ["a3"]


def test_a_stream_queue_is_bounded() -> None:
    """A recogniser has one decode pending at most, so its queue holds one request:
    a second one before the first is answered is refused."""
    plan, _ = planner(2)
    plan.submit(0, "a")
    with pytest.raises(QueueFull):
        plan.submit(0, "b")
    plan.submit(1, "x")  # other streams are not affected


def test_a_closed_stream_is_no_longer_waited_for() -> None:
    plan, _ = planner(2, max_wait=0.05)
    plan.submit(0, "a")
    assert plan.wait() == pytest.approx(0.05)
    assert plan.close(1) == []
    assert plan.wait() == 0.0


def test_a_stream_that_asked_for_nothing_lately_is_not_waited_for() -> None:
    """A silent stream (or one that ended without closing) does not hold the others
    back by max_wait on every decode."""
    plan, clock = planner(2, max_wait=0.05, idle_after=2.0)
    plan.submit(0, "a")
    assert plan.wait() == pytest.approx(0.05)  # stream 1 opened just now: it may ask
    clock.now += 0.05
    assert plan.take() == ["a"]
    plan.done()
    clock.now += 2.0
    plan.submit(0, "a2")
    assert plan.wait() == 0.0  # stream 1 asked for nothing in 2 s
    assert plan.take() == ["a2"]
    plan.done()
    plan.submit(1, "b")  # it speaks again: waited for as before
    clock.now += 0.01
    plan.submit(0, "a3")
    assert plan.take() == ["b", "a3"]


def test_closing_a_stream_hands_back_what_it_had_queued() -> None:
    plan, _ = planner(2)
    plan.submit(0, "a")
    assert plan.close(0) == ["a"]
    assert plan.queued == 0 and plan.streams == 1


@pytest.mark.parametrize("options", [{"max_batch": 0}, {"max_wait": -1.0}, {"max_queued": 0}, {"idle_after": -1.0}])
def test_options_out_of_range_are_refused(options: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        BatchOptions(**options)  # type: ignore[arg-type]
