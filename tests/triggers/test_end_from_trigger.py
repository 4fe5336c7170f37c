"""Ending a task in the triggerer (``end_from_trigger``): the same result as the worker, no link, only on success.

The trigger runs against the simulator; the worker's result is built by the operator's own
completion code from the same remote task and the same submission record, so a difference in
shape between the two paths fails here. The result is written through the execution API
(``BaseXCom.set``; here a stand-in table, ``written``), not carried by the event: Airflow 3.3.2
stores an event's XComs as JSON text (``triggers/task_success.py``; the real round trip is
``tests/e2e/test_real_components.py::test_a_task_that_ended_in_the_triggerer_hands_its_result_on_as_a_dict``).
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from typing import Any

import pytest
from airflow.triggers.base import TaskSuccessEvent, TriggerEvent

from airflow_provider_videogen.hooks.videogen import VideoGenHook
from airflow_provider_videogen.models import ApiKind, GenerationRequest, TaskState, VideoTask
from airflow_provider_videogen.operators.ending import check_end_from_trigger, ends_in_triggerer, is_end_event_payload
from airflow_provider_videogen.operators.reattach import SubmissionRecord
from airflow_provider_videogen.operators.videogen import VideoGenerationOperator
from airflow_provider_videogen.triggers.videogen import VideoTaskEvent, VideoTaskTrigger


@pytest.fixture
def hook(simulator: Any, videogen_conn: str) -> VideoGenHook:
    simulator.configure(render_seconds=0.2)
    return VideoGenHook(videogen_conn)


class RecordingTI:
    """What ``_result`` touches on a task instance: ``xcom_push`` (only with ``xcom_links=True``)."""

    def __init__(self) -> None:
        self.pushed: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.pushed[key] = value


class TriggererTI:
    """The identity of the task instance the triggerer gives a trigger."""

    dag_id, run_id, task_id, map_index = "d", "manual__1", "gen", 3


@pytest.fixture
def written(monkeypatch: pytest.MonkeyPatch) -> dict[tuple[str, str, str, int, str], Any]:
    """The XCom table as the execution API writes it (``BaseXCom.set``, as the triggerer answers it)."""
    from airflow.sdk.bases.xcom import BaseXCom

    table: dict[tuple[str, str, str, int, str], Any] = {}

    def xcom_set(key: str, value: Any, *, dag_id: str, task_id: str, run_id: str, map_index: int = -1) -> None:
        table[(dag_id, run_id, task_id, map_index, key)] = json.loads(json.dumps(value))

    monkeypatch.setattr(BaseXCom, "set", staticmethod(xcom_set))
    return table


RESULT_KEY = ("d", "manual__1", "gen", 3, "return_value")


def ending_trigger(
    task_id: str, record: SubmissionRecord | None, *, ti: Any = TriggererTI, **kwargs: Any
) -> VideoTaskTrigger:
    trigger = VideoTaskTrigger(
        videogen_conn_id="videogen_default",
        remote_task_id=task_id,
        api=ApiKind.GENERATION,
        poll_interval=0.05,
        deadline=time.time() + 30,
        adaptive_polling=False,
        end_from_trigger=True,
        reserved_credits=record.credits_reserved if record else None,
        first_submitted_at=record.submitted_at.isoformat() if record else None,
        **kwargs,
    )
    trigger.task_instance = ti() if ti else None
    return trigger


async def events_of(trigger: VideoTaskTrigger) -> list[TriggerEvent]:
    return [event async for event in trigger.run()]


@pytest.mark.parametrize("with_record", [True, False])
async def test_success_ends_the_task_with_the_result_the_worker_would_push(
    hook: VideoGenHook, with_record: bool, written: dict[Any, Any]
) -> None:
    task = hook.submit_generation(GenerationRequest(model="veo3.1-fast", prompt="a heron"))
    record = (
        SubmissionRecord(
            id=task.id,
            api=ApiKind.GENERATION,
            submitted_at=datetime(2026, 12, 1, 8, 30, 15, 123456, tzinfo=timezone.utc),
            credits_reserved=42.5,
            fingerprint="f" * 64,
        )
        if with_record
        else None
    )
    events = await events_of(ending_trigger(task.id, record))
    assert len(events) == 1
    ended = events[0]
    assert isinstance(ended, TaskSuccessEvent), ended
    assert not ended.xcoms, "Airflow 3.3.2 would store the event's XComs as JSON text"
    assert set(written) == {RESULT_KEY}

    op = VideoGenerationOperator(task_id="gen", model="veo3.1-fast", prompt="a heron")
    op.submission = lambda context: record  # type: ignore[method-assign]
    finished = hook.get_task(ApiKind.GENERATION, task.id)
    worker = op._result({"ti": RecordingTI()}, finished)  # type: ignore[arg-type]
    assert written[RESULT_KEY] == worker
    # A round trip through JSON (the XCom table) changes nothing.
    assert json.loads(json.dumps(worker)) == worker


async def test_the_ending_event_holds_no_signed_link(hook: VideoGenHook, written: dict[Any, Any]) -> None:
    task = hook.submit_generation(GenerationRequest(model="veo3.1-fast", prompt="a lynx"))
    (ended,) = await events_of(ending_trigger(task.id, None))
    finished = hook.get_task(ApiKind.GENERATION, task.id)
    assert finished.video_urls
    # The triggerer logs the event ("Trigger fired event ... result=...") and stores its XComs.
    for text in (repr(ended), str(ended), json.dumps(ended.model_dump(mode="json"))):
        for url in finished.video_urls:
            assert url not in text
            assert url.split("?")[0] not in text
    assert all(url.split("?")[0] not in json.dumps(list(written.values())) for url in finished.video_urls)
    result = written[RESULT_KEY]
    assert result["video_urls"] == []
    assert result["links_in_xcom"] is False


@pytest.mark.parametrize("why", ["no task instance (dag.test)", "the execution API failed"])
async def test_a_result_that_cannot_be_written_here_is_left_to_a_worker(
    hook: VideoGenHook, monkeypatch: pytest.MonkeyPatch, why: str
) -> None:
    """Never a success without its result: the worker then pushes it, as without ``end_from_trigger``."""
    from airflow.sdk.bases.xcom import BaseXCom

    def refused(*args: Any, **kwargs: Any) -> None:
        raise ConnectionError("api server down")

    monkeypatch.setattr(BaseXCom, "set", staticmethod(refused))
    task = hook.submit_generation(GenerationRequest(model="veo3.1-fast", prompt="a wren"))
    trigger = ending_trigger(task.id, None, ti=None if why.startswith("no task") else TriggererTI)
    (event,) = await events_of(trigger)
    assert not isinstance(event, TaskSuccessEvent), event
    assert event.payload["status"] == "success"
    assert event.payload["task_id"] == task.id


async def test_a_failed_render_resumes_in_a_worker(hook: VideoGenHook) -> None:
    task = hook.submit_generation(
        GenerationRequest(model="veo3.1-fast", prompt="[sim:fail=content_policy_violation] x")
    )
    (event,) = await events_of(ending_trigger(task.id, None))
    assert not isinstance(event, TaskSuccessEvent)
    parsed = VideoTaskEvent.from_payload(event.payload)
    assert parsed.status == "failed"
    assert not parsed.retryable


async def test_a_timeout_resumes_in_a_worker(hook: VideoGenHook, simulator: Any) -> None:
    simulator.configure(render_seconds=30.0)
    task = hook.submit_generation(GenerationRequest(model="veo3.1-fast", prompt="a slow snail"))
    trigger = ending_trigger(task.id, None)
    trigger.deadline = time.time() + 0.3
    (event,) = await events_of(trigger)
    assert not isinstance(event, TaskSuccessEvent)
    assert VideoTaskEvent.from_payload(event.payload).status == "timeout"


def test_operator_hands_the_record_to_an_ending_trigger() -> None:
    op = VideoGenerationOperator(task_id="gen", model="veo3.1-fast", prompt="a cat", end_from_trigger=True)
    task = VideoTask(id="task-unified-1-abcdefgh", api=ApiKind.GENERATION, state=TaskState.PENDING)
    record = SubmissionRecord(
        id=task.id,
        api=ApiKind.GENERATION,
        submitted_at=datetime(2026, 1, 1, tzinfo=timezone.utc),
        credits_reserved=7.0,
        fingerprint="f" * 64,
    )
    trigger = op._trigger(task, time.time() + 60, record)
    kwargs = trigger.serialize()[1]
    assert kwargs["end_from_trigger"] is True
    assert kwargs["reserved_credits"] == 7.0
    assert kwargs["first_submitted_at"] == "2026-01-01T00:00:00+00:00"
    worker_polling = VideoGenerationOperator(
        task_id="gen2", model="veo3.1-fast", prompt="a cat", end_from_trigger=True, deferrable=False
    )
    assert worker_polling._trigger(task, time.time() + 60, record).end_from_trigger is False


def test_default_ends_in_the_triggerer_unless_links_or_listeners_forbid_it() -> None:
    from airflow.sdk.listener import get_listener_manager

    manager = get_listener_manager()
    manager.clear()  # whatever plugins this environment loaded (Airflow's example listener...)
    try:
        assert ends_in_triggerer(None, xcom_links=False) is True
        assert ends_in_triggerer(None, xcom_links=True) is False
        assert ends_in_triggerer(False, xcom_links=False) is False
        assert ends_in_triggerer(True, xcom_links=False) is True
        with pytest.raises(ValueError, match="end_from_trigger=True needs xcom_links=False"):
            check_end_from_trigger(True, xcom_links=True)
        with pytest.raises(ValueError, match="end_from_trigger=True needs xcom_links=False"):
            VideoGenerationOperator(
                task_id="g", model="veo3.1-fast", prompt="x", end_from_trigger=True, xcom_links=True
            )
        # On by default (``None``: decided when the task defers).
        default = VideoGenerationOperator(task_id="g", model="veo3.1-fast", prompt="x")
        assert default.end_from_trigger is None
        pending = VideoTask(id="task-unified-1-abcdefgh", api=ApiKind.GENERATION, state=TaskState.PENDING)
        assert default._trigger(pending, time.time() + 60).end_from_trigger is True

        class Listener:
            """Any registered listener: it runs in the worker, so the task must resume there."""

        manager.add_listener(Listener())
        assert ends_in_triggerer(None, xcom_links=False) is False
        op = VideoGenerationOperator(task_id="g", model="veo3.1-fast", prompt="x", end_from_trigger=None)
        task = VideoTask(id="task-unified-1-abcdefgh", api=ApiKind.GENERATION, state=TaskState.PENDING)
        assert op._trigger(task, time.time() + 60).end_from_trigger is False
    finally:
        manager.clear()


def test_dag_test_hands_on_the_bare_state_of_an_ending_event() -> None:
    assert is_end_event_payload(str(TaskSuccessEvent(xcoms={}).payload))
    assert not is_end_event_payload({"status": "success", "task_id": "x"})
    assert not is_end_event_payload(None)
