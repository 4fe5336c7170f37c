"""A worker killed at each line that writes state, and a ledger that fails after a paid create.

Fault injection only: the task state store and the S3 client are wrapped so that the N-th write
(``store.set``/``store.delete``, the ledger's ``put_object``) kills the process (:class:`Killed`)
or fails; the logic under test (:class:`SubmissionGuard`, :class:`SpendGuard`, :class:`S3Ledger`)
is the real one. The gateway and S3 are the in-process models of ``test_ledger_property.py``.

After a kill at any write of try 1, try 2 of the same request, on a budget that holds exactly one
video, must:

* never leave a create that may bill uncounted, nor send a second one the budget cannot hold;
* submit when provably nothing was sent: no create left, and no in-flight marker says one may
  have (with ``on_uncertain_submission="resubmit"`` the marker does not matter either).
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_videogen.exceptions import VideoGenError
from airflow_provider_videogen.models import ApiKind, GenerationRequest
from airflow_provider_videogen.operators.reattach import IN_FLIGHT_KEY, SubmissionGuard, fingerprint
from airflow_provider_videogen.spend import ledger as ledger_module
from airflow_provider_videogen.spend.estimate import Estimate
from airflow_provider_videogen.spend.guard import SpendGuard
from airflow_provider_videogen.spend.ledger import BudgetConfig, LedgerCorruptError, S3Ledger
from tests.operators.test_submission_money import Store
from tests.spend.test_ledger_property import FakeS3, Gateway, Killed, _client_error
from tests.spend.test_reservation_rules import DyingStore
from tests.spend.test_reservation_rules import Killed as KilledBeforeMarker

LOG = logging.getLogger("videogen.kill_points")
REQUEST = GenerationRequest(model="veo3.1-fast", prompt="a", duration=8)
AMOUNT = Decimal("46.08")
CONFIG = BudgetConfig(name="k", credits=AMOUNT, period="total", bucket="b", prefix="budgets", aws_conn_id=None)


class Faults:
    """Counts the writes of one try; the write numbered ``kill_at`` raises ``fault`` instead of happening."""

    def __init__(self, kill_at: int | None = None, fault: BaseException | None = None) -> None:
        self.kill_at, self.fault, self.writes = kill_at, fault, 0

    def write(self) -> None:
        self.writes += 1
        if self.writes == self.kill_at:
            raise self.fault or Killed(f"killed at write {self.writes}")


class FaultyStore(Store):
    def __init__(self) -> None:
        super().__init__()
        self.faults = Faults()

    def set(self, key: str, value: Any, retention: Any = None) -> None:
        self.faults.write()
        super().set(key, value, retention)

    def delete(self, key: str) -> None:
        self.faults.write()
        super().delete(key)


class FaultyS3(FakeS3):
    def __init__(self, faults: Faults) -> None:
        super().__init__()
        self.faults = faults

    def put_object(self, **kwargs: Any) -> dict[str, Any]:
        self.faults.write()
        return super().put_object(**kwargs)


def one_try(
    store: Store | None, s3: FakeS3, gateway: Gateway, *, resubmit: bool = False, config: BudgetConfig = CONFIG
) -> Any:
    """One try of the task instance (a real SubmissionGuard and SpendGuard); returns the task or the error."""
    spend = SpendGuard(
        log=LOG,
        estimate=Estimate(REQUEST.model, AMOUNT, None, "test"),
        key="d/r/t/-1",
        budget=config,
        ledger=S3Ledger(config, client=s3),
        fingerprint=fingerprint(REQUEST),
    )
    guard = SubmissionGuard(
        store=store,
        api=ApiKind.GENERATION,
        hook=gateway,  # type: ignore[arg-type]
        log=LOG,
        on_uncertain="resubmit" if resubmit else "fail",
        accept_partial=False,
        try_number=1,
        spend=spend,
    )

    def submit(_: Any, before_send: Any) -> Any:
        on_wire = before_send()  # as the hook does: the request is built...
        if on_wire is not None:
            on_wire()  # ...and its first byte is about to leave
        remote = f"task-{len(gateway.billed) + 1}"
        gateway.billed[remote] = gateway.estimate[remote] = AMOUNT
        assert spend.current is not None
        gateway.sent_under[remote] = spend.current.reservation_id
        return gateway.get_task(ApiKind.GENERATION, remote)

    try:
        return guard.submit_or_reattach(REQUEST, submit, lambda r: "test request")
    except (AirflowFailException, VideoGenError, Killed) as exc:
        return exc


def writes_of_a_clean_try() -> int:
    store, gateway = FaultyStore(), Gateway()
    one_try(store, FaultyS3(store.faults), gateway)
    return store.faults.writes


@pytest.mark.parametrize("resubmit", [False, True], ids=["fail", "resubmit"])
def test_a_try_killed_at_any_write_neither_pays_twice_nor_locks_when_nothing_was_sent(resubmit: bool) -> None:
    total = writes_of_a_clean_try()
    assert total >= 6, "reserve, spend record, sent flag, marker, record, marker delete, settle..."
    for kill_at in range(1, total + 1):
        store, gateway = FaultyStore(), Gateway()
        s3 = FaultyS3(store.faults)
        store.faults.kill_at = kill_at
        assert isinstance(one_try(store, s3, gateway), Killed)
        sent_in_try_1 = bool(gateway.billed)
        marker_left = store.get(IN_FLIGHT_KEY) is not None
        store.faults.kill_at = None
        second = one_try(store, s3, gateway, resubmit=resubmit)
        doc = S3Ledger(CONFIG, client=s3).read(CONFIG.key("total"))
        where = f"killed at write {kill_at}/{total}; try 2: {second!r}; ledger {doc}; billed {gateway}"
        assert len(gateway.billed) <= 1, f"paid twice: {where}"
        if not sent_in_try_1 and (resubmit or not marker_left):
            assert not isinstance(second, BaseException), f"locked although nothing was sent: {where}"
        assert doc is not None or not gateway.billed, where
        if doc is not None:
            for remote, reservation in gateway.sent_under.items():
                entry = doc.entries.get(reservation)
                assert entry is not None, f"{remote} uncounted: {where}"
                assert entry.state in ("reserved", "settled"), f"{remote} uncounted: {where}"
            assert doc.held() <= CONFIG.credits, where


def test_a_ledger_that_fails_at_settle_does_not_fail_the_paid_create() -> None:
    """S3 answers 500 to the settle's write: the create was paid; its reservation stays held at the estimate."""
    total = writes_of_a_clean_try()
    store, gateway = FaultyStore(), Gateway()
    s3 = FaultyS3(store.faults)
    store.faults.kill_at, store.faults.fault = total - 1, _client_error("InternalError", 500)  # the settle's put
    task = one_try(store, s3, gateway)
    assert not isinstance(task, BaseException), task
    assert task.id == "task-1"
    doc = S3Ledger(CONFIG, client=s3).read(CONFIG.key("total"))
    assert doc is not None
    assert [(e.state, e.estimate) for e in doc.entries.values()] == [("reserved", AMOUNT)]
    # the next try re-attaches (free) and settles it
    again = one_try(store, s3, gateway)
    assert not isinstance(again, BaseException), again
    doc = S3Ledger(CONFIG, client=s3).read(CONFIG.key("total"))
    assert doc is not None
    assert [(e.state, e.remote_id) for e in doc.entries.values()] == [("settled", "task-1")]


