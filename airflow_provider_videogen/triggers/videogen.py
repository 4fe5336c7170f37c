"""Trigger that waits for a remote video task in the triggerer, holding no worker slot.

What it serializes is deliberately small: the connection id, the remote id, which API, the
polling numbers (interval, longest wait, the render's estimate and submission time) and a
wall-clock deadline. No key, no headers, no response bodies: the trigger
table is readable by anyone with database access, and a trigger rebuilt from these arguments
(after a triggerer restart, or on another triggerer) must continue the same remote task, not
start a new one. The deadline is an absolute epoch time, not a remaining duration, so that a
restart does not extend it.

When to poll is decided by :class:`~airflow_provider_videogen.triggers.polling.PollSchedule`
(adaptive polling: wait until the render should be nearly done, then every ``poll_interval``).
Its progress history lives in memory only; a rebuilt trigger starts a new schedule, which may
poll a little more but never misses the end or the deadline.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from airflow.triggers.base import BaseTrigger, TaskSuccessEvent, TriggerEvent
from pydantic import BaseModel, ConfigDict

from airflow_provider_videogen.cancellation import acancel_on_kill
from airflow_provider_videogen.exceptions import (
    InvalidResponseError,
    RateLimitedError,
    ServerError,
    VideoGenConnectionError,
    VideoGenError,
)
from airflow_provider_videogen.hooks.redaction import redact
from airflow_provider_videogen.hooks.videogen import VideoGenHook
from airflow_provider_videogen.models import ApiKind, TaskState, VideoTask, is_retryable_task_error
from airflow_provider_videogen.results import video_result
from airflow_provider_videogen.triggers.polling import PollSchedule, resolve_max_poll_interval
from airflow_provider_videogen.triggers.task_success import success_with_result

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

EventStatus = Literal["success", "failed", "timeout", "error"]

#: Failures of a status query that may pass (the hook already retried each one a few times).
TRANSIENT_POLL_ERRORS: tuple[type[Exception], ...] = (
    RateLimitedError,
    ServerError,
    VideoGenConnectionError,
    InvalidResponseError,
)
#: Longest sleep between polls after failures.
MAX_FAILURE_BACKOFF = 300.0
#: A progress line is logged when the state (or remix segment) changes, else at most this often:
#: a log line costs about as much CPU as parsing the answer, and a triggerer runs thousands.
LOG_PROGRESS_EVERY = 60.0


class VideoTaskEvent(BaseModel):
    """The one event a :class:`VideoTaskTrigger` yields: a fixed set of statuses, always the remote id.

    * ``success``: the remote task succeeded; ``task`` holds it.
    * ``failed``: the remote task failed or was cancelled; ``error_code`` / ``message`` say why.
    * ``timeout``: the deadline passed; the remote task may still be rendering.
    * ``error``: the trigger could not learn the state (auth, persistent 5xx, unknown task).
    """

    model_config = ConfigDict(frozen=True)

    status: EventStatus
    task_id: str
    api: ApiKind
    message: str
    error_code: str | None = None
    retryable: bool = True
    task: VideoTask | None = None
    #: The payload left out the task's download links (see :meth:`to_payload`).
    links_omitted: bool = False

    def to_payload(self) -> dict[str, Any]:
        """JSON-safe payload for ``TriggerEvent``, without the raw body and without download links.

        Airflow logs the whole event ("Trigger fired event ... result=TriggerEvent<...>") and
        stores it with the task instance; the links are signed bearer URLs, so they stay out. The
        completing task reads them again with one status query (``links_omitted``).
        """
        payload = self.model_dump(mode="json", exclude={"task", "links_omitted"})
        task = self.task
        payload["links_omitted"] = bool(task and (task.video_urls or task.first_video_url))
        payload["task"] = (
            task.model_dump(mode="json", exclude={"raw", "video_urls", "first_video_url"}) if task else None
        )
        return payload

    @classmethod
    def from_payload(cls, payload: Any) -> VideoTaskEvent:
        """Parse an event; refuse anything that is not one of ours rather than guess."""
        if not isinstance(payload, dict) or "status" not in payload or "task_id" not in payload:
            raise VideoGenError(f"Unexpected trigger event {str(payload)[:200]!r}: expected a VideoTaskTrigger event")
        try:
            return cls.model_validate(payload)
        except (ValueError, TypeError, OverflowError, RecursionError) as exc:
            raise VideoGenError(
                f"Unreadable trigger event for remote task {str(payload.get('task_id'))[:100]!r}: "
                f"{type(exc).__name__}: {str(exc)[:300]}"
            ) from None


class VideoTaskTrigger(BaseTrigger):
    """Poll a remote video task until it ends or the deadline passes.

    :param videogen_conn_id: the ``videogen`` connection (resolved in the triggerer, never serialized).
    :param remote_task_id: the remote task id returned at submission.
    :param api: ``"generation"`` or ``"remix"``: which query endpoint to poll.
    :param poll_interval: seconds between status queries near the end of a render (all along
        with ``adaptive_polling=False``); never less between two queries.
    :param deadline: wall-clock epoch seconds after which a ``timeout`` event is sent.
    :param max_consecutive_failures: polls that may fail in a row (after the hook's own retries)
        before the trigger gives up with an ``error`` event.
    :param adaptive_polling: wait until the render should be nearly done (from ``estimated_time``
        and the progress rate) instead of polling every ``poll_interval`` from the start.
    :param max_poll_interval: the longest wait between two queries (default: 180 s, or
        ``poll_interval`` when that is longer).
    :param estimated_time: the gateway's render estimate in seconds (``task_info.estimated_time``).
    :param submitted_at: wall-clock epoch seconds of the submission.
    :param cancel_on_kill: when a user kills the waiting task, ask the gateway to cancel the
        remote task (where the connection has a ``cancel_path``); see
        :mod:`airflow_provider_videogen.cancellation`.
    :param end_from_trigger: end the task here when the video is ready: yield a
        ``TaskSuccessEvent`` carrying the XCom result, so no worker resumes the task (one worker
        workload per video instead of two). Only a clean success ends here; a failure, a timeout,
        an unreadable state or a success without a link resumes the task in a worker as usual,
        where the retry policy, the failure messages and the partial-remix rules live. The
        operator sets it only with ``xcom_links=False``: the event is logged by the triggerer, so
        it must never hold a signed link.
    :param reserved_credits: the submitting try's reservation, for the result when the gateway's
        answer does not state it (``end_from_trigger`` only).
    :param first_submitted_at: ISO time of the first submission of this remote task, as the
        submitting try recorded it (``end_from_trigger`` only; the result's ``submitted_at``).
    """

    def __init__(
        self,
        *,
        videogen_conn_id: str,
        remote_task_id: str,
        api: str | ApiKind,
        poll_interval: float,
        deadline: float,
        max_consecutive_failures: int = 5,
        adaptive_polling: bool = True,
        max_poll_interval: float | None = None,
        estimated_time: float | None = None,
        submitted_at: float | None = None,
        cancel_on_kill: bool = True,
        end_from_trigger: bool = False,
        reserved_credits: float | None = None,
        first_submitted_at: str | None = None,
    ) -> None:
        super().__init__()
        self.videogen_conn_id = videogen_conn_id
        self.remote_task_id = remote_task_id
        self.api = ApiKind(api)
        self.poll_interval = float(poll_interval)
        self.deadline = float(deadline)
        self.max_consecutive_failures = int(max_consecutive_failures)
        self.adaptive_polling = bool(adaptive_polling)
        self.max_poll_interval = resolve_max_poll_interval(self.poll_interval, max_poll_interval)
        self.estimated_time = float(estimated_time) if estimated_time is not None else None
        self.submitted_at = float(submitted_at) if submitted_at is not None else None
        self.cancel_on_kill = bool(cancel_on_kill)
        self.end_from_trigger = bool(end_from_trigger)
        self.reserved_credits = float(reserved_credits) if reserved_credits is not None else None
        # Checked here, not when the event is due: a malformed value fails the trigger at once.
        self.first_submitted_at = datetime.fromisoformat(first_submitted_at).isoformat() if first_submitted_at else None

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "videogen_conn_id": self.videogen_conn_id,
                "remote_task_id": self.remote_task_id,
                "api": self.api.value,
                "poll_interval": self.poll_interval,
                "deadline": self.deadline,
                "max_consecutive_failures": self.max_consecutive_failures,
                "adaptive_polling": self.adaptive_polling,
                "max_poll_interval": self.max_poll_interval,
                "estimated_time": self.estimated_time,
                "submitted_at": self.submitted_at,
                "cancel_on_kill": self.cancel_on_kill,
                "end_from_trigger": self.end_from_trigger,
                "reserved_credits": self.reserved_credits,
                "first_submitted_at": self.first_submitted_at,
            },
        )

    def schedule(self) -> PollSchedule:
        """A fresh polling schedule from the serialized numbers (no history)."""
        return PollSchedule(
            poll_interval=self.poll_interval,
            max_poll_interval=self.max_poll_interval,
            deadline=self.deadline,
            adaptive=self.adaptive_polling,
            estimated_time=self.estimated_time,
            submitted_at=self.submitted_at,
        )

    def _hook(self) -> VideoGenHook:
        return VideoGenHook(videogen_conn_id=self.videogen_conn_id)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Yield exactly one event, whatever happens while polling.

        A trigger that raises leaves the deferred task without an answer and the reason in the
        triggerer's log only; an ``error`` event (redacted like every hook error) reaches the task.
        """
        hook = self._hook()
        try:
            event = await self.wait(hook)
        except Exception as exc:
            key = hook._settings.api_key if hook._settings else None
            event = VideoTaskEvent(
                status="error",
                task_id=self.remote_task_id,
                api=self.api,
                message=redact(f"the trigger failed: {type(exc).__name__}: {str(exc)[:500]}", key),
                retryable=True,
            )
        end = await self.end_here(event) if self.end_from_trigger else None
        yield end if end is not None else TriggerEvent(event.to_payload())

    async def end_here(self, event: VideoTaskEvent) -> TaskSuccessEvent | None:
        """The event that ends the task here, its result written first; ``None`` for a worker.

        See :mod:`~airflow_provider_videogen.triggers.task_success` for why the result is not the
        event's XCom.
        """
        result = self.task_result(event)
        if result is None:
            return None
        return await success_with_result(self, result, self.log)

    def task_result(self, event: VideoTaskEvent) -> dict[str, Any] | None:
        """The XCom result the task ends with here, or ``None`` when a worker must complete it.

        Only a success with a video link: everything else (failure, timeout, error, a succeeded
        task without a link, which must fail without retry) is the worker's, as without
        ``end_from_trigger``. The result has no links (``xcom_links=False``), so what the
        triggerer logs and stores holds no bearer URL.
        """
        task = event.task
        if event.status != "success" or task is None or not task.video_urls:
            return None
        result = video_result(
            task,
            self.api,
            credits_reserved=self.reserved_credits,
            submitted_at=datetime.fromisoformat(self.first_submitted_at) if self.first_submitted_at else None,
            xcom_links=False,
        )
        self.log.info("%s; the task ends in the triggerer (end_from_trigger)", task.summary())
        return result

    async def wait(self, hook: VideoGenHook | None = None) -> VideoTaskEvent:
        """Poll until the task ends and return the single event.

        ``run`` yields what this returns; an operator with ``deferrable=False`` awaits it in the
        worker, so both paths share one polling loop. ``hook`` lets the worker pass a hook whose
        connection it already resolved.
        """
        hook = hook or self._hook()
        schedule = self.schedule()
        failures = 0
        last_progress: int | None = None
        logged: tuple[TaskState, str] | None = None  # state and remix segment of the last progress line
        logged_at = logged_progress = 0.0
        await self._sleep(schedule.next_wait(time.time()))
        while True:
            sent = time.time()
            if sent >= self.deadline:
                return self._timeout_event(last_progress)
            try:
                task = await hook.aget_task(self.api, self.remote_task_id, deadline=self.deadline)
            except TRANSIENT_POLL_ERRORS as exc:
                failures += 1
                if failures >= self.max_consecutive_failures:
                    return VideoTaskEvent(
                        status="error",
                        task_id=self.remote_task_id,
                        api=self.api,
                        message=f"gave up after {failures} failed status queries in a row; last: {exc}",
                        retryable=True,
                    )
                backoff = min(MAX_FAILURE_BACKOFF, self.poll_interval * 2**failures)
                self.log.warning(
                    "Status query %d/%d for %s failed (%s); next in %.1fs",
                    failures,
                    self.max_consecutive_failures,
                    self.remote_task_id,
                    exc,
                    backoff,
                )
                await self._sleep(backoff)
                continue
            except VideoGenError as exc:
                return VideoTaskEvent(
                    status="error", task_id=self.remote_task_id, api=self.api, message=str(exc), retryable=False
                )
            failures = 0
            last_progress = task.progress
            if task.state.is_terminal:
                self._log_progress(task)
                return self.event_for(task, self.api)
            now = time.time()
            schedule.observe(
                now,
                task.progress,
                sent_at=sent,
                estimated_time=task.estimated_time,
                submitted_at=task.created_at.timestamp() if task.created_at else None,
                poll_after=task.poll_after,
            )
            wait = schedule.next_wait(now)
            phase = (task.state, task.segment if self.api is ApiKind.REMIX else "")
            if phase != logged or (task.progress != logged_progress and now - logged_at >= LOG_PROGRESS_EVERY):
                self._log_progress(task, wait)
                logged, logged_at, logged_progress = phase, now, task.progress
            await self._sleep(wait)

    async def _sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, min(seconds, self.deadline - time.time())))

    def _log_progress(self, task: VideoTask, next_in: float | None = None) -> None:
        where = f" ({task.segment})" if self.api is ApiKind.REMIX and not task.state.is_terminal else ""
        if next_in is None:
            self.log.info("Remote task %s: %s, %d%%%s", task.id, task.state.value, task.progress, where)
        else:
            self.log.info(
                "Remote task %s: %s, %d%%%s; next check in %.1fs",
                task.id,
                task.state.value,
                task.progress,
                where,
                next_in,
            )

    def _timeout_event(self, last_progress: int | None) -> VideoTaskEvent:
        return VideoTaskEvent(
            status="timeout",
            task_id=self.remote_task_id,
            api=self.api,
            message=(
                f"remote task {self.remote_task_id} did not finish before the deadline "
                f"(last progress {last_progress if last_progress is not None else 'unknown'}%); "
                "it may still be rendering and is billed"
            ),
        )

    @staticmethod
    def event_for(task: VideoTask, api: ApiKind) -> VideoTaskEvent:
        """The event for a task in a terminal state."""
        if task.state is TaskState.SUCCEEDED:
            return VideoTaskEvent(
                status="success",
                task_id=task.id,
                api=api,
                message=f"remote task {task.id} succeeded with {len(task.video_urls)} video(s)",
                task=task,
            )
        return VideoTaskEvent(
            status="failed",
            task_id=task.id,
            api=api,
            message=f"remote task {task.id} {task.state.value}: {task.error_message or 'no message'}",
            error_code=task.error_code,
            retryable=is_retryable_task_error(task.error_code),
            task=task,
        )

    async def on_kill(self) -> None:
        """A user marked the deferred task failed/success or cleared it: cancel, or say it is billed.

        Airflow calls this only for a user's action, not when a triggerer stops or hands the
        trigger to another one; so cancelling here never stops a render that a restarted
        triggerer is about to pick up again. ``cleanup()`` (every exit) is left alone for the
        same reason.
        """
        await acancel_on_kill(self._hook(), self.api, self.remote_task_id, enabled=self.cancel_on_kill, log=self.log)
