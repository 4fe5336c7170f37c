"""OpenLineage events of ``VideoGenerationBatchOperator`` (issue 23), from the OpenLineage provider's own listener.

The DAG ``test_batch_lineage`` runs in the same ``dag.test()`` subprocess as ``test_openlineage.py``'s
pipeline (one process, one parse: the file transport is configured there), which hands the events to
:func:`check_batch_events`. A batch's COMPLETE and FAIL events carry every remote id of the batch in
order, the model, the credits reserved in all and its input datasets; and because a listener is
registered, the batch is completed by a worker (a task that ends in the triggerer never reaches a
listener).
"""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_videogen.lineage import gateway_origin

#: What the batch trigger logs when it ends the task itself (``triggers/batch.py``); under
#: ``dag.test()`` without a listener the run's output has it.
ENDS_IN_TRIGGERER = "the task ends in the triggerer"


def event_of(emitted: list[dict[str, Any]], task_id: str, kind: str) -> dict[str, Any]:
    found = [e for e in emitted if e.get("eventType") == kind and e["job"]["name"].endswith(f".{task_id}")]
    assert len(found) == 1, [(e.get("eventType"), e["job"]["name"]) for e in emitted]
    return found[0]


def check_batch_events(emitted: list[dict[str, Any]], simulator: Any, output: str) -> None:
    """The events of ``test_batch_lineage`` (``output``: the subprocess's stdout and stderr)."""
    assert "DAGRUN_STATE[test_batch_lineage]=failed" in output, output[-3000:]  # batch_failing fails
    created = [r for r in simulator.stats()["generation_requests"] if r.get("task_id")]

    def ids_of(*markers: str) -> str:
        return ",".join(r["task_id"] for r in created if any(m in r["body"]["prompt"] for m in markers))

    ok = event_of(emitted, "batch_ok", "COMPLETE")
    facets = ok["run"]["facets"]
    assert facets["externalQuery"]["externalQueryId"] == ids_of("lineage clip")  # both, in the batch's order
    assert facets["externalQuery"]["source"] == gateway_origin(simulator.url)
    videogen = facets["videogen"]
    assert (videogen["api"], videogen["model"], videogen["reused"]) == ("generation", "veo3.1-fast", False)
    assert videogen["creditsReserved"] == pytest.approx(2 * 23.04)
    assert ok["inputs"] == []  # image_urls are URLs the gateway downloads, not datasets

    failed = event_of(emitted, "batch_failing", "FAIL")
    facets = failed["run"]["facets"]
    assert facets["externalQuery"]["externalQueryId"] == ids_of("lineage keeps", "lineage breaks")
    assert "content_policy_violation" in facets["errorMessage"]["message"], facets["errorMessage"]
    assert failed["inputs"] == []

    # A listener is registered: the trigger hands the batch back to a worker, which tells it.
    assert "[DAG TEST] running trigger in line" in output, output[-3000:]
    assert ENDS_IN_TRIGGERER not in output, output[-3000:]


def test_a_registered_listener_keeps_the_batch_out_of_the_triggerer(simulator: Any, videogen_conn: str) -> None:
    """The default (``end_from_trigger=None``) is decided when the batch defers, in the worker."""
    from airflow.sdk.exceptions import TaskDeferred
    from airflow.sdk.listener import get_listener_manager

    from airflow_provider_videogen.operators.batch import VideoGenerationBatchOperator
    from tests.operators.test_submission_money import FakeTI, Store

    class Listener:
        """Any registered listener (OpenLineage's is one): it runs in the worker only."""

    def ends_here() -> bool:
        op = VideoGenerationBatchOperator(
            task_id="batch", requests=["[sim:render=30] listener clip"], model="veo3.1-fast", duration=4
        )
        with pytest.raises(TaskDeferred) as deferred:
            op.execute({"ti": FakeTI(1), "task_state_store": Store()})  # type: ignore[arg-type]
        return bool(deferred.value.trigger.end_from_trigger)

    manager = get_listener_manager()
    manager.clear()  # whatever plugins this environment loaded
    try:
        assert ends_here() is True
        manager.add_listener(Listener())
        assert ends_here() is False
    finally:
        manager.clear()
