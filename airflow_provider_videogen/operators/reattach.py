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
| a remote task that failed or was cancelled                     | submit (a failure is not billed)|
| a remote task the gateway no longer knows (404)                | submit                          |
| a remote task for a *different* request (edited DAG, then cleared) | submit                      |
| a submission in flight with no id (crash or lost answer mid-POST) | fail, unless                 |
|                                                                |  ``on_uncertain_submission="resubmit"`` |

"Cleared" counts as a new try of the same task instance: with Airflow's default
``[state_store] clear_on_success = False`` the store survives a clear, so clearing a
successful task within 24 h re-uses the finished video instead of paying again. With
``clear_on_success = True`` the rows are deleted at success and a clear submits anew.
A new DAG run (a backfill of a new date, a manual run) has its own store: it submits.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from airflow.sdk.exceptions import AirflowFailException
from pydantic import BaseModel, ConfigDict

from airflow_provider_videogen.clock import utcnow
from airflow_provider_videogen.exceptions import NotFoundError, VideoGenError
from airflow_provider_videogen.models import LINK_TTL, ApiKind, TaskState, VideoTask

if TYPE_CHECKING:
    from collections.abc import Callable

    from airflow_provider_videogen.hooks.videogen import VideoGenHook
    from airflow_provider_videogen.spend.guard import SpendGuard

Action = Literal["submit", "reattach", "reuse", "refuse"]
UncertainPolicy = Literal["fail", "resubmit"]

#: Task state store keys. Renaming them breaks re-attach for tasks in flight during an upgrade.
RECORD_KEY = "videogen_remote_task"
IN_FLIGHT_KEY = "videogen_submission_in_flight"
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


class InFlightMarker(BaseModel):
    """Written just before a create request and removed once its answer is known."""

    model_config = ConfigDict(frozen=True)

    fingerprint: str
    started_at: datetime
    try_number: int | None = None


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
    if record is None:
        if marker is not None and marker.fingerprint == current_fingerprint:
            return Decision(
                "refuse",
                f"an earlier try (try {marker.try_number}) started submitting this request at "
                f"{marker.started_at.isoformat()} and never learned whether the gateway accepted it",
            )
        return Decision("submit", "no earlier submission for this task instance")
    if record.fingerprint != current_fingerprint:
        return Decision("submit", f"the stored task {record.id} was submitted for a different request")
    if remote is None:
        return Decision("submit", f"the gateway no longer knows task {record.id}")
    if remote.state.is_in_progress:
        return Decision("reattach", f"task {record.id} is still {remote.state.value}", remote)
    if remote.state is TaskState.SUCCEEDED:
        if remote.links_valid(now):
            return Decision("reuse", f"task {record.id} already succeeded and its links are still valid", remote)
        return Decision("submit", f"task {record.id} succeeded but its download links have expired")
    if accept_partial and remote.is_partial and remote.links_valid(now):
        return Decision("reuse", f"task {record.id} rendered its first segment, accepted as the result", remote)
    return Decision(
        "submit",
        f"task {record.id} ended {remote.state.value} ({remote.error_code or 'no code'}); failures are not billed",
    )


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
    :param spend: the spend guard of this ``execute`` (:mod:`airflow_provider_videogen.spend`):
        it reserves before the in-flight marker, releases on a create the gateway provably
        refused, and settles after the create or on re-attach. ``None``: no spend checks.
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
        spend: SpendGuard | None = None,
    ) -> None:
        self.store = store
        self.api = api
        self.hook = hook
        self.log = log
        self.on_uncertain = on_uncertain
        self.accept_partial = accept_partial
        self.try_number = try_number
        self.spend = spend

    def submit_or_reattach(
        self, request: BaseModel, submit: Callable[[BaseModel], VideoTask], describe: Callable[[BaseModel], str]
    ) -> VideoTask:
        """The remote task for ``request``: an earlier try's when it can still serve, else a new one."""
        store, print_ = self.store, fingerprint(request)
        if store is None:
            self.log.warning("No task_state_store in the context: re-attach after a retry is disabled for this run")
            return self._submit(request, submit, describe, print_)
        record = load_model(SubmissionRecord, store.get(RECORD_KEY))
        marker = load_model(InFlightMarker, store.get(IN_FLIGHT_KEY))
        remote: VideoTask | None = None
        if record is not None:
            try:
                remote = self.hook.get_task(record.api, record.id)
            except NotFoundError:
                remote = None
        decision = decide(record, marker, remote, print_, accept_partial=self.accept_partial)
        if decision.action == "refuse" and self.on_uncertain == "resubmit":
            self.log.warning("%s; resubmitting because on_uncertain_submission='resubmit'", decision.reason)
        elif decision.action == "refuse":
            raise AirflowFailException(
                f"Not submitting: {decision.reason}. The gateway may be rendering (and billing) that task. "
                "Check the gateway's task list; to submit anyway, set on_uncertain_submission='resubmit' or "
                f"delete the '{IN_FLIGHT_KEY}' key of this task instance's task state store."
            )
        if decision.action in ("reattach", "reuse") and decision.task is not None:
            self.log.info("Re-attaching instead of submitting: %s", decision.reason)
            if self.spend is not None:
                self.spend.settle_reattached(store, decision.task, record.credits_reserved if record else None)
            return decision.task
        if record is not None:
            self.log.info("Submitting a new task: %s", decision.reason)
        return self._submit(request, submit, describe, print_)

    def _submit(
        self,
        request: BaseModel,
        submit: Callable[[BaseModel], VideoTask],
        describe: Callable[[BaseModel], str],
        print_: str,
    ) -> VideoTask:
        store = self.store
        self.log.info("Submitting %s", describe(request))
        if self.spend is not None:
            self.spend.reserve(store)  # before the in-flight marker: a refused reservation sent nothing
        if store is not None:
            marker = InFlightMarker(fingerprint=print_, started_at=utcnow(), try_number=self.try_number)
            store.set(IN_FLIGHT_KEY, marker.model_dump(mode="json"), retention=RECORD_RETENTION)
        try:
            task = submit(request)
        except VideoGenError as exc:
            if exc.submission_uncertain:
                raise AirflowFailException(
                    f"{exc} The create request may have reached the gateway; not retrying automatically, "
                    "because a second submission would be billed again."
                ) from None
            if store is not None:
                store.delete(IN_FLIGHT_KEY)
            if self.spend is not None:
                self.spend.release(store, str(exc))
            raise
        if store is not None:
            record = SubmissionRecord(
                id=task.id,
                api=self.api,
                fingerprint=print_,
                model=task.model,
                submitted_at=utcnow(),
                credits_reserved=task.credits_reserved,
                try_number=self.try_number,
            )
            store.set(RECORD_KEY, record.model_dump(mode="json"), retention=RECORD_RETENTION)
            store.delete(IN_FLIGHT_KEY)
        if self.spend is not None:
            self.spend.settle(store, task)
        return task
