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
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_videogen.cancellation import cancel_on_kill
from airflow_provider_videogen.deadlines import check_wait_timeout, deferral_timeout, isoformat_epoch
from airflow_provider_videogen.exceptions import InvalidRequestError, VideoGenError
from airflow_provider_videogen.hooks.redaction import mask_links_in, redact_links_in
from airflow_provider_videogen.hooks.videogen import VideoGenHook
from airflow_provider_videogen.lineage import LineageFacts, operator_lineage
from airflow_provider_videogen.links.videogen import VideoLink, mark_remote_task
from airflow_provider_videogen.models import ApiKind, VideoTask
from airflow_provider_videogen.operators.ending import ends_in_triggerer, is_end_event_payload
from airflow_provider_videogen.operators.reattach import (
    IN_FLIGHT_KEY,
    RECORD_KEY,
    RECORD_RETENTION,
    InFlightMarker,
    _answered,
    fingerprint,
    load_model,
    stored_record,
)
from airflow_provider_videogen.operators.retry_policy import VideoRetryPolicy
from airflow_provider_videogen.operators.video_task import has_template
from airflow_provider_videogen.operators.videogen import REQUEST_FIELDS, VideoGenerationOperator, generation_request
from airflow_provider_videogen.spend.estimate import fmt
from airflow_provider_videogen.spend.guard import SpendGuard, check_max_credits
from airflow_provider_videogen.spend.reservation import SPEND_KEY, _load
from airflow_provider_videogen.spend.resume import settle_left
from airflow_provider_videogen.triggers.batch import ITEMS_KEY, VideoBatchTrigger
from airflow_provider_videogen.triggers.videogen import VideoTaskEvent, VideoTaskTrigger

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    import jinja2
    from airflow.providers.openlineage.extractors.base import OperatorLineage
    from airflow.sdk import Context

    from airflow_provider_videogen.operators.reattach import UncertainPolicy

#: The most videos one batch task submits: one trigger polls them all, and a retry walks them all.
MAX_BATCH_SIZE = 200
#: XCom key with the batch's remote ids, in order (the single operator's ``videogen_task_id``).
BATCH_IDS_KEY = "videogen_task_ids"
#: The request fields every item inherits from the operator's arguments unless it sets its own.
SHARED_FIELDS: tuple[str, ...] = tuple(name for name in REQUEST_FIELDS if name != "prompt")
#: An item's fields that may hold a signed link or a token (masked once rendered, as the single operator's).
LINK_FIELDS = ("image_urls", "callback_url", "extra_params")
#: Task state store key (the batch's own): how many item slots (``__item<slot>``) the tries of this
#: task instance have used, so that a retry whose list shrank still finds every earlier video.
SLOTS_KEY = "videogen_batch_slots"


def item_key(key: str, index: int) -> str:
    """The state store key of ``key`` for item ``index`` of a batch."""
    return f"{key}__item{index}"


class ItemStore:
    """One batch item's view of the task instance's state store: every key gets the item's suffix.

    The guards (:mod:`.reattach`, :mod:`airflow_provider_videogen.spend`) read and write their
    usual keys through it, so each item keeps its own marker, record and reservation.
    """

    def __init__(self, store: Any, index: int) -> None:
        self.store = store
        self.index = index

    def get(self, key: str, default: Any = None) -> Any:
        value = self.store.get(item_key(key, self.index))
        return default if value is None else value

    def set(self, key: str, value: Any, retention: Any = None) -> None:
        if retention is None:
            self.store.set(item_key(key, self.index), value)
        else:
            self.store.set(item_key(key, self.index), value, retention=retention)

    def delete(self, key: str) -> None:
        self.store.delete(item_key(key, self.index))


def _unsettled(child: _BatchItem, context: Context) -> list[str]:
    """The reservation of ``child``'s create, if its store still calls it ``reserved`` (unsettled)."""
    record, store = child._seen_record, child._state_store(context)
    spend = _load(store.get(SPEND_KEY)) if store is not None else None
    if record is None or record.reservation_id is None or spend is None:
        return []
    return (
        [record.reservation_id] if spend.reservation_id == record.reservation_id and spend.state == "reserved" else []
    )


