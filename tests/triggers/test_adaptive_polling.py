"""Adaptive polling in VideoTaskTrigger against the simulator: polls counted by the simulator itself.

Renders are scaled down (3 s renders, 0.25 s interval: the 12:1 of a 180 s render at 15 s).
Assertions compare poll counts with generous margins, never durations.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import time
from datetime import datetime, timezone
from typing import Any

import pytest

from airflow_provider_videogen.hooks.videogen import VideoGenHook
from airflow_provider_videogen.models import ApiKind, GenerationRequest, TaskState, VideoTask
from airflow_provider_videogen.operators.videogen import VideoGenerationOperator
from airflow_provider_videogen.sensors.videogen import VideoTaskSensor
from airflow_provider_videogen.triggers.videogen import VideoTaskEvent, VideoTaskTrigger

INTERVAL = 0.25
RENDER = 3.0


@pytest.fixture
def hook(simulator: Any, videogen_conn: str) -> VideoGenHook:
    return VideoGenHook(videogen_conn)


def submit(hook: VideoGenHook, prompt: str) -> tuple[VideoTask, float]:
    submitted_at = time.time()
    return hook.submit_generation(GenerationRequest(model="veo3.1-fast", prompt=prompt)), submitted_at


def trigger_for(task: VideoTask, submitted_at: float, **kwargs: Any) -> VideoTaskTrigger:
    params: dict[str, Any] = {
        "poll_interval": INTERVAL,
        "deadline": time.time() + 30,
        "estimated_time": task.estimated_time,
        "submitted_at": submitted_at,
    }
    params.update(kwargs)
    return VideoTaskTrigger(
        videogen_conn_id="videogen_default", remote_task_id=task.id, api=ApiKind.GENERATION, **params
    )


async def event_of(trigger: VideoTaskTrigger) -> VideoTaskEvent:
    (event,) = [VideoTaskEvent.from_payload(e.payload) async for e in trigger.run()]
    return event


def polls_of(simulator: Any, task_id: str) -> int:
    return int(simulator.stats()["tasks"][task_id]["polls"])


async def test_a_correct_estimate_takes_fewer_polls_than_fixed_polling(hook: VideoGenHook, simulator: Any) -> None:
    fixed, fixed_at = submit(hook, f"a cat [sim:render={RENDER}]")
    adaptive, adaptive_at = submit(hook, f"a dog [sim:render={RENDER}]")
    assert fixed.estimated_time == adaptive.estimated_time == RENDER  # the simulator's estimate is right

    events = await asyncio.gather(
        event_of(trigger_for(fixed, fixed_at, adaptive_polling=False)),
        event_of(trigger_for(adaptive, adaptive_at)),
    )

    assert [e.status for e in events] == ["success", "success"]
    fixed_polls, adaptive_polls = polls_of(simulator, fixed.id), polls_of(simulator, adaptive.id)
    assert fixed_polls >= 10  # adaptive_polling=False: every poll_interval, from the first second
    assert adaptive_polls <= 5
    assert adaptive_polls * 2 < fixed_polls


async def test_progress_rate_takes_over_from_an_estimate_3x_too_short(hook: VideoGenHook, simulator: Any) -> None:
    task, submitted_at = submit(hook, f"a cat [sim:render={RENDER}] [sim:estimate=1]")
    event = await event_of(trigger_for(task, submitted_at))
    assert event.status == "success"
    assert polls_of(simulator, task.id) <= 7  # fixed polling: about 12


async def test_a_render_far_slower_than_estimated_falls_back_to_fixed_polling(
    hook: VideoGenHook, simulator: Any
) -> None:
    """Estimate 1 s, progress stuck at 0: once the estimate has passed, every poll_interval."""
    prompt = "a cat [sim:render=60] [sim:estimate=1] [sim:progress_stall=0]"
    (fixed, fixed_at), (adaptive, adaptive_at) = submit(hook, prompt), submit(hook, prompt)
    deadline = time.time() + 3.0

    events = await asyncio.gather(
        event_of(trigger_for(fixed, fixed_at, adaptive_polling=False, deadline=deadline)),
        event_of(trigger_for(adaptive, adaptive_at, deadline=deadline)),
    )

    assert [e.status for e in events] == ["timeout", "timeout"]
    fixed_polls, adaptive_polls = polls_of(simulator, fixed.id), polls_of(simulator, adaptive.id)
    # Fixed polling from the start vs fixed polling from about the estimate (1 s of 3 s): not fewer
    # than what the last 2 s of fixed polling make, with a margin for a busy machine.
    assert adaptive_polls >= 0.5 * fixed_polls
    assert fixed_polls >= 8


async def test_never_sleeps_past_the_deadline(hook: VideoGenHook, simulator: Any) -> None:
    """An hour's estimate would first wait 15 min (a quarter), capped at max_poll_interval: 10 min."""
    task, submitted_at = submit(hook, "a cat [sim:render=3600]")
    assert task.estimated_time == 3600
    trigger = trigger_for(task, submitted_at, deadline=time.time() + 0.5, max_poll_interval=600)

    event = await asyncio.wait_for(event_of(trigger), timeout=20)

    assert event.status == "timeout"
    assert task.id in event.message


