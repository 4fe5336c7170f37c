"""Completion: turn the end of a remote video task into an XCom result or the right failure.

Shared by the operators (after their trigger fires, or after polling in the worker) and by
:class:`~airflow_provider_videogen.sensors.videogen.VideoTaskSensor`, which follows a task
someone else submitted; so it lives outside ``operators/`` and knows nothing about submitting.
What a remix adds (both segments, and what a partially rendered remix becomes) is in
:mod:`airflow_provider_videogen.remix_result`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Protocol

from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_videogen.exceptions import VideoGenError, VideoTaskFailedError, VideoTaskTimeoutError
from airflow_provider_videogen.hooks.redaction import redact_links_in
from airflow_provider_videogen.links.videogen import (
    CAN_CANCEL_KEY,
    REMOTE_TASK_ID_KEY,
    VIDEO_URL_KEY,
    mark_remote_task,
    push_video_url,
)
from airflow_provider_videogen.models import ApiKind, TaskState, VideoTask
from airflow_provider_videogen.remix_result import ExtendFailurePolicy, settle_partial_remix
from airflow_provider_videogen.results import isoformat, video_result

if TYPE_CHECKING:
    from datetime import datetime

    from airflow.sdk import Context

    from airflow_provider_videogen.hooks.videogen import VideoGenHook
    from airflow_provider_videogen.triggers.videogen import VideoTaskEvent

#: A failed remote task's error, for the Videos view (``plugins.records``).
VIDEO_ERROR_KEY = "videogen_error"


def check_poll_interval(value: Any) -> float:
    """``poll_interval`` as seconds, refused unless a finite number above 0: the one rule the
    operators and the sensor share (0 would poll the gateway in a tight loop)."""
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"poll_interval={value!r} must be a number of seconds > 0") from None
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"poll_interval={value!r} must be a finite number of seconds > 0")
    return seconds


class SubmissionFacts(Protocol):
    """What the submitting task instance recorded (``operators.reattach.SubmissionRecord``)."""

    @property
    def submitted_at(self) -> datetime: ...

    @property
    def credits_reserved(self) -> float | None: ...


def no_video_url_message(task: VideoTask) -> str:
    """Why a succeeded task without a video URL fails without retry: it is paid, a retry would pay again."""
    return (
        f"Remote task {task.id} succeeded (the gateway bills it) but its answer lists no video URL, and this "
        f"{task.api.value} API offers no other way to fetch it. Not submitting again: a new task would be billed "
        f"as well. Ask the gateway's operator for the video of task {task.id}; once it can be downloaded, "
        "clearing this task re-uses it."
    )


def publish_remote_id(context: Context, remote_id: str, can_cancel: bool | None = None) -> None:
    """Push the remote id, whether the gateway says it can be cancelled, and an empty video link.

    The empty link gives the UI something to read while the task is deferred.
    """
    ti = context["ti"]
    if "task" in context:  # the operator (or sensor) the Video link is computed on, in this process
        mark_remote_task(context["task"])
    ti.xcom_push(key=REMOTE_TASK_ID_KEY, value=remote_id)
    ti.xcom_push(key=CAN_CANCEL_KEY, value=can_cancel)
    ti.xcom_push(key=VIDEO_URL_KEY, value="")


class VideoTaskCompletion:
    """Turn a trigger event into an XCom result or the right failure; shared by operators and the sensor."""

    api: ApiKind
    log: Any  # provided by BaseOperator / BaseSensorOperator
    #: Remix only: what an ``extend_failed`` task (8 s rendered, 7 s extension failed) becomes.
    on_extend_failure: ExtendFailurePolicy = "fail"
    #: ``False``: keep the signed download links out of XCom (see ``BaseVideoTaskOperator``).
    xcom_links: bool = True

    def submission(self, context: Context) -> SubmissionFacts | None:
        """What this task instance recorded when it submitted; ``None`` here: the sensor submits nothing."""
        return None

    def _complete(self, context: Context, event: VideoTaskEvent) -> Any:
        mark_remote_task(self)  # the Video link opens this task's Videos tab
        if event.links_omitted:  # the trigger keeps signed links out of its event: read them again
            hook: VideoGenHook = self.hook  # type: ignore[attr-defined]
            event = event.model_copy(update={"task": hook.get_task(self.api, event.task_id), "links_omitted": False})
        if event.status == "success" and event.task is not None:
            self.log.info("%s", event.task.summary())
            return self._result(context, event.task)
        if event.status == "failed":
            return self.on_remote_failure(context, event)
        if event.status == "timeout":
            if not getattr(self, "durable", True):
                raise VideoTaskTimeoutError(f"{event.message}. durable=False: a retry submits a new task (billed).")
            raise VideoTaskTimeoutError(
                f"{event.message}. The timeout counts from the first submission: a retry of this task "
                f"re-attaches to remote task {event.task_id} instead of submitting again, re-uses the video "
                "if it finished meanwhile and otherwise does not wait again; to wait longer, raise 'timeout' "
                "and clear the task."
            )
        # status == "error": the trigger could not learn the task's state
        if event.retryable:
            raise VideoGenError(f"Could not follow remote task {event.task_id}: {event.message}")
        raise AirflowFailException(f"Could not follow remote task {event.task_id}: {event.message}")

    def on_remote_failure(self, context: Context, event: VideoTaskEvent) -> Any:
        """The remote task failed: fail; without retry when a new submission cannot help.

        A remix whose extension failed (``extend_failed``) still rendered its first 8 s: that clip
        is kept (XCom, error message) or accepted as the result, per ``on_extend_failure``.
        """
        if event.task is not None and event.task.is_partial:
            return settle_partial_remix(
                context,
                event.task,
                policy=self.on_extend_failure,
                retryable=event.retryable,
                result_of=lambda accepted: self._result(context, accepted),
                log=self.log,
                xcom_links=self.xcom_links,
            )
        error = VideoTaskFailedError(
            event.task_id,
            event.error_code,
            # the hook scrubs what it parses; an event written before that (still in the database) may not be
            redact_links_in((event.task.error_message if event.task else event.message) or "") or None,
            retryable=event.retryable,
        )
        if "ti" in context:
            context["ti"].xcom_push(key=VIDEO_ERROR_KEY, value=str(error))  # the Videos view shows it
        if not event.retryable:
            raise AirflowFailException(str(error))
        raise error

    def _result(self, context: Context, task: VideoTask) -> dict[str, Any]:
        """Small JSON-serializable XCom (:func:`~airflow_provider_videogen.results.video_result`)."""
        if task.state is TaskState.SUCCEEDED and not task.video_urls:
            raise AirflowFailException(no_video_url_message(task))
        record = self.submission(context)
        result = video_result(
            task,
            self.api,
            credits_reserved=record.credits_reserved if record else None,
            submitted_at=record.submitted_at if record else None,
            xcom_links=self.xcom_links,
        )
        if self.xcom_links and task.video_urls:
            push_video_url(self, context["ti"], task.video_urls[0], isoformat(task.expires_at()))
        return result
