"""Audit of start_from_trigger (issue 23): a refusal a human cannot act on, and a create after a kill."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_videogen.operators.reattach import IN_FLIGHT_KEY
from airflow_provider_videogen.operators.videogen import VideoGenerationOperator
from airflow_provider_videogen.triggers.start import START_IN_WORKER
from tests.audit_start.conftest import AirflowVariables, TriggererTI, first_event, run_trigger, start_trigger


def accepted(simulator: Any) -> int:
    return int(simulator.stats()["generation"]["creates_accepted"])


def operator(prompt: str) -> VideoGenerationOperator:
    return VideoGenerationOperator(
        task_id="gen",
        model="veo3.1-fast",
        prompt=prompt,
        duration=4,
        poll_interval=0.1,
        wait_for_completion=False,
        start_from_trigger=True,
    )


def test_an_uncertain_create_in_the_triggerer_names_the_variable_to_delete(
    simulator: Any, videogen_conn: str, variables: AirflowVariables, xcoms: Any
) -> None:
    op = operator("a cat [sim:create_status=502]")  # created (billed), answer lost
    ti = TriggererTI(xcoms)
    event = run_trigger(start_trigger(op, ti))
    assert START_IN_WORKER in event.payload  # handed to a worker
    assert accepted(simulator) == 1
    ti.xcom_push = lambda key, value: None  # type: ignore[attr-defined]
    with pytest.raises(AirflowFailException) as refused:
        op.execute_complete({"ti": ti}, event.payload)  # type: ignore[arg-type]
    assert accepted(simulator) == 1  # right: refused, nothing sent twice
    marker_variable = next(k for k in variables.rows if k.endswith("__" + IN_FLIGHT_KEY))
    message = str(refused.value)
    assert marker_variable in message, message
    assert "Task State Store" not in message, message


class HeldPrepared(AirflowVariables):
    """The execution API is slow to answer the write of the ``prepared`` marker (a loaded API server)."""

    def __init__(self) -> None:
        super().__init__()
        self.reached = threading.Event()
        self.release = threading.Event()

    def set(self, key: str, value: Any, description: str | None = None, serialize_json: bool = False) -> None:
        super().set(key, value, description, serialize_json)
        if key.endswith("__" + IN_FLIGHT_KEY) and '"prepared"' in str(value):
            self.reached.set()
            self.release.wait(20)


def test_a_kill_before_the_create_leaves_the_started_thread_unable_to_create(
    simulator: Any, videogen_conn: str, monkeypatch: pytest.MonkeyPatch, xcoms: Any
) -> None:
    from airflow.sdk import Variable

    table = HeldPrepared()
    monkeypatch.setattr(Variable, "get", staticmethod(table.get))
    monkeypatch.setattr(Variable, "set", staticmethod(table.set))
    monkeypatch.setattr(Variable, "delete", staticmethod(table.delete))
    trigger = start_trigger(operator("a cat"), TriggererTI(xcoms))

    async def kill_before_create() -> None:
        running = asyncio.create_task(first_event(trigger))
        await asyncio.to_thread(table.reached.wait, 20)
        running.cancel()  # the user marks the task failed: the triggerer cancels the trigger ...
        with contextlib.suppress(asyncio.CancelledError):
            await running
        await trigger.on_kill()  # ... and calls its on_kill
        table.release.set()  # the slow write returns in the trigger's (still running) thread

    asyncio.run(kill_before_create())  # asyncio.run waits for the thread to end
    assert accepted(simulator) == 0
