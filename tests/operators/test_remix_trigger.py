"""The shared VideoTaskTrigger follows remix tasks in all three response shapes, logs the segment,
and a trigger rebuilt from serialize() mid-polling finishes the same remix (one create)."""

from __future__ import annotations

import asyncio
import importlib
import json
import time
from typing import Any

import pytest

from airflow_provider_videogen.hooks.videogen import VideoGenHook
from airflow_provider_videogen.models import ApiKind, RemixRequest
from airflow_provider_videogen.testing.logs import as_logged
from airflow_provider_videogen.triggers.videogen import VideoTaskEvent, VideoTaskTrigger

SHAPES = ["wrapper", "openai", "envelope"]


@pytest.fixture
def hook(simulator: Any, videogen_conn: str) -> VideoGenHook:
    simulator.configure(render_seconds=1.0, media_max_seconds=2)
    return VideoGenHook(videogen_conn)


def submit(hook: VideoGenHook, prompt: str = "a lighthouse") -> str:
    task = hook.submit_remix(RemixRequest(model="veo_3_1-fast-remix", prompt=prompt, prompt_extend="waves roll in"))
    return task.id


def make_trigger(task_id: str) -> VideoTaskTrigger:
    return VideoTaskTrigger(
        videogen_conn_id="videogen_default",
        remote_task_id=task_id,
        api=ApiKind.REMIX,
        poll_interval=0.1,
        deadline=time.time() + 30,
        adaptive_polling=False,  # poll through both segments, so both are logged
    )


def rebuild(trigger: VideoTaskTrigger) -> VideoTaskTrigger:
    classpath, kwargs = trigger.serialize()
    module, name = classpath.rsplit(".", 1)
    return getattr(importlib.import_module(module), name)(**json.loads(json.dumps(kwargs)))  # type: ignore[no-any-return]


async def events_of(trigger: VideoTaskTrigger) -> list[VideoTaskEvent]:
    return [VideoTaskEvent.from_payload(event.payload) async for event in trigger.run()]


@pytest.mark.parametrize("shape", SHAPES)
async def test_every_shape_gives_the_same_completed_remix(
    hook: VideoGenHook, simulator: Any, log_text: Any, shape: str
) -> None:
    simulator.configure(remix_shape=shape)
    task_id = submit(hook)
    (event,) = await events_of(make_trigger(task_id))
    assert event.status == "success"
    assert event.task_id == task_id
    assert event.task is not None
    assert event.links_omitted  # signed links stay out of the event
    assert not event.task.video_urls
    task = hook.get_task(ApiKind.REMIX, task_id)  # what the completing operator reads
    assert task.api is ApiKind.REMIX
    assert task.model == "veo_3_1-fast-remix"
    assert len(task.video_urls) == 1
    assert task.first_video_url
    assert task.first_video_url != task.video_urls[0]
    assert task.remix_id
    assert task.remix_id_extend
    assert not task.is_partial
    log = log_text()
    assert f"Remote task {as_logged(task_id)}: pending" in log or f"Remote task {as_logged(task_id)}: running" in log
    assert "(first 8 s segment)" in log
    assert "(7 s extension)" in log


@pytest.mark.parametrize("shape", SHAPES)
async def test_extend_failed_event_names_the_8_second_clip_without_its_link(
    hook: VideoGenHook, simulator: Any, shape: str
) -> None:
    simulator.configure(remix_shape=shape)
    task_id = submit(hook, "[sim:extend_fail] a lighthouse")
    (event,) = await events_of(make_trigger(task_id))
    assert event.status == "failed"
    assert event.error_code == "extend_failed"
    assert event.retryable
    assert event.task is not None
    assert event.task.remix_id
    assert event.task.remix_id_extend
    # The signed link stays out of the event; the operator reads it again (one query) to keep the clip.
    assert event.links_omitted
    assert not event.task.video_urls
    assert not event.task.first_video_url


async def test_generate_failed_event_is_not_retryable(hook: VideoGenHook) -> None:
    (event,) = await events_of(make_trigger(submit(hook, "[sim:generate_fail] forbidden")))
    assert event.status == "failed"
    assert event.error_code == "generate_failed"
    assert not event.retryable
    assert event.task is not None
    assert not event.task.is_partial
    assert not event.task.video_urls


async def test_rebuilt_trigger_finishes_the_same_remix(hook: VideoGenHook, simulator: Any) -> None:
    simulator.configure(render_seconds=2.0)
    task_id = submit(hook)
    first = make_trigger(task_id)
    running = asyncio.ensure_future(events_of(first))
    while simulator.stats()["remix"]["polls"] < 3:  # noqa: ASYNC110 (the count lives in the simulator)
        await asyncio.sleep(0.05)
    running.cancel()  # the triggerer died mid-poll
    with pytest.raises(asyncio.CancelledError):
        await running
    rebuilt = rebuild(first)
    assert rebuilt.api is ApiKind.REMIX
    assert rebuilt.deadline == first.deadline
    events = await events_of(rebuilt)
    assert [e.status for e in events] == ["success"]
    assert events[0].task_id == task_id
    assert events[0].task is not None
    assert events[0].task.remix_id_extend
    stats = simulator.stats()
    assert stats["remix"]["creates"] == 1
    assert stats["remix"]["polls"] > 3
