"""Decide whether a try re-attaches to an earlier remote task or submits a new one, and act on it.

Videos are billed per second, so the rule is: **never pay twice for the same task instance**.
Airflow 3.3's task state store keeps rows per (DAG run, task id, map index), shared by every
try of that task instance; the operators record the remote id there the moment it exists.
:func:`decide` is the rule, a pure function of what the store and the gateway say;
:class:`SubmissionGuard` reads them, applies the rule and records each submission.

| what the store holds for this task instance                   | what the next try does          |
|----------------------------------------------------------------|---------------------------------|
| nothing                                                        | submit                          |
| a remote task that is pending or running                       | re-attach (wait for it)         |
| a remote task that succeeded, links valid >= 30 min more       | re-use it (no new request)      |
| a remix whose extension failed, with ``accept_first_segment``  | re-use its first 8 s            |
| a remote task that succeeded, links expired or about to        | submit (the video is gone)      |
| a remote task that succeeded but lists no video URL            | re-use it (never submit: paid)  |
| a remote task that failed or was cancelled                     | submit (a new, billed create)   |
| a remote task the gateway no longer knows (404 twice in a row)  | submit                          |
| a remote task for a *different* request (edited DAG, then cleared) | submit                      |
| a submission prepared but never sent (killed while connecting) | as if it were not there         |
| a submission in flight with no id (crash or lost answer mid-POST), | fail, unless                 |
| whatever record an earlier try left                            |  ``on_uncertain_submission="resubmit"`` |

The in-flight marker is written only once the request is built, as ``"prepared"``; it becomes
``"sending"`` right before the request's first byte can leave (after the connection to the
gateway is opened: the hook's ``wire_trace``), and is deleted when the create provably never
left the machine (refused connection, bad local configuration) or when its answer is recorded.
A ``"prepared"`` marker proves nothing was sent (the try died while connecting): it is ignored. A marker for this
request that no record answers means a create may be rendering that nobody knows the id of,
however the recorded task (if any) ended: every later try refuses, until a human looks.
A single 404 for the stored id is confirmed by a second query before anything is resubmitted,
so one misrouted answer (a proxy, a restarted node) does not bill twice.

"Cleared" counts as a new try of the same task instance: with Airflow's default
``[state_store] clear_on_success = False`` the store survives a clear, so clearing a
successful task within 24 h re-uses the finished video instead of paying again. With
``clear_on_success = True`` the rows are deleted at success and a clear submits anew.
A new DAG run (a backfill of a new date, a manual run) has its own store: it submits.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from airflow.sdk.exceptions import AirflowFailException
from pydantic import BaseModel, ConfigDict

from airflow_provider_videogen.clock import utcnow
from airflow_provider_videogen.exceptions import NotFoundError, VideoGenError
from airflow_provider_videogen.models import LINK_TTL, ApiKind, TaskState, VideoTask
from airflow_provider_videogen.models.errors import FAILED_RENDER_BILLING

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import TypeAlias

    from airflow_provider_videogen.hooks.videogen import VideoGenHook
    from airflow_provider_videogen.spend.guard import SpendGuard

    #: ``submit(request, before_send)``: sends the create; calls ``before_send`` once it is built, and
    #: the callable ``before_send`` returns right before its first byte can leave (``VideoGenHook``).
    Submit: TypeAlias = Callable[[BaseModel, Callable[[], Callable[[], None] | None]], VideoTask]

Action = Literal["submit", "reattach", "reuse", "refuse"]
UncertainPolicy = Literal["fail", "resubmit"]

#: Task state store keys. Renaming them breaks re-attach for tasks in flight during an upgrade.
RECORD_KEY = "videogen_remote_task"
IN_FLIGHT_KEY = "videogen_submission_in_flight"
#: TEST-ONLY: "1" stops the in-flight marker from being written, a deliberately broken build that
#: the chaos driver must catch (``--break inflight-marker``, issue 24). Never set it in production.
SKIP_IN_FLIGHT_MARKER_VARIABLE = "VIDEOGEN_TEST_ONLY_SKIP_IN_FLIGHT_MARKER"
#: Where the refusals point for resolving many uncertain submissions at once (:mod:`..uncertain`).
RESOLVE_HINT = "for many at once: python -m airflow_provider_videogen.uncertain list --dag-id <dag id>"
#: Pause before the second query that confirms a 404 for a stored task.
NOT_FOUND_CONFIRM_DELAY = 2.0
#: How long the store keeps the record: long enough to re-use a finished video until its links expire.
RECORD_RETENTION = LINK_TTL * 2


class SubmissionRecord(BaseModel):
    """What the store keeps about the remote task of this task instance (ids and numbers only)."""

    model_config = ConfigDict(frozen=True)

    id: str
    api: ApiKind
    fingerprint: str
    model: str | None = None
    submitted_at: datetime
    credits_reserved: float | None = None
    try_number: int | None = None
    #: ``started_at`` of the in-flight marker this record answers: a marker left behind by a
    #: crash between writing the record and deleting the marker is recognised as answered.
    marker_started_at: datetime | None = None
    #: The budget reservation this create was sent under (``None``: no budget), its period and amount:
    #: a re-attach settles exactly this one (:meth:`SpendGuard.settle_reattached`).
    reservation_id: str | None = None
    reservation_period: str | None = None
    reservation_estimate: Decimal | None = None


class InFlightMarker(BaseModel):
    """Written just before a create request and removed once its answer is known.

    ``phase`` is written in two steps: ``"prepared"`` once the request is built, then
    ``"sending"`` right before its first byte can leave (the hook's ``wire_trace``: after the
    connection is opened, before the request headers). A marker still ``"prepared"`` proves the
    gateway received nothing of this create. A marker written by an older version has no phase:
    it reads as ``"sending"`` (uncertain).
    """

    model_config = ConfigDict(frozen=True)

    fingerprint: str
    started_at: datetime
    try_number: int | None = None
    phase: Literal["prepared", "sending"] = "sending"
    #: What was sent, to match against the gateway's task list or bill (``uncertain list``).
    api: ApiKind | None = None
    model: str | None = None


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: str
    task: VideoTask | None = None


def fingerprint(request: BaseModel) -> str:
    """Stable hash of a request, so an edited request is not mistaken for the one submitted earlier."""
    data = request.model_dump(mode="json")
    encoded = json.dumps(data, sort_keys=True, default=str).encode()
    return hashlib.sha256(encoded).hexdigest()[:32]


def decide(
    record: SubmissionRecord | None,
    marker: InFlightMarker | None,
    remote: VideoTask | None,
    current_fingerprint: str,
    *,
    accept_partial: bool = False,
    now: datetime | None = None,
) -> Decision:
    """Pure decision from what the store holds and what the gateway says about the stored task.

    ``remote`` is ``None`` when there is no record or the gateway answered 404 for it.
    """
    now = now or utcnow()
    if marker is not None and marker.fingerprint == current_fingerprint and not _answered(record, marker):
        if marker.phase == "prepared":
            # Stopped before its first byte could leave (see InFlightMarker): nothing was created.
            later = decide(record, None, remote, current_fingerprint, accept_partial=accept_partial, now=now)
            return Decision(
                later.action,
                f"an earlier try (try {marker.try_number}) prepared this request at {marker.started_at.isoformat()} "
                f"but stopped before sending any of it, so the gateway received nothing; {later.reason}",
                later.task,
            )
        return Decision(
            "refuse",
            f"an earlier try (try {marker.try_number}) started submitting this request at "
            f"{marker.started_at.isoformat()} and never learned whether the gateway accepted it",
        )
    if record is None:
        return Decision("submit", "no earlier submission for this task instance")
    if record.fingerprint != current_fingerprint:
        return Decision("submit", f"the stored task {record.id} was submitted for a different request")
    if remote is None:
        return Decision("submit", f"the gateway no longer knows task {record.id}")
    if remote.state.is_in_progress:
        return Decision("reattach", f"task {record.id} is still {remote.state.value}", remote)
    if remote.state is TaskState.SUCCEEDED:
        if not remote.video_urls:
            # Succeeded means paid. No URL is not "expired": the gateway may serve the bytes some
            # other way (the hook already points a remix at its content endpoint) or a human must
            # fetch them; completion fails asking for one. Submitting would pay a second time.
            return Decision(
                "reuse", f"task {record.id} already succeeded (it is paid for) but lists no video URL", remote
            )
        if remote.links_valid(now):
            return Decision("reuse", f"task {record.id} already succeeded and its links are still valid", remote)
        return Decision("submit", f"task {record.id} succeeded but its download links have expired")
    if accept_partial and remote.is_partial and remote.links_valid(now):
        return Decision("reuse", f"task {record.id} rendered its first segment, accepted as the result", remote)
    return Decision(
        "submit",
        f"task {record.id} ended {remote.state.value} ({remote.error_code or 'no code'}); submitting again. "
        + FAILED_RENDER_BILLING,
    )


def _answered(record: SubmissionRecord | None, marker: InFlightMarker) -> bool:
    """True when ``record`` is the answer to ``marker`` (the try crashed before deleting the marker)."""
    return record is not None and record.marker_started_at is not None and record.marker_started_at == marker.started_at


def load_model(cls: type[BaseModel], raw: Any) -> Any:
    """Parse a stored value, treating anything unreadable as absent (a store written by another version)."""
    if not raw:
        return None
    try:
        return cls.model_validate(raw)
    except ValueError:
        return None


def stored_record(store: Any) -> SubmissionRecord | None:
    """The record of this task instance's remote task, if a try submitted one (``None`` without a store)."""
    return load_model(SubmissionRecord, store.get(RECORD_KEY)) if store is not None else None  # type: ignore[no-any-return]


