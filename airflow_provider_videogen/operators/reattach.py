"""Decide whether a try re-attaches to an earlier remote task or submits a new one.

Videos are billed per second, so the rule is: **never pay twice for the same task instance**.
Airflow 3.3's task state store keeps rows per (DAG run, task id, map index), shared by every
try of that task instance; the operators record the remote id there the moment it exists.

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
from datetime import datetime, timezone
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from airflow_provider_videogen.models import ApiKind, TaskState, VideoTask

Action = Literal["submit", "reattach", "reuse", "refuse"]


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
    now = now or datetime.now(tz=timezone.utc)
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