async def test_adaptive_polling_false_polls_every_interval(hook: VideoGenHook, simulator: Any) -> None:
    task, submitted_at = submit(hook, "a cat [sim:render=1.5]")
    trigger = trigger_for(task, submitted_at, adaptive_polling=False)
    assert trigger.schedule().next_wait(time.time()) == 0.0  # the first query at once, as before
    assert (await event_of(trigger)).status == "success"
    assert polls_of(simulator, task.id) >= 5  # 1.5 s at 0.25 s (adaptive: 2-3)


async def test_serialize_round_trip_keeps_the_polling_numbers(hook: VideoGenHook, simulator: Any) -> None:
    task, submitted_at = submit(hook, f"a cat [sim:render={RENDER}]")
    first = trigger_for(task, submitted_at, max_poll_interval=45.0)
    classpath, kwargs = first.serialize()
    assert json.loads(json.dumps(kwargs)) == kwargs  # JSON as the trigger table stores it
    assert {k: kwargs[k] for k in ("adaptive_polling", "max_poll_interval", "estimated_time", "submitted_at")} == {
        "adaptive_polling": True,
        "max_poll_interval": 45.0,
        "estimated_time": RENDER,
        "submitted_at": submitted_at,
    }
    assert all(isinstance(v, (str, int, float, bool, type(None))) for v in kwargs.values())
    module, name = classpath.rsplit(".", 1)
    rebuilt: VideoTaskTrigger = getattr(importlib.import_module(module), name)(**kwargs)
    assert rebuilt.serialize() == (classpath, kwargs)
    # A restart mid-render loses the progress history, not the task or the schedule's numbers.
    running = asyncio.ensure_future(event_of(first))
    while polls_of(simulator, task.id) < 1:  # noqa: ASYNC110 (the count lives in the simulator)
        await asyncio.sleep(0.05)
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    event = await event_of(rebuilt)
    assert event.status == "success"
    assert event.task_id == task.id
    assert simulator.stats()["generation"]["creates"] == 1


def test_operator_hands_the_estimate_and_submission_time_to_its_trigger() -> None:
    op = VideoGenerationOperator(task_id="gen", model="veo3.1-fast", prompt="a cat", max_poll_interval=90)
    created = datetime(2026, 1, 1, tzinfo=timezone.utc)
    task = VideoTask(id="task-unified-1-abcdefgh", api=ApiKind.GENERATION, state=TaskState.PENDING,
                     estimated_time=180, created_at=created)  # fmt: skip
    trigger = op._trigger(task, deadline=time.time() + 3600)
    assert trigger.adaptive_polling
    assert trigger.max_poll_interval == 90.0
    assert trigger.estimated_time == 180.0
    assert trigger.submitted_at == created.timestamp()
    off = VideoGenerationOperator(task_id="gen2", model="veo3.1-fast", prompt="a cat", adaptive_polling=False)
    assert not off._trigger(task, deadline=time.time() + 3600).adaptive_polling
    assert off._trigger(task, deadline=time.time() + 3600).max_poll_interval == 180.0


@pytest.mark.parametrize(
    "make",
    [
        lambda: VideoGenerationOperator(task_id="g", model="veo3.1-fast", prompt="x", max_poll_interval=5),
        lambda: VideoTaskSensor(task_id="s", task_id_to_watch="task-unified-1-x", max_poll_interval=5),
    ],
)
def test_max_poll_interval_below_poll_interval_is_refused(make: Any) -> None:
    with pytest.raises(ValueError, match="max_poll_interval=5 must be >= poll_interval=15"):
        make()
