"""The spend guard in a ``VideoGenerationBatchOperator``, through ``dag.test()``, the simulator and SeaweedFS.

The same cases as ``test_operator_guard.py`` for one video, item by item (issue 23): ``max_credits``
refuses before anything of the batch is sent; with a budget each item reserves and settles its
own entry in the ledger, and a batch that does not fit stops before the item that does not.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from airflow_provider_videogen.links.view import videos_view_url
from tests.operators.test_generation_operator import ti_of, xcom
from tests.spend.test_operator_guard import simulator_credits
from tests.spend.test_reservation_rules import ledger_doc

pytestmark = [pytest.mark.usefixtures("airflow_db"), pytest.mark.dagrun]

VIDEO = Decimal("46.08")  # veo3.1-fast, 8 s, 720p, no audio


def test_an_item_over_max_credits_refuses_the_batch_before_anything_is_sent(
    run_dag: Any, simulator: Any, videogen_conn: str, log_text: Any
) -> None:
    """Item 0 is under the cap: before the fix it was created (and billed) before item 1 was refused."""
    dagrun = run_dag("test_batch_spend_cap")
    assert dagrun.state == "failed"
    assert ti_of(dagrun).try_number == 1, "a cap refusal must not be retried"
    assert simulator.stats()["generation"]["creates"] == 0
    text = log_text()
    assert "request 1 of the batch" in text, text[-3000:]
    assert "would cost 46.08 credits ($0.64: 8 s x 5.76 credits/s (720p)), more than max_credits=40" in text
    assert "Nothing was sent" in text
    assert xcom(dagrun, key="_link_VideoLink") == ""  # nothing submitted: no Video link
    assert xcom(dagrun, key="videogen_task_ids") is None


@pytest.mark.s3
def test_a_batch_stops_before_the_item_the_budget_cannot_hold_and_its_items_settle(
    run_dag: Any, with_budget: Any, simulator: Any, log_text: Any
) -> None:
    ledger = with_budget(VIDEO * 2)
    simulator.configure(render_seconds=0.5)
    dagrun = run_dag("test_batch_spend_budget")
    assert dagrun.state == "failed"
    ti = ti_of(dagrun)
    assert ti.try_number == 1, "a budget refusal must not be retried"
    paid = simulator_credits(simulator)
    assert len(paid) == 2, paid  # items 0 and 1; item 2 was never sent
    doc = ledger_doc(ledger)
    assert sorted(entry.state for entry in doc.entries.values()) == ["settled", "settled"], doc
    assert {entry.remote_id for entry in doc.entries.values()} == set(paid)
    assert doc.held() == sum(paid.values()) == VIDEO * 2
    # One reservation per item, each under the task instance's key with the item's own nonce.
    key = f"test_batch_spend_budget/{dagrun.run_id}/generate/-1#1."
    assert all(rid.startswith(key) for rid in doc.entries), sorted(doc.entries)
    text = log_text()
    assert "would cost 46.08 credits" in text
    assert "Stopped at request 2 of 3" in text, text[-3000:]
    # The two paid videos are not lost from view: their ids and the Video link are there.
    assert sorted(xcom(dagrun, key="videogen_task_ids")) == sorted(paid)
    assert xcom(dagrun, key="_link_VideoLink") == videos_view_url(ti.key)
