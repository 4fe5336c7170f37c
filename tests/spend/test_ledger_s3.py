"""The budget ledger against the real SeaweedFS server: conditional writes, races, idempotence."""

from __future__ import annotations

import multiprocessing
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest
from botocore.exceptions import ClientError

from airflow_provider_videogen.spend.ledger import (
    BudgetConfig,
    BudgetExhaustedError,
    LedgerError,
    ReservationConflictError,
    S3Ledger,
)
from airflow_provider_videogen.spend.prices import PriceConfigError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from airflow_provider_videogen.testing.seaweedfs import SeaweedFS

pytestmark = pytest.mark.s3

VIDEO = Decimal("46.08")  # veo3.1-fast, 8 s, 720p, no audio


def config(bucket: str, credits: Decimal | str = VIDEO * 10, period: str = "month") -> BudgetConfig:
    made = BudgetConfig.from_extra(
        {"budget": {"credits": str(credits), "period": period, "ledger": f"s3://{bucket}/budgets", "name": "key-a"}},
        "videogen_default",
    )
    assert made is not None
    return made


def status(exc: ClientError) -> int:
    return int(exc.response["ResponseMetadata"]["HTTPStatusCode"])


def test_seaweedfs_honours_if_match_and_if_none_match_on_put_object(s3_client: S3Client, s3_bucket: str) -> None:
    """The primitive the ledger relies on, checked on the server the tests use."""
    first = s3_client.put_object(Bucket=s3_bucket, Key="k", Body=b"1", IfNoneMatch="*")
    with pytest.raises(ClientError) as exists:
        s3_client.put_object(Bucket=s3_bucket, Key="k", Body=b"other", IfNoneMatch="*")
    assert status(exists.value) == 412
    second = s3_client.put_object(Bucket=s3_bucket, Key="k", Body=b"2", IfMatch=first["ETag"])
    with pytest.raises(ClientError) as stale:
        s3_client.put_object(Bucket=s3_bucket, Key="k", Body=b"lost update", IfMatch=first["ETag"])
    assert status(stale.value) == 412
    got = s3_client.get_object(Bucket=s3_bucket, Key="k")
    assert got["Body"].read() == b"2"
    assert got["ETag"] == second["ETag"]


def test_reserve_settle_release_are_idempotent_per_reservation(s3_client: S3Client, s3_bucket: str) -> None:
    ledger = S3Ledger(config(s3_bucket), client=s3_client)
    period = "2026-03"
    first = ledger.reserve("d/r/t/-1#1", VIDEO, period_id=period)
    again = ledger.reserve("d/r/t/-1#1", VIDEO, period_id=period)  # a retry of a crashed try
    assert first == again
    doc = ledger.read("budgets/key-a/2026-03.json")
    assert doc is not None
    assert list(doc.entries) == ["d/r/t/-1#1"]
    assert doc.held() == VIDEO

    ledger.settle("d/r/t/-1#1", Decimal("40"), period_id=period, remote_id="task-unified-1-a")
    ledger.settle("d/r/t/-1#1", Decimal("40"), period_id=period, remote_id="task-unified-1-a")
    assert ledger.release("d/r/t/-1#1", period_id=period, reason="late") is not None  # settled: left alone
    doc = ledger.read("budgets/key-a/2026-03.json")
    assert doc is not None
    entry = doc.entries["d/r/t/-1#1"]
    assert (entry.state, entry.credits, entry.remote_id) == ("settled", Decimal("40"), "task-unified-1-a")
    assert doc.held() == Decimal("40")
    # a reservation whose create was refused holds nothing
    ledger.reserve("d/r/t/0#1", VIDEO, period_id=period)
    ledger.release("d/r/t/0#1", period_id=period, reason="400 invalid_parameters")
    doc = ledger.read("budgets/key-a/2026-03.json")
    assert doc is not None
    assert doc.entries["d/r/t/0#1"].state == "released"
    assert doc.held() == Decimal("40")


def test_an_exhausted_budget_names_the_budget_what_is_held_and_the_cost(s3_client: S3Client, s3_bucket: str) -> None:
    ledger = S3Ledger(config(s3_bucket, credits="100", period="day"), client=s3_client)
    ledger.reserve("a#1", VIDEO, period_id="2026-03-14")
    ledger.reserve("b#1", VIDEO, period_id="2026-03-14")
    with pytest.raises(BudgetExhaustedError) as refused:
        ledger.reserve("c#1", VIDEO, period_id="2026-03-14", what="this request (46.08 credits)")
    message = str(refused.value)
    assert "budget 'key-a' (100 credits for day 2026-03-14" in message
    assert "92.16 credits held (2 reserved, 0 settled)" in message
    assert "would cost 46.08 credits" in message
    assert "Nothing was sent" in message
    # another period has its own object and its own budget
    ledger.reserve("c#1", VIDEO, period_id="2026-03-15")


def test_an_entry_is_never_adopted_for_another_request(s3_client: S3Client, s3_bucket: str) -> None:
    """Issue 21, points 1 and 3: a reservation belongs to one request; a new id is never an existing entry."""
    ledger = S3Ledger(config(s3_bucket), client=s3_client)
    ledger.reserve("d/r/t/-1#1.aa", VIDEO, period_id="total", fingerprint="request-a")
    assert ledger.reserve("d/r/t/-1#1.aa", VIDEO, period_id="total", fingerprint="request-a").state == "reserved"
    with pytest.raises(ReservationConflictError, match=r"d/r/t/-1#1.aa .* another request \(fingerprint request-a"):
        ledger.reserve("d/r/t/-1#1.aa", VIDEO * 14, period_id="total", fingerprint="request-b")
    with pytest.raises(ReservationConflictError, match=r"already exists .* not adopted by a new submission"):
        ledger.reserve("d/r/t/-1#1.aa", VIDEO, period_id="total", fingerprint="request-a", new=True)
    doc = ledger.read("budgets/key-a/total.json")
    assert doc is not None
    assert doc.held() == VIDEO  # nothing changed


