"""VideoTaskTrigger against the simulator: one event, resumable from serialize(), no secrets, shared client."""

from __future__ import annotations

import asyncio
import importlib
import json
import time
from typing import Any

import pytest

from airflow_provider_videogen.hooks import transport
from airflow_provider_videogen.hooks.videogen import VideoGenHook
from airflow_provider_videogen.models import ApiKind, GenerationRequest
from airflow_provider_videogen.testing.logs import as_logged
from airflow_provider_videogen.triggers.videogen import VideoTaskEvent, VideoTaskTrigger


@pytest.fixture
def hook(simulator: Any, videogen_conn: str) -> VideoGenHook:
    simulator.configure(render_seconds=1.0)
    return VideoGenHook(videogen_conn)


def make_trigger(task_id: str, conn_id: str = "videogen_default", **kwargs: Any) -> VideoTaskTrigger:
    params: dict[str, Any] = {"poll_interval": 0.1, "deadline": time.time() + 30}
    params.update(kwargs)
    return VideoTaskTrigger(videogen_conn_id=conn_id, remote_task_id=task_id, api=ApiKind.GENERATION, **params)


async def all_events(trigger: VideoTaskTrigger) -> list[VideoTaskEvent]:
    return [VideoTaskEvent.from_payload(event.payload) async for event in trigger.run()]


def rebuild(trigger: VideoTaskTrigger) -> VideoTaskTrigger:
    classpath, kwargs = trigger.serialize()
    module, name = classpath.rsplit(".", 1)
    # Round-trip through JSON, as the trigger table stores it.
    return getattr(importlib.import_module(module), name)(**json.loads(json.dumps(kwargs)))  # type: ignore[no-any-return]


def test_serialize_holds_ids_and_numbers_only(hook: VideoGenHook, simulator: Any) -> None:
    classpath, kwargs = make_trigger("task-unified-1-abcdefgh").serialize()
    assert classpath == "airflow_provider_videogen.triggers.videogen.VideoTaskTrigger"
    assert set(kwargs) == {
        "videogen_conn_id",
        "remote_task_id",
        "api",
        "poll_interval",
        "deadline",
        "max_consecutive_failures",
        "adaptive_polling",
        "max_poll_interval",
        "estimated_time",
        "submitted_at",
        "cancel_on_kill",
        "end_from_trigger",
        "reserved_credits",
        "first_submitted_at",
    }
    text = json.dumps(kwargs).lower()
    assert simulator.api_key.lower() not in text
    assert "authorization" not in text
    assert "bearer" not in text
    assert "header" not in text


async def test_success_yields_exactly_one_event(hook: VideoGenHook, simulator: Any, log_text: Any) -> None:
    task = hook.submit_generation(GenerationRequest(model="veo3.1-fast", prompt="a cat"))
    events = await all_events(make_trigger(task.id))
    assert len(events) == 1
    event = events[0]
    assert event.status == "success"
    assert event.task_id == task.id
    assert event.task is not None
    assert "raw" not in event.to_payload()["task"]
    # Airflow logs and stores the event: no signed download link in it (issue 15, problem 7); the
    # completing task reads the links again with one query.
    payload = json.dumps(event.to_payload())
    real = hook.get_task(ApiKind.GENERATION, task.id)
    assert real.video_urls
    assert not any(url in payload or url.split("?")[0] in payload for url in real.video_urls)
    assert event.links_omitted
    assert not event.task.video_urls
    assert f"Remote task {as_logged(task.id)}: running" in log_text()  # progress changes are logged


async def test_rebuilt_trigger_continues_the_same_task(hook: VideoGenHook, simulator: Any) -> None:
    simulator.configure(render_seconds=2.0)
    task = hook.submit_generation(GenerationRequest(model="veo3.1-fast", prompt="a dog"))
    first = make_trigger(task.id)
    running = asyncio.ensure_future(all_events(first))
    while simulator.stats()["generation"]["polls"] < 2:  # noqa: ASYNC110 (the count lives in the simulator)
        await asyncio.sleep(0.05)
    running.cancel()  # the triggerer died mid-poll
    with pytest.raises(asyncio.CancelledError):
        await running
    events = await all_events(rebuild(first))
    assert [e.status for e in events] == ["success"]
    assert events[0].task_id == task.id
    assert simulator.stats()["generation"]["creates"] == 1


