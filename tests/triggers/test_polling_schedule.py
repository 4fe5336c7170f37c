"""PollSchedule, the pure adaptive polling schedule: no server, no clock, times passed in."""

from __future__ import annotations

import itertools
import random
import statistics
from typing import TYPE_CHECKING

import pytest

from airflow_provider_videogen.triggers.polling import (
    DEFAULT_MAX_POLL_INTERVAL,
    PollSchedule,
    resolve_max_poll_interval,
)

if TYPE_CHECKING:
    from collections.abc import Callable

INTERVAL = 15.0
ESTIMATE = 180.0


def linear_progress(render: float, pending: float = 0.1) -> Callable[[float], int]:
    """Progress the way the simulator (and roughly a gateway) reports it: 0 while queued, then linear."""

    def at(t: float) -> int:
        return 0 if t < pending * render else min(99, max(1, int(t / render * 100)))

    return at


def follow(schedule: PollSchedule, render: float, progress: Callable[[float], int], start: float = 0.0) -> list[float]:
    """Run the schedule against one render submitted at 0; return the poll times (last one sees it done)."""
    now = start + schedule.next_wait(start)
    polls = []
    while True:
        polls.append(now)
        if now >= render or now >= schedule.deadline:
            return polls
        schedule.observe(now, progress(now))
        now += schedule.next_wait(now)


def test_fixed_polling_waits_poll_interval_whatever_the_render_says() -> None:
    schedule = PollSchedule(INTERVAL, adaptive=False, estimated_time=ESTIMATE, submitted_at=0.0)
    assert schedule.next_wait(0.0) == 0.0  # the first query at once, as before
    schedule.observe(0.0, 0)
    assert schedule.next_wait(0.0) == INTERVAL
    schedule.observe(15.0, 50)
    assert schedule.next_wait(15.0) == INTERVAL
    polls = follow(
        PollSchedule(INTERVAL, adaptive=False, estimated_time=ESTIMATE, submitted_at=0.0), 180, linear_progress(180)
    )
    assert len(polls) == 13
    assert all(b - a == INTERVAL for a, b in itertools.pairwise(polls))


def test_a_correct_estimate_costs_a_few_polls_and_sees_the_end_within_an_interval() -> None:
    polls = follow(PollSchedule(INTERVAL, estimated_time=ESTIMATE, submitted_at=0.0), 180, linear_progress(180))
    assert len(polls) <= 4
    assert polls[0] == pytest.approx(ESTIMATE / 4)  # an early look, in case the render runs ahead
    assert 180 <= polls[-1] <= 180 + INTERVAL


@pytest.mark.parametrize("factor", [1.0, 1 / 3, 3.0])
def test_scattered_renders_cost_fewer_polls_and_no_more_delay_than_fixed(factor: float) -> None:
    """Renders +-30% around (and 3x off) the estimate: fewer polls, delay p95 within fixed polling's."""
    rng = random.Random(1)
    polls: dict[bool, list[int]] = {True: [], False: []}
    delays: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(500):
        render = ESTIMATE * factor * rng.uniform(0.7, 1.3)
        start = rng.uniform(0, INTERVAL)  # triggers start at different phases
        for adaptive in (False, True):
            schedule = PollSchedule(INTERVAL, adaptive=adaptive, estimated_time=ESTIMATE, submitted_at=0.0)
            times = follow(schedule, render, linear_progress(render), start)
            polls[adaptive].append(len(times))
            delays[adaptive].append(times[-1] - render)
    assert statistics.median(polls[True]) < statistics.median(polls[False])
    if factor == 1.0:
        assert statistics.median(polls[True]) <= 4
    p95 = {k: sorted(v)[int(0.95 * len(v))] for k, v in delays.items()}
    assert p95[True] <= p95[False] + 0.05 * INTERVAL
    assert max(delays[True]) <= INTERVAL + 1e-9


def test_progress_rate_corrects_a_wrong_estimate() -> None:
    schedule = PollSchedule(INTERVAL, estimated_time=60, submitted_at=0.0)  # says 60 s, renders in 600 s
    schedule.observe(100.0, 16)
    schedule.observe(200.0, 33)
    assert schedule.predicted_finish() == pytest.approx(200 + 67 * 100 / 17)
    assert schedule.next_wait(200.0) == DEFAULT_MAX_POLL_INTERVAL  # far away: the longest wait


