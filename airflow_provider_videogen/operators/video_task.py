"""Shared life cycle of the video operators: validate -> submit or re-attach -> defer -> complete.

The generation and remix operators differ only in how they build and submit a request and in
what they add to XCom. What protects the user's money (re-attach, in-flight marker) is in
:mod:`.reattach`; what turns the end of the remote task into a result or a failure (shared with
the sensor) in :mod:`airflow_provider_videogen.completion`. This module strings them together,
with the waiting (trigger, worker polling).
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException
from pydantic import BaseModel, ValidationError

from airflow_provider_videogen.completion import VideoTaskCompletion, publish_remote_id
from airflow_provider_videogen.exceptions import InvalidRequestError
from airflow_provider_videogen.hooks.videogen import VideoGenHook
from airflow_provider_videogen.links.videogen import VideoLink
from airflow_provider_videogen.models import ApiKind, VideoTask, explain_validation_error
from airflow_provider_videogen.operators.reattach import (
    SubmissionGuard,
    SubmissionRecord,
    UncertainPolicy,
    stored_record,
)
from airflow_provider_videogen.spend.guard import SpendGuard, check_max_credits
from airflow_provider_videogen.triggers.videogen import VideoTaskEvent, VideoTaskTrigger

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow.sdk import Context


def has_template(value: Any) -> bool:
    """True when a value cannot be checked before rendering (Jinja, XComArg, mapped argument...)."""
    if isinstance(value, str):
        return "{{" in value or "{%" in value
    if isinstance(value, dict):
        return any(has_template(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(has_template(v) for v in value)
    return not isinstance(value, (int, float, bool, bytes, type(None)))


def validate(model_cls: type[BaseModel], what: str, /, **fields: Any) -> Any:
    """Build a request model; turn pydantic's report into :class:`InvalidRequestError` naming each field."""
    try:
        return model_cls(**fields)
    except ValidationError as exc:
        raise InvalidRequestError(what, explain_validation_error(exc)) from None


