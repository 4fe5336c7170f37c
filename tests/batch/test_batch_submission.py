"""``VideoGenerationBatchOperator`` submits each item once, on its own keys (issue 23).

Like ``tests/operators/test_submission_money.py``: ``execute`` runs against the simulator over
loopback with an in-memory task state store shared by the tries of one task instance.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from airflow.sdk.exceptions import AirflowFailException, TaskDeferred

from airflow_provider_videogen.exceptions import InvalidRequestError
from airflow_provider_videogen.operators.batch import (
    BATCH_IDS_KEY,
    MAX_BATCH_SIZE,
    VideoGenerationBatchOperator,
    item_key,
)
from airflow_provider_videogen.operators.reattach import IN_FLIGHT_KEY, RECORD_KEY
from airflow_provider_videogen.triggers.batch import VideoBatchTrigger
from tests.operators.test_submission_money import FakeTI, Store, accepted

if TYPE_CHECKING:
    from airflow_provider_videogen.simulator import SimulatorServer


def batch(requests: Any, **kwargs: Any) -> VideoGenerationBatchOperator:
    return VideoGenerationBatchOperator(task_id="batch", requests=requests, model="veo3.1-fast", duration=4, **kwargs)


def run_try(store: Store, try_number: int, requests: Any, **kwargs: Any) -> tuple[FakeTI, Any]:
    ti = FakeTI(try_number)
    try:
        return ti, batch(requests, **kwargs).execute({"ti": ti, "task_state_store": store})  # type: ignore[arg-type]
    except TaskDeferred as deferred:
        return ti, deferred


def test_each_item_is_submitted_once_and_deferred_to_one_trigger(
    simulator: SimulatorServer, videogen_conn: str
) -> None:
    store = Store()
    before = accepted(simulator)
    prompts = [f"[sim:render=30] batch clip {i}" for i in range(3)]
    ti, deferred = run_try(store, 1, prompts)
    assert accepted(simulator) - before == 3
    assert isinstance(deferred, TaskDeferred)
    trigger = deferred.trigger
    assert isinstance(trigger, VideoBatchTrigger)
    ids = ti.xcoms[BATCH_IDS_KEY]
    assert [item["remote_task_id"] for item in trigger.items] == ids
    assert len(set(ids)) == 3
    for i, remote_id in enumerate(ids):
        assert store.rows[item_key(RECORD_KEY, i)]["id"] == remote_id
        assert item_key(IN_FLIGHT_KEY, i) not in store.rows
    # A retry re-attaches to all three: nothing is paid twice.
    _, again = run_try(store, 2, prompts)
    assert accepted(simulator) - before == 3
    assert [item["remote_task_id"] for item in again.trigger.items] == ids


def test_a_bad_item_is_refused_before_anything_is_sent(simulator: SimulatorServer, videogen_conn: str) -> None:
    bad = ["a", "b", {"prompt": "c", "duration": 9999}]
    with pytest.raises(InvalidRequestError, match=r"request 2 of the batch: duration=9999 .*allowed"):
        batch(bad)  # a literal batch: when the DAG file is parsed
    before = accepted(simulator)
    op = batch(["a"])
    op.requests = bad  # as rendered from a template or an upstream XCom
    with pytest.raises(AirflowFailException, match=r"request 2 of the batch: duration=9999.*Nothing was sent"):
        op.execute({"ti": FakeTI(1), "task_state_store": Store()})  # type: ignore[arg-type]
    op.requests = ["a", {"prompt": "b", "secret_field": 1}]
    with pytest.raises(AirflowFailException, match=r"request 1 of the batch: unknown field\(s\) \['secret_field'\]"):
        op.execute({"ti": FakeTI(1), "task_state_store": Store()})  # type: ignore[arg-type]
    op.requests = [f"clip {i}" for i in range(MAX_BATCH_SIZE + 1)]
    with pytest.raises(AirflowFailException, match=rf"{MAX_BATCH_SIZE + 1} items; at most {MAX_BATCH_SIZE}"):
        op.execute({"ti": FakeTI(1), "task_state_store": Store()})  # type: ignore[arg-type]
    assert accepted(simulator) == before
