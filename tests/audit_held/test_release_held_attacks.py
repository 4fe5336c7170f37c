"""Hostile audit of ``uncertain release-held``: records that lie or go stale must not free billing money.

The invariant: what the simulator billed is never more than what the budget's ledger holds. Each
test builds its task instances the way ``tests/spend/test_held_reservations.py`` does: real runs
of a DAG that fails before any request (``dag.test()``), Airflow's own task state store rows, the
operator's real tries against the simulator, and the ledger on SeaweedFS. A lost create answer is
the simulator's ``[sim:create_status=502]``: the task IS created and billed, the client sees a 502.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_videogen.held_reservations import find_held, release_held
from airflow_provider_videogen.operators.videogen import VideoGenerationOperator
from airflow_provider_videogen.spend.reservation import SPEND_KEY
from airflow_provider_videogen.uncertain import ENDED_STATES, main
from tests.operators.test_submission_money import Store
from tests.spend.test_held_reservations import DAG_ID, VIDEO, airflow_rows, long_gone
from tests.spend.test_reservation_rules import TI, Killed, billed, killed_before_sending, ledger_doc

# dag.test() runs: in the suite, not in make unit
pytestmark = [pytest.mark.dagrun, pytest.mark.usefixtures("airflow_db", "forget_our_records")]

LOST = "a cat [sim:create_status=502]"  # created and billed; the answer is lost


def one_try(store: Store, try_number: int, run_id: str, prompt: str = LOST) -> Any:
    op = VideoGenerationOperator(
        task_id="generate", model="veo3.1-fast", prompt=prompt, duration=8, wait_for_completion=False
    )
    return op.execute({"ti": TI(try_number, dag_id=DAG_ID, run_id=run_id), "task_state_store": store})  # type: ignore[arg-type]


def write_record(run_id: str, record: dict[str, Any]) -> None:
    """The task instance's store row as Airflow keeps it (what a try, or a hand edit, left there)."""
    from airflow.state import TaskScope, get_state_backend

    scope = TaskScope(dag_id=DAG_ID, run_id=run_id, task_id="generate", map_index=-1)
    get_state_backend().set(scope, SPEND_KEY, json.dumps(record))
    long_gone(run_id)


def covered(ledger: Any, simulator: Any) -> bool:
    return billed(simulator) <= ledger_doc(ledger).held()


def test_a_try_that_sent_under_the_reservation_after_it_was_listed_keeps_it_held(
    simulator: Any, with_budget: Any, run_dag: Any
) -> None:
    """Listed as 'nothing sent'; then cleared, re-used, sent (and billed) and failed again before the release."""
    from airflow.utils.session import create_session

    ledger = with_budget(VIDEO * 2)
    run_id = run_dag(DAG_ID).run_id
    first = killed_before_sending()
    with pytest.raises(Killed):
        one_try(first, 1, run_id)
    write_record(run_id, first.rows[SPEND_KEY])
    with create_session() as session:
        (item,) = find_held(session, DAG_ID, run_id, ENDED_STATES)
        assert item.nothing_sent

        # Meanwhile: a clear, a try that re-uses the reservation (nothing was sent under it), sends the
        # create (billed, answer lost) and fails for good again. Its store now says "sent".
        retry = Store()
        retry.rows.update(first.rows)
        with pytest.raises(AirflowFailException, match="may have reached the gateway"):
            one_try(retry, 2, run_id)
        assert retry.rows[SPEND_KEY]["reservation_id"] == item.record.reservation_id
        assert retry.rows[SPEND_KEY]["sent"] is True
        write_record(run_id, retry.rows[SPEND_KEY])
        assert covered(ledger, simulator)

        done = release_held(session, item, ledger, ENDED_STATES, by="auditor", reason="")
    assert covered(ledger, simulator), ("a billed create counts against nothing", ledger_doc(ledger))
    assert "its record changed since it was listed" in done, done
    assert airflow_rows(run_id)[SPEND_KEY]["sent"] is True