class BaseVideoTaskOperator(VideoTaskCompletion, BaseOperator):
    """Base of the operators that submit one remote video task and wait for it.

    :param videogen_conn_id: the ``videogen`` connection.
    :param deferrable: wait in the triggerer (default), freeing the worker slot while the video
        renders; ``False`` polls in the worker with the same code.
    :param poll_interval: seconds between status queries.
    :param timeout: how long one try waits for the remote task. A timed-out try fails; its retry
        re-attaches to the same remote task instead of paying again.
    :param wait_for_completion: ``False`` returns right after submission (fan out, then wait with
        :class:`~airflow_provider_videogen.sensors.videogen.VideoTaskSensor`).
    :param on_uncertain_submission: what a try does when an earlier try may have created a task
        but never learned its id (a crash or lost answer mid-request). ``"fail"`` (default) asks a
        human to look, because resubmitting may pay twice; ``"resubmit"`` accepts that risk.
    :param max_credits: refuse, before any request, a submission whose estimate is higher (see
        :mod:`airflow_provider_videogen.spend`); also refuses an unpriced model.
    :param allow_unpriced: submit a model without a price although ``max_credits`` or a budget
        (connection extra ``budget``) is set; it reserves nothing and settles what the gateway says.
    """

    api: ApiKind
    operator_extra_links = (VideoLink(),)
    ui_color = "#f3e5f5"

    def __init__(
        self,
        *,
        videogen_conn_id: str = VideoGenHook.default_conn_name,
        deferrable: bool = True,
        poll_interval: float = 15.0,
        timeout: timedelta | float = timedelta(hours=1),
        wait_for_completion: bool = True,
        on_uncertain_submission: UncertainPolicy = "fail",
        max_credits: float | None = None,
        allow_unpriced: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.max_credits = check_max_credits(max_credits)
        self.allow_unpriced = allow_unpriced
        self.videogen_conn_id = videogen_conn_id
        self.deferrable = deferrable
        self.poll_interval = float(poll_interval)
        self.wait_timeout = timeout.total_seconds() if isinstance(timeout, timedelta) else float(timeout)
        self.wait_for_completion = wait_for_completion
        if on_uncertain_submission not in ("fail", "resubmit"):
            raise ValueError(f"on_uncertain_submission={on_uncertain_submission!r}; allowed: 'fail', 'resubmit'")
        self.on_uncertain_submission = on_uncertain_submission
        if self.poll_interval <= 0:
            raise ValueError(f"poll_interval={poll_interval} must be > 0 seconds")

    # ---- what subclasses provide ---------------------------------------------------------------

    def build_request(self) -> BaseModel:
        """Build (and so validate) the request from the rendered fields."""
        raise NotImplementedError

    def submit(self, hook: VideoGenHook, request: BaseModel) -> VideoTask:
        raise NotImplementedError

    def describe_request(self, request: BaseModel) -> str:
        """One log line saying what is about to be paid for."""
        return f"{self.api.value} request for {getattr(request, 'model', '?')}"

    def validate_at_parse(self, fields: Sequence[str]) -> None:
        """Validate now when no field is templated, so a broken limit fails when the DAG file is parsed."""
        if not any(has_template(getattr(self, name)) for name in fields):
            self.build_request()

    # ---- life cycle ------------------------------------------------------------------------------

    @property
    def hook(self) -> VideoGenHook:
        if not hasattr(self, "_hook"):
            self._hook = VideoGenHook(videogen_conn_id=self.videogen_conn_id)
        return self._hook

    def execute(self, context: Context) -> Any:
        try:
            request = self.build_request()
        except InvalidRequestError as exc:
            # Nothing was sent, nothing billed; a retry would render the same values.
            raise AirflowFailException(str(exc)) from None
        self._spend = SpendGuard.check(
            log=self.log,
            conn_id=self.videogen_conn_id,
            request=request,
            context=context,
            max_credits=self.max_credits,
            allow_unpriced=self.allow_unpriced,
        )
        task = self._submit_or_reattach(context, request)
        publish_remote_id(context, task.id)
        if not self.wait_for_completion:
            self.log.info("wait_for_completion=False: returning remote task %s without waiting", task.id)
            return self._result(context, task)
        if task.state.is_terminal:
            return self._complete(context, VideoTaskTrigger.event_for(task, self.api))
        trigger = self._trigger(task.id)
        if self.deferrable:
            self.log.info(
                "Deferring: remote task %s is %s; polling every %ss in the triggerer",
                task.id,
                task.state.value,
                self.poll_interval,
            )
            self.defer(trigger=trigger, method_name="execute_complete")
        self.log.info("Polling remote task %s in the worker every %ss", task.id, self.poll_interval)
        event = asyncio.run(trigger.wait(hook=self.hook))
        return self._complete(context, event)

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        """Resume after the trigger fired: check the event and turn it into a result or a failure."""
        return self._complete(context, VideoTaskEvent.from_payload(event))

    def _trigger(self, task_id: str) -> VideoTaskTrigger:
        return VideoTaskTrigger(
            videogen_conn_id=self.videogen_conn_id,
            remote_task_id=task_id,
            api=self.api,
            poll_interval=self.poll_interval,
            deadline=time.time() + self.wait_timeout,
        )

    # ---- submission that cannot double-bill --------------------------------------------------

    def submission(self, context: Context) -> SubmissionRecord | None:
        return stored_record(context.get("task_state_store"))

    def _submit_or_reattach(self, context: Context, request: BaseModel) -> VideoTask:
        guard = SubmissionGuard(
            store=context.get("task_state_store"),
            api=self.api,
            hook=self.hook,
            log=self.log,
            on_uncertain=self.on_uncertain_submission,
            accept_partial=self.on_extend_failure == "accept_first_segment",
            try_number=getattr(context.get("ti"), "try_number", None),
            spend=self._spend,
        )
        return guard.submit_or_reattach(request, lambda r: self.submit(self.hook, r), self.describe_request)
