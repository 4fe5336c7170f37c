"""The budget of one API key, shared by every DAG, run and worker: a ledger object in S3.

**Why S3 with conditional writes.** The budget must hold across concurrent workers on several
machines. Every deployment of the example pipelines already has an S3 bucket (the archive) that
every worker can reach, and S3 offers the one primitive a ledger needs: compare-and-swap on an
object. An update reads the ledger and its ETag, changes it, and writes it back with
``If-Match: <ETag>`` (``If-None-Match: *`` for the first write of a period); a concurrent update
makes the write fail with ``412 Precondition Failed`` (or ``409`` on AWS when two conditional
writes overlap), and the loser reads again and re-decides. No update is lost, and no two workers
can both take the last credits. AWS S3 has honoured ``If-Match`` on ``PutObject`` since
November 2024 and is strongly consistent; SeaweedFS honours it too (``tests/spend/
test_ledger_s3.py`` checks both the refusal of a stale ETag and N racing writers on the real
server). A SQL table behind an Airflow connection would work as well, but needs a database the
workers can reach and a schema to migrate; the ledger object needs nothing new, and it is a
JSON document anyone can read (``aws s3 cp s3://.../2026-03.json -``).

The cost: one object per budget period serialises its updates. Each submission does two
(reserve, settle), each a GET and a PUT; a conflict costs a retry. Renders take minutes, so tens
of submissions per second per budget is far beyond what a video key is allowed anyway.

**Layout.** ``s3://<bucket>/<prefix>/<budget name>/<period>.json``, period ``2026-03-14`` (day),
``2026-03`` (month) or ``total``. The document holds one entry per reservation, in one of three
states (``reserved``, ``settled``, ``released``: see :mod:`.ledger_document`).

Each operation is idempotent on the entry's id, so a retry of a crashed try reserves, settles or
releases the *same* entry: it cannot be counted twice or leaked. **An entry belongs to one
request and one remote task**: it records the request's fingerprint when reserved and the remote
id when settled. Reserving an existing id for another fingerprint (or with ``new=True``, where
the caller did not expect the id to exist), settling an entry already settled for another remote
task, or settling a remote task another entry already counts, raises
:class:`ReservationConflictError` and changes nothing.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from airflow_provider_videogen.spend.estimate import fmt
from airflow_provider_videogen.spend.ledger_document import EntryState, LedgerDocument, LedgerEntry
from airflow_provider_videogen.spend.ledger_errors import (
    BudgetExhaustedError,
    LedgerCorruptError,
    LedgerError,
    ReservationConflictError,
)
from airflow_provider_videogen.spend.prices import CREDIT_QUANTUM, PriceConfigError, to_decimal

if TYPE_CHECKING:
    from decimal import Decimal

    from mypy_boto3_s3 import S3Client

__all__ = [
    "PERIODS",
    "UPDATE_DEADLINE",
    "BudgetConfig",
    "BudgetExhaustedError",
    "EntryState",
    "LedgerCorruptError",
    "LedgerDocument",
    "LedgerEntry",
    "LedgerError",
    "Period",
    "ReservationConflictError",
    "S3Ledger",
]

log = logging.getLogger(__name__)

Period = Literal["day", "month", "total"]
PERIODS: tuple[str, ...] = ("day", "month", "total")
T = TypeVar("T")


#: How long one ledger update keeps retrying conflicting writes before giving up (seconds).
UPDATE_DEADLINE = 120.0


def _now() -> datetime:
    return datetime.now(tz=timezone.utc)


@dataclass(frozen=True)
class BudgetConfig:
    """A key's budget, from the ``videogen`` connection extra ``budget``::

        {"budget": {"credits": 5000, "period": "month", "ledger": "s3://my-bucket/videogen-budgets",
                    "aws_conn_id": "aws_default", "name": "evolink-main"}}

    ``name`` defaults to the connection id: connections that share one key should share a name.
    """

    name: str
    credits: Decimal
    period: Period
    bucket: str
    prefix: str
    aws_conn_id: str | None

    @classmethod
    def from_extra(cls, extra: Mapping[str, Any] | None, conn_id: str) -> BudgetConfig | None:
        raw = (extra or {}).get("budget")
        if raw in (None, "", {}):
            return None
        if isinstance(raw, str):
            try:
                raw = json.loads(raw)
            except ValueError:
                raise PriceConfigError(f"connection extra 'budget' is not JSON: {raw[:200]!r}") from None
        if not isinstance(raw, Mapping):
            raise PriceConfigError(f"connection extra 'budget' must be an object, not {raw!r}")
        unknown = sorted(set(raw) - {"credits", "period", "ledger", "aws_conn_id", "name"})
        if unknown:
            raise PriceConfigError(
                f"connection extra 'budget' has unknown key(s) {unknown}; "
                "allowed: credits, period, ledger, aws_conn_id, name"
            )
        if "credits" not in raw:
            raise PriceConfigError("connection extra 'budget' needs 'credits' (the limit per period)")
        period = str(raw.get("period", "month"))
        if period not in PERIODS:
            raise PriceConfigError(f"budget period={period!r}; allowed: {', '.join(PERIODS)}")
        ledger = str(raw.get("ledger") or "")
        if not ledger.startswith("s3://") or len(ledger) <= len("s3://"):
            raise PriceConfigError(
                f"budget ledger={ledger!r}; expected an S3 URL such as 's3://my-bucket/videogen-budgets'"
            )
        bucket, _, prefix = ledger[len("s3://") :].partition("/")
        return cls(
            name=str(raw.get("name") or conn_id),
            credits=to_decimal(raw["credits"], "budget credits"),
            period=period,  # type: ignore[arg-type]
            bucket=bucket,
            prefix=prefix.strip("/"),
            aws_conn_id=raw.get("aws_conn_id", "aws_default"),
        )

    def period_id(self, now: datetime | None = None) -> str:
        now = now or _now()
        if self.period == "day":
            return now.strftime("%Y-%m-%d")
        if self.period == "month":
            return now.strftime("%Y-%m")
        return "total"

    def key(self, period_id: str) -> str:
        return "/".join(part for part in (self.prefix, self.name, f"{period_id}.json") if part)

    def describe(self, period_id: str) -> str:
        scope = "in total" if self.period == "total" else f"for {self.period} {period_id}"
        return f"budget {self.name!r} ({fmt(self.credits)} credits {scope}, s3://{self.bucket}/{self.key(period_id)})"


def _error_status(exc: Exception) -> tuple[str, int | None]:
    response = getattr(exc, "response", None) or {}
    code = str(response.get("Error", {}).get("Code", ""))
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return code, status


def _is_conflict(exc: Exception) -> bool:
    code, status = _error_status(exc)
    return code in ("PreconditionFailed", "ConditionalRequestConflict") or status in (409, 412)


def _is_missing(exc: Exception) -> bool:
    code, status = _error_status(exc)
    return code in ("NoSuchKey", "404", "NotFound") or status == 404


class S3Ledger:
    """Reserve, settle and release amounts in a budget's ledger object, atomically (see the module docstring)."""

    def __init__(self, config: BudgetConfig, client: S3Client | None = None) -> None:
        self.config = config
        self._client = client
        #: Conflicting writes seen (412/409) by this instance: evidence that concurrency was real.
        self.conflicts = 0

    @property
    def client(self) -> S3Client:
        if self._client is None:
            from airflow.providers.amazon.aws.hooks.s3 import S3Hook

            self._client = S3Hook(aws_conn_id=self.config.aws_conn_id).get_conn()
        return self._client

    # ---- reading ------------------------------------------------------------------------------

    def read(self, key: str) -> LedgerDocument | None:
        doc, _ = self._get(key)
        return doc

    def _get(self, key: str) -> tuple[LedgerDocument | None, str | None]:
        try:
            response = self.client.get_object(Bucket=self.config.bucket, Key=key)
        except Exception as exc:
            if _is_missing(exc):
                return None, None
            raise LedgerError(f"Cannot read the ledger s3://{self.config.bucket}/{key}: {exc}") from exc
        body = response["Body"].read()
        return LedgerDocument.parse(body, f"s3://{self.config.bucket}/{key}"), response["ETag"]

    # ---- the compare-and-swap loop ------------------------------------------------------------

    def _update(self, key: str, period_id: str, change: Callable[[LedgerDocument], T]) -> T:
        """Apply ``change`` to the current document and write it back only if nobody wrote in between.

        ``change`` mutates the document in place and returns a result; it may raise to abort (the
        document is then not written). It is called again on a fresh read after each conflict, so
        it must decide from the document alone.
        """
        deadline = time.monotonic() + UPDATE_DEADLINE
        delay = 0.05
        while True:
            doc, etag = self._get(key)
            if doc is None:
                doc = LedgerDocument(budget=self.config.name, period=period_id, limit=self.config.credits)
            before = doc.model_dump_json()
            doc.limit = self.config.credits  # the limit in force when the ledger was last written
            result = change(doc)
            if doc.model_dump_json() == before:
                return result
            condition = {"IfMatch": etag} if etag else {"IfNoneMatch": "*"}
            try:
                self.client.put_object(
                    Bucket=self.config.bucket,
                    Key=key,
                    Body=(doc.model_dump_json(indent=1) + "\n").encode(),
                    ContentType="application/json",
                    **condition,  # type: ignore[arg-type]
                )
                return result
            except Exception as exc:
                if not _is_conflict(exc):
                    raise LedgerError(f"Cannot write the ledger s3://{self.config.bucket}/{key}: {exc}") from exc
                self.conflicts += 1
            if time.monotonic() > deadline:
                raise LedgerError(
                    f"The ledger s3://{self.config.bucket}/{key} kept changing for {UPDATE_DEADLINE:.0f} s; "
                    "nothing was changed by this update"
                )
            time.sleep(random.uniform(0, delay))  # full jitter: racing workers spread out
            delay = min(delay * 2, 2.0)

    # ---- operations ---------------------------------------------------------------------------

    def reserve(
        self,
        reservation_id: str,
        estimate: Decimal,
        *,
        period_id: str,
        what: str = "this request",
        fingerprint: str | None = None,
        new: bool = False,
    ) -> LedgerEntry:
        """Hold ``estimate`` under ``reservation_id``, or raise :class:`BudgetExhaustedError`.

        An entry that already exists for the same request (a retry of a crashed try) is returned as
        it is: the same reservation, never a second one. It is never adopted for another request
        (``fingerprint`` differs) nor when the caller says the id is ``new``: both raise
        :class:`ReservationConflictError`.
        """
        key = self.config.key(period_id)
        estimate = estimate.quantize(CREDIT_QUANTUM)

        def change(doc: LedgerDocument) -> LedgerEntry:
            existing = doc.entries.get(reservation_id)
            if existing is not None:
                if new:
                    raise ReservationConflictError(
                        f"Reservation {reservation_id} already exists in s3://{self.config.bucket}/{key} "
                        f"({existing.state}); it is not adopted by a new submission"
                    )
                if fingerprint is not None and existing.fingerprint is not None and existing.fingerprint != fingerprint:
                    raise ReservationConflictError(
                        f"Reservation {reservation_id} in s3://{self.config.bucket}/{key} was taken for another "
                        f"request (fingerprint {existing.fingerprint}, not {fingerprint}); it is not adopted"
                    )
                return existing
            held = doc.held()
            if held + estimate > self.config.credits:
                raise BudgetExhaustedError(
                    f"Not submitting: {self.config.describe(period_id)} is exhausted. Held: {doc.summary()}; "
                    f"{what} would cost {fmt(estimate)} credits, {fmt(held + estimate - self.config.credits)} more "
                    f"than the {fmt(self.config.credits - held)} left. Nothing was sent."
                )
            stamp = _now().isoformat()
            entry = LedgerEntry(
                state="reserved", estimate=estimate, fingerprint=fingerprint, reserved_at=stamp, updated_at=stamp
            )
            doc.entries[reservation_id] = entry
            return entry

        return self._update(key, period_id, change)

    def settle(
        self, reservation_id: str, credits: Decimal, *, period_id: str, remote_id: str | None, note: str | None = None
    ) -> LedgerEntry:
        """Replace the estimate by what the gateway reserved (idempotent; a missing entry is recorded anyway).

        Refused (:class:`ReservationConflictError`, nothing changed) when the entry is already
        settled for another remote task, or another entry already counts ``remote_id``: one
        reservation pays for one remote task, and one remote task is counted once.
        """
        key = self.config.key(period_id)
        credits = credits.quantize(CREDIT_QUANTUM)

        def change(doc: LedgerDocument) -> LedgerEntry:
            stamp = _now().isoformat()
            entry = doc.entries.get(reservation_id)
            if entry is not None and entry.state == "settled" and entry.remote_id == remote_id:
                return entry
            where = f"s3://{self.config.bucket}/{key}"
            if entry is not None and entry.state == "settled" and entry.remote_id != remote_id:
                raise ReservationConflictError(
                    f"Reservation {reservation_id} in {where} is already settled for remote task {entry.remote_id}; "
                    f"refusing to settle it again for remote task {remote_id}"
                )
            if remote_id is not None:
                for other_id, other in doc.entries.items():
                    if other_id != reservation_id and other.state == "settled" and other.remote_id == remote_id:
                        raise ReservationConflictError(
                            f"Remote task {remote_id} is already counted under reservation {other_id} in {where}; "
                            f"refusing to count it again under {reservation_id}",
                            counted_under=other_id,
                        )
            if entry is None:  # the reservation was lost (ledger object removed by hand): the money still counts
                entry = LedgerEntry(state="reserved", estimate=credits, reserved_at=stamp, updated_at=stamp)
            settled = entry.model_copy(
                update={
                    "state": "settled",
                    "credits": credits,
                    "remote_id": remote_id,
                    "updated_at": stamp,
                    "note": note,
                }
            )
            doc.entries[reservation_id] = settled
            return settled

        return self._update(key, period_id, change)

    def release(self, reservation_id: str, *, period_id: str, reason: str) -> LedgerEntry | None:
        """Free a reservation whose create provably failed; a settled one is left alone (it was paid)."""
        key = self.config.key(period_id)

        def change(doc: LedgerDocument) -> LedgerEntry | None:
            entry = doc.entries.get(reservation_id)
            if entry is None or entry.state != "reserved":
                return entry
            released = entry.model_copy(update={"state": "released", "updated_at": _now().isoformat(), "note": reason})
            doc.entries[reservation_id] = released
            return released

        return self._update(key, period_id, change)
