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

from airflow_provider_videogen.cancellation import cancel_on_kill
from airflow_provider_videogen.completion import VideoTaskCompletion, check_poll_interval, publish_remote_id
from airflow_provider_videogen.deadlines import check_wait_timeout, deferral_timeout, isoformat_epoch, wait_deadline
from airflow_provider_videogen.exceptions import InvalidRequestError, VideoGenError
from airflow_provider_videogen.hooks.videogen import VideoGenHook
from airflow_provider_videogen.lineage import LineageFacts, gateway_origin, operator_lineage
from airflow_provider_videogen.links.videogen import VideoLink
from airflow_provider_videogen.models import ApiKind, VideoTask, explain_validation_error
from airflow_provider_videogen.operators.ending import check_end_from_trigger, ends_in_triggerer, is_end_event_payload
from airflow_provider_videogen.operators.reattach import (
    Decision,
    SubmissionGuard,
    SubmissionRecord,
    UncertainPolicy,
    stored_record,
)
from airflow_provider_videogen.operators.resumable import report_decision
from airflow_provider_videogen.operators.retry_policy import VideoRetryPolicy
from airflow_provider_videogen.operators.start_mode import start_trigger_args_for
from airflow_provider_videogen.operators.state_stores import in_flight_location, markers_store
from airflow_provider_videogen.spend.guard import SpendGuard, check_max_credits
from airflow_provider_videogen.spend.resume import settle_left
from airflow_provider_videogen.triggers.polling import resolve_max_poll_interval
from airflow_provider_videogen.triggers.start import START_IN_WORKER
from airflow_provider_videogen.triggers.videogen import VideoTaskEvent, VideoTaskTrigger

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow.providers.openlineage.extractors.base import OperatorLineage
    from airflow.sdk import Context

    from airflow_provider_videogen.hooks.videogen import BeforeSend


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


def polling_description(poll_interval: float, adaptive: bool, estimated_time: int | None) -> str:
    """How the task log describes the wait: the remix API sends no estimate, and the line must say so."""
    how = f"every {poll_interval:g}s"
    if not adaptive:
        return how
    if estimated_time is None:
        return f"{how} near the end (adaptive; the gateway gave no estimate, so it goes by progress)"
    return f"{how} near the end (adaptive; the gateway estimates {estimated_time}s)"


