"""cancel_on_kill against the simulator's cancel endpoint: who cancels, who never does, what the log says.

The kill itself, through a running Airflow's REST API, is in ``tests/e2e/test_kill.py``; here the
pieces Airflow calls (the trigger's ``on_kill`` and ``cleanup``, the operator's and sensor's
``on_kill``) run against a connection whose ``cancel_path`` names the simulator's cancel endpoint.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from airflow_provider_videogen.hooks.videogen import VideoGenHook
from airflow_provider_videogen.models import ApiKind, GenerationRequest, TaskState, VideoTask
from airflow_provider_videogen.operators.videogen import VideoGenerationOperator
from airflow_provider_videogen.sensors.videogen import VideoTaskSensor
from airflow_provider_videogen.testing.logs import as_logged
from airflow_provider_videogen.triggers.videogen import VideoTaskTrigger

CANCEL_PATH = "/v1/tasks/{task_id}/cancel"


@pytest.fixture
def videogen_conn_extra() -> dict[str, Any]:
    return {"retry_backoff": 0.05, "cancel_path": CANCEL_PATH}


@pytest.fixture
def hook(simulator: Any, videogen_conn: str) -> VideoGenHook:
    return VideoGenHook(videogen_conn)


def slow_task(hook: VideoGenHook) -> str:
    return hook.submit_generation(GenerationRequest(model="veo3.1-fast", prompt="[sim:render=60] a slow cat")).id


def trigger_for(task_id: str, **kwargs: Any) -> VideoTaskTrigger:
    return VideoTaskTrigger(
        videogen_conn_id="videogen_default",
        remote_task_id=task_id,
        api=ApiKind.GENERATION,
        poll_interval=0.1,
        deadline=time.time() + 30,
        **kwargs,
    )


def cancels(simulator: Any) -> int:
    return int(simulator.stats()["generation"]["cancels"])


def test_simulator_cancels_a_running_task_and_refuses_an_ended_one(hook: VideoGenHook, simulator: Any) -> None:
    task_id = slow_task(hook)
    response = httpx.post(
        f"{simulator.url}/v1/tasks/{task_id}/cancel", headers={"Authorization": f"Bearer {simulator.api_key}"}
    )
    assert response.status_code == 200, response.text
    task = hook.get_generation(task_id)
    assert task.state is TaskState.CANCELLED
    assert task.error_code == "request_cancelled"
    assert task.can_cancel is False
    again = httpx.post(
        f"{simulator.url}/v1/tasks/{task_id}/cancel", headers={"Authorization": f"Bearer {simulator.api_key}"}
    )
    assert again.status_code == 409
    assert cancels(simulator) == 1
    assert simulator.stats()["tasks"][task_id]["cancelled"] is True


async def test_trigger_on_kill_cancels_the_remote_task(hook: VideoGenHook, simulator: Any, log_text: Any) -> None:
    task_id = slow_task(hook)
    await trigger_for(task_id).on_kill()
    assert cancels(simulator) == 1
    assert (await hook.aget_generation(task_id)).state is TaskState.CANCELLED
    assert "asked the gateway to cancel remote task" in log_text()


async def test_trigger_on_kill_respects_cancel_on_kill_false(hook: VideoGenHook, simulator: Any, log_text: Any) -> None:
    task_id = slow_task(hook)
    await trigger_for(task_id, cancel_on_kill=False).on_kill()
    assert cancels(simulator) == 0
    assert (await hook.aget_generation(task_id)).state.is_in_progress
    text = log_text()
    assert "keeps running and will be billed" in text
    assert "cancel_on_kill=False" in text


async def test_triggerer_restart_does_not_cancel(hook: VideoGenHook, simulator: Any) -> None:
    """What a triggerer does on shutdown: cancel the trigger's task, then ``cleanup()``; never ``on_kill``."""
    task_id = slow_task(hook)
    trigger = trigger_for(task_id)

    async def drain() -> None:
        async for _ in trigger.run():
            pass

    running = asyncio.ensure_future(drain())
    while simulator.stats()["tasks"][task_id]["polls"] < 1:  # noqa: ASYNC110 (the count lives in the simulator)
        await asyncio.sleep(0.05)
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    await trigger.cleanup()
    assert cancels(simulator) == 0
    assert (await hook.aget_generation(task_id)).state.is_in_progress


def test_operator_on_kill_while_polling_in_the_worker_cancels(hook: VideoGenHook, simulator: Any) -> None:
    """``deferrable=False``: Airflow's SIGTERM handler calls ``on_kill`` while the worker polls."""
    op = VideoGenerationOperator(task_id="gen", model="veo3.1-fast", prompt="a cat", deferrable=False)
    op.on_kill()  # nothing polled yet: nothing to cancel
    assert cancels(simulator) == 0
    task_id = slow_task(hook)
    op._polled_remote_id = task_id  # what execute() sets around its polling loop
    op.on_kill()
    assert cancels(simulator) == 1
    assert hook.get_generation(task_id).state is TaskState.CANCELLED


def test_sensor_on_kill_while_poking_cancels(hook: VideoGenHook, simulator: Any) -> None:
    task_id = slow_task(hook)
    sensor = VideoTaskSensor(task_id="wait", task_id_to_watch=task_id, deferrable=False)
    sensor.on_kill()  # not poking: nothing to cancel
    assert cancels(simulator) == 0
    sensor._poking = True
    sensor.on_kill()
    assert cancels(simulator) == 1


def test_operator_passes_cancel_on_kill_to_its_trigger() -> None:
    op = VideoGenerationOperator(task_id="gen", model="veo3.1-fast", prompt="a cat", cancel_on_kill=False)
    task = VideoTask(id="task-unified-1-abcdefgh", api=ApiKind.GENERATION, state=TaskState.PENDING)
    _, kwargs = op._trigger(task, time.time() + 10).serialize()
    assert kwargs["cancel_on_kill"] is False


def test_without_cancel_path_the_log_says_the_render_is_billed(
    hook: VideoGenHook, simulator: Any, monkeypatch: pytest.MonkeyPatch, log_text: Any
) -> None:
    import json

    conn = {"conn_type": "videogen", "host": simulator.url, "password": simulator.api_key, "extra": {}}
    monkeypatch.setenv("AIRFLOW_CONN_VIDEOGEN_NO_CANCEL", json.dumps(conn))
    task_id = slow_task(hook)
    op = VideoGenerationOperator(
        task_id="gen", model="veo3.1-fast", prompt="a cat", deferrable=False, videogen_conn_id="videogen_no_cancel"
    )
    op._polled_remote_id = task_id
    op.on_kill()
    assert cancels(simulator) == 0
    text = log_text()
    assert f"remote task {as_logged(task_id)} (generation API) keeps running and will be billed" in text
    assert "cancel_path" in text
