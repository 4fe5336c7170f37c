"""``python -m airflow_provider_videogen.uncertain`` on a batch item's lost create answer (issue 23).

A batch (``VideoGenerationBatchOperator``, run by ``dag.test()``) submits item 0, then loses item
1's create answer (the simulator creates the task and answers 502): its in-flight marker sits
under ``videogen_submission_in_flight__item1`` in Airflow's task state store. ``list`` names the
item and its key; ``resolve --mark-lost --apply`` deletes that item's marker only and records the
decision with the item. The next try of the batch, on the same store rows, then re-attaches to
item 0 and sends item 1's create exactly once (before the decision it refuses and sends nothing).
"""

from __future__ import annotations

from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_videogen.operators.batch import VideoGenerationBatchOperator, item_key
from airflow_provider_videogen.operators.reattach import IN_FLIGHT_KEY, RECORD_KEY
from airflow_provider_videogen.uncertain import DECISION_KEY, main
from tests.operators.test_submission_money import FakeTI, accepted
from tests.operators.test_uncertain_cli import AirflowStore

pytestmark = [pytest.mark.dagrun, pytest.mark.usefixtures("airflow_db")]

DAG_ID = "test_batch_from_conf"  # tests/dag_files/batch_view_dags.py
REQUESTS = ["[sim:render=30] paid for", "[sim:create_status=502] answer lost"]


def next_try(store: AirflowStore, try_number: int) -> Any:
    op = VideoGenerationBatchOperator(task_id="generate", requests=REQUESTS, model="veo3.1-fast", duration=4)
    return op.execute({"ti": FakeTI(try_number), "task_state_store": store})  # type: ignore[arg-type]


def test_a_batch_items_lost_answer_is_listed_by_item_and_resolved_alone(
    run_dag: Any, simulator: Any, videogen_conn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    dagrun = run_dag(DAG_ID, run_conf={"requests": REQUESTS})
    assert dagrun.state == "failed"
    assert accepted(simulator) == 2
    run = ["--dag-id", DAG_ID, "--run-id", dagrun.run_id]

    assert main(["list", *run]) == 0
    out = capsys.readouterr().out
    assert "1 uncertain submission(s)" in out
    assert (
        f"{DAG_ID} {dagrun.run_id} generate item 1 (store key videogen_submission_in_flight__item1): "
        "generation create of model veo3.1-fast (request "
    ) in out
    assert "by try 1; task instance failed" in out
    assert main(["list", *run, "--item", "0"]) == 0
    assert "0 uncertain submission(s)" in capsys.readouterr().out

    store = AirflowStore(DAG_ID, dagrun.run_id, "generate", -1)
    with pytest.raises(AirflowFailException, match="never learned whether the gateway accepted it"):
        next_try(store, 2)
    assert accepted(simulator) == 2

    why = ["--by", "alice", "--reason", "not in the gateway's task list"]
    assert main(["resolve", *run, "--item", "1", "--mark-lost", "--apply", *why]) == 0
    assert store.get(item_key(IN_FLIGHT_KEY, 1)) is None
    [decision] = store.get(DECISION_KEY)
    assert (decision["item"], decision["key"], decision["by"]) == (1, item_key(IN_FLIGHT_KEY, 1), "alice")
    assert decision["marker"]["phase"] == "sending"
    paid = store.get(item_key(RECORD_KEY, 0))["id"]  # item 0's record is untouched
    capsys.readouterr()
    assert main(["list", *run]) == 0
    assert "0 uncertain submission(s)" in capsys.readouterr().out

    # The simulator loses item 1's answer again (its prompt says so): one create, none for item 0.
    with pytest.raises(AirflowFailException, match=r"item 1 of the batch"):
        next_try(store, 3)
    assert accepted(simulator) == 3
    assert store.get(item_key(RECORD_KEY, 0))["id"] == paid
