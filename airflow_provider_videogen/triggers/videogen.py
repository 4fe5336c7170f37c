"""Trigger that waits for a remote video task in the triggerer, holding no worker slot.

What it serializes is deliberately small: the connection id, the remote id, which API, the
poll interval and a wall-clock deadline. No key, no headers, no response bodies: the trigger
table is readable by anyone with database access, and a trigger rebuilt from these arguments
(after a triggerer restart, or on another triggerer) must continue the same remote task, not
start a new one. The deadline is an absolute epoch time, not a remaining duration, so that a
restart does not extend it.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any, Literal

from airflow.triggers.base import BaseTrigger, TriggerEvent
from pydantic import BaseModel, ConfigDict

from airflow_provider_videogen.exceptions import (
    InvalidResponseError,
    RateLimitedError,
    ServerError,
    VideoGenConnectionError,
    VideoGenError,
)
from airflow_provider_videogen.hooks.videogen import VideoGenHook
from airflow_provider_videogen.models import ApiKind, TaskState, VideoTask, is_retryable_task_error

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

    def to_payload(self) -> dict[str, Any]:
        """JSON-safe payload for ``TriggerEvent`` (the raw body is dropped: it can be large)."""
        payload = self.model_dump(mode="json", exclude={"task"})
        payload["task"] = self.task.model_dump(mode="json", exclude={"raw"}) if self.task else None
        return payload

    @classmethod
    def from_payload(cls, payload: Any) -> VideoTaskEvent:
        """Parse an event; refuse anything that is not one of ours rather than guess."""
        if not isinstance(payload, dict) or "status" not in payload or "task_id" not in payload:
            raise VideoGenError(f"Unexpected trigger event {payload!r}: expected a VideoTaskTrigger event")
        return cls.model_validate(payload)


class VideoTaskTrigger(BaseTrigger):
    """Poll a remote video task until it ends or the deadline passes.

    :param videogen_conn_id: the ``videogen`` connection (resolved in the triggerer, never serialized).
    :param remote_task_id: the remote task id returned at submission.
    :param api: ``"generation"`` or ``"remix"``: which query endpoint to poll.
    :param poll_interval: seconds between status queries.
    :param deadline: wall-clock epoch seconds after which a ``timeout`` event is sent.
    :param max_consecutive_failures: polls that may fail in a row (after the hook's own retries)
        before the trigger gives up with an ``error`` event.
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
    ) -> None:
        super().__init__()
        self.videogen_conn_id = videogen_conn_id
        self.remote_task_id = remote_task_id
        self.api = ApiKind(api)
        self.poll_interval = float(poll_interval)
        self.deadline = float(deadline)
        self.max_consecutive_failures = int(max_consecutive_failures)

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
            },
        )

    def _hook(self) -> VideoGenHook:
        return VideoGenHook(videogen_conn_id=self.videogen_conn_id)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        event = await self.wait()
        yield TriggerEvent(event.to_payload())

    async def wait(self, hook: VideoGenHook | None = None) -> VideoTaskEvent:
        """Poll until the task ends and return the single event.

        ``run`` yields what this returns; an operator with ``deferrable=False`` awaits it in the
        worker, so both paths share one polling loop. ``hook`` lets the worker pass a hook whose
        connection it already resolved.
        """
        hook = hook or self._hook()
        failures = 0
        last_progress: int | None = None
        last_state: TaskState | None = None
        while True:
            if time.time() >= self.deadline:
                return self._timeout_event(last_progress)
            try:
                task = await hook.aget_task(self.api, self.remote_task_id)
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
            if task.progress != last_progress or task.state != last_state:
                self._log_progress(task)
                last_progress, last_state = task.progress, task.state
            if task.state.is_terminal:
                return self.event_for(task, self.api)
            await self._sleep(self.poll_interval)

    async def _sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, min(seconds, self.deadline - time.time())))

    def _log_progress(self, task: VideoTask) -> None:
        where = f" ({task.segment})" if self.api is ApiKind.REMIX and not task.state.is_terminal else ""
        self.log.info("Remote task %s: %s, %d%%%s", task.id, task.state.value, task.progress, where)

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
        """A user marked the deferred task failed/success or cleared it.

        No cancel endpoint is documented, so by default the remote task keeps rendering and is
        billed; say so plainly, with its id. Where the connection configures ``cancel_path``,
        call it.
        """
        try:
            cancelled = await self._hook().acancel(self.api, self.remote_task_id)
        except VideoGenError as exc:
            self.log.warning("Cancelling remote task %s failed: %s; it may still be billed.", self.remote_task_id, exc)
            return
        if cancelled:
            self.log.warning("Asked the gateway to cancel remote task %s.", self.remote_task_id)
        else:
            self.log.warning(
                "Task killed by a user, but remote task %s (%s API) keeps running and will be billed: the "
                "gateway documents no cancel endpoint (set 'cancel_path' in the connection extras if yours has one).",
                self.remote_task_id,
                self.api.value,
            )
