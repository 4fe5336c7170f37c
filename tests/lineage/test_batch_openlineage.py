"""OpenLineage events of ``VideoGenerationBatchOperator`` (issue 23), from the OpenLineage provider's own listener.

As ``test_openlineage.py``: ``dag.test()`` in a subprocess whose ``[openlineage] transport`` is the
file transport. A batch's COMPLETE and FAIL events carry every remote id of the batch, the model,
the credits reserved in all and its input datasets; and because a listener is registered, the
batch is completed by a worker (a task that ends in the triggerer never reaches the listener).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_videogen.lineage import gateway_origin
from tests.lineage.test_openlineage import RUNNER, complete_event, events

if TYPE_CHECKING:
    from pathlib import Path

#: What the batch trigger logs when it ends the task itself (``triggers/batch.py``).
ENDS_IN_TRIGGERER = "the task ends in the triggerer"


def event_of(emitted: list[dict[str, Any]], task_id: str, kind: str) -> dict[str, Any]:
    found = [e for e in emitted if e.get("eventType") == kind and e["job"]["name"].endswith(f".{task_id}")]
    assert len(found) == 1, [(e.get("eventType"), e["job"]["name"]) for e in emitted]
    return found[0]


@pytest.mark.dagrun
@pytest.mark.usefixtures("airflow_db")
def test_batch_events_carry_every_remote_id_and_the_batch_resumes_in_the_worker(
    simulator: Any, videogen_conn: str, tmp_path: Path
) -> None:
    simulator.configure(render_seconds=0.5)
    out = tmp_path / "openlineage"
    out.mkdir()
    env = {
        **os.environ,
        "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(
            {"type": "file", "log_file_path": str(out / "events"), "append": False}
        ),
        "AIRFLOW__OPENLINEAGE__NAMESPACE": "videogen-test",
        "AIRFLOW__OPENLINEAGE__EXECUTE_IN_THREAD": "True",
    }
    env.pop("PYTEST_VERSION", None)
    done = subprocess.run(
        [sys.executable, str(RUNNER), "test_batch_lineage", "{}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = done.stdout + done.stderr
    assert "DAGRUN_STATE=failed" in done.stdout, (done.stdout[-3000:], done.stderr[-6000:])
    emitted = events(out)
    created = [r for r in simulator.stats()["generation_requests"] if r.get("task_id")]

    def ids_of(*markers: str) -> str:
        return ",".join(r["task_id"] for r in created if any(m in r["body"]["prompt"] for m in markers))

    ok = complete_event(emitted, "batch_ok")
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
    assert simulator.api_key not in json.dumps(emitted)  # no secret in any event

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
