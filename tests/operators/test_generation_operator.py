"""VideoGenerationOperator through real Airflow (dag.test()) against the simulator."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_videogen.exceptions import InvalidRequestError
from airflow_provider_videogen.links.view import videos_view_url
from airflow_provider_videogen.operators.videogen import VideoGenerationOperator
from airflow_provider_videogen.testing.logs import as_logged

pytestmark = pytest.mark.usefixtures("airflow_db")


def ti_of(dagrun: Any, task_id: str = "generate") -> Any:
    tis = [ti for ti in dagrun.get_task_instances() if ti.task_id == task_id]
    assert tis, f"no task instance {task_id}"
    return tis[0]


def xcom(dagrun: Any, task_id: str = "generate", key: str = "return_value", map_index: int = -1) -> Any:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = (
            session.query(XComModel)
            .filter_by(dag_id=dagrun.dag_id, run_id=dagrun.run_id, task_id=task_id, key=key, map_index=map_index)
            .one_or_none()
        )
        return None if row is None else XComModel.deserialize_value(row)


@pytest.fixture
def fast_sim(simulator: Any, videogen_conn: str) -> Any:
    simulator.configure(render_seconds=1.0)
    return simulator


def test_deferrable_run_succeeds_and_went_through_deferred(run_dag: Any, fast_sim: Any, log_text: Any) -> None:
    dagrun = run_dag("test_generation_deferrable")
    assert dagrun.state == "success"
    assert "running trigger in line" in log_text()  # dag.test ran our trigger: the task deferred
    result = xcom(dagrun)
    assert result["id"].startswith("task-unified-")
    assert result["state"] == "succeeded"
    assert result["video_urls"]
    assert result["credits_reserved"] > 0
    assert result["submitted_at"]
    assert result["completed_at"]
    assert result["expires_at"]
    assert set(result) >= {
        "id",
        "model",
        "state",
        "video_urls",
        "progress",
        "credits_reserved",
        "submitted_at",
        "completed_at",
        "expires_at",
    }
    assert xcom(dagrun, key="videogen_task_id") == result["id"]
    # The Video link opens the task's Videos tab, which outlives the 24 h download link (issue 22).
    assert xcom(dagrun, key="_link_VideoLink") == videos_view_url(ti_of(dagrun).key)
    assert fast_sim.stats()["generation"]["creates"] == 1
    assert xcom(dagrun, key="videogen_can_cancel") is True  # task_info.can_cancel at submission
    assert result["can_cancel"] is False  # a finished task cannot be cancelled
    assert f"Remote task {as_logged(result['id'])}: the gateway estimates" in log_text()  # task_info.estimated_time


def test_worker_polling_has_the_same_semantics(run_dag: Any, fast_sim: Any, log_text: Any) -> None:
    dagrun = run_dag("test_generation_in_worker")
    assert dagrun.state == "success"
    assert "running trigger in line" not in log_text()
    assert xcom(dagrun)["state"] == "succeeded"


def test_retry_reattaches_instead_of_paying_again(run_dag: Any, fast_sim: Any) -> None:
    dagrun = run_dag("test_generation_retry_reattach")
    assert dagrun.state == "success"
    ti = ti_of(dagrun)
    assert ti.try_number == 2  # the first try timed out
    stats = fast_sim.stats()
    assert stats["generation"]["creates"] == 1
    assert xcom(dagrun)["id"] == stats["generation_requests"][0].get("id", xcom(dagrun)["id"])


def test_content_policy_failure_fails_without_retry(run_dag: Any, fast_sim: Any) -> None:
    dagrun = run_dag("test_generation_content_policy")
    assert dagrun.state == "failed"
    ti = ti_of(dagrun)
    assert ti.state == "failed"
    assert ti.try_number == 1
    assert fast_sim.stats()["generation"]["creates"] == 1


def test_transient_remote_failure_fails_the_try(run_dag: Any, fast_sim: Any) -> None:
    dagrun = run_dag("test_generation_transient_failure")
    assert dagrun.state == "failed"
    assert fast_sim.stats()["generation"]["creates"] == 1


def test_templated_invalid_value_fails_at_execute_before_any_request(run_dag: Any, fast_sim: Any) -> None:
    dagrun = run_dag("test_generation_templated_invalid")
    assert dagrun.state == "failed"
    assert ti_of(dagrun).try_number == 1  # AirflowFailException: no retry
    assert fast_sim.stats()["generation"]["creates"] == 0


def test_literal_invalid_value_fails_when_the_dag_is_parsed() -> None:
    with pytest.raises(InvalidRequestError, match=r"duration=5 .*4, 6, 8"):
        VideoGenerationOperator(task_id="bad", model="veo3.1-fast", prompt="A cat", duration=5)


def test_dynamic_task_mapping(run_dag: Any, fast_sim: Any) -> None:
    dagrun = run_dag("test_generation_mapped")
    assert dagrun.state == "success"
    ids = {xcom(dagrun, map_index=i)["id"] for i in range(3)}
    assert len(ids) == 3
    assert fast_sim.stats()["generation"]["creates"] == 3


WAITING_RE = r"Waiting for remote task (\S+) until (\S+): timeout 2.0s counted from its first submission at (\S+)"
DEFERRING_RE = r"in the triggerer until (\S+) \(Airflow's deferral timeout, a safety net for a lost trigger: (\S+)\)"


def test_timeout_counts_from_the_first_submission(run_dag: Any, fast_sim: Any, log_text: Any) -> None:
    """The retry re-attaches with the first try's deadline: it times out at once, without a second create."""
    import re
    from datetime import datetime

    from airflow_provider_videogen.deadlines import DEFERRAL_GRACE

    dagrun = run_dag("test_generation_deadline_from_first_submission")
    assert dagrun.state == "failed"
    assert ti_of(dagrun).try_number == 2
    assert fast_sim.stats()["generation"]["creates"] == 1
    text = log_text()
    waits = re.findall(WAITING_RE, text)
    assert len(waits) == 2, text[-3000:]  # one line per try
    assert waits[0] == waits[1]  # same remote task, same deadline, same first submission
    assert "Re-attaching instead of submitting" in text
    assert "counts from the first submission" in text  # the timeout error says why the retry did not wait
    deferrals = re.findall(DEFERRING_RE, text)
    assert deferrals, text[-3000:]
    for deadline, safety_net in deferrals:
        assert deadline == waits[0][1]
        # Airflow's deferral timeout fires DEFERRAL_GRACE after the trigger's deadline (or later,
        # when the deadline had already passed): the trigger's own timeout event comes first.
        gap = datetime.fromisoformat(safety_net) - datetime.fromisoformat(deadline)
        assert gap >= DEFERRAL_GRACE