class BaseVideoTaskOperator(VideoTaskCompletion, BaseOperator):
    """Base of the operators that submit one remote video task and wait for it.

    :param videogen_conn_id: the ``videogen`` connection.
    :param deferrable: wait in the triggerer (default), freeing the worker slot while the video
        renders; ``False`` polls in the worker with the same code.
    :param poll_interval: seconds between status queries once the render should be nearly done
        (all along with ``adaptive_polling=False``): a finished video is seen within about this.
    :param adaptive_polling: wait until the render should be nearly done (from the gateway's
        ``estimated_time`` and the progress rate) before polling every ``poll_interval``, so a
        render in flight costs a few status queries instead of one per interval.
    :param max_poll_interval: the longest wait between two status queries (default 180 s, or
        ``poll_interval`` if longer), which bounds what a wrong estimate costs.
    :param timeout: how long to wait for the remote task, counted from its **first submission**,
        not from each try: a retry or clear that re-attaches keeps the original deadline (and
        re-uses the video if it finished meanwhile). Airflow's own deferral timeout is set a
        little later (:data:`~airflow_provider_videogen.deadlines.DEFERRAL_GRACE`) as a safety
        net for a lost trigger; the trigger's clean ``timeout`` event wins when both apply.
        Above 0 and at most :data:`~airflow_provider_videogen.deadlines.MAX_WAIT_TIMEOUT` (7 days).
    :param cancel_on_kill: when a user kills the task (mark failed/success, clear) while it waits,
        ask the gateway to cancel the remote task, where the connection has a ``cancel_path``
        extra (the gateway documents none). Without one, the log says the render continues and
        is billed. Deferred: the trigger's ``on_kill``; ``deferrable=False``: this operator's.
    :param durable: ``ResumableJobMixin``'s argument, same meaning: ``True`` (default) re-attaches
        a retry or clear to the task an earlier try paid for (:mod:`.reattach`); ``False`` submits
        on every try. Decisions are reported as the mixin's ``resumable_job.*`` counters and span
        (:mod:`.resumable`).
    :param wait_for_completion: ``False`` returns right after submission (fan out, then wait with
        :class:`~airflow_provider_videogen.sensors.videogen.VideoTaskSensor`).
    :param on_uncertain_submission: what a try does when an earlier try may have created a task
        but never learned its id (a crash or lost answer mid-request). ``"fail"`` (default) asks a
        human to look, because resubmitting may pay twice; ``"resubmit"`` accepts that risk.
    :param xcom_links: ``False`` (default) keeps the signed download links (bearer URLs, valid
        24 h) out of XCom: the result holds the remote id, state and times with ``video_urls``
        empty and ``links_in_xcom: false``; the "Video" link opens the task's Videos tab, which
        plays the video, and ``VideoToS3Operator`` reads the links by the remote id when it
        archives. ``True`` puts the links in the result, for DAGs that hand them on.
    :param max_credits: refuse, before any request, a submission whose estimate is higher (see
        :mod:`airflow_provider_videogen.spend`); also refuses an unpriced model. A retry that
        re-attaches to (or re-uses) a task an earlier try paid for costs nothing and is never
        refused by it, nor by a budget.
    :param allow_unpriced: submit a model without a price although ``max_credits`` or a budget
        (connection extra ``budget``) is set; it reserves nothing and settles what the gateway says.
    :param end_from_trigger: when the video is ready, end the task in the triggerer with its XCom
        result instead of resuming it in a worker: one worker workload per video instead of two
        (see :mod:`airflow_provider_videogen.operators.ending`). ``None`` (default) does so
        unless ``xcom_links=True`` (the triggerer logs the ending event, which must hold no
        signed link) or, decided when the task defers, a listener plugin such as OpenLineage is
        registered (listeners run in the worker; the task then resumes there, as with ``False``).
    :param start_from_trigger: start the task in the triggerer: the scheduler hands it to a
        trigger that validates, submits (or re-attaches) and waits there, so a video that
        succeeds takes no worker workload at all (:mod:`airflow_provider_videogen.triggers.start`).
        Its submission markers live in Airflow Variables (``videogen_state__...``) instead of the
        task state store, which a trigger cannot reach. Whatever cannot be done there as safely
        (a listener plugin such as OpenLineage registered, arguments read from a mapped task's
        output, any failure before the wait) is handed to a worker, as without the option.
        Needs ``deferrable=True`` and ``xcom_links=False``; works with ``.partial().expand()``.

    ``retry_policy`` (``BaseOperator``'s) defaults to
    :class:`~airflow_provider_videogen.operators.retry_policy.VideoRetryPolicy`: within ``retries``,
    retry what a retry can fix, fail at once what it cannot, and log why; ``retry_policy=None``
    restores Airflow's plain behaviour.
    """

    api: ApiKind
    operator_extra_links = (VideoLink(),)
    #: ``start_from_trigger=True`` is possible (not for the decorators: their function runs in a worker).
    can_start_in_triggerer: bool = True
    ui_color = "#f3e5f5"
    #: The remote task this worker is polling (``deferrable=False``), for :meth:`on_kill`.
    _polled_remote_id: str | None = None
    #: What this process learned for OpenLineage (the resumed process after deferral learns it anew).
    _seen_task: VideoTask | None = None
    _seen_record: SubmissionRecord | None = None
    _seen_try: int | None = None
    _seen_error: str | None = None

    def __init__(
        self,
        *,
        videogen_conn_id: str = VideoGenHook.default_conn_name,
        deferrable: bool = True,
        poll_interval: float = 15.0,
        timeout: timedelta | float = timedelta(hours=1),
        wait_for_completion: bool = True,
        on_uncertain_submission: UncertainPolicy = "fail",
        adaptive_polling: bool = True,
        max_poll_interval: float | None = None,
        cancel_on_kill: bool = True,
        durable: bool = True,
        xcom_links: bool = False,
        max_credits: float | None = None,
        allow_unpriced: bool = False,
        end_from_trigger: bool | None = None,
        start_from_trigger: bool = False,
        **kwargs: Any,
    ) -> None:
        if "retry_policy" not in kwargs and "retry_policy" not in (kwargs.get("default_args") or {}):
            kwargs["retry_policy"] = VideoRetryPolicy()  # retry what can be fixed, say why (see its module)
        super().__init__(**kwargs)
        self.cancel_on_kill = cancel_on_kill
        self.durable = durable
        self.xcom_links = bool(xcom_links)
        self.end_from_trigger = check_end_from_trigger(end_from_trigger, xcom_links=self.xcom_links)
        self.start_from_trigger = bool(start_from_trigger)
        self.max_credits = check_max_credits(max_credits)
        self.allow_unpriced = allow_unpriced
        self.videogen_conn_id = videogen_conn_id
        self.deferrable = deferrable
        self.poll_interval = check_poll_interval(poll_interval)
        self.wait_timeout = check_wait_timeout(timeout)
        self.wait_for_completion = wait_for_completion
        if on_uncertain_submission not in ("fail", "resubmit"):
            raise ValueError(f"on_uncertain_submission={on_uncertain_submission!r}; allowed: 'fail', 'resubmit'")
        self.on_uncertain_submission = on_uncertain_submission
        self.adaptive_polling = adaptive_polling
        if max_poll_interval is not None:
            check_wait_timeout(max_poll_interval, "max_poll_interval")
        self.max_poll_interval = resolve_max_poll_interval(self.poll_interval, max_poll_interval)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.start_trigger_args = start_trigger_args_for(cls)

    def _validate_start_from_trigger_kwargs(self) -> None:
        """Airflow calls this after ``__init__`` with the arguments recorded: build the start arguments.

        A mapped task never gets here when the DAG is parsed; it uses the class's
        ``start_trigger_args`` and the trigger reads its arguments from the serialized task.
        """
        if not self.start_from_trigger or getattr(self, "_BaseOperator__from_mapped", False):
            return
        self.start_trigger_args = start_trigger_args_for(type(self), self, timedelta(seconds=self.wait_timeout))

    def _state_store(self, context: Context) -> Any:
        """Where this task's markers live (:func:`~.state_stores.markers_store`)."""
        return markers_store(context, start_from_trigger=self.start_from_trigger)

    def _where_to_delete(self, context: Context) -> str:
        return in_flight_location(context, start_from_trigger=self.start_from_trigger)

    # ---- what subclasses provide ---------------------------------------------------------------

    def build_request(self) -> BaseModel:
        """Build (and so validate) the request from the rendered fields."""
        raise NotImplementedError

    def submit(self, hook: VideoGenHook, request: BaseModel, before_send: BeforeSend | None = None) -> VideoTask:
        """Send the create request; the hook calls ``before_send`` once it is built, before sending."""
        raise NotImplementedError

    def describe_lineage(self, facts: LineageFacts) -> None:
        """Add what the request asked for (duration, size/quality, input datasets) from the rendered fields."""

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
            return self._execute(context)
        except Exception as exc:
            self._seen_error = str(exc)
            raise

    def _execute(self, context: Context) -> Any:
        self._seen_try = getattr(context.get("ti"), "try_number", None)
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
        self._seen_task, self._seen_record = task, self.submission(context)
        unsettled = self._spend is not None and self._spend.unsettled
        if unsettled and not (self.deferrable and self.wait_for_completion and not task.state.is_terminal):
            settle_left(self, context, task, self._seen_record)  # no worker completes a deferral later
        publish_remote_id(context, task.id, task.can_cancel)
        if task.estimated_time is not None and task.state.is_in_progress:
            self.log.info("Remote task %s: the gateway estimates %d s of rendering", task.id, task.estimated_time)
        if not self.wait_for_completion:
            self.log.info("wait_for_completion=False: returning remote task %s without waiting", task.id)
            return self._result(context, task)
        if task.state.is_terminal:
            return self._complete(context, VideoTaskTrigger.event_for(task, self.api))
        trigger = self._trigger(task, self._deadline(context, task), self.submission(context), unsettled)
        how = polling_description(self.poll_interval, self.adaptive_polling, task.estimated_time)
        if self.deferrable:
            safety_net = deferral_timeout(trigger.deadline)
            self.log.info(
                "Deferring: remote task %s is %s; polling %s in the triggerer until %s "
                "(Airflow's deferral timeout, a safety net for a lost trigger: %s)",
                task.id,
                task.state.value,
                how,
                isoformat_epoch(trigger.deadline),
                isoformat_epoch(time.time() + safety_net.total_seconds()),
            )
            self.defer(trigger=trigger, method_name="execute_complete", timeout=safety_net)
        self.log.info("Polling remote task %s in the worker %s", task.id, how)
        self._polled_remote_id = task.id
        try:
            event = asyncio.run(trigger.wait(hook=self.hook))
        finally:
            self._polled_remote_id = None
        if event.task is not None:
            self._seen_task = event.task
        return self._complete(context, event)

    def on_kill(self) -> None:
        """``deferrable=False``: the worker is told to stop while polling; cancel or say it is billed.

        (A deferred task has no worker process to kill: the trigger's ``on_kill`` does this there.)
        """
        remote_id = getattr(self, "_polled_remote_id", None)
        if remote_id:
            cancel_on_kill(self.hook, self.api, remote_id, enabled=self.cancel_on_kill, log=self.log)

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        """Resume after the trigger fired: check the event and turn it into a result or a failure."""
        self._seen_try = getattr(context.get("ti"), "try_number", None)
        self._seen_record = self.submission(context)
        if isinstance(event, dict) and START_IN_WORKER in event:
            self.log.info("The triggerer handed this task to a worker: %s", event[START_IN_WORKER])
            return self.execute(context)
        try:
            if is_end_event_payload(event):
                event = self._reread_ended(self._seen_record)
            parsed = VideoTaskEvent.from_payload(event)
            if parsed.task is not None:
                self._seen_task = parsed.task
                settle_left(self, context, parsed.task, self._seen_record)
            return self._complete(context, parsed)
        except Exception as exc:
            self._seen_error = str(exc)
            raise

    # ---- OpenLineage (optional extra) ----------------------------------------------------------

    def lineage_facts(self) -> LineageFacts:
        """What this run rendered and paid for, from what this process saw (see :mod:`..lineage`)."""
        task, record = self._seen_task, self._seen_record
        facts = LineageFacts(api=self.api.value, error=self._seen_error)
        facts.remote_task_id = task.id if task is not None else (record.id if record is not None else None)
        facts.model = (task.model if task is not None else None) or getattr(self, "model", None)
        facts.credits_reserved = task.credits_reserved if task is not None else None
        if facts.credits_reserved is None and record is not None:
            facts.credits_reserved = record.credits_reserved
        if record is not None and record.try_number is not None and self._seen_try is not None:
            facts.reused = record.try_number != self._seen_try  # submitted by an earlier try (or run)
        facts.can_cancel = task.can_cancel if task is not None else None
        try:
            facts.gateway = gateway_origin(self.hook.settings.base_url)
        except Exception:  # lineage must never fail the task: no connection, no source
            facts.gateway = None
        self.describe_lineage(facts)
        return facts

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> OperatorLineage:
        """Called by the OpenLineage provider after success: remote id, what was paid for, inputs."""
        return operator_lineage(self.lineage_facts())

    def get_openlineage_facets_on_failure(self, task_instance: Any) -> OperatorLineage:
        """Called by the OpenLineage provider after a failure: as on success, plus ``errorMessage``."""
        return operator_lineage(self.lineage_facts(), failed=True)

    def _deadline(self, context: Context, task: VideoTask) -> float:
        """``timeout`` after this remote task's first submission (see :mod:`airflow_provider_videogen.deadlines`)."""
        record = self.submission(context)
        first = record.submitted_at if record is not None and record.id == task.id else None
        deadline = wait_deadline(self.wait_timeout, first)
        if first is not None:
            self.log.info(
                "Waiting for remote task %s until %s: timeout %ss counted from its first submission at %s",
                task.id,
                isoformat_epoch(deadline),
                self.wait_timeout,
                first.isoformat(timespec="seconds"),
            )
        return deadline

    def _reread_ended(self, record: SubmissionRecord | None) -> dict[str, Any]:
        """``dag.test()`` hands the trigger's ending event to this method: read the task again.

        (A real triggerer ends the task itself; ``dag.test()`` runs the trigger in-process and
        passes the event's bare state, without its XComs.)
        """
        if record is None or not record.id:
            raise VideoGenError("The trigger ended the task, but this task instance recorded no remote task id")
        return VideoTaskTrigger.event_for(self.hook.get_task(self.api, record.id), self.api).to_payload()

    def _trigger(
        self, task: VideoTask, deadline: float, record: SubmissionRecord | None = None, settle_pending: bool = False
    ) -> VideoTaskTrigger:
        now = time.time()
        return VideoTaskTrigger(
            videogen_conn_id=self.videogen_conn_id,
            remote_task_id=task.id,
            api=self.api,
            poll_interval=self.poll_interval,
            deadline=deadline,
            cancel_on_kill=self.cancel_on_kill,
            adaptive_polling=self.adaptive_polling,
            max_poll_interval=self.max_poll_interval,
            estimated_time=task.estimated_time,
            # The gateway's creation time (a re-attached task was submitted by an earlier try);
            # never later than now, in case the gateway's clock runs ahead of ours.
            submitted_at=min(now, task.created_at.timestamp()) if task.created_at else now,
            # An unsettled reservation is settled by the worker that completes the task (spend/resume).
            end_from_trigger=self.deferrable
            and not settle_pending
            and ends_in_triggerer(self.end_from_trigger, xcom_links=self.xcom_links),
            # What the worker's result would take from the record (``VideoTaskCompletion._result``).
            reserved_credits=record.credits_reserved if record else None,
            first_submitted_at=record.submitted_at.isoformat() if record else None,
        )

    # ---- submission that cannot double-bill --------------------------------------------------

    def submission(self, context: Context) -> SubmissionRecord | None:
        return stored_record(self._state_store(context))

    def _submit_or_reattach(self, context: Context, request: BaseModel) -> VideoTask:
        ti = context.get("ti")

        def report(decision: Decision, record: SubmissionRecord | None, remote: VideoTask | None) -> None:
            report_decision(type(self).__name__, decision, record, remote, ti)

        guard = SubmissionGuard(
            store=self._state_store(context) if self.durable else None,
            on_decision=report,
            durable=self.durable,
            api=self.api,
            hook=self.hook,
            log=self.log,
            on_uncertain=self.on_uncertain_submission,
            accept_partial=self.on_extend_failure == "accept_first_segment",
            try_number=getattr(ti, "try_number", None),
            store_location=self._where_to_delete(context),
            spend=getattr(self, "_spend", None),  # set by execute(); absent when called directly
            spend_store=self._state_store(context),  # reservations are tracked even with durable=False
        )
        return guard.submit_or_reattach(
            request, lambda r, before_send: self.submit(self.hook, r, before_send), self.describe_request
        )
