"""Property test of the budget (issue 21, "Must show"): random interleavings never break its invariants.

Hypothesis draws a sequence of tries by several simulated processes: three task instances, two
of which have the *same* ``dag/run/task`` ids but their own task state stores (two deployments),
each try submitting one of two requests (an edited request), with or without ``durable``,
``on_uncertain_submission="resubmit"`` or a task state store, a store wiped in between (the run
deleted and re-created), and one outcome of the create: accepted, refused (released), answer
lost, process killed before sending, after the create, or between recording it and settling.
Each try runs the real :class:`SubmissionGuard` (re-attach rules) and :class:`SpendGuard`
(reservation rules) on a real :class:`S3Ledger`.

**Which S3.** The fast property test gives the ledger an in-process fake S3 client (a dict with
``If-Match``/``If-None-Match`` semantics and 412 answers shaped as botocore's), so hypothesis can
try a few hundred interleavings in seconds; the gateway is an in-process model too (a dict of
billed remote tasks, every one still rendering). ``test_invariants_on_seaweedfs`` replays a few
drawn sequences against the real SeaweedFS server. Racing processes on SeaweedFS are in
``test_reservations_processes.py`` and ``test_ledger_s3.py``.

After every try:

* **one create, one reservation**: no two creates that may bill were sent under one entry;
* **every create that may bill is counted**: its entry is held (``reserved``), or settled for
  exactly that remote task, never released;
* **no remote task is counted twice**, and only billed ones are counted;
* **the budget holds**: held (settled + reserved) <= budget + what the gateway charged above
  the estimate on settled creates (the documented limit: the estimate is checked, the gateway's
  figure replaces it afterwards).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from airflow.sdk.exceptions import AirflowFailException
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_videogen.exceptions import NotFoundError, VideoGenError
from airflow_provider_videogen.models import ApiKind, GenerationRequest, TaskState, VideoTask
from airflow_provider_videogen.operators.reattach import SubmissionGuard, fingerprint
from airflow_provider_videogen.spend.estimate import Estimate
from airflow_provider_videogen.spend.guard import SpendGuard
from airflow_provider_videogen.spend.ledger import BudgetConfig, LedgerDocument, S3Ledger
from tests.operators.test_submission_money import Store

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

LOG = logging.getLogger("videogen.property")
BUDGET = Decimal(100)
#: Two requests of one task: the original and the edited one.
REQUESTS = {
    0: (GenerationRequest(model="veo3.1-fast", prompt="a", duration=6), Decimal("34.56")),
    1: (GenerationRequest(model="veo3.1-fast", prompt="b", duration=8), Decimal("46.08")),
}
#: (dag/run/task key, which store): 0 and 1 are two deployments of one task instance.
ACTORS = ("d/r/t/-1", "d/r/t/-1", "d/r/other/-1")
OUTCOMES = (
    "ok",
    "refused",
    "lost",
    "killed_before_send",
    "killed_before_wire",  # the marker says "prepared": the connection was being opened, nothing left
    "killed_after_create",
    "killed_before_settle",
)


class Killed(BaseException):
    """The worker process dies here; nothing after this line of the try runs."""


def _client_error(code: str, status: int) -> ClientError:
    return ClientError({"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, "S3")


class FakeS3:
    """``get_object``/``put_object`` with S3's conditional-write semantics, in memory (fast tier only)."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], tuple[bytes, str]] = {}

    def get_object(self, *, Bucket: str, Key: str) -> dict[str, Any]:
        if (Bucket, Key) not in self.objects:
            raise _client_error("NoSuchKey", 404)
        body, etag = self.objects[(Bucket, Key)]
        return {"Body": io.BytesIO(body), "ETag": etag}

    def put_object(self, *, Bucket: str, Key: str, Body: bytes, **kwargs: Any) -> dict[str, Any]:
        current = self.objects.get((Bucket, Key))
        if kwargs.get("IfNoneMatch") == "*" and current is not None:
            raise _client_error("PreconditionFailed", 412)
        if "IfMatch" in kwargs and (current is None or current[1] != kwargs["IfMatch"]):
            raise _client_error("PreconditionFailed", 412)
        etag = f'"{hashlib.md5(Body).hexdigest()}"'
        self.objects[(Bucket, Key)] = (Body, etag)
        return {"ETag": etag}


@dataclass
class Gateway:
    """What the gateway billed: every accepted create is a task still rendering."""

    billed: dict[str, Decimal] = field(default_factory=dict)
    estimate: dict[str, Decimal] = field(default_factory=dict)
    #: The reservation each billed create was sent under (the guard's at the moment it left).
    sent_under: dict[str, str] = field(default_factory=dict)

    def get_task(self, api: ApiKind, task_id: str) -> VideoTask:
        if task_id not in self.billed:
            raise NotFoundError("no such task")
        return VideoTask(id=task_id, api=api, state=TaskState.RUNNING, credits_reserved=float(self.billed[task_id]))


class DyingSpendGuard(SpendGuard):
    """Dies between recording the create and settling it (the ``killed_before_settle`` outcome)."""

    def settle(self, store: Any, task: VideoTask) -> None:
        raise Killed


