"""``uncertain held`` / ``release-held`` on a batch task instance: one reservation per item (issue 23).

A batch (``VideoGenerationBatchOperator``) keeps each item's reservation under
``videogen_spend_reservation__item<i>``, every one with the task instance's reservation key and
its own nonce. Built as ``tests/spend/test_held_reservations.py`` builds its task instances: a real
failed run (``dag.test()`` of a DAG that fails before any request), Airflow's own task state store
rows, the operator's real try against the simulator, the ledger on SeaweedFS. The try dies after
item 0's create was sent and before item 1's was: item 1's reservation (nothing sent) is listed
and released from its own key; item 0's stays held; a reservation id that two item keys name (a
copied row) is never released.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_provider_videogen.held_reservations import find_held, release_held
from airflow_provider_videogen.operators.batch import VideoGenerationBatchOperator, item_key
from airflow_provider_videogen.operators.reattach import IN_FLIGHT_KEY
from airflow_provider_videogen.spend.reservation import SPEND_KEY
from airflow_provider_videogen.uncertain import ENDED_STATES, main
from tests.spend.test_held_reservations import DAG_ID, VIDEO, copy_to_airflow, long_gone
from tests.spend.test_reservation_rules import TI, DyingStore, Killed, billed, ledger_doc

pytestmark = [pytest.mark.dagrun, pytest.mark.usefixtures("airflow_db", "forget_our_records")]

REQUESTS = ["[sim:render=30] sent", "never sent"]


def killed_between_items(run_id: str, store: DyingStore | None = None, *, copy: bool = True) -> DyingStore:
    """A batch try that submits item 0 and dies before item 1's create (its marker's first write)."""
    store = store or DyingStore(item_key(IN_FLIGHT_KEY, 1))
    op = VideoGenerationBatchOperator(task_id="generate", requests=REQUESTS, model="veo3.1-fast", duration=8)
    with pytest.raises(Killed):
        op.execute({"ti": TI(1, dag_id=DAG_ID, run_id=run_id), "task_state_store": store})  # type: ignore[arg-type]
    if copy:
        copy_to_airflow(store, run_id)
    return store


def stored(run_id: str, key: str) -> dict[str, Any]:
    from airflow.state import TaskScope, get_state_backend

    raw = get_state_backend().get(TaskScope(dag_id=DAG_ID, run_id=run_id, task_id="generate", map_index=-1), key)
    return json.loads(raw) if raw else {}


def entry_states(ledger: Any) -> dict[str, str]:
    return {rid: e.state for rid, e in ledger_doc(ledger).entries.items()}


def test_a_batch_items_reservation_nothing_was_sent_under_is_released_from_its_own_key(
    simulator: Any, with_budget: Any, run_dag: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    ledger = with_budget(VIDEO * 3)
    run_id = run_dag(DAG_ID).run_id
    store = killed_between_items(run_id)
    sent, unsent = (store.rows[item_key(SPEND_KEY, i)]["reservation_id"] for i in (0, 1))
    assert sent != unsent
    assert sent.split("#")[0] == unsent.split("#")[0] == f"{DAG_ID}/{run_id}/generate/-1"
    assert entry_states(ledger)[unsent] == "reserved"

    assert main(["held", "--dag-id", DAG_ID, "--run-id", run_id]) == 0
    out = capsys.readouterr().out
    where = f"{DAG_ID} {run_id} generate item 1 (store key {item_key(SPEND_KEY, 1)}): reservation {unsent} "
    assert where in out
    assert "nothing was sent under it" in out

    apply = ["release-held", "--dag-id", DAG_ID, "--run-id", run_id, "--conn-id", "videogen_default", "--apply"]
    assert main(apply) == 0
    out = capsys.readouterr().out
    assert f"released: {where}" in out
    states = entry_states(ledger)
    assert states[unsent] == "released"
    assert states[sent] != "released"
    assert stored(run_id, item_key(SPEND_KEY, 1))["state"] == "released"
    assert stored(run_id, item_key(SPEND_KEY, 0)) == store.rows[item_key(SPEND_KEY, 0)]  # untouched
    assert stored(run_id, SPEND_KEY) == {}  # nothing written under the single-video key
    assert billed(simulator) <= ledger_doc(ledger).held()


def test_a_reservation_two_item_keys_name_is_never_released(
    simulator: Any, with_budget: Any, run_dag: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """Item 0's row (a create may have been sent under it) copied under item 2's key as 'nothing sent'.

    Listed before item 0's row was there, the copy is still refused at release (the store is read
    again under the task instance's lock); listed after, it is not offered for release at all.
    """
    from airflow.state import TaskScope, get_state_backend
    from airflow.utils.session import create_session

    ledger = with_budget(VIDEO * 3)
    run_id = run_dag(DAG_ID).run_id
    sending = DyingStore(item_key(SPEND_KEY, 0), lambda value: value.get("sent") is True, after=True)
    store = killed_between_items(run_id, sending, copy=False)
    maybe_sent = store.rows[item_key(SPEND_KEY, 0)]
    assert (maybe_sent["state"], maybe_sent["sent"]) == ("reserved", True)
    scope = TaskScope(dag_id=DAG_ID, run_id=run_id, task_id="generate", map_index=-1)
    get_state_backend().set(scope, item_key(SPEND_KEY, 2), json.dumps({**maybe_sent, "sent": False}))
    long_gone(run_id)
    with create_session() as session:
        (listed,) = find_held(session, DAG_ID, run_id, ENDED_STATES)
    assert (listed.item, listed.nothing_sent) == (2, True)

    copy_to_airflow(store, run_id)  # item 0's row, naming the same reservation
    with create_session() as session:
        done = release_held(session, listed, ledger, ENDED_STATES, by="auditor", reason="")
    assert f"key {item_key(SPEND_KEY, 0)} of the same task instance names the same reservation" in done, done
    assert entry_states(ledger)[maybe_sent["reservation_id"]] == "reserved"

    assert main(["held", "--dag-id", DAG_ID, "--run-id", run_id]) == 0
    out = capsys.readouterr().out
    assert f"key {item_key(SPEND_KEY, 0)} of the same task instance names it too" in out
    assert "2 held reservation(s), 0 with nothing sent" in out
    apply = ["release-held", "--dag-id", DAG_ID, "--run-id", run_id, "--conn-id", "videogen_default", "--apply"]
    assert main(apply) == 0
    assert entry_states(ledger)[maybe_sent["reservation_id"]] == "reserved"
    assert stored(run_id, item_key(SPEND_KEY, 2))["state"] == "reserved"