class _BatchItem(VideoGenerationOperator):
    """One video of a batch: the single-video operator's submission, completion and spend code, on its own keys.

    Built by the batch operator at run time, outside any DAG; never scheduled. ``batch_index`` is
    its place in the requests, ``batch_slot`` the suffix of its keys (see :meth:`VideoGenerationBatchOperator._place`).
    """

    batch_index: int = 0
    batch_slot: int | None = None

    @property
    def slot(self) -> int:
        return self.batch_index if self.batch_slot is None else self.batch_slot

    def _state_store(self, context: Context) -> Any:
        store = super()._state_store(context)
        return None if store is None else ItemStore(store, self.slot)

    def _where_to_delete(self, context: Context) -> str:
        return f"(item {self.batch_index} of the batch: its keys end in '__item{self.slot}') " + (
            super()._where_to_delete(context)
        )


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
        """Each item's request fields (shared defaults, then its own), all validated before anything is sent."""
        raw = self.requests
        if isinstance(raw, (str, bytes, dict)) or not isinstance(raw, (list, tuple)):
            hint = (
                " (a list rendered by Jinja is text: set render_template_as_native_obj=True on the DAG)"
                if isinstance(raw, str)
                else ""
            )
            shown = redact_links_in(str(raw))[:100]  # a signed link in the value never reaches the error
            raise InvalidRequestError(
                "batch", [("requests", f"requests={shown!r}: expected a list of prompts or request dicts{hint}")]
            )
        if len(raw) > MAX_BATCH_SIZE:
            raise InvalidRequestError(
                "batch", [("requests", f"requests has {len(raw)} items; at most {MAX_BATCH_SIZE} per batch task")]
            )
        shared = {name: getattr(self, name) for name in SHARED_FIELDS}
        items = []
        for index, item in enumerate(raw):
            what = f"request {index} of the batch"
            if isinstance(item, str):
                own: dict[str, Any] = {"prompt": item}
            elif isinstance(item, dict):
                unknown = sorted(str(key)[:40] for key in item if key not in REQUEST_FIELDS)
                if unknown:
                    raise InvalidRequestError(
                        what, [("requests", f"{what}: unknown field(s) {unknown}; allowed: {list(REQUEST_FIELDS)}")]
                    )
                own = dict(item)
            else:
                raise InvalidRequestError(
                    what, [("requests", f"{what} is {type(item).__name__}: expected a prompt or a dict")]
                )
            fields = {**shared, **own}
            generation_request(fields, what)  # validates; raises InvalidRequestError naming the field
            items.append(fields)
        return items

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
        self._place(context, self._children, grow=grow)
        return self._children

    def _place(self, context: Context, children: list[_BatchItem], *, grow: bool) -> None:
        """Give each item the keys (``__item<slot>``) of its own request, wherever it stood in an earlier try.

        The list may come in another order on a retry (an upstream that lists a set, a clear of
        it), or with requests inserted or removed: keyed by position, every moved item met another
        request's record and paid again, and a lost create was no longer refused. So a request
        takes the slot whose unanswered in-flight marker, else whose record, is for the same
        request (identical requests each take their own); the others their own position if
        nothing is recorded there, else a new slot. A slot for a request no longer in the list is
        left as it is (its video is re-used if the request comes back). :data:`SLOTS_KEY` counts
        the slots ever used; it is raised before any create under a new slot.
        """
        store = context.get("task_state_store")
        if store is None or not children:
            return
        recorded = store.get(SLOTS_KEY)
        before = recorded if isinstance(recorded, int) and 0 < recorded <= 100 * MAX_BATCH_SIZE else 0
        used = max(before, len(children))
        # per slot: the request of its unanswered in-flight marker, and of its record; none before the
        # first try (the count is written before any create under a slot: no count, no slot used)
        known: list[tuple[str | None, str | None]] = [(None, None)] * used
        for slot in range(used if recorded is not None else 0):
            view = ItemStore(store, slot)
            record = stored_record(view)
            marker = load_model(InFlightMarker, view.get(IN_FLIGHT_KEY))
            open_marker = marker.fingerprint if marker is not None and not _answered(record, marker) else None
            known[slot] = (open_marker, record.fingerprint if record is not None else None)
        prints = [fingerprint(child.build_request()) for child in children]
        slots: list[int | None] = [None] * len(children)
        free = list(range(used))
        for which in (0, 1):  # an open marker first (the guard refuses, or ignores a "prepared" one), then a record
            for index, print_ in enumerate(prints):
                if slots[index] is None:
                    match = next((slot for slot in free if known[slot][which] == print_), None)
                    if match is not None:
                        slots[index] = match
                        free.remove(match)
        fresh = used
        for index in range(len(children)):
            if slots[index] is None:
                if index in free and known[index] == (None, None):
                    slots[index] = index
                    free.remove(index)
                else:
                    slots[index], fresh = fresh, fresh + 1
        if grow and fresh > before:
            store.set(SLOTS_KEY, fresh, retention=RECORD_RETENTION)
        for child, placed in zip(children, slots, strict=True):
            child.batch_slot = placed

    # ---- life cycle -----------------------------------------------------------------------------

    def execute(self, context: Context) -> Any:
        children = self._build_children(context, grow=True)
        if not children:
            self.log.info("The batch is empty: nothing to submit")
            return []
        try_number = getattr(context.get("ti"), "try_number", None)
        for child in children:  # every price checked before the first create: a refused item sends nothing
            child._seen_try = try_number
            child._spend = SpendGuard.check(
                log=self.log,
                conn_id=self.videogen_conn_id,
                request=child.build_request(),
                context=context,
                max_credits=self.max_credits,
                allow_unpriced=self.allow_unpriced,
            )
            record = child.submission(context) if child._spend.refusal is not None else None
            store = child._state_store(context)
            uncertain = store is not None and store.get(IN_FLIGHT_KEY)  # the guard refuses it with its own words
            paid_for = record is not None and record.fingerprint == child._spend.fingerprint
            if child._spend.refusal is not None and not paid_for and not uncertain:
                # only a video an earlier try paid for may still be collected (re-attach costs nothing)
                raise AirflowFailException(f"Request {child.batch_index} of the batch: {child._spend.refusal}")
        self._check_budget(context, children)
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
            return self._complete(context, [VideoTaskTrigger.event_for(task, self.api) for task in tasks])
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
        return self._complete(context, events)

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
        return self._complete(context, self._in_request_order(context, children, events))

    def _in_request_order(
        self, context: Context, children: list[_BatchItem], events: list[VideoTaskEvent]
    ) -> list[VideoTaskEvent]:
        """Each request's own event: the requests are rendered again here and may come in another order.

        Matched by the remote id each request's record names; by position only without any record
        (``durable=False`` or no state store). A request with no record of its own (one that
        replaced another while the trigger waited) has no event here.
        """
        records = [child.submission(context) for child in children]
        if all(record is None for record in records):
            return events
        by_id = {event.task_id: event for event in events}
        ordered = [by_id.get(record.id) if record is not None else None for record in records]
        missing = [child.batch_index for child, event in zip(children, ordered, strict=True) if event is None]
        if missing:
            raise VideoGenError(
                f"The trigger reported no video for request(s) {missing[:20]} of the batch: the requests changed while "
                "it waited; clear the task to re-attach each request to its own video"
            )
        return [event for event in ordered if event is not None]

    def on_kill(self) -> None:
        """``deferrable=False``: told to stop while polling; cancel each video still rendering or say it is billed."""
        trigger = getattr(self, "_polling", None)
        if trigger is None:
            return
        for waiter in trigger.waiters:
            if waiter.remote_task_id in trigger.ended:  # a finished video: nothing to cancel, no false alarm
                continue
            cancel_on_kill(self.hook, self.api, waiter.remote_task_id, enabled=self.cancel_on_kill, log=self.log)

    def _check_budget(self, context: Context, children: list[_BatchItem]) -> None:
        """Refuse, before the first create, a batch whose new videos do not fit what the budget has left.

        Each create still takes its own reservation (the rule under concurrent spenders); without
        this, a batch larger than the budget paid for its first videos, then failed at the first
        one the ledger refused, without retry and without waiting for the ones it paid for, and
        every clear did the same. A video an earlier try paid for (a record for its request) or a
        reservation already held for it (nothing sent under it yet) is not counted again.
        """
        new = []
        for child in children:
            spend = child._spend
            if spend is None or spend.ledger is None or spend.budget is None:
                continue
            record = child.submission(context)
            if record is not None and record.fingerprint == spend.fingerprint:
                continue
            store = child._state_store(context)
            held = _load(store.get(SPEND_KEY)) if store is not None else None
            if held is not None and held.state == "reserved" and held.fingerprint == spend.fingerprint:
                continue
            new.append(spend)
        if not new:
            return
        budget, ledger = new[0].budget, new[0].ledger
        if budget is None or ledger is None:  # checked above; kept for mypy
            return
        period = budget.period_id()
        try:
            doc = ledger.read(budget.key(period))
        except Exception as exc:  # each reservation is still checked; this is only the early refusal
            self.log.warning("Could not read the budget's ledger before the batch (%s); each video reserves alone", exc)
            return
        needed = sum((spend.estimate.credits or Decimal(0) for spend in new), Decimal(0))
        room = budget.credits - (doc.held() if doc is not None else Decimal(0))
        if needed > room:
            raise AirflowFailException(
                f"Not submitting the batch: its {len(new)} new video(s) would cost {fmt(needed)} credits, and "
                f"{budget.describe(period)} has {fmt(max(room, Decimal(0)))} left"
                + (f" ({doc.summary()})" if doc is not None else "")
                + ". Nothing was sent: submit fewer videos per batch, or raise the budget."
            )

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

    def _complete(self, context: Context, events: list[VideoTaskEvent]) -> list[Any]:
        """Every item's result in order, or one failure naming each item that did not succeed.

        Each item settles a reservation its create left unsettled first, and is completed by the
        single operator's code (links re-read, no-link and partial rules, error XCom).
        """
        mark_remote_task(self)
        results: list[Any] = []
        failures: list[tuple[int, str, Exception]] = []
        held: list[str] = []  # reservations left unsettled once the ledger failed one settlement
        for child, event in zip(self._children, events, strict=True):
            child._seen_try = getattr(context.get("ti"), "try_number", None)  # resumed: lineage's "reused"
            child._seen_record = child.submission(context)
            if event.task is not None:
                child._seen_task = event.task
                # settle_left waits about 50 s for a failing ledger: once per batch, not once per video
                if held:
                    held.extend(_unsettled(child, context))
                else:
                    settle_left(child, context, event.task, child._seen_record)
                    held.extend(_unsettled(child, context))
            try:
                results.append(child._complete(context, event))
            except Exception as exc:
                child._seen_error = str(exc)
                failures.append((child.batch_index, event.task_id, exc))
        if len(held) > 1:
            self.log.warning(
                "The ledger could not settle reservation %s; the other %d unsettled reservations of this batch were "
                "not tried again (each would hold this worker slot about a minute more): they stay held at their "
                "estimates until a re-attach settles them (%s)",
                held[0],
                len(held) - 1,
                ", ".join(held[1:21]),
            )
        if not failures:
            return results
        # Each item keeps the single operator's rule: a retry resubmits every failed item, so one
        # that must not be retried (a request at fault, a paid video without a link, a task that
        # cannot be followed) keeps the whole batch from an automatic retry.
        final = [i for i, _, exc in failures if isinstance(exc, AirflowFailException)]
        detail = "; ".join(f"request {i} (remote task {rid}): {str(exc)[:300]}" for i, rid, exc in failures)
        message = (
            f"{len(failures)} of {len(events)} videos did not succeed: {detail[:3000]}. The other "
            f"{len(events) - len(failures)} are paid for and kept: "
            + (
                f"not retried, since request(s) {final[:20]} failed in a way a retry cannot fix (it would fail the "
                "same way, or pay again); a clear after fixing them re-uses the finished videos and submits only "
                "what failed."
                if final
                else "a retry re-uses them and submits only what failed."
            )
        )
        raise AirflowFailException(message) if final else VideoGenError(message)

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