@dataclass
class Step:
    actor: int
    request: int
    outcome: str
    charge: Decimal  # what the gateway bills, as a multiple of the estimate
    resubmit: bool
    store_mode: str  # "durable", "not_durable" (durable=False), "none" (no task state store at all)
    new_run: bool  # the run was deleted and re-created: its task state store is empty


steps = st.lists(
    st.builds(
        Step,
        actor=st.integers(0, len(ACTORS) - 1),
        request=st.sampled_from(sorted(REQUESTS)),
        outcome=st.sampled_from(OUTCOMES),
        charge=st.sampled_from([Decimal("0.5"), Decimal(1), Decimal("1.25")]),
        resubmit=st.booleans(),
        store_mode=st.sampled_from(["durable", "durable", "not_durable", "none"]),
        new_run=st.sampled_from([False, False, False, True]),
    ),
    min_size=1,
    max_size=14,
)


def play(client: Any, bucket: str, sequence: list[Step], name: str = "k") -> None:
    """Run ``sequence`` try after try and check the invariants after each."""
    config = BudgetConfig(name=name, credits=BUDGET, period="total", bucket=bucket, prefix="budgets", aws_conn_id=None)
    stores = [Store() for _ in ACTORS]
    gateway = Gateway()
    for number, step in enumerate(sequence, start=1):
        if step.new_run:
            stores[step.actor] = Store()
        request, amount = REQUESTS[step.request]
        guard_cls = DyingSpendGuard if step.outcome == "killed_before_settle" else SpendGuard
        spend = guard_cls(
            log=LOG,
            estimate=Estimate(request.model, amount, None, "test"),
            key=ACTORS[step.actor],
            budget=config,
            ledger=S3Ledger(config, client=client),
            fingerprint=fingerprint(request),
        )
        store = stores[step.actor] if step.store_mode != "none" else None
        guard = SubmissionGuard(
            store=store if step.store_mode == "durable" else None,
            api=ApiKind.GENERATION,
            hook=gateway,  # type: ignore[arg-type]
            log=LOG,
            on_uncertain="resubmit" if step.resubmit else "fail",
            accept_partial=False,
            try_number=number,
            durable=step.store_mode == "durable",
            spend=spend,
            spend_store=store,
        )

        def submit(
            _: Any, before_send: Any, spend: SpendGuard = spend, step: Step = step, amount: Decimal = amount
        ) -> Any:
            if step.outcome == "killed_before_send":
                raise Killed
            on_wire = before_send()  # as the hook does: the request is built...
            if step.outcome == "killed_before_wire":
                raise Killed
            if on_wire is not None:
                on_wire()  # ...and its first byte is about to leave
            if step.outcome == "refused":
                raise VideoGenError("400 invalid_parameters: nothing was created")
            remote = f"task-{len(gateway.billed) + 1}"
            gateway.billed[remote] = (amount * step.charge).quantize(Decimal("0.0001"))
            gateway.estimate[remote] = amount
            assert spend.current is not None, "a create was sent without a reservation"
            gateway.sent_under[remote] = spend.current.reservation_id
            if step.outcome == "lost":
                lost = VideoGenError("502 bad gateway")
                lost.submission_uncertain = True
                raise lost
            if step.outcome == "killed_after_create":
                raise Killed
            return gateway.get_task(ApiKind.GENERATION, remote)

        with contextlib.suppress(AirflowFailException, VideoGenError, Killed):
            guard.submit_or_reattach(request, submit, lambda r: "test request")
        check(S3Ledger(config, client=client).read(config.key("total")), gateway, sequence[:number])


def check(doc: LedgerDocument | None, gateway: Gateway, done: list[Step]) -> None:
    if doc is None:
        assert not gateway.billed, (gateway, done)
        return
    where = f"after {done}\nledger {doc.model_dump_json(indent=1)}\nbilled {gateway}"
    under = list(gateway.sent_under.values())
    assert len(set(under)) == len(under), f"two creates were sent under one reservation {where}"
    for remote, reservation in gateway.sent_under.items():
        entry = doc.entries.get(reservation)
        assert entry is not None, f"{remote} was sent under {reservation}, which the ledger lacks {where}"
        assert entry.state == "reserved" or (entry.state, entry.remote_id) == ("settled", remote), (
            f"{remote} (sent under {reservation}) is not counted {where}"
        )
    settled = [entry.remote_id for entry in doc.entries.values() if entry.state == "settled"]
    assert len(set(settled)) == len(settled), f"a remote task is counted twice {where}"
    assert set(settled) <= set(gateway.billed), f"an unbilled task is counted {where}"
    overshoot = sum(
        (max(Decimal(0), gateway.billed[r] - gateway.estimate[r]) for r in settled if r is not None), Decimal(0)
    )
    assert doc.held() <= doc.limit + overshoot, f"the budget was exceeded {where}"


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sequence=steps)
def test_invariants_hold_for_any_interleaving(sequence: list[Step]) -> None:
    play(FakeS3(), "budget", sequence)


@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(sequence=steps)
def test_invariants_on_seaweedfs(sequence: list[Step], s3_client: S3Client, s3_bucket: str) -> None:
    """A few drawn sequences against the real server (the fake S3 is only for the fast property test)."""
    play(s3_client, s3_bucket, sequence, name=f"k-{uuid.uuid4().hex[:8]}")  # one budget per example
