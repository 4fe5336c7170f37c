"""A gateway's poll hint (``Retry-After`` / ``openai-poll-after-ms`` on a status answer), honoured and
bounded (issue 25, section 2).

The hook reads the header and hands the number up on the parsed task (``VideoTask.poll_after``);
the trigger's kwargs never see a header. The schedule lengthens the next wait to the hint, and a
lying hint (1e9 s, negative) is clamped to ``[poll_interval, max_poll_interval]``: no stall, no spin.
Real answers come from the simulator (``status_headers``); poll counts are the simulator's own.
"""

from __future__ import annotations

import json
import math
import time
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from typing import Any

import httpx
import pytest

from airflow_provider_videogen.hooks.answers import poll_hint
from airflow_provider_videogen.hooks.videogen import VideoGenHook
from airflow_provider_videogen.models import ApiKind, GenerationRequest
from airflow_provider_videogen.triggers.polling import PollSchedule
from airflow_provider_videogen.triggers.videogen import VideoTaskEvent, VideoTaskTrigger

INTERVAL = 0.1
MAX_WAIT = 0.5


def answer(**headers: str) -> httpx.Response:
    return httpx.Response(200, headers=headers, json={})


# ---- reading the header -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"openai-poll-after-ms": "3000"}, 3.0),
        ({"Retry-After": "7"}, 7.0),
        ({"Retry-After": "2.5"}, 2.5),
        ({"openai-poll-after-ms": "1500", "Retry-After": "60"}, 1.5),  # OpenAI's is read first
        ({"Retry-After": "1e9"}, 1e9),  # read as sent: the schedule bounds it
        ({"Retry-After": "-5"}, -5.0),
        ({}, None),
        ({"Retry-After": "soon"}, None),
        ({"Retry-After": "nan"}, None),
        ({"openai-poll-after-ms": "inf"}, None),
        ({"Retry-After": "9" * 100}, None),
    ],
)
def test_poll_hint_reads_either_header(headers: dict[str, str], seconds: float | None) -> None:
    assert poll_hint(answer(**headers)) == seconds


def test_poll_hint_reads_an_http_date() -> None:
    when = datetime.now(timezone.utc) + timedelta(seconds=30)
    hint = poll_hint(answer(**{"Retry-After": format_datetime(when, usegmt=True)}))
    assert hint is not None
    assert 20 < hint <= 31


# ---- the schedule: honoured, and bounded --------------------------------------------------------


@pytest.mark.parametrize("adaptive", [False, True])
def test_a_hint_lengthens_the_next_wait_only(adaptive: bool) -> None:
    hinted, plain = (PollSchedule(1.0, max_poll_interval=60.0, adaptive=adaptive) for _ in range(2))
    hinted.observe(0.0, 0, poll_after=12.0)
    plain.observe(0.0, 0)
    assert plain.next_wait(0.0) == 1.0
    assert hinted.next_wait(0.0) == 12.0
    hinted.observe(12.0, 0)  # the next answer sent none
    plain.observe(12.0, 0)
    assert hinted.next_wait(12.0) == plain.next_wait(12.0) == 1.0


@pytest.mark.parametrize(
    ("hint", "wait"),
    [(1e9, 60.0), (-5.0, 1.0), (0.0, 1.0), (0.2, 1.0), (math.nan, 1.0), (math.inf, 60.0)],
    ids=["1e9", "negative", "zero", "below interval", "nan", "inf"],
)
def test_a_lying_hint_is_clamped_to_the_schedules_bounds(hint: float, wait: float) -> None:
    schedule = PollSchedule(1.0, max_poll_interval=60.0, adaptive=False)
    schedule.observe(0.0, 10, poll_after=hint)
    assert schedule.next_wait(0.0) == wait


def test_a_hint_never_waits_past_the_deadline() -> None:
    schedule = PollSchedule(1.0, max_poll_interval=60.0, deadline=5.0)
    schedule.observe(0.0, 10, poll_after=30.0)
    assert schedule.next_wait(0.0) == 5.0


# ---- end to end: simulator -> hook -> trigger -------------------------------------------------


@pytest.fixture
def hook(simulator: Any, videogen_conn: str) -> VideoGenHook:
    return VideoGenHook(videogen_conn)


def trigger_for(task_id: str, **kwargs: Any) -> VideoTaskTrigger:
    return VideoTaskTrigger(
        videogen_conn_id="videogen_default",
        remote_task_id=task_id,
        api=ApiKind.GENERATION,
        poll_interval=INTERVAL,
        max_poll_interval=MAX_WAIT,
        deadline=time.time() + 60,
        adaptive_polling=False,
        **kwargs,
    )


async def event_of(trigger: VideoTaskTrigger) -> VideoTaskEvent:
    (event,) = [VideoTaskEvent.from_payload(e.payload) async for e in trigger.run()]
    return event


def polls_of(simulator: Any, task_id: str) -> int:
    return int(simulator.stats()["tasks"][task_id]["polls"])


async def test_the_hook_hands_the_hint_up_on_the_parsed_task(hook: VideoGenHook, simulator: Any) -> None:
    simulator.configure(render_seconds=30, status_headers={"openai-poll-after-ms": "3000"})
    task = hook.submit_generation(GenerationRequest(model="veo3.1-fast", prompt="a cat"))
    polled = await hook.aget_task(ApiKind.GENERATION, task.id)
    assert polled.poll_after == 3.0
    simulator.configure(status_headers={})
    assert (await hook.aget_task(ApiKind.GENERATION, task.id)).poll_after is None
    kwargs = json.dumps(trigger_for(task.id).serialize()[1]).lower()
    assert "poll-after" not in kwargs
    assert "retry-after" not in kwargs


async def test_a_hint_spaces_the_polls_of_fixed_polling(hook: VideoGenHook, simulator: Any) -> None:
    simulator.configure(render_seconds=2.0, status_headers={"Retry-After": "0.5"})
    hinted = hook.submit_generation(GenerationRequest(model="veo3.1-fast", prompt="a cat"))
    assert (await event_of(trigger_for(hinted.id))).status == "success"
    # Every 0.1 s would be about 20 polls of a 2 s render; every 0.5 s about 5.
    assert polls_of(simulator, hinted.id) <= 7


@pytest.mark.parametrize("lie", ["1000000000", "-5"])
async def test_a_lying_hint_neither_stalls_nor_spins(hook: VideoGenHook, simulator: Any, lie: str) -> None:
    simulator.configure(render_seconds=1.5, status_headers={"Retry-After": lie})
    task = hook.submit_generation(GenerationRequest(model="veo3.1-fast", prompt="a cat"))
    event = await event_of(trigger_for(task.id))
    assert event.status == "success"  # 1e9 s: clamped to max_poll_interval, the end is still seen
    # -5: no faster than poll_interval (about 15 polls for 1.5 s), never a tight loop.
    assert polls_of(simulator, task.id) <= 1.5 / INTERVAL + 3