def test_a_record_naming_another_task_instances_reservation_never_releases_it(
    simulator: Any, with_budget: Any, run_dag: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """A store row copied from (or edited to name) another run's reservation, which a create is billing."""
    ledger = with_budget(VIDEO * 2)
    billing, forged = (run_dag(DAG_ID).run_id for _ in range(2))
    store = Store()
    with pytest.raises(AirflowFailException, match="may have reached the gateway"):
        one_try(store, 1, billing)
    write_record(billing, store.rows[SPEND_KEY])
    write_record(forged, {**store.rows[SPEND_KEY], "sent": False})
    assert covered(ledger, simulator)

    apply = ["release-held", "--dag-id", DAG_ID, "--run-id", forged, "--conn-id", "videogen_default", "--apply"]
    assert main(apply) == 0
    out = capsys.readouterr().out
    assert covered(ledger, simulator), ("a billed create counts against nothing", out, ledger_doc(ledger))
    assert "does not name this task instance's own reservation" in out
    assert airflow_rows(forged)[SPEND_KEY]["state"] == "reserved"


def test_a_stale_record_of_a_settled_reservation_is_not_called_released(
    simulator: Any, with_budget: Any, run_dag: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """The store went back to 'reserved, nothing sent' (a restored backup) for an entry a create settled."""
    ledger = with_budget(VIDEO * 2)
    run_id = run_dag(DAG_ID).run_id
    first = killed_before_sending()
    with pytest.raises(Killed):
        one_try(first, 1, run_id, prompt="a cat")
    stale = dict(first.rows[SPEND_KEY])
    result = one_try(first, 2, run_id, prompt="a cat")  # re-uses it, sends, settles
    (entry,) = ledger_doc(ledger).entries.values()
    assert (entry.state, entry.remote_id) == ("settled", result["id"])
    write_record(run_id, stale)

    apply = ["release-held", "--dag-id", DAG_ID, "--run-id", run_id, "--conn-id", "videogen_default", "--apply"]
    assert main(apply) == 0
    out = capsys.readouterr().out
    assert not [line for line in out.splitlines() if line.startswith("released:")], out
    assert f"settled for remote task {result['id']}" in out
    (entry,) = ledger_doc(ledger).entries.values()
    assert entry.state == "settled"
    assert covered(ledger, simulator)
    record = airflow_rows(run_id)[SPEND_KEY]
    assert (record["state"], record["sent"]) == ("settled", True), record


def test_a_clear_between_the_listing_and_the_release_is_never_released(
    simulator: Any, with_budget: Any, run_dag: Any
) -> None:
    """A guarantee (not an attack that worked): the state is read again under the task instance's row lock."""
    from airflow.utils.session import create_session

    from tests.spend.test_held_reservations import clear_state

    ledger = with_budget(VIDEO * 2)
    run_id = run_dag(DAG_ID).run_id
    first = killed_before_sending()
    with pytest.raises(Killed):
        one_try(first, 1, run_id)
    write_record(run_id, first.rows[SPEND_KEY])
    with create_session() as session:
        (item,) = find_held(session, DAG_ID, run_id, ENDED_STATES)
    clear_state(run_id)
    with create_session() as session:
        done = release_held(session, item, ledger, ENDED_STATES, by="auditor", reason="")
    assert done.startswith("not releasing"), done
    assert "now cleared" in done, done
    assert [e.state for e in ledger_doc(ledger).entries.values()] == ["reserved"]


def test_a_task_instance_marked_failed_while_its_try_runs_is_not_released_under_that_try(
    simulator: Any, with_budget: Any, run_dag: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """The user marks a running try failed: the state has ended, the process sends until its supervisor stops it.

    The try has taken its reservation (nothing sent yet, the store says so) when ``release-held``
    runs; then it sends its create (billed, answer lost). Its supervisor heartbeat a moment ago.
    """
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import update

    from airflow_provider_videogen.clock import utcnow
    from airflow_provider_videogen.operators.reattach import IN_FLIGHT_KEY

    ledger = with_budget(VIDEO * 2)
    run_id = run_dag(DAG_ID).run_id
    apply = ["release-held", "--dag-id", DAG_ID, "--run-id", run_id, "--conn-id", "videogen_default", "--apply"]
    outcome: list[str] = []

    class MarkedFailedMeanwhile(Store):
        """The running try's store; its 'prepared' marker is written after the reservation, before the create."""

        def set(self, key: str, value: Any, retention: Any = None) -> None:
            super().set(key, value, retention)
            if key == IN_FLIGHT_KEY and value.get("phase") == "prepared" and not outcome:
                write_record(run_id, self.rows[SPEND_KEY])
                with create_session() as session:
                    beat = update(TaskInstance).where(TaskInstance.run_id == run_id).values(last_heartbeat_at=utcnow())
                    session.execute(beat)
                assert main(apply) == 0
                outcome.append(capsys.readouterr().out)

    with pytest.raises(AirflowFailException, match="may have reached the gateway"):
        one_try(MarkedFailedMeanwhile(), 1, run_id)
    assert outcome, "release-held did not run while the try ran"
    assert covered(ledger, simulator), ("a billed create counts against nothing", outcome, ledger_doc(ledger))
    assert "task_instance_heartbeat_timeout" in outcome[0], outcome


def test_a_crash_between_the_ledger_release_and_the_store_write_is_safe_for_the_next_try_and_release(
    simulator: Any, with_budget: Any, run_dag: Any
) -> None:
    """A guarantee: the ledger released it, the store still says 'reserved, nothing sent' (the CLI died)."""
    ledger = with_budget(VIDEO * 2)
    run_id = run_dag(DAG_ID).run_id
    first = killed_before_sending()
    with pytest.raises(Killed):
        one_try(first, 1, run_id, prompt="a cat")
    write_record(run_id, first.rows[SPEND_KEY])
    record = first.rows[SPEND_KEY]
    ledger.release(record["reservation_id"], period_id=record["period_id"], reason="release-held, then killed")

    # A second release-held finishes the job (the ledger's release is idempotent).
    apply = ["release-held", "--dag-id", DAG_ID, "--run-id", run_id, "--conn-id", "videogen_default", "--apply"]
    assert main(apply) == 0
    assert airflow_rows(run_id)[SPEND_KEY]["state"] == "released"

    # Or a cleared try that read the stale record first: it finds the entry released and takes a new one.
    stale = Store()
    stale.rows[SPEND_KEY] = record
    result = one_try(stale, 2, run_id, prompt="a cat")
    doc = ledger_doc(ledger)
    assert sorted((e.state, e.remote_id) for e in doc.entries.values()) == [
        ("released", None),
        ("settled", result["id"]),
    ]
    assert covered(ledger, simulator)
