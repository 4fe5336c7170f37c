"""Hostile audit of ending a task in the triggerer: a lying gateway, a half-written result, a cancel.

The trigger polls the simulator; a lying answer is one of the simulator's queued raw answers
(``next_responses``), sent for the real task's status query. The XCom table is the stand-in of
``tests/triggers/test_end_from_trigger.py`` (``written``: ``BaseXCom.set`` as the execution API
answers it), the one Airflow part a unit test cannot reach.
"""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

import pytest
from airflow.triggers.base import TaskSuccessEvent

from airflow_provider_videogen.models import GenerationRequest
from airflow_provider_videogen.simulator.config import ResponseFault
from airflow_provider_videogen.triggers.task_success import success_with_result
from tests.triggers.test_end_from_trigger import RESULT_KEY, TriggererTI, ending_trigger, events_of, hook, written

__all__ = ["hook", "written"]

SIGNATURE = "X-Amz-Signature=0123456789abcdef0123456789abcdef"
SIGNED = f"https://cdn.example/v/out.mp4?{SIGNATURE}"


def lying_answer(task_id: str, **fields: Any) -> ResponseFault:
    body = {
        "id": task_id,
        "object": "video.generation.task",
        "status": "completed",
        "progress": 100,
        "results": [SIGNED],
        "usage": {"credits_reserved": 46.08},
        **fields,
    }
    return ResponseFault(status=200, method="GET", path=f"/v1/tasks/{task_id}", body=json.dumps(body))


@pytest.mark.parametrize(
    "lie",
    [
        {"model": SIGNED},
        {"model": f"veo {SIGNED} fast", "error": {"code": SIGNED, "message": f"see {SIGNED}"}},
        {"type": SIGNED, "object": SIGNED, "task_info": {"can_cancel": SIGNED, "estimated_time": SIGNED}},
        {"usage": {"credits_reserved": SIGNED, "billing_rule": SIGNED, "user_group": SIGNED}},
    ],
    ids=["model", "model-and-error", "info", "usage"],
)
async def test_a_link_the_gateway_writes_in_odd_fields_reaches_no_xcom_event_or_log(
    hook: Any, simulator: Any, written: dict[Any, Any], log_text: Any, lie: dict[str, Any]
) -> None:
    """A guarantee (the attack did not work): the answer's parser redacts links in every field it keeps."""
    task = hook.submit_generation(GenerationRequest(model="veo3.1-fast", prompt="a heron"))
    simulator.configure(next_responses=[lying_answer(task.id, **lie)])
    (ended,) = await events_of(ending_trigger(task.id, None))
    stored = json.dumps(list(written.values()))
    assert SIGNATURE not in stored, stored
    assert SIGNATURE not in repr(ended)
    assert SIGNATURE not in json.dumps(getattr(ended, "payload", None) or {})
    assert SIGNATURE not in log_text()
    assert simulator.stats()["pending_responses"] == [], "the lying answer was not the one read"


async def test_a_write_that_stored_the_value_and_then_failed_leaves_the_worker_the_same_result(
    hook: Any, monkeypatch: pytest.MonkeyPatch, written: dict[Any, Any]
) -> None:
    """A guarantee: the worker then pushes the same key with the same result (an overwrite, not a second value)."""
    from airflow.sdk.bases.xcom import BaseXCom

    stored = BaseXCom.set

    def half(*args: Any, **kwargs: Any) -> None:
        stored(*args, **kwargs)
        raise ConnectionError("the answer was lost after the API stored the value")

    monkeypatch.setattr(BaseXCom, "set", staticmethod(half))
    task = hook.submit_generation(GenerationRequest(model="veo3.1-fast", prompt="a wren"))
    (event,) = await events_of(ending_trigger(task.id, None))
    assert not isinstance(event, TaskSuccessEvent), "a worker completes the task"
    assert event.payload["status"] == "success"
    assert set(written) == {RESULT_KEY}
    assert written[RESULT_KEY]["video_urls"] == []


@pytest.mark.parametrize("map_index", ["absent", None])
async def test_a_task_instance_without_a_map_index_writes_the_unmapped_result(
    written: dict[Any, Any], map_index: Any
) -> None:
    """A guarantee: no map index, or ``None``, is the unmapped task instance (-1)."""

    class NoIndexTI:
        dag_id, run_id, task_id = "d", "manual__1", "gen"

    ti = NoIndexTI()
    if map_index is None:
        ti.map_index = None  # type: ignore[attr-defined]

    class Trigger:
        task_instance = ti

    event = await success_with_result(Trigger(), {"id": "t"}, log=None)  # type: ignore[arg-type]
    assert isinstance(event, TaskSuccessEvent)
    assert written == {("d", "manual__1", "gen", -1, "return_value"): {"id": "t"}}


async def test_a_trigger_cancelled_while_its_write_runs_leaves_only_the_linkless_result(
    monkeypatch: pytest.MonkeyPatch, written: dict[Any, Any]
) -> None:
    """The user marks the task failed while the result is written: the thread cannot be stopped.

    Documented, not fixed: no event is sent (the cancel propagates), and the write finishes: the
    task instance keeps a result without links, which a mark-success wants and which Airflow
    clears when a new try starts (``ti_run`` sends the keys to purge).
    """
    from airflow.sdk.bases.xcom import BaseXCom

    stored = BaseXCom.set
    started, go_on, finished = threading.Event(), threading.Event(), threading.Event()

    def slow(*args: Any, **kwargs: Any) -> None:
        started.set()
        go_on.wait(10)
        stored(*args, **kwargs)
        finished.set()

    monkeypatch.setattr(BaseXCom, "set", staticmethod(slow))

    class Trigger:
        task_instance = TriggererTI()

    ending = asyncio.ensure_future(success_with_result(Trigger(), {"id": "t", "video_urls": []}, log=None))  # type: ignore[arg-type]
    await asyncio.to_thread(started.wait, 10)
    ending.cancel()
    with pytest.raises(asyncio.CancelledError):
        await ending
    go_on.set()
    await asyncio.to_thread(finished.wait, 10)
    assert written == {RESULT_KEY: {"id": "t", "video_urls": []}}
