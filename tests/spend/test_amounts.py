"""Issue 21 point 4: every amount (gateway, connection extras, ledger document) is checked before it counts.

The fast tests check the bounds (spend/amounts.py) and the extras; the ``s3`` tests settle real
creates of the simulator (a lying gateway: ``SimulatorConfig.reported_credits``) into a ledger on
SeaweedFS through the spend guard, and let several processes meet a corrupt ledger.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_videogen.clock import utcnow
from airflow_provider_videogen.exceptions import InvalidResponseError
from airflow_provider_videogen.hooks.videogen import VideoGenHook
from airflow_provider_videogen.models import GenerationRequest, VideoTask
from airflow_provider_videogen.operators.reattach import SubmissionRecord
from airflow_provider_videogen.spend import amounts
from airflow_provider_videogen.spend.amounts import AmountError
from airflow_provider_videogen.spend.estimate import estimate
from airflow_provider_videogen.spend.guard import SpendGuard
from airflow_provider_videogen.spend.ledger import BudgetConfig, LedgerError, S3Ledger
from airflow_provider_videogen.spend.prices import PriceConfigError, PriceTable

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from airflow_provider_videogen.simulator import SimulatorServer
    from airflow_provider_videogen.testing.seaweedfs import SeaweedFS

#: veo-3.1-fast-generate-preview, 4 s, 720p, with audio: 34.56 credits (the audit's request).
REQUEST = GenerationRequest(model="veo-3.1-fast-generate-preview", prompt="a cat")
ESTIMATE = Decimal("34.56")
#: The same at n=4: 138.24 credits, what a negative settlement let through on a 50-credit budget.
FOUR = GenerationRequest(model="veo-3.1-fast-generate-preview", prompt="a cat", n=4)
TASK_ID = "task-unified-1-abcdefgh"


# ---- the bounds ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (-1, "must be a number >= 0"),
        ("-0.5", "must be a number >= 0"),
        (float("nan"), "not a finite number"),
        ("Infinity", "not a finite number"),
        (1e30, "above the largest amount believed"),
        (10**400, "above the largest amount believed"),
        ("1e-30", "too small to count"),
        (True, "not a number"),
        ("lots", "not a number"),
        ({"a": 1}, "not a number"),
    ],
)
def test_an_amount_that_is_not_finite_non_negative_and_bounded_is_refused_naming_where(
    value: Any, message: str
) -> None:
    with pytest.raises(AmountError, match=message) as refused:
        amounts.amount(value, "budget credits")
    assert str(refused.value).startswith("budget credits=")
    assert "allowed: a finite number from 0 to 1000000000" in str(refused.value)
    assert len(str(refused.value)) < 200  # a megabyte of junk is not echoed


def test_amounts_at_the_bounds_are_taken() -> None:
    assert amounts.amount(0, "x") == 0
    assert amounts.amount("0.0001", "x") == Decimal("0.0001")
    assert amounts.amount(10**9, "x") == amounts.MAX_CREDITS
    assert amounts.credits(5.76, "x") == Decimal("5.7600")


# ---- the connection extras -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "setting"),
    [
        ({"prices": {"veo3.1-fast": {"credits_per_second": 1e30}}}, "prices['veo3.1-fast']['credits_per_second']"),
        ({"prices": {"veo3.1-fast": {"credits_per_second": "1e999999"}}}, "prices['veo3.1-fast']"),
        ({"prices": {"veo3.1-fast": {"credits_per_second": {"720p": "1e-30"}}}}, "['720p']"),
        ({"prices": {"veo3.1-fast": {"credits_per_video": "NaN"}}}, "prices['veo3.1-fast']['credits_per_video']"),
        ({"credits_per_usd": 1e-30}, "credits_per_usd=1e-30"),
        ({"credits_per_usd": 1e30}, "credits_per_usd=1e+30"),
    ],
)
def test_huge_or_tiny_prices_are_refused_naming_the_setting(extra: dict[str, Any], setting: str) -> None:
    """Before: these passed validation, then the estimate crashed with decimal.InvalidOperation."""

    def price_the_request() -> None:
        estimate(GenerationRequest(model="veo3.1-fast", prompt="a cat"), PriceTable.from_extra(extra))

    with pytest.raises(PriceConfigError) as refused:
        price_the_request()
    assert setting in str(refused.value)
    assert "allowed: a finite number from" in str(refused.value)


def test_an_absurd_budget_is_refused_naming_it() -> None:
    with pytest.raises(PriceConfigError, match=r"budget credits=1e\+30 is above"):
        BudgetConfig.from_extra({"budget": {"credits": 1e30, "ledger": "s3://b/p"}}, "videogen_default")


def test_an_absurd_duration_on_a_priced_unknown_model_is_a_clear_error_not_an_overflow() -> None:
    prices = PriceTable.from_extra({"prices": {"my-model": {"credits_per_second": 1000}}})
    with pytest.raises(AmountError, match=r"the estimate of 'my-model' is 1\.0000E\+33 credits"):
        estimate(GenerationRequest(model="my-model", prompt="a cat", duration=10**30), prices)


# ---- the gateway's figure -----------------------------------------------------------------------------


@pytest.mark.parametrize("raw", ["NaN", "Infinity", "-Infinity", "1" + "0" * 400])
def test_a_paid_create_whose_credits_are_not_a_number_stays_readable(
    simulator: SimulatorServer, videogen_conn: str, raw: str
) -> None:
    """The create was accepted (and billed): its answer must still give the id, not 'uncertain'.

    (JSON cannot carry these values from the simulator's own task, so the answer is queued whole.)
    """
    body = f'{{"id": "{TASK_ID}", "status": "pending", "usage": {{"credits_reserved": {raw}}}}}'
    simulator.configure(
        next_responses=[{"status": 200, "method": "POST", "path": "/v1/videos/generations", "body": body}]
    )
    try:
        task = VideoGenHook(videogen_conn).submit_generation(REQUEST)
    except InvalidResponseError as exc:
        pytest.fail(f"a paid create's answer became unreadable: {exc}")
    assert (task.id, task.credits_reserved) == (TASK_ID, None)
    assert task.credits_rejected is not None
    assert task.credits_rejected.startswith("usage.credits_reserved=")


@pytest.fixture
def budget_50(s3_bucket: str, s3_client: S3Client) -> S3Ledger:
    config = BudgetConfig.from_extra(
        {"budget": {"credits": 50, "period": "total", "ledger": f"s3://{s3_bucket}/budgets", "name": "k"}}, "c"
    )
    assert config is not None
    return S3Ledger(config, client=s3_client)


def guard_for(ledger: S3Ledger, request: GenerationRequest, key: str) -> SpendGuard:
    return SpendGuard(
        log=logging.getLogger("test_amounts"),
        estimate=estimate(request),
        key=key,
        budget=ledger.config,
        ledger=ledger,
    )


def submit_and_settle(ledger: S3Ledger, conn_id: str, key: str) -> VideoTask:
    """What an operator does around a create: reserve, send, settle (the real guard, hook and simulator)."""
    guard = guard_for(ledger, REQUEST, key)
    guard.reserve(None)
    task = VideoGenHook(conn_id).submit_generation(REQUEST)
    guard.settle(None, task)
    return task


def held(ledger: S3Ledger) -> Decimal:
    doc = ledger.read(ledger.config.key("total"))
    assert doc is not None
    return doc.held()


@pytest.mark.s3
@pytest.mark.parametrize("lie", [-100.0, 1e30])
def test_a_lying_gateway_figure_settles_the_estimate_and_the_budget_holds(
    simulator: SimulatorServer,
    videogen_conn: str,
    budget_50: S3Ledger,
    lie: float,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Audit: -100 was settled as-is (138 credits then accepted on 50); 1e30 crashed settling, on every retry."""
    simulator.configure(reported_credits=lie)
    task = submit_and_settle(budget_50, videogen_conn, "d/r/first/-1")
    with pytest.raises(AirflowFailException, match="is exhausted"):
        guard_for(budget_50, FOUR, "d/r/four/-1").reserve(None)  # 138.24 on a budget of 50
    with pytest.raises(AirflowFailException, match="is exhausted"):
        guard_for(budget_50, REQUEST, "d/r/second/-1").reserve(None)  # 34.56 + 34.56 > 50
    doc = budget_50.read(budget_50.config.key("total"))
    assert doc is not None
    (entry,) = doc.entries.values()
    assert (entry.state, entry.credits, entry.remote_id) == ("settled", ESTIMATE, task.id)  # the estimate
    assert doc.held() == ESTIMATE
    warning = next(r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    assert f"usage.credits_reserved={lie}" in warning
    assert "settled at the estimate" in warning
    assert task.credits_reserved is None  # XCom and the task state store never carry the lie either
    assert simulator.stats()["generation"]["creates"] == 1


@pytest.mark.s3
def test_a_lie_recorded_at_submission_settles_the_estimate_on_reattach(
    simulator: SimulatorServer, videogen_conn: str, budget_50: S3Ledger
) -> None:
    """A try died after the create: the retry settles with the recorded figure, which is checked too."""
    simulator.configure(reported_credits=-100.0)
    guard = guard_for(budget_50, REQUEST, "d/r/t/-1")
    guard.reserve(None)
    task = VideoGenHook(videogen_conn).submit_generation(REQUEST)

    class Store(dict[str, Any]):
        def set(self, key: str, value: Any, **_: Any) -> None:
            self[key] = value

    store = Store()
    current = guard.current
    assert current is not None
    store.set("videogen_spend_reservation", current.model_dump(mode="json"))
    record = SubmissionRecord(
        id=task.id,
        api="generation",
        fingerprint="f",
        submitted_at=utcnow(),
        credits_reserved=-100.0,  # what the earlier try recorded from the lying answer
        reservation_id=current.reservation_id,
        reservation_period=current.period_id,
        reservation_estimate=current.estimate,
    )
    retry = guard_for(budget_50, REQUEST, "d/r/t/-1")
    retry.settle_reattached(store, task, record)
    assert held(budget_50) == ESTIMATE


# ---- the ledger document --------------------------------------------------------------------------------


def document(entry: dict[str, Any], limit: Any = 100) -> bytes:
    base = {"state": "settled", "estimate": "46.08", "reserved_at": "t", "updated_at": "t"} | entry
    return json.dumps({"budget": "k", "period": "total", "limit": limit, "entries": {"d/r/edited/-1#1": base}}).encode()


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (document({"credits": -1000}), "entry 'd/r/edited/-1#1' field 'credits': credits=-1000 must be a number >= 0"),
        (document({"estimate": "NaN", "state": "reserved"}), "entry 'd/r/edited/-1#1' field 'estimate'"),
        (document({"credits": 1e300}), "credits=1e+300 is above"),
        (b'{"budget": "k", "period": "total", "limit": 100, "entries": {"x": {"state": "settled", "estimate": 1e400, '
         b'"reserved_at": "t", "updated_at": "t"}}}', "entry 'x' field 'estimate': estimate=inf is not a finite"),
        (document({}, limit="-5"), "field 'limit': limit='-5' must be a number >= 0"),
        (b"{not json", "the document: Invalid JSON"),
    ],
)  # fmt: skip
@pytest.mark.s3
def test_a_corrupt_ledger_document_names_the_object_and_the_entry(
    budget_50: S3Ledger, s3_client: S3Client, body: bytes, problem: str
) -> None:
    key = budget_50.config.key("total")
    s3_client.put_object(Bucket=budget_50.config.bucket, Key=key, Body=body)
    with pytest.raises(LedgerError) as corrupt:
        budget_50.read(key)
    message = str(corrupt.value)
    assert message.startswith(f"The ledger s3://{budget_50.config.bucket}/{key} is not a ledger document")
    assert problem in message