def test_one_progress_report_ahead_of_the_estimate_pulls_the_prediction_earlier() -> None:
    schedule = PollSchedule(INTERVAL, estimated_time=180, submitted_at=0.0)
    schedule.observe(45.0, 75)  # 75 % after 45 s: done at about 60 s, not 180 s
    assert schedule.predicted_finish() == pytest.approx(60.0)
    behind = PollSchedule(INTERVAL, estimated_time=180, submitted_at=0.0)
    behind.observe(45.0, 5)  # queued a while: never pulls later than the estimate
    assert behind.predicted_finish() == 180.0


def test_a_render_far_slower_than_its_estimate_falls_back_to_fixed_polling() -> None:
    schedule = PollSchedule(INTERVAL, estimated_time=60, submitted_at=0.0)
    schedule.observe(15.0, 0)
    schedule.observe(45.0, 0)  # no progress at all: only the estimate to go by
    assert schedule.next_wait(45.0) == INTERVAL  # near its end
    for now in (60.0, 75.0, 300.0, 900.0):  # past it: every poll_interval, not longer, not shorter
        schedule.observe(now, 0)
        assert schedule.next_wait(now) == INTERVAL


def test_stalled_progress_falls_back_to_fixed_polling() -> None:
    schedule = PollSchedule(INTERVAL, estimated_time=600, submitted_at=0.0)
    schedule.observe(100.0, 20)
    schedule.observe(200.0, 42)
    assert schedule.next_wait(200.0) > INTERVAL
    schedule.observe(400.0, 42)  # not advancing: no rate to trust
    assert schedule.predicted_finish() is None
    assert schedule.next_wait(400.0) == INTERVAL
    schedule.observe(415.0, 50)  # moving again
    assert schedule.predicted_finish() is not None


def test_never_sleeps_past_the_deadline() -> None:
    schedule = PollSchedule(INTERVAL, estimated_time=3600, submitted_at=0.0, deadline=100.0)
    assert schedule.next_wait(0.0) == pytest.approx(100.0)  # would be 900 s (a quarter) or 180 s (the cap)
    schedule.observe(90.0, 1)
    assert schedule.next_wait(90.0) == pytest.approx(10.0)
    assert schedule.next_wait(150.0) == 0.0
    polls = follow(PollSchedule(INTERVAL, estimated_time=60, submitted_at=0.0, deadline=500.0), 10_000, lambda t: 0)
    assert polls[-1] == 500.0
    assert all(t <= 500.0 for t in polls)


def test_waits_stay_between_poll_interval_and_max_poll_interval() -> None:
    rng = random.Random(3)
    for _ in range(300):
        estimate = rng.choice([None, rng.uniform(1, 3000)])
        schedule = PollSchedule(INTERVAL, 120.0, estimated_time=estimate, submitted_at=0.0)
        first = schedule.next_wait(0.0)
        assert 0.0 <= first <= 120.0
        now = first
        for _ in range(20):
            schedule.observe(now, rng.randint(0, 99))
            wait = schedule.next_wait(now)
            assert INTERVAL <= wait <= 120.0
            now += wait


def test_without_estimate_or_progress_it_is_fixed_polling() -> None:
    schedule = PollSchedule(INTERVAL)
    assert schedule.next_wait(0.0) == 0.0
    schedule.observe(0.0, 0)
    assert schedule.next_wait(0.0) == INTERVAL


def test_estimate_and_submission_time_can_come_from_the_answers() -> None:
    """A sensor watching someone else's task learns both from the first answer."""
    schedule = PollSchedule(INTERVAL)
    schedule.observe(50.0, 0, estimated_time=180, submitted_at=10.0)
    assert schedule.predicted_finish() == 190.0
    ahead = PollSchedule(INTERVAL)
    ahead.observe(50.0, 0, estimated_time=180, submitted_at=70.0)  # the gateway's clock runs ahead
    assert ahead.submitted_at == 50.0


def test_max_poll_interval_resolution() -> None:
    assert resolve_max_poll_interval(15, None) == DEFAULT_MAX_POLL_INTERVAL
    assert resolve_max_poll_interval(600, None) == 600  # the default never contradicts a long interval
    assert resolve_max_poll_interval(15, 60) == 60
    with pytest.raises(ValueError, match="max_poll_interval=10 must be >= poll_interval=15"):
        resolve_max_poll_interval(15, 10)
    with pytest.raises(ValueError, match="poll_interval=0 must be > 0"):
        resolve_max_poll_interval(0, None)
