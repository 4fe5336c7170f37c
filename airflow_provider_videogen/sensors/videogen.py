"""Sensor that waits for a remote video task submitted elsewhere (fan-out, then wait)."""

from __future__ import annotations

import time
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator

from airflow_provider_videogen.completion import VideoTaskCompletion, publish_remote_id
from airflow_provider_videogen.hooks.videogen import VideoGenHook
from airflow_provider_videogen.links.videogen import VideoLink
from airflow_provider_videogen.models import ApiKind, VideoTask
from airflow_provider_videogen.remix_result import ExtendFailurePolicy, check_extend_failure_policy
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
    :param on_extend_failure: remix only, as on ``VideoRemixOperator``: fail (keeping the 8 s clip
        in XCom) or accept the first segment when the extension failed.
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
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("timeout", timedelta(hours=2).total_seconds())
        kwargs.setdefault("poke_interval", poll_interval)
        super().__init__(**kwargs)
        self.task_id_to_watch = task_id_to_watch
        self.api = ApiKind(api)
        self.videogen_conn_id = videogen_conn_id
        self.deferrable = deferrable
        self.poll_interval = float(poll_interval)
        check_extend_failure_policy(on_extend_failure)
        self.on_extend_failure = on_extend_failure

    @cached_property
    def hook(self) -> VideoGenHook:
        """One hook, so one HTTP client, for every poke of this sensor (not one per poke)."""
        return VideoGenHook(self.videogen_conn_id)

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        task = self.hook.get_task(self.api, self.task_id_to_watch)
        if task.state.is_terminal:
            return self._complete(context, VideoTaskTrigger.event_for(task, self.api))
        publish_remote_id(context, task.id)
        self.defer(
            trigger=VideoTaskTrigger(
                videogen_conn_id=self.videogen_conn_id,
                remote_task_id=task.id,
                api=self.api,
                poll_interval=self.poll_interval,
                deadline=time.time() + float(self.timeout),
            ),
            method_name="execute_complete",
        )

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
