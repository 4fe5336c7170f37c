"""Audit of start_from_trigger (issue 23), money: who can make a task instance pay twice, or not cancel.

Each attack runs the real ``VideoStartTrigger`` (harness in this folder's conftest) against the
simulator. Attacks that work today are ``xfail(strict=True)`` with the reason; the lead fixes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from typing import Any

import pytest
from airflow.triggers.base import TaskSuccessEvent

from airflow_provider_videogen.operators.reattach import IN_FLIGHT_KEY, RECORD_KEY
from airflow_provider_videogen.operators.videogen import VideoGenerationOperator
from tests.audit_start.conftest import AirflowVariables, TriggererTI, first_event, run_trigger, start_trigger
from tests.operators.test_submission_money import FakeTI, Store

CANCEL_PATH = "/v1/tasks/{task_id}/cancel"


@pytest.fixture
def videogen_conn_extra() -> dict[str, Any]:
    return {"retry_backoff": 0.05, "cancel_path": CANCEL_PATH}


def accepted(simulator: Any) -> int:
    return int(simulator.stats()["generation"]["creates_accepted"])


def operator(prompt: str = "a cat", **kwargs: Any) -> VideoGenerationOperator:
    return VideoGenerationOperator(
        task_id="gen", model="veo3.1-fast", prompt=prompt, duration=4, poll_interval=0.1, **kwargs
    )


def recorded(variables: AirflowVariables) -> bool:
    return any(key.endswith("__" + RECORD_KEY) for key in variables.rows)


def test_a_kill_while_the_start_trigger_waits_cancels_the_render(
    simulator: Any, videogen_conn: str, variables: AirflowVariables, xcoms: Any
) -> None:
    trigger = start_trigger(operator("[sim:render=60] a slow cat", start_from_trigger=True), TriggererTI(xcoms))

    async def kill_while_polling() -> None:
        running = asyncio.create_task(first_event(trigger))
        for _ in range(200):  # until the create is recorded and the trigger polls
            if recorded(variables):
                break
            await asyncio.sleep(0.05)
        assert recorded(variables)
        running.cancel()  # the triggerer cancels the trigger on mark-failed / clear ...
        with contextlib.suppress(asyncio.CancelledError):
            await running
        await trigger.on_kill()  # ... and then calls on_kill on it (triggerer_job_runner)

    asyncio.run(kill_while_polling())
    assert accepted(simulator) == 1
    assert int(simulator.stats()["generation"]["cancels"]) == 1


def test_a_kill_between_the_create_and_the_deferral_still_cancels_the_render(
    simulator: Any, videogen_conn: str, variables: AirflowVariables, xcoms: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found on the loaded CI run: the create was recorded, the thread was still pushing the remote
    id (an execution-API round trip) when the kill came, and on_kill found no polling trigger yet:
    "nothing to cancel", while the render went on billing."""
    from airflow.sdk.bases.xcom import BaseXCom

    written = BaseXCom.set

    def slow_remote_id(key: str, value: Any, **kwargs: Any) -> None:
        if key == "videogen_task_id":
            threading.Event().wait(1.0)  # a busy API server
        written(key, value, **kwargs)

    monkeypatch.setattr(BaseXCom, "set", staticmethod(slow_remote_id))
    trigger = start_trigger(operator("[sim:render=60] a slow cat", start_from_trigger=True), TriggererTI(xcoms))

    async def kill_before_the_deferral() -> None:
        running = asyncio.create_task(first_event(trigger))
        for _ in range(200):
            if recorded(variables):
                break
            await asyncio.sleep(0.01)
        assert recorded(variables)
        assert trigger._polling is None  # the thread is still pushing the remote id
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
        await trigger.on_kill()

    asyncio.run(kill_before_the_deferral())
    assert accepted(simulator) == 1
    assert int(simulator.stats()["generation"]["cancels"]) == 1


class BothReadFirst(AirflowVariables):
    """Two incarnations of one trigger read the markers before either writes one (a partitioned
    triggerer's copy and its replacement: Airflow's docs say duplicates may run simultaneously)."""

    def __init__(self) -> None:
        super().__init__()
        # Short: with the start claim only one incarnation reads the markers at a time, so the
        # barrier is never met; without it both meet here before either writes.
        self.barrier = threading.Barrier(2, timeout=2)

    def get(self, key: str, default: Any = None, deserialize_json: bool = False) -> Any:
        value = super().get(key, default, deserialize_json)
        if key.endswith("__" + IN_FLIGHT_KEY):
            with contextlib.suppress(threading.BrokenBarrierError):
                self.barrier.wait()
        return value


def test_two_incarnations_of_one_start_trigger_create_once(
    simulator: Any, videogen_conn: str, monkeypatch: pytest.MonkeyPatch, xcoms: Any
) -> None:
    from airflow.sdk import Variable

    table = BothReadFirst()
    monkeypatch.setattr(Variable, "get", staticmethod(table.get))
    monkeypatch.setattr(Variable, "set", staticmethod(table.set))
    monkeypatch.setattr(Variable, "delete", staticmethod(table.delete))
    op = operator(start_from_trigger=True, wait_for_completion=False)

    async def both() -> list[Any]:
        return list(
            await asyncio.gather(
                first_event(start_trigger(op, TriggererTI(xcoms))), first_event(start_trigger(op, TriggererTI(xcoms)))
            )
        )

    events = asyncio.run(both())
    assert all(isinstance(e, TaskSuccessEvent) for e in events), events
    assert accepted(simulator) == 1


