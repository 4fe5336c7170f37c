"""A batch's retries, clears, lost answers and triggerer restarts pay for nothing twice (issue 23).

Each item goes through the single operator's guard on its own keys; these tests run the same
re-attach cases as ``tests/operators/test_submission_money.py``, item by item, against the simulator.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import pytest
from airflow.sdk.exceptions import AirflowFailException, TaskDeferred

from airflow_provider_videogen.exceptions import VideoGenError
from airflow_provider_videogen.operators.batch import BATCH_IDS_KEY, VideoGenerationBatchOperator, item_key
from airflow_provider_videogen.operators.reattach import IN_FLIGHT_KEY, RECORD_KEY
from airflow_provider_videogen.triggers.batch import ITEMS_KEY, VideoBatchTrigger
from tests.operators.test_submission_money import FakeTI, Store, accepted

if TYPE_CHECKING:
    from airflow_provider_videogen.simulator import SimulatorServer


def operator(requests: list[Any], **kwargs: Any) -> VideoGenerationBatchOperator:
    kwargs.setdefault("poll_interval", 0.2)
    return VideoGenerationBatchOperator(task_id="batch", requests=requests, model="veo3.1-fast", duration=4, **kwargs)


def execute(store: Store, try_number: int, requests: list[Any], **kwargs: Any) -> Any:
    try:
        return operator(requests, **kwargs).execute({"ti": FakeTI(try_number), "task_state_store": store})  # type: ignore[arg-type]
    except TaskDeferred as deferred:
        return deferred.trigger


def rebuilt(trigger: VideoBatchTrigger) -> VideoBatchTrigger:
    """The trigger as a (restarted) triggerer builds it from the trigger table's row."""
    _, kwargs = trigger.serialize()
    return VideoBatchTrigger(**kwargs)


def resume(store: Store, try_number: int, requests: list[Any], trigger: VideoBatchTrigger) -> Any:
    event = {ITEMS_KEY: [e.to_payload() for e in asyncio.run(rebuilt(trigger).wait_all())]}
    op = operator(requests)
    return op.execute_complete({"ti": FakeTI(try_number), "task_state_store": store}, event)  # type: ignore[arg-type]


def test_a_failed_item_fails_the_batch_and_the_retry_pays_only_for_it(
    simulator: SimulatorServer, videogen_conn: str
) -> None:
    store = Store()
    requests = ["[sim:render=0.2] keeps", "[sim:render=0.2] breaks once"]
    simulator.configure(fail_prompts_containing={"breaks once": "service_error"})
    trigger = execute(store, 1, requests)
    with pytest.raises(VideoGenError, match=r"1 of 2 videos did not succeed: request 1 .*a retry re-uses them") as exc:
        resume(store, 1, requests, trigger)
    assert not isinstance(exc.value, AirflowFailException)  # retryable: the retry policy may retry
    assert accepted(simulator) == 2
    first_id = store.rows[item_key(RECORD_KEY, 0)]["id"]
    simulator.configure(fail_prompts_containing={})
    retried = execute(store, 2, requests)  # item 0 finished: re-used; item 1 failed: submitted again
    assert accepted(simulator) == 3
    results = retried if isinstance(retried, list) else resume(store, 2, requests, retried)
    assert [r["state"] for r in results] == ["succeeded", "succeeded"]
    assert results[0]["id"] == first_id


def test_a_lost_create_answer_refuses_that_item_and_re_attaches_the_ones_before(
    simulator: SimulatorServer, videogen_conn: str
) -> None:
    store = Store()
    a, b = "[sim:render=30] first", "[sim:render=30] second"
    execute(store, 1, [a])  # item 0 submitted (as by a try that stopped after it)
    simulator.configure(next_responses=[{"status": 502, "method": "POST", "after_create": True}])
    ti = FakeTI(2)
    refused = r"videogen_submission_in_flight' \(item 1 of the batch: its keys end in '__item1'\)"
    with pytest.raises(AirflowFailException, match=refused):
        operator([a, b]).execute({"ti": ti, "task_state_store": store})  # type: ignore[arg-type]
    # the paid item stays in view (its id, hence the Video link), though the batch stopped
    assert ti.xcoms[BATCH_IDS_KEY] == [store.rows[item_key(RECORD_KEY, 0)]["id"]]
    assert accepted(simulator) == 2
    assert store.rows[item_key(IN_FLIGHT_KEY, 1)]["phase"] == "sending"
    with pytest.raises(AirflowFailException, match="never learned whether the gateway accepted it"):
        execute(store, 3, [a, b])
    assert accepted(simulator) == 2  # neither item paid again


def test_a_restarted_triggerer_continues_the_same_videos(simulator: SimulatorServer, videogen_conn: str) -> None:
    store = Store()
    requests = [f"[sim:render=0.3] restart {i}" for i in range(3)]
    trigger = execute(store, 1, requests)
    results = resume(store, 1, requests, trigger)  # polled by a trigger rebuilt from its serialized row
    assert [r["id"] for r in results] == [item["remote_task_id"] for item in trigger.items]
    assert accepted(simulator) == 3


def test_the_trigger_row_and_events_hold_no_key_and_no_link(simulator: SimulatorServer, videogen_conn: str) -> None:
    store = Store()
    trigger = execute(store, 1, ["[sim:render=0.3] secret-free"])
    _, kwargs = trigger.serialize()
    text = repr(kwargs)
    assert "sim-key" not in text
    assert "http" not in text
    events = asyncio.run(rebuilt(trigger).wait_all())
    payload = repr([e.to_payload() for e in events])
    assert events[0].status == "success"
    assert "http" not in payload  # the signed links are re-read by the worker, never in the event


def test_extra_keys_in_items_are_not_serialized() -> None:
    trigger = VideoBatchTrigger(
        videogen_conn_id="c",
        api="generation",
        items=[{"remote_task_id": "t1", "deadline": 1e10, "video_url": "https://cdn/x?sig=1", "api_key": "k"}],
        poll_interval=1,
    )
    assert "sig=" not in repr(trigger.serialize())
    assert "api_key" not in repr(trigger.serialize())