def test_a_corrupt_ledger_does_not_block_a_free_reattach() -> None:
    """Killed before settling; then someone breaks the ledger object: collecting the paid video is still free."""
    total = writes_of_a_clean_try()
    store, gateway = FaultyStore(), Gateway()
    s3 = FaultyS3(store.faults)
    store.faults.kill_at = total - 1  # the settle's put
    assert isinstance(one_try(store, s3, gateway), Killed)
    store.faults.kill_at = None
    ((key, (body, etag)),) = s3.objects.items()
    doc = json.loads(body)
    for entry in doc["entries"].values():
        entry["estimate"] = "-46.08"  # a hand edit, or a buggy client
    s3.objects[key] = (json.dumps(doc).encode(), etag)
    with pytest.raises(LedgerCorruptError):
        S3Ledger(CONFIG, client=s3).read(CONFIG.key("total"))
    again = one_try(store, s3, gateway)
    assert not isinstance(again, BaseException), again
    assert again.id == "task-1"
    assert len(gateway.billed) == 1


def test_a_reservation_of_last_period_is_not_reused_for_a_create_sent_in_this_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Reserved on 31 January, killed before sending; the retry sends on 1 February: February counts it."""
    monthly = BudgetConfig(name="m", credits=AMOUNT, period="month", bucket="b", prefix="budgets", aws_conn_id=None)
    s3, gateway = FakeS3(), Gateway()
    store = DyingStore(IN_FLIGHT_KEY)  # killed before the marker: provably nothing was sent
    monkeypatch.setattr(ledger_module, "_now", lambda: datetime(2026, 1, 31, 23, 59, tzinfo=timezone.utc))
    with pytest.raises(KilledBeforeMarker):
        one_try(store, s3, gateway, config=monthly)
    monkeypatch.setattr(ledger_module, "_now", lambda: datetime(2026, 2, 1, 0, 1, tzinfo=timezone.utc))
    task = one_try(store, s3, gateway, config=monthly)
    assert not isinstance(task, BaseException), task
    ledger = S3Ledger(monthly, client=s3)
    january, february = ledger.read(monthly.key("2026-01")), ledger.read(monthly.key("2026-02"))
    assert january is not None
    assert [e.state for e in january.entries.values()] == ["released"], "nothing was sent in January"
    assert february is not None, "the create sent in February is not counted in February's budget"
    assert [(e.state, e.remote_id) for e in february.entries.values()] == [("settled", task.id)]


def test_an_estimate_beyond_any_amount_refuses_a_new_create_but_not_a_free_reattach(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A price added while the video renders (1e6 credits/s, meant per video) must not block collecting it."""
    extra = {"prices": {"my-model": {"credits_per_second": 1000000}}}
    conn = {"conn_type": "videogen", "host": "http://127.0.0.1:9", "password": "k", "extra": extra}
    monkeypatch.setenv("AIRFLOW_CONN_VIDEOGEN_HUGE", json.dumps(conn))
    request = GenerationRequest(model="my-model", prompt="a", duration=2000, n=4)
    spend = SpendGuard.check(
        log=LOG, conn_id="videogen_huge", request=request, context={}, max_credits=None, allow_unpriced=False
    )
    assert spend.refusal is not None
    assert "above 1000000000 credits" in spend.refusal
    with pytest.raises(AirflowFailException, match=r"8\.0000E\+9 credits.*Nothing was sent"):
        spend.reserve(None)