def test_turning_start_from_trigger_off_does_not_pay_again(
    simulator: Any, videogen_conn: str, variables: AirflowVariables, xcoms: Any
) -> None:
    first = run_trigger(start_trigger(operator(start_from_trigger=True, wait_for_completion=False), TriggererTI(xcoms)))
    assert isinstance(first, TaskSuccessEvent)
    assert accepted(simulator) == 1
    # The DAG file is edited (start_from_trigger removed) and the task cleared: try 2 in a worker.
    again = operator(wait_for_completion=False)
    ti = TriggererTI(xcoms, try_number=2)
    ti.xcom_push = lambda key, value: None  # type: ignore[attr-defined]
    again.execute({"ti": ti, "task_state_store": Store()})  # type: ignore[arg-type]
    assert accepted(simulator) == 1


def test_turning_start_from_trigger_on_does_not_pay_again(
    simulator: Any, videogen_conn: str, variables: AirflowVariables, xcoms: Any
) -> None:
    store = Store()
    operator(wait_for_completion=False).execute({"ti": FakeTI(1), "task_state_store": store})  # type: ignore[arg-type]
    assert accepted(simulator) == 1
    assert store.rows.get(RECORD_KEY)
    started = operator(start_from_trigger=True, wait_for_completion=False)
    event = run_trigger(start_trigger(started, TriggererTI(xcoms, try_number=2)))
    # Fixed: a retry or a clear is handed to a worker, which reads the markers of either mode.
    assert "videogen_start_in_worker" in str(event.payload), event
    worker_ti = FakeTI(2)
    # The worker's task instance, with the identity the triggerer's has (its Variables' names).
    worker_ti.dag_id, worker_ti.run_id, worker_ti.task_id, worker_ti.map_index = (
        "audit",
        "manual__2026-12-02",
        "gen",
        -1,
    )  # type: ignore[attr-defined]
    started.execute({"ti": worker_ti, "task_state_store": store})  # type: ignore[arg-type]
    assert accepted(simulator) == 1


def test_a_retry_started_in_the_triggerer_reattaches_to_try_1s_task(
    simulator: Any, videogen_conn: str, variables: AirflowVariables, xcoms: Any
) -> None:
    """Not broken: try 2 (triggerer) after try 1 created (triggerer), same task instance's Variables."""
    op = operator("[sim:render=60] a slow cat", start_from_trigger=True, wait_for_completion=False)
    run_trigger(start_trigger(op, TriggererTI(xcoms)))
    run_trigger(start_trigger(op, TriggererTI(xcoms, try_number=2)))
    assert accepted(simulator) == 1


def test_another_task_instances_variable_is_refused_not_reused(
    simulator: Any, videogen_conn: str, variables: AirflowVariables, xcoms: Any
) -> None:
    """Not broken: a record copied under this instance's key from another run is refused (worker gets it)."""
    op = operator(start_from_trigger=True, wait_for_completion=False)
    run_trigger(start_trigger(op, TriggererTI(xcoms, run_id="run_a")))
    other = run_trigger(start_trigger(op, TriggererTI(xcoms, run_id="run_b")))
    assert accepted(simulator) == 2  # two runs, two videos: right

    def run_of(key: str) -> str:
        return str(json.loads(variables.rows[key])["task_instance"]["run_id"])

    key_a = next(k for k in variables.rows if k.endswith(RECORD_KEY) and run_of(k) == "run_a")
    key_b = next(k for k in variables.rows if k.endswith(RECORD_KEY) and k != key_a)
    variables.rows[key_b] = variables.rows[key_a]  # a user copies a Variable over another
    event = run_trigger(start_trigger(op, TriggererTI(xcoms, run_id="run_b")))  # a triggerer restart
    assert isinstance(other, TaskSuccessEvent)
    assert "videogen_start_in_worker" in str(event.payload)
    assert "belongs to another task instance" in str(event.payload)
    assert accepted(simulator) == 2


def test_a_triggerer_restart_does_not_resubmit_a_durable_false_task(
    simulator: Any, videogen_conn: str, variables: AirflowVariables, xcoms: Any
) -> None:
    # Fixed: refused when the DAG is parsed (a triggerer restart re-ran the same try and paid again).
    with pytest.raises(ValueError, match="durable=False keeps no markers"):
        operator("[sim:render=60] a slow cat", start_from_trigger=True, durable=False, wait_for_completion=False)
    assert accepted(simulator) == 0


def test_a_worker_handed_the_task_after_the_trigger_created_reattaches(
    simulator: Any, videogen_conn: str, variables: AirflowVariables, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not broken: the trigger created, then failed to write an XCom; the worker it hands the task to re-attaches."""
    from airflow.sdk.bases.xcom import BaseXCom

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("execution API: 500")

    monkeypatch.setattr(BaseXCom, "set", staticmethod(refuse))
    op = operator("[sim:render=60] a slow cat", start_from_trigger=True, wait_for_completion=False)
    ti = TriggererTI({})
    event = run_trigger(start_trigger(op, ti))
    assert "videogen_start_in_worker" in event.payload
    assert accepted(simulator) == 1
    ti.xcom_push = lambda key, value: None  # type: ignore[attr-defined]
    op.execute_complete({"ti": ti}, event.payload)  # type: ignore[arg-type]
    assert accepted(simulator) == 1
