"""Bulk resolution of uncertain submissions: ``python -m airflow_provider_videogen.uncertain`` (issue 24 point 4).

A mapped DAG run through ``dag.test()`` loses two create answers (the simulator creates the tasks,
then answers 502): two task instances fail with the uncertain-submission message. The CLI lists
them with what was sent, a dry run changes nothing, and ``--mark-lost --apply`` records the
decision and deletes the markers. The next try of such a task instance, run by the operator on
the same Airflow store rows, then submits exactly once (before the decision it refuses).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_provider_videogen.operators.reattach import IN_FLIGHT_KEY
from airflow_provider_videogen.operators.videogen import VideoGenerationOperator
from airflow_provider_videogen.uncertain import DECISION_KEY, main
from tests.operators.test_submission_money import FakeTI, accepted

pytestmark = pytest.mark.usefixtures("airflow_db")

PROMPTS = ["A red kite", "A blue boat", "A green field"]  # tests/dag_files/generation_dags.py


class AirflowStore:
    """One task instance's rows in Airflow's own state store backend (what the Task SDK's store reaches)."""

    def __init__(self, dag_id: str, run_id: str, task_id: str, map_index: int) -> None:
        from airflow.state import TaskScope, get_state_backend

        self.backend = get_state_backend()
        self.scope = TaskScope(dag_id=dag_id, run_id=run_id, task_id=task_id, map_index=map_index)

    def get(self, key: str) -> Any:
        raw = self.backend.get(self.scope, key)
        return json.loads(raw) if raw else None

    def set(self, key: str, value: Any, retention: Any = None) -> None:
        self.backend.set(self.scope, key, json.dumps(value))

    def delete(self, key: str) -> None:
        self.backend.delete(self.scope, key)


def next_try(store: AirflowStore, prompt: str) -> Any:
    op = VideoGenerationOperator(
        task_id="generate", model="doubao-seedance-1.0-pro-fast", duration=3, prompt=prompt, wait_for_completion=False
    )
    return op.execute({"ti": FakeTI(2), "task_state_store": store})  # type: ignore[arg-type]


def test_list_then_mark_lost_lets_each_next_try_submit_once(
    run_dag: Any, simulator: Any, videogen_conn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from airflow.sdk.exceptions import AirflowFailException

    simulator.configure(
        render_seconds=1.0,
        next_responses=[{"status": 502, "method": "POST", "after_create": True, "times": 2}],
    )
    dagrun = run_dag("test_generation_mapped")
    assert accepted(simulator) == 3
    failed = sorted(ti.map_index for ti in dagrun.get_task_instances() if ti.state == "failed")
    assert len(failed) == 2

    assert main(["list", "--dag-id", "test_generation_mapped", "--run-id", dagrun.run_id]) == 0
    out = capsys.readouterr().out
    assert "2 uncertain submission(s)" in out
    for index in failed:
        assert f"generate[{index}]: generation create of model doubao-seedance-1.0-pro-fast (request " in out
    assert "by try 1; task instance failed" in out

    stores = {i: AirflowStore("test_generation_mapped", dagrun.run_id, "generate", i) for i in failed}
    with pytest.raises(AirflowFailException, match="never learned whether the gateway accepted it"):
        next_try(stores[failed[0]], PROMPTS[failed[0]])

    assert main(["resolve", "--dag-id", "test_generation_mapped", "--mark-lost"]) == 0  # dry run by default
    assert "dry run" in capsys.readouterr().out
    assert all(store.get(IN_FLIGHT_KEY) for store in stores.values())

    first, second = failed
    run = ["--dag-id", "test_generation_mapped", "--run-id", dagrun.run_id]
    why = ["--by", "alice", "--reason", "not in the gateway's task list"]
    assert main(["resolve", *run, "--map-index", str(first), "--mark-lost", "--apply", *why]) == 0
    assert main(["resolve", *run, "--map-index", str(second), "--resubmit", "--apply", *why]) == 0
    for index, action in ((first, "mark_lost"), (second, "resubmit")):
        store = stores[index]
        assert store.get(IN_FLIGHT_KEY) is None
        [decision] = store.get(DECISION_KEY)
        assert decision["action"] == action
        assert decision["by"] == "alice"
        assert decision["reason"] == "not in the gateway's task list"
        assert decision["marker"]["try_number"] == 1
        assert decision["marker"]["phase"] == "sending"
    states = {ti.map_index: ti.state for ti in dagrun.get_task_instances()}
    assert states[first] == "failed"
    assert states[second] is None  # cleared: the scheduler runs it again
    capsys.readouterr()
    assert main(["list", "--dag-id", "test_generation_mapped"]) == 0
    assert "0 uncertain submission(s)" in capsys.readouterr().out

    result = next_try(stores[first], PROMPTS[first])
    assert result["id"].startswith("task-unified-")
    assert accepted(simulator) == 4  # exactly one new create for the resolved task instance
