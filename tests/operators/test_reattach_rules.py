"""The re-attach decision table (operators/reattach.py), case by case."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from airflow_provider_videogen.models import ApiKind, GenerationRequest, TaskState, VideoTask
from airflow_provider_videogen.operators.reattach import InFlightMarker, SubmissionRecord, decide, fingerprint

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)
PRINT = fingerprint(GenerationRequest(model="veo3.1-fast", prompt="a cat"))
RECORD = SubmissionRecord(id="task-unified-1-aaaaaaaa", api=ApiKind.GENERATION, fingerprint=PRINT, submitted_at=NOW)


def remote(
    state: TaskState, *, completed_hours_ago: float | None = None, code: str | None = None, urls: bool = True
) -> VideoTask:
    completed = NOW - timedelta(hours=completed_hours_ago) if completed_hours_ago is not None else None
    return VideoTask(
        id=RECORD.id,
        api=ApiKind.GENERATION,
        state=state,
        video_urls=["https://cdn.example.com/v.mp4"] if urls and state is TaskState.SUCCEEDED else [],
        completed_at=completed,
        error_code=code,
    )


@pytest.mark.parametrize(
    ("record", "marker", "task", "action"),
    [
        (None, None, None, "submit"),
        (RECORD, None, remote(TaskState.PENDING), "reattach"),
        (RECORD, None, remote(TaskState.RUNNING), "reattach"),
        (RECORD, None, remote(TaskState.SUCCEEDED, completed_hours_ago=2), "reuse"),
        (RECORD, None, remote(TaskState.SUCCEEDED, completed_hours_ago=23.9), "submit"),  # links about to expire
        (RECORD, None, remote(TaskState.SUCCEEDED, completed_hours_ago=30), "submit"),
        (RECORD, None, remote(TaskState.FAILED, code="service_error"), "submit"),
        (RECORD, None, remote(TaskState.CANCELLED), "submit"),
        (RECORD, None, None, "submit"),  # the gateway no longer knows it (404)
        (RECORD.model_copy(update={"fingerprint": "other"}), None, remote(TaskState.RUNNING), "submit"),
        (None, InFlightMarker(fingerprint=PRINT, started_at=NOW), None, "refuse"),
        (None, InFlightMarker(fingerprint="other", started_at=NOW), None, "submit"),
        (RECORD, InFlightMarker(fingerprint=PRINT, started_at=NOW), remote(TaskState.FAILED), "refuse"),
        (RECORD, InFlightMarker(fingerprint=PRINT, started_at=NOW), remote(TaskState.RUNNING), "refuse"),
        (
            RECORD.model_copy(update={"marker_started_at": NOW}),
            InFlightMarker(fingerprint=PRINT, started_at=NOW),
            remote(TaskState.RUNNING),
            "reattach",
        ),
    ],
    ids=[
        "nothing stored",
        "pending",
        "running",
        "succeeded recently",
        "links about to expire",
        "links expired",
        "failed",
        "cancelled",
        "unknown to gateway",
        "different request",
        "submission in doubt",
        "doubt about another request",
        "lost answer after an older failed task",
        "lost answer while an older task runs",
        "marker the record answers (crash between the writes)",
    ],
)
def test_decision_table(
    record: SubmissionRecord | None, marker: InFlightMarker | None, task: VideoTask | None, action: str
) -> None:
    decision = decide(record, marker, task, PRINT, now=NOW)
    assert decision.action == action, decision.reason
    assert decision.reason


def test_partial_remix_is_reused_only_when_accepted() -> None:
    partial = VideoTask(
        id="task_r",
        api=ApiKind.REMIX,
        state=TaskState.FAILED,
        error_code="extend_failed",
        video_urls=["https://cdn.example.com/8s.mp4"],
        completed_at=NOW - timedelta(hours=1),
    )
    record = RECORD.model_copy(update={"id": "task_r", "api": ApiKind.REMIX})
    assert decide(record, None, partial, PRINT, now=NOW).action == "submit"
    assert decide(record, None, partial, PRINT, now=NOW, accept_partial=True).action == "reuse"


def test_fingerprint_ignores_nothing_that_changes_the_request() -> None:
    a = GenerationRequest(model="veo3.1-fast", prompt="a cat")
    assert fingerprint(a) == fingerprint(GenerationRequest(model="veo3.1-fast", prompt="a cat"))
    assert fingerprint(a) != fingerprint(GenerationRequest(model="veo3.1-fast", prompt="a dog"))
    assert fingerprint(a) != fingerprint(GenerationRequest(model="veo3.1-fast", prompt="a cat", duration=4))
