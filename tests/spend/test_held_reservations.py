"""Held reservations nobody will resolve: listed, and released only where nothing was sent.

The chaos runs found it (CHAOS.md, finding 4): a try killed between its reservation and its create,
whose task instance then fails for good, leaves the estimate held in the ledger for the rest of the
period, and nothing listed it. Here two task instances die that way on a real ledger (SeaweedFS)
and Airflow's own task state store rows: one before sending (provably nothing sent), one after
marking its reservation sent (a create may be billing). Their runs are real (``dag.test()`` of a
DAG whose ``generate`` fails before any request), so the task instances are ``failed`` for good.
``uncertain held`` lists both; ``release-held --apply`` frees only the first, and a later clear of
it submits once, within budget. A cleared task instance (state ``None``: about to run and re-use
its reservation) is never released.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from airflow_provider_videogen.operators.videogen import VideoGenerationOperator
from airflow_provider_videogen.spend.reservation import SPEND_KEY
from airflow_provider_videogen.uncertain import main
from tests.operators.test_submission_money import Store, accepted
from tests.spend.test_reservation_rules import TI, DyingStore, Killed, killed_before_sending, ledger_doc

# dag.test() runs: in the suite, not in make unit
pytestmark = [pytest.mark.dagrun, pytest.mark.usefixtures("airflow_db")]

DAG_ID = "test_generation_templated_invalid"  # tests/dag_files/generation_dags.py: fails, sends nothing
VIDEO = Decimal("46.08")  # veo3.1-fast, 8 s, at the test prices


def copy_to_airflow(store: Store, run_id: str) -> None:
    """What the task instance's store held, as Airflow's backend keeps it; its try's process long gone."""
    from airflow.state import TaskScope, get_state_backend

    scope = TaskScope(dag_id=DAG_ID, run_id=run_id, task_id="generate", map_index=-1)
    for key, value in store.rows.items():
        get_state_backend().set(scope, key, json.dumps(value))
    long_gone(run_id)


def long_gone(run_id: str) -> None:
    """The run's tries heartbeat an hour ago: no process of theirs can still send (``release_held``)."""
    from datetime import timedelta

    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import update

    from airflow_provider_videogen.clock import utcnow

    with create_session() as session:
        hour_ago = utcnow() - timedelta(hours=1)
        session.execute(update(TaskInstance).where(TaskInstance.run_id == run_id).values(last_heartbeat_at=hour_ago))


def airflow_rows(run_id: str) -> dict[str, Any]:
    from airflow.state import TaskScope, get_state_backend

    scope = TaskScope(dag_id=DAG_ID, run_id=run_id, task_id="generate", map_index=-1)
    raw = get_state_backend().get(scope, SPEND_KEY)
    return {SPEND_KEY: json.loads(raw)} if raw else {}


def clear_state(run_id: str) -> None:
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import update

    with create_session() as session:
        session.execute(update(TaskInstance).where(TaskInstance.run_id == run_id).values(state=None))


def one_try(store: Store, try_number: int, run_id: str) -> Any:
    op = VideoGenerationOperator(
        task_id="generate", model="veo3.1-fast", prompt="a cat", duration=8, wait_for_completion=False
    )
    ti = TI(try_number, dag_id=DAG_ID, run_id=run_id)
    return op.execute({"ti": ti, "task_state_store": store})  # type: ignore[arg-type]


def test_only_a_reservation_nothing_was_sent_under_is_released(
    simulator: Any, with_budget: Any, run_dag: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    ledger = with_budget(VIDEO * 3)  # room for three videos: all held leaves none
    unsent, maybe_sent, cleared_run = (run_dag(DAG_ID).run_id for _ in range(3))
    assert accepted(simulator) == 0
    third = killed_before_sending()
    with pytest.raises(Killed):
        one_try(third, 1, cleared_run)
    copy_to_airflow(third, cleared_run)
    clear_state(cleared_run)  # cleared by a user: its next try re-uses the reservation
    first = killed_before_sending()
    with pytest.raises(Killed):
        one_try(first, 1, unsent)
    second = DyingStore(SPEND_KEY, lambda value: value.get("sent") is True, after=True)
    with pytest.raises(Killed):
        one_try(second, 1, maybe_sent)
    copy_to_airflow(first, unsent)
    copy_to_airflow(second, maybe_sent)
    assert sorted(e.state for e in ledger_doc(ledger).entries.values()) == ["reserved"] * 3

    assert main(["held", "--dag-id", DAG_ID]) == 0
    out = capsys.readouterr().out
    assert "2 held reservation(s), 1 with nothing sent" in out
    assert f"{DAG_ID} {unsent} generate: reservation " in out
    assert "nothing was sent under it" in out
    assert "a create may have been sent under it" in out

    assert main(["release-held", "--dag-id", DAG_ID, "--conn-id", "videogen_default"]) == 0
    assert "dry run" in capsys.readouterr().out
    assert sorted(e.state for e in ledger_doc(ledger).entries.values()) == ["reserved"] * 3

    assert main(["release-held", "--dag-id", DAG_ID, "--conn-id", "videogen_default", "--apply"]) == 0
    states = {rid.split("/")[1]: e.state for rid, e in ledger_doc(ledger).entries.items()}
    assert states == {unsent: "released", maybe_sent: "reserved", cleared_run: "reserved"}, states
    assert airflow_rows(unsent)[SPEND_KEY]["state"] == "released"
    assert airflow_rows(maybe_sent)[SPEND_KEY]["state"] == "reserved"
    assert main(["held", "--dag-id", DAG_ID]) == 0
    assert "1 held reservation(s), 0 with nothing sent" in capsys.readouterr().out

    # A clear of the released one: one create, under a new reservation the budget can hold.
    cleared = Store()
    cleared.rows.update(airflow_rows(unsent))
    result = one_try(cleared, 2, unsent)
    assert accepted(simulator) == 1
    settled = [e for e in ledger_doc(ledger).entries.values() if e.state == "settled"]
    assert [e.remote_id for e in settled] == [result["id"]]
