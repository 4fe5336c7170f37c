"""Audit of ending in the triggerer (issue 23, point 4): anything but a clean success resumes in a worker.

The lead's tests cover success, a failed render and a timeout; these add the partial remix, the
success without a link and the error event, against the simulator.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from airflow.triggers.base import TaskSuccessEvent

from airflow_provider_videogen.hooks.videogen import VideoGenHook
from airflow_provider_videogen.models import ApiKind, GenerationRequest, RemixRequest
from airflow_provider_videogen.triggers.videogen import VideoTaskEvent, VideoTaskTrigger


def ending(task_id: str, api: ApiKind, **kwargs: Any) -> VideoTaskTrigger:
    return VideoTaskTrigger(
        videogen_conn_id="videogen_default",
        remote_task_id=task_id,
        api=api,
        poll_interval=0.05,
        deadline=time.time() + 30,
        adaptive_polling=False,
        end_from_trigger=True,
        **kwargs,
    )


async def only_event(trigger: VideoTaskTrigger) -> Any:
    events = [event async for event in trigger.run()]
    assert len(events) == 1
    return events[0]


@pytest.fixture
def hook(simulator: Any, videogen_conn: str) -> VideoGenHook:
    simulator.configure(render_seconds=0.2, media_max_seconds=2)
    return VideoGenHook(videogen_conn)


async def test_a_partial_remix_resumes_in_a_worker(hook: VideoGenHook) -> None:
    task = hook.submit_remix(
        RemixRequest(model="veo_3_1-fast-remix", prompt="a pier [sim:extend_fail]", prompt_extend="waves")
    )
    event = await only_event(ending(task.id, ApiKind.REMIX))
    assert not isinstance(event, TaskSuccessEvent)
    assert VideoTaskEvent.from_payload(event.payload).status == "failed"


async def test_a_success_without_a_link_resumes_in_a_worker(hook: VideoGenHook) -> None:
    task = hook.submit_generation(GenerationRequest(model="veo3.1-fast", prompt="a void [sim:empty_results]"))
    event = await only_event(ending(task.id, ApiKind.GENERATION))
    assert not isinstance(event, TaskSuccessEvent)
    assert VideoTaskEvent.from_payload(event.payload).status == "success"  # the worker fails it, without retry


async def test_an_unreadable_state_resumes_in_a_worker(hook: VideoGenHook, simulator: Any) -> None:
    task = hook.submit_generation(GenerationRequest(model="veo3.1-fast", prompt="a fox"))
    simulator.configure(get_status=500)
    event = await only_event(ending(task.id, ApiKind.GENERATION, max_consecutive_failures=1))
    assert not isinstance(event, TaskSuccessEvent)
    assert VideoTaskEvent.from_payload(event.payload).status == "error"