def test_an_entry_is_never_settled_for_a_second_remote_task(s3_client: S3Client, s3_bucket: str) -> None:
    """Issue 21, point 3: the ledger records the remote id on settle and refuses another one."""
    ledger = S3Ledger(config(s3_bucket), client=s3_client)
    ledger.reserve("a#1.x", VIDEO, period_id="total")
    ledger.reserve("b#1.y", VIDEO, period_id="total")
    ledger.settle("a#1.x", VIDEO, period_id="total", remote_id="task-1")
    ledger.settle("a#1.x", VIDEO, period_id="total", remote_id="task-1")  # idempotent
    with pytest.raises(ReservationConflictError, match=r"a#1.x .* already settled for remote task task-1; .* task-2"):
        ledger.settle("a#1.x", VIDEO, period_id="total", remote_id="task-2")
    with pytest.raises(ReservationConflictError, match=r"task-1 is already counted under reservation a#1\.x") as twice:
        ledger.settle("b#1.y", VIDEO, period_id="total", remote_id="task-1")
    assert twice.value.counted_under == "a#1.x"
    doc = ledger.read("budgets/key-a/total.json")
    assert doc is not None
    assert [(e.state, e.remote_id) for e in doc.entries.values()] == [("settled", "task-1"), ("reserved", None)]


def _worker_machine(s3_env: dict[str, Any], bucket: str, machine: int, start: Any, results: Any) -> None:
    """One 'worker machine': its own process and S3 client; five threads each reserve one video."""
    import threading

    import boto3

    client = boto3.client("s3", **s3_env)
    ledger = S3Ledger(config(bucket), client=client)
    outcomes: list[str] = []

    def reserve(index: int) -> None:
        try:
            ledger.reserve(f"race/run/generate/{index}#1", VIDEO, period_id="total")
            outcomes.append("reserved")
        except BudgetExhaustedError:
            outcomes.append("refused")

    threads = [threading.Thread(target=reserve, args=(machine * 5 + i,)) for i in range(5)]
    start.wait()  # every machine is up: now they race
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    results.put((outcomes, ledger.conflicts))


def test_racing_processes_take_exactly_the_budget(seaweedfs: SeaweedFS, s3_bucket: str, s3_client: S3Client) -> None:
    """4 processes x 5 threads, each with its own S3 client, race for a budget of exactly 10 videos."""
    s3_env = {
        "endpoint_url": seaweedfs.endpoint_url,
        "aws_access_key_id": seaweedfs.access_key,
        "aws_secret_access_key": seaweedfs.secret_key,
        "region_name": seaweedfs.region,
    }
    mp = multiprocessing.get_context("spawn")
    start, results = mp.Barrier(4), mp.Queue()
    machines = [mp.Process(target=_worker_machine, args=(s3_env, s3_bucket, m, start, results)) for m in range(4)]
    for machine in machines:
        machine.start()
    collected = [results.get(timeout=120) for _ in machines]
    for machine in machines:
        machine.join(timeout=30)
    outcomes = [outcome for batch, _ in collected for outcome in batch]
    conflicts = sum(count for _, count in collected)
    assert outcomes.count("reserved") == 10, outcomes
    assert outcomes.count("refused") == 10, outcomes
    doc = S3Ledger(config(s3_bucket), client=s3_client).read("budgets/key-a/total.json")
    assert doc is not None
    assert len(doc.entries) == 10
    assert doc.held() == VIDEO * 10
    print(
        f"\n[ledger] 20 racing reservations on 4 processes: 10 reserved, 10 refused, "
        f"{conflicts} conflicting write(s) retried"
    )
    assert conflicts > 0, "no write ever conflicted: the race did not happen"


def test_an_unreadable_ledger_object_is_a_clear_error(s3_client: S3Client, s3_bucket: str) -> None:
    s3_client.put_object(Bucket=s3_bucket, Key="budgets/key-a/2026-03.json", Body=b"not json")
    with pytest.raises(LedgerError, match="is not a ledger document"):
        S3Ledger(config(s3_bucket), client=s3_client).reserve("a#1", VIDEO, period_id="2026-03")


@pytest.mark.parametrize(
    ("budget", "message"),
    [
        ({"period": "month", "ledger": "s3://b/p"}, "needs 'credits'"),
        ({"credits": 10, "period": "week", "ledger": "s3://b/p"}, "allowed: day, month, total"),
        ({"credits": 10, "ledger": "/tmp/ledger"}, "expected an S3 URL"),
        ({"credits": -5, "ledger": "s3://b/p"}, ">= 0"),
        ({"credits": 10, "ledger": "s3://b/p", "limit": 3}, "unknown key"),
    ],
)
def test_bad_budget_configuration_is_a_clear_error(budget: dict[str, Any], message: str) -> None:
    with pytest.raises(PriceConfigError, match=message):
        BudgetConfig.from_extra({"budget": budget}, "videogen_default")
