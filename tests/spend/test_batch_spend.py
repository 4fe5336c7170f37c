"""The spend guard in a ``VideoGenerationBatchOperator``, through ``dag.test()``, the simulator and SeaweedFS.

The same cases as ``test_operator_guard.py`` for one video, item by item (issue 23): in one DAG run
(``test_batch_spend``, two batch tasks), ``max_credits`` refuses before anything of the batch is sent,
and with a budget each item reserves and settles its own entry in the ledger, and a batch that does
not fit stops before the item that does not, keeping the paid ones in view (ids, Video link); a try
that died in the middle of a batch is settled by its retry on the same reservations.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from tests.operators.test_generation_operator import ti_of, xcom
from tests.spend.test_operator_guard import simulator_credits
from tests.spend.test_reservation_rules import ledger_doc

pytestmark = pytest.mark.s3

VIDEO = Decimal("46.08")  # veo3.1-fast, 8 s, 720p, no audio


@pytest.mark.dagrun
@pytest.mark.usefixtures("airflow_db")
def test_a_batch_over_max_credits_or_over_the_budget_sends_nothing(
    run_dag: Any, with_budget: Any, simulator: Any, log_text: Any
) -> None:
    ledger = with_budget(VIDEO * 2)
    simulator.configure(render_seconds=0.5)
    dagrun = run_dag("test_batch_spend")
    text = log_text()

    # over_cap: item 0 is under the cap; before the fix it was created (and billed) before item 1 was refused.
    over_cap = ti_of(dagrun, "over_cap")
    assert (over_cap.state, over_cap.try_number) == ("failed", 1), "a cap refusal must not be retried"
    assert not any("the cap" in r["body"]["prompt"] for r in simulator.stats()["generation_requests"])
    assert "Request 1 of the batch" in text, text[-3000:]
    assert "would cost 46.08 credits ($0.64: 8 s x 5.76 credits/s (720p)), more than max_credits=40" in text
    assert "Nothing was sent" in text
    assert xcom(dagrun, "over_cap", key="_link_VideoLink") == ""  # nothing submitted: no Video link
    assert xcom(dagrun, "over_cap", key="videogen_task_ids") is None

    # over_budget: three videos for a budget of two: refused before the first create (nothing
    # reserved, nothing sent), instead of paying for two and failing at the third.
    over_budget = ti_of(dagrun, "over_budget")
    assert (over_budget.state, over_budget.try_number) == ("failed", 1), "a budget refusal must not be retried"
    assert simulator_credits(simulator) == {}
    assert "Not submitting the batch: its 3 new video(s) would cost 138.24 credits" in text, text[-3000:]
    assert ledger.read(ledger.config.key("total")) is None  # not one reservation was written
    assert xcom(dagrun, "over_budget", key="videogen_task_ids") is None


class _Crash:
    """Delegates to an item's real spend guard; raises at one point (the test's fault, as a killed worker)."""

    def __init__(self, guard: Any, at: str) -> None:
        self._guard, self._at = guard, at

    def __getattr__(self, name: str) -> Any:
        return getattr(self._guard, name)

    def reserve(self, store: Any) -> None:
        self._guard.reserve(store)
        if self._at == "reserve":
            raise RuntimeError("simulated crash after reserving")

    def settle(self, store: Any, task: Any) -> None:
        if self._at == "create":
            raise RuntimeError(f"simulated crash after creating {task.id}")
        self._guard.settle(store, task)


@pytest.mark.parametrize("at", ["reserve", "create"])
def test_a_try_that_died_in_the_middle_of_a_batch_is_settled_by_its_retry_on_the_same_reservations(
    with_budget: Any, simulator: Any, at: str
) -> None:
    """As ``test_operator_guard``'s crashed try, for item 1 of a batch: one create and one settled entry per item."""
    from airflow.sdk.exceptions import TaskDeferred

    from airflow_provider_videogen.operators.batch import VideoGenerationBatchOperator, _BatchItem
    from tests.operators.test_submission_money import Store
    from tests.spend.test_reservation_rules import TI

    class CrashingItem(_BatchItem):
        def _submit_or_reattach(self, context: Any, request: Any) -> Any:
            if self.batch_index == 1 and context["ti"].try_number == 1:
                self._spend = _Crash(self._spend, at)  # type: ignore[assignment]
            return super()._submit_or_reattach(context, request)

    class Batch(VideoGenerationBatchOperator):
        def _child(self, index: int, fields: dict[str, Any]) -> _BatchItem:
            child = super()._child(index, fields)
            child.__class__ = CrashingItem
            return child

    ledger = with_budget(VIDEO * 10)
    store = Store()
    requests = [f"[sim:render=30] crashed batch {at} {i}" for i in range(2)]

    def run(try_number: int) -> Any:
        op = Batch(task_id="generate", requests=requests, model="veo3.1-fast", duration=8, poll_interval=1)
        with pytest.raises(TaskDeferred) as deferred:
            op.execute({"ti": TI(try_number, run_id=f"crash-{at}"), "task_state_store": store})  # type: ignore[arg-type]
        return deferred.value.trigger

    with pytest.raises(RuntimeError, match="simulated crash"):
        run(1)
    trigger = run(2)
    paid = simulator_credits(simulator)
    assert len(paid) == 2, paid  # one create per item: the retry re-attached or re-used, never paid twice
    assert {item["remote_task_id"] for item in trigger.items} == set(paid)
    doc = ledger_doc(ledger)
    assert sorted(entry.state for entry in doc.entries.values()) == ["settled", "settled"], doc
    assert {entry.remote_id for entry in doc.entries.values()} == set(paid)
    assert all(rid.startswith(f"budget_dag/crash-{at}/generate/-1#1.") for rid in doc.entries), sorted(doc.entries)
    assert doc.held() == sum(paid.values()) == VIDEO * 2
