"""The budget's reservation rules in the operators (issue 21, points 1, 2, 3 and 5).

Each test runs the generation operator's ``execute`` try after try against the simulator (over
loopback) with the budget's ledger on SeaweedFS, sharing an in-memory task state store between
the tries of one task instance (as in ``tests/operators/test_submission_money.py``). A lost
create answer is the simulator's ``[sim:create_status=502]``: the task IS created and billed,
the client only sees a 502.

The invariant every test checks: what the simulator billed is never more than what the ledger
holds, and the ledger never holds more than the budget except for creates that were provably
already billing.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_videogen.operators.reattach import IN_FLIGHT_KEY
from airflow_provider_videogen.operators.videogen import VideoGenerationOperator
from airflow_provider_videogen.spend.guard import SPEND_KEY
from tests.operators.test_submission_money import Store

if TYPE_CHECKING:
    from airflow_provider_videogen.simulator import SimulatorServer
    from airflow_provider_videogen.spend.ledger import LedgerDocument, S3Ledger

SMALL = Decimal("34.56")  # veo3.1-fast, 6 s, 720p
VIDEO = Decimal("46.08")  # veo3.1-fast, 8 s, 720p
LOST = "[sim:create_status=502]"  # the task is created (and billed); the answer is a 502


class TI:
    """The parts of a task instance the operator reads: ids (the reservation's key) and the try."""

    def __init__(self, try_number: int, *, dag_id: str = "budget_dag", run_id: str = "scheduled__2026-03-01") -> None:
        self.try_number = try_number
        self.dag_id, self.run_id, self.task_id, self.map_index = dag_id, run_id, "generate", -1
        self.xcoms: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcoms[key] = value


def run_try(store: Store | None, try_number: int, prompt: str, **kwargs: Any) -> Any:
    fields: dict[str, Any] = {"model": "veo3.1-fast", "duration": 8, **kwargs}
    op = VideoGenerationOperator(task_id="generate", prompt=prompt, wait_for_completion=False, **fields)
    context: dict[str, Any] = {"ti": TI(try_number)}
    if store is not None:
        context["task_state_store"] = store
    return op.execute(context)  # type: ignore[arg-type]


def set_connection(monkeypatch: pytest.MonkeyPatch, simulator: SimulatorServer, extra: dict[str, Any]) -> None:
    conn = {"conn_type": "videogen", "host": simulator.url, "password": simulator.api_key, "extra": extra}
    monkeypatch.setenv("AIRFLOW_CONN_VIDEOGEN_DEFAULT", json.dumps(conn))


def budget_extra(bucket: str, aws_conn_id: str, credits: Decimal) -> dict[str, Any]:
    ledger = f"s3://{bucket}/budgets"
    budget = {"credits": str(credits), "period": "total", "ledger": ledger, "aws_conn_id": aws_conn_id, "name": "k"}
    return {"retry_backoff": 0.05, "budget": budget}


def ledger_doc(ledger: S3Ledger) -> LedgerDocument:
    doc = ledger.read(ledger.config.key("total"))
    assert doc is not None, "no ledger object was written"
    return doc


def billed(simulator: SimulatorServer) -> Decimal:
    """What the simulator billed: ``credits_reserved`` of every task it created, asked of the simulator."""
    headers = {"Authorization": f"Bearer {simulator.api_key}"}
    total = Decimal(0)
    for task_id, entry in simulator.stats()["tasks"].items():
        if entry["api"] == "generation":
            body = httpx.get(f"{simulator.url}/v1/tasks/{task_id}", headers=headers).json()
            total += Decimal(str(body["usage"]["credits_reserved"]))
    return total


def accepted(simulator: SimulatorServer) -> int:
    return int(simulator.stats()["generation"]["creates_accepted"])


def assert_ledger_covers_billing(ledger: S3Ledger, simulator: SimulatorServer) -> LedgerDocument:
    doc = ledger_doc(ledger)
    assert billed(simulator) <= doc.held(), (billed(simulator), doc.model_dump_json(indent=1))
    return doc


# ---- point 1: a reservation belongs to one request ---------------------------------------------------


def test_an_edited_request_after_a_lost_answer_takes_a_new_reservation_checked_against_the_budget(
    simulator: SimulatorServer, with_budget: Any
) -> None:
    """The issue's numbers: 50 credits; 34.56 lost its answer; the DAG is edited to 646.96 and cleared."""
    ledger = with_budget(Decimal(50))
    store = Store()
    with pytest.raises(AirflowFailException, match="may have reached the gateway"):
        run_try(store, 1, f"a cat {LOST}", duration=6)
    assert accepted(simulator) == 1
    edited = {"model": "veo-3.1-fast-generate-preview", "n": 4, "quality": "4k", "generate_audio": True}
    with pytest.raises(AirflowFailException, match=r"budget 'k' \(50 credits in total.*would cost 646.9632 credits"):
        run_try(store, 2, "a cat, edited", **edited)
    assert accepted(simulator) == 1, "the edited request was sent although the budget cannot hold it"
    doc = assert_ledger_covers_billing(ledger, simulator)
    ((rid, entry),) = doc.entries.items()
    assert (entry.state, entry.estimate) == ("reserved", SMALL), "the first create may be billing: it stays held"
    assert rid.startswith("budget_dag/scheduled__2026-03-01/generate/-1#1.")


def test_an_edited_request_that_fits_holds_its_own_reservation_beside_the_first(
    simulator: SimulatorServer, with_budget: Any, log_text: Any
) -> None:
    ledger = with_budget(SMALL + VIDEO)
    store = Store()
    with pytest.raises(AirflowFailException):
        run_try(store, 1, f"a cat {LOST}", duration=6)
    second = run_try(store, 2, "a cat, edited")
    assert accepted(simulator) == 2
    doc = assert_ledger_covers_billing(ledger, simulator)
    states = sorted((e.state, e.estimate, e.remote_id) for e in doc.entries.values())
    assert states == [("reserved", SMALL, None), ("settled", VIDEO, second["id"])]
    text = log_text()
    assert "stays held: a create may have been sent under it" in text
    assert f"Submitted remote task {second['id']}" in text


class Killed(BaseException):
    """The worker process dies (SIGKILL, OOM): nothing after this line of the try runs."""


class DyingStore(Store):
    """A task state store whose process dies at the first write of ``key`` matching ``when``."""

    def __init__(self, key: str, when: Any = lambda value: True, *, after: bool = False) -> None:
        super().__init__()
        self.key, self.when, self.armed, self.after = key, when, True, after

    def set(self, key: str, value: Any, retention: Any = None) -> None:
        if self.armed and key == self.key and self.when(value):
            self.armed = False
            if self.after:
                super().set(key, value, retention)
            raise Killed(f"killed {'after' if self.after else 'before'} writing {key}")
        super().set(key, value, retention)


def killed_before_sending() -> DyingStore:
    """Dies before the in-flight marker is written: provably nothing was sent."""
    return DyingStore(IN_FLIGHT_KEY)


def test_a_reservation_nothing_was_sent_under_is_released_when_the_request_changes(
    simulator: SimulatorServer, with_budget: Any
) -> None:
    ledger = with_budget(VIDEO + SMALL / 2)
    store = killed_before_sending()
    with pytest.raises(Killed):
        run_try(store, 1, "a cat")
    assert accepted(simulator) == 0
    second = run_try(store, 2, "a cat, edited", duration=6)  # fits: try 1's reservation held nothing sent
    doc = assert_ledger_covers_billing(ledger, simulator)
    states = sorted((e.state, e.estimate, e.remote_id) for e in doc.entries.values())
    assert states == [("released", VIDEO, None), ("settled", SMALL, second["id"])]


def test_a_reservation_nothing_was_sent_under_is_reused_for_the_same_request(
    simulator: SimulatorServer, with_budget: Any, log_text: Any
) -> None:
    ledger = with_budget(VIDEO * 3 / 2)
    store = killed_before_sending()
    with pytest.raises(Killed):
        run_try(store, 1, "a cat")
    second = run_try(store, 2, "a cat")
    doc = assert_ledger_covers_billing(ledger, simulator)
    assert [(e.state, e.remote_id) for e in doc.entries.values()] == [("settled", second["id"])]
    assert "Re-using reservation budget_dag/scheduled__2026-03-01/generate/-1#1." in log_text()


def test_a_try_killed_while_sending_leaves_its_reservation_held(simulator: SimulatorServer, with_budget: Any) -> None:
    """Killed after marking the reservation as sent: nobody can tell whether the create left, so it stays held."""
    ledger = with_budget(VIDEO * 3 / 2)
    store = DyingStore(SPEND_KEY, lambda value: value.get("sent") is True, after=True)
    with pytest.raises(Killed):
        run_try(store, 1, "a cat")
    with pytest.raises(AirflowFailException, match="never learned whether the gateway accepted it"):  # the marker
        run_try(store, 2, "a cat")
    with pytest.raises(AirflowFailException, match="is exhausted"):
        run_try(store, 3, "a cat", on_uncertain_submission="resubmit")
    assert accepted(simulator) == 0
    assert [e.state for e in ledger_doc(ledger).entries.values()] == ["reserved"]


# ---- point 2: every create that may bill holds its own reservation ------------------------------------


@pytest.mark.parametrize(
    ("second_try", "store"),
    [
        ({"on_uncertain_submission": "resubmit"}, "shared"),
        ({"durable": False}, "shared"),
        ({}, "none"),  # no task state store at all (a bare execute): every try is on its own
    ],
    ids=["resubmit", "durable=False", "no store"],
)
def test_a_second_create_after_a_lost_answer_is_checked_against_the_budget(
    simulator: SimulatorServer, with_budget: Any, second_try: dict[str, Any], store: str
) -> None:
    ledger = with_budget(VIDEO * 3 / 2)  # one video, not two
    kwargs = {"durable": False} if "durable" in second_try else {}
    state = Store() if store == "shared" else None
    with pytest.raises(AirflowFailException, match="may have reached the gateway"):
        run_try(state, 1, f"a dog {LOST}", **kwargs)
    with pytest.raises(AirflowFailException, match=r"is exhausted.*Nothing was sent"):
        run_try(state, 2, f"a dog {LOST}", **second_try)
    assert accepted(simulator) == 1, "a second create was sent that the budget could not hold"
    doc = assert_ledger_covers_billing(ledger, simulator)
    assert [e.state for e in doc.entries.values()] == ["reserved"]


def test_a_resubmitted_create_that_fits_is_counted_apart(simulator: SimulatorServer, with_budget: Any) -> None:
    ledger = with_budget(VIDEO * 2)
    store = Store()
    with pytest.raises(AirflowFailException):
        run_try(store, 1, f"a dog {LOST}")
    with pytest.raises(AirflowFailException, match="may have reached the gateway"):  # lost again
        run_try(store, 2, f"a dog {LOST}", on_uncertain_submission="resubmit")
    with pytest.raises(AirflowFailException, match="is exhausted"):
        run_try(store, 3, f"a dog {LOST}", on_uncertain_submission="resubmit")
    assert accepted(simulator) == 2
    doc = assert_ledger_covers_billing(ledger, simulator)
    assert sorted(e.state for e in doc.entries.values()) == ["reserved", "reserved"]
    assert doc.held() == VIDEO * 2 == billed(simulator)


# ---- point 3: two deployments (or two incarnations of a run) never share a reservation --------------


def test_a_second_deployment_on_the_same_budget_does_not_adopt_the_first_ones_reservation(
    simulator: SimulatorServer, with_budget: Any
) -> None:
    """Staging and production: same DAG, same run id, same task; each has its own task state store."""
    ledger = with_budget(VIDEO * 3 / 2)
    staging, production = Store(), Store()
    with pytest.raises(AirflowFailException, match="may have reached the gateway"):
        run_try(staging, 1, f"a fox {LOST}")
    with pytest.raises(AirflowFailException, match=r"is exhausted.*Nothing was sent"):
        run_try(production, 1, f"a fox {LOST}")
    assert accepted(simulator) == 1
    doc = assert_ledger_covers_billing(ledger, simulator)
    assert len(doc.entries) == 1


def test_two_deployments_within_the_budget_each_hold_their_own_entry(
    simulator: SimulatorServer, with_budget: Any
) -> None:
    ledger = with_budget(VIDEO * 2)
    staging, production = Store(), Store()
    a = run_try(staging, 1, "a fox")
    b = run_try(production, 1, "a fox")
    doc = assert_ledger_covers_billing(ledger, simulator)
    assert sorted(e.remote_id or "" for e in doc.entries.values()) == sorted([a["id"], b["id"]])
    assert doc.held() == billed(simulator) == VIDEO * 2
    # a retry of each settles nothing new and counts nothing twice
    assert run_try(staging, 2, "a fox")["id"] == a["id"]
    assert run_try(production, 2, "a fox")["id"] == b["id"]
    assert ledger_doc(ledger).held() == VIDEO * 2


# ---- point 5: a free re-attach is never refused by a cap or a budget ---------------------------------


def test_a_lowered_max_credits_does_not_block_a_free_reattach(simulator: SimulatorServer, videogen_conn: str) -> None:
    store = Store()
    first = run_try(store, 1, "a heron [sim:render=30]")
    again = run_try(store, 2, "a heron [sim:render=30]", max_credits=1)
    assert again["id"] == first["id"]
    assert accepted(simulator) == 1
    with pytest.raises(AirflowFailException, match="more than max_credits=1"):  # a new request still is refused
        run_try(store, 3, "another heron", max_credits=1)
    assert accepted(simulator) == 1


def test_a_budget_added_for_an_unpriced_model_does_not_block_a_free_reattach(
    simulator: SimulatorServer, videogen_conn: str, with_budget: Any
) -> None:
    store = Store()
    unpriced = {"model": "doubao-seedance-1.0-pro-fast", "duration": 5}
    first = run_try(store, 1, "an owl [sim:render=30]", **unpriced)
    ledger = with_budget(Decimal(10))  # the budget is added while the video renders
    again = run_try(store, 2, "an owl [sim:render=30]", **unpriced)
    assert again["id"] == first["id"]
    assert accepted(simulator) == 1
    assert ledger.read(ledger.config.key("total")) is None  # nothing reserved, nothing settled


def test_a_broken_price_setting_refuses_a_new_create_but_not_a_free_reattach(
    simulator: SimulatorServer, videogen_conn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store()
    first = run_try(store, 1, "a crane [sim:render=30]")
    set_connection(
        monkeypatch, simulator, {"retry_backoff": 0.05, "prices": {"veo3.1-fast": {"credits_per_second": "x"}}}
    )
    assert run_try(store, 2, "a crane [sim:render=30]")["id"] == first["id"]
    with pytest.raises(AirflowFailException, match=r"Connection 'videogen_default': .*'x'.*Nothing was sent"):
        run_try(store, 3, "another crane")
    assert accepted(simulator) == 1