def _worker(s3_env: dict[str, Any], conn_env: dict[str, str], bucket: str, index: int, start: Any, out: Any) -> None:
    """One worker machine: its own process, S3 client and hook; reserve, then create only if that held."""
    import os

    import boto3

    os.environ.update(conn_env)
    config = BudgetConfig.from_extra(
        {"budget": {"credits": 100, "period": "total", "ledger": f"s3://{bucket}/budgets", "name": "k"}}, "c"
    )
    assert config is not None
    ledger = S3Ledger(config, client=boto3.client("s3", **s3_env))
    start.wait()
    try:
        submit_and_settle(ledger, "videogen_default", f"d/r/worker/{index}")
        out.put("submitted")
    except LedgerError as exc:
        out.put(str(exc))


@pytest.mark.s3
def test_a_negative_entry_stops_every_worker_before_anything_is_sent(
    seaweedfs: SeaweedFS,
    s3_bucket: str,
    s3_client: S3Client,
    simulator: SimulatorServer,
    videogen_conn: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Audit: one hand-edited entry of -1000 made a 100-credit budget unlimited, for every worker."""
    key = "budgets/k/total.json"
    edited = document({"credits": -1000})
    s3_client.put_object(Bucket=s3_bucket, Key=key, Body=edited)
    s3_env = {
        "endpoint_url": seaweedfs.endpoint_url,
        "aws_access_key_id": seaweedfs.access_key,
        "aws_secret_access_key": seaweedfs.secret_key,
        "region_name": seaweedfs.region,
    }
    conn_env = {k: v for k, v in __import__("os").environ.items() if k.startswith("AIRFLOW_CONN_")}
    mp = multiprocessing.get_context("spawn")
    start, out = mp.Barrier(2), mp.Queue()
    workers = [mp.Process(target=_worker, args=(s3_env, conn_env, s3_bucket, i, start, out)) for i in range(2)]
    for worker in workers:
        worker.start()
    results = [out.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(timeout=30)
    assert simulator.stats()["generation"]["creates"] == 0, results
    for message in results:
        assert f"The ledger s3://{s3_bucket}/{key} is not a ledger document" in message
        assert "entry 'd/r/edited/-1#1' field 'credits': credits=-1000" in message
    assert s3_client.get_object(Bucket=s3_bucket, Key=key)["Body"].read() == edited  # nothing was written
