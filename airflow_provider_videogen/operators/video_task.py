"""Shared life cycle of the video operators: validate -> submit or re-attach -> defer -> complete.

The generation and remix operators differ only in how they build and submit a request and in
what they add to XCom; everything that protects the user's money (re-attach, in-flight marker,
no retry of hopeless failures) and everything about waiting (trigger, worker polling, sensor
hand-off) lives here once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Literal

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException
from pydantic import BaseModel, ValidationError

from airflow_provider_videogen.exceptions import (
    InvalidRequestError,
    NotFoundError,
    VideoGenError,
    VideoTaskFailedError,
    VideoTaskTimeoutError,
)
from airflow_provider_videogen.hooks.videogen import VideoGenHook
from airflow_provider_videogen.links.videogen import (
    REMOTE_TASK_ID_KEY,
    VIDEO_EXPIRES_KEY,
    VIDEO_URL_KEY,
    VideoLink,
)
from airflow_provider_videogen.models import (
    LINK_TTL,
    REMIX_SEGMENT_SECONDS,
    ApiKind,
    TaskState,
    VideoTask,
    explain_validation_error,
)
from airflow_provider_videogen.operators.reattach import (
    InFlightMarker,
    SubmissionRecord,
    decide,
    fingerprint,
    load_model,
)
from airflow_provider_videogen.spend.guard import SpendGuard, check_max_credits
from airflow_provider_videogen.triggers.videogen import VideoTaskEvent, VideoTaskTrigger

if TYPE_CHECKING:
    from airflow.sdk import Context

#: Task state store keys. Renaming them breaks re-attach for tasks in flight during an upgrade.
RECORD_KEY = "videogen_remote_task"
IN_FLIGHT_KEY = "videogen_submission_in_flight"
#: How long the store keeps the record: long enough to re-use a finished video until its links expire.
RECORD_RETENTION = LINK_TTL * 2

UncertainPolicy = Literal["fail", "resubmit"]
ExtendFailurePolicy = Literal["fail", "accept_first_segment"]
EXTEND_FAILURE_POLICIES: tuple[str, ...] = ("fail", "accept_first_segment")

#: XCom keys pushed when a remix extension fails, before the task fails, so the paid-for 8 s
#: clip and the id to continue it from are never lost (``on_extend_failure="fail"``).
FIRST_SEGMENT_URL_KEY = "first_segment_url"
REMIX_ID_KEY = "remix_id"
REMIX_ID_EXTEND_KEY = "remix_id_extend"
#: The whole result the task would have returned with ``on_extend_failure="accept_first_segment"``.
PARTIAL_RESULT_KEY = "partial_result"


def check_extend_failure_policy(policy: str) -> None:
    if policy not in EXTEND_FAILURE_POLICIES:
        raise ValueError(
            f"on_extend_failure={policy!r}; allowed: {', '.join(repr(p) for p in EXTEND_FAILURE_POLICIES)}"
        )


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


def publish_remote_id(context: Context, remote_id: str) -> None:
    """Push the remote id, and an empty video link so the UI has one to read while the task is deferred."""
    ti = context["ti"]
    ti.xcom_push(key=REMOTE_TASK_ID_KEY, value=remote_id)
    ti.xcom_push(key=VIDEO_URL_KEY, value="")


def isoformat(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


class VideoTaskCompletion:
    """Turn a trigger event into an XCom result or the right failure; shared by operators and the sensor."""

    api: ApiKind
    log: Any  # provided by BaseOperator / BaseSensorOperator
    #: Remix only: what an ``extend_failed`` task (8 s rendered, 7 s extension failed) becomes.
    on_extend_failure: ExtendFailurePolicy = "fail"

    def result_extras(self, task: VideoTask) -> dict[str, Any]:
        """Fields the API adds to the XCom result (remix: both segments and their upstream ids)."""
        if self.api is not ApiKind.REMIX:
            return {}
        return {
            "first_video_url": task.first_video_url,
            "remix_id": task.remix_id,
            "remix_id_extend": task.remix_id_extend,
            "partial": task.is_partial,
        }

    def _complete(self, context: Context, event: VideoTaskEvent) -> Any:
        if event.status == "success" and event.task is not None:
            self.log.info("%s", event.task.summary())
            return self._result(context, event.task)
        if event.status == "failed":
            return self.on_remote_failure(context, event)
        if event.status == "timeout":
            raise VideoTaskTimeoutError(
                f"{event.message}. A retry of this task re-attaches to remote task {event.task_id} "
                "instead of submitting again."
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
            return self._on_partial_remix(context, event, event.task)
        error = VideoTaskFailedError(
            event.task_id,
            event.error_code,
            event.task.error_message if event.task else event.message,
            retryable=event.retryable,
        )
        if not event.retryable:
            raise AirflowFailException(str(error))
        raise error

    def _on_partial_remix(self, context: Context, event: VideoTaskEvent, task: VideoTask) -> Any:
        clip = task.video_urls[0]
        first, extension = REMIX_SEGMENT_SECONDS
        # The 8 s clip is the remix's whole output: present it as a finished task so downstream
        # tasks (archiving, chaining) read it like any result, flagged by ``partial``.
        accepted = task.model_copy(
            update={
                "state": TaskState.SUCCEEDED,
                "first_video_url": task.first_video_url or clip,
                "completed_at": task.completed_at or _now(),
            }
        )
        result = self._result(context, accepted)
        result["error_code"] = task.error_code
        result["error_message"] = task.error_message
        if self.on_extend_failure == "accept_first_segment":
            self.log.warning(
                "Remote task %s: the %d s extension failed (%s); accepting the first %d s as the result "
                "(on_extend_failure='accept_first_segment'): %s",
                task.id,
                extension,
                task.error_message or task.error_code,
                first,
                clip,
            )
            return result
        ti = context["ti"]
        ti.xcom_push(key=FIRST_SEGMENT_URL_KEY, value=clip)
        ti.xcom_push(key=REMIX_ID_KEY, value=task.remix_id)
        ti.xcom_push(key=REMIX_ID_EXTEND_KEY, value=task.remix_id_extend)
        ti.xcom_push(key=PARTIAL_RESULT_KEY, value=result)
        message = (
            f"{task.error_message or 'the extension failed'}. The first {first} s rendered and are kept: "
            f"{clip} (remix_id {task.remix_id}; XCom keys '{FIRST_SEGMENT_URL_KEY}', '{REMIX_ID_KEY}', "
            f"'{PARTIAL_RESULT_KEY}'). Set on_extend_failure='accept_first_segment' to succeed with it"
        )
        error = VideoTaskFailedError(task.id, task.error_code, message, retryable=event.retryable)
        if not event.retryable:
            raise AirflowFailException(str(error))
        raise error

    def _result(self, context: Context, task: VideoTask) -> dict[str, Any]:
        """Small JSON-serializable XCom: ids, URLs and times; never video bytes."""
        store = context.get("task_state_store")
        record = load_model(SubmissionRecord, store.get(RECORD_KEY)) if store is not None else None
        expires = task.expires_at()
        result: dict[str, Any] = {
            "id": task.id,
            "api": self.api.value,
            "model": task.model,
            "state": task.state.value,
            "video_urls": list(task.video_urls),
            "progress": task.progress,
            "credits_reserved": task.credits_reserved
            if task.credits_reserved is not None
            else (record.credits_reserved if record else None),
            "submitted_at": isoformat(record.submitted_at if record else task.created_at),
            "completed_at": isoformat(task.completed_at),
            "expires_at": isoformat(expires),
        }
        result.update(self.result_extras(task))
        if task.video_urls:
            ti = context["ti"]
            ti.xcom_push(key=VIDEO_URL_KEY, value=task.video_urls[0])
            ti.xcom_push(key=VIDEO_EXPIRES_KEY, value=isoformat(expires))
        return result


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

    def _submit_or_reattach(self, context: Context, request: BaseModel) -> VideoTask:
        store = context.get("task_state_store")
        print_ = fingerprint(request)
        try_number = getattr(context.get("ti"), "try_number", None)
        if store is None:
            self.log.warning("No task_state_store in the context: re-attach after a retry is disabled for this run")
            return self._submit(None, request, print_, try_number)
        record = load_model(SubmissionRecord, store.get(RECORD_KEY))
        marker = load_model(InFlightMarker, store.get(IN_FLIGHT_KEY))
        remote: VideoTask | None = None
        if record is not None:
            try:
                remote = self.hook.get_task(record.api, record.id)
            except NotFoundError:
                remote = None
        decision = decide(
            record, marker, remote, print_, accept_partial=self.on_extend_failure == "accept_first_segment"
        )
        if decision.action == "refuse" and self.on_uncertain_submission == "resubmit":
            self.log.warning("%s; resubmitting because on_uncertain_submission='resubmit'", decision.reason)
        elif decision.action == "refuse":
            raise AirflowFailException(
                f"Not submitting: {decision.reason}. The gateway may be rendering (and billing) that task. "
                "Check the gateway's task list; to submit anyway, set on_uncertain_submission='resubmit' or "
                f"delete the '{IN_FLIGHT_KEY}' key of this task instance's task state store."
            )
        if decision.action in ("reattach", "reuse") and decision.task is not None:
            self.log.info("Re-attaching instead of submitting: %s", decision.reason)
            self._spend.settle_reattached(store, decision.task, record.credits_reserved if record else None)
            return decision.task
        if record is not None:
            self.log.info("Submitting a new task: %s", decision.reason)
        return self._submit(store, request, print_, try_number)

    def _submit(self, store: Any, request: BaseModel, print_: str, try_number: int | None) -> VideoTask:
        self.log.info("Submitting %s", self.describe_request(request))
        self._spend.reserve(store)  # before the in-flight marker: a refused reservation sent nothing
        if store is not None:
            store.set(
                IN_FLIGHT_KEY,
                InFlightMarker(fingerprint=print_, started_at=_now(), try_number=try_number).model_dump(mode="json"),
                retention=RECORD_RETENTION,
            )
        try:
            task = self.submit(self.hook, request)
        except VideoGenError as exc:
            if exc.submission_uncertain:
                raise AirflowFailException(
                    f"{exc} The create request may have reached the gateway; not retrying automatically, "
                    "because a second submission would be billed again."
                ) from None
            if store is not None:
                store.delete(IN_FLIGHT_KEY)
            self._spend.release(store, str(exc))
            raise
        if store is not None:
            record = SubmissionRecord(
                id=task.id,
                api=self.api,
                fingerprint=print_,
                model=task.model,
                submitted_at=_now(),
                credits_reserved=task.credits_reserved,
                try_number=try_number,
            )
            store.set(RECORD_KEY, record.model_dump(mode="json"), retention=RECORD_RETENTION)
            store.delete(IN_FLIGHT_KEY)
        self._spend.settle(store, task)
        return task


def _now() -> datetime:
    return datetime.now(tz=timezone.utc)