def where_to_delete(ti: Any) -> str:
    """Where a human finds a task state store key in the Airflow UI, for this very task instance."""
    map_index = getattr(ti, "map_index", -1)
    which = f"map index {map_index} of " if isinstance(map_index, int) and map_index >= 0 else ""
    task = f"{getattr(ti, 'task_id', '?')}" if ti is not None else "this task"
    run = f" in run {ti.run_id}" if getattr(ti, "run_id", None) else ""
    return (
        f"for {which}task {task}{run} (Airflow UI: the DAG run -> task {task}"
        + (f" -> mapped task {map_index}" if which else "")
        + " -> Task Instance -> Storage -> Task State Store; each mapped index has its own keys)"
    )


class SubmissionGuard:
    """Submit a request at most once per task instance: re-attach, re-use, refuse or submit, per :func:`decide`.

    Around the create request it writes an in-flight marker, then the record of the remote task,
    to the task instance's state store, so that whatever happens to this try (a crash, a lost
    answer, a retry, a clear) the next one knows what was paid for.

    :param store: the context's ``task_state_store`` (``None``: re-attach is disabled for this run).
    :param hook: answers what the gateway knows about a stored task.
    :param on_uncertain: ``"fail"`` or ``"resubmit"`` when an earlier try may have created a task
        but never learned its id.
    :param accept_partial: a remix whose extension failed counts as a result to re-use.
    :param on_decision: told each decision, the stored record and what the gateway said about it
        (metrics and spans: :mod:`.resumable`).
    :param durable: ``False`` when the caller chose not to re-attach (``store`` is then ``None``).
    :param store_location: where a human finds this task instance's store keys in the UI
        (:func:`where_to_delete`), named in the messages that ask them to act.
    :param spend: the spend guard of this ``execute`` (:mod:`airflow_provider_videogen.spend`):
        it reserves before the in-flight marker, releases on a create the gateway provably
        refused, and settles after the create or on re-attach. ``None``: no spend checks.
    :param spend_store: the task state store the spend guard keeps its reservation in; the
        context's store even with ``durable=False`` (default: ``store``).
    """

    def __init__(
        self,
        *,
        store: Any,
        api: ApiKind,
        hook: VideoGenHook,
        log: Any,
        on_uncertain: UncertainPolicy,
        accept_partial: bool,
        try_number: int | None,
        on_decision: Callable[[Decision, SubmissionRecord | None, VideoTask | None], None] | None = None,
        durable: bool = True,
        store_location: str | None = None,
        spend: SpendGuard | None = None,
        spend_store: Any = None,
    ) -> None:
        self.store = store
        self.api = api
        self.hook = hook
        self.log = log
        self.on_uncertain = on_uncertain
        self.accept_partial = accept_partial
        self.try_number = try_number
        self.on_decision = on_decision
        self.durable = durable
        self.store_location = store_location or where_to_delete(None)
        self.spend = spend
        self.spend_store = spend_store if spend_store is not None else store

    def submit_or_reattach(self, request: BaseModel, submit: Submit, describe: Callable[[BaseModel], str]) -> VideoTask:
        """The remote task for ``request``: an earlier try's when it can still serve, else a new one."""
        store, print_ = self.store, fingerprint(request)
        if store is None:
            if self.durable:
                self.log.warning("No task_state_store in the context: re-attach after a retry is disabled for this run")
            else:
                self.log.warning("durable=False: this try submits without looking for an earlier try's task")
            return self._submit(request, submit, describe, print_)
        record = load_model(SubmissionRecord, store.get(RECORD_KEY))
        marker = load_model(InFlightMarker, store.get(IN_FLIGHT_KEY))
        remote = self._remote(record) if record is not None else None
        decision = decide(record, marker, remote, print_, accept_partial=self.accept_partial)
        if self.on_decision is not None:
            self.on_decision(decision, record, remote)
        if decision.action == "refuse" and self.on_uncertain == "resubmit":
            self.log.warning("%s; resubmitting because on_uncertain_submission='resubmit'", decision.reason)
        elif decision.action == "refuse":
            raise AirflowFailException(
                f"Not submitting: {decision.reason}. The gateway may be rendering (and billing) that task. "
                "Check the gateway's task list first. To submit anyway, set on_uncertain_submission='resubmit', "
                f"or delete the key '{IN_FLIGHT_KEY}' {self.store_location} and clear the task "
                f"({RESOLVE_HINT})."
            )
        if decision.action in ("reattach", "reuse") and decision.task is not None:
            self.log.info("Re-attaching instead of submitting: %s", decision.reason)
            if self.spend is not None:
                self.spend.settle_reattached(self.spend_store, decision.task, record)
            return decision.task
        if record is not None:
            self.log.info("Submitting a new task: %s", decision.reason)
        return self._submit(request, submit, describe, print_)

    def _remote(self, record: SubmissionRecord) -> VideoTask | None:
        """What the gateway says about the stored task; ``None`` only after two 404s in a row.

        One 404 may be a proxy routing the query to the wrong place or a node that has not
        caught up; resubmitting on it would bill a second video while the first renders.
        """
        for attempt in range(2):
            try:
                return self.hook.get_task(record.api, record.id)
            except NotFoundError:
                if attempt == 0:
                    self.log.warning(
                        "The gateway answered 404 for stored task %s; asking again in %.0fs before resubmitting",
                        record.id,
                        NOT_FOUND_CONFIRM_DELAY,
                    )
                    time.sleep(NOT_FOUND_CONFIRM_DELAY)
        return None

    def _submit(
        self,
        request: BaseModel,
        submit: Submit,
        describe: Callable[[BaseModel], str],
        print_: str,
    ) -> VideoTask:
        store, spend_store = self.store, self.spend_store
        self.log.info("Submitting %s (request %s)", describe(request), print_)
        if self.spend is not None:
            # Before anything is sent: the cap, then the budget. A refusal sent nothing.
            self.spend.reserve(spend_store)
        reservation = self.spend.current if self.spend is not None else None
        written: list[InFlightMarker] = []

        def on_wire() -> None:
            # The hook calls this right before the request's first byte can leave (after the
            # connection is opened): only from here on can the gateway have seen anything. The
            # marker "sending" first, then the reservation's "sent" flag, the last write before
            # that byte: a reservation not flagged "sent" provably had nothing sent under it (a
            # retry may re-use it) even where the marker already says "sending".
            if store is not None and written:
                sending = written[0].model_copy(update={"phase": "sending"})
                store.set(IN_FLIGHT_KEY, sending.model_dump(mode="json"), retention=RECORD_RETENTION)
            if self.spend is not None:
                self.spend.sending(spend_store)  # from here on the reservation may be billing

        def before_send() -> Callable[[], None]:
            # Called by the hook once the connection is resolved and the request built, before
            # anything is sent: a marker "prepared", which a retry may ignore (nothing was sent).
            if store is not None and not written and os.environ.get(SKIP_IN_FLIGHT_MARKER_VARIABLE) != "1":
                marker = InFlightMarker(
                    fingerprint=print_,
                    started_at=utcnow(),
                    try_number=self.try_number,
                    phase="prepared",
                    api=self.api,
                    model=getattr(request, "model", None),
                )
                store.set(IN_FLIGHT_KEY, marker.model_dump(mode="json"), retention=RECORD_RETENTION)
                written.append(marker)
            return on_wire

        try:
            task = submit(request, before_send)
        except VideoGenError as exc:
            if exc.submission_uncertain:
                if reservation is not None:
                    self.log.warning(
                        "Reservation %s stays held: the create sent under it may be billing", reservation.reservation_id
                    )
                raise AirflowFailException(
                    f"{exc} The create request may have reached the gateway: if it was accepted, that video is "
                    "rendering and will be billed, and a second submission would be billed as well, so this task "
                    "is not retried automatically. Check the gateway's task list; to submit anyway, delete the "
                    f"key '{IN_FLIGHT_KEY}' {self.store_location} and clear the task ({RESOLVE_HINT})."
                ) from None
            if store is not None and written:
                store.delete(IN_FLIGHT_KEY)
            if self.spend is not None:
                self.spend.release(spend_store, str(exc))
            raise
        self.log.info(
            "Submitted remote task %s (%s, request %s)%s",
            task.id,
            describe(request),
            print_,
            f" under reservation {reservation.reservation_id}" if reservation else "",
        )
        if store is not None:
            record = SubmissionRecord(
                id=task.id,
                api=self.api,
                fingerprint=print_,
                model=task.model,
                submitted_at=utcnow(),
                credits_reserved=task.credits_reserved,
                try_number=self.try_number,
                marker_started_at=written[0].started_at if written else None,
                reservation_id=reservation.reservation_id if reservation else None,
                reservation_period=reservation.period_id if reservation else None,
                reservation_estimate=reservation.estimate if reservation else None,
            )
            store.set(RECORD_KEY, record.model_dump(mode="json"), retention=RECORD_RETENTION)
            store.delete(IN_FLIGHT_KEY)
        if self.spend is not None:
            self.spend.settle(spend_store, task)
        return task