async def test_deadline_gives_a_timeout_event(hook: VideoGenHook, simulator: Any) -> None:
    task = hook.submit_generation(GenerationRequest(model="veo3.1-fast", prompt="[sim:render=30] slow"))
    events = await all_events(make_trigger(task.id, deadline=time.time() + 0.5))
    assert [e.status for e in events] == ["timeout"]
    assert task.id in events[0].message
    assert "billed" in events[0].message


async def test_deadline_is_wall_clock_and_survives_reserialization(hook: VideoGenHook) -> None:
    deadline = time.time() - 1
    assert rebuild(make_trigger("task-unified-1-abcdefgh", deadline=deadline)).deadline == deadline


async def test_burst_of_429_is_absorbed(hook: VideoGenHook, simulator: Any) -> None:
    task = hook.submit_generation(GenerationRequest(model="veo3.1-fast", prompt="a cat"))
    simulator.configure(next_responses=[{"status": 429, "retry_after": 0, "method": "GET", "times": 6}])
    events = await all_events(make_trigger(task.id))
    assert [e.status for e in events] == ["success"]


async def test_persistent_5xx_ends_in_a_clear_error(hook: VideoGenHook, simulator: Any) -> None:
    task = hook.submit_generation(GenerationRequest(model="veo3.1-fast", prompt="a cat"))
    simulator.configure(get_status=503)
    events = await all_events(make_trigger(task.id, max_consecutive_failures=2, poll_interval=0.01))
    assert [e.status for e in events] == ["error"]
    assert "2 failed status queries" in events[0].message
    assert "503" in events[0].message
    assert events[0].retryable


async def test_content_policy_failure_is_not_retryable(hook: VideoGenHook) -> None:
    task = hook.submit_generation(
        GenerationRequest(model="veo3.1-fast", prompt="[sim:fail=content_policy_violation] x")
    )
    (event,) = await all_events(make_trigger(task.id))
    assert event.status == "failed"
    assert event.error_code == "content_policy_violation"
    assert not event.retryable


async def test_unknown_task_is_an_error_without_polling_forever(hook: VideoGenHook) -> None:
    (event,) = await all_events(make_trigger("task-unified-1-missingx"))
    assert event.status == "error"
    assert not event.retryable
    assert "404" in event.message


async def test_triggers_of_one_connection_share_one_client(hook: VideoGenHook, simulator: Any) -> None:
    tasks = [hook.submit_generation(GenerationRequest(model="veo3.1-fast", prompt=f"clip {i}")) for i in range(5)]
    results = await asyncio.gather(*(all_events(make_trigger(t.id)) for t in tasks))
    assert all(events[0].status == "success" for events in results)
    clients = transport._ASYNC_CLIENTS[asyncio.get_running_loop()]
    assert len(clients) == 1


def test_new_event_loop_gets_its_own_client(hook: VideoGenHook) -> None:
    task = hook.submit_generation(GenerationRequest(model="veo3.1-fast", prompt="a cat"))
    first = asyncio.run(all_events(make_trigger(task.id)))
    second = asyncio.run(all_events(make_trigger(task.id)))  # a fresh loop: no "bound to a different loop" error
    assert first[0].status == second[0].status == "success"


def test_worker_polling_closes_the_shared_client_with_its_loop(hook: VideoGenHook) -> None:
    """``deferrable=False`` polls under ``asyncio.run``: the loop's client must not outlive the loop."""
    task = hook.submit_generation(GenerationRequest(model="veo3.1-fast", prompt="a cat"))

    async def wait_in_worker() -> tuple[VideoTaskEvent, list[transport.SharedAsyncClient]]:
        event = await make_trigger(task.id).wait(hook=hook)  # what BaseVideoTaskOperator.execute runs
        shared = list(transport._ASYNC_CLIENTS[asyncio.get_running_loop()].values())
        assert shared
        assert not any(s.client.is_closed for s in shared)
        return event, shared

    event, shared = asyncio.run(wait_in_worker())
    assert event.status == "success"
    assert all(s.client.is_closed for s in shared)


async def test_on_kill_says_the_remote_task_keeps_running(hook: VideoGenHook, log_text: Any) -> None:
    await make_trigger("task-unified-1-killedxx").on_kill()
    text = log_text()
    assert "task-unified-1-killedxx" in text
    assert "keeps running" in text
    assert "billed" in text


def test_unexpected_event_is_refused() -> None:
    from airflow_provider_videogen.exceptions import VideoGenError

    with pytest.raises(VideoGenError, match="Unexpected trigger event"):
        VideoTaskEvent.from_payload({"foo": 1})
