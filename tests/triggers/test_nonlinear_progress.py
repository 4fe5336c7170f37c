"""Adaptive polling without linear progress (issue 25, section 2): a gateway may report 0 until the
video is done, or progress in a few coarse steps. Pure schedule, simulated clock (as
``test_polling_schedule``); the benchmark (``progress-zero``, ``progress-steps``) measures the same
against the simulator's ``progress_mode``.
"""

from __future__ import annotations

import random
import statistics
from typing import TYPE_CHECKING

import pytest

from airflow_provider_videogen.triggers.polling import PollSchedule
from tests.triggers.test_polling_schedule import ESTIMATE, INTERVAL, follow

if TYPE_CHECKING:
    from collections.abc import Callable


def zero_progress(render: float) -> Callable[[float], int]:
    return lambda t: 0


def step_progress(render: float, steps: int = 4, pending: float = 0.1) -> Callable[[float], int]:
    """0 while queued, then 0, 25, 50, 75 (the simulator's ``progress_mode="steps"``)."""
    return lambda t: 0 if t < pending * render else min(99, int(t / render * steps) * 100 // steps)


@pytest.mark.parametrize("progress", [zero_progress, step_progress], ids=["zero", "steps"])
def test_scattered_renders_without_linear_progress_cost_at_most_5_polls_and_no_more_delay(
    progress: Callable[[float], Callable[[float], int]],
) -> None:
    rng = random.Random(2)
    polls: dict[bool, list[int]] = {True: [], False: []}
    delays: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(500):
        render = ESTIMATE * rng.uniform(0.7, 1.3)
        start = rng.uniform(0, INTERVAL)
        for adaptive in (False, True):
            schedule = PollSchedule(INTERVAL, adaptive=adaptive, estimated_time=ESTIMATE, submitted_at=0.0)
            times = follow(schedule, render, progress(render), start)
            polls[adaptive].append(len(times))
            delays[adaptive].append(times[-1] - render)
    assert statistics.median(polls[True]) <= 5
    # Every render is seen within one interval of its end, as with fixed polling (whose delays
    # spread over the whole interval); so the p95 is fixed polling's, within sampling noise.
    assert max(delays[True]) <= INTERVAL + 1e-9
    p95 = {k: sorted(v)[int(0.95 * len(v))] for k, v in delays.items()}
    assert p95[True] <= p95[False] + 0.05 * INTERVAL


def test_coarse_steps_give_no_rate() -> None:
    # 25 % at 15 s and 50 % at 37.5 s of a 60 s render: a "rate" from the steps predicts 82.5 s.
    schedule = PollSchedule(5.0, estimated_time=60, submitted_at=0.0)
    schedule.observe(15.0, 25)
    schedule.observe(37.5, 50)
    assert schedule.predicted_finish() == 60.0  # the estimate, not the steps' rate
    fine = PollSchedule(5.0, estimated_time=60, submitted_at=0.0)
    fine.observe(15.0, 24)
    fine.observe(37.5, 61)
    assert fine.predicted_finish() == pytest.approx(37.5 + 39 * 22.5 / 37)
