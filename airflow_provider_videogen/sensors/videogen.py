"""Sensor that waits for a remote video task submitted elsewhere (fan-out, then wait)."""

from __future__ import annotations

import time
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator

from airflow_provider_videogen.cancellation import cancel_on_kill
from airflow_provider_videogen.completion import VideoTaskCompletion, check_poll_interval, publish_remote_id
from airflow_provider_videogen.deadlines import check_wait_timeout, deferral_timeout, wait_deadline
from airflow_provider_videogen.hooks.videogen import VideoGenHook
from airflow_provider_videogen.links.videogen import VideoLink
from airflow_provider_videogen.models import ApiKind, VideoTask
from airflow_provider_videogen.remix_result import ExtendFailurePolicy, check_extend_failure_policy
from airflow_provider_videogen.triggers.polling import resolve_max_poll_interval
from airflow_provider_videogen.triggers.videogen import VideoTaskEvent, VideoTaskTrigger

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow.sdk import Context


class VideoTaskSensor(VideoTaskCompletion, BaseSensorOperator):
    """Wait for a remote task id (e.g. from a ``wait_for_completion=False`` operator's XCom).

    Deferrable by default: the wait happens in the triggerer. Succeeds with the same XCom shape
    as the operators; fails (without retry when a new submission would not help) when the
    remote task fails. The sensor never submits anything, so it can never pay twice.

    :param task_id_to_watch: the remote task id (templated), e.g. ``"{{ ti.xcom_pull('gen')['id'] }}"``.
    :param api: ``"generation"`` or ``"remix"``.
    :param poll_interval: seconds between status queries near the end of the render (deferrable),
        or between pokes (``deferrable=False``).
    :param adaptive_polling: deferrable only: wait until the render should be nearly done (from
        the gateway's estimate and the progress rate) before polling every ``poll_interval``.
    :param max_poll_interval: the longest wait between two status queries (default 180 s, or
        ``poll_interval`` if longer).
    :param on_extend_failure: remix only, as on ``VideoRemixOperator``: fail (keeping the 8 s clip
        in XCom) or accept the first segment when the extension failed.
    :param cancel_on_kill: when a user kills this sensor while it waits, ask the gateway to
        cancel the watched task, where the connection has a ``cancel_path`` (as on the operators).
        Set ``False`` when the task belongs to someone else's flow.

    The sensor's ``timeout`` (default 2 h; above 0 and at most
    :data:`~airflow_provider_videogen.deadlines.MAX_WAIT_TIMEOUT`) counts from when it starts
    waiting (it did not submit anything); Airflow's deferral timeout is set a little later as a
    safety net, as on the operators.
    """

    template_fields: Sequence[str] = ("task_id_to_watch",)
    operator_extra_links = (VideoLink(),)

    def __init__(
        self,
        *,
        task_id_to_watch: str,
        api: str | ApiKind = ApiKind.GENERATION,
        videogen_conn_id: str = VideoGenHook.default_conn_name,
        deferrable: bool = True,
        poll_interval: float = 15.0,
        on_extend_failure: ExtendFailurePolicy = "fail",
        adaptive_polling: bool = True,
        max_poll_interval: float | None = None,
        cancel_on_kill: bool = True,
        **kwargs: Any,
    ) -> None:
        poll_interval = check_poll_interval(poll_interval)  # before poke_interval inherits a 0
        timeout = kwargs.get("timeout")
        kwargs["timeout"] = check_wait_timeout(timedelta(hours=2) if timeout is None else timeout)
        kwargs.setdefault("poke_interval", poll_interval)
        super().__init__(**kwargs)
        self.task_id_to_watch = task_id_to_watch
        self.api = ApiKind(api)
        self.videogen_conn_id = videogen_conn_id
        self.deferrable = deferrable
        self.poll_interval = float(poll_interval)
        self.adaptive_polling = adaptive_polling
        self.max_poll_interval = resolve_max_poll_interval(self.poll_interval, max_poll_interval)
        check_extend_failure_policy(on_extend_failure)
        self.on_extend_failure = on_extend_failure
        self.cancel_on_kill = cancel_on_kill

    @cached_property
    def hook(self) -> VideoGenHook:
        """One hook, so one HTTP client, for every poke of this sensor (not one per poke)."""
        return VideoGenHook(self.videogen_conn_id)

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            self._poking = True
            try:
                return super().execute(context)
            finally:
                self._poking = False
        task = self.hook.get_task(self.api, self.task_id_to_watch)
        if task.state.is_terminal:
            return self._complete(context, VideoTaskTrigger.event_for(task, self.api))
        publish_remote_id(context, task.id, task.can_cancel)
        deadline = wait_deadline(float(self.timeout))
        self.defer(
            trigger=VideoTaskTrigger(
                videogen_conn_id=self.videogen_conn_id,
                remote_task_id=task.id,
                api=self.api,
                poll_interval=self.poll_interval,
                deadline=deadline,
                cancel_on_kill=self.cancel_on_kill,
                adaptive_polling=self.adaptive_polling,
                max_poll_interval=self.max_poll_interval,
                # What the first query said (the gateway's clock, never ahead of ours).
                estimated_time=task.estimated_time,
                submitted_at=min(time.time(), task.created_at.timestamp()) if task.created_at else None,
            ),
            method_name="execute_complete",
            timeout=deferral_timeout(deadline),
        )

    def on_kill(self) -> None:
        """``deferrable=False``: killed while poking; cancel the watched task or say it is billed."""
        if getattr(self, "_poking", False):
            cancel_on_kill(self.hook, self.api, self.task_id_to_watch, enabled=self.cancel_on_kill, log=self.log)

    def poke(self, context: Context) -> Any:
        task: VideoTask = self.hook.get_task(self.api, self.task_id_to_watch)
        self.log.info("%s", task.summary())
        if not task.state.is_terminal:
            return False
        from airflow.sdk import PokeReturnValue

        result = self._complete(context, VideoTaskTrigger.event_for(task, self.api))
        return PokeReturnValue(is_done=True, xcom_value=result)

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        return self._complete(context, VideoTaskEvent.from_payload(event))
