"""Many videos from one task instance: one worker workload submits the batch, one trigger waits for it.

Why (issue 23): a mapped video costs two task starts in a worker (submit and defer, then resume),
about 8 slot-seconds on the production shape for a few milliseconds of gateway work, and with the
slots busy starting tasks the renders wait. ``end_from_trigger`` removes the second start;
``start_from_trigger`` removes both but moves about 17 execution-API round trips per video into
the triggerer (5.6x its CPU, benchmarks/README.md). A batch pays one task start for many videos:
the worker submits each (or re-attaches to it) and defers once, one trigger polls them all, and
ends the task in the triggerer with the list of results.

What holds as for one video per task, item by item:

* **one bill per video**: each item has its own in-flight marker, record and budget reservation in
  the task instance's state store, under its own keys (:class:`ItemStore`: the usual key plus
  ``__item<slot>``, the slot of its *request*, not of its position: a retry whose list was
  reordered, or had requests inserted or removed, finds each request's video,
  :meth:`VideoGenerationBatchOperator._place`), and goes through the same
  :class:`~airflow_provider_videogen.operators.reattach.SubmissionGuard`; a retry or clear
  re-attaches to the running items, re-uses the finished ones and resubmits only the failed ones;
  an item that must not be retried (a request at fault...) keeps the whole batch from an automatic one;
* **nothing sent for a bad batch**: every item is validated (by the models), priced against
  ``max_credits`` and the batch's new videos against the budget's room, before the first create;
* **the spend guard** prices and reserves each item (``max_credits`` is per video); one the budget
  cannot hold after all (another spender took the room) stops the batch there, the items before it
  paid for and kept in view (their ids, the Video link);
* the polling, deadlines (per item, from its first submission), cancel on kill, the deferral
  safety net, and the secrecy of the trigger's arguments and events are the single video's.

What the user gives up: one task instance (one box in the grid, one log, one retry) for the whole
batch. A video that fails fails the batch once the others ended (their results are kept for the
retry, which pays only for the failed ones); downstream mapping is over the list the task returns.
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_videogen.cancellation import cancel_on_kill
from airflow_provider_videogen.deadlines import check_wait_timeout, deferral_timeout, isoformat_epoch
from airflow_provider_videogen.exceptions import InvalidRequestError, VideoGenError
from airflow_provider_videogen.hooks.redaction import mask_links_in
from airflow_provider_videogen.hooks.videogen import VideoGenHook
from airflow_provider_videogen.lineage import LineageFacts, operator_lineage
from airflow_provider_videogen.links.videogen import VideoLink, mark_remote_task
from airflow_provider_videogen.models import ApiKind, VideoTask
from airflow_provider_videogen.operators.batch_completion import complete_items, in_request_order
from airflow_provider_videogen.operators.batch_items import (
    LINK_FIELDS,
    MAX_BATCH_SIZE,
    SHARED_FIELDS,
    SLOTS_KEY,
    ItemStore,
    _BatchItem,
    item_fields,
    item_key,
    place,
)
from airflow_provider_videogen.operators.batch_spend import check_budget, price_items
from airflow_provider_videogen.operators.ending import ends_in_triggerer, is_end_event_payload
from airflow_provider_videogen.operators.reattach import RECORD_KEY
from airflow_provider_videogen.operators.retry_policy import VideoRetryPolicy
from airflow_provider_videogen.operators.video_task import has_template
from airflow_provider_videogen.spend.guard import check_max_credits
from airflow_provider_videogen.triggers.batch import ITEMS_KEY, VideoBatchTrigger
from airflow_provider_videogen.triggers.videogen import VideoTaskEvent, VideoTaskTrigger

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    import jinja2
    from airflow.providers.openlineage.extractors.base import OperatorLineage
    from airflow.sdk import Context

    from airflow_provider_videogen.operators.reattach import UncertainPolicy

__all__ = [
    "BATCH_IDS_KEY",
    "MAX_BATCH_SIZE",
    "SHARED_FIELDS",
    "SLOTS_KEY",
    "ItemStore",
    "VideoGenerationBatchOperator",
    "item_key",
]

#: XCom key with the batch's remote ids, in order (the single operator's ``videogen_task_id``).
BATCH_IDS_KEY = "videogen_task_ids"


class VideoGenerationBatchOperator(BaseOperator):
    """Generate many videos from one task instance: submit them all, defer once, end in the triggerer.

    :param requests: the videos: a list of prompts, or of dicts of
        :class:`~airflow_provider_videogen.models.GenerationRequest` fields (at least ``prompt``);
        at most :data:`MAX_BATCH_SIZE`. Templated; a mapped task takes one list per batch
        (``.expand(requests=[[...], [...]])``).

    The request fields (``model``, ``duration``, ``aspect_ratio``, ...) are shared defaults every
    item inherits unless it sets its own; the other arguments are
    :class:`~airflow_provider_videogen.operators.video_task.BaseVideoTaskOperator`'s (``timeout``
    counts from each item's first submission; ``max_credits`` caps each video). Download links
    never go to XCom (``xcom_links=False``).

    Returns the list of results, one per request in order, each the single operator's dict.
    """

    template_fields: Sequence[str] = ("requests", *SHARED_FIELDS)
    template_fields_renderers = {"requests": "json", "extra_params": "json"}
    operator_extra_links = (VideoLink(),)
    ui_color = "#f3e5f5"
    api = ApiKind.GENERATION

    def __init__(
        self,
        *,
        requests: Any,
        model: str | None = None,
        image_urls: list[str] | None = None,
        aspect_ratio: str | None = None,
        duration: int | None = None,
        quality: str | None = None,
        generation_type: str | None = None,
        generate_audio: bool | None = None,
        enhance_prompt: bool | None = None,
        n: int | None = None,
        negative_prompt: str | None = None,
        seed: int | None = None,
        person_generation: str | None = None,
        resize_mode: str | None = None,
        callback_url: str | None = None,
        extra_params: dict[str, Any] | None = None,
        videogen_conn_id: str = VideoGenHook.default_conn_name,
        deferrable: bool = True,
        poll_interval: float = 15.0,
        timeout: timedelta | float = timedelta(hours=1),
        on_uncertain_submission: UncertainPolicy = "fail",
        adaptive_polling: bool = True,
        max_poll_interval: float | None = None,
        cancel_on_kill: bool = True,
        durable: bool = True,
        max_credits: float | None = None,
        allow_unpriced: bool = False,
        end_from_trigger: bool | None = None,
        **kwargs: Any,
    ) -> None:
        if "retry_policy" not in kwargs and "retry_policy" not in (kwargs.get("default_args") or {}):
            kwargs["retry_policy"] = VideoRetryPolicy()
        super().__init__(**kwargs)
        self.requests = requests
        self.model, self.image_urls, self.aspect_ratio, self.duration = model, image_urls, aspect_ratio, duration
        self.quality, self.generation_type, self.generate_audio = quality, generation_type, generate_audio
        self.enhance_prompt, self.n, self.negative_prompt, self.seed = enhance_prompt, n, negative_prompt, seed
        self.person_generation, self.resize_mode, self.callback_url = person_generation, resize_mode, callback_url
        self.extra_params = extra_params or {}
        self.videogen_conn_id = videogen_conn_id
        self.deferrable = deferrable
        # The single operator's checks, once, by building one item with the shared settings.
        probe = self._settings(poll_interval, timeout, on_uncertain_submission, max_poll_interval, max_credits)
        self.poll_interval, self.wait_timeout, self.max_poll_interval, self.max_credits = probe
        self.on_uncertain_submission = on_uncertain_submission
        self.adaptive_polling = adaptive_polling
        self.cancel_on_kill = cancel_on_kill
        self.durable = durable
        self.allow_unpriced = allow_unpriced
        self.end_from_trigger = end_from_trigger
        self._polling: VideoBatchTrigger | None = None  # deferrable=False, while polling: for on_kill
        self._children: list[_BatchItem] = []
        if not has_template(self.requests) and not any(has_template(getattr(self, n)) for n in SHARED_FIELDS):
            self.item_fields()  # a broken literal batch fails when the DAG file is parsed

    @staticmethod
    def _settings(
        poll_interval: Any, timeout: Any, on_uncertain: Any, max_poll_interval: Any, max_credits: Any
    ) -> tuple[float, float, float, Any]:
        from airflow_provider_videogen.completion import check_poll_interval
        from airflow_provider_videogen.triggers.polling import resolve_max_poll_interval

        if on_uncertain not in ("fail", "resubmit"):
            raise ValueError(f"on_uncertain_submission={on_uncertain!r}; allowed: 'fail', 'resubmit'")
        interval = check_poll_interval(poll_interval)
        if max_poll_interval is not None:
            check_wait_timeout(max_poll_interval, "max_poll_interval")
        limit = resolve_max_poll_interval(interval, max_poll_interval)
        return interval, check_wait_timeout(timeout), limit, check_max_credits(max_credits)

    @property
    def hook(self) -> VideoGenHook:
        if not hasattr(self, "_hook"):
            self._hook = VideoGenHook(videogen_conn_id=self.videogen_conn_id)
        return self._hook

    # ---- the items ------------------------------------------------------------------------------

    def item_fields(self) -> list[dict[str, Any]]:
        """Each item's request fields (:func:`~.batch_items.item_fields`), validated before anything is sent."""
        return item_fields(self.requests, {name: getattr(self, name) for name in SHARED_FIELDS})

    def _do_render_template_fields(
        self,
        parent: Any,
        template_fields: Iterable[str],
        context: Context,
        jinja_env: jinja2.Environment,
        seen_oids: set[int],
    ) -> None:
        """Render, then mask the links of every item (and the shared ones), as the single operator does.

        A presigned image link or a webhook token must not show in the "Rendered Template" view
        nor in the logs of the requests that follow; the values are sent as they are.
        """
        super()._do_render_template_fields(parent, template_fields, context, jinja_env, seen_oids)
        if parent is self:
            raw = self.requests
            own = (
                [item.get(name) for item in raw if isinstance(item, dict) for name in LINK_FIELDS]
                if isinstance(raw, (list, tuple))
                else [raw]
            )
            mask_links_in(*own, self.image_urls, self.callback_url, self.extra_params)

    def _child(self, index: int, fields: dict[str, Any]) -> _BatchItem:
        child = _BatchItem(
            task_id=f"{self.task_id}__item{index}",
            videogen_conn_id=self.videogen_conn_id,
            deferrable=self.deferrable,
            poll_interval=self.poll_interval,
            timeout=self.wait_timeout,
            on_uncertain_submission=self.on_uncertain_submission,
            adaptive_polling=self.adaptive_polling,
            max_poll_interval=self.max_poll_interval,
            cancel_on_kill=self.cancel_on_kill,
            durable=self.durable,
            max_credits=float(self.max_credits) if self.max_credits is not None else None,
            allow_unpriced=self.allow_unpriced,
            end_from_trigger=False,
            retry_policy=None,
            **fields,
        )
        child.batch_index = index
        child._hook = self.hook  # one connection lookup and one HTTP client for the batch
        child.log  # noqa: B018  (resolve the logger once; the items log as the batch's task)
        return child

    def _build_children(self, context: Context, *, grow: bool = False) -> list[_BatchItem]:
        try:
            fields = self.item_fields()
        except InvalidRequestError as exc:
            raise AirflowFailException(f"{exc}. Nothing was sent.") from None
        self._children = [self._child(index, item) for index, item in enumerate(fields)]
        store = context.get("task_state_store")
        if store is not None:
            place(store, self._children, grow=grow)
        return self._children

    # ---- life cycle -----------------------------------------------------------------------------

    def execute(self, context: Context) -> Any:
        children = self._build_children(context, grow=True)
        if not children:
            self.log.info("The batch is empty: nothing to submit")
            return []
        # every price checked, and the budget's room, before the first create: a refused batch sends nothing
        price_items(
            self.log,
            context,
            children,
            conn_id=self.videogen_conn_id,
            max_credits=self.max_credits,
            allow_unpriced=self.allow_unpriced,
        )
        check_budget(self.log, context, children)
        tasks: list[VideoTask] = []
        for child in children:
            request = child.build_request()
            try:
                task = child._submit_or_reattach(context, request)
            except Exception:
                if tasks:  # the paid ones stay in view: their ids, and the Video link
                    mark_remote_task(self)
                    context["ti"].xcom_push(key=BATCH_IDS_KEY, value=[task.id for task in tasks])
                    self.log.error(
                        "Stopped at request %d of %d; the %d before it have remote tasks (%s) that render and are "
                        "billed: a retry or clear of this task re-attaches to them instead of paying again",
                        child.batch_index,
                        len(children),
                        len(tasks),
                        ", ".join(t.id for t in tasks),
                    )
                raise
            child._seen_task, child._seen_record = task, child.submission(context)
            twin = next((other for other, earlier in zip(children, tasks, strict=False) if earlier.id == task.id), None)
            if twin is not None:
                # Two requests cannot be one video: one result would be handed on for both, and the
                # other request may be rendering (and billed) under an id nobody knows. Stop paying.
                raise AirflowFailException(
                    f"The gateway answered the same remote task {task.id} for requests {twin.batch_index} and "
                    f"{child.batch_index} of the batch: not submitting the rest nor waiting. Check the gateway's task "
                    f"list; then delete the key '{RECORD_KEY}' {child._where_to_delete(context)} and clear the task."
                )
            tasks.append(task)
        mark_remote_task(self)
        context["ti"].xcom_push(key=BATCH_IDS_KEY, value=[task.id for task in tasks])
        unsettled = any(child._spend is not None and child._spend.unsettled for child in children)
        if all(task.state.is_terminal for task in tasks):
            return complete_items(
                self, context, self._children, [VideoTaskTrigger.event_for(task, self.api) for task in tasks]
            )
        trigger = self._trigger(context, children, tasks, end_here=self.deferrable and not unsettled)
        if self.deferrable:
            safety_net = deferral_timeout(trigger.deadline)
            self.log.info(
                "Deferring: %d remote tasks submitted or re-attached; one trigger polls them all until %s at the "
                "latest (Airflow's deferral timeout, a safety net for a lost trigger: %s)",
                len(tasks),
                isoformat_epoch(trigger.deadline),
                isoformat_epoch(time.time() + safety_net.total_seconds()),
            )
            self.defer(trigger=trigger, method_name="execute_complete", timeout=safety_net)
        self.log.info("Polling %d remote tasks in the worker", len(tasks))
        self._polling = trigger
        try:
            events = asyncio.run(trigger.wait_all(self.hook))
        finally:
            self._polling = None
        return complete_items(self, context, children, events)

    def execute_complete(self, context: Context, event: Any = None) -> Any:
        """Resume after the trigger fired: each item's event becomes its result, or the batch fails."""
        children = self._build_children(context)
        if is_end_event_payload(event):  # dag.test() hands on the bare state of a triggerer's ending
            events = [self._reread(context, child) for child in children]
        elif isinstance(event, dict) and isinstance(event.get(ITEMS_KEY), list):
            events = [VideoTaskEvent.from_payload(payload) for payload in event[ITEMS_KEY]]
        else:
            raise VideoGenError(f"Unexpected trigger event {str(event)[:200]!r}: expected a VideoBatchTrigger event")
        if len(events) != len(children):
            raise VideoGenError(
                f"The trigger reported {len(events)} videos for a batch of {len(children)}: the requests changed "
                "while it waited; clear the task to re-attach each request to its own video"
            )
        return complete_items(self, context, children, in_request_order(context, children, events))

    def on_kill(self) -> None:
        """``deferrable=False``: told to stop while polling; cancel each video still rendering or say it is billed."""
        trigger = getattr(self, "_polling", None)
        if trigger is None:
            return
        for waiter in trigger.waiters:
            if waiter.remote_task_id in trigger.ended:  # a finished video: nothing to cancel, no false alarm
                continue
            cancel_on_kill(self.hook, self.api, waiter.remote_task_id, enabled=self.cancel_on_kill, log=self.log)

    # ---- helpers --------------------------------------------------------------------------------

    def _trigger(
        self, context: Context, children: list[_BatchItem], tasks: list[VideoTask], *, end_here: bool
    ) -> VideoBatchTrigger:
        now = time.time()
        items = []
        for child, task in zip(children, tasks, strict=True):
            record = child._seen_record
            items.append(
                {
                    "remote_task_id": task.id,
                    "deadline": child._deadline(context, task),
                    "estimated_time": task.estimated_time,
                    "submitted_at": min(now, task.created_at.timestamp()) if task.created_at else now,
                    # ended already (a video re-used, or a failure to report): read once, whatever its deadline
                    "done": task.state.is_terminal,
                    "reserved_credits": record.credits_reserved if record else None,
                    "first_submitted_at": record.submitted_at.isoformat() if record else None,
                }
            )
        return VideoBatchTrigger(
            videogen_conn_id=self.videogen_conn_id,
            api=self.api,
            items=items,
            poll_interval=self.poll_interval,
            adaptive_polling=self.adaptive_polling,
            max_poll_interval=self.max_poll_interval,
            cancel_on_kill=self.cancel_on_kill,
            end_from_trigger=end_here and ends_in_triggerer(self.end_from_trigger, xcom_links=False),
        )

    def _reread(self, context: Context, child: _BatchItem) -> VideoTaskEvent:
        record = child.submission(context)
        if record is None:
            raise VideoGenError(
                f"The trigger ended the batch, but request {child.batch_index} has no recorded remote task"
            )
        return VideoTaskTrigger.event_for(self.hook.get_task(self.api, record.id), self.api)

    # ---- OpenLineage (optional extra) ----------------------------------------------------------

    def lineage_facts(self) -> LineageFacts:
        """The items' facts merged: every remote id, the inputs, the credits reserved in all."""
        parts = [child.lineage_facts() for child in self._children]
        facts = LineageFacts(api=self.api.value)
        ids = [p.remote_task_id for p in parts if p.remote_task_id]
        facts.remote_task_id = ",".join(ids) or None
        models = {p.model for p in parts if p.model}
        facts.model = models.pop() if len(models) == 1 else None
        credits = [p.credits_reserved for p in parts if p.credits_reserved is not None]
        facts.credits_reserved = sum(credits) if credits else None
        facts.reused = all(p.reused for p in parts) if parts and all(p.reused is not None for p in parts) else None
        facts.gateway = next((p.gateway for p in parts if p.gateway), None)
        facts.inputs = sorted({i for p in parts for i in p.inputs})
        facts.error = next((p.error for p in parts if p.error), None)
        return facts

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> OperatorLineage:
        return operator_lineage(self.lineage_facts())

    def get_openlineage_facets_on_failure(self, task_instance: Any) -> OperatorLineage:
        return operator_lineage(self.lineage_facts(), failed=True)
